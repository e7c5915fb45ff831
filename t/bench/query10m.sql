-- t/bench/query10m.sql - the query10m figure's rows, generated in the server.
--   psql -v rows=10000000 -f query10m.sql DB   (DB migrated, audit_events empty)
--
-- Spread evenly over the daily partitions audit_partitions lists (the
-- first one, audit_events_p0, from the start of its last day), in
-- batches of 2,000 rows that share created_at and tx as the audit
-- role's transactions do; id = the row number, ascending with time.
-- Every index of audit_events is dropped first and built again after
-- the load (a sort per index instead of row-by-row insertion), from
-- the definitions the migrations left, so new indexes are measured too.
--
-- Shapes: orders ORD-%08d with 5 events each (rows/5 orders, their
-- events within 50 consecutive rows), customers CUS-%07d with ~10
-- orders each, one correlation id per order (5% none), topics orders
-- (60%), deliveries and payments (20% each), 6 event types (one rare:
-- payment.refunded, 0.1%), 5 source services (legacy-batch 2%, some
-- rows none), 12 Kafka partitions.
\set ON_ERROR_STOP 1
SET maintenance_work_mem = '512MB';
SET max_parallel_maintenance_workers = 1;

CREATE TEMP TABLE q10m_defs AS
    SELECT 'ALTER TABLE audit_events ADD CONSTRAINT ' || quote_ident(conname)
        || ' ' || pg_get_constraintdef(oid) AS def, conname AS name,
        true AS con
    FROM pg_constraint WHERE conrelid = 'audit_events'::regclass
        AND contype IN ('p', 'u')
    UNION ALL
    SELECT replace(pg_get_indexdef(i.indexrelid), ' ON ONLY ', ' ON '),
        c.relname, false
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid = 'audit_events'::regclass AND NOT EXISTS (
        SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid);

DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT * FROM q10m_defs LOOP
        IF r.con THEN
            EXECUTE 'ALTER TABLE audit_events DROP CONSTRAINT '
                || quote_ident(r.name);
        ELSE
            EXECUTE 'DROP INDEX ' || quote_ident(r.name);
        END IF;
    END LOOP;
END
$$;

CREATE TEMP TABLE q10m_range AS
    SELECT (SELECT min(lo) FROM audit_partitions WHERE lo > '-infinity')
        - interval '1 day' AS lo,
        (SELECT max(hi) FROM audit_partitions) AS hi,
        pg_current_xact_id()::text::bigint AS xid;

INSERT INTO audit_events (id, customer_id, order_id, event, created_at,
    source_topic, event_type, correlation_id, source_service, partition,
    "offset", key, value, kafka_ts, kafka_ts_type, tx)
SELECT i, cus, ord, m::jsonb, ts, topic, typ,
    CASE WHEN i % 20 <> 7 THEN corr END, src, (o % 12)::int, i,
    convert_to(ord, 'UTF8'), convert_to(m, 'UTF8'),
    ts - interval '40 ms', 'create', tx
FROM (SELECT i, o, j, ts, tx, ord, cus, corr, typ, src,
        CASE WHEN j <= 2 THEN 'orders' WHEN j = 3 THEN 'deliveries'
            ELSE 'payments' END AS topic,
        format('{"type":"%s","correlation_id":"%s","source":"%s",'
            '"payload":{"order_id":"%s","customer_id":"%s","amount":%s}}',
            typ, corr, src, ord, cus, ((o % 9000) / 100.0)::numeric(8, 2)) AS m
    FROM (SELECT i, o, j, ts, tx,
            format('ORD-%s', lpad(o::text, 8, '0')) AS ord,
            format('CUS-%s', lpad(((o::bigint * 7919) % greatest(:rows / 50, 1))
                ::text, 7, '0')) AS cus,
            format('corr-%s', lpad(o::text, 8, '0')) AS corr,
            CASE WHEN j = 4 AND i % 1000 = 0 THEN 'payment.refunded'
                ELSE (ARRAY['order.created', 'order.accepted',
                'order.picked_up', 'order.delivered',
                'payment.captured'])[j + 1] END AS typ,
            CASE WHEN i % 50 = 3 THEN 'legacy-batch'
                WHEN i % 97 = 5 THEN NULL
                ELSE (ARRAY['checkout', 'restaurant', 'dispatch',
                'dispatch', 'payment-svc'])[j + 1] END AS src
        FROM (SELECT i, ((i - 1) / 50) * 10 + (i - 1) % 10 AS o,
                ((i - 1) % 50) / 10 AS j,
                r.lo + (r.hi - r.lo) * (((i - 1) / 2000) * 2000)
                    / :rows AS ts,
                (2 + ((i - 1) / 2000) * (r.xid - 10)
                    / (:rows / 2000 + 1))::text::xid8 AS tx
            FROM q10m_range r, generate_series(1, :rows) i) a) b) c;

SELECT setval('audit_events_id_seq', :rows);

DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT * FROM q10m_defs ORDER BY con DESC LOOP
        EXECUTE r.def;
    END LOOP;
END
$$;

-- What the audit role would have counted, batch by batch.
INSERT INTO audit_topic_stats (source_topic, partition, count, last_offset,
    last_seen, last_kafka_ts)
    SELECT source_topic, partition, count(*), max("offset"),
        max(created_at), max(kafka_ts)
    FROM audit_events WHERE partition IS NOT NULL GROUP BY 1, 2;

VACUUM (ANALYZE, FREEZE) audit_events;
