/* weft: asyncio's model of concurrency in C.
 *
 * One loop per thread runs many tasks. A task is a stackful coroutine: it runs
 * until it calls a suspending function (weft_sleep, weft_join, a lock, a queue,
 * a socket read...), and the loop switches to the next ready task there. Code
 * reads as straight-line C; only the calling task waits.
 *
 * This header is the core layer's whole public API and its reference manual.
 *
 * Conventions, true of every function below unless its comment says otherwise:
 *  - Errors are negative WEFT_E* codes (equal to -errno where one exists);
 *    0 or a count means success. A call that fails changes nothing the caller
 *    can see: no task is woken, no *out is written, nothing is consumed.
 *  - Time is int64_t nanoseconds of the loop's monotonic clock. Deadlines are
 *    absolute (compare with weft_now()); WEFT_FOREVER means "no deadline".
 *  - A "suspension point" is a function that may suspend the calling task.
 *    Every suspension point must be called from a task of the loop that owns
 *    the objects involved; from elsewhere it returns WEFT_ENOTASK (no task on
 *    this thread) or WEFT_EWRONGLOOP (object bound to another thread's loop).
 *    Every suspension point first checks cancellation (see "Cancellation") and
 *    reports WEFT_ECANCELED or WEFT_ETIMEDOUT; on that error it did nothing.
 *  - Nothing is printed unless debug output was asked for (WEFT_DEBUG=1 or
 *    WEFT_LOOP_DEBUG), except the fatal stack-overflow report.
 */
#ifndef WEFT_H
#define WEFT_H

#include <stddef.h>
#include <stdint.h>
#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WEFT_STATIC)
#define WEFT_EXTERN
#elif defined(WEFT_BUILDING)
#define WEFT_EXTERN __attribute__((visibility("default")))
#else
#define WEFT_EXTERN
#endif

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0
#define WEFT_VERSION ((WEFT_VERSION_MAJOR << 16) | (WEFT_VERSION_MINOR << 8) | WEFT_VERSION_PATCH)

/* The library's version as WEFT_VERSION encodes it, for comparing the
 * header a program was built with against the library it runs with. */
WEFT_EXTERN unsigned weft_version(void);
/* The same as a static string, "MAJOR.MINOR.PATCH". */
WEFT_EXTERN const char *weft_version_string(void);

/* ---------------------------------------------------------------- errors */

#define WEFT_ENOMEM     (-ENOMEM)     /* an allocation failed */
#define WEFT_EINVAL     (-EINVAL)     /* a bad argument */
#define WEFT_EAGAIN     (-EAGAIN)     /* a try_ call would have had to wait */
#define WEFT_EBUSY      (-EBUSY)      /* the object is in use (waiters, owner) */
#define WEFT_EPERM      (-EPERM)      /* e.g. unlocking a lock another task holds */
#define WEFT_EDEADLK    (-EDEADLK)    /* every task waits and nothing can wake one */
#define WEFT_EOVERFLOW  (-EOVERFLOW)  /* a bounded count would pass its bound */
#define WEFT_ECANCELED  (-ECANCELED)  /* the task or an enclosing scope was cancelled */
#define WEFT_ETIMEDOUT  (-ETIMEDOUT)  /* an enclosing scope's deadline passed */
#define WEFT_ENOTASK    (-4000)       /* a suspending call made outside any task */
#define WEFT_EWRONGLOOP (-4001)       /* the object belongs to another thread's loop */
#define WEFT_ECLOSED    (-4002)       /* the object was shut down or closed */
#define WEFT_EOF        (-4003)       /* end of stream / no more items */
#define WEFT_EINTR      (-EINTR)      /* weft_run: SIGINT (Ctrl-C) cancelled main */
/* Name resolution (weft/dns.h). */
#define WEFT_ENOTFOUND  (-4010)       /* the name does not exist, or has no address */
#define WEFT_EDNSAGAIN  (-4011)       /* temporary resolver failure: try again later */
#define WEFT_EDNSFAIL   (-4012)       /* the resolver failed for good */
/* TLS (weft/tls.h). */
#define WEFT_ETLS            (-4020)  /* TLS failed: a protocol error, no common version or cipher */
#define WEFT_ECERT           (-4021)  /* the peer's certificate failed verification (other reasons) */
#define WEFT_ECERTEXPIRED    (-4022)  /* the peer's certificate has expired or is not yet valid */
#define WEFT_ECERTHOST       (-4023)  /* the peer's certificate does not name the host asked for */
#define WEFT_ECERTSELFSIGNED (-4024)  /* the peer's certificate is self-signed and not trusted */
#define WEFT_ECERTUNTRUSTED  (-4025)  /* the peer's certificate chains to no trusted CA */
/* HTTP (weft/http.h, weft/httpd.h). */
#define WEFT_EHTTP           (-4030)  /* a malformed HTTP message (syntax or framing) */
#define WEFT_EURL            (-4031)  /* a malformed URL, or a scheme weft does not speak */
#define WEFT_ETOOBIG         (-4032)  /* a message, header or body passed its size limit */
#define WEFT_EHTTPSTATUS     (-4033)  /* the response's status is 4xx or 5xx (raise-for-status) */
#define WEFT_EREDIRECTS      (-4034)  /* too many redirects */
#define WEFT_ECONNTIMEOUT    (-4035)  /* the connect timeout passed (TCP and TLS handshake) */
#define WEFT_EREADTIMEOUT    (-4036)  /* the read timeout passed waiting for the peer */
#define WEFT_EWRITETIMEOUT   (-4037)  /* the write timeout passed waiting to send */
#define WEFT_EPOOLTIMEOUT    (-4038)  /* the pool timeout passed waiting for a free connection */
#define WEFT_EDECODE         (-4039)  /* a body's content encoding (gzip, deflate) is corrupt */

