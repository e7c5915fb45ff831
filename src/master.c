/*
 * master.c - process table, spawn/reap/throttle, signals, reload, drain.
 *
 * Owns the listen socket, the stats page and the children.  Never opens
 * a database, Kafka, curl or HTTP handle: those live only in children,
 * made after fork().  Signal handlers only set flags and wake the loop
 * through a self-pipe; everything else happens in master_loop().
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "conf.h"
#include "log.h"
#include "master.h"
#include "proc.h"
#include "sdnotify.h"
#include "stats.h"
#include "util.h"

#define BACKOFF_FIRST	1.0
#define BACKOFF_MAX	60.0
#define RETIRE_WARN	10.0	/* a reload still waiting after this says so */

enum slot_state {
	MS_FREE,
	MS_WAITING,	/* due to (re)start at next_start */
	MS_RUNNING,
	MS_RETIRING,	/* asked to stop; slot freed when it exits */
	MS_HELD,	/* config error: not respawned until reload */
};

struct master_slot {
	enum slot_state	 state;
	enum role	 role;
	int		 index;
	unsigned	 gen;
	pid_t		 pid;
	struct backoff	 backoff;	/* respawn delay of a child that died early */
	double		 next_start;
	double		 started;
};

struct master {
	struct master_slot slot[STATS_SLOTS];
	struct conf	*conf;
	const char	*path;
	int		 listen_fd;
	int		 old_listen_fd;	/* closed once the old generation is gone */
	int		 pipe_w;	/* children watch the read end for EOF */
	int		 pipe_r;
	unsigned	 gen;
	double		 gen_started;
	unsigned	 retire_pending; /* roles (bits) whose old processes run */
	bool		 retire_warned;
	bool		 announced;	/* READY=1 sent for this generation */
	int		 stopping;	/* enum proc_stop */
	double		 deadline;
	double		 next_watchdog;
};

static volatile sig_atomic_t master_got_chld, master_got_hup, master_got_term,
    master_got_int, master_got_quit;
static int master_sigpipe[2] = { -1, -1 };

static void
master_on_signal(int sig)
{
	int saved = errno;

	switch (sig) {
	case SIGCHLD:	master_got_chld = 1; break;
	case SIGHUP:	master_got_hup = 1; break;
	case SIGTERM:	master_got_term = 1; break;
	case SIGINT:	master_got_int = 1; break;
	case SIGQUIT:	master_got_quit = 1; break;
	}
	(void)!write(master_sigpipe[1], "", 1);
	errno = saved;
}

static int
master_signals(void)
{
	static const int sigs[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT };
	struct sigaction sa;
	size_t i;

	if (pipe2(master_sigpipe, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = master_on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) == -1)
			return -1;
	sa.sa_handler = SIG_IGN;
	return sigaction(SIGPIPE, &sa, NULL);
}

