/* Allocation-failure injection: each case runs one scenario again and again
 * with its Nth allocation failing, N = 0, 1, 2, ... until a run makes no
 * failing allocation. Every allocation counts: the loop's realloc hook,
 * OpenSSL's (CRYPTO_set_mem_functions, set before OpenSSL allocates
 * anything), jansson's (json_set_alloc_funcs) and zlib's (which the client
 * routes through the loop's hook).
 *
 * A failing run must end with WEFT_ENOMEM in the task whose allocation
 * failed, or with what a client documents for a server's failure (a 500,
 * the connection closed or reset) when the failure was the server's; and
 * never crash, leak (allocations or fds), or hang. After the failing run,
 * the same loop runs the scenario once more without faults, which must
 * succeed: the loop is still usable. Each case prints how many allocation
 * sites it walked. Real clock. */
#include "test.h"
#include "wt_certs.h"

#include <weft/http.h>
#include <weft/httpd.h>
#include <weft/io.h>
#include <weft/net.h>
#include <weft/stream.h>
#include <weft/tls.h>

#include <execinfo.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <limits.h>
#include <stdint.h>
#include <sys/socket.h>
#include <zlib.h>

/* ------------------------------------------------- allocation hooks */

static bool fail_hit;            /* the armed allocation failed */
static bool fail_in_main;        /* ... in the main task (else a server's) */
static bool fail_in_ossl;        /* ... in OpenSSL (see run_once) */
static long ossl_kept;           /* blocks OpenSSL lost after its own failures */
static long ossl_etls;           /* OpenSSL failures that surfaced as WEFT_ETLS */
#define OSSL_KEPT 4              /* at most this many per run */
static bool fail_in_jansson;     /* ... in jansson, which may call it a syntax error */
static weft_task *main_task;
static long ext_live;            /* OpenSSL's and jansson's live blocks */
static long counted_left;        /* wt_fail_at when the faulty run ended */

/* Consumes one allocation of the count; true if this one must fail. */
static bool should_fail(void) {
    if (wt_fail_at != 0) {
        if (wt_fail_at > 0) wt_fail_at--;
        return false;
    }
    wt_fail_at = -1;
    fail_hit = true;
    fail_in_main = weft_loop_current() && weft_current() == main_task;
    if (getenv("WT_ALLOC_FAIL_AT")) {  /* debugging one site: where is it? */
        void *bt[32];
        backtrace_symbols_fd(bt, backtrace(bt, 32), 2);
    }
    return true;
}

static void *loop_realloc(void *ud, void *p, size_t n) {
    if (n && should_fail()) return NULL;
    long saved = wt_fail_at;
    wt_fail_at = -1;  /* counted above already */
    void *q = wt_realloc(ud, p, n);
    wt_fail_at = saved;
    return q;
}

static void *ext_malloc(size_t n) {
    if (should_fail()) return NULL;
    void *p = malloc(n ? n : 1);
    if (p) ext_live++;
    return p;
}
static void *ext_realloc(void *p, size_t n) {
    if (!p) return ext_malloc(n);
    if (should_fail()) return NULL;
    return realloc(p, n ? n : 1);
}
static void ext_free(void *p) {
    if (p) ext_live--;
    free(p);
}
static void *json_malloc(size_t n) {
    bool hit = fail_hit;
    void *p = ext_malloc(n);
    fail_in_jansson |= fail_hit && !hit;
    return p;
}
static void *ossl_malloc(size_t n, const char *f, int l) {
    (void)f; (void)l;
    bool hit = fail_hit;
    void *p = ext_malloc(n);
    fail_in_ossl |= fail_hit && !hit;
    return p;
}
static void *ossl_realloc(void *p, size_t n, const char *f, int l) {
    (void)f; (void)l;
    bool hit = fail_hit;
    void *q = ext_realloc(p, n);
    fail_in_ossl |= fail_hit && !hit;
    return q;
}
static void ossl_free(void *p, const char *f, int l) { (void)f; (void)l; ext_free(p); }

