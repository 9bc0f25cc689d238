/* Sockets: connect, listen, accept, serve, UDP, Unix sockets, and how each
 * fails. Tests that depend on real network timing run on the real clock;
 * Unix sockets and UDP, where the kernel completes everything at once, run
 * on the virtual one. */
#include "test.h"

#include <weft/debug.h>
#include <weft/io.h>
#include <weft/net.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

static struct sockaddr_in v4(int port) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int listen_local(int *port) {
    int fd;
    ASSERT_ERR(weft_tcp_listen("127.0.0.1", "0", 0, &fd), 0);
    *port = weft_sock_port(fd);
    ASSERT(*port > 0);
    return fd;
}

static void port_str(int port, char buf[8]) { snprintf(buf, 8, "%d", port); }

/* A port on 127.0.0.1 that nobody listens on (bound, then closed). */
static int free_port(void) {
    int port, fd = listen_local(&port);
    ASSERT_ERR(weft_close(fd), 0);
    return port;
}

/* An address that never answers: a listener with backlog 0 that never
 * accepts, its queue filled by connects; later SYNs are dropped. On
 * 127.0.0.1, or on ::1 with `v6`. */
typedef struct blackhole { int lfd, port, fillers[8]; } blackhole;
static void blackhole_open_family(blackhole *b, bool v6) {
    struct sockaddr_in a4 = v4(0);
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    struct sockaddr *a = v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4;
    socklen_t len = v6 ? sizeof a6 : sizeof a4;
    ASSERT_ERR(weft_socket(a->sa_family, SOCK_STREAM, 0, &b->lfd), 0);
    ASSERT(bind(b->lfd, a, len) == 0);
    ASSERT(listen(b->lfd, 0) == 0);
    b->port = weft_sock_port(b->lfd);
    a4.sin_port = a6.sin6_port = htons((uint16_t)b->port);
    for (int i = 0; i < 8; i++) {
        ASSERT_ERR(weft_socket(a->sa_family, SOCK_STREAM, 0, &b->fillers[i]), 0);
        int r = connect(b->fillers[i], a, len);
        ASSERT(r == 0 || errno == EINPROGRESS);
    }
    ASSERT_ERR(weft_sleep(20 * WEFT_MILLISECOND), 0);  /* let the queue fill */
}
static void blackhole_open(blackhole *b) { blackhole_open_family(b, false); }
static void blackhole_close(blackhole *b) {
    for (int i = 0; i < 8; i++) weft_close(b->fillers[i]);
    weft_close(b->lfd);
}

/* A connected TCP pair on loopback. */
static void tcp_pair(int *client, int *server) {
    int port, lfd = listen_local(&port);
    struct sockaddr_in a = v4(port);
    ASSERT_ERR(weft_connect_addr((struct sockaddr *)&a, sizeof a, WEFT_FOREVER, client), 0);
    ASSERT_ERR(weft_accept(lfd, NULL, NULL, server), 0);
    ASSERT_ERR(weft_close(lfd), 0);
}

static int peer_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ASSERT(getpeername(fd, (struct sockaddr *)&ss, &len) == 0);
    return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                         : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static bool have_ipv6_loopback(void) {
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static int64_t cpu_ns(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * WEFT_SECOND +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * WEFT_MICROSECOND;
}

/* Echoes until end of file or an error. */
static void echo_conn(int fd, const struct sockaddr *peer, socklen_t len, void *arg) {
    (void)peer; (void)len; (void)arg;
    char buf[256];
    ssize_t n;
    while ((n = weft_read(fd, buf, sizeof buf)) > 0)
        if (weft_write(fd, buf, (size_t)n) != n) break;
}

/* A weft_serve run as a task. */
typedef struct serve_args { int lfd; weft_serve_opts opts; weft_conn_fn fn; void *arg; } serve_args;
static void *serve_task(void *arg) {
    serve_args *a = arg;
    return weft_error(weft_serve(a->lfd, &a->opts, a->fn, a->arg));
}
static void serve_stop(weft_task *t) {
    weft_cancel(t);
    void *res;
    ASSERT_ERR(weft_join(t, &res), 0);
    ASSERT_ERR(weft_error_code(res), WEFT_ECANCELED);
}

/* Writes `c`, expects it echoed. */
static void ping(int fd, char c) {
    char back = 0;
    ASSERT_EQ(weft_write(fd, &c, 1), 1);
    ASSERT_EQ(weft_read(fd, &back, 1), 1);
    ASSERT_EQ(back, c);
}

/* ------------------------------------------------------------ connect */

static int refused(void *arg) {
    (void)arg;
    char port[8];
    port_str(free_port(), port);
    int fd = -1;
    ASSERT_ERR(weft_tcp_connect("127.0.0.1", port, &fd), -ECONNREFUSED);
    ASSERT_EQ(fd, -1);  /* untouched */
    return 0;
}
TEST(connect_to_a_port_nobody_listens_on_is_refused) { ASSERT_EQ(wt_run_real(refused, NULL), 0); }

static int connect_timeout(void *arg) {
    (void)arg;
    blackhole b;
    blackhole_open(&b);
    char port[8];
    port_str(b.port, port);
    int fd = -1;
    int64_t t0 = weft_now();
    weft_connect_opts o = { .deadline = t0 + 200 * WEFT_MILLISECOND };
    ASSERT_ERR(weft_tcp_connect_ex("127.0.0.1", port, &o, &fd), WEFT_ETIMEDOUT);
    ASSERT(weft_now() - t0 >= 200 * WEFT_MILLISECOND);
    ASSERT(weft_now() - t0 < 2 * WEFT_SECOND);
    /* The same through a scope around a plain connect. */
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, 100 * WEFT_MILLISECOND), 0);
    ASSERT_ERR(weft_tcp_connect("127.0.0.1", port, &fd), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ETIMEDOUT);
    ASSERT_EQ(fd, -1);
    blackhole_close(&b);
    return 0;
}
TEST(connect_to_an_address_that_never_answers_times_out_at_its_deadline) {
    ASSERT_EQ(wt_run_real(connect_timeout, NULL), 0);
}

