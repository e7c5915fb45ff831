"""Delivery analytics: GET /notification_service/api/stats (issue 16).

Real PostgreSQL, librdkafka's mock broker, notifyd's mailer and an
in-process aiosmtpd relay whose RCPT answers depend on the local part:
gone* -> 550 5.1.1, busy* -> 450 4.2.1 always, flaky* -> 450 once then
250, else 250.  The stats come from the rollup the triggers of
sql/015_delivery_rollup.sql keep; every figure is checked against the
same figure computed from email_notifications and email_attempts.
"""
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from aiosmtpd.controller import Controller

import nd
from test_http_conventions import check_answer, doc_file

PATH = "/notification_service/api/notifications"
STATS = "/notification_service/api/stats"
SUPP = "/notification_service/api/suppressions"
ADMIN = {"Authorization": "Bearer adm"}
SEND = {"Authorization": "Bearer snd"}
READ = {"Authorization": "Bearer rd"}
# The histogram's buckets are a quarter octave wide; the estimate is the
# bucket's geometric middle: within 2^(1/8) of any value in it.
RES = 2 ** (1 / 8) * 1.001


class Relay:
    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}

    async def handle_RCPT(self, server, session, envelope, address, opts):
        local = address.split("@")[0]
        with self.lock:
            self.seen[address] = self.seen.get(address, 0) + 1
            n = self.seen[address]
        if local.startswith("gone"):
            return "550 5.1.1 No such user"
        if local.startswith("busy") or (local.startswith("flaky") and n == 1):
            return "450 4.2.1 Mailbox busy"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        return "250 Message accepted"


@pytest.fixture
def relay():
    r = Relay()
    port = nd.free_port()
    c = Controller(r, hostname="127.0.0.1", port=port)
    c.start()
    r.url = "smtp://127.0.0.1:%d" % port
    yield r
    c.stop()


@pytest.fixture
def sconf(conf, relay):
    return nd.merge(conf, {
        "http": {"tokens": ["adm:admin", "snd:send", "rd:read"]},
        "email": {"enabled": True, "workers": 1, "from": "notify@example.com",
                  "smtp": {"url": relay.url},
                  "retry": {"initial": 0.1, "multiplier": 1, "max_delay": 0.2,
                            "max_attempts": 2, "jitter": 0}},
    })


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def post(d, recipient, **over):
    b = {"type": "EMAIL", "title": "Hello", "content": "<p>Hi</p>",
         "userId": "u-1", "recipient": recipient}
    b.update(over)
    if "template" in over:
        del b["title"], b["content"]
    st, resp, _ = d.post(PATH, json=b, headers=SEND)
    assert st == 202, resp
    return resp


def settled(db):
    return db.scalar("SELECT count(*) FROM email_notifications WHERE status "
                     "IN ('PENDING', 'PROCESSING')") == 0


def populate(d, db):
    """Sent, failed (5xx, and 4xx until max_attempts), retried then sent,
    and suppressed by hand; with and without category and template."""
    st, b, _ = d.request("PUT", "/notification_service/api/templates/welcome",
                         json_body={"subject": "Welcome", "html": "<p>Hi</p>",
                                    "text": "Hi"}, headers=ADMIN)
    assert st in (200, 201), b
    st, b, _ = d.request("PUT", SUPP + "/blocked@example.com", headers=ADMIN)
    assert st == 200, b
    for i in range(4):
        post(d, "ok%d@example.com" % i, category="billing", template="welcome")
    for i in range(3):
        post(d, "ok%d@example.com" % i, category="marketing")
    post(d, "ok@example.com")
    post(d, "gone1@example.com", category="billing")
    post(d, "gone2@example.com")
    post(d, "busy1@example.com", category="marketing")
    post(d, "busy2@example.com", template="welcome")
    post(d, "flaky@example.com", category="billing", template="welcome")
    for over in ({}, {"category": "marketing"}):
        assert post(d, "blocked@example.com", **over)["status"] == "SUPPRESSED"
    nd.wait_until(lambda: settled(db), 60, msg="every notification settled")


# Per bucket start, what the table says: counts, true latency
# percentiles (the same rank rule as the rollup's), failure codes.
EXPECTED = """
WITH n AS (SELECT *, date_bin(%(w)s::interval, created_at,
                               timestamptz '2000-01-01Z') AS b
           FROM email_notifications
           WHERE (%(cat)s::text IS NULL OR coalesce(category, '') = %(cat)s)
             AND (%(tpl)s::text IS NULL
                  OR coalesce(template_name, '') = %(tpl)s))
SELECT to_char(b AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       count(*), count(*) FILTER (WHERE status = 'SENT'),
       count(*) FILTER (WHERE status = 'FAILED'),
       count(*) FILTER (WHERE status = 'SUPPRESSED'),
       (SELECT count(*) FROM email_attempts a JOIN n m
          ON m.id = a.notification_id
        WHERE m.b = n.b AND a.outcome = 'temporary'
          AND NOT (m.status = 'FAILED' AND a.attempt = m.attempts)),
       percentile_disc(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM
           sent_at - created_at) * 1000) FILTER (WHERE status = 'SENT'),
       percentile_disc(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM
           sent_at - created_at) * 1000) FILTER (WHERE status = 'SENT'),
       (SELECT json_object_agg(code, k) FROM (
          SELECT substring(last_error FROM '^[0-9]{3}') AS code, count(*) AS k
          FROM n m WHERE m.b = n.b AND m.status = 'FAILED' GROUP BY 1) c)
FROM n GROUP BY b ORDER BY b
"""


