/*
 * sse.c - Server-Sent Events framing: what goes on the wire of a
 * text/event-stream, and the reading of the Last-Event-ID header.
 *
 * A data field may not hold a line break (a client would end the field
 * there), so data with CR, LF or CRLF inside is split over several
 * "data:" lines, which the client joins back with LF.  The event name
 * and comment are the caller's literals; CR and LF in them are dropped
 * all the same, so no caller can end an event early.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sse.h"

/* Appends s without CR or LF. */
static void
sse_add_line(struct buf *b, const char *s)
{
	size_t n;

	while (*s != '\0') {
		n = strcspn(s, "\r\n");
		buf_add(b, s, n);
		s += n;
		s += strspn(s, "\r\n");
	}
}

/* "data: " lines for data[0..len), one per line of it (CRLF, CR or LF
 * end a line; a break at the very end gives an empty last line). */
static void
sse_add_data(struct buf *b, const char *data, size_t len)
{
	size_t i = 0, n;
	int more = 1;

	while (more) {
		n = 0;
		while (i + n < len && data[i + n] != '\r' && data[i + n] != '\n')
			n++;
		buf_add(b, "data: ", 6);
		buf_add(b, data + i, n);
		buf_addc(b, '\n');
		i += n;
		more = i < len;
		if (i < len && data[i] == '\r' && i + 1 < len &&
		    data[i + 1] == '\n')
			i += 2;
		else if (i < len)
			i++;
	}
}

void
sse_event(struct buf *b, int64_t id, const char *event, const char *data,
    size_t len)
{
	if (id >= 0)
		buf_printf(b, "id: %lld\n", (long long)id);
	if (event != NULL) {
		buf_add(b, "event: ", 7);
		sse_add_line(b, event);
		buf_addc(b, '\n');
	}
	sse_add_data(b, data, len);
	buf_addc(b, '\n');
}

void
sse_comment(struct buf *b, const char *text)
{
	buf_addc(b, ':');
	if (*text != '\0')
		buf_addc(b, ' ');
	sse_add_line(b, text);
	buf_add(b, "\n\n", 2);
}

void
sse_retry(struct buf *b, long ms)
{
	buf_printf(b, "retry: %ld\n\n", ms < 0 ? 0 : ms);
}

int
sse_last_id(const char *v, int64_t *id)
{
	char *end;
	long long n;
	size_t len;

	*id = -1;
	if (v == NULL || *v == '\0')
		return 0;
	len = strlen(v);
	if (len > 19 || strspn(v, "0123456789") != len)
		return -1;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < 0)
		return -1;
	*id = n;
	return 0;
}
