/* Signals: tasks waiting for a signal, a signalfd each. (weft_run's Ctrl-C,
 * which cancels main, is the core's: src/core/remote.c.)
 *
 * The signal must be blocked in the loop's thread, or its action runs
 * instead of the signalfd becoming readable. Blocking is counted per signal
 * per thread (signal masks are per thread, and a thread runs one loop), so
 * two tasks waiting for SIGUSR1 block it once and the last to leave restores
 * the mask. Each waiter has a signalfd of its own and waits on it as on any
 * fd (weft_wait_readable), which also keeps the loop from calling it a
 * deadlock.
 */
#include "core_iface.h"

#include "weft/io.h"
#include "weft/signal.h"

#include <sys/signalfd.h>
#include <unistd.h>

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
    int err = weft__point(NULL);
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
