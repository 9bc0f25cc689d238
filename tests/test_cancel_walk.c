/* Cancellation at every suspension point, the way Trio tests it. Each
 * scenario runs once with the core's walk hook counting the suspension
 * points its tasks reach (weft__test_cancel_at, src/core/internal.h), then
 * once per point K with the victim task cancelled exactly at the K-th. Each
 * run checks that the victim reports the cancellation (or completed, when
 * the point came after its last effect), that everything it held was
 * released (wt_run's counting allocator and fd count; for the HTTP client
 * also its connection pool, by a request on the same client limited to one
 * connection), and that the loop still runs a new task afterwards.
 *
 * The points counted are those of every task in the loop, not only the
 * victim's: a point reached by another task (the server, the peer) cancels
 * the victim wherever it waits at that moment, which walks the interleavings
 * too. */
#include "test.h"
#include "wt_certs.h"

#include <weft/dns.h>
#include <weft/fs.h>
#include <weft/http.h>
#include <weft/httpd.h>
#include <weft/io.h>
#include <weft/net.h>
#include <weft/stream.h>
#include <weft/tls.h>

#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

/* The core's test hook (src/core/internal.h; linked from weft_static). */
uint64_t weft__test_cancel_at(bool on, uint64_t k, weft_task *target, bool *own);

/* ------------------------------------------------------------ the walk */

static uint64_t wk_at;        /* the point to cancel at; 0 = only count */
static uint64_t wk_count;     /* points the last run reached */
static bool wk_fired;         /* the last run's cancel happened */
static unsigned wk_cancelled; /* runs whose victim reported it */
static unsigned wk_own;       /* runs cancelled at a point of the victim's own */

static void walk_begin(weft_task *victim) {
    weft__test_cancel_at(true, wk_at, victim, NULL);
}

/* Ends the walk of a run and checks the victim's result `code`: success
 * when the cancel never came, else success or `cancel_code` (the code the
 * victim's documented contract reports for a cancellation). */
static void walk_end(int code, int cancel_code) {
    bool own;
    wk_count = weft__test_cancel_at(false, 0, NULL, &own);
    wk_fired = wk_at && wk_at <= wk_count;
    /* Cancelled at a point of its own that reported it: swallowing that
     * (and succeeding) would be a bug. */
    if (own) {
        wk_own++;
        if (code != cancel_code) fprintf(stderr, "point %llu: the victim's own point reported the cancel, "
                                         "the victim returned %s\n", (unsigned long long)wk_at, weft_err_name(code));
        ASSERT_ERR(code, cancel_code);
    }
    if (!wk_fired) {
        ASSERT_ERR(code, 0);
        return;
    }
    if (code != 0 && code != cancel_code) {
        fprintf(stderr, "point %llu: victim returned %s\n", (unsigned long long)wk_at, weft_err_name(code));
        ASSERT_ERR(code, cancel_code);
    }
    wk_cancelled += code != 0;
}

static void *tick(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_yield(), 0);
    ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), 0);
    return (void *)42;
}

/* The loop still spawns, runs and joins a task that suspends. */
static void loop_still_works(void) {
    weft_task *t = weft_spawn(tick, NULL);
    ASSERT(t);
    void *r;
    ASSERT_ERR(weft_join(t, &r), 0);
    ASSERT(r == (void *)42);
}

static int join_code(weft_task *t) {
    void *r;
    ASSERT_ERR(weft_join(t, &r), 0);
    return weft_error_code(r);
}

/* Runs `fn` as a loop's main task once to count, then once per point. */
static void walk(const char *name, int (*fn)(void *), void *arg, bool real) {
    int (*run)(int (*)(void *), void *) = real ? wt_run_real : wt_run;
    wk_at = 0;
    wk_cancelled = wk_own = 0;
    ASSERT_EQ(run(fn, arg), 0);
    uint64_t n = wk_count;
    ASSERT(n > 0);
    for (uint64_t k = 1; k <= n; k++) {
        wk_at = k;
        ASSERT_EQ(run(fn, arg), 0);
    }
    printf("%s: %llu suspension points walked (%u the victim's own), the victim reported the cancel at %u\n",
           name, (unsigned long long)n, wk_own, wk_cancelled);
    ASSERT(wk_cancelled > 0);
}

