/*
 * master.h - the prefork supervisor.
 */
#ifndef NOTIFYD_MASTER_H
#define NOTIFYD_MASTER_H

#include "conf.h"

int	master_main(struct conf *, const char *path);
int	master_listen(const struct conf *, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

#endif
