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

#include "tls_iface.h"

#include <openssl/err.h>

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
    char detail[256];  /* weft_tls_error_detail() right after the handshake */
} side;

static void *accept_task(void *arg) {
    side *sd = arg;
    sd->err = weft_tls_accept(&sd->s, sd->ctx, sd->fd, &sd->sopts);
    snprintf(sd->detail, sizeof sd->detail, "%s", weft_tls_error_detail());
    return NULL;
}

/* Handshakes on a fresh pair: the server in a task, the client here with
 * `host`. Fills both sides; on failure the side's fd is still open. */
static void handshake(side *cl, side *sv, const char *host) {
    tcp_pair(&cl->fd, &sv->fd);
    weft_task *t = weft_spawn(accept_task, sv);
    ASSERT(t);
    cl->err = weft_tls_connect(&cl->s, cl->ctx, cl->fd, host, &cl->sopts);
    snprintf(cl->detail, sizeof cl->detail, "%s", weft_tls_error_detail());
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
    weft_tls_ctx_free(cl.ctx);  /* streams outlive their contexts */
    weft_tls_ctx_free(sv.ctx);
    ASSERT(weft_tls_alpn(cl.s) == NULL);
    put(cl.s, "hello\n");
    char line[64];
    ASSERT_EQ(weft_stream_read_line(sv.s, line, sizeof line), 6);
    put(sv.s, "HELLO\n");
    expect(cl.s, "HELLO\n");
    ASSERT_ERR(weft_stream_close(cl.s), 0);  /* sends close_notify */
    ASSERT_EQ(weft_stream_read(sv.s, line, sizeof line), 0);
    ASSERT_ERR(weft_stream_close(sv.s), 0);
    return 0;
}
TEST(client_and_server_handshake_and_echo_on_loopback) { run_real(echo); }

/* Each side writes `total` bytes and reads the other's, in two tasks. */
enum { BIG = 4 << 20 };
typedef struct pump { weft_stream *s; size_t total; int key_updates; } pump;

static void *writer(void *arg) {
    pump *p = arg;
    enum { CHUNK = 50000 };  /* off the task's 64 KiB stack */
    unsigned char *buf = malloc(CHUNK);
    ASSERT(buf);
    for (size_t sent = 0; sent < p->total;) {
        size_t n = CHUNK < p->total - sent ? CHUNK : p->total - sent;
        for (size_t i = 0; i < n; i++) buf[i] = pattern(sent + i);
        ASSERT_ERR(weft_stream_write(p->s, buf, n), 0);
        ASSERT_ERR(weft_stream_drain(p->s), 0);
        sent += n;
        /* A KeyUpdate that asks the peer to update too: its reader must
         * write the answer while its writer is busy. */
        if (p->key_updates && sent % (1 << 20) < n)
            ASSERT_EQ(SSL_key_update(weft__tls_ssl(p->s), SSL_KEY_UPDATE_REQUESTED), 1);
    }
    free(buf);
    return NULL;
}

