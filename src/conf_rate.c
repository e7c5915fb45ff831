/*
 * conf_rate.c - email.user_rate: "N/unit" into a limit and a window.
 *
 * Part of the conf module (its functions are declared in conf.h): pure
 * parsing, no I/O.  The counting itself is api_store_rate.c's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

/*
 * "20/hour" into *limit = 20 and *window = 3600: 1; "" (off): 0 and
 * both 0; anything else: -1.  N is 1 to 1000000, the unit second,
 * minute, hour or day.
 */
int
conf_rate_parse(const char *s, int *limit, int *window)
{
	static const struct { const char *unit; int secs; } units[] = {
		{ "second", 1 }, { "minute", 60 }, { "hour", 3600 },
		{ "day", 86400 }, { NULL, 0 } };
	size_t n = strspn(s, "0123456789");
	int i;

	*limit = *window = 0;
	if (*s == '\0')
		return 0;
	if (n == 0 || n > 7 || s[n] != '/' || atoi(s) < 1 ||
	    atoi(s) > 1000000)
		return -1;
	for (i = 0; units[i].unit != NULL; i++)
		if (strcmp(s + n + 1, units[i].unit) == 0) {
			*limit = atoi(s);
			*window = units[i].secs;
			return 1;
		}
	return -1;
}

/* Parses email.user_rate into the snapshot, or an error naming the key. */
int
conf_rate_load(struct conf *c, const char *file, char *err, size_t len)
{
	if (conf_rate_parse(c->email_user_rate, &c->user_rate_limit,
	    &c->user_rate_window) != -1)
		return 0;
	snprintf(err, len, "%s: email.user_rate: \"%s\" is not N/second, "
	    "N/minute, N/hour or N/day with N from 1 to 1000000 (\"20/hour\"), "
	    "nor empty", file, c->email_user_rate);
	return -1;
}
