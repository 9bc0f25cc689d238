/* A handler's request and response on one HTTP/2 stream (see h2.h): what
 * exchange.c's public calls do when the exchange is a stream's. The body
 * read comes out of the bytes the session received for the stream, whose
 * window goes back to the client only as the handler reads (so a stream
 * holds at most a window of unread body). The response's head is
 * submitted to nghttp2 at once; its body goes through a buffer that the
 * session's data source frames as the client's flow control allows, and a
 * handler that writes faster than that waits: backpressure, as on
 * HTTP/1.1.
 */
#include "h2.h"
#include "timed.h"

#include <weft/http.h>

#include <ctype.h>
#include <string.h>

/* A stream's pending response body past which writes wait: a default
 * window (64 KiB), as the HTTP/1.1 response's own high-water mark. */
#define OUT_HIGH_WATER (64 * 1024)

static weft__mem mem_of(const weft__h2s *s) { return s->h->c->srv->mem; }

void weft__h2_kick(weft__h2 *h) { weft_event_set(&h->wake); }

int weft__h2buf_put(weft__mem m, h2buf *b, const void *p, size_t n) {
    if (!n) return 0;  /* an empty header value: nothing to copy, maybe nowhere yet */
    if (b->off && b->len + n > b->cap) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off, b->off = 0;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n) cap *= 2;
        char *q = weft__mem_grow(m, b->p, cap);
        if (!q) return WEFT_ENOMEM;
        b->p = q, b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static void buf_free(weft__mem m, h2buf *b) {
    weft__mem_free(m, b->p);
    *b = (h2buf){0};
}

void weft__h2s_free(weft__h2s *s) {
    weft__mem m = mem_of(s);
    /* Body bytes never read still count against the connection's window. */
    weft__h2s_consume(s, s->in.len - s->in.off);
    if (s->method) nghttp2_rcbuf_decref(s->method);
    if (s->path) nghttp2_rcbuf_decref(s->path);
    if (s->authority) nghttp2_rcbuf_decref(s->authority);
    buf_free(m, &s->head);
    buf_free(m, &s->cookie);
    buf_free(m, &s->in);
    buf_free(m, &s->out);
    weft__mem_free(m, s);
}

void weft__h2s_consume(weft__h2s *s, size_t n) {
    if (!n) return;
    /* A closed stream has no window left, its connection has. */
    if (s->closed) nghttp2_session_consume_connection(s->h->ss, n);
    else nghttp2_session_consume(s->h->ss, s->id, n);
    weft__h2_kick(s->h);
}

/* Waits for the stream's wake within `timeout` from now. */
static int wait_ev(weft__h2s *s, int64_t timeout) {
    weft_scope sc;
    weft__timed_begin(&sc, weft_deadline_after(timeout));
    int err = weft_event_wait(&s->ev);
    weft_event_clear(&s->ev);
    return (int)weft__timed_end(&sc, err, WEFT_ETIMEDOUT);
}

/* ------------------------------------------------------------- the body */

ssize_t weft__h2s_read(weft__h2s *s, void *buf, size_t len) {
    h2buf *b = &s->in;
    while (b->off == b->len && !s->in_end && !s->closed) {
        int err = wait_ev(s, s->h->c->srv->o.body_timeout);
        if (err) return err;
    }
    if (b->off == b->len) return s->in_end ? 0 : WEFT_EOF;
    size_t k = b->len - b->off < len ? b->len - b->off : len;
    memcpy(buf, b->p + b->off, k);
    b->off += k;
    if (b->off == b->len) b->off = b->len = 0;
    weft__h2s_consume(s, k);
    return (ssize_t)k;
}

/* ------------------------------------------------------------ responses */

/* The session's data source: frames the pending body, pauses when there
 * is none yet, ends the stream after the last byte. */
static ssize_t read_out(nghttp2_session *ss, int32_t id, uint8_t *buf, size_t len,
                        uint32_t *flags, nghttp2_data_source *src, void *ud) {
    (void)ss, (void)id, (void)ud;
    weft__h2s *s = src->ptr;
    h2buf *b = &s->out;
    size_t k = b->len - b->off < len ? b->len - b->off : len;
    memcpy(buf, b->p + b->off, k);
    b->off += k;
    if (b->off == b->len) b->off = b->len = 0;
    if (k) weft_event_set(&s->ev);  /* room for a waiting writer */
    if (s->out_end && !b->len) *flags |= NGHTTP2_DATA_FLAG_EOF;
    else if (!k) {
        s->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)k;
}

static void resume(weft__h2s *s) {
    if (s->deferred && !s->closed) {
        s->deferred = false;
        nghttp2_session_resume_data(s->h->ss, s->id);
    }
    weft__h2_kick(s->h);
}

#define NV(n, v, vl) (nghttp2_nv){ (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), \
                                   NGHTTP2_NV_FLAG_NO_COPY_NAME }

