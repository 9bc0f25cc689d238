/* The core's private contract: the loop and task structs, the invariants that
 * govern them, and the handful of internal calls every suspension point is
 * built from (checkpoint, park, wake). Nothing here is public API.
 *
 * A suspension point is always written the same way:
 *
 *     weft_task *t; int err = weft__enter(&t);    // in a task of this loop?
 *     if (!err) err = weft__checkpoint(t);        // cancelled already?
 *     if (err) return err;
 *     if (can complete now) { do it; return 0; }
 *     weft__waiter w; weft__wait_on(t, &q, &w);   // a waker will find w
 *     return weft__park(t, WEFT_FOREVER, 0);      // 0 = the waker did the work
 *
 * The waker completes the work on the waiter's behalf (hands over the lock,
 * the item, the unit) and calls weft__wake(task, 0). Waking unlinks the
 * waiter at once, so a task woken by a cancellation can never also be handed
 * the lock: that is how "cancelled means it did not happen" holds.
 */
#ifndef WEFT_CORE_INTERNAL_H
#define WEFT_CORE_INTERNAL_H

#include "core_iface.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#endif

/* ThreadSanitizer follows each task's stack as a fiber of its own
 * (__tsan_create_fiber at spawn, __tsan_switch_to_fiber at every switch,
 * in loop.c): without that it keeps one shadow call stack for the thread,
 * so a report names the frames of whichever task ran before, and the frames
 * of a task that ends are never popped. */
#if defined(__SANITIZE_THREAD__)
#define WEFT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif

/* ------------------------------------------------------------ contexts */

/* A saved execution context. The assembly backends keep only the stack
 * pointer: everything else the ABI asks to preserve is pushed on the stack
 * being left. The ucontext fallback keeps a whole ucontext_t. */
#if defined(WEFT_SWITCH_UCONTEXT)
#include <ucontext.h>
typedef struct weft__ctx { ucontext_t uc; } weft__ctx;
#else
typedef struct weft__ctx { void *sp; } weft__ctx;
#endif

/* Saves the running context in *from and resumes *to. Returns when something
 * swaps back to *from. (switch_<arch>.S, or ctx.c for ucontext) */
void weft__swap(weft__ctx *from, weft__ctx *to);
/* Prepares *c so that swapping to it calls weft__task_main(t) on the stack
 * [lo, lo + size). */
void weft__ctx_make(weft__ctx *c, void *lo, size_t size, weft_task *t);
/* The first function a task runs; never returns. (task.c) */
void weft__task_main(weft_task *t) __attribute__((noreturn));

/* ----------------------------------------------------------- wait queues */

/* A task waiting on something. Lives in the waiting function's frame, on the
 * waiting task's stack, for as long as it is linked. */
typedef struct weft__waiter {
    struct weft__waiter *prev, *next;
    weft__wq *q;      /* the queue it is linked on, NULL once unlinked */
    weft_task *task;
    void *data;       /* per primitive: an item, a slot to store one in... */
} weft__waiter;

void weft__wq_push(weft__wq *q, weft__waiter *w);
void weft__wq_remove(weft__waiter *w); /* no-op when not linked */
static inline weft__waiter *weft__wq_first(const weft__wq *q) { return (weft__waiter *)q->head; }
static inline bool weft__wq_empty(const weft__wq *q) { return q->head == NULL; }

/* ---------------------------------------------------------------- timers */

typedef struct weft__timer weft__timer;
typedef void (*weft__timer_fn)(weft_loop *L, weft__timer *tm);
struct weft__timer {
    int64_t when;
    uint64_t seq;     /* arming order: equal deadlines fire FIFO */
    size_t idx;       /* position in the heap; WEFT__UNARMED when not armed */
    weft__timer_fn fire;
};
#define WEFT__UNARMED SIZE_MAX
/* A heap slot: the deadline is copied beside the pointer so that sifting
 * compares without dereferencing. */
typedef struct weft__slot { int64_t when; weft__timer *tm; } weft__slot;

/* Makes room for `n` more timers so arming never fails (each task and each
 * call-later handle reserves one slot for its life). 0 or WEFT_ENOMEM. */
