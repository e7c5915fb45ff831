"""The audit role (issue 4): every Kafka message in audit_events, exactly
once, and the seed's audit queries over HTTP.

Messages are produced with clients we did not write: Debian's
python3-kafka (KafkaProducer) and kcat (nd.KafkaMock.produce).
"""
import base64
import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer

import nd

AUDIT = {"enabled": True, "metadata_refresh": 500, "batch_linger": 20}


def audit_conf(conf, **audit):
    return nd.merge(conf, {"audit": dict(AUDIT, **audit)})


def make_conf(db, smtp, kafka, session_ms=None, **audit):
    """Test settings on a given mock (kafka_factory), audit enabled.

    A shorter session makes the group drop a killed member sooner (the
    mock needs at least 3 s to assign at all)."""
    conf = audit_conf(nd.base_conf(db.conninfo, kafka.bootstrap, smtp.url,
                                   nd.free_port()), **audit)
    if session_ms is not None:
        conf["kafka"]["properties"] = [
            "session.timeout.ms=%d" % session_ms if p.startswith("session.")
            else p for p in conf["kafka"]["properties"]]
    return conf


@pytest.fixture
def producer():
    """producer(kafka, **KafkaProducer options); closed before the mock."""
    made = []

    def make(kafka, **kw):
        kw.setdefault("linger_ms", 5)
        made.append(KafkaProducer(bootstrap_servers=kafka.bootstrap, **kw))
        return made[-1]

    yield make
    for p in made:
        p.close(timeout=5)


def count(db, where="TRUE", params=None):
    return db.scalar("SELECT count(*) FROM audit_events WHERE " + where,
                     params)


def wait_count(db, n, timeout=60, where="partition IS NOT NULL"):
    """Waits until exactly-or-more n Kafka rows are recorded; returns it."""
    # 60 s: the first consumer-group join against the mock broker has
    # taken over 20 s on a loaded machine; a wait, so a pass costs nothing.
    return nd.wait_until(lambda: count(db, where) >= n and count(db, where),
                         timeout, msg="%d audit rows" % n)


def assert_exactly_once(db, expected):
    """No (topic, partition, offset) twice, none missing: per partition
    the offsets recorded are exactly 0..n-1."""
    rows = db.query("SELECT source_topic, partition, count(*),"
                    " count(DISTINCT \"offset\"), min(\"offset\"),"
                    " max(\"offset\") FROM audit_events"
                    " WHERE partition IS NOT NULL GROUP BY 1, 2")
    total = 0
    for topic, part, n, distinct, lo, hi in rows:
        assert n == distinct, (topic, part, n, distinct)
        assert (lo, hi) == (0, n - 1), (topic, part, lo, hi, n)
        total += n
    assert total == expected


def audit_pid(d):
    """The pid of the master's audit child (its comm is notifyd-audit)."""
    for pid in d.children():
        try:
            if Path("/proc/%d/comm" % pid).read_text().strip() == \
                    "notifyd-audit":
                return pid
        except FileNotFoundError:
            pass
    return None


def event_row(db, topic, offset, partition=0):
    return db.query("SELECT id FROM audit_events WHERE source_topic = %s"
                    " AND partition = %s AND \"offset\" = %s",
                    (topic, partition, offset))[0][0]


# ---------------------------------------------------------------- capture

SEED_MESSAGES = [
    # snake_case, ids in payload
    ({"type": "order.created", "correlation_id": "corr-1",
      "source": "order-service",
      "payload": {"customer_id": "cust-1", "runner_id": "run-1",
                  "order_id": "ord-1"}},
     ("order.created", "corr-1", "order-service", "cust-1", "run-1",
      "ord-1")),
    # camelCase, numbers as ids
    ({"eventType": "payment.done", "correlationId": "corr-2",
      "source_service": "payments",
      "payload": {"customerId": 42, "runnerId": 7, "orderId": 1001}},
     ("payment.done", "corr-2", "payments", "42", "7", "1001")),
    # event_type, no payload: ids at the top level
    ({"event_type": "user.updated", "customerId": "cust-3",
      "orderId": "ord-3"},
     ("user.updated", None, None, "cust-3", None, "ord-3")),
    # payload without the ids: fall back to the top level
    ({"type": "escrow.held", "order_id": "ord-4",
      "payload": {"amount": 12}},
     ("escrow.held", None, None, None, None, "ord-4")),
    # JSON without any known field
    ({"hello": "world"}, ("unknown", None, None, None, None, None)),
]

