"""Email delivery end to end: POST -> PostgreSQL -> Kafka -> mailer -> SMTP.

Real PostgreSQL, librdkafka's mock broker and an aiosmtpd server whose
answers the tests steer (per recipient, or globally with set_mode).
"""
import concurrent.futures
import email.utils
import os
import signal
import threading
import time

import nd

PATH = "/notification_service/api/notifications"


def email_conf(conf, **over):
    """Email and sweeper on, fast retries, a short lease."""
    c = nd.merge(conf, {
        "email": {"enabled": True, "workers": 2, "from": "notify@example.com",
                  "lease": 3,
                  "retry": {"initial": 0.3, "multiplier": 2, "max_delay": 2,
                            "max_attempts": 3, "jitter": 0}},
        "sweeper": {"enabled": True, "interval": 0.5, "pending_after": 2,
                    "max_delay": 1},
    })
    return nd.merge(c, over)


def notification(recipient="user@example.com", **over):
    body = {"type": "EMAIL", "title": "Payment Confirmation",
            "content": "<p>Your payment has been <b>confirmed</b>.</p>",
            "userId": 123, "recipient": recipient,
            "metadata": {"orderId": "ORD-12345", "amount": 99.99}}
    body.update(over)
    return body


def post(d, body, headers=None):
    status, resp, _ = d.post(PATH, json=body, headers=headers)
    assert status == 202, resp
    return resp


def wait_status(d, nid, status, timeout=45):
    def check():
        code, body, _ = d.get("%s/%d" % (PATH, nid))
        assert code == 200, body
        return body if body["status"] == status else None
    return nd.wait_until(check, timeout=timeout,
                         msg="notification %d never %s" % (nid, status))


def test_post_delivers_one_message(conf, notifyd, smtp):
    d = notifyd(email_conf(conf))
    resp = post(d, notification(title="Caf\u00e9 \u2713"))
    for field in ("id", "type", "title", "content", "userId", "recipient",
                  "metadata", "status", "createdAt", "updatedAt"):
        assert field in resp
    assert resp["status"] in ("PROCESSING", "PENDING")
    assert resp["userId"] == 123 and resp["metadata"]["amount"] == 99.99
    assert isinstance(resp["createdAt"], int)
    sent = wait_status(d, resp["id"], "SENT")
    (m,) = smtp.wait_messages(1)
    msg = m["msg"]
    assert m["mail_from"] == "notify@example.com"
    assert m["rcpt_tos"] == ["user@example.com"]
    assert msg["From"] == "notify@example.com"
    assert msg["To"] == "user@example.com"
    assert str(msg["Subject"]) == "Caf\u00e9 \u2713"
    assert email.utils.parsedate_to_datetime(msg["Date"]) is not None
    assert msg["MIME-Version"] == "1.0"
    assert msg["Message-ID"] == sent["messageId"]
    assert msg.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_content() for p in msg.iter_parts()}
    assert parts["text/html"] == resp["content"]
    assert parts["text/plain"].strip() == "Your payment has been confirmed."
    assert b"\r\n" in m["raw"] and b"\n" not in m["raw"].replace(b"\r\n", b"")
    assert sent["attempts"] == 1 and sent["sentAt"] >= resp["createdAt"]
    assert sent["history"][0]["smtpCode"] == 250


def test_tempfail_twice_then_sent(conf, notifyd, smtp):
    d = notifyd(email_conf(conf))
    resp = post(d, notification("flaky2-a@example.com"))
    sent = wait_status(d, resp["id"], "SENT")
    hist = sent["history"]
    assert [h["smtpCode"] for h in hist] == [451, 451, 250]
    assert sent["attempts"] == 3
    d1 = hist[1]["at"] - hist[0]["at"]
    d2 = hist[2]["at"] - hist[1]["at"]
    assert d1 >= 0.25 and d2 > d1 * 1.5, (d1, d2)   # 0.3 s, then 0.6 s
    assert len(smtp.messages()) == 1


