-- /audit/events with since/until at scale (issue 13 §2).
--
-- The filters answer newest first by id.  A time range is not an id
-- range: the btree indexes give rows in id order but cannot skip the
-- rows recorded after `until` (at 10M rows in daily partitions a past
-- hour scanned half a partition, 45 ms), and the btree (created_at, id)
-- gives the range but not its order (42k rows for an hour, sorted: 19
-- ms).  A GiST index on (created_at, id) does both: the API orders a
-- range by the distance of id to 2^53 (the same order as id DESC while
-- ids stay below it; btree_gist's distances are float8, exact up to
-- there) and the index walks the range nearest first (0.06 ms).  It
-- replaces the btree (created_at, id), so ingest maintains as many
-- indexes as before; plain ranges (the NDJSON export) use it too.
--
-- btree_gist ships with PostgreSQL (contrib) and is a trusted
-- extension: the database owner may create it.
CREATE EXTENSION IF NOT EXISTS btree_gist;

DROP INDEX audit_events_created;
CREATE INDEX audit_events_window ON audit_events USING gist (created_at, id);
