/* Time: sleeps, deadlines, timer ordering, the virtual clock, and one test on
 * the real clock (concurrent sleeps overlap). */
#include "test.h"

static int woke[64], nwoke;
static void *sleep_then_record(void *arg) {
    int i = (int)(intptr_t)arg;
    ASSERT_ERR(weft_sleep((int64_t)(10 - i % 10) * WEFT_MILLISECOND), 0);
    woke[nwoke++] = i;
    return NULL;
}
static int ordering(void *arg) {
    (void)arg;
    weft_task *t[20];
    for (int i = 0; i < 20; i++) t[i] = weft_spawn(sleep_then_record, (void *)(intptr_t)i);
    ASSERT_ERR(weft_gather(t, 20, NULL), 0);
    /* Shorter sleeps first; equal deadlines in the order they were set. */
    for (int k = 1; k < 20; k++) {
        int a = woke[k - 1], b = woke[k];
        int da = 10 - a % 10, db = 10 - b % 10;
        ASSERT(da < db || (da == db && a < b));
    }
    return 0;
}
TEST(timers_fire_by_deadline_and_fifo_among_equals) { ASSERT_EQ(wt_run(ordering, NULL), 0); }

static int virtual_clock(void *arg) {
    (void)arg;
    int64_t t0 = weft_now();
    ASSERT_EQ(weft_now(), t0);   /* time stands still while a task runs */
    ASSERT_ERR(weft_sleep(30 * WEFT_SECOND), 0);
    ASSERT_EQ(weft_now() - t0, 30 * WEFT_SECOND);
    ASSERT_ERR(weft_sleep_until(t0 + 45 * WEFT_SECOND), 0);
    ASSERT_EQ(weft_now() - t0, 45 * WEFT_SECOND);
    ASSERT_ERR(weft_sleep_until(t0), 0);  /* a deadline in the past just yields */
    ASSERT_EQ(weft_now() - t0, 45 * WEFT_SECOND);
    return 0;
}
TEST(virtual_clock_jumps_to_the_next_deadline) {
    int64_t real = weft_now();
    ASSERT_EQ(wt_run(virtual_clock, NULL), 0);
    ASSERT(weft_now() - real < 5 * WEFT_SECOND);
}

static void *one_second(void *arg) { (void)arg; ASSERT_ERR(weft_sleep(WEFT_SECOND), 0); return NULL; }
static int overlap(void *arg) {
    (void)arg;
    int64_t t0 = weft_now();
    weft_task *t[2] = { weft_spawn(one_second, NULL), weft_spawn(one_second, NULL) };
    ASSERT_ERR(weft_gather(t, 2, NULL), 0);
    int64_t took = weft_now() - t0;
    ASSERT(took >= WEFT_SECOND);             /* a sleep never ends early */
    ASSERT(took < 1900 * WEFT_MILLISECOND);  /* and the two overlap */
    return 0;
}
TEST(two_concurrent_one_second_sleeps_take_well_under_two_seconds) { ASSERT_EQ(wt_run_real(overlap, NULL), 0); }

static int deadline_helpers(void *arg) {
    (void)arg;
    int64_t now = weft_now();
    ASSERT_EQ(weft_deadline_after(5), now + 5);
    ASSERT_EQ(weft_deadline_after(-5), now);
    ASSERT_EQ(weft_deadline_after(WEFT_FOREVER), WEFT_FOREVER);
    return 0;
}
TEST(deadline_after_saturates) { ASSERT_EQ(wt_run(deadline_helpers, NULL), 0); }

static int yields[2][4], ny;
static void *yielder(void *arg) {
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < 4; i++) {
        yields[id][i] = ny++;
        ASSERT_ERR(weft_yield(), 0);
    }
    return NULL;
}
static int round_robin(void *arg) {
    (void)arg;
    weft_task *t[2] = { weft_spawn(yielder, (void *)0), weft_spawn(yielder, (void *)1) };
    ASSERT_ERR(weft_gather(t, 2, NULL), 0);
    for (int i = 0; i < 4; i++) ASSERT_EQ(yields[1][i], yields[0][i] + 1);
    return 0;
}
TEST(yield_lets_every_other_ready_task_run) { ASSERT_EQ(wt_run(round_robin, NULL), 0); }

static int timer_hits;
static void tick(void *arg) { (void)arg; timer_hits++; }
static int million_timers_idle(void *arg) {
    (void)arg;
    /* 100,000 far-off timers must not make near ones late or slow. */
    weft_handle **h = malloc(100000 * sizeof *h);
    for (int i = 0; i < 100000; i++)
        ASSERT_ERR(weft_call_later(3600 * WEFT_SECOND + i, tick, NULL, &h[i]), 0);
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), 0);
    ASSERT_EQ(weft_now() - t0, WEFT_MILLISECOND);
    for (int i = 0; i < 100000; i += 2) weft_handle_free(h[i]);
    ASSERT_ERR(weft_sleep(7200 * WEFT_SECOND), 0);
    ASSERT_EQ(timer_hits, 50000);
    for (int i = 1; i < 100000; i += 2) weft_handle_free(h[i]);
    free(h);
    return 0;
}
TEST(many_pending_timers_cancel_and_fire_correctly) { ASSERT_EQ(wt_run(million_timers_idle, NULL), 0); }

static void *wait_forever(void *arg) {
    weft_event *e = arg;
    return weft_error(weft_event_wait(e));
}
static int deadlock(void *arg) {
    (void)arg;
    weft_event e = WEFT_EVENT_INITIALIZER;
    weft_task *t = weft_spawn(wait_forever, &e);
    int err = weft_join(t, NULL);  /* nobody will ever set e */
    ASSERT_ERR(err, WEFT_ECANCELED);
    weft_cancel(t);
    ASSERT_ERR(weft_sleep(0), WEFT_ECANCELED);
    weft_detach(t);
    return 0;
}
TEST(deadlock_is_detected_and_cancels_everything) { ASSERT_ERR(wt_run(deadlock, NULL), WEFT_EDEADLK); }
