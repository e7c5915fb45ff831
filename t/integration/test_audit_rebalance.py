"""Issue 13 point 4: a topic that appears does not stall the others.

With the eager protocol every new topic revoked every partition and a
busy topic's recording stopped for a whole rebalance (5.6 s); the audit
role now uses cooperative-sticky unless kafka.properties says otherwise.
"""
import threading
import time

from kafka import KafkaProducer

import nd

AUDIT = {"enabled": True, "metadata_refresh": 500, "batch_linger": 20}


class Busy(threading.Thread):
    """Sends one message to topic every interval seconds until stopped."""

    def __init__(self, bootstrap, topic, interval=0.02):
        super().__init__(daemon=True)
        self.p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
        self.topic, self.interval = topic, interval
        self.stop = threading.Event()
        self.sent, self.error = 0, None

    def run(self):
        try:
            while not self.stop.is_set():
                self.p.send(self.topic, b'{"type": "busy", "n": %d}'
                            % self.sent, partition=self.sent % 2)
                self.sent += 1
                time.sleep(self.interval)   # pacing, not waiting
            self.p.flush(10)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            self.p.close(5)


def conf_for(db, smtp, kafka, **props):
    conf = nd.merge(nd.base_conf(db.conninfo, kafka.bootstrap, smtp.url,
                                 nd.free_port()), {"audit": AUDIT})
    for k, v in props.items():
        conf["kafka"]["properties"].append("%s=%s" % (k, v))
    return conf


def count(db, topic):
    return db.scalar("SELECT count(*) FROM audit_events"
                     " WHERE source_topic = %s", (topic,))


def test_new_topics_do_not_pause_a_busy_one(db, smtp, kafka_factory,
                                             notifyd):
    kafka = kafka_factory(topics=[("busy", 2)])
    d = notifyd(conf_for(db, smtp, kafka))
    busy = Busy(kafka.bootstrap, "busy")
    busy.start()
    try:
        # 60 s: the first group join (see test_audit.py), and below a
        # rebalance per new topic; only the busy topic's gaps are timed.
        nd.wait_until(lambda: count(db, "busy") >= 20, 60, msg="busy flows")
        start = db.scalar("SELECT now()")
        seen = {}
        for i in range(3):
            t0 = time.monotonic()
            kafka.produce("fresh-%d" % i, ['{"type": "fresh"}'])
            nd.wait_until(lambda: count(db, "fresh-%d" % i) == 1, 60,
                          msg="fresh-%d recorded" % i)
            seen["fresh-%d" % i] = time.monotonic() - t0
        time.sleep(1)   # let the last rebalance settle under load
    finally:
        busy.stop.set()
        busy.join(20)
    assert busy.error is None, busy.error
    nd.wait_until(lambda: count(db, "busy") == busy.sent, 60,
                  msg="every busy message recorded")
    # The longest any busy message waited between its Kafka timestamp and
    # the start of its transaction, and the longest gap between two
    # recordings, while the three topics appeared.
    late, gap = db.query(
        "SELECT max(created_at - kafka_ts),"
        " max(created_at - prev) FROM (SELECT created_at, kafka_ts,"
        "  lag(created_at) OVER (ORDER BY created_at) AS prev"
        "  FROM audit_events WHERE source_topic = 'busy'"
        "  AND kafka_ts >= %s) x", (start,))[0]
    print("new topic recorded after %s s; busy: worst latency %s,"
          " worst gap %s" % (seen, late, gap))
    assert late.total_seconds() < 1.0, (late, seen)
    assert gap.total_seconds() < 1.0, (gap, seen)
    # Each new topic took a rebalance; the busy topic's partitions were
    # kept through all of them.
    assert d.log().count("assigned busy [") == 2, d.log()


def test_eager_still_possible(db, smtp, kafka_factory, notifyd):
    """kafka.properties still chooses: the eager protocol is used when
    asked for (its one full revocation is in the log)."""
    kafka = kafka_factory(topics=[("e1", 1)])
    d = notifyd(conf_for(db, smtp, kafka, **{
        "partition.assignment.strategy": "range,roundrobin"}))
    kafka.produce("e1", ['{"n": 1}'])
    nd.wait_until(lambda: count(db, "e1") == 1, 60, msg="e1 recorded")
    kafka.produce("e2", ['{"n": 2}'])
    nd.wait_until(lambda: count(db, "e2") == 1, 60, msg="e2 recorded")
    d.wait_log(r"revoked [1-9]\d* partitions", 5)
