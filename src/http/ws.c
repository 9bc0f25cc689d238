/* WebSocket frames and messages (RFC 6455 sections 5 and 7): reading frames
 * off the stream into whole messages, writing frames under a lock, and the
 * closing handshake. The opening handshakes are ws_open.c's.
 *
 * Framing is weft's own rather than wslay's: wslay's event API reads through
 * a callback that must not block and hands messages out through another,
 * which turns a task's straight-line recv into a state machine around it,
 * and what is left once the stream does the buffering is short: a header
 * parse, masking and the checks below.
 *
 * A frame is read in two steps that each leave a consistent state behind, so
 * that a cancelled recv loses nothing: the header is peeked until whole and
 * then consumed into `fr`; the payload is read straight into the message's
 * buffer as it comes (unmasked by its offset in the frame), `fr.left`
 * counting down. A recv cancelled anywhere resumes where it stopped.
 */
#include "ws.h"

#include <weft/stream.h>

#include <errno.h>
#include <openssl/rand.h>
#include <string.h>

#define CLOSE_TIMEOUT (10 * WEFT_SECOND)

enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };
#define FIN 0x80u

/* The frame being read. Invariant: `in` while its header has been consumed
 * and `left` of its payload bytes have not. */
typedef struct ws_frame {
    bool in, fin;
    unsigned op;
    unsigned char key[4];
    bool masked;
    uint64_t len, left;
} ws_frame;

struct weft_ws {
    weft__mem mem;
    weft_stream *st;
    bool own_stream, client;
    size_t max_message;
    int64_t close_timeout;
    weft_lock wlock;                  /* one frame written at a time */
    char *protocol;
    /* receiving */
    ws_frame fr;
    int msg_op;                       /* the data message being joined: 0 none */
    unsigned char *msg;               /* its bytes (+ a NUL), cap bytes */
    size_t msg_len, msg_cap;
    bool delivered;                   /* msg holds the message last returned */
    weft__utf8 rx_utf8;
    unsigned char ctl[125];           /* a control frame's payload */
    bool receiving;
    /* state */
    int failed;                       /* sticky: recv returns it */
    bool sent_close;
    int peer_code;                    /* 0 until the peer closes (or drops) */
    char peer_reason[124];
    /* sending */
    int tx_op;                        /* the fragmented message being sent: 0 none */
    weft__utf8 tx_utf8;
    struct weft__track *trk;
};

/* ------------------------------------------------------------------ UTF-8 */

bool weft__utf8_feed(weft__utf8 *u, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned c = p[i];
        if (u->need) {
            if (c < u->lo || c > u->hi) return false;
            u->need--, u->lo = 0x80, u->hi = 0xbf;
            continue;
        }
        if (c < 0x80) continue;
        if (c < 0xc2 || c > 0xf4) return false;
        u->lo = 0x80, u->hi = 0xbf;
        if (c < 0xe0) u->need = 1;
        else if (c < 0xf0) u->need = 2, u->lo = c == 0xe0 ? 0xa0 : 0x80, u->hi = c == 0xed ? 0x9f : 0xbf;
        else u->need = 3, u->lo = c == 0xf0 ? 0x90 : 0x80, u->hi = c == 0xf4 ? 0x8f : 0xbf;
    }
    return true;
}

static bool utf8_ok(const void *p, size_t n) {
    weft__utf8 u = { 0 };
    return weft__utf8_feed(&u, p, n) && !u.need;
}

/* ------------------------------------------------------------- life cycle */

int weft__ws_new(weft_ws **out, weft_stream *st, bool own_stream, bool client,
                 const weft_ws_opts *o, const char *protocol) {
    weft__mem m = weft__mem_here();
    weft_ws *ws = weft__mem_alloc(m, sizeof *ws);
    if (!ws) return WEFT_ENOMEM;
    *ws = (weft_ws){ .mem = m, .st = st, .own_stream = own_stream, .client = client,
                     .wlock = (weft_lock)WEFT_LOCK_INITIALIZER };
    ws->max_message = o && o->max_message ? o->max_message : WEFT_WS_MAX_MESSAGE;
    ws->close_timeout = o && o->close_timeout ? o->close_timeout : CLOSE_TIMEOUT;
    if (protocol && !(ws->protocol = weft__mem_strndup(m, protocol, strlen(protocol)))) {
        weft__mem_free(m, ws);
        return WEFT_ENOMEM;
    }
    weft__leak_watch(&ws->trk, "weft_ws", "weft_ws_close", ws);
    *out = ws;
    return 0;
}

