/*
 * channel.h - one delivery channel behind one small interface.
 *
 * What differs between email, the in-app inbox and webhooks is four
 * things: which request fields a notification of that type needs
 * (validate), what goes on the wire for a stored row (build), putting
 * it there (send), and what the far side's answer means (classify).
 * Everything else is the pipeline's and is shared by all channels: the
 * notification row, the Kafka queue, claiming, the retry schedule,
 * history, the sweeper, delivery events.
 *
 * Each channel is one file, channel_<name>.c, that defines one
 * `const struct channel channel_<name>`; channel.c lists them.  Adding
 * SMS or push is one more such file with its provider, plus its line in
 * channel.c's table: no change to the api, the queue or the workers.
 *
 * validate runs in the api process on the parsed request; build, send
 * and classify run in a worker process.  None of them logs: they fill
 * an error text or a struct channel_attempt, and the caller logs once.
 */
#ifndef NOTIFYD_CHANNEL_H
#define NOTIFYD_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct conf;
struct notif_error;

/* A channel's verdict on one attempt. */
enum channel_verdict {
	CHANNEL_SENT,		/* delivered: final */
	CHANNEL_TEMPORARY,	/* retried with the backoff (or Retry-After) */
	CHANNEL_PERMANENT,	/* final failure: never requeued */
};

/* What one attempt produced, in channel-neutral terms (history rows). */
struct channel_attempt {
	int	 code;		/* SMTP reply code, HTTP status; 0: none */
	char	 text[256];	/* UTF-8-safe, cleaned excerpt of the answer */
	double	 retry_after;	/* seconds the far side asked for; < 0: none */
	char	 ref[256];	/* the provider's id (Message-ID...); "" none */
	bool	 permanent;	/* no code says so, yet retrying cannot help
				   (a relay without SMTPUTF8, a bad URL) */
	bool	 recipient_gone; /* the answer says the recipient does not
				   exist: the pipeline suppresses it */
};

/* A stored notification as a worker claimed it. */
struct channel_job {
	int64_t		 id;
	int64_t		 created_us;	/* row's created_at, unix microseconds */
	int		 attempt;	/* 1 for the first */
	const json_t	*row;		/* the row's columns, by name, as
					   strings or null (mailer_sql_claim) */
};

struct channel {
	const char	*type;		/* the request's "type", upper case */

	/*
	 * The request's channel-specific fields: 0, or -1 with e filled
	 * (status, field, message).  Common fields (type, userId, title,
	 * content, metadata) are checked before this is called.  The
	 * conf is NULL in unit tests of syntax alone.
	 */
	int		 (*validate)(json_t *body, const struct conf *,
			    struct notif_error *e);

	/*
	 * Worker side; ctx is the channel's per-process state (may be NULL).
	 * open: NULL with err when the channel cannot work (a config error);
	 * open and close may be NULL for a channel without such state.
	 * build: 0 with *msg malloc'ed (err non-empty: a warning to log);
	 * -1 when this row can never be built (err says why: a permanent
	 * failure, nothing sent); -2 out of memory.
	 * send: always fills the attempt; 0 when it went on the wire, -1
	 * when it did not (the attempt's text says why).
	 */
	void		*(*open)(const struct conf *, char *err, size_t len);
	void		 (*close)(void *ctx);
	int		 (*build)(void *ctx, const struct channel_job *,
			    char **msg, size_t *len, char *err, size_t errlen);
	int		 (*send)(void *ctx, const struct channel_job *,
			    const char *msg, size_t len,
			    struct channel_attempt *);
	enum channel_verdict (*classify)(const struct channel_attempt *);
	/*
	 * May be NULL.  Called before send with the job the worker will
	 * send next on this channel, or NULL: a channel may start that
	 * job's exchange with this send (SMTP PIPELINING).  Only a hint: a
	 * different next send must still work.
	 */
	void		 (*ahead)(void *ctx, const struct channel_job *next);

	/* The Kafka topic its rows are queued on; NULL: email.topic. */
	const char	*(*topic)(const struct conf *);
};

/* The channel for a request's type (case-insensitive); NULL: unknown. */
const struct channel *channel_find(const char *type);

/* The topic a stored row of that type is queued on; NULL: email.topic. */
const char	*channel_topic(const struct conf *, const char *type);

/* "EMAIL, IN_APP, WEBHOOK": for the 422 that names what is accepted. */
const char	*channel_types(void);

#endif
