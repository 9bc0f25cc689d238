/* Tasks and cancel scopes: spawn, the task's life from first run to its
 * record being freed, join/detach/cancel, park and wake (the two halves of
 * every suspension point), and the scope tree that decides what a suspension
 * point reports once something is cancelled. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#if WEFT_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#if WEFT_TSAN
#include <sanitizer/tsan_interface.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEFT_VALGRIND 1
#endif
#endif

void weft__task_exit(weft_loop *L, weft_task *t) __attribute__((noreturn));

/* Asked once per loop: the client requests cost ~25 instructions a spawn
 * even outside valgrind. */
bool weft__on_valgrind(void) {
#if WEFT_VALGRIND
    return RUNNING_ON_VALGRIND != 0;
#else
    return false;
#endif
}

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* ----------------------------------------------------------- wait queues */

void weft__wq_push(weft__wq *q, weft__waiter *w) {
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail) ((weft__waiter *)q->tail)->next = w;
    else q->head = w;
    q->tail = w;
    q->n++;
    w->q = q;
}

void weft__wq_remove(weft__waiter *w) {
    weft__wq *q = w->q;
    if (!q) return;
    if (w->prev) w->prev->next = w->next;
    else q->head = w->next;
    if (w->next) w->next->prev = w->prev;
    else q->tail = w->prev;
    q->n--;
    w->q = NULL;
}

/* ------------------------------------------------------- park and wake */

static void park_timer_fire(weft_loop *L, weft__timer *tm) {
    (void)L;
    weft__wake(container_of(tm, weft_task, timer), WEFT__WAKE_TIMER);
}

static void start_later(weft_task *t, int status);

void weft__wake(weft_task *t, int status) {
    if (t->state != WEFT_TASK_WAITING) return;
    if (WEFT_UNLIKELY(!t->stack_lo)) {
        start_later(t, status);
        return;
    }
    if (t->waiter) {
        weft__wq_remove(t->waiter);
        t->waiter = NULL;
    }
    if (weft__timer_armed(&t->timer)) weft__timer_cancel(t->loop, &t->timer);
    t->wake_status = status;
    t->state = WEFT_TASK_READY;
    weft__ready_push(t->loop, t);
}

int weft__park(weft_task *t, int64_t deadline, int flags) {
    weft_loop *L = t->loop;
    int64_t d = deadline;
    if (!(flags & WEFT__NOCANCEL) && t->scope->eff_deadline < d) d = t->scope->eff_deadline;
    if (d != WEFT_FOREVER) weft__timer_arm(L, &t->timer, d);
    t->state = WEFT_TASK_WAITING;
    /* After the state is set: a cancel the walk makes here wakes t, as one
     * from another task would while t waits. */
    void (*hook)(weft_task *) = __atomic_load_n(&weft__point_hook, __ATOMIC_RELAXED);
    if (WEFT_UNLIKELY(hook != NULL) && !(flags & WEFT__NOCANCEL)) hook(t);
    weft__schedule(L);
    t->waiter = NULL;
    int st = t->wake_status;
    /* 0 or an error the waker delivers (WEFT_ECLOSED...): as given. */
    if (st <= 0 || (flags & WEFT__NOCANCEL)) return st;
    int c = weft__cancel_status(t, !(flags & WEFT__NOMARK));
    if (c) return c;
    /* The only other wake: the timer, at our own deadline. */
    return WEFT__EXPIRED;
}

/* The same halves for the layers above (core_iface.h), out of line: they
 * see neither the task nor the loop struct. */
int weft__enter_point(weft_task **out, const char *fn) {
    weft_task *t;
    int err = weft__enter_as(&t, fn);
    if (!err) err = weft__checkpoint(t);
    if (!err && out) *out = t;
    return err;
}

int weft__enter_on(weft_loop *L, const char *fn) {
    weft_task *t;
    int err = weft__enter_as(&t, fn);
    if (!err && t->loop != L) err = WEFT_EWRONGLOOP;
    return err ? err : weft__checkpoint(t);
}

