/*
 * api_audit_json.c - /audit/events rows written as JSON text directly.
 *
 * A page of 1,000 rows used to be 16,000 jansson values, the event's
 * tree parsed from jsonb text, then dumped: ~600 KB built and freed per
 * request.  Here each column is appended to one buffer.  The bytes must
 * stay those of json_dumps(JSON_COMPACT | JSON_REAL_PRECISION(15)) of
 * the tree: jsonb prints ", " and ": ", escapes control characters as
 * \u00xx (jansson \u00XX), and keeps numbers as typed (jansson prints
 * reals with %.15g and cannot hold some).  Whatever this file does not
 * know how to copy exactly goes the old way, through jansson.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api_audit_json.h"
#include "audit_extract.h"
#include "util.h"

#define API_AUDIT_JSON_DEPTH	1000	/* jansson refuses past 2048 */
#define API_AUDIT_JSON_NUMMAX	500	/* audit_extract quotes from 512 */

static const char api_audit_json_hex[] = "0123456789ABCDEF";

/* buf_add without the call while the page's reservation lasts (the
 * appends were an eighth of the api's time for a 1,000-row page). */
static inline void
aj_add(struct buf *b, const void *p, size_t n)
{
	if (!b->oom && b->len + n < b->cap) {
		memcpy(b->p + b->len, p, n);
		b->len += n;
	} else
		buf_add(b, p, n);
}

static inline void
aj_addc(struct buf *b, char c)
{
	if (!b->oom && b->len + 1 < b->cap)
		b->p[b->len++] = c;
	else
		buf_add(b, &c, 1);
}

/* A control character as jansson escapes it. */
static void
api_audit_json_ctl(struct buf *b, unsigned c)
{
	char e[6] = { '\\', 'u', '0', '0', 0, 0 };

	switch (c) {
	case '\b': aj_add(b, "\\b", 2); return;
	case '\f': aj_add(b, "\\f", 2); return;
	case '\n': aj_add(b, "\\n", 2); return;
	case '\r': aj_add(b, "\\r", 2); return;
	case '\t': aj_add(b, "\\t", 2); return;
	}
	e[4] = api_audit_json_hex[(c >> 4) & 0xf];
	e[5] = api_audit_json_hex[c & 0xf];
	aj_add(b, e, sizeof(e));
}

void
api_audit_json_str(struct buf *b, const char *s, size_t n)
{
	size_t i, run = 0;

	aj_addc(b, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		aj_add(b, s + run, i - run);
		run = i + 1;
		if (c == '"' || c == '\\') {
			aj_addc(b, '\\');
			aj_addc(b, (char)c);
		} else
			api_audit_json_ctl(b, c);
	}
	aj_add(b, s + run, n - run);
	aj_addc(b, '"');
}

/* A real as jansson's jsonp_dtostr prints it at precision 15. */
static void
api_audit_json_real(struct buf *b, double v)
{
	char s[64], *e;
	int n = snprintf(s, sizeof(s), "%.15g", v);

	if (n <= 0 || (size_t)n >= sizeof(s) - 3)
		return;
	if (strchr(s, '.') == NULL && strchr(s, 'e') == NULL) {
		aj_add(b, s, (size_t)n);
		aj_add(b, ".0", 2);
		return;
	}
	if ((e = strchr(s, 'e')) == NULL) {
		aj_add(b, s, (size_t)n);
		return;
	}
	aj_add(b, s, (size_t)(++e - s));
	if (*e == '-')
		aj_addc(b, *e);
	if (*e == '-' || *e == '+')
		e++;
	while (*e == '0' && e[1] != '\0')
		e++;
	aj_add(b, e, strlen(e));
}

/*
 * Whether the real at p (n bytes, jsonb's plain notation) prints as it
 * is at %.15g: at most 15 significant digits, no zero ending the
 * fraction, and 1e-4 <= |v| < 1e15, which %.15g prints without an
 * exponent.  Such a decimal comes back unchanged from a double (DBL_DIG
 * is 15): no strtod and printf for the common "amount": 39.99.
 */
