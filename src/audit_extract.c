/*
 * audit_extract.c - the audit log's reading of a Kafka message.
 *
 * Owns the seed's field fallbacks (type/event_type/eventType, ...,
 * payload or the message itself) and how bytes become JSON (text when
 * they are clean UTF-8, base64 otherwise).  Pure: no I/O, no logging,
 * never fails on any input; a value that is not a JSON object or array
 * simply yields no fields and event_type "unknown".  Numbers too big
 * for jansson are read as their digits (see audit_parse).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_extract.h"
#include "audit_scan.h"
#include "audit_seed.h"
#include "base64.h"
#include "utf8.h"
#include "util.h"

/* Names tried in order, per field; NULL-terminated. */
static const char *const audit_names[AUDIT_F_MAX][4] = {
	[AUDIT_F_EVENT_TYPE] =	{ "type", "event_type", "eventType", NULL },
	[AUDIT_F_CORRELATION_ID] =	{ "correlation_id", "correlationId", NULL },
	[AUDIT_F_SOURCE_SERVICE] =	{ "source", "source_service", NULL },
	[AUDIT_F_CUSTOMER_ID] =	{ "customer_id", "customerId", NULL },
	[AUDIT_F_RUNNER_ID] =	{ "runner_id", "runnerId", NULL },
	[AUDIT_F_ORDER_ID] =		{ "order_id", "orderId", NULL },
};

/* The column name of a field, for logs and tests. */
const char *
audit_field_name(enum audit_field af)
{
	static const char *const names[AUDIT_F_MAX] = { "event_type",
	    "correlation_id", "source_service", "customer_id", "runner_id",
	    "order_id" };

	return af < AUDIT_F_MAX ? names[af] : "?";
}

bool
audit_utf8_text(const void *vp, size_t len)
{
	return utf8_valid(vp, len);
}

size_t
audit_utf8_cut(const char *p, size_t len, size_t max)
{
	if (len <= max)
		return len;
	/* Step back over continuation bytes to a lead byte. */
	while (max > 0 && ((unsigned char)p[max] & 0xc0) == 0x80)
		max--;
	return max;
}

/* A scalar as text: strings as they are, numbers printed, else NULL. */
static void
audit_scalar(struct audit_fields *f, enum audit_field af, json_t *v)
{
	struct audit_str *s = &f->f[af];

	if (json_is_string(v)) {
		s->p = json_string_value(v);
		s->len = json_string_length(v);
		/* \u0000 cannot be stored in a text column: cut there. */
		s->len = strnlen(s->p, s->len);
	} else if (json_is_integer(v)) {
		snprintf(f->num[af], sizeof(f->num[af]), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		s->p = f->num[af];
		s->len = strlen(s->p);
	} else if (json_is_real(v)) {
		/* As the seed's str() printed it: 1.0, 0.1, 1e+16. */
		audit_seed_float(json_real_value(v), f->num[af],
		    sizeof(f->num[af]));
		s->p = f->num[af];
		s->len = strlen(s->p);
	} else if (json_is_boolean(v) && af >= AUDIT_F_CUSTOMER_ID) {
		/* The seed's str(True): an id the seed would match. */
		s->p = json_is_true(v) ? "True" : "False";
		s->len = strlen(s->p);
	} else
		return;
	s->len = audit_utf8_cut(s->p, s->len, AUDIT_FIELD_MAX);
}

/* The first of a field's names present in obj with a usable value. */
static void
audit_lookup(struct audit_fields *f, enum audit_field af, json_t *obj)
{
	const char *const *name;

	for (name = audit_names[af]; *name != NULL; name++) {
		audit_scalar(f, af, json_object_get(obj, *name));
		if (f->f[af].p != NULL)
			return;
	}
}

/* True when jansson refuses the number: beyond json_int_t or double. */
static bool
audit_number_overflows(const char *p, size_t n)
{
	char buf[512];
	double d;

	if (n >= sizeof(buf))
		return true;	/* no long long or usual double is this long */
	memcpy(buf, p, n);
	buf[n] = '\0';
	errno = 0;
	if (strcspn(buf, ".eE") == n) {
		(void)strtoll(buf, NULL, 10);
		return errno == ERANGE;
	}
	d = strtod(buf, NULL);
	return errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL);
}

/*
 * A copy of the JSON text p with the numbers jansson cannot hold
 * (123456789012345678901234567890, 1e400) turned into strings of the
 * same digits; strings are skipped.  NULL when out of memory.
 */
static char *
audit_quote_numbers(const char *p, size_t len, size_t *outlen)
{
	size_t i = 0, o = 0, n;
	bool str = false;
	char *out;

	if ((out = malloc(len * 2 + 1)) == NULL)
		return NULL;
	while (i < len) {
		if (str) {
			if (p[i] == '\\' && i + 1 < len)
				out[o++] = p[i++];
			else if (p[i] == '"')
				str = false;
			out[o++] = p[i++];
		} else if ((p[i] == '-' || (p[i] >= '0' && p[i] <= '9')) &&
		    (n = util_json_numlen(p + i, len - i, NULL)) > 0) {
			bool q = audit_number_overflows(p + i, n);
			if (q)
				out[o++] = '"';
			memcpy(out + o, p + i, n);
			o += n;
			i += n;
			if (q)
				out[o++] = '"';
		} else {
			str = p[i] == '"';
			out[o++] = p[i++];
		}
	}
	*outlen = o;
	return out;
}

