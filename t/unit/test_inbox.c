/*
 * test_inbox.c - the inbox's pure code: Server-Sent Events framing
 * (sse.c), the Last-Event-ID a reconnecting client sends, and the
 * IN_APP channel's validation (channel_inapp.c).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "channel.h"
#include "notif.h"
#include "sse.h"

/* The bytes sse_event writes for data. */
static void
check_event(int64_t id, const char *event, const char *data, size_t len,
    const char *want)
{
	struct buf b = { 0 };

	sse_event(&b, id, event, data, len);
	assert_false(b.oom);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.p, want, b.len);
	buf_free(&b);
}

static void
test_event_one_line(void **state)
{
	(void)state;
	check_event(7, "notification", "{\"a\":1}", 7,
	    "id: 7\nevent: notification\ndata: {\"a\":1}\n\n");
	check_event(-1, NULL, "x", 1, "data: x\n\n");
	check_event(0, NULL, "", 0, "id: 0\ndata: \n\n");
	check_event(INT64_MAX, NULL, "x", 1,
	    "id: 9223372036854775807\ndata: x\n\n");
}

/* Every line break (LF, CRLF, CR) starts another data line, so no data
 * can end the event or inject a field. */
static void
test_event_line_breaks(void **state)
{
	(void)state;
	check_event(-1, NULL, "a\nb", 3, "data: a\ndata: b\n\n");
	check_event(-1, NULL, "a\r\nb", 4, "data: a\ndata: b\n\n");
	check_event(-1, NULL, "a\rb", 3, "data: a\ndata: b\n\n");
	check_event(-1, NULL, "a\n\nid: 9\n\n", 10,
	    "data: a\ndata: \ndata: id: 9\ndata: \ndata: \n\n");
	check_event(-1, NULL, "a\n", 2, "data: a\ndata: \n\n");
	check_event(-1, NULL, "\r\n", 2, "data: \ndata: \n\n");
	check_event(-1, NULL, "\n\r", 2, "data: \ndata: \ndata: \n\n");
}

/* A NUL inside data is data: the length, not strlen, counts. */
static void
test_event_binary_length(void **state)
{
	struct buf b = { 0 };

	(void)state;
	sse_event(&b, -1, NULL, "a\0b", 3);
	assert_int_equal(b.len, 11);
	assert_memory_equal(b.p, "data: a\0b\n\n", 11);
	buf_free(&b);
}

static void
test_event_name_and_comment_cleaned(void **state)
{
	struct buf b = { 0 };

	(void)state;
	check_event(1, "bad\r\nid: 2", "x", 1,
	    "id: 1\nevent: badid: 2\ndata: x\n\n");
	sse_comment(&b, "keep-alive");
	sse_comment(&b, "");
	sse_comment(&b, "two\nlines");
	sse_retry(&b, 1000);
	sse_retry(&b, -5);
	assert_string_equal(buf_str(&b), ": keep-alive\n\n:\n\n: twolines\n\n"
	    "retry: 1000\n\nretry: 0\n\n");
	buf_free(&b);
}

static void
test_last_id_accepted(void **state)
{
	int64_t id;

	(void)state;
	assert_int_equal(sse_last_id(NULL, &id), 0);
	assert_int_equal(id, -1);
	assert_int_equal(sse_last_id("", &id), 0);
	assert_int_equal(id, -1);
	assert_int_equal(sse_last_id("0", &id), 0);
	assert_int_equal(id, 0);
	assert_int_equal(sse_last_id("00042", &id), 0);
	assert_int_equal(id, 42);
	assert_int_equal(sse_last_id("9223372036854775807", &id), 0);
	assert_true(id == INT64_MAX);
}

static void
test_last_id_refused(void **state)
{
	static const char *const bad[] = { "-1", "+1", " 1", "1 ", "1\r\n",
	    "abc", "0x10", "1e3", "1.0", "9223372036854775808",
	    "99999999999999999999", "18446744073709551616",
	    "1111111111111111111111111111111111111111", "\xff", NULL };
	int64_t id;
	int i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		id = 5;
		assert_int_equal(sse_last_id(bad[i], &id), -1);
		assert_true(id == -1);
	}
}

