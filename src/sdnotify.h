/*
 * sdnotify.h - systemd's notify protocol, spoken directly.
 */
#ifndef NOTIFYD_SDNOTIFY_H
#define NOTIFYD_SDNOTIFY_H

void	sdnotify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
double	sdnotify_watchdog_interval(void);	/* seconds, 0 = none */

#endif
