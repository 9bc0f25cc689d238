/* The loop: the ready queue, the scheduler, upkeep (callbacks, timers, the
 * poller), and weft_run, which owns a loop's whole life.
 *
 * Tasks switch straight to the next ready task; only a task that ends, or a
 * loop with nothing left to run, goes back to the scheduler's own context on
 * the thread's stack. Upkeep (due timers, call-soon callbacks, a poll) runs
 * after every `budget` picks, the budget being how many tasks were ready at
 * the last upkeep: so every task ready now runs once before anything new
 * (asyncio's "one iteration"), and a busy ping-pong between two tasks pays no
 * syscall or clock read per switch when no timer or fd is pending.
 */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if WEFT_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#if WEFT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

__thread weft_loop *weft__tls_loop;

/* ----------------------------------------------------------- allocation */

static void *default_realloc(void *ud, void *p, size_t size) {
    (void)ud;
    if (size == 0) { free(p); return NULL; }
    return realloc(p, size);
}

weft__mem weft__mem_here(void) {
    weft_loop *L = weft__tls_loop;
    return L ? L->mem : (weft__mem){ default_realloc, NULL };
}

char *weft__mem_strndup(weft__mem m, const char *s, size_t len) {
    char *p = weft__mem_alloc(m, len + 1);
    if (!p) return NULL;
    memcpy(p, s, len);
    p[len] = 0;
    return p;
}

/* ----------------------------------------------------------------- time */

int64_t weft__mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * WEFT_SECOND + ts.tv_nsec;
}

int64_t weft__now(weft_loop *L) { return L->virtual_clock ? L->vnow : weft__mono(); }

int64_t weft_now(void) {
    weft_loop *L = weft__tls_loop;
    return L ? weft__now(L) : weft__mono();
}

int64_t weft_deadline_after(int64_t d) {
    int64_t now = weft_now();
    if (d <= 0) return now;
    return d > WEFT_FOREVER - now ? WEFT_FOREVER : now + d;
}

weft_loop *weft_loop_current(void) { return weft__tls_loop; }

const weft_loop_opts *weft__loop_opts(weft_loop *L) { return &L->opts; }
void weft__loop_ref(weft_loop *L) { L->nwatch++; }
void weft__loop_unref(weft_loop *L) { L->nwatch--; }

/* ------------------------------------------------------ layers' state */

void *weft__local_get(weft_loop *L, const weft__local_key *key) {
    for (unsigned i = 0; i < L->nlocals; i++)
        if (L->locals[i].key == key) return L->locals[i].state;
    return NULL;
}

/* A handful of slots: each layer above has at most one or two keys. */
int weft__local_set(weft_loop *L, const weft__local_key *key, void *state) {
    size_t max = sizeof L->locals / sizeof *L->locals;
    if (L->nlocals == max) return WEFT_ENOMEM;
    L->locals[L->nlocals].key = key;
    L->locals[L->nlocals].state = state;
    L->nlocals++;
    return 0;
}

/* ------------------------------------------------------------- switching */

/* Switches from the running context to `to` (a task, or NULL for the
 * scheduler), telling AddressSanitizer about the stack change. `dying` says
 * the context being left will never run again. */
static void switch_to(weft_loop *L, weft__ctx *from, weft_task *to, bool dying) {
    weft__ctx *dst = to ? &to->ctx : &L->sched_ctx;
    if (WEFT_UNLIKELY(L->observe)) weft__obs_enter(L, to);
    L->cur = to;
#if WEFT_TSAN
    __tsan_switch_to_fiber(to ? to->tsan_fiber : L->sched_fiber, 0);
#endif
#if WEFT_ASAN
    void *fake = NULL;
    const void *lo = to ? to->stack_lo : L->sched_lo;
    size_t size = to ? (to->stack_size ? to->stack_size : L->pool.size) : L->sched_size;
    __sanitizer_start_switch_fiber(dying ? NULL : &fake, lo, size);
    weft__swap(from, dst);
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#else
    (void)dying;
    weft__swap(from, dst);
#endif
}

