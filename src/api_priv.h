/*
 * api_priv.h - the api process's context, shared by api*.c only.
 */
#ifndef NOTIFYD_API_PRIV_H
#define NOTIFYD_API_PRIV_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "api.h"

struct db_pool;
struct api_notify;
struct api_store;
struct api_heads;
struct api_accept;
struct api_jobs;
struct queue;
struct queue_ticket;

/* One POSTed row on its way into a group commit (api_store.c). */
enum api_store_state {
	API_STORE_NEW,		/* inserted: id and at are set */
	API_STORE_SEEN,		/* its Idempotency-Key was stored before */
	API_STORE_ERROR,	/* err says why */
};

struct api_store_req {
	const char		*key, *hash, *title, *content, *user_id;
	const char		*recipient, *from, *metadata;
	int64_t			 id, at;
	enum api_store_state	 state;
	struct queue_ticket	*ticket;	/* the new row's Kafka ack */
	char			 err[256];
	int			 dbclass;	/* enum db_class of err */
	bool			 finished;
	struct api_store_req	*next;
};

struct api_store *api_store_new(struct db_pool *, struct queue *);
void	api_store_free(struct api_store *);
void	api_store_insert(struct api_store *, struct api_store_req *);

struct api_ctx {
	struct db_pool		*pool;		/* API_POOL_MAIN */
	struct db_pool		*audit_pool;	/* API_POOL_AUDIT */
	struct db_pool		*store_pool;	/* api_store's own connection */
	struct api_notify	*notify;	/* producer and ack tracking */
	struct api_heads	*heads;		/* request-head deadlines */
	struct api_accept	*accept;	/* the accepting thread */
	struct api_jobs		*jobs;		/* the request threads */
	volatile sig_atomic_t	 draining;
};

/* Request threads (api_jobs.c). */
struct api_job {
	struct api_job	*next;
	void		(*fn)(struct api_job *);
};
struct api_jobs *api_jobs_new(int nthreads) __attribute__((warn_unused_result));
void	api_jobs_free(struct api_jobs *);
void	api_jobs_push(struct api_jobs *, struct api_job *);

/* Request-head deadlines (api_conn.c). */
struct api_heads *api_heads_new(double timeout);
void	api_heads_free(struct api_heads *);
void	api_heads_notify(void *, struct MHD_Connection *, void **,
	    enum MHD_ConnectionNotificationCode);
void	api_heads_done(struct api_heads *, struct MHD_Connection *);
void	api_heads_wait(struct api_heads *, struct MHD_Connection *);
int	api_heads_sweep(struct api_heads *);
unsigned api_heads_open(struct api_heads *);
struct api_accept *api_accept_start(int, struct MHD_Daemon *,
	    struct api_heads *, unsigned) __attribute__((warn_unused_result));
void	api_accept_stop(struct api_accept *);

int	api_notify_init(struct api_ctx *) __attribute__((warn_unused_result));
void	api_notify_fini(struct api_ctx *);
int	api_notify_ready(struct api_ctx *, char *why, size_t len);

void	api_notify_create(struct api_req *, struct api_resp *);
void	api_notify_list(struct api_req *, struct api_resp *);
void	api_notify_get(struct api_req *, struct api_resp *);
void	api_notify_retry(struct api_req *, struct api_resp *);

#define NOTIFY_PATH "/notification_service/api/notifications"
#define API_NOTIFY_ROUTES \
	{ "POST", NOTIFY_PATH, api_notify_create, "send", "notify_create", \
	  { NULL }, API_POOL_MAIN }, \
	{ "GET", NOTIFY_PATH, api_notify_list, "read", "notify_list", \
	  { NULL }, API_POOL_MAIN }, \
	{ "GET", NOTIFY_PATH "/{}", api_notify_get, "read", "notify_get", \
	  { "id" }, API_POOL_MAIN }, \
	{ "POST", NOTIFY_PATH "/{}/retry", api_notify_retry, "send", \
	  "notify_retry", { "id" }, API_POOL_MAIN },
void	api_audit_order(struct api_req *, struct api_resp *);
void	api_audit_order_latest(struct api_req *, struct api_resp *);
void	api_audit_customer(struct api_req *, struct api_resp *);
void	api_audit_send(struct api_req *, struct api_resp *);
void	api_audit_events(struct api_req *, struct api_resp *);
void	api_audit_event(struct api_req *, struct api_resp *);
void	api_audit_topics(struct api_req *, struct api_resp *);
void	api_audit_tail(struct api_req *, struct api_resp *);

/* They read audit_events, so they get their own connections. */
#define API_AUDIT_ROUTES \
	{ "GET", "/order/{}", api_audit_order, "read", "audit_order", \
	  { "orderId" }, API_POOL_AUDIT }, \
	{ "GET", "/order/{}/latest", api_audit_order_latest, "read", \
	  "audit_order_latest", { "orderId" }, API_POOL_AUDIT }, \
	{ "GET", "/customer/{}/notifications", api_audit_customer, "read", \
	  "audit_customer", { "customerId" }, API_POOL_AUDIT }, \
	{ "POST", "/send-notification", api_audit_send, "send", \
	  "audit_send", { NULL }, API_POOL_AUDIT }, \
	{ "GET", "/audit/events", api_audit_events, "read", "audit_events", \
	  { NULL }, API_POOL_AUDIT }, \
	{ "GET", "/audit/events/{}", api_audit_event, "read", "audit_event", \
	  { "id" }, API_POOL_AUDIT }, \
	{ "GET", "/audit/topics", api_audit_topics, "read", "audit_topics", \
	  { NULL }, API_POOL_AUDIT }, \
	{ "GET", "/audit/tail", api_audit_tail, "read", "audit_tail", \
	  { NULL }, API_POOL_AUDIT },

#endif
