"""Hostile input at notifyd's boundaries, review 9.

- A POST's string userId is at most 256 bytes (what the preferences and
  inbox routes take): a longer one is a 400 naming userId, before any
  statement; a long incompressible one used to reach the INSERT, fail
  btree's 2704-byte index row limit and come back as a 422 naming
  nothing, with an ERROR in PostgreSQL's log.
- http.public_url goes as it is into the List-Unsubscribe header of
  every mail with a category: a CR/LF (or a blank, <, >, ") in it would
  add headers of its own to every such mail, so -t, the start and a
  reload refuse it, naming the key.
- audit.exclude is compiled by the audit role at its start: a pattern
  regcomp refuses used to pass -t and a reload, then stop the audit role
  ("not respawned until a reload"); -t and the reload refuse it now and
  the running audit role keeps recording.
- email.smtp.password_file is read by each mailer at most 4 kB: a path
  naming a large file was read whole (/dev/zero: until out of memory).
- Untested until now, and correct: messages on the email topic that are
  no notification id (text, bytes that are not UTF-8, a NUL, 30 digits,
  100 kB) are logged by partition and offset and skipped; the id queued
  after them is sent once.
- Review 10: a message is an id only when it is exactly the decimal
  text of a positive int64: "<id>\\0junk", "+<id>", " <id>", "0<id>"
  used to be read by strtoll as <id> and send that row.
"""
import base64
import os
import re
import signal
import subprocess
import time

import nd

PATH = "/notification_service/api/notifications"
SECRET = b"unsubscribe-secret-for-tests-0123456789"


def email_conf(conf, **email):
    over = {"enabled": True, "workers": 0, "from": "notify@example.com"}
    over.update(email)
    return nd.merge(conf, {"email": over})


def notification(**over):
    body = {"type": "EMAIL", "title": "Hi", "content": "<p>x</p>",
            "userId": 123, "recipient": "user@example.com"}
    body.update(over)
    return body


def pg_mark(db):
    with open(db.pg.logfile, "rb") as f:
        return len(f.read())


