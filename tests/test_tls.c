/* TLS streams: handshakes between weft's client and server on loopback,
 * echo and bulk transfers, every certificate check and how it fails, ALPN,
 * client certificates, timeouts, cancellation, peers that reset or end
 * without close_notify, and interop with OpenSSL's own s_server and
 * s_client. Certificates come from wt_certs.h, made afresh per case. */
#include "test.h"
#include "wt_certs.h"

#include <weft/io.h>
#include <weft/net.h>
#include <weft/stream.h>
#include <weft/tls.h>

#include "tls_internal.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static wt_certs certs;

/* Runs fn on the real clock with fresh certificates. */
static void run_real(int (*fn)(void *)) {
    wt_certs_make(&certs);
    ASSERT_EQ(wt_run_real(fn, NULL), 0);
    wt_certs_free(&certs);
}

/* ------------------------------------------------------------ helpers */

/* A connected TCP pair on 127.0.0.1. */
static void tcp_pair(int *client, int *server) {
    int lfd;
    ASSERT_ERR(weft_tcp_listen("127.0.0.1", "0", 0, &lfd), 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)weft_sock_port(lfd)) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_ERR(weft_connect_addr((struct sockaddr *)&a, sizeof a, WEFT_FOREVER, client), 0);
    ASSERT_ERR(weft_accept(lfd, NULL, NULL, server), 0);
    ASSERT_ERR(weft_close(lfd), 0);
}

static weft_tls_ctx *server_ctx_ex(const char *base, const char *alpn, unsigned flags) {
    char pem[32], key[32];
    snprintf(pem, sizeof pem, "%s.pem", base);
    snprintf(key, sizeof key, "%s.key", base);
    char pem_path[128], key_path[128], ca_path[128];
    snprintf(pem_path, sizeof pem_path, "%s", wt_certs_path(&certs, pem));
    snprintf(key_path, sizeof key_path, "%s", wt_certs_path(&certs, key));
    snprintf(ca_path, sizeof ca_path, "%s", wt_certs_path(&certs, "ca.pem"));
    weft_tls_opts o = { .flags = WEFT_TLS_SERVER | flags, .cert_file = pem_path, .key_file = key_path,
                        .alpn = alpn };
    if (flags & WEFT_TLS_REQUIRE_CLIENT_CERT) o.ca_file = ca_path;
    weft_tls_ctx *ctx = NULL;
    ASSERT_ERR(weft_tls_ctx_new(&ctx, &o), 0);
    return ctx;
}
static weft_tls_ctx *server_ctx(const char *base) { return server_ctx_ex(base, NULL, 0); }

static weft_tls_ctx *client_ctx_ex(const char *alpn, unsigned flags, const char *cert) {
    char ca_path[128], pem_path[128], key_path[128];
    snprintf(ca_path, sizeof ca_path, "%s", wt_certs_path(&certs, "ca.pem"));
    weft_tls_opts o = { .flags = flags, .ca_file = ca_path, .alpn = alpn };
    if (cert) {
        char name[32];
        snprintf(name, sizeof name, "%s.pem", cert);
        snprintf(pem_path, sizeof pem_path, "%s", wt_certs_path(&certs, name));
        snprintf(name, sizeof name, "%s.key", cert);
        snprintf(key_path, sizeof key_path, "%s", wt_certs_path(&certs, name));
        o.cert_file = pem_path;
        o.key_file = key_path;
    }
    weft_tls_ctx *ctx = NULL;
    ASSERT_ERR(weft_tls_ctx_new(&ctx, &o), 0);
    return ctx;
}
static weft_tls_ctx *client_ctx(void) { return client_ctx_ex(NULL, 0, NULL); }

/* One side of a handshake run as a task. */
typedef struct side {
    weft_tls_ctx *ctx;
    int fd;
    weft_stream_opts sopts;
    int err;
    weft_stream *s;
} side;

static void *accept_task(void *arg) {
    side *sd = arg;
    sd->err = weft_tls_accept(&sd->s, sd->ctx, sd->fd, &sd->sopts);
    return NULL;
}

/* Handshakes on a fresh pair: the server in a task, the client here with
 * `host`. Fills both sides; on failure the side's fd is still open. */
static void handshake(side *cl, side *sv, const char *host) {
    tcp_pair(&cl->fd, &sv->fd);
    weft_task *t = weft_spawn(accept_task, sv);
    ASSERT(t);
    cl->err = weft_tls_connect(&cl->s, cl->ctx, cl->fd, host, &cl->sopts);
    ASSERT_ERR(weft_join(t, NULL), 0);
}

/* Handshakes, both sides expected to succeed. */
static void connect_ok(side *cl, side *sv, const char *host) {
    handshake(cl, sv, host);
    ASSERT_ERR(cl->err, 0);
    ASSERT_ERR(sv->err, 0);
}

