/*
 * conf.c - the key table, libconfig parsing, environment overrides.
 *
 * Owns: turning a file plus NOTIFYD_* variables into one immutable
 * struct conf, or into one error naming file, line and key.  Never
 * logs (callers decide what an error means: fatal at start-up, "keep
 * the old config" on SIGHUP) and never touches the running snapshot.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libconfig.h>

#include "conf.h"
#include "notif.h"
#include "util.h"

const struct conf *conf;

#define K(name, type, field, def, min, max, choices, help) \
	{ name, type, offsetof(struct conf, field), def, min, max, choices, \
	  help }

const struct conf_key conf_keys[] = {
K("shutdown_timeout", CONF_FLOAT, shutdown_timeout, "10", 0.1, 3600, NULL,
  "seconds a graceful stop waits for children before SIGKILL"),

K("database.conninfo", CONF_STRING, database_conninfo,
  "dbname=notifyd", 0, 0, NULL,
  "libpq connection string or URI"),
K("database.migrate_on_start", CONF_BOOL, database_migrate_on_start,
  "false", 0, 0, NULL,
  "apply pending sql/ migrations before starting the children"),
K("database.migrations_dir", CONF_STRING, database_migrations_dir,
  NOTIFYD_SQLDIR, 0, 0, NULL,
  "directory holding the NNN_name.sql migrations"),
K("database.pool", CONF_INT, database_pool, "8", 1, 256, NULL,
  "connections an api process holds for the notification routes and "
  "/ready (the POST group commit has one of its own)"),
K("database.audit_pool", CONF_INT, database_audit_pool, "2", 1, 256, NULL,
  "connections an api process holds for the audit routes, apart "
  "from database.pool so slow audit queries cannot starve the others; "
  "about PostgreSQL's CPU cores: more only queue in its scheduler "
  "(see the README)"),
K("database.pool_timeout", CONF_FLOAT, database_pool_timeout, "2", 0, 3600,
  NULL, "seconds a request waits for a pooled connection before 503; "
  "0 = no limit"),
K("database.connect_timeout", CONF_INT, database_connect_timeout, "5", 0,
  3600, NULL, "seconds to connect (libpq's connect_timeout, min 2), "
  "unless the conninfo sets it; 0 = no limit"),
K("database.statement_timeout", CONF_FLOAT, database_statement_timeout, "5",
  0, 86400, NULL, "seconds an api statement may run before 503; "
  "0 = the server's setting"),
K("database.worker_statement_timeout", CONF_FLOAT,
  database_worker_statement_timeout, "60", 0, 86400, NULL,
  "seconds a statement of the audit, mailer and sweeper roles may run; "
  "0 = the server's setting"),

K("kafka.brokers", CONF_STRING, kafka_brokers, "localhost:9092",
  0, 0, NULL, "bootstrap.servers for every Kafka client"),
K("kafka.properties", CONF_STRLIST, kafka_properties, "", 0, 0, NULL,
  "librdkafka properties passed through, as \"key=value\" strings; "
  "each is set on a scratch librdkafka configuration at load, so an "
  "unknown name or a bad value fails -t, the start and a reload"),

K("http.listen", CONF_STRING, http_listen, "127.0.0.1", 0, 0, NULL,
  "address the master binds (rebound on reload when changed)"),
K("http.port", CONF_INT, http_port, "8080", 0, 65535, NULL,
  "TCP port of the HTTP API"),
K("http.processes", CONF_INT, http_processes, "1", 0, 64, NULL,
  "api processes sharing the listen socket"),
K("http.threads", CONF_INT, http_threads, "32", 1, 256, NULL,
  "request threads per api process (each serves one request at a time)"),
K("http.max_connections", CONF_INT, http_max_connections, "4096", 16,
  100000, NULL, "open HTTP connections per api process"),
K("http.max_connections_per_ip", CONF_INT, http_max_connections_per_ip,
  "1024", 0, 100000, NULL,
  "open HTTP connections per client address and api process; 0 = no limit"),
K("http.header_timeout", CONF_FLOAT, http_header_timeout, "10", 0.1, 3600,
  NULL, "seconds a connection has to send a complete request head, "
  "from its accept or the end of its previous answer"),
K("http.max_body", CONF_INT, http_max_body, "1048576", 1024, 67108864,
  NULL, "largest request body accepted, bytes (else 413)"),
K("http.max_template", CONF_INT, http_max_template, "262144", 1024,
  67108864, NULL, "largest template definition a PUT accepts, bytes "
  "(else 413; http.max_body applies first)"),
K("http.backlog", CONF_INT, http_backlog, "1024", 16, 65535, NULL,
  "listen(2) backlog of the HTTP socket"),
K("http.kafka_ack_timeout", CONF_FLOAT, http_kafka_ack_timeout, "0.5",
  0, 30, NULL,
  "deprecated and ignored: a POST answers at commit and its row is "
  "produced to Kafka afterwards (accepted so older files still load)"),
K("http.tokens", CONF_STRLIST, http_tokens, "", 0, 0, NULL,
  "bearer tokens as \"TOKEN:scope,scope\" (scopes: send, read, "
  "templates, preferences, admin)"),
K("http.public_url", CONF_STRING, http_public_url, "", 0, 0, NULL,
  "the service's public https:// base URL, for the List-Unsubscribe "
  "link of mail with a category; empty = no unsubscribe headers"),

K("email.enabled", CONF_BOOL, email_enabled, "true", 0, 0, NULL,
  "run the mailer workers and the email API"),
K("email.workers", CONF_INT, email_workers, "2", 0, 64, NULL,
  "mailer processes"),
K("email.topic", CONF_STRING, email_topic, "notifications.email",
  0, 0, NULL, "Kafka topic the API queues emails on (1 to 249 of A-Z a-z "
  "0-9 . _ -, as Kafka requires)"),
K("email.group_id", CONF_STRING, email_group_id, "notifyd-mailer",
  0, 0, NULL, "consumer group of the mailer workers"),
K("email.from", CONF_STRING, email_from, "notifications@localhost",
  0, 0, NULL,
  "From address of every email (checked like a recipient)"),
K("email.allowed_from", CONF_STRLIST, email_allowed_from, "", 0, 0, NULL,
  "other from addresses a POST may set, \"a@b\" or \"@domain\" "
  "(any other from: 422)"),
K("email.smtputf8", CONF_BOOL, email_smtputf8, "false", 0, 0, NULL,
  "the relay offers SMTPUTF8: accept non-ASCII local parts (off: 422)"),
K("email.max_content", CONF_INT, email_max_content, "262144", 1, 67108864,
  NULL, "largest content accepted, bytes (else 413)"),
K("email.rate_limit", CONF_FLOAT, email_rate_limit, "0", 0, 1e6, NULL,
  "messages per second across all workers; 0 = unlimited"),
K("email.lease", CONF_FLOAT, email_lease, "60", 1, 86400, NULL,
  "seconds a worker's claim on a notification lasts"),
K("email.batch", CONF_INT, email_batch, "64", 1, 4096, NULL,
  "notifications a worker claims in one transaction"),
K("email.schedule_horizon", CONF_STRING, email_schedule_horizon, "30d", 0, 0,
  NULL, "how far ahead a sendAt may be (later: 422): seconds, or a number "
  "and h, d or w (\"30d\")"),
K("email.schedule_scan_interval", CONF_FLOAT, email_schedule_scan_interval,
  "0.5", 0.05, 60, NULL, "seconds between the sweeper's scans for "
  "scheduled notifications that are due (it also wakes at the next known "
  "sendAt)"),
K("email.unsubscribe_secret_file", CONF_STRING,
  email_unsubscribe_secret_file, "", 0, 0, NULL,
  "file holding the secret (16 bytes or more) that signs unsubscribe "
  "links; read at load, needed with http.public_url; a warning is "
  "logged when its group or others can read it"),
K("email.smtp.url", CONF_STRING, email_smtp_url, "smtp://127.0.0.1:25",
  0, 0, NULL, "smtp:// or smtps:// relay"),
K("email.smtp.starttls", CONF_STRING, email_smtp_starttls, "opportunistic",
  0, 0, "off|opportunistic|required", "STARTTLS policy for smtp://"),
K("email.smtp.ca_file", CONF_STRING, email_smtp_ca_file, "", 0, 0, NULL,
  "CA bundle for TLS; empty = system default"),
K("email.smtp.username", CONF_STRING, email_smtp_username, "", 0, 0, NULL,
  "SMTP AUTH user; empty = no AUTH; needs starttls = \"required\" "
  "or an smtps:// url"),
K("email.smtp.password_file", CONF_STRING, email_smtp_password_file, "",
  0, 0, NULL, "file holding the SMTP AUTH password (its first line, "
  "at most 4 kB; read by each mailer); a warning is "
  "logged when its group or others can read it"),
K("email.smtp.connect_timeout", CONF_FLOAT, email_smtp_connect_timeout, "10",
  0.1, 600, NULL, "seconds to connect to the relay"),
K("email.smtp.timeout", CONF_FLOAT, email_smtp_timeout, "30", 0.1, 3600,
  NULL, "seconds to wait for each SMTP response"),
K("email.smtp.pipelining", CONF_BOOL, email_smtp_pipelining, "true", 0, 0,
  NULL, "send MAIL, RCPT and DATA in one write when the relay offers "
  "PIPELINING (RFC 2920); false waits for each reply"),
K("email.retry.initial", CONF_FLOAT, email_retry_initial, "1", 0, 3600,
  NULL, "seconds before the first retry"),
K("email.retry.multiplier", CONF_FLOAT, email_retry_multiplier, "2", 1, 100,
  NULL, "growth of the delay between retries"),
K("email.retry.max_delay", CONF_FLOAT, email_retry_max_delay, "60", 0, 86400,
  NULL, "cap on the delay between retries, seconds"),
K("email.retry.max_attempts", CONF_INT, email_retry_max_attempts, "3", 1, 100,
  NULL, "attempts in the worker before FAILED"),
K("email.retry.jitter", CONF_FLOAT, email_retry_jitter, "0.2", 0, 1, NULL,
  "random fraction added to or taken from each delay"),

K("email.user_rate", CONF_STRING, email_user_rate, "", 0, 0, NULL,
  "notifications accepted per userId per fixed window, across all "
  "instances on the database: N/second, N/minute, N/hour or N/day "
  "(\"20/hour\"); over it a POST gets 429 with Retry-After; "
  "empty = no limit"),
K("email.dkim.domain", CONF_STRING, email_dkim_domain, "", 0, 0, NULL,
  "DKIM signing domain (d=); empty = mail is not signed"),
K("email.dkim.selector", CONF_STRING, email_dkim_selector, "", 0, 0, NULL,
  "DKIM selector (s=): the public key is the TXT record "
  "SELECTOR._domainkey.DOMAIN"),
K("email.dkim.key_file", CONF_STRING, email_dkim_key_file, "", 0, 0, NULL,
  "PEM RSA private key signing mail (rsa-sha256, relaxed/relaxed); read "
  "when the configuration loads; a warning is logged when its group or "
  "others can read it"),
K("email.dkim.headers", CONF_STRLIST, email_dkim_headers,
  "from;to;subject;date;message-id;mime-version;content-type;"
  "list-unsubscribe;list-unsubscribe-post", 0, 0, NULL,
  "header fields the signature covers (from is required; RFC 8058 wants "
  "the List-Unsubscribe pair signed)"),

K("audit.enabled", CONF_BOOL, audit_enabled, "true", 0, 0, NULL,
  "run the Kafka audit role"),
K("audit.group_id", CONF_STRING, audit_group_id,
  "notification-service-group", 0, 0, NULL,
  "consumer group of the audit role; offsets are kept per group"),
K("audit.topics", CONF_STRING, audit_topics, "^[^_].*", 0, 0, NULL,
  "regex of topics to record"),
K("audit.exclude", CONF_STRING, audit_exclude, "", 0, 0, NULL,
  "regex of topics not to record; empty = none"),
K("audit.metadata_refresh", CONF_INT, audit_metadata_refresh, "3000",
  100, 3600000, NULL, "ms between topic list refreshes; a new topic is "
  "recorded after the next refresh plus one group rebalance"),
K("audit.start_from", CONF_STRING, audit_start_from, "earliest", 0, 0,
  "earliest|latest", "where a partition with no stored offset starts"),
K("audit.batch_size", CONF_INT, audit_batch_size, "5000", 1, 1000000, NULL,
  "rows per database transaction at most"),
K("audit.batch_linger", CONF_INT, audit_batch_linger, "50", 0, 60000, NULL,
  "ms a batch may wait to fill"),
K("audit.partition", CONF_STRING, audit_partition, "day", 0, 0,
  "hour|day|week|month", "time span of one audit_events partition; the "
  "audit role creates them two spans ahead"),
K("audit.retention", CONF_STRING, audit_retention, "", 0, 0, NULL,
  "drop the audit_events partitions that ended longer ago than this: a "
  "number and h, d or w (\"90d\"); empty keeps everything"),
K("audit.synchronous_commit", CONF_BOOL, audit_synchronous_commit, "false",
  0, 0, NULL, "wait for PostgreSQL's WAL flush at each batch commit; "
  "off is safe: a commit lost in a crash loses its offsets too, and the "
  "messages are read again"),

K("sweeper.enabled", CONF_BOOL, sweeper_enabled, "true", 0, 0, NULL,
  "run the sweeper"),
K("sweeper.interval", CONF_FLOAT, sweeper_interval, "10", 0.1, 86400, NULL,
  "seconds between sweeps"),
K("sweeper.pending_after", CONF_FLOAT, sweeper_pending_after, "30", 0.1,
  86400, NULL, "seconds after which an unqueued PENDING row is requeued"),
K("sweeper.max_requeues", CONF_INT, sweeper_max_requeues, "5", 0, 1000, NULL,
  "times a FAILED notification is requeued at most"),
K("sweeper.max_delay", CONF_FLOAT, sweeper_max_delay, "3600", 1, 604800, NULL,
  "cap on the delay before a requeue, seconds"),
K("sweeper.batch", CONF_INT, sweeper_batch, "500", 1, 100000, NULL,
  "rows requeued per sweep at most"),

K("webhook.workers", CONF_INT, webhook_workers, "1", 0, 64, NULL,
  "webhook worker processes (none run while webhook.endpoints is empty)"),
K("webhook.topic", CONF_STRING, webhook_topic, "notifications.webhook",
  0, 0, NULL, "Kafka topic the API queues webhook notifications on (1 to "
  "249 of A-Z a-z 0-9 . _ -, as Kafka requires)"),
K("webhook.group_id", CONF_STRING, webhook_group_id, "notifyd-webhook",
  0, 0, NULL, "consumer group of the webhook workers"),
K("webhook.timeout", CONF_FLOAT, webhook_timeout, "10", 0.1, 600, NULL,
  "seconds a delivery may take in all, for endpoints that set no timeout "
  "of their own; over it the attempt is retried"),
K("webhook.connect_timeout", CONF_FLOAT, webhook_connect_timeout, "5", 0.1,
  600, NULL, "seconds to connect to an endpoint"),
K("webhook.max_body", CONF_INT, webhook_max_body, "262144", 16, 16777216,
  NULL, "largest webhook body (the signed JSON) a worker sends, bytes; a "
  "POST whose content would exceed it gets 413"),
K("webhook.max_response", CONF_INT, webhook_max_response, "65536", 256,
  16777216, NULL, "bytes of an endpoint's answer read at most; a longer "
  "answer is cut there (history keeps a short excerpt)"),
K("events.endpoint", CONF_STRING, events_endpoint, "", 0, 0, NULL,
  "the webhook.endpoints name that receives a signed event for every "
  "terminal outcome of every notification (sent, failed, suppressed, "
  "cancelled), at least once, from the database; empty = no events"),
K("events.attempts", CONF_BOOL, events_attempts, "false", 0, 0, NULL,
  "also send one notification.attempt event per delivery attempt"),
K("events.batch", CONF_INT, events_batch, "100", 1, 10000, NULL,
  "events the sender takes from the database at a time"),
K("events.poll_interval", CONF_FLOAT, events_poll_interval, "0.2", 0.01, 60,
  NULL, "seconds the sender waits before looking again when it found "
  "nothing to send"),

K("inbox.workers", CONF_INT, inbox_workers, "1", 0, 64, NULL,
  "inbox worker processes, delivering IN_APP notifications (with "
  "email.enabled)"),
K("inbox.topic", CONF_STRING, inbox_topic, "notifications.inapp", 0, 0,
  NULL, "Kafka topic the API queues IN_APP notifications on (1 to 249 "
  "of A-Z a-z 0-9 . _ -, as Kafka requires)"),
K("inbox.group_id", CONF_STRING, inbox_group_id, "notifyd-inbox", 0, 0,
  NULL, "consumer group of the inbox workers"),
K("inbox.heartbeat", CONF_FLOAT, inbox_heartbeat, "15", 0.05, 3600, NULL,
  "seconds an inbox stream may stay silent before a heartbeat comment"),

K("log.level", CONF_STRING, log_level, "info", 0, 0,
  "debug|info|warning|error", "lowest level logged"),
K("log.format", CONF_STRING, log_format, "text", 0, 0, "text|json",
  "text (syslog priority prefix) or json (an object per line)"),
{ NULL, 0, 0, NULL, 0, 0, NULL, NULL }
};

/* Aliases kept for containers (seed 002's DATABASE_URL and friends). */
static const struct { const char *env, *key; } conf_aliases[] = {
	{ "NOTIFYD_DATABASE_URL", "database.conninfo" },
	{ "NOTIFYD_SMTP_URL", "email.smtp.url" },
	{ NULL, NULL }
};

