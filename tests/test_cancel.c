/* Cancellation: of tasks, of scopes, by deadlines; nesting; shields; the
 * promise that a cancel cannot be lost. */
#include "test.h"

static void *sleep_long(void *arg) { (void)arg; return weft_error(weft_sleep(3600 * WEFT_SECOND)); }

static int cancel_sleeping(void *arg) {
    (void)arg;
    weft_task *t = weft_spawn(sleep_long, NULL);
    ASSERT_ERR(weft_yield(), 0);
    int64_t t0 = weft_now();
    weft_cancel(t);
    void *r;
    ASSERT_ERR(weft_join(t, &r), 0);
    ASSERT_ERR(weft_error_code(r), WEFT_ECANCELED);
    ASSERT_EQ(weft_now(), t0);  /* woke at once */
    return 0;
}
TEST(cancel_wakes_a_sleeping_task_at_once) { ASSERT_EQ(wt_run(cancel_sleeping, NULL), 0); }

static int ran;
static void *count_and_sleep(void *arg) {
    (void)arg;
    ran++;  /* runs even though cancelled before it started */
    int a = weft_sleep(1), b = weft_yield(), c = weft_check_cancel();
    ASSERT_ERR(a, WEFT_ECANCELED);
    ASSERT_ERR(b, WEFT_ECANCELED);   /* and keeps being reported: never lost */
    ASSERT_ERR(c, WEFT_ECANCELED);
    return weft_error(a);
}
static int cancel_before_start(void *arg) {
    (void)arg;
    weft_task *t = weft_spawn(count_and_sleep, NULL);
    weft_cancel(t);
    weft_cancel(t);  /* twice is the same as once */
    void *r;
    ASSERT_ERR(weft_join(t, &r), 0);
    ASSERT_EQ(ran, 1);
    ASSERT_ERR(weft_error_code(r), WEFT_ECANCELED);
    return 0;
}
TEST(cancel_before_start_runs_the_task_and_reports_at_every_suspension) {
    ASSERT_EQ(wt_run(cancel_before_start, NULL), 0);
}

static weft_task *victim;
static void *joiner(void *arg) {
    (void)arg;
    int err = weft_join(victim, NULL);
    ASSERT_ERR(err, WEFT_ECANCELED);
    ASSERT(!weft_task_done(victim));  /* the cancelled join released nothing */
    return NULL;
}
static int cancel_joining(void *arg) {
    (void)arg;
    victim = weft_spawn(sleep_long, NULL);
    weft_task *j = weft_spawn(joiner, NULL);
    ASSERT_ERR(weft_yield(), 0);
    weft_cancel(j);
    ASSERT_ERR(weft_join(j, NULL), 0);
    weft_cancel(victim);
    ASSERT_ERR(weft_join(victim, NULL), 0);  /* the handle was still ours */
    return 0;
}
TEST(cancel_while_joining_leaves_the_handle_held) { ASSERT_EQ(wt_run(cancel_joining, NULL), 0); }

static int cancel_main(void *arg) {
    (void)arg;
    weft_cancel(weft_current());
    ASSERT_ERR(weft_sleep(1), WEFT_ECANCELED);
    ASSERT_ERR(weft_check_cancel(), WEFT_ECANCELED);
    return 3;
}
TEST(main_task_can_be_cancelled) { ASSERT_EQ(wt_run(cancel_main, NULL), 3); }

static int cancel_done(void *arg) {
    (void)arg;
    weft_task *t = weft_spawn(sleep_long, NULL);
    weft_cancel(t);
    ASSERT_ERR(weft_yield(), 0);
    ASSERT_ERR(weft_yield(), 0);
    ASSERT(weft_task_done(t));
    weft_cancel(t);  /* a no-op */
    ASSERT_ERR(weft_join(t, NULL), 0);
    return 0;
}
TEST(cancel_of_an_ended_task_is_a_no_op) { ASSERT_EQ(wt_run(cancel_done, NULL), 0); }

static int timeout_scope(void *arg) {
    (void)arg;
    weft_scope sc;
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_timeout_enter(&sc, 30 * WEFT_SECOND), 0);
    ASSERT_ERR(weft_sleep(3600 * WEFT_SECOND), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_now() - t0, 30 * WEFT_SECOND);
    ASSERT_ERR(weft_yield(), WEFT_ETIMEDOUT);  /* still, until the scope is left */
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_yield(), 0);
    /* A deadline that passes unnoticed is not reported. */
    ASSERT_ERR(weft_timeout_enter(&sc, WEFT_SECOND), 0);
    ASSERT_ERR(weft_sleep(WEFT_SECOND / 2), 0);
    ASSERT_ERR(weft_scope_leave(&sc), 0);
    return 0;
}
TEST(timeout_scope_reports_etimedout_until_left) { ASSERT_EQ(wt_run(timeout_scope, NULL), 0); }