static bool
api_audit_json_plainreal(const char *p, size_t n)
{
	size_t i = p[0] == '-', dot = i, k, sig = 0, lead = 0;

	while (dot < n && p[dot] >= '0' && p[dot] <= '9')
		dot++;
	if (dot == i || dot + 1 >= n || p[dot] != '.' || p[n - 1] == '0' ||
	    (p[i] == '0' && dot - i != 1))
		return false;
	for (k = i; k < n; k++) {
		if (k == dot)
			continue;
		if (p[k] < '0' || p[k] > '9')
			return false;
		if (sig == 0 && p[k] == '0')
			lead++;
		else
			sig++;
	}
	return sig <= 15 && (p[i] != '0' || lead <= 4);
}

/* The number at p; its length, or 0 when jansson would not hold it. */
static size_t
api_audit_json_num(struct buf *b, const char *p, size_t len)
{
	char s[API_AUDIT_JSON_NUMMAX + 1];
	bool real;
	size_t n = util_json_numlen(p, len, &real);
	long long ll;
	double d;

	if (n == 0 || n > API_AUDIT_JSON_NUMMAX)
		return 0;
	if (!real && n <= 18 && (p[0] != '0' || n == 1) && (p[0] != '-' ||
	    p[1] != '0')) {
		aj_add(b, p, n);	/* the digits jansson would print */
		return n;
	}
	if (real && api_audit_json_plainreal(p, n)) {
		aj_add(b, p, n);
		return n;
	}
	memcpy(s, p, n);
	s[n] = '\0';
	errno = 0;
	if (!real) {
		ll = strtoll(s, NULL, 10);
		if (errno == ERANGE)
			return 0;
		buf_printf(b, "%lld", ll);
		return n;
	}
	d = strtod(s, NULL);
	if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL))
		return 0;
	api_audit_json_real(b, d);
	return n;
}

/* A hex digit's value, or -1. */
static int
api_audit_json_xdigit(char c)
{
	const char *x = strchr("0123456789abcdef", c | 0x20);

	return c != '\0' && x != NULL ? (int)(x - "0123456789abcdef") : -1;
}

/* A \u00xx escape at p (6 bytes there) as jansson prints it; -1 when
 * it is not a control character (jsonb escapes no other), or NUL, which
 * jansson refuses (the old way then printed null). */
static int
api_audit_json_uesc(struct buf *b, const char *p)
{
	int hi = api_audit_json_xdigit(p[4]), lo = api_audit_json_xdigit(p[5]);

	if (p[2] != '0' || p[3] != '0' || hi < 0 || hi > 1 || lo < 0 ||
	    (hi == 0 && lo == 0))
		return -1;
	api_audit_json_ctl(b, (unsigned)(hi << 4 | lo));
	return 0;
}

/* The jsonb string at p (its opening quote); its length, 0 if unknown. */
static size_t
api_audit_json_jstr(struct buf *b, const char *p, size_t len)
{
	size_t i, run = 0;

	for (i = 1; i < len && p[i] != '"'; i++) {
		if ((unsigned char)p[i] < 0x20)
			return 0;
		if (p[i] != '\\')
			continue;
		if (i + 1 >= len)
			return 0;
		if (p[i + 1] != '\0' && strchr("\"\\bfnrt", p[i + 1]) != NULL) {
			i++;
			continue;
		}
		if (p[i + 1] != 'u' || i + 5 >= len)
			return 0;
		aj_add(b, p + run, i - run);
		if (api_audit_json_uesc(b, p + i) == -1)
			return 0;
		i += 5;
		run = i + 1;
	}
	if (i >= len)
		return 0;
	aj_add(b, p + run, i + 1 - run);
	return i + 1;
}

/* The length of a literal true/false/null at p, else 0. */
static size_t
api_audit_json_lit(struct buf *b, const char *p, size_t len)
{
	static const char *const lits[] = { "true", "false", "null" };
	size_t k, n;

	for (k = 0; k < 3; k++) {
		n = strlen(lits[k]);
		if (len >= n && memcmp(p, lits[k], n) == 0) {
			aj_add(b, p, n);
			return n;
		}
	}
	return 0;
}

/* Where the copy of an event stands: nesting, and whether a value just
 * ended (jsonb text is valid JSON; this only keeps a value that is not
 * from taking the fast way: two values in a row, unbalanced brackets). */
struct api_audit_json_pos {
	int	depth;
	bool	value;
};

/* A value at p into b; its length, 0 when unknown. */
static size_t
api_audit_json_value(struct buf *b, const char *p, size_t len,
    struct api_audit_json_pos *s)
{
	if (s->value)
		return 0;
	s->value = true;
	switch (p[0]) {
	case '"':
		return api_audit_json_jstr(b, p, len);
	case 't': case 'f': case 'n':
		return api_audit_json_lit(b, p, len);
	default:
		return api_audit_json_num(b, p, len);
	}
}