FIELDS = ("event_type, correlation_id, source_service, customer_id,"
          " runner_id, order_id")


def test_records_every_topic_with_fields(db, smtp, kafka_factory, notifyd,
                                        producer):
    # Topics that exist at start are in the first assignment; late-topic
    # below needs a metadata refresh and a rebalance.
    kafka = kafka_factory(topics=[("order-events", 1), ("payment_events", 1),
                                  ("ignored-topic", 1)])
    d = notifyd(make_conf(db, smtp, kafka, exclude="^ignored"))
    p = producer(kafka)
    for i, (msg, _) in enumerate(SEED_MESSAGES):
        p.send("order-events" if i % 2 else "payment_events",
               json.dumps(msg).encode(), partition=0)
    p.send("ignored-topic", b'{"type": "x"}')
    p.flush()
    wait_count(db, len(SEED_MESSAGES))
    for msg, want in SEED_MESSAGES:
        rows = db.query("SELECT " + FIELDS + ", event, status, value"
                        " FROM audit_events WHERE value = %s",
                        (json.dumps(msg).encode(),))
        assert len(rows) == 1, msg
        assert rows[0][:6] == want
        assert rows[0][6] == msg and rows[0][7] == "captured"

    # A topic created after start is picked up by the regex subscription
    # (after a metadata refresh and a rebalance: no time is promised, and
    # a rebalance can take long on a loaded machine).
    kafka.produce("late-topic", ['{"type": "late.one"}', "plain"])
    wait_count(db, 2, 60, "source_topic = 'late-topic'")
    assert count(db, "source_topic = 'ignored-topic'") == 0
    # Internal (__) topics are never recorded.
    assert count(db, "source_topic LIKE '\\_\\_%%'") == 0
    st, body, _ = d.get("/audit/topics")
    assert st == 200
    names = {t["topic"] for t in body["topics"]}
    assert {"order-events", "payment_events", "late-topic"} <= names


def test_bytes_are_kept_exactly(conf, kafka, db, notifyd, producer):
    d = notifyd(audit_conf(conf))
    binary = b"\x00\xff\x00bin\x80\x00\n\\."
    sent = [  # (key, value, headers)
        (b"k-text", b"plain text, not JSON \xc3\xa9", []),
        (b"\x00key\xff", binary,
         [("h-text", b"v1"), ("h-bin", b"\x00\x01\xfe"), ("h-empty", b"")]),
        (b"tomb", None, [("reason", b"deleted")]),
        (None, b'{"type": "t", "s": "tab\\t nl\\n quote\\" u\\u00e9"}', []),
        (None, b"{broken json", []),
        (None, b"", []),
    ]
    p = producer(kafka)
    for key, value, headers in sent:
        p.send("bytes", value, key=key, headers=headers, partition=0)
    p.flush()
    wait_count(db, len(sent))
    for offset, (key, value, headers) in enumerate(sent):
        row = db.query("SELECT key, value, event_type, event IS NULL"
                       " FROM audit_events WHERE source_topic = 'bytes'"
                       " AND \"offset\" = %s", (offset,))[0]
        assert (bytes(row[0]) if row[0] is not None else None) == key
        assert (bytes(row[1]) if row[1] is not None else None) == value
        is_json = value is not None and value.startswith(b'{"')
        assert row[2] == ("t" if is_json else "unknown")
        assert row[3] == (not is_json)
        st, ev, _ = d.get("/audit/events/%d" % event_row(db, "bytes", offset))
        assert st == 200, ev
        assert decode(ev["key"], ev["keyEncoding"]) == key
        assert decode(ev["value"], ev["valueEncoding"]) == value
        assert ev["tombstone"] == (value is None)
        assert ev["partition"] == 0 and ev["offset"] == offset
        assert ev["kafkaTimestamp"] and ev["kafkaTimestampType"] == "create"
        got = [(h["key"], decode(h["value"], h["encoding"]))
               for h in ev["headers"] or []]
        assert got == headers
    assert d.get("/audit/events/%d" % event_row(db, "bytes", 1))[1][
        "valueEncoding"] == "base64"
    assert d.get("/audit/events/%d" % event_row(db, "bytes", 0))[1][
        "valueEncoding"] == "utf-8"


