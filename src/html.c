/*
 * html.c - HTML to plain text, for the text/plain part of an email.
 *
 * Owns the walk over libxml2's HTML tree and the layout rules (blocks,
 * lists, links).  Pure: no I/O, no logging, no configuration.  The
 * walk is iterative, so the depth of hostile input costs no stack.
 */
#include "config.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include "buf.h"
#include "html.h"
#include "utf8.h"

#define HTML_LISTS	16	/* nested lists numbered; deeper ones get "- " */

struct html_out {
	struct buf b;		/* b.oom: out of memory */
	int	 want_breaks;	/* newlines owed before the next text */
	bool	 want_space;
	int	 pre;		/* inside <pre>: whitespace kept */
	int	 lists;		/* list depth */
	size_t	 link_at;	/* output length when the open <a> began */
	int	 item[HTML_LISTS];	/* -1: bullets, else last number */
};

static pthread_once_t html_once = PTHREAD_ONCE_INIT;

/* libxml2 wants its globals set up once, before threads use it. */
static void
html_init(void)
{
	xmlInitParser();
}

static void
html_put(struct html_out *o, const char *s, size_t n)
{
	buf_add(&o->b, s, n);
}

/*
 * Appends text from the document: libxml2 passes bytes it could not
 * decode through, so invalid UTF-8 becomes U+FFFD here and control
 * characters other than LF and tab are dropped.
 */
static void
html_put_text(struct html_out *o, const char *s, size_t n)
{
	size_t k;

	while (n > 0) {
		k = utf8_char(s, n);
		if (k == 0) {
			html_put(o, "\xef\xbf\xbd", 3);
			k = 1;
		} else if (k > 1 || ((unsigned char)*s >= 0x20 && *s != 0x7f) ||
		    *s == '\n' || *s == '\t')
			html_put(o, s, k);
		s += k;
		n -= k;
	}
}

/* Newlines already at the end of the output (0..2). */
static int
html_trailing_breaks(const struct html_out *o)
{
	int n = 0;

	while (n < 2 && (size_t)n < o->b.len && o->b.p[o->b.len - 1 - n] == '\n')
		n++;
	return n;
}

/* Pays the owed newlines or space before text is written. */
static void
html_settle(struct html_out *o)
{
	int have;

	if (o->b.len == 0) {
		o->want_breaks = 0;
		o->want_space = false;
		return;
	}
	for (have = html_trailing_breaks(o); have < o->want_breaks; have++)
		html_put(o, "\n", 1);
	if (o->want_breaks == 0 && o->want_space && o->b.p[o->b.len - 1] != '\n')
		html_put(o, " ", 1);
	o->want_breaks = 0;
	o->want_space = false;
}

static void
html_break(struct html_out *o, int n)
{
	if (n > o->want_breaks)
		o->want_breaks = n;
}

/* Text of a node: whitespace runs become one space, outside <pre>. */
static void
html_text(struct html_out *o, const char *s)
{
	size_t n;

	while (*s != '\0') {
		n = o->pre ? strlen(s) : strcspn(s, " \t\r\n\f");
		if (n > 0) {
			html_settle(o);
			html_put_text(o, s, n);
			s += n;
		}
		if (*s != '\0' && !o->pre) {
			o->want_space = true;
			s += strspn(s, " \t\r\n\f");
		}
	}
}

static bool
html_is(const xmlNode *n, const char *name)
{
	return xmlStrcasecmp(n->name, (const xmlChar *)name) == 0;
}

/* Newlines a block element asks for around itself (0: inline). */
static int
html_block(const xmlNode *n)
{
	static const char *const para[] = { "p", "h1", "h2", "h3", "h4", "h5",
	    "h6", "ul", "ol", "table", "blockquote", "pre", "hr", "dl", NULL };
	static const char *const line[] = { "div", "li", "tr", "section",
	    "article", "header", "footer", "dt", "dd", "address", "center",
	    "form", "fieldset", "figure", "main", "nav", "aside", NULL };
	int i;

	for (i = 0; para[i] != NULL; i++)
		if (html_is(n, para[i]))
			return 2;
	for (i = 0; line[i] != NULL; i++)
		if (html_is(n, line[i]))
			return 1;
	return 0;
}

/* Elements whose content is not text a reader should see. */
static bool
html_dropped(const xmlNode *n)
{
	return html_is(n, "script") || html_is(n, "style") ||
	    html_is(n, "head") || html_is(n, "template");
}

/* A list inside a list item: its lines follow without a blank one. */
static bool
html_list_nested(const struct html_out *o, const xmlNode *n)
{
	return o->lists > 0 && (html_is(n, "ul") || html_is(n, "ol"));
}

/* "- " or "N. ", indented by the list depth. */
static void
html_item(struct html_out *o)
{
	char mark[32];
	int d = o->lists > HTML_LISTS ? HTML_LISTS : o->lists, i;

	html_break(o, 1);
	html_settle(o);
	for (i = 1; i < o->lists && i < HTML_LISTS; i++)
		html_put(o, "  ", 2);
	if (d == 0 || o->lists > HTML_LISTS || o->item[d - 1] < 0)
		snprintf(mark, sizeof(mark), "- ");
	else
		snprintf(mark, sizeof(mark), "%d. ", ++o->item[d - 1]);
	html_put(o, mark, strlen(mark));
	o->want_space = false;
}

