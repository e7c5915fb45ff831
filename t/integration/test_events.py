"""Delivery events (issue 17): every terminal outcome of every notification
is POSTed, signed, to events.endpoint, at least once, from the database.

Real PostgreSQL, librdkafka's mock broker, notifyd's mailer, webhook
workers and events sender, aiosmtpd (the smtp fixture) and the
http.server receiver of test_webhook.py, which verifies every signature
itself with hmac per the Standard Webhooks specification.
"""
import json
import os
import signal
import time

import pytest

import nd
from test_webhook import (ADMIN, PATH, SECRET_A, SEND, final, post,  # noqa
                          receiver, spec_verify, webhook_conf)

SUPP = "/notification_service/api/suppressions"


def events_conf(conf, tmp_path, receiver, attempts=False):
    c = webhook_conf(conf, tmp_path, receiver, extra=[{
        "name": "events", "url": receiver.url("/events"),
        "secret_file": str(tmp_path / "a.key")}])
    return nd.merge(c, {"events": {"endpoint": "events",
                                   "attempts": attempts,
                                   "poll_interval": 0.05}})


def events(receiver, verify=True):
    """Every event received, in order, parsed; signatures checked."""
    out = []
    for _, headers, body, _ in receiver.requests("/events"):
        doc = json.loads(body)
        if verify:
            assert spec_verify(SECRET_A, headers, body), headers
            assert headers["webhook-id"] == doc["id"]
        out.append(doc)
    return out


def events_of(receiver, nid):
    return [e for e in events(receiver) if e["notificationId"] == nid]


def wait_events(receiver, nid, n, timeout=60):
    return nd.wait_until(lambda: len(events_of(receiver, nid)) >= n and
                         events_of(receiver, nid), timeout,
                         msg="%d events of %d" % (n, nid))


def test_every_terminal_outcome_is_an_event(conf, tmp_path, receiver, smtp,
                                            notifyd):
    d = notifyd(events_conf(conf, tmp_path, receiver))
    receiver.plan("/bad", (400, {}, b"no such account"))
    sent = post(d, "ok")
    failed = post(d, "bad")
    st, j, _ = d.post(PATH, json={"type": "EMAIL", "recipient": "u@x.example",
                                  "userId": 1, "title": "t", "content": "c"},
                      headers=SEND)
    assert st == 202
    mailed = j["id"]
    assert d.request("PUT", SUPP + "/blocked@x.example",
                     headers=ADMIN)[0] == 200
    st, j, _ = d.post(PATH, json={"type": "EMAIL",
                                  "recipient": "blocked@x.example",
                                  "userId": 1, "title": "t", "content": "c"},
                      headers=SEND)
    assert st == 202 and j["status"] == "SUPPRESSED"
    suppressed = j["id"]
    st, j, _ = d.post(PATH, json={"type": "EMAIL", "recipient": "v@x.example",
                                  "userId": 1, "title": "t", "content": "c",
                                  "sendAt": int(time.time()) + 3600},
                      headers=SEND)
    assert st == 202
    cancelled = j["id"]
    assert d.post("%s/%d/cancel" % (PATH, cancelled), headers=SEND)[0] == 200

    e, = wait_events(receiver, sent, 1)
    assert e["type"] == "notification.sent" and e["channel"] == "WEBHOOK"
    assert e["messageId"] == "ntf_%d" % sent and e["attempts"] == 1
    assert e["id"].startswith("evt_") and e["at"].endswith("Z")
    e, = wait_events(receiver, failed, 1)
    assert e["type"] == "notification.failed"
    assert (e["code"], e["permanent"]) == (400, True)
    assert e["text"] == "no such account"
    e, = wait_events(receiver, mailed, 1)
    assert e["type"] == "notification.sent" and e["channel"] == "EMAIL"
    row = final(d, mailed, "SENT")
    assert e["messageId"] == row["messageId"] and e["messageId"]
    e, = wait_events(receiver, suppressed, 1)
    assert (e["type"], e["reason"]) == ("notification.suppressed", "manual")
    e, = wait_events(receiver, cancelled, 1)
    assert e["type"] == "notification.cancelled"
    time.sleep(0.5)     # nothing more comes: one event per outcome
    assert len(events(receiver)) == 5
    from test_http_conventions import doc_file, validator
    v = validator(doc_file(), {"$ref": "#/components/schemas/DeliveryEvent"})
    for e in events(receiver):
        v.validate(e)
    assert len({e["id"] for e in events(receiver)}) == 5


