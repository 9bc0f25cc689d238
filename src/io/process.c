/* Child processes (include/weft/process.h): posix_spawn to start them, a
 * pidfd in the loop's poller to wait for them, weft streams on their pipes.
 *
 * Why posix_spawn: glibc's is clone(CLONE_VM | CLONE_VFORK), so starting a
 * child does not copy the parent's page tables (a fork of a large program
 * is slow), and it reports the exec's failure (ENOENT) as its own return
 * value, which a hand-made fork/exec needs a pipe for.
 *
 * Waiting: a pidfd is readable once its process has ended, so a wait is a
 * weft_wait_readable on it followed by waitpid(WNOHANG), and needs no
 * SIGCHLD handler (a process-wide setting a library should not take). The
 * pidfd is opened right after the spawn; the pid cannot have been reused in
 * between, as nobody but us reaps it. Where pidfd_open fails (ENOSYS before
 * Linux 5.3, or a seccomp filter) the wait polls waitpid(WNOHANG) with a
 * backoff instead. The other fallbacks lost: a blocking waitpid on the
 * thread pool holds a worker per running child (four children waiting
 * would starve every other job), and a SIGCHLD signalfd needs SIGCHLD
 * blocked in every thread of the program.
 */
#include "core_iface.h"
#include "io_iface.h"

#include "weft/io.h"
#include "weft/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The fallback's poll interval: from 1 ms (a short command is seen at
 * once) doubling to 50 ms (a long one costs 20 wake-ups a second). */
#define POLL_FIRST WEFT_MILLISECOND
#define POLL_MAX (50 * WEFT_MILLISECOND)
/* communicate's first output buffer; it doubles up to the limit. */
#define OUT_FIRST 4096

bool weft__process_no_pidfd;

/* Invariants: pidfd >= 0 only until the child is reaped (reaped then
 * holds its return code in rc); io[i] is the parent's end of the child's
 * fd i when that is a pipe, until freed; busy counts the tasks inside a
 * call on p (weft_process_free refuses while it is nonzero). */
struct weft_process {
    pid_t pid;
    int pidfd;                /* -1: the polling fallback, or reaped */
    bool reaped;
    int rc;
    int64_t grace;
    unsigned busy;
    weft_stream *io[3];
    char *buf[2];             /* communicate's stdout and stderr */
    weft_loop *loop;
    weft__mem mem;
    weft__track *trk;
};

/* ------------------------------------------------------------- spawning */

/* A pipe whose ends are both above 2 and close-on-exec: an end that got
 * fd 0, 1 or 2 (the parent had closed its own) would be overwritten by
 * another stream's dup2 in the child. 0 or -errno. */
static int pipe_high(int fds[2]) {
    if (pipe2(fds, O_CLOEXEC) < 0) return -errno;
    for (int i = 0; i < 2; i++) {
        if (fds[i] > 2) continue;
        int high = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
        int err = -errno;
        close(fds[i]);
        fds[i] = high;
        if (high < 0) {
            close(fds[1 - i]);
            return err;
        }
    }
    return 0;
}

/* What the spawn needs and what it leaves behind on failure. */
typedef struct plan {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int parent[3], child[3];  /* pipe ends, -1 if none */
} plan;

static void plan_close(plan *pl) {
    for (int i = 0; i < 3; i++) {
        if (pl->child[i] >= 0) close(pl->child[i]);
        if (pl->parent[i] >= 0) close(pl->parent[i]);
        pl->child[i] = pl->parent[i] = -1;
    }
}

/* Sets up the child's fd i (0, 1, 2) as `mode` asks. 0 or a code. */
static int plan_stdio(plan *pl, int i, int mode) {
    switch (mode) {
    case WEFT_STDIO_INHERIT:
        return 0;
    case WEFT_STDIO_DEVNULL:
        return -posix_spawn_file_actions_addopen(&pl->fa, i, "/dev/null", i ? O_WRONLY : O_RDONLY, 0);
    case WEFT_STDIO_STDOUT:
        return i == 2 ? -posix_spawn_file_actions_adddup2(&pl->fa, 1, 2) : WEFT_EINVAL;
    case WEFT_STDIO_PIPE: {
        int fds[2], err = pipe_high(fds);
        if (err) return err;
        pl->child[i] = fds[i ? 1 : 0];   /* the child reads stdin, writes the rest */
        pl->parent[i] = fds[i ? 0 : 1];
        return -posix_spawn_file_actions_adddup2(&pl->fa, pl->child[i], i);
    }
    default:
        return WEFT_EINVAL;
    }
}