/* ------------------------------------------------ stream over a socketpair */

static void *stream_ping(void *arg) {
    int fd = (int)(intptr_t)arg;
    weft_stream *s;
    int err = weft_stream_new_fd(&s, fd, NULL);
    ASSERT_ERR(err, 0);
    char line[16];
    err = weft_stream_write(s, "ping\n", 5);
    if (!err) err = weft_stream_drain(s);
    ssize_t n = err ? err : weft_stream_read_line(s, line, sizeof line);
    if (n >= 0) {
        ASSERT_EQ(n, 5);
        ASSERT(!memcmp(line, "pong\n", 5));
    }
    weft_stream_free(s);
    return weft_error(n < 0 ? (int)n : 0);
}

/* The peer answers a line with "pong"; any error (the victim gone) ends it. */
static void *stream_pong(void *arg) {
    weft_stream *s;
    ASSERT_ERR(weft_stream_new_fd(&s, (int)(intptr_t)arg, NULL), 0);
    char line[16];
    ssize_t n = weft_stream_read_line(s, line, sizeof line);
    if (n == 5) {
        int err = weft_stream_write(s, "pong\n", 5);
        if (!err) weft_stream_drain(s);
    }
    weft_stream_free(s);
    return NULL;
}

static int stream_scenario(void *arg) {
    (void)arg;
    int sv[2];
    ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    weft_task *peer = weft_spawn(stream_pong, (void *)(intptr_t)sv[1]);
    weft_task *victim = weft_spawn(stream_ping, (void *)(intptr_t)sv[0]);
    walk_begin(victim);
    int code = join_code(victim);
    walk_end(code, WEFT_ECANCELED);
    join_code(peer);
    loop_still_works();
    return 0;
}

TEST(stream_round_trip_cancelled_at_every_point_releases_both_ends) {
    walk("stream round trip", stream_scenario, NULL, true);
}

/* ------------------------------------------------------ tcp connect+accept */

static int listen_fd;

/* Dials `arg` (a host name) on the listener's port. */
static void *tcp_dial(void *arg) {
    char port[16];
    snprintf(port, sizeof port, "%d", weft_sock_port(listen_fd));
    int fd;
    int err = weft_tcp_connect(arg, port, &fd);
    if (err) return weft_error(err);
    ssize_t w = weft_write(fd, "x", 1);
    err = w < 0 ? (int)w : 0;
    weft_close(fd);
    return weft_error(err);
}

static void *tcp_answer(void *arg) {
    (void)arg;
    int fd;
    int err = weft_accept(listen_fd, NULL, NULL, &fd);
    if (!err) {
        char c;
        weft_read(fd, &c, 1);
        weft_close(fd);
    }
    return weft_error(err);
}

static int tcp_scenario(void *arg) {
    ASSERT_ERR(weft_tcp_listen("127.0.0.1", "0", 16, &listen_fd), 0);
    weft_task *acceptor = weft_spawn(tcp_answer, NULL);
    weft_task *victim = weft_spawn(tcp_dial, arg);
    walk_begin(victim);
    int code = join_code(victim);
    walk_end(code, WEFT_ECANCELED);
    /* A victim cancelled before connecting leaves the acceptor waiting. */
    if (code) weft_cancel(acceptor);
    join_code(acceptor);
    ASSERT_ERR(weft_close(listen_fd), 0);
    loop_still_works();
    return 0;
}

TEST(tcp_connect_and_accept_cancelled_at_every_point_leave_no_socket) {
    walk("tcp connect + accept", tcp_scenario, "127.0.0.1", true);
}

/* --------------------------------------------------------------------- dns */

static void *resolve(void *arg) {
    (void)arg;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
    int err = weft_getaddrinfo("localhost", "80", &hints, &ai);
    if (!err) {
        ASSERT(ai);
        freeaddrinfo(ai);
    }
    return weft_error(err);
}

