-- /audit/topics without scanning audit_events: one row per topic and
-- partition, moved by the audit role in the same transaction as the rows
-- it counts (the batch's COPY, or the replay path's INSERT: only rows
-- really added count).  Manual rows (no partition) are no topic.
--
-- Every instance of a group must run a binary that knows this table: an
-- older one would add rows without counting them.
CREATE TABLE audit_topic_stats (
    source_topic    varchar(255) NOT NULL,
    partition       integer NOT NULL,
    count           bigint NOT NULL,
    last_offset     bigint NOT NULL,
    last_seen       timestamptz NOT NULL,  -- created_at of the newest row
    last_kafka_ts   timestamptz,
    PRIMARY KEY (source_topic, partition)
);

-- Counted once here, with writers held off so no row is missed or
-- counted twice (the rows and offsets themselves are not touched).
LOCK TABLE audit_events IN SHARE MODE;
INSERT INTO audit_topic_stats
    SELECT source_topic, partition, count(*), max("offset"),
           max(created_at), max(kafka_ts)
    FROM audit_events WHERE partition IS NOT NULL
    GROUP BY source_topic, partition;

-- Every documented filter of /audit/events has an index ending in id, the
-- newest-first order: source_service had none (a miss scanned the whole
-- table) and topic had only the unique (topic, partition, offset).
CREATE INDEX audit_events_source ON audit_events (source_service, id);
CREATE INDEX audit_events_topic ON audit_events (source_topic, id);
