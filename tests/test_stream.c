/* Buffered streams: reads by size, delimiter and end of stream; buffered
 * writes and drain; failures of the peer; cancellation; custom transports. */
#include "test.h"

#include "io_iface.h"

#include <weft/io.h>
#include <weft/stream.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

static void nb_pair(int sv[2]) {
    ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
}

/* A connected loopback TCP pair, both ends non-blocking, made with plain
 * socket calls. */
static void tcp_pair(int sv[2]) {
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(l >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    ASSERT(bind(l, (struct sockaddr *)&a, sizeof a) == 0);
    ASSERT(listen(l, 1) == 0);
    ASSERT(getsockname(l, (struct sockaddr *)&a, &alen) == 0);
    sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(sv[0] >= 0);
    ASSERT(connect(sv[0], (struct sockaddr *)&a, sizeof a) == 0);
    sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    ASSERT(sv[1] >= 0);
    ASSERT(close(l) == 0);
    ASSERT_ERR(weft_fd_nonblock(sv[0]), 0);
}

/* Closes fd so that the peer sees a reset, not an orderly end. */
static void reset_close(int fd) {
    struct linger lg = { 1, 0 };
    ASSERT(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    ASSERT_ERR(weft_close(fd), 0);
}

static weft_stream *stream_on(int fd, size_t limit) {
    weft_stream *s = NULL;
    weft_stream_opts o = { .limit = limit };
    ASSERT_ERR(weft_stream_new_fd(&s, fd, &o), 0);
    return s;
}

static void put(int fd, const char *str) { ASSERT_EQ(weft_write(fd, str, strlen(str)), (ssize_t)strlen(str)); }

/* Byte i of a long test message. */
static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + i / 251); }

/* ---------------------------------------------------------------- reading */

static int read_some(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 0);
    char buf[64];
    put(sv[1], "hello world");
    ASSERT_EQ(weft_stream_read(s, buf, 5), 5);
    ASSERT(memcmp(buf, "hello", 5) == 0);
    ASSERT_EQ(weft_stream_buffered(s), 6);
    ASSERT_EQ(weft_stream_read(s, buf, sizeof buf), 6);  /* what is buffered, no wait */
    ASSERT(memcmp(buf, " world", 6) == 0);
    ASSERT_EQ(weft_stream_read(s, buf, 0), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    ASSERT_EQ(weft_stream_read(s, buf, sizeof buf), 0);
    ASSERT(weft_stream_at_eof(s));
    ASSERT_EQ(weft_stream_read(s, buf, sizeof buf), 0);  /* and stays there */
    ASSERT_ERR(weft_stream_close(s), 0);
    return 0;
}
TEST(read_returns_what_is_buffered_and_zero_at_end_of_stream) { ASSERT_EQ(wt_run(read_some, NULL), 0); }

static void *put_later(void *arg) {
    int fd = *(int *)arg;
    weft_sleep(WEFT_MILLISECOND);
    put(fd, "\ncd\r");
    weft_sleep(WEFT_MILLISECOND);
    put(fd, "\n");
    return NULL;
}
static int read_until(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 0);
    put(sv[1], "ab\r");  /* the delimiter straddles two reads, twice */
    weft_task *w = weft_spawn(put_later, &sv[1]);
    char buf[16];
    ASSERT_EQ(weft_stream_read_until(s, "\r\n", 2, buf, sizeof buf), 4);
    ASSERT(memcmp(buf, "ab\r\n", 4) == 0);
    ASSERT_EQ(weft_stream_read_until(s, "\r\n", 2, buf, sizeof buf), 4);
    ASSERT(memcmp(buf, "cd\r\n", 4) == 0);
    ASSERT_ERR(weft_join(w, NULL), 0);
    put(sv[1], "one\ntwo\ntail");
    ASSERT_EQ(weft_stream_read_line(s, buf, sizeof buf), 4);
    ASSERT(memcmp(buf, "one\n", 4) == 0);
    ASSERT_EQ(weft_stream_read_line(s, buf, sizeof buf), 4);
    ASSERT(memcmp(buf, "two\n", 4) == 0);
    ASSERT_ERR(weft_stream_read_until(s, "", 0, buf, sizeof buf), WEFT_EINVAL);
    ASSERT_ERR(weft_close(sv[1]), 0);
    /* The stream ends inside a line: WEFT_EOF, and the tail stays buffered. */
    ASSERT_ERR(weft_stream_read_line(s, buf, sizeof buf), WEFT_EOF);
    ASSERT_EQ(weft_stream_buffered(s), 4);
    ASSERT_EQ(weft_stream_read(s, buf, sizeof buf), 4);
    ASSERT(memcmp(buf, "tail", 4) == 0);
    ASSERT_ERR(weft_stream_read_line(s, buf, sizeof buf), WEFT_EOF);
    ASSERT_ERR(weft_stream_close(s), 0);
    return 0;
}
TEST(read_until_finds_delimiters_that_straddle_reads_and_keeps_a_tail_at_eof) { ASSERT_EQ(wt_run(read_until, NULL), 0); }

static int exactly_eof(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 0);
    put(sv[1], "0123456789abc");
    char buf[32];
    size_t got = 99;
    ASSERT_ERR(weft_stream_read_exactly(s, buf, 10, &got), 0);
    ASSERT_EQ(got, 10);
    ASSERT(memcmp(buf, "0123456789", 10) == 0);
    ASSERT_ERR(shutdown(sv[1], SHUT_WR), 0);
    memset(buf, 0, sizeof buf);
    ASSERT_ERR(weft_stream_read_exactly(s, buf, 10, &got), WEFT_EOF);
    ASSERT_EQ(got, 3);                      /* the partial data is not lost */
    ASSERT(memcmp(buf, "abc", 3) == 0);
    ASSERT(weft_stream_at_eof(s));
    ASSERT_ERR(weft_stream_read_exactly(s, buf, 1, &got), WEFT_EOF);
    ASSERT_EQ(got, 0);
    ASSERT_ERR(weft_stream_read_exactly(s, buf, 0, NULL), 0);
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(read_exactly_at_early_eof_is_weft_eof_with_the_partial_data) { ASSERT_EQ(wt_run(exactly_eof, NULL), 0); }