static int dns_scenario(void *arg) {
    (void)arg;
    weft_task *victim = weft_spawn(resolve, NULL);
    walk_begin(victim);
    walk_end(join_code(victim), WEFT_ECANCELED);
    loop_still_works();
    /* A lookup after the cancelled one works (the pool is not stuck). */
    weft_task *again = weft_spawn(resolve, NULL);
    ASSERT_ERR(join_code(again), 0);
    return 0;
}

TEST(dns_lookup_cancelled_at_every_point_frees_its_request) {
    walk("dns lookup of localhost", dns_scenario, NULL, true);
}

/* ------------------------------------------------------------------- files */

/* A file's life in directory `arg`: made, written, read back, synced,
 * renamed, listed, read whole, removed. A call cancelled while its thread
 * ran returns its result (weft/fs.h), so the victim still closes what it
 * opened, and checks at the end for a cancel that came during its last call. */
static void *fs_life(void *arg) {
    char a[128], b[128], buf[8];
    snprintf(a, sizeof a, "%s/a", (char *)arg);
    snprintf(b, sizeof b, "%s/b", (char *)arg);
    int fd = weft_fs_open(a, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return weft_error(fd);
    ssize_t n = weft_fs_write(fd, "hello", 5);
    if (n >= 0) n = weft_fs_pread(fd, buf, sizeof buf, 0);
    if (n >= 0) ASSERT_EQ(n, 5);
    if (n >= 0) n = weft_fs_fsync(fd);
    ASSERT_ERR(weft_fs_close(fd), 0);
    if (n >= 0) n = weft_fs_rename(a, b);
    weft_fs_dirent *e;
    if (n >= 0 && (n = weft_fs_readdir(arg, &e)) >= 0) {
        ASSERT_EQ(n, 1);
        weft_fs_free(e);
    }
    char *data;
    if (n >= 0 && (n = weft_fs_read_file(b, 0, &data)) >= 0) {
        ASSERT_STR(data, "hello");
        weft_fs_free(data);
    }
    if (n >= 0) n = weft_fs_unlink(b);
    return weft_error(n < 0 ? (int)n : weft_check_cancel());
}

static int fs_scenario(void *arg) {
    weft_task *victim = weft_spawn(fs_life, arg);
    walk_begin(victim);
    walk_end(join_code(victim), WEFT_ECANCELED);
    loop_still_works();
    char p[128];
    snprintf(p, sizeof p, "%s/a", (char *)arg);
    unlink(p);  /* what a cancelled victim left */
    snprintf(p, sizeof p, "%s/b", (char *)arg);
    unlink(p);
    return 0;
}

TEST(file_calls_cancelled_at_every_point_leave_no_fd_and_no_allocation) {
    char dir[] = "/tmp/weft-walk-XXXXXX";
    ASSERT(mkdtemp(dir));
    walk("file life", fs_scenario, dir, true);
    ASSERT(rmdir(dir) == 0);
}

/* -------------------------------------------------------------- http client */

/* /hello: a text; /r/N: a redirect to /r/N-1, /r/0 to /json; /json: a JSON
 * object; /echo: the request body back. */
static int walked_handler(weft_httpd_req *req, weft_httpd_res *res);

static int handler(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)arg;
    const char *path = weft_httpd_req_path(req);
    if (!strcmp(path, "/walk")) return walked_handler(req, res);
    if (!strncmp(path, "/r/", 3)) {
        int n = atoi(path + 3);
        char loc[32];
        if (n > 0) snprintf(loc, sizeof loc, "/r/%d", n - 1);
        else snprintf(loc, sizeof loc, "/json");
        weft_httpd_res_header(res, "Location", loc);
        return weft_httpd_res_send(res, 302, NULL, NULL, 0);
    }
    if (!strcmp(path, "/json")) return weft_httpd_res_send(res, 200, "application/json", "{\"a\":1}", 7);
    if (!strcmp(path, "/echo")) {
        const void *d;
        size_t n;
        int err = weft_httpd_req_body(req, &d, &n);
        if (err) return err;
        return weft_httpd_res_send(res, 200, "text/plain", d, n);
    }
    return weft_httpd_res_send(res, 200, "text/plain", "hello\n", 6);
}

