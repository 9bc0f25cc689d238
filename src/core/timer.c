/* Timers: a binary min-heap of pointers, ordered by (deadline, arming
 * sequence) so equal deadlines fire in FIFO order. Arm and cancel are
 * O(log n); peeking at the next deadline is O(1), so a million pending timers
 * cost the loop nothing until one is due. A timing wheel would make arming
 * O(1), but sleeps and timeouts here are mostly cancelled or fired in order,
 * where the heap's sift is short, and the heap needs no tuning of slot width.
 *
 * The array never grows while arming: every owner of a timer (each task, each
 * call-later handle) reserves its slot when it is created, so arming inside a
 * suspension point cannot fail. */
#include "internal.h"

static inline bool before(const weft__timer *a, const weft__timer *b) {
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static inline void place(weft__timer **h, size_t i, weft__timer *tm) {
    h[i] = tm;
    tm->idx = i;
}

static void sift_up(weft__timer **h, size_t i) {
    weft__timer *tm = h[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(tm, h[parent])) break;
        place(h, i, h[parent]);
        i = parent;
    }
    place(h, i, tm);
}

static void sift_down(weft__timer **h, size_t n, size_t i) {
    weft__timer *tm = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(h[c + 1], h[c])) c++;
        if (!before(h[c], tm)) break;
        place(h, i, h[c]);
        i = c;
    }
    place(h, i, tm);
}

int weft__timer_reserve(weft_loop *L, size_t n) {
    size_t need = L->reserved + n;
    if (need > L->capheap) {
        size_t cap = L->capheap ? L->capheap : 64;
        while (cap < need) cap *= 2;
        weft__timer **h = weft__realloc(L, L->heap, cap * sizeof *h);
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
    L->heap[L->nheap] = tm;
    tm->idx = L->nheap++;
    sift_up(L->heap, tm->idx);
}

void weft__timer_cancel(weft_loop *L, weft__timer *tm) {
    size_t i = tm->idx;
    if (i == WEFT__UNARMED) return;
    tm->idx = WEFT__UNARMED;
    weft__timer *last = L->heap[--L->nheap];
    if (last == tm) return;
    place(L->heap, i, last);
    if (i > 0 && before(last, L->heap[(i - 1) / 2])) sift_up(L->heap, i);
    else sift_down(L->heap, L->nheap, i);
}

/* Only timers armed before this run fire in it: a callback that re-arms at
 * a deadline already past waits for the next upkeep instead of spinning. */
void weft__timer_run(weft_loop *L, int64_t now) {
    uint64_t armed_before = L->timer_seq;
    while (L->nheap && L->heap[0]->when <= now && L->heap[0]->seq < armed_before) {
        weft__timer *tm = L->heap[0];
        weft__timer_cancel(L, tm);
        tm->fire(L, tm);
    }
}
