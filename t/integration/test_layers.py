"""The layers of the api role, read from the source (issue 12): http.c and
its helpers know no handler or resource; api.c is a literal route table,
authorization and api_main; the resources never include the top."""
import re

import nd

SRC = nd.REPO / "src"


def code(path):
    """The file without its comments and string literals."""
    s = re.sub(r"/\*.*?\*/", " ", path.read_text(), flags=re.S)
    return re.sub(r'"(?:\\.|[^"\\\n])*"', '""', s)


def includes(path):
    return re.findall(r'^\s*#\s*include\s+"([^"]+)"', path.read_text(), re.M)


def test_http_layer_knows_no_handler():
    files = sorted(SRC.glob("http*.[ch]"))
    assert {p.name for p in files} >= {"http.c", "http.h", "http_conn.c",
                                       "http_jobs.c"}
    for p in files:
        bad = [h for h in includes(p) if h.startswith(("api", "notif",
                                                       "queue", "db."))]
        assert not bad, "%s includes %s" % (p.name, bad)
        names = set(re.findall(r"\b(api_\w+|API_\w+)", code(p)))
        assert not names, "%s names %s" % (p.name, sorted(names))


def test_route_table_one_literal_line_per_route():
    text = (SRC / "api.c").read_text()
    table = re.search(r"api_routes\[\] = \{\n(.*?)\n\};", text, re.S)
    assert table, "api_routes[] not found in src/api.c"
    lines = table.group(1).splitlines()
    assert lines[-1].strip() == "{ NULL }", lines[-1]
    row = re.compile(r'^\t\{ "(GET|POST|PUT|DELETE)",\s+"(/[^"]*)",\s+(NULL|"\w+"),\s+'
                     r'(api_\w+),\s+(API_POOL_\w+),\s+\{ [^}]* \},\s+"\w+" \},$')
    for line in lines[:-1]:
        assert row.match(line), "not one literal route per line: %r" % line
    assert len(lines) - 1 >= 15


def test_api_c_is_table_auth_and_main():
    text = code(SRC / "api.c")
    assert "MHD_" not in text and "PQ" not in text and "json_" not in text
    public = re.findall(r"^(\w+)\(", text, re.M)
    static = re.findall(r"^static \w+[\s*]*\n(\w+)\(", text, re.M)
    assert set(public) - set(static) == {"api_main"}, public


def test_resources_do_not_climb():
    """No resource includes api.h (the table's) or the role entry points."""
    for name in ("api_notify.c", "api_audit.c", "api_ops.c", "api_store.c",
                 "api_db.c", "api_template.c", "api_template_use.c",
                 "api_template_watch.c"):
        bad = set(includes(SRC / name)) & {"api.h", "roles.h", "proc.h"}
        assert not bad, "%s includes %s" % (name, sorted(bad))
