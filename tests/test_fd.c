/* Waiting on file descriptors; reads and writes that suspend one task. */
#include "test.h"

#include <weft/io.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static void nb_pair(int sv[2]) {
    ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
}

static void *reader(void *arg) {
    int fd = *(int *)arg;
    char buf[16] = { 0 };
    ssize_t n = weft_read(fd, buf, sizeof buf);
    if (n < 0) return weft_error((int)n);
    return (void *)(intptr_t)(n == 5 && memcmp(buf, "hello", 5) == 0);
}
static int read_wakes(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_task *r = weft_spawn(reader, &sv[0]);
    ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), 0);  /* the reader now waits */
    ASSERT_EQ(weft_write(sv[1], "hello", 5), 5);
    void *ok;
    ASSERT_ERR(weft_join(r, &ok), 0);
    ASSERT_EQ((intptr_t)ok, 1);
    ASSERT_ERR(weft_close(sv[0]), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(read_waits_for_data_and_wakes_when_it_comes) { ASSERT_EQ(wt_run(read_wakes, NULL), 0); }

static void *echo(void *arg) {
    int fd = *(int *)arg;
    char buf[64];
    for (;;) {
        ssize_t n = weft_read(fd, buf, sizeof buf);
        if (n <= 0) return weft_error(n ? (int)n : 0);
        if (weft_write(fd, buf, (size_t)n) != n) return weft_error(WEFT_EINVAL);
    }
}
static int ping_pong(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_task *e = weft_spawn(echo, &sv[1]);
    for (int i = 0; i < 1000; i++) {
        char msg[32], back[32];
        int len = snprintf(msg, sizeof msg, "ping %d", i);
        ASSERT_EQ(weft_write(sv[0], msg, (size_t)len), len);
        ssize_t got = 0;
        while (got < len) {
            ssize_t n = weft_read(sv[0], back + got, sizeof back - (size_t)got);
            ASSERT(n > 0);
            got += n;
        }
        ASSERT(memcmp(msg, back, (size_t)len) == 0);
    }
    ASSERT_ERR(weft_close(sv[0]), 0);  /* echo sees end of file */
    ASSERT_ERR(weft_join(e, NULL), 0);
    ASSERT_ERR(weft_close(sv[1]), 0);
    return 0;
}
TEST(two_tasks_ping_pong_a_thousand_times_over_a_socket) { ASSERT_EQ(wt_run(ping_pong, NULL), 0); }

static int deadlines(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_wait_readable(sv[0], t0 + 2 * WEFT_SECOND), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_now() - t0, 2 * WEFT_SECOND);
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, WEFT_SECOND), 0);
    char c;
    ASSERT_ERR(weft_read(sv[0], &c, 1), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ETIMEDOUT);
    /* Nothing was lost: a byte written now is read. */
    ASSERT_EQ(weft_write(sv[1], "x", 1), 1);
    ASSERT_EQ(weft_read(sv[0], &c, 1), 1);
    ASSERT_EQ(c, 'x');
    weft_close(sv[0]);
    weft_close(sv[1]);
    return 0;
}
TEST(waits_end_at_their_deadline_or_the_scopes) { ASSERT_EQ(wt_run(deadlines, NULL), 0); }

static int cancel_read(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_task *r = weft_spawn(reader, &sv[0]);
    ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), 0);
    weft_cancel(r);
    void *res;
    ASSERT_ERR(weft_join(r, &res), 0);
    ASSERT_ERR(weft_error_code(res), WEFT_ECANCELED);
    /* The fd is free again for another reader. */
    r = weft_spawn(reader, &sv[0]);
    ASSERT_ERR(weft_yield(), 0);
    ASSERT_EQ(weft_write(sv[1], "hello", 5), 5);
    ASSERT_ERR(weft_join(r, &res), 0);
    ASSERT_EQ((intptr_t)res, 1);
    weft_close(sv[0]);
    weft_close(sv[1]);
    return 0;
}
TEST(cancel_during_a_blocked_read_frees_the_fd_for_the_next_reader) { ASSERT_EQ(wt_run(cancel_read, NULL), 0); }

