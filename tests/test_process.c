/* Child processes: real programs (sh, cat, head, yes, sleep) on real pipes,
 * on whichever poller WEFT_BACKEND names. Every case runs its loop through
 * wt_run_real, which fails on any fd or allocation left behind, and the
 * cases that end children check that none is left unreaped. */
#include "test.h"
#include "io_iface.h"

#include <weft/process.h>
#include <weft/stream.h>

#include <fcntl.h>
#include <stdbool.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

/* No child of ours is left, reaped or not. */
static void assert_no_children(void) {
    ASSERT_EQ(waitpid(-1, NULL, WNOHANG), -1);
    ASSERT_EQ(errno, ECHILD);
}

static weft_process *shell(const char *cmd, const weft_process_opts *o) {
    weft_process *p = NULL;
    ASSERT_ERR(weft_process_shell(&p, cmd, o), 0);
    return p;
}

/* Runs cmd with stdout and stderr piped, feeding it `in`: the output. */
static weft_process_output run(weft_process **pp, const char *cmd, const void *in, size_t len, int want) {
    weft_process_opts o = { .stdin_mode = WEFT_STDIO_PIPE, .stdout_mode = WEFT_STDIO_PIPE,
                            .stderr_mode = WEFT_STDIO_PIPE };
    *pp = shell(cmd, &o);
    weft_process_output out;
    ASSERT_ERR(weft_process_communicate(*pp, in, len, 0, &out), want);
    return out;
}

/* ------------------------------------------------------- exit and errors */

static int exit_codes(void *arg) {
    (void)arg;
    int rc = -1;
    weft_process *p = shell("exit 3", NULL);
    ASSERT_ERR(weft_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, 3);
    rc = -1;
    ASSERT_ERR(weft_process_wait(p, &rc), 0);  /* reaped: the same again */
    ASSERT_EQ(rc, 3);
    ASSERT_ERR(weft_process_free(p), 0);
    const char *argv[] = { "true", NULL };  /* found in PATH */
    ASSERT_ERR(weft_process_exec(&p, argv, NULL), 0);
    ASSERT_ERR(weft_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, 0);
    weft_process_free(p);
    assert_no_children();
    return 0;
}
TEST(wait_reports_the_exit_status) { ASSERT_EQ(wt_run_real(exit_codes, NULL), 0); }

static int missing(void *arg) {
    (void)arg;
    weft_process *p = (weft_process *)&p;
    const char *abs[] = { "/nonexistent/weft-no-such-program", NULL };
    const char *rel[] = { "weft-no-such-program", NULL };
    weft_process_opts o = { .stdout_mode = WEFT_STDIO_PIPE, .stdin_mode = WEFT_STDIO_PIPE };
    ASSERT_ERR(weft_process_exec(&p, abs, &o), -ENOENT);
    ASSERT_ERR(weft_process_exec(&p, rel, &o), -ENOENT);
    const char *notexec[] = { "/etc/passwd", NULL };
    ASSERT_ERR(weft_process_exec(&p, notexec, NULL), -EACCES);
    o.cwd = "/nonexistent/dir";
    ASSERT_ERR(weft_process_shell(&p, "true", &o), -ENOENT);
    ASSERT(p == (weft_process *)&p);  /* untouched */
    weft_process_opts bad = { .stdout_mode = WEFT_STDIO_STDOUT };
    ASSERT_ERR(weft_process_shell(&p, "true", &bad), WEFT_EINVAL);
    bad = (weft_process_opts){ .stdin_mode = 42 };
    ASSERT_ERR(weft_process_shell(&p, "true", &bad), WEFT_EINVAL);
    ASSERT_ERR(weft_process_shell(&p, NULL, NULL), WEFT_EINVAL);
    const char *empty[] = { NULL };
    ASSERT_ERR(weft_process_exec(&p, empty, NULL), WEFT_EINVAL);
    assert_no_children();
    return 0;
}
TEST(a_missing_program_is_enoent_from_the_spawn_and_leaves_nothing) {
    /* posix_spawn learns of a failed exec through the memory its vfork'd
     * child shares; qemu-user runs that child as a fork, so there (the
     * aarch64 pass) glibc itself reports success and the child exits 127. */
    extern char **environ;
    char *probe[] = { "weft-probe", NULL };
    pid_t pid;
    if (posix_spawn(&pid, "/nonexistent/weft-no-such-program", NULL, NULL, probe, environ) == 0) {
        waitpid(pid, NULL, 0);
        wt_skip("posix_spawn cannot report a failed exec here (qemu-user runs vfork as fork)");
    }
    ASSERT_EQ(wt_run_real(missing, NULL), 0);
    const char *argv[] = { "true", NULL };
    weft_process *p;
    ASSERT_ERR(weft_process_exec(&p, argv, NULL), WEFT_ENOTASK);  /* no loop */
}

