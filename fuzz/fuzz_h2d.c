/* libFuzzer target: the HTTP/2 server's handling of frames, end to end. A
 * weft_httpd serves on a Unix socket; a client task writes the client
 * preface, then the fuzz input's bytes (after the first) as the frames of
 * one connection, then a GOAWAY (a half-close would end the connection at
 * once: HTTP/2 has no use for one) and reads everything the server sends
 * until it closes: when its streams are done, or after a short idle time
 * for streams a client that sends nothing more holds open. The handler reads the body (whole, or in
 * small pieces, by the first byte's choice) and answers with its length, as
 * a whole response or a streamed one; limits are tight or the defaults,
 * also by that byte.
 *
 * Checks: no crash, no leak (LeakSanitizer after each input), the server
 * closes the connection, and what it sent is whole frames, the first its
 * SETTINGS. The input's frames are the whole of HTTP/2's attack surface
 * here: HPACK blocks, CONTINUATION, flow control, resets, SETTINGS, PING,
 * PRIORITY, GOAWAY, unknown frame types. (As fuzz_httpd, on a Unix socket:
 * no TIME_WAIT per input.) */
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

typedef struct run {
    const uint8_t *in;
    size_t len;
    unsigned opt;
    const char *path;      /* the listener's (abstract) address */
    uint8_t *out;          /* what the server sent */
    size_t out_len, out_cap;
} run;

static int handler(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    run *r = arg;
    size_t n;
    int e = fuzz_read_body(req, r->opt, &n);
    if (e < 0) return e;
    char body[64];
    int blen = snprintf(body, sizeof body, "%s %zu\n", weft_httpd_req_method(req), n);
    if (blen >= (int)sizeof body) blen = sizeof body - 1;
    weft_httpd_res_header(res, "X-Fuzz", weft_httpd_req_path(req));
    return fuzz_answer(res, r->opt, body, (size_t)blen);
}

/* The client: the preface, the frames, a GOAWAY, the answer to EOF. */
static void *client_main(void *arg) {
    run *r = arg;
    int fd;
    CHECK(weft_unix_connect(r->path, &fd) == 0);
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    weft_write(fd, preface, sizeof preface - 1);
    if (r->len) weft_write(fd, r->in, r->len);  /* -EPIPE if the server closed first */
    static const uint8_t goaway[17] = { 0, 0, 8, 7 };
    weft_write(fd, goaway, sizeof goaway);
    for (;;) {
        if (r->out_len == r->out_cap) {
            r->out_cap = r->out_cap ? 2 * r->out_cap : 4096;
            r->out = realloc(r->out, r->out_cap);
            CHECK(r->out);
        }
        ssize_t n = weft_read(fd, r->out + r->out_len, r->out_cap - r->out_len);
        if (n <= 0) break;  /* the end, or a reset after the server gave up */
        r->out_len += (size_t)n;
    }
    weft_close(fd);
    return NULL;
}

/* The server's bytes must be whole frames, SETTINGS first. */
static void check_output(const run *r) {
    size_t pos = 0;
    while (pos < r->out_len) {
        CHECK(r->out_len - pos >= 9);
        size_t len = (size_t)r->out[pos] << 16 | (size_t)r->out[pos + 1] << 8 | r->out[pos + 2];
        if (pos == 0) CHECK(r->out[3] == 4);
        CHECK(len <= 16384 && r->out_len - pos - 9 >= len);
        pos += 9 + len;
    }
}

static int fuzz_main(void *arg) {
    run *r = arg;
    /* Short timeouts: a stream left waiting for a body, or for a window,
     * by a client that sends nothing more is what ends most inputs. */
    weft_httpd_opts o = { .header_timeout = 2 * WEFT_SECOND, .body_timeout = 50 * WEFT_MILLISECOND,
                          .send_timeout = 100 * WEFT_MILLISECOND,
                          .keepalive_timeout = 100 * WEFT_MILLISECOND, .grace_period = WEFT_SECOND };
    if (r->opt & FUZZ_TIGHT) fuzz_tighten(&o);
    fuzz_serve_one("h2d", &o, handler, r, client_main, r, &r->path);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    if (len < 1) return 0;
    run r = { .in = data + 1, .len = len - 1, .opt = data[0] };
    fuzz_in_loop(fuzz_main, &r);
    check_output(&r);
    free(r.out);
    return 0;
}
