/* Sockets: connect (with Happy Eyeballs), listen, accept, a server that runs
 * a task per connection, UDP datagrams and Unix domain sockets.
 *
 * Everything here is built on the fd waits (weft_wait_readable, the core's
 * watch table): each call tries its
 * system call first and waits for readiness only on EAGAIN / EINPROGRESS.
 * The one piece with structure of its own is connecting to a list of
 * addresses, where attempts race: each attempt is a task in a group, so that
 * cancelling the caller reaches them through the scope tree, and the losers
 * are cancelled and waited for (their sockets closed) before the call
 * returns. A single address is connected inline, without a task.
 */
#include "core_iface.h"
#include "io_iface.h"

#include "weft/io.h"
#include "weft/net.h"
#include "weft/dns.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

/* Happy Eyeballs delay: asyncio and aiohttp use 0.25 s (RFC 8305 suggests
 * 250 ms too); curl 200 ms. */
#define HAPPY_EYEBALLS_DELAY (250 * WEFT_MILLISECOND)
/* listen(2) backlog when the caller gives none: nginx's and Node's 511. */
#define DEFAULT_BACKLOG 511
/* weft_serve's connection limit by default: nginx's worker_connections. */
#define DEFAULT_MAX_CONNS 512
/* weft_serve's back-off while out of fds: Go's net/http (5 ms doubling to
 * 1 s). Short enough that a server recovers within a few ms of fds being
 * freed after a brief spike, long enough that a lasting shortage costs a
 * handful of accept calls a second. */
#define ACCEPT_BACKOFF_MIN (5 * WEFT_MILLISECOND)
#define ACCEPT_BACKOFF_MAX WEFT_SECOND
/* A Unix connect to a full backlog: EAGAIN and nothing to poll for. */
#define UNIX_BACKOFF_MIN WEFT_MILLISECOND
#define UNIX_BACKOFF_MAX (100 * WEFT_MILLISECOND)

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ------------------------------------------------------------ sockets */

int weft_socket(int family, int type, int protocol, int *fd) {
    int s = weft__sys.socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (s < 0) return -errno;
    *fd = s;
    return 0;
}

int weft_shutdown(int fd, int how) { return shutdown(fd, how) == 0 ? 0 : -errno; }

int weft_sock_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -errno;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}

/* ------------------------------------------------------------ connect */

/* Waits for an in-progress connect to finish. A writable edge can be
 * spurious (an edge kept from before), so a socket that reports no error but
 * has no peer yet is waited on again. */
static int connect_finish(int fd, int64_t deadline) {
    for (;;) {
        int err = weft_wait_writable(fd, deadline), soerr = 0;
        if (err) return err;
        socklen_t len = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) return -errno;
        if (soerr) return -soerr;
        struct sockaddr_storage ss;
        len = sizeof ss;
        if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) return 0;
        if (errno != ENOTCONN) return -errno;
    }
}

int weft_connect(int fd, const struct sockaddr *addr, socklen_t len, int64_t deadline) {
    int err = weft__point(NULL);
    if (err) return err;
    int64_t backoff = UNIX_BACKOFF_MIN;
    for (;;) {
        if (weft__sys.connect(fd, addr, len) == 0) return 0;
        /* EINTR: the connect goes on in the background, as for EINPROGRESS. */
        if (errno == EINPROGRESS || errno == EINTR) return connect_finish(fd, deadline);
        if (errno != EAGAIN || addr->sa_family != AF_UNIX) return -errno;
        /* A Unix listener's backlog is full. Polling would report the
         * unconnected socket writable at once, so sleep and retry. */
        int64_t now = weft_now();
        if (now >= deadline) return WEFT_ETIMEDOUT;
        if ((err = weft_sleep_until(min64(now + backoff, deadline)))) return err;
        backoff = min64(backoff * 2, UNIX_BACKOFF_MAX);
    }
}

/* A new socket of (family, type, protocol), connected to addr; closed again
 * on any error. */
static int connect_new(int family, int type, int protocol, const struct sockaddr *addr,
                       socklen_t len, int64_t deadline, int *fd) {
    int s = -1, err = weft__point(NULL);
    if (!err) err = weft_socket(family, type, protocol, &s);
    if (err) return err;
    if ((err = weft_connect(s, addr, len, deadline))) {
        weft_close(s);
        return err;
    }
    *fd = s;
    return 0;
}

