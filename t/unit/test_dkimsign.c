/*
 * test_dkimsign.c - the DKIM signer's handling of messages: the field
 * it adds, line ends, and malformed input refused with the message left
 * as it was.  Signatures themselves are verified end to end by dkimpy
 * (t/integration/test_dkim.py).  The key is made here, none is stored.
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
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "dkimsign.h"

static char *test_key;

static char *
test_make_key(void)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *pem;
	long n;

	assert_non_null(k);
	assert_non_null(b);
	assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL,
	    NULL), 1);
	n = BIO_get_mem_data(b, &data);
	pem = strndup(data, (size_t)n);
	BIO_free(b);
	EVP_PKEY_free(k);
	return pem;
}

/* The message with folding removed ("\r\n\t" and "\r\n "). */
static const char *
test_unfold(const char *m)
{
	static char out[8192];
	size_t i, n = 0;

	for (i = 0; m[i] != '\0' && n + 1 < sizeof(out); i++) {
		if (m[i] == '\r' && m[i + 1] == '\n' &&
		    (m[i + 2] == '\t' || m[i + 2] == ' ')) {
			i += 2;
			continue;
		}
		out[n++] = m[i];
	}
	out[n] = '\0';
	return out;
}

static struct dkimsign *
test_signer(void)
{
	static char *hdrs[] = { "from", "to", "subject" };
	const struct dkimsign_opts o = { test_key, "sel", "example.com", hdrs,
	    3 };
	char err[256];
	struct dkimsign *s = dkimsign_new(&o, err, sizeof(err));

	if (s == NULL)
		fail_msg("dkimsign_new: %s", err);
	return s;
}

static int
test_setup(void **state)
{
	(void)state;
	test_key = test_make_key();
	return 0;
}

static int
test_teardown(void **state)
{
	(void)state;
	free(test_key);
	return 0;
}

static void
test_signs_with_crlf(void **state)
{
	static const char m[] = "From: a@example.com\r\nTo: b@example.com\r\n"
	    "Subject: a folded\r\n subject line\r\n\r\nbody\r\n";
	struct dkimsign *s = test_signer();
	char *msg = strdup(m), err[256], *p;
	size_t len = strlen(m);

	(void)state;
	assert_int_equal(dkimsign_message(s, "t", &msg, &len, err,
	    sizeof(err)), 0);
	assert_true(len > strlen(m));
	assert_memory_equal(msg, "DKIM-Signature: ", 16);
	/* the original message follows the field, byte for byte */
	assert_memory_equal(msg + len - strlen(m), m, strlen(m));
	for (p = msg; p < msg + len; p++)
		if (*p == '\n')
			assert_true(p > msg && p[-1] == '\r');
	assert_non_null(strstr(msg, "a=rsa-sha256;"));
	assert_non_null(strstr(msg, "c=relaxed/relaxed;"));
	assert_non_null(strstr(msg, "d=example.com;"));
	assert_non_null(strstr(msg, "s=sel;"));
	assert_non_null(strstr(test_unfold(msg), "h=From:To:Subject;"));
	free(msg);
	dkimsign_free(s);
}

static void
test_malformed_left_alone(void **state)
{
	static const char *const bad[] = {
		"From: a@example.com\r\nno blank line",
		"From: a@example.com\r\n",
		"",
		NULL };
	struct dkimsign *s = test_signer();
	char err[256], *msg;
	size_t len;
	int i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		msg = strdup(bad[i]);
		len = strlen(bad[i]);
		err[0] = '\0';
		assert_int_equal(dkimsign_message(s, "t", &msg, &len, err,
		    sizeof(err)), -1);
		assert_true(err[0] != '\0');
		assert_int_equal(len, strlen(bad[i]));
		assert_string_equal(msg, bad[i]);
		free(msg);
	}
	dkimsign_free(s);
}

static void
test_bad_key_refused_at_new(void **state)
{
	static char *hdrs[] = { "from" };
	const struct dkimsign_opts o = { "-----BEGIN PRIVATE KEY-----\nAAAA\n"
	    "-----END PRIVATE KEY-----\n", "sel", "example.com", hdrs, 1 };
	char err[256] = "";

	(void)state;
	assert_null(dkimsign_new(&o, err, sizeof(err)));
	assert_true(err[0] != '\0');
	dkimsign_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signs_with_crlf),
		cmocka_unit_test(test_malformed_left_alone),
		cmocka_unit_test(test_bad_key_refused_at_new),
	};

	return cmocka_run_group_tests(tests, test_setup, test_teardown);
}
