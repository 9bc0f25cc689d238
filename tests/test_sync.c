/* Event, lock, semaphore, condition and barrier: what each promises when it
 * succeeds, and above all when it does not. Every wait is checked for FIFO
 * wake-up order, for deadlines and cancellation ("cancelled means it did not
 * happen"), and for misuse: outside a task, from another thread's loop, by a
 * task that does not own the lock.
 *
 * Tasks share file-scope objects (each case is a process of its own) and
 * return their suspension point's code as their result, so a case reads
 * "spawn, let them park, poke, check who got what". */
#include "test.h"
#include "wt_order.h"

#include <pthread.h>
#include <stdint.h>

static weft_event ev;
static weft_lock lk;
static weft_sem sem;
static weft_cond cv;
static weft_barrier bar;


/* ================================================================ event */

static void *event_waiter(void *arg) {
    int err = weft_event_wait(&ev);
    if (!err) note(ID(arg));
    return RESULT(err);
}

static int event_set_wakes_every_waiter_in_fifo_order_body(void *arg) {
    (void)arg;
    ASSERT(!weft_event_is_set(&ev));
    weft_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = weft_spawn(event_waiter, AS_ARG(i));
    settle();
    ASSERT_EQ(norder, 0);
    for (int i = 0; i < 3; i++) ASSERT_EQ(weft_task_state(t[i]), WEFT_TASK_WAITING);
    weft_event_set(&ev);
    ASSERT(weft_event_is_set(&ev));
    settle();
    ASSERT_ORDER(0, 1, 2);
    for (int i = 0; i < 3; i++) ASSERT_ERR(joined(t[i]), 0);
    return 0;
}
TEST(event_set_wakes_every_waiter_in_fifo_order) { ASSERT_EQ(wt_run(event_set_wakes_every_waiter_in_fifo_order_body, NULL), 0); }

static void *set_flag(void *arg) { *(int *)arg = 1; return NULL; }

static int event_wait_on_set_event_returns_without_suspending_body(void *arg) {
    (void)arg;
    int ran = 0;
    weft_task *t = weft_spawn(set_flag, &ran);
    weft_event_set(&ev);
    ASSERT_ERR(weft_event_wait(&ev), 0);
    ASSERT_EQ(ran, 0);  /* no other task got to run: it did not suspend */
    ASSERT_ERR(joined(t), 0);
    ASSERT_EQ(ran, 1);
    return 0;
}
TEST(event_wait_on_set_event_returns_without_suspending) { ASSERT_EQ(wt_run(event_wait_on_set_event_returns_without_suspending_body, NULL), 0); }

static int event_clear_makes_waits_block_again_body(void *arg) {
    (void)arg;
    weft_event_set(&ev);
    weft_event_clear(&ev);
    ASSERT(!weft_event_is_set(&ev));
    weft_scope sc;
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_timeout_enter(&sc, 30 * WEFT_SECOND), 0);
    ASSERT_ERR(weft_event_wait(&ev), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_now() - t0, 30 * WEFT_SECOND);
    return 0;
}
TEST(event_clear_makes_waits_block_again) { ASSERT_EQ(wt_run(event_clear_makes_waits_block_again_body, NULL), 0); }

static int event_initializer_and_zero_init_start_clear_body(void *arg) {
    (void)arg;
    weft_event a = WEFT_EVENT_INITIALIZER, b;
    memset(&b, 0, sizeof b);
    ASSERT(!weft_event_is_set(&a));
    ASSERT(!weft_event_is_set(&b));
    weft_event_set(&a);  /* no waiters: just sets */
    ASSERT_ERR(weft_event_wait(&a), 0);
    return 0;
}
TEST(event_initializer_and_zero_init_start_clear) { ASSERT_EQ(wt_run(event_initializer_and_zero_init_start_clear_body, NULL), 0); }

static int event_waiter_cancelled_leaves_and_others_still_wake_body(void *arg) {
    (void)arg;
    weft_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = weft_spawn(event_waiter, AS_ARG(i));
    settle();
    weft_cancel(t[1]);
    settle();
    ASSERT_EQ(weft_task_state(t[1]), WEFT_TASK_DONE);
    weft_event_set(&ev);
    settle();
    ASSERT_ORDER(0, 2);
    ASSERT_ERR(joined(t[0]), 0);
    ASSERT_ERR(joined(t[1]), WEFT_ECANCELED);
    ASSERT_ERR(joined(t[2]), 0);
    return 0;
}
TEST(event_waiter_cancelled_leaves_and_others_still_wake) { ASSERT_EQ(wt_run(event_waiter_cancelled_leaves_and_others_still_wake_body, NULL), 0); }

static void *cancelled_then_event_wait(void *arg) {
    (void)arg;
    weft_cancel(weft_current());
    return RESULT(weft_event_wait(&ev));
}

static int event_wait_reports_cancel_even_when_set_body(void *arg) {
    (void)arg;
    weft_event_set(&ev);
    ASSERT_ERR(joined(weft_spawn(cancelled_then_event_wait, NULL)), WEFT_ECANCELED);
    return 0;
}
TEST(event_wait_reports_cancel_even_when_set) { ASSERT_EQ(wt_run(event_wait_reports_cancel_even_when_set_body, NULL), 0); }

static void *event_waiter_with_timeout(void *arg) {
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, (int64_t)(intptr_t)arg), 0);
    int err = weft_event_wait(&ev);
    int left = weft_scope_leave(&sc);
    ASSERT_ERR(left, err == WEFT_ETIMEDOUT ? WEFT_ETIMEDOUT : 0);
    return RESULT(err);
}

static int event_set_before_deadline_beats_the_timeout_body(void *arg) {
    (void)arg;
    weft_task *early = weft_spawn(event_waiter_with_timeout, AS_ARG(1 * WEFT_SECOND));
    weft_task *late = weft_spawn(event_waiter_with_timeout, AS_ARG(3 * WEFT_SECOND));
    ASSERT_ERR(weft_sleep(2 * WEFT_SECOND), 0);
    ASSERT_EQ(weft_task_state(early), WEFT_TASK_DONE);
    weft_event_set(&ev);
    ASSERT_ERR(joined(early), WEFT_ETIMEDOUT);
    ASSERT_ERR(joined(late), 0);
    return 0;
}
TEST(event_set_before_deadline_beats_the_timeout) { ASSERT_EQ(wt_run(event_set_before_deadline_beats_the_timeout_body, NULL), 0); }

/* ================================================================= lock */

/* Takes the lock, notes it, holds it across a suspension, releases. */
static void *lock_user(void *arg) {
    int err = weft_lock_acquire(&lk);
    if (err) return RESULT(err);
    ASSERT(weft_lock_locked(&lk));
    note(ID(arg));
    (void)weft_yield();
    ASSERT_ERR(weft_lock_release(&lk), 0);
    return RESULT(0);
}

static int lock_try_acquire_takes_a_free_lock_only_body(void *arg) {
    (void)arg;
    weft_lock l = WEFT_LOCK_INITIALIZER;
    ASSERT(!weft_lock_locked(&l));
    ASSERT_ERR(weft_lock_try_acquire(&l), 0);
    ASSERT(weft_lock_locked(&l));
    /* Not recursive: the owner cannot take it again either. */
    ASSERT_ERR(weft_lock_try_acquire(&l), WEFT_EAGAIN);
    ASSERT_ERR(weft_lock_release(&l), 0);
    ASSERT(!weft_lock_locked(&l));
    ASSERT_ERR(weft_lock_try_acquire(&l), 0);
    ASSERT_ERR(weft_lock_release(&l), 0);
    return 0;
}
TEST(lock_try_acquire_takes_a_free_lock_only) { ASSERT_EQ(wt_run(lock_try_acquire_takes_a_free_lock_only_body, NULL), 0); }

static void *try_lock(void *arg) { (void)arg; return RESULT(weft_lock_try_acquire(&lk)); }

