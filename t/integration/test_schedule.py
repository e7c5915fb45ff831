"""Scheduled sends (issue 15): sendAt, SCHEDULED, the due scan, cancel.

End to end: POST with sendAt -> a SCHEDULED row -> the sweeper's due scan
-> Kafka (librdkafka's mock) -> a mailer -> the aiosmtpd sink, whose
file times say when each message arrived.
"""
import concurrent.futures
import datetime
import os
import signal
import time
from pathlib import Path

import nd

PATH = "/notification_service/api/notifications"


def sched_conf(conf, **over):
    """Email and sweeper on; the due scan at its default interval.  The
    mock broker holds an empty Fetch for all of fetch.wait.max.ms (500 ms
    by default) where a real broker answers when data arrives: lowered,
    so the timings are notifyd's (as in t/bench/bench.py)."""
    c = nd.merge(conf, {
        "kafka": {"properties": conf["kafka"]["properties"] +
                  ["fetch.wait.max.ms=5"]},
        "email": {"enabled": True, "workers": 2, "from": "notify@example.com",
                  "lease": 5,
                  "retry": {"initial": 0.3, "max_delay": 1, "jitter": 0}},
        "sweeper": {"enabled": True, "interval": 2, "pending_after": 3},
    })
    return nd.merge(c, over)


def body(title, **over):
    b = {"type": "EMAIL", "title": title, "content": "<p>hello</p>",
         "userId": 7, "recipient": "user@example.com"}
    b.update(over)
    return b


def post(d, b, want=202):
    status, resp, _ = d.post(PATH, json=b)
    assert status == want, resp
    return resp


def get(d, nid):
    status, resp, _ = d.get("%s/%d" % (PATH, nid))
    assert status == 200, resp
    return resp


def cancel(d, nid):
    status, resp, _ = d.post("%s/%s/cancel" % (PATH, nid))
    return status, resp


def wait_status(d, nid, status, timeout=30):
    return nd.wait_until(lambda: get(d, nid)["status"] == status and
                         get(d, nid), timeout,
                         msg="notification %d never %s" % (nid, status))


def arrivals(smtp):
    """{subject: [arrival times]} of the mail the sink accepted."""
    out = {}
    for m in smtp.messages():
        t = os.stat(Path(smtp.maildir) / (m["name"] + ".eml")).st_mtime
        out.setdefault(str(m["msg"]["Subject"]), []).append(t)
    return out


def warm_up(d, smtp):
    """One immediate send, so a mailer has joined the group (the mock's
    first join takes 3 s) before anything is timed."""
    resp = post(d, body("warm-up"))
    wait_status(d, resp["id"], "SENT")
    smtp.wait_messages(1)


def rfc3339(t, offset_min=60):
    tz = datetime.timezone(datetime.timedelta(minutes=offset_min))
    return datetime.datetime.fromtimestamp(t, tz).isoformat(
        timespec="microseconds")


# ------------------------------------------------------------ on time

def test_sendat_epoch_and_rfc3339_delivered_on_time(conf, notifyd, smtp):
    d = notifyd(sched_conf(conf))
    warm_up(d, smtp)
    epoch = int(time.time()) + 3
    exact = time.time() + 3.5
    a = post(d, body("epoch", sendAt=epoch))
    b = post(d, body("rfc3339", sendAt=rfc3339(exact)))
    for r in (a, b):
        assert r["status"] == "SCHEDULED"
        row = get(d, r["id"])
        assert row["status"] == "SCHEDULED" and row["attempts"] == 0
    assert a["sendAt"] == epoch and get(d, a["id"])["sendAt"] == epoch
    assert get(d, b["id"])["sendAt"] == int(exact)
    wait_status(d, a["id"], "SENT", timeout=15)
    wait_status(d, b["id"], "SENT", timeout=15)
    got = arrivals(smtp)
    assert len(got["epoch"]) == 1 and len(got["rfc3339"]) == 1, got
    late_a = got["epoch"][0] - epoch
    late_b = got["rfc3339"][0] - exact
    print("delivered %.3f s and %.3f s after sendAt" % (late_a, late_b))
    assert 0 <= late_a < 1.0, late_a
    assert 0 <= late_b < 1.0, late_b


