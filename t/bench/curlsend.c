/*
 * curlsend - libcurl's own SMTP ceiling, for the email figure of bench.py.
 *
 * Usage: curlsend URL SESSIONS MESSAGES SIZE
 *
 * SESSIONS processes each send MESSAGES/SESSIONS messages of SIZE body
 * bytes over one reused connection, the way a notifyd worker drives
 * libcurl (one easy handle, MAIL FROM/RCPT/DATA per message, reply lines
 * read from the header callback), without PostgreSQL or Kafka.  Prints
 * "RATE msgs/s" and exits 0, or names the failure and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

struct body {
	const char	*p;
	size_t		 left;
};

static size_t
body_read(char *buf, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t want = size * n;

	if (want > b->left)
		want = b->left;
	memcpy(buf, b->p, want);
	b->p += want;
	b->left -= want;
	return want;
}

static size_t
reply_line(char *data, size_t size, size_t n, void *arg)
{
	return size * n;
}

static int
session(const char *url, int count, const char *msg)
{
	struct curl_slist *rcpt;
	struct body b;
	CURLcode rc;
	CURL *h;
	int i;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (h = curl_easy_init()) == NULL ||
	    (rcpt = curl_slist_append(NULL, "<user@example.com>")) == NULL) {
		fprintf(stderr, "curlsend: libcurl init failed\n");
		return 1;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, body_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &b);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, reply_line);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, "<notifications@localhost>");
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	for (i = 0; i < count; i++) {
		b.p = msg;
		b.left = strlen(msg);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)b.left);
		if ((rc = curl_easy_perform(h)) != CURLE_OK) {
			fprintf(stderr, "curlsend: message %d: %s\n", i,
			    curl_easy_strerror(rc));
			return 1;
		}
	}
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(h);
	return 0;
}

static char *
message(size_t size)
{
	static const char head[] = "From: notifications@localhost\r\n"
	    "To: user@example.com\r\nSubject: curlsend\r\n\r\n";
	char *m = malloc(sizeof(head) + size + 3);
	size_t i;

	if (m == NULL)
		return NULL;
	memcpy(m, head, sizeof(head) - 1);
	for (i = 0; i < size; i++)	/* 78-byte lines, as a mailer writes */
		m[sizeof(head) - 1 + i] = (i % 80 >= 78) ?
		    (i % 80 == 78 ? '\r' : '\n') : 'x';
	memcpy(m + sizeof(head) - 1 + size, "\r\n", 3);
	return m;
}

int
main(int argc, char **argv)
{
	struct timespec t0, t1;
	int sessions, total, i, status, failed = 0;
	char *msg;

	if (argc != 5 || (sessions = atoi(argv[2])) < 1 ||
	    (total = atoi(argv[3])) < sessions ||
	    (msg = message((size_t)atoi(argv[4]))) == NULL) {
		fprintf(stderr, "usage: curlsend URL SESSIONS MESSAGES SIZE\n");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < sessions; i++) {
		switch (fork()) {
		case -1:
			perror("curlsend: fork");
			return 1;
		case 0:
			_exit(session(argv[1], total / sessions, msg));
		}
	}
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (failed)
		return 1;
	printf("%.0f msgs/s\n", (double)(total / sessions * sessions) /
	    ((double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9));
	free(msg);
	return 0;
}
