/* One request and its response (include/weft/httpd.h's request and
 * response sections): the head's copy that the accessors read, the body
 * reader (Content-Length or chunked, 100-continue sent on the first read),
 * the response writer (framing chosen when the head goes out), and what
 * happens after the handler: finishing the response, draining a small
 * unread body so that the connection can carry the next request.
 */
#include "h2.h"
#include "timed.h"

#include <weft/http.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Unread body the server reads and drops after a handler to keep the
 * connection (Go's net/http drains up to 256 KiB; nginx discards any size
 * within its timeouts); more than this and closing is cheaper. */
#define DRAIN_MAX (64 * 1024)
/* A streamed response flushes itself once this much waits to be sent: the
 * stream's own read limit, so a connection holds at most ~64 KiB each way. */
#define WRITE_HIGH_WATER (64 * 1024)

static weft__httpd_exchange *of_req(const weft_httpd_req *r) {
    return (weft__httpd_exchange *)(void *)r;  /* req is the first member */
}

/* The server's allocator, which everything an exchange holds comes from. */
static weft__mem mem_of(const weft__httpd_conn *c) { return c->srv->mem; }

/* ------------------------------------------------------------- the head */

/* Ends a view with a NUL in the copy: the byte after each view is a
 * separator (space, colon, CR, or trailing whitespace), never content. */
static const char *terminate(const char *p, size_t len) {
    if (!len) return "";
    ((char *)p)[len] = 0;
    return p;
}

/* The view p of `from` (len bytes), moved onto the copy `to`, and ended. */
static const char *moved(const char *p, size_t plen, const char *from, char *to) {
    if (!plen) return "";
    return terminate(to + ((uintptr_t)p - (uintptr_t)from), plen);
}

static void setup_body(weft_httpd_req *r) {
    httpd_body *b = &r->b;
    if (r->h.body == WEFT__BODY_LENGTH) b->left = r->h.content_length;
    b->max = r->c->srv->o.max_body;
    b->done = r->h.body == WEFT__BODY_NONE || (r->h.body == WEFT__BODY_LENGTH && !b->left);
    b->continue_due = r->h.expect_continue && r->h.minor == 1 && !b->done;
}

/* The path, its segments and the query out of the target, into `room`
 * (2 * (target_len + 1) bytes). An absolute-form target's path follows
 * its authority, which goes to room too, as the request's host ("/" when
 * the path is empty: "http://a" and "http://a/" are one URI). */
static void split_target(weft_httpd_req *r, char *room) {
    const char *t = r->h.target, *auth;
    size_t tlen = r->h.target_len, alen = t[0] == '/' ? 0 : weft__http_authority(t, tlen, &auth);
    if (alen) tlen -= (size_t)(auth + alen - t), t = auth + alen;
    const char *q = memchr(t, '?', tlen);
    r->path_len = q ? (size_t)(q - t) : tlen;
    r->query = q ? q + 1 : "";
    char *path = room;
    memcpy(path, r->path_len ? t : "/", r->path_len ? r->path_len : 1);
    if (!r->path_len) r->path_len = 1;
    path[r->path_len] = 0;
    r->path = path;
    r->segs = path + r->path_len + 1;
    memcpy(r->segs, path, r->path_len + 1);
    for (char *p = r->segs; *p; p++) if (*p == '/') *p = 0;
    if (alen) {
        /* Fits: the path is at least alen + 7 bytes shorter than the target. */
        char *host = r->segs + r->path_len + 1;
        memcpy(host, auth, alen);
        host[alen] = 0;
        r->host = host;
    }
}

/* One block: the exchange, exactly h's header fields (parsed into the
 * server's scratch array, so an exchange holds no room for the hundred a
 * head may have), and a copy of the head out of the stream's buffer (which
 * the body's reads will move), every view moved into it: no second parse. */