static int long_line(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 16);
    put(sv[1], "0123456789abcdefghijklmnopqrstuvwxyz\nok\n");
    char buf[64];
    /* Longer than the limit (16): an error, and nothing consumed. */
    ASSERT_ERR(weft_stream_read_line(s, buf, sizeof buf), WEFT_EOVERFLOW);
    ASSERT_EQ(weft_stream_buffered(s), 16);
    ASSERT_ERR(weft_stream_read_line(s, buf, sizeof buf), WEFT_EOVERFLOW);  /* and again */
    /* The caller chooses: here, skip the long line piece by piece. */
    const void *view;
    for (;;) {
        ssize_t n = weft_stream_peek(s, 1, &view);
        ASSERT(n > 0);
        const char *nl = memchr(view, '\n', (size_t)n);
        ASSERT_ERR(weft_stream_consume(s, nl ? (size_t)(nl - (const char *)view) + 1 : (size_t)n), 0);
        if (nl) break;
    }
    ASSERT_EQ(weft_stream_read_line(s, buf, sizeof buf), 3);
    ASSERT(memcmp(buf, "ok\n", 3) == 0);
    /* The caller's buffer is the other bound: a line of 6 does not fit in 4. */
    put(sv[1], "hello\n");
    ASSERT_ERR(weft_stream_read_line(s, buf, 4), WEFT_EOVERFLOW);
    ASSERT_EQ(weft_stream_read_line(s, buf, 6), 6);
    ASSERT(memcmp(buf, "hello\n", 6) == 0);
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(a_line_longer_than_the_limit_is_eoverflow_and_stays_buffered) { ASSERT_EQ(wt_run(long_line, NULL), 0); }

static int to_eof(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 16);
    put(sv[1], "more than the limit of sixteen");
    ASSERT_ERR(shutdown(sv[1], SHUT_WR), 0);
    char buf[64];
    ASSERT_ERR(weft_stream_read_to_eof(s, buf, 10), WEFT_EOVERFLOW);
    ASSERT(weft_stream_buffered(s) > 10);
    ASSERT_EQ(weft_stream_read_to_eof(s, buf, sizeof buf), 30);  /* past the limit: asked for */
    ASSERT(memcmp(buf, "more than the limit of sixteen", 30) == 0);
    ASSERT_EQ(weft_stream_read_to_eof(s, buf, sizeof buf), 0);
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(read_to_eof_returns_everything_or_eoverflow_past_its_maximum) { ASSERT_EQ(wt_run(to_eof, NULL), 0); }

/* A stream that waits for input holds no read buffer: the one it read with
 * went back to the loop when it was read empty, and the next stream to read
 * takes that one rather than a new allocation. (Lines of up to 8 KiB: the
 * reads ask for a buffer of the first size, 4 KiB.) */
#define RBUF_LINE 8192
static void *read_one_line(void *arg) {
    char line[RBUF_LINE];
    ssize_t n = weft_stream_read_line(arg, line, sizeof line);
    return n == 2 && line[0] == 'a' ? NULL : weft_error(n < 0 ? (int)n : WEFT_EINVAL);
}
static int idle_no_buffer(void *arg) {
    (void)arg;
    int a[2], b[2];
    tcp_pair(a);
    tcp_pair(b);
    weft_stream *sa = stream_on(a[1], 0), *sb = stream_on(b[1], 0);
    static char line[RBUF_LINE];
    /* A first wait and read on sa: the fd table and a spare task record
     * exist from here on. */
    weft_task *t = weft_spawn(read_one_line, sa);
    ASSERT_ERR(weft_yield(), 0);
    put(a[0], "a\n");
    ASSERT_ERR(weft_join(t, NULL), 0);
    long live = wt_live_allocs;
    t = weft_spawn(read_one_line, sa);
    ASSERT_ERR(weft_yield(), 0);
    ASSERT_EQ(weft_task_state(t), WEFT_TASK_WAITING);
    ASSERT_EQ(wt_live_allocs, live);           /* waiting took no buffer */
    put(b[0], "y\n");
    ASSERT_EQ(weft_stream_read_line(sb, line, sizeof line), 2);
    ASSERT_EQ(wt_live_allocs, live);           /* sb took sa's old one */
    put(a[0], "a\n");
    ASSERT_ERR(weft_join(t, NULL), 0);
    ASSERT_ERR(weft_stream_free(sa), 0);
    ASSERT_ERR(weft_stream_free(sb), 0);
    ASSERT_ERR(weft_close(a[0]), 0);
    ASSERT_ERR(weft_close(b[0]), 0);
    return 0;
}
TEST(stream_waiting_for_input_holds_no_read_buffer) { ASSERT_EQ(wt_run(idle_no_buffer, NULL), 0); }

/* The same for a client's first read: a socket that has only been waited
 * on for writing (a connect) says nothing of input, and a stream waiting
 * for the reply takes no buffer until the reply comes. */
static void *nothing(void *arg) { return arg; }
static int reply_no_buffer(void *arg) {
    (void)arg;
    int sv[2];
    tcp_pair(sv);
    ASSERT_ERR(weft_join(weft_spawn(nothing, NULL), NULL), 0);  /* a spare task record */
    ASSERT_ERR(weft_wait_writable(sv[1], WEFT_FOREVER), 0);
    weft_stream *s = stream_on(sv[1], 0);
    long live = wt_live_allocs;
    weft_task *t = weft_spawn(read_one_line, s);
    ASSERT_ERR(weft_yield(), 0);
    ASSERT_EQ(weft_task_state(t), WEFT_TASK_WAITING);
    ASSERT_EQ(wt_live_allocs, live);           /* no buffer while it waits */
    put(sv[0], "a\n");
    ASSERT_ERR(weft_join(t, NULL), 0);
    ASSERT_ERR(weft_stream_free(s), 0);
    ASSERT_ERR(weft_close(sv[0]), 0);
    return 0;
}
TEST(stream_waiting_for_a_first_reply_holds_no_read_buffer) { ASSERT_EQ(wt_run(reply_no_buffer, NULL), 0); }

/* A stream may outlive its loop (weft_stream.h), and weft_stream_consume is
 * not a suspension point: emptying the buffer after the loop has ended hands
 * it back to the allocator, not to the ended loop's cache. */
static weft_stream *outliving;
static int leave_bytes(void *arg) {
    int *sv = arg;
    nb_pair(sv);
    outliving = stream_on(sv[1], 0);
    put(sv[0], "abcdef");
    const void *data;
    ASSERT_EQ(weft_stream_peek(outliving, 6, &data), 6);
    ASSERT_ERR(weft_close(sv[0]), 0);
    return 0;
}
TEST(stream_consumed_or_written_after_its_loop_ended_uses_the_allocator) {
    int sv[2];
    long live = wt_live_allocs;
    weft_loop_opts o = { .realloc = wt_realloc };
    ASSERT_EQ(weft_run_opts(&o, leave_bytes, sv), 0);
    ASSERT_ERR(weft_stream_consume(outliving, 6), 0);
    /* And a write, which buffers: its chunk comes from the allocator too
     * (ASan: heap-use-after-free in the ended loop's cache without it). */
    ASSERT_ERR(weft_stream_write(outliving, "hello", 5), 0);
    ASSERT_ERR(weft_stream_free(outliving), 0);
    ASSERT_EQ(wt_live_allocs, live);
}

