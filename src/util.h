/*
 * util.h - tiny helpers with no policy.
 */
#ifndef NOTIFYD_UTIL_H
#define NOTIFYD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

double	 util_now(void);		/* CLOCK_MONOTONIC, seconds */
int64_t	 util_now_us(void);		/* CLOCK_MONOTONIC, microseconds */
double	 util_wall(void);		/* CLOCK_REALTIME, seconds */
void	 util_sleep(double seconds);
int	 util_set_nonblock(int fd) __attribute__((warn_unused_result));
int	 util_set_cloexec(int fd) __attribute__((warn_unused_result));
char	*util_read_file(const char *path, size_t max, size_t *len)
	    __attribute__((warn_unused_result));
double	 util_jitter(double value, double fraction);
bool	 util_has_ctl(const char *s);	/* CR, LF or other C0 but TAB */
size_t	 util_visible_len(const char *s);	/* leading 0x20-0x7e bytes */
bool	 util_ct_equal(const void *a, size_t alen, const void *b, size_t blen);
size_t	 util_json_numlen(const char *p, size_t len, bool *real);

#endif
