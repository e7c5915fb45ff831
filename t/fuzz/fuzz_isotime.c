/*
 * fuzz_isotime.c - the audit API's ISO 8601 parser (src/isotime.c).
 *
 * Properties: no memory error on any text; an accepted timestamp comes
 * back in exactly one fixed shape, and that shape parses to itself.
 */
#include "config.h"

#include "fuzz.h"
#include "isotime.h"

/* "YYYY-MM-DD HH:MM:SS.ffffff+hh:mm": d = digit, anything else literal. */
static const char fuzz_shape[] = "dddd-dd-dd dd:dd:dd.dddddd+dd:dd";

static void
fuzz_check_shape(const char *in, const char *out)
{
	size_t i;

	FUZZ_CHECK(strlen(out) == sizeof(fuzz_shape) - 1, "\"%s\" -> \"%s\"",
	    in, out);
	for (i = 0; fuzz_shape[i] != '\0'; i++) {
		if (fuzz_shape[i] == 'd')
			FUZZ_CHECK(out[i] >= '0' && out[i] <= '9',
			    "\"%s\" -> \"%s\"", in, out);
		else if (fuzz_shape[i] == '+')
			FUZZ_CHECK(out[i] == '+' || out[i] == '-',
			    "\"%s\" -> \"%s\"", in, out);
		else
			FUZZ_CHECK(out[i] == fuzz_shape[i], "\"%s\" -> \"%s\"",
			    in, out);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	char *out = malloc(ISOTIME_LEN), again[ISOTIME_LEN];

	if (out == NULL)
		abort();
	if (isotime_parse(s, out, ISOTIME_LEN) == 0) {
		fuzz_check_shape(s, out);
		FUZZ_CHECK(isotime_parse(out, again, sizeof(again)) == 0,
		    "\"%s\" -> \"%s\" refused", s, out);
		FUZZ_CHECK(strcmp(out, again) == 0, "\"%s\" -> \"%s\" -> \"%s\"",
		    s, out, again);
	}
	free(out);
	free(s);
	return 0;
}
