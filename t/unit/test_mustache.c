/*
 * test_mustache.c - the Mustache engine: every test of the public
 * specification's core modules (the JSON files of t/data/mustache-spec, byte for
 * byte), then what the spec leaves to us: parse errors with line:col,
 * strict mode, escaping modes, partial depth, limits, hostile input.
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

#include "buf.h"
#include "mustache.h"
#include "utf8.h"

/* ---- the specification's JSON files ---- */

static const char *
spec_partial(void *arg, const char *name, size_t *len)
{
	json_t *p = json_object_get(arg, name);

	if (!json_is_string(p))
		return NULL;
	*len = json_string_length(p);
	return json_string_value(p);
}

static void
spec_show(const char *what, const char *s, size_t n)
{
	char esc[2048];

	fprintf(stderr, "#   %s: \"%s\"\n", what, utf8_escape(s, n, esc,
	    sizeof(esc)));
}

/* One test case; 0 when it renders exactly as expected. */
static int
spec_case(const char *file, json_t *tc)
{
	const char *name = json_string_value(json_object_get(tc, "name"));
	json_t *tpl = json_object_get(tc, "template");
	json_t *want = json_object_get(tc, "expected");
	struct mustache_opts o = { .escape = MUSTACHE_ESCAPE_HTML,
	    .partial = spec_partial,
	    .partial_arg = json_object_get(tc, "partials") };
	struct mustache_err e;
	struct mustache *t;
	struct buf out = { 0 };
	int bad = 0;

	assert_non_null(name);
	assert_true(json_is_string(tpl) && json_is_string(want));
	t = mustache_parse(json_string_value(tpl), json_string_length(tpl), &e);
	if (t == NULL)
		bad = fprintf(stderr, "# %s: \"%s\": parse error %d:%d: %s\n",
		    file, name, e.line, e.col, e.msg);
	else if (mustache_render(t, json_object_get(tc, "data"), &o, &out,
	    &e) == -1)
		bad = fprintf(stderr, "# %s: \"%s\": render error %d:%d: %s\n",
		    file, name, e.line, e.col, e.msg);
	else if (out.len != json_string_length(want) ||
	    (out.len > 0 && memcmp(out.p, json_string_value(want), out.len))) {
		bad = fprintf(stderr, "# %s: \"%s\": wrong output\n", file,
		    name);
		spec_show("want", json_string_value(want),
		    json_string_length(want));
		spec_show("got ", out.p, out.len);
	}
	mustache_free(t);
	buf_free(&out);
	return bad != 0;
}

/* Runs every test of one spec file; fails naming each that broke. */
static void
spec_file(const char *file, size_t count)
{
	const char *dir = getenv("NOTIFYD_SRCDIR");
	char path[4096];
	json_error_t je;
	json_t *root, *tests, *tc;
	size_t i, ran = 0, failed = 0;

	snprintf(path, sizeof(path), "%s/t/data/mustache-spec/%s.json",
	    dir != NULL ? dir : ".", file);
	if ((root = json_load_file(path, 0, &je)) == NULL)
		fail_msg("%s: %s", path, je.text);
	tests = json_object_get(root, "tests");
	json_array_foreach(tests, i, tc) {
		failed += spec_case(file, tc);
		ran++;
	}
	json_decref(root);
	if (failed > 0)
		fail_msg("%s.json: %zu of %zu tests failed", file, failed, ran);
	/* a truncated or replaced file must not pass as a smaller suite */
	assert_int_equal(ran, count);
}

static void test_spec_comments(void **s) { spec_file("comments", 12); }
static void test_spec_delimiters(void **s) { spec_file("delimiters", 14); }
static void test_spec_interpolation(void **s)
    { spec_file("interpolation", 42); }
static void test_spec_inverted(void **s) { spec_file("inverted", 22); }
static void test_spec_partials(void **s) { spec_file("partials", 12); }
static void test_spec_sections(void **s) { spec_file("sections", 34); }

