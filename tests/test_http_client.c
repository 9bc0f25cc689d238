/* The HTTP client against bad and good servers written here: raw loopback
 * sockets served by a task of the test, each scripted to misbehave in one
 * way, counting the connections it accepts. Real clock: real sockets. */
#include "test.h"
#include "url.h"

#include <weft/http.h>
#include <weft/io.h>
#include <weft/net.h>

#include <stdio.h>
#include <string.h>
#include <zlib.h>

/* ------------------------------------------------------------ the server */

typedef struct srv srv;
/* Serves one accepted connection; returns when done with it. */
typedef void (*srv_fn)(srv *s, int fd);
struct srv {
    int lfd, port, accepts, requests;
    srv_fn fn;
    const char *resp;          /* for srv_canned */
    char head[8192];           /* the last request head */
    char body[8192];           /* and its body */
    size_t body_len;
    weft_task *task;
    void *ud;
};

/* Reads one request (head, and a Content-Length or chunked body) into
 * s->head / s->body. Returns 1, or 0 at end of stream or on error. */
static int srv_read_request(srv *s, int fd) {
    char head[sizeof s->head], body[sizeof s->body];
    size_t n = 0, blen = 0;
    head[0] = 0;
    while (!strstr(head, "\r\n\r\n")) {
        if (n == sizeof head - 1) return 0;
        ssize_t r = weft_read(fd, head + n, 1);
        if (r <= 0) return 0;
        head[++n] = 0;
    }
    const char *cl = strcasestr(head, "content-length:");
    if (cl) {
        size_t want = strtoul(cl + 15, NULL, 10);
        while (blen < want) {
            ssize_t r = weft_read(fd, body + blen, want - blen);
            if (r <= 0) return 0;
            blen += (size_t)r;
        }
    } else if (strcasestr(head, "transfer-encoding: chunked")) {
        while (blen < 5 || memcmp(body + blen - 5, "0\r\n\r\n", 5)) {
            ssize_t r = weft_read(fd, body + blen, 1);
            if (r <= 0) return 0;
            blen++;
        }
    }
    /* Kept only once whole: the test reads them while the server waits
     * for the next request. */
    memcpy(s->head, head, n + 1);
    memcpy(s->body, body, blen);
    s->body[blen] = 0;
    s->body_len = blen;
    s->requests++;
    return 1;
}

static void srv_send(int fd, const void *p, size_t len) { weft_write(fd, p, len); }
static void srv_puts(int fd, const char *p) { srv_send(fd, p, strlen(p)); }

/* Answers every request on the connection with s->resp. */
static void srv_canned(srv *s, int fd) {
    while (srv_read_request(s, fd)) srv_puts(fd, s->resp);
}

typedef struct conn_arg { srv *s; int fd; } conn_arg;
static void *srv_conn(void *arg) {
    conn_arg *a = arg;
    a->s->fn(a->s, a->fd);
    weft_close(a->fd);
    free(a);
    return NULL;
}

/* Each connection is served by a task of its own, in a group: stopping the
 * server cancels them all and waits for them. */
static void *srv_main(void *arg) {
    srv *s = arg;
    weft_group g;
    weft_group_enter(&g);
    for (;;) {
        int fd;
        if (weft_accept(s->lfd, NULL, NULL, &fd)) break;
        s->accepts++;
        conn_arg *a = malloc(sizeof *a);
        *a = (conn_arg){ s, fd };
        if (weft_group_spawn(&g, NULL, srv_conn, a)) { weft_close(fd); free(a); break; }
    }
    weft_group_leave(&g);
    return NULL;
}

static void srv_start(srv *s, srv_fn fn, const char *resp) {
    memset(s, 0, sizeof *s);
    ASSERT_ERR(weft_tcp_listen("127.0.0.1", "0", 0, &s->lfd), 0);
    s->port = weft_sock_port(s->lfd);
    s->fn = fn;
    s->resp = resp;
    s->task = weft_spawn(srv_main, s);
    ASSERT(s->task);
}

static void srv_stop(srv *s) {
    weft_cancel(s->task);
    ASSERT_ERR(weft_join(s->task, NULL), 0);
    weft_close(s->lfd);
}

static weft_http_client *client(const weft_http_client_opts *o) {
    weft_http_client *c;
    ASSERT_ERR(weft_http_client_new(&c, o), 0);
    return c;
}

static char *url(const srv *s, const char *path) {
    static char buf[4][256];
    static int i;
    char *b = buf[i++ % 4];
    snprintf(b, 256, "http://127.0.0.1:%d%s", s->port, path);
    return b;
}

static void body_is(weft_http_response *r, const char *want) {
    const void *d;
    size_t n;
    ASSERT_ERR(weft_http_response_body(r, &d, &n), 0);
    ASSERT_EQ(n, strlen(want));
    ASSERT(!memcmp(d, want, n));
}

#define RUN(fn) ASSERT_EQ(wt_run_real(fn, NULL), 0)

typedef struct job { weft_http_client *c; const char *url; int err; } job;
static void *do_get(void *arg) {
    job *j = arg;
    weft_http_response *r = NULL;
    j->err = weft_http_get(j->c, j->url, &r);
    weft_http_response_free(r);
    return NULL;
}

/* ----------------------------------------------------------- good cases */

static int keepalive(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_canned, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    weft_http_client *c = client(NULL);
    for (int i = 0; i < 3; i++) {
        weft_http_response *r;
        ASSERT_ERR(weft_http_getf(c, &r, "http://127.0.0.1:%d/x", s.port), 0);
        ASSERT_EQ(weft_http_response_status(r), 200);
        ASSERT_STR(weft_http_response_reason(r), "OK");
        body_is(r, "hello");
        weft_http_timings t;
        weft_http_response_timings(r, &t);
        ASSERT_EQ(t.reused, i > 0);
        weft_http_response_free(r);
    }
    /* A response freed with its body unread but buffered keeps the
     * connection; one whose body is still on the wire closes it. */
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "GET", url(&s, "/x")), 0);
    weft_http_response *r;
    ASSERT_ERR(weft_http_send(c, q, WEFT_HTTP_STREAM, &r), 0);
    char one;
    ASSERT_EQ(weft_http_response_read(r, &one, 1), 1);
    weft_http_response_free(r);
    weft_http_request_free(q);
    ASSERT_EQ(s.accepts, 1);
    ASSERT_EQ(s.requests, 4);
    ASSERT_ERR(weft_http_get(c, url(&s, "/x"), &r), 0);
    weft_http_response_free(r);
    ASSERT_EQ(s.accepts, 1);
    ASSERT(strstr(s.head, "GET /x HTTP/1.1\r\n"));
    ASSERT(strcasestr(s.head, "\r\nHost: 127.0.0.1:"));
    ASSERT(strcasestr(s.head, "\r\nUser-Agent: weft/"));
    ASSERT(strcasestr(s.head, "\r\nAccept-Encoding: gzip, deflate\r\n"));
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(sequential_requests_reuse_one_kept_alive_connection) { RUN(keepalive); }

