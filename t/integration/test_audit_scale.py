"""Issue 13 point 2: the audit log's reads at scale.

/audit/topics from audit_topic_stats (kept in the batch's transaction),
an index for every documented /audit/events filter, and the NDJSON
export streamed with constant memory.
"""
import json
import os
import shutil
import time
import urllib.request
from pathlib import Path

import pytest
from kafka import KafkaProducer

import nd

AUDIT = {"enabled": True, "metadata_refresh": 500, "batch_linger": 20}
SQL = Path(__file__).resolve().parents[2] / "sql"


def conf_for(db, smtp, kafka, audit=True, **over):
    conf = nd.base_conf(db.conninfo, kafka.bootstrap, smtp.url,
                        nd.free_port())
    if audit:
        conf = nd.merge(conf, {"audit": AUDIT})
    return nd.merge(conf, over)


STATS = ("SELECT source_topic, partition, count, last_offset, last_seen,"
         " last_kafka_ts FROM audit_topic_stats ORDER BY 1, 2")
SCAN = ("SELECT source_topic, partition, count(*), max(\"offset\"),"
        " max(created_at), max(kafka_ts) FROM audit_events"
        " WHERE partition IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2")


def bulk(db, n, topic="bulk", start=0):
    """n Kafka-like rows straight into the table (8 partitions)."""
    db.query("INSERT INTO audit_events (source_topic, partition, \"offset\","
             " event_type, source_service, customer_id, order_id,"
             " correlation_id, event, value, kafka_ts, kafka_ts_type)"
             " SELECT %s, g %% 8, g / 8, 'type-' || (g %% 50),"
             "  'svc-' || (g %% 5), 'cu-' || (g %% 1000), 'o-' || g,"
             "  'corr-' || (g %% 100),"
             "  jsonb_build_object('type', 'type-' || (g %% 50), 'n', g),"
             "  convert_to('{\"type\": \"type-' || (g %% 50) || '\", \"n\": '"
             "   || g || '}', 'UTF8'), now(), 'create'"
             " FROM generate_series(%s, %s) g", (topic, start, start + n - 1))


# ---------------------------------------------------------------- topics

def test_topic_counts_move_with_the_rows(db, smtp, kafka_factory, notifyd):
    kafka = kafka_factory(topics=[("c1", 3), ("c2", 1)])
    d = notifyd(conf_for(db, smtp, kafka))
    p = KafkaProducer(bootstrap_servers=kafka.bootstrap, linger_ms=5)
    try:
        for i in range(300):
            p.send("c1", b'{"n": %d}' % i, partition=i % 3)
        for i in range(7):
            p.send("c2", b"plain %d" % i)
        p.flush()
    finally:
        p.close(5)
    nd.wait_until(lambda: db.scalar("SELECT count(*) FROM audit_events")
                  == 307, 60, msg="307 rows")
    d.post("/send-notification", json={"customerId": "c", "orderId": "o",
                                       "event": "manual"})
    assert db.query(STATS) == db.query(SCAN)
    st, body, _ = d.get("/audit/topics")
    assert st == 200
    got = {t["topic"]: (t["count"], [(q["partition"], q["count"],
                                      q["lastOffset"])
                                     for q in t["partitions"]])
           for t in body["topics"]}
    assert got == {"c1": (300, [(0, 100, 99), (1, 100, 99), (2, 100, 99)]),
                   "c2": (7, [(0, 7, 6)])}
    assert all(t["lastSeen"] for t in body["topics"])


def test_replayed_rows_are_not_counted_twice(db, smtp, kafka_factory,
                                            notifyd):
    """A zombie (another instance) committed offset 1 and counted it: the
    batch goes through the replay path, which counts only what it adds."""
    kafka = kafka_factory(topics=[("replay", 1)])
    conf = conf_for(db, smtp, kafka)
    assert notifyd(conf, wait_ready=False, args=("--migrate",)).wait() == 0
    db.query("INSERT INTO audit_events (source_topic, partition, \"offset\","
             " event_type, value) VALUES ('replay', 0, 1, 'zombie', 'z')")
    db.query("INSERT INTO audit_topic_stats VALUES ('replay', 0, 1, 1, now(),"
             " NULL)")
    kafka.produce("replay", ['{"n": %d}' % n for n in range(4)], partition=0)
    d = notifyd(conf)
    nd.wait_until(lambda: db.scalar("SELECT count(*) FROM audit_events") == 4,
                  60, msg="4 rows")
    d.wait_log("already recorded")
    assert db.query("SELECT count, last_offset FROM audit_topic_stats") == \
        [(4, 3)]


