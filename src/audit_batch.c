/*
 * audit_batch.c - the audit role's batch: binary COPY encoding, and the
 * one transaction that writes its rows and its offsets together.
 *
 * Owns the audit_events COPY format, the replay path (a unique violation
 * or a value PostgreSQL refuses as jsonb: staged, then INSERT ... ON
 * CONFLICT DO NOTHING) and the kafka_offsets SQL.  Never talks to Kafka
 * beyond reading the messages it was handed, and never logs: audit.c
 * decides what a failure means.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "audit_extract.h"
#include "db.h"
#include "log.h"
#include "util.h"

#define AUDIT_NCOLS	15
#define AUDIT_COLS \
	"source_topic, partition, \"offset\", key, value, headers, kafka_ts, " \
	"kafka_ts_type, event, event_type, correlation_id, source_service, " \
	"customer_id, runner_id, order_id"
#define AUDIT_PG_EPOCH_MS 946684800000LL	/* 2000-01-01 in unix ms */
#define AUDIT_CHUNK	(1 << 20)		/* bytes per CopyData message */

static const char audit_copy_header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

static void
audit_put32(struct buf *b, uint32_t v)
{
	unsigned char *p = (unsigned char *)b->p + b->len;

	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
	b->len += 4;
}

static void
audit_put64(struct buf *b, uint64_t v)
{
	audit_put32(b, (uint32_t)(v >> 32));
	audit_put32(b, (uint32_t)v);
}

/* One field: its length then its bytes; p NULL is SQL NULL.  jsonb
 * fields (version > 0) carry their format version byte first. */
static int
audit_put_field(struct buf *b, const void *p, size_t len, int version)
{
	size_t extra = version > 0 ? 1 : 0;

	if (buf_reserve(b, 4 + extra + len) == -1)
		return -1;
	if (p == NULL) {
		audit_put32(b, 0xffffffffu);
		return 0;
	}
	audit_put32(b, (uint32_t)(len + extra));
	if (extra)
		b->p[b->len++] = (char)version;
	memcpy(b->p + b->len, p, len);
	b->len += len;
	return 0;
}

static int
audit_put_int(struct buf *b, uint64_t v, int bytes)
{
	if (buf_reserve(b, 4 + (size_t)bytes) == -1)
		return -1;
	audit_put32(b, (uint32_t)bytes);
	if (bytes == 4)
		audit_put32(b, (uint32_t)v);
	else
		audit_put64(b, v);
	return 0;
}

/* The headers as a jsonb array, or NULL when the message has none. */
static int
audit_put_headers(struct buf *b, const rd_kafka_message_t *m)
{
	rd_kafka_headers_t *hdrs;
	const char *name;
	const void *val;
	size_t i, size, n;
	json_t *a, *h;
	int rc = -1;

	if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    rd_kafka_header_cnt(hdrs) == 0)
		return audit_put_field(b, NULL, 0, 0);
	if ((a = json_array()) == NULL)
		return -1;
	for (i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) ==
	    RD_KAFKA_RESP_ERR_NO_ERROR; i++)
		if ((h = audit_header_json(name, val, size)) == NULL ||
		    json_array_append_new(a, h) == -1)
			goto out;
	n = json_dumpb(a, NULL, 0, JSON_COMPACT);
	if (n == 0 || buf_reserve(b, 5 + n) == -1)
		goto out;
	audit_put32(b, (uint32_t)(n + 1));
	b->p[b->len++] = 1;
	b->len += json_dumpb(a, b->p + b->len, n, JSON_COMPACT);
	rc = 0;
out:
	json_decref(a);
	return rc;
}

/* Kafka's timestamp (ms) and its type, or two NULLs. */
static int
audit_put_ts(struct buf *b, const rd_kafka_message_t *m)
{
	rd_kafka_timestamp_type_t type;
	int64_t ts = rd_kafka_message_timestamp(m, &type);

	if (type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ts < 0)
		return audit_put_field(b, NULL, 0, 0) == -1 ? -1 :
		    audit_put_field(b, NULL, 0, 0);
	if (audit_put_int(b, (uint64_t)((ts - AUDIT_PG_EPOCH_MS) * 1000), 8) ==
	    -1)
		return -1;
	return type == RD_KAFKA_TIMESTAMP_CREATE_TIME ?
	    audit_put_field(b, "create", 6, 0) :
	    audit_put_field(b, "log_append", 10, 0);
}

