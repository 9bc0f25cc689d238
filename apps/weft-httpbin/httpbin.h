/* weft-httpbin as a library: the endpoints of python3-httpbin 0.7.0 served by
 * weft's HTTP server (weft/httpd.h), for programs that want an httpbin of
 * their own in-process (the examples, the tests) as well as the weft-httpbin
 * program.
 *
 *     weft_httpd *srv;
 *     int err = httpbin_new(&srv, "127.0.0.1", "0", NULL);   // in a task
 *     if (err) ...;
 *     printf("http://127.0.0.1:%d\n", weft_httpd_port(srv));
 *     ... spawn a task that runs weft_httpd_serve(srv) ...
 *     weft_httpd_shutdown(srv);     // when done; the serving task returns
 *     ... join that task ...
 *     weft_httpd_free(srv);
 *
 * The server keeps no state of its own beyond the weft_httpd: every request
 * is answered from what it carries, so one handler serves any number of
 * servers and loops. docs/httpbin.md lists the endpoints and what still
 * differs from python3-httpbin.
 */
#ifndef WEFT_HTTPBIN_H
#define WEFT_HTTPBIN_H

#include <weft/httpd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The request handler that serves httpbin's endpoints, for weft_httpd_new
 * (arg is unused: pass NULL) or to be called from a handler of the caller's
 * own (for example for paths it does not serve itself). Runs in the
 * connection's task and may suspend (/delay, /drip). Answers every request
 * itself, 404 and 405 included, with httpbin's CORS headers; returns 0, or a
 * negative code when the response could not be made or sent (WEFT_ENOMEM, or
 * the server's codes from weft_httpd_res_* and weft_httpd_req_body), after
 * which the server answers 500 if nothing was sent and closes the
 * connection. */
int httpbin_handler(weft_httpd_req *req, weft_httpd_res *res, void *arg);

/* Makes a server answering with httpbin_handler, listening on `host` and
 * `port` (host NULL: every interface; port a number or service name, "0"
 * a free port, which weft_httpd_port then tells). `opts` is passed to
 * weft_httpd_new as is (NULL: the server's defaults). Must be called from
 * a task of the loop that will serve it. On success *out is the caller's:
 * run weft_httpd_serve in a task, stop it with weft_httpd_shutdown and
 * release it with weft_httpd_free. Returns 0, or weft_httpd_new's or
 * weft_httpd_listen's code (WEFT_ENOMEM, WEFT_EINVAL, -EADDRINUSE, name
 * resolution codes...), in which case nothing is left open and *out is
 * untouched. */
int httpbin_new(weft_httpd **out, const char *host, const char *port, const weft_httpd_opts *opts);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_HTTPBIN_H */
