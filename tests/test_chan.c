/* Channels (weft/chan.h). Within one loop: FIFO order, backpressure, FIFO
 * service of blocked putters and getters, the try_ calls, close (refused
 * puts, drained gets, woken waiters), deadlines and cancellation before,
 * during and after the hand-off (a cancelled call did nothing; a served one
 * did all of it), and the calls made outside any task. Across loops, each
 * on a thread of its own: 100,000 messages both ways through capacities 1
 * and 4, many producers and consumers on three loops, close with waiters on
 * several loops, cancel storms, and a getter (and a putter) cancelled
 * exactly as it is served: every item arrives exactly once, in order per
 * producer.
 *
 * Items are small integers cast to pointers; tasks return their call's code
 * as their result. The cross-loop cases run on the real clock and the C
 * library's allocator (the counting one is not thread-safe). */
#include "test.h"
#include "wt_order.h"

#include <weft/chan.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

static weft_chan *c;

static void make(size_t capacity) { ASSERT_ERR(weft_chan_new(&c, capacity), 0); }

static int get_item(void) {
    void *item = AS_ARG(-1);
    ASSERT_ERR(weft_chan_get(c, &item), 0);
    return ID(item);
}

/* Gets one item and notes it; *out untouched on failure. */
static void *getter(void *arg) {
    (void)arg;
    void *item = AS_ARG(-1);
    int err = weft_chan_get(c, &item);
    if (err) {
        ASSERT_EQ(ID(item), -1);
        return RESULT(err);
    }
    note(ID(item));
    return RESULT(0);
}

/* Puts arg, noting 100 + arg once it is in. */
static void *putter(void *arg) {
    int err = weft_chan_put(c, arg);
    if (!err) note(100 + ID(arg));
    return RESULT(err);
}

/* ======================================================== within one loop */

TEST(chan_new_rejects_zero_capacity_and_free_null_is_a_no_op) {
    weft_chan *sentinel = (weft_chan *)&norder, *out = sentinel;
    ASSERT_ERR(weft_chan_new(&out, 0), WEFT_EINVAL);
    ASSERT(out == sentinel);
    ASSERT_ERR(weft_chan_new(&out, SIZE_MAX), WEFT_ENOMEM);
    ASSERT(out == sentinel);
    ASSERT_ERR(weft_chan_free(NULL), 0);
    /* Made outside any loop: its memory is not a loop's. */
    ASSERT_ERR(weft_chan_new(&out, 1), 0);
    ASSERT_ERR(weft_chan_free(out), 0);
}

/* Interleaved puts and gets make the ring wrap many times. */
static int chan_returns_items_in_put_order_body(void *arg) {
    (void)arg;
    make(7);
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 5; i++) ASSERT_ERR(weft_chan_put(c, AS_ARG(next_in++)), 0);
        for (int i = 0; i < 3; i++) ASSERT_EQ(get_item(), next_out++);
        while (next_in - next_out > 2) ASSERT_EQ(get_item(), next_out++);  /* room for 5 */
        ASSERT_EQ(weft_chan_size(c), (size_t)(next_in - next_out));
    }
    while (next_out < next_in) ASSERT_EQ(get_item(), next_out++);
    ASSERT_EQ(weft_chan_size(c), 0);
    ASSERT_ERR(weft_chan_free(c), 0);
    return 0;
}
TEST(chan_returns_items_in_put_order) { ASSERT_EQ(wt_run(chan_returns_items_in_put_order_body, NULL), 0); }

static void *producer(void *arg) {
    for (int i = 0; i < ID(arg); i++) {
        int err = weft_chan_put(c, AS_ARG(i));
        if (err) return RESULT(err);
        note(i);
        ASSERT(weft_chan_size(c) <= 2);
    }
    return RESULT(0);
}

static int chan_put_waits_while_full_and_resumes_as_gets_make_room_body(void *arg) {
    (void)arg;
    make(2);
    weft_task *p = weft_spawn(producer, AS_ARG(6));
    settle();
    ASSERT_ORDER(0, 1);                      /* two in, the third waits */
    ASSERT_EQ(weft_task_state(p), WEFT_TASK_WAITING);
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ(get_item(), i);
        /* The room went straight to the waiting put: still full. */
        ASSERT_EQ(weft_chan_size(c), 2);
        ASSERT_ERR(weft_chan_try_put(c, AS_ARG(99)), WEFT_EAGAIN);
        settle();
        ASSERT_EQ(norder, 3 + i);
    }
    ASSERT_ERR(joined(p), 0);
    ASSERT_EQ(get_item(), 4);
    ASSERT_EQ(get_item(), 5);
    ASSERT_ERR(weft_chan_free(c), 0);
    return 0;
}
TEST(chan_put_waits_while_full_and_resumes_as_gets_make_room) { ASSERT_EQ(wt_run(chan_put_waits_while_full_and_resumes_as_gets_make_room_body, NULL), 0); }

/* A fast producer is held to a slow consumer's pace. */
static void *slow_consumer(void *arg) {
    for (int i = 0; i < ID(arg); i++) {
        ASSERT_ERR(weft_sleep(WEFT_SECOND), 0);
        ASSERT_EQ(get_item(), i);
    }
    return RESULT(0);
}

