"""Suppression list, preferences and one-click unsubscribe (issue 16).

Real PostgreSQL, librdkafka's mock broker, notifyd's mailer and an
in-process aiosmtpd relay whose RCPT answers depend on the local part:
gone* -> 550 5.1.1, policy* -> 550 5.7.1, busy* -> 450 4.2.1, else 250.
The browser test drives headless Chromium over the DevTools protocol.
"""
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest
from aiosmtpd.controller import Controller

import nd

PATH = "/notification_service/api/notifications"
SUPP = "/notification_service/api/suppressions"
SECRET = b"unsubscribe-secret-for-tests-0123456789"
PUBLIC = "https://notify.example"
ADMIN = {"Authorization": "Bearer adm"}
SEND = {"Authorization": "Bearer snd"}
READ = {"Authorization": "Bearer rd"}
PREFS = {"Authorization": "Bearer prf"}


class Relay:
    """Answers RCPT by the local part's prefix; keeps what it accepts."""

    def __init__(self):
        self.lock = threading.Lock()
        self.mail = []          # (rcpt, bytes) accepted
        self.rcpts = []         # every RCPT seen

    async def handle_MAIL(self, server, session, envelope, address, opts):
        if address.startswith("banned"):
            return "550 Sender rejected"        # bare: no enhanced code
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, opts):
        with self.lock:
            self.rcpts.append(address)
        local = address.split("@")[0]
        for prefix, answer in (("gone", "550 5.1.1 No such user"),
                               ("nouser", "550 No such user here"),
                               ("policy", "550 5.7.1 Rejected by policy"),
                               ("busy", "450 4.2.1 Mailbox busy")):
            if local.startswith(prefix):
                return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            for r in envelope.rcpt_tos:
                self.mail.append((r, envelope.original_content))
        return "250 Message accepted"

    def seen(self, rcpt):
        with self.lock:
            return [m for r, m in self.mail if r == rcpt]

    def wait_mail(self, rcpt, timeout=30):
        return nd.wait_until(lambda: self.seen(rcpt), timeout,
                             msg="mail to %s" % rcpt)[0]


@pytest.fixture
def relay():
    r = Relay()
    port = nd.free_port()
    c = Controller(r, hostname="127.0.0.1", port=port)
    c.start()
    r.url = "smtp://127.0.0.1:%d" % port
    yield r
    c.stop()


def secret_file(tmp_path, data=SECRET, mode=0o600):
    p = tmp_path / "unsub.secret"
    p.write_bytes(data + b"\n")
    os.chmod(p, mode)
    return str(p)


@pytest.fixture
def sconf(conf, relay, tmp_path):
    return nd.merge(conf, {
        "http": {"public_url": PUBLIC,
                 "tokens": ["adm:admin", "snd:send", "rd:read",
                            "prf:preferences"]},
        "email": {"enabled": True, "workers": 1, "from": "notify@example.com",
                  "unsubscribe_secret_file": secret_file(tmp_path),
                  "smtp": {"url": relay.url},
                  "retry": {"initial": 0.1, "multiplier": 1, "max_delay": 0.2,
                            "max_attempts": 2, "jitter": 0}},
    })


def body(recipient, **over):
    b = {"type": "EMAIL", "title": "Hello", "content": "<p>Hi</p>",
         "userId": "u-1", "recipient": recipient}
    b.update(over)
    return b


def post(d, recipient, **over):
    status, resp, _ = d.post(PATH, json=body(recipient, **over), headers=SEND)
    assert status == 202, resp
    return resp


def wait_row(db, nid, status, timeout=30):
    return nd.wait_until(
        lambda: db.scalar("SELECT status FROM email_notifications WHERE id = %s",
                          (nid,)) == status, timeout,
        msg="notification %d never %s" % (nid, status))


def token_for(uid, category, secret=SECRET):
    """The token as suppress.c builds it, computed independently."""
    mac = hmac.new(secret, uid.encode() + b"\0" + category.encode(),
                   hashlib.sha256).digest()
    b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
    return "%s.%s.%s" % (b64(uid.encode()), b64(mac), category)