/* The file actions and attributes for `o`. 0 or a code. */
static int plan_make(plan *pl, const weft_process_opts *o) {
    int modes[3] = { o->stdin_mode, o->stdout_mode, o->stderr_mode };
    for (int i = 0; i < 3; i++) {
        int err = plan_stdio(pl, i, modes[i]);
        if (err) return err;
    }
    if (o->cwd && posix_spawn_file_actions_addchdir_np(&pl->fa, o->cwd)) return WEFT_ENOMEM;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
    if (!o->keep_fds && posix_spawn_file_actions_addclosefrom_np(&pl->fa, 3)) return WEFT_ENOMEM;
#endif
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&pl->attr, &none);
    posix_spawnattr_setsigdefault(&pl->attr, &all);
    posix_spawnattr_setflags(&pl->attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    return 0;
}

static int pidfd_open_(pid_t pid) {
#ifdef SYS_pidfd_open
    if (!weft__process_no_pidfd) return (int)syscall(SYS_pidfd_open, pid, 0);
#endif
    (void)pid;
    errno = ENOSYS;
    return -1;
}

/* Makes p's streams from the parent's pipe ends (taken from pl). */
static int adopt_pipes(weft_process *p, plan *pl) {
    for (int i = 0; i < 3; i++) {
        if (pl->parent[i] < 0) continue;
        int err = weft_stream_new_fd(&p->io[i], pl->parent[i], NULL);
        if (err) return err;
        pl->parent[i] = -1;
    }
    return 0;
}

/* Reaps a child nobody will wait for: the one we could not hand over. */
static void kill_and_reap(pid_t pid) {
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
}

/* Starts the child as pl plans it for o; the child's pipe ends are closed
 * after, whatever happened (it has its own copies). 0 or a code. */
static int launch(weft_process *p, plan *pl, const weft_process_opts *o, const char *path,
                  const char *const *argv, bool search) {
    posix_spawn_file_actions_init(&pl->fa);
    posix_spawnattr_init(&pl->attr);
    int err = plan_make(pl, o);
    if (!err) {
        char *const *env = o->env ? o->env : environ;
        err = -(search ? posix_spawnp : posix_spawn)(&p->pid, path, &pl->fa, &pl->attr,
                                                   (char *const *)argv, env);
    }
    posix_spawn_file_actions_destroy(&pl->fa);
    posix_spawnattr_destroy(&pl->attr);
    for (int i = 0; i < 3; i++) {
        if (pl->child[i] >= 0) close(pl->child[i]);
        pl->child[i] = -1;
    }
    return err;
}

static int spawn(weft_process **out, const char *path, const char *const *argv, bool search,
                 const weft_process_opts *opts) {
    weft_loop *L = weft_loop_current();
    if (!L) return WEFT_ENOTASK;
    if (!argv || !argv[0] || !path) return WEFT_EINVAL;
    weft_process_opts o = opts ? *opts : (weft_process_opts){ 0 };
    weft__mem mem = weft__mem_here();
    weft_process *p = weft__mem_alloc(mem, sizeof *p);
    if (!p) return WEFT_ENOMEM;
    *p = (weft_process){ .pidfd = -1, .loop = L, .mem = mem,
                         .grace = o.kill_grace ? o.kill_grace : WEFT_PROCESS_GRACE };
    plan pl = { .parent = { -1, -1, -1 }, .child = { -1, -1, -1 } };
    int err = launch(p, &pl, &o, path, argv, search);
    if (!err && (err = adopt_pipes(p, &pl))) kill_and_reap(p->pid);
    plan_close(&pl);
    if (err) {
        for (int i = 0; i < 3; i++) weft_stream_free(p->io[i]);
        weft__mem_free(mem, p);
        return err;
    }
    p->pidfd = pidfd_open_(p->pid);  /* -1: the waits poll */
    weft__leak_watch(&p->trk, "process", "weft_process_free", p);
    *out = p;
    return 0;
}

int weft_process_exec(weft_process **out, const char *const *argv, const weft_process_opts *opts) {
    return spawn(out, argv ? argv[0] : NULL, argv, true, opts);
}

int weft_process_shell(weft_process **out, const char *cmd, const weft_process_opts *opts) {
    if (!cmd) return WEFT_EINVAL;
    const char *argv[] = { "sh", "-c", cmd, NULL };
    return spawn(out, "/bin/sh", argv, false, opts);
}