/*
 * Appends one message as a COPY row.  For the staging table (stage)
 * the event goes as text, so PostgreSQL may refuse it row by row.
 */
static int
audit_encode(struct buf *b, const rd_kafka_message_t *m, bool stage)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	struct audit_fields f;
	int i, rc = -1;

	audit_extract(&f, m->payload, m->len);
	if (buf_reserve(b, 2) == -1)
		goto out;
	b->p[b->len++] = 0;
	b->p[b->len++] = AUDIT_NCOLS;
	if (audit_put_field(b, topic, strlen(topic), 0) == -1 ||
	    audit_put_int(b, (uint32_t)m->partition, 4) == -1 ||
	    audit_put_int(b, (uint64_t)m->offset, 8) == -1 ||
	    audit_put_field(b, m->key, m->key_len, 0) == -1 ||
	    audit_put_field(b, m->payload, m->len, 0) == -1 ||
	    audit_put_headers(b, m) == -1 || audit_put_ts(b, m) == -1 ||
	    audit_put_field(b, f.json ? m->payload : NULL, m->len,
	    stage ? 0 : 1) == -1)
		goto out;
	for (i = 0; i < AUDIT_F_MAX; i++)
		if (audit_put_field(b, f.f[i].p, f.f[i].len, 0) == -1)
			goto out;
	rc = 0;
out:
	audit_extract_clear(&f);
	return rc;
}

/* The batch's position entry for a message's partition, made if new. */
static struct audit_pos *
audit_pos_find(struct audit_batch *b, const rd_kafka_message_t *m)
{
	struct audit_pos *p;
	int i;

	if (b->last < b->npos && b->pos[b->last].rkt == m->rkt &&
	    b->pos[b->last].partition == m->partition)
		return &b->pos[b->last];
	for (i = 0; i < b->npos; i++)
		if (b->pos[i].rkt == m->rkt && b->pos[i].partition == m->partition)
			return &b->pos[b->last = i];
	if (b->npos == b->poscap) {
		int cap = b->poscap ? b->poscap * 2 : 64;
		if ((p = realloc(b->pos, sizeof(*p) * (size_t)cap)) == NULL)
			return NULL;
		b->pos = p;
		b->poscap = cap;
	}
	p = &b->pos[b->last = b->npos++];
	p->rkt = m->rkt;
	p->partition = m->partition;
	p->offset = -1;
	p->count = 0;
	p->kafka_ts = -1;
	return p;
}

/* Counts m in its partition's entry, for audit_topic_stats. */
static void
audit_pos_count(struct audit_pos *p, const rd_kafka_message_t *m)
{
	rd_kafka_timestamp_type_t type;
	int64_t ts = rd_kafka_message_timestamp(m, &type);

	if (p->count++ == 0 || m->offset < p->first)
		p->first = m->offset;
	if (type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ts > p->kafka_ts)
		p->kafka_ts = ts;
}

/* Starts the COPY data with the binary format's signature and header. */
static int
audit_batch_start(struct audit_batch *b)
{
	if (buf_reserve(&b->copy, sizeof(audit_copy_header)) == -1)
		return -1;
	memcpy(b->copy.p, audit_copy_header, sizeof(audit_copy_header));
	b->copy.len = sizeof(audit_copy_header);
	return 0;
}