/* The i-th environment alias (its key in *key), or NULL past the end. */
const char *
conf_alias(int i, const char **key)
{
	if (i < 0 || i >= (int)(sizeof(conf_aliases) / sizeof(conf_aliases[0])))
		return NULL;
	*key = conf_aliases[i].key;
	return conf_aliases[i].env;
}

/* Looks a key up by its dotted name. */
const struct conf_key *
conf_key_find(const char *name)
{
	const struct conf_key *k;

	for (k = conf_keys; k->name != NULL; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/* Tells whether a dotted name is a section some key lives under. */
static bool
conf_is_section(const char *name)
{
	const struct conf_key *k;
	size_t n = strlen(name);

	for (k = conf_keys; k->name != NULL; k++)
		if (strncmp(k->name, name, n) == 0 && k->name[n] == '.')
			return true;
	return false;
}

/* NOTIFYD_ + the key in upper case, dots as underscores. */
const char *
conf_env_name(const struct conf_key *k, char *buf, size_t len)
{
	size_t i, j;

	j = (size_t)snprintf(buf, len, "NOTIFYD_");
	for (i = 0; k->name[i] != '\0' && j + 1 < len; i++, j++)
		buf[j] = k->name[i] == '.' ? '_' : toupper((unsigned char)k->name[i]);
	buf[j] = '\0';
	return buf;
}

static void *
conf_field(struct conf *c, const struct conf_key *k)
{
	return (char *)c + k->off;
}

static void
conf_strlist_free(struct conf_strlist *l)
{
	int i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
conf_strlist_add(struct conf_strlist *l, const char *s)
{
	char **v, *d;

	if ((d = strdup(s)) == NULL)
		return -1;
	if ((v = realloc(l->v, sizeof(*v) * (size_t)(l->n + 1))) == NULL) {
		free(d);
		return -1;
	}
	v[l->n++] = d;
	l->v = v;
	return 0;
}

/* Checks a string against the "a|b|c" choices of its key. */
static bool
conf_choice_ok(const struct conf_key *k, const char *s)
{
	const char *p = k->choices;
	size_t n = strlen(s);

	if (p == NULL)
		return true;
	while (*p != '\0') {
		size_t w = strcspn(p, "|");
		if (w == n && strncmp(p, s, n) == 0)
			return true;
		p += w + (p[w] == '|');
	}
	return false;
}

/* True when s holds nothing but blanks. */
static bool
conf_blank(const char *s)
{
	while (*s != '\0' && isspace((unsigned char)*s))
		s++;
	return *s == '\0';
}

static int
conf_set_string(struct conf *c, const struct conf_key *k, const char *s,
    char *why, size_t len)
{
	char **dst = conf_field(c, k), *d;

	/* A key with a non-empty default needs a value: an empty one is a
	 * mistake (an unset shell variable), not a way to say "default". */
	if (k->def[0] != '\0' && conf_blank(s))
		return conf_errf(why, len, "must not be empty");
	if (!conf_choice_ok(k, s))
		return conf_errf(why, len, "must be one of %s", k->choices);
	if ((d = strdup(s)) == NULL)
		return conf_errf(why, len, "out of memory");
	free(*dst);
	*dst = d;
	return 0;
}

static int
conf_set_number(struct conf *c, const struct conf_key *k, double v,
    char *why, size_t len)
{
	if (k->min != k->max && (v < k->min || v > k->max))
		return conf_errf(why, len, "%g is out of range [%g, %g]",
		    v, k->min, k->max);
	if (k->type == CONF_INT) {
		if (v != floor(v))
			return conf_errf(why, len, "must be an integer");
		*(int *)conf_field(c, k) = (int)v;
	} else
		*(double *)conf_field(c, k) = v;
	return 0;
}

/*
 * Tells whether s is a number as text may give one: an optional '-',
 * decimal digits and, when real, an optional '.' and more digits; no
 * blank, sign '+', exponent, hex, inf or nan.  strtod alone took
 * NOTIFYD_HTTP_PORT=0x1F90 as 8080, " 8080", "8e3" and "0x1p3" (a
 * typo or a shell quirk, not a way anyone means a port).  The file is
 * libconfig's to parse: its hex integers (0x1F90) are its syntax.
 */
static bool
conf_number_text(const char *s, bool real)
{
	const char *digits = "0123456789";
	size_t n;

	if (*s == '-')
		s++;
	if ((n = strspn(s, digits)) == 0)
		return false;
	s += n;
	if (real && *s == '.') {
		if ((n = strspn(++s, digits)) == 0)
			return false;
		s += n;
	}
	return *s == '\0';
}

/*
 * Sets a number key from text (a default or a variable).  The value is
 * shown only when it is visible ASCII, cut to 40 bytes: CR, LF or ESC
 * in it must not reach a log line, a terminal or sd_notify's STATUS=
 * raw, and escaping it here would be escaped again by the log.
 */
static int
conf_set_number_text(struct conf *c, const struct conf_key *k, const char *s,
    char *why, size_t len)
{
	bool real = k->type == CONF_FLOAT;
	const char *want = real ?
	    "a decimal number (digits, optional '-' and '.digits')" :
	    "an integer (decimal digits, optional '-')";
	size_t n;
	double v;

	if (!conf_number_text(s, real)) {
		if (s[n = util_visible_len(s)] != '\0')
			return conf_errf(why, len, "expected %s, got a value "
			    "with control or non-ASCII bytes", want);
		return conf_errf(why, len, "expected %s, got \"%.40s\"%s",
		    want, s, n > 40 ? " (cut)" : "");
	}
	v = strtod(s, NULL);	/* checked text: no errno but range */
	if (!isfinite(v))
		return conf_errf(why, len, "out of range [%g, %g]", k->min,
		    k->max);
	return conf_set_number(c, k, v, why, len);
}

/* Sets a key from text: defaults and environment variables. */
static int
conf_set_text(struct conf *c, const struct conf_key *k, const char *s,
    char *why, size_t len)
{
	struct conf_strlist *l;
	char *copy, *tok, *save;

	switch (k->type) {
	case CONF_BOOL:
		if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0 ||
		    strcmp(s, "yes") == 0)
			*(bool *)conf_field(c, k) = true;
		else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0 ||
		    strcmp(s, "no") == 0)
			*(bool *)conf_field(c, k) = false;
		else
			return conf_errf(why, len, "expected true or false");
		return 0;
	case CONF_INT:
	case CONF_FLOAT:
		return conf_set_number_text(c, k, s, why, len);
	case CONF_STRING:
		return conf_set_string(c, k, s, why, len);
	case CONF_STRLIST:
		l = conf_field(c, k);
		conf_strlist_free(l);
		if ((copy = strdup(s)) == NULL)
			return conf_errf(why, len, "out of memory");
		for (tok = strtok_r(copy, ";", &save); tok != NULL;
		    tok = strtok_r(NULL, ";", &save))
			if (conf_strlist_add(l, tok) == -1) {
				free(copy);
				return conf_errf(why, len, "out of memory");
			}
		free(copy);
		return 0;
	}
	return conf_errf(why, len, "bad key type");
}

static int
conf_set_list(struct conf *c, const struct conf_key *k,
    const config_setting_t *s, char *why, size_t len)
{
	struct conf_strlist *l = conf_field(c, k);
	const config_setting_t *e;
	int i;

	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST)
		return conf_errf(why, len, "expected a list of strings");
	conf_strlist_free(l);
	for (i = 0; (e = config_setting_get_elem(s, (unsigned)i)) != NULL; i++) {
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return conf_errf(why, len, "element %d is not a string", i);
		if (conf_strlist_add(l, config_setting_get_string(e)) == -1)
			return conf_errf(why, len, "out of memory");
	}
	return 0;
}