static int lock_try_acquire_fails_with_eagain_when_another_task_holds_it_body(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    ASSERT_ERR(joined(weft_spawn(try_lock, NULL)), WEFT_EAGAIN);
    ASSERT_ERR(weft_lock_release(&lk), 0);
    return 0;
}
TEST(lock_try_acquire_fails_with_eagain_when_another_task_holds_it) { ASSERT_EQ(wt_run(lock_try_acquire_fails_with_eagain_when_another_task_holds_it_body, NULL), 0); }

static int lock_acquire_by_its_owner_returns_edeadlk_body(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    ASSERT_ERR(weft_lock_acquire(&lk), WEFT_EDEADLK);
    ASSERT(weft_lock_locked(&lk));  /* still held, once */
    ASSERT_ERR(weft_lock_release(&lk), 0);
    ASSERT(!weft_lock_locked(&lk));
    ASSERT_ERR(weft_lock_release(&lk), WEFT_EPERM);
    return 0;
}
TEST(lock_acquire_by_its_owner_returns_edeadlk) { ASSERT_EQ(wt_run(lock_acquire_by_its_owner_returns_edeadlk_body, NULL), 0); }

static void *release_lock(void *arg) { (void)arg; return RESULT(weft_lock_release(&lk)); }

static int lock_release_by_non_owner_returns_eperm_body(void *arg) {
    (void)arg;
    /* Unlocked: nobody may release it. */
    ASSERT_ERR(weft_lock_release(&lk), WEFT_EPERM);
    ASSERT_ERR(joined(weft_spawn(release_lock, NULL)), WEFT_EPERM);
    /* Held by main: another task may not release it, and it stays main's. */
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    ASSERT_ERR(joined(weft_spawn(release_lock, NULL)), WEFT_EPERM);
    ASSERT(weft_lock_locked(&lk));
    ASSERT_ERR(weft_lock_try_acquire(&lk), WEFT_EAGAIN);
    ASSERT_ERR(weft_lock_release(&lk), 0);
    return 0;
}
TEST(lock_release_by_non_owner_returns_eperm) { ASSERT_EQ(wt_run(lock_release_by_non_owner_returns_eperm_body, NULL), 0); }

static int lock_hands_over_in_fifo_order_body(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    weft_task *t[4];
    for (int i = 0; i < 4; i++) t[i] = weft_spawn(lock_user, AS_ARG(i));
    settle();
    ASSERT_EQ(norder, 0);
    ASSERT_ERR(weft_lock_release(&lk), 0);
    for (int i = 0; i < 4; i++) ASSERT_ERR(joined(t[i]), 0);
    ASSERT_ORDER(0, 1, 2, 3);
    ASSERT(!weft_lock_locked(&lk));
    return 0;
}
TEST(lock_hands_over_in_fifo_order) { ASSERT_EQ(wt_run(lock_hands_over_in_fifo_order_body, NULL), 0); }

static int lock_release_hands_to_the_waiter_so_no_newcomer_can_barge_body(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    weft_task *w = weft_spawn(lock_user, AS_ARG(1));
    settle();
    ASSERT_ERR(weft_lock_release(&lk), 0);
    /* The waiter has not run yet, but the lock is already its own. */
    ASSERT(weft_lock_locked(&lk));
    ASSERT_ERR(weft_lock_try_acquire(&lk), WEFT_EAGAIN);
    ASSERT_ERR(joined(weft_spawn(try_lock, NULL)), WEFT_EAGAIN);
    ASSERT_ERR(joined(w), 0);
    ASSERT_ORDER(1);
    ASSERT_ERR(weft_lock_try_acquire(&lk), 0);
    ASSERT_ERR(weft_lock_release(&lk), 0);
    return 0;
}
TEST(lock_release_hands_to_the_waiter_so_no_newcomer_can_barge) { ASSERT_EQ(wt_run(lock_release_hands_to_the_waiter_so_no_newcomer_can_barge_body, NULL), 0); }

/* The case: A queues behind the holder and is cancelled; when the
 * holder releases, the lock goes to B, not to A and not lost. */
static int lock_skips_a_cancelled_waiter_and_goes_to_the_next_body(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    weft_task *a = weft_spawn(lock_user, AS_ARG(1));
    weft_task *b = weft_spawn(lock_user, AS_ARG(2));
    settle();
    weft_cancel(a);
    settle();
    ASSERT_ERR(joined(a), WEFT_ECANCELED);
    ASSERT(weft_lock_locked(&lk));  /* still main's */
    ASSERT_ERR(weft_lock_release(&lk), 0);
    ASSERT_ERR(joined(b), 0);
    ASSERT_ORDER(2);
    ASSERT(!weft_lock_locked(&lk));
    ASSERT_ERR(weft_lock_try_acquire(&lk), 0);
    ASSERT_ERR(weft_lock_release(&lk), 0);
    return 0;
}
TEST(lock_skips_a_cancelled_waiter_and_goes_to_the_next) { ASSERT_EQ(wt_run(lock_skips_a_cancelled_waiter_and_goes_to_the_next_body, NULL), 0); }

/* The cancel lands in the same step as the release, before A runs: A was
 * cancelled while still queued, so the release must skip it. */
static int lock_cancelled_waiter_never_owns_it_even_if_released_right_after_body(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    weft_task *a = weft_spawn(lock_user, AS_ARG(1));
    weft_task *b = weft_spawn(lock_user, AS_ARG(2));
    settle();
    weft_cancel(a);
    ASSERT_ERR(weft_lock_release(&lk), 0);
    ASSERT_ERR(joined(a), WEFT_ECANCELED);
    ASSERT_ERR(joined(b), 0);
    ASSERT_ORDER(2);
    ASSERT(!weft_lock_locked(&lk));
    return 0;
}
TEST(lock_cancelled_waiter_never_owns_it_even_if_released_right_after) { ASSERT_EQ(wt_run(lock_cancelled_waiter_never_owns_it_even_if_released_right_after_body, NULL), 0); }

/* Success did all of it: a waiter handed the lock keeps it even if a cancel
 * arrives before it runs; its next suspension point reports the cancel. */
static void *lock_then_report(void *arg) {
    (void)arg;
    int err = weft_lock_acquire(&lk);
    if (err) return RESULT(err);
    ASSERT(weft_lock_locked(&lk));
    ASSERT_ERR(weft_check_cancel(), WEFT_ECANCELED);
    ASSERT_ERR(weft_yield(), WEFT_ECANCELED);
    ASSERT_ERR(weft_lock_release(&lk), 0);
    return RESULT(0);
}

static int lock_waiter_handed_the_lock_keeps_it_when_cancelled_before_running_body(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    weft_task *a = weft_spawn(lock_then_report, NULL);
    settle();
    ASSERT_ERR(weft_lock_release(&lk), 0);
    weft_cancel(a);
    ASSERT_ERR(joined(a), 0);
    ASSERT(!weft_lock_locked(&lk));
    return 0;
}
TEST(lock_waiter_handed_the_lock_keeps_it_when_cancelled_before_running) { ASSERT_EQ(wt_run(lock_waiter_handed_the_lock_keeps_it_when_cancelled_before_running_body, NULL), 0); }

static void *lock_with_timeout(void *arg) {
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, (int64_t)(intptr_t)arg), 0);
    int err = weft_lock_acquire(&lk);
    int left = weft_scope_leave(&sc);
    if (err) {
        ASSERT_ERR(left, err);
        return RESULT(err);
    }
    ASSERT_ERR(left, 0);
    note(1);
    ASSERT_ERR(weft_lock_release(&lk), 0);
    return RESULT(0);
}