int weft_connect_addr(const struct sockaddr *addr, socklen_t len, int64_t deadline, int *fd) {
    if (!addr || !fd) return WEFT_EINVAL;
    return connect_new(addr->sa_family, SOCK_STREAM, 0, addr, len, deadline, fd);
}

/* ----------------------------------------------------- Happy Eyeballs */

typedef struct race {
    weft_event ev;      /* set by each attempt as it ends */
    int fd;             /* the winner's socket, or -1 */
    size_t running;     /* attempts started and not ended */
    size_t failures;    /* attempts that ended without a socket */
} race;

typedef struct attempt {
    race *r;
    const struct addrinfo *ai;
    int err;
} attempt;

static bool is_stream(const struct addrinfo *ai) {
    return ai->ai_addr && (ai->ai_socktype == SOCK_STREAM || ai->ai_socktype == 0);
}

/* Orders the addresses as RFC 8305 section 4 (and asyncio's interleave)
 * asks: round after round, the next address of each family, families in the
 * order they first appear, so that a broken IPv6 path costs one delay and
 * not one per IPv6 address. `all` is consumed. O(n^2), for the few
 * addresses a name has. */
static void interleave(const struct addrinfo **all, size_t n, attempt *out) {
    for (size_t k = 0; k < n;) {
        int seen[4];
        size_t nseen = 0;
        for (size_t i = 0; i < n && nseen < 4; i++) {
            if (!all[i]) continue;
            bool dup = false;
            for (size_t j = 0; j < nseen; j++) dup |= seen[j] == all[i]->ai_family;
            if (dup) continue;
            seen[nseen++] = all[i]->ai_family;
            out[k++].ai = all[i];
            all[i] = NULL;
        }
    }
}

static void *attempt_main(void *arg) {
    attempt *a = arg;
    race *r = a->r;
    const struct addrinfo *ai = a->ai;
    int fd;
    a->err = connect_new(ai->ai_family, SOCK_STREAM, ai->ai_protocol, ai->ai_addr,
                         ai->ai_addrlen, WEFT_FOREVER, &fd);
    if (a->err) r->failures++;
    else if (r->fd < 0) r->fd = fd;
    else weft_close(fd);  /* another attempt won first */
    r->running--;
    weft_event_set(&r->ev);
    return NULL;  /* never a failure: that would cancel the group */
}

/* Waits until an attempt ends (0), the stagger deadline `until` passes (0),
 * or the caller is cancelled (the code). */
static int race_wait(race *r, int64_t until) {
    weft_scope sc;
    weft_event_clear(&r->ev);
    weft_scope_enter(&sc, until);
    int err = weft_event_wait(&r->ev);
    return weft_scope_leave(&sc) ? 0 : err;
}

/* Runs the attempts a[0..n) staggered by `delay`; the first to connect wins
 * and the rest are cancelled and waited for. */
static int race_run(attempt *a, size_t n, int64_t delay, int *fd) {
    race r = { .fd = -1 };
    weft_group g;
    weft_group_enter(&g);
    weft_spawn_opts so = { .name = "connect" };
    size_t next = 0, seen_failures = 0;
    int64_t last_start = 0;
    int err = 0;
    while (!err && r.fd < 0) {
        bool due = r.running == 0 || r.failures != seen_failures ||
                   (delay != WEFT_FOREVER && weft_now() - last_start >= delay);
        if (next < n && due) {
            a[next].r = &r;
            if ((err = weft_group_spawn(&g, &so, attempt_main, &a[next]))) break;
            next++;
            r.running++;
            seen_failures = r.failures;
            last_start = weft_now();
        }
        if (r.running == 0) break;  /* every address failed */
        int64_t until = next < n && delay < WEFT_FOREVER - last_start ? last_start + delay
                                                                    : WEFT_FOREVER;
        err = race_wait(&r, until);
    }
    weft_group_cancel(&g);  /* the losers, if any */
    weft_group_leave(&g);
    if (r.fd >= 0 && !err) {
        *fd = r.fd;
        return 0;
    }
    if (r.fd >= 0) weft_close(r.fd);
    return err ? err : a[0].err;
}

