/* The io_uring poller backend (liburing). It keeps epoll's contract with
 * io_uring's poll requests instead of an epoll set:
 *
 *  - watch(fd) arms one multishot IORING_OP_POLL_ADD for IN|OUT|RDHUP. A
 *    multishot poll is edge-triggered unless IORING_POLL_ADD_LEVEL is asked
 *    for: it posts a completion per wakeup of the fd, never again for
 *    readiness that has already been reported (measured on 6.18: data left
 *    unread posts nothing more; the next write posts one), which is exactly
 *    what src/core/watch.c expects of epoll's EPOLLET. Arming reports what is
 *    ready now, as EPOLL_CTL_ADD does. A multishot poll the kernel ends (no
 *    IORING_CQE_F_MORE, e.g. when the completion queue overflowed) is armed
 *    again, which reports any readiness it might have missed.
 *  - Every request's user_data names a registration, not just an fd: kind
 *    in the low 2 bits, fd or source slot above, and a generation in the
 *    high 32 bits. unwatch forgets the generation before the completion of
 *    the cancelled poll comes back, so late completions for a removed fd, or
 *    for an old fd whose number was reused, are dropped.
 *  - Sources (eventfd, signalfd) are level-triggered under epoll; here they
 *    are one-shot polls armed again after each ready(), which reports the
 *    source again at once if it is still readable: the same semantics.
 *  - wait(timeout) is one io_uring_enter: submit what is queued and wait
 *    for a completion, with the timeout passed in nanoseconds (the kernel's
 *    EXT_ARG; older kernels get a timeout request from liburing). wait(0)
 *    with nothing queued makes no system call: completions land in the
 *    shared ring on their own.
 *
 * Two differences from epoll that a caller can see. A poll request holds a
 * reference to the file, so unwatch submits the cancellation at once: the
 * fd's close then really closes it (the peer sees end of file; a removal
 * that loses a race with a wakeup is made again, see dispatch_fd); an fd
 * closed without weft_close / weft_fd_forget stays open until the loop ends
 * (under epoll it silently stops being watched; both are caller errors).
 * And where the kernel refuses io_uring (sysctl kernel.io_uring_disabled,
 * a seccomp filter, pre-5.1 kernels) init fails with the kernel's code
 * (-EPERM, -ENOSYS) and so does the loop's creation: there is no silent
 * fallback to epoll, since the caller asked for this backend by name. */
#include "internal.h"

#if defined(WEFT_HAVE_URING)
#include <liburing.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>

/* Room for 256 requests queued between two submits (watch, unwatch and
 * re-arms submit when it is full), and 4096 completions between two waits;
 * a multishot poll that finds the completion queue full is ended by the
 * kernel and armed again here, so overflowing loses nothing. */
enum { SQ_ENTRIES = 256, CQ_ENTRIES = 4096, BATCH = 128 };
/* A request's kind, in its tag's low 3 bits. A send's tag is the address
 * of its record on the sending task's stack (8-aligned) with KIND_SEND. */
enum { KIND_IGNORE = 0, KIND_FD = 1, KIND_SRC = 2, KIND_RECV = 3, KIND_SEND = 4 };

/* The provided buffers captured input lands in: NBUF of BUFSZ, one ring per
 * loop, lent to the kernel and given back once a reader has copied them
 * out. A connection holds one only while its bytes wait for their reader;
 * an idle one holds none. 256 x 4 KiB: 1 MiB of address space per loop,
 * its pages touched as the buffers are first used. Run out (more input
 * waiting unread than that), a socket's receive ends with ENOBUFS and its
 * reader reads the socket itself until it is empty again. */
enum { NBUF = 256, BUFSZ = 4096, BGID = 0 };

typedef struct uring_src { weft__source *src; uint32_t gen; } uring_src;
typedef struct done { uint64_t ud; int res; unsigned flags; } done;

/* A captured fd: its buffers not yet read (a list through buf_next, in
 * arrival order), and how its receive stands. */
typedef struct ucap {
    int16_t head, tail;  /* buffer ids, -1: none */
    uint16_t off;        /* bytes of head already taken */
    bool armed;          /* a multishot receive is in the kernel */
    bool direct;         /* the kernel refused it: its reader reads itself */
    bool eof;
    int err;             /* the receive's error, sticky */
} ucap;