/* A static, human-readable description of any WEFT_E* code (or -errno);
 * never NULL. */
WEFT_EXTERN const char *weft_strerror(int err);
/* The code's symbolic name, e.g. "WEFT_ETIMEDOUT"; never NULL. */
WEFT_EXTERN const char *weft_err_name(int err);

/* A task returns a void *. To return an error instead of a value, return
 * weft_error(code): error pointers are the values (void *)-1 .. (void *)-4095,
 * which no object can have, as in the Linux kernel's ERR_PTR. */
static inline void *weft_error(int err) { return (void *)(intptr_t)err; }
/* Nonzero if `p` is an error pointer made by weft_error. */
static inline int weft_is_error(const void *p) {
    return (uintptr_t)p >= (uintptr_t)-4095;
}
/* The code carried by an error pointer, or 0 for any other pointer. */
static inline int weft_error_code(const void *p) {
    return weft_is_error(p) ? (int)(intptr_t)p : 0;
}

/* ------------------------------------------------------------------ time */

#define WEFT_NANOSECOND  ((int64_t)1)
#define WEFT_MICROSECOND ((int64_t)1000)
#define WEFT_MILLISECOND ((int64_t)1000000)
#define WEFT_SECOND      ((int64_t)1000000000)
#define WEFT_FOREVER     INT64_MAX

/* The current time of the calling thread's loop: its virtual clock if it has
 * one (WEFT_LOOP_VIRTUAL_CLOCK), else CLOCK_MONOTONIC read now. Outside any
 * loop, CLOCK_MONOTONIC. Never fails. */
WEFT_EXTERN int64_t weft_now(void);
/* weft_now() + d, saturating at WEFT_FOREVER; d <= 0 means now. */
WEFT_EXTERN int64_t weft_deadline_after(int64_t d);

/* ----------------------------------------------------------------- loops */

typedef struct weft_loop weft_loop;
typedef struct weft_task weft_task;

/* A task's body. `arg` is whatever the spawner passed; the return value is the
 * task's result, or weft_error(code) to report a failure. */
typedef void *(*weft_task_fn)(void *arg);
/* A plain callback run by the loop (call-soon / call-later): not a task, so it
 * must not call suspension points (they return WEFT_ENOTASK). It runs on a
 * borrowed stack of at least 16 KiB: keep it short. */
typedef void (*weft_callback)(void *arg);
/* The allocation hook: realloc semantics (size 0 frees and returns NULL). */
typedef void *(*weft_realloc_fn)(void *ud, void *ptr, size_t size);

enum {
    /* Time stands still while tasks run and jumps to the next deadline when
     * every task waits (Trio's MockClock with autojump). For tests: a 30 s
     * timeout runs in microseconds, the same way every time. */
    WEFT_LOOP_VIRTUAL_CLOCK = 1 << 0,
    /* Debug checks and reports on stderr (also set by WEFT_DEBUG=1). */
    WEFT_LOOP_DEBUG = 1 << 1,
    /* Do not install the SIGSEGV handler that names the task whose stack
     * overflowed (see weft_run). */
    WEFT_LOOP_NO_OVERFLOW_HANDLER = 1 << 2,
    /* Leave SIGINT alone: do not make Ctrl-C cancel main (see weft_run). */
    WEFT_LOOP_NO_SIGINT = 1 << 3,
};

