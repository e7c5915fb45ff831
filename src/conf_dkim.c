/*
 * conf_dkim.c - email.dkim.*: checks the names and reads the key.
 *
 * Part of the conf module (conf_dkim_load is declared in conf.h).  The
 * key is read and parsed when the configuration loads, so that `-t`,
 * the start and a reload refuse a key the mailer could not use, and the
 * mailers of a generation sign with exactly the key that was checked
 * (its PEM text travels in the snapshot).  OpenSSL parses it here; the
 * signing itself is dkimsign.c's, in the mailer.  Never logs.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "conf.h"

/* A domain or selector: dot-separated labels of letters, digits, '-'. */
static int
conf_dkim_name_ok(const char *s)
{
	size_t n;

	if (*s == '\0' || strlen(s) > 253)
		return 0;
	for (;;) {
		n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");
		if (n == 0 || n > 63)
			return 0;
		s += n;
		if (*s == '\0')
			return 1;
		if (*s++ != '.')
			return 0;
	}
}

/* A header field name (RFC 5322 ftext: printable ASCII but ':'). */
static int
conf_dkim_field_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 64)
		return 0;
	for (; *s != '\0'; s++)
		if (*s < 33 || *s > 126 || *s == ':')
			return 0;
	return 1;
}

/* 0 when pem holds one RSA private key of 1024 bits or more (RFC 8301). */
static int
conf_dkim_parse(const char *pem, char *why, size_t len)
{
	EVP_PKEY *k;
	BIO *b;
	int bits = 0, rsa = 0;

	if ((b = BIO_new_mem_buf(pem, (int)strlen(pem))) == NULL) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	if ((k = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"")) != NULL) {
		rsa = EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA;
		bits = EVP_PKEY_get_bits(k);
	}
	EVP_PKEY_free(k);
	BIO_free(b);
	ERR_clear_error();
	if (k == NULL)
		snprintf(why, len, "not a PEM private key (or one with a "
		    "passphrase)");
	else if (!rsa)
		snprintf(why, len, "not an RSA key (rsa-sha256 needs one)");
	else if (bits < 1024)
		snprintf(why, len, "RSA key of %d bits: at least 1024 needed",
		    bits);
	else
		return 0;
	return -1;
}

/* The names: a domain, a selector, header fields with From among them. */
static int
conf_dkim_check_names(const struct conf *c, const char *file, char *err,
    size_t len)
{
	char *const *h = c->email_dkim_headers.v;
	int i, from = 0;

	if (!conf_dkim_name_ok(c->email_dkim_domain))
		return conf_errf(err, len, "%s: email.dkim.domain: \"%s\" "
		    "is not a domain name", file, c->email_dkim_domain);
	if (!conf_dkim_name_ok(c->email_dkim_selector))
		return conf_errf(err, len, "%s: email.dkim.selector: "
		    "\"%s\" is not a selector (labels of letters, digits, - "
		    "and _)", file, c->email_dkim_selector);
	for (i = 0; i < c->email_dkim_headers.n; i++) {
		if (!conf_dkim_field_ok(h[i]))
			return conf_errf(err, len, "%s: "
			    "email.dkim.headers: element %d is not a header "
			    "field name", file, i);
		from |= strcasecmp(h[i], "from") == 0;
	}
	if (!from)
		return conf_errf(err, len, "%s: email.dkim.headers: must "
		    "include \"from\" (RFC 6376)", file);
	return 0;
}

/*
 * With email.dkim.domain set: checks the names, then reads and parses
 * key_file into c->dkim_key.  Without it nothing is signed, and a
 * selector or key_file set alone is a mistake worth an error.
 */
int
conf_dkim_load(struct conf *c, const char *file, char *err, size_t len)
{
	const char *kf = c->email_dkim_key_file;
	char why[128];

	if (*c->email_dkim_domain == '\0') {
		if (*kf == '\0' && *c->email_dkim_selector == '\0')
			return 0;
		return conf_errf(err, len, "%s: email.dkim.domain: must "
		    "be set with email.dkim.selector and email.dkim.key_file",
		    file);
	}
	if (conf_dkim_check_names(c, file, err, len) == -1)
		return -1;
	if (*kf == '\0')
		return conf_errf(err, len, "%s: email.dkim.key_file: must "
		    "be set when email.dkim.domain is", file);
	if ((c->dkim_key = conf_file_read(file, "email.dkim.key_file", kf,
	    NULL, err, len)) == NULL)
		return -1;
	if (conf_dkim_parse(c->dkim_key, why, sizeof(why)) == -1)
		return conf_errf(err, len, "%s: email.dkim.key_file: %s: "
		    "%s", file, kf, why);
	return 0;
}
