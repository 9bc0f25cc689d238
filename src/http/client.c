/* The HTTP client (weft/http.h): options, the connection pool, one
 * request-response exchange with its retry, and redirects.
 *
 * The pool. Connections are keyed by origin ("https://host:443"). A request
 * takes the newest idle connection of its origin that is still alive (a
 * non-blocking peek at its socket shows whether the server closed it
 * meanwhile), else opens one if fewer than max_connections exist, else
 * closes the oldest idle connection of another origin to make room, else
 * waits on a condition until a connection is released, for at most the
 * pool timeout. Idle connections past their expiry are closed when the pool
 * is next used (there is no timer: an idle connection costs an fd until
 * then, and a timer per connection would cost a wake-up each).
 *
 * Timeouts are scopes around each wait, with the specific code mapped from
 * the scope's own WEFT_ETIMEDOUT (timed.h); an enclosing scope's deadline
 * or cancel passes through unchanged.
 */
#include "client.h"
#include "timed.h"
#include "../core/internal.h"

#include <weft/dns.h>
#include <weft/io.h>
#include <weft/net.h>

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* ----------------------------------------------------------------- client */

static int64_t or_default(int64_t v, int64_t d) { return v ? v : d; }

static int copy_tls(weft_http_client *c, const weft_tls_opts *t) {
    c->tls_opts = *t;
    const char *s[] = { t->ca_file, t->ca_dir, t->cert_file, t->key_file, t->alpn };
    const char **d[] = { &c->tls_opts.ca_file, &c->tls_opts.ca_dir, &c->tls_opts.cert_file,
                         &c->tls_opts.key_file, &c->tls_opts.alpn };
    size_t len = 0;
    for (int i = 0; i < 5; i++) len += s[i] ? strlen(s[i]) + 1 : 0;
    if (!len) return 0;
    char *w = c->tls_strings = weft__mem_alloc(c->mem, len);
    if (!w) return WEFT_ENOMEM;
    for (int i = 0; i < 5; i++) {
        if (!s[i]) continue;
        *d[i] = strcpy(w, s[i]);
        w += strlen(s[i]) + 1;
    }
    return 0;
}

static int add_default_header(weft_http_client *c, const char *line) {
    const char *colon = strchr(line, ':');
    if (!colon) return WEFT_EINVAL;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t') v++;
    size_t vl = strlen(v);
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
    size_t nl = (size_t)(colon - line);
    if (!weft__http_token_ok(line, nl) || !weft__http_value_ok(v, vl)) return WEFT_EINVAL;
    return weft__fields_add(c->mem, &c->hdrs, line, nl, v, vl);
}

static int client_setup(weft_http_client *c, const weft_http_client_opts *o) {
    c->o.connect_timeout = or_default(o->connect_timeout, 5 * WEFT_SECOND);
    c->o.read_timeout = or_default(o->read_timeout, 5 * WEFT_SECOND);
    c->o.write_timeout = or_default(o->write_timeout, 5 * WEFT_SECOND);
    c->o.pool_timeout = or_default(o->pool_timeout, 5 * WEFT_SECOND);
    c->o.idle_expiry = or_default(o->idle_expiry, 5 * WEFT_SECOND);
    c->o.max_connections = o->max_connections ? o->max_connections : 100;
    c->o.max_idle = o->max_idle ? o->max_idle : 20;
    c->o.follow_redirects = o->follow_redirects;
    c->o.max_redirects = o->max_redirects ? o->max_redirects : 20;
    c->o.max_header_bytes = o->max_header_bytes ? o->max_header_bytes : 300 * 1024;
    c->o.max_headers = o->max_headers ? o->max_headers : 5000;
    c->o.max_body = o->max_body ? o->max_body : (size_t)64 << 20;
    int err = 0;
    if (o->base_url) err = weft__url_parse(&c->base, o->base_url);
    for (const char *const *h = o->headers; !err && h && *h; h++) err = add_default_header(c, *h);
    if (err) return err;
    char ua[64];
    snprintf(ua, sizeof ua, "weft/%s", weft_version_string());
    const char *u = o->user_agent ? o->user_agent : ua;
    if (!weft__http_value_ok(u, strlen(u))) return WEFT_EINVAL;
    if (!(c->ua = weft__mem_strndup(c->mem, u, strlen(u)))) return WEFT_ENOMEM;
    return copy_tls(c, &o->tls);
}

