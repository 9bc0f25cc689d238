/* weft HTTP client: httpx's AsyncClient in C.
 *
 * A client is shared by the tasks of one loop. It keeps a pool of HTTP/1.1
 * keep-alive connections per origin (scheme, host, port), or, when asked
 * (weft_http_client_opts.http_version), one HTTP/2 connection per origin
 * that carries every request to it at once; it speaks TLS for
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
 * Conventions (weft.h's, and these):
 *  - Every function that sends or reads is a suspension point: call it from
 *    a task of the loop the client was made on. Objects made here use that
 *    loop's allocator (weft_loop_opts.realloc).
 *  - Errors any exchange may return, besides those listed per function:
 *    WEFT_EINVAL (a NULL argument), WEFT_ENOMEM, WEFT_EURL (a malformed
 *    URL, userinfo in it, a scheme other than http/https, a relative URL
 *    without base_url, or such a redirect Location), name resolution's
 *    codes (WEFT_ENOTFOUND, WEFT_EDNSAGAIN, WEFT_EDNSFAIL), connect's
 *    (-ECONNREFUSED, -ENETUNREACH...), TLS's (WEFT_ETLS, WEFT_ECERT*),
 *    -ECONNRESET / -EPIPE from a peer gone mid-exchange, WEFT_ECONNTIMEOUT,
 *    WEFT_EWRITETIMEOUT, WEFT_EREADTIMEOUT, WEFT_EPOOLTIMEOUT,
 *    WEFT_ECANCELED and WEFT_ETIMEDOUT (the task's scopes), and for the
 *    response: WEFT_EHTTP (a malformed head, bad framing, a malformed chunk,
 *    or a head cut short), WEFT_ETOOBIG (a head over max_header_bytes or
 *    max_headers, a whole body over max_body), WEFT_EOF (the server closed
 *    the connection before the response began, or before the body's end:
 *    a truncated body is WEFT_EOF, not WEFT_EHTTP, because the message
 *    itself was well-formed as far as it went), WEFT_EDECODE (a corrupt
 *    or truncated gzip/deflate body).
 *  - A failed exchange leaves nothing behind: the connection it used, whose
 *    state is then unknown, is closed and its pool slot released; the pool
 *    stays usable. This holds for cancellation at any stage (resolving,
 *    connecting, the TLS handshake, writing, waiting for the head, reading
 *    the body).
 *
 * Retries: when a kept-alive connection turns out to have been closed by
 * the server between requests (the request could not be written, or the
 * connection ended before any byte of a response came), a GET, HEAD, PUT,
 * DELETE, OPTIONS or TRACE is sent again, once, on a fresh connection.
 * POST and PATCH never are (the server may have acted on them), nor is a
 * request whose body came from a body_fn (it cannot be replayed).
 * Over HTTP/2 the same holds for a shared connection that ends before any
 * of a request's response came, and any request is sent again, once,
 * whatever its method, when the server says it did not process it
 * (RST_STREAM REFUSED_STREAM: on the same connection; a GOAWAY below its
 * stream: on a new one), unless its body_fn body was read already. Cancelling one request over
 * HTTP/2 resets its stream only (RST_STREAM CANCEL): the connection goes on
 * carrying the others. A response body not read yet holds back the server
 * through HTTP/2's flow control (at most 256 KiB per stream are buffered).
 */
#ifndef WEFT_HTTP_H
#define WEFT_HTTP_H

#include <weft.h>
#include <weft/stream.h>
#include <weft/tls.h>

#include <jansson.h>
#include <stdarg.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_http_client weft_http_client;
typedef struct weft_http_request weft_http_request;
typedef struct weft_http_response weft_http_response;

/* Options for a client; zero-initialise: every zero field means the default
 * given (docs/http-client.md says where each comes from). Timeouts are
 * durations in ns; WEFT_FOREVER means none. */
