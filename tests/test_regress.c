/* Regressions found in review of the core: each case failed before its fix.
 * Callbacks and handles, errno across upkeep, teardown, abandoned tasks,
 * scopes after leave, as-completed's entry checks, gather's duplicates,
 * timers that re-arm in the past. */
#include "test.h"

#include <errno.h>

static int late_result = 12345;
static void *late_sleeper(void *arg) {
    (void)arg;
    late_result = weft_sleep(3600 * WEFT_SECOND);   /* a finite sleep: a timer is armed */
    return NULL;
}
static void *spawn_in_teardown(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_sleep(WEFT_FOREVER - 1), WEFT_ECANCELED);
    weft_spawn_opts o = { .detached = 1 };
    ASSERT_ERR(weft_spawn_ex(NULL, &o, late_sleeper, NULL), 0);
    return NULL;
}
static int teardown_spawner(void *arg) {
    (void)arg;
    weft_detach(weft_spawn(spawn_in_teardown, NULL));
    ASSERT_ERR(weft_yield(), 0);
    return 0;
}
TEST(task_spawned_during_teardown_with_a_timer_is_cancelled) {
    int64_t t0 = 0;
    ASSERT_EQ(wt_run(teardown_spawner, NULL), 0);
    (void)t0;
    ASSERT_ERR(late_result, WEFT_ECANCELED);  /* fails: the sleep ran its full hour (0) */
}

/* A callback that releases its own handle: "released with weft_handle_free
 * (before or after the call ran)". */
static weft_handle *self_h;
static int ran;
static void frees_itself(void *arg) {
    (void)arg;
    ran = 1;
    weft_handle_free(self_h);
    self_h = NULL;
}
static int handle_freed_in_callback(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_call_later(WEFT_MILLISECOND, frees_itself, NULL, &self_h), 0);
    ASSERT_ERR(weft_sleep(10 * WEFT_MILLISECOND), 0);
    ASSERT_EQ(ran, 1);
    return 0;
}
TEST(callback_may_free_its_own_handle) { ASSERT_EQ(wt_run(handle_freed_in_callback, NULL), 0); }

/* An owned call-later handle whose call had not run when the loop ended:
 * loop_close leaves it to its owner (marks it done), but the owner cannot
 * release it: weft_handle_free outside the loop dereferences a NULL loop. */
static weft_handle *h;
static void never(void *arg) { (void)arg; }
static int main_leaves_handle(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_call_later(3600 * WEFT_SECOND, never, NULL, &h), 0);
    return 0;
}
TEST(owned_handle_can_be_released_after_the_loop) {
    long live = wt_live_allocs;
    weft_loop_opts o = { .flags = WEFT_LOOP_VIRTUAL_CLOCK, .realloc = wt_realloc };
    ASSERT_EQ(weft_run_opts(&o, main_leaves_handle, NULL), 0);
    ASSERT(h != NULL);
    ASSERT_EQ(wt_live_allocs - live, 1);   /* the handle, left to its owner */
    weft_handle_free(h);                   /* crashes: L == NULL in weft__free */
    ASSERT_EQ(wt_live_allocs, live);
}

/* errno belongs to the task, but upkeep (callbacks, syscalls) runs inside
 * weft__schedule before `saved = errno` is read. */
static void clobber(void *arg) { (void)arg; errno = EPIPE; }
static int errno_across_yield(void *arg) {
    (void)arg;
    for (int i = 0; i < 3; i++) {
        ASSERT_ERR(weft_call_soon(clobber, NULL), 0);
        errno = 42;
        ASSERT_ERR(weft_yield(), 0);
        ASSERT_EQ(errno, 42);        /* fails: EPIPE (32) from the callback */
    }
    return 0;
}
TEST(errno_survives_a_callback_run_during_the_tasks_own_suspension) {
    ASSERT_EQ(wt_run(errno_across_yield, NULL), 0);
}

/* abandon_all frees each task's stack as it goes, then unlinks the next
 * task's waiter: if that waiter's queue lives on a stack already freed (a
 * custom-size stack is munmapped at once), the unlink writes to unmapped
 * memory. */
static weft_event go = WEFT_EVENT_INITIALIZER;
static weft_event *on_a_stack;