static int chan_fast_producer_is_paced_by_slow_consumer_body(void *arg) {
    (void)arg;
    make(3);
    int64_t t0 = weft_now();
    weft_task *k = weft_spawn(slow_consumer, AS_ARG(10));
    for (int i = 0; i < 10; i++) ASSERT_ERR(weft_chan_put(c, AS_ARG(i)), 0);
    ASSERT_EQ(weft_now() - t0, 7 * WEFT_SECOND);
    ASSERT_ERR(joined(k), 0);
    ASSERT_ERR(weft_chan_free(c), 0);
    return 0;
}
TEST(chan_fast_producer_is_paced_by_slow_consumer) { ASSERT_EQ(wt_run(chan_fast_producer_is_paced_by_slow_consumer_body, NULL), 0); }

static int chan_try_calls_change_nothing_when_full_or_empty_body(void *arg) {
    (void)arg;
    make(2);
    void *item = AS_ARG(-1);
    ASSERT_ERR(weft_chan_try_get(c, &item), WEFT_EAGAIN);
    ASSERT_EQ(ID(item), -1);
    ASSERT_ERR(weft_chan_try_put(c, AS_ARG(1)), 0);
    ASSERT_ERR(weft_chan_try_put(c, AS_ARG(2)), 0);
    ASSERT_ERR(weft_chan_try_put(c, AS_ARG(3)), WEFT_EAGAIN);
    ASSERT_EQ(weft_chan_size(c), 2);
    ASSERT_ERR(weft_chan_try_get(c, &item), 0);
    ASSERT_EQ(ID(item), 1);
    ASSERT_ERR(weft_chan_try_get(c, &item), 0);
    ASSERT_EQ(ID(item), 2);
    item = AS_ARG(-1);
    ASSERT_ERR(weft_chan_try_get(c, &item), WEFT_EAGAIN);
    ASSERT_EQ(ID(item), -1);
    ASSERT_ERR(weft_chan_free(c), 0);
    return 0;
}
TEST(chan_try_calls_change_nothing_when_full_or_empty) { ASSERT_EQ(wt_run(chan_try_calls_change_nothing_when_full_or_empty_body, NULL), 0); }

/* A try_get that makes room serves the first waiting putter; a try_put
 * with a getter waiting hands the item to it. */
static int chan_try_calls_serve_waiters_body(void *arg) {
    (void)arg;
    make(1);
    ASSERT_ERR(weft_chan_put(c, AS_ARG(1)), 0);
    weft_task *p = weft_spawn(putter, AS_ARG(2));
    settle();
    void *item;
    ASSERT_ERR(weft_chan_try_get(c, &item), 0);
    ASSERT_EQ(ID(item), 1);
    ASSERT_EQ(weft_chan_size(c), 1);
    ASSERT_ERR(joined(p), 0);
    ASSERT_EQ(get_item(), 2);
    weft_task *g = weft_spawn(getter, NULL);
    settle();
    ASSERT_ERR(weft_chan_try_put(c, AS_ARG(3)), 0);
    ASSERT_EQ(weft_chan_size(c), 0);
    ASSERT_ERR(weft_chan_try_get(c, &item), WEFT_EAGAIN);  /* g's, not ours */
    ASSERT_ERR(joined(g), 0);
    ASSERT_ORDER(102, 3);
    ASSERT_ERR(weft_chan_free(c), 0);
    return 0;
}
TEST(chan_try_calls_serve_waiters) { ASSERT_EQ(wt_run(chan_try_calls_serve_waiters_body, NULL), 0); }

static int chan_blocked_putters_and_getters_are_served_in_arrival_order_body(void *arg) {
    (void)arg;
    make(1);
    ASSERT_ERR(weft_chan_put(c, AS_ARG(0)), 0);
    weft_task *p[4];
    for (int i = 0; i < 4; i++) p[i] = weft_spawn(putter, AS_ARG(i + 1));
    settle();
    ASSERT_EQ(norder, 0);
    for (int i = 0; i <= 4; i++) ASSERT_EQ(get_item(), i);
    for (int i = 0; i < 4; i++) ASSERT_ERR(joined(p[i]), 0);
    ASSERT_ORDER(101, 102, 103, 104);
    norder = 0;
    weft_task *g[4];
    for (int i = 0; i < 4; i++) g[i] = weft_spawn(getter, NULL);
    settle();
    for (int i = 0; i < 4; i++) ASSERT_ERR(weft_chan_put(c, AS_ARG(10 + i)), 0);
    ASSERT_EQ(weft_chan_size(c), 0);  /* each went straight to a getter */
    for (int i = 0; i < 4; i++) ASSERT_ERR(joined(g[i]), 0);
    ASSERT_ORDER(10, 11, 12, 13);
    ASSERT_ERR(weft_chan_free(c), 0);
    return 0;
}
TEST(chan_blocked_putters_and_getters_are_served_in_arrival_order) { ASSERT_EQ(wt_run(chan_blocked_putters_and_getters_are_served_in_arrival_order_body, NULL), 0); }

