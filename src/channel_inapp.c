/*
 * channel_inapp.c - the in-app inbox channel (see channel.h): a
 * notification of type IN_APP goes to the inbox of its userId, read
 * with GET .../users/{userId}/inbox and its live stream (api_inbox.c).
 *
 * validate: no recipient or sender (the userId is the address), and a
 * userId the inbox routes can name: at most 256 bytes, no '/' (a path
 * segment).  The row stores the user id as its recipient.
 * There is no far side, so no build, send or classify: delivery is the
 * inbox worker's own update of the row to SENT (inbox.c), at whose
 * commit sql/017's trigger publishes the item to every api process.
 * Its rows go on their own topic (inbox.topic), which only that worker
 * reads.  Never logs.
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

static const char *
channel_inapp_topic(const struct conf *c)
{
	return c->inbox_topic;
}

const struct channel channel_inapp = {
	.type = "IN_APP",
	.validate = channel_inapp_validate,
	.topic = channel_inapp_topic,
};
