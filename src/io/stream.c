/* Buffered streams over a transport (include/weft/stream.h), and the
 * transport for file descriptors.
 *
 * The read side is one contiguous buffer, rbuf[rpos, rend): delimiter search
 * and peeking want the bytes in one piece. Each fill first moves what is
 * buffered to the front (usually a partial line, a few bytes), so the free
 * space is all at the end, then does one transport read into it. A buffer of
 * the first size (RBUF_MIN) that is read empty goes back to a per-loop cache
 * at once, and a fill with no buffer waits for input (the transport's
 * wait_readable) before it takes one: so a connection that waits holds no
 * read buffer (nginx and h2o do the same), and the next connection to read
 * gets a hot one.
 *
 * The write side is a list of chunks. A drain hands the transport pointers
 * into the chunks and suspends; meanwhile another task may append, and a
 * single growable array would move under the pending write. Chunks never
 * move: an append fills the tail's free space and links a new chunk for the
 * rest, and a drain frees each chunk once it is sent, so an idle stream
 * holds no output memory.
 *
 * Cancel safety comes from the transport's contract (a cancelled read_some
 * consumed nothing) and from the reads never copying into the caller's
 * buffer until they can complete: until then the bytes sit in rbuf, where
 * the next read finds them.
 */
#include "core_iface.h"
#include "io_iface.h"

#include "weft/io.h"
#include "weft/stream.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The read buffer's first size: a connection that trades small messages
 * never holds more than a page; bulk reads double it up to the limit. */
#define RBUF_MIN 4096
/* Read buffers of RBUF_MIN kept per loop (256 KiB at most). */
#define RBUF_CACHE 64
/* A read of at least this much into an empty buffer goes straight to the
 * caller's memory, saving a copy. */
#define DIRECT_READ RBUF_MIN
/* The smallest output chunk: many small writes share one allocation. */
#define WCHUNK (16 * 1024)
/* Chunks handed to one writev_some call (IOV_MAX is 1024; 64 chunks are at
 * least 1 MiB, more than any socket takes at once). */
#define WIOV 64

typedef struct chunk {
    struct chunk *next;
    size_t off, len, cap;   /* data[off, len) is unsent */
    char data[];
} chunk;

/* Invariants: rpos <= rend <= rcap; rbuf is NULL iff rcap == 0. unsent is
 * the sum of (len - off) over the chunks, none of which is empty. reading /
 * writing are set while a task is inside a read-side / drain-side
 * suspension point: only that task moves rbuf or frees chunks. */
struct weft_stream {
    const weft_transport *ops;
    void *ctx;
    char *rbuf;
    size_t rcap, rpos, rend, limit;
    int rerr;                   /* sticky transport read error */
    bool eof, reading;
    chunk *whead, *wtail;
    size_t unsent;
    int werr;                   /* sticky transport write error */
    bool wshut, writing;
    weft_loop *loop;            /* the loop it was made on */
    weft__mem mem;              /* that loop's allocator, kept: the stream
                                   may be freed after the loop ended */
    weft__track *trk;           /* debug mode's leak record, else NULL */
};

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }
static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* Transport errors that say something about the connection, and so stick;
 * the others say something about this one call. */
static bool sticky(ssize_t err) {
    return err != WEFT_ECANCELED && err != WEFT_ETIMEDOUT && err != WEFT_ENOMEM &&
           err != WEFT_EBUSY && err != WEFT_ENOTASK && err != WEFT_EWRONGLOOP;
}

/* ------------------------------------------------------- making, freeing */

