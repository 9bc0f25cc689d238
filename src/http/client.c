/* The HTTP client (weft/http.h): options, one request-response exchange
 * with its retry, redirects and the shorthands. It takes connections from
 * the pool (pool.c), writes the request (request.c) and reads the response
 * head (response.c); none of them calls back into this file.
 */
#include "client.h"
#include "core_iface.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (!weft__http_field_ok(line, nl, v, vl)) return WEFT_EINVAL;
    return weft__fields_add(c->mem, &c->hdrs, line, nl, v, vl);
}

/* "HOST:PORT:ADDRESS" as the field "host:port" = "address": the host
 * lower-cased and an IPv6 one without brackets (as URLs keep their hosts),
 * the port as a plain number, the address without brackets. */
static int add_resolve(weft_http_client *c, const char *e) {
    const char *h = e, *p1 = strchr(e, ':');
    if (e[0] == '[') {
        const char *rb = strchr(e, ']');
        p1 = rb && rb[1] == ':' ? rb + 1 : NULL;
        h = e + 1;
    }
    const char *p2 = p1 ? strchr(p1 + 1, ':') : NULL;
    size_t hl = p1 ? (size_t)(p1 - h) - (e[0] == '[') : 0;
    if (!p1 || !p2 || !hl || p2 == p1 + 1 || !p2[1]) return WEFT_EINVAL;
    char *end;
    unsigned long port = strtoul(p1 + 1, &end, 10);
    if (end != p2 || port == 0 || port > 65535) return WEFT_EINVAL;
    char key[300];
    int kl = snprintf(key, sizeof key, "%.*s:%lu", (int)hl, h, port);
    if (kl < 0 || (size_t)kl >= sizeof key) return WEFT_EINVAL;
    for (char *k = key; *k; k++) *k = (char)tolower((unsigned char)*k);
    const char *a = p2 + 1;
    size_t al = strlen(a);
    if (a[0] == '[' && al > 2 && a[al - 1] == ']') a++, al -= 2;
    return weft__fields_add(c->mem, &c->resolve, key, (size_t)kl, a, al);
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
    for (const char *const *e = o->resolve; !err && e && *e; e++) err = add_resolve(c, *e);
    if (err) return err;
    char ua[64];
    snprintf(ua, sizeof ua, "weft/%s", weft_version_string());
    const char *u = o->user_agent ? o->user_agent : ua;
    if (!weft__http_value_ok(u, strlen(u))) return WEFT_EINVAL;
    if (!(c->ua = weft__mem_strndup(c->mem, u, strlen(u)))) return WEFT_ENOMEM;
    if (o->http_version < WEFT_HTTP_VERSION_1_1 || o->http_version > WEFT_HTTP_VERSION_2)
        return WEFT_EINVAL;
    c->o.http_version = o->http_version;
    if ((err = copy_tls(c, &o->tls))) return err;
    /* HTTP/2 over TLS is asked for by ALPN (RFC 9113 3.2), unless the
     * caller chose the protocols. */
    if (!c->tls_opts.alpn && c->o.http_version)
        c->tls_opts.alpn = c->o.http_version == WEFT_HTTP_VERSION_2 ? "h2" : "h2,http/1.1";
    return 0;
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
    weft__leak_watch(&c->trk, "HTTP client", "weft_http_client_free", c);
    *out = c;
    return 0;
}

void weft_http_client_free(weft_http_client *c) {
    if (!c) return;
    weft__leak_unwatch(&c->trk);
    weft__pool_close(c);
    weft__url_free(&c->base);
    weft__fields_free(c->mem, &c->hdrs);
    weft__fields_free(c->mem, &c->resolve);
    weft_tls_ctx_free(c->tls);
    weft__mem_free(c->mem, c->tls_strings);
    weft__mem_free(c->mem, c->ua);
    weft__mem_free(c->mem, c);
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

/* One request and its response head on k: over HTTP/2 a stream of the
 * shared connection, which carries on whatever befalls the stream; over
 * HTTP/1.1 the connection itself, which an exchange stopped anywhere
 * leaves in an unknown state, so it is closed. */
static int send_on(weft_http_client *c, weft__conn *k, const weft__exchange *x,
                   weft_http_response **r, bool *nothing, bool *body_used, bool *refused) {
    if (k->h2) {
        struct weft__h2s *st;
        int err = weft__h2_exchange(c, k, x, &st, refused, nothing, body_used);
        return err ? err : weft__response_h2(c, st, x, r);
    }
    k->owner = NULL;
    int err = weft__request_write(c, k->s, x, body_used);
    if (!err) err = weft__response_read_head(c, k, x, r, nothing);
    if (err) weft__pool_release(c, k, false);
    return err;
}

static int attempt(weft_http_client *c, const weft__exchange *x, bool fresh,
                   weft_http_response **out, bool *retry) {
    weft_http_timings t = { 0 };
    int64_t start = weft_now();
    weft__conn *k;
    int err = weft__pool_get(c, &x->url, fresh, &k, &t);
    if (err) return err;
    bool body_used = false, nothing = true, refused = false;
    weft_http_response *r = NULL;
    weft__await_context("HTTP response from", weft__origin_host(k->origin));
    err = send_on(c, k, x, &r, &nothing, &body_used, &refused);
    weft__await_context(NULL, NULL);
    if (err) {
        *retry = !body_used && (refused || (t.reused && nothing && stale_error(err) && idempotent(x->method)));
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
    weft__exchange x = { .req = req, .method = req->method, .send_body = req->has_body,
                         .raw = flags & WEFT_HTTP_RAW };
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