/* --------------------------------------------------------------- upkeep */

/* Unowned handles (the loop frees them after the call) come from blocks of
 * HANDLE_BLOCK, recycled through a free list and given back when the loop
 * ends: one malloc per block instead of a malloc and a free per call, which
 * were a third of the cost of a million call-laters. Owned handles may
 * outlive the loop, so each is an allocation of its own. */
#define HANDLE_BLOCK 64
struct weft__handle_block {
    struct weft__handle_block *next;
    struct weft_handle h[HANDLE_BLOCK];
};

static struct weft_handle *handle_get(weft_loop *L, bool owned) {
    if (owned) return weft__alloc(L, sizeof(struct weft_handle));
    if (!L->spare_handles) {
        struct weft__handle_block *b = weft__alloc(L, sizeof *b);
        if (!b) return NULL;
        b->next = L->handle_blocks;
        L->handle_blocks = b;
        for (size_t i = 0; i < HANDLE_BLOCK; i++) {
            b->h[i].next_soon = L->spare_handles;
            L->spare_handles = &b->h[i];
        }
    }
    struct weft_handle *h = L->spare_handles;
    L->spare_handles = h->next_soon;
    return h;
}

static void handle_release(weft_loop *L, struct weft_handle *h) {
    h->next_soon = L->spare_handles;
    L->spare_handles = h;
}

/* Runs a callback as nobody's task: upkeep may run on a task's stack, but a
 * callback is not that task (weft_current() is NULL, and suspension points
 * return WEFT_ENOTASK instead of parking the task underneath). */
static void run_callback(weft_loop *L, struct weft_handle *h) {
    weft_task *cur = L->cur;
    bool owned = h->owned;
    int saved = errno;
    L->cur = NULL;
    h->done = true;
    h->fn(h->arg);          /* may weft_handle_free(h) if owned */
    if (!owned) handle_release(L, h);
    L->cur = cur;
    errno = saved;
}

/* Runs the call-soon callbacks queued before now; those they queue wait for
 * the next upkeep, so a callback that re-queues itself cannot starve tasks. */
static bool run_soon(weft_loop *L) {
    struct weft_handle *h = L->soon_head;
    if (!h) return false;
    L->soon_head = L->soon_tail = NULL;
    while (h) {
        struct weft_handle *next = h->next_soon;
        run_callback(L, h);
        h = next;
    }
    return true;
}

/* A loop that other threads posted work to in the last millisecond (the
 * reply to a call it made, the next message of a conversation between
 * loops) spins up to 20 us on its posted queue before it sleeps: the next
 * post then costs neither the poster's eventfd write nor the sleeper's
 * wakeup, which on a virtual machine is tens of microseconds. True if
 * something was posted meanwhile. */
enum { SPIN_NS = 20 * 1000, SPIN_RECENT_NS = 1000 * 1000 };
static bool spin_for_posts(weft_loop *L) {
    int64_t now = weft__mono();
    if (!L->posted_at || now - L->posted_at > SPIN_RECENT_NS) return false;
    int64_t end = now + SPIN_NS;
    for (unsigned i = 1; !__atomic_load_n(&L->remote_pending, __ATOMIC_RELAXED); i++) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
        if (!(i & 63) && weft__mono() > end) break;
    }
    return __atomic_load_n(&L->remote_pending, __ATOMIC_RELAXED) != 0;
}

/* Waits in the poller up to `timeout` (< 0: no limit). While it may sleep
 * there, other threads' posts must write the eventfd (weft__remote_wake);
 * the rest of the time they need not. */
static void poll_sleeping(weft_loop *L, int64_t timeout) {
    if (timeout != 0) {
        __atomic_store_n(&L->sleeping, 1, __ATOMIC_SEQ_CST);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);  /* see weft__remote_wake */
        if (__atomic_load_n(&L->remote_pending, __ATOMIC_SEQ_CST)) timeout = 0;
    }
    weft__poll_wait(L, timeout);
    __atomic_store_n(&L->sleeping, 0, __ATOMIC_RELAXED);
}