/* Sets a key from a libconfig setting, checking its type. */
static int
conf_set_setting(struct conf *c, const struct conf_key *k,
    const config_setting_t *s, char *why, size_t len)
{
	int t = config_setting_type(s);

	switch (k->type) {
	case CONF_BOOL:
		if (t != CONFIG_TYPE_BOOL)
			return conf_errf(why, len, "expected true or false");
		*(bool *)conf_field(c, k) = config_setting_get_bool(s);
		return 0;
	case CONF_INT:
		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
			return conf_errf(why, len, "expected an integer");
		return conf_set_number(c, k,
		    (double)config_setting_get_int64(s), why, len);
	case CONF_FLOAT:
		if (t == CONFIG_TYPE_FLOAT)
			return conf_set_number(c, k,
			    config_setting_get_float(s), why, len);
		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
			return conf_errf(why, len, "expected a number");
		return conf_set_number(c, k,
		    (double)config_setting_get_int64(s), why, len);
	case CONF_STRING:
		if (t != CONFIG_TYPE_STRING)
			return conf_errf(why, len, "expected a string");
		return conf_set_string(c, k, config_setting_get_string(s),
		    why, len);
	case CONF_STRLIST:
		return conf_set_list(c, k, s, why, len);
	}
	return conf_errf(why, len, "bad key type");
}

