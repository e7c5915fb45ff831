"""Issue 13 point 1: audit_events partitioned by time, with retention.

The migration turns the table into the first partition (every row, id
and offset kept); the audit role creates partitions ahead and drops
those past audit.retention; the replay guard sees a copy recorded in
another partition.  The exactly-once tests of test_audit.py run on this
layout unchanged.
"""
import shutil
from pathlib import Path

import nd

AUDIT = {"enabled": True, "metadata_refresh": 500, "batch_linger": 20}
SQL = Path(__file__).resolve().parents[2] / "sql"


def conf_for(db, smtp, kafka, audit=True, **audit_over):
    conf = nd.base_conf(db.conninfo, kafka.bootstrap, smtp.url,
                        nd.free_port())
    if audit:
        conf = nd.merge(conf, {"audit": dict(AUDIT, **audit_over)})
    return conf


def migrate(notifyd, conf):
    assert notifyd(conf, wait_ready=False, args=("--migrate",)).wait() == 0


def count(db, where="TRUE"):
    return db.scalar("SELECT count(*) FROM audit_events WHERE " + where)


def partitions(db):
    return db.query("SELECT name, lo, hi FROM audit_partitions ORDER BY lo")


def relayout(db, *ranges):
    """Replaces the partitions of a fresh database by ranges
    [(name, lo, hi)], SQL expressions, registered for retention."""
    for name, in db.query("SELECT name FROM audit_partitions"):
        db.query("DROP TABLE %s" % name)
    db.query("DELETE FROM audit_partitions")
    for name, lo, hi in ranges:
        db.query("CREATE TABLE %s PARTITION OF audit_events"
                 " FOR VALUES FROM (%s) TO (%s)" % (name, lo, hi))
        db.query("INSERT INTO audit_partitions VALUES ('%s', %s, %s)"
                 % (name, lo, hi))


def test_migration_keeps_every_row_and_offset(db, smtp, kafka, notifyd,
                                              tmp_path):
    old = tmp_path / "sql"
    old.mkdir()
    for f in sorted(SQL.glob("00[1-6]_*.sql")):
        shutil.copy(f, old)
    conf = conf_for(db, smtp, kafka, audit=False)
    conf["database"]["migrations_dir"] = str(old)
    migrate(notifyd, conf)
    db.query("INSERT INTO audit_events (source_topic, partition, \"offset\","
             " event_type, value, created_at) SELECT 't' || (g % 3), g % 2,"
             " g, 'x', 'v', now() - g * interval '1 minute'"
             " FROM generate_series(0, 4999) g")
    db.query("INSERT INTO audit_events (source_topic, event_type)"
             " VALUES ('manual', 'manual')")
    db.query("INSERT INTO kafka_offsets SELECT 'g', source_topic, partition,"
             " max(\"offset\") FROM audit_events WHERE partition IS NOT NULL"
             " GROUP BY 2, 3")
    snap = ("SELECT id, notification_id, source_topic, partition, \"offset\","
            " created_at, tx FROM audit_events ORDER BY id")
    rows = db.query(snap)
    offsets = db.query("SELECT * FROM kafka_offsets ORDER BY 1, 2, 3")
    stats_q = ("SELECT source_topic, partition, count, last_offset,"
               " last_seen FROM audit_topic_stats ORDER BY 1, 2")
    stats = db.query(stats_q)
    conf["database"]["migrations_dir"] = str(SQL)
    migrate(notifyd, conf)
    assert db.scalar("SELECT count(*) FROM pg_partitioned_table"
                     " WHERE partrelid = 'audit_events'::regclass") == 1
    assert db.query(snap) == rows
    assert db.query("SELECT * FROM kafka_offsets ORDER BY 1, 2, 3") == offsets
    assert db.query(stats_q) == stats
    assert count(db, "tableoid = 'audit_events_p0'::regclass") == 5001
    # partitions are made ahead: from the end of today, two days on
    parts = partitions(db)
    assert parts[0][0] == "audit_events_p0" and len(parts) >= 3
    assert all(a[2] == b[1] for a, b in zip(parts, parts[1:]))
    # a new row takes the next id
    new = db.scalar("INSERT INTO audit_events (source_topic, event_type)"
                    " VALUES ('manual', 'm') RETURNING id")
    assert new == rows[-1][0] + 1


def test_partitions_ahead_in_the_configured_span(db, smtp, kafka, notifyd):
    conf = conf_for(db, smtp, kafka, partition="hour")
    migrate(notifyd, conf)
    relayout(db, ("audit_old", "'2020-01-01'",
                  "date_trunc('hour', now() AT TIME ZONE 'UTC')"
                  " AT TIME ZONE 'UTC'"))
    d = notifyd(conf)
    d.wait_log(r"created [34] audit_events partitions \(one a hour\)", 15)
    parts = partitions(db)[1:]
    assert all((hi - lo).total_seconds() == 3600 for _, lo, hi in parts)
    assert all(a[2] == b[1] for a, b in zip(parts, parts[1:]))
    assert db.scalar("SELECT max(hi) >= now() + interval '2 hours'"
                     " FROM audit_partitions")
    kafka.produce("hourly", ['{"n": %d}' % i for i in range(5)])
    # 60 s for rows: the first consumer-group join (see test_audit.py)
    nd.wait_until(lambda: count(db, "source_topic = 'hourly'") == 5, 60)
    assert db.scalar("SELECT count(DISTINCT tableoid) FROM audit_events"
                     " WHERE source_topic = 'hourly'") == 1
    assert db.scalar("SELECT tableoid::regclass::text FROM audit_events"
                     " WHERE source_topic = 'hourly' LIMIT 1") != "audit_old"