weft__httpd_exchange *weft__httpd_exchange_new(weft__httpd_conn *c, const weft__http_head *h,
                                               const char *head, size_t len) {
    size_t n = h->nhdrs, tlen = h->target_len;
    size_t xsize = sizeof(weft__httpd_exchange) + n * sizeof(weft__hdr);
    weft__httpd_exchange *x = weft__mem_alloc(mem_of(c), xsize + len + 2 * (tlen + 1) + 1);
    if (!x) return NULL;
    memset(x, 0, sizeof *x);
    weft_httpd_req *r = &x->req;
    r->c = c;
    x->res.c = c;
    x->res.req = r;
    x->res.status = 200;
    char *buf = (char *)x + xsize;
    memcpy(buf, head, len);
    buf[len] = 0;
    r->h = *h;
    r->h.hdrs = x->hdrs;
    r->h.hdrs_cap = n;
    r->h.method = moved(h->method, h->method_len, head, buf);
    r->h.target = moved(h->target, tlen, head, buf);
    for (size_t i = 0; i < n; i++) {
        const weft__hdr *f = &h->hdrs[i];
        x->hdrs[i] = (weft__hdr){ moved(f->name, f->name_len, head, buf),
                                  moved(f->value, f->value_len, head, buf),
                                  f->name_len, f->value_len };
    }
    split_target(r, buf + len + 1);
    setup_body(r);
    return x;
}

void weft__httpd_exchange_free(weft__httpd_exchange *x) {
    weft__mem m = mem_of(x->req.c);
    weft__mem_free(m, x->req.b.whole);
    if (x->res.hdrs != x->res.hbuf) weft__mem_free(m, x->res.hdrs);
    weft__mem_free(m, x);
}

/* ------------------------------------------------------- request access */

const char *weft_httpd_req_method(const weft_httpd_req *r) { return r->h.method; }
const char *weft_httpd_req_target(const weft_httpd_req *r) { return r->h.target; }
const char *weft_httpd_req_path(const weft_httpd_req *r) { return r->path; }
const char *weft_httpd_req_host(const weft_httpd_req *r) {
    return r->host ? r->host : weft_httpd_req_header(r, "Host");
}
const char *weft_httpd_req_query(const weft_httpd_req *r) { return r->query; }
int weft_httpd_req_version(const weft_httpd_req *r) { return r->h2 ? 2 : r->h.minor; }
size_t weft_httpd_req_header_count(const weft_httpd_req *r) { return r->h.nhdrs; }

const char *weft_httpd_req_header(const weft_httpd_req *r, const char *name) {
    for (size_t i = 0; i < r->h.nhdrs; i++)
        if (!strcasecmp(r->h.hdrs[i].name, name)) return r->h.hdrs[i].value;
    return NULL;
}

int weft_httpd_req_header_at(const weft_httpd_req *r, size_t i, const char **name,
                             const char **value) {
    if (i >= r->h.nhdrs) return WEFT_EINVAL;
    if (name) *name = r->h.hdrs[i].name;
    if (value) *value = r->h.hdrs[i].value;
    return 0;
}

const char *weft_httpd_req_param(const weft_httpd_req *r, const char *name) {
    for (size_t i = 0; i < r->nparams; i++)
        if (!strcmp(r->pname[i], name)) return r->pval[i];
    return NULL;
}

const struct sockaddr *weft_httpd_req_peer(const weft_httpd_req *r, socklen_t *len) {
    if (len) *len = r->c->peer_len;
    return (const struct sockaddr *)&r->c->peer;
}

/* ------------------------------------------------------------- the body */

/* Peeks at least `want` body bytes within body_timeout. */
static ssize_t body_peek(weft_httpd_req *r, size_t want, const void **data) {
    weft_scope sc;
    weft__timed_begin(&sc, weft_deadline_after(r->c->srv->o.body_timeout));
    ssize_t n = weft_stream_peek(r->c->st, want, data);
    return weft__timed_end(&sc, n, WEFT_ETIMEDOUT);
}

