/* The WebSocket opening handshakes (RFC 6455 section 4): a server's, from a
 * weft_httpd handler, which answers 101 on the handler's connection and
 * keeps its stream; and a client's, which connects on its own (the HTTP
 * client's pool has nothing to give a connection that never returns to
 * it), sends the upgrade request and checks the answer. Both then hand the
 * stream to ws.c.
 */
#include "server.h"
#include "timed.h"
#include "ws.h"

#include <weft/io.h>
#include <weft/net.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>
#include <strings.h>

#define OPEN_TIMEOUT (10 * WEFT_SECOND)
#define GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define MAX_ANSWER_HEADERS 100

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key GUID)), 28 characters
 * and a NUL into out. */
static int accept_value(const char *key, size_t klen, char out[29]) {
    char in[64 + sizeof GUID];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (klen > 64) return WEFT_EINVAL;
    memcpy(in, key, klen);
    memcpy(in + klen, GUID, sizeof GUID - 1);
    if (!EVP_Digest(in, klen + sizeof GUID - 1, md, &mdlen, EVP_sha1(), NULL)) return WEFT_ENOMEM;
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
    return 0;
}

/* Messages go out whole, each in one write, and a peer waits for each
 * answer: Nagle's algorithm would only hold a message back for the ACK of
 * the one before (Go, and asyncio since 3.6, turn it off for every TCP
 * connection). On a Unix socket it fails, harmlessly. */
static void nodelay(int fd) {
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
}

/* Whether the comma-separated list v[0, vlen) holds the token `tok`
 * (case-insensitive when `ci`: header keywords are, subprotocols not). */
static bool list_has(const char *v, size_t vlen, const char *tok, bool ci) {
    size_t tl = strlen(tok);
    for (const char *p = v, *end = v + vlen; p < end;) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) p++;
        const char *q = p;
        while (q < end && *q != ',' && *q != ' ' && *q != '\t') q++;
        if ((size_t)(q - p) == tl && (ci ? !strncasecmp(p, tok, tl) : !memcmp(p, tok, tl))) return true;
        p = q;
    }
    return false;
}

/* ----------------------------------------------------------------- server */

/* The first of the server's protocols that some Sec-WebSocket-Protocol
 * field of the request offers, or NULL. */
static const char *pick_protocol(const weft_httpd_req *r, const char *const *mine) {
    for (; mine && *mine; mine++)
        for (size_t i = 0; i < r->h.nhdrs; i++) {
            const weft__hdr *f = &r->h.hdrs[i];
            if (weft__http_token_eq(f->name, f->name_len, "sec-websocket-protocol") &&
                list_has(f->value, f->value_len, *mine, false))
                return *mine;
        }
    return NULL;
}

/* 0 if the request opens a WebSocket (acc then holds its answer), else the
 * status to refuse it with. */
static int check_request(const weft_httpd_req *r, char acc[29]) {
    const char *up = weft_httpd_req_header(r, "upgrade");
    const char *ver = weft_httpd_req_header(r, "sec-websocket-version");
    const char *key = weft_httpd_req_header(r, "sec-websocket-key");
    unsigned char raw[32];
    if (strcmp(r->h.method, "GET") || r->h.minor < 1 || r->h.body != WEFT__BODY_NONE ||
        !r->h.upgrade || !up || !list_has(up, strlen(up), "websocket", true))
        return 400;
    if (!ver || strcmp(ver, "13")) return 426;
    size_t kl = key ? strlen(key) : 0;  /* 16 bytes: 22 characters and "==" */
    if (kl != 24 || key[22] != '=' || key[23] != '=' ||
        EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18)
        return 400;
    return accept_value(key, kl, acc) ? 500 : 0;
}

static int refuse(weft_httpd_res *res, int status) {
    static const char msg[] = "Not a WebSocket handshake\n";
    int err = status == 426 ? weft_httpd_res_header(res, "Sec-WebSocket-Version", "13") : 0;
    if (!err) err = weft_httpd_res_send(res, status, "text/plain; charset=utf-8", msg, sizeof msg - 1);
    return err ? err : WEFT_EHTTP;
}

