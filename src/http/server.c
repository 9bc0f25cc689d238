/* The HTTP server's frame (include/weft/httpd.h): listeners, the accept
 * loops, one task per connection reading request heads, and the graceful
 * shutdown. What happens to one request once its head is in (the handler,
 * the body, the response) is exchange.c's; writing an error response,
 * logging and the lingering close are conn.c's.
 *
 * Why not weft_serve: its shutdown cancels every connection at once, and
 * the server needs three kinds of connection told apart when it stops (idle
 * ones closed now, busy ones given a grace period, then cancelled), so it
 * keeps its own list and its own accept loop, one task per listener.
 *
 * Reading a head: the connection's stream is peeked and the bytes parsed
 * from the start each time more arrive (the parser is incremental in
 * picohttpparser's way), so a limit is enforced as soon as the bytes
 * passing it are in, never after buffering more.
 */
#include "core_iface.h"
#include "server.h"
#include "timed.h"

#include <weft/io.h>
#include <weft/net.h>
#include <weft/signal.h>

#include <weft/thread.h>

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Defaults: docs/http-server.md gives the sources. */
#define DEF_MAX_LINE (8 * 1024)            /* nginx large_client_header_buffers 8k */
#define DEF_MAX_HEAD (32 * 1024)           /* nginx 4 x 8k */
#define DEF_MAX_HEADERS 100                /* h2o H2O_MAX_HEADERS */
#define DEF_MAX_BODY (1024 * 1024)         /* nginx client_max_body_size */
#define DEF_HEADER_TIMEOUT (30 * WEFT_SECOND)
#define DEF_BODY_TIMEOUT (60 * WEFT_SECOND)   /* nginx client_body_timeout */
#define DEF_SEND_TIMEOUT (60 * WEFT_SECOND)   /* nginx send_timeout */
#define DEF_KEEPALIVE_TIMEOUT (65 * WEFT_SECOND) /* Node's keepAliveTimeout + 60 s
                                                   of LB idle is Node's 65 s */
#define DEF_MAX_REQUESTS 1000              /* nginx keepalive_requests */
#define DEF_MAX_CONNS 10000
#define DEF_GRACE (10 * WEFT_SECOND)       /* Kubernetes gives 30 s before SIGKILL */
/* Accept back-off while out of fds, as weft_serve (Go's 5 ms to 1 s). */
#define BACKOFF_MIN (5 * WEFT_MILLISECOND)
#define BACKOFF_MAX WEFT_SECOND

/* --------------------------------------------------------------- server */

static void fill_defaults(weft_httpd_opts *o) {
    if (!o->max_request_line) o->max_request_line = DEF_MAX_LINE;
    if (!o->max_header_bytes) o->max_header_bytes = DEF_MAX_HEAD;
    if (!o->max_headers) o->max_headers = DEF_MAX_HEADERS;
    if (!o->max_body) o->max_body = DEF_MAX_BODY;
    if (!o->header_timeout) o->header_timeout = DEF_HEADER_TIMEOUT;
    if (!o->body_timeout) o->body_timeout = DEF_BODY_TIMEOUT;
    if (!o->send_timeout) o->send_timeout = DEF_SEND_TIMEOUT;
    if (!o->keepalive_timeout) o->keepalive_timeout = DEF_KEEPALIVE_TIMEOUT;
    if (!o->max_requests) o->max_requests = DEF_MAX_REQUESTS;
    if (!o->max_conns) o->max_conns = DEF_MAX_CONNS;
    if (!o->grace_period) o->grace_period = DEF_GRACE;
}

int weft_httpd_new(weft_httpd **out, const weft_httpd_opts *opts,
                   weft_httpd_handler handler, void *arg) {
    if (!weft_loop_current()) return WEFT_ENOTASK;
    weft_httpd_opts o = opts ? *opts : (weft_httpd_opts){0};
    if (!handler || o.header_timeout < 0 || o.body_timeout < 0 || o.send_timeout < 0 ||
        o.keepalive_timeout < 0 || o.grace_period < 0 || o.workers > 1024 ||
        (o.flags & ~(WEFT_HTTPD_SIGNALS | WEFT_HTTPD_REUSEPORT | WEFT_HTTPD_BALANCE)))
        return WEFT_EINVAL;
    weft__mem m = weft__mem_here();
    weft_httpd *s = weft__mem_alloc(m, sizeof *s);
    if (!s) return WEFT_ENOMEM;
    memset(s, 0, sizeof *s);
    s->mem = m;
    fill_defaults(&o);
    s->o = o;
    if (o.max_headers > SIZE_MAX / sizeof(weft__hdr) ||
        !(s->hdrs = weft__mem_alloc(m, o.max_headers * sizeof(weft__hdr)))) {
        weft__mem_free(m, s);
        return WEFT_ENOMEM;
    }
    s->handler = handler;
    s->arg = arg;
    weft_sem_init(&s->slots, (int64_t)(o.max_conns > INT64_MAX ? INT64_MAX : o.max_conns), 0);
    weft__leak_watch(&s->trk, "HTTP server", "weft_httpd_free", s);
    *out = s;
    return 0;
}

