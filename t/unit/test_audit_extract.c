/*
 * test_audit_extract.c - the audit log's field fallbacks and byte checks.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audit_extract.h"
#include "audit_seed.h"
#include "util.h"

/* Extracts from a C string and checks every field (NULL = SQL NULL). */
static void
check(const char *value, const char *const want[AUDIT_F_MAX])
{
	struct audit_fields f;
	int i;

	audit_extract(&f, value, value ? strlen(value) : 0);
	for (i = 0; i < AUDIT_F_MAX; i++) {
		if (want[i] == NULL) {
			if (f.f[i].p != NULL)
				fail_msg("%s: %s = %.*s, want NULL", value,
				    audit_field_name(i), (int)f.f[i].len, f.f[i].p);
			continue;
		}
		if (f.f[i].p == NULL || f.f[i].len != strlen(want[i]) ||
		    memcmp(f.f[i].p, want[i], f.f[i].len) != 0)
			fail_msg("%s: %s = %.*s, want %s", value,
			    audit_field_name(i), (int)f.f[i].len,
			    f.f[i].p ? f.f[i].p : "(null)", want[i]);
	}
	audit_extract_clear(&f);
}

static void
test_snake_case(void **state)
{
	const char *want[] = { "order.created", "c-1", "order-service",
	    "cu-1", "r-1", "o-1" };

	check("{\"type\":\"order.created\",\"correlation_id\":\"c-1\","
	    "\"source\":\"order-service\",\"payload\":{\"customer_id\":\"cu-1\","
	    "\"runner_id\":\"r-1\",\"order_id\":\"o-1\"}}", want);
}

static void
test_camel_case_and_numbers(void **state)
{
	const char *want[] = { "payment.done", "c-2", "payments", "42", "7",
	    "1.5" };

	check("{\"eventType\":\"payment.done\",\"correlationId\":\"c-2\","
	    "\"source_service\":\"payments\",\"payload\":{\"customerId\":42,"
	    "\"runnerId\":7,\"orderId\":1.5}}", want);
}

static void
test_precedence_and_fallbacks(void **state)
{
	/* type before event_type before eventType; ids from the payload
	 * first, then the top level; non-scalars are no value. */
	const char *want[] = { "a", NULL, "s", "top", "in", NULL };

	check("{\"eventType\":\"c\",\"event_type\":\"b\",\"type\":\"a\","
	    "\"source\":\"s\",\"source_service\":\"t\",\"customerId\":\"top\","
	    "\"order_id\":{\"x\":1},\"payload\":{\"runner_id\":\"in\"}}", want);
	{
		const char *w2[] = { "b", NULL, NULL, NULL, NULL, "p" };
		check("{\"type\":null,\"event_type\":\"b\",\"payload\":"
		    "{\"orderId\":\"p\"},\"order_id\":\"top\"}", w2);
	}
	{
		/* payload not an object: the message itself */
		const char *w3[] = { "unknown", NULL, NULL, "c", NULL, NULL };
		check("{\"payload\":\"text\",\"customer_id\":\"c\"}", w3);
	}
}

static void
test_not_json(void **state)
{
	const char *unknown[] = { "unknown", NULL, NULL, NULL, NULL, NULL };
	static const char bin[] = "{\"type\":\"x\0\"}";
	struct audit_fields f;

	check("plain text", unknown);
	check("", unknown);
	check(NULL, unknown);			/* tombstone */
	check("{\"type\": broken", unknown);
	check("[1, 2, 3]", unknown);		/* JSON, but no fields */
	check("\"just a string\"", unknown);
	check("{\"type\":\"\"}", unknown);	/* empty is no type */
	audit_extract(&f, bin, sizeof(bin) - 1);
	assert_false(f.json);			/* a NUL byte is not JSON */
	audit_extract_clear(&f);
	audit_extract(&f, "[1]", 3);
	assert_true(f.json);			/* stored as the event */
	audit_extract_clear(&f);
}

/* Extracts value and tells whether it counts as JSON. */
static bool
is_json(const char *value)
{
	struct audit_fields f;
	bool j;

	audit_extract(&f, value, strlen(value));
	j = f.json;
	audit_extract_clear(&f);
	return j;
}

