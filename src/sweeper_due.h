/*
 * sweeper_due.h - the sweeper's due scan of scheduled notifications
 * (sweeper_due.c).
 */
#ifndef NOTIFYD_SWEEPER_DUE_H
#define NOTIFYD_SWEEPER_DUE_H

#include <libpq-fe.h>

struct queue;

double	sweeper_due_scan(PGconn *, struct queue *);

#endif