static int crash(void *arg) {
    (void)arg;
    int rc = 0;
    weft_process *p = shell("kill -SEGV $$", NULL);
    ASSERT_ERR(weft_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, -SIGSEGV);
    weft_process_free(p);
    p = shell("exec sleep 10", NULL);
    ASSERT_ERR(weft_process_try_wait(p, &rc), WEFT_EAGAIN);
    ASSERT_ERR(weft_process_kill(p, SIGKILL), 0);
    ASSERT_ERR(weft_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, -SIGKILL);
    ASSERT_ERR(weft_process_kill(p, SIGTERM), -ESRCH);  /* reaped: never another's */
    weft_process_free(p);
    assert_no_children();
    return 0;
}
TEST(a_crashed_or_killed_child_reports_minus_the_signal) { ASSERT_EQ(wt_run_real(crash, NULL), 0); }

/* --------------------------------------------------------------- pipes */

static int early_close(void *arg) {
    (void)arg;
    weft_process_opts o = { .stdout_mode = WEFT_STDIO_PIPE };
    weft_process *p = shell("echo bye; exec >&-; sleep 0.3; exit 4", &o);
    char buf[64];
    int64_t t0 = weft_now();
    ASSERT_EQ(weft_stream_read_to_eof(weft_process_stdout(p), buf, sizeof buf), 4);
    ASSERT(weft_now() - t0 < 250 * WEFT_MILLISECOND);  /* the end came before the exit */
    ASSERT_ERR(weft_process_try_wait(p, NULL), WEFT_EAGAIN);
    int rc;
    ASSERT_ERR(weft_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, 4);
    weft_process_free(p);
    return 0;
}
TEST(a_child_closing_stdout_early_gives_end_of_stream_while_it_runs) {
    ASSERT_EQ(wt_run_real(early_close, NULL), 0);
}

static int more_than_a_pipe(void *arg) {
    (void)arg;
    weft_process_opts o = { .stdout_mode = WEFT_STDIO_PIPE };
    weft_process *p = shell("head -c 1000000 /dev/zero", &o);
    static char buf[1000001];
    ASSERT_EQ(weft_stream_read_to_eof(weft_process_stdout(p), buf, sizeof buf), 1000000);
    int rc;
    ASSERT_ERR(weft_process_wait(p, &rc), 0);
    ASSERT_EQ(rc, 0);
    weft_process_free(p);
    return 0;
}
TEST(a_child_writing_more_than_a_pipe_holds_finishes_once_read) {
    ASSERT_EQ(wt_run_real(more_than_a_pipe, NULL), 0);
}