/* A send in flight: on the stack of the task it suspends. */
typedef struct send_op {
    weft_task *t;
    int res;
    bool done;
} __attribute__((aligned(8))) send_op;

typedef struct uring_state {
    struct io_uring ring;
    uint32_t *fdgen;   /* each fd's current registration, 0 = not watched */
    size_t nfdgen;
    uring_src *srcs;   /* sources by slot; src NULL = free slot */
    size_t nsrcs;
    uint32_t gen;      /* the last generation handed out */
    done *backlog;     /* completions taken off a crowded ring by watch, */
    size_t nbacklog;   /* to dispatch at the next wait */
    uint64_t *rearm;   /* tags of multishot polls the kernel ended, to */
    size_t nrearm, caprearm;  /* arm again once the ring is empty */
    done batch[BATCH]; /* completions being dispatched: here, not on the
                          stack, since the wait runs on whichever task's
                          stack is current and 2 KiB there is a page more */
    bool deferred;     /* IORING_SETUP_DEFER_TASKRUN: completions appear only
                          when we enter the kernel asking for them */
    /* The completion engine (NULL br: not available here). */
    struct io_uring_buf_ring *br;
    char *bufs;
    uint16_t buf_len[NBUF];
    int16_t buf_next[NBUF];
    ucap *caps;        /* by fd */
    size_t ncaps;
    bool norecv;       /* the kernel refused a multishot receive: read directly */
    bool recv_seen;    /* ... and one has worked */
} uring_state;

static uint64_t tag(unsigned kind, size_t idx, uint32_t gen) {
    return (uint64_t)gen << 32 | (uint64_t)idx << 3 | kind;
}
static size_t tag_idx(uint64_t ud) { return (size_t)(ud >> 3 & 0x1fffffff); }

static uint32_t next_gen(uring_state *u) {
    if (++u->gen == 0) u->gen = 1;
    return u->gen;
}

/* A free submission entry, submitting what is queued when the ring is full.
 * NULL only if the kernel will not take the queued entries either. */
static struct io_uring_sqe *sqe_get(uring_state *u) {
    struct io_uring_sqe *s;
    for (int tries = 0; !(s = io_uring_get_sqe(&u->ring)); tries++)
        if (tries == 3 || io_uring_submit(&u->ring) < 0) return NULL;
    return s;
}

/* Queues a multishot poll of `fd` under a new generation; its tag. A
 * captured fd's input comes by its receive, so its poll asks for output
 * only (errors and hangups are always reported). */
static int arm_fd(uring_state *u, int fd, bool captured, uint64_t *ud) {
    struct io_uring_sqe *s = sqe_get(u);
    if (!s) return WEFT_EAGAIN;
    u->fdgen[fd] = next_gen(u);
    io_uring_prep_poll_multishot(s, fd, captured ? POLLOUT : POLLIN | POLLOUT | POLLRDHUP);
    io_uring_sqe_set_data64(s, *ud = tag(KIND_FD, (size_t)fd, u->fdgen[fd]));
    return 0;
}

/* Queues a one-shot poll of source slot i under a new generation. */
static int arm_src(uring_state *u, size_t i, uint64_t *ud) {
    struct io_uring_sqe *s = sqe_get(u);
    if (!s) return WEFT_EAGAIN;
    u->srcs[i].gen = next_gen(u);
    io_uring_prep_poll_add(s, u->srcs[i].src->fd, POLLIN);
    io_uring_sqe_set_data64(s, *ud = tag(KIND_SRC, i, u->srcs[i].gen));
    return 0;
}

/* Queues the cancellation of the request tagged `ud` (a poll, or any
 * other request); its own completion comes back as usual. */
static void cancel_queue(uring_state *u, uint64_t ud, bool poll) {
    struct io_uring_sqe *s = sqe_get(u);
    if (!s) return;  /* the request lives on, ignored, until the loop closes */
    if (poll) io_uring_prep_poll_remove(s, ud);
    else io_uring_prep_cancel64(s, ud, 0);
    io_uring_sqe_set_data64(s, tag(KIND_IGNORE, 0, 0));
    if (u->ring.features & IORING_FEAT_CQE_SKIP) io_uring_sqe_set_flags(s, IOSQE_CQE_SKIP_SUCCESS);
}

/* Cancels the poll tagged `ud`, now: it holds a reference to its file,
 * which the caller is about to close. Running the kernel's deferred work
 * (get_events) is what drops that reference before we return. */
