/* Seeing the loop (weft/debug.h): debug mode's detectors each fire on a
 * planted fault and stay silent on a clean program; the task dump says
 * what every task waits for; a trace holds the expected spans in the
 * expected order. (weft-trace's SVG is checked by tests/t_weft_trace.sh.) */
#include "test.h"

#include <weft/loops.h>

#include <weft/debug.h>
#include <weft/io.h>

#include <jansson.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------- collected reports */

static pthread_mutex_t rep_mu = PTHREAD_MUTEX_INITIALIZER;
static char rep_text[1 << 16];
static int rep_count[8];
static int rep_main_done;      /* what main_done was when a report came */
static int main_done;          /* set by a task when its fault is over; atomic */

static void collect(void *ud, int kind, const char *msg) {
    (void)ud;
    pthread_mutex_lock(&rep_mu);
    if (kind >= 0 && kind < 8) rep_count[kind]++;
    if (kind == WEFT_REPORT_SLOW_STEP) rep_main_done = __atomic_load_n(&main_done, __ATOMIC_SEQ_CST);
    size_t n = strlen(rep_text);
    snprintf(rep_text + n, sizeof rep_text - n, "[%d] %s\n", kind, msg);
    pthread_mutex_unlock(&rep_mu);
}

static int reports(int kind) {
    pthread_mutex_lock(&rep_mu);
    int n = rep_count[kind];
    pthread_mutex_unlock(&rep_mu);
    return n;
}

/* Runs fn as main with debug mode (and the options given) through the
 * counting allocator, reports collected; checks nothing leaked. */
static int run_debug(weft_loop_opts o, int (*fn)(void *), void *arg) {
    weft_debug_set_report(collect, NULL);
    int fds = wt_count_fds();
    long live = wt_live_allocs;
    o.flags |= WEFT_LOOP_DEBUG;
    o.realloc = wt_realloc;
    int r = weft_run_opts(&o, fn, arg);
    ASSERT_EQ(wt_live_allocs, live);
    ASSERT_EQ(wt_count_fds(), fds);
    weft_debug_set_report(NULL, NULL);
    return r;
}

static int64_t mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * WEFT_SECOND + ts.tv_nsec;
}

/* ----------------------------------------------------- the slow-step watchdog */

/* Blocks the loop for 300 ms in usleep, in slices: the watchdog's look
 * may find it between two (a signal then), or in one (none). */
