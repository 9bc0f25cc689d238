/* Queues: the order each kind hands items out in (FIFO, LIFO, priority with
 * ties in arrival order), backpressure on bounded queues, FIFO service of
 * blocked getters and putters, shutdown (draining and immediate), and the
 * failures: deadlines and cancellation take no item and add none, full and
 * empty try_ calls change nothing, ENOMEM leaves the queue as it was, misuse
 * from outside a task or from another thread's loop is refused.
 *
 * Tasks return their call's code as their result; items are small integers
 * cast to pointers (the queue never looks at them). */
#include "test.h"
#include "wt_order.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

static weft_queue *q;


static void make(int kind, size_t capacity, int (*cmp)(const void *, const void *)) {
    weft_queue_opts o = { .kind = kind, .capacity = capacity, .cmp = cmp };
    ASSERT_ERR(weft_queue_new(&q, &o), 0);
}

static int get_item(void) {
    void *item = AS_ARG(-1);
    ASSERT_ERR(weft_queue_get(q, &item), 0);
    return ID(item);
}

/* Gets one item and notes it. */
static void *getter(void *arg) {
    (void)arg;
    void *item = AS_ARG(-1);
    int err = weft_queue_get(q, &item);
    if (err) {
        ASSERT_EQ(ID(item), -1);  /* *out untouched on failure */
        return RESULT(err);
    }
    note(ID(item));
    return RESULT(0);
}

/* Puts arg, noting it once it is in. */
static void *putter(void *arg) {
    int err = weft_queue_put(q, arg);
    if (!err) note(100 + ID(arg));
    return RESULT(err);
}

/* =========================================================== creation */

static int by_value(const void *a, const void *b) {
    intptr_t x = (intptr_t)a, y = (intptr_t)b;
    return (x > y) - (x < y);
}

static int queue_new_rejects_bad_options_body(void *arg) {
    (void)arg;
    weft_queue *sentinel = (weft_queue *)&norder, *out = sentinel;
    weft_queue_opts o = { .kind = WEFT_QUEUE_PRIORITY };
    ASSERT_ERR(weft_queue_new(&out, &o), WEFT_EINVAL);
    ASSERT(out == sentinel);
    o.kind = 7;
    ASSERT_ERR(weft_queue_new(&out, &o), WEFT_EINVAL);
    o.kind = -1;
    ASSERT_ERR(weft_queue_new(&out, &o), WEFT_EINVAL);
    ASSERT(out == sentinel);
    /* NULL options: an unbounded FIFO queue. */
    ASSERT_ERR(weft_queue_new(&out, NULL), 0);
    for (int i = 0; i < 100; i++) ASSERT_ERR(weft_queue_try_put(out, AS_ARG(i)), 0);
    for (int i = 0; i < 100; i++) {
        void *item;
        ASSERT_ERR(weft_queue_try_get(out, &item), 0);
        ASSERT_EQ(ID(item), i);
    }
    ASSERT_ERR(weft_queue_free(out), 0);
    ASSERT_ERR(weft_queue_free(NULL), 0);
    return 0;
}
TEST(queue_new_rejects_bad_options) { ASSERT_EQ(wt_run(queue_new_rejects_bad_options_body, NULL), 0); }

static int queue_new_reports_enomem_and_leaves_out_untouched_body(void *arg) {
    (void)arg;
    weft_queue *sentinel = (weft_queue *)&norder, *out = sentinel;
    wt_fail_at = 0;
    ASSERT_ERR(weft_queue_new(&out, NULL), WEFT_ENOMEM);
    ASSERT(out == sentinel);
    return 0;
}
TEST(queue_new_reports_enomem_and_leaves_out_untouched) { ASSERT_EQ(wt_run(queue_new_reports_enomem_and_leaves_out_untouched_body, NULL), 0); }

/* ============================================================ ordering */

/* Interleaves puts and gets so the ring wraps and grows while wrapped. */
static int fifo_queue_returns_items_in_put_order_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 0, NULL);
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 7; i++) ASSERT_ERR(weft_queue_put(q, AS_ARG(next_in++)), 0);
        for (int i = 0; i < 5; i++) ASSERT_EQ(get_item(), next_out++);
        ASSERT_EQ(weft_queue_size(q), (size_t)(next_in - next_out));
    }
    while (next_out < next_in) ASSERT_EQ(get_item(), next_out++);
    ASSERT_EQ(weft_queue_size(q), 0);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(fifo_queue_returns_items_in_put_order) { ASSERT_EQ(wt_run(fifo_queue_returns_items_in_put_order_body, NULL), 0); }

static int lifo_queue_returns_newest_first_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_LIFO, 0, NULL);
    for (int i = 0; i < 40; i++) ASSERT_ERR(weft_queue_put(q, AS_ARG(i)), 0);
    for (int i = 39; i >= 20; i--) ASSERT_EQ(get_item(), i);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(99)), 0);
    ASSERT_EQ(get_item(), 99);
    for (int i = 19; i >= 0; i--) ASSERT_EQ(get_item(), i);
    ASSERT_EQ(weft_queue_size(q), 0);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(lifo_queue_returns_newest_first) { ASSERT_EQ(wt_run(lifo_queue_returns_newest_first_body, NULL), 0); }

