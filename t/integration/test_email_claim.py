"""The mailer's HOT claim (issue 14 §2, sql/019_claim_hot.sql).

A claim leaves an email row PENDING in the table, with lease_owner and
lease_until set; no indexed column changes, so the update is HOT.  Every
reader must still see such a row as claimed: the API shows PROCESSING,
cancel refuses it, the sweeper's "never acknowledged" recovery leaves it
alone while the lease lives and its lease recovery takes it over once the
lease expired.  End to end over HTTP, the mock broker and the SMTP sink.
"""
import time

import nd

PATH = "/notification_service/api/notifications"


def claim_conf(conf, **over):
    """Mailers and a quick sweeper: a PENDING row Kafka never acknowledged
    is requeued after 0.5 s, so a wrong test of "claimed" shows at once."""
    c = nd.merge(conf, {
        "kafka": {"properties": conf["kafka"]["properties"] +
                  ["fetch.wait.max.ms=5"]},
        "email": {"enabled": True, "workers": 1, "from": "notify@example.com",
                  "lease": 5},
        "sweeper": {"enabled": True, "interval": 0.5, "pending_after": 0.5},
    })
    return nd.merge(c, over)


def get(d, nid):
    status, resp, _ = d.get("%s/%d" % (PATH, nid))
    assert status == 200, resp
    return resp


def listed(d, status):
    code, resp, _ = d.get("%s?status=%s&limit=100" % (PATH, status))
    assert code == 200, resp
    return [n["id"] for n in resp["notifications"]]


def wait_status(d, nid, status, timeout=30):
    return nd.wait_until(lambda: get(d, nid)["status"] == status and
                         get(d, nid), timeout,
                         msg="notification %d never %s" % (nid, status))


def warm_up(d, smtp):
    """One send, so the mailer holds its partitions before the test."""
    status, resp, _ = d.post(PATH, json={
        "type": "EMAIL", "title": "warm-up", "content": "<p>hi</p>",
        "userId": 7, "recipient": "warm@example.com"})
    assert status == 202, resp
    wait_status(d, resp["id"], "SENT")
    smtp.wait_messages(1)


def held_row(db, title, lease_s):
    """A row as a mailer's claim leaves it, by a worker that then died:
    PENDING, never acknowledged by Kafka (queued_at NULL), not touched for
    a minute, leased to someone for lease_s more seconds."""
    return db.scalar(
        "INSERT INTO email_notifications (title, content, user_id, recipient,"
        " lease_owner, lease_until, updated_at) VALUES (%s, '<p>x</p>', '7',"
        " 'held@example.com', 'elsewhere:1:mailer/0',"
        " now() + %s * interval '1 second', now() - interval '1 minute')"
        " RETURNING id", (title, lease_s))


def test_claimed_pending_row_reads_as_processing(conf, notifyd, smtp, db):
    d = notifyd(claim_conf(conf))
    warm_up(d, smtp)
    nid = held_row(db, "held", 3600)
    assert get(d, nid)["status"] == "PROCESSING"
    assert nid in listed(d, "PROCESSING")
    assert nid not in listed(d, "PENDING")
    status, resp, _ = d.post("%s/%d/cancel" % (PATH, nid))
    assert status == 409 and resp["field"] == "status", resp
    assert "PROCESSING" in resp["detail"], resp
    # Several sweeps: the unacknowledged-row recovery must not take a
    # leased row (it would be sent while its worker still holds it).
    time.sleep(2.5)
    row = db.query("SELECT status, lease_owner, queued_at FROM "
                   "email_notifications WHERE id = %s", (nid,))[0]
    assert row == ("PENDING", "elsewhere:1:mailer/0", None), row
    assert not any(m["msg"]["Subject"] == "held" for m in smtp.messages())
    assert "elsewhere" not in d.log()


def test_expired_claim_is_taken_over_once(conf, notifyd, smtp, db):
    d = notifyd(claim_conf(conf))
    warm_up(d, smtp)
    nid = held_row(db, "expiring", 2)
    # Live for 2 s: untouched; then the sweeper's lease recovery queues it
    # again and this instance's mailer sends it, once.
    time.sleep(1)
    assert db.scalar("SELECT lease_owner FROM email_notifications "
                     "WHERE id = %s", (nid,)) == "elsewhere:1:mailer/0"
    sent = wait_status(d, nid, "SENT", timeout=30)
    assert sent["attempts"] == 1, sent
    smtp.wait_messages(2)
    time.sleep(1)
    assert [m["msg"]["Subject"] for m in smtp.messages()].count(
        "expiring") == 1
    assert db.scalar("SELECT lease_owner FROM email_notifications "
                     "WHERE id = %s", (nid,)) is None


def test_a_hand_cancel_still_wins_before_any_claim(conf, notifyd, smtp, db):
    """A PENDING row nobody leased can still be cancelled (sql/019 only
    refuses rows with a lease_owner)."""
    d = notifyd(claim_conf(conf, sweeper={"enabled": False}))
    nid = db.scalar("INSERT INTO email_notifications (title, content, "
                    "user_id, recipient) VALUES ('free', 'c', '7', "
                    "'free@example.com') RETURNING id")
    status, resp, _ = d.post("%s/%d/cancel" % (PATH, nid))
    assert status == 200 and resp["status"] == "CANCELLED", resp


def hot_counts(db):
    """(updates, HOT updates) of email_notifications, as the server's
    statistics have them now."""
    db.query("SELECT pg_stat_clear_snapshot()")
    return db.query("SELECT n_tup_upd, n_tup_hot_upd FROM "
                    "pg_stat_user_tables WHERE relname = "
                    "'email_notifications'")[0]


def settled_counts(db, at_least=0):
    """hot_counts once two reads 1.2 s apart agree (the backends report
    their statistics within a second of going idle) and count at_least
    updates."""
    def settled():
        a = hot_counts(db)
        time.sleep(1.2)
        b = hot_counts(db)
        return b if a == b and b[0] >= at_least else None
    return nd.wait_until(settled, 30, msg="statistics never settled")


def test_claims_are_hot_updates(conf, notifyd, smtp, db):
    """Per notification: the claim (HOT, only lease columns) and the outcome
    (status changes: not HOT), plus Kafka's mark (HOT when it lands before
    the outcome).  A claim that changed an indexed column would double
    the non-HOT updates."""
    d = notifyd(claim_conf(conf))
    warm_up(d, smtp)
    n = 40
    upd0, hot0 = settled_counts(db)
    ids = []
    for i in range(n):
        status, resp, _ = d.post(PATH, json={
            "type": "EMAIL", "title": "hot-%d" % i, "content": "<p>x</p>",
            "userId": 7, "recipient": "hot%d@example.com" % i})
        assert status == 202, resp
        ids.append(resp["id"])
    for nid in ids:
        wait_status(d, nid, "SENT")
    upd, hot = settled_counts(db, upd0 + 2 * n)
    non_hot = (upd - upd0) - (hot - hot0)
    assert non_hot <= n + n // 4, (upd - upd0, hot - hot0)
