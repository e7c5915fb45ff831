/*
 * smtp_wire.c - reading replies and writing message data, as bytes.
 *
 * A relay's reply is trusted for nothing but its shape: three digits,
 * 2 to 5 first, then a space, a hyphen (more lines follow) or the end
 * of the line; every line of one reply has the same code; a line has at
 * most SMTP_LINE_MAX bytes and a reply at most SMTP_LINES_MAX lines.
 * Anything else is a malformed reply, and the caller drops the
 * connection: after it, which reply answers which command is unknown.
 * The text of a line is kept as sent (NUL and all); the mailer cleans it
 * before it is logged or stored.
 */
#include "config.h"

#include <string.h>

#include "smtp_wire.h"

void
smtp_reply_init(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
}

static bool
smtp_digit(char c, char lo)
{
	return c >= lo && c <= '9';
}

/* One line, CR LF (or a bare LF) stripped: its code, or -1. */
static int
smtp_line_code(const char *l, size_t n, bool *more)
{
	if (n < 3 || !smtp_digit(l[0], '2') || l[0] > '5' ||
	    !smtp_digit(l[1], '0') || !smtp_digit(l[2], '0'))
		return -1;
	if (n > 3 && l[3] != ' ' && l[3] != '-')
		return -1;
	*more = n > 3 && l[3] == '-';
	return (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
}

static ssize_t
smtp_reply_bad(struct smtp_reply *r, const char *why)
{
	r->error = why;
	return -1;
}

/*
 * Consumes the complete lines at the start of buf, up to the end of the
 * reply.  Returns the bytes consumed (0: no complete line yet; the
 * caller reads more, or gives up when SMTP_LINE_MAX bytes hold no end of
 * line), or -1 for a malformed reply (r->error says how).  r->done is
 * set at the reply's last line.
 */
ssize_t
smtp_reply_feed(struct smtp_reply *r, const char *buf, size_t len)
{
	size_t used = 0;

	while (!r->done && used < len) {
		const char *l = buf + used, *nl;
		size_t n, keep;
		bool more;
		int code;

		nl = memchr(l, '\n', len - used);
		if (nl == NULL) {
			/* the longest line still to come: its text and CR */
			if (len - used > SMTP_LINE_MAX + 1)
				return smtp_reply_bad(r, "reply line too long");
			break;
		}
		n = (size_t)(nl - l);
		used += n + 1;
		if (n > 0 && l[n - 1] == '\r')
			n--;
		if (n > SMTP_LINE_MAX)
			return smtp_reply_bad(r, "reply line too long");
		if ((code = smtp_line_code(l, n, &more)) == -1)
			return smtp_reply_bad(r, "malformed reply line");
		if (r->lines > 0 && code != r->code)
			return smtp_reply_bad(r, "reply lines disagree on "
			    "their code");
		if (++r->lines > SMTP_LINES_MAX)
			return smtp_reply_bad(r, "reply of too many lines");
		r->code = code;
		keep = n < sizeof(r->line) - 1 ? n : sizeof(r->line) - 1;
		memcpy(r->line, l, keep);
		r->line[keep] = '\0';
		if (r->lines == 1)
			memcpy(r->first, r->line, keep + 1);
		r->done = !more;
	}
	return (ssize_t)used;
}

/*
 * The message as DATA's content: a dot starting a line doubled, the
 * last line ended, then the lone dot.  A line starts after any LF, not
 * only after CR LF: a relay that takes a bare LF as a line's end must
 * not find "LF . CR LF" (SMTP smuggling) in what we send.
 */
void
smtp_dot_stuff(struct buf *b, const char *msg, size_t len)
{
	size_t i = 0;

	if (buf_reserve(b, len + len / 64 + 8) == -1)
		return;		/* b->oom is set; the caller checks */
	while (i < len) {
		const char *nl = memchr(msg + i, '\n', len - i);
		size_t end = nl != NULL ? (size_t)(nl - msg) + 1 : len;

		if (msg[i] == '.')
			buf_addc(b, '.');
		buf_add(b, msg + i, end - i);
		i = end;
	}
	if (len < 2 || msg[len - 2] != '\r' || msg[len - 1] != '\n')
		buf_add(b, "\r\n", 2);
	buf_add(b, ".\r\n", 3);
}
