"""Email templates (issue 15): versioned Mustache templates with locales,
saved and read over HTTP, rendered at acceptance by a POST that names one,
previewed without sending, and delivered end to end to the SMTP sink.

Real PostgreSQL, the librdkafka mock broker and aiosmtpd, as everywhere.
"""
import json
import urllib.parse

import nd

API = "/notification_service/api"
TPL = API + "/templates"
NOTIFY = API + "/notifications"
TOKENS = ["snd:send", "rd:read", "tpl:templates", "adm:admin"]
ADMIN = {"Authorization": "Bearer adm"}


def api_conf(conf, **over):
    """Email on with no mailer (POSTs are stored, nothing is delivered)."""
    c = nd.merge(conf, {"email": {"enabled": True, "workers": 0,
                                  "from": "notify@example.com"},
                        "http": {"tokens": TOKENS}})
    return nd.merge(c, over)


def put(d, name, body, headers=ADMIN):
    return d.request("PUT", TPL + "/" + name, json_body=body, headers=headers)


def render(d, name, body, headers=ADMIN):
    return d.post(TPL + "/" + name + "/render", json=body, headers=headers)


def note(**over):
    body = {"type": "EMAIL", "userId": 7, "recipient": "u@example.com"}
    body.update(over)
    return body


WELCOME = {
    "subject": "Welcome, {{name}}",
    "html": "<p>Hello {{name}}, your code is {{code}}.</p>",
    "text": "Hello {{name}}, your code is {{code}}.",
    "defaultLocale": "en",
    "locales": {
        "de": {"subject": "Willkommen, {{name}}",
               "html": "<p>Hallo {{name}}</p>", "text": "Hallo {{name}}"},
        "de-CH": {"subject": "Grüezi, {{name}}",
                  "html": "<p>Grüezi {{name}}</p>"},
    },
}


def rows(db):
    return db.scalar("SELECT count(*) FROM email_notifications")


def test_versions_get_list_delete(conf, notifyd, db):
    d = notifyd(api_conf(conf))
    st, b, h = put(d, "welcome", WELCOME)
    assert st == 201, b
    assert b["version"] == 1 and b["name"] == "welcome"
    assert h["Location"] == TPL + "/welcome?version=1"
    v2 = dict(WELCOME, subject="Hi {{name}}", strict=True)
    st, b, h = put(d, "welcome", v2)
    assert st == 201 and b["version"] == 2 and b["strict"] is True, b
    st, b, _ = d.get(TPL + "/welcome", headers=ADMIN)
    assert st == 200 and b["version"] == 2 and b["subject"] == "Hi {{name}}"
    assert b["locales"] == WELCOME["locales"] and b["defaultLocale"] == "en"
    st, b, _ = d.get(TPL + "/welcome?version=1", headers=ADMIN)
    assert st == 200 and b["subject"] == WELCOME["subject"], b
    assert b["deletedAt"] is None and b["strict"] is False
    st, b, _ = d.get(TPL + "/welcome?version=3", headers=ADMIN)
    assert st == 404 and b["field"] == "version", b
    for name in ("a-one", "b.two", "c_three"):
        assert put(d, name, {"subject": "s", "html": "h"})[0] == 201
    # List: name order, keyset pages.
    st, b, _ = d.get(TPL + "?limit=2", headers=ADMIN)
    assert st == 200, b
    assert [t["name"] for t in b["templates"]] == ["a-one", "b.two"]
    st, b2, _ = d.get(TPL + "?limit=2&after=" + b["next"], headers=ADMIN)
    assert [t["name"] for t in b2["templates"]] == ["c_three", "welcome"]
    w = b2["templates"][1]
    assert w["version"] == 2 and w["locales"] == ["de", "de-CH"], w
    st, b3, _ = d.get(TPL + "?limit=2&after=welcome", headers=ADMIN)
    assert b3 == {"templates": [], "next": None}
    # A notification pinned to version 1 before the delete...
    st, n1, _ = d.post(NOTIFY, json=note(template={"name": "welcome",
                                                  "version": 1},
                                         data={"name": "Ann", "code": 1}),
                       headers=ADMIN)
    assert st == 202 and n1["templateVersion"] == 1, n1
    st, b, _ = d.request("DELETE", TPL + "/welcome", headers=ADMIN)
    assert st == 200 and b["versions"] == 2, b
    assert d.get(TPL + "/welcome", headers=ADMIN)[0] == 404
    assert d.request("DELETE", TPL + "/welcome", headers=ADMIN)[0] == 404
    st, b, _ = d.get(TPL, headers=ADMIN)
    assert "welcome" not in [t["name"] for t in b["templates"]]
    # ...keeps it: the version is readable and the row names it.
    st, b, _ = d.get(TPL + "/welcome?version=1", headers=ADMIN)
    assert st == 200 and isinstance(b["deletedAt"], int), b
    st, g, _ = d.get("%s/%d" % (NOTIFY, n1["id"]), headers=ADMIN)
    assert g["template"] == "welcome" and g["templateVersion"] == 1
    assert g["title"] == "Welcome, Ann"
    # Deleted: not sendable; a new PUT goes on after the old versions.
    st, b, _ = d.post(NOTIFY, json=note(template="welcome"), headers=ADMIN)
    assert st == 422 and "welcome" in b["detail"], b
    st, b, _ = put(d, "welcome", {"subject": "Back {{name}}", "html": "x"})
    assert st == 201 and b["version"] == 3, b
    st, b, _ = d.post(NOTIFY, json=note(template={"name": "welcome",
                                                 "version": 2}),
                      headers=ADMIN)
    assert st == 422 and b["field"] == "version", b
    assert "version 2" in b["detail"]
    st, b, _ = d.post(NOTIFY, json=note(template="welcome",
                                        data={"name": "Bo"}), headers=ADMIN)
    assert st == 202 and b["title"] == "Back Bo" and b["templateVersion"] == 3


