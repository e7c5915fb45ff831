/*
 * api_stats.c - GET /notification_service/api/stats: delivery counts,
 * success rate, latency percentiles and top failure codes per hour or
 * day (issue 16).
 *
 * Owns the parameters' checks and the one query.  Reads only the hourly
 * rollup that triggers keep (sql/015_delivery_rollup.sql), never the
 * notifications: the cost is a function of the range, not of the volume.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api_db.h"
#include "api_stats.h"
#include "isotime.h"
#include "suppress.h"
#include "template.h"

/* The longest answer: 10,000 buckets (417 days by hour, 27 years by day). */
#define API_STATS_MAX_BUCKETS	10000
#define API_STATS_TOP_CODES	"5"

/* The epoch seconds of isotime_parse's normalized form. */
static long long
api_stats_epoch(const char *norm)
{
	struct tm tm;
	int y, mo, d, h, mi, s, us, zh, zm;
	char sign;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(norm, "%d-%d-%d %d:%d:%d.%d%c%d:%d", &y, &mo, &d, &h, &mi,
	    &s, &us, &sign, &zh, &zm) != 10)
		return 0;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return (long long)timegm(&tm) - (sign == '-' ? -1 : 1) *
	    (zh * 3600LL + zm * 60LL);
}

/* Required timestamp parameter key into out; -1 after a 400 naming it. */
static int
api_stats_time(struct http_req *r, struct http_resp *rs, const char *key,
    char *out, size_t len)
{
	const char *v = http_query(r, key);

	if (v == NULL || isotime_parse(v, out, len) == -1) {
		http_error(rs, 400, "must be an RFC 3339 timestamp, e.g. "
		    "2025-04-05T12:00:00Z", key);
		return -1;
	}
	return 0;
}

/* The bucket's width in seconds (hour by default); 0 after a 400. */
static long long
api_stats_step(struct http_req *r, struct http_resp *rs)
{
	const char *b = http_query(r, "bucket");

	if (b == NULL || strcmp(b, "hour") == 0)
		return 3600;
	if (strcmp(b, "day") == 0)
		return 86400;
	http_error(rs, 400, "must be hour or day", "bucket");
	return 0;
}

/* The optional category and template filters; -1 after a 400. */
static int
api_stats_filters(struct http_req *r, struct http_resp *rs, const char **p)
{
	p[0] = http_query(r, "category");
	p[1] = http_query(r, "template");
	if (p[0] != NULL && !suppress_category_valid(p[0])) {
		http_error(rs, 400, "category must be 1 to 64 of a-z 0-9 _ . -",
		    "category");
		return -1;
	}
	if (p[1] != NULL && !template_name_valid(p[1])) {
		http_error(rs, 400, "not a valid template name", "template");
		return -1;
	}
	return 0;
}

/* from <= to, and no more buckets than the limit; -1 after a 400. */
static int
api_stats_range(struct http_resp *rs, const char *from, const char *to,
    long long step)
{
	long long f = api_stats_epoch(from), t = api_stats_epoch(to);

	if (f > t) {
		http_error(rs, 400, "from is after to", "from");
		return -1;
	}
	f -= ((f % step) + step) % step;
	if ((t - f + step - 1) / step > API_STATS_MAX_BUCKETS) {
		http_error(rs, 400, "the range holds more than 10000 buckets",
		    "to");
		return -1;
	}
	return 0;
}

/*
 * $1 from, $2 to (exclusive), $3 bucket width in seconds, $4 category,
 * $5 template, $6 how many failure codes.  Every bucket of the range is
 * listed, the empty ones with zeros.  The rollup's rows are summed per
 * bucket; the latency histograms and failure codes entry by entry.
 */
