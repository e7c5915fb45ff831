-- A tail that never misses a row (GET /audit/tail).
--
-- id and created_at are taken when a row is inserted, but rows become
-- visible when their transaction commits: with two writers a batch with
-- lower ids can commit after one with higher ids, and a follower paging
-- by id (or by created_at) steps over it for good.
--
-- Each row records the transaction that wrote it (tx).  The tail pages
-- in (tx, id) order and returns only rows whose tx is below the xmin of
-- its snapshot: every transaction below xmin has ended, and every
-- transaction still running or yet to start has an xid >= xmin, so no
-- row can later appear behind the cursor.  A long writing transaction
-- only delays the tail, it cannot make it skip.
--
-- Rows already here were all committed: they read tx = 1 (a constant
-- default is stored in the catalog, so no rewrite) and come first, in id
-- order; new rows get their transaction's id.
ALTER TABLE audit_events ADD COLUMN tx xid8 NOT NULL DEFAULT '1';
ALTER TABLE audit_events ALTER COLUMN tx SET DEFAULT pg_current_xact_id();
CREATE INDEX audit_events_tail ON audit_events (tx, id);
