/*
 * notif.c - the email notification model (see notif.h).
 *
 * Validation refuses rather than repairs: a CR or LF in anything that
 * becomes a header or an SMTP envelope is an error, never stripped.
 * Messages are built with CRLF line endings only; bodies are base64 so
 * no line is too long and no content can forge a boundary or headers.
 */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <idn2.h>

#include "base64.h"
#include "channel.h"
#include "html.h"
#include "notif.h"
#include "util.h"

/* Fills e; -1, so that a check can end with "return notif_fail(...)". */
int
notif_fail(struct notif_error *e, int status, const char *field,
    const char *msg)
{
	e->status = status;
	e->field = field;
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
	return -1;
}

/*
 * Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF.
 */
static size_t
notif_utf8_seq(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2, cp = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3, cp = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return len;
}

/*
 * Control characters beyond ASCII's C0: DEL, the C1 block U+0080-U+009F
 * and the line/paragraph separators U+2028/U+2029, which mail readers
 * and log viewers may render as line breaks.
 */
static bool
notif_has_uctl(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	for (; *s != '\0'; s++)
		if (*s == 0x7F || (s[0] == 0xC2 && s[1] >= 0x80 && s[1] <= 0x9F) ||
		    (s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9)))
			return true;
	return false;
}

/*
 * Text from outside (an SMTP reply) made safe to store in a UTF-8
 * database and to log: valid UTF-8 is kept, every invalid byte and
 * every control character becomes "\xNN".  Cut at cap - 1 bytes on a
 * character boundary; returns the length written.
 */
size_t
notif_text_clean(const char *in, size_t n, char *out, size_t cap)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, j = 0, k;

	if (cap == 0)
		return 0;
	while (i < n) {
		k = notif_utf8_seq(s + i, n - i);
		if (k == 1 && (s[i] < 0x20 || s[i] == 0x7F))
			k = 0;
		if (k == 2 && s[i] == 0xC2 && s[i + 1] <= 0x9F)
			k = 0;
		if (k == 0) {
			if (j + 4 >= cap)
				break;
			j += (size_t)snprintf(out + j, cap - j, "\\x%02x", s[i]);
			i++;
			continue;
		}
		if (j + k >= cap)
			break;
		memcpy(out + j, s + i, k);
		i += k;
		j += k;
	}
	out[j] = '\0';
	return j;
}

/* A required non-empty string; header: without control characters. */
int
notif_string(json_t *body, const char *field, bool header,
    const char **out, struct notif_error *e)
{
	json_t *v = json_object_get(body, field);
	char msg[128];

	if (v == NULL || json_is_null(v))
		return notif_fail(e, 400, field, "is required");
	if (!json_is_string(v))
		return notif_fail(e, 400, field, "must be a string");
	*out = json_string_value(v);
	if (**out == '\0' || strspn(*out, " \t") == strlen(*out))
		return notif_fail(e, 400, field, "must not be empty");
	if (header && (util_has_ctl(*out) || notif_has_uctl(*out))) {
		snprintf(msg, sizeof(msg), "must not contain CR, LF or other "
		    "control characters");
		return notif_fail(e, 400, field, msg);
	}
	return 0;
}

static bool
notif_is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* RFC 5321/5322 dot-atom local part and a DNS domain; nothing exotic. */
bool
notif_addr_valid(const char *a)
{
	static const char atext[] = "!#$%&'*+-/=?^_`{|}~";
	const char *at = strrchr(a, '@'), *p;
	size_t llen, dlen;
	int label = 0;

	if (at == NULL || strlen(a) > NOTIF_ADDR_MAX)
		return false;
	llen = (size_t)(at - a);
	dlen = strlen(at + 1);
	if (llen == 0 || llen > 64 || dlen == 0 || a[0] == '.' || at[-1] == '.')
		return false;
	for (p = a; p < at; p++)
		if (!isalnum((unsigned char)*p) && strchr(atext, *p) == NULL &&
		    !(*p == '.' && p[1] != '.') && !((unsigned char)*p >= 0x80))
			return false;
	for (p = at + 1; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-')
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*p) ||
		    (*p == '-' && label > 0) || (unsigned char)*p >= 0x80) {
			if (++label > 63)
				return false;
		} else
			return false;
	}
	return label > 0 && at[dlen] != '-';
}

bool
notif_key_valid(const char *k)
{
	size_t n;

	/* 1 to 255 visible ASCII characters (0x21-0x7E): no space, tab,
	 * DEL or 8-bit byte, since a header's bytes have no charset and
	 * the key is stored as text. */
	for (n = 0; k[n] != '\0'; n++)
		if ((unsigned char)k[n] < 0x21 || (unsigned char)k[n] > 0x7E ||
		    n == NOTIF_KEY_MAX)
			return false;
	return n > 0;
}