/* Binds the HTTP socket; the master keeps it across generations. */
int
master_listen(const struct conf *c, char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	char port[16];
	int fd = -1, on = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", c->http_port);
	if ((rc = getaddrinfo(c->http_listen, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "http.listen %s: %s", c->http_listen,
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, c->http_backlog) == 0 && util_set_nonblock(fd) == 0)
			break;
		snprintf(err, errlen, "bind %s:%d: %s", c->http_listen,
		    c->http_port, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* How many processes of a role the snapshot wants (the role table says). */
static int
master_role_count(const struct conf *c, enum role r)
{
	const struct proc_role *pr = proc_role(r);

	return pr != NULL && pr->count != NULL ? pr->count(c) : 0;
}

static struct master_slot *
master_slot_alloc(struct master *m)
{
	int i;

	for (i = 0; i < STATS_SLOTS; i++)
		if (m->slot[i].state == MS_FREE)
			return &m->slot[i];
	return NULL;
}

/* Lays out the slots of a new generation; they start at the next tick. */
static void
master_plan(struct master *m)
{
	struct master_slot *s;
	int r, i, n;

	for (r = 0; r < ROLE_MAX; r++) {
		n = master_role_count(m->conf, (enum role)r);
		for (i = 0; i < n; i++) {
			if ((s = master_slot_alloc(m)) == NULL) {
				log_error("process table full: %s/%d not started",
				    proc_role_name((enum role)r), i);
				return;
			}
			memset(s, 0, sizeof(*s));
			s->state = MS_WAITING;
			s->role = (enum role)r;
			s->index = i;
			s->gen = m->gen;
			s->backoff.first = BACKOFF_FIRST;
			s->backoff.max = BACKOFF_MAX;
		}
	}
}

/*
 * fork(2) with every signal blocked across it: one sent to the child
 * before proc_signals() put its handlers in place would run the
 * master's copy there and be lost (a retired child that never stops).
 * proc_signals() unblocks them.
 */
static pid_t
master_fork(void)
{
	sigset_t all, was;
	pid_t pid;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &was);
	if ((pid = fork()) != 0)
		sigprocmask(SIG_SETMASK, &was, NULL);
	return pid;
}

static void
master_spawn(struct master *m, struct master_slot *s)
{
	struct stats_slot *ss = &stats->slot[s - m->slot];
	struct proc_info pi;
	pid_t pid;

	ss->role = s->role;
	ss->gen = s->gen;
	ss->started = (int64_t)time(NULL);
	__atomic_store_n(&ss->state, SLOT_STARTING, __ATOMIC_RELEASE);
	if ((pid = master_fork()) == -1) {
		log_warn("fork %s/%d", proc_role_name(s->role), s->index);
		s->next_start = util_now() + BACKOFF_FIRST;
		return;
	}
	if (pid == 0) {
		memset(&pi, 0, sizeof(pi));
		pi.role = s->role;
		pi.entry = proc_role(s->role)->entry;
		pi.index = s->index;
		pi.slot = (int)(s - m->slot);
		pi.gen = s->gen;
		pi.listen_fd = -1;
		pi.parent_fd = m->pipe_r;
		close(m->pipe_w);
		close(master_sigpipe[0]);
		close(master_sigpipe[1]);
		if (m->old_listen_fd != -1)
			close(m->old_listen_fd);
		/* Only api processes may accept: no other role keeps the port. */
		if (s->role == ROLE_API)
			pi.listen_fd = m->listen_fd;
		else
			close(m->listen_fd);
		conf = m->conf;
		proc_child_main(&pi);
	}
	ss->pid = pid;
	s->pid = pid;
	s->state = MS_RUNNING;
	s->started = util_now();
	log_info("started %s/%d pid %d generation %u",
	    proc_role_name(s->role), s->index, (int)pid, s->gen);
}

static struct master_slot *
master_find(struct master *m, pid_t pid)
{
	int i;

	for (i = 0; i < STATS_SLOTS; i++)
		if (m->slot[i].pid == pid && (m->slot[i].state == MS_RUNNING ||
		    m->slot[i].state == MS_RETIRING))
			return &m->slot[i];
	return NULL;
}

static void
master_describe(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
		    strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "ended with wait status %#x", status);
}

/* Decides a dead child's slot: free, respawn now, throttle, or hold. */
static void
master_child_died(struct master *m, struct master_slot *s, int status)
{
	struct stats_slot *ss = &stats->slot[s - m->slot];
	bool was_ready = ss->state == SLOT_READY || ss->state == SLOT_STOPPING;
	pid_t pid = s->pid;
	double delay;
	char how[96];

	master_describe(status, how, sizeof(how));
	ss->pid = 0;
	__atomic_store_n(&ss->state, SLOT_FREE, __ATOMIC_RELEASE);
	if (s->state == MS_RETIRING || m->stopping) {
		log_info("%s/%d pid %d %s", proc_role_name(s->role), s->index,
		    (int)pid, how);
		s->state = MS_FREE;
		s->pid = 0;
		return;
	}
	if (s->gen != m->gen) {
		/* the role's new processes replace it, ready or soon */
		log_warnx("%s/%d pid %d %s; generation %u replaces it",
		    proc_role_name(s->role), s->index, (int)pid, how, m->gen);
		s->state = MS_FREE;
		s->pid = 0;
		return;
	}
	stats->restarts[s->role]++;
	s->pid = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_CONFIG) {
		log_error("%s/%d %s (configuration error): not respawned until "
		    "a reload", proc_role_name(s->role), s->index, how);
		s->state = MS_HELD;
		return;
	}
	if (was_ready)
		backoff_reset(&s->backoff);
	delay = was_ready ? 0 : backoff_next(&s->backoff, NULL);
	s->state = MS_WAITING;
	s->next_start = util_now() + delay;
	log_warnx("%s/%d pid %d %s%s; respawning in %.0f s",
	    proc_role_name(s->role), s->index, (int)pid, how, was_ready ? "" : " before it was ready", delay);
}

