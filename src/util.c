/*
 * util.c - clocks, file descriptors, small string checks.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

double
util_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t
util_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double
util_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps, resuming after signals so callers get the whole delay or a flag. */
void
util_sleep(double seconds)
{
	struct timespec ts;

	if (seconds <= 0)
		return;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

int
util_set_nonblock(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int
util_set_cloexec(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFD)) == -1)
		return -1;
	return fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

/*
 * Reads a whole small file into a NUL-terminated buffer; NULL with errno
 * EFBIG past max bytes, so a path named by mistake (a log, /dev/zero)
 * costs at most max, not all memory.
 */
char *
util_read_file(const char *path, size_t max, size_t *lenp)
{
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			if ((nb = realloc(buf, cap ? cap * 2 : 8192)) == NULL)
				goto fail;
			buf = nb;
			cap = cap ? cap * 2 : 8192;
		}
		if ((n = read(fd, buf + len, cap - len - 1)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			errno = EFBIG;
			goto fail;
		}
	}
	close(fd);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return buf;
fail:
	e = errno;
	if (buf != NULL)
		explicit_bzero(buf, cap);	/* it may hold a secret */
	free(buf);
	close(fd);
	errno = e;
	return NULL;
}

/* Spreads a delay by +/- fraction so retries of many workers do not align. */
double
util_jitter(double value, double fraction)
{
	double r = (double)random() / (double)RAND_MAX;	/* 0..1 */

	return value * (1.0 + fraction * (2.0 * r - 1.0));
}

bool
util_has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return true;
	return false;
}

/*
 * The length of s's leading visible ASCII (0x20-0x7e): s[n] is NUL when
 * all of s may be shown in a log line, a terminal or sd_notify's STATUS=
 * as it is (no CR, LF, ESC or byte that is not ASCII).
 */
size_t
util_visible_len(const char *s)
{
	size_t n = 0;

	while ((unsigned char)s[n] >= 0x20 && (unsigned char)s[n] < 0x7f)
		n++;
	return n;
}

/*
 * Compares a presented secret a with a known one b in time that depends
 * only on alen, the caller's own input: not on where the bytes first
 * differ nor on b's length, so response times do not reveal a bearer
 * token byte by byte (memcmp and strncmp stop at the first difference).
 */
bool
util_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	const volatile unsigned char *x = a, *y = b;
	size_t diff = alen ^ blen, i;

	if (blen == 0)
		return alen == 0;
	for (i = 0; i < alen; i++)
		diff |= (size_t)(x[i] ^ y[i % blen]);
	return diff == 0;
}

/*
 * The length of the JSON number (RFC 8259 grammar) at p, 0 when there
 * is none; *real (when not NULL) says it has a fraction or an exponent.
 * One scanner for the audit extractor and the audit page writer.
 */
size_t
util_json_numlen(const char *p, size_t len, bool *real)
{
	size_t i = 0, d;
	bool r = false;

	if (i < len && p[i] == '-')
		i++;
	if (i < len && p[i] == '0')
		i++;
	else {
		for (d = i; i < len && p[i] >= '0' && p[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	if (i < len && p[i] == '.') {
		r = true;
		for (d = ++i; i < len && p[i] >= '0' && p[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	if (i < len && (p[i] == 'e' || p[i] == 'E')) {
		r = true;
		if (++i < len && (p[i] == '+' || p[i] == '-'))
			i++;
		for (d = i; i < len && p[i] >= '0' && p[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	if (real != NULL)
		*real = r;
	return i;
}
