/* One connection to a weft_httpd, for the server targets (fuzz_httpd,
 * fuzz_h2d): the server serves on a duplicate of a Unix socket listener
 * made once per process (no TIME_WAIT per input, see fuzz_loop.h) while a
 * client task talks to it; then the server shuts down, and must end
 * cleanly with no connection left. */
#ifndef WEFT_FUZZ_SERVE_H
#define WEFT_FUZZ_SERVE_H

#include "fuzz_loop.h"

#include <weft/httpd.h>

/* The first input byte's bits: how the handler reads and answers, and
 * whether the limits are tight. */
enum { FUZZ_PIECES = 1, FUZZ_STREAM = 2, FUZZ_TIGHT = 4, FUZZ_IGNORE_BODY = 8 };

/* The body, as `opt` says: read in 5-byte pieces, whole, or not at all;
 * its length in *n. 0 or the read's error. */
static int fuzz_read_body(weft_httpd_req *req, unsigned opt, size_t *n) {
    *n = 0;
    if (opt & FUZZ_PIECES) {
        char buf[5];
        ssize_t k;
        while ((k = weft_httpd_req_read(req, buf, sizeof buf)) > 0) *n += (size_t)k;
        return k < 0 ? (int)k : 0;
    }
    if (opt & FUZZ_IGNORE_BODY) return 0;
    const void *data;
    return weft_httpd_req_body(req, &data, n);
}

/* Answers body[0, len): whole, or streamed, as `opt` says. */
static int fuzz_answer(weft_httpd_res *res, unsigned opt, const char *body, size_t len) {
    if (opt & FUZZ_STREAM) {
        int e = weft_httpd_res_write(res, body, len);
        return e < 0 ? e : weft_httpd_res_end(res);
    }
    return weft_httpd_res_send(res, 200, "text/plain", body, len);
}

/* Tight limits, that inputs reach: a line, a head, four fields, a body. */
static void fuzz_tighten(weft_httpd_opts *o) {
    o->max_request_line = 64;
    o->max_header_bytes = 256;
    o->max_headers = 4;
    o->max_body = 16;
}

static void *fuzz_serve_main(void *srv) { return weft_error(weft_httpd_serve(srv)); }

/* Serves with (opts, handler, harg) while client(carg) runs, given the
 * listener's (abstract) address in *path first. */
static void fuzz_serve_one(const char *name, const weft_httpd_opts *opts, weft_httpd_handler handler,
                           void *harg, void *(*client)(void *), void *carg, const char **path_out) {
    weft_httpd *srv;
    CHECK(weft_httpd_new(&srv, opts, handler, harg) == 0);
    static int lfd = -1;
    static char path[64];
    if (lfd < 0) {
        snprintf(path, sizeof path, "@weft-fuzz-%s-%d", name, (int)getpid());
        CHECK(weft_unix_listen(path, 16, &lfd) == 0);
    }
    int dup_fd = dup(lfd);  /* the server closes its listener when it is done */
    CHECK(dup_fd >= 0 && weft_httpd_listen_fd(srv, dup_fd) == 0);
    *path_out = path;
    weft_task *serve = weft_spawn(fuzz_serve_main, srv), *c = weft_spawn(client, carg);
    CHECK(serve && c);
    CHECK(weft_join(c, NULL) == 0);
    weft_httpd_shutdown(srv);
    void *res;
    CHECK(weft_join(serve, &res) == 0 && weft_error_code(res) == 0);
    CHECK(weft_httpd_conns(srv) == 0);
    weft_httpd_free(srv);
}

#endif
