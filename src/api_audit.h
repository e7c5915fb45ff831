/*
 * api_audit.h - the audit log over HTTP (api_audit.c) and what its
 * handlers share with the export (api_audit_export.c): the row shape of
 * /audit/events and its parameter checks.
 */
#ifndef NOTIFYD_API_AUDIT_H
#define NOTIFYD_API_AUDIT_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "buf.h"
#include "http.h"

#define API_AUDIT_ISO(col) \
	"to_char(" col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"

/* The seed's to_dict columns, in the order api_audit_row() reads. */
#define API_AUDIT_COLS \
	"id, notification_id, customer_id, runner_id, order_id, event::text, " \
	"status, " API_AUDIT_ISO("created_at") ", source_topic, event_type, " \
	"correlation_id, source_service"
/* ... then the Kafka position, for /audit/events. */
#define API_AUDIT_KAFKA_COLS API_AUDIT_COLS \
	", partition, \"offset\", " API_AUDIT_ISO("kafka_ts") ", kafka_ts_type"
/* The same for a binary result (api_audit_json.c formats the times as
 * API_AUDIT_ISO: to_char was a third of the server's work of a page). */
#define API_AUDIT_KAFKA_COLS_BIN \
	"id, notification_id, customer_id, runner_id, order_id, event::text, " \
	"status, created_at, source_topic, event_type, correlation_id, " \
	"source_service, partition, \"offset\", kafka_ts, kafka_ts_type"

void	api_audit_order(struct http_req *, struct http_resp *);
void	api_audit_order_latest(struct http_req *, struct http_resp *);
void	api_audit_customer(struct http_req *, struct http_resp *);
void	api_audit_send(struct http_req *, struct http_resp *);
void	api_audit_events(struct http_req *, struct http_resp *);
void	api_audit_event(struct http_req *, struct http_resp *);
void	api_audit_topics(struct http_req *, struct http_resp *);
void	api_audit_tail(struct http_req *, struct http_resp *);

/* A row of API_AUDIT_KAFKA_COLS as /audit/events shows it. */
json_t	*api_audit_kafka_row(const PGresult *, int row);
/* An optional ISO 8601 parameter into out (*val NULL when absent); -1
 * after a 400 naming it. */
int	 api_audit_param_ts(struct http_req *, const char *key, char *out,
	    size_t len, const char **val, struct http_resp *);
/* b's text as the JSON body (taken, b emptied); 500 when b ran out of
 * memory. */
void	 api_audit_json_send(struct http_resp *, int status, struct buf *);
/* The NDJSON export of /audit/events (api_audit_export.c). */
void	 api_audit_export(struct http_req *, struct http_resp *);

#endif