static int lock_acquire_times_out_holding_nothing_body(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    int64_t t0 = weft_now();
    weft_task *a = weft_spawn(lock_with_timeout, AS_ARG(5 * WEFT_SECOND));
    weft_task *b = weft_spawn(lock_user, AS_ARG(2));
    ASSERT_ERR(joined(a), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_now() - t0, 5 * WEFT_SECOND);
    ASSERT_ERR(weft_lock_release(&lk), 0);
    ASSERT_ERR(joined(b), 0);
    ASSERT_ORDER(2);
    ASSERT(!weft_lock_locked(&lk));
    return 0;
}
TEST(lock_acquire_times_out_holding_nothing) { ASSERT_EQ(wt_run(lock_acquire_times_out_holding_nothing_body, NULL), 0); }

static int lock_acquire_within_deadline_succeeds_body(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    weft_task *a = weft_spawn(lock_with_timeout, AS_ARG(5 * WEFT_SECOND));
    ASSERT_ERR(weft_sleep(4 * WEFT_SECOND), 0);
    ASSERT_ERR(weft_lock_release(&lk), 0);
    ASSERT_ERR(joined(a), 0);
    ASSERT_ORDER(1);
    return 0;
}
TEST(lock_acquire_within_deadline_succeeds) { ASSERT_EQ(wt_run(lock_acquire_within_deadline_succeeds_body, NULL), 0); }

static void *cancelled_then_lock(void *arg) {
    (void)arg;
    weft_cancel(weft_current());
    return RESULT(weft_lock_acquire(&lk));
}

static int lock_acquire_in_cancelled_task_takes_nothing_even_when_free_body(void *arg) {
    (void)arg;
    ASSERT_ERR(joined(weft_spawn(cancelled_then_lock, NULL)), WEFT_ECANCELED);
    ASSERT(!weft_lock_locked(&lk));
    return 0;
}
TEST(lock_acquire_in_cancelled_task_takes_nothing_even_when_free) { ASSERT_EQ(wt_run(lock_acquire_in_cancelled_task_takes_nothing_even_when_free_body, NULL), 0); }

/* Lock-order inversion: every task waits, nothing can wake one. The loop
 * reports it and cancels them so they can let go. */
static weft_lock lk2;
static void *lock_both(void *arg) {
    weft_lock *first = ID(arg) ? &lk2 : &lk, *second = ID(arg) ? &lk : &lk2;
    ASSERT_ERR(weft_lock_acquire(first), 0);
    ASSERT_ERR(weft_yield(), 0);
    int err = weft_lock_acquire(second);
    ASSERT_ERR(weft_lock_release(first), 0);
    return RESULT(err);
}

static int lock_order_inversion_is_reported_as_a_deadlock_body(void *arg) {
    (void)arg;
    weft_task *a = weft_spawn(lock_both, AS_ARG(0));
    weft_task *b = weft_spawn(lock_both, AS_ARG(1));
    ASSERT_ERR(weft_join(a, NULL), WEFT_ECANCELED);
    weft_detach(a);
    weft_detach(b);
    return 0;
}
TEST(lock_order_inversion_is_reported_as_a_deadlock) {
    ASSERT_ERR(wt_run(lock_order_inversion_is_reported_as_a_deadlock_body, NULL), WEFT_EDEADLK);
    ASSERT(!weft_lock_locked(&lk));
    ASSERT(!weft_lock_locked(&lk2));
}

/* ============================================================ semaphore */

static void *sem_user(void *arg) {
    int err = weft_sem_acquire(&sem);
    if (!err) note(ID(arg));
    return RESULT(err);
}

static int sem_acquire_takes_units_then_waits_body(void *arg) {
    (void)arg;
    weft_sem_init(&sem, 2, 0);
    ASSERT_EQ(weft_sem_value(&sem), 2);
    ASSERT_ERR(weft_sem_acquire(&sem), 0);
    ASSERT_ERR(weft_sem_try_acquire(&sem), 0);
    ASSERT_EQ(weft_sem_value(&sem), 0);
    ASSERT_ERR(weft_sem_try_acquire(&sem), WEFT_EAGAIN);
    ASSERT_EQ(weft_sem_value(&sem), 0);
    weft_task *t = weft_spawn(sem_user, AS_ARG(1));
    settle();
    ASSERT_EQ(weft_task_state(t), WEFT_TASK_WAITING);
    ASSERT_ERR(weft_sem_release(&sem), 0);
    ASSERT_ERR(joined(t), 0);
    ASSERT_EQ(weft_sem_value(&sem), 0);
    ASSERT_ERR(weft_sem_release(&sem), 0);
    ASSERT_ERR(weft_sem_release(&sem), 0);
    ASSERT_EQ(weft_sem_value(&sem), 2);
    return 0;
}
TEST(sem_acquire_takes_units_then_waits) { ASSERT_EQ(wt_run(sem_acquire_takes_units_then_waits_body, NULL), 0); }

static int sem_release_hands_units_to_waiters_in_fifo_order_body(void *arg) {
    (void)arg;
    weft_sem_init(&sem, 0, 0);
    weft_task *t[4];
    for (int i = 0; i < 4; i++) t[i] = weft_spawn(sem_user, AS_ARG(i));
    settle();
    ASSERT_ERR(weft_sem_release(&sem), 0);
    ASSERT_ERR(weft_sem_release(&sem), 0);
    /* Handed straight over: no unit is free for a newcomer meanwhile. */
    ASSERT_EQ(weft_sem_value(&sem), 0);
    ASSERT_ERR(weft_sem_try_acquire(&sem), WEFT_EAGAIN);
    settle();
    ASSERT_ORDER(0, 1);
    ASSERT_ERR(weft_sem_release(&sem), 0);
    ASSERT_ERR(weft_sem_release(&sem), 0);
    for (int i = 0; i < 4; i++) ASSERT_ERR(joined(t[i]), 0);
    ASSERT_ORDER(0, 1, 2, 3);
    ASSERT_EQ(weft_sem_value(&sem), 0);
    return 0;
}
TEST(sem_release_hands_units_to_waiters_in_fifo_order) { ASSERT_EQ(wt_run(sem_release_hands_units_to_waiters_in_fifo_order_body, NULL), 0); }

static int sem_cancelled_waiter_holds_no_unit_body(void *arg) {
    (void)arg;
    weft_sem_init(&sem, 0, 0);
    weft_task *a = weft_spawn(sem_user, AS_ARG(1));
    weft_task *b = weft_spawn(sem_user, AS_ARG(2));
    settle();
    weft_cancel(a);
    ASSERT_ERR(weft_sem_release(&sem), 0);   /* to b, not to cancelled a */
    ASSERT_ERR(joined(a), WEFT_ECANCELED);
    ASSERT_ERR(joined(b), 0);
    ASSERT_ORDER(2);
    ASSERT_EQ(weft_sem_value(&sem), 0);
    ASSERT_ERR(weft_sem_release(&sem), 0);
    ASSERT_EQ(weft_sem_value(&sem), 1);      /* nobody left to take it */
    return 0;
}
TEST(sem_cancelled_waiter_holds_no_unit) { ASSERT_EQ(wt_run(sem_cancelled_waiter_holds_no_unit_body, NULL), 0); }

static void *sem_with_timeout(void *arg) {
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, (int64_t)(intptr_t)arg), 0);
    int err = weft_sem_acquire(&sem);
    ASSERT_ERR(weft_scope_leave(&sc), err);
    return RESULT(err);
}

static int sem_acquire_times_out_leaving_the_count_alone_body(void *arg) {
    (void)arg;
    weft_sem_init(&sem, 0, 0);
    int64_t t0 = weft_now();
    ASSERT_ERR(joined(weft_spawn(sem_with_timeout, AS_ARG(WEFT_SECOND))), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_now() - t0, WEFT_SECOND);
    ASSERT_EQ(weft_sem_value(&sem), 0);
    ASSERT_ERR(weft_sem_release(&sem), 0);
    ASSERT_EQ(weft_sem_value(&sem), 1);
    return 0;
}
TEST(sem_acquire_times_out_leaving_the_count_alone) { ASSERT_EQ(wt_run(sem_acquire_times_out_leaving_the_count_alone_body, NULL), 0); }