def test_migration_counts_existing_rows(db, smtp, kafka, notifyd, tmp_path):
    """A database at migration 004 with rows: 005 counts them and leaves
    every row and offset as it was."""
    old = tmp_path / "sql"
    old.mkdir()
    for f in sorted(SQL.glob("00[1-4]_*.sql")):
        shutil.copy(f, old)
    conf = conf_for(db, smtp, kafka, audit=False,
                    database={"migrations_dir": str(old)})
    assert notifyd(conf, wait_ready=False, args=("--migrate",)).wait() == 0
    bulk(db, 5000, "pre-a")
    bulk(db, 300, "pre-b")
    db.query("INSERT INTO audit_events (source_topic, event_type)"
             " VALUES ('manual', 'manual')")
    db.query("INSERT INTO kafka_offsets SELECT 'g', source_topic, partition,"
             " max(\"offset\") FROM audit_events WHERE partition IS NOT NULL"
             " GROUP BY 2, 3")
    rows = db.query("SELECT id, source_topic, partition, \"offset\""
                    " FROM audit_events ORDER BY id")
    offsets = db.query("SELECT * FROM kafka_offsets ORDER BY 1, 2, 3")
    conf["database"]["migrations_dir"] = str(SQL)
    assert notifyd(conf, wait_ready=False, args=("--migrate",)).wait() == 0
    assert db.query(STATS) == db.query(SCAN)
    assert db.scalar("SELECT sum(count) FROM audit_topic_stats") == 5300
    assert db.query("SELECT id, source_topic, partition, \"offset\""
                    " FROM audit_events ORDER BY id") == rows
    assert db.query("SELECT * FROM kafka_offsets ORDER BY 1, 2, 3") == offsets


# ---------------------------------------------------------------- indexes

FILTERS = [  # (query parameter, column, an index that serves it)
    ("topic", "source_topic", "audit_events_topic"),
    # with no match, (event_type, id) and sql/021's (event_type,
    # created_at) cost the same: either serves it
    ("event_type", "event_type", ("audit_events_type",
                                  "event_type_created_at")),
    ("correlation_id", "correlation_id", "audit_events_correlation"),
    ("order_id", "order_id", "audit_events_order"),
    ("customer_id", "customer_id", "audit_events_customer"),
    ("source_service", "source_service", "audit_events_source"),
]


def plan(db, where, params):
    """The plan /audit/events gets for one filter and no match (its
    statement is planned with the values: absent filters fold away)."""
    rows = db.query("EXPLAIN SELECT * FROM audit_events WHERE " + where +
                    " ORDER BY id DESC LIMIT 51", params)
    return "\n".join(r[0] for r in rows)


def test_every_filter_has_an_index(db, smtp, kafka, notifyd):
    conf = conf_for(db, smtp, kafka, audit=False)
    assert notifyd(conf, wait_ready=False, args=("--migrate",)).wait() == 0
    bulk(db, 60000)
    db.query("ANALYZE audit_events")
    # The rows are in the first time partition (the table before
    # sql/007), whose indexes carry its name.
    for _, column, index in FILTERS:
        p = plan(db, column + " = %s", ("no-such-value",))
        names = index if isinstance(index, tuple) else (index,)
        assert any(n.replace("audit_events_", "audit_events_p0_") in p
                   for n in names) \
            and "Seq Scan on audit_events_p0" not in p, (column, p)
    p = plan(db, "created_at >= %s", ("2999-01-01",))
    assert "Seq Scan on audit_events_p0" not in p, p
    # ... and through the API, the same no-match query answers.
    d = notifyd(conf)
    for name, _, _ in FILTERS:
        st, body, _ = d.get("/audit/events?%s=no-such-value" % name)
        assert st == 200 and body["events"] == [], name


