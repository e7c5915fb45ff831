"""Issue 2 (the foundation): the master, the api role's ops endpoints,
reload, shutdown, -t, --migrate and environment overrides, against the
real binary.  Readiness is always polled; the only sleeps are the
windows in which something must NOT happen (a held or throttled child
staying down)."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import nd


def comm(pid):
    """The process name a child set with PR_SET_NAME (notifyd-<role>)."""
    try:
        return Path("/proc/%d/comm" % pid).read_text().strip()
    except FileNotFoundError:
        return None


def role_pids(d, role):
    return [p for p in d.children() if comm(p) == "notifyd-" + role]


def gone(pid):
    """True once pid no longer exists (reaped, not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def health_ok(d, timeout=2):
    status, body, _ = d.get("/health", timeout=timeout)
    return status == 200 and body == {"status": "ok"}


def raw_request(port, method, path, headers=(), body=b"", chunks=None,
                timeout=5):
    """One request on a fresh connection; chunks sends a chunked body
    without Content-Length.  Returns (status, parsed JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if chunks is not None:
            conn.putrequest(method, path)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.putheader("Content-Type", "application/json")
            conn.endheaders()
            try:
                for c in chunks:
                    conn.send(b"%x\r\n%s\r\n" % (len(c), c))
                conn.send(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass    # the server may answer 413 and close early
        else:
            conn.request(method, path, body=body, headers=dict(headers))
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        conn.close()


def closed_port():
    """A port with nothing listening on it (connections are refused)."""
    return nd.free_port()


def run_notifyd(args, env=None, timeout=30):
    full = dict(os.environ)
    full.pop("NOTIFY_SOCKET", None)
    full.update(env or {})
    return subprocess.run([nd.notifyd_path(), *args], capture_output=True,
                          text=True, env=full, timeout=timeout)


# ------------------------------------------------------------ api role

def test_health_and_ready_follow_postgres(conf, notifyd, pg):
    d = notifyd(conf)
    assert d.get("/health")[:2] == (200, {"status": "ok"})
    status, body, headers = d.get("/ready")
    assert status == 200, body
    assert headers["Content-Type"] == "application/json"
    assert body["checks"]["database"] == "ok"
    try:
        pg.stop()
        status, body, headers = d.get("/ready")
        assert status == 503, body
        assert headers["Content-Type"] == "application/json"
        assert body["status"] == "unavailable"
        assert body["checks"]["database"].startswith("down")
        assert health_ok(d)     # alive, merely not ready
    finally:
        pg.start()
    nd.wait_until(lambda: d.get("/ready")[0] == 200, 10, msg="ready again")


def test_error_bodies_are_json(conf, notifyd):
    conf = nd.merge(conf, {"http": {"max_body": 1024}})
    d = notifyd(conf)
    status, body, headers = d.get("/no/such/path")
    assert (status, body["error"], body["status"]) == (404, "not found", 404)
    assert headers["Content-Type"] == "application/problem+json"
    status, body, headers = d.post("/health", body="x")
    assert (status, body["status"]) == (405, 405)
    assert headers["Content-Type"] == "application/problem+json"
    api = "/notification_service/api/notifications"
    status, body, headers = d.post(api, body=b"{" + b" " * 4096 + b"}",
                                   headers={"Content-Type":
                                            "application/json"})
    assert (status, body["status"]) == (413, 413), body
    assert headers["Content-Type"] == "application/problem+json"
    # No Content-Length to refuse early: the limit applies while reading.
    status, body = raw_request(d.port, "POST", api,
                               chunks=[b"{" + b" " * 1023] * 4 + [b"}"])
    assert (status, body["status"]) == (413, 413), body
    assert health_ok(d)


# ------------------------------------------------------------ respawn

def test_killed_api_child_is_replaced_within_2s(conf, notifyd):
    d = notifyd(conf)
    (old,) = role_pids(d, "api")
    mark = d.mark()
    t0 = time.monotonic()
    os.kill(old, signal.SIGKILL)

    def serving_again():
        new = [p for p in role_pids(d, "api") if p != old]
        return new and health_ok(d, timeout=1) and new
    (new,) = nd.wait_until(serving_again, 5, interval=0.02,
                           msg="a new api child serving")
    elapsed = time.monotonic() - t0
    assert elapsed < 2.0, "serving again only after %.2f s" % elapsed
    d.wait_log(r"api/0 pid %d killed by signal 9" % old, since=mark)
    d.wait_log(r"started api/0 pid %d" % new, since=mark)
    assert gone(old)


def test_crashing_child_is_throttled(conf, notifyd):
    # The sweeper exits before it is ready when the database refuses.
    conf = nd.merge(conf, {
        "database": {"conninfo": "host=127.0.0.1 port=%d user=postgres "
                                 "dbname=x connect_timeout=2" % closed_port(),
                     "migrate_on_start": False},
        "email": {"enabled": True, "workers": 0},
        "sweeper": {"enabled": True}})
    d = notifyd(conf, wait_ready=False)     # never all ready: no READY=1
    t0 = time.monotonic()
    nd.wait_until(lambda: health_ok(d), 10, msg="api serving")
    healthy = []
    stop = threading.Event()

    def probe():
        while not stop.is_set():
            try:
                healthy.append(health_ok(d))
            except OSError as e:
                healthy.append(e)
            time.sleep(0.1)
    prober = threading.Thread(target=probe)
    prober.start()
    try:
        d.wait_log(r"sweeper/0 pid \d+ exited with status 1 before it was "
                   r"ready; respawning in 4 s", timeout=10)
        elapsed = time.monotonic() - t0
    finally:
        stop.set()
        prober.join()
    log = d.log()
    delays = [int(s) for s in re.findall(
        r"sweeper/0 pid \d+ .*; respawning in (\d+) s", log)]
    assert delays[:3] == [1, 2, 4], delays
    starts = len(re.findall(r"started sweeper/0 pid", log))
    # 1 + 2 s of backoff before the third start: no tight loop.
    assert elapsed >= 2.5, elapsed
    assert starts <= 4, "%d sweeper starts in %.1f s" % (starts, elapsed)
    assert healthy and all(h is True for h in healthy), healthy


def test_config_error_child_is_held(conf, notifyd, tmp_path):
    conf = nd.merge(conf, {"email": {"enabled": True, "workers": 1,
                                     "smtp": {"username": "u",
                                              "starttls": "required",
                                              "password_file":
                                              str(tmp_path / "missing")}}})
    d = notifyd(conf, wait_ready=False)
    d.wait_log(r"mailer/0 exited with status 78 \(configuration error\): "
               r"not respawned until a reload", timeout=10)
    mark = d.mark()
    time.sleep(2.5)     # a throttled respawn would come after 1 s
    assert "started mailer" not in d.log()[mark:]
    assert len(re.findall(r"started mailer/0", d.log())) == 1
    assert role_pids(d, "mailer") == []
    assert health_ok(d)
    # Fixed and reloaded, it runs again.
    (tmp_path / "missing").write_text("secret\n")
    d.signal(signal.SIGHUP)
    d.wait_log(r"started mailer/0 pid \d+ generation 2", since=mark)
    nd.wait_until(lambda: role_pids(d, "mailer"), 10, msg="mailer running")


# ------------------------------------------------------------ reload

def test_sighup_with_broken_file_keeps_serving(conf, notifyd):
    d = notifyd(conf)
    before = d.children()
    text = nd.libconfig(conf).splitlines()
    text.insert(0, "bogus_key = 1;")
    d.write_conf("\n".join(text) + "\n")
    mark = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_log(r"reload failed, keeping the running configuration: "
               r"%s:1: bogus_key: unknown key" % re.escape(d.confpath),
               since=mark)
    # Wrong type deeper down: file:line: key too.
    bad = nd.merge(conf, {"http": {"threads": "many"}})
    d.write_conf(bad)
    line = next(i + 1 for i, l in enumerate(nd.libconfig(bad).splitlines())
                if "threads" in l)
    d.signal(signal.SIGHUP)
    d.wait_log(r"reload failed, keeping the running configuration: "
               r"%s:%d: http.threads: expected an integer"
               % (re.escape(d.confpath), line), since=mark)
    assert health_ok(d)
    assert d.children() == before
    assert "starting generation 2" not in d.log()


class Load:
    """Threads each looping GET /health, a fresh connection per request,
    recording every failure."""

    def __init__(self, port, threads=6):
        self.port = port
        self.ok = 0
        self.failures = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run)
                        for _ in range(threads)]

    def run(self):
        while not self.stop.is_set():
            try:
                status, body = raw_request(self.port, "GET", "/health")
                failed = None if status == 200 else (status, body)
            except (OSError, http.client.HTTPException) as e:
                failed = repr(e)
            with self.lock:
                if failed:
                    self.failures.append(failed)
                else:
                    self.ok += 1

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


def _reload(d, conf, load):
    """Writes conf, sends SIGHUP, waits until the new generation serves
    alone and more load went through; returns the new api pids."""
    old = role_pids(d, "api")
    after = len(d.notifications())
    d.write_conf(conf)
    d.signal(signal.SIGHUP)
    d.wait_notify("READY=1", after=after)
    assert "RELOADING=1" in d.notifications()[after:]
    nd.wait_until(lambda: all(gone(p) for p in old), 10,
                  msg="old api children gone")
    want = conf["http"]["processes"]
    new = nd.wait_until(lambda: len(role_pids(d, "api")) == want and
                        role_pids(d, "api"), 5, msg="%d api children" % want)
    assert not set(new) & set(old)
    done = load.ok
    nd.wait_until(lambda: load.ok > done + 20, 5, msg="load after reload")
    return new


def test_sighup_applies_new_values_without_refusing(conf, notifyd):
    d = notifyd(conf)
    with Load(d.port) as load:
        nd.wait_until(lambda: load.ok > 20, 5, msg="load running")
        mark = d.mark()
        two = _reload(d, nd.merge(conf, {"http": {"processes": 2},
                                         "log": {"format": "json"}}), load)
        json_part = d.log()[mark:]
        mark = d.mark()
        _reload(d, conf, load)      # and back: 1 process, text logs
    assert load.failures == [], load.failures[:5]
    lines = json_part.splitlines()
    entries = [json.loads(l) for l in lines if l.startswith("{")]
    assert any(e["msg"].startswith("generation 2 ready: 2 processes")
               for e in entries), lines[-10:]
    assert {e["pid"] for e in entries if e["role"].startswith("api/")} >= \
        set(two)
    assert re.search(r"^<6>notifyd master\[%d\]: generation 3 ready: "
                     r"1 processes$" % d.pid, d.log()[mark:], re.M)
    print("%d requests during two reloads, none failed" % load.ok)


# ------------------------------------------------------------ shutdown

def test_sigterm_exits_0_and_leaves_nothing(conf, notifyd):
    conf = nd.merge(conf, {"http": {"processes": 2}})
    d = notifyd(conf)
    kids = d.children()
    assert len(kids) == 2
    d.signal(signal.SIGTERM)
    assert d.wait(15) == 0
    assert "STOPPING=1" in d.notifications()
    nd.wait_until(lambda: all(gone(p) for p in kids), 5, msg="children gone")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", d.port), timeout=1).close()


# ------------------------------------------------------------ command line

def _check(tmp_path, text, env=None):
    path = tmp_path / "check.conf"
    path.write_text(text)
    return path, run_notifyd(["-t", "-c", str(path)], env)


def test_check_good_file(conf, tmp_path):
    path, r = _check(tmp_path, nd.libconfig(conf) + "\n")
    assert r.returncode == 0, r.stderr
    assert re.search(r"configuration .*%s.* OK" % re.escape(str(path)),
                     r.stdout)
    # The shipped example file is valid too.
    r = run_notifyd(["-t", "-c", str(nd.BUILDDIR / "etc/notifyd.conf")])
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("text, line, key, reason", [
    ('http = {\n  port = 8080;\n  colour = "red";\n};\n', 3, "http.colour",
     "unknown key"),
    ('shutdown_timeout = 5;\nhttp = {\n  processes = "two";\n};\n', 3,
     "http.processes", "expected an integer"),
    ('\n\nhttp = {\n  port = 70000;\n};\n', 4, "http.port",
     r"70000 is out of range \[0, 65535\]"),
    ('log = {\n  format = "xml";\n};\n', 2, "log.format",
     r"must be one of text\|json"),
])
def test_check_bad_file(tmp_path, text, line, key, reason):
    path, r = _check(tmp_path, text)
    assert r.returncode != 0
    assert re.search(r"%s:%d: %s: %s" % (re.escape(str(path)), line,
                                         re.escape(key), reason),
                     r.stderr), r.stderr
    assert "OK" not in r.stdout


def test_migrate_twice(conf, db, tmp_path):
    conf = nd.merge(conf, {"database": {"migrate_on_start": False}})
    path = tmp_path / "m.conf"
    path.write_text(nd.libconfig(conf) + "\n")
    files = sorted(p.name for p in (nd.REPO / "sql").glob("[0-9]*.sql"))
    assert files
    r = run_notifyd(["--migrate", "-c", str(path)])
    assert r.returncode == 0, r.stderr
    assert "migrate: %d migration%s applied" % (
        len(files), "" if len(files) == 1 else "s") in r.stderr
    r = run_notifyd(["--migrate", "-c", str(path)])
    assert r.returncode == 0, r.stderr
    assert "migrate: 0 migrations applied" in r.stderr
    assert [v for (v,) in db.query(
        "SELECT version FROM schema_migrations ORDER BY version")] == files


def test_environment_overrides(conf, notifyd, tmp_path):
    port = nd.free_port()
    broken = nd.merge(conf, {"database": {
        "conninfo": "host=127.0.0.1 port=%d dbname=x" % closed_port()}})
    d = notifyd(broken, env={"NOTIFYD_HTTP_PORT": str(port),
                             "NOTIFYD_DATABASE_URL":
                             conf["database"]["conninfo"]})
    file_port = d.port
    d.port = port
    assert health_ok(d)
    assert d.get("/ready")[0] == 200    # the alias's conninfo won
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", file_port), timeout=1).close()
    # A bad value in the environment is named like a bad key in a file.
    _, r = _check(tmp_path, nd.libconfig(conf) + "\n",
                  env={"NOTIFYD_HTTP_PROCESSES": "lots"})
    assert r.returncode != 0
    assert "NOTIFYD_HTTP_PROCESSES: http.processes" in r.stderr, r.stderr
