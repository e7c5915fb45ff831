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
#define API_AUDIT_JSON_NCOLS	16

/* 0 when res has the columns of API_AUDIT_KAFKA_COLS_BIN first, in
 * binary (db_query_binary); -1 when not (nothing else may be read). */
int	 api_audit_json_check(const PGresult *)
	    __attribute__((warn_unused_result));
/* Row i of API_AUDIT_KAFKA_COLS_BIN as an object. */
void	 api_audit_json_row(struct buf *, const PGresult *, int i);
/* Row i's id (column 0) in decimal. */
void	 api_audit_json_id(struct buf *, const PGresult *, int i);
/* Rows 0..n-1 of res as a JSON array. */
void	 api_audit_json_rows(struct buf *, const PGresult *, int n);

#endif
