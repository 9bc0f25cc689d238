/* An HTTP server on several loops (weft_httpd_opts.workers): every
 * connection answered once, by loops on more than one thread, and a
 * shutdown that reaches every loop. Runs under ThreadSanitizer in `make
 * check`. */
#include "test.h"

#include <weft/httpd.h>
#include <weft/io.h>
#include <weft/net.h>

#include <pthread.h>
#include <stdbool.h>

static pthread_t home;
static long on_home, elsewhere;

static int hello(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)req;
    (void)arg;
    __atomic_add_fetch(pthread_equal(pthread_self(), home) ? &on_home : &elsewhere, 1, __ATOMIC_SEQ_CST);
    return weft_httpd_res_send(res, 200, "text/plain", "hi\n", 3);
}

static void *serve_main(void *arg) { return weft_error(weft_httpd_serve(arg)); }

typedef struct client { int port; int ok; } client;

/* One connection, one request, read to the end. */
static void *get_once(void *arg) {
    client *c = arg;
    char port[8], buf[512];
    snprintf(port, sizeof port, "%d", c->port);
    int fd;
    if (weft_tcp_connect("127.0.0.1", port, &fd)) return NULL;
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    size_t n = 0;
    if (weft_write(fd, req, sizeof req - 1) == (ssize_t)sizeof req - 1)
        for (ssize_t r; n < sizeof buf - 1 && (r = weft_read(fd, buf + n, sizeof buf - 1 - n)) > 0;) n += (size_t)r;
    buf[n] = 0;
    weft_close(fd);
    c->ok = !strncmp(buf, "HTTP/1.1 200", 12) && strstr(buf, "\r\n\r\nhi\n") != NULL;
    return NULL;
}

enum { CONNS = 100 };

static int two_workers(void *arg) {
    (void)arg;
    home = pthread_self();
    weft_httpd_opts o = { .workers = 2 };
    weft_httpd *s;
    ASSERT_ERR(weft_httpd_new(&s, &o, hello, NULL), 0);
    ASSERT_ERR(weft_httpd_listen(s, "127.0.0.1", "0"), 0);
    weft_task *srv = weft_spawn(serve_main, s);
    ASSERT(srv);
    static client cs[CONNS];
    weft_task *ts[CONNS];
    for (int i = 0; i < CONNS; i++) {
        cs[i] = (client){ .port = weft_httpd_port(s) };
        ts[i] = weft_spawn(get_once, &cs[i]);
    }
    ASSERT_ERR(weft_gather(ts, CONNS, NULL), 0);
    for (int i = 0; i < CONNS; i++) ASSERT(cs[i].ok);
    ASSERT_EQ(__atomic_load_n(&on_home, __ATOMIC_SEQ_CST) + __atomic_load_n(&elsewhere, __ATOMIC_SEQ_CST),
              CONNS);  /* each answered once */
    ASSERT(on_home > 0 && elsewhere > 0);  /* by both loops */
    weft_httpd_shutdown(s);
    void *res;
    ASSERT_ERR(weft_join(srv, &res), 0);
    ASSERT_ERR(weft_error_code(res), 0);
    weft_httpd_free(s);
    /* Every loop has let its listener go: the port is free again. */
    char port[8];
    snprintf(port, sizeof port, "%d", cs[0].port);
    int fd;
    ASSERT_ERR(weft_tcp_listen("127.0.0.1", port, 0, &fd), 0);
    ASSERT_ERR(weft_close(fd), 0);
    return 0;
}
TEST(a_server_on_two_workers_answers_every_connection_once_from_both_loops) {
    ASSERT_EQ(wt_run_real(two_workers, NULL), 0);
}

/* Shutdown while requests are in flight on every loop: serve returns once
 * all have ended, and each request got its answer. */
