/* The HTTP client's connection pool: the connections a client owns, idle
 * or lent to a response, how a request gets one and how a response gives
 * it back. Below client.c (which takes connections) and response.c (which
 * releases them); it calls neither.
 *
 * Connections are keyed by origin ("https://host:443"). A request takes
 * the newest idle connection of its origin that is still alive (a
 * non-blocking peek at its socket shows whether the server closed it
 * meanwhile), else opens one if fewer than max_connections exist, else
 * closes the oldest idle connection of another origin to make room, else
 * waits on a condition until a connection is released, for at most the
 * pool timeout. Idle connections past their expiry are closed when the pool
 * is next used (there is no timer: an idle connection costs an fd until
 * then, and a timer per connection would cost a wake-up each).
 */
#include "client.h"
#include "timed.h"
#include "core_iface.h"

#include <weft/dns.h>
#include <weft/io.h>
#include <weft/net.h>

#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

static void conn_close(weft_http_client *c, weft__conn *k) {
    if (k->prev) k->prev->next = k->next;
    else c->all = k->next;
    if (k->next) k->next->prev = k->prev;
    weft__h2_free(k);
    weft_stream_free(k->s);
    weft__mem_free(c->mem, k->origin);
    weft__mem_free(c->mem, k);
    c->nconns--;
    weft_cond_notify_all(&c->cond);
}

void weft__pool_close(weft_http_client *c) {
    while (c->all) {
        weft__conn *k = c->all;
        /* A response still holding a connection keeps working as an object
         * (status, headers) but its body reads fail with WEFT_ECLOSED. */
        if (k->owner) {
            k->owner->conn = NULL;
            k->owner->c = NULL;
            if (!k->owner->err) k->owner->err = WEFT_ECLOSED;
        }
        conn_close(c, k);
    }
}

static void idle_unlink(weft_http_client *c, weft__conn *k) {
    for (weft__conn **p = &c->idle; *p; p = &(*p)->idle_next)
        if (*p == k) { *p = k->idle_next; c->nidle--; return; }
}

static weft__conn *oldest_idle(weft_http_client *c) {
    weft__conn *k = c->idle;
    while (k && k->idle_next) k = k->idle_next;
    return k;
}

void weft__pool_release(weft_http_client *c, weft__conn *k, bool reuse) {
    if (!reuse || weft_stream_buffered(k->s)) {   /* extra bytes: the server is confused */
        conn_close(c, k);
        return;
    }
    if (c->nidle >= c->o.max_idle) {
        weft__conn *old = oldest_idle(c);
        if (!old) { conn_close(c, k); return; }
        idle_unlink(c, old);
        conn_close(c, old);
    }
    k->idle_since = weft_now();
    k->idle_next = c->idle;
    c->idle = k;
    c->nidle++;
    weft_cond_notify_all(&c->cond);
}

/* Has the server closed (or written to) the idle connection? A socket
 * peek that would block says it is quiet, as an idle one should be. */
