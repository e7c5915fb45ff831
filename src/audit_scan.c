/*
 * audit_scan.c - the audit log's fast reading of a plain JSON message.
 *
 * Owns one thing: reading the seed's fields out of a JSON object in one
 * pass, without building a jansson tree.  Profiled (2026-11-30), jansson
 * and its mallocs were 65% of the audit role's CPU, and the role shares
 * two cores with the PostgreSQL backend it feeds.  It answers only when
 * the result cannot differ from audit_extract()'s jansson path: every
 * string plain ASCII without escapes, every field read a string, no key
 * read twice, shallow nesting.  Anything else (arrays at the top, a
 * numeric id, \u escapes, UTF-8, invalid JSON) returns 0 and the caller
 * parses with jansson as before.  Pure: no I/O, no allocation.
 */
#include "config.h"

#include <string.h>

#include "audit_scan.h"
#include "util.h"

#define AUDIT_SCAN_DEPTH	32	/* deeper: let jansson judge */
#define AUDIT_SCAN_NUMMAX	15	/* longer numbers: jansson's range */

/* The keys read, per level: the root's and the payload's. */
static const char *const audit_scan_names[] = {
	"type", "event_type", "eventType",		/* 0-2 */
	"correlation_id", "correlationId",		/* 3-4 */
	"source", "source_service",			/* 5-6 */
	"customer_id", "customerId",			/* 7-8 */
	"runner_id", "runnerId",			/* 9-10 */
	"order_id", "orderId",				/* 11-12 */
};
#define AUDIT_SCAN_NNAMES	13
/* First and one past the last name of each field, in audit_field order. */
static const int audit_scan_span[AUDIT_SCAN_NFIELDS][2] = {
	{ 0, 3 }, { 3, 5 }, { 5, 7 }, { 7, 9 }, { 9, 11 }, { 11, 13 },
};

struct audit_scan {
	const char	*p, *end;
	int		 depth;
	struct audit_scan_field found[2][AUDIT_SCAN_NNAMES];	/* root, payload */
	int		 payload;	/* 1: an object "payload" was read */
};

static int audit_scan_value(struct audit_scan *s);
static int audit_scan_object(struct audit_scan *s, int level);

static void
audit_scan_ws(struct audit_scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* A string without escapes or non-ASCII bytes; 0 or -1 (jansson's). */
static int
audit_scan_string(struct audit_scan *s, struct audit_scan_field *out)
{
	const char *q;

	if (s->p >= s->end || *s->p != '"')
		return -1;
	for (q = ++s->p; q < s->end && *q != '"'; q++)
		if (*q == '\\' || (unsigned char)*q < 0x20 ||
		    (unsigned char)*q >= 0x80)
			return -1;
	if (q >= s->end)
		return -1;
	if (out != NULL) {
		out->p = s->p;
		out->len = (size_t)(q - s->p);
	}
	s->p = q + 1;
	return 0;
}

/* Which name a key is, or -1. */
static int
audit_scan_name(const struct audit_scan_field *k)
{
	int i;

	for (i = 0; i < AUDIT_SCAN_NNAMES; i++)
		if (strlen(audit_scan_names[i]) == k->len &&
		    memcmp(audit_scan_names[i], k->p, k->len) == 0)
			return i;
	return -1;
}

/* One member's value; level 0 root, 1 payload, -1 not read. */
static int
audit_scan_member(struct audit_scan *s, int level, const struct audit_scan_field *k)
{
	struct audit_scan_field *slot;
	int i;

	if (level == 0 && k->len == 7 && memcmp(k->p, "payload", 7) == 0) {
		if (s->payload || s->p >= s->end || *s->p != '{')
			return -1;	/* twice, or not an object */
		s->payload = 1;
		return audit_scan_object(s, 1);
	}
	if (level < 0 || (i = audit_scan_name(k)) < 0)
		return audit_scan_value(s);
	slot = &s->found[level][i];
	if (slot->p != NULL)
		return -1;		/* read twice: jansson keeps the last */
	return audit_scan_string(s, slot);
}

/* An object; level as for audit_scan_member. */
static int
audit_scan_object(struct audit_scan *s, int level)
{
	struct audit_scan_field k;

	if (++s->depth > AUDIT_SCAN_DEPTH)
		return -1;
	s->p++;
	audit_scan_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		audit_scan_ws(s);
		if (audit_scan_string(s, &k) == -1)
			return -1;
		audit_scan_ws(s);
		if (s->p >= s->end || *s->p++ != ':')
			return -1;
		audit_scan_ws(s);
		if (audit_scan_member(s, level, &k) == -1)
			return -1;
		audit_scan_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (s->p >= s->end || *s->p++ != '}')
			return -1;
		s->depth--;
		return 0;
	}
}

static int
audit_scan_array(struct audit_scan *s)
{
	if (++s->depth > AUDIT_SCAN_DEPTH)
		return -1;
	s->p++;
	audit_scan_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		audit_scan_ws(s);
		if (audit_scan_value(s) == -1)
			return -1;
		audit_scan_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (s->p >= s->end || *s->p++ != ']')
			return -1;
		s->depth--;
		return 0;
	}
}

static int
audit_scan_literal(struct audit_scan *s, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
		return -1;
	s->p += n;
	return 0;
}

/* Any value not read as a field: checked, not kept. */
static int
audit_scan_value(struct audit_scan *s)
{
	size_t n;

	if (s->p >= s->end)
		return -1;
	switch (*s->p) {
	case '{':
		return audit_scan_object(s, -1);
	case '[':
		return audit_scan_array(s);
	case '"':
		return audit_scan_string(s, NULL);
	case 't':
		return audit_scan_literal(s, "true");
	case 'f':
		return audit_scan_literal(s, "false");
	case 'n':
		return audit_scan_literal(s, "null");
	}
	n = util_json_numlen(s->p, (size_t)(s->end - s->p), NULL);
	if (n == 0 || n > AUDIT_SCAN_NUMMAX)
		return -1;
	s->p += n;
	return 0;
}

/* The first of a field's names found at level. */
static const struct audit_scan_field *
audit_scan_pick(const struct audit_scan *s, int level, int af)
{
	int i;

	for (i = audit_scan_span[af][0]; i < audit_scan_span[af][1]; i++)
		if (s->found[level][i].p != NULL)
			return &s->found[level][i];
	return NULL;
}

int
audit_scan(struct audit_scan_field out[AUDIT_SCAN_NFIELDS], const char *p,
    size_t len)
{
	struct audit_scan s;
	const struct audit_scan_field *v;
	int af;

	memset(&s, 0, sizeof(s));
	s.p = p;
	s.end = p + len;
	audit_scan_ws(&s);
	if (s.p >= s.end || *s.p != '{' || audit_scan_object(&s, 0) == -1)
		return 0;
	audit_scan_ws(&s);
	if (s.p != s.end)
		return 0;
	for (af = 0; af < AUDIT_SCAN_NFIELDS; af++) {
		v = NULL;
		if (af >= 3 && s.payload)	/* the ids: payload first */
			v = audit_scan_pick(&s, 1, af);
		if (v == NULL)
			v = audit_scan_pick(&s, 0, af);
		out[af].p = v != NULL ? v->p : NULL;
		out[af].len = v != NULL ? v->len : 0;
	}
	return 1;
}
