/* The HTTP/2 server's connections (h2.h): nghttp2 (Debian's libnghttp2)
 * does the framing, HPACK and flow control; this file drives its session
 * and runs each stream's request through the same handler, request and
 * response as HTTP/1.1 (exchange.c).
 *
 * Two tasks a connection: its own reads and feeds the session (and starts
 * the handlers of the heads that came), a writer sends what the session
 * has to send whenever anyone queued something (weft_stream lets a read and
 * a write overlap in two tasks). Nothing in nghttp2's callbacks suspends,
 * so handlers, which call into the session too, never find it midway.
 *
 * Each request's head is collected in HTTP/1.1 form and given to the
 * HTTP/1.1 parser: one set of rules (limits, field syntax, the target's
 * forms) for both versions, and one exchange.
 *
 * Abuse (the known HTTP/2 attacks) ends the connection with a GOAWAY,
 * mostly by nghttp2's own guards, set here: rapid reset (CVE-2023-44487)
 * by its RST_STREAM rate limit (its GOAWAY says INTERNAL_ERROR), a
 * CONTINUATION flood (CVE-2024-27316) by its bound on CONTINUATION frames,
 * SETTINGS and PING floods by its bound on queued ACKs (the connection
 * closes at once: its queue is what is full); an HPACK bomb (a few bytes
 * decoding to a huge header list) by counting the decoded head here
 * against max_header_bytes and max_headers as it comes, before it is
 * stored (ENHANCE_YOUR_CALM). Streams reset in the same read as their
 * HEADERS never get a handler task.
 */
#include "h2.h"
#include "timed.h"

#include <openssl/evp.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

/* SETTINGS_MAX_CONCURRENT_STREAMS: RFC 9113 asks for at least 100, the
 * value nginx, h2o, Go and Apache announce. */
#define MAX_STREAMS 100
/* The connection's receive window: room for 16 streams' default windows
 * at once (the streams' stay at 64 KiB: each holds at most that much of an
 * unread body). The default 64 KiB would let one upload at a time run at
 * full speed; nginx opens the connection's all the way (2^31 - 1) and
 * bounds each stream instead. */
#define CONN_WINDOW (1024 * 1024)
/* nghttp2's defaults, stated: resets past a burst of 1000 at 33 a second
 * (its CVE-2023-44487 fix), 8 CONTINUATIONs (CVE-2024-27316), 1000 ACKs
 * queued for a peer that does not read (SETTINGS and PING floods). */
#define RESET_BURST 1000
#define RESET_RATE 33
#define MAX_CONTINUATIONS 8
#define MAX_OUTBOUND_ACK 1000
/* HPACK's dynamic tables, 4 KiB each way (RFC 9113's default): the
 * decoder's is ours to set (SETTINGS_HEADER_TABLE_SIZE), the encoder's is
 * capped whatever bigger one the client offers. */
#define HPACK_TABLE 4096
/* Handler tasks still running (reset streams' handlers finishing their
 * cancellation) past which the client is told to calm down: what a rapid
 * reset that stays under the reset rate would otherwise pile up. */
#define MAX_TASKS (2 * MAX_STREAMS)
/* How long a closing connection's last frames (its GOAWAY) may take to
 * leave, and its lingering close after them: a client that stopped
 * reading (a PING flood's) does not hold the connection for send_timeout,
 * nor one that goes on sending for the lingering close's 30 s. */
#define GOAWAY_LINGER WEFT_SECOND
/* The writer drains the connection once this much waits to go out. */
#define SEND_HIGH_WATER (64 * 1024)

/* ------------------------------------------------------- nghttp2's memory
 *
 * Through the server's allocator: a test's counting allocator sees what a
 * connection holds, and finds it all back after an attack. */

static void *m_malloc(size_t n, void *ud) { return weft__mem_alloc(*(weft__mem *)ud, n); }
static void m_free(void *p, void *ud) { weft__mem_free(*(weft__mem *)ud, p); }
static void *m_calloc(size_t n, size_t size, void *ud) {
    if (size && n > SIZE_MAX / size) return NULL;
    void *p = weft__mem_alloc(*(weft__mem *)ud, n * size);
    if (p) memset(p, 0, n * size);
    return p;
}
static void *m_realloc(void *p, size_t n, void *ud) {
    if (!n) { weft__mem_free(*(weft__mem *)ud, p); return NULL; }
    return weft__mem_grow(*(weft__mem *)ud, p, n);
}