/* One round of upkeep. Returns false when nothing is ready and nothing ever
 * can be: no timer, no poll source, no callback (a deadlock). */
static bool upkeep(weft_loop *L) {
    if (weft__remote_due(L)) weft__remote_run(L);
    run_soon(L);
    int64_t now = 0;
    if (L->nheap) {
        now = weft__now(L);
        weft__timer_run(L, now);
    }
    if (L->ready_head || L->soon_head) {
        if (L->nwatch) weft__poll_wait(L, 0);
        return true;
    }
    /* Nothing to run: about to sleep, a good moment to give back stacks;
     * and a sleep ends in time for the next such moment. */
    int64_t trim = weft__stack_trim(L);
    if (!L->nheap && !L->nwatch) return false;
    if (L->virtual_clock) {
        /* With no timer to jump to, only the poller can end the wait:
         * block in it rather than spin. */
        if (L->nwatch) poll_sleeping(L, L->nheap ? 0 : -1);
        if (!L->ready_head && !L->soon_head && L->nheap) {
            L->vnow = L->heap[0].when > L->vnow ? L->heap[0].when : L->vnow;
            weft__timer_run(L, L->vnow);
        }
        return true;
    }
    int64_t timeout = -1;
    if (L->nheap) {
        timeout = L->heap[0].when - now;
        if (timeout < 0) timeout = 0;
    }
    if (trim >= 0 && (timeout < 0 || trim < timeout)) timeout = trim;
    if (timeout != 0 && spin_for_posts(L)) timeout = 0;
    poll_sleeping(L, timeout);
    if (L->nheap) weft__timer_run(L, weft__now(L));
    return true;
}

static inline weft_task *ready_pop(weft_loop *L) {
    weft_task *t = L->ready_head;
    L->ready_head = t->next_ready;
    if (!L->ready_head) L->ready_tail = NULL;
    L->nready--;
    L->budget--;
    return t;
}

static weft_task *pick_slow(weft_loop *L) {
    for (;;) {
        /* Nothing for upkeep to do: skip it (the common case of tasks
         * handing work to each other with no timer or fd pending). */
        if (L->ready_head && !L->soon_head && !L->nheap && !L->nwatch && !weft__remote_due(L)) {
            L->budget = L->nready;
            return ready_pop(L);
        }
        if (WEFT_UNLIKELY(L->observe)) weft__obs_upkeep(L, true);
        bool alive = upkeep(L);
        if (WEFT_UNLIKELY(L->observe)) weft__obs_upkeep(L, false);
        if (!alive) return NULL;
        L->budget = L->nready ? L->nready : 1;
        if (L->ready_head) return ready_pop(L);
    }
}

/* The next task to run, after upkeep if the budget is spent or nothing is
 * ready; NULL on deadlock. */
static inline weft_task *pick_next(weft_loop *L) {
    if (WEFT_LIKELY(L->budget && L->ready_head)) return ready_pop(L);
    return pick_slow(L);
}

/* Frees the stack of the task that ended last, now that nobody stands on
 * it. Whoever runs after an ending task calls this first. */
void weft__reap(weft_loop *L) {
    weft_task *z = L->zombie;
    L->zombie = NULL;
#if WEFT_TSAN
    __tsan_destroy_fiber(z->tsan_fiber);
#endif
    weft__stack_put(L, z->stack_lo, z->stack_size);
    weft__task_unref(z);
}

void weft__schedule(weft_loop *L) {
    weft_task *self = L->cur;
    int saved = errno;      /* before upkeep, which makes syscalls */
    if (WEFT_UNLIKELY(L->observe)) weft__obs_leave(L, self);
    weft_task *next = pick_next(L);
    if (next == self) {
        if (WEFT_UNLIKELY(L->observe)) weft__obs_enter(L, self);
        self->state = WEFT_TASK_RUNNING;
        errno = saved;
        return;
    }
    if (next) next->state = WEFT_TASK_RUNNING;
    switch_to(L, &self->ctx, next, false);
    if (L->zombie) weft__reap(L);
    errno = saved;
}

