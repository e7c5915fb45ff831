/*
 * mustache_render.c - renders a parsed template (mustache.c) with JSON
 * data.  One loop over an explicit stack of frames (a section pass or
 * a partial), so nesting costs heap, never C stack.  Work is bounded by
 * partial depth, output bytes and MUSTACHE_MAX_STEPS, so hostile
 * templates and data end with an error instead of a hang.
 *
 * Truthiness follows JavaScript (mustache.js), the usual reading of
 * JSON data: false, null, 0, "" and [] are falsey; {} is truthy.  The
 * specification's tests leave "" and 0 open.  Partials are parsed once
 * per render call and cached for its duration (recursive partials).
 * Pure: no I/O, no logging, no globals.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mustache_int.h"

/* Nodes run, list passes and context entries probed, per render. */
#define MUSTACHE_MAX_STEPS	10000000
#define MUSTACHE_MAX_OUTPUT	((size_t)16 << 20)
#define MUSTACHE_MAX_DEPTH	16	/* partials, when opts say 0 */
#define MUSTACHE_DEPTH_CAP	1000	/* partials, whatever opts say */
#define MUSTACHE_INLINE_CTX	32
#define MUSTACHE_INLINE_FRAMES	16

/* A pass over nodes [begin, end) of t: the template, a section, a partial. */
struct mustache_frame {
	const struct mustache	*t;
	size_t			 pc, begin, end;
	json_t			*list;		/* the list a section walks */
	size_t			 idx;
	bool			 pushed;	/* put one context entry up */
	bool			 partial;
	bool			 standalone;	/* partial alone on its line */
	bool			 sv_bol;	/* partial: caller's state, */
	size_t			 sv_ioff, sv_ilen, sv_iend;	/* restored */
	const char		*name;		/* partial: for messages */
	size_t			 namelen;
};

struct mustache_cached {
	char			*name;
	size_t			 namelen;
	struct mustache		*t;		/* NULL: no such partial */
};

struct mustache_state {
	const struct mustache_opts *o;
	struct buf		*out;
	struct mustache_err	*e;
	size_t			 out0, max_out, steps;
	int			 depth, max_depth;
	json_t			**ctx;		/* the context stack */
	size_t			 nctx, capctx;
	struct mustache_frame	*fr;
	size_t			 nfr, capfr;
	/* A standalone partial's lines are indented: the current indent
	 * is ind[ioff, ioff+ilen); bol says a template line starts. */
	struct buf		 ind;
	size_t			 ioff, ilen;
	bool			 bol;
	struct mustache_cached	*cache;
	size_t			 ncache, capcache;
	json_t			*ctx_inline[MUSTACHE_INLINE_CTX];
	struct mustache_frame	 fr_inline[MUSTACHE_INLINE_FRAMES];
};

/* Doubles an array that starts in inline storage; NULL when out of memory. */
static void *
mustache_grow(void *arr, size_t *cap, size_t sz, const void *inl)
{
	size_t nc = *cap > 0 ? *cap * 2 : 8;
	void *np;

	if (nc > SIZE_MAX / sz)
		return NULL;
	if (inl != NULL && arr == inl) {
		if ((np = malloc(nc * sz)) != NULL)
			memcpy(np, arr, *cap * sz);
	} else
		np = realloc(arr, nc * sz);
	if (np != NULL)
		*cap = nc;
	return np;
}

/* The partial the current frame runs in, for messages; NULL at top. */
static const struct mustache_frame *
mustache_in_partial(const struct mustache_state *st)
{
	size_t i;

	for (i = st->nfr; i-- > 0;)
		if (st->fr[i].partial)
			return &st->fr[i];
	return NULL;
}

