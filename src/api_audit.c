/*
 * api_audit.c - the audit log over HTTP: the seed's endpoints (/order,
 * /customer, /send-notification) in its to_dict shape, and the /audit ones.
 *
 * Owns the audit read queries and their parameter checks (400 JSON
 * naming the field).  Reads only audit_events and kafka-side columns the
 * audit role wrote; must never write anything but a manual row.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_audit.h"
#include "api_audit_json.h"
#include "api_db.h"
#include "audit_extract.h"
#include "audit_seed.h"
#include "db.h"
#include "isotime.h"
#include "log.h"
#include "notif.h"
#include "stats.h"

/* The seed endpoints' columns, in the order api_audit_seed_row() reads:
 * the message as sent (jsonb would print 1e+16 as 10000000000000000,
 * a float as an integer), created_at as the seed's naive UTC datetime. */
#define API_AUDIT_SEED_COLS \
	"notification_id, customer_id, runner_id, order_id, " \
	"CASE WHEN value IS NULL OR event IS NULL THEN event::text " \
	"ELSE convert_from(value, 'UTF8') END, " \
	"status, to_char(created_at AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US'), source_topic, event_type, " \
	"correlation_id, source_service, partition IS NULL"


/* The event column; numbers jansson cannot hold show as their digits. */
static json_t *
api_audit_event_json(const PGresult *res, int row, int col)
{
	json_t *j;

	if (PQgetisnull(res, row, col))
		return json_null();
	j = audit_json_load(PQgetvalue(res, row, col),
	    (size_t)PQgetlength(res, row, col));
	return j != NULL ? j : json_null();
}

/* One row in the seed's to_dict shape, plus our id. */
static json_t *
api_audit_row(const PGresult *res, int i)
{
	json_t *j = json_object();

	json_object_set_new(j, "id", api_db_col_int(res, i, 0));
	json_object_set_new(j, "notificationId", api_db_col_str(res, i, 1));
	json_object_set_new(j, "customerId", api_db_col_str(res, i, 2));
	json_object_set_new(j, "runnerId", api_db_col_str(res, i, 3));
	json_object_set_new(j, "orderId", api_db_col_str(res, i, 4));
	json_object_set_new(j, "event", api_audit_event_json(res, i, 5));
	json_object_set_new(j, "status", api_db_col_str(res, i, 6));
	json_object_set_new(j, "createdAt", api_db_col_str(res, i, 7));
	json_object_set_new(j, "sourceTopic", api_db_col_str(res, i, 8));
	json_object_set_new(j, "eventType", api_db_col_str(res, i, 9));
	json_object_set_new(j, "correlationId", api_db_col_str(res, i, 10));
	json_object_set_new(j, "sourceService", api_db_col_str(res, i, 11));
	return j;
}

/* A row of API_AUDIT_KAFKA_COLS: to_dict plus where Kafka had it. */
json_t *
api_audit_kafka_row(const PGresult *res, int i)
{
	json_t *j = api_audit_row(res, i);

	json_object_set_new(j, "partition", api_db_col_int(res, i, 12));
	json_object_set_new(j, "offset", api_db_col_int(res, i, 13));
	json_object_set_new(j, "kafkaTimestamp", api_db_col_str(res, i, 14));
	json_object_set_new(j, "kafkaTimestampType", api_db_col_str(res, i, 15));
	return j;
}

/* A column as a JSON string, or def (a new reference) when NULL. */
static json_t *
api_audit_col_or(const PGresult *res, int row, int col, json_t *def)
{
	if (PQgetisnull(res, row, col))
		return def;
	json_decref(def);
	return json_string(PQgetvalue(res, row, col));
}

/*
 * The seed's values read from our columns: a manual row as stored, a
 * message the seed could not have recorded (not a JSON object, ...)
 * with the seed's defaults and its wrapper around whatever JSON it is.
 */
