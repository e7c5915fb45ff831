/*
 * api_audit_json.h - the rows of /audit/events and /audit/tail written
 * straight into one buffer, byte for byte what jansson's compact dump of
 * api_audit_kafka_row() gives, without a jansson tree per row.
 */
#ifndef NOTIFYD_API_AUDIT_JSON_H
#define NOTIFYD_API_AUDIT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* A page of /audit/events written as its rows arrive (db_query_rows):
 * up to limit rows, and "next" when one more came. */
struct api_audit_json_page {
	struct buf	 b;
	int		 limit, n;
	bool		 more;
	bool		 bad;		/* not API_AUDIT_KAFKA_COLS_BIN */
	int64_t		 last;		/* the id of the last row written */
};

void	 api_audit_json_page_begin(struct api_audit_json_page *, int limit);
/* A db_row_fn: row of res into the page (-1: the page is full, or
 * bad). */
int	 api_audit_json_page_row(void *page, const PGresult *, int row);
/* Closes the array and writes "next". */
void	 api_audit_json_page_end(struct api_audit_json_page *);

#endif
