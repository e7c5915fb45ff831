/*
 * api_notify.c - the email notification resource (seed 004's API).
 *
 * POST stores the row (committed before anything is answered, in a
 * group commit with the other requests in flight: api_store.c), then
 * queues it on the email topic and waits briefly for Kafka's ack:
 * 202 PROCESSING when acked, 202 PENDING when not (the sweeper queues
 * it later).  Kafka being down never loses an accepted notification.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_db.h"
#include "api_notify.h"
#include "api_schedule.h"
#include "api_store.h"
#include "channel.h"
#include "api_template.h"
#include "api_suppress.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "notif.h"
#include "notif_mark.h"
#include "queue.h"
#include "stats.h"

/* Its path, for Location (api.c's route table spells it out). */
#define NOTIFY_PATH "/notification_service/api/notifications"

struct api_notify {
	struct queue		*queue;
	struct api_store	*store;
};

int
api_notify_init(struct api_ctx *ctx)
{
	const struct queue_mark mark = { notif_mark_queued, ctx->pool };
	char err[512];

	ctx->notify = NULL;
	if (!conf->email_enabled)
		return 0;
	if ((ctx->notify = calloc(1, sizeof(*ctx->notify))) == NULL)
		return -1;
	if ((ctx->notify->queue = queue_new(&mark, err, sizeof(err))) == NULL) {
		log_error("email producer: %s", err);
		free(ctx->notify);
		ctx->notify = NULL;
		return -1;
	}
	if ((ctx->notify->store = api_store_new(ctx->store_pool,
	    ctx->notify->queue)) == NULL) {
		log_warnx("notification store: out of memory");
		queue_free(ctx->notify->queue);
		free(ctx->notify);
		ctx->notify = NULL;
		return -1;
	}
	return 0;
}

/*
 * The metadata of every topic a POST may produce to, fetched once the
 * process serves: without it the first notification after READY waited
 * ~0.9 s for its topic's metadata.  Not fatal: a produce fetches it.
 */
void
api_notify_warm(struct api_ctx *ctx)
{
	const char *topics[3];
	char err[512];
	size_t i, n = 0;

	if (ctx->notify == NULL)
		return;
	topics[n++] = conf->email_topic;
	if (conf->inbox_workers > 0)
		topics[n++] = conf->inbox_topic;
	if (conf->webhook_nendpoints > 0)
		topics[n++] = conf->webhook_topic;
	for (i = 0; i < n; i++)
		if (queue_warm(ctx->notify->queue, topics[i], err,
		    sizeof(err)) == -1)
			log_warnx("%s metadata: %s", topics[i], err);
}

void
api_notify_fini(struct api_ctx *ctx)
{
	if (ctx->notify == NULL)
		return;
	api_store_free(ctx->notify->store);
	queue_free(ctx->notify->queue);
	free(ctx->notify);
	ctx->notify = NULL;
}

int
api_notify_ready(struct api_ctx *ctx, char *why, size_t len)
{
	return queue_ping(ctx->notify->queue, why, len);
}

/*
 * A PENDING row Kafka acknowledged is queued, one a mailer claimed (a
 * lease_owner, sql/019) is being sent: PROCESSING to clients.
 */
#define NOTIFY_STATUS \
    "CASE WHEN status = 'PENDING' AND (queued_at IS NOT NULL " \
    "OR lease_owner IS NOT NULL) THEN 'PROCESSING' ELSE status END"

/* The columns every read returns, in the order api_notify_row() reads. */
#define NOTIFY_COLS \
    "id, type, title, content, user_id::text, recipient, metadata::text, " \
    NOTIFY_STATUS ", attempts, last_error, " \
    "extract(epoch from sent_at)::bigint, message_id, " \
    "extract(epoch from created_at)::bigint, " \
    "extract(epoch from updated_at)::bigint, requeues, permanent, from_addr, " \
    "floor(extract(epoch from send_at))::bigint, " \
    "template_name, template_version, locale, text_part, " \
    "category, suppressed_reason"