static int chunked(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_canned,
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              "5\r\nhello\r\n1;ext=1\r\n,\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n");
    weft_http_client *c = client(NULL);
    for (int i = 0; i < 2; i++) {
        weft_http_response *r;
        ASSERT_ERR(weft_http_get(c, url(&s, "/"), &r), 0);
        body_is(r, "hello, world");
        weft_http_response_free(r);
    }
    ASSERT_EQ(s.accepts, 1);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(chunked_body_is_decoded_and_the_connection_reused) { RUN(chunked); }

/* A body compressed with `wbits` (zlib's convention: 31 gzip, 15 zlib,
 * -15 raw deflate), sent chunked in pieces of 7 bytes. */
static char *compressed_response(const char *text, size_t len, int wbits, const char *enc) {
    z_stream z = { 0 };
    ASSERT_EQ(deflateInit2(&z, 9, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, len);
    unsigned char *out = malloc(cap);
    z.next_in = (unsigned char *)text;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    ASSERT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t clen = cap - z.avail_out;
    deflateEnd(&z);
    char *resp = malloc(200 + clen * 2);
    int n = sprintf(resp, "HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nTransfer-Encoding: chunked\r\n\r\n", enc);
    for (size_t i = 0; i < clen; i += 7) {
        size_t k = clen - i < 7 ? clen - i : 7;
        n += sprintf(resp + n, "%zx\r\n", k);
        memcpy(resp + n, out + i, k);
        n += (int)k;
        n += sprintf(resp + n, "\r\n");
    }
    sprintf(resp + n, "0\r\n\r\n");
    free(out);
    return resp;
}

/* The response text may hold NULs: srv_canned sends up to the first, so
 * this server sends an explicit length. */
typedef struct blob { char *p; size_t len; } blob;
static void srv_blob(srv *s, int fd) {
    blob *b = s->ud;
    while (srv_read_request(s, fd)) srv_send(fd, b->p, b->len);
}
static size_t resp_len(const char *resp) {
    const char *end = NULL;
    for (size_t i = 0;; i++) if (!memcmp(resp + i, "0\r\n\r\n", 5) && (end = resp + i + 5)) {
        if (i == 0 || resp[i - 1] == '\n') return (size_t)(end - resp);
    }
}

static int decoding(void *arg) {
    (void)arg;
    const char *text = "the quick brown fox jumps over the lazy dog, again and again and again";
    struct { int wbits; const char *enc; } cases[] = { { 31, "gzip" }, { 15, "deflate" }, { -15, "deflate" } };
    for (int i = 0; i < 3; i++) {
        blob b;
        b.p = compressed_response(text, strlen(text), cases[i].wbits, cases[i].enc);
        b.len = resp_len(b.p);
        srv s;
        srv_start(&s, srv_blob, NULL);
        s.ud = &b;
        weft_http_client *c = client(NULL);
        /* Whole, then streamed a few bytes at a time. */
        weft_http_response *r;
        ASSERT_ERR(weft_http_get(c, url(&s, "/"), &r), 0);
        body_is(r, text);
        weft_http_response_free(r);
        weft_http_request *q;
        ASSERT_ERR(weft_http_request_new(&q, "GET", url(&s, "/")), 0);
        ASSERT_ERR(weft_http_send(c, q, WEFT_HTTP_STREAM, &r), 0);
        char got[200];
        size_t n = 0;
        ssize_t k;
        while ((k = weft_http_response_read(r, got + n, 3)) > 0) n += (size_t)k;
        ASSERT_ERR(k, 0);
        if (n != strlen(text)) fprintf(stderr, "case %d\n", i);
        ASSERT_EQ(n, strlen(text));
        ASSERT(!memcmp(got, text, n));
        weft_http_response_free(r);
        weft_http_request_free(q);
        ASSERT_EQ(s.accepts, 1);
        weft_http_client_free(c);
        srv_stop(&s);
        free(b.p);
    }
    return 0;
}
TEST(gzip_deflate_and_raw_deflate_bodies_are_decoded_whole_and_streamed) { RUN(decoding); }

static int query(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_canned, "HTTP/1.1 204 No Content\r\n\r\n");
    weft_http_client *c = client(NULL);
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "GET", url(&s, "/p?a=1")), 0);
    ASSERT_ERR(weft_http_request_add_query(q, "b", "x y&z=é"), 0);
    ASSERT_ERR(weft_http_request_add_query(q, "c d", ""), 0);
    weft_http_response *r;
    ASSERT_ERR(weft_http_send(c, q, 0, &r), 0);
    ASSERT_EQ(weft_http_response_status(r), 204);
    ASSERT(strstr(s.head, "GET /p?a=1&b=x%20y%26z%3D%C3%A9&c%20d= HTTP/1.1\r\n"));
    weft_http_response_free(r);
    weft_http_request_free(q);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(query_params_are_percent_encoded_and_appended) { RUN(query); }