def test_latest_seen_at_once(conf, notifyd):
    """A POST right after a PUT renders the new version (no stale cache)."""
    d = notifyd(api_conf(conf))
    for i in range(1, 6):
        assert put(d, "t", {"subject": "v%d {{x}}" % i, "html": "h"})[0] == 201
        st, b, _ = d.post(NOTIFY, json=note(template="t", data={"x": "!"}),
                          headers=ADMIN)
        assert st == 202 and b["title"] == "v%d !" % i, b
        assert b["templateVersion"] == i


def test_parse_error_names_part_and_line_col(conf, notifyd, db):
    d = notifyd(api_conf(conf))
    bad = dict(WELCOME)
    bad["locales"] = {"de": {"subject": "x",
                             "html": "<p>ok</p>\n  {{name"}}
    st, b, h = put(d, "broken", bad)
    assert st == 422, b
    assert h["Content-Type"].startswith("application/problem+json")
    assert b["field"] == "locales.de.html", b
    assert b["line"] == 2 and isinstance(b["col"], int) and b["col"] >= 1
    assert ("locales.de.html:2:%d" % b["col"]) in b["detail"], b
    st, b, _ = put(d, "broken", {"subject": "{{#a}}x", "html": "h"})
    assert st == 422 and b["field"] == "subject" and b["line"] == 1, b
    assert db.scalar("SELECT count(*) FROM email_templates") == 0
    # Shape errors: 400 naming the member.
    cases = [({"html": "h"}, "subject"),
             ({"subject": "s", "html": 5}, "html"),
             ({"subject": "s", "html": "h", "txet": "t"}, "txet"),
             ({"subject": "s", "html": "h", "strict": "yes"}, "strict"),
             ({"subject": "s", "html": "h", "defaultLocale": "e n"},
              "defaultLocale"),
             ({"subject": "s", "html": "h", "locales": {"d e": {}}},
              "locales"),
             ({"subject": "s", "html": "h", "locales": {"de": {"html": "x"}}},
              "locales.de.subject"),
             ({"subject": "a\r\nBcc: x@example.com", "html": "h"}, "subject")]
    for body, field in cases:
        st, b, _ = put(d, "shape", body)
        assert st == 400 and b["field"] == field, (body, b)
    st, b, _ = d.request("PUT", TPL + "/shape", body=b"[1]",
                         headers=dict(ADMIN, **{"Content-Type":
                                                "application/json"}))
    assert st == 400
    for name in ("a" * 101, "sp%20ace", "%C3%A9t%C3%A9", "a:b", "..%5C"):
        st, b, _ = put(d, name, {"subject": "s", "html": "h"})
        assert st == 400 and b["field"] == "name", (name, b)
    # A slash never reaches the handler: no such path.
    assert put(d, "sl%2Fash", {"subject": "s", "html": "h"})[0] == 404
    assert put(d, "a" * 100, {"subject": "s", "html": "h"})[0] == 201


