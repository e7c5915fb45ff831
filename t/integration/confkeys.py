"""The config key table of src/conf.c, read from the source.

Tests use it to hold the docs (etc/notifyd.conf.in, man/notifyd.conf.5.in,
compose and Dockerfile variables) to the table without adding an option
to the daemon.  Run as a script it prints the key entries of
man/notifyd.conf.5.in in man(7) markup:

    /usr/bin/python3 t/integration/confkeys.py man

and with --write it replaces them in man/notifyd.conf.5.in (between the
BEGIN KEYS and END KEYS comments).
"""
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TYPES = {"CONF_BOOL": "boolean", "CONF_INT": "integer",
         "CONF_FLOAT": "number", "CONF_STRING": "string",
         "CONF_STRLIST": "list of strings"}
# Defaults that are macros in the C source, as ./configure makes them.
MACROS = {"NOTIFYD_SQLDIR": "DATADIR/notifyd/sql"}


class Key:
    """One K(...) entry: name, type, default, min, max, choices, reload,
    help (strings as in the source, C literals decoded)."""

    def __init__(self, args):
        (self.name, self.ctype, self.field, self.default, self.min,
         self.max, self.choices, reload, self.help) = args
        self.type = TYPES[self.ctype]
        self.reload = reload == "true"

    def env(self):
        return "NOTIFYD_" + self.name.replace(".", "_").upper()

    def section(self):
        return self.name.rsplit(".", 1)[0] if "." in self.name else ""

    def bounded(self):
        return self.type in ("integer", "number") and self.min != self.max

    def __repr__(self):
        return "Key(%s)" % self.name


def _split_args(text):
    """Top-level comma-separated arguments of a macro call body."""
    args, cur, depth, i = [], [], 0, 0
    while i < len(text):
        c = text[i]
        if c == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            cur.append(text[i:j + 1])
            i = j + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "," and depth == 0:
            args.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    args.append("".join(cur))
    return [_value(a.strip()) for a in args]


def _value(arg):
    """Adjacent C string literals joined and decoded; else the token."""
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', arg)
    if parts or arg.startswith('"'):
        return "".join(bytes(p, "utf-8").decode("unicode_escape")
                       for p in parts)
    if arg == "NULL":
        return None
    try:
        return float(arg)
    except ValueError:
        return MACROS.get(arg, arg)


def _body(text, start):
    """The text between K( at start and its closing parenthesis."""
    depth, i = 0, start
    while True:
        c = text[i]
        if c == '"':
            i += 1
            while text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1:i]
        i += 1


def keys(path=REPO / "src/conf.c"):
    """Every key of the table, in table order."""
    text = Path(path).read_text()
    table = text[text.index("conf_keys[] = {"):]
    table = table[:table.index("{ NULL")]
    out = []
    for m in re.finditer(r"^K\(", table, re.M):
        out.append(Key(_split_args(_body(table, m.start() + 1))))
    return out


def aliases(path=REPO / "src/conf.c"):
    """{env name: key name} of conf_aliases[]."""
    text = Path(path).read_text()
    return dict(re.findall(r'\{\s*"(NOTIFYD_[A-Z_]+)",\s*"([a-z_.]+)"\s*\}',
                           text))


def env_names(path=REPO / "src/conf.c"):
    """{every NOTIFYD_* variable the daemon reads: key name}."""
    names = {k.env(): k.name for k in keys(path)}
    names.update(aliases(path))
    return names


# ---------------------------------------------------------------- man page

def _roff(s):
    """Escapes text for a man page body line."""
    s = s.replace("\\", "\\e")
    return "\\&" + s if s[:1] in (".", "'") else s


def _num(x):
    return str(int(x)) if x == int(x) else repr(x)


def _default(k):
    if k.type == "string":
        return '"%s"' % k.default
    if k.type == "list of strings":
        return "[ ] (empty)" if k.default == "" else k.default
    if k.type in ("integer", "number"):
        return _num(float(k.default))
    return k.default


def _sentence(text):
    """Capitalizes help text unless it opens with a name (libpq, a.b)."""
    word = text.split(" ", 1)[0]
    if re.fullmatch(r"[a-z]+", word) and word not in ("libpq", "librdkafka",
                                                         "ms"):
        return text[:1].upper() + text[1:]
    return text


def man_entry(k):
    """The .TP entry of one key: help, then type, default, reload, env."""
    facts = "Type: " + k.type
    if k.bounded():
        facts += ", %s to %s" % (_num(k.min), _num(k.max))
    if k.choices:
        facts += ", one of " + ", ".join(k.choices.split("|"))
    facts += ". Default: %s. %s." % (
        _default(k), "Reloadable" if k.reload else "Restart needed")
    return "\n".join([".TP", ".B %s" % k.name,
                      _roff(_sentence(k.help)) + ".",
                      ".br", _roff(facts),
                      "Environment:", ".BR \\%%%s ." % k.env()])


def man_keys():
    """Entries grouped under .SS headings, one per section."""
    lines, section = [], None
    for k in keys():
        if k.section().split(".")[0] != section:
            section = k.section().split(".")[0]
            lines.append(".SS %s" % (section or "Top level"))
        lines.append(man_entry(k))
    return "\n".join(lines)


MAN5 = REPO / "man/notifyd.conf.5.in"
BEGIN = '.\\" BEGIN KEYS: generated by t/integration/confkeys.py man --write'
END = '.\\" END KEYS'


def man_block(text):
    """The generated part of notifyd.conf.5's text, or None."""
    if BEGIN not in text or END not in text:
        return None
    return text[text.index(BEGIN) + len(BEGIN):text.index(END)].strip("\n")


def man_write(path=MAN5):
    """Replaces the generated part of notifyd.conf.5 with the table's."""
    text = Path(path).read_text()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    Path(path).write_text(head + BEGIN + "\n" + man_keys() + "\n" + END + tail)


if __name__ == "__main__":
    if sys.argv[1:] == ["man"]:
        print(man_keys())
    elif sys.argv[1:] == ["man", "--write"]:
        man_write()
    elif sys.argv[1:] == ["env"]:
        for name, key in sorted(env_names().items()):
            print(name, key)
    else:
        for k in keys():
            print(k.name, k.type, repr(k.default), k.reload)
