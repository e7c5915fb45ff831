/*
 * conf.h - the configuration snapshot.
 *
 * One key table (conf.c) describes every key: type, default, bounds
 * and a line of help (every key may change on reload).  A snapshot is
 * immutable once loaded; reload builds a whole new one.
 */
#ifndef NOTIFYD_CONF_H
#define NOTIFYD_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONF_ERRLEN 512

struct conf_strlist {
	int	 n;
	char	**v;
};

/* One of webhook.endpoints (conf_webhook.c); secrets read at load. */
struct conf_webhook_secret {
	unsigned char	 key[64];	/* the bytes after whsec_, decoded */
	size_t		 len;
};

struct conf_webhook_endpoint {
	char		*name;
	char		*url;
	double		 timeout;	/* seconds for the whole request */
	char		**secret_files;
	struct conf_webhook_secret *secrets;	/* one per file, same order */
	int		 nsecrets;
};

struct conf {
	char	*path;			/* file it was read from, or NULL */
	double	 shutdown_timeout;

	char	*database_conninfo;
	bool	 database_migrate_on_start;
	char	*database_migrations_dir;
	int	 database_pool;
	int	 database_audit_pool;
	double	 database_pool_timeout;
	int	 database_connect_timeout;
	double	 database_statement_timeout;
	double	 database_worker_statement_timeout;

	char	*kafka_brokers;
	struct conf_strlist kafka_properties;	/* "key=value" pairs */

	char	*http_listen;
	int	 http_port;
	int	 http_processes;
	int	 http_threads;
	int	 http_max_connections;
	int	 http_max_connections_per_ip;
	double	 http_header_timeout;
	int	 http_max_body;
	int	 http_max_template;
	int	 http_backlog;
	double	 http_kafka_ack_timeout;
	struct conf_strlist http_tokens;	/* "token:scope,scope" */
	char	*http_public_url;

	bool	 email_enabled;
	int	 email_workers;
	char	*email_topic;
	char	*email_group_id;
	char	*email_from;
	struct conf_strlist email_allowed_from;	/* "a@b" or "@b" */
	bool	 email_smtputf8;
	int	 email_max_content;
	double	 email_rate_limit;
	double	 email_lease;
	int	 email_batch;
	char	*email_schedule_horizon;
	double	 email_schedule_scan_interval;
	char	*email_smtp_url;
	char	*email_smtp_starttls;
	char	*email_smtp_ca_file;
	char	*email_smtp_username;
	char	*email_smtp_password_file;
	char	*email_unsubscribe_secret_file;
	char	*email_unsubscribe_secret;	/* its bytes, read at load */
	size_t	 email_unsubscribe_secret_len;
	double	 email_smtp_connect_timeout;
	double	 email_smtp_timeout;
	bool	 email_smtp_pipelining;
	double	 email_retry_initial;
	double	 email_retry_multiplier;
	double	 email_retry_max_delay;
	int	 email_retry_max_attempts;
	double	 email_retry_jitter;
	char	*email_user_rate;	/* "N/unit"; "" = off */
	char	*email_dkim_domain;	/* "" = no signing */
	char	*email_dkim_selector;
	char	*email_dkim_key_file;
	struct conf_strlist email_dkim_headers;
	/* Not keys: what conf_load derived from the keys above. */
	int	 user_rate_limit;	/* 0 = off */
	int	 user_rate_window;	/* seconds */
	char	*dkim_key;		/* key_file's PEM text; NULL = off */

	bool	 audit_enabled;
	char	*audit_group_id;
	char	*audit_topics;
	char	*audit_exclude;
	int	 audit_metadata_refresh;
	char	*audit_start_from;
	int	 audit_batch_size;
	int	 audit_batch_linger;
	char	*audit_partition;
	char	*audit_retention;
	bool	 audit_synchronous_commit;

	bool	 sweeper_enabled;
	double	 sweeper_interval;
	double	 sweeper_pending_after;
	int	 sweeper_max_requeues;
	double	 sweeper_max_delay;
	int	 sweeper_batch;