pid_t weft_process_pid(const weft_process *p) { return p->pid; }
weft_stream *weft_process_stdin(weft_process *p) { return p->io[0]; }
weft_stream *weft_process_stdout(weft_process *p) { return p->io[1]; }
weft_stream *weft_process_stderr(weft_process *p) { return p->io[2]; }

/* -------------------------------------------------------------- reaping */

/* asyncio's returncode: the exit status, or minus the killing signal. */
static int returncode(int status) {
    return WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
}

/* Reaps p if it has ended: 0 (reaped now or before), WEFT_EAGAIN (runs),
 * or -ECHILD (someone else reaped it). */
static int try_reap(weft_process *p) {
    if (p->reaped) return 0;
    int status;
    pid_t r;
    while ((r = waitpid(p->pid, &status, WNOHANG)) < 0 && errno == EINTR) {}
    if (r == 0) return WEFT_EAGAIN;
    if (r < 0) return -errno;
    p->reaped = true;
    p->rc = returncode(status);
    if (p->pidfd >= 0) weft_close(p->pidfd);
    p->pidfd = -1;
    return 0;
}

/* Waits until p is reaped or `deadline` passes (WEFT_ETIMEDOUT), or a
 * scope's cancel comes. */
static int reap(weft_process *p, int64_t deadline) {
    int64_t pause = POLL_FIRST;
    for (;;) {
        int err = try_reap(p);
        if (err != WEFT_EAGAIN) return err;
        if (p->pidfd >= 0) {
            err = weft_wait_readable(p->pidfd, deadline);
        } else if (weft_now() >= deadline) {
            err = WEFT_ETIMEDOUT;
        } else {
            int64_t next = weft_deadline_after(pause);
            err = weft_sleep_until(next < deadline ? next : deadline);
            pause = pause * 2 < POLL_MAX ? pause * 2 : POLL_MAX;
        }
        if (err) return err;
    }
}

/* Ends the child, politely first: SIGTERM, its grace, SIGKILL; shielded,
 * so the cancel that brought us here cannot cut the reap short. */
static void terminate(weft_process *p) {
    weft_scope sc;
    weft_scope_enter_ex(&sc, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    int err = WEFT_ETIMEDOUT;
    if (p->grace > 0 && weft_process_kill(p, SIGTERM) == 0)
        err = reap(p, weft_deadline_after(p->grace));
    if (err == WEFT_ETIMEDOUT && weft_process_kill(p, SIGKILL) == 0) reap(p, WEFT_FOREVER);
    weft_scope_leave(&sc);
}

/* The entry of p's suspension points: a task of p's loop, not cancelled. */
static int enter(weft_process *p) { return weft__enter_on(p->loop, "weft_process_*"); }

/* A wait cancelled on entry ends the child too, as communicate does: "the
 * wait was cancelled" should not depend on whether the deadline passed
 * just before the call or just after. Other entry errors (no task, the
 * wrong loop) leave it alone. */
int weft_process_wait(weft_process *p, int *returncode_) {
    int err = enter(p);
    if (err == WEFT_ENOTASK || err == WEFT_EWRONGLOOP) return err;
    if (p->busy) return err ? err : WEFT_EBUSY;  /* the other call ends the child */
    p->busy++;
    if (!err) err = reap(p, WEFT_FOREVER);
    if (err == WEFT_ECANCELED || err == WEFT_ETIMEDOUT) terminate(p);
    p->busy--;
    if (p->reaped && returncode_) *returncode_ = p->rc;
    return err;
}

int weft_process_try_wait(weft_process *p, int *returncode_) {
    int err = try_reap(p);
    if (!err && returncode_) *returncode_ = p->rc;
    return err;
}

int weft_process_kill(weft_process *p, int sig) {
    if (p->reaped) return -ESRCH;
#ifdef SYS_pidfd_send_signal
    if (p->pidfd >= 0) return syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) ? -errno : 0;
#endif
    return kill(p->pid, sig) ? -errno : 0;  /* not reaped: the id is still ours */
}

int weft_process_close_stdin(weft_process *p) {
    int err = weft_stream_close(p->io[0]);
    if (err != WEFT_EBUSY) p->io[0] = NULL;
    return err;
}

