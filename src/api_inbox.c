/*
 * api_inbox.c - the in-app inbox of a user (type IN_APP): the list,
 * read state, and the live stream.
 *
 * GET .../users/{userId}/inbox lists the delivered items newest first
 * (keyset on inbox_seq, sql/017) with the unread count; POST
 * .../inbox/{id}/read and .../inbox/read-all set read_at.  GET
 * .../inbox/stream is Server-Sent Events: each item delivered from now
 * on (or after Last-Event-ID: first the ones missed, read here) is an
 * event whose id is its inbox_seq.  api_inbox_hub.c feeds live streams;
 * this file registers a stream with it and catches it up.  User ids are
 * compared as text, so 42 and "42" are the same user, as in sql/014.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_inbox.h"
#include "buf.h"
#include "http_stream.h"
#include "log.h"
#include "sse.h"
#include "util.h"

#define INBOX_MAX_BUFFER	(1 << 20)	/* bytes held for a slow client */
#define INBOX_PAGE		200		/* items read per catch-up query */
#define INBOX_RETRY_MS		1000		/* the reconnect delay we ask */

/* The {userId} segment: short, no control characters; NULL after a 400. */
static const char *
api_inbox_uid(struct http_req *r, struct http_resp *rs)
{
	const char *u = r->arg[0];

	if (u == NULL || *u == '\0' || strlen(u) > INBOX_UID_MAX ||
	    util_has_ctl(u)) {
		http_error(rs, 400, "userId must be 1 to 256 bytes without "
		    "control characters", "userId");
		return NULL;
	}
	return u;
}

static const char api_inbox_sql_unread[] =
    "SELECT count(*) FROM email_notifications"
    " WHERE (user_id #>> '{}') = $1 AND inbox_seq IS NOT NULL"
    " AND read_at IS NULL";

/* The unread count into j as "unread"; -1 after answering a failure. */
static int
api_inbox_unread(struct http_req *r, struct http_resp *rs, const char *uid,
    json_t *j)
{
	const char *p[1] = { uid };
	PGresult *res;

	if ((res = api_db_query(r, rs, api_inbox_sql_unread, 1, p)) == NULL)
		return -1;
	json_object_set_new(j, "unread", api_db_col_int(res, 0, 0));
	PQclear(res);
	return 0;
}

static const char api_inbox_sql_list[] =
    "SELECT coalesce(json_agg(p.item ORDER BY p.seq DESC), '[]')::text,"
    " min(p.seq), count(*) FROM"
    " (SELECT n.inbox_seq AS seq, (" INBOX_ITEM_JSON ")::json AS item"
    "  FROM email_notifications n"
    "  WHERE (n.user_id #>> '{}') = $1 AND n.inbox_seq IS NOT NULL"
    "  AND ($2::bigint IS NULL OR n.inbox_seq < $2)"
    "  AND (NOT $4::bool OR n.read_at IS NULL)"
    "  ORDER BY n.inbox_seq DESC LIMIT $3) p";

/* "unread" is "true" or "false" when given; 400 otherwise. */
static int
api_inbox_param_bool(struct http_req *r, const char *key, const char **out,
    struct http_resp *rs)
{
	const char *v = http_query(r, key);

	*out = "false";
	if (v == NULL || strcmp(v, "false") == 0)
		return 0;
	if (strcmp(v, "true") == 0) {
		*out = "true";
		return 0;
	}
	http_error(rs, 400, "must be true or false", key);
	return -1;
}

/* Newest first; "next" is the cursor for ?after= when more may follow. */
void
api_inbox_list(struct http_req *r, struct http_resp *rs)
{
	static const char *const known[] = { "limit", "after", "unread", NULL };
	char lim[24], aft[24];
	long long limit, after;
	const char *p[4];
	PGresult *res;
	json_t *j;

	if ((p[0] = api_inbox_uid(r, rs)) == NULL ||
	    !http_params_known(r, known, rs) ||
	    http_param_int(r, "limit", 50, 1, 500, &limit, rs) == -1 ||
	    http_param_int(r, "after", 0, 1, SSE_ID_MAX, &after, rs) == -1 ||
	    api_inbox_param_bool(r, "unread", &p[3], rs) == -1)
		return;
	snprintf(lim, sizeof(lim), "%lld", limit);
	snprintf(aft, sizeof(aft), "%lld", after);
	p[1] = after > 0 ? aft : NULL;
	p[2] = lim;
	if ((res = api_db_query(r, rs, api_inbox_sql_list, 4, p)) == NULL)
		return;
	j = json_pack("{s:s,s:o,s:o}", "userId", p[0], "items",
	    api_db_col_jsonb(res, 0, 0), "next",
	    atoll(PQgetvalue(res, 0, 2)) == limit ?
	    api_db_col_int(res, 0, 1) : json_null());
	PQclear(res);
	if (api_inbox_unread(r, rs, p[0], j) == -1) {
		json_decref(j);
		return;
	}
	http_json(rs, 200, j);
}

