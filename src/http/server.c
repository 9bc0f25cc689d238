/* The HTTP server's frame (include/weft/httpd.h): listeners, the accept
 * loops, one task per connection reading request heads, and the graceful
 * shutdown. What happens to one request once its head is in (the handler,
 * the body, the response) is exchange.c's.
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
#include "internal.h"
#include "server.h"
#include "timed.h"

#include <weft/http.h>
#include <weft/io.h>
#include <weft/net.h>
#include <weft/signal.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Defaults: ../shared/DEFAULTS.md and docs/http-server.md give the sources. */
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
/* Lingering close after an error response (nginx lingering_time 30 s,
 * lingering_timeout 5 s): read and drop what the client still sends, so
 * that its unread bytes do not make our close a reset that destroys the
 * response before the client reads it. */
#define LINGER_TOTAL (30 * WEFT_SECOND)
#define LINGER_IDLE (5 * WEFT_SECOND)
#define LINGER_BYTES (256 * 1024)
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
    weft_loop *L = weft__tls_loop;
    if (!L) return WEFT_ENOTASK;
    weft_httpd_opts o = opts ? *opts : (weft_httpd_opts){0};
    if (!handler || o.header_timeout < 0 || o.body_timeout < 0 || o.send_timeout < 0 ||
        o.keepalive_timeout < 0 || o.grace_period < 0 || (o.flags & ~WEFT_HTTPD_SIGNALS))
        return WEFT_EINVAL;
    weft_httpd *s = weft__alloc(L, sizeof *s);
    if (!s) return WEFT_ENOMEM;
    memset(s, 0, sizeof *s);
    fill_defaults(&o);
    s->o = o;
    s->handler = handler;
    s->arg = arg;
    weft_sem_init(&s->slots, (int64_t)(o.max_conns > INT64_MAX ? INT64_MAX : o.max_conns), 0);
    weft__leak_watch(L, &s->trk, WEFT__TRACK_HTTPD, s);
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
    weft__free(weft__tls_loop, s);
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
    int fd = -1, err = weft_tcp_listen(host, port, backlog(s), &fd);
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

/* ------------------------------------------------------ date and logging */

/* The Date header's value, made at most once a second (RFC 9110's
 * IMF-fixdate, always GMT). */
const char *weft__httpd_date(weft_httpd *s) {
    time_t now = time(NULL);
    if ((long)now != s->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_sec = (long)now;
    }
    return s->date;
}

static void peer_text(const weft__httpd_conn *c, char *buf, size_t cap) {
    const struct sockaddr *sa = (const struct sockaddr *)&c->peer;
    buf[0] = '-', buf[1] = 0;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)cap);
}

/* One Common Log Format line: host ident authuser [date] "request" status
 * bytes (body bytes sent, "-" for none, as Apache's %b). */
void weft__httpd_log(weft__httpd_conn *c, const weft_httpd_req *r, int status, uint64_t bytes) {
    FILE *f = c->srv->o.access_log;
    if (!f) return;
    char host[64], when[40];
    peer_text(c, host, sizeof host);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    if (r)
        fprintf(f, "%s - - [%s] \"%s %s HTTP/1.%d\" %d ", host, when, r->h.method,
                r->h.target, r->h.minor, status);
    else
        fprintf(f, "%s - - [%s] \"-\" %d ", host, when, status);
    if (bytes) fprintf(f, "%llu\n", (unsigned long long)bytes);
    else fputs("-\n", f);
    fflush(f);
}

/* ------------------------------------------------------ reading a head */

/* Peeks `want` bytes, waiting until `deadline`. WEFT_ETIMEDOUT only for
 * this deadline; the task's own cancellation comes through as it is. */
static ssize_t peek_by(weft__httpd_conn *c, size_t want, int64_t deadline, const void **data) {
    weft_scope sc;
    weft__timed_begin(&sc, deadline);
    ssize_t n = weft_stream_peek(c->st, want, data);
    return weft__timed_end(&sc, n, WEFT_ETIMEDOUT);
}

/* Sends everything buffered, within send_timeout. */
int weft__httpd_drain(weft__httpd_conn *c) {
    weft_scope sc;
    weft__timed_begin(&sc, weft_deadline_after(c->srv->o.send_timeout));
    int err = weft_stream_drain(c->st);
    return (int)weft__timed_end(&sc, err, WEFT_ETIMEDOUT);
}

