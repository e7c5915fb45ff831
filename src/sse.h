/*
 * sse.h - Server-Sent Events framing (WHATWG HTML, "server-sent
 * events"): events and comments as bytes, and the Last-Event-ID a
 * reconnecting client sends.  Pure code: no I/O, no logging.
 */
#ifndef NOTIFYD_SSE_H
#define NOTIFYD_SSE_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define SSE_ID_MAX	INT64_MAX

/* Appends "id: ID\nevent: EVENT\ndata: ...\n\n"; id < 0: no id line. */
void	 sse_event(struct buf *, int64_t id, const char *event,
	    const char *data, size_t len);
/* Appends a comment (": TEXT\n\n"), which clients ignore: a heartbeat. */
void	 sse_comment(struct buf *, const char *text);
/* Appends "retry: MS\n\n": how long a client waits before reconnecting. */
void	 sse_retry(struct buf *, long ms);

/*
 * A Last-Event-ID header: absent or empty gives *id = -1; else decimal
 * digits only, 1 to 19 of them, at most SSE_ID_MAX.  -1 when malformed.
 */
int	 sse_last_id(const char *value, int64_t *id)
	    __attribute__((warn_unused_result));

#endif
