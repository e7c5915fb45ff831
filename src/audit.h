/*
 * audit.h - the audit role's batch, shared by audit.c (the consumer)
 * and audit_batch.c (its encoding and its database transaction).
 */
#ifndef NOTIFYD_AUDIT_H
#define NOTIFYD_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "buf.h"

/* The highest offset of one partition in the batch. */
struct audit_pos {
	rd_kafka_topic_t *rkt;
	int32_t		 partition;
	int64_t		 offset;
	int64_t		 first;		/* lowest offset in the batch */
	int64_t		 count;		/* rows of the partition in the batch */
	int64_t		 kafka_ts;	/* newest Kafka timestamp (ms), or -1 */
};

/*
 * Messages consumed but not yet committed.  The messages are kept (not
 * only their encoding) so a failed batch can be retried, re-encoded for
 * the replay path, or filtered when partitions are revoked.
 */
struct audit_batch {
	rd_kafka_message_t **msg;
	int		 n, cap;
	struct buf	 copy;			/* binary COPY data of msg[0..n) */
	struct audit_pos *pos;
	int		 npos, poscap, last;
	int64_t		 started_us;	/* when msg[0] arrived */
	PGconn		*stream;	/* COPY open on it, fed while filling */
	size_t		 sent;		/* bytes of copy already streamed */
	bool		 stream_failed;	/* redo it all at commit */
};

enum audit_commit {
	AUDIT_COMMITTED,
	AUDIT_COMMITTED_NEXT,	/* and the next batch's COPY is open */
	AUDIT_RETRY,		/* connection or server trouble: keep the batch */
};

int	 audit_batch_add(struct audit_batch *, rd_kafka_message_t *)
	    __attribute__((warn_unused_result));
void	 audit_batch_clear(struct audit_batch *);
void	 audit_batch_free(struct audit_batch *);
void	 audit_batch_stream(struct audit_batch *, PGconn *);
void	 audit_batch_unstream(struct audit_batch *);
void	 audit_batch_adopt(struct audit_batch *, PGconn *);
void	 audit_log_ctx(const rd_kafka_message_t *);
void	 audit_log_ctx_part(const char *topic, int32_t partition,
	    int64_t offset);
int	 audit_batch_drop(struct audit_batch *,
	    const rd_kafka_topic_partition_list_t *)
	    __attribute__((warn_unused_result));
enum audit_commit audit_batch_commit(PGconn *, const char *group,
	    struct audit_batch *, bool chain, int *recorded, char *err,
	    size_t len)
	    __attribute__((warn_unused_result));
/* audit_offsets.c, inside the batch's transaction. */
int	 audit_offsets_save(PGconn *, const char *group,
	    const struct audit_batch *, bool counted, char *err, size_t len)
	    __attribute__((warn_unused_result));
int	 audit_offsets_close_sql(PGconn *, const char *group,
	    const struct audit_batch *, struct buf *)
	    __attribute__((warn_unused_result));
int	 audit_guard(PGconn *, const struct audit_batch *, char *err,
	    size_t len) __attribute__((warn_unused_result));
int	 audit_offsets_load(PGconn *, const char *group,
	    rd_kafka_topic_partition_list_t *, int64_t missing, char *err,
	    size_t len) __attribute__((warn_unused_result));

#endif
