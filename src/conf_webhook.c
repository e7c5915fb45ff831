/*
 * conf_webhook.c - webhook.endpoints: the named places a webhook may go.
 *
 * Part of the conf module (declared in conf.h).  webhook.endpoints is a
 * list of groups, not one key of the table, so conf_walk hands it here:
 *
 *   endpoints = ( { name = "billing"; url = "https://b.example/hook";
 *                   secret_file = [ "/etc/notifyd/billing.new",
 *                                   "/etc/notifyd/billing.old" ];
 *                   timeout = 5.0; } );
 *
 * A request names an endpoint, never a URL: only what the operator
 * wrote here is ever fetched.  Secrets (Standard Webhooks "whsec_" +
 * base64) are read when the configuration loads, like the DKIM key, so
 * -t, the start and a reload refuse a missing or malformed one; with
 * several files every message carries one signature per secret (key
 * rotation).  Never logs.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <libconfig.h>
#include <openssl/evp.h>

#include "conf.h"

#define CONF_WEBHOOK_NAME_MAX	64
#define CONF_WEBHOOK_URL_MAX	2048
#define CONF_WEBHOOK_SECRETS	8

/* An endpoint name: 1-64 of [A-Za-z0-9_.-], as requests and logs show it. */
static int
conf_webhook_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= CONF_WEBHOOK_NAME_MAX &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_.-") == n;
}