static void *serve_task(void *srv) { return weft_error(weft_httpd_serve(srv)); }

typedef struct http_fx {
    wt_certs *certs;          /* non-NULL: serve and fetch over TLS */
    const char *path;         /* what the victim gets */
    weft_tls_ctx *tls;
    weft_httpd *srv;
    weft_task *server;
    weft_http_client *client;
    weft_task *client_task;   /* the server scenario's */
    size_t max_conns;         /* the server's; 0 = its default */
    size_t body_len;          /* the big POST's; at most BIG */
    char url[96];
} http_fx;

static void http_fx_start(http_fx *fx) {
    weft_httpd_opts ho = { .grace_period = 100 * WEFT_MILLISECOND, .max_conns = fx->max_conns, .tls = fx->tls };
    ASSERT_ERR(weft_httpd_new(&fx->srv, &ho, handler, NULL), 0);
    ASSERT_ERR(weft_httpd_listen(fx->srv, "127.0.0.1", "0"), 0);
    fx->server = weft_spawn(serve_task, fx->srv);
    snprintf(fx->url, sizeof fx->url, "%s://127.0.0.1:%d", fx->certs ? "https" : "http",
             weft_httpd_port(fx->srv));
}

/* The server's TLS context, made once for a whole walk (it needs no loop):
 * loading the certificate every run cost ASan more than the runs. */
static void tls_fx_init(http_fx *fx, wt_certs *certs) {
    wt_certs_make(certs);
    fx->certs = certs;
    weft_tls_opts so = { .flags = WEFT_TLS_SERVER, .cert_file = wt_certs_path(certs, "good.pem"),
                         .key_file = wt_certs_path(certs, "good.key") };
    ASSERT_ERR(weft_tls_ctx_new(&fx->tls, &so), 0);
}

static void tls_fx_close(http_fx *fx) {
    weft_tls_ctx_free(fx->tls);
    wt_certs_free(fx->certs);
}

static weft_http_client *new_client(http_fx *fx) {
    weft_http_client_opts o = { .max_connections = 1, .pool_timeout = 2 * WEFT_SECOND, .follow_redirects = 1,
                                .read_timeout = 2 * WEFT_SECOND };
    if (fx->certs) o.tls.ca_file = wt_certs_path(fx->certs, "ca.pem");
    weft_http_client *c;
    ASSERT_ERR(weft_http_client_new(&c, &o), 0);
    return c;
}

static void http_fx_stop(http_fx *fx) {
    weft_httpd_shutdown(fx->srv);
    ASSERT_ERR(join_code(fx->server), 0);
    ASSERT_EQ(weft_httpd_conns(fx->srv), 0);
    weft_httpd_free(fx->srv);
}

/* GETs fx->path on `c` and checks what comes back. */
static int fetch(weft_http_client *c, http_fx *fx) {
    char url[128];
    snprintf(url, sizeof url, "%s%s", fx->url, fx->path);
    weft_http_response *r;
    int err = weft_http_get(c, url, &r);
    if (err) return err;
    ASSERT_EQ(weft_http_response_status(r), 200);
    if (!strcmp(fx->path, "/r/2")) {
        json_t *j = NULL;
        err = weft_http_response_json(r, &j);
        if (!err) {
            ASSERT_EQ(json_integer_value(json_object_get(j, "a")), 1);
            json_decref(j);
        }
    } else {
        const void *d;
        size_t n;
        err = weft_http_response_body(r, &d, &n);
        if (!err) ASSERT(n == 6 && !memcmp(d, "hello\n", 6));
    }
    weft_http_response_free(r);
    return err;
}

static void *fetch_task(void *arg) {
    http_fx *fx = arg;
    return weft_error(fetch(fx->client, fx));
}

