"""Database limits: bounded waits, separate budgets, honest error classes.

- A held lock on audit_events must not stall the POST path: audit routes
  have their own pool, every wait has a deadline (database.pool_timeout,
  database.statement_timeout) and a timed-out request gets 503 with
  Retry-After and a JSON error, promptly.
- An unreachable server (a socket that never answers the startup
  packet) is 503 within database.connect_timeout, not a hang.
- A statement PostgreSQL refuses because of the data is a 4xx/500 and
  never counts as the database being unavailable.
"""
import concurrent.futures
import re
import socket
import time

import psycopg2

import nd

PATH = "/notification_service/api/notifications"


def limits_conf(conf, **over):
    c = nd.merge(conf, {
        # Enough request threads that the audit GETs cannot take them all
        # (the subject here is the database, not the HTTP server).
        "http": {"threads": 32},
        "email": {"enabled": True, "workers": 0,
                  "from": "notify@example.com"},
        "database": {"pool": 4, "audit_pool": 2, "pool_timeout": 1.0,
                     "statement_timeout": 2.5, "connect_timeout": 2},
    })
    return nd.merge(c, over)


def notification(**over):
    body = {"type": "EMAIL", "title": "Payment Confirmation",
            "content": "<p>paid</p>", "userId": 123,
            "recipient": "user@example.com"}
    body.update(over)
    return body


def counter(d, name):
    """The value of an unlabelled counter on /metrics (0 when absent)."""
    status, text, _ = d.get("/metrics")
    assert status == 200, text
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else 0.0


def timed(fn, *args, **kw):
    t0 = time.monotonic()
    out = fn(*args, **kw)
    return time.monotonic() - t0, out


def assert_retry_later(status, body, headers):
    assert status == 503, body
    assert isinstance(body, dict) and body.get("error"), body
    assert int(headers.get("Retry-After", "0")) >= 1, dict(headers)


def lock_waiters(db):
    return db.scalar("SELECT count(*) FROM pg_stat_activity "
                     "WHERE wait_event_type = 'Lock' "
                     "AND query LIKE '%audit_events%'")


def test_locked_audit_table_does_not_block_post(conf, db, notifyd):
    d = notifyd(limits_conf(conf))
    assert d.post(PATH, json=notification())[0] == 202     # warm
    errors0 = counter(d, "notifyd_database_errors_total")
    timeouts0 = counter(d, "notifyd_database_timeouts_total")

    locker = psycopg2.connect(db.conninfo, connect_timeout=5)
    try:
        with locker.cursor() as cur:
            cur.execute("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
        with concurrent.futures.ThreadPoolExecutor(10) as ex:
            gets = [ex.submit(timed, d.get, "/audit/events?limit=5",
                              timeout=30) for _ in range(10)]
            nd.wait_until(lambda: lock_waiters(db) >= 1, timeout=10,
                          msg="audit GETs waiting on the lock")
            took, (status, body, _) = timed(d.post, PATH,
                                            json=notification(), timeout=15)
            assert status == 202, body
            assert took < 2.0, "POST took %.1f s behind the lock" % took
            results = [f.result() for f in gets]
    finally:
        locker.rollback()
        locker.close()

    for took, (status, body, headers) in results:
        # statement_timeout 2.5 s or pool_timeout 1 s, never the lock's
        # whole hold.
        assert took < 6.0, "audit GET took %.1f s" % took
        assert_retry_later(status, body, headers)
    # Both bounds played: two GETs held the audit pool until their
    # statements timed out, the others gave up waiting for a connection.
    log = d.log()
    assert "statement timeout" in log and "no pooled connection" in log
    # A timeout is overload, not an outage.
    assert counter(d, "notifyd_database_errors_total") == errors0
    assert counter(d, "notifyd_database_timeouts_total") >= timeouts0 + 10
    # Lock gone: the audit routes answer again.
    assert d.get("/audit/events?limit=5")[0] == 200


def test_unanswering_server_is_503_within_connect_timeout(conf, notifyd):
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(64)        # the kernel accepts; nobody ever answers
    try:
        c = limits_conf(conf, email={"enabled": False})
        c["database"]["conninfo"] = (
            "host=127.0.0.1 port=%d user=postgres dbname=x"
            % blackhole.getsockname()[1])
        c["database"]["migrate_on_start"] = False
        d = notifyd(c)
        for path in (PATH, "/audit/events"):
            took, (status, body, headers) = timed(d.get, path, timeout=20)
            assert took < 6.0, "%s took %.1f s" % (path, took)
            assert_retry_later(status, body, headers)
            assert body["error"] == "database unavailable", body
        took, (status, body, _) = timed(d.get, "/ready", timeout=20)
        assert took < 6.0 and status == 503, (took, body)
        d.stop()

        # A connect_timeout in the conninfo wins over the key.
        c["database"]["connect_timeout"] = 60
        c["database"]["conninfo"] += " connect_timeout=2"
        d = notifyd(c)
        took, (status, body, headers) = timed(d.get, PATH, timeout=20)
        assert took < 6.0, "%s took %.1f s" % (PATH, took)
        assert_retry_later(status, body, headers)
    finally:
        blackhole.close()


def test_data_refused_by_database_is_not_unavailability(conf, db, notifyd):
    d = notifyd(limits_conf(conf))
    assert d.post(PATH, json=notification())[0] == 202     # migrated, warm
    db.query("ALTER TABLE email_notifications ADD CONSTRAINT t_no_forbidden"
             " CHECK (title <> 'forbidden title')")
    db.query("ALTER TABLE audit_events ADD CONSTRAINT t_no_bad_order"
             " CHECK (order_id <> 'bad-order')")
    db.query("""CREATE FUNCTION t_boom() RETURNS trigger LANGUAGE plpgsql AS
                $$ BEGIN
                   IF NEW.title = 'boom' THEN RAISE EXCEPTION 'boom'; END IF;
                   RETURN NEW; END $$""")
    db.query("CREATE TRIGGER t_boom BEFORE INSERT ON email_notifications"
             " FOR EACH ROW EXECUTE FUNCTION t_boom()")
    errors0 = counter(d, "notifyd_database_errors_total")

    status, body, headers = d.post(PATH, json=notification(
        title="forbidden title"))
    assert status == 422, body
    assert body["error"] and "Retry-After" not in headers, body
    status, body, _ = d.post("/send-notification", json={
        "customerId": 1, "orderId": "bad-order", "event": {"x": 1}})
    assert status == 422, body
    status, body, headers = d.post(PATH, json=notification(title="boom"))
    assert status == 500, body
    assert body["error"] and "Retry-After" not in headers, body

    # In a group commit, the refused row fails alone.
    titles = ["ok %d" % i for i in range(6)] + ["forbidden title"]
    with concurrent.futures.ThreadPoolExecutor(len(titles)) as ex:
        out = list(ex.map(lambda t: d.post(PATH, json=notification(title=t)),
                          titles))
    assert [s for s, _, _ in out] == [202] * 6 + [422], out

    assert counter(d, "notifyd_database_errors_total") == errors0
    assert d.post(PATH, json=notification())[0] == 202