int weft_http_client_new(weft_http_client **out, const weft_http_client_opts *opts) {
    if (!out) return WEFT_EINVAL;
    if (!weft_loop_current()) return WEFT_ENOTASK;
    weft_http_client_opts none = { 0 };
    weft__mem m = weft__mem_here();
    weft_http_client *c = weft__mem_alloc(m, sizeof *c);
    if (!c) return WEFT_ENOMEM;
    memset(c, 0, sizeof *c);
    c->mem = m;
    int err = client_setup(c, opts ? opts : &none);
    if (err) {
        weft_http_client_free(c);
        return err;
    }
    weft__leak_watch(weft__tls_loop, &c->trk, WEFT__TRACK_HTTP_CLIENT, c);
    *out = c;
    return 0;
}

static void conn_close(weft_http_client *c, weft__conn *k) {
    if (k->prev) k->prev->next = k->next;
    else c->all = k->next;
    if (k->next) k->next->prev = k->prev;
    weft_stream_free(k->s);
    weft__mem_free(c->mem, k->origin);
    weft__mem_free(c->mem, k);
    c->nconns--;
    weft_cond_notify_all(&c->cond);
}

void weft_http_client_free(weft_http_client *c) {
    if (!c) return;
    weft__leak_unwatch(&c->trk);
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
    weft__url_free(&c->base);
    weft__fields_free(c->mem, &c->hdrs);
    weft_tls_ctx_free(c->tls);
    weft__mem_free(c->mem, c->tls_strings);
    weft__mem_free(c->mem, c->ua);
    weft__mem_free(c->mem, c);
}

/* ------------------------------------------------------------------ pool */

static void idle_unlink(weft_http_client *c, weft__conn *k) {
    for (weft__conn **p = &c->idle; *p; p = &(*p)->idle_next)
        if (*p == k) { *p = k->idle_next; c->nidle--; return; }
}

static weft__conn *oldest_idle(weft_http_client *c) {
    weft__conn *k = c->idle;
    while (k && k->idle_next) k = k->idle_next;
    return k;
}

