"""The audit role (issue 4): every Kafka message in audit_events, exactly
once, and the seed's audit queries over HTTP.

Messages are produced with clients we did not write: Debian's
python3-kafka (KafkaProducer) and kcat (nd.KafkaMock.produce).
"""
import base64
import json
import os
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


def wait_count(db, n, timeout=20, where="partition IS NOT NULL"):
    """Waits until exactly-or-more n Kafka rows are recorded; returns it."""
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


def test_records_every_topic_with_fields(conf, kafka, db, notifyd, producer):
    d = notifyd(audit_conf(conf, exclude="^ignored"))
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

    # A topic created after start is picked up by the regex subscription.
    t0 = time.monotonic()
    kafka.produce("late-topic", ['{"type": "late.one"}', "plain"])
    wait_count(db, 2, 20, "source_topic = 'late-topic'")
    assert time.monotonic() - t0 < 20
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


def decode(text, encoding):
    if text is None:
        return None
    if encoding == "base64":
        return base64.b64decode(text)
    assert encoding == "utf-8"
    return text.encode()