def expected(db, width, cat=None, tpl=None):
    return {r[0]: r[1:] for r in db.query(
        EXPECTED, {"w": width, "cat": cat, "tpl": tpl})}


def check(buckets, exp):
    got = {b["start"]: b for b in buckets if b["accepted"]}
    assert sorted(got) == sorted(exp), (got, exp)
    for start, (acc, sent, failed, supp, retried, p50, p99, codes) in \
            exp.items():
        b = got[start]
        assert (b["accepted"], b["sent"], b["failed"], b["suppressed"],
                b["retried"]) == (acc, sent, failed, supp, retried), (b, exp)
        if sent + failed:
            assert b["successRate"] == pytest.approx(sent / (sent + failed))
        else:
            assert b["successRate"] is None
        for est, true in ((b["latencyMs"]["p50"], p50),
                          (b["latencyMs"]["p99"], p99)):
            if true is None:
                assert est is None
            else:
                true = max(float(true), 1.0)
                assert true / RES <= est <= true * RES, (b, p50, p99)
        top = {str(c["code"]): c["count"] for c in b["topFailureCodes"]}
        assert top == {k: v for k, v in (codes or {}).items()}, (b, codes)
        counts = [c["count"] for c in b["topFailureCodes"]]
        assert counts == sorted(counts, reverse=True)


def get_stats(d, frm, to, **q):
    url = "%s?from=%s&to=%s" % (STATS, iso(frm), iso(to))
    for k, v in q.items():
        url += "&%s=%s" % (k, v)
    answer = d.get(url, headers=READ)
    assert answer[0] == 200, answer
    check_answer(doc_file(), STATS, "GET", answer)   # as documented
    return answer[1]


def test_stats_match_the_table(sconf, notifyd, relay, db):
    d = notifyd(sconf)
    populate(d, db)
    now = datetime.now(timezone.utc)
    frm, to = now - timedelta(hours=3), now + timedelta(hours=2)
    b = get_stats(d, frm, to)
    assert b["bucket"] == "hour"
    # Every hour of the range is listed, empty ones with zeros.
    assert len(b["buckets"]) in (5, 6)
    starts = [x["start"] for x in b["buckets"]]
    assert starts == sorted(starts) and starts[0] <= iso(frm)
    empty = [x for x in b["buckets"] if not x["accepted"]]
    assert empty and empty[0]["successRate"] is None
    assert empty[0]["latencyMs"] == {"p50": None, "p99": None}
    assert empty[0]["topFailureCodes"] == []
    exp = expected(db, "1 hour")
    check(b["buckets"], exp)
    total = [sum(v[i] for v in exp.values()) for i in range(5)]
    assert total == [15, 9, 4, 2, 3], total   # the scenario happened
    # Filters: category, template, both, and '' matched by none.
    for q, cat, tpl in ((dict(category="billing"), "billing", None),
                        (dict(category="marketing"), "marketing", None),
                        (dict(template="welcome"), None, "welcome"),
                        (dict(category="billing", template="welcome"),
                         "billing", "welcome")):
        check(get_stats(d, frm, to, **q)["buckets"],
              expected(db, "1 hour", cat, tpl))
    none = get_stats(d, frm, to, category="nosuch")["buckets"]
    assert none and all(x["accepted"] == 0 for x in none)
    # Days are sums of hours.
    day = get_stats(d, now - timedelta(days=2), now + timedelta(days=1),
                    bucket="day")
    assert day["bucket"] == "day" and len(day["buckets"]) in (3, 4)
    check(day["buckets"], expected(db, "1 day"))


def scrape(d):
    st, text, _ = d.get("/metrics")
    assert st == 200
    out = {}
    for line in text.splitlines():
        if line.startswith("notifyd_notifications_") and "{" not in line:
            name, v = line.split()
            out[name] = float(v)
    return out


def test_metrics_counters_move(sconf, notifyd, relay, db):
    d = notifyd(sconf)
    before = scrape(d)
    populate(d, db)
    got = nd.wait_until(lambda: (lambda m: m if m.get(
        "notifyd_notifications_sent_total", 0) >= 9 else None)(scrape(d)),
        10, msg="metrics")
    for name, n in (("accepted", 15), ("sent", 9), ("failed", 4),
                    ("suppressed", 2), ("retried", 3)):
        key = "notifyd_notifications_%s_total" % name
        assert got[key] - before.get(key, 0) == n, (key, got, before)