def test_locale_fallback(conf, notifyd):
    d = notifyd(api_conf(conf))
    assert put(d, "welcome", WELCOME)[0] == 201
    data = {"name": "Ann", "code": 7}
    expect = {"de-AT": ("de", "Willkommen, Ann"),
              "de": ("de", "Willkommen, Ann"),
              "DE-at": ("de", "Willkommen, Ann"),
              "de-CH": ("de-CH", "Grüezi, Ann"),
              "de-CH-x-custom": ("de-CH", "Grüezi, Ann"),
              "fr-FR": ("en", "Welcome, Ann"),
              "en": ("en", "Welcome, Ann"),
              None: ("en", "Welcome, Ann")}
    for loc, (got, subject) in expect.items():
        body = {"data": data}
        if loc:
            body["locale"] = loc
        st, b, _ = render(d, "welcome", body)
        assert st == 200, b
        assert (b["locale"], b["subject"]) == (got, subject), (loc, b)
        st, n, _ = d.post(NOTIFY, json=note(template="welcome", data=data,
                                            locale=loc), headers=ADMIN)
        assert st == 202 and n["locale"] == got and n["title"] == subject, n
    # de-CH has no text part: the preview derives it from the HTML.
    st, b, _ = render(d, "welcome", {"data": data, "locale": "de-CH"})
    assert b["text"].strip() == "Grüezi Ann" and b["textDerived"] is True
    st, n, _ = d.post(NOTIFY, json=note(template="welcome", data=data,
                                        locale="de-CH"), headers=ADMIN)
    assert n["text"] is None
    st, b, _ = d.post(NOTIFY, json=note(template="welcome", locale="d_e"),
                      headers=ADMIN)
    assert st == 400 and b["field"] == "locale", b


def test_escaping_html_only(conf, notifyd, db):
    d = notifyd(api_conf(conf))
    assert put(d, "welcome", WELCOME)[0] == 201
    evil = "<script>alert('x&y')</script>"
    data = {"name": evil, "code": "\"1\""}
    st, b, _ = render(d, "welcome", {"data": data})
    assert st == 200, b
    assert "<script>" not in b["html"] and "&lt;script&gt;" in b["html"]
    assert "&amp;" in b["html"]
    assert b["subject"] == "Welcome, " + evil
    assert b["text"] == "Hello %s, your code is \"1\"." % evil
    st, n, _ = d.post(NOTIFY, json=note(template="welcome", data=data),
                      headers=ADMIN)
    assert st == 202, n
    assert (n["title"], n["content"], n["text"]) == (b["subject"], b["html"],
                                                     b["text"])
    got = db.query("SELECT title, content, text_part, template_name, "
                   "template_version, locale FROM email_notifications")
    assert got == [(b["subject"], b["html"], b["text"], "welcome", 1, "en")]


def test_rendered_subject_crlf_refused(conf, notifyd, db):
    d = notifyd(api_conf(conf))
    assert put(d, "welcome", WELCOME)[0] == 201
    for bad in ("Ann\r\nBcc: victim@example.com", "Ann\nX", "Ann\x7f",
                "Ann\u2028", "Ann\u0085"):
        st, b, _ = d.post(NOTIFY, json=note(template="welcome",
                                            data={"name": bad}),
                          headers=ADMIN)
        assert st == 422, (bad, b)
        assert b["field"] == "subject" and "subject" in b["detail"], b
        st, b, _ = render(d, "welcome", {"data": {"name": bad}})
        assert st == 422 and b["field"] == "subject", b
    # The text part takes line breaks, not other control characters.
    st, b, _ = d.post(NOTIFY, json=note(template="welcome", locale="de",
                                        data={"name": "Ann\x01"}),
                      headers=ADMIN)
    assert st == 422, b
    st, b, _ = put(d, "plain", {"subject": "S", "html": "h",
                                "text": "{{body}}"})
    st, b, _ = d.post(NOTIFY, json=note(template="plain",
                                        data={"body": "a\r\nb\tc"}),
                      headers=ADMIN)
    assert st == 202 and b["text"] == "a\r\nb\tc", b
    # A subject rendered too long or empty is refused like a title.
    put(d, "long", {"subject": "{{s}}", "html": "h"})
    st, b, _ = d.post(NOTIFY, json=note(template="long", data={"s": "x" * 999}),
                      headers=ADMIN)
    assert st == 422 and "998" in b["detail"], b
    st, b, _ = d.post(NOTIFY, json=note(template="long", data={"s": " "}),
                      headers=ADMIN)
    assert st == 422 and "empty" in b["detail"], b
    assert rows(db) == 1


