/*
 * sendat.h - the sendAt of a scheduled notification (sendat.c): its
 * two spellings, epoch seconds and RFC 3339, and when it is due.
 *
 * Pure code (no I/O, no clock, no configuration): the api role passes
 * the time and the horizon in.  Never logs.
 */
#ifndef NOTIFYD_SENDAT_H
#define NOTIFYD_SENDAT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The largest epoch second RFC 3339 can spell: 9999-12-31T23:59:59Z. */
#define SENDAT_MAX_EPOCH	253402300799LL

/* "YYYY-MM-DD HH:MM:SS.ffffff+00" and its NUL. */
#define SENDAT_LEN		32

/* Why a sendAt value was refused (sendat_parse); each is a 400. */
enum sendat_rc {
	SENDAT_OK = 0,
	SENDAT_TYPE = -1,	/* neither an integer nor a string */
	SENDAT_RANGE = -2,	/* an integer outside 0..SENDAT_MAX_EPOCH */
	SENDAT_SYNTAX = -3,	/* a string that is not an RFC 3339 date-time */
};

/* What to do with a valid sendAt (sendat_plan). */
enum sendat_plan {
	SENDAT_NOW,		/* now or in the past: the normal path */
	SENDAT_LATER,		/* store it SCHEDULED */
	SENDAT_TOO_FAR,		/* beyond the horizon: 422 */
};

int	sendat_parse(const json_t *v, int64_t *us)
	    __attribute__((warn_unused_result));
int	sendat_rfc3339(const char *s, int64_t *us)
	    __attribute__((warn_unused_result));
enum sendat_plan sendat_plan(int64_t at_us, int64_t now_us, double horizon_s);
int	sendat_format(int64_t us, char *out, size_t len)
	    __attribute__((warn_unused_result));
const char *sendat_error(int rc);

#endif
