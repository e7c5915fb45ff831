/*
 * role.h - the role numbers, shared by the process table, the stats
 * page and the child skeleton.  The roles themselves are registered in
 * main.c (main_roles): this header names none of their entry points,
 * only how many of each a configuration runs (role.c).
 */
#ifndef NOTIFYD_ROLE_H
#define NOTIFYD_ROLE_H

enum role {
	ROLE_API,
	ROLE_AUDIT,
	ROLE_MAILER,
	ROLE_SWEEPER,
	ROLE_WEBHOOK,
	ROLE_EVENTS,
	ROLE_INBOX,
	ROLE_MAX
};

struct conf;

/* How many processes of each role a configuration runs (main.c's table
 * uses these; /ready asks role_count). */
int	role_count_api(const struct conf *);
int	role_count_audit(const struct conf *);
int	role_count_mailer(const struct conf *);
int	role_count_sweeper(const struct conf *);
int	role_count_webhook(const struct conf *);
int	role_count_events(const struct conf *);
int	role_count_inbox(const struct conf *);
int	role_count(enum role, const struct conf *);

#endif
