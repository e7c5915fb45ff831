/*
 * proc.h - the child skeleton and the role table.
 *
 * The master forks; proc_child_main() owns a child's whole life: name,
 * log tag, signals to flags, parent-death detection, exit codes.  A
 * role only supplies its service function.
 */
#ifndef NOTIFYD_PROC_H
#define NOTIFYD_PROC_H

#include <signal.h>
#include <stdbool.h>

enum role {
	ROLE_API,
	ROLE_AUDIT,
	ROLE_MAILER,
	ROLE_SWEEPER,
	ROLE_MAX
};

/* Exit codes a child returns to the master. */
#define EXIT_CONFIG	78	/* EX_CONFIG: do not respawn until reload */

enum proc_stop { STOP_NONE, STOP_GRACEFUL, STOP_FAST };

struct proc_info {
	enum role	 role;
	int		 index;		/* 0..n-1 within the role */
	int		 slot;		/* stats page slot */
	unsigned	 gen;
	int		 listen_fd;	/* the api's inherited socket */
	int		 parent_fd;	/* read end; EOF = master gone */
};

extern volatile sig_atomic_t proc_stop;

const char	*proc_role_name(enum role);
void		 proc_child_main(const struct proc_info *)
		    __attribute__((noreturn));
void		 proc_ready(void);
bool		 proc_running(void);

/* Role entry points: return an exit code. */
int	api_main(const struct proc_info *);
int	audit_main(const struct proc_info *);
int	mailer_main(const struct proc_info *);
int	sweeper_main(const struct proc_info *);

#endif