int weft_stream_new(weft_stream **out, const weft_transport *ops, void *ctx,
                    const weft_stream_opts *opts) {
    weft_loop *L = weft_loop_current();
    if (!L) return WEFT_ENOTASK;
    if (!ops || !ops->read_some || !ops->writev_some || !ops->close) return WEFT_EINVAL;
    weft__mem mem = weft__mem_here();
    weft_stream *s = weft__mem_alloc(mem, sizeof *s);
    if (!s) return WEFT_ENOMEM;
    memset(s, 0, sizeof *s);
    s->ops = ops;
    s->ctx = ctx;
    s->limit = opts && opts->limit ? opts->limit : WEFT_STREAM_LIMIT;
    s->loop = L;
    s->mem = mem;
    weft__leak_watch(&s->trk, "stream", "weft_stream_close / weft_stream_free", s);
    *out = s;
    return 0;
}

static void chunk_free(weft_stream *s, chunk *c);

/* Frees the stream's memory, leaving the transport alone. */
static void release(weft_stream *s) {
    weft__leak_unwatch(&s->trk);
    for (chunk *c = s->whead, *next; c; c = next) {
        next = c->next;
        chunk_free(s, c);
    }
    weft__mem_free(s->mem, s->rbuf);
    weft__mem_free(s->mem, s);
}

int weft_stream_free(weft_stream *s) {
    if (!s) return 0;
    if (s->reading || s->writing) return WEFT_EBUSY;
    int err = s->ops->close(s->ctx);
    release(s);
    return err;
}

int weft_stream_close(weft_stream *s) {
    if (!s) return 0;
    if (s->reading || s->writing) return WEFT_EBUSY;
    int err = 0;
    if (s->unsent) err = s->werr ? s->werr : weft_stream_drain(s);
    int cerr = weft_stream_free(s);
    return err ? err : cerr;
}

void *weft__stream_ctx(const weft_stream *s, const weft_transport *ops) {
    return s && s->ops == ops ? s->ctx : NULL;
}

/* The checks every suspension point starts with: a stream is bound to the
 * loop it was made on. */
static int enter(weft_stream *s) { return weft__enter_on(s->loop, "weft_stream_*"); }

/* --------------------------------------------------- the buffer cache */

typedef struct rbuf_cache {
    weft__mem mem;
    size_t n;
    char *b[RBUF_CACHE];
} rbuf_cache;

static void cache_close(weft_loop *L, void *state) {
    (void)L;
    rbuf_cache *c = state;
    while (c->n) weft__mem_free(c->mem, c->b[--c->n]);
    weft__mem_free(c->mem, c);
}

static const weft__local_key cache_key = { cache_close };

/* The loop's cache, made on first use; NULL if it cannot be. Called only in
 * the stream's loop (the read side runs in its tasks). */
static rbuf_cache *cache_of(weft_stream *s) {
    rbuf_cache *c = weft__local_get(s->loop, &cache_key);
    if (c) return c;
    if (!(c = weft__mem_alloc(s->mem, sizeof *c))) return NULL;
    c->mem = s->mem;
    c->n = 0;
    if (!weft__local_set(s->loop, &cache_key, c)) return c;
    weft__mem_free(s->mem, c);
    return NULL;
}

/* Gives a block back: one of RBUF_MIN bytes (a read buffer, or a small
 * output chunk) to the cache, any other (smaller for a short read, or grown
 * for a long one) to the allocator. The cache only on the stream's own
 * loop: weft_stream_consume is not a suspension point, and may come from
 * anywhere. */
static void block_give(weft_stream *s, void *b, size_t size) {
    bool home = weft_loop_current() == s->loop;
    rbuf_cache *c = size == RBUF_MIN && home ? cache_of(s) : NULL;
    if (c && c->n < RBUF_CACHE) c->b[c->n++] = b;
    else weft__mem_free(s->mem, b);
}

static void rbuf_release(weft_stream *s) {
    block_give(s, s->rbuf, s->rcap);
    s->rbuf = NULL;
    s->rcap = 0;
}

/* A block of RBUF_MIN: the cache's hottest, or a new one. The cache only
 * on the stream's own loop, as block_give's: a stream written after its
 * loop ended (or from elsewhere) allocates. */