static void *blocker(void *arg) {
    (void)arg;
    int64_t end = mono() + 300 * WEFT_MILLISECOND;
    while (mono() < end) usleep(20000);
    __atomic_store_n(&main_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static int spawn_blocker(void *arg) {
    (void)arg;
    weft_task *t = weft_spawn_named("blocker", blocker, NULL);
    ASSERT(t);
    return weft_join(t, NULL);
}

TEST(slow_step_is_reported_while_blocked_with_task_name_and_stack) {
    weft_loop_opts o = { .slow_step = 100 * WEFT_MILLISECOND };
    ASSERT_EQ(run_debug(o, spawn_blocker, NULL), 0);
    ASSERT_EQ(reports(WEFT_REPORT_SLOW_STEP), 1);           /* once per stall */
    ASSERT_EQ(rep_main_done, 0);                            /* while still stuck */
    ASSERT(strstr(rep_text, "task 'blocker'"));
    ASSERT(strstr(rep_text, "usleep") || strstr(rep_text, "nanosleep"));
}

static void *polite(void *arg) {
    (void)arg;
    for (int i = 0; i < 4; i++) ASSERT_EQ(weft_sleep(60 * WEFT_MILLISECOND), 0);
    return NULL;
}

static int spawn_polite(void *arg) {
    (void)arg;
    weft_task *t[3];
    for (int i = 0; i < 3; i++) ASSERT(t[i] = weft_spawn_named("polite", polite, NULL));
    return weft_gather(t, 3, NULL);
}

TEST(tasks_that_sleep_with_weft_sleep_get_no_slow_step_report) {
    weft_loop_opts o = { .slow_step = 100 * WEFT_MILLISECOND };
    ASSERT_EQ(run_debug(o, spawn_polite, NULL), 0);
    ASSERT_EQ(reports(WEFT_REPORT_SLOW_STEP), 0);
}

TEST(slow_step_threshold_comes_from_weft_debug_slow_ms) {
    setenv("WEFT_DEBUG_SLOW_MS", "1000", 1);   /* longer than the 300 ms stall */
    weft_loop_opts o = { 0 };
    ASSERT_EQ(run_debug(o, spawn_blocker, NULL), 0);
    ASSERT_EQ(reports(WEFT_REPORT_SLOW_STEP), 0);
}

/* Debug mode must not change what the program does. A thread blocked in a
 * system call is sampled from outside, without a signal: a nanosleep or a
 * poll would return early with EINTR (signal(7): SA_RESTART restarts
 * neither). So each of these calls sleeps its full time once, and the
 * report names the call and the function that made it. */
__attribute__((noinline)) static void *sleeps_in_nanosleep(void *arg) {
    (void)arg;
    struct timespec ts = { 0, 300 * 1000 * 1000 }, rem = { 0, 0 };
    int64_t t0 = mono();
    ASSERT_EQ(nanosleep(&ts, &rem), 0);
    ASSERT(mono() - t0 >= 300 * WEFT_MILLISECOND);
    __atomic_store_n(&main_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

__attribute__((noinline)) static void *waits_in_poll(void *arg) {
    int *fds = arg;
    struct pollfd p = { .fd = fds[0], .events = POLLIN };
    int64_t t0 = mono();
    ASSERT_EQ(poll(&p, 1, 300), 0);   /* the timeout, not EINTR */
    ASSERT(mono() - t0 >= 290 * WEFT_MILLISECOND);
    __atomic_store_n(&main_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static int spawn_fn(void *arg) {
    void *(*fn)(void *) = ((void **)arg)[0];
    weft_task *t = weft_spawn_named("stuck", fn, ((void **)arg)[1]);
    ASSERT(t);
    return weft_join(t, NULL);
}

/* Names the function and this file when libdw was there to read them. */
static void assert_frame(const char *fn) {
    char want[96];
    snprintf(want, sizeof want, " %s (test_debug.c:", fn);
#ifdef WEFT_HAVE_LIBDW
    ASSERT(strstr(rep_text, want));
#else
    (void)want;
#endif
}

TEST(a_blocking_nanosleep_is_sampled_without_a_signal_and_sleeps_its_full_time) {
    weft_loop_opts o = { .slow_step = 100 * WEFT_MILLISECOND };
    void *arg[2] = { (void *)sleeps_in_nanosleep, NULL };
    ASSERT_EQ(run_debug(o, spawn_fn, arg), 0);
    ASSERT_EQ(reports(WEFT_REPORT_SLOW_STEP), 1);
    ASSERT_EQ(rep_main_done, 0);
    ASSERT(strstr(rep_text, "task 'stuck'"));
    ASSERT(strstr(rep_text, "It is blocked in nanosleep(0.300 s)") ||
           strstr(rep_text, "It is blocked in clock_nanosleep(0.300 s)"));
    assert_frame("sleeps_in_nanosleep");
}

TEST(a_blocking_poll_is_sampled_without_a_signal_and_waits_its_full_timeout) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    weft_loop_opts o = { .slow_step = 100 * WEFT_MILLISECOND };
    void *arg[2] = { (void *)waits_in_poll, fds };
    ASSERT_EQ(run_debug(o, spawn_fn, arg), 0);
    close(fds[0]);
    close(fds[1]);
    ASSERT_EQ(reports(WEFT_REPORT_SLOW_STEP), 1);
    ASSERT(strstr(rep_text, "It is blocked in poll(0.300 s)") || strstr(rep_text, "It is blocked in ppoll"));
    assert_frame("waits_in_poll");
}

/* A blocking read() of a pipe a thread writes to 300 ms later returns its
 * byte, and the report names the call and the fd. */
__attribute__((noinline)) static void *reads_a_pipe(void *arg) {
    int *fds = arg;
    char c = 0;
    ASSERT_EQ(read(fds[0], &c, 1), 1);
    ASSERT_EQ(c, 'x');
    __atomic_store_n(&main_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *write_later(void *arg) {
    int *fds = arg;
    usleep(300 * 1000);
    ASSERT_EQ(write(fds[1], "x", 1), 1);
    return NULL;
}

TEST(a_blocking_read_is_reported_with_its_fd_and_returns_its_data) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, write_later, fds), 0);
    weft_loop_opts o = { .slow_step = 100 * WEFT_MILLISECOND };
    void *arg[2] = { (void *)reads_a_pipe, fds };
    ASSERT_EQ(run_debug(o, spawn_fn, arg), 0);
    pthread_join(th, NULL);
    close(fds[0]);
    close(fds[1]);
    ASSERT_EQ(reports(WEFT_REPORT_SLOW_STEP), 1);
    char want[64];
    snprintf(want, sizeof want, "It is blocked in read(fd %d)", fds[0]);
    ASSERT(strstr(rep_text, want));
#ifndef __SANITIZE_ADDRESS__   /* the walk stops in AddressSanitizer's read interceptor */
    assert_frame("reads_a_pipe");
#endif
}

/* A busy loop is in no system call: the sample is a signal, whose handler
 * keeps errno and restarts what it interrupts. */
__attribute__((noinline)) static void *spins(void *arg) {
    (void)arg;
    errno = EOWNERDEAD;
    volatile uint64_t x = 0;
    for (int64_t end = mono() + 300 * WEFT_MILLISECOND; mono() < end;)
        for (int i = 0; i < 1000; i++) x += (uint64_t)i;
    ASSERT_EQ(errno, EOWNERDEAD);
    __atomic_store_n(&main_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

TEST(a_busy_loop_is_sampled_with_a_signal_that_leaves_errno_alone) {
    weft_loop_opts o = { .slow_step = 100 * WEFT_MILLISECOND };
    void *arg[2] = { (void *)spins, NULL };
    ASSERT_EQ(run_debug(o, spawn_fn, arg), 0);
    ASSERT_EQ(reports(WEFT_REPORT_SLOW_STEP), 1);
    ASSERT(strstr(rep_text, "Where it is now:"));
    assert_frame("spins");
}

/* ------------------------------------------------------------ deadlocks */

/* Three tasks in a ring: a holds la and wants lb; b holds lb and joins c;
 * c wants la. main joins a, so it waits along the ring but is not on it. */
static weft_lock la = WEFT_LOCK_INITIALIZER, lb = WEFT_LOCK_INITIALIZER;
static weft_task *ring_c;

static void *ring_a(void *arg) {
    (void)arg;
    ASSERT_EQ(weft_lock_acquire(&la), 0);
    weft_yield();
    weft_yield();
    if (weft_lock_acquire(&lb) == 0) weft_lock_release(&lb);   /* ECANCELED, the deadlock broken */
    weft_lock_release(&la);
    return NULL;
}

static void *ring_b(void *arg) {
    (void)arg;
    ASSERT_EQ(weft_lock_acquire(&lb), 0);
    weft_yield();
    weft_join(ring_c, NULL);
    weft_lock_release(&lb);
    return NULL;
}

static void *ring_c_fn(void *arg) {
    (void)arg;
    weft_yield();
    if (weft_lock_acquire(&la) == 0) weft_lock_release(&la);
    return NULL;
}

static int ring(void *arg) {
    (void)arg;
    weft_task *a = weft_spawn_named("a", ring_a, NULL);
    weft_task *b = weft_spawn_named("b", ring_b, NULL);
    ring_c = weft_spawn_named("c", ring_c_fn, NULL);
    ASSERT(a && b && ring_c);
    weft_join(a, NULL);
    weft_join(b, NULL);
    weft_join(ring_c, NULL);
    return 0;
}

TEST(a_deadlock_of_three_tasks_is_reported_with_its_cycle) {
    weft_loop_opts o = { .flags = WEFT_LOOP_VIRTUAL_CLOCK };
    ASSERT_ERR(run_debug(o, ring, NULL), WEFT_EDEADLK);
    ASSERT_EQ(reports(WEFT_REPORT_DEADLOCK), 1);
    char want[512];
    /* tasks 2, 3, 4 are a, b, c; the cycle starts from its lowest id */
    snprintf(want, sizeof want, "a cycle of 3 tasks: task 2 'a' waits for the lock %p held by task 3 'b'; "
             "task 3 'b' joins task 4 'c'; task 4 'c' waits for the lock %p held by task 2 'a'\n",
             (void *)&lb, (void *)&la);
    ASSERT(strstr(rep_text, want));
    ASSERT(!strstr(strstr(rep_text, want) + 1, "a cycle"));   /* once */
    ASSERT(strstr(rep_text, "task 1 'main' waiting") && strstr(rep_text, "join of task 2"));
}

static int waits_for_nothing(void *arg) {
    (void)arg;
    weft_event e = WEFT_EVENT_INITIALIZER;
    ASSERT_ERR(weft_event_wait(&e), WEFT_ECANCELED);
    return 0;
}

TEST(a_deadlock_without_a_cycle_says_so) {
    weft_loop_opts o = { .flags = WEFT_LOOP_VIRTUAL_CLOCK };
    ASSERT_ERR(run_debug(o, waits_for_nothing, NULL), WEFT_EDEADLK);
    ASSERT_EQ(reports(WEFT_REPORT_DEADLOCK), 1);
    ASSERT(strstr(rep_text, "no cycle of tasks"));
    ASSERT(strstr(rep_text, "task 1 'main' waiting") && strstr(rep_text, "event at"));
}

/* --------------------------------------------------- pending and unjoined */

static void *forever(void *arg) {
    (void)arg;
    weft_sleep(WEFT_FOREVER);
    return NULL;
}

static int leave_straggler(void *arg) {
    (void)arg;
    weft_spawn_opts so = { .name = "straggler", .detached = 1 };
    ASSERT_EQ(weft_spawn_ex(NULL, &so, forever, NULL), 0);
    return weft_yield();
}

TEST(tasks_pending_when_main_returns_are_reported_by_name) {
    weft_loop_opts o = { .flags = WEFT_LOOP_VIRTUAL_CLOCK };
    ASSERT_EQ(run_debug(o, leave_straggler, NULL), 0);
    ASSERT_EQ(reports(WEFT_REPORT_PENDING), 1);
    ASSERT(strstr(rep_text, "'straggler' waiting"));
    ASSERT(strstr(rep_text, "sleep"));
}

static int join_everything(void *arg) {
    (void)arg;
    weft_task *t = weft_spawn_named("short", polite, NULL);
    return weft_join(t, NULL);
}

TEST(no_pending_report_when_main_joined_everything) {
    weft_loop_opts o = { .flags = WEFT_LOOP_VIRTUAL_CLOCK };
    ASSERT_EQ(run_debug(o, join_everything, NULL), 0);
    ASSERT_EQ(reports(WEFT_REPORT_PENDING), 0);
    ASSERT_EQ(reports(WEFT_REPORT_UNJOINED_ERROR), 0);
}

static void *failing(void *arg) {
    (void)arg;
    return weft_error(-EIO);
}

static int drop_failures(void *arg) {
    int join = *(int *)arg;
    weft_spawn_opts so = { .name = "doomed", .detached = 1 };
    ASSERT_EQ(weft_spawn_ex(NULL, &so, failing, NULL), 0);
    weft_task *kept = weft_spawn_named("forgotten", failing, NULL);
    ASSERT(kept);
    ASSERT_EQ(weft_yield(), 0);
    if (join) ASSERT_EQ(weft_join(kept, NULL), 0);
    return 0;
}

TEST(failed_tasks_nobody_joined_are_reported) {
    weft_loop_opts o = { .flags = WEFT_LOOP_VIRTUAL_CLOCK };
    int join = 0;
    ASSERT_EQ(run_debug(o, drop_failures, &join), 0);
    ASSERT_EQ(reports(WEFT_REPORT_UNJOINED_ERROR), 2);
    ASSERT(strstr(rep_text, "'doomed'"));
    ASSERT(strstr(rep_text, "'forgotten' failed"));
}

static void *ok_task(void *arg) { return arg; }

static int join_failure(void *arg) {
    (void)arg;
    weft_task *t = weft_spawn_named("failing", failing, NULL), *u = weft_spawn(ok_task, NULL);
    void *r;
    ASSERT_EQ(weft_join(t, &r), 0);
    ASSERT(weft_is_error(r));
    weft_detach(u);   /* succeeds: nothing to report */
    return 0;
}

TEST(a_joined_failure_and_a_detached_success_are_not_reported) {
    weft_loop_opts o = { .flags = WEFT_LOOP_VIRTUAL_CLOCK };
    ASSERT_EQ(run_debug(o, join_failure, NULL), 0);
    ASSERT_EQ(reports(WEFT_REPORT_UNJOINED_ERROR), 0);
}

/* ----------------------------------------------------------------- misuse */

TEST(blocking_call_outside_any_task_names_the_function_in_debug_mode) {
    weft_debug_set_report(collect, NULL);
    setenv("WEFT_DEBUG", "1", 1);
    ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), WEFT_ENOTASK);
    ASSERT_ERR(weft_wait_readable(0, WEFT_FOREVER), WEFT_ENOTASK);
    ASSERT_EQ(reports(WEFT_REPORT_MISUSE), 2);
    ASSERT(strstr(rep_text, "weft_sleep"));
    ASSERT(strstr(rep_text, "weft_wait_readable called outside any task"));
    unsetenv("WEFT_DEBUG");
    ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), WEFT_ENOTASK);  /* silent now */
    ASSERT_EQ(reports(WEFT_REPORT_MISUSE), 2);
    weft_debug_set_report(NULL, NULL);
}

static void from_callback(void *arg) {
    *(int *)arg = weft_yield();
}

static int misuse_in_callback(void *arg) {
    (void)arg;
    int r = 0;
    ASSERT_EQ(weft_call_soon(from_callback, &r), 0);
    ASSERT_EQ(weft_sleep(WEFT_MILLISECOND), 0);
    ASSERT_ERR(r, WEFT_ENOTASK);
    return 0;
}

TEST(blocking_call_from_a_callback_is_reported_and_calls_in_tasks_are_not) {
    weft_loop_opts o = { .flags = WEFT_LOOP_VIRTUAL_CLOCK };
    ASSERT_EQ(run_debug(o, misuse_in_callback, NULL), 0);
    ASSERT_EQ(reports(WEFT_REPORT_MISUSE), 1);
    ASSERT(strstr(rep_text, "weft_yield called outside any task (from a callback)"));
}

/* --------------------------------------------------------------- the dump */

struct zoo {
    weft_task *sleeper, *joiner;
    weft_lock lock;
    weft_event ev;
    weft_queue *q;
    int pipe[2];
};

static void *do_sleep(void *arg) { (void)arg; weft_sleep(WEFT_SECOND); return NULL; }
static void *do_join(void *arg) { return (void *)(intptr_t)weft_join(((struct zoo *)arg)->sleeper, NULL); }
static void *do_lock(void *arg) {
    struct zoo *z = arg;
    int err = weft_lock_acquire(&z->lock);
    if (!err) weft_lock_release(&z->lock);
    return (void *)(intptr_t)err;
}
static void *do_event(void *arg) { return (void *)(intptr_t)weft_event_wait(&((struct zoo *)arg)->ev); }
static void *do_get(void *arg) {
    void *item;
    return (void *)(intptr_t)weft_queue_get(((struct zoo *)arg)->q, &item);
}
static void *do_read(void *arg) { return (void *)(intptr_t)weft_wait_readable(((struct zoo *)arg)->pipe[0], WEFT_FOREVER); }

static const weft_task_info *find(const weft_task_info *ti, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(ti[i].name, name)) return &ti[i];
    ASSERT(!"task not in the info");
    return NULL;
}

static void check_info(struct zoo *z) {
    weft_task_info ti[16];
    int n = weft_tasks_info(ti, 16);
    ASSERT_EQ(n, 7);
    const weft_task_info *t = find(ti, n, "main");
    ASSERT_EQ(t->state, WEFT_TASK_RUNNING);
    ASSERT(t->nframes > 0);
    ASSERT_EQ(find(ti, n, "sleeper")->await, WEFT_AWAIT_SLEEP);
    ASSERT(find(ti, n, "sleeper")->until != WEFT_FOREVER);
    ASSERT_EQ(find(ti, n, "joiner")->await, WEFT_AWAIT_JOIN);
    ASSERT_EQ(find(ti, n, "joiner")->task, weft_task_id(z->sleeper));
    ASSERT_EQ(find(ti, n, "locker")->await, WEFT_AWAIT_LOCK);
    ASSERT(find(ti, n, "locker")->obj == &z->lock);
    ASSERT_EQ(find(ti, n, "eventer")->await, WEFT_AWAIT_EVENT);
    ASSERT_EQ(find(ti, n, "getter")->await, WEFT_AWAIT_QUEUE_GET);
    ASSERT(find(ti, n, "getter")->obj == z->q);
    ASSERT_EQ(find(ti, n, "reader")->await, WEFT_AWAIT_READABLE);
    ASSERT_EQ(find(ti, n, "reader")->fd, z->pipe[0]);
    for (int i = 0; i < n; i++) {
        ASSERT(ti[i].nframes >= 2);   /* weft__schedule, then the waiting call */
        if (ti[i].state == WEFT_TASK_WAITING) ASSERT_EQ(ti[i].since, -1);   /* not observing */
    }
}

static void check_dump(struct zoo *z) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ASSERT_EQ(weft_dump_tasks(f), 0);
    fclose(f);
    char want[128];
    snprintf(want, sizeof want, "'joiner' waiting: join of task %llu", (unsigned long long)weft_task_id(z->sleeper));
    ASSERT(strstr(text, want));
    ASSERT(strstr(text, "'sleeper' waiting: sleep until +1.000 s"));
    snprintf(want, sizeof want, "'locker' waiting: lock at %p", (void *)&z->lock);
    ASSERT(strstr(text, want));
    snprintf(want, sizeof want, "'eventer' waiting: event at %p", (void *)&z->ev);
    ASSERT(strstr(text, want));
    snprintf(want, sizeof want, "'getter' waiting: queue get at %p", (void *)z->q);
    ASSERT(strstr(text, want));
    snprintf(want, sizeof want, "'reader' waiting: fd %d readable", z->pipe[0]);
    ASSERT(strstr(text, want));
    ASSERT(strstr(text, "'main' running"));
    ASSERT(strstr(text, "    #0 "));
    free(text);
}