void weft__conn_release(weft_http_client *c, weft__conn *k, bool reuse) {
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
    char b;
    ssize_t n = recv(k->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static void prune_expired(weft_http_client *c) {
    int64_t now = weft_now();
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

static int open_stream(weft_http_client *c, const weft__url *u, int fd, weft_stream **s) {
    weft_stream_opts so = { .limit = c->o.max_header_bytes + 1 };
    if (!u->tls) return weft_stream_new_fd(s, fd, &so);
    if (!c->tls) {
        int err = weft_tls_ctx_new(&c->tls, &c->tls_opts);
        if (err) return err;
    }
    return weft_tls_connect(s, c->tls, fd, u->host, &so);
}

/* Opens a connection to u's origin: resolving, TCP and TLS, all under the
 * connect timeout. Takes the slot counted by the caller. */
static int conn_open(weft_http_client *c, const weft__url *u, weft__conn **out, weft_http_timings *t) {
    weft__conn *k = weft__mem_alloc(c->mem, sizeof *k);
    char *origin = weft__mem_strndup(c->mem, u->origin, strlen(u->origin));
    if (!k || !origin) {
        weft__mem_free(c->mem, k);
        weft__mem_free(c->mem, origin);
        return WEFT_ENOMEM;
    }
    weft_scope sc;
    weft__timed_begin(&sc, weft_deadline_after(c->o.connect_timeout));
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai = NULL;
    int64_t t0 = weft_now();
    int fd = -1;
    weft_stream *s = NULL;
    int err = weft_getaddrinfo(u->host, u->port, &hints, &ai);
    int64_t t1 = weft_now();
    if (!err) {
        err = weft_tcp_connect_addrinfo(ai, NULL, &fd);
        freeaddrinfo(ai);
    }
    int64_t t2 = weft_now();
    if (u->tls) weft__await_context("TLS handshake with", u->host);
    if (!err && (err = open_stream(c, u, fd, &s))) weft_close(fd);
    weft__await_context(NULL, NULL);
    err = (int)weft__timed_end(&sc, err, WEFT_ECONNTIMEOUT);
    if (err) {
        weft_stream_free(s);
        weft__mem_free(c->mem, k);
        weft__mem_free(c->mem, origin);
        return err;
    }
    t->dns = t1 - t0;
    t->connect = t2 - t1;
    t->tls = u->tls ? weft_now() - t2 : 0;
    memset(k, 0, sizeof *k);
    k->s = s;
    k->fd = fd;
    k->origin = origin;
    k->next = c->all;
    if (c->all) c->all->prev = k;
    c->all = k;
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
static int pool_get(weft_http_client *c, const weft__url *u, bool fresh, weft__conn **out,
                    weft_http_timings *t) {
    int64_t deadline = weft_deadline_after(c->o.pool_timeout);
    prune_expired(c);
    for (;;) {
        weft__conn *k = fresh ? NULL : take_idle(c, u->origin);
        if (k) {
            k->uses++;
            t->reused = 1;
            *out = k;
            return 0;
        }
        if (c->nconns < c->o.max_connections) {
            c->nconns++;   /* the slot is ours while we connect */
            int err = conn_open(c, u, out, t);
            if (err) {
                c->nconns--;
                weft_cond_notify_all(&c->cond);
            }
            return err;
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

/* ------------------------------------------------------------- exchanges */

static bool idempotent(const char *m) {
    static const char *const ok[] = { "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE" };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) if (!strcmp(m, ok[i])) return true;
    return false;
}

/* Errors that mean a kept-alive connection was closed under us. */
static bool stale_error(int err) {
    return err == WEFT_EOF || err == -ECONNRESET || err == -EPIPE || err == -ECONNABORTED;
}

static int attempt(weft_http_client *c, const weft__exchange *x, bool fresh,
                   weft_http_response **out, bool *retry) {
    weft_http_timings t = { 0 };
    int64_t start = weft_now();
    weft__conn *k;
    int err = pool_get(c, &x->url, fresh, &k, &t);
    if (err) return err;
    bool body_used = false, nothing = true;
    k->owner = NULL;
    err = weft__request_write(c, k->s, x, &body_used);
    weft_http_response *r = NULL;
    weft__await_context("HTTP response from", weft__origin_host(k->origin));
    if (!err) err = weft__response_read_head(c, k, x, &r, &nothing);
    weft__await_context(NULL, NULL);
    if (err) {
        /* A connection stopped anywhere in an exchange is in an unknown state. */
        *retry = t.reused && nothing && !body_used && stale_error(err) && idempotent(x->method);
        weft__conn_release(c, k, false);
        return err;
    }
    r->t_start = start;
    r->t.dns = t.dns;
    r->t.connect = t.connect;
    r->t.tls = t.tls;
    r->t.reused = t.reused;
    r->t.first_byte -= start;
    *out = r;
    return 0;
}

static int exchange(weft_http_client *c, const weft__exchange *x, weft_http_response **out) {
    bool retry = false;
    int err = attempt(c, x, false, out, &retry);
    /* Once only, on a fresh connection: a second failure is the server's. */
    if (err && retry) err = attempt(c, x, true, out, &retry);
    return err;
}

/* ------------------------------------------------------------- redirects */

static bool is_redirect(int status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* Moves x on to the response's Location. Returns 0, 1 when the redirect
 * cannot be followed (a body_fn body would have to be sent again: the 3xx
 * is the answer), or WEFT_EURL. */
static int redirect(weft__exchange *x, const weft_http_response *r) {
    int st = r->status;
    bool keep_method = st == 307 || st == 308;
    if (keep_method && x->send_body && x->req->body_fn) return 1;
    weft__url next;
    int err = weft__url_resolve(&next, &x->url, weft_http_response_header(r, "location"));
    if (err) return err;
    if (strcmp(next.origin, x->url.origin)) x->strip_credentials = true;
    weft__url_free(&x->url);
    x->url = next;
    if ((st == 303 && strcmp(x->method, "HEAD")) || ((st == 301 || st == 302) && !strcmp(x->method, "POST")))
        x->method = "GET";
    if (st == 303 || !strcmp(x->method, "GET")) x->send_body = false;
    return 0;
}

/* The request's URL: resolved against the base URL, with its query
 * parameters appended. */
static int first_url(weft_http_client *c, const weft_http_request *q, weft__url *u) {
    weft__url abs;
    int err = weft__url_resolve(&abs, c->base.buf ? &c->base : NULL, q->url);
    if (err || !q->query) {
        if (!err) *u = abs;
        return err;
    }
    size_t len = strlen(abs.href) + q->query_len + 2;
    char *s = weft__mem_alloc(c->mem, len);
    if (!s) err = WEFT_ENOMEM;
    else {
        snprintf(s, len, "%s%c%s", abs.href, strchr(abs.target, '?') ? '&' : '?', q->query);
        err = weft__url_parse(u, s);
        weft__mem_free(c->mem, s);
    }
    weft__url_free(&abs);
    return err;
}

int weft_http_send(weft_http_client *c, const weft_http_request *req, unsigned flags,
                   weft_http_response **out) {
    if (!c || !req || !out) return WEFT_EINVAL;
    weft__exchange x = { .req = req, .method = req->method, .send_body = req->has_body };
    int err = first_url(c, req, &x.url);
    weft_http_response *r = NULL;
    int64_t start = weft_now();
    for (unsigned hops = 0; !err; hops++) {
        err = exchange(c, &x, &r);
        if (err) break;
        if (!c->o.follow_redirects || !is_redirect(r->status) || !weft_http_response_header(r, "location"))
            break;
        if (hops == c->o.max_redirects) { err = WEFT_EREDIRECTS; break; }
        int rd = redirect(&x, r);
        if (rd == 1) break;
        if (rd < 0) { err = rd; break; }
        /* A small redirect body is read so its connection can serve the
         * next hop; a large one is not worth it. */
        weft__response_discard(r, 64 * 1024);
        weft_http_response_free(r);
        r = NULL;
    }
    weft__url_free(&x.url);
    if (!err) r->t_start = start;
    if (!err && !(flags & WEFT_HTTP_STREAM)) err = weft_http_response_body(r, NULL, NULL);
    if (err) {
        weft_http_response_free(r);
        return err;
    }
    *out = r;
    return 0;
}

/* ------------------------------------------------------------ shorthands */

int weft_http_get(weft_http_client *c, const char *url, weft_http_response **out) {
    weft_http_request *q;
    int err = weft_http_request_new(&q, "GET", url);
    if (err) return err;
    err = weft_http_send(c, q, 0, out);
    weft_http_request_free(q);
    return err;
}

int weft_http_getf(weft_http_client *c, weft_http_response **out, const char *fmt, ...) {
    if (!c || !out || !fmt) return WEFT_EINVAL;
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0) return WEFT_EINVAL;
    char *url = weft__mem_alloc(c->mem, (size_t)len + 1);
    if (!url) return WEFT_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(url, (size_t)len + 1, fmt, ap);
    va_end(ap);
    int err = weft_http_get(c, url, out);
    weft__mem_free(c->mem, url);
    return err;
}

int weft_http_post(weft_http_client *c, const char *url, const void *body, size_t len,
                   const char *content_type, weft_http_response **out) {
    weft_http_request *q;
    int err = weft_http_request_new(&q, "POST", url);
    if (err) return err;
    err = weft_http_request_set_body(q, body, len, content_type);
    if (!err) err = weft_http_send(c, q, 0, out);
    weft_http_request_free(q);
    return err;
}

int weft_http_post_json(weft_http_client *c, const char *url, const json_t *json,
                        weft_http_response **out) {
    weft_http_request *q;
    int err = weft_http_request_new(&q, "POST", url);
    if (err) return err;
    err = weft_http_request_set_json(q, json);
    if (!err) err = weft_http_send(c, q, 0, out);
    weft_http_request_free(q);
    return err;
}