/* Takes m into the batch (it is destroyed with the batch), or -1. */
int
audit_batch_add(struct audit_batch *b, rd_kafka_message_t *m)
{
	struct audit_pos *p;
	size_t mark;

	if (b->n == b->cap) {
		int cap = b->cap ? b->cap * 2 : 1024;
		rd_kafka_message_t **nm = realloc(b->msg, sizeof(*nm) *
		    (size_t)cap);
		if (nm == NULL)
			return -1;
		b->msg = nm;
		b->cap = cap;
	}
	if (b->copy.len == 0 && audit_batch_start(b) == -1)
		return -1;
	mark = b->copy.len;
	if ((p = audit_pos_find(b, m)) == NULL ||
	    audit_encode(&b->copy, m, false) == -1) {
		b->copy.len = mark;
		return -1;
	}
	if (m->offset > p->offset)
		p->offset = m->offset;
	audit_pos_count(p, m);
	if (b->n == 0)
		b->started_us = util_now_us();
	b->msg[b->n++] = m;
	return 0;
}

/* Forgets every message, keeping the buffers for the next batch. */
void
audit_batch_clear(struct audit_batch *b)
{
	int i;

	for (i = 0; i < b->n; i++)
		rd_kafka_message_destroy(b->msg[i]);
	b->n = 0;
	b->npos = 0;
	b->last = 0;
	buf_reset(&b->copy);
	b->sent = 0;
	b->stream = NULL;
	b->stream_failed = false;
}

void
audit_batch_free(struct audit_batch *b)
{
	audit_batch_clear(b);
	free(b->msg);
	free(b->pos);
	buf_free(&b->copy);
	memset(b, 0, sizeof(*b));
}

/*
 * Names a partition position in the log context (JSON members topic,
 * partition, offset; offset left out when negative, a logical one).
 * The caller clears it with log_ctx_clear() after its lines.
 */
void
audit_log_ctx_part(const char *topic, int32_t partition, int64_t offset)
{
	log_ctx_str("topic", topic);
	log_ctx_int("partition", partition);
	if (offset >= 0)
		log_ctx_int("offset", offset);
}

/* The log context of one consumed message. */
void
audit_log_ctx(const rd_kafka_message_t *m)
{
	audit_log_ctx_part(m->rkt ? rd_kafka_topic_name(m->rkt) : "-",
	    m->partition, m->offset);
}

/*
 * Removes the messages of revoked partitions (their new owner starts
 * from the offsets in the database) and re-encodes the rest.
 */
int
audit_batch_drop(struct audit_batch *b,
    const rd_kafka_topic_partition_list_t *parts)
{
	rd_kafka_message_t *m;
	int i, n = b->n, rc = 0;
	int64_t started = b->started_us;

	audit_batch_unstream(b);
	b->n = 0;
	b->npos = 0;
	b->last = 0;
	buf_reset(&b->copy);
	for (i = 0; i < n; i++) {
		m = b->msg[i];
		if (rc == 0 && rd_kafka_topic_partition_list_find(parts,
		    rd_kafka_topic_name(m->rkt), m->partition) == NULL &&
		    (rc = audit_batch_add(b, m)) == 0)
			continue;
		rd_kafka_message_destroy(m);	/* revoked, or out of memory */
	}
	if (b->n > 0)
		b->started_us = started;
	return rc;
}

/* ---- the transaction ---- */

#define AUDIT_SQL_COPY \
    "COPY audit_events (" AUDIT_COLS ") FROM STDIN (FORMAT binary)"
static const char audit_sql_copy[] = AUDIT_SQL_COPY;
static const char audit_sql_stage[] =
    "CREATE TEMP TABLE IF NOT EXISTS audit_stage ("
    " n bigint GENERATED ALWAYS AS IDENTITY, source_topic text,"
    " partition integer, \"offset\" bigint, key bytea, value bytea,"
    " headers jsonb, kafka_ts timestamptz, kafka_ts_type text, event text,"
    " event_type text, correlation_id text, source_service text,"
    " customer_id text, runner_id text, order_id text)"
    " ON COMMIT DELETE ROWS";
static const char audit_sql_stage_copy[] =
    "COPY audit_stage (" AUDIT_COLS ") FROM STDIN (FORMAT binary)";
/* Only rows no copy of is recorded, in any time partition, and above
 * what retention dropped (the guard's locks keep other writers of these
 * partitions out meanwhile); only the rows really added are counted. */