/* Reaps every child, ours or orphans (we may be PID 1). */
static void
master_reap(struct master *m)
{
	struct master_slot *s;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((s = master_find(m, pid)) != NULL)
			master_child_died(m, s, status);
		else
			log_debug("reaped pid %d (not ours)", (int)pid);
	}
}

/* Sends sig to every child, of every generation (a stop). */
static void
master_signal_all(struct master *m, int sig)
{
	int i;

	for (i = 0; i < STATS_SLOTS; i++) {
		struct master_slot *s = &m->slot[i];
		if (s->pid <= 0)
			continue;
		if (s->state != MS_RUNNING && s->state != MS_RETIRING)
			continue;
		kill(s->pid, sig);
	}
}

static int
master_count(const struct master *m, bool ready_only, bool cur_gen)
{
	int i, n = 0;

	for (i = 0; i < STATS_SLOTS; i++) {
		const struct master_slot *s = &m->slot[i];
		if (s->state == MS_FREE || (cur_gen && s->gen != m->gen))
			continue;
		if (ready_only && (s->state != MS_RUNNING ||
		    stats->slot[i].state != SLOT_READY))
			continue;
		if (!ready_only && s->state != MS_RUNNING &&
		    s->state != MS_RETIRING)
			continue;
		n++;
	}
	return n;
}

static int
master_wanted(const struct master *m)
{
	int r, n = 0;

	for (r = 0; r < ROLE_MAX; r++)
		n += master_role_count(m->conf, (enum role)r);
	return n;
}

/* Whether the current generation runs every process of role r, ready. */
static bool
master_role_ready(const struct master *m, enum role r)
{
	int i, n = 0;

	for (i = 0; i < STATS_SLOTS; i++)
		if (m->slot[i].role == r && m->slot[i].gen == m->gen &&
		    m->slot[i].state == MS_RUNNING &&
		    stats->slot[i].state == SLOT_READY)
			n++;
	return n >= master_role_count(m->conf, r);
}

/*
 * Asks the older generations' running processes to stop: those of
 * role r, or with ROLE_MAX those that never got ready.
 */
static void
master_retire_old(struct master *m, enum role r)
{
	int i;

	for (i = 0; i < STATS_SLOTS; i++) {
		struct master_slot *s = &m->slot[i];

		if (s->state != MS_RUNNING || s->gen == m->gen ||
		    (r != ROLE_MAX ? s->role != r :
		    stats->slot[i].state == SLOT_READY))
			continue;
		s->state = MS_RETIRING;
		kill(s->pid, SIGTERM);
	}
	if (r == ROLE_API && m->old_listen_fd != -1) {
		close(m->old_listen_fd);
		m->old_listen_fd = -1;
	}
}

