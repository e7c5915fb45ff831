/*
 * test_notif.c - validation, message building and retry schedule.
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

#include "notif.h"

static json_t *
body(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (j == NULL)
		fail_msg("test body: %s", e.text);
	return j;
}

#define GOOD "\"type\":\"EMAIL\",\"title\":\"Hi\",\"content\":\"<p>x</p>\"," \
	"\"userId\":123,\"recipient\":\"user@example.com\""

static void
expect_refused(const char *text, int status, const char *field)
{
	struct notif_input in;
	struct notif_error e;
	json_t *j = body(text);

	assert_int_equal(notif_validate(j, NULL, 1000, &in, &e), -1);
	assert_int_equal(e.status, status);
	if (field == NULL)
		assert_null(e.field);
	else {
		assert_non_null(e.field);
		assert_string_equal(e.field, field);
	}
	json_decref(j);
}

static void
test_validate_ok(void **state)
{
	struct notif_input in;
	struct notif_error e;
	json_t *j = body("{" GOOD ",\"metadata\":{\"orderId\":\"ORD-1\"}}");

	assert_int_equal(notif_validate(j, NULL, 1000, &in, &e), 0);
	assert_string_equal(in.type, "EMAIL");
	assert_string_equal(in.recipient, "user@example.com");
	assert_true(json_is_integer(in.user_id));
	assert_non_null(in.metadata);
	assert_null(in.from);
	json_decref(j);
	j = body("{\"type\":\"email\",\"title\":\"T\",\"content\":\"c\","
	    "\"userId\":\"u-1\",\"recipient\":\"a.b+c@sub.example.org\"}");
	assert_int_equal(notif_validate(j, NULL, 1000, &in, &e), 0);
	json_decref(j);
}

static void
test_validate_refusals(void **state)
{
	expect_refused("[1,2]", 400, NULL);
	expect_refused("{\"title\":\"T\",\"content\":\"c\",\"userId\":1,"
	    "\"recipient\":\"a@b.c\"}", 400, "type");
	expect_refused("{\"type\":\"SMS\",\"title\":\"T\",\"content\":\"c\","
	    "\"userId\":1,\"recipient\":\"a@b.c\"}", 422, "type");
	expect_refused("{\"type\":\"EMAIL\",\"title\":\"\",\"content\":\"c\","
	    "\"userId\":1,\"recipient\":\"a@b.c\"}", 400, "title");
	expect_refused("{\"type\":\"EMAIL\",\"title\":\"Hi\\r\\nBcc: x@evil.com\","
	    "\"content\":\"c\",\"userId\":1,\"recipient\":\"a@b.c\"}", 400, "title");
	expect_refused("{\"type\":\"EMAIL\",\"title\":\"T\",\"content\":\"c\","
	    "\"userId\":1,\"recipient\":\"a@b.c\\r\\nRCPT TO:<x@evil.com>\"}",
	    400, "recipient");
	expect_refused("{\"type\":\"EMAIL\",\"title\":\"T\",\"content\":\"c\","
	    "\"userId\":1,\"recipient\":\"not-an-address\"}", 400, "recipient");
	expect_refused("{\"type\":\"EMAIL\",\"title\":\"T\",\"content\":\"c\","
	    "\"userId\":1.5,\"recipient\":\"a@b.c\"}", 400, "userId");
	expect_refused("{\"type\":\"EMAIL\",\"title\":\"T\",\"content\":\"c\","
	    "\"recipient\":\"a@b.c\"}", 400, "userId");
	expect_refused("{" GOOD ",\"metadata\":[1]}", 400, "metadata");
	expect_refused("{" GOOD ",\"from\":\"x@y.z\\nBcc: q@r.s\"}", 400, "from");
}

/* A string userId: at most NOTIF_UID_MAX bytes, as the routes take. */
static void
test_user_id_limit(void **state)
{
	struct notif_input in;
	struct notif_error e;
	char uid[NOTIF_UID_MAX + 2], text[NOTIF_UID_MAX + 200];
	json_t *j;

	memset(uid, 'u', sizeof(uid) - 1);
	uid[NOTIF_UID_MAX + 1] = '\0';
	snprintf(text, sizeof(text), "{\"type\":\"EMAIL\",\"title\":\"T\","
	    "\"content\":\"c\",\"userId\":\"%s\",\"recipient\":\"a@b.c\"}",
	    uid);
	expect_refused(text, 400, "userId");
	uid[NOTIF_UID_MAX] = '\0';
	snprintf(text, sizeof(text), "{\"type\":\"EMAIL\",\"title\":\"T\","
	    "\"content\":\"c\",\"userId\":\"%s\",\"recipient\":\"a@b.c\"}",
	    uid);
	j = body(text);
	assert_int_equal(notif_validate(j, NULL, 1000, &in, &e), 0);
	json_decref(j);
}