/* ---- helpers for our own cases ---- */

/* Partials from a NULL-terminated name, text, name, text... list. */
static const char *
list_partial(void *arg, const char *name, size_t *len)
{
	const char **p;

	for (p = arg; *p != NULL; p += 2)
		if (strcmp(*p, name) == 0) {
			*len = strlen(p[1]);
			return p[1];
		}
	return NULL;
}

static json_t *
data_of(const char *js)
{
	json_error_t je;
	json_t *d = json_loads(js, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);

	if (d == NULL)
		fail_msg("bad test JSON %s: %s", js, je.text);
	return d;
}

/* Renders tpl (n bytes) into out; returns render's result, e filled. */
static int
render_n(const char *tpl, size_t n, const char *js,
    const struct mustache_opts *o, struct buf *out, struct mustache_err *e)
{
	struct mustache *t = mustache_parse(tpl, n, e);
	json_t *d = data_of(js);
	int rc;

	if (t == NULL)
		fail_msg("parse error %d:%d: %s", e->line, e->col, e->msg);
	rc = mustache_render(t, d, o, out, e);
	mustache_free(t);
	json_decref(d);
	return rc;
}

#define RENDER_OK(tpl, js, o, want) do {				\
	struct buf b_ = { 0 };						\
	struct mustache_err e_;						\
	assert_int_equal(render_n(tpl, strlen(tpl), js, o, &b_, &e_), 0); \
	assert_string_equal(buf_str(&b_), want);			\
	buf_free(&b_);							\
} while (0)

static void
expect_render_error(const char *tpl, const char *js,
    const struct mustache_opts *o, int line, int col, const char *msg)
{
	struct buf b = { 0 };
	struct mustache_err e;

	buf_add(&b, "kept", 4);
	assert_int_equal(render_n(tpl, strlen(tpl), js, o, &b, &e), -1);
	if (line > 0) {		/* 0: where depends on the order of work */
		assert_int_equal(e.line, line);
		assert_int_equal(e.col, col);
	}
	assert_string_equal(e.msg, msg);
	/* a failed render leaves what the buffer held before */
	assert_int_equal(b.len, 4);
	buf_free(&b);
}

static void
expect_parse_error(const char *tpl, int line, int col, const char *msg)
{
	struct mustache_err e;

	assert_null(mustache_parse(tpl, strlen(tpl), &e));
	assert_string_equal(e.msg, msg);
	assert_int_equal(e.line, line);
	assert_int_equal(e.col, col);
}

static const struct mustache_opts html = { .escape = MUSTACHE_ESCAPE_HTML };
static const struct mustache_opts strict = { .escape = MUSTACHE_ESCAPE_HTML,
    .strict = true };

/* ---- parse errors: what the 422 of a template save shows ---- */

static void
test_parse_errors(void **state)
{
	expect_parse_error("ab\ncd {{name", 2, 4, "unclosed tag");
	expect_parse_error("{{{name}}", 1, 1, "unclosed tag");
	expect_parse_error("{{!never closed", 1, 1, "unclosed tag");
	expect_parse_error("x\n  {{#a}}\n{{b}}", 2, 3,
	    "unclosed section {{#a}}");
	expect_parse_error("{{#a}}{{^b}}{{/b}}", 1, 1,
	    "unclosed section {{#a}}");
	expect_parse_error("{{#a}}\n {{/b}}", 2, 2,
	    "{{/b}} does not close {{#a}} (opened at 1:1)");
	expect_parse_error("{{#a}}{{^b}}{{/a}}", 1, 13,
	    "{{/a}} does not close {{^b}} (opened at 1:7)");
	expect_parse_error("\n\n{{/a}}", 3, 1, "{{/a}} closes no section");
	expect_parse_error("{{=<%>=}}", 1, 1, "bad delimiter change: "
	    "want two delimiters apart, like {{=<% %>=}}");
	expect_parse_error("ok\n{{=<% %> x=}}", 2, 1, "bad delimiter change: "
	    "want two delimiters apart, like {{=<% %>=}}");
	expect_parse_error("{{= =}}", 1, 1, "bad delimiter change: "
	    "want two delimiters apart, like {{=<% %>=}}");
	expect_parse_error("{{=<% %>}}", 1, 1, "unclosed tag");
	/* the new delimiters are the ones a later error is found with */
	expect_parse_error("{{=<% %>=}}\n<%#a%>", 2, 1,
	    "unclosed section {{#a}}");
	expect_parse_error("{{a b}}", 1, 1, "bad name \"a b\"");
	expect_parse_error("{{a..b}}", 1, 1, "bad name \"a..b\"");
	expect_parse_error("{{.a}}", 1, 1, "bad name \".a\"");
	expect_parse_error("{{  }}", 1, 1, "empty tag");
	expect_parse_error("{{#}}{{/}}", 1, 1, "empty tag");
	/* columns count characters, not bytes */
	expect_parse_error("\xc3\xa4\xc3\xb6 {{x", 1, 4, "unclosed tag");
	/* names in messages cannot carry control bytes */
	expect_parse_error("{{#a\x01}}", 1, 1, "unclosed section {{#a\\x01}}");
}

