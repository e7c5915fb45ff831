/*
 * smtp.c - sending one message through libcurl's SMTP.
 *
 * One easy handle per worker, so libcurl keeps one connection to the
 * relay open across messages (it drops it after a failed transfer).
 * The server's last reply line is captured from the header callback
 * because libcurl itself only keeps the code.  Addresses arrive
 * validated: libcurl does not refuse CR/LF in envelopes.  The settings
 * arrive as arguments (the mailer fills them from email.smtp.*).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "smtp.h"
#include "util.h"

/* A password is one line; a file far larger is not one (a log, /dev/zero). */
#define SMTP_PASSWORD_MAX	4096

struct smtp {
	CURL		*curl;
	char		*password;
	const char	*body;		/* the message being read by libcurl */
	size_t		 left;
	char		 reply[256];	/* last line the server sent */
	char		 refusal[256];	/* first 4xx/5xx line of this transfer */
	int		 replies;	/* final reply lines since EHLO or MAIL */
	int		 refusal_at;	/* replies when the refusal came */
	/* SMTPUTF8 (RFC 6531), as the connection's last EHLO announced it */
	int		 ehlo;		/* 0 unknown, 1 reading EHLO, 2 read */
	bool		 utf8_offered;
	bool		 tls_offered;	/* STARTTLS: another EHLO will follow */
	bool		 tls_wanted;	/* we ask for STARTTLS when offered */
	bool		 need_utf8;	/* this message has a non-ASCII address */
	bool		 utf8_refused;	/* stopped before MAIL FROM for that */
};

/*
 * Follows the greeting and EHLO lines of each new connection (libcurl
 * hands them to the header callback too) to learn whether the relay
 * offers SMTPUTF8.  False stops the transfer before MAIL FROM: a
 * non-ASCII address must never go out without SMTPUTF8.
 */
static bool
smtp_track_ehlo(struct smtp *s, const char *line, size_t n)
{
	if (n >= 3 && strncmp(line, "220", 3) == 0) {	/* greeting, STARTTLS */
		s->ehlo = 1;
		s->utf8_offered = s->tls_offered = false;
		return true;
	}
	if (s->ehlo != 1 || n < 4 || strncmp(line, "250", 3) != 0)
		return true;
	if (n >= 12 && strncasecmp(line + 4, "SMTPUTF8", 8) == 0 &&
	    (n == 12 || line[12] == ' '))
		s->utf8_offered = true;
	if (n >= 12 && strncasecmp(line + 4, "STARTTLS", 8) == 0)
		s->tls_offered = true;
	if (line[3] != ' ')
		return true;
	s->ehlo = 2;
	/* After STARTTLS the relay greets and is asked again: judge that. */
	if (s->need_utf8 && !s->utf8_offered &&
	    !(s->tls_offered && s->tls_wanted)) {
		s->utf8_refused = true;
		return false;
	}
	return true;
}

static size_t
smtp_read(char *buf, size_t size, size_t n, void *arg)
{
	struct smtp *s = arg;
	size_t want = size * n;

	if (want > s->left)
		want = s->left;
	memcpy(buf, s->body, want);
	s->body += want;
	s->left -= want;
	return want;
}

/*
 * Keeps the last reply line, for lastError and the attempts log: libcurl
 * hands SMTP reply lines to the header callback.  (The debug callback
 * sees them too, but turning VERBOSE on makes libcurl format every
 * event and pass every body chunk through it, a cost paid per message.)
 */
/*
 * Counts the final reply lines of the transaction, so that a refusal
 * says which command it answers: the first after EHLO (or after the
 * previous message, on a reused connection) is MAIL FROM's, then RCPT,
 * DATA.  A refused sender is about us, not about the recipient (a bare
 * 550 there must not suppress the address).  The greeting and EHLO
 * lines, and AUTH's 334 and 235, are not the transaction's.
 */
static void
smtp_count_reply(struct smtp *s, const char *line, size_t n)
{
	if (n >= 4 && line[3] == '-')
		return;		/* a multi-line reply counts once, at its end */
	if (n >= 3 && (strncmp(line, "220", 3) == 0 ||
	    strncmp(line, "334", 3) == 0 || strncmp(line, "235", 3) == 0)) {
		s->replies = 0;
		return;
	}
	if (s->ehlo != 2)
		return;		/* EHLO's own lines, or before it */
	s->replies++;
}

static size_t
smtp_header(char *data, size_t size, size_t nitems, void *arg)
{
	struct smtp *s = arg;
	size_t n = size * nitems, total = n;

	while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r'))
		n--;
	if (n == 0)
		return total;
	if (n >= sizeof(s->reply))
		n = sizeof(s->reply) - 1;
	memcpy(s->reply, data, n);
	s->reply[n] = '\0';
	smtp_count_reply(s, s->reply, n);
	if (!smtp_track_ehlo(s, s->reply, n))
		return 0;	/* aborts the transfer before MAIL FROM */
	/* libcurl QUITs after a refusal: keep the refusal, not the "221 Bye". */
	if ((data[0] == '4' || data[0] == '5') && s->refusal[0] == '\0') {
		memcpy(s->refusal, s->reply, n + 1);
		s->refusal_at = s->replies;
	}
	return total;
}

/* The TLS rule: the policy asked for, but AUTH or smtps:// force TLS. */
static long
smtp_use_ssl(const struct smtp_opts *o)
{
	/* conf_check refuses AUTH without TLS; never send it in clear anyway. */
	if (strncmp(o->url, "smtps://", 8) == 0 || *o->username != '\0')
		return CURLUSESSL_ALL;
	if (o->starttls == SMTP_TLS_OFF)
		return CURLUSESSL_NONE;
	return o->starttls == SMTP_TLS_REQUIRED ? CURLUSESSL_ALL :
	    CURLUSESSL_TRY;
}