int weft__timer_grow(weft_loop *L, size_t n);
void weft__timer_unreserve(weft_loop *L, size_t n);
void weft__timer_arm(weft_loop *L, weft__timer *tm, int64_t when);
void weft__timer_cancel(weft_loop *L, weft__timer *tm);
/* Fires every timer due at `now`, in deadline then arming order. */
void weft__timer_run(weft_loop *L, int64_t now);
static inline bool weft__timer_armed(const weft__timer *tm) { return tm->idx != WEFT__UNARMED; }

typedef struct weft__poller weft__poller;  /* see "poller" below */

/* ---------------------------------------------------------------- stacks */

typedef struct weft__stack_pool {
    size_t size;        /* usable bytes of a default stack */
    size_t stride;      /* size + guard: distance between slots */
    void **hot;         /* freed, pages still present: reused first (LIFO) */
    size_t nhot;
    void **dirty;       /* freed, pages present, waiting for a trim */
    size_t ndirty;
    size_t dirty_low;   /* the fewest on dirty since trim_tick: those at its
                           bottom stayed unused all that time */
    int64_t trim_tick;  /* the last trim (weft__mono) */
    void **cold;        /* pages given back (or never touched) */
    size_t ncold, cap;  /* cap: room in dirty and cold, = slots mapped */
    void **chunks;      /* base of each mapped chunk, for unmapping */
    size_t nchunks;
    bool guard_markers; /* MADV_GUARD_INSTALL works here */
    bool guard_batch;   /* ... and process_madvise takes it for a chunk */
    bool prefault;      /* process_madvise takes MADV_POPULATE_WRITE */
    int pidfd;          /* our own pidfd for process_madvise; -1: not open */
    struct iovec *iov;  /* its vector (CHUNK_SLOTS), made on first use */
    size_t prefaulted;  /* the last cold slots whose top page is populated */
    size_t batch;       /* the next prefault's size (doubles, to PREFAULT_MAX) */
} weft__stack_pool;

int weft__stack_pool_init(weft_loop *L, weft__stack_pool *p, size_t size);
void weft__stack_pool_close(weft_loop *L, weft__stack_pool *p);
/* A stack of `size` bytes (0 = the pool's default) with a guard page below
 * it: *lo is its lowest usable byte. 0, WEFT_ENOMEM or WEFT_EINVAL. */
int weft__stack_get(weft_loop *L, size_t size, void **lo);
void weft__stack_put(weft_loop *L, void *lo, size_t size);
/* Gives the pages of freed stacks that stayed unused for a second back to
 * the kernel (the loop calls it when it is about to sleep). Returns how
 * long until it has more to give back (ns; the sleep is no longer), or -1
 * when nothing waits. */
int64_t weft__stack_trim(weft_loop *L);
/* Installs the stack-overflow reporter for this thread (alternate signal
 * stack; process-wide handler if none is set). */
int weft__overflow_init(weft_loop *L);
void weft__overflow_close(weft_loop *L);
size_t weft__page_size(void);

/* ----------------------------------------------------------------- tasks */

enum { WEFT__NEW = 10 }; /* state before the first run, besides WEFT_TASK_* */

/* Wake statuses a parked task finds, besides 0 ("the waker did the work")
 * and negative codes a waker delivers (WEFT_ECLOSED...), returned as given. */
enum { WEFT__WAKE_TIMER = 1, WEFT__WAKE_CANCEL = 2 };
/* weft__park flag: ignore scopes (no scope deadline armed, no cancel code
 * returned; a cancel still wakes the task with WEFT__WAKE_CANCEL). */
#define WEFT__NOCANCEL 1
/* weft__park flag: return the cancellation code without marking the scope
 * that catches it (weft_scope_leave): for a caller that may yet report
 * success, having been served in a race with the cancel (chan.c), and marks
 * it with weft__cancel_status(t, true) only if it does report the code. */
#define WEFT__NOMARK 2

#define WEFT__NAME_MAX 32

/* A task. Invariants:
 *  - state READY  <=> on the loop's ready queue (linked by next_ready);
 *    state WAITING => parked: `waiter` (if set) is linked on some queue, and
 *    `timer` is armed iff the park has a deadline;
 *    state DONE   => the stack is gone (or about to be, as the zombie) and
 *    the task is off the `all` list.
 *  - refs counts the handle (if not released) plus 1 while not DONE; the
 *    record is freed when it reaches 0, or when the loop closes.
 *  - scope is the innermost entered scope; the chain ends at &root, whose
 *    parent is the group's scope for a group child, else NULL. */
