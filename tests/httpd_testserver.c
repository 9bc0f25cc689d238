/* A small weft HTTP server for the script tests (t_httpd_curl.sh): prints
 * "listening on http://127.0.0.1:PORT" on stdout once it listens, serves
 * until SIGTERM or SIGINT (WEFT_HTTPD_SIGNALS), then exits 0.
 *
 *   GET  /              "hello\n"
 *   ANY  /echo          the body read whole, sent back with Content-Length
 *   ANY  /stream-echo   the body read piece by piece, sent back chunked
 *   ANY  /noread        answers without reading the body
 *   GET  /stream/{n}    n lines streamed, chunked
 *   GET  /slow/{ms}     "slow\n" after ms milliseconds
 *
 * Usage: httpd_testserver [PORT] (default 0: a free one). An access log goes
 * to stderr when WEFT_HTTPD_LOG=1. */
#include <weft.h>
#include <weft/httpd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hello(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)req, (void)arg;
    return weft_httpd_res_send(res, 200, "text/plain", "hello\n", 6);
}

static int echo(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)arg;
    const void *body;
    size_t len;
    int err = weft_httpd_req_body(req, &body, &len);
    return err ? err : weft_httpd_res_send(res, 200, "application/octet-stream", body, len);
}

static int stream_echo(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)arg;
    char buf[4096];
    ssize_t n;
    while ((n = weft_httpd_req_read(req, buf, sizeof buf)) > 0) {
        int err = weft_httpd_res_write(res, buf, (size_t)n);
        if (err) return err;
    }
    return n < 0 ? (int)n : weft_httpd_res_end(res);
}

static int noread(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)req, (void)arg;
    return weft_httpd_res_send(res, 200, "text/plain", "not read\n", 9);
}

static int lines(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)arg;
    long n = strtol(weft_httpd_req_param(req, "n"), NULL, 10);
    for (long i = 0; i < n; i++) {
        char line[32];
        int len = snprintf(line, sizeof line, "line %ld\n", i);
        int err = weft_httpd_res_write(res, line, (size_t)len);
        if (err) return err;
    }
    return weft_httpd_res_end(res);
}

static int slow(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)arg;
    int err = weft_sleep(strtol(weft_httpd_req_param(req, "ms"), NULL, 10) * WEFT_MILLISECOND);
    return err ? err : weft_httpd_res_send(res, 200, "text/plain", "slow\n", 5);
}

static int serve(void *arg) {
    const char *port = arg;
    weft_httpd_router *rt;
    weft_httpd *srv;
    weft_httpd_opts o = { .flags = WEFT_HTTPD_SIGNALS };
    const char *log = getenv("WEFT_HTTPD_LOG");
    if (log && !strcmp(log, "1")) o.access_log = stderr;
    int err = weft_httpd_router_new(&rt);
    if (err) return err;
    weft_httpd_route(rt, "GET", "/", hello, NULL);
    weft_httpd_route(rt, NULL, "/echo", echo, NULL);
    weft_httpd_route(rt, NULL, "/stream-echo", stream_echo, NULL);
    weft_httpd_route(rt, NULL, "/noread", noread, NULL);
    weft_httpd_route(rt, "GET", "/stream/{n}", lines, NULL);
    weft_httpd_route(rt, "GET", "/slow/{ms}", slow, NULL);
    if (!(err = weft_httpd_new(&srv, &o, weft_httpd_router_handler, rt))) {
        if (!(err = weft_httpd_listen(srv, "127.0.0.1", port))) {
            printf("listening on http://127.0.0.1:%d\n", weft_httpd_port(srv));
            fflush(stdout);
            err = weft_httpd_serve(srv);
        }
        weft_httpd_free(srv);
    }
    weft_httpd_router_free(rt);
    if (err) fprintf(stderr, "httpd_testserver: %s\n", weft_strerror(err));
    return err;
}

int main(int argc, char **argv) {
    return weft_run(serve, argc > 1 ? argv[1] : "0") ? 1 : 0;
}
