/*
 * audit_offsets.c - where the audit role stands, in PostgreSQL: the
 * group's offsets (kafka_offsets), the per topic-partition counts and
 * high-water marks (audit_topic_stats) and the replay guard built on
 * them.
 *
 * Owns their SQL, run inside the batch's transaction by audit_batch.c;
 * never talks to Kafka beyond reading topic names, never logs.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "db.h"

/* Text arrays for unnest(): '{"topic",...}', '{0,...}', '{42,...}',
 * then the rows and newest Kafka timestamps per partition. */
struct audit_arrays {
	struct db_arr	 t, p, o, n, k;
	const char	*tv, *pv, *ov, *nv, *kv;	/* the closed literals */
};

static void
audit_arrays_add(struct audit_arrays *a, const char *topic, int32_t part,
    int64_t off)
{
	db_arr_text(&a->t, topic);
	db_arr_int(&a->p, part);
	db_arr_int(&a->o, off);
}

/* Closes the arrays ('{}' when empty); -1 when out of memory. */
static int
audit_arrays_end(struct audit_arrays *a)
{
	a->tv = db_arr_end(&a->t);
	a->pv = db_arr_end(&a->p);
	a->ov = db_arr_end(&a->o);
	a->nv = db_arr_end(&a->n);
	a->kv = db_arr_end(&a->k);
	return a->tv != NULL && a->pv != NULL && a->ov != NULL &&
	    a->nv != NULL && a->kv != NULL ? 0 : -1;
}

static void
audit_arrays_free(struct audit_arrays *a)
{
	db_arr_free(&a->t);
	db_arr_free(&a->p);
	db_arr_free(&a->o);
	db_arr_free(&a->n);
	db_arr_free(&a->k);
}

/*
 * The offsets, and the counts of the rows the COPY added (n = 0 after
 * the replay path, which counted its own).  Ordered by topic and
 * partition: concurrent writers never deadlock.
 */
static const char audit_sql_offsets_save[] =
    "WITH u AS (SELECT * FROM unnest($2::text[], $3::integer[],"
    "  $4::bigint[], $5::bigint[], $6::bigint[]) AS u(t, p, o, n, k)),"
    " off AS (INSERT INTO kafka_offsets (group_id, topic, partition,"
    "  \"offset\") SELECT $1, t, p, o FROM u ORDER BY t, p"
    " ON CONFLICT (group_id, topic, partition) DO UPDATE"
    " SET \"offset\" = GREATEST(kafka_offsets.\"offset\", EXCLUDED.\"offset\"),"
    "  updated_at = now())"
    " INSERT INTO audit_topic_stats AS s"
    " SELECT t, p, n, o, now(), CASE WHEN k >= 0 THEN"
    "  timestamptz 'epoch' + k * interval '1 millisecond' END"
    " FROM u WHERE n > 0 ORDER BY t, p"
    " ON CONFLICT (source_topic, partition) DO UPDATE"
    " SET count = s.count + EXCLUDED.count,"
    "  last_offset = GREATEST(s.last_offset, EXCLUDED.last_offset),"
    "  last_seen = GREATEST(s.last_seen, EXCLUDED.last_seen),"
    "  last_kafka_ts = GREATEST(s.last_kafka_ts, EXCLUDED.last_kafka_ts)";

/* Moves each partition's stored offset up to the batch's last one and,
 * when counted (the COPY path), its row count on. */
int
audit_offsets_save(PGconn *c, const char *group, const struct audit_batch *b,
    bool counted, char *err, size_t len)
{
	struct audit_arrays a;
	const char *params[6];
	PGresult *r = NULL;
	int i;

	memset(&a, 0, sizeof(a));
	for (i = 0; i < b->npos; i++) {
		audit_arrays_add(&a, rd_kafka_topic_name(b->pos[i].rkt),
		    b->pos[i].partition, b->pos[i].offset);
		db_arr_int(&a.n, counted ? b->pos[i].count : 0);
		db_arr_int(&a.k, b->pos[i].kafka_ts);
	}
	if (audit_arrays_end(&a) == -1)
		snprintf(err, len, "out of memory");
	else {
		params[0] = group;
		params[1] = a.tv;
		params[2] = a.pv;
		params[3] = a.ov;
		params[4] = a.nv;
		params[5] = a.kv;
		r = db_query(c, audit_sql_offsets_save, 6, params, err, len);
	}
	audit_arrays_free(&a);
	PQclear(r);
	return r != NULL ? 0 : -1;
}

/*
 * The replay guard.  A unique key on the time-partitioned table would
 * have to include created_at, which differs between two copies of one
 * message; instead audit_topic_stats.last_offset is the highest offset
 * recorded per topic-partition, and every writer locks its partitions'
 * rows there before it commits.  A partition seen for the first time
 * gets its row from what the table already holds.
 */
/* The partitions without a row first (MATERIALIZED: the count over the
 * table runs for those only, never for every batch). */
static const char audit_sql_guard_rows[] =
    "WITH u AS MATERIALIZED (SELECT t, p"
    "  FROM unnest($1::text[], $2::integer[]) AS u(t, p)"
    "  WHERE NOT EXISTS (SELECT 1 FROM audit_topic_stats s"
    "  WHERE s.source_topic = u.t AND s.partition = u.p))"
    " INSERT INTO audit_topic_stats"
    " SELECT u.t, u.p, h.n, coalesce(h.o, -1), now(), NULL FROM u,"
    "  LATERAL (SELECT count(*) AS n, max(e.\"offset\") AS o"
    "  FROM audit_events e WHERE e.source_topic = u.t"
    "  AND e.partition = u.p) h"
    " ORDER BY u.t, u.p ON CONFLICT DO NOTHING";
