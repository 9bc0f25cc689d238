/* weft HTTP server: HTTP/1.1 with keep-alive and pipelining, one task per
 * connection, a handler per request.
 *
 *     static int hello(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
 *         return weft_httpd_res_send(res, 200, "text/plain", "hello\n", 6);
 *     }
 *     ...
 *     weft_httpd *srv;
 *     weft_httpd_new(&srv, NULL, hello, NULL);
 *     weft_httpd_listen(srv, "127.0.0.1", "8080");
 *     weft_httpd_serve(srv);          // until weft_httpd_shutdown or a cancel
 *     weft_httpd_free(srv);
 *
 * Limits have safe defaults (../shared/DEFAULTS.md): a request over one is
 * answered with the right 4xx/5xx and its connection closed.
 *
 * [the server helper completes this header: every contract, ownership and
 * every error]
 */
#ifndef WEFT_HTTPD_H
#define WEFT_HTTPD_H

#include <weft.h>
#include <weft/stream.h>
#include <weft/tls.h>

#include <stdio.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_httpd weft_httpd;
typedef struct weft_httpd_req weft_httpd_req;  /* a request being served */
typedef struct weft_httpd_res weft_httpd_res;  /* its response, being written */

/* Serves one request. Runs in the connection's task; may suspend. Returns
 * 0, or a negative code: if no response was started the server answers 500,
 * and the connection is closed either way. */
typedef int (*weft_httpd_handler)(weft_httpd_req *req, weft_httpd_res *res, void *arg);

/* Options; zero-initialise: every zero field means the default. */
typedef struct weft_httpd_opts {
    size_t max_request_line;    /* 0 = 8 KiB -> 414 */
    size_t max_header_bytes;    /* whole head: 0 = 32 KiB -> 431 */
    size_t max_headers;         /* 0 = 100 -> 431 */
    size_t max_body;            /* 0 = 1 MiB -> 413 */
    int64_t header_timeout;     /* whole head: 0 = 30 s -> 408 and close */
    int64_t body_timeout;       /* idle while reading a body: 0 = 60 s */
    int64_t send_timeout;       /* idle while sending: 0 = 60 s */
    int64_t keepalive_timeout;  /* idle between requests: 0 = 65 s */
    unsigned max_requests;      /* per connection: 0 = 1000 */
    size_t max_conns;           /* at once: 0 = 10000 */
    int64_t grace_period;       /* shutdown: in-flight requests get this long: 0 = 10 s */
    FILE *access_log;           /* common log format; NULL = off */
    weft_tls_ctx *tls;          /* serve TLS (borrowed; must outlive the server) */
} weft_httpd_opts;

WEFT_EXTERN int weft_httpd_new(weft_httpd **out, const weft_httpd_opts *opts,
                               weft_httpd_handler handler, void *arg);
WEFT_EXTERN void weft_httpd_free(weft_httpd *s);
WEFT_EXTERN int weft_httpd_listen(weft_httpd *s, const char *host, const char *port);
WEFT_EXTERN int weft_httpd_listen_unix(weft_httpd *s, const char *path);
WEFT_EXTERN int weft_httpd_listen_fd(weft_httpd *s, int fd);
WEFT_EXTERN int weft_httpd_port(const weft_httpd *s);
WEFT_EXTERN int weft_httpd_serve(weft_httpd *s);
WEFT_EXTERN void weft_httpd_shutdown(weft_httpd *s);

/* --------------------------------------------------------------- request */

WEFT_EXTERN const char *weft_httpd_req_method(const weft_httpd_req *r);
WEFT_EXTERN const char *weft_httpd_req_target(const weft_httpd_req *r);
WEFT_EXTERN const char *weft_httpd_req_path(const weft_httpd_req *r);
WEFT_EXTERN const char *weft_httpd_req_query(const weft_httpd_req *r);
WEFT_EXTERN int weft_httpd_req_version(const weft_httpd_req *r);  /* minor: 0 or 1 */
WEFT_EXTERN const char *weft_httpd_req_header(const weft_httpd_req *r, const char *name);
WEFT_EXTERN size_t weft_httpd_req_header_count(const weft_httpd_req *r);
WEFT_EXTERN int weft_httpd_req_header_at(const weft_httpd_req *r, size_t i,
                                         const char **name, const char **value);
WEFT_EXTERN const char *weft_httpd_req_param(const weft_httpd_req *r, const char *name);
WEFT_EXTERN const struct sockaddr *weft_httpd_req_peer(const weft_httpd_req *r, socklen_t *len);
WEFT_EXTERN int weft_httpd_req_body(weft_httpd_req *r, const void **data, size_t *len);
WEFT_EXTERN ssize_t weft_httpd_req_read(weft_httpd_req *r, void *buf, size_t len);

/* -------------------------------------------------------------- response */

WEFT_EXTERN int weft_httpd_res_status(weft_httpd_res *w, int status);
WEFT_EXTERN int weft_httpd_res_header(weft_httpd_res *w, const char *name, const char *value);
WEFT_EXTERN int weft_httpd_res_send(weft_httpd_res *w, int status, const char *content_type,
                                    const void *body, size_t len);
WEFT_EXTERN int weft_httpd_res_write(weft_httpd_res *w, const void *data, size_t len);
WEFT_EXTERN int weft_httpd_res_flush(weft_httpd_res *w);
WEFT_EXTERN int weft_httpd_res_end(weft_httpd_res *w);

/* ---------------------------------------------------------------- router */

typedef struct weft_httpd_router weft_httpd_router;
WEFT_EXTERN int weft_httpd_router_new(weft_httpd_router **out);
WEFT_EXTERN void weft_httpd_router_free(weft_httpd_router *rt);
/* Routes `method` (NULL: any) and `pattern` ("/delay/{n}": {name} captures
 * one path segment, read with weft_httpd_req_param) to handler. */
WEFT_EXTERN int weft_httpd_route(weft_httpd_router *rt, const char *method, const char *pattern,
                                 weft_httpd_handler handler, void *arg);
/* The handler to give weft_httpd_new, with the router as its arg: 404 for
 * no path, 405 for a path without the method. */
WEFT_EXTERN int weft_httpd_router_handler(weft_httpd_req *req, weft_httpd_res *res, void *router);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_HTTPD_H */