/* =================================================================== close */

static int chan_close_refuses_puts_and_lets_getters_drain_then_eof_body(void *arg) {
    (void)arg;
    make(4);
    ASSERT_ERR(weft_chan_put(c, AS_ARG(1)), 0);
    ASSERT_ERR(weft_chan_put(c, AS_ARG(2)), 0);
    weft_chan_close(c);
    weft_chan_close(c);  /* idempotent */
    ASSERT_ERR(weft_chan_put(c, AS_ARG(3)), WEFT_ECLOSED);
    ASSERT_ERR(weft_chan_try_put(c, AS_ARG(3)), WEFT_ECLOSED);
    ASSERT_EQ(weft_chan_size(c), 2);
    ASSERT_EQ(get_item(), 1);
    void *item = AS_ARG(-1);
    ASSERT_ERR(weft_chan_try_get(c, &item), 0);
    ASSERT_EQ(ID(item), 2);
    item = AS_ARG(-1);
    ASSERT_ERR(weft_chan_get(c, &item), WEFT_EOF);
    ASSERT_ERR(weft_chan_try_get(c, &item), WEFT_EOF);
    ASSERT_EQ(ID(item), -1);
    ASSERT_ERR(weft_chan_free(c), 0);
    return 0;
}
TEST(chan_close_refuses_puts_and_lets_getters_drain_then_eof) { ASSERT_EQ(wt_run(chan_close_refuses_puts_and_lets_getters_drain_then_eof_body, NULL), 0); }

static int chan_close_wakes_waiting_putters_and_getters_body(void *arg) {
    (void)arg;
    weft_chan *full, *empty;
    ASSERT_ERR(weft_chan_new(&full, 1), 0);
    ASSERT_ERR(weft_chan_new(&empty, 1), 0);
    c = full;
    ASSERT_ERR(weft_chan_put(c, AS_ARG(1)), 0);
    weft_task *p[2] = { weft_spawn(putter, AS_ARG(2)), weft_spawn(putter, AS_ARG(3)) };
    settle();
    c = empty;
    weft_task *g[2] = { weft_spawn(getter, NULL), weft_spawn(getter, NULL) };
    settle();
    weft_chan_close(full);
    weft_chan_close(empty);
    /* Woken but not yet returned: they still count as inside. */
    ASSERT_ERR(weft_chan_free(empty), WEFT_EBUSY);
    for (int i = 0; i < 2; i++) ASSERT_ERR(joined(p[i]), WEFT_ECLOSED);
    for (int i = 0; i < 2; i++) ASSERT_ERR(joined(g[i]), WEFT_EOF);
    ASSERT_EQ(norder, 0);
    c = full;
    ASSERT_EQ(get_item(), 1);  /* what was in stays to be drained */
    ASSERT_ERR(weft_chan_free(full), 0);
    ASSERT_ERR(weft_chan_free(empty), 0);
    return 0;
}
TEST(chan_close_wakes_waiting_putters_and_getters) { ASSERT_EQ(wt_run(chan_close_wakes_waiting_putters_and_getters_body, NULL), 0); }

static int chan_free_is_ebusy_while_a_task_waits_body(void *arg) {
    (void)arg;
    make(1);
    weft_task *g = weft_spawn(getter, NULL);
    settle();
    ASSERT_ERR(weft_chan_free(c), WEFT_EBUSY);
    ASSERT_ERR(weft_chan_put(c, AS_ARG(5)), 0);
    ASSERT_ERR(weft_chan_free(c), WEFT_EBUSY);  /* served, not yet returned */
    ASSERT_ERR(joined(g), 0);
    ASSERT_ORDER(5);
    ASSERT_ERR(weft_chan_free(c), 0);
    return 0;
}
TEST(chan_free_is_ebusy_while_a_task_waits) { ASSERT_EQ(wt_run(chan_free_is_ebusy_while_a_task_waits_body, NULL), 0); }

/* ====================================================== outside any task */

static void try_put_from_callback(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_chan_put(c, AS_ARG(0)), WEFT_ENOTASK);
    ASSERT_ERR(weft_chan_try_put(c, AS_ARG(8)), 0);  /* wakes the getter directly */
}

static int chan_suspension_points_need_a_task_but_try_calls_do_not_body(void *arg) {
    (void)arg;
    weft_task *g = weft_spawn(getter, NULL);
    settle();
    ASSERT_ERR(weft_call_soon(try_put_from_callback, NULL), 0);
    ASSERT_ERR(joined(g), 0);
    ASSERT_ORDER(8);
    return 0;
}

TEST(chan_suspension_points_need_a_task_but_try_calls_do_not) {
    make(2);
    void *item = AS_ARG(-1);
    /* No loop on this thread at all. */
    ASSERT_ERR(weft_chan_put(c, AS_ARG(1)), WEFT_ENOTASK);
    ASSERT_ERR(weft_chan_get(c, &item), WEFT_ENOTASK);
    ASSERT_EQ(ID(item), -1);
    ASSERT_EQ(weft_chan_size(c), 0);
    ASSERT_ERR(weft_chan_try_put(c, AS_ARG(1)), 0);
    ASSERT_ERR(weft_chan_try_get(c, &item), 0);
    ASSERT_EQ(ID(item), 1);
    /* A loop callback is no task either. */
    ASSERT_EQ(wt_run(chan_suspension_points_need_a_task_but_try_calls_do_not_body, NULL), 0);
    weft_chan_close(c);
    ASSERT_ERR(weft_chan_free(c), 0);
}