static int http_client_scenario(void *arg) {
    http_fx fx = *(http_fx *)arg;
    http_fx_start(&fx);
    fx.client = new_client(&fx);
    weft_task *victim = weft_spawn(fetch_task, &fx);
    walk_begin(victim);
    walk_end(join_code(victim), WEFT_ECANCELED);
    /* The same client, one connection at most: a slot the cancelled
     * request leaked would make this wait out pool_timeout. */
    ASSERT_ERR(fetch(fx.client, &fx), 0);
    weft_http_client_free(fx.client);
    /* And a fresh client (plain only: over TLS the check above already
     * made a new connection, and a third handshake a run costs ASan 2 s). */
    if (!fx.certs) {
        weft_http_client *fresh = new_client(&fx);
        ASSERT_ERR(fetch(fresh, &fx), 0);
        weft_http_client_free(fresh);
    }
    loop_still_works();
    http_fx_stop(&fx);
    return 0;
}

TEST(http_get_cancelled_at_every_point_leaks_no_pool_slot) {
    http_fx fx = { .path = "/hello" };
    walk("http GET", http_client_scenario, &fx, true);
}

TEST(http_get_through_two_redirects_to_json_cancelled_at_every_point_leaks_nothing) {
    http_fx fx = { .path = "/r/2" };
    walk("http GET, 2 redirects, JSON", http_client_scenario, &fx, true);
}

TEST(https_get_cancelled_at_every_point_leaks_nothing) {
    wt_certs certs;
    http_fx fx = { .path = "/hello" };
    tls_fx_init(&fx, &certs);
    walk("https GET", http_client_scenario, &fx, true);
    tls_fx_close(&fx);
}

/* A 64 KiB body each way, the response streamed: the writes fill the
 * socket buffers and wait, the reads come in pieces, and a cancel in the
 * middle of either leaves a connection that must not go back to the pool. */
enum { BIG = 64 * 1024 };
static unsigned char big[BIG];

static int post_big_streamed(weft_http_client *c, http_fx *fx) {
    char url[128];
    snprintf(url, sizeof url, "%s/echo", fx->url);
    weft_http_request *req;
    ASSERT_ERR(weft_http_request_new(&req, "POST", url), 0);
    ASSERT_ERR(weft_http_request_set_body(req, big, fx->body_len, "application/octet-stream"), 0);
    weft_http_response *r;
    int err = weft_http_send(c, req, WEFT_HTTP_STREAM, &r);
    weft_http_request_free(req);
    if (err) return err;
    ASSERT_EQ(weft_http_response_status(r), 200);
    static unsigned char buf[16384];
    size_t got = 0;
    ssize_t n;
    while ((n = weft_http_response_read(r, buf, sizeof buf)) > 0) {
        ASSERT(!memcmp(buf, big + got, (size_t)n));
        got += (size_t)n;
    }
    weft_http_response_free(r);
    if (n < 0) return (int)n;
    ASSERT_EQ(got, fx->body_len);
    return 0;
}

static void *post_big_task(void *arg) {
    http_fx *fx = arg;
    return weft_error(post_big_streamed(fx->client, fx));
}

static int http_big_scenario(void *arg) {
    http_fx fx = *(http_fx *)arg;
    for (size_t i = 0; i < BIG; i++) big[i] = (unsigned char)(i * 7 + i / 251);
    http_fx_start(&fx);
    fx.client = new_client(&fx);
    weft_task *victim = weft_spawn(post_big_task, &fx);
    walk_begin(victim);
    walk_end(join_code(victim), WEFT_ECANCELED);
    ASSERT_ERR(post_big_streamed(fx.client, &fx), 0);   /* the one slot is free */
    weft_http_client_free(fx.client);
    loop_still_works();
    http_fx_stop(&fx);
    return 0;
}

TEST(http_post_of_64k_with_a_streamed_response_cancelled_at_every_point_leaks_no_pool_slot) {
    http_fx fx = { .body_len = BIG };
    walk("http POST 64 KiB, streamed response", http_big_scenario, &fx, true);
}

/* 16 KiB: each run pays two handshakes, which ASan makes slow. */
TEST(https_post_of_16k_with_a_streamed_response_cancelled_at_every_point_leaks_no_pool_slot) {
    wt_certs certs;
    http_fx fx = { .body_len = BIG / 4 };
    tls_fx_init(&fx, &certs);
    walk("https POST 16 KiB, streamed response", http_big_scenario, &fx, true);
    tls_fx_close(&fx);
}

