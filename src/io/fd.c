/* Waiting on file descriptors, and the reads and writes built on it.
 *
 * The loop keeps a small state per fd (indexed by fd number): the task
 * waiting in each direction and the edges that came while nobody waited.
 * The poller watches an fd edge-triggered from its first wait until it is
 * forgotten, so a wait costs no system call of its own; every read or write
 * here tries the system call first and waits only on EAGAIN, the way an
 * edge-triggered loop must (and the cheap way: on a busy connection the
 * bytes are usually there already).
 */
#include "internal.h"
#include "io_internal.h"

#include "weft/io.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The state of `fd`, growing the table as needed; NULL on ENOMEM. */
static weft__fd *fd_state(weft_loop *L, int fd) {
    if ((size_t)fd >= L->nfds) {
        size_t n = L->nfds ? L->nfds : 64;
        while (n <= (size_t)fd) n *= 2;
        weft__fd *fds = weft__realloc(L, L->fds, n * sizeof *fds);
        if (!fds) return NULL;
        memset(fds + L->nfds, 0, (n - L->nfds) * sizeof *fds);
        L->fds = fds;
        L->nfds = n;
    }
    return &L->fds[fd];
}

void weft__fd_event(weft_loop *L, int fd, unsigned events) {
    if ((size_t)fd >= L->nfds) return;
    weft__fd *st = &L->fds[fd];
    st->ready |= (unsigned char)(events & (WEFT__IN | WEFT__OUT));
    if (events & WEFT__IN) st->drained = false;
    if (events & WEFT__HUP) st->hup = true;
    for (int dir = 0; dir < 2; dir++)
        if ((events & (1u << dir)) && st->waiter[dir]) weft__wake(st->waiter[dir], 0);
}

static int wait_fd(int fd, int dir, int64_t deadline) {
    weft_task *t;
    int err = weft__enter_as(&t, dir ? "weft_wait_writable" : "weft_wait_readable");
    if (!err) err = weft__checkpoint(t);
    if (err) return err;
    if (fd < 0) return -EBADF;
    weft_loop *L = t->loop;
    weft__fd *st = fd_state(L, fd);
    if (!st) return WEFT_ENOMEM;
    if (st->waiter[dir]) return WEFT_EBUSY;
    unsigned bit = 1u << dir;
    if (st->ready & bit) {  /* an edge nobody was waiting for */
        st->ready &= (unsigned char)~bit;
        return 0;
    }
    if (!st->watched) {
        if ((err = weft__poll_watch(L, fd))) return err;
        st->watched = true;
        /* Watching starts with an edge for whatever is ready now. */
        int type = 0;
        socklen_t tlen = sizeof type;
        st->stream = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_STREAM;
        st->drained = st->hup = false;
        if (WEFT_UNLIKELY(L->dbg)) weft__track_fd(L, fd);
    }
    st->waiter[dir] = t;
    L->nwatch++;
    weft__awaits(t, dir ? WEFT_AWAIT_WRITABLE : WEFT_AWAIT_READABLE, (const void *)(intptr_t)fd);
    err = weft__park(t, deadline, 0);
    L->nwatch--;
    st = &L->fds[fd];  /* the table may have moved while we slept */
    st->waiter[dir] = NULL;
    if (err == 0) st->ready &= (unsigned char)~bit;  /* this wake used the edge */
    if (err == WEFT__EXPIRED) err = WEFT_ETIMEDOUT;
    return err;
}

int weft_wait_readable(int fd, int64_t deadline) { return wait_fd(fd, 0, deadline); }
int weft_wait_writable(int fd, int64_t deadline) { return wait_fd(fd, 1, deadline); }

/* The entry of a read or write: like every suspension point, report a
 * cancellation before doing anything. */
static int enter_io_as(const char *fn) {
    weft_task *t;
    int err = weft__enter_as(&t, fn);
    return err ? err : weft__checkpoint(t);
}
#define enter_io() enter_io_as(__func__)  /* names the public call */

/* A stream socket whose last read came up short, with no IN edge since, is
 * known empty: waiting first saves a read that would only say EAGAIN (on an
 * echo server, one system call in three). Only for SOCK_STREAM: a short read
 * of a datagram or a terminal line says nothing about what else is queued. */
static bool known_empty(int fd) {
    weft_loop *L = weft__tls_loop;
    if ((size_t)fd >= L->nfds) return false;
    weft__fd *st = &L->fds[fd];
    return st->drained && !(st->ready & WEFT__IN);
}

static void note_read(int fd, ssize_t n, size_t len) {
    weft_loop *L = weft__tls_loop;
    if ((size_t)fd >= L->nfds) return;
    weft__fd *st = &L->fds[fd];
    st->drained = st->stream && !st->hup && n > 0 && (size_t)n < len;
}

ssize_t weft_read(int fd, void *buf, size_t len) {
    int err0 = enter_io();
    if (err0) return err0;
    if (fd >= 0 && known_empty(fd) && (err0 = weft_wait_readable(fd, WEFT_FOREVER))) return err0;
    for (;;) {
        ssize_t n = weft__sys.read(fd, buf, len);
        if (n >= 0) {
            note_read(fd, n, len);
            return n;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
        int err = weft_wait_readable(fd, WEFT_FOREVER);
        if (err) return err;
    }
}

/* send with MSG_NOSIGNAL where fd is a socket, so a gone peer is -EPIPE and
 * not a process-killing SIGPIPE; write(2) for anything else. */
static ssize_t write_once(int fd, const void *buf, size_t len) {
    ssize_t n = weft__sys.send(fd, buf, len, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = weft__sys.write(fd, buf, len);
    return n;
}

ssize_t weft_write_some(int fd, const void *buf, size_t len) {
    int err0 = enter_io();
    if (err0) return err0;
    for (;;) {
        ssize_t n = write_once(fd, buf, len);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
        int err = weft_wait_writable(fd, WEFT_FOREVER);
        if (err) return err;
    }
}

ssize_t weft_write(int fd, const void *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = weft_write_some(fd, (const char *)buf + done, len - done);
        if (n < 0) return n;
        done += (size_t)n;
    }
    return (ssize_t)len;
}

int weft_fd_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
    int fdfl = fcntl(fd, F_GETFD);
    if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0) return -errno;
    return 0;
}

void weft_fd_forget(int fd) {
    weft_loop *L = weft__tls_loop;
    if (!L || fd < 0 || (size_t)fd >= L->nfds) return;
    weft__fd *st = &L->fds[fd];
    for (int dir = 0; dir < 2; dir++)
        if (st->waiter[dir]) weft__wake(st->waiter[dir], WEFT_ECLOSED);
    if (st->watched) weft__poll_unwatch(L, fd);
    if (WEFT_UNLIKELY(L->dbg) && st->watched) weft__untrack_fd(L, fd);
    st->watched = false;
    st->ready = 0;
    st->drained = st->hup = false;
}

int weft_close(int fd) {
    weft_fd_forget(fd);
    return close(fd) == 0 ? 0 : -errno;
}
