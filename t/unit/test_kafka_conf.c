/*
 * test_kafka_conf.c - a client configuration from the settings a role
 * passes: brokers, then the role's defaults, then the operator's
 * properties, which win.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kafka.h"

static void
assert_prop(rd_kafka_conf_t *kc, const char *key, const char *want)
{
	char buf[256];
	size_t n = sizeof(buf);

	assert_int_equal(rd_kafka_conf_get(kc, key, buf, &n), RD_KAFKA_CONF_OK);
	assert_string_equal(buf, want);
}

static void
test_layers(void **state)
{
	char *props[] = { "linger.ms=7", "client.id=from-props" };
	const struct kafka_opts o = { "127.0.0.1:1234,127.0.0.1:5678", props,
	    2 };
	const char *const defaults[] = {
		"linger.ms", "0",
		"socket.nagle.disable", "true",
		NULL
	};
	char err[KAFKA_ERRLEN] = "";
	rd_kafka_conf_t *kc;

	kc = kafka_conf_new(&o, defaults, err, sizeof(err));
	assert_non_null(kc);
	assert_prop(kc, "bootstrap.servers", "127.0.0.1:1234,127.0.0.1:5678");
	assert_prop(kc, "socket.nagle.disable", "true");	/* a default */
	assert_prop(kc, "linger.ms", "7");		/* the operator wins */
	assert_prop(kc, "client.id", "from-props");
	rd_kafka_conf_destroy(kc);

	/* no defaults, no properties: just the brokers */
	{
		const struct kafka_opts bare = { "b:9092", NULL, 0 };

		assert_non_null(kc = kafka_conf_new(&bare, NULL, err,
		    sizeof(err)));
		assert_prop(kc, "bootstrap.servers", "b:9092");
		rd_kafka_conf_destroy(kc);
	}
}

/* A bad property fails with an error naming it; nothing leaks. */
static void
test_errors(void **state)
{
	char *unknown[] = { "no.such.property=1" };
	char *noeq[] = { "linger.ms" };
	char *badval[] = { "linger.ms=soon" };
	struct kafka_opts o = { "b:9092", unknown, 1 };
	char err[KAFKA_ERRLEN];

	assert_null(kafka_conf_new(&o, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "no.such.property"));
	o.properties = noeq;
	assert_null(kafka_conf_new(&o, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "linger.ms"));
	assert_non_null(strstr(err, "key=value"));
	o.properties = badval;
	assert_null(kafka_conf_new(&o, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "linger.ms=soon"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layers),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
