/*
 * main.c - command line, then the master.
 *
 * -c FILE, -t (check and exit), -T (check, print and exit), --keys, -V,
 * -h, --migrate; the role table.  Always in the
 * foreground: systemd and container runtimes supervise us.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "db.h"
#include "log.h"
#include "master.h"
#include "proc.h"
#include "role.h"
#include "roles.h"

/*
 * The roles, at the top: {name, count key, count, entry function}.
 * The master forks as many of each as the count says; proc.c runs the
 * entry function it is handed.  Indexed by enum role.
 */
static const struct proc_role main_roles[ROLE_MAX] = {
	[ROLE_API] =	 { "api", "http.processes", role_count_api, api_main },
	[ROLE_AUDIT] =	 { "audit", "audit.enabled", role_count_audit,
			    audit_main },
	[ROLE_MAILER] =	 { "mailer", "email.workers", role_count_mailer,
			    mailer_main },
	[ROLE_SWEEPER] = { "sweeper", "sweeper.enabled", role_count_sweeper,
			    sweeper_main },
	[ROLE_WEBHOOK] = { "webhook", "webhook.workers", role_count_webhook,
			    webhook_main },
	[ROLE_EVENTS] =	 { "events", "events.endpoint", role_count_events,
			    events_main },
	[ROLE_INBOX] =	 { "inbox", "inbox.workers", role_count_inbox,
			    inbox_main },
};

static void
main_usage(FILE *f)
{
	fprintf(f,
	    "usage: notifyd [-c FILE] [-t | -T] [-f] [-V] [-h] [--migrate]\n"
	    "  -c FILE    configuration file (default %s)\n"
	    "  -t         check the configuration and exit\n"
	    "  -T         check it, print it (file plus environment, secrets\n"
	    "             masked) in libconfig syntax and exit\n"
	    "  -f         stay in the foreground (always the case)\n"
	    "  -V         print the version and exit\n"
	    "  --migrate  apply pending database migrations and exit\n"
	    "  --keys     print the configuration keys (JSON) and exit\n"
	    "  -h         this help\n", NOTIFYD_CONFFILE);
}

/* A configuration error before logging starts: still one line. */
static void
main_say(const char *msg)
{
	char shown[CONF_ERRLEN * 4];

	log_escape(shown, sizeof(shown), msg, strlen(msg));
	fprintf(stderr, "notifyd: %s\n", shown);
}

/* Applies migrations in this process; used by --migrate and its child. */
static int
main_migrate(const struct conf *c)
{
	const struct db_opts o = { c->database_connect_timeout, 0, 0 };
	char err[DB_ERRLEN];
	PGconn *db;
	int n;

	/* No statement_timeout: a migration takes as long as it takes. */
	if ((db = db_connect_opts(c->database_conninfo, &o, err,
	    sizeof(err))) == NULL) {
		log_error("migrate: database: %s", err);
		return 1;
	}
	n = db_migrate(db, c->database_migrations_dir, err, sizeof(err));
	PQfinish(db);
	if (n < 0) {
		log_error("migrate: %s", err);
		return 1;
	}
	log_info("migrate: %d migration%s applied", n, n == 1 ? "" : "s");
	return 0;
}

/* The master opens no libpq handle: migrating at start is a child's job. */
static int
main_migrate_in_child(const struct conf *c)
{
	int status;
	pid_t pid;

	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		log_set_role("migrate");
		_exit(main_migrate(c));
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			fatal("waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* Warns about a secret others can read; the daemon still starts. */
static void
main_check_secrets(const struct conf *c)
{
	char msg[CONF_ERRLEN];

	if (conf_check_secret_modes(c, msg, sizeof(msg)) != 0)
		log_warnx("%s", msg);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "migrate", no_argument, NULL, 'M' },
		{ "keys", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = NULL;
	char err[CONF_ERRLEN], unknown[CONF_ERRLEN];
	int ch, test = 0, dump = 0, migrate = 0, strange;
	struct conf *c;

	while ((ch = getopt_long(argc, argv, "c:tTfVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 't': test = 1; break;
		case 'T': test = dump = 1; break;
		case 'f': break;
		case 'M': migrate = 1; break;
		case 'K': return conf_dump_keys(stdout) == 0 ? 0 : 1;
		case 'V': printf("notifyd %s\n", PACKAGE_VERSION); return 0;
		case 'h': main_usage(stdout); return 0;
		default: main_usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		main_usage(stderr);
		return 2;
	}
	/* Without -c, a missing default file means the embedded defaults. */
	if (path == NULL && access(NOTIFYD_CONFFILE, F_OK) == 0)
		path = NOTIFYD_CONFFILE;
	if ((c = conf_load(path, err, sizeof(err))) == NULL) {
		/*
		 * At start-up this is the unit's only word on why it failed:
		 * priority 3 so `journalctl -p err` shows it, and 78 so
		 * RestartPreventExitStatus= stops the restart loop.
		 */
		if (test)
			main_say(err);
		else
			log_error("%s", err);
		return test ? 1 : EXIT_CONFIG;
	}
	/* A misspelt variable is an error under -t, a warning at start. */
	strange = conf_env_unknown(environ, unknown, sizeof(unknown)) == -1;
	if (test && strange) {
		main_say(unknown);
		conf_free(c);
		return 1;
	}
	if (!test)
		log_init("master", c->log_level, c->log_format);
	main_check_secrets(c);
	if (strange)
		log_warnx("%s", unknown);
	if (dump) {
		ch = conf_dump(stdout, c) == 0 ? 0 : 1;
		conf_free(c);
		return ch;
	}
	if (test) {
		printf("notifyd: configuration %s OK\n", path ? path : "(defaults)");
		conf_free(c);
		return 0;
	}
	if (migrate) {
		ch = main_migrate(c);
		conf_free(c);
		return ch;
	}
	if (c->database_migrate_on_start && main_migrate_in_child(c) != 0)
		fatalx("migrations failed; not starting");
	proc_roles_set(main_roles);
	return master_main(c, path);
}
