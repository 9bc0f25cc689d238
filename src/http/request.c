/* Requests of the HTTP client: the request object (weft/http.h) and the
 * bytes that go on the wire for it, head and body.
 *
 * The head is assembled in one buffer and appended to the stream with one
 * write; a fixed body follows in the same drain. A body_fn body is pulled
 * piece by piece, each piece drained before the next is asked for, so
 * memory stays bounded whatever the body's size.
 */
#include "client.h"
#include "timed.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- fields */

int weft__fields_add(weft__mem m, weft__fields *f, const char *name, size_t nlen,
                     const char *value, size_t vlen) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 8;
        weft__field *v = weft__mem_grow(m, f->v, cap * sizeof *v);
        if (!v) return WEFT_ENOMEM;
        f->v = v;
        f->cap = cap;
    }
    char *b = weft__mem_alloc(m, nlen + vlen + 2);
    if (!b) return WEFT_ENOMEM;
    memcpy(b, name, nlen);
    b[nlen] = 0;
    memcpy(b + nlen + 1, value, vlen);
    b[nlen + 1 + vlen] = 0;
    f->v[f->n++] = (weft__field){ b, b + nlen + 1 };
    return 0;
}

void weft__fields_free(weft__mem m, weft__fields *f) {
    for (size_t i = 0; i < f->n; i++) weft__mem_free(m, f->v[i].name);
    weft__mem_free(m, f->v);
    memset(f, 0, sizeof *f);
}

const char *weft__fields_get(const weft__fields *f, const char *name) {
    for (size_t i = 0; i < f->n; i++) if (!strcasecmp(f->v[i].name, name)) return f->v[i].value;
    return NULL;
}

bool weft__fields_has(const weft__fields *f, const char *name) { return weft__fields_get(f, name); }

/* Drops every field called `name`. */
static void fields_drop(weft__mem m, weft__fields *f, const char *name) {
    size_t keep = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (!strcasecmp(f->v[i].name, name)) weft__mem_free(m, f->v[i].name);
        else f->v[keep++] = f->v[i];
    }
    f->n = keep;
}

/* -------------------------------------------------------------- requests */

int weft_http_request_new(weft_http_request **out, const char *method, const char *url) {
    if (!out || !method || !url || !weft__http_token_ok(method, strlen(method))) return WEFT_EINVAL;
    weft__mem m = weft__mem_here();
    weft_http_request *r = weft__mem_alloc(m, sizeof *r);
    if (!r) return WEFT_ENOMEM;
    memset(r, 0, sizeof *r);
    r->mem = m;
    r->method = weft__mem_strndup(m, method, strlen(method));
    r->url = weft__mem_strndup(m, url, strlen(url));
    if (!r->method || !r->url) {
        weft_http_request_free(r);
        return WEFT_ENOMEM;
    }
    *out = r;
    return 0;
}

void weft_http_request_free(weft_http_request *r) {
    if (!r) return;
    weft__mem m = r->mem;
    weft__fields_free(m, &r->hdrs);
    weft__fields_free(m, &r->omit);
    weft__mem_free(m, r->method);
    weft__mem_free(m, r->url);
    weft__mem_free(m, r->query);
    weft__mem_free(m, r->body);
    weft__mem_free(m, r);
}

int weft_http_request_add_header(weft_http_request *r, const char *name, const char *value) {
    if (!r || !name || !value || !weft__http_field_ok(name, strlen(name), value, strlen(value)))
        return WEFT_EINVAL;
    return weft__fields_add(r->mem, &r->hdrs, name, strlen(name), value, strlen(value));
}

/* The framing headers are the client's to write: a caller's would
 * contradict the body actually sent. */
static bool is_framing(const char *name) {
    return !strcasecmp(name, "content-length") || !strcasecmp(name, "transfer-encoding") ||
           !strcasecmp(name, "host");
}

int weft_http_request_remove_header(weft_http_request *r, const char *name) {
    if (!r || !name || !weft__http_token_ok(name, strlen(name)) || is_framing(name)) return WEFT_EINVAL;
    if (!weft__fields_has(&r->omit, name)) {
        int err = weft__fields_add(r->mem, &r->omit, name, strlen(name), "", 0);
        if (err) return err;
    }
    fields_drop(r->mem, &r->hdrs, name);
    return 0;
}

int weft_http_request_on_head(weft_http_request *r, weft_http_head_fn fn, void *ud) {
    if (!r) return WEFT_EINVAL;
    r->on_head = fn;
    r->head_ud = ud;
    return 0;
}