static void cancel(uring_state *u, uint64_t ud) {
    cancel_queue(u, ud, true);
    io_uring_submit_and_get_events(&u->ring);
}

static bool captured(const weft_loop *L, int fd) {
    return (size_t)fd < L->nfds && L->fds[fd].capture;
}

/* Takes completions off the ring into the backlog until the ring is at
 * most half full and the kernel holds none back (its overflow list), so
 * that a poll armed now is not ended at once for want of room. */
static int make_room(weft_loop *L, uring_state *u) {
    while (io_uring_cq_ready(&u->ring) > CQ_ENTRIES / 2 || io_uring_cq_has_overflow(&u->ring)) {
        size_t n = io_uring_cq_ready(&u->ring);
        done *b = weft__realloc(L, u->backlog, (u->nbacklog + n) * sizeof *b);
        if (!b) return WEFT_ENOMEM;
        u->backlog = b;
        unsigned head, i = 0;
        struct io_uring_cqe *c;
        io_uring_for_each_cqe(&u->ring, head, c) {
            if (i == n) break;
            b[u->nbacklog + i++] = (done){ c->user_data, c->res, c->flags };
        }
        io_uring_cq_advance(&u->ring, i);
        u->nbacklog += i;
        if (io_uring_get_events(&u->ring) < 0) break;  /* moves the overflow list in */
    }
    return 0;
}

/* Submits what is queued and returns the error the request tagged `ud`
 * ended with at once, if it did: an fd that cannot be polled, or a bad one.
 * A poll that cannot be armed on a file without a poll method (a regular
 * file) completes at once with no IORING_CQE_F_MORE: reported as epoll
 * reports it, EPERM. A full ring would end a multishot poll the same way,
 * hence make_room first. The completion stays in the ring; the caller
 * forgets the generation so that draining drops it. */
static int submit_check(weft_loop *L, uring_state *u, uint64_t ud, bool multishot) {
    int err = make_room(L, u);
    if (!err) err = io_uring_submit_and_get_events(&u->ring);
    if (err < 0) return err;
    unsigned head;
    struct io_uring_cqe *c;
    io_uring_for_each_cqe(&u->ring, head, c) {
        if (c->user_data != ud) continue;
        if (c->res < 0) return c->res;
        if (multishot && !(c->flags & IORING_CQE_F_MORE)) return WEFT_EPERM;
    }
    return 0;
}


/* ------------------------------------------------- the completion engine
 *
 * A captured fd (weft__fd_capture) has a multishot receive in the kernel
 * from the first time its reader waits until weft__fd_forget: the kernel
 * moves each arrival into a provided buffer and posts it, and the reader
 * copies from there (take). Sends are IORING_OP_SENDMSG requests the task
 * waits on; they go to the kernel with the loop's next wait, batched with
 * every other task's, so a request and its response cost no system call
 * of their own. Where any piece is missing (no buffer ring: Linux < 5.19;
 * no multishot receive: < 6.0; buffers run out) the reader reads the
 * socket itself, as under epoll, and order is kept: a direct read happens
 * only with no receive in the kernel and nothing captured left. */

static void buffers_init(uring_state *u) {
    size_t rsize = NBUF * sizeof(struct io_uring_buf);
    void *r = mmap(NULL, rsize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) return;
    char *b = mmap(NULL, (size_t)NBUF * BUFSZ, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    struct io_uring_buf_reg reg = { .ring_addr = (uintptr_t)r, .ring_entries = NBUF, .bgid = BGID };
    if (b == MAP_FAILED || io_uring_register_buf_ring(&u->ring, &reg, 0) < 0) {
        munmap(r, rsize);
        if (b != MAP_FAILED) munmap(b, (size_t)NBUF * BUFSZ);
        return;
    }
    u->br = r;
    u->bufs = b;
    io_uring_buf_ring_init(u->br);
    for (int i = 0; i < NBUF; i++)
        io_uring_buf_ring_add(u->br, b + (size_t)i * BUFSZ, BUFSZ, (unsigned short)i,
                              io_uring_buf_ring_mask(NBUF), i);
    io_uring_buf_ring_advance(u->br, NBUF);
}

static void buffer_give(uring_state *u, unsigned bid) {
    io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * BUFSZ, BUFSZ, (unsigned short)bid,
                          io_uring_buf_ring_mask(NBUF), 0);
    io_uring_buf_ring_advance(u->br, 1);
}

