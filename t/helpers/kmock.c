/*
 * kmock - a librdkafka mock Kafka cluster in its own process, for tests.
 *
 * Usage: kmock [-b NBROKERS] [-t TOPIC:PARTITIONS]... [-i]
 *
 * Prints one line "BOOTSTRAP host:port,..." on stdout once the brokers
 * listen, then serves until told to stop:
 *   SIGTERM, SIGINT  exit 0
 *   SIGUSR1          take every broker down
 *   SIGUSR2          bring every broker back up
 *   EOF on stdin     exit 0, so a test harness that dies (and closes our
 *                    stdin pipe) never leaves a mock behind; -i turns
 *                    this off for interactive use with </dev/null.
 *
 * The mock lives in its own process (not inside notifyd) so that every
 * notifyd process can reach the same cluster, and so a test can take the
 * cluster down without touching the daemon.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_TOPICS 64

struct topic_spec {
	char name[256];
	int partitions;
};

static void usage(void)
{
	fprintf(stderr, "usage: kmock [-b NBROKERS] [-t TOPIC:PARTITIONS]... "
		"[-i]\n");
	exit(2);
}

static int parse_int(const char *s, int min, int max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		usage();
	return (int)v;
}

/* "name:partitions"; the last colon splits, partitions default to 1. */
static void parse_topic(const char *arg, struct topic_spec *t)
{
	const char *colon = strrchr(arg, ':');
	size_t len = colon ? (size_t)(colon - arg) : strlen(arg);

	if (len == 0 || len >= sizeof(t->name))
		usage();
	memcpy(t->name, arg, len);
	t->name[len] = '\0';
	t->partitions = colon ? parse_int(colon + 1, 1, 10000) : 1;
}

/*
 * Reads stdin until EOF, then asks the main thread to exit through the
 * same path as SIGTERM (the signal is blocked everywhere, so it stays
 * pending until the main thread's sigwait picks it up).
 */
static void *stdin_watch(void *arg)
{
	char buf[512];

	(void)arg;
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	kill(getpid(), SIGTERM);
	return NULL;
}

static void set_all(rd_kafka_mock_cluster_t *mc, int nbrokers, int up)
{
	int id;

	for (id = 1; id <= nbrokers; id++) {
		rd_kafka_resp_err_t err = up
			? rd_kafka_mock_broker_set_up(mc, id)
			: rd_kafka_mock_broker_set_down(mc, id);

		if (err)
			fprintf(stderr, "kmock: broker %d %s: %s\n", id,
				up ? "up" : "down", rd_kafka_err2str(err));
	}
	fprintf(stderr, "kmock: all %d brokers %s\n", nbrokers,
		up ? "up" : "down");
}

static rd_kafka_t *new_handle(void)
{
	char errstr[512];
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	rd_kafka_t *rk;

	/* The handle only hosts the cluster; keep its own chatter quiet. */
	if (rd_kafka_conf_set(kc, "log_level", "3", errstr, sizeof(errstr))) {
		fprintf(stderr, "kmock: %s\n", errstr);
		exit(1);
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "kmock: rd_kafka_new: %s\n", errstr);
		exit(1);
	}
	return rk;
}

int main(int argc, char **argv)
{
	struct topic_spec topics[MAX_TOPICS];
	int ntopics = 0, nbrokers = 1, watch_stdin = 1, opt, i;
	rd_kafka_mock_cluster_t *mc;
	pthread_t watcher;
	sigset_t all;
	rd_kafka_t *rk;

	while ((opt = getopt(argc, argv, "b:t:i")) != -1) {
		switch (opt) {
		case 'b':
			nbrokers = parse_int(optarg, 1, 64);
			break;
		case 't':
			if (ntopics == MAX_TOPICS)
				usage();
			parse_topic(optarg, &topics[ntopics++]);
			break;
		case 'i':
			watch_stdin = 0;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	/*
	 * Block asynchronous signals before librdkafka starts any thread:
	 * threads inherit the mask, so only our sigwait ever sees them.
	 * Fault signals stay unblocked so a crash still kills us.
	 */
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	pthread_sigmask(SIG_BLOCK, &all, NULL);

	rk = new_handle();
	mc = rd_kafka_mock_cluster_new(rk, nbrokers);
	if (!mc) {
		fprintf(stderr, "kmock: rd_kafka_mock_cluster_new failed\n");
		return 1;
	}
	for (i = 0; i < ntopics; i++) {
		rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(
			mc, topics[i].name, topics[i].partitions, 1);

		if (err) {
			fprintf(stderr, "kmock: topic %s: %s\n", topics[i].name,
				rd_kafka_err2str(err));
			return 1;
		}
	}

	printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);

	if (watch_stdin &&
	    pthread_create(&watcher, NULL, stdin_watch, NULL) == 0)
		pthread_detach(watcher);

	for (;;) {
		int sig;

		if (sigwait(&all, &sig))
			continue;
		if (sig == SIGUSR1)
			set_all(mc, nbrokers, 0);
		else if (sig == SIGUSR2)
			set_all(mc, nbrokers, 1);
		else if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
			break;
		/* Anything else (SIGPIPE, SIGCHLD, ...) is ignored. */
	}

	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