static int stdio_modes(void *arg) {
    (void)arg;
    weft_process_opts o = { .stdin_mode = WEFT_STDIO_DEVNULL, .stdout_mode = WEFT_STDIO_PIPE,
                            .stderr_mode = WEFT_STDIO_STDOUT };
    weft_process *p = shell("cat; echo a; echo b >&2", &o);
    ASSERT(!weft_process_stdin(p) && !weft_process_stderr(p));
    weft_process_output out;
    ASSERT_ERR(weft_process_communicate(p, NULL, 0, 0, &out), 0);
    ASSERT_STR(out.out, "a\nb\n");
    ASSERT(out.err == NULL && out.err_len == 0);
    weft_process_free(p);
    /* Input needs a stdin pipe. */
    p = shell("true", NULL);
    ASSERT_ERR(weft_process_communicate(p, "x", 1, 0, &out), WEFT_EINVAL);
    ASSERT_ERR(weft_process_wait(p, NULL), 0);
    weft_process_free(p);
    return 0;
}
TEST(devnull_and_stderr_into_stdout) { ASSERT_EQ(wt_run_real(stdio_modes, NULL), 0); }

static int env_cwd(void *arg) {
    (void)arg;
    char *env[] = { "WEFT_X=42", NULL };
    weft_process_opts o = { .stdout_mode = WEFT_STDIO_PIPE, .env = env, .cwd = "/" };
    weft_process *p = shell("echo \"$WEFT_X $HOME\"; pwd", &o);
    weft_process_output out;
    ASSERT_ERR(weft_process_communicate(p, NULL, 0, 0, &out), 0);
    ASSERT_STR(out.out, "42 \n/\n");
    weft_process_free(p);
    return 0;
}
TEST(the_environment_and_working_directory_reach_the_child) { ASSERT_EQ(wt_run_real(env_cwd, NULL), 0); }

/* The child lists its own fds: 0, 1, 2 and ls's directory. */
static const char *child_fds(int keep) {
    static char list[256];
    weft_process_opts o = { .stdout_mode = WEFT_STDIO_PIPE, .keep_fds = keep };
    const char *argv[] = { "ls", "/proc/self/fd", NULL };
    weft_process *p;
    ASSERT_ERR(weft_process_exec(&p, argv, &o), 0);
    weft_process_output out;
    ASSERT_ERR(weft_process_communicate(p, NULL, 0, 0, &out), 0);
    snprintf(list, sizeof list, "%s", out.out);
    weft_process_free(p);
    return list;
}
static int no_leaks(void *arg) {
    (void)arg;
    int inherit = open("/dev/null", O_RDONLY);  /* not close-on-exec */
    ASSERT(inherit > 3);
    ASSERT_STR(child_fds(0), "0\n1\n2\n3\n");
    char want[64];
    snprintf(want, sizeof want, "\n%d\n", inherit);
    ASSERT(strstr(child_fds(1), want));  /* asked for: there */
    close(inherit);
    return 0;
}
TEST(no_fd_leaks_into_a_child) { ASSERT_EQ(wt_run_real(no_leaks, NULL), 0); }

/* ---------------------------------------------------------- communicate */

static char *pattern(size_t n) {
    char *b = malloc(n);
    for (size_t i = 0; i < n; i++) b[i] = (char)('a' + i * 7 % 26);
    return b;
}

static int big_both_ways(void *arg) {
    (void)arg;
    size_t n = 3u << 20;
    char *in = pattern(n);
    weft_process *p;
    weft_process_output out = run(&p, "cat; head -c 300000 /dev/zero | tr '\\0' x >&2", in, n, 0);
    ASSERT_EQ(out.returncode, 0);
    ASSERT_EQ(out.out_len, n);
    ASSERT(memcmp(out.out, in, n) == 0);
    ASSERT_EQ(out.err_len, 300000);
    ASSERT(out.err[0] == 'x' && out.err[299999] == 'x' && out.err[300000] == '\0');
    weft_process_free(p);
    free(in);
    return 0;
}
TEST(communicate_moves_megabytes_in_and_out_at_once) { ASSERT_EQ(wt_run_real(big_both_ways, NULL), 0); }

