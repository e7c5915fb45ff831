-- audit_events partitioned by time (created_at, the recording time), so
-- that retention drops whole partitions and never runs a DELETE.
--
-- The table as it was becomes the first partition, every row and id in
-- place (no copy): it covers everything before the end of today (UTC),
-- and the audit role creates the next partitions ahead of time
-- (audit.partition = hour|day|week|month) with audit_partitions_ensure().
-- kafka_offsets and audit_topic_stats are not touched.
--
-- A unique constraint on a partitioned table must include created_at,
-- and two copies of one message are recorded at different times: the
-- old UNIQUE (source_topic, partition, "offset") could no longer see a
-- replay.  The guard is now audit_topic_stats.last_offset, the highest
-- offset ever recorded per topic-partition, which no partition drop
-- lowers: every batch locks its partitions' rows there and only rows
-- above it go in (audit_batch.c).  On a large table, run this migration
-- in a quiet moment: attaching builds the (id, created_at) key and the
-- (source_topic, partition, "offset") index on the old rows.

ALTER TABLE audit_events RENAME TO audit_events_p0;
ALTER TABLE audit_events_p0 DROP CONSTRAINT audit_events_pkey;
ALTER TABLE audit_events_p0
    DROP CONSTRAINT audit_events_notification_id_key;
ALTER TABLE audit_events_p0
    DROP CONSTRAINT audit_events_source_topic_partition_offset_key;
ALTER INDEX audit_events_order RENAME TO audit_events_p0_order;
ALTER INDEX audit_events_customer RENAME TO audit_events_p0_customer;
ALTER INDEX audit_events_created RENAME TO audit_events_p0_created;
ALTER INDEX audit_events_type RENAME TO audit_events_p0_type;
ALTER INDEX audit_events_correlation RENAME TO audit_events_p0_correlation;
ALTER INDEX audit_events_source RENAME TO audit_events_p0_source;
ALTER INDEX audit_events_topic RENAME TO audit_events_p0_topic;
ALTER INDEX audit_events_tail RENAME TO audit_events_p0_tail;

CREATE TABLE audit_events (LIKE audit_events_p0 INCLUDING DEFAULTS
    INCLUDING CONSTRAINTS) PARTITION BY RANGE (created_at);
ALTER SEQUENCE audit_events_id_seq OWNED BY audit_events.id;
ALTER TABLE audit_events ADD PRIMARY KEY (id, created_at);
CREATE INDEX audit_events_notification ON audit_events (notification_id);
CREATE INDEX audit_events_kafka
    ON audit_events (source_topic, partition, "offset");
CREATE INDEX audit_events_order ON audit_events (order_id, id);
CREATE INDEX audit_events_customer ON audit_events (customer_id, id);
CREATE INDEX audit_events_created ON audit_events (created_at, id);
CREATE INDEX audit_events_type ON audit_events (event_type, id);
CREATE INDEX audit_events_correlation ON audit_events (correlation_id, id)
    WHERE correlation_id IS NOT NULL;
CREATE INDEX audit_events_source ON audit_events (source_service, id);
CREATE INDEX audit_events_topic ON audit_events (source_topic, id);
CREATE INDEX audit_events_tail ON audit_events (tx, id);

-- The highest offset per topic-partition that retention dropped: a
-- replay of a dropped row is a replay too, though no copy is left.
ALTER TABLE audit_topic_stats
    ADD COLUMN dropped_through bigint NOT NULL DEFAULT -1;

-- The partitions we made, for retention (no parsing of catalog bounds).
CREATE TABLE audit_partitions (
    name    text PRIMARY KEY,
    lo      timestamptz NOT NULL,
    hi      timestamptz NOT NULL
);

DO $$
DECLARE
    b timestamptz := date_trunc('day', now() AT TIME ZONE 'UTC')
        AT TIME ZONE 'UTC' + interval '1 day';
BEGIN
    EXECUTE format('ALTER TABLE audit_events ATTACH PARTITION audit_events_p0'
        ' FOR VALUES FROM (MINVALUE) TO (%L)', b);
    INSERT INTO audit_partitions VALUES ('audit_events_p0', '-infinity', b);
END
$$;

-- Rows for a time no partition covers (the role was not there to make
-- it) land here rather than fail; retention never drops it.
CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;

-- Creates the partitions from now to ahead units later (unit: hour, day,
-- week or month, aligned in UTC); returns how many it made.  Several
-- instances may call it at once: one does the work.
CREATE FUNCTION audit_partitions_ensure(unit text, ahead integer)
    RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    step interval := ('1 ' || unit)::interval;
    lo timestamptz;
    hi timestamptz;
    n integer := 0;
    name text;
BEGIN
    IF NOT pg_try_advisory_xact_lock(72710013) THEN
        RETURN 0;
    END IF;
    -- A new partition locks the table: never queue writers behind a long
    -- reader for it (the caller tries again later; we work ahead).
    SET LOCAL lock_timeout = '2s';
    SELECT max(p.hi) INTO lo FROM audit_partitions p;
    lo := greatest(lo, date_trunc(unit, now() AT TIME ZONE 'UTC')
        AT TIME ZONE 'UTC');
    WHILE lo < now() + ahead * step LOOP
        hi := date_trunc(unit, lo AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
            + step;
        name := 'audit_events_' || to_char(lo AT TIME ZONE 'UTC',
            'YYYYMMDD"t"HH24MI');
        EXECUTE format('CREATE TABLE %I PARTITION OF audit_events'
            ' FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
        INSERT INTO audit_partitions VALUES (name, lo, hi);
        n := n + 1;
        lo := hi;
    END LOOP;
    RETURN n;
END
$$;

-- Drops the partitions that ended more than keep ago, and takes their
-- rows out of audit_topic_stats' counts (last_offset stays, and
-- dropped_through rises: the replay guard).  Waits at most 2 s for a lock (a running export): the caller
-- tries again later.  Returns how many it dropped.
CREATE FUNCTION audit_partitions_drop(keep interval)
    RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(72710013) THEN
        RETURN 0;
    END IF;
    SET LOCAL lock_timeout = '2s';
    FOR r IN SELECT p.name FROM audit_partitions p
            WHERE p.hi <= now() - keep ORDER BY p.hi LOOP
        EXECUTE format('UPDATE audit_topic_stats s SET count = s.count - d.n,'
            ' dropped_through = greatest(s.dropped_through, d.o)'
            ' FROM (SELECT source_topic, partition, count(*) AS n,'
            ' max("offset") AS o FROM %I'
            ' WHERE partition IS NOT NULL GROUP BY 1, 2) d'
            ' WHERE s.source_topic = d.source_topic'
            ' AND s.partition = d.partition', r.name);
        EXECUTE format('DROP TABLE %I', r.name);
        DELETE FROM audit_partitions WHERE name = r.name;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

SELECT audit_partitions_ensure('day', 2);
