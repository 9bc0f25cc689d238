/* Channels (include/weft/chan.h): a bounded FIFO of void * items whose put
 * and get work from tasks on any loop (thread).
 *
 * Locking: one pthread mutex per channel guards everything in it: the ring
 * of items and the two wait lists. Every call takes it once; a put that
 * finds a getter waiting on another loop costs that one round trip plus one
 * weft__post to the getter's loop, made after the mutex is released. A lock-
 * free ring (Vyukov's bounded MPMC) would save the mutex when nobody waits,
 * but deciding "nobody waits, so sleep" still needs a lock or a careful
 * sequence of fences per side, and the mutex uncontended is ~20 ns: the
 * cost that matters across loops is the wake (a post, an eventfd write and
 * a poller return), and the mutex makes the hand-off easy to get right.
 *
 * Waiters: a task that must wait links a record on its own stack (no
 * allocation per message) on the getters' or putters' list and parks. The
 * waker serves it under the mutex, as weft_queue does: a put hands its item
 * straight to the first getter; a get that makes room takes the first
 * putter's item into the ring; close serves everyone with ECLOSED / EOF.
 * Serving unlinks the record and marks it served, so a served waiter's
 * outcome is fixed the moment the mutex is released, whatever wakes it.
 *
 * Waking: a waiter on the waker's own loop (same thread) is woken directly
 * with weft__wake. One on another loop gets its record's post node sent to
 * its loop (weft__post, which writes the loop's eventfd only if its posted
 * queue was empty); the node's run, on the waiter's thread, wakes the task.
 * Posting to the waiter's loop is safe because that loop cannot have
 * closed: its task is still inside put or get, and a loop shuts its posted
 * queue only after its last task has ended (weft__remote_shut).
 *
 * Cancellation races: a waiter woken by a cancel (or a deadline) takes the
 * mutex and looks. Not served: it unlinks itself, and it did nothing.
 * Served: the work was done on its behalf (the item is in the ring, or in
 * its hands), so it returns success and the cancel waits for the next
 * suspension point. Either way, if a wake node for it is still in flight it
 * first waits, uncancellably, for that node to arrive: the node lives in
 * its stack frame, which must outlive the post. The flag saying so
 * (in_flight) is set by the waker under the mutex and cleared by the node's
 * run on the waiter's own thread, so the waiter reads it without a race.
 */
#include "internal.h"

#include "weft/chan.h"

#include <pthread.h>
#include <stdlib.h>

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* A task inside put or get, waiting: lives in that call's frame. `prev`,
 * `next`, `served`, `status` and (for a put) `item` are the mutex's until
 * served; then the waiter's. `in_flight`: see the file's comment. */
typedef struct waiter {
    weft__post_node node;        /* sent to `loop` to wake a cross-loop waiter */
    struct waiter *prev, *next;  /* on a wait list; close reuses next */
    weft_task *task;
    weft_loop *loop;             /* task's loop */
    void *item;                  /* put: the item offered; get: the one handed over */
    int status;                  /* once served: 0, WEFT_ECLOSED (put), WEFT_EOF (get) */
    bool served;
    bool in_flight;
} waiter;

typedef struct wlist { waiter *head, *tail; } wlist;

/* Invariants, under mu, "live" as first_live says: live getters waiting
 * => n == 0 and not closed; live putters waiting => n == cap and not
 * closed. So a put never waits behind room, a get never waits beside items,
 * and close finds live getters only when the ring is empty. */
struct weft_chan {
    pthread_mutex_t mu;
    size_t cap, head, n;         /* ring[head] is the oldest of n items */
    size_t inside;               /* tasks between link and return: free's EBUSY */
    bool closed;
    wlist getters, putters;
    void *ring[];
};

/* --------------------------------------------------------------- lists */

static void wl_push(wlist *l, waiter *w) {
    w->next = NULL;
    w->prev = l->tail;
    if (l->tail) l->tail->next = w;
    else l->head = w;
    l->tail = w;
}

static void wl_remove(wlist *l, waiter *w) {
    if (w->prev) w->prev->next = w->next;
    else l->head = w->next;
    if (w->next) w->next->prev = w->prev;
    else l->tail = w->prev;
}

/* ---------------------------------------------------------- the ring */

