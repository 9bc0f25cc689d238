/* libFuzzer target: the HTTP server's handling of a request stream, end to
 * end. A weft_httpd serves on a Unix socket; a client task writes the
 * fuzz input's bytes (after the first) as one connection's requests, shuts
 * down its write side and reads everything the server answers until it
 * closes. The handler reads the body (whole, or in small pieces, by the
 * first byte's choice) and answers with its length, as a whole response or
 * a streamed one; limits are tight or the defaults, also by that byte.
 *
 * Checks: no crash, no leak (LeakSanitizer after each input), the server
 * closes the connection, and what it sent is a well-formed sequence of
 * responses: each head parses (as a response to the request's method, as
 * the handler saw it; GET for an error response the handler never saw,
 * whose body may be missing if the input holds a HEAD request),
 * each body is complete under its framing, and no byte follows the last.
 *
 * The connection is a Unix domain socket, to a listener made once per run
 * that each input's server adopts a duplicate of (weft_httpd_listen_fd):
 * over TCP, the client's half-close makes it the side that closes first,
 * and every input would leave a port in TIME_WAIT for 60 s; a Unix socket
 * has no TIME_WAIT, and the server's code past accept is the same. */
#include "parse.h"

#include "fuzz_serve.h"

#include <weft.h>
#include <weft/httpd.h>
#include <weft/io.h>
#include <weft/net.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>


#define MAX_SEEN 64

typedef struct run {
    const uint8_t *req;
    size_t len;
    unsigned opt;
    const char *path;      /* the listener's (abstract) address */
    char *out;             /* what the server sent */
    size_t out_len, out_cap;
    char methods[MAX_SEEN][16];  /* the requests the handler saw, in order */
    size_t nseen;
} run;

static int handler(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    run *r = arg;
    const char *m = weft_httpd_req_method(req);
    if (r->nseen < MAX_SEEN) snprintf(r->methods[r->nseen], sizeof r->methods[0], "%s", m);
    r->nseen++;
    size_t n;
    int e = fuzz_read_body(req, r->opt, &n);
    if (e < 0) return e;
    char body[64];
    int blen = snprintf(body, sizeof body, "%s %s %zu\n", m, weft_httpd_req_path(req), n);
    if (blen >= (int)sizeof body) blen = sizeof body - 1;
    return fuzz_answer(res, r->opt, body, (size_t)blen);
}

/* The client: writes the requests, half-closes, reads the answer to EOF. */
static void *client_main(void *arg) {
    run *r = arg;
    int fd;
    CHECK(weft_unix_connect(r->path, &fd) == 0);
    if (r->len) weft_write(fd, r->req, r->len);  /* -EPIPE if the server closed first */
    weft_shutdown(fd, SHUT_WR);
    for (;;) {
        if (r->out_len == r->out_cap) {
            r->out_cap = r->out_cap ? 2 * r->out_cap : 4096;
            r->out = realloc(r->out, r->out_cap);
            CHECK(r->out);
        }
        ssize_t n = weft_read(fd, r->out + r->out_len, r->out_cap - r->out_len);
        if (n <= 0) break;  /* the end, or a reset after the server gave up on the rest */
        r->out_len += (size_t)n;
    }
    weft_close(fd);
    return NULL;
}

/* Bytes of a chunked body at p[0, len), or 0 if it is not complete. */
static size_t chunked_len(const char *p, size_t len) {
    weft__chunked ck = { 0 };
    size_t pos = 0;
    while (!ck.done) {
        const char *d;
        size_t dlen;
        ssize_t k = weft__chunked_step(&ck, p + pos, len - pos, SIZE_MAX, &d, &dlen);
        CHECK(k >= 0);
        if (k == 0) return 0;
        pos += (size_t)k;
    }
    return pos;
}

/* The server's answer must be whole responses, one after the other. */
static void check_output(const run *r) {
    static const weft__http_limits lim = { 8192, 64 * 1024, 200 };
    weft__hdr hdrs[200];
    size_t pos = 0, k = 0;
    while (pos < r->out_len) {
        weft__http_head h = { .hdrs = hdrs, .hdrs_cap = 200 };
        const char *method = k < r->nseen && k < MAX_SEEN ? r->methods[k] : "GET";
        ssize_t n = weft__http_parse_response(r->out + pos, r->out_len - pos, &h, method, &lim);
        if (n <= 0) fprintf(stderr, "bad response head at %zu: %.*s\n", pos, (int)(r->out_len - pos), r->out + pos);
        CHECK(n > 0);
        pos += (size_t)n;
        if (h.status == 101) break;  /* an upgrade to h2c: HTTP/2 follows */
        if (h.status / 100 == 1) continue;  /* 100 Continue */
        k++;
        /* An error response the handler never saw answers a refused HEAD
         * request without its body: the last thing sent, then. */
        bool refused_head = k > r->nseen && pos == r->out_len && memmem(r->req, r->len, "HEAD ", 5);
        if (h.body == WEFT__BODY_LENGTH && !refused_head) {
            CHECK(h.content_length <= r->out_len - pos);
            pos += h.content_length;
        } else if (h.body == WEFT__BODY_CHUNKED) {
            size_t c = chunked_len(r->out + pos, r->out_len - pos);
            CHECK(c > 0);
            pos += c;
        } else if (h.body == WEFT__BODY_CLOSE) {
            pos = r->out_len;
        }
    }
    CHECK(k >= (r->nseen < MAX_SEEN ? r->nseen : MAX_SEEN) || r->opt & FUZZ_STREAM);
}

static int fuzz_main(void *arg) {
    run *r = arg;
    weft_httpd_opts o = { .header_timeout = 2 * WEFT_SECOND, .body_timeout = 2 * WEFT_SECOND,
                          .send_timeout = 2 * WEFT_SECOND, .keepalive_timeout = 2 * WEFT_SECOND,
                          .grace_period = WEFT_SECOND };
    if (r->opt & FUZZ_TIGHT) {
        fuzz_tighten(&o);
        o.max_requests = 3;
    }
    fuzz_serve_one("httpd", &o, handler, r, client_main, r, &r->path);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    if (len < 1) return 0;
    run r = { .req = data + 1, .len = len - 1, .opt = data[0] };
    fuzz_in_loop(fuzz_main, &r);
    check_output(&r);
    free(r.out);
    return 0;
}
