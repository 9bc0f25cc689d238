/* The HTTP server against raw sockets on loopback: framing, keep-alive and
 * pipelining, HTTP/1.0, 100-continue, every limit and its status, request
 * smuggling attempts, timeouts, the router, graceful shutdown, backpressure
 * and the access log. Real clock; the client is the test's main task,
 * writing bytes by hand and reading what comes back. */
#include "test.h"

#include "server.h"

#include <weft/http.h>
#include <weft/httpd.h>
#include <weft/io.h>
#include <weft/net.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <stdbool.h>
#include <strings.h>
#include <unistd.h>

/* ------------------------------------------------------------ fixture */

typedef struct fixture {
    weft_httpd *srv;
    weft_task *serve;
    int port;
} fixture;

static void *serve_main(void *arg) {
    return weft_error(weft_httpd_serve(arg));
}

static void start(fixture *fx, const weft_httpd_opts *o, weft_httpd_handler h, void *arg) {
    ASSERT_ERR(weft_httpd_new(&fx->srv, o, h, arg), 0);
    ASSERT_ERR(weft_httpd_listen(fx->srv, "127.0.0.1", "0"), 0);
    fx->port = weft_httpd_port(fx->srv);
    ASSERT(fx->port > 0);
    fx->serve = weft_spawn(serve_main, fx->srv);
    ASSERT(fx->serve);
}

/* Shuts the server down; returns what serve returned. */
static int stop(fixture *fx) {
    weft_httpd_shutdown(fx->srv);
    void *res;
    ASSERT_ERR(weft_join(fx->serve, &res), 0);
    weft_httpd_free(fx->srv);
    return weft_error_code(res);
}

static int dial(int port) {
    char p[8];
    snprintf(p, sizeof p, "%d", port);
    int fd;
    ASSERT_ERR(weft_tcp_connect("127.0.0.1", p, &fd), 0);
    return fd;
}