/* ------------------------------------------------------ the server cancelled */

static void *post_task(void *arg) {
    http_fx *fx = arg;
    char url[128];
    snprintf(url, sizeof url, "%s/echo", fx->url);
    weft_http_response *r;
    int err = weft_http_post(fx->client, url, "hello\n", 6, "text/plain", &r);
    if (!err) {
        const void *d;
        size_t n;
        err = weft_http_response_body(r, &d, &n);
        weft_http_response_free(r);
    }
    return weft_error(err);
}

/* Waits for the client, then asks the server to stop. */
static void *stopper(void *arg) {
    http_fx *fx = arg;
    join_code(fx->client_task);
    if (fx->srv) weft_httpd_shutdown(fx->srv);   /* NULL: freed already */
    return NULL;
}

static int http_server_scenario(void *arg) {
    http_fx fx = *(http_fx *)arg;
    http_fx_start(&fx);
    fx.client = new_client(&fx);
    fx.client_task = weft_spawn(post_task, &fx);
    weft_task *stop = weft_spawn(stopper, &fx);
    walk_begin(fx.server);
    walk_end(join_code(fx.server), WEFT_ECANCELED);
    /* A serve cancelled before it began changed nothing: its listener is
     * open until the server is freed, and the client's connection with it. */
    ASSERT_EQ(weft_httpd_conns(fx.srv), 0);
    weft_httpd_free(fx.srv);
    fx.srv = NULL;
    join_code(stop);   /* the client's result is anything: the server may
                          have gone mid-request */
    weft_http_client_free(fx.client);
    loop_still_works();
    return 0;
}

TEST(http_server_cancelled_at_every_point_shuts_down_and_frees_everything) {
    http_fx fx = { 0 };
    walk("http server", http_server_scenario, &fx, true);
}

/* The handler's own task cancelled: the walk starts inside the handler,
 * with the connection task that runs it as the victim. */
static int handler_code;   /* what the walked handler returned; 1: never ran */

static int walked_handler(weft_httpd_req *req, weft_httpd_res *res) {
    walk_begin(weft_current());
    const void *d;
    size_t n;
    int err = weft_httpd_req_body(req, &d, &n);
    if (!err) err = weft_yield();
    if (!err) err = weft_httpd_res_send(res, 200, "text/plain", d, n);
    handler_code = err;
    return err;
}

static int post_echo(http_fx *fx, const char *path) {
    weft_http_client *c = new_client(fx);
    char url[128];
    snprintf(url, sizeof url, "%s%s", fx->url, path);
    weft_http_response *r;
    int err = weft_http_post(c, url, "hello\n", 6, "text/plain", &r);
    if (!err) {
        ASSERT_EQ(weft_http_response_status(r), 200);
        weft_http_response_free(r);
    }
    weft_http_client_free(c);
    return err;
}

static int http_handler_scenario(void *arg) {
    http_fx fx = *(http_fx *)arg;
    http_fx_start(&fx);
    handler_code = 1;
    int err = post_echo(&fx, "/walk");
    bool own;
    wk_count = weft__test_cancel_at(false, 0, NULL, &own);
    wk_fired = wk_at && wk_at <= wk_count;
    wk_own += own;
    ASSERT(handler_code != 1);
    if (!wk_fired) ASSERT(err == 0 && handler_code == 0);
    else if (handler_code) ASSERT_ERR(handler_code, WEFT_ECANCELED);
    wk_cancelled += handler_code != 0;
    /* The server goes on serving, through its one connection slot: the
     * cancelled connection gave it back. */
    ASSERT_ERR(post_echo(&fx, "/echo"), 0);
    loop_still_works();
    http_fx_stop(&fx);
    return 0;
}

TEST(http_handler_cancelled_at_every_point_frees_its_connection_slot_and_the_server_serves_on) {
    http_fx fx = { .max_conns = 1 };
    walk("http handler", http_handler_scenario, &fx, true);
}

/* --------------------------------------------- queue, lock and semaphore */

