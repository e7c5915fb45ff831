"""Credentials and secrets, and a bad configuration at start-up.

- SMTP AUTH never goes over a connection that may be clear: a username
  needs starttls = "required" or an smtps:// url (config error naming
  both keys), and a relay without STARTTLS never sees AUTH.
- Only api processes hold the HTTP listen socket.
- A password file readable by group or others is warned about.
- A bad configuration at start-up exits 78 with the reason at syslog
  priority 3 (what the systemd unit relies on).
"""
import os
import re
import socket
import subprocess
import threading
from pathlib import Path

import pytest

import nd

PATH = "/notification_service/api/notifications"


def check(conf_dict, tmp_path, env=None):
    """notifyd -t on a config; the CompletedProcess."""
    path = tmp_path / "check.conf"
    path.write_text(nd.libconfig(conf_dict))
    full = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFYD_")}
    full.update(env or {})
    return subprocess.run([nd.notifyd_path(), "-t", "-c", str(path)],
                          env=full, capture_output=True, text=True, timeout=30)


def smtp_conf(url="smtp://127.0.0.1:25", **smtp):
    return {"email": {"smtp": dict({"url": url}, **smtp)}}


# ================================================================ AUTH vs TLS

@pytest.mark.parametrize("starttls", ["opportunistic", "off"])
def test_username_without_required_tls_is_a_config_error(tmp_path, starttls):
    r = check(smtp_conf(starttls=starttls, username="notifyd"), tmp_path)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "email.smtp.username" in r.stderr, r.stderr
    assert "email.smtp.starttls" in r.stderr, r.stderr
    assert str(tmp_path / "check.conf") in r.stderr, r.stderr
    # The same through the environment.
    r = check({}, tmp_path, env={"NOTIFYD_EMAIL_SMTP_USERNAME": "notifyd",
                                 "NOTIFYD_EMAIL_SMTP_STARTTLS": starttls})
    assert r.returncode != 0 and "email.smtp.username" in r.stderr, r.stderr


@pytest.mark.parametrize("over", [
    {"starttls": "required", "username": "notifyd"},
    {"url": "smtps://127.0.0.1:465", "starttls": "opportunistic",
     "username": "notifyd"},
    {"starttls": "opportunistic"},     # no AUTH: nothing secret to send
    {"starttls": "off"},
])
def test_tls_or_no_auth_passes_the_check(tmp_path, over):
    r = check(smtp_conf(**over), tmp_path)
    assert r.returncode == 0, r.stderr


