/*
 * fuzz_mustache.c - the Mustache engine (mustache_parse, then
 * mustache_render with fixed data and partials), which sees every
 * template a user saves and renders it on the POST path.
 *
 * Input: one flags byte (bit 0 strict, bit 1 no escaping, bits 2-4 the
 * partial depth), then the template.  The partial "in" is the template
 * itself, so hostile text also recurses.  Properties: a parse error
 * says where (line within the input, column >= 1) in valid UTF-8; a
 * render error leaves the output buffer as it was; output never passes
 * max_output; a template without "{{" renders as itself; rendering is
 * deterministic.
 */
#include "config.h"

#include <stdbool.h>

#include "buf.h"
#include "fuzz.h"
#include "mustache.h"
#include "utf8.h"

#define FUZZ_DATA "{\"a\":{\"b\":{\"c\":\"<&>\"}},\"s\":\"x\\ny\",\"n\":-1.5," \
	"\"i\":42,\"t\":true,\"f\":false,\"z\":null,\"e\":\"\",\"o\":{}," \
	"\"l\":[1,{\"a\":2},[3,4],\"five\"],\"nul\":\"\\u0000\"," \
	"\"deep\":[[[[[[[[1]]]]]]]]}"

struct fuzz_in {
	const char	*tpl;
	size_t		 len;
};

static const char *
fuzz_partial(void *arg, const char *name, size_t *len)
{
	const struct fuzz_in *in = arg;
	static const char *const fixed[] = {
		"self", "{{>self}}", "list", "{{#l}}\n  {{>list}}\n{{/l}}",
		"ind", "a\n {{s}}\n{{#t}}\n  {{>ind2}}\n{{/t}}\n",
		"ind2", "{{.}}|{{a.b.c}}\n", "bad", "{{#a}}", NULL
	};
	size_t i;

	if (strcmp(name, "in") == 0) {
		*len = in->len;
		return in->tpl;
	}
	for (i = 0; fixed[i] != NULL; i += 2)
		if (strcmp(fixed[i], name) == 0) {
			*len = strlen(fixed[i + 1]);
			return fixed[i + 1];
		}
	return NULL;
}

static void
fuzz_check_err(const struct mustache_err *e, const char *s, size_t n)
{
	size_t lines = 1, i;

	for (i = 0; i < n; i++)
		lines += s[i] == '\n';
	FUZZ_CHECK(e->msg[0] != '\0', "error without a message");
	FUZZ_CHECK(utf8_valid(e->msg, strlen(e->msg)), "bad UTF-8: %s",
	    e->msg);
	if (strcmp(e->msg, "out of memory") == 0)
		return;
	FUZZ_CHECK(e->line >= 1 && (size_t)e->line <= lines && e->col >= 1,
	    "%d:%d of %zu lines: %s", e->line, e->col, lines, e->msg);
}

/* Renders into a buffer holding "X" first; returns -1 or the length. */
static long
fuzz_render(const struct mustache *t, json_t *d,
    const struct mustache_opts *o, struct buf *b)
{
	struct mustache_err e;

	buf_reset(b);
	buf_add(b, "X", 1);
	if (mustache_render(t, d, o, b, &e) == -1) {
		FUZZ_CHECK(b->len == 1, "failed render left %zu bytes", b->len);
		FUZZ_CHECK(e.msg[0] != '\0', "render error without message");
		FUZZ_CHECK(utf8_valid(e.msg, strlen(e.msg)), "bad UTF-8");
		return -1;
	}
	FUZZ_CHECK(b->len - 1 <= o->max_output, "%zu bytes out", b->len);
	return (long)b->len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { (const char *)data + 1, size > 0 ? size - 1 : 0 };
	struct mustache_opts o = { .partial = fuzz_partial,
	    .partial_arg = &in, .max_output = 1 << 16 };
	struct buf b1 = { 0 }, b2 = { 0 };
	struct mustache_err e;
	struct mustache *t;
	json_t *d = json_loads(FUZZ_DATA, JSON_ALLOW_NUL, NULL);
	long n;

	FUZZ_CHECK(d != NULL, "fixed data does not load");
	if (size > 0) {
		o.strict = data[0] & 1;
		o.escape = data[0] & 2 ? MUSTACHE_ESCAPE_NONE :
		    MUSTACHE_ESCAPE_HTML;
		o.max_depth = (data[0] >> 2) & 7;
	}
	if ((t = mustache_parse(in.tpl, in.len, &e)) == NULL)
		fuzz_check_err(&e, in.tpl, in.len);
	else if ((n = fuzz_render(t, d, &o, &b1)) >= 0) {
		FUZZ_CHECK(fuzz_render(t, d, &o, &b2) == n &&
		    memcmp(b1.p, b2.p, (size_t)n) == 0, "not deterministic");
		FUZZ_CHECK(memmem(in.tpl, in.len, "{{", 2) != NULL ||
		    ((size_t)n == in.len + 1 && memcmp(b1.p + 1, in.tpl,
		    in.len) == 0), "text without tags changed");
	}
	mustache_free(t);
	buf_free(&b1);
	buf_free(&b2);
	json_decref(d);
	return 0;
}
