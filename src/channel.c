/*
 * channel.c - the registry of delivery channels (see channel.h).
 *
 * A literal table of the channels this build has: adding one is a line
 * here and its own channel_<name>.c.  Knows no channel's fields, wire
 * format or provider; the api and the workers find a channel only
 * through channel_find().
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "channel.h"

extern const struct channel channel_email;
extern const struct channel channel_webhook;
extern const struct channel channel_inapp;

static const struct channel *const channel_table[] = {
	&channel_email,
	&channel_webhook,
	&channel_inapp,
};

#define CHANNEL_COUNT (sizeof(channel_table) / sizeof(channel_table[0]))

static char		channel_names[256];
static pthread_once_t	channel_names_once = PTHREAD_ONCE_INIT;

/* Finds a request's type; a type longer than any name never matches. */
const struct channel *
channel_find(const char *type)
{
	size_t i;

	if (type == NULL)
		return NULL;
	for (i = 0; i < CHANNEL_COUNT; i++)
		if (strcasecmp(type, channel_table[i]->type) == 0)
			return channel_table[i];
	return NULL;
}

/* A channel's own topic, or NULL: email.topic's (queue.c's default). */
const char *
channel_topic(const struct conf *c, const char *type)
{
	const struct channel *ch = channel_find(type);

	return ch != NULL && ch->topic != NULL ? ch->topic(c) : NULL;
}

/* Joins the names once; the api's threads then only read them. */
static void
channel_names_join(void)
{
	size_t i, j = 0;

	for (i = 0; i < CHANNEL_COUNT && j < sizeof(channel_names); i++)
		j += (size_t)snprintf(channel_names + j,
		    sizeof(channel_names) - j, "%s%s", i > 0 ? ", " : "",
		    channel_table[i]->type);
}

/* The accepted types, in table order, for an error that lists them. */
const char *
channel_types(void)
{
	(void)pthread_once(&channel_names_once, channel_names_join);
	return channel_names;
}
