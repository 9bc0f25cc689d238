/* weft HTTP server: HTTP/1.1 with keep-alive and pipelining, and HTTP/2,
 * one task per connection, a handler per request.
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
 * The model. weft_httpd_serve accepts connections and runs each in a task
 * of its own. That task reads a request head, calls the handler, makes sure
 * the response is complete, and goes on with the next request on the
 * connection (keep-alive; requests a client pipelined are answered in
 * order). A handler is straight-line code: reading the body, writing the
 * response and anything else it waits for suspend only its connection.
 *
 * HTTP/2 (RFC 9113, on libnghttp2): a connection that opens with the
 * HTTP/2 client preface is served as HTTP/2 ("prior knowledge" on a plain
 * port; over TLS, what follows ALPN's "h2": list it in the context's
 * weft_tls_opts.alpn, "h2,http/1.1"), and a plain connection whose request
 * without a body asks to upgrade to h2c. Each stream's request runs the same
 * handler with the same request and response calls, in a task of its own
 * (the streams of a connection are served at once); a RST_STREAM cancels
 * that handler. docs/http-server.md gives the limits and the floods the
 * server refuses.
 *
 * Limits have safe defaults (docs/http-server.md says where each comes
 * from): a request over one is answered with the right 4xx and its
 * connection closed. Framing that could smuggle a request
 * (Content-Length with chunked, two Content-Lengths, Transfer-Encoding on
 * HTTP/1.0, obs-fold, bare LF...) is answered 400 and the connection closed.
 *
 * Automatic response headers: Date on every response, and the framing
 * (Content-Length, or Transfer-Encoding: chunked, or neither for a response
 * whose end is the connection's close), plus "Connection: close" when the
 * server will close after the response and "Connection: keep-alive" to an
 * HTTP/1.0 client that asked for it. No Server header is sent unless the
 * handler adds one (it tells attackers the software for nothing).
 *
 * Everything here follows weft.h's conventions and must be used from tasks
 * of the one loop that made the server: the server, its requests and
 * responses are not thread-safe.
 */
#ifndef WEFT_HTTPD_H
#define WEFT_HTTPD_H

#include <weft.h>
#include <weft/stream.h>
#include <weft/tls.h>

#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_httpd weft_httpd;
typedef struct weft_httpd_req weft_httpd_req;  /* a request being served */
typedef struct weft_httpd_res weft_httpd_res;  /* its response, being written */

/* Serves one request. Runs in the connection's task; may suspend. `req` and
 * `res` are the server's, valid until the handler returns; `arg` is the one
 * given to weft_httpd_new (or weft_httpd_route).
 *
 * Returns 0: the response is finished for it if the handler did not (a
 * response never started is sent as its status, 200 by default, with an
 * empty body; a streamed one gets its end). Or a negative code: if no
 * response was started the server answers one chosen by the code, and the
 * connection is closed either way:
 *   WEFT_ETOOBIG (the body passed max_body) -> 413,
 *   WEFT_EHTTP (a malformed chunked body)   -> 400,
 *   WEFT_ETIMEDOUT (body_timeout passed)    -> 408,
 *   anything else                           -> 500.
 * A response already started is cut short (the client sees a connection
 * closed before the end of the body). */
typedef int (*weft_httpd_handler)(weft_httpd_req *req, weft_httpd_res *res, void *arg);

enum {
    /* weft_httpd_serve shuts down gracefully (as weft_httpd_shutdown) on
     * SIGTERM or SIGINT. While it serves, those two signals are waited for
     * with weft_signal_wait (weft/signal.h), so they do not kill the
     * process; after the first one, a second SIGINT finds its default
     * action again (weft_run's Ctrl-C handling: it cancels main). */
    WEFT_HTTPD_SIGNALS = 1 << 0,
    /* TCP listeners made by weft_httpd_listen are WEFT_LISTEN_REUSEPORT
     * (weft/net.h): servers on several loops (weft/loops.h), each with its
     * own listener on the same port, and the kernel spreads connections.
     * Implied by workers > 1. */
    WEFT_HTTPD_REUSEPORT = 1 << 1,
    /* With workers > 1: the calling loop alone accepts, and hands each new
     * connection to the loop with the fewest open connections (its own
     * included) instead of every loop listening with SO_REUSEPORT, whose
     * spread follows a hash of each connection's addresses: with a handful
     * of connections one loop often gets most of them (measured with 4: all
     * on one loop in 14% of tries, and the busier one with 3 of the 4 at
     * the median). Costs a message between loops per connection. */
    WEFT_HTTPD_BALANCE = 1 << 2,
};