static const char audit_sql_replay[] =
    "WITH ins AS (INSERT INTO audit_events (" AUDIT_COLS ")"
    " SELECT source_topic, partition, \"offset\", key, value, headers,"
    "  kafka_ts, kafka_ts_type, audit_try_jsonb(event), event_type,"
    "  correlation_id, source_service, customer_id, runner_id, order_id"
    " FROM audit_stage s WHERE NOT EXISTS (SELECT 1 FROM audit_events e"
    "  WHERE e.source_topic = s.source_topic AND e.partition = s.partition"
    "  AND e.\"offset\" = s.\"offset\")"
    " AND s.\"offset\" > coalesce((SELECT t.dropped_through"
    "  FROM audit_topic_stats t WHERE t.source_topic = s.source_topic"
    "  AND t.partition = s.partition), -1) ORDER BY n"
    " RETURNING source_topic, partition, \"offset\", kafka_ts, created_at),"
    " st AS (INSERT INTO audit_topic_stats AS s"
    " SELECT source_topic, partition, count(*), max(\"offset\"),"
    "  max(created_at), max(kafka_ts) FROM ins GROUP BY 1, 2 ORDER BY 1, 2"
    " ON CONFLICT (source_topic, partition) DO UPDATE"
    " SET count = s.count + EXCLUDED.count,"
    "  last_offset = GREATEST(s.last_offset, EXCLUDED.last_offset),"
    "  last_seen = GREATEST(s.last_seen, EXCLUDED.last_seen),"
    "  last_kafka_ts = GREATEST(s.last_kafka_ts, EXCLUDED.last_kafka_ts))"
    " SELECT count(*) FROM ins";

/* Keeps the server's message and SQLSTATE of a failed result. */
static void
audit_result_error(PGresult *r, PGconn *c, char *state, char *err,
    size_t len)
{
	const char *s = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) :
	    NULL;

	snprintf(state, 6, "%s", s != NULL ? s : "");
	snprintf(err, len, "%s", db_errmsg(r, c));
}

/* Starts a COPY ... FROM STDIN. */
static int
audit_copy_begin(PGconn *c, const char *sql, char *state, char *err,
    size_t len)
{
	PGresult *r = PQexec(c, sql);
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COPY_IN) {
		audit_result_error(r, c, state, err, len);
		rc = -1;
	}
	PQclear(r);
	return rc;
}

/* Sends buf from byte off on, in CopyData messages of bounded size. */
static int
audit_copy_send(PGconn *c, const struct buf *buf, size_t off)
{
	size_t n;

	for (; off < buf->len; off += n) {
		n = buf->len - off < AUDIT_CHUNK ? buf->len - off : AUDIT_CHUNK;
		if (PQputCopyData(c, buf->p + off, (int)n) != 1)
			return -1;
	}
	return 0;
}

/* Ends the COPY (with its trailer when ok) and reads its outcome. */
static int
audit_copy_end(PGconn *c, int ok, char *state, char *err, size_t len)
{
	PGresult *r;
	int rc = 0;

	ok = ok && PQputCopyData(c, "\377\377", 2) == 1;
	if (PQputCopyEnd(c, ok ? NULL : "client gave up") != 1)
		ok = 0;
	while ((r = PQgetResult(c)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0) {
			audit_result_error(r, c, state, err, len);
			rc = -1;
		}
		PQclear(r);
	}
	if (!ok && rc == 0) {
		audit_result_error(NULL, c, state, err, len);
		rc = -1;
	}
	return rc;
}

/* Runs a COPY ... FROM STDIN with buf (a binary body but its trailer). */
static int
audit_copy(PGconn *c, const char *sql, const struct buf *buf,
    char *state, char *err, size_t len)
{
	if (audit_copy_begin(c, sql, state, err, len) == -1)
		return -1;
	return audit_copy_end(c, audit_copy_send(c, buf, 0) == 0, state, err,
	    len);
}

/*
 * Streaming: while the batch fills, its COPY is already open and fed,
 * so the server inserts while we consume.  The whole encoding stays in
 * the batch, so a stream that fails is simply redone at commit.
 */
