/*
 * mustache.c - the Mustache parser: template text to a flat node array
 * (mustache_int.h), exact to the specification's core modules
 * (https://github.com/mustache/spec: comments, delimiters,
 * interpolation, inverted, partials, sections; its JSON files are the
 * unit test).  The optional modules are out of scope: ~lambdas (JSON
 * data has no code), ~inheritance and ~dynamic-names ({{<p}}, {{$b}},
 * {{>*n}} are ordinary names here).  Rendering is mustache_render.c.
 *
 * The parse is one forward scan with no recursion; open sections sit
 * in a fixed array of MUSTACHE_MAX_NEST, so no template can exhaust the
 * stack or make name lookups walk deep context stacks.  Standalone tags
 * (sections, comments, partials, delimiter changes alone on their line)
 * are decided here and their line removed, so the renderer only copies.
 * Pure: no I/O, no logging, no globals.
 */
#include "config.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mustache_int.h"
#include "utf8.h"

struct mustache_parser {
	struct mustache		*t;
	struct mustache_err	*e;
	const char		*s;		/* t->src */
	size_t			 len, pos;	/* pos: start of unparsed text */
	const char		*otag, *ctag;	/* current delimiters, in s */
	size_t			 olen, clen;
	size_t			 open[MUSTACHE_MAX_NEST];	/* section nodes */
	size_t			 nopen;
	/* Where the line/column count is: byte tpos is at line:col, its
	 * line starts at lbeg, and only blanks precede it there if blank. */
	size_t			 tpos, lbeg;
	int			 line, col;
	bool			 blank;
};

/* One tag as read, before it becomes a node. */
struct mustache_tag {
	char		 kind;		/* # ^ / ! > { & = or 0 for a name */
	int		 line, col;
	size_t		 at, lbeg;	/* its open delimiter; its line */
	size_t		 off, len;	/* content, blanks trimmed */
	size_t		 next;		/* where the text after it starts */
	bool		 standalone;
};

void
mustache_err_vset(struct mustache_err *e, int line, int col,
    const char *fmt, va_list ap)
{
	if (e == NULL)
		return;
	e->line = line;
	e->col = col;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

void
mustache_err_set(struct mustache_err *e, int line, int col,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mustache_err_vset(e, line, col, fmt, ap);
	va_end(ap);
}

/* Control bytes and bad UTF-8 in a name become \xNN: messages end up in
 * JSON answers and logs.  Long names are cut so the message fits. */
const char *
mustache_err_name(const char *name, size_t n, char *out, size_t len)
{
	return utf8_escape(name, n, out, len);
}

static bool
mustache_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\v' || c == '\f';
}

/* Moves the line/column count forward to byte `to`.  Columns count
 * characters (UTF-8 lead bytes), as an editor shows them. */
static void
mustache_advance(struct mustache_parser *p, size_t to)
{
	const unsigned char *s = (const unsigned char *)p->s;
	size_t i;

	for (i = p->tpos; i < to; i++) {
		if (s[i] == '\n') {
			if (p->line < INT_MAX)
				p->line++;
			p->col = 1;
			p->lbeg = i + 1;
			p->blank = true;
			continue;
		}
		if ((s[i] & 0xC0) != 0x80 && p->col < INT_MAX)
			p->col++;
		if (s[i] != ' ' && s[i] != '\t')
			p->blank = false;
	}
	p->tpos = to;
}

/* Appends a zeroed node; NULL when out of memory. */
static struct mustache_node *
mustache_node_add(struct mustache_parser *p, int type)
{
	struct mustache *t = p->t;
	struct mustache_node *n;
	size_t cap;

	if (t->n == t->cap) {
		cap = t->cap ? t->cap * 2 : 16;
		if (cap > SIZE_MAX / sizeof(*n) ||
		    (n = realloc(t->nodes, cap * sizeof(*n))) == NULL) {
			mustache_err_set(p->e, 0, 0, "out of memory");
			return NULL;
		}
		t->nodes = n;
		t->cap = cap;
	}
	n = &t->nodes[t->n++];
	memset(n, 0, sizeof(*n));
	n->type = (unsigned char)type;
	return n;
}

/* A node for tag g: its content and where it stands (for errors). */
static struct mustache_node *
mustache_node_tag(struct mustache_parser *p, int type,
    const struct mustache_tag *g)
{
	struct mustache_node *n;

	if ((n = mustache_node_add(p, type)) == NULL)
		return NULL;
	n->off = g->off;
	n->len = g->len;
	n->line = g->line;
	n->col = g->col;
	return n;
}

/*
 * Where the tag's content ends: the close delimiter, preceded by `lead`
 * when it is not 0 ('}' of a triple mustache, '=' of a delimiter
 * change).  SIZE_MAX when it never comes.
 */
