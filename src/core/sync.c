/* Event, lock, semaphore, condition and barrier. Each is a wait queue plus a
 * little state. Wakers complete the work for the waiter they wake (hand the
 * lock over, pass the unit on) before waking it, so wake-up order is FIFO and
 * a cancelled waiter, which is unlinked the moment it is woken, never ends up
 * holding anything. */
#include "internal.h"

/* Common entry of a suspension point on an object bound to a loop. */
static int enter_on(weft_loop **objloop, const weft__wq *q, weft_task **t) {
    int err = weft__enter(t);
    if (!err) err = weft__bind(objloop, !weft__wq_empty(q), *t);
    if (!err) err = weft__checkpoint(*t);
    return err;
}

/* Parks t on q until a waker does the work (0) or a cancellation. */
static int wait_turn(weft_task *t, weft__wq *q, void *data) {
    weft__waiter w;
    w.data = data;
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
    int err = enter_on(&e->loop, &e->q, &t);
    if (err) return err;
    return e->set ? 0 : wait_turn(t, &e->q, NULL);
}

/* ------------------------------------------------------------------ lock */

int weft_lock_try_acquire(weft_lock *l) {
    weft_task *t;
    int err = weft__enter(&t);
    if (err) return err;
    if (l->owner) return l->owner == t ? WEFT_EDEADLK : WEFT_EAGAIN;
    l->owner = t;
    l->loop = t->loop;
    return 0;
}

int weft_lock_acquire(weft_lock *l) {
    weft_task *t;
    int err = enter_on(&l->loop, &l->q, &t);
    if (err) return err;
    if (l->owner == t) return WEFT_EDEADLK;
    if (!l->owner) {
        l->owner = t;
        return 0;
    }
    return wait_turn(t, &l->q, NULL);
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
 * held, cancelled or not, or the caller's invariants break. */
static void lock_reacquire(weft_task *t, weft_lock *l) {
    while (l->owner != t) {
        if (!l->owner) {
            l->owner = t;
            return;
        }
        weft__waiter w;
        weft__wait_on(t, &l->q, &w);
        weft__park(t, WEFT_FOREVER, WEFT__NOCANCEL);
    }
}

/* ------------------------------------------------------------- semaphore */

void weft_sem_init(weft_sem *s, int64_t value, int bounded) {
    s->q.head = s->q.tail = NULL;
    s->value = value < 0 ? 0 : value;
    s->bound = bounded ? s->value : -1;
    s->loop = NULL;
}

int weft_sem_try_acquire(weft_sem *s) {
    weft_task *t;
    int err = weft__enter(&t);
    if (err) return err;
    if (s->value <= 0 || !weft__wq_empty(&s->q)) return WEFT_EAGAIN;
    s->value--;
    return 0;
}

int weft_sem_acquire(weft_sem *s) {
    weft_task *t;
    int err = enter_on(&s->loop, &s->q, &t);
    if (err) return err;
    /* Waiters first: a free unit with waiters queued is theirs (FIFO). */
    if (s->value > 0 && weft__wq_empty(&s->q)) {
        s->value--;
        return 0;
    }
    return wait_turn(t, &s->q, NULL);
}

int weft_sem_release(weft_sem *s) {
    weft__waiter *w = weft__wq_first(&s->q);
    if (w) {  /* the unit goes straight to the first waiter */
        weft__wake(w->task, 0);
        return 0;
    }
    if (s->bound >= 0 && s->value >= s->bound) return WEFT_EOVERFLOW;
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
    err = wait_turn(t, &c->q, NULL);
    lock_reacquire(t, l);
    return err;
}

void weft_cond_notify(weft_cond *c, size_t n) {
    for (weft__waiter *w; n && (w = weft__wq_first(&c->q)); n--) weft__wake(w->task, 0);
}

void weft_cond_notify_all(weft_cond *c) { weft_cond_notify(c, SIZE_MAX); }

/* --------------------------------------------------------------- barrier */

void weft_barrier_init(weft_barrier *b, size_t parties) {
    b->q.head = b->q.tail = NULL;
    b->parties = parties ? parties : 1;
    b->count = 0;
    b->gen = 0;
    b->broken = 0;
    b->loop = NULL;
}

/* Wakes every waiter with `status` stored in its waiter's data. */
static void barrier_release(weft_barrier *b, intptr_t status) {
    for (weft__waiter *w; (w = weft__wq_first(&b->q));) {
        *(intptr_t *)w->data = status;
        weft__wake(w->task, 0);
    }
    b->count = 0;
}

int weft_barrier_wait(weft_barrier *b) {
    weft_task *t;
    int err = enter_on(&b->loop, &b->q, &t);
    if (err) return err;
    if (b->broken) return WEFT_ECLOSED;
    size_t index = b->count++;
    if (b->count == b->parties) {
        /* Last to arrive: release the others, each with its own index. */
        size_t i = 0;
        for (weft__waiter *w; (w = weft__wq_first(&b->q)); i++) {
            *(intptr_t *)w->data = (intptr_t)i;
            weft__wake(w->task, 0);
        }
        b->count = 0;
        b->gen++;
        return (int)index;
    }
    intptr_t status = 0;
    err = wait_turn(t, &b->q, &status);
    if (err) {
        b->count--;   /* as if it never arrived */
        return err;
    }
    return (int)status;
}

void weft_barrier_abort(weft_barrier *b) {
    b->broken = 1;
    barrier_release(b, WEFT_ECLOSED);
}

void weft_barrier_reset(weft_barrier *b) {
    barrier_release(b, WEFT_ECLOSED);
    b->broken = 0;
}

size_t weft_barrier_waiting(const weft_barrier *b) { return b->count; }
