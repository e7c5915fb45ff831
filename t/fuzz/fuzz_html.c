/*
 * fuzz_html.c - the HTML to plain-text converter (html_to_text), which
 * sees every notification's content.
 *
 * Properties: it never fails on any input (NULL only when out of
 * memory), and the text it writes is valid UTF-8 with no control
 * characters but LF: the plain-text part of a mail must not carry what
 * the HTML hid (NUL, bare CR, escape sequences).
 */
#include "config.h"

#include "fuzz.h"
#include "html.h"
#include "utf8.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_cstr(data, size), *out;
	size_t i;

	out = html_to_text(in, strlen(in));
	FUZZ_CHECK(out != NULL, "no text for %zu bytes", size);
	FUZZ_CHECK(utf8_valid(out, strlen(out)), "invalid UTF-8 out");
	for (i = 0; out[i] != '\0'; i++)
		FUZZ_CHECK((unsigned char)out[i] >= 0x20 || out[i] == '\n' ||
		    out[i] == '\t', "control byte 0x%02x at %zu",
		    (unsigned char)out[i], i);
	free(out);
	free(in);
	return 0;
}