/* ------------------------------------------------------------- streams */

static weft__h2 *of(void *ud) { return ud; }

static void unlink_stream(weft__h2s *s) {
    weft__h2 *h = s->h;
    if (s->prev) s->prev->next = s->next;
    else h->streams = s->next;
    if (s->next) s->next->prev = s->prev;
    /* The last stream gone, the connection is idle: a shutdown closes it
     * now (its reader, waiting for frames, is what it cancels). */
    if (--h->nstreams == 0) h->c->idle = true;
}

/* Frees s once nothing needs it: its stream closed, no handler running,
 * not waiting to start one. */
static void release(weft__h2s *s) {
    if (!s->closed || s->on_ready || (s->started && !s->task_done)) return;
    unlink_stream(s);
    weft__h2s_free(s);
}

/* Tells the client to calm down, and stops reading it. */
static int calm(weft__h2 *h) {
    if (!h->calm) nghttp2_session_terminate_session(h->ss, NGHTTP2_ENHANCE_YOUR_CALM);
    h->calm = true;
    return NGHTTP2_ERR_PAUSE;
}

static int on_begin_headers(nghttp2_session *ss, const nghttp2_frame *f, void *ud) {
    weft__h2 *h = of(ud);
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    weft__h2s *s = weft__mem_alloc(h->mem, sizeof *s);
    if (!s) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  /* resets the stream */
    memset(s, 0, sizeof *s);
    s->h = h;
    s->id = f->hd.stream_id;
    s->next = h->streams;
    if (h->streams) h->streams->prev = s;
    h->streams = s;
    h->nstreams++;
    h->c->idle = false;
    nghttp2_session_set_stream_user_data(ss, s->id, s);
    return 0;
}

static int put(weft__h2s *s, const void *p, size_t n) {
    return weft__h2buf_put(s->h->mem, &s->head, p, n);
}

static int put_rc(weft__h2s *s, nghttp2_rcbuf *rc) {
    nghttp2_vec v = nghttp2_rcbuf_get_buf(rc);
    return put(s, v.base, v.len);
}

/* The request line and the Host field, once the pseudo-header fields are
 * in (they come first: nghttp2 checks). A request without :method or
 * :path gets neither, and the parser refuses it. */
static int put_request_line(weft__h2s *s) {
    if (s->head.len || !s->method || !s->path) return 0;
    int err = put_rc(s, s->method);
    if (!err) err = put(s, " ", 1);
    if (!err) err = put_rc(s, s->path);
    if (!err) err = put(s, " HTTP/1.1\r\n", 11);
    if (!err && s->authority) {
        err = put(s, "host: ", 6);
        if (!err) err = put_rc(s, s->authority);
        if (!err) err = put(s, "\r\n", 2);
    }
    return err;
}

static bool is(nghttp2_vec v, const char *lit) {
    return v.len == strlen(lit) && !memcmp(v.base, lit, v.len);
}

static void hold(nghttp2_rcbuf **slot, nghttp2_rcbuf *rc) {
    if (*slot) return;  /* nghttp2 refuses a repeated pseudo-header field */
    nghttp2_rcbuf_incref(rc);
    *slot = rc;
}