static char *rbuf_take(weft_stream *s) {
    rbuf_cache *c = weft_loop_current() == s->loop ? weft__local_get(s->loop, &cache_key) : NULL;
    if (c && c->n) return c->b[--c->n];
    return weft__mem_alloc(s->mem, RBUF_MIN);
}

/* An output chunk: a small one is a cached block, so a response costs the
 * allocator nothing. */
#define CHUNK_SMALL (RBUF_MIN - sizeof(chunk))
static chunk *chunk_new(weft_stream *s, size_t need) {
    size_t cap = need <= CHUNK_SMALL ? CHUNK_SMALL : max_sz(WCHUNK, need);
    if (cap > SIZE_MAX - sizeof(chunk)) return NULL;
    chunk *c = cap == CHUNK_SMALL ? (chunk *)rbuf_take(s) : weft__mem_alloc(s->mem, sizeof(chunk) + cap);
    if (c) *c = (chunk){ .cap = cap };
    return c;
}

static void chunk_free(weft_stream *s, chunk *c) { block_give(s, c, sizeof *c + c->cap); }

/* ------------------------------------------------------------- read side */

size_t weft_stream_buffered(const weft_stream *s) { return s->rend - s->rpos; }
int weft_stream_at_eof(const weft_stream *s) { return s->eof && s->rpos == s->rend; }

/* enter(), and claims the read side. Pair with s->reading = false. */
static int read_begin(weft_stream *s) {
    int err = enter(s);
    if (!err && s->reading) err = WEFT_EBUSY;
    if (!err) s->reading = true;
    return err;
}

/* Drops n buffered bytes; an emptied buffer goes back (rbuf_release). */
static void consume(weft_stream *s, size_t n) {
    s->rpos += n;
    if (s->rpos < s->rend) return;
    s->rpos = s->rend = 0;
    if (s->rbuf) rbuf_release(s);
}

/* Copies n buffered bytes to buf and consumes them. */
static void take(weft_stream *s, void *buf, size_t n) {
    if (n) memcpy(buf, s->rbuf + s->rpos, n);
    consume(s, n);
}

/* One transport read, keeping the end-of-stream and sticky-error state:
 * the count, WEFT_EOF, or an error. */
static ssize_t transport_read(weft_stream *s, void *buf, size_t len) {
    if (s->eof) return WEFT_EOF;
    if (s->rerr) return s->rerr;
    ssize_t n = s->ops->read_some(s->ctx, buf, len);
    if (n == 0) {
        s->eof = true;
        return WEFT_EOF;
    }
    if (n < 0 && sticky(n)) s->rerr = (int)n;
    return n;
}

/* Moves the buffered bytes to the front and makes the buffer hold at least
 * `want` bytes, doubling from RBUF_MIN but to no more than max(want, bound). */
static int reserve(weft_stream *s, size_t want, size_t bound) {
    size_t have = s->rend - s->rpos;
    if (s->rpos) {
        memmove(s->rbuf, s->rbuf + s->rpos, have);
        s->rpos = 0;
        s->rend = have;
    }
    if (s->rcap >= want && s->rcap > have) return 0;
    size_t cap = s->rcap ? s->rcap : RBUF_MIN;
    while (cap < want && cap <= SIZE_MAX / 2) cap *= 2;
    cap = min_sz(cap, max_sz(want, bound));
    char *b = !s->rbuf && cap == RBUF_MIN ? rbuf_take(s) : weft__mem_grow(s->mem, s->rbuf, cap);
    if (!b) return WEFT_ENOMEM;
    s->rbuf = b;
    s->rcap = cap;
    return 0;
}

/* One transport read into the buffer, made to hold `want` (> buffered)
 * bytes first, as reserve(). The count, WEFT_EOF, or an error. */