static int base_url(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_canned, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    char base[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/api/v1/", s.port);
    const char *hdrs[] = { "X-Default: one", "Accept: text/plain", NULL };
    weft_http_client_opts o = { .base_url = base, .headers = hdrs, .user_agent = "tester/2" };
    weft_http_client *c = client(&o);
    struct { const char *ref, *line; } cases[] = {
        { "items?x=1", "GET /api/v1/items?x=1 " },
        { "../v2/a/./b", "GET /api/v2/a/b " },
        { "/root", "GET /root " },
        { "", "GET /api/v1/ " },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        weft_http_response *r;
        ASSERT_ERR(weft_http_get(c, cases[i].ref, &r), 0);
        ASSERT(!strncmp(s.head, cases[i].line, strlen(cases[i].line)));
        weft_http_response_free(r);
    }
    ASSERT(strstr(s.head, "\r\nX-Default: one\r\n"));
    ASSERT(strstr(s.head, "\r\nUser-Agent: tester/2\r\n"));
    ASSERT(strstr(s.head, "\r\nAccept: text/plain\r\n"));
    ASSERT(!strstr(s.head, "*/*"));
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(relative_urls_resolve_against_the_base_url_with_default_headers) { RUN(base_url); }

static int headers(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_canned,
              "HTTP/1.1 200 Fine\r\nSet-Cookie: a=1\r\nX-One:  spaced \r\nset-cookie: b=2\r\n"
              "Content-Length: 0\r\n\r\n");
    weft_http_client *c = client(NULL);
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "GET", url(&s, "/")), 0);
    ASSERT_ERR(weft_http_request_add_header(q, "X-Multi", "1"), 0);
    ASSERT_ERR(weft_http_request_add_header(q, "x-multi", "2"), 0);
    ASSERT_ERR(weft_http_request_add_header(q, "Bad Name", "1"), WEFT_EINVAL);
    ASSERT_ERR(weft_http_request_add_header(q, "X-Split", "a\r\nInjected: 1"), WEFT_EINVAL);
    weft_http_response *r;
    ASSERT_ERR(weft_http_send(c, q, 0, &r), 0);
    ASSERT(strstr(s.head, "\r\nX-Multi: 1\r\nx-multi: 2\r\n"));
    ASSERT(!strstr(s.head, "Injected"));
    ASSERT_STR(weft_http_response_reason(r), "Fine");
    ASSERT_STR(weft_http_response_header(r, "SET-COOKIE"), "a=1");
    ASSERT_STR(weft_http_response_header(r, "x-one"), "spaced");
    ASSERT(weft_http_response_header(r, "missing") == NULL);
    ASSERT_EQ(weft_http_response_header_count(r), 4);
    const char *n, *v;
    ASSERT_ERR(weft_http_response_header_at(r, 2, &n, &v), 0);
    ASSERT_STR(n, "set-cookie");
    ASSERT_STR(v, "b=2");
    ASSERT_ERR(weft_http_response_header_at(r, 4, &n, &v), WEFT_EINVAL);
    weft_http_response_free(r);
    weft_http_request_free(q);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(headers_are_case_insensitive_multi_valued_and_kept_in_order) { RUN(headers); }

static int json_post(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_canned,
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n"
              "{\"ok\": [1, true]}");
    weft_http_client *c = client(NULL);
    json_t *j = json_pack("{s:s, s:i}", "name", "weft", "n", 3);
    weft_http_response *r;
    ASSERT_ERR(weft_http_post_json(c, url(&s, "/post"), j, &r), 0);
    json_decref(j);
    ASSERT(strstr(s.head, "POST /post HTTP/1.1\r\n"));
    ASSERT(strcasestr(s.head, "\r\nContent-Type: application/json\r\n"));
    ASSERT(strcasestr(s.head, "\r\nContent-Length: 21\r\n"));
    ASSERT_STR(s.body, "{\"name\":\"weft\",\"n\":3}" + 0);
    json_t *got;
    ASSERT_ERR(weft_http_response_json(r, &got), 0);
    ASSERT(json_is_true(json_array_get(json_object_get(got, "ok"), 1)));
    json_decref(got);
    ASSERT_ERR(weft_http_raise_for_status(r), 0);
    weft_http_response_free(r);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(json_body_is_sent_and_json_response_parsed) { RUN(json_post); }

/* ------------------------------------------------------------ bad peers */

static int status_and_bad_json(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_canned, "HTTP/1.1 418 I'm a teapot\r\nContent-Length: 6\r\n\r\n{nope}");
    weft_http_client *c = client(NULL);
    weft_http_response *r;
    ASSERT_ERR(weft_http_get(c, url(&s, "/"), &r), 0);
    ASSERT_ERR(weft_http_raise_for_status(r), WEFT_EHTTPSTATUS);
    json_t *j;
    ASSERT_ERR(weft_http_response_json(r, &j), WEFT_EDECODE);
    weft_http_response_free(r);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(error_status_raises_and_malformed_json_is_edecode) { RUN(status_and_bad_json); }

/* Sends s->resp once, then closes. */
static void srv_once(srv *s, int fd) {
    if (srv_read_request(s, fd)) srv_puts(fd, s->resp);
}

static int expect_get(const char *resp, int want) {
    srv s;
    srv_start(&s, srv_once, resp);
    weft_http_client_opts o = { .read_timeout = 300 * WEFT_MILLISECOND };
    weft_http_client *c = client(&o);
    weft_http_response *r = NULL;
    int err = weft_http_get(c, url(&s, "/"), &r);
    ASSERT_ERR(err, want);
    ASSERT(r == NULL);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}

static int truncated(void *arg) {
    (void)arg;
    expect_get("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", WEFT_EOF);
    expect_get("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", WEFT_EOF);
    expect_get("HTTP/1.1 200 OK\r\nContent-Le", WEFT_EHTTP);
    return 0;
}
TEST(truncated_body_is_eof_and_truncated_head_ehttp) { RUN(truncated); }

static int bad_framing(void *arg) {
    (void)arg;
    expect_get("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", WEFT_EHTTP);
    expect_get("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", WEFT_EHTTP);
    expect_get("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", WEFT_EHTTP);
    expect_get("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello", WEFT_EHTTP);
    expect_get("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Encoding: gzip\r\n\r\nhello", WEFT_EDECODE);
    expect_get("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\nhello", WEFT_EHTTP);
    return 0;
}
TEST(malformed_chunks_and_framing_are_ehttp_corrupt_gzip_edecode) { RUN(bad_framing); }

