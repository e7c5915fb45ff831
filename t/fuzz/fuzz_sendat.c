/*
 * fuzz_sendat.c - a POST's sendAt as RFC 3339 (src/sendat.c).
 *
 * Properties: no memory error on any text; an accepted date-time lies
 * within years 0001-9999 give or take a day of offset, and its UTC
 * spelling (sendat_format, turned into RFC 3339) parses back to the
 * same microsecond whenever UTC is still within those years.
 */
#include "config.h"

#include "fuzz.h"
#include "sendat.h"

/* 0001-01-01 and 10000-01-01 in epoch seconds, a day of offset beyond. */
#define FUZZ_MIN_S	(-62135596800LL - 86400)
#define FUZZ_MAX_S	(253402300800LL + 86400)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size), out[SENDAT_LEN];
	int64_t us, again;
	size_t n;

	if (sendat_rfc3339(s, &us) == SENDAT_OK) {
		FUZZ_CHECK(us / 1000000 >= FUZZ_MIN_S &&
		    us / 1000000 <= FUZZ_MAX_S, "\"%s\" -> %lld", s,
		    (long long)us);
		FUZZ_CHECK(sendat_format(us, out, sizeof(out)) == 0,
		    "\"%s\" -> %lld not formatted", s, (long long)us);
		/* "YYYY-MM-DD HH:MM:SS.ffffff+00" -> "...THH:MM:SS.ffffffZ",
		 * when UTC is still within years 0001-9999 */
		n = strlen(out);
		if (n == SENDAT_LEN - 1 && strncmp(out, "0000", 4) != 0) {
			out[10] = 'T';
			out[n - 3] = 'Z';
			out[n - 2] = '\0';
			FUZZ_CHECK(sendat_rfc3339(out, &again) == SENDAT_OK &&
			    again == us, "\"%s\" -> %lld -> \"%s\"", s,
			    (long long)us, out);
		}
	}
	free(s);
	return 0;
}
