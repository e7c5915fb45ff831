"""The audit role's batch end (sql/012_audit_batch_close.sql): the replay
guard, offsets and counts in one call sent with the COMMIT, and the next
batch's COPY opened in the same round trip while messages wait.

A partition's first batch must go in by COPY: before the fix the guard
counted the batch's own rows (already in by COPY) as recorded, so every
partition's first batch was refused and redone by the replay path.  The
replay path creates the session's temporary table audit_stage, so its
presence in pg_class tells whether it ran.
"""
import json
import time

import nd
from test_audit import assert_exactly_once, make_conf, wait_count

PARTS = 4


def produce_round(kafka, topic, start, n):
    """n messages to each partition, offsets start..start+n-1."""
    for p in range(PARTS):
        kafka.produce(topic, [json.dumps({"type": "t", "order_id": "o-%d-%d"
                                          % (p, start + i)})
                              for i in range(n)], key="k%d" % p, partition=p)


def replayed(db):
    """Whether any session took the replay path (made audit_stage)."""
    return db.scalar("SELECT count(*) FROM pg_class"
                     " WHERE relname = 'audit_stage'") > 0


def assert_stats(db, topic, per_part):
    rows = db.query("SELECT partition, count, last_offset FROM"
                    " audit_topic_stats WHERE source_topic = %s"
                    " ORDER BY partition", (topic,))
    assert rows == [(p, per_part, per_part - 1) for p in range(PARTS)]


def open_copies(db):
    return db.scalar("SELECT count(*) FROM pg_stat_activity WHERE"
                     " datname = current_database() AND query LIKE 'COPY%%'"
                     " AND state = 'active'")


def test_first_batches_go_in_by_copy_and_chain(db, smtp, kafka_factory,
                                              notifyd):
    kafka = kafka_factory(topics=[("fresh", PARTS)])
    produce_round(kafka, "fresh", 0, 300)
    notifyd(make_conf(db, smtp, kafka))
    wait_count(db, 300 * PARTS)
    assert_exactly_once(db, 300 * PARTS)
    assert_stats(db, "fresh", 300)
    assert not replayed(db), "a first batch went down the replay path"
    # A backlog: batches follow each other, the next COPY opened with the
    # COMMIT; every row still once, every count exact.
    produce_round(kafka, "fresh", 300, 2000)
    wait_count(db, 2300 * PARTS)
    assert_exactly_once(db, 2300 * PARTS)
    assert_stats(db, "fresh", 2300)
    assert not replayed(db)
    # Idle again: no COPY left open ahead (statement_timeout, vacuum).
    nd.wait_until(lambda: open_copies(db) == 0, 5, msg="no COPY open")
    time.sleep(1)
    assert open_copies(db) == 0


def test_guard_in_the_close_sends_a_replay_to_the_replay_path(
        db, smtp, kafka_factory, notifyd):
    """Offsets behind the rows (a commit the database lost, as after a
    failover): the batch overlaps what is recorded, audit_batch_close
    raises unique_violation, the COMMIT sent with it is skipped, and the
    replay path adds only what is new."""
    kafka = kafka_factory(topics=[("again", PARTS)])
    produce_round(kafka, "again", 0, 200)
    d = notifyd(make_conf(db, smtp, kafka))
    wait_count(db, 200 * PARTS)
    d.stop()
    db.query("UPDATE kafka_offsets SET \"offset\" = \"offset\" - 50"
             " RETURNING 1")
    produce_round(kafka, "again", 200, 30)
    notifyd(make_conf(db, smtp, kafka))
    wait_count(db, 230 * PARTS)
    nd.wait_until(lambda: db.scalar(
        "SELECT min(\"offset\") FROM kafka_offsets") == 229, 30,
        msg="offsets at the end")
    assert replayed(db), "the overlap was not sent to the replay path"
    assert_exactly_once(db, 230 * PARTS)
    assert_stats(db, "again", 230)