static void close_listeners(weft_httpd *s) {
    for (size_t i = 0; i < s->nl; i++) weft_close(s->lfd[i]);
    s->nl = 0;
}

void weft_httpd_free(weft_httpd *s) {
    if (!s) return;
    weft__leak_unwatch(&s->trk);
    close_listeners(s);
    weft__mem_free(s->mem, s->hdrs);
    weft__mem_free(s->mem, s);
}

int weft_httpd_listen_fd(weft_httpd *s, int fd) {
    if (fd < 0) return WEFT_EINVAL;
    if (s->served) return WEFT_EBUSY;
    if (s->nl == HTTPD_MAX_LISTENERS) return WEFT_EOVERFLOW;
    s->lfd[s->nl++] = fd;
    return 0;
}

/* Adopts the listener a call just made (err 0), closing it on failure. */
static int adopt(weft_httpd *s, int err, int fd) {
    if (err) return err;
    err = weft_httpd_listen_fd(s, fd);
    if (err) weft_close(fd);
    return err;
}

/* The listen backlog: as many as the server may serve at once (Go asks
 * for somaxconn). A burst of connects larger than the backlog overflows
 * it, and the kernel drops SYNs that clients resend only after 1 s, then
 * 3 s: with nginx's 511, 10,000 requests at once took 5 s instead of 1.
 * The kernel caps it at net.core.somaxconn. */
static int backlog(const weft_httpd *s) {
    return s->o.max_conns > 65535 ? 65535 : (int)s->o.max_conns;
}

int weft_httpd_listen(weft_httpd *s, const char *host, const char *port) {
    if (!port) return WEFT_EINVAL;
    if (s->served) return WEFT_EBUSY;
    if (s->nl == HTTPD_MAX_LISTENERS) return WEFT_EOVERFLOW;
    unsigned fl = (s->o.flags & WEFT_HTTPD_REUSEPORT) || s->o.workers > 1 ? WEFT_LISTEN_REUSEPORT : 0;
    int fd = -1, err = weft_tcp_listen_ex(host, port, backlog(s), fl, &fd);
    return adopt(s, err, fd);
}

int weft_httpd_listen_unix(weft_httpd *s, const char *path) {
    if (s->served) return WEFT_EBUSY;
    if (s->nl == HTTPD_MAX_LISTENERS) return WEFT_EOVERFLOW;
    int fd = -1, err = weft_unix_listen(path, backlog(s), &fd);
    return adopt(s, err, fd);
}

int weft_httpd_port(const weft_httpd *s) {
    for (size_t i = 0; i < s->nl; i++) {
        int p = weft_sock_port(s->lfd[i]);
        if (p > 0) return p;
    }
    return WEFT_EINVAL;
}

size_t weft_httpd_conns(const weft_httpd *s) { return s->nconns; }

void weft_httpd_shutdown(weft_httpd *s) { weft_event_set(&s->stop); }

/* ------------------------------------------------------ reading a head */

/* Peeks `want` bytes, waiting until `deadline`. WEFT_ETIMEDOUT only for
 * this deadline; the task's own cancellation comes through as it is. */
static ssize_t peek_by(weft__httpd_conn *c, size_t want, int64_t deadline, const void **data) {
    weft_scope sc;
    weft__timed_begin(&sc, deadline);
    ssize_t n = weft_stream_peek(c->st, want, data);
    return weft__timed_end(&sc, n, WEFT_ETIMEDOUT);
}

static void *conn_main(void *arg);

/* A task serving c starts when c's fd is readable, or at c->until: at
 * accept, and between requests on a plain connection, so that an idle
 * connection holds no task and no stack (a TLS one parks its task instead:
 * OpenSSL may hold decrypted bytes the fd does not show). */
static int spawn_conn(weft__httpd_conn *c) {
    weft_spawn_opts so = { .name = "httpd-conn", .stack_size = c->srv->o.stack_size };
    weft_task *t;
    int err = weft_spawn_when_readable(&t, &so, c->fd, c->until, conn_main, c);
    if (err) return err;
    c->task = t;
    weft_detach(t);  /* c->task stays valid until it ends (see weft__httpd_conn) */
    weft__await_context_of(t, "HTTP request on connection from", c->peer_name);
    return 0;
}

