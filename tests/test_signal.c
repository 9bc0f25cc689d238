/* Waiting for signals, and Ctrl-C cancelling main in weft_run. */
#include "test.h"

#include <weft/signal.h>
#include <weft/thread.h>

#include <sys/wait.h>
#include <unistd.h>

static int blocked_now(int sig) {
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    return sigismember(&cur, sig);
}

/* Starts fn on a thread that blocks `sig`, so that a signal sent to the
 * process can only land on the loop's thread. */
static pthread_t start_blocking(int sig, void *(*fn)(void *), void *arg) {
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, fn, arg), 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return th;
}

static void *kill_process_later(void *arg) {
    usleep(20 * 1000);
    kill(getpid(), (int)(intptr_t)arg);
    return NULL;
}
static int await_kill(void *arg) {
    (void)arg;
    ASSERT(!blocked_now(SIGUSR1));
    pthread_t th = start_blocking(SIGUSR1, kill_process_later, (void *)(intptr_t)SIGUSR1);
    ASSERT_EQ(weft_signal_wait1(SIGUSR1, WEFT_FOREVER), SIGUSR1);
    ASSERT(!blocked_now(SIGUSR1));  /* the mask is back */
    pthread_join(th, NULL);
    return 0;
}
TEST(a_task_awaits_sigusr1_sent_to_the_process) { ASSERT_EQ(wt_run_real(await_kill, NULL), 0); }

static void *kill_thread_later(void *arg) {
    usleep(20 * 1000);
    pthread_kill(*(pthread_t *)arg, SIGUSR2);
    return NULL;
}
static void *waiter(void *arg) {
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    return (void *)(intptr_t)weft_signal_wait(&set, WEFT_FOREVER);
}
static int await_pthread_kill(void *arg) {
    (void)arg;
    /* Two tasks wait for the same signals: each delivery goes to one. */
    weft_task *a = weft_spawn(waiter, NULL), *b = weft_spawn(waiter, NULL);
    ASSERT_ERR(weft_yield(), 0);
    pthread_t self = pthread_self(), th;
    ASSERT_EQ(pthread_create(&th, NULL, kill_thread_later, &self), 0);
    ASSERT_EQ(weft_wait((weft_task *[]){ a, b }, 2, WEFT_FIRST_COMPLETED), 1);
    pthread_join(th, NULL);
    weft_task *done = weft_task_done(a) ? a : b, *other = done == a ? b : a;
    void *res;
    ASSERT_ERR(weft_join(done, &res), 0);
    ASSERT_EQ((intptr_t)res, SIGUSR2);
    ASSERT(blocked_now(SIGUSR1) && blocked_now(SIGUSR2));  /* the other still waits */
    weft_cancel(other);
    ASSERT_ERR(weft_join(other, &res), 0);
    ASSERT_ERR((intptr_t)res, WEFT_ECANCELED);
    ASSERT(!blocked_now(SIGUSR1) && !blocked_now(SIGUSR2));
    return 0;
}
TEST(a_task_awaits_a_signal_sent_to_the_loop_thread) { ASSERT_EQ(wt_run_real(await_pthread_kill, NULL), 0); }

static int deadline_and_pending(void *arg) {
    (void)arg;
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_signal_wait1(SIGUSR1, t0 + WEFT_SECOND), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_now() - t0, WEFT_SECOND);
    ASSERT(!blocked_now(SIGUSR1));
    /* Blocked before: a pending signal is returned at once, and the mask
     * keeps it blocked afterwards. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    raise(SIGUSR1);
    ASSERT_EQ(weft_signal_wait(&set, WEFT_FOREVER), SIGUSR1);
    ASSERT(blocked_now(SIGUSR1));
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    ASSERT_ERR(weft_signal_wait1(SIGKILL, WEFT_FOREVER), WEFT_EINVAL);
    ASSERT_ERR(weft_signal_wait(NULL, WEFT_FOREVER), WEFT_EINVAL);
    return 0;
}
TEST(a_signal_wait_ends_at_its_deadline_and_takes_pending_signals) {
    ASSERT_EQ(wt_run(deadline_and_pending, NULL), 0);
    ASSERT_ERR(weft_signal_wait1(SIGUSR1, WEFT_FOREVER), WEFT_ENOTASK);
}

/* ------------------------------------------------------------- Ctrl-C */

