/*
 * proc.c - the child skeleton.
 *
 * Owns what every child does the same way: process name, log tag,
 * signal dispositions (handlers only set proc_stop), noticing a dead
 * master, reporting readiness on the stats page, and the exit code.
 * Must never hold policy of any one role.
 */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "proc.h"
#include "stats.h"

volatile sig_atomic_t proc_stop;
static int proc_parent_fd = -1;

/* The role table, handed down from main.c: proc.c knows no role. */
static const struct proc_role *proc_roles;

/* Registers the role table (ROLE_MAX rows); called once at start. */
void
proc_roles_set(const struct proc_role *table)
{
	proc_roles = table;
}

/* The row of role r, or NULL before registration or out of range. */
const struct proc_role *
proc_role(enum role r)
{
	return proc_roles != NULL && r < ROLE_MAX ? &proc_roles[r] : NULL;
}

const char *
proc_role_name(enum role r)
{
	const struct proc_role *pr = proc_role(r);

	return pr != NULL ? pr->name : "?";
}

static void
proc_on_signal(int sig)
{
	if (sig == SIGTERM && proc_stop == STOP_NONE)
		proc_stop = STOP_GRACEFUL;
	else if (sig == SIGINT || sig == SIGTERM)
		proc_stop = STOP_FAST;
	else if (sig == SIGQUIT)
		_exit(0);
}

/* Replaces the master's dispositions with the child's. */
static void
proc_signals(void)
{
	struct sigaction sa;
	sigset_t all;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = proc_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

/* Runs a role in a freshly forked child; never returns. */
void
proc_child_main(const struct proc_info *pi)
{
	char name[16], tag[32];
	int rc;

	proc_signals();
	/* SIGTERM on master death; the pipe catches the race before this. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		log_warn("prctl(PR_SET_PDEATHSIG)");
	proc_parent_fd = pi->parent_fd;
	snprintf(name, sizeof(name), "notifyd-%s", proc_role_name(pi->role));
	prctl(PR_SET_NAME, name);
	snprintf(tag, sizeof(tag), "%s/%d", proc_role_name(pi->role), pi->index);
	log_init(tag, conf->log_level, conf->log_format);
	stats_self = &stats->slot[pi->slot];
	srandom((unsigned)getpid() ^ (unsigned)time(NULL));
	/*
	 * Two malloc arenas, before any thread starts: glibc's default (eight
	 * per core) lets every librdkafka and HTTP thread fill its own, and
	 * what fragments there stays resident.  Measured on the audit role
	 * at rest after 1M messages: 6-22 MB PSS by run, 6.0 MB with two.
	 */
	if (mallopt(M_ARENA_MAX, 2) == 0)
		log_warnx("mallopt(M_ARENA_MAX) refused; keeping glibc's arenas");
	if (!proc_running())
		_exit(0);

	rc = pi->entry != NULL ? pi->entry(pi) : 1;
	/* A child that never got ready stays STARTING: the master throttles it. */
	if (stats_self != NULL && stats_self->state == SLOT_READY)
		stats_set_state(SLOT_STOPPING);
	log_debug("exiting with status %d", rc);
	exit(rc);
}

/* Tells the master this child is serving (it stops throttling it). */
void
proc_ready(void)
{
	stats_set_state(SLOT_READY);
	log_info("ready");
}

/*
 * False once a stop was asked for or the master is gone.  Roles call
 * it at least once a second; the pipe check is one poll(2).
 */
bool
proc_running(void)
{
	struct pollfd pfd;

	if (proc_stop != STOP_NONE)
		return false;
	if (proc_parent_fd == -1)
		return true;
	pfd.fd = proc_parent_fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLIN | POLLHUP))) {
		log_warnx("master went away; stopping");
		proc_stop = STOP_GRACEFUL;
		return false;
	}
	return true;
}
