/* The smallest useful HTTP server on weft_httpd: every request gets
 * "Hello, World!\n" as text/plain. scripts/http_bench.sh drives it with wrk
 * beside nginx returning the same body, and runs it under callgrind for
 * the instructions a request costs weft's server itself (weft-httpbin's
 * /get mostly measures its JSON).
 *
 * Prints `listening on http://127.0.0.1:PORT` first; SIGINT or SIGTERM
 * shuts it down gracefully.
 *
 * usage: bench_httpd_hello [PORT]   (0, the default: a free port) */
#include <weft.h>
#include <weft/httpd.h>

#include <stdio.h>
#include <stdlib.h>

static const char *port = "0";

static int hello(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)req, (void)arg;
    return weft_httpd_res_send(res, 200, "text/plain", "Hello, World!\n", 14);
}

static int serve(void *arg) {
    (void)arg;
    weft_httpd *s = NULL;
    weft_httpd_opts o = { .flags = WEFT_HTTPD_SIGNALS };
    int err = weft_httpd_new(&s, &o, hello, NULL);
    if (!err) err = weft_httpd_listen(s, "127.0.0.1", port);
    if (!err) {
        printf("listening on http://127.0.0.1:%d\n", weft_httpd_port(s));
        fflush(stdout);
        err = weft_httpd_serve(s);
    }
    if (s) weft_httpd_free(s);
    if (err) fprintf(stderr, "bench_httpd_hello: %s\n", weft_strerror(err));
    return err ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc > 1) port = argv[1];
    weft_loop_opts lo = { .flags = WEFT_LOOP_NO_SIGINT };
    return weft_run_opts(&lo, serve, NULL);
}