/* An image stands for its alt text. */
static void
html_alt(struct html_out *o, const xmlNode *n)
{
	xmlChar *alt = xmlGetProp(n, (const xmlChar *)"alt");

	if (alt != NULL)
		html_text(o, (const char *)alt);
	xmlFree(alt);
}

/* Entering element n; returns false when its children are skipped. */
static bool
html_open(struct html_out *o, const xmlNode *n)
{
	xmlChar *start;

	if (html_dropped(n))
		return false;
	if (html_is(n, "br")) {
		html_put(o, "\n", 1);
		o->want_space = false;
		return false;
	}
	html_break(o, html_list_nested(o, n) ? 1 : html_block(n));
	if (html_is(n, "pre"))
		o->pre++;
	if (html_is(n, "ul") || html_is(n, "ol")) {
		if (o->lists < HTML_LISTS) {
			start = xmlGetProp(n, (const xmlChar *)"start");
			o->item[o->lists] = html_is(n, "ul") ? -1 :
			    (start != NULL ? atoi((const char *)start) - 1 : 0);
			xmlFree(start);
		}
		o->lists++;
	} else if (html_is(n, "li"))
		html_item(o);
	else if (html_is(n, "a"))
		o->link_at = o->b.len;
	else if (html_is(n, "img"))
		html_alt(o, n);
	return true;
}

/* A link's URL after its text, unless the text already says it. */
static void
html_link(struct html_out *o, const xmlNode *n, size_t text_at)
{
	xmlChar *href = xmlGetProp(n, (const xmlChar *)"href");
	const char *u = (const char *)href;

	while (text_at < o->b.len && (o->b.p[text_at] == ' ' ||
	    o->b.p[text_at] == '\n'))
		text_at++;	/* the space owed before the link's text */

	if (u != NULL && u[0] != '\0' && u[0] != '#' &&
	    strncasecmp(u, "javascript:", 11) != 0 &&
	    !(o->b.len - text_at == strlen(u) &&
	    memcmp(o->b.p + text_at, u, strlen(u)) == 0)) {
		if (o->b.len > text_at) {
			html_put(o, " (", 2);
			html_put_text(o, u, strlen(u));
			html_put(o, ")", 1);
		} else
			html_text(o, u);
	}
	xmlFree(href);
}

/* Leaving element n (its children done). */
static void
html_close(struct html_out *o, const xmlNode *n)
{
	if (html_is(n, "a"))
		html_link(o, n, o->link_at);
	if (html_is(n, "pre") && o->pre > 0)
		o->pre--;
	if ((html_is(n, "ul") || html_is(n, "ol")) && o->lists > 0)
		o->lists--;
	html_break(o, html_list_nested(o, n) ? 1 : html_block(n));
}

/* Visits n on the way down; true when the walk goes into its children. */
static bool
html_enter(struct html_out *o, const xmlNode *n)
{
	if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
		if (n->content != NULL)
			html_text(o, (const char *)n->content);
		return false;
	}
	if (n->type != XML_ELEMENT_NODE)
		return false;
	if (!html_open(o, n))
		return false;
	if (n->children == NULL)
		html_close(o, n);
	return n->children != NULL;
}

/* Depth-first over the tree without recursion (input sets the depth). */
static void
html_walk(struct html_out *o, const xmlNode *root)
{
	const xmlNode *n = root;

	while (n != NULL && !o->b.oom) {
		if (html_enter(o, n)) {
			n = n->children;
			continue;
		}
		while (n != root && n->next == NULL) {
			n = n->parent;
			if (n->type == XML_ELEMENT_NODE)
				html_close(o, n);
		}
		n = n == root ? NULL : n->next;
	}
}

/*
 * Drops the trailing whitespace the layout left; a no-break space
 * (&nbsp;, U+00A0) becomes a plain one, as mail readers show it.
 */
static void
html_trim(struct html_out *o)
{
	size_t i, j;

	for (i = j = 0; i < o->b.len; i++) {
		if ((unsigned char)o->b.p[i] == 0xc2 && i + 1 < o->b.len &&
		    (unsigned char)o->b.p[i + 1] == 0xa0) {
			o->b.p[j++] = ' ';
			i++;
		} else
			o->b.p[j++] = o->b.p[i];
	}
	o->b.len = j;
	while (o->b.len > 0 && (o->b.p[o->b.len - 1] == ' ' ||
	    o->b.p[o->b.len - 1] == '\n'))
		o->b.len--;
	o->b.p[o->b.len] = '\0';
}

char *
html_to_text(const char *html, size_t len)
{
	struct html_out o;
	htmlDocPtr doc;
	xmlNode *root;

	pthread_once(&html_once, html_init);
	memset(&o, 0, sizeof(o));
	if (buf_str(&o.b) == NULL)
		return NULL;
	if (len > 0 && len <= (size_t)INT_MAX &&
	    (doc = htmlReadMemory(html, (int)len, NULL, "UTF-8",
	    HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
	    HTML_PARSE_NONET)) != NULL) {
		if ((root = xmlDocGetRootElement(doc)) != NULL)
			html_walk(&o, root);
		xmlFreeDoc(doc);
	}
	if (o.b.oom) {
		buf_free(&o.b);
		return NULL;
	}
	html_trim(&o);
	return o.b.p;
}