static void *write_pattern(void *arg) {
    int fd = *(int *)arg;
    unsigned char buf[1000];
    for (size_t off = 0; off < 100000; off += sizeof buf) {
        for (size_t i = 0; i < sizeof buf; i++) buf[i] = pattern(off + i);
        if (weft_write(fd, buf, sizeof buf) < 0) return weft_error(WEFT_EINVAL);
    }
    return NULL;
}
static int big_exactly(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 64);
    weft_task *w = weft_spawn(write_pattern, &sv[1]);
    unsigned char *buf = malloc(100000);
    ASSERT_ERR(weft_stream_read_exactly(s, buf, 100000, NULL), 0);  /* far past the limit */
    for (size_t i = 0; i < 100000; i++) ASSERT_EQ(buf[i], pattern(i));
    free(buf);
    ASSERT_ERR(weft_join(w, NULL), 0);
    const void *v;
    ASSERT_ERR(weft_stream_peek(s, 65, &v), WEFT_EINVAL);
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(read_exactly_may_ask_for_more_than_the_limit) { ASSERT_EQ(wt_run(big_exactly, NULL), 0); }

static int peek(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 0);
    const void *v = (void *)1;
    ASSERT_EQ(weft_stream_peek(s, 0, &v), 0);
    ASSERT(v == NULL);
    put(sv[1], "GET / HTTP/1.1\r\n");
    ssize_t n = weft_stream_peek(s, 3, &v);
    ASSERT_EQ(n, 16);
    ASSERT(memcmp(v, "GET", 3) == 0);
    ASSERT_ERR(weft_stream_consume(s, 17), WEFT_EINVAL);
    ASSERT_ERR(weft_stream_consume(s, 4), 0);
    ASSERT_EQ(weft_stream_peek(s, 0, &v), 12);
    ASSERT(memcmp(v, "/ HTTP/1.1\r\n", 12) == 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    ASSERT_ERR(weft_stream_peek(s, 13, &v), WEFT_EOF);
    ASSERT_EQ(weft_stream_buffered(s), 12);
    ASSERT_ERR(weft_stream_close(s), 0);
    return 0;
}
TEST(peek_shows_buffered_bytes_and_consume_drops_them) { ASSERT_EQ(wt_run(peek, NULL), 0); }

/* ---------------------------------------------------------------- writing */

static int writev_drain(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 0);
    struct iovec iov[3] = { { "HTTP/1.1 ", 9 }, { "200 OK", 6 }, { "\r\n", 2 } };
    ASSERT_ERR(weft_stream_writev(s, iov, 3), 0);
    ASSERT_ERR(weft_stream_write(s, "x", 1), 0);
    ASSERT_EQ(weft_stream_unsent(s), 18);
    char buf[32];
    ASSERT_EQ(read(sv[1], buf, sizeof buf), -1);  /* nothing sent before drain */
    ASSERT_ERR(weft_stream_drain(s), 0);
    ASSERT_EQ(weft_stream_unsent(s), 0);
    ASSERT_EQ(read(sv[1], buf, sizeof buf), 18);
    ASSERT(memcmp(buf, "HTTP/1.1 200 OK\r\nx", 18) == 0);
    ASSERT_ERR(weft_stream_drain(s), 0);  /* nothing to do */
    ASSERT_ERR(weft_stream_writev(s, iov, -1), WEFT_EINVAL);
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(writes_are_buffered_until_drain_sends_them_in_order) { ASSERT_EQ(wt_run(writev_drain, NULL), 0); }

static int close_flushes(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 0);
    ASSERT_ERR(weft_stream_write(s, "last words", 10), 0);
    ASSERT_ERR(weft_stream_close(s), 0);
    char buf[32];
    ASSERT_EQ(weft_read(sv[1], buf, sizeof buf), 10);
    ASSERT(memcmp(buf, "last words", 10) == 0);
    ASSERT_EQ(weft_read(sv[1], buf, sizeof buf), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(close_flushes_what_is_buffered_then_closes) { ASSERT_EQ(wt_run(close_flushes, NULL), 0); }

static int half_close(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 0);
    ASSERT_ERR(weft_stream_write(s, "request", 7), 0);
    ASSERT_ERR(weft_stream_shutdown(s), 0);
    ASSERT_ERR(weft_stream_shutdown(s), 0);
    ASSERT_ERR(weft_stream_write(s, "more", 4), WEFT_ECLOSED);
    char buf[32];
    ASSERT_EQ(weft_read(sv[1], buf, sizeof buf), 7);
    ASSERT_EQ(weft_read(sv[1], buf, sizeof buf), 0);  /* the peer sees the end */
    put(sv[1], "reply");                                /* and can still answer */
    ASSERT_EQ(weft_stream_read(s, buf, sizeof buf), 5);
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(shutdown_sends_the_buffer_then_half_closes_and_reading_goes_on) { ASSERT_EQ(wt_run(half_close, NULL), 0); }

static void *slow_reader(void *arg) {
    int fd = *(int *)arg;
    unsigned char buf[4096];
    size_t total = 0;
    for (;;) {
        weft_sleep(WEFT_MILLISECOND);
        ssize_t n = weft_read(fd, buf, sizeof buf);
        if (n < 0) return weft_error((int)n);
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern(total + (size_t)i)) return weft_error(WEFT_EINVAL);
        total += (size_t)n;
    }
    return (void *)total;
}
static int backpressure(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 0);
    weft_task *r = weft_spawn(slow_reader, &sv[1]);
    long base = -1;  /* taken once the loop's fd table exists */
    size_t total = 4 << 20, off = 0;
    int64_t waited = 0;
    unsigned char chunk[16384];
    while (off < total) {
        for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = pattern(off + i);
        ASSERT_ERR(weft_stream_write(s, chunk, sizeof chunk), 0);
        off += sizeof chunk;
        ASSERT(weft_stream_unsent(s) <= sizeof chunk);
        ASSERT(base < 0 || wt_live_allocs - base == 1);  /* one output chunk */
        int64_t t0 = weft_now();
        ASSERT_ERR(weft_stream_drain(s), 0);
        waited += weft_now() - t0;
        ASSERT_EQ(weft_stream_unsent(s), 0);
        if (base < 0 && weft_now() > t0) base = wt_live_allocs;  /* it has waited */
        ASSERT(base < 0 || wt_live_allocs == base);  /* a sent chunk is freed */
    }
    ASSERT(waited > 100 * WEFT_MILLISECOND);  /* the writer was held back */
    ASSERT_ERR(weft_stream_close(s), 0);
    void *res;
    ASSERT_ERR(weft_join(r, &res), 0);
    ASSERT_EQ((size_t)res, total);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(a_writer_to_a_slow_reader_waits_in_drain_and_memory_stays_bounded) { ASSERT_EQ(wt_run(backpressure, NULL), 0); }

