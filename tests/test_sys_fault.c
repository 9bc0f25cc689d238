/* System-call fault injection through weft's table of system calls
 * (src/io/sys.c), walked over the scenarios of wt_scenarios.h: a stream
 * round trip, an HTTP server round trip, a client GET through redirects,
 * a TLS handshake and echo.
 *
 * Faults that a correct program rides out must leave the results exactly
 * as without them: EINTR before every call, spurious EAGAIN on the first
 * calls (modelled as the kernel means it: the fd stays not ready until an
 * edge, which comes 1 ms later; a retry without waiting would spin, and is
 * counted), every read and write cut to one byte (each byte read coming
 * with its own edge, as bytes arriving one by one would), EMFILE on accept (the
 * server backs off and recovers). Faults that end a connection are walked
 * over every call: ECONNRESET at the Nth read or write, ENOBUFS at the Nth
 * send, ENOMEM at the Nth socket(): each run must end with a clear error
 * or success, no crash, no leak, no hang, and the loop must then run the
 * scenario cleanly. Each case prints the calls and fault points walked. */
#include "test.h"
#include "wt_scenarios.h"

#include "io_iface.h"

#include <unistd.h>

/* The loop's edge delivery (src/core/internal.h): what a real EAGAIN is
 * followed by when the fd becomes ready. */
void weft__fd_event(weft_loop *L, int fd, unsigned events);
enum { EDGE_IN = 1, EDGE_OUT = 2 };

/* ------------------------------------------------------------ faults */

enum mode {
    NONE,
    EINTR_ALL,     /* every call fails with EINTR once before it goes through */
    EAGAIN_FIRST,  /* the first `arg` data calls: EAGAIN until an edge 1 ms later */
    SHORT,         /* every read and write moves at most one byte */
    RESET_AT,      /* the data call number `arg`: ECONNRESET */
    ENOBUFS_AT,    /* the send number `arg`: ENOBUFS */
    EMFILE_FIRST,  /* the first `arg` accepts: EMFILE */
    ENOMEM_SOCKET, /* the socket() number `arg`: ENOMEM */
};

static int mode;
static long arg;
static long data_calls, sends, accepts, sockets;  /* calls made, by kind */
static long faults;   /* faults injected */
static long early;    /* calls on an fd made not ready, before its edge */
static bool intr;     /* EINTR_ALL: the next call is interrupted */
static bool one_byte; /* with any mode: every read and write moves one byte */
enum { MAXFD = 1024 };
static bool blocked[MAXFD][2];

static void edge(void *p) {
    intptr_t v = (intptr_t)p;
    int fd = (int)(v >> 1), dir = (int)(v & 1);
    blocked[fd][dir] = false;
    weft__fd_event(weft_loop_current(), fd, dir ? EDGE_OUT : EDGE_IN);
}

/* Decides one data call on fd in direction dir (0 in, 1 out): 0 to make
 * it, capping *len; or -1 with errno set. */
static int gate(int fd, int dir, size_t *len, bool is_send) {
    long i = data_calls++, si = is_send ? sends++ : -1;
    if (fd >= 0 && fd < MAXFD && blocked[fd][dir]) {
        early++;
        errno = EAGAIN;
        return -1;
    }
    int err = 0;
    if (mode == EINTR_ALL && (intr = !intr)) err = EINTR;
    if (mode == EAGAIN_FIRST && i < arg && fd >= 0 && fd < MAXFD &&
        !weft_call_later(WEFT_MILLISECOND, edge, (void *)(intptr_t)((fd << 1) | dir), NULL)) {
        blocked[fd][dir] = true;
        err = EAGAIN;
    }
    if ((mode == SHORT || one_byte) && *len > 1) *len = 1;
    if (mode == RESET_AT && i == arg) err = ECONNRESET;
    if (mode == ENOBUFS_AT && si == arg) err = ENOBUFS;
    if (!err) return 0;
    faults++;
    errno = err;
    return -1;
}

/* A read cut short must look like what a short read means to the kernel's
 * callers: the bytes came one at a time, each with its edge. (weft, like
 * nginx, takes a short read on a stream socket to mean "empty now" and
 * waits for the next edge before reading again.) */
static ssize_t after_read(int fd, ssize_t n, size_t len, size_t want) {
    if (n > 0 && len < want && fd < MAXFD)
        weft_call_soon(edge, (void *)(intptr_t)(fd << 1));
    return n;
}
static ssize_t f_read(int fd, void *buf, size_t len) {
    size_t want = len;
    return gate(fd, 0, &len, false) ? -1 : after_read(fd, read(fd, buf, len), len, want);
}
static ssize_t f_recv(int fd, void *buf, size_t len, int flags) {
    size_t want = len;
    return gate(fd, 0, &len, false) ? -1 : after_read(fd, recv(fd, buf, len, flags), len, want);
}
static ssize_t f_write(int fd, const void *buf, size_t len) {
    return gate(fd, 1, &len, true) ? -1 : write(fd, buf, len);
}
static ssize_t f_send(int fd, const void *buf, size_t len, int flags) {
    return gate(fd, 1, &len, true) ? -1 : send(fd, buf, len, flags);
}
/* The vector calls under SHORT: one byte of the first non-empty buffer,
 * in *one; returns whether to use it. */
