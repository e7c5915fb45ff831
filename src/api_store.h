/*
 * api_store.h - group commit of accepted notifications (api_store.c),
 * used by api_notify.c.
 */
#ifndef NOTIFYD_API_STORE_H
#define NOTIFYD_API_STORE_H

#include <semaphore.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

struct api_store;
struct db_pool;
struct http_resp;
struct queue;

/* One POSTed row on its way into a group commit. */
enum api_store_state {
	API_STORE_NEW,		/* inserted: id and at are set */
	API_STORE_SEEN,		/* its Idempotency-Key was stored before */
	API_STORE_ERROR,	/* err says why */
	API_STORE_LIMITED,	/* over email.user_rate: nothing stored */
};

struct api_store_req {
	const char		*key, *hash, *title, *content, *user_id;
	const char		*recipient, *from, *metadata;
	const char		*send_at;	/* set: SCHEDULED, not produced */
	const char		*template_name, *template_version, *locale, *text;
	const char		*category;	/* NULL: transactional */
	const char		*type;		/* the channel's static name: "EMAIL" */
	int64_t			 id, at;
	char			 suppressed[16];	/* NEW: its reason, or "" */
	enum api_store_state	 state;
	char			 err[256];
	int			 dbclass;	/* enum db_class of err */
	int			 retry_after;	/* LIMITED: seconds to wait */
	sem_t			 done;		/* posted when committed or failed */
	struct api_store_req	*next;
};

struct api_store *api_store_new(struct db_pool *, struct queue *);
void	api_store_free(struct api_store *);
void	api_store_insert(struct api_store *, struct api_store_req *);

/* email.user_rate (api_store_rate.c): units taken in the row's commit. */
int	api_store_rate_begin(PGconn *, enum db_class *cls, char *err, size_t len)
	    __attribute__((warn_unused_result));
int	api_store_rate_take(PGconn *, struct api_store_req *const *, int n,
	    const PGresult *ins, enum db_class *cls, char *err, size_t len)
	    __attribute__((warn_unused_result));
int	api_store_rate_commit(PGconn *, enum db_class *cls, char *err, size_t len)
	    __attribute__((warn_unused_result));
void	api_store_rate_rollback(PGconn *);
void	api_store_rate_refuse(struct http_resp *, const struct api_store_req *);
int	api_store_rate_sweep(PGconn *, char *err, size_t len)
	    __attribute__((warn_unused_result));

#endif
