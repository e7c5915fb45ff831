/*
 * roles.h - the entry points of the roles, one per role file.
 *
 * Only main.c (the role table) calls them; proc.c runs whichever one
 * it is handed, through a pointer.
 */
#ifndef NOTIFYD_ROLES_H
#define NOTIFYD_ROLES_H

#include "proc.h"

/* Role entry points: return an exit code. */
int	api_main(const struct proc_info *);
int	audit_main(const struct proc_info *);
int	mailer_main(const struct proc_info *);
int	sweeper_main(const struct proc_info *);
int	webhook_main(const struct proc_info *);
int	events_main(const struct proc_info *);
int	inbox_main(const struct proc_info *);

#endif
