/*
 * db.c - libpq connections, a pool for threaded roles, migrations.
 *
 * Plumbing only: no SQL of any role lives here but the migration
 * bookkeeping.  Functions return errors in a caller-provided buffer and
 * never log: the caller knows which notification or offset it was.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "util.h"

static void
db_errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

/* The class of this thread's last failure, read by db_errclass(). */
static __thread enum db_class db_last = DB_OK;

enum db_class
db_errclass(void)
{
	return db_last;
}

/* For db_pool.c: a pool wait that timed out is this thread's failure. */
void
db_errclass_set(enum db_class c)
{
	db_last = c;
}

/*
 * What a SQLSTATE means for the one answering for it, first match by
 * code or class.  Pure: the API answers 503 + Retry-After only for
 * DB_UNAVAILABLE and DB_BUSY, and counts only DB_UNAVAILABLE as the
 * database being out.
 */
static const struct {
	const char	*prefix;
	enum db_class	 cls;
} db_classes[] = {
	{ "57014", DB_BUSY },		/* statement_timeout, or cancelled */
	{ "55P03", DB_BUSY },		/* lock_timeout */
	{ "53300", DB_UNAVAILABLE },	/* too many connections */
	{ "25006", DB_UNAVAILABLE },	/* read-only: a standby, a failover */
	{ "3D000", DB_UNAVAILABLE },	/* no such database */
	{ "00", DB_OK },
	{ "08", DB_UNAVAILABLE },	/* connection exceptions */
	{ "57", DB_UNAVAILABLE },	/* shutdown, crash, starting up */
	{ "28", DB_UNAVAILABLE },	/* authentication */
	{ "40", DB_BUSY },		/* serialization failure, deadlock */
	{ "53", DB_BUSY },		/* out of memory, disk full */
	{ "22", DB_DATA },		/* data exception */
	{ "23", DB_DATA },		/* integrity constraint */
	{ "54", DB_DATA },		/* too large (index row, array) */
};

enum db_class
db_classify(const char *state)
{
	size_t i;

	if (state == NULL || strlen(state) != 5)
		return DB_INTERNAL;
	for (i = 0; i < sizeof(db_classes) / sizeof(db_classes[0]); i++)
		if (strncmp(state, db_classes[i].prefix,
		    strlen(db_classes[i].prefix)) == 0)
			return db_classes[i].cls;
	return DB_INTERNAL;
}

/* The server's message without libpq's trailing newline. */
const char *
db_errmsg(const PGresult *res, const PGconn *conn)
{
	static __thread char buf[DB_ERRLEN];
	const char *m = res ? PQresultErrorMessage(res) : "";
	size_t n;

	if (m == NULL || *m == '\0')
		m = conn ? PQerrorMessage(conn) : "unknown error";
	snprintf(buf, sizeof(buf), "%s", m);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return buf;
}

/* Server NOTICEs ("relation already exists, skipping") are not news. */
static void
db_notice(void *arg, const char *msg)
{
}

/* Does conninfo (a string or a URI) set key itself? */
static bool
db_conninfo_sets(const char *conninfo, const char *key)
{
	PQconninfoOption *o, *opts = PQconninfoParse(conninfo, NULL);
	bool set = false;

	for (o = opts; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, key) == 0 && o->val != NULL &&
		    o->val[0] != '\0')
			set = true;
	PQconninfoFree(opts);
	return set;
}

/*
 * Sets the session's statement_timeout: a statement stuck behind a lock
 * then fails (SQLSTATE 57014) instead of holding its caller for as long
 * as the lock lasts.
 */
static int
db_set_timeout(PGconn *c, double secs, char *err, size_t len)
{
	static const char sql[] =
	    "SELECT set_config('statement_timeout', $1, false)";
	const char *p[1];
	char ms[32];
	PGresult *r;

	snprintf(ms, sizeof(ms), "%.0f", secs * 1000 < 1 ? 1 : secs * 1000);
	p[0] = ms;
	if ((r = db_query(c, sql, 1, p, err, len)) == NULL)
		return -1;
	PQclear(r);
	return 0;
}

PGconn *
db_connect(const char *conninfo, char *err, size_t len)
{
	return db_connect_opts(conninfo, NULL, err, len);
}