void
audit_batch_stream(struct audit_batch *b, PGconn *c)
{
	char state[6], err[DB_ERRLEN];

	if (b->stream_failed || b->n == 0)
		return;
	if (b->stream == NULL) {
		if (db_exec(c, "BEGIN", err, sizeof(err)) == -1 ||
		    audit_copy_begin(c, audit_sql_copy, state, err,
		    sizeof(err)) == -1) {
			b->stream_failed = true;
			if (!db_broken(c))
				(void)!db_exec(c, "ROLLBACK", NULL, 0);
			return;
		}
		b->stream = c;
		b->sent = 0;
	}
	if (audit_copy_send(c, &b->copy, b->sent) == -1)
		b->stream_failed = true;
	else
		b->sent = b->copy.len;
}

/*
 * Gives up an open stream (its rows are sent again at commit).  With
 * nothing sent yet (a COPY opened ahead for rows that did not come) it
 * ends as an empty COPY, so the server logs no error for it.
 */
void
audit_batch_unstream(struct audit_batch *b)
{
	char state[6], err[DB_ERRLEN];
	PGconn *c = b->stream;
	int ok;

	ok = b->sent == 0;
	b->stream = NULL;
	b->sent = 0;
	b->stream_failed = false;
	if (c == NULL || db_broken(c))
		return;
	ok = ok && PQputCopyData(c, audit_copy_header,
	    sizeof(audit_copy_header)) == 1;
	(void)audit_copy_end(c, ok, state, err, sizeof(err));
	(void)!db_exec(c, "ROLLBACK", NULL, 0);
}

/* A COPY for the next rows is open on c (audit_batch_commit chained it). */
void
audit_batch_adopt(struct audit_batch *b, PGconn *c)
{
	b->stream = c;
	b->sent = 0;
	b->stream_failed = false;
}

/* Stages the batch with the event as text, then inserts what is new. */
static int
audit_replay(PGconn *c, struct audit_batch *b, int *recorded, char *state,
    char *err, size_t len)
{
	struct buf stage = { 0 };
	PGresult *r;
	int i, rc = -1;

	if (audit_guard(c, b, err, len) == -1 ||
	    db_exec(c, audit_sql_stage, err, len) == -1 ||
	    buf_reserve(&stage, sizeof(audit_copy_header)) == -1)
		goto out;
	memcpy(stage.p, audit_copy_header, sizeof(audit_copy_header));
	stage.len = sizeof(audit_copy_header);
	for (i = 0; i < b->n; i++)
		if (audit_encode(&stage, b->msg[i], true) == -1) {
			snprintf(err, len, "out of memory");
			goto out;
		}
	if (audit_copy(c, audit_sql_stage_copy, &stage, state, err, len) == -1 ||
	    (r = db_query(c, audit_sql_replay, 0, NULL, err, len)) == NULL)
		goto out;
	*recorded = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	rc = 0;
out:
	buf_free(&stage);
	return rc;
}

/*
 * Reads the results of audit_close's string in order: the close, the
 * COMMIT, then maybe BEGIN and the COPY.  1: committed and the next COPY
 * is open; 0: committed; -1: not committed (state and err set).
 */
static int
audit_close_results(PGconn *c, char *state, char *err, size_t len)
{
	PGresult *r;
	ExecStatusType st;
	int i, rc = -1;

	for (i = 0; (r = PQgetResult(c)) != NULL; i++) {
		st = PQresultStatus(r);
		if (st == PGRES_COPY_IN) {
			PQclear(r);	/* the COPY waits for its data */
			if (rc == 0)
				return 1;
			(void)PQputCopyEnd(c, "not committed");
			continue;
		}
		if (i == 1 && st == PGRES_COMMAND_OK &&
		    strcmp(PQcmdStatus(r), "COMMIT") == 0)
			rc = 0;
		else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
		    rc == -1 && state[0] == '\0')
			audit_result_error(r, c, state, err, len);
		PQclear(r);
	}
	if (rc == 0 && i > 2)	/* committed, but BEGIN or COPY failed */
		(void)!db_exec(c, "ROLLBACK", NULL, 0);
	if (rc == -1 && state[0] == '\0' && err[0] == '\0')
		snprintf(err, len, "%s", db_errmsg(NULL, c));
	return rc;
}

