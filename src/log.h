/*
 * log.h - one line per event on stderr, text or JSON.
 */
#ifndef NOTIFYD_LOG_H
#define NOTIFYD_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERROR = 3, LOG_LVL_WARNING = 4, LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7 };

void	log_init(const char *role, const char *level, const char *format);
void	log_set_role(const char *role);
int	log_level_parse(const char *);

#define LOG_PRINTF __attribute__((format(printf, 1, 2)))
void	log_warn(const char *, ...) LOG_PRINTF;	/* appends strerror(errno) */
void	log_warnx(const char *, ...) LOG_PRINTF;
void	log_error(const char *, ...) LOG_PRINTF;
void	log_info(const char *, ...) LOG_PRINTF;
void	log_debug(const char *, ...) LOG_PRINTF;
void	fatal(const char *, ...) LOG_PRINTF __attribute__((noreturn));
void	fatalx(const char *, ...) LOG_PRINTF __attribute__((noreturn));

#endif
