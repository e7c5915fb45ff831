/*
 * test_api_audit_json.c - the direct JSON writer of /audit/events gives
 * the bytes jansson gave: each jsonb text against the old path (parse
 * with audit_json_load, dump compactly at precision 15).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api_audit_json.h"
#include "audit_extract.h"

/* What the old code printed for the event column text p. */
static char *
old_event(const char *p)
{
	json_t *j = audit_json_load(p, strlen(p));
	char *s;

	if (j == NULL)
		return strdup("null");
	s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY |
	    JSON_REAL_PRECISION(15));
	json_decref(j);
	return s;
}

static void
check_event(const char *p)
{
	struct buf b = { 0 };
	char *want = old_event(p);
	const char *got;

	api_audit_json_event(&b, p, strlen(p));
	got = buf_str(&b);
	assert_non_null(got);
	if (strcmp(got, want) != 0)
		fail_msg("%s:\n got  %s\n want %s", p, got, want);
	free(want);
	buf_free(&b);
}

/* Texts as PostgreSQL's jsonb output prints them (", ", ": "). */
static void
test_jsonb_texts(void **state)
{
	static const char *const texts[] = {
		"{}", "[]", "null", "true", "false", "0", "-1", "\"\"",
		"{\"a\": 1, \"b\": [1, 2, {\"c\": null}]}",
		"{\"s\": \"caf\xc3\xa9 \xf0\x9f\x98\x80 \\\" \\\\ / \\b\\f\\n\\r\\t\"}",
		"{\"ctl\": \"\\u0001\\u001f\\u001F\\u0000x\", \"del\": \"\x7f\"}",
		"{\"big\": 123456789012345678901234567890}",
		"{\"e\": 1000000000000000000000000000000000000000000000000000"
		"000000000000000000000000000000000000000000000000000000000000"
		"000000000000000000000000000000000000000000000000000000000000"
		"000000000000000000000000000000000000000000000000000000000000"
		"000000000000000000000000000000000000000000000000000000000000"
		"000000000000000000000000000000000000000000000000000000000000"
		"000000000000000000000000000000000000000000000000000000000000"
		"00000000000000000000000000000000000000000000000000.5, \"x\": 1.5}",
		"{\"i\": 9223372036854775807, \"j\": -9223372036854775808}",
		"{\"i\": 9223372036854775808}", "{\"i\": -9223372036854775809}",
		"[123456789012345678, 1234567890123456789, -0, 0.0, -0.0]",
		"[1.0, 1.50, 0.1, 0.30000000000000004, 1e20, 1.5E-7, 1e+300]",
		"[123456789012345678.0, 0.000001, 100000000000000000000.0]",
		"[1e400, 1]", "[-1e400, \"1e400\"]", "[1e-400, 2.5]",
		"{\"k\\\"ey\": {\"nested\": {\"deep\": [[[[[]]]]]}}}",
		"{\"a\":1,\"b\":2}", " {\"a\" : 1 } ", "{\"u\": \"\\u00e9\"}",
		"{\"slash\": \"\\/\"}", "[1 2]", "{", "", "nope", "\"a",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		check_event(texts[i]);
}

/* A random integer, up to 2^63 - 1 in magnitude. */
static json_t *
random_int(void)
{
	/* unsigned: the product wraps where a signed one would overflow */
	uint64_t u = (uint64_t)rand() * (uint64_t)rand() *
	    (rand() % 3 ? 1 : 1000000007ULL);
	json_int_t v = (json_int_t)(u >> 1);

	return json_integer(rand() % 2 ? v : -v);
}

/* A random value of jansson's own, printed in the jsonb style. */
static json_t *
random_value(int depth)
{
	static const char *const strs[] = { "", "a b", "\"q\"", "\\", "\n\t",
	    "\x01\x1f", "\xc3\xa9", "x/y", "\x7f", "{\"a\": 1}" };
	json_t *j;
	int k = rand() % (depth > 4 ? 5 : 7), n, i;
	char key[8];

	switch (k) {
	case 0: return json_null();
	case 1: return json_boolean(rand() % 2);
	case 2: return random_int();
	case 3: return json_real((double)rand() / (rand() + 1) *
	    (rand() % 2 ? 1e-9 : 1e12));
	case 4: return json_string(strs[rand() % 10]);
	case 5:
		j = json_array();
		for (n = rand() % 4, i = 0; i < n; i++)
			json_array_append_new(j, random_value(depth + 1));
		return j;
	default:
		j = json_object();
		for (n = rand() % 4, i = 0; i < n; i++) {
			snprintf(key, sizeof(key), "k%d\n", rand() % 10);
			json_object_set_new(j, key, random_value(depth + 1));
		}
		return j;
	}
}

static void
test_random_trees(void **state)
{
	char *p;
	json_t *j;
	int i;

	(void)state;
	srand(13);
	for (i = 0; i < 5000; i++) {
		j = random_value(0);
		p = json_dumps(j, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
		check_event(p);
		free(p);
		json_decref(j);
	}
}

/* Decimals as numeric_out prints them (plain, with the scale's trailing
 * zeros), 1 to 17 significant digits, the point anywhere from 1e-7 to
 * 1e19: the copy of plain reals must agree with jansson's %.15g. */
static void
test_plain_reals(void **state)
{
	char digits[24], text[64];
	int i, k, d, pos, zeros, n;

	(void)state;
	srand(7);
	for (i = 0; i < 20000; i++) {
		d = 1 + rand() % 17;
		for (k = 0; k < d; k++)
			digits[k] = (char)('0' + (k == 0 ? 1 + rand() % 9 :
			    rand() % (rand() % 3 ? 10 : 1)));
		digits[d] = '\0';
		pos = rand() % 27 - 7;		/* digits before the point */
		zeros = rand() % 3 ? 0 : rand() % 3;
		n = snprintf(text, sizeof(text), "[%s", rand() % 2 ? "-" : "");
		if (pos <= 0)
			n += snprintf(text + n, sizeof(text) - (size_t)n,
			    "0.%0*d%s", -pos, 0, digits);
		else if (pos >= d)
			n += snprintf(text + n, sizeof(text) - (size_t)n,
			    "%s%0*d.0", digits, pos - d, 0);
		else
			n += snprintf(text + n, sizeof(text) - (size_t)n,
			    "%.*s.%s", pos, digits, digits + pos);
		if (pos <= 0 && -pos == 0)	/* "%0*d" printed one 0 */
			memmove(text + n - d - 1, text + n - d, (size_t)d + 1),
			    n--;
		snprintf(text + n, sizeof(text) - (size_t)n, "%.*s]", zeros,
		    "00");
		check_event(text);
	}
}

/* Column text as jansson escapes a string. */
static void
test_strings(void **state)
{
	static const char *const strs[] = { "", "plain", "\"\\/", "\b\f\n\r\t",
	    "\x01\x02\x1e\x1f\x7f", "caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80",
	    "2026-11-30T09:00:00.123456+00:00" };
	struct buf b = { 0 };
	json_t *j;
	char *want;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		buf_reset(&b);
		api_audit_json_str(&b, strs[i], strlen(strs[i]));
		j = json_string(strs[i]);
		want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
		assert_string_equal(buf_str(&b), want);
		free(want);
		json_decref(j);
	}
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jsonb_texts),
		cmocka_unit_test(test_random_trees),
		cmocka_unit_test(test_plain_reals),
		cmocka_unit_test(test_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
