/* Tasks: spawn, join, detach, names, results, errno, listing, misuse. */
#include "test.h"

#include <errno.h>

static void *ret_arg(void *arg) { return arg; }
static void *fail_inval(void *arg) { (void)arg; return weft_error(WEFT_EINVAL); }

static int join_returns_result(void *arg) {
    (void)arg;
    int x;
    weft_task *t = weft_spawn(ret_arg, &x);
    ASSERT(t);
    void *r = NULL;
    ASSERT_ERR(weft_join(t, &r), 0);
    ASSERT(r == &x);
    return 0;
}
TEST(join_returns_the_task_result) { ASSERT_EQ(wt_run(join_returns_result, NULL), 0); }

static int join_error(void *arg) {
    (void)arg;
    weft_task *t = weft_spawn(fail_inval, NULL);
    void *r;
    ASSERT_ERR(weft_join(t, &r), 0);
    ASSERT(weft_is_error(r));
    ASSERT_ERR(weft_error_code(r), WEFT_EINVAL);
    return 0;
}
TEST(task_failure_is_a_value_the_joiner_reads) { ASSERT_EQ(wt_run(join_error, NULL), 0); }

static int main_value(void *arg) { return *(int *)arg; }
TEST(run_returns_main_value) {
    int v = 42;
    ASSERT_EQ(wt_run(main_value, &v), 42);
}

static int order[8], norder;
static void *record(void *arg) { order[norder++] = (int)(intptr_t)arg; return NULL; }
static int fifo_start(void *arg) {
    (void)arg;
    weft_task *t[4];
    for (int i = 0; i < 4; i++) t[i] = weft_spawn(record, (void *)(intptr_t)i);
    ASSERT_EQ(norder, 0); /* nothing runs before the spawner suspends */
    ASSERT_ERR(weft_gather(t, 4, NULL), 0);
    for (int i = 0; i < 4; i++) ASSERT_EQ(order[i], i);
    return 0;
}
TEST(spawned_tasks_start_in_fifo_order_after_spawner_suspends) { ASSERT_EQ(wt_run(fifo_start, NULL), 0); }

static int names(void *arg) {
    (void)arg;
    weft_task *a = weft_spawn_named("fetcher", ret_arg, NULL);
    weft_task *b = weft_spawn(ret_arg, NULL);
    ASSERT_STR(weft_task_name(a), "fetcher");
    char want[32];
    snprintf(want, sizeof want, "task-%llu", (unsigned long long)weft_task_id(b));
    ASSERT_STR(weft_task_name(b), want);
    weft_task_set_name(b, "a-name-much-longer-than-thirty-one-bytes-is-cut");
    ASSERT_EQ(strlen(weft_task_name(b)), 31);
    ASSERT_STR(weft_task_name(weft_current()), "main");
    ASSERT(weft_task_id(a) != weft_task_id(b));
    weft_task *all[8];
    ASSERT_EQ(weft_tasks(all, 8), 3);
    ASSERT_EQ(weft_tasks(all, 1), 3);
    ASSERT_ERR(weft_join(a, NULL), 0);
    ASSERT_ERR(weft_join(b, NULL), 0);
    ASSERT_EQ(weft_tasks(all, 8), 1);
    return 0;
}
TEST(tasks_have_names_ids_and_are_listed) { ASSERT_EQ(wt_run(names, NULL), 0); }

static int states(void *arg) {
    (void)arg;
    weft_task *t = weft_spawn(ret_arg, NULL);
    ASSERT_EQ(weft_task_state(t), WEFT_TASK_READY);
    ASSERT_EQ(weft_task_state(weft_current()), WEFT_TASK_RUNNING);
    ASSERT_ERR(weft_task_result(t, NULL), WEFT_EAGAIN);
    ASSERT_ERR(weft_yield(), 0);
    ASSERT_EQ(weft_task_state(t), WEFT_TASK_DONE);
    ASSERT(weft_task_done(t));
    void *r = (void *)1;
    ASSERT_ERR(weft_task_result(t, &r), 0);
    ASSERT(r == NULL);
    weft_detach(t);
    return 0;
}
TEST(task_states_follow_its_life) { ASSERT_EQ(wt_run(states, NULL), 0); }

