/*
 * fuzz_suppress.c - the unsubscribe token reader and the address-failure
 * rule (src/suppress.c).
 *
 * Properties: no memory error on any text; a token that opens names a
 * non-empty user without NUL and a valid category, and signing those
 * again gives a token that opens to the same pair; any input as a user
 * id signs into a token that opens back to it; the bounce rule never
 * reads past the text.
 */
#include "config.h"

#include "fuzz.h"
#include "suppress.h"

static const char fuzz_secret[] = "fuzzing-secret-0123456789";
#define FUZZ_SLEN (sizeof(fuzz_secret) - 1)

static void
fuzz_round_trip(const char *uid, const char *cat)
{
	char *t, *u, *c;

	if ((t = suppress_token(fuzz_secret, FUZZ_SLEN, uid, cat)) == NULL)
		return;
	FUZZ_CHECK(suppress_token_open(fuzz_secret, FUZZ_SLEN, t, &u, &c) == 0,
	    "token of \"%s\" does not open", uid);
	FUZZ_CHECK(strcmp(u, uid) == 0 && strcmp(c, cat) == 0,
	    "\"%s\" came back as \"%s\"", uid, u);
	free(t);
	free(u);
	free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size), *u, *c;

	if (suppress_token_open(fuzz_secret, FUZZ_SLEN, s, &u, &c) == 0) {
		FUZZ_CHECK(*u != '\0' && suppress_category_valid(c),
		    "\"%s\" opened to a bad pair", s);
		fuzz_round_trip(u, c);
		free(u);
		free(c);
	}
	if (*s != '\0')
		fuzz_round_trip(s, "news");
	(void)suppress_address_failure(550, s);
	free(s);
	return 0;
}