static void *reader(void *arg) {
    pump *p = arg;
    unsigned char buf[8192];
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

/* ------------------------------------------------------------ verification */

/* The client's handshake against a server showing `base`.pem fails with
 * `code`, with a detail that says why; both fds stay the caller's. */
static void refused_with(const char *base, const char *host, int code, const char *why) {
    side cl = { .ctx = client_ctx() }, sv = { .ctx = server_ctx(base) };
    handshake(&cl, &sv, host);
    ASSERT_ERR(cl.err, code);
    if (!strstr(cl.detail, why)) {
        fprintf(stderr, "detail: \"%s\", expected \"%s\"\n", cl.detail, why);
        ASSERT(0);
    }
    ASSERT(sv.err < 0);  /* the client's alert, or its close */
    ASSERT_EQ(ERR_peek_error(), 0);  /* nothing left for the next connection */
    ASSERT(fcntl(cl.fd, F_GETFD) >= 0 && fcntl(sv.fd, F_GETFD) >= 0);
    ASSERT_ERR(weft_close(cl.fd), 0);
    ASSERT_ERR(weft_close(sv.fd), 0);
    weft_tls_ctx_free(cl.ctx);
    weft_tls_ctx_free(sv.ctx);
}

static int bad_certs(void *arg) {
    (void)arg;
    refused_with("expired", "localhost", WEFT_ECERTEXPIRED, "certificate has expired (depth 0: /CN=localhost)");
    refused_with("notyet", "localhost", WEFT_ECERTEXPIRED, "not yet valid");
    refused_with("wronghost", "localhost", WEFT_ECERTHOST, "hostname mismatch");
    refused_with("self", "localhost", WEFT_ECERTSELFSIGNED, "self-signed");
    refused_with("unknownca", "localhost", WEFT_ECERTUNTRUSTED, "unable to get local issuer");
    refused_with("good", "example.com", WEFT_ECERTHOST, "hostname mismatch");
    return 0;
}
TEST(each_certificate_failure_has_its_own_code) { run_real(bad_certs); }

static int insecure(void *arg) {
    (void)arg;
    side cl = { .ctx = client_ctx_ex(NULL, WEFT_TLS_INSECURE_SKIP_VERIFY, NULL) },
         sv = { .ctx = server_ctx("self") };
    connect_ok(&cl, &sv, "localhost");
    put(sv.s, "hi");
    expect(cl.s, "hi");
    ASSERT_ERR(weft_stream_close(cl.s), 0);
    ASSERT_ERR(weft_stream_close(sv.s), 0);
    /* No name at all is fine too when nothing is checked. */
    connect_ok(&cl, &sv, NULL);
    ASSERT_ERR(weft_stream_close(cl.s), 0);
    ASSERT_ERR(weft_stream_close(sv.s), 0);
    weft_tls_ctx_free(cl.ctx);
    weft_tls_ctx_free(sv.ctx);
    return 0;
}
TEST(insecure_skip_verify_connects_to_a_self_signed_server) { run_real(insecure); }

static int ip_literals(void *arg) {
    (void)arg;
    side cl = { .ctx = client_ctx() }, sv = { .ctx = server_ctx("good") };
    const char *ok[] = { "127.0.0.1", "::1", "[::1]" };
    for (int i = 0; i < 3; i++) {
        connect_ok(&cl, &sv, ok[i]);
        ASSERT_ERR(weft_stream_close(cl.s), 0);
        ASSERT_ERR(weft_stream_close(sv.s), 0);
    }
    weft_tls_ctx_free(sv.ctx);
    weft_tls_ctx_free(cl.ctx);
    /* The certificate's DNS name does not stand for an address, nor the
     * other way round. */
    refused_with("good", "127.0.0.2", WEFT_ECERTHOST, "IP address mismatch");
    refused_with("wronghost", "127.0.0.1", WEFT_ECERTHOST, "IP address mismatch");
    return 0;
}
TEST(an_ip_literal_host_is_checked_against_the_certificate_addresses) { run_real(ip_literals); }

/* ------------------------------------------------------------ ALPN */

static void alpn_case(const char *server, const char *client, const char *agreed) {
    side cl = { .ctx = client_ctx_ex(client, 0, NULL) }, sv = { .ctx = server_ctx_ex("good", server, 0) };
    handshake(&cl, &sv, "localhost");
    if (!agreed) {  /* no overlap: the server refuses */
        ASSERT_ERR(cl.err, WEFT_ETLS);
        ASSERT(sv.err < 0);
        ASSERT_ERR(weft_close(cl.fd), 0);
        ASSERT_ERR(weft_close(sv.fd), 0);
    } else {
        ASSERT_ERR(cl.err, 0);
        ASSERT_ERR(sv.err, 0);
        if (*agreed) {
            ASSERT_STR(weft_tls_alpn(cl.s), agreed);
            ASSERT_STR(weft_tls_alpn(sv.s), agreed);
        } else {
            ASSERT(weft_tls_alpn(cl.s) == NULL && weft_tls_alpn(sv.s) == NULL);
        }
        ASSERT_ERR(weft_stream_close(cl.s), 0);
        ASSERT_ERR(weft_stream_close(sv.s), 0);
    }
    weft_tls_ctx_free(cl.ctx);
    weft_tls_ctx_free(sv.ctx);
}

static int alpn(void *arg) {
    (void)arg;
    alpn_case("h2,http/1.1", "http/1.1,h2", "h2");       /* the server's preference */
    alpn_case("http/1.1", "h2,http/1.1", "http/1.1");
    alpn_case("http/1.1", NULL, "");                      /* a client offering none */
    alpn_case(NULL, "h2,http/1.1", "");                   /* a server without ALPN */
    alpn_case("http/1.1", "h2", NULL);
    /* A plain stream has no ALPN. */
    int sv[2];
    ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    weft_stream *s;
    ASSERT_ERR(weft_stream_new_fd(&s, sv[0], NULL), 0);
    ASSERT(weft_tls_alpn(s) == NULL);
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(alpn_agrees_on_the_servers_first_choice_the_client_offers) { run_real(alpn); }

/* ------------------------------------------------------------ client certificates */

static void client_cert_case(const char *cert, int client_code, int server_code) {
    side cl = { .ctx = client_ctx_ex(NULL, 0, cert) },
         sv = { .ctx = server_ctx_ex("good", NULL, WEFT_TLS_REQUIRE_CLIENT_CERT) };
    handshake(&cl, &sv, "localhost");
    ASSERT_ERR(sv.err, server_code);
    if (server_code == 0) {
        ASSERT_ERR(cl.err, 0);
        put(cl.s, "ok");
        expect(sv.s, "ok");
        ASSERT_ERR(weft_stream_close(cl.s), 0);
        ASSERT_ERR(weft_stream_close(sv.s), 0);
    } else {
        /* TLS 1.3: the client's handshake ends before the server has
         * judged its certificate; the server's alert comes with the first
         * read. */
        if (cl.err == 0) {
            char c;
            ASSERT_ERR(weft_stream_read(cl.s, &c, 1), client_code);
            ASSERT_ERR(weft_stream_close(cl.s), 0);
        } else {
            ASSERT_ERR(cl.err, client_code);
            ASSERT_ERR(weft_close(cl.fd), 0);
        }
        ASSERT_ERR(weft_close(sv.fd), 0);
    }
    weft_tls_ctx_free(cl.ctx);
    weft_tls_ctx_free(sv.ctx);
}

static int client_certs(void *arg) {
    (void)arg;
    client_cert_case("client", 0, 0);
    client_cert_case(NULL, WEFT_ETLS, WEFT_ECERT);
    client_cert_case("unknownca", WEFT_ETLS, WEFT_ECERTUNTRUSTED);
    return 0;
}
TEST(a_server_that_requires_a_client_certificate_gets_one_or_refuses) { run_real(client_certs); }

/* ------------------------------------------------------------ time and cancellation */

static weft_tls_ctx *client_ctx_timeout(int64_t timeout) {
    weft_tls_opts o = { .ca_file = wt_certs_path(&certs, "ca.pem"), .handshake_timeout = timeout };
    weft_tls_ctx *ctx = NULL;
    ASSERT_ERR(weft_tls_ctx_new(&ctx, &o), 0);
    return ctx;
}

/* A peer that accepts the connection and never says a word. */
static int silent_peer(void *arg) {
    (void)arg;
    weft_tls_ctx *ctx = client_ctx_timeout(200 * WEFT_MILLISECOND);
    int cfd, sfd;
    tcp_pair(&cfd, &sfd);
    weft_stream *s = NULL;
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_tls_connect(&s, ctx, cfd, "localhost", NULL), WEFT_ETIMEDOUT);
    ASSERT(weft_now() - t0 >= 200 * WEFT_MILLISECOND);
    ASSERT(weft_now() - t0 < 2 * WEFT_SECOND);
    ASSERT(s == NULL);
    /* The server side, against a client that never says hello. */
    weft_tls_opts o = { .flags = WEFT_TLS_SERVER, .cert_file = wt_certs_path(&certs, "good.pem"),
                        .key_file = wt_certs_path(&certs, "good.key"),
                        .handshake_timeout = 200 * WEFT_MILLISECOND };
    weft_tls_ctx *sctx;
    ASSERT_ERR(weft_tls_ctx_new(&sctx, &o), 0);
    ASSERT_ERR(weft_close(cfd), 0);
    ASSERT_ERR(weft_close(sfd), 0);
    tcp_pair(&cfd, &sfd);
    t0 = weft_now();
    ASSERT_ERR(weft_tls_accept(&s, sctx, sfd, NULL), WEFT_ETIMEDOUT);
    ASSERT(weft_now() - t0 >= 200 * WEFT_MILLISECOND);
    ASSERT(weft_now() - t0 < 2 * WEFT_SECOND);
    ASSERT_ERR(weft_close(cfd), 0);
    ASSERT_ERR(weft_close(sfd), 0);
    weft_tls_ctx_free(ctx);
    weft_tls_ctx_free(sctx);
    return 0;
}
TEST(a_handshake_with_a_silent_peer_times_out_at_the_handshake_timeout) { run_real(silent_peer); }

/* The default timeout, on the virtual clock: 10 s pass at once. */
static int silent_peer_default(void *arg) {
    (void)arg;
    weft_tls_ctx *ctx = client_ctx_timeout(0);
    int cfd, sfd;
    tcp_pair(&cfd, &sfd);
    weft_stream *s = NULL;
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_tls_connect(&s, ctx, cfd, "localhost", NULL), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_now() - t0, 10 * WEFT_SECOND);
    ASSERT_ERR(weft_close(cfd), 0);
    ASSERT_ERR(weft_close(sfd), 0);
    weft_tls_ctx_free(ctx);
    return 0;
}
TEST(the_default_handshake_timeout_is_ten_seconds) {
    wt_certs_make(&certs);
    ASSERT_EQ(wt_run(silent_peer_default, NULL), 0);
    wt_certs_free(&certs);
}