struct weft_task {
    weft__ctx ctx;
    weft_task *next_ready;
    weft_loop *loop;
    weft_scope *scope;
    weft__waiter *waiter;
    weft__timer timer;
    int state;
    int wake_status;
    int refs;
    bool joining;           /* a weft_join waits on it */
    weft__wq done_q;        /* waiters for the end of this task */
    weft_task_fn fn;
    void *arg;
    void *result;
    uint64_t id;
    uint64_t finish_seq;    /* order of ending, for gather's "first error" */
    void *stack_lo;
    size_t stack_size;      /* 0 = the pool's default size */
    unsigned stack_id;      /* valgrind's id for the stack */
    weft_task *prev_all, *next_all;   /* on L->all while live, then on
                                         L->ended while a handle holds it */
    weft_group *group;                /* group child: its group */
    weft_task *gprev, *gnext;         /* siblings in the group */
    weft_scope root;
    char name[WEFT__NAME_MAX];
    /* What the task waits for while WAITING (WEFT_AWAIT_*, and the object:
     * the lock, the joined task, the fd as an integer...), stored by every
     * suspension point before it parks: two stores, always on, so a dump can
     * say why each task is stuck. Stale once the task runs again. */
    unsigned char await;
    const void *await_obj;
    int64_t since;          /* last state change; kept only while observing */
    /* A higher layer's words for the wait in progress, "what on" (e.g.
     * "HTTP response from" "127.0.0.1:80"): both borrowed, set and cleared
     * around the wait by weft__await_context; NULL: none. */
    const char *await_what, *await_on;
    /* The console's accounting (console.c), kept only while it is on: steps
     * taken, time spent running them (ns), when it was spawned, and the
     * return addresses above the spawn call (where it was spawned). */
    uint64_t steps;
    int64_t cpu, born;
    void *spawn_pc[3];
#if WEFT_TSAN
    void *tsan_fiber;       /* ThreadSanitizer's record of this stack */
#endif
};

/* Records why t is about to park (see weft_task.await). */
static inline void weft__awaits(weft_task *t, int kind, const void *obj) {
    t->await = (unsigned char)kind;
    t->await_obj = obj;
}

/* ------------------------------------------------------------- call-later */

struct weft_handle {
    weft__timer tm;
    weft_callback fn;
    void *arg;
    struct weft_handle *next_soon;
    bool owned;     /* the caller holds it (weft_handle_free) */
    bool done;      /* ran or was cancelled */
    weft__mem mem;  /* to free it after the loop */
};

/* ------------------------------------------------------------------ loop */

struct weft_loop {
    weft_task *cur;                 /* running task; NULL in the scheduler */
    weft_task *ready_head, *ready_tail;
    size_t nready;
    size_t budget;                  /* picks left before the next upkeep */
    weft__ctx sched_ctx;            /* the thread's own stack */
#if WEFT_TSAN
    void *sched_fiber;              /* ThreadSanitizer's name for it */
#endif
    void *sched_lo;
    size_t sched_size;

    weft__slot *heap;               /* 4-ary min-heap on (when, seq) */
    size_t nheap, capheap, reserved;
    uint64_t timer_seq;

    bool virtual_clock;
    int64_t vnow;

    weft_task *all;                 /* live (not DONE) tasks */
    size_t nalive;
    uint64_t next_id, finish_seq;
    weft_task *zombie;              /* ended; whoever runs next frees its stack */
    weft_task *ended;               /* DONE records still held by a handle */
    weft_task *spare;               /* freed records kept for reuse */
    size_t nspare;

    struct weft_handle *soon_head, *soon_tail;
    struct weft_handle *spare_handles;  /* free unowned handles */
    struct weft__handle_block *handle_blocks;  /* where they live */
    size_t ncancelled;              /* scopes with cancelled set, not left */

    weft__stack_pool pool;
    const weft__poller *poller;
    int epfd;                       /* epoll backend */
    void *epoll_ev;                 /* ... and its events array: off the
                                       stack, since the poll runs on
                                       whichever task's stack is current */
    void *uring;                    /* io_uring backend's state */
    size_t nwatch;                  /* waits that only the poller or another
                                       thread can end (fds, weft__loop_ref):
                                       while > 0 there is no deadlock */
    struct weft__fd *fds;           /* indexed by fd (watch.c) */
    size_t nfds;

