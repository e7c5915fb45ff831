/*
 * channel_webhook.c - the webhook channel (see channel.h): a notification
 * of type WEBHOOK names an endpoint of webhook.endpoints ("endpoint":
 * "billing"), never a URL, and is POSTed there as JSON signed per
 * Standard Webhooks (whsig.c) by the webhook workers (webhook.c).
 *
 * The body sent:
 *   {"type": "notification", "timestamp": <created_at>,
 *    "data": {"notificationId", "userId", "title", "content", "metadata"}}
 * with webhook-id "ntf_<id>" (the same on every attempt, for the
 * receiver's dedupe) and webhook-timestamp the attempt's time.
 * The row stores the endpoint's name as its recipient.  Never logs.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "conf.h"
#include "notif.h"
#include "webhook_deliver.h"
#include "webhook_http.h"
#include "webhook_reply.h"

/* Room for the envelope around title, content and metadata, bytes. */
#define CHANNEL_WEBHOOK_ENVELOPE	512

/* The body a notification would make, in bytes (for webhook.max_body). */
static size_t
channel_webhook_size(json_t *body)
{
	size_t n = CHANNEL_WEBHOOK_ENVELOPE;
	const char *k[] = { "title", "content", "metadata", "userId", NULL };
	json_t *v;
	int i;

	for (i = 0; k[i] != NULL; i++)
		if ((v = json_object_get(body, k[i])) != NULL)
			n += json_dumpb(v, NULL, 0, JSON_COMPACT);
	return n;
}

/* The member to name in a 413: metadata when it outweighs content. */
static const char *
channel_webhook_biggest(json_t *body)
{
	json_t *m = json_object_get(body, "metadata");
	json_t *t = json_object_get(body, "content");

	return m != NULL && json_dumpb(m, NULL, 0, JSON_COMPACT) >
	    (t != NULL ? json_dumpb(t, NULL, 0, JSON_COMPACT) : 0) ?
	    "metadata" : "content";
}

/*
 * endpoint: required, one of webhook.endpoints (422 otherwise); a
 * recipient, if sent, must be the same name; the JSON sent must fit in
 * webhook.max_body (413).  The endpoint becomes the row's recipient.
 */
static int
channel_webhook_validate(json_t *body, const struct conf *c,
    struct notif_error *e)
{
	const char *ep, *rcpt;

	if (notif_string(body, "endpoint", true, &ep, e) == -1)
		return -1;
	if (strlen(ep) > 64)
		return notif_fail(e, 400, "endpoint", "is longer than 64 bytes");
	rcpt = json_string_value(json_object_get(body, "recipient"));
	if (json_object_get(body, "recipient") != NULL &&
	    !json_is_null(json_object_get(body, "recipient")) &&
	    (rcpt == NULL || strcmp(rcpt, ep) != 0))
		return notif_fail(e, 400, "recipient", "a WEBHOOK notification "
		    "names an endpoint, not a recipient: leave it out");
	if (c != NULL && conf_webhook_find(c, ep) == NULL)
		return notif_fail(e, 422, "endpoint", "names no endpoint of "
		    "webhook.endpoints");
	if (c != NULL && channel_webhook_size(body) > (size_t)c->webhook_max_body)
		return notif_fail(e, 413, channel_webhook_biggest(body),
		    "the webhook would be larger than webhook.max_body");
	if (json_object_set_new(body, "recipient", json_string(ep)) == -1)
		return notif_fail(e, 500, NULL, "out of memory");
	return 0;
}

static void *
channel_webhook_open(const struct conf *c, char *err, size_t len)
{
	(void)c;
	return webhook_http_new(err, len);
}

static void
channel_webhook_close(void *ctx)
{
	webhook_http_free(ctx);
}

/*
 * A jsonb column of the row, which holds its JSON text as a string
 * (channel.h: columns as strings or null): the value (new reference),
 * or NULL.  Text that is no JSON (a claim that unquoted a string, as
 * "#>> '{}'" does) is that string.
 */
static json_t *
channel_webhook_json_col(const json_t *row, const char *name)
{
	const char *v = json_string_value(json_object_get(row, name));
	json_t *j;

	if (v == NULL)
		return NULL;
	j = json_loads(v, JSON_DECODE_ANY, NULL);
	return j != NULL ? j : json_string(v);
}

/* The JSON body of a notification, from the claimed row's columns:
 * 0, or -2 out of memory (channel.h's contract). */
static int
channel_webhook_build(void *ctx, const struct channel_job *j, char **msg,
    size_t *len, char *err, size_t errlen)
{
	const json_t *r = j->row;
	json_t *doc, *uid, *meta;

	(void)ctx;
	err[0] = '\0';
	uid = channel_webhook_json_col(r, "user_id");
	meta = channel_webhook_json_col(r, "metadata");
	doc = json_pack("{s:s, s:O?, s:{s:I, s:o?, s:O?, s:O?, s:o?}}",
	    "type", "notification", "timestamp", json_object_get(r,
	    "created_at"), "data", "notificationId", (json_int_t)j->id,
	    "userId", uid, "title", json_object_get(r, "title"), "content",
	    json_object_get(r, "content"), "metadata", meta);
	if (doc == NULL || (*msg = json_dumps(doc, JSON_COMPACT)) == NULL) {
		json_decref(doc);
		snprintf(err, errlen, "out of memory");
		return -2;
	}
	*len = strlen(*msg);
	json_decref(doc);
	return 0;
}

/* Signs and POSTs msg to the row's endpoint (webhook_deliver). */
static int
channel_webhook_send(void *ctx, const struct channel_job *j, const char *msg,
    size_t len, struct channel_attempt *a)
{
	char id[32];

	snprintf(id, sizeof(id), "ntf_%" PRId64, j->id);
	return webhook_deliver(ctx, conf, json_string_value(json_object_get(
	    j->row, "recipient")), id, msg, len, a);
}

static const char *
channel_webhook_topic(const struct conf *c)
{
	return c->webhook_topic;
}

const struct channel channel_webhook = {
	.type = "WEBHOOK",
	.validate = channel_webhook_validate,
	.open = channel_webhook_open,
	.close = channel_webhook_close,
	.build = channel_webhook_build,
	.send = channel_webhook_send,
	.classify = webhook_reply_classify,
	.topic = channel_webhook_topic,
};