static void *cancelled_then_sem(void *arg) {
    (void)arg;
    weft_cancel(weft_current());
    return RESULT(weft_sem_acquire(&sem));
}

static int sem_acquire_in_cancelled_task_takes_no_unit_body(void *arg) {
    (void)arg;
    weft_sem_init(&sem, 1, 0);
    ASSERT_ERR(joined(weft_spawn(cancelled_then_sem, NULL)), WEFT_ECANCELED);
    ASSERT_EQ(weft_sem_value(&sem), 1);
    return 0;
}
TEST(sem_acquire_in_cancelled_task_takes_no_unit) { ASSERT_EQ(wt_run(sem_acquire_in_cancelled_task_takes_no_unit_body, NULL), 0); }

static int bounded_sem_over_release_returns_eoverflow_body(void *arg) {
    (void)arg;
    weft_sem_init(&sem, 2, 1);
    ASSERT_ERR(weft_sem_release(&sem), WEFT_EOVERFLOW);
    ASSERT_EQ(weft_sem_value(&sem), 2);
    ASSERT_ERR(weft_sem_acquire(&sem), 0);
    ASSERT_ERR(weft_sem_acquire(&sem), 0);
    ASSERT_ERR(weft_sem_release(&sem), 0);
    ASSERT_ERR(weft_sem_release(&sem), 0);
    ASSERT_ERR(weft_sem_release(&sem), WEFT_EOVERFLOW);
    ASSERT_EQ(weft_sem_value(&sem), 2);
    return 0;
}
TEST(bounded_sem_over_release_returns_eoverflow) { ASSERT_EQ(wt_run(bounded_sem_over_release_returns_eoverflow_body, NULL), 0); }

static int bounded_sem_release_to_a_waiter_counts_against_the_bound_body(void *arg) {
    (void)arg;
    weft_sem_init(&sem, 1, 1);
    ASSERT_ERR(weft_sem_acquire(&sem), 0);
    weft_task *w = weft_spawn(sem_user, AS_ARG(1));
    settle();
    ASSERT_ERR(weft_sem_release(&sem), 0);        /* main's unit, to w */
    ASSERT_ERR(joined(w), 0);
    ASSERT_ERR(weft_sem_release(&sem), 0);        /* w's unit, back */
    ASSERT_ERR(weft_sem_release(&sem), WEFT_EOVERFLOW);
    ASSERT_EQ(weft_sem_value(&sem), 1);
    return 0;
}
TEST(bounded_sem_release_to_a_waiter_counts_against_the_bound) { ASSERT_EQ(wt_run(bounded_sem_release_to_a_waiter_counts_against_the_bound_body, NULL), 0); }

/* A bounded semaphore of 0 never had a unit to give back: a release is an
 * over-release even with a waiter, who must not be woken by it. */
static int bounded_sem_of_zero_rejects_every_release_body(void *arg) {
    (void)arg;
    weft_sem_init(&sem, 0, 1);
    weft_task *w = weft_spawn(sem_with_timeout, AS_ARG(WEFT_SECOND));
    settle();
    ASSERT_ERR(weft_sem_release(&sem), WEFT_EOVERFLOW);
    ASSERT_ERR(joined(w), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_sem_value(&sem), 0);
    return 0;
}
TEST(bounded_sem_of_zero_rejects_every_release) { ASSERT_EQ(wt_run(bounded_sem_of_zero_rejects_every_release_body, NULL), 0); }

static int unbounded_sem_may_grow_past_its_initial_value_body(void *arg) {
    (void)arg;
    weft_sem_init(&sem, 1, 0);
    for (int i = 0; i < 5; i++) ASSERT_ERR(weft_sem_release(&sem), 0);
    ASSERT_EQ(weft_sem_value(&sem), 6);
    return 0;
}
TEST(unbounded_sem_may_grow_past_its_initial_value) { ASSERT_EQ(wt_run(unbounded_sem_may_grow_past_its_initial_value_body, NULL), 0); }

static void release_sem_cb(void *arg) { ASSERT_ERR(weft_sem_release(arg), 0); }
static void try_sem_cb(void *arg) { *(int *)arg = weft_sem_try_acquire(&sem); }

/* Not suspension points: a loop callback may release and try. */
static int sem_release_and_try_acquire_work_from_a_callback_body(void *arg) {
    (void)arg;
    weft_sem_init(&sem, 0, 0);
    ASSERT_ERR(weft_call_later(WEFT_SECOND, release_sem_cb, &sem, NULL), 0);
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_sem_acquire(&sem), 0);
    ASSERT_EQ(weft_now() - t0, WEFT_SECOND);
    int got = 1;
    ASSERT_ERR(weft_sem_release(&sem), 0);
    ASSERT_ERR(weft_call_soon(try_sem_cb, &got), 0);
    ASSERT_ERR(weft_yield(), 0);
    ASSERT_ERR(got, 0);
    ASSERT_EQ(weft_sem_value(&sem), 0);
    return 0;
}
TEST(sem_release_and_try_acquire_work_from_a_callback) { ASSERT_EQ(wt_run(sem_release_and_try_acquire_work_from_a_callback_body, NULL), 0); }

/* ============================================================ condition */

/* Waits on cv under lk; notes the order it got the lock back in. */
static void *cond_waiter(void *arg) {
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    int err = weft_cond_wait(&cv, &lk);
    ASSERT(weft_lock_locked(&lk));
    note(ID(arg));
    ASSERT_ERR(weft_lock_release(&lk), 0);  /* proves the caller held it */
    return RESULT(err);
}

static void *cond_wait_unheld(void *arg) {
    (void)arg;
    return RESULT(weft_cond_wait(&cv, &lk));
}

static int cond_wait_without_holding_the_lock_returns_eperm_body(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_cond_wait(&cv, &lk), WEFT_EPERM);
    ASSERT(!weft_lock_locked(&lk));
    /* Held by another task is no better. */
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    ASSERT_ERR(joined(weft_spawn(cond_wait_unheld, NULL)), WEFT_EPERM);
    ASSERT(weft_lock_locked(&lk));  /* still main's */
    ASSERT_ERR(weft_lock_release(&lk), 0);
    return 0;
}
TEST(cond_wait_without_holding_the_lock_returns_eperm) { ASSERT_EQ(wt_run(cond_wait_without_holding_the_lock_returns_eperm_body, NULL), 0); }

static int cond_notify_wakes_waiters_one_by_one_in_fifo_order_body(void *arg) {
    (void)arg;
    weft_task *t[4];
    for (int i = 0; i < 4; i++) t[i] = weft_spawn(cond_waiter, AS_ARG(i));
    settle();
    ASSERT(!weft_lock_locked(&lk));  /* every waiter let go of it */
    weft_cond_notify(&cv, 1);
    settle();
    ASSERT_ORDER(0);
    weft_cond_notify(&cv, 2);
    settle();
    ASSERT_ORDER(0, 1, 2);
    weft_cond_notify(&cv, 0);
    settle();
    ASSERT_ORDER(0, 1, 2);
    weft_cond_notify(&cv, 5);  /* more than wait: the rest are lost */
    for (int i = 0; i < 4; i++) ASSERT_ERR(joined(t[i]), 0);
    ASSERT_ORDER(0, 1, 2, 3);
    return 0;
}
TEST(cond_notify_wakes_waiters_one_by_one_in_fifo_order) { ASSERT_EQ(wt_run(cond_notify_wakes_waiters_one_by_one_in_fifo_order_body, NULL), 0); }