/* The poller a loop uses for I/O readiness. */
enum {
    WEFT_BACKEND_DEFAULT = 0,  /* $WEFT_BACKEND ("epoll" or "uring"), else epoll */
    WEFT_BACKEND_EPOLL,
    WEFT_BACKEND_URING,        /* io_uring (liburing): WEFT_EINVAL where weft was built
                                  without it; the kernel's code (-EPERM, -ENOSYS)
                                  where io_uring is refused */
};

/* Options for a loop. Zero-initialise and set what you need; every zero field
 * means the default given. */
typedef struct weft_loop_opts {
    unsigned flags;            /* WEFT_LOOP_* bits */
    int backend;               /* WEFT_BACKEND_* */
    size_t stack_size;         /* default task stack; 0 = 64 KiB (rounded up to
                                  pages, at least 16 KiB) */
    weft_realloc_fn realloc;   /* 0 = the C library's realloc/free. Objects
                                  that may be freed after weft_run returns
                                  (call-later handles, queues, streams,
                                  HTTP clients, servers, routers,
                                  responses) keep it and free through it:
                                  it must stay usable until the last of
                                  them is freed. */
    void *realloc_ud;          /* passed to realloc */
    unsigned pool_size;        /* threads of the loop's pool (weft/thread.h):
                                  0 = 4; at most 1024, else WEFT_EINVAL */
    int64_t slow_step;         /* debug mode (weft/debug.h): a task step
                                  longer than this (ns) is reported; 0 =
                                  WEFT_DEBUG_SLOW_MS from the environment,
                                  else 100 ms; negative: no watchdog */
    const char *trace_path;    /* write a trace there (weft/debug.h); NULL =
                                  WEFT_TRACE from the environment, if set */
    const char *console_path;  /* answer the live console (weft-console) on a
                                  Unix socket there, mode 0600 (weft/debug.h);
                                  NULL = WEFT_CONSOLE from the environment,
                                  if set. One socket per process: the first
                                  loop's path serves every loop. */
} weft_loop_opts;

/* Runs `main(arg)` as the first task of a new loop on the calling thread, like
 * asyncio.run: runs the loop until `main` returns, then cancels every task
 * still alive and runs them until they finish, frees the loop and returns
 * main's return value.
 *
 * Returns main's value; or WEFT_ENOMEM (or another negative code) if the loop
 * could not be set up, in which case main never ran; or WEFT_EDEADLK if every
 * task ended up waiting with nothing left that could wake one (no timers, no
 * I/O): the loop then cancels all tasks, main included, so nothing hangs
 * (tasks that then still wait, in shielded scopes, are abandoned: their
 * stacks are freed without unwinding, with a message on stderr).
 * WEFT_EINVAL if the thread is already running a loop (loops do not nest;
 * other threads may run loops of their own).
 *
 * Unless WEFT_LOOP_NO_OVERFLOW_HANDLER is given, a SIGSEGV handler (on an
 * alternate signal stack) is installed if none is: a task that overflows its
 * stack hits a guard page and the process aborts with "weft: stack overflow in
 * task 'NAME'". Any other fault is passed on to the default action.
 *
 * Ctrl-C: on the process's main thread, if SIGINT's disposition is the
 * default when the loop starts (and not WEFT_LOOP_NO_SIGINT), a SIGINT
 * during the run cancels main, as asyncio.run does, so the program shuts
 * down through its normal cancellation paths; weft_run then returns
 * WEFT_EINTR whatever main returned. A second SIGINT before the loop ends
 * restores the default action and re-raises it: the process dies, as a
 * stuck shutdown should. The default disposition is back when weft_run
 * returns. A program that handles or ignores SIGINT itself is left alone. */
WEFT_EXTERN int weft_run(int (*main)(void *arg), void *arg);
/* weft_run with options; `opts` may be NULL. Also reads WEFT_DEBUG=1. */
WEFT_EXTERN int weft_run_opts(const weft_loop_opts *opts, int (*main)(void *arg), void *arg);

/* The loop running on the calling thread, or NULL. The pointer may be handed
 * to other threads for the thread-safe entry points of later layers. */
WEFT_EXTERN weft_loop *weft_loop_current(void);