/* --------------------------------------------------------- peer failures */

static void *read_hundred(void *arg) {
    char buf[100];
    size_t got = 0;
    return weft_error(weft_stream_read_exactly(arg, buf, sizeof buf, &got));
}
static int reset_read(void *arg) {
    (void)arg;
    int sv[2];
    tcp_pair(sv);
    weft_stream *s = stream_on(sv[0], 0);
    weft_task *r = weft_spawn(read_hundred, s);
    put(sv[1], "ten bytes!");
    ASSERT_ERR(weft_sleep(20 * WEFT_MILLISECOND), 0);  /* the reader took them, waits for more */
    ASSERT_ERR(weft_stream_read(s, NULL, 1), WEFT_EBUSY);
    reset_close(sv[1]);
    void *res;
    ASSERT_ERR(weft_join(r, &res), 0);
    ASSERT_ERR(weft_error_code(res), -ECONNRESET);
    /* The bytes that came are not lost; then the reset sticks. */
    ASSERT_EQ(weft_stream_buffered(s), 10);
    char buf[16];
    ASSERT_EQ(weft_stream_read(s, buf, sizeof buf), 10);
    ASSERT(memcmp(buf, "ten bytes!", 10) == 0);
    ASSERT_ERR(weft_stream_read(s, buf, sizeof buf), -ECONNRESET);
    ASSERT_ERR(weft_stream_read_line(s, buf, sizeof buf), -ECONNRESET);
    ASSERT_ERR(weft_stream_close(s), 0);
    return 0;
}
TEST(a_peer_reset_during_a_read_is_econnreset_and_keeps_the_bytes_that_came) { ASSERT_EQ(wt_run_real(reset_read, NULL), 0); }

static void *drain_task(void *arg) { return weft_error(weft_stream_drain(arg)); }
static int reset_write(void *arg) {
    (void)arg;
    int sv[2];
    tcp_pair(sv);
    weft_stream *s = stream_on(sv[0], 0);
    size_t len = 16 << 20;  /* more than loopback's socket buffers hold */
    char *big = calloc(1, len);
    ASSERT_ERR(weft_stream_write(s, big, len), 0);
    free(big);
    weft_task *d = weft_spawn(drain_task, s);
    ASSERT_ERR(weft_sleep(20 * WEFT_MILLISECOND), 0);
    ASSERT(!weft_task_done(d));                       /* blocked: the peer reads nothing */
    ASSERT(weft_stream_unsent(s) > 0);
    reset_close(sv[1]);
    void *res;
    ASSERT_ERR(weft_join(d, &res), 0);
    ASSERT_ERR(weft_error_code(res), -ECONNRESET);
    ASSERT(weft_stream_unsent(s) > 0);                 /* unsent data stays */
    ASSERT_ERR(weft_stream_drain(s), -ECONNRESET);     /* the error sticks */
    ASSERT_ERR(weft_stream_write(s, "x", 1), -ECONNRESET);
    ASSERT_ERR(weft_stream_close(s), -ECONNRESET);    /* what it drops */
    return 0;
}
TEST(a_peer_reset_during_a_drain_is_econnreset) { ASSERT_EQ(wt_run_real(reset_write, NULL), 0); }

static int peer_gone(void *arg) {
    (void)arg;
    signal(SIGPIPE, SIG_DFL);  /* a SIGPIPE would kill the test */
    int sv[2];
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 0);
    ASSERT_ERR(weft_stream_write(s, "into the void", 13), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    ASSERT_ERR(weft_stream_drain(s), -EPIPE);
    ASSERT_EQ(weft_stream_unsent(s), 13);
    ASSERT_ERR(weft_stream_close(s), -EPIPE);  /* says it dropped data, and frees */
    return 0;
}
TEST(a_peer_that_closes_while_a_write_is_buffered_makes_drain_epipe_not_sigpipe) { ASSERT_EQ(wt_run(peer_gone, NULL), 0); }

/* ------------------------------------------------------------ cancellation */

static void *read_a_line(void *arg) {
    char buf[64];
    ssize_t n = weft_stream_read_line(arg, buf, sizeof buf);
    return weft_error(n < 0 ? (int)n : 0);
}
static int cancel_read(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 0);
    weft_task *r = weft_spawn(read_a_line, s);
    put(sv[1], "hel");
    ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), 0);  /* the reader buffered "hel" and waits */
    ASSERT_EQ(weft_stream_buffered(s), 3);
    weft_cancel(r);
    void *res;
    ASSERT_ERR(weft_join(r, &res), 0);
    ASSERT_ERR(weft_error_code(res), WEFT_ECANCELED);
    ASSERT_EQ(weft_stream_buffered(s), 3);        /* consumed nothing */
    put(sv[1], "lo\n");
    char buf[64];
    ASSERT_EQ(weft_stream_read_line(s, buf, sizeof buf), 6);
    ASSERT(memcmp(buf, "hello\n", 6) == 0);
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(a_cancelled_read_consumes_nothing_and_the_stream_stays_usable) { ASSERT_EQ(wt_run(cancel_read, NULL), 0); }

static int read_timeout(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 0);
    put(sv[1], "1234");
    char buf[10];
    size_t got = 99;
    weft_scope sc;
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_timeout_enter(&sc, WEFT_SECOND), 0);
    ASSERT_ERR(weft_stream_read_exactly(s, buf, sizeof buf, &got), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_now() - t0, WEFT_SECOND);
    ASSERT_EQ(got, 99);                           /* untouched */
    ASSERT_EQ(weft_stream_buffered(s), 4);
    put(sv[1], "567890");
    ASSERT_ERR(weft_stream_read_exactly(s, buf, sizeof buf, &got), 0);
    ASSERT(memcmp(buf, "1234567890", 10) == 0);
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(a_read_stops_at_a_scope_deadline_and_leaves_the_bytes_buffered) { ASSERT_EQ(wt_run(read_timeout, NULL), 0); }