static void *sleeper(void *arg) { weft_sleep(*(int64_t *)arg); return NULL; }
static int detached(void *arg) {
    (void)arg;
    static int64_t d = WEFT_SECOND;
    weft_spawn_opts o = { .detached = 1 };
    for (int i = 0; i < 10; i++) ASSERT_ERR(weft_spawn_ex(NULL, &o, sleeper, &d), 0);
    weft_task *t = weft_spawn(sleeper, &d);
    weft_detach(t); /* released while it still runs */
    ASSERT_ERR(weft_sleep(2 * WEFT_SECOND), 0);
    ASSERT_EQ(weft_tasks(NULL, 0), 1);
    return 0;
}
TEST(detached_tasks_are_reaped_when_they_end) { ASSERT_EQ(wt_run(detached, NULL), 0); }

static int unjoined(void *arg) {
    (void)arg;
    weft_spawn(ret_arg, NULL); /* handle dropped on the floor */
    return 0;
}
TEST(unreleased_handles_are_freed_when_the_loop_ends) { ASSERT_EQ(wt_run(unjoined, NULL), 0); }

static int leftovers_cancelled;
static void *forever(void *arg) {
    (void)arg;
    int err = weft_sleep(WEFT_FOREVER - 1);
    if (err == WEFT_ECANCELED) leftovers_cancelled++;
    return NULL;
}
static int leave_tasks_behind(void *arg) {
    (void)arg;
    weft_spawn_opts o = { .detached = 1 };
    for (int i = 0; i < 3; i++) ASSERT_ERR(weft_spawn_ex(NULL, &o, forever, NULL), 0);
    weft_spawn(forever, NULL);
    ASSERT_ERR(weft_yield(), 0);
    return 7;
}
TEST(run_cancels_tasks_left_when_main_returns) {
    ASSERT_EQ(wt_run(leave_tasks_behind, NULL), 7);
    ASSERT_EQ(leftovers_cancelled, 4);
}

static void *errno_task(void *arg) {
    int v = (int)(intptr_t)arg;
    errno = v;
    for (int i = 0; i < 5; i++) {
        weft_yield();
        ASSERT_EQ(errno, v);
        weft_sleep(WEFT_MILLISECOND * v);
        ASSERT_EQ(errno, v);
    }
    return NULL;
}
static int errno_per_task(void *arg) {
    (void)arg;
    weft_task *t[3] = { weft_spawn(errno_task, (void *)1), weft_spawn(errno_task, (void *)2),
                        weft_spawn(errno_task, (void *)3) };
    errno = 99;
    ASSERT_ERR(weft_gather(t, 3, NULL), 0);
    ASSERT_EQ(errno, 99);
    return 0;
}
TEST(errno_belongs_to_each_task) { ASSERT_EQ(wt_run(errno_per_task, NULL), 0); }

static int self_join(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_join(weft_current(), NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_join(NULL, NULL), WEFT_EINVAL);
    return 0;
}
TEST(join_of_self_or_null_is_einval) { ASSERT_EQ(wt_run(self_join, NULL), 0); }

static weft_task *shared;
static void *second_joiner(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_join(shared, NULL), WEFT_EBUSY);
    return NULL;
}
static int double_join(void *arg) {
    (void)arg;
    static int64_t d = WEFT_SECOND;
    shared = weft_spawn(sleeper, &d);
    weft_task *j = weft_spawn(second_joiner, NULL);
    weft_task *first = weft_spawn(ret_arg, NULL);
    ASSERT_ERR(weft_join(first, NULL), 0);
    /* second_joiner has run already; now join for real, then reap it. */
    ASSERT_ERR(weft_join(j, NULL), 0);
    ASSERT_ERR(weft_join(shared, NULL), 0);
    return 0;
}
static void *join_shared(void *arg) { (void)arg; ASSERT_ERR(weft_join(shared, NULL), 0); return NULL; }
static int concurrent_join(void *arg) {
    (void)arg;
    static int64_t d = WEFT_SECOND;
    shared = weft_spawn(sleeper, &d);
    weft_task *j = weft_spawn(join_shared, NULL);
    ASSERT_ERR(weft_yield(), 0); /* j now waits in its join */
    ASSERT_ERR(weft_join(shared, NULL), WEFT_EBUSY);
    ASSERT_ERR(weft_join(j, NULL), 0);
    return 0;
}
TEST(second_concurrent_joiner_gets_ebusy) {
    ASSERT_EQ(wt_run(concurrent_join, NULL), 0);
    (void)double_join;
}

