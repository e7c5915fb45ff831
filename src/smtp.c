/*
 * smtp.c - sending messages to the relay over one kept connection.
 *
 * libcurl opens the connection (CURLOPT_CONNECT_ONLY): TCP, TLS or
 * STARTTLS, the greeting, EHLO and AUTH.  The transaction itself (MAIL,
 * RCPT, DATA, the message, the dot) is ours, written and read through
 * curl_easy_send/curl_easy_recv, because libcurl's own waits for each
 * reply before the next command: four round trips a message.  When the
 * relay offers PIPELINING (RFC 2920) MAIL, RCPT and DATA go out in one
 * write and the message in the next; and when the caller says which
 * message comes next (smtp_ahead), its MAIL, RCPT and DATA follow this
 * one's final dot in the same write (RFC 2920 3.1: the message's data
 * may start a group).  A message then costs one round trip, and a
 * fraction of the system calls, on both sides.
 *
 * After a refusal the transaction is reset with RSET and the connection
 * kept.  After anything that leaves the order of replies in doubt (a
 * timeout, a malformed reply, a closed connection) it is dropped and the
 * next message connects again.  Addresses arrive validated: libcurl does
 * not refuse CR/LF in envelopes and neither would this.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#include "smtp.h"
#include "smtp_wire.h"
#include "util.h"

/* A password is one line; a file far larger is not one (a log, /dev/zero). */
#define SMTP_PASSWORD_MAX	4096
/* An envelope address on the wire (RFC 5321: 64 + 1 + 255). */
#define SMTP_ADDR_MAX		324

struct smtp {
	CURL		*curl;
	struct smtp_opts o;		/* strings owned (copies) */
	char		*password;
	curl_socket_t	 fd;
	bool		 open;		/* connected, in no transaction */
	/* the connection's last EHLO, from libcurl's header callback */
	int		 ehlo;		/* 0 unknown, 1 reading EHLO, 2 read */
	bool		 utf8_offered;
	bool		 pipelining;	/* offered, and email.smtp.pipelining */
	bool		 size_offered;
	bool		 tls_offered;
	/* what libcurl saw while connecting, for smtp_classify */
	char		 reply[256];
	char		 refusal[256];
	/* bytes read from the relay not yet taken by a reply */
	char		 in[SMTP_LINE_MAX + 2];
	size_t		 in_len;
	/* this transaction: any byte of a reply came; the connection broke */
	bool		 got, lost;
	/* the next message's envelope, as smtp_ahead announced it */
	bool		 ahead;
	char		 ahead_from[SMTP_ADDR_MAX], ahead_to[SMTP_ADDR_MAX];
	/* an envelope written after the last dot, its replies unread */
	bool		 sent_ahead;
	char		 sent_from[SMTP_ADDR_MAX], sent_to[SMTP_ADDR_MAX];
	struct buf	 out;
};

/*
 * Follows the greeting and EHLO lines of each new connection (libcurl
 * hands them to the header callback): SMTPUTF8, PIPELINING, SIZE.  A
 * 220 starts over: after STARTTLS the relay greets and is asked again.
 */
static void
smtp_track_ehlo(struct smtp *s, const char *line, size_t n)
{
	if (n >= 3 && strncmp(line, "220", 3) == 0) {
		s->ehlo = 1;
		s->utf8_offered = s->pipelining = s->size_offered =
		    s->tls_offered = false;
		return;
	}
	if (s->ehlo != 1 || n < 4 || strncmp(line, "250", 3) != 0)
		return;
	if (n >= 12 && strncasecmp(line + 4, "SMTPUTF8", 8) == 0 &&
	    (n == 12 || line[12] == ' '))
		s->utf8_offered = true;
	if (n >= 14 && strncasecmp(line + 4, "PIPELINING", 10) == 0 &&
	    (n == 14 || line[14] == ' '))
		s->pipelining = s->o.pipelining;
	if (n >= 8 && strncasecmp(line + 4, "SIZE", 4) == 0 &&
	    (n == 8 || line[8] == ' '))
		s->size_offered = true;
	if (n >= 12 && strncasecmp(line + 4, "STARTTLS", 8) == 0)
		s->tls_offered = true;
	if (line[3] == ' ')
		s->ehlo = 2;
}