/* Runs fn in a child process; returns its wait status. */
static int in_child(void (*fn)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int st;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    return st;
}

static void *sigint_later(void *arg) {
    usleep(20 * 1000);
    for (intptr_t i = 0; i < (intptr_t)arg; i++) {
        kill(getpid(), SIGINT);
        usleep(20 * 1000);
    }
    return NULL;
}
static int sleepy_main(void *arg) {
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, sigint_later, arg), 0);
    int err = weft_sleep(10 * WEFT_SECOND);
    /* Cleanup still runs inside the cancelled main, in a shield. */
    weft_scope sh;
    weft_scope_enter_ex(&sh, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), 0);
    weft_scope_leave(&sh);
    pthread_join(th, NULL);
    return err == WEFT_ECANCELED ? 5 : 6;
}
static void ctrl_c(void) {
    struct sigaction sa;
    sigaction(SIGINT, NULL, &sa);
    if (sa.sa_handler != SIG_DFL) _exit(WT_SKIP);
    ASSERT_ERR(wt_run_real(sleepy_main, (void *)1), WEFT_EINTR);
    sigaction(SIGINT, NULL, &sa);
    ASSERT(sa.sa_handler == SIG_DFL);  /* restored */
}
TEST(sigint_cancels_main_and_weft_run_returns_eintr) {
    int st = in_child(ctrl_c);
    if (WIFEXITED(st) && WEXITSTATUS(st) == WT_SKIP) wt_skip("SIGINT is not at its default here");
    ASSERT(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0);
}

static int stubborn_main(void *arg) {
    (void)arg;
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, sigint_later, (void *)2), 0);
    weft_scope sh;  /* ignores the first Ctrl-C */
    weft_scope_enter_ex(&sh, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    weft_sleep(5 * WEFT_SECOND);
    weft_scope_leave(&sh);
    return 0;
}
static void ctrl_c_twice(void) {
    wt_run_real(stubborn_main, NULL);
    _exit(3);  /* not reached: the second SIGINT kills */
}
TEST(a_second_sigint_kills_a_stuck_program) {
    int st = in_child(ctrl_c_twice);
    ASSERT(WIFSIGNALED(st));
    ASSERT_EQ(WTERMSIG(st), SIGINT);
}

static int own_count;
static void own_handler(int sig) { (void)sig; own_count++; }
static int short_main(void *arg) {
    (void)arg;
    raise(SIGINT);
    return weft_sleep(20 * WEFT_MILLISECOND);
}
static void own_sigint_during_run(void) {
    struct sigaction sa = { .sa_handler = own_handler };
    sigaction(SIGINT, &sa, NULL);
    ASSERT_EQ(wt_run_real(short_main, NULL), 0);
    ASSERT_EQ(own_count, 1);
    struct sigaction cur;
    sigaction(SIGINT, NULL, &cur);
    ASSERT(cur.sa_handler == own_handler);
}
TEST(a_program_that_handles_sigint_is_left_alone) {
    int st = in_child(own_sigint_during_run);
    ASSERT(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0);
}

static void no_sigint_flag(void) {
    weft_loop_opts o = { .flags = WEFT_LOOP_NO_SIGINT };
    weft_run_opts(&o, short_main, NULL);
    _exit(3);  /* not reached: SIGINT kept its default action */
}
TEST(weft_loop_no_sigint_leaves_the_default_action) {
    int st = in_child(no_sigint_flag);
    ASSERT(WIFSIGNALED(st));
    ASSERT_EQ(WTERMSIG(st), SIGINT);
}