static void
api_audit_seed_cols(struct audit_seed *s, const PGresult *res, int i,
    json_t *msg, const char *created)
{
	bool manual = PQgetvalue(res, i, 11)[0] == 't';

	s->event_type = api_db_col_str(res, i, 8);
	s->runner_id = api_db_col_str(res, i, 2);
	s->customer_id = api_audit_col_or(res, i, 1, manual ? json_null() :
	    json_string(""));
	s->order_id = api_audit_col_or(res, i, 3, manual ? json_null() :
	    json_string(""));
	s->correlation_id = api_audit_col_or(res, i, 9, manual ?
	    json_null() : json_string(""));
	s->source_service = api_audit_col_or(res, i, 10, manual ?
	    json_null() : json_string("unknown"));
	if (manual)
		s->event = audit_seed_sorted(msg);
	else
		s->event = json_pack("{s:O,s:O,s:o,s:O,s:s,s:s}",
		    "correlation_id", s->correlation_id, "event_type",
		    s->event_type, "payload", audit_seed_sorted(msg),
		    "source_service", s->source_service, "timestamp", created,
		    "topic", PQgetvalue(res, i, 7));
}

/* One row of API_AUDIT_SEED_COLS as the seed's to_dict() returned it,
 * keys in the order Flask's jsonify sorts them. */
static json_t *
api_audit_seed_row(const PGresult *res, int i)
{
	json_t *msg = api_audit_event_json(res, i, 4), *j;
	struct audit_seed s;
	char created[40];

	snprintf(created, sizeof(created), "%s", PQgetvalue(res, i, 6));
	audit_seed_isoformat(created);
	if (PQgetvalue(res, i, 11)[0] == 't' || audit_seed_read(&s, msg,
	    PQgetvalue(res, i, 7), created) == -1)
		api_audit_seed_cols(&s, res, i, msg, created);
	json_decref(msg);
	j = json_pack("{s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
	    "correlationId", s.correlation_id, "createdAt", created,
	    "customerId", s.customer_id, "event", s.event,
	    "eventType", s.event_type,
	    "notificationId", api_db_col_str(res, i, 0),
	    "orderId", s.order_id, "runnerId", s.runner_id,
	    "sourceService", s.source_service,
	    "sourceTopic", api_db_col_str(res, i, 7),
	    "status", api_db_col_str(res, i, 5));
	memset(&s, 0, sizeof(s));	/* json_pack took every reference */
	return j;
}

/* Sends j (taken) as the bytes Flask's jsonify sent: the seed's clients
 * see the same body, not only the same values. */
static void
api_audit_seed_send(struct http_resp *rs, int status, json_t *j)
{
	char *body = audit_seed_dumps(j);

	json_decref(j);
	if (body == NULL) {
		http_error(rs, 500, "out of memory", NULL);
		return;
	}
	free(rs->text);
	rs->text = body;
	rs->status = status;
	rs->content_type = "application/json";
}

/* Hands the text to libmicrohttpd as it is: no copy, freed once sent. */
void
api_audit_json_send(struct http_resp *rs, int status, struct buf *b)
{
	if (buf_str(b) == NULL) {
		buf_free(b);
		http_error(rs, 500, "out of memory", NULL);
		return;
	}
	free(rs->text);
	rs->text = b->p;	/* libmicrohttpd frees it once sent */
	b->p = NULL;
	buf_free(b);
	rs->status = status;
	rs->content_type = "application/json";
}

/* Every row of res through fn, as a JSON array. */
static json_t *
api_audit_rows(const PGresult *res, json_t *(*fn)(const PGresult *, int),
    int max)
{
	json_t *arr = json_array();
	int i;

	for (i = 0; i < PQntuples(res) && i < max; i++)
		json_array_append_new(arr, fn(res, i));
	return arr;
}

static const char api_audit_sql_order[] =
    "SELECT " API_AUDIT_SEED_COLS " FROM audit_events"
    " WHERE order_id = $1 AND (partition IS NULL"
    "  OR audit_seed_match(event, 'order_id', 'orderId', $1))"
    " ORDER BY id LIMIT $2";

/* GET /order/{orderId}: every record of the order, oldest first. */
void
api_audit_order(struct http_req *r, struct http_resp *rs)
{
	static const char *const known[] = { "limit", NULL };
	const char *p[2];
	long long limit;
	PGresult *res;
	char lim[24];

	if (!http_params_known(r, known, rs) ||
	    http_param_int(r, "limit", 1000, 1, 10000, &limit, rs) == -1)
		return;
	snprintf(lim, sizeof(lim), "%lld", limit);
	p[0] = r->arg[0];
	p[1] = lim;
	if ((res = api_db_query(r, rs, api_audit_sql_order, 2, p)) == NULL)
		return;
	api_audit_seed_send(rs, 200, api_audit_rows(res, api_audit_seed_row,
	    PQntuples(res)));
	PQclear(res);
}

