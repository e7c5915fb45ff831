/*
 * audit_seed.c - a recorded message as seed 003's code showed it.
 *
 * Owns the transcription of the seed's poll_kafka_once() (type,
 * correlation_id, source with their defaults; payload or the message;
 * ids through Python's str(); 'None', 'null' and '' as missing) and of
 * to_dict()'s formats (isoformat, Flask's sorted keys).  Pure: no I/O,
 * no logging.  What the seed would have refused to store (not an
 * object, a payload that is not an object, an object where a column
 * wants text) is reported, and the caller shows its own columns.
 */
#include "config.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_seed.h"

/* Shortest digits that read back as d: "%.*e" with the least precision. */
static void
audit_seed_digits(double d, char *dig, size_t len, int *exp)
{
	char buf[40], *e;
	size_t n = 0;
	int p;

	for (p = 0; p < 17; p++) {
		snprintf(buf, sizeof(buf), "%.*e", p, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	e = strchr(buf, 'e');
	*exp = atoi(e + 1);
	for (p = buf[0] == '-' ? 1 : 0; buf + p < e && n + 1 < len; p++)
		if (buf[p] != '.')
			dig[n++] = buf[p];
	while (n > 1 && dig[n - 1] == '0')
		n--;
	dig[n] = '\0';
}

void
audit_seed_float(double d, char *buf, size_t len)
{
	char dig[24];
	size_t n, o = 0;
	int exp, i;

	if (isnan(d) || isinf(d)) {
		snprintf(buf, len, "%s", isnan(d) ? "nan" : d < 0 ? "-inf" :
		    "inf");
		return;
	}
	if (len < 32) {		/* the longest is 24: -1.2345678901234567e-308 */
		snprintf(buf, len, "?");
		return;
	}
	audit_seed_digits(d, dig, sizeof(dig), &exp);
	n = strlen(dig);
	if (signbit(d))
		buf[o++] = '-';
	if (exp < -4 || exp >= 16) {
		/* CPython's repr: d[.ddd]e+XX, at least two exponent digits */
		buf[o++] = dig[0];
		if (n > 1)
			o += (size_t)snprintf(buf + o, len - o, ".%s", dig + 1);
		snprintf(buf + o, len - o, "e%c%02d", exp < 0 ? '-' : '+',
		    abs(exp));
		return;
	}
	if (exp < 0) {
		o += (size_t)snprintf(buf + o, len - o, "0.");
		for (i = -1; i > exp; i--)
			buf[o++] = '0';
		snprintf(buf + o, len - o, "%s", dig);
		return;
	}
	for (i = 0; i <= exp; i++)
		buf[o++] = (size_t)i < n ? dig[i] : '0';
	buf[o++] = '.';
	if ((size_t)exp + 1 >= n)
		buf[o++] = '0';
	for (i = exp + 1; (size_t)i < n; i++)
		buf[o++] = dig[i];
	buf[o] = '\0';
}

char *
audit_seed_str(json_t *v)
{
	char buf[64];

	switch (json_typeof(v)) {
	case JSON_STRING:
		return strndup(json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		break;
	case JSON_REAL:
		audit_seed_float(json_real_value(v), buf, sizeof(buf));
		break;
	case JSON_TRUE:
		return strdup("True");
	case JSON_FALSE:
		return strdup("False");
	case JSON_NULL:
		return strdup("None");
	default:
		return json_dumps(v, JSON_COMPACT);
	}
	return strdup(buf);
}

/*
 * A value the seed put in a varchar column (type, correlation_id,
 * source) as PostgreSQL gave it back: text as is, numbers printed,
 * booleans 'true'/'false', null as null.  NULL when psycopg2 could not
 * have sent it (an object or an array): the seed dropped the message.
 */
static json_t *
audit_seed_column(json_t *v)
{
	char *s;
	json_t *j;

	if (json_is_null(v))
		return json_null();
	if (json_is_boolean(v))
		return json_string(json_is_true(v) ? "true" : "false");
	if (json_is_object(v) || json_is_array(v))
		return NULL;
	if ((s = audit_seed_str(v)) == NULL)
		return NULL;
	j = json_string(s);
	free(s);
	return j;
}

/* payload.get(a, payload.get(b, '')) through str(), then the seed's
 * "not in ('None', 'null', '')" test: missing gives missing. */
static json_t *
audit_seed_id(json_t *payload, const char *a, const char *b, json_t *missing)
{
	json_t *v = json_object_get(payload, a), *j;
	char *s;

	if (v == NULL)
		v = json_object_get(payload, b);
	if (v == NULL)
		return missing;
	if ((s = audit_seed_str(v)) == NULL)
		return missing;
	if (strcmp(s, "None") == 0 || strcmp(s, "null") == 0 || s[0] == '\0')
		j = missing;
	else {
		json_decref(missing);
		j = json_string(s);
	}
	free(s);
	return j;
}

/* message_data.get(key, def), as a new reference. */
static json_t *
audit_seed_get(json_t *msg, const char *key, const char *def)
{
	json_t *v = json_object_get(msg, key);

	return v != NULL ? json_incref(v) : json_string(def);
}

/* The seed's event_info, keys in Flask's sorted order (its scalars
 * were checked by audit_seed_read: no object to sort but payload). */
static json_t *
audit_seed_wrapper(json_t *msg, json_t *payload, const char *topic,
    const char *timestamp)
{
	json_t *w = json_object();

	json_object_set_new(w, "correlation_id", audit_seed_get(msg,
	    "correlation_id", ""));
	json_object_set_new(w, "event_type", audit_seed_get(msg, "type",
	    "unknown"));
	json_object_set_new(w, "payload", audit_seed_sorted(payload));
	json_object_set_new(w, "source_service", audit_seed_get(msg, "source",
	    "unknown"));
	json_object_set_new(w, "timestamp", json_string(timestamp));
	json_object_set_new(w, "topic", json_string(topic));
	return w;
}

int
audit_seed_read(struct audit_seed *s, json_t *msg, const char *topic,
    const char *timestamp)
{
	json_t *payload, *v[3];
	int i;

	memset(s, 0, sizeof(*s));
	if (!json_is_object(msg))
		return -1;
	payload = json_object_get(msg, "payload");
	if (payload == NULL)
		payload = msg;
	if (!json_is_object(payload))
		return -1;
	v[0] = audit_seed_get(msg, "type", "unknown");
	v[1] = audit_seed_get(msg, "correlation_id", "");
	v[2] = audit_seed_get(msg, "source", "unknown");
	s->event_type = audit_seed_column(v[0]);
	s->correlation_id = audit_seed_column(v[1]);
	s->source_service = audit_seed_column(v[2]);
	for (i = 0; i < 3; i++)
		json_decref(v[i]);
	if (s->event_type == NULL || s->correlation_id == NULL ||
	    s->source_service == NULL) {
		audit_seed_clear(s);
		return -1;
	}
	s->customer_id = audit_seed_id(payload, "customer_id", "customerId",
	    json_string(""));
	s->runner_id = audit_seed_id(payload, "runner_id", "runnerId",
	    json_null());
	s->order_id = audit_seed_id(payload, "order_id", "orderId",
	    json_string(""));
	s->event = audit_seed_wrapper(msg, payload, topic, timestamp);
	return 0;
}

void
audit_seed_clear(struct audit_seed *s)
{
	json_decref(s->event_type);
	json_decref(s->correlation_id);
	json_decref(s->source_service);
	json_decref(s->customer_id);
	json_decref(s->runner_id);
	json_decref(s->order_id);
	json_decref(s->event);
	memset(s, 0, sizeof(*s));
}

static int
audit_seed_keycmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* An object rebuilt with its keys in byte (= code point) order. */
static json_t *
audit_seed_sorted_object(json_t *v)
{
	size_t n = json_object_size(v), i = 0;
	const char **keys, *k;
	json_t *o, *val;

	if ((o = json_object()) == NULL || (keys = calloc(n + 1,
	    sizeof(*keys))) == NULL) {
		json_decref(o);
		return NULL;
	}
	json_object_foreach(v, k, val)
		keys[i++] = k;
	qsort(keys, n, sizeof(*keys), audit_seed_keycmp);
	for (i = 0; i < n; i++)
		json_object_set_new(o, keys[i],
		    audit_seed_sorted(json_object_get(v, keys[i])));
	free(keys);
	return o;
}

json_t *
audit_seed_sorted(json_t *v)
{
	json_t *a, *e;
	size_t i;

	if (json_is_object(v))
		return audit_seed_sorted_object(v);
	if (!json_is_array(v))
		return json_incref(v);
	a = json_array();
	json_array_foreach(v, i, e)
		json_array_append_new(a, audit_seed_sorted(e));
	return a;
}

void
audit_seed_isoformat(char *s)
{
	size_t n = strlen(s);

	if (n > 7 && strcmp(s + n - 7, ".000000") == 0)
		s[n - 7] = '\0';
}

/* ---- Flask's jsonify bytes: json.dumps(sort_keys, ensure_ascii,
 * separators=(",", ":")) and a newline ---- */

struct audit_seed_out {
	char	*p;
	size_t	 len, cap;
	bool	 failed;
};

static void
audit_seed_put(struct audit_seed_out *o, const char *s, size_t n)
{
	size_t cap = o->cap ? o->cap : 256;
	char *np;

	if (o->failed)
		return;
	while (cap < o->len + n + 1)
		cap *= 2;
	if (cap != o->cap) {
		if ((np = realloc(o->p, cap)) == NULL) {
			o->failed = true;
			return;
		}
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

/* Python's escaping: \" \\ \n \r \t \b \f, anything else outside
 * ' '..'~' as lower-case \uXXXX (astral planes as surrogate pairs). */
static void
audit_seed_put_string(struct audit_seed_out *o, const char *s, size_t n)
{
	static const char esc[] = "\"\"\\\\\nn\rr\tt\bb\ff";
	const unsigned char *p = (const unsigned char *)s;
	char buf[16];
	unsigned cp;
	size_t i = 0, k;
	const char *e;

	audit_seed_put(o, "\"", 1);
	while (i < n) {
		if (p[i] != 0 && (e = strchr(esc, p[i])) != NULL &&
		    (e - esc) % 2 == 0) {
			buf[0] = '\\';
			buf[1] = e[1];
			audit_seed_put(o, buf, 2);
			i++;
			continue;
		}
		if (p[i] >= 0x20 && p[i] <= 0x7e) {
			/* the run of plain characters in one copy */
			for (k = i + 1; k < n && p[k] >= 0x20 && p[k] <= 0x7e &&
			    p[k] != '"' && p[k] != '\\'; k++)
				;
			audit_seed_put(o, s + i, k - i);
			i = k;
			continue;
		}
		k = p[i] < 0x80 ? 1 : p[i] < 0xe0 ? 2 : p[i] < 0xf0 ? 3 : 4;
		cp = k == 1 ? p[i] : p[i] & (0x7f >> k);
		for (i++; --k > 0 && i < n; i++)
			cp = (cp << 6) | (p[i] & 0x3f);
		if (cp >= 0x10000)
			snprintf(buf, sizeof(buf), "\\u%04x\\u%04x",
			    0xd800 + ((cp - 0x10000) >> 10),
			    0xdc00 + ((cp - 0x10000) & 0x3ff));
		else
			snprintf(buf, sizeof(buf), "\\u%04x", cp);
		audit_seed_put(o, buf, strlen(buf));
	}
	audit_seed_put(o, "\"", 1);
}

static void
audit_seed_put_value(struct audit_seed_out *o, json_t *v)
{
	const char *k;
	char buf[64];
	json_t *e;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:	/* keys are in order: audit_seed_sorted() */
		audit_seed_put(o, "{", 1);
		i = 0;
		json_object_foreach(v, k, e) {
			if (i++ > 0)
				audit_seed_put(o, ",", 1);
			audit_seed_put_string(o, k, strlen(k));
			audit_seed_put(o, ":", 1);
			audit_seed_put_value(o, e);
		}
		audit_seed_put(o, "}", 1);
		return;
	case JSON_ARRAY:
		audit_seed_put(o, "[", 1);
		json_array_foreach(v, i, e) {
			if (i > 0)
				audit_seed_put(o, ",", 1);
			audit_seed_put_value(o, e);
		}
		audit_seed_put(o, "]", 1);
		return;
	case JSON_STRING:
		audit_seed_put_string(o, json_string_value(v),
		    json_string_length(v));
		return;
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		break;
	case JSON_REAL:
		audit_seed_float(json_real_value(v), buf, sizeof(buf));
		break;
	case JSON_TRUE:
		snprintf(buf, sizeof(buf), "true");
		break;
	case JSON_FALSE:
		snprintf(buf, sizeof(buf), "false");
		break;
	default:
		snprintf(buf, sizeof(buf), "null");
		break;
	}
	audit_seed_put(o, buf, strlen(buf));
}

char *
audit_seed_dumps(json_t *v)
{
	struct audit_seed_out o = { NULL, 0, 0, false };

	audit_seed_put_value(&o, v);
	audit_seed_put(&o, "\n", 1);
	if (o.failed) {
		free(o.p);
		return NULL;
	}
	return o.p;
}
