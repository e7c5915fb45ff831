/*
 * channel_email.c - the email channel (see channel.h): a notification
 * of type EMAIL names a recipient address and optionally a sender.
 *
 * validate: the addresses' syntax and, with a configuration, what this
 * deployment can send (IDN, SMTPUTF8, email.allowed_from).  Refuses,
 * never repairs: a CR or LF in an address is an error.
 * build: the RFC 5322 message (notif_build), List-Unsubscribe for a
 * categorized row, DKIM-signed when email.dkim is set.
 * send: one reused SMTP connection (smtp.c); classify: the reply code.
 * The retry schedule, the rate limit and the rows are the mailer's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "channel.h"
#include "conf.h"
#include "dkimsign.h"
#include "notif.h"
#include "smtp.h"
#include "suppress.h"
#include "util.h"

/* One worker's relay connection and signer. */
struct channel_email {
	const struct conf *c;
	struct smtp	*smtp;
	struct dkimsign	*dkim;		/* NULL: email.dkim not set */
};

/* recipient is required, from optional: both plain addr-specs. */
static int
channel_email_addresses(json_t *body, struct notif_input *in,
    struct notif_error *e)
{
	json_t *f;

	if (notif_string(body, "recipient", true, &in->recipient, e) == -1)
		return -1;
	if (!notif_addr_valid(in->recipient))
		return notif_fail(e, 400, "recipient",
		    "is not a valid email address");
	in->from = NULL;
	if ((f = json_object_get(body, "from")) != NULL && !json_is_null(f)) {
		if (notif_string(body, "from", true, &in->from, e) == -1)
			return -1;
		if (!notif_addr_valid(in->from))
			return notif_fail(e, 400, "from",
			    "is not a valid email address");
	}
	return 0;
}

/*
 * Syntax, then the deployment's policy (422s naming the field): never
 * accept what the relay will refuse.  Without a configuration (unit
 * tests of syntax) the policy is not checked.
 */
static int
channel_email_validate(json_t *body, const struct conf *c,
    struct notif_error *e)
{
	struct notif_input in;
	struct notif_policy p;

	memset(&in, 0, sizeof(in));
	if (channel_email_addresses(body, &in, e) == -1)
		return -1;
	if (c == NULL)
		return 0;
	p.from = c->email_from;
	p.allowed = c->email_allowed_from.v;
	p.nallowed = c->email_allowed_from.n;
	p.smtputf8 = c->email_smtputf8;
	return notif_check_policy(&in, &p, e);
}

/* The relay's settings, from email.smtp.* (conf_check vetted them). */
static void
channel_email_smtp_opts(const struct conf *c, struct smtp_opts *o)
{
	const char *tls = c->email_smtp_starttls;

	o->url = c->email_smtp_url;
	o->starttls = strcmp(tls, "off") == 0 ? SMTP_TLS_OFF :
	    strcmp(tls, "required") == 0 ? SMTP_TLS_REQUIRED :
	    SMTP_TLS_OPPORTUNISTIC;
	o->ca_file = c->email_smtp_ca_file;
	o->username = c->email_smtp_username;
	o->password_file = c->email_smtp_password_file;
	o->connect_timeout = c->email_smtp_connect_timeout;
	o->timeout = c->email_smtp_timeout;
	o->pipelining = c->email_smtp_pipelining;
}

static void
channel_email_close(void *ctx)
{
	struct channel_email *ce = ctx;

	if (ce == NULL)
		return;
	smtp_free(ce->smtp);
	dkimsign_free(ce->dkim);
	free(ce);
	curl_global_cleanup();
}