/* The client waits for our go-ahead before sending the body (RFC 9110
 * 10.1.1): given on the first read, so a handler that answers without
 * reading never makes the client send it. Not once the response started. */
static int send_continue(weft_httpd_req *r) {
    r->b.continue_due = false;
    if (of_req(r)->res.head_sent) return 0;
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    int err = weft_stream_write(r->c->st, line, sizeof line - 1);
    return err ? err : weft__httpd_drain(r->c);
}

static ssize_t read_length(weft_httpd_req *r, void *buf, size_t len) {
    const void *data;
    ssize_t n = body_peek(r, 1, &data);
    if (n < 0) return n;
    size_t k = (size_t)n < len ? (size_t)n : len;
    if (k > r->b.left) k = (size_t)r->b.left;
    memcpy(buf, data, k);
    weft_stream_consume(r->c->st, k);
    r->b.left -= k;
    r->b.done = !r->b.left;
    return (ssize_t)k;
}

static ssize_t read_chunked(weft_httpd_req *r, void *buf, size_t len) {
    httpd_body *b = &r->b;
    for (size_t want = 1;;) {
        const void *data;
        ssize_t n = body_peek(r, want, &data);
        if (n < 0) return n;
        const char *run;
        size_t rlen;
        ssize_t used = weft__chunked_step(&b->ch, data, (size_t)n, len, &run, &rlen);
        if (used < 0) return WEFT_EHTTP;
        if (rlen) memcpy(buf, run, rlen);
        weft_stream_consume(r->c->st, (size_t)used);
        if (rlen) return (ssize_t)rlen;
        if (b->ch.done) { b->done = true; return 0; }
        want = used ? 1 : (size_t)n + 1;
    }
}

/* Reads body bytes; an error sticks and makes the connection close. */
static ssize_t body_read(weft_httpd_req *r, void *buf, size_t len) {
    httpd_body *b = &r->b;
    if (b->failed) return b->failed;
    if (b->done || !len) return 0;
    /* Refused before a byte is read, and before the client is told to send. */
    bool too_big = r->h.body == WEFT__BODY_LENGTH && r->h.content_length > b->max;
    ssize_t n = too_big ? WEFT_ETOOBIG : b->continue_due ? send_continue(r) : 0;
    if (!n && r->h2) {
        n = weft__h2s_read(r->h2, buf, len);
        b->done = n == 0;
    } else if (!n) {
        n = r->h.body == WEFT__BODY_CHUNKED ? read_chunked(r, buf, len) : read_length(r, buf, len);
    }
    if (n > 0 && (b->got += (uint64_t)n) > b->max) n = WEFT_ETOOBIG;
    if (n == WEFT_EOF || (n == 0 && !b->done)) n = WEFT_EOF;
    if (n < 0 && n != WEFT_ECANCELED) {
        b->failed = (int)n;
        r->c->closing = true;
    }
    return n;
}

int weft_httpd_req_set_max_body(weft_httpd_req *r, uint64_t max) {
    if (r->b.got || r->b.whole || r->b.failed) return WEFT_EINVAL;
    r->b.max = max;
    return 0;
}

ssize_t weft_httpd_req_read(weft_httpd_req *r, void *buf, size_t len) {
    if (r->b.whole) return WEFT_EINVAL;
    ssize_t n = body_read(r, buf, len);
    if (n > 0) r->b.streamed = true;
    return n;
}

/* Grows the whole-body buffer to hold `need` bytes. */
static int whole_reserve(weft_httpd_req *r, size_t *cap, size_t need) {
    httpd_body *b = &r->b;
    if (need <= *cap) return 0;
    size_t ncap = *cap ? *cap : 4096;
    while (ncap < need) ncap *= 2;
    char *p = weft__mem_grow(mem_of(r->c), b->whole, ncap);
    if (!p) return WEFT_ENOMEM;
    b->whole = p;
    *cap = ncap;
    return 0;
}