static void ws_free(weft_ws *ws) {
    weft__leak_unwatch(&ws->trk);
    if (ws->own_stream) weft_stream_free(ws->st);
    weft__mem_free(ws->mem, ws->msg);
    weft__mem_free(ws->mem, ws->protocol);
    weft__mem_free(ws->mem, ws);
}

const char *weft_ws_protocol(const weft_ws *ws) { return ws->protocol; }

int weft_ws_close_code(const weft_ws *ws, const char **reason) {
    if (reason) *reason = ws->peer_reason;
    return ws->peer_code;
}

/* ---------------------------------------------------------------- writing */

/* Masking keys come from OpenSSL's generator (RFC 6455 asks for a strong
 * source of entropy, so that a peer cannot predict what goes on the wire):
 * a user-space DRBG seeded by the kernel, where getrandom(2) would cost a
 * system call per frame. It fails only if it cannot seed at all. */
static int mask_key(unsigned char key[4]) {
    return RAND_bytes(key, 4) == 1 ? 0 : WEFT_ENOMEM;
}

/* XORs p[0, n) with the key, p starting at byte `off` of the payload; eight
 * bytes at a time (a byte loop made masking a 24 MiB frame take longer
 * than sending it on loopback). */
static void xor_mask(unsigned char *p, size_t n, const unsigned char key[4], uint64_t off) {
    unsigned char k8[8];
    for (int i = 0; i < 8; i++) k8[i] = key[(off + (unsigned)i) & 3];
    uint64_t k, w;
    memcpy(&k, k8, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        w ^= k;
        memcpy(p + i, &w, 8);
    }
    for (; i < n; i++) p[i] ^= k8[i & 7];
}

/* Appends one frame to the stream: the header, then the payload, masked
 * through a stack buffer on a client. An append that fails halfway leaves a
 * cut frame: the connection is then unusable, which the caller records. */
static int put_frame(weft_ws *ws, unsigned b0, const void *data, size_t len) {
    unsigned char h[14], key[4];
    size_t hl = 2;
    h[0] = (unsigned char)b0;
    if (len < 126) h[1] = (unsigned char)len;
    else if (len <= 0xffff) h[1] = 126, h[2] = (unsigned char)(len >> 8), h[3] = (unsigned char)len, hl = 4;
    else {
        h[1] = 127, hl = 10;
        for (int i = 0; i < 8; i++) h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    }
    if (!ws->client) {
        struct iovec iov[2] = { { h, hl }, { (void *)data, len } };
        return weft_stream_writev(ws->st, iov, len ? 2 : 1);
    }
    h[1] |= 0x80;
    int err = mask_key(key);
    if (err) return err;
    memcpy(h + hl, key, 4);
    err = weft_stream_write(ws->st, h, hl + 4);
    unsigned char buf[4096];
    for (size_t off = 0; !err && off < len; off += sizeof buf) {
        size_t n = len - off < sizeof buf ? len - off : sizeof buf;
        memcpy(buf, (const char *)data + off, n);
        xor_mask(buf, n, key, off);
        err = weft_stream_write(ws->st, buf, n);
        if (err) ws->failed = err;
    }
    return err;
}

/* Writes a frame and waits until the stream has handed it on, holding the
 * write lock; *queued (if not NULL) says whether the frame was appended
 * whole, whatever the wait did. A close frame is the last: nothing is
 * written after it. */
static int send_frame_q(weft_ws *ws, unsigned b0, const void *data, size_t len, bool *queued) {
    int err = weft_lock_acquire(&ws->wlock);
    if (err) return err;
    if (ws->sent_close) err = WEFT_ECLOSED;
    else if (!(err = put_frame(ws, b0, data, len))) {
        if (queued) *queued = true;
        if ((b0 & 0x0f) == OP_CLOSE) ws->sent_close = true;
        err = weft_stream_drain(ws->st);
    }
    weft_lock_release(&ws->wlock);
    return err;
}