/* Keeps the last line libcurl read while connecting, and its refusal. */
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
	smtp_track_ehlo(s, s->reply, n);
	if ((data[0] == '4' || data[0] == '5') && s->refusal[0] == '\0')
		memcpy(s->refusal, s->reply, n + 1);
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

/* A fresh easy handle for the next connection; -1 when out of memory. */
static int
smtp_handle(struct smtp *s)
{
	const struct smtp_opts *c = &s->o;
	CURL *h;

	if ((h = curl_easy_init()) == NULL)
		return -1;
	curl_easy_setopt(h, CURLOPT_URL, c->url);
	curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(h, CURLOPT_USE_SSL, smtp_use_ssl(c));
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
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
		if (s->password != NULL)
			curl_easy_setopt(h, CURLOPT_PASSWORD, s->password);
	}
	s->curl = h;
	return 0;
}

static int
smtp_setup(struct smtp *s, const struct smtp_opts *c, char *err, size_t len)
{
	s->o = *c;
	s->o.url = strdup(c->url);
	s->o.ca_file = strdup(c->ca_file);
	s->o.username = strdup(c->username);
	s->o.password_file = strdup(c->password_file);
	if (s->o.url == NULL || s->o.ca_file == NULL ||
	    s->o.username == NULL || s->o.password_file == NULL) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	if (*c->username != '\0' && *c->password_file != '\0') {
		s->password = util_read_file(c->password_file,
		    SMTP_PASSWORD_MAX, NULL);
		if (s->password == NULL) {
			snprintf(err, len, "email.smtp.password_file %s: "
			    "cannot read: %s", c->password_file,
			    strerror(errno));
			return -1;
		}
		s->password[strcspn(s->password, "\r\n")] = '\0';
	}
	if (smtp_handle(s) == -1) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	return 0;
}

struct smtp *
smtp_new(const struct smtp_opts *o, char *err, size_t len)
{
	struct smtp *s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	s->fd = CURL_SOCKET_BAD;
	if (smtp_setup(s, o, err, len) == -1) {
		smtp_free(s);
		return NULL;
	}
	return s;
}

/*
 * Ends the connection.  A healthy one gets libcurl's QUIT; a broken one
 * is shut down first, so that libcurl's QUIT fails at once instead of
 * waiting out email.smtp.timeout on a relay that stopped answering.
 */
static void
smtp_close(struct smtp *s, bool healthy)
{
	if (s->fd != CURL_SOCKET_BAD && !healthy)
		(void)shutdown(s->fd, SHUT_RDWR);
	curl_easy_cleanup(s->curl);
	s->curl = NULL;
	s->fd = CURL_SOCKET_BAD;
	s->open = false;
	s->sent_ahead = false;
	s->in_len = 0;
}

void
smtp_free(struct smtp *s)
{
	if (s == NULL)
		return;
	/* With an envelope ahead the relay waits for data: never QUIT then. */
	smtp_close(s, s->open && !s->sent_ahead);
	if (s->password != NULL)
		explicit_bzero(s->password, strlen(s->password));
	free(s->password);
	free((char *)s->o.url);
	free((char *)s->o.ca_file);
	free((char *)s->o.username);
	free((char *)s->o.password_file);
	buf_free(&s->out);
	free(s);
}

/*
 * Classifies a failed or refused connect (or, in the unit test, any
 * transfer): the reply code first, curl's error otherwise.  Pure, so
 * the rules have a unit test.
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

/* A temporary failure of our own making: no reply code, a reason. */
static void
smtp_temp(struct smtp_result *r, const char *why, const char *detail)
{
	r->outcome = SMTP_TEMP;
	r->code = 0;
	r->sender_refused = false;
	/* A relay's long line is cut here: the text is for people. */
	if (snprintf(r->text, sizeof(r->text), "%s%s%s", why,
	    *detail != '\0' ? ": " : "", detail) < 0)
		r->text[0] = '\0';
}

