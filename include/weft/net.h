/* weft networking: TCP, UDP and Unix domain sockets whose connects, accepts
 * and datagram transfers suspend only the calling task (asyncio's loop
 * socket API: create_connection, create_server, sock_accept, sock_sendto...).
 *
 * Every socket made here is non-blocking and close-on-exec from its creation
 * (SOCK_NONBLOCK | SOCK_CLOEXEC, accept4). An fd handed back through `*fd`
 * is the caller's: close it with weft_close (weft/io.h), which also makes
 * the loop forget it. Reads and writes on a connected socket are weft_read,
 * weft_write and weft_write_some from weft/io.h.
 *
 * Everything follows weft.h's conventions: errors are negative codes (-errno
 * where one exists: a refused connect is -ECONNREFUSED, a reset peer
 * -ECONNRESET), suspension points honour the task's scopes (cancellation and
 * deadlines) and must be called from a task, and a call that fails writes no
 * *out and leaves no fd open behind it. Names are resolved with
 * weft_getaddrinfo (weft/dns.h), whose codes these calls pass on.
 */
#ifndef WEFT_NET_H
#define WEFT_NET_H

#include <weft.h>

#include <netdb.h>
#include <sys/socket.h>
#include <sys/types.h>

struct addrinfo;  /* netdb.h hides it in strict ISO C modes */

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ sockets */

/* Creates a socket(2) of `family`, `type` and `protocol`, non-blocking and
 * close-on-exec, into *fd. Not a suspension point. Returns 0 or -errno from
 * socket(2) (e.g. -EAFNOSUPPORT, -EMFILE). */
WEFT_EXTERN int weft_socket(int family, int type, int protocol, int *fd);

/* Half-closes a connected socket: shutdown(2) with SHUT_RD, SHUT_WR (the
 * peer reads end of file once it has read what was sent) or SHUT_RDWR. The
 * fd stays open and the caller's; close it with weft_close. Not a suspension
 * point. Returns 0 or -errno (-ENOTCONN, -EBADF, -ENOTSOCK, -EINVAL). */
WEFT_EXTERN int weft_shutdown(int fd, int how);

/* The port `fd` is bound to (e.g. after listening on port "0"), in host byte
 * order: > 0, 0 if unbound, or -errno from getsockname(2), or -EAFNOSUPPORT
 * for a socket that is neither IPv4 nor IPv6. For the whole address, call
 * getsockname(2). Not a suspension point. */
WEFT_EXTERN int weft_sock_port(int fd);

/* ------------------------------------------------------------ connect */

/* Suspension point. Connects the non-blocking socket `fd` to `addr` (connect
 * (2), then waiting for it to finish) until `deadline` (absolute, or
 * WEFT_FOREVER) or the scopes' deadline. Returns 0 once connected; the
 * connect's error as -errno (-ECONNREFUSED, -ENETUNREACH, -EHOSTUNREACH,
 * -ETIMEDOUT from the kernel's own retries...); WEFT_ETIMEDOUT or
 * WEFT_ECANCELED; or one of weft_wait_writable's codes. On any error the
 * socket is left in an unspecified state (a connect may still be in flight):
 * close it. For a Unix socket whose listener's backlog is full, where the
 * kernel says EAGAIN and offers nothing to wait on, retries after short
 * sleeps (1 ms doubling to 100 ms) until the deadline. */
WEFT_EXTERN int weft_connect(int fd, const struct sockaddr *addr, socklen_t len, int64_t deadline);

/* Suspension point. Makes a stream socket of addr's family and connects it
 * as weft_connect does; on success *fd is the connected socket. Any error
 * closes the socket and leaves *fd untouched. Returns 0, -errno from
 * socket(2), WEFT_EINVAL (addr or fd NULL), or weft_connect's codes. */
WEFT_EXTERN int weft_connect_addr(const struct sockaddr *addr, socklen_t len, int64_t deadline, int *fd);

/* Options for weft_tcp_connect_ex and weft_tcp_connect_addrinfo;
 * zero-initialise, every zero field means its default. */