static void cap_reset(uring_state *u, ucap *c) {
    for (int16_t b = c->head; b >= 0;) {
        int16_t next = u->buf_next[b];
        buffer_give(u, (unsigned)b);
        b = next;
    }
    *c = (ucap){ .head = -1, .tail = -1 };
}

static ucap *cap_of(weft_loop *L, uring_state *u, int fd) {
    if ((size_t)fd >= u->ncaps) {
        size_t n0 = u->ncaps;
        ucap *c = weft__fd_table_fit(L, u->caps, &u->ncaps, sizeof *c, fd);
        if (!c) return NULL;
        for (size_t i = n0; i < u->ncaps; i++) c[i] = (ucap){ .head = -1, .tail = -1 };
        u->caps = c;
    }
    return &u->caps[fd];
}

/* fd is to be captured: 0, or why it cannot be. A watched fd is polled
 * for everything so far: poll it for output only, under a new generation
 * (its receive will carry that one too). */
static int uring_capture(weft_loop *L, int fd) {
    uring_state *u = L->uring;
    if (!u->br || u->norecv) return WEFT_EINVAL;
    ucap *c = cap_of(L, u, fd);
    if (!c) return WEFT_ENOMEM;
    cap_reset(u, c);
    if ((size_t)fd >= u->nfdgen || !u->fdgen[fd]) return 0;
    cancel_queue(u, tag(KIND_FD, (size_t)fd, u->fdgen[fd]), true);
    uint64_t ud;
    if (arm_fd(u, fd, true, &ud)) {
        u->fdgen[fd] = 0;
        L->fds[fd].watched = false;  /* watched again at the next wait */
    }
    return 0;
}

