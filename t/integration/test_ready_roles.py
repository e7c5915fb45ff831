"""/ready means every consuming worker holds its partitions (issue 14 §3),
not only the mailers: the inbox and webhook workers too.

Real PostgreSQL, librdkafka's mock broker, an HTTP receiver for webhooks.
"""
import time

import nd
from test_inbox import inbox_conf, post as post_inapp, wait_delivered
from test_webhook import SECRET_A, secret_file, receiver  # noqa: F401


def ready(d):
    try:
        return d.get("/ready", timeout=2)
    except OSError:
        return None


def all_roles_conf(conf, tmp_path, receiver):
    key = secret_file(tmp_path, "a.key", SECRET_A)
    return nd.merge(inbox_conf(conf), {
        "email": {"workers": 1},
        "webhook": {"workers": 1, "endpoints": [
            {"name": "ok", "url": receiver.url("/ok"), "secret_file": key}]},
    })


def test_ready_names_each_consuming_role(conf, notifyd, tmp_path, receiver):
    d = notifyd(all_roles_conf(conf, tmp_path, receiver))
    code, body, _ = d.get("/ready")
    assert code == 200, body
    for check in ("mailers", "inbox", "webhook"):
        assert body["checks"][check] == "ok", body
    # ready means an in-app item posted now is delivered at once
    t0 = time.monotonic()
    nid = post_inapp(d, "r1", "now")[1]["id"]
    got = wait_delivered(d, "r1", 1, timeout=15)
    took = time.monotonic() - t0
    assert [it["id"] for it in got["items"]] == [nid]
    assert took < 1.5, "in-app item took %.2f s after ready" % took


def test_ready_waits_for_inbox_and_webhook_workers(conf, notifyd, tmp_path,
                                                   receiver, kafka):
    kafka.down()                                # no group can form
    d = notifyd(all_roles_conf(conf, tmp_path, receiver), wait_ready=False)
    code, body, _ = nd.wait_until(lambda: ready(d), timeout=20, msg="/ready")
    assert code == 503 and body["ready"] is False, body
    assert body["checks"]["inbox"] == (
        "waiting: 1 of 1 inbox workers do not hold their "
        "notifications.inapp partitions yet"), body
    assert body["checks"]["webhook"].startswith(
        "waiting: 1 of 1 webhook workers do not hold their "), body
    kafka.up()
    d.wait_ready(timeout=60)
    code, body, _ = d.get("/ready")
    assert code == 200, body
    assert {body["checks"][k] for k in ("mailers", "inbox", "webhook")} == \
        {"ok"}, body


def test_roles_not_running_are_not_checked(conf, notifyd):
    d = notifyd(nd.merge(inbox_conf(conf), {"inbox": {"workers": 0}}))
    code, body, _ = d.get("/ready")
    assert code == 200, body
    assert "inbox" not in body["checks"] and "webhook" not in body["checks"]
    assert "mailers" not in body["checks"]      # email.workers = 0 here