/* A task that has ended leaves its stack for good, straight to the next
 * ready task, which frees the stack (weft__reap). main goes back to the
 * scheduler instead, which must see it end to start the teardown. */
void weft__task_exit(weft_loop *L, weft_task *t) __attribute__((noreturn));
void weft__task_exit(weft_loop *L, weft_task *t) {
    L->zombie = t;
    if (WEFT_UNLIKELY(L->observe)) weft__obs_leave(L, t);
    weft_task *next = t == L->main ? NULL : pick_next(L);
    if (next) next->state = WEFT_TASK_RUNNING;
    switch_to(L, &t->ctx, next, true);
    abort(); /* unreachable: nothing swaps back to an ended task */
}

/* --------------------------------------------------------- call-soon/at */

static int new_handle(weft_loop *L, weft_callback fn, void *arg, bool owned, struct weft_handle **out) {
    struct weft_handle *h = handle_get(L, owned);
    if (!h) return WEFT_ENOMEM;
    memset(h, 0, sizeof *h);
    h->fn = fn;
    h->arg = arg;
    h->owned = owned;
    h->tm.idx = WEFT__UNARMED;
    h->mem = L->mem;
    *out = h;
    return 0;
}

int weft_call_soon(weft_callback fn, void *arg) {
    weft_loop *L = weft__tls_loop;
    if (!L) return WEFT_ENOTASK;
    if (!fn) return WEFT_EINVAL;
    struct weft_handle *h;
    int err = new_handle(L, fn, arg, false, &h);
    if (err) return err;
    if (L->soon_tail) L->soon_tail->next_soon = h;
    else L->soon_head = h;
    L->soon_tail = h;
    return 0;
}

static void handle_fire(weft_loop *L, weft__timer *tm) {
    weft__timer_unreserve(L, 1);
    run_callback(L, (struct weft_handle *)tm);
}

int weft_call_at(int64_t deadline, weft_callback fn, void *arg, weft_handle **out) {
    weft_loop *L = weft__tls_loop;
    if (!L) return WEFT_ENOTASK;
    if (!fn) return WEFT_EINVAL;
    struct weft_handle *h;
    int err = new_handle(L, fn, arg, out != NULL, &h);
    if (err) return err;
    if ((err = weft__timer_reserve(L, 1))) {
        if (out) weft__free(L, h);
        else handle_release(L, h);
        return err;
    }
    h->tm.fire = handle_fire;
    /* WEFT_FOREVER never comes: arming it would let the virtual clock jump
     * to the end of time and hide deadlocks. */
    if (deadline != WEFT_FOREVER) weft__timer_arm(L, &h->tm, deadline);
    if (out) *out = h;
    return 0;
}

int weft_call_later(int64_t delay, weft_callback fn, void *arg, weft_handle **out) {
    return weft_call_at(weft_deadline_after(delay), fn, arg, out);
}

void weft_handle_free(weft_handle *h) {
    if (!h) return;
    weft_loop *L = weft__tls_loop;
    if (!h->done && weft__timer_armed(&h->tm)) {
        weft__timer_cancel(L, &h->tm);
        weft__timer_unreserve(L, 1);
    }
    weft__mem_free(h->mem, h);
}

/* ------------------------------------------------------------- the loop */

/* The backend: the option, else WEFT_BACKEND=epoll|uring, else epoll. */
static int choose_poller(weft_loop *L, int backend) {
    if (backend == WEFT_BACKEND_DEFAULT) {
        const char *env = getenv("WEFT_BACKEND");
        backend = env && strcmp(env, "uring") == 0 ? WEFT_BACKEND_URING : WEFT_BACKEND_EPOLL;
    }
    if (backend == WEFT_BACKEND_EPOLL) L->poller = &weft__poller_epoll;
    else if (backend == WEFT_BACKEND_URING && weft__poller_uring.init) L->poller = &weft__poller_uring;
    else return WEFT_EINVAL;
    return 0;
}

