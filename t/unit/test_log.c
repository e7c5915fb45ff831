/*
 * test_log.c - log_escape and the lines log.c writes: one line per
 * event, valid UTF-8 text, valid JSON, whatever the message holds.
 */
#include "config.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

/* Escapes a byte string of known length into a static buffer. */
static const char *
esc(const char *s, size_t len, size_t dstlen)
{
	static char out[1024];
	size_t n;

	memset(out, 'Z', sizeof(out));
	n = log_escape(out, dstlen, s, len);
	assert_int_equal(n, strlen(out));
	assert_true(n < dstlen);
	return out;
}

#define ESC(lit)	esc(lit, sizeof(lit) - 1, 1024)

static void
test_plain_kept(void **state)
{
	assert_string_equal(ESC("GET /order/42: ok"), "GET /order/42: ok");
	assert_string_equal(ESC(""), "");
	/* Valid UTF-8, 2, 3 and 4 bytes, stays as it is. */
	assert_string_equal(ESC("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x93\xa7"),
	    "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x93\xa7");
}

static void
test_controls(void **state)
{
	assert_string_equal(ESC("a\nb\rc\td"), "a\\nb\\rc\\td");
	assert_string_equal(ESC("back\\slash"), "back\\\\slash");
	assert_string_equal(ESC("\x01\x1b[31m\x7f"), "\\x01\\x1b[31m\\x7f");
	assert_string_equal(ESC("a\0b"), "a\\x00b");
	/* C1 controls, line separators, bidi overrides: valid, escaped. */
	assert_string_equal(ESC("\xc2\x85"), "\\xc2\\x85");
	assert_string_equal(ESC("x\xe2\x80\xa8y"), "x\\xe2\\x80\\xa8y");
	assert_string_equal(ESC("\xe2\x80\xae"), "\\xe2\\x80\\xae");
}

static void
test_invalid_utf8(void **state)
{
	assert_string_equal(ESC("\xff\xfe"), "\\xff\\xfe");
	assert_string_equal(ESC("\xc0\xaf"), "\\xc0\\xaf");		/* overlong */
	assert_string_equal(ESC("\xed\xa0\x80"), "\\xed\\xa0\\x80");	/* surrogate */
	assert_string_equal(ESC("\xf4\x90\x80\x80"),		/* > U+10FFFF */
	    "\\xf4\\x90\\x80\\x80");
	assert_string_equal(ESC("a\xe2\x82"), "a\\xe2\\x82");	/* cut short */
	assert_string_equal(ESC("\xe2\x82" "A"), "\\xe2\\x82" "A");
	assert_string_equal(ESC("\x80"), "\\x80");
}

/* The forged URL: one line, the fake prefix shown as text. */
static void
test_forged_line(void **state)
{
	const char *e = ESC("GET /order/\xff\n<3>notifyd master[1]: FORGED");

	assert_null(strchr(e, '\n'));
	assert_string_equal(e,
	    "GET /order/\\xff\\n<3>notifyd master[1]: FORGED");
}

static void
test_truncation(void **state)
{
	char out[8];

	assert_int_equal(log_escape(out, 0, "abc", 3), 0);
	assert_int_equal(log_escape(out, 1, "abc", 3), 0);
	assert_string_equal(out, "");
	assert_string_equal(esc("abc", 3, 3), "ab");
	/* An escape or a character is never cut in half. */
	assert_string_equal(esc("ab\n", 3, 4), "ab");
	assert_string_equal(esc("ab\n", 3, 5), "ab\\n");
	assert_string_equal(esc("a\xff", 2, 5), "a");
	assert_string_equal(esc("a\xff", 2, 6), "a\\xff");
	assert_string_equal(esc("a\xe2\x82\xac", 4, 4), "a");
	assert_string_equal(esc("a\xe2\x82\xac", 4, 5), "a\xe2\x82\xac");
	assert_string_equal(esc("\xc2\x85", 2, 8), "");	/* whole or none */
	assert_string_equal(esc("\xc2\x85", 2, 9), "\\xc2\\x85");
}

/* Valid UTF-8 with no byte below 0x20 and no DEL. */
static void
assert_clean(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);	/* jansson checks UTF-8 */

	assert_int_equal(strlen(s), n);
	assert_non_null(j);
	json_decref(j);
	for (; *s != '\0'; s++)
		assert_true((unsigned char)*s >= 0x20 && *s != 0x7f);
}

/* Random bytes and random sizes: the output is always clean. */
static void
test_random(void **state)
{
	unsigned char in[64];
	char out[300];
	uint32_t x = 12345;
	size_t i, len, dl, n;
	int round;

	for (round = 0; round < 20000; round++) {
		len = (x = x * 1103515245 + 12345) % sizeof(in);
		for (i = 0; i < len; i++)
			in[i] = (unsigned char)((x = x * 1103515245 + 12345) >> 16);
		dl = 1 + ((x = x * 1103515245 + 12345) >> 8) % sizeof(out);
		n = log_escape(out, dl, (const char *)in, len);
		assert_true(n < dl);
		assert_clean(out, n);
	}
}

/* Runs fn with stderr sent to a file; returns what was written. */
static char *
capture(void (*fn)(void))
{
	static char buf[16384];
	char path[] = "/tmp/notifyd-test-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	unlink(path);
	assert_true(dup2(fd, 2) == 2);
	fn();
	assert_true(dup2(saved, 2) == 2);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	return buf;
}