typedef struct sync_fx {
    weft_queue *q;
    weft_lock lock;
    weft_sem sem;
    weft_cond cond;
    weft_event ev;
    int put, got, acquired;
    bool flag;
} sync_fx;

/* Waits on the condition for the helper's flag; holds the lock on every
 * return, cancelled or not. */
static int cond_part(sync_fx *fx) {
    int err = weft_lock_acquire(&fx->lock);
    if (err) return err;
    while (!fx->flag && !err) err = weft_cond_wait(&fx->cond, &fx->lock);
    ASSERT(weft_lock_locked(&fx->lock));
    weft_lock_release(&fx->lock);
    return err;
}

/* Puts two items (the second waits for room), takes the lock the helper
 * holds, takes a unit the helper releases, waits on a condition and an
 * event the helper sets. */
static void *sync_victim(void *arg) {
    sync_fx *fx = arg;
    int err = 0;
    for (int i = 0; i < 2 && !err; i++)
        if (!(err = weft_queue_put(fx->q, fx))) fx->put++;
    if (!err && !(err = weft_lock_acquire(&fx->lock))) {
        err = weft_yield();
        weft_lock_release(&fx->lock);
    }
    if (!err && !(err = weft_sem_acquire(&fx->sem))) fx->acquired++;
    if (!err) err = cond_part(fx);
    if (!err) err = weft_event_wait(&fx->ev);
    return weft_error(err);
}

static void *sync_helper(void *arg) {
    sync_fx *fx = arg;
    int err = weft_lock_acquire(&fx->lock);
    ASSERT_ERR(err, 0);
    weft_yield();
    weft_lock_release(&fx->lock);
    void *item;
    for (int i = 0; i < 2 && !err; i++)
        if (!(err = weft_queue_get(fx->q, &item))) fx->got++;
    weft_yield();
    weft_sem_release(&fx->sem);
    weft_yield();
    if (weft_lock_acquire(&fx->lock) == 0) {
        fx->flag = true;
        weft_cond_notify_all(&fx->cond);
        weft_lock_release(&fx->lock);
    }
    weft_yield();
    weft_event_set(&fx->ev);
    return NULL;
}

static int sync_scenario(void *arg) {
    (void)arg;
    sync_fx fx = { .lock = WEFT_LOCK_INITIALIZER, .cond = WEFT_COND_INITIALIZER };
    weft_queue_opts qo = { .capacity = 1 };
    ASSERT_ERR(weft_queue_new(&fx.q, &qo), 0);
    weft_sem_init(&fx.sem, 0, 0);
    weft_task *helper = weft_spawn(sync_helper, &fx);
    weft_task *victim = weft_spawn(sync_victim, &fx);
    walk_begin(victim);
    int code = join_code(victim);
    walk_end(code, WEFT_ECANCELED);
    /* The helper may wait for an item that will not come. */
    weft_queue_shutdown(fx.q, 0);
    join_code(helper);
    /* Cancelled means it did not happen: no item lost or doubled, the
     * lock free, the unit released either taken or still there. */
    ASSERT_EQ(fx.put, fx.got + (int)weft_queue_size(fx.q));
    ASSERT(!weft_lock_locked(&fx.lock));
    ASSERT_EQ(fx.acquired + weft_sem_value(&fx.sem), 1);
    ASSERT_ERR(weft_queue_free(fx.q), 0);
    loop_still_works();
    return 0;
}

TEST(queue_lock_semaphore_condition_and_event_handoffs_cancelled_at_every_point_lose_nothing) {
    walk("queue, lock, semaphore, condition, event", sync_scenario, NULL, false);
}

/* ------------------------------------------------------- gather and groups */

static void *child(void *arg) {
    int64_t i = (int64_t)(intptr_t)arg;
    int err = weft_sleep(i * WEFT_MILLISECOND);
    if (!err) err = weft_yield();
    return weft_error(err);
}

