/* libFuzzer target: the HTTP client's handling of a response, end to end.
 * A server task on a loopback port answers the client's one request with
 * the fuzz input's bytes and closes; the client (weft_http_send) parses the
 * head, skips interim responses, frames the body (Content-Length, chunked,
 * until close) and decodes it (gzip, deflate, raw deflate), the body read
 * whole, as JSON, or streamed in small pieces. The first input byte picks
 * the method and how the body is read; the rest is the response.
 *
 * Checks: no crash, no leak (LeakSanitizer after each input), every call
 * returns 0 or a negative code, a response's status is 100..999 and its
 * headers are readable, a streamed body and a whole one agree with the
 * client's own limits.
 *
 * The server listens once per run (fuzz_loop.h) and the client's socket
 * closes with a reset, so that hours of inputs leave no TIME_WAIT behind. */
#include "fuzz_loop.h"

#include <weft.h>
#include <weft/http.h>
#include <weft/io.h>
#include <weft/net.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>


enum { OPT_HEAD = 1, OPT_STREAM = 2, OPT_JSON = 4, OPT_SMALL_MAX = 8 };

typedef struct run {
    const uint8_t *resp;
    size_t len;
    unsigned opt;
    int lfd;
} run;

/* The server: reads the request head (or whatever comes first), answers
 * with the fuzz bytes, closes. */
static void *serve_one(void *arg) {
    run *r = arg;
    int fd;
    if (weft_accept(r->lfd, NULL, NULL, &fd) < 0) return NULL;
    char buf[4096];
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t n = weft_read(fd, buf + got, sizeof buf - got);
        if (n <= 0) break;
        got += (size_t)n;
        if (got >= 4 && !memcmp(buf + got - 4, "\r\n\r\n", 4)) break;
    }
    if (r->len) weft_write(fd, r->resp, r->len);  /* the client may have gone: -EPIPE */
    weft_close(fd);
    return NULL;
}

static void read_response(weft_http_response *res, unsigned opt) {
    int st = weft_http_response_status(res);
    CHECK(st >= 100 && st <= 999);
    CHECK(weft_http_response_reason(res) && weft_http_response_url(res));
    size_t n = weft_http_response_header_count(res);
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        CHECK(weft_http_response_header_at(res, i, &name, &value) == 0 && name && value);
    }
    CHECK(weft_http_response_header_at(res, n, NULL, NULL) == WEFT_EINVAL);
    weft_http_response_header(res, "content-type");
    if (opt & OPT_STREAM) {
        char buf[7];
        ssize_t k;
        while ((k = weft_http_response_read(res, buf, sizeof buf)) > 0) {
            CHECK((size_t)k <= sizeof buf);
        }
        CHECK(k <= 0);
        if (k < 0) CHECK(weft_http_response_read(res, buf, sizeof buf) == k);  /* errors stick */
    } else if (opt & OPT_JSON) {
        json_t *j = NULL;
        int e = weft_http_response_json(res, &j);
        CHECK(e <= 0);
        if (e == 0) json_decref(j);
    } else {
        const void *data;
        size_t len;
        int e = weft_http_response_body(res, &data, &len);
        CHECK(e <= 0);
        if (e == 0) CHECK(((const char *)data)[len] == '\0');
    }
    weft_http_timings t;
    weft_http_response_timings(res, &t);
    weft_http_raise_for_status(res);
}

static int fuzz_main(void *arg) {
    run *r = arg;
    r->lfd = fuzz_tcp_listener();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", weft_sock_port(r->lfd));
    weft_task *srv = weft_spawn(serve_one, r);
    CHECK(srv);
    weft_http_client_opts o = { .read_timeout = 2 * WEFT_SECOND, .connect_timeout = 2 * WEFT_SECOND,
                                .max_body = r->opt & OPT_SMALL_MAX ? 64 : 0 };
    weft_http_client *c;
    CHECK(weft_http_client_new(&c, &o) == 0);
    weft_http_request *req;
    CHECK(weft_http_request_new(&req, r->opt & OPT_HEAD ? "HEAD" : "GET", url) == 0);
    weft_http_response *res = NULL;
    int e = weft_http_send(c, req, r->opt & OPT_STREAM ? WEFT_HTTP_STREAM : 0, &res);
    CHECK(e <= 0 && (e == 0) == (res != NULL));
    if (res) {
        read_response(res, r->opt);
        weft_http_response_free(res);
    }
    weft_http_request_free(req);
    weft_http_client_free(c);
    CHECK(weft_join(srv, NULL) == 0);
    fuzz_listener_drain(r->lfd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    if (len < 1) return 0;
    run r = { .resp = data + 1, .len = len - 1, .opt = data[0], .lfd = -1 };
    fuzz_in_loop(fuzz_main, &r);
    return 0;
}
