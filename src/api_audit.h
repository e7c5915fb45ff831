/*
 * api_audit.h - the audit log over HTTP (api_audit.c).
 */
#ifndef NOTIFYD_API_AUDIT_H
#define NOTIFYD_API_AUDIT_H

#include "http.h"

void	api_audit_order(struct http_req *, struct http_resp *);
void	api_audit_order_latest(struct http_req *, struct http_resp *);
void	api_audit_customer(struct http_req *, struct http_resp *);
void	api_audit_send(struct http_req *, struct http_resp *);
void	api_audit_events(struct http_req *, struct http_resp *);
void	api_audit_event(struct http_req *, struct http_resp *);
void	api_audit_topics(struct http_req *, struct http_resp *);

#endif
