/* Task groups: structured concurrency. */
#include "test.h"

static int finished;
static void *sleep_secs(void *arg) {
    int err = weft_sleep((int64_t)(intptr_t)arg * WEFT_SECOND);
    if (!err) finished++;
    return weft_error(err);
}
static void *fail_after(void *arg) {
    weft_sleep((int64_t)(intptr_t)arg * WEFT_SECOND);
    return weft_error(WEFT_EPERM);
}

static int waits_all(void *arg) {
    (void)arg;
    weft_group g;
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_group_enter(&g), 0);
    for (int i = 1; i <= 5; i++) ASSERT_ERR(weft_group_spawn(&g, NULL, sleep_secs, (void *)(intptr_t)i), 0);
    ASSERT_ERR(weft_group_leave(&g), 0);
    ASSERT_EQ(finished, 5);
    ASSERT_EQ(weft_now() - t0, 5 * WEFT_SECOND);
    ASSERT_EQ(weft_tasks(NULL, 0), 1);
    ASSERT_ERR(weft_group_spawn(&g, NULL, sleep_secs, NULL), WEFT_ECLOSED);
    return 0;
}
TEST(leaving_a_group_waits_for_every_child) { ASSERT_EQ(wt_run(waits_all, NULL), 0); }

static int blocked_result;
static void *get_forever(void *arg) {
    void *item;
    blocked_result = weft_queue_get(arg, &item);
    return weft_error(blocked_result);
}
static int fail_cancels_siblings(void *arg) {
    (void)arg;
    weft_queue *q;
    ASSERT_ERR(weft_queue_new(&q, NULL), 0);
    weft_group g;
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_group_enter(&g), 0);
    ASSERT_ERR(weft_group_spawn(&g, NULL, get_forever, q), 0);
    ASSERT_ERR(weft_group_spawn(&g, NULL, sleep_secs, (void *)100), 0);
    ASSERT_ERR(weft_group_spawn(&g, NULL, fail_after, (void *)2), 0);
    /* The body is cancelled too. */
    ASSERT_ERR(weft_sleep(50 * WEFT_SECOND), WEFT_ECANCELED);
    ASSERT_EQ(weft_now() - t0, 2 * WEFT_SECOND);
    ASSERT_ERR(weft_group_leave(&g), WEFT_EPERM);
    ASSERT_EQ(weft_group_failures(&g), 1);
    ASSERT_ERR(blocked_result, WEFT_ECANCELED);
    ASSERT_EQ(weft_queue_size(q), 0);
    ASSERT_ERR(weft_sleep(1), 0);  /* the group's cancel ended at its edge */
    ASSERT_ERR(weft_queue_free(q), 0);
    return 0;
}
TEST(failing_child_cancels_siblings_blocked_in_a_queue_and_the_body) {
    ASSERT_EQ(wt_run(fail_cancels_siblings, NULL), 0);
}

static int two_failures(void *arg) {
    (void)arg;
    weft_group g;
    ASSERT_ERR(weft_group_enter(&g), 0);
    ASSERT_ERR(weft_group_spawn(&g, NULL, fail_after, (void *)1), 0);
    ASSERT_ERR(weft_group_spawn(&g, NULL, fail_after, (void *)1), 0);
    ASSERT_ERR(weft_group_leave(&g), WEFT_EPERM);
    ASSERT_EQ(weft_group_failures(&g), 2);
    return 0;
}
TEST(group_counts_every_failure) { ASSERT_EQ(wt_run(two_failures, NULL), 0); }

static int outer_timeout(void *arg) {
    (void)arg;
    weft_scope sc;
    weft_group g;
    int64_t t0 = weft_now();
    ASSERT_ERR(weft_timeout_enter(&sc, 3 * WEFT_SECOND), 0);
    ASSERT_ERR(weft_group_enter(&g), 0);
    for (int i = 0; i < 3; i++) ASSERT_ERR(weft_group_spawn(&g, NULL, sleep_secs, (void *)100), 0);
    int err = weft_group_leave(&g);
    /* The children timed out: a failure, reported as such. */
    ASSERT_ERR(err, WEFT_ETIMEDOUT);
    ASSERT_ERR(weft_scope_leave(&sc), WEFT_ETIMEDOUT);
    ASSERT_EQ(weft_now() - t0, 3 * WEFT_SECOND);
    return 0;
}
TEST(timeout_around_a_group_reaches_its_children) { ASSERT_EQ(wt_run(outer_timeout, NULL), 0); }

