"""What every resource does with the database (src/api_db.c): a read on
a pooled connection that broke since it was pooled (PostgreSQL restarted,
or the backend was terminated) is run again on a new one, whether its
answer is a result (api_db_query), a binary result (api_db_query_binary)
or rows streamed as they arrive (api_db_query_rows); a write is not, as
it may have committed; and the keyset pages' ?limit=&after= parameters.
"""
import urllib.request

import nd

API = "/notification_service/api"
SUPP = API + "/suppressions"
TPL = API + "/templates"


def drop_connections(db):
    """Terminates every other backend of the test database: the api's
    pooled connections break without the api knowing."""
    return db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid()")


def raw_get(d, path):
    with urllib.request.urlopen(d.url + path, timeout=10) as r:
        return r.status, r.read()


def test_reads_are_run_again_on_a_new_connection(conf, notifyd, db):
    d = notifyd(conf)
    db.query("INSERT INTO audit_events (source_topic, partition, \"offset\","
             " event_type, event) VALUES ('re', 0, 0, 't', '{\"i\": 1}')")
    assert d.request("PUT", SUPP + "/a@example.com")[0] == 200
    reads = [SUPP, "/audit/events?topic=re",                # result, rows
             "/audit/events?topic=re&format=ndjson",
             "/audit/tail?topic=re&limit=5"]
    first = [raw_get(d, p) for p in reads]          # pooled connections now
    assert [s for s, _ in first] == [200] * len(reads), first
    for _ in range(3):
        assert drop_connections(db), "no api connection to drop"
        again = [raw_get(d, p) for p in reads]
        assert again == first


def test_writes_are_not_run_again(conf, notifyd, db):
    d = notifyd(conf)
    assert d.request("PUT", SUPP + "/w1@example.com")[0] == 200
    drop_connections(db)
    status, body, headers = d.request("PUT", SUPP + "/w2@example.com")
    assert status == 503 and body["error"] == "database unavailable", body
    assert int(headers["Retry-After"]) >= 1
    assert db.scalar("SELECT count(*) FROM email_suppressions"
                     " WHERE address = 'w2@example.com'") == 0
    # the broken connection left the pool: the next one is a new one
    assert d.request("PUT", SUPP + "/w2@example.com")[0] == 200


def test_text_keyed_pages(conf, notifyd):
    d = notifyd(conf)
    for a in ("p1@example.com", "p2@example.com", "p3@example.com"):
        assert d.request("PUT", SUPP + "/" + a)[0] == 200
    seen, after = [], ""
    while True:
        status, page, _ = d.get(SUPP + "?limit=2" + after)
        assert status == 200 and len(page["suppressions"]) <= 2, page
        seen += [s["address"] for s in page["suppressions"]]
        if page["next"] is None:
            break
        after = "&after=" + urllib.request.quote(page["next"])
    assert seen == ["p1@example.com", "p2@example.com", "p3@example.com"]
    for path in (SUPP, TPL):
        for query, field in (("?limit=0", "limit"), ("?limit=1001", "limit"),
                             ("?limit=x", "limit"), ("?limt=5", "limt"),
                             ("?after=%FF", "after")):
            status, body, _ = d.get(path + query)
            assert status == 400, (path, query, body)
            assert field in str(body), (path, query, body)
        status, body, _ = d.get(path + "?limit=1000&after=" +
                                urllib.request.quote("\u00e9\u4e2d"))
        assert status == 200, body