/* One token of jsonb text at p into b; its length, 0 when unknown. */
static size_t
api_audit_json_token(struct buf *b, const char *p, size_t len,
    struct api_audit_json_pos *s)
{
	switch (p[0]) {
	case ' ': case '\t': case '\n': case '\r':
		return 1;
	case '{': case '[':
		if (s->value || ++s->depth > API_AUDIT_JSON_DEPTH)
			return 0;
		break;
	case '}': case ']':
		if (--s->depth < 0)
			return 0;
		s->value = true;
		break;
	case ',': case ':':
		if (!s->value)
			return 0;
		s->value = false;
		break;
	default:
		return api_audit_json_value(b, p, len, s);
	}
	aj_addc(b, p[0]);
	return 1;
}

/* The old way: the tree, dumped. */
static void
api_audit_json_slow(struct buf *b, const char *p, size_t n)
{
	json_t *j = audit_json_load(p, n);
	char *s = NULL;

	if (j != NULL)
		s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY |
		    JSON_REAL_PRECISION(15));
	if (s != NULL)
		aj_add(b, s, strlen(s));
	else if (j != NULL)
		b->oom = true;
	else
		aj_add(b, "null", 4);
	free(s);
	json_decref(j);
}

void
api_audit_json_event(struct buf *b, const char *p, size_t n)
{
	struct api_audit_json_pos pos = { 0, false };
	size_t start = b->len, i = 0, k;

	while (i < n) {
		if ((k = api_audit_json_token(b, p + i, n - i, &pos)) == 0) {
			if (b->oom)
				return;
			b->len = start;
			api_audit_json_slow(b, p, n);
			return;
		}
		i += k;
	}
	if (!pos.value || pos.depth != 0) {
		b->len = start;
		api_audit_json_slow(b, p, n);
	}
}

/*
 * The page's result is binary (API_AUDIT_KAFKA_COLS_BIN): the server
 * runs no output function, and the times, which to_char() formatted at
 * a third of the server's cost of a 1,000-row page, are formatted here.
 * Text columns come as their bytes, as in text format.
 */
enum api_audit_json_kind { AJ_TEXT, AJ_EVENT, AJ_INT8, AJ_INT4, AJ_UUID, AJ_TS };

#define AJ_OID_INT8		20
#define AJ_OID_INT4		23
#define AJ_OID_TEXT		25
#define AJ_OID_VARCHAR		1043
#define AJ_OID_TIMESTAMPTZ	1184
#define AJ_OID_UUID		2950

/* Key names with their separators, and each column's kind, in
 * api_audit_kafka_row()'s order. */
#define AJ_KEY(s)	s, sizeof(s) - 1
static const struct {
	const char		*key;
	size_t			 len;
	enum api_audit_json_kind kind;
} api_audit_json_cols[API_AUDIT_JSON_NCOLS] = {
	{ AJ_KEY("{\"id\":"), AJ_INT8 },
	{ AJ_KEY(",\"notificationId\":"), AJ_UUID },
	{ AJ_KEY(",\"customerId\":"), AJ_TEXT },
	{ AJ_KEY(",\"runnerId\":"), AJ_TEXT },
	{ AJ_KEY(",\"orderId\":"), AJ_TEXT },
	{ AJ_KEY(",\"event\":"), AJ_EVENT },
	{ AJ_KEY(",\"status\":"), AJ_TEXT },
	{ AJ_KEY(",\"createdAt\":"), AJ_TS },
	{ AJ_KEY(",\"sourceTopic\":"), AJ_TEXT },
	{ AJ_KEY(",\"eventType\":"), AJ_TEXT },
	{ AJ_KEY(",\"correlationId\":"), AJ_TEXT },
	{ AJ_KEY(",\"sourceService\":"), AJ_TEXT },
	{ AJ_KEY(",\"partition\":"), AJ_INT4 },
	{ AJ_KEY(",\"offset\":"), AJ_INT8 },
	{ AJ_KEY(",\"kafkaTimestamp\":"), AJ_TS },
	{ AJ_KEY(",\"kafkaTimestampType\":"), AJ_TEXT },
};

