/* The scenarios the fault walks run (test_alloc_fail.c, test_sys_fault.c):
 * spawn and join, a stream round trip over a socketpair, an HTTP server
 * round trip with a raw client, a client GET through two redirects to a
 * deflated JSON body (server in the same loop), a TLS handshake and echo.
 * Each returns 0 or its error, never asserts on an error (only on a wrong
 * result), and leaves nothing behind either way: a fault may strike any
 * step. Header-only; include after test.h. */
#ifndef WEFT_WT_SCENARIOS_H
#define WEFT_WT_SCENARIOS_H

#include "wt_certs.h"

#include <weft/http.h>
#include <weft/httpd.h>
#include <weft/io.h>
#include <weft/net.h>
#include <weft/stream.h>
#include <weft/tls.h>
#include <weft/ws.h>

#include <jansson.h>
#include <stdint.h>
#include <sys/socket.h>
#include <zlib.h>

/* Defined in ASan builds, which run the walks ~10x slower: they walk less. */
#if defined(__SANITIZE_ADDRESS__)
#define WT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WT_ASAN 1
#endif
#endif

/* A scenario: 0 on success, else its error. SERVER_FAILED: the client saw
 * the server fail (a 500, a close), acceptable only for a server's fault. */
#define SERVER_FAILED 1
/* The JSON parsed but came out different: jansson's fault (see client_work). */
#define JSON_DAMAGED 2
typedef int (*scenario_fn)(void);
/* ---------------------------------------------- tasks: spawn and join */

static void *twice(void *arg) { return (void *)((intptr_t)arg * 2); }

__attribute__((unused)) static int spawn_join(void) {  /* no system calls to fault */
    weft_task *t[4];
    for (intptr_t i = 0; i < 4; i++) t[i] = weft_spawn(twice, (void *)i);
    void *res[4];
    int err = weft_gather(t, 4, res);  /* a NULL handle reports WEFT_ENOMEM */
    if (err) return err;
    for (intptr_t i = 0; i < 4; i++) ASSERT_EQ((intptr_t)res[i], 2 * i);
    weft_task *one;
    if ((err = weft_spawn_ex(&one, NULL, twice, (void *)21))) return err;
    void *r;
    ASSERT_ERR(weft_join(one, &r), 0);
    ASSERT_EQ((intptr_t)r, 42);
    weft_group g;
    ASSERT_ERR(weft_group_enter(&g), 0);
    int serr = 0;
    for (intptr_t i = 0; i < 3 && !serr; i++) serr = weft_group_spawn(&g, NULL, twice, (void *)i);
    err = weft_group_leave(&g);
    return serr ? serr : err;
}

/* ---------------------------------------- a stream round trip (socketpair) */

static int stream_pair(void) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    weft_stream *a = NULL, *b = NULL;
    int err = weft_stream_new_fd(&a, sv[0], NULL);
    if (err) {
        weft_close(sv[0]);
        weft_close(sv[1]);
        return err;
    }
    if ((err = weft_stream_new_fd(&b, sv[1], NULL))) {
        weft_close(sv[1]);
        weft_stream_free(a);
        return err;
    }
    char line[64];
    ssize_t n = 0;
    if (!(err = weft_stream_write(a, "ping\n", 5)) && !(err = weft_stream_drain(a)) &&
        (n = weft_stream_read_line(b, line, sizeof line)) == 5 &&
        !(err = weft_stream_write(b, "pong\n", 5)) && !(err = weft_stream_drain(b)))
        n = weft_stream_read_line(a, line, sizeof line);
    if (!err && n < 0) err = (int)n;
    if (!err) ASSERT_EQ(n, 5);
    weft_stream_free(a);
    weft_stream_free(b);
    return err;
}

/* ------------------------------------ an HTTP server round trip (raw client) */

typedef struct server {
    weft_httpd *srv;
    weft_task *task;
    weft_scope *client;   /* cancelled if serving fails: nobody would answer */
    int err;
} server;

static void *serve_main(void *arg) {
    server *s = arg;
    s->err = weft_httpd_serve(s->srv);
    if (s->err && s->client) weft_scope_cancel(s->client);
    return NULL;
}

/* The JSON body the redirects end at, deflated before the walk. */
static unsigned char deflated[4096];
static size_t deflated_len;

/* /ws: a WebSocket that echoes one message, and closes with 1011 if it
 * could not. */