def header(raw, name):
    import email
    import email.policy
    return email.message_from_bytes(raw, policy=email.policy.default)[name]


def test_bounce_suppresses_the_address(sconf, notifyd, relay, db):
    d = notifyd(sconf)
    first = post(d, "gone@example.com")
    wait_row(db, first["id"], "FAILED")
    row = db.query("SELECT address, reason, code, text, notification_id "
                   "FROM email_suppressions")
    assert row == [("gone@example.com", "bounce", 550,
                    "550 5.1.1 No such user", first["id"])], row
    status, got, _ = d.get(SUPP + "/gone@EXAMPLE.com", headers=ADMIN)
    assert status == 200 and got["reason"] == "bounce" and got["code"] == 550
    assert got["notificationId"] == first["id"]
    rcpts = len(relay.rcpts)
    # Same address with the domain in another case; with or without category.
    for over in ({}, {"category": "marketing"}):
        again = post(d, "gone@EXAMPLE.COM", **over)
        assert again["status"] == "SUPPRESSED", again
        assert again["suppressedReason"] == "bounce"
        assert db.query("SELECT status, suppressed_reason FROM "
                        "email_notifications WHERE id = %s", (again["id"],)) \
            == [("SUPPRESSED", "bounce")]
    # The local part is case-sensitive (RFC 5321): Gone@ is someone else.
    other = post(d, "Gone@example.com")
    assert other["status"] == "PROCESSING"
    relay.wait_mail("Gone@example.com")
    time.sleep(1)   # the suppressed ones had every chance to go out
    assert [r for r in relay.rcpts[rcpts:] if r.startswith("gone")] == []
    code, got, _ = d.get("%s/%d" % (PATH, again["id"]), headers=READ)
    assert code == 200 and got["status"] == "SUPPRESSED"
    assert got["suppressedReason"] == "bounce" and got["category"] == "marketing"
    code, got, _ = d.get("%s/%d" % (PATH, other["id"]), headers=READ)
    assert "suppressedReason" not in got and "category" not in got
    code, lst, _ = d.get(PATH + "?status=SUPPRESSED", headers=READ)
    assert code == 200 and len(lst["notifications"]) == 2


def test_policy_and_temporary_failures_do_not_suppress(sconf, notifyd,
                                                      relay, db):
    d = notifyd(sconf)
    pol = post(d, "policy@example.com")
    busy = post(d, "busy@example.com")
    wait_row(db, pol["id"], "FAILED")
    wait_row(db, busy["id"], "FAILED")
    assert db.scalar("SELECT permanent FROM email_notifications WHERE id = %s",
                     (pol["id"],)) is True
    assert db.scalar("SELECT count(*) FROM email_suppressions") == 0
    assert post(d, "policy@example.com")["status"] == "PROCESSING"
    assert post(d, "busy@example.com")["status"] == "PROCESSING"


def test_refused_sender_does_not_suppress_the_recipient(sconf, notifyd,
                                                       relay, db):
    """A bare 550 to MAIL FROM is about us; to RCPT, about the address."""
    d = notifyd(nd.merge(sconf, {"email": {"from": "banned@example.com"}}))
    first = post(d, "alice@example.com")
    wait_row(db, first["id"], "FAILED")
    assert db.query("SELECT permanent, last_error FROM email_notifications "
                    "WHERE id = %s", (first["id"],)) == \
        [(True, "550 Sender rejected")]
    assert db.scalar("SELECT count(*) FROM email_suppressions") == 0
    assert post(d, "alice@example.com")["status"] == "PROCESSING"
    # ... while the same bare 550 to RCPT, on the same connection reused
    # from a good sender, is a gone address.
    d.stop()
    d = notifyd(sconf)
    ok = post(d, "bob@example.com")
    relay.wait_mail("bob@example.com")
    gone = post(d, "nouser@example.com")
    wait_row(db, gone["id"], "FAILED")
    assert db.query("SELECT address, code FROM email_suppressions") == \
        [("nouser@example.com", 550)]
    assert ok["status"] == "PROCESSING"


