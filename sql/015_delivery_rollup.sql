-- Delivery analytics (issue 16): an hourly rollup of outcomes, kept up to
-- date by statement-level triggers on email_notifications, so that GET
-- /notification_service/api/stats reads a few rows per hour and never
-- scans the notifications.
--
-- A row counts the notifications CREATED in its hour (with the category
-- and template_name they were posted with, '' when absent): their
-- outcomes land in the hour they were accepted, so a bucket's success
-- rate compares like with like.  Counters are events:
--   accepted    rows inserted (a POST's group INSERT)
--   suppressed  rows stored SUPPRESSED, or turned SUPPRESSED at claim
--   sent        rows turned SENT (the relay's 250)
--   failed      rows turned FAILED (5xx, or email.retry.max_attempts spent)
--   retried     attempts answered with a temporary failure and retried
--               (the row stays PROCESSING with a higher attempts)
-- A row requeued by the sweeper or by hand and then sent counts once as
-- failed and once as sent.
--
-- latency: created_at -> sent_at (the 250) of sent rows, as a sparse
-- histogram {"bucket": count} over fixed log-spaced buckets of
-- milliseconds, four per octave: bucket 0 holds < 1 ms, bucket i >= 1
-- holds [2^((i-1)/4), 2^(i/4)) ms, bucket 127 everything from 2^31.5 ms
-- (36 days) on.  A percentile is reported as its bucket's geometric
-- middle, within a factor 2^(1/8) (9 %) of any value in the bucket.
-- Sparse, because a range query sums only the buckets that occur.
--
-- Each notification counts in four rows of its hour: (category,
-- template), (category, '*'), ('*', template) and ('*', '*'), '*' being
-- "any" (neither a valid category nor a valid template name).  So every
-- query, filtered or not, reads one row per hour: 720 for 30 days.
--
-- codes: failed rows by the SMTP reply code their last_error starts with
-- ("550"), "other" when it has none (a network error): {"code": count}.

CREATE TABLE email_delivery_rollup (
    hour        timestamptz NOT NULL,   -- date_bin('1 hour', created_at, 2000-01-01Z)
    category    text NOT NULL,          -- '' = transactional, '*' = any
    template    text NOT NULL,          -- '' = no template, '*' = any
    accepted    bigint NOT NULL DEFAULT 0,
    sent        bigint NOT NULL DEFAULT 0,
    failed      bigint NOT NULL DEFAULT 0,
    suppressed  bigint NOT NULL DEFAULT 0,
    retried     bigint NOT NULL DEFAULT 0,
    latency     jsonb NOT NULL DEFAULT '{}',
    codes       jsonb NOT NULL DEFAULT '{}',
    -- a query's rows: one key, a range of hours
    PRIMARY KEY (category, template, hour)
);

-- The four keys a notification counts under (see above).
CREATE FUNCTION email_rollup_keys(cat text, tpl text,
                                  OUT category text, OUT template text)
    RETURNS SETOF record LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    VALUES (coalesce(cat, ''), coalesce(tpl, '')), (coalesce(cat, ''), '*'),
           ('*', coalesce(tpl, '')), ('*', '*')
$$;

-- The hour of a timestamp, whatever the session's TimeZone.
CREATE FUNCTION email_rollup_hour(t timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT date_bin('1 hour', t, timestamptz '2000-01-01 00:00:00+00')
$$;

-- The latency histogram's bucket of ms milliseconds (see above).
CREATE FUNCTION email_rollup_bucket(ms float8) RETURNS int
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN ms < 1 THEN 0
        ELSE least(127, 1 + floor(4 * ln(ms) / ln(2))::int) END
$$;

-- The milliseconds a bucket stands for: its geometric middle.
CREATE FUNCTION email_rollup_bucket_ms(b int) RETURNS float8
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN b = 0 THEN 0.5 ELSE round(power(2, (b - 0.5) / 4)::numeric, 3)::float8 END
$$;

-- Two sparse {"key": count} maps added key by key.
CREATE FUNCTION email_rollup_merge(a jsonb, b jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(k, s), '{}') FROM (
        SELECT k, sum(v::bigint) AS s FROM (
            SELECT * FROM jsonb_each_text(a) UNION ALL
            SELECT * FROM jsonb_each_text(b)) e(k, v)
        GROUP BY k) x
$$;

-- One upsert per statement; rows in key order, so two statements lock
-- the rollup rows they share in the same order (no deadlock).
CREATE FUNCTION email_rollup_on_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO email_delivery_rollup AS r (hour, category, template,
                                            accepted, suppressed)
    SELECT email_rollup_hour(n.created_at), k.category, k.template,
           count(*), count(*) FILTER (WHERE n.status = 'SUPPRESSED')
    FROM n, email_rollup_keys(n.category, n.template_name) k
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (category, template, hour) DO UPDATE
        SET accepted = r.accepted + excluded.accepted,
            suppressed = r.suppressed + excluded.suppressed;
    RETURN NULL;
END $$;

-- The outcomes an UPDATE statement wrote (the mailer's claim and batched
-- outcome write); statements that change neither status nor attempts
-- (queued_at, leases) find nothing and write nothing.
CREATE FUNCTION email_rollup_on_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    WITH d AS (
        SELECT email_rollup_hour(n.created_at) AS hour,
               k.category AS c, k.template AS t,
               n.status = 'SENT' AND o.status <> 'SENT' AS is_sent,
               n.status = 'FAILED' AND o.status <> 'FAILED' AS is_failed,
               n.status = 'SUPPRESSED' AND o.status <> 'SUPPRESSED' AS is_supp,
               n.status = 'PROCESSING' AND n.attempts > o.attempts AS is_retry,
               n.sent_at, n.created_at, n.last_error
        FROM n JOIN o ON o.id = n.id,
             email_rollup_keys(n.category, n.template_name) k
        WHERE n.status IS DISTINCT FROM o.status OR n.attempts <> o.attempts),
    g AS (
        SELECT hour, c, t, count(*) FILTER (WHERE is_sent) AS sent,
               count(*) FILTER (WHERE is_failed) AS failed,
               count(*) FILTER (WHERE is_supp) AS suppressed,
               count(*) FILTER (WHERE is_retry) AS retried
        FROM d GROUP BY 1, 2, 3),
    lat AS (
        SELECT hour, c, t, jsonb_object_agg(b, k) AS j FROM (
            SELECT hour, c, t, email_rollup_bucket(extract(epoch FROM
                   sent_at - created_at)::float8 * 1000) AS b, count(*) AS k
            FROM d WHERE is_sent AND sent_at IS NOT NULL  -- (by hand: no time)
            GROUP BY 1, 2, 3, 4) x
        GROUP BY 1, 2, 3),
    fc AS (
        SELECT hour, c, t, jsonb_object_agg(code, k) AS j FROM (
            SELECT hour, c, t, coalesce(substring(last_error FROM
                   '^([2-5][0-9][0-9])([ -]|$)'), 'other') AS code, count(*) AS k
            FROM d WHERE is_failed GROUP BY 1, 2, 3, 4) x
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

CREATE TRIGGER email_rollup_insert AFTER INSERT ON email_notifications
    REFERENCING NEW TABLE AS n
    FOR EACH STATEMENT EXECUTE FUNCTION email_rollup_on_insert();
CREATE TRIGGER email_rollup_update AFTER UPDATE ON email_notifications
    REFERENCING NEW TABLE AS n OLD TABLE AS o
    FOR EACH STATEMENT EXECUTE FUNCTION email_rollup_on_update();

-- What was there before the triggers, counted once from the table.
INSERT INTO email_delivery_rollup (hour, category, template, accepted, sent,
                                   failed, suppressed, latency)
SELECT email_rollup_hour(e.created_at), k.category, k.template, count(*),
       count(*) FILTER (WHERE e.status = 'SENT'),
       count(*) FILTER (WHERE e.status = 'FAILED'),
       count(*) FILTER (WHERE e.status = 'SUPPRESSED'), '{}'
FROM email_notifications e, email_rollup_keys(e.category, e.template_name) k
GROUP BY 1, 2, 3;