static ssize_t fill(weft_stream *s, size_t want, size_t bound) {
    if (s->eof) return WEFT_EOF;
    if (s->rerr) return s->rerr;
    int err;
    /* Nothing buffered: wait for input before taking a buffer. */
    if (!s->rbuf && s->ops->wait_readable && (err = s->ops->wait_readable(s->ctx))) return err;
    err = reserve(s, want, bound);
    if (err) return err;
    ssize_t n = transport_read(s, s->rbuf + s->rend, s->rcap - s->rend);
    if (n > 0) s->rend += (size_t)n;
    return n;
}

static ssize_t read_some(weft_stream *s, void *buf, size_t len) {
    if (len == 0) return 0;
    if (s->rpos == s->rend) {
        bool direct = len >= DIRECT_READ;
        ssize_t n = direct ? transport_read(s, buf, len) : fill(s, 1, s->limit);
        if (n == WEFT_EOF) return 0;
        if (n < 0 || direct) return n;
    }
    size_t n = min_sz(len, weft_stream_buffered(s));
    take(s, buf, n);
    return (ssize_t)n;
}

ssize_t weft_stream_read(weft_stream *s, void *buf, size_t len) {
    int err = read_begin(s);
    if (err) return err;
    ssize_t n = read_some(s, buf, min_sz(len, SSIZE_MAX));
    s->reading = false;
    return n;
}

static int read_exactly(weft_stream *s, void *buf, size_t len, size_t *got) {
    while (weft_stream_buffered(s) < len) {
        ssize_t n = fill(s, len, max_sz(len, s->limit));
        if (n == WEFT_EOF) {
            size_t have = weft_stream_buffered(s);
            take(s, buf, have);
            if (got) *got = have;
            return WEFT_EOF;
        }
        if (n < 0) return (int)n;
    }
    take(s, buf, len);
    if (got) *got = len;
    return 0;
}

int weft_stream_read_exactly(weft_stream *s, void *buf, size_t len, size_t *got) {
    int err = read_begin(s);
    if (err) return err;
    err = read_exactly(s, buf, len, got);
    s->reading = false;
    return err;
}

static ssize_t read_until(weft_stream *s, const void *delim, size_t dlen, void *buf, size_t max) {
    size_t from = 0;  /* bytes already searched, less a delimiter's straddle */
    for (;;) {
        size_t have = weft_stream_buffered(s);
        const char *p = s->rbuf + s->rpos;
        const char *hit = have ? memmem(p + from, have - from, delim, dlen) : NULL;
        if (hit) {
            size_t n = (size_t)(hit - p) + dlen;
            if (n > max) return WEFT_EOVERFLOW;
            take(s, buf, n);
            return (ssize_t)n;
        }
        if (have >= max) return WEFT_EOVERFLOW;
        from = have >= dlen ? have - dlen + 1 : 0;
        ssize_t n = fill(s, have + 1, max);
        if (n < 0) return n;
    }
}

ssize_t weft_stream_read_until(weft_stream *s, const void *delim, size_t dlen, void *buf, size_t cap) {
    int err = read_begin(s);
    if (err) return err;
    ssize_t n = dlen && cap ? read_until(s, delim, dlen, buf, min_sz(min_sz(cap, s->limit), SSIZE_MAX))
                            : WEFT_EINVAL;
    s->reading = false;
    return n;
}

ssize_t weft_stream_read_line(weft_stream *s, void *buf, size_t cap) {
    return weft_stream_read_until(s, "\n", 1, buf, cap);
}

static ssize_t read_to_eof(weft_stream *s, void *buf, size_t cap) {
    for (;;) {
        size_t have = weft_stream_buffered(s);
        if (have > cap) return WEFT_EOVERFLOW;
        ssize_t n = fill(s, have + 1, max_sz(cap + 1, s->limit));
        if (n == WEFT_EOF) break;
        if (n < 0) return n;
    }
    size_t have = weft_stream_buffered(s);
    take(s, buf, have);
    return (ssize_t)have;
}