static int
notif_user_id(json_t *body, struct notif_input *in, struct notif_error *e)
{
	json_t *v = json_object_get(body, "userId");

	if (v == NULL || json_is_null(v))
		return notif_fail(e, 400, "userId", "is required");
	if (json_is_string(v)) {
		if (*json_string_value(v) == '\0')
			return notif_fail(e, 400, "userId", "must not be empty");
		if (util_has_ctl(json_string_value(v)))
			return notif_fail(e, 400, "userId",
			    "must not contain control characters");
		/* Longer ones no preferences or inbox route takes, and past
		 * btree's 2704 bytes the INSERT fails (a 422 naming nothing). */
		if (json_string_length(v) > NOTIF_UID_MAX)
			return notif_fail(e, 400, "userId",
			    "must be at most 256 bytes");
	} else if (!json_is_integer(v))
		return notif_fail(e, 400, "userId",
		    "must be an integer or a string");
	in->user_id = v;
	return 0;
}

/* A 400 naming member k, copied into e so that it outlives the body. */
static int
notif_fail_member(struct notif_error *e, const char *k, const char *msg)
{
	if (strlen(k) < sizeof(e->name))
		return notif_fail(e, 400, strcpy(e->name, k), msg);
	notif_fail(e, 400, NULL, msg);
	snprintf(e->msg, sizeof(e->msg), "a member %s", msg);
	return -1;
}

/* Whether j itself is what a walk (notif_holds) looks for. */
typedef bool (*notif_leaf_fn)(json_t *j);

/* Whether j is, or holds at any depth, a value leaf says yes to. */
static bool
notif_holds(json_t *j, notif_leaf_fn leaf)
{
	const char *k;
	json_t *v;
	size_t i;

	if (leaf(j))
		return true;
	json_object_foreach(j, k, v)
		if (notif_holds(v, leaf))
			return true;
	json_array_foreach(j, i, v)
		if (notif_holds(v, leaf))
			return true;
	return false;
}

/* The member of body that is or holds such a value, or NULL. */
static const char *
notif_member_holding(json_t *body, notif_leaf_fn leaf)
{
	const char *k;
	json_t *v;

	json_object_foreach(body, k, v)
		if (notif_holds(v, leaf))
			return k;
	return NULL;
}

/* A string with a NUL in it (\u0000). */
static bool
notif_is_nul_string(json_t *j)
{
	return json_is_string(j) &&
	    strlen(json_string_value(j)) != json_string_length(j);
}

/* The member of body holding a NUL (which no text column takes), or NULL. */
const char *
notif_nul_member(json_t *body)
{
	return notif_member_holding(body, notif_is_nul_string);
}

/* A number beyond 64-bit integers. */
static bool
notif_is_big_real(json_t *j)
{
	return json_is_real(j) &&
	    fabs(json_real_value(j)) >= 9223372036854775808.0;
}

/*
 * The member holding a real of 2^63 or more (1e19), or NULL: PostgreSQL's
 * jsonb prints it as an integer jansson cannot read back, so the stored
 * value would come out as a string, or hide a whole inbox page.
 */
static const char *
notif_big_member(json_t *body)
{
	return notif_member_holding(body, notif_is_big_real);
}

/* The member a too big integer sits in, found by reading it as a real. */
static void
notif_big_field(const char *buf, size_t len, struct notif_error *e)
{
	const char *k;
	json_t *j;

	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL |
	    JSON_DECODE_INT_AS_REAL, NULL);
	if ((k = notif_big_member(j)) != NULL)
		notif_fail_member(e, k, "holds an integer beyond 64 bits");
	json_decref(j);
}

/*
 * Parses a POST body.  \u0000 passes the parser so that the caller can
 * name the member holding it (notif_nul_member); an integer beyond 64
 * bits, which jansson cannot hold, is named by a second parse that reads
 * it as a real.
 */
json_t *
notif_parse(const char *buf, size_t len, struct notif_error *e)
{
	json_error_t jerr;
	json_t *body;

	if ((body = json_loadb(buf, len, JSON_REJECT_DUPLICATES |
	    JSON_ALLOW_NUL, &jerr)) != NULL)
		return body;
	e->status = 400;
	e->field = NULL;
	e->msg[0] = '\0';
	if (json_error_code(&jerr) == json_error_numeric_overflow)
		notif_big_field(buf, len, e);
	if (e->msg[0] == '\0')
		snprintf(e->msg, sizeof(e->msg), "malformed JSON: %.140s",
		    jerr.text);
	return NULL;
}