static void
log_hostile(void)
{
	log_warnx("GET %s: database: %s", "/order/\xff\n<3>notifyd master[1]: "
	    "FORGED", "ERROR:  boom\nCONTEXT:  PL/pgSQL function f() line 1");
}

static void
test_text_line(void **state)
{
	size_t len;
	char *out;

	log_init("api", "debug", "text");
	out = capture(log_hostile);
	len = strlen(out);
	assert_non_null(strstr(out, "<4>notifyd api["));
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
	assert_non_null(strstr(out, "/order/\\xff\\n<3>notifyd master[1]: "
	    "FORGED: database: ERROR:  boom\\nCONTEXT:  PL/pgSQL"));
	out[len - 1] = '\0';
	assert_clean(out, len - 1);
}

static void
test_json_line(void **state)
{
	json_error_t jerr;
	json_t *j;
	char *out;

	log_init("api", "debug", "json");
	out = capture(log_hostile);
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
	j = json_loads(out, 0, &jerr);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "level")),
	    "warning");
	assert_string_equal(json_string_value(json_object_get(j, "msg")),
	    "GET /order/\\xff\\n<3>notifyd master[1]: FORGED: database: "
	    "ERROR:  boom\\nCONTEXT:  PL/pgSQL function f() line 1");
	json_decref(j);
	log_init("master", "info", "text");
}

/* A message longer than any buffer is cut, still one valid line. */
static void
log_long(void)
{
	static char big[6000];

	memset(big, '"', sizeof(big) - 1);
	big[100] = '\xff';
	log_warnx("%s", big);
}

static void
test_json_long(void **state)
{
	json_error_t jerr;
	json_t *j;
	char *out;

	log_init("api", "debug", "json");
	out = capture(log_long);
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
	j = json_loads(out, 0, &jerr);
	assert_non_null(j);
	json_decref(j);
	log_init("master", "info", "text");
}

/* One event with context: a hostile topic, a partition, an offset. */
static void
log_with_ctx(void)
{
	log_ctx_str("topic", "orders\"}\n<3>x");
	log_ctx_int("partition", 3);
	log_ctx_int("offset", 9007199254740993LL);
	log_ctx_str("msg", "refused: a fixed member");
	log_ctx_str("Bad Key", "refused: not lower_snake");
	log_ctx_int("partition", 4);	/* replaces, does not repeat */
	log_warnx("commit failed");
	log_ctx_clear();
	log_info("after clear");
}

static void
test_json_ctx_fields(void **state)
{
	json_error_t jerr;
	json_t *j;
	char *out, *second;

	log_init("audit/0", "debug", "json");
	out = capture(log_with_ctx);
	second = strchr(out, '\n');
	assert_non_null(second);
	*second++ = '\0';
	j = json_loads(out, JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "msg")),
	    "commit failed");
	assert_string_equal(json_string_value(json_object_get(j, "topic")),
	    "orders\"}\\n<3>x");
	assert_int_equal(json_integer_value(json_object_get(j, "partition")),
	    4);
	assert_true(json_integer_value(json_object_get(j, "offset")) ==
	    9007199254740993LL);
	assert_null(json_object_get(j, "Bad Key"));
	assert_int_equal(json_object_size(j), 8);
	json_decref(j);
	j = json_loads(second, 0, &jerr);
	assert_non_null(j);
	assert_null(json_object_get(j, "topic"));
	assert_int_equal(json_object_size(j), 5);
	json_decref(j);
	log_init("master", "info", "text");
}

static void
test_text_ctx_suffix(void **state)
{
	char *out;

	log_init("audit/0", "debug", "text");
	out = capture(log_with_ctx);
	assert_non_null(strstr(out, ": commit failed topic=orders\"}\\n<3>x "
	    "partition=4 offset=9007199254740993\n"));
	assert_non_null(strstr(out, ": after clear\n"));
	assert_null(strstr(out, "after clear topic"));
	log_init("master", "info", "text");
}

/* Below the level: nothing written (nor formatted); at it: one line. */
static void
log_levels(void)
{
	log_info("dropped %s", "info");
	log_debug("dropped debug");
	log_warnx("kept %d", 1);
}

static void
test_level_gate(void **state)
{
	char *out;

	log_init("mailer/0", "warning", "text");
	assert_false(log_enabled(LOG_LVL_INFO));
	assert_false(log_enabled(LOG_LVL_DEBUG));
	assert_true(log_enabled(LOG_LVL_WARNING));
	assert_true(log_enabled(LOG_LVL_ERROR));
	out = capture(log_levels);
	assert_null(strstr(out, "dropped"));
	assert_non_null(strstr(out, "kept 1"));
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
	log_init("master", "debug", "text");
	assert_true(log_enabled(LOG_LVL_DEBUG));
	log_init("master", "info", "text");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_kept),
		cmocka_unit_test(test_controls),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_forged_line),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_text_line),
		cmocka_unit_test(test_json_line),
		cmocka_unit_test(test_json_long),
		cmocka_unit_test(test_json_ctx_fields),
		cmocka_unit_test(test_text_ctx_suffix),
		cmocka_unit_test(test_level_gate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
