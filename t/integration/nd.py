"""Shared helpers for notifyd's integration tests.

The servers a test needs (PostgreSQL, a Kafka mock, an SMTP sink, notifyd
itself) are small classes here; conftest.py only wires them into pytest
fixtures, so a test or a one-off script can use them directly too.

Readiness is always polled (wait_until) or announced by the server (a
READY line, sd_notify READY=1); never a fixed sleep.
"""
import copy
import email
import email.policy
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parents[2]
BUILDDIR = Path(os.environ.get("NOTIFYD_BUILDDIR", REPO))
PGBIN = Path("/usr/lib/postgresql/15/bin")
PYTHON = "/usr/bin/python3"     # Debian's, which has aiosmtpd
# Every wait_until timeout is multiplied by this: the ASan/UBSan stage
# (NOTIFYD_SANITIZERS=1, .ci/run) runs the daemon 2-3x slower.  Waits
# end as soon as their condition holds, so only a failure waits longer.
# NOTIFYD_TEST_SLOW=N overrides it (a loaded machine).
SLOW = float(os.environ.get("NOTIFYD_TEST_SLOW") or
             (3 if os.environ.get("NOTIFYD_SANITIZERS") == "1" else 1))


def kmock_path():
    return os.environ.get("NOTIFYD_KMOCK", str(BUILDDIR / "t/helpers/kmock"))


def notifyd_path():
    return os.environ.get("NOTIFYD_BIN", str(BUILDDIR / "src/notifyd"))


# ---------------------------------------------------------------- basics

class GiveUp(AssertionError):
    """Raised inside a wait_until condition: waiting longer is pointless."""


def wait_until(fn, timeout=10, interval=0.05, msg=None):
    """Calls fn until it returns something truthy, and returns that.

    Exceptions from fn count as "not yet" (except GiveUp, which ends the
    wait at once); the last one is reported if time runs out, which makes
    a failing wait explain itself.  timeout is scaled by SLOW.
    """
    timeout *= SLOW
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = fn()
            if value:
                return value
            last = value
        except GiveUp:
            raise
        except Exception as e:      # noqa: BLE001 - retried, then reported
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %ss waiting for %s (last: %r)"
                                 % (timeout, msg or getattr(fn, "__name__", fn),
                                    last))
        time.sleep(interval)


def free_port():
    """A TCP port free right now on 127.0.0.1, below the kernel's
    ephemeral range: a port the kernel picked for us (bind to 0) was
    free, but the kernel could give it to another test's outgoing
    connection before our server bound it (CI: "bind: Address already
    in use").  Falls back to the kernel's pick."""
    try:
        lo = int(Path("/proc/sys/net/ipv4/ip_local_port_range")
                 .read_text().split()[0])
    except (OSError, ValueError, IndexError):
        lo = 1024
    for _ in range(50 if lo > 11024 else 0):
        port = random.randrange(max(1024, lo - 12000), lo)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tmp_base():
    """Where throwaway servers keep their files: $NOTIFYD_TEST_TMP or /tmp."""
    base = os.environ.get("NOTIFYD_TEST_TMP")
    if base:
        os.makedirs(base, exist_ok=True)
    return base


def read_line(proc, timeout=10):
    """One line of proc's stdout, or an error if it dies or stays silent."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError("%s printed nothing in %ss" % (proc.args, timeout))
    line = proc.stdout.readline().decode(errors="replace")
    if not line:
        raise AssertionError("%s exited (rc=%s) before its ready line"
                             % (proc.args, proc.wait()))
    return line.strip()


def stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL if it lingers; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdin:
        proc.stdin.close()
    if proc.stdout:
        proc.stdout.close()
    return proc.returncode


def tail(path, lines=60):
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------- PostgreSQL

class Postgres:
    """A throwaway PostgreSQL 15 cluster on a free port.

    initdb refuses to run as root, so as root the cluster belongs to the
    postgres user and every server command goes through runuser.
    """

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="notifyd-pg-", dir=test_tmp_base())
        self.data = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "log")
        self.port = free_port()
        self.running = False
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C.UTF-8")

    def _run(self, tool, *args):
        cmd = [str(PGBIN / tool), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        # pg_ctl -l sends the server's output to the log, so the pipes
        # close when pg_ctl itself exits.
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           cwd=self.dir)
        if r.returncode != 0:
            raise RuntimeError("%s failed (%d): %s\n%s" % (
                tool, r.returncode, r.stderr.decode(errors="replace"),
                tail(self.logfile)))

    def start(self):
        opts = ("-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c max_connections=300"
                % (self.dir, self.port))
        self._run("pg_ctl", "-D", self.data, "-l", self.logfile, "-w",
                  "-o", opts, "start")
        self.running = True

    def stop(self):
        """Fast shutdown: clients are disconnected, as in an outage."""
        if self.running:
            self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
            self.running = False

    def crash(self):
        """Immediate shutdown: like a crash, commits not yet in the WAL on
        disk are lost (this server runs with synchronous_commit=off)."""
        if self.running:
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w",
                      "stop")
            self.running = False

    def destroy(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def conninfo(self, dbname="postgres"):
        return "host=127.0.0.1 port=%d user=postgres dbname=%s" % (
            self.port, dbname)

    def query(self, dbname, sql, params=None):
        """Runs sql in its own autocommit connection; returns the rows."""
        conn = psycopg2.connect(self.conninfo(dbname), connect_timeout=5)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def create_db(self, name):
        self.query("postgres", 'CREATE DATABASE "%s"' % name)
        return self.conninfo(name)


class Database:
    """One test's database: name, conninfo and a query shortcut."""

    def __init__(self, pg, name):
        self.pg = pg
        self.name = name
        self.conninfo = pg.create_db(name)

    def query(self, sql, params=None):
        return self.pg.query(self.name, sql, params)

    def scalar(self, sql, params=None):
        rows = self.query(sql, params)
        return rows[0][0] if rows else None