typedef struct weft_connect_opts {
    /* Absolute deadline for the whole call, resolving included; 0 = none
     * (WEFT_FOREVER). The task's scopes apply either way. */
    int64_t deadline;
    /* Happy Eyeballs (RFC 8305): how long an attempt runs alone before the
     * next address is tried beside it. 0 = 250 ms (asyncio and aiohttp's
     * 0.25 s; curl uses 200 ms); WEFT_FOREVER = one address at a time, each
     * to its failure; negative = every address at once. */
    int64_t happy_eyeballs_delay;
    /* AF_UNSPEC (0), AF_INET or AF_INET6: which addresses to resolve to. */
    int family;
} weft_connect_opts;

/* Suspension point. Resolves `host` and `port` (a service name or a number)
 * with weft_getaddrinfo and connects a TCP socket to one of the addresses,
 * into *fd (the caller's, connected, non-blocking).
 *
 * Addresses are tried as asyncio's create_connection does with
 * happy_eyeballs_delay set: in the resolver's order, alternating between
 * address families (IPv6 and IPv4) from the first one; an attempt that fails
 * starts the next at once, one that is still running after the Happy
 * Eyeballs delay gets the next one started beside it. The first to connect
 * wins; every other attempt is cancelled and its socket closed before the
 * call returns.
 *
 * Returns 0; weft_getaddrinfo's code if resolving failed (WEFT_ENOTFOUND
 * for a name that does not exist, WEFT_EDNSAGAIN, WEFT_EDNSFAIL...); when
 * every address failed, the error of the first address tried
 * (-ECONNREFUSED...); WEFT_ETIMEDOUT if opts' deadline or a scope's passed;
 * WEFT_ECANCELED; WEFT_EINVAL for a NULL host, port or fd; WEFT_ENOMEM.
 * On every error no socket is left open and *fd is untouched. */
WEFT_EXTERN int weft_tcp_connect(const char *host, const char *port, int *fd);
/* weft_tcp_connect with options (NULL: the defaults). */
WEFT_EXTERN int weft_tcp_connect_ex(const char *host, const char *port,
                                    const weft_connect_opts *opts, int *fd);
/* Suspension point. The connecting half of weft_tcp_connect_ex, for
 * addresses resolved already: tries the stream-socket entries of the list
 * `ai` (borrowed; as getaddrinfo(3) makes it, linked by ai_next; entries
 * with another ai_socktype are skipped) with Happy Eyeballs. opts->family is
 * ignored. Returns as weft_tcp_connect, and WEFT_EINVAL if `ai` holds no
 * stream-socket address. */
WEFT_EXTERN int weft_tcp_connect_addrinfo(const struct addrinfo *ai,
                                          const weft_connect_opts *opts, int *fd);

/* Suspension point. Connects a Unix domain stream socket to `path` into *fd.
 * A path starting with '@' names an address in Linux's abstract namespace
 * (the '@' stands for the leading NUL byte). Returns 0, -ENAMETOOLONG (the
 * path does not fit sun_path), WEFT_EINVAL (an empty path or NULL fd),
 * -ENOENT (no such socket file), -ECONNREFUSED (nobody listens), -EACCES,
 * or weft_connect's codes; on error no socket is left open. */
WEFT_EXTERN int weft_unix_connect(const char *path, int *fd);

/* ------------------------------------------------------ listen, accept */

/* Suspension point (it may resolve `host`). Makes a TCP socket listening on
 * `host`:`port`, into *fd. `host` NULL listens on every interface: on "::"
 * accepting IPv4 too where IPv6 is available, else on 0.0.0.0. Otherwise
 * the socket binds the first resolved address that it can (one socket, one
 * address: to listen on several, call this once for each). `port` "0" picks
 * a free port: read it back with weft_sock_port. SO_REUSEADDR is set, as
 * asyncio does, so that a restarted server can bind while old connections
 * linger in TIME_WAIT. `backlog` <= 0 means 511 (nginx's and Node's
 * default; the kernel caps it at net.core.somaxconn).
 * Returns 0, weft_getaddrinfo's codes (WEFT_ENOTFOUND...), -errno from
 * socket, bind or listen (-EADDRINUSE, -EACCES for a privileged port,
 * -EADDRNOTAVAIL) for the first address tried, the cancellation codes,
 * WEFT_EINVAL (NULL port or fd) or WEFT_ENOMEM. */
WEFT_EXTERN int weft_tcp_listen(const char *host, const char *port, int backlog, int *fd);