static void *connect_task(void *arg) {
    side *sd = arg;
    sd->err = weft_tls_connect(&sd->s, sd->ctx, sd->fd, "localhost", NULL);
    return NULL;
}

static int cancel_handshake(void *arg) {
    (void)arg;
    side cl = { .ctx = client_ctx() };
    int sfd;
    tcp_pair(&cl.fd, &sfd);
    weft_task *t = weft_spawn(connect_task, &cl);
    ASSERT_ERR(weft_sleep(50 * WEFT_MILLISECOND), 0);
    ASSERT_EQ(weft_task_done(t), 0);  /* waiting for the server's hello */
    weft_cancel(t);
    ASSERT_ERR(weft_join(t, NULL), 0);
    ASSERT_ERR(cl.err, WEFT_ECANCELED);
    ASSERT(cl.s == NULL);
    /* The fd is open, still the caller's, and works. */
    char hello[5];
    ASSERT_EQ(weft_read(sfd, hello, sizeof hello), 5);  /* the ClientHello's record header */
    ASSERT_EQ(hello[0], 22);                             /* handshake */
    ASSERT_EQ(weft_write(cl.fd, "x", 1), 1);
    ASSERT_ERR(weft_close(cl.fd), 0);
    ASSERT_ERR(weft_close(sfd), 0);
    weft_tls_ctx_free(cl.ctx);
    return 0;
}
TEST(cancel_during_the_handshake_leaves_the_fd_open_and_the_callers) { run_real(cancel_handshake); }

/* A scope's deadline around a handshake is reported as a timeout too. */
static int scope_deadline(void *arg) {
    (void)arg;
    weft_tls_ctx *ctx = client_ctx();
    int cfd, sfd;
    tcp_pair(&cfd, &sfd);
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, 100 * WEFT_MILLISECOND), 0);
    weft_stream *s;
    ASSERT_ERR(weft_tls_connect(&s, ctx, cfd, "localhost", NULL), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_close(cfd), 0);
    ASSERT_ERR(weft_close(sfd), 0);
    weft_tls_ctx_free(ctx);
    return 0;
}
TEST(a_scope_deadline_around_a_handshake_ends_it) { run_real(scope_deadline); }

/* ------------------------------------------------------------ ends of connections */

/* Makes freeing the stream skip close_notify, as a crashed peer would. */
static void quiet(weft_stream *s) { SSL_set_quiet_shutdown(weft__tls_ssl(s), 1); }

