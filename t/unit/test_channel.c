/*
 * test_channel.c - the channel registry and notif_validate's dispatch
 * on "type": every listed type is found, anything else (NUL, wrong
 * JSON type, huge, invalid UTF-8) is refused naming the field, and the
 * type's own checks run only for its type.
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

#include "channel.h"
#include "conf.h"
#include "notif.h"

#define REST "\"title\":\"Hi\",\"content\":\"<p>x</p>\",\"userId\":1," \
	"\"recipient\":\"user@example.com\""

/* Validates a body whose "type" member is the JSON text type. */
static int
check_type(const char *type, struct notif_input *in, struct notif_error *e)
{
	char text[512];
	json_t *j;
	int rc;

	snprintf(text, sizeof(text), "{\"type\":%s," REST "}", type);
	memset(e, 0, sizeof(*e));
	if ((j = notif_parse(text, strlen(text), e)) == NULL)
		return -2;
	rc = notif_validate(j, NULL, 1000, in, e);
	json_decref(j);
	return rc;
}

static void
expect_type_refused(const char *type, int status, const char *msg)
{
	struct notif_input in;
	struct notif_error e;

	assert_int_equal(check_type(type, &in, &e), -1);
	assert_int_equal(e.status, status);
	assert_non_null(e.field);
	assert_string_equal(e.field, "type");
	if (strstr(e.msg, msg) == NULL)
		fail_msg("type %s: message \"%s\" lacks \"%s\"", type, e.msg, msg);
}

static void
test_find(void **state)
{
	const struct channel *c = channel_find("EMAIL");

	(void)state;
	assert_non_null(c);
	assert_string_equal(c->type, "EMAIL");
	assert_ptr_equal(channel_find("email"), c);
	assert_ptr_equal(channel_find("eMaIl"), c);
	assert_non_null(c->validate);
	assert_null(channel_find(NULL));
	assert_null(channel_find(""));
	assert_null(channel_find("SMS"));
	assert_null(channel_find("EMAIL "));
	assert_null(channel_find(" EMAIL"));
	assert_null(channel_find("EMAILS"));
	assert_null(channel_find("EMAI"));
	assert_null(channel_find("EM\xc3\x80IL"));
	assert_null(channel_find("\xff\xfe\xfd"));
}

/* Every name channel_types() lists is found, and nothing else is listed. */
static void
test_types_list_the_table(void **state)
{
	char names[256], *p, *save = NULL;
	int n = 0;

	(void)state;
	snprintf(names, sizeof(names), "%s", channel_types());
	assert_non_null(strstr(names, "EMAIL"));
	for (p = strtok_r(names, ", ", &save); p != NULL;
	    p = strtok_r(NULL, ", ", &save), n++) {
		assert_non_null(channel_find(p));
		assert_string_equal(channel_find(p)->type, p);
	}
	assert_true(n >= 1);
	assert_ptr_equal(channel_types(), channel_types());
}

/* The type decides the channel; in.type is the table's spelling. */
static void
test_dispatch(void **state)
{
	static const char text[] = "{\"type\":\"email\"," REST "}";
	struct notif_input in;
	struct notif_error e;
	json_t *j = json_loads(text, 0, NULL);

	(void)state;
	assert_int_equal(notif_validate(j, NULL, 1000, &in, &e), 0);
	assert_ptr_equal(in.channel, channel_find("EMAIL"));
	assert_string_equal(in.type, "EMAIL");
	assert_string_equal(in.recipient, "user@example.com");
	assert_null(in.from);
	json_decref(j);
}

static void
test_unknown_type_names_accepted(void **state)
{
	char want[300];

	(void)state;
	snprintf(want, sizeof(want), "accepted types are %s", channel_types());
	expect_type_refused("\"SMS\"", 422, want);
	expect_type_refused("\"PUSH\"", 422, want);
	expect_type_refused("\"EMAIL\\u00a0\"", 422, want);
	expect_type_refused("\"\"", 400, "must not be empty");
	expect_type_refused("\"  \"", 400, "must not be empty");
	expect_type_refused("\"EMAIL\\r\\nX: y\"", 400, "control characters");
}

static void
test_type_wrong_json_type(void **state)
{
	(void)state;
	expect_type_refused("1", 400, "must be a string");
	expect_type_refused("1.5", 400, "must be a string");
	expect_type_refused("true", 400, "must be a string");
	expect_type_refused("[\"EMAIL\"]", 400, "must be a string");
	expect_type_refused("{\"EMAIL\":1}", 400, "must be a string");
	expect_type_refused("null", 400, "is required");
}

