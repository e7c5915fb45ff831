/*
 * test_smtp_classify.c - one transfer's curl result and reply code to the
 * outcome the mailer acts on.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "smtp.h"

static struct smtp_result
classify(CURLcode rc, long code, const char *reply, const char *refusal,
    bool utf8_refused)
{
	/* refused at the 2nd reply after EHLO: RCPT's */
	struct smtp_transfer t = { rc, code, reply, refusal, utf8_refused, 2 };
	struct smtp_result r;

	memset(&r, 0x55, sizeof(r));	/* nothing stale may survive */
	smtp_classify(&t, &r);
	return r;
}

static void
test_ok(void **state)
{
	struct smtp_result r = classify(CURLE_OK, 250, "250 2.0.0 Ok: queued",
	    "", false);

	assert_int_equal(r.outcome, SMTP_OK);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.text, "250 2.0.0 Ok: queued");
}

/* A refusal: 5xx is permanent, 4xx temporary; the text is the refusal. */
static void
test_refusals(void **state)
{
	struct smtp_result r;

	r = classify(CURLE_SEND_ERROR, 550, "221 Bye", "550 5.1.1 no such user",
	    false);
	assert_int_equal(r.outcome, SMTP_PERM);
	assert_int_equal(r.code, 550);
	assert_string_equal(r.text, "550 5.1.1 no such user");
	assert_false(r.sender_refused);

	r = classify(CURLE_SEND_ERROR, 451, "221 Bye", "451 4.3.0 try later",
	    false);
	assert_int_equal(r.outcome, SMTP_TEMP);
	assert_int_equal(r.code, 451);
	assert_string_equal(r.text, "451 4.3.0 try later");

	r = classify(CURLE_LOGIN_DENIED, 535, "", "535 5.7.8 bad credentials",
	    false);
	assert_int_equal(r.outcome, SMTP_PERM);
	assert_int_equal(r.code, 535);

	r = classify(CURLE_RECV_ERROR, 421, "", "", false);	/* no line kept */
	assert_int_equal(r.outcome, SMTP_TEMP);
	assert_int_equal(r.code, 421);
	assert_string_equal(r.text, curl_easy_strerror(CURLE_RECV_ERROR));
}

/*
 * The code is trusted only when the transfer failed on a server reply:
 * after a timeout or a TLS failure it may be stale or meaningless, and
 * a 5xx there must not make the row permanently FAILED.
 */
static void
test_code_not_trusted(void **state)
{
	struct smtp_result r;

	r = classify(CURLE_OPERATION_TIMEDOUT, 550, "", "550 stale", false);
	assert_int_equal(r.outcome, SMTP_TEMP);
	assert_int_equal(r.code, 0);
	assert_string_equal(r.text,
	    curl_easy_strerror(CURLE_OPERATION_TIMEDOUT));

	r = classify(CURLE_SSL_CONNECT_ERROR, 0, "", "", false);
	assert_int_equal(r.outcome, SMTP_TEMP);
	assert_int_equal(r.code, 0);

	r = classify(CURLE_COULDNT_CONNECT, 0, "", "", false);
	assert_int_equal(r.outcome, SMTP_TEMP);
	assert_int_equal(r.code, 0);
	assert_string_equal(r.text, curl_easy_strerror(CURLE_COULDNT_CONNECT));

	/* a code out of the reply range is no reply */
	r = classify(CURLE_SEND_ERROR, 600, "", "600 what", false);
	assert_int_equal(r.outcome, SMTP_TEMP);
	assert_int_equal(r.code, 0);
	r = classify(CURLE_WEIRD_SERVER_REPLY, 399, "", "", false);
	assert_int_equal(r.outcome, SMTP_TEMP);
	assert_int_equal(r.code, 0);

	/* success with a non-2xx code is not a delivery */
	r = classify(CURLE_OK, 354, "354 go ahead", "", false);
	assert_int_equal(r.outcome, SMTP_TEMP);
	assert_int_equal(r.code, 0);
}

/* No SMTPUTF8 from the relay for a non-ASCII address: final, no code. */
static void
test_utf8_refused(void **state)
{
	struct smtp_result r = classify(CURLE_ABORTED_BY_CALLBACK, 250,
	    "250 OK", "", true);

	assert_int_equal(r.outcome, SMTP_PERM);
	assert_int_equal(r.code, 0);
	assert_non_null(strstr(r.text, "SMTPUTF8"));
	r = classify(CURLE_OK, 0, "", "", true);	/* refused before sending */
	assert_int_equal(r.outcome, SMTP_PERM);
}

/* A reply line as long as the buffer is cut, never overrun. */
static void
test_long_reply(void **state)
{
	char line[600];
	struct smtp_result r;

	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	memcpy(line, "550 ", 4);
	r = classify(CURLE_SEND_ERROR, 550, "", line, false);
	assert_int_equal(r.outcome, SMTP_PERM);
	assert_int_equal(strlen(r.text), sizeof(r.text) - 1);
	assert_memory_equal(r.text, line, sizeof(r.text) - 1);
}

/* A refusal of MAIL FROM is about the sender, whatever its code says. */
static void
test_sender_refused(void **state)
{
	struct smtp_transfer t = { CURLE_SEND_ERROR, 550, "221 Bye",
	    "550 Sender rejected", false, 1 };
	struct smtp_result r;

	(void)state;
	smtp_classify(&t, &r);
	assert_int_equal(r.outcome, SMTP_PERM);
	assert_true(r.sender_refused);
	t.refusal_at = 2;
	smtp_classify(&t, &r);
	assert_false(r.sender_refused);
	/* a stale count without a refusal means nothing */
	t.refusal = "";
	t.refusal_at = 1;
	smtp_classify(&t, &r);
	assert_false(r.sender_refused);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_code_not_trusted),
		cmocka_unit_test(test_utf8_refused),
		cmocka_unit_test(test_long_reply),
		cmocka_unit_test(test_sender_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