/* ---- strict mode: missing names are errors naming them ---- */

static void
test_strict(void **state)
{
	const char *parts[] = { "p", "line\n{{who}}", NULL };
	struct mustache_opts sp = strict;

	sp.partial = list_partial;
	sp.partial_arg = parts;
	RENDER_OK("[{{nope}}]", "{}", &html, "[]");
	expect_render_error("a\n [{{nope}}]", "{}", &strict, 2, 3,
	    "missing name \"nope\"");
	expect_render_error("{{a.b.c}}", "{\"a\":{\"b\":{}}}", &strict, 1, 1,
	    "missing name \"a.b.c\"");
	/* the rest of a dotted name is looked up only in its first part */
	expect_render_error("{{#a}}{{b.c}}{{/a}}",
	    "{\"a\":{\"b\":{}},\"b\":{\"c\":1}}", &strict, 1, 7,
	    "missing name \"b.c\"");
	expect_render_error("{{#x}}{{/x}}", "{}", &strict, 1, 1,
	    "missing name \"x\"");
	expect_render_error("{{^x}}{{/x}}", "{}", &strict, 1, 1,
	    "missing name \"x\"");
	expect_render_error("{{>q}}", "{}", &sp, 1, 1,
	    "missing partial \"q\"");
	expect_render_error("{{>p}}", "{}", &sp, 2, 1,
	    "missing name \"who\" in partial \"p\"");
	/* null is there: it renders empty, strict or not */
	RENDER_OK("[{{n}}{{a.n}}]", "{\"n\":null,\"a\":{\"n\":null}}",
	    &strict, "[]");
	RENDER_OK("{{#l}}{{.}}{{/l}}", "{\"l\":[1,2]}", &strict, "12");
	RENDER_OK("{{>p}}", "{\"who\":\"me\"}", &sp, "line\nme");
}

/* ---- escaping: HTML for the HTML part, none for subject and text ---- */

static void
test_escape(void **state)
{
	static const struct mustache_opts none =
	    { .escape = MUSTACHE_ESCAPE_NONE };
	const char *js = "{\"x\":\"<a href='u'>&\\\"\"}";

	RENDER_OK("{{x}}", js, &html,
	    "&lt;a href=&#39;u&#39;&gt;&amp;&quot;");
	RENDER_OK("{{x}}", js, &none, "<a href='u'>&\"");
	RENDER_OK("{{{x}}}{{&x}}", js, &html, "<a href='u'>&\"<a href='u'>&\"");
	RENDER_OK("{{{x}}}", js, &none, "<a href='u'>&\"");
	/* template text is never escaped */
	RENDER_OK("<b>&</b>", "{}", &html, "<b>&</b>");
	/* objects and arrays have no text: compact JSON, escaped too */
	RENDER_OK("{{o}}|{{{a}}}", "{\"o\":{\"k\":\"<\"},\"a\":[1,true]}",
	    &html, "{&quot;k&quot;:&quot;&lt;&quot;}|[1,true]");
}