def test_replay_of_committed_rows_is_harmless(db, smtp, kafka_factory,
                                             notifyd, producer):
    """Rows another consumer (a zombie) committed already: the COPY hits
    the unique constraint, the batch goes through the replay path, and
    only the missing rows are added."""
    kafka = kafka_factory(topics=[("replay", 1)])
    conf = make_conf(db, smtp, kafka)
    assert notifyd(conf, wait_ready=False, args=("--migrate",)).wait() == 0
    db.query("INSERT INTO audit_events (source_topic, partition, \"offset\","
             " event_type, value) VALUES ('replay', 0, 1, 'zombie', 'z')")
    p = producer(kafka)
    for n in range(4):
        p.send("replay", b'{"type": "real", "n": %d}' % n, partition=0)
    p.flush()
    d = notifyd(conf)
    wait_count(db, 4)
    assert_exactly_once(db, 4)
    assert db.query("SELECT \"offset\", event_type FROM audit_events"
                    " ORDER BY 1") == [(0, "real"), (1, "zombie"),
                                       (2, "real"), (3, "real")]
    assert db.scalar("SELECT \"offset\" FROM kafka_offsets"
                     " WHERE topic = 'replay'") == 3
    d.wait_log("already recorded")


def decode(text, encoding):
    if text is None:
        return None
    if encoding == "base64":
        return base64.b64decode(text)
    assert encoding == "utf-8"
    return text.encode()


# ---------------------------------------------------------------- exactly once

class Producing(threading.Thread):
    """Produces total JSON messages with kcat in chunks, spread over
    pause seconds, while the test breaks things."""

    def __init__(self, kafka, topic, partitions, total, chunks, pause,
                 pad=900):
        super().__init__(daemon=True)
        self.kafka, self.topic, self.total = kafka, topic, total
        # Chunks go round the partitions: each mock partition keeps only
        # ~5 MB, and an unkeyed chunk would all land on one.
        self.partitions = partitions
        self.chunks, self.pause = chunks, pause
        # ~1 KB messages: a batch of a few hundred is more than the
        # role streams into its open COPY before committing (256 KB).
        self.pad = "x" * pad
        self.error = None
        self.sent = 0

    def run(self):
        try:
            per = self.total // self.chunks
            for c in range(self.chunks):
                self.kafka.produce(self.topic, [
                    '{"type": "load", "orderId": "o-%d", "n": %d, "pad": "%s"}'
                    % (n, n, self.pad)
                    for n in range(c * per, (c + 1) * per)],
                    partition=c % self.partitions)
                self.sent += per
                time.sleep(self.pause / self.chunks)    # pacing, not waiting
        except Exception as e:      # noqa: BLE001 - reported by the test
            self.error = e

    def finish(self, timeout=60):
        self.join(timeout)
        assert not self.is_alive(), "producer stuck"
        assert self.error is None, self.error
        assert self.sent == self.total


def test_kill_9_loses_and_doubles_nothing(db, smtp, kafka_factory, notifyd):
    kafka = kafka_factory(topics=[("stress", 8)])
    d = notifyd(make_conf(db, smtp, kafka, session_ms=4000, batch_size=300,
                          batch_linger=30))
    prod = Producing(kafka, "stress", 8, 20000, 40, 16)
    prod.start()
    kills = 0
    while kills < 4:
        before = count(db)
        # Kill only a process that made progress: each one joined the
        # group, got partitions and committed at least one batch.
        # A respawned one first waits out a rebalance of the group.
        pid = nd.wait_until(lambda: count(db) > before and audit_pid(d),
                            90, msg="audit progress after %d kills" % kills)
        os.kill(pid, signal.SIGKILL)
        kills += 1
        nd.wait_until(lambda: audit_pid(d) not in (None, pid), 30,
                      msg="audit respawned")
    prod.finish()
    wait_count(db, 20000, 120)
    assert_exactly_once(db, 20000)
    assert d.log().count("audit/0 pid") >= 4     # the master saw each death


