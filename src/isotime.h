/*
 * isotime.h - the strict ISO 8601 timestamp parser of the audit API.
 *
 * Pure code (no I/O, no allocation): parsed on its own so it can be
 * unit-tested and fuzzed.  Never logs.
 */
#ifndef NOTIFYD_ISOTIME_H
#define NOTIFYD_ISOTIME_H

#include <stddef.h>

/* "YYYY-MM-DD HH:MM:SS.ffffff+hh:mm" and its NUL; room to spare. */
#define ISOTIME_LEN	48

int	isotime_parse(const char *s, char *out, size_t len)
	    __attribute__((warn_unused_result));

#endif
