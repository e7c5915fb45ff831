/*
 * api_schedule.c - scheduled sends on the notification resource.
 *
 * Reads a POST's sendAt (sendat.c's syntax, email.schedule_horizon's
 * limit) for api_notify.c, which stores a future one SCHEDULED and does
 * not produce it: the sweeper's due scan does, once due (sweeper_due.c).
 * Decides POST .../{id}/cancel (api_notify.c answers with the row).  The cancel and the mailer's claim
 * (mailer.c) are each one status-guarded UPDATE of the row, so exactly
 * one of them wins: a cancel takes SCHEDULED and PENDING rows only, a
 * claim PENDING and PROCESSING rows only, never a CANCELLED one.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "api_db.h"
#include "api_schedule.h"
#include "conf.h"
#include "log.h"
#include "util.h"

/*
 * 0 with s filled (s->later false when there is no sendAt, a null one,
 * or one not in the future: sent now); -1 after answering 400 or 422
 * naming sendAt.
 */
int
api_schedule_parse(json_t *body, struct http_resp *rs, struct api_schedule *s)
{
	json_t *v = json_object_get(body, "sendAt");
	char msg[200];
	double horizon = conf_span_seconds(conf->email_schedule_horizon);
	int rc;

	memset(s, 0, sizeof(*s));
	if (v == NULL || json_is_null(v))
		return 0;
	if ((rc = sendat_parse(v, &s->at_us)) != SENDAT_OK) {
		snprintf(msg, sizeof(msg), "sendAt %s", sendat_error(rc));
		http_error(rs, 400, msg, "sendAt");
		return -1;
	}
	switch (sendat_plan(s->at_us, (int64_t)(util_wall() * 1e6), horizon)) {
	case SENDAT_NOW:
		return 0;
	case SENDAT_TOO_FAR:
		snprintf(msg, sizeof(msg), "sendAt is beyond "
		    "email.schedule_horizon (%s from now)",
		    conf->email_schedule_horizon);
		http_error(rs, 422, msg, "sendAt");
		return -1;
	case SENDAT_LATER:
		break;
	}
	if (sendat_format(s->at_us, s->send_at, sizeof(s->send_at)) == -1) {
		http_error(rs, 400, "sendAt cannot be represented", "sendAt");
		return -1;
	}
	s->later = true;
	return 0;
}

/* The send_at column's value: NULL for a notification sent now. */
const char *
api_schedule_send_at(const struct api_schedule *s)
{
	return s->later ? s->send_at : NULL;
}

/* A 202's sendAt: epoch seconds like createdAt, null when sent now. */
void
api_schedule_show(json_t *row, const struct api_schedule *s)
{
	int64_t secs = s->at_us / 1000000 - (s->at_us % 1000000 < 0);

	json_object_set_new(row, "sendAt", s->later ? json_integer(secs) :
	    json_null());
}

/*
 * SCHEDULED, or PENDING (stored or queued, no mailer has it): no relay
 * has seen it.  A mailer's claim leaves a PENDING row with a lease_owner
 * (sql/019), so once it committed this matches nothing, and after this
 * the claim does not (it needs PENDING or PROCESSING).
 */
static const char api_schedule_sql_cancel[] =
    "UPDATE email_notifications SET status = 'CANCELLED',"
    " lease_until = NULL, lease_owner = NULL, next_attempt_at = NULL,"
    " updated_at = now() "
    "WHERE id = $1 AND status IN ('SCHEDULED', 'PENDING')"
    " AND lease_owner IS NULL RETURNING id";

/* The status as the API shows it: a claimed PENDING row is PROCESSING. */
static const char api_schedule_sql_status[] =
    "SELECT CASE WHEN status = 'PENDING' AND lease_owner IS NOT NULL"
    " THEN 'PROCESSING' ELSE status END FROM email_notifications"
    " WHERE id = $1";

/*
 * Why a cancel matched nothing: 404, 200 when it was cancelled already
 * (a cancel is idempotent), else 409 (a mailer has it, or it is done).
 * -1 when answered here.
 */
static int
api_schedule_not_cancelled(struct http_req *r, struct http_resp *rs,
    const char *const *p)
{
	PGresult *res;
	char msg[128];
	int rc = -1;

	if ((res = api_db_query(r, rs, api_schedule_sql_status, 1, p)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		http_error(rs, 404, "no such notification", "id");
	else if (strcmp(PQgetvalue(res, 0, 0), "CANCELLED") == 0)
		rc = 0;
	else {
		snprintf(msg, sizeof(msg), "a %s notification cannot be "
		    "cancelled: it was handed to the relay", PQgetvalue(res, 0, 0));
		http_error(rs, 409, msg, "status");
	}
	PQclear(res);
	return rc;
}

/*
 * Cancels notification {id}: 0 when it is CANCELLED now or was already
 * (the caller answers with the row); -1 after answering 404, 409 or a
 * database error.
 */
int
api_schedule_cancel(struct http_req *r, struct http_resp *rs)
{
	const char *p[1];
	PGresult *res;
	int n;

	if ((p[0] = api_db_path_id(r, rs, "no such notification")) == NULL ||
	    (res = api_db_query(r, rs, api_schedule_sql_cancel, 1, p)) == NULL)
		return -1;
	n = PQntuples(res);
	PQclear(res);
	if (n == 0)
		return api_schedule_not_cancelled(r, rs, p);
	log_info("notification %s: cancelled by request", p[0]);
	return 0;
}