/* Walks a group of the file, setting keys and refusing unknown ones. */
static int
conf_walk(struct conf *c, const config_setting_t *g, const char *prefix,
    const char *file, char *err, size_t len)
{
	const config_setting_t *s;
	const struct conf_key *k;
	char path[256], why[256];
	int i;

	for (i = 0; (s = config_setting_get_elem(g, (unsigned)i)) != NULL; i++) {
		snprintf(path, sizeof(path), "%s%s%s", prefix,
		    *prefix ? "." : "", config_setting_name(s));
		if (strcmp(path, "webhook.endpoints") == 0) {
			if (conf_webhook_set(c, s, file, err, len) == -1)
				return -1;
			continue;
		}
		if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
			if (conf_key_find(path) == NULL && conf_is_section(path)) {
				if (conf_walk(c, s, path, file, err, len) == -1)
					return -1;
				continue;
			}
		}
		if ((k = conf_key_find(path)) == NULL)
			return conf_errf(err, len, "%s:%d: %s: unknown key%s",
			    file, config_setting_source_line(s), path,
			    conf_is_section(path) ? " (it is a section)" : "");
		if (conf_set_setting(c, k, s, why, sizeof(why)) == -1)
			return conf_errf(err, len, "%s:%d: %s: %s", file,
			    config_setting_source_line(s), path, why);
	}
	return 0;
}