static int dump_zoo(void *arg) {
    (void)arg;
    struct zoo z = { .lock = WEFT_LOCK_INITIALIZER, .ev = WEFT_EVENT_INITIALIZER };
    ASSERT_EQ(weft_queue_new(&z.q, NULL), 0);
    ASSERT_EQ(pipe(z.pipe), 0);
    ASSERT_EQ(weft_lock_acquire(&z.lock), 0);
    z.sleeper = weft_spawn_named("sleeper", do_sleep, NULL);
    weft_task *t[5] = {
        weft_spawn_named("joiner", do_join, &z), weft_spawn_named("locker", do_lock, &z),
        weft_spawn_named("eventer", do_event, &z), weft_spawn_named("getter", do_get, &z),
        weft_spawn_named("reader", do_read, &z),
    };
    ASSERT_EQ(weft_yield(), 0);   /* all of them run to their waits */
    check_info(&z);
    check_dump(&z);
    weft_lock_release(&z.lock);
    weft_event_set(&z.ev);
    ASSERT_EQ(weft_queue_put(z.q, &z), 0);
    ASSERT_EQ(write(z.pipe[1], "x", 1), 1);
    ASSERT_EQ(weft_gather(t, 5, NULL), 0);
    weft_close(z.pipe[0]);
    close(z.pipe[1]);
    return weft_queue_free(z.q);
}

