"""Bytes from clients at the API boundary (issue 10 points 2, 3 and 6,
issue 12's repeated query parameter).

Invalid UTF-8 (overlongs included) or a NUL in a path segment, a query
value or the Idempotency-Key header, \\u0000 in a JSON string and an
integer beyond 64 bits are the client's fault: 400 naming the field,
decided before any query, so neither notifyd_database_errors_total nor
PostgreSQL's log sees them.
"""
import json
import re

import nd

PATH = "/notification_service/api/notifications"

# (request path, the field the 400 must name)
BAD_PATHS = [
    ("/order/%FF", "orderId"),
    ("/order/%FF/latest", "orderId"),
    ("/customer/%C0%AF/notifications", "customerId"),
    ("/order/a%00b", "orderId"),
    ("/order/%00", "orderId"),
    ("/order/%ED%A0%80", "orderId"),            # a UTF-16 surrogate
    ("/order/%F4%90%80%80", "orderId"),         # beyond U+10FFFF
    ("/order/%E2%82", "orderId"),               # truncated sequence
    ("/customer/x%00/notifications", "customerId"),
    ("/audit/events/%FF", "id"),
    (PATH + "/%C0%B1", "id"),
    ("/audit/events?topic=%FF", "topic"),
    ("/audit/events?source_service=%FF%FE", "source_service"),
    ("/audit/events?order_id=%C0%80", "order_id"),
    ("/audit/events?order_id=ORD%001", "order_id"),
    ("/audit/events?customer_id=%E0%80%AF", "customer_id"),
    ("/order/ORD-1?limit=%FF", "limit"),
    (PATH + "?recipient=%FF", "recipient"),
    (PATH + "?userId=%C0%AF", "userId"),
    (PATH + "?userId=1%00", "userId"),
    # issue 12: a repeated parameter is refused, not silently picked
    ("/audit/events?topic=a&topic=b", "topic"),
    ("/audit/events?limit=5&topic=a&limit=5", "limit"),
    (PATH + "?status=SENT&status=FAILED", "status"),
    ("/customer/C1/notifications?offset=0&offset=0", "offset"),
]

# Valid UTF-8 keeps working (and finds nothing).
GOOD_PATHS = [
    "/order/caf%C3%A9",
    "/customer/%F0%9F%98%80/notifications",
    "/audit/events?topic=%E2%9C%93&source_service=s%C3%BC",
    PATH + "?recipient=%C3%BCser%40example.com&userId=%E2%82%AC",
]


def metric(d, name):
    st, text, _ = d.get("/metrics")
    assert st == 200
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("%s not in /metrics" % name)