static int busy(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_task *r = weft_spawn(reader, &sv[0]);
    ASSERT_ERR(weft_yield(), 0);
    ASSERT_ERR(weft_wait_readable(sv[0], WEFT_FOREVER), WEFT_EBUSY);
    weft_fd_forget(sv[0]);  /* wakes the reader */
    void *res;
    ASSERT_ERR(weft_join(r, &res), 0);
    ASSERT_ERR(weft_error_code(res), WEFT_ECLOSED);
    weft_close(sv[0]);
    weft_close(sv[1]);
    return 0;
}
TEST(one_waiter_per_direction_and_forget_wakes_it_with_eclosed) { ASSERT_EQ(wt_run(busy, NULL), 0); }

static int early_edge(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    /* Watch the fd for writing first, so it is registered... */
    ASSERT_ERR(weft_wait_writable(sv[0], WEFT_FOREVER), 0);
    /* ...then data arrives while nobody waits to read, and the loop polls. */
    ASSERT_EQ(weft_write(sv[1], "y", 1), 1);
    ASSERT_ERR(weft_wait_writable(sv[1], WEFT_FOREVER), 0);
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_wait_readable(sv[0], t0 + WEFT_SECOND), 0);
    ASSERT_EQ(weft_now(), t0);
    weft_close(sv[0]);
    weft_close(sv[1]);
    return 0;
}
TEST(an_edge_that_came_while_nobody_waited_is_kept) { ASSERT_EQ(wt_run(early_edge, NULL), 0); }

static int regular_file(void *arg) {
    (void)arg;
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    ASSERT(fd >= 0);
    ASSERT_ERR(weft_wait_readable(fd, WEFT_FOREVER), -EPERM);
    ASSERT_ERR(weft_wait_readable(-1, WEFT_FOREVER), -EBADF);
    ASSERT_ERR(weft_close(fd), 0);
    return 0;
}
TEST(fds_epoll_cannot_watch_are_refused) { ASSERT_EQ(wt_run(regular_file, NULL), 0); }

static int peer_gone(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    ASSERT_ERR(weft_close(sv[1]), 0);
    ASSERT_ERR(weft_write(sv[0], "z", 1), -EPIPE);  /* and no SIGPIPE */
    weft_close(sv[0]);
    return 0;
}
TEST(writing_to_a_gone_peer_is_epipe_not_sigpipe) { ASSERT_EQ(wt_run(peer_gone, NULL), 0); }

static void *drain_slowly(void *arg) {
    int fd = *(int *)arg;
    char buf[4096];
    size_t total = 0;
    for (;;) {
        weft_sleep(WEFT_MILLISECOND);
        ssize_t n = weft_read(fd, buf, sizeof buf);
        if (n <= 0) break;
        total += (size_t)n;
    }
    return (void *)total;
}
static int backpressure(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_task *d = weft_spawn(drain_slowly, &sv[1]);
    size_t len = 4 << 20;
    char *big = calloc(1, len);
    ASSERT_EQ(weft_write(sv[0], big, len), (ssize_t)len);  /* waits for room, many times */
    free(big);
    weft_close(sv[0]);
    void *total;
    ASSERT_ERR(weft_join(d, &total), 0);
    ASSERT_EQ((size_t)total, len);
    weft_close(sv[1]);
    return 0;
}
TEST(a_large_write_waits_for_a_slow_reader) { ASSERT_EQ(wt_run(backpressure, NULL), 0); }

#include <pthread.h>
static void *write_later(void *arg) {
    usleep(50 * 1000);
    ASSERT_EQ(write(*(int *)arg, "t", 1), 1);
    return NULL;
}
static int other_thread_writes(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    pthread_t th;
    ASSERT(pthread_create(&th, NULL, write_later, &sv[1]) == 0);
    char c;
    ASSERT_EQ(weft_read(sv[0], &c, 1), 1);  /* no timer pending: not a deadlock */
    pthread_join(th, NULL);
    weft_close(sv[0]);
    weft_close(sv[1]);
    return 0;
}
TEST(a_task_waiting_on_an_fd_is_not_a_deadlock) { ASSERT_EQ(wt_run_real(other_thread_writes, NULL), 0); }