static void *read_all(void *arg) {
    int fd = *(int *)arg;
    unsigned char buf[16384];
    size_t total = 0;
    for (ssize_t n; (n = weft_read(fd, buf, sizeof buf)) != 0; total += (size_t)n) {
        if (n < 0) return weft_error((int)n);
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern(total + (size_t)i)) return weft_error(WEFT_EINVAL);
    }
    return (void *)total;
}
static int cancel_drain(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 0);
    size_t len = 4 << 20;
    unsigned char *big = malloc(len);
    for (size_t i = 0; i < len; i++) big[i] = pattern(i);
    ASSERT_ERR(weft_stream_write(s, big, len), 0);
    free(big);
    weft_task *d = weft_spawn(drain_task, s);
    ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), 0);  /* the peer reads nothing: it waits */
    size_t left = weft_stream_unsent(s);
    ASSERT(left > 0 && left < len);
    weft_cancel(d);
    void *res;
    ASSERT_ERR(weft_join(d, &res), 0);
    ASSERT_ERR(weft_error_code(res), WEFT_ECANCELED);
    ASSERT_EQ(weft_stream_unsent(s), left);       /* still buffered */
    /* Usable again: the rest goes out, in order, after what was sent. */
    weft_task *r = weft_spawn(read_all, &sv[1]);
    ASSERT_ERR(weft_stream_drain(s), 0);
    ASSERT_ERR(weft_stream_shutdown(s), 0);
    ASSERT_ERR(weft_join(r, &res), 0);
    ASSERT_EQ((size_t)res, len);
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(a_cancelled_drain_leaves_the_unsent_bytes_buffered_and_a_later_drain_sends_them) { ASSERT_EQ(wt_run(cancel_drain, NULL), 0); }

/* ------------------------------------------------------ tasks and streams */

static void *echo_lines(void *arg) {
    weft_stream *s = arg;
    char line[128];
    for (;;) {
        ssize_t n = weft_stream_read_line(s, line, sizeof line);
        if (n == WEFT_EOF) break;
        if (n < 0) return weft_error((int)n);
        int err = weft_stream_write(s, line, (size_t)n);
        if (!err) err = weft_stream_drain(s);
        if (err) return weft_error(err);
    }
    return weft_error(weft_stream_close(s));
}
static void *send_lines(void *arg) {
    weft_stream *s = arg;
    for (int i = 0; i < 1000; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "line %d\n", i);
        int err = weft_stream_write(s, msg, (size_t)len);
        if (!err && i % 7 == 6) err = weft_stream_drain(s);
        if (err) return weft_error(err);
    }
    return weft_error(weft_stream_shutdown(s));
}
static int full_duplex(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_stream *c = stream_on(sv[0], 0);
    weft_task *e = weft_spawn(echo_lines, stream_on(sv[1], 0));
    weft_task *w = weft_spawn(send_lines, c);  /* writes while this task reads */
    for (int i = 0; i < 1000; i++) {
        char want[32], got[32];
        int len = snprintf(want, sizeof want, "line %d\n", i);
        ASSERT_EQ(weft_stream_read_line(c, got, sizeof got), len);
        ASSERT(memcmp(want, got, (size_t)len) == 0);
    }
    char b;
    ASSERT_EQ(weft_stream_read(c, &b, 1), 0);
    void *res;
    ASSERT_ERR(weft_join(w, &res), 0);
    ASSERT_ERR(weft_error_code(res), 0);
    ASSERT_ERR(weft_join(e, &res), 0);
    ASSERT_ERR(weft_error_code(res), 0);
    ASSERT_ERR(weft_stream_close(c), 0);
    return 0;
}
TEST(one_task_reads_while_another_writes_the_same_stream) { ASSERT_EQ(wt_run(full_duplex, NULL), 0); }

static int busy(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 0);
    weft_task *r = weft_spawn(read_a_line, s);
    ASSERT_ERR(weft_yield(), 0);
    char buf[8];
    ASSERT_ERR(weft_stream_read(s, buf, sizeof buf), WEFT_EBUSY);
    ASSERT_ERR(weft_stream_consume(s, 0), WEFT_EBUSY);
    ASSERT_ERR(weft_stream_close(s), WEFT_EBUSY);  /* nothing done */
    ASSERT_ERR(weft_stream_free(s), WEFT_EBUSY);
    ASSERT_ERR(weft_stream_write(s, "ok", 2), 0);  /* the write side is free */
    ASSERT_ERR(weft_stream_drain(s), 0);
    weft_cancel(r);
    ASSERT_ERR(weft_join(r, NULL), 0);
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(a_second_reader_and_closing_under_a_reader_get_ebusy) { ASSERT_EQ(wt_run(busy, NULL), 0); }

/* ------------------------------------------------------ custom transports */

/* A transport that moves one byte per call, after a yield: every read and
 * write is short, and every call is a real suspension point. */
typedef struct trickle {
    const char *in;
    size_t inlen, inpos;
    char out[256];
    size_t outlen;
    int shutdowns, closes;
} trickle;
static ssize_t trickle_read(void *ctx, void *buf, size_t len) {
    trickle *t = ctx;
    int err = weft_yield();
    if (err) return err;
    if (t->inpos == t->inlen) return 0;
    (void)len;
    *(char *)buf = t->in[t->inpos++];
    return 1;
}
static ssize_t trickle_writev(void *ctx, const struct iovec *iov, int n) {
    trickle *t = ctx;
    int err = weft_yield();
    if (err) return err;
    ASSERT(n >= 1 && iov[0].iov_len >= 1 && t->outlen < sizeof t->out);
    t->out[t->outlen++] = *(const char *)iov[0].iov_base;
    return 1;
}
static int trickle_shutdown(void *ctx) { ((trickle *)ctx)->shutdowns++; return 0; }
static int trickle_close(void *ctx) { ((trickle *)ctx)->closes++; return 0; }
static const weft_transport trickle_ops = { trickle_read, trickle_writev, trickle_shutdown, trickle_close, NULL };