ssize_t weft_stream_read_to_eof(weft_stream *s, void *buf, size_t cap) {
    int err = read_begin(s);
    if (err) return err;
    ssize_t n = read_to_eof(s, buf, min_sz(cap, SSIZE_MAX - 1));
    s->reading = false;
    return n;
}

ssize_t weft_stream_peek(weft_stream *s, size_t want, const void **data) {
    if (want) {
        if (want > s->limit) return WEFT_EINVAL;
        int err = read_begin(s);
        if (err) return err;
        ssize_t n = 0;
        while (n >= 0 && weft_stream_buffered(s) < want) n = fill(s, want, s->limit);
        s->reading = false;
        if (n < 0) return n;
    }
    size_t have = weft_stream_buffered(s);
    *data = have ? s->rbuf + s->rpos : NULL;
    return (ssize_t)have;
}

int weft_stream_consume(weft_stream *s, size_t n) {
    if (s->reading) return WEFT_EBUSY;
    if (n > weft_stream_buffered(s)) return WEFT_EINVAL;
    consume(s, n);
    return 0;
}

/* ------------------------------------------------------------ write side */

size_t weft_stream_unsent(const weft_stream *s) { return s->unsent; }

int weft_stream_writev(weft_stream *s, const struct iovec *iov, int iovcnt) {
    if (iovcnt < 0) return WEFT_EINVAL;
    if (s->wshut) return WEFT_ECLOSED;
    if (s->werr) return s->werr;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > SIZE_MAX - total) return WEFT_ENOMEM;
        total += iov[i].iov_len;
    }
    if (total == 0) return 0;
    /* Allocate first, so that failing leaves the buffer as it was. */
    chunk *tail = s->wtail, *fresh = NULL;
    size_t room = tail ? tail->cap - tail->len : 0;
    if (total > room && !(fresh = chunk_new(s, total - room))) return WEFT_ENOMEM;
    chunk *dst = room ? tail : fresh;
    for (int i = 0; i < iovcnt; i++) {
        const char *p = iov[i].iov_base;
        for (size_t left = iov[i].iov_len; left;) {
            if (dst->len == dst->cap) dst = fresh;
            size_t k = min_sz(left, dst->cap - dst->len);
            memcpy(dst->data + dst->len, p, k);
            dst->len += k;
            p += k;
            left -= k;
        }
    }
    if (fresh) {
        if (tail) tail->next = fresh;
        else s->whead = fresh;
        s->wtail = fresh;
    }
    s->unsent += total;
    return 0;
}

int weft_stream_write(weft_stream *s, const void *buf, size_t len) {
    struct iovec iov = { (void *)buf, len };
    return weft_stream_writev(s, &iov, 1);
}

/* Drops n sent bytes from the front of the chunk list. */
static void sent(weft_stream *s, size_t n) {
    s->unsent -= n;
    while (n) {
        chunk *c = s->whead;
        size_t k = min_sz(n, c->len - c->off);
        c->off += k;
        n -= k;
        if (c->off < c->len) break;
        s->whead = c->next;
        if (!s->whead) s->wtail = NULL;
        chunk_free(s, c);
    }
}

static int flush(weft_stream *s) {
    while (s->unsent) {
        if (s->werr) return s->werr;
        struct iovec iov[WIOV];
        int n = 0;
        for (chunk *c = s->whead; c && n < WIOV; c = c->next)
            iov[n++] = (struct iovec){ c->data + c->off, c->len - c->off };
        ssize_t k = s->ops->writev_some(s->ctx, iov, n);
        if (k == 0) k = -EIO;  /* a transport breaking its contract: do not spin */
        if (k < 0) {
            if (sticky(k)) s->werr = (int)k;
            return (int)k;
        }
        sent(s, min_sz((size_t)k, s->unsent));
    }
    return 0;
}