/* Connects, greets, EHLO, STARTTLS, AUTH: libcurl's part. */
static int
smtp_connect(struct smtp *s, struct smtp_result *r)
{
	struct smtp_transfer t = { 0, 0, s->reply, s->refusal, false, 0 };
	curl_socket_t fd = CURL_SOCKET_BAD;
	CURLcode rc;

	if (s->curl == NULL && smtp_handle(s) == -1) {
		smtp_temp(r, "out of memory", "");
		return -1;
	}
	s->ehlo = 0;
	s->reply[0] = s->refusal[0] = '\0';
	rc = curl_easy_perform(s->curl);
	if (rc == CURLE_OK)
		rc = curl_easy_getinfo(s->curl, CURLINFO_ACTIVESOCKET, &fd);
	if (rc != CURLE_OK || fd == CURL_SOCKET_BAD) {
		t.rc = rc != CURLE_OK ? rc : CURLE_COULDNT_CONNECT;
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &t.code);
		smtp_classify(&t, r);
		if (r->outcome == SMTP_OK)	/* no socket after all */
			smtp_temp(r, "no connection to the relay", "");
		smtp_close(s, false);
		return -1;
	}
	s->fd = fd;
	s->open = true;
	s->in_len = 0;
	return 0;
}

static double
smtp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Waits for the socket; 0 ready, -1 timed out or failed. */
static int
smtp_wait(struct smtp *s, short ev, double deadline)
{
	struct pollfd p = { s->fd, ev, 0 };
	double left;
	int n;

	for (;;) {
		if ((left = deadline - smtp_now()) <= 0)
			return -1;
		n = poll(&p, 1, (int)(left * 1000) + 1);
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR)
			return -1;
	}
}

/* Writes all of it; NULL, or why not. */
static const char *
smtp_write(struct smtp *s, const char *p, size_t len)
{
	double deadline = smtp_now() + s->o.timeout;

	while (len > 0) {
		size_t n = 0;
		CURLcode rc = curl_easy_send(s->curl, p, len, &n);

		if (rc == CURLE_AGAIN) {
			if (smtp_wait(s, POLLOUT, deadline) == -1)
				return "timed out writing to the relay";
			continue;
		}
		if (rc != CURLE_OK) {
			s->lost = true;
			return curl_easy_strerror(rc);
		}
		p += n;
		len -= n;
		deadline = smtp_now() + s->o.timeout;
	}
	return NULL;
}

/* Reads one reply within email.smtp.timeout of asking; NULL, or why not. */
static const char *
smtp_read_reply(struct smtp *s, struct smtp_reply *rep)
{
	double deadline = smtp_now() + s->o.timeout;

	smtp_reply_init(rep);
	for (;;) {
		ssize_t used = smtp_reply_feed(rep, s->in, s->in_len);
		size_t n = 0;
		CURLcode rc;

		if (used == -1)
			return rep->error;
		memmove(s->in, s->in + used, s->in_len - (size_t)used);
		s->in_len -= (size_t)used;
		if (rep->done) {
			/* The relay took part: never sent again at once. */
			s->got = true;
			return NULL;
		}
		if (s->in_len == sizeof(s->in))
			return "reply line too long";
		rc = curl_easy_recv(s->curl, s->in + s->in_len,
		    sizeof(s->in) - s->in_len, &n);
		if (rc == CURLE_AGAIN) {
			if (smtp_wait(s, POLLIN, deadline) == -1)
				return "timed out waiting for the relay";
			continue;
		}
		if (rc != CURLE_OK || n == 0) {
			s->lost = true;
			return rc != CURLE_OK ? curl_easy_strerror(rc) :
			    "connection closed by the relay";
		}
		s->got = true;
		s->in_len += n;
	}
}

/*
 * Whether a kept connection is still there before it is used: a relay
 * closes idle ones (often after a 421 line).  Anything readable now, in
 * no transaction, ends it.
 */
static bool
smtp_alive(struct smtp *s)
{
	struct pollfd p = { s->fd, POLLIN, 0 };
	char b[256];
	size_t n = 0;

	if (s->in_len > 0)
		return false;
	if (poll(&p, 1, 0) <= 0)
		return true;
	/* TLS may read a record that carries no data (a session ticket). */
	return curl_easy_recv(s->curl, b, sizeof(b), &n) == CURLE_AGAIN;
}

/* The relay's refusal of a command: its code says for how long. */
static void
smtp_refused(const struct smtp_reply *rep, bool sender,
    struct smtp_result *r)
{
	r->outcome = rep->code >= 500 ? SMTP_PERM : SMTP_TEMP;
	r->code = rep->code;
	r->sender_refused = sender;
	/* The first line, as before: it carries the enhanced code. */
	snprintf(r->text, sizeof(r->text), "%s", rep->first);
}

