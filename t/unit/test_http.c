/*
 * test_http.c - the HTTP layer serves a route table it is handed, with
 * the authorization callback and context it is handed: it knows no
 * handler of notifyd.  A real server on 127.0.0.1 and raw requests.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"

struct test_app {
	int	 calls;
};

/* Answers the {} segment and how often the context's handler ran. */
static void
test_echo(struct http_req *r, struct http_resp *rs)
{
	struct test_app *app = r->app;

	app->calls++;
	http_json(rs, 200, json_pack("{s:s,s:i,s:s}", "arg", r->arg[0],
	    "calls", app->calls, "route", r->routes[r->route].name));
}

static const struct http_route test_routes[] = {
	{ "GET",  "/echo/{}", NULL,    test_echo, 0, { "name" }, "echo" },
	{ "POST", "/echo/{}", "write", test_echo, 0, { "name" }, "echo_post" },
	{ NULL }
};

/* A route with a scope needs the header X-Key: k. */
static bool
test_authorize(struct http_req *r, const struct http_route *rt,
    struct http_resp *rs)
{
	const char *k = http_header(r, "X-Key");

	if (rt->scope == NULL || (k != NULL && strcmp(k, "k") == 0))
		return true;
	http_error(rs, 401, "no key", NULL);
	return false;
}

struct test_srv {
	struct test_app		 app;
	struct http_server	*srv;
	int			 port;
	int			 fd;	/* listening */
};

static int
test_setup(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	struct http_opts o = { test_routes, test_authorize, NULL, NULL, 2,
	    64, 16, 16, 5.0 };
	struct test_srv *t = calloc(1, sizeof(*t));
	char err[128];
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	t->port = ntohs(sa.sin_port);
	t->fd = fd;
	o.app = &t->app;
	t->srv = http_start(fd, &o, err, sizeof(err));
	assert_non_null(t->srv);
	*state = t;
	return 0;
}

static int
test_teardown(void **state)
{
	struct test_srv *t = *state;

	http_stop(t->srv, 0.2);
	close(t->fd);
	free(t);
	return 0;
}

/* Sends req (Connection: close is added) and returns the whole answer. */
static char *
test_ask(struct test_srv *t, const char *req)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	static char buf[8192];
	size_t n = 0;
	ssize_t k;
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)t->port);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_true(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	while (n < sizeof(buf) - 1 &&
	    (k = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)k;
	buf[n] = '\0';
	close(fd);
	return buf;
}

static void
test_routes_by_table(void **state)
{
	struct test_srv *t = *state;
	char *a = test_ask(t, "GET /echo/abc HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n");

	assert_non_null(strstr(a, "HTTP/1.1 200"));
	assert_non_null(strstr(a, "{\"arg\":\"abc\",\"calls\":1,"
	    "\"route\":\"echo\"}"));
	assert_int_equal(t->app.calls, 1);
}

static void
test_head_and_405(void **state)
{
	struct test_srv *t = *state;
	char *a = test_ask(t, "HEAD /echo/abc HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n");

	assert_non_null(strstr(a, "HTTP/1.1 200"));
	assert_null(strstr(a, "\"arg\""));	/* no body */
	a = test_ask(t, "DELETE /echo/abc HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n");
	assert_non_null(strstr(a, "HTTP/1.1 405"));
	assert_non_null(strstr(a, "Allow: GET, HEAD, POST\r\n"));
	a = test_ask(t, "GET /nope HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n");
	assert_non_null(strstr(a, "HTTP/1.1 404"));
	assert_non_null(strstr(a, "application/problem+json"));
	assert_int_equal(t->app.calls, 1);	/* HEAD ran the GET handler */
}

static void
test_authorize_callback(void **state)
{
	struct test_srv *t = *state;
	char *a = test_ask(t, "POST /echo/abc HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n");

	assert_non_null(strstr(a, "HTTP/1.1 401"));
	assert_non_null(strstr(a, "\"detail\":\"no key\""));
	assert_int_equal(t->app.calls, 0);
	a = test_ask(t, "POST /echo/abc HTTP/1.1\r\nHost: x\r\nX-Key: k\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n");
	assert_non_null(strstr(a, "HTTP/1.1 200"));
	assert_non_null(strstr(a, "\"route\":\"echo_post\""));
}

static void
test_input_checks(void **state)
{
	struct test_srv *t = *state;
	char *a = test_ask(t, "GET /echo/abc?q=1&q=2 HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n");

	assert_non_null(strstr(a, "HTTP/1.1 400"));
	assert_non_null(strstr(a, "\"detail\":\"must not be repeated\""));
	assert_non_null(strstr(a, "\"field\":\"q\""));
	a = test_ask(t, "GET /echo/%FF HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n");
	assert_non_null(strstr(a, "HTTP/1.1 400"));
	assert_non_null(strstr(a, "\"field\":\"name\""));
	a = test_ask(t, "POST /echo/abc HTTP/1.1\r\nHost: x\r\nX-Key: k\r\n"
	    "Content-Length: 65\r\nConnection: close\r\n\r\n");
	assert_non_null(strstr(a, "HTTP/1.1 413"));
	assert_int_equal(t->app.calls, 0);
}

/* A request to url with method; the answer, as test_ask's. */
static char *
test_ask_url(struct test_srv *t, const char *method, const char *url)
{
	static char req[8192];

	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\n"
	    "X-Key: k\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	    method, url);
	return test_ask(t, req);
}

/*
 * A segment longer than the capture buffer on a path that names a
 * route: 414 naming the segment, whatever the method; it was a 404.
 */
static void
test_long_segment_414(void **state)
{
	struct test_srv *t = *state;
	char url[2048];
	char *a;

	memcpy(url, "/echo/", 6);
	memset(url + 6, '7', 600);
	url[606] = '\0';
	a = test_ask_url(t, "GET", url);
	assert_non_null(strstr(a, "HTTP/1.1 414"));
	assert_non_null(strstr(a, "application/problem+json"));
	assert_non_null(strstr(a, "\"detail\":\"path segment too long\""));
	assert_non_null(strstr(a, "\"field\":\"name\""));
	a = test_ask_url(t, "DELETE", url);	/* the path is what is wrong */
	assert_non_null(strstr(a, "HTTP/1.1 414"));
	/* %37 is one byte once decoded: 600 of them too long, 511 fit */
	url[6] = '\0';
	while (strlen(url) < 6 + 3 * 600)
		strcat(url, "%37");
	a = test_ask_url(t, "GET", url);
	assert_non_null(strstr(a, "HTTP/1.1 414"));
	url[6 + 511] = '\0';
	memset(url + 6, '7', 511);
	a = test_ask_url(t, "GET", url);
	assert_non_null(strstr(a, "HTTP/1.1 200"));
	/* a long path that names no route stays a 404 */
	memcpy(url, "/nope/", 6);
	a = test_ask_url(t, "GET", url);
	assert_non_null(strstr(a, "HTTP/1.1 404"));
	assert_int_equal(t->app.calls, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_routes_by_table,
		    test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_head_and_405,
		    test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_authorize_callback,
		    test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_input_checks,
		    test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_long_segment_414,
		    test_setup, test_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