/* Waits for the first byte of the next head: 0, 1 when a successor task
 * will (this one should end), or an error. Idle connections are what a
 * shutdown closes at once, so the flag is up only while nothing came.
 *
 * A plain connection waits IDLE_GRACE with its task first: a busy client's
 * next request comes sooner than that, and a park costs less than ending
 * the task and starting another (~700 instructions a request, measured
 * with callgrind on a hello server). Only then does it let the task go. */
#define IDLE_GRACE (2 * WEFT_MILLISECOND)

static int wait_first_byte(weft__httpd_conn *c) {
    if (weft_stream_buffered(c->st)) return 0;
    weft_httpd *s = c->srv;
    c->idle = true;
    int64_t d = c->until;
    if (!d) {  /* a new idle time */
        d = c->until = c->nreq ? weft_deadline_after(s->o.keepalive_timeout)
                               : c->accepted + s->o.header_timeout;
        if (!s->o.tls) {
            int64_t grace = weft_deadline_after(IDLE_GRACE);
            if (grace < d) d = grace;
        }
    }
    const void *data;
    ssize_t n;
    for (;;) {
        weft__await_context("HTTP request on connection from", c->peer_name);
        n = peek_by(c, 1, d, &data);
        weft__await_context(NULL, NULL);
        if (n != WEFT_ETIMEDOUT || d == c->until) break;
        if (spawn_conn(c) == 0) return 1;
        d = c->until;  /* no successor (no memory): wait on here */
    }
    c->idle = false;
    c->until = 0;
    return n < 0 ? (int)n : 0;
}

/* Reads and parses a head, and consumes it from the stream, into a new
 * exchange *x. Returns 0; or the status to answer (> 0, then close); or a
 * negative code: close silently. The parse goes into the server's scratch
 * array of header fields: nothing suspends between a parse and the copy
 * out of it. */
static int read_head(weft__httpd_conn *c, weft__httpd_exchange **x, const weft__http_limits *lim) {
    weft_httpd *s = c->srv;
    int64_t d = c->nreq ? weft_deadline_after(s->o.header_timeout)
                        : c->accepted + s->o.header_timeout;
    weft__http_head h = { .hdrs = s->hdrs, .hdrs_cap = s->o.max_headers };
    for (size_t want = 1;;) {
        const void *data;
        weft__await_context("HTTP request on connection from", c->peer_name);
        ssize_t n = peek_by(c, want, d, &data);
        weft__await_context(NULL, NULL);
        if (n == WEFT_ETIMEDOUT) return 408;
        if (n < 0) return (int)n;
        ssize_t r = weft__http_parse_request(data, (size_t)n, &h, lim);
        if (r < 0) return h.status ? h.status : 400;
        if (r > 0) {
            if (!(*x = weft__httpd_exchange_new(c, &h, data, (size_t)r))) return 503;
            weft_stream_consume(c->st, (size_t)r);
            return 0;
        }
        if ((size_t)n >= lim->max_head) return 431;  /* the parser should have said */
        want = (size_t)n + 1;
    }
}

/* Whether the head refused (still in the stream's buffer) is a HEAD
 * request's, however malformed past its method: the answer then has no
 * body (RFC 9110 section 9.3.2), which a client reading a HEAD response
 * would take for the start of the next one. */
static bool refused_head_is_head(weft__httpd_conn *c) {
    const void *data;
    ssize_t n = weft_stream_peek(c->st, 0, &data);
    const char *p = data;
    while (n > 0 && (*p == '\r' || *p == '\n')) p++, n--;
    return n >= 5 && !memcmp(p, "HEAD ", 5);
}

/* Whether the connection opens with HTTP/2's client preface: "prior
 * knowledge" on a plain one, what a client that chose "h2" by ALPN sends
 * on TLS. No HTTP/1.1 request starts so ("PRI" is no method), so the
 * bytes decide and ALPN need not be asked. Only a connection's first
 * bytes are looked at, as long as they could still be the preface. */