static const char api_inbox_sql_read[] =
    "UPDATE email_notifications n SET read_at = coalesce(n.read_at, now())"
    " WHERE n.id = $2 AND (n.user_id #>> '{}') = $1"
    " AND n.inbox_seq IS NOT NULL RETURNING " INBOX_ITEM_JSON;

/* Marks one item read (the first read's time stays); 404 if not ours. */
void
api_inbox_read(struct http_req *r, struct http_resp *rs)
{
	const char *p[2];
	PGresult *res;
	json_t *j;

	if ((p[0] = api_inbox_uid(r, rs)) == NULL)
		return;
	p[1] = r->arg[1];
	if (p[1] == NULL || *p[1] == '\0' || strlen(p[1]) > 18 ||
	    strspn(p[1], "0123456789") != strlen(p[1])) {
		http_error(rs, 404, "no such inbox item", "id");
		return;
	}
	if ((res = api_db_query(r, rs, api_inbox_sql_read, 2, p)) == NULL)
		return;
	if (PQntuples(res) == 0) {
		PQclear(res);
		http_error(rs, 404, "no such inbox item", "id");
		return;
	}
	j = api_db_col_jsonb(res, 0, 0);
	PQclear(res);
	if (api_inbox_unread(r, rs, p[0], j) == 0)
		http_json(rs, 200, j);
	else
		json_decref(j);
}

static const char api_inbox_sql_read_all[] =
    "WITH u AS (UPDATE email_notifications SET read_at = now()"
    " WHERE (user_id #>> '{}') = $1 AND inbox_seq IS NOT NULL"
    " AND read_at IS NULL AND ($2::bigint IS NULL OR inbox_seq <= $2)"
    " RETURNING 1) SELECT count(*) FROM u";

/* Every unread item (up to ?upTo=SEQ, what the client has seen) read. */
void
api_inbox_read_all(struct http_req *r, struct http_resp *rs)
{
	static const char *const known[] = { "upTo", NULL };
	long long upto;
	char up[24];
	const char *p[2];
	PGresult *res;
	json_t *j;

	if ((p[0] = api_inbox_uid(r, rs)) == NULL ||
	    !http_params_known(r, known, rs) ||
	    http_param_int(r, "upTo", 0, 1, SSE_ID_MAX, &upto, rs) == -1)
		return;
	snprintf(up, sizeof(up), "%lld", upto);
	p[1] = upto > 0 ? up : NULL;
	if ((res = api_db_query(r, rs, api_inbox_sql_read_all, 2, p)) == NULL)
		return;
	j = json_pack("{s:s,s:o}", "userId", p[0], "marked",
	    api_db_col_int(res, 0, 0));
	PQclear(res);
	if (api_inbox_unread(r, rs, p[0], j) == 0)
		http_json(rs, 200, j);
	else
		json_decref(j);
}

/* ---- the stream ---- */

static const char api_inbox_sql_head[] =
    "SELECT coalesce(max(inbox_seq), 0) FROM email_notifications"
    " WHERE (user_id #>> '{}') = $1 AND inbox_seq IS NOT NULL";

static const char api_inbox_sql_after[] =
    "SELECT n.inbox_seq, " INBOX_ITEM_JSON " FROM email_notifications n"
    " WHERE (n.user_id #>> '{}') = $1 AND n.inbox_seq IS NOT NULL"
    " AND n.inbox_seq > $2 ORDER BY n.inbox_seq LIMIT $3";

/*
 * Writes one page of the items after the stream's last and adds their
 * bytes to *sent; returns how many, -1 after answering a database
 * failure, -2 when the stream ended (its client resumes).
 */
