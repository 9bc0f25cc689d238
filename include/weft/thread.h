/* weft threads: running blocking code on a thread pool (asyncio.to_thread),
 * and calling into a loop from other threads (call_soon_threadsafe).
 *
 * Each loop has its own pool of worker threads, started lazily (the first
 * job starts the first thread; a thread is added while jobs wait and the
 * pool is below its size), sized by weft_loop_opts.pool_size (default 4,
 * at most 1024, as libuv). Threads that have started stay until the loop
 * closes, which stops them and joins them, waiting for the jobs they are
 * running. Worker threads run with every signal blocked, so signals meant
 * for the loop (weft/signal.h, Ctrl-C) never land on them.
 *
 * Thread safety: weft_call_soon_threadsafe may be called from any thread;
 * everything else here must be called on the loop's own thread, as
 * weft.h's conventions say. A job's `fn` runs on a worker thread and must
 * not call any weft function except weft_call_soon_threadsafe.
 */
#ifndef WEFT_THREAD_H
#define WEFT_THREAD_H

#include <weft.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A blocking function to run on a worker thread: takes the job's `arg`,
 * returns its result. */
typedef void *(*weft_thread_fn)(void *arg);
/* Releases what a job that nobody will collect owns: its `arg` and, if `fn`
 * ran, its `result` (NULL if fn never started). Runs on the loop's thread,
 * as a loop callback (no suspension points), or while the loop closes. */
typedef void (*weft_thread_drop_fn)(void *arg, void *result);

/* Suspension point (asyncio.to_thread). Runs `fn(arg)` on a worker thread of
 * the calling loop's pool and waits for it; only the calling task waits. On
 * success stores fn's return value in *result (if result is non-NULL) and
 * returns 0: then `arg` and the result are the caller's, and `drop` is not
 * called.
 *
 * On a cancellation code (the caller was cancelled, or a deadline passed,
 * before or while the job waited or ran) the call returns at once, and the
 * job is handed to `drop`, which is called exactly once:
 *  - a job not yet started never runs: drop(arg, NULL) is called before the
 *    call returns;
 *  - a job already running cannot be stopped: it runs to its end on its
 *    thread, and then drop(arg, result) is called on the loop's thread (or
 *    while the loop closes, which waits for it).
 * So after a cancellation code the caller must not touch `arg` again: it
 * belongs to the job until drop. With drop == NULL nothing is called, and `arg` must
 * then stay valid for as long as the job may run (at most until the loop
 * has closed): do not pass a pointer into the caller's stack.
 *
 * While a job is queued or running the loop does not count its tasks as
 * deadlocked (a thread may still wake them).
 *
 * Returns 0; a cancellation code; WEFT_ENOTASK; WEFT_EINVAL (fn is NULL);
 * WEFT_ENOMEM (the job record); -EAGAIN or another -errno if the pool has no
 * thread and none can be started (pthread_create failed). These other
 * errors come before anything ran: drop is not called, arg is still the
 * caller's. */
WEFT_EXTERN int weft_to_thread(weft_thread_fn fn, void *arg, weft_thread_drop_fn drop, void **result);

/* Queues `fn(arg)` to run on loop `L`'s thread, as a call-soon callback
 * (asyncio's call_soon_threadsafe), and wakes the loop if it sleeps. Callable
 * from any thread, L's own and pool jobs included; not from a signal
 * handler (it takes a lock and allocates with malloc). Callbacks queued by
 * one thread run in the order it queued them. `L` comes from
 * weft_loop_current() called on the loop's thread.
 *
 * The loop must still exist: weft_run frees it when it returns, and a call
 * after that is undefined, so the caller arranges for its threads to be
 * done calling first (e.g. main joins them). Callbacks that have not run
 * when the loop closes (after its last task ended) are discarded without
 * running, as asyncio's loop.close does; a call that races with the close
 * itself returns WEFT_ECLOSED (and its callback is not queued).
 *
 * A task waiting for something only such a callback will do looks
 * deadlocked to the loop, which cannot know another thread will call: hold
 * the loop (weft_loop_hold) for as long as calls are expected.
 *
 * Returns 0, WEFT_EINVAL (L or fn is NULL), WEFT_ENOMEM, or WEFT_ECLOSED. */
WEFT_EXTERN int weft_call_soon_threadsafe(weft_loop *L, weft_callback fn, void *arg);

/* Tells the calling thread's loop that something outside it (another
 * thread's weft_call_soon_threadsafe) will wake its tasks: until the
 * matching weft_loop_unhold, tasks that all wait are not a deadlock, and
 * the loop sleeps in its poller instead. Holds count; they do not keep the
 * loop alive after main ends. Returns 0 or WEFT_ENOTASK (no loop on this
 * thread). */
WEFT_EXTERN int weft_loop_hold(void);
/* Releases one weft_loop_hold. Loop thread only (a callback the other
 * thread queued may call it). A no-op outside a loop. */
WEFT_EXTERN void weft_loop_unhold(void);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_THREAD_H */
