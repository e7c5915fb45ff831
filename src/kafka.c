/*
 * kafka.c - client configuration and creation for every role.
 *
 * Plumbing only: which topics to read or write, and what an error
 * means, belongs to the role, and so do the settings (passed in).
 * Never called in the master.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"
#include "stats.h"

int
kafka_conf_set(rd_kafka_conf_t *kc, const char *key, const char *value,
    char *err, size_t len)
{
	char why[256];

	if (rd_kafka_conf_set(kc, key, value, why, sizeof(why)) !=
	    RD_KAFKA_CONF_OK) {
		snprintf(err, len, "kafka property %s=%s: %s", key, value, why);
		return -1;
	}
	return 0;
}

static void
kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	/* kafka.properties feeds consumers and producers alike: its
	 * "consumer property ignored by this producer" notes are noise. */
	if (strcmp(fac, "CONFWARN") == 0)
		log_debug("kafka %s: %s", fac, buf);
	else if (level <= 3)
		log_error("kafka %s: %s", fac, buf);
	else if (level <= 5)
		log_warnx("kafka %s: %s", fac, buf);
	else
		log_debug("kafka %s: %s", fac, buf);
}

/* Client-wide errors: logged and counted; librdkafka keeps retrying. */
static void
kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	stats_add(CTR_KAFKA_ERRORS, 1);
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
	    err == RD_KAFKA_RESP_ERR__TRANSPORT)
		log_debug("kafka: %s", reason);
	else
		log_warnx("kafka: %s: %s", rd_kafka_err2name(err), reason);
}

rd_kafka_conf_t *
kafka_conf_new(const struct kafka_opts *o, const char *const *defaults,
    char *err, size_t len)
{
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	char key[256];
	const char *eq;
	int i;

	if (kafka_conf_set(kc, "bootstrap.servers", o->brokers, err, len) == -1)
		goto fail;
	for (i = 0; defaults != NULL && defaults[i] != NULL; i += 2)
		if (kafka_conf_set(kc, defaults[i], defaults[i + 1], err, len) == -1)
			goto fail;
	for (i = 0; i < o->nproperties; i++) {
		if ((eq = strchr(o->properties[i], '=')) == NULL) {
			snprintf(err, len, "kafka property %s: not key=value",
			    o->properties[i]);
			goto fail;
		}
		snprintf(key, sizeof(key), "%.*s", (int)(eq - o->properties[i]),
		    o->properties[i]);
		if (kafka_conf_set(kc, key, eq + 1, err, len) == -1)
			goto fail;
	}
	rd_kafka_conf_set_log_cb(kc, kafka_log);
	rd_kafka_conf_set_error_cb(kc, kafka_error);
	return kc;
fail:
	rd_kafka_conf_destroy(kc);
	return NULL;
}

/* Creates the client; the configuration is consumed either way. */
rd_kafka_t *
kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *kc, char *err, size_t len)
{
	rd_kafka_t *rk = rd_kafka_new(type, kc, err, len);

	if (rk == NULL)
		rd_kafka_conf_destroy(kc);
	return rk;
}

/* Queues one message (copied); delivery is reported to the dr callback. */
int
kafka_produce(rd_kafka_t *rk, const char *topic, const char *key,
    const void *value, size_t len, void *opaque)
{
	rd_kafka_resp_err_t err;

	err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
	    RD_KAFKA_V_KEY(key, strlen(key)),
	    RD_KAFKA_V_VALUE((void *)value, len),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	    RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
	return err == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

/*
 * A consumer in a group, subscribed to one topic, its rebalances
 * handled by rebalance, which is handed opaque: the worker roles' (see
 * kafka_worker.c).  The role's defaults (group.id first) come under
 * kafka.properties.
 */
rd_kafka_t *
kafka_consumer_new(const struct kafka_opts *ko, const char *const *defaults,
    kafka_rebalance_cb *rebalance, void *opaque, const char *topic, char *err,
    size_t len)
{
	rd_kafka_topic_partition_list_t *topics;
	rd_kafka_conf_t *kc;
	rd_kafka_t *rk;
	rd_kafka_resp_err_t e;

	if ((kc = kafka_conf_new(ko, defaults, err, len)) == NULL)
		return NULL;
	rd_kafka_conf_set_rebalance_cb(kc, rebalance);
	rd_kafka_conf_set_opaque(kc, opaque);
	if ((rk = kafka_new(RD_KAFKA_CONSUMER, kc, err, len)) == NULL)
		return NULL;
	rd_kafka_poll_set_consumer(rk);
	if ((topics = rd_kafka_topic_partition_list_new(1)) == NULL) {
		snprintf(err, len, "out of memory");
		rd_kafka_destroy(rk);
		return NULL;
	}
	rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
	e = rd_kafka_subscribe(rk, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, len, "subscribe %s: %s", topic,
		    rd_kafka_err2str(e));
		rd_kafka_destroy(rk);
		return NULL;
	}
	return rk;
}