int weft_httpd_req_body(weft_httpd_req *r, const void **data, size_t *len) {
    httpd_body *b = &r->b;
    if (b->streamed) return WEFT_EINVAL;
    size_t cap = 0, max = b->max > SIZE_MAX - 1 ? SIZE_MAX - 1 : (size_t)b->max;
    if (!b->whole) {
        /* A Content-Length (if within max, else body_read refuses it) is
         * allocated at once; a chunked body grows by doubling. */
        bool sized = r->h.body == WEFT__BODY_LENGTH && r->h.content_length <= b->max;
        int err = whole_reserve(r, &cap, sized ? (size_t)b->left + 1 : 1);
        while (!err && !b->done) {
            if (!(err = whole_reserve(r, &cap, b->whole_len + (sized ? 1 : 1024)))) {
                size_t room = cap - b->whole_len - 1;
                if (max - b->whole_len < room) room = max - b->whole_len + 1;
                ssize_t n = body_read(r, b->whole + b->whole_len, room);
                if (n < 0) err = (int)n;
                else b->whole_len += (size_t)n;
            }
        }
        if (err) return err;
        b->whole[b->whole_len] = 0;
    }
    *data = b->whole;
    *len = b->whole_len;
    return 0;
}

/* Reads and drops an unread body of at most DRAIN_MAX bytes after the
 * handler. 0 if the connection can go on. */
static int discard_body(weft_httpd_req *r) {
    if (r->b.done) return 0;
    if (r->b.continue_due) return -1;  /* the client never sent it */
    char buf[1024];
    for (size_t total = 0; total <= DRAIN_MAX;) {
        ssize_t n = body_read(r, buf, sizeof buf);
        if (n <= 0) return n == 0 ? 0 : -1;
        total += (size_t)n;
    }
    return -1;
}

/* ------------------------------------------------------------ responses */

