"""Issue 13 point 3: GET /audit/tail never misses a committed row.

A row's id is taken at insert, but it becomes visible at commit: a batch
with lower ids can commit after one with higher ids, and a follower
paging by id (or created_at) has stepped over it for good.  The tail
pages in (transaction, id) order and only over finished transactions.
"""
import threading
import time

import psycopg2

import nd

AUDIT = {"enabled": True, "metadata_refresh": 500, "batch_linger": 20}


def conf_for(db, smtp, kafka, audit=True, **audit_over):
    conf = nd.base_conf(db.conninfo, kafka.bootstrap, smtp.url,
                        nd.free_port())
    if audit:
        conf = nd.merge(conf, {"audit": dict(AUDIT, **audit_over)})
    return conf


def insert(cur, topic, offset):
    cur.execute("INSERT INTO audit_events (source_topic, partition,"
                " \"offset\", event_type) VALUES (%s, 0, %s, 't')"
                " RETURNING id", (topic, offset))
    return cur.fetchone()[0]


def tail(d, after=None, **q):
    path = "/audit/tail?" + "&".join(
        ["%s=%s" % kv for kv in q.items()] +
        (["after=%s" % after] if after is not None else []))
    st, body, _ = d.get(path)
    assert st == 200, body
    return body["events"], body["next"]


def test_a_late_commit_is_not_skipped(db, smtp, kafka, notifyd):
    """The hole, made on purpose: a transaction takes id A and stays open
    while another commits id B > A.  An id cursor moves past A; the tail
    waits for A's transaction, then returns A and B."""
    d = notifyd(conf_for(db, smtp, kafka, audit=False))
    first = [insert_committed(db, "early", n) for n in range(3)]
    events, cur = tail(d)
    assert [e["id"] for e in events] == first

    slow = psycopg2.connect(db.conninfo)
    try:
        with slow.cursor() as c:
            a = insert(c, "slow", 0)                # open, not committed
            b = insert_committed(db, "fast", 0)
            assert b > a
            # An id follower sees B now, and would ask for id > B next.
            assert db.scalar("SELECT max(id) FROM audit_events") == b
            events, nxt = tail(d, cur)
            assert events == [] and nxt == cur      # B waits for A's tx
        slow.commit()
    finally:
        slow.close()
    events, nxt = tail(d, cur)
    assert [e["id"] for e in events] == [a, b]
    assert tail(d, nxt) == ([], nxt)
    # /audit/events paged by id, after B, never shows A again.
    assert [e["id"] for e in d.get("/audit/events?limit=1000")[1]["events"]
            if e["id"] > b] == []


def insert_committed(db, topic, offset):
    return db.scalar("INSERT INTO audit_events (source_topic, partition,"
                     " \"offset\", event_type) VALUES (%s, 0, %s, 't')"
                     " RETURNING id", (topic, offset))


def test_cursor_rules(db, smtp, kafka, notifyd):
    d = notifyd(conf_for(db, smtp, kafka, audit=False))
    ids = [insert_committed(db, "t%d" % (n % 2), n) for n in range(7)]
    events, nxt = tail(d, limit=3)
    assert [e["id"] for e in events] == ids[:3]
    events, nxt = tail(d, nxt, limit=3)
    assert [e["id"] for e in events] == ids[3:6]
    events, _ = tail(d, topic="t1")
    assert [e["id"] for e in events] == ids[1::2]
    # after=now: only what commits from now on
    events, now = tail(d, "now")
    assert events == []
    later = insert_committed(db, "t0", 99)
    assert [e["id"] for e in tail(d, now)[0]] == [later]
    for q, field in (("after=12", "after"), ("after=-1-2", "after"),
                     ("after=1-x", "after"), ("after=1-2-3", "after"),
                     ("after=%s-1" % ("9" * 21), "after"),
                     ("limit=0", "limit"), ("limit=1001", "limit"),
                     ("since=2025-01-01", "since")):
        st, err, _ = d.get("/audit/tail?" + q)
        assert st == 400 and err["field"] == field, (q, err)


def test_two_instances_and_a_follower_miss_nothing(db, smtp, kafka_factory,
                                                   notifyd):
    total = 100000
    kafka = kafka_factory(topics=[("flow", 6)])
    conf = conf_for(db, smtp, kafka, batch_size=500)
    conf["kafka"]["properties"] = [
        "session.timeout.ms=4000" if p.startswith("session.") else p
        for p in conf["kafka"]["properties"]]
    a = notifyd(conf)
    b = notifyd(nd.merge(conf, {"http": {"port": nd.free_port()}}))
    b.wait_log(r"assigned flow \[", 90)     # a rebalance: slow under load

    seen, pages, error = [], [0], []
    naive = {"last": 0, "seen": set()}
    stop = threading.Event()

    def follow():
        """Pages the tail without pause, and beside it an id follower."""
        cur = None
        try:
            while not stop.is_set() and len(seen) < total:
                events, cur = tail(a, cur, limit=1000, topic="flow")
                seen.extend((e["partition"], e["offset"]) for e in events)
                pages[0] += 1
                for i, p, o in db.query(
                        "SELECT id, partition, \"offset\" FROM audit_events"
                        " WHERE id > %s ORDER BY id LIMIT 5000",
                        (naive["last"],)):
                    naive["last"] = i
                    naive["seen"].add((p, o))
        except Exception as e:  # noqa: BLE001 - reported by the test
            error.append(e)

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    per = total // 50
    for c in range(50):
        kafka.produce("flow", ['{"type": "f", "n": %d}' % n
                               for n in range(c * per, (c + 1) * per)],
                      partition=c % 6)
    nd.wait_until(lambda: len(seen) >= total or error or not t.is_alive(),
                  180, interval=0.5, msg="the follower saw every row")
    stop.set()
    t.join(30)
    assert not error, error
    assert len(seen) == total and len(set(seen)) == total
    while True:     # the id follower catches up with what is there
        rows = db.query("SELECT id, partition, \"offset\" FROM audit_events"
                        " WHERE id > %s ORDER BY id", (naive["last"],))
        if not rows:
            break
        naive["last"] = rows[-1][0]
        naive["seen"].update((p, o) for _, p, o in rows)
    recorded = set(db.query("SELECT partition, \"offset\" FROM audit_events"))
    assert set(seen) == recorded and len(recorded) == total
    db.query("ANALYZE audit_events")
    plan = "\n".join(r[0] for r in db.query(
        "EXPLAIN SELECT * FROM audit_events WHERE (tx, id) > ('1'::xid8, 5)"
        " AND tx < pg_snapshot_xmin(pg_current_snapshot())"
        " ORDER BY tx, id LIMIT 1000"))
    # every time partition's (tx, id) index, merged: no sort, no scan
    assert "audit_events_p0_tail" in plan and "Sort  (" not in plan \
        and "Seq Scan on audit_events_p0" not in plan, plan
    print("tail: %d rows in %d pages, 0 missed; an id follower beside it"
          " missed %d" % (len(seen), pages[0],
                          total - len(naive["seen"])))