# ---------------------------------------------------------------- Kafka

class KafkaMock:
    """t/helpers/kmock: a librdkafka mock cluster in its own process.

    Its stdin is a pipe we hold, so it exits with us even if we are
    killed before teardown runs.
    """

    def __init__(self, workdir, topics=(), brokers=1):
        self.brokers = brokers
        self.logfile = os.path.join(workdir, "kmock-%d.log" % id(self))
        cmd = [kmock_path(), "-b", str(brokers)]
        for name, partitions in topics:
            cmd += ["-t", "%s:%d" % (name, partitions)]
        with open(self.logfile, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=log)
        line = read_line(self.proc)
        assert line.startswith("BOOTSTRAP "), line
        self.bootstrap = line.split(" ", 1)[1]

    def down(self):
        """All brokers refuse connections until up()."""
        self.proc.send_signal(signal.SIGUSR1)

    def up(self):
        self.proc.send_signal(signal.SIGUSR2)

    def stop(self):
        return stop_process(self.proc)

    def produce(self, topic, values, key=None, partition=None, headers=None):
        """Produces values (str or bytes) with kcat, waiting for the acks."""
        msgs = [v.encode() if isinstance(v, str) else v for v in values]
        cmd = ["kcat", "-b", self.bootstrap, "-P", "-t", topic, "-D", r"\x1e"]
        if partition is not None:
            cmd += ["-p", str(partition)]
        for name, value in (headers or {}).items():
            cmd += ["-H", "%s=%s" % (name, value)]
        if key is not None:
            cmd += ["-K", r"\x1f"]
            msgs = [key.encode() + b"\x1f" + m for m in msgs]
        subprocess.run(cmd, input=b"\x1e".join(msgs), check=True, timeout=30,
                       capture_output=True)

    def consume(self, topic, timeout=15):
        """Every message now in topic, as kcat -J dicts (key, payload, ...)."""
        cmd = ["kcat", "-b", self.bootstrap, "-C", "-t", topic, "-o",
               "beginning", "-e", "-J", "-q"]
        r = subprocess.run(cmd, check=True, timeout=timeout,
                           capture_output=True)
        return [json.loads(l) for l in r.stdout.decode().splitlines() if l]


# ---------------------------------------------------------------- SMTP

