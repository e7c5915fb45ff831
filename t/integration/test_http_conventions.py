"""HTTP conventions clients and proxies expect (issue 12).

405 carries Allow; a new notification's 202 carries its Location; every
GET route answers HEAD (same status and headers, no body);
/send-notification answers 415 to a body that is not said to be JSON;
errors are RFC 9457 application/problem+json that keep "error" and
"field"; doc/openapi.json describes every route of the route table, its
examples validate against its schemas, notifyd serves it at
/openapi.json, and real answers validate against it too.
"""
import http.client
import json
import re
import socket

import jsonschema
import pytest

import nd

PATH = "/notification_service/api/notifications"
PROBLEM = "application/problem+json"
REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed",
           413: "Content Too Large", 415: "Unsupported Media Type"}
NOTE = {"type": "EMAIL", "title": "Hi", "content": "<p>x</p>",
        "userId": 7, "recipient": "u@example.com",
        "metadata": {"orderId": "ORD-9"}}


# ------------------------------------------------------------ helpers

def route_table():
    """(method, pattern) of every route, read from the C source: entries
    {"METHOD", PATTERN, ...} where PATTERN joins string literals and
    string macros, as api_routes[] is written."""
    text = ""
    for p in sorted((nd.REPO / "src").glob("*.[ch]")):
        text += p.read_text() + "\n"
    text = text.replace("\\\n", " ")
    macros = dict(re.findall(r'#define\s+(\w+)\s+"([^"\n]*)"\s*$', text,
                             re.M))
    routes = set()
    for m in re.finditer(r'\{\s*"(GET|POST|PUT|PATCH|DELETE)"\s*,\s*'
                         r'((?:(?:\w+|"[^"]*")\s*)+),', text):
        parts = re.findall(r'(\w+)|"([^"]*)"', m.group(2))
        routes.add((m.group(1), "".join(macros[w] if w else s
                                        for w, s in parts)))
    assert ("GET", "/health") in routes and len(routes) >= 12, routes
    return routes


def doc_file():
    return json.loads((nd.REPO / "doc/openapi.json").read_text())


def doc_routes(doc):
    return {(m.upper(), re.sub(r"\{[^}]*\}", "{}", p))
            for p, ops in doc["paths"].items() for m in ops}


def sample(pattern):
    return pattern.replace("{}", "1")