int
api_audit_json_check(const PGresult *res)
{
	static const Oid want[] = { [AJ_INT8] = AJ_OID_INT8,
	    [AJ_INT4] = AJ_OID_INT4, [AJ_UUID] = AJ_OID_UUID,
	    [AJ_TS] = AJ_OID_TIMESTAMPTZ };
	enum api_audit_json_kind k;
	Oid t;
	int c;

	if (PQnfields(res) < API_AUDIT_JSON_NCOLS)
		return -1;
	for (c = 0; c < API_AUDIT_JSON_NCOLS; c++) {
		k = api_audit_json_cols[c].kind;
		t = PQftype(res, c);
		if (PQfformat(res, c) != 1 || (k == AJ_TEXT || k == AJ_EVENT ?
		    t != AJ_OID_TEXT && t != AJ_OID_VARCHAR : t != want[k]))
			return -1;
	}
	return 0;
}

/* A big-endian binary integer of n bytes. */
static uint64_t
api_audit_json_be(const char *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = v << 8 | (unsigned char)p[i];
	return v;
}

/* v in decimal, as int8out and jansson print it. */
static void
api_audit_json_lld(struct buf *b, int64_t v)
{
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	char s[24];
	int i = sizeof(s);

	do {
		s[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		s[--i] = '-';
	aj_add(b, s + i, sizeof(s) - (size_t)i);
}

/* v zero-padded to width digits (more when it has more) ending at p;
 * returns where it starts. */
static char *
api_audit_json_pad(char *p, unsigned v, int width)
{
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
		width--;
	} while (v != 0 || width > 0);
	return p;
}

/* PostgreSQL's j2date(): a Julian day as a proleptic Gregorian date. */
static void
api_audit_json_j2date(int jd, int *year, int *month, int *day)
{
	unsigned julian = (unsigned)jd + 32044, quad, extra;
	int y;

	quad = julian / 146097;
	extra = (julian - quad * 146097) * 4 + 3;
	julian += 60 + quad * 3 + extra / 146097;
	quad = julian / 1461;
	julian -= quad * 1461;
	y = (int)(julian * 4 / 1461);
	julian = ((y != 0) ? ((julian + 305) % 365) : ((julian + 306) % 366)) +
	    123;
	y += (int)quad * 4;
	*year = y - 4800;
	quad = julian * 2141 / 65536;
	*day = (int)(julian - 7834 * quad / 256);
	*month = (int)((quad + 10) % 12 + 1);
}

#define AJ_USECS_DAY	86400000000LL
#define AJ_J2000	2451545		/* Julian day of 2000-01-01 */

/*
 * A timestamptz (microseconds from 2000-01-01 UTC) as API_AUDIT_ISO's
 * to_char() prints it: null for +-infinity, a year before 1 as to_char's
 * YYYY does (1 BC is 0001, with no era), more than 4 digits past 9999.
 */
static void
api_audit_json_ts(struct buf *b, int64_t us)
{
	int64_t date = us / AJ_USECS_DAY, t = us % AJ_USECS_DAY;
	char s[48], *p = s + sizeof(s);
	int y, m, d;

	if (t < 0) {
		t += AJ_USECS_DAY;
		date--;
	}
	date += AJ_J2000;
	if (us == INT64_MIN || us == INT64_MAX || date < 0 || date > INT_MAX) {
		aj_add(b, "null", 4);	/* to_char: NULL, or out of range */
		return;
	}
	api_audit_json_j2date((int)date, &y, &m, &d);
	p -= 7;
	memcpy(p, "+00:00\"", 7);
	p = api_audit_json_pad(p, (unsigned)(t % 1000000), 6);
	*--p = '.';
	p = api_audit_json_pad(p, (unsigned)(t / 1000000 % 60), 2);
	*--p = ':';
	p = api_audit_json_pad(p, (unsigned)(t / 60000000 % 60), 2);
	*--p = ':';
	p = api_audit_json_pad(p, (unsigned)(t / 3600000000LL), 2);
	*--p = 'T';
	p = api_audit_json_pad(p, (unsigned)d, 2);
	*--p = '-';
	p = api_audit_json_pad(p, (unsigned)m, 2);
	*--p = '-';
	p = api_audit_json_pad(p, (unsigned)(y <= 0 ? 1 - y : y), 4);
	*--p = '"';
	aj_add(b, p, (size_t)(s + sizeof(s) - p));
}

/* A uuid's 16 bytes as uuid_out prints them, quoted. */
static void
api_audit_json_uuid(struct buf *b, const unsigned char *u)
{
	static const char hex[] = "0123456789abcdef";
	char s[38];
	int i, k = 0;

	s[k++] = '"';
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			s[k++] = '-';
		s[k++] = hex[u[i] >> 4];
		s[k++] = hex[u[i] & 0xf];
	}
	s[k++] = '"';
	aj_add(b, s, (size_t)k);
}

