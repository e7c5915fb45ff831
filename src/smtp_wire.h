/*
 * smtp_wire.h - the bytes of an SMTP transaction, without I/O: reading
 * the relay's replies (RFC 5321 4.2) and dot-stuffing a message (4.5.2).
 * Pure, so hostile replies have a unit test.
 */
#ifndef NOTIFYD_SMTP_WIRE_H
#define NOTIFYD_SMTP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

/* RFC 5321 allows 512 octets a reply line; relays add text, be generous. */
#define SMTP_LINE_MAX	2048
/* A reply of more lines is not a reply to MAIL, RCPT, DATA or the dot. */
#define SMTP_LINES_MAX	64

struct smtp_reply {
	int		 code;		/* 200..599 once done; 0 before */
	int		 lines;
	bool		 done;
	char		 line[256];	/* its last line, without CR LF, cut */
	char		 first[256];	/* its first line, the same way */
	const char	*error;		/* why it is malformed (static text) */
};

void	 smtp_reply_init(struct smtp_reply *);
ssize_t	 smtp_reply_feed(struct smtp_reply *, const char *, size_t);
void	 smtp_dot_stuff(struct buf *, const char *msg, size_t len);

#endif
