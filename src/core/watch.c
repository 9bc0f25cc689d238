/* The fd watch table: which task waits on which fd, in which direction, and
 * the edges that came while nobody waited. The core owns it, as Redis's ae.c
 * owns its fd table: the poller reports (fd, events) here and this file wakes
 * the tasks; the io layer's reads and writes (src/io/fd.c) wait through
 * weft__fd_wait.
 *
 * The table is indexed by fd number. The poller watches an fd edge-triggered
 * from its first wait until it is forgotten, so a wait costs no system call
 * of its own; an edge that came while nobody waited in that direction is
 * kept in `ready`, so the next wait returns at once and no edge is lost.
 */
#include "internal.h"

#include <string.h>
#include <sys/socket.h>

void *weft__fd_table_fit(weft_loop *L, void *table, size_t *n, size_t elem, int fd) {
    if ((size_t)fd < *n) return table;
    size_t cap = *n ? *n : 64;
    while (cap <= (size_t)fd) cap *= 2;
    char *v = weft__realloc(L, table, cap * elem);
    if (!v) return NULL;
    memset(v + *n * elem, 0, (cap - *n) * elem);
    *n = cap;
    return v;
}

/* The state of `fd`, growing the table as needed; NULL on ENOMEM. */
static weft__fd *fd_state(weft_loop *L, int fd) {
    weft__fd *fds = weft__fd_table_fit(L, L->fds, &L->nfds, sizeof *fds, fd);
    if (!fds) return NULL;
    L->fds = fds;
    return &fds[fd];
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

/* Starts watching fd: the poller's first report is whatever is ready now,
 * so a stream socket starts as known empty until that report says
 * otherwise (a connect waited for writable says nothing of input). */
static int watch(weft_loop *L, weft__fd *st, int fd) {
    int err = weft__poll_watch(L, fd);
    if (err) return err;
    st->watched = true;
    int type = 0;
    socklen_t tlen = sizeof type;
    st->stream = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_STREAM;
    st->drained = st->stream;
    st->hup = false;
    if (WEFT_UNLIKELY(L->dbg)) weft__track_fd(L, fd);
    return 0;
}

int weft__fd_wait(int fd, int dir, int64_t deadline, const char *fn) {
    weft_task *t;
    int err = weft__enter_as(&t, fn);
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
    if (!st->watched && (err = watch(L, st, fd))) return err;
    if (dir == 0 && st->capture && (err = L->poller->arm(L, fd))) return err;
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

int weft__fd_defer(weft_loop *L, weft_task *t, int fd) {
    weft__fd *st = fd_state(L, fd);
    if (!st) return WEFT_ENOMEM;
    if (st->waiter[0]) return WEFT_EBUSY;
    /* Start now unless input is known absent: an edge nobody used, or one
     * used by a wait whose caller then never read (a deadline or a cancel
     * came first), leaves `drained` down; the poller will not report that
     * input again. Only a stream socket is ever known drained. */
    if ((st->ready & WEFT__IN) || (st->capture ? st->avail : st->watched && !st->drained)) return 1;
    int err;
    if (!st->watched && (err = watch(L, st, fd))) return err;
    if (st->capture && (err = L->poller->arm(L, fd))) return err;
    st->waiter[0] = t;
    L->nwatch++;
    return 0;
}

void weft__fd_used(weft_loop *L, int fd) {
    if (fd >= 0 && (size_t)fd < L->nfds) L->fds[fd].ready &= (unsigned char)~WEFT__IN;
}

void weft__fd_undefer(weft_loop *L, weft_task *t, int fd, bool used) {
    if (fd < 0 || (size_t)fd >= L->nfds || L->fds[fd].waiter[0] != t) return;
    L->fds[fd].waiter[0] = NULL;
    L->nwatch--;
    if (used) weft__fd_used(L, fd);
}

void weft__fd_forget(int fd) {
    weft_loop *L = weft__tls_loop;
    if (!L || fd < 0 || (size_t)fd >= L->nfds) return;
    weft__fd *st = &L->fds[fd];
    for (int dir = 0; dir < 2; dir++)
        if (st->waiter[dir]) weft__wake(st->waiter[dir], WEFT_ECLOSED);
    if (st->watched) weft__poll_unwatch(L, fd);
    if (WEFT_UNLIKELY(L->dbg) && st->watched) weft__untrack_fd(L, fd);
    st->watched = false;
    st->ready = 0;
    st->drained = st->hup = st->capture = st->avail = false;
}

/* Only for SOCK_STREAM: a short read of a datagram or a terminal line says
 * nothing about what else is queued. */
bool weft__fd_known_empty(int fd) {
    weft_loop *L = weft__tls_loop;
    if (!L || fd < 0 || (size_t)fd >= L->nfds) return false;
    weft__fd *st = &L->fds[fd];
    if (st->capture) return !st->avail;
    return st->drained && !(st->ready & WEFT__IN);
}

bool weft__fd_input_unknown(int fd) {
    weft_loop *L = weft__tls_loop;
    if (!L || fd < 0) return false;
    if ((size_t)fd >= L->nfds) return true;
    weft__fd *st = &L->fds[fd];
    if (st->capture) return !st->avail;  /* waiting is what starts the capture */
    return !st->watched || weft__fd_known_empty(fd);
}

void weft__fd_note_read(int fd, ssize_t n, size_t len) {
    weft_loop *L = weft__tls_loop;
    if (!L || fd < 0 || (size_t)fd >= L->nfds) return;
    weft__fd *st = &L->fds[fd];
    st->drained = st->stream && !st->hup && ((n > 0 && (size_t)n < len) || n == -EAGAIN);
}

/* ------------------------------------------------- the completion engine */

int weft__fd_capture(int fd) {
    weft_loop *L = weft__tls_loop;
    if (!L || fd < 0 || !L->poller->capture) return 0;
    weft__fd *st = fd_state(L, fd);
    if (!st) return WEFT_ENOMEM;
    if (st->capture) return 0;
    int err = L->poller->capture(L, fd);
    if (err) return err == WEFT_ENOMEM ? err : 0;
    st->capture = true;
    st->avail = false;
    return 0;
}

bool weft__fd_captured(int fd) {
    weft_loop *L = weft__tls_loop;
    return L && fd >= 0 && (size_t)fd < L->nfds && L->fds[fd].capture && L->fds[fd].avail;
}

ssize_t weft__fd_take(int fd, void *buf, size_t len, const char *fn) {
    weft_loop *L = weft__tls_loop;
    if (!L || fd < 0 || (size_t)fd >= L->nfds || !L->fds[fd].capture) return WEFT__DIRECT;
    for (;;) {
        ssize_t n = L->poller->take(L, fd, buf, len);
        if (n != WEFT_EAGAIN) return n;
        int err = weft__fd_wait(fd, 0, WEFT_FOREVER, fn);
        if (err) return err;
    }
}

ssize_t weft__fd_send(int fd, const struct iovec *iov, int n) {
    weft_loop *L = weft__tls_loop;
    if (!L || fd < 0 || (size_t)fd >= L->nfds || !L->fds[fd].capture || !L->cur) return WEFT__DIRECT;
    /* A suspension point: a cancellation that came while the last send
     * completed is reported before another starts. */
    int err = weft__checkpoint(L->cur);
    if (err) return err;
    return L->poller->send(L, L->cur, fd, iov, n);
}