int weft__park_for(weft_task *t, int kind, const void *obj, int64_t deadline) {
    weft__awaits(t, kind, obj);
    return weft__park(t, deadline, 0);
}

int weft__park_unmarked(weft_task *t, int kind, const void *obj, int64_t deadline) {
    weft__awaits(t, kind, obj);
    return weft__park(t, deadline, WEFT__NOMARK);
}

void weft__await_context(const char *what, const char *on) {
    weft_loop *L = weft__tls_loop;
    if (!L || !L->cur) return;
    L->cur->await_what = what;
    L->cur->await_on = what ? on : NULL;
}

void *weft__current_arg(weft_task_fn fn) {
    weft_loop *L = weft__tls_loop;
    return L && L->cur && L->cur->fn == fn ? L->cur->arg : NULL;
}

void weft__await_context_of(weft_task *t, const char *what, const char *on) {
    if (t->stack_lo) return;  /* started: its own calls say */
    t->await_what = what;
    t->await_on = what ? on : NULL;
}

weft_task *weft__nobody_begin(weft_loop *L) {
    weft_task *cur = L->cur;
    L->cur = NULL;
    return cur;
}

void weft__nobody_end(weft_loop *L, weft_task *saved) { L->cur = saved; }

/* --------------------------------------------------------- cancellation */

/* The cancellation walk's state, per thread: the hook is process-wide, but
 * only the walking loop's points count (another thread's loop finds its own
 * `walk.loop` NULL). */
void (*weft__point_hook)(weft_task *t);
static __thread struct {
    weft_loop *loop;
    bool own;               /* the cancel came at the target's own point, and
                               that point reports it */
    uint64_t points, at;
    weft_task *target;      /* NULL: the task reaching the at-th point */
} walk;

static void walk_point(weft_task *t) {
    if (t->loop != walk.loop || ++walk.points != walk.at) return;
    weft_task *v = walk.target ? walk.target : t;
    weft_cancel(v);
    walk.own = v == t && weft__cancel_status(t, false) != 0;
}

uint64_t weft__test_cancel_at(bool on, uint64_t k, weft_task *target, bool *own) {
    weft_loop *L = weft__tls_loop;
    if (!L) return 0;
    uint64_t n = walk.points;
    if (own) *own = walk.own;
    walk.own = false;
    walk.loop = on ? L : NULL;
    walk.at = k;
    walk.target = target;
    walk.points = 0;
    __atomic_store_n(&weft__point_hook, on ? walk_point : NULL, __ATOMIC_RELAXED);
    return n;
}

int weft__cancel_status(weft_task *t, bool mark) {
    weft_scope *hit = NULL;
    int64_t now = -1;
    for (weft_scope *sc = t->scope; sc; sc = sc->parent) {
        if (sc->cancelled) {
            hit = sc;
        } else if (sc->deadline != WEFT_FOREVER) {
            if (now < 0) now = weft__now(t->loop);
            if (now >= sc->deadline) hit = sc;
        }
        if (sc->shield) break;
    }
    if (!hit) return 0;
    if (mark) hit->caught = 1;
    return hit->cancelled ? WEFT_ECANCELED : WEFT_ETIMEDOUT;
}

/* Wakes `t` if a cancellation now reaches its wait, then does the same for
 * the children of every group in its scope chain up to `upto` (the scope
 * just cancelled): those are all the tasks that scope encloses. */
void weft__cancel_propagate(weft_task *t, weft_scope *upto) {
    if (t->state == WEFT_TASK_WAITING && weft__cancel_status(t, false))
        weft__wake(t, WEFT__WAKE_CANCEL);
    for (weft_scope *sc = t->scope; sc; sc = sc->parent) {
        if (sc->is_group)
            for (weft_task *c = sc->children; c; c = c->gnext) weft__cancel_propagate(c, &c->root);
        if (sc == upto) break;
    }
}

void weft_scope_cancel(weft_scope *sc) {
    if (!sc || sc->cancelled || !sc->owner) return;
    sc->cancelled = 1;
    sc->owner->loop->ncancelled++;
    weft__cancel_propagate(sc->owner, sc);
}