/* Options; zero-initialise: every zero field means the default. Where each
 * default comes from is in docs/http-server.md. */
typedef struct weft_httpd_opts {
    size_t max_request_line;    /* request line, CRLF included: 0 = 8 KiB -> 414 */
    size_t max_header_bytes;    /* whole head, request line and blank line
                                   included: 0 = 32 KiB -> 431 */
    size_t max_headers;         /* header fields: 0 = 100 -> 431 */
    size_t max_body;            /* request body bytes, however framed: 0 = 1 MiB;
                                   reads past it fail with WEFT_ETOOBIG -> 413
                                   (a larger Content-Length fails the first read,
                                   before any byte or 100 Continue); per request:
                                   weft_httpd_req_set_max_body; SIZE_MAX = none */
    int64_t header_timeout;     /* the whole head, from the connection's accept
                                   for its first request, from the head's first
                                   byte for later ones: 0 = 30 s -> 408 and close */
    int64_t body_timeout;       /* each wait for body bytes: 0 = 60 s -> 408 */
    int64_t send_timeout;       /* each flush of the response to the client
                                   (a handler's write that must drain, a flush,
                                   an end): 0 = 60 s -> the connection is closed */
    int64_t keepalive_timeout;  /* idle between requests, no byte of the next
                                   head yet: 0 = 65 s -> silent close */
    unsigned max_requests;      /* per connection: 0 = 1000; the last one's
                                   response says Connection: close (HTTP/1.x) */
    size_t max_conns;           /* at once: 0 = 10000; at the limit the server
                                   stops accepting (the kernel's backlog queues) */
    int64_t grace_period;       /* shutdown: in-flight requests get this long,
                                   then are cancelled: 0 = 10 s */
    FILE *access_log;           /* a line per response, in the Common Log
                                   Format, written with fprintf and fflush from
                                   the loop's thread (blocking stdio: fine for a
                                   file or a terminal); borrowed, must outlive
                                   the server; NULL = off */
    weft_tls_ctx *tls;          /* serve TLS (borrowed; must outlive the
                                   server): each accepted connection runs
                                   weft_tls_accept first, within header_timeout;
                                   its alpn "h2,http/1.1" offers HTTP/2 */
    unsigned flags;             /* WEFT_HTTPD_* bits */
    size_t stack_size;          /* connection tasks' stacks: 0 = the loop's
                                   default (64 KiB); handlers run on them */
    unsigned workers;           /* loops serving: 0 or 1 = the calling loop
                                   alone. N > 1: weft_httpd_serve also runs
                                   N-1 loops, each on a thread of its own with
                                   a copy of this server (the same options,
                                   handler and arg) listening beside each TCP
                                   listener (WEFT_LISTEN_REUSEPORT; Unix
                                   sockets and listen_fd's stay the calling
                                   loop's): the handler then runs on several
                                   threads at once, so what arg points to must
                                   be thread-safe. Shutdown reaches every
                                   loop. At most 1024, else WEFT_EINVAL */
} weft_httpd_opts;

/* Makes a server that answers every request with handler(req, res, arg).
 * `opts` may be NULL (defaults) and is copied. Needs a loop on this thread:
 * the server belongs to it. On success *out is the caller's, released with
 * weft_httpd_free. Returns 0, WEFT_ENOTASK (no loop on this thread),
 * WEFT_EINVAL (handler NULL, a negative timeout, flags unknown, opts->tls
 * in a library built without the tls layer) or WEFT_ENOMEM. */
WEFT_EXTERN int weft_httpd_new(weft_httpd **out, const weft_httpd_opts *opts,
                               weft_httpd_handler handler, void *arg);
/* Closes the listeners the server still has and frees it. Must not be
 * called while weft_httpd_serve runs. May be called after its loop has
 * ended (weft_run returned): it frees through the allocator of the loop it
 * was made on, which must still be usable. NULL is a no-op. */
WEFT_EXTERN void weft_httpd_free(weft_httpd *s);
/* Suspension point (it may resolve `host`). Adds a TCP listener on
 * host:port (as weft_tcp_listen: host NULL = every interface, port "0" = a
 * free one, see weft_httpd_port), with a listen backlog of max_conns (at
 * most 65535; the kernel caps it at net.core.somaxconn), so that a burst
 * of connects waits in the kernel rather than in SYN retries. Up to 8
 * listeners. Returns 0,
 * weft_tcp_listen's codes (-EADDRINUSE, WEFT_ENOTFOUND...), WEFT_EINVAL
 * (port NULL), WEFT_EOVERFLOW (8 listeners already), WEFT_EBUSY (serving).
 * The server owns the socket and closes it when it shuts down or is freed. */