static bool
smtp_ascii(const char *a)
{
	for (; *a != '\0'; a++)
		if ((unsigned char)*a >= 0x80)
			return false;
	return true;
}

/* MAIL, RCPT and DATA of one message; len 0: no SIZE (not known yet). */
static void
smtp_envelope(struct smtp *s, const char *from, const char *to, size_t len,
    bool utf8)
{
	buf_printf(&s->out, "MAIL FROM:<%s>%s", from, utf8 ? " SMTPUTF8" : "");
	if (s->size_offered && len > 0)
		buf_printf(&s->out, " SIZE=%zu", len);
	buf_printf(&s->out, "\r\nRCPT TO:<%s>\r\nDATA\r\n", to);
}

/*
 * The three commands before the message, and their replies: all three
 * written at once under PIPELINING (or already, after the last dot),
 * else each after the previous reply.  Returns 0 when DATA got its 354,
 * 1 after a refusal (in *r), -1 after a failure that leaves the
 * connection unusable (in *r).
 */
static int
smtp_commands(struct smtp *s, bool written, struct smtp_result *r)
{
	const char *cmd[3], *p = buf_str(&s->out), *err = NULL;
	struct smtp_reply rep[3];
	int i, nread = 0, sent = written ? 3 : 0;

	if (p == NULL) {
		smtp_temp(r, "out of memory", "");
		return -1;
	}
	if (written)
		p = "\r\n\r\n\r\n";	/* not written again */
	cmd[0] = p;
	cmd[1] = strstr(cmd[0], "\r\n") + 2;
	cmd[2] = strstr(cmd[1], "\r\n") + 2;
	for (i = 0; i < 3 && err == NULL; i++) {
		if (i == sent) {
			const char *end = s->pipelining ? p + s->out.len :
			    strstr(cmd[i], "\r\n") + 2;

			err = smtp_write(s, cmd[i], (size_t)(end - cmd[i]));
			sent = s->pipelining ? 3 : i + 1;
			if (err != NULL)
				break;
		}
		if ((err = smtp_read_reply(s, &rep[i])) != NULL)
			break;
		nread = i + 1;
		/*
		 * A 421 ends the commands (the relay is closing: what follows
		 * is its EOF, not replies); unpipelined, any refusal does.
		 */
		if (rep[i].code == 421 || (!s->pipelining &&
		    (rep[i].code >= 400 || (i < 2 && rep[i].code >= 300))))
			break;
	}
	if (err != NULL) {
		smtp_temp(r, "relay", err);
		return -1;
	}
	for (i = 0; i < nread; i++) {
		bool last = i == 2;

		if ((!last && rep[i].code >= 200 && rep[i].code < 300) ||
		    (last && rep[i].code == 354))
			continue;
		smtp_refused(&rep[i], i == 0, r);
		if (rep[i].code < 400) {	/* 3xx to MAIL, 2xx to DATA */
			smtp_temp(r, "relay broke the protocol", rep[i].line);
			return -1;
		}
		/* A DATA accepted after a refusal can only be closed. */
		return s->pipelining && nread == 3 && rep[2].code == 354 ?
		    -1 : 1;
	}
	if (nread == 3)
		return 0;
	smtp_temp(r, "relay", "reply missing");	/* cannot be: see above */
	return -1;
}

/* After a refusal: RSET keeps the connection for the next message. */
static void
smtp_reset(struct smtp *s)
{
	struct smtp_reply rep;

	if (smtp_write(s, "RSET\r\n", 6) != NULL ||
	    smtp_read_reply(s, &rep) != NULL ||
	    rep.code < 200 || rep.code >= 300)
		smtp_close(s, false);
}

/*
 * The next message's envelope after this one's dot, when it was
 * announced and can go: PIPELINING, and SMTPUTF8 when it needs it.
 */