typedef struct weft_http_client_opts {
    const char *base_url;          /* relative request URLs resolve against it
                                      (RFC 3986: "items" under ".../v1/" is
                                      ".../v1/items"); copied */
    const char *const *headers;    /* default headers, "Name: value" strings,
                                      NULL-terminated; copied. A request's
                                      header of the same name replaces them */
    const char *user_agent;        /* NULL = "weft/VERSION"; copied */
    int64_t connect_timeout;       /* resolving + TCP connect + TLS handshake:
                                      0 = 5 s -> WEFT_ECONNTIMEOUT */
    int64_t read_timeout;          /* each wait for bytes: 0 = 5 s -> WEFT_EREADTIMEOUT */
    int64_t write_timeout;         /* each wait to send: 0 = 5 s -> WEFT_EWRITETIMEOUT */
    int64_t pool_timeout;          /* waiting for a connection slot: 0 = 5 s
                                      -> WEFT_EPOOLTIMEOUT */
    size_t max_connections;        /* in use + idle, all origins: 0 = 100 */
    size_t max_idle;               /* idle keep-alive connections kept: 0 = 20 */
    int64_t idle_expiry;           /* an idle connection is not reused (and is
                                      closed at the pool's next use) after: 0 = 5 s */
    int follow_redirects;          /* nonzero: follow 301/302/303/307/308 */
    unsigned max_redirects;        /* 0 = 20; one more -> WEFT_EREDIRECTS */
    size_t max_header_bytes;       /* response head: 0 = 300 KiB */
    size_t max_headers;            /* response header fields: 0 = 5000 */
    size_t max_body;               /* decoded bytes for whole-body reads (and
                                      JSON): 0 = 64 MiB; SIZE_MAX = no limit */
    weft_tls_opts tls;             /* for https: CA file, client certificate,
                                      WEFT_TLS_INSECURE_SKIP_VERIFY; strings
                                      copied. The TLS context is made on the
                                      first https request, once per client */
    const char *const *resolve;    /* "HOST:PORT:ADDRESS" strings, NULL-
                                      terminated; copied (curl's --resolve):
                                      connections to HOST:PORT go to ADDRESS
                                      (numeric; an IPv6 one may be in
                                      brackets) without asking DNS. The URL's
                                      host still goes in Host, SNI and the
                                      certificate check. HOST is matched
                                      case-insensitively, PORT as a number */
    int http_version;              /* WEFT_HTTP_VERSION_*: 0 = HTTP/1.1 only */
} weft_http_client_opts;

/* Which HTTP a client speaks (weft_http_client_opts.http_version). Over
 * HTTP/2 a client keeps one connection per origin and multiplexes every
 * request to it there, each a stream of its own; the API is the same. */
enum {
    WEFT_HTTP_VERSION_1_1 = 0,     /* HTTP/1.1 only (the default, as httpx's) */
    WEFT_HTTP_VERSION_AUTO = 1,    /* https offers "h2,http/1.1" by ALPN (unless
                                      tls.alpn is set) and speaks HTTP/2 when
                                      the server picks h2, else HTTP/1.1; http
                                      speaks HTTP/1.1 (curl's --http2) */
    WEFT_HTTP_VERSION_2 = 2,       /* HTTP/2 only: http by prior knowledge
                                      (h2c, RFC 9113 3.3), https offering only
                                      "h2"; a server that does not pick it
                                      fails the request: WEFT_ETLS if it ends
                                      the handshake for it (nginx does), else
                                      WEFT_EHTTP */
};

/* Makes a client; `opts` may be NULL (every default). Needs a loop on this
 * thread (its allocator is used). *out is the caller's: weft_http_client_free.
 * Returns 0, WEFT_ENOTASK (no loop on this thread), WEFT_EINVAL (out NULL,
 * a default header without ':' or with
 * CR/LF, a bad user agent, a resolve entry without two ':' or with an
 * empty part, an http_version not listed), WEFT_EURL (a bad base_url) or WEFT_ENOMEM. */
