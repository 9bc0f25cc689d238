/* Several loops at once: one per core, each on its own thread with its own
 * tasks, sharing nothing by default, started and stopped as one unit
 * (nginx's worker per core, seastar's shard per core). Tasks on different
 * loops talk by calls (weft_loops_call: run a function as a task on another
 * loop and await its result) and by channels (weft/chan.h).
 *
 * What may cross loops. A task, a scope, a group, a lock, an event, a
 * semaphore, a weft_queue, a stream, an HTTP client or server, a TLS
 * context's connections and a handle from weft_call_later belong to the loop
 * they were made on: using one from a task of another loop fails with
 * WEFT_EWRONGLOOP where weft can tell (every suspending call on a stream,
 * group or task does), and is undefined where it cannot. What may cross: a
 * weft_chan, the loop's index, plain memory the program itself guards, and
 * calls made with weft_loops_call or weft_call_soon_threadsafe (weft/thread.h).
 */
#ifndef WEFT_LOOPS_H
#define WEFT_LOOPS_H

#include "weft.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_loops_opts {
    unsigned count;        /* loops: 0 = one per CPU the process may run on
                              (sched_getaffinity); at most 1024, else
                              WEFT_EINVAL */
    int pin;               /* nonzero: loop i's thread is pinned to the i-th
                              of those CPUs (modulo their number); the calling
                              thread's own affinity is put back at the end */
    weft_loop_opts loop;   /* every loop's options (a realloc hook given here
                              is used by every loop's thread at once: it must
                              be thread-safe) */
} weft_loops_opts;

/* Runs `count` loops, loop i on its own thread (loop 0 on the calling
 * thread), each with main(i, arg) as its main task, as weft_run does for
 * one (main's return value: 0, or a negative code). Returns once every loop
 * has ended: 0 if every main returned 0; else the first failure, in time:
 * a main's negative return, or a loop that could not be made (its main
 * never ran; a thread that could not be started counts as WEFT_ENOMEM or
 * its errno). The first failure cancels every other loop's main, as does
 * Ctrl-C on the calling thread if it is the process's main thread (then
 * the result is WEFT_EINTR): one loop's failure stops them all, and each
 * shuts down through its own cancellation paths.
 *
 * A main that returns 0 while others still run just ends its loop (after
 * its tasks, as weft_run's teardown does); weft_loops_call to that loop
 * then fails with WEFT_ECLOSED. Loops do not nest: WEFT_EINVAL if the
 * calling thread already runs a loop. opts NULL: one loop per CPU, not
 * pinned, default loop options. SIGINT is blocked in the threads made
 * here, so that Ctrl-C reaches loop 0's thread. */
WEFT_EXTERN int weft_run_loops(const weft_loops_opts *opts, int (*main)(unsigned index, void *arg), void *arg);

/* How many loops the calling thread's weft_run_loops runs; 0 on a thread
 * that runs no loop of weft_run_loops (a plain weft_run, or none). */
WEFT_EXTERN unsigned weft_loops_count(void);

/* The calling thread's loop index in its weft_run_loops (0..count-1); -1
 * elsewhere. */
WEFT_EXTERN int weft_loops_index(void);

/* Runs fn(arg) as a new task on loop `index` of the calling task's
 * weft_run_loops and suspends until it ends; *result (if result is not
 * NULL) then holds what fn returned. Any index, the caller's own included.
 * fn runs on the other loop's thread: what arg points to must be safe to
 * use from there while the caller waits (the caller's own stack is).
 *
 * Returns 0; WEFT_ENOTASK outside a task; WEFT_EINVAL if the calling
 * thread runs no loop of weft_run_loops or index is not below its count;
 * WEFT_ECLOSED if that loop has ended or ends before fn could start (fn did
 * not run); WEFT_ENOMEM (nothing happened); the other loop's spawn error
 * (fn did not run); or a cancellation code (the caller was cancelled or its
 * scope's deadline passed).
 *
 * Cancellation reaches across: cancelling the waiting caller cancels the
 * remote task and waits (uncancellably) until it has ended. If fn still
 * returned a value that is not a weft_error, the call completed: it returns
 * 0 with *result, and the caller's cancellation is reported at its next
 * suspension point. Otherwise it returns the cancellation code, and
 * *result still holds fn's return value (the caller's to release, if fn
 * allocates). */
WEFT_EXTERN int weft_loops_call(unsigned index, weft_task_fn fn, void *arg, void **result);

#ifdef __cplusplus
}
#endif

#endif
