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
 * True when url fits pat exactly; each "{}" segment is copied, NUL-
 * terminated, into buf and pointed to by arg[] (at most maxargs of
 * them).  False too when the captures would not fit buflen.
 */
bool
route_match(const char *pat, const char *url, const char **arg, int maxargs,
    char *buf, size_t buflen)
{
	size_t used = 0, n;
	int na = 0;

	while (*pat != '\0' && *url != '\0') {
		if (pat[0] == '{' && pat[1] == '}') {
			n = strcspn(url, "/");
			if (n == 0 || na >= maxargs || used + n + 1 > buflen)
				return false;
			memcpy(buf + used, url, n);
			buf[used + n] = '\0';
			arg[na++] = buf + used;
			used += n + 1;
			url += n;
			pat += 2;
		} else if (*pat++ != *url++)
			return false;
	}
	return *pat == '\0' && *url == '\0';
}
