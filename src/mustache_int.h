/*
 * mustache_int.h - what the Mustache parser (mustache.c) hands the
 * renderer (mustache_render.c): a template as a flat array of nodes.
 * Internal to those two files; users include mustache.h.
 */
#ifndef NOTIFYD_MUSTACHE_INT_H
#define NOTIFYD_MUSTACHE_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "mustache.h"

/* Sections open inside one another in one template: bounds lookups. */
#define MUSTACHE_MAX_NEST	256

enum mustache_node_type {
	MUSTACHE_TEXT,		/* bytes copied out */
	MUSTACHE_VAR,		/* {{name}}: escaped per opts */
	MUSTACHE_RAW,		/* {{{name}}} {{&name}}: never escaped */
	MUSTACHE_SECTION,	/* {{#name}} ... {{/name}} */
	MUSTACHE_INVERTED,	/* {{^name}} ... {{/name}} */
	MUSTACHE_PARTIAL	/* {{>name}} */
};

/*
 * One node.  A section's body is the nodes after it up to (not
 * including) index `end`, so rendering needs no tree and no recursion.
 */
struct mustache_node {
	unsigned char	 type;
	bool		 standalone;	/* partial alone on its line */
	int		 line, col;	/* of the tag: render errors say where */
	size_t		 off, len;	/* the text, or the tag's name, in src */
	size_t		 end;		/* section: index of the node after it */
	size_t		 ioff, ilen;	/* standalone partial: its indentation */
};

struct mustache {
	char			*src;	/* own copy: nodes point into it */
	size_t			 len;
	struct mustache_node	*nodes;
	size_t			 n, cap;
};

void	mustache_err_set(struct mustache_err *, int line, int col,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	mustache_err_vset(struct mustache_err *, int line, int col,
	    const char *fmt, va_list) __attribute__((format(printf, 4, 0)));
/* name (n bytes, any) printable into an error message, cut to fit. */
const char *mustache_err_name(const char *name, size_t n, char *out,
	    size_t len);

#endif
