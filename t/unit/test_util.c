/*
 * test_util.c - util_read_file's bound: a file of max bytes is read
 * whole, one byte more is EFBIG, an endless one (/dev/zero) stops there.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

static char dir[] = "/tmp/notifyd-test-util-XXXXXX";

/* Writes n bytes of c to dir/name; its path. */
static const char *
put(const char *name, size_t n, int c)
{
	static char path[128];
	FILE *f;
	size_t i;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	for (i = 0; i < n; i++)
		fputc(c, f);
	fclose(f);
	return path;
}

static void
test_up_to_max(void **state)
{
	size_t n = 0;
	char *t;

	(void)state;
	assert_non_null(t = util_read_file(put("a", 10000, 'a'), 10000, &n));
	assert_int_equal(n, 10000);
	assert_int_equal(t[9999], 'a');
	assert_int_equal(t[10000], '\0');
	free(t);
	assert_non_null(t = util_read_file(put("e", 0, 'a'), 10, &n));
	assert_int_equal(n, 0);
	assert_string_equal(t, "");
	free(t);
}

static void
test_past_max(void **state)
{
	(void)state;
	errno = 0;
	assert_null(util_read_file(put("b", 10001, 'b'), 10000, NULL));
	assert_int_equal(errno, EFBIG);
	errno = 0;
	assert_null(util_read_file("/dev/zero", 4096, NULL));
	assert_int_equal(errno, EFBIG);
	errno = 0;
	assert_null(util_read_file("/nonexistent/notifyd", 4096, NULL));
	assert_int_equal(errno, ENOENT);
}

static void
test_nul_inside(void **state)
{
	size_t n = 0;
	char *t;

	(void)state;
	assert_non_null(t = util_read_file(put("z", 100, '\0'), 4096, &n));
	assert_int_equal(n, 100);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_up_to_max),
		cmocka_unit_test(test_past_max),
		cmocka_unit_test(test_nul_inside),
	};
	static const char *const names[] = { "a", "e", "b", "z" };
	char path[128];
	size_t i;
	int rc;

	if (mkdtemp(dir) == NULL)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	return rc;
}
