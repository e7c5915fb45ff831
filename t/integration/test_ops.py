"""Operations: systemd unit and sd_notify, container files, /metrics,
log formats, manual pages.

Tools these tests need (Debian packages): systemd (systemd-analyze),
strace, groff-base, man-db, python3-yaml, docker-compose, binutils
(objdump).  A missing one fails the test that needs it, naming the
package.  promtool (Debian package prometheus) is used when installed;
without it that one test is skipped with a reason, and the strict
parser here still checks /metrics.  hadolint is not packaged for
Debian 12: nothing lints the Dockerfile beyond test_dockerfile_shape.
"""
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import confkeys
import nd

REPO = nd.REPO
UNIT_IN = REPO / "contrib/systemd/notifyd.service.in"
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
# The pages as built (./configure fills in date and version).
MAN8 = nd.BUILDDIR / "man/notifyd.8"
MAN5 = nd.BUILDDIR / "man/notifyd.conf.5"


def need(tool, package):
    path = shutil.which(tool)
    if path is None:
        pytest.fail("%s is missing: apt-get install %s" % (tool, package))
    return path


def exit_config():
    """EXIT_CONFIG of src/proc.h."""
    text = (REPO / "src/proc.h").read_text()
    return int(re.search(r"#define\s+EXIT_CONFIG\s+(\d+)", text).group(1))


# ================================================================ systemd unit

def render_unit(tmp_path):
    """The unit as make renders it, pointing at the built daemon."""
    etc = tmp_path / "etc"
    etc.mkdir(exist_ok=True)
    shutil.copy(REPO / "etc/notifyd.conf.in", etc / "notifyd.conf")
    text = UNIT_IN.read_text().replace(
        "@sbindir@", str(Path(nd.notifyd_path()).parent)).replace(
        "@sysconfdir@", str(etc))
    unit = tmp_path / "notifyd.service"
    unit.write_text(text)
    return unit


def unit_settings(text):
    """{key: [values]} of the [Service] section, comments dropped."""
    out, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_unit_settings():
    s = unit_settings(UNIT_IN.read_text())
    one = {k: v[-1] for k, v in s.items()}
    assert one["Type"] == "notify"
    assert one["ExecStart"] == "@sbindir@/notifyd -c @sysconfdir@/notifyd.conf"
    assert one["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert one["KillMode"] == "mixed"
    default_timeout = float(next(k.default for k in confkeys.keys()
                                 if k.name == "shutdown_timeout"))
    # The master SIGKILLs stragglers at shutdown_timeout, then waits 5 s.
    assert float(one["TimeoutStopSec"]) > default_timeout + 5
    assert int(one["RestartPreventExitStatus"]) == exit_config()
    for key, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                       ("PrivateDevices", "yes"), ("CapabilityBoundingSet", ""),
                       ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
                       ("SystemCallArchitectures", "native"),
                       ("MemoryDenyWriteExecute", "yes")]:
        assert one.get(key) == value, key
    assert "User" in one or one.get("DynamicUser") == "yes"
    assert "#WatchdogSec=" in UNIT_IN.read_text()


def test_unit_verifies_and_scores(tmp_path):
    need("systemd-analyze", "systemd")
    need("man", "man-db")
    unit = render_unit(tmp_path)
    # Documentation=man:... is checked too: point man at our pages.
    for page, sect in [(MAN8, "man8"), (MAN5, "man5")]:
        (tmp_path / "man" / sect).mkdir(parents=True, exist_ok=True)
        shutil.copy(page, tmp_path / "man" / sect)
    env = dict(os.environ, MANPATH=str(tmp_path / "man"))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                        str(unit)], capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for notifyd.service: ([\d.]+)",
                  r.stdout)
    assert m, r.stdout + r.stderr
    print("systemd-analyze security exposure:", m.group(1))
    assert float(m.group(1)) <= 1.2, r.stdout


