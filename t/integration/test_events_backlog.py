"""Delivery events are never given up, so a refusing events endpoint must
show: /metrics counts what is left, its age, and the attempts refused.

Real PostgreSQL, librdkafka's mock broker, notifyd's webhook workers and
events sender, the http.server receiver of test_webhook.py.
"""
import re

import nd
from test_events import events_conf, events
from test_webhook import post, receiver  # noqa: F401


def metrics(d):
    st, text, _ = d.get("/metrics")
    assert st == 200
    out = {}
    for line in text.splitlines():
        m = re.match(r"(notifyd_delivery_events_\w+) (\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def test_backlog_and_refusals_show_in_metrics(conf, tmp_path, receiver,
                                              notifyd):
    receiver.plan("/events", *[(503, {}, b"busy")] * 100000)
    d = notifyd(events_conf(conf, tmp_path, receiver))
    for i in range(3):
        post(d, "ok")

    def refused():
        m = metrics(d)
        return m.get("notifyd_delivery_events_pending", 0) >= 3 and \
            m.get("notifyd_delivery_events_oldest_pending_seconds", 0) >= 2 \
            and m
    m = nd.wait_until(refused, timeout=30, interval=0.5,
                      msg="a backlog of 3 events, 2 s old, in /metrics")
    assert m["notifyd_delivery_events_retried_total"] >= 3, m
    assert m["notifyd_delivery_events_delivered_total"] == 0, m
    receiver.plan("/events")                    # takes them from now on

    def drained():
        m = metrics(d)
        return m.get("notifyd_delivery_events_pending") == 0 and m
    m = nd.wait_until(drained, timeout=30, interval=0.5,
                      msg="the backlog drained in /metrics")
    assert m["notifyd_delivery_events_oldest_pending_seconds"] == 0, m
    got = {e["id"] for e in events(receiver) if e["type"] == "notification.sent"}
    assert len(got) >= 3
    assert m["notifyd_delivery_events_delivered_total"] >= len(got), m


def test_no_backlog_gauge_without_an_events_endpoint(conf, tmp_path,
                                                     receiver, notifyd):
    c = events_conf(conf, tmp_path, receiver)
    c["events"]["endpoint"] = ""
    d = notifyd(c)
    m = metrics(d)
    assert "notifyd_delivery_events_pending" not in m, m
    assert m["notifyd_delivery_events_delivered_total"] == 0, m
