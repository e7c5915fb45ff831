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
#include <math.h>
#include <stdbool.h>
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

/* A control character as jansson escapes it. */
static void
api_audit_json_ctl(struct buf *b, unsigned c)
{
	char e[6] = { '\\', 'u', '0', '0', 0, 0 };

	switch (c) {
	case '\b': buf_add(b, "\\b", 2); return;
	case '\f': buf_add(b, "\\f", 2); return;
	case '\n': buf_add(b, "\\n", 2); return;
	case '\r': buf_add(b, "\\r", 2); return;
	case '\t': buf_add(b, "\\t", 2); return;
	}
	e[4] = api_audit_json_hex[(c >> 4) & 0xf];
	e[5] = api_audit_json_hex[c & 0xf];
	buf_add(b, e, sizeof(e));
}

void
api_audit_json_str(struct buf *b, const char *s, size_t n)
{
	size_t i, run = 0;

	buf_addc(b, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_add(b, s + run, i - run);
		run = i + 1;
		if (c == '"' || c == '\\') {
			buf_addc(b, '\\');
			buf_addc(b, (char)c);
		} else
			api_audit_json_ctl(b, c);
	}
	buf_add(b, s + run, n - run);
	buf_addc(b, '"');
}

/* A column as a string, or null. */
static void
api_audit_json_col(struct buf *b, const PGresult *res, int i, int col)
{
	if (PQgetisnull(res, i, col))
		buf_add(b, "null", 4);
	else
		api_audit_json_str(b, PQgetvalue(res, i, col),
		    (size_t)PQgetlength(res, i, col));
}

/* An integer column (PostgreSQL prints it as jansson would), or null. */
static void
api_audit_json_int(struct buf *b, const PGresult *res, int i, int col)
{
	if (PQgetisnull(res, i, col))
		buf_add(b, "null", 4);
	else
		buf_add(b, PQgetvalue(res, i, col),
		    (size_t)PQgetlength(res, i, col));
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
		buf_add(b, s, (size_t)n);
		buf_add(b, ".0", 2);
		return;
	}
	if ((e = strchr(s, 'e')) == NULL) {
		buf_add(b, s, (size_t)n);
		return;
	}
	buf_add(b, s, (size_t)(++e - s));
	if (*e == '-')
		buf_addc(b, *e);
	if (*e == '-' || *e == '+')
		e++;
	while (*e == '0' && e[1] != '\0')
		e++;
	buf_add(b, e, strlen(e));
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
		buf_add(b, p, n);	/* the digits jansson would print */
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
		buf_add(b, p + run, i - run);
		if (api_audit_json_uesc(b, p + i) == -1)
			return 0;
		i += 5;
		run = i + 1;
	}
	if (i >= len)
		return 0;
	buf_add(b, p + run, i + 1 - run);
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
			buf_add(b, p, n);
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
	buf_addc(b, p[0]);
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
		buf_add(b, s, strlen(s));
	else if (j != NULL)
		b->oom = true;
	else
		buf_add(b, "null", 4);
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

/* Key names with their separators, in api_audit_kafka_row()'s order. */
static const char *const api_audit_json_keys[16] = {
	"{\"id\":", ",\"notificationId\":", ",\"customerId\":",
	",\"runnerId\":", ",\"orderId\":", ",\"event\":", ",\"status\":",
	",\"createdAt\":", ",\"sourceTopic\":", ",\"eventType\":",
	",\"correlationId\":", ",\"sourceService\":", ",\"partition\":",
	",\"offset\":", ",\"kafkaTimestamp\":", ",\"kafkaTimestampType\":",
};

void
api_audit_json_row(struct buf *b, const PGresult *res, int i)
{
	int c;

	for (c = 0; c < 16; c++) {
		buf_add(b, api_audit_json_keys[c],
		    strlen(api_audit_json_keys[c]));
		if (c == 0 || c == 12 || c == 13)
			api_audit_json_int(b, res, i, c);
		else if (c != 5)
			api_audit_json_col(b, res, i, c);
		else if (PQgetisnull(res, i, c))
			buf_add(b, "null", 4);
		else
			api_audit_json_event(b, PQgetvalue(res, i, c),
			    (size_t)PQgetlength(res, i, c));
	}
	buf_addc(b, '}');
}

void
api_audit_json_rows(struct buf *b, const PGresult *res, int n)
{
	size_t need = 2;
	int i, c;

	/* One allocation for the page: growing by doubling copies it
	 * again at each step, and glibc hands each big step back. */
	for (i = 0; i < n; i++)
		for (c = 0; c < 16; c++)
			need += (size_t)PQgetlength(res, i, c) + 24;
	if (buf_reserve(b, need + need / 8) == -1)
		return;
	buf_addc(b, '[');
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_addc(b, ',');
		api_audit_json_row(b, res, i);
	}
	buf_addc(b, ']');
}
