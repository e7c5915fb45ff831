/*
 * http_stream.h - answers that stay open and are written to later
 * (http_stream.c): a Server-Sent Events stream is one.  The HTTP layer
 * knows no event format: a held stream is a byte queue that any thread
 * may append to, sent as it comes.
 */
#ifndef NOTIFYD_HTTP_STREAM_H
#define NOTIFYD_HTTP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <microhttpd.h>

struct http_stream;
struct http_streams;

/*
 * A held stream on conn, in set (http.c's http_hold makes one the
 * answer).  gone(arg) is called exactly once, on a server thread, when
 * the stream is over (the client left, the stream ended, the server
 * stops, or the answer was never sent); once it returns the stream is
 * freed and must not be used.  max_buffer caps the bytes waiting for a
 * slow client.  NULL when out of memory.
 */
struct http_stream *http_stream_new(struct http_streams *,
	    struct MHD_Connection *, size_t max_buffer, void (*gone)(void *),
	    void *arg) __attribute__((warn_unused_result));
/* libmicrohttpd's reader and free callbacks of a held stream. */
ssize_t	 http_stream_read(void *cls, uint64_t pos, char *out, size_t max);
void	 http_stream_free(void *cls);
/* Queues bytes; -1 when the stream has ended or would pass max_buffer
 * (it then ends after what is already queued). */
int	 http_stream_write(struct http_stream *, const void *, size_t)
	    __attribute__((warn_unused_result));
/* Ends the stream once what is queued is sent. */
void	 http_stream_end(struct http_stream *);
/* Seconds since the last write (or the opening). */
double	 http_stream_idle(struct http_stream *);

/* The server's set of held streams (http.c). */
struct http_streams *http_streams_new(void);
void	 http_streams_free(struct http_streams *);
/* Ends every stream, and every one opened from now on: the drain. */
void	 http_streams_end_all(struct http_streams *);
unsigned http_streams_count(struct http_streams *);

#endif
