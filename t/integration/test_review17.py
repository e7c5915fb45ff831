"""Hostile-input review of issue 17's boundaries (webhook channel,
delivery events, in-app inbox): each test here failed before its fix."""
import json
import time
import urllib.parse

import nd
from test_inbox import inbox_conf, inbox, wait_delivered
from test_webhook import (PATH, SEND, final, receiver,  # noqa: F401
                          webhook_conf)

API = "/notification_service/api"


def test_inapp_user_id_the_inbox_routes_refuse_is_refused(conf, notifyd):
    """A userId the inbox routes answer 400 for (empty, control
    characters) must be refused by the POST too: accepted, its item would
    be delivered into an inbox no one can read."""
    d = notifyd(inbox_conf(conf))
    for uid in ["", "a\nb", "a\rb", "\x1b[2J"]:
        st, e, _ = d.post(API + "/notifications", json={
            "type": "IN_APP", "userId": uid, "title": "t", "content": "c"})
        assert (st, e.get("field")) == (400, "userId"), (uid, st, e)
        # the read side agrees it is no inbox
        st, e, _ = d.get("%s/users/%s/inbox" % (
            API, urllib.parse.quote(uid, safe="")))
        assert st in (400, 404), (uid, st, e)


def test_webhook_metadata_numbers_keep_their_shape(conf, tmp_path, receiver,
                                                   notifyd):
    """A metadata number of 2^63 or more (1e19) is stored by jsonb as a
    long integer that jansson cannot read back: it was accepted and the
    receiver got metadata as a string.  It is refused, naming metadata;
    numbers that round-trip are delivered as sent."""
    d = notifyd(webhook_conf(conf, tmp_path, receiver), wait_ready=True)
    for meta in [{"big": 1e19, "s": "x"}, {"a": [{"neg": -1e30}]}]:
        st, j, _ = d.post(PATH, json={"type": "WEBHOOK", "endpoint": "ok",
                                      "userId": 7, "title": "t",
                                      "content": "c", "metadata": meta},
                          headers=SEND)
        assert (st, j.get("field")) == (400, "metadata"), (meta, st, j)
    meta = {"r": 9.2e18, "i": -9223372036854775808, "f": 1.5, "s": "x"}
    st, j, _ = d.post(PATH, json={"type": "WEBHOOK", "endpoint": "ok",
                                  "userId": 7, "title": "t", "content": "c",
                                  "metadata": meta}, headers=SEND)
    assert st == 202, j
    final(d, j["id"], "SENT")
    sent = receiver.requests("/ok")
    assert len(sent) == 1, sent
    got = json.loads(sent[0][2])["data"]["metadata"]
    assert got == meta, got


def test_inapp_metadata_number_cannot_hide_the_inbox(conf, notifyd):
    """Before the fix one IN_APP item with metadata 1e19 made the user's
    whole inbox list answer "items": null (the page's JSON from
    PostgreSQL no longer parsed)."""
    d = notifyd(inbox_conf(conf))
    st, j, _ = d.post(API + "/notifications", json={
        "type": "IN_APP", "userId": "m", "title": "ok", "content": "c",
        "metadata": {"n": 1}})
    assert st == 202, j
    st, e, _ = d.post(API + "/notifications", json={
        "type": "IN_APP", "userId": "m", "title": "t", "content": "c",
        "metadata": {"big": 1e19}})
    assert (st, e.get("field")) == (400, "metadata"), (st, e)
    items = wait_delivered(d, "m", 1)["items"]
    assert [(i["title"], i["metadata"]) for i in items] == [("ok", {"n": 1})]