static int priority_queue_returns_smallest_first_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_PRIORITY, 0, by_value);
    /* A permutation of 0..199, put in a scrambled order with gets mixed in;
     * each get must return the smallest value present. */
    unsigned x = 12345;
    int present[200] = { 0 }, pending = 0;
    for (int i = 0; i < 200 || pending; i++) {
        x = x * 1103515245u + 12345u;
        if (i < 200 && ((x >> 16) % 3 != 0 || !pending)) {
            int v = (int)((i * 37u + 11u) % 200u);
            ASSERT_ERR(weft_queue_put(q, AS_ARG(v)), 0);
            present[v] = 1;
            pending++;
            continue;
        }
        int want = 0;
        while (!present[want]) want++;
        ASSERT_EQ(get_item(), want);
        present[want] = 0;
        pending--;
        ASSERT_EQ(weft_queue_size(q), (size_t)pending);
    }
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(priority_queue_returns_smallest_first) { ASSERT_EQ(wt_run(priority_queue_returns_smallest_first_body, NULL), 0); }

/* Items with a key and a serial; cmp looks at the key only. */
typedef struct { int key, serial; } keyed;
static int by_key(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

static int priority_queue_equal_items_come_out_in_put_order_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_PRIORITY, 0, by_key);
    /* 60 items of each of 5 keys, interleaved; some taken out midway, so
     * ties must survive sifting both ways. Each get must return the lowest
     * key present and, among those, the earliest put. */
    keyed items[300];
    bool taken[300] = { 0 };
    for (int i = 0, got = 0; got < 300;) {
        if (i < 300) {
            items[i] = (keyed){ (int)((i * 7u) % 5u), i };
            ASSERT_ERR(weft_queue_put(q, &items[i]), 0);
            if (++i % 4 && i < 300) continue;
        }
        int want = -1;
        for (int j = 0; j < i; j++)
            if (!taken[j] && (want < 0 || items[j].key < items[want].key)) want = j;
        void *p = NULL;
        ASSERT_ERR(weft_queue_get(q, &p), 0);
        ASSERT_EQ(((keyed *)p)->serial, want);
        taken[want] = true;
        got++;
    }
    ASSERT_EQ(weft_queue_size(q), 0);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(priority_queue_equal_items_come_out_in_put_order) { ASSERT_EQ(wt_run(priority_queue_equal_items_come_out_in_put_order_body, NULL), 0); }

/* ======================================================= try_ and size */

static int try_get_on_empty_queue_returns_eagain_leaving_out_untouched_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 0, NULL);
    void *item = AS_ARG(-1);
    ASSERT_ERR(weft_queue_try_get(q, &item), WEFT_EAGAIN);
    ASSERT_EQ(ID(item), -1);
    ASSERT_ERR(weft_queue_try_put(q, AS_ARG(5)), 0);
    ASSERT_EQ(weft_queue_size(q), 1);
    ASSERT_ERR(weft_queue_try_get(q, &item), 0);
    ASSERT_EQ(ID(item), 5);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(try_get_on_empty_queue_returns_eagain_leaving_out_untouched) { ASSERT_EQ(wt_run(try_get_on_empty_queue_returns_eagain_leaving_out_untouched_body, NULL), 0); }

static int try_put_on_full_queue_returns_eagain_adding_nothing_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 2, NULL);
    ASSERT_ERR(weft_queue_try_put(q, AS_ARG(1)), 0);
    ASSERT_ERR(weft_queue_try_put(q, AS_ARG(2)), 0);
    ASSERT_ERR(weft_queue_try_put(q, AS_ARG(3)), WEFT_EAGAIN);
    ASSERT_EQ(weft_queue_size(q), 2);
    ASSERT_EQ(get_item(), 1);
    ASSERT_EQ(get_item(), 2);
    ASSERT_ERR(weft_queue_try_get(q, &(void *){ 0 }), WEFT_EAGAIN);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(try_put_on_full_queue_returns_eagain_adding_nothing) { ASSERT_EQ(wt_run(try_put_on_full_queue_returns_eagain_adding_nothing_body, NULL), 0); }

/* =================================================== waiting, backpressure */

static void *producer(void *arg) {
    for (int i = 0; i < ID(arg); i++) {
        int err = weft_queue_put(q, AS_ARG(i));
        if (err) return RESULT(err);
        note(i);
        ASSERT(weft_queue_size(q) <= 2);
    }
    return RESULT(0);
}