static int uring_arm(weft_loop *L, int fd) {
    uring_state *u = L->uring;
    ucap *c = cap_of(L, u, fd);
    if (!c) return WEFT_ENOMEM;
    if (c->armed || c->eof || c->err || c->direct || u->norecv || !u->fdgen[fd]) return 0;
    struct io_uring_sqe *s = sqe_get(u);
    if (!s) return WEFT_EAGAIN;
    io_uring_prep_recv_multishot(s, fd, NULL, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = BGID;
    io_uring_sqe_set_data64(s, tag(KIND_RECV, (size_t)fd, u->fdgen[fd]));
    c->armed = true;
    return 0;
}

static ssize_t uring_take(weft_loop *L, int fd, void *buf, size_t len) {
    uring_state *u = L->uring;
    ucap *c = &u->caps[fd];  /* made by uring_capture */
    size_t got = 0;
    while (got < len && c->head >= 0) {
        unsigned b = (unsigned)c->head;
        size_t n = u->buf_len[b] - c->off;
        if (n > len - got) n = len - got;
        memcpy((char *)buf + got, u->bufs + (size_t)b * BUFSZ + c->off, n);
        got += n;
        c->off = (uint16_t)(c->off + n);
        if (c->off == u->buf_len[b]) {
            c->head = u->buf_next[b];
            if (c->head < 0) c->tail = -1;
            c->off = 0;
            buffer_give(u, b);
        }
    }
    bool ended = c->eof || c->err;
    if (c->head < 0) L->fds[fd].avail = ended;
    if (got) return (ssize_t)got;
    if (c->err) return c->err;
    if (c->eof) return 0;
    if (c->armed) return WEFT_EAGAIN;
    if (!c->direct && !u->norecv && ((size_t)fd >= u->nfdgen || !u->fdgen[fd]))
        return WEFT_EAGAIN;  /* never waited: the wait arms the receive */
    /* No receive in the kernel and nothing captured: whatever came is in
     * the socket, for the reader to read (avail says so to
     * weft__fd_known_empty), and its next wait arms again. */
    L->fds[fd].avail = true;
    return WEFT__DIRECT;
}

static void dispatch_recv(weft_loop *L, uring_state *u, const done *d) {
    size_t fd = tag_idx(d->ud);
    bool stale = fd >= u->nfdgen || u->fdgen[fd] != (uint32_t)(d->ud >> 32) || fd >= u->ncaps;
    bool buffer = d->flags & IORING_CQE_F_BUFFER;
    unsigned bid = d->flags >> IORING_CQE_BUFFER_SHIFT;
    if (stale) {
        if (buffer) buffer_give(u, bid);
        return;
    }
    ucap *c = &u->caps[fd];
    if (!(d->flags & IORING_CQE_F_MORE)) c->armed = false;
    unsigned ev = WEFT__IN;
    if (d->res > 0 && buffer) {
        u->recv_seen = true;
        u->buf_len[bid] = (uint16_t)d->res;
        u->buf_next[bid] = -1;
        if (c->tail >= 0) u->buf_next[c->tail] = (int16_t)bid;
        else c->head = (int16_t)bid;
        c->tail = (int16_t)bid;
    } else {
        if (buffer) buffer_give(u, bid);
        if (d->res == 0) c->eof = true;
        else if (d->res == -EINVAL || d->res == -EOPNOTSUPP) {
            /* Refused: a kernel without multishot receive (before 6.0),
             * if none ever worked here; else something about this socket. */
            c->direct = true;
            if (!u->recv_seen) u->norecv = true;
        }
        else if (d->res < 0 && d->res != -ENOBUFS && d->res != -ECANCELED) c->err = d->res;
        if (c->eof || c->err) ev |= WEFT__HUP;
    }
    L->fds[fd].avail = true;
    weft__fd_event(L, (int)fd, ev);
}

static ssize_t uring_send(weft_loop *L, weft_task *t, int fd, const struct iovec *iov, int n) {
    uring_state *u = L->uring;
    struct io_uring_sqe *s = sqe_get(u);
    if (!s) return WEFT__DIRECT;
    send_op op = { .t = t };
    struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
    uint64_t ud = (uint64_t)(uintptr_t)&op | KIND_SEND;
    io_uring_prep_sendmsg(s, fd, &m, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, ud);
    L->nwatch++;
    weft__awaits(t, WEFT_AWAIT_WRITABLE, (const void *)(intptr_t)fd);
    int err = weft__park(t, WEFT_FOREVER, WEFT__NOMARK);  /* marked below if reported */
    if (!op.done) {
        /* Cancelled, or a scope's deadline: the kernel may be sending from
         * iov right now. Ask it to stop, and wait for the answer. */
        cancel_queue(u, ud, false);
        while (!op.done) weft__park(t, WEFT_FOREVER, WEFT__NOCANCEL);
    }
    L->nwatch--;
    if (op.res == -ECANCELED && err < 0) {
        int c = weft__cancel_status(t, true);
        return c ? c : err;
    }
    return op.res;
}

static void dispatch_send(const done *d) {
    send_op *op = (send_op *)(uintptr_t)(d->ud & ~(uint64_t)7);
    op->res = d->res;
    op->done = true;
    weft__wake(op->t, 0);
}

/* ------------------------------------------------------------- the ops */

static int uring_init(weft_loop *L) {
    uring_state *u = weft__alloc(L, sizeof *u);
    if (!u) return WEFT_ENOMEM;
    memset(u, 0, sizeof *u);
    /* The kernel's work for our completions runs when we ask for them, on
     * our thread (DEFER_TASKRUN, Linux 6.1; it needs SINGLE_ISSUER: only
     * the loop's thread touches the ring), else at the next syscall without
     * interrupting us (COOP_TASKRUN, 5.19), else by interrupt. */
    static const unsigned tries[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int err = -EINVAL;
    for (size_t i = 0; i < sizeof tries / sizeof *tries && err == -EINVAL; i++) {
        struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE | tries[i], .cq_entries = CQ_ENTRIES };
        err = io_uring_queue_init_params(SQ_ENTRIES, &u->ring, &p);
        u->deferred = err == 0 && (tries[i] & IORING_SETUP_DEFER_TASKRUN);
    }
    if (err < 0) {
        weft__free(L, u);
        return err;
    }
    /* Each enter then skips looking the ring's fd up (Linux 5.18). */
    io_uring_register_ring_fd(&u->ring);
    buffers_init(u);
    L->uring = u;
    return 0;
}

static void uring_close(weft_loop *L) {
    uring_state *u = L->uring;
    if (!u) return;
    io_uring_queue_exit(&u->ring);  /* cancels every poll left */
    if (u->br) {
        munmap(u->br, NBUF * sizeof(struct io_uring_buf));
        munmap(u->bufs, (size_t)NBUF * BUFSZ);
    }
    weft__free(L, u->caps);
    weft__free(L, u->fdgen);
    weft__free(L, u->srcs);
    weft__free(L, u->backlog);
    weft__free(L, u->rearm);
    weft__free(L, u);
    L->uring = NULL;
}

static int uring_watch(weft_loop *L, int fd) {
    uring_state *u = L->uring;
    uint32_t *g = weft__fd_table_fit(L, u->fdgen, &u->nfdgen, sizeof *g, fd);
    if (!g) return WEFT_ENOMEM;
    u->fdgen = g;
    uint64_t ud;
    int err = arm_fd(u, fd, captured(L, fd), &ud);
    if (!err && (err = submit_check(L, u, ud, true))) u->fdgen[fd] = 0;
    return err;
}

static void uring_unwatch(weft_loop *L, int fd) {
    uring_state *u = L->uring;
    if ((size_t)fd >= u->nfdgen || !u->fdgen[fd]) return;
    uint64_t ud = tag(KIND_FD, (size_t)fd, u->fdgen[fd]);
    if ((size_t)fd < u->ncaps) {
        ucap *c = &u->caps[fd];
        if (c->armed) cancel_queue(u, tag(KIND_RECV, (size_t)fd, u->fdgen[fd]), false);
        cap_reset(u, c);
    }
    u->fdgen[fd] = 0;
    cancel(u, ud);
}

static int uring_add_source(weft_loop *L, weft__source *src) {
    uring_state *u = L->uring;
    size_t i = 0;
    while (i < u->nsrcs && u->srcs[i].src) i++;
    if (i == u->nsrcs) {
        uring_src *s = weft__realloc(L, u->srcs, (i + 1) * sizeof *s);
        if (!s) return WEFT_ENOMEM;
        u->srcs = s;
        u->nsrcs = i + 1;
    }
    u->srcs[i].src = src;
    uint64_t ud;
    int err = arm_src(u, i, &ud);
    if (!err) err = submit_check(L, u, ud, false);
    if (err) u->srcs[i] = (uring_src){ 0 };
    return err;
}

static void uring_del_source(weft_loop *L, weft__source *src) {
    uring_state *u = L->uring;
    for (size_t i = 0; i < u->nsrcs; i++) {
        if (u->srcs[i].src != src) continue;
        uint64_t ud = tag(KIND_SRC, i, u->srcs[i].gen);
        u->srcs[i] = (uring_src){ 0 };
        cancel(u, ud);
        return;
    }
}

/* ------------------------------------------------------------ the wait */

/* A multishot poll ended for want of room in the ring is armed again only
 * once the ring is drained: armed at once, while the ring is still full, its
 * first completion (whatever is ready now) would end it again, and with
 * thousands of idle writable sockets that is a livelock (measured: 10,000
 * connections on one loop spun re-arming forever). */
static void rearm_later(weft_loop *L, uring_state *u, uint64_t ud) {
    if (u->nrearm == u->caprearm) {
        size_t n = u->caprearm ? 2 * u->caprearm : 64;
        uint64_t *r = weft__realloc(L, u->rearm, n * sizeof *r);
        if (!r) {  /* arm now: a livelock risk beats a lost fd */
            int fd = (int)tag_idx(ud);
            if (arm_fd(u, fd, captured(L, fd), &ud)) u->fdgen[fd] = 0;
            return;
        }
        u->rearm = r;
        u->caprearm = n;
    }
    u->rearm[u->nrearm++] = ud;
}

static void rearm_now(weft_loop *L, uring_state *u) {
    size_t n = u->nrearm;
    u->nrearm = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t ud = u->rearm[i];
        int fd = (int)tag_idx(ud);
        if (u->fdgen[fd] != (uint32_t)(ud >> 32)) continue;  /* unwatched since */
        if (arm_fd(u, fd, captured(L, fd), &ud)) u->fdgen[fd] = 0;
    }
}