TEST(suspending_outside_a_task_is_enotask) {
    ASSERT_ERR(weft_sleep(1), WEFT_ENOTASK);
    ASSERT_ERR(weft_yield(), WEFT_ENOTASK);
    ASSERT(weft_spawn(ret_arg, NULL) == NULL);
    weft_event e = WEFT_EVENT_INITIALIZER;
    ASSERT_ERR(weft_event_wait(&e), WEFT_ENOTASK);
    ASSERT_ERR(weft_call_soon(free, NULL), WEFT_ENOTASK);
    ASSERT(weft_current() == NULL);
    ASSERT(weft_loop_current() == NULL);
}

static int nested(void *arg) { (void)arg; return weft_run(main_value, &(int){1}); }
TEST(loops_do_not_nest) { ASSERT_ERR(wt_run(nested, NULL), WEFT_EINVAL); }

static void *spin_child(void *arg) { return arg; }
static int many(void *arg) {
    (void)arg;
    enum { N = 100000 };
    weft_task **t = malloc(N * sizeof *t);
    for (size_t i = 0; i < N; i++) ASSERT((t[i] = weft_spawn(spin_child, (void *)i)));
    void **r = malloc(N * sizeof *r);
    ASSERT_ERR(weft_gather(t, N, r), 0);
    for (size_t i = 0; i < N; i++) ASSERT(r[i] == (void *)i);
    free(t);
    free(r);
    return 0;
}
TEST(hundred_thousand_tasks_spawned_and_joined) { ASSERT_EQ(wt_run(many, NULL), 0); }

static int fail_alloc(void *arg) {
    (void)arg;
    wt_fail_at = 0;
    ASSERT(weft_spawn(ret_arg, NULL) == NULL);
    weft_task *t;
    wt_fail_at = 0;
    ASSERT_ERR(weft_spawn_ex(&t, NULL, ret_arg, NULL), WEFT_ENOMEM);
    weft_task *g[2] = { NULL, weft_spawn(ret_arg, NULL) };
    void *r[2];
    ASSERT_ERR(weft_gather(g, 2, r), WEFT_ENOMEM);
    ASSERT_ERR(weft_error_code(r[0]), WEFT_ENOMEM);
    ASSERT(r[1] == NULL);
    return 0;
}
TEST(spawn_reports_enomem_and_gather_accepts_the_null) { ASSERT_EQ(wt_run(fail_alloc, NULL), 0); }

TEST(run_reports_enomem_when_the_loop_cannot_be_made) {
    for (long n = 0; n < 8; n++) {
        wt_fail_at = n;
        long live = wt_live_allocs;
        weft_loop_opts o = { .realloc = wt_realloc };
        int r = weft_run_opts(&o, main_value, &(int){0});
        ASSERT(r == 0 || r == WEFT_ENOMEM);
        ASSERT_EQ(wt_live_allocs, live);
        wt_fail_at = -1;
    }
}

static int bad_args(void *arg) {
    (void)arg;
    weft_task *t;
    ASSERT_ERR(weft_spawn_ex(&t, NULL, NULL, NULL), WEFT_EINVAL);
    weft_spawn_opts o = { .stack_size = (size_t)1 << 40 };
    ASSERT_ERR(weft_spawn_ex(&t, &o, ret_arg, NULL), WEFT_EINVAL);
    ASSERT_ERR(weft_spawn_ex(NULL, NULL, ret_arg, NULL), WEFT_EINVAL);
    return 0;
}
TEST(spawn_rejects_bad_arguments) { ASSERT_EQ(wt_run(bad_args, NULL), 0); }

