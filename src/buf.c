/*
 * buf.c - the growable buffer.  Capacity doubles; one byte beyond len is
 * always reserved so buf_str can terminate in place.  An append that
 * cannot allocate sets oom and the later appends do nothing, so a
 * builder checks once at the end.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_FIRST 256

/* Makes room for n more bytes (and a NUL); -1 sets oom. */
int
buf_reserve(struct buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : BUF_FIRST;
	char *np;

	if (n >= (size_t)-1 / 2 - b->len) {	/* no sum below may wrap */
		b->oom = true;
		return -1;
	}
	if (b->len + n < b->cap)
		return 0;
	while (cap <= b->len + n)
		cap *= 2;
	if ((np = realloc(b->p, cap)) == NULL) {
		b->oom = true;
		return -1;
	}
	b->p = np;
	b->cap = cap;
	return 0;
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->oom || buf_reserve(b, n) == -1)
		return;
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if (buf_reserve(b, (size_t)n) == -1)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* The contents as a C string; "" when nothing was added. */
const char *
buf_str(struct buf *b)
{
	if (b->oom || buf_reserve(b, 0) == -1)
		return NULL;
	b->p[b->len] = '\0';
	return b->p;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	b->oom = false;
}

void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}