int weft_scope_cancelled(const weft_scope *sc) {
    if (sc->cancelled) return 1;
    return sc->deadline != WEFT_FOREVER && weft_now() >= sc->deadline;
}

int weft_scope_enter_ex(weft_scope *sc, int64_t deadline, unsigned flags) {
    weft_task *t;
    int err = weft__enter(&t);
    if (err) return err;
    memset(sc, 0, sizeof *sc);
    sc->parent = t->scope;
    sc->owner = t;
    sc->deadline = deadline;
    sc->shield = (flags & WEFT_SCOPE_SHIELD) != 0;
    sc->eff_deadline = deadline;
    if (!sc->shield && sc->parent->eff_deadline < deadline) sc->eff_deadline = sc->parent->eff_deadline;
    t->scope = sc;
    return 0;
}

int weft_scope_enter(weft_scope *sc, int64_t deadline) { return weft_scope_enter_ex(sc, deadline, 0); }
int weft_timeout_enter(weft_scope *sc, int64_t d) { return weft_scope_enter_ex(sc, weft_deadline_after(d), 0); }

/* Pops `sc`, which must be t's innermost scope. */
static void scope_pop(weft_task *t, weft_scope *sc) {
    t->scope = sc->parent;
    if (sc->cancelled) t->loop->ncancelled--;
    sc->owner = NULL;
}

int weft_scope_leave(weft_scope *sc) {
    weft_task *t;
    int err = weft__enter(&t);
    if (err) return err;
    if (t->scope != sc || sc == &t->root || sc->is_group) return WEFT_EINVAL;
    int caught = sc->caught ? (sc->cancelled ? WEFT_ECANCELED : WEFT_ETIMEDOUT) : 0;
    scope_pop(t, sc);
    return caught;
}

int weft_check_cancel(void) {
    weft_task *t;
    int err = weft__enter(&t);
    return err ? err : weft__cancel_status(t, true);
}

/* ---------------------------------------------------------------- spawn */

/* The default name is made when first asked for: formatting it at every
 * spawn cost a quarter of a spawn/join. */
static void set_name(weft_task *t, const char *name) {
    if (name) snprintf(t->name, sizeof t->name, "%s", name);
    else t->name[0] = 0;
}

const char *weft__task_name(weft_task *t) {
    if (!t->name[0]) snprintf(t->name, sizeof t->name, "task-%llu", (unsigned long long)t->id);
    return t->name;
}

static size_t check_stack_size(size_t size) {
    if (size == 0) return 0;
    size_t page = weft__page_size();
    if (size < 16384) size = 16384;
    if (size > ((size_t)1 << 30)) return SIZE_MAX;
    return (size + page - 1) & ~(page - 1);
}

/* Gives t its stack and its first context: at spawn, or, for a task that
 * starts on readability, when it starts. */
static inline __attribute__((always_inline)) int task_stack(weft_loop *L, weft_task *t) {
    int err = weft__stack_get(L, t->stack_size, &t->stack_lo);
    if (err) {
        t->stack_lo = NULL;
        return err;
    }
    size_t size = t->stack_size ? t->stack_size : L->pool.size;
#if WEFT_VALGRIND
    if (L->valgrind) t->stack_id = VALGRIND_STACK_REGISTER(t->stack_lo, (char *)t->stack_lo + size);
#endif
    weft__ctx_make(&t->ctx, t->stack_lo, size, t);
#if WEFT_TSAN
    t->tsan_fiber = __tsan_create_fiber(0);
#endif
    return 0;
}

/* A task spawned to start on readability starts (weft__wake found it
 * waiting with no stack): it leaves the fd, takes a stack and goes to the
 * ready queue as a new task. */