/* The columns of NOTIFY_COLS, then what each query adds after them. */
enum notify_col {
	NOTIFY_COL_ID,
	NOTIFY_COL_TYPE,
	NOTIFY_COL_TITLE,
	NOTIFY_COL_CONTENT,
	NOTIFY_COL_USER_ID,
	NOTIFY_COL_RECIPIENT,
	NOTIFY_COL_METADATA,
	NOTIFY_COL_STATUS,
	NOTIFY_COL_ATTEMPTS,
	NOTIFY_COL_LAST_ERROR,
	NOTIFY_COL_SENT_AT,
	NOTIFY_COL_MESSAGE_ID,
	NOTIFY_COL_CREATED_AT,
	NOTIFY_COL_UPDATED_AT,
	NOTIFY_COL_REQUEUES,
	NOTIFY_COL_PERMANENT,
	NOTIFY_COL_FROM,
	NOTIFY_COL_SEND_AT,
	NOTIFY_COL_TEMPLATE,	/* and version, locale, text: api_template_row */
	NOTIFY_COL_TEMPLATE_END = NOTIFY_COL_TEMPLATE + 3,
	NOTIFY_COL_CATEGORY,
	NOTIFY_COL_SUPPRESSED,
	NOTIFY_NCOLS
};

/* api_notify_sql_by_key: NOTIFY_COLS, request_hash. */
enum notify_by_key_col {
	NOTIFY_BY_KEY_HASH = NOTIFY_NCOLS,
};

/* api_notify_sql_get: NOTIFY_COLS, history. */
enum notify_get_col {
	NOTIFY_GET_HISTORY = NOTIFY_NCOLS,
};

/* The member each plain column becomes: s text, i integer, j JSON text. */
static const struct {
	const char	*name;
	char		 kind;
} api_notify_members[NOTIFY_COL_PERMANENT] = {
	[NOTIFY_COL_ID] =	{ "id", 'i' },
	[NOTIFY_COL_TYPE] =	{ "type", 's' },
	[NOTIFY_COL_TITLE] =	{ "title", 's' },
	[NOTIFY_COL_CONTENT] =	{ "content", 's' },
	[NOTIFY_COL_USER_ID] =	{ "userId", 'j' },
	[NOTIFY_COL_RECIPIENT] =	{ "recipient", 's' },
	[NOTIFY_COL_METADATA] =	{ "metadata", 'j' },
	[NOTIFY_COL_STATUS] =	{ "status", 's' },
	[NOTIFY_COL_ATTEMPTS] =	{ "attempts", 'i' },
	[NOTIFY_COL_LAST_ERROR] =	{ "lastError", 's' },
	[NOTIFY_COL_SENT_AT] =	{ "sentAt", 'i' },
	[NOTIFY_COL_MESSAGE_ID] =	{ "messageId", 's' },
	[NOTIFY_COL_CREATED_AT] =	{ "createdAt", 'i' },
	[NOTIFY_COL_UPDATED_AT] =	{ "updatedAt", 'i' },
	[NOTIFY_COL_REQUEUES] =	{ "requeues", 'i' },
};

/* One row in the seed's shape plus the delivery fields. */
static json_t *
api_notify_row(const PGresult *res, int i)
{
	json_t *j = json_object(), *v;
	int c;

	for (c = 0; c < NOTIFY_COL_PERMANENT; c++) {
		if (api_notify_members[c].kind == 'i')
			v = api_db_col_int(res, i, c);
		else if (api_notify_members[c].kind == 'j')
			v = api_db_col_jsonb(res, i, c);
		else
			v = api_db_col_str(res, i, c);
		json_object_set_new(j, api_notify_members[c].name, v);
	}
	json_object_set_new(j, "permanent",
	    json_boolean(*PQgetvalue(res, i, NOTIFY_COL_PERMANENT) == 't'));
	if (!PQgetisnull(res, i, NOTIFY_COL_FROM))
		json_object_set_new(j, "from",
		    api_db_col_str(res, i, NOTIFY_COL_FROM));
	json_object_set_new(j, "sendAt", api_db_col_int(res, i,
	    NOTIFY_COL_SEND_AT));
	api_template_row(j, res, i, NOTIFY_COL_TEMPLATE);
	api_suppress_notif_cols(j, res, i, NOTIFY_COL_CATEGORY);
	return j;
}


/* Sending needs the producer, which exists only with email.enabled. */
static bool
api_notify_disabled(struct http_req *r, struct http_resp *rs)
{
	if (api_ctx_of(r)->notify != NULL)
		return false;
	http_error(rs, 503, "email delivery is disabled (email.enabled)", NULL);
	return true;
}

/* A refused body: e's status, the field first in the message and named. */
static void
api_notify_refuse(struct http_resp *rs, const struct notif_error *e)
{
	char msg[256];

	if (e->field != NULL)
		snprintf(msg, sizeof(msg), "%s %s", e->field, e->msg);
	else
		snprintf(msg, sizeof(msg), "%s", e->msg);
	http_error(rs, e->status, msg, e->field);
}