def pg_errors(db, since):
    with open(db.pg.logfile, "rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    return [l for l in text.splitlines() if re.search(r"\bERROR:", l)]


# ---------------------------------------------------------------- userId

def test_long_user_id_is_400_naming_it(conf, notifyd, db):
    d = notifyd(email_conf(conf))
    # base64 of random bytes: jsonb cannot compress it under btree's limit
    noise = base64.b64encode(os.urandom(3000)).decode()
    mark = pg_mark(db)
    for uid in (noise, "u" * 257, "\u00fc" * 129):
        st, body, h = d.post(PATH, json=notification(userId=uid))
        assert (st, body.get("field")) == (400, "userId"), (len(uid), body)
        assert h["Content-Type"] == "application/problem+json"
        assert "256 bytes" in body["detail"], body
    assert pg_errors(db, mark) == []
    assert db.scalar("SELECT count(*) FROM email_notifications") == 0
    # At the bound, in bytes (128 two-byte characters), and integers:
    # accepted.
    for uid in ("u" * 256, "\u00fc" * 128, 9223372036854775807):
        st, body, _ = d.post(PATH, json=notification(userId=uid))
        assert st == 202 and body["userId"] == uid, body
    assert db.scalar("SELECT count(*) FROM email_notifications") == 3


def test_longest_user_id_gets_a_working_unsubscribe_link(conf, notifyd, smtp,
                                                         db, tmp_path):
    """The List-Unsubscribe token of a 256-byte userId and a 64-byte
    category still fits the route (its {token} segment)."""
    secret = tmp_path / "unsub.secret"
    secret.write_bytes(SECRET + b"\n")
    os.chmod(secret, 0o600)
    d = notifyd(nd.merge(email_conf(conf, workers=1,
                                    unsubscribe_secret_file=str(secret)),
                         {"http": {"public_url": "https://n.example"}}))
    uid, cat = "\u00fc" * 128, "c" * 64
    st, body, _ = d.post(PATH, json=notification(userId=uid, category=cat))
    assert st == 202, body
    msg = smtp.wait_messages(1)[0]["msg"]
    link = str(msg["List-Unsubscribe"])
    assert link.startswith("<https://n.example/unsubscribe/"), link
    path = link[len("<https://n.example"):-1]
    st, got, _ = d.post(path, body="List-Unsubscribe=One-Click", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert st == 200 and got == {"userId": uid, "optedOut": [cat]}, got


# ---------------------------------------------------------------- config

def check(tmp_path, conf, env=None):
    path = tmp_path / "check.conf"
    path.write_text(nd.libconfig(conf) + "\n")
    return subprocess.run([nd.notifyd_path(), "-t", "-c", str(path)],
                          capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, **(env or {})))


def unsub_conf(conf, tmp_path, url):
    secret = tmp_path / "unsub.secret"
    secret.write_bytes(SECRET + b"\n")
    os.chmod(secret, 0o600)
    return nd.merge(conf, {"http": {"public_url": url},
                           "email": {"unsubscribe_secret_file": str(secret)}})


BAD_URLS = [
    "https://n.example\r\nBcc: spy@evil.example",
    "https://n.example\nX-Injected: 1",
    "https://n.example/a b",
    "https://n.example/>, <mailto:spy@evil.example",
    "https://n.example/\"",
    "https://n.example/\x7f",
    "https://n.\u00e9xample",
    "https://",
    "https:///unsubscribe",
]


def test_public_url_that_would_break_the_header_is_refused(conf, tmp_path):
    for url in BAD_URLS:
        r = check(tmp_path, unsub_conf(conf, tmp_path, url))
        assert r.returncode == 1, (url, r.stderr)
        assert "http.public_url" in r.stderr, (url, r.stderr)
        assert r.stderr.count("\n") == 1, r.stderr
    # the environment is checked the same way
    r = check(tmp_path, unsub_conf(conf, tmp_path, "https://n.example"),
              {"NOTIFYD_HTTP_PUBLIC_URL": BAD_URLS[0]})
    assert r.returncode == 1 and "http.public_url" in r.stderr, r.stderr
    for url in ("https://n.example", "http://127.0.0.1:8080/base/",
                "https://xn--nxample-9xa.example/p?x=1&y=%20"):
        r = check(tmp_path, unsub_conf(conf, tmp_path, url))
        assert r.returncode == 0, (url, r.stderr)


def test_public_url_with_line_break_refused_at_start(conf, notifyd, tmp_path):
    d = notifyd(unsub_conf(conf, tmp_path, BAD_URLS[0]), wait_ready=False)
    assert d.wait() == 78
    assert "http.public_url" in d.log()


def audit_conf(conf, exclude=""):
    return nd.merge(conf, {"audit": {"enabled": True, "metadata_refresh": 500,
                                     "batch_linger": 20,
                                     "exclude": exclude}})


def test_bad_audit_exclude_fails_check(conf, tmp_path):
    for bad in ("(", "a[", "x{2,1}", "*\\"):
        r = check(tmp_path, audit_conf(conf, bad))
        assert r.returncode == 1, (bad, r.stderr)
        assert "audit.exclude" in r.stderr, r.stderr
    r = check(tmp_path, audit_conf(conf), {"NOTIFYD_AUDIT_EXCLUDE": "(x"})
    assert r.returncode == 1 and "audit.exclude" in r.stderr, r.stderr
    for good in ("", "^_", "^(tmp|test)\\.", "[.]dlq$"):
        assert check(tmp_path, audit_conf(conf, good)).returncode == 0, good


def test_bad_audit_exclude_reload_keeps_recording(db, smtp, kafka_factory,
                                                  notifyd):
    kafka = kafka_factory(topics=[("orders9", 1)])
    conf = audit_conf(nd.base_conf(db.conninfo, kafka.bootstrap, smtp.url,
                                   nd.free_port()))
    d = notifyd(conf)
    count = lambda: db.scalar("SELECT count(*) FROM audit_events"
                              " WHERE source_topic = 'orders9'")
    kafka.produce("orders9", [b'{"type":"a","order_id":"o1"}'], partition=0)
    nd.wait_until(lambda: count() == 1, 60, msg="first audit row")
    mark = d.mark()
    d.write_conf(audit_conf(conf, "("))
    d.signal(signal.SIGHUP)
    d.wait_log(r"reload failed, keeping the running configuration: .*"
               r"audit\.exclude", timeout=20, since=mark)
    kafka.produce("orders9", [b'{"type":"b","order_id":"o2"}'], partition=0)
    nd.wait_until(lambda: count() == 2, 30, msg="second audit row")
    assert "not respawned" not in d.log()[mark:]


# ---------------------------------------------------------------- email topic

GARBAGE = [b"abc", b"\xff\xfe\x00\x01", b"-5", b"0", b"1" * 30,
           b"12abc", b"x" * 100000, b"3.5", b"{\"id\": 1}"]


def named(nid):
    """Payloads that strtoll read as nid: a NUL and junk after it, a sign,
    a blank before, a leading zero.  Only the exact decimal text is an id
    now."""
    n = b"%d" % nid
    return [n + b"\x00junk", n + b"\x00", b"+" + n, b" " + n, b"\t" + n,
            b"0" + n]


def test_email_topic_garbage_is_skipped_and_named(db, smtp, kafka_factory,
                                                  notifyd):
    """Messages on the email topic that are no notification id are logged
    with their partition and offset and skipped: the partition moves on,
    and the id queued after them is sent, once.  A PENDING row that only
    garbage names (its id, then a NUL; a sign; a blank) is not sent: it
    used to be, the payload read by strtoll."""
    kafka = kafka_factory(topics=[("notifications.email", 1)])
    conf = email_conf(nd.base_conf(db.conninfo, kafka.bootstrap, smtp.url,
                                   nd.free_port()), workers=1)
    d = notifyd(conf)
    # a row on no message of the topic: stored SCHEDULED, then made PENDING
    st, held, _ = d.post(PATH, json=notification(
        sendAt=int(time.time()) + 3600))
    assert st == 202, held
    db.query("UPDATE email_notifications SET status = 'PENDING',"
             " send_at = NULL WHERE id = %s", (held["id"],))
    garbage = GARBAGE + named(held["id"])
    kafka.produce("notifications.email", garbage, partition=0)
    st, body, _ = d.post(PATH, json=notification())
    assert st == 202, body
    nd.wait_until(lambda: db.scalar("SELECT status FROM email_notifications"
                                    " WHERE id = %s", (body["id"],)) ==
                  "SENT", 30, msg="SENT after the garbage")
    for off in range(len(garbage)):
        d.wait_log(r"notifications\.email \[0\] offset %d: not a "
                   r"notification id; skipped" % off, timeout=5)
    assert len(smtp.messages()) == 1
    assert db.scalar("SELECT status FROM email_notifications WHERE id = %s",
                     (held["id"],)) == "PENDING"
    assert "\xff" not in d.log()


# ---------------------------------------------------------------- password

def test_huge_password_file_is_refused_by_name(conf, notifyd, smtp, tmp_path):
    """email.smtp.password_file naming a 1 MB file (a log, a dump) used to
    be read whole by every mailer (a 300 MB file: 319 MB resident;
    /dev/zero until out of memory).  Now a mailer reads at most 4 kB and
    treats a larger file as it treats a missing one: a configuration
    error naming the key, the path and why, status 78, not respawned
    until a reload; the API still accepts and keeps what is posted."""
    pw = tmp_path / "smtp-password"
    pw.write_bytes(b"x" * (1 << 20))
    pw.chmod(0o600)
    d = notifyd(nd.merge(email_conf(conf, workers=1), {"email": {
        "smtp": {"starttls": "required", "username": "notifyd",
                 "password_file": str(pw)}}}), wait_ready=False)
    d.wait_log(r"^<3>notifyd mailer/0\[\d+\]: email\.smtp\.password_file "
               r"%s: cannot read: File too large$" % re.escape(str(pw)), 20)
    d.wait_log(r"mailer/0 exited with status 78 \(configuration error\)", 20)
    d.wait_log(r"api/0\[\d+\]: ready", 30)
    st, body, _ = d.post(PATH, json=notification())
    assert st == 202, body
    st, got, _ = d.get("%s/%s" % (PATH, body["id"]))
    assert st == 200 and got["status"] in ("PENDING", "PROCESSING"), got
    assert smtp.messages() == [], "nothing reached the relay"