static int
conf_read_file(struct conf *c, const char *path, char *err, size_t len)
{
	config_t cf;
	int rc;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return conf_errf(err, len, "%s: cannot read: %s", path,
		    strerror(errno));
	config_init(&cf);
	if (config_read(&cf, f) == CONFIG_FALSE) {
		rc = conf_errf(err, len, "%s:%d: syntax error: %s", path,
		    config_error_line(&cf), config_error_text(&cf));
	} else
		rc = conf_walk(c, config_root_setting(&cf), "", path, err, len);
	config_destroy(&cf);
	fclose(f);
	return rc;
}

/* Applies NOTIFYD_* variables over whatever the file said. */
static int
conf_read_env(struct conf *c, char *err, size_t len)
{
	const struct conf_key *k;
	char name[128], why[256];
	const char *v;
	int i;

	for (i = 0; conf_aliases[i].env != NULL; i++) {
		if ((v = getenv(conf_aliases[i].env)) == NULL)
			continue;
		k = conf_key_find(conf_aliases[i].key);
		if (conf_set_text(c, k, v, why, sizeof(why)) == -1)
			return conf_errf(err, len, "environment %s: %s: %s",
			    conf_aliases[i].env, k->name, why);
	}
	for (k = conf_keys; k->name != NULL; k++) {
		if ((v = getenv(conf_env_name(k, name, sizeof(name)))) == NULL)
			continue;
		if (conf_set_text(c, k, v, why, sizeof(why)) == -1)
			return conf_errf(err, len, "environment %s: %s: %s",
			    name, k->name, why);
	}
	return 0;
}