/*
 * Content type, JSON, fields: 415 / 400 / 413 / 422 with the field named.
 * A body with a template is rendered first (tu) and its rendering is
 * what is validated; the body returned is the client's, for the hash.
 */
static json_t *
api_notify_parse(struct http_req *r, struct http_resp *rs, struct notif_input *in,
    struct api_template_use *tu)
{
	struct notif_error e;
	json_t *body, *vb;

	if (!http_content_json(r, rs))
		return NULL;
	if ((body = notif_parse(r->body ? r->body : "", r->body_len,
	    &e)) == NULL) {
		api_notify_refuse(rs, &e);
		return NULL;
	}
	if ((vb = api_template_body(r, rs, body, tu)) == NULL) {
		json_decref(body);
		return NULL;
	}
	if (notif_validate(vb, conf, (size_t)conf->email_max_content, in,
	    &e) == -1) {
		api_template_refused(tu, &e);
		api_notify_refuse(rs, &e);
		json_decref(body);
		return NULL;
	}
	return body;
}

/* The Idempotency-Key header, when present, must be short and clean. */
static int
api_notify_key(struct http_req *r, struct http_resp *rs, const char **key)
{
	*key = http_header(r, "Idempotency-Key");
	if (*key != NULL && !notif_key_valid(*key)) {
		http_error(rs, 400, "Idempotency-Key must be 1 to 255 visible "
		    "ASCII characters (0x21-0x7E)", "Idempotency-Key");
		return -1;
	}
	return 0;
}

static const char api_notify_sql_by_key[] =
    "SELECT " NOTIFY_COLS ", request_hash FROM email_notifications "
    "WHERE idempotency_key = $1";

/*
 * Commits the row, in a group commit with the other requests in flight.
 * -1 after answering the failure (api_db_fail: 503, 422 or 500); 0 when
 * the key was seen before; 1 stored.
 */
static int
api_notify_insert(struct http_req *r, struct http_resp *rs,
    const struct notif_input *in, const char *key, const char *hash,
    const char *send_at, const struct api_template_use *tu,
    struct api_store_req *q, const char *category)
{
	char *uid = json_dumps(in->user_id, JSON_ENCODE_ANY | JSON_COMPACT);
	char *meta = in->metadata ? json_dumps(in->metadata, JSON_COMPACT |
	    JSON_REAL_PRECISION(15)) : NULL;

	memset(q, 0, sizeof(*q));
	q->state = API_STORE_ERROR;
	q->key = key;
	q->hash = key ? hash : NULL;
	q->title = in->title;
	q->content = in->content;
	q->user_id = uid;
	q->recipient = in->recipient;
	q->type = in->type;
	q->from = in->from;
	q->metadata = meta;
	q->send_at = send_at;
	api_template_store(tu, q);
	q->category = category;
	if (uid == NULL || (in->metadata != NULL && meta == NULL))
		snprintf(q->err, sizeof(q->err), "out of memory");
	else
		api_store_insert(api_ctx_of(r)->notify->store, q);
	free(uid);
	free(meta);
	if (q->state == API_STORE_LIMITED)
		return api_store_rate_refuse(rs, q), -1;
	if (q->state != API_STORE_ERROR)
		return q->state == API_STORE_NEW ? 1 : 0;
	api_db_fail(r, rs, q->dbclass, q->err);
	return -1;
}

/* A replayed Idempotency-Key: the original, or 409 if the body changed. */
static void
api_notify_replay(struct http_req *r, struct http_resp *rs, const char *key,
    const char *hash)
{
	const char *p[1] = { key };
	PGresult *res;

	if ((res = api_db_query(r, rs, api_notify_sql_by_key, 1, p)) == NULL)
		return;
	if (PQntuples(res) == 0)
		http_error(rs, 503, "idempotency key race; retry", NULL);
	else if (strcmp(PQgetvalue(res, 0, NOTIFY_BY_KEY_HASH), hash) != 0)
		http_error(rs, 409, "Idempotency-Key was used with a different body",
		    "Idempotency-Key");
	else {
		http_json(rs, 202, api_notify_row(res, 0));
		http_resp_header(rs, "Location", NOTIFY_PATH "/%s",
		    PQgetvalue(res, 0, NOTIFY_COL_ID));
	}
	PQclear(res);
}

