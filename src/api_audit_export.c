/*
 * api_audit_export.c - the audit log streamed: the NDJSON export of
 * /audit/events.
 *
 * Owns the cursor that feeds a chunked response in constant memory: a
 * pooled connection holds a server-side cursor for the length of the
 * response and is given back when libmicrohttpd frees it, finished or
 * not.  Reads only; never logs but a database failure mid-stream.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "api.h"
#include "api_priv.h"
#include "api_audit.h"
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
api_audit_export(struct api_req *r, struct api_resp *rs)
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
		p[i] = api_query(r, keys[i]);
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return;
	x->pool = api_pool(r);
	if ((x->c = db_pool_get(x->pool, err, sizeof(err))) == NULL ||
	    db_exec(x->c, "BEGIN READ ONLY", err, sizeof(err)) == -1 ||
	    (res = db_query(x->c, api_audit_sql_export, 8, p, err,
	    sizeof(err))) == NULL) {
		log_warnx("%s %s: database: %s", r->method, r->url, err);
		api_error(rs, 503, "database unavailable", NULL);
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