def test_postgres_outage_loses_and_doubles_nothing(pg, db, smtp,
                                                   kafka_factory, notifyd):
    kafka = kafka_factory(topics=[("outage", 4)])
    d = notifyd(make_conf(db, smtp, kafka, batch_size=500))
    prod = Producing(kafka, "outage", 4, 8000, 32, 14)
    prod.start()
    wait_count(db, 500)
    mark = d.mark()
    pg.stop()
    try:
        # After a slow first group join the producer may be done and
        # everything recorded: this message is one to commit in any case.
        kafka.produce("outage", ['{"type": "during"}'], partition=0)
        d.wait_log("not committed: .*consumption paused", 30, mark)
        time.sleep(10)      # the outage itself, not a wait for readiness
    finally:
        pg.start()
    d.wait_log("database reachable again; consumption resumed", 30, mark)
    prod.finish()
    wait_count(db, 8001, 90)
    assert_exactly_once(db, 8001)
    assert d.alive() and audit_pid(d) is not None


def test_postgres_crash_loses_and_doubles_nothing(pg, db, smtp,
                                                  kafka_factory, notifyd):
    """A crash loses commits PostgreSQL acknowledged but had not flushed
    (asynchronous commit, as audit.synchronous_commit = false asks): the
    audit role must read them again from the offsets that survived."""
    kafka = kafka_factory(topics=[("crash", 4)])
    d = notifyd(make_conf(db, smtp, kafka, batch_size=200))
    prod = Producing(kafka, "crash", 4, 12000, 32, 10)
    prod.start()
    for crash in range(3):
        wait_count(db, 1000 * (crash + 1), 60)
        mark = d.mark()
        pg.crash()
        try:
            # Something to commit even if the producer is done and all
            # recorded (a slow first join): the role sees the crash.
            kafka.produce("crash", ['{"type": "during"}'], partition=0)
            d.wait_log("not committed: .*consumption paused|database "
                       "unavailable", 30, mark)
        finally:
            pg.start()
        d.wait_log("database reachable again; consumption resumed", 30,
                   mark)
    prod.finish()
    wait_count(db, 12003, 120)
    assert_exactly_once(db, 12003)
    assert d.alive() and audit_pid(d) is not None


def owned(d):
    """Partitions of "six" an instance was ever assigned (its log)."""
    return set(re.findall(r"assigned six \[(\d)\]", d.log()))


@pytest.mark.parametrize("strategy", ["range,roundrobin",
                                      "cooperative-sticky"])
def test_two_instances_share_a_group(db, smtp, kafka_factory, notifyd,
                                     strategy):
    kafka = kafka_factory(topics=[("six", 6)])
    conf = make_conf(db, smtp, kafka, session_ms=4000)
    conf["kafka"]["properties"].append(
        "partition.assignment.strategy=" + strategy)
    a = notifyd(conf)
    b = notifyd(nd.merge(conf, {"http": {"port": nd.free_port()}}))
    # b joined: the group shares the partitions between the two (a
    # rebalance: slow on a loaded machine).
    b.wait_log(r"assigned six \[", 90)
    kafka.produce("six", ['{"type": "a", "n": %d}' % n for n in range(3000)])
    wait_count(db, 3000)
    assert_exactly_once(db, 3000)
    assert 0 < len(owned(b)) < 6 and 0 < len(owned(a))

    a.kill()
    kafka.produce("six", ['{"type": "b", "n": %d}' % n for n in range(3000)])
    # b takes a's partitions over (all at once when eager, a's three
    # added to its own when cooperative).
    nd.wait_until(lambda: owned(b) == set("012345"), 90,
                  msg="b owns all six partitions")
    wait_count(db, 6000, 60)
    assert_exactly_once(db, 6000)


# ---------------------------------------------------------------- HTTP

TO_DICT = {"notificationId", "customerId", "runnerId", "orderId", "event",
           "status", "createdAt", "sourceTopic", "eventType",
           "correlationId", "sourceService"}


def order_msg(i, order="o-1", customer="cu-1"):
    return json.dumps({"type": "order.step%d" % i,
                       "correlation_id": "c-%d" % (i % 2), "source": "svc",
                       "payload": {"order_id": order,
                                   "customer_id": customer}}).encode()


@pytest.fixture
def served(db, smtp, kafka_factory, notifyd, producer):
    """notifyd with nine recorded messages on two topics."""
    kafka = kafka_factory(topics=[("orders", 2), ("users", 1)])
    d = notifyd(make_conf(db, smtp, kafka))
    p = producer(kafka)
    for i in range(7):
        p.send("orders", order_msg(i), partition=0)
    p.send("orders", order_msg(9, "o-2", "cu-2"), partition=1)
    p.send("users", b'{"type": "user.created", "customerId": "cu-1"}')
    p.flush()
    wait_count(db, 9)
    return d