def test_always_tempfail_fails_then_sweeper_delivers(conf, notifyd, smtp):
    smtp.set_mode("451")
    d = notifyd(email_conf(conf, sweeper={"interval": 1, "max_delay": 3}))
    resp = post(d, notification())
    failed = wait_status(d, resp["id"], "FAILED")
    assert failed["attempts"] == 3 and "451" in failed["lastError"]
    assert failed["permanent"] is False
    smtp.set_mode("accept")
    sent = wait_status(d, resp["id"], "SENT")
    assert sent["requeues"] >= 1
    assert len(smtp.messages()) == 1
    d.wait_log(r"sweep: requeued \d+ \(failed [1-9]")


def test_permanent_failure_is_never_requeued(conf, notifyd, smtp):
    d = notifyd(email_conf(conf))
    resp = post(d, notification("permfail@example.com"))
    failed = wait_status(d, resp["id"], "FAILED")
    assert failed["permanent"] is True and failed["attempts"] == 1
    assert "550" in failed["lastError"]
    mark = d.mark()
    d.wait_log(r"sweep: nothing to requeue", since=mark, timeout=15)
    time.sleep(2)  # several sweeps: it must stay as it is
    _, again, _ = d.get("%s/%d" % (PATH, resp["id"]))
    assert again["status"] == "FAILED" and again["requeues"] == 0
    assert again["attempts"] == 1 and smtp.messages() == []


def test_smtp_down_then_back(conf, notifyd, smtp):
    smtp.stop()
    d = notifyd(email_conf(conf, sweeper={"interval": 1, "max_delay": 2}))
    resp = post(d, notification())
    failed = wait_status(d, resp["id"], "FAILED")
    assert failed["history"][0]["smtpCode"] is None  # no server reply
    smtp.start()
    wait_status(d, resp["id"], "SENT")
    assert len(smtp.messages()) == 1


def test_kafka_down_at_post(conf, notifyd, smtp, kafka):
    d = notifyd(email_conf(conf))
    kafka.down()
    resp = post(d, notification())
    assert resp["status"] == "PROCESSING"   # answered at commit
    _, row, _ = d.get("%s/%d" % (PATH, resp["id"]))
    assert row["status"] == "PENDING"   # committed before the answer
    kafka.up()
    wait_status(d, resp["id"], "SENT", timeout=40)
    assert len(smtp.messages()) == 1


def test_duplicate_kafka_message_sends_once(conf, notifyd, smtp, kafka):
    d = notifyd(email_conf(conf))
    resp = post(d, notification())
    wait_status(d, resp["id"], "SENT")
    mark = d.mark()
    kafka.produce("notifications.email", [str(resp["id"])] * 2,
                  key=str(resp["id"]))
    d.wait_log(r"notification %d: not claimable" % resp["id"], since=mark)
    assert len(smtp.messages()) == 1


def test_idempotency_key(conf, notifyd, smtp):
    d = notifyd(email_conf(conf))
    key = {"Idempotency-Key": "order-42-confirmation"}
    first = post(d, notification(), headers=key)
    again = post(d, notification(), headers=key)
    assert again["id"] == first["id"]
    wait_status(d, first["id"], "SENT")
    status, body, _ = d.post(PATH, json=notification(title="Other"),
                             headers=key)
    assert status == 409 and body["field"] == "Idempotency-Key"
    status, body, _ = d.post(PATH, json=notification(),
                             headers={"Idempotency-Key": "k" * 256})
    assert status == 400
    time.sleep(1)
    assert len(smtp.messages()) == 1


def test_kill_mailer_mid_send(conf, notifyd, smtp, db):
    smtp.set_mode("hang")
    d = notifyd(email_conf(conf, email={"workers": 1, "lease": 2,
                                        "smtp": {"timeout": 60}}))
    resp = post(d, notification())
    nd.wait_until(lambda: smtp.stats().get("connections", 0) >= 1)
    time.sleep(0.5)  # the worker is now blocked inside the SMTP dialogue
    pid = nd.wait_until(lambda: db.scalar(
        "SELECT lease_owner FROM email_notifications WHERE id = %s",
        (resp["id"],)))
    mailer_pid = int(pid.split(":")[1])
    os.kill(mailer_pid, signal.SIGKILL)
    d.wait_log(r"mailer/0 pid %d killed by signal 9" % mailer_pid)
    smtp.set_mode("accept")
    # the respawned mailer gets the partitions once the group dropped the
    # killed member (session timeout, then a rebalance): slow under load
    wait_status(d, resp["id"], "SENT", timeout=90)
    assert 1 <= len(smtp.messages()) <= 2   # at-least-once: one duplicate at most


