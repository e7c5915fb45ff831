/*
 * isotime.c - strict ISO 8601 timestamps, written back in the one form
 * PostgreSQL reads unambiguously.
 *
 * Owns only the syntax and the calendar checks; never touches the
 * database or logs (the caller answers 400 naming the parameter).
 */
#include "config.h"

#include <stdio.h>

#include "isotime.h"

/* Exactly n digits at p, their value in *v; NULL when not. */
static const char *
isotime_digits(const char *p, int n, int *v)
{
	int i;

	for (*v = 0, i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return NULL;
		*v = *v * 10 + (p[i] - '0');
	}
	return p + n;
}

/* Days in month m (1-12) of year y, Gregorian leap rule. */
static int
isotime_mdays(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/* hh:mm[:ss[.frac]] after the date; fraction kept to microseconds. */
static const char *
isotime_time(const char *p, int *t)
{
	int i, dig;

	if ((p = isotime_digits(p, 2, &t[0])) == NULL || *p++ != ':' ||
	    (p = isotime_digits(p, 2, &t[1])) == NULL)
		return NULL;
	if (*p == ':' && (p = isotime_digits(p + 1, 2, &t[2])) == NULL)
		return NULL;
	if (*p == '.' || *p == ',') {
		for (p++, i = 0; *p >= '0' && *p <= '9'; p++, i++)
			if (i < 6)
				t[3] = t[3] * 10 + (*p - '0');
		if (i == 0)
			return NULL;
		for (dig = i; dig < 6; dig++)
			t[3] *= 10;
	}
	return p;
}

/* [Z | (+|-|space)hh[:]mm] ; a space stands for a '+' a query decoded. */
static const char *
isotime_zone(const char *p, char *sign, int *zh, int *zm)
{
	if (*p == 'Z' || *p == 'z')
		return p + 1;
	if (*p != '+' && *p != '-' && *p != ' ')
		return p;
	*sign = *p == '-' ? '-' : '+';
	if ((p = isotime_digits(p + 1, 2, zh)) == NULL)
		return NULL;
	if (*p == ':')
		p++;
	return isotime_digits(p, 2, zm);
}

/*
 * Strict ISO 8601: a date, or a date and time with an optional fraction
 * and zone (none = UTC).  0 with the normalized form in out; -1 when s
 * is not one, or out (see ISOTIME_LEN) is too small.
 */
int
isotime_parse(const char *s, char *out, size_t len)
{
	int y, mo, d, t[4] = { 0, 0, 0, 0 }, zh = 0, zm = 0, n;
	char sign = '+';
	const char *p = s;

	if ((p = isotime_digits(p, 4, &y)) == NULL || *p++ != '-' ||
	    (p = isotime_digits(p, 2, &mo)) == NULL || *p++ != '-' ||
	    (p = isotime_digits(p, 2, &d)) == NULL)
		return -1;
	if ((*p == 'T' || *p == 't' || *p == ' ') &&
	    (p = isotime_time(p + 1, t)) == NULL)
		return -1;
	if ((p = isotime_zone(p, &sign, &zh, &zm)) == NULL)
		return -1;
	if (*p != '\0' || y < 1 || mo < 1 || mo > 12 || d < 1 ||
	    d > isotime_mdays(y, mo) || t[0] > 23 || t[1] > 59 ||
	    t[2] > 59 || zh > 15 || zm > 59)
		return -1;
	n = snprintf(out, len, "%04d-%02d-%02d %02d:%02d:%02d.%06d%c%02d:%02d",
	    y, mo, d, t[0], t[1], t[2], t[3], sign, zh, zm);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}
