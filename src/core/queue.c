/* Queues of void * items: FIFO (a ring), LIFO (a stack) or priority (a
 * binary heap ordered by the user's cmp, then by arrival so equal items keep
 * FIFO order). Getters and putters wait in FIFO queues of their own. A put
 * with a getter waiting hands the item straight to it (the queue is empty
 * then), and a get that makes room takes the first waiting putter's item in,
 * so a woken waiter has always been served already: cancelled means it did
 * not happen.
 *
 * A queue is not tied to the loop it was made on ("one loop at a time"): it
 * keeps that loop's allocator, since it may outlive the loop, and binds to
 * whichever loop's tasks wait on it, refusing other loops only while they do
 * (their waking would come from the wrong thread). */
#include "internal.h"

#include <string.h>

typedef struct { void *item; uint64_t seq; } entry;

struct weft_queue {
    int kind;
    size_t capacity;                 /* 0 = unbounded */
    int (*cmp)(const void *, const void *);
    entry *buf;
    size_t cap, head, n;             /* head is used by FIFO only */
    uint64_t seq;
    weft__wq getters, putters;
    weft_loop *loop;                 /* the loop its waiters (if any) are on */
    weft__mem mem;                   /* the allocator of the loop it was made on */
    bool closed;
};

int weft_queue_new(weft_queue **out, const weft_queue_opts *opts) {
    weft_queue_opts o = opts ? *opts : (weft_queue_opts){ 0 };
    weft_loop *L = weft__tls_loop;
    if (!L) return WEFT_ENOTASK;
    if (o.kind < WEFT_QUEUE_FIFO || o.kind > WEFT_QUEUE_PRIORITY) return WEFT_EINVAL;
    if (o.kind == WEFT_QUEUE_PRIORITY && !o.cmp) return WEFT_EINVAL;
    weft_queue *q = weft__mem_alloc(L->mem, sizeof *q);
    if (!q) return WEFT_ENOMEM;
    memset(q, 0, sizeof *q);
    q->kind = o.kind;
    q->capacity = o.capacity;
    q->cmp = o.cmp;
    q->loop = L;
    q->mem = L->mem;
    *out = q;
    return 0;
}

static bool busy(const weft_queue *q) {
    return !weft__wq_empty(&q->getters) || !weft__wq_empty(&q->putters);
}

int weft_queue_free(weft_queue *q) {
    if (!q) return 0;
    if (busy(q)) return WEFT_EBUSY;
    weft__mem_free(q->mem, q->buf);
    weft__mem_free(q->mem, q);
    return 0;
}

size_t weft_queue_size(const weft_queue *q) { return q->n; }

static bool full(const weft_queue *q) { return q->capacity && q->n >= q->capacity; }

static bool heap_before(const weft_queue *q, const entry *a, const entry *b) {
    int c = q->cmp(a->item, b->item);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

/* Makes room for one more entry: 0 or WEFT_ENOMEM. */
static int reserve(weft_queue *q) {
    if (q->n < q->cap) return 0;
    size_t cap = q->cap ? q->cap * 2 : 16;
    if (q->capacity && cap > q->capacity) cap = q->capacity;
    entry *buf = weft__mem_alloc(q->mem, cap * sizeof *buf);
    if (!buf) return WEFT_ENOMEM;
    for (size_t i = 0; i < q->n; i++)  /* unwrap the FIFO ring */
        buf[i] = q->buf[q->kind == WEFT_QUEUE_FIFO ? (q->head + i) % q->cap : i];
    weft__mem_free(q->mem, q->buf);
    q->buf = buf;
    q->cap = cap;
    q->head = 0;
    return 0;
}

/* Stores an item; room was reserved. */
static void store(weft_queue *q, void *item) {
    entry e = { item, q->seq++ };
    if (q->kind == WEFT_QUEUE_FIFO) {
        q->buf[(q->head + q->n++) % q->cap] = e;
        return;
    }
    size_t i = q->n++;
    if (q->kind == WEFT_QUEUE_PRIORITY) {
        while (i > 0 && heap_before(q, &e, &q->buf[(i - 1) / 2])) {
            q->buf[i] = q->buf[(i - 1) / 2];
            i = (i - 1) / 2;
        }
    }
    q->buf[i] = e;
}

static void *take(weft_queue *q) {
    if (q->kind == WEFT_QUEUE_FIFO) {
        void *item = q->buf[q->head].item;
        q->head = (q->head + 1) % q->cap;
        q->n--;
        return item;
    }
    if (q->kind == WEFT_QUEUE_LIFO) return q->buf[--q->n].item;
    void *item = q->buf[0].item;
    entry last = q->buf[--q->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->n) break;
        if (c + 1 < q->n && heap_before(q, &q->buf[c + 1], &q->buf[c])) c++;
        if (!heap_before(q, &q->buf[c], &last)) break;
        q->buf[i] = q->buf[c];
        i = c;
    }
    if (q->n) q->buf[i] = last;
    return item;
}

