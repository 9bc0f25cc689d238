/* The HTTP/2 client (RFC 9113) on Debian's libnghttp2, which does the
 * framing, HPACK and flow control: this file hands nghttp2 the bytes that
 * come, puts the frames it makes on the wire, and turns what it reports
 * into the streams of weft's requests. pool.c makes and frees sessions,
 * client.c runs exchanges on them, response.c reads bodies; this file calls
 * only request.c (the head, which HTTP/1.1 and HTTP/2 share).
 *
 * One connection per origin carries every request to it, each a stream.
 * The connection has no task of its own: a task waiting on its stream (for
 * the response head, body bytes, or room to send its body) reads the
 * socket for everyone when no other task is reading it, feeds what came to
 * nghttp2 and wakes the others (the connection's cond) before it looks at
 * its own stream again; otherwise it waits to be woken. So an unused
 * connection costs no task and no wake-up, and a task that goes (cancelled,
 * timed out) leaves the reading to the next waiter. Writing is shared the
 * same way: whoever finds frames queued in nghttp2 appends them to the
 * stream's buffer (never waiting) and drains it unless another task is
 * draining already (a drain sends what was appended meanwhile too).
 *
 * Flow control: nghttp2 does not open windows by itself
 * (NGHTTP2_OPT_NO_AUTO_WINDOW_UPDATE); a stream's bytes count as consumed
 * when its response reads them, so a response left unread holds its server
 * back after one window (STREAM_WINDOW) rather than filling memory. A
 * body_fn body is asked for one piece at a time, the next only once
 * nghttp2 has taken the last: the server's window holds back the producer.
 *
 * Invariants: a stream object (weft__h2s) is on its connection's list from
 * its exchange until weft__h2_stream_free; nghttp2's stream user data
 * points to it while both live, and is cleared when it is freed, so frames
 * for a stream nobody holds any more are dropped (their bytes consumed).
 */
#include "client.h"
#include "timed.h"
#include "core_iface.h"

#include <ctype.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <strings.h>

enum {
    RBUF = 16 * 1024,             /* one socket read */
    PIECE = 16 * 1024,            /* one body_fn call */
    /* What one unread response may have buffered: nghttp2's and curl's
     * stream window is 64 KiB; four times that keeps a fast download from
     * stalling on round trips while a slow reader still bounds memory. */
    STREAM_WINDOW = 256 * 1024,
    CONN_WINDOW = 16 << 20,       /* every stream together */
};

typedef struct weft__h2 {
    weft_http_client *c;
    weft__conn *k;
    weft__mem mem;                /* nghttp2's allocations go through it */
    nghttp2_session *ss;
    struct weft__h2s *streams;    /* every stream object alive */
    size_t nstreams;
    weft_lock lock;               /* only for cond */
    weft_cond cond;               /* frames came, or the reader left */
    bool reading, draining;
    bool flush_due;               /* a task will flush after its yield */
    bool taken;                   /* nghttp2 took a piece of a request body */
    int err;                      /* sticky: the connection failed */
    char rbuf[RBUF];              /* the reader's (one at a time) */
} weft__h2;

typedef struct weft__h2s {
    struct weft__h2s *prev, *next;
    weft__h2 *h;                  /* NULL once the connection is gone */
    weft__mem mem;
    weft_http_response *owner;    /* the response reading the body, if any */
    int32_t id;                   /* 0 until submitted */
    /* The response head as text, "HTTP/2 200 \r\nname: value\r\n...". */
    char *head;
    size_t hlen, hcap, nfields;
    weft__hdr *hv;                /* views of the fields, for response.c */
    int status;
    int64_t first;                /* when its first byte came */
    bool head_done, got_any, closed, in_end;
    uint32_t rst;                 /* the close's error code */
    int err;                      /* sticky: this stream's failure */
    /* the body coming in, not read yet: in[in_off..in_len) */
    char *in;
    size_t in_len, in_off, in_cap;
    /* the body going out: out[out_off..out_len), then END_STREAM if out_eof */
    const char *out;
    size_t out_len, out_off;
    char *own;                    /* a buffer out points into, ours */
    bool out_eof, deferred;
} weft__h2s;