int weft_http_request_add_query(weft_http_request *r, const char *name, const char *value) {
    if (!r || !name || !value) return WEFT_EINVAL;
    size_t nl = strlen(name), vl = strlen(value);
    size_t add = weft__url_encoded_len(name, nl) + 1 + weft__url_encoded_len(value, vl);
    size_t len = r->query_len + (r->query_len ? 1 : 0) + add;
    char *q = weft__mem_grow(r->mem, r->query, len + 1);
    if (!q) return WEFT_ENOMEM;
    char *w = q + r->query_len;
    if (r->query_len) *w++ = '&';
    w += weft__url_encode(w, name, nl);
    *w++ = '=';
    w += weft__url_encode(w, value, vl);
    *w = 0;
    r->query = q;
    r->query_len = len;
    return 0;
}

/* Replaces the body and its Content-Type; all or nothing: the new type is
 * added first, and only then are the older ones dropped. */
static int set_body(weft_http_request *r, char *copy, size_t len, const char *ctype) {
    if (ctype) {
        if (!weft__http_value_ok(ctype, strlen(ctype))) return WEFT_EINVAL;
        int err = weft__fields_add(r->mem, &r->hdrs, "Content-Type", 12, ctype, strlen(ctype));
        if (err) return err;
        size_t keep = 0;
        for (size_t i = 0; i < r->hdrs.n; i++) {
            if (i + 1 < r->hdrs.n && !strcasecmp(r->hdrs.v[i].name, "content-type"))
                weft__mem_free(r->mem, r->hdrs.v[i].name);
            else
                r->hdrs.v[keep++] = r->hdrs.v[i];
        }
        r->hdrs.n = keep;
    }
    weft__mem_free(r->mem, r->body);
    r->body = copy;
    r->body_len = len;
    r->has_body = true;
    r->body_fn = NULL;
    return 0;
}

int weft_http_request_set_body(weft_http_request *r, const void *data, size_t len,
                               const char *content_type) {
    if (!r || (!data && len)) return WEFT_EINVAL;
    char *copy = weft__mem_alloc(r->mem, len);
    if (!copy) return WEFT_ENOMEM;
    if (len) memcpy(copy, data, len);
    int err = set_body(r, copy, len, content_type);
    if (err) weft__mem_free(r->mem, copy);
    return err;
}

int weft_http_request_set_json(weft_http_request *r, const json_t *json) {
    if (!r || !json) return WEFT_EINVAL;
    char *s = json_dumps(json, JSON_COMPACT);
    if (!s) return WEFT_EINVAL;
    int err = weft_http_request_set_body(r, s, strlen(s), "application/json");
    free(s);   /* jansson's allocation */
    return err;
}

int weft_http_request_set_body_fn(weft_http_request *r, weft_http_body_fn fn, void *ud,
                                  int64_t length, const char *content_type) {
    if (!r || !fn) return WEFT_EINVAL;
    int err = set_body(r, NULL, 0, content_type);
    if (err) return err;
    r->body_fn = fn;
    r->body_ud = ud;
    r->body_length = length < 0 ? -1 : length;
    return 0;
}

/* ------------------------------------------------------------- the head */

typedef struct sbuf {
    weft__mem m;
    char *p;
    size_t len, cap;
    int err;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->err) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = weft__mem_grow(b->m, b->p, cap);
        if (!p) { b->err = WEFT_ENOMEM; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}
static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }
static void sb_field(sbuf *b, const char *name, const char *value) {
    sb_str(b, name);
    sb_add(b, ": ", 2);
    sb_str(b, value);
    sb_add(b, "\r\n", 2);
}

static bool is_credential(const char *name) {
    return !strcasecmp(name, "authorization") || !strcasecmp(name, "cookie") ||
           !strcasecmp(name, "proxy-authorization");
}

static void add_fields(sbuf *b, const weft__fields *f, const weft__fields *over,
                       const weft__exchange *x) {
    for (size_t i = 0; i < f->n; i++) {
        const char *n = f->v[i].name;
        if (is_framing(n) || (over && weft__fields_has(over, n))) continue;
        if (over && weft__fields_has(&x->req->omit, n)) continue;   /* defaults only */
        if (x->strip_credentials && is_credential(n)) continue;
        if (x->req->has_body && !x->send_body && !strcasecmp(n, "content-type")) continue;
        sb_field(b, n, f->v[i].value);
    }
}

