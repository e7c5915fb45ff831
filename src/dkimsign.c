/*
 * dkimsign.c - DKIM signatures on outgoing mail, through libopendkim.
 *
 * Owns one library handle per mailer process (made after fork, by
 * mailer_init) and one signing handle per message: rsa-sha256,
 * relaxed/relaxed, the header fields of email.dkim.headers.  The
 * DKIM-Signature field is put before the message's first line.  Knows
 * nothing of notifications or SMTP; never logs (the mailer does).
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <dkim.h>

#include "dkimsign.h"

#define DKIMSIGN_FIELD	"DKIM-Signature: "

struct dkimsign {
	DKIM_LIB	*lib;
	unsigned char	*key, *selector, *domain;
	const char	**headers;	/* NULL-ended: DKIM_OPTS_SIGNHDRS */
};

void
dkimsign_free(struct dkimsign *s)
{
	if (s == NULL)
		return;
	if (s->lib != NULL)
		dkim_close(s->lib);
	free(s->key);
	free(s->selector);
	free(s->domain);
	free(s->headers);
	free(s);
}

/* The library handle, told which header fields to sign. */
static DKIM_LIB *
dkimsign_lib(const char **headers)
{
	DKIM_LIB *lib;

	if ((lib = dkim_init(NULL, NULL)) == NULL)
		return NULL;
	if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS,
	    (void *)headers, sizeof(headers)) != DKIM_STAT_OK) {
		dkim_close(lib);
		return NULL;
	}
	return lib;
}

/* One signature at start: a key the library refuses fails here, once. */
static int
dkimsign_probe(struct dkimsign *s, char *err, size_t len)
{
	static const char probe[] = "From: probe@localhost\r\n"
	    "Subject: probe\r\n\r\nprobe\r\n";
	size_t n = sizeof(probe) - 1;
	char *msg;
	int rc;

	if ((msg = strdup(probe)) == NULL) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	rc = dkimsign_message(s, "probe", &msg, &n, err, len);
	free(msg);
	return rc;
}

struct dkimsign *
dkimsign_new(const struct dkimsign_opts *o, char *err, size_t len)
{
	struct dkimsign *s;
	int i;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->key = (unsigned char *)strdup(o->key)) == NULL ||
	    (s->selector = (unsigned char *)strdup(o->selector)) == NULL ||
	    (s->domain = (unsigned char *)strdup(o->domain)) == NULL ||
	    (s->headers = calloc((size_t)o->nheaders + 1,
	    sizeof(*s->headers))) == NULL) {
		snprintf(err, len, "out of memory");
		dkimsign_free(s);
		return NULL;
	}
	for (i = 0; i < o->nheaders; i++)
		s->headers[i] = o->headers[i];
	if ((s->lib = dkimsign_lib(s->headers)) == NULL) {
		snprintf(err, len, "DKIM library initialisation failed");
		dkimsign_free(s);
		return NULL;
	}
	if (dkimsign_probe(s, err, len) == -1) {
		dkimsign_free(s);
		return NULL;
	}
	return s;
}

/*
 * Feeds the header fields (each with its folded lines, without the
 * CRLF that ends it) and returns the offset of the body, or -1.
 */
static ssize_t
dkimsign_headers(DKIM *d, const char *msg, size_t len)
{
	size_t at = 0, end;

	while (at + 2 <= len && memcmp(msg + at, "\r\n", 2) != 0) {
		for (end = at; end + 1 < len; end++)
			if (msg[end] == '\r' && msg[end + 1] == '\n' &&
			    (end + 2 >= len || (msg[end + 2] != ' ' &&
			    msg[end + 2] != '\t')))
				break;
		if (end + 1 >= len || dkim_header(d, (u_char *)msg + at,
		    end - at) != DKIM_STAT_OK)
			return -1;
		at = end + 2;
	}
	if (at + 2 > len || dkim_eoh(d) != DKIM_STAT_OK)
		return -1;
	return (ssize_t)(at + 2);
}

/*
 * The signature's field, CRLF line ends, then the message: a new buffer,
 * NUL-terminated like notif_build's (the length excludes the NUL).
 */
static char *
dkimsign_prepend(const u_char *sig, size_t slen, const char *msg, size_t len,
    size_t *outlen)
{
	size_t i, n = 0;
	char *out;

	if ((out = malloc(sizeof(DKIMSIGN_FIELD) + 2 * slen + 2 + len + 1)) ==
	    NULL)
		return NULL;
	memcpy(out, DKIMSIGN_FIELD, sizeof(DKIMSIGN_FIELD) - 1);
	n = sizeof(DKIMSIGN_FIELD) - 1;
	for (i = 0; i < slen; i++) {
		/* the library folds with bare LF: the wire wants CRLF */
		if (sig[i] == '\n' && (i == 0 || sig[i - 1] != '\r'))
			out[n++] = '\r';
		out[n++] = (char)sig[i];
	}
	memcpy(out + n, "\r\n", 2);
	memcpy(out + n + 2, msg, len);
	out[n + 2 + len] = '\0';
	*outlen = n + 2 + len;
	return out;
}

/* Signs the message d was opened for; the new message in *msg. */
static int
dkimsign_run(DKIM *d, char **msg, size_t *len)
{
	ssize_t body;
	u_char *sig;
	size_t slen;
	char *out;

	if ((body = dkimsign_headers(d, *msg, *len)) == -1 ||
	    dkim_body(d, (u_char *)*msg + body, *len - (size_t)body) !=
	    DKIM_STAT_OK || dkim_eom(d, NULL) != DKIM_STAT_OK ||
	    dkim_getsighdr_d(d, sizeof(DKIMSIGN_FIELD) - 1, &sig, &slen) !=
	    DKIM_STAT_OK)
		return -1;
	if ((out = dkimsign_prepend(sig, slen, *msg, *len, len)) == NULL)
		return -1;
	free(*msg);
	*msg = out;
	return 0;
}

/*
 * Puts a DKIM-Signature on the message in *msg (CRLF lines, header,
 * empty line, body), replacing *msg and *len; -1 with err on failure,
 * the message untouched.  id names the message in the library's errors.
 */
int
dkimsign_message(struct dkimsign *s, const char *id, char **msg, size_t *len,
    char *err, size_t errlen)
{
	DKIM_STAT st = DKIM_STAT_OK;
	const char *why;
	DKIM *d;
	int rc;

	if ((d = dkim_sign(s->lib, (const u_char *)id, NULL, s->key,
	    s->selector, s->domain, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
	    DKIM_SIGN_RSASHA256, -1, &st)) == NULL) {
		snprintf(err, errlen, "DKIM: %s", dkim_getresultstr(st));
		return -1;
	}
	if ((rc = dkimsign_run(d, msg, len)) == -1) {
		why = dkim_geterror(d);
		snprintf(err, errlen, "DKIM signing failed: %s",
		    why != NULL && *why != '\0' ? why : "malformed message");
	}
	dkim_free(d);
	return rc;
}
