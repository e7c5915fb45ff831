/*
 * notif_mark.h - the "queued" mark of notification rows, written for
 * the ids Kafka acknowledged.  Shared by the two producers of the email
 * topic (the api role and the sweeper), handed to queue_new().
 */
#ifndef NOTIFYD_NOTIF_MARK_H
#define NOTIFYD_NOTIF_MARK_H

#include <stddef.h>
#include <stdint.h>

struct db_pool;

/* arg is the struct db_pool * to write through. */
int	 notif_mark_queued(void *arg, const int64_t *ids, size_t n, char *err,
	    size_t len) __attribute__((warn_unused_result));

#endif
