/*
 * sendat.c - the sendAt of a scheduled notification.
 *
 * Owns the syntax (epoch seconds as a JSON integer, or an RFC 3339
 * date-time string, stricter than isotime.c's ISO 8601, whose calendar
 * checks it reuses), the conversion to microseconds since the epoch and
 * to the text PostgreSQL reads, and the now / later / too far decision.
 * Never reads the clock or the configuration, never logs.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "isotime.h"
#include "sendat.h"

#define SENDAT_US	1000000LL

static int
sendat_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

/* Whether s[0..n) are digits except where pat has a separator. */
static int
sendat_shape(const char *s, const char *pat)
{
	size_t i;

	for (i = 0; pat[i] != '\0'; i++) {
		if (pat[i] == 'd' ? !sendat_isdigit(s[i]) : s[i] != pat[i])
			return 0;
	}
	return 1;
}

/*
 * RFC 3339's date-time and nothing else: "T" (or "t") between date and
 * time, seconds always, "." before a fraction, and "Z" or a numeric
 * offset with its colon.  isotime.c also takes a bare date, no zone, ","
 * and a space: a sendAt must not.
 */
static int
sendat_strict(const char *s)
{
	const char *p = s + 19;

	if (strlen(s) < 20 || (s[10] != 'T' && s[10] != 't'))
		return 0;
	if (!sendat_shape(s, "dddd-dd-dd") || !sendat_shape(s + 11, "dd:dd:dd"))
		return 0;
	if (*p == '.') {
		if (!sendat_isdigit(*++p))
			return 0;
		while (sendat_isdigit(*p))
			p++;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		return 1;
	return (*p == '+' || *p == '-') && strlen(p) == 6 &&
	    sendat_shape(p + 1, "dd:dd");
}

/* Days from 1970-01-01 to y-m-d, proleptic Gregorian (Hinnant's). */
static int64_t
sendat_days(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* An RFC 3339 date-time as microseconds since the epoch; SENDAT_SYNTAX. */
int
sendat_rfc3339(const char *s, int64_t *us)
{
	char norm[ISOTIME_LEN], sign;
	int y, mo, d, h, mi, sec, frac, zh, zm;
	int64_t secs;

	if (!sendat_strict(s) || isotime_parse(s, norm, sizeof(norm)) == -1)
		return SENDAT_SYNTAX;
	if (sscanf(norm, "%4d-%2d-%2d %2d:%2d:%2d.%6d%c%2d:%2d", &y, &mo, &d,
	    &h, &mi, &sec, &frac, &sign, &zh, &zm) != 10)
		return SENDAT_SYNTAX;
	secs = sendat_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	secs -= (sign == '-' ? -1 : 1) * (zh * 3600 + zm * 60);
	*us = secs * SENDAT_US + frac;
	return SENDAT_OK;
}

/*
 * A sendAt member: an integer (epoch seconds, 0 to 9999-12-31) or an
 * RFC 3339 string, as microseconds since the epoch in *us.
 */
int
sendat_parse(const json_t *v, int64_t *us)
{
	json_int_t n;

	if (json_is_string(v))
		return sendat_rfc3339(json_string_value(v), us);
	if (!json_is_integer(v))
		return SENDAT_TYPE;
	n = json_integer_value(v);
	if (n < 0 || n > SENDAT_MAX_EPOCH)
		return SENDAT_RANGE;
	*us = (int64_t)n * SENDAT_US;
	return SENDAT_OK;
}

/* Sent now when due, refused beyond now + horizon, else scheduled. */
enum sendat_plan
sendat_plan(int64_t at_us, int64_t now_us, double horizon_s)
{
	if (at_us <= now_us)
		return SENDAT_NOW;
	if ((double)(at_us - now_us) > horizon_s * SENDAT_US)
		return SENDAT_TOO_FAR;
	return SENDAT_LATER;
}

/* us as "YYYY-MM-DD HH:MM:SS.ffffff+00" (UTC), which timestamptz reads. */
int
sendat_format(int64_t us, char *out, size_t len)
{
	int64_t secs = us / SENDAT_US, frac = us % SENDAT_US;
	time_t t;
	struct tm tm;
	int n;

	if (frac < 0) {
		frac += SENDAT_US;
		secs--;
	}
	t = (time_t)secs;
	if (gmtime_r(&t, &tm) == NULL)
		return -1;
	n = snprintf(out, len, "%04d-%02d-%02d %02d:%02d:%02d.%06lld+00",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long long)frac);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The 400's detail for rc, after the member's name. */
const char *
sendat_error(int rc)
{
	switch (rc) {
	case SENDAT_TYPE:
		return "must be epoch seconds (an integer) or an RFC 3339 "
		    "date-time string";
	case SENDAT_RANGE:
		return "must be epoch seconds from 0 to 253402300799";
	default:
		return "is not an RFC 3339 date-time (e.g. "
		    "\"2026-12-01T09:30:00Z\" or \"2026-12-01T10:30:00+01:00\")";
	}
}
