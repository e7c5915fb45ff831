"""A webhook endpoint that asks to be asked again (408 Request Timeout,
425 Too Early) is retried, like 429 and 5xx; other 4xx stay final.

Real PostgreSQL, librdkafka's mock broker, notifyd's webhook worker and
the http.server receiver of test_webhook.py.
"""
import pytest

from test_webhook import final, hooked, post, receiver  # noqa: F401


@pytest.mark.parametrize("code", [408, 425])
def test_ask_again_is_retried(hooked, receiver, code):  # noqa: F811
    receiver.plan("/busy", (code, {}, b"again"))
    nid = post(hooked, "busy")
    j = final(hooked, nid, "SENT")
    assert [(h["code"], h["outcome"]) for h in j["history"]] == \
        [(code, "temporary"), (200, "sent")]
    a, b = receiver.requests("/busy")
    assert a[1]["webhook-id"] == b[1]["webhook-id"]


def test_other_4xx_is_final(hooked, receiver):  # noqa: F811
    receiver.plan("/busy", (409, {}, b"conflict"))
    nid = post(hooked, "busy")
    j = final(hooked, nid, "FAILED")
    assert [(h["code"], h["outcome"]) for h in j["history"]] == \
        [(409, "permanent")]
    assert len(receiver.requests("/busy")) == 1