static bool short_iov(const struct iovec *iov, size_t n, struct iovec *one) {
    if (mode != SHORT && !one_byte) return false;
    for (size_t i = 0; i < n; i++)
        if (iov[i].iov_len) {
            *one = (struct iovec){ iov[i].iov_base, 1 };
            return true;
        }
    return false;
}
static ssize_t f_writev(int fd, const struct iovec *iov, int n) {
    size_t unused = 0;
    struct iovec one;
    if (gate(fd, 1, &unused, true)) return -1;
    return short_iov(iov, (size_t)n, &one) ? writev(fd, &one, 1) : writev(fd, iov, n);
}
static ssize_t f_sendmsg(int fd, const struct msghdr *m, int flags) {
    size_t unused = 0;
    struct iovec one;
    if (gate(fd, 1, &unused, true)) return -1;
    if (!short_iov(m->msg_iov, m->msg_iovlen, &one)) return sendmsg(fd, m, flags);
    struct msghdr m1 = *m;
    m1.msg_iov = &one;
    m1.msg_iovlen = 1;
    return sendmsg(fd, &m1, flags);
}
static int f_accept4(int fd, struct sockaddr *peer, socklen_t *len, int flags) {
    long i = accepts++;
    if (mode == EINTR_ALL && (intr = !intr)) {
        faults++;
        errno = EINTR;
        return -1;
    }
    if (mode == EMFILE_FIRST && i < arg) {
        faults++;
        errno = EMFILE;
        return -1;
    }
    return accept4(fd, peer, len, flags);
}
/* EINTR from connect(2) means the connect goes on in the background. */
static int f_connect(int fd, const struct sockaddr *addr, socklen_t len) {
    int r = connect(fd, addr, len);
    if (mode == EINTR_ALL && (r == 0 || errno == EINPROGRESS)) {
        faults++;
        errno = EINTR;
        return -1;
    }
    return r;
}
static int f_socket(int family, int type, int protocol) {
    if (sockets++ == arg && mode == ENOMEM_SOCKET) {
        faults++;
        errno = ENOMEM;
        return -1;
    }
    return socket(family, type, protocol);
}

static const weft__sys_table faulty = {
    .read = f_read, .write = f_write, .writev = f_writev, .recv = f_recv, .send = f_send,
    .sendmsg = f_sendmsg, .accept4 = f_accept4, .connect = f_connect, .socket = f_socket,
};

/* ------------------------------------------------------------ runs */

typedef struct run { scenario_fn fn; int first, second; } run;

static int run_main(void *p) {
    run *r = p;
    weft_scope sc;
    weft_timeout_enter(&sc, 5 * WEFT_SECOND);
    r->first = r->fn();
    int err = weft_scope_leave(&sc);
    if (err) r->first = err;   /* a hang */
    weft__sys = weft__sys_default;
    mode = NONE;
    one_byte = false;
    weft_timeout_enter(&sc, 5 * WEFT_SECOND);
    r->second = r->fn();
    if ((err = weft_scope_leave(&sc))) r->second = err;
    return 0;
}

/* One run of fn under (m, a): its first result. Checks for leaks, hangs and
 * that the loop then runs fn cleanly. */
static int run_once(scenario_fn fn, int m, long a) {
    mode = m;
    arg = a;
    data_calls = sends = accepts = sockets = faults = early = 0;
    intr = false;
    memset(blocked, 0, sizeof blocked);
    weft__sys = faulty;
    if (getenv("WT_SYS_VERBOSE")) fprintf(stderr, "mode %d arg %ld\n", m, a);
    run r = { .fn = fn };
    ASSERT_ERR(wt_run_real(run_main, &r), 0);
    weft__sys = weft__sys_default;
    ASSERT(r.first != WEFT_ETIMEDOUT);   /* no hang */
    ASSERT_ERR(r.second, 0);
    return r.first;
}

/* The faults a correct program rides out: results as without them.
 * Returns the data calls of a one-byte-at-a-time run. */
