/*
 * fuzz_conf.c - loading the configuration: a libconfig file and the
 * NOTIFYD_* environment on top of it (conf_load in src/conf.c).
 *
 * Input: the file's text, then optionally a NUL byte and NAME=VALUE
 * lines set as environment variables for this one load (NOTIFYD_ is
 * put in front of names that lack it).  Properties: a load either
 * succeeds with a snapshot that passes conf.c's own cross-key checks,
 * or fails with a non-empty message inside the error buffer; no leak
 * (libconfig's own leak on some syntax errors is suppressed in
 * t/fuzz/lsan.supp), no memory error.
 */
#include "config.h"

#include <unistd.h>

#include "conf.h"
#include "fuzz.h"

#define FUZZ_MAXENV	16

int	LLVMFuzzerInitialize(int *argc, char ***argv);

static char fuzz_path[64];
static int fuzz_fd = -1;

static void
fuzz_cleanup(void)
{
	if (fuzz_fd != -1)
		unlink(fuzz_path);
}

/* One temporary file, rewritten for every input. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	extern char **environ;
	char **e;

	snprintf(fuzz_path, sizeof(fuzz_path), "%s/fuzz_conf.XXXXXX",
	    tmp != NULL && strlen(tmp) < 40 ? tmp : "/tmp");
	if ((fuzz_fd = mkstemp(fuzz_path)) == -1)
		abort();
	atexit(fuzz_cleanup);
	/* only the input decides what the environment says */
	for (e = environ; *e != NULL; )
		if (strncmp(*e, "NOTIFYD_", 8) == 0) {
			char *name = strndup(*e, strcspn(*e, "="));
			unsetenv(name);
			free(name);
			e = environ;
		} else
			e++;
	return 0;
}

static void
fuzz_write_file(const uint8_t *data, size_t size)
{
	if (ftruncate(fuzz_fd, 0) == -1 ||
	    (size > 0 && pwrite(fuzz_fd, data, size, 0) != (ssize_t)size))
		abort();
}

/* NAME=VALUE lines into the environment; returns how many names set. */
static int
fuzz_set_env(char *lines, char **names)
{
	char *line, *eq, *save = NULL, *name;
	int n = 0;

	for (line = strtok_r(lines, "\n", &save); line != NULL && n <
	    FUZZ_MAXENV; line = strtok_r(NULL, "\n", &save)) {
		if ((eq = strchr(line, '=')) == NULL || eq == line)
			continue;
		*eq = '\0';
		if (asprintf(&name, "%s%s", strncmp(line, "NOTIFYD_", 8) == 0 ?
		    "" : "NOTIFYD_", line) == -1)
			abort();
		if (setenv(name, eq + 1, 1) == -1) {
			free(name);
			continue;
		}
		names[n++] = name;
	}
	return n;
}

static void
fuzz_check_conf(const struct conf *c)
{
	int i;

	FUZZ_CHECK(strncmp(c->email_smtp_url, "smtp://", 7) == 0 ||
	    strncmp(c->email_smtp_url, "smtps://", 8) == 0, "url %s",
	    c->email_smtp_url);
	for (i = 0; i < c->http_tokens.n; i++)
		FUZZ_CHECK(strchr(c->http_tokens.v[i], ':') != NULL &&
		    c->http_tokens.v[i][0] != ':', "token %d", i);
	for (i = 0; i < c->kafka_properties.n; i++)
		FUZZ_CHECK(strchr(c->kafka_properties.v[i], '=') != NULL,
		    "property %d", i);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CONF_ERRLEN], *names[FUZZ_MAXENV], *s;
	size_t flen = strnlen((const char *)data, size);
	struct conf *c;
	int i, n = 0;

	fuzz_write_file(data, flen);
	s = fuzz_cstr(data, size);
	if (flen < size)
		n = fuzz_set_env(s + flen + 1, names);
	memset(err, 0x7f, sizeof(err));
	err[0] = '\0';
	if ((c = conf_load(fuzz_path, err, sizeof(err))) != NULL) {
		fuzz_check_conf(c);
		conf_free(c);
	} else
		FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)),
		    "refused without a message");
	for (i = 0; i < n; i++) {
		unsetenv(names[i]);
		free(names[i]);
	}
	free(s);
	return 0;
}