/* enter(), claims the write side, and runs fn. */
static int write_side(weft_stream *s, int (*fn)(weft_stream *)) {
    int err = enter(s);
    if (err) return err;
    if (s->writing) return WEFT_EBUSY;
    s->writing = true;
    err = fn(s);
    s->writing = false;
    return err;
}

int weft_stream_drain(weft_stream *s) { return write_side(s, flush); }

static int shut(weft_stream *s) {
    if (s->wshut) return 0;
    int err = flush(s);
    if (err) return err;
    if (!s->ops->shutdown_write) return -ENOTSUP;
    /* Closed to writes while shutdown_write may wait: a byte appended then
     * could never be sent. */
    s->wshut = true;
    if ((err = s->ops->shutdown_write(s->ctx))) s->wshut = false;
    return err;
}

int weft_stream_shutdown(weft_stream *s) { return write_side(s, shut); }

/* ------------------------------------------------------- the fd transport
 *
 * ctx is the fd itself. Sockets and other fds get separate tables, decided
 * once at creation, so a write never probes with a failing sendmsg. */

/* The fd transports' context: the fd shifted left, its low bit set when the
 * fd is borrowed (weft_stream_opts.borrow_fd: closing the stream leaves it
 * open). */
static int fd_of(void *ctx) { return (int)((intptr_t)ctx >> 1); }

static ssize_t fd_read(void *ctx, void *buf, size_t len) { return weft_read(fd_of(ctx), buf, len); }

/* A socket waits unless bytes are known to be there: a new connection's
 * first wait costs a poll (epoll reports what is ready when an fd is
 * added), where a read would have found its bytes, but it never holds a
 * buffer through the wait for a request that has not come. (Not for other
 * fds: a regular file cannot be polled, and reads it at once.) */
static int sock_wait(void *ctx) {
    int fd = fd_of(ctx);
    return weft__fd_input_unknown(fd) ? weft_wait_readable(fd, WEFT_FOREVER) : 0;
}

/* writev without SIGPIPE: a pipe has no MSG_NOSIGNAL, and a child that
 * closed its stdin would otherwise kill the program writing to it. SIGPIPE
 * is held off in this thread around the write, and the one the write
 * raised is taken back; one that was pending before is left pending. */