static bool parse_u64(const char *s, uint64_t *out) {
    uint64_t v = 0;
    if (!*s) return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

int weft_httpd_res_status(weft_httpd_res *w, int status) {
    if (w->head_sent || status < 200 || status > 999) return WEFT_EINVAL;
    w->status = status;
    return 0;
}

/* Heads are put together with memcpy, not printf: printf's machinery was a
 * third of the instructions of a small response (callgrind). */
static char *put(char *p, const char *s, size_t n) {
    memcpy(p, s, n);
    return p + n;
}
#define PUT(p, lit) put(p, lit, sizeof lit - 1)

static char *put_u64(char *p, uint64_t v, unsigned base) {
    char tmp[24];
    size_t i = sizeof tmp;
    do tmp[--i] = "0123456789abcdef"[v % base]; while (v /= base);
    return put(p, tmp + i, sizeof tmp - i);
}

/* The handler's header lines go to the response's own small buffer first,
 * to the heap only past it. */
static int append_hdr(weft_httpd_res *w, const char *name, const char *value) {
    size_t nl = strlen(name), vl = strlen(value), need = w->hlen + nl + vl + 4;
    if (!w->hdrs) w->hdrs = w->hbuf, w->hcap = sizeof w->hbuf;
    if (need > w->hcap) {
        size_t cap = w->hcap * 2;
        while (cap < need) cap *= 2;
        char *p = w->hdrs == w->hbuf ? weft__mem_alloc(mem_of(w->c), cap)
                                     : weft__mem_grow(mem_of(w->c), w->hdrs, cap);
        if (!p) return WEFT_ENOMEM;
        if (w->hdrs == w->hbuf) memcpy(p, w->hbuf, w->hlen);
        w->hdrs = p;
        w->hcap = cap;
    }
    char *e = put(w->hdrs + w->hlen, name, nl);
    e = PUT(e, ": ");
    e = put(e, value, vl);
    e = PUT(e, "\r\n");
    w->hlen = (size_t)(e - w->hdrs);
    return 0;
}

int weft_httpd_res_header(weft_httpd_res *w, const char *name, const char *value) {
    if (w->head_sent || !name || !value || !weft__http_field_ok(name, strlen(name), value, strlen(value)))
        return WEFT_EINVAL;
    if (!strcasecmp(name, "transfer-encoding")) return WEFT_EINVAL;
    if (!strcasecmp(name, "connection")) {
        /* The server owns Connection; "close" is the one wish it takes. */
        if (strstr(value, "close") || strstr(value, "Close")) w->c->closing = true;
        return 0;
    }
    uint64_t cl = 0;
    bool is_cl = !strcasecmp(name, "content-length");
    if (is_cl && (w->has_cl || !parse_u64(value, &cl))) return WEFT_EINVAL;
    int err = append_hdr(w, name, value);
    if (err) return err;
    if (is_cl) w->has_cl = true, w->cl = cl;
    if (!strcasecmp(name, "date")) w->has_date = true;
    return 0;
}

/* Whether the connection can carry another request after this response:
 * decided when the head goes out, so that it can say so. */
static void decide_close(weft_httpd_res *w) {
    weft__httpd_conn *c = w->c;
    weft_httpd_req *r = w->req;
    if (!r->h.keep_alive || c->srv->stopping || c->nreq >= c->srv->o.max_requests)
        c->closing = true;
    if (!r->b.done && (r->b.continue_due ||
                       (r->h.body == WEFT__BODY_LENGTH && r->b.left > DRAIN_MAX)))
        c->closing = true;
}

enum { HEAD_WHOLE, HEAD_STREAM };

/* The framing header for `mode` (WHOLE: a Content-Length of `len`; STREAM:
 * the one set, else chunked, else for HTTP/1.0 none, the close ending the
 * body) into tail; returns its length. */
static char *framing(weft_httpd_res *w, int mode, uint64_t len, char *tail) {
    if (w->no_body || w->has_cl) return tail;
    if (mode == HEAD_WHOLE) return PUT(put_u64(PUT(tail, "Content-Length: "), len, 10), "\r\n");
    if (w->req->h.minor == 1) {
        w->chunked = !w->is_head;
        return PUT(tail, "Transfer-Encoding: chunked\r\n");
    }
    if (!w->is_head) w->c->closing = true;
    return tail;
}

/* Before a response starts while a chunked request body is not all read:
 * the framing of the part already here is checked, nothing consumed. A
 * malformed body is then answered 400, as the bad message it is, rather
 * than with what the handler meant for a good one (a 404 sent before
 * anyone looked at the body leaves the error unseen; nginx too reads what
 * came of a body before it answers). Bytes still on their way are not
 * waited for: a handler may answer before a body comes. Returns 0 or
 * WEFT_EHTTP, which then sticks as a body read's would. */
static int check_unread_body(weft_httpd_req *r) {
    httpd_body *b = &r->b;
    if (b->failed) return 0;
    const void *data;
    ssize_t n = weft_stream_peek(r->c->st, 0, &data);
    weft__chunked ch = b->ch;
    for (const char *p = data; n > 0 && !ch.done;) {
        const char *run;
        size_t rlen;
        ssize_t used = weft__chunked_step(&ch, p, (size_t)n, SIZE_MAX, &run, &rlen);
        if (used == 0) break;
        if (used < 0) {
            b->failed = WEFT_EHTTP;
            r->c->closing = true;
            return WEFT_EHTTP;
        }
        p += used, n -= used;
    }
    return 0;
}

/* Queues the status line and headers, with the framing `mode` picks. */
static int send_head(weft_httpd_res *w, int mode, uint64_t len) {
    if (w->req->h2) return weft__h2s_head(w->req->h2, w, mode == HEAD_WHOLE, len);
    char line[160], tail[96];
    bool unread_chunks = w->req->h.body == WEFT__BODY_CHUNKED && !w->req->b.done;
    int err = unread_chunks ? check_unread_body(w->req) : 0;
    if (err) return err;
    w->no_body = w->status < 200 || w->status == 204 || w->status == 304;
    const char *reason = weft_http_reason(w->status);
    size_t rl = strnlen(reason, 64);
    char *e = put(put_u64(PUT(line, "HTTP/1.1 "), (uint64_t)w->status, 10), " ", 1);
    e = PUT(put(e, reason, rl), "\r\n");
    if (!w->has_date) {
        const char *date = weft__httpd_date(w->c->srv);
        e = PUT(put(PUT(e, "Date: "), date, strnlen(date, 31)), "\r\n");
    }
    char *t = framing(w, mode, len, tail);
    decide_close(w);
    if (w->c->closing) t = PUT(t, "Connection: close\r\n");
    else if (w->req->h.minor == 0) t = PUT(t, "Connection: keep-alive\r\n");
    t = PUT(t, "\r\n");
    struct iovec iov[3] = { { line, (size_t)(e - line) }, { w->hdrs, w->hlen },
                            { tail, (size_t)(t - tail) } };
    err = weft_stream_writev(w->c->st, iov, 3);
    if (!err) w->head_sent = true;
    return err;
}

/* Records a write error: it sticks, and the connection will close. */
static int write_failed(weft_httpd_res *w, int err) {
    if (err && err != WEFT_ECANCELED) w->err = err;
    if (err) w->c->closing = true;
    return err;
}

/* Every response is flushed as it ends, pipelined requests waiting or not.
 * Holding it back to leave with the next ones in one send was measured (wrk,
 * 16 requests per write: ~200k responses/s against ~22k) and turned down: a
 * slow handler for the next request would delay this finished response by
 * its whole run, and clients that pipeline are rare. */
static int flush(weft_httpd_res *w) {
    if (w->req->h2) return write_failed(w, weft__h2s_flush(w->req->h2, w->ended));
    return write_failed(w, weft__httpd_drain(w->c));
}

/* Body bytes out, as they are: the framing is the caller's. */
static int put_body(weft_httpd_res *w, const void *data, size_t len) {
    if (w->req->h2) return weft__h2s_write(w->req->h2, data, len);
    return weft_stream_write(w->c->st, data, len);
}

int weft_httpd_res_send(weft_httpd_res *w, int status, const char *content_type,
                        const void *body, size_t len) {
    if (w->head_sent || (status && (status < 200 || status > 999)) || (w->has_cl && w->cl != len) ||
        (content_type && !weft__http_value_ok(content_type, strlen(content_type))))
        return WEFT_EINVAL;
    if (status) w->status = status;
    int err = content_type ? append_hdr(w, "Content-Type", content_type) : 0;
    if (!err) err = send_head(w, HEAD_WHOLE, len);
    if (!err && len && !w->is_head && !w->no_body) err = put_body(w, body, len);
    if (err) return write_failed(w, err);
    w->sent = len;
    w->ended = true;
    return flush(w);
}

/* The file in rounds of send_timeout: a round in which nothing left is a
 * stalled client; one that moved bytes starts another. */
static int send_file(weft_httpd_res *w, int fd, off_t off, uint64_t len) {
    for (uint64_t done = 0;;) {
        size_t got = 0;
        weft_scope sc;
        weft__timed_begin(&sc, weft_deadline_after(w->c->srv->o.send_timeout));
        int err = weft_stream_sendfile(w->c->st, fd, off + (off_t)done, (size_t)(len - done), &got);
        err = (int)weft__timed_end(&sc, err, WEFT_ETIMEDOUT);
        done += got;
        if (err != WEFT_ETIMEDOUT || !got || done == len) return err;
    }
}

int weft_httpd_res_sendfile(weft_httpd_res *w, int status, int fd, off_t off, uint64_t len) {
    if (w->head_sent || (status && (status < 200 || status > 999)) || (w->has_cl && w->cl != len) ||
        fd < 0 || off < 0 || len > (uint64_t)SSIZE_MAX)
        return WEFT_EINVAL;
    if (status) w->status = status;
    int err = send_head(w, HEAD_WHOLE, len);
    if (err) return write_failed(w, err);
    w->sent = len;
    w->ended = true;
    if (w->is_head || w->no_body || !len) return flush(w);
    /* Any failure leaves the body short of what the head promised. */
    return write_failed(w, send_file(w, fd, off, len));
}

int weft_httpd_res_write(weft_httpd_res *w, const void *data, size_t len) {
    if (w->err) return w->err;
    if (w->ended || (w->has_cl && w->sent + len > w->cl)) return WEFT_EINVAL;
    int err = w->head_sent ? 0 : send_head(w, HEAD_STREAM, 0);
    if (err || !len) return write_failed(w, err);
    w->sent += len;
    if (w->is_head || w->no_body) return 0;
    if (w->chunked) {
        char size[24];
        char *e = PUT(put_u64(size, len, 16), "\r\n");
        struct iovec iov[3] = { { size, (size_t)(e - size) }, { (void *)data, len }, { "\r\n", 2 } };
        err = weft_stream_writev(w->c->st, iov, 3);
    } else {
        err = put_body(w, data, len);
    }
    if (err) return write_failed(w, err);
    if (w->req->h2) return 0;  /* its writes wait for the client's window themselves */
    return weft_stream_unsent(w->c->st) > WRITE_HIGH_WATER ? flush(w) : 0;
}

int weft_httpd_res_flush(weft_httpd_res *w) {
    if (w->err) return w->err;
    int err = w->head_sent ? 0 : send_head(w, HEAD_STREAM, 0);
    return err ? write_failed(w, err) : flush(w);
}

int weft_httpd_res_end(weft_httpd_res *w) {
    if (w->err) return w->err;
    if (w->ended) return 0;
    int err = 0;
    if (!w->head_sent) err = send_head(w, w->has_cl ? HEAD_STREAM : HEAD_WHOLE, 0);
    else if (w->chunked) err = weft_stream_write(w->c->st, "0\r\n\r\n", 5);
    if (err) return write_failed(w, err);
    w->ended = true;
    bool short_body = w->has_cl && w->sent < w->cl && !w->is_head && !w->no_body;
    if (short_body) w->c->closing = true;
    err = flush(w);
    return err ? err : short_body ? WEFT_EINVAL : 0;
}

int weft_httpd_res_started(const weft_httpd_res *w) { return w->head_sent; }

/* ------------------------------------------------------ after the handler */

static int status_for(int err) {
    switch (err) {
    case WEFT_ETOOBIG: return 413;
    case WEFT_EHTTP: return 400;
    case WEFT_ETIMEDOUT: return 408;
    default: return 500;
    }
}

int weft__httpd_exchange_run(weft__httpd_exchange *x) {
    weft_httpd_req *r = &x->req;
    weft_httpd_res *w = &x->res;
    weft__httpd_conn *c = r->c;
    w->is_head = !strcmp(r->h.method, "HEAD");
    int err = c->srv->handler(r, w, c->srv->arg);
    if (!err && !w->ended) err = weft_httpd_res_end(w);
    if (err) {
        c->closing = true;
        if (!w->head_sent) {
            w->status = status_for(err);
            if (r->h2) weft__h2s_respond(r->h2, w->status, w->is_head);
            else weft__httpd_send_error(c, w->status, w->is_head);
            w->sent = 0;
        } else if (r->h2) {
            weft__h2s_cut(r->h2);
        }
    }
    weft__httpd_log(c, r, w->status, w->is_head ? 0 : w->sent);
    if (r->h2) return 0;  /* the stream's record drops an unread body */
    if (!err && !c->closing && discard_body(r) == 0) return 0;
    return r->b.done ? -1 : -2;  /* -2: the client may still be sending */
}