static int short_length(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_canned, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhello");
    weft_http_client *c = client(NULL);
    for (int i = 0; i < 2; i++) {
        weft_http_response *r;
        ASSERT_ERR(weft_http_get(c, url(&s, "/"), &r), 0);
        body_is(r, "hel");
        weft_http_response_free(r);
    }
    /* The two stray bytes make the connection unfit for another request. */
    ASSERT_EQ(s.accepts, 2);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(content_length_shorter_than_the_body_does_not_poison_the_next_request) { RUN(short_length); }

static void srv_huge_head(srv *s, int fd) {
    if (!srv_read_request(s, fd)) return;
    srv_puts(fd, "HTTP/1.1 200 OK\r\n");
    char line[1024];
    memset(line, 'a', sizeof line);
    memcpy(line, "X-Big: ", 7);
    line[1022] = '\r';
    line[1023] = '\n';
    for (int i = 0; i < 40; i++) srv_send(fd, line, sizeof line);
    srv_puts(fd, "\r\n");
}

static int huge_head(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_huge_head, NULL);
    weft_http_client_opts o = { .max_header_bytes = 16 * 1024 };
    weft_http_client *c = client(&o);
    weft_http_response *r;
    ASSERT_ERR(weft_http_get(c, url(&s, "/"), &r), WEFT_ETOOBIG);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(response_head_over_the_limit_is_etoobig) { RUN(huge_head); }

static void srv_silent(srv *s, int fd) {
    char b[256];
    srv_read_request(s, fd);
    while (weft_read(fd, b, sizeof b) > 0) {}
}

static int silent(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_silent, NULL);
    weft_http_client_opts o = { .read_timeout = 200 * WEFT_MILLISECOND };
    weft_http_client *c = client(&o);
    int64_t t0 = weft_now();
    weft_http_response *r;
    ASSERT_ERR(weft_http_get(c, url(&s, "/"), &r), WEFT_EREADTIMEOUT);
    ASSERT(weft_now() - t0 < 2 * WEFT_SECOND);
    /* The task's own deadline is reported as its own. */
    weft_scope sc;
    weft_timeout_enter(&sc, 100 * WEFT_MILLISECOND);
    ASSERT_ERR(weft_http_get(c, url(&s, "/"), &r), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ETIMEDOUT);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(server_that_never_answers_is_a_read_timeout) { RUN(silent); }

/* Answers the first request of each connection, then reads the next one
 * and closes without a word: a keep-alive connection closed under the
 * client's feet. */
static void srv_close_second(srv *s, int fd) {
    if (!srv_read_request(s, fd)) return;
    srv_puts(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    srv_read_request(s, fd);
}

static int stale(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_close_second, NULL);
    weft_http_client *c = client(NULL);
    weft_http_response *r;
    ASSERT_ERR(weft_http_get(c, url(&s, "/"), &r), 0);
    weft_http_response_free(r);
    ASSERT_ERR(weft_http_get(c, url(&s, "/"), &r), 0);   /* retried on a fresh connection */
    body_is(r, "ok");
    weft_http_response_free(r);
    ASSERT_EQ(s.accepts, 2);
    ASSERT_ERR(weft_http_post(c, url(&s, "/"), "x", 1, "text/plain", &r), WEFT_EOF);
    ASSERT_EQ(s.accepts, 2);   /* never retried */
    ASSERT_ERR(weft_http_post(c, url(&s, "/"), "x", 1, "text/plain", &r), 0);
    weft_http_response_free(r);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(kept_alive_connection_closed_by_server_is_retried_for_get_not_post) { RUN(stale); }

static int redirect_loop(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_canned, "HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 3\r\n\r\nabc");
    weft_http_client_opts o = { .follow_redirects = 1, .max_redirects = 5 };
    weft_http_client *c = client(&o);
    weft_http_response *r;
    ASSERT_ERR(weft_http_get(c, url(&s, "/"), &r), WEFT_EREDIRECTS);
    ASSERT_EQ(s.requests, 6);
    ASSERT_EQ(s.accepts, 1);
    weft_http_client_free(c);
    /* Off by default: the 302 is the answer. */
    c = client(NULL);
    ASSERT_ERR(weft_http_get(c, url(&s, "/"), &r), 0);
    ASSERT_EQ(weft_http_response_status(r), 302);
    weft_http_response_free(r);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(redirect_loop_stops_at_max_redirects) { RUN(redirect_loop); }

static int bomb(void *arg) {
    (void)arg;
    size_t len = 4 << 20;
    char *zeros = calloc(1, len);
    blob b;
    b.p = compressed_response(zeros, len, 31, "gzip");
    b.len = resp_len(b.p);
    free(zeros);
    srv s;
    srv_start(&s, srv_blob, NULL);
    s.ud = &b;
    weft_http_client_opts o = { .max_body = 256 << 10 };
    weft_http_client *c = client(&o);
    weft_http_response *r;
    ASSERT_ERR(weft_http_get(c, url(&s, "/"), &r), WEFT_ETOOBIG);
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "GET", url(&s, "/")), 0);
    ASSERT_ERR(weft_http_send(c, q, WEFT_HTTP_STREAM, &r), 0);
    ASSERT_ERR(weft_http_response_body(r, NULL, NULL), WEFT_ETOOBIG);
    weft_http_response_free(r);
    weft_http_request_free(q);
    weft_http_client_free(c);
    srv_stop(&s);
    free(b.p);
    return 0;
}
TEST(gzip_bomb_stops_at_max_body) { RUN(bomb); }

static int pool_timeout(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_canned, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    weft_http_client_opts o = { .max_connections = 1, .pool_timeout = 100 * WEFT_MILLISECOND };
    weft_http_client *c = client(&o);
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "GET", url(&s, "/")), 0);
    weft_http_response *held, *r;
    ASSERT_ERR(weft_http_send(c, q, WEFT_HTTP_STREAM, &held), 0);
    ASSERT_ERR(weft_http_send(c, q, 0, &r), WEFT_EPOOLTIMEOUT);
    /* Cancelled while waiting for a slot: it leaves the queue cleanly. */
    job j = { c, url(&s, "/"), 1 };
    weft_task *t = weft_spawn(do_get, &j);
    weft_sleep(20 * WEFT_MILLISECOND);
    weft_cancel(t);
    ASSERT_ERR(weft_join(t, NULL), 0);
    ASSERT_ERR(j.err, WEFT_ECANCELED);
    body_is(held, "hello");   /* reading to the end frees the slot */
    ASSERT_ERR(weft_http_send(c, q, 0, &r), 0);
    weft_http_response_free(r);
    weft_http_response_free(held);
    ASSERT_EQ(s.accepts, 1);
    weft_http_request_free(q);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(all_connections_busy_is_a_pool_timeout) { RUN(pool_timeout); }

/* ------------------------------------------------------- cancellation */