static int cond_notify_all_wakes_everyone_and_they_retake_the_lock_in_turn_body(void *arg) {
    (void)arg;
    weft_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = weft_spawn(cond_waiter, AS_ARG(i));
    settle();
    /* Notify while holding the lock: nobody returns before main lets go. */
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    weft_cond_notify_all(&cv);
    settle();
    ASSERT_EQ(norder, 0);
    ASSERT_ERR(weft_lock_release(&lk), 0);
    for (int i = 0; i < 3; i++) ASSERT_ERR(joined(t[i]), 0);
    ASSERT_ORDER(0, 1, 2);
    return 0;
}
TEST(cond_notify_all_wakes_everyone_and_they_retake_the_lock_in_turn) { ASSERT_EQ(wt_run(cond_notify_all_wakes_everyone_and_they_retake_the_lock_in_turn_body, NULL), 0); }

static int cond_notify_without_waiters_is_not_remembered_body(void *arg) {
    (void)arg;
    weft_cond_notify_all(&cv);
    weft_cond_notify(&cv, 3);
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, WEFT_SECOND), 0);
    ASSERT_ERR(weft_cond_wait(&cv, &lk), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_lock_release(&lk), 0);
    return 0;
}
TEST(cond_notify_without_waiters_is_not_remembered) { ASSERT_EQ(wt_run(cond_notify_without_waiters_is_not_remembered_body, NULL), 0); }

static int cond_wait_passes_the_lock_to_the_first_lock_waiter_body(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    weft_task *w = weft_spawn(cond_waiter, AS_ARG(9));  /* queues on lk */
    weft_task *u = weft_spawn(lock_user, AS_ARG(1));    /* and behind it */
    settle();
    ASSERT_ERR(weft_lock_release(&lk), 0);
    /* w got it, waited on cv (handing it to u); u took and released it. */
    settle();
    ASSERT_ORDER(1);
    ASSERT(!weft_lock_locked(&lk));
    ASSERT_ERR(joined(u), 0);
    weft_cond_notify(&cv, 1);
    ASSERT_ERR(joined(w), 0);
    ASSERT_ORDER(1, 9);
    return 0;
}
TEST(cond_wait_passes_the_lock_to_the_first_lock_waiter) { ASSERT_EQ(wt_run(cond_wait_passes_the_lock_to_the_first_lock_waiter_body, NULL), 0); }

/* The case: a cancelled condition wait still returns with the lock
 * held, after waiting its turn for it. */
static int cond_wait_cancelled_returns_with_the_lock_held_body(void *arg) {
    (void)arg;
    weft_task *w = weft_spawn(cond_waiter, AS_ARG(1));
    settle();
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    weft_cancel(w);
    settle();
    /* Woken, but it must not return before it has the lock. */
    ASSERT_EQ(norder, 0);
    ASSERT_EQ(weft_task_state(w), WEFT_TASK_WAITING);
    ASSERT_ERR(weft_lock_release(&lk), 0);
    ASSERT_ERR(joined(w), WEFT_ECANCELED);
    ASSERT_ORDER(1);
    ASSERT(!weft_lock_locked(&lk));
    return 0;
}
TEST(cond_wait_cancelled_returns_with_the_lock_held) { ASSERT_EQ(wt_run(cond_wait_cancelled_returns_with_the_lock_held_body, NULL), 0); }

static void *cond_waiter_with_timeout(void *arg) {
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, (int64_t)(intptr_t)arg), 0);
    int err = weft_cond_wait(&cv, &lk);
    ASSERT_ERR(weft_scope_leave(&sc), err);
    ASSERT_ERR(weft_lock_release(&lk), 0);
    return RESULT(err);
}

static int cond_wait_times_out_with_the_lock_held_body(void *arg) {
    (void)arg;
    int64_t t0 = weft_now();
    weft_task *a = weft_spawn(cond_waiter_with_timeout, AS_ARG(2 * WEFT_SECOND));
    weft_task *b = weft_spawn(cond_waiter, AS_ARG(2));
    ASSERT_ERR(joined(a), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_now() - t0, 2 * WEFT_SECOND);
    /* The timed-out waiter did not take b's notify with it. */
    weft_cond_notify(&cv, 1);
    ASSERT_ERR(joined(b), 0);
    ASSERT_ORDER(2);
    return 0;
}
TEST(cond_wait_times_out_with_the_lock_held) { ASSERT_EQ(wt_run(cond_wait_times_out_with_the_lock_held_body, NULL), 0); }

static int cond_cancelled_waiter_does_not_use_up_a_notify_body(void *arg) {
    (void)arg;
    weft_task *a = weft_spawn(cond_waiter, AS_ARG(1));
    weft_task *b = weft_spawn(cond_waiter, AS_ARG(2));
    settle();
    weft_cancel(a);
    weft_cond_notify(&cv, 1);  /* same step: a is no longer waiting */
    ASSERT_ERR(joined(a), WEFT_ECANCELED);
    ASSERT_ERR(joined(b), 0);
    ASSERT_ORDER(1, 2);
    return 0;
}
TEST(cond_cancelled_waiter_does_not_use_up_a_notify) { ASSERT_EQ(wt_run(cond_cancelled_waiter_does_not_use_up_a_notify_body, NULL), 0); }

static void *cancelled_then_cond_wait(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    weft_cancel(weft_current());
    int err = weft_cond_wait(&cv, &lk);
    ASSERT(weft_lock_locked(&lk));
    ASSERT_ERR(weft_lock_release(&lk), 0);
    return RESULT(err);
}

static int cond_wait_in_cancelled_task_returns_at_once_holding_the_lock_body(void *arg) {
    (void)arg;
    weft_task *u = weft_spawn(lock_user, AS_ARG(5));
    weft_task *w = weft_spawn(cancelled_then_cond_wait, NULL);
    /* w runs after u has taken and let go of the lock... */
    ASSERT_ERR(joined(w), WEFT_ECANCELED);
    ASSERT_ERR(joined(u), 0);
    ASSERT(!weft_lock_locked(&lk));
    return 0;
}
TEST(cond_wait_in_cancelled_task_returns_at_once_holding_the_lock) { ASSERT_EQ(wt_run(cond_wait_in_cancelled_task_returns_at_once_holding_the_lock_body, NULL), 0); }

/* A cancelled waiter queued to take the lock back keeps its place in the
 * lock's queue when a second cancel reaches it there. */
static weft_scope *cond_scope;
static void *cond_waiter_in_scope(void *arg) {
    weft_scope sc;
    ASSERT_ERR(weft_scope_enter(&sc, WEFT_FOREVER), 0);
    cond_scope = &sc;
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    int err = weft_cond_wait(&cv, &lk);
    ASSERT(weft_lock_locked(&lk));
    note(ID(arg));
    ASSERT_ERR(weft_scope_leave(&sc), err);
    ASSERT_ERR(weft_lock_release(&lk), 0);
    return RESULT(err);
}

static int cond_waiter_keeps_its_place_in_the_lock_queue_when_cancelled_again_body(void *arg) {
    (void)arg;
    weft_task *w = weft_spawn(cond_waiter_in_scope, AS_ARG(2));
    settle();
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    weft_task *x = weft_spawn(lock_user, AS_ARG(1));
    settle();                       /* lock queue: x */
    weft_scope_cancel(cond_scope);
    settle();                       /* lock queue: x, w */
    weft_task *y = weft_spawn(lock_user, AS_ARG(3));
    settle();                       /* lock queue: x, w, y */
    weft_cancel(w);                 /* must not send w to the back */
    settle();
    ASSERT_ERR(weft_lock_release(&lk), 0);
    ASSERT_ERR(joined(x), 0);
    ASSERT_ERR(joined(w), WEFT_ECANCELED);
    ASSERT_ERR(joined(y), 0);
    ASSERT_ORDER(1, 2, 3);
    return 0;
}
TEST(cond_waiter_keeps_its_place_in_the_lock_queue_when_cancelled_again) { ASSERT_EQ(wt_run(cond_waiter_keeps_its_place_in_the_lock_queue_when_cancelled_again_body, NULL), 0); }

/* Notified, then cancelled before it got the lock back: the notify was
 * consumed, so the wait reports success. */