/* The relay connection and the DKIM signer of email.dkim.*, if set. */
static void *
channel_email_open(const struct conf *c, char *err, size_t len)
{
	const struct dkimsign_opts o = { c->dkim_key, c->email_dkim_selector,
	    c->email_dkim_domain, c->email_dkim_headers.v,
	    c->email_dkim_headers.n };
	struct channel_email *ce;
	struct smtp_opts so;
	char e[448];

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, len, "curl_global_init failed");
		return NULL;
	}
	if ((ce = calloc(1, sizeof(*ce))) == NULL) {
		curl_global_cleanup();
		snprintf(err, len, "out of memory");
		return NULL;
	}
	ce->c = c;
	channel_email_smtp_opts(c, &so);
	if ((ce->smtp = smtp_new(&so, err, len)) == NULL) {
		channel_email_close(ce);
		return NULL;
	}
	if (c->dkim_key != NULL && (ce->dkim = dkimsign_new(&o, e,
	    sizeof(e))) == NULL) {
		snprintf(err, len, "email.dkim: %s", e);
		channel_email_close(ce);
		return NULL;
	}
	return ce;
}

/* A column of the claimed row; NULL when SQL NULL or absent. */
static const char *
channel_email_col(const struct channel_job *j, const char *name)
{
	return json_string_value(json_object_get(j->row, name));
}

/* The sender: the row's own, else email.from. */
static const char *
channel_email_from(const struct channel_email *ce, const struct channel_job *j)
{
	const char *from = channel_email_col(j, "from_addr");

	return from != NULL ? from : ce->c->email_from;
}

/*
 * The envelope in wire form (IDN domains as A-labels).  -1 with err when
 * an address cannot go out with these settings (email.smtputf8 changed
 * since the POST): permanent.  -2: out of memory.
 */
static int
channel_email_envelope(const struct channel_email *ce,
    const struct channel_job *j, char **from, char **to, char *err,
    size_t len)
{
	const char *rcpt = channel_email_col(j, "recipient");
	enum notif_addr_rc rc;

	*from = *to = NULL;
	rc = notif_addr_wire(channel_email_from(ce, j), ce->c->email_smtputf8,
	    from);
	if (rc == NOTIF_ADDR_OK)
		rc = rcpt == NULL ? NOTIF_ADDR_BAD_DOMAIN :
		    notif_addr_wire(rcpt, ce->c->email_smtputf8, to);
	if (rc == NOTIF_ADDR_OK)
		return 0;
	snprintf(err, len, "%s not sendable (IDN or SMTPUTF8, see "
	    "email.smtputf8)", *from == NULL ? "from address" : "recipient");
	free(*from);
	*from = NULL;
	return rc == NOTIF_ADDR_NOMEM ? -2 : -1;
}

/*
 * The row's Message-ID, else one derived from the row (id, creation
 * time, the sender's domain in A-labels), so a send after a crash keeps
 * the same id.  NULL: out of memory.
 */
static char *
channel_email_message_id(const struct channel_email *ce,
    const struct channel_job *j)
{
	const char *stored = channel_email_col(j, "message_id");
	char *wire = NULL, *id;

	if (stored != NULL)
		return strdup(stored);
	if (notif_addr_wire(channel_email_from(ce, j), true, &wire) !=
	    NOTIF_ADDR_OK)
		wire = NULL;
	id = notif_message_id(j->id, notif_message_salt(j->id, j->created_us),
	    wire != NULL ? wire : "notifyd@notifyd.invalid");
	free(wire);
	return id;
}

/* List-Unsubscribe lines for a row with a category, else NULL. */
static char *
channel_email_unsub(const struct channel_email *ce,
    const struct channel_job *j)
{
	const char *cat = channel_email_col(j, "category");
	const char *uid = channel_email_col(j, "user_id");

	if (cat == NULL || uid == NULL)
		return NULL;
	return suppress_headers(ce->c->http_public_url,
	    ce->c->email_unsubscribe_secret,
	    ce->c->email_unsubscribe_secret_len, uid, cat);
}

/* The message's parts from the row; to and mid are the wire forms. */
static char *
channel_email_compose(struct channel_email *ce, const struct channel_job *j,
    const char *from, const char *to, const char *mid, size_t *len)
{
	struct notif_msg nm;
	char *unsub = channel_email_unsub(ce, j), *msg;

	memset(&nm, 0, sizeof(nm));
	nm.from = from;
	nm.to = to;
	nm.subject = channel_email_col(j, "title");
	nm.html = channel_email_col(j, "content");
	nm.text = channel_email_col(j, "text_part");
	nm.message_id = mid;
	nm.headers = unsub;
	nm.date = (int64_t)util_wall();
	nm.boundary_salt = (uint32_t)random();
	msg = nm.subject != NULL && nm.html != NULL ? notif_build(&nm, len) :
	    NULL;
	free(unsub);
	return msg;
}