static int on_header(nghttp2_session *ss, const nghttp2_frame *f, nghttp2_rcbuf *name,
                     nghttp2_rcbuf *value, uint8_t flags, void *ud) {
    (void)flags;
    weft__h2 *h = of(ud);
    weft__h2s *s = nghttp2_session_get_stream_user_data(ss, f->hd.stream_id);
    if (!s || f->headers.cat != NGHTTP2_HCAT_REQUEST || h->calm) return 0;  /* trailers: not kept */
    nghttp2_vec n = nghttp2_rcbuf_get_buf(name), v = nghttp2_rcbuf_get_buf(value);
    const weft_httpd_opts *o = &h->c->srv->o;
    /* Counted decoded, before anything is stored: an HPACK bomb's
     * references to one big table entry cost a few bytes each on the wire. */
    size_t size = s->head.len + s->cookie.len + n.len + v.len + 4;
    if (++s->nfields > o->max_headers + 4 || size > o->max_header_bytes) return calm(h);
    int err = 0;
    if (n.len && n.base[0] == ':') {
        if (is(n, ":method")) hold(&s->method, value);
        else if (is(n, ":path")) hold(&s->path, value);
        else if (is(n, ":authority")) hold(&s->authority, value);
        return 0;
    }
    if (!(err = put_request_line(s))) {
        if (is(n, "host") && s->authority) {
            /* :authority stands for Host (RFC 9113 8.3.1) */
        } else if (is(n, "cookie")) {
            /* Crumbs are joined back into one field (RFC 9113 8.2.3). */
            if (s->cookie.len) err = weft__h2buf_put(h->mem, &s->cookie, "; ", 2);
            if (!err) err = weft__h2buf_put(h->mem, &s->cookie, v.base, v.len);
        } else {
            err = put(s, n.base, n.len);
            if (!err) err = put(s, ": ", 2);
            if (!err) err = put(s, v.base, v.len);
            if (!err) err = put(s, "\r\n", 2);
        }
    }
    return err ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

/* The head complete: parsed into an exchange, queued for a handler; or
 * answered with the status the parser chose. */
static int head_done(weft__h2 *h, weft__h2s *s) {
    weft_httpd *srv = h->c->srv;
    int err = put_request_line(s);
    if (!err && s->cookie.len) {
        err = put(s, "cookie: ", 8);
        if (!err) err = put(s, s->cookie.p, s->cookie.len);
        if (!err) err = put(s, "\r\n", 2);
    }
    if (!err) err = put(s, "\r\n", 2);
    if (err) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    weft__http_limits lim = { srv->o.max_request_line, srv->o.max_header_bytes, srv->o.max_headers };
    weft__http_head hd = { .hdrs = srv->hdrs, .hdrs_cap = srv->o.max_headers };
    ssize_t r = weft__http_parse_request(s->head.p, s->head.len, &hd, &lim);
    if (r <= 0) {
        int status = r < 0 && hd.status ? hd.status : 400;
        weft__h2s_respond(s, status, false);
        weft__httpd_log(h->c, NULL, status, 0);
        return 0;
    }
    weft__httpd_exchange *x = weft__httpd_exchange_new(h->c, &hd, s->head.p, (size_t)r);
    if (!x) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    /* HTTP/2 frames the body itself: END_STREAM, not the fields, says
     * where it ends (nghttp2 holds it to a Content-Length). */
    weft_httpd_req *q = &x->req;
    q->h2 = s;
    if (q->h.body == WEFT__BODY_NONE && !s->in_end) q->h.body = WEFT__BODY_CHUNKED;
    q->b.done = s->in_end;
    q->b.continue_due = false;
    s->x = x;
    s->on_ready = true;
    s->next_ready = h->ready;
    h->ready = s;
    return 0;
}

static int on_frame_recv(nghttp2_session *ss, const nghttp2_frame *f, void *ud) {
    weft__h2 *h = of(ud);
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
    weft__h2s *s = nghttp2_session_get_stream_user_data(ss, f->hd.stream_id);
    if (!s || h->calm) return 0;
    if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        s->in_end = true;
        weft_event_set(&s->ev);
    }
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) return head_done(h, s);
    return 0;
}