def test_scope_and_bad_parameters(sconf, notifyd, db):
    d = notifyd(sconf)
    ok = "from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z"
    assert d.get(STATS + "?" + ok)[0] == 401
    assert d.get(STATS + "?" + ok, headers=SEND)[0] == 403
    st, b, _ = d.get(STATS + "?" + ok, headers=READ)
    assert st == 200 and len(b["buckets"]) == 24
    assert all(x["accepted"] == 0 for x in b["buckets"])
    st, b, _ = d.get(STATS + "?" + ok + "&bucket=day", headers=READ)
    assert st == 200 and [x["start"] for x in b["buckets"]] == \
        ["2026-01-01T00:00:00Z"]
    # An offset is honoured: 01:30+02:00 is 23:30 the day before.
    st, b, _ = d.get(STATS + "?from=2026-01-01T01:30:00%2B02:00"
                     "&to=2026-01-01T00:00:00Z", headers=READ)
    assert st == 200 and [x["start"] for x in b["buckets"]] == \
        ["2025-12-31T23:00:00Z"], b
    for q, field in (
            ("to=2026-01-02T00:00:00Z", "from"),
            ("from=2026-01-01T00:00:00Z", "to"),
            ("from=yesterday&to=2026-01-02T00:00:00Z", "from"),
            ("from=2026-02-30T00:00:00Z&to=2026-03-02T00:00:00Z", "from"),
            ("from=2026-01-01T00:00:00Z&to=2026-01-02T25:00:00Z", "to"),
            ("from=2026-01-03T00:00:00Z&to=2026-01-02T00:00:00Z", "from"),
            (ok + "&bucket=week", "bucket"),
            (ok + "&bucket=", "bucket"),
            # 10,000 buckets at most: 2 years by hour is too many.
            ("from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
            ("from=0001-01-01T00:00:00Z&to=9999-12-31T00:00:00Z&bucket=day",
             "to"),
            (ok + "&category=Not%20A%20Category", "category"),
            (ok + "&category=" + "a" * 65, "category"),
            (ok + "&template=%0Abad", "template"),
            (ok + "&category=%FF%FE", "category"),
            ("from=2026-01-01T00:00:00Z%FF&to=2026-01-02T00:00:00Z", "from"),
            ("from=2026-01-01T00:00:00Z%00&to=2026-01-02T00:00:00Z", "from"),
            ("from=2026-01-01T00:00:00Z&to=2026-01-02%0D%0A", "to"),
            ("from=" + "2" * 2000 + "&to=2026-01-02T00:00:00Z", "from"),
            (ok + "&template=" + "t" * 2000, "template"),
            (ok + "&limit=5", "limit")):
        st, b, h = d.get(STATS + "?" + q, headers=READ)
        assert st == 400 and b["field"] == field, (q, st, b)
        check_answer(doc_file(), STATS, "GET", (st, b, h))
    # 10,000 hours exactly is allowed (about 417 days).
    st, b, _ = d.get(STATS + "?from=2025-01-01T00:00:00Z"
                     "&to=2026-02-21T16:00:00Z", headers=READ)
    assert st == 200 and len(b["buckets"]) == 10000
    assert d.get(PATH, headers=READ)[0] == 200    # still serving


def test_updates_by_hand_are_counted_and_never_fail(sconf, notifyd, relay, db):
    """An operator's UPDATE goes through the same trigger: SENT without a
    sent_at (no latency to count) must not fail the statement."""
    d = notifyd(sconf)
    st, b, _ = d.request("PUT", SUPP + "/held@example.com", headers=ADMIN)
    assert st == 200
    ids = [post(d, "held@example.com", category="billing")["id"]
           for _ in range(3)]
    db.query("UPDATE email_notifications SET status = 'SENT', sent_at = NULL "
             "WHERE id = %s", (ids[0],))
    db.query("UPDATE email_notifications SET status = 'FAILED', "
             "last_error = 'connection refused' WHERE id = %s", (ids[1],))
    now = datetime.now(timezone.utc)
    got = get_stats(d, now - timedelta(hours=1), now + timedelta(hours=1),
                    category="billing")
    tot = {k: sum(x[k] for x in got["buckets"])
           for k in ("accepted", "sent", "failed", "suppressed")}
    assert tot == {"accepted": 3, "sent": 1, "failed": 1, "suppressed": 3}
    b = [x for x in got["buckets"] if x["accepted"]][0]
    assert b["latencyMs"] == {"p50": None, "p99": None}
    assert b["topFailureCodes"] == [{"code": "other", "count": 1}]
    assert b["successRate"] == 0.5