int weft_tcp_connect_addrinfo(const struct addrinfo *ai, const weft_connect_opts *opts, int *fd) {
    int err = weft__point(NULL);
    if (err) return err;
    if (!fd) return WEFT_EINVAL;
    size_t n = 0;
    for (const struct addrinfo *p = ai; p; p = p->ai_next) n += is_stream(p);
    if (n == 0) return WEFT_EINVAL;
    int64_t deadline = opts && opts->deadline ? opts->deadline : WEFT_FOREVER;
    if (n == 1) {  /* nothing to race: no task, no allocation */
        while (!is_stream(ai)) ai = ai->ai_next;
        return connect_new(ai->ai_family, SOCK_STREAM, ai->ai_protocol, ai->ai_addr,
                           ai->ai_addrlen, deadline, fd);
    }
    weft__mem mem = weft__mem_here();
    attempt *a = weft__mem_alloc(mem, n * (sizeof *a + sizeof(struct addrinfo *)));
    if (!a) return WEFT_ENOMEM;
    const struct addrinfo **all = (const struct addrinfo **)(a + n);
    n = 0;
    for (const struct addrinfo *p = ai; p; p = p->ai_next)
        if (is_stream(p)) all[n++] = p;
    memset(a, 0, n * sizeof *a);
    interleave(all, n, a);
    int64_t delay = opts && opts->happy_eyeballs_delay ? opts->happy_eyeballs_delay
                                                       : HAPPY_EYEBALLS_DELAY;
    weft_scope sc;  /* the deadline reaches the attempts through it */
    weft_scope_enter(&sc, deadline);
    err = race_run(a, n, delay, fd);
    weft_scope_leave(&sc);
    weft__mem_free(mem, a);
    return err;
}

int weft_tcp_connect_ex(const char *host, const char *port, const weft_connect_opts *opts, int *fd) {
    int err = weft__point(NULL);
    if (err) return err;
    if (!host || !port || !fd) return WEFT_EINVAL;
    weft_scope sc;  /* opts' deadline covers resolving and connecting */
    weft_scope_enter(&sc, opts && opts->deadline ? opts->deadline : WEFT_FOREVER);
    struct addrinfo hints = { .ai_family = opts ? opts->family : AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM }, *res;
    if (!(err = weft_getaddrinfo(host, port, &hints, &res))) {
        err = weft_tcp_connect_addrinfo(res, opts, fd);
        freeaddrinfo(res);
    }
    weft_scope_leave(&sc);
    return err;
}

int weft_tcp_connect(const char *host, const char *port, int *fd) {
    return weft_tcp_connect_ex(host, port, NULL, fd);
}

/* --------------------------------------------------------------- Unix */

/* Fills *sa for `path` ('@' at the start: the abstract namespace). */
static int unix_addr(const char *path, struct sockaddr_un *sa, socklen_t *len) {
    size_t n = path ? strlen(path) : 0;
    if (n == 0) return WEFT_EINVAL;
    if (n >= sizeof sa->sun_path) return -ENAMETOOLONG;
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, n);
    bool abstract = path[0] == '@';
    if (abstract) sa->sun_path[0] = '\0';
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + !abstract);
    return 0;
}

int weft_unix_connect(const char *path, int *fd) {
    struct sockaddr_un sa;
    socklen_t len;
    int err = weft__point(NULL);
    if (!err) err = fd ? unix_addr(path, &sa, &len) : WEFT_EINVAL;
    if (err) return err;
    return connect_new(AF_UNIX, SOCK_STREAM, 0, (struct sockaddr *)&sa, len, WEFT_FOREVER, fd);
}

/* A new socket bound to addr, listening if it is a stream socket. */
static int bind_new(int family, int type, int protocol, const struct sockaddr *addr,
                    socklen_t len, int backlog, bool dual_stack, unsigned flags, int *fd) {
    int s = -1, on = 1, off = 0, err = weft_socket(family, type, protocol, &s);
    if (err) return err;
    if (type == SOCK_STREAM && family != AF_UNIX)
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if ((flags & WEFT_LISTEN_REUSEPORT) && setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0) {
        err = -errno;
        close(s);
        return err;
    }
    if (dual_stack) setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    if (bind(s, addr, len) < 0 ||
        (type == SOCK_STREAM && listen(s, backlog > 0 ? backlog : DEFAULT_BACKLOG) < 0)) {
        err = -errno;
        close(s);  /* never waited on: nothing for the loop to forget */
        return err;
    }
    *fd = s;
    return 0;
}

