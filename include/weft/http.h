/* weft HTTP client: httpx's AsyncClient in C.
 *
 * A client is shared by the tasks of one loop. It keeps a pool of HTTP/1.1
 * keep-alive connections per origin (scheme, host, port), speaks TLS for
 * https URLs (weft/tls.h, verification on), follows redirects when asked,
 * decodes gzip and deflate bodies and parses JSON bodies with jansson.
 *
 *     weft_http_response *resp;
 *     int err = weft_http_get(client, "http://127.0.0.1:8080/get", &resp);
 *     if (!err) err = weft_http_raise_for_status(resp);
 *     ...
 *     weft_http_response_free(resp);
 *
 * Timeouts are split as httpx splits them (connect, read, write, pool; 5 s
 * each by default) and each has its own error code; the task's own scopes
 * (weft_timeout_enter, cancellation) apply on top and report WEFT_ETIMEDOUT
 * or WEFT_ECANCELED.
 *
 * [the client helper completes this header: every contract, ownership and
 * every error]
 */
#ifndef WEFT_HTTP_H
#define WEFT_HTTP_H

#include <weft.h>
#include <weft/stream.h>
#include <weft/tls.h>

#include <jansson.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_http_client weft_http_client;
typedef struct weft_http_request weft_http_request;
typedef struct weft_http_response weft_http_response;

/* Options for a client; zero-initialise: every zero field means the default
 * given (../shared/DEFAULTS.md says where each comes from). */
typedef struct weft_http_client_opts {
    const char *base_url;          /* relative request URLs resolve against it */
    const char *const *headers;    /* default headers, "Name: value" strings,
                                      NULL-terminated; copied */
    const char *user_agent;        /* NULL = "weft/VERSION" */
    int64_t connect_timeout;       /* TCP connect + TLS handshake: 0 = 5 s; WEFT_FOREVER = none */
    int64_t read_timeout;          /* each wait for bytes: 0 = 5 s */
    int64_t write_timeout;         /* each wait to send: 0 = 5 s */
    int64_t pool_timeout;          /* waiting for a connection slot: 0 = 5 s */
    size_t max_connections;        /* in use + idle, all origins: 0 = 100 */
    size_t max_idle;               /* idle keep-alive connections kept: 0 = 20 */
    int64_t idle_expiry;           /* an idle connection is closed after: 0 = 5 s */
    int follow_redirects;          /* nonzero: follow 301/302/303/307/308 */
    unsigned max_redirects;        /* 0 = 20 */
    size_t max_header_bytes;       /* response head: 0 = 300 KiB */
    size_t max_headers;            /* response header fields: 0 = 5000 */
    size_t max_body;               /* decoded bytes for whole-body reads (and
                                      JSON): 0 = 64 MiB; SIZE_MAX = no limit */
    weft_tls_opts tls;             /* for https: CA file, client certificate,
                                      WEFT_TLS_INSECURE_SKIP_VERIFY */
} weft_http_client_opts;

WEFT_EXTERN int weft_http_client_new(weft_http_client **out, const weft_http_client_opts *opts);
WEFT_EXTERN void weft_http_client_free(weft_http_client *c);

/* -------------------------------------------------------------- requests */

WEFT_EXTERN int weft_http_request_new(weft_http_request **out, const char *method, const char *url);
WEFT_EXTERN void weft_http_request_free(weft_http_request *r);
WEFT_EXTERN int weft_http_request_add_header(weft_http_request *r, const char *name, const char *value);
WEFT_EXTERN int weft_http_request_add_query(weft_http_request *r, const char *name, const char *value);
WEFT_EXTERN int weft_http_request_set_body(weft_http_request *r, const void *data, size_t len,
                                           const char *content_type);
WEFT_EXTERN int weft_http_request_set_json(weft_http_request *r, const json_t *json);
/* A body produced while sending: fn fills buf with up to len bytes and
 * returns the count, 0 at the end, or a negative code (which aborts the
 * request). It may suspend. `length` < 0: unknown, sent chunked. */
typedef ssize_t (*weft_http_body_fn)(void *ud, void *buf, size_t len);
WEFT_EXTERN int weft_http_request_set_body_fn(weft_http_request *r, weft_http_body_fn fn, void *ud,
                                              int64_t length, const char *content_type);

enum {
    /* weft_http_send returns once the head is in; read the body with
     * weft_http_response_read (httpx's stream=True). */
    WEFT_HTTP_STREAM = 1 << 0,
};
WEFT_EXTERN int weft_http_send(weft_http_client *c, const weft_http_request *req, unsigned flags,
                               weft_http_response **out);

WEFT_EXTERN int weft_http_get(weft_http_client *c, const char *url, weft_http_response **out);
WEFT_EXTERN int weft_http_getf(weft_http_client *c, weft_http_response **out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
WEFT_EXTERN int weft_http_post(weft_http_client *c, const char *url, const void *body, size_t len,
                               const char *content_type, weft_http_response **out);
WEFT_EXTERN int weft_http_post_json(weft_http_client *c, const char *url, const json_t *json,
                                    weft_http_response **out);

/* ------------------------------------------------------------- responses */

WEFT_EXTERN int weft_http_response_status(const weft_http_response *r);
WEFT_EXTERN const char *weft_http_response_reason(const weft_http_response *r);
WEFT_EXTERN const char *weft_http_response_header(const weft_http_response *r, const char *name);
WEFT_EXTERN size_t weft_http_response_header_count(const weft_http_response *r);
WEFT_EXTERN int weft_http_response_header_at(const weft_http_response *r, size_t i,
                                             const char **name, const char **value);
WEFT_EXTERN const char *weft_http_response_url(const weft_http_response *r);
WEFT_EXTERN ssize_t weft_http_response_read(weft_http_response *r, void *buf, size_t len);
WEFT_EXTERN int weft_http_response_body(weft_http_response *r, const void **data, size_t *len);
WEFT_EXTERN int weft_http_response_json(weft_http_response *r, json_t **out);
/* Where the time of an exchange went, in nanoseconds. */
typedef struct weft_http_timings {
    int64_t dns, connect, tls;  /* of the connection the final response came on;
                                   0 for a reused one */
    int64_t first_byte;         /* from sending the final request to the first
                                   byte of its response */
    int64_t total;              /* from weft_http_send's start (redirects
                                   included) to the body's end; 0 until then */
    int reused;                 /* nonzero: a kept-alive connection was reused */
} weft_http_timings;
WEFT_EXTERN void weft_http_response_timings(const weft_http_response *r, weft_http_timings *out);
WEFT_EXTERN int weft_http_raise_for_status(const weft_http_response *r);
WEFT_EXTERN void weft_http_response_free(weft_http_response *r);

/* The standard reason phrase of `status` ("Not Found"), or "" for a code
 * with none. Static. */
WEFT_EXTERN const char *weft_http_reason(int status);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_HTTP_H */