static void *deep(void *arg) {
    /* Uses most of a 256 KiB stack: a custom size really is that big. */
    volatile char buf[200 * 1024];
    buf[0] = 1;
    buf[sizeof buf - 1] = 2;
    weft_yield();
    return (void *)(intptr_t)(buf[0] + buf[sizeof buf - 1] + (arg != NULL));
}
static int custom_stack(void *arg) {
    (void)arg;
    weft_task *t;
    weft_spawn_opts o = { .name = "big", .stack_size = 256 * 1024 };
    ASSERT_ERR(weft_spawn_ex(&t, &o, deep, NULL), 0);
    void *r;
    ASSERT_ERR(weft_join(t, &r), 0);
    ASSERT_EQ((intptr_t)r, 3);
    return 0;
}
TEST(custom_stack_size_is_honoured) { ASSERT_EQ(wt_run(custom_stack, NULL), 0); }

static int hits;
static void cb(void *arg) { hits += (int)(intptr_t)arg; }
static int callbacks(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_call_soon(cb, (void *)1), 0);
    ASSERT_ERR(weft_call_later(WEFT_SECOND, cb, (void *)10, NULL), 0);
    weft_handle *h;
    ASSERT_ERR(weft_call_later(2 * WEFT_SECOND, cb, (void *)100, &h), 0);
    weft_handle *kept;
    ASSERT_ERR(weft_call_later(WEFT_MILLISECOND, cb, (void *)1000, &kept), 0);
    ASSERT_EQ(hits, 0);
    ASSERT_ERR(weft_yield(), 0);
    ASSERT_EQ(hits, 1);
    ASSERT_ERR(weft_sleep(WEFT_SECOND + 1), 0);
    ASSERT_EQ(hits, 1011);
    weft_handle_free(h); /* cancelled before it ran */
    weft_handle_free(kept); /* freed after it ran */
    ASSERT_ERR(weft_sleep(5 * WEFT_SECOND), 0);
    ASSERT_EQ(hits, 1011);
    ASSERT_ERR(weft_call_later(WEFT_SECOND, cb, (void *)1, NULL), 0); /* pending at loop end */
    return 0;
}
TEST(call_soon_and_call_later_run_callbacks_on_the_loop) { ASSERT_EQ(wt_run(callbacks, NULL), 0); }

TEST(error_names_and_messages) {
    ASSERT_STR(weft_err_name(WEFT_ETIMEDOUT), "WEFT_ETIMEDOUT");
    ASSERT_STR(weft_strerror(WEFT_ECANCELED), "cancelled");
    ASSERT_STR(weft_err_name(WEFT_ENOTASK), "WEFT_ENOTASK");
    ASSERT_STR(weft_strerror(-ECONNREFUSED), "Connection refused");
    ASSERT_STR(weft_err_name(-ECONNREFUSED), "ECONNREFUSED");
    ASSERT_STR(weft_strerror(12345), "unknown error");
    ASSERT(weft_error_code(weft_error(WEFT_EOF)) == WEFT_EOF);
    ASSERT(!weft_is_error(&(int){0}));
    ASSERT(!weft_is_error(NULL));
    ASSERT_EQ(weft_version(), WEFT_VERSION);
    ASSERT_STR(weft_version_string(), "0.1.0");
}

static int late_cancelled;
static void *spawn_in_teardown(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_sleep(WEFT_FOREVER - 1), WEFT_ECANCELED);
    /* Cleanup that starts another task: it must be cancelled too. */
    weft_spawn_opts o = { .detached = 1 };
    ASSERT_ERR(weft_spawn_ex(NULL, &o, forever, NULL), 0);
    late_cancelled = 1;
    return NULL;
}
static int teardown_spawner(void *arg) {
    (void)arg;
    weft_detach(weft_spawn(spawn_in_teardown, NULL));
    ASSERT_ERR(weft_yield(), 0);
    return 0;
}
TEST(tasks_spawned_during_teardown_are_cancelled_too) {
    leftovers_cancelled = 0;
    ASSERT_EQ(wt_run(teardown_spawner, NULL), 0);
    ASSERT_EQ(late_cancelled, 1);
    ASSERT_EQ(leftovers_cancelled, 1);
}