/*
 * Hands each role over once its new processes are all ready, never
 * before: a worker's first join into a group its old self is in can
 * take several rebalances (seconds each, more on a loaded machine), and
 * stopping the old workers first left their partitions unheld: nothing
 * delivered, /ready 503.  A role whose new processes never get ready
 * keeps its old ones until the next reload or stop; said once.
 */
static void
master_retire(struct master *m, double now)
{
	char waiting[128] = "";
	size_t len;
	int r;

	for (r = 0; r < ROLE_MAX; r++) {
		if ((m->retire_pending & 1u << r) == 0)
			continue;
		if (master_role_ready(m, (enum role)r)) {
			m->retire_pending &= ~(1u << r);
			master_retire_old(m, (enum role)r);
			continue;
		}
		len = strlen(waiting);
		snprintf(waiting + len, sizeof(waiting) - len, "%s%s",
		    len > 0 ? ", " : "", proc_role_name((enum role)r));
	}
	if (m->retire_pending != 0 && !m->retire_warned &&
	    now - m->gen_started > RETIRE_WARN) {
		m->retire_warned = true;
		log_warnx("generation %u not ready after %.0f s (waiting for: "
		    "%s); the old processes of those roles keep running",
		    m->gen, RETIRE_WARN, waiting);
	}
}

/*
 * A reload that failed: logged, and told to systemd on STATUS=, escaped
 * as the log escapes it.  err may quote a value of the file (a regex, a
 * span): a line break in it started an sd_notify assignment of its own
 * (STOPPING=1, MAINPID=...).
 */
static void
master_reload_failed(const char *err)
{
	char shown[CONF_ERRLEN];

	log_error("reload failed, keeping the running configuration: %s", err);
	log_escape(shown, sizeof(shown), err, strlen(err));
	sdnotify("READY=1\nSTATUS=reload failed: %s", shown);
}

/*
 * SIGHUP: all or nothing.  A bad file keeps everything as it was; a
 * good one starts a new generation next to the old, whose processes of
 * each role are told to stop once the new ones of that role are ready
 * (master_retire), so the listen socket (held here the whole time)
 * never refuses a connection.  Older processes that never got ready
 * serve nobody: they stop at once.
 */
static void
master_reload(struct master *m)
{
	struct conf *nc;
	char err[CONF_ERRLEN];
	int fd = -1, i;

	sdnotify("RELOADING=1\nMONOTONIC_USEC=%lld\nSTATUS=reloading",
	    (long long)util_now_us());
	if ((nc = conf_load(m->path, err, sizeof(err))) == NULL) {
		master_reload_failed(err);
		return;
	}
	if (!conf_same_listen(m->conf, nc) &&
	    (fd = master_listen(nc, err, sizeof(err))) == -1) {
		master_reload_failed(err);
		conf_free(nc);
		return;
	}
	if (fd != -1) {
		if (m->old_listen_fd != -1)
			close(m->old_listen_fd);
		m->old_listen_fd = m->listen_fd;
		m->listen_fd = fd;
	}
	for (i = 0; i < STATS_SLOTS; i++)
		if (m->slot[i].state == MS_HELD || m->slot[i].state == MS_WAITING)
			m->slot[i].state = MS_FREE;
	conf_free(m->conf);
	m->conf = nc;
	conf = nc;
	log_init(NULL, nc->log_level, nc->log_format);
	if (conf_check_secret_modes(nc, err, sizeof(err)) != 0)
		log_warnx("%s", err);
	m->gen++;
	master_retire_old(m, ROLE_MAX);
	m->gen_started = util_now();
	m->retire_pending = (1u << ROLE_MAX) - 1;
	m->retire_warned = false;
	m->announced = false;
	master_plan(m);
	log_info("configuration reloaded from %s; starting generation %u",
	    m->path ? m->path : "(defaults)", m->gen);
}