static void ring_push(weft_chan *c, void *item) {
    size_t i = c->head + c->n++;
    c->ring[i >= c->cap ? i - c->cap : i] = item;
}

static void *ring_pop(weft_chan *c) {
    void *item = c->ring[c->head];
    if (++c->head == c->cap) c->head = 0;
    c->n--;
    return item;
}

/* ------------------------------------------------------------- waking */

/* Under mu: the first waiter of l that may still be served. A waiter of
 * this loop whose task no longer waits was woken by a cancel or a deadline
 * and will unlink itself when it runs: it reports that, so it is passed
 * over (weft_queue unlinks such a waiter at the wake itself). One of
 * another loop cannot be told apart: that is the race the file's comment
 * describes, where the served waiter wins. */
static waiter *first_live(const wlist *l) {
    weft_loop *here = weft__tls_loop;
    waiter *w = l->head;
    while (w && w->loop == here && w->task->state != WEFT_TASK_WAITING) w = w->next;
    return w;
}

/* Under mu: takes w off l, served with `status`, and decides how it will
 * be woken (see wake). */
static waiter *serve(wlist *l, waiter *w, int status) {
    wl_remove(l, w);
    w->status = status;
    w->served = true;
    w->in_flight = w->loop != weft__tls_loop;
    return w;
}

/* The post node's run, on the waiter's thread. `closing` cannot be true:
 * the waiter's task waits for this node before it returns, so its loop has
 * a live task and has not shut its posted queue. */
static void arrive(weft_loop *L, weft__post_node *n, bool closing) {
    (void)L;
    (void)closing;
    waiter *w = container_of(n, waiter, node);
    w->in_flight = false;
    weft__wake(w->task, 0);  /* a no-op if a cancel woke it first */
}

/* After mu is released: wakes a waiter that serve returned. A waiter
 * of this loop cannot run before we suspend, and one of another loop
 * cannot return before its node arrives: either way w is still there. */
static void wake(waiter *w) {
    if (!w) return;
    if (w->in_flight) weft__post(w->loop, &w->node);
    else weft__wake(w->task, 0);
}

/* ---------------------------------------------- the work, under the mutex */

/* A put that needs no wait: hand to a getter (*woken), or store. */
static int put_locked(weft_chan *c, void *item, waiter **woken) {
    *woken = NULL;
    if (c->closed) return WEFT_ECLOSED;
    waiter *g = first_live(&c->getters);
    if (g) {
        serve(&c->getters, g, 0);
        g->item = item;
        *woken = g;
        return 0;
    }
    if (c->n == c->cap) return WEFT_EAGAIN;
    ring_push(c, item);
    return 0;
}

/* A get that needs no wait; the room it makes goes to the first putter. */
static int get_locked(weft_chan *c, void **out, waiter **woken) {
    *woken = NULL;
    if (!c->n) return c->closed ? WEFT_EOF : WEFT_EAGAIN;
    *out = ring_pop(c);
    waiter *p = first_live(&c->putters);
    if (p) {
        serve(&c->putters, p, 0);
        ring_push(c, p->item);
        *woken = p;
    }
    return 0;
}

/* ------------------------------------------------------------- waiting */

/* Called with mu held, which it releases: links w (item set for a put) on
 * l and parks t until served or cancelled. Returns the served status, or
 * the cancellation code with w unlinked (it did nothing). */
static int wait_served(weft_chan *c, wlist *l, waiter *w, weft_task *t, int kind) {
    w->task = t;
    w->loop = t->loop;
    w->served = w->in_flight = false;
    w->node.run = arrive;
    wl_push(l, w);
    c->inside++;
    pthread_mutex_unlock(&c->mu);
    /* Another thread may serve us: not a deadlock while we wait. */
    weft__loop_ref(t->loop);
    weft__awaits(t, kind, c);
    int err;
    for (;;) {
        err = weft__park(t, WEFT_FOREVER, WEFT__NOMARK);
        pthread_mutex_lock(&c->mu);
        if (w->served || err) break;
        pthread_mutex_unlock(&c->mu);  /* a stray wake: wait on */
    }
    if (w->served) {
        err = w->status;  /* the cancel, if any, is the next point's */
    } else {
        wl_remove(l, w);
        weft__cancel_status(t, true);  /* reported: the scope caught it */
    }
    c->inside--;
    pthread_mutex_unlock(&c->mu);
    while (w->in_flight) weft__park(t, WEFT_FOREVER, WEFT__NOCANCEL);
    weft__loop_unref(t->loop);
    return err;
}

