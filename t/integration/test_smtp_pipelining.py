"""The mailer's own SMTP transaction (issue 14 §2): PIPELINING, and the
relay's replies as hostile bytes.

libcurl opens the connection (greeting, EHLO, STARTTLS, AUTH); MAIL,
RCPT, DATA and the message are written by notifyd, grouped when the
relay offers PIPELINING (RFC 2920).  Relay below is a raw socket server
that records how the commands arrived and answers with exactly the bytes
a test chooses: garbage, endless lines, replies nobody asked for, mixed
codes, a close while idle, silence.
"""
import re
import socket
import threading
import time

import pytest

import nd
from test_email import PATH, wait_status

# What the relay does for a recipient whose local part starts with the key,
# the first time only (then it behaves).
ONCE = ("garbage", "long", "extra", "mixed", "closemail", "hang", "bye421")


class Relay:
    """SMTP on 127.0.0.1, a thread per connection, raw bytes."""

    def __init__(self, pipelining=True):
        self.pipelining = pipelining
        self.lock = threading.Lock()
        self.grouped = []       # per MAIL: RCPT and DATA came before its reply
        self.messages = []      # (rcpt, raw data as sent, dot-stuffed)
        self.verbs = []
        self.mails = []
        self.after_dot = []     # per message: the next MAIL came with its dot
        self.gate = None        # an Event the first MAIL waits for
        self.dot_delay = 0      # seconds before the 250 to each dot
        self.drop_ahead = False  # see drop_next_dot
        self.dropped = None
        self.connections = 0
        self.done = set()       # behaviours already spent, by recipient
        self.stopping = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def stop(self):
        self.stopping.set()
        self.sock.close()

    def accept(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self.session, args=(c,),
                             daemon=True).start()

    def behaviour(self, rcpt):
        local = rcpt.split("@")[0].lower()
        with self.lock:
            for b in ONCE:
                if local.startswith(b) and rcpt not in self.done:
                    self.done.add(rcpt)
                    return b
        return None

    def delivered(self, rcpt):
        with self.lock:
            return [m for r, m in self.messages if r == rcpt]

    def session(self, c):
        buf = bytearray()
        c.settimeout(None)

        def fill(timeout=None):
            c.settimeout(timeout)
            try:
                b = c.recv(65536)
            except socket.timeout:
                return True
            except OSError:
                return False
            if b:
                buf.extend(b)
            return bool(b)

        def line():
            while b"\n" not in buf:
                if not fill():
                    return None
            i = buf.index(b"\n") + 1
            out = bytes(buf[:i])
            del buf[:i]
            return out

        def say(b):
            c.sendall(b)

        try:
            self.run(c, line, say, fill, buf)
        except OSError:
            pass
        finally:
            c.close()

    def run(self, c, line, say, fill, buf):
        say(b"220 relay.test ESMTP\r\n")
        transactions = 0
        while True:
            ln = line()
            if ln is None:
                return
            verb = ln[:4].upper()
            self.verbs.append(verb)
            if verb in (b"EHLO", b"HELO"):
                caps = [b"relay.test", b"SIZE 1000000", b"8BITMIME"]
                if self.pipelining:
                    caps.append(b"PIPELINING")
                say(b"".join(b"250-" + x + b"\r\n" for x in caps[:-1]) +
                    b"250 " + caps[-1] + b"\r\n")
            elif verb == b"MAIL":
                if not self.mail(c, ln, say, fill, buf, line, transactions):
                    return
                transactions += 1
            elif verb == b"QUIT":
                say(b"221 bye\r\n")
                return
            else:               # RSET, NOOP
                say(b"250 2.0.0 OK\r\n")

    def mail(self, c, ln, say, fill, buf, line, transactions):
        # Under PIPELINING the client sends RCPT and DATA without waiting.
        deadline = time.monotonic() + (1.0 if self.pipelining else 0.3)
        while buf.count(b"\n") < 2 and time.monotonic() < deadline:
            if not fill(0.05) and not buf:
                break
        grouped = buf.count(b"\n") >= 2
        if self.gate is not None:
            self.gate.wait(30)
            self.gate = None
        with self.lock:
            self.grouped.append(grouped)
            self.mails.append(bytes(ln))
        m = re.search(rb"RCPT TO:<([^>]*)>", bytes(buf))
        b = self.behaviour(m.group(1).decode()) if m else None
        if b == "closemail" and transactions > 0:
            return False        # as if closed while idle, no reply
        if b == "closemail":
            with self.lock:
                self.done.discard(m.group(1).decode())
        answers = {
            "garbage": b"hello there\r\n",
            "long": b"250 " + b"x" * 5000,
            "mixed": b"250-2.1.0 first\r\n550 5.1.0 second\r\n",
        }
        if b in answers:
            say(answers[b])
            return not self.drain(c)
        if b == "bye421":       # answers MAIL with 421 and closes
            say(b"421 4.3.2 shutting down\r\n")
            return False
        if b == "hang":
            say(b"250 2.1.0 OK\r\n")
            return not self.drain(c)
        if b == "extra":        # one reply more than asked, then all in turn
            say(b"250 nobody asked\r\n")
        say(b"250 2.1.0 OK\r\n")
        rl = line()
        if rl is None:
            return False
        rcpt = re.search(rb"<([^>]*)>", rl).group(1).decode()
        refuse = rcpt.lower().startswith("permfail")
        say(b"550 5.1.1 no such user\r\n" if refuse else b"250 2.1.5 OK\r\n")
        dl = line()
        if dl is None or dl[:4].upper() != b"DATA":
            return False
        if refuse:
            say(b"503 5.5.1 no valid recipients\r\n")
            return True
        say(b"354 go ahead\r\n")
        data = bytearray()
        while True:
            x = line()
            if x is None:
                return False
            if x == b".\r\n":
                with self.lock:
                    self.after_dot.append(bytes(buf).startswith(b"MAIL "))
                if self.drop_next_dot(rcpt, data, buf, line, say):
                    return False
                break
            data.extend(x)
        with self.lock:
            self.messages.append((rcpt, bytes(data)))
        if self.dot_delay:
            time.sleep(self.dot_delay)
        say(b"250 2.0.0 OK queued\r\n")
        if rcpt.lower().startswith("idle421"):
            time.sleep(0.2)
            say(b"421 4.4.2 idle too long\r\n")
            return False
        return True

    def drop_next_dot(self, rcpt, data, buf, line, say):
        """With drop_ahead, the first message whose envelope came with a
        dot: all four replies in one write, then its message is taken
        and the connection closed before the 250 (the relay may have
        queued it: the client must not send it again at once)."""
        m = re.search(rb"^MAIL [^\n]*\nRCPT TO:<([^>]*)>[^\n]*\n"
                      rb"DATA\r\n", bytes(buf))
        if not m or not self.drop_ahead:
            return False
        with self.lock:
            self.drop_ahead = False
            self.dropped = m.group(1).decode()
            self.messages.append((rcpt, bytes(data)))
        del buf[:m.end()]
        say(b"250 2.0.0 OK queued\r\n250 2.1.0 OK\r\n250 2.1.5 OK\r\n"
            b"354 go ahead\r\n")
        body = bytearray()
        while True:
            x = line()
            if x is None or x == b".\r\n":
                break
            body.extend(x)
        with self.lock:
            self.messages.append((m.group(1).decode(), bytes(body)))
        return True

    def drain(self, c):
        """Reads what the client sends until it closes; True when closed."""
        c.settimeout(None)
        try:
            while c.recv(65536):
                if self.stopping.is_set():
                    return True
        except OSError:
            pass
        return True