def test_past_sendat_sends_now(conf, notifyd, smtp):
    d = notifyd(sched_conf(conf))
    old = post(d, body("past", sendAt=int(time.time()) - 3600))
    zero = post(d, body("epoch zero", sendAt=0))
    now = post(d, body("now", sendAt=rfc3339(time.time(), 0)))
    nul = post(d, body("null", sendAt=None))
    for r in (old, zero, now, nul):
        assert r["status"] == "PROCESSING" and r["sendAt"] is None, r
        wait_status(d, r["id"], "SENT")
    assert sorted(arrivals(smtp)) == ["epoch zero", "now", "null", "past"]


# ------------------------------------------------------------ bad times

def test_beyond_horizon_is_422(conf, notifyd, db):
    d = notifyd(sched_conf(conf))
    status, resp, _ = d.post(PATH, json=body(
        "far", sendAt=int(time.time()) + 31 * 86400))
    assert status == 422 and resp["field"] == "sendAt", resp
    assert "email.schedule_horizon" in resp["detail"]
    ok = post(d, body("near", sendAt=int(time.time()) + 29 * 86400))
    assert ok["status"] == "SCHEDULED"
    d.stop()
    d = notifyd(nd.merge(sched_conf(conf), {
        "http": {"port": nd.free_port()},
        "email": {"schedule_horizon": "1h"}}))
    status, resp, _ = d.post(PATH, json=body(
        "1h+", sendAt=rfc3339(time.time() + 3700)))
    assert status == 422 and resp["field"] == "sendAt", resp
    post(d, body("1h-", sendAt=rfc3339(time.time() + 3500)))
    assert db.scalar("SELECT count(*) FROM email_notifications") == 2


def test_bad_horizon_config_is_refused(conf, tmp_path):
    d = nd.Notifyd(str(tmp_path), nd.merge(sched_conf(conf), {
        "email": {"schedule_horizon": "30 days"}}), args=("-t",))
    try:
        assert d.wait() != 0
        assert "email.schedule_horizon" in d.log()
    finally:
        d.cleanup()


def test_invalid_sendat_is_400(conf, notifyd, db):
    d = notifyd(sched_conf(conf))
    named = ["garbage", "", "2026-13-01T00:00:00Z", "2026-12-01",
             "2026-12-01T09:00:00", "2026-12-01 09:00:00Z",
             "2026-12-01T09:00:00+0100", "2026-12-01T09:00:00Z\r\nX: y",
             "\u00e9t\u00e9", "1796025600", "\u0000",
             1.5, 1e300, True, False, [], [1796025600], {"at": 1},
             -5, 10 ** 12, 2 ** 63 - 1, 2 ** 70]
    for v in named:
        status, resp, _ = d.post(PATH, json=body("bad", sendAt=v))
        assert status == 400, (v, resp)
        assert resp["field"] == "sendAt", (v, resp)
    raw = [b'{"type":"EMAIL","title":"t","content":"c","userId":1,'
           b'"recipient":"u@example.com","sendAt":"\xff\xfe"}',
           b'{"type":"EMAIL","title":"t","content":"c","userId":1,'
           b'"recipient":"u@example.com","sendAt":NaN}',
           b'{"type":"EMAIL","title":"t","content":"c","userId":1,'
           b'"recipient":"u@example.com","sendAt":1e400}']
    for b in raw:
        status, resp, _ = d.post(PATH, body=b,
                                 headers={"Content-Type": "application/json"})
        assert status == 400, (b, resp)
    assert db.scalar("SELECT count(*) FROM email_notifications") == 0


# ------------------------------------------------------------ cancel

def test_cancel_before_due_is_never_delivered(conf, notifyd, smtp):
    d = notifyd(sched_conf(conf))
    warm_up(d, smtp)
    at = int(time.time()) + 2
    r = post(d, body("cancelled", sendAt=at))
    kept = post(d, body("kept", sendAt=at))
    status, row = cancel(d, r["id"])
    assert status == 200 and row["status"] == "CANCELLED", row
    assert row["sendAt"] == at
    status, again = cancel(d, r["id"])          # idempotent
    assert status == 200 and again["status"] == "CANCELLED"
    wait_status(d, kept["id"], "SENT", timeout=15)
    time.sleep(1)
    assert get(d, r["id"])["status"] == "CANCELLED"
    assert "cancelled" not in arrivals(smtp)
    assert cancel(d, 999999)[0] == 404
    assert cancel(d, "12ab")[0] == 404