/* Valid JSON that jansson cannot hold as is stays JSON, fields read. */
static void
test_huge_numbers(void **state)
{
	const char *big[] = { "big", "c-\"9e999\"", NULL, NULL, NULL,
	    "123456789012345678901234567890" };
	const char *inf[] = { "1e400", NULL, "s", "-1E+400", "-0.5", "o" };
	const char *nested[] = { "t", NULL, NULL, "cu", NULL, "99999999999999999999" };
	const char *unknown[] = { "unknown", NULL, NULL, NULL, NULL, NULL };

	check("{\"type\":\"big\",\"n\":123456789012345678901234567890}",
	    (const char *[]){ "big", NULL, NULL, NULL, NULL, NULL });
	check("{\"type\":\"big\",\"correlation_id\":\"c-\\\"9e999\\\"\","
	    "\"order_id\":123456789012345678901234567890}", big);
	check("{\"n\":1e400}", unknown);
	assert_true(is_json("{\"n\":1e400}"));
	assert_true(is_json("[-123456789012345678901234567890, 1E-400, 2]"));
	check("{\"type\":1e400,\"source\":\"s\",\"customer_id\":-1E+400,"
	    "\"runner_id\":-0.5,\"orderId\":\"o\"}", inf);
	check("{\"type\":\"t\",\"payload\":{\"customerId\":\"cu\","
	    "\"order_id\":99999999999999999999,\"x\":[1e400,{\"y\":-1e999}]}}",
	    nested);
	/* audit_json_load: any value; big numbers as their digits. */
	{
		const char *a = "[1e400, 7, \"1e400\"]";
		json_t *j = audit_json_load(a, strlen(a));

		assert_non_null(j);
		assert_string_equal(json_string_value(json_array_get(j, 0)),
		    "1e400");
		assert_int_equal(json_integer_value(json_array_get(j, 1)), 7);
		assert_string_equal(json_string_value(json_array_get(j, 2)),
		    "1e400");
		json_decref(j);
		j = audit_json_load("-99999999999999999999", 21);
		assert_string_equal(json_string_value(j), "-99999999999999999999");
		json_decref(j);
		assert_null(audit_json_load("{\"a\":1e400", 11));
	}
	/* Still not JSON: a bad number, or another error after the big one. */
	assert_false(is_json("{\"n\":123456789012345678901234567890,}"));
	assert_false(is_json("{\"n\":0123456789012345678901234567890}"));
	assert_false(is_json("{\"n\":1e400 x}"));
	assert_false(is_json("{\"n\":-1e400.5}"));
}

static void
test_long_fields_are_cut(void **state)
{
	char buf[1024], val[700];
	struct audit_fields f;
	const char *unknown[] = { "unknown", NULL, NULL, NULL, NULL, NULL };

	/* 300 two-byte characters: cut at 255 bytes, on a boundary. */
	val[0] = '\0';
	while (strlen(val) < 600)
		strcat(val, "\xc3\xa9");
	snprintf(buf, sizeof(buf), "{\"type\":\"%s\"}", val);
	audit_extract(&f, buf, strlen(buf));
	assert_int_equal(f.f[AUDIT_F_EVENT_TYPE].len, 254);
	assert_true(audit_utf8_text(f.f[AUDIT_F_EVENT_TYPE].p, 254));
	audit_extract_clear(&f);
	/* \u0000 is refused by the parser: the value is not JSON at all */
	check("{\"type\":\"a\\u0000b\"}", unknown);
}

