/*
 * fuzz_template.c - template definitions and their rendering
 * (template.c over mustache.c), as a PUT and a POST drive them.
 *
 * Input: a JSON definition, or (when it is not JSON) the source of every
 * part of one.  Properties: a definition is refused with a status and a
 * field, never half built; an accepted one renders for any locale, and a
 * rendered subject is never empty, never longer than 998 bytes and holds
 * no CR, LF or other control character, whatever the data.
 */
#include "config.h"

#include <jansson.h>

#include "fuzz.h"
#include "notif.h"
#include "template.h"

static json_t *
fuzz_definition(const uint8_t *data, size_t size)
{
	json_t *def = json_loadb((const char *)data, size, 0, NULL), *src;

	if (def != NULL)
		return def;
	if ((src = json_stringn((const char *)data, size)) == NULL)
		return NULL;	/* not UTF-8: the API refuses it before */
	def = json_pack("{s:s,s:O,s:O,s:{s:{s:O,s:O}},s:s,s:b}", "subject",
	    "Hi {{name}}", "html", src, "text", src, "locales", "de",
	    "subject", src, "html", src, "defaultLocale", "en", "strict",
	    size % 2);
	json_decref(src);
	return def;
}

static void
fuzz_check_subject(const char *s)
{
	size_t i;

	FUZZ_CHECK(s[0] != '\0', "empty subject");
	FUZZ_CHECK(strlen(s) <= NOTIF_TITLE_MAX, "subject of %zu bytes",
	    strlen(s));
	for (i = 0; s[i] != '\0'; i++)
		FUZZ_CHECK((unsigned char)s[i] >= 0x20 || s[i] == '\t',
		    "control 0x%02x at %zu", (unsigned char)s[i], i);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const locales[] = { NULL, "de-AT", "en", "x" };
	json_t *def = fuzz_definition(data, size), *d;
	struct template_err e;
	struct template_out o;
	struct template *t;
	size_t i;

	if (def == NULL)
		return 0;
	d = json_pack("{s:s,s:[i,i],s:{s:s},s:b}", "name", "x\r\n<b>&",
	    "items", 1, 2, "user", "name", "\xe2\x80\xa8", "on", 1);
	if ((t = template_new(def, 1, &e)) == NULL)
		FUZZ_CHECK((e.status == 400 || e.status == 422) &&
		    e.field[0] != '\0', "refusal %d without a field", e.status);
	for (i = 0; t != NULL && i < sizeof(locales) / sizeof(*locales); i++) {
		FUZZ_CHECK(template_pick(t, locales[i]) != NULL, "no variant");
		if (template_render(t, locales[i], d, &o, &e) == -1)
			continue;
		fuzz_check_subject(o.subject);
		template_out_free(&o);
	}
	template_free(t);
	json_decref(d);
	json_decref(def);
	return 0;
}