enum {
    /* SO_REUSEPORT: several sockets (one per loop, weft/loops.h) listen on
     * the same address, and the kernel spreads new connections among them
     * by a hash of each connection's addresses. Every socket on the port
     * must ask for it, from the same user. */
    WEFT_LISTEN_REUSEPORT = 1 << 0,
};
/* weft_tcp_listen with WEFT_LISTEN_* flags: the same contract and errors,
 * plus WEFT_EINVAL for an unknown flag and -errno if the kernel refuses
 * SO_REUSEPORT. */
WEFT_EXTERN int weft_tcp_listen_ex(const char *host, const char *port, int backlog, unsigned flags, int *fd);
/* Makes a TCP socket listening on the address `lfd` (a listening TCP
 * socket) is bound to, its port included, with WEFT_LISTEN_* flags, into
 * *fd: another loop's listener beside lfd, when both were made with
 * WEFT_LISTEN_REUSEPORT. Not a suspension point. Returns 0, WEFT_EINVAL
 * (lfd not a TCP stream socket, NULL fd, an unknown flag), or -errno from
 * getsockname, socket, setsockopt, bind (-EADDRINUSE without
 * WEFT_LISTEN_REUSEPORT on both) or listen. */
WEFT_EXTERN int weft_listen_like(int lfd, int backlog, unsigned flags, int *fd);

/* Makes a Unix domain stream socket listening on `path` (or, starting with
 * '@', an abstract address), into *fd. An existing file at `path` is not
 * removed: -EADDRINUSE (unlink it first if it is a stale socket); nor is the
 * socket file removed when the fd is closed: unlink it yourself. `backlog`
 * as weft_tcp_listen. Not a suspension point. Returns 0, -ENAMETOOLONG,
 * WEFT_EINVAL (an empty path or NULL fd), or -errno from socket, bind or
 * listen (-EADDRINUSE, -EACCES, -ENOENT for a missing directory). */
WEFT_EXTERN int weft_unix_listen(const char *path, int backlog, int *fd);

/* Suspension point. Accepts one connection on the listening socket `lfd`,
 * waiting for one to come: *fd is the new connection (the caller's,
 * non-blocking, close-on-exec), and if `peer` is non-NULL the peer's address
 * is stored there with its length in *peer_len (which holds peer's size on
 * entry, as for accept(2)). Connections that were aborted before they were
 * accepted are skipped. Returns 0; WEFT_EINVAL (fd NULL, or peer without
 * peer_len); -errno from accept4(2): -EMFILE and -ENFILE (out of fds: the
 * connection stays queued, retry later), -ENOBUFS, -ENOMEM, -EINVAL (not
 * listening), -ENOTSOCK; or one of weft_wait_readable's codes. */
WEFT_EXTERN int weft_accept(int lfd, struct sockaddr *peer, socklen_t *peer_len, int *fd);

/* A connection handler for weft_serve, run as a task of its own: `fd` is the
 * accepted connection, borrowed (weft_serve closes it when the handler
 * returns, unless it called weft_serve_when_readable), `peer` its address
 * (borrowed for the call), `arg` weft_serve's. It runs under weft_serve's
 * scopes: it is cancelled when the server is. */
typedef void (*weft_conn_fn)(int fd, const struct sockaddr *peer, socklen_t peer_len, void *arg);

/* Called by a weft_serve handler before it returns: keeps the connection
 * open, and runs the handler again, as a new task with the same fd and
 * peer, once fd is readable (the peer's next bytes, or its close) or
 * `deadline` (absolute; or WEFT_FOREVER) passes. In between the connection
 * holds no task and no stack, only weft_serve's small record: how a server
 * with many idle or long-lived clients (a chat, a WebSocket-like protocol,
 * HTTP keep-alive) keeps each for about a kilobyte (see
 * weft_spawn_when_readable). State the handler keeps from one call to the
 * next is its own (a table indexed by fd, say); it is not told which of
 * the three started it: it reads fd, and finds out. The server's shutdown
 * starts every waiting handler at once, cancelled, and the fd is closed
 * when that call returns without asking again. If the new task cannot be
 * made (no memory) the connection is closed as if it had not asked.
 * Returns 0, or WEFT_EINVAL when the calling task is not a weft_serve
 * handler's. */
