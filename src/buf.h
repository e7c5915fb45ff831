/*
 * buf.h - one growable byte buffer, used wherever text or binary data is
 * built piece by piece (COPY data, array literals, the metrics page).
 * No policy, no logging.
 */
#ifndef NOTIFYD_BUF_H
#define NOTIFYD_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char	*p;
	size_t	 len, cap;
	bool	 oom;		/* an append failed; buf_str returns NULL */
};

int	 buf_reserve(struct buf *, size_t n) __attribute__((warn_unused_result));
void	 buf_add(struct buf *, const void *, size_t);
void	 buf_addc(struct buf *, char);
void	 buf_printf(struct buf *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
const char *buf_str(struct buf *);	/* NUL-terminated; NULL after oom */
void	 buf_reset(struct buf *);	/* empty, memory kept, oom cleared */
void	 buf_free(struct buf *);

#endif
