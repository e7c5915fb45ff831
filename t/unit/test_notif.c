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

	assert_int_equal(notif_validate(j, 1000, &in, &e), -1);
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

	assert_int_equal(notif_validate(j, 1000, &in, &e), 0);
	assert_string_equal(in.type, "EMAIL");
	assert_string_equal(in.recipient, "user@example.com");
	assert_true(json_is_integer(in.user_id));
	assert_non_null(in.metadata);
	assert_null(in.from);
	json_decref(j);
	j = body("{\"type\":\"email\",\"title\":\"T\",\"content\":\"c\","
	    "\"userId\":\"u-1\",\"recipient\":\"a.b+c@sub.example.org\"}");
	assert_int_equal(notif_validate(j, 1000, &in, &e), 0);
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
	    1712319780, 0x1234 };
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_ok),
		cmocka_unit_test(test_validate_refusals),
		cmocka_unit_test(test_content_limit),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_subject),
		cmocka_unit_test(test_html_to_text),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_message_id_and_hash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