class SmtpServer:
    """t/helpers/smtpd.py with a maildir, a mode file and a stats file."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "smtp")
        self.maildir = os.path.join(self.dir, "mail")
        self.control = os.path.join(self.dir, "control")
        self.statsfile = os.path.join(self.dir, "stats.json")
        self.logfile = os.path.join(self.dir, "smtpd.log")
        os.makedirs(self.maildir, exist_ok=True)
        self.port = 0
        self.proc = None
        self.start()

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def start(self):
        """Starts (or restarts, on the same port) the server."""
        cmd = [PYTHON, str(REPO / "t/helpers/smtpd.py"), "--host", "127.0.0.1",
               "--port", str(self.port), "--maildir", self.maildir,
               "--control", self.control, "--stats", self.statsfile]
        with open(self.logfile, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=log)
        line = read_line(self.proc)
        assert line.startswith("READY "), line
        self.port = int(line.split()[1])

    def stop(self):
        return stop_process(self.proc)

    def set_mode(self, mode):
        """accept, 451, 550, hang or drop, for every later RCPT."""
        tmp = self.control + ".tmp"
        Path(tmp).write_text(mode + "\n")
        os.rename(tmp, self.control)

    def stats(self):
        try:
            return json.loads(Path(self.statsfile).read_text())
        except FileNotFoundError:
            return {"connections": 0, "messages": 0, "rcpt_rejects": 0}

    def messages(self):
        """Accepted mail in arrival order: dicts with msg (an EmailMessage),
        raw (bytes exactly as sent), mail_from, rcpt_tos and name."""
        out = []
        for eml in sorted(Path(self.maildir).glob("*.eml")):
            raw = eml.read_bytes()
            env = json.loads(eml.with_suffix(".json").read_text())
            out.append({"name": eml.stem, "raw": raw,
                        "msg": email.message_from_bytes(
                            raw, policy=email.policy.default),
                        "mail_from": env["mail_from"],
                        "rcpt_tos": env["rcpt_tos"]})
        return out

    def wait_messages(self, count, timeout=30):
        """Waits until at least count messages arrived; returns them all."""
        return wait_until(lambda: len(self.messages()) >= count and
                          self.messages(), timeout,
                          msg="%d messages" % count)


# ---------------------------------------------------------------- config

def libconfig(conf, indent=""):
    """Renders a dict as libconfig settings (one per line)."""
    lines = []
    for key, value in conf.items():
        if isinstance(value, dict):
            lines.append("%s%s = {" % (indent, key))
            lines.append(libconfig(value, indent + "  "))
            lines.append("%s};" % indent)
        else:
            lines.append("%s%s = %s;" % (indent, key, libconfig_value(value)))
    return "\n".join(l for l in lines if l)


def libconfig_value(v):
    if isinstance(v, bool):         # before int: bool is an int
        return "true" if v else "false"
    if isinstance(v, int):
        # libconfig ints are 32-bit unless marked L.
        return str(v) if -2**31 <= v < 2**31 else "%dL" % v
    if isinstance(v, float):
        r = repr(v)
        return r if any(c in r for c in ".e") else r + ".0"
    if isinstance(v, str):
        return libconfig_string(v)
    if isinstance(v, (list, tuple)):
        if any(isinstance(x, dict) for x in v):
            inner = ", ".join("{ %s }" % libconfig(x).replace("\n", " ")
                              for x in v)
            return "( %s )" % inner
        return "[ %s ]" % ", ".join(libconfig_value(x) for x in v)
    raise TypeError("cannot render %r in libconfig" % (v,))


def libconfig_string(s):
    out = ['"']
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 0x20 or ord(c) == 0x7f:
            out.append("\\x%02x" % ord(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def merge(base, override):
    """A deep copy of base with override's keys laid over it, recursively."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def base_conf(pg_conninfo, kafka_bootstrap, smtp_url, port):
    """Test settings: every role off, short timeouts; tests enable roles."""
    return {
        "shutdown_timeout": 10,
        "log": {"level": "debug"},
        "database": {"conninfo": pg_conninfo, "migrate_on_start": True,
                     "migrations_dir": str(REPO / "sql")},
        "kafka": {"brokers": kafka_bootstrap,
                  # The mock needs >= 3 s sessions; see TESTING.md.
                  "properties": ["session.timeout.ms=6000",
                                 "heartbeat.interval.ms=500",
                                 "topic.metadata.refresh.interval.ms=1000"]},
        "http": {"listen": "127.0.0.1", "port": port, "processes": 1,
                 "threads": 32},    # request threads: concurrent requests
        "email": {"enabled": False, "workers": 1,
                  "smtp": {"url": smtp_url, "connect_timeout": 2,
                           "timeout": 5},
                  "retry": {"initial": 0.1, "max_delay": 1}},
        "audit": {"enabled": False},
        "sweeper": {"enabled": False},
    }


# ---------------------------------------------------------------- notifyd