/* Queues `fn(arg)` to run on the calling thread's loop after the tasks that
 * are ready now (asyncio's call_soon). Callbacks run in FIFO order. Returns 0,
 * WEFT_ENOTASK when no loop runs on this thread, or WEFT_ENOMEM. */
WEFT_EXTERN int weft_call_soon(weft_callback fn, void *arg);

/* A pending call-later, owned by whoever asked for it. */
typedef struct weft_handle weft_handle;
/* Runs `fn(arg)` on the loop once `deadline` has passed (asyncio's call_at;
 * WEFT_FOREVER: never). Equal deadlines run in the order they were set. If `out` is NULL the loop
 * frees the handle after the call; otherwise *out is the caller's and must be
 * released with weft_handle_free (before or after the call ran). Returns 0,
 * WEFT_ENOTASK (no loop on this thread) or WEFT_ENOMEM. */
WEFT_EXTERN int weft_call_at(int64_t deadline, weft_callback fn, void *arg, weft_handle **out);
/* weft_call_at(weft_deadline_after(delay), ...) (asyncio's call_later). */
WEFT_EXTERN int weft_call_later(int64_t delay, weft_callback fn, void *arg, weft_handle **out);
/* Cancels the call if it has not run yet and frees the handle. NULL is a
 * no-op. Must be called on the handle's loop thread. */
WEFT_EXTERN void weft_handle_free(weft_handle *h);

/* ----------------------------------------------------------------- tasks */

/* Options for weft_spawn_ex; zero-initialise. */
typedef struct weft_spawn_opts {
    const char *name;   /* copied (at most 31 bytes kept); NULL = "task-ID" */
    size_t stack_size;  /* 0 = the loop's default */
    int detached;       /* nonzero: no handle; the task is freed when it ends */
} weft_spawn_opts;

/* Spawns a task running `fn(arg)` on the calling thread's loop. It starts
 * after the caller next suspends, in FIFO order with other ready tasks.
 *
 * Ownership: *out is a handle owned by the caller, who releases it with
 * weft_join (or weft_gather) or weft_detach. A task that ends is reaped at
 * once (its stack returns to the loop's pool); only its small record, holding
 * the result, waits for the handle to be released, or for the loop to end.
 * With opts->detached, *out is set to NULL (out may be NULL) and the record
 * goes too. The loop never frees `arg`.
 *
 * Returns 0, WEFT_ENOTASK (no loop runs on this thread), WEFT_ENOMEM (no
 * memory or no stack could be mapped), or WEFT_EINVAL (stack size too big). */
WEFT_EXTERN int weft_spawn_ex(weft_task **out, const weft_spawn_opts *opts, weft_task_fn fn, void *arg);
/* weft_spawn_ex with default options; returns the handle, or NULL on any
 * error. A NULL handle may be passed to weft_gather, which reports it as a
 * task that failed with WEFT_ENOMEM, so spawn-then-gather needs no check. */
WEFT_EXTERN weft_task *weft_spawn(weft_task_fn fn, void *arg);
/* weft_spawn with a name (copied). */
WEFT_EXTERN weft_task *weft_spawn_named(const char *name, weft_task_fn fn, void *arg);

/* Suspension point. Waits for `t` to end, stores its result in *result (if
 * result is non-NULL) and releases the handle. Returns 0 or a cancellation
 * code; on a cancellation code the task still runs and the handle is still
 * the caller's (join again, detach or cancel it). Only one task may join a
 * handle at a time; a second joiner gets WEFT_EBUSY. WEFT_EINVAL if a task
 * joins itself. A task's failure is in its result (weft_is_error), not in
 * this return value. */
WEFT_EXTERN int weft_join(weft_task *t, void **result);
/* Releases the handle without waiting; the task runs on and is freed when it
 * ends. */
WEFT_EXTERN void weft_detach(weft_task *t);
/* Cancels the task: from now on every suspension point in it (outside
 * shielded scopes) reports WEFT_ECANCELED, and if it is suspended it wakes at
 * once. Idempotent; a no-op on a task that has ended. The handle stays the
 * caller's. A task cancelled before it starts still runs, so that it can
 * release what `arg` owns; its first suspension point reports the cancel.
 * Tasks inside a cancelled task's groups are cancelled with it. */
WEFT_EXTERN void weft_cancel(weft_task *t);

/* The running task, or NULL outside any task. */
WEFT_EXTERN weft_task *weft_current(void);
/* Suspension point: lets every other ready task run once, then resumes
 * (asyncio.sleep(0)). Returns 0 or a cancellation code. */