static int reset_mid_stream(void *arg) {
    (void)arg;
    side cl = { .ctx = client_ctx() }, sv = { .ctx = server_ctx("good") };
    connect_ok(&cl, &sv, "localhost");
    put(sv.s, "some");
    expect(cl.s, "some");
    quiet(sv.s);
    struct linger lg = { 1, 0 };
    ASSERT(setsockopt(sv.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    ASSERT_ERR(weft_stream_free(sv.s), 0);  /* an RST */
    char buf[16];
    ASSERT_ERR(weft_stream_read(cl.s, buf, sizeof buf), -ECONNRESET);
    ASSERT_ERR(weft_stream_read(cl.s, buf, sizeof buf), -ECONNRESET);  /* it sticks */
    ASSERT_EQ(ERR_peek_error(), 0);
    ASSERT_ERR(weft_stream_write(cl.s, "more", 4), 0);
    int err = weft_stream_drain(cl.s);
    ASSERT(err == -EPIPE || err == -ECONNRESET);
    ASSERT(weft_stream_close(cl.s) < 0);  /* the unsent bytes' error */
    weft_tls_ctx_free(cl.ctx);
    weft_tls_ctx_free(sv.ctx);
    return 0;
}
TEST(a_peer_that_resets_mid_stream_gives_errors_not_a_crash) { run_real(reset_mid_stream); }

static int truncated(void *arg) {
    (void)arg;
    side cl = { .ctx = client_ctx() }, sv = { .ctx = server_ctx("good") };
    connect_ok(&cl, &sv, "localhost");
    put(sv.s, "partial");
    quiet(sv.s);
    ASSERT_ERR(weft_stream_free(sv.s), 0);  /* TCP's FIN, no close_notify */
    char buf[16];
    ASSERT_EQ(weft_stream_read_to_eof(cl.s, buf, sizeof buf), 7);
    ASSERT(memcmp(buf, "partial", 7) == 0);
    ASSERT_ERR(weft_stream_close(cl.s), 0);
    weft_tls_ctx_free(cl.ctx);
    weft_tls_ctx_free(sv.ctx);
    return 0;
}
TEST(a_connection_ending_without_close_notify_reads_as_end_of_stream) { run_real(truncated); }

static int half_close(void *arg) {
    (void)arg;
    side cl = { .ctx = client_ctx() }, sv = { .ctx = server_ctx("good") };
    connect_ok(&cl, &sv, "localhost");
    ASSERT_ERR(weft_stream_write(cl.s, "request", 7), 0);
    ASSERT_ERR(weft_stream_shutdown(cl.s), 0);  /* close_notify */
    ASSERT_ERR(weft_stream_shutdown(cl.s), 0);  /* once is enough */
    ASSERT_ERR(weft_stream_write(cl.s, "x", 1), WEFT_ECLOSED);
    char buf[16];
    ASSERT_EQ(weft_stream_read_to_eof(sv.s, buf, sizeof buf), 7);  /* all of it, then the end */
    ASSERT(weft_stream_at_eof(sv.s));
    put(sv.s, "response");  /* the other direction still works */
    expect(cl.s, "response");
    ASSERT_ERR(weft_stream_close(sv.s), 0);
    ASSERT_EQ(weft_stream_read(cl.s, buf, sizeof buf), 0);
    ASSERT_ERR(weft_stream_close(cl.s), 0);
    weft_tls_ctx_free(cl.ctx);
    weft_tls_ctx_free(sv.ctx);
    return 0;
}
TEST(stream_shutdown_sends_close_notify_and_reading_goes_on) { run_real(half_close); }

/* A read that times out consumed nothing: what comes later reads whole. */
static int read_timeout(void *arg) {
    (void)arg;
    side cl = { .ctx = client_ctx() }, sv = { .ctx = server_ctx("good") };
    connect_ok(&cl, &sv, "localhost");
    char buf[16];
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, 50 * WEFT_MILLISECOND), 0);
    ASSERT_ERR(weft_stream_read(cl.s, buf, sizeof buf), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ETIMEDOUT);
    put(sv.s, "late");
    expect(cl.s, "late");
    ASSERT_ERR(weft_stream_close(cl.s), 0);
    ASSERT_ERR(weft_stream_close(sv.s), 0);
    weft_tls_ctx_free(cl.ctx);
    weft_tls_ctx_free(sv.ctx);
    return 0;
}
TEST(a_read_that_times_out_takes_nothing_and_later_data_reads_whole) { run_real(read_timeout); }

/* Bytes that are not TLS records, after the handshake: a protocol error,
 * not a crash; it sticks, and nothing is left in OpenSSL's error queue. */
static int garbage_mid_stream(void *arg) {
    (void)arg;
    side cl = { .ctx = client_ctx() }, sv = { .ctx = server_ctx("good") };
    connect_ok(&cl, &sv, "localhost");
    put(sv.s, "fine");
    expect(cl.s, "fine");
    static const char junk[] = "\x17\x03\x03\x00\x20 thirty-two bytes of nonsense....";
    ASSERT_EQ(weft_write(sv.fd, junk, sizeof junk - 1), (ssize_t)sizeof junk - 1);  /* under TLS's feet */
    char buf[16];
    ASSERT_ERR(weft_stream_read(cl.s, buf, sizeof buf), WEFT_ETLS);
    ASSERT(strstr(weft_tls_error_detail(), "bad record mac") || strstr(weft_tls_error_detail(), "decrypt"));
    ASSERT_EQ(ERR_peek_error(), 0);
    ASSERT_ERR(weft_stream_read(cl.s, buf, sizeof buf), WEFT_ETLS);
    ASSERT_ERR(weft_stream_close(cl.s), 0);
    ASSERT_ERR(weft_stream_close(sv.s), 0);
    weft_tls_ctx_free(cl.ctx);
    weft_tls_ctx_free(sv.ctx);
    return 0;
}
TEST(garbage_after_the_handshake_is_a_tls_error_that_sticks) { run_real(garbage_mid_stream); }

/* ------------------------------------------------------------ peers that are not TLS */

typedef struct raw_peer { int fd; const char *say; } raw_peer;
/* Reads the ClientHello, answers `say` (if not NULL), and closes. */
static void *raw_server(void *arg) {
    raw_peer *p = arg;
    char buf[4096];
    ASSERT(weft_read(p->fd, buf, sizeof buf) > 0);
    if (p->say) ASSERT_EQ(weft_write(p->fd, p->say, strlen(p->say)), (ssize_t)strlen(p->say));
    ASSERT_ERR(weft_close(p->fd), 0);
    return NULL;
}