static void *connector(void *arg) {
    int fd, err = weft_tcp_connect("127.0.0.1", arg, &fd);
    if (!err) weft_close(fd);
    return weft_error(err);
}
static int cancel_connect(void *arg) {
    (void)arg;
    blackhole b;
    blackhole_open(&b);
    char port[8];
    port_str(b.port, port);
    weft_task *t = weft_spawn(connector, port);
    ASSERT_ERR(weft_sleep(50 * WEFT_MILLISECOND), 0);
    ASSERT_EQ(weft_task_done(t), 0);  /* still connecting */
    int64_t t0 = weft_now();
    weft_cancel(t);
    void *res;
    ASSERT_ERR(weft_join(t, &res), 0);
    ASSERT_ERR(weft_error_code(res), WEFT_ECANCELED);
    ASSERT(weft_now() - t0 < 100 * WEFT_MILLISECOND);  /* at once */
    blackhole_close(&b);  /* and the harness checks the socket was closed */
    return 0;
}
TEST(cancel_during_connect_ends_it_at_once_and_closes_the_socket) {
    ASSERT_EQ(wt_run_real(cancel_connect, NULL), 0);
}

static void *race_connector(void *arg) {
    int fd, err = weft_tcp_connect_addrinfo(arg, NULL, &fd);
    if (!err) weft_close(fd);
    return weft_error(err);
}
static int cancel_race(void *arg) {
    (void)arg;
    blackhole b1, b2;
    blackhole_open(&b1);
    blackhole_open(&b2);
    struct sockaddr_in d1 = v4(b1.port), d2 = v4(b2.port);
    struct addrinfo ai2 = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
                            .ai_addr = (struct sockaddr *)&d2, .ai_addrlen = sizeof d2 };
    struct addrinfo ai1 = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
                            .ai_addr = (struct sockaddr *)&d1, .ai_addrlen = sizeof d1,
                            .ai_next = &ai2 };
    /* Cancelled while both attempts run: both end, both sockets close. */
    weft_task *t = weft_spawn(race_connector, &ai1);
    ASSERT_ERR(weft_sleep(300 * WEFT_MILLISECOND), 0);
    int64_t t0 = weft_now();
    weft_cancel(t);
    void *res;
    ASSERT_ERR(weft_join(t, &res), 0);
    ASSERT_ERR(weft_error_code(res), WEFT_ECANCELED);
    ASSERT(weft_now() - t0 < 100 * WEFT_MILLISECOND);
    /* And a scope's deadline ends the race the same way. */
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, 100 * WEFT_MILLISECOND), 0);
    int fd = -1;
    ASSERT_ERR(weft_tcp_connect_addrinfo(&ai1, NULL, &fd), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ETIMEDOUT);
    ASSERT_EQ(fd, -1);
    blackhole_close(&b1);
    blackhole_close(&b2);
    return 0;
}
TEST(cancel_during_a_happy_eyeballs_race_ends_every_attempt_and_closes_their_sockets) {
    ASSERT_EQ(wt_run_real(cancel_race, NULL), 0);
}

static int unknown_name(void *arg) {
    (void)arg;
    int fd = -1;
    int err = weft_tcp_connect("no-such-host.invalid", "80", &fd);
    /* Not found; or, on a machine whose resolver cannot reach a name
     * server, a temporary failure. */
    if (err != WEFT_EDNSAGAIN) ASSERT_ERR(err, WEFT_ENOTFOUND);
    ASSERT_EQ(fd, -1);
    return 0;
}
TEST(connect_to_a_name_that_does_not_exist_fails_with_the_resolver_error) {
    ASSERT_EQ(wt_run_real(unknown_name, NULL), 0);
}

/* ------------------------------------------------------ Happy Eyeballs */

static int he_fallback(void *arg) {
    (void)arg;
    int port, lfd = listen_local(&port), fd;
    struct sockaddr_in a4 = v4(port);
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
                               .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    struct addrinfo ai4 = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
                            .ai_addr = (struct sockaddr *)&a4, .ai_addrlen = sizeof a4 };
    struct addrinfo ai6 = { .ai_family = AF_INET6, .ai_socktype = SOCK_STREAM,
                            .ai_addr = (struct sockaddr *)&a6, .ai_addrlen = sizeof a6,
                            .ai_next = &ai4 };
    /* ::1 refuses at once, so 127.0.0.1 is tried at once, not after 250 ms. */
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_tcp_connect_addrinfo(&ai6, NULL, &fd), 0);
    ASSERT(weft_now() - t0 < 200 * WEFT_MILLISECOND);
    ASSERT_EQ(peer_port(fd), port);
    weft_close(fd);
    /* Both refusing: the first address's error. */
    ASSERT_ERR(weft_close(lfd), 0);
    fd = -1;
    ASSERT_ERR(weft_tcp_connect_addrinfo(&ai6, NULL, &fd), -ECONNREFUSED);
    ASSERT_EQ(fd, -1);
    return 0;
}
TEST(happy_eyeballs_falls_back_to_ipv4_at_once_when_ipv6_is_refused) {
    if (!have_ipv6_loopback()) wt_skip("no IPv6 loopback");
    ASSERT_EQ(wt_run_real(he_fallback, NULL), 0);
}

