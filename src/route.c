/*
 * route.c - a route pattern against a request path.
 *
 * A pattern is literal text where each "{}" stands for one non-empty
 * path segment (no '/').  Owns nothing else: no table, no method, no
 * scope (api.c has those).
 */
#include "config.h"

#include <string.h>

#include "route.h"

/*
 * Whether url fits pat exactly.  ROUTE_MATCH: each "{}" segment is
 * copied, NUL-terminated, into buf and pointed to by arg[] (at most
 * maxargs of them).  ROUTE_LONG: url fits pat but a segment does not
 * fit what is left of buflen; arg[] gets the segments before it and is
 * left as it was from it on (the caller's NULLs), so the first NULL is
 * the long one: the caller answers "too long", not "no such path".
 * ROUTE_NONE: no fit, or more segments than maxargs.
 */
enum route_result
route_match(const char *pat, const char *url, const char **arg, int maxargs,
    char *buf, size_t buflen)
{
	size_t used = 0, n;
	int na = 0;
	bool full = false;

	while (*pat != '\0' && *url != '\0') {
		if (pat[0] == '{' && pat[1] == '}') {
			n = strcspn(url, "/");
			if (n == 0 || na >= maxargs)
				return ROUTE_NONE;
			if (full || used + n + 1 > buflen)
				full = true;
			else {
				memcpy(buf + used, url, n);
				buf[used + n] = '\0';
				arg[na] = buf + used;
				used += n + 1;
			}
			na++;
			url += n;
			pat += 2;
		} else if (*pat++ != *url++)
			return ROUTE_NONE;
	}
	if (*pat != '\0' || *url != '\0')
		return ROUTE_NONE;
	return full ? ROUTE_LONG : ROUTE_MATCH;
}