static void
test_type_with_nul(void **state)
{
	(void)state;
	expect_type_refused("\"EMAIL\\u0000\"", 400, "must not contain NUL");
	expect_type_refused("\"\\u0000EMAIL\"", 400, "must not contain NUL");
}

/* A huge type is refused without being echoed into the message. */
static void
test_type_huge(void **state)
{
	size_t n = 1 << 20;
	struct notif_input in;
	struct notif_error e;
	char *big = malloc(n + 1);
	json_t *j;

	(void)state;
	assert_non_null(big);
	memset(big, 'E', n);
	big[n] = '\0';
	j = json_pack("{s:s, s:s, s:s, s:i, s:s}", "type", big, "title", "t",
	    "content", "c", "userId", 1, "recipient", "a@b.example");
	assert_non_null(j);
	assert_int_equal(notif_validate(j, NULL, 1000, &in, &e), -1);
	assert_int_equal(e.status, 422);
	assert_string_equal(e.field, "type");
	assert_null(strstr(e.msg, "EEEEEEEE"));
	assert_true(strlen(e.msg) < sizeof(e.msg));
	json_decref(j);
	free(big);
}

/*
 * Invalid UTF-8 never reaches the registry from HTTP (the parser
 * refuses it); a string built around the parser is still just unknown.
 */
static void
test_type_invalid_utf8(void **state)
{
	static const char bad[] = "{\"type\":\"EM\xc0\xafIL\"," REST "}";
	struct notif_input in;
	struct notif_error e;
	json_t *j;

	(void)state;
	assert_null(notif_parse(bad, strlen(bad), &e));
	assert_int_equal(e.status, 400);
	assert_non_null(strstr(e.msg, "malformed JSON"));
	j = json_pack("{s:s, s:s, s:i, s:s}", "title", "t", "content", "c",
	    "userId", 1, "recipient", "a@b.example");
	json_object_set_new(j, "type", json_stringn_nocheck("EMAIL\xff", 6));
	assert_int_equal(notif_validate(j, NULL, 1000, &in, &e), -1);
	assert_int_equal(e.status, 422);
	assert_string_equal(e.field, "type");
	json_decref(j);
}

/* The channel's own checks run after the common ones, for its type only. */
static void
test_channel_checks_its_fields(void **state)
{
	static const char *no_rcpt = "{\"type\":\"EMAIL\",\"title\":\"t\","
	    "\"content\":\"c\",\"userId\":1}";
	static const char *no_title = "{\"type\":\"EMAIL\",\"content\":\"c\","
	    "\"userId\":1}";
	static const char *sms = "{\"type\":\"SMS\",\"title\":\"t\","
	    "\"content\":\"c\",\"userId\":1}";
	struct notif_input in;
	struct notif_error e;
	json_t *j;

	(void)state;
	j = json_loads(no_rcpt, 0, NULL);
	assert_int_equal(notif_validate(j, NULL, 1000, &in, &e), -1);
	assert_string_equal(e.field, "recipient");
	json_decref(j);
	j = json_loads(no_title, 0, NULL);
	assert_int_equal(notif_validate(j, NULL, 1000, &in, &e), -1);
	assert_string_equal(e.field, "title");
	json_decref(j);
	j = json_loads(sms, 0, NULL);
	assert_int_equal(notif_validate(j, NULL, 1000, &in, &e), -1);
	assert_string_equal(e.field, "type");
	json_decref(j);
}

/* With a configuration the email channel applies email.allowed_from. */
static void
test_email_policy_with_conf(void **state)
{
	static const char *body = "{\"type\":\"EMAIL\",\"title\":\"t\","
	    "\"content\":\"c\",\"userId\":1,\"recipient\":\"u@example.com\","
	    "\"from\":\"other@elsewhere.example\"}";
	char *allowed[] = { "@ok.example" };
	struct conf c;
	struct notif_input in;
	struct notif_error e;
	json_t *j = json_loads(body, 0, NULL);

	(void)state;
	memset(&c, 0, sizeof(c));
	c.email_from = "notifyd@example.com";
	c.email_allowed_from.v = allowed;
	c.email_allowed_from.n = 1;
	assert_int_equal(notif_validate(j, NULL, 1000, &in, &e), 0);
	assert_int_equal(notif_validate(j, &c, 1000, &in, &e), -1);
	assert_int_equal(e.status, 422);
	assert_string_equal(e.field, "from");
	allowed[0] = "@elsewhere.example";
	assert_int_equal(notif_validate(j, &c, 1000, &in, &e), 0);
	assert_string_equal(in.from, "other@elsewhere.example");
	json_decref(j);
}