static int on_data(nghttp2_session *ss, uint8_t flags, int32_t id, const uint8_t *data,
                   size_t len, void *ud) {
    (void)flags, (void)ud;
    weft__h2s *s = nghttp2_session_get_stream_user_data(ss, id);
    /* No handler will read it (none, or it ended): the window goes back. */
    if (!s || !s->x) {
        nghttp2_session_consume(ss, id, len);  /* (the stream is open: it gets DATA) */
        return 0;
    }
    int err = weft__h2buf_put(s->h->mem, &s->in, data, len);
    weft_event_set(&s->ev);
    return err ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

static int on_close(nghttp2_session *ss, int32_t id, uint32_t code, void *ud) {
    (void)ud;
    weft__h2s *s = nghttp2_session_get_stream_user_data(ss, id);
    if (!s) return 0;
    s->closed = true;
    weft_event_set(&s->ev);
    /* A reset (by the client, or for an error) ends its handler; a stream
     * closed after its whole response leaves the handler to finish. */
    if (s->started && !s->task_done && (code != NGHTTP2_NO_ERROR || !s->out_end)) weft_cancel(s->task);
    release(s);
    return 0;
}

/* ------------------------------------------------------------- handlers */

static void *stream_main(void *arg) {
    weft__h2s *s = arg;
    weft__h2 *h = s->h;
    weft__httpd_exchange_run(s->x);
    weft__httpd_exchange_free(s->x);
    s->x = NULL;
    s->task_done = true;
    /* Whatever of its body it left unread will not be: the window back. */
    weft__h2s_consume(s, s->in.len - s->in.off);
    s->in.off = s->in.len = 0;
    if (h->c->srv->stopping && !h->goaway) {
        h->goaway = true;
        nghttp2_submit_goaway(h->ss, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->ss),
                              NGHTTP2_NO_ERROR, NULL, 0);
    }
    release(s);
    weft__h2_kick(h);
    if (--h->ntasks == 0) weft_event_set(&h->tasks_done);
    return NULL;
}

/* Starts a handler task for each head that came in this read and whose
 * stream was not reset meanwhile. */
static void start_ready(weft__h2 *h) {
    weft__h2s *list = h->ready;
    h->ready = NULL;
    for (weft__h2s *s = list, *next; s; s = next) {
        next = s->next_ready;
        s->on_ready = false;
        if (s->closed) {
            weft__httpd_exchange_free(s->x);
            s->x = NULL;
            release(s);
            continue;
        }
        weft_spawn_opts so = { .name = "h2-stream", .stack_size = h->c->srv->o.stack_size };
        if (weft_spawn_ex(&s->task, &so, stream_main, s) == 0) {
            weft_detach(s->task);  /* s->task stays valid until it ends */
            s->started = true;
            h->ntasks++;
        } else {
            weft__httpd_exchange_free(s->x);
            s->x = NULL;
            nghttp2_submit_rst_stream(h->ss, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_REFUSED_STREAM);
        }
    }
    if (h->ntasks > MAX_TASKS) calm(h);
}

/* ------------------------------------------------------------- the writer */

/* Sends everything the session has to send. */
static int send_pending(weft__h2 *h) {
    weft_stream *st = h->c->st;
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h->ss, &data);
        if (n < 0) return WEFT_EHTTP;
        if (n == 0) break;
        int err = weft_stream_write(st, data, (size_t)n);
        if (!err && weft_stream_unsent(st) > SEND_HIGH_WATER) err = weft__httpd_drain(h->c);
        if (err) return err;
    }
    return weft__httpd_drain(h->c);
}

static void *writer_main(void *arg) {
    weft__h2 *h = arg;
    for (;;) {
        weft_event_clear(&h->wake);
        if (send_pending(h)) break;
        if (h->stop || (!nghttp2_session_want_read(h->ss) && !nghttp2_session_want_write(h->ss))) break;
        if (weft_event_wait(&h->wake)) break;
    }
    /* The session is over (or its connection broke): the reader stops. */
    if (!h->stop) weft_cancel(h->c->task);
    return NULL;
}

/* ------------------------------------------------------------- a connection */

static int session_new(weft__h2 *h) {
    nghttp2_session_callbacks *cb;
    nghttp2_option *opt;
    if (nghttp2_session_callbacks_new(&cb)) return WEFT_ENOMEM;
    if (nghttp2_option_new(&opt)) {
        nghttp2_session_callbacks_del(cb);
        return WEFT_ENOMEM;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback2(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    nghttp2_option_set_no_auto_window_update(opt, 1);  /* windows open as handlers read */
    nghttp2_option_set_no_closed_streams(opt, 1);
    nghttp2_option_set_max_outbound_ack(opt, MAX_OUTBOUND_ACK);
    nghttp2_option_set_stream_reset_rate_limit(opt, RESET_BURST, RESET_RATE);
    nghttp2_option_set_max_continuations(opt, MAX_CONTINUATIONS);
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, HPACK_TABLE);
    nghttp2_mem mem = { &h->mem, m_malloc, m_free, m_calloc, m_realloc };
    int rv = nghttp2_session_server_new3(&h->ss, cb, h, opt, &mem);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rv) return WEFT_ENOMEM;
    const weft_httpd_opts *o = &h->c->srv->o;
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS },
        { NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, HPACK_TABLE },
        { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
          o->max_header_bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)o->max_header_bytes },
    };
    if (nghttp2_submit_settings(h->ss, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof *iv) ||
        nghttp2_session_set_local_window_size(h->ss, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW)) {
        nghttp2_session_del(h->ss);
        return WEFT_ENOMEM;
    }
    return 0;
}