def pg_errors(db, since):
    """PostgreSQL ERROR lines logged after offset since."""
    with open(db.pg.logfile, "rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    return [l for l in text.splitlines() if re.search(r"\bERROR:", l)]


def pg_mark(db):
    with open(db.pg.logfile, "rb") as f:
        return len(f.read())


def check_refusals(d, db, cases):
    """Runs cases (status, body and the field) and collects every miss."""
    errors0 = metric(d, "notifyd_database_errors_total")
    mark = pg_mark(db)
    misses = []
    for send, field in cases:
        status, body, headers = send()
        if (status != 400 or not isinstance(body, dict) or
                body.get("field") != field or body.get("status") != 400 or
                headers.get("Content-Type") != "application/problem+json"):
            misses.append((field, status, body))
    assert not misses, misses
    assert metric(d, "notifyd_database_errors_total") == errors0
    assert pg_errors(db, mark) == []


def test_bad_bytes_in_url_are_400(conf, notifyd, db):
    d = notifyd(conf)
    check_refusals(d, db, [((lambda p=p: d.get(p)), f) for p, f in BAD_PATHS])


def test_valid_utf8_in_url_still_answers(conf, notifyd, db):
    d = notifyd(conf)
    mark = pg_mark(db)
    for p in GOOD_PATHS:
        status, body, _ = d.get(p)
        assert status == 200, (p, status, body)
    assert d.get("/order/caf%C3%A9/latest")[0] == 404
    assert metric(d, "notifyd_database_errors_total") == 0
    assert pg_errors(db, mark) == []


def test_url_decoding_unchanged(conf, notifyd, db):
    """notifyd decodes URLs itself now (to keep %00 visible): '+' and %HH
    in queries and paths still mean what they meant."""
    d = notifyd(conf)
    db.query("INSERT INTO audit_events (source_topic, event_type, order_id,"
             " source_service, customer_id) VALUES"
             " ('x+y', 't', 'ORD 1\u00e9', 'a b', 'c%41')")
    for path in ("/audit/events?source_service=a+b",
                 "/audit/events?source_service=a%20b",
                 "/audit/events?topic=x%2By",
                 "/audit/events?customer_id=c%2541&order_id=ORD+1%C3%A9"):
        status, body, _ = d.get(path)
        assert status == 200 and len(body["events"]) == 1, (path, body)
    assert len(d.get("/order/ORD%201%C3%A9")[1]) == 1
    assert len(d.get("/customer/c%2541/notifications")[1]) == 1
    assert d.get("/audit/events?topic=x+y")[1]["events"] == []


def test_bad_query_name_is_400(conf, notifyd, db):
    """A parameter whose name is not UTF-8 is named, escaped, in the 400."""
    d = notifyd(conf)
    status, body, _ = d.get("/audit/events?%FFx=1")
    assert status == 400, body
    assert body["field"] == "\\xFFx"
    status, body, _ = d.get("/audit/events?a%00b=1")
    assert status == 400 and body["field"] == "a\\x00b", body
    # A bound on parameters keeps the repeat check cheap.
    many = "&".join("p%d=1" % i for i in range(40))
    status, body, _ = d.get("/audit/events?" + many)
    assert status == 400 and body["error"] == "too many query parameters"


# A path segment longer than the router's 512-byte buffer, on paths that
# name a route: (method, path with {} for the segment, the field).
LONG_SEGMENT_ROUTES = [
    ("GET", PATH + "/{}", "id"),
    ("POST", PATH + "/{}/retry", "id"),
    ("GET", "/audit/events/{}", "id"),
    ("GET", "/order/{}/latest", "orderId"),
    ("GET", "/customer/{}/notifications", "customerId"),
    ("GET", "/notification_service/api/users/{}/preferences", "userId"),
]


def test_long_path_segment_is_414(conf, notifyd, db):
    """A segment the router cannot hold on a path that names a route used
    to be a 404 "not found"; it is a 414 naming the segment, decided
    before any statement.  Past libmicrohttpd's own buffer (some 32 kB of
    request head) libmicrohttpd answers 414 itself, in HTML: the same
    status either way."""
    d = notifyd(conf)
    mark = pg_mark(db)
    misses = []
    for n in (600, 5000):
        for method, path, field in LONG_SEGMENT_ROUTES:
            st, body, headers = d.request(method, path.format("7" * n))
            if (st != 414 or not isinstance(body, dict) or
                    body.get("field") != field or
                    body.get("error") != "path segment too long" or
                    headers.get("Content-Type") !=
                    "application/problem+json"):
                misses.append((n, method, path, st, body))
    assert not misses, misses
    # what fits is routed as before; a long path naming no route is a 404
    assert d.get(PATH + "/" + "7" * 500)[0] == 404
    assert d.get("/order/" + "x" * 500 + "/latest")[0] == 404
    assert d.get("/no/such/" + "7" * 600)[0] == 404
    st, body, _ = d.get(PATH + "/" + "7" * 100000)
    assert st == 414, body
    assert metric(d, "notifyd_database_errors_total") == 0
    assert pg_errors(db, mark) == []


def email_conf(conf):
    return nd.merge(conf, {"email": {"enabled": True, "workers": 0,
                                     "from": "notify@example.com"}})


def notification(**over):
    body = {"type": "EMAIL", "title": "Hi", "content": "<p>x</p>",
            "userId": 123, "recipient": "user@example.com",
            "metadata": {"orderId": "ORD-1"}}
    body.update(over)
    return body


BAD_KEYS = [
    "\xfc",                 # Latin-1, sent as the byte 0xFC
    "ab\xe9",
    "a\tb",                 # tab: a control character
    "a\x7fb",               # DEL
    "a b",                  # space is not visible ASCII
    "k" * 256,              # one byte too long
]


def test_idempotency_key_rules(conf, notifyd, db):
    d = notifyd(email_conf(conf))
    check_refusals(d, db, [
        ((lambda k=k: d.post(PATH, json=notification(),
                             headers={"Idempotency-Key": k})),
         "Idempotency-Key") for k in BAD_KEYS])
    assert db.scalar("SELECT count(*) FROM email_notifications") == 0
    for key in ("k" * 255, "order-42/conf:1~!", "!"):
        status, body, _ = d.post(PATH, json=notification(),
                                 headers={"Idempotency-Key": key})
        assert status == 202, (key, body)
    assert db.scalar("SELECT count(*) FROM email_notifications") == 3


def raw_post(d, text):
    return lambda: d.post(PATH, body=text,
                          headers={"Content-Type": "application/json"})


def with_field(name, raw):
    """A valid body's JSON text with one member replaced by raw text."""
    body = notification()
    body[name] = "@@"
    return json.dumps(body).replace('"@@"', raw)


def test_json_nul_and_big_integers_name_the_field(conf, notifyd, db):
    d = notifyd(email_conf(conf))
    check_refusals(d, db, [
        (raw_post(d, with_field("title", r'"a\u0000b"')), "title"),
        (raw_post(d, with_field("content", r'"<p>\u0000</p>"')), "content"),
        (raw_post(d, with_field("recipient", r'"u\u0000@example.com"')),
         "recipient"),
        (raw_post(d, with_field("userId", r'"u\u0000"')), "userId"),
        (raw_post(d, with_field("type", r'"EMAIL\u0000"')), "type"),
        (raw_post(d, with_field("from", r'"a@b.example\u0000"')), "from"),
        (raw_post(d, with_field("metadata", r'{"a":["x\u0000"]}')),
         "metadata"),
        (raw_post(d, with_field("userId", "123456789012345678901234567890")),
         "userId"),
        (raw_post(d, with_field("userId", "-9223372036854775809")), "userId"),
        (raw_post(d, with_field("metadata", '{"n":123456789012345678901}')),
         "metadata"),
    ])
    assert db.scalar("SELECT count(*) FROM email_notifications") == 0
    # The largest 64-bit userId is still fine.
    status, body, _ = raw_post(d, with_field("userId",
                                             "9223372036854775807"))()
    assert status == 202, body
    assert body["userId"] == 9223372036854775807


def send_post(d, text):
    return lambda: d.post("/send-notification", body=text,
                          headers={"Content-Type": "application/json"})


def test_manual_record_nul_and_big_integers_name_the_field(conf, notifyd, db):
    """POST /send-notification: the same rules as the notifications POST."""
    d = notifyd(conf)
    check_refusals(d, db, [
        (send_post(d, r'{"customerId":"c\u0000","orderId":"o","event":"e"}'),
         "customerId"),
        (send_post(d, r'{"customerId":"c","orderId":"o","event":{"a":"\u0000"}}'),
         "event"),
        (send_post(d, r'{"customerId":"c","runnerId":"\u0000","orderId":"o",'
                      r'"event":"e"}'), "runnerId"),
        (send_post(d, '{"customerId":99999999999999999999,"orderId":"o",'
                      '"event":"e"}'), "customerId"),
        (send_post(d, '{"customerId":"c","orderId":"o",'
                      '"event":[1,-99999999999999999999]}'), "event"),
    ])
    assert db.scalar("SELECT count(*) FROM audit_events") == 0
    status, body, _ = send_post(d, '{"customerId":9223372036854775807,'
                                   '"orderId":"o","event":"e"}')()
    assert status == 201 and body["customerId"] == "9223372036854775807"


def test_malformed_json_error_is_still_json(conf, notifyd, db):
    """jansson quotes the bytes near a syntax error and may cut a character
    in two (an escape before a non-ASCII one): the error must still come
    back, as valid JSON."""
    d = notifyd(email_conf(conf))
    for text in ('{"title": "x\\\u00e9"}', '{"title": "\\u12\u00e9"}'):
        status, body, _ = raw_post(d, text)()
        assert status == 400 and isinstance(body, dict), (text, body)
        assert body.get("error", "").startswith("malformed JSON"), body
