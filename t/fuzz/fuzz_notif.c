/*
 * fuzz_notif.c - a POST body from validation to the message on the wire:
 * json_loadb -> notif_validate -> notif_message_id -> notif_build, as
 * api_notify.c and mailer.c chain them.
 *
 * Properties: a refusal names a 4xx status and says why; an accepted
 * body builds a message with no bare CR or LF, no line over 998 bytes,
 * no lone "." line (it would end SMTP DATA), only known header lines
 * (or their folds) before the first empty line, and that empty line.
 */
#include "config.h"

#include <stdbool.h>

#include "fuzz.h"
#include "notif.h"

#define FUZZ_MAX_CONTENT	65536

static const char *const fuzz_headers[] = {
	"From: ", "To: ", "Subject: ", "Date: ", "Message-ID: ",
	"MIME-Version: ", "Content-Type: ", "Content-Transfer-Encoding: ",
	"Reply-To: ", "Sender: ", "Auto-Submitted: ", NULL
};

static bool
fuzz_header_known(const char *line)
{
	int i;

	if (line[0] == ' ' || line[0] == '\t')
		return true;	/* a fold of the header before */
	for (i = 0; fuzz_headers[i] != NULL; i++)
		if (strncmp(line, fuzz_headers[i], strlen(fuzz_headers[i])) == 0)
			return true;
	return false;
}

/* Walks the CRLF lines of a message that has no bare CR or LF. */
static void
fuzz_check_lines(const char *msg, size_t len)
{
	const char *p = msg, *end = msg + len, *eol;
	bool head = true;
	size_t n;
	char *line;

	while (p < end) {
		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		FUZZ_CHECK(eol != NULL, "last line has no CRLF");
		n = (size_t)(eol - p);
		FUZZ_CHECK(n <= 998, "line of %zu bytes", n);
		FUZZ_CHECK(!(n == 1 && p[0] == '.'), "lone \".\" line");
		if (head && n == 0)
			head = false;
		else if (head) {
			line = fuzz_cstr((const uint8_t *)p, n);
			FUZZ_CHECK(fuzz_header_known(line), "unknown header "
			    "line \"%s\"", line);
			free(line);
		}
		p = eol + 2;
	}
	FUZZ_CHECK(!head, "no empty line after the headers");
}

static void
fuzz_check_build(const struct notif_input *in)
{
	struct notif_msg m;
	size_t len = 0, bad;
	char *msg, *mid;

	memset(&m, 0, sizeof(m));
	m.from = in->from != NULL ? in->from : "notifyd@example.com";
	m.to = in->recipient;
	m.subject = in->title;
	m.html = in->content;
	FUZZ_CHECK((mid = notif_message_id(42, 0xdeadbeef, m.from)) != NULL,
	    "no Message-ID");
	m.message_id = mid;
	m.date = 1700000000;
	m.boundary_salt = 0x12345678;
	FUZZ_CHECK((msg = notif_build(&m, &len)) != NULL, "no message");
	FUZZ_CHECK(strlen(msg) == len, "length %zu, NUL at %zu", len,
	    strlen(msg));
	bad = fuzz_bare_crlf(msg, len);
	FUZZ_CHECK(bad == 0, "bare CR or LF at byte %zu", bad - 1);
	fuzz_check_lines(msg, len);
	free(msg);
	free(mid);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct notif_input in;
	struct notif_error e;
	json_t *body;

	if ((body = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return 0;
	memset(&e, 0, sizeof(e));
	if (notif_validate(body, NULL, FUZZ_MAX_CONTENT, &in, &e) == 0)
		fuzz_check_build(&in);
	else
		FUZZ_CHECK(e.status >= 400 && e.status < 500 &&
		    e.msg[0] != '\0', "refused with %d \"%s\"", e.status, e.msg);
	json_decref(body);
	return 0;
}