WEFT_EXTERN int weft_httpd_listen(weft_httpd *s, const char *host, const char *port);
/* Adds a Unix domain socket listener on `path` (weft_unix_listen: an
 * existing file is not removed, nor is the socket file when the server
 * closes it). Not a suspension point. Returns 0, weft_unix_listen's codes,
 * WEFT_EOVERFLOW or WEFT_EBUSY as weft_httpd_listen. */
WEFT_EXTERN int weft_httpd_listen_unix(weft_httpd *s, const char *path);
/* Adds `fd`, a listening stream socket (from systemd, a test...), as a
 * listener. On success the server owns fd (it closes it with weft_close);
 * on failure it is still the caller's. Returns 0, WEFT_EINVAL (fd < 0),
 * WEFT_EOVERFLOW or WEFT_EBUSY. */
WEFT_EXTERN int weft_httpd_listen_fd(weft_httpd *s, int fd);
/* The local port of the first TCP listener (the one picked for port "0"),
 * or WEFT_EINVAL if the server has none. */
WEFT_EXTERN int weft_httpd_port(const weft_httpd *s);
/* Suspension point. Serves every listener until weft_httpd_shutdown, a
 * signal (WEFT_HTTPD_SIGNALS) or the cancellation of the calling task.
 * Then it shuts down gracefully: it closes the listeners (new connections
 * are refused), closes at once every connection idle between requests,
 * lets requests in flight finish for up to grace_period (their responses
 * say Connection: close), then cancels the ones left, and returns once every
 * connection task has ended. The shutdown itself is shielded from the
 * caller's cancellation; only grace_period bounds it (a handler that
 * shields itself from cancellation can hold it longer).
 * With workers > 1 it starts the other loops first and returns once every
 * one has shut down the same way; a worker that could not start (its loop,
 * its listeners) makes serve shut everything down and return that error.
 * Returns 0 after weft_httpd_shutdown or a signal; WEFT_ECANCELED or
 * WEFT_ETIMEDOUT after the calling task's cancel or deadline; an accept
 * error retrying cannot fix (-EINVAL, -EBADF, -ENOTSOCK) after shutting
 * down the same way; WEFT_ENOMEM if a task could not be started (after
 * shutting down); WEFT_EINVAL at once if the server has no listener;
 * WEFT_EBUSY if it is serving already or served before (a server serves
 * once: its listeners are closed after). */
WEFT_EXTERN int weft_httpd_serve(weft_httpd *s);
/* Asks a serving server to shut down gracefully (see weft_httpd_serve) and
 * returns at once. Any task of the server's loop may call it, a handler
 * too (its own request then finishes normally). Before serve it makes
 * serve shut down as soon as it starts. Idempotent. */
WEFT_EXTERN void weft_httpd_shutdown(weft_httpd *s);
/* Connections open now (handy for tests and metrics). */
WEFT_EXTERN size_t weft_httpd_conns(const weft_httpd *s);

/* --------------------------------------------------------------- request
 *
 * Strings returned below are NUL-terminated, borrowed from the request and
 * valid until its handler returns.
 */

/* The method, as sent ("GET"). */
WEFT_EXTERN const char *weft_httpd_req_method(const weft_httpd_req *r);
/* The request target as sent ("/a/b?x=1", or in absolute-form
 * "http://h/a/b?x=1", or "*" for OPTIONS), not decoded. The server answers
 * a target in a form its method may not use with 400 and CONNECT with 501
 * before any handler runs (RFC 9112 section 3.2). */
WEFT_EXTERN const char *weft_httpd_req_target(const weft_httpd_req *r);
/* The target's path: up to '?' ("/a/b"), not decoded; of an absolute-form
 * target, what follows the authority ("/" if nothing does); "*" for
 * OPTIONS *. */
WEFT_EXTERN const char *weft_httpd_req_path(const weft_httpd_req *r);
/* The host the request is for: an absolute-form target's authority ("h",
 * "h:8080"), as RFC 9112 section 3.2.2 has a server use it and ignore
 * Host then; else the Host field's value; NULL for an HTTP/1.0 request
 * without Host. The server has refused a request whose Host (or target
 * authority) is empty or not an authority (400). */