/* Before main, hence before OpenSSL's first allocation. */
__attribute__((constructor)) static void hooks_init(void) {
    if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free)) abort();
    json_set_alloc_funcs(json_malloc, ext_free);
}

/* ------------------------------------------------------------ the walk */

/* A scenario: 0 on success, else its error. SERVER_FAILED: the client saw
 * the server fail (a 500, a close), acceptable only for a server's fault. */
#define SERVER_FAILED 1
typedef int (*scenario_fn)(void);

typedef struct run {
    scenario_fn fn;
    int first, second;   /* the results of the faulty run and the clean one */
    bool main_ran;
} run;

/* The main task: the scenario, bounded in time, then once more cleanly. */
static int run_main(void *arg) {
    run *r = arg;
    main_task = weft_current();
    r->main_ran = true;
    weft_scope sc;
    weft_timeout_enter(&sc, 5 * WEFT_SECOND);
    r->first = r->fn();
    int err = weft_scope_leave(&sc);
    if (err) r->first = err;   /* a hang, which no outcome excuses */
    counted_left = wt_fail_at;
    wt_fail_at = -1;
    weft_timeout_enter(&sc, 5 * WEFT_SECOND);
    r->second = r->fn();
    if ((err = weft_scope_leave(&sc))) r->second = err;
    return 0;
}

/* One run with the Nth allocation failing (N < 0: none); checks for leaks
 * as wt_run does. Returns true if the Nth allocation happened. */
static bool run_once(scenario_fn fn, long n) {
    static bool warm;  /* OpenSSL's first use allocates for good */
    int fds = wt_count_fds();
    long live = wt_live_allocs, xlive = ext_live;
    run r = { .fn = fn };
    fail_hit = fail_in_jansson = fail_in_ossl = false;
    wt_fail_at = n;
    weft_loop_opts o = { .realloc = loop_realloc };
    int res = weft_run_opts(&o, run_main, &r);
    wt_fail_at = -1;
    if (!warm) xlive = ext_live;
    warm = true;
    if (ext_live > xlive && ext_live - xlive <= OSSL_KEPT && fail_in_ossl) {
        /* OpenSSL 3.0 loses a block or two on some of its own failure
         * paths (ASN.1 decoding, its method store's cache): not a leak of
         * weft's, which would lose a whole SSL or SSL_CTX (dozens). */
        printf("N=%ld: OpenSSL lost %ld blocks after its own allocation failed\n", n, ext_live - xlive);
        ossl_kept += ext_live - xlive;
        xlive = ext_live;
    }
    if (wt_live_allocs != live || ext_live != xlive) {
        fprintf(stderr, "N=%ld: leak: %ld loop, %ld OpenSSL/jansson allocations not freed\n", n,
                wt_live_allocs - live, ext_live - xlive);
        abort();
    }
    ASSERT_EQ(wt_count_fds(), fds);
    if (!r.main_ran) {  /* the loop itself could not be set up */
        ASSERT(fail_hit);
        ASSERT_ERR(res, WEFT_ENOMEM);
        return true;
    }
    ASSERT_ERR(res, 0);
    if (r.second) fprintf(stderr, "N=%ld: the clean run after the fault failed\n", n);
    ASSERT_ERR(r.second, 0);
    if (!fail_hit) {
        ASSERT_ERR(r.first, 0);
        return false;
    }
    /* OpenSSL does not always say an allocation failed (it reports the
     * call that gave up, or a certificate it could not check): WEFT_ETLS or
     * WEFT_ECERT* then, or the socket's error from the alert it sent to a
     * peer already gone; counted. */
    bool tls_code = (r.first <= WEFT_ETLS && r.first >= WEFT_ECERTUNTRUSTED) || r.first == -EPIPE ||
                    r.first == -ECONNRESET || r.first == WEFT_EOF;
    if (fail_in_ossl && tls_code) ossl_etls++;
    bool ok = r.first == 0 || r.first == WEFT_ENOMEM || (fail_in_jansson && r.first == WEFT_EDECODE) ||
              (fail_in_ossl && tls_code) ||
              (!fail_in_main && (r.first == SERVER_FAILED || r.first == WEFT_EOF ||
                                 r.first == -ECONNRESET || r.first == -EPIPE));
    if (!ok) fprintf(stderr, "N=%ld (in %s): %s\n", n, fail_in_main ? "main" : "another task",
                     weft_err_name(r.first));
    ASSERT(ok);
    return true;
}