def test_a_replay_into_another_partition_is_seen(db, smtp, kafka_factory,
                                                 notifyd):
    """The first copies are in an older partition; the group's offsets
    are lost and the messages are read again: the copies would land in
    the current partition, and the guard keeps them out."""
    kafka = kafka_factory(topics=[("twice", 2)])
    conf = conf_for(db, smtp, kafka)
    migrate(notifyd, conf)
    relayout(db, ("audit_before", "'2020-01-01'", "now() - interval '1 hour'"),
             ("audit_now", "now() - interval '1 hour'",
              "now() + interval '3 days'"))
    d = notifyd(conf)
    kafka.produce("twice", ['{"n": %d}' % i for i in range(20)], partition=0)
    kafka.produce("twice", ['{"n": %d}' % i for i in range(10)], partition=1)
    nd.wait_until(lambda: count(db) == 30, 60, msg="30 rows")
    d.stop()
    # The first copies move to the older partition; the offsets are lost.
    db.query("UPDATE audit_events SET created_at = created_at"
             " - interval '2 hours'")
    assert count(db, "tableoid = 'audit_before'::regclass") == 30
    db.query("DELETE FROM kafka_offsets")
    kafka.produce("twice", ['{"n": %d}' % i for i in range(20, 25)],
                  partition=0)
    d = notifyd(conf)
    nd.wait_until(lambda: count(db) == 35, 60, msg="35 rows")
    d.wait_log("already recorded", 10)
    nd.wait_until(lambda: db.scalar(
        "SELECT \"offset\" FROM kafka_offsets WHERE partition = 0") == 24, 10)
    rows = db.query("SELECT partition, \"offset\", tableoid::regclass::text"
                    " FROM audit_events ORDER BY 1, 2")
    assert [(p, o) for p, o, _ in rows] == \
        [(0, o) for o in range(25)] + [(1, o) for o in range(10)]
    assert [t for p, o, t in rows if p == 0 and o >= 20] == ["audit_now"] * 5
    assert db.query("SELECT partition, count, last_offset FROM"
                    " audit_topic_stats ORDER BY 1") == [(0, 25, 24),
                                                         (1, 10, 9)]


def test_retention_drops_whole_partitions(db, smtp, kafka, notifyd):
    conf = conf_for(db, smtp, kafka)
    migrate(notifyd, conf)
    relayout(db, ("audit_2020", "'2020-01-01'", "'2020-01-02'"),
             ("audit_recent", "'2020-01-02'", "now() + interval '3 days'"))
    d = notifyd(conf)
    kafka.produce("kept", ['{"n": %d}' % i for i in range(10)], partition=0)
    nd.wait_until(lambda: count(db) == 10, 60, msg="10 rows")
    d.stop()
    db.query("UPDATE audit_events SET created_at = '2020-01-01 12:00+00'"
             " WHERE \"offset\" < 6")
    assert count(db, "tableoid = 'audit_2020'::regclass") == 6
    d = notifyd(nd.merge(conf, {"audit": {"retention": "30d"}}))
    d.wait_log(r"dropped 1 audit_events partitions older than 30 days", 15)
    assert db.scalar("SELECT to_regclass('audit_2020')") is None
    assert [n for n, _, _ in partitions(db)][0] == "audit_recent"
    assert db.query("SELECT \"offset\" FROM audit_events ORDER BY 1") == \
        [(o,) for o in range(6, 10)]
    assert db.query("SELECT count, last_offset FROM audit_topic_stats") == \
        [(4, 9)]
    st, body, _ = d.get("/audit/topics")
    assert body["topics"][0]["count"] == 4
    # A replay of the dropped rows is still seen as one: the group's
    # offsets are lost and everything is read again from offset 0.
    d.stop()
    db.query("DELETE FROM kafka_offsets")
    kafka.produce("kept", ['{"n": 10}'], partition=0)
    d = notifyd(nd.merge(conf, {"audit": {"retention": "30d"}}))
    nd.wait_until(lambda: count(db) == 5, 60, msg="offset 10 recorded")
    d.wait_log("already recorded", 10)
    assert db.query("SELECT \"offset\" FROM audit_events ORDER BY 1") == \
        [(o,) for o in range(6, 11)]


def test_bad_retention_is_refused(db, smtp, kafka, notifyd):
    for good in ("90d", "12h", "2w", ""):
        conf = conf_for(db, smtp, kafka, retention=good, partition="week")
        assert notifyd(conf, wait_ready=False, args=("-t",)).wait() == 0
    for bad in ("90", "90x", "d", "0d", "-1d", "1.5d"):
        conf = conf_for(db, smtp, kafka, retention=bad)
        d = notifyd(conf, wait_ready=False, args=("-t",))
        assert d.wait() != 0, bad
        assert "audit.retention" in d.log(), (bad, d.log())