static void start_later(weft_task *t, int status) {
    weft_loop *L = t->loop;
    if (weft__timer_armed(&t->timer)) weft__timer_cancel(L, &t->timer);
    weft__fd_undefer(L, t, (int)(intptr_t)t->await_obj, status == 0);
    if (task_stack(L, t)) {
        /* It must run, to release what its arg owns: try again shortly. */
        weft__debug(L, "task '%s': no stack to start on; retrying in 10 ms", weft__task_name(t));
        weft__timer_arm(L, &t->timer, weft__now(L) + 10 * WEFT_MILLISECOND);  /* the timers' clock */
        return;
    }
    t->wake_status = 0;
    t->state = WEFT__NEW;
    t->await_what = t->await_on = NULL;
    weft__ready_push(L, t);
}

/* Inlined into its two callers, so that weft__spawn's (fd -1) keeps none
 * of the deferred start's branches: they cost a spawn/join 77
 * instructions out of line (callgrind). */
static inline __attribute__((always_inline)) int
spawn_on(weft_loop *L, weft_task **out, const weft_spawn_opts *opts, weft_task_fn fn, void *arg,
         weft_group *g, int fd, int64_t deadline) {
    if (!fn) return WEFT_EINVAL;
    size_t ssize = check_stack_size(opts ? opts->stack_size : 0);
    if (ssize == SIZE_MAX) return WEFT_EINVAL;
    if (ssize == L->pool.size) ssize = 0;
    weft_task *t = L->spare;
    if (t) {
        L->spare = t->next_ready;
        L->nspare--;
    } else if (!(t = weft__alloc(L, sizeof *t))) {
        return WEFT_ENOMEM;
    }
    int err = weft__timer_reserve(L, 1);
    if (err) goto fail;
    t->stack_size = ssize;
    t->stack_lo = NULL;
    /* A task spawned during teardown starts at once, cancelled. */
    bool later = fd >= 0 && !L->tearing_down, now = false;
    if (later && (err = weft__fd_defer(L, t, fd)) > 0) later = false, now = true, err = 0;
    if (!err && !later) err = task_stack(L, t);
    if (err) {
        weft__timer_unreserve(L, 1);
        goto fail;
    }
    if (now) weft__fd_used(L, fd);  /* only now: a failed spawn leaves the edge */
    /* Field by field: a memset of the record cost a third of a spawn. */
    bool detached = g || (opts && opts->detached);
    t->next_ready = NULL;
    t->loop = L;
    t->waiter = NULL;
    t->timer.idx = WEFT__UNARMED;
    t->timer.fire = park_timer_fire;
    t->state = WEFT__NEW;
    t->wake_status = 0;
    t->refs = detached ? 1 : 2;
    t->joining = false;
    t->done_q = (weft__wq){ 0 };
    t->fn = fn;
    t->arg = arg;
    t->result = NULL;
    t->id = L->next_id++;
    t->finish_seq = 0;
    t->prev_all = NULL;
    t->group = NULL;
    t->gprev = t->gnext = NULL;
    t->await_what = t->await_on = NULL;
    t->root = (weft_scope){ .owner = t, .deadline = WEFT_FOREVER, .eff_deadline = WEFT_FOREVER };
    if (g) {
        t->group = g;
        t->root.parent = &g->scope;
        t->root.eff_deadline = g->scope.eff_deadline;
        t->gnext = g->scope.children;
        if (t->gnext) t->gnext->gprev = t;
        g->scope.children = t;
        g->nchildren++;
    }
    if (L->tearing_down) { t->root.cancelled = 1; L->ncancelled++; }
    t->scope = &t->root;
    set_name(t, opts ? opts->name : NULL);
    t->next_all = L->all;
    if (L->all) L->all->prev_all = t;
    L->all = t;
    L->nalive++;
    if (later) {
        /* Waiting for fd with no stack: weft__wake starts it. */
        t->state = WEFT_TASK_WAITING;
        weft__awaits(t, WEFT_AWAIT_READABLE, (const void *)(intptr_t)fd);
        int64_t d = deadline < t->root.eff_deadline ? deadline : t->root.eff_deadline;
        if (d != WEFT_FOREVER) weft__timer_arm(L, &t->timer, d);
        /* A child of a group already cancelled must start, to see it. */
        if (weft__cancel_status(t, false)) weft__wake(t, WEFT__WAKE_CANCEL);
    } else {
        weft__ready_push(L, t);
    }
    if (WEFT_UNLIKELY(L->observe)) weft__obs_spawn(L, t);
    if (out) *out = detached ? NULL : t;
    return 0;
fail:
    weft__task_free(L, t);
    return err;
}