WEFT_EXTERN int weft_http_client_new(weft_http_client **out, const weft_http_client_opts *opts);
/* Closes every connection, idle or not, and frees the client. No request
 * may be in flight (no task inside weft_http_send and friends on this
 * client): cancel and join those tasks first. Responses may outlive it:
 * their status and headers stay readable, and a body not read to its end
 * then fails with WEFT_ECLOSED. Not a suspension point. May be called
 * after its loop has ended: it frees through the allocator of the loop it
 * was made on, which must still be usable. NULL: no-op. */
WEFT_EXTERN void weft_http_client_free(weft_http_client *c);

/* -------------------------------------------------------------- requests
 *
 * A request is a description, reusable and sendable many times (and by
 * several tasks at once, as long as none modifies it meanwhile). Its
 * strings and bodies are copied in; it borrows nothing but a body_fn's ud.
 */

/* Makes a request for `method` (a token: "GET", "PATCH"...; sent as given)
 * and `url` (absolute, or relative to the client's base_url; checked when
 * sent). *out is the caller's: weft_http_request_free. It uses the calling
 * thread's loop's allocator, or the C library's outside a loop. Returns 0,
 * WEFT_EINVAL (a NULL or empty argument, a method that is not a token) or
 * WEFT_ENOMEM. */
WEFT_EXTERN int weft_http_request_new(weft_http_request **out, const char *method, const char *url);
/* Frees the request. NULL: no-op. */
WEFT_EXTERN void weft_http_request_free(weft_http_request *r);
/* Adds a header field; names are case-insensitive, several fields of one
 * name are all sent, in the order added. Host, Content-Length and
 * Transfer-Encoding are the client's to write (they must agree with the
 * URL and the body) and are ignored here. A request's User-Agent, Accept,
 * Accept-Encoding (default "gzip, deflate") or any default header name
 * replaces the client's. Returns 0, WEFT_EINVAL (a name that is not a
 * token; CR, LF or NUL in the value: no header splitting) or WEFT_ENOMEM. */
WEFT_EXTERN int weft_http_request_add_header(weft_http_request *r, const char *name, const char *value);
/* Removes the header fields called `name` added so far, and keeps the
 * client from sending its own field of that name: User-Agent, Accept,
 * Accept-Encoding, or a default header (curl's -H 'Name:'). A field of that
 * name added after this call is sent. Returns 0, WEFT_EINVAL (a name that
 * is not a token; Host, Content-Length or Transfer-Encoding, which the
 * client writes) or WEFT_ENOMEM; on error the request is unchanged. */
WEFT_EXTERN int weft_http_request_remove_header(weft_http_request *r, const char *name);
/* What a weft_http_head_fn is shown. */
enum {
    WEFT_HTTP_HEAD_SENT = 1,       /* a request head, as written */
    WEFT_HTTP_HEAD_RECEIVED = 2,   /* a response head, interim (1xx) or final */
};
/* Sees each head of an exchange: `head` holds `len` bytes, the status or
 * request line through the blank line that ends the head (CRLFs as they
 * came), borrowed for the call. It runs in the sending task and must not
 * suspend (no weft call that waits) nor touch the request or the client. */
typedef void (*weft_http_head_fn)(void *ud, int kind, const char *head, size_t len);
/* Calls fn for every head this request's exchanges send or receive, in
 * order: each attempt, each redirect hop, each interim response (curl's
 * -v and -i are made from it). fn NULL: none. ud is borrowed until the
 * request is freed or the hook replaced. Returns 0, or WEFT_EINVAL for a
 * NULL request. */
WEFT_EXTERN int weft_http_request_on_head(weft_http_request *r, weft_http_head_fn fn, void *ud);
/* Appends "name=value" to the URL's query, both percent-encoded (all but
 * RFC 3986's unreserved characters; a space is %20), after any query the
 * URL has. Returns 0, WEFT_EINVAL or WEFT_ENOMEM. */