static int bounded_put_waits_while_full_and_resumes_as_gets_make_room_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 2, NULL);
    weft_task *p = weft_spawn(producer, AS_ARG(6));
    settle();
    ASSERT_ORDER(0, 1);                      /* two in, the third waits */
    ASSERT_EQ(weft_task_state(p), WEFT_TASK_WAITING);
    ASSERT_EQ(weft_queue_size(q), 2);
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ(get_item(), i);
        /* The room went straight to the waiting put: still full. */
        ASSERT_EQ(weft_queue_size(q), 2);
        ASSERT_ERR(weft_queue_try_put(q, AS_ARG(99)), WEFT_EAGAIN);
        settle();
        ASSERT_EQ(norder, 3 + i);
    }
    ASSERT_ERR(joined(p), 0);
    ASSERT_EQ(get_item(), 4);
    ASSERT_EQ(get_item(), 5);
    ASSERT_EQ(weft_queue_size(q), 0);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(bounded_put_waits_while_full_and_resumes_as_gets_make_room) { ASSERT_EQ(wt_run(bounded_put_waits_while_full_and_resumes_as_gets_make_room_body, NULL), 0); }

/* Backpressure across time: a fast producer is held to a slow consumer. */
static void *slow_consumer(void *arg) {
    for (int i = 0; i < ID(arg); i++) {
        ASSERT_ERR(weft_sleep(WEFT_SECOND), 0);
        ASSERT_EQ(get_item(), i);
    }
    return RESULT(0);
}

static int fast_producer_is_paced_by_slow_consumer_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 3, NULL);
    int64_t t0 = weft_now();
    weft_task *c = weft_spawn(slow_consumer, AS_ARG(10));
    for (int i = 0; i < 10; i++) ASSERT_ERR(weft_queue_put(q, AS_ARG(i)), 0);
    /* Items 3..9 each waited for a get, the last for the 7th, at 7 s. */
    ASSERT_EQ(weft_now() - t0, 7 * WEFT_SECOND);
    ASSERT_ERR(joined(c), 0);
    ASSERT_EQ(weft_now() - t0, 10 * WEFT_SECOND);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(fast_producer_is_paced_by_slow_consumer) { ASSERT_EQ(wt_run(fast_producer_is_paced_by_slow_consumer_body, NULL), 0); }

static int blocked_putters_are_served_in_fifo_order_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 1, NULL);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(0)), 0);
    weft_task *p[4];
    for (int i = 0; i < 4; i++) p[i] = weft_spawn(putter, AS_ARG(i + 1));
    settle();
    ASSERT_EQ(norder, 0);
    for (int i = 0; i <= 4; i++) ASSERT_EQ(get_item(), i);
    for (int i = 0; i < 4; i++) ASSERT_ERR(joined(p[i]), 0);
    ASSERT_ORDER(101, 102, 103, 104);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(blocked_putters_are_served_in_fifo_order) { ASSERT_EQ(wt_run(blocked_putters_are_served_in_fifo_order_body, NULL), 0); }

static int blocked_getters_are_served_in_fifo_order_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_LIFO, 0, NULL);  /* the kind does not change who is served */
    weft_task *g[4];
    for (int i = 0; i < 4; i++) g[i] = weft_spawn(getter, NULL);
    settle();
    for (int i = 0; i < 4; i++) ASSERT_ERR(weft_queue_put(q, AS_ARG(i)), 0);
    for (int i = 0; i < 4; i++) ASSERT_ERR(joined(g[i]), 0);
    ASSERT_ORDER(0, 1, 2, 3);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(blocked_getters_are_served_in_fifo_order) { ASSERT_EQ(wt_run(blocked_getters_are_served_in_fifo_order_body, NULL), 0); }

static int put_hands_the_item_to_a_waiting_getter_so_no_newcomer_takes_it_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 0, NULL);
    weft_task *g = weft_spawn(getter, NULL);
    settle();
    ASSERT_ERR(weft_queue_try_put(q, AS_ARG(7)), 0);
    ASSERT_EQ(weft_queue_size(q), 0);
    void *item = AS_ARG(-1);
    ASSERT_ERR(weft_queue_try_get(q, &item), WEFT_EAGAIN);
    ASSERT_EQ(ID(item), -1);
    ASSERT_ERR(joined(g), 0);
    ASSERT_ORDER(7);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(put_hands_the_item_to_a_waiting_getter_so_no_newcomer_takes_it) { ASSERT_EQ(wt_run(put_hands_the_item_to_a_waiting_getter_so_no_newcomer_takes_it_body, NULL), 0); }

/* A blocked put enters the queue when the room is made, so it counts as the
 * newest item for LIFO and takes its rank for PRIORITY. */
static int lifo_blocked_put_lands_on_top_when_room_is_made_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_LIFO, 2, NULL);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(1)), 0);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(2)), 0);
    weft_task *p = weft_spawn(putter, AS_ARG(3));
    settle();
    ASSERT_EQ(get_item(), 2);
    ASSERT_EQ(get_item(), 3);
    ASSERT_EQ(get_item(), 1);
    ASSERT_ERR(joined(p), 0);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(lifo_blocked_put_lands_on_top_when_room_is_made) { ASSERT_EQ(wt_run(lifo_blocked_put_lands_on_top_when_room_is_made_body, NULL), 0); }