/* Replies slowly, in pieces: the client waits at every stage. */
static void srv_slow(srv *s, int fd) {
    while (srv_read_request(s, fd)) {
        if (weft_sleep(2 * WEFT_MILLISECOND)) return;
        srv_puts(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
        if (weft_sleep(2 * WEFT_MILLISECOND)) return;
        srv_puts(fd, "hello");
        if (weft_sleep(2 * WEFT_MILLISECOND)) return;
        srv_puts(fd, "world");
    }
}

static int cancel_stages(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_slow, NULL);
    weft_http_client_opts o = { .max_connections = 1 };
    weft_http_client *c = client(&o);
    int canceled = 0, done = 0;
    /* Cancel after 0, 1, 2... yields and growing sleeps: each lands the
     * cancel at a different await (DNS, connect, write, head, body). */
    for (int i = 0; i < 40; i++) {
        job j = { c, url(&s, "/"), 1 };
        weft_task *t = weft_spawn(do_get, &j);
        if (i < 20) for (int k = 0; k < i; k++) weft_yield();
        else weft_sleep((i - 20) * WEFT_MILLISECOND / 2);
        weft_cancel(t);
        ASSERT_ERR(weft_join(t, NULL), 0);
        if (j.err == WEFT_ECANCELED) canceled++;
        else { ASSERT_ERR(j.err, 0); done++; }
        /* The pool is usable after every cancel. */
        job k = { c, url(&s, "/"), 1 };
        do_get(&k);
        ASSERT_ERR(k.err, 0);
    }
    ASSERT(canceled > 10);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(cancel_at_every_stage_leaks_nothing_and_the_pool_stays_usable) { RUN(cancel_stages); }

/* ------------------------------------------------------------ redirects */

typedef struct two { srv a, b; } two;

static void srv_redirector(srv *s, int fd) {
    two *t = s->ud;
    while (srv_read_request(s, fd)) {
        char resp[512];
        int code = atoi(s->head + strcspn(s->head, "/") + 1);
        if (code == 0) {
            srv_puts(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone");
            continue;
        }
        /* /302 -> /end here; /302x -> /end on the other server. */
        bool cross = s->head[strcspn(s->head, "/") + 4] == 'x';
        srv *dst = s == &t->a ? &t->b : &t->a;
        snprintf(resp, sizeof resp, "HTTP/1.1 %d Moved\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n", code,
                 cross ? url(dst, "/end") : "/end");
        srv_puts(fd, resp);
    }
}

static int redirect_methods(void *arg) {
    (void)arg;
    static two t;
    srv_start(&t.a, srv_redirector, NULL);
    srv_start(&t.b, srv_redirector, NULL);
    t.a.ud = t.b.ud = &t;
    weft_http_client_opts o = { .follow_redirects = 1 };
    weft_http_client *c = client(&o);
    struct { int code; const char *method, *then; bool body; } cases[] = {
        { 301, "POST", "GET", false }, { 302, "POST", "GET", false }, { 303, "PUT", "GET", false },
        { 303, "HEAD", "HEAD", false }, { 307, "POST", "POST", true }, { 308, "PUT", "PUT", true },
        { 302, "PUT", "PUT", true },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[16];
        snprintf(path, sizeof path, "/%d", cases[i].code);
        weft_http_request *q;
        ASSERT_ERR(weft_http_request_new(&q, cases[i].method, url(&t.a, path)), 0);
        ASSERT_ERR(weft_http_request_set_body(q, "data", 4, "text/plain"), 0);
        ASSERT_ERR(weft_http_request_add_header(q, "Authorization", "Bearer secret"), 0);
        weft_http_response *r;
        ASSERT_ERR(weft_http_send(c, q, 0, &r), 0);
        ASSERT_EQ(weft_http_response_status(r), 200);
        ASSERT_STR(weft_http_response_url(r), url(&t.a, "/end"));
        ASSERT(!strncmp(t.a.head, cases[i].then, strlen(cases[i].then)));
        ASSERT(strstr(t.a.head, "/end HTTP/1.1"));
        if (t.a.body_len != (cases[i].body ? 4 : 0)) fprintf(stderr, "case %zu\n", i);
        ASSERT_EQ(t.a.body_len, cases[i].body ? 4 : 0);
        ASSERT(!!strcasestr(t.a.head, "content-type: text/plain") == cases[i].body);
        ASSERT(strstr(t.a.head, "Authorization: Bearer secret"));   /* same origin: kept */
        weft_http_response_free(r);
        /* To the other server (another port): credentials dropped. */
        snprintf(path, sizeof path, "/%dx", cases[i].code);
        weft_http_request_free(q);
        ASSERT_ERR(weft_http_request_new(&q, cases[i].method, url(&t.a, path)), 0);
        ASSERT_ERR(weft_http_request_add_header(q, "Authorization", "Bearer secret"), 0);
        ASSERT_ERR(weft_http_request_add_header(q, "Cookie", "c=1"), 0);
        ASSERT_ERR(weft_http_request_add_header(q, "X-Other", "kept"), 0);
        ASSERT_ERR(weft_http_send(c, q, 0, &r), 0);
        ASSERT_STR(weft_http_response_url(r), url(&t.b, "/end"));
        ASSERT(!strcasestr(t.b.head, "authorization"));
        ASSERT(!strcasestr(t.b.head, "cookie"));
        ASSERT(strstr(t.b.head, "X-Other: kept"));
        weft_http_response_free(r);
        weft_http_request_free(q);
    }
    weft_http_client_free(c);
    srv_stop(&t.a);
    srv_stop(&t.b);
    return 0;
}
TEST(redirects_change_methods_as_browsers_and_drop_credentials_across_origins) { RUN(redirect_methods); }

static ssize_t gen_body(void *ud, void *buf, size_t len) {
    int *left = ud;
    if (*left == 0) return 0;
    (*left)--;
    return (ssize_t)snprintf(buf, len, "piece;");
}

static int body_fn(void *arg) {
    (void)arg;
    static two t;
    srv_start(&t.a, srv_redirector, NULL);
    t.a.ud = &t;
    weft_http_client_opts o = { .follow_redirects = 1 };
    weft_http_client *c = client(&o);
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "POST", url(&t.a, "/end")), 0);
    int left = 3;
    ASSERT_ERR(weft_http_request_set_body_fn(q, gen_body, &left, -1, "text/plain"), 0);
    weft_http_response *r;
    ASSERT_ERR(weft_http_send(c, q, 0, &r), 0);
    ASSERT(strcasestr(t.a.head, "transfer-encoding: chunked"));
    ASSERT(strstr(t.a.body, "6\r\npiece;\r\n6\r\npiece;\r\n6\r\npiece;\r\n0\r\n\r\n"));
    weft_http_response_free(r);
    weft_http_request_free(q);
    /* A 307 would need the body again: the 307 is the answer. */
    ASSERT_ERR(weft_http_request_new(&q, "POST", url(&t.a, "/307")), 0);
    left = 2;
    ASSERT_ERR(weft_http_request_set_body_fn(q, gen_body, &left, 12, NULL), 0);
    ASSERT_ERR(weft_http_send(c, q, 0, &r), 0);
    ASSERT_EQ(weft_http_response_status(r), 307);
    ASSERT(strcasestr(t.a.head, "content-length: 12"));
    weft_http_response_free(r);
    weft_http_request_free(q);
    weft_http_client_free(c);
    srv_stop(&t.a);
    return 0;
}
TEST(body_fn_bodies_go_chunked_and_are_not_replayed_on_307) { RUN(body_fn); }

