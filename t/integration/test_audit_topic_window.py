"""Issue 13 point 2: a topic's page of a time range walks the window
index, whose third key is hashtext(source_topic)
(sql/020_audit_topic_window.sql).  Two topics may share a hash: the page
of one must never show the other's rows.  Here two such topics are
found, filled alternately, and each topic's ranged pages are compared
with the NDJSON export of that topic (which reads the topic btree).
"""
import json
import urllib.request

import nd

COLLIDE = (
    "SELECT min(s), max(s) FROM (SELECT 'topic-' || g AS s,"
    " hashtext('topic-' || g) AS h FROM generate_series(1, 400000) g) x"
    " GROUP BY h HAVING count(*) > 1 LIMIT 1")


def get(d, path):
    with urllib.request.urlopen(d.url + path, timeout=30) as r:
        return r.status, r.read()


def test_topics_sharing_a_hash_stay_apart(db, smtp, kafka, notifyd):
    d = notifyd(nd.merge(nd.base_conf(db.conninfo, kafka.bootstrap,
                                      smtp.url, nd.free_port()),
                         {"audit": {"enabled": False}}))
    a, b = db.query(COLLIDE)[0]
    assert a != b and db.scalar("SELECT hashtext(%s) = hashtext(%s)",
                                (a, b))
    db.query("INSERT INTO audit_events (source_topic, event_type, event,"
             " created_at) SELECT CASE WHEN mod(g, 3) = 0 THEN %s ELSE %s END,"
             " 't', jsonb_build_object('g', g),"
             " '2026-01-01T00:00:00Z'::timestamptz + g * interval '1 s'"
             " FROM generate_series(1, 600) g", (a, b))
    for topic, n in ((a, 200), (b, 400)):
        st, body = get(d, "/audit/events?format=ndjson&topic=" + topic)
        rows = body.split(b"\n")[:-1][::-1]
        assert st == 200 and len(rows) == n
        # the whole range, one page
        st, body = get(d, "/audit/events?topic=%s&since=2026-01-01T00:00:00Z"
                          "&until=2026-01-02T00:00:00Z&limit=1000" % topic)
        assert body == b'{"events":[' + b",".join(rows) + b'],"next":null}'
        # a window of 5 minutes (rows 100..399), pages of 7 by "next"
        want = [r for r in rows
                if "T00:01:40" <= json.loads(r)["createdAt"][10:19]
                < "T00:06:40"]
        assert len(want) == n // 2
        got, after = [], ""
        while True:
            st, body = get(d, "/audit/events?topic=%s&limit=7%s"
                              "&since=2026-01-01T00:01:40Z"
                              "&until=2026-01-01T00:06:40Z" % (topic, after))
            page = json.loads(body)
            got += [json.dumps(e, separators=(",", ":")).encode()
                    for e in page["events"]]
            if page["next"] is None:
                break
            after = "&after=%d" % page["next"]
        assert [json.loads(x) for x in got] == [json.loads(x) for x in want]
