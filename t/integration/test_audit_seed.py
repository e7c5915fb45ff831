"""Issue 13 point 5: the seed's endpoints return what seed 003's code
returned, value for value.

seed_poll() and to_dict() below are seed 003's poll_kafka_once() and
Notifications.to_dict() transcribed (with what PostgreSQL's varchar
columns make of the values psycopg2 sends); each case compares notifyd's
answer with theirs.
"""
import json
import urllib.request

import nd

AUDIT = {"enabled": True, "metadata_refresh": 500, "batch_linger": 20}
TO_DICT = ["correlationId", "createdAt", "customerId", "event", "eventType",
           "notificationId", "orderId", "runnerId", "sourceService",
           "sourceTopic", "status"]


class NotRecorded(Exception):
    """The seed's code raised for this message: it stored no row."""


def varchar(v):
    """A value in a String(255) column, as PostgreSQL gives it back."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    raise NotRecorded("psycopg2 cannot adapt %r" % (v,))


def seed_poll(topic, value, timestamp):
    """seed 003's loop body for one message: the row it added."""
    message_data = json.loads(value)
    try:
        event_type = message_data.get('type', 'unknown')
        payload = message_data.get('payload', message_data)
        correlation_id = message_data.get('correlation_id', '')
        source_service = message_data.get('source', 'unknown')
        customer_id = str(payload.get('customer_id',
                                      payload.get('customerId', '')))
        runner_id = str(payload.get('runner_id', payload.get('runnerId', '')))
        order_id = str(payload.get('order_id', payload.get('orderId', '')))
    except AttributeError as e:
        raise NotRecorded(e) from e
    event_info = {
        'topic': topic,
        'event_type': event_type,
        'correlation_id': correlation_id,
        'source_service': source_service,
        'timestamp': timestamp,
        'payload': payload,
    }
    return {
        "customer_id": customer_id if customer_id not in
        ('None', 'null', '') else '',
        "runner_id": runner_id if runner_id not in
        ('None', 'null', '') else None,
        "order_id": order_id if order_id not in ('None', 'null', '') else '',
        "event": json.dumps(event_info),
        "status": 'captured',
        "source_topic": topic,
        "event_type": varchar(event_type),
        "correlation_id": varchar(correlation_id),
        "source_service": varchar(source_service),
    }


def to_dict(row, notification_id, created):
    return {
        "notificationId": notification_id,
        "customerId": row["customer_id"],
        "runnerId": row["runner_id"],
        "orderId": row["order_id"],
        "event": json.loads(row["event"]),
        "status": row["status"],
        "createdAt": created,
        "sourceTopic": row["source_topic"],
        "eventType": row["event_type"],
        "correlationId": row["correlation_id"],
        "sourceService": row["source_service"],
    }


def raw_get(d, path):
    """(status, body parsed keeping key order as pair lists)."""
    with urllib.request.urlopen(d.url + path, timeout=10) as r:
        return r.status, json.loads(r.read(), object_pairs_hook=list)


def raw_bytes(d, path):
    with urllib.request.urlopen(d.url + path, timeout=10) as r:
        return r.read()


def jsonify(v):
    """The body Flask's jsonify sends (sort_keys, ensure_ascii, compact,
    a newline)."""
    return (json.dumps(v, sort_keys=True, separators=(",", ":"))
            + "\n").encode()


def assert_sorted_keys(v):
    """Flask's jsonify sorts keys at every level."""
    if isinstance(v, list) and v and all(isinstance(p, tuple) for p in v):
        keys = [k for k, _ in v]
        assert keys == sorted(keys), keys
        for _, x in v:
            assert_sorted_keys(x)
    elif isinstance(v, list):
        for x in v:
            assert_sorted_keys(x)


