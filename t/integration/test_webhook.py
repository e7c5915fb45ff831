"""type WEBHOOK: signed HTTP delivery to configured endpoints (issue 17).

Real PostgreSQL, librdkafka's mock broker, notifyd's webhook workers and
an in-process http.server receiver.  The receiver verifies every
signature itself, with hmac and base64 per the Standard Webhooks
specification (never with notifyd's code), and answers each path from a
script of (status, headers, body, delay) replies; once the script is
spent it answers 200.
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import signal
import subprocess
import threading
import time

import pytest

import nd

PATH = "/notification_service/api/notifications"
EPS = "/notification_service/api/webhooks/endpoints"
ADMIN = {"Authorization": "Bearer adm"}
SEND = {"Authorization": "Bearer snd"}
# The specification's example secret, and a second one for rotation.
SECRET_A = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SECRET_B = "whsec_" + base64.b64encode(b"rotated-secret-of-32-bytes-long!").decode()


def spec_verify(secret, headers, body, tolerance=300):
    """True when one v1 signature of headers verifies under secret:
    HMAC-SHA256 over id.timestamp.body with the base64 key after whsec_."""
    key = base64.b64decode(secret[len("whsec_"):])
    msg_id = headers["webhook-id"]
    ts = headers["webhook-timestamp"]
    if abs(time.time() - int(ts)) > tolerance:
        return False
    signed = msg_id.encode() + b"." + ts.encode() + b"." + body
    want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for sig in headers["webhook-signature"].split(" "):
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), want):
            return True
    return False


class Receiver:
    """Records every request; answers each path from its script."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = []              # (path, headers dict, body, time)
        self.script = {}            # path -> [(status, headers, body, delay)]
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Head and body are two writes: with Nagle, the body waits for
            # the client's delayed ACK (40 ms a request on keep-alive).
            disable_nagle_algorithm = True

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.seen.append((self.path, {k.lower(): v for k, v
                                          in self.headers.items()}, body,
                                          time.monotonic()))
                    steps = receiver.script.get(self.path) or []
                    step = steps.pop(0) if steps else (200, {}, b"ok", 0)
                status, headers, out, delay = step
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def plan(self, path, *steps):
        with self.lock:
            self.script[path] = [s if len(s) == 4 else s + (0,) * (4 - len(s))
                                 for s in steps]

    def requests(self, path):
        with self.lock:
            return [s for s in self.seen if s[0] == path]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def secret_file(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text + "\n")
    p.chmod(0o600)
    return str(p)


def webhook_conf(conf, tmp_path, receiver, extra=()):
    """Email on (its producer queues every type), one webhook worker,
    endpoints ok, gone, busy, slow, bad, redir, rot (two secrets)."""
    a = secret_file(tmp_path, "a.key", SECRET_A)
    b = secret_file(tmp_path, "b.key", SECRET_B)
    eps = [{"name": n, "url": receiver.url("/" + n), "secret_file": a}
           for n in ("ok", "gone", "busy", "slow", "bad", "redir", "limit")]
    eps[3]["timeout"] = 0.5
    eps.append({"name": "rot", "url": receiver.url("/rot"),
                "secret_file": [b, a]})
    eps += list(extra)
    return nd.merge(conf, {
        "http": {"tokens": ["adm:admin", "snd:send,read"]},
        "email": {"enabled": True,
                  "retry": {"initial": 0.1, "max_delay": 0.5,
                            "max_attempts": 3}},
        "webhook": {"workers": 1, "endpoints": eps}})


def post(d, endpoint, **extra):
    body = {"type": "WEBHOOK", "endpoint": endpoint, "userId": 7,
            "title": "Invoice paid", "content": "<p>42 EUR</p>",
            "metadata": {"invoice": "F-1"}}
    body.update(extra)
    st, j, _ = d.post(PATH, json=body, headers=SEND)
    assert st == 202, j
    return j["id"]


def final(d, nid, status, timeout=60):
    def done():
        st, j, _ = d.get("%s/%d" % (PATH, nid), headers=SEND)
        return j if st == 200 and j["status"] == status else None
    return nd.wait_until(done, timeout, msg="notification %d %s" % (nid, status))


@pytest.fixture
def hooked(conf, tmp_path, receiver, notifyd):
    return notifyd(webhook_conf(conf, tmp_path, receiver), wait_ready=True)