def test_make_install_puts_unit_and_pages(tmp_path):
    dest = tmp_path / "dest"
    r = subprocess.run(["make", "-s", "-C", str(nd.BUILDDIR), "install",
                        "DESTDIR=%s" % dest], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    files = {p.name: p for p in dest.rglob("*") if p.is_file()}
    for name in ("notifyd", "notifyd.conf", "notifyd.service", "notifyd.8",
                 "notifyd.conf.5"):
        assert name in files, sorted(files)
    unit = files["notifyd.service"].read_text()
    assert "@" + "sbindir@" not in unit and "@" + "sysconfdir@" not in unit
    sbin = re.search(r"^ExecStart=(\S+)/notifyd ", unit, re.M).group(1)
    assert (dest / sbin.lstrip("/") / "notifyd").exists()
    assert "systemd/system" in str(files["notifyd.service"])


def syscall_groups():
    """{@group: [names or @groups]} from systemd-analyze."""
    out = subprocess.run(["systemd-analyze", "syscall-filter"],
                         capture_output=True, text=True, check=True).stdout
    groups, cur = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            cur = groups.setdefault(line.strip(), [])
        elif cur is not None and line.strip() and \
                not line.strip().startswith("#"):
            cur.append(line.strip())
    return groups


def expand(groups, name, seen=None):
    seen = set() if seen is None else seen
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    out = set()
    for item in groups[name]:
        out |= expand(groups, item, seen)
    return out


def allowed_syscalls():
    """What the unit's SystemCallFilter= lines leave the daemon."""
    groups = syscall_groups()
    allowed = expand(groups, "@default")
    for value in unit_settings(UNIT_IN.read_text())["SystemCallFilter"]:
        deny = value.startswith("~")
        names = set()
        for item in value.lstrip("~").split():
            names |= expand(groups, item)
        allowed = allowed - names if deny else allowed | names
    return allowed


def test_syscalls_stay_inside_the_unit_filter(conf, notifyd, smtp, tmp_path,
                                             monkeypatch):
    """Runs every role under strace through start, mail, reload and stop:
    each system call made must pass the unit's SystemCallFilter=, and no
    /proc file but a process's own may be opened (ProcSubset=pid)."""
    strace = need("strace", "strace")
    need("systemd-analyze", "systemd")
    trace = tmp_path / "strace.out"
    wrapper = tmp_path / "notifyd-strace"
    # -D: strace is a grandchild, notifyd keeps the pid Popen gave it.
    wrapper.write_text("#!/bin/sh\nexec %s -D -f -q -o %s %s \"$@\"\n"
                       % (strace, trace, nd.notifyd_path()))
    wrapper.chmod(0o755)
    monkeypatch.setenv("NOTIFYD_BIN", str(wrapper))
    conf["email"].update(enabled=True, workers=1)
    conf["sweeper"] = {"enabled": True, "interval": 0.5}
    conf["audit"] = {"enabled": True, "batch_linger": 10}
    conf["http"]["processes"] = 2
    d = notifyd(conf, wait_ready=False)
    d.wait_ready(timeout=60)
    st, body, _ = d.post("/notification_service/api/notifications", json={
        "type": "EMAIL", "userId": 1, "recipient": "a@example.com",
        "title": "strace", "content": "hello"})
    assert st in (200, 201, 202), body
    smtp.wait_messages(1, timeout=30)
    assert d.get("/metrics")[0] == 200
    after = len(d.notifications())
    d.signal(signal.SIGHUP)
    d.wait_notify("READY=1", after=after, timeout=60)
    assert d.stop(timeout=60) == 0
    # strace pads pids to a width: "123  +++ exited with 0 +++".
    master = re.compile(r"^%d\s+\+\+\+ exited with 0 \+\+\+" % d.pid, re.M)
    nd.wait_until(lambda: master.search(trace.read_text()), 30,
                  msg="strace end")
    text = trace.read_text()
    made = set(re.findall(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]", text, re.M))
    made.discard("exited")
    assert made, text[:2000]
    denied = made - allowed_syscalls()
    assert not denied, "system calls the unit would refuse: %s" % sorted(denied)
    proc_files = set(re.findall(r'open(?:at)?\([^"]*"(/proc/[^"]+)"', text))
    non_pid = {p for p in proc_files
               if not re.match(r"/proc/(self|thread-self|\d+)(/|$)", p)}
    assert not non_pid, "ProcSubset=pid would hide %s" % sorted(non_pid)
    # MemoryDenyWriteExecute=, RestrictAddressFamilies=, RestrictNamespaces=
    wx = [l for l in text.splitlines() if re.search(
        r"\b(mmap|mprotect)\(.*PROT_[A-Z|]*WRITE[A-Z_|]*EXEC|"
        r"\b(mmap|mprotect)\(.*PROT_EXEC[A-Z_|]*WRITE", l)]
    assert not wx, wx[:5]
    # glibc's getaddrinfo(AI_ADDRCONFIG) asks NETLINK_ROUTE which address
    # families are configured; refused, it assumes both (check_pf.c), so
    # the unit leaves AF_NETLINK out.  Any other family is a finding.
    text_nl = re.sub(r"socket\(AF_NETLINK, SOCK_RAW\|SOCK_CLOEXEC, "
                     r"NETLINK_ROUTE", "socket(NETLINK_ROUTE_PROBE", text)
    families = set(re.findall(r"\bsocket\((AF_[A-Z0-9]+)", text_nl))
    assert families and families <= {"AF_INET", "AF_INET6", "AF_UNIX"}, families
    assert not re.search(r"CLONE_NEW|\bunshare\(|\bsetns\(", text)


# ================================================================ sd_notify

class NotifySocket:
    """A datagram socket standing in for systemd's: keeps each message
    whole, with the sender's pid (SO_PASSCRED), as systemd reads it."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(address)
        self.sock.setblocking(False)
        self.msgs = []      # (pid, {key: value}, raw text)

    def poll(self):
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except BlockingIOError:
                return self.msgs
            pid = None
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = int.from_bytes(cdata[:4], "little")
            text = data.decode()
            fields = dict(l.split("=", 1) for l in text.split("\n") if l)
            self.msgs.append((pid, fields, text))

    def wait(self, key, value=None, after=0, timeout=30, proc=None):
        """Index of the first message past after that sets key."""
        def found():
            dead = proc is not None and proc.poll() is not None
            msgs = self.poll()
            for i in range(after, len(msgs)):
                if key in msgs[i][1] and value in (None, msgs[i][1][key]):
                    return i + 1
            if dead:
                raise nd.GiveUp("notifyd exited (rc=%s) before %s"
                                % (proc.returncode, key))
            return None
        return nd.wait_until(found, timeout, msg="%s=%s" % (key, value)) - 1

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_sd_notify_sequence(conf, notifyd, tmp_path, kind):
    if kind == "path":
        addr = str(tmp_path / "notify.sock")
        env_value = addr
    else:
        addr = "\0notifyd-ops-%d" % os.getpid()
        env_value = "@" + addr[1:]
    ns = NotifySocket(addr)
    try:
        conf["http"]["processes"] = 2
        d = notifyd(conf, env={"NOTIFY_SOCKET": env_value}, wait_ready=False)
        ready = ns.wait("READY", "1", proc=d.proc)
        assert "serving" in ns.msgs[ready][1].get("STATUS", "")

        d.signal(signal.SIGHUP)
        before = time.monotonic()
        reloading = ns.wait("RELOADING", "1", after=ready + 1, proc=d.proc)
        fields = ns.msgs[reloading][1]
        # systemd wants MONOTONIC_USEC= in the RELOADING=1 datagram itself.
        assert "MONOTONIC_USEC" in fields, ns.msgs[reloading][2]
        usec = int(fields["MONOTONIC_USEC"])
        assert abs(usec / 1e6 - before) < 5, (usec, before)
        ready2 = ns.wait("READY", "1", after=reloading + 1, proc=d.proc)

        d.signal(signal.SIGTERM)
        stopping = ns.wait("STOPPING", "1", after=ready2 + 1, proc=d.proc)
        assert d.wait(30) == 0
        ns.poll()
        keys = [k for _, f, _ in ns.msgs for k in ("READY", "RELOADING",
                                                   "STOPPING") if k in f]
        assert keys == ["READY", "RELOADING", "READY", "STOPPING"], ns.msgs
        assert stopping == len(ns.msgs) - 1 or all(
            "READY" not in f for _, f, _ in ns.msgs[stopping + 1:])
        # NotifyAccess=main: every message must come from the master.
        assert {pid for pid, _, _ in ns.msgs} == {d.pid}, ns.msgs
    finally:
        ns.close()


def test_sd_notify_failed_reload_still_ready(conf, notifyd, tmp_path):
    addr = str(tmp_path / "notify.sock")
    ns = NotifySocket(addr)
    try:
        d = notifyd(conf, env={"NOTIFY_SOCKET": addr}, wait_ready=False)
        ready = ns.wait("READY", "1", proc=d.proc)
        d.write_conf("http = { port = \"not a number\"; };\n")
        d.signal(signal.SIGHUP)
        reloading = ns.wait("RELOADING", "1", after=ready + 1, proc=d.proc)
        again = ns.wait("READY", "1", after=reloading + 1, proc=d.proc)
        assert "reload failed" in ns.msgs[again][1].get("STATUS", "")
        assert d.get("/health")[0] == 200
    finally:
        ns.close()


def test_sd_notify_watchdog(conf, notifyd, tmp_path):
    addr = str(tmp_path / "notify.sock")
    ns = NotifySocket(addr)
    try:
        d = notifyd(conf, env={"NOTIFY_SOCKET": addr,
                               "WATCHDOG_USEC": "400000"}, wait_ready=False)
        first = ns.wait("WATCHDOG", "1", proc=d.proc)
        t0 = time.monotonic()
        ns.wait("WATCHDOG", "1", after=first + 1, proc=d.proc)
        ns.wait("WATCHDOG", "1", after=first + 2, proc=d.proc)
        # Two more pings at half of 0.4 s: well under the 0.4 s deadline each.
        assert time.monotonic() - t0 < 1.5
        d.stop()
    finally:
        ns.close()


def test_no_notify_socket_is_fine(conf, notifyd):
    d = notifyd(conf, env={"NOTIFY_SOCKET": None}, wait_ready=False)
    nd.wait_until(lambda: d.get("/health")[0] == 200, 30, msg="/health")
    assert d.stop() == 0


# ================================================================ /metrics

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*$")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class PromError(AssertionError):
    pass


def parse_labels(text, lineno):
    """Parses the inside of {...}: name="value" pairs, escapes checked."""
    labels, i = {}, 0
    while i < len(text):
        m = re.compile(r'([^=\s]+)="').match(text, i)
        if not m or not LABEL_NAME.match(m.group(1)):
            raise PromError("line %d: bad label at %r" % (lineno, text[i:]))
        name, i, value = m.group(1), m.end(), []
        while True:
            if i >= len(text):
                raise PromError("line %d: unterminated label value" % lineno)
            c = text[i]
            if c == "\\":
                esc = text[i + 1:i + 2]
                if esc not in ('\\', '"', "n"):
                    raise PromError("line %d: bad escape \\%s" % (lineno, esc))
                value.append({"\\": "\\", '"': '"', "n": "\n"}[esc])
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise PromError("line %d: raw newline in label" % lineno)
            else:
                value.append(c)
                i += 1
        if name in labels:
            raise PromError("line %d: label %s twice" % (lineno, name))
        labels[name] = "".join(value)
        if i < len(text):
            if text[i] != ",":
                raise PromError("line %d: expected , in labels" % lineno)
            i += 1
    return labels


def parse_value(s, lineno):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s):
        raise PromError("line %d: bad value %r" % (lineno, s))
    return float(s)


def parse_prometheus(text):
    """A strict reader of the text format 0.0.4.

    Returns {family: {"type", "help", "samples": [(name, labels, value)]}}.
    Checks: the text ends in a newline; HELP and TYPE come once each,
    before the family's first sample; names and labels are valid; no
    sample repeats; a family's samples are contiguous; counters are
    finite and >= 0; histograms have cumulative le buckets ending in +Inf
    equal to _count, and a _sum.
    """
    if not text.endswith("\n"):
        raise PromError("text does not end with a newline")
    fams, seen, closed, current = {}, set(), set(), None
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 3 or not METRIC_NAME.match(parts[2]):
                    raise PromError("line %d: bad %s" % (lineno, parts[1]))
                fam = fams.setdefault(parts[2], {"type": None, "help": None,
                                                 "samples": []})
                key = parts[1].lower()
                if fam[key] is not None:
                    raise PromError("line %d: second %s for %s"
                                    % (lineno, parts[1], parts[2]))
                if fam["samples"]:
                    raise PromError("line %d: %s after samples of %s"
                                    % (lineno, parts[1], parts[2]))
                if key == "type" and (len(parts) != 4 or parts[3] not in TYPES):
                    raise PromError("line %d: bad type" % lineno)
                fam[key] = parts[3] if len(parts) == 4 else ""
                if current is not None and current != parts[2]:
                    closed.add(current)
                current = parts[2]
            continue
        if not line.strip():
            raise PromError("line %d: empty line" % lineno)
        m = re.fullmatch(r"([^\s{]+)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?", line)
        if not m:
            raise PromError("line %d: cannot parse %r" % (lineno, line))
        name, labels = m.group(1), parse_labels(m.group(2) or "", lineno)
        if not METRIC_NAME.match(name):
            raise PromError("line %d: bad metric name %r" % (lineno, name))
        value = parse_value(m.group(3), lineno)
        family = family_of(name, fams)
        if family is None:
            raise PromError("line %d: %s has no TYPE before it" % (lineno, name))
        if family in closed:
            raise PromError("line %d: %s samples not contiguous" % (lineno, name))
        if current is not None and current != family:
            closed.add(current)
        current = family
        ident = (name, tuple(sorted(labels.items())))
        if ident in seen:
            raise PromError("line %d: duplicate sample %r" % (lineno, ident))
        seen.add(ident)
        fams[family]["samples"].append((name, labels, value))
    for name, fam in fams.items():
        check_family(name, fam)
    return fams


def family_of(name, fams):
    if name in fams and fams[name]["type"] is not None:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and fams.get(base, {}).get("type") in (
                "histogram", "summary"):
            return base
    return None


def check_family(name, fam):
    if fam["type"] is None:
        raise PromError("%s has HELP but no TYPE" % name)
    if fam["type"] == "counter":
        for _, labels, v in fam["samples"]:
            if not (math.isfinite(v) and v >= 0):
                raise PromError("counter %s%r is %r" % (name, labels, v))
    if fam["type"] == "histogram":
        check_histogram(name, fam["samples"])


def check_histogram(name, samples):
    """Per label set: le buckets cumulative, ending in +Inf == _count."""
    series = {}
    for sname, labels, v in samples:
        rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        s = series.setdefault(rest, {"buckets": [], "count": None,
                                     "sum": None})
        if sname == name + "_bucket":
            if "le" not in labels:
                raise PromError("%s bucket without le" % name)
            s["buckets"].append((parse_value(labels["le"], 0), v))
        elif sname == name + "_count":
            s["count"] = v
        elif sname == name + "_sum":
            s["sum"] = v
        else:
            raise PromError("%s: stray sample %s" % (name, sname))
    for rest, s in series.items():
        les = [le for le, _ in s["buckets"]]
        if les != sorted(les) or len(set(les)) != len(les):
            raise PromError("%s%r: le not increasing" % (name, rest))
        if not les or les[-1] != math.inf:
            raise PromError("%s%r: no +Inf bucket" % (name, rest))
        counts = [c for _, c in s["buckets"]]
        if counts != sorted(counts):
            raise PromError("%s%r: buckets not cumulative" % (name, rest))
        if s["count"] is None or s["sum"] is None:
            raise PromError("%s%r: missing _count or _sum" % (name, rest))
        if counts[-1] != s["count"]:
            raise PromError("%s%r: +Inf %r != _count %r"
                            % (name, rest, counts[-1], s["count"]))


def test_strict_parser_rejects_bad_text():
    good = ('# HELP a_total A.\n# TYPE a_total counter\na_total{x="q\\"\\\\\\n"} 1\n'
            '# TYPE h histogram\nh_bucket{le="0.1"} 1\nh_bucket{le="+Inf"} 2\n'
            'h_sum 0.5\nh_count 2\n')
    fams = parse_prometheus(good)
    assert fams["a_total"]["samples"][0][1] == {"x": 'q"\\\n'}
    for bad in [good.replace("# TYPE a_total counter\n", ""),
                good.replace('h_bucket{le="+Inf"} 2', 'h_bucket{le="+Inf"} 3'),
                good.replace('h_bucket{le="0.1"} 1', 'h_bucket{le="0.1"} 5'),
                good.replace('h_bucket{le="+Inf"} 2\n', ""),
                good.replace('\\"', '"'),
                good.replace('\\n"', '\\t"'),
                good.replace("a_total{", "1a{"),
                good + "a_total{x=\"q\\\"\\\\\\n\"} 1\n",
                good[:-1],
                good + "# TYPE a_total counter\n"]:
        with pytest.raises(PromError):
            parse_prometheus(bad)


def scrape(d):
    st, text, headers = d.get("/metrics")
    assert st == 200, text
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return text, parse_prometheus(text)


def sample(fams, family, name=None, **labels):
    for sname, l, v in fams[family]["samples"]:
        if sname == (name or family) and all(l.get(k) == x
                                             for k, x in labels.items()):
            return v
    return 0.0


def api_children(d):
    def comm(pid):
        try:
            return Path("/proc/%d/comm" % pid).read_text().strip()
        except FileNotFoundError:
            return ""
    return [p for p in d.children() if comm(p) == "notifyd-api"]


def hit(d, path, n):
    for _ in range(n):
        # A new connection each time: any api process may take it.
        req = urllib.request.Request(d.url + path,
                                     headers={"Connection": "close"})
        try:
            urllib.request.urlopen(req, timeout=10).close()
        except urllib.error.HTTPError as e:
            e.close()


def test_metrics_strict_and_summed_over_processes(conf, notifyd, tmp_path):
    conf["http"]["processes"] = 2
    d = notifyd(conf)
    apis = nd.wait_until(lambda: len(api_children(d)) == 2 and api_children(d),
                         10, msg="two api processes")
    text, fams = scrape(d)
    for family in ["notifyd_build_info", "notifyd_processes",
                   "notifyd_processes_ready", "notifyd_child_restarts_total",
                   "notifyd_http_requests_total",
                   "notifyd_http_request_duration_seconds",
                   "notifyd_notifications_accepted_total",
                   "notifyd_notifications_sent_total",
                   "notifyd_notifications_failed_total",
                   "notifyd_notifications_retried_total",
                   "notifyd_notifications_requeued_total",
                   "notifyd_smtp_attempts_total",
                   "notifyd_rate_limit_waits_total",
                   "notifyd_audit_messages_total", "notifyd_audit_batches_total",
                   "notifyd_audit_commit_duration_seconds",
                   "notifyd_database_errors_total"]:
        assert family in fams, family
    assert fams["notifyd_http_request_duration_seconds"]["type"] == "histogram"
    assert sample(fams, "notifyd_processes", role="api") == 2
    assert sample(fams, "notifyd_processes_ready", role="api") == 2
    assert sample(fams, "notifyd_build_info") == 1
    # Freeze one api process at a time: the other serves all of that
    # batch, so each process's slot holds part of the total.  On a loaded
    # machine a request can still land on the process being frozen (the
    # stop is asynchronous); it is then answered after SIGCONT, so the
    # round is measured again from a fresh base rather than failed.
    a, b = apis
    for attempt in range(3):
        _, fams = scrape(d)
        base = sample(fams, "notifyd_http_requests_total", route="health",
                      code="2xx")
        base404 = sample(fams, "notifyd_http_requests_total",
                         route="unmatched", code="4xx")
        try:
            os.kill(a, signal.SIGSTOP)
            hit(d, "/health", 7)
            os.kill(a, signal.SIGCONT)
            os.kill(b, signal.SIGSTOP)
            hit(d, "/health", 5)
            hit(d, "/no/such/path", 3)
            break
        except (socket.timeout, TimeoutError, urllib.error.URLError):
            pass
        finally:
            os.kill(a, signal.SIGCONT)
            os.kill(b, signal.SIGCONT)
        time.sleep(11)	# the stuck request is answered and counted
    else:
        pytest.fail("three rounds timed out with one api process stopped")
    # Whichever process answers the scrape, it reports the sum.
    for _ in range(6):
        text, fams = scrape(d)
        assert sample(fams, "notifyd_http_requests_total", route="health",
                      code="2xx") == base + 12, text
        assert sample(fams, "notifyd_http_requests_total", route="unmatched",
                      code="4xx") == base404 + 3, text
        hist = "notifyd_http_request_duration_seconds"
        assert sample(fams, hist, hist + "_count") >= base + 15


def test_promtool_accepts_metrics(conf, notifyd):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus); "
                    "the strict parser above still checks /metrics")
    d = notifyd(conf)
    hit(d, "/health", 2)
    text, _ = scrape(d)
    r = subprocess.run([promtool, "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


# ================================================================ logs

# A child's role may carry its index within the role: api/0, mailer/1.
ROLES = r"master|migrate|(?:api|mailer|sweeper|audit|webhook|events|inbox)(?:/\d+)?"


def test_log_format_json(conf, notifyd):
    conf["log"] = {"level": "debug", "format": "json"}
    conf["email"].update(enabled=True, workers=1)
    d = notifyd(conf)
    hit(d, "/health", 1)
    assert d.stop() == 0
    lines = d.log().splitlines()
    assert len(lines) > 3
    roles = set()
    for line in lines:
        obj = json.loads(line)
        assert isinstance(obj, dict), line
        assert re.fullmatch(ROLES, obj["role"]), line
        assert isinstance(obj["pid"], int) and obj["pid"] > 0, line
        assert obj["level"] in ("debug", "info", "warning", "error"), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
                            obj["ts"]), line
        assert isinstance(obj["msg"], str)
        roles.add(obj["role"])
        if obj["role"] == "master":
            assert obj["pid"] == d.pid, line
    assert {"master", "api", "mailer"} <= {r.split("/")[0] for r in roles}


def test_log_format_text(conf, notifyd):
    conf["log"] = {"level": "debug", "format": "text"}
    conf["email"].update(enabled=True, workers=1)
    d = notifyd(conf)
    assert d.stop() == 0
    pat = re.compile(r"<([3467])>notifyd (%s)\[(\d+)\]: \S" % ROLES)
    roles = set()
    for line in d.log().splitlines():
        m = pat.match(line)
        assert m, line
        roles.add(m.group(2))
        if m.group(2) == "master":
            assert int(m.group(3)) == d.pid, line
    assert {"master", "api", "mailer"} <= {r.split("/")[0] for r in roles}


def test_log_json_escapes(conf, notifyd, tmp_path):
    """A message holding quotes, a backslash and a tab (a config path, as
    the master logs it on reload) stays one valid JSON line."""
    conf["log"] = {"format": "json"}
    weird = tmp_path / 'we"ird\\dir\tx'
    weird.mkdir()
    path = weird / "notifyd.conf"
    path.write_text(nd.libconfig(conf) + "\n")
    d = notifyd(conf, args=("-c", str(path)))     # the last -c wins
    mark = d.mark()
    path.write_text(nd.libconfig(conf) + "\nbogus = 1;\n")
    d.signal(signal.SIGHUP)
    d.wait_log(r"reload failed", since=mark)
    msgs = [json.loads(line)["msg"] for line in d.log().splitlines()]
    # log.c escapes backslash and tab (\\, \t) before JSON encoding.
    shown = str(path).replace("\\", "\\\\").replace("\t", "\\t")
    assert any(shown in m and "bogus" in m for m in msgs), msgs[-3:]


# ================================================================ containers

def compose():
    try:
        import yaml
    except ImportError:
        pytest.fail("python3-yaml is missing: apt-get install python3-yaml")
    return yaml.safe_load(COMPOSE.read_text())


def compose_env(service):
    env = compose()["services"][service].get("environment", {})
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: str(v) for k, v in env.items()}


def test_compose_services_and_healthchecks():
    c = compose()
    assert str(c["version"]) == "2.4"
    svc = c["services"]
    assert set(svc) >= {"kafka", "postgres", "mailpit", "notifyd"}
    assert svc["kafka"]["image"].startswith("docker.io/apache/kafka:")
    assert svc["postgres"]["image"] == "docker.io/library/postgres:15"
    assert svc["mailpit"]["image"].startswith("docker.io/axllent/mailpit")
    assert svc["notifyd"]["build"] == "."
    for name, s in svc.items():
        hc = s.get("healthcheck")
        assert hc and hc.get("test"), "%s has no healthcheck" % name
        assert hc["test"][0] in ("CMD", "CMD-SHELL"), name
    assert "pg_isready" in " ".join(svc["postgres"]["healthcheck"]["test"])
    assert "/health" in " ".join(svc["notifyd"]["healthcheck"]["test"])
    deps = svc["notifyd"]["depends_on"]
    for dep in ("kafka", "postgres", "mailpit"):
        assert deps[dep]["condition"] == "service_healthy", dep
    k = compose_env("kafka")
    assert set(k["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node = k["KAFKA_NODE_ID"]
    assert k["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(node + "@kafka:")
    assert "CONTROLLER" in k["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert k["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "true"
    for listener in k["KAFKA_LISTENERS"].split(","):
        assert listener.split("://")[0] in k["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    assert "8025:8025" in svc["mailpit"]["ports"]
    n = compose_env("notifyd")
    assert n["NOTIFYD_SMTP_URL"] == "smtp://mailpit:1025"
    assert n["NOTIFYD_EMAIL_SMTP_STARTTLS"] == "off"
    assert n["NOTIFYD_HTTP_LISTEN"] == "0.0.0.0"
    assert n["NOTIFYD_DATABASE_MIGRATE_ON_START"] == "true"
    assert n["NOTIFYD_KAFKA_BROKERS"].startswith("kafka:")
    assert "@postgres:" in n["NOTIFYD_DATABASE_URL"]
    # docker stop waits this long before SIGKILL: above shutdown_timeout.
    assert int(svc["notifyd"]["stop_grace_period"].rstrip("s")) > 15


def test_compose_validates():
    tool = need("docker-compose", "docker-compose")
    r = subprocess.run([tool, "-f", str(COMPOSE), "config", "-q"],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 0, r.stderr


def dockerfile_env_names():
    text = DOCKERFILE.read_text()
    return set(re.findall(r"\b(NOTIFYD_[A-Z0-9_]+)", text))


def test_every_notifyd_variable_is_a_real_key():
    known = confkeys.env_names()
    used = set(compose_env("notifyd")) | dockerfile_env_names()
    for name in used:
        if name.startswith("NOTIFYD_") and not name.endswith("_"):
            assert name in known, "%s maps to no config key" % name
    assert {"NOTIFYD_DATABASE_URL", "NOTIFYD_SMTP_URL"} <= set(known)


def test_compose_environment_passes_config_check(tmp_path):
    """notifyd -t with the compose file's environment: every value is
    of the right type and in range."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFYD_")}
    env.update(compose_env("notifyd"))
    r = subprocess.run([nd.notifyd_path(), "-t", "-c",
                        str(REPO / "etc/notifyd.conf.in")], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def dockerfile_stages():
    """[(FROM line, [instructions])] with continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word = line.split()[0].upper()
        if word == "FROM":
            stages.append((line, []))
        elif stages:
            stages[-1][1].append(line)
    return stages


def test_dockerfile_shape():
    stages = dockerfile_stages()
    assert len(stages) == 2
    assert stages[0][0].startswith(
        "FROM docker.io/library/debian:bookworm AS build")
    assert stages[1][0] == "FROM docker.io/library/debian:bookworm-slim"
    build = " ".join(stages[0][1])
    for step in ("./autogen.sh", "--prefix=/usr", "--sysconfdir=/etc/notifyd",
                 "make install DESTDIR="):
        assert step in build, step
    runtime = stages[1][1]
    entry = [l for l in runtime if l.startswith("ENTRYPOINT")]
    assert len(entry) == 1
    assert json.loads(entry[0][len("ENTRYPOINT"):]) == [
        "/usr/sbin/notifyd", "-c", "/etc/notifyd/notifyd.conf"]
    user = [l.split()[1] for l in runtime if l.startswith("USER")]
    assert user and user[-1].split(":")[0] not in ("0", "root")
    hc = [l for l in runtime if l.startswith("HEALTHCHECK")]
    assert len(hc) == 1 and "/health" in hc[0] and "-f" in hc[0]
    installs = " ".join(l for l in runtime if "apt-get install" in l)
    assert "-dev" not in installs
    assert "NOTIFYD_HTTP_LISTEN=0.0.0.0" in " ".join(runtime)


def test_runtime_image_has_every_shared_library():
    """Each library the built daemon links (objdump NEEDED), mapped to its
    Debian package here, is installed by the runtime stage (libc6 and
    libgcc come with the base image)."""
    out = subprocess.run(["objdump", "-p", nd.notifyd_path()],
                         capture_output=True, text=True, check=True).stdout
    needed = re.findall(r"^\s*NEEDED\s+(\S+)", out, re.M)
    assert needed
    runtime = " ".join(dockerfile_stages()[1][1])
    missing = []
    for soname in needed:
        r = subprocess.run(["dpkg", "-S", "*/" + soname], capture_output=True,
                           text=True)
        assert r.returncode == 0, "no package ships %s" % soname
        pkgs = {l.split(":")[0] for l in r.stdout.splitlines()}
        if pkgs & {"libc6", "libgcc-s1"}:
            continue
        if not any(re.search(r"\b%s\b" % re.escape(p), runtime) for p in pkgs):
            missing.append((soname, sorted(pkgs)))
    assert not missing, missing


def test_dockerignore_keeps_build_products_out():
    lines = set((REPO / ".dockerignore").read_text().split())
    for entry in (".git", "*.o", "config.status", "Makefile", "src/notifyd",
                  "var"):
        assert entry in lines, entry


# ================================================================ manual pages

def test_man5_lists_every_key():
    text = MAN5.read_text()
    entries = set(re.findall(r"^\.TP\n\.B (\S+)$", text, re.M))
    missing = [k.name for k in confkeys.keys() if k.name not in entries]
    assert not missing, ("keys missing from man/notifyd.conf.5.in: %s; run "
                         "/usr/bin/python3 t/integration/confkeys.py man --write"
                         % missing)


def test_man5_keys_match_the_table():
    block = confkeys.man_block(MAN5.read_text())
    assert block is not None, "BEGIN/END KEYS markers gone from notifyd.conf.5"
    assert block == confkeys.man_keys(), (
        "man/notifyd.conf.5.in is out of step with src/conf.c (type, default, "
        "bounds, reload or help changed): run /usr/bin/python3 "
        "t/integration/confkeys.py man --write")


def test_man8_covers_options_signals_exit_codes():
    text = MAN8.read_text().replace("\\-", "-")
    usage = subprocess.run([nd.notifyd_path(), "-h"], capture_output=True,
                           text=True).stdout
    for opt in re.findall(r"^\s+(-{1,2}[a-zA-Z-]+)", usage, re.M):
        assert re.search(r"^\.(B|BI|BR) %s\b" % re.escape(opt), text, re.M), opt
    for sig in ("SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP"):
        assert ".B %s" % sig in text, sig
    for role in ("master", "api", "mailer", "sweeper", "audit"):
        assert ".B %s" % role in text, role
    assert ".B %d" % exit_config() in text
    for sh in ("OPTIONS", "PROCESS ROLES", "SIGNALS", "FILES", "EXIT STATUS",
               "ENVIRONMENT"):
        assert re.search(r'^\.SH "?%s"?$' % sh, text, re.M), sh


@pytest.mark.parametrize("page", [MAN8, MAN5], ids=lambda p: p.name)
def test_man_pages_render_without_warnings(page):
    groff = need("groff", "groff-base")
    r = subprocess.run([groff, "-ww", "-z", "-man", str(page)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r = subprocess.run([need("man", "man-db"), "--warnings", "-l", str(page)],
                       capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0"))
    assert r.returncode == 0 and r.stderr == "", r.stderr