int weft__spawn(weft_loop *L, weft_task **out, const weft_spawn_opts *opts,
                weft_task_fn fn, void *arg, weft_group *g) {
    return spawn_on(L, out, opts, fn, arg, g, -1, WEFT_FOREVER);
}

int weft__spawn_when_readable(weft_task **out, const weft_spawn_opts *opts, int fd,
                              int64_t deadline, weft_task_fn fn, void *arg, weft_group *g) {
    weft_loop *L = weft__tls_loop;
    if (!L) return WEFT_ENOTASK;
    if (!out && !g && !(opts && opts->detached)) return WEFT_EINVAL;
    if (fd < 0) return -EBADF;
    int err = g ? weft__group_open_on(g, L) : 0;
    return err ? err : spawn_on(L, out, opts, fn, arg, g, fd, deadline);
}

int weft_spawn_ex(weft_task **out, const weft_spawn_opts *opts, weft_task_fn fn, void *arg) {
    weft_loop *L = weft__tls_loop;
    if (!L) return WEFT_ENOTASK;
    if (!out && !(opts && opts->detached)) return WEFT_EINVAL;
    return weft__spawn(L, out, opts, fn, arg, NULL);
}

weft_task *weft_spawn(weft_task_fn fn, void *arg) {
    weft_task *t = NULL;
    return weft_spawn_ex(&t, NULL, fn, arg) ? NULL : t;
}

weft_task *weft_spawn_named(const char *name, weft_task_fn fn, void *arg) {
    weft_task *t = NULL;
    weft_spawn_opts o = { .name = name };
    return weft_spawn_ex(&t, &o, fn, arg) ? NULL : t;
}

/* ------------------------------------------------------- life and death */

static void list_unlink(weft_task **head, weft_task *t) {
    if (t->prev_all) t->prev_all->next_all = t->next_all;
    else *head = t->next_all;
    if (t->next_all) t->next_all->prev_all = t->prev_all;
    t->prev_all = t->next_all = NULL;
}

static void task_finish(weft_loop *L, weft_task *t, void *result) {
    t->result = result;
    /* Scopes the body forgot to leave die with it. */
    for (weft_scope *sc = t->scope; sc && sc != t->root.parent; sc = sc->parent) {
        if (sc != &t->root) weft__debug(L, "task '%s' ended inside a scope it never left", weft__task_name(t));
        if (sc->cancelled) L->ncancelled--;
        sc->cancelled = 0;
        if (sc != &t->root) sc->owner = NULL;  /* cancelling it is a no-op now */
    }
    t->scope = &t->root;
    t->state = WEFT_TASK_DONE;
    t->finish_seq = ++L->finish_seq;
    if (WEFT_UNLIKELY(L->con_next == t)) L->con_next = t->next_all;  /* console.c */
    list_unlink(&L->all, t);
    L->nalive--;
    weft__timer_unreserve(L, 1);
    for (weft__waiter *w; (w = weft__wq_first(&t->done_q));) {
        weft__wq_remove(w);
        weft__wake(w->task, 0);
    }
    if (t->group) weft__group_child_done(t);
    if (t->refs > 1) {  /* a handle still holds the record */
        t->next_all = L->ended;
        if (L->ended) L->ended->prev_all = t;
        L->ended = t;
    }
    if (weft_is_error(result) && t->refs == 1 && !t->group && weft_error_code(result) != WEFT_ECANCELED)
        weft__report(L, WEFT_REPORT_UNJOINED_ERROR, "detached task '%s' (id %llu) failed: %s; nobody will see it",
                     weft__task_name(t), (unsigned long long)t->id, weft_strerror(weft_error_code(result)));
}

