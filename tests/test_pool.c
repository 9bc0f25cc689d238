/* The thread pool (weft_to_thread) and the thread-safe call-soon. */
#include "test.h"

#include <weft/thread.h>

#include <unistd.h>

/* wt_run_real with a pool of `size` threads (0: the default). */
static int run_pool(unsigned size, int (*fn)(void *), void *arg) {
    int fds = wt_count_fds();
    long live = wt_live_allocs;
    weft_loop_opts o = { .realloc = wt_realloc, .pool_size = size };
    int r = weft_run_opts(&o, fn, arg);
    ASSERT_EQ(wt_live_allocs, live);
    ASSERT_EQ(wt_count_fds(), fds);
    return r;
}

static void *twice(void *arg) { return (void *)((intptr_t)arg * 2); }

static int results(void *arg) {
    (void)arg;
    void *res;
    ASSERT_ERR(weft_to_thread(twice, (void *)21, NULL, &res), 0);
    ASSERT_EQ((intptr_t)res, 42);
    ASSERT_ERR(weft_to_thread(twice, (void *)1, NULL, NULL), 0);  /* result not wanted */
    ASSERT_ERR(weft_to_thread(NULL, NULL, NULL, &res), WEFT_EINVAL);
    return 0;
}
TEST(a_job_runs_on_a_thread_and_its_result_comes_back) {
    ASSERT_EQ(wt_run(results, NULL), 0);  /* the virtual clock too */
    ASSERT_ERR(weft_to_thread(twice, NULL, NULL, NULL), WEFT_ENOTASK);
}

static void *not_loop_thread(void *arg) {
    (void)arg;
    return (void *)(intptr_t)(weft_loop_current() == NULL && weft_current() == NULL);
}
static int other_thread(void *arg) {
    (void)arg;
    void *res;
    ASSERT_ERR(weft_to_thread(not_loop_thread, NULL, NULL, &res), 0);
    ASSERT_EQ((intptr_t)res, 1);
    return 0;
}
TEST(a_job_runs_outside_the_loop) { ASSERT_EQ(wt_run(other_thread, NULL), 0); }

/* -------------------------------------------------- bounded concurrency */

static int running, most;  /* jobs running now, and at most */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static void *busy_job(void *arg) {
    pthread_mutex_lock(&mu);
    if (++running > most) most = running;
    pthread_mutex_unlock(&mu);
    usleep(30 * 1000);
    pthread_mutex_lock(&mu);
    running--;
    pthread_mutex_unlock(&mu);
    return arg;
}
static void *submit_busy(void *arg) {
    void *res;
    int err = weft_to_thread(busy_job, arg, NULL, &res);
    return err ? weft_error(err) : res;
}
static int bounded(void *arg) {
    size_t n = (size_t)arg;
    weft_task *t[16];
    for (size_t i = 0; i < n; i++) t[i] = weft_spawn(submit_busy, (void *)(i + 1));
    int64_t t0 = weft_now();
    void *res[16];
    ASSERT_ERR(weft_gather(t, n, res), 0);
    for (size_t i = 0; i < n; i++) ASSERT_EQ((intptr_t)res[i], (intptr_t)i + 1);
    /* Three jobs on two threads: two rounds of 30 ms. */
    ASSERT(weft_now() - t0 >= 60 * WEFT_MILLISECOND);
    return 0;
}
TEST(n_plus_one_jobs_on_n_threads_run_n_at_a_time) {
    ASSERT_EQ(run_pool(2, bounded, (void *)3), 0);
    ASSERT_EQ(most, 2);
}

static int default_size(void *arg) {
    (void)arg;
    weft_task *t[8];
    for (size_t i = 0; i < 8; i++) t[i] = weft_spawn(submit_busy, (void *)1);
    ASSERT_ERR(weft_gather(t, 8, NULL), 0);
    return 0;
}
TEST(the_default_pool_has_four_threads_and_the_size_is_bounded) {
    ASSERT_EQ(run_pool(0, default_size, NULL), 0);
    ASSERT_EQ(most, 4);
    weft_loop_opts o = { .pool_size = 1025 };
    ASSERT_ERR(weft_run_opts(&o, default_size, NULL), WEFT_EINVAL);
}

/* ----------------------------------------------------------- many jobs */

