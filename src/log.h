/*
 * log.h - one line per event on stderr, text or JSON.
 */
#ifndef NOTIFYD_LOG_H
#define NOTIFYD_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LVL_ERROR = 3, LOG_LVL_WARNING = 4, LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7 };

void	log_init(const char *role, const char *level, const char *format);
void	log_set_role(const char *role);
int	log_level_parse(const char *);
int	log_enabled(int lvl);

/*
 * Writes src escaped (control characters, backslash, invalid UTF-8 and
 * the invisible C1/separator/bidi characters as \n \r \t \\ or \xNN;
 * valid UTF-8 kept), NUL-terminated, truncated to fit dstlen (never
 * splitting an escape or a character); returns strlen(dst).  Pure.
 * Every log line's message goes through it.
 */
size_t	log_escape(char *dst, size_t dstlen, const char *src, size_t srclen);

/*
 * Per-event context of this thread (a notification id; a Kafka topic,
 * partition and offset): JSON lines carry each as its own member,
 * text lines end with " key=value".  Keys are the caller's lower_snake
 * literals (ts, level, role, pid and msg are refused); values are
 * escaped like the message.  Set it before the lines of one event,
 * clear it after: log_ctx_clear() forgets every key.
 */
#define LOG_CTX_MAX	4
void	log_ctx_str(const char *key, const char *value);
void	log_ctx_int(const char *key, long long value);
void	log_ctx_clear(void);

#define LOG_PRINTF __attribute__((format(printf, 1, 2)))
void	log_warn(const char *, ...) LOG_PRINTF;	/* appends strerror(errno) */
void	log_warnx(const char *, ...) LOG_PRINTF;
void	log_error(const char *, ...) LOG_PRINTF;
void	log_info(const char *, ...) LOG_PRINTF;
void	log_debug(const char *, ...) LOG_PRINTF;
void	fatal(const char *, ...) LOG_PRINTF __attribute__((noreturn));
void	fatalx(const char *, ...) LOG_PRINTF __attribute__((noreturn));

#endif