class Notifyd:
    """One notifyd master, in its own process group, logging to a file.

    It gets a private abstract NOTIFY_SOCKET so tests can wait for the
    sd_notify READY=1 (and RELOADING=1, STOPPING=1) it sends.
    """

    count = 0       # instances so far: unique file and socket names

    def __init__(self, workdir, conf, env=None, args=()):
        Notifyd.count += 1
        base = os.path.join(workdir, "notifyd-%d" % Notifyd.count)
        self.confpath = base + ".conf"
        self.logfile = base + ".log"
        self.port = None
        self.write_conf(conf)
        self.notes = []
        self.notify_name = "notifyd-test-%d-%d" % (os.getpid(), Notifyd.count)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind("\0" + self.notify_name)
        self.notify.setblocking(False)
        try:
            self.proc = self._spawn(env, args)
        except OSError:
            self.notify.close()
            raise
        self.pid = self.proc.pid

    def _spawn(self, env, args):
        full_env = dict(os.environ, NOTIFY_SOCKET="@" + self.notify_name)
        for k, v in (env or {}).items():
            if v is None:
                full_env.pop(k, None)
            else:
                full_env[k] = v
        cmd = [notifyd_path(), "-c", self.confpath, *args]
        with open(self.logfile, "ab") as log:
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=full_env,
                                    start_new_session=True)

    def write_conf(self, conf):
        """(Re)writes the config file; signal(SIGHUP) makes it take effect."""
        if isinstance(conf, dict):
            self.port = conf.get("http", {}).get("port", self.port)
            text = libconfig(conf) + "\n"
        else:
            m = re.search(r"\bport\s*=\s*(\d+)", conf)
            self.port = int(m.group(1)) if m else self.port
            text = conf
        tmp = self.confpath + ".tmp"
        Path(tmp).write_text(text)
        os.rename(tmp, self.confpath)

    @property
    def url(self):
        return "http://127.0.0.1:%s" % self.port

    # -- lifecycle

    def notifications(self):
        """Every sd_notify line received so far, oldest first."""
        while True:
            try:
                data = self.notify.recv(4096)
            except BlockingIOError:
                return self.notes
            self.notes += data.decode(errors="replace").splitlines()

    def wait_notify(self, line, timeout=60, after=0):
        """Waits for an sd_notify line (e.g. READY=1) past index after;
        returns its index.  Fails early if notifyd exits.  60 s: READY=1
        waits for the mailer, inbox and webhook workers' first partitions
        (a consumer-group join, or a rebalance on reload), which took
        over 20 s on a loaded CI machine."""
        def seen():
            if self.proc.poll() is not None:
                raise GiveUp("notifyd exited (rc=%s):\n%s" % (
                    self.proc.returncode, tail(self.logfile)))
            notes = self.notifications()
            return next((i + 1 for i in range(after, len(notes))
                         if notes[i] == line), None)
        try:
            return wait_until(seen, timeout, msg=line) - 1
        except GiveUp:
            raise
        except AssertionError as e:
            raise AssertionError("%s\n--- log:\n%s" % (e, tail(self.logfile)))

    def wait_ready(self, timeout=60):
        return self.wait_notify("READY=1", timeout)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=15):
        """Waits for exit without signalling; returns the exit code."""
        return self.proc.wait(timeout)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=15):
        """SIGTERM and wait; returns the exit code (fails if it hangs)."""
        if self.alive():
            self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("notifyd ignored SIGTERM for %ss" % timeout)

    def kill(self):
        """SIGKILL to the whole process group (master and children)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def cleanup(self):
        self.kill()
        self.notify.close()

    def children(self):
        """Pids of the master's live children."""
        pids = []
        for task in Path("/proc/%d/task" % self.pid).glob("*/children"):
            try:
                pids += [int(p) for p in task.read_text().split()]
            except FileNotFoundError:
                pass
        return sorted(set(pids))

    def child_titles(self):
        """{pid: cmdline} of the children, to tell roles apart."""
        out = {}
        for pid in self.children():
            try:
                raw = Path("/proc/%d/cmdline" % pid).read_bytes()
            except FileNotFoundError:
                continue
            out[pid] = raw.replace(b"\0", b" ").decode(errors="replace").strip()
        return out

    # -- logs

    def log(self):
        return Path(self.logfile).read_text(errors="replace")

    def mark(self):
        """A log position for wait_log(since=...): only later lines count."""
        return len(self.log())

    def wait_log(self, regex, timeout=10, since=0):
        """Waits for regex (re.M) in the log; returns the match."""
        pat = re.compile(regex, re.M)

        def found():
            dead = not self.alive()     # checked first: no race with exit
            m = pat.search(self.log(), since)
            if not m and dead:
                raise GiveUp("notifyd exited (rc=%s) without logging /%s/"
                             % (self.proc.returncode, regex))
            return m
        return wait_until(found, timeout, msg="log /%s/" % regex)

    # -- HTTP

    def request(self, method, path, json_body=None, body=None, headers=None,
                timeout=10):
        """Returns (status, parsed JSON or text, headers); never raises on
        an HTTP error status."""
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        req = urllib.request.Request(self.url + path, data=body,
                                     headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, decode_body(r.read()), r.headers
        except urllib.error.HTTPError as e:
            with e:
                return e.code, decode_body(e.read()), e.headers

    def get(self, path, headers=None, timeout=10):
        return self.request("GET", path, headers=headers, timeout=timeout)

    def post(self, path, json=None, body=None, headers=None, timeout=10):
        return self.request("POST", path, json_body=json, body=body,
                            headers=headers, timeout=timeout)


def decode_body(raw):
    text = raw.decode(errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