static int slow_reader(void *arg) {
    (void)arg;
    size_t n = 256 * 1024;  /* four pipes' worth: the feeder must wait for room */
    char *in = pattern(n);
    weft_process *p;
    weft_process_output out = run(&p, "sleep 0.2; dd bs=1000 status=none", in, n, 0);
    ASSERT_EQ(out.out_len, n);
    ASSERT(memcmp(out.out, in, n) == 0);
    weft_process_free(p);
    free(in);
    return 0;
}
TEST(a_child_reading_stdin_slowly_gets_all_of_it) { ASSERT_EQ(wt_run_real(slow_reader, NULL), 0); }

static int stops_reading(void *arg) {
    (void)arg;
    size_t n = 1u << 20;
    char *in = pattern(n);
    weft_process *p;
    weft_process_output out = run(&p, "head -c 10", in, n, 0);
    ASSERT_EQ(out.out_len, 10);
    ASSERT(memcmp(out.out, in, 10) == 0);
    ASSERT_EQ(out.returncode, 0);
    weft_process_free(p);
    free(in);
    return 0;
}
TEST(a_child_that_stops_reading_stdin_is_no_error_and_no_sigpipe) {
    ASSERT_EQ(wt_run_real(stops_reading, NULL), 0);
}

static int overflow(void *arg) {
    (void)arg;
    weft_process_opts o = { .stdout_mode = WEFT_STDIO_PIPE, .kill_grace = WEFT_SECOND };
    weft_process *p = shell("exec yes", &o);
    weft_process_output out;
    ASSERT_ERR(weft_process_communicate(p, NULL, 0, 100000, &out), WEFT_EOVERFLOW);
    ASSERT_EQ(out.out_len, 100000);
    ASSERT(out.out[0] == 'y' && out.out[100000] == '\0');
    ASSERT_EQ(out.returncode, -SIGTERM);
    ASSERT_ERR(weft_process_try_wait(p, NULL), 0);
    weft_process_free(p);
    assert_no_children();
    return 0;
}
TEST(communicate_past_its_limit_is_eoverflow_and_ends_the_child) {
    ASSERT_EQ(wt_run_real(overflow, NULL), 0);
}

/* ---------------------------------------------------------- cancelling */

static int cancel_wait(void *arg) {
    (void)arg;
    weft_process_opts o = { .stdout_mode = WEFT_STDIO_PIPE };
    /* Blocked writing more than a pipe holds: it will not end by itself. */
    weft_process *p = shell("exec head -c 1000000 /dev/zero", &o);
    pid_t pid = weft_process_pid(p);
    weft_scope sc;
    weft_timeout_enter(&sc, 100 * WEFT_MILLISECOND);
    int rc = 0;
    ASSERT_ERR(weft_process_wait(p, &rc), WEFT_ETIMEDOUT);
    weft_scope_leave(&sc);
    ASSERT_EQ(rc, -SIGTERM);
    ASSERT_EQ(kill(pid, 0), -1);  /* reaped: not even a zombie */
    ASSERT_EQ(errno, ESRCH);
    weft_process_free(p);
    assert_no_children();
    return 0;
}
TEST(a_cancelled_wait_terminates_and_reaps_the_child) { ASSERT_EQ(wt_run_real(cancel_wait, NULL), 0); }

static int stubborn(void *arg) {
    (void)arg;
    weft_process_opts o = { .kill_grace = 100 * WEFT_MILLISECOND };
    weft_process *p = shell("trap '' TERM; exec sleep 10", &o);
    weft_sleep(50 * WEFT_MILLISECOND);  /* let the shell set its trap */
    int64_t t0 = weft_now();
    weft_scope sc;
    weft_timeout_enter(&sc, 50 * WEFT_MILLISECOND);
    int rc = 0;
    ASSERT_ERR(weft_process_wait(p, &rc), WEFT_ETIMEDOUT);
    weft_scope_leave(&sc);
    ASSERT_EQ(rc, -SIGKILL);
    int64_t took = weft_now() - t0;
    ASSERT(took >= 150 * WEFT_MILLISECOND && took < 3 * WEFT_SECOND);
    weft_process_free(p);
    /* Cancelled before the call: the child is ended all the same. */
    p = shell("exec sleep 10", &o);
    weft_timeout_enter(&sc, 0);
    ASSERT_ERR(weft_process_wait(p, &rc), WEFT_ETIMEDOUT);
    weft_scope_leave(&sc);
    ASSERT_EQ(rc, -SIGTERM);
    weft_process_free(p);
    assert_no_children();
    return 0;
}
TEST(a_child_ignoring_sigterm_is_killed_after_the_grace) { ASSERT_EQ(wt_run_real(stubborn, NULL), 0); }