static const char api_audit_sql_latest[] =
    "SELECT " API_AUDIT_SEED_COLS " FROM audit_events"
    " WHERE order_id = $1 AND (partition IS NULL"
    "  OR audit_seed_match(event, 'order_id', 'orderId', $1))"
    " ORDER BY id DESC LIMIT 1";

/* GET /order/{orderId}/latest: the newest record, 404 when none. */
void
api_audit_order_latest(struct http_req *r, struct http_resp *rs)
{
	static const char *const known[] = { NULL };
	PGresult *res;

	if (!http_params_known(r, known, rs) || (res = api_db_query(r, rs,
	    api_audit_sql_latest, 1, r->arg)) == NULL)
		return;
	if (PQntuples(res) == 0)
		http_error(rs, 404, "no notifications for this order", "orderId");
	else
		api_audit_seed_send(rs, 200, api_audit_seed_row(res, 0));
	PQclear(res);
}

static const char api_audit_sql_customer[] =
    "SELECT " API_AUDIT_SEED_COLS " FROM audit_events"
    " WHERE customer_id = $1 AND (partition IS NULL"
    "  OR audit_seed_match(event, 'customer_id', 'customerId', $1))"
    " ORDER BY id DESC LIMIT $2 OFFSET $3";

/* GET /customer/{customerId}/notifications?limit=&offset=, newest first. */
void
api_audit_customer(struct http_req *r, struct http_resp *rs)
{
	static const char *const known[] = { "limit", "offset", NULL };
	long long limit, offset;
	char lim[24], off[24];
	const char *p[3];
	PGresult *res;

	if (!http_params_known(r, known, rs) ||
	    http_param_int(r, "limit", 50, 1, 1000, &limit, rs) == -1 ||
	    http_param_int(r, "offset", 0, 0, 1000000000, &offset, rs) == -1)
		return;
	snprintf(lim, sizeof(lim), "%lld", limit);
	snprintf(off, sizeof(off), "%lld", offset);
	p[0] = r->arg[0];
	p[1] = lim;
	p[2] = off;
	if ((res = api_db_query(r, rs, api_audit_sql_customer, 3, p)) == NULL)
		return;
	api_audit_seed_send(rs, 200, api_audit_rows(res, api_audit_seed_row,
	    PQntuples(res)));
	PQclear(res);
}

/* A body id: a non-empty string or an integer, as text; 400 if not. */
static int
api_audit_body_id(json_t *body, const char *name, bool required,
    char *buf, size_t len, const char **out, struct http_resp *rs)
{
	json_t *v = json_object_get(body, name);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			http_error(rs, 400, "required", name);
		return required ? -1 : 0;
	}
	if (json_is_integer(v)) {
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		*out = buf;
	} else if (json_is_string(v) && json_string_length(v) > 0 &&
	    json_string_length(v) <= AUDIT_FIELD_MAX)
		*out = json_string_value(v);
	else {
		http_error(rs, 400, "must be a string of 1 to 255 bytes or an "
		    "integer", name);
		return -1;
	}
	return 0;
}

static const char api_audit_sql_send[] =
    "INSERT INTO audit_events (customer_id, runner_id, order_id, event,"
    " source_topic, event_type, source_service)"
    " VALUES ($1, $2, $3, $4::jsonb, 'manual', 'manual', 'api')"
    " RETURNING " API_AUDIT_SEED_COLS;

/* The body as a JSON object: 415 when not said to be JSON, else 400
 * naming the member when it is not one. */
static json_t *
api_audit_send_body(struct http_req *r, struct http_resp *rs)
{
	struct notif_error e;
	const char *nul;
	json_t *body;

	if (!http_content_json(r, rs))
		return NULL;
	if ((body = notif_parse(r->body ? r->body : "", r->body_len,
	    &e)) == NULL)
		http_error(rs, 400, e.msg, e.field);
	else if (!json_is_object(body))
		http_error(rs, 400, "the body must be a JSON object", NULL);
	else if ((nul = notif_nul_member(body)) != NULL)
		http_error(rs, 400, "must not contain NUL (\\u0000)", nul);
	else
		return body;
	json_decref(body);
	return NULL;
}