/*
 * The request's type names its channel (channel.c's table); any other
 * is 422 listing the accepted ones.  The value is never echoed: it may
 * be huge or hostile.
 */
static int
notif_type(json_t *body, struct notif_input *in, struct notif_error *e)
{
	if (notif_string(body, "type", true, &in->type, e) == -1)
		return -1;
	if ((in->channel = channel_find(in->type)) == NULL) {
		notif_fail(e, 422, "type", "");
		snprintf(e->msg, sizeof(e->msg), "is not supported; accepted "
		    "types are %s", channel_types());
		return -1;
	}
	in->type = in->channel->type;
	return 0;
}

/* A member that is a string, or NULL (the channel checked it). */
static const char *
notif_opt_string(json_t *body, const char *field)
{
	return json_string_value(json_object_get(body, field));
}

/*
 * Checks a POST body: the fields every channel shares, then the type's
 * channel checks its own (with the configuration snapshot, which is
 * NULL in tests of syntax alone).  On error fills e and returns -1.
 */
int
notif_validate(json_t *body, const struct conf *c, size_t max_content,
    struct notif_input *in, struct notif_error *e)
{
	const char *field;
	json_t *m;

	memset(in, 0, sizeof(*in));
	if (!json_is_object(body))
		return notif_fail(e, 400, NULL, "body must be a JSON object");
	if ((field = notif_nul_member(body)) != NULL)
		return notif_fail_member(e, field, "must not contain NUL (\\u0000)");
	if ((field = notif_big_member(body)) != NULL)
		return notif_fail_member(e, field, "holds a number beyond 64-bit "
		    "integers");
	if (notif_type(body, in, e) == -1)
		return -1;
	if (notif_string(body, "title", true, &in->title, e) == -1)
		return -1;
	if (strlen(in->title) > NOTIF_TITLE_MAX)
		return notif_fail(e, 400, "title", "is longer than 998 bytes");
	if (notif_string(body, "content", false, &in->content, e) == -1)
		return -1;
	if (strlen(in->content) > max_content)
		return notif_fail(e, 413, "content",
		    "is larger than email.max_content");
	if (notif_user_id(body, in, e) == -1)
		return -1;
	m = json_object_get(body, "metadata");
	if (m != NULL && !json_is_null(m) && !json_is_object(m))
		return notif_fail(e, 400, "metadata", "must be an object");
	in->metadata = json_is_object(m) ? m : NULL;
	if (in->channel->validate(body, c, e) == -1)
		return -1;
	in->recipient = notif_opt_string(body, "recipient");
	in->from = notif_opt_string(body, "from");
	return 0;
}

/*
 * Whether a subject may go out as it is: printable ASCII that no reader
 * could take for an encoded word ("=?"), short enough that
 * "Subject: " plus it stays within RFC 5322's 78 characters.
 */
static bool
notif_subject_plain(const char *s)
{
	return notif_is_ascii(s) && strstr(s, "=?") == NULL &&
	    strlen(s) <= NOTIF_SUBJECT_PLAIN;
}

/*
 * RFC 2047 B-encoding for every other subject: encoded words of at most
 * 42 input bytes (68 chars, so each folded line stays under 78), cut on
 * UTF-8 character boundaries, folded with CRLF SP.  Whitespace between
 * encoded words is dropped by decoders, so the title comes back byte for
 * byte.  Invalid UTF-8 (which the API never lets in) is cut anywhere.
 */
static size_t
notif_subject_take(const char *s, size_t i, size_t n)
{
	size_t take = n - i > 42 ? 42 : n - i;

	while (i + take < n && take > 0 &&
	    ((unsigned char)s[i + take] & 0xC0) == 0x80)
		take--;
	if (take == 0)	/* no boundary in reach: always move on */
		take = n - i > 42 ? 42 : n - i;
	return take;
}

char *
notif_subject_encode(const char *s)
{
	size_t n = strlen(s), i, j = 0, take, cap = 1;
	char *out;

	if (notif_subject_plain(s))
		return strdup(s);
	/* Sized exactly by a first pass rather than by a formula. */
	for (i = 0; i < n; i += take) {
		take = notif_subject_take(s, i, n);
		cap += (i > 0 ? 3 : 0) + 12 + (take + 2) / 3 * 4;
	}
	if ((out = malloc(cap)) == NULL)
		return NULL;
	for (i = 0; i < n; i += take) {
		take = notif_subject_take(s, i, n);
		if (j > 0) {
			memcpy(out + j, "\r\n ", 3);
			j += 3;
		}
		memcpy(out + j, "=?UTF-8?B?", 10);
		j += 10;
		j += base64_encode((const unsigned char *)s + i, take, out + j);
		memcpy(out + j, "?=", 2);
		j += 2;
	}
	out[j] = '\0';
	return out;
}