static void *communicating(void *arg) {
    weft_process_output out;
    return weft_error(weft_process_communicate(arg, "hi", 2, 0, &out));
}
static int cancel_communicate(void *arg) {
    (void)arg;
    weft_process_opts o = { .stdin_mode = WEFT_STDIO_PIPE, .stdout_mode = WEFT_STDIO_PIPE };
    weft_process *p = shell("exec sleep 10", &o);
    weft_task *t = weft_spawn(communicating, p);
    weft_sleep(50 * WEFT_MILLISECOND);
    ASSERT_ERR(weft_process_free(p), WEFT_EBUSY);
    weft_cancel(t);
    void *r;
    ASSERT_ERR(weft_join(t, &r), 0);
    ASSERT_ERR(weft_error_code(r), WEFT_ECANCELED);
    int rc;
    ASSERT_ERR(weft_process_try_wait(p, &rc), 0);
    ASSERT_EQ(rc, -SIGTERM);
    weft_process_free(p);
    assert_no_children();
    return 0;
}
TEST(a_cancelled_communicate_terminates_and_reaps_the_child) {
    ASSERT_EQ(wt_run_real(cancel_communicate, NULL), 0);
}

static int free_running(void *arg) {
    (void)arg;
    weft_process_opts o = { .stdin_mode = WEFT_STDIO_PIPE, .stdout_mode = WEFT_STDIO_PIPE };
    weft_process *p = shell("exec sleep 10", &o);
    pid_t pid = weft_process_pid(p);
    ASSERT_ERR(weft_process_free(p), 0);
    ASSERT_EQ(kill(pid, 0), -1);
    ASSERT_EQ(errno, ESRCH);
    assert_no_children();
    return 0;
}
TEST(freeing_a_running_child_kills_and_reaps_it) { ASSERT_EQ(wt_run_real(free_running, NULL), 0); }

/* -------------------------------------------------------------- volume */

static int thousand(void *arg) {
    int n = (int)(intptr_t)arg;
    const char *argv[] = { "/bin/true", NULL };
    for (int i = 0; i < n; i++) {
        weft_process *p;
        weft_process_opts o = { .stdout_mode = i % 2 ? WEFT_STDIO_PIPE : WEFT_STDIO_INHERIT };
        ASSERT_ERR(weft_process_exec(&p, argv, &o), 0);
        int rc = -1;
        ASSERT_ERR(weft_process_wait(p, &rc), 0);
        ASSERT_EQ(rc, 0);
        ASSERT_ERR(weft_process_free(p), 0);
    }
    assert_no_children();
    return 0;
}
TEST(a_thousand_children_in_a_row_leave_no_fd_or_zombie) {
    ASSERT_EQ(wt_run_real(thousand, (void *)(intptr_t)1000), 0);
}

/* ------------------------------------------- the fallback without pidfds */

static int fallback(void *arg) {
    weft__process_no_pidfd = true;
    ASSERT_EQ(exit_codes(arg), 0);
    ASSERT_EQ(crash(arg), 0);
    ASSERT_EQ(cancel_wait(arg), 0);
    ASSERT_EQ(big_both_ways(arg), 0);
    ASSERT_EQ(thousand((void *)(intptr_t)100), 0);
    return 0;
}
TEST(without_pidfds_waits_poll_and_still_reap_everything) { ASSERT_EQ(wt_run_real(fallback, NULL), 0); }