static int ws_echo_once(weft_httpd_req *req, weft_httpd_res *res) {
    weft_ws *ws;
    int err = weft_ws_accept(&ws, req, res, NULL);
    if (err) return err;
    const void *m;
    int type;
    ssize_t n = weft_ws_recv(ws, &m, &type);
    err = n < 0 ? (int)n : weft_ws_send(ws, type, m, (size_t)n);
    weft_ws_close(ws, err ? 1011 : 1000, NULL);
    return 0;
}

static int hello(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)arg;
    if (!strcmp(weft_httpd_req_path(req), "/ws")) return ws_echo_once(req, res);
    if (!strcmp(weft_httpd_req_path(req), "/r/2") || !strcmp(weft_httpd_req_path(req), "/r/1")) {
        const char *to = weft_httpd_req_path(req)[3] == '2' ? "/r/1" : "/r/0";
        int err = weft_httpd_res_header(res, "Location", to);
        return err ? err : weft_httpd_res_send(res, 302, NULL, NULL, 0);
    }
    if (!strcmp(weft_httpd_req_path(req), "/r/0")) {
        int err = weft_httpd_res_header(res, "Content-Encoding", "deflate");
        return err ? err : weft_httpd_res_send(res, 200, "application/json", deflated, deflated_len);
    }
    return weft_httpd_res_send(res, 200, "text/plain", "hello\n", 6);
}

/* Starts a server on a free port; 0 or its error (nothing left behind). */
static int server_start(server *s, weft_scope *client) {
    *s = (server){ .client = client };
    int err = weft_httpd_new(&s->srv, NULL, hello, NULL);
    if (err) return err;
    if (!(err = weft_httpd_listen(s->srv, "127.0.0.1", "0")) &&
        !(err = weft_spawn_ex(&s->task, NULL, serve_main, s)))
        return 0;
    weft_httpd_free(s->srv);
    return err;
}

/* Stops it; its error, if serving failed. */
static int server_stop(server *s) {
    weft_httpd_shutdown(s->srv);
    ASSERT_ERR(weft_join(s->task, NULL), 0);
    weft_httpd_free(s->srv);
    return s->err;
}

/* A GET with Connection: close over a raw socket; the response's first
 * line checked. */