static void put(weft_stream *s, const char *str) {
    ASSERT_ERR(weft_stream_write(s, str, strlen(str)), 0);
    ASSERT_ERR(weft_stream_drain(s), 0);
}

static void expect(weft_stream *s, const char *str) {
    char buf[256];
    size_t n = strlen(str);
    ASSERT(n < sizeof buf);
    ASSERT_ERR(weft_stream_read_exactly(s, buf, n, NULL), 0);
    ASSERT(memcmp(buf, str, n) == 0);
}

/* Byte i of a long test message. */
static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + i / 251); }

/* ------------------------------------------------------------ handshakes */

static int echo(void *arg) {
    (void)arg;
    side cl = { .ctx = client_ctx() }, sv = { .ctx = server_ctx("good") };
    connect_ok(&cl, &sv, "localhost");
    ASSERT(weft_tls_alpn(cl.s) == NULL);
    put(cl.s, "hello\n");
    char line[64];
    ASSERT_EQ(weft_stream_read_line(sv.s, line, sizeof line), 6);
    put(sv.s, "HELLO\n");
    expect(cl.s, "HELLO\n");
    ASSERT_ERR(weft_stream_close(cl.s), 0);  /* sends close_notify */
    ASSERT_EQ(weft_stream_read(sv.s, line, sizeof line), 0);
    ASSERT_ERR(weft_stream_close(sv.s), 0);
    weft_tls_ctx_free(cl.ctx);
    weft_tls_ctx_free(sv.ctx);
    return 0;
}
TEST(client_and_server_handshake_and_echo_on_loopback) { run_real(echo); }

/* Each side writes `total` bytes and reads the other's, in two tasks. */
enum { BIG = 4 << 20 };
typedef struct pump { weft_stream *s; size_t total; int key_updates; } pump;

static void *writer(void *arg) {
    pump *p = arg;
    unsigned char buf[50000];
    for (size_t sent = 0; sent < p->total;) {
        size_t n = sizeof buf < p->total - sent ? sizeof buf : p->total - sent;
        for (size_t i = 0; i < n; i++) buf[i] = pattern(sent + i);
        ASSERT_ERR(weft_stream_write(p->s, buf, n), 0);
        ASSERT_ERR(weft_stream_drain(p->s), 0);
        sent += n;
        /* A KeyUpdate that asks the peer to update too: its reader must
         * write the answer while its writer is busy. */
        if (p->key_updates && sent % (1 << 20) < n)
            ASSERT_EQ(SSL_key_update(weft__tls_ssl(p->s), SSL_KEY_UPDATE_REQUESTED), 1);
    }
    return NULL;
}

static void *reader(void *arg) {
    pump *p = arg;
    unsigned char buf[30000];
    size_t got = 0;
    for (;;) {
        ssize_t n = weft_stream_read(p->s, buf, sizeof buf);
        ASSERT(n >= 0);
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++) ASSERT_EQ(buf[i], pattern(got + (size_t)i));
        got += (size_t)n;
    }
    ASSERT_EQ(got, p->total);
    return NULL;
}

/* Full duplex: both ends write and read at once; then each shuts its
 * write side down, and each reader sees the end. */
static void *shut_after(void *arg) {
    pump *p = arg;
    writer(p);
    int err = weft_stream_shutdown(p->s);
    if (err) fprintf(stderr, "shutdown: %s\n", weft_tls_error_detail());
    ASSERT_ERR(err, 0);
    return NULL;
}

static int full_duplex(void *arg) {
    int key_updates = arg ? 1 : 0;
    side cl = { .ctx = client_ctx() }, sv = { .ctx = server_ctx("good") };
    connect_ok(&cl, &sv, "localhost");
    pump a = { cl.s, BIG, key_updates }, b = { sv.s, BIG + 12345, key_updates };
    pump ra = { cl.s, b.total, 0 }, rb = { sv.s, a.total, 0 };  /* each reads the other's */
    weft_task *t[4] = { weft_spawn(shut_after, &a), weft_spawn(shut_after, &b),
                        weft_spawn(reader, &ra), weft_spawn(reader, &rb) };
    ASSERT_ERR(weft_gather(t, 4, NULL), 0);
    ASSERT_ERR(weft_stream_close(cl.s), 0);
    ASSERT_ERR(weft_stream_close(sv.s), 0);
    weft_tls_ctx_free(cl.ctx);
    weft_tls_ctx_free(sv.ctx);
    return 0;
}
static int full_duplex_plain(void *arg) { (void)arg; return full_duplex(NULL); }
static int full_duplex_key_updates(void *arg) { (void)arg; return full_duplex(&certs); }
TEST(megabytes_flow_both_ways_at_once) { run_real(full_duplex_plain); }
TEST(key_updates_during_full_duplex_transfers_keep_the_data_intact) { run_real(full_duplex_key_updates); }