/* ---- values: numbers, booleans, truthiness of what the spec leaves open */

static void
test_values(void **state)
{
	struct mustache_err e;
	struct buf b = { 0 };
	struct mustache *t;

	RENDER_OK("{{a}} {{b}} {{c}} {{d}} {{e}} {{f}} {{g}}",
	    "{\"a\":-7,\"b\":0.1,\"c\":1e21,\"d\":2.5e-7,\"e\":true,"
	    "\"f\":false,\"g\":9007199254740993}", &html,
	    "-7 0.1 1e+21 2.5e-07 true false 9007199254740993");
	RENDER_OK("{{#s}}y{{/s}}{{^s}}n{{/s}}", "{\"s\":\"\"}", &html, "n");
	RENDER_OK("{{#s}}y{{/s}}{{^s}}n{{/s}}", "{\"s\":\"0\"}", &html, "y");
	RENDER_OK("{{#s}}y{{/s}}{{^s}}n{{/s}}", "{\"s\":0}", &html, "n");
	RENDER_OK("{{#s}}y{{/s}}{{^s}}n{{/s}}", "{\"s\":0.0}", &html, "n");
	RENDER_OK("{{#s}}y{{/s}}{{^s}}n{{/s}}", "{\"s\":{}}", &html, "y");
	/* data need not be an object; NULL data is an empty context */
	RENDER_OK("{{.}}", "[1]", &html, "[1]");
	t = mustache_parse("[{{x}}{{.}}]", 12, &e);
	assert_non_null(t);
	assert_int_equal(mustache_render(t, NULL, &html, &b, &e), 0);
	assert_string_equal(buf_str(&b), "[]");
	assert_int_equal(mustache_render(t, NULL, &strict, &b, &e), -1);
	assert_string_equal(e.msg, "missing name \"x\"");
	mustache_free(t);
	buf_free(&b);
}

/* ---- partials: indentation nests, depth is bounded ---- */

static void
test_partial_indent(void **state)
{
	const char *parts[] = { "a", "x\n  {{>b}}\n", "b", "y\n{{v}}\nz\n",
	    NULL };
	struct mustache_opts o = html;

	o.partial = list_partial;
	o.partial_arg = parts;
	/* b's lines get a's indentation and its own; the value's own line
	 * break is not indented */
	RENDER_OK("  {{>a}}\n.", "{\"v\":\"1\\n2\"}", &o,
	    "  x\n    y\n    1\n2\n    z\n.");
}

static void
test_partial_depth(void **state)
{
	const char *parts[] = { "self", "x{{>self}}", "bad", "\n {{#a}}",
	    "p0", "{{>p1}}{{>p1}}{{>p1}}{{>p1}}{{>p1}}{{>p1}}{{>p1}}",
	    "p1", "{{>p2}}{{>p2}}{{>p2}}{{>p2}}{{>p2}}{{>p2}}{{>p2}}",
	    "p2", "{{>p3}}{{>p3}}{{>p3}}{{>p3}}{{>p3}}{{>p3}}{{>p3}}",
	    "p3", "{{>p4}}{{>p4}}{{>p4}}{{>p4}}{{>p4}}{{>p4}}{{>p4}}",
	    "p4", "{{>p5}}{{>p5}}{{>p5}}{{>p5}}{{>p5}}{{>p5}}{{>p5}}",
	    "p5", "{{>p6}}{{>p6}}{{>p6}}{{>p6}}{{>p6}}{{>p6}}{{>p6}}",
	    "p6", "{{>p7}}{{>p7}}{{>p7}}{{>p7}}{{>p7}}{{>p7}}{{>p7}}",
	    "p7", "{{>p8}}{{>p8}}{{>p8}}{{>p8}}{{>p8}}{{>p8}}{{>p8}}",
	    "p8", "{{>p9}}{{>p9}}{{>p9}}{{>p9}}{{>p9}}{{>p9}}{{>p9}}",
	    "p9", "", NULL };
	struct mustache_opts o = html;

	o.partial = list_partial;
	o.partial_arg = parts;
	expect_render_error("{{>self}}", "{}", &o, 1, 2,
	    "partials nested deeper than 16 in partial \"self\"");
	o.max_depth = 3;
	expect_render_error("{{>self}}", "{}", &o, 1, 2,
	    "partials nested deeper than 3 in partial \"self\"");
	/* a loop, not the C stack, carries depth; heap use is capped too */
	o.max_depth = 100000;
	expect_render_error("{{>self}}", "{}", &o, 1, 2,
	    "partials nested deeper than 1000 in partial \"self\"");
	expect_render_error("ok\n{{>bad}}", "{}", &o, 2, 2,
	    "partial \"bad\": unclosed section {{#a}}");
	/* exponential fan-out (7^10 empty partials) ends at the step bound */
	o.max_depth = 0;
	expect_render_error("{{>p0}}", "{}", &o, 0, 0,
	    "rendering takes more than 10000000 steps in partial \"p8\"");
}