/* The text/plain alternative: html.c's libxml2 walk does the work. */
char *
notif_html_to_text(const char *h)
{
	return html_to_text(h, strlen(h));
}

/* Turns LF or CR into CRLF: what goes on the wire has no bare ones. */
static size_t
notif_crlf(const char *s, char *out)
{
	size_t j = 0;

	for (; *s != '\0'; s++) {
		if (*s == '\r' && s[1] == '\n')
			continue;
		if (*s == '\r' || *s == '\n') {
			out[j++] = '\r';
			out[j++] = '\n';
		} else
			out[j++] = *s;
	}
	return j;
}

/* A body part: base64 lines of 76 characters, CRLF-terminated. */
static size_t
notif_part(char *out, const char *boundary, const char *type, const char *s)
{
	size_t n = strlen(s), i, j;

	j = (size_t)sprintf(out, "--%s\r\nContent-Type: %s; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n", boundary, type);
	for (i = 0; i < n; i += 57) {
		j += base64_encode((const unsigned char *)s + i, n - i > 57 ? 57 :
		    n - i, out + j);
		out[j++] = '\r';
		out[j++] = '\n';
	}
	return j;
}

/*
 * The whole RFC 5322 message: headers, then multipart/alternative with
 * the text part (a template's own, else derived from the HTML) first and the HTML part last (the one clients
 * prefer).  Callers validated every header value already.
 */
char *
notif_build(const struct notif_msg *m, size_t *len)
{
	char *subject, *text, *out, boundary[64], date[64];
	size_t cap, j;
	struct tm tm;
	time_t t = (time_t)m->date;

	if ((subject = notif_subject_encode(m->subject)) == NULL)
		return NULL;
	if ((text = m->text != NULL ? strdup(m->text) :
	    notif_html_to_text(m->html)) == NULL) {
		free(subject);
		return NULL;
	}
	cap = strlen(subject) + strlen(m->from) + strlen(m->to) +
	    strlen(m->message_id) + (strlen(text) + strlen(m->html)) * 2 + 1024 +
	    (m->headers != NULL ? strlen(m->headers) : 0);
	if ((out = malloc(cap)) == NULL)
		goto done;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	snprintf(boundary, sizeof(boundary), "=_notifyd_%08x_%lld",
	    m->boundary_salt, (long long)m->date);
	j = (size_t)sprintf(out, "From: %s\r\nTo: %s\r\nSubject: ", m->from, m->to);
	j += notif_crlf(subject, out + j);
	j += (size_t)sprintf(out + j, "\r\nDate: %s\r\nMessage-ID: %s\r\n"
	    "%sMIME-Version: 1.0\r\nContent-Type: multipart/alternative; "
	    "boundary=\"%s\"\r\n\r\n", date, m->message_id,
	    m->headers != NULL ? m->headers : "", boundary);
	j += notif_part(out + j, boundary, "text/plain", text);
	j += notif_part(out + j, boundary, "text/html", m->html);
	j += (size_t)sprintf(out + j, "--%s--\r\n", boundary);
	*len = j;
done:
	free(subject);
	free(text);
	return out;
}

/*
 * The salt of a notification's Message-ID, derived from its row (id and
 * creation time in microseconds), so every send of it, by any worker,
 * after any crash, carries the same Message-ID and receivers can
 * collapse duplicates; the time keeps ids of different databases apart.
 */
uint32_t
notif_message_salt(int64_t id, int64_t created_us)
{
	char buf[48];
	int n = snprintf(buf, sizeof(buf), "%lld:%lld", (long long)id,
	    (long long)created_us);
	uint64_t h = notif_hash(buf, (size_t)n);

	return (uint32_t)(h ^ (h >> 32));
}

/* <id.salt@domain-of-from>: unique per notification, stable per send. */
char *
notif_message_id(int64_t id, uint32_t salt, const char *from)
{
	const char *at = strrchr(from, '@');
	char *out;

	if (asprintf(&out, "<%lld.%08x@%s>", (long long)id, salt,
	    at != NULL && at[1] != '\0' ? at + 1 : "notifyd.invalid") == -1)
		return NULL;
	return out;
}