static void
master_begin_stop(struct master *m, int how)
{
	if (m->stopping >= how)
		return;
	m->stopping = how;
	if (how == STOP_GRACEFUL) {
		m->deadline = util_now() + m->conf->shutdown_timeout;
		log_info("graceful shutdown: waiting up to %.1f s for children",
		    m->conf->shutdown_timeout);
		master_signal_all(m, SIGTERM);
	} else {
		m->deadline = util_now() + 1.0;
		log_info("fast shutdown");
		master_signal_all(m, SIGINT);
	}
	sdnotify("STOPPING=1\nSTATUS=stopping");
}

static void
master_handle_flags(struct master *m)
{
	char buf[64];

	while (read(master_sigpipe[0], buf, sizeof(buf)) > 0)
		;
	if (master_got_chld) {
		master_got_chld = 0;
		master_reap(m);
	}
	if (master_got_quit) {
		log_info("immediate shutdown");
		sdnotify("STOPPING=1");
		master_signal_all(m, SIGKILL);
		exit(0);
	}
	if (master_got_int) {
		master_got_int = 0;
		master_begin_stop(m, STOP_FAST);
	}
	if (master_got_term) {
		master_got_term = 0;
		master_begin_stop(m, STOP_GRACEFUL);
	}
	if (master_got_hup) {
		master_got_hup = 0;
		if (!m->stopping)
			master_reload(m);
	}
}

/* Starts what is due, retires the old generation, speaks to systemd. */
static void
master_tick(struct master *m, double now)
{
	int i, ready, wanted;

	for (i = 0; i < STATS_SLOTS && !m->stopping; i++)
		if (m->slot[i].state == MS_WAITING && m->slot[i].next_start <= now)
			master_spawn(m, &m->slot[i]);
	ready = master_count(m, true, true);
	wanted = master_wanted(m);
	if (m->retire_pending != 0)
		master_retire(m, now);
	if (!m->announced && !m->stopping && ready >= wanted) {
		m->announced = true;
		log_info("generation %u ready: %d processes", m->gen, ready);
		sdnotify("READY=1\nSTATUS=serving: %d processes, generation %u",
		    ready, m->gen);
	}
	if (m->next_watchdog > 0 && now >= m->next_watchdog) {
		sdnotify("WATCHDOG=1");
		m->next_watchdog = now + sdnotify_watchdog_interval();
	}
}

static void
master_loop(struct master *m)
{
	struct pollfd pfd;
	double now;

	for (;;) {
		pfd.fd = master_sigpipe[0];
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 100) == -1 && errno != EINTR)
			log_warn("poll");
		master_handle_flags(m);
		now = util_now();
		if (m->stopping) {
			if (master_count(m, false, false) == 0)
				return;
			if (now >= m->deadline) {
				log_warnx("shutdown timeout: killing what is left");
				master_signal_all(m, SIGKILL);
				m->deadline = now + 5;
			}
			continue;
		}
		master_tick(m, now);
	}
}

/* Runs the supervisor until a stop; returns the process exit code. */
int
master_main(struct conf *c, const char *path)
{
	struct master m;
	char err[CONF_ERRLEN];
	int pfd[2];

	memset(&m, 0, sizeof(m));
	m.conf = c;
	m.path = path;
	m.old_listen_fd = -1;
	conf = c;
	if (stats_init() == -1)
		fatal("mmap of the stats page");
	if (master_signals() == -1)
		fatal("signal set-up");
	if (pipe2(pfd, O_CLOEXEC) == -1)
		fatal("pipe");
	m.pipe_r = pfd[0];
	m.pipe_w = pfd[1];
	if ((m.listen_fd = master_listen(c, err, sizeof(err))) == -1)
		fatalx("%s", err);
	if (sdnotify_watchdog_interval() > 0)
		m.next_watchdog = util_now();
	m.gen = 1;
	m.gen_started = util_now();
	master_plan(&m);
	log_info("notifyd %s starting: http on %s:%d", PACKAGE_VERSION,
	    c->http_listen, c->http_port);
	master_loop(&m);
	log_info("all children stopped; exiting");
	conf_free(m.conf);
	return 0;
}