int weft_ws_accept(weft_ws **out, weft_httpd_req *req, weft_httpd_res *res,
                   const weft_ws_opts *opts) {
    if (res->head_sent) return WEFT_EINVAL;
    char acc[29];
    int status = check_request(req, acc);
    if (status) return refuse(res, status);
    const char *proto = pick_protocol(req, opts ? opts->protocols : NULL);
    weft__httpd_conn *c = req->c;
    if (proto && strlen(proto) > 100) return WEFT_EINVAL;
    char head[320];  /* the fixed lines, a 28-byte accept, a protocol of <= 100 */
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%.100s%s",
                      acc, proto ? "Sec-WebSocket-Protocol: " : "", proto ? proto : "",
                      proto ? "\r\n" : "");
    struct iovec iov[3] = { { head, (size_t)hl }, { res->hdrs, res->hlen }, { "\r\n", 2 } };
    int err = weft_stream_writev(c->st, iov, 3);
    if (err) return err;
    /* HTTP is over on this connection: the server sends nothing after the
     * handler and closes the connection when it returns. */
    res->head_sent = res->ended = true;
    res->status = 101;
    c->closing = true;
    nodelay(c->fd);
    if ((err = weft__httpd_drain(c))) return err;
    return weft__ws_new(out, c->st, false, false, opts, proto);
}

/* ----------------------------------------------------------------- client */

/* Parses a ws or wss URL as the http or https URL it maps to. */
static int parse_url(weft__url *u, const char *url) {
    bool wss = !strncasecmp(url, "wss://", 6);
    if (!wss && strncasecmp(url, "ws://", 5)) return WEFT_EURL;
    const char *rest = url + (wss ? 6 : 5);
    size_t n = strlen(rest);
    weft__mem m = weft__mem_here();
    char *h = weft__mem_alloc(m, n + 9);
    if (!h) return WEFT_ENOMEM;
    memcpy(h, wss ? "https://" : "http://", wss ? 8 : 7);
    memcpy(h + (wss ? 8 : 7), rest, n + 1);
    int err = weft__url_parse(u, h);
    weft__mem_free(m, h);
    return err;
}

/* Connects the stream: TCP, then TLS for wss, with the caller's context or
 * one made for the call (the stream keeps OpenSSL's reference to it). */
static int open_stream(weft_stream **st, const weft__url *u, const weft_ws_opts *o) {
    int fd, err = weft_tcp_connect(u->host, u->port, &fd);
    if (err) return err;
    nodelay(fd);
    if (!u->tls) err = weft_stream_new_fd(st, fd, NULL);
    else {
        weft_tls_ctx *ctx = o->tls;
        weft_tls_opts to = { 0 };
        if (ctx || !(err = weft_tls_ctx_new(&ctx, &to))) err = weft_tls_connect(st, ctx, fd, u->host, NULL);
        if (ctx != o->tls) weft_tls_ctx_free(ctx);
    }
    if (err) weft_close(fd);
    return err;
}

/* The upgrade request, with a fresh key; acc gets the answer expected. */
static int send_request(weft_stream *st, const weft__url *u, const weft_ws_opts *o, char acc[29]) {
    unsigned char raw[16];
    char key[25];
    if (RAND_bytes(raw, sizeof raw) != 1) return WEFT_ENOMEM;
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
    int err = accept_value(key, 24, acc);
    const char *host = strstr(u->origin, "://") + 3;
    const char *parts[] = { "GET ", u->target, " HTTP/1.1\r\nHost: ", host,
                            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ",
                            key, "\r\nSec-WebSocket-Version: 13\r\n" };
    for (size_t i = 0; !err && i < sizeof parts / sizeof *parts; i++)
        err = weft_stream_write(st, parts[i], strlen(parts[i]));
    if (!err && o->origin) {
        const char *op[] = { "Origin: ", o->origin, "\r\n" };
        for (size_t i = 0; !err && i < 3; i++) err = weft_stream_write(st, op[i], strlen(op[i]));
    }
    for (const char *const *p = o->protocols; !err && p && *p; p++) {
        err = weft_stream_write(st, p == o->protocols ? "Sec-WebSocket-Protocol: " : ", ",
                                p == o->protocols ? 24 : 2);
        if (!err) err = weft_stream_write(st, *p, strlen(*p));
    }
    if (!err && o->protocols && *o->protocols) err = weft_stream_write(st, "\r\n", 2);
    if (!err) err = weft_stream_write(st, "\r\n", 2);
    return err ? err : weft_stream_drain(st);
}