/* The thread pool's ceiling (libuv's): the pool is the io layer's, but its
 * size is a loop option, checked with the others before anything starts. */
#define POOL_MAX 1024

static int loop_init(weft_loop *L, const weft_loop_opts *opts) {
    memset(L, 0, sizeof *L);
    L->epfd = -1;
    if (opts) L->opts = *opts;
    L->mem = (weft__mem){ L->opts.realloc ? L->opts.realloc : default_realloc, L->opts.realloc_ud };
    if (L->opts.pool_size > POOL_MAX) return WEFT_EINVAL;
    L->flags = L->opts.flags;
    const char *dbg = getenv("WEFT_DEBUG");
    if (dbg && *dbg && strcmp(dbg, "0") != 0) L->flags |= WEFT_LOOP_DEBUG;
    L->virtual_clock = (L->flags & WEFT_LOOP_VIRTUAL_CLOCK) != 0;
    L->vnow = weft__mono();
    L->next_id = 1;
    L->valgrind = weft__on_valgrind();
#if WEFT_TSAN
    L->sched_fiber = __tsan_get_current_fiber();
#endif

    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &L->sched_lo, &L->sched_size);
        pthread_attr_destroy(&attr);
    }
    int err = weft__stack_pool_init(L, &L->pool, opts ? opts->stack_size : 0);
    if (err) return err;
    if ((err = choose_poller(L, opts ? opts->backend : WEFT_BACKEND_DEFAULT))) return err;
    if ((err = L->poller->init(L))) {
        L->poller = NULL;
        return err;
    }
    if (!(L->flags & WEFT_LOOP_NO_OVERFLOW_HANDLER) && (err = weft__overflow_init(L))) return err;
    if ((err = weft__remote_init(L))) return err;
    return weft__observe_init(L, opts);
}

static void loop_close(weft_loop *L) {
    weft__sigint_release(L);
    /* First the layers' state (the pool joins its threads), then what other
     * threads posted: either may run drop callbacks that touch the rest. */
    while (L->nlocals) {
        L->nlocals--;
        L->locals[L->nlocals].key->close(L, L->locals[L->nlocals].state);
    }
    weft__console_close(L);  /* its jobs are posted work */
    weft__remote_shut(L);
    weft__observe_close(L);
    weft__remote_close(L);
    /* Records whose handles were never released. */
    for (weft_task *t = L->ended, *n; t; t = n) {
        n = t->next_all;
        if (weft_is_error(t->result) && weft_error_code(t->result) != WEFT_ECANCELED)
            weft__report(L, WEFT_REPORT_UNJOINED_ERROR, "task %llu '%s' failed (%s) but was never joined",
                         (unsigned long long)t->id, weft__task_name(t), weft_strerror(weft_error_code(t->result)));
        else
            weft__debug(L, "task %llu '%s' ended but was never joined or detached",
                        (unsigned long long)t->id, weft__task_name(t));
        weft__free(L, t);
    }
    for (weft_task *t = L->spare, *n; t; t = n) {
        n = t->next_ready;
        weft__free(L, t);
    }
    /* Every task has ended, so the timers left are call-later handles: the
     * owned ones are left to their owners (weft_handle_free still works),
     * the others live in the blocks freed below, as do call-soon handles. */
    for (size_t i = 0; i < L->nheap; i++) {
        struct weft_handle *h = (struct weft_handle *)L->heap[i].tm;
        h->tm.idx = WEFT__UNARMED;
        h->done = true;
    }
    for (struct weft__handle_block *b = L->handle_blocks, *n; b; b = n) {
        n = b->next;
        weft__free(L, b);
    }
    weft__free(L, L->heap);
    weft__free(L, L->fds);
    weft__overflow_close(L);
    if (L->poller) L->poller->close(L);
    weft__stack_pool_close(L, &L->pool);
}

static void cancel_all(weft_loop *L) {
    for (weft_task *t = L->all; t; t = t->next_all) weft_cancel(t);
}

struct main_box { int (*fn)(void *); void *arg; int result; };