void weft__task_main(weft_task *t) {
#if WEFT_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    if (t->loop->zombie) weft__reap(t->loop);
    errno = 0;
    void *result = t->fn(t->arg);
    weft_loop *L = t->loop;
    task_finish(L, t, result);
#if WEFT_VALGRIND
    if (L->valgrind) VALGRIND_STACK_DEREGISTER(t->stack_id);
#endif
    weft__task_exit(L, t);
}

/* Keeps a few records for the next spawns: a spawn/join loop then never
 * calls the allocator. */
void weft__task_free(weft_loop *L, weft_task *t) {
    if (L->nspare >= 64) {
        weft__free(L, t);
        return;
    }
    t->next_ready = L->spare;
    L->spare = t;
    L->nspare++;
}

void weft__task_unref(weft_task *t) {
    if (--t->refs > 0) return;
    weft_loop *L = t->loop;
    if (t->prev_all || L->ended == t) list_unlink(&L->ended, t);
    weft__task_free(L, t);
}

int weft_join(weft_task *t, void **result) {
    weft_task *self;
    int err = weft__enter(&self);
    if (err) return err;
    if (!t || t == self) return WEFT_EINVAL;
    if (t->loop != self->loop) return WEFT_EWRONGLOOP;
    if (t->joining) return WEFT_EBUSY;
    if ((err = weft__checkpoint(self))) return err;
    if (t->state != WEFT_TASK_DONE) {
        weft__waiter w;
        weft__wait_on(self, &t->done_q, &w);
        t->joining = true;
        weft__awaits(self, WEFT_AWAIT_JOIN, t);
        err = weft__park(self, WEFT_FOREVER, 0);
        t->joining = false;
        if (err) return err;
    }
    if (result) *result = t->result;
    weft__task_unref(t);
    return 0;
}

void weft_detach(weft_task *t) {
    if (t) weft__task_unref(t);
}

void weft_cancel(weft_task *t) {
    if (t && t->state != WEFT_TASK_DONE) weft_scope_cancel(&t->root);
}

/* ------------------------------------------------------- yield and sleep */

int weft_yield(void) {
    weft_task *t;
    int err = weft__enter(&t);
    if (!err) err = weft__checkpoint(t);
    if (err) return err;
    t->state = WEFT_TASK_READY;
    weft__ready_push(t->loop, t);
    weft__schedule(t->loop);
    return 0;
}

int weft_sleep_until(int64_t deadline) {
    weft_task *t;
    int err = weft__enter(&t);
    if (!err) err = weft__checkpoint(t);
    if (err) return err;
    if (deadline <= weft__now(t->loop)) return weft_yield();
    weft__awaits(t, WEFT_AWAIT_SLEEP, NULL);
    err = weft__park(t, deadline, 0);
    return err == WEFT__EXPIRED ? 0 : err;
}

int weft_sleep(int64_t d) {
    return d <= 0 ? weft_yield() : weft_sleep_until(weft_deadline_after(d));
}

/* --------------------------------------------------------------- queries */

weft_task *weft_current(void) {
    weft_loop *L = weft__tls_loop;
    return L ? L->cur : NULL;
}

const char *weft_task_name(const weft_task *t) { return weft__task_name((weft_task *)t); }
void weft_task_set_name(weft_task *t, const char *name) { set_name(t, name); }
uint64_t weft_task_id(const weft_task *t) { return t->id; }
int weft_task_state(const weft_task *t) { return t->state == WEFT__NEW ? WEFT_TASK_READY : t->state; }
int weft_task_done(const weft_task *t) { return t->state == WEFT_TASK_DONE; }

int weft_task_result(const weft_task *t, void **result) {
    if (t->state != WEFT_TASK_DONE) return WEFT_EAGAIN;
    if (result) *result = t->result;
    return 0;
}

size_t weft_tasks(weft_task **out, size_t cap) {
    weft_loop *L = weft__tls_loop;
    if (!L) return 0;
    size_t i = 0;
    for (weft_task *t = L->all; t; t = t->next_all, i++)
        if (i < cap) out[i] = t;
    return i;
}
