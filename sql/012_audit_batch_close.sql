-- The end of an audit batch in one call: the replay guard, the offsets
-- and the topic counts (what audit_offsets.c ran as three statements).
--
-- Why a function: the audit role sends it in the same message as the
-- COMMIT (and, with more messages waiting, as the next batch's BEGIN and
-- COPY), so PostgreSQL waits for the client once per batch instead of
-- five times, and its statements are planned once per session instead
-- of once per batch (each plan of the guard opened every partition of
-- audit_events and its indexes).  An overlap with what is recorded
-- raises unique_violation, which skips the COMMIT that follows and sends
-- the batch down the replay path, as the unique key did before 007.
--
-- a_first: each partition's first offset in the batch; a_last: its last;
-- a_count: rows the batch adds; a_kts: newest Kafka timestamp (ms, -1
-- for none).  Arrays in topic, partition order are not needed: the
-- statements sort, so concurrent writers never deadlock.
CREATE FUNCTION audit_batch_close(a_group text, a_topic text[],
    a_part integer[], a_first bigint[], a_last bigint[], a_count bigint[],
    a_kts bigint[])
    RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    overlap integer;
BEGIN
    -- A partition seen for the first time gets its row from what the
    -- table already holds (the count runs for those only), but for this
    -- batch's own rows, already in by COPY: counted, they made its first
    -- batch overlap itself, and every partition's first batch went down
    -- the replay path (the guard ran after the COPY since 007).
    IF EXISTS (SELECT 1 FROM unnest(a_topic, a_part) AS u(t, p)
            WHERE NOT EXISTS (SELECT 1 FROM audit_topic_stats s
            WHERE s.source_topic = u.t AND s.partition = u.p)) THEN
        INSERT INTO audit_topic_stats
            SELECT u.t, u.p, h.n, coalesce(h.o, -1), now(), NULL
            FROM unnest(a_topic, a_part) AS u(t, p),
            LATERAL (SELECT count(*) AS n, max(e."offset") AS o
                FROM audit_events e WHERE e.source_topic = u.t
                AND e.partition = u.p AND e.tx <> pg_current_xact_id()) h
            WHERE NOT EXISTS (SELECT 1 FROM audit_topic_stats s
                WHERE s.source_topic = u.t AND s.partition = u.p)
            ORDER BY u.t, u.p ON CONFLICT DO NOTHING;
    END IF;
    -- Lock in topic, partition order; count the partitions whose batch
    -- starts at or below what is recorded.
    WITH l AS (SELECT s.last_offset, u.f FROM audit_topic_stats s
            JOIN unnest(a_topic, a_part, a_first) AS u(t, p, f)
            ON s.source_topic = u.t AND s.partition = u.p
            ORDER BY s.source_topic, s.partition FOR UPDATE OF s)
        SELECT count(*) INTO overlap FROM l WHERE l.last_offset >= l.f;
    IF overlap > 0 THEN
        RAISE unique_violation
            USING MESSAGE = format('%s partitions already recorded', overlap);
    END IF;
    WITH u AS (SELECT * FROM unnest(a_topic, a_part, a_last, a_count, a_kts)
            AS u(t, p, o, n, k)),
        off AS (INSERT INTO kafka_offsets (group_id, topic, partition,
            "offset") SELECT a_group, t, p, o FROM u ORDER BY t, p
            ON CONFLICT (group_id, topic, partition) DO UPDATE
            SET "offset" = GREATEST(kafka_offsets."offset",
                EXCLUDED."offset"), updated_at = now())
    INSERT INTO audit_topic_stats AS s
        SELECT t, p, n, o, now(), CASE WHEN k >= 0 THEN
            timestamptz 'epoch' + k * interval '1 millisecond' END
        FROM u WHERE n > 0 ORDER BY t, p
        ON CONFLICT (source_topic, partition) DO UPDATE
        SET count = s.count + EXCLUDED.count,
            last_offset = GREATEST(s.last_offset, EXCLUDED.last_offset),
            last_seen = GREATEST(s.last_seen, EXCLUDED.last_seen),
            last_kafka_ts = GREATEST(s.last_kafka_ts, EXCLUDED.last_kafka_ts);
END
$$;