/*
 * Ends a batch whose rows are in: the guard, the offsets and the counts
 * (one function, sql/012), the COMMIT and, when chain (more messages are
 * waiting), the next batch's BEGIN and COPY, in one simple-query string.
 * Run as separate statements these cost PostgreSQL five waits for the
 * client per batch, and planning each statement every time; profiled,
 * that was ~10% of the server's time per row against psql's COPY.
 */
static int
audit_close(PGconn *c, const char *group, const struct audit_batch *b,
    bool chain, char *state, char *err, size_t len)
{
	struct buf sql = { 0 };
	int rc = -1;

	err[0] = '\0';
	if (audit_offsets_close_sql(c, group, b, &sql) == -1)
		snprintf(err, len, "out of memory");
	else {
		buf_printf(&sql, chain ? "; COMMIT; BEGIN; " AUDIT_SQL_COPY :
		    "; COMMIT");
		if (buf_str(&sql) == NULL)
			snprintf(err, len, "out of memory");
		else if (PQsendQuery(c, sql.p) != 1)
			snprintf(err, len, "%s", db_errmsg(NULL, c));
		else
			rc = audit_close_results(c, state, err, len);
	}
	buf_free(&sql);
	return rc;
}

/*
 * One transaction: the rows (by COPY, or the replay path) and offsets.
 * 1 when committed with the next COPY open (chain), 0 committed, -1 not.
 */
static int
audit_tx(PGconn *c, const char *group, struct audit_batch *b, bool replay,
    bool chain, int *recorded, char *state, char *err, size_t len)
{
	int rc;

	state[0] = '\0';
	if (!replay && b->stream == c && !b->stream_failed)
		rc = audit_copy_end(c, audit_copy_send(c, &b->copy, b->sent) ==
		    0, state, err, len);
	else {
		audit_batch_unstream(b);
		if (db_exec(c, "BEGIN", err, len) == -1)
			return -1;
		rc = replay ? audit_replay(c, b, recorded, state, err, len) :
		    audit_copy(c, audit_sql_copy, &b->copy, state, err, len);
	}
	b->stream = NULL;
	b->stream_failed = false;
	if (rc == 0 && !replay &&
	    (rc = audit_close(c, group, b, chain, state, err, len)) >= 0) {
		*recorded = b->n;	/* an overlap raised 23505: replay */
		return rc;
	}
	if (rc == 0 && replay &&
	    audit_offsets_save(c, group, b, false, err, len) == 0 &&
	    db_exec(c, "COMMIT", err, len) == 0)
		return 0;
	if (!db_broken(c))
		(void)!db_exec(c, "ROLLBACK", NULL, 0);
	return -1;
}

/*
 * Commits the batch and its offsets.  A unique violation (rows another
 * consumer or an earlier attempt already committed) or a value the
 * server refuses sends the batch down the replay path; anything else is
 * for the caller to retry with the same batch.
 */
enum audit_commit
audit_batch_commit(PGconn *c, const char *group, struct audit_batch *b,
    bool chain, int *recorded, char *err, size_t len)
{
	char state[6];
	int rc;

	*recorded = 0;
	if (b->n == 0)
		return AUDIT_COMMITTED;
	if ((rc = audit_tx(c, group, b, false, chain, recorded, state, err,
	    len)) >= 0)
		return rc == 1 ? AUDIT_COMMITTED_NEXT : AUDIT_COMMITTED;
	if (db_broken(c) || (strncmp(state, "22", 2) != 0 &&
	    strncmp(state, "23", 2) != 0 && strncmp(state, "54", 2) != 0))
		return AUDIT_RETRY;
	if (audit_tx(c, group, b, true, false, recorded, state, err, len) == 0)
		return AUDIT_COMMITTED;
	return AUDIT_RETRY;
}