WEFT_EXTERN int weft_http_request_add_query(weft_http_request *r, const char *name, const char *value);
/* Sets the body: `len` bytes of `data`, copied, sent with Content-Length.
 * `content_type` (may be NULL) replaces any Content-Type header set before.
 * Replaces an earlier body. Returns 0, WEFT_EINVAL (data NULL with len > 0,
 * CR/LF in content_type) or WEFT_ENOMEM. */
WEFT_EXTERN int weft_http_request_set_body(weft_http_request *r, const void *data, size_t len,
                                           const char *content_type);
/* Sets the body to `json` serialised compactly (json_dumps), Content-Type
 * application/json. `json` is borrowed for the call. Returns as set_body,
 * and WEFT_EINVAL if jansson cannot serialise it. */
WEFT_EXTERN int weft_http_request_set_json(weft_http_request *r, const json_t *json);
/* A body produced while sending: fn fills buf with up to len bytes and
 * returns the count, 0 at the end, or a negative code (which aborts the
 * request: the exchange returns that code). It may suspend (it runs in the
 * sending task, outside the write timeout). `length` >= 0: sent with that
 * Content-Length, and fn must produce exactly that many bytes (else the
 * exchange fails with WEFT_EINVAL); < 0: unknown, sent chunked. Such a body
 * is sent once: a stale connection is not retried, and a 307/308 redirect
 * is not followed (the 3xx response is returned). ud is borrowed until the
 * request is freed or its body replaced. Returns 0, WEFT_EINVAL, WEFT_ENOMEM. */
typedef ssize_t (*weft_http_body_fn)(void *ud, void *buf, size_t len);
WEFT_EXTERN int weft_http_request_set_body_fn(weft_http_request *r, weft_http_body_fn fn, void *ud,
                                              int64_t length, const char *content_type);

enum {
    /* weft_http_send returns once the head is in; read the body with
     * weft_http_response_read (httpx's stream=True). */
    WEFT_HTTP_STREAM = 1 << 0,
    /* The body as it came, its Content-Encoding not undone (what a client
     * that did not ask for an encoding, as curl without --compressed,
     * passes on). */
    WEFT_HTTP_RAW = 1 << 1,
};
/* Suspension point. Sends `req` (borrowed for the call) and stores the
 * response in *out (the caller's: weft_http_response_free). Without
 * WEFT_HTTP_STREAM the whole body is read first (decoded, at most max_body
 * bytes: else WEFT_ETOOBIG and no response), and the connection is back in
 * the pool when this returns; with it, the connection stays the response's
 * until its body has been read to the end or the response is freed.
 *
 * Redirects (opts.follow_redirects): 301 and 302 turn POST into GET, 303
 * turns anything but HEAD into GET, and those drop the body; 307 and 308
 * keep method and body. Authorization, Cookie and Proxy-Authorization are
 * dropped for good once a redirect changes scheme, host or port. A 3xx
 * without Location is returned as it is. More than max_redirects hops:
 * WEFT_EREDIRECTS. weft_http_response_url says where the response came from.
 *
 * Returns 0 whatever the status (see weft_http_raise_for_status), or one of
 * the errors listed at the top; on error *out is untouched. */
WEFT_EXTERN int weft_http_send(weft_http_client *c, const weft_http_request *req, unsigned flags,
                               weft_http_response **out);

/* Suspension points: shorthands for a request made, sent without
 * WEFT_HTTP_STREAM and freed; return as weft_http_send. getf formats the
 * URL with printf's rules. */
