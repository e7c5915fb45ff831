/*
 * route.h - matching a request path against a route pattern.
 *
 * Pure code (no I/O, no allocation): the route table lives in api.c;
 * this only says whether one pattern fits one path, so it can be
 * unit-tested and fuzzed on its own.
 */
#ifndef NOTIFYD_ROUTE_H
#define NOTIFYD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

enum route_result {
	ROUTE_NONE,		/* the path does not fit the pattern */
	ROUTE_MATCH,		/* it fits: arg[] holds the segments */
	ROUTE_LONG		/* it fits, but a segment overflows buf */
};

enum route_result route_match(const char *pat, const char *url,
	    const char **arg, int maxargs, char *buf, size_t buflen);

#endif
