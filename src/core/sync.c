/* Event, lock, semaphore, condition and barrier. Each is a wait queue plus a
 * little state. Wakers complete the work for the waiter they wake (hand the
 * lock over, pass the unit on) before waking it, so wake-up order is FIFO and
 * a cancelled waiter, which is unlinked the moment it is woken, never ends up
 * holding anything. */
#include "internal.h"

/* Common entry of a suspension point on an object bound to a loop; `busy`
 * says whether tasks of the bound loop are using it (then no other loop may). */
static int enter_on_as(weft_loop **objloop, bool busy, weft_task **t, const char *fn) {
    int err = weft__enter_as(t, fn);
    if (!err) err = weft__bind(objloop, busy, *t);
    if (!err) err = weft__checkpoint(*t);
    return err;
}
#define enter_on(objloop, busy, t) enter_on_as((objloop), (busy), (t), __func__)

/* Parks t on q until a waker does the work (0) or a cancellation; `kind`
 * and `obj` say what it waits for (weft/debug.h). */
static int wait_turn(weft_task *t, weft__wq *q, void *data, int kind, const void *obj) {
    weft__waiter w;
    w.data = data;
    weft__awaits(t, kind, obj);
    weft__wait_on(t, q, &w);
    return weft__park(t, WEFT_FOREVER, 0);
}

/* ----------------------------------------------------------------- event */

void weft_event_set(weft_event *e) {
    e->set = 1;
    for (weft__waiter *w; (w = weft__wq_first(&e->q));) weft__wake(w->task, 0);
}

void weft_event_clear(weft_event *e) { e->set = 0; }
int weft_event_is_set(const weft_event *e) { return e->set; }

int weft_event_wait(weft_event *e) {
    weft_task *t;
    int err = enter_on(&e->loop, !weft__wq_empty(&e->q), &t);
    if (err) return err;
    return e->set ? 0 : wait_turn(t, &e->q, NULL, WEFT_AWAIT_EVENT, e);
}

/* ------------------------------------------------------------------ lock */

/* Even the owner gets WEFT_EAGAIN, as the header promises and as
 * pthread_mutex_trylock answers: "not free" is all a try reports. */
int weft_lock_try_acquire(weft_lock *l) {
    weft_task *t;
    int err = weft__enter(&t);
    if (err) return err;
    if (l->owner) return WEFT_EAGAIN;
    l->owner = t;
    l->loop = t->loop;
    return 0;
}

/* A held lock is busy even with nobody queued: a task of another loop would
 * queue behind the owner, and the owner's release would wake it from the
 * wrong thread. */
int weft_lock_acquire(weft_lock *l) {
    weft_task *t;
    int err = enter_on(&l->loop, l->owner != NULL, &t);
    if (err) return err;
    if (l->owner == t) return WEFT_EDEADLK;
    if (!l->owner) {
        l->owner = t;
        return 0;
    }
    return wait_turn(t, &l->q, NULL, WEFT_AWAIT_LOCK, l);
}

/* Hands the lock to the first waiter, or frees it. */
static void lock_pass(weft_lock *l) {
    weft__waiter *w = weft__wq_first(&l->q);
    l->owner = w ? w->task : NULL;
    if (w) weft__wake(w->task, 0);
}

int weft_lock_release(weft_lock *l) {
    weft_loop *L = weft__tls_loop;
    if (!L || !l->owner || l->owner != L->cur) return WEFT_EPERM;
    lock_pass(l);
    return 0;
}

int weft_lock_locked(const weft_lock *l) { return l->owner != NULL; }

/* Takes the lock back whatever happens: a condition wait must return with it
 * held, cancelled or not, or the caller's invariants break. The wait is
 * shielded, not merely NOCANCEL: a cancel arriving now would still wake the
 * task and unlink it, sending it to the back of the lock's queue. */