def test_strict_and_missing_variables(conf, notifyd, db):
    d = notifyd(api_conf(conf))
    assert put(d, "lax", {"subject": "Hi {{name}}!",
                          "html": "<p>{{missing}}</p>"})[0] == 201
    st, b, _ = d.post(NOTIFY, json=note(template="lax",
                                        data={"name": "Ann"}), headers=ADMIN)
    assert st == 202 and b["content"] == "<p></p>", b
    assert put(d, "strict", {"subject": "Hi {{name}}!",
                             "html": "<p>{{missing_var}}</p>",
                             "strict": True})[0] == 201
    st, b, _ = d.post(NOTIFY, json=note(template="strict",
                                        data={"name": "Ann"}), headers=ADMIN)
    assert st == 422, b
    assert "missing_var" in b["detail"] and b["field"] == "html", b
    st, b, _ = render(d, "strict", {"data": {"name": "Ann"}})
    assert st == 422 and "missing_var" in b["detail"], b
    st, b, _ = render(d, "strict", {"data": {"name": "Ann", "missing_var": 1}})
    assert st == 200 and b["html"] == "<p>1</p>", b
    assert rows(db) == 1


def test_unknown_template_or_version(conf, notifyd, db):
    d = notifyd(api_conf(conf))
    st, b, _ = d.post(NOTIFY, json=note(template="nope"), headers=ADMIN)
    assert st == 422 and "nope" in b["detail"] and b["field"] == "template"
    assert put(d, "yes", {"subject": "s", "html": "h"})[0] == 201
    st, b, _ = d.post(NOTIFY, json=note(template={"name": "yes",
                                                 "version": 9}),
                      headers=ADMIN)
    assert st == 422 and "version 9" in b["detail"], b
    st, b, _ = render(d, "nope", {})
    assert st == 404, b
    st, b, _ = render(d, "yes", {"version": 2})
    assert st == 404 and b["field"] == "version", b
    # Template beside title/content, or neither: 400.
    st, b, _ = d.post(NOTIFY, json=note(template="yes", title="t",
                                        content="c"), headers=ADMIN)
    assert st == 400 and b["field"] == "template", b
    st, b, _ = d.post(NOTIFY, json=note(template="yes", content="c"),
                      headers=ADMIN)
    assert st == 400 and b["field"] == "template", b
    st, b, _ = d.post(NOTIFY, json=note(), headers=ADMIN)
    assert st == 400 and b["field"] == "title", b
    # null members count as absent.
    st, b, _ = d.post(NOTIFY, json=note(template="yes", title=None,
                                        content=None), headers=ADMIN)
    assert st == 202 and b["title"] == "s", b
    st, b, _ = d.post(NOTIFY, json=note(title="t", content="c", data=None,
                                        locale=None), headers=ADMIN)
    assert st == 202 and "template" not in b, b
    st, b, _ = d.post(NOTIFY, json=note(data={"a": 1}, title="t",
                                        content="c"), headers=ADMIN)
    assert st == 400 and b["field"] == "template", b
    for spec, field in ((5, "template"), ({"version": 1}, "template"),
                        ({"name": "yes", "version": "1"}, "template.version"),
                        ({"name": "yes", "version": 0}, "template.version"),
                        ({"name": "yes", "x": 1}, "template"),
                        ("bad name", "template")):
        st, b, _ = d.post(NOTIFY, json=note(template=spec), headers=ADMIN)
        assert st == 400 and b["field"] == field, (spec, b)
    st, b, _ = d.post(NOTIFY, json=note(template="yes", data=[1]),
                      headers=ADMIN)
    assert st == 400 and b["field"] == "data", b
    assert rows(db) == 2