TEST(dump_names_what_each_task_awaits) {
    ASSERT_EQ(wt_run(dump_zoo, NULL), 0);
}

TEST(dump_outside_a_loop_is_enotask) {
    weft_task_info ti;
    ASSERT_ERR(weft_tasks_info(&ti, 1), WEFT_ENOTASK);
    ASSERT_ERR(weft_dump_tasks(stderr), WEFT_ENOTASK);
}

static int quit_then_sleep(void *arg) {
    (void)arg;
    weft_task *t = weft_spawn_named("bystander", forever, NULL);
    ASSERT_EQ(weft_yield(), 0);
    ASSERT_EQ(raise(SIGQUIT), 0);
    ASSERT_EQ(weft_sleep(20 * WEFT_MILLISECOND), 0);  /* the loop dumps at upkeep */
    weft_cancel(t);
    return weft_join(t, NULL) == 0 ? 0 : 1;
}

TEST(sigquit_in_debug_mode_dumps_the_tasks) {
    weft_loop_opts o = { 0 };
    ASSERT_EQ(run_debug(o, quit_then_sleep, NULL), 0);
    ASSERT_EQ(reports(WEFT_REPORT_DUMP), 1);
    ASSERT(strstr(rep_text, "'bystander' waiting"));
    ASSERT(strstr(rep_text, "'main' waiting"));
    struct sigaction sa;
    ASSERT_EQ(sigaction(SIGQUIT, NULL, &sa), 0);
    ASSERT(sa.sa_handler == SIG_DFL);   /* given back with the loop */
}