WEFT_EXTERN const char *weft_httpd_req_host(const weft_httpd_req *r);
/* What follows the '?' ("x=1"), not decoded; "" when there is none. */
WEFT_EXTERN const char *weft_httpd_req_query(const weft_httpd_req *r);
/* The request's HTTP minor version: 0 or 1 (HTTP/1.0, HTTP/1.1); or 2 for
 * an HTTP/2 request. */
WEFT_EXTERN int weft_httpd_req_version(const weft_httpd_req *r);
/* The first value of header `name` (case-insensitive), or NULL. */
WEFT_EXTERN const char *weft_httpd_req_header(const weft_httpd_req *r, const char *name);
/* How many header fields the request has. */
WEFT_EXTERN size_t weft_httpd_req_header_count(const weft_httpd_req *r);
/* The i-th header field, in the order sent: 0, or WEFT_EINVAL if i is out
 * of range (then *name and *value are untouched). */
WEFT_EXTERN int weft_httpd_req_header_at(const weft_httpd_req *r, size_t i,
                                         const char **name, const char **value);
/* The path segment that the router's {name} captured, percent-decoded; NULL
 * when the route has no such capture (or no router is in use). */
WEFT_EXTERN const char *weft_httpd_req_param(const weft_httpd_req *r, const char *name);
/* The client's address (borrowed, as the strings) and its length in *len
 * (if len is non-NULL). For a Unix socket listener, an AF_UNIX address. */
WEFT_EXTERN const struct sockaddr *weft_httpd_req_peer(const weft_httpd_req *r, socklen_t *len);
/* Sets the body limit of this request (max_body's default comes from the
 * options), e.g. higher on an upload route: call it before the first read.
 * Returns 0, or WEFT_EINVAL once the body's reading has begun. */
WEFT_EXTERN int weft_httpd_req_set_max_body(weft_httpd_req *r, uint64_t max);
/* Suspension point. Reads the whole body (de-chunked) into memory the
 * request owns (freed when the handler returns) and stores a view in *data
 * and *len (len 0 and *data "" for no body). Sends "100 Continue" first if
 * the client asked for it. Idempotent: a second call returns the same view.
 * Returns 0; WEFT_ETOOBIG if the body passes max_body (at once, reading
 * nothing, for a Content-Length over it); WEFT_EHTTP for a
 * malformed chunked body; WEFT_EOF if the client closed before the body's
 * end; WEFT_ETIMEDOUT if body_timeout passed while waiting; WEFT_EINVAL if
 * weft_httpd_req_read already consumed part of the body; WEFT_ENOMEM; a
 * transport error or a cancellation code. Return any of these from the
 * handler and the server picks the status (see weft_httpd_handler). After
 * an error the rest of the body is unreadable and the connection closes
 * after the response. */
WEFT_EXTERN int weft_httpd_req_body(weft_httpd_req *r, const void **data, size_t *len);
/* Suspension point. Reads the next up to `len` bytes of the body
 * (de-chunked) into `buf`, waiting for at least one (each wait bounded by
 * body_timeout). Sends "100 Continue" first if the client asked for it.
 * Returns the count (> 0), 0 at the body's end (and for len 0), or the
 * errors of weft_httpd_req_body (WEFT_ETOOBIG once more than max_body bytes
 * came; WEFT_EINVAL after weft_httpd_req_body). */
WEFT_EXTERN ssize_t weft_httpd_req_read(weft_httpd_req *r, void *buf, size_t len);

/* -------------------------------------------------------------- response
 *
 * A response is started (its head sent, or queued to be) by the first
 * weft_httpd_res_send, _write, _flush or _end. Status and headers can be
 * set until then; later they give WEFT_EINVAL. To a HEAD request the same
 * head is sent as for GET, Content-Length included, and no body byte.
 * Write errors from the connection (-EPIPE, -ECONNRESET, WEFT_ETIMEDOUT for
 * send_timeout) stick: the response is lost and the connection closes.
 */

/* Sets the status (default 200). Returns 0, or WEFT_EINVAL for a status
 * outside 200..999 or a response already started. */