static int priority_blocked_put_takes_its_rank_when_room_is_made_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_PRIORITY, 2, by_value);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(5)), 0);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(3)), 0);
    weft_task *p = weft_spawn(putter, AS_ARG(1));
    settle();
    ASSERT_EQ(get_item(), 3);  /* 1 was not in the queue yet */
    ASSERT_EQ(get_item(), 1);
    ASSERT_EQ(get_item(), 5);
    ASSERT_ERR(joined(p), 0);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(priority_blocked_put_takes_its_rank_when_room_is_made) { ASSERT_EQ(wt_run(priority_blocked_put_takes_its_rank_when_room_is_made_body, NULL), 0); }

/* ============================================ deadlines and cancellation */

static void *getter_with_timeout(void *arg) {
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, (int64_t)(intptr_t)arg), 0);
    void *item = AS_ARG(-1);
    int err = weft_queue_get(q, &item);
    ASSERT_ERR(weft_scope_leave(&sc), err);
    if (err) {
        ASSERT_EQ(ID(item), -1);
        return RESULT(err);
    }
    note(ID(item));
    return RESULT(0);
}

static int get_times_out_taking_no_item_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 0, NULL);
    int64_t t0 = weft_now();
    weft_task *a = weft_spawn(getter_with_timeout, AS_ARG(2 * WEFT_SECOND));
    weft_task *b = weft_spawn(getter, NULL);
    ASSERT_ERR(joined(a), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_now() - t0, 2 * WEFT_SECOND);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(8)), 0);  /* to b, not lost on a */
    ASSERT_ERR(joined(b), 0);
    ASSERT_ORDER(8);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(get_times_out_taking_no_item) { ASSERT_EQ(wt_run(get_times_out_taking_no_item_body, NULL), 0); }

static int get_within_its_deadline_gets_the_item_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 0, NULL);
    weft_task *a = weft_spawn(getter_with_timeout, AS_ARG(2 * WEFT_SECOND));
    ASSERT_ERR(weft_sleep(WEFT_SECOND), 0);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(4)), 0);
    ASSERT_ERR(joined(a), 0);
    ASSERT_ORDER(4);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(get_within_its_deadline_gets_the_item) { ASSERT_EQ(wt_run(get_within_its_deadline_gets_the_item_body, NULL), 0); }

/* The case: a cancelled get took no item; the next getter has it. */
static int cancelled_get_takes_no_item_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 0, NULL);
    weft_task *a = weft_spawn(getter, NULL);
    weft_task *b = weft_spawn(getter, NULL);
    settle();
    weft_cancel(a);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(3)), 0);  /* same step as the cancel */
    ASSERT_ERR(joined(a), WEFT_ECANCELED);
    ASSERT_ERR(joined(b), 0);
    ASSERT_ORDER(3);
    ASSERT_EQ(weft_queue_size(q), 0);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(cancelled_get_takes_no_item) { ASSERT_EQ(wt_run(cancelled_get_takes_no_item_body, NULL), 0); }

static int cancelled_get_with_no_other_getter_leaves_the_item_queued_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 0, NULL);
    weft_task *a = weft_spawn(getter, NULL);
    settle();
    weft_cancel(a);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(3)), 0);
    ASSERT_ERR(joined(a), WEFT_ECANCELED);
    ASSERT_EQ(weft_queue_size(q), 1);
    ASSERT_EQ(get_item(), 3);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(cancelled_get_with_no_other_getter_leaves_the_item_queued) { ASSERT_EQ(wt_run(cancelled_get_with_no_other_getter_leaves_the_item_queued_body, NULL), 0); }

/* A getter already handed its item keeps it if a cancel comes before it
 * runs: success did all of it. */
static int getter_handed_an_item_keeps_it_when_cancelled_before_running_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 0, NULL);
    weft_task *a = weft_spawn(getter, NULL);
    settle();
    ASSERT_ERR(weft_queue_put(q, AS_ARG(6)), 0);
    weft_cancel(a);
    ASSERT_ERR(joined(a), 0);
    ASSERT_ORDER(6);
    ASSERT_EQ(weft_queue_size(q), 0);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(getter_handed_an_item_keeps_it_when_cancelled_before_running) { ASSERT_EQ(wt_run(getter_handed_an_item_keeps_it_when_cancelled_before_running_body, NULL), 0); }

/* The case: a cancelled put added nothing. */
static int cancelled_put_adds_nothing_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 1, NULL);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(1)), 0);
    weft_task *a = weft_spawn(putter, AS_ARG(2));
    weft_task *b = weft_spawn(putter, AS_ARG(3));
    settle();
    weft_cancel(a);
    ASSERT_EQ(get_item(), 1);  /* the room goes to b */
    ASSERT_ERR(joined(a), WEFT_ECANCELED);
    ASSERT_ERR(joined(b), 0);
    ASSERT_EQ(weft_queue_size(q), 1);
    ASSERT_EQ(get_item(), 3);
    ASSERT_ERR(weft_queue_try_get(q, &(void *){ 0 }), WEFT_EAGAIN);
    ASSERT_ORDER(103);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(cancelled_put_adds_nothing) { ASSERT_EQ(wt_run(cancelled_put_adds_nothing_body, NULL), 0); }

