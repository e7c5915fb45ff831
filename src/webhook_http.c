/*
 * webhook_http.c - a signed webhook POST over libcurl.
 *
 * One easy handle per worker, so connections to an endpoint are reused.
 * Only http and https (CURLOPT_PROTOCOLS_STR), redirects never followed
 * (a 3xx is the endpoint's answer, judged like any other), the answer
 * read up to a limit and then cut (a hostile endpoint cannot make us
 * buffer without end), the whole request bounded by the endpoint's
 * timeout.  The URL comes from the configuration only.  Never logs.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "webhook_http.h"
#include "webhook_reply.h"

struct webhook_http {
	CURL		*curl;
	char		*body;		/* the answer so far */
	size_t		 len, max;
	bool		 cut;		/* the answer went past max */
	char		 retry_after[64];
};

struct webhook_http *
webhook_http_new(char *err, size_t len)
{
	struct webhook_http *h;

	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->curl = curl_easy_init()) == NULL) {
		free(h);
		snprintf(err, len, "cannot create a libcurl handle");
		return NULL;
	}
	return h;
}

void
webhook_http_free(struct webhook_http *h)
{
	if (h == NULL)
		return;
	curl_easy_cleanup(h->curl);
	free(h->body);
	free(h);
}

/* Keeps the answer up to max bytes; past it, stops the transfer. */
static size_t
webhook_http_write(char *buf, size_t size, size_t n, void *arg)
{
	struct webhook_http *h = arg;
	size_t want = size * n, room = h->max - h->len;
	char *b;

	if (want > room) {
		h->cut = true;
		want = room;
	}
	if (want > 0) {
		if ((b = realloc(h->body, h->len + want + 1)) == NULL)
			return 0;
		h->body = b;
		memcpy(h->body + h->len, buf, want);
		h->len += want;
	}
	return h->cut ? 0 : size * n;
}

/* Catches Retry-After (the last one of the last response). */
static size_t
webhook_http_header(char *buf, size_t size, size_t n, void *arg)
{
	struct webhook_http *h = arg;
	size_t len = size * n, v;

	if (len > 12 && strncasecmp(buf, "retry-after:", 12) == 0) {
		v = len - 12;
		if (v >= sizeof(h->retry_after))
			v = sizeof(h->retry_after) - 1;
		memcpy(h->retry_after, buf + 12, v);
		h->retry_after[v] = '\0';
	} else if (len > 5 && strncmp(buf, "HTTP/", 5) == 0)
		h->retry_after[0] = '\0';	/* a new response (100, ...) */
	return len;
}

/* The request's headers; NULL when out of memory. */
static struct curl_slist *
webhook_http_headers(const struct webhook_post *p)
{
	struct curl_slist *l = NULL, *t;
	char line[4096];
	const char *fixed[] = { "Content-Type: application/json",
	    "User-Agent: notifyd/" PACKAGE_VERSION, "Expect:", NULL };
	int i;

	for (i = 0; fixed[i] != NULL; i++) {
		if ((t = curl_slist_append(l, fixed[i])) == NULL)
			goto fail;
		l = t;
	}
	snprintf(line, sizeof(line), "webhook-id: %s", p->id);
	if ((t = curl_slist_append(l, line)) == NULL)
		goto fail;
	snprintf(line, sizeof(line), "webhook-timestamp: %lld",
	    (long long)p->timestamp);
	if ((t = curl_slist_append(t, line)) == NULL)
		goto fail;
	snprintf(line, sizeof(line), "webhook-signature: %s", p->signature);
	if ((t = curl_slist_append(t, line)) == NULL)
		goto fail;
	return t;
fail:
	curl_slist_free_all(l);
	return NULL;
}

/* Sets the handle up for p; the CURLcode of the first refusal. */
static CURLcode
webhook_http_setup(struct webhook_http *h, const struct webhook_post *p,
    struct curl_slist *hdrs)
{
	CURL *c = h->curl;
	CURLcode e;

	curl_easy_reset(c);
	if ((e = curl_easy_setopt(c, CURLOPT_URL, p->url)) != CURLE_OK ||
	    (e = curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https")) ||
	    (e = curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L)) ||
	    (e = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L)) ||
	    (e = curl_easy_setopt(c, CURLOPT_POST, 1L)) ||
	    (e = curl_easy_setopt(c, CURLOPT_POSTFIELDS, p->body)) ||
	    (e = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)p->len)) ||
	    (e = curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs)) ||
	    (e = curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
	    (long)(p->timeout * 1000))) ||
	    (e = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(p->connect_timeout * 1000))) ||
	    (e = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, webhook_http_write)) ||
	    (e = curl_easy_setopt(c, CURLOPT_WRITEDATA, h)) ||
	    (e = curl_easy_setopt(c, CURLOPT_HEADERFUNCTION,
	    webhook_http_header)) ||
	    (e = curl_easy_setopt(c, CURLOPT_HEADERDATA, h)))
		return e;
	return CURLE_OK;
}

/* The outcome of a finished transfer into a. */
static void
webhook_http_result(struct webhook_http *h, const struct webhook_post *p,
    CURLcode e, struct channel_attempt *a)
{
	long code = 0;

	/* A cut answer still has its status: the headers were complete. */
	if (e == CURLE_OK || (e == CURLE_WRITE_ERROR && h->cut))
		(void)curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &code);
	a->code = (int)code;
	if (code == 0 && e == CURLE_OPERATION_TIMEDOUT)
		snprintf(a->text, sizeof(a->text), "no answer within %.1f s "
		    "(timeout)", p->timeout);
	else if (code == 0)
		snprintf(a->text, sizeof(a->text), "%s", curl_easy_strerror(e));
	else
		webhook_reply_excerpt(h->body, h->len, a->text,
		    sizeof(a->text));
	a->retry_after = code != 0 ? webhook_reply_retry_after(
	    h->retry_after, time(NULL)) : -1;
}

int
webhook_http_post(struct webhook_http *h, const struct webhook_post *p,
    struct channel_attempt *a)
{
	struct curl_slist *hdrs;
	CURLcode e;

	memset(a, 0, sizeof(*a));
	a->retry_after = -1;
	h->len = 0;
	h->cut = false;
	h->max = p->max_response;
	h->retry_after[0] = '\0';
	if ((hdrs = webhook_http_headers(p)) == NULL) {
		snprintf(a->text, sizeof(a->text), "out of memory");
		return -1;
	}
	if ((e = webhook_http_setup(h, p, hdrs)) != CURLE_OK) {
		curl_slist_free_all(hdrs);
		snprintf(a->text, sizeof(a->text), "libcurl: %s",
		    curl_easy_strerror(e));
		return -1;
	}
	e = curl_easy_perform(h->curl);
	curl_slist_free_all(hdrs);
	webhook_http_result(h, p, e, a);
	return 0;
}
