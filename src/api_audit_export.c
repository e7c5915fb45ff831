/*
 * api_audit_export.c - the audit log read in order: the NDJSON export of
 * /audit/events and the gap-free tail (/audit/tail).
 *
 * Owns the cursor that feeds a chunked response in constant memory: a
 * pooled connection holds a server-side cursor for the length of the
 * response and is given back when libmicrohttpd frees it, finished or
 * not; and the tail's (tx, id) cursor (sql/006_audit_tail.sql says why
 * it never skips a row).  Reads only; never logs but a database failure
 * mid-stream.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "api_audit.h"
#include "api_audit_json.h"
#include "api_db.h"
#include "db.h"
#include "log.h"

#define API_AUDIT_FETCH	"FETCH 500 FROM audit_export"

static const char api_audit_sql_export[] =
    "DECLARE audit_export NO SCROLL CURSOR FOR"
    " SELECT " API_AUDIT_KAFKA_COLS " FROM audit_events"
    " WHERE ($1::text IS NULL OR source_topic = $1)"
    "  AND ($2::text IS NULL OR event_type = $2)"
    "  AND ($3::text IS NULL OR correlation_id = $3)"
    "  AND ($4::text IS NULL OR order_id = $4)"
    "  AND ($5::text IS NULL OR customer_id = $5)"
    "  AND ($6::text IS NULL OR source_service = $6)"
    "  AND ($7::timestamptz IS NULL OR created_at >= $7)"
    "  AND ($8::timestamptz IS NULL OR created_at < $8)"
    " ORDER BY id";

/* A running export: a pooled connection holding the cursor, the block
 * of rows fetched last, and the line being written out. */
struct api_audit_export {
	struct db_pool	*pool;
	PGconn		*c;
	PGresult	*res;
	int		 row;
	char		*line;
	size_t		 len, off, cap;
	bool		 done, failed;
};

/* Renders row x->row of the block as a line; -1 when out of memory. */
static int
api_audit_export_line(struct api_audit_export *x)
{
	json_t *j = api_audit_kafka_row(x->res, x->row++);
	size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT | JSON_REAL_PRECISION(15));
	char *p;

	if (n + 1 > x->cap) {
		if ((p = realloc(x->line, n + 1)) == NULL) {
			json_decref(j);
			return -1;
		}
		x->line = p;
		x->cap = n + 1;
	}
	x->len = json_dumpb(j, x->line, n, JSON_COMPACT |
	    JSON_REAL_PRECISION(15));
	x->line[x->len++] = '\n';
	x->off = 0;
	json_decref(j);
	return n == 0 ? -1 : 0;
}

/* The next line, fetching the next block when this one is spent. */
static void
api_audit_export_next(struct api_audit_export *x)
{
	char err[DB_ERRLEN];

	if (x->res != NULL && x->row < PQntuples(x->res)) {
		if (api_audit_export_line(x) == -1)
			x->failed = x->done = true;
		return;
	}
	PQclear(x->res);
	x->row = 0;
	if ((x->res = db_query(x->c, API_AUDIT_FETCH, 0, NULL, err,
	    sizeof(err))) == NULL) {
		log_warnx("GET /audit/events export: database: %s", err);
		x->failed = x->done = true;
	} else if (PQntuples(x->res) == 0) {
		x->done = true;
		x->failed = db_exec(x->c, "COMMIT", NULL, 0) == -1;
	} else if (api_audit_export_line(x) == -1)
		x->failed = x->done = true;
}

/* libmicrohttpd's reader: fills buf with whole and partial lines. */
static ssize_t
api_audit_export_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct api_audit_export *x = cls;
	size_t n = 0, k;

	(void)pos;
	while (n < max) {
		if (x->off < x->len) {
			k = x->len - x->off < max - n ? x->len - x->off : max - n;
			memcpy(buf + n, x->line + x->off, k);
			x->off += k;
			n += k;
		} else if (x->done)
			break;
		else
			api_audit_export_next(x);
	}
	if (n > 0)
		return (ssize_t)n;
	/* A failure ends the chunked body without its last chunk: the
	 * client sees a truncated transfer, never a short "complete" one. */
	return x->failed ? MHD_CONTENT_READER_END_WITH_ERROR :
	    MHD_CONTENT_READER_END_OF_STREAM;
}

/* Ends an export, finished or not: the cursor goes with a ROLLBACK. */
static void
api_audit_export_free(void *cls)
{
	struct api_audit_export *x = cls;

	if (x->c != NULL) {
		if (!x->done || x->failed)
			(void)!db_exec(x->c, "ROLLBACK", NULL, 0);
		db_pool_put(x->pool, x->c);
	}
	PQclear(x->res);
	free(x->line);
	free(x);
}