static bool h2_preface(weft__httpd_conn *c) {
    static const char pri[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const size_t plen = sizeof pri - 1;
    const void *data;
    if (c->nreq) return false;
    ssize_t n = weft_stream_peek(c->st, 0, &data);
    if (n <= 0 || memcmp(data, pri, (size_t)n < plen ? (size_t)n : plen)) return false;
    n = peek_by(c, plen, c->accepted + c->srv->o.header_timeout, &data);
    return n >= (ssize_t)plen && !memcmp(data, pri, plen);
}

/* RFC 7540's upgrade to h2c (what curl --http2 asks on http://), taken
 * for a request without a body on a plain connection: true if the
 * connection was then served as HTTP/2 (x is gone). Else, as for any
 * request asking for a protocol the server does not speak, it goes on as
 * HTTP/1.1. */
static bool h2c_upgrade(weft__httpd_conn *c, weft__httpd_exchange *x) {
    weft_httpd_req *r = &x->req;
    if (c->srv->o.tls || !r->h.upgrade || !r->b.done) return false;  /* the common case, before any lookup */
    const char *up = weft_httpd_req_header(r, "Upgrade"), *hs = weft_httpd_req_header(r, "HTTP2-Settings");
    if (!up || !hs || strcasecmp(up, "h2c")) return false;
    return weft__h2_upgrade(c, x, hs) == 0;
}

/* ------------------------------------------------------ a connection */

/* Serves requests until one says to close (0), or the connection goes
 * idle with a successor task waiting for its next request (1). */
static int serve_requests(weft__httpd_conn *c) {
    weft_httpd *s = c->srv;
    weft__http_limits lim = { s->o.max_request_line, s->o.max_header_bytes, s->o.max_headers };
    while (!s->stopping) {
        int w = wait_first_byte(c);
        if (w) return w == 1;
        if (h2_preface(c)) return weft__h2_serve(c), 0;
        weft__httpd_exchange *x = NULL;
        c->nreq++;
        int st = read_head(c, &x, &lim);
        int again = 1;
        if (st > 0) {
            weft__httpd_send_error(c, st, refused_head_is_head(c));
            weft__httpd_log(c, NULL, st, 0);
            weft__httpd_linger(c);
        } else if (st == 0 && h2c_upgrade(c, x)) {
            return 0;  /* served as HTTP/2 to its end */
        } else if (st == 0) {
            int r = weft__httpd_exchange_run(x);
            if (r == -2) weft__httpd_linger(c);
            again = r == 0;
        }
        if (x) weft__httpd_exchange_free(x);
        if (st || !again) return 0;
    }
    return 0;
}

static void conn_link(weft__httpd_conn *c) {
    weft_httpd *s = c->srv;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (s->load) __atomic_store_n(s->load, (int)s->nconns, __ATOMIC_RELAXED);
}

static void conn_unlink(weft__httpd_conn *c) {
    weft_httpd *s = c->srv;
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    if (--s->nconns == 0 && s->stopping) weft_event_set(&s->drained);
    if (s->load) __atomic_store_n(s->load, (int)s->nconns, __ATOMIC_RELAXED);
}

/* Makes the connection's stream: plain, or TLS after a handshake bounded
 * by header_timeout. The stream owns the fd either way. */
static int open_stream(weft__httpd_conn *c) {
    weft_httpd *s = c->srv;
    weft_stream_opts so = { .limit = s->o.max_header_bytes + 1 };
    if (so.limit < WEFT_STREAM_LIMIT) so.limit = WEFT_STREAM_LIMIT;
    if (!s->o.tls) return weft_stream_new_fd(&c->st, c->fd, &so);
    weft_scope sc;
    weft__timed_begin(&sc, c->accepted + s->o.header_timeout);
    weft__await_context("TLS handshake with", c->peer_name);
    int err = weft_tls_accept(&c->st, s->o.tls, c->fd, &so);
    weft__await_context(NULL, NULL);
    return (int)weft__timed_end(&sc, err, WEFT_ETIMEDOUT);
}

/* A connection's task: the first opens its stream; each serves requests
 * until the connection closes or goes idle, when a successor takes over. */
static void *conn_main(void *arg) {
    weft__httpd_conn *c = arg;
    if (!c->st) {
        c->idle = false;  /* a handshake gets the grace period */
        if (open_stream(c)) {
            weft_close(c->fd);
            goto closed;
        }
    }
    if (serve_requests(c)) return NULL;
    weft_stream_free(c->st);
closed:
    conn_unlink(c);
    weft_sem_release(&c->srv->slots);
    weft__mem_free(c->srv->mem, c);
    return NULL;
}

/* ------------------------------------------------------ accepting */

static bool hand_off(weft_httpd *s, weft__httpd_conn *c);
static int start_conn(weft_httpd *s, weft__httpd_conn *c);

/* Accepts one connection and starts its task. 0, or accept's error. */
static int accept_one(weft_httpd *s, int lfd) {
    weft__httpd_conn *c = weft__mem_alloc(s->mem, sizeof *c);
    if (!c) return WEFT_ENOMEM;
    memset(c, 0, sizeof *c);
    c->srv = s;
    c->peer_len = sizeof c->peer;
    int err = weft_accept(lfd, (struct sockaddr *)&c->peer, &c->peer_len, &c->fd);
    if (err) { weft__mem_free(s->mem, c); return err; }
    c->accepted = weft_now();
    if (s->ws && hand_off(s, c)) {  /* another loop serves it */
        weft__mem_free(s->mem, c);
        weft_sem_release(&s->slots);
        return 0;
    }
    return start_conn(s, c);
}

/* Starts accepted connection c (fd, peer and accepted set) on server s:
 * 0; on failure the connection is closed, and only running out of memory
 * is an error (the accept loop's back-off). */
static int start_conn(weft_httpd *s, weft__httpd_conn *c) {
    int err;
    weft__httpd_name_peer(c);
    c->until = c->accepted + s->o.header_timeout;
    c->idle = true;
    conn_link(c);
    /* A plain connection's input is taken by the loop as it comes, where
     * the poller can (io_uring); TLS reads its socket itself. */
    err = s->o.tls ? 0 : weft__fd_capture(c->fd);
    if (!err) err = spawn_conn(c);
    if (err) {
        weft_close(c->fd);
        conn_unlink(c);
        weft__mem_free(s->mem, c);
    }
    /* That connection is lost, not the server: only running out of memory
     * is worth the accept loop's back-off. The others (the poller's: a
     * full epoll, a full io_uring queue) end this connection alone. */
    if (err && err != WEFT_ENOMEM) {
        weft__debug(weft_loop_current(), "httpd: a connection could not be started: %s",
                    weft_strerror(err));
        weft_sem_release(&s->slots);
        err = 0;
    }
    return err;
}

static bool retryable(int err) {
    return err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == WEFT_ENOMEM ||
           err == -ECONNABORTED || err == -EPERM || err == -EPROTO;
}

typedef struct acceptor { weft_httpd *s; int lfd; char where[24]; } acceptor;

static void *accept_main(void *arg) {
    acceptor *a = arg;
    weft_httpd *s = a->s;
    int64_t backoff = 0;
    for (;;) {
        int err = weft_sem_acquire(&s->slots);
        if (err) return NULL;
        weft__await_context("HTTP connection on", a->where);
        err = accept_one(s, a->lfd);
        weft__await_context(NULL, NULL);
        if (!err) { backoff = 0; continue; }
        weft_sem_release(&s->slots);
        if (err == WEFT_ECANCELED || err == WEFT_ETIMEDOUT) return NULL;
        if (!retryable(err)) {
            s->accept_err = err;
            weft_httpd_shutdown(s);
            return NULL;
        }
        backoff = backoff ? backoff * 2 : BACKOFF_MIN;
        if (backoff > BACKOFF_MAX) backoff = BACKOFF_MAX;
        if (weft_sleep(backoff)) return NULL;
    }
}

static void *signal_main(void *arg) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (weft_signal_wait(&set, WEFT_FOREVER) > 0) weft_httpd_shutdown(arg);
    return NULL;
}