/* Ctrl-\ reaches loop 0 of a weft_run_loops set; every loop of the set
 * dumps its tasks, each saying which loop it is. */
static int quit_on_loop_0(unsigned index, void *arg) {
    (void)arg;
    if (index == 0) ASSERT_EQ(raise(SIGQUIT), 0);
    ASSERT_EQ(weft_sleep(100 * WEFT_MILLISECOND), 0);
    return 0;
}
TEST(sigquit_dumps_the_tasks_of_every_loop_of_a_set) {
    weft_debug_set_report(collect, NULL);
    weft_loops_opts o = { .count = 2, .loop = { .flags = WEFT_LOOP_DEBUG } };
    ASSERT_EQ(weft_run_loops(&o, quit_on_loop_0, NULL), 0);
    weft_debug_set_report(NULL, NULL);
    ASSERT_EQ(reports(WEFT_REPORT_DUMP), 2);
    ASSERT(strstr(rep_text, "(loop 0 of 2, weft_run_loops)"));
    ASSERT(strstr(rep_text, "(loop 1 of 2, weft_run_loops)"));
}

/* ------------------------------------------------------------------ traces */

static void *nap(void *arg) {
    weft_sleep((int64_t)(intptr_t)arg * WEFT_MILLISECOND);
    return NULL;
}