def test_scopes(conf, notifyd):
    d = notifyd(api_conf(conf))
    body = {"subject": "s {{x}}", "html": "h"}

    def bearer(t):
        return {"Authorization": "Bearer " + t} if t else {}

    for tok, want in ((None, 401), ("wrong", 401), ("snd", 403),
                      ("rd", 403), ("tpl", 201), ("adm", 201)):
        st, b, _ = put(d, "s", body, headers=bearer(tok))
        assert st == want, (tok, b)
    st, b, _ = put(d, "s", body, headers=bearer("rd"))
    assert b["field"] == "templates", b
    for tok, want in ((None, 401), ("snd", 403), ("tpl", 403), ("rd", 200),
                      ("adm", 200)):
        assert d.get(TPL + "/s", headers=bearer(tok))[0] == want, tok
        assert d.get(TPL, headers=bearer(tok))[0] == want, tok
    for tok, want in ((None, 401), ("rd", 403), ("tpl", 403), ("snd", 200),
                      ("adm", 200)):
        st, b, _ = render(d, "s", {"data": {"x": 1}}, headers=bearer(tok))
        assert st == want, (tok, b)
    for tok, want in (("snd", 403), ("rd", 403), ("tpl", 200)):
        st, b, _ = d.request("DELETE", TPL + "/s", headers=bearer(tok))
        assert st == want, (tok, b)


def test_render_stores_and_sends_nothing(conf, notifyd, db, smtp):
    d = notifyd(nd.merge(api_conf(conf), {"email": {"workers": 1}}))
    assert put(d, "welcome", WELCOME)[0] == 201
    st, b, _ = render(d, "welcome", {"data": {"name": "Ann", "code": 3},
                                     "locale": "de-AT", "version": 1})
    assert st == 200, b
    assert b == {"name": "welcome", "version": 1, "locale": "de",
                 "subject": "Willkommen, Ann", "html": "<p>Hallo Ann</p>",
                 "text": "Hallo Ann", "textDerived": False}
    st, b, _ = render(d, "welcome", {"data": {}, "sendAt": 1})
    assert st == 400 and b["field"] == "sendAt", b
    assert rows(db) == 0
    assert db.scalar("SELECT count(*) FROM email_templates") == 1
    assert smtp.stats()["messages"] == 0


def test_template_post_delivered(conf, notifyd, smtp):
    c = nd.merge(api_conf(conf), {
        "email": {"workers": 1, "retry": {"initial": 0.2, "max_delay": 1}}})
    d = notifyd(c)
    assert put(d, "welcome", WELCOME)[0] == 201
    data = {"name": "Zoë <z@x>", "code": 42}
    st, n, h = d.post(NOTIFY, json=note(template="welcome", data=data,
                                        locale="de-AT",
                                        recipient="zoe@example.com"),
                      headers=ADMIN)
    assert st == 202, n
    assert h["Location"] == "%s/%d" % (NOTIFY, n["id"])

    def sent():
        st, g, _ = d.get("%s/%d" % (NOTIFY, n["id"]), headers=ADMIN)
        return g if g["status"] == "SENT" else None
    g = nd.wait_until(sent, timeout=45, msg="SENT")
    assert g["title"] == "Willkommen, Zoë <z@x>"
    assert g["content"] == "<p>Hallo Zoë &lt;z@x&gt;</p>"
    assert g["text"] == "Hallo Zoë <z@x>"
    assert (g["template"], g["templateVersion"], g["locale"]) == \
        ("welcome", 1, "de")
    (m,) = smtp.wait_messages(1)
    msg = m["msg"]
    assert str(msg["Subject"]) == g["title"]
    parts = {p.get_content_type(): p.get_content() for p in msg.iter_parts()}
    assert parts["text/html"] == g["content"]
    assert parts["text/plain"] == g["text"]
    assert m["rcpt_tos"] == ["zoe@example.com"]


