/*
 * sdnotify.c - READY=1, RELOADING=1, STOPPING=1, STATUS=, WATCHDOG=1.
 *
 * A datagram to $NOTIFY_SOCKET (a path, or an abstract name when it
 * starts with '@').  Without the variable every call is a no-op, so the
 * daemon runs the same with or without systemd.  Only the master calls
 * it; children never see NOTIFY_SOCKET's effects.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sdnotify.h"

void
sdnotify(const char *fmt, ...)
{
	struct sockaddr_un sun;
	const char *path = getenv("NOTIFY_SOCKET");
	char msg[512];
	socklen_t len;
	va_list ap;
	size_t plen;
	int fd;

	if (path == NULL || (plen = strlen(path)) == 0 ||
	    plen >= sizeof(sun.sun_path) || (path[0] != '/' && path[0] != '@'))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	/* Best effort by design: systemd's absence is not an error. */
	(void)!sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len);
	close(fd);
}

/* Half of WATCHDOG_USEC when it is meant for this process. */
double
sdnotify_watchdog_interval(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");

	if (usec == NULL)
		return 0;
	if (pid != NULL && atol(pid) != (long)getpid())
		return 0;
	return atof(usec) / 1e6 / 2;
}
