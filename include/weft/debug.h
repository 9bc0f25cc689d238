/* weft/debug.h: seeing what the loop does.
 *
 * Three tools, described with their costs in docs/debugging.md:
 *
 *  - Debug mode (WEFT_DEBUG=1 in the environment, or WEFT_LOOP_DEBUG in
 *    weft_loop_opts.flags). A watchdog thread reports a task step (the run
 *    of one task between two suspensions) that keeps the loop busy longer
 *    than a threshold, while it is still stuck, with the system call and
 *    the stack it is stuck in (a thread blocked in a call is read from
 *    outside, without a signal: the call is not cut short); the cycle of
 *    tasks of a deadlock; tasks still pending when main returns; tasks that failed with
 *    nobody to join them; blocking weft calls made outside any task;
 *    sockets, streams, HTTP clients and servers never closed, with the
 *    stack that opened them (reported when the loop closes). Ctrl-\
 *    (SIGQUIT) prints weft_dump_tasks to stderr. Off by default: then the
 *    loop pays one predictable branch per switch.
 *  - weft_dump_tasks / weft_tasks_info: every task, its state, what it waits
 *    for, its stack. Always available.
 *  - Tracing (WEFT_TRACE=path, or weft_loop_opts.trace_path): each task's
 *    runs and waits and each loop iteration, written when the loop closes as
 *    a Chrome trace-event JSON file (Perfetto, chrome://tracing, and the
 *    weft-trace program, which draws it as SVG).
 *  - The live console (WEFT_CONSOLE=path, or weft_loop_opts.console_path):
 *    every loop of the process answers on a Unix socket at path (mode
 *    0600, removed when the last loop closes), and the weft-console
 *    program attaches to it at any time: per loop, tasks, steps per second,
 *    the slowest step, time running tasks against time in the poller, a
 *    histogram of step durations; per task, its state and for how long,
 *    what it waits on, steps, CPU, where it was spawned, its stack on
 *    request; tasks stuck longer than a threshold. Costs a clock read and
 *    a few adds per step while set. weft_run_opts then fails with
 *    WEFT_EINVAL if path is too long for a Unix socket, -EEXIST if
 *    something other than a socket is there, WEFT_EBUSY if a live process
 *    answers on it (for a path from WEFT_CONSOLE, as a child process
 *    inherits it, the loop instead runs without a console and says so on
 *    stderr), or the socket calls' -errno; the first loop's path serves
 *    the process, later loops join it.
 */
#ifndef WEFT_DEBUG_H
#define WEFT_DEBUG_H

#include "weft.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a waiting task waits for (weft_task_info.await). */
enum {
    WEFT_AWAIT_NONE = 0,    /* not waiting (or a wait weft does not name) */
    WEFT_AWAIT_SLEEP,       /* weft_sleep*: until weft_task_info.until */
    WEFT_AWAIT_READABLE,    /* an fd: weft_task_info.fd */
    WEFT_AWAIT_WRITABLE,
    WEFT_AWAIT_JOIN,        /* weft_join of weft_task_info.task */
    WEFT_AWAIT_WAIT,        /* weft_wait on several tasks */
    WEFT_AWAIT_GATHER,      /* weft_gather, now on weft_task_info.task */
    WEFT_AWAIT_GROUP,       /* weft_group_leave: the group's children */
    WEFT_AWAIT_LOCK,        /* the object at weft_task_info.obj ... */
    WEFT_AWAIT_EVENT,
    WEFT_AWAIT_SEM,
    WEFT_AWAIT_COND,
    WEFT_AWAIT_BARRIER,
    WEFT_AWAIT_QUEUE_GET,
    WEFT_AWAIT_QUEUE_PUT,
    WEFT_AWAIT_THREAD,      /* a job on the loop's thread pool */
    WEFT_AWAIT_LOOP,        /* weft_loops_call: a task on another loop
                               (weft_task_info.obj: its index) */
    WEFT_AWAIT_CHAN_GET,    /* a channel (weft/chan.h) at weft_task_info.obj */
    WEFT_AWAIT_CHAN_PUT
};

/* A short lowercase name of a WEFT_AWAIT_* ("sleep", "lock", "queue get"...);
 * "?" for an unknown value. Static storage. */
WEFT_EXTERN const char *weft_await_name(int await);