def test_admin_api(sconf, notifyd, relay, db):
    d = notifyd(sconf)
    assert d.get(SUPP)[0] == 401
    assert d.get(SUPP, headers=SEND)[0] == 403
    assert d.request("PUT", SUPP + "/x@example.com", headers=READ)[0] == 403
    assert d.request("DELETE", SUPP + "/x@example.com")[0] == 401
    addrs = ["a%d@Example.org" % i for i in range(5)]
    for a in addrs:
        status, got, _ = d.request("PUT", SUPP + "/" + a, headers=ADMIN)
        assert status == 200 and got["reason"] == "manual", got
        assert got["address"] == a
    seen, after = [], None
    while True:
        q = SUPP + "?limit=2" + ("&after=" + after if after else "")
        status, page, _ = d.get(q, headers=ADMIN)
        assert status == 200 and len(page["suppressions"]) <= 2
        seen += [s["address"] for s in page["suppressions"]]
        if page["next"] is None:
            break
        after = urllib.request.quote(page["next"])
    assert seen == addrs
    # A manual suppression holds new mail; the domain's case is ignored.
    got = post(d, "a3@EXAMPLE.ORG")
    assert got["status"] == "SUPPRESSED" and got["suppressedReason"] == "manual"
    assert post(d, "A3@example.org")["status"] == "PROCESSING"
    status, gone, _ = d.request("DELETE", SUPP + "/a3@example.ORG",
                                headers=ADMIN)
    assert status == 200 and gone["address"] == "a3@Example.org"
    assert d.request("DELETE", SUPP + "/a3@example.org", headers=ADMIN)[0] \
        == 404
    assert d.get(SUPP + "/a3@example.org", headers=ADMIN)[0] == 404
    assert post(d, "a3@example.org")["status"] == "PROCESSING"
    relay.wait_mail("a3@example.org")
    assert relay.seen("a3@EXAMPLE.ORG") == []


def test_hostile_addresses_and_user_ids(sconf, notifyd, db):
    d = notifyd(sconf)
    for bad in ("a%0D%0Ab@example.com", "%FF@example.com",
                "a%00b@example.com", "no-at-sign", "a%0Ab@example.com",
                "x" * 300 + "@example.com"):
        for method in ("GET", "PUT", "DELETE"):
            status, err, _ = d.request(method, SUPP + "/" + bad, headers=ADMIN)
            assert status == 400, (method, bad, status, err)
            assert err["field"] == "address", err
    assert db.scalar("SELECT count(*) FROM email_suppressions") == 0
    prefs = "/notification_service/api/users/%s/preferences"
    for bad in ("%FF", "a%0Ab", "a%0D%0Ab", "a%00b", "u" * 300):
        for method, js in (("GET", None), ("PUT", {"optedOut": []})):
            status, err, _ = d.request(method, prefs % bad, json_body=js,
                                       headers=PREFS)
            assert status == 400 and err["field"] == "userId", (bad, err)
    for bad in ({"optedOut": "marketing"}, {"optedOut": ["Marketing"]},
                {"optedOut": ["a b"]}, {"optedOut": ["x\r\ny"]},
                {"optedOut": [1]},
                {"optedOut": ["c%d" % i for i in range(65)]}, {}):
        status, err, _ = d.request("PUT", prefs % "u-9", json_body=bad,
                                   headers=PREFS)
        assert status == 400 and err["field"] == "optedOut", (bad, err)
    for raw in (b'{"optedOut": ["\xff"]}', b"{", b'{"optedOut": ["a\\u0000"]}'):
        status, err, _ = d.request("PUT", prefs % "u-9", body=raw, headers=dict(
            PREFS, **{"Content-Type": "application/json"}))
        assert status == 400 and "JSON" in err["error"], (raw, err)
    assert db.scalar("SELECT count(*) FROM email_preferences") == 0
    for bad in ("Marketing", "a b", "x" * 65, "", 7, ["m"], "a\r\nb", "m\u0000",
                "caf\u00e9"):
        status, err, _ = d.post(PATH, json=body("ok@example.com",
                                                category=bad), headers=SEND)
        assert status == 400 and err["field"] == "category", (bad, err)
    assert db.scalar("SELECT count(*) FROM email_notifications") == 0