WEFT_EXTERN int weft_yield(void);
/* Suspension point: suspends the calling task for `d` ns (d <= 0 yields).
 * Returns 0 when the time is up, or a cancellation code. */
WEFT_EXTERN int weft_sleep(int64_t d);
/* Suspension point: suspends until the absolute time `deadline`. */
WEFT_EXTERN int weft_sleep_until(int64_t deadline);

/* Task state, as weft_task_state reports it. */
enum { WEFT_TASK_READY, WEFT_TASK_RUNNING, WEFT_TASK_WAITING, WEFT_TASK_DONE };
/* The task's name (borrowed; valid while the handle is). */
WEFT_EXTERN const char *weft_task_name(const weft_task *t);
/* Renames the task (copied, truncated to 31 bytes). */
WEFT_EXTERN void weft_task_set_name(weft_task *t, const char *name);
/* The task's id, unique within its loop, counting from 1. */
WEFT_EXTERN uint64_t weft_task_id(const weft_task *t);
/* One of WEFT_TASK_*. */
WEFT_EXTERN int weft_task_state(const weft_task *t);
/* Nonzero once the task has ended. */
WEFT_EXTERN int weft_task_done(const weft_task *t);
/* If the task has ended, stores its result and returns 0 without releasing
 * the handle; otherwise WEFT_EAGAIN. */
WEFT_EXTERN int weft_task_result(const weft_task *t, void **result);
/* Lists the loop's tasks that have not ended: stores up to `cap` borrowed
 * pointers (valid until the caller next suspends) and returns how many there
 * are in all (which may exceed cap). 0 outside a loop. */
WEFT_EXTERN size_t weft_tasks(weft_task **out, size_t cap);

/* ----------------------------------------------------- waiting on many */

/* Suspension point. Waits until all `n` tasks have ended, stores their
 * results in results[i] (if results is non-NULL) and releases every handle.
 * A NULL entry counts as a task that failed with WEFT_ENOMEM. Returns 0 if
 * no result was an error pointer, else the code of the first task to fail, in
 * the order they ended (asyncio.gather; the other tasks are not cancelled).
 * If the caller is cancelled while waiting, gather cancels every task, waits
 * for them all, releases them and returns the cancellation code: no task
 * outlives a gather. Fails without waiting or releasing anything with
 * WEFT_EINVAL (the caller's own task in the array), WEFT_EBUSY (a task is
 * being joined elsewhere) or WEFT_EWRONGLOOP. */
WEFT_EXTERN int weft_gather(weft_task *const *tasks, size_t n, void **results);

enum { WEFT_FIRST_COMPLETED, WEFT_FIRST_ERROR, WEFT_ALL_COMPLETED };
/* Suspension point (asyncio.wait). Waits until one task has ended
 * (WEFT_FIRST_COMPLETED), one has ended with an error result or all have ended
 * (WEFT_FIRST_ERROR), or all have ended (WEFT_ALL_COMPLETED). Handles stay
 * the caller's; use weft_task_done to see which ended. Returns how many of the
 * tasks have ended (>= 1), or a cancellation code, WEFT_EINVAL (n == 0, a
 * NULL task or a bad mode) or WEFT_ENOMEM (more than 16 tasks need a small
 * allocation). */
WEFT_EXTERN int weft_wait(weft_task *const *tasks, size_t n, int mode);

/* An as-completed iteration (asyncio.as_completed): yields the tasks of an
 * array in the order they end. Caller-owned; no cleanup needed. */
typedef struct weft_as_completed {
    weft_task **tasks; /* private */
    size_t left;       /* private */
} weft_as_completed;
/* Starts an iteration over `tasks` (n of them, none NULL). The array is
 * borrowed and reordered in place while iterating; handles stay the
 * caller's. */
WEFT_EXTERN void weft_as_completed_init(weft_as_completed *it, weft_task **tasks, size_t n);
/* Suspension point. Stores in *out the next task to end (join it to reap its
 * result) and returns 0; WEFT_EOF when every task has been returned; or a
 * cancellation code / WEFT_ENOMEM as weft_wait. */
WEFT_EXTERN int weft_as_completed_next(weft_as_completed *it, weft_task **out);