static int two_sleepers(void *arg) {
    (void)arg;
    weft_task *a = weft_spawn_named("a", nap, (void *)10), *b = weft_spawn_named("b", nap, (void *)20);
    ASSERT_EQ(weft_join(a, NULL), 0);
    ASSERT_EQ(weft_join(b, NULL), 0);
    return 0;
}

static json_t *load_trace(const char *path);

/* Under weft_run_loops each loop writes a trace of its own: PATH, PATH.1. */
static int nap_on_each(unsigned index, void *arg) {
    (void)arg;
    weft_task *t = weft_spawn_named(index ? "on-one" : "on-zero", nap, (void *)5);
    return weft_join(t, NULL);
}
TEST(each_loop_of_a_set_writes_a_trace_of_its_own) {
    char path[] = "/tmp/weft-trace-loops-XXXXXX";
    int fd = mkstemp(path);
    ASSERT(fd >= 0);
    close(fd);
    char one[64];
    snprintf(one, sizeof one, "%s.1", path);
    weft_loops_opts o = { .count = 2, .loop = { .trace_path = path } };
    ASSERT_EQ(weft_run_loops(&o, nap_on_each, NULL), 0);
    json_t *a = load_trace(path), *b = load_trace(one);
    ASSERT(a && b);
    char *ta = json_dumps(a, 0), *tb = json_dumps(b, 0);
    ASSERT(ta && tb);
    ASSERT(strstr(ta, "on-zero") && !strstr(ta, "on-one"));
    ASSERT(strstr(tb, "on-one"));
    free(ta);
    free(tb);
    json_decref(a);
    json_decref(b);
    unlink(path);
    unlink(one);
}