static void lock_reacquire(weft_task *t, weft_lock *l) {
    if (!l->owner) {
        l->owner = t;
        return;
    }
    weft_scope shield;
    weft_scope_enter_ex(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    weft__waiter w;
    weft__wait_on(t, &l->q, &w);
    weft__awaits(t, WEFT_AWAIT_LOCK, l);
    weft__park(t, WEFT_FOREVER, WEFT__NOCANCEL);  /* only lock_pass wakes it */
    weft_scope_leave(&shield);
}

/* ------------------------------------------------------------- semaphore */

void weft_sem_init(weft_sem *s, int64_t value, int bounded) {
    s->q = (weft__wq){ 0 };
    s->value = value < 0 ? 0 : value;
    s->bound = bounded ? s->value : -1;
    s->loop = NULL;
}

/* Not a suspension point and a unit has no owner, so no task is needed: a
 * loop callback may take one. */
int weft_sem_try_acquire(weft_sem *s) {
    if (s->value <= 0 || !weft__wq_empty(&s->q)) return WEFT_EAGAIN;
    s->value--;
    return 0;
}

int weft_sem_acquire(weft_sem *s) {
    weft_task *t;
    int err = enter_on(&s->loop, !weft__wq_empty(&s->q), &t);
    if (err) return err;
    /* Waiters first: a free unit with waiters queued is theirs (FIFO). */
    if (s->value > 0 && weft__wq_empty(&s->q)) {
        s->value--;
        return 0;
    }
    return wait_turn(t, &s->q, NULL, WEFT_AWAIT_SEM, s);
}

/* The bound is checked before any waiter is served: with waiters the value
 * is 0, so this only refuses a semaphore bounded at 0, which never had a unit
 * to give back (as Python's BoundedSemaphore(0) refuses). */
int weft_sem_release(weft_sem *s) {
    if (s->bound >= 0 && s->value >= s->bound) return WEFT_EOVERFLOW;
    weft__waiter *w = weft__wq_first(&s->q);
    if (w) {  /* the unit goes straight to the first waiter */
        weft__wake(w->task, 0);
        return 0;
    }
    s->value++;
    return 0;
}

int64_t weft_sem_value(const weft_sem *s) { return s->value; }

/* ------------------------------------------------------------- condition */

int weft_cond_wait(weft_cond *c, weft_lock *l) {
    weft_task *t;
    int err = weft__enter(&t);
    if (err) return err;
    if (l->owner != t) return WEFT_EPERM;
    if ((err = weft__bind(&c->loop, !weft__wq_empty(&c->q), t))) return err;
    if ((err = weft__checkpoint(t))) return err;
    lock_pass(l);
    err = wait_turn(t, &c->q, NULL, WEFT_AWAIT_COND, c);
    lock_reacquire(t, l);
    return err;
}

void weft_cond_notify(weft_cond *c, size_t n) {
    for (weft__waiter *w; n && (w = weft__wq_first(&c->q)); n--) weft__wake(w->task, 0);
}

void weft_cond_notify_all(weft_cond *c) { weft_cond_notify(c, SIZE_MAX); }

/* --------------------------------------------------------------- barrier */

void weft_barrier_init(weft_barrier *b, size_t parties) {
    b->q = (weft__wq){ 0 };
    b->parties = parties ? parties : 1;
    b->broken = 0;
    b->loop = NULL;
}

/* Wakes every waiter, with its arrival index or with WEFT_ECLOSED. */
static void barrier_release(weft_barrier *b, bool broken) {
    intptr_t i = 0;
    for (weft__waiter *w; (w = weft__wq_first(&b->q)); i++) {
        *(intptr_t *)w->data = broken ? WEFT_ECLOSED : i;
        weft__wake(w->task, 0);
    }
}

/* The waiters linked on the queue are exactly the tasks waiting: a cancelled
 * one is unlinked the moment it is woken, so it has left as if it never
 * arrived, with nothing to uncount later. */
int weft_barrier_wait(weft_barrier *b) {
    weft_task *t;
    int err = enter_on(&b->loop, !weft__wq_empty(&b->q), &t);
    if (err) return err;
    if (b->broken) return WEFT_ECLOSED;
    if (b->q.n + 1 >= b->parties) {
        barrier_release(b, false);
        return (int)(b->parties - 1);
    }
    intptr_t status = 0;
    if ((err = wait_turn(t, &b->q, &status, WEFT_AWAIT_BARRIER, b))) return err;
    return (int)status;
}

void weft_barrier_abort(weft_barrier *b) {
    b->broken = 1;
    barrier_release(b, true);
}

void weft_barrier_reset(weft_barrier *b) {
    barrier_release(b, true);
    b->broken = 0;
}

size_t weft_barrier_waiting(const weft_barrier *b) { return b->q.n; }