/* Header fields of HTTP/1.1 that HTTP/2 forbids (RFC 9113 8.2.2). */
static bool connection_specific(const char *name, size_t len) {
    static const char *const bad[] = { "keep-alive", "proxy-connection", "upgrade", "connection" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (strlen(bad[i]) == len && !strncmp(bad[i], name, len)) return true;
    return false;
}

/* The handler's header lines ("Name: value\r\n", checked when added) as
 * fields into nv, their names lowered in place (HTTP/2 wants them lower
 * case): how many. */
static size_t fields_of(char *p, size_t len, nghttp2_nv *nv) {
    size_t n = 0;
    for (char *end = p + len; p < end;) {
        char *colon = memchr(p, ':', (size_t)(end - p)), *eol = memchr(colon, '\r', (size_t)(end - colon));
        for (char *q = p; q < colon; q++) *q = (char)tolower((unsigned char)*q);
        char *v = colon + 2;
        if (!connection_specific(p, (size_t)(colon - p)))
            nv[n++] = (nghttp2_nv){ (uint8_t *)p, (uint8_t *)v, (size_t)(colon - p),
                                    (size_t)(eol - v), NGHTTP2_NV_FLAG_NONE };
        p = eol + 2;
    }
    return n;
}

/* Submits a head of `status` with the fields nv[0, n) (room for 4 more),
 * and a data source unless `end`. */
static int submit(weft__h2s *s, int status, nghttp2_nv *nv, size_t n, const char *clen, bool end) {
    if (s->closed) return WEFT_EOF;
    char st[4] = { (char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10),
                   (char)('0' + status % 10), 0 };
    nghttp2_nv head[4];
    size_t k = 0;
    head[k++] = NV(":status", st, 3);
    const char *date = weft__httpd_date(s->h->c->srv);
    head[k++] = NV("date", date, strlen(date));
    if (clen) head[k++] = NV("content-length", clen, strlen(clen));
    memmove(nv + k, nv, n * sizeof *nv);
    memcpy(nv, head, k * sizeof *nv);
    nghttp2_data_provider dp = { .source.ptr = s, .read_callback = read_out };
    if (end) s->out_end = true;
    int rv = nghttp2_submit_response(s->h->ss, s->id, nv, n + k, end ? NULL : &dp);
    weft__h2_kick(s->h);
    return rv ? WEFT_ENOMEM : 0;  /* the stream is open: only memory can fail */
}

int weft__h2s_head(weft__h2s *s, weft_httpd_res *w, bool whole, uint64_t len) {
    weft__mem m = mem_of(s);
    size_t lines = 0;
    for (size_t i = 0; i < w->hlen; i++) lines += w->hdrs[i] == '\n';
    nghttp2_nv *nv = weft__mem_alloc(m, (lines + 4) * sizeof *nv);
    char *copy = weft__mem_alloc(m, w->hlen + 1);
    int err = WEFT_ENOMEM;
    if (nv && copy) {
        if (w->hlen) memcpy(copy, w->hdrs, w->hlen);
        size_t n = fields_of(copy, w->hlen, nv);
        w->no_body = w->status == 204 || w->status == 304;
        char clen[24] = "";
        if (whole && !w->has_cl && !w->no_body) snprintf(clen, sizeof clen, "%llu", (unsigned long long)len);
        bool end = w->no_body || w->is_head || (whole && !len);
        err = submit(s, w->status, nv, n, clen[0] ? clen : NULL, end);
        if (!err) w->head_sent = true;
    }
    weft__mem_free(m, nv);
    weft__mem_free(m, copy);
    return err;
}

int weft__h2s_write(weft__h2s *s, const void *data, size_t len) {
    if (s->closed) return -EPIPE;
    int err = weft__h2buf_put(mem_of(s), &s->out, data, len);
    if (err) return err;
    resume(s);
    int64_t timeout = s->h->c->srv->o.send_timeout;
    while (!err && s->out.len - s->out.off > OUT_HIGH_WATER && !s->closed) err = wait_ev(s, timeout);
    return err ? err : s->closed ? -EPIPE : 0;
}

int weft__h2s_flush(weft__h2s *s, bool end) {
    if (end) {
        if (!s->out_end) s->out_end = true, resume(s);
        return 0;
    }
    resume(s);
    int err = 0;
    int64_t timeout = s->h->c->srv->o.send_timeout;
    while (!err && s->out.len > s->out.off && !s->closed) err = wait_ev(s, timeout);
    return err ? err : s->closed ? -EPIPE : 0;
}

void weft__h2s_respond(weft__h2s *s, int status, bool is_head) {
    const char *body = weft__httpd_error_body(status);
    char clen[24];
    snprintf(clen, sizeof clen, "%zu", strlen(body));
    static const char type[] = "text/plain; charset=utf-8";
    nghttp2_nv nv[5] = { NV("content-type", type, sizeof type - 1) };
    if (!is_head && weft__h2buf_put(mem_of(s), &s->out, body, strlen(body))) is_head = true;
    s->out_end = true;  /* the body is all there */
    submit(s, status, nv, 1, clen, is_head);
}

void weft__h2s_cut(weft__h2s *s) {
    if (!s->closed) nghttp2_submit_rst_stream(s->h->ss, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    weft__h2_kick(s->h);
}