    weft__mem mem;                  /* the realloc hook */
    weft_loop_opts opts;            /* as given (zeroes: defaults) */
    unsigned flags;                 /* opts.flags, plus WEFT_DEBUG's */

    weft_task *main;
    bool deadlocked;
    bool valgrind;                  /* running under valgrind: register stacks */
    bool tearing_down;              /* main ended or deadlock: new tasks start cancelled */
    void *altstack;                 /* overflow reporter's signal stack */
    size_t altstack_size;
    bool altstack_installed;

    /* Other threads' way in (remote.c): what they post, and the eventfd
     * that wakes the loop. remote_pending is set (atomically, by any thread
     * or a signal handler) while something waits there, so upkeep looks
     * even when it would not poll. */
    struct weft__remote *remote;
    int remote_pending;
    int sleeping;                   /* in the poller's blocking wait (loop.c):
                                       only then must a poster write the eventfd */
    int64_t posted_at;              /* weft__mono() when posted work last ran */

    /* Higher layers' state per loop (weft__local_get), closed in reverse. */
    struct { const weft__local_key *key; void *state; } locals[4];
    unsigned nlocals;

    /* Debug mode and tracing (debug.c, trace.c). `observe` is the one flag
     * the hot paths test: set when either is on, it routes each switch
     * through weft__obs_enter/leave. */
    bool observe;
    struct weft__dbg *dbg;          /* debug mode's watchdog and SIGQUIT */
    struct weft__trace *trace;      /* WEFT_TRACE's buffer */
    struct weft__con *con;          /* WEFT_CONSOLE's accounting (console.c) */
    weft_task *con_next;            /* the console's place in `all` while it
                                       reads it a slice per upkeep: a task that
                                       ends moves it on (task.c) */
    int dump_asked;                 /* SIGQUIT seen; atomic */
    int64_t obs_now;                /* the last hook's clock reading, for
                                       the next enter to reuse; -1: stale */
};

extern __thread weft_loop *weft__tls_loop;

/* Debug mode's leak records for fds (debug.c; objects use weft__leak_watch):
 * an fd is tracked from its first wait to weft_fd_forget / weft_close. */
void weft__track_fd(weft_loop *L, int fd);
void weft__untrack_fd(weft_loop *L, int fd);

/* The common case of weft__timer_grow (timer.c) inline: room is there. */
static inline int weft__timer_reserve(weft_loop *L, size_t n) {
    if (WEFT_LIKELY(L->reserved + n <= L->capheap)) {
        L->reserved += n;
        return 0;
    }
    return weft__timer_grow(L, n);
}

/* The loop's own memory, freed before the loop is (objects that may outlive
 * it capture L->mem instead: core_iface.h). */
static inline void *weft__alloc(weft_loop *L, size_t size) { return L->mem.fn(L->mem.ud, NULL, size); }
static inline void *weft__realloc(weft_loop *L, void *p, size_t size) { return L->mem.fn(L->mem.ud, p, size); }
static inline void weft__free(weft_loop *L, void *p) { if (p) L->mem.fn(L->mem.ud, p, 0); }

/* The loop's clock (virtual or monotonic). */
int64_t weft__now(weft_loop *L);
int64_t weft__mono(void);

/* Puts a READY task at the tail of the ready queue. */
static inline void weft__ready_push(weft_loop *L, weft_task *t) {
    t->next_ready = NULL;
    if (L->ready_tail) L->ready_tail->next_ready = t;
    else L->ready_head = t;
    L->ready_tail = t;
    L->nready++;
}

/* Hands the thread to the next task: the caller has already set its own
 * state (queued itself READY, or parked WAITING, or DONE). Returns when the
 * caller runs again. Allocates nothing. */
void weft__schedule(weft_loop *L);

/* In debug mode, a message naming `fn`, the public call made outside any
 * task (debug.c). */
void weft__enotask(const char *fn);
/* Is the caller a task of the thread's loop? 0 and *t, or WEFT_ENOTASK.
 * weft__enter names the calling function in the debug message; helpers
 * shared by several public calls use weft__enter_as with the public name. */