/* The entry of put and get: a task of this thread's loop, not cancelled. */
static int enter(weft_task **t, const char *fn) {
    int err = weft__enter_as(t, fn);
    return err ? err : weft__checkpoint(*t);
}

/* ------------------------------------------------------------- the API */

int weft_chan_new(weft_chan **out, size_t capacity) {
    if (!capacity) return WEFT_EINVAL;
    if (capacity > (SIZE_MAX - sizeof(weft_chan)) / sizeof(void *)) return WEFT_ENOMEM;
    weft_chan *c = malloc(sizeof *c + capacity * sizeof(void *));
    if (!c) return WEFT_ENOMEM;
    *c = (weft_chan){ .cap = capacity };
    if (pthread_mutex_init(&c->mu, NULL)) {
        free(c);
        return WEFT_ENOMEM;
    }
    *out = c;
    return 0;
}

int weft_chan_free(weft_chan *c) {
    if (!c) return 0;
    pthread_mutex_lock(&c->mu);
    bool busy = c->inside != 0;
    pthread_mutex_unlock(&c->mu);
    if (busy) return WEFT_EBUSY;
    pthread_mutex_destroy(&c->mu);
    free(c);
    return 0;
}

int weft_chan_put(weft_chan *c, void *item) {
    weft_task *t;
    int err = enter(&t, __func__);
    if (err) return err;
    waiter *woken, w;
    pthread_mutex_lock(&c->mu);
    if ((err = put_locked(c, item, &woken)) != WEFT_EAGAIN) {
        pthread_mutex_unlock(&c->mu);
        wake(woken);
        return err;
    }
    w.item = item;
    return wait_served(c, &c->putters, &w, t, WEFT_AWAIT_CHAN_PUT);
}

int weft_chan_get(weft_chan *c, void **out) {
    weft_task *t;
    int err = enter(&t, __func__);
    if (err) return err;
    waiter *woken, w;
    pthread_mutex_lock(&c->mu);
    if ((err = get_locked(c, out, &woken)) != WEFT_EAGAIN) {
        pthread_mutex_unlock(&c->mu);
        wake(woken);
        return err;
    }
    w.item = NULL;
    if ((err = wait_served(c, &c->getters, &w, t, WEFT_AWAIT_CHAN_GET))) return err;
    *out = w.item;
    return 0;
}

int weft_chan_try_put(weft_chan *c, void *item) {
    waiter *woken;
    pthread_mutex_lock(&c->mu);
    int err = put_locked(c, item, &woken);
    pthread_mutex_unlock(&c->mu);
    wake(woken);
    return err;
}

int weft_chan_try_get(weft_chan *c, void **out) {
    waiter *woken;
    pthread_mutex_lock(&c->mu);
    int err = get_locked(c, out, &woken);
    pthread_mutex_unlock(&c->mu);
    wake(woken);
    return err;
}

void weft_chan_close(weft_chan *c) {
    waiter *woken = NULL;
    pthread_mutex_lock(&c->mu);
    if (!c->closed) {
        c->closed = true;
        /* Served in arrival order, putters (refused) then getters (none
         * waits unless the ring is empty, so nothing is left for them). */
        wlist *lists[2] = { &c->putters, &c->getters };
        int status[2] = { WEFT_ECLOSED, WEFT_EOF };
        waiter **tail = &woken;
        for (int i = 0; i < 2; i++)
            while (lists[i]->head) {
                *tail = serve(lists[i], lists[i]->head, status[i]);
                tail = &(*tail)->next;
            }
        *tail = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    /* Read next before waking: a woken waiter of another loop may return
     * (and its frame go) as soon as its node arrives. */
    for (waiter *next; woken; woken = next) {
        next = woken->next;
        wake(woken);
    }
}

size_t weft_chan_size(const weft_chan *c) {
    weft_chan *m = (weft_chan *)c;  /* the lock is not part of the value */
    pthread_mutex_lock(&m->mu);
    size_t n = m->n;
    pthread_mutex_unlock(&m->mu);
    return n;
}