static int raw_get(int port) {
    char p[8];
    snprintf(p, sizeof p, "%d", port);
    int fd, err = weft_tcp_connect("127.0.0.1", p, &fd);
    if (err) return err;
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ssize_t n = weft_write(fd, req, strlen(req));
    char buf[1024];
    size_t got = 0;
    while (n >= 0 && got < sizeof buf - 1 && (n = weft_read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    weft_close(fd);
    if (n < 0) return (int)n;
    buf[got] = 0;
    const char *body = strstr(buf, "\r\n\r\n");
    if (!strncmp(buf, "HTTP/1.1 200 ", 13) && body && !strcmp(body + 4, "hello\n")) return 0;
    /* The server failed, as it may: nothing, a 5xx, or a response cut
     * short (the 200's head or body, never other bytes). */
    bool cut = !strncmp(buf, "HTTP/1.1 200 ", got < 13 ? got : 13) &&
               (!body || !strncmp(body + 4, "hello\n", strlen(body + 4)));
    ASSERT(got == 0 || cut || !strncmp(buf, "HTTP/1.1 5", got < 10 ? got : 10));
    return SERVER_FAILED;
}

/* Runs work(port) against a fresh server; work's error first, else the
 * server's. */
static int with_server(int (*work)(int port)) {
    server s;
    weft_scope sc;
    int err = server_start(&s, &sc);
    if (err) return err;
    weft_scope_enter(&sc, WEFT_FOREVER);
    int cerr = work(weft_httpd_port(s.srv));
    int lerr = weft_scope_leave(&sc);
    s.client = NULL;
    err = server_stop(&s);
    if (!err || (cerr != WEFT_ECANCELED && lerr != WEFT_ECANCELED)) err = cerr ? cerr : lerr;
    return err;
}

static int http_server(void) { return with_server(raw_get); }

/* ------------------------------- a WebSocket echo (weft's client and server) */

static int ws_work(int port) {
    char url[48];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/ws", port);
    weft_ws *ws;
    int err = weft_ws_connect(&ws, url, NULL);
    if (err == WEFT_EHTTPSTATUS) return SERVER_FAILED;  /* a 500 */
    if (err) return err;
    const void *m;
    int type;
    ssize_t n = (err = weft_ws_send(ws, WEFT_WS_TEXT, "hi", 2)) ? err : weft_ws_recv(ws, &m, &type);
    if (n >= 0) ASSERT(n == 2 && !memcmp(m, "hi", 2) && type == WEFT_WS_TEXT);
    else err = (int)n;
    int cerr = weft_ws_close(ws, 1000, NULL);
    return err ? err : cerr;
}

static int ws_echo(void) { return with_server(ws_work); }

/* The same GET over HTTP/2, frames written by hand: with prior knowledge,
 * the preface, an empty SETTINGS, a HEADERS for GET / (HPACK: indexed
 * :method, :scheme, :path, and :authority "x" as a literal); or (upgrade)
 * the HTTP/1.1 request asking for h2c, then the preface and SETTINGS.
 * Then the response's frames (after the 101) read up to the end of stream
 * 1: a HEADERS whose first field is the indexed ":status: 200" (what the
 * server's encoder sends for 200), and DATA "hello\n". */
static int raw_h2(int port, bool upgrade) {
    char p[8];
    snprintf(p, sizeof p, "%d", port);
    int fd, err = weft_tcp_connect("127.0.0.1", p, &fd);
    if (err) return err;
    static const uint8_t prior[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        "\0\0\0\4\0\0\0\0\0"                                  /* SETTINGS */
        "\0\0\6\1\5\0\0\0\1\x82\x86\x84\x01\x01x";          /* HEADERS, END_STREAM|END_HEADERS */
    static const uint8_t up[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n\r\n"
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";
    ssize_t n = upgrade ? weft_write(fd, up, sizeof up - 1) : weft_write(fd, prior, sizeof prior - 1);
    uint8_t buf[4096];
    size_t got = 0, off = 0, body = 0;
    bool status_ok = false, failed = false, done = false;
    char text[8] = "";
    while (n >= 0 && !done && !failed && got < sizeof buf && (n = weft_read(fd, buf + got, sizeof buf - got)) > 0) {
        got += (size_t)n;
        if (upgrade && !off) {  /* the 101's head first */
            uint8_t *e = memmem(buf, got, "\r\n\r\n", 4);
            if (!e) continue;
            failed = memcmp(buf, "HTTP/1.1 101 ", 13) != 0;
            off = (size_t)(e + 4 - buf);
        }
        while (!done && !failed && got - off >= 9) {  /* whole frames */
            const uint8_t *f = buf + off;
            size_t len = (size_t)f[0] << 16 | (size_t)f[1] << 8 | f[2];
            if (got - off < 9 + len) break;
            uint32_t sid = (uint32_t)f[5] << 24 | (uint32_t)f[6] << 16 | (uint32_t)f[7] << 8 | f[8];
            if (f[3] == 1 && sid == 1) status_ok = len && f[9] == 0x88, failed = !status_ok;
            if (f[3] == 0 && sid == 1) {
                for (size_t i = 0; i < len && body + 1 < sizeof text; i++) text[body++] = (char)f[9 + i];
                done = f[4] & 1;
            }
            if (f[3] == 3 || f[3] == 7) failed = true;  /* RST_STREAM, GOAWAY */
            off += 9 + len;
        }
    }
    weft_close(fd);
    if (n < 0) return (int)n;
    if (done && status_ok && !strcmp(text, "hello\n")) return 0;
    return SERVER_FAILED;  /* a 5xx, a reset, a GOAWAY, or the connection closed short */
}

static int raw_h2_get(int port) { return raw_h2(port, false); }
static int raw_h2c_upgrade(int port) { return raw_h2(port, true); }
static int http2_server(void) { return with_server(raw_h2_get); }
static int http2_upgrade(void) { return with_server(raw_h2c_upgrade); }

/* ------------------------- a client GET through two redirects (same loop) */

/* The JSON: small, and a 200 KiB string, so that inflating takes several
 * calls (zlib allocates its window only then). */
#define PAD (200 * 1024)

static int client_work(int port) {
    weft_http_client *c = NULL;
    weft_http_response *res = NULL;
    json_t *j = NULL;
    weft_http_client_opts o = { .follow_redirects = 1 };
    int err = weft_http_client_new(&c, &o);
    if (!err) err = weft_http_getf(c, &res, "http://127.0.0.1:%d/r/2", port);
    if (!err && weft_http_response_status(res) != 200) {
        ASSERT(weft_http_response_status(res) >= 500);
        err = SERVER_FAILED;
    }
    if (!err) err = weft_http_response_json(res, &j);
    if (!err) {
        ASSERT_STR(json_string_value(json_object_get(j, "hello")), "world");
        ASSERT_EQ(json_array_size(json_object_get(j, "n")), 3);
        /* jansson 2.14 drops bytes of a string whose buffer it could not
         * grow, and reports success: the walk tells it apart. */
        if (json_string_length(json_object_get(j, "pad")) != PAD) err = JSON_DAMAGED;
        ASSERT(strstr(weft_http_response_url(res), "/r/0"));
    }
    json_decref(j);
    weft_http_response_free(res);
    weft_http_client_free(c);
    return err;
}

static int client_get(void) { return with_server(client_work); }

static void deflate_body(void) {
    static const char head[] = "{\"hello\": \"world\", \"n\": [1, 2, 3], \"pad\": \"";
    size_t len = sizeof head - 1 + PAD + 2;
    char *json = malloc(len);
    ASSERT(json);
    memcpy(json, head, sizeof head - 1);
    memset(json + sizeof head - 1, 'x', PAD);
    memcpy(json + len - 2, "\"}", 2);
    uLongf n = sizeof deflated;
    ASSERT_EQ(compress2(deflated, &n, (const Bytef *)json, len, 9), Z_OK);
    deflated_len = n;
    free(json);
}

/* ----------------------------------------------- a TLS handshake and echo */

static wt_certs certs;

typedef struct side {
    weft_tls_ctx *ctx;
    int fd, err;
    weft_stream *s;
} side;

/* Echoes one line. Closes its end whatever happens, so that a failure
 * here reaches the client as the connection closing. */
static void *tls_server(void *arg) {
    side *sv = arg;
    if ((sv->err = weft_tls_accept(&sv->s, sv->ctx, sv->fd, NULL))) {
        weft_close(sv->fd);
        return NULL;
    }
    char line[64];
    ssize_t n = weft_stream_read_line(sv->s, line, sizeof line);
    if (n > 0) sv->err = weft_stream_write(sv->s, line, (size_t)n);
    else sv->err = n ? (int)n : WEFT_EOF;
    if (!sv->err) sv->err = weft_stream_drain(sv->s);
    weft_stream_free(sv->s);
    return NULL;
}

static int tls_ctxs(side *cl, side *sv) {
    char ca[128], pem[128], key[128];
    snprintf(ca, sizeof ca, "%s", wt_certs_path(&certs, "ca.pem"));
    snprintf(pem, sizeof pem, "%s", wt_certs_path(&certs, "good.pem"));
    snprintf(key, sizeof key, "%s", wt_certs_path(&certs, "good.key"));
    weft_tls_opts so = { .flags = WEFT_TLS_SERVER, .cert_file = pem, .key_file = key };
    weft_tls_opts co = { .ca_file = ca };
    int err = weft_tls_ctx_new(&sv->ctx, &so);
    if (!err && (err = weft_tls_ctx_new(&cl->ctx, &co))) weft_tls_ctx_free(sv->ctx);
    return err;
}

static int tls_echo(void) {
    side cl = { .fd = -1 }, sv = { .fd = -1 };
    int err = tls_ctxs(&cl, &sv);
    if (err) return err;
    int pair[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    cl.fd = pair[0];
    sv.fd = pair[1];
    weft_task *t;
    if ((err = weft_spawn_ex(&t, NULL, tls_server, &sv))) {
        /* No server: the client's failure to follow would only echo this. */
        weft_close(sv.fd);
        weft_close(cl.fd);
        weft_tls_ctx_free(cl.ctx);
        weft_tls_ctx_free(sv.ctx);
        return err;
    }
    err = weft_tls_connect(&cl.s, cl.ctx, cl.fd, "localhost", NULL);
    if (err) weft_close(cl.fd);  /* ends the server's handshake too */
    char line[64];
    ssize_t n = 0;
    if (!err && !(err = weft_stream_write(cl.s, "ping\n", 5)) && !(err = weft_stream_drain(cl.s)))
        n = weft_stream_read_line(cl.s, line, sizeof line);
    if (!err && n <= 0) err = n ? (int)n : WEFT_EOF;
    if (!err) ASSERT_EQ(n, 5);
    if (cl.s) weft_stream_free(cl.s);
    ASSERT_ERR(weft_join(t, NULL), 0);
    weft_tls_ctx_free(cl.ctx);
    weft_tls_ctx_free(sv.ctx);
    /* The client's own failure first; else the server's, as the client saw it. */
    if (!err && sv.err) err = sv.err;
    return err;
}

#endif
