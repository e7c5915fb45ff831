/*
 * smtp.c - sending one message through libcurl's SMTP.
 *
 * One easy handle per worker, so libcurl keeps one connection to the
 * relay open across messages (it drops it after a failed transfer).
 * The server's last reply line is captured from the header callback
 * because libcurl itself only keeps the code.  Addresses arrive
 * validated: libcurl does not refuse CR/LF in envelopes.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "conf.h"
#include "smtp.h"
#include "util.h"

struct smtp {
	CURL		*curl;
	char		*password;
	const char	*body;		/* the message being read by libcurl */
	size_t		 left;
	char		 reply[256];	/* last line the server sent */
	char		 refusal[256];	/* first 4xx/5xx line of this transfer */
};

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
	/* libcurl QUITs after a refusal: keep the refusal, not the "221 Bye". */
	if ((data[0] == '4' || data[0] == '5') && s->refusal[0] == '\0')
		memcpy(s->refusal, s->reply, n + 1);
	return total;
}

static int
smtp_setup(struct smtp *s, char *err, size_t len)
{
	const struct conf *c = conf;
	long tls = CURLUSESSL_TRY;
	CURL *h = s->curl;

	if (strcmp(c->email_smtp_starttls, "off") == 0)
		tls = CURLUSESSL_NONE;
	else if (strcmp(c->email_smtp_starttls, "required") == 0)
		tls = CURLUSESSL_ALL;
	/* conf_check refuses AUTH without TLS; never send it in clear anyway. */
	if (strncmp(c->email_smtp_url, "smtps://", 8) == 0 ||
	    *c->email_smtp_username != '\0')
		tls = CURLUSESSL_ALL;
	curl_easy_setopt(h, CURLOPT_URL, c->email_smtp_url);
	curl_easy_setopt(h, CURLOPT_USE_SSL, tls);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, smtp_read);
	curl_easy_setopt(h, CURLOPT_READDATA, s);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, smtp_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(c->email_smtp_connect_timeout * 1000));
	curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT,
	    (long)(c->email_smtp_timeout + 0.999));
	if (*c->email_smtp_ca_file != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, c->email_smtp_ca_file);
	if (*c->email_smtp_username != '\0') {
		curl_easy_setopt(h, CURLOPT_USERNAME, c->email_smtp_username);
		if (*c->email_smtp_password_file != '\0') {
			s->password = util_read_file(c->email_smtp_password_file,
			    NULL);
			if (s->password == NULL) {
				snprintf(err, len, "email.smtp.password_file %s: "
				    "cannot read", c->email_smtp_password_file);
				return -1;
			}
			s->password[strcspn(s->password, "\r\n")] = '\0';
			curl_easy_setopt(h, CURLOPT_PASSWORD, s->password);
		}
	}
	return 0;
}

struct smtp *
smtp_new(char *err, size_t len)
{
	struct smtp *s;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->curl = curl_easy_init()) == NULL) {
		snprintf(err, len, "out of memory");
		free(s);
		return NULL;
	}
	if (smtp_setup(s, err, len) == -1) {
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

/* Classifies a transfer: the reply code first, curl's error otherwise. */
static void
smtp_classify(struct smtp *s, CURLcode rc, struct smtp_result *r)
{
	long code = 0;

	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
	r->code = (int)code;
	if (rc == CURLE_OK && code >= 200 && code < 300) {
		r->outcome = SMTP_OK;
		snprintf(r->text, sizeof(r->text), "%s", s->reply);
		return;
	}
	/* Trust the code only when the transfer failed on a server reply. */
	if (rc != CURLE_OK && code >= 400 && code < 600 &&
	    (rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR ||
	    rc == CURLE_LOGIN_DENIED || rc == CURLE_QUOTE_ERROR ||
	    rc == CURLE_WEIRD_SERVER_REPLY || rc == CURLE_UPLOAD_FAILED)) {
		r->outcome = code >= 500 ? SMTP_PERM : SMTP_TEMP;
		snprintf(r->text, sizeof(r->text), "%s", *s->refusal ?
		    s->refusal : curl_easy_strerror(rc));
		return;
	}
	r->outcome = SMTP_TEMP;
	r->code = 0;
	snprintf(r->text, sizeof(r->text), "%s", curl_easy_strerror(rc));
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
	curl_easy_setopt(s->curl, CURLOPT_MAIL_FROM, env_from);
	curl_easy_setopt(s->curl, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(s->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	rc = curl_easy_perform(s->curl);
	smtp_classify(s, rc, r);
	curl_easy_setopt(s->curl, CURLOPT_MAIL_RCPT, NULL);
	curl_slist_free_all(rcpt);
}
