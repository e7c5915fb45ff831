/*
 * utf8.h - what bytes from outside may be before they become text:
 * strict UTF-8 checks, an escaped form for naming bad input, and the
 * URL decoding the HTTP server uses.  Pure code, no allocation.
 */
#ifndef NOTIFYD_UTF8_H
#define NOTIFYD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

size_t	 utf8_char(const char *s, size_t n);
unsigned utf8_codepoint(const char *s, size_t len);
bool	 utf8_valid(const char *s, size_t n);
char	*utf8_escape(const char *s, size_t n, char *out, size_t len);
size_t	 utf8_url_decode(char *s);

#endif