static int nested_inner_first(void *arg) {
    (void)arg;
    weft_scope outer, inner;
    ASSERT_ERR(weft_timeout_enter(&outer, 10 * WEFT_SECOND), 0);
    ASSERT_ERR(weft_timeout_enter(&inner, 1 * WEFT_SECOND), 0);
    ASSERT_ERR(weft_sleep(5 * WEFT_SECOND), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&inner), WEFT_ETIMEDOUT);  /* inner caught it */
    ASSERT_ERR(weft_sleep(5 * WEFT_SECOND), 0);            /* outer still has time */
    ASSERT_ERR(weft_sleep(5 * WEFT_SECOND), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&outer), WEFT_ETIMEDOUT);
    return 0;
}
TEST(nested_deadlines_inner_fires_first) { ASSERT_EQ(wt_run(nested_inner_first, NULL), 0); }

static int nested_outer_first(void *arg) {
    (void)arg;
    weft_scope outer, inner;
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_timeout_enter(&outer, 1 * WEFT_SECOND), 0);
    ASSERT_ERR(weft_timeout_enter(&inner, 10 * WEFT_SECOND), 0);
    ASSERT_ERR(weft_sleep(5 * WEFT_SECOND), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_now() - t0, WEFT_SECOND);
    ASSERT_ERR(weft_scope_leave(&inner), 0);   /* not the inner one's doing */
    ASSERT_ERR(weft_scope_leave(&outer), WEFT_ETIMEDOUT);
    return 0;
}
TEST(nested_deadlines_outer_fires_first) { ASSERT_EQ(wt_run(nested_outer_first, NULL), 0); }

static int shield(void *arg) {
    (void)arg;
    weft_cancel(weft_current());
    weft_scope sh;
    ASSERT_ERR(weft_scope_enter_ex(&sh, WEFT_FOREVER, WEFT_SCOPE_SHIELD), 0);
    ASSERT_ERR(weft_sleep(WEFT_SECOND), 0);   /* cleanup can still wait */
    ASSERT_ERR(weft_scope_leave(&sh), 0);
    ASSERT_ERR(weft_sleep(WEFT_SECOND), WEFT_ECANCELED);
    /* A shield's own deadline still applies. */
    ASSERT_ERR(weft_scope_enter_ex(&sh, weft_deadline_after(WEFT_SECOND), WEFT_SCOPE_SHIELD), 0);
    ASSERT_ERR(weft_sleep(5 * WEFT_SECOND), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&sh), WEFT_ETIMEDOUT);
    return 0;
}
TEST(shield_inside_a_cancelled_task_lets_cleanup_wait) { ASSERT_EQ(wt_run(shield, NULL), 0); }

static weft_scope *shared_scope;
static void *cancel_it(void *arg) { (void)arg; weft_scope_cancel(shared_scope); return NULL; }
static int scope_cancel_from_other(void *arg) {
    (void)arg;
    weft_scope sc;
    ASSERT_ERR(weft_scope_enter(&sc, WEFT_FOREVER), 0);
    shared_scope = &sc;
    weft_task *c = weft_spawn(cancel_it, NULL);
    ASSERT_ERR(weft_sleep(WEFT_SECOND), WEFT_ECANCELED);
    ASSERT(weft_scope_cancelled(&sc));
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ECANCELED);
    ASSERT_ERR(weft_join(c, NULL), 0);
    return 0;
}
TEST(scope_cancelled_by_another_task_wakes_its_owner) { ASSERT_EQ(wt_run(scope_cancel_from_other, NULL), 0); }

static int outer_cancel_beats_inner_deadline(void *arg) {
    (void)arg;
    weft_scope sc;
    weft_cancel(weft_current());
    ASSERT_ERR(weft_timeout_enter(&sc, 0), 0);  /* already expired too */
    ASSERT_ERR(weft_yield(), WEFT_ECANCELED);   /* the outermost cancelled wins */
    ASSERT_ERR(weft_scope_leave(&sc), 0);
    return 0;
}
TEST(outermost_cancelled_scope_is_the_one_reported) { ASSERT_EQ(wt_run(outer_cancel_beats_inner_deadline, NULL), 0); }

static int leave_wrong(void *arg) {
    (void)arg;
    weft_scope a, b;
    ASSERT_ERR(weft_scope_enter(&a, WEFT_FOREVER), 0);
    ASSERT_ERR(weft_scope_enter(&b, WEFT_FOREVER), 0);
    ASSERT_ERR(weft_scope_leave(&a), WEFT_EINVAL);  /* not innermost: nothing left */
    ASSERT_ERR(weft_scope_leave(&b), 0);
    ASSERT_ERR(weft_scope_leave(&a), 0);
    return 0;
}
TEST(leaving_a_scope_out_of_order_is_einval) { ASSERT_EQ(wt_run(leave_wrong, NULL), 0); }