/*
 * The address as it goes on the wire: an internationalized domain as
 * A-labels (IDNA2008 through libidn2), the local part as it is.  A
 * non-ASCII local part needs SMTPUTF8, which only smtputf8 allows.
 * *out is malloc'ed on success.
 */
enum notif_addr_rc
notif_addr_wire(const char *a, bool smtputf8, char **out)
{
	const char *at = strrchr(a, '@');
	char *ascii = NULL;
	size_t llen, i;
	int rc;

	*out = NULL;
	if (at == NULL)
		return NOTIF_ADDR_BAD_DOMAIN;
	llen = (size_t)(at - a);
	for (i = 0; i < llen; i++)
		if ((unsigned char)a[i] >= 0x80 && !smtputf8)
			return NOTIF_ADDR_NEEDS_UTF8;
	if (notif_is_ascii(at + 1))
		return (*out = strdup(a)) == NULL ? NOTIF_ADDR_NOMEM :
		    NOTIF_ADDR_OK;
	rc = idn2_to_ascii_8z(at + 1, &ascii, IDN2_NFC_INPUT |
	    IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK)
		return NOTIF_ADDR_BAD_DOMAIN;
	if (llen + 1 + strlen(ascii) > NOTIF_ADDR_MAX) {
		idn2_free(ascii);
		return NOTIF_ADDR_BAD_DOMAIN;
	}
	if (asprintf(out, "%.*s@%s", (int)llen, a, ascii) == -1)
		*out = NULL;
	idn2_free(ascii);
	return *out == NULL ? NOTIF_ADDR_NOMEM : NOTIF_ADDR_OK;
}

/* A from address email.allowed_from admits (email.from always is). */
bool
notif_from_allowed(const char *from, const struct notif_policy *p)
{
	const char *dom = strrchr(from, '@');
	int i;

	if (strcasecmp(from, p->from) == 0)
		return true;
	for (i = 0; i < p->nallowed; i++) {
		const char *e = p->allowed[i];
		if (e[0] == '@' ? dom != NULL && strcasecmp(dom, e) == 0 :
		    strcasecmp(from, e) == 0)
			return true;
	}
	return false;
}

static int
notif_policy_addr(const char *field, const char *a, bool smtputf8,
    struct notif_error *e)
{
	char *wire;

	switch (notif_addr_wire(a, smtputf8, &wire)) {
	case NOTIF_ADDR_OK:
		free(wire);
		return 0;
	case NOTIF_ADDR_NEEDS_UTF8:
		return notif_fail(e, 422, field, "has a non-ASCII local part, "
		    "which needs SMTPUTF8 (email.smtputf8 is off)");
	case NOTIF_ADDR_BAD_DOMAIN:
		return notif_fail(e, 422, field, "has a domain that is not a "
		    "valid internationalized domain name (IDNA2008)");
	default:
		return notif_fail(e, 500, field, "out of memory");
	}
}

/*
 * What a valid body must also meet to be sendable by this deployment:
 * addresses the relay can take, a sender email.allowed_from admits.
 * Refusals are 422 naming the field: never accept and then fail.
 */
int
notif_check_policy(const struct notif_input *in, const struct notif_policy *p,
    struct notif_error *e)
{
	if (notif_policy_addr("recipient", in->recipient, p->smtputf8, e) == -1)
		return -1;
	if (in->from == NULL)
		return 0;
	if (notif_policy_addr("from", in->from, p->smtputf8, e) == -1)
		return -1;
	if (!notif_from_allowed(in->from, p))
		return notif_fail(e, 422, "from", "is not allowed "
		    "(email.from or email.allowed_from)");
	return 0;
}

/* Delay after the attempt-th failure: initial * multiplier^(n-1), capped. */
double
notif_backoff(int attempt, double initial, double multiplier, double max_delay)
{
	double d = initial * pow(multiplier, attempt > 1 ? attempt - 1 : 0);

	return d > max_delay ? max_delay : d;
}

/* Delay before the sweeper requeues: doubles per requeue, capped. */
double
notif_requeue_delay(int requeues, double base, double max_delay)
{
	double d = base * pow(2, requeues > 30 ? 30 : requeues);

	return d > max_delay ? max_delay : d;
}

/* FNV-1a, 64 bits: tells an idempotent replay from a changed body. */
uint64_t
notif_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/*
 * Key and value of the email topic's message are both the decimal id:
 * the row in PostgreSQL is the truth, the message only says "look".
 * Keying by id spreads notifications over partitions.
 */
int
notif_queue_key(int64_t id, char *buf, size_t len)
{
	return snprintf(buf, len, "%lld", (long long)id);
}
