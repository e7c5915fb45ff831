/*
 * html.h - the text/plain alternative of an HTML body (libxml2's HTML
 * parser underneath).
 */
#ifndef NOTIFYD_HTML_H
#define NOTIFYD_HTML_H

#include <stddef.h>

/*
 * Plain text of html (len bytes): entities decoded, script/style/head
 * dropped, a blank line between paragraphs, list items as "- " or
 * "1. ", links as "text (url)", whitespace collapsed.  Always valid
 * UTF-8 with no NUL.  Caller frees; NULL when out of memory.
 */
char	*html_to_text(const char *html, size_t len)
	    __attribute__((warn_unused_result));

#endif