# (message, the seed endpoint that finds it)
CASES = [
    ({"type": "order.created", "correlation_id": "c-1", "source": "svc",
      "payload": {"order_id": "o-1", "customer_id": "cu-1",
                  "runner_id": "r-1"}}, "/order/o-1"),
    # missing customer, correlation id and source: '' and 'unknown'
    ({"type": "t", "payload": {"orderId": "o-2"}}, "/order/o-2"),
    # "type": "" stays ''
    ({"type": "", "payload": {"order_id": "o-3"}}, "/order/o-3"),
    # no type, no payload: the message is the payload
    ({"order_id": "o-4", "customer_id": "cu-4", "amount": 3}, "/order/o-4"),
    # numbers, floats and booleans through str()
    ({"type": "n", "payload": {"orderId": 900005, "customerId": 42,
                               "runnerId": 7}}, "/order/900005"),
    ({"payload": {"orderId": "o-6", "customerId": 1.0, "runnerId": 1e16}},
     "/order/o-6"),
    ({"payload": {"orderId": "o-7", "runnerId": True}}, "/order/o-7"),
    ({"payload": {"orderId": "o-8", "customerId": "None",
                  "runnerId": "null"}}, "/order/o-8"),
    # customer_id present but null: the seed does not try customerId
    ({"payload": {"order_id": "o-9", "customer_id": None,
                  "customerId": "cu-9"}}, "/order/o-9"),
    # non-string type, correlation id and source
    ({"type": 5, "correlation_id": 7, "source": None,
      "payload": {"orderId": "o-11"}}, "/order/o-11"),
    ({"type": True, "payload": {"orderId": "o-14", "customerId": "cu-14"}},
     "/customer/cu-14/notifications"),
    # escapes as Python's json.dumps: lower-case \\u, surrogate pairs,
    # DEL, "/" as is; floats as repr()
    ({"type": "caf\u00e9 \U0001F600 /\t\u007f\"\\\u0001", "payload": {
        "orderId": "o-13", "f": [0.1 + 0.2, 1e-05, 1.5e300, -0.0, 100.0]}},
     "/order/o-13"),
    # non-ASCII and nested objects (sorted at every level)
    ({"type": "caf\u00e9", "payload": {"orderId": "o-12", "z": 1, "a": {
        "y": 0.5, "b": [1, {"d": 2, "c": 3}]}}}, "/order/o-12"),
]

# Found by notifyd's own columns, but not by the seed's reading: empty.
NOT_FOUND = [
    # ids at the top level while a payload exists: the seed reads ''
    ({"type": "x", "order_id": "o-10", "customer_id": "cu-10",
      "payload": {"amount": 12}}, ["/order/o-10",
                                   "/customer/cu-10/notifications"]),
    ({"payload": {"order_id": "o-15", "customer_id": None,
                  "customerId": "cu-15"}}, ["/customer/cu-15/notifications"]),
    ({"payload": {"orderId": "None", "customerId": "None"}},
     ["/order/None", "/customer/None/notifications"]),
]


def served(db, smtp, kafka_factory, notifyd, messages):
    kafka = kafka_factory(topics=[("seed", 1)])
    conf = nd.merge(nd.base_conf(db.conninfo, kafka.bootstrap, smtp.url,
                                 nd.free_port()), {"audit": AUDIT})
    d = notifyd(conf)
    if messages:
        kafka.produce("seed", [json.dumps(m) for m in messages], partition=0)
    nd.wait_until(lambda: db.scalar("SELECT count(*) FROM audit_events")
                  >= len(messages), 60, msg="recorded")
    return d


def created_iso(db, notification_id):
    """The row's time as the seed's naive UTC datetime.isoformat()."""
    return db.scalar("SELECT created_at AT TIME ZONE 'UTC' FROM audit_events"
                     " WHERE notification_id = %s",
                     (notification_id,)).isoformat()


def test_seed_values_case_by_case(db, smtp, kafka_factory, notifyd):
    msgs = [m for m, _ in CASES] + [m for m, _ in NOT_FOUND]
    d = served(db, smtp, kafka_factory, notifyd, msgs)
    for msg, path in CASES:
        st, raw = raw_get(d, path)
        assert st == 200, (path, raw)
        assert_sorted_keys(raw)
        st, rows, _ = d.get(path)
        assert len(rows) == 1, (path, rows)
        got = rows[0]
        assert list(got) == TO_DICT         # no more, no fewer keys
        created = created_iso(db, got["notificationId"])
        want = to_dict(seed_poll("seed", json.dumps(msg), created),
                       got["notificationId"], created)
        assert got == want, (msg, got, want)
        # ... and byte for byte
        body = raw_bytes(d, path)
        assert body == jsonify([want] if path.startswith("/order/") and
                               not path.endswith("/latest") or
                               path.startswith("/customer/") else want), \
            (msg, body)
    for msg, paths in NOT_FOUND:
        for path in paths:
            assert d.get(path)[:2] == (200, []), (msg, path)
    # ... while /audit/events keeps notifyd's own reading.
    st, body, _ = d.get("/audit/events?order_id=o-10")
    assert st == 200 and len(body["events"]) == 1
    assert body["events"][0]["customerId"] == "cu-10"
    st, body, _ = d.get("/audit/events?order_id=o-2")
    ev = body["events"][0]
    assert (ev["customerId"], ev["sourceService"], ev["event"]) == \
        (None, None, msgs[1])


