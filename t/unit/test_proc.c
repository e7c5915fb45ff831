/*
 * test_proc.c - the child skeleton runs the entry function it is
 * handed and names the role from the table it is given: it knows no
 * role itself.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "proc.h"
#include "stats.h"

/* The restart counters follow the role count, not a magic 8. */
_Static_assert(sizeof(((struct stats_page *)0)->restarts) /
    sizeof(uint64_t) == ROLE_MAX, "restarts[] sized by ROLE_MAX");

static int
fake_entry(const struct proc_info *pi)
{
	/* The exit code says which slot and index the skeleton passed. */
	return 40 + pi->index;
}

static int
fake_count(const struct conf *c)
{
	return 3;
}

static const struct proc_role fake_roles[ROLE_MAX] = {
	[ROLE_API] = { "alpha", "x.count", fake_count, fake_entry },
	[ROLE_AUDIT] = { "beta", "y.count", fake_count, NULL },
	[ROLE_MAILER] = { "gamma", "z.count", fake_count, fake_entry },
	[ROLE_SWEEPER] = { "delta", "w.count", fake_count, fake_entry },
};

static int
setup(void **state)
{
	char err[CONF_ERRLEN];
	static struct conf *c;

	if ((c = conf_load(NULL, err, sizeof(err))) == NULL)
		return -1;
	conf = c;
	if (stats_init() != 0)
		return -1;
	proc_roles_set(fake_roles);
	return 0;
}

/* Forks a child through proc_child_main; returns its exit status. */
static int
run_child(enum role r, int index, int (*entry)(const struct proc_info *))
{
	struct proc_info pi;
	int status;
	pid_t pid;

	memset(&pi, 0, sizeof(pi));
	pi.role = r;
	pi.index = index;
	pi.entry = entry;
	pi.listen_fd = -1;
	pi.parent_fd = -1;
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		/* stderr would carry the child's log lines into TAP. */
		(void)!freopen("/dev/null", "w", stderr);
		proc_child_main(&pi);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
test_runs_given_entry(void **state)
{
	assert_int_equal(run_child(ROLE_MAILER, 2, fake_entry), 42);
	assert_int_equal(run_child(ROLE_API, 0, fake_entry), 40);
}

static void
test_no_entry_is_failure(void **state)
{
	assert_int_equal(run_child(ROLE_AUDIT, 0, NULL), 1);
}

static void
test_names_from_table(void **state)
{
	assert_string_equal(proc_role_name(ROLE_API), "alpha");
	assert_string_equal(proc_role_name(ROLE_SWEEPER), "delta");
	assert_string_equal(proc_role_name(ROLE_MAX), "?");
	assert_string_equal(proc_role(ROLE_MAILER)->count_key, "z.count");
	assert_int_equal(proc_role(ROLE_MAILER)->count(conf), 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_given_entry),
		cmocka_unit_test(test_no_entry_is_failure),
		cmocka_unit_test(test_names_from_table),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