static int he_delay(void *arg) {
    (void)arg;
    blackhole b;
    blackhole_open(&b);
    int port, lfd = listen_local(&port), fd;
    struct sockaddr_in dead = v4(b.port), live = v4(port);
    struct addrinfo ai2 = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
                            .ai_addr = (struct sockaddr *)&live, .ai_addrlen = sizeof live };
    struct addrinfo ai1 = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
                            .ai_addr = (struct sockaddr *)&dead, .ai_addrlen = sizeof dead,
                            .ai_next = &ai2 };
    /* The first address hangs: the second starts after 250 ms and wins; the
     * first attempt is cancelled and its socket closed (the harness counts). */
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_tcp_connect_addrinfo(&ai1, NULL, &fd), 0);
    int64_t took = weft_now() - t0;
    ASSERT(took >= 250 * WEFT_MILLISECOND);
    ASSERT(took < WEFT_SECOND);
    ASSERT_EQ(peer_port(fd), port);
    weft_close(fd);
    /* One address at a time: the second is never reached before the deadline. */
    weft_connect_opts o = { .happy_eyeballs_delay = WEFT_FOREVER,
                            .deadline = weft_deadline_after(400 * WEFT_MILLISECOND) };
    ASSERT_ERR(weft_tcp_connect_addrinfo(&ai1, &o, &fd), WEFT_ETIMEDOUT);
    weft_close(lfd);
    blackhole_close(&b);
    return 0;
}
TEST(happy_eyeballs_starts_the_next_address_after_250_ms_and_the_first_to_connect_wins) {
    ASSERT_EQ(wt_run_real(he_delay, NULL), 0);
}

static int he_interleave(void *arg) {
    (void)arg;
    blackhole b6, b6b;
    blackhole_open_family(&b6, true);
    blackhole_open_family(&b6b, true);
    int port, lfd = listen_local(&port), fd;
    struct sockaddr_in6 d1 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)b6.port),
                               .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    struct sockaddr_in6 d2 = d1;
    d2.sin6_port = htons((uint16_t)b6b.port);
    struct sockaddr_in live = v4(port);
    struct addrinfo ai3 = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
                            .ai_addr = (struct sockaddr *)&live, .ai_addrlen = sizeof live };
    struct addrinfo ai2 = { .ai_family = AF_INET6, .ai_socktype = SOCK_STREAM,
                            .ai_addr = (struct sockaddr *)&d2, .ai_addrlen = sizeof d2,
                            .ai_next = &ai3 };
    struct addrinfo ai1 = { .ai_family = AF_INET6, .ai_socktype = SOCK_STREAM,
                            .ai_addr = (struct sockaddr *)&d1, .ai_addrlen = sizeof d1,
                            .ai_next = &ai2 };
    /* Resolver order: two dead IPv6 addresses, then IPv4. Interleaved, the
     * IPv4 address goes second: one delay, not two. */
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_tcp_connect_addrinfo(&ai1, NULL, &fd), 0);
    int64_t took = weft_now() - t0;
    ASSERT(took >= 250 * WEFT_MILLISECOND);
    ASSERT(took < 450 * WEFT_MILLISECOND);
    ASSERT_EQ(peer_port(fd), port);
    weft_close(fd);
    weft_close(lfd);
    blackhole_close(&b6);
    blackhole_close(&b6b);
    return 0;
}
TEST(happy_eyeballs_alternates_address_families) {
    if (!have_ipv6_loopback()) wt_skip("no IPv6 loopback");
    ASSERT_EQ(wt_run_real(he_interleave, NULL), 0);
}

/* "localhost" may resolve to ::1 and 127.0.0.1: with a listener on
 * 127.0.0.1 only, connecting by name still works (at once: ::1 refuses). */
static int localhost(void *arg) {
    (void)arg;
    int port, lfd = listen_local(&port), fd;
    char p[8];
    port_str(port, p);
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_tcp_connect("localhost", p, &fd), 0);
    ASSERT(weft_now() - t0 < 200 * WEFT_MILLISECOND);
    ASSERT_EQ(peer_port(fd), port);
    weft_close(fd);
    weft_close(lfd);
    return 0;
}
TEST(connect_to_localhost_with_a_listener_on_one_family_only) {
    ASSERT_EQ(wt_run_real(localhost, NULL), 0);
}

/* ----------------------------------------------------------- resets */

static void reset(int fd) {
    struct linger l = { 1, 0 };
    ASSERT(setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0);
    ASSERT_ERR(weft_close(fd), 0);
}