@pytest.fixture
def relay():
    r = Relay()
    yield r
    r.stop()


def email_conf(conf, url, **smtp):
    c = nd.merge(conf, {
        "email": {"enabled": True, "workers": 1, "from": "notify@example.com",
                  "lease": 5,
                  "retry": {"initial": 0.3, "multiplier": 1, "max_delay": 1,
                            "max_attempts": 3, "jitter": 0}},
        "sweeper": {"enabled": True, "interval": 0.5, "pending_after": 2,
                    "max_delay": 1},
    })
    c["email"]["smtp"]["url"] = url
    c["email"]["smtp"].update(smtp)
    return c


def post(d, rcpt, content="<p>Your payment has been confirmed.</p>"):
    status, resp, _ = d.post(PATH, json={
        "type": "EMAIL", "title": "Payment Confirmation", "content": content,
        "userId": 123, "recipient": rcpt})
    assert status == 202, resp
    return resp["id"]


def get(d, nid):
    code, body, _ = d.get("%s/%d" % (PATH, nid))
    assert code == 200, body
    return body


def test_commands_grouped_under_pipelining(conf, notifyd, relay):
    d = notifyd(email_conf(conf, relay.url, timeout=20))
    # The first message's MAIL is held until the others are queued, so
    # the mailer then has a batch in hand: each message's dot goes out
    # with the next one's MAIL, RCPT and DATA.
    relay.gate = threading.Event()
    ids = [post(d, "ok%d@example.com" % i) for i in range(10)]
    time.sleep(1.5)     # all of them in the mailer's consumer by then
    relay.gate.set()
    for nid in ids:
        sent = wait_status(d, nid, "SENT")
        assert sent["attempts"] == 1
        assert sent["history"][0]["smtpText"] == "250 2.0.0 OK queued"
    assert relay.grouped == [True] * 10
    assert relay.connections == 1       # one worker, one kept connection
    for i in range(10):
        (raw,) = relay.delivered("ok%d@example.com" % i)
        assert b"\r\nSubject: Payment Confirmation\r\n" in raw
    # every message but the last of each batch the mailer read (two or
    # three batches: the one held at the gate, what it read meanwhile,
    # the rest)
    assert relay.after_dot.count(True) >= 6, relay.after_dot
    # A MAIL written with its own group declares the size (the relay
    # offers SIZE); one written after the last dot cannot know it yet.
    assert len(relay.mails) == 10
    assert all(re.match(rb"MAIL FROM:<notify@example.com>( SIZE=\d+)?\r\n$",
                        m) for m in relay.mails), relay.mails
    assert re.match(rb".* SIZE=\d+\r\n$", relay.mails[0])