/*
 * Connects with o's limits.  connect_timeout (whole seconds; libpq makes
 * 1 into 2) is added only when neither conninfo nor PGCONNECT_TIMEOUT
 * sets one: the later keyword wins over the expanded conninfo.
 */
PGconn *
db_connect_opts(const char *conninfo, const struct db_opts *o, char *err,
    size_t len)
{
	const char *keys[3] = { "dbname", NULL, NULL };
	const char *vals[3] = { conninfo, NULL, NULL };
	char ct[16];
	PGconn *c;

	if (o != NULL && o->connect_timeout > 0 &&
	    getenv("PGCONNECT_TIMEOUT") == NULL &&
	    !db_conninfo_sets(conninfo, "connect_timeout")) {
		snprintf(ct, sizeof(ct), "%d", (int)(o->connect_timeout + 0.999));
		keys[1] = "connect_timeout";
		vals[1] = ct;
	}
	db_last = DB_UNAVAILABLE;
	if ((c = PQconnectdbParams(keys, vals, 1)) == NULL) {
		db_errf(err, len, "out of memory");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		db_errf(err, len, "connect: %s", db_errmsg(NULL, c));
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, db_notice, NULL);
	if (o != NULL && o->statement_timeout > 0 &&
	    db_set_timeout(c, o->statement_timeout, err, len) == -1) {
		PQfinish(c);
		return NULL;
	}
	return c;
}

bool
db_broken(PGconn *c)
{
	return c == NULL || PQstatus(c) != CONNECTION_OK;
}

/* r when it succeeded; otherwise NULL, r cleared and err set. */
static PGresult *
db_result(PGresult *r, PGconn *c, char *err, size_t len)
{
	if (PQresultStatus(r) == PGRES_COMMAND_OK ||
	    PQresultStatus(r) == PGRES_TUPLES_OK)
		return r;
	db_last = db_broken(c) ? DB_UNAVAILABLE :
	    db_classify(PQresultErrorField(r, PG_DIAG_SQLSTATE));
	db_errf(err, len, "%s", db_errmsg(r, c));
	PQclear(r);
	return NULL;
}

/* Runs one parameterised statement; the caller clears the result. */
PGresult *
db_query(PGconn *c, const char *sql, int n, const char *const *params,
    char *err, size_t len)
{
	return db_result(PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0),
	    c, err, len);
}

/* The same, the result in binary: no output function on the server. */
PGresult *
db_query_binary(PGconn *c, const char *sql, int n, const char *const *params,
    char *err, size_t len)
{
	return db_result(PQexecParams(c, sql, n, NULL, params, NULL, NULL, 1),
	    c, err, len);
}

/* Each row of res through fn, until fn says stop. */
static void
db_rows_call(PGresult *res, db_row_fn fn, void *arg, bool *stop)
{
	int i;

	for (i = 0; i < PQntuples(res) && !*stop; i++)
		*stop = fn(arg, res, i) == -1;
}

/*
 * A page of rows handed over one by one (single-row mode): the caller
 * formats a row while the server produces the next, and libpq never
 * builds the whole result (cheaper, too: 0.7 against 1.1 ms of client
 * CPU for 1,000 audit rows).  Should single-row mode be refused, the
 * whole result's rows go through fn all the same.
 */
int
db_query_rows(PGconn *c, const char *sql, int n, const char *const *params,
    bool binary, db_row_fn fn, void *arg, char *err, size_t len)
{
	PGresult *r, *last = NULL;
	bool stop = false;

	if (PQsendQueryParams(c, sql, n, NULL, params, NULL, NULL,
	    binary ? 1 : 0) != 1)
		return db_result(NULL, c, err, len) == NULL ? -1 : 0;
	(void)PQsetSingleRowMode(c);
	while ((r = PQgetResult(c)) != NULL) {
		if (PQresultStatus(r) == PGRES_SINGLE_TUPLE ||
		    PQresultStatus(r) == PGRES_TUPLES_OK)
			db_rows_call(r, fn, arg, &stop);
		if (PQresultStatus(r) == PGRES_SINGLE_TUPLE)
			PQclear(r);
		else {
			PQclear(last);
			last = r;
		}
	}
	if ((last = db_result(last, c, err, len)) == NULL)
		return -1;
	PQclear(last);
	return 0;
}