int weft_process_free(weft_process *p) {
    if (!p) return 0;
    if (p->busy) return WEFT_EBUSY;
    for (int i = 0; i < 3; i++) {
        if (p->io[i] && weft_stream_free(p->io[i]) == WEFT_EBUSY) return WEFT_EBUSY;
        p->io[i] = NULL;
    }
    if (!p->reaped) {
        if (try_reap(p) == WEFT_EAGAIN) kill_and_reap(p->pid);
        if (p->pidfd >= 0) weft_close(p->pidfd);
    }
    weft__leak_unwatch(&p->trk);
    weft__mem_free(p->mem, p->buf[0]);
    weft__mem_free(p->mem, p->buf[1]);
    weft__mem_free(p->mem, p);
    return 0;
}

/* ---------------------------------------------------------- communicate */

/* One of communicate's tasks: the stdin feeder, or a reader of stdout (1)
 * or stderr (2). */
typedef struct pump {
    weft_process *p;
    const void *input;
    size_t len, limit;
    int fd;
    size_t got;
} pump;

static void *feed(void *arg) {
    pump *f = arg;
    int err = weft_stream_write(f->p->io[0], f->input, f->len);
    int cerr = weft_process_close_stdin(f->p);  /* drains, even after a failed write */
    if (!err) err = cerr;
    /* A child that stops reading early is its business, as asyncio has it. */
    if (err == -EPIPE || err == -ECONNRESET) err = 0;
    return err ? weft_error(err) : NULL;
}

/* Makes room for at least one more byte, and the NUL, in f's buffer. */
static int room(pump *f, size_t *cap) {
    char **b = &f->p->buf[f->fd - 1];
    if (*b && f->got + 1 < *cap) return 0;
    size_t want = *b ? *cap * 2 : OUT_FIRST;
    if (want > f->limit + 2) want = f->limit + 2;  /* one past the limit, and the NUL */
    char *nb = weft__mem_grow(f->p->mem, *b, want);
    if (!nb) return WEFT_ENOMEM;
    *b = nb;
    *cap = want;
    return 0;
}

static void *collect(void *arg) {
    pump *f = arg;
    weft_stream *s = f->p->io[f->fd];
    size_t cap = 0;
    for (;;) {
        int err = room(f, &cap);
        if (err) return weft_error(err);
        char *b = f->p->buf[f->fd - 1];
        ssize_t n = weft_stream_read(s, b + f->got, cap - 1 - f->got);
        if (n < 0) return weft_error((int)n);
        f->got += (size_t)n;
        b[f->got] = '\0';
        if (n == 0) return NULL;
        if (f->got > f->limit) {
            f->got = f->limit;
            b[f->got] = '\0';
            return weft_error(WEFT_EOVERFLOW);
        }
    }
}

/* Runs the feeder and the readers p needs in a group: the first to fail
 * stops the others. Returns the group's result. */
static int pump_all(pump *f) {
    weft_group g;
    weft_group_enter(&g);
    int err = 0;
    if (f[0].p->io[0]) err = weft_group_spawn(&g, NULL, feed, &f[0]);
    for (int i = 1; i < 3 && !err; i++)
        if (f[i].p->io[i]) err = weft_group_spawn(&g, NULL, collect, &f[i]);
    if (err) weft_group_cancel(&g);
    int gerr = weft_group_leave(&g);
    return err ? err : gerr;
}

int weft_process_communicate(weft_process *p, const void *input, size_t len, size_t limit,
                             weft_process_output *res) {
    if (!res || (len && !p->io[0])) return WEFT_EINVAL;
    int err = enter(p);
    if (err == WEFT_ENOTASK || err == WEFT_EWRONGLOOP) return err;
    if (p->busy) return err ? err : WEFT_EBUSY;
    p->busy++;
    weft__mem_free(p->mem, p->buf[0]);
    weft__mem_free(p->mem, p->buf[1]);
    p->buf[0] = p->buf[1] = NULL;
    if (!limit) limit = WEFT_PROCESS_LIMIT;
    pump f[3];
    for (int i = 0; i < 3; i++) f[i] = (pump){ .p = p, .input = input, .len = len, .limit = limit, .fd = i };
    if (!err) err = pump_all(f);  /* else cancelled on entry: end the child all the same */
    if (!err) err = reap(p, WEFT_FOREVER);
    if (err && err != -ECHILD) terminate(p);
    p->busy--;
    *res = (weft_process_output){ .out = p->buf[0], .err = p->buf[1], .out_len = f[1].got,
                                  .err_len = f[2].got, .returncode = p->rc };
    return err;
}