class PlainRelay:
    """A relay with no STARTTLS that offers AUTH and records every line
    a client sends (one thread per connection, enough for one client)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.lines = []
        self.connections = 0
        self.closed = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    def _serve(self, conn):
        f = conn.makefile("rwb")
        try:
            f.write(b"220 plain.test ESMTP\r\n")
            f.flush()
            data = False
            for raw in f:
                line = raw.decode(errors="replace").rstrip("\r\n")
                with self.lock:
                    self.lines.append(line)
                verb = line.split(" ")[0].upper()
                if data:
                    if line == ".":
                        data = False
                        f.write(b"250 queued\r\n")
                elif verb in ("EHLO", "HELO"):
                    f.write(b"250-plain.test\r\n250-AUTH PLAIN LOGIN\r\n"
                            b"250 8BITMIME\r\n")
                elif verb == "AUTH":
                    f.write(b"235 2.7.0 accepted\r\n")
                elif verb == "DATA":
                    data = True
                    f.write(b"354 go on\r\n")
                elif verb == "QUIT":
                    f.write(b"221 bye\r\n")
                    f.flush()
                    break
                else:
                    f.write(b"250 ok\r\n")
                f.flush()
        except OSError:
            pass
        finally:
            conn.close()
            with self.lock:
                self.closed += 1

    def auth_lines(self):
        with self.lock:
            return [l for l in self.lines if l.upper().startswith("AUTH")]

    def close(self):
        self.sock.close()


@pytest.fixture
def relay():
    r = PlainRelay()
    yield r
    r.close()


def auth_conf(conf, relay, tmp_path, starttls):
    pw = tmp_path / "smtp-password"
    pw.write_text("hunter2\n")
    pw.chmod(0o600)
    return nd.merge(conf, {"email": {
        "enabled": True, "workers": 1, "from": "notify@example.com",
        "retry": {"initial": 5, "max_delay": 5},
        "smtp": {"url": relay.url, "starttls": starttls,
                 "username": "notifyd", "password_file": str(pw)}}})


def test_opportunistic_auth_never_reaches_a_plain_relay(conf, notifyd, relay,
                                                         tmp_path):
    """The old daemon started and sent AUTH PLAIN (the password) to a
    relay that offered no STARTTLS; now it refuses the configuration."""
    d = notifyd(auth_conf(conf, relay, tmp_path, "opportunistic"),
                wait_ready=False)
    try:
        rc = d.wait(timeout=15)
    except subprocess.TimeoutExpired:
        # Still running: show what the relay got (the bug).
        try:
            d.post(PATH, json={"type": "EMAIL", "title": "t", "content": "c",
                               "userId": 1, "recipient": "a@example.com"})
            nd.wait_until(lambda: relay.auth_lines(), 10)
        except Exception:
            pass
        pytest.fail("notifyd started with AUTH over opportunistic TLS; "
                    "relay saw %r" % relay.auth_lines())
    assert rc == 78, d.log()
    assert re.search(r"^<3>notifyd .*email\.smtp\.username.*"
                     r"email\.smtp\.starttls", d.log(), re.M), d.log()
    assert relay.connections == 0 and relay.auth_lines() == []


def test_required_tls_against_a_plain_relay_sends_no_auth(conf, notifyd,
                                                          relay, tmp_path):
    d = notifyd(auth_conf(conf, relay, tmp_path, "required"))
    status, body, _ = d.post(PATH, json={
        "type": "EMAIL", "title": "t", "content": "c", "userId": 1,
        "recipient": "a@example.com"})
    assert status == 202, body
    # curl connects, reads EHLO's answer, finds no STARTTLS and gives up.
    nd.wait_until(lambda: relay.closed >= 1, 20, msg="a relay session")
    with relay.lock:
        lines = list(relay.lines)
    assert any(l.upper().startswith("EHLO") for l in lines), lines
    assert relay.auth_lines() == [], lines
    assert not any("MAIL FROM" in l.upper() for l in lines), lines


# ================================================================ listen socket

def listening_inodes(port):
    """Socket inodes listening on 127.0.0.1:port (/proc/net/tcp)."""
    out = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[3] == "0A" and int(f[1].split(":")[1], 16) == port:
            out.add(f[9])
    return out


def socket_inodes(pid):
    out = set()
    for fd in Path("/proc/%d/fd" % pid).iterdir():
        try:
            m = re.match(r"socket:\[(\d+)\]", os.readlink(fd))
        except FileNotFoundError:
            continue
        if m:
            out.add(m.group(1))
    return out


def child_comms(d):
    """{pid: comm}: children name themselves notifyd-ROLE (PR_SET_NAME)."""
    out = {}
    for pid in d.children():
        try:
            out[pid] = Path("/proc/%d/comm" % pid).read_text().strip()
        except FileNotFoundError:
            pass
    return out


def test_only_api_processes_hold_the_listen_socket(conf, notifyd, smtp):
    conf = nd.merge(conf, {
        "http": {"processes": 2},
        "email": {"enabled": True, "workers": 2, "from": "n@example.com"},
        "audit": {"enabled": True},
        "sweeper": {"enabled": True}})
    d = notifyd(conf)
    listen = listening_inodes(d.port)
    assert listen, "nothing listens on %d" % d.port
    roles = {}
    for pid, comm in child_comms(d).items():
        role = re.match(r"notifyd-(api|audit|mailer|sweeper|inbox|webhook|"
                        r"events)$", comm)
        assert role, comm
        roles.setdefault(role.group(1), []).append(pid)
    assert set(roles) == {"api", "audit", "mailer", "sweeper", "inbox"}, roles
    assert socket_inodes(d.pid) & listen, "the master keeps it for reloads"
    for pid in roles["api"]:
        assert socket_inodes(pid) & listen, "api %d lacks it" % pid
    for role in ("audit", "mailer", "sweeper", "inbox"):
        for pid in roles[role]:
            held = socket_inodes(pid) & listen
            assert not held, "%s pid %d holds the listen socket" % (role, pid)
    # After a reload the new generation follows the same rule.
    mark, notes = d.mark(), len(d.notifications())
    d.signal(1)
    d.wait_log(r"generation 2", 20, since=mark)
    # READY=1 once the new mailers and inbox worker hold partitions: a
    # rebalance of groups with the old members still in (slow under load)
    d.wait_notify("READY=1", 60, after=notes)
    seen = 0
    for pid, comm in child_comms(d).items():
        if comm != "notifyd-api":
            try:
                assert not socket_inodes(pid) & listen, comm
                seen += 1
            except FileNotFoundError:
                pass    # an old-generation child that just exited
    assert seen >= 4


# ================================================================ password file

def test_password_file_readable_by_others_is_warned(tmp_path):
    pw = tmp_path / "smtp-password"
    pw.write_text("hunter2\n")
    over = smtp_conf(starttls="required", username="notifyd",
                     password_file=str(pw))
    for mode in (0o644, 0o640, 0o604):
        pw.chmod(mode)
        r = check(over, tmp_path)
        assert r.returncode == 0, r.stderr
        assert re.search(r"^<4>notifyd .*email\.smtp\.password_file %s is "
                         r"readable by its group or others \(mode 0%o\)"
                         % (re.escape(str(pw)), mode), r.stderr, re.M), \
            (oct(mode), r.stderr)
    for mode in (0o600, 0o400):
        pw.chmod(mode)
        r = check(over, tmp_path)
        assert r.returncode == 0 and r.stderr == "", (oct(mode), r.stderr)


def test_password_file_warning_at_start_and_reload(conf, notifyd, tmp_path):
    pw = tmp_path / "smtp-password"
    pw.write_text("hunter2\n")
    pw.chmod(0o644)
    conf = nd.merge(conf, {"email": {"smtp": {
        "starttls": "required", "username": "notifyd",
        "password_file": str(pw)}}})
    d = notifyd(conf)
    d.wait_log(r"^<4>notifyd master\[\d+\]: email\.smtp\.password_file .* "
               r"readable by its group or others", 5)
    pw.chmod(0o600)
    mark = d.mark()
    d.signal(1)
    d.wait_log(r"configuration reloaded", 20, since=mark)
    assert "readable by its group" not in d.log()[mark:]


# ================================================================ bad config

def test_bad_config_at_start_exits_78_at_priority_3(conf, notifyd):
    conf = dict(conf, bogus_key=1)
    d = notifyd(conf, wait_ready=False)
    assert d.wait(timeout=15) == 78, d.log()
    assert re.search(r"^<3>notifyd .*bogus_key", d.log(), re.M), d.log()


# ================================================================ image, compose

def dockerfile_runtime():
    """The runtime stage's instructions, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (nd.REPO / "Dockerfile").read_text())
    stage = text.split("\nFROM ")[-1]
    return [l.strip() for l in stage.splitlines()
            if l.strip() and not l.strip().startswith("#")]


