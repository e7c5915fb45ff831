/*
 * kafka_worker.c - the Kafka side of the worker roles (mailer, inbox,
 * webhook): their consumer's defaults, its rebalances (the first
 * assignment makes the process ready), reading the id a message names,
 * storing an offset once the role has committed the outcome, and the
 * goodbye to the group.
 *
 * What a message means, and when its outcome is committed, is the
 * role's; this file never touches a row.  Built on kafka.c (plumbing)
 * and proc.c (readiness, the stop flag).
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "kafka.h"
#include "kafka_worker.h"
#include "log.h"
#include "proc.h"
#include "stats.h"

/* Key and value slots for group.id, ours and a role's extras. */
#define KAFKA_WORKER_DEFAULTS	32

/*
 * Every worker's: offsets are stored by the role after the outcome's
 * commit (never on poll) and auto-committed from there; a new topic is
 * read from its start; a batch is not held back for the broker's wait.
 */
static const char *const kafka_worker_defaults[] = {
	"enable.auto.commit", "true",
	"auto.commit.interval.ms", "500",
	"enable.auto.offset.store", "false",
	"auto.offset.reset", "earliest",
	"fetch.wait.max.ms", "10",
	NULL
};

/*
 * librdkafka's default assignment (incremental when kafka.properties
 * picks a cooperative assignor), plus one thing: the first assignment is
 * when this worker starts delivering, so that is when it tells the
 * master it is ready (systemd's READY=1 and /ready wait for every
 * worker; before, a notification posted right after them waited for the
 * group join, seconds).  An empty assignment counts: the group is formed
 * and has given the partitions to the others.  opaque: the topic.
 */
static void
kafka_worker_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
	rd_kafka_resp_err_t ae = RD_KAFKA_RESP_ERR_NO_ERROR;
	rd_kafka_error_t *e = NULL;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		if (coop)
			e = rd_kafka_incremental_assign(rk, parts);
		else
			ae = rd_kafka_assign(rk, parts);
		log_info("assigned %d partitions of %s", parts->cnt,
		    (const char *)opaque);
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

/* The consumer of a worker role: see kafka_worker.h. */
rd_kafka_t *
kafka_worker_new(const char *group, const char *topic,
    const char *const *extra, char *err, size_t len)
{
	const struct kafka_opts ko = { conf->kafka_brokers,
	    conf->kafka_properties.v, conf->kafka_properties.n };
	const char *defaults[KAFKA_WORKER_DEFAULTS + 1];
	size_t n = 0, i;

	defaults[n++] = "group.id";
	defaults[n++] = group;
	for (i = 0; kafka_worker_defaults[i] != NULL; i++)
		defaults[n++] = kafka_worker_defaults[i];
	for (i = 0; extra != NULL && extra[i] != NULL; i++) {
		if (n == KAFKA_WORKER_DEFAULTS) {
			snprintf(err, len, "more than %d consumer defaults",
			    KAFKA_WORKER_DEFAULTS / 2);
			return NULL;
		}
		defaults[n++] = extra[i];
	}
	defaults[n] = NULL;
	/* topic points into conf, which outlives the consumer */
	return kafka_consumer_new(&ko, defaults, kafka_worker_rebalance,
	    (void *)topic, topic, err, len);
}

/* Marks one message done; a negative offset is none. */
void
kafka_worker_store(rd_kafka_t *rk, const char *topic, int32_t partition,
    int64_t offset)
{
	rd_kafka_topic_partition_list_t *l;

	if (offset < 0)
		return;
	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topic, partition)->offset =
	    offset + 1;
	(void)rd_kafka_offsets_store(rk, l);	/* fails only if revoked */
	rd_kafka_topic_partition_list_destroy(l);
}

/* Digits in INT64_MAX, 9223372036854775807. */
#define KAFKA_WORKER_ID_DIGITS	19

/*
 * The id a message names; -1 for one that names none, which the caller
 * logs by partition and offset and skips.  Only the exact text our
 * producer writes (notif_queue_key: "%lld" of a positive id) is an id:
 * 1 to 19 ASCII digits, the first not '0', nothing else and no
 * overflow.  strtoll read "12\0junk", "+12", " 12" as 12 and clamped
 * an overflow to LLONG_MAX; a leading zero is refused too, so that one
 * id has one text and "012" cannot pass for 12 (nobody writes it).
 */
int64_t
kafka_worker_msg_id(const rd_kafka_message_t *km)
{
	const unsigned char *p = km->payload;
	int64_t id = 0;
	size_t i;
	int d;

	if (p == NULL || km->len == 0 || km->len > KAFKA_WORKER_ID_DIGITS ||
	    p[0] == '0')
		return -1;
	for (i = 0; i < km->len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		d = p[i] - '0';
		if (id > (INT64_MAX - d) / 10)
			return -1;
		id = id * 10 + d;
	}
	return id;
}

/* Leaves the group, committing what was stored; _close(NULL) is safe. */
void
kafka_worker_close(rd_kafka_t *rk)
{
	if (rk == NULL)
		return;
	if (proc_stop == STOP_FAST)	/* no waiting on Kafka */
		rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	else {
		rd_kafka_consumer_close(rk);	/* commits the stored offsets */
		rd_kafka_destroy(rk);
	}
}