static int
smtp_setup(struct smtp *s, const struct smtp_opts *c, char *err, size_t len)
{
	long tls = smtp_use_ssl(c);
	CURL *h = s->curl;

	s->tls_wanted = tls != CURLUSESSL_NONE &&
	    strncmp(c->url, "smtps://", 8) != 0;
	curl_easy_setopt(h, CURLOPT_URL, c->url);
	curl_easy_setopt(h, CURLOPT_USE_SSL, tls);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, smtp_read);
	curl_easy_setopt(h, CURLOPT_READDATA, s);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, smtp_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(c->connect_timeout * 1000));
	curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT,
	    (long)(c->timeout + 0.999));
	if (*c->ca_file != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (*c->username != '\0') {
		curl_easy_setopt(h, CURLOPT_USERNAME, c->username);
		if (*c->password_file != '\0') {
			s->password = util_read_file(c->password_file,
			    SMTP_PASSWORD_MAX, NULL);
			if (s->password == NULL) {
				snprintf(err, len, "email.smtp.password_file %s: "
				    "cannot read: %s", c->password_file,
				    strerror(errno));
				return -1;
			}
			s->password[strcspn(s->password, "\r\n")] = '\0';
			curl_easy_setopt(h, CURLOPT_PASSWORD, s->password);
		}
	}
	return 0;
}

struct smtp *
smtp_new(const struct smtp_opts *o, char *err, size_t len)
{
	struct smtp *s;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->curl = curl_easy_init()) == NULL) {
		snprintf(err, len, "out of memory");
		free(s);
		return NULL;
	}
	if (smtp_setup(s, o, err, len) == -1) {
		smtp_free(s);
		return NULL;
	}
	return s;
}

void
smtp_free(struct smtp *s)
{
	if (s == NULL)
		return;
	curl_easy_cleanup(s->curl);
	if (s->password != NULL)
		explicit_bzero(s->password, strlen(s->password));
	free(s->password);
	free(s);
}

/*
 * Classifies a transfer: the reply code first, curl's error otherwise.
 * Pure, so the rules have a unit test.
 */
void
smtp_classify(const struct smtp_transfer *t, struct smtp_result *r)
{
	CURLcode rc = (CURLcode)t->rc;
	long code = t->code;

	r->code = (int)code;
	r->sender_refused = false;
	if (t->utf8_refused) {
		r->outcome = SMTP_PERM;
		r->code = 0;
		snprintf(r->text, sizeof(r->text), "relay does not offer SMTPUTF8, "
		    "needed for a non-ASCII address");
		return;
	}
	if (rc == CURLE_OK && code >= 200 && code < 300) {
		r->outcome = SMTP_OK;
		snprintf(r->text, sizeof(r->text), "%s", t->reply);
		return;
	}
	/* Trust the code only when the transfer failed on a server reply. */
	if (rc != CURLE_OK && code >= 400 && code < 600 &&
	    (rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR ||
	    rc == CURLE_LOGIN_DENIED || rc == CURLE_QUOTE_ERROR ||
	    rc == CURLE_WEIRD_SERVER_REPLY || rc == CURLE_UPLOAD_FAILED)) {
		r->outcome = code >= 500 ? SMTP_PERM : SMTP_TEMP;
		r->sender_refused = *t->refusal != '\0' && t->refusal_at == 1;
		snprintf(r->text, sizeof(r->text), "%s", *t->refusal ?
		    t->refusal : curl_easy_strerror(rc));
		return;
	}
	r->outcome = SMTP_TEMP;
	r->code = 0;
	snprintf(r->text, sizeof(r->text), "%s", curl_easy_strerror(rc));
}

/* What the transfer just made left on the handle, then its outcome. */
static void
smtp_result(struct smtp *s, CURLcode rc, struct smtp_result *r)
{
	struct smtp_transfer t = { rc, 0, s->reply, s->refusal,
	    s->utf8_refused, s->refusal_at };

	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &t.code);
	smtp_classify(&t, r);
}

static bool
smtp_ascii(const char *a)
{
	for (; *a != '\0'; a++)
		if ((unsigned char)*a >= 0x80)
			return false;
	return true;
}

/* Sends one message to one recipient; the result says what to do next. */
void
smtp_send(struct smtp *s, const char *from, const char *to, const char *msg,
    size_t len, struct smtp_result *r)
{
	struct curl_slist *rcpt;
	char env_from[300], env_to[300];
	CURLcode rc;

	snprintf(env_from, sizeof(env_from), "<%s>", from);
	snprintf(env_to, sizeof(env_to), "<%s>", to);
	if ((rcpt = curl_slist_append(NULL, env_to)) == NULL) {
		r->outcome = SMTP_TEMP;
		r->code = 0;
		snprintf(r->text, sizeof(r->text), "out of memory");
		return;
	}
	s->body = msg;
	s->left = len;
	s->reply[0] = s->refusal[0] = '\0';
	s->replies = s->refusal_at = 0;
	s->need_utf8 = !smtp_ascii(from) || !smtp_ascii(to);
	s->utf8_refused = s->need_utf8 && s->ehlo == 2 && !s->utf8_offered;
	if (s->utf8_refused) {	/* the open connection said no already */
		curl_slist_free_all(rcpt);
		smtp_result(s, CURLE_OK, r);
		return;
	}
	curl_easy_setopt(s->curl, CURLOPT_MAIL_FROM, env_from);
	curl_easy_setopt(s->curl, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(s->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	rc = curl_easy_perform(s->curl);
	smtp_result(s, rc, r);
	curl_easy_setopt(s->curl, CURLOPT_MAIL_RCPT, NULL);
	curl_slist_free_all(rcpt);
}