static void put(int fd, const char *s) {
    ASSERT_EQ(weft_write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Reads until EOF (or a reset) within 5 s; returns the bytes. */
static size_t read_all(int fd, char *buf, size_t cap) {
    weft_scope sc;
    weft_timeout_enter(&sc, 5 * WEFT_SECOND);
    size_t n = 0;
    for (;;) {
        ssize_t r = weft_read(fd, buf + n, cap - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    ASSERT_ERR(weft_scope_leave(&sc), 0);
    buf[n] = 0;
    return n;
}

/* The length of the first complete response in buf[0, n), or 0. Knows
 * Content-Length and chunked framing, which is all the server sends
 * besides close-delimited bodies. */
static size_t response_len(const char *buf, size_t n) {
    const char *end = memmem(buf, n, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = (size_t)(end - buf) + 4;
    const char *cl = strcasestr(buf, "\r\nContent-Length: ");
    const char *te = strcasestr(buf, "\r\nTransfer-Encoding: chunked");
    bool is_head_reply = !strncmp(buf, "HTTP/1.1 100", 12);
    if (is_head_reply) return head;
    if (te && te < end) {
        const char *z = memmem(end, n - (size_t)(end - buf), "\r\n0\r\n\r\n", 7);
        return z ? (size_t)(z - buf) + 7 : 0;
    }
    size_t len = cl && cl < end ? strtoul(cl + 18, NULL, 10) : 0;
    return n >= head + len ? head + len : 0;
}

/* Reads one response (several if pipelined: `count`) on a kept-alive
 * connection into buf; returns the bytes. */
static size_t read_responses(int fd, char *buf, size_t cap, int count) {
    weft_scope sc;
    weft_timeout_enter(&sc, 5 * WEFT_SECOND);
    size_t n = 0, done = 0;
    for (int got = 0; got < count;) {
        size_t k = response_len(buf + done, n - done);
        if (k) { done += k; got++; continue; }
        ssize_t r = weft_read(fd, buf + n, cap - 1 - n);
        ASSERT(r > 0);
        n += (size_t)r;
        buf[n] = 0;
    }
    ASSERT_ERR(weft_scope_leave(&sc), 0);
    buf[n] = 0;
    return n;
}

/* True if the peer closed: a read sees EOF (or a reset) within 5 s. */
static bool closed_by_peer(int fd) {
    char b[256];
    weft_scope sc;
    weft_timeout_enter(&sc, 5 * WEFT_SECOND);
    ssize_t r;
    while ((r = weft_read(fd, b, sizeof b)) > 0) {}
    weft_scope_leave(&sc);
    return r == 0 || r == -ECONNRESET;
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* One request on a fresh connection that the test then closes; the whole
 * exchange up to EOF (the request should ask for Connection: close, or
 * provoke an error). */
static size_t exchange(int port, const char *req, char *buf, size_t cap) {
    int fd = dial(port);
    put(fd, req);
    size_t n = read_all(fd, buf, cap);
    weft_close(fd);
    return n;
}

/* ------------------------------------------------------------ handlers */

static int hello(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)req, (void)arg;
    return weft_httpd_res_send(res, 200, "text/plain", "hello\n", 6);
}

/* Echoes the body, and the method and path in headers. */
static int echo(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)arg;
    const void *body;
    size_t len;
    int err = weft_httpd_req_body(req, &body, &len);
    if (err) return err;
    weft_httpd_res_header(res, "X-Method", weft_httpd_req_method(req));
    weft_httpd_res_header(res, "X-Path", weft_httpd_req_path(req));
    weft_httpd_res_header(res, "X-Query", weft_httpd_req_query(req));
    return weft_httpd_res_send(res, 200, "application/octet-stream", body, len);
}

/* Streams three pieces without a Content-Length. */
static int pieces(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)req, (void)arg;
    int err = weft_httpd_res_write(res, "one,", 4);
    if (!err) err = weft_httpd_res_flush(res);
    if (!err) err = weft_httpd_res_write(res, "two,", 4);
    if (!err) err = weft_httpd_res_write(res, "three", 5);
    return err ? err : weft_httpd_res_end(res);
}

/* ------------------------------------------------------------ basics */

static int t_get(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, hello, NULL);
    char buf[4096];
    exchange(fx.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf, sizeof buf);
    ASSERT(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
    ASSERT(strstr(buf, "\r\nContent-Length: 6\r\n"));
    ASSERT(strstr(buf, "\r\nDate: "));
    ASSERT(strstr(buf, "\r\nConnection: close\r\n"));
    ASSERT(!strcasestr(buf, "\r\nServer:"));
    ASSERT(strstr(buf, "\r\n\r\nhello\n"));
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(get_is_answered_with_content_length_date_and_body) { ASSERT_EQ(wt_run_real(t_get, NULL), 0); }

static int t_head(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, hello, NULL);
    char buf[4096];
    size_t n = exchange(fx.port, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf, sizeof buf);
    ASSERT(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
    ASSERT(strstr(buf, "\r\nContent-Length: 6\r\n"));
    ASSERT(n >= 4 && !strcmp(buf + n - 4, "\r\n\r\n"));  /* no body byte */
    ASSERT_ERR(stop(&fx), 0);
    /* A streamed response to HEAD: the head alone too. */
    start(&fx, NULL, pieces, NULL);
    n = exchange(fx.port, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf, sizeof buf);
    ASSERT(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
    ASSERT(n >= 4 && !strcmp(buf + n - 4, "\r\n\r\n"));
    ASSERT(!strstr(buf, "one"));
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(head_gets_the_get_headers_and_no_body) { ASSERT_EQ(wt_run_real(t_head, NULL), 0); }

static int t_post_cl(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, echo, NULL);
    char buf[4096];
    exchange(fx.port, "POST /p/q?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n"
                      "Connection: close\r\n\r\nhello world", buf, sizeof buf);
    ASSERT(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
    ASSERT(strstr(buf, "\r\nX-Method: POST\r\n"));
    ASSERT(strstr(buf, "\r\nX-Path: /p/q\r\n"));
    ASSERT(strstr(buf, "\r\nX-Query: x=1\r\n"));
    ASSERT(strstr(buf, "\r\nContent-Length: 11\r\n"));
    ASSERT(strstr(buf, "\r\n\r\nhello world"));
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(post_with_content_length_body_is_read_whole) { ASSERT_EQ(wt_run_real(t_post_cl, NULL), 0); }

static int t_post_chunked(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, echo, NULL);
    char buf[4096];
    int fd = dial(fx.port);
    put(fd, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    weft_sleep(20 * WEFT_MILLISECOND);  /* the body arrives in two parts */
    put(fd, "6;ext=1\r\n world\r\n0\r\nTrailer: t\r\n\r\n");
    read_responses(fd, buf, sizeof buf, 1);
    ASSERT(strstr(buf, "\r\nContent-Length: 11\r\n"));
    ASSERT(strstr(buf, "\r\n\r\nhello world"));
    weft_close(fd);
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(post_with_chunked_body_is_dechunked) { ASSERT_EQ(wt_run_real(t_post_chunked, NULL), 0); }

static int t_streamed(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, pieces, NULL);
    char buf[4096];
    int fd = dial(fx.port);
    put(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    read_responses(fd, buf, sizeof buf, 1);
    ASSERT(strstr(buf, "\r\nTransfer-Encoding: chunked\r\n"));
    ASSERT(!strstr(buf, "Content-Length"));
    ASSERT(strstr(buf, "\r\n\r\n4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n"));
    weft_close(fd);
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(streamed_response_is_chunked_for_http11) { ASSERT_EQ(wt_run_real(t_streamed, NULL), 0); }

/* A Content-Length set by the handler frames a streamed body. */
static int sized(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)req, (void)arg;
    ASSERT_ERR(weft_httpd_res_header(res, "Content-Length", "6"), 0);
    ASSERT_ERR(weft_httpd_res_write(res, "abc", 3), 0);
    ASSERT_ERR(weft_httpd_res_write(res, "defg", 4), WEFT_EINVAL);  /* past it */
    ASSERT_ERR(weft_httpd_res_write(res, "def", 3), 0);
    return weft_httpd_res_end(res);
}

static int t_sized(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, sized, NULL);
    char buf[4096];
    exchange(fx.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf, sizeof buf);
    ASSERT(strstr(buf, "\r\nContent-Length: 6\r\n"));
    ASSERT(!strstr(buf, "chunked"));
    ASSERT(strstr(buf, "\r\n\r\nabcdef") && !strstr(buf, "abcdefg"));
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(streamed_response_with_content_length_is_not_chunked) { ASSERT_EQ(wt_run_real(t_sized, NULL), 0); }

/* ------------------------------------------------ keep-alive, pipelining */

static int t_pipeline(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, echo, NULL);
    char buf[8192];
    int fd = dial(fx.port);
    put(fd, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
            "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
            "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    read_responses(fd, buf, sizeof buf, 3);
    char *a = strstr(buf, "X-Path: /a"), *b = strstr(buf, "X-Path: /b"), *c = strstr(buf, "X-Path: /c");
    ASSERT(a && b && c && a < b && b < c);
    ASSERT(strstr(b, "\r\n\r\nxyz"));
    ASSERT_EQ(count(buf, "HTTP/1.1 200 OK"), 3);
    weft_close(fd);
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(pipelined_requests_in_one_write_are_answered_in_order) { ASSERT_EQ(wt_run_real(t_pipeline, NULL), 0); }

/* ------------------------------------------------------------ HTTP/1.0 */

static int t_http10(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, hello, NULL);
    char buf[4096];
    /* No keep-alive asked: answered, then closed. */
    exchange(fx.port, "GET / HTTP/1.0\r\n\r\n", buf, sizeof buf);
    ASSERT(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
    ASSERT(strstr(buf, "\r\nConnection: close\r\n"));
    /* Keep-alive asked: honoured. */
    int fd = dial(fx.port);
    put(fd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    read_responses(fd, buf, sizeof buf, 1);
    ASSERT(strstr(buf, "\r\nConnection: keep-alive\r\n"));
    put(fd, "GET / HTTP/1.0\r\n\r\n");
    ASSERT(read_all(fd, buf, sizeof buf) > 0);
    ASSERT(strstr(buf, "hello\n"));
    weft_close(fd);
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(http10_closes_unless_keepalive_is_asked) { ASSERT_EQ(wt_run_real(t_http10, NULL), 0); }

static int t_http10_stream(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, pieces, NULL);
    char buf[4096];
    exchange(fx.port, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", buf, sizeof buf);
    ASSERT(!strstr(buf, "chunked"));
    ASSERT(!strstr(buf, "Content-Length"));
    ASSERT(strstr(buf, "\r\nConnection: close\r\n"));
    ASSERT(strstr(buf, "\r\n\r\none,two,three"));
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(http10_streamed_response_is_delimited_by_close) { ASSERT_EQ(wt_run_real(t_http10_stream, NULL), 0); }

/* ------------------------------------------------------------ 100-continue */

static int t_continue(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, echo, NULL);
    char buf[4096];
    int fd = dial(fx.port);
    put(fd, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    ssize_t n = weft_read(fd, buf, sizeof buf - 1);
    ASSERT(n > 0);
    buf[n] = 0;
    ASSERT_STR(buf, "HTTP/1.1 100 Continue\r\n\r\n");
    put(fd, "data");
    read_responses(fd, buf, sizeof buf, 1);
    ASSERT(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
    ASSERT(strstr(buf, "\r\n\r\ndata"));
    weft_close(fd);
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(expect_continue_gets_100_when_the_handler_reads) { ASSERT_EQ(wt_run_real(t_continue, NULL), 0); }

static int t_no_continue(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, hello, NULL);
    char buf[4096];
    exchange(fx.port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
             buf, sizeof buf);
    ASSERT(!strstr(buf, "100 Continue"));
    ASSERT(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
    /* The body never came: the connection cannot go on. */
    ASSERT(strstr(buf, "\r\nConnection: close\r\n"));
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(expect_continue_gets_no_100_when_the_handler_answers_without_reading) {
    ASSERT_EQ(wt_run_real(t_no_continue, NULL), 0);
}

/* ------------------------------------------------------------ limits */

/* Sends `req`, expects `status` and a closed connection. */
static void expect_status_and_close(int port, const char *req, const char *status) {
    int fd = dial(port);
    put(fd, req);
    char buf[8192];
    read_all(fd, buf, sizeof buf);
    if (strncmp(buf, status, strlen(status))) {
        fprintf(stderr, "wanted %s, got: %.80s\n", status, buf);
        ASSERT(0);
    }
    ASSERT(strstr(buf, "\r\nConnection: close\r\n"));
    weft_close(fd);
}

static char *big(char c, size_t n) {
    char *p = malloc(n + 1);
    memset(p, c, n);
    p[n] = 0;
    return p;
}

static int t_long_line(void *arg) {
    (void)arg;
    fixture fx;
    weft_httpd_opts o = { .max_request_line = 1024 };
    start(&fx, &o, hello, NULL);
    char *path = big('a', 2000), req[2200];
    snprintf(req, sizeof req, "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    expect_status_and_close(fx.port, req, "HTTP/1.1 414 ");
    free(path);
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(request_line_over_its_limit_gets_414_and_close) { ASSERT_EQ(wt_run_real(t_long_line, NULL), 0); }

static int t_big_head(void *arg) {
    (void)arg;
    fixture fx;
    weft_httpd_opts o = { .max_header_bytes = 4096 };
    start(&fx, &o, hello, NULL);
    char *v = big('v', 5000), req[5200];
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", v);
    expect_status_and_close(fx.port, req, "HTTP/1.1 431 ");
    free(v);
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(head_over_its_limit_gets_431_and_close) { ASSERT_EQ(wt_run_real(t_big_head, NULL), 0); }

static int t_many_headers(void *arg) {
    (void)arg;
    fixture fx;
    weft_httpd_opts o = { .max_headers = 10 };
    start(&fx, &o, hello, NULL);
    char req[2048] = "GET / HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 20; i++) snprintf(req + strlen(req), sizeof req - strlen(req), "X-%d: y\r\n", i);
    strcat(req, "\r\n");
    expect_status_and_close(fx.port, req, "HTTP/1.1 431 ");
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(too_many_headers_get_431_and_close) { ASSERT_EQ(wt_run_real(t_many_headers, NULL), 0); }

static int handler_calls;
static int counting_echo(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    handler_calls++;
    return echo(req, res, arg);
}

static int t_body_limit(void *arg) {
    (void)arg;
    fixture fx;
    weft_httpd_opts o = { .max_body = 10 };
    start(&fx, &o, counting_echo, NULL);
    handler_calls = 0;
    /* Content-Length over the limit: refused on the first read, before
     * the client is asked for the body. */
    char buf[4096];
    exchange(fx.port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n"
                      "Expect: 100-continue\r\n\r\n", buf, sizeof buf);
    ASSERT(!strncmp(buf, "HTTP/1.1 413 ", 13));
    ASSERT(!strstr(buf, "100 Continue"));
    ASSERT(strstr(buf, "\r\nConnection: close\r\n"));
    ASSERT_EQ(handler_calls, 1);
    /* A chunked body that grows past it. */
    expect_status_and_close(fx.port, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n", "HTTP/1.1 413 ");
    ASSERT_EQ(handler_calls, 2);
    /* At the limit: fine. */
    exchange(fx.port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"
                      "0123456789", buf, sizeof buf);
    ASSERT(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(body_over_max_body_gets_413_and_close) { ASSERT_EQ(wt_run_real(t_body_limit, NULL), 0); }

static int t_bad_version(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, hello, NULL);
    expect_status_and_close(fx.port, "GET / HTTP/2.0\r\nHost: x\r\n\r\n", "HTTP/1.1 505 ");
    /* A later minor version is served as 1.1 (RFC 9110 section 2.5). */
    char buf[4096];
    exchange(fx.port, "GET / HTTP/1.2\r\nHost: x\r\nConnection: close\r\n\r\n", buf, sizeof buf);
    ASSERT(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
    expect_status_and_close(fx.port, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                            "HTTP/1.1 501 ");
    expect_status_and_close(fx.port, "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");  /* no Host */
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(unsupported_major_version_505_later_minor_served_unknown_coding_501_missing_host_400) {
    ASSERT_EQ(wt_run_real(t_bad_version, NULL), 0);
}

/* Answers with the path, query and host it was given. */
static int where(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)arg;
    const char *host = weft_httpd_req_host(req);
    weft_httpd_res_header(res, "X-Path", weft_httpd_req_path(req));
    weft_httpd_res_header(res, "X-Query", weft_httpd_req_query(req));
    weft_httpd_res_header(res, "X-Host", host ? host : "(none)");
    return weft_httpd_res_send(res, 200, NULL, NULL, 0);
}

/* RFC 9112 section 3.2: the target's form must fit its method, and an
 * absolute-form one is served, its authority taking Host's place. */
static int t_targets(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, where, NULL);
    expect_status_and_close(fx.port, "GET * HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 ");
    expect_status_and_close(fx.port, "GET x:443 HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 ");
    expect_status_and_close(fx.port, "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", "HTTP/1.1 501 ");
    expect_status_and_close(fx.port, "GET / HTTP/1.1\r\nHost:\r\n\r\n", "HTTP/1.1 400 ");
    char buf[4096];
    exchange(fx.port, "GET http://a.example:8/p/q?r=1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n",
             buf, sizeof buf);
    ASSERT(!strncmp(buf, "HTTP/1.1 200 ", 13));
    ASSERT(strstr(buf, "\r\nX-Path: /p/q\r\n") && strstr(buf, "\r\nX-Query: r=1\r\n"));
    ASSERT(strstr(buf, "\r\nX-Host: a.example:8\r\n"));
    exchange(fx.port, "GET HTTP://a.example HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
             buf, sizeof buf);
    ASSERT(strstr(buf, "\r\nX-Path: /\r\n"));
    exchange(fx.port, "OPTIONS * HTTP/1.0\r\n\r\n", buf, sizeof buf);
    ASSERT(strstr(buf, "\r\nX-Path: *\r\n") && strstr(buf, "\r\nX-Host: (none)\r\n"));
    exchange(fx.port, "GET /a HTTP/1.1\r\nHost: h:1\r\nConnection: close\r\n\r\n", buf, sizeof buf);
    ASSERT(strstr(buf, "\r\nX-Path: /a\r\n") && strstr(buf, "\r\nX-Host: h:1\r\n"));
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(target_forms_fit_their_methods_and_absolute_form_is_served) { ASSERT_EQ(wt_run_real(t_targets, NULL), 0); }

/* ------------------------------------------------------------ smuggling */

static int t_smuggling(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, echo, NULL);
    static const char *attempts[] = {
        /* Content-Length with chunked */
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        /* two different Content-Lengths */
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        /* Content-Length repeated, even with one value (as nginx) */
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5,5\r\n\r\nhello",
        /* Transfer-Encoding on HTTP/1.0 */
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        /* obs-fold */
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
        /* whitespace before the colon */
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello",
        /* a bare LF */
        "GET / HTTP/1.1\nHost: x\r\n\r\n",
        /* a Content-Length that is not a number */
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
    };
    for (size_t i = 0; i < sizeof attempts / sizeof *attempts; i++)
        expect_status_and_close(fx.port, attempts[i], "HTTP/1.1 400 ");
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(smuggling_attempts_in_the_head_get_400_and_close) { ASSERT_EQ(wt_run_real(t_smuggling, NULL), 0); }

static int t_bad_chunks(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, echo, NULL);
    static const char *bodies[] = {
        "zz\r\nhello\r\n0\r\n\r\n",              /* not hex */
        "5\r\nhelloXX0\r\n\r\n",                 /* no CRLF after the data */
        "fffffffffffffffffffff\r\nx\r\n0\r\n\r\n", /* overflowing size */
        "-1\r\nx\r\n0\r\n\r\n",                  /* signed */
        "1;\r\nx\r\n0\r\n\r\n",                  /* a bare ";" extension */
        "1;a[b]=c\r\nx\r\n0\r\n\r\n",            /* an extension name no token */
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        char req[512];
        snprintf(req, sizeof req, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%s",
                 bodies[i]);
        expect_status_and_close(fx.port, req, "HTTP/1.1 400 ");
    }
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(bad_chunk_sizes_and_extensions_get_400_and_close) { ASSERT_EQ(wt_run_real(t_bad_chunks, NULL), 0); }

/* A handler that answers without reading the body (hello) does not hide
 * a malformed chunked body that came with the head: 400, not its 200. */
static int t_bad_chunks_unread(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, hello, NULL);
    expect_status_and_close(fx.port, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     "3\r\nabc\r\nzz\r\n", "HTTP/1.1 400 ");
    expect_status_and_close(fx.port, "HEAD / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     "1;[\r\nx\r\n0\r\n\r\n", "HTTP/1.1 400 ");
    /* A good one, whole or not yet here, is answered and drained. */
    char buf[4096];
    int fd = dial(fx.port);
    put(fd, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab");
    read_responses(fd, buf, sizeof buf, 2);
    ASSERT_EQ(count(buf, "HTTP/1.1 200 OK"), 2);
    put(fd, "c\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
    read_responses(fd, buf, sizeof buf, 1);
    ASSERT(!strncmp(buf, "HTTP/1.1 200 OK", 15));
    weft_close(fd);
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(malformed_chunked_body_unread_by_the_handler_gets_400) { ASSERT_EQ(wt_run_real(t_bad_chunks_unread, NULL), 0); }

/* ------------------------------------------------------------ timeouts */

static int t_slowloris(void *arg) {
    (void)arg;
    fixture fx;
    weft_httpd_opts o = { .header_timeout = 500 * WEFT_MILLISECOND };
    start(&fx, &o, hello, NULL);
    int fd = dial(fx.port);
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    int64_t t0 = weft_now();
    bool cut = false;
    for (const char *p = req; *p && !cut; p++) {
        cut = weft_write(fd, p, 1) != 1;
        weft_sleep(100 * WEFT_MILLISECOND);
        char b;
        cut = cut || recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) >= 0;  /* an answer, or EOF */
        cut = cut || weft_now() - t0 > 3 * WEFT_SECOND;
    }
    char buf[4096];
    read_all(fd, buf, sizeof buf);
    ASSERT(!strncmp(buf, "HTTP/1.1 408 ", 13));
    ASSERT(weft_now() - t0 < 3 * WEFT_SECOND);
    weft_close(fd);
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(slowloris_head_dribbled_a_byte_at_a_time_is_cut_off_with_408) {
    ASSERT_EQ(wt_run_real(t_slowloris, NULL), 0);
}

/* A connection that goes quiet is closed, silently, at its deadline:
 * keepalive_timeout after a request (arg non-NULL), header_timeout from
 * its accept if it never sends one. */
static int t_quiet_closed(void *arg) {
    fixture fx;
    weft_httpd_opts o = { .keepalive_timeout = 300 * WEFT_MILLISECOND,
                          .header_timeout = 300 * WEFT_MILLISECOND };
    start(&fx, &o, hello, NULL);
    int fd = dial(fx.port);
    char buf[4096];
    if (arg) {
        put(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        read_responses(fd, buf, sizeof buf, 1);
    }
    int64_t t0 = weft_now();
    ASSERT(read_all(fd, buf, sizeof buf) == 0);  /* closed, silently */
    ASSERT(weft_now() - t0 >= 250 * WEFT_MILLISECOND);
    ASSERT(weft_now() - t0 < 2 * WEFT_SECOND);
    weft_close(fd);
    ASSERT_EQ(weft_httpd_conns(fx.srv), 0);
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(keepalive_timeout_closes_an_idle_connection_silently) {
    ASSERT_EQ(wt_run_real(t_quiet_closed, "after a request"), 0);
}
TEST(connection_that_never_sends_is_closed_at_header_timeout) {
    ASSERT_EQ(wt_run_real(t_quiet_closed, NULL), 0);
}

static int t_max_requests(void *arg) {
    (void)arg;
    fixture fx;
    weft_httpd_opts o = { .max_requests = 2 };
    start(&fx, &o, hello, NULL);
    int fd = dial(fx.port);
    char buf[4096];
    put(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    read_responses(fd, buf, sizeof buf, 1);
    ASSERT(!strstr(buf, "Connection: close"));
    put(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    read_all(fd, buf, sizeof buf);
    ASSERT(strstr(buf, "\r\nConnection: close\r\n"));
    ASSERT(strstr(buf, "hello\n"));
    weft_close(fd);
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(max_requests_closes_the_connection_after_the_nth) { ASSERT_EQ(wt_run_real(t_max_requests, NULL), 0); }

/* ------------------------------------------------------------ handler errors */

static int failing(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)req, (void)res, (void)arg;
    return WEFT_EINVAL;
}

static int t_500(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, failing, NULL);
    expect_status_and_close(fx.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 500 ");
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(handler_error_before_responding_gives_500_and_close) { ASSERT_EQ(wt_run_real(t_500, NULL), 0); }

/* Found by fuzz_httpd: the error response to a HEAD request carried the
 * error text as a body, which a client reads as the start of the next
 * response. */
static int t_head_500(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, failing, NULL);
    char buf[1024];
    size_t n = exchange(fx.port, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", buf, sizeof buf);
    ASSERT(n > 0 && !strncmp(buf, "HTTP/1.1 500 ", 13));
    ASSERT(strcasestr(buf, "\r\nContent-Length: 22\r\n"));  /* what GET would get */
    const char *end = strstr(buf, "\r\n\r\n");
    ASSERT(end && (size_t)(end + 4 - buf) == n);
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(handler_error_on_head_gives_500_without_a_body) { ASSERT_EQ(wt_run_real(t_head_500, NULL), 0); }

/* The same for a HEAD request the server refuses itself (RFC 9110
 * section 9.3.2: a response to HEAD has no content), even one malformed
 * past its method. */
static int t_head_400(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, hello, NULL);
    static const char *reqs[] = {
        "HEAD / HTTP/1.1\r\n\r\n",                               /* no Host */
        "\r\nHEAD /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",             /* a bad target */
        "HEAD / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",      /* obs-fold */
        "HEAD / HTTP/2.0\r\nHost: x\r\n\r\n",                     /* 505 */
    };
    for (size_t i = 0; i < sizeof reqs / sizeof *reqs; i++) {
        char buf[1024];
        size_t n = exchange(fx.port, reqs[i], buf, sizeof buf);
        ASSERT(n > 0 && (!strncmp(buf, "HTTP/1.1 400 ", 13) || !strncmp(buf, "HTTP/1.1 505 ", 13)));
        const char *end = strstr(buf, "\r\n\r\n");
        ASSERT(end && (size_t)(end + 4 - buf) == n);
    }
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(refused_head_request_gets_its_error_without_a_body) { ASSERT_EQ(wt_run_real(t_head_400, NULL), 0); }

static int splitting(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)req, (void)arg;
    ASSERT_ERR(weft_httpd_res_header(res, "X-A", "a\r\nSet-Cookie: evil=1"), WEFT_EINVAL);
    ASSERT_ERR(weft_httpd_res_header(res, "X-A", "a\nb"), WEFT_EINVAL);
    ASSERT_ERR(weft_httpd_res_header(res, "X-A\r\nB", "b"), WEFT_EINVAL);
    ASSERT_ERR(weft_httpd_res_header(res, "X A", "b"), WEFT_EINVAL);
    ASSERT_ERR(weft_httpd_res_header(res, "Transfer-Encoding", "chunked"), WEFT_EINVAL);
    ASSERT_ERR(weft_httpd_res_header(res, "Content-Length", "1x"), WEFT_EINVAL);
    ASSERT_ERR(weft_httpd_res_send(res, 200, "text/plain\r\nX: y", "x", 1), WEFT_EINVAL);
    ASSERT_ERR(weft_httpd_res_status(res, 99), WEFT_EINVAL);
    ASSERT_ERR(weft_httpd_res_header(res, "X-Ok", "fine\tvalue"), 0);
    ASSERT_ERR(weft_httpd_res_send(res, 201, NULL, "ok", 2), 0);
    ASSERT_ERR(weft_httpd_res_header(res, "X-Late", "x"), WEFT_EINVAL);
    ASSERT_ERR(weft_httpd_res_status(res, 200), WEFT_EINVAL);
    return 0;
}

static int t_splitting(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, splitting, NULL);
    char buf[4096];
    exchange(fx.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf, sizeof buf);
    ASSERT(!strncmp(buf, "HTTP/1.1 201 Created\r\n", 22));
    ASSERT(!strstr(buf, "evil"));
    ASSERT(strstr(buf, "\r\nX-Ok: fine\tvalue\r\n"));
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(response_header_with_crlf_is_rejected) { ASSERT_EQ(wt_run_real(t_splitting, NULL), 0); }

/* ------------------------------------------------------------ router */

static int show_param(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    char body[256];
    int n = snprintf(body, sizeof body, "%s:%s:%s", (const char *)arg,
                     weft_httpd_req_param(req, "a") ? weft_httpd_req_param(req, "a") : "-",
                     weft_httpd_req_param(req, "b") ? weft_httpd_req_param(req, "b") : "-");
    return weft_httpd_res_send(res, 200, "text/plain", body, (size_t)n);
}

static void get_body(int port, const char *method, const char *path, char *buf, size_t cap) {
    char req[256];
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", method, path);
    exchange(port, req, buf, cap);
}

static int t_router(void *arg) {
    (void)arg;
    weft_httpd_router *rt;
    ASSERT_ERR(weft_httpd_router_new(&rt), 0);
    ASSERT_ERR(weft_httpd_route(rt, "GET", "/", show_param, "root"), 0);
    ASSERT_ERR(weft_httpd_route(rt, "GET", "/x/{a}", show_param, "one"), 0);
    ASSERT_ERR(weft_httpd_route(rt, "POST", "/x/{a}", show_param, "post"), 0);
    ASSERT_ERR(weft_httpd_route(rt, NULL, "/y/{a}/z/{b}", show_param, "two"), 0);
    ASSERT_ERR(weft_httpd_route(rt, "GET", "relative", show_param, NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_httpd_route(rt, "GET", "/{}", show_param, NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_httpd_route(rt, "GET", "/{a", show_param, NULL), WEFT_EINVAL);
    fixture fx;
    start(&fx, NULL, weft_httpd_router_handler, rt);
    char buf[4096];
    get_body(fx.port, "GET", "/", buf, sizeof buf);
    ASSERT(strstr(buf, "\r\n\r\nroot:-:-"));
    get_body(fx.port, "GET", "/x/hi%20there?q=1", buf, sizeof buf);
    ASSERT(strstr(buf, "\r\n\r\none:hi there:-"));
    get_body(fx.port, "POST", "/x/p", buf, sizeof buf);
    ASSERT(strstr(buf, "\r\n\r\npost:p:-"));
    get_body(fx.port, "DELETE", "/y/1/z/2", buf, sizeof buf);
    ASSERT(strstr(buf, "\r\n\r\ntwo:1:2"));
    get_body(fx.port, "GET", "/x", buf, sizeof buf);
    ASSERT(!strncmp(buf, "HTTP/1.1 404 Not Found\r\n", 24));
    get_body(fx.port, "GET", "/x/", buf, sizeof buf);  /* empty capture */
    ASSERT(!strncmp(buf, "HTTP/1.1 404 ", 13));
    get_body(fx.port, "GET", "/x/a/b", buf, sizeof buf);
    ASSERT(!strncmp(buf, "HTTP/1.1 404 ", 13));
    get_body(fx.port, "PUT", "/x/a", buf, sizeof buf);
    ASSERT(!strncmp(buf, "HTTP/1.1 405 Method Not Allowed\r\n", 33));
    ASSERT(strstr(buf, "\r\nAllow: GET, HEAD, POST\r\n"));
    ASSERT_ERR(stop(&fx), 0);
    weft_httpd_router_free(rt);
    return 0;
}
TEST(router_captures_segments_and_answers_404_and_405_with_allow) {
    ASSERT_EQ(wt_run_real(t_router, NULL), 0);
}

/* A server (listening) and a router made in a loop and left for after it. */
static weft_httpd *late_srv;
static weft_httpd_router *late_rt;
static int t_make_and_leave(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_httpd_router_new(&late_rt), 0);
    ASSERT_ERR(weft_httpd_route(late_rt, "GET", "/x/{a}", show_param, "one"), 0);
    ASSERT_ERR(weft_httpd_new(&late_srv, NULL, weft_httpd_router_handler, late_rt), 0);
    ASSERT_ERR(weft_httpd_listen(late_srv, "127.0.0.1", "0"), 0);
    return 0;
}
TEST(httpd_freed_after_its_loop_ended_frees_through_the_loops_allocator) {
    int fds = wt_count_fds();
    weft_loop_opts o = { .realloc = wt_realloc };
    ASSERT_EQ(weft_run_opts(&o, t_make_and_leave, NULL), 0);
    ASSERT(wt_live_allocs > 0);   /* the server's and the router's, still held */
    weft_httpd_free(late_srv);
    weft_httpd_router_free(late_rt);
    ASSERT_EQ(wt_live_allocs, 0);
    ASSERT_EQ(wt_count_fds(), fds);   /* the listener closed too */
}

/* ------------------------------------------------------------ shutdown */

static int slow(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)req;
    int err = weft_sleep(*(int64_t *)arg);
    if (err) return err;
    return weft_httpd_res_send(res, 200, "text/plain", "slow\n", 5);
}

static int t_graceful(void *arg) {
    (void)arg;
    fixture fx;
    int64_t delay = 300 * WEFT_MILLISECOND;
    start(&fx, NULL, slow, &delay);
    int busy = dial(fx.port), idle = dial(fx.port);
    put(busy, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    weft_sleep(50 * WEFT_MILLISECOND);
    ASSERT_EQ(weft_httpd_conns(fx.srv), 2);
    weft_httpd_shutdown(fx.srv);
    weft_sleep(20 * WEFT_MILLISECOND);
    /* The idle connection is closed at once, new ones are refused. */
    ASSERT(closed_by_peer(idle));
    char p[8];
    snprintf(p, sizeof p, "%d", fx.port);
    int fd;
    ASSERT_ERR(weft_tcp_connect("127.0.0.1", p, &fd), -ECONNREFUSED);
    /* The request in flight finishes, told that the connection closes. */
    char buf[4096];
    read_all(busy, buf, sizeof buf);
    ASSERT(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
    ASSERT(strstr(buf, "\r\nConnection: close\r\n"));
    ASSERT(strstr(buf, "slow\n"));
    void *res;
    ASSERT_ERR(weft_join(fx.serve, &res), 0);
    ASSERT_ERR(weft_error_code(res), 0);
    weft_httpd_free(fx.srv);
    weft_close(busy);
    weft_close(idle);
    return 0;
}
TEST(graceful_shutdown_finishes_requests_in_flight_and_refuses_new_ones) {
    ASSERT_EQ(wt_run_real(t_graceful, NULL), 0);
}

static int t_grace_expiry(void *arg) {
    (void)arg;
    fixture fx;
    int64_t delay = 60 * WEFT_SECOND;
    weft_httpd_opts o = { .grace_period = 200 * WEFT_MILLISECOND };
    start(&fx, &o, slow, &delay);
    int fd = dial(fx.port);
    put(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    weft_sleep(50 * WEFT_MILLISECOND);
    int64_t t0 = weft_now();
    ASSERT_ERR(stop(&fx), 0);
    ASSERT(weft_now() - t0 < 2 * WEFT_SECOND);
    ASSERT(closed_by_peer(fd));
    weft_close(fd);
    return 0;
}
TEST(grace_period_expiry_cancels_a_stuck_handler) { ASSERT_EQ(wt_run_real(t_grace_expiry, NULL), 0); }

static int t_cancel_serve(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, hello, NULL);
    int fd = dial(fx.port);
    weft_sleep(20 * WEFT_MILLISECOND);
    weft_cancel(fx.serve);
    void *res;
    ASSERT_ERR(weft_join(fx.serve, &res), 0);
    ASSERT_ERR(weft_error_code(res), WEFT_ECANCELED);
    ASSERT(closed_by_peer(fd));
    weft_close(fd);
    weft_httpd_free(fx.srv);
    return 0;
}
TEST(cancelling_serve_shuts_down_and_reports_the_cancel) { ASSERT_EQ(wt_run_real(t_cancel_serve, NULL), 0); }

static int t_signal(void *arg) {
    (void)arg;
    fixture fx;
    weft_httpd_opts o = { .flags = WEFT_HTTPD_SIGNALS };
    start(&fx, &o, hello, NULL);
    weft_sleep(20 * WEFT_MILLISECOND);
    kill(getpid(), SIGTERM);
    void *res;
    ASSERT_ERR(weft_join(fx.serve, &res), 0);
    ASSERT_ERR(weft_error_code(res), 0);
    weft_httpd_free(fx.srv);
    return 0;
}
TEST(sigterm_shuts_a_server_with_signals_flag_down_gracefully) { ASSERT_EQ(wt_run_real(t_signal, NULL), 0); }

/* ------------------------------------------------------------ backpressure */

static size_t peak_unsent;
static int firehose(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)arg;
    static char chunk[16384];
    for (int i = 0; i < 4096; i++) {  /* 64 MiB offered */
        int err = weft_httpd_res_write(res, chunk, sizeof chunk);
        size_t u = weft_stream_unsent(req->c->st);
        if (u > peak_unsent) peak_unsent = u;
        if (err) return err;
    }
    return weft_httpd_res_end(res);
}

static int t_backpressure(void *arg) {
    (void)arg;
    fixture fx;
    weft_httpd_opts o = { .send_timeout = 300 * WEFT_MILLISECOND };
    start(&fx, &o, firehose, NULL);
    int fd = dial(fx.port);
    put(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    weft_sleep(1000 * WEFT_MILLISECOND);  /* never read: the server must stop */
    ASSERT(peak_unsent > 0);
    ASSERT(peak_unsent <= 64 * 1024 + 16384 + 64);
    ASSERT(closed_by_peer(fd));  /* send_timeout gave up on us */
    weft_close(fd);
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(client_that_never_reads_a_big_stream_bounds_server_memory) {
    ASSERT_EQ(wt_run_real(t_backpressure, NULL), 0);
}

/* ------------------------------------------------------------ the rest */

static int t_access_log(void *arg) {
    (void)arg;
    char *text = NULL;
    size_t size = 0;
    FILE *log = open_memstream(&text, &size);
    fixture fx;
    weft_httpd_opts o = { .access_log = log };
    start(&fx, &o, hello, NULL);
    char buf[4096];
    exchange(fx.port, "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf, sizeof buf);
    exchange(fx.port, "HEAD / HTTP/1.0\r\n\r\n", buf, sizeof buf);
    exchange(fx.port, "BAD\r\n\r\n", buf, sizeof buf);
    ASSERT_ERR(stop(&fx), 0);
    fclose(log);
    /* 127.0.0.1 - - [28/Nov/2026:05:31:47 +0000] "GET /a?b=1 HTTP/1.1" 200 6 */
    char *l1 = text, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    ASSERT(!strncmp(l1, "127.0.0.1 - - [", 15));
    int day, year, h, m, s;
    char mon[4];
    ASSERT_EQ(sscanf(l1 + 15, "%2d/%3s/%4d:%2d:%2d:%2d +0000]", &day, mon, &year, &h, &m, &s), 6);
    ASSERT(strstr(l1, "] \"GET /a?b=1 HTTP/1.1\" 200 6\n") == strchr(l1, ']'));
    ASSERT(strstr(l2, "\"HEAD / HTTP/1.0\" 200 -\n"));
    ASSERT(strstr(l3, "\"-\" 400 -\n"));
    free(text);
    return 0;
}
TEST(access_log_lines_are_in_common_log_format) { ASSERT_EQ(wt_run_real(t_access_log, NULL), 0); }

/* Reads 2 bytes of a 10-byte body and answers. */
static int partial_reader(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)arg;
    char b[2];
    ASSERT_EQ(weft_httpd_req_read(req, b, 2), 2);
    return weft_httpd_res_send(res, 200, NULL, b, 2);
}

static int t_drain(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, partial_reader, NULL);
    int fd = dial(fx.port);
    char buf[4096];
    put(fd, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    read_responses(fd, buf, sizeof buf, 2);
    ASSERT(strstr(buf, "\r\n\r\n01"));
    ASSERT(strstr(buf, "\r\n\r\nab"));
    ASSERT(!strstr(buf, "Connection: close"));
    weft_close(fd);
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(small_unread_body_is_drained_and_the_connection_kept) { ASSERT_EQ(wt_run_real(t_drain, NULL), 0); }

static int t_max_conns(void *arg) {
    (void)arg;
    fixture fx;
    weft_httpd_opts o = { .max_conns = 1 };
    start(&fx, &o, hello, NULL);
    int a = dial(fx.port), b = dial(fx.port);  /* b waits in the backlog */
    weft_sleep(50 * WEFT_MILLISECOND);
    ASSERT_EQ(weft_httpd_conns(fx.srv), 1);
    weft_close(a);
    char buf[4096];
    put(b, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    read_responses(b, buf, sizeof buf, 1);
    ASSERT(strstr(buf, "hello\n"));
    weft_close(b);
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(max_conns_holds_further_connections_in_the_backlog) { ASSERT_EQ(wt_run_real(t_max_conns, NULL), 0); }

static int t_api(void *arg) {
    (void)arg;
    weft_httpd *s;
    ASSERT_ERR(weft_httpd_new(&s, NULL, NULL, NULL), WEFT_EINVAL);
    weft_httpd_opts bad = { .body_timeout = -1 };
    ASSERT_ERR(weft_httpd_new(&s, &bad, hello, NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_httpd_new(&s, NULL, hello, NULL), 0);
    ASSERT_ERR(weft_httpd_port(s), WEFT_EINVAL);
    ASSERT_ERR(weft_httpd_serve(s), WEFT_EINVAL);
    ASSERT_ERR(weft_httpd_listen_fd(s, -1), WEFT_EINVAL);
    weft_httpd_free(s);
    ASSERT_STR(weft_http_reason(404), "Not Found");
    ASSERT_STR(weft_http_reason(299), "");
    return 0;
}
TEST(bad_arguments_are_refused_and_reason_phrases_known) { ASSERT_EQ(wt_run_real(t_api, NULL), 0); }

static int t_body_timeout(void *arg) {
    (void)arg;
    fixture fx;
    weft_httpd_opts o = { .body_timeout = 300 * WEFT_MILLISECOND };
    start(&fx, &o, echo, NULL);
    int64_t t0 = weft_now();
    expect_status_and_close(fx.port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
                            "HTTP/1.1 408 ");
    ASSERT(weft_now() - t0 < 3 * WEFT_SECOND);
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(body_that_stops_coming_gets_408_after_body_timeout) { ASSERT_EQ(wt_run_real(t_body_timeout, NULL), 0); }

static int t_big_unread(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, hello, NULL);
    int fd = dial(fx.port);
    put(fd, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n");
    char buf[4096];
    read_all(fd, buf, sizeof buf);  /* answered, then closed: not worth draining */
    ASSERT(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
    ASSERT(strstr(buf, "\r\nConnection: close\r\n"));
    weft_close(fd);
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(large_unread_body_closes_the_connection_after_the_response) {
    ASSERT_EQ(wt_run_real(t_big_unread, NULL), 0);
}

static int t_unix(void *arg) {
    (void)arg;
    char path[64];
    snprintf(path, sizeof path, "/tmp/weft-httpd-test-%d.sock", (int)getpid());
    unlink(path);
    weft_httpd *srv;
    ASSERT_ERR(weft_httpd_new(&srv, NULL, hello, NULL), 0);
    ASSERT_ERR(weft_httpd_listen_unix(srv, path), 0);
    ASSERT_ERR(weft_httpd_port(srv), WEFT_EINVAL);
    weft_task *t = weft_spawn(serve_main, srv);
    int fd;
    ASSERT_ERR(weft_unix_connect(path, &fd), 0);
    put(fd, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    char buf[4096];
    read_all(fd, buf, sizeof buf);
    ASSERT(strstr(buf, "hello\n"));
    weft_close(fd);
    weft_httpd_shutdown(srv);
    ASSERT_ERR(weft_join(t, NULL), 0);
    ASSERT_ERR(weft_httpd_serve(srv), WEFT_EBUSY);  /* a server serves once */
    weft_httpd_free(srv);
    unlink(path);
    return 0;
}
TEST(unix_socket_listener_serves_too) { ASSERT_EQ(wt_run_real(t_unix, NULL), 0); }

/* An upload route raises the limit for its own requests. */
static int upload(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)arg;
    ASSERT_ERR(weft_httpd_req_set_max_body(req, 100), 0);
    const void *body;
    size_t len;
    int err = weft_httpd_req_body(req, &body, &len);
    if (err) return err;
    ASSERT_ERR(weft_httpd_req_set_max_body(req, 10), WEFT_EINVAL);  /* too late */
    return weft_httpd_res_send(res, 200, NULL, body, len);
}

static int t_route_limit(void *arg) {
    (void)arg;
    fixture fx;
    weft_httpd_opts o = { .max_body = 10 };
    start(&fx, &o, upload, NULL);
    char buf[4096];
    exchange(fx.port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\nConnection: close\r\n\r\n"
                      "01234567890123456789012345678901234567890123456789", buf, sizeof buf);
    ASSERT(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
    ASSERT(strstr(buf, "\r\n\r\n0123456789012345678901234567890123456789"));
    expect_status_and_close(fx.port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n",
                            "HTTP/1.1 413 ");
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(handler_can_set_its_own_body_limit) { ASSERT_EQ(wt_run_real(t_route_limit, NULL), 0); }

/* Junk: random bytes, and valid requests with bytes flipped or cut, each on
 * its own connection. The server answers 4xx or closes, never crashes, and
 * still serves a good request afterwards (ASan and the leak check watch). */
static int t_junk(void *arg) {
    (void)arg;
    fixture fx;
    weft_httpd_opts o = { .header_timeout = 200 * WEFT_MILLISECOND, .body_timeout = 200 * WEFT_MILLISECOND };
    start(&fx, &o, echo, NULL);
    static const char good[] = "POST /x?y HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "3\r\nabc\r\n0\r\n\r\n";
    unsigned seed = 12345;
    for (int i = 0; i < 150; i++) {
        char req[sizeof good];
        size_t len = sizeof good - 1;
        memcpy(req, good, sizeof good);
        if (i % 3 == 0) {
            for (size_t k = 0; k < len; k++) req[k] = (char)(rand_r(&seed) & 0xff);
        } else {
            for (int k = 0; k < 3; k++) req[rand_r(&seed) % len] = (char)(rand_r(&seed) & 0xff);
            if (i % 3 == 2) len = (size_t)rand_r(&seed) % len;
        }
        int fd = dial(fx.port);
        (void)weft_write(fd, req, len);  /* the server may have closed already */
        shutdown(fd, SHUT_WR);  /* a cut request ends at once instead of timing out */
        char buf[4096];
        size_t n = read_all(fd, buf, sizeof buf);
        ASSERT(n == 0 || !strncmp(buf, "HTTP/1.1 ", 9));
        weft_close(fd);
    }
    char buf[4096];
    exchange(fx.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf, sizeof buf);
    ASSERT(!strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(junk_requests_get_an_error_or_a_close_and_the_server_goes_on) { ASSERT_EQ(wt_run_real(t_junk, NULL), 0); }

/* ------------------------------------------- idle connections, no task */

/* The connection's task, as weft_tasks_info sees it. */
static bool conn_task_info(weft_httpd *srv, weft_task_info *out) {
    static weft_task_info all[64];
    int n = weft_tasks_info(all, 64);
    uint64_t id = weft_task_id(srv->conns->task);
    for (int i = 0; i < n && i < 64; i++)
        if (all[i].id == id) { *out = all[i]; return true; }
    return false;
}

static int t_idle_woken(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, NULL, echo, NULL);
    char buf[4096];
    int fd = dial(fx.port);
    for (int i = 0; i < 3; i++) {
        /* Idle: a task that has not started waits for the fd, and says so. */
        weft_sleep(20 * WEFT_MILLISECOND);
        ASSERT_EQ(weft_httpd_conns(fx.srv), 1);
        weft_task_info ti;
        ASSERT(conn_task_info(fx.srv, &ti));
        ASSERT_EQ(ti.state, WEFT_TASK_WAITING);
        ASSERT_EQ(ti.await, WEFT_AWAIT_READABLE);
        ASSERT_EQ(ti.nframes, 0);  /* it never ran: no stack */
        ASSERT(strstr(ti.context, "HTTP request on connection from 127.0.0.1:"));
        /* A request in two parts: the first wakes it, it waits for the rest. */
        char req[128];
        snprintf(req, sizeof req, "GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
        ASSERT_EQ(weft_write(fd, req, 7), 7);
        weft_sleep(20 * WEFT_MILLISECOND);
        ASSERT(conn_task_info(fx.srv, &ti));
        ASSERT_EQ(ti.state, WEFT_TASK_WAITING);
        ASSERT(ti.nframes > 0 || ti.context[0]);  /* started: reading the head */
        put(fd, req + 7);
        read_responses(fd, buf, sizeof buf, 1);
        char want[32];
        snprintf(want, sizeof want, "X-Path: /p%d\r\n", i);
        ASSERT(strstr(buf, want));
        ASSERT(!strstr(buf, "Connection: close"));
    }
    weft_close(fd);
    ASSERT_ERR(stop(&fx), 0);
    return 0;
}
TEST(keepalive_connection_idle_between_requests_holds_no_task_and_a_request_in_two_parts_is_answered) {
    ASSERT_EQ(wt_run_real(t_idle_woken, NULL), 0);
}

/* 10,000 idle keep-alive connections from another process, then a
 * shutdown: every one closed at once, each answered exactly once. */
enum { MANY = 10000 };

static int many_client(int port, int ready_fd) {
    static int fds[MANY];
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    alarm(60);
    for (int i = 0; i < MANY; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&a, sizeof a)) return 2;
        if (write(fds[i], req, sizeof req - 1) != (ssize_t)sizeof req - 1) return 3;
    }
    char buf[1024];
    for (int i = 0; i < MANY; i++) {  /* one response each, "hello\n" last */
        size_t n = 0;
        while (n < 6 || memcmp(buf + n - 6, "hello\n", 6)) {
            ssize_t r = read(fds[i], buf + n, sizeof buf - n);
            if (r <= 0) return 4;
            n += (size_t)r;
        }
        if (count(buf, "HTTP/1.1 200") != 1) return 5;
    }
    if (write(ready_fd, "r", 1) != 1) return 6;
    for (int i = 0; i < MANY; i++)  /* then nothing more: the end */
        if (read(fds[i], buf, sizeof buf) != 0) return 7;
    return 0;
}

static int t_many_idle(void *arg) {
    int *pid = arg;
    fixture fx;
    start(&fx, NULL, hello, NULL);
    int p[2];
    ASSERT(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
    *pid = fork();
    ASSERT(*pid >= 0);
    if (*pid == 0) _exit(many_client(fx.port, p[1]));
    close(p[1]);
    char c;
    if (weft_read(p[0], &c, 1) != 1) {  /* the client gave up: say where */
        int status = -1;
        waitpid(*pid, &status, 0);
        *pid = -1;
        fprintf(stderr, "the client ended early: %s %d (2 connect, 3 write, 4 read, 5 answer)\n",
                WIFEXITED(status) ? "exit" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        ASSERT(0);
    }
    ASSERT_EQ(weft_httpd_conns(fx.srv), MANY);
    int64_t t0 = weft_now();
    ASSERT_ERR(stop(&fx), 0);
    ASSERT(weft_now() - t0 < 5 * WEFT_SECOND);  /* not the 10 s grace period */
    weft_close(p[0]);
    return 0;
}
TEST(shutdown_with_ten_thousand_idle_connections_closes_them_all_at_once) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_max < MANY + 200) wt_skip("RLIMIT_NOFILE's hard limit is below 10,200");
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    int pid = -1, status = -1;
    ASSERT_EQ(wt_run_real(t_many_idle, &pid), 0);
    ASSERT(waitpid(pid, &status, 0) == pid);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
}
