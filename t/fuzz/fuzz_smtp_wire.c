/*
 * fuzz_smtp_wire.c - the relay's replies and DATA's dot-stuffing
 * (src/smtp_wire.c).
 *
 * Properties: no memory error on any bytes; a reply read in pieces (the
 * first byte chooses their size, as reads split them) comes out the
 * same as read whole; a finished reply has a code of 200-599 and its
 * line starts with it; dot-stuffed data unstuffs to the input (its last
 * line ended) and holds no lone dot before the terminator.
 */
#include "config.h"

#include <stdbool.h>

#include "fuzz.h"
#include "smtp_wire.h"

#define FUZZ_REPLIES	64

struct fuzz_seen {
	int	 codes[FUZZ_REPLIES];
	int	 n;
	bool	 bad;		/* ended on a malformed reply */
};

static void
fuzz_check_reply(const struct smtp_reply *r)
{
	FUZZ_CHECK(r->code >= 200 && r->code <= 599, "code %d", r->code);
	FUZZ_CHECK(r->lines >= 1 && r->lines <= SMTP_LINES_MAX, "%d lines",
	    r->lines);
	FUZZ_CHECK(strlen(r->line) < sizeof(r->line), "line");
	FUZZ_CHECK(r->line[0] - '0' == r->code / 100 &&
	    r->line[1] - '0' == r->code / 10 % 10 &&
	    r->line[2] - '0' == r->code % 10, "line %.3s, code %d", r->line,
	    r->code);
}

/* Reads replies off p as the mailer does, step bytes a read. */
static void
fuzz_read(const char *p, size_t n, size_t step, struct fuzz_seen *s)
{
	char buf[SMTP_LINE_MAX + 2];
	size_t have = 0, off = 0;
	struct smtp_reply r;

	memset(s, 0, sizeof(*s));
	smtp_reply_init(&r);
	while (s->n < FUZZ_REPLIES) {
		ssize_t used = smtp_reply_feed(&r, buf, have);

		if (used == -1) {
			FUZZ_CHECK(r.error != NULL, "no reason");
			s->bad = true;
			return;
		}
		FUZZ_CHECK((size_t)used <= have, "used %zd of %zu", used, have);
		memmove(buf, buf + used, have - (size_t)used);
		have -= (size_t)used;
		if (r.done) {
			fuzz_check_reply(&r);
			s->codes[s->n++] = r.code;
			smtp_reply_init(&r);
			continue;
		}
		if (off == n || have == sizeof(buf))
			return;		/* no more bytes, or a line too long */
		{
			size_t take = n - off < step ? n - off : step;

			if (take > sizeof(buf) - have)
				take = sizeof(buf) - have;
			memcpy(buf + have, p + off, take);
			have += take;
			off += take;
		}
	}
}

static void
fuzz_stuffing(const char *p, size_t n)
{
	struct buf b = { 0 }, back = { 0 };
	const char *o;
	size_t i = 0, len;

	smtp_dot_stuff(&b, p, n);
	FUZZ_CHECK((o = buf_str(&b)) != NULL, "oom");
	len = b.len;
	FUZZ_CHECK(len >= 5 && memcmp(o + len - 5, "\r\n.\r\n", 5) == 0,
	    "no terminator");
	while (i < len) {
		const char *nl = memchr(o + i, '\n', len - i);
		size_t end = nl != NULL ? (size_t)(nl - o) + 1 : len;

		if (end - i == 3 && memcmp(o + i, ".\r\n", 3) == 0) {
			FUZZ_CHECK(end == len, "lone dot at %zu of %zu", i, len);
			break;
		}
		if (o[i] == '.') {
			FUZZ_CHECK(end - i >= 2 && o[i + 1] == '.',
			    "unstuffed dot at %zu", i);
			i++;
		}
		buf_add(&back, o + i, end - i);
		i = end;
	}
	if (n < 2 || p[n - 2] != '\r' || p[n - 1] != '\n') {
		FUZZ_CHECK(back.len == n + 2, "%zu back of %zu", back.len, n);
		FUZZ_CHECK(memcmp(back.p + n, "\r\n", 2) == 0, "no CR LF added");
	} else
		FUZZ_CHECK(back.len == n, "%zu back of %zu", back.len, n);
	FUZZ_CHECK(n == 0 || memcmp(back.p, p, n) == 0, "unstuffed differs");
	buf_free(&b);
	buf_free(&back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_seen whole, pieces;
	const char *p = (const char *)data + 1;
	size_t n;

	if (size == 0)
		return 0;
	n = size - 1;
	fuzz_read(p, n, n > 0 ? n : 1, &whole);
	fuzz_read(p, n, data[0] % 16 + 1, &pieces);
	FUZZ_CHECK(whole.n == pieces.n && whole.bad == pieces.bad,
	    "whole %d%s, in pieces %d%s", whole.n, whole.bad ? " bad" : "",
	    pieces.n, pieces.bad ? " bad" : "");
	FUZZ_CHECK(memcmp(whole.codes, pieces.codes,
	    sizeof(int) * (size_t)whole.n) == 0, "codes differ");
	fuzz_stuffing(p, n);
	return 0;
}
