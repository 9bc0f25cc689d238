/* libFuzzer target: the WebSocket's frame reader (src/http/ws.c), on a
 * stream whose transport is the fuzz input itself, handed out a few bytes
 * at a time; what the WebSocket writes (pongs, closes) is counted and
 * dropped. The first input byte picks the side (a server expects masked
 * frames, a client unmasked ones), how many bytes each read gets (1..7, or
 * all) and the message limit (64 bytes or 4 KiB); the rest is the frames.
 *
 * Checks: no crash, no leak, every message within the limit and of a known
 * type, every text message valid UTF-8 (by a decoder written apart from
 * ws.c's check), and recv ending only in the end of stream or one of the
 * protocol failures; then the closing handshake runs to its end. */
#include "fuzz_loop.h"
#include "ws.h"

#include <weft/stream.h>

#include <stdint.h>

typedef struct input {
    const uint8_t *p;
    size_t len, pos, chunk;
    size_t written;
} input;

static ssize_t in_read(void *ctx, void *buf, size_t len) {
    input *in = ctx;
    size_t n = in->len - in->pos;
    if (n > len) n = len;
    if (n > in->chunk) n = in->chunk;
    memcpy(buf, in->p + in->pos, n);
    in->pos += n;
    return (ssize_t)n;
}

static ssize_t in_writev(void *ctx, const struct iovec *iov, int iovcnt) {
    input *in = ctx;
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++) n += iov[i].iov_len;
    in->written += n;
    return (ssize_t)n;
}

static int in_close(void *ctx) {
    (void)ctx;
    return 0;
}

static const weft_transport in_ops = { in_read, in_writev, NULL, in_close, NULL };

/* UTF-8 by code points: each sequence decoded and its value checked for
 * its length (no overlong form), surrogates and the top of Unicode. */
static bool valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint32_t c = s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!k || i + k > n) return false;
        if (k > 1) c &= 0x3f >> (k - 1);
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return false;
            c = c << 6 | (s[i + j] & 0x3f);
        }
        static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
        if (c < min[k] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return false;
        i += k;
    }
    return true;
}

typedef struct run { const uint8_t *data; size_t len; unsigned opt; } run;

static int fuzz_main(void *arg) {
    run *r = arg;
    input in = { .p = r->data, .len = r->len, .chunk = (r->opt >> 1 & 7) ? (r->opt >> 1 & 7) : SIZE_MAX };
    weft_ws_opts o = { .max_message = r->opt & 16 ? 64 : 4096 };
    weft_stream *st;
    CHECK(weft_stream_new(&st, &in_ops, &in, NULL) == 0);
    weft_ws *ws;
    CHECK(weft__ws_new(&ws, st, true, r->opt & 1, &o, NULL) == 0);
    ssize_t n;
    const void *m;
    int type;
    while ((n = weft_ws_recv(ws, &m, &type)) >= 0) {
        CHECK((size_t)n <= o.max_message);
        CHECK(type == WEFT_WS_TEXT || type == WEFT_WS_BINARY);
        CHECK(((const char *)m)[n] == '\0');
        if (type == WEFT_WS_TEXT) CHECK(valid_utf8(m, (size_t)n));
    }
    CHECK(n == WEFT_EOF || n == -EPROTO || n == -EILSEQ || n == WEFT_ETOOBIG);
    CHECK(weft_ws_recv(ws, &m, &type) == n);  /* it sticks */
    int code = weft_ws_close_code(ws, NULL);
    CHECK(code == 1005 || code == 1006 || (code >= 1000 && code <= 4999));
    int err = weft_ws_close(ws, 1000, NULL);
    CHECK(err <= 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    if (len < 1) return 0;
    run r = { data + 1, len - 1, data[0] };
    fuzz_in_loop(fuzz_main, &r);
    return 0;
}