# ---------------------------------------------------------------- export

def export(d, query="", accept=None):
    req = urllib.request.Request(d.url + "/audit/events" + query,
                                 headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, r.headers, r.read()


def test_ndjson_export(db, smtp, kafka, notifyd):
    conf = conf_for(db, smtp, kafka, audit=False)
    d = notifyd(conf)
    bulk(db, 2500)
    bulk(db, 40, "other")
    st, hdr, raw = export(d, "?format=ndjson&topic=bulk")
    assert st == 200 and hdr["Content-Type"] == "application/x-ndjson"
    assert hdr["Transfer-Encoding"] == "chunked"
    lines = raw.decode().split("\n")
    assert lines[-1] == ""              # every line ends with \n
    rows = [json.loads(l) for l in lines[:-1]]
    ids = [i for i, in db.query("SELECT id FROM audit_events"
                                " WHERE source_topic = 'bulk' ORDER BY id")]
    assert [r["id"] for r in rows] == ids       # oldest first, all of them
    # each line is what /audit/events shows for the row
    page = d.get("/audit/events?topic=bulk&limit=3")[1]["events"]
    assert rows[-3:] == page[::-1]
    # Accept: application/x-ndjson, with a time range and a filter
    mid = db.scalar("SELECT created_at FROM audit_events WHERE id = %s",
                    (ids[0],))
    st, hdr, raw = export(d, "?topic=bulk&source_service=svc-1&since=" +
                          mid.isoformat().replace("+", "%2B"),
                          accept="application/x-ndjson")
    assert st == 200 and raw.count(b"\n") == 500
    st, _, raw = export(d, "?format=ndjson&until=2000-01-01")
    assert (st, raw) == (200, b"")
    for q, field in (("?format=xml", "format"),
                     ("?format=ndjson&limit=5", "limit"),
                     ("?format=ndjson&after=5", "after"),
                     ("?format=ndjson&since=yesterday", "since")):
        st, err, _ = d.get("/audit/events" + q)
        assert st == 400 and err["field"] == field, (q, err)
    # a client that goes away mid-export gives its connection back
    with urllib.request.urlopen(d.url + "/audit/events?format=ndjson",
                                timeout=10) as r:
        r.read(1000)
    nd.wait_until(lambda: db.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE"
        " 'FETCH%%audit_export' AND state <> 'idle'") == 0, 10)
    assert d.get("/audit/events?limit=1")[0] == 200


def rss_kb(pid):
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def api_pid(d):
    for pid in d.children():
        try:
            if Path("/proc/%d/comm" % pid).read_text().strip() == \
                    "notifyd-api":
                return pid
        except FileNotFoundError:
            pass
    return None


@pytest.mark.skipif(os.environ.get("NOTIFYD_SANITIZERS") == "1",
                    reason="measures memory")
def test_export_of_a_million_rows_in_constant_memory(db, smtp, kafka,
                                                     notifyd):
    conf = conf_for(db, smtp, kafka, audit=False)
    d = notifyd(conf)
    n = 1000000
    for start in range(0, n, 250000):
        bulk(db, 250000, start=start)
    pid = api_pid(d)
    d.get("/audit/events?limit=1000")       # warm the process up
    base = peak = rss_kb(pid)
    t0 = time.monotonic()
    count, last, size = 0, 0, 0
    with urllib.request.urlopen(d.url + "/audit/events?format=ndjson",
                                timeout=120) as r:
        pending = b""
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for l in lines:
                i = json.loads(l)["id"]
                assert i > last
                last = i
            count += len(lines)
            peak = max(peak, rss_kb(pid))
        assert pending == b""
    took = time.monotonic() - t0
    print("exported %d rows (%d MB) in %.1f s; api RSS %d -> %d kB"
          % (count, size >> 20, took, base, peak))
    assert count == n
    # The body is hundreds of MB; the process grew by less than 16 MB.
    assert peak - base < 16 * 1024, (base, peak)
