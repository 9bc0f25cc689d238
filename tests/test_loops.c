/* Several loops as one unit (weft/loops.h): weft_run_loops, calls across
 * loops and their cancellation, Ctrl-C and failures reaching every loop.
 * These run under ThreadSanitizer in `make check`. */
#include "test.h"

#include <weft/loops.h>

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static weft_loops_opts three = { .count = 3 };

/* ------------------------------------------------------------ the loops */

static pthread_t threads[3];
static int seen[3];
static int own_thread(unsigned i, void *arg) {
    (void)arg;
    ASSERT(i < 3);
    ASSERT_EQ(weft_loops_count(), 3);
    ASSERT_EQ(weft_loops_index(), (int)i);
    threads[i] = pthread_self();
    __atomic_add_fetch(&seen[i], 1, __ATOMIC_SEQ_CST);
    ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), 0);
    return 0;
}
TEST(each_loop_runs_its_main_with_its_index_on_a_thread_of_its_own) {
    ASSERT_ERR(weft_run_loops(&three, own_thread, NULL), 0);
    for (int i = 0; i < 3; i++) ASSERT_EQ(seen[i], 1);
    ASSERT(pthread_equal(threads[0], pthread_self()));
    ASSERT(!pthread_equal(threads[1], threads[2]) && !pthread_equal(threads[0], threads[1]));
    ASSERT_EQ(weft_loops_count(), 0);
    ASSERT_EQ(weft_loops_index(), -1);
}

static int cancelled[3];
static int one_fails(unsigned i, void *arg) {
    (void)arg;
    if (i == 1) {
        ASSERT_ERR(weft_sleep(10 * WEFT_MILLISECOND), 0);
        return -EIO;
    }
    int err = weft_sleep(30 * WEFT_SECOND);
    __atomic_store_n(&cancelled[i], err == WEFT_ECANCELED, __ATOMIC_SEQ_CST);
    return err;
}
TEST(a_loop_that_fails_cancels_the_others_and_its_error_is_returned) {
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_run_loops(&three, one_fails, NULL), -EIO);
    ASSERT(weft_now() - t0 < 5 * WEFT_SECOND);
    ASSERT(cancelled[0] && cancelled[2]);
}

static int nested(unsigned i, void *arg) {
    (void)i;
    (void)arg;
    return weft_run_loops(&three, own_thread, NULL) == WEFT_EINVAL ? 0 : -EPROTO;
}
TEST(loops_do_not_nest) {
    weft_loops_opts one = { .count = 1 };
    ASSERT_ERR(weft_run_loops(&one, nested, NULL), 0);
    ASSERT_ERR(weft_run_loops(&(weft_loops_opts){ .count = 2000 }, own_thread, NULL), WEFT_EINVAL);
}

static void *sigint_later(void *arg) {
    (void)arg;
    usleep(50 * 1000);
    kill(getpid(), SIGINT);
    return NULL;
}
static int wait_for_ctrl_c(unsigned i, void *arg) {
    (void)arg;
    pthread_t th;
    if (i == 0) ASSERT_EQ(pthread_create(&th, NULL, sigint_later, NULL), 0);
    int err = weft_sleep(30 * WEFT_SECOND);
    if (i == 0) pthread_join(th, NULL);
    return err == WEFT_ECANCELED ? 0 : -EPROTO;
}
TEST(ctrl_c_cancels_every_loop_and_returns_eintr) {
    fflush(NULL);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        struct sigaction sa;
        sigaction(SIGINT, NULL, &sa);
        if (sa.sa_handler != SIG_DFL) _exit(WT_SKIP);
        _exit(weft_run_loops(&three, wait_for_ctrl_c, NULL) == WEFT_EINTR ? 0 : 1);
    }
    int st;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == WT_SKIP) wt_skip("SIGINT is not at its default here");
    ASSERT(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0);
}

/* ----------------------------------------------------------------- calls */

/* A loop other loops call: it stays up until *flag is set. */
static void serve_until(int *flag) {
    while (!__atomic_load_n(flag, __ATOMIC_SEQ_CST)) ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), 0);
}