static int refused(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_canned, "");
    int port = s.port;
    srv_stop(&s);
    weft_http_client *c = client(NULL);
    weft_http_response *r;
    ASSERT_ERR(weft_http_getf(c, &r, "http://127.0.0.1:%d/", port), -ECONNREFUSED);
    ASSERT_ERR(weft_http_get(c, "ftp://127.0.0.1/", &r), WEFT_EURL);
    ASSERT_ERR(weft_http_get(c, "/relative-without-base", &r), WEFT_EURL);
    weft_http_client_free(c);
    return 0;
}
TEST(refused_connection_and_bad_urls_fail_cleanly) { RUN(refused); }

/* ------------------------------------------------------------------ URLs */

static void url_is(const char *base, const char *ref, const char *want) {
    weft__url b, u;
    ASSERT_ERR(weft__url_parse(&b, base), 0);
    ASSERT_ERR(weft__url_resolve(&u, &b, ref), 0);
    ASSERT_STR(u.href, want);
    weft__url_free(&u);
    weft__url_free(&b);
}

TEST(urls_parse_strictly_and_resolve_as_rfc_3986_says) {
    weft__url u;
    ASSERT_ERR(weft__url_parse(&u, "HTTP://Example.COM:8080/a/b?x=1#frag"), 0);
    ASSERT_STR(u.host, "example.com");
    ASSERT_STR(u.port, "8080");
    ASSERT_STR(u.target, "/a/b?x=1");
    ASSERT_STR(u.origin, "http://example.com:8080");
    weft__url_free(&u);
    ASSERT_ERR(weft__url_parse(&u, "https://[::1]/"), 0);
    ASSERT_STR(u.host, "::1");
    ASSERT_STR(u.port, "443");
    ASSERT_STR(u.href, "https://[::1]/");
    ASSERT(u.tls);
    weft__url_free(&u);
    ASSERT_ERR(weft__url_parse(&u, "http://h"), 0);
    ASSERT_STR(u.target, "/");
    weft__url_free(&u);
    const char *bad[] = { "http://user:pw@h/", "ftp://h/", "http:///x", "http://h:0/", "http://h:65536/",
                          "http://h/a b", "//h/x", "/x", "http://[::1/", "http://h/%zz", "http://h\x01/",
                          "file:///etc/passwd", "http://[zz]/" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) ASSERT_ERR(weft__url_parse(&u, bad[i]), WEFT_EURL);
    /* RFC 3986 5.4's examples, from base http://a/b/c/d;p?q */
    const char *b = "http://a/b/c/d;p?q";
    url_is(b, "g", "http://a/b/c/g");
    url_is(b, "./g", "http://a/b/c/g");
    url_is(b, "g/", "http://a/b/c/g/");
    url_is(b, "/g", "http://a/g");
    url_is(b, "//g", "http://g/");
    url_is(b, "?y", "http://a/b/c/d;p?y");
    url_is(b, "g?y", "http://a/b/c/g?y");
    url_is(b, "#s", "http://a/b/c/d;p?q");
    url_is(b, "", "http://a/b/c/d;p?q");
    url_is(b, ".", "http://a/b/c/");
    url_is(b, "..", "http://a/b/");
    url_is(b, "../g", "http://a/b/g");
    url_is(b, "../..", "http://a/");
    url_is(b, "../../../g", "http://a/g");
    url_is(b, "/./g", "http://a/g");
    url_is(b, "g/../h", "http://a/b/c/h");
    url_is(b, "https://other:8443/x", "https://other:8443/x");
    weft__url base;
    ASSERT_ERR(weft__url_parse(&base, b), 0);
    ASSERT_ERR(weft__url_resolve(&u, &base, "javascript:alert(1)"), WEFT_EURL);
    weft__url_free(&base);
}

/* ------------------------------------------------------ more framings */

static int interim(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_canned,
              "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
              "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal");
    weft_http_client *c = client(NULL);
    for (int i = 0; i < 2; i++) {
        weft_http_response *r;
        ASSERT_ERR(weft_http_get(c, url(&s, "/"), &r), 0);
        ASSERT_EQ(weft_http_response_status(r), 200);
        ASSERT(weft_http_response_header(r, "link") == NULL);
        body_is(r, "real");
        weft_http_response_free(r);
    }
    ASSERT_EQ(s.accepts, 1);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(interim_1xx_responses_are_skipped) { RUN(interim); }

static int head_method(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_canned, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Encoding: gzip\r\n\r\n");
    weft_http_client *c = client(NULL);
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "HEAD", url(&s, "/")), 0);
    for (int i = 0; i < 2; i++) {
        weft_http_response *r;
        ASSERT_ERR(weft_http_send(c, q, 0, &r), 0);
        ASSERT_STR(weft_http_response_header(r, "content-length"), "1000");
        body_is(r, "");
        weft_http_response_free(r);
    }
    ASSERT_EQ(s.accepts, 1);   /* no body was waited for, the connection was reused */
    weft_http_request_free(q);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(head_response_has_no_body_whatever_its_length_and_coding) { RUN(head_method); }

static int to_close(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_once, "HTTP/1.0 200 OK\r\n\r\nuntil the end");
    weft_http_client *c = client(NULL);
    for (int i = 0; i < 2; i++) {
        weft_http_response *r;
        ASSERT_ERR(weft_http_get(c, url(&s, "/"), &r), 0);
        body_is(r, "until the end");
        weft_http_response_free(r);
    }
    ASSERT_EQ(s.accepts, 2);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(body_without_length_is_read_to_close_and_not_reused) { RUN(to_close); }