/* Column c of row i, by its kind, or null. */
static void
api_audit_json_col(struct buf *b, const PGresult *res, int i, int c)
{
	const char *v = PQgetvalue(res, i, c);
	size_t n = (size_t)PQgetlength(res, i, c);

	if (PQgetisnull(res, i, c)) {
		aj_add(b, "null", 4);
		return;
	}
	switch (api_audit_json_cols[c].kind) {
	case AJ_TEXT: api_audit_json_str(b, v, n); break;
	case AJ_EVENT: api_audit_json_event(b, v, n); break;
	case AJ_INT8: api_audit_json_lld(b, (int64_t)api_audit_json_be(v, 8));
		break;
	case AJ_INT4: api_audit_json_lld(b, (int32_t)(uint32_t)
		api_audit_json_be(v, 4)); break;
	case AJ_UUID: api_audit_json_uuid(b, (const unsigned char *)v); break;
	case AJ_TS: api_audit_json_ts(b, (int64_t)api_audit_json_be(v, 8));
		break;
	}
}

void
api_audit_json_id(struct buf *b, const PGresult *res, int i)
{
	api_audit_json_lld(b, (int64_t)api_audit_json_be(PQgetvalue(res, i, 0),
	    8));
}

void
api_audit_json_row(struct buf *b, const PGresult *res, int i)
{
	int c;

	for (c = 0; c < API_AUDIT_JSON_NCOLS; c++) {
		aj_add(b, api_audit_json_cols[c].key,
		    api_audit_json_cols[c].len);
		api_audit_json_col(b, res, i, c);
	}
	aj_addc(b, '}');
}

void
api_audit_json_rows(struct buf *b, const PGresult *res, int n)
{
	size_t need = 2;
	int i, c;

	/* One allocation for the page: growing by doubling copies it
	 * again at each step, and glibc hands each big step back.  A
	 * binary column prints at most 40 bytes (a quoted uuid: 38). */
	for (i = 0; i < n; i++)
		for (c = 0; c < API_AUDIT_JSON_NCOLS; c++)
			need += (size_t)PQgetlength(res, i, c) + 40;
	if (buf_reserve(b, need + need / 8) == -1)
		return;
	aj_addc(b, '[');
	for (i = 0; i < n; i++) {
		if (i > 0)
			aj_addc(b, ',');
		api_audit_json_row(b, res, i);
	}
	aj_addc(b, ']');
}

void
api_audit_json_page_begin(struct api_audit_json_page *pg, int limit)
{
	memset(pg, 0, sizeof(*pg));
	pg->limit = limit;
	buf_add(&pg->b, "{\"events\":[", 11);
}

/* Room for the whole page once the first row shows its size: growing
 * 600 KB by doubling copies it again at each step. */
static void
api_audit_json_page_reserve(struct api_audit_json_page *pg, size_t row)
{
	size_t need = (row + 1) * (size_t)pg->limit;

	(void)!buf_reserve(&pg->b, need + need / 4);
}

int
api_audit_json_page_row(void *arg, const PGresult *res, int row)
{
	struct api_audit_json_page *pg = arg;
	size_t start = pg->b.len;

	if (pg->n == 0 && api_audit_json_check(res) == -1) {
		pg->bad = true;
		return -1;
	}
	if (pg->n >= pg->limit) {
		pg->more = true;
		return -1;
	}
	if (pg->n > 0)
		aj_addc(&pg->b, ',');
	api_audit_json_row(&pg->b, res, row);
	if (pg->n++ == 0)
		api_audit_json_page_reserve(pg, pg->b.len - start);
	pg->last = (int64_t)api_audit_json_be(PQgetvalue(res, row, 0), 8);
	return 0;
}

void
api_audit_json_page_end(struct api_audit_json_page *pg)
{
	aj_add(&pg->b, "],\"next\":", 9);
	if (pg->more)
		api_audit_json_lld(&pg->b, pg->last);
	else
		aj_add(&pg->b, "null", 4);
	aj_addc(&pg->b, '}');
}