/*
 * Produces the id without waiting for Kafka's ack: the row is committed,
 * the ack marks it queued, and the sweeper requeues it if none comes.
 */
static void
api_notify_enqueue(struct http_req *r, int64_t id, const char *type)
{
	(void)queue_send_to(api_ctx_of(r)->notify->queue,
	    channel_topic(conf, type), id);
}

static json_t *
api_notify_accepted(const struct notif_input *in, int64_t id, int64_t at,
    const struct api_schedule *sched)
{
	const char *status = sched->later ? "SCHEDULED" : "PROCESSING";
	json_t *j = json_object();

	json_object_set_new(j, "id", json_integer(id));
	json_object_set_new(j, "type", json_string(in->type));
	json_object_set_new(j, "title", json_string(in->title));
	json_object_set_new(j, "content", json_string(in->content));
	json_object_set(j, "userId", in->user_id);
	json_object_set_new(j, "recipient", json_string(in->recipient));
	json_object_set(j, "metadata", in->metadata ? in->metadata : json_null());
	json_object_set_new(j, "status", json_string(status));
	json_object_set_new(j, "createdAt", json_integer(at));
	json_object_set_new(j, "updatedAt", json_integer(at));
	api_schedule_show(j, sched);
	return j;
}

void
api_notify_create(struct http_req *r, struct http_resp *rs)
{
	struct notif_input in;
	struct api_store_req q;
	struct api_schedule sched;
	struct api_template_use tu = { 0 };
	const char *key, *category;
	char hash[24], *canon;
	json_t *body, *j;
	int stored;

	if (api_notify_disabled(r, rs))
		return;
	if ((body = api_notify_parse(r, rs, &in, &tu)) == NULL ||
	    api_notify_key(r, rs, &key) == -1 ||
	    api_schedule_parse(body, rs, &sched) == -1 ||
	    api_suppress_category(body, &category, rs) == -1)
		goto out;
	canon = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)
	    notif_hash(canon ? canon : "", canon ? strlen(canon) : 0));
	free(canon);
	if ((stored = api_notify_insert(r, rs, &in, key, hash,
	    api_schedule_send_at(&sched), &tu, &q, category)) == -1)
		goto out;
	if (stored == 0) {
		api_notify_replay(r, rs, key, hash);
		goto out;
	}
	stats_add(CTR_NOTIF_ACCEPTED, 1);
	if (q.suppressed[0] != '\0')
		stats_add(CTR_NOTIF_SUPPRESSED, 1);
	/* PROCESSING as the Go service answers: committed, and handed to
	 * the store thread to produce (the sweeper if Kafka is away). */
	j = api_notify_accepted(&in, q.id, q.at, &sched);
	api_suppress_accepted(j, category, q.suppressed);
	http_json(rs, 202, j);
	api_template_members(&tu, rs->json);
	http_resp_header(rs, "Location", NOTIFY_PATH "/%lld", (long long)q.id);
out:
	api_template_use_free(&tu);
	json_decref(body);
}

static const char api_notify_sql_get[] =
    "SELECT " NOTIFY_COLS ", (SELECT coalesce(json_agg(json_build_object("
    " 'attempt', a.attempt, 'at', extract(epoch from a.at),"
    " 'smtpCode', a.smtp_code, 'smtpText', a.smtp_text,"
    " 'code', a.smtp_code, 'text', a.smtp_text,"
    " 'outcome', a.outcome) ORDER BY a.attempt), '[]')"
    " FROM email_attempts a WHERE a.notification_id = n.id) "
    "FROM email_notifications n WHERE id = $1";

void
api_notify_get(struct http_req *r, struct http_resp *rs)
{
	const char *p[1];
	PGresult *res;
	json_t *j;

	if ((p[0] = api_db_path_id(r, rs, "no such notification")) == NULL ||
	    (res = api_db_query(r, rs, api_notify_sql_get, 1, p)) == NULL)
		return;
	if (PQntuples(res) == 0)
		http_error(rs, 404, "no such notification", "id");
	else {
		j = api_notify_row(res, 0);
		json_object_set_new(j, "history", api_db_col_jsonb(res, 0,
		    NOTIFY_GET_HISTORY));
		http_json(rs, 200, j);
	}
	PQclear(res);
}