/* Length of the first word after "NOTIFYD_" (up to '_' or the end). */
static size_t
conf_env_word(const char *name)
{
	return strcspn(name + 8, "_=");
}

/*
 * Tells whether a NOTIFYD_* name is in notifyd's own namespace: its
 * first word is that of a key or alias (HTTP, EMAIL, KAFKA, SMTP, ...).
 * Other NOTIFYD_* variables (NOTIFYD_BUILDDIR, NOTIFYD_BIN, ... of the
 * build and the tests) are not ours to judge.
 */
static bool
conf_env_owned(const char *name)
{
	const struct conf_key *k;
	char buf[128];
	size_t n = conf_env_word(name);
	int i;

	for (k = conf_keys; k->name != NULL; k++) {
		conf_env_name(k, buf, sizeof(buf));
		if (conf_env_word(buf) == n && strncmp(buf, name, 8 + n) == 0)
			return true;
	}
	for (i = 0; conf_aliases[i].env != NULL; i++)
		if (conf_env_word(conf_aliases[i].env) == n &&
		    strncmp(conf_aliases[i].env, name, 8 + n) == 0)
			return true;
	return false;
}

/* Tells whether "NAME=value" names a key or an alias. */
static bool
conf_env_known(const char *var)
{
	const struct conf_key *k;
	size_t n = strcspn(var, "=");
	char buf[128];
	int i;

	for (k = conf_keys; k->name != NULL; k++)
		if (strlen(conf_env_name(k, buf, sizeof(buf))) == n &&
		    strncmp(buf, var, n) == 0)
			return true;
	for (i = 0; conf_aliases[i].env != NULL; i++)
		if (strlen(conf_aliases[i].env) == n &&
		    strncmp(conf_aliases[i].env, var, n) == 0)
			return true;
	return false;
}

/*
 * Names, in err, the NOTIFYD_<SECTION>_* variables of envp that are no
 * key (NOTIFYD_HTTP_PORTT): -1 if any.  -t makes that an error, a
 * start a warning; conf_load ignores them, as it always did.
 */
int
conf_env_unknown(char *const *envp, char *err, size_t len)
{
	size_t o = 0, n;
	int bad = 0;

	if (len > 0)
		err[0] = '\0';
	for (; envp != NULL && *envp != NULL; envp++) {
		if (strncmp(*envp, "NOTIFYD_", 8) != 0 ||
		    !conf_env_owned(*envp) || conf_env_known(*envp))
			continue;
		n = strcspn(*envp, "=");
		if (o < len)
			o += (size_t)snprintf(err + o, len - o, "%s%.*s",
			    bad++ ? ", " : "environment ", (int)n, *envp);
		else
			bad++;
	}
	if (bad == 0)
		return 0;
	if (o < len)
		snprintf(err + o, len - o, ": name%s no configuration key",
		    bad == 1 ? "s" : "");
	return -1;
}

/*
 * email.from is validated like a recipient (it becomes MAIL FROM and the
 * From header); email.allowed_from holds addresses and "@domain" entries.
 */