WEFT_EXTERN int weft_http_get(weft_http_client *c, const char *url, weft_http_response **out);
WEFT_EXTERN int weft_http_getf(weft_http_client *c, weft_http_response **out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
WEFT_EXTERN int weft_http_post(weft_http_client *c, const char *url, const void *body, size_t len,
                               const char *content_type, weft_http_response **out);
WEFT_EXTERN int weft_http_post_json(weft_http_client *c, const char *url, const json_t *json,
                                    weft_http_response **out);

/* ------------------------------------------------------------- responses
 *
 * Strings returned by the accessors are borrowed from the response (NUL-
 * terminated copies of what came) and valid until weft_http_response_free.
 */

/* The status code (100..999), or WEFT_EINVAL for NULL. Interim 1xx
 * responses are skipped and never seen here (101 excepted). */
WEFT_EXTERN int weft_http_response_status(const weft_http_response *r);
/* The reason phrase as the server sent it (may be ""). */
WEFT_EXTERN const char *weft_http_response_reason(const weft_http_response *r);
/* The value of the first header field called `name` (case-insensitive),
 * surrounding whitespace removed, or NULL if there is none. For every
 * field of a repeated name, walk them with weft_http_response_header_at. */
WEFT_EXTERN const char *weft_http_response_header(const weft_http_response *r, const char *name);
/* How many header fields came. */
WEFT_EXTERN size_t weft_http_response_header_count(const weft_http_response *r);
/* The i-th field, in the order they came, names as sent. Returns 0 or
 * WEFT_EINVAL (i out of range). Either out pointer may be NULL. */
WEFT_EXTERN int weft_http_response_header_at(const weft_http_response *r, size_t i,
                                             const char **name, const char **value);
/* The URL the response came from, normalised (the last hop's, after
 * redirects; no fragment). */
WEFT_EXTERN const char *weft_http_response_url(const weft_http_response *r);
/* Suspension point. Reads up to `len` decoded body bytes into buf: returns
 * the count (> 0), 0 at the body's end (the connection then goes back to
 * the pool), or an error. Decodes no more than asked for. A failed read
 * closes the connection and the error sticks: later reads return it. After
 * weft_http_response_body, reads come from the kept body. */
WEFT_EXTERN ssize_t weft_http_response_read(weft_http_response *r, void *buf, size_t len);
/* Suspension point unless the body was read already. Reads the rest of the
 * body (at most max_body decoded bytes, else WEFT_ETOOBIG, which closes the
 * connection) and stores a borrowed view of it in *data, *len (either may
 * be NULL); data[len] is a NUL, for convenience. Bytes taken earlier with
 * weft_http_response_read are not part of it. Returns 0 or an error. */
WEFT_EXTERN int weft_http_response_body(weft_http_response *r, const void **data, size_t *len);
/* Suspension point as weft_http_response_body. Parses the body as JSON
 * (any value, not only objects) into *out, a new reference the caller
 * owns (json_decref). Returns 0, weft_http_response_body's errors, or
 * WEFT_EDECODE for a body that is not JSON (json_loadb refused it); also
 * when jansson ran out of memory, which it reports as a syntax error. */
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
/* Copies the response's timings into *out. */
WEFT_EXTERN void weft_http_response_timings(const weft_http_response *r, weft_http_timings *out);
/* 0 for a status below 400, WEFT_EHTTPSTATUS for 4xx and 5xx (httpx's
 * raise_for_status), WEFT_EINVAL for NULL. */
WEFT_EXTERN int weft_http_raise_for_status(const weft_http_response *r);
/* Frees the response. If its body was not read to the end, its connection
 * is closed (its slot released; over HTTP/2 only its stream is reset), unless the rest of a Content-Length body
 * is buffered already: then it is dropped and the connection kept. Reading
 * a body out just to keep a connection is the caller's choice. Not a
 * suspension point. NULL: no-op. */
WEFT_EXTERN void weft_http_response_free(weft_http_response *r);

/* The standard reason phrase of `status` ("Not Found"), or "" for a code
 * with none. Static. */
WEFT_EXTERN const char *weft_http_reason(int status);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_HTTP_H */