def test_rate_limit_is_global(conf, notifyd, smtp, db):
    d = notifyd(email_conf(conf, email={"workers": 4, "rate_limit": 20}))
    ids = [post(d, notification("r%d@example.com" % i))["id"]
           for i in range(100)]
    nd.wait_until(lambda: db.scalar(
        "SELECT count(*) FROM email_notifications WHERE status = 'SENT'")
        == 100, timeout=60)
    # Arrival at the sink, not sent_at: sent_at is the outcome write, one
    # per claimed batch, and 100 POSTs answered at commit reach the
    # mailers as a few large batches.
    got = [os.stat(os.path.join(smtp.maildir, m["name"] + ".eml")).st_mtime
           for m in smtp.messages()]
    span = max(got) - min(got)
    assert span >= 4.5, span   # 100 at 20/s: about 5 s, not 5/4 s
    assert len(got) == 100


def test_validation_rejects_and_stores_nothing(conf, notifyd, smtp, db):
    d = notifyd(email_conf(conf, email={"max_content": 2000},
                           http={"max_body": 8192}))
    cases = [
        (notification(type="SMS"), 422, "type"),
        (notification(title=""), 400, "title"),
        (notification(title="Hi\r\nBcc: victim@example.com"), 400, "title"),
        (notification("a@example.com\r\nRCPT TO:<x@evil.com>"), 400,
         "recipient"),
        (notification("not-an-address"), 400, "recipient"),
        (notification(content="x" * 3000), 413, "content"),
        ({k: v for k, v in notification().items() if k != "userId"}, 400,
         "userId"),
        (notification(metadata=[1, 2]), 400, "metadata"),
        (notification(**{"from": "a@b.c\nBcc: q@r.s"}), 400, "from"),
    ]
    for body, code, field in cases:
        status, resp, _ = d.post(PATH, json=body)
        assert status == code, (body, resp)
        assert resp["field"] == field and resp["error"]
    status, resp, _ = d.post(PATH, body="{not json",
                             headers={"Content-Type": "application/json"})
    assert status == 400 and "malformed JSON" in resp["error"]
    status, resp, _ = d.post(PATH, body="type=EMAIL",
                             headers={"Content-Type": "text/plain"})
    assert status == 415
    status, resp, _ = d.post(PATH, body="x" * 10000,
                             headers={"Content-Type": "application/json"})
    assert status == 413
    assert db.scalar("SELECT count(*) FROM email_notifications") == 0
    time.sleep(1)
    assert smtp.messages() == []


def test_list_get_and_pagination(conf, notifyd, smtp):
    d = notifyd(email_conf(conf, email={"enabled": True, "workers": 0},
                           sweeper={"enabled": False}))
    ids = [post(d, notification("l%d@example.com" % (i % 2), userId=i % 3))["id"]
           for i in range(5)]
    status, page, _ = d.get(PATH + "?limit=2")
    assert status == 200
    assert [n["id"] for n in page["notifications"]] == ids[::-1][:2]
    status, page2, _ = d.get(PATH + "?limit=2&after=%d" % page["next"])
    assert [n["id"] for n in page2["notifications"]] == ids[::-1][2:4]
    _, by_rcpt, _ = d.get(PATH + "?recipient=l1@example.com")
    assert sorted(n["id"] for n in by_rcpt["notifications"]) == [ids[1], ids[3]]
    _, by_user, _ = d.get(PATH + "?userId=2")
    assert [n["id"] for n in by_user["notifications"]] == [ids[2]]
    _, by_status, _ = d.get(PATH + "?status=SENT")
    assert by_status["notifications"] == []
    for bad, field in (("limit=0", "limit"), ("limit=x", "limit"),
                       ("after=-1", "after"), ("status=DONE", "status"),
                       ("colour=red", "colour")):
        status, body, _ = d.get(PATH + "?" + bad)
        assert status == 400 and body["field"] == field, (bad, body)
    status, body, _ = d.get(PATH + "/999999")
    assert status == 404
    status, body, _ = d.get(PATH + "/abc")
    assert status == 404