static int send_frame(weft_ws *ws, unsigned b0, const void *data, size_t len) {
    return send_frame_q(ws, b0, data, len, NULL);
}

/* Close codes a frame may carry (RFC 6455 section 7.4 and IANA's registry):
 * 1004 is reserved, and 1005, 1006 and 1015 only report what happened. */
static bool code_ok(int code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

static int send_close(weft_ws *ws, int code, const char *reason, size_t rlen) {
    unsigned char p[125];
    if (code == 1005) return send_frame(ws, FIN | OP_CLOSE, NULL, 0);
    p[0] = (unsigned char)(code >> 8), p[1] = (unsigned char)code;
    if (rlen) memcpy(p + 2, reason, rlen);
    return send_frame(ws, FIN | OP_CLOSE, p, rlen + 2);
}

/* Fails the connection (RFC 6455 section 7.1.7): the close with `code`
 * goes out if it can within the close timeout, and `err` sticks. */
static int fail(weft_ws *ws, int code, int err) {
    if (!ws->sent_close && !ws->failed) {
        weft_scope sc;
        weft_scope_enter(&sc, weft_deadline_after(ws->close_timeout));
        send_close(ws, code, NULL, 0);
        weft_scope_leave(&sc);
    }
    if (!ws->peer_code) ws->peer_code = 1006;
    ws->failed = err;
    return err;
}

int weft_ws_send(weft_ws *ws, int type, const void *data, size_t len) {
    int op = type & ~WEFT_WS_MORE;
    bool more = type & WEFT_WS_MORE;
    if ((op != WEFT_WS_TEXT && op != WEFT_WS_BINARY) || (ws->tx_op && op != ws->tx_op))
        return WEFT_EINVAL;
    weft__utf8 u = ws->tx_utf8;
    if (op == WEFT_WS_TEXT && (!weft__utf8_feed(&u, data, len) || (!more && u.need)))
        return WEFT_EINVAL;
    if (ws->failed && ws->failed != WEFT_EOF) return ws->failed;
    bool queued = false;
    unsigned b0 = (more ? 0 : FIN) | (ws->tx_op ? OP_CONT : (unsigned)op);
    int err = send_frame_q(ws, b0, data, len, &queued);
    if (!queued) return err;
    /* Sent, or queued whole: the fragment counts either way. */
    ws->tx_op = more ? op : 0;
    ws->tx_utf8 = more ? u : (weft__utf8){ 0 };
    return err;
}

int weft_ws_ping(weft_ws *ws, const void *data, size_t len) {
    if (len > 125) return WEFT_EINVAL;
    if (ws->failed && ws->failed != WEFT_EOF) return ws->failed;
    return send_frame(ws, FIN | OP_PING, data, len);
}

/* ---------------------------------------------------------------- reading */

/* Reads and consumes the next frame header into ws->fr, checking what the
 * header alone can tell. Returns 0, a negative code from the stream (nothing
 * consumed), or a protocol failure. */
static int read_header(weft_ws *ws) {
    const unsigned char *p;
    ssize_t n = weft_stream_peek(ws->st, 2, (const void **)&p);
    if (n < 0) return (int)n;
    unsigned b0 = p[0];
    bool masked = p[1] & 0x80;
    size_t len7 = p[1] & 0x7f;
    size_t hl = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
    if ((size_t)n < hl && (n = weft_stream_peek(ws->st, hl, (const void **)&p)) < 0) return (int)n;
    ws_frame f = { .in = true, .fin = b0 & FIN, .op = b0 & 0x0f, .masked = masked, .len = len7 };
    if (len7 >= 126) {
        f.len = 0;
        for (size_t i = 0; i < (len7 == 126 ? 2u : 8u); i++) f.len = f.len << 8 | p[2 + i];
    }
    if (masked) memcpy(f.key, p + hl - 4, 4);
    f.left = f.len;
    weft_stream_consume(ws->st, hl);
    bool control = f.op & 8;
    if ((b0 & 0x70) || masked != !ws->client || (f.op > OP_BINARY && f.op < OP_CLOSE) ||
        f.op > OP_PONG || (control && (!f.fin || f.len > 125)) || f.len >> 63 ||
        (!control && (f.op == OP_CONT) != (ws->msg_op != 0)))
        return fail(ws, 1002, -EPROTO);
    if (!control && f.len > ws->max_message - ws->msg_len) return fail(ws, 1009, WEFT_ETOOBIG);
    ws->fr = f;
    return 0;
}

/* Reads what is left of the frame's payload into dst (the frame's start),
 * unmasking as it comes. Returns 0 or the stream's error (WEFT_EOF for an
 * end mid-frame). */
static int read_payload(weft_ws *ws, unsigned char *dst) {
    ws_frame *f = &ws->fr;
    while (f->left) {
        uint64_t off = f->len - f->left;
        size_t want = f->left > SIZE_MAX ? SIZE_MAX : (size_t)f->left;
        ssize_t n = weft_stream_read(ws->st, dst + off, want);
        if (n == 0) return WEFT_EOF;
        if (n < 0) return (int)n;
        if (f->masked) xor_mask(dst + off, (size_t)n, f->key, off);
        if (ws->msg_op == OP_TEXT && dst != ws->ctl &&
            !weft__utf8_feed(&ws->rx_utf8, dst + off, (size_t)n))
            return fail(ws, 1007, -EILSEQ);
        f->left -= (uint64_t)n;
    }
    f->in = false;
    return 0;
}

/* The peer's close: checked, remembered and answered. */
static int got_close(weft_ws *ws) {
    size_t n = (size_t)ws->fr.len;
    int code = n >= 2 ? ws->ctl[0] << 8 | ws->ctl[1] : 1005;
    if (n == 1 || (n >= 2 && !code_ok(code))) return fail(ws, 1002, -EPROTO);
    if (n > 2 && !utf8_ok(ws->ctl + 2, n - 2)) return fail(ws, 1007, -EILSEQ);
    size_t rlen = n > 2 ? n - 2 : 0;
    if (rlen) memcpy(ws->peer_reason, ws->ctl + 2, rlen);
    ws->peer_reason[rlen] = '\0';
    ws->peer_code = code;
    ws->failed = WEFT_EOF;
    if (!ws->sent_close) {
        weft_scope sc;
        weft_scope_enter_ex(&sc, weft_deadline_after(ws->close_timeout), WEFT_SCOPE_SHIELD);
        send_close(ws, code, NULL, 0);
        weft_scope_leave(&sc);
    }
    return WEFT_EOF;
}

/* A control frame whose payload is in ws->ctl. */
static int control(weft_ws *ws) {
    if (ws->fr.op == OP_CLOSE) return got_close(ws);
    if (ws->fr.op == OP_PING) {
        int err = send_frame(ws, FIN | OP_PONG, ws->ctl, (size_t)ws->fr.len);
        if (err && err != WEFT_ECLOSED && err != WEFT_ECANCELED && err != WEFT_ETIMEDOUT)
            ws->failed = err;
        return err == WEFT_ECLOSED ? 0 : err;
    }
    return 0;
}

/* Makes room for the data frame being read. */
static int reserve(weft_ws *ws) {
    size_t need = ws->msg_len + (size_t)ws->fr.len + 1;
    if (need <= ws->msg_cap) return 0;
    size_t cap = ws->msg_cap ? ws->msg_cap : 256;
    while (cap < need) cap *= 2;
    unsigned char *p = weft__mem_grow(ws->mem, ws->msg, cap);
    if (!p) return WEFT_ENOMEM;
    ws->msg = p, ws->msg_cap = cap;
    return 0;
}

/* One step: reads a frame's header, or its payload and acts on it.
 * Returns 1 when a message is whole, 0 to go on, or an error. */
static int step(weft_ws *ws) {
    int err;
    if (!ws->fr.in) {
        if ((err = read_header(ws))) return err;
        if (!(ws->fr.op & 8) && ws->fr.op != OP_CONT) ws->msg_op = (int)ws->fr.op;
    }
    if (ws->fr.op & 8) {
        if ((err = read_payload(ws, ws->ctl))) return err;
        return control(ws);
    }
    if ((err = reserve(ws)) || (err = read_payload(ws, ws->msg + ws->msg_len))) return err;
    ws->msg_len += (size_t)ws->fr.len;
    if (!ws->fr.fin) return 0;
    if (ws->msg_op == OP_TEXT && ws->rx_utf8.need) return fail(ws, 1007, -EILSEQ);
    return 1;
}

/* Forgets the message delivered last. A buffer grown past KEEP_BUFFER for a
 * large one is let go, so that a connection that once got a big message
 * does not hold its memory while it idles. */
#define KEEP_BUFFER (64 * 1024)

static void forget_message(weft_ws *ws) {
    if (!ws->delivered) return;
    ws->delivered = false, ws->msg_len = 0, ws->msg_op = 0;
    if (ws->msg_cap > KEEP_BUFFER) {
        weft__mem_free(ws->mem, ws->msg);
        ws->msg = NULL, ws->msg_cap = 0;
    }
}

ssize_t weft_ws_recv(weft_ws *ws, const void **data, int *type) {
    if (ws->failed) return ws->failed;
    if (ws->receiving) return WEFT_EBUSY;
    forget_message(ws);
    ws->receiving = true;
    int r;
    while ((r = step(ws)) == 0) {}
    ws->receiving = false;
    if (r < 0) {
        bool transient = r == WEFT_ECANCELED || r == WEFT_ETIMEDOUT || r == WEFT_ENOMEM ||
                         r == WEFT_EBUSY || r == WEFT_ENOTASK || r == WEFT_EWRONGLOOP;
        if (!transient && !ws->failed) {  /* the connection ended or broke without a close */
            ws->failed = r;
            if (!ws->peer_code) ws->peer_code = 1006;
        }
        return r;
    }
    ws->msg[ws->msg_len] = '\0';
    ws->delivered = true;
    ws->rx_utf8 = (weft__utf8){ 0 };
    *data = ws->msg;
    *type = ws->msg_op;
    return (ssize_t)ws->msg_len;
}

/* ---------------------------------------------------------------- closing */

/* Reads until the peer's close, dropping data: 0 once it came, or how the
 * connection failed or ended without one (WEFT_EOF, 1006). */
static int await_close(weft_ws *ws) {
    while (!ws->failed) {
        forget_message(ws);
        int r = step(ws);
        if (r == WEFT_EOF && !ws->failed) ws->failed = WEFT_EOF, ws->peer_code = 1006;
        else if (r < 0 && r != WEFT_EOF) return r;
    }
    return ws->failed == WEFT_EOF && ws->peer_code != 1006 ? 0 : ws->failed;
}

/* A client waits for the server's TCP close (RFC 6455 section 7.1.1: the
 * server closes first, so that the TIME_WAIT is its). */
static int await_eof(weft_ws *ws) {
    char buf[256];
    ssize_t n;
    while ((n = weft_stream_read(ws->st, buf, sizeof buf)) > 0) {}
    return n == 0 || n == WEFT_EOF ? 0 : (int)n;
}

int weft_ws_close(weft_ws *ws, int code, const char *reason) {
    if (!ws) return 0;
    size_t rlen = reason ? strlen(reason) : 0;
    if (!code_ok(code) || rlen > 123 || !utf8_ok(reason, rlen)) return WEFT_EINVAL;
    if (ws->receiving) return WEFT_EBUSY;
    weft_scope sc;
    weft_scope_enter(&sc, weft_deadline_after(ws->close_timeout));
    int err = 0;
    bool broken = ws->failed && (ws->failed != WEFT_EOF || ws->peer_code == 1006);
    if (!broken && !ws->sent_close) err = send_close(ws, code, reason, rlen);
    if (!err && !broken) err = await_close(ws);
    if (!err && !broken && ws->client) err = await_eof(ws);
    if (weft_scope_leave(&sc) == WEFT_ETIMEDOUT) err = WEFT_ETIMEDOUT;
    if (!err && broken) err = ws->failed;
    ws_free(ws);
    return err;
}