def raw(port, request):
    """Sends request bytes, reads until the server closes: (head, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers, body


def resolve(doc, obj):
    while "$ref" in obj:
        node = doc
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part]
        obj = node
    return obj


def validator(doc, schema):
    return jsonschema.Draft202012Validator(
        schema, resolver=jsonschema.RefResolver.from_schema(doc))


def check_answer(doc, template, method, answer):
    """The answer's status and Content-Type are documented for the route
    and its body validates against the documented schema."""
    status, body, headers = answer
    op = doc["paths"][template][method.lower()]
    assert str(status) in op["responses"], (template, method, status)
    resp = resolve(doc, op["responses"][str(status)])
    ctype = headers.get("Content-Type")
    assert ctype in resp["content"], (template, status, ctype)
    validator(doc, resp["content"][ctype]["schema"]).validate(body)


def assert_problem(answer, status, field=None):
    st, body, headers = answer
    assert st == status, answer
    assert headers.get("Content-Type") == PROBLEM, (st, dict(headers))
    assert body["type"] == "about:blank", body
    assert body["title"] == REASONS[status], body
    assert body["status"] == status, body
    assert body["detail"] and body["detail"] == body["error"], body
    assert body.get("field") == field, body


def email_conf(conf):
    return nd.merge(conf, {"email": {"enabled": True}})


# ------------------------------------------------------------ 405, 202

def test_405_lists_allowed_methods(conf, notifyd):
    d = notifyd(conf)
    for method, path, allow in [
            ("POST", "/health", "GET, HEAD"),
            ("DELETE", "/openapi.json", "GET, HEAD"),
            ("PUT", PATH, "POST, GET, HEAD"),
            ("DELETE", PATH + "/12", "GET, HEAD"),
            ("GET", PATH + "/12/retry", "POST"),
            ("HEAD", "/send-notification", "POST"),
            ("PATCH", "/order/ORD-1/latest", "GET, HEAD")]:
        status, headers, _ = raw(d.port, (
            "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n" % (method, path)).encode())
        assert status == 405, (method, path, status)
        got = {m.strip() for m in headers.get("allow", "").split(",")}
        assert got == set(allow.split(", ")), (method, path, headers)
    status, _, headers = d.request("DELETE", "/no/such/path")
    assert status == 404 and "Allow" not in headers


def test_202_has_location_of_the_notification(conf, notifyd):
    d = notifyd(email_conf(conf))
    key = {"Idempotency-Key": "loc-1"}
    status, body, headers = d.post(PATH, json=NOTE, headers=key)
    assert status == 202, body
    assert headers.get("Location") == "%s/%d" % (PATH, body["id"]), \
        dict(headers)
    st, got, _ = d.get(headers["Location"])
    assert st == 200 and got["id"] == body["id"] and got["title"] == "Hi"
    # The same key and body again: the original notification, same place.
    status, again, headers = d.post(PATH, json=NOTE, headers=key)
    assert (status, again["id"]) == (202, body["id"])
    assert headers.get("Location") == "%s/%d" % (PATH, body["id"])


# ------------------------------------------------------------ HEAD

def test_head_on_every_get_route(conf, notifyd):
    """HEAD answers what GET answers, headers and all, and sends no body
    (read to the close: a body would show up after the headers)."""
    d = notifyd(conf)
    # a held stream (.../inbox/stream) has no end to read to: its HEAD
    # is checked in test_inbox.py
    gets = sorted(p for m, p in route_table() if m == "GET" and
                  not p.endswith("/stream"))
    for pattern in gets:
        path = sample(pattern)
        req = "%%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path
        st_get, h_get, b_get = raw(d.port, (req % "GET").encode())
        st_head, h_head, b_head = raw(d.port, (req % "HEAD").encode())
        assert st_head == st_get, (path, st_get, st_head)
        assert b_head == b"", (path, b_head[:200])
        assert len(b_get) > 0, path
        assert h_head.get("content-type") == h_get.get("content-type"), path
        if pattern != "/metrics":   # its counters move between the two
            assert h_head.get("content-length") == \
                h_get.get("content-length") == str(len(b_get)), \
                (path, h_get, h_head)


def test_head_on_an_error_has_no_body(conf, notifyd):
    d = notifyd(conf)
    status, headers, body = raw(
        d.port, b"HEAD /no/such HTTP/1.1\r\nHost: x\r\nConnection: close"
        b"\r\n\r\n")
    assert (status, body) == (404, b"")
    assert headers["content-type"] == PROBLEM


# ------------------------------------------------------------ 415

def test_send_notification_refuses_a_body_not_said_to_be_json(conf, notifyd,
                                                              db):
    d = notifyd(conf)
    good = json.dumps({"customerId": "C-415", "orderId": "O-415",
                       "event": {"type": "x"}})
    for headers in ({"Content-Type": "text/plain"}, {},
                    {"Content-Type": "application/jsonx"},
                    {"Content-Type": "application/x-www-form-urlencoded"}):
        answer = d.post("/send-notification", body=good, headers=headers)
        assert_problem(answer, 415)
    assert db.scalar("SELECT count(*) FROM audit_events") == 0
    status, body, _ = d.post("/send-notification", body=good, headers={
        "Content-Type": "application/json; charset=utf-8"})
    assert status == 201 and body["orderId"] == "O-415", body


# ------------------------------------------------------------ problem+json

def test_errors_are_problem_json(conf, notifyd):
    conf = nd.merge(conf, {"http": {"max_body": 1024,
                                    "tokens": ["rd:read"]}})
    d = notifyd(conf)
    auth = {"Authorization": "Bearer rd"}
    assert_problem(d.get("/no/such/path"), 404)
    assert_problem(d.post("/health", body="x"), 405)
    assert_problem(d.get("/order/%FF", headers=auth), 400, "orderId")
    assert_problem(d.get("/audit/events?topic=a&topic=b", headers=auth),
                   400, "topic")
    assert_problem(d.get("/audit/events"), 401)
    assert_problem(d.post(PATH, json=NOTE, headers=auth), 403, "send")
    status, body, headers = d.get("/order/%FF", headers=auth)
    assert body["detail"] == "must be UTF-8 without NUL"
    # successes stay application/json
    status, body, headers = d.get("/order/ORD-1", headers=auth)
    assert (status, headers["Content-Type"]) == (200, "application/json")


def test_notification_errors_are_problem_json(conf, notifyd):
    conf = nd.merge(email_conf(conf), {"http": {"max_body": 1024}})
    d = notifyd(conf)
    assert_problem(d.post(PATH, body=json.dumps(NOTE)), 415)
    assert_problem(d.post(PATH, json=dict(NOTE, title="")), 400, "title")
    assert_problem(d.post(PATH, json=dict(NOTE, content="x" * 2000)), 413)
    assert_problem(d.get(PATH + "/99999"), 404, "id")


# ------------------------------------------------------------ OpenAPI

def test_openapi_documents_every_route(conf, notifyd):
    doc = doc_file()
    assert doc["openapi"].startswith("3.1")
    table = route_table()
    assert doc_routes(doc) == table, (
        "missing from doc/openapi.json: %s; not in the route table: %s"
        % (sorted(table - doc_routes(doc)), sorted(doc_routes(doc) - table)))
    d = notifyd(conf)
    status, served, headers = d.get("/openapi.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert served == doc        # the binary serves the file in the repo
    # the parsed table is the one the binary routes by
    for method, pattern in table:
        # a bad Last-Event-ID makes the inbox stream answer (400) at
        # once rather than stay open; other routes ignore it
        status, body, _ = d.request(method, sample(pattern), body=b"",
                                    headers={"Content-Type": "text/plain",
                                             "Last-Event-ID": "x"})
        assert status != 405 and not (
            status == 404 and body.get("error") == "not found"), \
            (method, pattern, status, body)


def examples(node, where="#"):
    """(where, schema, example) for every example next to a schema."""
    if isinstance(node, dict):
        if "schema" in node:
            if "example" in node:
                yield where, node["schema"], node["example"]
            for name, ex in (node.get("examples") or {}).items():
                yield where + "/" + name, node["schema"], ex["value"]
        for k, v in node.items():
            yield from examples(v, where + "/" + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from examples(v, "%s/%d" % (where, i))


def test_openapi_examples_validate():
    doc = doc_file()
    found = list(examples(doc))
    assert len(found) >= 40, len(found)
    bad = []
    for where, schema, example in found:
        jsonschema.Draft202012Validator.check_schema(schema)
        errors = list(validator(doc, schema).iter_errors(example))
        if errors:
            bad.append((where, errors[0].message))
    assert not bad, bad
    for name, schema in doc["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)
    # the check has teeth: a problem without status fails
    with pytest.raises(jsonschema.ValidationError):
        validator(doc, {"$ref": "#/components/schemas/Problem"}).validate(
            {"type": "about:blank", "title": "x", "detail": "y", "error": "y"})


def test_real_answers_match_openapi(conf, notifyd, db):
    doc = doc_file()
    d = notifyd(email_conf(conf))
    answer = d.post(PATH, json=NOTE)
    check_answer(doc, PATH, "POST", answer)
    nid = answer[1]["id"]
    check_answer(doc, PATH + "/{id}", "GET", d.get("%s/%d" % (PATH, nid)))
    check_answer(doc, PATH, "GET", d.get(PATH + "?limit=5"))
    check_answer(doc, PATH + "/{id}", "GET", d.get(PATH + "/424242"))
    check_answer(doc, PATH, "POST", d.post(PATH, json=dict(NOTE, type="SMS")))
    check_answer(doc, PATH, "POST", d.post(PATH, body="{"))
    check_answer(doc, "/send-notification", "POST", d.post(
        "/send-notification", json={"customerId": 5, "orderId": "O-1",
                                    "event": {"a": 1}}))
    check_answer(doc, "/order/{orderId}", "GET", d.get("/order/O-1"))
    check_answer(doc, "/order/{orderId}/latest", "GET",
                 d.get("/order/O-1/latest"))
    check_answer(doc, "/customer/{customerId}/notifications", "GET",
                 d.get("/customer/5/notifications"))
    check_answer(doc, "/audit/events", "GET", d.get("/audit/events"))
    check_answer(doc, "/audit/events", "GET", d.get("/audit/events?limit=0"))
    check_answer(doc, "/audit/events/{id}", "GET", d.get("/audit/events/1"))
    check_answer(doc, "/audit/topics", "GET", d.get("/audit/topics"))
    check_answer(doc, "/health", "GET", d.get("/health"))
    check_answer(doc, "/ready", "GET", d.get("/ready"))
    check_answer(doc, "/health", "GET", d.post("/health", body="x"))