/*
 * Connections this thread prepared statements on, by connection and
 * server pid (a new connection may reuse a freed one's address): knowing
 * it avoids a failed execute, which PostgreSQL logs as an ERROR.
 */
#define DB_PREPARED_MAX 32
/* The largest migration file read; ours are tens of kB. */
#define DB_MIGRATION_MAX	(16 * 1024 * 1024)
static __thread struct {
	const PGconn	*c;
	int		 pid;
	const char	*name;
} db_prepared[DB_PREPARED_MAX];
static __thread unsigned db_prepared_next;

static bool
db_prepared_has(const PGconn *c, const char *name)
{
	int i;

	for (i = 0; i < DB_PREPARED_MAX; i++)
		if (db_prepared[i].c == c && db_prepared[i].name == name &&
		    db_prepared[i].pid == PQbackendPID(c))
			return true;
	return false;
}

static void
db_prepared_add(const PGconn *c, const char *name)
{
	unsigned i = db_prepared_next++ % DB_PREPARED_MAX;

	db_prepared[i].c = c;
	db_prepared[i].pid = PQbackendPID(c);
	db_prepared[i].name = name;
}

/*
 * Runs a named prepared statement, preparing it on first use on this
 * connection: a hot statement is then parsed and planned once, not per
 * call.  name must be a string constant (it is remembered by address).
 * Outside a transaction block only: should the memory above be wrong,
 * the "does not exist" error that sends us to prepare again would abort
 * an open transaction.
 */
PGresult *
db_query_named(PGconn *c, const char *name, const char *sql, int n,
    const char *const *params, char *err, size_t len)
{
	PGresult *r = NULL;
	const char *state;

	if (db_prepared_has(c, name)) {
		r = PQexecPrepared(c, name, n, params, NULL, NULL, 0);
		state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		if (state == NULL || strcmp(state, "26000") != 0)
			return db_result(r, c, err, len);
		PQclear(r);
	}
	r = PQprepare(c, name, sql, n, NULL);
	state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (state != NULL && strcmp(state, "42P05") == 0) {
		PQclear(r);	/* prepared before we forgot it: fine */
	} else if ((r = db_result(r, c, err, len)) == NULL)
		return NULL;
	else
		PQclear(r);
	db_prepared_add(c, name);
	return db_result(PQexecPrepared(c, name, n, params, NULL, NULL, 0), c,
	    err, len);
}