static bool
smtp_append_ahead(struct smtp *s)
{
	bool utf8 = !smtp_ascii(s->ahead_from) || !smtp_ascii(s->ahead_to);

	if (!s->ahead || !s->pipelining || (utf8 && !s->utf8_offered))
		return false;
	smtp_envelope(s, s->ahead_from, s->ahead_to, 0, utf8);
	memcpy(s->sent_from, s->ahead_from, sizeof(s->sent_from));
	memcpy(s->sent_to, s->ahead_to, sizeof(s->sent_to));
	return true;
}

/* One transaction on an open connection. */
static void
smtp_transaction(struct smtp *s, const char *from, const char *to,
    const char *msg, size_t len, bool utf8, struct smtp_result *r)
{
	bool written = s->sent_ahead, ahead;
	struct smtp_reply rep;
	const char *err;
	int rc;

	s->sent_ahead = false;
	buf_reset(&s->out);
	smtp_envelope(s, from, to, len, utf8);
	if ((rc = smtp_commands(s, written, r)) != 0) {
		if (rc == 1 && r->code != 421)
			smtp_reset(s);
		else
			smtp_close(s, false);
		return;
	}
	buf_reset(&s->out);
	smtp_dot_stuff(&s->out, msg, len);
	ahead = smtp_append_ahead(s);
	if (buf_str(&s->out) == NULL) {
		smtp_temp(r, "out of memory", "");
		smtp_close(s, false);
		return;
	}
	if ((err = smtp_write(s, s->out.p, s->out.len)) != NULL ||
	    (err = smtp_read_reply(s, &rep)) != NULL) {
		smtp_temp(r, "relay", err);
		smtp_close(s, false);
		return;
	}
	/* The dot's reply ends this transaction; the next one has begun. */
	s->sent_ahead = ahead;
	if (rep.code >= 200 && rep.code < 300) {
		r->outcome = SMTP_OK;
		r->code = rep.code;
		r->sender_refused = false;
		snprintf(r->text, sizeof(r->text), "%s", rep.line);
		return;
	}
	smtp_refused(&rep, false, r);
	if (rep.code < 400 || rep.code == 421) {
		if (rep.code < 400)
			smtp_temp(r, "relay broke the protocol", rep.line);
		smtp_close(s, false);
	}
}

/*
 * Announces the message the next smtp_send will carry (from and to as
 * it will pass them), or none (NULL).  Its envelope then goes out with
 * this message's dot; a next send for other addresses drops the
 * connection instead (the relay waits for data nobody will send).
 */
void
smtp_ahead(struct smtp *s, const char *from, const char *to)
{
	s->ahead = from != NULL && to != NULL &&
	    strlen(from) < sizeof(s->ahead_from) &&
	    strlen(to) < sizeof(s->ahead_to);
	if (!s->ahead)
		return;
	memcpy(s->ahead_from, from, strlen(from) + 1);
	memcpy(s->ahead_to, to, strlen(to) + 1);
}

static void
smtp_send_tries(struct smtp *s, const char *from, const char *to,
    const char *msg, size_t len, struct smtp_result *r)
{
	bool utf8 = !smtp_ascii(from) || !smtp_ascii(to), kept;
	int tries;

	if (s->sent_ahead && (strcmp(from, s->sent_from) != 0 ||
	    strcmp(to, s->sent_to) != 0))
		smtp_close(s, false);
	for (tries = 0; tries < 2; tries++) {
		/* An envelope ahead has replies coming: readable is fine. */
		kept = s->open && (s->sent_ahead || smtp_alive(s));
		if (s->open && !kept)
			smtp_close(s, false);
		if (!s->open && smtp_connect(s, r) == -1)
			return;
		if (utf8 && !s->utf8_offered) {
			struct smtp_transfer t = { 0, 0, "", "", true, 0 };

			smtp_classify(&t, r);
			return;
		}
		s->got = s->lost = false;
		smtp_transaction(s, from, to, msg, len, utf8, r);
		/*
		 * A kept connection that broke before the relay's first
		 * byte was closed while idle: nothing was taken, so the
		 * message goes once more over a new one.
		 */
		if (!kept || s->got || !s->lost)
			return;
	}
}

/* Sends one message to one recipient; the result says what to do next. */
void
smtp_send(struct smtp *s, const char *from, const char *to, const char *msg,
    size_t len, struct smtp_result *r)
{
	smtp_send_tries(s, from, to, msg, len, r);
	s->ahead = false;	/* announced for this send only */
}