static json_t *load_trace(const char *path) {
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) fprintf(stderr, "%s:%d: %s\n", path, jerr.line, jerr.text);
    ASSERT(root);
    ASSERT(json_is_array(json_object_get(root, "traceEvents")));
    return root;
}

/* The names of the spans and instants on lane `tid`, in file order, as
 * "name,name,...", with the wait details in brackets. */
static void lane_seq(json_t *evs, long long tid, char *out, size_t len) {
    size_t i, n = 0;
    json_t *e;
    out[0] = 0;
    json_array_foreach(evs, i, e) {
        const char *ph = json_string_value(json_object_get(e, "ph"));
        if (strcmp(ph, "M") == 0 || json_integer_value(json_object_get(e, "tid")) != tid) continue;
        const char *det = json_string_value(json_object_get(json_object_get(e, "args"), "detail"));
        if (det && !strncmp(det, "sleep ", 6)) det = "sleep";  /* the length is a measure */
        n += (size_t)snprintf(out + n, len - n, "%s%s%s%s", n ? "," : "",
                              json_string_value(json_object_get(e, "name")), det ? ":" : "", det ? det : "");
    }
}

static double end_of(json_t *evs, long long tid, const char *name, int nth) {
    size_t i;
    json_t *e;
    json_array_foreach(evs, i, e) {
        if (json_integer_value(json_object_get(e, "tid")) != tid) continue;
        if (strcmp(json_string_value(json_object_get(e, "name")), name) || nth--) continue;
        return json_number_value(json_object_get(e, "ts")) + json_number_value(json_object_get(e, "dur"));
    }
    ASSERT(!"event not found");
    return 0;
}

