/*
 * proc.h - the child skeleton; the role table's row type.
 *
 * The master forks; proc_child_main() owns a child's whole life: name,
 * log tag, signals to flags, parent-death detection, exit codes.  A
 * role only supplies its service function.
 */
#ifndef NOTIFYD_PROC_H
#define NOTIFYD_PROC_H

#include <signal.h>
#include <stdbool.h>

#include "role.h"

struct conf;

/* Exit codes a child returns to the master. */
#define EXIT_CONFIG	78	/* EX_CONFIG: do not respawn until reload */

enum proc_stop { STOP_NONE, STOP_GRACEFUL, STOP_FAST };

struct proc_info;

/*
 * One row of the role table (main.c): the role's name (process title,
 * log tag, metric label), the configuration key that says how many to
 * run, the count that key gives, and the entry function.
 */
struct proc_role {
	const char	*name;
	const char	*count_key;
	int		(*count)(const struct conf *);
	int		(*entry)(const struct proc_info *);
};

struct proc_info {
	enum role	 role;
	int		(*entry)(const struct proc_info *);	/* run by proc */
	int		 index;		/* 0..n-1 within the role */
	int		 slot;		/* stats page slot */
	unsigned	 gen;
	int		 listen_fd;	/* the api's inherited socket */
	int		 parent_fd;	/* read end; EOF = master gone */
};

extern volatile sig_atomic_t proc_stop;

void		 proc_roles_set(const struct proc_role *table);
const struct proc_role *proc_role(enum role);
const char	*proc_role_name(enum role);
void		 proc_child_main(const struct proc_info *)
		    __attribute__((noreturn));
void		 proc_ready(void);
bool		 proc_running(void);

#endif
