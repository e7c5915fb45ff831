/*
 * test_whsig.c - Standard Webhooks signing (whsig.c) against the
 * specification's published example, rotation, and webhook.endpoints
 * (conf_webhook.c): its secrets and the errors naming file and key.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "whsig.h"

/* The specification's example: secret, id, timestamp, body, signature. */
#define SPEC_SECRET	"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SPEC_ID		"msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SPEC_TS		1614265330
#define SPEC_BODY	"{\"test\": 2432232314}"
#define SPEC_SIG	"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static char dir[] = "/tmp/notifyd-test-whsig-XXXXXX";

/* Writes text to dir/name and returns the path (static buffer). */
static const char *
put(const char *name, const char *text)
{
	static char path[4][128];
	static int turn;
	char *p = path[turn++ % 4];
	FILE *f;

	snprintf(p, 128, "%s/%s", dir, name);
	assert_non_null(f = fopen(p, "w"));
	fputs(text, f);
	fclose(f);
	return p;
}

static struct conf *
load(const char *text, char *err)
{
	return conf_load(put("notifyd.conf", text), err, CONF_ERRLEN);
}

static void
test_spec_vector(void **state)
{
	char text[CONF_ERRLEN], err[CONF_ERRLEN], out[128];
	const struct conf_webhook_endpoint *e;
	struct whsig_key k;
	struct conf *c;

	(void)state;
	snprintf(text, sizeof(text), "webhook: { endpoints = ( { name = "
	    "\"spec\"; url = \"http://127.0.0.1:9/\"; secret_file = \"%s\"; "
	    "} ); };", put("spec.key", SPEC_SECRET "\n"));
	c = load(text, err);
	assert_non_null(c);
	assert_non_null(e = conf_webhook_find(c, "spec"));
	assert_int_equal(e->nsecrets, 1);
	assert_int_equal(e->secrets[0].len, 24);
	assert_true(e->timeout == 10.0);	/* webhook.timeout */
	k.key = e->secrets[0].key;
	k.len = e->secrets[0].len;
	assert_int_equal(whsig_header(&k, 1, SPEC_ID, SPEC_TS, SPEC_BODY,
	    strlen(SPEC_BODY), out, sizeof(out)), 0);
	assert_string_equal(out, SPEC_SIG);
	assert_null(conf_webhook_find(c, "other"));
	conf_free(c);
}

/* Two secrets: two signatures, space-separated, in the files' order. */
static void
test_rotation(void **state)
{
	char text[CONF_ERRLEN], err[CONF_ERRLEN], out[256];
	const struct conf_webhook_endpoint *e;
	struct whsig_key k[2];
	struct conf *c;

	(void)state;
	snprintf(text, sizeof(text), "webhook: { timeout = 3.5; endpoints = ( "
	    "{ name = \"b-1\"; url = \"https://x.example/h\"; secret_file = "
	    "[\"%s\", \"%s\"]; timeout = 2; } ); };",
	    put("new.key", "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
	    put("old.key", SPEC_SECRET));
	assert_non_null(c = load(text, err));
	e = conf_webhook_find(c, "b-1");
	assert_int_equal(e->nsecrets, 2);
	assert_int_equal(e->secrets[0].len, 32);
	assert_true(e->timeout == 2.0);
	k[0].key = e->secrets[0].key;
	k[0].len = e->secrets[0].len;
	k[1].key = e->secrets[1].key;
	k[1].len = e->secrets[1].len;
	assert_int_equal(whsig_header(k, 2, SPEC_ID, SPEC_TS, SPEC_BODY,
	    strlen(SPEC_BODY), out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 2 * WHSIG_ONE_LEN + 1);
	assert_string_equal(out + WHSIG_ONE_LEN + 1, SPEC_SIG);
	assert_int_equal(out[WHSIG_ONE_LEN], ' ');
	/* Too small a buffer is refused, never overrun. */
	assert_int_equal(whsig_header(k, 2, SPEC_ID, SPEC_TS, SPEC_BODY,
	    strlen(SPEC_BODY), out, 2 * WHSIG_ONE_LEN), -1);
	conf_free(c);
}

/* Each mistake is refused with the file and the key that holds it. */
static void
test_errors(void **state)
{
	static const struct { const char *conf, *want; } cases[] = {
	    { "webhook: { endpoints = 3; };", "webhook.endpoints: expected a "
	      "list" },
	    { "webhook: { endpoints = ( 1 ); };", "webhook.endpoints[0]: "
	      "expected a group" },
	    { "webhook: { endpoints = ( { url = \"http://a/\"; secret_file = "
	      "\"KEY\"; } ); };", "webhook.endpoints[0]: name is required" },
	    { "webhook: { endpoints = ( { name = \"a b\"; } ); };",
	      "webhook.endpoints[0].name: expected 1 to 64" },
	    { "webhook: { endpoints = ( { name = \"a\"; url = \"ftp://a/\"; } "
	      "); };", "webhook.endpoints[0].url: expected an http" },
	    { "webhook: { endpoints = ( { name = \"a\"; url = \"http://a/\\n\"; "
	      "} ); };", "webhook.endpoints[0].url: expected an http" },
	    { "webhook: { endpoints = ( { name = \"a\"; urll = \"x\"; } ); };",
	      "webhook.endpoints[0].urll: unknown member" },
	    { "webhook: { endpoints = ( { name = \"a\"; url = \"http://a/\"; "
	      "secret_file = \"KEY\"; timeout = 0.0; } ); };",
	      "webhook.endpoints[0].timeout: must be between" },
	    { "webhook: { endpoints = ( { name = \"a\"; url = \"http://a/\"; "
	      "secret_file = \"KEY\"; }, { name = \"a\"; url = \"http://b/\"; "
	      "secret_file = \"KEY\"; } ); };", "webhook.endpoints[1].name: "
	      "\"a\" is already endpoint 0" },
	    { "webhook: { endpoints = ( { name = \"a\"; url = \"http://a/\"; "
	      "secret_file = \"/nonexistent/k\"; } ); };",
	      "webhook.endpoints[0].secret_file: /nonexistent/k: cannot read" },
	    { "webhook: { endpoints = ( { name = \"a\"; url = \"http://a/\"; "
	      "secret_file = \"BAD\"; } ); };",
	      "webhook.endpoints[0].secret_file: " },
	    { "webhook: { endpoints = ( { name = \"a\"; url = \"http://a/\"; "
	      "secret_file = [] ; } ); };",
	      "webhook.endpoints[0].secret_file: expected a file name" },
	};
	char text[CONF_ERRLEN], err[CONF_ERRLEN], *at;
	char *key = strdup(put("good.key", SPEC_SECRET));
	char *bad = strdup(put("bad.key", "whsec_c2hvcnQ="));	/* 5 bytes */
	struct conf *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "%s", cases[i].conf);
		while ((at = strstr(text, "KEY")) != NULL ||
		    (at = strstr(text, "BAD")) != NULL) {
			char rest[CONF_ERRLEN];
			snprintf(rest, sizeof(rest), "%s", at + 3);
			snprintf(at, sizeof(text) - (size_t)(at - text), "%s%s",
			    at[0] == 'K' ? key : bad, rest);
		}
		err[0] = '\0';
		c = load(text, err);
		if (c != NULL)
			fail_msg("case %zu loaded", i);
		if (strstr(err, cases[i].want) == NULL ||
		    strstr(err, "notifyd.conf") == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err,
			    cases[i].want);
	}
	free(key);
	free(bad);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[160];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_vector),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