def test_preferences(sconf, notifyd, relay, db):
    d = notifyd(sconf)
    url = "/notification_service/api/users/u-1/preferences"
    assert d.get(url, headers=PREFS)[1] == {"userId": "u-1", "optedOut": []}
    assert d.get(url, headers=SEND)[0] == 403
    assert d.request("PUT", url, json_body={"optedOut": []})[0] == 401
    status, got, _ = d.request("PUT", url, json_body={
        "optedOut": ["marketing", "billing", "marketing"]}, headers=PREFS)
    assert status == 200 and got["optedOut"] == ["billing", "marketing"]
    assert d.get(url, headers=ADMIN)[1]["optedOut"] == ["billing", "marketing"]
    out = post(d, "p1@example.com", category="marketing")
    assert out["status"] == "SUPPRESSED" and out["category"] == "marketing"
    assert out["suppressedReason"] == "preference"
    # Integer and string user ids are the same user.
    status, _, _ = d.request("PUT", "/notification_service/api/users/77/"
                             "preferences", json_body={"optedOut": ["news"]},
                             headers=PREFS)
    assert status == 200
    assert post(d, "p2@example.com", userId=77,
                category="news")["status"] == "SUPPRESSED"
    # Transactional mail (no category) is never held by a preference and
    # carries no unsubscribe header; a category not opted out is sent
    # with both headers.
    tx = post(d, "p3@example.com")
    news = post(d, "p4@example.com", category="news")
    assert tx["status"] == "PROCESSING" and news["status"] == "PROCESSING"
    raw = relay.wait_mail("p3@example.com")
    assert b"List-Unsubscribe" not in raw
    raw = relay.wait_mail("p4@example.com")
    lu = header(raw, "List-Unsubscribe")
    assert lu == "<%s/unsubscribe/%s>" % (PUBLIC, token_for("u-1", "news")), lu
    assert header(raw, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    time.sleep(1)
    assert relay.seen("p1@example.com") == [] and \
        relay.seen("p2@example.com") == []
    assert db.query("SELECT status, suppressed_reason, category FROM "
                    "email_notifications WHERE id = %s", (out["id"],)) == \
        [("SUPPRESSED", "preference", "marketing")]


def unsubscribe_path(raw):
    lu = header(raw, "List-Unsubscribe")
    assert lu.startswith("<" + PUBLIC + "/unsubscribe/") and lu.endswith(">")
    return lu[1 + len(PUBLIC):-1]


def test_one_click_unsubscribe(sconf, notifyd, relay, db):
    d = notifyd(sconf)
    post(d, "c1@example.com", userId="u-2", category="promo")
    path = unsubscribe_path(relay.wait_mail("c1@example.com"))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    # Tampered: a changed MAC byte, another category, another secret,
    # another user's id under this MAC.
    tok = path.rsplit("/", 1)[1]
    uid, mac, cat = tok.split(".", 2)
    flipped = mac[:5] + ("A" if mac[5] != "A" else "B") + mac[6:]
    bad = ["%s.%s.%s" % (uid, flipped, cat), "%s.%s.billing" % (uid, mac),
           token_for("u-2", "promo", b"another secret, 32 bytes long...."),
           "%s.%s.%s" % (token_for("u-3", "promo").split(".")[0], mac, cat),
           "garbage", "%s.%s" % (uid, mac)]
    for t in bad:
        status, err, _ = d.post("/unsubscribe/" + t,
                                body="List-Unsubscribe=One-Click",
                                headers=form)
        assert status == 403 and err["field"] == "token", (t, err)
        status, page, h = d.get("/unsubscribe/" + t,
                                headers={"Accept": "text/html"})
        assert status == 403 and h["Content-Type"].startswith("text/html")
        assert "not valid" in page
    assert db.scalar("SELECT count(*) FROM email_preferences") == 0
    # Not RFC 8058's body: refused, nothing stored.
    status, err, _ = d.post(path, body="List-Unsubscribe=Nope", headers=form)
    assert status == 400 and err["field"] == "List-Unsubscribe"
    status, page, h = d.get(path, headers={"Accept": "text/html"})
    assert status == 200 and "<form method=\"post\"" in page and "promo" in page
    assert db.scalar("SELECT count(*) FROM email_preferences") == 0
    # The one-click POST, as a mailbox provider sends it, no bearer token.
    status, got, _ = d.post(path, body="List-Unsubscribe=One-Click",
                            headers=form)
    assert status == 200 and got == {"userId": "u-2", "optedOut": ["promo"]}
    assert d.post(path, body="List-Unsubscribe=One-Click",
                  headers=form)[1]["optedOut"] == ["promo"]  # idempotent
    again = post(d, "c1@example.com", userId="u-2", category="promo")
    assert again["status"] == "SUPPRESSED"
    assert again["suppressedReason"] == "preference"
    assert post(d, "c1@example.com", userId="u-2")["status"] == "PROCESSING"


def cdp(ws_url):
    import websocket
    ws = websocket.create_connection(ws_url, timeout=20)
    seq = [0]

    def call(method, **params):
        seq[0] += 1
        ws.send(json.dumps({"id": seq[0], "method": method,
                            "params": params}))
        while True:
            msg = json.loads(ws.recv())
            if msg.get("id") == seq[0]:
                assert "error" not in msg, msg
                return msg.get("result")
    return ws, call


def test_browser_unsubscribe(sconf, notifyd, relay, db, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (contrib/dev/bootstrap.sh)")
    d = notifyd(sconf)
    post(d, "b1@example.com", userId="u-5", category="digest")
    path = unsubscribe_path(relay.wait_mail("b1@example.com"))
    port = nd.free_port()
    profile = tempfile.mkdtemp(dir=str(tmp_path))
    browser = subprocess.Popen(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--no-first-run", "--remote-debugging-port=%d" % port,
         "--user-data-dir=" + profile, "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def page_ws():
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port,
                                        timeout=2) as r:
                pages = [p for p in json.loads(r.read())
                         if p.get("type") == "page"]
            return pages and pages[0]["webSocketDebuggerUrl"]
        ws, call = cdp(nd.wait_until(page_ws, timeout=30, interval=0.2,
                                     msg="chromium's DevTools endpoint"))

        def text():
            return call("Runtime.evaluate", expression="document.title + '|' "
                        "+ document.body.innerText",
                        returnByValue=True)["result"].get("value", "")
        call("Page.navigate", url=d.url + path)
        nd.wait_until(lambda: text().startswith("Unsubscribe|"), timeout=20,
                      msg="the confirmation page")
        assert "digest" in text()
        assert db.scalar("SELECT count(*) FROM email_preferences") == 0
        call("Runtime.evaluate",
             expression="document.getElementById('unsubscribe').click()")
        nd.wait_until(lambda: text().startswith("Unsubscribed|"), timeout=20,
                      msg="the page after the button")
        ws.close()
    finally:
        browser.terminate()
        browser.wait(10)
    assert db.query("SELECT opted_out FROM email_preferences "
                    "WHERE user_id = 'u-5'") == [(["digest"],)]
    assert post(d, "b1@example.com", userId="u-5",
                category="digest")["status"] == "SUPPRESSED"


def test_config_errors(conf, notifyd, tmp_path):
    def check(over):
        d = notifyd(nd.merge(conf, over), wait_ready=False, args=("-t",))
        return d.wait(), d.log()
    rc, log = check({"http": {"public_url": PUBLIC}})
    assert rc != 0 and "email.unsubscribe_secret_file" in log, log
    rc, log = check({"email": {"unsubscribe_secret_file":
                               str(tmp_path / "missing")}})
    assert rc != 0 and "email.unsubscribe_secret_file" in log, log
    rc, log = check({"email": {"unsubscribe_secret_file":
                               secret_file(tmp_path, b"short")}})
    assert rc != 0 and "shorter than 16 bytes" in log, log
    rc, log = check({"http": {"public_url": "ftp://x"}})
    assert rc != 0 and "http.public_url" in log, log
    rc, log = check({"http": {"public_url": PUBLIC},
                     "email": {"unsubscribe_secret_file":
                               secret_file(tmp_path, mode=0o644)}})
    assert rc == 0 and "email.unsubscribe_secret_file" in log \
        and "chmod 600" in log, log


def test_suppressed_after_acceptance_is_not_sent(sconf, notifyd, relay, db):
    """Queued before the suppression or the opt-out: the mailer's claim
    turns it SUPPRESSED instead of sending it."""
    d = notifyd(nd.merge(sconf, {"email": {"workers": 0}}))
    n1 = post(d, "late@example.com")
    n2 = post(d, "late2@example.com", userId="u-7", category="promo")
    n3 = post(d, "ok@example.com", userId="u-7", category="other")
    assert d.request("PUT", SUPP + "/late@example.com", headers=ADMIN)[0] == 200
    assert d.request("PUT", "/notification_service/api/users/u-7/preferences",
                     json_body={"optedOut": ["promo"]}, headers=PREFS)[0] == 200
    d.stop()
    d = notifyd(sconf)
    relay.wait_mail("ok@example.com")
    wait_row(db, n3["id"], "SENT")
    for n, reason in ((n1, "manual"), (n2, "preference")):
        wait_row(db, n["id"], "SUPPRESSED")
        assert db.scalar("SELECT suppressed_reason FROM email_notifications "
                         "WHERE id = %s", (n["id"],)) == reason
    assert relay.seen("late@example.com") == []
    assert relay.seen("late2@example.com") == []
    assert [r for r in relay.rcpts if r.startswith("late")] == []


def test_answers_match_openapi(sconf, notifyd, relay):
    """Every new route's real answers validate against doc/openapi.json."""
    import jsonschema
    doc = json.loads((nd.REPO / "doc/openapi.json").read_text())

    def check(template, method, answer):
        status, got, headers = answer
        op = doc["paths"][template][method.lower()]
        assert str(status) in op["responses"], (template, method, status, got)
        resp = op["responses"][str(status)]
        while "$ref" in resp:
            node = doc
            for part in resp["$ref"].lstrip("#/").split("/"):
                node = node[part]
            resp = node
        ctype = headers.get("Content-Type")
        assert ctype in resp["content"], (template, status, ctype)
        if ctype.startswith("text/html"):
            return
        jsonschema.Draft202012Validator(
            resp["content"][ctype]["schema"],
            resolver=jsonschema.RefResolver.from_schema(doc)).validate(got)

    d = notifyd(sconf)
    one = SUPP + "/{address}"
    prefs = "/notification_service/api/users/{userId}/preferences"
    unsub = "/unsubscribe/{token}"
    check(one, "PUT", d.request("PUT", SUPP + "/m@example.com", headers=ADMIN))
    check(one, "GET", d.get(SUPP + "/m@example.com", headers=ADMIN))
    check(one, "GET", d.get(SUPP + "/n@example.com", headers=ADMIN))
    check(one, "GET", d.get(SUPP + "/%FF", headers=ADMIN))
    check(one, "PUT", d.request("PUT", SUPP + "/m@example.com", headers=SEND))
    check(SUPP, "GET", d.get(SUPP + "?limit=1", headers=ADMIN))
    check(SUPP, "GET", d.get(SUPP + "?limit=0", headers=ADMIN))
    check(SUPP, "GET", d.get(SUPP))
    check(one, "DELETE", d.request("DELETE", SUPP + "/m@example.com",
                                   headers=ADMIN))
    check(one, "DELETE", d.request("DELETE", SUPP + "/m@example.com",
                                   headers=ADMIN))
    check(prefs, "PUT", d.request("PUT", prefs.replace("{userId}", "9"),
                                  json_body={"optedOut": ["x"]},
                                  headers=PREFS))
    check(prefs, "PUT", d.request("PUT", prefs.replace("{userId}", "9"),
                                  body="x", headers=PREFS))
    check(prefs, "GET", d.get(prefs.replace("{userId}", "9"), headers=PREFS))
    check(prefs, "GET", d.get(prefs.replace("{userId}", "a%0Ab"),
                              headers=PREFS))
    check(PATH, "POST", d.post(PATH, json=body("q@example.com",
                                               category="x", userId=9),
                               headers=SEND))
    check(PATH, "POST", d.post(PATH, json=body("q@example.com", category="X"),
                               headers=SEND))
    nid = d.post(PATH, json=body("q2@example.com", category="x", userId=9),
                 headers=SEND)[1]["id"]
    check(PATH + "/{id}", "GET", d.get("%s/%d" % (PATH, nid), headers=READ))
    check(PATH, "GET", d.get(PATH + "?status=SUPPRESSED", headers=READ))
    tok = "/unsubscribe/" + token_for("9", "y")
    check(unsub, "GET", d.get(tok, headers={"Accept": "text/html"}))
    check(unsub, "GET", d.get(tok + "x"))
    check(unsub, "GET", d.get(tok + "x", headers={"Accept": "text/html"}))
    check(unsub, "POST", d.post(tok, body="List-Unsubscribe=One-Click"))
    check(unsub, "POST", d.post(tok, body="nope"))
    check(unsub, "POST", d.post(tok, body="List-Unsubscribe=One-Click",
                                headers={"Accept": "text/html"}))


def test_unsubscribe_off_without_public_url(conf, notifyd, relay):
    """No http.public_url and no secret: categories still work, mail has
    no unsubscribe headers and /unsubscribe answers 404."""
    d = notifyd(nd.merge(conf, {"email": {
        "enabled": True, "workers": 1, "from": "notify@example.com",
        "smtp": {"url": relay.url}}}))
    status, got, _ = d.post(PATH, json=body("o1@example.com",
                                            category="news"))
    assert status == 202 and got["category"] == "news"
    assert b"List-Unsubscribe" not in relay.wait_mail("o1@example.com")
    status, err, _ = d.post("/unsubscribe/" + token_for("u-1", "news"),
                            body="List-Unsubscribe=One-Click")
    assert status == 404 and "email.unsubscribe_secret_file" in err["error"]


def test_retry_by_hand_of_the_bounced_row(sconf, notifyd, relay, db):
    """POST .../retry of the bounced notification itself is the operator's
    choice and goes out; its suppression still holds new mail."""
    d = notifyd(sconf)
    first = post(d, "gone-later@example.com")
    wait_row(db, first["id"], "FAILED")
    assert db.scalar("SELECT reason FROM email_suppressions") == "bounce"
    rcpts = len(relay.rcpts)
    status, _, _ = d.post("%s/%d/retry" % (PATH, first["id"]), headers=SEND)
    assert status == 202
    nd.wait_until(lambda: len(relay.rcpts) > rcpts, timeout=30,
                  msg="the retried send")
    wait_row(db, first["id"], "FAILED")
    assert post(d, "gone-later@example.com")["status"] == "SUPPRESSED"


def test_dkim_covers_the_unsubscribe_headers(sconf, notifyd, relay, tmp_path):
    """RFC 8058: the List-Unsubscribe pair must be under a DKIM signature;
    the default email.dkim.headers signs it, dkimpy verifies."""
    dkim = pytest.importorskip("dkim")
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    der = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout",
                          "-outform", "DER"], check=True,
                         capture_output=True).stdout
    txt = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
    d = notifyd(nd.merge(sconf, {"email": {"dkim": {
        "domain": "example.com", "selector": "s1", "key_file": str(key)}}}))
    post(d, "k1@example.com", category="news")
    raw = relay.wait_mail("k1@example.com")
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: txt)
    head = raw.split(b"\r\n\r\n")[0].decode().replace("\r\n", "")
    tags = head.split("DKIM-Signature:", 1)[1]
    h = [t.split("=", 1)[1] for t in tags.replace("\t", " ").split(";")
         if t.strip().startswith("h=")][0]
    h = [x.strip().lower() for x in h.split(":")]
    assert "list-unsubscribe" in h and "list-unsubscribe-post" in h, h
    # tampering with the signed link breaks the signature
    bad = raw.replace(b"/unsubscribe/", b"/unsubscribe/x", 1)
    assert not dkim.verify(bad, dnsfunc=lambda name, timeout=5: txt)
