/* The io_uring backend as a completion engine (src/core/poll_uring.c): a
 * stream socket's input taken by the kernel into the loop's buffers, sends
 * submitted, and the fallbacks (out of buffers) keeping every byte in
 * order. Each case runs on the io_uring backend and is skipped where the
 * kernel refuses a ring; the same behaviour on epoll is test_stream's.
 *
 * Whether the loop or the reader moved the bytes is seen through weft's
 * table of system calls (weft__sys): a captured socket is read with no
 * read(2) of the reader's. */
#include "test.h"

#include "io_iface.h"

#include <weft/io.h>
#include <weft/stream.h>

#include <sys/socket.h>
#include <unistd.h>

static long reads;  /* read(2) calls made through weft__sys */
static ssize_t counting_read(int fd, void *buf, size_t len) {
    reads++;
    return weft__sys_default.read(fd, buf, len);
}

static int run_uring(int (*fn)(void *), void *arg) {
    int fds = wt_count_fds();
    long live = wt_live_allocs;
    weft_loop_opts o = { .backend = WEFT_BACKEND_URING, .realloc = wt_realloc };
    weft__sys.read = counting_read;
    int r = weft_run_opts(&o, fn, arg);
    weft__sys = weft__sys_default;
    if (r == -EPERM || r == -ENOSYS || r == WEFT_EINVAL) wt_skip("no io_uring here");
    if (wt_live_allocs != live) {
        fprintf(stderr, "leak: %ld allocations not freed\n", wt_live_allocs - live);
        abort();
    }
    ASSERT_EQ(wt_count_fds(), fds);
    return r;
}

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + i / 251); }

static void pair(int sv[2]) {
    ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
}

static weft_stream *stream_on(int fd) {
    weft_stream *s = NULL;
    ASSERT_ERR(weft_stream_new_fd(&s, fd, NULL), 0);
    return s;
}

typedef struct job { int fd; size_t len; } job;

static void *write_pattern(void *arg) {
    job *j = arg;
    unsigned char buf[8192];
    for (size_t done = 0; done < j->len;) {
        size_t n = j->len - done < sizeof buf ? j->len - done : sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = pattern(done + i);
        ssize_t w = weft_write(j->fd, buf, n);
        if (w < 0) return weft_error((int)w);
        done += n;
    }
    return NULL;
}

/* Reads len bytes in pieces of `piece`, checking each against the pattern. */
static int read_pattern(weft_stream *s, size_t from, size_t len, size_t piece) {
    unsigned char buf[4096];
    for (size_t done = 0; done < len;) {
        size_t want = len - done < piece ? len - done : piece;
        ssize_t n = weft_stream_read(s, buf, want);
        if (n <= 0) return n ? (int)n : WEFT_EOF;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern(from + done + (size_t)i)) return WEFT_EINVAL;
        done += (size_t)n;
    }
    return 0;
}

/* More input than the loop's buffers hold (1 MiB), none read for a while:
 * the receive runs out of buffers, the reader then reads the socket itself
 * after the captured bytes, and every byte comes in order. */
static int past_the_buffers(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    ASSERT(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &(int){ 4 << 20 }, sizeof(int)) == 0);
    weft_stream *s = stream_on(sv[0]);
    job j = { sv[1], 8 << 20 };
    weft_task *w = weft_spawn(write_pattern, &j);
    ASSERT_ERR(read_pattern(s, 0, 1, 1), 0);  /* the first wait starts the capture */
    long before = reads;
    ASSERT_ERR(weft_sleep(100 * WEFT_MILLISECOND), 0);
    ASSERT(!weft_task_done(w));  /* held back: nobody reads */
    ASSERT_ERR(read_pattern(s, 1, j.len - 1, 1000), 0);
    ASSERT(reads > before);      /* the fallback read the socket itself */
    ASSERT_ERR(weft_join(w, NULL), 0);
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(input_past_the_loops_buffers_comes_whole_and_in_order) { ASSERT_EQ(run_uring(past_the_buffers, NULL), 0); }

/* Streams closed with captured input unread give its buffers back: after
 * more such streams than the loop has buffers, input is still taken by the
 * loop, with no read of the reader's. */