/* Locks in topic, partition order (writers never deadlock) and counts
 * the partitions whose batch starts at or below what is recorded. */
static const char audit_sql_guard[] =
    "WITH l AS (SELECT s.last_offset, u.f FROM audit_topic_stats s"
    "  JOIN unnest($1::text[], $2::integer[], $3::bigint[]) AS u(t, p, f)"
    "  ON s.source_topic = u.t AND s.partition = u.p"
    "  ORDER BY s.source_topic, s.partition FOR UPDATE OF s)"
    " SELECT count(*) FROM l WHERE last_offset >= f";

/* Locks the batch's partitions; how many overlap what is recorded, -1. */
int
audit_guard(PGconn *c, const struct audit_batch *b, char *err, size_t len)
{
	struct audit_arrays a;
	const char *params[3];
	PGresult *r = NULL;
	int i, n = -1;

	memset(&a, 0, sizeof(a));
	for (i = 0; i < b->npos; i++)
		audit_arrays_add(&a, rd_kafka_topic_name(b->pos[i].rkt),
		    b->pos[i].partition, b->pos[i].first);
	if (audit_arrays_end(&a) == -1)
		snprintf(err, len, "out of memory");
	else {
		params[0] = a.tv;
		params[1] = a.pv;
		params[2] = a.ov;
		if ((r = db_query(c, audit_sql_guard_rows, 2, params, err,
		    len)) != NULL) {
			PQclear(r);
			if ((r = db_query(c, audit_sql_guard, 3, params, err,
			    len)) != NULL)
				n = atoi(PQgetvalue(r, 0, 0));
		}
	}
	audit_arrays_free(&a);
	PQclear(r);
	return n;
}

/* Appends an array literal as a quoted SQL literal, then sep. */
static void
audit_close_arg(PGconn *c, struct buf *out, const char *arr, const char *sep)
{
	char *lit = PQescapeLiteral(c, arr, strlen(arr));

	if (lit == NULL) {
		out->oom = true;
		return;
	}
	buf_printf(out, "%s%s", lit, sep);
	PQfreemem(lit);
}

/*
 * Appends "SELECT audit_batch_close(...)" for the batch (sql/012): the
 * guard, the offsets and the counts in one statement.  Its arguments are
 * literals, not parameters, because it travels in one simple-query
 * string with the COMMIT (and maybe the next BEGIN and COPY), which is
 * what saves the round trips.  -1 when out of memory.
 */
int
audit_offsets_close_sql(PGconn *c, const char *group,
    const struct audit_batch *b, struct buf *out)
{
	struct audit_arrays a;
	struct db_arr first = { 0 };
	const char *fv;
	int i;

	memset(&a, 0, sizeof(a));
	for (i = 0; i < b->npos; i++) {
		audit_arrays_add(&a, rd_kafka_topic_name(b->pos[i].rkt),
		    b->pos[i].partition, b->pos[i].offset);
		db_arr_int(&first, b->pos[i].first);
		db_arr_int(&a.n, b->pos[i].count);
		db_arr_int(&a.k, b->pos[i].kafka_ts);
	}
	fv = db_arr_end(&first);
	if (audit_arrays_end(&a) == 0 && fv != NULL) {
		buf_printf(out, "SELECT audit_batch_close(");
		audit_close_arg(c, out, group, ", ");
		audit_close_arg(c, out, a.tv, "::text[], ");
		audit_close_arg(c, out, a.pv, "::integer[], ");
		audit_close_arg(c, out, fv, "::bigint[], ");
		audit_close_arg(c, out, a.ov, "::bigint[], ");
		audit_close_arg(c, out, a.nv, "::bigint[], ");
		audit_close_arg(c, out, a.kv, "::bigint[])");
	} else
		out->oom = true;
	audit_arrays_free(&a);
	db_arr_free(&first);
	return buf_str(out) != NULL ? 0 : -1;
}

/* ---- offsets on assignment ---- */

static const char audit_sql_offsets_load[] =
    "SELECT o.topic, o.partition, o.\"offset\" FROM kafka_offsets o"
    " JOIN unnest($2::text[], $3::integer[]) AS u(t, p)"
    "  ON o.topic = u.t AND o.partition = u.p"
    " WHERE o.group_id = $1";

/*
 * Sets each partition's start: after its stored offset, or missing
 * (RD_KAFKA_OFFSET_BEGINNING or _END) when the group has none.
 */
int
audit_offsets_load(PGconn *c, const char *group,
    rd_kafka_topic_partition_list_t *parts, int64_t missing, char *err,
    size_t len)
{
	rd_kafka_topic_partition_t *tp;
	struct audit_arrays a;
	const char *params[3];
	PGresult *r = NULL;
	int i;

	memset(&a, 0, sizeof(a));
	for (i = 0; i < parts->cnt; i++)
		audit_arrays_add(&a, parts->elems[i].topic,
		    parts->elems[i].partition, 0);
	if (audit_arrays_end(&a) == -1)
		snprintf(err, len, "out of memory");
	else {
		params[0] = group;
		params[1] = a.tv;
		params[2] = a.pv;
		r = db_query(c, audit_sql_offsets_load, 3, params, err, len);
	}
	audit_arrays_free(&a);
	if (r == NULL)
		return -1;
	for (i = 0; i < parts->cnt; i++)
		parts->elems[i].offset = missing;
	for (i = 0; i < PQntuples(r); i++)
		if ((tp = rd_kafka_topic_partition_list_find(parts,
		    PQgetvalue(r, i, 0), atoi(PQgetvalue(r, i, 1)))) != NULL)
			tp->offset = strtoll(PQgetvalue(r, i, 2), NULL, 10) + 1;
	PQclear(r);
	return 0;
}
