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
#include "utf8.h"

static char	log_role[32] = "master";
static int	log_max = LOG_LVL_INFO;
static int	log_json;

/* One context member: a string, or a number written bare in JSON. */
struct log_ctx {
	char	key[24];
	char	value[128];
	int	number;
};

/* Per thread: the audit and mailer roles log from several threads. */
static __thread struct log_ctx	log_ctx[LOG_CTX_MAX];
static __thread int		log_nctx;

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

/*
 * Valid characters that still mislead a reader: C1 controls, the line
 * and paragraph separators some viewers break on, and the bidi
 * overrides that reorder what is shown.
 */
static int
log_utf8_hidden(unsigned cp)
{
	return cp <= 0x9f || cp == 0x2028 || cp == 0x2029 ||
	    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Writes \xNN for byte c at e (4 bytes, no NUL). */
static void
log_hex(char *e, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	e[0] = '\\';
	e[1] = 'x';
	e[2] = hex[c >> 4];
	e[3] = hex[c & 15];
}

/* The piece for the character at p into e; returns the bytes it took. */
static size_t
log_escape_one(char e[16], const unsigned char *p, size_t left, size_t *k)
{
	size_t n, i;

	if (p[0] >= 0x20 && p[0] < 0x7f && p[0] != '\\') {
		e[0] = (char)p[0];
		*k = 1;
		return 1;
	}
	if (p[0] == '\\' || p[0] == '\n' || p[0] == '\r' || p[0] == '\t') {
		e[0] = '\\';
		e[1] = p[0] == '\n' ? 'n' : p[0] == '\r' ? 'r' :
		    p[0] == '\t' ? 't' : '\\';
		*k = 2;
		return 1;
	}
	n = p[0] >= 0x80 ? utf8_char((const char *)p, left) : 0;
	if (n > 0 && !log_utf8_hidden(utf8_codepoint((const char *)p, n))) {
		memcpy(e, p, n);
		*k = n;
		return n;
	}
	n = n ? n : 1;
	for (i = 0; i < n; i++)
		log_hex(e + 4 * i, p[i]);
	*k = 4 * n;
	return n;
}

/*
 * Writes src escaped so a log line stays one line of valid UTF-8 that
 * says only what it says: control characters, backslash and invalid
 * or hidden UTF-8 become \n \t \r \\ or \xNN (per byte).  Truncates
 * to fit dstlen, never inside an escape or a character.
 */
size_t
log_escape(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t i, o = 0, n, k;
	char e[16];

	if (dstlen == 0)
		return 0;
	for (i = 0; i < srclen; i += n) {
		n = log_escape_one(e, p + i, srclen - i, &k);
		if (o + k >= dstlen)
			break;
		memcpy(dst + o, e, k);
		o += k;
	}
	dst[o] = '\0';
	return o;
}

/* True for a lower_snake key that no fixed member of a line uses. */
static int
log_ctx_key_ok(const char *key)
{
	static const char *const fixed[] = { "ts", "level", "role", "pid",
	    "msg" };
	size_t i, n = strlen(key);

	if (n == 0 || n >= sizeof(log_ctx[0].key))
		return 0;
	for (i = 0; i < n; i++)
		if (!((key[i] >= 'a' && key[i] <= 'z') || key[i] == '_' ||
		    (i > 0 && key[i] >= '0' && key[i] <= '9')))
			return 0;
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (strcmp(key, fixed[i]) == 0)
			return 0;
	return 1;
}

/* The slot of key: its own, else a free one, else NULL. */
static struct log_ctx *
log_ctx_slot(const char *key)
{
	int i;

	if (!log_ctx_key_ok(key))
		return NULL;
	for (i = 0; i < log_nctx; i++)
		if (strcmp(log_ctx[i].key, key) == 0)
			return &log_ctx[i];
	if (log_nctx == LOG_CTX_MAX)
		return NULL;
	snprintf(log_ctx[log_nctx].key, sizeof(log_ctx[0].key), "%s", key);
	return &log_ctx[log_nctx++];
}

void
log_ctx_str(const char *key, const char *value)
{
	struct log_ctx *c;

	if ((c = log_ctx_slot(key)) == NULL)
		return;
	log_escape(c->value, sizeof(c->value), value ? value : "",
	    value ? strlen(value) : 0);
	c->number = 0;
}

void
log_ctx_int(const char *key, long long value)
{
	struct log_ctx *c;

	if ((c = log_ctx_slot(key)) == NULL)
		return;
	snprintf(c->value, sizeof(c->value), "%lld", value);
	c->number = 1;
}

void
log_ctx_clear(void)
{
	log_nctx = 0;
}

/* Escapes msg (already log_escape'd: no controls) as a JSON string body. */
static void
log_json_escape(char *buf, size_t len, const char *msg)
{
	size_t j = 0;

	for (; *msg != '\0' && j + 2 < len; msg++) {
		if (*msg == '"' || *msg == '\\')
			buf[j++] = '\\';
		buf[j++] = *msg;
	}
	buf[j] = '\0';
}

/* The context as JSON members (",\"k\":v") or a text suffix (" k=v"). */
static void
log_ctx_format(char *buf, size_t len, int json)
{
	char val[2 * sizeof(log_ctx[0].value)];
	size_t o = 0;
	int i, n;

	buf[0] = '\0';
	for (i = 0; i < log_nctx; i++) {
		if (json && !log_ctx[i].number) {
			log_json_escape(val, sizeof(val), log_ctx[i].value);
			n = snprintf(buf + o, len - o, ",\"%s\":\"%s\"",
			    log_ctx[i].key, val);
		} else
			n = snprintf(buf + o, len - o, json ? ",\"%s\":%s" :
			    " %s=%s", log_ctx[i].key, log_ctx[i].value);
		if (n < 0 || (size_t)n >= len - o) {
			buf[o] = '\0';	/* cut whole members only */
			return;
		}
		o += (size_t)n;
	}
}

/* Whether a line of level lvl is written: a hot path skips building it. */
int
log_enabled(int lvl)
{
	return lvl <= log_max;
}

static void
log_emit(int lvl, const char *msg)
{
	/* esc holds the escaped message, json twice that: neither cuts. */
	char line[9728], esc[4096], json[8192], ts[40], ctx[1152];
	struct timeval tv;
	struct tm tm;
	int n;

	if (lvl > log_max)
		return;
	log_escape(esc, sizeof(esc), msg, strlen(msg));
	if (log_json) {
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		log_json_escape(json, sizeof(json), esc);
		log_ctx_format(ctx, sizeof(ctx), 1);
		n = snprintf(line, sizeof(line), "{\"ts\":\"%s.%03dZ\","
		    "\"level\":\"%s\",\"role\":\"%s\",\"pid\":%d,\"msg\":\"%s\"%s}\n",
		    ts, (int)(tv.tv_usec / 1000), log_level_name(lvl), log_role,
		    (int)getpid(), json, ctx);
	} else {
		log_ctx_format(ctx, sizeof(ctx), 0);
		n = snprintf(line, sizeof(line), "<%d>notifyd %s[%d]: %s%s\n",
		    lvl, log_role, (int)getpid(), esc, ctx);
	}
	if (n < 0 || (size_t)n >= sizeof(line))
		return;		/* cannot happen: line fits json and more */
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

static void
log_vemit(int lvl, int with_errno, const char *fmt, va_list ap)
{
	char msg[3000];
	int saved = errno, n;

	if (lvl > log_max)
		return;		/* no formatting for a line not written */
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