static void
test_content_limit(void **state)
{
	char *big = malloc(3000), *text = malloc(3200);

	memset(big, 'a', 2999);
	big[2999] = '\0';
	snprintf(text, 3200, "{\"type\":\"EMAIL\",\"title\":\"T\",\"content\":"
	    "\"%s\",\"userId\":1,\"recipient\":\"a@b.c\"}", big);
	expect_refused(text, 413, "content");
	free(big);
	free(text);
}

static void
test_addresses(void **state)
{
	assert_true(notif_addr_valid("user@example.com"));
	assert_true(notif_addr_valid("first.last+tag@mail.example.co.uk"));
	assert_false(notif_addr_valid("user@"));
	assert_false(notif_addr_valid("@example.com"));
	assert_false(notif_addr_valid("a..b@example.com"));
	assert_false(notif_addr_valid(".a@example.com"));
	assert_false(notif_addr_valid("a b@example.com"));
	assert_false(notif_addr_valid("a@exa mple.com"));
	assert_false(notif_addr_valid("a@-example.com"));
	assert_false(notif_addr_valid("a@example-.com"));
	assert_false(notif_addr_valid("a@b.c>"));
	assert_false(notif_addr_valid("<a@b.c"));
	assert_false(notif_addr_valid("a@b.c\r\n"));
	assert_true(notif_key_valid("order-123"));
	assert_false(notif_key_valid(""));
	assert_false(notif_key_valid("a\nb"));
}

