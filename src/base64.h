/*
 * base64.h - standard base64 (RFC 4648, with padding), for MIME bodies
 * and encoded words and for bytes that are not text in audit records.
 */
#ifndef NOTIFYD_BASE64_H
#define NOTIFYD_BASE64_H

#include <stddef.h>

#define BASE64_LEN(n)	(((n) + 2) / 3 * 4)

size_t	 base64_encode(const void *in, size_t n, char *out);

#endif