/*
 * The signed message.  -1: never sendable (err says why); -2: out of
 * memory.  A signing failure still builds it, unsigned, with err set as
 * a warning for the caller to log.
 */
static int
channel_email_build(void *ctx, const struct channel_job *j, char **msg,
    size_t *len, char *err, size_t errlen)
{
	struct channel_email *ce = ctx;
	char *from, *to, *mid = NULL, e[200];
	int rc;

	*msg = NULL;
	err[0] = '\0';
	if ((rc = channel_email_envelope(ce, j, &from, &to, err, errlen)) != 0)
		return rc;
	if ((mid = channel_email_message_id(ce, j)) != NULL)
		*msg = channel_email_compose(ce, j, from, to, mid, len);
	if (*msg != NULL && ce->dkim != NULL && dkimsign_message(ce->dkim,
	    mid, msg, len, e, sizeof(e)) == -1)
		snprintf(err, errlen, "%s; sent unsigned", e);
	free(from);
	free(to);
	free(mid);
	return *msg != NULL ? 0 : -2;
}

/*
 * Sends one built message to the row's recipient.  The attempt carries
 * the relay's reply (cleaned: a relay may answer in any bytes) and the
 * Message-ID as the provider's reference.
 */
static int
channel_email_send(void *ctx, const struct channel_job *j, const char *msg,
    size_t len, struct channel_attempt *a)
{
	struct channel_email *ce = ctx;
	struct smtp_result r;
	char *from, *to, *mid;
	int rc;

	memset(a, 0, sizeof(*a));
	a->retry_after = -1;
	if ((rc = channel_email_envelope(ce, j, &from, &to, a->text,
	    sizeof(a->text))) != 0) {
		a->permanent = rc == -1;
		return -1;
	}
	smtp_send(ce->smtp, from, to, msg, len, &r);
	a->code = r.code;
	a->permanent = r.outcome == SMTP_PERM;
	r.text[sizeof(r.text) - 1] = '\0';
	notif_text_clean(r.text, strlen(r.text), a->text, sizeof(a->text));
	/* A refused MAIL FROM is about our sender, whatever its code. */
	a->recipient_gone = r.outcome == SMTP_PERM && !r.sender_refused &&
	    suppress_address_failure(r.code, r.text);
	if ((mid = channel_email_message_id(ce, j)) != NULL)
		snprintf(a->ref, sizeof(a->ref), "%s", mid);
	free(from);
	free(to);
	free(mid);
	return 0;
}

/* The next job's envelope, for smtp_ahead; none if it cannot go out. */
static void
channel_email_ahead(void *ctx, const struct channel_job *next)
{
	struct channel_email *ce = ctx;
	char *from = NULL, *to = NULL, err[160];

	if (next != NULL && channel_email_envelope(ce, next, &from, &to, err,
	    sizeof(err)) != 0)
		from = to = NULL;
	smtp_ahead(ce->smtp, from, to);
	free(from);
	free(to);
}

/*
 * 2xx sent, 5xx (or a refusal without a code, e.g. no SMTPUTF8 at the
 * relay) permanent, anything else (4xx, network, timeout) temporary.
 */
static enum channel_verdict
channel_email_classify(const struct channel_attempt *a)
{
	if (a->code >= 200 && a->code < 300)
		return CHANNEL_SENT;
	if (a->permanent || (a->code >= 500 && a->code < 600))
		return CHANNEL_PERMANENT;
	return CHANNEL_TEMPORARY;
}

const struct channel channel_email = {
	.type = "EMAIL",
	.validate = channel_email_validate,
	.open = channel_email_open,
	.close = channel_email_close,
	.build = channel_email_build,
	.send = channel_email_send,
	.classify = channel_email_classify,
	.ahead = channel_email_ahead,
};