def test_delivery_is_signed_per_the_spec(hooked, receiver):
    nid = post(hooked, "ok")
    j = final(hooked, nid, "SENT")
    (path, headers, body, _), = receiver.requests("/ok")
    assert headers["webhook-id"] == "ntf_%d" % nid
    assert headers["content-type"] == "application/json"
    assert spec_verify(SECRET_A, headers, body)
    assert not spec_verify(SECRET_B, headers, body)
    # One tampered byte and the signature no longer holds.
    assert not spec_verify(SECRET_A, headers, body.replace(b"42", b"43"))
    doc = json.loads(body)
    assert doc["type"] == "notification"
    assert doc["data"] == {"notificationId": nid, "userId": 7,
                           "title": "Invoice paid", "content": "<p>42 EUR</p>",
                           "metadata": {"invoice": "F-1"}}
    assert doc["timestamp"].endswith("Z")
    assert j["recipient"] == "ok" and j["type"] == "WEBHOOK"
    assert j["messageId"] == "ntf_%d" % nid
    h, = j["history"]
    assert (h["attempt"], h["code"], h["outcome"]) == (1, 200, "sent")
    assert h["text"] == "ok"


def test_rotation_sends_one_signature_per_secret(hooked, receiver):
    nid = post(hooked, "rot", userId="u-\u00e9\"1", metadata=None)
    final(hooked, nid, "SENT")
    (_, headers, body, _), = receiver.requests("/rot")
    assert json.loads(body)["data"]["userId"] == "u-\u00e9\"1"
    assert json.loads(body)["data"]["metadata"] is None
    sigs = headers["webhook-signature"].split(" ")
    assert len(sigs) == 2 and all(s.startswith("v1,") for s in sigs)
    # A receiver that knows only the old secret, or only the new, accepts.
    assert spec_verify(SECRET_A, headers, body)
    assert spec_verify(SECRET_B, headers, body)
    assert not spec_verify("whsec_" + base64.b64encode(b"x" * 24).decode(),
                           headers, body)


def test_410_disables_the_endpoint_until_re_enabled(hooked, receiver):
    receiver.plan("/gone", (410, {}, b"endpoint removed"))
    first = post(hooked, "gone")
    j = final(hooked, first, "FAILED")
    assert j["history"][-1]["code"] == 410
    assert j["history"][-1]["outcome"] == "permanent"
    st, eps, _ = hooked.get(EPS, headers=ADMIN)
    assert st == 200
    gone = next(e for e in eps["endpoints"] if e["name"] == "gone")
    assert gone["disabled"] is True and gone["disabledCode"] == 410
    assert gone["disabledBy"] == first
    assert "url" not in gone        # the list never shows URLs or secrets
    # While disabled: failed at once, no request.
    second = post(hooked, "gone")
    j = final(hooked, second, "FAILED")
    assert j["history"][-1]["outcome"] == "disabled"
    assert len(receiver.requests("/gone")) == 1
    # The sweeper never requeues it either: it is permanent.
    assert hooked.post("%s/gone/enable" % EPS, headers=SEND)[0] == 403
    assert hooked.post("%s/nope/enable" % EPS, headers=ADMIN)[0] == 404
    st, e, _ = hooked.post("%s/gone/enable" % EPS, headers=ADMIN)
    assert st == 200 and e["disabled"] is False and "enabledAt" in e
    third = post(hooked, "gone")
    final(hooked, third, "SENT")
    assert len(receiver.requests("/gone")) == 2
    # The one that failed meanwhile, retried by hand: on the webhook topic.
    st, j, _ = hooked.post("%s/%d/retry" % (PATH, second), headers=SEND)
    assert st == 202, j
    j = final(hooked, second, "SENT")
    assert [h["outcome"] for h in j["history"]] == ["disabled", "sent"]


def test_retry_after_is_honoured(hooked, receiver):
    # 503 with delta-seconds: backoff alone would retry after ~0.1 s.
    receiver.plan("/busy", (503, {"Retry-After": "2"}, b"busy"))
    nid = post(hooked, "busy")
    j = final(hooked, nid, "SENT")
    a, b = receiver.requests("/busy")
    gap = b[3] - a[3]
    print("Retry-After 2 s: second attempt %.3f s after the first" % gap)
    assert gap >= 1.9, gap
    assert gap < 5, gap
    assert a[1]["webhook-id"] == b[1]["webhook-id"] == "ntf_%d" % nid
    assert [(h["code"], h["outcome"]) for h in j["history"]] == \
        [(503, "temporary"), (200, "sent")]


