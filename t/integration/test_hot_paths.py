"""Hot paths (issue 14): a POST answers at commit, /ready means delivering.

Real PostgreSQL, librdkafka's mock broker and an aiosmtpd server.
"""
import time

import nd
from test_email import PATH, email_conf, notification, post, wait_status


def test_post_answers_at_commit_while_kafka_is_down(conf, notifyd, smtp,
                                                   kafka):
    # A deprecated, long ack timeout: the answer must not wait for it.
    d = notifyd(email_conf(conf, http={"kafka_ack_timeout": 5}))
    post(d, notification())                     # warm: producer connected
    kafka.down()
    ids = []
    for _ in range(3):
        t0 = time.monotonic()
        resp = post(d, notification())
        took = time.monotonic() - t0
        assert resp["status"] == "PROCESSING", resp
        assert took < 1.0, "POST waited %.2f s for Kafka" % took
        ids.append(resp["id"])
    for nid in ids:
        _, row, _ = d.get("%s/%d" % (PATH, nid))
        assert row["status"] == "PENDING"       # committed, not yet queued
    kafka.up()
    for nid in ids:
        wait_status(d, nid, "SENT", timeout=40)
    smtp.wait_messages(4, timeout=10)
    time.sleep(0.5)
    assert len(smtp.messages()) == 4            # lost none, sent each once