static int
api_inbox_page(struct http_req *r, struct http_resp *rs,
    struct api_inbox_sub *sub, struct http_stream *s, size_t *sent)
{
	char last[24], lim[16];
	const char *p[3] = { r->arg[0], last, lim };
	struct buf b = { 0 };
	PGresult *res;
	int64_t seq;
	int i, n;

	snprintf(last, sizeof(last), "%lld",
	    (long long)api_inbox_sub_last(sub));
	snprintf(lim, sizeof(lim), "%d", INBOX_PAGE);
	if ((res = api_db_query(r, rs, api_inbox_sql_after, 3, p)) == NULL)
		return -1;
	for (i = 0, n = PQntuples(res); i < n; i++) {
		seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		buf_reset(&b);
		api_inbox_frame(&b, seq, PQgetvalue(res, i, 1));
		if (b.oom || http_stream_write(s, b.p, b.len) == -1) {
			http_stream_end(s);	/* its client resumes from here */
			break;
		}
		*sent += b.len;
		api_inbox_sub_wrote(sub, seq);
	}
	buf_free(&b);
	PQclear(res);
	return i < n ? -2 : n;
}

/*
 * The stream's first position: after Last-Event-ID, or after the user's
 * newest item when there is none (a new stream shows what comes next).
 * Then pages of what came since, until a page shows nothing missed
 * (api_inbox_hub.c's "missed" says whether one came meanwhile).  -1
 * after answering a database failure.
 */
static int
api_inbox_catch_up(struct http_req *r, struct http_resp *rs,
    struct api_inbox_sub *sub, struct http_stream *s)
{
	const char *p[1] = { r->arg[0] };
	size_t sent = 0;
	PGresult *res;
	int n;

	if (api_inbox_sub_last(sub) < 0) {
		if ((res = api_db_query(r, rs, api_inbox_sql_head, 1, p)) ==
		    NULL)
			return -1;
		api_inbox_sub_wrote(sub, strtoll(PQgetvalue(res, 0, 0), NULL,
		    10));
		PQclear(res);
	}
	for (;;) {
		if ((n = api_inbox_page(r, rs, sub, s, &sent)) == -1)
			return -1;
		if (n == -2)
			break;
		if (sent >= INBOX_MAX_BUFFER / 2) {
			http_stream_end(s);	/* the rest on resume */
			break;
		}
		if (n < INBOX_PAGE &&
		    api_inbox_sub_go_live(api_ctx_of(r)->inbox, sub))
			break;
	}
	return 0;
}

/* Server-Sent Events of the user's new items, from Last-Event-ID on. */
void
api_inbox_stream(struct http_req *r, struct http_resp *rs)
{
	static const char *const known[] = { NULL };
	struct api_inbox_hub *hub = api_ctx_of(r)->inbox;
	struct api_inbox_sub *sub;
	struct http_stream *s;
	struct buf b = { 0 };
	int64_t last;

	if (api_inbox_uid(r, rs) == NULL || !http_params_known(r, known, rs))
		return;
	if (sse_last_id(http_header(r, "Last-Event-ID"), &last) == -1) {
		http_error(rs, 400, "Last-Event-ID must be an event id of this "
		    "stream (decimal digits)", "Last-Event-ID");
		return;
	}
	if (hub == NULL || !api_inbox_hub_live(hub)) {
		http_error(rs, 503, "inbox streams unavailable: not listening "
		    "to the database", NULL);
		http_resp_header(rs, "Retry-After", "1");
		return;
	}
	if ((sub = api_inbox_sub_new(r->arg[0], last)) == NULL)
		return;
	if ((s = http_hold(r, rs, "text/event-stream", INBOX_MAX_BUFFER,
	    api_inbox_sub_gone, sub)) == NULL) {
		free(sub);
		return;
	}
	http_resp_header(rs, "Cache-Control", "no-store");
	http_resp_header(rs, "X-Accel-Buffering", "no");
	api_inbox_sub_add(hub, sub, s);
	sse_retry(&b, INBOX_RETRY_MS);
	if (!b.oom)
		(void)!http_stream_write(s, b.p, b.len);
	buf_free(&b);
	(void)api_inbox_catch_up(r, rs, sub, s);
}