def test_stream_passes_an_item_larger_than_its_buffer(conf, notifyd):
    """An item whose JSON (as jsonb prints it: ", " and ": ") exceeds the
    stream's 1 MiB buffer ended every stream at that item, and the resume
    from Last-Event-ID hit it again: the user's stream never got past it.
    The POST is under http.max_body; the stream must carry it and go on."""
    from test_inbox import Sse
    d = notifyd(inbox_conf(conf, http={"max_body": 4 << 20}))
    assert post_raw(d, "big", "before") == 202
    meta = '"blob":"%s"' % ("x" * (1536 << 10))
    assert post_raw(d, "big", "huge", meta) == 202
    assert post_raw(d, "big", "after") == 202
    wait_delivered(d, "big", 3)
    titles, last = [], 0
    for _ in range(4):              # a client reconnecting after each end
        s = Sse(d.port, "big", last_id=last, timeout=20)
        assert s.status == 200
        while True:
            ev = s.next(5)
            if ev is None:
                break
            titles.append(ev["json"]["title"])
            last = int(ev["id"])
        s.close()
        if len(titles) >= 3:
            break
    assert sorted(titles) == ["after", "before", "huge"], titles[-3:]


def post_raw(d, uid, title, meta=""):
    """A compact body, so that a big metadata still fits http.max_body."""
    body = ('{"type":"IN_APP","userId":"%s","title":"%s","content":"c",'
            '"metadata":{%s}}' % (uid, title, meta)).encode()
    st, j, _ = d.post(API + "/notifications", body=body,
                      headers={"Content-Type": "application/json"})
    return st


def test_stream_client_that_never_reads_is_ended(conf, notifyd):
    """A client that never reads is ended once it is 1 MiB behind (the
    api process does not buffer for it without end); a fresh stream
    resumes from Last-Event-ID 0 and misses nothing."""
    import socket
    from test_inbox import Sse
    d = notifyd(inbox_conf(conf))
    lazy = socket.create_connection(("127.0.0.1", d.port))
    lazy.sendall(("GET %s/users/lazy/inbox/stream HTTP/1.1\r\nHost: x\r\n"
                  "\r\n" % API).encode())
    time.sleep(0.5)
    blob = "y" * (200 << 10)
    n = 60                          # 12 MB: past the socket buffers
    for i in range(n):
        assert post_raw(d, "lazy", "t%d" % i, '"b":"%s"' % blob) == 202
    nd.wait_until(lambda: inbox(d, "lazy", "?limit=1")[1]["unread"] == n,
                  60, msg="%d items delivered" % n)
    # read now: the stream ends (its last chunk) instead of all n items
    lazy.settimeout(10)
    got = b""
    while True:
        try:
            chunk = lazy.recv(1 << 20)
        except socket.timeout:
            break
        if not chunk:
            break
        got += chunk
        if got.endswith(b"\r\n0\r\n\r\n"):     # the last chunk
            break
    lazy.close()
    assert got.count(b"event: notification") < n, len(got)
    assert got.endswith(b"\r\n0\r\n\r\n"), got[-200:]
    seen = set()
    last = 0
    for _ in range(30):
        s = Sse(d.port, "lazy", last_id=last, timeout=20)
        while True:
            ev = s.next(3)
            if ev is None:
                break
            seen.add(ev["json"]["title"])
            last = int(ev["id"])
        s.close()
        if len(seen) >= n:
            break
    assert seen == {"t%d" % i for i in range(n)}


