/*
 * fuzz_route.c - route patterns against request paths (src/route.c).
 *
 * Input: one byte choosing a pattern (the route table's, or the text
 * after the first NUL when it is past the table), one byte for the
 * capture buffer's size, then the path.  Properties: captures never
 * leave the buffer (it is exactly that size on the heap, so ASan sees
 * a byte too far), and a match means the pattern with its captures put
 * back is the path, each capture non-empty and without '/'.
 */
#include "config.h"

#include <stdbool.h>

#include "fuzz.h"
#include "route.h"

#define FUZZ_MAXARGS	2

/* Kept in step with api_routes[] (src/api.c) by hand. */
static const char *const fuzz_patterns[] = {
	"/health", "/ready", "/metrics",
	"/notification_service/api/notifications",
	"/notification_service/api/notifications/{}",
	"/notification_service/api/notifications/{}/retry",
	"/order/{}", "/order/{}/latest", "/customer/{}/notifications",
	"/send-notification", "/audit/events", "/audit/events/{}",
	"/audit/topics", "/{}/{}", "{}", NULL
};

/* The pattern with each "{}" replaced by its capture equals url. */
static void
fuzz_check_rebuild(const char *pat, const char *url, const char **arg)
{
	size_t cap = strlen(url) + 1, j = 0, n;
	char *re = malloc(cap + 1);
	int na = 0;

	if (re == NULL)
		abort();
	while (*pat != '\0') {
		if (pat[0] == '{' && pat[1] == '}') {
			n = strlen(arg[na]);
			FUZZ_CHECK(n > 0 && strchr(arg[na], '/') == NULL &&
			    j + n < cap, "url \"%s\" capture \"%s\"", url,
			    arg[na]);
			memcpy(re + j, arg[na++], n);
			j += n;
			pat += 2;
		} else {
			FUZZ_CHECK(j + 1 < cap, "url \"%s\" is shorter", url);
			re[j++] = *pat++;
		}
	}
	re[j] = '\0';
	FUZZ_CHECK(strcmp(re, url) == 0, "\"%s\" rebuilt as \"%s\"", url, re);
	free(re);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *arg[FUZZ_MAXARGS] = { NULL, NULL };
	size_t npat = sizeof(fuzz_patterns) / sizeof(fuzz_patterns[0]) - 1;
	size_t buflen;
	char *s, *buf;
	const char *pat, *url;

	if (size < 2)
		return 0;
	buflen = data[1] % 64 + 1;
	s = fuzz_cstr(data + 2, size - 2);
	url = s;
	pat = data[0] < npat ? fuzz_patterns[data[0]] : NULL;
	if (pat == NULL) {
		/* pattern NUL path, both from the input */
		if (strlen(s) + 2 > size - 1)
			goto done;
		pat = s;
		url = s + strlen(s) + 1;
	}
	if ((buf = malloc(buflen)) == NULL)
		abort();
	if (route_match(pat, url, arg, FUZZ_MAXARGS, buf, buflen) ==
	    ROUTE_MATCH)
		fuzz_check_rebuild(pat, url, arg);
	free(buf);
done:
	free(s);
	return 0;
}