static const char api_stats_sql[] =
    "WITH s AS (SELECT $3::int * interval '1 second' AS w),"
    " b AS (SELECT g AS start FROM s, generate_series(date_bin(s.w,"
    "   $1::timestamptz, timestamptz '2000-01-01Z'), $2::timestamptz, s.w) g"
    "   WHERE g < $2::timestamptz),"
    " r AS (SELECT date_bin(s.w, x.hour, timestamptz '2000-01-01Z') AS start,"
    "   x.* FROM s, email_delivery_rollup x"
    "   WHERE x.hour >= date_bin(s.w, $1::timestamptz,"
    "   timestamptz '2000-01-01Z') AND x.hour < $2::timestamptz"
    "   AND x.category = coalesce($4::text, '*')"
    "   AND x.template = coalesce($5::text, '*')),"
    " c AS (SELECT start, sum(accepted) AS accepted, sum(sent) AS sent,"
    "   sum(failed) AS failed, sum(suppressed) AS suppressed,"
    "   sum(retried) AS retried FROM r GROUP BY start),"
    " h AS (SELECT start, k::int AS k, sum(v::bigint) AS v"
    "   FROM r, jsonb_each_text(r.latency) e(k, v) GROUP BY 1, 2),"
    " hc AS (SELECT start, k, sum(v) OVER (PARTITION BY start ORDER BY k)"
    "   AS cum, sum(v) OVER (PARTITION BY start) AS tot FROM h),"
    " p AS (SELECT start, min(k) FILTER (WHERE cum >= 0.5 * tot) AS p50,"
    "   min(k) FILTER (WHERE cum >= 0.99 * tot) AS p99 FROM hc GROUP BY 1),"
    " f AS (SELECT start, k, sum(v::bigint) AS v, row_number() OVER"
    "   (PARTITION BY start ORDER BY sum(v::bigint) DESC, k) AS rn"
    "   FROM r, jsonb_each_text(r.codes) e(k, v) GROUP BY 1, 2),"
    " ft AS (SELECT start, json_agg(json_build_object('code', CASE WHEN"
    "   k ~ '^[0-9]+$' THEN to_json(k::int) ELSE to_json(k) END, 'count', v)"
    "   ORDER BY rn) AS top FROM f WHERE rn <= $6::int GROUP BY 1) "
    "SELECT coalesce(json_agg(json_build_object("
    " 'start', to_char(b.start AT TIME ZONE 'UTC',"
    "   'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    " 'accepted', coalesce(c.accepted, 0), 'sent', coalesce(c.sent, 0),"
    " 'failed', coalesce(c.failed, 0),"
    " 'suppressed', coalesce(c.suppressed, 0),"
    " 'retried', coalesce(c.retried, 0),"
    " 'successRate', CASE WHEN c.sent + c.failed > 0 THEN"
    "   round(c.sent::numeric / (c.sent + c.failed), 6) END,"
    " 'latencyMs', json_build_object('p50', email_rollup_bucket_ms(p.p50),"
    "   'p99', email_rollup_bucket_ms(p.p99)),"
    " 'topFailureCodes', coalesce(ft.top, '[]'))"
    " ORDER BY b.start), '[]')::text "
    "FROM b LEFT JOIN c USING (start) LEFT JOIN p USING (start)"
    " LEFT JOIN ft USING (start)";

void
api_stats_get(struct http_req *r, struct http_resp *rs)
{
	static const char *const known[] = { "from", "to", "bucket",
	    "category", "template", NULL };
	char from[ISOTIME_LEN], to[ISOTIME_LEN], step[24];
	const char *p[6];
	long long w;
	json_t *buckets;
	PGresult *res;

	if (!http_params_known(r, known, rs) ||
	    api_stats_time(r, rs, "from", from, sizeof(from)) == -1 ||
	    api_stats_time(r, rs, "to", to, sizeof(to)) == -1 ||
	    (w = api_stats_step(r, rs)) == 0 ||
	    api_stats_filters(r, rs, p + 3) == -1 ||
	    api_stats_range(rs, from, to, w) == -1)
		return;
	snprintf(step, sizeof(step), "%lld", w);
	p[0] = from;
	p[1] = to;
	p[2] = step;
	p[5] = API_STATS_TOP_CODES;
	if ((res = api_db_query(r, rs, api_stats_sql, 6, p)) == NULL)
		return;
	buckets = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	if (buckets == NULL) {
		http_error(rs, 500, "out of memory", NULL);
		return;
	}
	http_json(rs, 200, json_pack("{s:s,s:o}", "bucket", w == 3600 ?
	    "hour" : "day", "buckets", buckets));
}