static int cancelled_io(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    ASSERT_EQ(weft_write(sv[1], "data", 4), 4);
    weft_cancel(weft_current());
    char buf[8];
    ASSERT_ERR(weft_read(sv[0], buf, sizeof buf), WEFT_ECANCELED);   /* data or not */
    ASSERT_ERR(weft_write(sv[1], "more", 4), WEFT_ECANCELED);
    weft_scope sh;
    ASSERT_ERR(weft_scope_enter_ex(&sh, WEFT_FOREVER, WEFT_SCOPE_SHIELD), 0);
    ASSERT_EQ(weft_read(sv[0], buf, sizeof buf), 4);  /* nothing was consumed */
    ASSERT_ERR(weft_scope_leave(&sh), 0);
    weft_close(sv[0]);
    weft_close(sv[1]);
    return 0;
}
TEST(a_cancelled_task_reads_and_writes_nothing) { ASSERT_EQ(wt_run(cancelled_io, NULL), 0); }

static void *read_to_eof(void *arg) {
    int fd = *(int *)arg;
    char buf[64];
    size_t total = 0;
    for (;;) {
        ssize_t n = weft_read(fd, buf, sizeof buf);
        if (n < 0) return weft_error((int)n);
        if (n == 0) return (void *)total;
        total += (size_t)n;
    }
}
static int short_read_then_eof(void *arg) {
    (void)arg;
    int sv[2];
    nb_pair(sv);
    weft_task *r = weft_spawn(read_to_eof, &sv[0]);
    ASSERT_ERR(weft_yield(), 0);  /* the reader waits, so the fd is watched */
    /* Data and the end come together: the read that gets the data is short,
     * yet the queue is not "empty": the end of file is still to be read. */
    ASSERT_EQ(weft_write(sv[1], "abc", 3), 3);
    ASSERT(shutdown(sv[1], SHUT_WR) == 0);
    void *total;
    ASSERT_ERR(weft_join(r, &total), 0);
    ASSERT_EQ((intptr_t)total, 3);
    weft_close(sv[0]);
    weft_close(sv[1]);
    return 0;
}
TEST(a_short_read_followed_by_end_of_file_does_not_wait_forever) { ASSERT_EQ(wt_run(short_read_then_eof, NULL), 0); }

/* ------------------------------------------- tasks that start on input */

typedef struct started { int fd; int64_t at; int started; ssize_t got; char buf[8]; } started;

static void *starter(void *arg) {
    started *s = arg;
    s->started++;
    s->at = weft_now();
    s->got = weft_read(s->fd, s->buf, sizeof s->buf);
    return NULL;
}

static void *just_wait(void *arg) {
    return weft_error(weft_wait_readable(*(int *)arg, WEFT_FOREVER));
}

/* A socket pair, and a task that starts on input to sv[0] (or `deadline`). */
static weft_task *pair_and_starter(int sv[2], started *s, int64_t deadline) {
    nb_pair(sv);
    *s = (started){ .fd = sv[0] };
    weft_task *t;
    ASSERT_ERR(weft_spawn_when_readable(&t, NULL, sv[0], deadline, starter, s), 0);
    return t;
}

static int starts_on_input(void *arg) {
    (void)arg;
    int sv[2];
    started s;
    weft_task *t = pair_and_starter(sv, &s, WEFT_FOREVER);
    ASSERT_ERR(weft_sleep(WEFT_SECOND), 0);
    ASSERT_EQ(s.started, 0);
    ASSERT_EQ(weft_task_state(t), WEFT_TASK_WAITING);
    /* It is fd's reader meanwhile. */
    ASSERT_ERR(weft_wait_readable(sv[0], WEFT_FOREVER), WEFT_EBUSY);
    ASSERT_ERR(weft_spawn_when_readable(NULL, &(weft_spawn_opts){ .detached = 1 }, sv[0],
                                        WEFT_FOREVER, starter, &s), WEFT_EBUSY);
    int64_t t0 = weft_now();
    ASSERT_EQ(weft_write(sv[1], "hello", 5), 5);
    ASSERT_ERR(weft_join(t, NULL), 0);
    ASSERT_EQ(s.started, 1);
    ASSERT_EQ(s.at, t0);
    ASSERT_EQ(s.got, 5);
    ASSERT(memcmp(s.buf, "hello", 5) == 0);
    /* Input already there when it is spawned: it starts at once. */
    s.started = 0;
    ASSERT_EQ(weft_write(sv[1], "again", 5), 5);
    ASSERT_ERR(weft_spawn_when_readable(&t, NULL, sv[0], WEFT_FOREVER, starter, &s), 0);
    ASSERT_ERR(weft_join(t, NULL), 0);
    ASSERT_EQ(s.started, 1);
    ASSERT_EQ(s.got, 5);
    /* Input whose edge a wait used, without a read after it (its deadline
     * came first, say): the poller will not report it again, so the task
     * starts at once. */
    weft_task *w = weft_spawn(just_wait, &sv[0]);
    ASSERT_ERR(weft_yield(), 0);
    ASSERT_EQ(weft_write(sv[1], "third", 5), 5);
    ASSERT_ERR(weft_join(w, NULL), 0);
    s.started = 0;
    ASSERT_ERR(weft_spawn_when_readable(&t, NULL, sv[0], WEFT_FOREVER, starter, &s), 0);
    ASSERT_ERR(weft_sleep(WEFT_SECOND), 0);
    ASSERT_EQ(s.started, 1);
    ASSERT_ERR(weft_join(t, NULL), 0);
    ASSERT_EQ(s.got, 5);
    weft_close(sv[0]);
    weft_close(sv[1]);
    return 0;
}
TEST(spawn_when_readable_starts_the_task_when_input_comes_not_before) {
    ASSERT_EQ(wt_run(starts_on_input, NULL), 0);
}

