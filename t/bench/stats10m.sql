-- t/bench/stats10m.sql: email_delivery_rollup as :rows notifications
-- over 90 days leave it: every hour x 4 categories ('' = none) x 5
-- templates ('' = none), about :rows / 43,200 notifications a row, with
-- 8 latency buckets and 3 failure codes per row (what the triggers of
-- sql/015 write for real traffic; a row per key and hour either way).
INSERT INTO email_delivery_rollup (hour, category, template, accepted,
    sent, failed, suppressed, retried, latency, codes)
SELECT h, c, t, a, s, f, a - s - f, (a * 0.05)::int, lat, codes
FROM generate_series(email_rollup_hour(now() - interval '90 days'),
                     now(), interval '1 hour') h,
     unnest(ARRAY['', 'billing', 'marketing', 'security']) c,
     unnest(ARRAY['', 'welcome', 'receipt', 'reset', 'digest']) t,
     -- (each LATERAL names an outer column: else it runs once for all rows)
     LATERAL (SELECT (:rows / 43200.0 + random() * 100 - 50 + 0 * length(c || t)
                      + 0 * extract(epoch FROM h))::int
              AS a) x,
     LATERAL (SELECT (a * 0.93)::int AS s, (a * 0.04)::int AS f) y,
     LATERAL (SELECT jsonb_object_agg(b, greatest(1, s / 8)) AS lat
              FROM generate_series(30 + (random() * 6)::int + 0 * a,
                                   37 + (random() * 6)::int) b) l,
     LATERAL (SELECT jsonb_build_object('550', f / 2, '421', f / 3,
                                        'other', f - f / 2 - f / 3)
                     AS codes) k;
ANALYZE email_delivery_rollup;
-- The '*' (any) rows, summed from those, as the triggers keep them.
WITH e AS (SELECT k.c, k.t, r.* FROM email_delivery_rollup r,
           LATERAL (VALUES (r.category, '*'), ('*', r.template), ('*', '*'))
           k(c, t)),
cnt AS (SELECT hour, c, t, sum(accepted) AS a, sum(sent) AS s,
               sum(failed) AS f, sum(suppressed) AS su, sum(retried) AS re
        FROM e GROUP BY 1, 2, 3),
lat AS (SELECT hour, c, t, jsonb_object_agg(k, v) AS j FROM (
            SELECT hour, c, t, k, sum(v::bigint) AS v
            FROM e, jsonb_each_text(e.latency) x(k, v) GROUP BY 1, 2, 3, 4) y
        GROUP BY 1, 2, 3),
fc AS (SELECT hour, c, t, jsonb_object_agg(k, v) AS j FROM (
            SELECT hour, c, t, k, sum(v::bigint) AS v
            FROM e, jsonb_each_text(e.codes) x(k, v) GROUP BY 1, 2, 3, 4) y
        GROUP BY 1, 2, 3)
INSERT INTO email_delivery_rollup (hour, category, template, accepted,
    sent, failed, suppressed, retried, latency, codes)
SELECT hour, c, t, a, s, f, su, re, lat.j, fc.j
FROM cnt JOIN lat USING (hour, c, t) JOIN fc USING (hour, c, t);
ANALYZE email_delivery_rollup;
