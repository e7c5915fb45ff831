-- The mailer's claim and outcome write without per-row function calls
-- or index entries (issue 14 §2).  Profiled under the email benchmark, a
-- claim of 500 rows cost ~42 ms of backend CPU (76 us a row, now 13):
-- two calls per row of the SQL function email_suppression_reason (not
-- inlinable: it holds subqueries, so each call ran its own executor) and
-- a non-HOT update (status is indexed: six new index entries per row).
-- SQL functions the planner could not inline cost the outcome write too
-- (3, 5).  Every function keeps its results; only its cost changes.
--
-- 1. email_suppression_check: the same test as a set-returning SQL
--    function, which the planner inlines into the calling query
--    (LATERAL): the claim evaluates it once per row as part of its own
--    plan.  OFFSET 0 keeps it a subquery, computed once, rather than
--    pulled up and its expression copied into each use.
--    email_suppression_reason (POST, inbox) now reads it: one definition.
-- 2. A claimed email row keeps status PENDING; what marks it claimed is
--    lease_owner (with lease_until), neither indexed, so the claim is a
--    HOT update (fillfactor 50 since 003 leaves the room).  The API shows
--    a PENDING row with a lease_owner as PROCESSING, as it did when the
--    claim wrote PROCESSING; the sweeper requeues PENDING and PROCESSING
--    rows whose lease expired, and its "never acknowledged" recovery
--    leaves leased rows alone.  PROCESSING in the table now means: held
--    for a retry after a temporary failure (the outcome write), or
--    claimed by the webhook worker.

CREATE FUNCTION email_suppression_check(rcpt text, uid jsonb, cat text,
                                        self_id bigint DEFAULT NULL)
    RETURNS TABLE (reason text) LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        (SELECT s.reason FROM email_suppressions s
         WHERE s.address_key = email_suppression_key(rcpt)
           AND (self_id IS NULL OR s.notification_id IS DISTINCT FROM self_id)),
        CASE WHEN cat IS NOT NULL AND EXISTS (SELECT 1 FROM email_preferences p
                 WHERE p.user_id = uid #>> '{}' AND cat = ANY (p.opted_out))
             THEN 'preference' END)
    OFFSET 0
$$;

CREATE OR REPLACE FUNCTION email_suppression_reason(rcpt text, uid jsonb,
                                                    cat text,
                                                    self_id bigint DEFAULT NULL)
    RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT reason FROM email_suppression_check(rcpt, uid, cat, self_id)
$$;

COMMENT ON COLUMN email_notifications.lease_owner IS
    'the worker holding the row (with lease_until); a PENDING row with an '
    'owner was claimed by a mailer and is shown as PROCESSING';

-- 3. The rollup trigger's latency bucket (sql/015), once per SENT row of
--    every outcome write: declared STRICT with a CASE in its body, the
--    planner could not inline it, and each row paid a call of its own
--    executor (~5 us of the outcome write's ~45 us per row).  The same
--    function, NULL handled in the body: inlinable, same results.
CREATE OR REPLACE FUNCTION email_rollup_bucket(ms float8) RETURNS int
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN ms IS NULL THEN NULL::int WHEN ms < 1 THEN 0
        ELSE least(127, 1 + floor(4 * ln(ms) / ln(2))::int) END
$$;

-- 4. The suppression key (sql/014), in every claim's probe of
--    email_suppressions: STRICT with a CASE, likewise never inlined, so
--    each claimed row ran it through its own executor.  Same results
--    (NULL gives NULL), now inlined.
CREATE OR REPLACE FUNCTION email_suppression_key(addr text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN addr IS NULL THEN NULL::text
        WHEN strpos(addr, '@') = 0 THEN addr
        ELSE left(addr, length(addr) - strpos(reverse(addr), '@')) || '@'
             || lower(right(addr, strpos(reverse(addr), '@') - 1)) END
$$;

-- 5. The rollup's map merge (sql/015), called by every outcome write's
--    upsert for each of its rollup rows: as a SQL function (aggregates:
--    not inlinable) its body was parsed and planned again at each
--    statement; PL/pgSQL keeps the plan for the session.  Same body.
CREATE OR REPLACE FUNCTION email_rollup_merge(a jsonb, b jsonb) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_object_agg(k, s), '{}') FROM (
        SELECT k, sum(v::bigint) AS s FROM (
            SELECT * FROM jsonb_each_text(a) UNION ALL
            SELECT * FROM jsonb_each_text(b)) e(k, v)
        GROUP BY k) x);