static bool conn_alive(const weft__conn *k) {
    /* Input the loop captured (weft__fd_capture) is no longer in the socket. */
    if (weft__fd_captured(k->fd)) return false;
    char b;
    ssize_t n = recv(k->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* HTTP/2 connections that ended (GOAWAY, an error), or had no stream for
 * the idle expiry, once no response holds a stream of theirs. */
static void prune_h2(weft_http_client *c, int64_t now) {
    for (weft__conn *k = c->all, *next; k; k = next) {
        next = k->next;
        bool idle;
        if (!k->h2) continue;
        bool ok = weft__h2_usable(k, &idle);
        if (idle && (!ok || now - k->idle_since >= c->o.idle_expiry)) conn_close(c, k);
    }
}

static void prune_expired(weft_http_client *c) {
    int64_t now = weft_now();
    prune_h2(c, now);
    for (weft__conn **p = &c->idle; *p;) {
        weft__conn *k = *p;
        if (now - k->idle_since < c->o.idle_expiry) { p = &k->idle_next; continue; }
        *p = k->idle_next;
        c->nidle--;
        conn_close(c, k);
    }
}

static weft__conn *take_idle(weft_http_client *c, const char *origin) {
    for (weft__conn **p = &c->idle; *p;) {
        weft__conn *k = *p;
        if (strcmp(k->origin, origin)) { p = &k->idle_next; continue; }
        *p = k->idle_next;
        c->nidle--;
        if (conn_alive(k)) return k;
        conn_close(c, k);
    }
    return NULL;
}

/* The HTTP/2 connection to origin that can take one more stream. One with
 * no stream open that the server has closed meanwhile is closed here: a
 * peek shows its end (bytes waiting, a GOAWAY say, are left to nghttp2). */
static weft__conn *find_h2(weft_http_client *c, const char *origin) {
    for (weft__conn *k = c->all; k; k = k->next) {
        bool idle;
        if (!k->h2 || strcmp(k->origin, origin) || !weft__h2_usable(k, &idle)) continue;
        char b;
        if (idle && !weft__fd_captured(k->fd) && recv(k->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
            conn_close(c, k);
            return NULL;
        }
        return k;
    }
    return NULL;
}

/* Whether a connection to u's origin that may turn out HTTP/2 is being
 * opened: a request then waits for it rather than open another. */
static bool h2_opening(weft_http_client *c, const weft__url *u) {
    if (!c->o.http_version || (!u->tls && c->o.http_version != WEFT_HTTP_VERSION_2)) return false;
    for (weft__conn *k = c->all; k; k = k->next)
        if (k->opening && !strcmp(k->origin, u->origin)) return true;
    return false;
}

/* Whether the new connection speaks HTTP/2: h2 picked by ALPN, or prior
 * knowledge over cleartext. WEFT_EHTTP: HTTP/2 only, and TLS did not pick it. */
static int speaks_h2(weft_http_client *c, const weft__url *u, weft_stream *s, bool *yes) {
    const char *p = u->tls ? weft_tls_alpn(s) : NULL;
    *yes = u->tls ? p && !strcmp(p, "h2") : c->o.http_version == WEFT_HTTP_VERSION_2;
    return !*yes && u->tls && c->o.http_version == WEFT_HTTP_VERSION_2 ? WEFT_EHTTP : 0;
}

static int open_stream(weft_http_client *c, const weft__url *u, int fd, weft_stream **s) {
    weft_stream_opts so = { .limit = c->o.max_header_bytes + 1 };
    if (!u->tls) return weft_stream_new_fd(s, fd, &so);
    if (!c->tls) {
        int err = weft_tls_ctx_new(&c->tls, &c->tls_opts);
        if (err) return err;
    }
    return weft_tls_connect(s, c->tls, fd, u->host, &so);
}

/* u's addresses: the resolve option's, if it names u's host and port
 * (parsed here, numeric, no DNS), else the resolver's. */
static int resolve(weft_http_client *c, const weft__url *u, struct addrinfo *hints,
                   struct addrinfo **ai) {
    char key[300];
    snprintf(key, sizeof key, "%s:%u", u->host, u->portnum);
    const char *addr = weft__fields_get(&c->resolve, key);
    if (!addr) return weft_getaddrinfo(u->host, u->port, hints, ai);
    hints->ai_flags |= AI_NUMERICHOST;
    return weft_getaddrinfo(addr, u->port, hints, ai);
}

/* Opens a connection to u's origin: resolving, TCP and TLS, all under the
 * connect timeout. Takes the slot counted by the caller (given back on
 * error). The connection is on the client's list while it opens, marked
 * `opening`, so that requests that would share it over HTTP/2 wait. */
static int conn_open(weft_http_client *c, const weft__url *u, weft__conn **out, weft_http_timings *t) {
    weft__conn *k = weft__mem_alloc(c->mem, sizeof *k);
    char *origin = weft__mem_strndup(c->mem, u->origin, strlen(u->origin));
    if (!k || !origin) {
        weft__mem_free(c->mem, k);
        weft__mem_free(c->mem, origin);
        c->nconns--;
        weft_cond_notify_all(&c->cond);
        return WEFT_ENOMEM;
    }
    memset(k, 0, sizeof *k);
    k->origin = origin;
    k->opening = true;
    k->next = c->all;
    if (c->all) c->all->prev = k;
    c->all = k;
    weft_scope sc;
    weft__timed_begin(&sc, weft_deadline_after(c->o.connect_timeout));
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai = NULL;
    int64_t t0 = weft_now();
    int fd = -1;
    int err = resolve(c, u, &hints, &ai);
    int64_t t1 = weft_now();
    if (!err) {
        err = weft_tcp_connect_addrinfo(ai, NULL, &fd);
        freeaddrinfo(ai);
    }
    int64_t t2 = weft_now();
    if (u->tls) weft__await_context("TLS handshake with", u->host);
    if (!err && (err = open_stream(c, u, fd, &k->s))) weft_close(fd);
    weft__await_context(NULL, NULL);
    err = (int)weft__timed_end(&sc, err, WEFT_ECONNTIMEOUT);
    bool h2 = false;
    k->fd = fd;
    if (!err) err = speaks_h2(c, u, k->s, &h2);
    if (!err && h2) err = weft__h2_start(c, k);
    k->opening = false;
    if (err) {
        conn_close(c, k);
        return err;
    }
    if (h2) weft_cond_notify_all(&c->cond);   /* for the requests waiting to share it */
    t->dns = t1 - t0;
    t->connect = t2 - t1;
    t->tls = u->tls ? weft_now() - t2 : 0;
    *out = k;
    return 0;
}

/* Waits until a connection is released (or the deadline passes). */
static int pool_wait(weft_http_client *c, const char *origin, int64_t deadline) {
    weft_scope sc;
    weft__timed_begin(&sc, deadline);
    weft__await_context("pool slot for", origin);
    int err = weft_lock_acquire(&c->lock);
    if (!err) {
        err = weft_cond_wait(&c->cond, &c->lock);
        weft_lock_release(&c->lock);
    }
    weft__await_context(NULL, NULL);
    return (int)weft__timed_end(&sc, err, WEFT_EPOOLTIMEOUT);
}

/* A connection for u: an idle one (unless `fresh`), else a new one. */
int weft__pool_get(weft_http_client *c, const weft__url *u, bool fresh, weft__conn **out,
                   weft_http_timings *t) {
    int64_t deadline = weft_deadline_after(c->o.pool_timeout);
    prune_expired(c);
    for (;;) {
        /* `fresh` is for HTTP/1.1's idle connections: a retry over HTTP/2
         * finds the connection that failed it unusable already (GOAWAY, an
         * error), or still good (a stream refused by RST_STREAM). */
        weft__conn *k = find_h2(c, u->origin);
        if (!k && !fresh) k = take_idle(c, u->origin);
        if (k) {
            k->uses++;
            t->reused = 1;
            *out = k;
            return 0;
        }
        /* One HTTP/2 connection per origin: wait for the one on its way. */
        if (h2_opening(c, u)) {
            int err = pool_wait(c, u->origin, deadline);
            if (err) return err;
            continue;
        }
        if (c->nconns < c->o.max_connections) {
            c->nconns++;   /* the slot is ours while we connect */
            return conn_open(c, u, out, t);
        }
        if ((k = oldest_idle(c))) {
            idle_unlink(c, k);
            conn_close(c, k);
            continue;
        }
        int err = pool_wait(c, u->origin, deadline);
        if (err) return err;
    }
}