/* ============================================ deadlines and cancellation */

static void *getter_with_timeout(void *arg) {
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, (int64_t)(intptr_t)arg), 0);
    void *item = AS_ARG(-1);
    int err = weft_chan_get(c, &item);
    ASSERT_ERR(weft_scope_leave(&sc), err);
    if (err) {
        ASSERT_EQ(ID(item), -1);
        return RESULT(err);
    }
    note(ID(item));
    return RESULT(0);
}

static void *putter_with_timeout(void *arg) {
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, WEFT_SECOND), 0);
    int err = weft_chan_put(c, arg);
    ASSERT_ERR(weft_scope_leave(&sc), err);
    return RESULT(err);
}

static int chan_get_times_out_taking_nothing_and_put_adding_nothing_body(void *arg) {
    (void)arg;
    make(1);
    int64_t t0 = weft_now();
    weft_task *a = weft_spawn(getter_with_timeout, AS_ARG(2 * WEFT_SECOND));
    weft_task *b = weft_spawn(getter, NULL);
    ASSERT_ERR(joined(a), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_now() - t0, 2 * WEFT_SECOND);
    ASSERT_ERR(weft_chan_put(c, AS_ARG(8)), 0);  /* to b, not lost on a */
    ASSERT_ERR(joined(b), 0);
    ASSERT_ORDER(8);
    ASSERT_ERR(weft_chan_put(c, AS_ARG(1)), 0);
    t0 = weft_now();
    ASSERT_ERR(joined(weft_spawn(putter_with_timeout, AS_ARG(2))), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_now() - t0, WEFT_SECOND);
    ASSERT_EQ(weft_chan_size(c), 1);
    ASSERT_EQ(get_item(), 1);
    ASSERT_ERR(weft_chan_try_get(c, &(void *){ 0 }), WEFT_EAGAIN);
    ASSERT_ERR(weft_chan_free(c), 0);
    return 0;
}
TEST(chan_get_times_out_taking_nothing_and_put_adding_nothing) { ASSERT_EQ(wt_run(chan_get_times_out_taking_nothing_and_put_adding_nothing_body, NULL), 0); }

static int chan_get_within_its_deadline_gets_the_item_body(void *arg) {
    (void)arg;
    make(1);
    weft_task *a = weft_spawn(getter_with_timeout, AS_ARG(2 * WEFT_SECOND));
    ASSERT_ERR(weft_sleep(WEFT_SECOND), 0);
    ASSERT_ERR(weft_chan_put(c, AS_ARG(4)), 0);
    ASSERT_ERR(joined(a), 0);
    ASSERT_ORDER(4);
    ASSERT_ERR(weft_chan_free(c), 0);
    return 0;
}
TEST(chan_get_within_its_deadline_gets_the_item) { ASSERT_EQ(wt_run(chan_get_within_its_deadline_gets_the_item_body, NULL), 0); }

static void *cancelled_then_put_and_get(void *arg) {
    (void)arg;
    weft_cancel(weft_current());
    void *item = AS_ARG(-1);
    ASSERT_ERR(weft_chan_get(c, &item), WEFT_ECANCELED);
    ASSERT_EQ(ID(item), -1);
    return RESULT(weft_chan_put(c, AS_ARG(9)));
}

/* Point one, the entry: with an item to take and room to put, a cancelled
 * task does neither. */
static int chan_cancelled_before_the_call_does_nothing_body(void *arg) {
    (void)arg;
    make(2);
    ASSERT_ERR(weft_chan_put(c, AS_ARG(1)), 0);
    ASSERT_ERR(joined(weft_spawn(cancelled_then_put_and_get, NULL)), WEFT_ECANCELED);
    ASSERT_EQ(weft_chan_size(c), 1);
    ASSERT_EQ(get_item(), 1);
    ASSERT_ERR(weft_chan_free(c), 0);
    return 0;
}
TEST(chan_cancelled_before_the_call_does_nothing) { ASSERT_EQ(wt_run(chan_cancelled_before_the_call_does_nothing_body, NULL), 0); }

/* Point two, the wait: a cancelled get took nothing (the next getter has
 * it), a cancelled put added nothing (the next putter gets the room). */