static void *putter_with_timeout(void *arg) {
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, WEFT_SECOND), 0);
    int err = weft_queue_put(q, arg);
    ASSERT_ERR(weft_scope_leave(&sc), err);
    return RESULT(err);
}

static int put_times_out_adding_nothing_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 1, NULL);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(1)), 0);
    int64_t t0 = weft_now();
    ASSERT_ERR(joined(weft_spawn(putter_with_timeout, AS_ARG(2))), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_now() - t0, WEFT_SECOND);
    ASSERT_EQ(weft_queue_size(q), 1);
    ASSERT_EQ(get_item(), 1);
    ASSERT_ERR(weft_queue_try_get(q, &(void *){ 0 }), WEFT_EAGAIN);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(put_times_out_adding_nothing) { ASSERT_EQ(wt_run(put_times_out_adding_nothing_body, NULL), 0); }

static void *cancelled_then_put_and_get(void *arg) {
    (void)arg;
    weft_cancel(weft_current());
    void *item = AS_ARG(-1);
    ASSERT_ERR(weft_queue_get(q, &item), WEFT_ECANCELED);
    ASSERT_EQ(ID(item), -1);
    return RESULT(weft_queue_put(q, AS_ARG(9)));
}

/* Even with an item to take and room to put, a cancelled task does neither. */
static int put_and_get_in_cancelled_task_do_nothing_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 0, NULL);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(1)), 0);
    ASSERT_ERR(joined(weft_spawn(cancelled_then_put_and_get, NULL)), WEFT_ECANCELED);
    ASSERT_EQ(weft_queue_size(q), 1);
    ASSERT_EQ(get_item(), 1);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(put_and_get_in_cancelled_task_do_nothing) { ASSERT_EQ(wt_run(put_and_get_in_cancelled_task_do_nothing_body, NULL), 0); }

static int put_reports_enomem_and_adds_nothing_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 0, NULL);
    wt_fail_at = 0;
    ASSERT_ERR(weft_queue_put(q, AS_ARG(1)), WEFT_ENOMEM);
    ASSERT_EQ(weft_queue_size(q), 0);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(2)), 0);
    /* Growing a full buffer fails the same way, items kept as they were. */
    for (int i = 3; i <= 16; i++) ASSERT_ERR(weft_queue_put(q, AS_ARG(i)), 0);
    ASSERT_EQ(get_item(), 2);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(17)), 0);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(18)), 0);  /* the ring wraps, full */
    wt_fail_at = 0;
    ASSERT_ERR(weft_queue_try_put(q, AS_ARG(19)), WEFT_ENOMEM);
    ASSERT_EQ(weft_queue_size(q), 16);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(19)), 0);
    for (int i = 3; i <= 19; i++) ASSERT_EQ(get_item(), i);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(put_reports_enomem_and_adds_nothing) { ASSERT_EQ(wt_run(put_reports_enomem_and_adds_nothing_body, NULL), 0); }

/* ============================================================= shutdown */

static int shutdown_wakes_blocked_getters_with_eclosed_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 0, NULL);
    weft_task *g[3];
    for (int i = 0; i < 3; i++) g[i] = weft_spawn(getter, NULL);
    settle();
    weft_queue_shutdown(q, 0);
    for (int i = 0; i < 3; i++) ASSERT_ERR(joined(g[i]), WEFT_ECLOSED);
    ASSERT_EQ(norder, 0);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(shutdown_wakes_blocked_getters_with_eclosed) { ASSERT_EQ(wt_run(shutdown_wakes_blocked_getters_with_eclosed_body, NULL), 0); }

/* The case: putters blocked on a full queue fail, what was queued
 * stays for getters, who then get WEFT_ECLOSED. */
static int shutdown_fails_blocked_putters_and_lets_getters_drain_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 2, NULL);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(1)), 0);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(2)), 0);
    weft_task *p[2];
    for (int i = 0; i < 2; i++) p[i] = weft_spawn(putter, AS_ARG(10 + i));
    settle();
    weft_queue_shutdown(q, 0);
    for (int i = 0; i < 2; i++) ASSERT_ERR(joined(p[i]), WEFT_ECLOSED);
    ASSERT_EQ(weft_queue_size(q), 2);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(3)), WEFT_ECLOSED);
    ASSERT_ERR(weft_queue_try_put(q, AS_ARG(3)), WEFT_ECLOSED);
    weft_task *g[4];
    for (int i = 0; i < 4; i++) g[i] = weft_spawn(getter, NULL);
    ASSERT_ERR(joined(g[0]), 0);
    ASSERT_ERR(joined(g[1]), 0);
    ASSERT_ERR(joined(g[2]), WEFT_ECLOSED);
    ASSERT_ERR(joined(g[3]), WEFT_ECLOSED);
    ASSERT_ORDER(1, 2);
    void *item = AS_ARG(-1);
    ASSERT_ERR(weft_queue_try_get(q, &item), WEFT_ECLOSED);
    ASSERT_ERR(weft_queue_get(q, &item), WEFT_ECLOSED);
    ASSERT_EQ(ID(item), -1);
    weft_queue_shutdown(q, 0);  /* idempotent */
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(shutdown_fails_blocked_putters_and_lets_getters_drain) { ASSERT_EQ(wt_run(shutdown_fails_blocked_putters_and_lets_getters_drain_body, NULL), 0); }

