/*
 * role.h - the role numbers, shared by the process table, the stats
 * page and the child skeleton.  The roles themselves are registered in
 * main.c (main_roles): this header names none of their functions.
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

#endif