/* -------------------------------------------------------- cancellation
 *
 * The semantics, in three sentences. A scope (or a task, whose body is a
 * scope) is cancelled by weft_scope_cancel / weft_cancel or by its deadline
 * passing; from then on every suspension point inside it reports
 * WEFT_ECANCELED (or WEFT_ETIMEDOUT for a deadline) until the scope is left,
 * however many times it is asked, so a cancel cannot be lost. A shielded scope
 * stops cancellation of the scopes outside it from reaching in (its own
 * deadline and cancel still apply). When several enclosing scopes are
 * cancelled the outermost one (up to a shield) is the one reported, and
 * weft_scope_leave tells each scope whether it was the one that caught it.
 *
 * "Cancelled means it did not happen": a suspension point that reports a
 * cancellation code did not do its work (no lock held, no item taken, no unit
 * acquired); one that returns success did all of it.
 */

/* A cancel scope. Lives on the entering task's stack between enter and leave;
 * fields are private. */
typedef struct weft_scope {
    struct weft_scope *parent;   /* private: the enclosing scope */
    weft_task *owner;            /* private: the task that entered it */
    int64_t deadline;            /* private */
    int64_t eff_deadline;        /* private: min deadline up to a shield */
    unsigned char cancelled, shield, caught, is_group; /* private */
    weft_task *children;         /* private: a group's children */
} weft_scope;

enum { WEFT_SCOPE_SHIELD = 1 };
/* Enters a scope with an absolute `deadline` (WEFT_FOREVER for none) in the
 * calling task; it becomes the innermost scope. Scopes nest like blocks: leave
 * them in reverse order. Returns 0 or WEFT_ENOTASK. Not a suspension point. */
WEFT_EXTERN int weft_scope_enter(weft_scope *sc, int64_t deadline);
/* As weft_scope_enter; flags WEFT_SCOPE_SHIELD shields the scope. */
WEFT_EXTERN int weft_scope_enter_ex(weft_scope *sc, int64_t deadline, unsigned flags);
/* weft_scope_enter(sc, weft_deadline_after(d)), asyncio.timeout(d). */
WEFT_EXTERN int weft_timeout_enter(weft_scope *sc, int64_t d);
/* Leaves the innermost scope. Returns WEFT_ETIMEDOUT or WEFT_ECANCELED if a
 * suspension point inside reported this scope's own deadline or cancel (the
 * scope "caught" it), else 0 (even if the deadline passed unnoticed).
 * WEFT_EINVAL if `sc` is not the calling task's innermost scope (nothing is
 * left then). */
WEFT_EXTERN int weft_scope_leave(weft_scope *sc);
/* Cancels the scope (any task of the same loop may call this): tasks waiting
 * inside it wake with WEFT_ECANCELED. Idempotent. */
WEFT_EXTERN void weft_scope_cancel(weft_scope *sc);
/* Nonzero if the scope was cancelled or its deadline has passed. */
WEFT_EXTERN int weft_scope_cancelled(const weft_scope *sc);
/* The cancellation that the calling task's next suspension point would
 * report (0 if none), without suspending: a cheap check for long computations
 * (Trio's checkpoint_if_cancelled, minus the yield). */
WEFT_EXTERN int weft_check_cancel(void);

/* ------------------------------------------------------------ task groups
 *
 * Structured concurrency (asyncio.TaskGroup, Trio's nursery). Children spawned
 * into a group run under the group's scope: cancelling or timing out anything
 * around the group reaches them. The first child to fail (to return an error
 * pointer other than weft_error(WEFT_ECANCELED)) cancels the group, which
 * cancels its siblings and the body between enter and leave. Leaving waits for
 * every child, whatever happens.
 */
typedef struct weft_group {
    weft_scope scope;      /* private */
    size_t nchildren;      /* private */
    size_t nfailed;        /* private */
    int first_error;       /* private */
    int waiting;           /* private */
} weft_group;

/* Opens a group in the calling task (it also enters the group's scope).
 * Returns 0 or WEFT_ENOTASK. */
WEFT_EXTERN int weft_group_enter(weft_group *g);
/* Spawns `fn(arg)` into the group; its result is kept only as a failure.
 * Callable from any task of the loop while the group is open. opts may be
 * NULL; opts->detached is ignored (the group owns its children). Returns 0,
 * WEFT_ENOMEM, WEFT_ENOTASK, or WEFT_ECLOSED once leave has finished. */