/* Getters and putters take turns blocking (never both at once: getters wait
 * only on an empty queue, putters only on a full one). An immediate shutdown
 * then fails the putter still blocked, and nothing already served. */
static int immediate_shutdown_fails_the_blocked_putter_but_none_already_served_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 1, NULL);
    weft_task *g[3];
    for (int i = 0; i < 3; i++) g[i] = weft_spawn(getter, NULL);
    settle();
    ASSERT_ERR(weft_queue_put(q, AS_ARG(1)), 0);  /* to g[0] */
    ASSERT_ERR(weft_queue_put(q, AS_ARG(2)), 0);  /* to g[1] */
    ASSERT_ERR(weft_queue_put(q, AS_ARG(3)), 0);  /* to g[2] */
    ASSERT_ERR(weft_queue_put(q, AS_ARG(4)), 0);  /* fills it */
    weft_task *p[3];
    for (int i = 0; i < 3; i++) p[i] = weft_spawn(putter, AS_ARG(5 + i));
    weft_task *late[2];
    for (int i = 0; i < 2; i++) late[i] = weft_spawn(getter, NULL);
    settle();
    /* Blocked getters got 1, 2, 3; the late ones 4, then 5, which p[0] had
     * put as 4 left; p[1]'s 6 fills the queue; p[2] waits. */
    ASSERT_EQ(weft_queue_size(q), 1);
    weft_queue_shutdown(q, 1);
    ASSERT_EQ(weft_queue_size(q), 0);
    for (int i = 0; i < 3; i++) ASSERT_ERR(joined(g[i]), 0);
    for (int i = 0; i < 2; i++) ASSERT_ERR(joined(late[i]), 0);
    ASSERT_ERR(joined(p[0]), 0);
    ASSERT_ERR(joined(p[1]), 0);
    ASSERT_ERR(joined(p[2]), WEFT_ECLOSED);
    ASSERT_ORDER(1, 2, 3, 4, 5, 105, 106);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(immediate_shutdown_fails_the_blocked_putter_but_none_already_served) { ASSERT_EQ(wt_run(immediate_shutdown_fails_the_blocked_putter_but_none_already_served_body, NULL), 0); }

static int immediate_shutdown_drops_items_and_fails_everyone_at_once_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_PRIORITY, 2, by_value);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(1)), 0);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(2)), 0);
    weft_task *p = weft_spawn(putter, AS_ARG(3));
    settle();
    weft_queue_shutdown(q, 1);
    ASSERT_EQ(weft_queue_size(q), 0);
    ASSERT_ERR(joined(p), WEFT_ECLOSED);
    weft_task *g = weft_spawn(getter, NULL);
    ASSERT_ERR(joined(g), WEFT_ECLOSED);
    void *item = AS_ARG(-1);
    ASSERT_ERR(weft_queue_try_get(q, &item), WEFT_ECLOSED);
    ASSERT_ERR(weft_queue_try_put(q, AS_ARG(4)), WEFT_ECLOSED);
    ASSERT_EQ(ID(item), -1);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(immediate_shutdown_drops_items_and_fails_everyone_at_once) { ASSERT_EQ(wt_run(immediate_shutdown_drops_items_and_fails_everyone_at_once_body, NULL), 0); }

static int immediate_shutdown_wakes_blocked_getters_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_LIFO, 0, NULL);
    weft_task *g[2];
    for (int i = 0; i < 2; i++) g[i] = weft_spawn(getter, NULL);
    settle();
    weft_queue_shutdown(q, 1);
    for (int i = 0; i < 2; i++) ASSERT_ERR(joined(g[i]), WEFT_ECLOSED);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(immediate_shutdown_wakes_blocked_getters) { ASSERT_EQ(wt_run(immediate_shutdown_wakes_blocked_getters_body, NULL), 0); }

/* ================================================================ misuse */

static int free_with_waiters_returns_ebusy_and_frees_nothing_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 0, NULL);
    weft_task *g = weft_spawn(getter, NULL);
    settle();
    ASSERT_ERR(weft_queue_free(q), WEFT_EBUSY);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(1)), 0);  /* still a working queue */
    ASSERT_ERR(joined(g), 0);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(free_with_waiters_returns_ebusy_and_frees_nothing) { ASSERT_EQ(wt_run(free_with_waiters_returns_ebusy_and_frees_nothing_body, NULL), 0); }

/* Items are borrowed: freeing a queue that still holds some drops them
 * without freeing them (the allocation check would catch a double free or
 * the queue's own buffer leaking). */
static int free_drops_queued_items_without_touching_them_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 0, NULL);
    int x = 42;
    for (int i = 0; i < 20; i++) ASSERT_ERR(weft_queue_put(q, &x), 0);
    ASSERT_ERR(weft_queue_free(q), 0);
    ASSERT_EQ(x, 42);
    return 0;
}
TEST(free_drops_queued_items_without_touching_them) { ASSERT_EQ(wt_run(free_drops_queued_items_without_touching_them_body, NULL), 0); }