static int starts_at_deadline(void *arg) {
    (void)arg;
    int sv[2];
    started s;
    int64_t d = weft_now() + 3 * WEFT_SECOND;
    weft_task *t = pair_and_starter(sv, &s, d);
    ASSERT_ERR(weft_sleep_until(d + WEFT_SECOND), 0);
    ASSERT_EQ(s.started, 1);
    ASSERT_EQ(s.at, d);
    /* It found nothing there, so its read waits: the peer's close ends it. */
    ASSERT_EQ(weft_task_state(t), WEFT_TASK_WAITING);
    weft_close(sv[1]);
    ASSERT_ERR(weft_join(t, NULL), 0);
    ASSERT_EQ(s.got, 0);
    weft_close(sv[0]);
    return 0;
}
TEST(spawn_when_readable_starts_the_task_at_its_deadline_without_input) {
    ASSERT_EQ(wt_run(starts_at_deadline, NULL), 0);
}

static int cancelled_before_start(void *arg) {
    (void)arg;
    int sv[2];
    started s;
    weft_task *t = pair_and_starter(sv, &s, WEFT_FOREVER);
    ASSERT_ERR(weft_yield(), 0);
    weft_cancel(t);
    ASSERT_ERR(weft_join(t, NULL), 0);
    ASSERT_EQ(s.started, 1);
    ASSERT_ERR(s.got, WEFT_ECANCELED);
    /* The fd has no reader left. */
    ASSERT_EQ(weft_write(sv[1], "x", 1), 1);
    ASSERT_ERR(weft_wait_readable(sv[0], WEFT_FOREVER), 0);
    /* Closed while it waits: it starts, and its read fails. (Read to the
     * end first, a short read: the input is known drained.) */
    char b[8];
    ASSERT_EQ(weft_read(sv[0], b, sizeof b), 1);
    s.started = 0;
    ASSERT_ERR(weft_spawn_when_readable(&t, NULL, sv[0], WEFT_FOREVER, starter, &s), 0);
    ASSERT_ERR(weft_yield(), 0);
    ASSERT_EQ(s.started, 0);
    weft_close(sv[0]);
    ASSERT_ERR(weft_join(t, NULL), 0);
    ASSERT_EQ(s.started, 1);
    ASSERT(s.got < 0);
    weft_close(sv[1]);
    return 0;
}
TEST(spawn_when_readable_cancelled_or_closed_before_input_still_starts_and_fails_its_read) {
    ASSERT_EQ(wt_run(cancelled_before_start, NULL), 0);
}