/* POST /send-notification: a manual record in the seed's body shape. */
void
api_audit_send(struct http_req *r, struct http_resp *rs)
{
	char cbuf[32], rbuf[32], obuf[32];
	json_t *body, *event;
	const char *p[4];
	PGresult *res;
	char *ev;

	if ((body = api_audit_send_body(r, rs)) == NULL)
		return;
	event = json_object_get(body, "event");
	if (api_audit_body_id(body, "customerId", true, cbuf, sizeof(cbuf),
	    &p[0], rs) == -1 || api_audit_body_id(body, "runnerId", false,
	    rbuf, sizeof(rbuf), &p[1], rs) == -1 || api_audit_body_id(body,
	    "orderId", true, obuf, sizeof(obuf), &p[2], rs) == -1) {
		json_decref(body);
		return;
	}
	if (event == NULL || json_is_null(event) || (ev = json_dumps(event,
	    JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
		http_error(rs, 400, "required", "event");
		json_decref(body);
		return;
	}
	p[3] = ev;
	if ((res = api_db_write(r, rs, api_audit_sql_send, 4, p)) != NULL) {
		api_audit_seed_send(rs, 201, api_audit_seed_row(res, 0));
		PQclear(res);
	}
	free(ev);
	json_decref(body);
}

/* An optional timestamp parameter; 400 naming it when malformed. */
int
api_audit_param_ts(struct http_req *r, const char *key, char *out,
    size_t len, const char **val, struct http_resp *rs)
{
	const char *v = http_query(r, key);

	*val = NULL;
	if (v == NULL)
		return 0;
	if (isotime_parse(v, out, len) == -1) {
		http_error(rs, 400, "must be an ISO 8601 timestamp, e.g. "
		    "2025-04-05T12:00:00Z", key);
		return -1;
	}
	*val = out;
	return 0;
}

/* Plans with the actual values make each absent filter vanish. */
#define API_AUDIT_SQL_EVENTS(topic, order) \
    "SELECT " API_AUDIT_KAFKA_COLS_BIN " FROM audit_events" \
    " WHERE ($1::text IS NULL OR " topic ")" \
    "  AND ($2::text IS NULL OR event_type = $2)" \
    "  AND ($3::text IS NULL OR correlation_id = $3)" \
    "  AND ($4::text IS NULL OR order_id = $4)" \
    "  AND ($5::text IS NULL OR customer_id = $5)" \
    "  AND ($6::text IS NULL OR source_service = $6)" \
    "  AND ($7::timestamptz IS NULL OR created_at >= $7)" \
    "  AND ($8::timestamptz IS NULL OR created_at < $8)" \
    "  AND ($9::bigint IS NULL OR id < $9)" \
    " ORDER BY " order " LIMIT $10"
static const char api_audit_sql_events[] =
    API_AUDIT_SQL_EVENTS("source_topic = $1", "id DESC");
/*
 * With since or until, the same order as the distance of id to 2^53:
 * the btree indexes give rows in id order but cannot skip the rows
 * after until (a past hour at 10M rows scanned half a partition: 45
 * ms), and a range sorted by id costs its size (42k rows: 19 ms); the
 * GiST (created_at, id) index walks the range nearest first
 * (sql/011_audit_query_indexes.sql; 0.06 ms).  2^53, not the largest
 * bigint: btree_gist measures distances in float8, exact only there
 * (ids of 10M rows all "at the same distance" from 2^63 came unordered).
 */
/*
 * The topic through the same index, whose third key is its hashtext
 * (sql/020_audit_topic_window.sql): the walk skips the other topics'
 * rows, and a hash shared by two topics costs a row read, not a wrong
 * row: the topic is checked too.  The check reads "source_topic = $1 OR
 * the hashes differ"; beside the hash equality its second half is never
 * true, so it means source_topic = $1.  Written plainly, the planner
 * multiplied its selectivity with the hash's, judged a small topic's
 * page never full, and took a BitmapAnd with the topic btree and a sort
 * (4-13 ms instead of 1-3); the OR is no index condition and costs the
 * estimate little.
 */
#define API_AUDIT_SQL_TOPIC_KEY \
    "(hashtext(source_topic) = hashtext($1) AND (source_topic = $1" \
    " OR hashtext(source_topic) <> hashtext($1)))"
static const char api_audit_sql_events_range[] =
    API_AUDIT_SQL_EVENTS(API_AUDIT_SQL_TOPIC_KEY, "id <-> 9007199254740992");

/* 1 when NDJSON is asked for (format=ndjson or Accept), 0 for JSON,
 * -1 after a 400 for a format we do not know or a page parameter. */
static int
api_audit_ndjson(struct http_req *r, struct http_resp *rs)
{
	const char *f = http_query(r, "format"), *accept;

	if (f == NULL) {
		accept = http_header(r, "Accept");
		if (accept == NULL || strstr(accept, "application/x-ndjson") ==
		    NULL)
			return 0;
	} else if (strcmp(f, "json") == 0)
		return 0;
	else if (strcmp(f, "ndjson") != 0) {
		http_error(rs, 400, "must be json or ndjson", "format");
		return -1;
	}
	if (http_query(r, "limit") != NULL || http_query(r, "after") != NULL) {
		http_error(rs, 400, "an NDJSON export takes the whole range: no "
		    "limit or after", http_query(r, "limit") ? "limit" : "after");
		return -1;
	}
	return 1;
}

/* GET /audit/events?...: newest first; "next" is the ?after= cursor. */
void
api_audit_events(struct http_req *r, struct http_resp *rs)
{
	static const char *const known[] = { "topic", "event_type",
	    "correlation_id", "order_id", "customer_id", "source_service",
	    "since", "until", "limit", "after", "format", NULL };
	char since[48], until[48], lim[24], aft[24];
	struct api_audit_json_page pg;
	long long limit, after;
	const char *p[10];
	int i;

	if (!http_params_known(r, known, rs))
		return;
	if ((i = api_audit_ndjson(r, rs)) != 0) {
		if (i == 1)
			api_audit_export(r, rs);
		return;
	}
	if (http_param_int(r, "limit", 50, 1, 1000, &limit, rs) == -1 ||
	    http_param_int(r, "after", 0, 1, (1LL << 62), &after, rs) == -1 ||
	    api_audit_param_ts(r, "since", since, sizeof(since), &p[6], rs) ==
	    -1 || api_audit_param_ts(r, "until", until, sizeof(until), &p[7],
	    rs) == -1)
		return;
	for (i = 0; i < 6; i++)
		p[i] = http_query(r, known[i]);
	snprintf(aft, sizeof(aft), "%lld", after);
	snprintf(lim, sizeof(lim), "%lld", limit + 1);
	p[8] = after > 0 ? aft : NULL;
	p[9] = lim;
	api_audit_json_page_begin(&pg, (int)limit);
	if (api_db_query_rows(r, rs, p[6] != NULL || p[7] != NULL ?
	    api_audit_sql_events_range : api_audit_sql_events, 10, p,
	    api_audit_json_page_row, &pg) == -1) {
		buf_free(&pg.b);
		return;
	}
	if (pg.bad) {
		buf_free(&pg.b);
		http_error(rs, 500, "unexpected audit columns", NULL);
		return;
	}
	api_audit_json_page_end(&pg);
	api_audit_json_send(rs, 200, &pg.b);
}

/* Raw bytes as name and nameEncoding: text when UTF-8, else base64. */
static void
api_audit_bytes(json_t *j, const char *name, const char *encname,
    const PGresult *res, int row, int col)
{
	const char *enc = NULL;
	unsigned char *b = NULL;
	json_t *v = NULL;
	size_t n;

	if (!PQgetisnull(res, row, col) && (b = PQunescapeBytea(
	    (const unsigned char *)PQgetvalue(res, row, col), &n)) != NULL)
		v = audit_bytes_json(b, n, &enc);
	PQfreemem(b);
	json_object_set_new(j, name, v != NULL ? v : json_null());
	json_object_set_new(j, encname, enc != NULL ? json_string(enc) :
	    json_null());
}

static const char api_audit_sql_event_id[] =
    "SELECT " API_AUDIT_KAFKA_COLS ", key, value, headers::text"
    " FROM audit_events WHERE id = $1::bigint";
static const char api_audit_sql_event_uuid[] =
    "SELECT " API_AUDIT_KAFKA_COLS ", key, value, headers::text"
    " FROM audit_events WHERE notification_id = $1::uuid";

/* Which lookup a path id asks for: 1 = id, 2 = notificationId, 0 = bad. */
static int
api_audit_id_kind(const char *s)
{
	size_t i, n = strlen(s);

	if (n > 0 && n <= 18 && strspn(s, "0123456789") == n)
		return 1;
	if (n != 36)
		return 0;
	for (i = 0; i < n; i++)
		if (i == 8 || i == 13 || i == 18 || i == 23 ? s[i] != '-' :
		    strchr("0123456789abcdefABCDEF", s[i]) == NULL)
			return 0;
	return 2;
}

/* GET /audit/events/{id or notificationId}: the record with its bytes. */
void
api_audit_event(struct http_req *r, struct http_resp *rs)
{
	static const char *const known[] = { NULL };
	int kind = api_audit_id_kind(r->arg[0]);
	PGresult *res;
	json_t *j;

	if (!http_params_known(r, known, rs))
		return;
	if (kind == 0) {
		http_error(rs, 400, "must be a numeric id or a notificationId",
		    "id");
		return;
	}
	if ((res = api_db_query(r, rs, kind == 1 ? api_audit_sql_event_id :
	    api_audit_sql_event_uuid, 1, r->arg)) == NULL)
		return;
	if (PQntuples(res) == 0) {
		http_error(rs, 404, "no such audit event", "id");
		PQclear(res);
		return;
	}
	j = api_audit_kafka_row(res, 0);
	api_audit_bytes(j, "key", "keyEncoding", res, 0, 16);
	api_audit_bytes(j, "value", "valueEncoding", res, 0, 17);
	json_object_set_new(j, "tombstone", json_boolean(PQgetisnull(res, 0,
	    17) && !PQgetisnull(res, 0, 12)));
	json_object_set_new(j, "headers", api_db_col_jsonb(res, 0, 18));
	http_json(rs, 200, j);
	PQclear(res);
}

/* audit_topic_stats, kept by the audit role with its rows: the answer
 * costs the number of topic-partitions, not the rows. */
static const char api_audit_sql_topics[] =
    "SELECT source_topic, partition, count, last_offset, "
    API_AUDIT_ISO("last_seen") ", " API_AUDIT_ISO("last_kafka_ts")
    " FROM audit_topic_stats ORDER BY source_topic, partition";

/* Adds one partition row to its topic's entry (rows come by topic). */
static void
api_audit_topic_add(json_t *topics, const PGresult *res, int i)
{
	json_t *t = json_array_get(topics, json_array_size(topics) - 1);
	const char *name = PQgetvalue(res, i, 0), *seen;
	long long count = strtoll(PQgetvalue(res, i, 2), NULL, 10);

	if (t == NULL || strcmp(json_string_value(json_object_get(t, "topic")),
	    name) != 0) {
		t = json_pack("{s:s,s:I,s:n,s:[]}", "topic", name, "count",
		    (json_int_t)0, "lastSeen", "partitions");
		json_array_append_new(topics, t);
	}
	json_object_set_new(t, "count", json_integer(json_integer_value(
	    json_object_get(t, "count")) + count));
	seen = PQgetvalue(res, i, 4);
	if (json_is_null(json_object_get(t, "lastSeen")) || strcmp(seen,
	    json_string_value(json_object_get(t, "lastSeen"))) > 0)
		json_object_set_new(t, "lastSeen", json_string(seen));
	json_array_append_new(json_object_get(t, "partitions"), json_pack(
	    "{s:o,s:I,s:o,s:o,s:o}", "partition", api_db_col_int(res, i, 1),
	    "count", (json_int_t)count, "lastOffset", api_db_col_int(res, i, 3),
	    "lastSeen", api_db_col_str(res, i, 4), "lastKafkaTimestamp",
	    api_db_col_str(res, i, 5)));
}

/* GET /audit/topics: per topic and partition, counts and positions. */
void
api_audit_topics(struct http_req *r, struct http_resp *rs)
{
	static const char *const known[] = { NULL };
	json_t *topics;
	PGresult *res;
	int i;

	if (!http_params_known(r, known, rs) || (res = api_db_query(r, rs,
	    api_audit_sql_topics, 0, NULL)) == NULL)
		return;
	topics = json_array();
	for (i = 0; i < PQntuples(res); i++)
		api_audit_topic_add(topics, res, i);
	http_json(rs, 200, json_pack("{s:o}", "topics", topics));
	PQclear(res);
}
