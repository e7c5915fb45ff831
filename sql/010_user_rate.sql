-- email.user_rate: accepted notifications per userId per fixed window,
-- shared by every api process of every instance on this database.
--
-- One row per (user, window).  Windows are fixed and aligned to the
-- Unix epoch (a "20/hour" window runs from :00 to :00 UTC, a day's from
-- midnight UTC), so a user may get up to twice the limit across one
-- window boundary; what a window admits is exact.  The api group commit
-- takes units in the transaction that inserts the rows (api_store_rate.c):
-- a refused row is deleted again before the commit, a replayed
-- Idempotency-Key takes nothing, and the row lock taken here serialises
-- concurrent batches of one user.  The sweeper deletes ended windows.
CREATE TABLE user_rate (
    user_id    jsonb       NOT NULL,
    window_end timestamptz NOT NULL,
    used       integer     NOT NULL,
    granted    integer     NOT NULL,
    PRIMARY KEY (user_id, window_end)
);

-- The sweeper's "DELETE ... WHERE window_end < now()".
CREATE INDEX user_rate_window_end ON user_rate (window_end);

COMMENT ON TABLE user_rate IS
    'email.user_rate counters: notifications accepted per userId in the '
    'fixed window ending at window_end';
COMMENT ON COLUMN user_rate.granted IS
    'units the last batch that touched the row was granted (read back by '
    'the same statement)';