def test_without_pipelining_each_command_waits(conf, notifyd):
    r = Relay(pipelining=False)
    try:
        d = notifyd(email_conf(conf, r.url))
        for nid in [post(d, "ok%d@example.com" % i) for i in range(3)]:
            wait_status(d, nid, "SENT")
        assert r.grouped == [False] * 3
    finally:
        r.stop()


def test_pipelining_off_by_configuration(conf, notifyd, relay):
    d = notifyd(email_conf(conf, relay.url, pipelining=False))
    for nid in [post(d, "ok%d@example.com" % i) for i in range(3)]:
        wait_status(d, nid, "SENT")
    assert relay.grouped == [False] * 3


def test_refused_recipient_resets_and_keeps_connection(conf, notifyd, relay):
    d = notifyd(email_conf(conf, relay.url))
    bad = post(d, "permfail@example.com")
    failed = wait_status(d, bad, "FAILED")
    assert failed["permanent"] is True and failed["attempts"] == 1
    assert failed["lastError"] == "550 5.1.1 no such user"
    good = [post(d, "ok%d@example.com" % i) for i in range(3)]
    for nid in good:
        assert wait_status(d, nid, "SENT")["attempts"] == 1
    assert b"RSET" in relay.verbs
    assert relay.connections == 1
    assert relay.delivered("permfail@example.com") == []