	int	 webhook_workers;
	char	*webhook_topic;
	char	*webhook_group_id;
	double	 webhook_timeout;
	double	 webhook_connect_timeout;
	int	 webhook_max_body;
	int	 webhook_max_response;
	char	*events_endpoint;	/* "" = no delivery events */
	bool	 events_attempts;
	int	 events_batch;
	double	 events_poll_interval;
	/* Not keys: webhook.endpoints, a list of groups (conf_webhook.c). */
	struct conf_webhook_endpoint *webhook_endpoints;
	int	 webhook_nendpoints;

	int	 inbox_workers;
	char	*inbox_topic;
	char	*inbox_group_id;
	double	 inbox_heartbeat;

	char	*log_level;
	char	*log_format;
};

enum conf_type {
	CONF_BOOL,
	CONF_INT,
	CONF_FLOAT,
	CONF_STRING,
	CONF_STRLIST,
};

struct conf_key {
	const char	*name;		/* dotted path, e.g. "email.smtp.url" */
	enum conf_type	 type;
	size_t		 off;		/* offset in struct conf */
	const char	*def;		/* default, as text */
	double		 min, max;	/* bounds for INT and FLOAT */
	const char	*choices;	/* "a|b|c" for enumerated strings */
	const char	*help;
};

extern const struct conf_key conf_keys[];
extern const struct conf *conf;		/* the current snapshot */
/* An audit.retention span as a PostgreSQL interval: 1, 0 when empty,
 * -1 when malformed. */
int	 conf_span_parse(const char *s, char *out, size_t len);
/* email.schedule_horizon in seconds; -1 when malformed. */
double	 conf_span_seconds(const char *s);

struct conf	*conf_load(const char *path, char *err, size_t errlen)
		    __attribute__((warn_unused_result));
void		 conf_free(struct conf *);
const char	*conf_env_name(const struct conf_key *, char *, size_t);
int		 conf_env_unknown(char *const *envp, char *err, size_t errlen)
		    __attribute__((warn_unused_result));
const struct conf_key *conf_key_find(const char *);
bool		 conf_same_listen(const struct conf *, const struct conf *);
int		 conf_dump(FILE *, const struct conf *)
		    __attribute__((warn_unused_result));
int		 conf_dump_keys(FILE *)
		    __attribute__((warn_unused_result));
const char	*conf_alias(int, const char **key);
int		 conf_rate_parse(const char *, int *limit, int *window)
		    __attribute__((warn_unused_result));
int		 conf_rate_load(struct conf *, const char *file, char *err,
		    size_t len) __attribute__((warn_unused_result));
/* conf_file.c: the module's error formatter (returns -1), and the
 * bounded reader of a file a key names (errors name file, key, path). */
int		 conf_errf(char *err, size_t len, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
char		*conf_file_read(const char *file, const char *key,
		    const char *path, size_t *lenp, char *err, size_t len)
		    __attribute__((warn_unused_result));
int		 conf_dkim_load(struct conf *, const char *file, char *err,
		    size_t len) __attribute__((warn_unused_result));
int		 conf_kafka_check(const struct conf *, const char *file,
		    char *err, size_t len) __attribute__((warn_unused_result));
int		 conf_webhook_set(struct conf *, const void *setting,
		    const char *file, char *err, size_t len)
		    __attribute__((warn_unused_result));
int		 conf_webhook_check(struct conf *, const char *file,
		    char *err, size_t len) __attribute__((warn_unused_result));
void		 conf_webhook_free(struct conf *);
int		 conf_webhook_secret_modes(const struct conf *, char *msg,
		    size_t len) __attribute__((warn_unused_result));
const struct conf_webhook_endpoint *conf_webhook_find(const struct conf *,
		    const char *name);
int		 conf_check_secret_modes(const struct conf *, char *msg,
		    size_t len) __attribute__((warn_unused_result));

#endif
