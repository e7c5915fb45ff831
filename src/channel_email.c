/*
 * channel_email.c - the email channel (see channel.h): a notification
 * of type EMAIL names a recipient address and optionally a sender.
 *
 * validate: the addresses' syntax and, with a configuration, what this
 * deployment can send (IDN, SMTPUTF8, email.allowed_from).  Refuses,
 * never repairs: a CR or LF in an address is an error.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "conf.h"
#include "notif.h"

/* recipient is required, from optional: both plain addr-specs. */
static int
channel_email_addresses(json_t *body, struct notif_input *in,
    struct notif_error *e)
{
	json_t *f;

	if (notif_string(body, "recipient", true, &in->recipient, e) == -1)
		return -1;
	if (!notif_addr_valid(in->recipient))
		return notif_fail(e, 400, "recipient",
		    "is not a valid email address");
	in->from = NULL;
	if ((f = json_object_get(body, "from")) != NULL && !json_is_null(f)) {
		if (notif_string(body, "from", true, &in->from, e) == -1)
			return -1;
		if (!notif_addr_valid(in->from))
			return notif_fail(e, 400, "from",
			    "is not a valid email address");
	}
	return 0;
}

/*
 * Syntax, then the deployment's policy (422s naming the field): never
 * accept what the relay will refuse.  Without a configuration (unit
 * tests of syntax) the policy is not checked.
 */
static int
channel_email_validate(json_t *body, const struct conf *c,
    struct notif_error *e)
{
	struct notif_input in;
	struct notif_policy p;

	memset(&in, 0, sizeof(in));
	if (channel_email_addresses(body, &in, e) == -1)
		return -1;
	if (c == NULL)
		return 0;
	p.from = c->email_from;
	p.allowed = c->email_allowed_from.v;
	p.nallowed = c->email_allowed_from.n;
	p.smtputf8 = c->email_smtputf8;
	return notif_check_policy(&in, &p, e);
}

const struct channel channel_email = {
	.type = "EMAIL",
	.validate = channel_email_validate,
};