def test_cancel_pending_and_after_sent(conf, notifyd, smtp, db):
    d = notifyd(sched_conf(conf))
    warm_up(d, smtp)
    sent = post(d, body("sent"))
    wait_status(d, sent["id"], "SENT")
    status, resp = cancel(d, sent["id"])
    assert status == 409 and resp["field"] == "status", resp
    assert "SENT" in resp["detail"]
    # A PENDING row no mailer claimed (stored by hand, never produced)
    # can still be cancelled; a claimed (PROCESSING) one cannot.
    pid = db.scalar("INSERT INTO email_notifications (title, content, "
                    "user_id, recipient) VALUES ('p', 'c', '1', "
                    "'u@example.com') RETURNING id")
    assert cancel(d, pid)[1]["status"] == "CANCELLED"
    cid = db.scalar("INSERT INTO email_notifications (title, content, "
                    "user_id, recipient, status, lease_until, lease_owner) "
                    "VALUES ('c', 'c', '1', 'u@example.com', 'PROCESSING', "
                    "now() + interval '1 hour', 'someone') RETURNING id")
    assert cancel(d, cid)[0] == 409
    # The sweeper's pending recovery never revives a CANCELLED row.
    time.sleep(4)
    assert get(d, pid)["status"] == "CANCELLED"
    assert "p" not in arrivals(smtp)


def test_cancel_racing_delivery(conf, notifyd, smtp):
    d = notifyd(sched_conf(conf))
    warm_up(d, smtp)
    # Due one every 40 ms over 2.4 s; all cancelled at once 1 s in:
    # the first ones are sent, the last ones cancelled, and around the
    # middle the cancels meet the due scan and the mailers' claims.
    n = 60
    at = time.time() + 3
    ids = [post(d, body("race-%d" % i, sendAt=rfc3339(at + i * 0.04, 0)))
           ["id"] for i in range(n)]
    time.sleep(max(0, at + 1 - time.time()))
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        outcome = dict(zip(ids, ex.map(lambda i: cancel(d, i)[0], ids)))
    assert set(outcome.values()) <= {200, 409}, outcome
    final = {i: nd.wait_until(lambda: get(d, i)["status"] in
                              ("SENT", "CANCELLED") and get(d, i)["status"],
                              30, msg="row %d settles" % i) for i in ids}
    time.sleep(1)
    got = arrivals(smtp)
    for k, i in enumerate(ids):
        title = "race-%d" % k
        if outcome[i] == 200:
            assert final[i] == "CANCELLED" and title not in got, (i, got)
        else:
            assert final[i] == "SENT" and len(got[title]) == 1, (i, got)
    won = sum(v == 200 for v in outcome.values())
    print("cancelled %d, delivered %d" % (won, n - won))
    assert 0 < won < n, "no race: every cancel %s" % (
        "won" if won else "lost")


# ------------------------------------------------------------ durability

def test_survives_restart_and_sighup(conf, notifyd, smtp):
    c = sched_conf(conf)
    d = notifyd(c)
    # The restarted mailers wait out the killed ones' Kafka sessions and
    # the reload rejoins the group: both take seconds with the mock.
    at = int(time.time()) + 30
    r = post(d, body("across restart", sendAt=at))
    d.kill()
    d = notifyd(nd.merge(c, {"http": {"port": nd.free_port()}}))
    assert get(d, r["id"])["status"] == "SCHEDULED"
    at2 = int(time.time()) + 12
    r2 = post(d, body("across reload", sendAt=at2))
    after = len(d.notifications())
    d.signal(signal.SIGHUP)
    d.wait_notify("READY=1", after=after)
    assert "RELOADING=1" in d.notifications()[after:]
    print("restarted and reloaded %.1f s before the first sendAt"
          % (at - time.time()))
    assert time.time() < min(at, at2), "too slow to prove anything"
    assert get(d, r["id"])["status"] == "SCHEDULED"
    assert get(d, r2["id"])["status"] == "SCHEDULED"
    wait_status(d, r["id"], "SENT", timeout=40)
    wait_status(d, r2["id"], "SENT", timeout=40)
    time.sleep(1)
    got = arrivals(smtp)
    assert len(got["across restart"]) == 1 and len(got["across reload"]) == 1
    assert got["across restart"][0] >= at and got["across reload"][0] >= at2


