/* The WebSocket, weft's client against weft's server on loopback, and each
 * against a peer the test plays by hand with raw frames: the handshakes,
 * messages and fragments, ping and pong, malformed frames and the close
 * code each earns, UTF-8, the message limit, close codes and the closing
 * handshake's timeout, concurrent senders, a cancelled recv. Real clock. */
#include "test.h"
#include "wt_certs.h"

#include <weft/httpd.h>
#include <weft/io.h>
#include <weft/net.h>
#include <weft/ws.h>

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ the server */

/* What the server's handler does and saw. */
typedef struct srv {
    weft_httpd *h;
    weft_task *serve;
    int port;
    char url[64];
    weft_ws_opts o;
    weft_tls_ctx *tls;         /* serve wss */
    int close_code;            /* the handler closes with it, after one message, if set */
    int peer_code;             /* what the handler's recv saw last */
    char peer_reason[128];
    ssize_t last;              /* the handler's last recv result */
} srv;

static const char *const server_protocols[] = { "chat", "superchat", NULL };

/* Echoes messages until the peer closes or fails, noting how it ended. */
static int echo_handler(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    srv *s = arg;
    weft_ws *ws;
    int err = weft_ws_accept(&ws, req, res, &s->o);
    if (err) return err;
    const void *m;
    int type;
    ssize_t n;
    while ((n = weft_ws_recv(ws, &m, &type)) >= 0) {
        if (weft_ws_send(ws, type, m, (size_t)n)) break;
        if (s->close_code) break;
    }
    s->last = n;
    const char *reason;
    s->peer_code = weft_ws_close_code(ws, &reason);
    snprintf(s->peer_reason, sizeof s->peer_reason, "%s", reason);
    /* Cancelled by the server's shutdown: say so (1001) under a shield,
     * which close_timeout bounds. */
    weft_scope sc;
    weft_scope_enter_ex(&sc, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    if (n == WEFT_ECANCELED) weft_ws_close(ws, 1001, "shutting down");
    else weft_ws_close(ws, s->close_code ? s->close_code : 1000, s->close_code ? "done" : NULL);
    weft_scope_leave(&sc);
    return 0;
}

static void *serve_main(void *arg) { return weft_error(weft_httpd_serve(arg)); }

static void start(srv *s) {
    s->o.protocols = server_protocols;
    if (!s->o.close_timeout) s->o.close_timeout = 2 * WEFT_SECOND;
    weft_httpd_opts ho = { .tls = s->tls, .grace_period = 100 * WEFT_MILLISECOND };
    ASSERT_ERR(weft_httpd_new(&s->h, &ho, echo_handler, s), 0);
    ASSERT_ERR(weft_httpd_listen(s->h, "127.0.0.1", "0"), 0);
    s->port = weft_httpd_port(s->h);
    snprintf(s->url, sizeof s->url, "%s://localhost:%d/ws", s->tls ? "wss" : "ws", s->port);
    s->serve = weft_spawn(serve_main, s->h);
    ASSERT(s->serve);
}

static void stop(srv *s) {
    weft_httpd_shutdown(s->h);
    ASSERT_ERR(weft_join(s->serve, NULL), 0);
    weft_httpd_free(s->h);
}

/* ------------------------------------------------------- raw peer helpers */

static int dial(int port) {
    char p[8];
    snprintf(p, sizeof p, "%d", port);
    int fd;
    ASSERT_ERR(weft_tcp_connect("127.0.0.1", p, &fd), 0);
    return fd;
}

static void put(int fd, const void *p, size_t n) { ASSERT_EQ(weft_write(fd, p, n), (ssize_t)n); }

/* Reads exactly n bytes within 5 s; false at EOF. */
static bool get(int fd, void *buf, size_t n) {
    weft_scope sc;
    weft_timeout_enter(&sc, 5 * WEFT_SECOND);
    size_t got = 0;
    while (got < n) {
        ssize_t r = weft_read(fd, (char *)buf + got, n - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    ASSERT_ERR(weft_scope_leave(&sc), 0);
    return got == n;
}

/* Reads an HTTP head (up to the blank line) into buf. */
static void get_head(int fd, char *buf, size_t cap) {
    size_t n = 0;
    while (n < cap - 1 && (n < 4 || memcmp(buf + n - 4, "\r\n\r\n", 4))) ASSERT(get(fd, buf + n++, 1));
    buf[n] = 0;
}

static const char sample_req[] = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                 "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/* A raw client past the handshake with the RFC's sample key. */
static int raw_client(srv *s) {
    int fd = dial(s->port);
    put(fd, sample_req, sizeof sample_req - 1);
    char head[1024];
    get_head(fd, head, sizeof head);
    ASSERT(strstr(head, "HTTP/1.1 101 "));
    return fd;
}

/* Writes a frame: b0 as given, the length encoded, masked if `mask`. */
static void put_frame(int fd, unsigned b0, const void *data, size_t len, bool mask) {
    static unsigned char f[16 + 70000];
    static const unsigned char key[4] = { 0x37, 0xfa, 0x21, 0x3d };
    size_t hl = 2;
    ASSERT(len <= 70000);
    f[0] = (unsigned char)b0;
    if (len < 126) f[1] = (unsigned char)len;
    else if (len < 65536) f[1] = 126, f[2] = (unsigned char)(len >> 8), f[3] = (unsigned char)len, hl = 4;
    else {
        f[1] = 127, hl = 10;
        for (int i = 0; i < 8; i++) f[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    }
    if (mask) f[1] |= 0x80, memcpy(f + hl, key, 4), hl += 4;
    for (size_t i = 0; i < len; i++) f[hl + i] = ((const unsigned char *)data)[i] ^ (mask ? key[i & 3] : 0);
    put(fd, f, hl + len);
}

/* Reads a frame: its first byte, payload (unmasked) into buf (cap), and
 * its length; -1 at EOF. *masked (if not NULL) says whether it was. */
static long get_frame_m(int fd, unsigned *b0, unsigned char *buf, size_t cap, bool *masked) {
    unsigned char h[10], key[4];
    if (!get(fd, h, 2)) return -1;
    if (masked) *masked = h[1] & 0x80;
    size_t len = h[1] & 0x7f;
    if (len == 126) {
        ASSERT(get(fd, h + 2, 2));
        len = (size_t)h[2] << 8 | h[3];
    }
    else if (len == 127) {
        ASSERT(get(fd, h + 2, 8));
        len = 0;
        for (int i = 2; i < 10; i++) len = len << 8 | h[i];
    }
    if (h[1] & 0x80) ASSERT(get(fd, key, 4));
    ASSERT(len <= cap);
    ASSERT(get(fd, buf, len));
    for (size_t i = 0; (h[1] & 0x80) && i < len; i++) buf[i] ^= key[i & 3];
    *b0 = h[0];
    return (long)len;
}

/* A server's frame: unmasked. */
static long get_frame(int fd, unsigned *b0, unsigned char *buf, size_t cap) {
    bool masked;
    long n = get_frame_m(fd, b0, buf, cap, &masked);
    ASSERT(n < 0 || !masked);
    return n;
}

/* Reads frames until a close; returns its code (1005 for none). */
static int get_close(int fd) {
    unsigned b0;
    static unsigned char p[70000];
    long n;
    while ((n = get_frame_m(fd, &b0, p, sizeof p, NULL)) >= 0)
        if ((b0 & 0x0f) == 8) return n >= 2 ? p[0] << 8 | p[1] : 1005;
    return -1;
}

/* ---------------------------------------------------- weft client, server */

static int t_echo(void *arg) {
    (void)arg;
    srv s = { 0 };
    start(&s);
    weft_ws *ws;
    ASSERT_ERR(weft_ws_connect(&ws, s.url, NULL), 0);
    const void *m;
    int type;
    ASSERT_ERR(weft_ws_send(ws, WEFT_WS_TEXT, "héllo", 6), 0);
    ASSERT_EQ(weft_ws_recv(ws, &m, &type), 6);
    ASSERT_EQ(type, WEFT_WS_TEXT);
    ASSERT_STR(m, "héllo");
    static unsigned char big[200000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (unsigned char)(i * 7);
    ASSERT_ERR(weft_ws_send(ws, WEFT_WS_BINARY, big, sizeof big), 0);
    ASSERT_EQ(weft_ws_recv(ws, &m, &type), (ssize_t)sizeof big);
    ASSERT_EQ(type, WEFT_WS_BINARY);
    ASSERT(!memcmp(m, big, sizeof big));
    ASSERT_ERR(weft_ws_send(ws, WEFT_WS_BINARY, NULL, 0), 0);
    ASSERT_EQ(weft_ws_recv(ws, &m, &type), 0);
    ASSERT_EQ(type, WEFT_WS_BINARY);
    ASSERT_ERR(weft_ws_close(ws, 4000, "bye"), 0);
    stop(&s);
    ASSERT_EQ(s.peer_code, 4000);
    ASSERT_STR(s.peer_reason, "bye");
    ASSERT_ERR(s.last, WEFT_EOF);
    return 0;
}
TEST(text_binary_and_empty_messages_echo_and_close_code_reaches_server) {
    ASSERT_EQ(wt_run_real(t_echo, NULL), 0);
}

static int t_fragments(void *arg) {
    (void)arg;
    srv s = { 0 };
    start(&s);
    weft_ws *ws;
    ASSERT_ERR(weft_ws_connect(&ws, s.url, NULL), 0);
    /* "é" split between two fragments is still one valid character. */
    ASSERT_ERR(weft_ws_send(ws, WEFT_WS_TEXT | WEFT_WS_MORE, "ab\xc3", 3), 0);
    ASSERT_ERR(weft_ws_send(ws, WEFT_WS_BINARY, "x", 1), WEFT_EINVAL);  /* mid-message */
    ASSERT_ERR(weft_ws_ping(ws, "p", 1), 0);                           /* between fragments */
    ASSERT_ERR(weft_ws_send(ws, WEFT_WS_TEXT | WEFT_WS_MORE, "\xa9", 1), 0);
    ASSERT_ERR(weft_ws_send(ws, WEFT_WS_TEXT, "cd", 2), 0);
    const void *m;
    int type;
    ASSERT_EQ(weft_ws_recv(ws, &m, &type), 6);
    ASSERT_STR(m, "ab\xc3\xa9" "cd");
    ASSERT_ERR(weft_ws_send(ws, WEFT_WS_TEXT, "\xc3", 1), WEFT_EINVAL);
    ASSERT_ERR(weft_ws_send(ws, 7, "x", 1), WEFT_EINVAL);
    ASSERT_ERR(weft_ws_close(ws, 1005, NULL), WEFT_EINVAL);  /* never on the wire */
    ASSERT_ERR(weft_ws_close(ws, 1000, NULL), 0);
    stop(&s);
    ASSERT_EQ(s.peer_code, 1000);
    return 0;
}
TEST(fragments_are_joined_across_an_interleaved_ping_and_utf8_checked_across_them) {
    ASSERT_EQ(wt_run_real(t_fragments, NULL), 0);
}

static int t_server_closes(void *arg) {
    (void)arg;
    srv s = { .close_code = 4001 };
    start(&s);
    weft_ws *ws;
    ASSERT_ERR(weft_ws_connect(&ws, s.url, NULL), 0);
    const void *m;
    int type;
    const char *reason;
    ASSERT_ERR(weft_ws_send(ws, WEFT_WS_TEXT, "one", 3), 0);
    ASSERT_EQ(weft_ws_recv(ws, &m, &type), 3);
    ASSERT_ERR(weft_ws_recv(ws, &m, &type), WEFT_EOF);
    ASSERT_EQ(weft_ws_close_code(ws, &reason), 4001);
    ASSERT_STR(reason, "done");
    ASSERT_ERR(weft_ws_recv(ws, &m, &type), WEFT_EOF);  /* sticks */
    ASSERT_ERR(weft_ws_send(ws, WEFT_WS_TEXT, "x", 1), WEFT_ECLOSED);
    ASSERT_ERR(weft_ws_close(ws, 1000, NULL), 0);
    stop(&s);
    return 0;
}
TEST(server_close_code_and_reason_reach_client_whose_sends_then_fail) {
    ASSERT_EQ(wt_run_real(t_server_closes, NULL), 0);
}

static int t_protocols(void *arg) {
    (void)arg;
    srv s = { 0 };
    start(&s);
    const char *offer[] = { "x", "superchat", "chat", NULL };
    weft_ws_opts o = { .protocols = offer, .origin = "http://example.com" };
    weft_ws *ws;
    ASSERT_ERR(weft_ws_connect(&ws, s.url, &o), 0);
    ASSERT_STR(weft_ws_protocol(ws), "chat");  /* the server's preference */
    ASSERT_ERR(weft_ws_close(ws, 1000, NULL), 0);
    const char *other[] = { "x", NULL };
    o.protocols = other;
    ASSERT_ERR(weft_ws_connect(&ws, s.url, &o), 0);
    ASSERT(weft_ws_protocol(ws) == NULL);
    ASSERT_ERR(weft_ws_close(ws, 1000, NULL), 0);
    const char *bad[] = { "a b", NULL };
    o.protocols = bad;
    ASSERT_ERR(weft_ws_connect(&ws, s.url, &o), WEFT_EINVAL);
    ASSERT_ERR(weft_ws_connect(&ws, "http://127.0.0.1/", NULL), WEFT_EURL);
    stop(&s);
    return 0;
}
TEST(subprotocol_is_the_servers_first_choice_among_those_offered) {
    ASSERT_EQ(wt_run_real(t_protocols, NULL), 0);
}

/* Two tasks send while the main task receives: every message comes back
 * whole (frames never interleave). */
typedef struct sender { weft_ws *ws; char tag; } sender;
static void *send_many(void *arg) {
    sender *sd = arg;
    char msg[3000];
    memset(msg, sd->tag, sizeof msg);
    for (int i = 0; i < 100; i++) ASSERT_ERR(weft_ws_send(sd->ws, WEFT_WS_BINARY, msg, sizeof msg), 0);
    return NULL;
}
static int t_concurrent(void *arg) {
    (void)arg;
    srv s = { 0 };
    start(&s);
    weft_ws *ws;
    ASSERT_ERR(weft_ws_connect(&ws, s.url, NULL), 0);
    sender a = { ws, 'a' }, b = { ws, 'b' };
    weft_task *ta = weft_spawn(send_many, &a), *tb = weft_spawn(send_many, &b);
    int seen[2] = { 0 };
    for (int i = 0; i < 200; i++) {
        const void *m;
        int type;
        ASSERT_EQ(weft_ws_recv(ws, &m, &type), 3000);
        const char *p = m;
        for (int j = 0; j < 3000; j++) ASSERT_EQ(p[j], p[0]);
        seen[p[0] == 'b']++;
    }
    ASSERT_EQ(seen[0], 100);
    ASSERT_EQ(seen[1], 100);
    ASSERT_ERR(weft_join(ta, NULL), 0);
    ASSERT_ERR(weft_join(tb, NULL), 0);
    ASSERT_ERR(weft_ws_close(ws, 1000, NULL), 0);
    stop(&s);
    return 0;
}
TEST(two_tasks_send_while_a_third_receives_and_frames_stay_whole) {
    ASSERT_EQ(wt_run_real(t_concurrent, NULL), 0);
}

/* ------------------------------------------------------- raw client */

static int t_sample(void *arg) {
    (void)arg;
    srv s = { 0 };
    start(&s);
    int fd = dial(s.port);
    put(fd, sample_req, sizeof sample_req - 1);
    char head[1024];
    get_head(fd, head, sizeof head);
    ASSERT(strstr(head, "HTTP/1.1 101 Switching Protocols\r\n"));
    ASSERT(strstr(head, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    ASSERT(strstr(head, "\r\nUpgrade: websocket\r\n"));
    ASSERT(!strstr(head, "Sec-WebSocket-Protocol"));
    /* A ping is answered with its payload; the server's frames are unmasked. */
    put_frame(fd, 0x89, "hi!", 3, true);
    unsigned b0;
    unsigned char p[400];
    ASSERT_EQ(get_frame(fd, &b0, p, sizeof p), 3);
    ASSERT_EQ(b0, 0x8a);
    ASSERT(!memcmp(p, "hi!", 3));
    /* A 16-bit length, then a close without a code: answered without one. */
    static unsigned char mid[300];
    put_frame(fd, 0x82, mid, sizeof mid, true);
    ASSERT_EQ(get_frame(fd, &b0, p, sizeof p), 300);
    put_frame(fd, 0x88, NULL, 0, true);
    ASSERT_EQ(get_close(fd), 1005);
    ASSERT(!get(fd, p, 1));  /* the server closes the connection */
    weft_close(fd);
    stop(&s);
    ASSERT_EQ(s.peer_code, 1005);
    return 0;
}
TEST(rfc_sample_key_gets_rfc_accept_and_ping_gets_its_pong) {
    ASSERT_EQ(wt_run_real(t_sample, NULL), 0);
}

/* A malformed frame, or sequence of frames, and the close code it earns. */
typedef struct bad {
    const char *what;
    unsigned b0[2];
    const char *payload[2];
    size_t len[2];
    bool unmasked;
    int code;
} bad;

static const bad bads[] = {
    { "unmasked client frame", { 0x81 }, { "x" }, { 1 }, true, 1002 },
    { "RSV1 without extension", { 0xc1 }, { "x" }, { 1 }, false, 1002 },
    { "RSV3", { 0x91 }, { "x" }, { 1 }, false, 1002 },
    { "opcode 3", { 0x83 }, { "x" }, { 1 }, false, 1002 },
    { "opcode 0xb", { 0x8b }, { "x" }, { 1 }, false, 1002 },
    { "fragmented ping", { 0x09 }, { "x" }, { 1 }, false, 1002 },
    { "ping over 125 bytes", { 0x89 }, { NULL }, { 126 }, false, 1002 },
    { "continuation first", { 0x80 }, { "x" }, { 1 }, false, 1002 },
    { "text inside a fragmented text", { 0x01, 0x81 }, { "a", "b" }, { 1, 1 }, false, 1002 },
    { "close with 1 byte", { 0x88 }, { "\x03" }, { 1 }, false, 1002 },
    { "close code 1005", { 0x88 }, { "\x03\xed" }, { 2 }, false, 1002 },
    { "close code 1006", { 0x88 }, { "\x03\xee" }, { 2 }, false, 1002 },
    { "close code 1015", { 0x88 }, { "\x03\xf7" }, { 2 }, false, 1002 },
    { "close code 1004", { 0x88 }, { "\x03\xec" }, { 2 }, false, 1002 },
    { "close code 999", { 0x88 }, { "\x03\xe7" }, { 2 }, false, 1002 },
    { "close code 5000", { 0x88 }, { "\x13\x88" }, { 2 }, false, 1002 },
    { "close reason not UTF-8", { 0x88 }, { "\x03\xe8\xff" }, { 3 }, false, 1007 },
    { "text not UTF-8", { 0x81 }, { "a\xff" }, { 2 }, false, 1007 },
    { "overlong UTF-8", { 0x81 }, { "\xc0\xaf" }, { 2 }, false, 1007 },
    { "surrogate in UTF-8", { 0x81 }, { "\xed\xa0\x80" }, { 3 }, false, 1007 },
    { "past U+10FFFF", { 0x81 }, { "\xf4\x90\x80\x80" }, { 4 }, false, 1007 },
    { "text ending mid-character", { 0x81 }, { "a\xe2\x82" }, { 3 }, false, 1007 },
    { "bad UTF-8 in a first fragment", { 0x01, 0x80 }, { "\xff", "a" }, { 1, 1 }, false, 1007 },
    { "message over the limit", { 0x82 }, { NULL }, { 1001 }, false, 1009 },
    { "fragments over the limit", { 0x02, 0x80 }, { NULL, NULL }, { 600, 600 }, false, 1009 },
};

static int t_bad(void *arg) {
    const bad *b = arg;
    srv s = { .o.max_message = 1000 };
    start(&s);
    int fd = raw_client(&s);
    static unsigned char zeros[2000];
    for (int i = 0; i < 2 && b->b0[i]; i++)
        put_frame(fd, b->b0[i], b->payload[i] ? b->payload[i] : (const char *)zeros, b->len[i], !b->unmasked);
    int code = get_close(fd);
    if (code != b->code) fprintf(stderr, "%s: close %d, want %d\n", b->what, code, b->code);
    ASSERT_EQ(code, b->code);
    ASSERT(s.last < 0 && s.last != WEFT_EOF);
    weft_close(fd);
    stop(&s);
    return 0;
}
TEST(malformed_frames_fail_the_connection_with_1002_1007_or_1009) {
    for (size_t i = 0; i < sizeof bads / sizeof *bads; i++) ASSERT_EQ(wt_run_real(t_bad, (void *)&bads[i]), 0);
}

static int t_refused(void *arg) {
    (void)arg;
    srv s = { 0 };
    start(&s);
    static const struct { const char *req, *status; } cases[] = {
        { "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 " },
        { "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
          "HTTP/1.1 426 " },
        { "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short==\r\n\r\n", "HTTP/1.1 400 " },
        { "POST /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
          "HTTP/1.1 400 " },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int fd = dial(s.port);
        put(fd, cases[i].req, strlen(cases[i].req));
        char head[1024];
        get_head(fd, head, sizeof head);
        ASSERT(!strncmp(head, cases[i].status, strlen(cases[i].status)));
        if (i == 1) ASSERT(strstr(head, "\r\nSec-WebSocket-Version: 13\r\n"));
        weft_close(fd);
    }
    stop(&s);
    return 0;
}
TEST(request_that_is_no_handshake_is_answered_400_and_another_version_426) {
    ASSERT_EQ(wt_run_real(t_refused, NULL), 0);
}

/* ------------------------------------------------------- raw server */

/* Accepts one connection on lfd and answers its handshake with `status`
 * (101 with the right accept unless `wrong`). */
static int raw_accept(int lfd, int status, bool wrong) {
    int fd;
    ASSERT_ERR(weft_accept(lfd, NULL, NULL, &fd), 0);
    char head[2048], in[128], acc[64], out[512];
    get_head(fd, head, sizeof head);
    const char *k = strstr(head, "Sec-WebSocket-Key: ");
    ASSERT(k);
    snprintf(in, sizeof in, "%.24s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", k + 19);
    unsigned char md[20];
    unsigned mdlen;
    ASSERT(EVP_Digest(in, strlen(in), md, &mdlen, EVP_sha1(), NULL));
    EVP_EncodeBlock((unsigned char *)acc, md, 20);
    if (wrong) acc[0] ^= 1;
    int n = snprintf(out, sizeof out, "HTTP/1.1 %d X\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\nContent-Length: 0\r\n\r\n", status, acc);
    put(fd, out, (size_t)n);
    return fd;
}

typedef struct dialer { char url[64]; weft_ws_opts o; weft_ws *ws; int err; } dialer;
static void *dial_main(void *arg) {
    dialer *d = arg;
    d->err = weft_ws_connect(&d->ws, d->url, &d->o);
    return NULL;
}
static weft_task *spawn_dial(dialer *d, int lfd) {
    snprintf(d->url, sizeof d->url, "ws://127.0.0.1:%d/", weft_sock_port(lfd));
    return weft_spawn(dial_main, d);
}

/* weft's client connected to the test as a raw server: *lfd listens, *fd
 * is the server's end. */
static weft_ws *raw_pair(int *lfd, int *fd, int64_t close_timeout) {
    ASSERT_ERR(weft_tcp_listen("127.0.0.1", "0", 8, lfd), 0);
    dialer d = { .o.close_timeout = close_timeout };
    weft_task *t = spawn_dial(&d, *lfd);
    *fd = raw_accept(*lfd, 101, false);
    ASSERT_ERR(weft_join(t, NULL), 0);
    ASSERT_ERR(d.err, 0);
    return d.ws;
}

static int t_bad_answers(void *arg) {
    (void)arg;
    int lfd;
    ASSERT_ERR(weft_tcp_listen("127.0.0.1", "0", 8, &lfd), 0);
    static const struct { int status; bool wrong; int err; } cases[] = {
        { 101, true, WEFT_EHTTP }, { 200, false, WEFT_EHTTPSTATUS }, { 101, false, 0 },
    };
    for (size_t i = 0; i < 3; i++) {
        dialer d = { .o.close_timeout = WEFT_SECOND };
        weft_task *t = spawn_dial(&d, lfd);
        int fd = raw_accept(lfd, cases[i].status, cases[i].wrong);
        ASSERT_ERR(weft_join(t, NULL), 0);
        ASSERT_ERR(d.err, cases[i].err);
        if (d.ws) {
            /* A masked frame from a server is refused with 1002. */
            put_frame(fd, 0x81, "x", 1, true);
            const void *m;
            int type;
            ASSERT_ERR(weft_ws_recv(d.ws, &m, &type), -EPROTO);
            unsigned char h[2];
            ASSERT(get(fd, h, 2));
            ASSERT_EQ(h[0], 0x88);
            ASSERT(h[1] & 0x80);  /* the client masks */
            ASSERT_ERR(weft_ws_close(d.ws, 1000, NULL), -EPROTO);
        }
        weft_close(fd);
    }
    weft_close(lfd);
    return 0;
}
TEST(client_refuses_wrong_accept_and_non_101_and_masked_server_frames) {
    ASSERT_EQ(wt_run_real(t_bad_answers, NULL), 0);
}

static int t_cancel_recv(void *arg) {
    (void)arg;
    int lfd, fd;
    weft_ws *ws = raw_pair(&lfd, &fd, 200 * WEFT_MILLISECOND);
    /* Half of a fragmented message, and half of its second frame's
     * header: a recv cut short by its deadline, then the rest. */
    put_frame(fd, 0x01, "hello ", 6, false);
    put(fd, "\x80", 1);
    const void *m;
    int type;
    weft_scope sc;
    weft_timeout_enter(&sc, 50 * WEFT_MILLISECOND);
    ASSERT_ERR(weft_ws_recv(ws, &m, &type), WEFT_ETIMEDOUT);
    weft_scope_leave(&sc);
    put(fd, "\x05wor", 4);
    weft_timeout_enter(&sc, 50 * WEFT_MILLISECOND);
    ASSERT_ERR(weft_ws_recv(ws, &m, &type), WEFT_ETIMEDOUT);
    weft_scope_leave(&sc);
    put(fd, "ld", 2);
    ASSERT_EQ(weft_ws_recv(ws, &m, &type), 11);
    ASSERT_STR(m, "hello world");
    /* A peer that never answers the close: the close gives up in time. */
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_ws_close(ws, 1001, NULL), WEFT_ETIMEDOUT);
    ASSERT(weft_now() - t0 >= 150 * WEFT_MILLISECOND);
    ASSERT_EQ(get_close(fd), 1001);
    weft_close(fd);
    weft_close(lfd);
    return 0;
}
TEST(cancelled_recv_loses_nothing_and_unanswered_close_times_out) {
    ASSERT_EQ(wt_run_real(t_cancel_recv, NULL), 0);
}

/* A send cut short while the peer does not read leaves its frame queued
 * whole: the next send takes it along, and the peer reads both intact. */
#define BIG (24 * 1024 * 1024)
static void *send_after(void *arg) {
    ASSERT_ERR(weft_ws_send(arg, WEFT_WS_TEXT, "after", 5), 0);
    return NULL;
}
static int t_cancel_send(void *arg) {
    (void)arg;
    int lfd, fd;
    weft_ws *ws = raw_pair(&lfd, &fd, 200 * WEFT_MILLISECOND);
    unsigned char *big = malloc(BIG), *in = malloc(BIG);
    for (size_t i = 0; i < BIG; i++) big[i] = (unsigned char)(i * 13);
    weft_scope sc;
    weft_timeout_enter(&sc, 100 * WEFT_MILLISECOND);
    ASSERT_ERR(weft_ws_send(ws, WEFT_WS_BINARY, big, BIG), WEFT_ETIMEDOUT);
    weft_scope_leave(&sc);
    weft_task *t = weft_spawn(send_after, ws);
    unsigned b0;
    bool masked;
    ASSERT_EQ(get_frame_m(fd, &b0, in, BIG, &masked), BIG);
    ASSERT(masked && b0 == 0x82 && !memcmp(in, big, BIG));
    ASSERT_EQ(get_frame_m(fd, &b0, in, BIG, &masked), 5);
    ASSERT(b0 == 0x81 && !memcmp(in, "after", 5));
    ASSERT_ERR(weft_join(t, NULL), 0);
    ASSERT_ERR(weft_ws_close(ws, 1000, NULL), WEFT_ETIMEDOUT);
    free(big);
    free(in);
    weft_close(fd);
    weft_close(lfd);
    return 0;
}
TEST(send_cut_short_by_its_deadline_leaves_its_frame_whole_for_the_next) {
    ASSERT_EQ(wt_run_real(t_cancel_send, NULL), 0);
}

static int t_wss(void *arg) {
    wt_certs *certs = arg;
    weft_tls_opts so = { .flags = WEFT_TLS_SERVER, .cert_file = wt_certs_path(certs, "good.pem"),
                         .key_file = wt_certs_path(certs, "good.key") };
    weft_tls_opts co = { .ca_file = wt_certs_path(certs, "ca.pem") };
    weft_tls_ctx *client_tls;
    srv s = { 0 };
    ASSERT_ERR(weft_tls_ctx_new(&s.tls, &so), 0);
    ASSERT_ERR(weft_tls_ctx_new(&client_tls, &co), 0);
    start(&s);
    weft_ws *ws;
    /* The system's CAs (the default context) do not know the test's. */
    ASSERT_ERR(weft_ws_connect(&ws, s.url, NULL), WEFT_ECERTUNTRUSTED);
    weft_ws_opts o = { .tls = client_tls };
    ASSERT_ERR(weft_ws_connect(&ws, s.url, &o), 0);
    weft_tls_ctx_free(client_tls);  /* the connection keeps what it needs */
    const void *m;
    int type;
    ASSERT_ERR(weft_ws_send(ws, WEFT_WS_TEXT, "secret", 6), 0);
    ASSERT_EQ(weft_ws_recv(ws, &m, &type), 6);
    ASSERT_STR(m, "secret");
    ASSERT_ERR(weft_ws_close(ws, 1000, NULL), 0);
    stop(&s);
    weft_tls_ctx_free(s.tls);
    ASSERT_EQ(s.peer_code, 1000);
    return 0;
}
TEST(wss_runs_over_tls_and_verifies_the_server) {
    wt_certs certs;
    wt_certs_make(&certs);
    ASSERT_EQ(wt_run_real(t_wss, &certs), 0);
    wt_certs_free(&certs);
}

static void *stop_main(void *arg) {
    stop(arg);
    return NULL;
}
static int t_shutdown(void *arg) {
    (void)arg;
    srv s = { 0 };
    start(&s);
    weft_ws *ws;
    ASSERT_ERR(weft_ws_connect(&ws, s.url, NULL), 0);
    const void *m;
    int type;
    const char *reason;
    ASSERT_ERR(weft_ws_send(ws, WEFT_WS_TEXT, "hi", 2), 0);
    ASSERT_EQ(weft_ws_recv(ws, &m, &type), 2);
    weft_task *t = weft_spawn(stop_main, &s);
    ASSERT_ERR(weft_ws_recv(ws, &m, &type), WEFT_EOF);
    ASSERT_EQ(weft_ws_close_code(ws, &reason), 1001);
    ASSERT_STR(reason, "shutting down");
    ASSERT_ERR(weft_ws_close(ws, 1000, NULL), 0);
    ASSERT_ERR(weft_join(t, NULL), 0);
    ASSERT_ERR(s.last, WEFT_ECANCELED);
    return 0;
}
TEST(server_shutdown_cancels_the_handler_after_grace_and_it_closes_with_1001) {
    ASSERT_EQ(wt_run_real(t_shutdown, NULL), 0);
}

/* A peer that drops the connection instead of answering the close: the
 * close ends at once with WEFT_EOF, not at its timeout. */
static void *drop_after_close(void *arg) {
    int *fd = arg;
    ASSERT_EQ(get_close(*fd), 1000);
    weft_close(*fd);
    return NULL;
}
static int t_dropped(void *arg) {
    (void)arg;
    int lfd, fd;
    weft_ws *ws = raw_pair(&lfd, &fd, 5 * WEFT_SECOND);
    weft_task *t = weft_spawn(drop_after_close, &fd);
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_ws_close(ws, 1000, NULL), WEFT_EOF);
    ASSERT(weft_now() - t0 < 2 * WEFT_SECOND);
    ASSERT_ERR(weft_join(t, NULL), 0);
    weft_close(lfd);
    return 0;
}
TEST(close_answered_by_a_dropped_connection_ends_at_once_with_eof) {
    ASSERT_EQ(wt_run_real(t_dropped, NULL), 0);
}