/* Counts the callback's calls: arg is an int. */
static const char *
counting_partial(void *arg, const char *name, size_t *len)
{
	(*(int *)arg)++;
	if (strcmp(name, "p") != 0)
		return NULL;
	*len = 7;
	return "<{{.}}>";
}

/* The callback is asked once per name per render, even for names it
 * does not know, and a name with a NUL is never asked for. */
static void
test_partial_cache(void **state)
{
	struct mustache_opts o = html;
	int calls = 0;

	o.partial = counting_partial;
	o.partial_arg = &calls;
	RENDER_OK("{{#l}}{{>p}}{{>q}}{{/l}}", "{\"l\":[1,2,3]}", &o,
	    "<1><2><3>");
	assert_int_equal(calls, 2);
	calls = 0;
	RENDER_OK("{{=<% %>=}}<%#l%><%{.}%><%>p%><%/l%>", "{\"l\":[\"&\"]}",
	    &o, "&<&amp;>");
	assert_int_equal(calls, 1);
}

/* ---- hostile input ---- */

/* s repeated n times. */
static char *
repeat(const char *s, size_t n, size_t *len)
{
	size_t k = strlen(s), i;
	char *r = malloc(k * n + 1);

	assert_non_null(r);
	for (i = 0; i < n; i++)
		memcpy(r + i * k, s, k);
	r[k * n] = '\0';
	*len = k * n;
	return r;
}

static void
test_deep_nesting(void **state)
{
	struct mustache_err e;
	struct buf b = { 0 };
	struct mustache *t;
	char *open, *close, *tpl;
	size_t no, nc;
	json_t *d = data_of("{\"a\":{}}");

	open = repeat("{{#a}}", 100000, &no);
	close = repeat("{{/a}}", 100000, &nc);
	assert_non_null(tpl = malloc(no + nc + 2));
	memcpy(tpl, open, no);
	tpl[no] = 'x';
	memcpy(tpl + no + 1, close, nc);
	assert_null(mustache_parse(tpl, no + 1 + nc, &e));
	assert_string_equal(e.msg, "sections nested deeper than 256");
	assert_int_equal(e.line, 1);
	assert_int_equal(e.col, 256 * 6 + 1);
	/* 256 is allowed, and renders */
	memmove(tpl, tpl + no - 256 * 6, 256 * 6 + 1 + 256 * 6);
	assert_non_null(t = mustache_parse(tpl, 256 * 12 + 1, &e));
	assert_int_equal(mustache_render(t, d, &html, &b, &e), 0);
	assert_string_equal(buf_str(&b), "x");
	mustache_free(t);
	buf_free(&b);
	json_decref(d);
	free(open);
	free(close);
	free(tpl);
}