def test_runtime_image_keeps_no_build_leftovers():
    runtime = dockerfile_runtime()
    env = " ".join(l for l in runtime if l.startswith("ENV "))
    assert "DEBIAN_FRONTEND" not in env, env
    installs = [l for l in runtime if "apt-get install" in l]
    assert installs
    for run in installs:
        assert "apt-get clean" in run, run
        assert "rm -rf /var/lib/apt/lists/*" in run, run
    # A uid above 999 with --system made useradd warn.
    users = [l for l in runtime if "useradd" in l]
    assert users and "--system" not in users[0], users
    text = (nd.REPO / "Dockerfile").read_text()
    assert "--format docker" in text    # podman drops HEALTHCHECK without


def test_every_image_name_is_fully_qualified():
    """podman refuses short names (apache/kafka:3.7.0) to pull."""
    dockerfile = (nd.REPO / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
    images = re.findall(r"^\s+image:\s*(\S+)",
                        (nd.REPO / "docker-compose.yml").read_text(), re.M)
    assert len(froms) == 2 and len(images) == 4
    for name in froms + images:
        host = name.split("/")[0]
        assert "/" in name and ("." in host or host == "localhost"), name


def test_unit_checks_config_in_the_main_process():
    """A failing ExecStartPre= is restarted forever: RestartPreventExitStatus=
    only looks at the main process, which must do the check itself."""
    text = (nd.REPO / "contrib/systemd/notifyd.service.in").read_text()
    lines = [l.strip() for l in text.splitlines()
             if l.strip() and not l.strip().startswith("#")]
    assert not [l for l in lines if l.startswith("ExecStartPre")], lines
    assert "RestartPreventExitStatus=78" in lines
    assert "Restart=on-failure" in lines