/* Opens the cursor and hands the response over to the reader. */
void
api_audit_export(struct http_req *r, struct http_resp *rs)
{
	static const char *const keys[] = { "topic", "event_type",
	    "correlation_id", "order_id", "customer_id", "source_service" };
	char since[48], until[48], err[DB_ERRLEN] = "";
	struct api_audit_export *x;
	const char *p[8];
	PGresult *res = NULL;
	int i;

	if (api_audit_param_ts(r, "since", since, sizeof(since), &p[6], rs) ==
	    -1 || api_audit_param_ts(r, "until", until, sizeof(until), &p[7],
	    rs) == -1)
		return;
	for (i = 0; i < 6; i++)
		p[i] = http_query(r, keys[i]);
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return;
	x->pool = api_db_pool(r);
	if ((x->c = db_pool_get(x->pool, err, sizeof(err))) == NULL ||
	    db_exec(x->c, "BEGIN READ ONLY", err, sizeof(err)) == -1 ||
	    (res = db_query(x->c, api_audit_sql_export, 8, p, err,
	    sizeof(err))) == NULL) {
		log_warnx("%s %s: database: %s", r->method, r->url, err);
		http_error(rs, 503, "database unavailable", NULL);
		api_audit_export_free(x);
		return;
	}
	PQclear(res);
	rs->status = 200;
	rs->content_type = "application/x-ndjson";
	rs->stream = api_audit_export_read;
	rs->stream_free = api_audit_export_free;
	rs->stream_cls = x;
}

/* ---- the tail ---- */

/*
 * Rows of finished transactions only (tx below the snapshot's xmin), in
 * (tx, id) order after the cursor.  The last column is the row's tx,
 * for the next cursor; named apart, because ORDER BY a bare name means
 * the output column first: "tx::text" would sort as text ('10' before
 * '9', stepping over rows) and read the whole table to do it.
 */
static const char api_audit_sql_tail[] =
    "SELECT " API_AUDIT_KAFKA_COLS_BIN ", tx::text AS next_tx"
    " FROM audit_events"
    " WHERE (tx, id) > ($1::xid8, $2::bigint)"
    "  AND tx < pg_snapshot_xmin(pg_current_snapshot())"
    "  AND ($3::text IS NULL OR source_topic = $3)"
    " ORDER BY tx, id LIMIT $4";
static const char api_audit_sql_now[] =
    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text";

/* "TX-ID" (two unsigned decimals) into tx and id; -1 when malformed. */
static int
api_audit_cursor_parse(const char *s, char *tx, char *id, size_t len)
{
	size_t a = strspn(s, "0123456789"), b;

	if (a == 0 || a > 20 || s[a] != '-')
		return -1;
	b = strspn(s + a + 1, "0123456789");
	if (b == 0 || b > 18 || s[a + 1 + b] != '\0' || len < 21)
		return -1;
	snprintf(tx, len, "%.*s", (int)a, s);
	snprintf(id, len, "%s", s + a + 1);
	return 0;
}

/* The cursor parameters: after=TX-ID, after=now (tx set to "now"), or
 * none (the beginning); -1 after a 400. */
static int
api_audit_tail_after(struct http_req *r, char *tx, char *id, size_t len,
    struct http_resp *rs)
{
	const char *a = http_query(r, "after");

	if (a == NULL) {
		snprintf(tx, len, "0");
		snprintf(id, len, "0");
	} else if (strcmp(a, "now") == 0) {
		snprintf(tx, len, "now");
		snprintf(id, len, "0");
	} else if (api_audit_cursor_parse(a, tx, id, len) == -1) {
		http_error(rs, 400, "must be a cursor from \"next\" or now",
		    "after");
		return -1;
	}
	return 0;
}

/* The page as {"events": [...], "next": "TX-ID"}. */
static void
api_audit_tail_page(struct http_resp *rs, const PGresult *res,
    const char *tx, const char *id)
{
	struct buf b = { 0 };
	int n = PQntuples(res);

	buf_add(&b, "{\"events\":", 10);
	api_audit_json_rows(&b, res, n);
	if (n > 0) {
		buf_printf(&b, ",\"next\":\"%s-", PQgetvalue(res, n - 1, 16));
		api_audit_json_id(&b, res, n - 1);
		buf_add(&b, "\"}", 2);
	} else
		buf_printf(&b, ",\"next\":\"%s-%s\"}", tx, id);
	api_audit_json_send(rs, 200, &b);
}

/*
 * GET /audit/tail?after=&limit=&topic=: every committed row exactly
 * once, in a fixed order, page after page; "next" is the next "after".
 */
void
api_audit_tail(struct http_req *r, struct http_resp *rs)
{
	static const char *const known[] = { "after", "limit", "topic", NULL };
	char tx[24], id[24], lim[24];
	long long limit;
	const char *p[4];
	PGresult *res;

	if (!http_params_known(r, known, rs) ||
	    http_param_int(r, "limit", 100, 1, 1000, &limit, rs) == -1 ||
	    api_audit_tail_after(r, tx, id, sizeof(tx), rs) == -1)
		return;
	if (strcmp(tx, "now") == 0) {
		if ((res = api_db_query(r, rs, api_audit_sql_now, 0,
		    NULL)) == NULL)
			return;
		snprintf(tx, sizeof(tx), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		http_json(rs, 200, json_pack("{s:[],s:s++}", "events", "next",
		    tx, "-", id));
		return;
	}
	snprintf(lim, sizeof(lim), "%lld", limit);
	p[0] = tx;
	p[1] = id;
	p[2] = http_query(r, "topic");
	p[3] = lim;
	if ((res = api_db_query_binary(r, rs, api_audit_sql_tail, 4,
	    p)) == NULL)
		return;
	if (api_audit_json_check(res) == -1 || PQnfields(res) != 17 ||
	    PQfformat(res, 16) != 1)
		http_error(rs, 500, "unexpected audit columns", NULL);
	else
		api_audit_tail_page(rs, res, tx, id);
	PQclear(res);
}