static int queue_new_fill(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 0, NULL);
    return weft_queue_put(q, AS_ARG(1));
}

static int queue_drain(void *arg) {
    (void)arg;
    ASSERT_EQ(get_item(), 1);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(2)), 0);
    return 0;
}

/* From plain main(): no task, no loop. A queue made in one loop outlives it
 * and serves the next one (one loop at a time). */
TEST(queue_outside_any_task_refuses_to_suspend_and_outlives_its_loop) {
    weft_queue *out = NULL;
    ASSERT_ERR(weft_queue_new(&out, NULL), WEFT_ENOTASK);
    long live = wt_live_allocs;
    weft_loop_opts o = { .flags = WEFT_LOOP_VIRTUAL_CLOCK, .realloc = wt_realloc };
    ASSERT_EQ(weft_run_opts(&o, queue_new_fill, NULL), 0);
    void *item = AS_ARG(-1);
    ASSERT_ERR(weft_queue_get(q, &item), WEFT_ENOTASK);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(3)), WEFT_ENOTASK);
    ASSERT_EQ(ID(item), -1);
    ASSERT_EQ(weft_queue_size(q), 1);
    ASSERT_EQ(weft_run_opts(&o, queue_drain, NULL), 0);
    /* try_ calls are not suspension points: they need no task. */
    ASSERT_ERR(weft_queue_try_get(q, &item), 0);
    ASSERT_EQ(ID(item), 2);
    ASSERT_ERR(weft_queue_try_put(q, AS_ARG(4)), 0);
    ASSERT_ERR(weft_queue_free(q), 0);
    ASSERT_EQ(wt_live_allocs, live);
}

static void try_from_callback(void *arg) {
    int *errs = arg;
    void *item = AS_ARG(-1);
    errs[0] = weft_queue_try_put(q, AS_ARG(5));  /* to the waiting getter */
    errs[1] = weft_queue_try_put(q, AS_ARG(6));  /* queued */
    errs[2] = weft_queue_try_get(q, &item);
    errs[3] = ID(item);
}

/* A loop callback may feed a queue: it wakes the waiting getter. */
static int try_calls_from_a_loop_callback_feed_waiting_getters_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 0, NULL);
    int errs[4] = { 1, 1, 1, 1 };
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_call_later(WEFT_SECOND, try_from_callback, errs, NULL), 0);
    ASSERT_EQ(get_item(), 5);
    ASSERT_EQ(weft_now() - t0, WEFT_SECOND);
    ASSERT_ERR(errs[0], 0);
    ASSERT_ERR(errs[1], 0);
    ASSERT_ERR(errs[2], 0);
    ASSERT_EQ(errs[3], 6);
    ASSERT_EQ(weft_queue_size(q), 0);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(try_calls_from_a_loop_callback_feed_waiting_getters) { ASSERT_EQ(wt_run(try_calls_from_a_loop_callback_feed_waiting_getters_body, NULL), 0); }

/* ---------------------------------------------- another thread's loop */

static int touch_busy_queue(void *arg) {
    (void)arg;
    void *item = AS_ARG(-1);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(1)), WEFT_EWRONGLOOP);
    ASSERT_ERR(weft_queue_try_put(q, AS_ARG(1)), WEFT_EWRONGLOOP);
    ASSERT_ERR(weft_queue_get(q, &item), WEFT_EWRONGLOOP);
    ASSERT_ERR(weft_queue_try_get(q, &item), WEFT_EWRONGLOOP);
    ASSERT_EQ(ID(item), -1);
    return 0;
}

static int use_idle_queue(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_queue_put(q, AS_ARG(2)), 0);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(3)), 0);
    ASSERT_EQ(get_item(), 2);
    return 0;
}

static int queue_with_waiters_refuses_another_loop_and_idle_queue_moves_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 0, NULL);
    weft_task *g = weft_spawn(getter, NULL);
    settle();
    ASSERT_EQ(wt_run_on_other_thread(touch_busy_queue), 0);
    ASSERT_EQ(weft_queue_size(q), 0);
    ASSERT_ERR(weft_queue_put(q, AS_ARG(1)), 0);  /* still this loop's */
    ASSERT_ERR(joined(g), 0);
    ASSERT_ORDER(1);
    /* Nobody waits now: another loop may use it, then this one again. */
    ASSERT_EQ(wt_run_on_other_thread(use_idle_queue), 0);
    ASSERT_EQ(get_item(), 3);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(queue_with_waiters_refuses_another_loop_and_idle_queue_moves) { ASSERT_EQ(wt_run(queue_with_waiters_refuses_another_loop_and_idle_queue_moves_body, NULL), 0); }

/* A shutdown unlinks every waiter it fails, so the queue may be freed at
 * once, before the woken tasks run: none of them touches it again. */