static void
test_nul_bytes(void **state)
{
	static const char tpl[] = "a\0b{{x}}\0{{#s}}\0{{/s}}";
	struct buf b = { 0 };
	struct mustache_err e;

	assert_int_equal(render_n(tpl, sizeof(tpl) - 1,
	    "{\"x\":\"c\\u0000d\",\"s\":true}", &html, &b, &e), 0);
	assert_int_equal(b.len, 8);
	assert_memory_equal(b.p, "a\0bc\0d\0\0", 8);
	buf_free(&b);
	/* a NUL in a name names nothing; strict says which */
	buf_reset(&b);
	assert_int_equal(render_n("{{a\0b}}", 7, "{\"a\":1}", &html, &b,
	    &e), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(render_n("{{a\0b}}", 7, "{\"a\":1}", &strict, &b,
	    &e), -1);
	assert_string_equal(e.msg, "missing name \"a\\x00b\"");
	buf_free(&b);
}

/* A 1 MB template: one line of tags (line/column counting must stay
 * linear) and many lines; the render is exact. */
static void
test_huge(void **state)
{
	struct mustache_err e;
	struct buf b = { 0 };
	struct mustache *t;
	size_t n, i;
	char *tpl;
	json_t *d = data_of("{\"x\":\"<\"}");

	tpl = repeat("{{!c}}{{x}}", 100000, &n);	/* 1.1 MB, one line */
	assert_non_null(t = mustache_parse(tpl, n, &e));
	assert_int_equal(mustache_render(t, d, &html, &b, &e), 0);
	assert_int_equal(b.len, 400000);
	assert_memory_equal(b.p, "&lt;&lt;", 8);
	mustache_free(t);
	free(tpl);
	buf_reset(&b);
	tpl = repeat(" {{#x}}\n{{x}}\n{{/x}}\n", 50000, &n);
	assert_non_null(t = mustache_parse(tpl, n, &e));
	assert_int_equal(mustache_render(t, d, &html, &b, &e), 0);
	assert_int_equal(b.len, 250000);
	for (i = 0; i < b.len; i += 5)
		assert_memory_equal(b.p + i, "&lt;\n", 5);
	mustache_free(t);
	free(tpl);
	/* the error of the last line of a big template is found there */
	tpl = repeat("{{x}}\n", 200000, &n);
	tpl[n - 3] = ' ';
	assert_null(mustache_parse(tpl, n, &e));
	assert_int_equal(e.line, 200000);
	assert_string_equal(e.msg, "unclosed tag");
	free(tpl);
	buf_free(&b);
	json_decref(d);
}

/* Work bounds: a list walked inside itself; output bigger than allowed. */
static void
test_limits(void **state)
{
	struct mustache_opts o = html;
	char js[8192];
	size_t k = 0, i;

	k += snprintf(js + k, sizeof(js) - k, "{\"l\":[0");
	for (i = 1; i < 1000; i++)
		k += snprintf(js + k, sizeof(js) - k, ",%zu", i);
	snprintf(js + k, sizeof(js) - k, "]}");
	expect_render_error("{{#l}}{{#l}}{{#l}}{{#l}}{{/l}}{{/l}}{{/l}}{{/l}}",
	    js, &o, 0, 0, "rendering takes more than 10000000 steps");
	o.max_output = 1000;
	expect_render_error("{{#l}}{{.}}{{/l}}", js, &o, 1, 7,
	    "rendering is longer than 1000 bytes");
	RENDER_OK("{{#l}}{{#.}}{{/.}}{{/l}}", "{\"l\":[[1]]}", &o, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_comments),
		cmocka_unit_test(test_spec_delimiters),
		cmocka_unit_test(test_spec_interpolation),
		cmocka_unit_test(test_spec_inverted),
		cmocka_unit_test(test_spec_partials),
		cmocka_unit_test(test_spec_sections),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_strict),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_partial_indent),
		cmocka_unit_test(test_partial_depth),
		cmocka_unit_test(test_partial_cache),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_huge),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
