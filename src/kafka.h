/*
 * kafka.h - librdkafka plumbing shared by the roles.
 */
#ifndef NOTIFYD_KAFKA_H
#define NOTIFYD_KAFKA_H

#include <stddef.h>
#include <librdkafka/rdkafka.h>

#define KAFKA_ERRLEN 512

/* The cluster and the operator's overrides; the role fills them. */
struct kafka_opts {
	const char	*brokers;	/* bootstrap.servers */
	char *const	*properties;	/* "key=value", applied last */
	int		 nproperties;
};

/*
 * Builds a client configuration: the brokers, then the role's own
 * defaults (NULL-terminated key, value pairs), then the properties
 * (kafka.properties), so an operator's setting always wins.  Client
 * logs go to our log.
 */
rd_kafka_conf_t	*kafka_conf_new(const struct kafka_opts *,
		    const char *const *defaults, char *err, size_t len)
		    __attribute__((warn_unused_result));
rd_kafka_t	*kafka_new(rd_kafka_type_t, rd_kafka_conf_t *, char *err,
		    size_t len) __attribute__((warn_unused_result));
int		 kafka_conf_set(rd_kafka_conf_t *, const char *key,
		    const char *value, char *err, size_t len)
		    __attribute__((warn_unused_result));
typedef void	 kafka_rebalance_cb(rd_kafka_t *, rd_kafka_resp_err_t,
		    rd_kafka_topic_partition_list_t *, void *);
rd_kafka_t	*kafka_consumer_new(const struct kafka_opts *,
		    const char *const *defaults, kafka_rebalance_cb *,
		    void *opaque, const char *topic, char *err, size_t len)
		    __attribute__((warn_unused_result));
int		 kafka_produce(rd_kafka_t *, const char *topic, const char *key,
		    const void *value, size_t len, void *opaque)
		    __attribute__((warn_unused_result));

#endif
