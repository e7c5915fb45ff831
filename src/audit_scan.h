/*
 * audit_scan.h - the seed's fields of a plain JSON object in one pass,
 * no jansson tree (the audit role's hot path).
 */
#ifndef NOTIFYD_AUDIT_SCAN_H
#define NOTIFYD_AUDIT_SCAN_H

#include <stddef.h>

/* The fields in audit_extract.h's order: event_type, correlation_id,
 * source_service, customer_id, runner_id, order_id. */
#define AUDIT_SCAN_NFIELDS	6

struct audit_scan_field {
	const char	*p;		/* into the value; NULL: absent */
	size_t		 len;
};

/* 1: p is a JSON object and out holds its fields by the seed's
 * fallbacks, uncut (what audit_extract's jansson path reads); 0: not
 * answered here, out untouched: parse with jansson. */
int	 audit_scan(struct audit_scan_field out[AUDIT_SCAN_NFIELDS],
	    const char *p, size_t len) __attribute__((warn_unused_result));

#endif