/* IN_APP: the user id is the address; the row's recipient is it. */
static int
check_inapp(const char *body, int status, const char *field, char *rcpt,
    size_t len)
{
	struct notif_input in;
	struct notif_error e;
	json_t *j = notif_parse(body, strlen(body), &e);
	int rc;

	assert_non_null(j);
	memset(&e, 0, sizeof(e));
	rc = notif_validate(j, NULL, 1024, &in, &e);
	if (status == 0) {
		assert_int_equal(rc, 0);
		assert_string_equal(in.type, "IN_APP");
		snprintf(rcpt, len, "%s", in.recipient ? in.recipient : "(null)");
	} else {
		assert_int_equal(rc, -1);
		assert_int_equal(e.status, status);
		assert_string_equal(e.field, field);
	}
	json_decref(j);
	return rc;
}

static void
test_inapp_validate(void **state)
{
	char r[300], uid[300];
	char body[700];

	(void)state;
	assert_non_null(channel_find("in_app"));
	assert_non_null(strstr(channel_types(), "IN_APP"));
	check_inapp("{\"type\":\"IN_APP\",\"userId\":\"u1\",\"title\":\"t\","
	    "\"content\":\"c\"}", 0, NULL, r, sizeof(r));
	assert_string_equal(r, "u1");
	check_inapp("{\"type\":\"in_app\",\"userId\":-42,\"title\":\"t\","
	    "\"content\":\"c\"}", 0, NULL, r, sizeof(r));
	assert_string_equal(r, "-42");
	memset(uid, 'u', 256);
	uid[256] = '\0';
	snprintf(body, sizeof(body), "{\"type\":\"IN_APP\",\"userId\":\"%s\","
	    "\"title\":\"t\",\"content\":\"c\"}", uid);
	check_inapp(body, 0, NULL, r, sizeof(r));
	uid[256] = 'u';
	uid[257] = '\0';
	snprintf(body, sizeof(body), "{\"type\":\"IN_APP\",\"userId\":\"%s\","
	    "\"title\":\"t\",\"content\":\"c\"}", uid);
	check_inapp(body, 400, "userId", r, sizeof(r));
	check_inapp("{\"type\":\"IN_APP\",\"userId\":\"a/b\",\"title\":\"t\","
	    "\"content\":\"c\"}", 400, "userId", r, sizeof(r));
	check_inapp("{\"type\":\"IN_APP\",\"userId\":\"u\",\"title\":\"t\","
	    "\"content\":\"c\",\"recipient\":\"a@b.c\"}", 400, "recipient", r,
	    sizeof(r));
	check_inapp("{\"type\":\"IN_APP\",\"userId\":\"u\",\"title\":\"t\","
	    "\"content\":\"c\",\"from\":\"a@b.c\"}", 400, "from", r,
	    sizeof(r));
	check_inapp("{\"type\":\"IN_APP\",\"userId\":\"u\",\"title\":\"t\","
	    "\"content\":\"c\",\"recipient\":null}", 0, NULL, r, sizeof(r));
	assert_string_equal(r, "u");
}

/* The worker-side ops: the item, no wire, always SENT. */
static void
test_inapp_ops(void **state)
{
	const struct channel *ch = channel_find("IN_APP");
	json_t *row = json_pack("{s:s,s:s,s:s,s:n}", "title", "t",
	    "content", "c", "user_id", "u1", "metadata");
	struct channel_job j = { 42, 0, 1, row };
	struct channel_attempt a;
	char err[64], *msg = NULL;
	size_t len = 0;

	(void)state;
	assert_non_null(ch->build);
	assert_int_equal(ch->build(NULL, &j, &msg, &len, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(msg, "{\"id\":42,\"title\":\"t\",\"content\":"
	    "\"c\",\"userId\":\"u1\",\"metadata\":null}");
	assert_int_equal(len, strlen(msg));
	memset(&a, 0xff, sizeof(a));
	assert_int_equal(ch->send(NULL, &j, msg, len, &a), 0);
	assert_int_equal(a.code, 0);
	assert_string_equal(a.text, "delivered to the inbox");
	assert_true(a.retry_after < 0 && a.ref[0] == '\0' && !a.permanent);
	assert_int_equal(ch->classify(&a), CHANNEL_SENT);
	free(msg);
	json_decref(row);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_one_line),
		cmocka_unit_test(test_event_line_breaks),
		cmocka_unit_test(test_event_binary_length),
		cmocka_unit_test(test_event_name_and_comment_cleaned),
		cmocka_unit_test(test_last_id_accepted),
		cmocka_unit_test(test_last_id_refused),
		cmocka_unit_test(test_inapp_validate),
		cmocka_unit_test(test_inapp_ops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