int weft_unix_listen(const char *path, int backlog, int *fd) {
    struct sockaddr_un sa;
    socklen_t len;
    int err = fd ? unix_addr(path, &sa, &len) : WEFT_EINVAL;
    if (err) return err;
    return bind_new(AF_UNIX, SOCK_STREAM, 0, (struct sockaddr *)&sa, len, backlog, false, 0, fd);
}

/* ---------------------------------------------------------- TCP, UDP */

/* Resolves host:port for binding and binds the first address that takes.
 * With no host, "::" (dual stack) is tried before "0.0.0.0". */
static int bind_host(const char *host, const char *port, int type, int backlog, unsigned flags, int *fd) {
    int err = weft__point(NULL);
    if (err) return err;
    if (!port || !fd) return WEFT_EINVAL;
    struct addrinfo hints = { .ai_socktype = type, .ai_flags = AI_PASSIVE }, *res;
    if ((err = weft_getaddrinfo(host, port, &hints, &res))) return err;
    int first = 0;
    for (int pass = host ? 1 : 0; pass < 2; pass++) {
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            bool v6 = ai->ai_family == AF_INET6;
            if (!host && (pass == 0) != v6) continue;
            err = bind_new(ai->ai_family, type, ai->ai_protocol, ai->ai_addr, ai->ai_addrlen,
                           backlog, !host && v6, flags, fd);
            if (!err) goto out;
            if (!first) first = err;
        }
    }
    err = first ? first : -EADDRNOTAVAIL;
out:
    freeaddrinfo(res);
    return err;
}

int weft_tcp_listen(const char *host, const char *port, int backlog, int *fd) {
    return bind_host(host, port, SOCK_STREAM, backlog, 0, fd);
}

int weft_tcp_listen_ex(const char *host, const char *port, int backlog, unsigned flags, int *fd) {
    if (flags & ~(unsigned)WEFT_LISTEN_REUSEPORT) return WEFT_EINVAL;
    return bind_host(host, port, SOCK_STREAM, backlog, flags, fd);
}

int weft_listen_like(int lfd, int backlog, unsigned flags, int *fd) {
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    int type = 0;
    socklen_t tlen = sizeof type;
    if (!fd || (flags & ~(unsigned)WEFT_LISTEN_REUSEPORT)) return WEFT_EINVAL;
    if (getsockname(lfd, (struct sockaddr *)&sa, &len) < 0 ||
        getsockopt(lfd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0)
        return -errno;
    if (type != SOCK_STREAM || (sa.ss_family != AF_INET && sa.ss_family != AF_INET6)) return WEFT_EINVAL;
    int off = 1;
    socklen_t olen = sizeof off;
    bool dual = sa.ss_family == AF_INET6 &&
                getsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &off, &olen) == 0 && !off;
    return bind_new(sa.ss_family, SOCK_STREAM, 0, (struct sockaddr *)&sa, len, backlog, dual, flags, fd);
}

int weft_udp_bind(const char *host, const char *port, int *fd) {
    return bind_host(host, port, SOCK_DGRAM, 0, 0, fd);
}

ssize_t weft_sendto(int fd, const void *buf, size_t len, const struct sockaddr *to, socklen_t tolen) {
    int err = weft__point(NULL);
    if (err) return err;
    for (;;) {
        ssize_t n = sendto(fd, buf, len, MSG_NOSIGNAL, to, tolen);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
        if ((err = weft_wait_writable(fd, WEFT_FOREVER))) return err;
    }
}

ssize_t weft_recvfrom(int fd, void *buf, size_t len, struct sockaddr *from, socklen_t *fromlen) {
    int err = weft__point(NULL);
    if (err) return err;
    for (;;) {
        ssize_t n = recvfrom(fd, buf, len, 0, from, fromlen);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
        if ((err = weft_wait_readable(fd, WEFT_FOREVER))) return err;
    }
}

/* ------------------------------------------------------------- accept */

/* Errors of a connection that died in the queue (accept(2) says to retry
 * as for EAGAIN). EOPNOTSUPP is not here: it also means "not a stream
 * socket", which no retry fixes. */
static bool accept_retry(int e) {
    return e == EINTR || e == ECONNABORTED || e == EPROTO || e == ENETDOWN ||
           e == ENETUNREACH || e == EHOSTDOWN || e == EHOSTUNREACH || e == ENONET;
}