TEST(scope_outside_a_task_is_enotask) {
    weft_scope sc;
    ASSERT_ERR(weft_scope_enter(&sc, WEFT_FOREVER), WEFT_ENOTASK);
    ASSERT_ERR(weft_check_cancel(), WEFT_ENOTASK);
}

static void *gathered(void *arg) { return weft_error(weft_sleep((int64_t)(intptr_t)arg * WEFT_SECOND)); }
static int gather_cancelled(void *arg) {
    (void)arg;
    weft_scope sc;
    weft_task *t[3] = { weft_spawn(gathered, (void *)1), weft_spawn(gathered, (void *)50),
                        weft_spawn(gathered, (void *)100) };
    void *r[3];
    ASSERT_ERR(weft_timeout_enter(&sc, 10 * WEFT_SECOND), 0);
    ASSERT_ERR(weft_gather(t, 3, r), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ETIMEDOUT);
    ASSERT(r[0] == NULL);
    ASSERT_ERR(weft_error_code(r[1]), WEFT_ECANCELED);
    ASSERT_ERR(weft_error_code(r[2]), WEFT_ECANCELED);
    ASSERT_EQ(weft_tasks(NULL, 0), 1);  /* none outlives the gather */
    return 0;
}
TEST(cancelled_gather_cancels_and_reaps_its_tasks) { ASSERT_EQ(wt_run(gather_cancelled, NULL), 0); }

static void *fail_after(void *arg) {
    weft_sleep((int64_t)(intptr_t)arg * WEFT_SECOND);
    return weft_error((int)(intptr_t)arg == 2 ? WEFT_EPERM : WEFT_EINVAL);
}
static int gather_first_error(void *arg) {
    (void)arg;
    weft_task *t[3] = { weft_spawn(fail_after, (void *)3), weft_spawn(fail_after, (void *)2),
                        weft_spawn(gathered, (void *)1) };
    ASSERT_ERR(weft_gather(t, 3, NULL), WEFT_EPERM);  /* the first to fail, in time */
    return 0;
}
TEST(gather_reports_the_first_error_in_time_order) { ASSERT_EQ(wt_run(gather_first_error, NULL), 0); }

static int wait_modes(void *arg) {
    (void)arg;
    weft_task *t[3] = { weft_spawn(gathered, (void *)3), weft_spawn(fail_after, (void *)2),
                        weft_spawn(gathered, (void *)1) };
    int64_t t0 = weft_now();
    ASSERT_EQ(weft_wait(t, 3, WEFT_FIRST_COMPLETED), 1);
    ASSERT(weft_task_done(t[2]));
    ASSERT_EQ(weft_wait(t, 3, WEFT_FIRST_ERROR), 2);
    ASSERT_EQ(weft_now() - t0, 2 * WEFT_SECOND);
    ASSERT_EQ(weft_wait(t, 3, WEFT_ALL_COMPLETED), 3);
    ASSERT_ERR(weft_wait(t, 0, WEFT_ALL_COMPLETED), WEFT_EINVAL);
    ASSERT_ERR(weft_wait(t, 3, 99), WEFT_EINVAL);
    ASSERT_ERR(weft_gather(t, 3, NULL), WEFT_EPERM);  /* handles were still ours */
    return 0;
}
TEST(wait_returns_on_first_completed_first_error_or_all) { ASSERT_EQ(wt_run(wait_modes, NULL), 0); }

static int wait_many(void *arg) {
    (void)arg;
    enum { N = 40 };
    weft_task *t[N];
    for (int i = 0; i < N; i++) t[i] = weft_spawn(gathered, (void *)(intptr_t)(N - i));
    weft_scope sc;
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_timeout_enter(&sc, WEFT_SECOND / 2), 0);
    ASSERT_ERR(weft_wait(t, N, WEFT_FIRST_COMPLETED), WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ETIMEDOUT);
    weft_as_completed it;
    weft_as_completed_init(&it, t, N);
    weft_task *done;
    int k = 0;
    while (weft_as_completed_next(&it, &done) == 0) {
        void *r;
        ASSERT_ERR(weft_join(done, &r), 0);
        ASSERT(r == NULL);
        k++;
        ASSERT_EQ(weft_now() - t0, (int64_t)k * WEFT_SECOND);  /* 1 s, 2 s, ... */
    }
    ASSERT_EQ(k, N);
    ASSERT_ERR(weft_as_completed_next(&it, &done), WEFT_EOF);
    return 0;
}
TEST(as_completed_yields_tasks_in_the_order_they_end) { ASSERT_EQ(wt_run(wait_many, NULL), 0); }