static int custom(void *arg) {
    (void)arg;
    trickle t = { .in = "first line\nsecond\nabcdefgh" };
    t.inlen = strlen(t.in);
    weft_stream *s;
    ASSERT_ERR(weft_stream_new(&s, NULL, &t, NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_stream_new(&s, &trickle_ops, &t, NULL), 0);
    char buf[32];
    ASSERT_EQ(weft_stream_read_line(s, buf, sizeof buf), 11);
    ASSERT(memcmp(buf, "first line\n", 11) == 0);
    ASSERT_EQ(weft_stream_read_until(s, "nd\n", 3, buf, sizeof buf), 7);
    ASSERT_ERR(weft_stream_read_exactly(s, buf, 4, NULL), 0);
    ASSERT(memcmp(buf, "abcd", 4) == 0);
    ASSERT_EQ(weft_stream_read_to_eof(s, buf, sizeof buf), 4);
    ASSERT(memcmp(buf, "efgh", 4) == 0);
    struct iovec iov[2] = { { "hello, ", 7 }, { "world", 5 } };
    ASSERT_ERR(weft_stream_writev(s, iov, 2), 0);
    ASSERT_ERR(weft_stream_shutdown(s), 0);        /* drains first */
    ASSERT_EQ(t.outlen, 12);
    ASSERT(memcmp(t.out, "hello, world", 12) == 0);
    ASSERT_EQ(t.shutdowns, 1);
    ASSERT_EQ(t.closes, 0);
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT_EQ(t.closes, 1);
    ASSERT_EQ(t.shutdowns, 1);
    return 0;
}
TEST(a_custom_transport_with_one_byte_reads_and_writes_plugs_in) { ASSERT_EQ(wt_run(custom, NULL), 0); }

static int nomem(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    int fd = dup(sv[0]);  /* blocking: new_fd makes it non-blocking */
    ASSERT(fd >= 0);
    int fl = fcntl(fd, F_GETFL);
    ASSERT_ERR(fcntl(fd, F_SETFL, fl & ~O_NONBLOCK), 0);
    ASSERT_ERR(weft_close(sv[0]), 0);
    weft_stream *s = NULL;
    wt_fail_at = 0;
    ASSERT_ERR(weft_stream_new_fd(&s, fd, NULL), WEFT_ENOMEM);
    ASSERT(s == NULL);
    ASSERT_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);  /* fd untouched, still ours */
    ASSERT_ERR(weft_stream_new_fd(&s, -1, NULL), WEFT_EINVAL);
    s = stream_on(fd, 0);
    ASSERT(fcntl(fd, F_GETFL) & O_NONBLOCK);
    wt_fail_at = 0;
    ASSERT_ERR(weft_stream_write(s, "abc", 3), WEFT_ENOMEM);
    ASSERT_EQ(weft_stream_unsent(s), 0);
    put(sv[1], "data");
    char buf[8];
    wt_fail_at = 0;
    ASSERT_ERR(weft_stream_read(s, buf, sizeof buf), WEFT_ENOMEM);  /* no buffer yet */
    ASSERT_EQ(weft_stream_read(s, buf, sizeof buf), 4);             /* nothing lost */
    ASSERT_ERR(weft_stream_write(s, "abc", 3), 0);
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT_EQ(weft_read(sv[1], buf, sizeof buf), 3);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(a_failed_allocation_changes_nothing) { ASSERT_EQ(wt_run(nomem, NULL), 0); }

static weft_stream *foreign;
static int use_from_other_loop(void *arg) {
    (void)arg;
    char buf[4];
    ASSERT_ERR(weft_stream_read(foreign, buf, sizeof buf), WEFT_EWRONGLOOP);
    ASSERT_ERR(weft_stream_drain(foreign), WEFT_EWRONGLOOP);
    return 0;
}
static int wrong_loop(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    foreign = stream_on(sv[0], 0);
    ASSERT_EQ(wt_run_on_other_thread(use_from_other_loop), 0);
    char buf[4];
    ASSERT_ERR(weft_stream_read(foreign, buf, 0), 0);  /* still ours */
    ASSERT_ERR(weft_stream_close(foreign), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(a_stream_is_used_from_the_loop_it_was_made_on) { ASSERT_EQ(wt_run(wrong_loop, NULL), 0); }

static int pipes(void *arg) {
    (void)arg;
    int p[2];
    ASSERT(pipe2(p, O_CLOEXEC) == 0);
    weft_stream *r = stream_on(p[0], 0), *w = stream_on(p[1], 0);
    unsigned char out[10000], in[10000];
    for (size_t i = 0; i < sizeof out; i++) out[i] = pattern(i);
    ASSERT_ERR(weft_stream_write(w, out, sizeof out), 0);
    ASSERT_ERR(weft_stream_drain(w), 0);
    ASSERT_ERR(weft_stream_shutdown(w), -ENOTSUP);  /* a pipe cannot half-close */
    ASSERT_ERR(weft_stream_close(w), 0);
    size_t got = 0;
    for (ssize_t n; (n = weft_stream_read(r, in + got, sizeof in - got)) > 0;) got += (size_t)n;
    ASSERT_EQ(got, sizeof in);                       /* large reads skip the buffer */
    ASSERT(memcmp(in, out, sizeof in) == 0);
    ASSERT_EQ(weft_stream_buffered(r), 0);
    ASSERT_ERR(weft_stream_close(r), 0);
    return 0;
}
TEST(streams_work_over_pipes_which_cannot_half_close) { ASSERT_EQ(wt_run(pipes, NULL), 0); }

/* A pipe has no MSG_NOSIGNAL: the write holds SIGPIPE off, and takes back
 * only the one it raised (one already pending stays). */
static int pipe_epipe(void) {
    int p[2];
    ASSERT(pipe2(p, O_CLOEXEC) == 0);
    weft_stream *w = stream_on(p[1], 0);
    ASSERT_ERR(weft_close(p[0]), 0);
    ASSERT_ERR(weft_stream_write(w, "into the void", 13), 0);
    int err = weft_stream_drain(w);
    weft_stream_free(w);
    return err;
}
static bool sigpipe_pending(void) {
    sigset_t pending;
    sigpending(&pending);
    return sigismember(&pending, SIGPIPE);
}
static int pipe_reader_gone(void *arg) {
    (void)arg;
    signal(SIGPIPE, SIG_DFL);  /* a SIGPIPE would kill the test */
    ASSERT_ERR(pipe_epipe(), -EPIPE);
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ASSERT_ERR(pipe_epipe(), -EPIPE);  /* blocked by the caller: taken back too */
    ASSERT(!sigpipe_pending());
    raise(SIGPIPE);
    ASSERT_ERR(pipe_epipe(), -EPIPE);  /* pending before: it stays */
    ASSERT(sigpipe_pending());
    int sig;
    ASSERT_EQ(sigwait(&pipe_set, &sig), 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return 0;
}
TEST(a_pipe_whose_reader_has_gone_makes_drain_epipe_not_sigpipe) { ASSERT_EQ(wt_run(pipe_reader_gone, NULL), 0); }

/* ------------------------------------------- io_uring's completion engine
 *
 * A stream socket's input taken by the kernel into the loop's buffers,
 * sends submitted, and the fallbacks (out of buffers) keeping every byte in
 * order (src/core/poll_uring.c). These run on the io_uring backend and are
 * skipped where the kernel refuses a ring. Whether the loop or the reader
 * moved the bytes shows in weft's table of system calls (weft__sys): a
 * captured socket is read with no read(2) of the reader's. */

static long reads;  /* read(2) calls made through weft__sys */
static ssize_t counting_read(int fd, void *buf, size_t len) {
    reads++;
    return weft__sys_default.read(fd, buf, len);
}
static long sends;  /* send(2) calls made through weft__sys */
static ssize_t counting_send(int fd, const void *buf, size_t len, int flags) {
    sends++;
    return weft__sys_default.send(fd, buf, len, flags);
}

static int run_uring(int (*fn)(void *), void *arg) {
    int fds = wt_count_fds();
    long live = wt_live_allocs;
    weft_loop_opts o = { .backend = WEFT_BACKEND_URING, .realloc = wt_realloc };
    weft__sys.read = counting_read;
    weft__sys.send = counting_send;
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


typedef struct job { int fd; size_t len; } job;

static void *write_job(void *arg) {
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
    nb_pair(sv);
    ASSERT(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &(int){ 4 << 20 }, sizeof(int)) == 0);
    weft_stream *s = stream_on(sv[0], 0);
    job j = { sv[1], 8 << 20 };
    weft_task *w = weft_spawn(write_job, &j);
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
        nb_pair(sv);
        weft_stream *s = stream_on(sv[0], 0);
        job j = { sv[1], 3 * 4096 };  /* three buffers, two left unread */
        weft_task *w = weft_spawn(write_job, &j);
        ASSERT_ERR(read_pattern(s, 0, 1, 1), 0);
        ASSERT_ERR(weft_join(w, NULL), 0);
        ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), 0);  /* the rest is captured */
        ASSERT_ERR(weft_stream_close(s), 0);
        ASSERT_ERR(weft_close(sv[1]), 0);
    }
    int sv[2];
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 0);
    ASSERT_ERR(weft_write(sv[1], "x", 1), 1);  /* waits captured, with buffers to spare */
    char c;
    ASSERT_EQ(weft_stream_read(s, &c, 1), 1);
    long before = reads;
    job j = { sv[1], 64 << 10 };
    weft_task *w = weft_spawn(write_job, &j);
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
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 0);
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
static int cancel_send(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_stream *s = stream_on(sv[0], 0);
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
        weft_task *r = weft_spawn(read_all, &j.fd);
        ASSERT_ERR(weft_stream_drain(s), 0);
        ASSERT_ERR(weft_stream_shutdown(s), 0);
        ASSERT_ERR(weft_join(r, &res), 0);
        ASSERT_EQ((size_t)res, len);
        ASSERT_ERR(weft_stream_close(s), 0);
        ASSERT_ERR(weft_close(sv[1]), 0);
        if (round + 1 < 10) {
            nb_pair(sv);
            s = stream_on(sv[0], 0);
        }
    }
    free(big);
    return 0;
}
TEST(a_cancelled_send_delivers_what_it_sent_once_and_in_order) { ASSERT_EQ(run_uring(cancel_send, NULL), 0); }


