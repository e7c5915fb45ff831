/*
 * conf_dump.c - the effective configuration in libconfig syntax (-T).
 *
 * Owns writing a loaded snapshot back out, with secrets masked: bearer
 * tokens, passwords inside a conninfo or URL, and Kafka properties
 * naming a password or secret.  Never logs; libconfig does the quoting.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libconfig.h>

#include "conf.h"

#define CONF_MASK	"********"

/* The group a dotted name lives in, made on the way; NULL on failure. */
static config_setting_t *
conf_dump_group(config_t *cfg, const char *name, const char **leaf)
{
	config_setting_t *g = config_root_setting(cfg), *sub;
	char part[64];
	const char *dot;
	size_t n;

	while ((dot = strchr(name, '.')) != NULL) {
		n = (size_t)(dot - name);
		if (n >= sizeof(part))
			return NULL;
		memcpy(part, name, n);
		part[n] = '\0';
		if ((sub = config_setting_get_member(g, part)) == NULL &&
		    (sub = config_setting_add(g, part, CONFIG_TYPE_GROUP)) == NULL)
			return NULL;
		g = sub;
		name = dot + 1;
	}
	*leaf = name;
	return g;
}

/* s with the password of a URL's user:password@ masked. */
static void
conf_mask_url(char *out, size_t len, const char *s)
{
	const char *scheme = strstr(s, "://"), *at, *colon;

	at = scheme != NULL ? strchr(scheme + 3, '@') : NULL;
	colon = at != NULL ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) :
	    NULL;
	/* An @ after the first / is in the path, not the authority. */
	if (colon == NULL || (strchr(scheme + 3, '/') != NULL &&
	    strchr(scheme + 3, '/') < at)) {
		snprintf(out, len, "%s", s);
		return;
	}
	snprintf(out, len, "%.*s" CONF_MASK "%s", (int)(colon + 1 - s), s, at);
}

/* A libpq keyword/value string with password='...' masked. */
static void
conf_mask_conninfo(char *out, size_t len, const char *s)
{
	const char *p = strstr(s, "password"), *v, *e;

	if (strstr(s, "://") != NULL) {
		conf_mask_url(out, len, s);
		return;
	}
	while (p != NULL && p != s && p[-1] != ' ' && p[-1] != '\t')
		p = strstr(p + 1, "password");
	if (p == NULL) {
		snprintf(out, len, "%s", s);
		return;
	}
	for (v = p + 8; *v == ' ' || *v == '='; v++)
		;
	if (*v == '\'')
		for (e = v + 1; *e != '\0' && *e != '\''; e += e[0] == '\\' &&
		    e[1] != '\0' ? 2 : 1)
			;
	else
		e = v + strcspn(v, " \t");
	if (*v == '\'' && *e == '\'')
		e++;
	snprintf(out, len, "%.*s" CONF_MASK "%s", (int)(v - s), s, e);
}

/* Whether a Kafka property's name says its value is a secret. */
static int
conf_secret_property(const char *s, size_t n)
{
	char name[128];

	snprintf(name, sizeof(name), "%.*s", (int)n, s);
	return strstr(name, "password") != NULL ||
	    strstr(name, "secret") != NULL;
}

/* One list element, masked where it is a secret. */
static void
conf_mask_item(char *out, size_t len, const char *key, const char *s)
{
	const char *sep;

	if (strcmp(key, "http.tokens") == 0 && (sep = strchr(s, ':')) != NULL)
		snprintf(out, len, CONF_MASK "%s", sep);
	else if (strcmp(key, "kafka.properties") == 0 &&
	    (sep = strchr(s, '=')) != NULL &&
	    conf_secret_property(s, (size_t)(sep - s)))
		snprintf(out, len, "%.*s=" CONF_MASK, (int)(sep - s), s);
	else
		snprintf(out, len, "%s", s);
}

/* A string value as shown: URLs and conninfo with the password masked. */
static void
conf_mask_string(char *out, size_t len, const char *key, const char *s)
{
	if (strcmp(key, "database.conninfo") == 0)
		conf_mask_conninfo(out, len, s);
	else if (strstr(key, "url") != NULL)
		conf_mask_url(out, len, s);
	else
		snprintf(out, len, "%s", s);
}

/* Adds key k of c to cfg; -1 when libconfig refuses. */
static int
conf_dump_key(config_t *cfg, const struct conf *c, const struct conf_key *k)
{
	const void *f = (const char *)c + k->off;
	const struct conf_strlist *l = f;
	config_setting_t *g, *s;
	const char *leaf;
	char buf[4096];
	int i, rc = 0;

	if ((g = conf_dump_group(cfg, k->name, &leaf)) == NULL)
		return -1;
	switch (k->type) {
	case CONF_BOOL:
		s = config_setting_add(g, leaf, CONFIG_TYPE_BOOL);
		return s != NULL && config_setting_set_bool(s,
		    *(const bool *)f) == CONFIG_TRUE ? 0 : -1;
	case CONF_INT:
		s = config_setting_add(g, leaf, CONFIG_TYPE_INT);
		return s != NULL && config_setting_set_int(s,
		    *(const int *)f) == CONFIG_TRUE ? 0 : -1;
	case CONF_FLOAT:
		s = config_setting_add(g, leaf, CONFIG_TYPE_FLOAT);
		return s != NULL && config_setting_set_float(s,
		    *(const double *)f) == CONFIG_TRUE ? 0 : -1;
	case CONF_STRING:
		conf_mask_string(buf, sizeof(buf), k->name,
		    *(char *const *)f ? *(char *const *)f : "");
		s = config_setting_add(g, leaf, CONFIG_TYPE_STRING);
		return s != NULL && config_setting_set_string(s, buf) ==
		    CONFIG_TRUE ? 0 : -1;
	case CONF_STRLIST:
		if ((s = config_setting_add(g, leaf, CONFIG_TYPE_ARRAY)) == NULL)
			return -1;
		for (i = 0; i < l->n && rc == 0; i++) {
			conf_mask_item(buf, sizeof(buf), k->name, l->v[i]);
			if (config_setting_set_string_elem(s, -1, buf) == NULL)
				rc = -1;
		}
		return rc;
	}
	return -1;
}