static int self_cancel(void *arg) {
    (void)arg;
    weft_group g;
    ASSERT_ERR(weft_group_enter(&g), 0);
    ASSERT_ERR(weft_group_spawn(&g, NULL, sleep_secs, (void *)100), 0);
    ASSERT_ERR(weft_yield(), 0);
    weft_group_cancel(&g);
    ASSERT_ERR(weft_yield(), WEFT_ECANCELED);
    ASSERT_ERR(weft_group_leave(&g), 0);  /* its own cancel ends at its edge */
    ASSERT_ERR(weft_yield(), 0);
    return 0;
}
TEST(group_cancelled_by_its_owner_leaves_cleanly) { ASSERT_EQ(wt_run(self_cancel, NULL), 0); }

static weft_group *outer_group;
static int grandchildren_cancelled;
static void *grandchild(void *arg) {
    (void)arg;
    if (weft_sleep(1000 * WEFT_SECOND) == WEFT_ECANCELED) grandchildren_cancelled++;
    return NULL;
}
static void *child_with_group(void *arg) {
    (void)arg;
    weft_group g;
    ASSERT_ERR(weft_group_enter(&g), 0);
    for (int i = 0; i < 3; i++) ASSERT_ERR(weft_group_spawn(&g, NULL, grandchild, NULL), 0);
    /* A sibling spawned into the outer group from inside a child. */
    ASSERT_ERR(weft_group_spawn(outer_group, NULL, grandchild, NULL), 0);
    return weft_error(weft_group_leave(&g));
}
static void *parent_task(void *arg) {
    (void)arg;
    weft_group g;
    outer_group = &g;
    ASSERT_ERR(weft_group_enter(&g), 0);
    ASSERT_ERR(weft_group_spawn(&g, NULL, child_with_group, NULL), 0);
    return weft_error(weft_group_leave(&g));
}
static int cancel_tree(void *arg) {
    (void)arg;
    weft_task *p = weft_spawn(parent_task, NULL);
    ASSERT_ERR(weft_sleep(WEFT_SECOND), 0);
    ASSERT_EQ(weft_tasks(NULL, 0), 7);
    weft_cancel(p);
    void *r;
    ASSERT_ERR(weft_join(p, &r), 0);
    ASSERT_ERR(weft_error_code(r), WEFT_ECANCELED);
    ASSERT_EQ(grandchildren_cancelled, 4);
    ASSERT_EQ(weft_tasks(NULL, 0), 1);
    return 0;
}
TEST(cancelling_a_task_cancels_its_groups_nested_children) { ASSERT_EQ(wt_run(cancel_tree, NULL), 0); }

static int shielded_child(void *arg) {
    (void)arg;
    weft_group g;
    ASSERT_ERR(weft_group_enter(&g), 0);
    ASSERT_ERR(weft_group_spawn(&g, NULL, sleep_secs, (void *)5), 0);
    weft_cancel(weft_current());
    /* leave is not interrupted: the child is cancelled and waited for. */
    int err = weft_group_leave(&g);
    ASSERT_ERR(err, WEFT_ECANCELED);
    ASSERT_EQ(finished, 0);
    return 0;
}
TEST(leave_waits_for_children_even_when_the_owner_is_cancelled) { ASSERT_EQ(wt_run(shielded_child, NULL), 0); }

static int misuse(void *arg) {
    (void)arg;
    weft_group g;
    weft_scope sc;
    ASSERT_ERR(weft_group_enter(&g), 0);
    ASSERT_ERR(weft_scope_enter(&sc, WEFT_FOREVER), 0);
    ASSERT_ERR(weft_group_leave(&g), WEFT_EINVAL);
    ASSERT_ERR(weft_scope_leave(&g.scope), WEFT_EINVAL);
    ASSERT_ERR(weft_scope_leave(&sc), 0);
    ASSERT_ERR(weft_group_leave(&g), 0);
    return 0;
}
TEST(group_leave_out_of_order_is_einval) { ASSERT_EQ(wt_run(misuse, NULL), 0); }