static void srv_many_headers(srv *s, int fd) {
    while (srv_read_request(s, fd)) {
        srv_puts(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n");
        for (int i = 0; i < 300; i++) {
            char line[32];
            snprintf(line, sizeof line, "X-H%d: %d\r\n", i, i);
            srv_puts(fd, line);
        }
        srv_puts(fd, "\r\n");
    }
}

static int many_headers(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_many_headers, NULL);
    weft_http_client *c = client(NULL);
    weft_http_response *r;
    ASSERT_ERR(weft_http_get(c, url(&s, "/"), &r), 0);
    ASSERT_EQ(weft_http_response_header_count(r), 301);
    ASSERT_STR(weft_http_response_header(r, "x-h299"), "299");
    weft_http_response_free(r);
    weft_http_client_free(c);
    weft_http_client_opts o = { .max_headers = 100 };
    c = client(&o);
    ASSERT_ERR(weft_http_get(c, url(&s, "/"), &r), WEFT_ETOOBIG);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(hundreds_of_header_fields_are_kept_up_to_max_headers) { RUN(many_headers); }

/* ---------------------------------------------------------- timeouts */

static void srv_no_read(srv *s, int fd) {
    (void)fd;
    weft_sleep(5 * WEFT_SECOND);   /* never reads: the client's writes back up */
    (void)s;
}

static ssize_t zeros(void *ud, void *buf, size_t len) {
    (void)ud;
    memset(buf, 0, len);
    return (ssize_t)len;
}

static int write_timeout(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_no_read, NULL);
    weft_http_client_opts o = { .write_timeout = 200 * WEFT_MILLISECOND };
    weft_http_client *c = client(&o);
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "PUT", url(&s, "/")), 0);
    ASSERT_ERR(weft_http_request_set_body_fn(q, zeros, NULL, (int64_t)1 << 32, NULL), 0);
    weft_http_response *r;
    ASSERT_ERR(weft_http_send(c, q, 0, &r), WEFT_EWRITETIMEOUT);
    weft_http_request_free(q);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(server_that_never_reads_is_a_write_timeout) { RUN(write_timeout); }

static int handshake_timeout(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_no_read, NULL);
    weft_http_client_opts o = { .connect_timeout = 200 * WEFT_MILLISECOND };
    weft_http_client *c = client(&o);
    weft_http_response *r;
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_http_getf(c, &r, "https://127.0.0.1:%d/", s.port), WEFT_ECONNTIMEOUT);
    ASSERT(weft_now() - t0 < 2 * WEFT_SECOND);
    /* Cancelled mid-handshake: nothing left behind. */
    job j = { c, NULL, 1 };
    char u[64];
    snprintf(u, sizeof u, "https://127.0.0.1:%d/", s.port);
    j.url = u;
    weft_task *t = weft_spawn(do_get, &j);
    weft_sleep(50 * WEFT_MILLISECOND);
    weft_cancel(t);
    ASSERT_ERR(weft_join(t, NULL), 0);
    ASSERT_ERR(j.err, WEFT_ECANCELED);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(tls_handshake_with_a_silent_server_is_a_connect_timeout) { RUN(handshake_timeout); }

/* ---------------------------------------------------------------- pool */

static int expiry(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_canned, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    weft_http_client_opts o = { .idle_expiry = 50 * WEFT_MILLISECOND };
    weft_http_client *c = client(&o);
    weft_http_response *r;
    ASSERT_ERR(weft_http_get(c, url(&s, "/"), &r), 0);
    weft_http_response_free(r);
    weft_sleep(100 * WEFT_MILLISECOND);
    ASSERT_ERR(weft_http_get(c, url(&s, "/"), &r), 0);
    weft_http_response_free(r);
    ASSERT_EQ(s.accepts, 2);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(idle_connection_past_its_expiry_is_not_reused) { RUN(expiry); }

static int across_origins(void *arg) {
    (void)arg;
    srv a, b;
    srv_start(&a, srv_canned, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na");
    srv_start(&b, srv_canned, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb");
    weft_http_client_opts o = { .max_connections = 1, .pool_timeout = 100 * WEFT_MILLISECOND };
    weft_http_client *c = client(&o);
    weft_http_response *r;
    const char *seq[] = { url(&a, "/"), url(&a, "/"), url(&b, "/"), url(&a, "/") };
    for (int i = 0; i < 4; i++) {
        ASSERT_ERR(weft_http_get(c, seq[i], &r), 0);   /* an idle one of another origin makes room */
        weft_http_response_free(r);
    }
    ASSERT_EQ(a.accepts, 2);
    ASSERT_EQ(b.accepts, 1);
    weft_http_client_free(c);
    srv_stop(&a);
    srv_stop(&b);
    return 0;
}
TEST(max_connections_counts_every_origin_and_idle_ones_make_room) { RUN(across_origins); }

static void *get_many(void *arg) {
    job *j = arg;
    for (int i = 0; i < 10 && !j->err; i++) {
        weft_http_response *r;
        j->err = weft_http_get(j->c, j->url, &r);
        if (!j->err) {
            const void *d;
            size_t n;
            ASSERT_ERR(weft_http_response_body(r, &d, &n), 0);
            ASSERT_EQ(n, 10);
            weft_http_response_free(r);
        }
    }
    return NULL;
}

static int shared(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_slow, NULL);
    weft_http_client_opts o = { .max_connections = 3 };
    weft_http_client *c = client(&o);
    job jobs[8];
    weft_task *t[8];
    for (int i = 0; i < 8; i++) {
        jobs[i] = (job){ c, url(&s, "/"), 0 };
        t[i] = weft_spawn(get_many, &jobs[i]);
    }
    ASSERT_ERR(weft_gather(t, 8, NULL), 0);
    for (int i = 0; i < 8; i++) ASSERT_ERR(jobs[i].err, 0);
    ASSERT(s.accepts <= 3);
    ASSERT_EQ(s.requests, 80);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(tasks_sharing_a_client_stay_within_max_connections) { RUN(shared); }

/* ------------------------------------------- hooks for command-line tools */

/* Every head, sent and received, in order, concatenated with its kind. */
typedef struct heads { char log[4096]; size_t len; int sent, received; } heads;
static void record_head(void *ud, int kind, const char *head, size_t len) {
    heads *h = ud;
    ASSERT(h->len + len + 2 < sizeof h->log);
    h->log[h->len++] = kind == WEFT_HTTP_HEAD_SENT ? '>' : '<';
    memcpy(h->log + h->len, head, len);
    h->len += len;
    h->log[h->len] = 0;
    if (kind == WEFT_HTTP_HEAD_SENT) h->sent++;
    else h->received++;
}

static int on_head(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_canned,
              "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    weft_http_client *c = client(NULL);
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "GET", url(&s, "/a")), 0);
    heads h = { .len = 0 };
    ASSERT_ERR(weft_http_request_on_head(q, record_head, &h), 0);
    weft_http_response *r;
    ASSERT_ERR(weft_http_send(c, q, 0, &r), 0);
    weft_http_response_free(r);
    ASSERT_EQ(h.sent, 1);
    ASSERT_EQ(h.received, 2);
    /* The request head exactly as the server got it, then both responses'. */
    char want[sizeof s.head + 128];
    snprintf(want, sizeof want, ">%s<HTTP/1.1 100 Continue\r\n\r\n<HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
             s.head);
    ASSERT_STR(h.log, want);
    /* Removed: no more calls. */
    ASSERT_ERR(weft_http_request_on_head(q, NULL, NULL), 0);
    ASSERT_ERR(weft_http_send(c, q, 0, &r), 0);
    weft_http_response_free(r);
    ASSERT_EQ(h.sent, 1);
    ASSERT_ERR(weft_http_request_on_head(NULL, record_head, &h), WEFT_EINVAL);
    weft_http_request_free(q);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(on_head_sees_each_head_sent_and_received_interim_ones_too) { RUN(on_head); }

static int remove_header(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_canned, "HTTP/1.1 204 No Content\r\n\r\n");
    const char *defaults[] = { "X-Default: d", "X-Kept: k", NULL };
    weft_http_client *c = client(&(weft_http_client_opts){ .headers = defaults });
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "GET", url(&s, "/")), 0);
    ASSERT_ERR(weft_http_request_add_header(q, "X-Mine", "1"), 0);
    ASSERT_ERR(weft_http_request_remove_header(q, "x-mine"), 0);
    ASSERT_ERR(weft_http_request_remove_header(q, "Accept-Encoding"), 0);
    ASSERT_ERR(weft_http_request_remove_header(q, "user-agent"), 0);
    ASSERT_ERR(weft_http_request_remove_header(q, "X-Default"), 0);
    ASSERT_ERR(weft_http_request_remove_header(q, "X-Default"), 0);  /* twice is fine */
    ASSERT_ERR(weft_http_request_remove_header(q, "Host"), WEFT_EINVAL);
    ASSERT_ERR(weft_http_request_remove_header(q, "Content-Length"), WEFT_EINVAL);
    ASSERT_ERR(weft_http_request_remove_header(q, "bad name"), WEFT_EINVAL);
    ASSERT_ERR(weft_http_request_remove_header(NULL, "X"), WEFT_EINVAL);
    weft_http_response *r;
    ASSERT_ERR(weft_http_send(c, q, 0, &r), 0);
    weft_http_response_free(r);
    ASSERT(!strcasestr(s.head, "x-mine"));
    ASSERT(!strcasestr(s.head, "accept-encoding"));
    ASSERT(!strcasestr(s.head, "user-agent"));
    ASSERT(!strcasestr(s.head, "x-default"));
    ASSERT(strcasestr(s.head, "\r\nX-Kept: k\r\n"));
    ASSERT(strcasestr(s.head, "\r\nAccept: */*\r\n"));
    /* A field added after the removal is sent, in place of the client's. */
    ASSERT_ERR(weft_http_request_add_header(q, "User-Agent", "mine"), 0);
    ASSERT_ERR(weft_http_send(c, q, 0, &r), 0);
    weft_http_response_free(r);
    ASSERT(strcasestr(s.head, "\r\nUser-Agent: mine\r\n"));
    weft_http_request_free(q);
    weft_http_client_free(c);
    srv_stop(&s);
    return 0;
}
TEST(remove_header_drops_the_requests_and_the_clients_own_fields) { RUN(remove_header); }