static void *read_one(void *arg) {
    char buf[64];
    return weft_error((int)weft_read(*(int *)arg, buf, sizeof buf));
}
static int reset_read(void *arg) {
    (void)arg;
    int c, s;
    tcp_pair(&c, &s);
    weft_task *r = weft_spawn(read_one, &c);
    ASSERT_ERR(weft_sleep(20 * WEFT_MILLISECOND), 0);  /* the reader waits */
    reset(s);
    void *res;
    ASSERT_ERR(weft_join(r, &res), 0);
    ASSERT_ERR(weft_error_code(res), -ECONNRESET);
    weft_close(c);
    return 0;
}
TEST(peer_reset_during_a_read_is_econnreset) { ASSERT_EQ(wt_run_real(reset_read, NULL), 0); }

static void *write_lots(void *arg) {
    size_t len = 64 << 20;
    char *buf = calloc(1, len);
    ssize_t n = weft_write(*(int *)arg, buf, len);
    free(buf);
    return weft_error(n < 0 ? (int)n : 0);
}
static int reset_write(void *arg) {
    (void)arg;
    int c, s;
    tcp_pair(&c, &s);
    weft_task *w = weft_spawn(write_lots, &c);
    ASSERT_ERR(weft_sleep(20 * WEFT_MILLISECOND), 0);  /* the writer waits for room */
    ASSERT_EQ(weft_task_done(w), 0);
    reset(s);
    void *res;
    ASSERT_ERR(weft_join(w, &res), 0);
    /* Linux reports the reset once (ECONNRESET), then EPIPE: which one the
     * writer sees depends on whether it was mid-send when the RST came. */
    int err = weft_error_code(res);
    ASSERT(err == -ECONNRESET || err == -EPIPE);
    weft_close(c);
    return 0;
}
TEST(peer_reset_during_a_write_is_econnreset_or_epipe_and_no_sigpipe) {
    ASSERT_EQ(wt_run_real(reset_write, NULL), 0);
}

/* ------------------------------------------------ out of fds on accept */