static ssize_t writev_nosigpipe(int fd, const struct iovec *iov, int n) {
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    /* Pending for this thread only while blocked here before. */
    bool had = sigismember(&old, SIGPIPE) && !sigpending(&pending) && sigismember(&pending, SIGPIPE);
    ssize_t k = weft__sys.writev(fd, iov, n);
    if (k < 0 && errno == EPIPE && !had) {
        const struct timespec zero = { 0, 0 };
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {}
        errno = EPIPE;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return k;
}

/* One write attempt: sendmsg with MSG_NOSIGNAL on a socket, else writev
 * without SIGPIPE. */
static ssize_t fd_writev_once(int fd, bool sock, const struct iovec *iov, int n) {
    if (!sock) return writev_nosigpipe(fd, iov, n);
    struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
    return weft__sys.sendmsg(fd, &m, MSG_NOSIGNAL);
}

/* Tries the write before waiting, as weft_write_some does; a captured
 * socket's is an operation the loop's next wait hands the kernel. */
static ssize_t fd_writev(int fd, bool sock, const struct iovec *iov, int n) {
    if (sock) {
        ssize_t k = weft__fd_send(fd, iov, n);
        if (k != WEFT__DIRECT) return k;
    }
    for (;;) {
        ssize_t k = fd_writev_once(fd, sock, iov, n);
        if (k >= 0) return k;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
        int err = weft_wait_writable(fd, WEFT_FOREVER);
        if (err) return err;
    }
}

static ssize_t sock_writev(void *ctx, const struct iovec *iov, int n) { return fd_writev(fd_of(ctx), true, iov, n); }
static ssize_t file_writev(void *ctx, const struct iovec *iov, int n) { return fd_writev(fd_of(ctx), false, iov, n); }
static int sock_shutdown(void *ctx) { return shutdown(fd_of(ctx), SHUT_WR) ? -errno : 0; }
static int fd_close(void *ctx) {
    if ((intptr_t)ctx & 1) {  /* borrowed: the loop forgets it, the owner closes */
        weft_fd_forget(fd_of(ctx));
        return 0;
    }
    return weft_close(fd_of(ctx));
}

static const weft_transport sock_transport = { fd_read, sock_writev, sock_shutdown, fd_close, sock_wait };
static const weft_transport file_transport = { fd_read, file_writev, NULL, fd_close, NULL };

int weft_stream_new_fd(weft_stream **out, int fd, const weft_stream_opts *opts) {
    if (fd < 0) return WEFT_EINVAL;
    int err0;
    int type;
    socklen_t len = sizeof type;
    bool sock = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
    if (!sock && errno != ENOTSOCK) return -errno;
    /* The stream reads an fd it owns alone, so the loop may take its input
     * as it comes (not a borrowed one: bytes taken but never read would be
     * lost to its owner). */
    if (sock && type == SOCK_STREAM && !(opts && opts->borrow_fd) && (err0 = weft__fd_capture(fd)))
        return err0;
    weft_stream *s;
    intptr_t ctx = ((intptr_t)fd << 1) | (opts && opts->borrow_fd ? 1 : 0);
    int err = weft_stream_new(&s, sock ? &sock_transport : &file_transport, (void *)ctx, opts);
    if (err) return err;
    if ((err = weft_fd_nonblock(fd))) {
        release(s);  /* the fd stays the caller's: do not close it */
        return err;
    }
    *out = s;
    return 0;
}

/* ------------------------------------------------------- sending files
 *
 * Only the fd transports can hand the kernel a file: the others (TLS, test
 * doubles) get the file read into the output buffer. The order with what
 * the stream buffered holds because the file goes out only after a flush,
 * and a flush returns only once every send it started has completed, on
 * the io_uring poller too (a captured socket's sends are submitted and
 * waited for one at a time): nothing of the stream's is still in flight
 * when sendfile(2) writes to the socket itself. */

/* A fallback piece: the stream's read limit, so a file costs the output
 * side no more memory than a streamed response does. */
#define FILE_PIECE WEFT_STREAM_LIMIT
/* One sendfile(2) at most, and then the loop's other tasks have their
 * turn: with the reader draining the socket as fast as it fills, one call
 * went on for 40 MB here (14 ms of a blocked loop). nginx's
 * sendfile_max_chunk is 2 MiB for the same reason. */
#define SENDFILE_MAX ((size_t)2 << 20)

/* Reads up to `len` bytes of the file at `off` into a new output chunk
 * (no copy beyond the read): the count, WEFT_EOF at the file's end, or an
 * error; nothing is buffered on failure. */
static ssize_t read_piece(weft_stream *s, int fd, off_t off, size_t len) {
    size_t want = min_sz(len, FILE_PIECE);
    chunk *c = chunk_new(s, want);
    if (!c) return WEFT_ENOMEM;
    ssize_t k;
    do k = pread(fd, c->data, want, off); while (k < 0 && errno == EINTR);
    if (k <= 0) {
        int err = k < 0 ? -errno : WEFT_EOF;
        chunk_free(s, c);
        return err;
    }
    c->len = (size_t)k;
    if (s->wtail) s->wtail->next = c;
    else s->whead = c;
    s->wtail = c;
    s->unsent += (size_t)k;
    return k;
}

static int pread_file(weft_stream *s, int fd, off_t off, size_t len, size_t *done) {
    while (*done < len) {
        ssize_t k = read_piece(s, fd, off + (off_t)*done, len - *done);
        if (k < 0) return (int)k;
        *done += (size_t)k;
        int err = flush(s);
        if (err) return err;
    }
    return 0;
}

/* sendfile(2)'s errors of the socket side, which stick as a drain's do;
 * the others are the file's (EIO) and say nothing of the connection. */
static bool socket_error(int e) {
    return e == EPIPE || e == ECONNRESET || e == ENOTCONN || e == ETIMEDOUT || e == EHOSTUNREACH;
}

/* The buffered bytes, sent by the socket itself with MSG_MORE: the kernel
 * holds them back to leave with the file's first bytes, as nginx's
 * TCP_NOPUSH does. Sent alone, a response's head is a small segment of its
 * own, and the file's last partial segment then waits under Nagle's
 * algorithm for the head's ACK, which the client delays up to 40 ms
 * (measured: wrk on a 4 KiB file, 2k requests/s against 7k). Direct, not a
 * captured socket's submitted send: the writing flag keeps every other
 * send of the stream out, so nothing is in flight to pass. */
static int flush_more(weft_stream *s, int out) {
    while (s->unsent) {
        struct iovec iov[WIOV];
        int n = 0;
        for (chunk *c = s->whead; c && n < WIOV; c = c->next)
            iov[n++] = (struct iovec){ c->data + c->off, c->len - c->off };
        struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
        ssize_t k = weft__sys.sendmsg(out, &m, MSG_NOSIGNAL | MSG_MORE);
        if (k > 0) {
            sent(s, (size_t)k);
            continue;
        }
        int e = k == 0 ? EIO : errno;
        if (e == EINTR) continue;
        if (e == EAGAIN || e == EWOULDBLOCK) {
            int err = weft_wait_writable(out, WEFT_FOREVER);
            if (err) return err;
            continue;
        }
        if (sticky(-e)) s->werr = -e;
        return -e;
    }
    return 0;
}

/* Kernel copies while they go; 1 when the kernel refuses this file or fd
 * pair (the caller reads instead), else 0 or an error. */
static int kernel_file(weft_stream *s, int fd, off_t off, size_t len, size_t *done) {
    int out = fd_of(s->ctx);
    while (*done < len) {
        off_t at = off + (off_t)*done;
        ssize_t k = weft__sys.sendfile(out, fd, &at, min_sz(len - *done, SENDFILE_MAX));
        if (k > 0) {
            *done += (size_t)k;
            /* A socket with room all along never waits: let the other
             * tasks run (and a cancel be seen) between two copies. */
            int err = *done < len ? weft_yield() : 0;
            if (err) return err;
            continue;
        }
        if (k == 0) return WEFT_EOF;
        int e = errno;
        if (e == EINTR) continue;
        if (e == EAGAIN || e == EWOULDBLOCK) {
            int err = weft_wait_writable(out, WEFT_FOREVER);
            if (err) return err;
            continue;
        }
        if ((e == EINVAL || e == ENOSYS || e == EOPNOTSUPP) && fd >= 0 && off >= 0) return 1;
        if (socket_error(e)) s->werr = -e;
        return -e;
    }
    return 0;
}

static int send_file(weft_stream *s, int fd, off_t off, size_t len, size_t *done) {
    if (s->wshut) return WEFT_ECLOSED;
    if (s->werr) return s->werr;
    bool sock = s->ops == &sock_transport, kernel = sock || s->ops == &file_transport;
    int err = sock && len ? flush_more(s, fd_of(s->ctx)) : flush(s);
    if (!err) err = kernel ? kernel_file(s, fd, off, len, done) : 1;
    return err == 1 ? pread_file(s, fd, off, len, done) : err;
}

int weft_stream_sendfile(weft_stream *s, int fd, off_t off, size_t len, size_t *sent) {
    size_t done = 0;
    int err = fd < 0 || off < 0 ? WEFT_EINVAL : enter(s);
    if (!err && s->writing) err = WEFT_EBUSY;
    if (!err) {
        s->writing = true;
        err = send_file(s, fd, off, len, &done);
        s->writing = false;
    }
    if (sent) *sent = done;
    return err;
}