static void
test_subject(void **state)
{
	char *s = notif_subject_encode("Plain subject");

	assert_string_equal(s, "Plain subject");
	free(s);
	s = notif_subject_encode("Caf\xc3\xa9 \xe2\x9c\x93");
	assert_string_equal(s, "=?UTF-8?B?Q2Fmw6kg4pyT?=");
	free(s);
	/* long non-ASCII subjects fold into several encoded words */
	s = notif_subject_encode("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	assert_non_null(strstr(s, "?=\r\n =?UTF-8?B?"));
	free(s);
}

static void
test_html_to_text(void **state)
{
	char *t = notif_html_to_text("<p>Your payment of &pound;<b>5</b> has"
	    " been &amp; confirmed.</p><p>Line&nbsp;2<br>Line 3</p>"
	    "<script>alert(1)</script><style>p{}</style>&#233;&#x263A;");

	assert_string_equal(t, "Your payment of \xc2\xa3" "5 has been & "
	    "confirmed.\n\nLine 2\nLine 3\n\n\xc3\xa9\xe2\x98\xba");
	free(t);
}

static void
test_build(void **state)
{
	struct notif_msg m = { "from@example.com", "to@example.com",
	    "Caf\xc3\xa9", "<p>Hi\nthere</p>", "<1.abc@example.com>",
	    1712319780, 0x1234, NULL, NULL };
	size_t len, i;
	char *msg = notif_build(&m, &len);

	assert_non_null(msg);
	assert_int_equal(strlen(msg), len);
	for (i = 0; i < len; i++)
		if (msg[i] == '\n')
			assert_true(i > 0 && msg[i - 1] == '\r');
	assert_non_null(strstr(msg, "From: from@example.com\r\n"));
	assert_non_null(strstr(msg, "To: to@example.com\r\n"));
	assert_non_null(strstr(msg, "Subject: =?UTF-8?B?Q2Fmw6k=?=\r\n"));
	assert_non_null(strstr(msg, "Date: Fri, 05 Apr 2024 12:23:00 +0000\r\n"));
	assert_non_null(strstr(msg, "Message-ID: <1.abc@example.com>\r\n"));
	assert_non_null(strstr(msg, "MIME-Version: 1.0\r\n"));
	assert_non_null(strstr(msg, "multipart/alternative"));
	assert_non_null(strstr(msg, "Content-Type: text/plain; charset=UTF-8"));
	assert_non_null(strstr(msg, "Content-Type: text/html; charset=UTF-8"));
	assert_true(strstr(msg, "text/plain") < strstr(msg, "text/html"));
	free(msg);
}

static void
test_backoff(void **state)
{
	assert_true(notif_backoff(1, 1, 2, 60) == 1);
	assert_true(notif_backoff(2, 1, 2, 60) == 2);
	assert_true(notif_backoff(3, 1, 2, 60) == 4);
	assert_true(notif_backoff(10, 1, 2, 60) == 60);
	assert_true(notif_requeue_delay(0, 10, 3600) == 10);
	assert_true(notif_requeue_delay(3, 10, 3600) == 80);
	assert_true(notif_requeue_delay(20, 10, 3600) == 3600);
}

static void
test_message_id_and_hash(void **state)
{
	char *id = notif_message_id(42, 0xabcdef01, "n@mail.example.com");

	assert_string_equal(id, "<42.abcdef01@mail.example.com>");
	free(id);
	assert_true(notif_hash("a", 1) != notif_hash("b", 1));
	assert_true(notif_hash("abc", 3) == notif_hash("abc", 3));
}

/* Relay replies in any bytes come out as valid UTF-8, escaped, capped. */
static void
test_text_clean(void **state)
{
	char out[256], small[12];
	const char *q = "250 2.0.0 Ok: queued as \xff\xfe";
	size_t n;

	notif_text_clean(q, strlen(q), out, sizeof(out));
	assert_string_equal(out, "250 2.0.0 Ok: queued as \\xff\\xfe");
	q = "451 4.3.0 R\xe9" "essayez plus tard";
	notif_text_clean(q, strlen(q), out, sizeof(out));
	assert_string_equal(out, "451 4.3.0 R\\xe9essayez plus tard");
	q = "550 Caf\xc3\xa9 \xe2\x9c\x93 \x01\x7f\xc2\x85 \xc0\xaf \xed\xa0\x80 \xe2\x82";
	notif_text_clean(q, strlen(q), out, sizeof(out));
	assert_string_equal(out, "550 Caf\xc3\xa9 \xe2\x9c\x93 \\x01\\x7f\\xc2\\x85"
	    " \\xc0\\xaf \\xed\\xa0\\x80 \\xe2\\x82");
	/* capped on a boundary: never half an escape or a character */
	q = "ab\xff\xc3\xa9\xc3\xa9\xc3\xa9";
	n = notif_text_clean(q, strlen(q), small, 8);
	assert_int_equal(n, 6);
	assert_string_equal(small, "ab\\xff");
	n = notif_text_clean(q, strlen(q), small, 10);
	assert_string_equal(small, "ab\\xff\xc3\xa9");
	assert_int_equal(n, 8);
}

/* Writes past the buffer on the old code ("x" + 49 continuation bytes). */
static void
test_subject_encoder_overflow(void **state)
{
	char in[64], *s, *p;
	int words = 0;

	in[0] = 'x';
	memset(in + 1, 0xa4, 49);
	in[50] = '\0';
	s = notif_subject_encode(in);
	assert_non_null(s);
	for (p = s; (p = strstr(p, "=?UTF-8?B?")) != NULL; p++)
		words++;
	assert_int_equal(words, 2);	/* 42 + 8 bytes */
	assert_true(strlen(s) < 200);
	free(s);
	memset(in, 0xa4, 63);
	in[63] = '\0';
	s = notif_subject_encode(in);
	assert_non_null(s);
	free(s);
}

/* Every line of a folded subject fits in 78 characters with "Subject: ". */
static void
assert_lines_fit(const char *s)
{
	const char *p = s, *e;
	size_t first = strlen("Subject: ");

	for (;;) {
		e = strstr(p, "\r\n");
		assert_true((size_t)((e ? e : p + strlen(p)) - p) + first <= 78);
		if (e == NULL)
			break;
		assert_int_equal(e[2], ' ');
		p = e + 2;
		first = 0;
	}
}

static void
test_subject_long_and_lookalike(void **state)
{
	char title[999], *s;

	memset(title, 'a', 998);
	title[998] = '\0';
	s = notif_subject_encode(title);
	assert_true(strncmp(s, "=?UTF-8?B?YWFh", 14) == 0);
	assert_lines_fit(s);
	free(s);
	s = notif_subject_encode("=?UTF-8?B?SGFja2Vk?=");
	assert_string_equal(s, "=?UTF-8?B?PT9VVEYtOD9CP1NHRmphMlZrPz0=?=");
	free(s);
	s = notif_subject_encode("A subject of exactly sixty-eight characters, "
	    "which stays as it is!!!");
	assert_int_equal(strlen(s), 68);
	assert_null(strstr(s, "=?"));
	free(s);
}

static void
test_title_controls(void **state)
{
	static const char *const bad[] = { "a\x7f" "b", "a\xc2\x80" "b",
	    "a\xc2\x9f" "b", "a\xe2\x80\xa8" "b", "a\xe2\x80\xa9" "b", NULL };
	struct notif_input in;
	struct notif_error e;
	char text[256];
	json_t *j;
	int i;

	for (i = 0; bad[i] != NULL; i++) {
		snprintf(text, sizeof(text), "{\"type\":\"EMAIL\",\"title\":\"%s\","
		    "\"content\":\"c\",\"userId\":1,\"recipient\":\"a@b.c\"}",
		    bad[i]);
		expect_refused(text, 400, "title");
	}
	/* no-break space and other printable non-ASCII stay allowed */
	j = body("{\"type\":\"EMAIL\",\"title\":\"a\xc2\xa0\xe2\x80\xa6 b\","
	    "\"content\":\"c\",\"userId\":1,\"recipient\":\"a@b.c\"}");
	assert_int_equal(notif_validate(j, NULL, 1000, &in, &e), 0);
	json_decref(j);
}

static void
test_addr_wire(void **state)
{
	char *w;

	assert_int_equal(notif_addr_wire("u@ex\xc3\xa4mple.com", false, &w),
	    NOTIF_ADDR_OK);
	assert_string_equal(w, "u@xn--exmple-cua.com");
	free(w);
	assert_int_equal(notif_addr_wire("u@EX\xc3\x84MPLE.com", false, &w),
	    NOTIF_ADDR_OK);
	assert_string_equal(w, "u@xn--exmple-cua.com");
	free(w);
	assert_int_equal(notif_addr_wire("user@example.com", false, &w),
	    NOTIF_ADDR_OK);
	assert_string_equal(w, "user@example.com");
	free(w);
	assert_int_equal(notif_addr_wire("\xc3\xbcser@example.com", false, &w),
	    NOTIF_ADDR_NEEDS_UTF8);
	assert_null(w);
	assert_int_equal(notif_addr_wire("\xc3\xbcser@ex\xc3\xa4mple.com", true,
	    &w), NOTIF_ADDR_OK);
	assert_string_equal(w, "\xc3\xbcser@xn--exmple-cua.com");
	free(w);
	assert_int_equal(notif_addr_wire("u@\xe2\x98\x83.com", true, &w),
	    NOTIF_ADDR_BAD_DOMAIN);
}

static void
policy_refused(const char *text, const struct notif_policy *p,
    const char *field)
{
	struct notif_input in;
	struct notif_error e;
	json_t *j = body(text);

	assert_int_equal(notif_validate(j, NULL, 1000, &in, &e), 0);
	assert_int_equal(notif_check_policy(&in, p, &e), -1);
	assert_int_equal(e.status, 422);
	assert_string_equal(e.field, field);
	json_decref(j);
}

static void
test_policy(void **state)
{
	char *list[] = { "ops@example.net", "@mail.example.org" };
	struct notif_policy dflt = { "n@example.com", NULL, 0, false };
	struct notif_policy wide = { "n@example.com", list, 2, false };
	struct notif_input in;
	struct notif_error e;
	json_t *j;

	assert_true(notif_from_allowed("N@Example.com", &dflt));
	assert_false(notif_from_allowed("ceo@bank.example", &dflt));
	assert_false(notif_from_allowed("ops@example.net", &dflt));
	assert_true(notif_from_allowed("ops@example.net", &wide));
	assert_true(notif_from_allowed("any@MAIL.example.org", &wide));
	assert_false(notif_from_allowed("any@evil.mail.example.org", &wide));
	assert_false(notif_from_allowed("x@example.org", &wide));
	policy_refused("{" GOOD ",\"from\":\"ceo@bank.example\"}", &dflt, "from");
	policy_refused("{\"type\":\"EMAIL\",\"title\":\"T\",\"content\":\"c\","
	    "\"userId\":1,\"recipient\":\"\xc3\xbcser@example.com\"}", &dflt,
	    "recipient");
	policy_refused("{\"type\":\"EMAIL\",\"title\":\"T\",\"content\":\"c\","
	    "\"userId\":1,\"recipient\":\"u@\xe2\x98\x83.com\"}", &dflt,
	    "recipient");
	j = body("{" GOOD ",\"from\":\"a@mail.example.org\"}");
	assert_int_equal(notif_validate(j, NULL, 1000, &in, &e), 0);
	assert_int_equal(notif_check_policy(&in, &wide, &e), 0);
	json_decref(j);
}

/* The Message-ID is a function of the row: the same on every send. */
static void
test_message_salt(void **state)
{
	assert_true(notif_message_salt(42, 1712319780123456) ==
	    notif_message_salt(42, 1712319780123456));
	assert_true(notif_message_salt(42, 1712319780123456) !=
	    notif_message_salt(43, 1712319780123456));
	assert_true(notif_message_salt(42, 1712319780123456) !=
	    notif_message_salt(42, 1712319780123457));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_ok),
		cmocka_unit_test(test_validate_refusals),
		cmocka_unit_test(test_content_limit),
		cmocka_unit_test(test_user_id_limit),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_subject),
		cmocka_unit_test(test_html_to_text),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_message_id_and_hash),
		cmocka_unit_test(test_text_clean),
		cmocka_unit_test(test_subject_encoder_overflow),
		cmocka_unit_test(test_subject_long_and_lookalike),
		cmocka_unit_test(test_title_controls),
		cmocka_unit_test(test_addr_wire),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_message_salt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
