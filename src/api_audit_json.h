/*
 * api_audit_json.h - the rows of /audit/events and /audit/tail written
 * straight into one buffer, byte for byte what jansson's compact dump of
 * api_audit_kafka_row() gives, without a jansson tree per row.
 */
#ifndef NOTIFYD_API_AUDIT_JSON_H
#define NOTIFYD_API_AUDIT_JSON_H

#include <stddef.h>

#include <libpq-fe.h>

#include "buf.h"

/* s (n bytes of UTF-8) as a JSON string, escaped as jansson does. */
void	 api_audit_json_str(struct buf *, const char *s, size_t n);
/* The jsonb text p as jansson re-dumps audit_json_load(p) compactly
 * (null when it cannot load it). */
void	 api_audit_json_event(struct buf *, const char *p, size_t n);
/* Row i of API_AUDIT_KAFKA_COLS as an object. */
void	 api_audit_json_row(struct buf *, const PGresult *, int i);
/* Rows 0..n-1 of res as a JSON array. */
void	 api_audit_json_rows(struct buf *, const PGresult *, int n);

#endif