static inline int weft__enter_as(weft_task **t, const char *fn) {
    weft_loop *L = weft__tls_loop;
    if (WEFT_UNLIKELY(!L || !L->cur)) {
        weft__enotask(fn);
        return WEFT_ENOTASK;
    }
    *t = L->cur;
    return 0;
}
#define weft__enter(t) weft__enter_as((t), __func__)
/* Binds an object to the caller's loop on first use; WEFT_EWRONGLOOP if it
 * is bound to another loop while it has waiters. */
static inline int weft__bind(weft_loop **objloop, bool busy, weft_task *t) {
    if (WEFT_UNLIKELY(*objloop && *objloop != t->loop && busy)) return WEFT_EWRONGLOOP;
    *objloop = t->loop;
    return 0;
}

/* The cancellation the task's next suspension point must report, or 0.
 * With `mark`, the scope that catches it remembers so (weft_scope_leave). */
int weft__cancel_status(weft_task *t, bool mark);
/* The tests' seam at suspension points (task.c): NULL, but while a test's
 * walk runs, called at every checkpoint and every cancellable park; a
 * global like src/io/sys.c's table, so it costs the loop and task structs
 * nothing and the hot paths one predictable branch. */
extern void (*weft__point_hook)(weft_task *t);
/* Tests only: from now on, count the suspension points (every checkpoint and
 * every cancellable park) that the tasks of the calling thread's loop reach,
 * and at the k-th (1-based; 0 = only count) cancel `target` (NULL: whichever
 * task reached it) just before that point looks, as if weft_cancel had been
 * called right there. Returns the points counted since the previous call,
 * which restarts the count; on = false turns the hook off. Costs nothing
 * but one predictable branch while off. *own (if not NULL) tells whether
 * the cancel, if it came, came at a point the target itself reached and that
 * point reports it (not shielded): then the target knows it was cancelled. */
uint64_t weft__test_cancel_at(bool on, uint64_t k, weft_task *target, bool *own);
static inline int weft__checkpoint(weft_task *t) {
    void (*hook)(weft_task *) = __atomic_load_n(&weft__point_hook, __ATOMIC_RELAXED);
    if (WEFT_UNLIKELY(hook != NULL)) hook(t);
    if (WEFT_LIKELY(!t->loop->ncancelled && t->scope->eff_deadline == WEFT_FOREVER)) return 0;
    return weft__cancel_status(t, true);
}

/* Links w (for task t) at the tail of q and makes it the waiter that a wake
 * unlinks. */
static inline void weft__wait_on(weft_task *t, weft__wq *q, weft__waiter *w) {
    w->task = t;
    weft__wq_push(q, w);
    t->waiter = w;
}
/* Parks the running task t until woken. The timer is armed at `deadline`
 * (absolute, or WEFT_FOREVER) or the scopes' deadline, whichever is first.
 * Returns 0 if woken by the work being done, a negative code the waker
 * delivered, WEFT__EXPIRED if `deadline` passed, or the cancellation code.
 * See WEFT__NOCANCEL. */
int weft__park(weft_task *t, int64_t deadline, int flags);
/* Makes a WAITING task READY with `status`, unlinking its waiter and
 * disarming its timer. A no-op on a task that is not waiting. */
void weft__wake(weft_task *t, int status);

/* On loop 0 of a weft_run_loops set, asks every other loop of the set for
 * its task dump (loops.c); nothing elsewhere. */
void weft__loops_dump_rest(void);

/* Wakes tasks that a newly cancelled scope reaches (task.c). */
void weft__cancel_propagate(weft_task *t, weft_scope *upto);

/* 0 if tasks may be spawned into g from loop L; WEFT_ECLOSED once it was
 * left, WEFT_EWRONGLOOP if it belongs to another loop. */
static inline int weft__group_open_on(const weft_group *g, const weft_loop *L) {
    if (!g->scope.owner) return WEFT_ECLOSED;
    return g->scope.owner->loop != L ? WEFT_EWRONGLOOP : 0;
}

/* Spawns with an explicit parent scope (a group's) and group. */
int weft__spawn(weft_loop *L, weft_task **out, const weft_spawn_opts *opts,
                weft_task_fn fn, void *arg, weft_group *g);