WEFT_EXTERN int weft_group_spawn(weft_group *g, const weft_spawn_opts *opts, weft_task_fn fn, void *arg);
/* Cancels the group: its children and the body. */
WEFT_EXTERN void weft_group_cancel(weft_group *g);
/* Waits for every child (this wait is not interrupted by cancellation: if the
 * caller is cancelled meanwhile, the cancellation reaches the children and
 * leave goes on waiting), then leaves the group's scope. Returns the first
 * child failure's code; else WEFT_ECANCELED or WEFT_ETIMEDOUT if a scope
 * around the group (or the task) was cancelled; else 0, which includes a
 * group stopped with weft_group_cancel: its cancel ends at its edge.
 * WEFT_EINVAL if the group is not the calling task's innermost scope (nothing
 * is waited for then). A task must leave every group it enters before it
 * ends: the children point at the group on its stack. */
WEFT_EXTERN int weft_group_leave(weft_group *g);
/* How many children failed (valid after leave). */
WEFT_EXTERN size_t weft_group_failures(const weft_group *g);

/* --------------------------------------------------------- sync primitives
 *
 * All of these live wherever the caller puts them (zero-initialised or set up
 * by their _init), are used by the tasks of one loop, wake waiters in FIFO
 * order, and honour cancellation and deadlines at every wait.
 */

typedef struct weft__wq { void *head, *tail; size_t n; } weft__wq; /* private wait queue */

/* An event (asyncio.Event): zero-initialised it is clear. */
typedef struct weft_event { weft__wq q; int set; weft_loop *loop; } weft_event;
#define WEFT_EVENT_INITIALIZER {{0, 0, 0}, 0, 0}
/* Sets the event and wakes every waiter. Not a suspension point. */
WEFT_EXTERN void weft_event_set(weft_event *e);
/* Clears the event. */
WEFT_EXTERN void weft_event_clear(weft_event *e);
/* Nonzero if set. */
WEFT_EXTERN int weft_event_is_set(const weft_event *e);
/* Suspension point: returns 0 at once if set, else waits until it is. */
WEFT_EXTERN int weft_event_wait(weft_event *e);

/* A lock (asyncio.Lock), owned by the task that acquired it. Unlocking hands
 * it straight to the first waiter, so no newcomer can barge in. */
typedef struct weft_lock { weft__wq q; weft_task *owner; weft_loop *loop; } weft_lock;
#define WEFT_LOCK_INITIALIZER {{0, 0, 0}, 0, 0}
/* Suspension point: 0 when the caller holds the lock. WEFT_EDEADLK if the
 * caller already holds it (locks are not recursive). */
WEFT_EXTERN int weft_lock_acquire(weft_lock *l);
/* Takes the lock if free: 0, else WEFT_EAGAIN. Needs a task (WEFT_ENOTASK). */
WEFT_EXTERN int weft_lock_try_acquire(weft_lock *l);
/* Releases the lock: 0, or WEFT_EPERM if the caller does not hold it. */
WEFT_EXTERN int weft_lock_release(weft_lock *l);
/* Nonzero if some task holds the lock. */
WEFT_EXTERN int weft_lock_locked(const weft_lock *l);

/* A counting semaphore (asyncio.Semaphore / BoundedSemaphore). */
typedef struct weft_sem { weft__wq q; int64_t value, bound; weft_loop *loop; } weft_sem;
/* Sets the count to `value` (>= 0). If `bounded`, releasing above `value`
 * is an error (BoundedSemaphore). */
WEFT_EXTERN void weft_sem_init(weft_sem *s, int64_t value, int bounded);
/* Suspension point: takes one unit, waiting for one if none is free. */
WEFT_EXTERN int weft_sem_acquire(weft_sem *s);
/* Takes a unit if one is free and nobody waits: 0, else WEFT_EAGAIN. */
WEFT_EXTERN int weft_sem_try_acquire(weft_sem *s);
/* Returns a unit (to the first waiter, if any): 0, or WEFT_EOVERFLOW for a
 * bounded semaphore already at its bound. */
WEFT_EXTERN int weft_sem_release(weft_sem *s);
/* Units free now. */
WEFT_EXTERN int64_t weft_sem_value(const weft_sem *s);

/* A condition variable bound to a lock at each wait (asyncio.Condition). */
typedef struct weft_cond { weft__wq q; weft_loop *loop; } weft_cond;
#define WEFT_COND_INITIALIZER {{0, 0, 0}, 0}
/* Suspension point: releases `l` (which the caller must hold: else
 * WEFT_EPERM), waits for a notify, then takes `l` back before returning,
 * whatever the outcome: on every return but WEFT_EPERM the caller holds `l`.
 * Returns 0 when notified, else a cancellation code. */
WEFT_EXTERN int weft_cond_wait(weft_cond *c, weft_lock *l);
/* Wakes up to `n` waiters (FIFO). */
WEFT_EXTERN void weft_cond_notify(weft_cond *c, size_t n);
/* Wakes every waiter. */
WEFT_EXTERN void weft_cond_notify_all(weft_cond *c);