/* Waits for the first byte of the next head. Idle connections are what a
 * shutdown closes at once, so the flag is up only while nothing came. */
static int wait_first_byte(weft__httpd_conn *c) {
    if (weft_stream_buffered(c->st)) return 0;
    weft_httpd *s = c->srv;
    int64_t d = c->nreq ? weft_deadline_after(s->o.keepalive_timeout)
                        : c->accepted + s->o.header_timeout;
    const void *data;
    c->idle = true;
    weft__await_context("HTTP request on connection from", c->peer_name);
    ssize_t n = peek_by(c, 1, d, &data);
    weft__await_context(NULL, NULL);
    c->idle = false;
    return n < 0 ? (int)n : 0;
}

/* Reads and parses a head into x (which then owns a copy of it) and
 * consumes it from the stream. Returns 0; or the status to answer (> 0,
 * then close); or a negative code: close silently. */
static int read_head(weft__httpd_conn *c, weft__httpd_exchange *x, const weft__http_limits *lim) {
    weft_httpd *s = c->srv;
    int64_t d = c->nreq ? weft_deadline_after(s->o.header_timeout)
                        : c->accepted + s->o.header_timeout;
    weft__http_head *h = &x->req.h;
    for (size_t want = 1;;) {
        const void *data;
        weft__await_context("HTTP request on connection from", c->peer_name);
        ssize_t n = peek_by(c, want, d, &data);
        weft__await_context(NULL, NULL);
        if (n == WEFT_ETIMEDOUT) return 408;
        if (n < 0) return (int)n;
        ssize_t r = weft__http_parse_request(data, (size_t)n, h, lim);
        if (r < 0) return h->status ? h->status : 400;
        if (r > 0) {
            int err = weft__httpd_exchange_setup(x, data, (size_t)r, lim);
            if (err) return err == WEFT_ENOMEM ? 503 : 400;
            weft_stream_consume(c->st, (size_t)r);
            return 0;
        }
        if ((size_t)n >= lim->max_head) return 431;  /* the parser should have said */
        want = (size_t)n + 1;
    }
}

/* ------------------------------------------------------ error responses */

static const char *error_body(int status) {
    switch (status) {
    case 400: return "Bad Request\n";
    case 408: return "Request Timeout\n";
    case 413: return "Content Too Large\n";
    case 414: return "URI Too Long\n";
    case 431: return "Request Header Fields Too Large\n";
    case 501: return "Not Implemented\n";
    case 503: return "Service Unavailable\n";
    case 505: return "HTTP Version Not Supported\n";
    default: return "Internal Server Error\n";
    }
}

/* A response to a request that got no handler (or whose handler failed
 * before starting one): a short text body and Connection: close. To a HEAD
 * request (is_head) the same head goes without the body: a client reading
 * a HEAD response takes no body whatever Content-Length says, and would
 * read the body's bytes as the next response. */
void weft__httpd_send_error(weft__httpd_conn *c, int status, bool is_head) {
    const char *body = error_body(status);
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, weft_http_reason(status), weft__httpd_date(c->srv), strlen(body));
    struct iovec iov[2] = { { head, (size_t)n }, { (void *)body, strlen(body) } };
    weft_stream_writev(c->st, iov, is_head ? 1 : 2);
    weft__httpd_drain(c);
}

/* nginx's lingering close: half-close, then read and drop what the client
 * still sends for a while, so the response is read before the close. */
void weft__httpd_linger(weft__httpd_conn *c) {
    c->idle = true;  /* nothing more to answer: a shutdown may cut it short */
    weft_scope total;
    weft_scope_enter(&total, weft_deadline_after(LINGER_TOTAL));
    if (weft_stream_shutdown(c->st) == 0) {
        char buf[512];
        for (size_t got = 0; got < LINGER_BYTES;) {
            weft_scope idle;
            weft__timed_begin(&idle, weft_deadline_after(LINGER_IDLE));
            ssize_t n = weft_stream_read(c->st, buf, sizeof buf);
            n = weft__timed_end(&idle, n, WEFT_ETIMEDOUT);
            if (n <= 0) break;
            got += (size_t)n;
        }
    }
    weft_scope_leave(&total);
}

/* ------------------------------------------------------ a connection */