bool weft__on_valgrind(void);
/* Frees the last ended task's stack (loop.c). */
void weft__reap(weft_loop *L);
/* Drops one reference; frees the record at zero. */
void weft__task_unref(weft_task *t);
void weft__task_free(weft_loop *L, weft_task *t);
/* The task's name, made on first use for unnamed tasks. */
const char *weft__task_name(weft_task *t);
/* Called by a group child as it ends (wait.c). */
void weft__group_child_done(weft_task *t);

/* Other threads' way in (remote.c): weft__post's queue, the thread-safe
 * call-soon and the eventfd that wakes the loop. init at loop init; run at
 * upkeep whenever weft__remote_due (runs what was posted, and what signal
 * handlers asked for: Ctrl-C's cancel, Ctrl-\'s dump); shut refuses more
 * and drops what was posted (closing = true), after the layers' locals
 * closed; close frees the rest, last. */
int weft__remote_init(weft_loop *L);
void weft__remote_run(weft_loop *L);
void weft__remote_shut(weft_loop *L);
void weft__remote_close(weft_loop *L);
static inline bool weft__remote_due(const weft_loop *L) {
    return __atomic_load_n(&L->remote_pending, __ATOMIC_RELAXED) != 0;
}
/* Async-signal-safe: flags the loop and writes its eventfd, so a loop asleep
 * in its poller wakes and a busy one looks at its next upkeep. */
void weft__remote_wake(weft_loop *L);
/* Did a Ctrl-C cancel main (weft_run returns WEFT_EINTR then)? */
bool weft__sigint_seen(weft_loop *L);
/* Gives SIGINT back its default action: the first thing loop_close does, so
 * that a Ctrl-C during a close stuck joining a thread's job kills at once. */
void weft__sigint_release(weft_loop *L);

/* A process-wide signal one loop owns at a time (signals.c): Ctrl-C's
 * SIGINT (remote.c) and Ctrl-\'s SIGQUIT (debug.c). claim installs a
 * handler that calls `on(L, count)` for the owner (count: this signal's
 * deliveries so far, from 1), if the calling thread is the process's main
 * thread and the signal still has its default action; false otherwise.
 * `on` runs in the handler: async-signal-safe work only. release restores
 * the default action and returns once no handler is still running (one on
 * another thread may be writing the loop's eventfd). */
typedef struct weft__sigowner {
    int signo;
    void (*on)(weft_loop *L, int count);
    weft_loop *loop;   /* the owner, or NULL; atomic */
    int count;         /* deliveries while owned; atomic */
    int busy;          /* handlers running now; atomic */
} weft__sigowner;
bool weft__sig_claim(weft__sigowner *o, weft_loop *L);
void weft__sig_release(weft__sigowner *o, weft_loop *L);
/* Async-signal-safe: the default action for signo again. */
void weft__sig_default(int signo);

/* Debug reports, only with WEFT_LOOP_DEBUG: to the function set with
 * weft_debug_set_report, else stderr. `kind` is a WEFT_REPORT_*. */