static size_t
mustache_find_close(const struct mustache_parser *p, size_t from, char lead)
{
	const char *s = p->s, *q;
	size_t i = from;

	if (lead == 0) {
		q = memmem(s + i, p->len - i, p->ctag, p->clen);
		return q != NULL ? (size_t)(q - s) : SIZE_MAX;
	}
	while (i < p->len && (q = memchr(s + i, lead, p->len - i)) != NULL) {
		i = (size_t)(q - s);
		if (p->len - i - 1 >= p->clen &&
		    memcmp(s + i + 1, p->ctag, p->clen) == 0)
			return i;
		i++;
	}
	return SIZE_MAX;
}

/* Reads the tag opening at g->at: its kind, trimmed content and end. */
static int
mustache_tag_read(struct mustache_parser *p, struct mustache_tag *g)
{
	const char *s = p->s;
	size_t i = g->at + p->olen, c;
	char lead;

	g->kind = 0;
	if (i < p->len && s[i] != '\0' && strchr("#^/!>{&=", s[i]) != NULL)
		g->kind = s[i++];
	lead = g->kind == '{' ? '}' : g->kind == '=' ? '=' : 0;
	if ((c = mustache_find_close(p, i, lead)) == SIZE_MAX) {
		mustache_err_set(p->e, g->line, g->col, "unclosed tag");
		return -1;
	}
	g->next = c + (lead != 0) + p->clen;
	while (i < c && mustache_space(s[i]))
		i++;
	while (c > i && mustache_space(s[c - 1]))
		c--;
	g->off = i;
	g->len = c - i;
	return 0;
}

/*
 * A section, comment, partial or delimiter tag alone on its line but
 * for blanks is "standalone": the whole line goes, with its LF or CRLF.
 * The blanks before it are cut off the text node that holds them.
 */
static void
mustache_tag_standalone(struct mustache_parser *p, struct mustache_tag *g)
{
	const char *s = p->s;
	size_t q = g->next, cut = g->at - g->lbeg;
	struct mustache_node *last;

	g->standalone = false;
	if (g->kind == 0 || strchr("#^/!>=", g->kind) == NULL || !p->blank)
		return;
	while (q < p->len && (s[q] == ' ' || s[q] == '\t'))
		q++;
	if (q < p->len && s[q] == '\n')
		q++;
	else if (p->len - q >= 2 && s[q] == '\r' && s[q + 1] == '\n')
		q += 2;
	else if (q < p->len)
		return;
	g->standalone = true;
	g->next = q;
	if (cut == 0 || p->t->n == 0)
		return;
	last = &p->t->nodes[p->t->n - 1];
	if (last->type == MUSTACHE_TEXT && last->off + last->len == g->at &&
	    last->len >= cut) {
		last->len -= cut;
		if (last->len == 0)
			p->t->n--;
	}
}

/* A name is "." or dot-separated non-empty parts with no blanks. */
static bool
mustache_name_ok(const char *s, size_t n, bool dotted)
{
	size_t i;

	if (n == 0)
		return false;
	if (n == 1 && s[0] == '.')
		return true;
	for (i = 0; i < n; i++) {
		if (mustache_space(s[i]))
			return false;
		if (dotted && s[i] == '.' &&
		    (i == 0 || i + 1 == n || s[i + 1] == '.'))
			return false;
	}
	return true;
}

/* {{=<% %>=}}: two blank-separated delimiters, neither empty. */
static int
mustache_tag_delims(struct mustache_parser *p, const struct mustache_tag *g)
{
	const char *s = p->s;
	size_t o = g->off, e = g->off + g->len, ol = 0, c, cl = 0;

	while (o + ol < e && !mustache_space(s[o + ol]))
		ol++;
	c = o + ol;
	while (c < e && mustache_space(s[c]))
		c++;
	while (c + cl < e && !mustache_space(s[c + cl]))
		cl++;
	if (ol == 0 || cl == 0 || c == o + ol || c + cl != e) {
		mustache_err_set(p->e, g->line, g->col, "bad delimiter change: "
		    "want two delimiters apart, like {{=<%% %%>=}}");
		return -1;
	}
	p->otag = s + o;
	p->olen = ol;
	p->ctag = s + c;
	p->clen = cl;
	return 0;
}

/* {{#name}} or {{^name}}: a section node, now open. */
static int
mustache_tag_open(struct mustache_parser *p, const struct mustache_tag *g)
{
	struct mustache_node *n;

	if (p->nopen == MUSTACHE_MAX_NEST) {
		mustache_err_set(p->e, g->line, g->col,
		    "sections nested deeper than %d", MUSTACHE_MAX_NEST);
		return -1;
	}
	n = mustache_node_tag(p, g->kind == '#' ? MUSTACHE_SECTION :
	    MUSTACHE_INVERTED, g);
	if (n == NULL)
		return -1;
	p->open[p->nopen++] = p->t->n - 1;
	return 0;
}