enum { EMFILE_CLIENTS = 4 };
static int served;
static void say_ok(int fd, const struct sockaddr *peer, socklen_t len, void *arg) {
    (void)peer; (void)len; (void)arg;
    served++;
    weft_write(fd, "k", 1);
}
static int emfile(void *arg) {
    (void)arg;
    struct rlimit old, rl;
    ASSERT(getrlimit(RLIMIT_NOFILE, &old) == 0);
    int port, lfd = listen_local(&port);
    serve_args sa = { .lfd = lfd, .fn = say_ok };
    weft_task *srv = weft_spawn(serve_task, &sa);
    ASSERT_ERR(weft_yield(), 0);  /* the server waits to accept */
    int clients[EMFILE_CLIENTS];
    for (int i = 0; i < EMFILE_CLIENTS; i++)
        ASSERT_ERR(weft_socket(AF_INET, SOCK_STREAM, 0, &clients[i]), 0);
    /* Use up every fd below a lowered limit. */
    rl = old;
    rl.rlim_cur = (rlim_t)wt_count_fds() + 64;
    ASSERT(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    int fill[128], nfill = 0;
    while (nfill < 128 && (fill[nfill] = dup(lfd)) >= 0) nfill++;
    ASSERT_EQ(errno, EMFILE);
    ASSERT(nfill < 128);
    /* The clients connect (the kernel completes it); the server cannot accept. */
    struct sockaddr_in a = v4(port);
    for (int i = 0; i < EMFILE_CLIENTS; i++)
        ASSERT_ERR(weft_connect(clients[i], (struct sockaddr *)&a, sizeof a, WEFT_FOREVER), 0);
    int64_t cpu0 = cpu_ns();
    ASSERT_ERR(weft_sleep(400 * WEFT_MILLISECOND), 0);
    int64_t cpu = cpu_ns() - cpu0;
    ASSERT_EQ(served, 0);
    ASSERT(cpu < 50 * WEFT_MILLISECOND);  /* backing off, not spinning */
    ASSERT_EQ(weft_task_done(srv), 0);    /* and still serving */
    /* Free the fds: the server recovers on its next retry (<= 400 ms away). */
    for (int i = 0; i < nfill; i++) close(fill[i]);
    ASSERT(setrlimit(RLIMIT_NOFILE, &old) == 0);
    int64_t t0 = weft_now();
    for (int i = 0; i < EMFILE_CLIENTS; i++) {
        char c;
        ASSERT_EQ(weft_read(clients[i], &c, 1), 1);
        ASSERT_EQ(c, 'k');
        weft_close(clients[i]);
    }
    ASSERT(weft_now() - t0 < WEFT_SECOND);
    ASSERT_EQ(served, EMFILE_CLIENTS);
    serve_stop(srv);
    weft_close(lfd);
    return 0;
}
TEST(serve_out_of_fds_backs_off_without_spinning_and_recovers_when_fds_are_freed) {
    ASSERT_EQ(wt_run_real(emfile, NULL), 0);
}

static int accept_emfile(void *arg) {
    (void)arg;
    struct rlimit old, rl;
    ASSERT(getrlimit(RLIMIT_NOFILE, &old) == 0);
    int port, lfd = listen_local(&port), c, s = -1;
    ASSERT_ERR(weft_socket(AF_INET, SOCK_STREAM, 0, &c), 0);
    struct sockaddr_in a = v4(port);
    ASSERT_ERR(weft_connect(c, (struct sockaddr *)&a, sizeof a, WEFT_FOREVER), 0);
    rl = old;
    rl.rlim_cur = (rlim_t)wt_count_fds() + 64;
    ASSERT(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    int fill[128], nfill = 0;
    while (nfill < 128 && (fill[nfill] = dup(lfd)) >= 0) nfill++;
    ASSERT_ERR(weft_accept(lfd, NULL, NULL, &s), -EMFILE);
    ASSERT_EQ(s, -1);
    for (int i = 0; i < nfill; i++) close(fill[i]);
    ASSERT(setrlimit(RLIMIT_NOFILE, &old) == 0);
    ASSERT_ERR(weft_accept(lfd, NULL, NULL, &s), 0);  /* still queued */
    weft_close(s);
    weft_close(c);
    weft_close(lfd);
    return 0;
}
TEST(accept_out_of_fds_is_emfile_and_the_connection_stays_queued) {
    ASSERT_EQ(wt_run_real(accept_emfile, NULL), 0);
}

/* --------------------------------------------------- serve on a Unix path */

static void sock_path(char *buf, size_t len, const char *tag) {
    snprintf(buf, len, "/tmp/weft-test-%d-%s.sock", (int)getpid(), tag);
    unlink(buf);
}

static int live, peak;
static void slow_echo(int fd, const struct sockaddr *peer, socklen_t len, void *arg) {
    if (++live > peak) peak = live;
    weft_sleep(10 * WEFT_MILLISECOND);
    echo_conn(fd, peer, len, arg);
    live--;
}
static void *client(void *arg) {
    int fd, err = weft_unix_connect(arg, &fd);
    if (err) return weft_error(err);
    ping(fd, 'p');
    weft_close(fd);
    return NULL;
}
static int serve_limit(void *arg) {
    (void)arg;
    char path[108];
    sock_path(path, sizeof path, "limit");
    int lfd;
    ASSERT_ERR(weft_unix_listen(path, 0, &lfd), 0);
    serve_args sa = { .lfd = lfd, .fn = slow_echo, .opts = { .max_conns = 2 } };
    weft_task *srv = weft_spawn(serve_task, &sa);
    weft_task *c[5];
    for (int i = 0; i < 5; i++) c[i] = weft_spawn(client, path);
    ASSERT_ERR(weft_gather(c, 5, NULL), 0);
    while (live) ASSERT_ERR(weft_yield(), 0);  /* handlers see end of file */
    ASSERT_EQ(peak, 2);
    serve_stop(srv);
    weft_close(lfd);
    unlink(path);
    return 0;
}
TEST(serve_handles_at_most_max_conns_at_once_and_the_rest_wait) {
    ASSERT_EQ(wt_run(serve_limit, NULL), 0);
}

static int handler_err[3], nhandlers;
static void blocked_reader(int fd, const struct sockaddr *peer, socklen_t len, void *arg) {
    (void)peer; (void)len; (void)arg;
    int i = nhandlers++;
    char c;
    handler_err[i] = (int)weft_read(fd, &c, 1);
}
static int serve_cancel(void *arg) {
    (void)arg;
    char path[108];
    sock_path(path, sizeof path, "cancel");
    int lfd, c[3];
    ASSERT_ERR(weft_unix_listen(path, 0, &lfd), 0);
    serve_args sa = { .lfd = lfd, .fn = blocked_reader };
    weft_task *srv = weft_spawn(serve_task, &sa);
    for (int i = 0; i < 3; i++) ASSERT_ERR(weft_unix_connect(path, &c[i]), 0);
    while (nhandlers < 3) ASSERT_ERR(weft_yield(), 0);
    serve_stop(srv);  /* returns once every handler has ended */
    for (int i = 0; i < 3; i++) {
        ASSERT_ERR(handler_err[i], WEFT_ECANCELED);
        char b;
        ASSERT_EQ(weft_read(c[i], &b, 1), 0);  /* the server closed its end */
        weft_close(c[i]);
    }
    /* The listener is the caller's and still listening. */
    ASSERT_ERR(weft_unix_connect(path, &c[0]), 0);
    weft_close(c[0]);
    weft_close(lfd);
    unlink(path);
    return 0;
}
TEST(cancelling_serve_stops_accepting_cancels_connections_and_waits_for_them) {
    ASSERT_EQ(wt_run(serve_cancel, NULL), 0);
}

/* ----------------------------------------------------------- Unix, UDP */

static int unix_round_trip(void *arg) {
    const char *name = arg;
    char path[108];
    if (name[0] == '@') snprintf(path, sizeof path, "@weft-test-%d", (int)getpid());
    else sock_path(path, sizeof path, "rt");
    int lfd, c, s;
    ASSERT_ERR(weft_unix_listen(path, 0, &lfd), 0);
    ASSERT_ERR(weft_unix_listen(path, 0, &s), -EADDRINUSE);
    ASSERT_ERR(weft_unix_connect(path, &c), 0);
    ASSERT_ERR(weft_accept(lfd, NULL, NULL, &s), 0);
    ASSERT_EQ(weft_write(c, "hello", 5), 5);
    ASSERT_ERR(weft_shutdown(c, SHUT_WR), 0);  /* half-close: c can still read */
    char buf[16];
    ssize_t n, got = 0;
    while ((n = weft_read(s, buf + got, sizeof buf - (size_t)got)) > 0) got += n;
    ASSERT_EQ(n, 0);
    ASSERT_EQ(got, 5);
    ASSERT_EQ(weft_write(s, "world", 5), 5);
    ASSERT_EQ(weft_read(c, buf, sizeof buf), 5);
    ASSERT(memcmp(buf, "world", 5) == 0);
    weft_close(s);
    weft_close(c);
    weft_close(lfd);
    if (name[0] != '@') unlink(path);
    return 0;
}
TEST(unix_socket_round_trip_with_half_close) { ASSERT_EQ(wt_run(unix_round_trip, "path"), 0); }
TEST(unix_socket_round_trip_in_the_abstract_namespace) { ASSERT_EQ(wt_run(unix_round_trip, "@"), 0); }

static int unix_errors(void *arg) {
    (void)arg;
    char path[200];
    memset(path, 'x', sizeof path - 1);
    path[sizeof path - 1] = 0;
    int fd = -1;
    ASSERT_ERR(weft_unix_connect(path, &fd), -ENAMETOOLONG);
    ASSERT_ERR(weft_unix_listen(path, 0, &fd), -ENAMETOOLONG);
    ASSERT_ERR(weft_unix_connect("/nonexistent/weft.sock", &fd), -ENOENT);
    ASSERT_EQ(fd, -1);
    return 0;
}
TEST(unix_connect_to_a_missing_or_too_long_path_fails_cleanly) { ASSERT_EQ(wt_run(unix_errors, NULL), 0); }

static void *udp_echo_once(void *arg) {
    int fd = *(int *)arg;
    char buf[64];
    struct sockaddr_storage from;
    socklen_t len = sizeof from;
    ssize_t n = weft_recvfrom(fd, buf, sizeof buf, (struct sockaddr *)&from, &len);
    if (n < 0) return weft_error((int)n);
    n = weft_sendto(fd, buf, (size_t)n, (struct sockaddr *)&from, len);
    return weft_error(n < 0 ? (int)n : 0);
}
static int udp(void *arg) {
    (void)arg;
    int a, b;
    ASSERT_ERR(weft_udp_bind("127.0.0.1", "0", &a), 0);
    ASSERT_ERR(weft_udp_bind("127.0.0.1", "0", &b), 0);
    weft_task *e = weft_spawn(udp_echo_once, &b);
    ASSERT_ERR(weft_yield(), 0);  /* the echo waits in recvfrom */
    struct sockaddr_in to = v4(weft_sock_port(b));
    ASSERT_EQ(weft_sendto(a, "datagram", 8, (struct sockaddr *)&to, sizeof to), 8);
    char buf[64];
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ASSERT_EQ(weft_recvfrom(a, buf, sizeof buf, (struct sockaddr *)&from, &len), 8);
    ASSERT(memcmp(buf, "datagram", 8) == 0);
    ASSERT_EQ(ntohs(from.sin_port), weft_sock_port(b));
    void *res;
    ASSERT_ERR(weft_join(e, &res), 0);
    ASSERT_EQ(res, NULL);
    /* Cut to the buffer: the rest of the datagram is dropped. */
    ASSERT_EQ(weft_sendto(a, "0123456789", 10, (struct sockaddr *)&to, sizeof to), 10);
    ASSERT_EQ(weft_recvfrom(b, buf, 4, NULL, NULL), 4);
    /* A wait is cancellable like any other. */
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, WEFT_SECOND), 0);
    ASSERT_ERR(weft_recvfrom(b, buf, sizeof buf, NULL, NULL), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ETIMEDOUT);
    weft_close(a);
    weft_close(b);
    return 0;
}
TEST(udp_round_trip_reports_the_sender_and_cuts_long_datagrams) { ASSERT_EQ(wt_run(udp, NULL), 0); }