/* Serves requests until one says to close. */
static void serve_requests(weft__httpd_conn *c) {
    weft_httpd *s = c->srv;
    weft__http_limits lim = { s->o.max_request_line, s->o.max_header_bytes, s->o.max_headers };
    size_t xsize = sizeof(weft__httpd_exchange) + s->o.max_headers * sizeof(weft__hdr);
    while (!s->stopping) {
        if (wait_first_byte(c)) return;
        weft__httpd_exchange *x = weft__alloc(weft__tls_loop, xsize);
        if (!x) { weft__httpd_send_error(c, 503, false); return; }
        weft__httpd_exchange_init(x, c);
        c->nreq++;
        int st = read_head(c, x, &lim);
        int again = 1;
        if (st > 0) {
            weft__httpd_send_error(c, st, false);
            weft__httpd_log(c, NULL, st, 0);
            weft__httpd_linger(c);
        } else if (st == 0) {
            int r = weft__httpd_exchange_run(x);
            if (r == -2) weft__httpd_linger(c);
            again = r == 0;
        }
        weft__httpd_exchange_free(x);
        if (st || !again) return;
    }
}

static void conn_link(weft__httpd_conn *c) {
    weft_httpd *s = c->srv;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
}

static void conn_unlink(weft__httpd_conn *c) {
    weft_httpd *s = c->srv;
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    if (--s->nconns == 0 && s->stopping) weft_event_set(&s->drained);
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

/* "host:port" of the peer (just "-" for a Unix socket's). */
static void peer_name(weft__httpd_conn *c) {
    char host[INET6_ADDRSTRLEN];
    peer_text(c, host, sizeof host);
    const struct sockaddr *sa = (const struct sockaddr *)&c->peer;
    int port = sa->sa_family == AF_INET ? ntohs(((const struct sockaddr_in *)sa)->sin_port)
             : sa->sa_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)sa)->sin6_port) : -1;
    if (port < 0) snprintf(c->peer_name, sizeof c->peer_name, "%s", host);
    else snprintf(c->peer_name, sizeof c->peer_name, sa->sa_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
}

static void *conn_main(void *arg) {
    weft__httpd_conn *c = arg;
    peer_name(c);
    weft_scope sc;
    weft_scope_enter(&sc, WEFT_FOREVER);
    c->scope = &sc;
    if (open_stream(c) == 0) {
        serve_requests(c);
        weft_stream_free(c->st);
    } else {
        weft_close(c->fd);
    }
    weft_scope_leave(&sc);
    conn_unlink(c);
    weft_sem_release(&c->srv->slots);
    weft__free(weft__tls_loop, c);
    return NULL;
}

/* ------------------------------------------------------ accepting */

/* Accepts one connection and starts its task. 0, or accept's error. */
static int accept_one(weft_httpd *s, int lfd) {
    weft__httpd_conn *c = weft__alloc(weft__tls_loop, sizeof *c);
    if (!c) return WEFT_ENOMEM;
    memset(c, 0, sizeof *c);
    c->srv = s;
    c->peer_len = sizeof c->peer;
    int err = weft_accept(lfd, (struct sockaddr *)&c->peer, &c->peer_len, &c->fd);
    if (err) { weft__free(weft__tls_loop, c); return err; }
    c->accepted = weft_now();
    weft_spawn_opts so = { .name = "httpd-conn", .stack_size = s->o.stack_size, .detached = 1 };
    conn_link(c);
    err = weft_spawn_ex(NULL, &so, conn_main, c);
    if (err) {
        weft_close(c->fd);
        conn_unlink(c);
        weft__free(weft__tls_loop, c);
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

/* Cancels connections: the idle ones, or all. */
static void cancel_conns(weft_httpd *s, bool all) {
    for (weft__httpd_conn *c = s->conns; c; c = c->next)
        if ((all || c->idle) && c->scope) weft_scope_cancel(c->scope);
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

int weft_httpd_serve(weft_httpd *s) {
    if (s->served) return WEFT_EBUSY;
    if (!s->nl) return WEFT_EINVAL;
    int err = weft_check_cancel();
    if (err) return err;
    s->served = true;
    weft_task *tasks[HTTPD_MAX_LISTENERS + 1] = {0};
    acceptor acc[HTTPD_MAX_LISTENERS];
    size_t n = 0;
    for (size_t i = 0; i < s->nl; i++) {
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
    shut_down(s, tasks, n);
    return err ? err : s->accept_err;
}