/* ------------------------------------------------------ shutting down */

/* Cancels connections: the idle ones, or all. An idle one with no task
 * started has its task start, cancelled, and close it. */
static void cancel_conns(weft_httpd *s, bool all) {
    for (weft__httpd_conn *c = s->conns; c; c = c->next)
        if (all || c->idle) weft_cancel(c->task);
}

/* Waits until no connection is left, or `deadline`. */
static void wait_drained(weft_httpd *s, int64_t deadline) {
    weft_scope sc;
    weft_scope_enter_ex(&sc, deadline, WEFT_SCOPE_SHIELD);
    weft__await_context("HTTP connections to finish (shutting down)", NULL);
    while (s->nconns && weft_event_wait(&s->drained) == 0) {}
    weft__await_context(NULL, NULL);
    weft_scope_leave(&sc);
}

static void stop_tasks(weft_task **t, size_t n) {
    for (size_t i = 0; i < n; i++) if (t[i]) weft_cancel(t[i]);
    for (size_t i = 0; i < n; i++) if (t[i]) weft_join(t[i], NULL);
}

/* The graceful shutdown; shielded from the caller's cancellation. */
static void shut_down(weft_httpd *s, weft_task **tasks, size_t ntasks) {
    weft_scope sh;
    weft_scope_enter_ex(&sh, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    s->stopping = true;
    stop_tasks(tasks, ntasks);
    close_listeners(s);
    cancel_conns(s, false);
    wait_drained(s, weft_deadline_after(s->o.grace_period));
    cancel_conns(s, true);
    wait_drained(s, WEFT_FOREVER);
    weft_scope_leave(&sh);
}


/* ------------------------------------------------------------ workers
 *
 * workers > 1: the other loops' servers are copies of this one, each on a
 * thread of its own (weft_run), each with a listener made beside each of
 * ours (weft_listen_like, SO_REUSEPORT). The calling loop talks to them
 * with weft_call_soon_threadsafe: a worker's loop is reachable from when
 * it registers to when it says it is done, under `mu`. The thread is
 * detached: its last act is to tell the calling loop it is done, and the
 * calling loop, which waits for that, is alive to hear it. */

typedef struct worker {
    struct workers *ws;
    weft_httpd *srv;      /* the copy, on the worker's loop; guarded by mu */
    weft_loop *loop;      /* guarded by mu */
    int rc;
    int load;             /* balanced: its open connections (atomic) */
    bool up;              /* home's thread only: it serves, or it ended */
    int lfd[HTTPD_MAX_LISTENERS];  /* its listeners, made by the calling loop */
    size_t nl;            /* (handed to its server, which then owns them) */
} worker;

typedef struct workers {
    pthread_mutex_t mu;
    weft_httpd *primary;
    weft_loop *home;      /* the calling loop */
    weft_loop_opts lo;
    worker *w;
    unsigned n;           /* workers started */
    unsigned ended;       /* home's thread only */
    bool stopping;        /* guarded by mu */
    weft_event all_ended; /* home's */
    int err;              /* the first worker's error; home's thread only */
    bool balance;         /* WEFT_HTTPD_BALANCE */
    unsigned nup;         /* home's thread only: workers up (or ended) */
    weft_event all_up;    /* home's */
    int home_load;        /* the calling loop's open connections (atomic) */
} workers;

/* On the calling loop: worker w serves, or will never (it ended). */
static void worker_up(void *arg) {
    worker *w = arg;
    if (w->up) return;
    w->up = true;
    if (++w->ws->nup == w->ws->n) weft_event_set(&w->ws->all_up);
}

static void worker_ended(void *arg) {
    worker *w = arg;
    workers *ws = w->ws;
    worker_up(w);
    if (w->rc && !ws->err) ws->err = w->rc;
    if (w->rc) weft_httpd_shutdown(ws->primary);
    if (++ws->ended == ws->n) weft_event_set(&ws->all_ended);
}

static int worker_main(void *arg) {
    worker *w = arg;
    workers *ws = w->ws;
    weft_httpd *p = ws->primary, *c = NULL;
    weft_httpd_opts o = p->o;
    o.workers = 1;
    o.flags = (o.flags & ~(unsigned)(WEFT_HTTPD_SIGNALS | WEFT_HTTPD_BALANCE)) | WEFT_HTTPD_REUSEPORT;
    int err = weft_httpd_new(&c, &o, p->handler, p->arg);
    if (!err && ws->balance) {
        c->adopts = true;
        c->load = &w->load;
    }
    /* Its listeners were made before serve took a connection, so that the
     * kernel spreads connections from the first one; the server owns them
     * once it has them, the worker until then. */
    for (size_t i = 0; i < w->nl; i++) {
        if (!err) err = weft_httpd_listen_fd(c, w->lfd[i]);
        if (err) weft_close(w->lfd[i]);
    }
    w->nl = 0;
    if (!err && !c->nl && !c->adopts) err = WEFT_EINVAL;  /* no TCP listener to serve beside */
    pthread_mutex_lock(&ws->mu);
    if (!err) {
        w->srv = c;
        w->loop = weft_loop_current();
        if (ws->stopping) weft_httpd_shutdown(c);
    }
    pthread_mutex_unlock(&ws->mu);
    if (!err) weft_call_soon_threadsafe(ws->home, worker_up, w);  /* ENOMEM: its end says it */
    /* A balanced worker's connections come from another thread: it waits
     * for them rather than call itself deadlocked. */
    if (!err && c->adopts) weft_loop_hold();
    if (!err) err = weft_httpd_serve(c);
    if (c && c->adopts) weft_loop_unhold();
    pthread_mutex_lock(&ws->mu);
    w->srv = NULL;
    w->loop = NULL;
    pthread_mutex_unlock(&ws->mu);
    if (c) weft_httpd_free(c);
    return err;
}

static void *worker_thread(void *arg) {
    worker *w = arg;
    w->rc = weft_run_opts(&w->ws->lo, worker_main, w);
    for (size_t i = 0; i < w->nl; i++) close(w->lfd[i]);  /* its loop never ran */
    w->nl = 0;
    /* Cannot fail but for memory; then the calling loop would wait on. */
    while (weft_call_soon_threadsafe(w->ws->home, worker_ended, w) == WEFT_ENOMEM) sched_yield();
    return NULL;
}

static void worker_stop(void *arg) {
    worker *w = arg;
    if (w->srv) weft_httpd_shutdown(w->srv);  /* runs on the worker's loop */
}

/* A balanced server's hand-off: a connection accepted on the calling loop
 * goes, as a posted node (weft__post), to the worker with the fewest open
 * connections. Posted only while that worker's loop is registered (under
 * mu; it unregisters before its loop closes), so the node always arrives:
 * run, or dropped by the loop's close, which then closes the fd. */
typedef struct handoff {
    weft__post_node node;
    worker *w;
    int fd;
    struct sockaddr_storage peer;
    socklen_t peer_len;
} handoff;

static void adopt_conn(weft_loop *L, weft__post_node *n, bool closing) {
    (void)L;
    handoff *h = (handoff *)n;
    worker *w = h->w;
    pthread_mutex_lock(&w->ws->mu);
    weft_httpd *s = closing ? NULL : w->srv;  /* this thread's own: stable once read */
    pthread_mutex_unlock(&w->ws->mu);
    weft__httpd_conn *c = NULL;
    if (s && !s->stopping && weft_sem_try_acquire(&s->slots) == 0) {
        if ((c = weft__mem_alloc(s->mem, sizeof *c))) {
            memset(c, 0, sizeof *c);
            c->srv = s;
            c->fd = h->fd;
            c->peer = h->peer;
            c->peer_len = h->peer_len;
            c->accepted = weft_now();
            if (start_conn(s, c) == WEFT_ENOMEM) weft_sem_release(&s->slots);  /* it closed the fd */
        } else {
            weft_sem_release(&s->slots);
        }
    }
    if (!c) weft_close(h->fd);
    if (!c) __atomic_sub_fetch(&w->load, 1, __ATOMIC_RELAXED);  /* else conn_link set it */
    free(h);
}

static bool hand_off(weft_httpd *s, weft__httpd_conn *c) {
    workers *ws = s->ws;
    if (!ws->balance) return false;
    int best = __atomic_load_n(&ws->home_load, __ATOMIC_RELAXED);
    worker *to = NULL;
    for (unsigned i = 0; i < ws->n; i++) {
        int l = __atomic_load_n(&ws->w[i].load, __ATOMIC_RELAXED);
        if (l < best) { best = l; to = &ws->w[i]; }
    }
    if (!to) return false;
    handoff *h = malloc(sizeof *h);
    if (!h) return false;
    *h = (handoff){ .node = { NULL, adopt_conn }, .w = to, .fd = c->fd, .peer = c->peer, .peer_len = c->peer_len };
    pthread_mutex_lock(&ws->mu);
    bool up = to->loop != NULL;
    if (up) {
        /* Counted now, so that a burst of accepts spreads before the worker
         * has run any of them. */
        __atomic_add_fetch(&to->load, 1, __ATOMIC_RELAXED);
        weft_fd_forget(c->fd);
        weft__post(to->loop, &h->node);
    }
    pthread_mutex_unlock(&ws->mu);
    if (!up) free(h);
    return up;
}

/* Starts workers - 1 loops; ws->n of them started. */
static int workers_start(weft_httpd *s, workers **out) {
    workers *ws = calloc(1, sizeof *ws);
    if (!ws) return WEFT_ENOMEM;
    ws->w = calloc(s->o.workers - 1, sizeof *ws->w);
    if (!ws->w) { free(ws); return WEFT_ENOMEM; }
    pthread_mutex_init(&ws->mu, NULL);
    ws->primary = s;
    ws->home = weft_loop_current();
    ws->balance = (s->o.flags & WEFT_HTTPD_BALANCE) != 0;
    if (ws->balance) s->load = &ws->home_load;
    const weft_loop_opts *ho = weft__loop_opts(ws->home);
    /* Not the calling loop's allocator: it need not be thread-safe. */
    ws->lo = (weft_loop_opts){ .backend = ho->backend, .stack_size = ho->stack_size,
                               .flags = WEFT_LOOP_NO_SIGINT | (ho->flags & WEFT_LOOP_NO_OVERFLOW_HANDLER) };
    /* Every worker's listeners now, beside ours: connections that come as
     * soon as serve is called already find them all. */
    int err = 0;
    for (unsigned i = 0; !ws->balance && i + 1 < s->o.workers; i++)
        for (size_t j = 0; !err && j < s->nl; j++) {
            worker *w = &ws->w[i];
            if (weft_sock_port(s->lfd[j]) <= 0) continue;  /* a Unix socket: the calling loop's */
            if (!(err = weft_listen_like(s->lfd[j], backlog(s), WEFT_LISTEN_REUSEPORT, &w->lfd[w->nl]))) w->nl++;
        }
    if (err) {
        for (unsigned i = 0; i + 1 < s->o.workers; i++)
            for (size_t j = 0; j < ws->w[i].nl; j++) close(ws->w[i].lfd[j]);
        s->load = NULL;
        pthread_mutex_destroy(&ws->mu);
        free(ws->w);
        free(ws);
        return err;
    }
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    for (unsigned i = 0; i + 1 < s->o.workers; i++) {
        ws->w[i].ws = ws;
        pthread_t th;
        int e = pthread_create(&th, &at, worker_thread, &ws->w[i]);
        if (e) { err = e == EAGAIN ? WEFT_ENOMEM : -e; break; }
        ws->n++;
    }
    for (unsigned i = ws->n; i + 1 < s->o.workers; i++)  /* never started */
        for (size_t j = 0; j < ws->w[i].nl; j++) close(ws->w[i].lfd[j]);
    pthread_attr_destroy(&at);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    /* Word from the workers comes by weft_call_soon_threadsafe: the loop
     * must wait for it rather than call itself deadlocked. */
    if (ws->n) weft_loop_hold();
    *out = ws;
    /* Accepting starts once every loop serves (or failed to start): a
     * balanced server then spreads its first connections too. */
    weft__await_context("HTTP server's worker loops to start", NULL);
    while (!err && ws->nup < ws->n && (err = weft_event_wait(&ws->all_up)) == 0) {}
    weft__await_context(NULL, NULL);
    return err;
}

/* Asks every worker to shut down (a worker still starting does so as it
 * registers). */
static void workers_stop(workers *ws) {
    pthread_mutex_lock(&ws->mu);
    ws->stopping = true;
    for (unsigned i = 0; i < ws->n; i++)
        if (ws->w[i].loop) weft_call_soon_threadsafe(ws->w[i].loop, worker_stop, &ws->w[i]);
    pthread_mutex_unlock(&ws->mu);
}

/* Waits until every worker has ended (shielded), and frees them: the
 * first worker's error, or 0. */
static int workers_wait(workers *ws) {
    weft_scope sh;
    weft_scope_enter_ex(&sh, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    weft__await_context("HTTP server's worker loops to finish", NULL);
    while (ws->ended < ws->n && weft_event_wait(&ws->all_ended) == 0) {}
    weft__await_context(NULL, NULL);
    weft_scope_leave(&sh);
    if (ws->n) weft_loop_unhold();
    int err = ws->err;
    pthread_mutex_destroy(&ws->mu);
    free(ws->w);
    free(ws);
    return err;
}

int weft_httpd_serve(weft_httpd *s) {
    if (s->served) return WEFT_EBUSY;
    if (!s->nl && !s->adopts) return WEFT_EINVAL;
    int err = weft_check_cancel();
    if (err) return err;
    s->served = true;
    workers *ws = NULL;
    if (s->o.workers > 1) {
        err = workers_start(s, &ws);
        s->ws = ws;
        if (err) weft_httpd_shutdown(s);
    }
    weft_task *tasks[HTTPD_MAX_LISTENERS + 1] = {0};
    acceptor acc[HTTPD_MAX_LISTENERS];
    size_t n = 0;
    for (size_t i = 0; !err && i < s->nl; i++) {
        acc[i] = (acceptor){ s, s->lfd[i], "" };
        int port = weft_sock_port(s->lfd[i]);
        snprintf(acc[i].where, sizeof acc[i].where, port > 0 ? "port %d" : "a Unix socket", port);
        weft_spawn_opts so = { .name = "httpd-accept" };
        if ((err = weft_spawn_ex(&tasks[n], &so, accept_main, &acc[i]))) break;
        n++;
    }
    if (!err && (s->o.flags & WEFT_HTTPD_SIGNALS)) {
        weft_spawn_opts so = { .name = "httpd-signals" };
        if (!(err = weft_spawn_ex(&tasks[n], &so, signal_main, s))) n++;
    }
    weft__await_context("HTTP server's shutdown (weft_httpd_shutdown)", NULL);
    if (!err) err = weft_event_wait(&s->stop);
    weft__await_context(NULL, NULL);
    if (ws) workers_stop(ws);
    shut_down(s, tasks, n);
    int werr = ws ? workers_wait(ws) : 0;
    s->ws = NULL;
    s->load = NULL;
    if (!err) err = s->accept_err;
    return err ? err : werr;
}