def test_kafka_down_when_due(conf, notifyd, smtp, kafka, db):
    """Claimed while Kafka is away: PENDING, never queued, and then
    delivered once by the producer's retries or the sweep's recovery."""
    d = notifyd(sched_conf(conf))
    warm_up(d, smtp)
    at = int(time.time()) + 2
    r = post(d, body("while down", sendAt=at))
    kafka.down()
    d.wait_log(r"due: 1 scheduled notifications queued", timeout=10)
    row = db.query("SELECT status, queued_at FROM email_notifications "
                   "WHERE id = %s", (r["id"],))[0]
    assert row == ("PENDING", None), row
    time.sleep(1)
    kafka.up()
    wait_status(d, r["id"], "SENT", timeout=60)
    time.sleep(1)
    assert len(arrivals(smtp)["while down"]) == 1


def test_two_instances_deliver_each_once(conf, notifyd, smtp):
    c = sched_conf(conf)
    a = notifyd(c)
    # b's mailers join a's group: two rebalances under a loaded machine
    # can take longer than the fixture's 20 s wait for READY=1
    b = notifyd(nd.merge(c, {"http": {"port": nd.free_port()}}),
                wait_ready=False)
    b.wait_ready(timeout=90)
    warm_up(a, smtp)
    n = 80
    at = time.time() + 3
    ids = [post(a if i % 2 else b, body("twin-%d" % i,
                sendAt=rfc3339(at)))["id"] for i in range(n)]
    for i in ids:
        wait_status(a, i, "SENT", timeout=40)
    time.sleep(1.5)     # a duplicate would come now
    got = arrivals(smtp)
    for i in range(n):
        assert len(got["twin-%d" % i]) == 1, got["twin-%d" % i]
        assert min(got["twin-%d" % i]) >= at


# ------------------------------------------------------------ listing

def test_list_scheduled_and_cancelled(conf, notifyd):
    d = notifyd(sched_conf(conf))
    later = int(time.time()) + 3600
    s1 = post(d, body("s1", sendAt=later))
    s2 = post(d, body("s2", sendAt=later + 60))
    c = post(d, body("c", sendAt=later))
    assert cancel(d, c["id"])[0] == 200
    status, page, _ = d.get(PATH + "?status=SCHEDULED")
    assert status == 200
    assert [x["id"] for x in page["notifications"]] == [s2["id"], s1["id"]]
    assert [x["sendAt"] for x in page["notifications"]] == [later + 60, later]
    status, page, _ = d.get(PATH + "?status=CANCELLED")
    assert [x["id"] for x in page["notifications"]] == [c["id"]]
    status, resp, _ = d.get(PATH + "?status=LATER")
    assert status == 400 and "SCHEDULED" in resp["detail"]


def test_answers_match_openapi(conf, notifyd, smtp):
    import test_http_conventions as hc     # its validator, not its tests
    doc = hc.doc_file()
    one = PATH + "/{id}"
    d = notifyd(sched_conf(conf))
    warm_up(d, smtp)
    answer = d.post(PATH, json=body("doc", sendAt=int(time.time()) + 600))
    assert answer[1]["status"] == "SCHEDULED"
    hc.check_answer(doc, PATH, "POST", answer)
    nid = answer[1]["id"]
    hc.check_answer(doc, one, "GET", d.get("%s/%d" % (PATH, nid)))
    hc.check_answer(doc, PATH, "GET", d.get(PATH + "?status=SCHEDULED"))
    hc.check_answer(doc, PATH, "POST", d.post(PATH, json=body(
        "doc", sendAt="soon")))
    hc.check_answer(doc, PATH, "POST", d.post(PATH, json=body(
        "doc", sendAt=int(time.time()) + 90 * 86400)))
    cancelled = d.post("%s/%d/cancel" % (PATH, nid))
    assert cancelled[0] == 200
    hc.assert_problem(d.post(PATH + "/77777/cancel"), 404, "id")
    hc.check_answer(doc, one + "/cancel", "POST", cancelled)
    hc.check_answer(doc, one + "/cancel", "POST",
                    d.post(PATH + "/77777/cancel"))
    hc.check_answer(doc, PATH, "GET", d.get(PATH + "?status=CANCELLED"))
    sent = post(d, body("doc sent"))
    wait_status(d, sent["id"], "SENT")
    conflict = d.post("%s/%d/cancel" % (PATH, sent["id"]))
    assert conflict[0] == 409 and conflict[1]["field"] == "status"
    assert conflict[2].get("Content-Type") == hc.PROBLEM
    hc.check_answer(doc, one + "/cancel", "POST", conflict)