/* The email channel's verdicts: the reply code decides, else the flag. */
static void
test_email_classify(void **state)
{
	const struct channel *c = channel_find("EMAIL");
	struct channel_attempt a;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.code = 250;
	assert_int_equal(c->classify(&a), CHANNEL_SENT);
	a.code = 451;
	assert_int_equal(c->classify(&a), CHANNEL_TEMPORARY);
	a.code = 550;
	assert_int_equal(c->classify(&a), CHANNEL_PERMANENT);
	a.code = 0;	/* connection refused, timeout */
	assert_int_equal(c->classify(&a), CHANNEL_TEMPORARY);
	a.permanent = true;	/* no SMTPUTF8 at the relay */
	assert_int_equal(c->classify(&a), CHANNEL_PERMANENT);
}

/* A worker's settings: a relay that is never contacted here. */
static void
email_conf(struct conf *c)
{
	static char secret[] = "0123456789abcdef";

	memset(c, 0, sizeof(*c));
	c->email_from = "notifyd@example.com";
	c->email_smtp_url = "smtp://127.0.0.1:1";
	c->email_smtp_starttls = "off";
	c->email_smtp_ca_file = "";
	c->email_smtp_username = "";
	c->email_smtp_password_file = "";
	c->email_smtp_connect_timeout = 1;
	c->email_smtp_timeout = 1;
	c->http_public_url = "https://n.example/";
	c->email_unsubscribe_secret = secret;
	c->email_unsubscribe_secret_len = sizeof(secret) - 1;
}

/* Builds the message for a row given as JSON text; rc of build. */
static int
email_build(void *ctx, const char *row, char **msg, char *err)
{
	const struct channel *c = channel_find("EMAIL");
	json_t *r = json_loads(row, 0, NULL);
	struct channel_job j = { 42, 1700000000000000LL, 1, r };
	size_t len = 0;
	int rc;

	assert_non_null(r);
	rc = c->build(ctx, &j, msg, &len, err, 256);
	if (rc == 0)
		assert_int_equal(strlen(*msg), len);
	json_decref(r);
	return rc;
}

#define ROW "\"title\":\"Hi\",\"content\":\"<p>x</p>\",\"text_part\":null," \
	"\"user_id\":\"7\""

static void
test_email_build(void **state)
{
	const struct channel *c = channel_find("EMAIL");
	struct conf wc;
	char err[256], *msg = NULL;
	void *ctx;

	(void)state;
	email_conf(&wc);
	assert_non_null(ctx = c->open(&wc, err, sizeof(err)));
	assert_int_equal(email_build(ctx, "{" ROW ",\"recipient\":"
	    "\"u@b\u00fccher.example\",\"from_addr\":null,\"message_id\":null,"
	    "\"category\":null}", &msg, err), 0);
	assert_string_equal(err, "");
	assert_non_null(strstr(msg, "\r\nTo: u@xn--bcher-kva.example\r\n"));
	assert_non_null(strstr(msg, "From: notifyd@example.com\r\n"));
	assert_non_null(strstr(msg, "Message-ID: <42."));
	assert_null(strstr(msg, "List-Unsubscribe"));
	free(msg);
	assert_int_equal(email_build(ctx, "{" ROW ",\"recipient\":\"u@e.example\","
	    "\"from_addr\":\"a@f.example\",\"message_id\":\"<kept@x>\","
	    "\"category\":\"news\"}", &msg, err), 0);
	assert_non_null(strstr(msg, "From: a@f.example\r\n"));
	assert_non_null(strstr(msg, "Message-ID: <kept@x>\r\n"));
	assert_non_null(strstr(msg, "List-Unsubscribe: <https://n.example/"
	    "unsubscribe/"));
	free(msg);
	/* email.smtputf8 off: a non-ASCII local part can never go out. */
	assert_int_equal(email_build(ctx, "{" ROW ",\"recipient\":"
	    "\"\u00fc@e.example\",\"from_addr\":null,\"message_id\":null,"
	    "\"category\":null}", &msg, err), -1);
	assert_non_null(strstr(err, "recipient not sendable"));
	assert_null(msg);
	c->close(ctx);
	c->close(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_types_list_the_table),
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_unknown_type_names_accepted),
		cmocka_unit_test(test_type_wrong_json_type),
		cmocka_unit_test(test_type_with_nul),
		cmocka_unit_test(test_type_huge),
		cmocka_unit_test(test_type_invalid_utf8),
		cmocka_unit_test(test_channel_checks_its_fields),
		cmocka_unit_test(test_email_policy_with_conf),
		cmocka_unit_test(test_email_classify),
		cmocka_unit_test(test_email_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
