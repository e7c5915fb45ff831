/*
 * kafka_worker.h - the consumer of a worker role (mailer, inbox,
 * webhook): one topic, one group, offsets stored by the role only once
 * a message's outcome is committed, then auto-committed from there.
 */
#ifndef NOTIFYD_KAFKA_WORKER_H
#define NOTIFYD_KAFKA_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

/*
 * Subscribes to topic in group, with the worker defaults, then the
 * role's extra defaults (NULL-terminated key, value pairs, or NULL),
 * then kafka.properties.  The first assignment makes the process ready.
 */
rd_kafka_t	*kafka_worker_new(const char *group, const char *topic,
		    const char *const *extra, char *err, size_t len)
		    __attribute__((warn_unused_result));
/* Marks one message done: its offset goes out with the next commit. */
void		 kafka_worker_store(rd_kafka_t *, const char *topic,
		    int32_t partition, int64_t offset);
/*
 * The notification id a message names (exactly the decimal text of a
 * positive int64, no leading zero); -1 for one that names none.
 */
int64_t		 kafka_worker_msg_id(const rd_kafka_message_t *);
/* Leaves the group (committing what was stored) unless stopping fast. */
void		 kafka_worker_close(rd_kafka_t *);

#endif
