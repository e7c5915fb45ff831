/*
 * mailer.h - the email worker role's own state, shared by its files
 * (mailer.c, mailer_kafka.c, mailer_claim.c, mailer_write.c) and no
 * one else: roles.h declares mailer_main.
 */
#ifndef NOTIFYD_MAILER_H
#define NOTIFYD_MAILER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "backoff.h"
#include "channel.h"
#include "db.h"
#include "db_pipe.h"
#include "mailpolicy.h"

/* Where a job stands between its sends and the outcome writes. */
enum mailer_job_state {
	MAILER_JOB_WAITING,	/* no result in hand: sent when due */
	MAILER_JOB_FINAL,	/* SENT or FAILED, not yet written */
	MAILER_JOB_RETRY,	/* a retry's result, not yet written */
};

struct mailer_job {
	int64_t		 id;
	int64_t		 created_us;
	json_t		*row;		/* the claimed row, for the channel */
	const struct channel *ch;	/* its type's; NULL: none here */
	int		 attempts;	/* all attempts so far, every round */
	int		 round;		/* attempts in this worker */
	int		 requeues;
	double		 due;		/* monotonic time of the next attempt */
	int32_t		 partition;
	int64_t		 offset;
	/* the latest attempt, until written */
	enum mailer_job_state state;
	bool		 stored;	/* its outcome is committed */
	bool		 writing;	/* in the outcome write in flight */
	const char	*status;
	bool		 permanent;
	double		 delay;
	struct channel_attempt att;
};

struct mailer_msg {
	int64_t		id;
	int32_t		partition;
	int64_t		offset;
};

struct mailer {
	rd_kafka_t	*rk;
	PGconn		*db;
	struct mailer_channel {		/* opened: email at start, others */
		const struct channel *ch;	/* at their first row */
		void	*ctx;
	}		 chans[8];
	size_t		 nchans;
	struct mailer_job *jobs;
	size_t		 njobs, cap;
	struct mailpolicy policy;	/* email.retry.*, sweeper.* */
	size_t		 batch;		/* email.batch */
	struct mailer_msg *msgs;	/* read, not yet claimed: batch of them */
	size_t		 nmsgs;
	bool		*used;		/* claim rows matched: batch of them */
	char		 owner[96];
	struct db_link	 link;		/* owns db */
	double		 renew_at;	/* when held leases need extending */
	double		 write_at;	/* when a failed outcome write is retried */
	struct backoff	 write_backoff;
	/* statements sent ahead (db_pipe), read by mailer_collect */
	bool		 writing;	/* the outcome write of jobs[].writing */
	bool		 claiming;	/* the claim of msgs */
	struct db_pipe_stmt claim_stmt, outcome_stmt;	/* prepared once */
};

/* mailer.c: the loop */
void		 mailer_log_ctx(int64_t id, int32_t partition, int64_t offset);
void		 mailer_job_clear(struct mailer_job *);
bool		 mailer_db(struct mailer *);
int		 mailer_collect(struct mailer *);

/* mailer_kafka.c: the email topic */
rd_kafka_t	*mailer_consumer(char *err, size_t len);
void		 mailer_store_offset(struct mailer *, int32_t partition,
		    int64_t offset);
size_t		 mailer_poll(struct mailer *, struct mailer_msg *msgs,
		    size_t max, int timeout_ms);

/* mailer_claim.c: claims and leases */
void		 mailer_claim_prepare(struct mailer *);
void		 mailer_claim_apply(struct mailer *, const PGresult *);
void		 mailer_claim_ahead(struct mailer *);
void		 mailer_renew(struct mailer *);
void		 mailer_release(struct mailer *);

/* mailer_write.c: outcomes */
void		 mailer_write_prepare(struct mailer *);
void		 mailer_outcome_applied(struct mailer *);
int		 mailer_write_finish(struct mailer *, int rc, const char *err);
int		 mailer_write_outcomes(struct mailer *);
void		 mailer_write_ahead(struct mailer *);

#endif
