"""Issue 13 point 2: /audit/events and /audit/tail write their rows
straight into one buffer (src/api_audit_json.c) instead of a jansson tree
per row.  The bytes must stay what jansson printed: here each page is
compared byte for byte with two paths still built by jansson, the NDJSON
export (one row a line) and /audit/events/{id} (the row, then its bytes),
over rows that are hard to print: unicode escapes, control characters,
numbers jansson cannot hold (1e400, 2^64), reals it prints at 15 digits,
nested objects, text and binary messages, tombstones, NULL columns.
"""
import json
import urllib.request

import nd

AUDIT = {"enabled": True, "metadata_refresh": 500, "batch_linger": 20}

# Messages as the producers send them; the audit role stores them as
# jsonb (or NULL when not JSON), which prints them its own way.
MESSAGES = [
    '{"type": "plain", "orderId": "o-1", "customerId": "c-1"}',
    '{"type": "esc", "s": "caf\\u00e9 \\ud83d\\ude00 \\u0001\\u001f\\u007f"'
    ', "q": "\\"\\\\/\\b\\f\\n\\r\\t", "k\\u00e9y": 1}',
    '{"type": "big", "i": 123456789012345678901234567890,'
    ' "j": 18446744073709551616, "m": -9223372036854775808}',
    '{"type": "huge", "e": 1e400, "n": -1E+400, "ok": 1}',
    '{"type": "tiny", "e": 1e-400, "f": 1.0, "g": 0.1, "h": 1.50,'
    ' "x": 0.30000000000000004, "y": 1e20, "z": 1.5e-7,'
    ' "w": 123456789012345678.9}',
    '{"type": "nested", "payload": {"a": [1, [2, [3, {"b": {}}]], []],'
    ' "c": null, "d": true, "e": false}}',
    '{"type": "dup", "a": 1, "a": 2}',
    '[1, "two", {"three": 3}]',
    '"just a string"',
    '12345',
    'not json at all',
    '{"type": "spaces",   "a" :  [ 1 ,2 ] }',
]


def raw_get(d, path, headers=None):
    req = urllib.request.Request(d.url + path, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.headers, r.read()


def add_sql_rows(db):
    """Rows no producer here makes: NULL columns, a tombstone, binary,
    a manual row, odd text in the plain columns."""
    db.query(
        "INSERT INTO audit_events (source_topic, partition, \"offset\","
        " event_type, value, event, kafka_ts, kafka_ts_type) VALUES"
        " ('tricky', 9, 1, 'tombstone', NULL, NULL, now(), 'create'),"
        " ('tricky', 9, 2, 'binary', '\\xff00fe'::bytea, NULL, NULL, NULL)")
    db.query(
        "INSERT INTO audit_events (customer_id, runner_id, order_id, event,"
        " source_topic, event_type, source_service, correlation_id, status)"
        " VALUES ('c\"u\\s\ttab', NULL, 'o\u00e9\U0001F600', '{}',"
        " 'tricky', 'manual', 'api', E'line\\nbreak\\x01', 'captured'),"
        " (NULL, NULL, NULL, NULL, 'tricky', '', NULL, NULL, 'x')")


def old_rows(d):
    """The rows of topic tricky as jansson prints them, newest first (the
    export goes oldest first)."""
    st, hdr, body = raw_get(d, "/audit/events?topic=tricky&format=ndjson")
    assert st == 200, body
    lines = body.split(b"\n")
    assert lines[-1] == b""
    ids = [json.loads(x)["id"] for x in lines[:-1]]
    assert ids == sorted(ids)
    return lines[:-1][::-1]


def test_pages_are_byte_identical(db, smtp, kafka, notifyd):
    conf = nd.merge(nd.base_conf(db.conninfo, kafka.bootstrap, smtp.url,
                                 nd.free_port()), {"audit": AUDIT})
    d = notifyd(conf)
    kafka.produce("tricky", MESSAGES)
    kafka.produce("tricky", [b"\xff\xfe binary \x00 bytes", b"{\"a\": \"\xff\"}"])
    nd.wait_until(lambda: db.scalar(
        "SELECT count(*) FROM audit_events WHERE source_topic = 'tricky'")
        == len(MESSAGES) + 2, 60, msg="the messages recorded")
    add_sql_rows(db)
    old = old_rows(d)
    total = len(MESSAGES) + 6
    assert len(old) == total
    # the cases are really there: jansson's own conversions show
    text = b"\n".join(old)
    for want in (b'"i":"123456789012345678901234567890"', b'"e":"1',
                 b'"f":1.0', b'"x":0.3', b'"y":"100000000000000000000"',
                 b'"z":1.5e-7',
                 b'"w":1.23456789012346e17', b'\\u0001\\u001F\x7f',
                 b'caf\xc3\xa9 \xf0\x9f\x98\x80', b'"event":null',
                 b'"customerId":null', b'"customerId":"c\\"u\\\\s\\ttab"',
                 b'"kafkaTimestamp":null',
                 b'"correlationId":"line\\nbreak\\u0001"'):
        assert want in text, want

    # one page of everything, then pages of 1, 2 and 5 with "next"
    st, hdr, body = raw_get(d, "/audit/events?topic=tricky&limit=1000")
    assert st == 200 and hdr["Content-Type"] == "application/json"
    assert body == b'{"events":[' + b",".join(old) + b'],"next":null}'
    for limit in (1, 2, 5):
        got, after = [], None
        while True:
            st, _, body = raw_get(d, "/audit/events?topic=tricky&limit=%d%s"
                                  % (limit, "&after=%d" % after
                                         if after else ""))
            page = json.loads(body)
            n = len(page["events"])
            rows = old[len(got):len(got) + n]
            nxt = (b"null" if page["next"] is None
                   else str(page["next"]).encode())
            assert body == (b'{"events":[' + b",".join(rows) +
                            b'],"next":' + nxt + b"}")
            got += rows
            after = page["next"]
            if after is None:
                break
        assert got == old

    # /audit/events/{id}: the same row, then key, value, ... (jansson)
    for line in old:
        row = json.loads(line)
        st, _, one = raw_get(d, "/audit/events/%d" % row["id"])
        assert st == 200 and one.startswith(line[:-1] + b',"key":'), one

    # the tail, oldest first, 3 rows a page
    got, after = [], ""
    while True:
        st, _, body = raw_get(d, "/audit/tail?topic=tricky&limit=3" + after)
        page = json.loads(body)
        if not page["events"]:
            break
        rows = old[::-1][len(got):len(got) + len(page["events"])]
        assert body == (b'{"events":[' + b",".join(rows) + b'],"next":"' +
                        page["next"].encode() + b'"}')
        got += rows
        after = "&after=" + page["next"]
    assert got == old[::-1]


def test_an_empty_page(db, smtp, kafka, notifyd):
    d = notifyd(nd.merge(nd.base_conf(db.conninfo, kafka.bootstrap,
                                      smtp.url, nd.free_port()),
                         {"audit": {"enabled": False}}))
    st, _, body = raw_get(d, "/audit/events?topic=none")
    assert st == 200 and body == b'{"events":[],"next":null}'
    st, _, body = raw_get(d, "/audit/tail?after=5-7&topic=none")
    assert st == 200 and body == b'{"events":[],"next":"5-7"}'