WEFT_EXTERN int weft_serve_when_readable(int64_t deadline);

/* Options for weft_serve; zero-initialise. */
typedef struct weft_serve_opts {
    /* At most this many connections are handled at once; while at the limit
     * the server does not accept (connections queue in the kernel's
     * backlog). 0 = 512, nginx's worker_connections default. */
    size_t max_conns;
    /* Stack size of the connection tasks; 0 = the loop's default. */
    size_t stack_size;
} weft_serve_opts;

/* Suspension point. Serves the listening socket `lfd` (borrowed; not
 * closed) until cancelled: accepts connections and runs fn(fd, peer,
 * peer_len, arg) for each in a task of its own, at most opts->max_conns at
 * a time (opts may be NULL).
 *
 * Shutting down: when the calling task or an enclosing scope is cancelled
 * (or times out) the server stops accepting, then cancels every connection
 * task and waits for them all to end, closing their fds, before it returns.
 * So nothing it started outlives the call. A handler that wants to finish
 * its work in spite of the cancel can shield a scope.
 *
 * Out of resources: when accept fails with EMFILE, ENFILE, ENOBUFS or ENOMEM
 * (or a connection task cannot be spawned), the server sleeps and then
 * retries the accept, 5 ms at first, doubling up to 1 s while it keeps
 * failing, back to 5 ms after a success (Go's net/http does the same).
 * Nothing is lost: the connections wait in the backlog. It never spins, and
 * it recovers on the first retry after fds are freed. (libuv's alternative,
 * keeping a spare fd to accept-and-close with, sheds load that this waits
 * out; the backlog bounds what waits.)
 *
 * Returns only on error: WEFT_ECANCELED or WEFT_ETIMEDOUT for the shutdown
 * above; -errno for an accept error that retrying cannot fix (-EINVAL: lfd
 * is not listening, -EBADF, -ENOTSOCK), WEFT_ECLOSED if lfd is forgotten or
 * closed with weft_close while the server waits, or WEFT_EBUSY if another
 * task already waits to accept on lfd: in all these cases after shutting
 * the connection tasks down as above. WEFT_EINVAL at once if fn is NULL. */
WEFT_EXTERN int weft_serve(int lfd, const weft_serve_opts *opts, weft_conn_fn fn, void *arg);

/* ------------------------------------------------------------------ UDP */

/* Suspension point (it may resolve `host`). Makes a UDP socket bound to
 * `host`:`port` into *fd: `host` NULL binds every interface (as
 * weft_tcp_listen), `port` "0" a free port (see weft_sock_port). Returns as
 * weft_tcp_listen (without listen's errors). To talk to one peer only,
 * weft_connect the socket afterwards and use weft_read / weft_write. */
WEFT_EXTERN int weft_udp_bind(const char *host, const char *port, int *fd);

/* Suspension point. Sends the datagram `buf` (`len` bytes) to `to` from the
 * socket `fd` (`to` may be NULL on a connected socket), waiting while the
 * socket's send buffer is full. Datagrams are sent whole or not at all.
 * Returns len, or a negative code: -errno from sendto(2) (-EMSGSIZE for a
 * datagram too big, -ECONNREFUSED reported for an earlier datagram to a
 * port nobody listens on, -ENETUNREACH...), or one of weft_wait_writable's.
 * Never raises SIGPIPE. */
WEFT_EXTERN ssize_t weft_sendto(int fd, const void *buf, size_t len,
                                const struct sockaddr *to, socklen_t tolen);

/* Suspension point. Receives one datagram on `fd` into `buf`, waiting until
 * one comes. A datagram longer than `len` is cut to `len` bytes and the rest
 * discarded (as recvfrom(2) does). If `from` is non-NULL the sender's
 * address is stored there and its length in *fromlen (which holds from's
 * size on entry). Returns the byte count (0 for an empty datagram), or a
 * negative code: -errno from recvfrom(2) (e.g. -ECONNREFUSED after an ICMP
 * port unreachable), or one of weft_wait_readable's. */
WEFT_EXTERN ssize_t weft_recvfrom(int fd, void *buf, size_t len,
                                  struct sockaddr *from, socklen_t *fromlen);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_NET_H */