def test_webhook_trickling_or_hostile_answer_is_bounded(conf, tmp_path,
                                                       receiver, notifyd):
    """An endpoint that answers 200 and then trickles its body one byte a
    second is cut at the endpoint's timeout (not SENT: the answer never
    completed) and retried; headers with bad bytes, a negative and an
    absurd Retry-After do not break the worker."""
    import socket
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    hits = []

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            hits.append(time.monotonic())
            c.recv(65536)
            try:
                if len(hits) == 1:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n"
                              b"\r\n")
                    for _ in range(30):
                        c.sendall(b"x")
                        time.sleep(1)
                elif len(hits) == 2:
                    c.sendall(b"HTTP/1.1 200 OK\r\nX-Nul: a\x00b\r\n"
                              b"Content-Length: 0\r\n\r\n")
                else:
                    c.sendall(b"HTTP/1.1 503 x\xff\r\nRetry-After: -5\r\n"
                              b"X-Bad: \xff\xfe\x01\r\nRetry-After: "
                              + b"9" * 500 + b"\r\nContent-Length: 3\r\n"
                              b"\r\n\xff\x00\n")
            except OSError:
                pass
            c.close()
    threading.Thread(target=serve, daemon=True).start()
    ep = {"name": "trickle", "timeout": 1.0,
          "url": "http://127.0.0.1:%d/t" % srv.getsockname()[1],
          "secret_file": str(tmp_path / "a.key")}
    d = notifyd(webhook_conf(conf, tmp_path, receiver, extra=[ep]),
                wait_ready=True)
    t0 = time.monotonic()
    st, j, _ = d.post(PATH, json={"type": "WEBHOOK", "endpoint": "trickle",
                                  "userId": 1, "title": "t",
                                  "content": "c"}, headers=SEND)
    assert st == 202, j
    # a 1 s timeout; a NUL in a header is no answer (retried, never SENT);
    # then a 503 with bad bytes and absurd Retry-Afters
    n = nd.wait_until(lambda: len(d.get("%s/%d" % (PATH, j["id"]),
                      headers=SEND)[1]["history"]) >= 3 and
                      d.get("%s/%d" % (PATH, j["id"]), headers=SEND)[1],
                      20, msg="two attempts")
    assert time.monotonic() - t0 < 15
    h = n["history"]
    assert h[0]["code"] is None and "timeout" in h[0]["text"], h[0]
    assert h[1]["code"] is None and h[1]["outcome"] == "temporary", h[1]
    assert h[2]["code"] == 503, h[2]["text"]
    assert "\x00" not in h[2]["text"] and "\ufffd" not in h[2]["text"], h[2]
    assert n["status"] == "FAILED", n           # 3 attempts spent
    srv.close()


def test_webhook_too_large_names_the_member_that_is(conf, tmp_path,
                                                    receiver, notifyd):
    """A WEBHOOK whose metadata makes it larger than webhook.max_body was
    413 naming "content", a field the client kept small."""
    d = notifyd(webhook_conf(conf, tmp_path, receiver), wait_ready=True)
    st, j, _ = d.post(PATH, json={"type": "WEBHOOK", "endpoint": "ok",
                                  "userId": 1, "title": "t", "content": "c",
                                  "metadata": {"m": "x" * 300000}},
                      headers=SEND)
    assert (st, j.get("field")) == (413, "metadata"), j
    st, j, _ = d.post(PATH, json={"type": "WEBHOOK", "endpoint": "ok",
                                  "userId": 1, "title": "t",
                                  "content": "x" * 300000}, headers=SEND)
    assert (st, j.get("field")) == (413, "content"), j


def test_410_on_the_events_endpoint_is_retried_not_dropped(conf, tmp_path,
                                                            receiver,
                                                            notifyd):
    """A 410 from events.endpoint neither drops the event nor stops the
    sender: the same event (same id) comes again and, once answered 2xx,
    no more."""
    from test_events import events_conf, post as ev_post
    receiver.plan("/events", (410, {"Retry-After": "-1"}, b"gone"),
                  (410, {"Retry-After": "1e9"}, b"\xff\x00gone"))
    d = notifyd(events_conf(conf, tmp_path, receiver))
    nid = ev_post(d, "ok")

    def evs():
        return [json.loads(b) for p, _, b, _ in receiver.requests("/events")
                if json.loads(b)["notificationId"] == nid]
    got = nd.wait_until(lambda: len(evs()) >= 3 and evs(), 30,
                        msg="the event three times")
    assert len({e["id"] for e in got}) == 1, got
    time.sleep(1.5)
    assert len(evs()) == 3, evs()
    st, eps, _ = d.get("/notification_service/api/webhooks/endpoints",
                       headers={"Authorization": "Bearer adm"})
    assert st == 200, eps