static long ride_out(const char *name, scenario_fn fn) {
    ASSERT_ERR(run_once(fn, NONE, 0), 0);
    long base = data_calls;
    ASSERT_ERR(run_once(fn, EINTR_ALL, 0), 0);
    printf("%s: %ld data calls; EINTR: %ld injected\n", name, base, faults);
    ASSERT_ERR(run_once(fn, EAGAIN_FIRST, 16), 0);
    printf("%s: EAGAIN on the first 16: %ld injected, %ld calls before the edge\n", name, faults, early);
    ASSERT(early <= faults);   /* at most one retry on a stale edge each: no spin */
    ASSERT_ERR(run_once(fn, SHORT, 0), 0);
    printf("%s: one byte at a time: %ld data calls\n", name, data_calls);
    return data_calls;
}

/* Walks a connection-ending fault over the calls of its kind, every
 * `stride`-th one; with `bytewise`, every call moves one byte, so the
 * fault lands inside messages. Returns the fault points walked. */
static long walk(const char *name, scenario_fn fn, int m, const long *counter, const char *what,
                 bool bytewise, long stride) {
    one_byte = bytewise;
    run_once(fn, NONE, 0);
    long total = *counter, errors = 0, points = 0;
    int seen[8], nseen = 0;
    for (long n = 0; n < total; n += stride, points++) {
        one_byte = bytewise;
        int64_t t0 = weft_now();
        int r = run_once(fn, m, n);
        if (getenv("WT_SYS_VERBOSE"))
            fprintf(stderr, "n=%ld: %s in %lld ms\n", n, weft_err_name(r), (long long)((weft_now() - t0) / 1000000));
        ASSERT(r <= 0 || r == SERVER_FAILED);
        errors += r != 0;
        bool known = false;
        for (int i = 0; i < nseen; i++) known |= seen[i] == r;
        if (r && !known && nseen < 8) seen[nseen++] = r;
    }
    one_byte = false;
    printf("%s: %s%s at %ld of %ld calls: %ld runs ended in an error (", name, what,
           bytewise ? ", one byte at a time," : "", points, total, errors);
    for (int i = 0; i < nseen; i++)
        printf("%s%s", i ? " " : "", seen[i] == SERVER_FAILED ? "server-failed" : weft_err_name(seen[i]));
    printf("), the rest succeeded\n");
    return points;
}

#ifdef WT_ASAN
#define RUNS_DIV 12
#else
#define RUNS_DIV 1
#endif

/* All the walks over fn; `runs` bounds the one-byte walk's runs (a
 * one-byte run of the client takes ~0.2 s). */
static void walk_all(const char *name, scenario_fn fn, long runs) {
    long bytewise_calls = ride_out(name, fn);
    long points = walk(name, fn, RESET_AT, &data_calls, "ECONNRESET", false, 1);
    points += walk(name, fn, ENOBUFS_AT, &sends, "ENOBUFS on send", false, 1);
    points += walk(name, fn, ENOMEM_SOCKET, &sockets, "ENOMEM on socket()", false, 1);
    /* The one-byte calls (ride_out counted them): a stride keeps the case
     * within its time. */
    long stride = bytewise_calls / (runs / RUNS_DIV) + 1;
    points += walk(name, fn, RESET_AT, &data_calls, "ECONNRESET", true, stride);
    printf("%s: %ld fault points walked\n", name, points);
}

/* ------------------------------------------------------------ cases */

TEST(a_stream_round_trip_rides_out_and_survives_syscall_faults) { walk_all("stream", stream_pair, 300); }

TEST(an_http_server_round_trip_rides_out_and_survives_syscall_faults) { walk_all("httpd", http_server, 300); }
TEST(an_http2_server_round_trip_rides_out_and_survives_syscall_faults) { walk_all("h2", http2_server, 300); }
TEST(an_h2c_upgrade_rides_out_and_survives_syscall_faults) { walk_all("h2c upgrade", http2_upgrade, 300); }

TEST(a_websocket_echo_rides_out_and_survives_syscall_faults) { walk_all("ws", ws_echo, 300); }

TEST(a_client_get_rides_out_and_survives_syscall_faults) {
    deflate_body();
    walk_all("client", client_get, 40);
}

TEST(a_tls_echo_rides_out_and_survives_syscall_faults) {
    wt_certs_make(&certs);
    walk_all("tls", tls_echo, 120);
    wt_certs_free(&certs);
}

TEST(an_http_server_backs_off_on_emfile_and_recovers) {
    int64_t t0 = weft_now();
    ASSERT_ERR(run_once(http_server, EMFILE_FIRST, 3), 0);
    ASSERT_EQ(faults, 3);
    /* Three refused, one taken, one EAGAIN (then it waits): backed off
     * between the refusals, no accept spin. */
    ASSERT_EQ(accepts, 5);
    /* 5 + 10 + 20 ms of back-off, coarsely. */
    ASSERT(weft_now() - t0 >= 30 * WEFT_MILLISECOND);
    printf("httpd: EMFILE on 3 accepts, then served (%ld accepts)\n", accepts);
}