static int
conf_check_from(const struct conf *c, const char *file, char *err, size_t len)
{
	char *wire, buf[NOTIF_ADDR_MAX + 2];
	const char *e;
	int i;

	if (!notif_addr_valid(c->email_from) ||
	    notif_addr_wire(c->email_from, c->email_smtputf8, &wire) !=
	    NOTIF_ADDR_OK)
		return conf_errf(err, len, "%s: email.from: \"%s\" is not a "
		    "valid email address", file, c->email_from);
	free(wire);
	for (i = 0; i < c->email_allowed_from.n; i++) {
		e = c->email_allowed_from.v[i];
		snprintf(buf, sizeof(buf), "%s%s", e[0] == '@' ? "x" : "", e);
		if (!notif_addr_valid(buf) || notif_addr_wire(buf,
		    c->email_smtputf8, &wire) != NOTIF_ADDR_OK)
			return conf_errf(err, len, "%s: email.allowed_from: "
			    "element %d is neither an address nor @domain",
			    file, i);
		free(wire);
	}
	return 0;
}

/*
 * "90d", "12h", "2w" as a PostgreSQL interval ("90 days") into out (if
 * not NULL): 1; empty: 0 (off); anything else: -1.
 */
int
conf_span_parse(const char *s, char *out, size_t len)
{
	static const char *const units[] = { "h", "hours", "d", "days", "w",
	    "weeks", NULL };
	size_t n = strspn(s, "0123456789");
	int i;

	if (*s == '\0')
		return 0;
	if (n == 0 || n > 6 || strtol(s, NULL, 10) == 0)
		return -1;
	for (i = 0; units[i] != NULL; i += 2)
		if (strcmp(s + n, units[i]) == 0) {
			if (out != NULL)
				snprintf(out, len, "%.*s %s", (int)n, s,
				    units[i + 1]);
			return 1;
		}
	return -1;
}

/*
 * A span like email.schedule_horizon in seconds: digits alone are
 * seconds, else a number and h, d or w as in conf_span_parse; -1 when
 * malformed or empty.
 */
double
conf_span_seconds(const char *s)
{
	static const struct { const char *unit; double secs; } u[] = {
	    { "", 1 }, { "h", 3600 }, { "d", 86400 }, { "w", 604800 } };
	size_t n = strspn(s, "0123456789"), i;

	if (n == 0 || n > 9 || strtol(s, NULL, 10) == 0)
		return -1;
	for (i = 0; i < sizeof(u) / sizeof(u[0]); i++)
		if (strcmp(s + n, u[i].unit) == 0)
			return (double)strtol(s, NULL, 10) * u[i].secs;
	return -1;
}

/*
 * audit.exclude compiled as the audit role compiles it (audit.c), so
 * that -t and a reload refuse what would stop that role at its start.
 */
static int
conf_check_exclude(const struct conf *c, const char *file, char *err,
    size_t len)
{
	regex_t re;
	char why[128];
	int e;

	if (*c->audit_exclude == '\0')
		return 0;
	e = regcomp(&re, c->audit_exclude, REG_EXTENDED | REG_NOSUB);
	if (e != 0) {
		regerror(e, &re, why, sizeof(why));
		return conf_errf(err, len, "%s: audit.exclude: \"%s\" is not "
		    "an extended regular expression: %s", file,
		    c->audit_exclude, why);
	}
	regfree(&re);
	return 0;
}

/* Checks what no single key can: list formats and key combinations. */
static int
conf_check(const struct conf *c, const char *file, char *err, size_t len)
{
	int i;

	for (i = 0; i < c->kafka_properties.n; i++) {
		const char *p = c->kafka_properties.v[i];
		if (strchr(p, '=') == NULL || p[0] == '=')
			return conf_errf(err, len, "%s: kafka.properties: "
			    "\"%s\" is not key=value", file, p);
	}
	for (i = 0; i < c->http_tokens.n; i++) {
		const char *p = c->http_tokens.v[i];
		if (strchr(p, ':') == NULL || p[0] == ':')
			return conf_errf(err, len, "%s: http.tokens: element %d "
			    "is not TOKEN:scope[,scope]", file, i);
	}
	if (conf_check_from(c, file, err, len) == -1 ||
	    conf_check_exclude(c, file, err, len) == -1)
		return -1;
	if (conf_span_seconds(c->email_schedule_horizon) <= 0)
		return conf_errf(err, len, "%s: email.schedule_horizon: \"%s\" is "
		    "not a number of seconds, nor a number followed by h, d or w "
		    "(\"30d\")", file, c->email_schedule_horizon);
	if (conf_span_parse(c->audit_retention, NULL, 0) == -1)
		return conf_errf(err, len, "%s: audit.retention: \"%s\" is not "
		    "a number followed by h, d or w (\"90d\"), nor empty", file,
		    c->audit_retention);
	if (strncmp(c->email_smtp_url, "smtp://", 7) != 0 &&
	    strncmp(c->email_smtp_url, "smtps://", 8) != 0)
		return conf_errf(err, len, "%s: email.smtp.url: must start "
		    "with smtp:// or smtps://", file);
	/* AUTH sends the password: never over a connection that may be clear. */
	if (*c->email_smtp_username != '\0' &&
	    strncmp(c->email_smtp_url, "smtps://", 8) != 0 &&
	    strcmp(c->email_smtp_starttls, "required") != 0)
		return conf_errf(err, len, "%s: email.smtp.username is set but "
		    "email.smtp.starttls is \"%s\": AUTH needs TLS (starttls = "
		    "\"required\" or an smtps:// url)", file,
		    c->email_smtp_starttls);
	return 0;
}

/*
 * http.public_url goes as it is into the List-Unsubscribe header of
 * every mail with a category: a host, then visible ASCII only, nothing
 * that ends the <...> (a CR or LF would start a header of its own).
 */