static const char api_notify_sql_list[] =
    "SELECT " NOTIFY_COLS " FROM email_notifications "
    "WHERE ($1::text IS NULL OR ((status = $1 OR ($1 = 'PROCESSING'"
    "  AND status = 'PENDING')) AND " NOTIFY_STATUS " = $1)) "
    " AND ($2::text IS NULL OR recipient = $2) "
    " AND ($3::text IS NULL OR user_id = to_jsonb($3::text) "
    "      OR ($3 ~ '^-?[0-9]{1,18}$' AND user_id = to_jsonb($3::bigint))) "
    " AND ($4::bigint IS NULL OR id < $4) "
    "ORDER BY id DESC LIMIT $5";

static bool
api_notify_status_ok(const char *s)
{
	return s == NULL || strcmp(s, "PENDING") == 0 ||
	    strcmp(s, "PROCESSING") == 0 || strcmp(s, "SENT") == 0 ||
	    strcmp(s, "FAILED") == 0 || strcmp(s, "SCHEDULED") == 0 ||
	    strcmp(s, "CANCELLED") == 0 || strcmp(s, "SUPPRESSED") == 0;
}

/* Newest first; "next" is the cursor for ?after= when more may follow. */
void
api_notify_list(struct http_req *r, struct http_resp *rs)
{
	static const char *const known[] = { "status", "recipient", "userId",
	    "limit", "after", NULL };
	char lim[24], aft[24];
	long long limit, after;
	const char *p[5];
	json_t *arr, *last = NULL;
	PGresult *res;
	int i;

	if (!http_params_known(r, known, rs) ||
	    http_param_int(r, "limit", 50, 1, 1000, &limit, rs) == -1 ||
	    http_param_int(r, "after", 0, 1, (1LL << 62), &after, rs) == -1)
		return;
	if (!api_notify_status_ok(http_query(r, "status"))) {
		http_error(rs, 400, "status must be PENDING, PROCESSING, SENT, "
		    "FAILED, SCHEDULED, CANCELLED or SUPPRESSED", "status");
		return;
	}
	snprintf(lim, sizeof(lim), "%lld", limit);
	snprintf(aft, sizeof(aft), "%lld", after);
	p[0] = http_query(r, "status");
	p[1] = http_query(r, "recipient");
	p[2] = http_query(r, "userId");
	p[3] = after > 0 ? aft : NULL;
	p[4] = lim;
	if ((res = api_db_query(r, rs, api_notify_sql_list, 5, p)) == NULL)
		return;
	arr = json_array();
	for (i = 0; i < PQntuples(res); i++)
		json_array_append_new(arr, api_notify_row(res, i));
	if (PQntuples(res) == limit)
		last = api_db_col_int(res, PQntuples(res) - 1, NOTIFY_COL_ID);
	PQclear(res);
	http_json(rs, 200, json_pack("{s:o,s:o}", "notifications", arr, "next",
	    last ? last : json_null()));
}

static const char api_notify_sql_retry[] =
    "UPDATE email_notifications SET status = 'PENDING', permanent = false,"
    " next_attempt_at = NULL, lease_until = NULL, queued_at = NULL,"
    " updated_at = now() "
    "WHERE id = $1 AND status = 'FAILED' RETURNING id, type";

/* Requeues a FAILED notification by hand (permanent ones too). */
void
api_notify_retry(struct http_req *r, struct http_resp *rs)
{
	const char *p[1];
	char type[32] = "EMAIL";
	PGresult *res;
	int n;

	if (api_notify_disabled(r, rs) ||
	    (p[0] = api_db_path_id(r, rs, "no such notification")) == NULL ||
	    (res = api_db_query(r, rs, api_notify_sql_retry, 1, p)) == NULL)
		return;
	if ((n = PQntuples(res)) > 0)
		snprintf(type, sizeof(type), "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	if (n == 0) {
		api_notify_get(r, rs);	/* 404, or the row to explain the 409 */
		if (rs->status == 200)
			http_error(rs, 409, "only a FAILED notification can be "
			    "retried", "status");
		return;
	}
	log_info("notification %s: requeued by request", p[0]);
	api_notify_enqueue(r, strtoll(p[0], NULL, 10), type);
	api_notify_get(r, rs);
	if (rs->status == 200)
		rs->status = 202;
}

/* POST .../{id}/cancel: the row, CANCELLED (api_schedule.c decides). */
void
api_notify_cancel(struct http_req *r, struct http_resp *rs)
{
	if (api_schedule_cancel(r, rs) == 0)
		api_notify_get(r, rs);
}
