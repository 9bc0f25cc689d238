/* The HTTP server's internals, shared by server.c (listeners, connections,
 * shutdown), exchange.c (one request and its response), conn.c (what both
 * need of a connection: writing, logging, closing) and router.c. Calls run
 * one way: server.c -> exchange.c -> conn.c (server.c calls conn.c too).
 *
 * Ownership: the server owns its listeners and a list of connections; each
 * connection is owned by its task, which frees it when it ends; a request
 * and its response live in one heap block (an exchange) made when a head
 * starts to arrive and freed when the response is done, so a connection idle
 * between requests holds only its stream and its small record.
 */
#ifndef WEFT_HTTP_SERVER_H
#define WEFT_HTTP_SERVER_H

#include "parse.h"
#include "url.h"

#include <weft/httpd.h>

#include <stdbool.h>
#include <sys/socket.h>

#define HTTPD_MAX_LISTENERS 8
#define HTTPD_MAX_PARAMS 8

typedef struct weft__httpd_conn weft__httpd_conn;
struct weft__h2s;

struct weft_httpd {
    weft__mem mem;                    /* its loop's allocator: everything the server,
                                         its connections and exchanges hold */
    weft_httpd_opts o;                /* with the defaults filled in */
    weft_httpd_handler handler;
    void *arg;
    int lfd[HTTPD_MAX_LISTENERS];
    size_t nl;
    weft_event stop;                  /* set by weft_httpd_shutdown */
    weft_event drained;               /* set when the last connection ends while stopping */
    weft_sem slots;                   /* max_conns */
    bool served;                      /* serve ran (a server serves once) */
    bool stopping;                    /* shutting down: no new request starts */
    int accept_err;                   /* a fatal accept error, reported by serve */
    weft__httpd_conn *conns;          /* every open connection (doubly linked) */
    size_t nconns;
    long date_sec;                    /* the second `date` was made for */
    char date[32];                    /* IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" */
    weft__hdr *hdrs;                  /* max_headers of them: every head is parsed
                                         here, then copied into its exchange */
    struct weft__track *trk;          /* debug mode's leak record, else NULL */
    struct workers *ws;               /* workers > 1: the other loops (serve's) */
    int *load;                        /* a balanced server: nconns, mirrored for the
                                         loop that hands connections out (atomic) */
    bool adopts;                      /* a balanced worker: no listener of its own */
};

/* A connection. Invariant: on srv->conns from accept to its last task's
 * end; `task` is the task serving it (borrowed: it unlinks the connection,
 * or hands it to a successor, before it ends); `idle` is true exactly while
 * it waits for the first byte of a head with nothing buffered (with no task
 * started, or in one), or lingers before its close (a shutdown cancels
 * those at once). */
struct weft__httpd_conn {
    weft_httpd *srv;
    weft__httpd_conn *prev, *next;
    int fd;
    weft_stream *st;                  /* NULL until the first task opens it */
    weft_task *task;
    int64_t until;                    /* the idle wait's deadline; 0: none begun */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    char peer_name[64];               /* "host:port", for the task dump */
    int64_t accepted;                 /* weft_now() at accept */
    unsigned nreq;                    /* requests begun */
    bool idle;
    bool closing;                     /* the current response is the last */
};

/* Body reading state of a request. */
typedef struct httpd_body {
    uint64_t left;                    /* LENGTH: bytes not yet read */
    uint64_t got;                     /* bytes delivered so far */
    uint64_t max;                     /* max_body, or the handler's */
    weft__chunked ch;
    bool done;                        /* every byte delivered (or no body) */
    int failed;                       /* an error (sticky): the rest is unreadable */
    bool continue_due;                /* the client waits for 100 Continue */
    bool streamed;                    /* weft_httpd_req_read consumed some */
    char *whole;                      /* weft_httpd_req_body's copy */
    size_t whole_len;
} httpd_body;

struct weft_httpd_req {
    weft__httpd_conn *c;
    struct weft__h2s *h2;             /* an HTTP/2 stream's (h2.h), else NULL */
    weft__http_head h;                /* views into the head's copy, NUL-terminated,
                                         which follows the exchange's header fields */
    const char *path, *query;
    const char *host;                 /* an absolute-form target's authority, else NULL */
    char *segs;                       /* the path again, '/' turned into NULs */
    size_t path_len;
    httpd_body b;
    size_t nparams;
    const char *pname[HTTPD_MAX_PARAMS], *pval[HTTPD_MAX_PARAMS];
};

struct weft_httpd_res {
    weft__httpd_conn *c;
    weft_httpd_req *req;
    int status;
    char *hdrs;                       /* "Name: value\r\n" lines added by the handler:
                                         hbuf, or the heap once past it */
    size_t hlen, hcap;
    char hbuf[128];
    uint64_t cl;                      /* the Content-Length header set, if has_cl */
    uint64_t sent;                    /* body bytes written (counted for HEAD too) */
    int err;                          /* a sticky write error */
    bool has_cl, has_date, head_sent, ended, chunked, is_head, no_body;
};

/* One request and its response, with its header fields after it, and
 * after them the head's copy, its path and the path's segments. */
typedef struct weft__httpd_exchange {
    weft_httpd_req req;
    weft_httpd_res res;
    weft__hdr hdrs[];
} weft__httpd_exchange;

/* h2_server.c */
/* Serves c, whose stream starts with the HTTP/2 client preface, until the
 * connection ends: 0, or WEFT_ENOMEM (nothing was served). */
int weft__h2_serve(weft__httpd_conn *c);
/* RFC 7540's upgrade: answers c's request x, which asked for h2c with
 * `settings` (HTTP2-Settings' value) and has no body, with 101, and serves
 * it as HTTP/2's stream 1 and the connection as HTTP/2 to its end: 0 (x
 * is then freed). WEFT_EINVAL (bad settings) or WEFT_ENOMEM before
 * anything was sent: x is still the caller's, to serve as HTTP/1.1. */
int weft__h2_upgrade(weft__httpd_conn *c, struct weft__httpd_exchange *x, const char *settings);

/* exchange.c */
/* The exchange for the head h just parsed from head[0, len) (views into
 * it); NULL when out of memory. */
weft__httpd_exchange *weft__httpd_exchange_new(weft__httpd_conn *c, const weft__http_head *h,
                                               const char *head, size_t len);
void weft__httpd_exchange_free(weft__httpd_exchange *x);
/* Runs the handler and completes the response: 0 if the connection may
 * carry another request, -1 to close it, -2 to close it lingering (the
 * client may still be sending a body). */
int weft__httpd_exchange_run(weft__httpd_exchange *x);

/* conn.c */
/* Sends a short error response with Connection: close (no exchange needed;
 * no body to a HEAD request). */
void weft__httpd_send_error(weft__httpd_conn *c, int status, bool is_head);
/* The short text body of an error response of `status`. */
const char *weft__httpd_error_body(int status);
/* The Date header's value, cached for the current second. */
const char *weft__httpd_date(weft_httpd *s);
/* A Common Log Format line to the access log (r NULL: no request parsed). */
void weft__httpd_log(weft__httpd_conn *c, const weft_httpd_req *r, int status, uint64_t bytes);
/* Fills c->peer_name: "host:port", for the task dump. */
void weft__httpd_name_peer(weft__httpd_conn *c);
/* Flushes the stream within send_timeout. */
int weft__httpd_drain(weft__httpd_conn *c);
/* nginx's lingering close: half-close, drop what still comes for a while. */
void weft__httpd_linger(weft__httpd_conn *c);

#endif