/* Whether the answer's subprotocol (none, or one offered) is acceptable;
 * copies it into proto. */
static bool answer_protocol(const weft__http_head *h, const weft_ws_opts *o, char proto[101]) {
    size_t len;
    const char *v = weft__http_find(h, "sec-websocket-protocol", &len);
    proto[0] = '\0';
    if (!v) return true;
    for (const char *const *p = o->protocols; p && *p; p++)
        if (strlen(*p) == len && !memcmp(*p, v, len)) {
            memcpy(proto, v, len + 1 > 101 ? 100 : len);
            proto[len > 100 ? 100 : len] = '\0';
            return true;
        }
    return false;
}

/* Reads the answer's head and checks it; consumes it. */
static int read_answer(weft_stream *st, const weft_ws_opts *o, const char acc[29], char proto[101]) {
    weft__hdr hdrs[MAX_ANSWER_HEADERS];
    weft__http_head h = { .hdrs = hdrs, .hdrs_cap = MAX_ANSWER_HEADERS };
    weft__http_limits lim = { 8 * 1024, 32 * 1024, MAX_ANSWER_HEADERS };
    ssize_t r = 0;
    for (size_t want = 1; r == 0; want++) {
        const void *data;
        ssize_t n = weft_stream_peek(st, want, &data);
        if (n < 0) return (int)n;
        r = weft__http_parse_response(data, (size_t)n, &h, "GET", &lim);
        want = (size_t)n;
    }
    if (r < 0) return WEFT_EHTTP;
    if (h.status != 101) return WEFT_EHTTPSTATUS;
    size_t len;
    const char *up = weft__http_find(&h, "upgrade", &len);
    bool up_ok = h.upgrade && up && list_has(up, len, "websocket", true);
    const char *a = weft__http_find(&h, "sec-websocket-accept", &len);
    if (!up_ok || !a || len != 28 || memcmp(a, acc, 28) || !answer_protocol(&h, o, proto) ||
        weft__http_find(&h, "sec-websocket-extensions", &len))
        return WEFT_EHTTP;
    return weft_stream_consume(st, (size_t)r);
}

static int check_opts(const weft_ws_opts *o) {
    for (const char *const *p = o->protocols; p && *p; p++)
        if (!weft__http_token_ok(*p, strlen(*p)) || strlen(*p) > 100) return WEFT_EINVAL;
    if (o->origin && !weft__http_value_ok(o->origin, strlen(o->origin))) return WEFT_EINVAL;
    return o->open_timeout < 0 || o->close_timeout < 0 ? WEFT_EINVAL : 0;
}

int weft_ws_connect(weft_ws **out, const char *url, const weft_ws_opts *opts) {
    weft_ws_opts o = opts ? *opts : (weft_ws_opts){ 0 };
    weft__url u = { 0 };
    int err = check_opts(&o);
    if (err || (err = parse_url(&u, url))) return err;
    weft_stream *st = NULL;
    char acc[29], proto[101];
    weft_scope sc;
    weft__timed_begin(&sc, weft_deadline_after(o.open_timeout ? o.open_timeout : OPEN_TIMEOUT));
    err = open_stream(&st, &u, &o);
    if (!err) err = send_request(st, &u, &o, acc);
    if (!err) err = read_answer(st, &o, acc, proto);
    err = (int)weft__timed_end(&sc, err, WEFT_ECONNTIMEOUT);
    weft__url_free(&u);
    if (!err) err = weft__ws_new(out, st, true, true, &o, proto[0] ? proto : NULL);
    if (err) weft_stream_free(st);
    return err;
}
