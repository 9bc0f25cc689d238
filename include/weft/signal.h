/* weft signals: a task that waits for a signal (asyncio's
 * loop.add_signal_handler, as a suspension point).
 *
 * Waiting uses a signalfd: while any task of a loop waits for a signal, the
 * signal is blocked in the loop's thread, so instead of its action it stays
 * pending until the waiting task reads it; when the last waiter for it
 * leaves, the thread's mask is restored (a signal this call blocked is
 * unblocked; one that was blocked before stays blocked). A signal that comes
 * while nobody waits gets its normal disposition.
 *
 * A signal sent to the process (kill(2), Ctrl-C) goes to any one thread that
 * does not block it, so a process with other threads must block the signal
 * in them too (threads inherit the mask of the thread that creates them:
 * block it before creating them). The loop's own pool threads block every
 * signal. A signal sent to the loop's thread (pthread_kill) always works.
 *
 * Related: weft_run makes Ctrl-C cancel main (see weft.h). Everything here
 * must be called from a task; none of it is thread-safe.
 */
#ifndef WEFT_SIGNAL_H
#define WEFT_SIGNAL_H

#include <weft.h>

#include <signal.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Suspension point. Waits until one of the signals in `set` is delivered to
 * the loop's thread or to the process, or `deadline` (absolute, or
 * WEFT_FOREVER) passes, and consumes that delivery: it returns the signal's
 * number (> 0). A signal already pending (blocked before the call) is
 * returned at once. Ordinary signals do not queue: several deliveries before
 * the task runs may count as one. If several tasks wait for the same signal,
 * each delivery goes to one of them.
 *
 * Returns the signal number, WEFT_ETIMEDOUT (the deadline, or a scope's),
 * WEFT_ECANCELED, WEFT_EINVAL (set NULL or holding no signal that can be
 * caught: SIGKILL and SIGSTOP cannot), -EMFILE / -ENFILE / WEFT_ENOMEM
 * (signalfd could not be made), or WEFT_ENOTASK. */
WEFT_EXTERN int weft_signal_wait(const sigset_t *set, int64_t deadline);

/* weft_signal_wait for the one signal `signo`: returns signo or an error. */
WEFT_EXTERN int weft_signal_wait1(int signo, int64_t deadline);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_SIGNAL_H */
