/*
 * channel_inapp.c - the in-app inbox channel (see channel.h): a
 * notification of type IN_APP goes to the inbox of its userId, read
 * with GET .../users/{userId}/inbox and its live stream (api_inbox.c).
 *
 * validate: no recipient or sender (the userId is the address), and a
 * userId the inbox routes can name: at most 256 bytes, no '/' (a path
 * segment).  The row stores the user id as its recipient.
 * There is no far side: delivery is a worker's own update of the row to
 * SENT, at whose commit sql/017's trigger publishes the item to every
 * api process.  Its rows go on their own topic (inbox.topic), which the
 * inbox worker reads (inbox.c: one statement per batch, no per-row
 * calls).  build, send and classify are still real, for any worker that
 * is handed an IN_APP row through this interface (the mailer, should an
 * id reach the email topic): build is the item, send touches nothing
 * and records the attempt, classify says SENT, so that worker's own
 * outcome write delivers it the same way.  Never logs.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "conf.h"
#include "notif.h"

#define INAPP_UID_MAX	256	/* bytes: api_inbox.h's INBOX_UID_MAX */

static int
channel_inapp_validate(json_t *body, const struct conf *c,
    struct notif_error *e)
{
	json_t *u = json_object_get(body, "userId");
	const char *f, *s;
	char num[24];

	(void)c;
	for (f = "recipient"; f != NULL; f = strcmp(f, "from") ? "from" : NULL)
		if (json_object_get(body, f) != NULL &&
		    !json_is_null(json_object_get(body, f)))
			return notif_fail(e, 400, f, "is not used by IN_APP: "
			    "the notification goes to its userId's inbox");
	if (json_is_integer(u)) {
		snprintf(num, sizeof(num), "%lld",
		    (long long)json_integer_value(u));
		s = num;
	} else if ((s = json_string_value(u)) == NULL)
		return notif_fail(e, 400, "userId",
		    "must be an integer or a string");
	if (strlen(s) > INAPP_UID_MAX || strchr(s, '/') != NULL)
		return notif_fail(e, 400, "userId", "must be at most 256 bytes "
		    "without '/' for IN_APP (it names the inbox)");
	if (json_object_set_new(body, "recipient", json_string(s)) == -1)
		return notif_fail(e, 500, NULL, "out of memory");
	return 0;
}

/* The item as the inbox shows it (what a worker would log or keep). */
static int
channel_inapp_build(void *ctx, const struct channel_job *j, char **msg,
    size_t *len, char *err, size_t errlen)
{
	json_t *o = json_pack("{s:I,s:O*,s:O*,s:O*,s:O*}", "id",
	    (json_int_t)j->id, "title", json_object_get(j->row, "title"),
	    "content", json_object_get(j->row, "content"), "userId",
	    json_object_get(j->row, "user_id"), "metadata",
	    json_object_get(j->row, "metadata"));

	(void)ctx;
	err[0] = '\0';
	*msg = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (*msg == NULL) {
		snprintf(err, errlen, "out of memory");
		return -2;
	}
	*len = strlen(*msg);
	return 0;
}

/* Nothing goes on a wire: the worker's commit of SENT is the delivery. */
static int
channel_inapp_send(void *ctx, const struct channel_job *j, const char *msg,
    size_t len, struct channel_attempt *a)
{
	(void)ctx;
	(void)j;
	(void)msg;
	(void)len;
	memset(a, 0, sizeof(*a));
	a->retry_after = -1;
	snprintf(a->text, sizeof(a->text), "delivered to the inbox");
	return 0;
}

static enum channel_verdict
channel_inapp_classify(const struct channel_attempt *a)
{
	(void)a;
	return CHANNEL_SENT;
}

static const char *
channel_inapp_topic(const struct conf *c)
{
	return c->inbox_topic;
}

const struct channel channel_inapp = {
	.type = "IN_APP",
	.validate = channel_inapp_validate,
	.build = channel_inapp_build,
	.send = channel_inapp_send,
	.classify = channel_inapp_classify,
	.topic = channel_inapp_topic,
};
