/*
 * queue.h - putting notifications on the email topic.
 *
 * Used by the api role (after the row commits) and by the sweeper
 * (requeues).  Kafka's acknowledgements are turned into coalesced
 * "PENDING -> PROCESSING" updates: one UPDATE for many acks.
 */
#ifndef NOTIFYD_QUEUE_H
#define NOTIFYD_QUEUE_H

#include <stddef.h>
#include <stdint.h>

struct queue;
struct queue_ticket;

/* What Kafka said of one produced id (queue_ticket_wait). */
enum queue_state {
	QUEUE_FAILED = -1,	/* refused, or not delivered */
	QUEUE_WAITING = 0,	/* no answer yet */
	QUEUE_ACKED = 1,	/* on the topic */
};

/*
 * The owner's record of acknowledged ids ("queued"), called from the
 * queue's own thread with many ids at once; -1 with err when they stay
 * unmarked.  The queue holds no SQL.
 */
struct queue_mark {
	int	(*mark)(void *arg, const int64_t *ids, size_t n, char *err,
		    size_t len);
	void	*arg;
};

struct queue	*queue_new(const struct queue_mark *, char *err, size_t len)
		    __attribute__((warn_unused_result));
void		 queue_free(struct queue *);
struct queue_ticket *queue_push(struct queue *, int64_t id);
int		 queue_send(struct queue *, int64_t id);
struct queue_ticket *queue_push_to(struct queue *, const char *topic,
		    int64_t id);
int		 queue_send_to(struct queue *, const char *topic, int64_t id);
enum queue_state queue_ticket_wait(struct queue_ticket *, double timeout);
void		 queue_ticket_free(struct queue_ticket *);
int		 queue_ping(struct queue *, char *why, size_t len);
int		 queue_warm(struct queue *, const char *topic, char *why,
		    size_t len)
		    __attribute__((warn_unused_result));
int		 queue_flush_marks(struct queue *);

#endif
