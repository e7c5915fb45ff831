/*
 * metrics.h - Prometheus text rendering of the stats page.
 */
#ifndef NOTIFYD_METRICS_H
#define NOTIFYD_METRICS_H

/* malloc'd text, or NULL; route_names[i] labels the stats of route i. */
char	*metrics_render(const char *const *route_names, int nroutes);

#endif
