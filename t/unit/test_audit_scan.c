/*
 * test_audit_scan.c - the audit role's one-pass field reader
 * (src/audit_scan.c) against the jansson path it stands in for.
 *
 * For every input, audit_extract() (scanner first) must give exactly
 * what audit_extract_parsed() (jansson alone) gives: the same fields,
 * byte for byte, and the same answer to "is it JSON".  Hand-picked
 * cases, then ~200k mutations of seed-shaped messages (flipped,
 * inserted and removed bytes, cuts), the hostile bytes among them.
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
#include "audit_scan.h"

static const char *const seeds[] = {
	"{\"type\":\"order.created\",\"correlation_id\":\"corr-0000000001\","
	    "\"source\":\"order-service\",\"timestamp\":\"2024-04-05T12:00:00"
	    ".000Z\",\"payload\":{\"order_id\":\"ORD-00000001\",\"customer_id"
	    "\":\"CUST-0000001\",\"runner_id\":\"RUN-000001\",\"amount\":10.01,"
	    "\"currency\":\"EUR\",\"note\":\"xxxx\"}}",
	"{\"eventType\":\"a\",\"correlationId\":\"c\",\"source_service\":\"s\","
	    "\"customerId\":\"k\",\"runnerId\":\"r\",\"orderId\":\"o\"}",
	"{\"event_type\":\"t\",\"payload\":{\"orderId\":\"p\"},\"order_id\":"
	    "\"root\",\"customer_id\":\"rc\"}",
	"{\"type\":\"t\",\"payload\":[1,{\"a\":null}],\"customer_id\":\"c\"}",
	"{\"type\":\"t\",\"payload\":{\"customer_id\":7,\"x\":[true,false,"
	    "null,-1.5e3,{}]}}",
	" {\"type\" : \"t\" , \"a\" : { \"b\" : [ ] } }\n",
	"{\"type\":\"t\",\"type\":\"u\"}",
	"{\"type\":\"caf\xc3\xa9\",\"order_id\":\"\\u00e9\"}",
	"{\"type\":\"\",\"source\":\"\"}",
	"{}",
	"[{\"type\":\"t\"}]",
};

/* The scanner's path and jansson's path give the same, or fail. */
static void
check_same(const char *p, size_t len)
{
	struct audit_fields a, b;
	int i;

	audit_extract(&a, p, len);
	audit_extract_parsed(&b, p, len);
	if (a.json != b.json)
		fail_msg("%.*s: JSON %d, jansson %d", (int)len, p, a.json,
		    b.json);
	for (i = 0; i < AUDIT_F_MAX; i++)
		if ((a.f[i].p == NULL) != (b.f[i].p == NULL) ||
		    a.f[i].len != b.f[i].len || (a.f[i].p != NULL &&
		    memcmp(a.f[i].p, b.f[i].p, a.f[i].len) != 0))
			fail_msg("%.*s: %s = %.*s, jansson %.*s", (int)len, p,
			    audit_field_name(i), (int)a.f[i].len,
			    a.f[i].p ? a.f[i].p : "(null)", (int)b.f[i].len,
			    b.f[i].p ? b.f[i].p : "(null)");
	audit_extract_clear(&a);
	audit_extract_clear(&b);
}

/* A seed-shaped message takes the fast path and reads every field. */
static void
test_fast_path_taken(void **state)
{
	struct audit_scan_field f[AUDIT_SCAN_NFIELDS];

	(void)state;
	assert_int_equal(AUDIT_SCAN_NFIELDS, AUDIT_F_MAX);
	memset(f, 0, sizeof(f));
	assert_int_equal(audit_scan(f, seeds[0], strlen(seeds[0])), 1);
	assert_int_equal(f[AUDIT_F_ORDER_ID].len, 12);
	assert_memory_equal(f[AUDIT_F_ORDER_ID].p, "ORD-00000001", 12);
	assert_memory_equal(f[AUDIT_F_SOURCE_SERVICE].p, "order-service",
	    13);
	assert_int_equal(audit_scan(f, seeds[1], strlen(seeds[1])), 1);
	assert_memory_equal(f[AUDIT_F_EVENT_TYPE].p, "a", 1);
}

/* What the scanner leaves to jansson: not answered, f untouched. */
static void
test_declined(void **state)
{
	static const char *const no[] = {
		"{\"type\":\"a\\\"b\"}",		/* an escape */
		"{\"type\":\"caf\xc3\xa9\"}",		/* UTF-8 */
		"{\"type\":1}",				/* a number read */
		"{\"type\":\"a\",\"type\":\"b\"}",	/* a key twice */
		"{\"payload\":[],\"type\":\"a\"}",	/* payload not {} */
		"[1]", "\"s\"", "{\"type\":\"a\"", "{\"type\":\"a\"} x",
		"{\"n\":12345678901234567890}",		/* jansson's range */
		"{\"a\":\"x\ty\"}",			/* a control byte */
		"{\"a\":01}", "{\"a\":tru}", "{,}", "{\"a\":1,}",
	};
	struct audit_scan_field f[AUDIT_SCAN_NFIELDS];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		memset(f, 0, sizeof(f));
		if (audit_scan(f, no[i], strlen(no[i])) != 0)
			fail_msg("answered %s", no[i]);
		assert_null(f[AUDIT_F_EVENT_TYPE].p);
		check_same(no[i], strlen(no[i]));
	}
}

static void
test_cases_same(void **state)
{
	static const char deep[] = "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	    "[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],\"type\":\"d\"}";
	char nul[] = "{\"type\":\"a\",\"b\":\"x\0y\"}";
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		check_same(seeds[i], strlen(seeds[i]));
	check_same(deep, strlen(deep));
	check_same(nul, sizeof(nul) - 1);
	check_same(NULL, 0);
	check_same("", 0);
}

/* Mutations of the seeds: whatever the bytes, both paths agree. */
static void
test_mutations_same(void **state)
{
	static const char alphabet[] = "{}[]\":,\\ \t\n0-1.eE+tfnul\x01\x80"
	    "\xc3\xa9\xff\x00";
	char buf[1024];
	size_t len, k, n, pos;
	unsigned seed = 12345;
	int round;

	(void)state;
	for (round = 0; round < 200000; round++) {
		const char *s = seeds[round % (sizeof(seeds) / sizeof(seeds[0]))];
		len = strlen(s);
		memcpy(buf, s, len);
		n = 1 + (size_t)(rand_r(&seed) % 3);
		for (k = 0; k < n && len > 0; k++) {
			pos = (size_t)rand_r(&seed) % len;
			switch (rand_r(&seed) % 4) {
			case 0:		/* replace */
				buf[pos] = alphabet[rand_r(&seed) %
				    (sizeof(alphabet) - 1)];
				break;
			case 1:		/* insert */
				if (len + 1 < sizeof(buf)) {
					memmove(buf + pos + 1, buf + pos,
					    len - pos);
					buf[pos] = alphabet[rand_r(&seed) %
					    (sizeof(alphabet) - 1)];
					len++;
				}
				break;
			case 2:		/* remove */
				memmove(buf + pos, buf + pos + 1,
				    len - pos - 1);
				len--;
				break;
			default:	/* cut */
				len = pos;
			}
		}
		check_same(buf, len);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fast_path_taken),
		cmocka_unit_test(test_declined),
		cmocka_unit_test(test_cases_same),
		cmocka_unit_test(test_mutations_same),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