/* Peeks what came, waiting until `deadline`. */
static ssize_t peek_by(weft__httpd_conn *c, int64_t deadline, const void **data) {
    weft_scope sc;
    weft__timed_begin(&sc, deadline);
    ssize_t n = weft_stream_peek(c->st, 1, data);
    return weft__timed_end(&sc, n, WEFT_ETIMEDOUT);
}

/* Feeds the session until the connection ends. Returns whether the
 * writer should flush what is queued (a GOAWAY) before the close. */
static bool read_frames(weft__h2 *h) {
    weft__httpd_conn *c = h->c;
    weft_httpd *srv = c->srv;
    for (;;) {
        if (srv->stopping && !h->nstreams) {
            nghttp2_session_terminate_session(h->ss, NGHTTP2_NO_ERROR);
            return true;
        }
        c->idle = h->nstreams == 0;
        int64_t d = weft_deadline_after(srv->o.keepalive_timeout);
        const void *data;
        weft__await_context("HTTP/2 frames on connection from", c->peer_name);
        ssize_t n = peek_by(c, d, &data);
        weft__await_context(NULL, NULL);
        c->idle = false;
        /* With no handler running, nothing but the client can move the
         * connection on (a stream waiting for its window, or none): one
         * that sent nothing for keepalive_timeout is closed. Handlers
         * bound their own waits. */
        if (n == WEFT_ETIMEDOUT && h->ntasks) continue;
        if (n == WEFT_ETIMEDOUT) {
            nghttp2_session_terminate_session(h->ss, NGHTTP2_NO_ERROR);
            return true;
        }
        /* A shutdown's cancel (of an idle connection, or after the grace
         * period) says goodbye: GOAWAY, then the close. */
        if (n == WEFT_ECANCELED && srv->stopping) {
            nghttp2_session_terminate_session(h->ss, NGHTTP2_NO_ERROR);
            return true;
        }
        if (n <= 0) return false;
        ssize_t used = nghttp2_session_mem_recv(h->ss, data, (size_t)n);
        if (used < 0) return false;  /* a flood nghttp2 caught, a bad preface: close */
        weft_stream_consume(c->st, (size_t)used);
        start_ready(h);
        weft__h2_kick(h);
        if (h->calm || !nghttp2_session_want_read(h->ss)) return true;
    }
}

/* Ends every handler (cancelled) and frees the session. */
static void close_session(weft__h2 *h) {
    for (weft__h2s *s = h->streams; s; s = s->next)
        if (s->started && !s->task_done) weft_cancel(s->task);
    while (h->ntasks && weft_event_wait(&h->tasks_done) == 0) {}
    for (weft__h2s *s = h->ready; s; s = s->next_ready) s->on_ready = false;  /* never started */
    h->ready = NULL;
    while (h->streams) {
        weft__h2s *s = h->streams;
        unlink_stream(s);
        if (s->x) weft__httpd_exchange_free(s->x);
        weft__h2s_free(s);
    }
    nghttp2_session_del(h->ss);
}

/* A connection's record and its session; NULL when out of memory. */
static weft__h2 *h2_open(weft__httpd_conn *c) {
    weft__mem m = c->srv->mem;
    weft__h2 *h = weft__mem_alloc(m, sizeof *h);
    if (!h) return NULL;
    memset(h, 0, sizeof *h);
    h->c = c;
    h->mem = m;
    /* Frames are small and go as soon as they are made (a WINDOW_UPDATE
     * the client waits for, a short response): Nagle's wait for an ACK
     * that a delayed ACK holds back cost ~40 ms a round (nginx sets
     * tcp_nodelay on its HTTP/2 connections too). Not a TCP socket: no-op. */
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
    if (session_new(h)) {
        weft__mem_free(m, h);
        return NULL;
    }
    return h;
}