#define WEFT_INFO_FRAMES 24

/* One task, as weft_tasks_info saw it. */
typedef struct weft_task_info {
    uint64_t id;
    char name[32];
    int state;              /* WEFT_TASK_RUNNING, _READY or _WAITING */
    int64_t since;          /* when it entered that state (CLOCK_MONOTONIC
                               ns, even on a virtual clock); -1 unless
                               debug mode or tracing is on, the only times
                               the loop reads the clock for it */
    int await;              /* WEFT_AWAIT_*, when WAITING */
    const void *obj;        /* the lock, event, queue... waited on */
    int fd;                 /* READABLE / WRITABLE: the fd; else -1 */
    uint64_t task;          /* JOIN / GATHER: the awaited task's id; else 0 */
    int64_t until;          /* the wait's deadline (WEFT_FOREVER if none) */
    char context[96];       /* WAITING: what the wait is for in a higher
                               layer's words ("HTTP response from
                               127.0.0.1:8080"), or "" */
    int nframes;            /* return addresses of its stack, innermost */
    void *frames[WEFT_INFO_FRAMES];  /* first; none for a task that never ran,
                                        nor under the ucontext switch on
                                        machines other than x86_64/aarch64 */
} weft_task_info;

/* Fills out[0..cap) with the live tasks of the calling thread's loop (those
 * not ended), in no particular order, and returns how many there are (which
 * may exceed cap: only cap are written). The stacks of suspended tasks are
 * walked by their frame pointers (weft builds with -fno-omit-frame-pointer;
 * frames of code built without them are skipped or cut the walk short); the
 * calling task's own stack is the caller's. Returns WEFT_ENOTASK when no loop
 * runs on this thread. Must be called on the loop's thread; allocates
 * nothing. */
WEFT_EXTERN int weft_tasks_info(weft_task_info *out, size_t cap);

/* Prints every live task of the calling thread's loop to `out`: id, name,
 * state and for how long (debug mode or tracing only), what it waits for
 * (in the HTTP layer's words too: "HTTP response from host:port"),
 * and its stack, each frame named "function (file.c:LINE)" when weft was
 * built with libdw and the binary carries debug information, else
 * "function+0xOFF (module)" (static functions and a program not linked
 * -rdynamic too; without libdw, dladdr's names, or module+offset, which
 * addr2line reads). Returns 0, WEFT_ENOTASK when no loop runs on this
 * thread, or WEFT_EINVAL if out is NULL. Allocates nothing itself (stdio
 * and libdw may; libdw reads the binaries while the dump is made, on a
 * thread of its own when called from a task). */
WEFT_EXTERN int weft_dump_tasks(FILE *out);

/* Kinds of debug reports. */
enum {
    WEFT_REPORT_NOTE = 0,       /* other debug messages */
    WEFT_REPORT_SLOW_STEP,      /* a step runs longer than the threshold */
    WEFT_REPORT_PENDING,        /* tasks alive when main returned */
    WEFT_REPORT_UNJOINED_ERROR, /* a task failed and nobody joined it */
    WEFT_REPORT_MISUSE,         /* a weft call made outside any task */
    WEFT_REPORT_DUMP,           /* the task dump asked for with SIGQUIT */
    WEFT_REPORT_LEAK,           /* sockets, streams, HTTP clients or servers
                                   still open when the loop closed */
    WEFT_REPORT_DEADLOCK        /* every task waits and nothing can wake one
                                   (weft_run returns WEFT_EDEADLK): the
                                   cycles of who waits for whom, then every
                                   task */
};

/* Receives a debug report: `kind` is a WEFT_REPORT_*, `msg` one or more
 * lines (no trailing newline), valid during the call only. */
typedef void (*weft_report_fn)(void *ud, int kind, const char *msg);

/* Sends debug mode's reports to fn(ud, ...) instead of stderr, for every
 * loop of the process; NULL restores stderr. Slow-step reports come from
 * the watchdog's thread while the loop's thread is stuck, so fn must be
 * thread-safe and must not call into the loop; the others come from the
 * loop's thread (or, for MISUSE, whichever thread misused weft). */
WEFT_EXTERN void weft_debug_set_report(weft_report_fn fn, void *ud);

#ifdef __cplusplus
}
#endif

#endif