static bool
conf_public_url_ok(const char *s)
{
	size_t skip = strncmp(s, "https://", 8) == 0 ? 8 : 7;

	if (s[skip] == '\0' || s[skip] == '/')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		    *s == '<' || *s == '>' || *s == '"')
			return false;
	return true;
}

/*
 * Reads email.unsubscribe_secret_file (one trailing newline dropped) at
 * load, so a reload or -t reports a missing or short secret by its key;
 * the public URL needs it, since every link must be signed.
 */
static int
conf_read_unsubscribe(struct conf *c, const char *file, char *err, size_t len)
{
	const char *f = c->email_unsubscribe_secret_file;
	size_t n = 0;

	if (*c->http_public_url != '\0' &&
	    strncmp(c->http_public_url, "https://", 8) != 0 &&
	    strncmp(c->http_public_url, "http://", 7) != 0)
		return conf_errf(err, len, "%s: http.public_url: must start "
		    "with https:// (or http://)", file);
	if (*c->http_public_url != '\0' &&
	    !conf_public_url_ok(c->http_public_url))
		return conf_errf(err, len, "%s: http.public_url: must be a "
		    "host and path of visible ASCII, without blanks, control "
		    "characters, <, > or \"", file);
	if (*f == '\0')
		return *c->http_public_url == '\0' ? 0 : conf_errf(err, len,
		    "%s: http.public_url is set but email.unsubscribe_secret_file "
		    "is not: unsubscribe links must be signed", file);
	if ((c->email_unsubscribe_secret = conf_file_read(file,
	    "email.unsubscribe_secret_file", f, &n, err, len)) == NULL)
		return -1;
	if (n > 0 && c->email_unsubscribe_secret[n - 1] == '\n')
		n--;
	c->email_unsubscribe_secret_len = n;
	if (n < 16)
		return conf_errf(err, len, "%s: email.unsubscribe_secret_file "
		    "%s: the secret is shorter than 16 bytes", file, f);
	return 0;
}

/* Loads defaults, then the file (if any), then the environment. */
struct conf *
conf_load(const char *path, char *err, size_t len)
{
	const struct conf_key *k;
	struct conf *c;
	char why[256];

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		conf_errf(err, len, "out of memory");
		return NULL;
	}
	for (k = conf_keys; k->name != NULL; k++)
		if (conf_set_text(c, k, k->def, why, sizeof(why)) == -1) {
			conf_errf(err, len, "built-in default of %s: %s",
			    k->name, why);
			goto fail;
		}
	if (path != NULL && ((c->path = strdup(path)) == NULL ||
	    conf_read_file(c, path, err, len) == -1))
		goto fail;
	if (conf_read_env(c, err, len) == -1 ||
	    conf_check(c, path ? path : "(defaults)", err, len) == -1 ||
	    conf_kafka_check(c, path ? path : "(defaults)", err, len) == -1 ||
	    conf_rate_load(c, path ? path : "(defaults)", err, len) == -1 ||
	    conf_dkim_load(c, path ? path : "(defaults)", err, len) == -1 ||
	    conf_webhook_check(c, path ? path : "(defaults)", err, len) == -1 ||
	    conf_read_unsubscribe(c, path ? path : "(defaults)", err, len) == -1)
		goto fail;
	return c;
fail:
	conf_free(c);
	return NULL;
}

void
conf_free(struct conf *c)
{
	const struct conf_key *k;

	if (c == NULL)
		return;
	for (k = conf_keys; k->name != NULL; k++) {
		if (k->type == CONF_STRING) {
			char **p = conf_field(c, k);
			free(*p);
		} else if (k->type == CONF_STRLIST)
			conf_strlist_free(conf_field(c, k));
	}
	free(c->dkim_key);
	conf_webhook_free(c);
	if (c->email_unsubscribe_secret != NULL)
		explicit_bzero(c->email_unsubscribe_secret,
		    c->email_unsubscribe_secret_len);
	free(c->email_unsubscribe_secret);
	free(c->path);
	free(c);
}

/*
 * Fills msg and returns 1 when a secret file (the SMTP password, the
 * DKIM key, the unsubscribe secret) can be read by its group or by
 * others: the secret leaks to every local user.  0 when all are private,
 * unset or absent (the mailer reports an unreadable password;
 * conf_dkim_load a missing key, conf_read_unsubscribe a missing secret).
 */
int
conf_check_secret_modes(const struct conf *c, char *msg, size_t len)
{
	const char *key[3] = { "email.smtp.password_file",
	    "email.dkim.key_file", "email.unsubscribe_secret_file" };
	const char *f[3] = { c->email_smtp_password_file,
	    c->email_dkim_key_file, c->email_unsubscribe_secret_file };
	struct stat st;
	int i;

	for (i = 0; i < 3; i++) {
		if (*f[i] == '\0' || stat(f[i], &st) == -1 ||
		    (st.st_mode & (S_IRGRP | S_IROTH)) == 0)
			continue;
		snprintf(msg, len, "%s %s is readable by its group or others "
		    "(mode %04o): chmod 600 it", key[i], f[i],
		    (unsigned)(st.st_mode & 07777));
		return 1;
	}
	return conf_webhook_secret_modes(c, msg, len);
}

/* Tells whether two snapshots want the same listen socket. */
bool
conf_same_listen(const struct conf *a, const struct conf *b)
{
	return a->http_port == b->http_port &&
	    strcmp(a->http_listen, b->http_listen) == 0;
}