static int cond_wait_notified_then_cancelled_reports_success_body(void *arg) {
    (void)arg;
    weft_task *w = weft_spawn(cond_waiter, AS_ARG(1));
    settle();
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    weft_cond_notify(&cv, 1);
    settle();
    weft_cancel(w);
    settle();
    ASSERT_ERR(weft_lock_release(&lk), 0);
    ASSERT_ERR(joined(w), 0);
    ASSERT_ORDER(1);
    return 0;
}
TEST(cond_wait_notified_then_cancelled_reports_success) { ASSERT_EQ(wt_run(cond_wait_notified_then_cancelled_reports_success_body, NULL), 0); }

/* ============================================================== barrier */

static void *barrier_waiter(void *arg) {
    (void)arg;
    return RESULT(weft_barrier_wait(&bar));
}

static int barrier_releases_everyone_with_their_arrival_index_body(void *arg) {
    (void)arg;
    weft_barrier_init(&bar, 4);
    weft_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = weft_spawn(barrier_waiter, NULL);
    settle();
    ASSERT_EQ(weft_barrier_waiting(&bar), 3);
    for (int i = 0; i < 3; i++) ASSERT_EQ(weft_task_state(t[i]), WEFT_TASK_WAITING);
    ASSERT_EQ(weft_barrier_wait(&bar), 3);  /* the last to arrive */
    ASSERT_EQ(weft_barrier_waiting(&bar), 0);
    for (int i = 0; i < 3; i++) ASSERT_EQ(joined(t[i]), i);
    return 0;
}
TEST(barrier_releases_everyone_with_their_arrival_index) { ASSERT_EQ(wt_run(barrier_releases_everyone_with_their_arrival_index_body, NULL), 0); }

static void *barrier_rounds(void *arg) {
    for (int round = 0; round < 3; round++) {
        int idx = weft_barrier_wait(&bar);
        if (idx < 0) return RESULT(idx);
        note(round * 10 + ID(arg));
    }
    return RESULT(0);
}

static int barrier_is_reusable_round_after_round_body(void *arg) {
    (void)arg;
    weft_barrier_init(&bar, 3);
    weft_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = weft_spawn(barrier_rounds, AS_ARG(i));
    for (int i = 0; i < 3; i++) ASSERT_ERR(joined(t[i]), 0);
    /* Nobody starts round r+1 before everyone finished round r. */
    ASSERT_EQ(norder, 9);
    for (int i = 0; i < 9; i++) ASSERT_EQ(order[i] / 10, i / 3);
    return 0;
}
TEST(barrier_is_reusable_round_after_round) { ASSERT_EQ(wt_run(barrier_is_reusable_round_after_round_body, NULL), 0); }

static int barrier_of_one_party_never_waits_body(void *arg) {
    (void)arg;
    weft_barrier_init(&bar, 1);
    for (int i = 0; i < 3; i++) ASSERT_EQ(weft_barrier_wait(&bar), 0);
    weft_barrier_init(&bar, 0);  /* taken as 1 */
    ASSERT_EQ(weft_barrier_wait(&bar), 0);
    return 0;
}
TEST(barrier_of_one_party_never_waits) { ASSERT_EQ(wt_run(barrier_of_one_party_never_waits_body, NULL), 0); }

/* The case. A is cancelled and, in the same step, main arrives: A
 * has not run yet, but it has left, so only B and main are there. */
static int barrier_cancelled_waiter_leaves_as_if_never_arrived_body(void *arg) {
    (void)arg;
    weft_barrier_init(&bar, 3);
    weft_task *a = weft_spawn(barrier_waiter, NULL);
    weft_task *b = weft_spawn(barrier_waiter, NULL);
    settle();
    ASSERT_EQ(weft_barrier_waiting(&bar), 2);
    weft_cancel(a);
    ASSERT_EQ(weft_barrier_waiting(&bar), 1);
    weft_task *d = weft_spawn(barrier_waiter, NULL);  /* arrives after main */
    ASSERT_EQ(weft_barrier_wait(&bar), 1);
    ASSERT_ERR(joined(a), WEFT_ECANCELED);
    ASSERT_EQ(joined(b), 0);
    ASSERT_EQ(joined(d), 2);
    ASSERT_EQ(weft_barrier_waiting(&bar), 0);
    /* And the next round counts from zero. */
    b = weft_spawn(barrier_waiter, NULL);
    d = weft_spawn(barrier_waiter, NULL);
    settle();
    ASSERT_EQ(weft_barrier_wait(&bar), 2);
    ASSERT_EQ(joined(b), 0);
    ASSERT_EQ(joined(d), 1);
    return 0;
}
TEST(barrier_cancelled_waiter_leaves_as_if_never_arrived) { ASSERT_EQ(wt_run(barrier_cancelled_waiter_leaves_as_if_never_arrived_body, NULL), 0); }

static void *barrier_waiter_with_timeout(void *arg) {
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, (int64_t)(intptr_t)arg), 0);
    int r = weft_barrier_wait(&bar);
    ASSERT_ERR(weft_scope_leave(&sc), r < 0 ? r : 0);
    return RESULT(r);
}

static int barrier_wait_times_out_and_uncounts_itself_body(void *arg) {
    (void)arg;
    weft_barrier_init(&bar, 2);
    int64_t t0 = weft_now();
    ASSERT_ERR(joined(weft_spawn(barrier_waiter_with_timeout, AS_ARG(WEFT_SECOND))), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_now() - t0, WEFT_SECOND);
    ASSERT_EQ(weft_barrier_waiting(&bar), 0);
    weft_task *b = weft_spawn(barrier_waiter_with_timeout, AS_ARG(WEFT_SECOND));
    settle();
    ASSERT_EQ(weft_barrier_wait(&bar), 1);  /* not released early by a ghost */
    ASSERT_EQ(joined(b), 0);
    return 0;
}
TEST(barrier_wait_times_out_and_uncounts_itself) { ASSERT_EQ(wt_run(barrier_wait_times_out_and_uncounts_itself_body, NULL), 0); }

static int barrier_abort_breaks_it_for_current_and_future_waiters_body(void *arg) {
    (void)arg;
    weft_barrier_init(&bar, 3);
    weft_task *t[2];
    for (int i = 0; i < 2; i++) t[i] = weft_spawn(barrier_waiter, NULL);
    settle();
    weft_barrier_abort(&bar);
    ASSERT_EQ(weft_barrier_waiting(&bar), 0);
    for (int i = 0; i < 2; i++) ASSERT_ERR(joined(t[i]), WEFT_ECLOSED);
    ASSERT_ERR(weft_barrier_wait(&bar), WEFT_ECLOSED);
    ASSERT_EQ(weft_barrier_waiting(&bar), 0);
    weft_barrier_abort(&bar);  /* idempotent */
    ASSERT_ERR(weft_barrier_wait(&bar), WEFT_ECLOSED);
    return 0;
}
TEST(barrier_abort_breaks_it_for_current_and_future_waiters) { ASSERT_EQ(wt_run(barrier_abort_breaks_it_for_current_and_future_waiters_body, NULL), 0); }

static int barrier_reset_repairs_it_and_sends_current_waiters_away_body(void *arg) {
    (void)arg;
    weft_barrier_init(&bar, 2);
    weft_barrier_abort(&bar);
    weft_barrier_reset(&bar);
    weft_task *a = weft_spawn(barrier_waiter, NULL);
    settle();
    ASSERT_EQ(weft_barrier_waiting(&bar), 1);
    weft_barrier_reset(&bar);  /* a was waiting: it is sent away */
    ASSERT_ERR(joined(a), WEFT_ECLOSED);
    ASSERT_EQ(weft_barrier_waiting(&bar), 0);
    a = weft_spawn(barrier_waiter, NULL);
    settle();
    ASSERT_EQ(weft_barrier_wait(&bar), 1);
    ASSERT_EQ(joined(a), 0);
    return 0;
}
TEST(barrier_reset_repairs_it_and_sends_current_waiters_away) { ASSERT_EQ(wt_run(barrier_reset_repairs_it_and_sends_current_waiters_away_body, NULL), 0); }