/* ------------------------------------------------------------ allocation */

static void *h2_malloc(size_t n, void *ud) { return weft__mem_alloc(*(weft__mem *)ud, n); }
static void h2_free(void *p, void *ud) { weft__mem_free(*(weft__mem *)ud, p); }
static void *h2_calloc(size_t n, size_t size, void *ud) {
    if (size && n > SIZE_MAX / size) return NULL;
    void *p = weft__mem_alloc(*(weft__mem *)ud, n * size);
    if (p) memset(p, 0, n * size);
    return p;
}
static void *h2_realloc(void *p, size_t n, void *ud) {
    if (!n) { weft__mem_free(*(weft__mem *)ud, p); return NULL; }
    return weft__mem_grow(*(weft__mem *)ud, p, n);
}

/* Makes room for `need` bytes in *p. */
static int reserve(weft__mem m, char **p, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 1024;
    while (n < need) n *= 2;
    char *q = weft__mem_grow(m, *p, n);
    if (!q) return WEFT_ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

static int head_add(weft__h2s *st, const char *s, size_t n) {
    int err = reserve(st->mem, &st->head, &st->hcap, st->hlen + n + 1);
    if (err) return err;
    memcpy(st->head + st->hlen, s, n);
    st->hlen += n;
    st->head[st->hlen] = 0;   /* weft__h2_head's string searches stop here */
    return 0;
}

/* -------------------------------------------------- nghttp2's callbacks */

static weft__h2s *stream_of(nghttp2_session *ss, int32_t id) {
    return id ? nghttp2_session_get_stream_user_data(ss, id) : NULL;
}

/* Fails the stream from inside a callback: nghttp2 resets it. */
static int refuse(weft__h2s *st, int err) {
    if (!st->err) st->err = err;
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

static int on_status(weft__h2s *st, const uint8_t *v, size_t vl) {
    if (vl != 3 || v[0] < '1' || v[0] > '9' || v[1] < '0' || v[1] > '9' || v[2] < '0' || v[2] > '9')
        return refuse(st, WEFT_EHTTP);
    st->status = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
    /* An interim (1xx) head's fields give way to the final head's. */
    st->hlen = st->nfields = 0;
    char line[16] = "HTTP/2 ";
    memcpy(line + 7, v, 3);
    return head_add(st, line, 7 + 3) || head_add(st, " \r\n", 3) ? refuse(st, WEFT_ENOMEM) : 0;
}

static int on_header(nghttp2_session *ss, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                     const uint8_t *value, size_t vl, uint8_t flags, void *ud) {
    (void)flags;
    weft__h2 *h = ud;
    weft__h2s *st = stream_of(ss, f->hd.stream_id);
    /* Trailers (a HEADERS after the final head) are dropped. */
    if (!st || f->hd.type != NGHTTP2_HEADERS || st->head_done) return 0;
    if (!st->got_any) st->first = weft_now();
    st->got_any = true;
    if (nl == 7 && !memcmp(name, ":status", 7)) return on_status(st, value, vl);
    if (nl && name[0] == ':') return 0;
    if (st->nfields + 1 > h->c->o.max_headers || st->hlen + nl + vl + 6 > h->c->o.max_header_bytes)
        return refuse(st, WEFT_ETOOBIG);
    st->nfields++;
    if (head_add(st, (const char *)name, nl) || head_add(st, ": ", 2) ||
        head_add(st, (const char *)value, vl) || head_add(st, "\r\n", 2))
        return refuse(st, WEFT_ENOMEM);
    return 0;
}

static int on_frame(nghttp2_session *ss, const nghttp2_frame *f, void *ud) {
    (void)ud;
    weft__h2s *st = stream_of(ss, f->hd.stream_id);
    if (!st) return 0;
    if (f->hd.type == NGHTTP2_HEADERS && st->status >= 200) st->head_done = true;
    if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        st->in_end = true;
    return 0;
}

static int on_data(nghttp2_session *ss, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *ud) {
    (void)flags, (void)ud;
    weft__h2s *st = stream_of(ss, id);
    /* Nobody reads it (reset by us, or an abandoned response): let the
     * window go at once so the other streams keep theirs. */
    if (!st || st->err) return nghttp2_session_consume(ss, id, len) ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
    st->got_any = true;
    if (st->in_off) {
        memmove(st->in, st->in + st->in_off, st->in_len - st->in_off);
        st->in_len -= st->in_off;
        st->in_off = 0;
    }
    if (reserve(st->mem, &st->in, &st->in_cap, st->in_len + len)) {
        nghttp2_session_consume(ss, id, len);
        return refuse(st, WEFT_ENOMEM);
    }
    memcpy(st->in + st->in_len, data, len);
    st->in_len += len;
    return 0;
}

static int on_close(nghttp2_session *ss, int32_t id, uint32_t code, void *ud) {
    (void)ud;
    weft__h2s *st = stream_of(ss, id);
    if (st) {
        st->closed = true;
        st->rst = code;
    }
    return 0;
}

/* The request body for nghttp2, from out[]; deferred while a body_fn's
 * next piece is on its way. */
static ssize_t on_body(nghttp2_session *ss, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                       nghttp2_data_source *src, void *ud) {
    (void)src, (void)ud;
    weft__h2s *st = stream_of(ss, id);
    if (!st) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t n = st->out_len - st->out_off;
    if (n > len) n = len;
    if (n) memcpy(buf, st->out + st->out_off, n);
    st->out_off += n;
    st->h->taken |= st->out_off == st->out_len;
    if (st->out_off < st->out_len) return (ssize_t)n;
    if (st->out_eof) *flags |= NGHTTP2_DATA_FLAG_EOF;
    else if (!n) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* --------------------------------------------------------- the session */

/* nghttp2's client session for h, allocating through h->mem, with our
 * SETTINGS queued: no push, STREAM_WINDOW a stream, CONN_WINDOW in all. */
static int session_new(weft__h2 *h) {
    nghttp2_session_callbacks *cb = NULL;
    nghttp2_option *opt = NULL;
    nghttp2_mem mem = { &h->mem, h2_malloc, h2_free, h2_calloc, h2_realloc };
    int rv = nghttp2_session_callbacks_new(&cb);
    if (!rv) rv = nghttp2_option_new(&opt);
    if (!rv) {
        nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
        nghttp2_option_set_no_auto_window_update(opt, 1);
        rv = nghttp2_session_client_new3(&h->ss, cb, h, opt, &mem);
    }
    nghttp2_session_callbacks_del(cb);
    nghttp2_option_del(opt);
    nghttp2_settings_entry set[] = { { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
                                     { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW } };
    if (!rv) rv = nghttp2_submit_settings(h->ss, NGHTTP2_FLAG_NONE, set, 2);
    if (!rv) rv = nghttp2_session_set_local_window_size(h->ss, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
    return rv ? WEFT_ENOMEM : 0;   /* nghttp2 fails these only for memory */
}

int weft__h2_start(weft_http_client *c, weft__conn *k) {
    weft__h2 *h = weft__mem_alloc(c->mem, sizeof *h);
    if (!h) return WEFT_ENOMEM;
    memset(h, 0, sizeof *h);
    h->c = c;
    h->k = k;
    h->mem = c->mem;
    if (session_new(h)) {
        nghttp2_session_del(h->ss);
        weft__mem_free(c->mem, h);
        return WEFT_ENOMEM;
    }
    /* Frames of many streams (and window updates) go out as they are
     * made: Nagle's wait for an ACK would stall them (TLS sets it too). */
    setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
    k->h2 = h;
    k->idle_since = weft_now();
    return 0;
}

void weft__h2_free(weft__conn *k) {
    weft__h2 *h = k->h2;
    if (!h) return;
    for (weft__h2s *st = h->streams; st; st = st->next) {
        st->h = NULL;
        if (!st->err) st->err = WEFT_ECLOSED;
        if (st->owner) st->owner->c = NULL;   /* as pool.c does for HTTP/1.1 */
    }
    nghttp2_session_del(h->ss);
    weft__mem_free(h->mem, h);
    k->h2 = NULL;
}

bool weft__h2_usable(weft__conn *k, bool *idle) {
    weft__h2 *h = k->h2;
    *idle = !h->nstreams;
    return !h->err && nghttp2_session_check_request_allowed(h->ss);
}

/* ---------------------------------------------------- reading, writing */

/* Errors of the task, not of the connection: its own cancel or deadline. */
static bool own_error(int err) {
    return err == WEFT_ECANCELED || err == WEFT_ETIMEDOUT || err == WEFT_EREADTIMEOUT ||
           err == WEFT_EWRITETIMEOUT;
}

/* The connection is done for: every stream on it fails with err. */
static int conn_err(weft__h2 *h, int err) {
    if (!err || own_error(err)) return err;
    if (!h->err) h->err = err;
    for (weft__h2s *st = h->streams; st; st = st->next)
        if (!st->closed && !st->err) st->err = err;
    weft_cond_notify_all(&h->cond);
    return err;
}

/* Appends the frames nghttp2 has ready to the stream's buffer. Never waits. */
static int queue(weft__h2 *h) {
    for (;;) {
        const uint8_t *d;
        ssize_t n = nghttp2_session_mem_send(h->ss, &d);
        if (n < 0) return n == NGHTTP2_ERR_NOMEM ? WEFT_ENOMEM : WEFT_EHTTP;
        if (n == 0) return 0;
        int err = weft_stream_write(h->k->s, d, (size_t)n);
        if (err) return err;
    }
}

/* Queues and sends within the write timeout; while another task drains,
 * its drain sends ours too. */
static int flush(weft__h2 *h) {
    int err = queue(h);
    /* A body piece taken is what its uploader may be waiting for. */
    if (h->taken) weft_cond_notify_all(&h->cond);
    h->taken = false;
    if (err || h->draining || !weft_stream_unsent(h->k->s)) return conn_err(h, err);
    h->draining = true;
    weft_scope sc;
    weft__timed_begin(&sc, weft_deadline_after(h->c->o.write_timeout));
    err = weft_stream_drain(h->k->s);
    err = (int)weft__timed_end(&sc, err, WEFT_EWRITETIMEOUT);
    h->draining = false;
    return conn_err(h, err);
}

/* A cancelled or failed exchange's reset goes out now if it can, shielded
 * from the cancel that caused it. */
static void flush_shielded(weft__h2 *h) {
    if (h->err) return;
    weft_scope sc;
    weft_scope_enter_ex(&sc, weft_deadline_after(h->c->o.write_timeout), WEFT_SCOPE_SHIELD);
    flush(h);
    weft_scope_leave(&sc);
}

/* Flushes after letting the other ready tasks run once: the requests of
 * tasks woken together then leave in one write, not one each (100 tasks
 * on one connection: a third more requests a second against nginx). The
 * task whose turn it is flushes for all; if it is cancelled meanwhile it
 * still does, shielded, for the others' sake. */
static int flush_batched(weft__h2 *h) {
    if (h->flush_due) return 0;
    h->flush_due = true;
    int err = weft_yield();
    h->flush_due = false;
    if (err) flush_shielded(h);
    return err ? err : flush(h);
}

/* The reader's turn: one read of the socket, fed to nghttp2, and what that
 * makes (acknowledgements, window updates) sent. */
static int pump(weft__h2 *h) {
    int err;
    ssize_t n = weft_stream_read(h->k->s, h->rbuf, RBUF);
    if (n == 0) n = WEFT_EOF;
    if (n < 0) return conn_err(h, (int)n);
    ssize_t used = nghttp2_session_mem_recv(h->ss, (const uint8_t *)h->rbuf, (size_t)n);
    if (used < 0) return conn_err(h, used == NGHTTP2_ERR_NOMEM ? WEFT_ENOMEM : WEFT_EHTTP);
    if ((err = flush(h))) return err;
    /* A GOAWAY came and every stream it left us has ended. */
    if (!nghttp2_session_want_read(h->ss) && !nghttp2_session_want_write(h->ss))
        return conn_err(h, WEFT_EOF);
    return 0;
}

typedef bool (*ready_fn)(const weft__h2s *st);

/* Waits until ready(st), the stream ends or the connection fails, within
 * `timeout` (then `code`): reads for everyone when nobody else is. */
static int wait_for(weft__h2s *st, ready_fn ready, int64_t timeout, int code) {
    weft_scope sc;
    weft__timed_begin(&sc, weft_deadline_after(timeout));
    int err = 0;
    weft__h2 *h;
    while (!err && (h = st->h) && !ready(st) && !st->closed && !st->err) {
        if (!h->reading) {
            /* What is queued goes first: the answer may depend on it, and
             * sending may itself be what st waits for (its body taken). */
            h->reading = true;
            err = flush(h);
            if (!err && !ready(st) && !st->closed && !st->err) err = pump(h);
            h->reading = false;
            weft_cond_notify_all(&h->cond);
        } else if (!(err = weft_lock_acquire(&h->lock))) {
            err = weft_cond_wait(&h->cond, &h->lock);
            weft_lock_release(&h->lock);
        }
    }
    err = (int)weft__timed_end(&sc, err, code);
    return own_error(err) ? err : 0;   /* the connection's own: in st->err */
}

/* ----------------------------------------------------------- the streams */

static weft__h2s *stream_new(weft__h2 *h) {
    weft__h2s *st = weft__mem_alloc(h->mem, sizeof *st);
    if (!st) return NULL;
    memset(st, 0, sizeof *st);
    st->h = h;
    st->mem = h->mem;
    st->next = h->streams;
    if (h->streams) h->streams->prev = st;
    h->streams = st;
    h->nstreams++;
    return st;
}

void weft__h2_stream_free(weft__h2s *st) {
    if (!st) return;
    weft__h2 *h = st->h;
    if (h) {
        if (st->id > 0) {
            nghttp2_session_set_stream_user_data(h->ss, st->id, NULL);
            nghttp2_session_consume(h->ss, st->id, st->in_len - st->in_off);
            if (!st->closed) nghttp2_submit_rst_stream(h->ss, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
            conn_err(h, queue(h));
        }
        if (st->prev) st->prev->next = st->next;
        else h->streams = st->next;
        if (st->next) st->next->prev = st->prev;
        if (!--h->nstreams) h->k->idle_since = weft_now();
    }
    weft__mem_free(st->mem, st->head);
    weft__mem_free(st->mem, st->hv);
    weft__mem_free(st->mem, st->in);
    weft__mem_free(st->mem, st->own);
    weft__mem_free(st->mem, st);
}

/* Fields HTTP/2 does not carry (RFC 9113 8.2.2), or carries as :authority. */
static bool not_h2(const char *n, size_t nl, const char *v, size_t vl) {
    static const char *const drop[] = { "host", "connection", "keep-alive", "proxy-connection",
                                        "transfer-encoding", "upgrade" };
    for (size_t i = 0; i < sizeof drop / sizeof *drop; i++)
        if (nl == strlen(drop[i]) && !strncasecmp(n, drop[i], nl)) return true;
    return nl == 2 && !strncasecmp(n, "te", 2) && !(vl == 8 && !strncasecmp(v, "trailers", 8));
}

/* The head request.c makes (shown already: names lower-cased), as
 * nghttp2's name-value pairs, views into `head`: the pseudo-fields, then
 * the fields HTTP/2 carries. nv holds one pair per line. Returns the count. */
static size_t to_nv(char *head, size_t len, const weft__exchange *x, nghttp2_nv *nv) {
    size_t n = 4;
    const char *authority = "";
    size_t alen = 0;
    char *p = memchr(head, '\n', len) + 1, *end = head + len;
    while (p < end && *p != '\r') {
        char *colon = memchr(p, ':', (size_t)(end - p)), *v = colon + 2;
        char *eol = memchr(v, '\r', (size_t)(end - v));
        size_t nl = (size_t)(colon - p), vl = (size_t)(eol - v);
        if (nl == 4 && !strncasecmp(p, "host", 4)) authority = v, alen = vl;
        if (!not_h2(p, nl, v, vl))
            nv[n++] = (nghttp2_nv){ (uint8_t *)p, (uint8_t *)v, nl, vl, NGHTTP2_NV_FLAG_NONE };
        p = eol + 2;
    }
#define NV(i, k, s, l) nv[i] = (nghttp2_nv){ (uint8_t *)k, (uint8_t *)(s), sizeof k - 1, l, NGHTTP2_NV_FLAG_NONE }
    NV(0, ":method", x->method, strlen(x->method));
    NV(1, ":scheme", x->url.scheme, strlen(x->url.scheme));
    NV(2, ":authority", authority, alen);
    NV(3, ":path", x->url.target, strlen(x->url.target));
#undef NV
    return n;
}

/* Shows the head as HTTP/2 sends it, in curl's -v form: "GET / HTTP/2",
 * the field names lower-cased but Host's (sent as :authority). The
 * changes are made in place (" HTTP/1.1" becomes " HTTP/2"). */
static void show(const weft__exchange *x, char *head, size_t *len) {
    char *eol = memchr(head, '\r', *len);
    eol[-3] = '2';
    memmove(eol - 2, eol, (size_t)(head + *len - eol));
    *len -= 2;
    for (char *p = eol; (p = memchr(p, '\n', (size_t)(head + *len - p))) && p[1] != '\r';) {
        p++;
        char *colon = memchr(p, ':', (size_t)(head + *len - p));
        if (colon - p != 4 || strncasecmp(p, "host", 4))
            for (; p < colon; p++) *p = (char)tolower((unsigned char)*p);
    }
    weft__request_show(x->req, WEFT_HTTP_HEAD_SENT, head, *len);
}

/* Sends the request's head (and says where its body comes from). */
static int submit(weft_http_client *c, weft__h2s *st, const weft__exchange *x, bool *refused) {
    char *head;
    size_t len, lines = 0;
    int err = weft__request_head(c, x, &head, &len);
    if (err) return err;
    show(x, head, &len);
    for (size_t i = 0; i < len; i++) lines += head[i] == '\n';
    nghttp2_nv *nv = weft__mem_alloc(c->mem, (lines + 4) * sizeof *nv);
    if (!nv) err = WEFT_ENOMEM;
    const weft_http_request *q = x->req;
    bool body = x->send_body && (q->body_fn || q->body_len);
    if (body && !q->body_fn) st->out = q->body, st->out_len = q->body_len, st->out_eof = true;
    nghttp2_data_provider prd = { .read_callback = on_body };
    int32_t id = err ? 0 : nghttp2_submit_request(st->h->ss, NULL, nv, to_nv(head, len, x, nv),
                                                  body ? &prd : NULL, st);
    weft__mem_free(c->mem, nv);
    weft__mem_free(c->mem, head);
    if (err) return err;
    if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) {
        *refused = true;       /* this connection has run out of stream ids */
        return conn_err(st->h, WEFT_EOF);
    }
    if (id < 0) return id == NGHTTP2_ERR_NOMEM ? WEFT_ENOMEM : WEFT_EHTTP;
    st->id = id;
    return flush_batched(st->h);
}

static bool out_taken(const weft__h2s *st) { return st->out_off == st->out_len; }
static bool head_in(const weft__h2s *st) { return st->head_done; }
static bool body_in(const weft__h2s *st) { return st->in_off < st->in_len || st->in_end; }

/* A body_fn body, one piece at a time, each once the last was taken. */
static int upload(weft__h2s *st, const weft_http_request *q) {
    if (!(st->own = weft__mem_alloc(st->mem, PIECE))) return WEFT_ENOMEM;
    uint64_t sent = 0;
    for (;;) {
        int err = wait_for(st, out_taken, st->h->c->o.write_timeout, WEFT_EWRITETIMEOUT);
        if (err || !st->h || st->closed || st->err) return err;   /* the answer says why */
        ssize_t n = q->body_fn(q->body_ud, st->own, PIECE);
        if (n < 0) return (int)n;
        if (q->body_length >= 0 && sent + (uint64_t)n > (uint64_t)q->body_length) return WEFT_EINVAL;
        if (n == 0 && q->body_length >= 0 && sent != (uint64_t)q->body_length) return WEFT_EINVAL;
        sent += (uint64_t)n;
        st->out = st->own, st->out_len = (size_t)n, st->out_off = 0, st->out_eof = n == 0;
        if (!st->h) return st->err;
        if (st->deferred) {
            st->deferred = false;
            nghttp2_session_resume_data(st->h->ss, st->id);
        }
        if ((err = flush(st->h)) || n == 0) return err;
    }
}

/* After the head: a copied body not all sent yet is the request's, which
 * may be freed once weft_http_send returns, so its rest is copied. */
static int keep_upload(weft__h2s *st) {
    size_t left = st->out_len - st->out_off;
    if (!left || st->out == st->own || st->closed) return 0;
    if (!(st->own = weft__mem_alloc(st->mem, left))) return WEFT_ENOMEM;
    memcpy(st->own, st->out + st->out_off, left);
    st->out = st->own, st->out_len = left, st->out_off = 0;
    return 0;
}

/* The exchange's outcome once the wait for its head is over. */
static int head_result(const weft__h2s *st, bool *refused) {
    if (st->head_done) return 0;
    if (st->err) return st->err;
    if (!st->h) return WEFT_ECLOSED;
    /* Refused (RST_STREAM, or a GOAWAY below it: nghttp2 closes those
     * streams with REFUSED_STREAM): the server did nothing with it. */
    *refused = st->rst == NGHTTP2_REFUSED_STREAM;
    if (*refused) return WEFT_EOF;
    return st->rst ? -ECONNRESET : WEFT_EHTTP;   /* ended without a response */
}

int weft__h2_exchange(weft_http_client *c, weft__conn *k, const weft__exchange *x,
                      weft__h2s **out, bool *refused, bool *nothing, bool *body_used) {
    weft__h2 *h = k->h2;
    weft__h2s *st = stream_new(h);
    if (!st) return WEFT_ENOMEM;
    int err = submit(c, st, x, refused);
    if (!err && st->id && x->send_body && x->req->body_fn) {
        *body_used = true;
        err = upload(st, x->req);
    }
    if (!err) err = wait_for(st, head_in, c->o.read_timeout, WEFT_EREADTIMEOUT);
    if (!err) err = head_result(st, refused);
    if (!err) err = keep_upload(st);
    *nothing = !st->got_any;
    if (err) {
        bool reset = st->id && !st->closed;
        weft__h2_stream_free(st);
        if (reset) flush_shielded(h);
        return err;
    }
    *out = st;
    return 0;
}

int weft__h2_head(weft__h2s *st, weft__http_head *hd, const char **text, size_t *len, int64_t *first) {
    if (head_add(st, "\r\n", 2)) return WEFT_ENOMEM;
    if (!(st->hv = weft__mem_alloc(st->mem, (st->nfields ? st->nfields : 1) * sizeof *st->hv)))
        return WEFT_ENOMEM;
    memset(hd, 0, sizeof *hd);
    hd->status = st->status;
    hd->reason = st->head + 11;   /* "HTTP/2 200 ": none */
    hd->hdrs = st->hv;
    hd->hdrs_cap = hd->nhdrs = st->nfields;
    char *p = memchr(st->head, '\n', st->hlen) + 1;
    for (size_t i = 0; i < st->nfields; i++) {
        char *colon = strstr(p, ": "), *eol = strstr(colon, "\r\n");
        st->hv[i] = (weft__hdr){ p, colon + 2, (size_t)(colon - p), (size_t)(eol - colon - 2) };
        p = eol + 2;
    }
    *text = st->head;
    *len = st->hlen;
    *first = st->first;
    return 0;
}

void weft__h2_own(weft__h2s *st, weft_http_response *r) { st->owner = r; }

ssize_t weft__h2_read(weft__h2s *st, void *buf, size_t len) {
    weft__h2 *h = st->h;
    if (!body_in(st)) {
        int err = wait_for(st, body_in, h ? h->c->o.read_timeout : 0, WEFT_EREADTIMEOUT);
        if (err) return err;
        h = st->h;
    }
    size_t n = st->in_len - st->in_off < len ? st->in_len - st->in_off : len;
    if (n) {
        memcpy(buf, st->in + st->in_off, n);
        st->in_off += n;
        /* The server may send as much again: its window update goes now. */
        if (h && !nghttp2_session_consume(h->ss, st->id, n) && nghttp2_session_want_write(h->ss))
            flush_batched(h);
        return (ssize_t)n;
    }
    if (st->in_end) return 0;
    if (st->err) return st->err;
    return st->closed ? -ECONNRESET : WEFT_ECLOSED;
}
