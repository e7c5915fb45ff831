/*
 * queue.h - putting notifications on the email topic.
 *
 * Used by the api role (after the row commits) and by the sweeper
 * (requeues).  Kafka's acknowledgements are turned into coalesced
 * "PENDING -> PROCESSING" updates: one UPDATE for many acks.
 */
#ifndef NOTIFYD_QUEUE_H
#define NOTIFYD_QUEUE_H

#include <stdint.h>

struct db_pool;
struct queue;
struct queue_ticket;

struct queue	*queue_new(struct db_pool *, char *err, size_t len)
		    __attribute__((warn_unused_result));
void		 queue_free(struct queue *);
struct queue_ticket *queue_push(struct queue *, int64_t id);
int		 queue_ticket_wait(struct queue_ticket *, double timeout);
void		 queue_ticket_free(struct queue_ticket *);
int		 queue_ping(struct queue *, char *why, size_t len);
int		 queue_flush_marks(struct queue *);

#endif