static void *b_body(void *arg) {
    (void)arg;
    weft_event_wait(&go);                       /* until A publishes its event */
    weft_scope sh;
    weft_scope_enter_ex(&sh, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    weft_event_wait(on_a_stack);                /* queue lives on A's stack */
    weft_scope_leave(&sh);
    return NULL;
}
static void *a_body(void *arg) {
    (void)arg;
    weft_event mine = WEFT_EVENT_INITIALIZER;   /* on A's (custom) stack */
    on_a_stack = &mine;
    weft_event_set(&go);
    weft_scope sh;
    weft_scope_enter_ex(&sh, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    weft_event_wait(&mine);                     /* nobody sets it */
    weft_scope_leave(&sh);
    return NULL;
}
static int stuck_pair(void *arg) {
    (void)arg;
    weft_spawn_opts ob = { .detached = 1 };
    ASSERT_ERR(weft_spawn_ex(NULL, &ob, b_body, NULL), 0);           /* older */
    weft_spawn_opts oa = { .detached = 1, .stack_size = 256 * 1024 }; /* own mapping */
    ASSERT_ERR(weft_spawn_ex(NULL, &oa, a_body, NULL), 0);           /* newer: abandoned first */
    weft_event never = WEFT_EVENT_INITIALIZER;
    ASSERT_ERR(weft_event_wait(&never), WEFT_ECANCELED);              /* the deadlock cancels main */
    return 0;
}
TEST(abandoning_tasks_does_not_touch_freed_stacks) {
    ASSERT_ERR(wt_run(stuck_pair, NULL), WEFT_EDEADLK);
}

/* 1. weft_scope_cancelled after leave forgets a passed deadline. */
static int scope_cancelled_after_leave(void *arg) {
    (void)arg;
    weft_scope sc;
    ASSERT_ERR(weft_timeout_enter(&sc, WEFT_MILLISECOND), 0);
    ASSERT(!weft_scope_cancelled(&sc));
    /* Compute past the deadline without a suspension point inside. */
    weft_scope sh;
    weft_scope_enter_ex(&sh, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    ASSERT_ERR(weft_sleep(10 * WEFT_MILLISECOND), 0);
    weft_scope_leave(&sh);
    ASSERT(weft_scope_cancelled(&sc));          /* passes: still entered */
    ASSERT_ERR(weft_scope_leave(&sc), 0);       /* "0 even if the deadline passed unnoticed" */
    ASSERT(weft_scope_cancelled(&sc));          /* fails: owner is NULL after leave */
    return 0;
}
TEST(scope_cancelled_reports_a_passed_deadline_after_leave) {
    ASSERT_EQ(wt_run(scope_cancelled_after_leave, NULL), 0);
}

/* 2. as_completed_next is a suspension point: a cancelled caller must get
 *    WEFT_ECANCELED, not a task. */
static void *quick(void *arg) { (void)arg; return NULL; }
static int as_completed_ignores_cancel(void *arg) {
    (void)arg;
    weft_task *t[1] = { weft_spawn(quick, NULL) };
    ASSERT_ERR(weft_yield(), 0);                 /* t[0] ends */
    ASSERT(weft_task_done(t[0]));
    weft_scope sc;
    weft_scope_enter(&sc, WEFT_FOREVER);
    weft_scope_cancel(&sc);
    weft_as_completed it;
    weft_as_completed_init(&it, t, 1);
    weft_task *out = NULL;
    int err = weft_as_completed_next(&it, &out);
    weft_scope_leave(&sc);
    weft_join(t[0], NULL);
    ASSERT_ERR(err, WEFT_ECANCELED);             /* fails: returns 0 */
    return 0;
}
TEST(as_completed_next_checks_cancellation_first) {
    ASSERT_EQ(wt_run(as_completed_ignores_cancel, NULL), 0);
}

static void *nothing(void *arg) { return arg; }
static int gather_duplicate(void *arg) {
    (void)arg;
    weft_task *t = weft_spawn(nothing, NULL);
    weft_task *twice[2] = { t, t };
    ASSERT_ERR(weft_gather(twice, 2, NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_join(t, NULL), 0);  /* still ours, still joinable */
    return 0;
}
TEST(gather_refuses_a_task_listed_twice) { ASSERT_EQ(wt_run(gather_duplicate, NULL), 0); }

static int rearms;
static void rearm_in_the_past(void *arg) {
    (void)arg;
    if (++rearms < 1000) weft_call_at(0, rearm_in_the_past, NULL, NULL);
}
static int past_rearm(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_call_at(0, rearm_in_the_past, NULL, NULL), 0);
    ASSERT_ERR(weft_yield(), 0);
    ASSERT(rearms < 1000);  /* one upkeep did not run them all */
    ASSERT_ERR(weft_sleep(WEFT_SECOND), 0);
    ASSERT_EQ(rearms, 1000);
    return 0;
}
TEST(timer_rearmed_in_the_past_waits_for_the_next_round) { ASSERT_EQ(wt_run(past_rearm, NULL), 0); }

static void never_runs(void *arg) { (void)arg; ASSERT(!"ran"); }
static int forever_call(void *arg) {
    (void)arg;
    weft_handle *fh;
    ASSERT_ERR(weft_call_at(WEFT_FOREVER, never_runs, NULL, &fh), 0);
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_sleep(WEFT_SECOND), 0);
    ASSERT_EQ(weft_now() - t0, WEFT_SECOND);
    weft_handle_free(fh);
    return 0;
}
TEST(call_at_forever_never_runs) { ASSERT_EQ(wt_run(forever_call, NULL), 0); }