END $$;

-- 6. The rollup of an outcome write (sql/015's email_rollup_on_update,
--    ~11 us of its ~45 us per row): each changed row was first expanded
--    to its four rollup keys and everything then grouped four times over.
--    Here rows are counted per (hour, category, template) first and the
--    few groups expanded after; rows whose new status counts nothing
--    (PENDING: marks, claims, leases, requeues) are left out before the
--    join.  The same counts, maps and upsert order.
CREATE OR REPLACE FUNCTION email_rollup_on_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    WITH d AS (
        SELECT email_rollup_hour(n.created_at) AS hour,
               n.category AS cat, n.template_name AS tpl,
               n.status = 'SENT' AND o.status <> 'SENT' AS is_sent,
               n.status = 'FAILED' AND o.status <> 'FAILED' AS is_failed,
               n.status = 'SUPPRESSED' AND o.status <> 'SUPPRESSED' AS is_supp,
               n.status = 'PROCESSING' AND n.attempts > o.attempts AS is_retry,
               n.sent_at, n.created_at, n.last_error
        FROM n JOIN o ON o.id = n.id
        WHERE n.status IN ('SENT', 'FAILED', 'SUPPRESSED', 'PROCESSING')
          AND (n.status IS DISTINCT FROM o.status OR n.attempts <> o.attempts)),
    g0 AS (
        SELECT hour, cat, tpl, count(*) FILTER (WHERE is_sent) AS sent,
               count(*) FILTER (WHERE is_failed) AS failed,
               count(*) FILTER (WHERE is_supp) AS suppressed,
               count(*) FILTER (WHERE is_retry) AS retried
        FROM d GROUP BY 1, 2, 3),
    g AS (
        SELECT hour, k.category AS c, k.template AS t, sum(sent) AS sent,
               sum(failed) AS failed, sum(suppressed) AS suppressed,
               sum(retried) AS retried
        FROM g0, email_rollup_keys(g0.cat, g0.tpl) k GROUP BY 1, 2, 3),
    lat AS (
        SELECT hour, c, t, jsonb_object_agg(b, n) AS j FROM (
            SELECT x.hour, k.category AS c, k.template AS t, x.b, sum(x.n) AS n
            FROM (SELECT hour, cat, tpl, email_rollup_bucket(extract(epoch
                         FROM sent_at - created_at)::float8 * 1000) AS b,
                         count(*) AS n
                  FROM d WHERE is_sent AND sent_at IS NOT NULL
                  GROUP BY 1, 2, 3, 4) x,
                 email_rollup_keys(x.cat, x.tpl) k
            GROUP BY 1, 2, 3, 4) y
        GROUP BY 1, 2, 3),
    fc AS (
        SELECT hour, c, t, jsonb_object_agg(code, n) AS j FROM (
            SELECT x.hour, k.category AS c, k.template AS t, x.code,
                   sum(x.n) AS n
            FROM (SELECT hour, cat, tpl, coalesce(substring(last_error FROM
                         '^([2-5][0-9][0-9])([ -]|$)'), 'other') AS code,
                         count(*) AS n
                  FROM d WHERE is_failed GROUP BY 1, 2, 3, 4) x,
                 email_rollup_keys(x.cat, x.tpl) k
            GROUP BY 1, 2, 3, 4) y
        GROUP BY 1, 2, 3)
    INSERT INTO email_delivery_rollup AS r (hour, category, template, sent,
                                            failed, suppressed, retried,
                                            latency, codes)
    SELECT g.hour, g.c, g.t, g.sent, g.failed, g.suppressed, g.retried,
           coalesce(lat.j, '{}'), coalesce(fc.j, '{}')
    FROM g LEFT JOIN lat USING (hour, c, t) LEFT JOIN fc USING (hour, c, t)
    WHERE g.sent + g.failed + g.suppressed + g.retried > 0
    ORDER BY 1, 2, 3
    ON CONFLICT (category, template, hour) DO UPDATE
        SET sent = r.sent + excluded.sent,
            failed = r.failed + excluded.failed,
            suppressed = r.suppressed + excluded.suppressed,
            retried = r.retried + excluded.retried,
            latency = CASE WHEN excluded.latency = '{}' THEN r.latency
                ELSE email_rollup_merge(r.latency, excluded.latency) END,
            codes = CASE WHEN excluded.codes = '{}' THEN r.codes
                ELSE email_rollup_merge(r.codes, excluded.codes) END;
    RETURN NULL;
END $$;