/* Under io_uring a poll's removal can race a wakeup of the fd and fail,
 * leaving the poll (and so the pipe) open after weft_close: the child
 * never read the end of its input. Many rounds of a busy pipe closed. */
static int eof_rounds(void *arg) {
    (void)arg;
    size_t n = 200 * 1000;
    char *in = pattern(n);
    for (int i = 0; i < 30; i++) {
        weft_process *p;
        weft_process_output out = run(&p, "cat", in, n, 0);
        ASSERT_EQ(out.out_len, n);
        weft_process_free(p);
    }
    free(in);
    return 0;
}
TEST(closing_a_busy_stdin_always_reaches_the_child) { ASSERT_EQ(wt_run_real(eof_rounds, NULL), 0); }

static void *waiting(void *arg) { return weft_error(weft_process_wait(arg, NULL)); }
static int second_waiter(void *arg) {
    (void)arg;
    weft_process *p = shell("sleep 0.2", NULL);
    weft_task *t = weft_spawn(waiting, p);
    weft_yield();
    ASSERT_ERR(weft_process_wait(p, NULL), WEFT_EBUSY);
    weft_process_output out;
    ASSERT_ERR(weft_process_communicate(p, NULL, 0, 0, &out), WEFT_EBUSY);
    void *r;
    ASSERT_ERR(weft_join(t, &r), 0);
    ASSERT_ERR(weft_error_code(r), 0);
    weft_process_free(p);
    return 0;
}
TEST(a_second_waiter_gets_ebusy) { ASSERT_EQ(wt_run_real(second_waiter, NULL), 0); }

/* Every allocation of a spawn with three pipes fails in turn: each failure
 * is WEFT_ENOMEM with no child, fd or allocation left (wt_run checks). */
static int alloc_walk(void *arg) {
    (void)arg;
    weft_process_opts o = { .stdin_mode = WEFT_STDIO_PIPE, .stdout_mode = WEFT_STDIO_PIPE,
                            .stderr_mode = WEFT_STDIO_PIPE };
    for (long k = 0;; k++) {
        weft_process *p;
        wt_fail_at = k;
        int err = weft_process_shell(&p, "exit 5", &o);
        bool failed = wt_fail_at < 0;  /* the k-th allocation came, and failed */
        wt_fail_at = -1;
        if (err) {
            ASSERT(failed);
            ASSERT_ERR(err, WEFT_ENOMEM);
            assert_no_children();
            continue;
        }
        int rc;
        ASSERT_ERR(weft_process_wait(p, &rc), 0);
        ASSERT_EQ(rc, 5);
        weft_process_free(p);
        if (!failed) return 0;
    }
}
TEST(a_failed_allocation_in_a_spawn_leaves_nothing) { ASSERT_EQ(wt_run_real(alloc_walk, NULL), 0); }

/* The loop's thread blocks a signal and the program ignores another: the
 * child gets neither (grep reports its mask and ignored set). */
static int child_signals(void *arg) {
    (void)arg;
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, &old);
    signal(SIGUSR2, SIG_IGN);
    weft_process_opts o = { .stdout_mode = WEFT_STDIO_PIPE };
    weft_process *p = shell("grep -E '^Sig(Blk|Ign)' /proc/self/status", &o);
    weft_process_output out;
    ASSERT_ERR(weft_process_communicate(p, NULL, 0, 0, &out), 0);
    unsigned long long blk, ign;
    ASSERT_EQ(sscanf(out.out, "SigBlk: %llx SigIgn: %llx", &blk, &ign), 2);
    ASSERT_EQ(blk, 0);
    ASSERT_EQ(ign & 0x7fffffff, 0);  /* the classic signals: glibc keeps 32, 33 its own */
    weft_process_free(p);
    signal(SIGUSR2, SIG_DFL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return 0;
}
TEST(a_child_starts_with_no_signal_blocked_or_ignored) { ASSERT_EQ(wt_run_real(child_signals, NULL), 0); }