/* Runs statements that return no rows. */
int
db_exec(PGconn *c, const char *sql, char *err, size_t len)
{
	PGresult *r = db_result(PQexec(c, sql), c, err, len);

	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

static const char db_sql_migrations[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version text PRIMARY KEY,"
    " applied_at timestamptz NOT NULL DEFAULT now())";
static const char db_sql_applied[] =
    "SELECT 1 FROM schema_migrations WHERE version = $1";
static const char db_sql_record[] =
    "INSERT INTO schema_migrations (version) VALUES ($1)";

static int
db_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists NNN_name.sql files of dir, sorted; NULL-terminated. */
static char **
db_migration_files(const char *dir, char *err, size_t len)
{
	struct dirent *de;
	char **v = NULL, **nv;
	size_t n = 0, l;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		db_errf(err, len, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		l = strlen(de->d_name);
		if (l < 8 || strcmp(de->d_name + l - 4, ".sql") != 0 ||
		    de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if ((nv = realloc(v, sizeof(*v) * (n + 2))) == NULL)
			break;
		v = nv;
		if ((v[n] = strdup(de->d_name)) == NULL)
			break;
		v[++n] = NULL;
	}
	closedir(d);
	if (v == NULL && (v = calloc(1, sizeof(*v))) == NULL)
		return NULL;
	qsort(v, n, sizeof(*v), db_cmp);
	return v;
}

static int
db_apply_one(PGconn *c, const char *dir, const char *file, char *err,
    size_t len)
{
	const char *params[1] = { file };
	char path[4096], why[DB_ERRLEN];
	PGresult *r;
	char *sql;
	int done;

	if ((r = db_query(c, db_sql_applied, 1, params, err, len)) == NULL)
		return -1;
	done = PQntuples(r) > 0;
	PQclear(r);
	if (done)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((sql = util_read_file(path, DB_MIGRATION_MAX, NULL)) == NULL) {
		db_errf(err, len, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (db_exec(c, "BEGIN", why, sizeof(why)) == -1 ||
	    db_exec(c, sql, why, sizeof(why)) == -1 ||
	    (r = db_query(c, db_sql_record, 1, params, why, sizeof(why))) == NULL) {
		db_errf(err, len, "%s: %s", path, why);
		free(sql);
		(void)!db_exec(c, "ROLLBACK", NULL, 0);
		return -1;
	}
	PQclear(r);
	free(sql);
	if (db_exec(c, "COMMIT", why, sizeof(why)) == -1) {
		db_errf(err, len, "%s: commit: %s", path, why);
		return -1;
	}
	return 1;
}

/*
 * Applies pending migrations in order, each in its own transaction,
 * under an advisory lock so several instances starting at once do not
 * race.  Returns how many were applied, or -1.
 */
int
db_migrate(PGconn *c, const char *dir, char *err, size_t len)
{
	char **files;
	int i, rc, applied = 0;

	if (db_exec(c, "SELECT pg_advisory_lock(72710001)", err, len) == -1 ||
	    db_exec(c, db_sql_migrations, err, len) == -1)
		return -1;
	if ((files = db_migration_files(dir, err, len)) == NULL)
		applied = -1;
	for (i = 0; applied >= 0 && files[i] != NULL; i++) {
		if ((rc = db_apply_one(c, dir, files[i], err, len)) == -1)
			applied = -1;
		else
			applied += rc;
	}
	for (i = 0; files != NULL && files[i] != NULL; i++)
		free(files[i]);
	free(files);
	(void)!db_exec(c, "SELECT pg_advisory_unlock(72710001)", NULL, 0);
	return applied;
}

/* Reopens l's connection when it is missing or broken, backing off. */
enum db_link_state
db_link_check(struct db_link *l, char *err, size_t errlen)
{
	bool was_down = l->down;

	if (l->conn != NULL && !db_broken(l->conn))
		return DB_LINK_UP;
	db_link_close(l);
	if (util_now() < l->retry_at) {
		snprintf(err, errlen, "reconnecting in %.1f s",
		    l->retry_at - util_now());
		return DB_LINK_WAITING;
	}
	if ((l->conn = db_connect_opts(l->conninfo, &l->opts, err,
	    errlen)) == NULL) {
		l->down = true;
		l->delay = backoff_next(&l->backoff, NULL);
		l->retry_at = util_now() + l->delay;
		return DB_LINK_FAILED;
	}
	l->down = false;
	l->delay = l->retry_at = 0;
	backoff_reset(&l->backoff);
	return was_down ? DB_LINK_RESTORED : DB_LINK_OPENED;
}

void
db_link_close(struct db_link *l)
{
	PQfinish(l->conn);
	l->conn = NULL;
}

/* The separator before an element: "{" before the first, "," after. */
static void
db_arr_sep(struct db_arr *a)
{
	buf_addc(&a->b, a->n++ > 0 ? ',' : '{');
}

/* Adds a text element, quoted and escaped so any bytes survive. */
void
db_arr_text(struct db_arr *a, const char *s)
{
	const char *p;
	size_t n;

	db_arr_sep(a);
	if (s == NULL) {
		buf_add(&a->b, "NULL", 4);
		return;
	}
	buf_addc(&a->b, '"');
	for (p = s; *p != '\0'; ) {
		n = strcspn(p, "\"\\");
		buf_add(&a->b, p, n);
		if (p[n] == '\0')
			break;
		buf_addc(&a->b, '\\');
		buf_addc(&a->b, p[n]);
		p += n + 1;
	}
	buf_addc(&a->b, '"');
}

void
db_arr_int(struct db_arr *a, long long v)
{
	db_arr_sep(a);
	buf_printf(&a->b, "%lld", v);
}

void
db_arr_float(struct db_arr *a, double v)
{
	db_arr_sep(a);
	buf_printf(&a->b, "%.6f", v);
}

/* Closes the literal ("{}" when empty); NULL when out of memory. */
const char *
db_arr_end(struct db_arr *a)
{
	if (a->n == 0)
		buf_addc(&a->b, '{');
	buf_addc(&a->b, '}');
	return buf_str(&a->b);
}

void
db_arr_free(struct db_arr *a)
{
	buf_free(&a->b);
	a->n = 0;
}