static int raw_body(void *arg) {
    (void)arg;
    const char *text = "compressible text, compressible text, compressible text";
    blob b;
    b.p = compressed_response(text, strlen(text), 31, "gzip");
    b.len = resp_len(b.p);
    srv s;
    srv_start(&s, srv_blob, NULL);
    s.ud = &b;
    weft_http_client *c = client(NULL);
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "GET", url(&s, "/")), 0);
    weft_http_response *r;
    ASSERT_ERR(weft_http_send(c, q, WEFT_HTTP_RAW, &r), 0);
    const void *d;
    size_t n;
    ASSERT_ERR(weft_http_response_body(r, &d, &n), 0);
    ASSERT(n >= 2 && !memcmp(d, "\x1f\x8b", 2));  /* gzip's magic: as it came */
    weft_http_response_free(r);
    ASSERT_ERR(weft_http_send(c, q, 0, &r), 0);   /* and decoded without the flag */
    body_is(r, text);
    weft_http_response_free(r);
    ASSERT_EQ(s.accepts, 1);
    weft_http_request_free(q);
    weft_http_client_free(c);
    srv_stop(&s);
    free(b.p);
    return 0;
}
TEST(raw_flag_passes_a_coded_body_through_as_it_came) { RUN(raw_body); }

static int resolve_opt(void *arg) {
    (void)arg;
    srv s;
    srv_start(&s, srv_canned, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    char entry[64];
    snprintf(entry, sizeof entry, "Example.INVALID:%d:127.0.0.1", s.port);
    const char *resolve[] = { entry, "[::1]:1:[::1]", NULL };
    weft_http_client *c = client(&(weft_http_client_opts){ .resolve = resolve });
    weft_http_response *r;
    ASSERT_ERR(weft_http_getf(c, &r, "http://example.invalid:%d/x", s.port), 0);
    body_is(r, "ok");
    weft_http_response_free(r);
    ASSERT(strcasestr(s.head, "\r\nHost: example.invalid:"));
    /* Another port of the same name is not covered: DNS says no such name. */
    ASSERT_ERR(weft_http_getf(c, &r, "http://example.invalid:%d/x", s.port == 1 ? 2 : 1),
               WEFT_ENOTFOUND);
    weft_http_client_free(c);
    const char *bad[][2] = { { "host:80", NULL }, { "host::1.2.3.4", NULL }, { ":80:1.2.3.4", NULL },
                             { "host:99999:1.2.3.4", NULL }, { "host:80:", NULL } };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        weft_http_client *x = NULL;
        ASSERT_ERR(weft_http_client_new(&x, &(weft_http_client_opts){ .resolve = bad[i] }), WEFT_EINVAL);
        ASSERT(!x);
    }
    srv_stop(&s);
    return 0;
}
TEST(resolve_option_sends_a_host_to_the_address_given) { RUN(resolve_opt); }
