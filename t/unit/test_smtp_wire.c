/*
 * test_smtp_wire.c - the relay's replies as bytes, hostile ones first,
 * and the message as DATA sends it.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp_wire.h"

/* Feeds all of s at once; returns what smtp_reply_feed returned. */
static ssize_t
feed(struct smtp_reply *r, const char *s, size_t n)
{
	smtp_reply_init(r);
	return smtp_reply_feed(r, s, n);
}

static void
test_one_line(void **state)
{
	struct smtp_reply r;
	const char *s = "250 2.0.0 Ok: queued as 1234\r\n";

	(void)state;
	assert_int_equal(feed(&r, s, strlen(s)), strlen(s));
	assert_true(r.done);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.line, "250 2.0.0 Ok: queued as 1234");
}

/* Pipelined replies arrive together: one reply is taken, not the next. */
static void
test_takes_one_reply(void **state)
{
	struct smtp_reply r;
	const char *s = "250 ok\r\n550 no such user\r\n354 go\r\n";

	(void)state;
	assert_int_equal(feed(&r, s, strlen(s)), 8);
	assert_int_equal(r.code, 250);
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_feed(&r, s + 8, strlen(s) - 8), 18);
	assert_int_equal(r.code, 550);
	assert_string_equal(r.line, "550 no such user");
}

static void
test_multi_line(void **state)
{
	struct smtp_reply r;
	const char *s = "451-4.3.0 first\r\n451-4.3.0 second\r\n451 4.3.0 last\r\n";

	(void)state;
	assert_int_equal(feed(&r, s, strlen(s)), strlen(s));
	assert_true(r.done);
	assert_int_equal(r.code, 451);
	assert_int_equal(r.lines, 3);
	assert_string_equal(r.line, "451 4.3.0 last");
	assert_string_equal(r.first, "451-4.3.0 first");
}

/* A reply split across reads: each piece is taken as its lines end. */
static void
test_split(void **state)
{
	struct smtp_reply r;

	(void)state;
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_feed(&r, "25", 2), 0);
	assert_false(r.done);
	assert_int_equal(smtp_reply_feed(&r, "250-a\r\n250 b", 12), 7);
	assert_false(r.done);
	assert_int_equal(smtp_reply_feed(&r, "250 b\r\n", 7), 7);
	assert_true(r.done);
	assert_string_equal(r.line, "250 b");
}

/* Bare code, bare LF: accepted (RFC 5321 4.2 lets the text be empty). */
static void
test_bare(void **state)
{
	struct smtp_reply r;

	(void)state;
	assert_int_equal(feed(&r, "354\n", 4), 4);
	assert_int_equal(r.code, 354);
	assert_string_equal(r.line, "354");
}

static void
assert_malformed(const char *s, size_t n, const char *why)
{
	struct smtp_reply r;

	assert_int_equal(feed(&r, s, n), -1);
	assert_false(r.done);
	assert_string_equal(r.error, why);
}

static void
test_malformed(void **state)
{
	(void)state;
	assert_malformed("hello\r\n", 7, "malformed reply line");
	assert_malformed("25\r\n", 4, "malformed reply line");
	assert_malformed("2500 ok\r\n", 9, "malformed reply line");
	assert_malformed("150 ok\r\n", 8, "malformed reply line");
	assert_malformed("650 ok\r\n", 8, "malformed reply line");
	assert_malformed("2a0 ok\r\n", 8, "malformed reply line");
	assert_malformed("\r\n", 2, "malformed reply line");
	assert_malformed("\0" "50 ok\r\n", 8, "malformed reply line");
	assert_malformed("250-a\r\n550 b\r\n", 14,
	    "reply lines disagree on their code");
}

/* NUL and invalid UTF-8 in the text: kept (cleaned by the mailer). */
static void
test_hostile_text(void **state)
{
	struct smtp_reply r;
	const char s[] = "550 a\0b\xff\xfe\r\n";

	(void)state;
	assert_int_equal(feed(&r, s, sizeof(s) - 1), sizeof(s) - 1);
	assert_int_equal(r.code, 550);
	assert_memory_equal(r.line, "550 a\0b\xff\xfe", 10);
}

/* A long text is cut in r.line, and a line past the limit refused. */
static void
test_long(void **state)
{
	struct smtp_reply r;
	size_t n = SMTP_LINE_MAX + 10;
	char *s = malloc(n + 2);

	(void)state;
	assert_non_null(s);
	memcpy(s, "250 ", 4);
	memset(s + 4, 'x', n - 4);
	memcpy(s + 1000, "\r\n", 2);
	assert_int_equal(feed(&r, s, 1002), 1002);
	assert_int_equal(strlen(r.line), sizeof(r.line) - 1);
	/* no end of line within the limit: no reply, however much comes */
	memset(s + 1000, 'x', 2);
	assert_int_equal(feed(&r, s, SMTP_LINE_MAX), 0);
	assert_int_equal(feed(&r, s, n), -1);
	assert_string_equal(r.error, "reply line too long");
	/* the longest line, CR LF and all, fits */
	memcpy(s + SMTP_LINE_MAX, "\r\n", 2);
	assert_int_equal(feed(&r, s, SMTP_LINE_MAX + 1), 0);
	assert_int_equal(feed(&r, s, SMTP_LINE_MAX + 2), SMTP_LINE_MAX + 2);
	assert_true(r.done);
	memset(s + SMTP_LINE_MAX, 'x', 2);
	/* nor past the limit with its end */
	memcpy(s + n, "\r\n", 2);
	assert_int_equal(feed(&r, s, n + 2), -1);
	assert_string_equal(r.error, "reply line too long");
	free(s);
}

/* An endless multi-line reply ends at SMTP_LINES_MAX lines. */
static void
test_too_many_lines(void **state)
{
	struct smtp_reply r;
	char line[] = "250-x\r\n";
	int i;

	(void)state;
	smtp_reply_init(&r);
	for (i = 0; i < SMTP_LINES_MAX; i++)
		assert_int_equal(smtp_reply_feed(&r, line, 7), 7);
	assert_int_equal(smtp_reply_feed(&r, line, 7), -1);
	assert_string_equal(r.error, "reply of too many lines");
}

static void
assert_stuffed(const char *in, const char *want)
{
	struct buf b = { 0 };

	smtp_dot_stuff(&b, in, strlen(in));
	assert_non_null(buf_str(&b));
	assert_string_equal(buf_str(&b), want);
	buf_free(&b);
}

static void
test_dot_stuff(void **state)
{
	(void)state;
	assert_stuffed("a\r\nb\r\n", "a\r\nb\r\n.\r\n");
	assert_stuffed("", "\r\n.\r\n");
	assert_stuffed("no end", "no end\r\n.\r\n");
	assert_stuffed(".\r\n", "..\r\n.\r\n");
	assert_stuffed("a\r\n.\r\nMAIL FROM:<x>\r\n",
	    "a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n");
	assert_stuffed("a\r\n..b\r\n", "a\r\n...b\r\n.\r\n");
	/* SMTP smuggling: a bare LF before the dot is a line start too */
	assert_stuffed("a\n.\r\nRCPT", "a\n..\r\nRCPT\r\n.\r\n");
	assert_stuffed("a\r\n.", "a\r\n..\r\n.\r\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_line),
		cmocka_unit_test(test_takes_one_reply),
		cmocka_unit_test(test_multi_line),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_bare),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_hostile_text),
		cmocka_unit_test(test_long),
		cmocka_unit_test(test_too_many_lines),
		cmocka_unit_test(test_dot_stuff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
