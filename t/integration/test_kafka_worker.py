"""The consumer the worker roles share (kafka_worker.c): the mailers, the
inbox workers and the webhook workers read their topics through one
helper, so they handle a rebalance alike, whichever assignment protocol
kafka.properties picks, and log their assignments alike."""
import re

import nd
from test_email import email_conf, notification
from test_webhook import SEND, final, receiver, webhook_conf  # noqa: F401

PATH = "/notification_service/api/notifications"
TOPICS = ["notifications.email", "notifications.inapp",
          "notifications.webhook"]


def every_worker(conf, tmp_path, receiver, props=()):
    """One mailer, one inbox worker and one webhook worker."""
    c = webhook_conf(email_conf(conf, email={"workers": 1}), tmp_path,
                     receiver)
    c = nd.merge(c, {"inbox": {"workers": 1}})
    c["kafka"]["properties"] = list(c["kafka"]["properties"]) + list(props)
    return c


def post(d, body):
    st, j, _ = d.post(PATH, json=body, headers=SEND)
    assert st == 202, j
    return j["id"]


def one_of_each(d):
    """Posts an EMAIL, an IN_APP and a WEBHOOK notification; waits until
    each is delivered."""
    mail = post(d, notification("coop@example.com"))
    inapp = post(d, {"type": "IN_APP", "userId": 7, "title": "t",
                     "content": "<p>c</p>"})
    hook = post(d, {"type": "WEBHOOK", "endpoint": "ok", "userId": 7,
                    "title": "t", "content": "<p>c</p>"})
    final(d, mail, "SENT")
    final(d, inapp, "SENT")
    final(d, hook, "SENT")


def assignments(d):
    """{topic: lines} of the workers' "assigned N partitions of T"."""
    out = {}
    for line in open(d.logfile, errors="replace"):
        m = re.search(r"assigned (\d+) partitions of (\S+)", line)
        if m:
            out.setdefault(m.group(2), []).append(line)
    return out


def test_cooperative_protocol_serves_every_worker(conf, tmp_path, receiver,
                                                  notifyd, smtp):
    """With partition.assignment.strategy=cooperative-sticky every worker
    becomes ready and delivers: the inbox and webhook workers used to
    answer a cooperative assignment with an eager assign(), which
    librdkafka refuses, so they never held a partition."""
    c = every_worker(conf, tmp_path, receiver,
                     ["partition.assignment.strategy=cooperative-sticky"])
    d = notifyd(c, wait_ready=False)
    d.wait_ready(timeout=60)
    one_of_each(d)
    assert len(smtp.messages()) == 1
    assert len(receiver.requests("/ok")) == 1
    assert sorted(assignments(d)) == TOPICS
    log = open(d.logfile, errors="replace").read()
    assert "rebalance:" not in log, nd.tail(d.logfile)


def test_eager_protocol_serves_every_worker(conf, tmp_path, receiver,
                                            notifyd, smtp):
    """The default (eager) protocol, unchanged: ready, delivered, one
    assignment line per worker naming its topic, no rebalance error."""
    c = every_worker(conf, tmp_path, receiver)
    d = notifyd(c, wait_ready=False)
    d.wait_ready(timeout=60)
    one_of_each(d)
    assert sorted(assignments(d)) == TOPICS
    log = open(d.logfile, errors="replace").read()
    assert "rebalance:" not in log, nd.tail(d.logfile)