TEST(trace_of_two_sleepers_and_a_join_has_the_spans_in_order) {
    char path[] = "/tmp/weft-trace-XXXXXX";
    int fd = mkstemp(path);
    ASSERT(fd >= 0);
    close(fd);
    int fds = wt_count_fds();
    long live = wt_live_allocs;
    /* The virtual clock: on a loaded machine, main could resume from the
     * first join after the second sleeper ended, and skip the second wait. */
    weft_loop_opts o = { .flags = WEFT_LOOP_VIRTUAL_CLOCK, .realloc = wt_realloc, .trace_path = path };
    ASSERT_EQ(weft_run_opts(&o, two_sleepers, NULL), 0);
    ASSERT_EQ(wt_live_allocs, live);
    ASSERT_EQ(wt_count_fds(), fds);
    json_t *root = load_trace(path), *evs = json_object_get(root, "traceEvents");
    char seq[1024];
    lane_seq(evs, 1, seq, sizeof seq);   /* main */
    ASSERT_STR(seq, "spawn,ready,run,join:join of task 2,run,join:join of task 3,run,end");
    lane_seq(evs, 2, seq, sizeof seq);
    ASSERT_STR(seq, "spawn,ready,run,sleep:sleep,run,end");
    lane_seq(evs, 3, seq, sizeof seq);
    ASSERT_STR(seq, "spawn,ready,run,sleep:sleep,run,end");
    /* Across lanes: each join ends once its task has (to within the
     * file's rounding: ts and dur are each printed to 1 ns). */
    ASSERT(end_of(evs, 2, "end", 0) <= end_of(evs, 1, "join", 0) + 0.002);
    ASSERT(end_of(evs, 3, "end", 0) <= end_of(evs, 1, "join", 1) + 0.002);
    ASSERT(end_of(evs, 2, "end", 0) <= end_of(evs, 3, "end", 0) + 0.002);
    json_t *other = json_object_get(root, "otherData");
    ASSERT_EQ(json_integer_value(json_object_get(other, "weft_dropped_events")), 0);
    json_decref(root);
    unlink(path);
}

static void *yielder(void *arg) {
    for (int i = 0; i < 500; i++) weft_yield();
    return arg;
}

static int many_yields(void *arg) {
    (void)arg;
    weft_task *t[2] = { weft_spawn(yielder, NULL), weft_spawn(yielder, NULL) };
    return weft_gather(t, 2, NULL);
}

TEST(full_trace_buffer_drops_events_counts_them_and_stays_valid_json) {
    char path[] = "/tmp/weft-trace-XXXXXX";
    int fd = mkstemp(path);
    ASSERT(fd >= 0);
    close(fd);
    setenv("WEFT_TRACE", path, 1);
    setenv("WEFT_TRACE_MAX", "100", 1);
    ASSERT_EQ(wt_run(many_yields, NULL), 0);
    json_t *root = load_trace(path);
    json_t *other = json_object_get(root, "otherData");
    ASSERT_EQ(json_integer_value(json_object_get(other, "weft_events")), 100);
    ASSERT(json_integer_value(json_object_get(other, "weft_dropped_events")) > 1000);
    json_decref(root);
    unlink(path);
}

TEST(trace_to_a_path_that_cannot_be_opened_fails_before_main_runs) {
    weft_loop_opts o = { .realloc = wt_realloc, .trace_path = "/nonexistent/dir/trace.json" };
    long live = wt_live_allocs;
    ASSERT_ERR(weft_run_opts(&o, two_sleepers, NULL), -ENOENT);
    ASSERT_EQ(wt_live_allocs, live);
}