WEFT_EXTERN int weft_httpd_res_status(weft_httpd_res *w, int status);
/* Adds a header field (name and value are copied). Fields repeat if added
 * twice. Content-Length, if set, frames a streamed body (writes past it, or
 * an end short of it, are errors); Transfer-Encoding cannot be set (the
 * server frames bodies itself); Connection is the server's to send: a
 * value holding "close" makes the connection close after the response (and
 * say so), any other is dropped; a Date set here replaces the automatic one.
 * Returns 0; WEFT_EINVAL for a name that is not an HTTP token, a value with
 * CR, LF, NUL or another control character but tab (response splitting),
 * Transfer-Encoding, a Content-Length that is not a number, or a response
 * already started; WEFT_ENOMEM. */
WEFT_EXTERN int weft_httpd_res_header(weft_httpd_res *w, const char *name, const char *value);
/* Suspension point. Sends the whole response: `status` (0 = the one set),
 * a Content-Type of `content_type` (NULL: none added), Content-Length `len`
 * and the body (borrowed for the call), then flushes it. Returns 0;
 * WEFT_EINVAL (a response already started, a bad status, a Content-Length
 * header set that is not `len`, a content_type with CR/LF); WEFT_ENOMEM;
 * a write error. */
WEFT_EXTERN int weft_httpd_res_send(weft_httpd_res *w, int status, const char *content_type,
                                    const void *body, size_t len);
/* Suspension point. Sends the whole response with `len` bytes of the file
 * `fd` from offset `off` as its body: `status` (0 = the one set), the
 * headers added, Content-Length `len`, then the file through
 * weft_stream_sendfile (the kernel copies it to a plain connection; over
 * TLS it is read and encrypted in pieces). fd is borrowed: the server
 * neither closes it nor moves its offset. To HEAD, and for a status with no
 * body (204, 304), only the head goes. send_timeout bounds each stretch of
 * the send in which no byte leaves (nginx's send_timeout), not the whole
 * file, so a large file goes to a slow but steady client. Returns 0;
 * WEFT_EINVAL (a response already started, a bad status, fd or off
 * negative, a Content-Length header set that is not `len`); WEFT_EOF if
 * the file ended before `len` bytes (it shrank: the connection closes, so
 * the client sees a short body); a read error of the file; WEFT_ENOMEM; a
 * write error; a cancellation code. */
WEFT_EXTERN int weft_httpd_res_sendfile(weft_httpd_res *w, int status, int fd, off_t off,
                                        uint64_t len);
/* Appends `len` bytes to a streamed body (starting the response if need
 * be): framed by the Content-Length header if one was set, else chunked to
 * an HTTP/1.1 client, else (HTTP/1.0) delimited by closing the connection.
 * The bytes are copied; once more than 64 KiB wait to be sent, the call
 * flushes them (bounded by send_timeout), so a client that reads slowly
 * slows the handler instead of growing the server's memory. Returns 0;
 * WEFT_EINVAL (more bytes than the Content-Length set, or the response
 * ended); WEFT_ENOMEM; a write error; a cancellation code. */
WEFT_EXTERN int weft_httpd_res_write(weft_httpd_res *w, const void *data, size_t len);
/* Suspension point. Starts the response if need be and sends everything
 * written so far (bounded by send_timeout). Returns 0, a write error, or a
 * cancellation code. */
WEFT_EXTERN int weft_httpd_res_flush(weft_httpd_res *w);
/* Suspension point. Finishes the response (the terminating chunk of a
 * chunked body; a response not started is sent with an empty body) and
 * flushes it. Returns 0 (also if already ended); WEFT_EINVAL if fewer bytes
 * were written than the Content-Length set (the connection is then closed,
 * which tells the client the body was cut); a write error. */
WEFT_EXTERN int weft_httpd_res_end(weft_httpd_res *w);
/* Nonzero once the response's head is sent or queued. */
WEFT_EXTERN int weft_httpd_res_started(const weft_httpd_res *w);

/* ---------------------------------------------------------------- router */

/* A table of routes, matched in the order added. */
typedef struct weft_httpd_router weft_httpd_router;
/* Makes an empty router; *out is the caller's (weft_httpd_router_free),
 * and must outlive the server that uses it. Needs a loop on this thread.
 * Returns 0, WEFT_ENOTASK or WEFT_ENOMEM. */
WEFT_EXTERN int weft_httpd_router_new(weft_httpd_router **out);
/* Frees the router. As weft_httpd_free, may be called after its loop has
 * ended: it frees through the allocator of the loop it was made on, which
 * must still be usable. NULL is a no-op. */