def test_latest_and_customer_pages(db, smtp, kafka_factory, notifyd):
    msgs = [{"type": "step%d" % i, "correlation_id": "c",
             "payload": {"order_id": "o-L", "customer_id": "cu-L"}}
            for i in range(5)]
    d = served(db, smtp, kafka_factory, notifyd, msgs)
    st, latest, _ = d.get("/order/o-L/latest")
    assert st == 200
    created = created_iso(db, latest["notificationId"])
    assert latest == to_dict(seed_poll("seed", json.dumps(msgs[4]), created),
                             latest["notificationId"], created)
    st, rows, _ = d.get("/customer/cu-L/notifications?limit=2&offset=1")
    assert [r["eventType"] for r in rows] == ["step3", "step2"]
    assert all(r["sourceService"] == "unknown" for r in rows)
    st, rows, _ = d.get("/order/o-L")
    assert [r["eventType"] for r in rows] == ["step%d" % i for i in range(5)]


def test_created_at_is_the_seeds_isoformat(db, smtp, kafka_factory, notifyd):
    """Naive UTC, microseconds only when not zero (datetime.isoformat)."""
    d = served(db, smtp, kafka_factory, notifyd,
               [{"payload": {"orderId": "o-T"}}])
    nid = d.get("/order/o-T/latest")[1]["notificationId"]
    db.query("UPDATE audit_events SET created_at ="
             " '2025-04-05 12:00:00+00' WHERE notification_id = %s", (nid,))
    got = d.get("/order/o-T/latest")[1]
    assert got["createdAt"] == "2025-04-05T12:00:00"
    assert got["event"]["timestamp"] == "2025-04-05T12:00:00"
    db.query("UPDATE audit_events SET created_at ="
             " '2025-04-05 12:00:00.0405+02' WHERE notification_id = %s",
             (nid,))
    assert d.get("/order/o-T/latest")[1]["createdAt"] == \
        "2025-04-05T10:00:00.040500"


def test_what_the_seed_could_not_store(db, smtp, kafka_factory, notifyd):
    """A payload that is not an object made the seed's code raise; we
    keep the row and show it with the seed's defaults, not nulls."""
    msg = {"type": "t", "orderId": "o-B", "payload": "text"}
    d = served(db, smtp, kafka_factory, notifyd, [msg])
    st, rows, _ = d.get("/order/o-B")
    assert st == 200 and len(rows) == 1
    r = rows[0]
    assert list(r) == TO_DICT
    assert (r["customerId"], r["runnerId"], r["orderId"], r["correlationId"],
            r["sourceService"], r["eventType"]) == \
        ("", None, "o-B", "", "unknown", "t")
    assert r["event"] == {"topic": "seed", "event_type": "t",
                          "correlation_id": "", "source_service": "unknown",
                          "timestamp": r["createdAt"], "payload": msg}


def test_send_notification_to_dict(db, smtp, kafka_factory, notifyd):
    d = served(db, smtp, kafka_factory, notifyd, [])
    st, made, _ = d.post("/send-notification", json={
        "customerId": "cu-M", "orderId": "o-M", "event": {"b": 1, "a": 2}})
    assert st == 201 and list(made) == TO_DICT
    assert made["createdAt"] == created_iso(db, made["notificationId"])
    assert (made["customerId"], made["runnerId"], made["orderId"],
            made["event"], made["status"]) == \
        ("cu-M", None, "o-M", {"a": 2, "b": 1}, "captured")
    st, raw = raw_get(d, "/order/o-M")
    assert_sorted_keys(raw)
