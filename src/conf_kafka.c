/*
 * conf_kafka.c - kafka.properties and the topic keys, checked at load.
 *
 * Part of the conf module (conf_kafka_check is declared in conf.h).
 * Each role builds its Kafka client from kafka.properties after the
 * fork, so an unknown property or a bad value used to pass `-t` and a
 * reload and then stop every Kafka role at its start.  Here each one
 * is set on a scratch rd_kafka_conf_t: a dictionary, not a client (no
 * thread, no socket, no broker), so the master may make one; STYLE's
 * "no handle before fork" is about rd_kafka_new.  What only
 * rd_kafka_new checks (property combinations, a SASL mechanism this
 * librdkafka was built without) is still reported by the role.
 * audit.topics is a regular expression in librdkafka's own dialect,
 * not POSIX's: not checked here.  Never logs.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "util.h"

/* Longest topic name Kafka takes (its Topic.validate). */
#define CONF_KAFKA_TOPIC_MAX	249

/*
 * Not set on the scratch conf: librdkafka loads the plugins a value
 * names (dlopen and their init) as it is set, which -t and the master
 * must not do.  The roles set it as before.
 */
static const char *const conf_kafka_unchecked[] = {
	"plugin.library.paths",
	NULL
};

static bool
conf_kafka_skipped(const char *key)
{
	int i;

	for (i = 0; conf_kafka_unchecked[i] != NULL; i++)
		if (strcmp(key, conf_kafka_unchecked[i]) == 0)
			return true;
	return false;
}

/* One "key=value" (conf_check has seen its '=') on kc; -1 and err. */
static int
conf_kafka_set(rd_kafka_conf_t *kc, const char *p, const char *file,
    char *err, size_t len)
{
	const char *eq = strchr(p, '=');
	char why[256], *key;
	int rc = 0;

	if ((key = strndup(p, (size_t)(eq - p))) == NULL)
		return conf_errf(err, len, "out of memory");
	if (!conf_kafka_skipped(key) &&
	    rd_kafka_conf_set(kc, key, eq + 1, why, sizeof(why)) !=
	    RD_KAFKA_CONF_OK)
		rc = conf_errf(err, len, "%s: kafka.properties: %s: %s", file,
		    key, why);
	free(key);
	return rc;
}

/* Every kafka.properties entry as librdkafka takes it, or -1 and err. */
static int
conf_kafka_properties(const struct conf *c, const char *file, char *err,
    size_t len)
{
	rd_kafka_conf_t *kc;
	int i, rc = 0;

	if (c->kafka_properties.n == 0)
		return 0;
	if ((kc = rd_kafka_conf_new()) == NULL)
		return conf_errf(err, len, "out of memory");
	for (i = 0; i < c->kafka_properties.n && rc == 0; i++)
		rc = conf_kafka_set(kc, c->kafka_properties.v[i], file, err,
		    len);
	rd_kafka_conf_destroy(kc);
	return rc;
}

/* Kafka's rule: 1 to 249 of [A-Za-z0-9._-], and not "." or "..". */
static bool
conf_kafka_topic_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= CONF_KAFKA_TOPIC_MAX && strspn(s,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-") == n && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/*
 * A topic key's value, or -1 naming the key.  The value is shown only
 * when it is visible ASCII (cut to 60 bytes): a CR or LF must not
 * reach a log line or sd_notify's STATUS= raw.
 */
static int
conf_kafka_topic(const char *key, const char *s, const char *file,
    char *err, size_t len)
{
	const char *rule = "1 to 249 of A-Z a-z 0-9 . _ -, not \".\" or \"..\"";
	size_t n;

	if (conf_kafka_topic_ok(s))
		return 0;
	if (s[n = util_visible_len(s)] != '\0')
		return conf_errf(err, len, "%s: %s: not a Kafka topic name "
		    "(%s): it holds control or non-ASCII bytes", file, key,
		    rule);
	return conf_errf(err, len, "%s: %s: \"%.60s\"%s is not a Kafka topic "
	    "name (%s)", file, key, s, n > 60 ? " (cut)" : "", rule);
}

/* kafka.properties and every topic key; -1 with err naming file, key. */
int
conf_kafka_check(const struct conf *c, const char *file, char *err,
    size_t len)
{
	if (conf_kafka_topic("email.topic", c->email_topic, file, err,
	    len) == -1 ||
	    conf_kafka_topic("webhook.topic", c->webhook_topic, file, err,
	    len) == -1 ||
	    conf_kafka_topic("inbox.topic", c->inbox_topic, file, err,
	    len) == -1)
		return -1;
	return conf_kafka_properties(c, file, err, len);
}