static int queue_can_be_freed_right_after_shutdown_body(void *arg) {
    (void)arg;
    make(WEFT_QUEUE_FIFO, 0, NULL);
    weft_task *g[2];
    for (int i = 0; i < 2; i++) g[i] = weft_spawn(getter, NULL);
    settle();
    weft_queue_shutdown(q, 0);
    ASSERT_ERR(weft_queue_free(q), 0);
    for (int i = 0; i < 2; i++) ASSERT_ERR(joined(g[i]), WEFT_ECLOSED);
    return 0;
}
TEST(queue_can_be_freed_right_after_shutdown) { ASSERT_EQ(wt_run(queue_can_be_freed_right_after_shutdown_body, NULL), 0); }

/* ================================================================ stress
 *
 * Producers and consumers with random short deadlines on a small bounded
 * queue, consumers cancelled and replaced as they go, then a draining
 * shutdown: every item whose put succeeded is got exactly once, and no item
 * whose put failed ever comes out. */

static unsigned rng = 1;
static unsigned rnd(unsigned n) {
    rng = rng * 1103515245u + 12345u;
    return (rng >> 16) % n;
}

#define NPROD 6
#define PER_PROD 60
static unsigned char put_ok[NPROD * PER_PROD], got_n[NPROD * PER_PROD];

static void *stress_producer(void *arg) {
    for (int i = 0; i < PER_PROD; i++) {
        int item = ID(arg) * PER_PROD + i;
        weft_scope sc;
        ASSERT_ERR(weft_timeout_enter(&sc, (int64_t)(1 + rnd(4)) * WEFT_MILLISECOND), 0);
        int err = weft_queue_put(q, AS_ARG(item));
        weft_scope_leave(&sc);
        if (err) ASSERT_ERR(err, WEFT_ETIMEDOUT);
        else put_ok[item] = 1;
        if (rnd(3) == 0) ASSERT_ERR(weft_sleep((int64_t)rnd(3) * WEFT_MILLISECOND), 0);
    }
    return NULL;
}

static void *stress_consumer(void *arg) {
    (void)arg;
    for (;;) {
        weft_scope sc;
        ASSERT_ERR(weft_timeout_enter(&sc, (int64_t)(1 + rnd(6)) * WEFT_MILLISECOND), 0);
        void *item = AS_ARG(-1);
        int err = weft_queue_get(q, &item);
        weft_scope_leave(&sc);
        if (err == WEFT_ECLOSED || err == WEFT_ECANCELED) return NULL;
        if (err) {
            ASSERT_ERR(err, WEFT_ETIMEDOUT);
            ASSERT_EQ(ID(item), -1);
            continue;
        }
        got_n[ID(item)]++;
        if (rnd(2) == 0 && weft_sleep((int64_t)rnd(4) * WEFT_MILLISECOND)) return NULL;
    }
}

static int stress_body(int kind) {
    make(kind, 3, kind == WEFT_QUEUE_PRIORITY ? by_value : NULL);
    weft_task *p[NPROD], *c[4];
    for (int i = 0; i < NPROD; i++) p[i] = weft_spawn(stress_producer, AS_ARG(i));
    for (int i = 0; i < 4; i++) c[i] = weft_spawn(stress_consumer, NULL);
    for (int k = 0; k < 15; k++) {
        ASSERT_ERR(weft_sleep(3 * WEFT_MILLISECOND), 0);
        int victim = (int)rnd(4);
        weft_cancel(c[victim]);
        ASSERT_ERR(joined(c[victim]), 0);
        c[victim] = weft_spawn(stress_consumer, NULL);
    }
    for (int i = 0; i < NPROD; i++) ASSERT_ERR(joined(p[i]), 0);
    weft_queue_shutdown(q, 0);
    for (int i = 0; i < 4; i++) ASSERT_ERR(joined(c[i]), 0);
    int nput = 0;
    for (int i = 0; i < NPROD * PER_PROD; i++) {
        ASSERT_EQ(got_n[i], put_ok[i]);
        nput += put_ok[i];
    }
    /* Both outcomes happened often enough to mean something. */
    ASSERT(nput > NPROD * PER_PROD / 4);
    ASSERT(nput < NPROD * PER_PROD);
    ASSERT_EQ(weft_queue_size(q), 0);
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}

static int fifo_stress_body(void *arg) { (void)arg; return stress_body(WEFT_QUEUE_FIFO); }
static int lifo_stress_body(void *arg) { (void)arg; return stress_body(WEFT_QUEUE_LIFO); }
static int priority_stress_body(void *arg) { (void)arg; return stress_body(WEFT_QUEUE_PRIORITY); }
TEST(fifo_queue_loses_and_invents_no_item_under_timeouts_and_cancels) { ASSERT_EQ(wt_run(fifo_stress_body, NULL), 0); }
TEST(lifo_queue_loses_and_invents_no_item_under_timeouts_and_cancels) { ASSERT_EQ(wt_run(lifo_stress_body, NULL), 0); }
TEST(priority_queue_loses_and_invents_no_item_under_timeouts_and_cancels) { ASSERT_EQ(wt_run(priority_stress_body, NULL), 0); }