/* Sets e at node n, naming the partial n is in; always -1. */
static int __attribute__((format(printf, 3, 4)))
mustache_fail(struct mustache_state *st, const struct mustache_node *n,
    const char *fmt, ...)
{
	const struct mustache_frame *f = mustache_in_partial(st);
	struct mustache_err *e = st->e;
	va_list ap;
	size_t k;
	char a[64];

	va_start(ap, fmt);
	mustache_err_vset(e, n != NULL ? n->line : 0, n != NULL ? n->col : 0,
	    fmt, ap);
	va_end(ap);
	if (e != NULL && f != NULL && n != NULL) {
		k = strlen(e->msg);
		snprintf(e->msg + k, sizeof(e->msg) - k, " in partial \"%s\"",
		    mustache_err_name(f->name, f->namelen, a, sizeof(a)));
	}
	return -1;
}

static int
mustache_oom(struct mustache_state *st)
{
	mustache_err_set(st->e, 0, 0, "out of memory");
	return -1;
}

/* Pushes a pass over [begin, end) of t; ctx, when not NULL, goes up the
 * context stack for it. */
static int
mustache_push(struct mustache_state *st, const struct mustache *t,
    size_t begin, size_t end, json_t *ctx)
{
	struct mustache_frame *f;
	void *np;

	if (st->nfr == st->capfr) {
		np = mustache_grow(st->fr, &st->capfr, sizeof(*st->fr),
		    st->fr_inline);
		if (np == NULL)
			return mustache_oom(st);
		st->fr = np;
	}
	if (ctx != NULL && st->nctx == st->capctx) {
		np = mustache_grow(st->ctx, &st->capctx, sizeof(*st->ctx),
		    st->ctx_inline);
		if (np == NULL)
			return mustache_oom(st);
		st->ctx = np;
	}
	f = &st->fr[st->nfr++];
	memset(f, 0, sizeof(*f));
	f->t = t;
	f->pc = f->begin = begin;
	f->end = end;
	if (ctx != NULL) {
		st->ctx[st->nctx++] = ctx;
		f->pushed = true;
	}
	return 0;
}

/*
 * What name resolves to, NULL on a miss.  Its first part is looked up
 * from the top of the context stack down; the other parts only inside
 * what that found (the spec's "Dotted Names - Context Precedence").
 */
static json_t *
mustache_lookup(struct mustache_state *st, const char *name, size_t len)
{
	const char *dot;
	size_t seg, i;
	json_t *v = NULL;

	if (st->nctx == 0)
		return NULL;
	if (len == 1 && name[0] == '.')
		return st->ctx[st->nctx - 1];
	dot = memchr(name, '.', len);
	seg = dot != NULL ? (size_t)(dot - name) : len;
	for (i = st->nctx; i-- > 0 && v == NULL;) {
		st->steps++;
		if (json_is_object(st->ctx[i]))
			v = json_object_getn(st->ctx[i], name, seg);
	}
	while (v != NULL && dot != NULL) {
		name = dot + 1;
		len -= seg + 1;
		dot = memchr(name, '.', len);
		seg = dot != NULL ? (size_t)(dot - name) : len;
		v = json_is_object(v) ? json_object_getn(v, name, seg) : NULL;
	}
	return v;
}

static bool
mustache_truthy(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_NULL:
	case JSON_FALSE:
		return false;
	case JSON_STRING:
		return json_string_length(v) > 0;
	case JSON_INTEGER:
		return json_integer_value(v) != 0;
	case JSON_REAL:
		return !(json_real_value(v) >= 0 && json_real_value(v) <= 0);
	case JSON_ARRAY:
		return json_array_size(v) > 0;
	default:
		return true;
	}
}

/* s as is, or with & < > " ' as entities. */
static void
mustache_put(struct buf *out, const char *s, size_t n, bool esc)
{
	size_t i, run = 0;
	const char *r;

	if (!esc) {
		buf_add(out, s, n);
		return;
	}
	for (i = 0; i < n; i++) {
		switch (s[i]) {
		case '&': r = "&amp;"; break;
		case '<': r = "&lt;"; break;
		case '>': r = "&gt;"; break;
		case '"': r = "&quot;"; break;
		case '\'': r = "&#39;"; break;
		default: continue;
		}
		buf_add(out, s + run, i - run);
		buf_add(out, r, strlen(r));
		run = i + 1;
	}
	buf_add(out, s + run, n - run);
}

