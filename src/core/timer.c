/* Timers: a 4-ary min-heap ordered by (deadline, arming sequence), so equal
 * deadlines fire in FIFO order. Each slot holds the deadline beside the
 * pointer, so a sift compares without touching the timers themselves (only
 * ties read the sequence); four children per node halve the depth of a
 * binary heap. Arm and cancel are O(log n); peeking at the next deadline is
 * O(1), so a million pending timers cost the loop nothing until one is due.
 * A timing wheel would arm in O(1), but needs a slot width tuned to the
 * workload; sleeps and timeouts here are mostly cancelled or fire in order,
 * where sifts are short.
 *
 * The array never grows while arming: every owner of a timer (each task, each
 * call-later handle) reserves its slot when it is created, so arming inside a
 * suspension point cannot fail. */
#include "internal.h"

#define ARITY 4

static inline bool before(const weft__slot *a, const weft__slot *b) {
    return a->when < b->when || (a->when == b->when && a->tm->seq < b->tm->seq);
}

static inline void place(weft__slot *h, size_t i, weft__slot s) {
    h[i] = s;
    s.tm->idx = i;
}

static void sift_up(weft__slot *h, size_t i) {
    weft__slot s = h[i];
    while (i > 0) {
        size_t parent = (i - 1) / ARITY;
        if (!before(&s, &h[parent])) break;
        place(h, i, h[parent]);
        i = parent;
    }
    place(h, i, s);
}

static void sift_down(weft__slot *h, size_t n, size_t i) {
    weft__slot s = h[i];
    for (;;) {
        size_t c = ARITY * i + 1;
        if (c >= n) break;
        size_t best = c, end = c + ARITY < n ? c + ARITY : n;
        for (size_t k = c + 1; k < end; k++)
            if (before(&h[k], &h[best])) best = k;
        if (!before(&h[best], &s)) break;
        place(h, i, h[best]);
        i = best;
    }
    place(h, i, s);
}

int weft__timer_grow(weft_loop *L, size_t n) {
    size_t need = L->reserved + n;
    if (need > L->capheap) {
        size_t cap = L->capheap ? L->capheap : 64;
        while (cap < need) cap *= 2;
        weft__slot *h = weft__realloc(L, L->heap, cap * sizeof *h);
        if (!h) return WEFT_ENOMEM;
        L->heap = h;
        L->capheap = cap;
    }
    L->reserved = need;
    return 0;
}

void weft__timer_unreserve(weft_loop *L, size_t n) { L->reserved -= n; }

void weft__timer_arm(weft_loop *L, weft__timer *tm, int64_t when) {
    if (weft__timer_armed(tm)) weft__timer_cancel(L, tm);
    tm->when = when;
    tm->seq = L->timer_seq++;
    size_t i = L->nheap++;
    L->heap[i] = (weft__slot){ when, tm };
    tm->idx = i;
    sift_up(L->heap, i);
}

void weft__timer_cancel(weft_loop *L, weft__timer *tm) {
    size_t i = tm->idx;
    if (i == WEFT__UNARMED) return;
    tm->idx = WEFT__UNARMED;
    weft__slot last = L->heap[--L->nheap];
    if (last.tm == tm) return;
    place(L->heap, i, last);
    if (i > 0 && before(&last, &L->heap[(i - 1) / ARITY])) sift_up(L->heap, i);
    else sift_down(L->heap, L->nheap, i);
}

/* Only timers armed before this run fire in it: a callback that re-arms at
 * a deadline already past waits for the next upkeep instead of spinning. */
void weft__timer_run(weft_loop *L, int64_t now) {
    uint64_t armed_before = L->timer_seq;
    while (L->nheap && L->heap[0].when <= now && L->heap[0].tm->seq < armed_before) {
        weft__timer *tm = L->heap[0].tm;
        weft__timer_cancel(L, tm);
        tm->fire(L, tm);
    }
}