def test_429_with_an_http_date_is_honoured(hooked, receiver):
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                         time.gmtime(time.time() + 3))
    receiver.plan("/limit", (429, {"Retry-After": when}, b"slow down"))
    nid = post(hooked, "limit")
    j = final(hooked, nid, "SENT")
    a, b = receiver.requests("/limit")
    # An HTTP-date has 1 s resolution: at least 1 s, well over backoff.
    assert b[3] - a[3] >= 1.5, b[3] - a[3]
    assert [h["code"] for h in j["history"]] == [429, 200]


def test_timeout_is_retried(hooked, receiver):
    receiver.plan("/slow", (200, {}, b"late", 2))
    nid = post(hooked, "slow")
    j = final(hooked, nid, "SENT")
    first = j["history"][0]
    assert first["code"] is None and first["outcome"] == "temporary"
    assert "timeout" in first["text"]
    assert j["history"][-1]["code"] == 200


def test_other_4xx_is_permanent_and_its_hostile_body_is_cleaned(hooked,
                                                                receiver):
    hostile = (b"\xff\xfe bad \x00 NUL\r\nInjected: header\r\n"
               + "é".encode() * 40 + b"\xe2\x82" + b"A" * 200000)
    receiver.plan("/bad", (400, {"Content-Type": "text/plain"}, hostile))
    nid = post(hooked, "bad")
    j = final(hooked, nid, "FAILED")
    h, = j["history"]
    assert (h["code"], h["outcome"]) == (400, "permanent")
    text = h["text"]
    assert len(text.encode()) < 256
    assert "\x00" not in text and "\r" not in text and "\n" not in text
    assert "\\xff" in text and "é" in text
    assert j["lastError"] == text if "lastError" in j else True
    time.sleep(1)       # no retry follows a permanent answer
    assert len(receiver.requests("/bad")) == 1


def test_redirects_are_not_followed(hooked, receiver):
    receiver.plan("/redir", (302, {"Location": receiver.url("/ok")}, b""))
    nid = post(hooked, "redir")
    j = final(hooked, nid, "FAILED")
    assert j["history"][0]["code"] == 302
    assert receiver.requests("/ok") == []


def test_requests_are_validated(hooked):
    def refuse(body, status, field):
        b = {"type": "WEBHOOK", "userId": 1, "title": "t", "content": "c"}
        b.update(body)
        st, j, _ = hooked.post(PATH, json=b, headers=SEND)
        assert st == status, (body, st, j)
        assert field in j["detail"] or j.get("field") == field, j
    refuse({}, 400, "endpoint")
    refuse({"endpoint": 5}, 400, "endpoint")
    refuse({"endpoint": ""}, 400, "endpoint")
    refuse({"endpoint": "ok\r\nX: y"}, 400, "endpoint")
    refuse({"endpoint": "x" * 5000}, 400, "endpoint")
    refuse({"endpoint": "ok\u0000"}, 400, "endpoint")
    refuse({"endpoint": ["ok"]}, 400, "endpoint")
    refuse({"endpoint": "nope"}, 422, "endpoint")
    # A URL is never accepted: only configured names.
    refuse({"endpoint": "http://169.254.169.254/latest"}, 422, "endpoint")
    refuse({"endpoint": "ok", "recipient": "a@b.example"}, 400, "recipient")
    refuse({"endpoint": "ok", "content": "x" * 300000}, 413, "content")
    # Case-insensitive type, as for EMAIL.
    st, j, _ = hooked.post(PATH, json={"type": "webhook", "endpoint": "ok",
                                       "userId": 1, "title": "t",
                                       "content": "c"}, headers=SEND)
    assert st == 202 and j["type"] == "WEBHOOK"