/* ----------------------------------------------------- listen, misc */

static int listen_any(void *arg) {
    (void)arg;
    int lfd, fd, s;
    ASSERT_ERR(weft_tcp_listen(NULL, "0", 0, &lfd), 0);
    char port[8];
    port_str(weft_sock_port(lfd), port);
    ASSERT_ERR(weft_tcp_connect("127.0.0.1", port, &fd), 0);
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    ASSERT_ERR(weft_accept(lfd, (struct sockaddr *)&peer, &len, &s), 0);
    ASSERT_EQ(peer_port(s), 0 + weft_sock_port(fd));
    weft_close(s);
    weft_close(fd);
    if (have_ipv6_loopback()) {
        ASSERT_ERR(weft_tcp_connect("::1", port, &fd), 0);
        ASSERT_ERR(weft_accept(lfd, NULL, NULL, &s), 0);
        weft_close(s);
        weft_close(fd);
    }
    int again;
    ASSERT_ERR(weft_tcp_listen("127.0.0.1", port, 0, &again), -EADDRINUSE);
    weft_close(lfd);
    return 0;
}
TEST(listen_on_every_interface_takes_ipv4_and_ipv6_and_reports_its_port) {
    ASSERT_EQ(wt_run_real(listen_any, NULL), 0);
}

static int cancelled_calls(void *arg) {
    (void)arg;
    int port, lfd = listen_local(&port), fd = -1;
    char p[8];
    port_str(port, p);
    weft_scope sc;
    ASSERT_ERR(weft_scope_enter(&sc, WEFT_FOREVER), 0);
    weft_scope_cancel(&sc);
    /* Cancelled before they start: nothing is done, not even an accept of
     * a connection that is there, and no fd is made. */
    ASSERT_ERR(weft_tcp_connect("127.0.0.1", p, &fd), WEFT_ECANCELED);
    ASSERT_ERR(weft_accept(lfd, NULL, NULL, &fd), WEFT_ECANCELED);
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ECANCELED);
    ASSERT_EQ(fd, -1);
    weft_close(lfd);
    return 0;
}
TEST(calls_in_a_cancelled_scope_do_nothing) { ASSERT_EQ(wt_run_real(cancelled_calls, NULL), 0); }