static int entered;
static int slow(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)req;
    (void)arg;
    __atomic_add_fetch(&entered, 1, __ATOMIC_SEQ_CST);
    weft_sleep(100 * WEFT_MILLISECOND);
    return weft_httpd_res_send(res, 200, "text/plain", "hi\n", 3);
}
static int shutdown_busy(void *arg) {
    (void)arg;
    weft_httpd_opts o = { .workers = 3 };
    weft_httpd *s;
    ASSERT_ERR(weft_httpd_new(&s, &o, slow, NULL), 0);
    ASSERT_ERR(weft_httpd_listen(s, "127.0.0.1", "0"), 0);
    weft_task *srv = weft_spawn(serve_main, s);
    static client cs[60];
    weft_task *ts[60];
    for (int i = 0; i < 60; i++) {
        cs[i] = (client){ .port = weft_httpd_port(s) };
        ts[i] = weft_spawn(get_once, &cs[i]);
    }
    while (__atomic_load_n(&entered, __ATOMIC_SEQ_CST) < 60) ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), 0);
    weft_httpd_shutdown(s);
    ASSERT_ERR(weft_gather(ts, 60, NULL), 0);
    for (int i = 0; i < 60; i++) ASSERT(cs[i].ok);
    ASSERT_ERR(weft_join(srv, NULL), 0);
    weft_httpd_free(s);
    return 0;
}
TEST(shutdown_of_a_server_on_three_workers_lets_every_loops_requests_finish) {
    ASSERT_EQ(wt_run_real(shutdown_busy, NULL), 0);
}

/* WEFT_HTTPD_BALANCE: the calling loop accepts and hands each connection
 * to the loop with the fewest: four held open go two and two, where
 * SO_REUSEPORT's hash would often put three or four on one loop. */
static int balanced(void *arg) {
    (void)arg;
    home = pthread_self();
    on_home = elsewhere = 0;
    weft_httpd_opts o = { .workers = 2, .flags = WEFT_HTTPD_BALANCE };
    weft_httpd *s;
    ASSERT_ERR(weft_httpd_new(&s, &o, hello, NULL), 0);
    ASSERT_ERR(weft_httpd_listen(s, "127.0.0.1", "0"), 0);
    weft_task *srv = weft_spawn(serve_main, s);
    ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), 0);
    ASSERT(!weft_task_done(srv));
    char port[8];
    snprintf(port, sizeof port, "%d", weft_httpd_port(s));
    int fds[4];
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int k = 0; k < 3; k++) {  /* three rounds: each is a request on every connection */
        for (int i = 0; i < 4; i++) {
            if (k == 0) ASSERT_ERR(weft_tcp_connect("127.0.0.1", port, &fds[i]), 0);
            ASSERT_EQ(weft_write(fds[i], req, sizeof req - 1), (ssize_t)sizeof req - 1);
            char buf[256] = "";
            size_t n = 0;
            while (!strstr(buf, "\r\n\r\nhi\n")) {
                ssize_t r = weft_read(fds[i], buf + n, sizeof buf - 1 - n);
                ASSERT(r > 0);
                n += (size_t)r;
                buf[n] = 0;
            }
        }
    }
    ASSERT_EQ(on_home, 6);
    ASSERT_EQ(elsewhere, 6);
    for (int i = 0; i < 4; i++) ASSERT_ERR(weft_close(fds[i]), 0);
    weft_httpd_shutdown(s);
    ASSERT_ERR(weft_join(srv, NULL), 0);
    weft_httpd_free(s);
    return 0;
}
TEST(a_balanced_server_hands_connections_to_the_least_loaded_loop) {
    ASSERT_EQ(wt_run_real(balanced, NULL), 0);
}

static int too_many(void *arg) {
    (void)arg;
    weft_httpd_opts o = { .workers = 1025 };
    weft_httpd *s = NULL;
    return weft_httpd_new(&s, &o, hello, NULL);
}
TEST(a_worker_count_past_1024_is_einval) { ASSERT_ERR(wt_run(too_many, NULL), WEFT_EINVAL); }