/* A waiter cancelled just before an abort must not uncount itself from the
 * barrier's next life when it finally runs. */
static int barrier_cancelled_waiter_does_not_haunt_the_next_round_body(void *arg) {
    (void)arg;
    weft_barrier_init(&bar, 3);
    weft_task *a = weft_spawn(barrier_waiter, NULL);
    weft_task *b = weft_spawn(barrier_waiter, NULL);
    settle();
    weft_cancel(a);
    weft_barrier_abort(&bar);
    weft_barrier_reset(&bar);
    ASSERT_ERR(joined(a), WEFT_ECANCELED);
    ASSERT_ERR(joined(b), WEFT_ECLOSED);
    ASSERT_EQ(weft_barrier_waiting(&bar), 0);
    weft_task *t[2];
    for (int i = 0; i < 2; i++) t[i] = weft_spawn(barrier_waiter, NULL);
    settle();
    ASSERT_EQ(weft_barrier_waiting(&bar), 2);
    ASSERT_EQ(weft_barrier_wait(&bar), 2);
    for (int i = 0; i < 2; i++) ASSERT_EQ(joined(t[i]), i);
    return 0;
}
TEST(barrier_cancelled_waiter_does_not_haunt_the_next_round) { ASSERT_EQ(wt_run(barrier_cancelled_waiter_does_not_haunt_the_next_round_body, NULL), 0); }

static void *cancelled_then_barrier(void *arg) {
    (void)arg;
    weft_cancel(weft_current());
    return RESULT(weft_barrier_wait(&bar));
}

static int barrier_wait_in_cancelled_task_never_arrives_body(void *arg) {
    (void)arg;
    weft_barrier_init(&bar, 2);
    ASSERT_ERR(joined(weft_spawn(cancelled_then_barrier, NULL)), WEFT_ECANCELED);
    ASSERT_EQ(weft_barrier_waiting(&bar), 0);
    weft_task *b = weft_spawn(barrier_waiter, NULL);
    settle();
    ASSERT_EQ(weft_barrier_wait(&bar), 1);
    ASSERT_EQ(joined(b), 0);
    return 0;
}
TEST(barrier_wait_in_cancelled_task_never_arrives) { ASSERT_EQ(wt_run(barrier_wait_in_cancelled_task_never_arrives_body, NULL), 0); }

/* ================================================================ misuse */

/* From plain main(), before any loop runs. */
TEST(suspension_points_outside_any_loop_return_enotask) {
    weft_event e = WEFT_EVENT_INITIALIZER;
    weft_lock l = WEFT_LOCK_INITIALIZER;
    weft_cond c = WEFT_COND_INITIALIZER;
    weft_sem s;
    weft_barrier b;
    weft_sem_init(&s, 1, 0);
    weft_barrier_init(&b, 1);
    ASSERT_ERR(weft_event_wait(&e), WEFT_ENOTASK);
    ASSERT_ERR(weft_lock_acquire(&l), WEFT_ENOTASK);
    ASSERT_ERR(weft_lock_try_acquire(&l), WEFT_ENOTASK);
    ASSERT(!weft_lock_locked(&l));
    ASSERT_ERR(weft_lock_release(&l), WEFT_EPERM);
    ASSERT_ERR(weft_sem_acquire(&s), WEFT_ENOTASK);
    ASSERT_EQ(weft_sem_value(&s), 1);
    ASSERT_ERR(weft_cond_wait(&c, &l), WEFT_ENOTASK);
    ASSERT_ERR(weft_barrier_wait(&b), WEFT_ENOTASK);
    ASSERT_EQ(weft_barrier_waiting(&b), 0);
    /* The calls that never suspend work anywhere. */
    weft_event_set(&e);
    ASSERT(weft_event_is_set(&e));
    ASSERT_ERR(weft_event_wait(&e), WEFT_ENOTASK);  /* even when set */
    ASSERT_ERR(weft_sem_try_acquire(&s), 0);
    ASSERT_ERR(weft_sem_release(&s), 0);
    weft_cond_notify_all(&c);
}

static void suspend_from_callback(void *arg) {
    int *errs = arg;
    weft_sem s;
    weft_barrier b;
    weft_sem_init(&s, 1, 0);
    weft_barrier_init(&b, 1);
    errs[0] = weft_event_wait(&ev);
    errs[1] = weft_lock_acquire(&lk);
    errs[2] = weft_lock_try_acquire(&lk);
    errs[3] = weft_sem_acquire(&s);
    errs[4] = weft_cond_wait(&cv, &lk);
    errs[5] = weft_barrier_wait(&b);
}

/* A loop callback is not a task: it may not suspend. Pending: loop.c runs
 * callbacks while the task that was switching out is still current, so
 * these calls suspend that task from inside the callback. */
static int suspension_points_in_a_loop_callback_return_enotask_body(void *arg) {
    (void)arg;
    int errs[6] = { 0 };
    ASSERT_ERR(weft_call_soon(suspend_from_callback, errs), 0);
    ASSERT_ERR(weft_yield(), 0);
    for (int i = 0; i < 6; i++) ASSERT_ERR(errs[i], WEFT_ENOTASK);
    ASSERT(!weft_lock_locked(&lk));
    return 0;
}
TEST(suspension_points_in_a_loop_callback_return_enotask) { ASSERT_EQ(wt_run(suspension_points_in_a_loop_callback_return_enotask_body, NULL), 0); }

/* ---------------------------------------------- another thread's loop */

static weft_lock lk3, idle_lock;
static weft_sem idle_sem;

static int touch_busy_objects_from_another_loop(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_event_wait(&ev), WEFT_EWRONGLOOP);
    ASSERT_ERR(weft_lock_acquire(&lk), WEFT_EWRONGLOOP);
    ASSERT_ERR(weft_sem_acquire(&sem), WEFT_EWRONGLOOP);
    ASSERT_ERR(weft_barrier_wait(&bar), WEFT_EWRONGLOOP);
    ASSERT_ERR(weft_lock_acquire(&lk3), 0);
    ASSERT_ERR(weft_cond_wait(&cv, &lk3), WEFT_EWRONGLOOP);
    ASSERT(weft_lock_locked(&lk3));  /* a failed wait let go of nothing */
    ASSERT_ERR(weft_lock_release(&lk3), 0);
    /* Objects the first loop has finished with may move to this one. */
    ASSERT_ERR(weft_lock_acquire(&idle_lock), 0);
    ASSERT_ERR(weft_lock_release(&idle_lock), 0);
    ASSERT_ERR(weft_sem_acquire(&idle_sem), 0);
    ASSERT_ERR(weft_sem_release(&idle_sem), 0);
    return 0;
}

static void *cond_wait_with_lk2(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_lock_acquire(&lk2), 0);
    int err = weft_cond_wait(&cv, &lk2);
    ASSERT_ERR(weft_lock_release(&lk2), 0);
    return RESULT(err);
}