WEFT_EXTERN void weft_httpd_router_free(weft_httpd_router *rt);
/* Routes `method` (NULL: any; a GET route also answers HEAD) and `pattern`
 * to handler(req, res, arg). A pattern is an absolute path whose segments
 * are literal or "{name}", which captures one whole non-empty segment (read
 * with weft_httpd_req_param): "/delay/{n}". Up to 16 segments and 8
 * captures. The method and pattern are copied. Returns 0, WEFT_EINVAL (a
 * NULL or relative pattern, a bad capture, too many segments, handler
 * NULL), WEFT_ENOMEM. */
WEFT_EXTERN int weft_httpd_route(weft_httpd_router *rt, const char *method, const char *pattern,
                                 weft_httpd_handler handler, void *arg);
/* The handler to give weft_httpd_new, with the router as its arg: runs the
 * first route matching the path and method; 404 when no route matches the
 * path, 405 with an Allow header listing the methods when some route
 * matches the path but none the method. Returns what the route's handler
 * returns. */
WEFT_EXTERN int weft_httpd_router_handler(weft_httpd_req *req, weft_httpd_res *res, void *router);

/* ---------------------------------------------------------- static files
 *
 * A handler that serves the files under a directory, as nginx's `root`:
 * GET and HEAD (else 405), bodies sent with sendfile, ETag and
 * Last-Modified with 304 Not Modified for If-None-Match and
 * If-Modified-Since, one byte range (Range: bytes=A-B, A-, -N; 206, or 416
 * when it starts past the end; If-Range honoured; several ranges get the
 * whole file), Content-Type by the name's extension, and for a directory
 * its index file or, if asked for, a listing (a directory asked for
 * without its trailing slash is redirected, 301, to it).
 *
 * No request reaches outside the root. The path is percent-decoded once;
 * a path with "%00", a backslash or a ".." segment (as sent or once
 * decoded: "%2e%2e", "..%2f") is answered 404 before the file system is
 * asked. The rest is opened beneath the root with openat2's
 * RESOLVE_BENEATH (Linux 5.6): a symbolic link may point anywhere inside
 * the root, and one that leads out of it, or a loop of them, is 403.
 * Where openat2 is missing, the path is walked one component at a time
 * with O_NOFOLLOW, and every symbolic link is refused (403; 404 for one
 * in the middle of the path, which is then not a directory). Only regular
 * files and directories are served (a FIFO, a device: 403). Every fd is
 * opened close-on-exec.
 *
 * Opening and fstat run on the loop's thread, as nginx does them on its
 * event loop, not on the thread pool (weft/fs.h): on a local file system
 * they take a few microseconds, less than a hop to a pool thread and back,
 * which would cost a small file much of its rate. A file system that can stall (NFS, a failing disk)
 * stalls the loop too.
 */

typedef struct weft_httpd_files weft_httpd_files;

/* Options for weft_httpd_files_new; zero-initialise. */
typedef struct weft_httpd_files_opts {
    const char *prefix;  /* the URL path the root is mounted at ("/static"):
                            a request outside it is 404, and the rest of its
                            path names the file; NULL or "" = "/" */
    const char *index;   /* a directory's index file; NULL = "index.html",
                            "" = none */
    int listing;         /* nonzero: list a directory that has no index
                            (else 403) */
} weft_httpd_files_opts;

/* Makes a file server for the directory `root` (opened now, and kept open:
 * renaming the directory later does not move the server). opts may be
 * NULL; it and its strings are copied. *out is the caller's, released with
 * weft_httpd_files_free after every server using it has stopped; it is
 * read-only while serving, so the workers of a server may share it. Does
 * not need a loop. Returns 0; WEFT_EINVAL (root NULL, a prefix that is not
 * an absolute path); the open's error (-ENOENT, -ENOTDIR, -EACCES);
 * WEFT_ENOMEM. */
WEFT_EXTERN int weft_httpd_files_new(weft_httpd_files **out, const char *root,
                                     const weft_httpd_files_opts *opts);
/* Closes the root and frees the file server. NULL is a no-op. */
WEFT_EXTERN void weft_httpd_files_free(weft_httpd_files *f);
/* The handler to give weft_httpd_new (or to call from another handler, or
 * to route), with the file server as its arg. Answers every request itself
 * (404 for a missing file, 403 for a forbidden one, 400 for a path that
 * cannot be decoded); returns the errors of weft_httpd_res_sendfile and
 * weft_httpd_res_write: WEFT_ENOMEM and -EMFILE (a descriptor could not be
 * opened) are answered 500 by the server. */
WEFT_EXTERN int weft_httpd_files_handler(weft_httpd_req *req, weft_httpd_res *res, void *files);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_HTTPD_H */