static void dispatch_fd(weft_loop *L, uring_state *u, const done *d) {
    size_t fd = tag_idx(d->ud);
    if (fd >= u->nfdgen || u->fdgen[fd] != (uint32_t)(d->ud >> 32)) {  /* stale */
        /* A removal that met a wakeup in flight fails, and the poll lives
         * on, holding its file: the fd's close would not reach the peer (a
         * child would never read the end of its stdin). Its next
         * completion still says MORE: remove it again. */
        if (d->res >= 0 && (d->flags & IORING_CQE_F_MORE)) cancel(u, d->ud);
        return;
    }
    unsigned bits = WEFT__IN | WEFT__OUT | WEFT__HUP;  /* an error: let the read or write find it */
    if (d->res >= 0) {
        bits = 0;
        if (d->res & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) bits |= WEFT__IN;
        if (d->res & (POLLOUT | POLLHUP | POLLERR)) bits |= WEFT__OUT;
        if (d->res & (POLLRDHUP | POLLHUP | POLLERR)) bits |= WEFT__HUP;
        if (!(d->flags & IORING_CQE_F_MORE)) rearm_later(L, u, d->ud);
    }
    weft__fd_event(L, (int)fd, bits);
}

static void dispatch_src(weft_loop *L, uring_state *u, const done *d) {
    size_t i = tag_idx(d->ud);
    if (i >= u->nsrcs || u->srcs[i].gen != (uint32_t)(d->ud >> 32)) return;  /* stale */
    weft__source *src = u->srcs[i].src;
    src->ready(L, src);
    uint64_t ud;  /* level-triggered: ask again, unless ready() removed it */
    if (i < u->nsrcs && u->srcs[i].src == src && arm_src(u, i, &ud)) u->srcs[i] = (uring_src){ 0 };
}