/* weft_fd_capture: a raw socket read with weft_read and written with
 * weft_write goes the same way (no read of the reader's); a pipe is left
 * as it is. */
static int raw_capture(void *arg) {
    (void)arg;
    int sv[2], pp[2];
    nb_pair(sv);
    ASSERT(pipe2(pp, O_NONBLOCK | O_CLOEXEC) == 0);
    ASSERT_ERR(weft_fd_capture(sv[0]), 0);
    ASSERT_ERR(weft_fd_capture(pp[0]), 0);
    ASSERT_ERR(weft_fd_capture(-1), WEFT_EINVAL);
    char buf[64];
    for (int round = 0; round < 50; round++) {
        long before = reads;
        ASSERT_EQ(weft_write(sv[1], "ping", 4), 4);
        size_t got = 0;
        while (got < 4) {
            ssize_t n = weft_read(sv[0], buf + got, sizeof buf - got);
            ASSERT(n > 0);
            got += (size_t)n;
        }
        ASSERT(!memcmp(buf, "ping", 4));
        if (round) ASSERT_EQ(reads, before);  /* the first read armed the receive */
        long sent = sends;
        ASSERT_EQ(weft_write(sv[0], "pong", 4), 4);
        ASSERT_EQ(sends, sent);               /* submitted, not sent by us */
        ASSERT_EQ(weft_read(sv[1], buf, sizeof buf), 4);
        ASSERT(!memcmp(buf, "pong", 4));
    }
    ASSERT_EQ(write(pp[1], "x", 1), 1);
    ASSERT_EQ(weft_read(pp[0], buf, 1), 1);  /* a pipe: read as ever */
    ASSERT_ERR(weft_close(sv[0]), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    ASSERT_ERR(weft_close(pp[0]), 0);
    ASSERT(close(pp[1]) == 0);
    return 0;
}
TEST(a_raw_socket_given_to_the_loop_is_read_and_written_through_it) { ASSERT_EQ(run_uring(raw_capture, NULL), 0); }

/* ------------------------------------------------------- sending files */

/* A temporary file of `len` pattern bytes (unlinked: the fd is all). */
static int pattern_file(size_t len) {
    char path[] = "/tmp/weft-sendfile-XXXXXX";
    int fd = mkostemp(path, O_CLOEXEC);
    ASSERT(fd >= 0);
    ASSERT(unlink(path) == 0);
    unsigned char buf[4096];
    for (size_t off = 0; off < len;) {
        size_t k = len - off < sizeof buf ? len - off : sizeof buf;
        for (size_t i = 0; i < k; i++) buf[i] = pattern(off + i);
        ASSERT_EQ(pwrite(fd, buf, k, (off_t)off), (ssize_t)k);
        off += k;
    }
    return fd;
}

/* Half-closes s, checks that reader r (read_all on peer) got `want`
 * bytes, and closes everything. */
static void file_finish(weft_stream *s, int peer, weft_task *r, int fd, size_t want) {
    ASSERT_ERR(weft_stream_shutdown(s), 0);
    void *res;
    ASSERT_ERR(weft_join(r, &res), 0);
    ASSERT_EQ((size_t)res, want);
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT_ERR(weft_close(peer), 0);
    ASSERT(close(fd) == 0);
}

/* The stream's own bytes, then the file from where they stop: the reader
 * sees one unbroken pattern, so the order held. `run` picks the backend:
 * on io_uring the buffered bytes go as a submitted send, the file with
 * sendfile(2) on the same socket. */
static int file_after_buffer(void *arg) {
    (void)arg;
    size_t len = 3 << 20, head = 1000;
    int sv[2];
    tcp_pair(sv);
    weft_stream *s = stream_on(sv[1], 0);
    int fd = pattern_file(len);
    unsigned char first[1000];
    for (size_t i = 0; i < head; i++) first[i] = pattern(i);
    ASSERT_ERR(weft_stream_write(s, first, head), 0);
    weft_task *r = weft_spawn(read_all, &sv[0]);
    size_t sent = 0;
    ASSERT_ERR(weft_stream_sendfile(s, fd, (off_t)head, len - head, &sent), 0);
    ASSERT_EQ(sent, len - head);
    ASSERT_EQ(lseek(fd, 0, SEEK_CUR), 0);  /* the fd's own offset stays */
    file_finish(s, sv[0], r, fd, len);
    return 0;
}
TEST(sendfile_sends_the_file_after_the_buffered_bytes) { ASSERT_EQ(wt_run(file_after_buffer, NULL), 0); }
TEST(sendfile_keeps_the_order_with_submitted_sends_on_io_uring) { ASSERT_EQ(run_uring(file_after_buffer, NULL), 0); }

/* A transport the kernel cannot sendfile to gets the file read into the
 * output buffer and written. */
static int file_on_custom(void *arg) {
    (void)arg;
    trickle t = { .in = "" };
    weft_stream *s;
    ASSERT_ERR(weft_stream_new(&s, &trickle_ops, &t, NULL), 0);
    int fd = pattern_file(300);
    ASSERT_ERR(weft_stream_write(s, "<", 1), 0);
    size_t sent = 0;
    ASSERT_ERR(weft_stream_sendfile(s, fd, 10, 200, &sent), 0);
    ASSERT_EQ(sent, 200);
    ASSERT_EQ(t.outlen, 201);
    ASSERT_EQ(t.out[0], '<');
    for (size_t i = 0; i < 200; i++) ASSERT_EQ((unsigned char)t.out[1 + i], pattern(10 + i));
    /* Past the file's end: what there was, then WEFT_EOF. */
    ASSERT_ERR(weft_stream_sendfile(s, fd, 290, 20, &sent), WEFT_EOF);
    ASSERT_EQ(sent, 10);
    ASSERT_ERR(weft_stream_sendfile(s, -1, 0, 20, &sent), WEFT_EINVAL);
    ASSERT_EQ(sent, 0);
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT(close(fd) == 0);
    return 0;
}
TEST(sendfile_on_a_custom_transport_reads_and_writes_the_file) { ASSERT_EQ(wt_run(file_on_custom, NULL), 0); }

/* sendfile past the end over a socket: WEFT_EOF, with the count sent. */
static int file_too_short(void *arg) {
    (void)arg;
    int sv[2];
    tcp_pair(sv);
    weft_stream *s = stream_on(sv[1], 0);
    int fd = pattern_file(5000);
    weft_task *r = weft_spawn(read_all, &sv[0]);
    size_t sent = 0;
    ASSERT_ERR(weft_stream_sendfile(s, fd, 0, 8000, &sent), WEFT_EOF);
    ASSERT_EQ(sent, 5000);
    file_finish(s, sv[0], r, fd, 5000);  /* the stream is still good */
    return 0;
}
TEST(sendfile_past_the_end_of_the_file_is_weft_eof_with_what_was_sent) { ASSERT_EQ(wt_run(file_too_short, NULL), 0); }

/* A peer that reads nothing: the deadline stops the send, which says how
 * far it got; the rest then goes from there. */
static int file_deadline(void *arg) {
    (void)arg;
    size_t len = 16 << 20;
    int sv[2];
    tcp_pair(sv);
    weft_stream *s = stream_on(sv[1], 0);
    int fd = pattern_file(len);
    weft_scope sc;
    weft_timeout_enter(&sc, 10 * WEFT_MILLISECOND);
    size_t sent = 0;
    ASSERT_ERR(weft_stream_sendfile(s, fd, 0, len, &sent), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ETIMEDOUT);
    ASSERT(sent > 0 && sent < len);
    weft_task *r = weft_spawn(read_all, &sv[0]);
    size_t rest = 0;
    ASSERT_ERR(weft_stream_sendfile(s, fd, (off_t)sent, len - sent, &rest), 0);
    ASSERT_EQ(rest, len - sent);
    file_finish(s, sv[0], r, fd, len);
    return 0;
}
TEST(sendfile_stopped_by_a_deadline_reports_how_much_it_sent) { ASSERT_EQ(wt_run(file_deadline, NULL), 0); }

/* A gone peer: -EPIPE (or a reset), and it sticks to the stream. */
static int file_peer_gone(void *arg) {
    (void)arg;
    int sv[2];
    tcp_pair(sv);
    weft_stream *s = stream_on(sv[1], 0);
    int fd = pattern_file(1 << 20);
    reset_close(sv[0]);
    size_t sent = 0;
    int err = weft_stream_sendfile(s, fd, 0, 1 << 20, &sent);
    ASSERT(err == -EPIPE || err == -ECONNRESET);
    ASSERT_ERR(weft_stream_write(s, "x", 1), err);
    ASSERT_ERR(weft_stream_close(s), 0);
    ASSERT(close(fd) == 0);
    return 0;
}
TEST(sendfile_to_a_gone_peer_fails_and_the_error_sticks) { ASSERT_EQ(wt_run(file_peer_gone, NULL), 0); }

/* Where the kernel refuses sendfile for a file (EINVAL: one that cannot be
 * mapped), the socket stream reads the file and writes it instead. */
static ssize_t refuse_sendfile(int out, int in, off_t *off, size_t len) {
    (void)out, (void)in, (void)off, (void)len;
    errno = EINVAL;
    return -1;
}
static int file_refused(void *arg) {
    (void)arg;
    size_t len = 200000;
    int sv[2];
    tcp_pair(sv);
    weft_stream *s = stream_on(sv[1], 0);
    int fd = pattern_file(len);
    weft__sys.sendfile = refuse_sendfile;
    weft_task *r = weft_spawn(read_all, &sv[0]);
    size_t sent = 0;
    ASSERT_ERR(weft_stream_sendfile(s, fd, 0, len, &sent), 0);
    weft__sys = weft__sys_default;
    ASSERT_EQ(sent, len);
    file_finish(s, sv[0], r, fd, len);
    return 0;
}
TEST(sendfile_refused_by_the_kernel_falls_back_to_reading_the_file) { ASSERT_EQ(wt_run(file_refused, NULL), 0); }