static void *square(void *arg) { return (void *)((intptr_t)arg * (intptr_t)arg); }
static void *submitter(void *arg) {
    intptr_t base = (intptr_t)arg, sum = 0;
    for (intptr_t i = 0; i < 100; i++) {
        void *r;
        int err = weft_to_thread(square, (void *)(base + i), NULL, &r);
        if (err) return weft_error(err);
        sum += (intptr_t)r;
    }
    return (void *)sum;
}
static int many(void *arg) {
    (void)arg;
    weft_task *t[50];
    void *res[50];
    for (intptr_t i = 0; i < 50; i++) t[i] = weft_spawn(submitter, (void *)(i * 100));
    ASSERT_ERR(weft_gather(t, 50, res), 0);
    intptr_t sum = 0, want = 0;
    for (int i = 0; i < 50; i++) sum += (intptr_t)res[i];
    for (intptr_t i = 0; i < 5000; i++) want += i * i;
    ASSERT_EQ(sum, want);
    return 0;
}
TEST(five_thousand_jobs_from_fifty_tasks) { ASSERT_EQ(run_pool(8, many, NULL), 0); }

/* -------------------------------------------------------- cancellation */

static int dropped, dropped_unrun;
static void drop_result(void *arg, void *result) {
    (void)arg;
    ASSERT(weft_current() == NULL);
    if (result) dropped++;
    else dropped_unrun++;
    free(result);
}
static int started;  /* jobs that have begun; atomic */
static void *alloc_slowly(void *arg) {
    __atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
    usleep((useconds_t)(intptr_t)arg);
    return malloc(100);  /* the loop's allocator is not for other threads */
}
static void *submit_alloc(void *arg) {
    void *res;
    int err = weft_to_thread(alloc_slowly, arg, drop_result, &res);
    if (err) return weft_error(err);
    free(res);
    return NULL;
}
/* Waits (on the real clock) until n jobs have begun on their threads. */
static void until_started(int n) {
    while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < n) ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), 0);
}
static int cancel_running(void *arg) {
    (void)arg;
    weft_task *t = weft_spawn(submit_alloc, (void *)(intptr_t)100000);
    until_started(1);
    int64_t t0 = weft_now();
    weft_cancel(t);
    void *res;
    ASSERT_ERR(weft_join(t, &res), 0);
    ASSERT_ERR(weft_error_code(res), WEFT_ECANCELED);
    ASSERT(weft_now() - t0 < 50 * WEFT_MILLISECOND);
    ASSERT_EQ(dropped, 0);  /* still running */
    ASSERT_ERR(weft_sleep(200 * WEFT_MILLISECOND), 0);
    ASSERT_EQ(dropped, 1);  /* done, and dropped on the loop */
    return 0;
}
TEST(cancel_during_a_job_returns_at_once_and_the_result_is_dropped) {
    ASSERT_EQ(run_pool(1, cancel_running, NULL), 0);
    ASSERT_EQ(dropped, 1);
}

static int cancel_queued(void *arg) {
    (void)arg;
    weft_task *a = weft_spawn(submit_alloc, (void *)(intptr_t)50000);
    weft_task *b = weft_spawn(submit_alloc, (void *)(intptr_t)0);
    until_started(1);  /* b waits behind a */
    weft_cancel(b);
    void *res;
    ASSERT_ERR(weft_join(b, &res), 0);
    ASSERT_ERR(weft_error_code(res), WEFT_ECANCELED);
    ASSERT_EQ(dropped_unrun, 1);  /* never ran, dropped before the call returned */
    ASSERT_ERR(weft_join(a, &res), 0);
    ASSERT(res == NULL);
    /* Cancelled before it is even submitted: dropped too. */
    weft_scope sc;
    weft_scope_enter(&sc, WEFT_FOREVER);
    weft_scope_cancel(&sc);
    ASSERT_ERR(weft_to_thread(alloc_slowly, NULL, drop_result, NULL), WEFT_ECANCELED);
    weft_scope_leave(&sc);
    ASSERT_EQ(dropped_unrun, 2);
    return 0;
}
TEST(a_cancelled_job_that_has_not_started_never_runs) {
    ASSERT_EQ(run_pool(1, cancel_queued, NULL), 0);
    ASSERT_EQ(dropped, 0);
}