static int chan_cancelled_while_waiting_does_nothing_body(void *arg) {
    (void)arg;
    make(1);
    weft_task *a = weft_spawn(getter, NULL), *b = weft_spawn(getter, NULL);
    settle();
    weft_cancel(a);
    ASSERT_ERR(weft_chan_put(c, AS_ARG(3)), 0);  /* same step as the cancel */
    ASSERT_ERR(joined(a), WEFT_ECANCELED);
    ASSERT_ERR(joined(b), 0);
    ASSERT_ORDER(3);
    ASSERT_ERR(weft_chan_put(c, AS_ARG(1)), 0);
    a = weft_spawn(putter, AS_ARG(2));
    b = weft_spawn(putter, AS_ARG(3));
    settle();
    weft_cancel(a);
    ASSERT_EQ(get_item(), 1);  /* the room goes to b */
    ASSERT_ERR(joined(a), WEFT_ECANCELED);
    ASSERT_ERR(joined(b), 0);
    ASSERT_EQ(get_item(), 3);
    ASSERT_ERR(weft_chan_try_get(c, &(void *){ 0 }), WEFT_EAGAIN);
    ASSERT_ORDER(3, 103);
    ASSERT_ERR(weft_chan_free(c), 0);
    return 0;
}
TEST(chan_cancelled_while_waiting_does_nothing) { ASSERT_EQ(wt_run(chan_cancelled_while_waiting_does_nothing_body, NULL), 0); }

/* Gets under a timeout scope, then reports what the next suspension point
 * and the scope's leave say. */
static int next_point, leave_code;
static void *getter_then_yield(void *arg) {
    (void)arg;
    weft_scope sc;
    ASSERT_ERR(weft_scope_enter(&sc, WEFT_FOREVER), 0);
    void *item = AS_ARG(-1);
    int err = weft_chan_get(c, &item);
    if (!err) note(ID(item));
    next_point = weft_yield();
    leave_code = weft_scope_leave(&sc);
    return RESULT(err);
}

/* Point three, after the hand-off: a getter served and then cancelled
 * before it ran keeps its item; the cancel is the next point's. */
static int chan_getter_served_then_cancelled_keeps_the_item_body(void *arg) {
    (void)arg;
    make(1);
    weft_task *a = weft_spawn(getter_then_yield, NULL);
    settle();
    ASSERT_ERR(weft_chan_put(c, AS_ARG(6)), 0);
    weft_cancel(a);
    ASSERT_ERR(joined(a), 0);
    ASSERT_ORDER(6);
    ASSERT_ERR(next_point, WEFT_ECANCELED);
    ASSERT_ERR(leave_code, 0);  /* the task's cancel, not the scope's */
    ASSERT_EQ(weft_chan_size(c), 0);
    ASSERT_ERR(weft_chan_free(c), 0);
    return 0;
}
TEST(chan_getter_served_then_cancelled_keeps_the_item) { ASSERT_EQ(wt_run(chan_getter_served_then_cancelled_keeps_the_item_body, NULL), 0); }

static int chan_putter_served_then_cancelled_has_put_body(void *arg) {
    (void)arg;
    make(1);
    ASSERT_ERR(weft_chan_put(c, AS_ARG(1)), 0);
    weft_task *a = weft_spawn(putter, AS_ARG(2));
    settle();
    ASSERT_EQ(get_item(), 1);  /* takes 2 in for a */
    weft_cancel(a);
    ASSERT_ERR(joined(a), 0);
    ASSERT_EQ(get_item(), 2);
    ASSERT_ORDER(102);
    ASSERT_ERR(weft_chan_free(c), 0);
    return 0;
}
TEST(chan_putter_served_then_cancelled_has_put) { ASSERT_EQ(wt_run(chan_putter_served_then_cancelled_has_put_body, NULL), 0); }

/* A scope around a waiting get, cancelled: the scope catches it. */
static weft_scope *inner;
static void *getter_in_scope(void *arg) {
    (void)arg;
    weft_scope sc;
    ASSERT_ERR(weft_scope_enter(&sc, WEFT_FOREVER), 0);
    inner = &sc;
    void *item = AS_ARG(-1);
    int err = weft_chan_get(c, &item);
    ASSERT_ERR(err, WEFT_ECANCELED);
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ECANCELED);
    ASSERT_EQ(ID(item), -1);
    return RESULT(weft_yield());  /* the cancel ended at the scope */
}

static int chan_cancelled_scope_catches_its_waiting_get_body(void *arg) {
    (void)arg;
    make(1);
    weft_task *a = weft_spawn(getter_in_scope, NULL);
    settle();
    weft_scope_cancel(inner);
    ASSERT_ERR(joined(a), 0);
    ASSERT_ERR(weft_chan_free(c), 0);
    return 0;
}
TEST(chan_cancelled_scope_catches_its_waiting_get) { ASSERT_EQ(wt_run(chan_cancelled_scope_catches_its_waiting_get_body, NULL), 0); }

/* ============================================================ across loops
 *
 * n loops on n threads, each running fn(args[i]) as its main; all joined,
 * each main must return 0. */
typedef struct { int (*fn)(void *); void *arg; int result; pthread_t th; } loop_thread;

static void *loop_thread_main(void *p) {
    loop_thread *lt = p;
    lt->result = weft_run_opts(NULL, lt->fn, lt->arg);
    return NULL;
}

