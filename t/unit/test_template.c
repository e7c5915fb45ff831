/*
 * test_template.c - template.c: definitions checked and parsed (the part
 * and line:col of a parse error), the locale fallback, escaping in the
 * HTML part only, strict variables, rendered subjects checked like a
 * title; and notif_build sending a template's own text part.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"
#include "notif.h"
#include "template.h"

static const char welcome[] =
    "{\"subject\": \"Welcome, {{name}}\","
    " \"html\": \"<p>Hello {{name}}</p>\", \"text\": \"Hello {{name}}\","
    " \"defaultLocale\": \"en\","
    " \"locales\": {\"de\": {\"subject\": \"Hallo {{name}}\","
    "  \"html\": \"<p>Hallo {{name}}</p>\"},"
    "  \"de-CH\": {\"subject\": \"Gruezi {{name}}\", \"html\": \"<p>G</p>\"}}}";

static struct template *
load(const char *def, struct template_err *e)
{
	json_t *j = json_loads(def, 0, NULL);
	struct template *t;

	assert_non_null(j);
	t = template_new(j, 1, e);
	json_decref(j);
	return t;
}

static void
test_names(void **state)
{
	char n[102];

	(void)state;
	assert_true(template_name_valid("order-paid.v2_x"));
	assert_false(template_name_valid(""));
	assert_false(template_name_valid("a b"));
	assert_false(template_name_valid("a/b"));
	assert_false(template_name_valid("caf\xc3\xa9"));
	memset(n, 'a', 100);
	n[100] = '\0';
	assert_true(template_name_valid(n));
	n[100] = 'a';
	n[101] = '\0';
	assert_false(template_name_valid(n));
	assert_true(template_locale_valid("de-AT"));
	assert_false(template_locale_valid("de_AT"));
	assert_false(template_locale_valid("-de"));
	assert_false(template_locale_valid("de--AT"));
	assert_false(template_locale_valid("de-"));
}

static void
test_parse_error_names_part(void **state)
{
	struct template_err e;

	(void)state;
	assert_null(load("{\"subject\": \"s\", \"html\": \"h\", \"locales\":"
	    " {\"de\": {\"subject\": \"s\", \"html\": \"ok\\n  {{#a}}x\"}}}",
	    &e));
	assert_int_equal(e.status, 422);
	assert_string_equal(e.field, "locales.de.html");
	assert_true(e.line >= 1);
	assert_non_null(strstr(e.msg, "locales.de.html:"));
	assert_null(load("{\"subject\": \"s\", \"html\": \"{{x\"}", &e));
	assert_int_equal(e.status, 422);
	assert_string_equal(e.field, "html");
	assert_int_equal(e.line, 1);
	assert_null(load("{\"subject\": \"s\", \"html\": \"h\", \"x\": 1}", &e));
	assert_int_equal(e.status, 400);
	assert_string_equal(e.field, "x");
	assert_null(load("{\"subject\": \"a\\nb\", \"html\": \"h\"}", &e));
	assert_string_equal(e.field, "subject");
	assert_null(load("{\"subject\": \"s\"}", &e));
	assert_string_equal(e.field, "html");
	assert_null(load("{\"subject\": \"s\", \"html\": \"h\", \"locales\":"
	    " {\"de\": {\"subject\": \"s\", \"html\": \"h\", \"txt\": \"\"}}}",
	    &e));
	assert_string_equal(e.field, "locales.de.txt");
	/* Found by fuzz_template: an empty member name is still named. */
	assert_null(load("{\"\": 1, \"subject\": \"s\", \"html\": \"h\"}",
	    &e));
	assert_int_equal(e.status, 400);
	assert_string_equal(e.field, "\"\"");
}

static void
test_locale_fallback(void **state)
{
	struct template_err e;
	struct template *t = load(welcome, &e);

	(void)state;
	assert_non_null(t);
	assert_string_equal(template_pick(t, "de-AT")->locale, "de");
	assert_string_equal(template_pick(t, "DE")->locale, "de");
	assert_string_equal(template_pick(t, "de-CH-1901")->locale, "de-CH");
	assert_string_equal(template_pick(t, "fr-FR")->locale, "en");
	assert_string_equal(template_pick(t, "en-GB")->locale, "en");
	assert_string_equal(template_pick(t, NULL)->locale, "en");
	template_free(t);
}

static void
test_render_escapes_html_only(void **state)
{
	struct template_err e;
	struct template_out o;
	struct template *t = load(welcome, &e);
	json_t *data = json_pack("{s:s}", "name", "<b>&\"'");

	(void)state;
	assert_int_equal(template_render(t, NULL, data, &o, &e), 0);
	assert_string_equal(o.subject, "Welcome, <b>&\"'");
	assert_string_equal(o.text, "Hello <b>&\"'");
	assert_null(strstr(o.html, "<b>"));
	assert_non_null(strstr(o.html, "&lt;b&gt;&amp;"));
	assert_string_equal(o.locale, "en");
	template_out_free(&o);
	assert_int_equal(template_render(t, "de-AT", data, &o, &e), 0);
	assert_string_equal(o.subject, "Hallo <b>&\"'");
	assert_null(o.text);
	template_out_free(&o);
	json_decref(data);
	template_free(t);
}

static void
test_render_refusals(void **state)
{
	struct template_err e;
	struct template_out o;
	struct template *t = load(welcome, &e);
	struct template *s = load("{\"subject\": \"s\", \"strict\": true,"
	    " \"html\": \"<p>{{who}}</p>\"}", &e);
	json_t *crlf = json_pack("{s:s}", "name", "x\r\nBcc: a@b.c");
	json_t *sep = json_pack("{s:s}", "name", "x\xe2\x80\xa8");
	json_t *none = json_object();

	(void)state;
	assert_int_equal(template_render(t, NULL, crlf, &o, &e), -1);
	assert_int_equal(e.status, 422);
	assert_string_equal(e.field, "subject");
	assert_null(o.subject);
	assert_int_equal(template_render(t, NULL, sep, &o, &e), -1);
	assert_int_equal(template_render(s, NULL, none, &o, &e), -1);
	assert_int_equal(e.status, 422);
	assert_string_equal(e.field, "html");
	assert_non_null(strstr(e.msg, "who"));
	/* Not strict: a missing variable renders empty. */
	assert_int_equal(template_render(t, NULL, none, &o, &e), 0);
	assert_string_equal(o.subject, "Welcome, ");
	template_out_free(&o);
	json_decref(crlf);
	json_decref(sep);
	json_decref(none);
	template_free(t);
	template_free(s);
}

static void
test_build_sends_text_part(void **state)
{
	struct notif_msg m = { "f@example.com", "t@example.com", "S",
	    "<p>derived</p>", "<1.a@example.com>", 1712319780, 1, "own text", NULL };
	char b64[64];
	size_t len;
	char *msg;

	(void)state;
	msg = notif_build(&m, &len);
	assert_non_null(msg);
	b64[base64_encode((const unsigned char *)"own text", 8, b64)] = '\0';
	assert_non_null(strstr(msg, b64));
	b64[base64_encode((const unsigned char *)"derived", 7, b64)] = '\0';
	assert_null(strstr(msg, b64));
	free(msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_parse_error_names_part),
		cmocka_unit_test(test_locale_fallback),
		cmocka_unit_test(test_render_escapes_html_only),
		cmocka_unit_test(test_render_refusals),
		cmocka_unit_test(test_build_sends_text_part),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