static int leave_running(void *arg) {
    (void)arg;
    weft_spawn_opts so = { .detached = 1 };
    /* Long enough that none ends before the third has started, even where
     * starting a thread is slow (ThreadSanitizer: 50 ms was not). */
    for (int i = 0; i < 3; i++)
        ASSERT_ERR(weft_spawn_ex(NULL, &so, submit_alloc, (void *)(intptr_t)300000), 0);
    until_started(3);
    return 0;  /* the teardown cancels the three */
}
TEST(the_loop_waits_for_running_jobs_when_it_closes_and_drops_them) {
    ASSERT_EQ(run_pool(4, leave_running, NULL), 0);
    ASSERT_EQ(dropped, 3);  /* no leak under ASan either */
}

/* A task waiting on a job is not deadlocked, even on the virtual clock. */
static int not_deadlocked(void *arg) {
    (void)arg;
    void *res;
    ASSERT_ERR(weft_to_thread(alloc_slowly, (void *)(intptr_t)30000, drop_result, &res), 0);
    free(res);
    return 0;
}
TEST(a_task_waiting_on_a_job_is_not_a_deadlock) { ASSERT_EQ(wt_run(not_deadlocked, NULL), 0); }

/* ------------------------------------------------- thread-safe call-soon */

#define NTHREADS 8
#define NCALLS 500
static int calls, last_seq[NTHREADS], out_of_order;
static weft_event all_in;
typedef struct { weft_loop *loop; int id; } poster;
typedef struct { int thread, seq; } call;
static void on_call(void *arg) {
    call *c = arg;
    ASSERT(weft_current() == NULL);
    if (c->seq != last_seq[c->thread] + 1) out_of_order++;
    last_seq[c->thread] = c->seq;
    if (++calls == NTHREADS * NCALLS) {
        weft_event_set(&all_in);
        weft_loop_unhold();
    }
    free(c);
}
static void *post_many(void *arg) {
    poster *p = arg;
    for (int i = 1; i <= NCALLS; i++) {
        call *c = malloc(sizeof *c);
        *c = (call){ p->id, i };
        ASSERT_ERR(weft_call_soon_threadsafe(p->loop, on_call, c), 0);
        if (i % 100 == 0) usleep(1000);
    }
    return NULL;
}
static int threadsafe(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_loop_hold(), 0);  /* the threads will come */
    pthread_t th[NTHREADS];
    poster p[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        p[i] = (poster){ weft_loop_current(), i };
        ASSERT_EQ(pthread_create(&th[i], NULL, post_many, &p[i]), 0);
    }
    ASSERT_ERR(weft_event_wait(&all_in), 0);
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    ASSERT_EQ(calls, NTHREADS * NCALLS);
    ASSERT_EQ(out_of_order, 0);
    return 0;
}
TEST(call_soon_threadsafe_from_eight_threads_runs_every_call_in_order) {
    ASSERT_EQ(wt_run_real(threadsafe, NULL), 0);
    ASSERT_ERR(weft_call_soon_threadsafe(NULL, on_call, NULL), WEFT_EINVAL);
}
TEST(call_soon_threadsafe_wakes_a_loop_on_the_virtual_clock) { ASSERT_EQ(wt_run(threadsafe, NULL), 0); }

/* Callbacks from the loop's own thread, in a busy loop that never polls. */
static int ticks;
static void tick(void *arg) { (void)arg; ticks++; }
static int busy_loop(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_call_soon_threadsafe(weft_loop_current(), tick, NULL), 0);
    for (int i = 0; i < 10 && !ticks; i++) weft_yield();
    ASSERT_EQ(ticks, 1);
    return 0;
}
TEST(call_soon_threadsafe_reaches_a_loop_that_never_sleeps) { ASSERT_EQ(wt_run(busy_loop, NULL), 0); }

static int unheld(void *arg) {
    (void)arg;
    weft_event e = WEFT_EVENT_INITIALIZER;
    return weft_event_wait(&e);  /* no hold: nothing can set it */
}
TEST(hold_and_unhold_balance) {
    ASSERT_ERR(weft_loop_hold(), WEFT_ENOTASK);
    weft_loop_unhold();  /* no-op outside a loop */
    ASSERT_ERR(wt_run(unheld, NULL), WEFT_EDEADLK);
}
