/*
 * webhook_reply.h - what an endpoint's answer means: the verdict on a
 * status, Retry-After, and the excerpt kept in history.  Pure code.
 */
#ifndef NOTIFYD_WEBHOOK_REPLY_H
#define NOTIFYD_WEBHOOK_REPLY_H

#include <stddef.h>
#include <time.h>

#include "channel.h"

/* Longest Retry-After honoured, seconds (a day: anything longer is a typo). */
#define WEBHOOK_RETRY_AFTER_MAX	86400.0

/* 2xx sent; 429, 5xx and no answer (0) temporary; all else permanent. */
enum channel_verdict webhook_reply_classify(const struct channel_attempt *);

/* A Retry-After value (delta-seconds or an HTTP-date) in seconds from
 * now, capped at WEBHOOK_RETRY_AFTER_MAX; -1 when absent or malformed. */
double	webhook_reply_retry_after(const char *value, time_t now);

/* The answer's first bytes as clean UTF-8 in out (cap bytes with NUL):
 * control characters and bad sequences escaped, never a cut sequence. */
void	webhook_reply_excerpt(const char *body, size_t len, char *out,
	    size_t cap);

#endif