static int not_tls(void *arg) {
    (void)arg;
    weft_tls_ctx *ctx = client_ctx();
    const char *says[] = { NULL, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" };
    int codes[] = { WEFT_EOF, WEFT_ETLS };
    for (int i = 0; i < 2; i++) {
        int cfd;
        raw_peer p = { .say = says[i] };
        tcp_pair(&cfd, &p.fd);
        weft_task *t = weft_spawn(raw_server, &p);
        weft_stream *s;
        ASSERT_ERR(weft_tls_connect(&s, ctx, cfd, "localhost", NULL), codes[i]);
        if (codes[i] == WEFT_ETLS) ASSERT(strstr(weft_tls_error_detail(), "wrong version number"));
        ASSERT_ERR(weft_join(t, NULL), 0);
        ASSERT_ERR(weft_close(cfd), 0);
    }
    weft_tls_ctx_free(ctx);
    /* A server spoken to in plain HTTP. */
    weft_tls_ctx *sctx = server_ctx("good");
    int cfd, sfd;
    tcp_pair(&cfd, &sfd);
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(weft_write(cfd, req, strlen(req)), (ssize_t)strlen(req));
    weft_stream *s;
    ASSERT_ERR(weft_tls_accept(&s, sctx, sfd, NULL), WEFT_ETLS);
    ASSERT(strstr(weft_tls_error_detail(), "http request"));
    ASSERT_EQ(ERR_peek_error(), 0);
    ASSERT_ERR(weft_close(cfd), 0);
    ASSERT_ERR(weft_close(sfd), 0);
    weft_tls_ctx_free(sctx);
    return 0;
}
TEST(a_peer_that_closes_or_does_not_speak_tls_fails_the_handshake) { run_real(not_tls); }

/* ------------------------------------------------------------ bad input */

static int ctx_new_err(weft_tls_opts o) {
    weft_tls_ctx *ctx = (weft_tls_ctx *)&o;  /* must stay untouched */
    int err = weft_tls_ctx_new(&ctx, &o);
    ASSERT(ctx == (weft_tls_ctx *)&o);
    return err;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    ASSERT(f);
    fputs(text, f);
    ASSERT(fclose(f) == 0);
}

TEST(bad_context_options_are_refused_with_a_clear_code) {
    wt_certs_make(&certs);
    char good[128], key[128], expired_key[128], ca[128], junk[128], missing[128];
    snprintf(good, sizeof good, "%s", wt_certs_path(&certs, "good.pem"));
    snprintf(key, sizeof key, "%s", wt_certs_path(&certs, "good.key"));
    snprintf(expired_key, sizeof expired_key, "%s", wt_certs_path(&certs, "expired.key"));
    snprintf(ca, sizeof ca, "%s", wt_certs_path(&certs, "ca.pem"));
    snprintf(junk, sizeof junk, "%s", wt_certs_path(&certs, "junk.pem"));
    snprintf(missing, sizeof missing, "%s", wt_certs_path(&certs, "missing.pem"));
    write_file(junk, "not a certificate\n");
    unsigned S = WEFT_TLS_SERVER;
    weft_tls_ctx *ctx = NULL;
    ASSERT_ERR(weft_tls_ctx_new(&ctx, NULL), WEFT_EINVAL);
    ASSERT_ERR(ctx_new_err((weft_tls_opts){ .flags = 1u << 20 }), WEFT_EINVAL);
    ASSERT_ERR(ctx_new_err((weft_tls_opts){ .flags = S }), WEFT_EINVAL);
    ASSERT_ERR(ctx_new_err((weft_tls_opts){ .flags = S, .cert_file = good }), WEFT_EINVAL);
    ASSERT_ERR(ctx_new_err((weft_tls_opts){ .key_file = key }), WEFT_EINVAL);
    ASSERT_ERR(ctx_new_err((weft_tls_opts){ .flags = S | WEFT_TLS_INSECURE_SKIP_VERIFY,
                                            .cert_file = good, .key_file = key }), WEFT_EINVAL);
    ASSERT_ERR(ctx_new_err((weft_tls_opts){ .flags = WEFT_TLS_REQUIRE_CLIENT_CERT }), WEFT_EINVAL);
    ASSERT_ERR(ctx_new_err((weft_tls_opts){ .handshake_timeout = -1 }), WEFT_EINVAL);
    const char *bad_alpn[] = { "", "h2,", ",h2", "h2,,http/1.1" };
    for (int i = 0; i < 4; i++) ASSERT_ERR(ctx_new_err((weft_tls_opts){ .alpn = bad_alpn[i] }), WEFT_EINVAL);
    char long_name[300];
    memset(long_name, 'a', 256);
    long_name[256] = 0;
    ASSERT_ERR(ctx_new_err((weft_tls_opts){ .alpn = long_name }), WEFT_EINVAL);
    long_name[255] = 0;
    ASSERT_ERR(weft_tls_ctx_new(&ctx, &(weft_tls_opts){ .alpn = long_name }), 0);  /* 255 is the most */
    weft_tls_ctx_free(ctx);
    /* Files. */
    ASSERT_ERR(ctx_new_err((weft_tls_opts){ .flags = S, .cert_file = missing, .key_file = key }), -ENOENT);
    ASSERT(strstr(weft_tls_error_detail(), "missing.pem"));
    ASSERT_ERR(ctx_new_err((weft_tls_opts){ .ca_file = missing }), -ENOENT);
    ASSERT_ERR(ctx_new_err((weft_tls_opts){ .ca_dir = missing }), -ENOENT);
    ASSERT_ERR(ctx_new_err((weft_tls_opts){ .flags = S, .cert_file = junk, .key_file = key }), WEFT_ETLS);
    ASSERT(strstr(weft_tls_error_detail(), "junk.pem"));
    ASSERT_ERR(ctx_new_err((weft_tls_opts){ .flags = S, .cert_file = good, .key_file = junk }), WEFT_ETLS);
    ASSERT_ERR(ctx_new_err((weft_tls_opts){ .ca_file = junk }), WEFT_ETLS);
    ASSERT_ERR(ctx_new_err((weft_tls_opts){ .flags = S, .cert_file = good, .key_file = expired_key }), WEFT_ETLS);
    ASSERT(strstr(weft_tls_error_detail(), "mismatch"));
    ASSERT_EQ(ERR_peek_error(), 0);
    /* And what works: the system store, a CA directory, a client certificate. */
    ASSERT_ERR(weft_tls_ctx_new(&ctx, &(weft_tls_opts){ 0 }), 0);
    ASSERT_STR(weft_tls_error_detail(), "");
    weft_tls_ctx_free(ctx);
    ASSERT_ERR(weft_tls_ctx_new(&ctx, &(weft_tls_opts){ .ca_dir = certs.dir }), 0);
    weft_tls_ctx_free(ctx);
    ASSERT_ERR(weft_tls_ctx_new(&ctx, &(weft_tls_opts){ .ca_file = ca, .cert_file = good, .key_file = key }), 0);
    weft_tls_ctx_free(ctx);
    weft_tls_ctx_free(NULL);
    wt_certs_free(&certs);
}

static int bad_handshake_args(void *arg) {
    (void)arg;
    weft_tls_ctx *cctx = client_ctx(), *sctx = server_ctx("good");
    int cfd, sfd;
    tcp_pair(&cfd, &sfd);
    weft_stream *s = (weft_stream *)&s;
    ASSERT_ERR(weft_tls_connect(&s, NULL, cfd, "localhost", NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_tls_connect(&s, sctx, cfd, "localhost", NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_tls_connect(&s, cctx, -1, "localhost", NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_tls_connect(&s, cctx, cfd, NULL, NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_tls_connect(&s, cctx, cfd, "", NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_tls_connect(&s, cctx, cfd, "[]", NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_tls_accept(&s, cctx, sfd, NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_tls_accept(&s, NULL, sfd, NULL), WEFT_EINVAL);
    int closed = dup(cfd);
    ASSERT(closed >= 0 && close(closed) == 0);
    ASSERT_ERR(weft_tls_connect(&s, cctx, closed, "localhost", NULL), -EBADF);
    /* Out of memory: nothing is left behind, the fd is still the caller's. */
    wt_fail_at = 0;
    ASSERT_ERR(weft_tls_connect(&s, cctx, cfd, "localhost", NULL), WEFT_ENOMEM);
    ASSERT(s == (weft_stream *)&s);
    ASSERT(fcntl(cfd, F_GETFD) >= 0);
    ASSERT_ERR(weft_close(cfd), 0);
    ASSERT_ERR(weft_close(sfd), 0);
    weft_tls_ctx_free(cctx);
    weft_tls_ctx_free(sctx);
    return 0;
}
TEST(bad_handshake_arguments_and_no_memory_leave_the_fd_to_the_caller) {
    run_real(bad_handshake_args);
    /* Outside any task. */
    wt_certs_make(&certs);
    weft_tls_ctx *ctx = client_ctx();
    weft_stream *s;
    ASSERT_ERR(weft_tls_connect(&s, ctx, 0, "localhost", NULL), WEFT_ENOTASK);
    weft_tls_ctx_free(ctx);
    wt_certs_free(&certs);
}

/* The stream's allocation fails after a complete handshake: the fd is
 * still the caller's, and the server sees the client go. */
static int enomem_after_handshake(void *arg) {
    (void)arg;
    side cl = { .ctx = client_ctx() }, sv = { .ctx = server_ctx("good") };
    tcp_pair(&cl.fd, &sv.fd);
    weft_task *t = weft_spawn(accept_task, &sv);
    /* Let the server's task start (its allocations come first), then fail
     * the client's second one: the conn's, then the stream's. */
    ASSERT_ERR(weft_yield(), 0);
    wt_fail_at = 1;
    cl.err = weft_tls_connect(&cl.s, cl.ctx, cl.fd, "localhost", NULL);
    wt_fail_at = -1;
    ASSERT_ERR(cl.err, WEFT_ENOMEM);
    ASSERT_ERR(weft_close(cl.fd), 0);
    ASSERT_ERR(weft_join(t, NULL), 0);
    if (sv.err == 0) {  /* TLS 1.3: the server may finish first */
        char c;
        ASSERT(weft_stream_read(sv.s, &c, 1) <= 0);
        ASSERT_ERR(weft_stream_close(sv.s), 0);
    } else {
        ASSERT_ERR(weft_close(sv.fd), 0);
    }
    weft_tls_ctx_free(cl.ctx);
    weft_tls_ctx_free(sv.ctx);
    return 0;
}
TEST(no_memory_for_the_stream_after_the_handshake_leaves_the_fd_to_the_caller) { run_real(enomem_after_handshake); }

/* borrow_fd: closing the stream leaves the fd open. */
static int borrowed(void *arg) {
    (void)arg;
    side cl = { .ctx = client_ctx(), .sopts = { .borrow_fd = 1 } }, sv = { .ctx = server_ctx("good") };
    connect_ok(&cl, &sv, "localhost");
    ASSERT_ERR(weft_stream_close(cl.s), 0);
    ASSERT(fcntl(cl.fd, F_GETFD) >= 0);
    char c;
    ASSERT_EQ(weft_stream_read(sv.s, &c, 1), 0);  /* close_notify came all the same */
    ASSERT_ERR(weft_close(cl.fd), 0);
    ASSERT_ERR(weft_stream_close(sv.s), 0);
    weft_tls_ctx_free(cl.ctx);
    weft_tls_ctx_free(sv.ctx);
    return 0;
}
TEST(a_stream_on_a_borrowed_fd_leaves_it_open) { run_real(borrowed); }

/* ------------------------------------------------------------ OpenSSL's own tools
 *
 * Peers nobody here wrote: `openssl s_server` and `openssl s_client`
 * (Debian's openssl package), as subprocesses on loopback. Skipped where
 * the program is missing. */

static const char *openssl_bin(void) {
    static char path[256];
    const char *env = getenv("PATH");
    char dirs[1024];
    snprintf(dirs, sizeof dirs, "%s", env ? env : "/usr/bin:/bin");
    for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(path, sizeof path, "%s/openssl", d);
        if (access(path, X_OK) == 0) return path;
    }
    return NULL;
}

/* Starts argv with stdin and stdout on the given fds (-1: /dev/null) and
 * stderr on /dev/null. */
static pid_t spawn(char *const argv[], int in, int out) {
    posix_spawn_file_actions_t fa;
    ASSERT_EQ(posix_spawn_file_actions_init(&fa), 0);
    if (in >= 0) ASSERT_EQ(posix_spawn_file_actions_adddup2(&fa, in, 0), 0);
    else ASSERT_EQ(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0), 0);
    if (out >= 0) ASSERT_EQ(posix_spawn_file_actions_adddup2(&fa, out, 1), 0);
    else ASSERT_EQ(posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0), 0);
    /* stderr stays the test's, so that a failing peer says why in the CTest log. */
    extern char **environ;
    pid_t pid;
    ASSERT_EQ(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

/* Waits (a bounded while) for the child to exit; kills it if it does not.
 * Returns its exit status, or -1 if it had to be killed. */
static int reap(pid_t pid) {
    for (int i = 0; i < 200; i++) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        ASSERT(r >= 0);
        if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        ASSERT_ERR(weft_sleep(10 * WEFT_MILLISECOND), 0);
    }
    kill(pid, SIGKILL);
    ASSERT(waitpid(pid, NULL, 0) == pid);
    return -1;
}

static int free_port(void) {
    int fd;
    ASSERT_ERR(weft_tcp_listen("127.0.0.1", "0", 0, &fd), 0);
    int port = weft_sock_port(fd);
    ASSERT_ERR(weft_close(fd), 0);
    return port;
}

/* Connects to 127.0.0.1:port, retrying while the server starts up. */
static int connect_retry(int port) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 250; i++) {
        int fd, err = weft_connect_addr((struct sockaddr *)&a, sizeof a, WEFT_FOREVER, &fd);
        if (!err) return fd;
        ASSERT_ERR(err, -ECONNREFUSED);
        ASSERT_ERR(weft_sleep(20 * WEFT_MILLISECOND), 0);
    }
    ASSERT(!"the server never started");
    return -1;
}

/* One s_server run with `version` ("-tls1_3" or "-tls1_2"). */
static void s_server_once(const char *version) {
    int port = free_port();
    char accept[32];
    snprintf(accept, sizeof accept, "127.0.0.1:%d", port);
    char cert[128], key[128];
    snprintf(cert, sizeof cert, "%s", wt_certs_path(&certs, "good.pem"));
    snprintf(key, sizeof key, "%s", wt_certs_path(&certs, "good.key"));
    char *argv[] = { (char *)openssl_bin(), "s_server", "-accept", accept, "-cert", cert, "-key", key,
                     "-www", "-naccept", "1", "-alpn", "http/1.1", "-quiet", (char *)version, NULL };
    pid_t pid = spawn(argv, -1, -1);
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, 8 * WEFT_SECOND), 0);
    int fd = connect_retry(port);
    weft_tls_ctx *ctx = client_ctx_ex("h2,http/1.1", 0, NULL);
    weft_stream *s;
    ASSERT_ERR(weft_tls_connect(&s, ctx, fd, "localhost", NULL), 0);
    ASSERT_STR(weft_tls_alpn(s), "http/1.1");
    ASSERT_STR(SSL_get_version(weft__tls_ssl(s)), strcmp(version, "-tls1_2") ? "TLSv1.3" : "TLSv1.2");
    put(s, "GET / HTTP/1.0\r\n\r\n");
    static char page[64 * 1024];
    ssize_t n = weft_stream_read_to_eof(s, page, sizeof page - 1);
    ASSERT(n > 0);
    page[n] = 0;
    ASSERT(strncmp(page, "HTTP/1.0 200 ok\r\n", 17) == 0);
    ASSERT(strstr(page, "<HTML>") || strstr(page, "<html>"));
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT_ERR(weft_scope_leave(&sc), 0);
    ASSERT_EQ(reap(pid), 0);  /* -naccept 1: it ends after our connection */
    weft_tls_ctx_free(ctx);
}
static int against_s_server(void *arg) {
    (void)arg;
    s_server_once("-tls1_3");
    s_server_once("-tls1_2");
    return 0;
}
TEST(the_client_fetches_a_page_from_openssl_s_server_over_tls_1_2_and_1_3) {
    if (!openssl_bin()) wt_skip("no openssl program");
    run_real(against_s_server);
}

/* One s_client run with `version` ("-tls1_3" or "-tls1_2"). */
static void s_client_once(const char *version) {
    int lfd;
    ASSERT_ERR(weft_tcp_listen("127.0.0.1", "0", 0, &lfd), 0);
    char connect[32], ca[128];
    snprintf(connect, sizeof connect, "127.0.0.1:%d", weft_sock_port(lfd));
    snprintf(ca, sizeof ca, "%s", wt_certs_path(&certs, "ca.pem"));
    int in[2], out[2];
    ASSERT(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0);
    char *argv[] = { (char *)openssl_bin(), "s_client", "-connect", connect, "-servername", "localhost",
                     "-verify_hostname", "localhost", "-CAfile", ca, "-verify_return_error",
                     "-alpn", "http/1.1", "-quiet", (char *)version, NULL };
    pid_t pid = spawn(argv, in[0], out[1]);
    ASSERT(close(in[0]) == 0 && close(out[1]) == 0);
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, 8 * WEFT_SECOND), 0);
    int fd;
    ASSERT_ERR(weft_accept(lfd, NULL, NULL, &fd), 0);
    weft_tls_ctx *ctx = server_ctx_ex("good", "http/1.1", 0);
    weft_stream *s;
    ASSERT_ERR(weft_tls_accept(&s, ctx, fd, NULL), 0);
    ASSERT_STR(weft_tls_alpn(s), "http/1.1");
    ASSERT_STR(SSL_get_version(weft__tls_ssl(s)), strcmp(version, "-tls1_2") ? "TLSv1.3" : "TLSv1.2");
    ASSERT_ERR(weft_fd_nonblock(in[1]), 0);
    ASSERT_EQ(weft_write(in[1], "ping\n", 5), 5);  /* s_client's stdin, sent over TLS */
    expect(s, "ping\n");
    put(s, "pong\n");
    ASSERT_ERR(weft_stream_close(s), 0);  /* close_notify: s_client ends */
    char buf[64];
    size_t got = 0;
    for (ssize_t n; got < sizeof buf - 1 && (n = weft_read(out[0], buf + got, sizeof buf - 1 - got)) > 0;)
        got += (size_t)n;
    buf[got] = 0;
    ASSERT_STR(buf, "pong\n");
    ASSERT_ERR(weft_scope_leave(&sc), 0);
    ASSERT_ERR(weft_close(in[1]), 0);
    ASSERT_ERR(weft_close(out[0]), 0);
    ASSERT_ERR(weft_close(lfd), 0);
    ASSERT_EQ(reap(pid), 0);
    weft_tls_ctx_free(ctx);
}
static int against_s_client(void *arg) {
    (void)arg;
    s_client_once("-tls1_3");
    s_client_once("-tls1_2");
    return 0;
}
TEST(openssl_s_client_talks_to_the_server_over_tls_1_2_and_1_3) {
    if (!openssl_bin()) wt_skip("no openssl program");
    run_real(against_s_client);
}