/* Takes completions off the ring a batch at a time, releasing the ring
 * before dispatching: fd events wake tasks, and a source's ready() may add
 * or remove sources. */
static void dispatch(weft_loop *L, uring_state *u, const done *d) {
    unsigned kind = d->ud & 7;
    if (kind == KIND_FD) dispatch_fd(L, u, d);
    else if (kind == KIND_RECV) dispatch_recv(L, u, d);
    else if (kind == KIND_SEND) dispatch_send(d);
    else if (kind == KIND_SRC) dispatch_src(L, u, d);
}

static void drain(weft_loop *L, uring_state *u) {
    if (u->nbacklog) {  /* first, and taken whole: dispatching may add to it */
        done *b = u->backlog;
        size_t nb = u->nbacklog;
        u->backlog = NULL;
        u->nbacklog = 0;
        for (size_t i = 0; i < nb; i++) dispatch(L, u, &b[i]);
        weft__free(L, b);
    }
    done *batch = u->batch;
    unsigned n;
    do {
        unsigned head;
        struct io_uring_cqe *c;
        n = 0;
        io_uring_for_each_cqe(&u->ring, head, c) {
            batch[n++] = (done){ c->user_data, c->res, c->flags };
            if (n == BATCH) break;
        }
        io_uring_cq_advance(&u->ring, n);
        for (unsigned i = 0; i < n; i++) dispatch(L, u, &batch[i]);
    } while (n == BATCH);
}

static void uring_wait(weft_loop *L, int64_t timeout) {
    uring_state *u = L->uring;
    struct io_uring_cqe *cqe;
    if (timeout == 0 || u->nbacklog || io_uring_cq_ready(&u->ring)) {
        /* Enter only to submit, or to have the kernel move completions it
         * held back for want of room into the ring; or, deferred, to have
         * it post any at all (as epoll_wait(0) would be a call too). */
        if (u->deferred || io_uring_sq_ready(&u->ring) || io_uring_cq_has_overflow(&u->ring))
            io_uring_submit_and_get_events(&u->ring);
    } else {
        struct __kernel_timespec ts = { timeout / WEFT_SECOND, timeout % WEFT_SECOND };
        /* -ETIME, -EINTR: nothing came, or a signal did; drain what there is. */
        io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, timeout < 0 ? NULL : &ts, NULL);
    }
    drain(L, u);
    if (u->nrearm && !io_uring_cq_ready(&u->ring) && !io_uring_cq_has_overflow(&u->ring)) rearm_now(L, u);
}

const weft__poller weft__poller_uring = {
    "uring", uring_init, uring_close, uring_watch, uring_unwatch,
    uring_add_source, uring_del_source, uring_wait,
    uring_capture, uring_arm, uring_take, uring_send,
};

#else
/* Built without liburing: NULL ops, which choose_poller reads as "not
 * available" (WEFT_BACKEND_URING gives WEFT_EINVAL). */
const weft__poller weft__poller_uring = { "uring", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
#endif