/* ------------------------------------------- 10,000 connections, one loop */

enum { NCONN = 10000 };

static void *hold_client(void *arg) {
    struct { int port; weft_sem *connecting; weft_barrier *all; } *c = arg;
    struct sockaddr_in a = v4(c->port);
    int fd, err;
    if ((err = weft_sem_acquire(c->connecting))) return weft_error(err);
    err = weft_connect_addr((struct sockaddr *)&a, sizeof a, WEFT_FOREVER, &fd);
    if (!err) ping(fd, 'h');
    weft_sem_release(c->connecting);
    if (err) return weft_error(err);
    weft_barrier_wait(c->all);  /* every connection is open at once */
    weft_close(fd);
    return NULL;
}
static int clients_main(void *arg) {
    int port = *(int *)arg;
    weft_sem connecting;
    weft_sem_init(&connecting, 512, 0);  /* spare the listen backlog a SYN flood */
    weft_barrier all;
    weft_barrier_init(&all, NCONN);
    struct { int port; weft_sem *connecting; weft_barrier *all; } c = { port, &connecting, &all };
    weft_task **t = malloc(NCONN * sizeof *t);
    for (int i = 0; i < NCONN; i++) t[i] = weft_spawn(hold_client, &c);
    int err = weft_gather(t, NCONN, NULL);
    free(t);
    return err;
}

static void counted_echo(int fd, const struct sockaddr *peer, socklen_t len, void *arg) {
    if (++live > peak) peak = live;
    echo_conn(fd, peer, len, arg);
    live--;
}
static int server_main(void *arg) {
    int *fds = arg;  /* listener, end of the clients' status pipe */
    serve_args sa = { .lfd = fds[0], .fn = counted_echo,
                      .opts = { .max_conns = 2 * NCONN, .stack_size = 16 << 10 } };
    weft_task *srv = weft_spawn(serve_task, &sa);
    char status = 1;
    ASSERT_EQ(weft_read(fds[1], &status, 1), 1);  /* the clients are done */
    ASSERT_EQ(status, 0);
    while (live) ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), 0);
    serve_stop(srv);
    return 0;
}
TEST(ten_thousand_concurrent_loopback_connections_on_one_loop) {
    /* Server and clients would need 20,000 fds in one process: the clients
     * run in a child process with a loop of their own. */
    struct rlimit rl;
    ASSERT(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < NCONN + 100) wt_skip("RLIMIT_NOFILE hard limit below 10,100");
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
    ASSERT(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = v4(0);
    ASSERT(bind(lfd, (struct sockaddr *)&a, sizeof a) == 0);
    ASSERT(listen(lfd, 4096) == 0);
    int port = weft_sock_port(lfd), pipefd[2];
    ASSERT(pipe2(pipefd, O_CLOEXEC) == 0);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        close(lfd);
        close(pipefd[0]);
        char status = weft_run(clients_main, &port) != 0;
        if (write(pipefd[1], &status, 1) != 1) _exit(2);
        _exit(status);
    }
    close(pipefd[1]);
    ASSERT_ERR(weft_fd_nonblock(pipefd[0]), 0);
    int fds[2] = { lfd, pipefd[0] };
    ASSERT_EQ(wt_run_real(server_main, fds), 0);
    int st;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ASSERT_EQ(peak, NCONN);
    close(pipefd[0]);
    close(lfd);
}

/* A Unix listener's full backlog gives EAGAIN and nothing to poll for:
 * connect retries on a timer until the server makes room or time is up. */
static void *accept_later(void *arg) {
    int lfd = *(int *)arg, s[2];
    weft_sleep(300 * WEFT_MILLISECOND);
    for (int i = 0; i < 2; i++)
        if (weft_accept(lfd, NULL, NULL, &s[i])) return weft_error(WEFT_EINVAL);
    weft_close(s[0]);
    weft_close(s[1]);
    return NULL;
}
static int unix_full_backlog(void *arg) {
    (void)arg;
    char path[108];
    sock_path(path, sizeof path, "full");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path, path, strlen(path));
    int lfd, filler, fd = -1;
    ASSERT_ERR(weft_socket(AF_UNIX, SOCK_STREAM, 0, &lfd), 0);
    ASSERT(bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0);
    ASSERT(listen(lfd, 0) == 0);
    ASSERT_ERR(weft_unix_connect(path, &filler), 0);  /* the one queue slot */
    int64_t t0 = weft_now();
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, 100 * WEFT_MILLISECOND), 0);
    ASSERT_ERR(weft_unix_connect(path, &fd), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_now() - t0, 100 * WEFT_MILLISECOND);
    ASSERT_EQ(fd, -1);
    weft_task *a = weft_spawn(accept_later, &lfd);
    ASSERT_ERR(weft_unix_connect(path, &fd), 0);  /* once the server accepts */
    ASSERT(weft_now() - t0 >= 400 * WEFT_MILLISECOND);
    void *res;
    ASSERT_ERR(weft_join(a, &res), 0);
    ASSERT_EQ(res, NULL);
    weft_close(fd);
    weft_close(filler);
    weft_close(lfd);
    unlink(path);
    return 0;
}
TEST(unix_connect_to_a_full_backlog_retries_until_the_server_accepts) {
    ASSERT_EQ(wt_run(unix_full_backlog, NULL), 0);
}