def test_seed_endpoints(served, db):
    d = served
    assert d.get("/health")[:2] == (200, {"status": "ok"})
    st, rows, _ = d.get("/order/o-1")
    assert st == 200 and len(rows) == 7
    assert TO_DICT <= set(rows[0])
    assert [r["eventType"] for r in rows] == ["order.step%d" % i
                                              for i in range(7)]
    r = rows[3]
    assert (r["orderId"], r["customerId"], r["runnerId"], r["status"],
            r["sourceTopic"], r["correlationId"], r["sourceService"]) == \
        ("o-1", "cu-1", None, "captured", "orders", "c-1", "svc")
    assert r["event"]["payload"]["order_id"] == "o-1"
    assert r["createdAt"].startswith("20") and "T" in r["createdAt"]
    st, latest, _ = d.get("/order/o-1/latest")
    assert st == 200 and latest["eventType"] == "order.step6"
    st, body, _ = d.get("/order/none/latest")
    assert st == 404 and body["error"]
    assert d.get("/order/none")[:2] == (200, [])

    st, rows, _ = d.get("/customer/cu-1/notifications")
    assert st == 200 and len(rows) == 8
    # newest first (the seed's to_dict has no id of ours)
    assert [r["notificationId"] for r in rows] == [n for n, in db.query(
        "SELECT notification_id::text FROM audit_events"
        " WHERE customer_id = 'cu-1' ORDER BY id DESC")]
    assert "id" not in rows[0]
    assert d.get("/customer/cu-1/notifications?limit=3")[1] == rows[:3]
    st, page, _ = d.get("/customer/cu-1/notifications?limit=3&offset=6")
    assert page == rows[6:]

    st, made, _ = d.post("/send-notification", json={
        "customerId": "cu-9", "runnerId": "r-9", "orderId": "o-9",
        "event": "Your order has been placed"})
    assert st == 201, made
    assert TO_DICT <= set(made)
    assert (made["customerId"], made["runnerId"], made["orderId"],
            made["event"]) == ("cu-9", "r-9", "o-9",
                               "Your order has been placed")
    assert d.get("/order/o-9/latest")[1]["notificationId"] == \
        made["notificationId"]
    st, made, _ = d.post("/send-notification", json={
        "customerId": 5, "orderId": "o-9", "event": {"any": ["json"]}})
    assert st == 201 and made["runnerId"] is None and made["customerId"] == "5"


SEND_400 = [
    (b"not json", None),
    (b"[]", None),
    (b"{}", "customerId"),
    (b'{"customerId": "c", "event": "e"}', "orderId"),
    (b'{"customerId": "c", "orderId": "o"}', "event"),
    (b'{"customerId": {"x": 1}, "orderId": "o", "event": "e"}', "customerId"),
    (b'{"customerId": "", "orderId": "o", "event": "e"}', "customerId"),
    (b'{"customerId": "c", "orderId": "o", "runnerId": [1], "event": "e"}',
     "runnerId"),
    (b'{"customerId": "%s", "orderId": "o", "event": "e"}' % (b"x" * 256),
     "customerId"),
]

EVENTS_400 = [
    ("limit=abc", "limit"), ("limit=0", "limit"), ("limit=1001", "limit"),
    ("limit=", "limit"), ("after=x", "after"), ("after=-1", "after"),
    ("since=yesterday", "since"), ("since=2025-02-30T00:00:00Z", "since"),
    ("until=2025-01-01T25:00:00Z", "until"), ("until=2025-1-1", "until"),
    ("since=2025-01-01T00:00:00+0", "since"),
    ("bogus=1", "bogus"), ("topic=a&orderId=1", "orderId"),
]


