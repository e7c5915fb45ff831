/*
 * log.c - logging to stderr, one write(2) per line.
 *
 * Text lines carry a syslog priority prefix ("<6>") that journald
 * understands; JSON lines are one object each.  Every line names the
 * role and pid.  A single write keeps lines from several processes
 * sharing stderr whole.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static char	log_role[32] = "master";
static int	log_max = LOG_LVL_INFO;
static int	log_json;

int
log_level_parse(const char *s)
{
	if (s == NULL)
		return LOG_LVL_INFO;
	if (strcmp(s, "debug") == 0)
		return LOG_LVL_DEBUG;
	if (strcmp(s, "warning") == 0)
		return LOG_LVL_WARNING;
	if (strcmp(s, "error") == 0)
		return LOG_LVL_ERROR;
	return LOG_LVL_INFO;
}

void
log_init(const char *role, const char *level, const char *format)
{
	if (role != NULL)
		log_set_role(role);
	log_max = log_level_parse(level);
	log_json = format != NULL && strcmp(format, "json") == 0;
}

void
log_set_role(const char *role)
{
	snprintf(log_role, sizeof(log_role), "%s", role);
}

static const char *
log_level_name(int lvl)
{
	switch (lvl) {
	case LOG_LVL_ERROR:	return "error";
	case LOG_LVL_WARNING:	return "warning";
	case LOG_LVL_DEBUG:	return "debug";
	default:		return "info";
	}
}

/* Escapes msg as a JSON string body into buf. */
static size_t
log_json_escape(char *buf, size_t len, const char *msg)
{
	size_t j = 0;
	const unsigned char *p;

	for (p = (const unsigned char *)msg; *p != '\0' && j + 7 < len; p++) {
		if (*p == '"' || *p == '\\') {
			buf[j++] = '\\';
			buf[j++] = (char)*p;
		} else if (*p < 0x20)
			j += (size_t)snprintf(buf + j, len - j, "\\u%04x", *p);
		else
			buf[j++] = (char)*p;
	}
	buf[j] = '\0';
	return j;
}

static void
log_emit(int lvl, const char *msg)
{
	char line[4096], esc[3500], ts[40];
	struct timeval tv;
	struct tm tm;
	int n;

	if (lvl > log_max)
		return;
	if (log_json) {
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		log_json_escape(esc, sizeof(esc), msg);
		n = snprintf(line, sizeof(line), "{\"ts\":\"%s.%03dZ\","
		    "\"level\":\"%s\",\"role\":\"%s\",\"pid\":%d,\"msg\":\"%s\"}\n",
		    ts, (int)(tv.tv_usec / 1000), log_level_name(lvl), log_role,
		    (int)getpid(), esc);
	} else
		n = snprintf(line, sizeof(line), "<%d>notifyd %s[%d]: %s\n", lvl,
		    log_role, (int)getpid(), msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

static void
log_vemit(int lvl, int with_errno, const char *fmt, va_list ap)
{
	char msg[3000];
	int saved = errno, n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno && n >= 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s",
		    strerror(saved));
	log_emit(lvl, msg);
	errno = saved;
}

#define LOG_FN(name, lvl, err)				\
void name(const char *fmt, ...)				\
{							\
	va_list ap;					\
	va_start(ap, fmt);				\
	log_vemit(lvl, err, fmt, ap);			\
	va_end(ap);					\
}
LOG_FN(log_warn, LOG_LVL_WARNING, 1)
LOG_FN(log_warnx, LOG_LVL_WARNING, 0)
LOG_FN(log_error, LOG_LVL_ERROR, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LVL_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