/* A put that needs no wait: hand to a getter, or store. */
static int put_now(weft_queue *q, void *item) {
    if (q->closed) return WEFT_ECLOSED;
    weft__waiter *g = weft__wq_first(&q->getters);
    if (g) {
        *(void **)g->data = item;
        weft__wake(g->task, 0);
        return 0;
    }
    if (full(q)) return WEFT_EAGAIN;
    int err = reserve(q);
    if (!err) store(q, item);
    return err;
}

/* A get that needs no wait; the room it makes goes to the first putter. */
static int get_now(weft_queue *q, void **out) {
    if (!q->n) return q->closed ? WEFT_ECLOSED : WEFT_EAGAIN;
    *out = take(q);
    weft__waiter *p = weft__wq_first(&q->putters);
    if (p) {
        store(q, p->data);  /* the room just made is the putter's */
        weft__wake(p->task, 0);
    }
    return 0;
}

/* Binds q to the calling thread's loop (NULL outside any loop, where no task
 * can wait). A try_ call needs no task, so a loop callback may feed a queue. */
static int bind_here(weft_queue *q) {
    weft_loop *L = weft__tls_loop;
    if (busy(q) && q->loop != L) return WEFT_EWRONGLOOP;
    q->loop = L;
    return 0;
}

/* Entry of put and get, the suspension points. */
static int enter_queue(weft_queue *q, weft_task **t, const char *fn) {
    int err = weft__enter_as(t, fn);
    if (!err) err = bind_here(q);
    if (!err) err = weft__checkpoint(*t);
    return err;
}

int weft_queue_try_put(weft_queue *q, void *item) {
    int err = bind_here(q);
    return err ? err : put_now(q, item);
}

int weft_queue_try_get(weft_queue *q, void **out) {
    int err = bind_here(q);
    return err ? err : get_now(q, out);
}

int weft_queue_put(weft_queue *q, void *item) {
    weft_task *t;
    int err = enter_queue(q, &t, __func__);
    if (err) return err;
    /* Putters already waiting go first. */
    if (weft__wq_empty(&q->putters) && (err = put_now(q, item)) != WEFT_EAGAIN) return err;
    if (q->closed) return WEFT_ECLOSED;
    weft__waiter w;
    w.data = item;
    weft__wait_on(t, &q->putters, &w);
    weft__awaits(t, WEFT_AWAIT_QUEUE_PUT, q);
    return weft__park(t, WEFT_FOREVER, 0);
}

int weft_queue_get(weft_queue *q, void **out) {
    weft_task *t;
    int err = enter_queue(q, &t, __func__);
    if (err) return err;
    if ((err = get_now(q, out)) != WEFT_EAGAIN) return err;
    void *item = NULL;
    weft__waiter w;
    w.data = &item;
    weft__wait_on(t, &q->getters, &w);
    weft__awaits(t, WEFT_AWAIT_QUEUE_GET, q);
    if ((err = weft__park(t, WEFT_FOREVER, 0))) return err;
    *out = item;
    return 0;
}

void weft_queue_shutdown(weft_queue *q, int immediate) {
    q->closed = true;
    if (immediate) q->n = q->head = 0;
    for (weft__waiter *w; (w = weft__wq_first(&q->putters));) weft__wake(w->task, WEFT_ECLOSED);
    if (!q->n)
        for (weft__waiter *w; (w = weft__wq_first(&q->getters));) weft__wake(w->task, WEFT_ECLOSED);
}