static void run_each(int n, int (*const *fns)(void *), void *const *args) {
    loop_thread lt[8];
    ASSERT(n <= 8);
    for (int i = 0; i < n; i++) {
        lt[i] = (loop_thread){ fns[i], args[i], -1, 0 };
        ASSERT_EQ(pthread_create(&lt[i].th, NULL, loop_thread_main, &lt[i]), 0);
    }
    for (int i = 0; i < n; i++) {
        ASSERT_EQ(pthread_join(lt[i].th, NULL), 0);
        ASSERT_ERR(lt[i].result, 0);
    }
}

static void run_loops(int n, int (*fn)(void *), void *const *args) {
    int (*fns[8])(void *) = { fn, fn, fn, fn, fn, fn, fn, fn };
    run_each(n, fns, args);
}

/* Two loops, each sending N items to the other on one channel while
 * receiving N on the other: both directions at once, tiny capacities. */
#define PINGN 100000
static weft_chan *ab, *ba;

typedef struct { weft_chan *out, *in; } duplex;

static void *send_n(void *arg) {
    weft_chan *ch = arg;
    for (intptr_t i = 1; i <= PINGN; i++) ASSERT_ERR(weft_chan_put(ch, (void *)i), 0);
    return NULL;
}

static int duplex_main(void *arg) {
    duplex *d = arg;
    weft_task *s = weft_spawn(send_n, d->out);
    ASSERT(s);
    for (intptr_t i = 1; i <= PINGN; i++) {
        void *item = NULL;
        ASSERT_ERR(weft_chan_get(d->in, &item), 0);
        ASSERT_EQ((intptr_t)item, i);
    }
    ASSERT_ERR(weft_join(s, NULL), 0);
    ASSERT_EQ(weft_chan_size(d->in), 0);
    return 0;
}

static void both_ways(size_t cap_ab, size_t cap_ba) {
    ASSERT_ERR(weft_chan_new(&ab, cap_ab), 0);
    ASSERT_ERR(weft_chan_new(&ba, cap_ba), 0);
    duplex a = { ab, ba }, b = { ba, ab };
    void *args[2] = { &a, &b };
    run_loops(2, duplex_main, args);
    ASSERT_ERR(weft_chan_free(ab), 0);
    ASSERT_ERR(weft_chan_free(ba), 0);
}

TEST(chan_two_loops_pass_100k_messages_both_ways_capacity_1) { both_ways(1, 1); }
TEST(chan_two_loops_pass_100k_messages_both_ways_capacity_4) { both_ways(4, 3); }

/* Many producers and consumers on three loops sharing one channel. Items
 * are producer << 20 | serial; each consumer must see every producer's
 * serials rising, and every item must arrive exactly once. */
#define NLOOPS 3
#define PER_LOOP 2                 /* producers, and consumers, per loop */
#define NPROD (NLOOPS * PER_LOOP)
#define PERPROD 20000
static unsigned char seen[NPROD][PERPROD + 1];
static int producers_left;

static void *mpmc_producer(void *arg) {
    intptr_t id = (intptr_t)arg;
    for (intptr_t i = 1; i <= PERPROD; i++) ASSERT_ERR(weft_chan_put(c, (void *)(id << 20 | i)), 0);
    if (__atomic_sub_fetch(&producers_left, 1, __ATOMIC_ACQ_REL) == 0) weft_chan_close(c);
    return NULL;
}

static void *mpmc_consumer(void *arg) {
    (void)arg;
    intptr_t last[NPROD] = { 0 };
    for (;;) {
        void *item;
        int err = weft_chan_get(c, &item);
        if (err == WEFT_EOF) return NULL;
        ASSERT_ERR(err, 0);
        intptr_t id = (intptr_t)item >> 20, serial = (intptr_t)item & ((1 << 20) - 1);
        ASSERT(id >= 0 && id < NPROD && serial >= 1 && serial <= PERPROD);
        ASSERT(serial > last[id]);
        last[id] = serial;
        ASSERT_EQ(__atomic_fetch_add(&seen[id][serial], 1, __ATOMIC_RELAXED), 0);
    }
}

static int mpmc_main(void *arg) {
    intptr_t loop = (intptr_t)arg;
    weft_task *t[2 * PER_LOOP];
    for (int i = 0; i < PER_LOOP; i++) {
        t[2 * i] = weft_spawn(mpmc_producer, (void *)(loop * PER_LOOP + i));
        t[2 * i + 1] = weft_spawn(mpmc_consumer, NULL);
    }
    return weft_gather(t, 2 * PER_LOOP, NULL);
}

TEST(chan_many_producers_and_consumers_on_three_loops) {
    make(2);
    producers_left = NPROD;
    void *args[NLOOPS];
    for (intptr_t i = 0; i < NLOOPS; i++) args[i] = (void *)i;
    run_loops(NLOOPS, mpmc_main, args);
    for (int p = 0; p < NPROD; p++)
        for (int i = 1; i <= PERPROD; i++) ASSERT_EQ(seen[p][i], 1);
    ASSERT_ERR(weft_chan_free(c), 0);
}

/* Close from a plain thread while getters and putters wait on three loops:
 * every one wakes, putters with ECLOSED, getters with EOF. */
static weft_chan *full, *empty;
static int waiting_now, woken_right;