/* One endpoint of webhook.endpoints into the list l (URL masked). */
static int
conf_dump_endpoint(config_setting_t *l, const struct conf_webhook_endpoint *e)
{
	config_setting_t *g, *s, *f;
	char buf[4096];
	int i;

	if ((g = config_setting_add(l, NULL, CONFIG_TYPE_GROUP)) == NULL ||
	    (s = config_setting_add(g, "name", CONFIG_TYPE_STRING)) == NULL ||
	    config_setting_set_string(s, e->name) != CONFIG_TRUE)
		return -1;
	conf_mask_url(buf, sizeof(buf), e->url);
	if ((s = config_setting_add(g, "url", CONFIG_TYPE_STRING)) == NULL ||
	    config_setting_set_string(s, buf) != CONFIG_TRUE ||
	    (f = config_setting_add(g, "secret_file", CONFIG_TYPE_ARRAY)) ==
	    NULL ||
	    (s = config_setting_add(g, "timeout", CONFIG_TYPE_FLOAT)) == NULL ||
	    config_setting_set_float(s, e->timeout) != CONFIG_TRUE)
		return -1;
	for (i = 0; i < e->nsecrets; i++)
		if (config_setting_set_string_elem(f, -1,
		    e->secret_files[i]) == NULL)
			return -1;
	return 0;
}

/* webhook.endpoints, a list of groups outside the key table, if any. */
static int
conf_dump_webhook(config_t *cfg, const struct conf *c)
{
	config_setting_t *g, *l;
	const char *leaf;
	int i;

	if (c->webhook_nendpoints == 0)	/* only keys of the table, then */
		return 0;
	if ((g = conf_dump_group(cfg, "webhook.endpoints", &leaf)) == NULL ||
	    (l = config_setting_add(g, leaf, CONFIG_TYPE_LIST)) == NULL)
		return -1;
	for (i = 0; i < c->webhook_nendpoints; i++)
		if (conf_dump_endpoint(l, &c->webhook_endpoints[i]) == -1)
			return -1;
	return 0;
}

/*
 * Writes every key of c, file and environment applied, secrets masked,
 * as a libconfig file `notifyd -t -c` accepts.  -1 on failure.
 */
int
conf_dump(FILE *out, const struct conf *c)
{
	const struct conf_key *k;
	config_t cfg;
	int rc = 0;

	config_init(&cfg);
	for (k = conf_keys; k->name != NULL && rc == 0; k++)
		rc = conf_dump_key(&cfg, c, k);
	if (rc == 0)
		rc = conf_dump_webhook(&cfg, c);
	if (rc == 0) {
		fprintf(out, "# notifyd %s: effective configuration (%s plus "
		    "NOTIFYD_* variables), secrets masked\n", PACKAGE_VERSION,
		    c->path != NULL ? c->path : "defaults");
		config_write(&cfg, out);
		rc = fflush(out) == 0 ? 0 : -1;
	}
	config_destroy(&cfg);
	return rc;
}

static const char *
conf_type_name(enum conf_type t)
{
	switch (t) {
	case CONF_BOOL:		return "boolean";
	case CONF_INT:		return "integer";
	case CONF_FLOAT:	return "number";
	case CONF_STRING:	return "string";
	case CONF_STRLIST:	return "list of strings";
	}
	return "?";
}

/*
 * A default set by ./configure, shown in the docs as the name of the
 * directory it derives from: the pages must not carry one build's path.
 */
static const char *
conf_doc_default(const struct conf_key *k)
{
	return strcmp(k->def, NOTIFYD_SQLDIR) == 0 ? "DATADIR/notifyd/sql" :
	    k->def;
}

/* One key of the table as a JSON object (--keys); every key takes
 * effect on reload, which builds a whole new configuration. */
static json_t *
conf_key_json(const struct conf_key *k)
{
	char env[128];

	return json_pack("{s:s, s:s, s:s, s:s, s:f, s:f, s:o, s:b, s:s, s:s}",
	    "name", k->name, "type", conf_type_name(k->type),
	    "default", k->def, "doc_default", conf_doc_default(k),
	    "min", k->min, "max", k->max,
	    "choices", k->choices ? json_string(k->choices) : json_null(),
	    "reload", 1, "help", k->help,
	    "env", conf_env_name(k, env, sizeof(env)));
}

/*
 * The key table and the environment aliases as one JSON document
 * (--keys): what the documentation checks read instead of parsing C.
 */
int
conf_dump_keys(FILE *out)
{
	json_t *doc = json_object(), *keys = json_array(), *al = json_object();
	const struct conf_key *k;
	const char *env, *key;
	int i, rc = 0;

	for (k = conf_keys; k->name != NULL; k++)
		if (json_array_append_new(keys, conf_key_json(k)) == -1)
			rc = -1;
	for (i = 0; (env = conf_alias(i, &key)) != NULL; i++)
		if (json_object_set_new(al, env, json_string(key)) == -1)
			rc = -1;
	json_object_set_new(doc, "keys", keys);
	json_object_set_new(doc, "aliases", al);
	if (rc == 0 && (json_dumpf(doc, out, JSON_INDENT(1)) == -1 ||
	    fputc('\n', out) == EOF || fflush(out) != 0))
		rc = -1;
	json_decref(doc);
	return rc;
}
