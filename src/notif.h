/*
 * notif.h - the email notification model: validation, fallbacks,
 * message building, retry schedule.  Pure code: no I/O, no handles,
 * no logging; the main unit-test target.
 */
#ifndef NOTIFYD_NOTIF_H
#define NOTIFYD_NOTIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define NOTIF_ADDR_MAX	254
#define NOTIF_TITLE_MAX	998
#define NOTIF_KEY_MAX	255
#define NOTIF_UID_MAX	256	/* bytes of a string userId, as the routes take */
#define NOTIF_SUBJECT_PLAIN 68	/* longest subject sent unencoded */

struct channel;
struct conf;

/* A validated POST body; strings point into the json object. */
struct notif_input {
	const char	*type;		/* the channel's name: "EMAIL" */
	const struct channel *channel;	/* whose validate accepted the rest */
	const char	*title;
	const char	*content;
	json_t		*user_id;	/* integer or string */
	const char	*recipient;	/* a string "recipient", or NULL */
	const char	*from;		/* optional, else email.from */
	json_t		*metadata;	/* object or NULL */
};

/* Why a body was refused: an HTTP status and the field to blame. */
struct notif_error {
	int		 status;
	const char	*field;
	char		 msg[160];
	char		 name[64];	/* field, when not a static string */
};

/* What this deployment accepts beyond syntax (email.* settings). */
struct notif_policy {
	const char	*from;		/* email.from: always allowed */
	char *const	*allowed;	/* email.allowed_from: "a@b", "@b" */
	int		 nallowed;
	bool		 smtputf8;	/* email.smtputf8 */
};

enum notif_addr_rc {
	NOTIF_ADDR_OK,
	NOTIF_ADDR_NEEDS_UTF8,		/* non-ASCII local part, no SMTPUTF8 */
	NOTIF_ADDR_BAD_DOMAIN,		/* not convertible to A-labels */
	NOTIF_ADDR_NOMEM,
};

/* What the mailer needs to build one message. */
struct notif_msg {
	const char	*from;
	const char	*to;
	const char	*subject;
	const char	*html;
	const char	*message_id;
	int64_t		 date;		/* unix seconds */
	uint32_t	 boundary_salt;
	const char	*text;		/* a template's text part; NULL: derived */
	const char	*headers;	/* more lines, each CRLF-ended, or NULL */
};

json_t	*notif_parse(const char *buf, size_t len, struct notif_error *)
	    __attribute__((warn_unused_result));
const char *notif_nul_member(json_t *obj);
int	 notif_validate(json_t *body, const struct conf *, size_t max_content,
	    struct notif_input *, struct notif_error *) __attribute__((warn_unused_result));
int	 notif_fail(struct notif_error *, int status, const char *field,
	    const char *msg);
int	 notif_string(json_t *body, const char *field, bool header,
	    const char **out, struct notif_error *)
	    __attribute__((warn_unused_result));
int	 notif_check_policy(const struct notif_input *,
	    const struct notif_policy *, struct notif_error *)
	    __attribute__((warn_unused_result));
bool	 notif_addr_valid(const char *);
enum notif_addr_rc notif_addr_wire(const char *, bool smtputf8, char **out)
	    __attribute__((warn_unused_result));
bool	 notif_from_allowed(const char *, const struct notif_policy *);
size_t	 notif_text_clean(const char *in, size_t n, char *out, size_t cap);
uint32_t notif_message_salt(int64_t id, int64_t created_us);
bool	 notif_key_valid(const char *);
char	*notif_subject_encode(const char *);
char	*notif_html_to_text(const char *);
char	*notif_build(const struct notif_msg *, size_t *len);
char	*notif_message_id(int64_t id, uint32_t salt, const char *from);
double	 notif_backoff(int attempt, double initial, double multiplier,
	    double max_delay);
double	 notif_requeue_delay(int requeues, double base, double max_delay);
uint64_t notif_hash(const char *, size_t);

/* The email topic's message: key and value for notification id. */
int	 notif_queue_key(int64_t id, char *buf, size_t len);
#endif