static int in_group(void *arg) {
    (void)arg;
    enum { N = 3 };
    int sv[N][2];
    started s[N];
    weft_group g;
    ASSERT_ERR(weft_group_enter(&g), 0);
    for (int i = 0; i < N; i++) {
        nb_pair(sv[i]);
        s[i] = (started){ .fd = sv[i][0] };
        ASSERT_ERR(weft_group_spawn_when_readable(&g, NULL, sv[i][0], WEFT_FOREVER, starter, &s[i]), 0);
    }
    ASSERT_EQ(weft_write(sv[1][1], "one", 3), 3);
    ASSERT_ERR(weft_sleep(WEFT_SECOND), 0);
    ASSERT_EQ(s[0].started + s[1].started + s[2].started, 1);
    ASSERT_EQ(s[1].got, 3);
    weft_group_cancel(&g);
    /* One spawned into the cancelled group starts at once, to see it. */
    int late[2];
    nb_pair(late);
    started ls = { .fd = late[0] };
    ASSERT_ERR(weft_group_spawn_when_readable(&g, NULL, late[0], WEFT_FOREVER, starter, &ls), 0);
    ASSERT_ERR(weft_group_leave(&g), 0);
    ASSERT_EQ(ls.started, 1);
    ASSERT_ERR(ls.got, WEFT_ECANCELED);
    weft_close(late[0]);
    weft_close(late[1]);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(s[i].started, 1);
        if (i != 1) ASSERT_ERR(s[i].got, WEFT_ECANCELED);
        weft_close(sv[i][0]);
        weft_close(sv[i][1]);
    }
    ASSERT_ERR(weft_group_spawn_when_readable(NULL, NULL, 0, WEFT_FOREVER, starter, NULL), WEFT_EINVAL);
    return 0;
}
TEST(spawn_when_readable_in_a_group_is_started_cancelled_by_the_groups_cancel) {
    ASSERT_EQ(wt_run(in_group, NULL), 0);
}

/* A task left waiting for input when main returns starts, cancelled, in
 * the loop's teardown: nothing it owns is lost. */
static started teardown_s;
static int left_waiting(void *arg) {
    int *sv = arg;
    teardown_s = (started){ .fd = sv[0] };
    ASSERT_ERR(weft_spawn_when_readable(NULL, &(weft_spawn_opts){ .detached = 1 }, sv[0],
                                        WEFT_FOREVER, starter, &teardown_s), 0);
    ASSERT_ERR(weft_spawn_when_readable(NULL, NULL, sv[0], WEFT_FOREVER, starter, &teardown_s),
               WEFT_EINVAL);
    ASSERT_ERR(weft_spawn_when_readable(NULL, &(weft_spawn_opts){ .detached = 1 }, -1,
                                        WEFT_FOREVER, starter, &teardown_s), -EBADF);
    return 0;
}
TEST(spawn_when_readable_left_waiting_at_the_end_starts_cancelled) {
    int sv[2];
    nb_pair(sv);
    ASSERT_EQ(wt_run(left_waiting, sv), 0);
    ASSERT_EQ(teardown_s.started, 1);
    ASSERT_ERR(teardown_s.got, WEFT_ECANCELED);
    close(sv[0]);
    close(sv[1]);
}

/* The point of it: waiting to start holds no stack. A thousand tasks with
 * 1 MiB stacks would map a GiB; waiting, they map nothing. */
static long vm_size_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb;
}
static int no_stacks(void *arg) {
    (void)arg;
    enum { N = 1000 };
    static int sv[N][2];
    static started s[N];
    weft_group g;
    ASSERT_ERR(weft_group_enter(&g), 0);
    long before = vm_size_kb();
    weft_spawn_opts so = { .stack_size = 1 << 20 };
    for (int i = 0; i < N; i++) {
        nb_pair(sv[i]);
        s[i] = (started){ .fd = sv[i][0] };
        ASSERT_ERR(weft_group_spawn_when_readable(&g, &so, sv[i][0], WEFT_FOREVER, starter, &s[i]), 0);
    }
    long grew = vm_size_kb() - before;
    ASSERT(before > 0);
    ASSERT(grew < 64 * 1024);  /* not the 1 GiB of stacks */
    for (int i = 0; i < N; i++) ASSERT_EQ(weft_write(sv[i][1], "z", 1), 1);
    ASSERT_ERR(weft_group_leave(&g), 0);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(s[i].got, 1);
        weft_close(sv[i][0]);
        weft_close(sv[i][1]);
    }
    return 0;
}
TEST(tasks_waiting_to_start_on_input_hold_no_stack) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 2100) {
        rl.rlim_cur = rl.rlim_max < 2100 ? rl.rlim_max : 2100;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < 2100) wt_skip("RLIMIT_NOFILE below 2100");
    }
    ASSERT_EQ(wt_run(no_stacks, NULL), 0);
}
