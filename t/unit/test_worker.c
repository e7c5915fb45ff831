/*
 * test_worker.c - the worker roles' shared set-up: the lease owner
 * name, the retry policy from the configuration, a database link
 * that backs off while the database is out, and the id a Kafka message
 * names.
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

#include "conf.h"
#include "kafka_worker.h"
#include "util.h"
#include "worker.h"

static struct conf *snap;

static void
test_owner(void **state)
{
	char want[160], host[64], buf[96], small[8];

	(void)state;
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	host[sizeof(host) - 1] = '\0';
	snprintf(want, sizeof(want), "%s:%d:webhook/3", host, (int)getpid());
	worker_owner(buf, sizeof(buf), "webhook", 3);
	assert_string_equal(buf, want);
	worker_owner(small, sizeof(small), "events", 0);	/* cut, ended */
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, want, sizeof(small) - 1);
}

static void
test_policy(void **state)
{
	struct mailpolicy p;

	(void)state;
	memset(&p, 0xff, sizeof(p));
	worker_policy(&p);
	assert_int_equal(p.max_attempts, snap->email_retry_max_attempts);
	assert_true(p.retry_initial == snap->email_retry_initial);
	assert_true(p.retry_multiplier == snap->email_retry_multiplier);
	assert_true(p.retry_max_delay == snap->email_retry_max_delay);
	assert_true(p.retry_jitter == snap->email_retry_jitter);
	assert_true(p.requeue_base == snap->sweeper_interval);
	assert_true(p.requeue_max_delay == snap->sweeper_max_delay);
}

/* Down: NULL, then no new attempt before the backoff's delay. */
static void
test_db_backs_off(void **state)
{
	struct db_link l;
	double at;

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_null(worker_db(&l));
	assert_true(l.down);
	assert_true(l.delay >= 0.25 && l.delay <= 1);	/* first: 0.5 s */
	assert_ptr_equal(l.conninfo, snap->database_conninfo);
	at = l.retry_at;
	assert_null(worker_db(&l));	/* waiting: no attempt */
	assert_true(l.retry_at == at);
	db_link_close(&l);
}

/* The id a message's payload of len bytes names. */
static int64_t
msg_id(const void *payload, size_t len)
{
	rd_kafka_message_t km;

	memset(&km, 0, sizeof(km));
	km.payload = (void *)payload;
	km.len = len;
	return kafka_worker_msg_id(&km);
}

#define MSG_ID(lit)	msg_id(lit, sizeof(lit) - 1)

/* Only the exact decimal text of a positive int64 names an id. */
static void
test_msg_id(void **state)
{
	static const char *const bad[] = {
		"", "0", "-1", "+12", " 12", "\t12", "\n12", "12 ", "12\n",
		"012", "00000000000000000012", "1e3", "0x1F", "12a", "a12",
		"1.0", "\xd9\xa1\xd9\xa2",	/* Arabic-Indic digits */
		"9223372036854775808",		/* INT64_MAX + 1 */
		"18446744073709551616",		/* 2^64: wraps to 0 */
		"18446744073709551617",		/* 2^64 + 1: wraps to 1 */
		"99999999999999999999",
		NULL
	};
	int i;

	(void)state;
	assert_int_equal(MSG_ID("1"), 1);
	assert_int_equal(MSG_ID("12"), 12);
	assert_int_equal(MSG_ID("1000000"), 1000000);
	assert_int_equal(MSG_ID("9223372036854775807"), INT64_MAX);
	for (i = 0; bad[i] != NULL; i++) {
		print_message("payload \"%s\"\n", bad[i]);
		assert_int_equal(msg_id(bad[i], strlen(bad[i])), -1);
	}
	/* a NUL inside: the bytes after it count (strtoll stopped there) */
	assert_int_equal(MSG_ID("12\0junk"), -1);
	assert_int_equal(MSG_ID("12\0"), -1);
	assert_int_equal(MSG_ID("\0" "12"), -1);
	/* only len bytes are read: no NUL needed after them */
	assert_int_equal(msg_id("123456", 2), 12);
	assert_int_equal(msg_id(NULL, 0), -1);
	assert_int_equal(msg_id(NULL, 2), -1);
	assert_int_equal(msg_id("12", 0), -1);
}

static int
setup(void **state)
{
	char err[CONF_ERRLEN];

	(void)state;
	if ((snap = conf_load(NULL, err, sizeof(err))) == NULL)
		return -1;
	/* nothing listens on port 1 of the loopback: refused at once */
	free(snap->database_conninfo);
	snap->database_conninfo = strdup("host=127.0.0.1 port=1 "
	    "connect_timeout=2");
	conf = snap;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	conf = NULL;
	conf_free(snap);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_db_backs_off),
		cmocka_unit_test(test_msg_id),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