def test_retry_endpoint(conf, notifyd, smtp):
    smtp.set_mode("550")
    d = notifyd(email_conf(conf))
    resp = post(d, notification())
    wait_status(d, resp["id"], "FAILED")
    smtp.set_mode("accept")   # before the retry: its worker may be quick
    status, body, _ = d.post("%s/%d/retry" % (PATH, resp["id"]))
    assert status == 202, body
    wait_status(d, resp["id"], "SENT")
    status, body, _ = d.post("%s/%d/retry" % (PATH, resp["id"]))
    assert status == 409
    status, body, _ = d.post("%s/424242/retry" % PATH)
    assert status == 404


def test_bearer_tokens(conf, notifyd, smtp):
    d = notifyd(email_conf(conf, http={"tokens": ["s3nd:send",
                                                  "r3ad:read"]}))
    status, body, _ = d.post(PATH, json=notification())
    assert status == 401 and body["error"]
    status, body, _ = d.post(PATH, json=notification(),
                             headers={"Authorization": "Bearer r3ad"})
    assert status == 403
    status, body, _ = d.post(PATH, json=notification(),
                             headers={"Authorization": "Bearer wrong"})
    assert status == 401
    status, body, _ = d.post(PATH, json=notification(),
                             headers={"Authorization": "Bearer s3nd"})
    assert status == 202
    status, _, _ = d.get("%s/%d" % (PATH, body["id"]),
                         headers={"Authorization": "Bearer r3ad"})
    assert status == 200
    assert d.get("/health")[0] == 200 and d.get("/ready")[0] == 200
    assert d.get("/metrics")[0] == 200


def test_cooperative_assignor_delivers(conf, notifyd, smtp):
    """The mailers rely on librdkafka's own rebalance handling, which must
    work with the cooperative protocol as with the eager default."""
    c = email_conf(conf)
    c["kafka"]["properties"].append(
        "partition.assignment.strategy=cooperative-sticky")
    d = notifyd(c)
    ids = [post(d, notification("c%d@example.com" % i))["id"]
           for i in range(8)]
    for nid in ids:
        wait_status(d, nid, "SENT")
    assert len(smtp.messages()) == 8


def test_sigterm_finishes_the_message_in_hand(conf, notifyd, smtp, db):
    """A worker told to stop mid-send waits for that SMTP dialogue, commits
    its outcome, releases what it holds, and the master exits 0."""
    smtp.set_mode("hang")
    d = notifyd(email_conf(conf, email={"workers": 1,
                                        "smtp": {"timeout": 2}},
                           sweeper={"enabled": False}))
    resp = post(d, notification())
    nd.wait_until(lambda: smtp.stats().get("connections", 0) >= 1)
    time.sleep(0.3)  # inside the dialogue now
    assert d.stop(timeout=20) == 0
    row = db.query("SELECT attempts, last_error, lease_until <= now()"
                   " FROM email_notifications WHERE id = %s", (resp["id"],))
    attempts, last_error, released = row[0]
    assert attempts == 1 and last_error, row   # the outcome was committed
    assert released is True                    # the next worker may take it


def metric(d, name):
    st, text, _ = d.get("/metrics")
    assert st == 200
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("%s not in /metrics" % name)


