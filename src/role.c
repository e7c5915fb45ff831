/*
 * role.c - how many processes of each role a configuration runs: the
 * master's table (main.c) and /ready (api_ops.c) read the same rules.
 */
#include "config.h"

#include <stddef.h>

#include "conf.h"
#include "role.h"

int
role_count_api(const struct conf *c)
{
	return c->http_processes;
}

int
role_count_audit(const struct conf *c)
{
	return c->audit_enabled ? 1 : 0;
}

/* Mail roles run only while email is enabled. */
int
role_count_mailer(const struct conf *c)
{
	return c->email_enabled ? c->email_workers : 0;
}

int
role_count_sweeper(const struct conf *c)
{
	return c->email_enabled && c->sweeper_enabled;
}

/* Webhook workers run only when there is an endpoint to deliver to. */
int
role_count_webhook(const struct conf *c)
{
	return c->webhook_nendpoints > 0 ? c->webhook_workers : 0;
}

/* One events sender while events.endpoint names an endpoint. */
int
role_count_events(const struct conf *c)
{
	return *c->events_endpoint != '\0';
}

/* IN_APP notifications are accepted only with email.enabled. */
int
role_count_inbox(const struct conf *c)
{
	return c->email_enabled ? c->inbox_workers : 0;
}

int
role_count(enum role r, const struct conf *c)
{
	static int (*const count[ROLE_MAX])(const struct conf *) = {
		[ROLE_API] = role_count_api,
		[ROLE_AUDIT] = role_count_audit,
		[ROLE_MAILER] = role_count_mailer,
		[ROLE_SWEEPER] = role_count_sweeper,
		[ROLE_WEBHOOK] = role_count_webhook,
		[ROLE_EVENTS] = role_count_events,
		[ROLE_INBOX] = role_count_inbox,
	};

	return r >= 0 && r < ROLE_MAX && count[r] != NULL ? count[r](c) : 0;
}