static void *gather_victim(void *arg) {
    (void)arg;
    weft_task *t[3];
    for (int i = 0; i < 3; i++) ASSERT((t[i] = weft_spawn(child, (void *)(intptr_t)i)));
    int err = weft_gather(t, 3, NULL);
    if (err) return weft_error(err);
    weft_group g;
    ASSERT_ERR(weft_group_enter(&g), 0);
    for (int i = 0; i < 3; i++) ASSERT_ERR(weft_group_spawn(&g, NULL, child, (void *)(intptr_t)i), 0);
    return weft_error(weft_group_leave(&g));
}

static int gather_scenario(void *arg) {
    (void)arg;
    weft_task *victim = weft_spawn(gather_victim, NULL);
    walk_begin(victim);
    walk_end(join_code(victim), WEFT_ECANCELED);
    ASSERT_EQ(weft_tasks(NULL, 0), 1);  /* no child outlived its gather or group */
    loop_still_works();
    return 0;
}

TEST(gather_and_group_cancelled_at_every_point_leave_no_child) {
    walk("gather + group", gather_scenario, NULL, false);
}

/* ------------------------------------------- what the walk found: regressions */

/* The https walk took 45 ms a request: OpenSSL writes a handshake flight
 * record by record, and with Nagle on the second small send waited for the
 * peer's delayed ACK. Both ends of a TLS stream now send at once. */
typedef struct nodelay_fx { wt_certs *certs; int lfd; } nodelay_fx;

static bool nodelay(int fd) {
    int on = 0;
    socklen_t len = sizeof on;
    ASSERT(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0);
    return on != 0;
}

static void *tls_server_side(void *arg) {
    nodelay_fx *fx = arg;
    weft_tls_opts so = { .flags = WEFT_TLS_SERVER, .cert_file = wt_certs_path(fx->certs, "good.pem"),
                         .key_file = wt_certs_path(fx->certs, "good.key") };
    weft_tls_ctx *ctx;
    ASSERT_ERR(weft_tls_ctx_new(&ctx, &so), 0);
    int fd;
    ASSERT_ERR(weft_accept(fx->lfd, NULL, NULL, &fd), 0);
    weft_stream *s;
    weft_stream_opts o = { .borrow_fd = 1 };
    ASSERT_ERR(weft_tls_accept(&s, ctx, fd, &o), 0);
    ASSERT(nodelay(fd));
    char c;
    ASSERT_EQ(weft_stream_read(s, &c, 1), 1);
    weft_stream_free(s);
    weft_close(fd);
    weft_tls_ctx_free(ctx);
    return NULL;
}

static int tls_nodelay_main(void *arg) {
    nodelay_fx *fx = arg;
    ASSERT_ERR(weft_tcp_listen("127.0.0.1", "0", 4, &fx->lfd), 0);
    weft_task *srv = weft_spawn(tls_server_side, fx);
    weft_tls_opts co = { .ca_file = wt_certs_path(fx->certs, "ca.pem") };
    weft_tls_ctx *ctx;
    ASSERT_ERR(weft_tls_ctx_new(&ctx, &co), 0);
    char port[16];
    snprintf(port, sizeof port, "%d", weft_sock_port(fx->lfd));
    int fd;
    ASSERT_ERR(weft_tcp_connect("127.0.0.1", port, &fd), 0);
    ASSERT(!nodelay(fd));   /* plain TCP keeps the kernel's default */
    weft_stream *s;
    weft_stream_opts o = { .borrow_fd = 1 };
    ASSERT_ERR(weft_tls_connect(&s, ctx, fd, "localhost", &o), 0);
    ASSERT(nodelay(fd));
    ASSERT_ERR(weft_stream_write(s, "x", 1), 0);
    ASSERT_ERR(weft_stream_drain(s), 0);
    join_code(srv);
    weft_stream_free(s);
    weft_close(fd);
    weft_close(fx->lfd);
    weft_tls_ctx_free(ctx);
    return 0;
}

TEST(tls_streams_send_without_nagle_so_a_handshake_never_waits_for_a_delayed_ack) {
    wt_certs certs;
    wt_certs_make(&certs);
    nodelay_fx fx = { .certs = &certs };
    ASSERT_EQ(wt_run_real(tls_nodelay_main, &fx), 0);
    wt_certs_free(&certs);
}
