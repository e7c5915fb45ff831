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
#include "kafka.h"
#include "log.h"
#include "mailer.h"
#include "proc.h"
#include "stats.h"

/*
 * librdkafka's default assignment, plus one thing: the first assignment
 * is when this mailer starts delivering, so that is when it tells the
 * master it is ready (systemd's READY=1 and /ready wait for every
 * mailer; before, a notification posted right after them waited for
 * the group join, seconds).  An empty assignment counts: the group is
 * formed and has given the partitions to the others.
 */
static void
mailer_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
	rd_kafka_resp_err_t ae = RD_KAFKA_RESP_ERR_NO_ERROR;
	rd_kafka_error_t *e = NULL;

	(void)opaque;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		if (coop)
			e = rd_kafka_incremental_assign(rk, parts);
		else
			ae = rd_kafka_assign(rk, parts);
		log_info("assigned %d partitions of %s", parts->cnt,
		    conf->email_topic);
		if (stats_self != NULL && stats_self->state == SLOT_STARTING)
			proc_ready();
	} else if (coop)
		e = rd_kafka_incremental_unassign(rk, parts);
	else
		ae = rd_kafka_assign(rk, NULL);
	if (e != NULL) {
		log_error("rebalance: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	} else if (ae != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_error("rebalance: %s", rd_kafka_err2str(ae));
}

rd_kafka_t *
mailer_consumer(char *err, size_t len)
{
	const char *const defaults[] = {
		"group.id", conf->email_group_id,
		"enable.auto.commit", "true",
		"auto.commit.interval.ms", "500",
		"enable.auto.offset.store", "false",
		"auto.offset.reset", "earliest",
		"socket.nagle.disable", "true",
		"fetch.wait.max.ms", "10",
		NULL
	};
	const struct kafka_opts ko = { conf->kafka_brokers,
	    conf->kafka_properties.v, conf->kafka_properties.n };

	return kafka_consumer_new(&ko, defaults, mailer_rebalance, conf->email_topic, err, len);
}

/* Marks a message done for Kafka: its offset is committed with the next. */
void
mailer_store_offset(struct mailer *m, int32_t partition, int64_t offset)
{
	rd_kafka_topic_partition_list_t *l;

	if (offset < 0)
		return;
	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, conf->email_topic,
	    partition)->offset = offset + 1;
	(void)rd_kafka_offsets_store(m->rk, l);	/* fails only if revoked */
	rd_kafka_topic_partition_list_destroy(l);
}

/* Reads the id a message names; -1 for a message that names none. */
static int64_t
mailer_msg_id(const rd_kafka_message_t *km)
{
	char buf[24];
	char *end;
	long long id;

	if (km->payload == NULL || km->len == 0 || km->len >= sizeof(buf))
		return -1;
	memcpy(buf, km->payload, km->len);
	buf[km->len] = '\0';
	id = strtoll(buf, &end, 10);
	return *end == '\0' && id > 0 ? id : -1;
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
		} else if ((msgs[n].id = mailer_msg_id(km)) < 0) {
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