@pytest.mark.parametrize("local,why", [
    ("garbage", "relay: malformed reply line"),
    ("long", "relay: reply line too long"),
    ("extra", "relay broke the protocol: 250 2.1.5 OK"),
    ("mixed", "relay: reply lines disagree on their code"),
    ("bye421", "421 4.3.2 shutting down"),
])
def test_hostile_reply_retried_and_delivered_once(conf, notifyd, relay,
                                                   local, why):
    d = notifyd(email_conf(conf, relay.url, timeout=5))
    nid = post(d, local + "@example.com")
    sent = wait_status(d, nid, "SENT")
    assert [h["smtpCode"] for h in sent["history"]][-1] == 250
    first = sent["history"][0]
    assert first["smtpText"] == why, sent["history"]
    assert len(relay.delivered(local + "@example.com")) == 1
    # the broken connection was dropped, not reused
    assert relay.connections == 2
    assert "invalid byte sequence" not in d.log()


def test_relay_closing_idle_connection_costs_no_attempt(conf, notifyd, relay):
    d = notifyd(email_conf(conf, relay.url))
    # After its 250 the relay says 421 and closes: found before the next.
    a = post(d, "idle421@example.com")
    assert wait_status(d, a, "SENT")["attempts"] == 1
    time.sleep(0.8)
    b = post(d, "ok1@example.com")
    assert wait_status(d, b, "SENT")["attempts"] == 1
    # Closed without a word as MAIL arrives: sent again over a new one.
    c = post(d, "closemail@example.com")
    sent = wait_status(d, c, "SENT")
    assert sent["attempts"] == 1, sent["history"]
    assert len(relay.delivered("closemail@example.com")) == 1
    assert relay.connections == 3


def test_silent_relay_times_out(conf, notifyd, relay):
    d = notifyd(email_conf(conf, relay.url, timeout=1))
    t0 = time.monotonic()
    nid = post(d, "hang@example.com")
    sent = wait_status(d, nid, "SENT")
    assert sent["history"][0]["smtpText"] == \
        "relay: timed out waiting for the relay"
    assert sent["history"][0]["smtpCode"] in (0, None)
    assert time.monotonic() - t0 < 15
    assert len(relay.delivered("hang@example.com")) == 1


@pytest.mark.parametrize("odd,why,conns", [
    ("permfail", None, 1),
    ("garbage", "relay: malformed reply line", 2),
])
def test_refusal_or_garbage_amid_a_pipelined_batch(conf, notifyd, relay,
                                                    odd, why, conns):
    """The odd one's envelope goes out after the previous dot: its
    refusal resets the session, its garbage drops the connection, and
    every other message is delivered exactly once."""
    d = notifyd(email_conf(conf, relay.url, timeout=20))
    relay.gate = threading.Event()
    rcpts = ["ok0@example.com", "ok1@example.com", odd + "@example.com",
             "ok2@example.com", "ok3@example.com"]
    ids = [post(d, r) for r in rcpts]
    time.sleep(1.5)
    relay.gate.set()
    for r, nid in zip(rcpts, ids):
        if r.startswith("permfail"):
            h = wait_status(d, nid, "FAILED")
            assert h["lastError"] == "550 5.1.1 no such user"
            assert relay.delivered(r) == []
            continue
        h = wait_status(d, nid, "SENT")
        assert len(relay.delivered(r)) == 1, r
        if r.startswith("garbage"):
            assert h["history"][0]["smtpText"] == why
        else:
            assert h["attempts"] == 1, (r, h["history"])
    assert relay.connections == conns


# ------------------------------------------------- STARTTLS and AUTH, for real