/*
 * Parses JSON text (any value).  Valid JSON with numbers beyond
 * jansson's range (PostgreSQL's jsonb takes them) is parsed again with
 * those numbers as strings of their digits, so it still counts as JSON
 * and its fields can still be read.
 */
json_t *
audit_json_load(const char *p, size_t len)
{
	json_error_t jerr;
	json_t *root;
	size_t n;
	char *q;

	root = json_loadb(p, len, JSON_DECODE_ANY, &jerr);
	if (root != NULL || json_error_code(&jerr) != json_error_numeric_overflow)
		return root;
	if ((q = audit_quote_numbers(p, len, &n)) == NULL)
		return NULL;
	root = json_loadb(q, n, JSON_DECODE_ANY, NULL);
	free(q);
	return root;
}

/* Parses only what may be a JSON object or array: text starts quickly. */
static json_t *
audit_parse(const char *p, size_t len)
{
	size_t i = 0;

	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' ||
	    p[i] == '\r'))
		i++;
	if (i == len || (p[i] != '{' && p[i] != '['))
		return NULL;
	return audit_json_load(p, len);
}

static void audit_extract_tree(struct audit_fields *f);
static void audit_extract_unknown(struct audit_fields *f);

void
audit_extract(struct audit_fields *f, const void *value, size_t len)
{
	struct audit_scan_field sf[AUDIT_SCAN_NFIELDS];
	int af;

	/* The common plain object without a jansson tree (audit_scan.c). */
	if (value == NULL || audit_scan(sf, value, len) != 1) {
		audit_extract_parsed(f, value, len);
		return;
	}
	f->root = NULL;
	f->json = true;
	for (af = 0; af < AUDIT_F_MAX; af++) {
		f->f[af].p = sf[af].p;
		f->f[af].len = sf[af].p != NULL ?
		    audit_utf8_cut(sf[af].p, sf[af].len, AUDIT_FIELD_MAX) : 0;
	}
	audit_extract_unknown(f);
}

void
audit_extract_parsed(struct audit_fields *f, const void *value, size_t len)
{
	memset(f->f, 0, sizeof(f->f));
	f->root = value != NULL ? audit_parse(value, len) : NULL;
	f->json = f->root != NULL;
	audit_extract_tree(f);
	audit_extract_unknown(f);
}

/* An absent or empty type reads "unknown", as the seed's. */
static void
audit_extract_unknown(struct audit_fields *f)
{
	if (f->f[AUDIT_F_EVENT_TYPE].p == NULL || f->f[AUDIT_F_EVENT_TYPE].len == 0) {
		f->f[AUDIT_F_EVENT_TYPE].p = "unknown";
		f->f[AUDIT_F_EVENT_TYPE].len = 7;
	}
}

/* The fields from jansson's tree, by the seed's fallbacks. */
static void
audit_extract_tree(struct audit_fields *f)
{
	json_t *payload;
	int af;

	if (json_is_object(f->root)) {
		audit_lookup(f, AUDIT_F_EVENT_TYPE, f->root);
		audit_lookup(f, AUDIT_F_CORRELATION_ID, f->root);
		audit_lookup(f, AUDIT_F_SOURCE_SERVICE, f->root);
		payload = json_object_get(f->root, "payload");
		if (!json_is_object(payload))
			payload = f->root;
		for (af = AUDIT_F_CUSTOMER_ID; af <= AUDIT_F_ORDER_ID; af++) {
			audit_lookup(f, af, payload);
			if (f->f[af].p == NULL && payload != f->root)
				audit_lookup(f, af, f->root);
		}
	}
}

void
audit_extract_clear(struct audit_fields *f)
{
	json_decref(f->root);
	f->root = NULL;
}

/* Standard base64 with padding, as a jansson string. */
static json_t *
audit_base64(const unsigned char *p, size_t len)
{
	json_t *j;
	char *out;
	size_t o;

	if ((out = malloc(BASE64_LEN(len) + 1)) == NULL)
		return NULL;
	o = base64_encode(p, len, out);
	j = json_stringn(out, o);
	free(out);
	return j;
}

json_t *
audit_bytes_json(const void *p, size_t len, const char **encoding)
{
	if (p == NULL) {
		*encoding = NULL;
		return json_null();
	}
	if (audit_utf8_text(p, len)) {
		*encoding = "utf-8";
		return json_stringn(p, len);
	}
	*encoding = "base64";
	return audit_base64(p, len);
}

json_t *
audit_header_json(const char *name, const void *value, size_t len)
{
	const char *enc, *kenc;
	json_t *h = json_object(), *k, *v;

	k = audit_bytes_json(name, strlen(name), &kenc);
	v = audit_bytes_json(value, len, &enc);
	if (h == NULL || k == NULL || v == NULL) {
		json_decref(h);
		json_decref(k);
		json_decref(v);
		return NULL;
	}
	json_object_set_new(h, "key", k);
	if (strcmp(kenc, "utf-8") != 0)
		json_object_set_new(h, "keyEncoding", json_string(kenc));
	json_object_set_new(h, "value", v);
	if (enc != NULL)
		json_object_set_new(h, "encoding", json_string(enc));
	return h;
}
