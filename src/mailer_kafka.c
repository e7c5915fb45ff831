/*
 * mailer_kafka.c - the mailer's side of the email topic: the consumer
 * (its first assignment is when the mailer is ready), reading a batch of
 * ids, storing an offset once its row's outcome is committed.
 * Never touches a row or the relay.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "kafka_worker.h"
#include "log.h"
#include "mailer.h"

/* The email topic's consumer; its first assignment makes us ready. */
rd_kafka_t *
mailer_consumer(char *err, size_t len)
{
	const char *const extra[] = {
		"socket.nagle.disable", "true",
		NULL
	};

	return kafka_worker_new(conf->email_group_id, conf->email_topic, extra,
	    err, len);
}

/* Marks a message done for Kafka: its offset is committed with the next. */
void
mailer_store_offset(struct mailer *m, int32_t partition, int64_t offset)
{
	kafka_worker_store(m->rk, conf->email_topic, partition, offset);
}

/* Up to max messages: waits timeout_ms for the first, not for the rest. */
size_t
mailer_poll(struct mailer *m, struct mailer_msg *msgs, size_t max,
    int timeout_ms)
{
	rd_kafka_message_t *km;
	size_t n = 0;

	while (n < max &&
	    (km = rd_kafka_consumer_poll(m->rk, n == 0 ? timeout_ms : 0)) != NULL) {
		if (km->err) {
			if (km->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				log_warnx("consume %s: %s", conf->email_topic,
				    rd_kafka_message_errstr(km));
		} else if ((msgs[n].id = kafka_worker_msg_id(km)) < 0) {
			mailer_log_ctx(-1, km->partition, km->offset);
			log_warnx("%s [%d] offset %lld: not a notification id; "
			    "skipped", conf->email_topic, (int)km->partition,
			    (long long)km->offset);
			log_ctx_clear();
			mailer_store_offset(m, km->partition, km->offset);
		} else {
			msgs[n].partition = km->partition;
			msgs[n++].offset = km->offset;
		}
		rd_kafka_message_destroy(km);
	}
	return n;
}