/* The walk's stride: 1 (every site) unless a site count over `budget`
 * would not fit a case's time; ASan runs ~10x slower here. */
#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif
#ifdef ASAN
#define BUDGET_DIV 10
#else
#define BUDGET_DIV 1
#endif

/* Walks fn's allocation sites; `budget` caps the runs (normal build). */
static void walk(const char *name, scenario_fn fn, long budget) {
    run_once(fn, -1);   /* warms OpenSSL's and the resolver's caches up */
    const char *only = getenv("WT_ALLOC_FAIL_AT");
    if (only) {
        run_once(fn, atol(only));
        return;
    }
    ASSERT(!run_once(fn, LONG_MAX));
    long total = LONG_MAX - counted_left;  /* the sites of one clean run */
    budget /= BUDGET_DIV;
    long stride = total > budget ? (total + budget - 1) / budget : 1, sites = 0;
    for (long n = 0; run_once(fn, n); n += stride) sites++;
    printf("%s: %ld allocation sites per run, %ld walked (stride %ld)\n", name, total, sites, stride);
    if (ossl_etls) printf("%s: %ld OpenSSL allocation failures surfaced as a TLS or socket error\n", name, ossl_etls);
    if (ossl_kept) printf("%s: OpenSSL lost %ld blocks in all on its own failure paths\n", name, ossl_kept);
}

/* ---------------------------------------------- tasks: spawn and join */

static void *twice(void *arg) { return (void *)((intptr_t)arg * 2); }

static int spawn_join(void) {
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
TEST(spawn_join_and_groups_survive_every_allocation_failure) { walk("tasks", spawn_join, 100000); }

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
TEST(a_stream_round_trip_survives_every_allocation_failure) { walk("stream", stream_pair, 100000); }

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
static unsigned char deflated[256];
static size_t deflated_len;

static int hello(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)arg;
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
    if (!strncmp(buf, "HTTP/1.1 200 ", 13)) {
        ASSERT(strstr(buf, "\r\n\r\nhello\n"));
        return 0;
    }
    /* Nothing, or a 5xx: the server failed, as it may. */
    ASSERT(got == 0 || !strncmp(buf, "HTTP/1.1 5", 10));
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
TEST(an_http_server_round_trip_survives_every_allocation_failure) { walk("httpd", http_server, 100000); }

/* ------------------------- a client GET through two redirects (same loop) */

static const char json_body[] = "{\"hello\": \"world\", \"n\": [1, 2, 3]}";

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
        ASSERT(strstr(weft_http_response_url(res), "/r/0"));
    }
    json_decref(j);
    weft_http_response_free(res);
    weft_http_client_free(c);
    return err;
}

static int client_get(void) { return with_server(client_work); }

static void deflate_body(void) {
    uLongf n = sizeof deflated;
    ASSERT_EQ(compress2(deflated, &n, (const Bytef *)json_body, sizeof json_body - 1, 9), Z_OK);
    deflated_len = n;
}
TEST(a_client_get_through_redirects_survives_every_allocation_failure) {
    deflate_body();
    walk("client", client_get, 100000);
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
        sv.err = err;
        t = NULL;
        weft_close(sv.fd);
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
    if (t) ASSERT_ERR(weft_join(t, NULL), 0);
    weft_tls_ctx_free(cl.ctx);
    weft_tls_ctx_free(sv.ctx);
    /* The client's own failure first; else the server's, as the client saw it. */
    if (!err && sv.err) err = sv.err;
    return err;
}
TEST(a_tls_handshake_and_echo_survive_every_allocation_failure) {
    wt_certs_make(&certs);
    walk("tls", tls_echo, 400);
    wt_certs_free(&certs);
}