/* A barrier for `parties` tasks (asyncio.Barrier). */
typedef struct weft_barrier { weft__wq q; size_t parties; int broken; weft_loop *loop; } weft_barrier;
/* Sets up a barrier for `parties` (>= 1) tasks. */
WEFT_EXTERN void weft_barrier_init(weft_barrier *b, size_t parties);
/* Suspension point: waits until `parties` tasks are waiting, then releases
 * them all. Returns the caller's arrival index (0 .. parties-1, the last to
 * arrive gets parties-1), WEFT_ECLOSED if the barrier is or becomes broken
 * (weft_barrier_abort), or a cancellation code: a cancelled waiter leaves the
 * barrier as if it had never arrived. */
WEFT_EXTERN int weft_barrier_wait(weft_barrier *b);
/* Breaks the barrier: current and future waiters get WEFT_ECLOSED. */
WEFT_EXTERN void weft_barrier_abort(weft_barrier *b);
/* Repairs a broken barrier; current waiters get WEFT_ECLOSED. */
WEFT_EXTERN void weft_barrier_reset(weft_barrier *b);
/* Tasks waiting now. */
WEFT_EXTERN size_t weft_barrier_waiting(const weft_barrier *b);

/* ---------------------------------------------------------------- queues */

typedef struct weft_queue weft_queue;
enum { WEFT_QUEUE_FIFO, WEFT_QUEUE_LIFO, WEFT_QUEUE_PRIORITY };
/* Options for weft_queue_new; zero-initialise: an unbounded FIFO queue. */
typedef struct weft_queue_opts {
    int kind;          /* WEFT_QUEUE_* */
    size_t capacity;   /* 0 = unbounded; else put waits while full */
    /* WEFT_QUEUE_PRIORITY: get returns the smallest item by cmp (< 0 means
     * a before b); equal items come out in the order they were put. */
    int (*cmp)(const void *a, const void *b);
} weft_queue_opts;
/* A queue of void * items (asyncio.Queue / LifoQueue / PriorityQueue). Items
 * are borrowed pointers: the queue never frees them. *out is the caller's,
 * freed with weft_queue_free (it may outlive the loop; it keeps that loop's
 * allocator). Used by one loop at a time: while tasks of one loop wait on it,
 * calls from another thread get WEFT_EWRONGLOOP; the try_ calls need no task
 * (a loop callback may feed a queue). Returns 0, WEFT_ENOTASK (no loop on
 * this thread), WEFT_EINVAL (a bad kind, or PRIORITY without cmp) or
 * WEFT_ENOMEM. */
WEFT_EXTERN int weft_queue_new(weft_queue **out, const weft_queue_opts *opts);
/* Frees the queue. WEFT_EBUSY if tasks still wait on it (nothing is freed);
 * items still in it are dropped (not freed). */
WEFT_EXTERN int weft_queue_free(weft_queue *q);
/* Suspension point: adds `item`, waiting while a bounded queue is full.
 * Returns 0, WEFT_ECLOSED after shutdown, WEFT_ENOMEM (unbounded growth), or a
 * cancellation code (then the item was not added). */
WEFT_EXTERN int weft_queue_put(weft_queue *q, void *item);
/* Adds without waiting: 0, WEFT_EAGAIN if full, WEFT_ECLOSED, WEFT_ENOMEM. */
WEFT_EXTERN int weft_queue_try_put(weft_queue *q, void *item);
/* Suspension point: removes the next item into *out, waiting while empty.
 * Returns 0, WEFT_ECLOSED once shut down and empty, or a cancellation code
 * (then no item was taken). */
WEFT_EXTERN int weft_queue_get(weft_queue *q, void **out);
/* Removes without waiting: 0, WEFT_EAGAIN if empty, WEFT_ECLOSED if shut
 * down and empty. */
WEFT_EXTERN int weft_queue_try_get(weft_queue *q, void **out);
/* Shuts the queue down (asyncio.Queue.shutdown): puts fail with WEFT_ECLOSED
 * and wake; getters drain what is left, then get WEFT_ECLOSED. With
 * `immediate`, the items are dropped and every getter wakes at once. */
WEFT_EXTERN void weft_queue_shutdown(weft_queue *q, int immediate);
/* Items in the queue now. */
WEFT_EXTERN size_t weft_queue_size(const weft_queue *q);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_H */