/* http:// or https://, a host, no blanks or control characters. */
static int
conf_webhook_url_ok(const char *s)
{
	size_t n = strlen(s), skip;
	size_t i;

	if (n > CONF_WEBHOOK_URL_MAX)
		return 0;
	if (strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else
		return 0;
	if (s[skip] == '\0' || s[skip] == '/' || s[skip] == ':')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static void
conf_webhook_endpoint_free(struct conf_webhook_endpoint *e)
{
	int i;

	free(e->name);
	free(e->url);
	for (i = 0; i < e->nsecrets; i++)
		free(e->secret_files[i]);
	free(e->secret_files);
	if (e->secrets != NULL)
		explicit_bzero(e->secrets, sizeof(*e->secrets) *
		    (size_t)e->nsecrets);
	free(e->secrets);
}

void
conf_webhook_free(struct conf *c)
{
	int i;

	for (i = 0; i < c->webhook_nendpoints; i++)
		conf_webhook_endpoint_free(&c->webhook_endpoints[i]);
	free(c->webhook_endpoints);
	c->webhook_endpoints = NULL;
	c->webhook_nendpoints = 0;
}

/* secret_file: a string or a list of them, kept in e->secret_files. */
static int
conf_webhook_files(struct conf_webhook_endpoint *e, const config_setting_t *s,
    char *why, size_t len)
{
	const config_setting_t *one;
	int i, n, t = config_setting_type(s);

	n = t == CONFIG_TYPE_STRING ? 1 : (t == CONFIG_TYPE_ARRAY ||
	    t == CONFIG_TYPE_LIST) ? config_setting_length(s) : -1;
	if (n < 1 || n > CONF_WEBHOOK_SECRETS)
		return conf_errf(why, len, "expected a file name or a "
		    "list of 1 to %d of them", CONF_WEBHOOK_SECRETS);
	if ((e->secret_files = calloc((size_t)n, sizeof(char *))) == NULL ||
	    (e->secrets = calloc((size_t)n, sizeof(*e->secrets))) == NULL)
		return conf_errf(why, len, "out of memory");
	e->nsecrets = n;
	for (i = 0; i < n; i++) {
		one = t == CONFIG_TYPE_STRING ? s : config_setting_get_elem(s,
		    (unsigned)i);
		if (config_setting_type(one) != CONFIG_TYPE_STRING ||
		    *config_setting_get_string(one) == '\0')
			return conf_errf(why, len, "element %d is not a "
			    "file name", i);
		if ((e->secret_files[i] = strdup(config_setting_get_string(
		    one))) == NULL)
			return conf_errf(why, len, "out of memory");
	}
	return 0;
}

/* One member of an endpoint group; why says what is wrong with it. */
static int
conf_webhook_member(struct conf_webhook_endpoint *e, const config_setting_t *s,
    char *why, size_t len)
{
	const char *m = config_setting_name(s);
	int t = config_setting_type(s);

	if (strcmp(m, "secret_file") == 0)
		return conf_webhook_files(e, s, why, len);
	if (strcmp(m, "timeout") == 0) {
		if (t != CONFIG_TYPE_FLOAT && t != CONFIG_TYPE_INT &&
		    t != CONFIG_TYPE_INT64)
			return conf_errf(why, len, "expected a number");
		e->timeout = t == CONFIG_TYPE_FLOAT ?
		    config_setting_get_float(s) :
		    (double)config_setting_get_int64(s);
		if (!(e->timeout >= 0.1 && e->timeout <= 600))
			return conf_errf(why, len, "must be between 0.1 "
			    "and 600 seconds");
		return 0;
	}
	if (strcmp(m, "name") != 0 && strcmp(m, "url") != 0)
		return conf_errf(why, len, "unknown member (name, url, "
		    "secret_file, timeout)");
	if (t != CONFIG_TYPE_STRING)
		return conf_errf(why, len, "expected a string");
	if (*m == 'n' && !conf_webhook_name_ok(config_setting_get_string(s)))
		return conf_errf(why, len, "expected 1 to %d letters, "
		    "digits, '_', '.' or '-'", CONF_WEBHOOK_NAME_MAX);
	if (*m == 'u' && !conf_webhook_url_ok(config_setting_get_string(s)))
		return conf_errf(why, len, "expected an http:// or "
		    "https:// URL with a host, no blanks or control characters, "
		    "at most %d bytes", CONF_WEBHOOK_URL_MAX);
	if ((*(*m == 'n' ? &e->name : &e->url) = strdup(
	    config_setting_get_string(s))) == NULL)
		return conf_errf(why, len, "out of memory");
	return 0;
}

/* The i-th group of the list into e; err names file, line and member. */
static int
conf_webhook_group(struct conf_webhook_endpoint *e, const config_setting_t *g,
    int i, const char *file, char *err, size_t len)
{
	const config_setting_t *s;
	char why[192];
	int k;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return conf_errf(err, len, "%s:%d: webhook.endpoints[%d]: "
		    "expected a group { name = ...; url = ...; secret_file = "
		    "...; }", file, config_setting_source_line(g), i);
	for (k = 0; (s = config_setting_get_elem(g, (unsigned)k)) != NULL; k++)
		if (conf_webhook_member(e, s, why, sizeof(why)) == -1)
			return conf_errf(err, len, "%s:%d: "
			    "webhook.endpoints[%d].%s: %s", file,
			    config_setting_source_line(s), i,
			    config_setting_name(s), why);
	if (e->name == NULL || e->url == NULL || e->nsecrets == 0)
		return conf_errf(err, len, "%s:%d: webhook.endpoints[%d]: "
		    "%s is required", file, config_setting_source_line(g), i,
		    e->name == NULL ? "name" : e->url == NULL ? "url" :
		    "secret_file");
	return 0;
}

/* Called by conf_walk with the webhook.endpoints setting (a list). */
int
conf_webhook_set(struct conf *c, const void *setting, const char *file,
    char *err, size_t len)
{
	const config_setting_t *s = setting, *g;
	int i, n, t = config_setting_type(s);

	conf_webhook_free(c);
	if (t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY)
		return conf_errf(err, len, "%s:%d: webhook.endpoints: "
		    "expected a list of groups ( { name = ...; }, ... )", file,
		    config_setting_source_line(s));
	n = config_setting_length(s);
	if (n > 0 && (c->webhook_endpoints = calloc((size_t)n,
	    sizeof(*c->webhook_endpoints))) == NULL)
		return conf_errf(err, len, "out of memory");
	for (i = 0; i < n; i++) {
		g = config_setting_get_elem(s, (unsigned)i);
		c->webhook_nendpoints = i + 1;
		if (conf_webhook_group(&c->webhook_endpoints[i], g, i, file,
		    err, len) == -1)
			return -1;
	}
	return 0;
}

/*
 * "whsec_" + base64 of 24 to 64 bytes (the Standard Webhooks secret
 * format), one trailing newline allowed, into s.
 */
static int
conf_webhook_decode(const char *text, size_t n, struct conf_webhook_secret *s)
{
	unsigned char out[3 * 128 / 4];
	int got;

	if (n > 0 && text[n - 1] == '\n')
		n--;
	if (n > 0 && text[n - 1] == '\r')
		n--;
	if (n < 6 || memcmp(text, "whsec_", 6) != 0)
		return -1;
	text += 6;
	n -= 6;
	if (n == 0 || n % 4 != 0 || n > 128 ||
	    strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/=") < n)
		return -1;
	if ((got = EVP_DecodeBlock(out, (const unsigned char *)text,
	    (int)n)) < 0)
		return -1;
	/* EVP_DecodeBlock counts the padding's zero bytes too. */
	got -= (text[n - 1] == '=') + (text[n - 2] == '=');
	if (got < 24 || got > 64)
		return -1;
	memcpy(s->key, out, (size_t)got);
	s->len = (size_t)got;
	explicit_bzero(out, sizeof(out));
	return 0;
}

/* Reads every secret of endpoint i. */
static int
conf_webhook_secrets(struct conf_webhook_endpoint *e, int i, const char *file,
    char *err, size_t len)
{
	char key[64], *text;
	size_t n;
	int k, bad;

	snprintf(key, sizeof(key), "webhook.endpoints[%d].secret_file", i);
	for (k = 0; k < e->nsecrets; k++) {
		if ((text = conf_file_read(file, key, e->secret_files[k], &n,
		    err, len)) == NULL)
			return -1;
		bad = conf_webhook_decode(text, n, &e->secrets[k]);
		explicit_bzero(text, n);
		free(text);
		if (bad)
			return conf_errf(err, len, "%s: "
			    "webhook.endpoints[%d].secret_file: %s: not a "
			    "Standard Webhooks secret (\"whsec_\" and the "
			    "base64 of 24 to 64 bytes)", file, i,
			    e->secret_files[k]);
	}
	return 0;
}

/*
 * After the file and the environment: unique names, webhook.timeout for
 * endpoints that set none, and the secrets read.
 */
int
conf_webhook_check(struct conf *c, const char *file, char *err, size_t len)
{
	struct conf_webhook_endpoint *e;
	int i, k;

	for (i = 0; i < c->webhook_nendpoints; i++) {
		e = &c->webhook_endpoints[i];
		for (k = 0; k < i; k++)
			if (strcmp(c->webhook_endpoints[k].name, e->name) == 0)
				return conf_errf(err, len, "%s: "
				    "webhook.endpoints[%d].name: \"%s\" is "
				    "already endpoint %d", file, i, e->name, k);
		if (e->timeout == 0)
			e->timeout = c->webhook_timeout;
		if (conf_webhook_secrets(e, i, file, err, len) == -1)
			return -1;
	}
	if (*c->events_endpoint != '\0' &&
	    conf_webhook_find(c, c->events_endpoint) == NULL)
		return conf_errf(err, len, "%s: events.endpoint: names no "
		    "endpoint of webhook.endpoints", file);
	return 0;
}

/* The endpoint of that name, or NULL. */
const struct conf_webhook_endpoint *
conf_webhook_find(const struct conf *c, const char *name)
{
	int i;

	for (i = 0; i < c->webhook_nendpoints; i++)
		if (strcmp(c->webhook_endpoints[i].name, name) == 0)
			return &c->webhook_endpoints[i];
	return NULL;
}

/* Like conf_check_secret_modes: 1 with msg when a secret file of an
 * endpoint can be read by its group or others, else 0. */
int
conf_webhook_secret_modes(const struct conf *c, char *msg, size_t len)
{
	const struct conf_webhook_endpoint *e;
	struct stat st;
	int i, k;

	for (i = 0; i < c->webhook_nendpoints; i++) {
		e = &c->webhook_endpoints[i];
		for (k = 0; k < e->nsecrets; k++) {
			if (stat(e->secret_files[k], &st) == -1 ||
			    (st.st_mode & (S_IRGRP | S_IROTH)) == 0)
				continue;
			snprintf(msg, len, "webhook.endpoints[%d].secret_file %s "
			    "is readable by its group or others (mode %04o): "
			    "chmod 600 it", i, e->secret_files[k],
			    (unsigned)(st.st_mode & 07777));
			return 1;
		}
	}
	return 0;
}
