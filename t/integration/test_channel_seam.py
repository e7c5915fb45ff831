"""The channel seam (issue 17): a notification's "type" picks its channel.

Over HTTP: an unknown type is 422 naming the accepted types, hostile type
values get a clear 400/422 naming "type" and store nothing, the type is
stored as the channel spells it.  In the mailer: each claimed row goes out
through its own type's channel, and a row whose type no channel of this
build takes fails permanently, unsent.
"""
import json

import nd

PATH = "/notification_service/api/notifications"


def seam_conf(conf, **over):
    c = nd.merge(conf, {
        "email": {"enabled": True, "workers": 1, "from": "notify@example.com",
                  "lease": 3,
                  "retry": {"initial": 0.3, "max_delay": 1, "jitter": 0,
                            "max_attempts": 2}},
        "sweeper": {"enabled": True, "interval": 0.5, "pending_after": 2},
        "http": {"max_body": 1 << 20},
    })
    return nd.merge(c, over)


def body(**over):
    b = {"type": "EMAIL", "title": "Hi", "content": "<p>hello</p>",
         "userId": 7, "recipient": "user@example.com"}
    b.update(over)
    return b


def refused(d, raw, status, needle):
    """POSTs raw bytes; the problem+json names "type" and says needle."""
    code, resp, headers = d.post(PATH, body=raw,
                                 headers={"Content-Type": "application/json"})
    assert code == status, (raw[:80], code, resp)
    assert headers["Content-Type"].startswith("application/problem+json")
    assert resp["status"] == status and needle in resp["error"], resp
    return resp


def test_unknown_type_is_422_listing_the_accepted_ones(conf, notifyd, db):
    d = notifyd(seam_conf(conf))
    for t in ("SMS", "PUSH", "sms", "EMAIL ", "E-MAIL", "IN_APP\u00e9"):
        resp = refused(d, json.dumps(body(type=t)).encode(), 422,
                       "accepted types are")
        assert resp["field"] == "type"
        assert "EMAIL" in resp["error"].split("accepted types are", 1)[1]
    assert db.scalar("SELECT count(*) FROM email_notifications") == 0


def test_hostile_type_values(conf, notifyd, db):
    d = notifyd(seam_conf(conf))
    for t in (123, 1.5, True, ["EMAIL"], {"EMAIL": 1}):
        resp = refused(d, json.dumps(body(type=t)).encode(), 400,
                       "must be a string")
        assert resp["field"] == "type"
    resp = refused(d, json.dumps(body(type=None)).encode(), 400,
                   "is required")
    assert resp["field"] == "type"
    for t in ("EMAIL\u0000", "\u0000"):
        resp = refused(d, json.dumps(body(type=t)).encode(), 400,
                       "must not contain NUL")
        assert resp["field"] == "type"
    for t in ("EMAIL\r\nX-Evil: 1", "EMAIL\n"):
        resp = refused(d, json.dumps(body(type=t)).encode(), 400,
                       "control characters")
        assert resp["field"] == "type"
    # Huge: refused by name, never echoed back.
    resp = refused(d, json.dumps(body(type="E" * 500000)).encode(), 422,
                   "accepted types are")
    assert resp["field"] == "type" and len(resp["error"]) < 300
    assert "EEEEEEEEEEEE" not in json.dumps(resp)
    # Invalid UTF-8 in the type's bytes: the parser refuses the body.
    raw = json.dumps(body(type="EMAIL")).encode().replace(
        b'"EMAIL"', b'"EM\xc0\xafIL"')
    refused(d, raw, 400, "malformed JSON")
    raw = json.dumps(body(type="EMAIL")).encode().replace(
        b'"EMAIL"', b'"EMAIL\xff"')
    refused(d, raw, 400, "malformed JSON")
    assert db.scalar("SELECT count(*) FROM email_notifications") == 0


def test_type_stored_as_the_channel_spells_it_and_sent(conf, notifyd, smtp,
                                                       db):
    d = notifyd(seam_conf(conf))
    code, resp, _ = d.post(PATH, json=body(type="eMail"))
    assert code == 202, resp
    assert resp["type"] == "EMAIL"
    nid = resp["id"]
    assert db.scalar("SELECT type FROM email_notifications WHERE id = %s",
                     (nid,)) == "EMAIL"
    nd.wait_until(lambda: d.get("%s/%d" % (PATH, nid))[1]["status"] ==
                  "SENT", timeout=30)
    code, got, _ = d.get("%s/%d" % (PATH, nid))
    assert got["type"] == "EMAIL" and got["messageId"]
    assert len(smtp.wait_messages(1)) == 1


def test_row_of_a_type_without_channel_fails_permanently(conf, notifyd, smtp,
                                                         db):
    """The mailer finds each row's channel by the row's type: a row of a
    type this build has no channel for (written by a newer version, say)
    is never sent as email."""
    smtp.set_mode("550")
    d = notifyd(seam_conf(conf))
    code, resp, _ = d.post(PATH, json=body())
    assert code == 202, resp
    nid = resp["id"]
    nd.wait_until(lambda: d.get("%s/%d" % (PATH, nid))[1]["status"] ==
                  "FAILED", timeout=30)
    smtp.set_mode("accept")
    db.query("UPDATE email_notifications SET type = 'SMS' WHERE id = %s",
             (nid,))
    code, resp, _ = d.post("%s/%d/retry" % (PATH, nid))
    assert code == 202, resp

    def failed_again():
        got = d.get("%s/%d" % (PATH, nid))[1]
        return got if got["status"] == "FAILED" and got["attempts"] == 2 \
            else None
    got = nd.wait_until(failed_again, timeout=30)
    assert got["permanent"] is True
    assert "no channel for this type" in got["lastError"]
    last = got["history"][-1]
    assert last["outcome"] == "permanent" and last["smtpCode"] is None
    assert smtp.messages() == []