static void *whose(void *arg) {
    (void)arg;
    return (void *)(intptr_t)(weft_loops_index() + 100);
}
static void *bounce(void *arg) {
    /* From loop 1 back to loop 0, and the answer returned through. */
    void *r = NULL;
    int err = weft_loops_call(0, whose, arg, &r);
    return err ? weft_error(err) : r;
}
static int calls(unsigned i, void *arg) {
    (void)arg;
    if (i != 0) return 0;
    for (int k = 0; k < 600; k++) {
        void *r = NULL;
        unsigned to = (unsigned)k % 3;
        ASSERT_ERR(weft_loops_call(to, whose, NULL, &r), 0);
        ASSERT_EQ((intptr_t)r, 100 + (int)to);
    }
    void *r = NULL;
    ASSERT_ERR(weft_loops_call(1, bounce, NULL, &r), 0);
    ASSERT_EQ((intptr_t)r, 100);
    ASSERT_ERR(weft_loops_call(3, whose, NULL, &r), WEFT_EINVAL);
    return 0;
}
static int calls_keep_loops(unsigned i, void *arg) {
    /* Loops 1 and 2 stay up until loop 0 is done with them. */
    static int done;
    if (i == 0) {
        int err = calls(i, arg);
        __atomic_store_n(&done, 1, __ATOMIC_SEQ_CST);
        return err;
    }
    serve_until(&done);
    return 0;
}
TEST(calls_across_loops_run_there_and_return_the_result) {
    ASSERT_ERR(weft_run_loops(&three, calls_keep_loops, NULL), 0);
}

static int ended_early(unsigned i, void *arg) {
    (void)arg;
    if (i == 1) return 0;  /* loop 1 ends at once */
    ASSERT_ERR(weft_sleep(20 * WEFT_MILLISECOND), 0);
    void *r = (void *)1;
    ASSERT_ERR(weft_loops_call(1, whose, NULL, &r), WEFT_ECLOSED);
    return 0;
}
TEST(a_call_to_a_loop_that_ended_is_eclosed) {
    ASSERT_ERR(weft_run_loops(&(weft_loops_opts){ .count = 2 }, ended_early, NULL), 0);
}

/* The remote task sleeps; the caller is cancelled after k steps of its own
 * loop, at every k until the call completes first. When the call returns,
 * the remote task has ended: live counts it. */
static int live;
static void *slow(void *arg) {
    (void)arg;
    __atomic_add_fetch(&live, 1, __ATOMIC_SEQ_CST);
    int err = weft_sleep((intptr_t)arg);
    __atomic_sub_fetch(&live, 1, __ATOMIC_SEQ_CST);
    return err ? weft_error(err) : (void *)7;
}
typedef struct caller_arg { intptr_t sleep; int err; void *result; } caller_arg;
static void *caller(void *arg) {
    caller_arg *c = arg;
    c->err = weft_loops_call(1, slow, (void *)c->sleep, &c->result);
    ASSERT_EQ(__atomic_load_n(&live, __ATOMIC_SEQ_CST), 0);
    return NULL;
}
static int cancel_calls(unsigned i, void *arg) {
    (void)arg;
    static int done;
    if (i == 1) {
        serve_until(&done);
        return 0;
    }
    int completed = 0, cancelled_n = 0;
    for (int k = 0; k < 60; k++) {
        caller_arg c = { .sleep = k < 50 ? 0 : 5 * WEFT_SECOND };
        weft_task *t = weft_spawn(caller, &c);
        for (int j = 0; j < k % 25; j++) ASSERT_ERR(weft_yield(), 0);
        weft_cancel(t);
        ASSERT_ERR(weft_join(t, NULL), 0);
        if (c.err == 0) {
            ASSERT_EQ((intptr_t)c.result, 7);  /* completed, delivered */
            completed++;
        } else {
            ASSERT_ERR(c.err, WEFT_ECANCELED);
            cancelled_n++;
        }
    }
    ASSERT(cancelled_n >= 10);  /* the long sleeps at least */
    (void)completed;
    __atomic_store_n(&done, 1, __ATOMIC_SEQ_CST);
    return 0;
}
TEST(a_cancelled_call_cancels_the_remote_task_and_returns_after_it_ended) {
    ASSERT_ERR(weft_run_loops(&(weft_loops_opts){ .count = 2 }, cancel_calls, NULL), 0);
}

static int deadline_call(unsigned i, void *arg) {
    (void)arg;
    static int done;
    if (i == 1) {
        serve_until(&done);
        return 0;
    }
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, 20 * WEFT_MILLISECOND), 0);
    void *r = NULL;
    ASSERT_ERR(weft_loops_call(1, slow, (void *)(intptr_t)(10 * WEFT_SECOND), &r), WEFT_ETIMEDOUT);
    ASSERT(weft_is_error(r));
    ASSERT_EQ(__atomic_load_n(&live, __ATOMIC_SEQ_CST), 0);
    weft_scope_leave(&sc);
    __atomic_store_n(&done, 1, __ATOMIC_SEQ_CST);
    return 0;
}
TEST(a_scope_deadline_ends_a_call_and_the_remote_task_with_it) {
    ASSERT_ERR(weft_run_loops(&(weft_loops_opts){ .count = 2 }, deadline_call, NULL), 0);
}
