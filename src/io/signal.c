/* Signals: tasks waiting for a signal (a signalfd each), and weft_run's
 * Ctrl-C, which cancels main.
 *
 * Waiting: the signal must be blocked in the loop's thread, or its action
 * runs instead of the signalfd becoming readable. Blocking is counted per
 * signal per thread (signal masks are per thread, and a thread runs one
 * loop), so two tasks waiting for SIGUSR1 block it once and the last to
 * leave restores the mask. Each waiter has a signalfd of its own and waits
 * on it as on any fd (src/io/fd.c), which also counts it in L->nwatch: a
 * task waiting for a signal is never a deadlock.
 *
 * Ctrl-C: a SIGINT handler, not a signalfd, so that SIGINT keeps working in
 * a program whose other threads do not block it. The handler only does what
 * is async-signal-safe: it counts, flags the loop (L->remote_pending) and
 * writes the loop's eventfd; the loop cancels main at its next upkeep. A
 * second SIGINT restores the default action and re-raises, so a shutdown
 * that hangs can still be interrupted. One loop at a time owns SIGINT: the
 * one on the main thread, if SIGINT had its default disposition when it
 * started.
 */
#include "internal.h"

#include "weft/io.h"
#include "weft/signal.h"

#include <sched.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* ------------------------------------------------------------- waiting */

static __thread unsigned waiters[_NSIG];  /* tasks waiting, per signal */
static __thread sigset_t blocked_here;    /* signals this file blocked */

/* Counts a waiter for each signal of `set` and blocks those not blocked. */
static void block_for(const sigset_t *set) {
    sigset_t cur, add;
    sigemptyset(&add);
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    for (int s = 1; s < _NSIG; s++) {
        if (!sigismember(set, s) || waiters[s]++) continue;
        if (!sigismember(&cur, s)) {
            sigaddset(&add, s);
            sigaddset(&blocked_here, s);
        }
    }
    pthread_sigmask(SIG_BLOCK, &add, NULL);
}

/* Undoes block_for: the last waiter unblocks what block_for blocked. */
static void unblock_for(const sigset_t *set) {
    sigset_t del;
    sigemptyset(&del);
    for (int s = 1; s < _NSIG; s++) {
        if (!sigismember(set, s) || --waiters[s]) continue;
        if (sigismember(&blocked_here, s)) {
            sigaddset(&del, s);
            sigdelset(&blocked_here, s);
        }
    }
    pthread_sigmask(SIG_UNBLOCK, &del, NULL);
}

/* The catchable signals of `set`, or false if there are none. */
static bool catchable(const sigset_t *set, sigset_t *out) {
    bool any = false;
    sigemptyset(out);
    for (int s = 1; s < _NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP || sigismember(set, s) != 1) continue;
        sigaddset(out, s);
        any = true;
    }
    return any;
}

int weft_signal_wait(const sigset_t *set, int64_t deadline) {
    weft_task *t;
    int err = weft__enter(&t);
    if (!err) err = weft__checkpoint(t);
    if (err) return err;
    sigset_t sigs;
    if (!set || !catchable(set, &sigs)) return WEFT_EINVAL;
    block_for(&sigs);
    int fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        err = errno == ENOMEM ? WEFT_ENOMEM : -errno;
        unblock_for(&sigs);
        return err;
    }
    for (;;) {
        struct signalfd_siginfo si;
        ssize_t n = read(fd, &si, sizeof si);
        if (n == (ssize_t)sizeof si) {
            err = (int)si.ssi_signo;
            break;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            err = -errno;
            break;
        }
        if ((err = weft_wait_readable(fd, deadline))) break;
    }
    weft_close(fd);
    unblock_for(&sigs);
    return err;
}

int weft_signal_wait1(int signo, int64_t deadline) {
    sigset_t set;
    sigemptyset(&set);
    if (sigaddset(&set, signo) < 0) return WEFT_EINVAL;
    return weft_signal_wait(&set, deadline);
}

/* -------------------------------------------------------------- Ctrl-C */

static weft_loop *sigint_loop;   /* the owner; atomic */
static int sigint_fd;            /* its eventfd */
static int sigint_count;         /* SIGINTs seen; atomic */
static bool sigint_taken;        /* the owner cancelled main (loop thread) */
static int sigint_busy;          /* handlers running now; atomic */

static void on_sigint(int sig) {
    (void)sig;
    int saved = errno;
    __atomic_add_fetch(&sigint_busy, 1, __ATOMIC_SEQ_CST);
    weft_loop *L = __atomic_load_n(&sigint_loop, __ATOMIC_SEQ_CST);
    if (L && __atomic_add_fetch(&sigint_count, 1, __ATOMIC_SEQ_CST) == 1) {
        __atomic_store_n(&L->remote_pending, 1, __ATOMIC_SEQ_CST);
        uint64_t one = 1;
        ssize_t w = write(sigint_fd, &one, sizeof one);
        (void)w;
    } else if (L) {
        /* The second: stop asking nicely. SIGINT is blocked while this
         * handler runs, so the raise lands, with the default action, when
         * it returns. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGINT, &dfl, NULL);
        raise(SIGINT);
    }
    __atomic_sub_fetch(&sigint_busy, 1, __ATOMIC_SEQ_CST);
    errno = saved;
}

void weft__sigint_install(weft_loop *L, int wake_fd) {
    if (gettid() != getpid()) return;  /* the main thread only, as asyncio */
    struct sigaction old, sa;
    if (sigaction(SIGINT, NULL, &old) < 0) return;
    if (old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO)) return;
    weft_loop *none = NULL;
    if (!__atomic_compare_exchange_n(&sigint_loop, &none, L, false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST))
        return;
    sigint_fd = wake_fd;
    sigint_count = 0;
    sigint_taken = false;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) < 0) __atomic_store_n(&sigint_loop, NULL, __ATOMIC_SEQ_CST);
}

void weft__sigint_uninstall(weft_loop *L) {
    if (__atomic_load_n(&sigint_loop, __ATOMIC_SEQ_CST) != L) return;
    struct sigaction cur;
    if (sigaction(SIGINT, NULL, &cur) == 0 && cur.sa_handler == on_sigint) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGINT, &dfl, NULL);
    }
    __atomic_store_n(&sigint_loop, NULL, __ATOMIC_SEQ_CST);
    /* A handler on another thread may still be about to write the eventfd,
     * which the caller is going to close: wait for it (a few instructions). */
    while (__atomic_load_n(&sigint_busy, __ATOMIC_SEQ_CST)) sched_yield();
}

bool weft__sigint_take(weft_loop *L) {
    if (sigint_taken || __atomic_load_n(&sigint_loop, __ATOMIC_SEQ_CST) != L) return false;
    if (!__atomic_load_n(&sigint_count, __ATOMIC_SEQ_CST)) return false;
    sigint_taken = true;
    return true;
}

bool weft__sigint_seen(weft_loop *L) {
    return __atomic_load_n(&sigint_loop, __ATOMIC_SEQ_CST) == L && sigint_taken;
}
