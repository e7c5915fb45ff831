/*
 * test_conf_file.c - the bounded reader of the files keys name (DKIM
 * key, webhook and unsubscribe secrets): the text and its length, and
 * errors that name the configuration file, the key and the path.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"

#define FILE_MAX	(64 * 1024)	/* conf_file.c's cap */

static char dir[] = "/tmp/notifyd-test-conf-file-XXXXXX";

/* Writes n bytes of c (or text when c is 0) to dir/name; its path. */
static const char *
put(const char *name, const char *text, size_t n, int c)
{
	static char path[128];
	FILE *f;
	size_t i;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	for (i = 0; c != 0 && i < n; i++)
		fputc(c, f);
	if (c == 0)
		fwrite(text, 1, n, f);
	fclose(f);
	return path;
}

/* Reads path as key of t.conf; NULL with err. */
static char *
read_as(const char *path, size_t *n, char *err)
{
	return conf_file_read("t.conf", "some.key_file", path, n, err,
	    CONF_ERRLEN);
}

static void
test_text_and_length(void **state)
{
	char err[CONF_ERRLEN] = "";
	const char *p = put("k", "whsec_abc\n\0tail", 15, 0);
	size_t n = 0;
	char *t;

	(void)state;
	assert_non_null(t = read_as(p, &n, err));
	assert_int_equal(n, 15);	/* a NUL inside is kept, and counted */
	assert_memory_equal(t, "whsec_abc\n\0tail", 16);
	free(t);
	p = put("empty", "", 0, 0);
	assert_non_null(t = read_as(p, NULL, err));	/* lenp may be NULL */
	assert_string_equal(t, "");
	free(t);
	p = put("max", NULL, FILE_MAX, 'A');
	assert_non_null(t = read_as(p, &n, err));
	assert_int_equal(n, FILE_MAX);
	assert_int_equal(t[FILE_MAX], '\0');
	free(t);
}

/* Each error names the configuration file, the key, the path and why. */
static void
test_errors_name_file_key_path(void **state)
{
	char err[CONF_ERRLEN], want[256], sub[160];
	const char *p;
	size_t n = 7;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/missing", dir);
	assert_null(read_as(sub, &n, err));
	snprintf(want, sizeof(want), "t.conf: some.key_file: %s: cannot read: "
	    "No such file or directory", sub);
	assert_string_equal(err, want);
	assert_int_equal(n, 7);		/* untouched on failure */

	p = put("big", NULL, FILE_MAX + 1, 'A');
	assert_null(read_as(p, &n, err));
	snprintf(want, sizeof(want), "t.conf: some.key_file: %s: cannot read: "
	    "File too large", p);
	assert_string_equal(err, want);

	snprintf(sub, sizeof(sub), "%s/sub", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_null(read_as(sub, &n, err));
	assert_non_null(strstr(err, "some.key_file"));
	assert_non_null(strstr(err, "Is a directory"));
	rmdir(sub);
}

/* A file with no end (a device, a pipe that never closes) is refused
 * after the cap instead of filling memory. */
static void
test_endless_file(void **state)
{
	char err[CONF_ERRLEN];

	(void)state;
	assert_null(read_as("/dev/zero", NULL, err));
	assert_string_equal(err, "t.conf: some.key_file: /dev/zero: cannot "
	    "read: File too large");
}

static void
test_errf(void **state)
{
	char err[16];

	(void)state;
	assert_int_equal(conf_errf(err, sizeof(err), "%s=%d", "key", 42), -1);
	assert_string_equal(err, "key=42");
	assert_int_equal(conf_errf(err, sizeof(err), "%s", "a much longer "
	    "message"), -1);
	assert_string_equal(err, "a much longer m");	/* cut, terminated */
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	const char *names[] = { "k", "empty", "max", "big" };
	char p[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	return rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_and_length),
		cmocka_unit_test(test_errors_name_file_key_path),
		cmocka_unit_test(test_endless_file),
		cmocka_unit_test(test_errf),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