static int busy_objects_refuse_another_loop_with_ewrongloop_body(void *arg) {
    (void)arg;
    weft_sem_init(&sem, 0, 0);
    weft_sem_init(&idle_sem, 1, 0);
    weft_barrier_init(&bar, 2);
    ASSERT_ERR(weft_lock_acquire(&idle_lock), 0);
    ASSERT_ERR(weft_lock_release(&idle_lock), 0);
    ASSERT_ERR(weft_sem_acquire(&idle_sem), 0);
    ASSERT_ERR(weft_sem_release(&idle_sem), 0);
    ASSERT_ERR(weft_lock_acquire(&lk), 0);
    weft_task *t[4] = {
        weft_spawn(event_waiter, AS_ARG(0)), weft_spawn(sem_user, AS_ARG(1)),
        weft_spawn(barrier_waiter, NULL), weft_spawn(cond_wait_with_lk2, NULL),
    };
    settle();
    ASSERT_EQ(wt_run_on_other_thread(touch_busy_objects_from_another_loop), 0);
    /* Everything here is as it was. */
    ASSERT_EQ(weft_barrier_waiting(&bar), 1);
    ASSERT_EQ(weft_sem_value(&sem), 0);
    weft_event_set(&ev);
    ASSERT_ERR(weft_sem_release(&sem), 0);
    ASSERT_EQ(weft_barrier_wait(&bar), 1);
    weft_cond_notify_all(&cv);
    ASSERT_ERR(joined(t[0]), 0);
    ASSERT_ERR(joined(t[1]), 0);
    ASSERT_EQ(joined(t[2]), 0);
    ASSERT_ERR(joined(t[3]), 0);
    ASSERT_ERR(weft_lock_release(&lk), 0);
    return 0;
}
TEST(busy_objects_refuse_another_loop_with_ewrongloop) { ASSERT_EQ(wt_run(busy_objects_refuse_another_loop_with_ewrongloop_body, NULL), 0); }

/* =============================================================== stress
 *
 * Many tasks, random short deadlines and cancels, on the virtual clock (so
 * the run is the same every time). What must hold throughout: the lock has
 * one holder, the semaphore's units are neither lost nor made up, a
 * condition wait always returns holding the lock. */

static unsigned rng = 1;
static unsigned rnd(unsigned n) {
    rng = rng * 1103515245u + 12345u;
    return (rng >> 16) % n;
}

/* Enters a random short timeout: 1..5 ms. */
static void random_timeout(weft_scope *sc) {
    ASSERT_ERR(weft_timeout_enter(sc, (int64_t)(1 + rnd(5)) * WEFT_MILLISECOND), 0);
}

static int holders, max_holders;

static void *sem_stress_task(void *arg) {
    (void)arg;
    for (int i = 0; i < 40; i++) {
        weft_scope sc;
        random_timeout(&sc);
        int err = weft_sem_acquire(&sem);
        weft_scope_leave(&sc);
        if (err == WEFT_ECANCELED) return NULL;
        if (err) {
            ASSERT_ERR(err, WEFT_ETIMEDOUT);
            continue;
        }
        if (++holders > max_holders) max_holders = holders;
        (void)weft_sleep((int64_t)rnd(3) * WEFT_MILLISECOND);  /* cancel or not, let go */
        holders--;
        ASSERT_ERR(weft_sem_release(&sem), 0);
    }
    return NULL;
}

static int sem_units_survive_random_timeouts_and_cancels_body(void *arg) {
    (void)arg;
    weft_sem_init(&sem, 3, 1);
    weft_task *t[12];
    for (int i = 0; i < 12; i++) t[i] = weft_spawn(sem_stress_task, NULL);
    for (int k = 0; k < 10; k++) {
        ASSERT_ERR(weft_sleep(4 * WEFT_MILLISECOND), 0);
        weft_cancel(t[rnd(12)]);
    }
    for (int i = 0; i < 12; i++) ASSERT_ERR(joined(t[i]), 0);
    ASSERT_EQ(holders, 0);
    ASSERT_EQ(max_holders, 3);
    ASSERT_EQ(weft_sem_value(&sem), 3);
    ASSERT_ERR(weft_sem_release(&sem), WEFT_EOVERFLOW);
    return 0;
}
TEST(sem_units_survive_random_timeouts_and_cancels) { ASSERT_EQ(wt_run(sem_units_survive_random_timeouts_and_cancels_body, NULL), 0); }

static int tokens, produced, consumed;

static void *cond_producer(void *arg) {
    (void)arg;
    for (int i = 0; i < 60; i++) {
        weft_scope sc;
        random_timeout(&sc);
        int err = weft_lock_acquire(&lk);
        weft_scope_leave(&sc);
        if (err == WEFT_ECANCELED) return NULL;
        if (err) continue;
        ASSERT_EQ(holders++, 0);
        tokens++;
        produced++;
        weft_cond_notify(&cv, 1);
        holders--;
        ASSERT_ERR(weft_lock_release(&lk), 0);
        if (weft_sleep((int64_t)rnd(3) * WEFT_MILLISECOND)) return NULL;
    }
    return NULL;
}

static void *cond_consumer(void *arg) {
    (void)arg;
    for (;;) {
        int err = weft_lock_acquire(&lk);
        if (err) return NULL;
        ASSERT_EQ(holders++, 0);
        while (!tokens && !err) {
            weft_scope sc;
            random_timeout(&sc);
            holders--;
            err = weft_cond_wait(&cv, &lk);  /* holds lk again, whatever err */
            ASSERT_EQ(holders++, 0);
            weft_scope_leave(&sc);
        }
        if (tokens) {
            tokens--;
            consumed++;
        }
        holders--;
        ASSERT_ERR(weft_lock_release(&lk), 0);
        if (err == WEFT_ECANCELED) return NULL;
    }
}

static int cond_waits_keep_the_lock_through_random_timeouts_and_cancels_body(void *arg) {
    (void)arg;
    weft_task *p[4], *c[6];
    for (int i = 0; i < 4; i++) p[i] = weft_spawn(cond_producer, NULL);
    for (int i = 0; i < 6; i++) c[i] = weft_spawn(cond_consumer, NULL);
    for (int k = 0; k < 8; k++) {
        ASSERT_ERR(weft_sleep(5 * WEFT_MILLISECOND), 0);
        int victim = (int)rnd(6);
        weft_cancel(c[victim]);
        ASSERT_ERR(joined(c[victim]), 0);
        c[victim] = weft_spawn(cond_consumer, NULL);
    }
    for (int i = 0; i < 4; i++) ASSERT_ERR(joined(p[i]), 0);
    ASSERT(produced > 100);
    /* Let the consumers drain, then stop them. */
    while (tokens) ASSERT_ERR(weft_sleep(WEFT_MILLISECOND), 0);
    for (int i = 0; i < 6; i++) weft_cancel(c[i]);
    for (int i = 0; i < 6; i++) ASSERT_ERR(joined(c[i]), 0);
    ASSERT_EQ(consumed, produced);
    ASSERT_EQ(holders, 0);
    ASSERT(!weft_lock_locked(&lk));
    return 0;
}
TEST(cond_waits_keep_the_lock_through_random_timeouts_and_cancels) { ASSERT_EQ(wt_run(cond_waits_keep_the_lock_through_random_timeouts_and_cancels_body, NULL), 0); }

/* ================================================================ groups */

static void *fail_soon(void *arg) {
    (void)arg;
    (void)weft_sleep(WEFT_SECOND);
    return weft_error(WEFT_EINVAL);
}

/* A waiter cancelled by its group (a sibling failed) leaves the semaphore's
 * queue and holds no unit. */
static int sem_waiter_in_a_failing_group_leaves_holding_no_unit_body(void *arg) {
    (void)arg;
    weft_sem_init(&sem, 0, 0);
    weft_group g;
    ASSERT_ERR(weft_group_enter(&g), 0);
    ASSERT_ERR(weft_group_spawn(&g, NULL, sem_user, AS_ARG(1)), 0);
    ASSERT_ERR(weft_group_spawn(&g, NULL, fail_soon, NULL), 0);
    ASSERT_ERR(weft_sem_acquire(&sem), WEFT_ECANCELED);  /* the body too */
    ASSERT_ERR(weft_group_leave(&g), WEFT_EINVAL);
    ASSERT_EQ(norder, 0);
    ASSERT_ERR(weft_sem_release(&sem), 0);
    ASSERT_EQ(weft_sem_value(&sem), 1);
    return 0;
}
TEST(sem_waiter_in_a_failing_group_leaves_holding_no_unit) { ASSERT_EQ(wt_run(sem_waiter_in_a_failing_group_leaves_holding_no_unit_body, NULL), 0); }
