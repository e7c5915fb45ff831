"""Bytes from outside at the mail boundary (issue 10, points 1 and 4).

Relay replies that are not UTF-8, an outcome write that fails, a resend
after a crash, and what the API lets into headers and envelopes: long or
encoded-looking titles, control characters, IDN and non-ASCII addresses,
sender addresses, email.from itself.

Most tests use Relay below, a small SMTP server written here because
aiosmtpd only answers in ASCII or UTF-8: it answers with exactly the
bytes a test chooses.
"""
import collections
import email
import email.policy
import os
import re
import signal
import socketserver
import subprocess
import threading
import time

import pytest

import nd

PATH = "/notification_service/api/notifications"

# Recipient local parts that choose Relay's answers.
REPLIES = {
    # the 250 to DATA is not UTF-8
    "latin250": {"data": b"250 2.0.0 Ok: queued as \xff\xfe"},
    # RCPT refused twice with Latin-1 text, then accepted
    "latin451": {"rcpt": b"451 4.3.0 R\xe9essayez plus tard \xff",
                 "times": 2},
    # RCPT refused for good, Latin-1 text
    "latin550": {"rcpt": b"550 5.1.1 Bo\xeete inconnue \xfe"},
}


class Relay:
    """SMTP on 127.0.0.1, one thread per connection.

    messages: every DATA received, as dicts (mail, rcpt, data, msg);
    mails: every MAIL FROM line.  A recipient whose local part starts
    with "hangdata" gets its first DATA stored but never answered.
    """

    def __init__(self, smtputf8=False):
        self.smtputf8 = smtputf8
        self.lock = threading.Lock()
        self.messages = []
        self.mails = []
        self.rcpts = collections.Counter()
        self.release = threading.Event()
        relay = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                relay.session(self.rfile, self.wfile)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def rule(self, rcpt):
        local = rcpt.split("@")[0].lower() if rcpt else ""
        for prefix, r in REPLIES.items():
            if local.startswith(prefix):
                return r
        return {}

    def rcpt_reply(self, rcpt):
        r = self.rule(rcpt)
        with self.lock:
            self.rcpts[rcpt] += 1
            seen = self.rcpts[rcpt]
        if "rcpt" in r and seen <= r.get("times", 10**9):
            return r["rcpt"]
        return b"250 2.1.5 OK"

    def ehlo(self):
        caps = [b"relay.test", b"8BITMIME", b"PIPELINING"]
        if self.smtputf8:
            caps.append(b"SMTPUTF8")
        return b"\r\n".join(b"250-" + c for c in caps[:-1]) + \
            b"\r\n250 " + caps[-1]

    def read_data(self, rfile):
        lines = []
        while True:
            line = rfile.readline()
            if not line or line == b".\r\n":
                return b"".join(lines)
            lines.append(line[1:] if line.startswith(b"..") else line)

    def deliver(self, mail, rcpt, data):
        msg = email.message_from_bytes(data, policy=email.policy.default)
        with self.lock:
            self.messages.append({"mail": mail, "rcpt": rcpt, "data": data,
                                  "msg": msg})
            first = sum(1 for m in self.messages if m["rcpt"] == rcpt) == 1
        if rcpt.lower().startswith("hangdata") and first:
            self.release.wait(60)   # no answer: the client is killed meanwhile
            return None
        return self.rule(rcpt).get("data", b"250 2.0.0 OK queued")

    def session(self, rfile, wfile):
        mail, rcpt = None, None

        def say(b):
            wfile.write(b + b"\r\n")
            wfile.flush()
        say(b"220 relay.test ESMTP")
        while True:
            line = rfile.readline()
            if not line:
                return
            cmd = line.rstrip(b"\r\n")
            verb = cmd[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                say(self.ehlo())
            elif verb == b"MAIL":
                mail, rcpt = cmd, None
                with self.lock:
                    self.mails.append(cmd)
                say(b"250 2.1.0 OK")
            elif verb == b"RCPT":
                m = re.search(rb"<([^>]*)>", cmd)
                rcpt = m.group(1).decode("utf-8", "replace") if m else ""
                reply = self.rcpt_reply(rcpt)
                if not reply.startswith(b"250"):
                    rcpt = None
                say(reply)
            elif verb == b"DATA":
                if rcpt is None:
                    say(b"503 5.5.1 no valid recipients")
                    continue
                say(b"354 go ahead")
                reply = self.deliver(mail, rcpt, self.read_data(rfile))
                if reply is None:
                    return
                say(reply)
            elif verb == b"QUIT":
                say(b"221 2.0.0 bye")
                return
            else:               # RSET, NOOP, ...
                say(b"250 2.0.0 OK")

    def delivered(self, rcpt):
        with self.lock:
            return [m for m in self.messages if m["rcpt"] == rcpt]


@pytest.fixture
def relay():
    r = Relay()
    yield r
    r.stop()


def email_conf(conf, smtp_url=None, **over):
    c = nd.merge(conf, {
        "email": {"enabled": True, "workers": 2, "from": "notify@example.com",
                  "lease": 3,
                  "retry": {"initial": 0.3, "multiplier": 2, "max_delay": 2,
                            "max_attempts": 3, "jitter": 0}},
        "sweeper": {"enabled": True, "interval": 0.5, "pending_after": 2,
                    "max_delay": 1},
    })
    if smtp_url:
        c["email"]["smtp"]["url"] = smtp_url
    return nd.merge(c, over)


def notification(recipient="user@example.com", **over):
    body = {"type": "EMAIL", "title": "Payment Confirmation",
            "content": "<p>Your payment has been confirmed.</p>",
            "userId": 123, "recipient": recipient}
    body.update(over)
    return body


def post(d, body):
    status, resp, _ = d.post(PATH, json=body)
    assert status == 202, resp
    return resp


def get(d, nid):
    code, body, _ = d.get("%s/%d" % (PATH, nid))
    assert code == 200, body
    return body


def wait_status(d, nid, status, timeout=45):
    return nd.wait_until(lambda: get(d, nid)["status"] == status and
                         get(d, nid), timeout=timeout,
                         msg="notification %d %s" % (nid, status))


def refused(d, body, status, field):
    code, resp, _ = d.post(PATH, json=body)
    assert code == status, resp
    assert resp["field"] == field, resp
    return resp


# ------------------------------------------------------------ point 1

def test_non_utf8_replies_each_delivered_once(conf, notifyd, relay, db):
    d = notifyd(email_conf(conf, relay.url))
    a = post(d, notification("latin250-a@example.com"))
    b = post(d, notification("latin451-b@example.com"))
    c = post(d, notification("latin550-c@example.com"))
    others = [post(d, notification("ok%d@example.com" % i))["id"]
              for i in range(10)]

    sent = wait_status(d, a["id"], "SENT")
    assert sent["history"][0]["smtpText"] == \
        "250 2.0.0 Ok: queued as \\xff\\xfe"
    assert sent["messageId"] == \
        relay.delivered("latin250-a@example.com")[0]["msg"]["Message-ID"]
    retried = wait_status(d, b["id"], "SENT")
    assert [h["smtpCode"] for h in retried["history"]] == [451, 451, 250]
    assert retried["history"][0]["smtpText"] == \
        "451 4.3.0 R\\xe9essayez plus tard \\xff"
    assert retried["lastError"] == "451 4.3.0 R\\xe9essayez plus tard \\xff"
    failed = wait_status(d, c["id"], "FAILED")
    assert failed["permanent"] is True and failed["attempts"] == 1
    assert failed["lastError"] == "550 5.1.1 Bo\\xeete inconnue \\xfe"
    for nid in others:
        wait_status(d, nid, "SENT")

    # Past a lease and several sweeps: nothing is sent a second time.
    time.sleep(4)
    for rcpt in ["latin250-a@example.com", "latin451-b@example.com"] + \
            ["ok%d@example.com" % i for i in range(10)]:
        assert len(relay.delivered(rcpt)) == 1, rcpt
    assert relay.delivered("latin550-c@example.com") == []
    assert get(d, c["id"])["status"] == "FAILED"
    raw = open(d.logfile, "rb").read()
    assert b"invalid byte sequence" not in raw
    assert b"\xff" not in raw and b"\xe9" not in raw
    # The reply was cleaned to "\xe9" text; the log escapes its backslash.
    assert "R\\\\xe9essayez plus tard \\\\xff" in d.log()


def test_outcome_write_failure_never_blocks(conf, notifyd, relay, db):
    """While PostgreSQL refuses one row's outcome, the worker keeps its
    lease, the others keep flowing, and the message is never sent again."""
    d = notifyd(email_conf(conf, relay.url))
    db.query("CREATE TABLE blocked (recipient text)")
    db.query("INSERT INTO blocked VALUES ('stuck@example.com')")
    db.query("""CREATE FUNCTION refuse_sent() RETURNS trigger
                LANGUAGE plpgsql AS $$ BEGIN
                IF NEW.status = 'SENT' AND NEW.recipient IN
                   (SELECT recipient FROM blocked) THEN
                    RAISE EXCEPTION 'refused by the test';
                END IF; RETURN NEW; END $$""")
    db.query("CREATE TRIGGER refuse_sent BEFORE UPDATE ON email_notifications"
             " FOR EACH ROW EXECUTE FUNCTION refuse_sent()")
    stuck = post(d, notification("stuck@example.com"))
    others = [post(d, notification("flow%d@example.com" % i))["id"]
              for i in range(8)]
    nd.wait_until(lambda: relay.delivered("stuck@example.com"), timeout=30)
    for nid in others:
        wait_status(d, nid, "SENT")
    d.wait_log(r"recording delivery outcomes: .*refused by the test")

    owner = db.scalar("SELECT lease_owner FROM email_notifications"
                      " WHERE id = %s", (stuck["id"],))
    # Two leases long: the lease must be renewed, never left to expire.
    deadline = time.monotonic() + 7
    while time.monotonic() < deadline:
        row = db.query("SELECT status, lease_owner, lease_until > now()"
                       " FROM email_notifications WHERE id = %s",
                       (stuck["id"],))[0]
        # Claimed: PENDING with a live lease in the table (a HOT claim,
        # sql/019), PROCESSING to clients.
        assert row == ("PENDING", owner, True), row
        assert get(d, stuck["id"])["status"] == "PROCESSING"
        time.sleep(0.25)
    more = post(d, notification("later@example.com"))
    wait_status(d, more["id"], "SENT")     # still polling Kafka

    db.query("DELETE FROM blocked")
    sent = wait_status(d, stuck["id"], "SENT", timeout=20)
    assert len(relay.delivered("stuck@example.com")) == 1
    assert sent["messageId"] == \
        relay.delivered("stuck@example.com")[0]["msg"]["Message-ID"]
    # Retried with a backoff, not in a tight loop.
    assert len(re.findall("recording delivery outcomes", d.log())) < 40


def test_resend_after_crash_keeps_message_id(conf, notifyd, relay, db):
    d = notifyd(email_conf(conf, relay.url, email={
        "workers": 1, "lease": 2, "smtp": {"timeout": 60}}))
    resp = post(d, notification("hangdata@example.com"))
    nd.wait_until(lambda: relay.delivered("hangdata@example.com"), timeout=30)
    owner = nd.wait_until(lambda: db.scalar(
        "SELECT lease_owner FROM email_notifications WHERE id = %s",
        (resp["id"],)))
    pid = int(owner.split(":")[1])
    os.kill(pid, signal.SIGKILL)        # the 250 never came: no outcome
    d.wait_log(r"mailer/0 pid %d killed by signal 9" % pid)
    # the respawned mailer first waits for a rebalance: slow under load
    sent = wait_status(d, resp["id"], "SENT", timeout=90)
    first, second = relay.delivered("hangdata@example.com")[:2]
    assert first["msg"]["Message-ID"] == second["msg"]["Message-ID"]
    assert sent["messageId"] == first["msg"]["Message-ID"]


# ------------------------------------------------------------ point 4

def test_long_and_encoded_looking_titles(conf, notifyd, smtp):
    d = notifyd(email_conf(conf))
    titles = ["a" * 998,
              " ".join(["word"] * 199) + "xx",
              "\u00e9" * 499,
              "=?UTF-8?B?SGFja2Vk?=",
              "Re: =?ISO-8859-1?Q?Hacked?= and more",
              "x" + "\u20ac" * 332]
    for t in titles:
        assert len(t.encode()) <= 998
    ids = [post(d, notification("t%d@example.com" % i, title=t))["id"]
           for i, t in enumerate(titles)]
    for nid in ids:
        wait_status(d, nid, "SENT")
    got = {m["rcpt_tos"][0]: m for m in smtp.wait_messages(len(titles))}
    for i, t in enumerate(titles):
        m = got["t%d@example.com" % i]
        assert str(m["msg"]["Subject"]) == t
        head = m["raw"].split(b"\r\n\r\n", 1)[0]
        assert max(len(l) for l in head.split(b"\r\n")) <= 78


def test_control_characters_in_title_refused(conf, notifyd, smtp, db):
    d = notifyd(email_conf(conf))
    for bad in ["a\x7fb", "a\u0080b", "a\u0085b", "a\u009fb", "a\u2028b",
                "a\u2029b"]:
        resp = refused(d, notification(title=bad), 400, "title")
        assert "control" in resp["error"]
    post(d, notification(title="caf\u00e9\u00a0\u2026"))
    assert db.scalar("SELECT count(*) FROM email_notifications") == 1


def test_idn_domain_goes_out_as_a_labels(conf, notifyd, smtp):
    d = notifyd(email_conf(conf, email={
        "allowed_from": ["@b\u00fccher.example"]}))
    resp = post(d, notification("u@ex\u00e4mple.com"))
    assert resp["recipient"] == "u@ex\u00e4mple.com"
    wait_status(d, resp["id"], "SENT")
    (m,) = smtp.wait_messages(1)
    assert m["rcpt_tos"] == ["u@xn--exmple-cua.com"]
    assert m["msg"]["To"] == "u@xn--exmple-cua.com"
    assert max(m["raw"]) < 0x80         # nothing 8-bit without SMTPUTF8
    refused(d, notification("u@\u2603.com"), 422, "recipient")
    resp = post(d, notification("v@example.com",
                                **{"from": "news@b\u00fccher.example"}))
    sent = wait_status(d, resp["id"], "SENT")
    (m,) = [m for m in smtp.wait_messages(2)
            if m["rcpt_tos"] == ["v@example.com"]]
    assert m["mail_from"] == "news@xn--bcher-kva.example"
    assert m["msg"]["From"] == "news@xn--bcher-kva.example"
    assert sent["messageId"].endswith("@xn--bcher-kva.example>")
    assert max(m["raw"]) < 0x80


def test_non_ascii_local_part_refused_without_smtputf8(conf, notifyd, db):
    d = notifyd(email_conf(conf))
    resp = refused(d, notification("\u00fcser@example.com"), 422,
                   "recipient")
    assert "SMTPUTF8" in resp["error"]
    assert db.scalar("SELECT count(*) FROM email_notifications") == 0


def test_non_ascii_local_part_with_smtputf8(conf, notifyd):
    offering, silent = Relay(smtputf8=True), Relay(smtputf8=False)
    try:
        d = notifyd(email_conf(conf, offering.url,
                               email={"smtputf8": True}))
        resp = post(d, notification("\u00fcser@ex\u00e4mple.com"))
        wait_status(d, resp["id"], "SENT")
        (m,) = offering.delivered("\u00fcser@xn--exmple-cua.com")
        assert m["mail"].upper().endswith(b" SMTPUTF8")
        d.stop()
        # A relay that does not offer it gets no such mail at all.
        d = notifyd(email_conf(conf, silent.url, email={"smtputf8": True}))
        resp = post(d, notification("\u00fcser@example.com"))
        failed = wait_status(d, resp["id"], "FAILED")
        assert failed["permanent"] is True
        assert "SMTPUTF8" in failed["lastError"]
        assert silent.mails == [] and silent.messages == []
        ok = post(d, notification("plain@example.com"))
        wait_status(d, ok["id"], "SENT")
    finally:
        offering.stop()
        silent.stop()


def test_from_must_be_allowed(conf, notifyd, smtp, db):
    d = notifyd(email_conf(conf))
    resp = refused(d, notification(**{"from": "ceo@bank.example"}), 422,
                   "from")
    assert "allowed_from" in resp["error"]
    post(d, notification(**{"from": "notify@example.com"}))
    d.stop()
    d = notifyd(email_conf(conf, email={
        "allowed_from": ["ops@example.net", "@mail.example.org"]}))
    refused(d, notification(**{"from": "ceo@bank.example"}), 422, "from")
    refused(d, notification(**{"from": "x@evil.mail.example.org"}), 422,
            "from")
    ok = post(d, notification("a@example.com",
                              **{"from": "news@mail.example.org"}))
    wait_status(d, ok["id"], "SENT")
    (m,) = [m for m in smtp.wait_messages(2)
            if m["rcpt_tos"] == ["a@example.com"]]
    assert m["mail_from"] == "news@mail.example.org"
    assert db.scalar("SELECT count(*) FROM email_notifications") == 2


def run_check(tmp_path, conf, env=None):
    path = tmp_path / "check.conf"
    path.write_text(nd.libconfig(conf) + "\n")
    full = dict(os.environ)
    full.pop("NOTIFY_SOCKET", None)
    full.update(env or {})
    return subprocess.run([nd.notifyd_path(), "-t", "-c", str(path)],
                          capture_output=True, text=True, env=full,
                          timeout=30)


@pytest.mark.parametrize("value", ["not an address", "a@b@", "bad@",
                                   "x@\u2603.com", "\u00fcser@example.com",
                                   "a@b.c>\r\nBcc: x@y.z"])
def test_email_from_validated(conf, tmp_path, value):
    r = run_check(tmp_path, nd.merge(conf, {"email": {"from": value}}))
    assert r.returncode != 0
    assert "email.from" in r.stderr + r.stdout
    r = run_check(tmp_path, conf, env={"NOTIFYD_EMAIL_FROM": value})
    assert r.returncode != 0
    assert "email.from" in r.stderr + r.stdout
    r = run_check(tmp_path, nd.merge(conf, {"email": {
        "allowed_from": ["@" + value.split("@")[-1], "ok@example.com"]}}))
    if value.startswith(("x@", "bad@")):
        assert r.returncode != 0 and "email.allowed_from" in r.stderr
    r = run_check(tmp_path, nd.merge(conf, {"email": {
        "from": "n@ex\u00e4mple.com", "allowed_from": ["@example.org"]}}))
    assert r.returncode == 0, r.stderr