def test_attempt_events(conf, tmp_path, receiver, notifyd):
    d = notifyd(events_conf(conf, tmp_path, receiver, attempts=True))
    receiver.plan("/busy", (503, {}, b"later"))
    nid = post(d, "busy")
    evs = wait_events(receiver, nid, 3)
    # The last attempt and the outcome are written by one statement: their
    # two events may come in either order (each has its own id and at).
    assert sorted((e["type"], e.get("attempt") or 0, e.get("code") or 0,
                   e.get("outcome", "")) for e in evs) == [
        ("notification.attempt", 1, 503, "temporary"),
        ("notification.attempt", 2, 200, "sent"),
        ("notification.sent", 0, 0, "")]
    assert evs[0]["attempt"] == 1 and evs[0]["text"] == "later"
    time.sleep(0.5)
    assert len(events_of(receiver, nid)) == 3


def events_pid(d):
    """The events sender's pid (its comm is notifyd-events), or None."""
    for pid in d.children():
        try:
            with open("/proc/%d/comm" % pid) as f:
                if f.read().strip() == "notifyd-events":
                    return pid
        except FileNotFoundError:
            pass
    return None


def test_kill_9_of_the_sender_loses_nothing(conf, tmp_path, receiver, db,
                                            notifyd):
    d = notifyd(events_conf(conf, tmp_path, receiver))
    # A slow receiver, so the kill lands mid-stream; its first answer a
    # 500, which is retried too.
    receiver.plan("/events", (500, {}, b"hiccup"),
                  *[(200, {}, b"ok", 0.05)] * 200)
    ids = [post(d, "ok") for _ in range(40)]
    nd.wait_until(lambda: len(events(receiver)) >= 8, 30, msg="8 events")
    victim = events_pid(d)
    assert victim is not None, d.child_titles()
    os.kill(victim, signal.SIGKILL)
    nd.wait_until(lambda: events_pid(d) not in (None, victim), 30,
                  msg="events sender respawned")

    def all_in():
        got = {e["notificationId"] for e in events(receiver)
               if e["type"] == "notification.sent"}
        return got >= set(ids)
    nd.wait_until(all_in, 60, msg="an event for every notification")
    rows = db.query("SELECT 'evt_' || id, delivered_at IS NOT NULL "
                    "FROM delivery_events")
    nd.wait_until(lambda: db.scalar("SELECT count(*) FROM delivery_events "
                                    "WHERE delivered_at IS NULL") == 0, 20)
    received = [e["id"] for e in events(receiver)]
    assert {r[0] for r in rows} == set(received)
    assert len(rows) == 40
    # At least once: the one in flight at the kill may come twice, and the
    # 500 made one come twice; the ids let the receiver drop repeats.
    assert len(received) >= 41
    print("events: %d rows, %d deliveries" % (len(rows), len(received)))


def test_events_survive_a_restart(conf, tmp_path, receiver, db, notifyd):
    c = events_conf(conf, tmp_path, receiver)
    d = notifyd(c)
    receiver.plan("/events", *[(503, {"Retry-After": "1"}, b"down")] * 500)
    ids = [post(d, "ok") for _ in range(5)]
    for nid in ids:
        final(d, nid, "SENT")
    nd.wait_until(lambda: len(receiver.requests("/events")) >= 1, 20)
    d.kill()                        # kill -9 of master and every child
    receiver.plan("/events")        # the receiver is back: 200s
    assert db.scalar("SELECT count(*) FROM delivery_events "
                     "WHERE delivered_at IS NULL") == 5
    notifyd(c)

    def all_in():
        return {e["notificationId"] for e in events(receiver)
                if e["type"] == "notification.sent"} >= set(ids)
    nd.wait_until(all_in, 30, msg="events after the restart")


def test_recording_stops_without_an_events_endpoint(conf, db, smtp, notifyd):
    """events.endpoint removed, and with it every webhook endpoint (so no
    webhook worker runs): the sweeper stops recording, the outbox does
    not grow with nobody to read it."""
    c = nd.merge(conf, {"email": {"enabled": True, "workers": 1},
                        "sweeper": {"enabled": True, "interval": 0.2}})
    d = notifyd(c)
    # as an earlier configuration with events.endpoint left it
    db.query("UPDATE delivery_event_settings SET enabled = true")
    nd.wait_until(lambda: db.scalar("SELECT enabled FROM "
                                    "delivery_event_settings") is False, 20,
                  msg="recording turned off")
    d.wait_log("delivery events no longer recorded")
    st, j, _ = d.post(PATH, json={"type": "EMAIL", "title": "t",
                                  "content": "c", "userId": 1,
                                  "recipient": "u@example.com"})
    assert st == 202, j
    nd.wait_until(lambda: db.scalar(
        "SELECT status FROM email_notifications WHERE id = %s",
        (j["id"],)) == "SENT", 20, msg="sent")
    assert db.scalar("SELECT count(*) FROM delivery_events") == 0