static void *gatherer(void *arg) {
    weft_task **t = arg;
    return weft_error(weft_gather(t, 1, NULL));
}
static int gather_owns(void *arg) {
    (void)arg;
    static int64_t d = WEFT_SECOND;
    weft_task *t[1] = { weft_spawn(sleeper, &d) };
    weft_task *g = weft_spawn(gatherer, t);
    ASSERT_ERR(weft_yield(), 0);
    ASSERT_ERR(weft_join(t[0], NULL), WEFT_EBUSY);
    ASSERT_ERR(weft_gather(t, 1, NULL), WEFT_EBUSY);
    void *r;
    ASSERT_ERR(weft_join(g, &r), 0);
    ASSERT(r == NULL);
    return 0;
}
TEST(tasks_being_gathered_cannot_be_joined_elsewhere) { ASSERT_EQ(wt_run(gather_owns, NULL), 0); }

static void *shielded_forever(void *arg) {
    weft_event *e = arg;
    weft_scope sh;
    weft_scope_enter_ex(&sh, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    weft_event_wait(e);  /* nobody sets it, and cancellation cannot reach */
    weft_scope_leave(&sh);
    return NULL;
}
static int stuck(void *arg) {
    (void)arg;
    weft_event e = WEFT_EVENT_INITIALIZER;
    weft_task *t = weft_spawn(shielded_forever, &e);
    weft_join(t, NULL);
    return 0;
}
TEST(tasks_stuck_in_shields_after_a_deadlock_are_abandoned_not_hung) {
    ASSERT_ERR(wt_run(stuck, NULL), WEFT_EDEADLK);
}

#include <pthread.h>

static weft_event *foreign_event;
static weft_task *foreign_task;
static pthread_barrier_t both_running, checked;
static void *waits_on_event(void *arg) { return weft_error(weft_event_wait(arg)); }
static int owner_loop(void *arg) {
    (void)arg;
    weft_event e = WEFT_EVENT_INITIALIZER;
    foreign_event = &e;
    weft_task *w = weft_spawn(waits_on_event, &e);
    ASSERT_ERR(weft_yield(), 0);           /* e now has a waiter: bound here */
    foreign_task = w;
    pthread_barrier_wait(&both_running);
    pthread_barrier_wait(&checked);
    weft_event_set(&e);
    ASSERT_ERR(weft_join(w, NULL), 0);
    return 0;
}
static void *owner_thread(void *arg) { return (void *)(intptr_t)weft_run(owner_loop, arg); }
static int intruder_loop(void *arg) {
    (void)arg;
    pthread_barrier_wait(&both_running);
    ASSERT_ERR(weft_event_wait(foreign_event), WEFT_EWRONGLOOP);
    ASSERT_ERR(weft_join(foreign_task, NULL), WEFT_EWRONGLOOP);
    pthread_barrier_wait(&checked);
    return 5;
}
TEST(each_thread_runs_its_own_loop_and_foreign_objects_are_refused) {
    pthread_barrier_init(&both_running, NULL, 2);
    pthread_barrier_init(&checked, NULL, 2);
    pthread_t th;
    ASSERT(pthread_create(&th, NULL, owner_thread, NULL) == 0);
    ASSERT_EQ(weft_run(intruder_loop, NULL), 5);
    void *r;
    pthread_join(th, &r);
    ASSERT_EQ((intptr_t)r, 0);
    /* From a thread with no loop at all. */
    weft_event e = WEFT_EVENT_INITIALIZER;
    ASSERT_ERR(weft_event_wait(&e), WEFT_ENOTASK);
}
