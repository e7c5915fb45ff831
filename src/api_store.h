/*
 * api_store.h - group commit of accepted notifications (api_store.c),
 * used by api_notify.c.
 */
#ifndef NOTIFYD_API_STORE_H
#define NOTIFYD_API_STORE_H

#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>

struct api_store;
struct db_pool;
struct queue;

/* One POSTed row on its way into a group commit. */
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
	char			 err[256];
	int			 dbclass;	/* enum db_class of err */
	sem_t			 done;		/* posted when committed or failed */
	struct api_store_req	*next;
};

struct api_store *api_store_new(struct db_pool *, struct queue *);
void	api_store_free(struct api_store *);
void	api_store_insert(struct api_store *, struct api_store_req *);

#endif