static void *close_putter(void *arg) {
    (void)arg;
    __atomic_add_fetch(&waiting_now, 1, __ATOMIC_RELEASE);
    ASSERT_ERR(weft_chan_put(full, AS_ARG(2)), WEFT_ECLOSED);
    __atomic_add_fetch(&woken_right, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void *close_getter(void *arg) {
    (void)arg;
    void *item = AS_ARG(-1);
    __atomic_add_fetch(&waiting_now, 1, __ATOMIC_RELEASE);
    ASSERT_ERR(weft_chan_get(empty, &item), WEFT_EOF);
    ASSERT_EQ(ID(item), -1);
    __atomic_add_fetch(&woken_right, 1, __ATOMIC_RELAXED);
    return NULL;
}

static int close_main(void *arg) {
    (void)arg;
    weft_task *t[4] = { weft_spawn(close_putter, NULL), weft_spawn(close_getter, NULL),
                        weft_spawn(close_putter, NULL), weft_spawn(close_getter, NULL) };
    return weft_gather(t, 4, NULL);
}

static void *closer(void *arg) {
    (void)arg;
    while (__atomic_load_n(&waiting_now, __ATOMIC_ACQUIRE) < NLOOPS * 4) usleep(1000);
    usleep(20000);  /* let them park (if one has not yet, it finds the channel closed) */
    weft_chan_close(full);
    weft_chan_close(empty);
    return NULL;
}

TEST(chan_close_from_a_plain_thread_wakes_waiters_on_three_loops) {
    ASSERT_ERR(weft_chan_new(&full, 1), 0);
    ASSERT_ERR(weft_chan_new(&empty, 1), 0);
    ASSERT_ERR(weft_chan_try_put(full, AS_ARG(1)), 0);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, closer, NULL), 0);
    void *args[NLOOPS] = { 0 };
    run_loops(NLOOPS, close_main, args);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_EQ(woken_right, NLOOPS * 4);
    void *item;
    ASSERT_ERR(weft_chan_try_get(full, &item), 0);
    ASSERT_EQ(ID(item), 1);
    ASSERT_ERR(weft_chan_free(full), 0);
    ASSERT_ERR(weft_chan_free(empty), 0);
}

/* Cancel storm: on three loops, putters and getters with deadlines of a
 * few microseconds, and a canceller cancelling whatever waits, on a
 * channel of capacity 1. Every item whose put returned 0 must come out
 * exactly once (from a get that returned 0, or the final drain), and no
 * other item at all. It stops after STORM_ITEMS puts or a second, whichever
 * is first (ThreadSanitizer makes every step ~10 times slower). */
#define STORM_ITEMS 60000
static unsigned char put_ok[STORM_ITEMS], got[STORM_ITEMS];
static int next_item;
static int storm_cancels_seen;
static int64_t storm_end;

static bool storm_over(void) {
    return __atomic_load_n(&next_item, __ATOMIC_RELAXED) >= STORM_ITEMS || weft_now() >= storm_end;
}

static unsigned rnd(unsigned *s) { return *s = *s * 1103515245u + 12345u, *s >> 16; }

static void *storm_putter(void *arg) {
    unsigned s = (unsigned)(uintptr_t)arg;
    while (!storm_over()) {
        int i = __atomic_fetch_add(&next_item, 1, __ATOMIC_RELAXED);
        if (i >= STORM_ITEMS) return NULL;
        weft_scope sc;
        ASSERT_ERR(weft_timeout_enter(&sc, rnd(&s) % 20 * WEFT_MICROSECOND), 0);
        int err = weft_chan_put(c, AS_ARG(i));
        weft_scope_leave(&sc);
        if (!err) put_ok[i] = 1;
        else if (err == WEFT_ECANCELED) return NULL;  /* the canceller: leave */
        else ASSERT_ERR(err, WEFT_ETIMEDOUT);
    }
    return NULL;
}

static void *storm_getter(void *arg) {
    unsigned s = (unsigned)(uintptr_t)arg;
    for (;;) {
        weft_scope sc;
        ASSERT_ERR(weft_timeout_enter(&sc, rnd(&s) % 20 * WEFT_MICROSECOND), 0);
        void *item = AS_ARG(-1);
        int err = weft_chan_get(c, &item);
        weft_scope_leave(&sc);
        if (!err) {
            ASSERT_EQ(__atomic_fetch_add(&got[ID(item)], 1, __ATOMIC_RELAXED), 0);
            continue;
        }
        ASSERT_EQ(ID(item), -1);
        if (err == WEFT_ECANCELED) {
            __atomic_add_fetch(&storm_cancels_seen, 1, __ATOMIC_RELAXED);
            return NULL;
        }
        if (err == WEFT_EOF) return NULL;
        ASSERT_ERR(err, WEFT_ETIMEDOUT);
    }
}

static void *spawn_storm(weft_task_fn fn, unsigned s) { return weft_spawn(fn, (void *)(uintptr_t)s); }