/* ------------------------------------- serve: handlers called again on input */

/* Echoes what is there, then asks to be called again on the next input,
 * or at the deadline `when_after` on (0: none): then it says "bye" and
 * lets the server close. */
static int when_calls;
static int64_t when_after, when_until[1024];
static void echo_when_readable(int fd, const struct sockaddr *peer, socklen_t len, void *arg) {
    (void)peer, (void)len, (void)arg;
    when_calls++;
    if (when_until[fd] && weft_now() >= when_until[fd]) {
        ASSERT_EQ(weft_write(fd, "bye", 3), 3);
        return;
    }
    char buf[64];
    ssize_t n = weft_read(fd, buf, sizeof buf);
    if (n <= 0) return;  /* the client's close, or the server's shutdown */
    ASSERT_EQ(weft_write(fd, buf, (size_t)n), n);
    when_until[fd] = when_after ? weft_now() + when_after : 0;
    ASSERT_ERR(weft_serve_when_readable(when_after ? when_until[fd] : WEFT_FOREVER), 0);
}

static int serve_again(void *arg) {
    when_after = *(int64_t *)arg;
    int lfd, c[2];
    ASSERT_ERR(weft_tcp_listen("127.0.0.1", "0", 16, &lfd), 0);
    char port[8];
    snprintf(port, sizeof port, "%d", weft_sock_port(lfd));
    serve_args sa = { .lfd = lfd, .fn = echo_when_readable };
    weft_task *srv = weft_spawn(serve_task, &sa);
    ASSERT_ERR(weft_serve_when_readable(WEFT_FOREVER), WEFT_EINVAL);  /* not a handler */
    for (int i = 0; i < 2; i++) ASSERT_ERR(weft_tcp_connect("127.0.0.1", port, &c[i]), 0);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 2; i++) {
            ping(c[i], (char)('a' + round));
            ASSERT_ERR(weft_sleep(WEFT_SECOND), 0);
        }
    /* Between messages no handler runs: two tasks wait to start on their
     * fds, and have never run (no frames). */
    weft_task_info ti[16];
    int n = weft_tasks_info(ti, 16), waiting_unstarted = 0;
    for (int i = 0; i < n && i < 16; i++)
        if (ti[i].state == WEFT_TASK_WAITING && ti[i].await == WEFT_AWAIT_READABLE && ti[i].nframes == 0)
            waiting_unstarted++;
    ASSERT_EQ(waiting_unstarted, 2);
    ASSERT_EQ(when_calls, 6);  /* one at accept, reading 'a'; then one per message */
    char b[8];
    if (when_after) {
        /* Silent past the deadline: each handler is called, says bye, and
         * the server closes. */
        ASSERT_ERR(weft_sleep(when_after), 0);
        for (int i = 0; i < 2; i++) {
            ASSERT_EQ(weft_read(c[i], b, sizeof b), 3);
            ASSERT_EQ(weft_read(c[i], b, 1), 0);
        }
        ASSERT_EQ(when_calls, 8);
    }
    serve_stop(srv);  /* starts the waiting ones, cancelled: they return */
    ASSERT_EQ(when_calls, 8);
    for (int i = 0; i < 2; i++) {
        if (!when_after) ASSERT_EQ(weft_read(c[i], b, 1), 0);
        weft_close(c[i]);
    }
    weft_close(lfd);
    return 0;
}
TEST(serve_when_readable_calls_the_handler_again_on_input_and_at_shutdown_with_no_task_between) {
    int64_t none = 0;
    ASSERT_EQ(wt_run(serve_again, &none), 0);
}
/* A handler that asks again whatever its read says, cancelled included:
 * the server's shutdown still ends (it makes no successor once cancelled). */
static int stubborn_calls;
static void stubborn(int fd, const struct sockaddr *peer, socklen_t len, void *arg) {
    (void)peer, (void)len, (void)arg;
    stubborn_calls++;
    char b[16];
    (void)weft_read(fd, b, sizeof b);
    weft_serve_when_readable(WEFT_FOREVER);
}
static int serve_stubborn(void *arg) {
    (void)arg;
    int lfd, c;
    ASSERT_ERR(weft_tcp_listen("127.0.0.1", "0", 16, &lfd), 0);
    char port[8];
    snprintf(port, sizeof port, "%d", weft_sock_port(lfd));
    serve_args sa = { .lfd = lfd, .fn = stubborn };
    weft_task *srv = weft_spawn(serve_task, &sa);
    ASSERT_ERR(weft_tcp_connect("127.0.0.1", port, &c), 0);
    ASSERT_EQ(weft_write(c, "x", 1), 1);
    ASSERT_ERR(weft_sleep(WEFT_SECOND), 0);
    serve_stop(srv);
    ASSERT(stubborn_calls <= 3);
    char b;
    ASSERT_EQ(weft_read(c, &b, 1), 0);
    weft_close(c);
    weft_close(lfd);
    return 0;
}
TEST(serve_when_readable_asked_again_after_the_shutdown_still_lets_it_end) {
    ASSERT_EQ(wt_run(serve_stubborn, NULL), 0);
}

TEST(serve_when_readable_calls_the_handler_again_at_its_deadline) {
    int64_t after = 5 * WEFT_SECOND;
    ASSERT_EQ(wt_run(serve_again, &after), 0);
}