int weft_accept(int lfd, struct sockaddr *peer, socklen_t *peer_len, int *fd) {
    int err = weft__point(NULL);
    if (err) return err;
    if (!fd || (peer && !peer_len)) return WEFT_EINVAL;
    for (;;) {
        int s = weft__sys.accept4(lfd, peer, peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (s >= 0) {
            *fd = s;
            return 0;
        }
        if (accept_retry(errno)) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
        if ((err = weft_wait_readable(lfd, WEFT_FOREVER))) return err;
    }
}

/* ------------------------------------------------------------- server */

typedef struct server {
    weft_sem slots;      /* one unit per connection allowed */
    weft_conn_fn fn;
    void *arg;
    weft__mem mem;
    weft_group *g;       /* the connections' tasks */
    const weft_spawn_opts *so;
} server;

typedef struct conn {
    server *s;
    int fd;
    bool again;          /* weft_serve_when_readable was called */
    int64_t until;       /* ... with this deadline */
    socklen_t peer_len;
    struct sockaddr_storage peer;
} conn;

/* A connection's task: runs the handler, then closes the connection, or
 * (weft_serve_when_readable) leaves it to a task that starts on its next
 * input, holding no stack meanwhile. */
static void *conn_main(void *arg) {
    conn *c = arg;
    server *s = c->s;
    s->fn(c->fd, (struct sockaddr *)&c->peer, c->peer_len, s->arg);
    /* Not once the server is shutting down: the successor would start at
     * once, cancelled, and could ask again forever. */
    if (c->again && weft_check_cancel() == 0) {
        c->again = false;
        if (weft__spawn_when_readable(NULL, s->so, c->fd, c->until, conn_main, c, s->g) == 0)
            return NULL;
    }
    weft_close(c->fd);
    weft__mem_free(s->mem, c);
    weft_sem_release(&s->slots);
    return NULL;  /* never a failure: that would cancel the group */
}

int weft_serve_when_readable(int64_t deadline) {
    conn *c = weft__current_arg(conn_main);
    if (!c) return WEFT_EINVAL;
    c->again = true;
    c->until = deadline;
    return 0;
}

/* Accepts one connection and spawns its task. */
static int serve_one(server *s, int lfd) {
    conn *c = weft__mem_alloc(s->mem, sizeof *c);
    if (!c) return WEFT_ENOMEM;
    c->s = s;
    c->peer_len = sizeof c->peer;
    int err = weft_accept(lfd, (struct sockaddr *)&c->peer, &c->peer_len, &c->fd);
    c->again = false;
    if (!err && (err = weft_group_spawn(s->g, s->so, conn_main, c))) weft_close(c->fd);
    if (err) weft__mem_free(s->mem, c);
    return err;
}

/* Errors that freeing resources elsewhere cures: wait and retry. */
static bool out_of_resources(int err) {
    return err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == WEFT_ENOMEM;
}

int weft_serve(int lfd, const weft_serve_opts *opts, weft_conn_fn fn, void *arg) {
    int err = weft__point(NULL);
    if (err) return err;
    if (!fn) return WEFT_EINVAL;
    server s = { .fn = fn, .arg = arg, .mem = weft__mem_here() };
    size_t max = opts && opts->max_conns ? opts->max_conns : DEFAULT_MAX_CONNS;
    weft_sem_init(&s.slots, (int64_t)max, 1);
    weft_spawn_opts so = { .name = "conn", .stack_size = opts ? opts->stack_size : 0 };
    weft_group g;
    weft_group_enter(&g);
    s.g = &g;
    s.so = &so;
    int64_t backoff = 0;
    for (;;) {
        if ((err = weft_sem_acquire(&s.slots))) break;
        if (!(err = serve_one(&s, lfd))) {
            backoff = 0;
            continue;
        }
        weft_sem_release(&s.slots);
        if (!out_of_resources(err)) break;
        backoff = backoff ? min64(backoff * 2, ACCEPT_BACKOFF_MAX) : ACCEPT_BACKOFF_MIN;
        weft__debug(weft_loop_current(), "serve: accept on fd %d: %s; retrying in %lld ms", lfd,
                    weft_strerror(err), (long long)(backoff / WEFT_MILLISECOND));
        if ((err = weft_sleep(backoff))) break;
    }
    weft_group_cancel(&g);  /* the connections: cancelled, then waited for */
    weft_group_leave(&g);
    return err;
}