static int buffers_come_back(void *arg) {
    (void)arg;
    for (int k = 0; k < 200; k++) {
        int sv[2];
        pair(sv);
        weft_stream *s = stream_on(sv[0]);
        job j = { sv[1], 3 * 4096 };  /* three buffers, two left unread */
        weft_task *w = weft_spawn(write_pattern, &j);
        ASSERT_ERR(read_pattern(s, 0, 1, 1), 0);
        ASSERT_ERR(weft_join(w, NULL), 0);
        ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), 0);  /* the rest is captured */
        ASSERT_ERR(weft_stream_close(s), 0);
        ASSERT_ERR(weft_close(sv[1]), 0);
    }
    int sv[2];
    pair(sv);
    weft_stream *s = stream_on(sv[0]);
    ASSERT_ERR(weft_write(sv[1], "x", 1), 1);  /* waits captured, with buffers to spare */
    char c;
    ASSERT_EQ(weft_stream_read(s, &c, 1), 1);
    long before = reads;
    job j = { sv[1], 64 << 10 };
    weft_task *w = weft_spawn(write_pattern, &j);
    ASSERT_ERR(read_pattern(s, 0, j.len, 4096), 0);
    ASSERT_EQ(reads, before);
    ASSERT_ERR(weft_join(w, NULL), 0);
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(streams_closed_with_input_unread_give_the_loops_buffers_back) { ASSERT_EQ(run_uring(buffers_come_back, NULL), 0); }

/* A peer's end of stream and a reset reach a reader who waits, and a
 * reader who comes after they were captured. */
static void *read_one(void *arg) {
    char c;
    return weft_error((int)weft_stream_read(arg, &c, 1));
}
static int ends(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    weft_stream *s = stream_on(sv[0]);
    weft_task *r = weft_spawn(read_one, s);
    ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), 0);
    ASSERT_ERR(weft_write(sv[1], "ab", 2), 2);
    ASSERT_ERR(weft_close(sv[1]), 0);
    void *res;
    ASSERT_ERR(weft_join(r, &res), 0);
    ASSERT_ERR(weft_error_code(res), 0);  /* read 1 byte: no error */
    ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), 0);  /* the end is captured */
    char buf[4];
    ASSERT_EQ(weft_stream_read(s, buf, sizeof buf), 1);
    ASSERT_EQ(weft_stream_read(s, buf, sizeof buf), 0);
    ASSERT_EQ(weft_stream_read(s, buf, sizeof buf), 0);
    ASSERT_ERR(weft_stream_close(s), 0);
    return 0;
}
TEST(end_of_stream_is_captured_after_the_bytes_before_it) { ASSERT_EQ(run_uring(ends, NULL), 0); }

/* A send the kernel holds (the peer reads nothing) is cancelled with its
 * task; what it sent counts as sent, the rest stays buffered, and a later
 * drain delivers everything once, in order. */
static void *drain_task(void *arg) { return weft_error(weft_stream_drain(arg)); }
static void *read_all(void *arg) {
    job *j = arg;
    unsigned char buf[16384];
    size_t total = 0;
    for (ssize_t n; (n = weft_read(j->fd, buf, sizeof buf)) != 0; total += (size_t)n) {
        if (n < 0) return weft_error((int)n);
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern(total + (size_t)i)) return weft_error(WEFT_EINVAL);
    }
    return (void *)total;
}
static int cancel_send(void *arg) {
    (void)arg;
    int sv[2];
    pair(sv);
    weft_stream *s = stream_on(sv[0]);
    size_t len = 1 << 20;  /* more than a Unix socket's buffers */
    unsigned char *big = malloc(len);
    ASSERT(big);
    for (size_t i = 0; i < len; i++) big[i] = pattern(i);
    for (int round = 0; round < 10; round++) {  /* cancelled at various points */
        ASSERT_ERR(weft_stream_write(s, big, len), 0);
        weft_task *d = weft_spawn(drain_task, s);
        for (int k = 0; k < round % 3; k++) ASSERT_ERR(weft_sleep(0), 0);
        weft_cancel(d);
        void *res;
        ASSERT_ERR(weft_join(d, &res), 0);
        int e = weft_error_code(res);
        ASSERT(e == 0 || e == WEFT_ECANCELED);
        job j = { sv[1], 0 };
        weft_task *r = weft_spawn(read_all, &j);
        ASSERT_ERR(weft_stream_drain(s), 0);
        ASSERT_ERR(weft_stream_shutdown(s), 0);
        ASSERT_ERR(weft_join(r, &res), 0);
        ASSERT_EQ((size_t)res, len);
        ASSERT_ERR(weft_stream_close(s), 0);
        ASSERT_ERR(weft_close(sv[1]), 0);
        if (round + 1 < 10) {
            pair(sv);
            s = stream_on(sv[0]);
        }
    }
    free(big);
    return 0;
}
TEST(a_cancelled_send_delivers_what_it_sent_once_and_in_order) { ASSERT_EQ(run_uring(cancel_send, NULL), 0); }

