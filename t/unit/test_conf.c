/*
 * test_conf.c - the key table, file parsing, errors, environment.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libconfig.h>

#include "conf.h"

static char tmpl[] = "/tmp/notifyd-test-conf-XXXXXX";

/* Writes text to a temporary file and returns its path. */
static const char *
write_conf(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s", tmpl);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static struct conf *
load_text(const char *text, char *err)
{
	const char *path = write_conf(text);
	struct conf *c = conf_load(path, err, CONF_ERRLEN);

	unlink(path);
	return c;
}

static void
test_defaults(void **state)
{
	char err[CONF_ERRLEN];
	struct conf *c = conf_load(NULL, err, sizeof(err));

	assert_non_null(c);
	assert_int_equal(c->http_port, 8080);
	assert_string_equal(c->email_topic, "notifications.email");
	assert_int_equal(c->email_retry_max_attempts, 3);
	assert_string_equal(c->audit_group_id, "notification-service-group");
	assert_true(c->audit_enabled);
	assert_int_equal(c->kafka_properties.n, 0);
	conf_free(c);
}

/* etc/notifyd.conf.in must show every key of the table, and load. */
static void
test_sample_has_every_key(void **state)
{
	char path[1024], err[CONF_ERRLEN];
	const struct conf_key *k;
	const char *src = getenv("NOTIFYD_SRCDIR");
	struct conf *c;
	config_t cf;

	snprintf(path, sizeof(path), "%s/etc/notifyd.conf.in", src ? src : ".");
	config_init(&cf);
	if (config_read_file(&cf, path) != CONFIG_TRUE)
		fail_msg("%s:%d: %s", path, config_error_line(&cf),
		    config_error_text(&cf));
	for (k = conf_keys; k->name != NULL; k++)
		if (config_lookup(&cf, k->name) == NULL)
			fail_msg("key %s is missing from %s", k->name, path);
	config_destroy(&cf);
	c = conf_load(path, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	conf_free(c);
}

static void
test_values(void **state)
{
	char err[CONF_ERRLEN];
	struct conf *c = load_text(
	    "http = { port = 9999; tokens = [ \"abc:send,read\" ]; };\n"
	    "email = { retry = { initial = 0.25; max_attempts = 5; };\n"
	    "  smtp = { url = \"smtps://relay:465\"; starttls = \"required\"; }; };\n"
	    "kafka = { properties = [ \"session.timeout.ms=6000\" ]; };\n"
	    "shutdown_timeout = 3;\n", err);

	if (c == NULL)
		fail_msg("%s", err);
	assert_int_equal(c->http_port, 9999);
	assert_true(c->email_retry_initial > 0.24 && c->email_retry_initial < 0.26);
	assert_int_equal(c->email_retry_max_attempts, 5);
	assert_string_equal(c->email_smtp_starttls, "required");
	assert_int_equal(c->http_tokens.n, 1);
	assert_string_equal(c->kafka_properties.v[0], "session.timeout.ms=6000");
	assert_true(c->shutdown_timeout == 3.0);
	conf_free(c);
}

/* Each error names the file, the line and the key. */
static void
expect_error(const char *text, const char *line_key, const char *why)
{
	char err[CONF_ERRLEN];
	struct conf *c = load_text(text, err);

	assert_null(c);
	if (strstr(err, line_key) == NULL || strstr(err, why) == NULL)
		fail_msg("error \"%s\" lacks \"%s\" or \"%s\"", err, line_key, why);
	assert_non_null(strstr(err, "/tmp/notifyd-test-conf-"));
}

static void
test_errors(void **state)
{
	expect_error("http = {\n  prot = 1;\n};\n", ":2: http.prot", "unknown key");
	expect_error("\n\nhttp = { port = \"x\"; };\n", ":3: http.port",
	    "expected an integer");
	expect_error("http = { port = 70000; };\n", ":1: http.port",
	    "out of range");
	expect_error("log = {\n format = \"xml\"; };\n", ":2: log.format",
	    "must be one of text|json");
	expect_error("email = { enabled = 1; };\n", ":1: email.enabled",
	    "expected true or false");
	expect_error("nosuch = { a = 1; };\n", ":1: nosuch", "unknown key");
	expect_error("http = { port = ; };\n", ":1:", "syntax error");
	expect_error("kafka = { properties = [ \"novalue\" ]; };\n",
	    "kafka.properties", "not key=value");
	expect_error("email = { smtp = { url = \"http://x\"; }; };\n",
	    "email.smtp.url", "smtp://");
}

static void
test_unreadable(void **state)
{
	char err[CONF_ERRLEN];

	assert_null(conf_load("/nonexistent/notifyd.conf", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/notifyd.conf: cannot read"));
}

static void
test_environment(void **state)
{
	char err[CONF_ERRLEN], name[64];
	struct conf *c;

	setenv("NOTIFYD_HTTP_PORT", "7000", 1);
	setenv("NOTIFYD_DATABASE_URL", "postgresql://u@h/db", 1);
	setenv("NOTIFYD_KAFKA_PROPERTIES", "linger.ms=1;acks=all", 1);
	c = load_text("http = { port = 9999; };\n", err);
	if (c == NULL)
		fail_msg("%s", err);
	assert_int_equal(c->http_port, 7000);
	assert_string_equal(c->database_conninfo, "postgresql://u@h/db");
	assert_int_equal(c->kafka_properties.n, 2);
	conf_free(c);
	setenv("NOTIFYD_HTTP_PORT", "many", 1);
	assert_null(conf_load(NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "NOTIFYD_HTTP_PORT"));
	unsetenv("NOTIFYD_HTTP_PORT");
	unsetenv("NOTIFYD_DATABASE_URL");
	unsetenv("NOTIFYD_KAFKA_PROPERTIES");
	assert_string_equal(conf_env_name(conf_key_find("email.smtp.url"),
	    name, sizeof(name)), "NOTIFYD_EMAIL_SMTP_URL");
}

/* Loads the defaults with one variable set; NULL and err on error. */
static struct conf *
load_env(const char *name, const char *value, char *err)
{
	struct conf *c;

	setenv(name, value, 1);
	c = conf_load(NULL, err, CONF_ERRLEN);
	unsetenv(name);
	return c;
}

/*
 * A number from the environment is plain decimal text: strtod took
 * hex (0x1F90 = 8080), blanks before, exponents, "inf".  The error
 * names the variable and the key, and shows the value only when it
 * holds no control byte.
 */
static void
test_env_numbers(void **state)
{
	static const char *const bad_int[] = { "0x1F90", "0X1f90", " 8080",
	    "\t8080", "8080 ", "8080\n", "8e3", "0x1p3", "+8080", "8080.0",
	    "8080.", "inf", "nan", "", "-", "80 80", "8,080", "\xd9\xa8",
	    NULL };
	static const char *const bad_float[] = { "1e1", "1E1", "0x10",
	    "0x1p3", " 5", "5 ", "+5", "5.", ".5", "-.5", "inf", "-inf",
	    "nan", "infinity", "", "-", "1,5", "5..0", NULL };
	static const char *const ctl = "80\r\nX: y\x1b[31m";
	char err[CONF_ERRLEN];
	struct conf *c;
	int i;

	(void)state;
	for (i = 0; bad_int[i] != NULL; i++) {
		c = load_env("NOTIFYD_HTTP_PORT", bad_int[i], err);
		if (c != NULL || strstr(err, "environment NOTIFYD_HTTP_PORT: "
		    "http.port: expected an integer") == NULL)
			fail_msg("NOTIFYD_HTTP_PORT=\"%s\": %s", bad_int[i],
			    c != NULL ? "accepted" : err);
	}
	for (i = 0; bad_float[i] != NULL; i++) {
		c = load_env("NOTIFYD_SHUTDOWN_TIMEOUT", bad_float[i], err);
		if (c != NULL || strstr(err, "environment "
		    "NOTIFYD_SHUTDOWN_TIMEOUT: shutdown_timeout: expected a "
		    "decimal number") == NULL)
			fail_msg("NOTIFYD_SHUTDOWN_TIMEOUT=\"%s\": %s",
			    bad_float[i], c != NULL ? "accepted" : err);
	}
	/* control bytes of the value never reach the message raw */
	assert_null(load_env("NOTIFYD_HTTP_PORT", ctl, err));
	assert_null(strpbrk(err, "\r\n\x1b"));
	assert_non_null(strstr(err, "environment NOTIFYD_HTTP_PORT: http.port:"
	    " expected an integer (decimal digits, optional '-'), got a value "
	    "with control or non-ASCII bytes"));
	assert_null(load_env("NOTIFYD_HTTP_PORT", "0x1F90", err));
	assert_non_null(strstr(err, "got \"0x1F90\""));
	/* a long value is cut, not the names before it */
	assert_null(load_env("NOTIFYD_HTTP_PORT",
	    "12345678901234567890123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789x", err));
	assert_non_null(strstr(err, "NOTIFYD_HTTP_PORT: http.port:"));
	assert_non_null(strstr(err,
	    "got \"1234567890123456789012345678901234567890\" (cut)"));
	/* what is valid: digits, a '-', a decimal point; range still kept */
	c = load_env("NOTIFYD_HTTP_PORT", "08080", err);
	assert_non_null(c);
	assert_int_equal(c->http_port, 8080);
	conf_free(c);
	c = load_env("NOTIFYD_SHUTDOWN_TIMEOUT", "2.5", err);
	assert_non_null(c);
	assert_true(c->shutdown_timeout == 2.5);
	conf_free(c);
	c = load_env("NOTIFYD_SHUTDOWN_TIMEOUT", "30", err);
	assert_non_null(c);
	assert_true(c->shutdown_timeout == 30);
	conf_free(c);
	assert_null(load_env("NOTIFYD_HTTP_PORT", "-1", err));
	assert_non_null(strstr(err, "out of range"));
	assert_null(load_env("NOTIFYD_SHUTDOWN_TIMEOUT", "-0.5", err));
	assert_non_null(strstr(err, "out of range"));
	assert_null(load_env("NOTIFYD_HTTP_PORT",
	    "99999999999999999999999999999", err));
	assert_non_null(strstr(err, "out of range"));
}

/* An empty value for a key that needs one is refused, naming the key. */
static void
test_empty_values(void **state)
{
	static const char *const env[][2] = {
		{ "NOTIFYD_KAFKA_BROKERS", "kafka.brokers" },
		{ "NOTIFYD_EMAIL_FROM", "email.from" },
		{ "NOTIFYD_HTTP_LISTEN", "http.listen" },
		{ "NOTIFYD_DATABASE_URL", "database.conninfo" },
	};
	char err[CONF_ERRLEN];
	struct conf *c;
	size_t i;

	expect_error("kafka = { brokers = \"\"; };\n", ":1: kafka.brokers",
	    "must not be empty");
	expect_error("email = {\n from = \"  \"; };\n", ":2: email.from",
	    "must not be empty");
	expect_error("http = { listen = \"\"; };\n", ":1: http.listen",
	    "must not be empty");
	for (i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
		setenv(env[i][0], "", 1);
		c = conf_load(NULL, err, sizeof(err));
		unsetenv(env[i][0]);
		assert_null(c);
		if (strstr(err, env[i][0]) == NULL || strstr(err, env[i][1]) ==
		    NULL || strstr(err, "must not be empty") == NULL)
			fail_msg("error \"%s\" for empty %s", err, env[i][0]);
	}
	/* Keys whose default is empty may stay empty. */
	setenv("NOTIFYD_AUDIT_EXCLUDE", "", 1);
	setenv("NOTIFYD_EMAIL_SMTP_USERNAME", "", 1);
	c = conf_load(NULL, err, sizeof(err));
	unsetenv("NOTIFYD_AUDIT_EXCLUDE");
	unsetenv("NOTIFYD_EMAIL_SMTP_USERNAME");
	if (c == NULL)
		fail_msg("%s", err);
	conf_free(c);
}

/* NOTIFYD_<section>_* must name a key; other NOTIFYD_* are not ours. */
static void
test_env_unknown(void **state)
{
	char *ok[] = { "PATH=/bin", "NOTIFYD_HTTP_PORT=1",
	    "NOTIFYD_DATABASE_URL=x", "NOTIFYD_SMTP_URL=smtp://h",
	    "NOTIFYD_BUILDDIR=/b", "NOTIFYD_BIN=/n", "NOTIFYD_TEST_TMP=/t",
	    "NOTIFYD_SHUTDOWN_TIMEOUT=3", NULL };
	char *bad[] = { "NOTIFYD_HTTP_PORTT=abc", "NOTIFYD_BUILDDIR=/b",
	    "NOTIFYD_EMAIL_FORM=x", "NOTIFYD_SMTP_HOST=h", NULL };
	char *bare[] = { "NOTIFYD_LOG=x", NULL };
	char err[CONF_ERRLEN];

	assert_int_equal(conf_env_unknown(ok, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(conf_env_unknown(bad, err, sizeof(err)), -1);
	assert_string_equal(err, "environment NOTIFYD_HTTP_PORTT, "
	    "NOTIFYD_EMAIL_FORM, NOTIFYD_SMTP_HOST: name no configuration key");
	assert_int_equal(conf_env_unknown(bare, err, sizeof(err)), -1);
	assert_string_equal(err,
	    "environment NOTIFYD_LOG: names no configuration key");
	/* A tiny buffer is cut, never overrun. */
	assert_int_equal(conf_env_unknown(bad, err, 10), -1);
	assert_string_equal(err, "environme");
}

/* c dumped (-T) into a string; the caller frees it. */
static char *
dump_text(const struct conf *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(conf_dump(f, c), 0);
	fclose(f);
	return buf;
}

/* -T: file plus environment, secrets masked, and it loads back. */
static void
test_dump(void **state)
{
	char err[CONF_ERRLEN], *text;
	struct conf *c, *back;

	setenv("NOTIFYD_HTTP_PORT", "7001", 1);
	c = load_text("http: { tokens = [ \"s3cretTOKEN:send,read\" ]; };\n"
	    "database: { conninfo = \"host=db password='p w\\\\'x' "
	    "user=u\"; };\n"
	    "kafka: { properties = [ \"sasl.password=kpw\", \"acks=all\", "
	    "\"client.id=a\\\"b\\\\c\" ]; };\n"
	    "email: { from = \"ops@x.example\"; smtp: { url = "
	    "\"smtp://bob:hunter2@mx.example:25\"; };\n"
	    "  retry: { jitter = 0.25; }; };\n", err);
	unsetenv("NOTIFYD_HTTP_PORT");
	if (c == NULL)
		fail_msg("%s", err);
	text = dump_text(c);
	assert_null(strstr(text, "s3cretTOKEN"));
	assert_null(strstr(text, "p w"));
	assert_null(strstr(text, "kpw"));
	assert_null(strstr(text, "hunter2"));
	assert_non_null(strstr(text, "\"********:send,read\""));
	assert_non_null(strstr(text, "smtp://bob:********@mx.example:25"));
	assert_non_null(strstr(text, "port = 7001;"));
	back = load_text(text, err);
	if (back == NULL)
		fail_msg("%s", err);
	assert_int_equal(back->http_port, 7001);
	assert_string_equal(back->email_from, c->email_from);
	assert_true(back->email_retry_jitter == 0.25);
	assert_string_equal(back->database_conninfo,
	    "host=db password=******** user=u");
	assert_string_equal(back->kafka_properties.v[0], "sasl.password=********");
	assert_string_equal(back->kafka_properties.v[1], "acks=all");
	assert_string_equal(back->kafka_properties.v[2], "client.id=a\"b\\c");
	conf_free(back);
	conf_free(c);
	free(text);
}

/* email.schedule_horizon: seconds, or a number and h, d or w. */
static void
test_span_seconds(void **state)
{
	char err[CONF_ERRLEN];
	struct conf *c;

	(void)state;
	assert_true(conf_span_seconds("30d") == 30 * 86400.0);
	assert_true(conf_span_seconds("3600") == 3600.0);
	assert_true(conf_span_seconds("2h") == 7200.0);
	assert_true(conf_span_seconds("1w") == 604800.0);
	assert_true(conf_span_seconds("") < 0);
	assert_true(conf_span_seconds("0") < 0);
	assert_true(conf_span_seconds("30 days") < 0);
	assert_true(conf_span_seconds("-5") < 0);
	assert_true(conf_span_seconds("1.5d") < 0);
	assert_true(conf_span_seconds("1234567890") < 0);
	c = load_text("email = { schedule_horizon = \"2h\"; };\n", err);
	assert_non_null(c);
	assert_string_equal(c->email_schedule_horizon, "2h");
	conf_free(c);
	assert_null(load_text("email = { schedule_horizon = \"soon\"; };\n",
	    err));
	assert_non_null(strstr(err, "email.schedule_horizon"));
}

/* audit.exclude is compiled at load: -t and a reload refuse a bad one. */
static void
test_audit_exclude(void **state)
{
	char err[CONF_ERRLEN];
	struct conf *c;

	(void)state;
	expect_error("audit = { exclude = \"(\"; };\n", "audit.exclude",
	    "regular expression");
	expect_error("audit = { exclude = \"a[\"; };\n", "audit.exclude",
	    "regular expression");
	c = load_text("audit = { exclude = \"^(tmp|test)[.]\"; };\n", err);
	if (c == NULL)
		fail_msg("%s", err);
	conf_free(c);
}

/* http.public_url goes into a mail header as it is: nothing that ends it. */
static void
test_public_url(void **state)
{
	static const char *const bad[] = { "https://n.example/a b",
	    "https://n.example>, <mailto:x@y.z>", "https://n.example/\\\"",
	    "https://", "https:///x", "http://n.\xc3\xa9xample", NULL };
	char text[256], err[CONF_ERRLEN];
	int i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		snprintf(text, sizeof(text),
		    "http = { public_url = \"%s\"; };\n", bad[i]);
		expect_error(text, "http.public_url", "visible ASCII");
	}
	/* a good URL gets past that check, to the secret it needs */
	assert_null(load_text("http = { public_url = \"https://n.example/b\";"
	    " };\n", err));
	assert_non_null(strstr(err, "email.unsubscribe_secret_file"));
}

/*
 * kafka.properties are set on a scratch librdkafka conf at load: an
 * unknown name or a bad value fails -t, the start and a reload, naming
 * the file, the property and librdkafka's reason (they used to pass and
 * stop every Kafka role at its start).
 */
static void
test_kafka_properties(void **state)
{
	char err[CONF_ERRLEN];
	struct conf *c;

	(void)state;
	expect_error("kafka = { properties = [ \"no.such.property=1\" ]; };\n",
	    "kafka.properties: no.such.property", "No such configuration "
	    "property");
	expect_error("kafka = { properties = [ \"linger.ms=5\", "
	    "\"linger.ms=soon\" ]; };\n", "kafka.properties: linger.ms",
	    "Invalid value");
	expect_error("kafka = { properties = [ \"acks=some\" ]; };\n",
	    "kafka.properties: acks", "Invalid value");
	expect_error("kafka = { properties = [ \"session.timeout.ms=-1\" ]; "
	    "};\n", "kafka.properties: session.timeout.ms", "range");
	/* the environment's list goes through the same check */
	assert_null(load_env("NOTIFYD_KAFKA_PROPERTIES",
	    "linger.ms=5;no.such=2", err));
	assert_non_null(strstr(err, "kafka.properties: no.such: "));
	/* what librdkafka takes still loads, consumer and producer alike */
	c = load_text("kafka = { properties = [ \"linger.ms=5\", "
	    "\"session.timeout.ms=6000\", \"acks=all\", "
	    "\"client.id=a=b\", \"topic.metadata.refresh.interval.ms=1000\""
	    " ]; };\n", err);
	if (c == NULL)
		fail_msg("%s", err);
	conf_free(c);
}

/* Topic keys follow Kafka's rule: 1..249 of [A-Za-z0-9._-], not . or .. */
static void
test_topic_names(void **state)
{
	static const char *const keys[][2] = {
		{ "email", "email.topic" },
		{ "webhook", "webhook.topic" },
		{ "inbox", "inbox.topic" },
	};
	static const char *const bad[] = { "bad topic", "a/b", ".", "..",
	    "a:b", "caf\\u00e9", "x\\ny", "a\\u0000b", NULL };
	char text[512], name[300], err[CONF_ERRLEN];
	struct conf *c;
	size_t k;
	int i;

	(void)state;
	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		for (i = 0; bad[i] != NULL; i++) {
			snprintf(text, sizeof(text), "%s = { topic = \"%s\"; "
			    "};\n", keys[k][0], bad[i]);
			expect_error(text, keys[k][1], "not a Kafka topic name");
		}
		memset(name, 'a', 250);
		name[250] = '\0';
		snprintf(text, sizeof(text), "%s = { topic = \"%s\"; };\n",
		    keys[k][0], name);
		expect_error(text, keys[k][1], "(cut) is not a Kafka topic");
		name[249] = '\0';
		snprintf(text, sizeof(text), "%s = { topic = \"%s\"; };\n",
		    keys[k][0], name);
		if ((c = load_text(text, err)) == NULL)
			fail_msg("249 bytes: %s", err);
		conf_free(c);
	}
	/* a line break in the name is not shown raw */
	assert_null(load_text("email = { topic = \"x\\r\\nSTATUS=y\"; };\n",
	    err));
	assert_null(strpbrk(err, "\r\n"));
	assert_null(load_env("NOTIFYD_EMAIL_TOPIC", "x y", err));
	assert_non_null(strstr(err, "email.topic: \"x y\" is not a Kafka"));
	c = load_text("email = { topic = \"A-z_0.9\"; };\n", err);
	if (c == NULL)
		fail_msg("%s", err);
	conf_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_sample_has_every_key),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_empty_values),
		cmocka_unit_test(test_env_numbers),
		cmocka_unit_test(test_env_unknown),
		cmocka_unit_test(test_dump),
		cmocka_unit_test(test_span_seconds),
		cmocka_unit_test(test_audit_exclude),
		cmocka_unit_test(test_public_url),
		cmocka_unit_test(test_kafka_properties),
		cmocka_unit_test(test_topic_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