/* Serves h's connection to its end (its writer started, the heads
 * already complete started too), and frees h. */
static void h2_run(weft__h2 *h) {
    weft__httpd_conn *c = h->c;
    weft_spawn_opts so = { .name = "h2-writer" };
    bool flush = false;
    if (weft_spawn_ex(&h->writer, &so, writer_main, h) == 0) {
        start_ready(h);
        flush = read_frames(h);
    }
    /* What follows must finish whatever cancelled the reader. */
    weft_scope sh;
    weft_scope_enter_ex(&sh, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    h->stop = true;
    if (!flush && h->writer) weft_cancel(h->writer);
    weft__h2_kick(h);
    weft_scope fl;  /* a last GOAWAY gets a while to leave, not send_timeout */
    weft_scope_enter(&fl, weft_deadline_after(GOAWAY_LINGER));
    int jerr = h->writer ? weft_join(h->writer, NULL) : 0;
    /* The lingering close, as HTTP/1.1's: frames the client sent before it
     * read the GOAWAY, unread at our close, would make it a reset that
     * destroys the GOAWAY before the client reads it. */
    if (!jerr && flush) weft__httpd_linger(c);
    weft_scope_leave(&fl);
    if (jerr) {
        weft_cancel(h->writer);
        weft_join(h->writer, NULL);
    }
    /* Handlers may queue frames as they end: nobody sends them now. */
    h->calm = true;
    close_session(h);
    weft_scope_leave(&sh);
    weft__mem_free(h->mem, h);
}

int weft__h2_serve(weft__httpd_conn *c) {
    weft__h2 *h = h2_open(c);
    if (!h) return WEFT_ENOMEM;
    h2_run(h);
    return 0;
}

/* HTTP2-Settings' value, base64url without padding (RFC 7540 3.2.1), into
 * out (cap bytes): the SETTINGS payload's length, or -1. */
static ssize_t settings_payload(const char *v, uint8_t *out, size_t cap) {
    char b[4 * 128];
    size_t n = strlen(v);
    if (n % 4 == 1 || n + 3 > sizeof b || (n + 3) / 4 * 3 > cap) return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '+' || v[i] == '/' || v[i] == '=') return -1;
        b[i] = v[i] == '-' ? '+' : v[i] == '_' ? '/' : v[i];
    }
    size_t pad = (4 - n % 4) % 4;
    memset(b + n, '=', pad);
    int k = EVP_DecodeBlock(out, (const unsigned char *)b, (int)(n + pad));
    return k < 0 ? -1 : k - (ssize_t)pad;
}

int weft__h2_upgrade(weft__httpd_conn *c, weft__httpd_exchange *x, const char *settings) {
    uint8_t payload[384];
    ssize_t plen = settings_payload(settings, payload, sizeof payload);
    if (plen < 0) return WEFT_EINVAL;
    weft__h2 *h = h2_open(c);
    if (!h) return WEFT_ENOMEM;
    weft_httpd_req *r = &x->req;
    weft__h2s *s = weft__mem_alloc(h->mem, sizeof *s);
    int rv = s ? nghttp2_session_upgrade2(h->ss, payload, (size_t)plen, !strcmp(r->h.method, "HEAD"), NULL) : -1;
    /* The 101 goes first: the writer's frames follow it in the stream. */
    static const char line[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
    if (!rv && weft_stream_write(c->st, line, sizeof line - 1)) rv = NGHTTP2_ERR_NOMEM;
    if (rv) {
        /* Nothing sent yet: the request goes on as HTTP/1.1. */
        weft__mem_free(h->mem, s);
        nghttp2_session_del(h->ss);
        weft__mem_free(h->mem, h);
        return rv == NGHTTP2_ERR_NOMEM || !s ? WEFT_ENOMEM : WEFT_EINVAL;
    }
    /* The request becomes stream 1, half-closed (it had no body). */
    memset(s, 0, sizeof *s);
    s->h = h;
    s->id = 1;
    s->in_end = true;
    h->streams = s;
    h->nstreams = 1;
    nghttp2_session_set_stream_user_data(h->ss, 1, s);
    r->h2 = s;
    r->b.done = true;
    r->b.continue_due = false;
    s->x = x;
    s->on_ready = true;
    h->ready = s;
    h2_run(h);
    return 0;
}