/* The shortest of %.15g to %.17g that reads back as d: 1.21, not
 * 1.2099999999999999769 (the spec's "Basic Decimal Interpolation"). */
static void
mustache_real(struct buf *out, double d)
{
	char b[40];
	int prec;

	if (d >= 0 && d <= 0) {
		buf_add(out, "0", 1);
		return;
	}
	for (prec = 15; prec <= 17; prec++) {
		snprintf(b, sizeof(b), "%.*g", prec, d);
		if (strtod(b, NULL) >= d && strtod(b, NULL) <= d)
			break;
	}
	buf_add(out, b, strlen(b));
}

struct mustache_dump {
	struct buf	*out;
	bool		 esc;
};

static int
mustache_dump_cb(const char *s, size_t n, void *arg)
{
	struct mustache_dump *d = arg;

	mustache_put(d->out, s, n, d->esc);
	return d->out->oom ? -1 : 0;
}

/* A value as text: numbers as JSON writes them, objects and arrays as
 * compact JSON (they have no text of their own), null as nothing. */
static void
mustache_value(struct mustache_state *st, json_t *v, bool esc)
{
	struct mustache_dump d = { st->out, esc };
	char b[32];

	switch (json_typeof(v)) {
	case JSON_STRING:
		mustache_put(st->out, json_string_value(v),
		    json_string_length(v), esc);
		break;
	case JSON_INTEGER:
		snprintf(b, sizeof(b), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		buf_add(st->out, b, strlen(b));
		break;
	case JSON_REAL:
		mustache_real(st->out, json_real_value(v));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		buf_add(st->out, json_is_true(v) ? "true" : "false",
		    json_is_true(v) ? 4 : 5);
		break;
	case JSON_NULL:
		break;
	default:
		(void)json_dump_callback(v, mustache_dump_cb, &d,
		    JSON_COMPACT | JSON_ENCODE_ANY);
	}
}

static bool
mustache_full(const struct mustache_state *st)
{
	return st->out->len - st->out0 > st->max_out;
}

/* Writes the indentation when a partial's line starts here. */
static void
mustache_indent(struct mustache_state *st)
{
	if (st->bol && st->ilen > 0)
		buf_add(st->out, st->ind.p + st->ioff, st->ilen);
	st->bol = false;
}

/* Template text; inside a standalone partial each line indented. */
static void
mustache_text(struct mustache_state *st, const char *s, size_t n)
{
	const char *nl;
	size_t k;

	if (st->ilen == 0) {
		buf_add(st->out, s, n);
		return;
	}
	while (n > 0 && !mustache_full(st)) {
		mustache_indent(st);
		nl = memchr(s, '\n', n);
		k = nl != NULL ? (size_t)(nl - s) + 1 : n;
		buf_add(st->out, s, k);
		s += k;
		n -= k;
		st->bol = nl != NULL;
	}
}

static int
mustache_missing(struct mustache_state *st, const struct mustache *t,
    const struct mustache_node *n, const char *what)
{
	char a[64];

	return mustache_fail(st, n, "missing %s \"%s\"", what,
	    mustache_err_name(t->src + n->off, n->len, a, sizeof(a)));
}

/* {{name}}, {{{name}}}, {{&name}}. */
static int
mustache_var(struct mustache_state *st, const struct mustache *t,
    const struct mustache_node *n)
{
	json_t *v = mustache_lookup(st, t->src + n->off, n->len);

	if (v == NULL && st->o->strict)
		return mustache_missing(st, t, n, "name");
	mustache_indent(st);
	if (v != NULL)
		mustache_value(st, v, n->type == MUSTACHE_VAR &&
		    st->o->escape == MUSTACHE_ESCAPE_HTML);
	return 0;
}

/* {{#name}} runs its body once per list item, or once with the value on
 * the context stack; {{^name}} once when the value is falsey. */
static int
mustache_section(struct mustache_state *st, struct mustache_frame *f,
    const struct mustache_node *n)
{
	const struct mustache *t = f->t;
	json_t *v = mustache_lookup(st, t->src + n->off, n->len);
	size_t body = f->pc;
	bool yes;

	if (v == NULL && st->o->strict)
		return mustache_missing(st, t, n, "name");
	f->pc = n->end;
	yes = v != NULL && mustache_truthy(v);
	if (n->type == MUSTACHE_INVERTED)
		return yes ? 0 : mustache_push(st, t, body, n->end, NULL);
	if (!yes || body == n->end)
		return 0;
	if (!json_is_array(v))
		return mustache_push(st, t, body, n->end, v);
	if (mustache_push(st, t, body, n->end, json_array_get(v, 0)) == -1)
		return -1;
	st->fr[st->nfr - 1].list = v;
	return 0;
}

/* A partial that does not parse: e says where in it. */
static int
mustache_partial_bad(struct mustache_state *st,
    const struct mustache_cached *c, const struct mustache_err *pe)
{
	char a[64];

	mustache_err_set(st->e, pe->line, pe->col, "partial \"%s\": %s",
	    mustache_err_name(c->name, c->namelen, a, sizeof(a)), pe->msg);
	return -1;
}

/* The partial called name, parsed, from the cache or the callback. */
static int
mustache_partial_get(struct mustache_state *st, const struct mustache *t,
    const struct mustache_node *n, struct mustache **pp)
{
	struct mustache_cached *c;
	const char *src;
	struct mustache_err pe;
	size_t i, len = 0;
	void *np;

	*pp = NULL;
	if (st->o->partial == NULL || memchr(t->src + n->off, 0, n->len))
		return 0;
	for (i = 0; i < st->ncache; i++, st->steps++) {
		c = &st->cache[i];
		if (c->namelen == n->len &&
		    memcmp(c->name, t->src + n->off, n->len) == 0) {
			*pp = c->t;
			return 0;
		}
	}
	if (st->ncache == st->capcache) {
		if ((np = mustache_grow(st->cache, &st->capcache,
		    sizeof(*c), NULL)) == NULL)
			return mustache_oom(st);
		st->cache = np;
	}
	c = &st->cache[st->ncache];
	if ((c->name = strndup(t->src + n->off, n->len)) == NULL)
		return mustache_oom(st);
	c->namelen = n->len;
	c->t = NULL;
	st->ncache++;
	src = st->o->partial(st->o->partial_arg, c->name, &len);
	if (src != NULL && (c->t = mustache_parse(src, len, &pe)) == NULL)
		return mustache_partial_bad(st, c, &pe);
	*pp = c->t;
	return 0;
}

/*
 * {{>name}}: a frame over the partial.  Standalone, its lines take the
 * tag's indentation after the caller's own (the spec indents the
 * partial's text before rendering it; indenting each template line as
 * it is written out is the same and leaves interpolated values alone).
 */
static int
mustache_partial(struct mustache_state *st, struct mustache_frame *f,
    const struct mustache_node *n)
{
	const struct mustache *t = f->t;
	struct mustache *p;
	struct mustache_frame *g;
	size_t need = st->ilen + n->ilen, at = st->ind.len;

	if (!n->standalone)
		mustache_indent(st);
	if (mustache_partial_get(st, t, n, &p) == -1)
		return -1;
	if (p == NULL)
		return st->o->strict ? mustache_missing(st, t, n, "partial") : 0;
	if (st->depth >= st->max_depth)
		return mustache_fail(st, n, "partials nested deeper than %d",
		    st->max_depth);
	if (need > 0 && n->standalone) {
		if (buf_reserve(&st->ind, need) == -1)
			return mustache_oom(st);
		if (st->ilen > 0)
			memcpy(st->ind.p + at, st->ind.p + st->ioff, st->ilen);
		memcpy(st->ind.p + at + st->ilen, t->src + n->ioff, n->ilen);
		st->ind.len += need;
	}
	if (mustache_push(st, p, 0, p->n, NULL) == -1)
		return -1;
	g = &st->fr[st->nfr - 1];
	g->partial = true;
	g->standalone = n->standalone;
	g->name = t->src + n->off;
	g->namelen = n->len;
	g->sv_bol = st->bol;
	g->sv_ioff = st->ioff;
	g->sv_ilen = st->ilen;
	g->sv_iend = at;
	st->ioff = at;
	st->ilen = n->standalone ? need : 0;
	st->bol = n->standalone;	/* unused when ilen is 0 */
	st->depth++;
	return 0;
}

/* The end of a frame's nodes: the next list item, or pop it. */
static void
mustache_frame_done(struct mustache_state *st)
{
	struct mustache_frame *f = &st->fr[st->nfr - 1];

	if (f->list != NULL && ++f->idx < json_array_size(f->list)) {
		st->ctx[st->nctx - 1] = json_array_get(f->list, f->idx);
		f->pc = f->begin;
		return;
	}
	if (f->pushed)
		st->nctx--;
	if (f->partial) {
		st->ioff = f->sv_ioff;
		st->ilen = f->sv_ilen;
		st->ind.len = f->sv_iend;
		/* a standalone partial took its line: the next one starts */
		st->bol = f->standalone ? true : f->sv_bol;
		st->depth--;
	}
	st->nfr--;
}

static int
mustache_node_run(struct mustache_state *st, struct mustache_frame *f,
    const struct mustache_node *n)
{
	switch (n->type) {
	case MUSTACHE_TEXT:
		mustache_text(st, f->t->src + n->off, n->len);
		return 0;
	case MUSTACHE_VAR:
	case MUSTACHE_RAW:
		return mustache_var(st, f->t, n);
	case MUSTACHE_SECTION:
	case MUSTACHE_INVERTED:
		return mustache_section(st, f, n);
	default:
		return mustache_partial(st, f, n);
	}
}

static int
mustache_loop(struct mustache_state *st)
{
	struct mustache_frame *f;
	const struct mustache_node *n;

	while (st->nfr > 0) {
		f = &st->fr[st->nfr - 1];
		if (f->pc >= f->end) {
			st->steps++;
			mustache_frame_done(st);
			continue;
		}
		n = &f->t->nodes[f->pc++];
		if (++st->steps > MUSTACHE_MAX_STEPS)
			return mustache_fail(st, n, "rendering takes more than "
			    "%d steps", MUSTACHE_MAX_STEPS);
		if (mustache_node_run(st, f, n) == -1)
			return -1;
		if (mustache_full(st))
			return mustache_fail(st, n, "rendering is longer than "
			    "%zu bytes", st->max_out);
		if (st->out->oom)
			return mustache_oom(st);
	}
	return 0;
}

int
mustache_render(const struct mustache *t, json_t *data,
    const struct mustache_opts *opts, struct buf *out, struct mustache_err *e)
{
	struct mustache_state st;
	size_t i;
	int rc;

	/* the inline arrays at its end need no clearing: POST's hot path */
	memset(&st, 0, offsetof(struct mustache_state, ctx_inline));
	if (e != NULL)
		memset(e, 0, offsetof(struct mustache_err, msg) + 1);
	st.o = opts;
	st.out = out;
	st.e = e;
	st.out0 = out->len;
	st.max_out = opts->max_output > 0 ? opts->max_output :
	    MUSTACHE_MAX_OUTPUT;
	st.max_depth = opts->max_depth <= 0 ? MUSTACHE_MAX_DEPTH :
	    opts->max_depth > MUSTACHE_DEPTH_CAP ? MUSTACHE_DEPTH_CAP :
	    opts->max_depth;
	st.ctx = st.ctx_inline;
	st.capctx = MUSTACHE_INLINE_CTX;
	st.fr = st.fr_inline;
	st.capfr = MUSTACHE_INLINE_FRAMES;
	st.bol = true;
	rc = mustache_push(&st, t, 0, t->n, data);
	if (rc == 0)
		rc = mustache_loop(&st);
	if (rc == -1)
		out->len = st.out0;	/* no half rendering */
	for (i = 0; i < st.ncache; i++) {
		free(st.cache[i].name);
		mustache_free(st.cache[i].t);
	}
	free(st.cache);
	buf_free(&st.ind);
	if (st.ctx != st.ctx_inline)
		free(st.ctx);
	if (st.fr != st.fr_inline)
		free(st.fr);
	return rc;
}
