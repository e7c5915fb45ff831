"""Issue 13 point 2: /audit/events and /audit/tail read their page in
PostgreSQL's binary format and format the times, ids, uuids, partitions
and offsets themselves (src/api_audit_json.c), where the server used to
run to_char() and the output functions.  The bytes must stay those of
the text path: each page is compared with the NDJSON export, which still
reads text and to_char(), over the times to_char prints oddly (years
before 1 with no era, more than four digits after 9999, infinity as
null, the microseconds either side of 1970 and 2000) and the integer
extremes.
"""
import json
import urllib.request

import nd

TIMES = [
    "4714-11-24 00:00:00+00 BC", "0001-01-01 00:00:00+00 BC",
    "0001-12-31 23:59:59.999999+00 BC", "0001-01-01 00:00:00+00",
    "1969-12-31 23:59:59.999999+00", "1970-01-01 00:00:00+00",
    "1999-12-31 23:59:59.999999+00", "2000-01-01 00:00:00+00",
    "2000-01-01 00:00:00.000001+00", "2000-02-29 12:34:56.000001+00",
    "2100-03-01 01:02:03.4+00", "9999-12-31 23:59:59.999999+00",
    "10000-01-01 00:00:00+00", "294276-12-31 23:59:59.999999+00",
    "infinity", "-infinity",
]
INTS = [(-2147483648, -9223372036854775808), (2147483647,
                                              9223372036854775807), (0, 0)]


def raw_get(d, path):
    with urllib.request.urlopen(d.url + path, timeout=30) as r:
        return r.status, r.read()


def add_rows(db):
    """One row per time as created_at and as kafka_ts (the next time,
    so that both columns see every value), then the integer extremes."""
    for i, t in enumerate(TIMES):
        db.query("INSERT INTO audit_events (source_topic, partition,"
                 " \"offset\", event_type, event, created_at, kafka_ts,"
                 " kafka_ts_type) VALUES ('bin', %s, %s, 't', '{\"i\": 1}',"
                 " %s, %s, 'create')",
                 (i, i, t, TIMES[(i + 1) % len(TIMES)]))
    for p, o in INTS:
        db.query("INSERT INTO audit_events (source_topic, partition,"
                 " \"offset\", event_type, notification_id) VALUES"
                 " ('bin', %s, %s, 'i', %s)",
                 (p, o, "ffffffff-0000-4000-8abc-0123456789ab" if p else
                  "00000000-0000-0000-0000-000000000000"))


def test_binary_pages_match_the_text_path(db, smtp, kafka, notifyd):
    d = notifyd(nd.merge(nd.base_conf(db.conninfo, kafka.bootstrap,
                                      smtp.url, nd.free_port()),
                         {"audit": {"enabled": False}}))
    add_rows(db)
    st, body = raw_get(d, "/audit/events?topic=bin&format=ndjson")
    assert st == 200, body
    old = body.split(b"\n")[:-1][::-1]
    assert len(old) == len(TIMES) + len(INTS)
    text = b"\n".join(old)
    for want in (b'"createdAt":"4714-11-24T00:00:00.000000+00:00"',
                 b'"createdAt":"0001-01-01T00:00:00.000000+00:00"',
                 b'"createdAt":"0001-12-31T23:59:59.999999+00:00"',
                 b'"createdAt":"1999-12-31T23:59:59.999999+00:00"',
                 b'"createdAt":"10000-01-01T00:00:00.000000+00:00"',
                 b'"createdAt":"294276-12-31T23:59:59.999999+00:00"',
                 b'"createdAt":null', b'"kafkaTimestamp":null',
                 b'"partition":-2147483648,"offset":-9223372036854775808',
                 b'"partition":2147483647,"offset":9223372036854775807',
                 b'"notificationId":"ffffffff-0000-4000-8abc-0123456789ab"',
                 b'"notificationId":"00000000-0000-0000-0000-000000000000"'):
        assert want in text, want

    st, body = raw_get(d, "/audit/events?topic=bin&limit=1000")
    assert st == 200
    assert body == b'{"events":[' + b",".join(old) + b'],"next":null}'
    # pages of 3 by "next"; since/until pages (the range query)
    got, after = [], ""
    while True:
        st, body = raw_get(d, "/audit/events?topic=bin&limit=3" + after)
        page = json.loads(body)
        rows = old[len(got):len(got) + len(page["events"])]
        assert body == (b'{"events":[' + b",".join(rows) + b'],"next":' +
                        json.dumps(page["next"]).encode() + b"}")
        got += rows
        if page["next"] is None:
            break
        after = "&after=%d" % page["next"]
    assert got == old
    st, body = raw_get(d, "/audit/events?topic=bin&limit=1000"
                       "&since=1970-01-01T00:00:00Z&until=9999-01-01T00:00:00Z")
    # TIMES[5:11] fall in the range, and the INTS rows (made now)
    want = [x for x in old if json.loads(x)["eventType"] == "i" or
            5 <= json.loads(x)["partition"] <= 10]
    assert len(want) == 9
    assert body == b'{"events":[' + b",".join(want) + b'],"next":null}'

    # the tail, oldest first, 4 rows a page
    got, after = [], ""
    while True:
        st, body = raw_get(d, "/audit/tail?topic=bin&limit=4" + after)
        page = json.loads(body)
        if not page["events"]:
            break
        rows = old[::-1][len(got):len(got) + len(page["events"])]
        assert body == (b'{"events":[' + b",".join(rows) + b'],"next":"' +
                        page["next"].encode() + b'"}')
        assert page["next"].endswith("-%d" % json.loads(rows[-1])["id"])
        got += rows
        after = "&after=" + page["next"]
    assert got == old[::-1]
