"""The in-app inbox (issue 17, type IN_APP): delivery through the
pipeline (row -> Kafka -> the inbox worker marks it SENT and publishes
it), the inbox routes, and the Server-Sent Events stream: Last-Event-ID
resumes, heartbeat, LISTEN/NOTIFY across api processes and instances,
connection limits, reload and stop.  Clients: urllib, curl and a small
SSE client over a raw socket (it sees the chunked framing, so a clean
end of stream is told from a cut connection)."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse

import pytest

import nd

API = "/notification_service/api"


def inbox_conf(conf, **over):
    """Email API on (IN_APP is accepted with it), no mailers, one inbox
    worker, a short heartbeat."""
    return nd.merge(conf, nd.merge({
        "email": {"enabled": True, "workers": 0},
        "inbox": {"workers": 1, "heartbeat": 0.5},
    }, over))


def post(d, uid, title="hello", headers=None, **extra):
    body = {"type": "IN_APP", "userId": uid, "title": title,
            "content": "<p>%s</p>" % title}
    body.update(extra)
    return d.post(API + "/notifications", json=body, headers=headers)


def inbox(d, uid, query="", headers=None):
    return d.get("%s/users/%s/inbox%s" % (API, urllib.parse.quote(str(uid),
                 safe=""), query), headers=headers)


def wait_delivered(d, uid, n, timeout=60):
    def ok():
        st, body, _ = inbox(d, uid, "?limit=500")
        return st == 200 and len(body["items"]) >= n and body
    return nd.wait_until(ok, timeout, msg="%d items in %s's inbox" % (n, uid))


class Sse:
    """An SSE client on a raw socket: status and headers, the chunked
    body decoded, events parsed ("id", "event", "data"; comments)."""

    def __init__(self, port, uid, last_id=None, headers=None, timeout=10,
                 path=None):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        path = path or "%s/users/%s/inbox/stream" % (
            API, urllib.parse.quote(str(uid), safe=""))
        lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1",
                 "Accept: text/event-stream"]
        if last_id is not None:
            lines.append("Last-Event-ID: %s" % last_id)
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode(
            "latin-1"))
        self.raw = b""
        self.body = b""
        self.ended = False      # the chunked body's last chunk came
        self.closed = False     # the server closed the connection
        self.comments = []
        self._head(timeout)

    def _recv(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return False
        self.raw += data
        return True

    def _head(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.raw:
            if not self._recv(deadline):
                raise AssertionError("no response head: %r" % self.raw)
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = self.headers.get("transfer-encoding") == "chunked"
        self._dechunk()

    def _dechunk(self):
        if not self.chunked:
            self.body += self.raw
            self.raw = b""
            return
        while not self.ended and b"\r\n" in self.raw:
            size_line, rest = self.raw.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                self.ended = True
                self.raw = rest
                return
            if len(rest) < size + 2:
                return
            self.body += rest[:size]
            self.raw = rest[size + 2:]

    def next(self, timeout=30):
        """The next event (a dict), or None at the end of the stream or
        when none came in time (the default is for an event expected:
        it returns as soon as the event comes)."""
        deadline = time.monotonic() + timeout
        while True:
            ev = self._parse()
            if ev is not None:
                return ev
            if self.ended or self.closed:
                return None
            if time.monotonic() >= deadline:
                return None
            if self._recv(deadline):
                self._dechunk()

    def _parse(self):
        while b"\n\n" in self.body:
            block, self.body = self.body.split(b"\n\n", 1)
            ev = {}
            for line in block.decode().split("\n"):
                if line.startswith(":"):
                    self.comments.append(line)
                    continue
                k, _, v = line.partition(":")
                v = v[1:] if v.startswith(" ") else v
                if k == "data" and "data" in ev:
                    ev["data"] += "\n" + v
                else:
                    ev[k] = v
            if "data" in ev:
                ev["json"] = json.loads(ev["data"])
                return ev
        return None

    def wait_end(self, timeout=10):
        """Reads to the end; True when it ended cleanly (last chunk)."""
        deadline = time.monotonic() + timeout
        while not self.ended and not self.closed and \
                time.monotonic() < deadline:
            if self._recv(deadline):
                self._dechunk()
        return self.ended

    def close(self):
        self.sock.close()


def events(s, n, timeout=30):
    out = []
    for _ in range(n):
        ev = s.next(timeout)
        assert ev is not None, "got %d of %d events" % (len(out), n)
        out.append(ev)
    return out


# ------------------------------------------------------------------ tests

def test_inbox_delivery_list_read(conf, notifyd, db):
    d = notifyd(inbox_conf(conf))
    ids = []
    for i in range(3):
        st, body, _ = post(d, "u1", "t%d" % i)
        assert st == 202, body
        assert body["type"] == "IN_APP" and body["recipient"] == "u1"
        ids.append(body["id"])
    body = wait_delivered(d, "u1", 3)
    assert sorted(it["id"] for it in body["items"]) == ids
    assert body["unread"] == 3 and body["next"] is None
    seqs = [it["seq"] for it in body["items"]]
    assert seqs == sorted(seqs, reverse=True)   # newest (arrival) first
    ids = [it["id"] for it in body["items"]][::-1]  # in arrival order
    assert all(not it["read"] and it["readAt"] is None for it in body["items"])
    # the pipeline: SENT, one attempt in the history
    st, n, _ = d.get(API + "/notifications/%d" % ids[0])
    assert n["status"] == "SENT" and n["type"] == "IN_APP", n
    assert [h["outcome"] for h in n["history"]] == ["sent"]
    # keyset pages
    st, p1, _ = inbox(d, "u1", "?limit=2")
    assert [it["id"] for it in p1["items"]] == ids[:0:-1]
    assert p1["next"] == p1["items"][-1]["seq"]
    st, p2, _ = inbox(d, "u1", "?limit=2&after=%d" % p1["next"])
    assert [it["id"] for it in p2["items"]] == ids[:1] and p2["next"] is None
    # read one, twice: the first read's time stays
    st, r1, _ = d.post("%s/users/u1/inbox/%d/read" % (API, ids[1]))
    assert st == 200 and r1["read"] and r1["unread"] == 2, r1
    st, r2, _ = d.post("%s/users/u1/inbox/%d/read" % (API, ids[1]))
    assert st == 200 and r2["readAt"] == r1["readAt"] and r2["unread"] == 2
    st, un, _ = inbox(d, "u1", "?unread=true")
    assert [it["id"] for it in un["items"]] == [ids[2], ids[0]]
    # another user's item is not in this inbox
    st, e, _ = d.post("%s/users/u2/inbox/%d/read" % (API, ids[0]))
    assert st == 404 and e["field"] == "id"
    # read-all up to a seq, then all
    st, ra, _ = d.post("%s/users/u1/inbox/read-all?upTo=%d"
                       % (API, seqs[-1]))
    assert st == 200 and ra["marked"] == 1 and ra["unread"] == 1, ra
    st, ra, _ = d.post("%s/users/u1/inbox/read-all" % API)
    assert st == 200 and ra == {"userId": "u1", "marked": 1, "unread": 0}
    assert db.scalar("SELECT count(*) FROM email_notifications WHERE "
                     "read_at IS NULL AND inbox_seq IS NOT NULL") == 0


def test_inbox_user_ids_as_text(conf, notifyd):
    """42 and "42" are one user, as in the preferences."""
    d = notifyd(inbox_conf(conf))
    assert post(d, 42, "number")[0] == 202
    assert post(d, "42", "string")[0] == 202
    body = wait_delivered(d, "42", 2)
    # newest first is arrival order (inbox_seq): Kafka partitions may
    # deliver two posts in either order
    assert sorted((it["title"], it["userId"]) for it in body["items"]) == \
        [("number", 42), ("string", "42")]


def test_stream_live_then_resume_without_gaps(conf, notifyd):
    d = notifyd(inbox_conf(conf))
    s = Sse(d.port, "u1")
    assert s.status == 200
    assert s.headers["content-type"] == "text/event-stream"
    assert s.headers["cache-control"] == "no-store"
    assert s.headers["connection"] == "close" and s.chunked
    sent = [post(d, "u1", "live%d" % i)[1]["id"] for i in range(3)]
    got = events(s, 3)
    assert sorted(e["json"]["id"] for e in got) == sorted(sent)
    assert all(e["event"] == "notification" for e in got)
    ids = [int(e["id"]) for e in got]
    assert ids == sorted(ids) and [e["json"]["seq"] for e in got] == ids
    listed = {it["id"]: it for it in inbox(d, "u1")[1]["items"]}
    for e in got:                       # the list's item, compact JSON
        assert e["json"] == listed[e["json"]["id"]]
        assert e["data"] == json.dumps(e["json"], separators=(",", ":"),
                                       ensure_ascii=False)
    assert s.next(0.5) is None          # nothing more, nothing twice
    s.close()
    # missed while away: exactly those on resume, then live ones
    missed = [post(d, "u1", "away%d" % i)[1]["id"] for i in range(4)]
    wait_delivered(d, "u1", 7)
    s = Sse(d.port, "u1", last_id=ids[-1])
    got = events(s, 4)
    assert sorted(e["json"]["id"] for e in got) == sorted(missed)
    assert s.next(0.5) is None
    later = post(d, "u1", "later")[1]["id"]
    ev = s.next()
    assert ev["json"]["id"] == later and int(ev["id"]) > int(got[-1]["id"])
    s.close()
    # resuming from an older id replays everything after it, in order
    s = Sse(d.port, "u1", last_id=ids[0])
    got = events(s, 7)
    assert [int(e["id"]) for e in got] == sorted(int(e["id"]) for e in got)
    assert int(got[0]["id"]) == ids[1]  # the first one after ids[0]
    assert s.next(0.5) is None
    s.close()
    # another user's items never show
    o = Sse(d.port, "someone-else")
    post(d, "u1", "not yours")
    assert o.next(1) is None
    o.close()


def test_stream_resume_while_items_arrive(conf, notifyd):
    """Items delivered while a stream catches up appear once each."""
    d = notifyd(inbox_conf(conf))
    for i in range(30):
        assert post(d, "busy", "old%d" % i)[0] == 202
    wait_delivered(d, "busy", 30)
    s = Sse(d.port, "busy", last_id=0)
    for i in range(20):
        assert post(d, "busy", "new%d" % i)[0] == 202
    got = events(s, 50, timeout=20)
    seqs = [int(e["id"]) for e in got]
    assert seqs == sorted(set(seqs))    # in order, no duplicate
    assert len({e["json"]["id"] for e in got}) == 50
    assert s.next(1) is None
    s.close()


def test_stream_with_curl(conf, notifyd):
    d = notifyd(inbox_conf(conf))
    st, first, _ = post(d, "curl-user", "before")
    wait_delivered(d, "curl-user", 1)
    seq = inbox(d, "curl-user")[1]["items"][0]["seq"]
    p = subprocess.Popen(
        ["curl", "-sN", "-D", "-", "--max-time", "4",
         "-H", "Last-Event-ID: %d" % (seq - 1),
         d.url + API + "/users/curl-user/inbox/stream"],
        stdout=subprocess.PIPE)
    time.sleep(1)
    post(d, "curl-user", "after")
    out = p.communicate(timeout=10)[0].decode()
    assert out.startswith("HTTP/1.1 200"), out
    assert "Content-Type: text/event-stream" in out
    assert "retry: 1000\n\n" in out
    assert "id: %d\nevent: notification\ndata: {" % seq in out
    assert '"title":"before"' in out and '"title":"after"' in out
    assert ": keep-alive\n\n" in out     # heartbeat 0.5 s, idle seconds


def test_stream_heartbeat(conf, notifyd):
    d = notifyd(inbox_conf(conf, inbox={"heartbeat": 0.3}))
    s = Sse(d.port, "quiet")
    t0 = time.monotonic()
    assert s.next(1.5) is None and not s.ended
    assert len(s.comments) >= 2, s.comments
    assert all(c == ": keep-alive" for c in s.comments)
    assert time.monotonic() - t0 >= 1.4
    s.close()


def test_stream_across_processes_and_instances(conf, notifyd, db):
    """An item posted on instance A reaches streams held by both api
    processes of instance B (LISTEN/NOTIFY on the shared database)."""
    a = notifyd(inbox_conf(conf, http={"processes": 2}))
    b_conf = inbox_conf(conf, http={"processes": 2, "port": nd.free_port()},
                        inbox={"workers": 0})
    b = notifyd(b_conf)
    streams = [Sse(b.port, "shared") for _ in range(8)]
    streams += [Sse(a.port, "shared") for _ in range(2)]
    # the streams were served by more than one process of B
    holders = db.scalar(
        "SELECT count(DISTINCT pid) FROM pg_stat_activity "
        "WHERE query LIKE 'LISTEN notifyd_inbox%' OR query LIKE "
        "'SELECT ''notifyd inbox hub''%'")
    assert holders >= 4, holders       # two api processes per instance
    ids = [post(a, "shared", "x%d" % i)[1]["id"] for i in range(3)]
    for s in streams:
        got = events(s, 3)
        assert sorted(e["json"]["id"] for e in got) == sorted(ids)
        assert s.next(0.3) is None
        s.close()


def test_stream_connection_limits(conf, notifyd):
    """Streams count against http.max_connections and the per-address
    limit: at the limit a new client waits in the backlog until a stream
    goes, and gets its answer then."""
    d = notifyd(inbox_conf(conf, http={"max_connections": 16,
                                       "max_connections_per_ip": 0}))
    streams = [Sse(d.port, "lim%d" % i) for i in range(16)]
    c = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    c.settimeout(1.0)
    with pytest.raises(socket.timeout):
        c.recv(100)
    streams[0].close()
    c.settimeout(5)
    assert c.recv(100).startswith(b"HTTP/1.1 200")
    c.close()
    for s in streams[1:]:
        s.close()
    e = notifyd(inbox_conf(conf, http={"port": nd.free_port(),
                                       "max_connections_per_ip": 3}))
    held = [Sse(e.port, "ip%d" % i) for i in range(3)]
    with pytest.raises((AssertionError, ConnectionError, OSError)):
        extra = Sse(e.port, "ip-extra", timeout=2)
        assert extra.status == 200
        extra.close()
    for s in held:
        assert s.next(0.1) is None and not s.closed
        s.close()


def test_stream_ends_cleanly_on_reload_and_stop(conf, notifyd):
    d = notifyd(inbox_conf(conf))
    s = Sse(d.port, "r1")
    post(d, "r1", "one")
    ev = s.next()
    n = len(d.notifications())
    d.signal(signal.SIGHUP)
    # the old generation serves until the new one is ready, then drains:
    # its stream ends at once, not at the drain's deadline (8 s)
    d.wait_notify("READY=1", after=n)
    t0 = time.monotonic()
    assert s.wait_end(8), "stream not ended by the reload: %r" % s.raw
    assert time.monotonic() - t0 < 2
    # the client resumes on the new generation: nothing lost meanwhile
    post(d, "r1", "during")
    s2 = Sse(d.port, "r1", last_id=ev["id"])
    # delivered by the new generation's worker once the old one left the
    # group (a rebalance: seconds, more on a loaded machine)
    ev2 = s2.next(60)
    assert ev2 is not None and ev2["json"]["title"] == "during"
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    assert s2.wait_end(8), "stream not ended by the stop"
    assert d.wait(10) == 0
    assert time.monotonic() - t0 < 5    # not the shutdown timeout (10 s)
    s.close()
    s2.close()


def test_stream_ends_when_listener_lost(conf, notifyd, db):
    """Announcements are lost with the LISTEN connection: streams end,
    clients resume from the database, and nothing is missed."""
    d = notifyd(inbox_conf(conf))
    s = Sse(d.port, "lost")
    post(d, "lost", "first")
    first = s.next()
    db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             "WHERE query LIKE 'LISTEN notifyd_inbox%' OR query LIKE "
             "'SELECT ''notifyd inbox hub''%' OR query LIKE "
             "'SELECT n.inbox_seq, n.user_id%'")
    assert s.wait_end(5)
    post(d, "lost", "second")
    d.wait_log(r"inbox streams: listening again")
    s2 = Sse(d.port, "lost", last_id=first["id"])
    assert s2.next()["json"]["title"] == "second"
    s2.close()


def hostile_status(d, method, path, headers=None):
    return d.request(method, path, headers=headers)


def test_inbox_hostile_input(conf, notifyd):
    d = notifyd(inbox_conf(conf))
    u = API + "/users/"
    long_uid = "x" * 257
    cases = [
        ("GET", u + long_uid + "/inbox", None, 400, "userId"),
        ("GET", u + long_uid + "/inbox/stream", None, 400, "userId"),
        ("GET", u + "a%00b/inbox", None, 400, "userId"),
        ("GET", u + "a%FFb/inbox/stream", None, 400, "userId"),
        ("GET", u + "a%0Ab/inbox", None, 400, "userId"),
        ("GET", u + "u/inbox?limit=0", None, 400, "limit"),
        ("GET", u + "u/inbox?limit=x", None, 400, "limit"),
        ("GET", u + "u/inbox?after=-5", None, 400, "after"),
        ("GET", u + "u/inbox?after=99999999999999999999", None, 400, "after"),
        ("GET", u + "u/inbox?unread=maybe", None, 400, "unread"),
        ("GET", u + "u/inbox?bogus=1", None, 400, "bogus"),
        ("GET", u + "u/inbox/stream?x=1", None, 400, "x"),
        ("POST", u + "u/inbox/abc/read", None, 404, "id"),
        ("POST", u + "u/inbox/1e3/read", None, 404, "id"),
        ("POST", u + "u/inbox/" + "9" * 30 + "/read", None, 404, "id"),
        ("POST", u + "u/inbox/424242/read", None, 404, "id"),
        ("POST", u + "u/inbox/read-all?upTo=-1", None, 400, "upTo"),
    ]
    for lid in ["abc", "-1", "1 2", "99999999999999999999", "+5", "0x10",
                "1" * 300]:
        cases.append(("GET", u + "u/inbox/stream", {"Last-Event-ID": lid},
                      400, "Last-Event-ID"))
    for method, path, headers, status, field in cases:
        st, body, _ = d.request(method, path, headers=headers)
        assert (st, body.get("field") if isinstance(body, dict) else body) \
            == (status, field), (method, path, headers, body)
    # wrong methods and paths
    assert d.request("DELETE", u + "u/inbox")[0] == 405
    assert d.request("GET", u + "u/inbox/read-all")[0] == 405
    # POSTs of IN_APP that name what it does not use, or an unaddressable
    # user
    for extra, field in [({"recipient": "a@example.com"}, "recipient"),
                         ({"from": "a@example.com"}, "from"),
                         ({"userId": "a/b"}, "userId"),
                         ({"userId": "y" * 257}, "userId"),
                         ({"userId": ["x"]}, "userId"),
                         ({"userId": "a\u0000b"}, "userId")]:
        body = {"type": "IN_APP", "userId": "u", "title": "t",
                "content": "c"}
        body.update(extra)
        st, e, _ = d.post(API + "/notifications", json=body)
        assert st == 400 and e["field"] in (field, "userId"), (extra, e)
    # nothing was stored by any of it
    assert inbox(d, "u")[1]["items"] == []


def test_inbox_scopes(conf, notifyd):
    d = notifyd(inbox_conf(conf, http={
        "tokens": ["rd:read", "snd:send", "adm:admin"]}))
    auth = lambda t: {"Authorization": "Bearer " + t}
    assert post(d, "sc", "x", headers=auth("snd"))[0] == 202
    assert inbox(d, "sc")[0] == 401
    assert inbox(d, "sc", headers=auth("snd"))[0] == 403
    wait = nd.wait_until(lambda: inbox(d, "sc", headers=auth("rd"))[1][
        "items"], 60)
    item = wait[0]["id"]
    rd = Sse(d.port, "sc", headers=auth("rd"))
    assert rd.status == 200
    rd.close()
    assert Sse(d.port, "sc", headers=auth("snd")).status == 403
    assert Sse(d.port, "sc").status == 401
    path = "%s/users/sc/inbox/%d/read" % (API, item)
    assert d.post(path, headers=auth("rd"))[0] == 403
    assert d.post(path, headers=auth("snd"))[0] == 200
    assert d.post(API + "/users/sc/inbox/read-all",
                  headers=auth("rd"))[0] == 403
    assert d.post(API + "/users/sc/inbox/read-all",
                  headers=auth("adm"))[0] == 200


def test_inbox_answers_match_openapi(conf, notifyd):
    import test_http_conventions as hc     # its validator, not its tests
    doc = hc.doc_file()
    d = notifyd(inbox_conf(conf))
    answer = post(d, "123", "doc")
    hc.check_answer(doc, API + "/notifications", "POST", answer)
    nid = answer[1]["id"]
    wait_delivered(d, "123", 1)
    hc.check_answer(doc, API + "/notifications/{id}", "GET",
                    d.get(API + "/notifications/%d" % nid))
    req = doc["components"]["schemas"]["InAppNotificationRequest"]
    hc.validator(doc, req).validate({"type": "IN_APP", "userId": "123",
                                     "title": "doc", "content": "c"})
    base = API + "/users/{userId}/inbox"
    hc.check_answer(doc, base, "GET", inbox(d, "123"))
    hc.check_answer(doc, base, "GET", inbox(d, "123", "?limit=0"))
    hc.check_answer(doc, base + "/{id}/read", "POST",
                    d.post("%s/users/123/inbox/%d/read" % (API, nid)))
    hc.check_answer(doc, base + "/{id}/read", "POST",
                    d.post("%s/users/123/inbox/1/read" % API))
    hc.check_answer(doc, base + "/read-all", "POST",
                    d.post("%s/users/123/inbox/read-all" % API))
    hc.check_answer(doc, base + "/stream", "GET",
                    d.get(API + "/users/123/inbox/stream",
                          headers={"Last-Event-ID": "-1"}))
    s = Sse(d.port, "123")
    op = doc["paths"][base + "/stream"]["get"]["responses"]["200"]
    assert s.headers["content-type"] in op["content"]
    s.close()


def test_inbox_pipeline_scheduled_cancel_duplicate(conf, notifyd, kafka, db):
    """IN_APP rides the shared pipeline: a sendAt is delivered by the due
    scan (on inbox.topic), a cancel before it holds, and a duplicate
    Kafka message of a delivered row changes nothing."""
    d = notifyd(inbox_conf(conf, sweeper={"enabled": True, "interval": 0.5,
                                          "pending_after": 2}))
    s = Sse(d.port, "sched")
    at = int(time.time()) + 2
    st, later, _ = post(d, "sched", "later", sendAt=at)
    assert st == 202 and later["status"] == "SCHEDULED", later
    st, gone, _ = post(d, "sched", "cancelled", sendAt=at)
    assert d.post(API + "/notifications/%d/cancel" % gone["id"])[0] == 200
    assert inbox(d, "sched")[1]["items"] == []
    ev = s.next(60)
    assert ev is not None and ev["json"]["id"] == later["id"], ev
    assert time.time() >= at
    assert s.next(1) is None            # the cancelled one never comes
    st, n, _ = d.get(API + "/notifications/%d" % gone["id"])
    assert n["status"] == "CANCELLED"
    # a duplicate message of the delivered row: no second delivery
    seq = db.scalar("SELECT inbox_seq FROM email_notifications WHERE id = %s",
                    (later["id"],))
    # on every partition, the duplicate and then a marker row after it:
    # once the 4 markers are in, every duplicate has been read
    markers = []
    for p in range(4):
        mid = db.scalar("INSERT INTO email_notifications (type, title, "
                        "content, user_id, recipient) VALUES ('IN_APP', "
                        "'marker', 'm', '\"sched\"', 'sched') RETURNING id")
        markers.append(mid)
        kafka.produce("notifications.inapp", [str(later["id"]), str(mid)],
                      partition=p)
    got = events(s, 4)
    assert sorted(e["json"]["id"] for e in got) == sorted(markers)
    assert s.next(1) is None
    assert db.scalar("SELECT inbox_seq FROM email_notifications WHERE id = "
                     "%s", (later["id"],)) == seq
    st, n, _ = d.get(API + "/notifications/%d" % later["id"])
    assert n["status"] == "SENT" and n["attempts"] == 1
    assert len(n["history"]) == 1
    s.close()


def test_stream_odd_user_ids_and_head(conf, notifyd):
    """User ids with spaces and non-ASCII text stream like any other (the
    NOTIFY payload is "SEQ USERID"); HEAD answers at once."""
    d = notifyd(inbox_conf(conf))
    for uid in ["a b  c", "ü 用户", "x" * 256, "-7"]:
        s = Sse(d.port, uid)
        nid = post(d, uid if uid != "-7" else -7, "odd")[1]["id"]
        ev = s.next()
        assert ev is not None and ev["json"]["id"] == nid, uid
        s.close()
    t0 = time.monotonic()
    st, body, headers = d.request("HEAD", API + "/users/h/inbox/stream")
    assert st == 200 and headers["Content-Type"] == "text/event-stream"
    assert time.monotonic() - t0 < 2


def test_inapp_id_on_the_email_topic_is_delivered_by_the_mailer(
        conf, notifyd, kafka, db):
    """Should an IN_APP id reach the email topic (a hand-made message, a
    misrouted requeue), the mailer delivers it through channel_inapp's
    ops and its own outcome write: the trigger publishes it all the same,
    no mail goes out and nothing crashes."""
    d = notifyd(inbox_conf(conf, email={"workers": 1},
                           inbox={"workers": 0}))
    s = Sse(d.port, "via-mailer")
    nid = db.scalar("INSERT INTO email_notifications (type, title, content, "
                    "user_id, recipient) VALUES ('IN_APP', 'mailed', 'c', "
                    "'\"via-mailer\"', 'via-mailer') RETURNING id")
    kafka.produce("notifications.email", [str(nid)], key=str(nid))
    ev = s.next(60)
    assert ev is not None and ev["json"]["id"] == nid
    st, n, _ = d.get(API + "/notifications/%d" % nid)
    assert n["status"] == "SENT"
    assert [h["outcome"] for h in n["history"]] == ["sent"]
    assert n["history"][0]["smtpText"] == "delivered to the inbox"
    s.close()


def test_stream_reconnects_lose_and_repeat_nothing(conf, notifyd):
    """Two inbox workers deliver concurrently, two api processes serve
    the reconnects, and a client that drops its stream every few events
    and resumes with Last-Event-ID sees every item exactly once, in seq
    order."""
    d = notifyd(inbox_conf(conf, http={"processes": 2},
                           inbox={"workers": 2}))
    total = 150
    import threading
    posted = []

    def poster():
        for i in range(total):
            posted.append(post(d, "churn", "c%d" % i)[1]["id"])
    t = threading.Thread(target=poster)
    s = Sse(d.port, "churn")
    t.start()
    seen, last, reconnects = [], None, 0
    # The deadline moves with progress: a slow machine (or a consumer
    # group still rebalancing) delays items, it must not lose them.
    # Whether an item was lost or only late is told apart below, by the
    # inbox list (the database).
    deadline, delivered = time.monotonic() + 60, False
    while len(seen) < total and time.monotonic() < deadline:
        ev = s.next(0.3)
        if ev is not None:
            seen.append((int(ev["id"]), ev["json"]["id"]))
            last = ev["id"]
            deadline = max(deadline, time.monotonic() + 30)
        elif last is None:
            continue    # a stream without Last-Event-ID starts at "now"
        if ev is None or len(seen) % 7 == 0:
            s.close()
            s = Sse(d.port, "churn", last_id=last)
            reconnects += 1
        if not delivered and not t.is_alive() and len(seen) < total:
            wait_delivered(d, "churn", total, timeout=120)
            delivered = True
            deadline = time.monotonic() + 30
    t.join(30)
    assert s.next(1) is None
    s.close()
    seqs = [q for q, _ in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    missing = set(posted) - set(n for _, n in seen)
    assert not missing, ("delivered (in the inbox) but never streamed: %s"
                         % sorted(missing))
    assert sorted(n for _, n in seen) == sorted(posted)
    assert reconnects >= 10, reconnects


def test_stream_refused_while_database_away(conf, notifyd, pg):
    """Without its LISTEN connection a process cannot promise a gap-free
    stream: open streams end, new ones get 503 with Retry-After, and all
    is back once PostgreSQL is."""
    d = notifyd(inbox_conf(conf))
    s = Sse(d.port, "away")
    mark = d.mark()
    try:
        pg.stop()
        assert s.wait_end(10)
        d.wait_log(r"inbox streams: listening connection lost", since=mark)
        r = Sse(d.port, "away")
        assert r.status == 503 and r.headers["retry-after"] == "1"
        assert r.headers["content-type"] == "application/problem+json"
        r.close()
    finally:
        pg.start()
    d.wait_log(r"inbox streams: listening again", timeout=20, since=mark)
    s2 = Sse(d.port, "away")
    assert s2.status == 200
    post(d, "away", "back")
    back = s2.next(30)      # the inbox worker reconnects to PostgreSQL too
    assert back is not None and back["json"]["title"] == "back"
    s2.close()


def test_inbox_preferences_apply_address_suppression_does_not(
        conf, notifyd, db, kafka):
    """A category the user opted out of holds IN_APP items back
    (SUPPRESSED, never in the inbox); the email suppression list is about
    addresses and does not, even for a user id that looks like one."""
    d = notifyd(inbox_conf(conf))
    supp = API + "/suppressions/a@example.com"
    assert d.request("PUT", supp)[0] in (200, 201)
    st, p, _ = d.request("PUT", API + "/users/a@example.com/preferences",
                         json_body={"optedOut": ["promo"]})
    assert st == 200, p
    ok = post(d, "a@example.com", "plain")[1]
    held = post(d, "a@example.com", "promo", category="promo")[1]
    assert held["status"] == "SUPPRESSED", held
    body = wait_delivered(d, "a@example.com", 1)
    assert [it["id"] for it in body["items"]] == [ok["id"]]
    # opted out after acceptance: held back at delivery by the worker
    late = db.scalar("INSERT INTO email_notifications (type, title, content,"
                     " user_id, recipient, category) VALUES ('IN_APP', 'l', "
                     "'c', '\"b-user\"', 'b-user', 'news') RETURNING id")
    st, p, _ = d.request("PUT", API + "/users/b-user/preferences",
                         json_body={"optedOut": ["news"]})
    assert st == 200, p
    kafka.produce("notifications.inapp", [str(late)], key=str(late))
    n = nd.wait_until(lambda: (lambda n: n["status"] != "PENDING" and n)(
        d.get(API + "/notifications/%d" % late)[1]), 60)
    assert n["status"] == "SUPPRESSED", n
    assert n.get("suppressedReason") == "preference", n
    assert inbox(d, "b-user")[1]["items"] == []