def test_config_errors_name_file_and_key(conf, tmp_path):
    good = secret_file(tmp_path, "k", SECRET_A)
    short = secret_file(tmp_path, "short", "whsec_c2hvcnQ=")
    cases = [
        ({"url": "http://x/", "secret_file": good}, "name is required"),
        ({"name": "a", "url": "file:///etc/passwd", "secret_file": good},
         "webhook.endpoints[0].url"),
        ({"name": "a", "url": "gopher://x/", "secret_file": good},
         "webhook.endpoints[0].url"),
        ({"name": "a", "url": "http://x/", "secret_file": short},
         "webhook.endpoints[0].secret_file"),
        ({"name": "a", "url": "http://x/", "secret_file": "/nonexistent"},
         "cannot read"),
        ({"name": "a b", "url": "http://x/", "secret_file": good},
         "webhook.endpoints[0].name"),
    ]
    for ep, want in cases:
        path = tmp_path / "bad.conf"
        path.write_text(nd.libconfig(nd.merge(conf, {"webhook": {
            "endpoints": [ep]}})) + "\n")
        r = subprocess.run([nd.notifyd_path(), "-t", "-c", str(path)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, ep
        assert want in r.stderr and str(path) in r.stderr, (want, r.stderr)


def test_routes_and_bodies_match_openapi(hooked, receiver):
    from test_http_conventions import check_answer, doc_file, validator
    doc = doc_file()
    check_answer(doc, EPS, "GET", hooked.get(EPS, headers=ADMIN))
    check_answer(doc, EPS + "/{name}/enable", "POST",
                 hooked.post(EPS + "/ok/enable", headers=ADMIN))
    check_answer(doc, EPS + "/{name}/enable", "POST",
                 hooked.post(EPS + "/nope/enable", headers=ADMIN))
    nid = post(hooked, "ok")
    final(hooked, nid, "SENT")
    check_answer(doc, PATH + "/{id}", "GET",
                 hooked.get("%s/%d" % (PATH, nid), headers=SEND))
    (_, _, body, _), = receiver.requests("/ok")
    validator(doc, {"$ref": "#/components/schemas/WebhookBody"}).validate(
        json.loads(body))


def test_config_dump_masks_and_secret_modes_warn(conf, tmp_path):
    key = secret_file(tmp_path, "k", SECRET_A)
    path = tmp_path / "good.conf"
    path.write_text(nd.libconfig(nd.merge(conf, {"webhook": {"endpoints": [
        {"name": "b", "url": "https://user:hunter2@b.example/h",
         "secret_file": [key, key], "timeout": 3.0}]},
        "events": {"endpoint": "b"}})) + "\n")
    r = subprocess.run([nd.notifyd_path(), "-T", "-c", str(path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "hunter2" not in r.stdout and SECRET_A not in r.stdout
    assert 'name = "b"' in r.stdout and "user:********@b.example" in r.stdout
    assert 'endpoint = "b"' in r.stdout
    # the dump is itself a valid configuration
    dumped = tmp_path / "dumped.conf"
    dumped.write_text(r.stdout.replace("user:********@", ""))
    assert subprocess.run([nd.notifyd_path(), "-t", "-c", str(dumped)],
                          capture_output=True, timeout=30).returncode == 0
    os.chmod(key, 0o644)
    r = subprocess.run([nd.notifyd_path(), "-t", "-c", str(path)],
                       capture_output=True, text=True, timeout=30)
    assert "webhook.endpoints[0].secret_file" in r.stderr
    assert "chmod 600" in r.stderr
    # events.endpoint must name an endpoint
    path.write_text(nd.libconfig(nd.merge(conf, {"events": {
        "endpoint": "nope"}})) + "\n")
    r = subprocess.run([nd.notifyd_path(), "-t", "-c", str(path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "events.endpoint" in r.stderr


def test_spent_attempts_are_requeued_by_the_sweeper(conf, tmp_path,
                                                    receiver, notifyd):
    c = nd.merge(webhook_conf(conf, tmp_path, receiver),
                 {"sweeper": {"enabled": True, "interval": 0.5}})
    d = notifyd(c)
    receiver.plan("/busy", *[(503, {}, b"down")] * 3)
    nid = post(d, "busy")
    j = final(d, nid, "SENT", timeout=60)
    assert [h["code"] for h in j["history"]] == [503, 503, 503, 200]
    assert j["history"][2]["outcome"] == "temporary"
    assert len(receiver.requests("/busy")) == 4


def test_a_huge_answer_is_cut_and_still_counts(hooked, receiver):
    receiver.plan("/ok", (200, {}, b"x" * 3000000))
    nid = post(hooked, "ok")
    j = final(hooked, nid, "SENT")
    h, = j["history"]
    assert h["code"] == 200 and len(h["text"]) < 256


def role_pids(d, role):
    """The pids of d's children of that role (comm notifyd-ROLE)."""
    out = set()
    for pid in d.children():
        try:
            with open("/proc/%d/comm" % pid) as f:
                if f.read().strip() == "notifyd-" + role:
                    out.add(pid)
        except FileNotFoundError:
            pass
    return out


def test_secrets_rotate_on_reload(conf, tmp_path, receiver, notifyd):
    c = webhook_conf(conf, tmp_path, receiver)
    d = notifyd(c)
    nid = post(d, "ok")
    final(d, nid, "SENT")
    new = secret_file(tmp_path, "new.key", SECRET_B)
    old = str(tmp_path / "a.key")
    for files, good, bad in (([new, old], (SECRET_A, SECRET_B), ()),
                             ([new], (SECRET_B,), (SECRET_A,))):
        ok = next(e for e in c["webhook"]["endpoints"] if e["name"] == "ok")
        ok["secret_file"] = files
        d.write_conf(c)
        before = role_pids(d, "webhook")
        mark = len(d.notifications())
        d.signal(signal.SIGHUP)
        d.wait_notify("READY=1", after=mark)
        # the old generation's worker (the old secrets) is gone
        nd.wait_until(lambda: not (before & role_pids(d, "webhook")), 60)
        nid = post(d, "ok")
        final(d, nid, "SENT")
        _, headers, body, _ = receiver.requests("/ok")[-1]
        assert headers["webhook-id"] == "ntf_%d" % nid
        assert len(headers["webhook-signature"].split(" ")) == len(files)
        for s in good:
            assert spec_verify(s, headers, body)
        for s in bad:
            assert not spec_verify(s, headers, body)
    # A reload with an unreadable secret keeps the running configuration.
    ok["secret_file"] = str(tmp_path / "missing.key")
    d.write_conf(c)
    mark = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_log(r"missing\.key", since=mark)
    nid = post(d, "ok")
    final(d, nid, "SENT")
    _, headers, body, _ = receiver.requests("/ok")[-1]
    assert spec_verify(SECRET_B, headers, body)


def test_database_outage_mid_delivery_sends_once(conf, tmp_path, receiver,
                                                 notifyd, pg):
    d = notifyd(webhook_conf(conf, tmp_path, receiver))
    receiver.plan("/ok", (200, {}, b"took a while", 2))
    nid = post(d, "ok")
    nd.wait_until(lambda: receiver.requests("/ok"), 30, msg="request")
    mark = d.mark()
    pg.stop()           # the 200 arrives while the database is away
    try:
        d.wait_log(r"recording the outcome of notification %d" % nid,
                   timeout=30, since=mark)
        time.sleep(1)
    finally:
        pg.start()
    j = final(d, nid, "SENT", timeout=60)
    assert [h["code"] for h in j["history"]] == [200]
    time.sleep(1)
    assert len(receiver.requests("/ok")) == 1


def test_kill_9_of_a_worker_mid_delivery(conf, tmp_path, receiver, notifyd):
    c = nd.merge(webhook_conf(conf, tmp_path, receiver),
                 {"email": {"lease": 2},
                  "sweeper": {"enabled": True, "interval": 0.5}})
    d = notifyd(c)
    receiver.plan("/ok", (200, {}, b"slow", 3))
    nid = post(d, "ok")
    nd.wait_until(lambda: receiver.requests("/ok"), 30, msg="request")
    victim, = role_pids(d, "webhook")
    os.kill(victim, signal.SIGKILL)
    # the master respawns it; the sweeper requeues the row once its lease
    # expired, and the new worker delivers it again, with the same id
    nd.wait_until(lambda: role_pids(d, "webhook") - {victim}, 30,
                  msg="webhook worker respawned")
    # the new worker gets the partitions in a rebalance, once the group
    # dropped the killed member (session timeout): slow under load
    j = final(d, nid, "SENT", timeout=90)
    reqs = receiver.requests("/ok")
    assert len(reqs) == 2
    assert {r[1]["webhook-id"] for r in reqs} == {"ntf_%d" % nid}
    assert [h["code"] for h in j["history"]] == [200]