static void
test_utf8(void **state)
{
	assert_true(audit_utf8_text("abc \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    15));
	assert_false(audit_utf8_text("a\0b", 3));
	assert_false(audit_utf8_text("\xff", 1));
	assert_false(audit_utf8_text("\xc3", 1));		/* truncated */
	assert_false(audit_utf8_text("\xc0\xaf", 2));		/* overlong */
	assert_false(audit_utf8_text("\xed\xa0\x80", 3));	/* surrogate */
	assert_false(audit_utf8_text("\xf4\x90\x80\x80", 4));	/* > U+10FFFF */
	assert_int_equal(audit_utf8_cut("ab\xc3\xa9", 4, 3), 2);
	assert_int_equal(audit_utf8_cut("abc", 3, 3), 3);
}

/* Renders a json_t compactly for comparison; the caller frees. */
static char *
dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

	json_decref(j);
	return s;
}

static void
test_bytes_json(void **state)
{
	const char *enc;
	char *s;

	s = dump(audit_bytes_json("hi\n", 3, &enc));
	assert_string_equal(s, "\"hi\\n\"");
	assert_string_equal(enc, "utf-8");
	free(s);
	s = dump(audit_bytes_json("\0\xff\x01", 3, &enc));
	assert_string_equal(s, "\"AP8B\"");
	assert_string_equal(enc, "base64");
	free(s);
	s = dump(audit_bytes_json("ab\0", 3, &enc));
	assert_string_equal(s, "\"YWIA\"");
	free(s);
	s = dump(audit_bytes_json(NULL, 0, &enc));
	assert_string_equal(s, "null");
	assert_null(enc);
	free(s);
	s = dump(audit_header_json("h", "\x00", 1));
	assert_string_equal(s, "{\"key\":\"h\",\"value\":\"AA==\","
	    "\"encoding\":\"base64\"}");
	free(s);
	s = dump(audit_header_json("\xff", NULL, 0));
	assert_string_equal(s, "{\"key\":\"/w==\",\"keyEncoding\":\"base64\","
	    "\"value\":null}");
	free(s);
}

/* Python's repr() of floats, as the seed's str() printed its ids. */
static void
test_seed_float(void **state)
{
	static const struct { double d; const char *want; } c[] = {
		{ 1.0, "1.0" }, { 0.1, "0.1" }, { -0.0, "-0.0" },
		{ 1e16, "1e+16" }, { 1.5e16, "1.5e+16" }, { 1e15,
		"1000000000000000.0" }, { 0.0001, "0.0001" }, { 1e-05, "1e-05" },
		{ 123.456, "123.456" }, { 1e100, "1e+100" }, { 2.5e-7,
		"2.5e-07" }, { 1.7976931348623157e308,
		"1.7976931348623157e+308" }, { 5e-324, "5e-324" },
		{ 12345678901234567.0, "1.2345678901234568e+16" },
	};
	char buf[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		audit_seed_float(c[i].d, buf, sizeof(buf));
		assert_string_equal(buf, c[i].want);
	}
}

/* The seed's reading: defaults, str() of ids, 'None' as missing. */
static void
test_seed_read(void **state)
{
	json_t *m = json_loads("{\"type\":\"\",\"source\":null,\"payload\":"
	    "{\"customer_id\":null,\"customerId\":\"x\",\"runnerId\":false,"
	    "\"orderId\":2.0}}", 0, NULL);
	struct audit_seed s;

	(void)state;
	assert_int_equal(audit_seed_read(&s, m, "t", "ts"), 0);
	assert_string_equal(json_string_value(s.event_type), "");
	assert_true(json_is_null(s.source_service));
	assert_string_equal(json_string_value(s.correlation_id), "");
	assert_string_equal(json_string_value(s.customer_id), "");
	assert_string_equal(json_string_value(s.runner_id), "False");
	assert_string_equal(json_string_value(s.order_id), "2.0");
	assert_true(json_is_null(json_object_get(s.event, "source_service")));
	assert_string_equal(json_string_value(json_object_get(s.event,
	    "event_type")), "");
	audit_seed_clear(&s);
	json_decref(m);
	m = json_loads("{\"payload\":[1]}", 0, NULL);
	assert_int_equal(audit_seed_read(&s, m, "t", "ts"), -1);
	json_decref(m);
	m = json_loads("{\"type\":{\"a\":1}}", 0, NULL);
	assert_int_equal(audit_seed_read(&s, m, "t", "ts"), -1);
	json_decref(m);
}

/* Flask's jsonify bytes: lower-case \u, surrogate pairs, repr floats. */
static void
test_seed_dumps(void **state)
{
	json_t *j = json_pack("{s:s,s:[f,f,i,b,n]}", "a",
	    "caf\xc3\xa9 \xf0\x9f\x98\x80 /\t\x7f\"\\", "b", 0.30000000000000004,
	    1e16, (json_int_t)-7, 1);
	char *s = audit_seed_dumps(j);

	(void)state;
	assert_string_equal(s, "{\"a\":\"caf\\u00e9 \\ud83d\\ude00 /\\t"
	    "\\u007f\\\"\\\\\",\"b\":[0.30000000000000004,1e+16,-7,true,"
	    "null]}\n");
	free(s);
	json_decref(j);
}

/* The one JSON number scanner (RFC 8259), shared with the page writer. */
static void
test_json_numlen(void **state)
{
	static const struct { const char *s; size_t n; bool real; } c[] = {
		{ "0", 1, false }, { "-0", 2, false }, { "12,", 2, false },
		{ "012", 1, false }, { "-", 0, false }, { "", 0, false },
		{ "1.5e+3}", 6, true }, { "1.", 0, false }, { "1e", 0, false },
		{ "-1E-07", 6, true }, { ".5", 0, false }, { "9x", 1, false },
	};
	bool real;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		real = !c[i].real;
		assert_int_equal(util_json_numlen(c[i].s, strlen(c[i].s),
		    &real), c[i].n);
		if (c[i].n > 0)
			assert_true(real == c[i].real);
	}
	/* the length bounds the read: "12" of "123" */
	assert_int_equal(util_json_numlen("123", 2, NULL), 2);
	assert_int_equal(util_json_numlen("-", 1, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snake_case),
		cmocka_unit_test(test_camel_case_and_numbers),
		cmocka_unit_test(test_precedence_and_fallbacks),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_huge_numbers),
		cmocka_unit_test(test_long_fields_are_cut),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_bytes_json),
		cmocka_unit_test(test_seed_float),
		cmocka_unit_test(test_seed_read),
		cmocka_unit_test(test_seed_dumps),
		cmocka_unit_test(test_json_numlen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