def test_concurrent_posts_share_commits(conf, notifyd, smtp, db):
    """Requests in flight are stored by one INSERT per group, each request
    gets its own row's id, and one Idempotency-Key raced by many requests
    stores one row."""
    d = notifyd(email_conf(conf, email={"workers": 0}))
    start = threading.Barrier(24)

    def one(k):
        start.wait()
        out = []
        for i in range(8):
            if k < 16:
                body = notification("u%d-%d@example.com" % (k, i),
                                    title="t%d-%d" % (k, i))
                out.append((body["title"], post(d, body)))
            else:
                out.append(("raced", post(d, notification(title="raced"),
                                          headers={"Idempotency-Key": "race"})))
        return out

    with concurrent.futures.ThreadPoolExecutor(24) as ex:
        answers = [a for f in [ex.submit(one, k) for k in range(24)]
                   for a in f.result()]
    mine = {t: r for t, r in answers if t != "raced"}
    raced = {r["id"] for t, r in answers if t == "raced"}
    assert len(mine) == 128 and len(raced) == 1
    rows = dict(db.query("SELECT id, title FROM email_notifications"))
    assert len(rows) == 129
    for title, resp in mine.items():
        assert rows[resp["id"]] == title == resp["title"]
    assert rows[raced.pop()] == "raced"
    # Fewer INSERT statements than requests: some of them shared one.
    # How many share depends on the machine's load (129 rows took 54-149
    # statements over runs), so the exact grouping is proven by the gated
    # tests below (test_a_refused_row_fails_alone: exactly two INSERTs).
    assert metric(d, "notifyd_notification_inserts_total") < 192


def behind_a_slow_insert(d, db, bodies):
    """POSTs bodies together while the store thread is held by a one-second
    INSERT (title "slow"), so that they gather into one group; a row titled
    "poison" is refused by the server.  Returns their answers in order."""
    db.query("""
        CREATE FUNCTION t_gate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.title = 'slow' THEN PERFORM pg_sleep(1); END IF;
            IF NEW.title = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER gate BEFORE INSERT ON email_notifications
            FOR EACH ROW EXECUTE FUNCTION t_gate();""")
    with concurrent.futures.ThreadPoolExecutor(len(bodies) + 1) as ex:
        slow = ex.submit(d.post, PATH, json=notification(title="slow"))
        time.sleep(0.3)     # the next ones gather while "slow" commits
        rest = [ex.submit(d.post, PATH, json=b) for b in bodies]
        answers = [f.result() for f in rest]
        assert slow.result()[0] == 202
    return answers


def test_a_refused_row_fails_alone(conf, notifyd, smtp, db):
    """A row the database refuses fails its own request (500), not the
    others committed in the same group."""
    d = notifyd(email_conf(conf, email={"workers": 0}))
    answers = behind_a_slow_insert(d, db, [notification(
        "r%d@example.com" % i, title="poison" if i == 5 else "ok%d" % i)
        for i in range(10)])
    for i, (st, body, _) in enumerate(answers):
        if i == 5:
            assert st == 500 and "refused" in body["error"], body
        else:
            assert st == 202 and body["title"] == "ok%d" % i, body
    assert db.scalar("SELECT count(*) FROM email_notifications") == 10
    assert db.scalar("SELECT count(*) FROM email_notifications "
                     "WHERE title = 'poison'") == 0
    assert d.wait_log("database: .*poisoned")
    # "slow" alone, then the ten as one group (retried row by row)
    assert metric(d, "notifyd_notification_inserts_total") == 2


def test_large_bodies_split_the_group(conf, notifyd, smtp, db):
    """A group stops at 4 MB of text: twenty 250 kB notifications that
    gather behind a slow one are stored by at least two INSERTs, each
    request still getting its own row."""
    d = notifyd(email_conf(conf, email={"workers": 0}))
    big = "<p>" + "x" * 250000 + "</p>"
    answers = behind_a_slow_insert(d, db, [notification(
        "b%d@example.com" % i, title="big%d" % i, content=big)
        for i in range(20)])
    for i, (st, body, _) in enumerate(answers):
        assert st == 202 and body["title"] == "big%d" % i, (st, body)
    rows = dict(db.query("SELECT title, length(content) FROM "
                         "email_notifications"))
    assert len(rows) == 21 and all(rows["big%d" % i] == len(big)
                                   for i in range(20))
    inserts = metric(d, "notifyd_notification_inserts_total")
    assert 3 <= inserts <= 4, inserts   # "slow", then 20 x 250 kB in 2 or 3