class TlsAuthHandler:
    """aiosmtpd handler: offers PIPELINING, records each message with
    whether its session was under TLS and who logged in."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages = []
        self.logins = []

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        return responses[:-1] + ["250-PIPELINING", responses[-1]]

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append({
                "rcpt": list(envelope.rcpt_tos),
                "tls": session.ssl is not None,
                "login": session.authenticated and session.auth_data,
                "content": envelope.original_content})
        return "250 2.0.0 OK queued"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult
        ok = (auth_data.login, auth_data.password) == (b"notifyd",
                                                       b"s3cret pw")
        with self.lock:
            self.logins.append((mechanism, auth_data.login, ok,
                                session.ssl is not None))
        return AuthResult(success=ok, auth_data=auth_data.login)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_starttls_and_auth_then_pipelined_transaction(conf, notifyd,
                                                      tmp_path):
    """libcurl's part of the session (STARTTLS, EHLO again, AUTH) and
    notifyd's pipelined transaction over the TLS connection."""
    import ssl
    import subprocess
    from aiosmtpd.controller import Controller

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(str(cert), str(key))
    h = TlsAuthHandler()
    port = free_port()
    srv = Controller(h, hostname="127.0.0.1", port=port, tls_context=tls,
                     require_starttls=True, authenticator=h.authenticate,
                     auth_require_tls=True)
    srv.start()
    try:
        pw = tmp_path / "pw"
        pw.write_text("s3cret pw\n")
        pw.chmod(0o600)
        d = notifyd(email_conf(conf, "smtp://localhost:%d" % port,
                               starttls="required", ca_file=str(cert),
                               username="notifyd", password_file=str(pw),
                               timeout=10))
        ids = [post(d, "ok%d@example.com" % i) for i in range(6)]
        for nid in ids:
            assert wait_status(d, nid, "SENT")["attempts"] == 1
        with h.lock:
            msgs, logins = list(h.messages), list(h.logins)
        assert sorted(m["rcpt"][0] for m in msgs) == \
            ["ok%d@example.com" % i for i in range(6)]
        assert all(m["tls"] and m["login"] == b"notifyd" for m in msgs), msgs
        assert all(b"Subject: Payment Confirmation" in m["content"]
                   for m in msgs)
        # one worker, one connection: one login, over TLS
        assert [(l[1], l[2], l[3]) for l in logins] == \
            [(b"notifyd", True, True)]
    finally:
        srv.stop()


def test_lease_renewal_amid_a_batch_sends_each_once(conf, notifyd, relay):
    """A batch going out slowly renews its leases (every lease / 2); the
    renewal collects the next claim, whose rows can grow the job array
    (realloc).  A job kept by pointer across it was sent into freed
    memory and stayed waiting: sent twice (ASan: heap-use-after-free)."""
    relay.dot_delay = 0.015
    c = email_conf(conf, relay.url, timeout=20)
    c["email"]["lease"] = 1
    d = notifyd(c)
    rcpts = ["n%d@example.com" % i for i in range(200)]
    ids = [post(d, r) for r in rcpts]
    for nid in ids:
        wait_status(d, nid, "SENT", timeout=120)
    twice = [r for r in rcpts if len(relay.delivered(r)) != 1]
    assert twice == [], twice
    assert "AddressSanitizer" not in d.log()


def test_connection_lost_after_the_dot_is_not_resent_at_once(conf, notifyd,
                                                             relay):
    """An envelope went with the previous dot and its replies came with
    that dot's 250; the message's own dot then gets no reply.  The relay
    may have queued it: the attempt is recorded as temporary and retried
    with the backoff, never sent again at once as if nothing was taken."""
    d = notifyd(email_conf(conf, relay.url, timeout=20))
    relay.gate = threading.Event()
    relay.drop_ahead = True
    rcpts = ["ok%d@example.com" % i for i in range(5)]
    ids = dict((r, post(d, r)) for r in rcpts)
    time.sleep(1.5)
    relay.gate.set()
    for nid in ids.values():
        wait_status(d, nid, "SENT")
    assert relay.dropped in ids, relay.dropped
    h = get(d, ids[relay.dropped])
    assert h["attempts"] == 2, h["history"]
    assert h["history"][0]["smtpText"] == \
        "relay: connection closed by the relay"
    # at least once: the relay took it on the lost connection, then again
    assert len(relay.delivered(relay.dropped)) == 2
    for r in rcpts:
        if r != relay.dropped:
            assert len(relay.delivered(r)) == 1, r