/* ------------------------------------------------------------ cancelled writes */

static void small_buffers(int fd) {
    int n = 32 * 1024;
    ASSERT(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &n, sizeof n) == 0);
    ASSERT(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof n) == 0);
}

/* Reads from k->s, checking the bytes against the pattern from k->got on. */
typedef struct checker { weft_stream *s; size_t got; } checker;
static void check_some(checker *k, size_t most) {
    static unsigned char buf[8192];
    ssize_t n = weft_stream_read(k->s, buf, most < sizeof buf ? most : sizeof buf);
    ASSERT(n > 0);
    for (ssize_t i = 0; i < n; i++) ASSERT_EQ(buf[i], pattern(k->got + (size_t)i));
    k->got += (size_t)n;
}
static void *check_to_end(void *arg) {
    checker *k = arg;
    for (;;) {
        const void *p;
        ssize_t n = weft_stream_peek(k->s, 1, &p);  /* waits for a byte, or the end */
        if (n == WEFT_EOF) break;
        ASSERT(n > 0);
        check_some(k, (size_t)n);
    }
    return NULL;
}

/* A drain that times out while records are leaving (the peer does not
 * read) leaves the rest buffered; the next drain sends it, and the peer
 * gets every byte once: none lost, none encrypted twice. */
static int cancelled_drain(void *arg) {
    (void)arg;
    side cl = { .ctx = client_ctx() }, sv = { .ctx = server_ctx("good") };
    tcp_pair(&cl.fd, &sv.fd);
    small_buffers(cl.fd);
    small_buffers(sv.fd);
    weft_task *t = weft_spawn(accept_task, &sv);
    ASSERT_ERR(weft_tls_connect(&cl.s, cl.ctx, cl.fd, "localhost", NULL), 0);
    ASSERT_ERR(weft_join(t, NULL), 0);
    ASSERT_ERR(sv.err, 0);
    enum { TOTAL = 1 << 20 };
    static unsigned char data[TOTAL];
    for (size_t i = 0; i < TOTAL; i++) data[i] = pattern(i);
    ASSERT_ERR(weft_stream_write(cl.s, data, TOTAL), 0);
    checker k = { sv.s, 0 };
    for (int round = 0; round < 20; round++) {  /* time out at many points */
        weft_scope sc;
        ASSERT_ERR(weft_timeout_enter(&sc, 20 * WEFT_MILLISECOND), 0);
        ASSERT_ERR(weft_stream_drain(cl.s), WEFT_ETIMEDOUT);
        ASSERT_ERR(weft_scope_leave(&sc), WEFT_ETIMEDOUT);
        ASSERT(weft_stream_unsent(cl.s) > 0);
        check_some(&k, 1000 + 997 * (size_t)round);  /* let a little through */
    }
    t = weft_spawn(check_to_end, &k);
    ASSERT_ERR(weft_stream_shutdown(cl.s), 0);
    ASSERT_ERR(weft_join(t, NULL), 0);
    ASSERT_EQ(k.got, TOTAL);
    ASSERT_ERR(weft_stream_close(cl.s), 0);
    ASSERT_ERR(weft_stream_close(sv.s), 0);
    weft_tls_ctx_free(cl.ctx);
    weft_tls_ctx_free(sv.ctx);
    return 0;
}
TEST(a_drain_that_times_out_resumes_without_losing_or_repeating_bytes) { run_real(cancelled_drain); }
