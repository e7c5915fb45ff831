/*
 * audit_extract.h - what the audit log reads out of a Kafka message.
 *
 * Pure code (jansson only, no I/O): the seed's field fallbacks, the
 * header encoding and the byte checks, shared by the audit role and the
 * audit API, and unit-tested on their own.
 */
#ifndef NOTIFYD_AUDIT_EXTRACT_H
#define NOTIFYD_AUDIT_EXTRACT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define AUDIT_FIELD_MAX	255	/* bytes kept of an extracted field */

enum audit_field {		/* audit_scan.h's order too */
	AUDIT_F_EVENT_TYPE,
	AUDIT_F_CORRELATION_ID,
	AUDIT_F_SOURCE_SERVICE,
	AUDIT_F_CUSTOMER_ID,
	AUDIT_F_RUNNER_ID,
	AUDIT_F_ORDER_ID,
	AUDIT_F_MAX
};

struct audit_str {
	const char	*p;		/* NULL = SQL NULL */
	size_t		 len;
};

struct audit_fields {
	json_t		*root;		/* the parsed value when jansson read it */
	bool		 json;		/* the value is JSON (stored as the event) */
	struct audit_str f[AUDIT_F_MAX];	/* event_type is never NULL */
	char		 num[AUDIT_F_MAX][32];	/* numbers turned into text */
};

/* Fills f from a message value (NULL = tombstone); never fails. */
void	 audit_extract(struct audit_fields *f, const void *value, size_t len);
/* The same through jansson alone: the reference audit_scan.c must equal. */
void	 audit_extract_parsed(struct audit_fields *f, const void *value,
	    size_t len);
void	 audit_extract_clear(struct audit_fields *f);
const char *audit_field_name(enum audit_field);

/* JSON text as jansson values; numbers jansson cannot hold (1e400,
 * 2^70) come back as strings of their digits.  NULL if not JSON. */
json_t	*audit_json_load(const char *p, size_t len);

/* True when p holds valid UTF-8 without NUL bytes (safe JSON text). */
bool	 audit_utf8_text(const void *p, size_t len);
/* Longest prefix of at most max bytes that ends on a character boundary. */
size_t	 audit_utf8_cut(const char *p, size_t len, size_t max);

/* {"key":..,"value":..,"encoding":"utf-8"|"base64"}, base64 when needed. */
json_t	*audit_header_json(const char *name, const void *value, size_t len);
/* A byte string as JSON text, or base64 when it is not text. */
json_t	*audit_bytes_json(const void *p, size_t len, const char **encoding);

#endif
