/*
 * mustache.h - Mustache templates (https://mustache.github.io/mustache.5.html),
 * exact to the specification's core modules: interpolation, sections,
 * inverted sections, comments, partials and set delimiters.  Data is a
 * jansson value.  Pure: no I/O, no logging, no configuration.
 */
#ifndef NOTIFYD_MUSTACHE_H
#define NOTIFYD_MUSTACHE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "buf.h"

/* Where and why parsing or rendering failed: 1-based line and column. */
struct mustache_err {
	int	 line, col;
	char	 msg[160];
};

/* How {{name}} (not {{{name}}} or {{&name}}) is written out. */
enum mustache_escape {
	MUSTACHE_ESCAPE_HTML,	/* & < > " ' escaped, for an HTML part */
	MUSTACHE_ESCAPE_NONE	/* as is, for a subject or a text part */
};

/*
 * A partial's source text by name, or NULL when there is none (which
 * renders as empty, as the specification says).  *len receives its length.
 */
typedef const char *(*mustache_partial_fn)(void *arg, const char *name,
    size_t *len);

struct mustache_opts {
	enum mustache_escape	 escape;
	bool			 strict;	/* a missing name is an error */
	mustache_partial_fn	 partial;	/* NULL: no partials */
	void			*partial_arg;
	int			 max_depth;	/* partial nesting; 0 means 16;
						   at most 1000 */
	size_t			 max_output;	/* bytes rendered; 0 means 16 MiB */
};

struct mustache;

/*
 * Parses src (len bytes, any bytes but must be valid UTF-8 to be useful).
 * NULL on a syntax error (unclosed tag or section, mismatched section
 * end, bad delimiter change) with e saying where, or when out of memory.
 */
struct mustache	*mustache_parse(const char *src, size_t len,
		    struct mustache_err *e) __attribute__((warn_unused_result));

/*
 * Appends the rendering of t with data to out.  0, or -1 with e set: a
 * missing name under opts->strict (e->msg names it), a partial that does
 * not parse (e says where in it), nesting deeper than max_depth, or out
 * of memory.
 * Also -1: output beyond max_output, or more than ten million steps
 * (nodes run, list items, context entries probed), so no template and
 * data can hang the caller.  On -1 out holds what it held before.  A
 * missing partial is an error under strict too.  The partial callback is
 * called at most once per name per call; its text is copied at once.
 * false, null, 0, "" and [] are falsey (as in mustache.js).
 */
int		 mustache_render(const struct mustache *t, json_t *data,
		    const struct mustache_opts *opts, struct buf *out,
		    struct mustache_err *e) __attribute__((warn_unused_result));

void		 mustache_free(struct mustache *);

#endif