static int build_head(weft_http_client *c, const weft__exchange *x, sbuf *b) {
    const weft_http_request *q = x->req;
    sb_str(b, x->method);
    sb_add(b, " ", 1);
    sb_str(b, x->url.target);
    sb_str(b, " HTTP/1.1\r\nHost: ");
    /* The Host header carries the port only when it is not the default. */
    const char *h = strstr(x->url.href, "://") + 3;
    sb_add(b, h, strcspn(h, "/"));
    sb_add(b, "\r\n", 2);
    const weft__fields *rh = &q->hdrs;
    static const char *const own[][2] = { { "User-Agent", NULL }, { "Accept", "*/*" },
                                           { "Accept-Encoding", "gzip, deflate" } };
    for (size_t i = 0; i < 3; i++) {
        const char *n = own[i][0];
        if (!weft__fields_has(rh, n) && !weft__fields_has(&c->hdrs, n) && !weft__fields_has(&q->omit, n))
            sb_field(b, n, own[i][1] ? own[i][1] : c->ua);
    }
    add_fields(b, &c->hdrs, rh, x);   /* defaults the request does not override */
    add_fields(b, rh, NULL, x);
    char num[32];
    if (x->send_body && q->body_fn && q->body_length < 0) {
        sb_field(b, "Transfer-Encoding", "chunked");
    } else if (x->send_body) {
        snprintf(num, sizeof num, "%lld", (long long)(q->body_fn ? q->body_length : (int64_t)q->body_len));
        sb_field(b, "Content-Length", num);
    } else if (!strcmp(x->method, "POST") || !strcmp(x->method, "PUT") || !strcmp(x->method, "PATCH")) {
        sb_field(b, "Content-Length", "0");   /* RFC 9110 9.3.3: say there is none */
    }
    sb_add(b, "\r\n", 2);
    return b->err;
}

/* ------------------------------------------------------------- the body */

static int drain(weft_http_client *c, weft_stream *s) {
    weft_scope sc;
    weft__timed_begin(&sc, weft_deadline_after(c->o.write_timeout));
    int err = weft_stream_drain(s);
    return (int)weft__timed_end(&sc, err, WEFT_EWRITETIMEOUT);
}

static int write_body_fn(weft_http_client *c, weft_stream *s, const weft_http_request *q) {
    enum { PIECE = 16 * 1024 };
    char *buf = weft__mem_alloc(c->mem, PIECE);
    if (!buf) return WEFT_ENOMEM;
    bool chunked = q->body_length < 0;
    uint64_t sent = 0;
    int err = 0;
    for (;;) {
        ssize_t n = q->body_fn(q->body_ud, buf, PIECE);
        if (n < 0) { err = (int)n; break; }
        if (n == 0) break;
        if (!chunked && sent + (uint64_t)n > (uint64_t)q->body_length) { err = WEFT_EINVAL; break; }
        sent += (uint64_t)n;
        char line[24];
        int ll = snprintf(line, sizeof line, "%zx\r\n", (size_t)n);
        if (chunked) err = weft_stream_write(s, line, (size_t)ll);
        if (!err) err = weft_stream_write(s, buf, (size_t)n);
        if (!err && chunked) err = weft_stream_write(s, "\r\n", 2);
        if (!err) err = drain(c, s);
        if (err) break;
    }
    weft__mem_free(c->mem, buf);
    /* A body shorter than its announced length would leave the peer waiting:
     * the request is broken, and the connection with it. */
    if (!err && !chunked && sent != (uint64_t)q->body_length) err = WEFT_EINVAL;
    if (!err && chunked) err = weft_stream_write(s, "0\r\n\r\n", 5);
    if (!err) err = drain(c, s);
    return err;
}

int weft__request_head(weft_http_client *c, const weft__exchange *x, char **head, size_t *len) {
    sbuf b = { .m = c->mem };
    int err = build_head(c, x, &b);
    if (err) {
        weft__mem_free(c->mem, b.p);
        return err;
    }
    *head = b.p;
    *len = b.len;
    return 0;
}

int weft__request_write(weft_http_client *c, weft_stream *s, const weft__exchange *x,
                        bool *body_used) {
    sbuf b = { .m = c->mem };
    int err = weft__request_head(c, x, &b.p, &b.len);
    if (!err) weft__request_show(x->req, WEFT_HTTP_HEAD_SENT, b.p, b.len);
    if (!err) err = weft_stream_write(s, b.p, b.len);
    weft__mem_free(c->mem, b.p);
    if (!err && x->send_body && !x->req->body_fn && x->req->body_len)
        err = weft_stream_write(s, x->req->body, x->req->body_len);
    if (!err) err = drain(c, s);
    if (!err && x->send_body && x->req->body_fn) {
        *body_used = true;
        err = write_body_fn(c, s, x->req);
    }
    return err;
}