static int storm_main(void *arg) {
    unsigned s = (unsigned)(uintptr_t)arg;
    enum { N = 4 };
    weft_task *p[N], *g[N];
    for (int i = 0; i < N; i++) {
        p[i] = spawn_storm(storm_putter, rnd(&s));
        g[i] = spawn_storm(storm_getter, rnd(&s));
    }
    /* Cancel (and replace) a random putter or getter now and then. */
    while (!storm_over()) {
        ASSERT_ERR(weft_sleep(rnd(&s) % 50 * WEFT_MICROSECOND), 0);
        int i = (int)(rnd(&s) % N);
        weft_task **slot = rnd(&s) & 1 ? &p[i] : &g[i];
        weft_cancel(*slot);
        ASSERT_ERR(weft_join(*slot, NULL), 0);
        *slot = spawn_storm(slot == &p[i] ? storm_putter : storm_getter, rnd(&s));
    }
    ASSERT_ERR(weft_gather(p, N, NULL), 0);
    /* The getters stop at EOF: the last loop's putters done closes. */
    if (__atomic_sub_fetch(&producers_left, 1, __ATOMIC_ACQ_REL) == 0) weft_chan_close(c);
    return weft_gather(g, N, NULL);
}

TEST(chan_cancel_storm_across_three_loops_loses_and_duplicates_nothing) {
    make(1);
    producers_left = NLOOPS;
    storm_end = weft_now() + WEFT_SECOND;
    void *args[NLOOPS];
    for (intptr_t i = 0; i < NLOOPS; i++) args[i] = (void *)(i * 7919 + 1);
    run_loops(NLOOPS, storm_main, args);
    for (void *item; weft_chan_try_get(c, &item) == 0;) got[ID(item)]++;
    int delivered = 0, tried = next_item < STORM_ITEMS ? next_item : STORM_ITEMS;
    for (int i = 0; i < STORM_ITEMS; i++) {
        ASSERT_EQ(got[i], put_ok[i]);
        delivered += got[i];
    }
    if (getenv("WT_VERBOSE"))
        printf("tried %d, delivered %d, getters cancelled %d\n", tried, delivered, storm_cancels_seen);
    /* The storm must have stormed: many puts both in and not in. */
    ASSERT(delivered > tried / 100);
    ASSERT(delivered < tried);
    ASSERT_ERR(weft_chan_free(c), 0);
}

/* A waiter cancelled exactly as it is served from another loop: loop B's
 * task waits on the channel; loop A serves it and raises a flag; B's other
 * task, spinning on the flag without yielding (so B cannot yet run the
 * wake A posted), then cancels the waiter. The wait was served: it returns
 * 0 (the getter with the item), and its next suspension point reports the
 * cancel. */
static int served_flag;
static weft_task *victim;

static void *victim_get(void *arg) {
    (void)arg;
    void *item = AS_ARG(-1);
    int err = weft_chan_get(c, &item);
    ASSERT_ERR(err, 0);
    ASSERT_EQ(ID(item), 42);
    return RESULT(weft_yield());
}

static void *victim_put(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_chan_put(c, AS_ARG(43)), 0);
    return RESULT(weft_yield());
}

static int race_waiter_main(void *arg) {
    victim = weft_spawn((weft_task_fn)arg, NULL);
    settle();
    __atomic_store_n(&served_flag, 1, __ATOMIC_RELEASE);  /* "I wait: serve me" */
    while (__atomic_load_n(&served_flag, __ATOMIC_ACQUIRE) != 2) {}
    weft_cancel(victim);
    void *r;
    ASSERT_ERR(weft_join(victim, &r), 0);
    ASSERT_ERR(ID(r), WEFT_ECANCELED);
    return 0;
}

static int race_server_main(void *arg) {
    while (__atomic_load_n(&served_flag, __ATOMIC_ACQUIRE) != 1) usleep(100);
    usleep(2000);  /* the victim is parked by now: settle() ran before the flag */
    if (arg) {
        ASSERT_ERR(weft_chan_put(c, AS_ARG(42)), 0);
    } else {
        void *item;
        ASSERT_ERR(weft_chan_get(c, &item), 0);
        ASSERT_EQ(ID(item), 1);
    }
    __atomic_store_n(&served_flag, 2, __ATOMIC_RELEASE);
    return 0;
}

TEST(chan_getter_cancelled_as_an_item_is_handed_to_it_from_another_loop_gets_it) {
    make(1);
    void *args[2] = { (void *)victim_get, AS_ARG(1) };
    int (*mains[2])(void *) = { race_waiter_main, race_server_main };
    run_each(2, mains, args);
    ASSERT_EQ(weft_chan_size(c), 0);
    ASSERT_ERR(weft_chan_free(c), 0);
}

TEST(chan_putter_cancelled_as_another_loop_takes_its_item_in_has_put) {
    make(1);
    ASSERT_ERR(weft_chan_try_put(c, AS_ARG(1)), 0);
    void *args[2] = { (void *)victim_put, NULL };
    int (*mains[2])(void *) = { race_waiter_main, race_server_main };
    run_each(2, mains, args);
    void *item;
    ASSERT_ERR(weft_chan_try_get(c, &item), 0);
    ASSERT_EQ(ID(item), 43);
    ASSERT_ERR(weft_chan_free(c), 0);
}