/* {{/name}}: closes the innermost open section, which must be name. */
static int
mustache_tag_close(struct mustache_parser *p, const struct mustache_tag *g)
{
	struct mustache_node *n;
	char a[64], b[64];

	mustache_err_name(p->s + g->off, g->len, a, sizeof(a));
	if (p->nopen == 0) {
		mustache_err_set(p->e, g->line, g->col,
		    "{{/%s}} closes no section", a);
		return -1;
	}
	n = &p->t->nodes[p->open[p->nopen - 1]];
	if (n->len != g->len || memcmp(p->s + n->off, p->s + g->off,
	    g->len) != 0) {
		mustache_err_set(p->e, g->line, g->col, "{{/%s}} does not close "
		    "{{%c%s}} (opened at %d:%d)", a, n->type == MUSTACHE_SECTION ?
		    '#' : '^', mustache_err_name(p->s + n->off, n->len, b,
		    sizeof(b)), n->line, n->col);
		return -1;
	}
	n->end = p->t->n;
	p->nopen--;
	return 0;
}

/* A tag that names something: variable, section or partial. */
static int
mustache_tag_name(struct mustache_parser *p, const struct mustache_tag *g)
{
	char a[64];

	if (mustache_name_ok(p->s + g->off, g->len, g->kind != '>'))
		return 0;
	if (g->len == 0)
		mustache_err_set(p->e, g->line, g->col, "empty tag");
	else
		mustache_err_set(p->e, g->line, g->col, "bad name \"%s\"",
		    mustache_err_name(p->s + g->off, g->len, a, sizeof(a)));
	return -1;
}

/* Turns a read tag into nodes (or a delimiter change). */
static int
mustache_tag_apply(struct mustache_parser *p, const struct mustache_tag *g)
{
	struct mustache_node *n;

	if (g->kind == '!')
		return 0;
	if (g->kind == '=')
		return mustache_tag_delims(p, g);
	if (mustache_tag_name(p, g) == -1)
		return -1;
	if (g->kind == '#' || g->kind == '^')
		return mustache_tag_open(p, g);
	if (g->kind == '/')
		return mustache_tag_close(p, g);
	n = mustache_node_tag(p, g->kind == '>' ? MUSTACHE_PARTIAL :
	    g->kind == 0 ? MUSTACHE_VAR : MUSTACHE_RAW, g);
	if (n == NULL)
		return -1;
	if (g->kind == '>' && g->standalone) {
		n->standalone = true;
		n->ioff = g->lbeg;
		n->ilen = g->at - g->lbeg;
	}
	return 0;
}

/* The tag whose open delimiter is at byte `at`. */
static int
mustache_tag(struct mustache_parser *p, size_t at)
{
	struct mustache_tag g;

	memset(&g, 0, sizeof(g));
	mustache_advance(p, at);
	g.at = at;
	g.line = p->line;
	g.col = p->col;
	g.lbeg = p->lbeg;
	if (mustache_tag_read(p, &g) == -1)
		return -1;
	mustache_tag_standalone(p, &g);
	p->pos = g.next;
	return mustache_tag_apply(p, &g);
}

static int
mustache_text(struct mustache_parser *p, size_t off, size_t len)
{
	struct mustache_node *n = mustache_node_add(p, MUSTACHE_TEXT);

	if (n == NULL)
		return -1;
	n->off = off;
	n->len = len;
	return 0;
}

/* Text and tags to the end; then no section may be left open. */
static int
mustache_run(struct mustache_parser *p)
{
	const char *q;
	size_t at;
	struct mustache_node *n;
	char a[64];

	while (p->pos < p->len) {
		q = memmem(p->s + p->pos, p->len - p->pos, p->otag, p->olen);
		at = q != NULL ? (size_t)(q - p->s) : p->len;
		if (at > p->pos && mustache_text(p, p->pos, at - p->pos) == -1)
			return -1;
		p->pos = at;
		if (q != NULL && mustache_tag(p, at) == -1)
			return -1;
	}
	if (p->nopen == 0)
		return 0;
	n = &p->t->nodes[p->open[p->nopen - 1]];
	mustache_err_set(p->e, n->line, n->col, "unclosed section {{%c%s}}",
	    n->type == MUSTACHE_SECTION ? '#' : '^',
	    mustache_err_name(p->s + n->off, n->len, a, sizeof(a)));
	return -1;
}

struct mustache *
mustache_parse(const char *src, size_t len, struct mustache_err *e)
{
	struct mustache *t;
	struct mustache_parser p;

	mustache_err_set(e, 0, 0, "%s", "");
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->src = malloc(len > 0 ? len : 1)) == NULL) {
		free(t);
		mustache_err_set(e, 0, 0, "out of memory");
		return NULL;
	}
	if (len > 0)
		memcpy(t->src, src, len);
	t->len = len;
	memset(&p, 0, sizeof(p));
	p.t = t;
	p.e = e;
	p.s = t->src;
	p.len = len;
	p.otag = "{{";
	p.ctag = "}}";
	p.olen = p.clen = 2;
	p.line = p.col = 1;
	p.blank = true;
	if (mustache_run(&p) == -1) {
		mustache_free(t);
		return NULL;
	}
	return t;
}

void
mustache_free(struct mustache *t)
{
	if (t == NULL)
		return;
	free(t->nodes);
	free(t->src);
	free(t);
}
