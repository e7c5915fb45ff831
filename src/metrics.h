/*
 * metrics.h - Prometheus text rendering of the stats page.
 */
#ifndef NOTIFYD_METRICS_H
#define NOTIFYD_METRICS_H

char	*metrics_render(void);	/* malloc'd text, or NULL */

#endif
