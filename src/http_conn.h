/*
 * http_conn.h - request-head deadlines and the accepting thread
 * (http_conn.c), under the HTTP server (http.c).
 */
#ifndef NOTIFYD_HTTP_CONN_H
#define NOTIFYD_HTTP_CONN_H

#include <microhttpd.h>

struct http_heads;
struct http_accept;

struct http_heads *http_heads_new(double timeout);
void	http_heads_free(struct http_heads *);
void	http_heads_notify(void *, struct MHD_Connection *, void **,
	    enum MHD_ConnectionNotificationCode);
void	http_heads_done(struct http_heads *, struct MHD_Connection *);
void	http_heads_wait(struct http_heads *, struct MHD_Connection *);
int	http_heads_sweep(struct http_heads *);
unsigned http_heads_open(struct http_heads *);
struct http_accept *http_accept_start(int, struct MHD_Daemon *,
	    struct http_heads *, unsigned) __attribute__((warn_unused_result));
void	http_accept_stop(struct http_accept *);

#endif