def test_audit_400s(conf, notifyd):
    """Bad bodies and parameters: 400 JSON naming the field (no Kafka
    needed: the api role answers without the audit role)."""
    d = notifyd(conf)
    for body, field in SEND_400:
        st, err, _ = d.post("/send-notification", body=body,
                            headers={"Content-Type": "application/json"})
        assert st == 400 and err["status"] == 400 and err["error"], body
        assert err.get("field") == field, (body, err)
    for query, field in EVENTS_400:
        st, err, _ = d.get("/audit/events?" + query)
        assert st == 400 and err["field"] == field, (query, err)
    for path, field in (("/customer/c/notifications?limit=x", "limit"),
                        ("/customer/c/notifications?offset=-1", "offset"),
                        ("/customer/c/notifications?page=2", "page"),
                        ("/order/o-1?limit=0", "limit"),
                        ("/order/o-1/latest?x=1", "x"),
                        ("/audit/topics?x=1", "x"),
                        ("/audit/events/abc", "id"),
                        ("/audit/events/1?x=1", "x")):
        st, err, _ = d.get(path)
        assert st == 400 and err["field"] == field, (path, err)


def test_audit_events_query_and_pages(served):
    d = served
    seen, after, pages = [], None, 0
    while True:
        url = "/audit/events?limit=4" + ("&after=%d" % after if after else "")
        st, body, _ = d.get(url)
        assert st == 200, body
        seen += body["events"]
        pages += 1
        after = body["next"]
        if after is None:
            break
    ids = [e["id"] for e in seen]
    assert pages == 3 and len(ids) == 9 and ids == sorted(ids, reverse=True)
    assert {"partition", "offset", "kafkaTimestamp"} <= set(seen[0])
    assert TO_DICT <= set(seen[0])

    def n(query):
        st, body, _ = d.get("/audit/events?limit=1000&" + query)
        assert st == 200, (query, body)
        return len(body["events"])
    assert n("topic=orders") == 8
    assert n("topic=users") == 1
    assert n("event_type=order.step3") == 1
    assert n("correlation_id=c-1") == 4     # steps 1, 3, 5 and 9
    assert n("order_id=o-2") == 1
    assert n("customer_id=cu-1") == 8
    assert n("source_service=svc") == 8
    assert n("topic=orders&customer_id=cu-2") == 1
    assert n("since=2000-01-01T00:00:00Z") == 9
    assert n("since=2000-01-01T00:00:00%2B02:00&until=2999-01-01") == 9
    assert n("until=2000-01-01") == 0
    assert n("since=2999-12-31T23:59:59.999999-01:00") == 0
    assert n("after=%d" % ids[2]) == 6


def test_audit_event_and_topics(served, db):
    d = served
    assert d.get("/audit/events/987654321")[0] == 404
    some = db.query("SELECT id, notification_id::text FROM audit_events"
                    " WHERE source_topic = 'users'")[0]
    for ref in some:
        st, ev, _ = d.get("/audit/events/%s" % ref)
        assert st == 200 and ev["id"] == some[0]
        assert ev["eventType"] == "user.created" and ev["key"] is None
        assert json.loads(ev["value"]) == {"type": "user.created",
                                           "customerId": "cu-1"}
    d.post("/send-notification", json={"customerId": "c", "orderId": "o",
                                       "event": "manual"})
    st, body, _ = d.get("/audit/topics")
    assert st == 200
    topics = {t["topic"]: t for t in body["topics"]}
    assert set(topics) == {"orders", "users"}     # manual rows are no topic
    assert topics["orders"]["count"] == 8
    assert [(p["partition"], p["count"], p["lastOffset"])
            for p in topics["orders"]["partitions"]] == [(0, 7, 6), (1, 1, 0)]
    assert topics["users"]["lastSeen"]


def test_consumer_lag_in_metrics(db, smtp, kafka_factory, notifyd):
    """librdkafka's per-partition consumer lag reaches /metrics; it drops
    to 0 once everything produced is recorded.  Partition 1 never gets a
    message: an idle assigned partition reports 0 too."""
    kafka = kafka_factory(topics=[("lag-topic", 2)])
    conf = make_conf(db, smtp, kafka)
    conf["kafka"]["properties"].append("statistics.interval.ms=500")
    d = notifyd(conf)
    kafka.produce("lag-topic", ['{"n": %d}' % i for i in range(50)],
                  partition=0)
    wait_count(db, 50)
    line = re.compile(r'^notifyd_audit_consumer_lag\{topic="lag-topic",'
                      r'partition="([01])"\} (\d+)$', re.M)

    def settled():
        text = d.get("/metrics")[1]
        lags = dict(line.findall(text))
        return len(lags) == 2 and set(lags.values()) == {"0"}
    nd.wait_until(settled, timeout=60)
