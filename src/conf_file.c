/*
 * conf_file.c - the files the configuration's keys name (the DKIM key,
 * webhook secrets, the unsubscribe secret): read once when the
 * configuration loads, bounded, with one error shape that names the
 * configuration file, the key and the path; and conf_errf, the conf
 * module's error formatter.
 *
 * Part of the conf module (declared in conf.h).  Reads with read(2),
 * not stdio, so no copy of a secret is left in a FILE buffer.  Never
 * logs.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

/* A key or a secret is a few kB; anything far larger is not one. */
#define CONF_FILE_MAX	(64 * 1024)

/* Formats err and returns -1. */
int
conf_errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

/* Reads up to CONF_FILE_MAX + 1 bytes of fd into buf; -1 with errno. */
static ssize_t
conf_file_fill(int fd, char *buf)
{
	size_t n = 0;
	ssize_t r;

	while (n <= CONF_FILE_MAX) {
		if ((r = read(fd, buf + n, CONF_FILE_MAX + 1 - n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > CONF_FILE_MAX) {
		errno = EFBIG;
		return -1;
	}
	return (ssize_t)n;
}

/* The file's text, NUL-terminated; NULL with errno (EFBIG: too large). */
static char *
conf_file_slurp(const char *path, size_t *lenp)
{
	char *buf;
	ssize_t n;
	int fd, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if ((buf = malloc(CONF_FILE_MAX + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	if ((n = conf_file_fill(fd, buf)) == -1) {
		e = errno;
		explicit_bzero(buf, CONF_FILE_MAX + 1);
		free(buf);
		close(fd);
		errno = e;
		return NULL;
	}
	close(fd);
	buf[n] = '\0';
	*lenp = (size_t)n;
	return buf;
}

/*
 * The text of path, the file key names in the configuration file file:
 * NUL-terminated, its length in *lenp (may be NULL).  NULL with err
 * "file: key: path: cannot read: why" (a directory, a file too large).
 */
char *
conf_file_read(const char *file, const char *key, const char *path,
    size_t *lenp, char *err, size_t len)
{
	char *text;
	size_t n;

	if ((text = conf_file_slurp(path, &n)) == NULL) {
		conf_errf(err, len, "%s: %s: %s: cannot read: %s", file, key,
		    path, strerror(errno));
		return NULL;
	}
	if (lenp != NULL)
		*lenp = n;
	return text;
}