void weft__report(weft_loop *L, int kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Debug mode and tracing (debug.c, trace.c). init reads the options and the
 * environment and sets L->observe; close reports, writes the trace, stops
 * the watchdog. The obs_ hooks run only when L->observe: a task stops
 * running (suspends, yields or ends: its state says which), a task starts
 * running (NULL: the scheduler), a task is spawned, upkeep begins or ends. */
int weft__observe_init(weft_loop *L, const weft_loop_opts *opts);
void weft__observe_close(weft_loop *L);
void weft__obs_leave(weft_loop *L, weft_task *t);
void weft__obs_enter(weft_loop *L, weft_task *t);
void weft__obs_spawn(weft_loop *L, weft_task *t);
void weft__obs_upkeep(weft_loop *L, bool begin);
/* The live console's share of the hooks (console.c), called by debug.c's
 * while L->con is set; init registers the loop with the process's console
 * (starting it on first use), close unregisters it before the loop refuses
 * posted work. */
int weft__console_init(weft_loop *L, const weft_loop_opts *opts);
void weft__console_close(weft_loop *L);
void weft__con_leave(weft_loop *L, weft_task *t, int64_t now);
void weft__con_spawn(weft_loop *L, weft_task *t, int64_t now);
void weft__con_upkeep(weft_loop *L, bool begin, int64_t now);
/* One task as the dump describes it (debug.c): frames only if asked; the
 * wait in words ("HTTP response from host:port (fd 7 readable)"); a frame
 * as "    #i 0xPC symbol+off (module)\n". */
void weft__task_info_fill(weft_loop *L, weft_task *t, weft_task_info *ti, bool frames);
void weft__task_wait_words(const weft_task_info *ti, int64_t now, char *buf, size_t len);
int weft__fmt_frame(char *buf, size_t len, int i, void *pc);
/* Debug mode: main ended with these tasks still alive; SIGQUIT's dump. */
void weft__debug_pending(weft_loop *L);
void weft__debug_dump_asked(weft_loop *L);
/* In debug mode, the deadlock report (WEFT_REPORT_DEADLOCK): the cycles of
 * the wait-for graph, then every task and what it waits for. */
void weft__debug_deadlock(weft_loop *L);
/* The wait-for chain from task t of loop L: t, the task t waits for (the
 * holder of the lock it wants, the task it joins or gathers), the task
 * that one waits for, and so on, into out[0..cap); returns how many. The
 * chain stops at a task that waits for no one task (running, ready, or
 * waiting on an event, a queue, an fd, a lock whose holder has ended...),
 * or when it comes back to a task already in it: then *cycle is that
 * task's index (out[*cycle..n) is a cycle: a deadlock among them, and
 * out[n-1] waits for out[*cycle]); else *cycle is -1. O(cap * tasks): for
 * reports and consoles, not hot paths. Loop's thread only. */
int weft__wait_chain(weft_loop *L, weft_task *t, weft_task **out, int cap, int *cycle);
/* A thread's system call, from /proc/self/task/TID/syscall (unwind.c). */
typedef struct weft__sysstate {
    long nr;                /* the call's number (SYS_*) */
    uint64_t arg[6];
    uint64_t sp, pc;        /* the user stack pointer and program counter */
} weft__sysstate;
/* 1 and *st filled when thread `tid` (of this process) is blocked in a
 * system call; 0 when it runs user code (or is in the kernel for another
 * reason); negative when /proc cannot tell: no such file, or under
 * qemu-user, whose /proc is the host's (-ENOSYS). */
int weft__sys_state(pid_t tid, weft__sysstate *st);
/* "clock_nanosleep(1.000 s)", "read(fd 5)", "futex": the call in words. */
void weft__sys_describe(const weft__sysstate *st, char *buf, size_t len);
/* Unwinds thread `tid`, blocked in the call `st` was read from, without
 * stopping it: up to max program counters, innermost first, into pc (its
 * stack ends below stack_hi, 0 if unknown). 0 without libdw. Call off the
 * thread itself; the thread must stay in the call meanwhile (read st again
 * after to be sure it did). */
int weft__sys_unwind(pid_t tid, const weft__sysstate *st, uint64_t stack_hi, void **pc, int max);
/* Names the code at `pc` into buf: "function (file.c:14)" with debug
 * information, else "function+0xOFF (module)"; `ret`: pc is a return
 * address (looked up at pc - 1). Returns the length written, or 0 when it
 * cannot name it (no libdw, no symbol): then dladdr is what is left.
 * Thread-safe; reads the binaries on first use (on a thread of its own
 * when called on a task's stack, too small for libdw). */
int weft__symbolize(const void *pc, bool ret, char *buf, size_t len);
/* +1 / -1: a user of the symbols (a debug-mode loop, a dump) begins or
 * ends; with the last one the binaries read for them are closed. */
void weft__symbols_use(int delta);
/* Reads the binaries' symbols and unwinding tables now (the watchdog's
 * thread does, as it starts), so that the first report is not late. */
void weft__symbols_warm(void);
/* trace.c's share of the hooks, called by debug.c's. */
int weft__trace_init(weft_loop *L, const char *path);
void weft__trace_close(weft_loop *L);
void weft__trace_event(weft_loop *L, int kind, weft_task *t, int64_t now);
enum { WEFT__TR_SPAWN, WEFT__TR_RUN, WEFT__TR_LEAVE, WEFT__TR_UPKEEP_BEGIN, WEFT__TR_UPKEEP_END };

/* ---------------------------------------------------------------- poller
 *
 * The backend contract, one backend per file (poll_epoll.c, poll_uring.c):
 * init and close the backend's state; watch an fd for both directions,
 * edge-triggered, until unwatched; add and remove sources; and wait up to
 * `timeout` ns (-1: forever, 0: just look), calling weft__fd_event for each
 * fd that became ready (WEFT__IN / WEFT__OUT bits, plus WEFT__HUP once the
 * peer has closed its side or an error is pending) and a source's ready()
 * for each readable source. */
enum { WEFT__IN = 1, WEFT__OUT = 2, WEFT__HUP = 4 /* peer closed, or an error */ };

/* A readiness source that is not a plain fd (an eventfd for other threads, a
 * signalfd): the poller calls ready() when `fd` is readable. */
typedef struct weft__source {
    int fd;
    void (*ready)(weft_loop *L, struct weft__source *src);
} weft__source;

struct weft__poller {
    const char *name;
    int (*init)(weft_loop *L);
    void (*close)(weft_loop *L);
    int (*watch)(weft_loop *L, int fd);
    void (*unwatch)(weft_loop *L, int fd);
    int (*add_source)(weft_loop *L, weft__source *src);
    void (*del_source)(weft_loop *L, weft__source *src);
    void (*wait)(weft_loop *L, int64_t timeout);
    /* Optional (NULL: the io layer reads and writes the fd itself), the
     * completion engine (io_uring): input of a stream socket marked
     * `capture` is received by the kernel into the poller's buffers, and
     * sends are submitted operations. See weft__fd_capture. */
    int (*capture)(weft_loop *L, int fd);   /* fd, watched, is now captured */
    int (*arm)(weft_loop *L, int fd);       /* receive until stopped: 0 or an error */
    ssize_t (*take)(weft_loop *L, int fd, void *buf, size_t len);
    ssize_t (*send)(weft_loop *L, weft_task *t, int fd, const struct iovec *iov, int n);
};
extern const weft__poller weft__poller_epoll;
extern const weft__poller weft__poller_uring;  /* NULL ops when not built */

#define weft__poll_watch(L, fd) ((L)->poller->watch((L), (fd)))
#define weft__poll_unwatch(L, fd) ((L)->poller->unwatch((L), (fd)))
#define weft__poll_add_source(L, src) ((L)->poller->add_source((L), (src)))
#define weft__poll_del_source(L, src) ((L)->poller->del_source((L), (src)))
#define weft__poll_wait(L, timeout) ((L)->poller->wait((L), (timeout)))

/* Per-fd state (watch.c). `ready` keeps an edge that came while nobody
 * waited in that direction, so the next wait returns at once. */
struct weft__fd {
    weft_task *waiter[2];  /* [0] reading, [1] writing */
    unsigned char ready;   /* WEFT__IN | WEFT__OUT */
    bool watched;
    bool stream;           /* a SOCK_STREAM socket (asked when first watched) */
    bool drained;          /* a stream whose last read came up short, with no
                              IN edge since: its queue is known empty */
    bool hup;              /* the peer closed (or an error): a short read no
                              longer means "empty", EOF may be next */
    bool capture;          /* its input is received by the poller (capture) */
    bool avail;            /* captured: bytes, the end or an error wait in the
                              poller, or the reader must read itself */
};
typedef struct weft__fd weft__fd;
void weft__fd_event(weft_loop *L, int fd, unsigned events);
/* Makes t, a task not started yet, fd's reader: 0; 1 if input may be there
 * already (an unused edge, or a stream socket not known drained: t should
 * start now, and use the edge with weft__fd_used once it surely does);
 * WEFT_EBUSY, WEFT_ENOMEM or the poller's error. */
int weft__fd_defer(weft_loop *L, weft_task *t, int fd);
void weft__fd_used(weft_loop *L, int fd);
/* t, starting, stops being fd's reader; `used`: it starts on the edge. */
void weft__fd_undefer(weft_loop *L, weft_task *t, int fd, bool used);
/* Makes `table`, *n zero-filled elements of `elem` bytes indexed by fd, hold
 * index fd (doubling from 64, new elements zeroed): the table, perhaps
 * moved, with *n updated; NULL on ENOMEM, the table then unchanged. The
 * watch table's, the io_uring generations', debug mode's fd records. */
void *weft__fd_table_fit(weft_loop *L, void *table, size_t *n, size_t elem, int fd);

#endif