static void *main_body(void *arg) {
    struct main_box *b = arg;
    b->result = b->fn(b->arg);
    return NULL;
}

/* Drops tasks that can never run again: after a deadlock was broken by
 * cancelling everything, tasks still waiting sit in shielded waits on each
 * other. They cannot be unwound, only forgotten: their stacks go back and
 * their records are freed; the objects they waited on are the caller's. */
static void abandon_all(weft_loop *L) {
    fprintf(stderr, "weft: %zu tasks are stuck in shielded waits after a deadlock; abandoning them\n",
            L->nalive);
    /* Unlink every waiter first: a queue may live on another stuck task's
     * stack, which must still be there when its waiters leave it. */
    for (weft_task *t = L->all; t; t = t->next_all) {
        if (t->waiter) weft__wq_remove(t->waiter);
        if (weft__timer_armed(&t->timer)) weft__timer_cancel(L, &t->timer);
    }
    while (L->all) {
        weft_task *t = L->all;
        L->all = t->next_all;
        L->nalive--;
        if (!t->stack_lo) {  /* never started (weft_spawn_when_readable): it waits on an fd */
            weft__fd_undefer(L, t, (int)(intptr_t)t->await_obj, false);
        } else {
#if WEFT_TSAN
            __tsan_destroy_fiber(t->tsan_fiber);
#endif
            weft__stack_put(L, t->stack_lo, t->stack_size);
        }
        if (t == L->main) continue;  /* weft_run frees main's record */
        weft__task_free(L, t);
    }
}

/* Runs until every task has ended. Once `main` ends, the rest are cancelled
 * (asyncio.run's teardown), and so is any task spawned after that; on a
 * deadlock, everything is. */
static void run(weft_loop *L, weft_task *main) {
    bool tearing_down = false;
    uint64_t cancelled_upto = 0;
    for (;;) {
        if (L->zombie) weft__reap(L);
        if (!L->nalive) break;
        if (!tearing_down && weft_task_done(main)) {
            tearing_down = true;
            if (L->nalive) weft__debug_pending(L);
        }
        L->tearing_down = tearing_down;
        if (tearing_down && cancelled_upto != L->next_id) {
            cancelled_upto = L->next_id;
            cancel_all(L);
        }
        weft_task *next = pick_next(L);
        if (!next) {
            if (L->deadlocked) {
                abandon_all(L);
                break;
            }
            L->deadlocked = true;
            weft__debug_deadlock(L);
            tearing_down = true;
            L->tearing_down = true;
            continue;
        }
        next->state = WEFT_TASK_RUNNING;
        switch_to(L, &L->sched_ctx, next, false);
    }
}

int weft_run_opts(const weft_loop_opts *opts, int (*mainfn)(void *), void *arg) {
    if (!mainfn) return WEFT_EINVAL;
    if (weft__tls_loop) return WEFT_EINVAL;
    weft_loop *L;
    weft_realloc_fn ra = opts && opts->realloc ? opts->realloc : default_realloc;
    void *ud = opts ? opts->realloc_ud : NULL;
    L = ra(ud, NULL, sizeof *L);
    if (!L) return WEFT_ENOMEM;
    int err = loop_init(L, opts);
    weft__tls_loop = L;
    struct main_box box = { mainfn, arg, 0 };
    weft_task *main = NULL;
    weft_spawn_opts so = { .name = "main" };
    if (!err) err = weft_spawn_ex(&main, &so, main_body, &box);
    L->main = main;
    if (!err) {
        run(L, main);
        err = L->deadlocked ? WEFT_EDEADLK : box.result;
        if (weft__sigint_seen(L)) err = WEFT_EINTR;
        if (weft_task_done(main)) weft__task_unref(main);
        else weft__task_free(L, main);  /* abandoned */
    }
    loop_close(L);
    weft__tls_loop = NULL;
    ra(ud, L, 0);
    return err;
}

int weft_run(int (*mainfn)(void *), void *arg) { return weft_run_opts(NULL, mainfn, arg); }