def test_idempotency_over_the_sent_body(conf, notifyd, db):
    d = notifyd(api_conf(conf))
    assert put(d, "t", {"subject": "v1 {{x}}", "html": "h"})[0] == 201
    body = note(template="t", data={"x": "a"})
    key = dict(ADMIN, **{"Idempotency-Key": "k-1"})
    st, a, _ = d.post(NOTIFY, json=body, headers=key)
    assert st == 202, a
    # A new version in between: the replay is still the original.
    assert put(d, "t", {"subject": "v2 {{x}}", "html": "h"})[0] == 201
    st, b, _ = d.post(NOTIFY, json=body, headers=key)
    assert st == 202 and b["id"] == a["id"] and b["title"] == "v1 a", b
    st, b, _ = d.post(NOTIFY, json=note(template="t", data={"x": "b"}),
                      headers=key)
    assert st == 409, b
    assert rows(db) == 1


def test_hostile_input(conf, notifyd, db):
    d = notifyd(api_conf(conf, http={"max_template": 4096,
                                     "max_body": 65536},
                         email={"max_content": 30000}))
    assert put(d, "t", {"subject": "s {{x}}", "html": "{{x}}"})[0] == 201
    jh = dict(ADMIN, **{"Content-Type": "application/json"})
    # Invalid UTF-8 in the path name, in data, in a template part.
    st, b, _ = d.request("PUT", TPL + "/a%FFb", body=b'{}', headers=jh)
    assert st == 400, b
    st, b, _ = d.post(TPL + "/a%FF/render", body=b'{}', headers=jh)
    assert st == 400, b
    raw = (b'{"type":"EMAIL","userId":1,"recipient":"u@example.com",'
           b'"template":"t","data":{"x":"\xff\xfe"}}')
    st, b, _ = d.post(NOTIFY, body=raw, headers=jh)
    assert st == 400, b
    st, b, _ = d.request("PUT", TPL + "/u", headers=jh,
                         body=b'{"subject":"s","html":"\xc0\xaf"}')
    assert st == 400, b
    # NUL in data and in a template part.
    st, b, _ = d.post(NOTIFY, json=note(template="t", data={"x": "a\0b"}),
                      headers=ADMIN)
    assert st == 400 and b["field"] == "data", b
    st, b, _ = put(d, "n", {"subject": "s", "html": "a\0b"})
    assert st == 400 and b["field"] == "html", b
    st, b, _ = render(d, "t", {"data": {"x": "\0"}})
    assert st == 400 and b["field"] == "data", b
    # Huge: a definition past http.max_template, data past http.max_body.
    st, b, _ = put(d, "big", {"subject": "s", "html": "x" * 5000})
    assert st == 413, b
    st, b, _ = d.post(NOTIFY, json=note(template="t",
                                        data={"x": "y" * 70000}),
                      headers=ADMIN)
    assert st == 413, b
    # A rendering past email.max_content is refused like a content.
    assert put(d, "h", {"subject": "s", "html": "{{x}}"})[0] == 201
    st, b, _ = d.post(NOTIFY, json=note(template="h",
                                        data={"x": "y" * 40000}),
                      headers=ADMIN)
    assert st == 422 and b["field"] == "template", b
    assert "rendered html" in b["detail"] and "max_content" in b["detail"]
    # Wrong types everywhere.
    for body in ({"data": "x"}, {"locale": 5}, {"version": "1"},
                 {"version": -1}):
        st, b, _ = render(d, "t", body)
        assert st == 400, (body, b)
    assert rows(db) == 0
    assert db.scalar("SELECT count(*) FROM email_templates") == 2


def test_answers_match_openapi(conf, notifyd):
    """Every template route's real answers, errors included, validate
    against doc/openapi.json."""
    import jsonschema
    doc = json.loads((nd.REPO / "doc/openapi.json").read_text())

    def check(path, method, answer):
        status, body, headers = answer
        resp = doc["paths"][path][method]["responses"][str(status)]
        while "$ref" in resp:
            resp = doc["components"]["responses"][resp["$ref"].split("/")[-1]]
        schema = resp["content"][headers["Content-Type"]]["schema"]
        jsonschema.Draft202012Validator(
            schema, resolver=jsonschema.RefResolver.from_schema(doc)
        ).validate(body)
        return body

    d = notifyd(api_conf(conf))
    one, ren = TPL + "/{name}", TPL + "/{name}/render"
    ex = doc["paths"][one]["put"]["requestBody"]["content"][
        "application/json"]["example"]
    check(one, "put", put(d, "welcome", ex))
    check(one, "put", put(d, "welcome", WELCOME))
    check(one, "put", put(d, "bad", {"subject": "x", "html": "{{x"}))
    check(one, "put", put(d, "bad", {"html": "x"}))
    check(one, "get", d.get(TPL + "/welcome", headers=ADMIN))
    check(one, "get", d.get(TPL + "/welcome?version=1", headers=ADMIN))
    check(one, "get", d.get(TPL + "/nope", headers=ADMIN))
    check(TPL, "get", d.get(TPL + "?limit=1", headers=ADMIN))
    check(ren, "post", render(d, "welcome", {"data": {"name": "A"},
                                             "locale": "de-AT"}))
    check(ren, "post", render(d, "nope", {}))
    req = doc["paths"][NOTIFY]["post"]["requestBody"]["content"][
        "application/json"]["examples"]["template"]["value"]
    body = check(NOTIFY, "post", d.post(NOTIFY, json=req, headers=ADMIN))
    assert body["template"] == "welcome" and body["locale"] == "de"
    check(NOTIFY + "/{id}", "get",
          d.get("%s/%d" % (NOTIFY, body["id"]), headers=ADMIN))
    check(NOTIFY, "post", d.post(NOTIFY, json=note(template="nope"),
                                 headers=ADMIN))
    check(one, "delete", d.request("DELETE", TPL + "/welcome", headers=ADMIN))
    check(one, "delete", d.request("DELETE", TPL + "/welcome", headers=ADMIN))


def versions_seen(d, n=12):
    """The templateVersion of n POSTs of template t (spread over every
    api process of d by their connections)."""
    seen = []
    for _ in range(n):
        st, b, _ = d.post(NOTIFY, json=note(template="t"), headers=ADMIN)
        assert st == 202, b
        seen.append(b["templateVersion"])
    return seen


def test_every_process_and_instance_sees_a_put(conf, notifyd, db):
    """Each api process remembers the latest version and forgets it on
    PostgreSQL's NOTIFY: a PUT through another process or another
    instance is used within moments; with the listening connection
    killed, every use looks up (never stale) until it is back."""
    d1 = notifyd(api_conf(conf, http={"processes": 3}))
    d2 = notifyd(api_conf(conf, http={"port": nd.free_port()}))
    assert put(d1, "t", {"subject": "s", "html": "h"})[0] == 201
    assert set(versions_seen(d1)) == {1}
    assert set(versions_seen(d2)) == {1}
    for v, via in ((2, d2), (3, d1), (4, d2)):
        assert put(via, "t", {"subject": "s", "html": "h"})[0] == 201
        for d in (d1, d2):
            nd.wait_until(lambda: set(versions_seen(d)) == {v}, timeout=3,
                          msg="every process renders version %d" % v)
    listeners = ("SELECT pid FROM pg_stat_activity WHERE datname = "
                 "current_database() AND query IN "
                 "('LISTEN notifyd_templates',"
                 " 'SELECT ''notifyd template watch''')")
    nd.wait_until(lambda: len(db.query(listeners)) == 4, msg="4 listeners")
    mark = d1.mark()
    db.query("SELECT pg_terminate_backend(pid) FROM (%s) l" % listeners)
    d1.wait_log(r"template watch: connection lost", since=mark)
    # Listener gone or reconnecting: a change is still seen at once.
    db.query("UPDATE email_template_names SET deleted_at = now() "
             "WHERE name = 't'")
    st, b, _ = d1.post(NOTIFY, json=note(template="t"), headers=ADMIN)
    assert st == 422, b
    nd.wait_until(lambda: len(db.query(listeners)) == 4, timeout=15,
                  msg="listeners back")
    d1.wait_log(r"template watch: listening again", since=mark)
    assert put(d2, "t", {"subject": "s", "html": "h"})[0] == 201
    for d in (d1, d2):
        nd.wait_until(lambda: set(versions_seen(d)) == {5}, timeout=3,
                      msg="every process renders version 5")
