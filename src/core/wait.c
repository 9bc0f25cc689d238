/* Waiting on many tasks: gather, wait (first completed / first error / all),
 * as-completed iteration, and task groups. All of them are built on a task's
 * done queue, the waiters that its end wakes. */
#include "internal.h"

#include <string.h>

/* ------------------------------------------------------------------ wait */

static bool satisfied(weft_task *const *tasks, size_t n, int mode, size_t *ndone) {
    size_t done = 0;
    bool error = false;
    for (size_t i = 0; i < n; i++) {
        if (!weft_task_done(tasks[i])) continue;
        done++;
        if (weft_is_error(tasks[i]->result)) error = true;
    }
    *ndone = done;
    switch (mode) {
    case WEFT_FIRST_COMPLETED: return done > 0;
    case WEFT_FIRST_ERROR: return error || done == n;
    default: return done == n;
    }
}

/* Waits per `mode`; with WEFT__NOCANCEL, cancellation does not interrupt. */
static int wait_tasks(weft_task *self, weft_task *const *tasks, size_t n, int mode, int flags) {
    weft__waiter local[16], *w = local;
    size_t done;
    int err = 0;
    if (n > 16 && !(w = weft__alloc(self->loop, n * sizeof *w))) return WEFT_ENOMEM;
    while (!satisfied(tasks, n, mode, &done)) {
        for (size_t i = 0; i < n; i++) {
            w[i].task = self;
            w[i].q = NULL;
            if (!weft_task_done(tasks[i])) weft__wq_push(&tasks[i]->done_q, &w[i]);
        }
        weft__awaits(self, WEFT_AWAIT_WAIT, tasks);
        err = weft__park(self, WEFT_FOREVER, flags);
        for (size_t i = 0; i < n; i++) weft__wq_remove(&w[i]);
        if (err < 0) break;
        err = 0;
    }
    if (w != local) weft__free(self->loop, w);
    return err ? err : (int)done;
}

static int check_tasks(weft_task *self, weft_task *const *tasks, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!tasks[i] || tasks[i] == self) return WEFT_EINVAL;
        if (tasks[i]->loop != self->loop) return WEFT_EWRONGLOOP;
    }
    return 0;
}

int weft_wait(weft_task *const *tasks, size_t n, int mode) {
    weft_task *self;
    int err = weft__enter(&self);
    if (err) return err;
    if (!n || mode < WEFT_FIRST_COMPLETED || mode > WEFT_ALL_COMPLETED) return WEFT_EINVAL;
    if ((err = check_tasks(self, tasks, n))) return err;
    if ((err = weft__checkpoint(self))) return err;
    return wait_tasks(self, tasks, n, mode, 0);
}

/* ---------------------------------------------------------------- gather */

int weft_gather(weft_task *const *tasks, size_t n, void **results) {
    weft_task *self;
    int err = weft__enter(&self);
    if (err) return err;
    for (size_t i = 0; i < n; i++) {
        if (!tasks[i]) continue;
        if (tasks[i] == self) return WEFT_EINVAL;
        if (tasks[i]->joining) return WEFT_EBUSY;
        if (tasks[i]->loop != self->loop) return WEFT_EWRONGLOOP;
    }
    /* The handles are the gather's now: nobody else may join them. A task
     * listed twice would be released twice. */
    for (size_t i = 0; i < n; i++) {
        if (!tasks[i]) continue;
        if (tasks[i]->joining) {
            while (i-- > 0)
                if (tasks[i]) tasks[i]->joining = false;
            return WEFT_EINVAL;
        }
        tasks[i]->joining = true;
    }
    /* One at a time is enough to wait for all, and needs one waiter. */
    int cancel = weft__checkpoint(self);
    for (size_t i = 0; i < n && !cancel; i++) {
        weft_task *t = tasks[i];
        if (!t || weft_task_done(t)) continue;
        weft__waiter w;
        weft__wait_on(self, &t->done_q, &w);
        weft__awaits(self, WEFT_AWAIT_GATHER, t);
        cancel = weft__park(self, WEFT_FOREVER, 0);
    }
    if (cancel) {
        /* No task outlives a gather: cancel them all, wait them out. */
        for (size_t i = 0; i < n; i++)
            if (tasks[i]) weft_cancel(tasks[i]);
        for (size_t i = 0; i < n; i++) {
            weft_task *t = tasks[i];
            while (t && !weft_task_done(t)) {
                weft__waiter w;
                weft__wait_on(self, &t->done_q, &w);
                weft__awaits(self, WEFT_AWAIT_GATHER, t);
                weft__park(self, WEFT_FOREVER, WEFT__NOCANCEL);
            }
        }
    }
    uint64_t first = UINT64_MAX;
    int first_err = 0;
    for (size_t i = 0; i < n; i++) {
        weft_task *t = tasks[i];
        void *r = t ? t->result : weft_error(WEFT_ENOMEM);
        if (results) results[i] = r;
        if (weft_is_error(r) && (!t || t->finish_seq < first)) {
            first = t ? t->finish_seq : 0;
            first_err = weft_error_code(r);
        }
        if (t) weft__task_unref(t);
    }
    return cancel ? cancel : first_err;
}

/* ---------------------------------------------------------- as_completed */

void weft_as_completed_init(weft_as_completed *it, weft_task **tasks, size_t n) {
    it->tasks = tasks;
    it->left = n;
}

int weft_as_completed_next(weft_as_completed *it, weft_task **out) {
    if (!it->left) return WEFT_EOF;
    weft_task *self;
    int err = weft__enter(&self);
    if (!err) err = weft__checkpoint(self);
    if (err) return err;
    for (;;) {
        /* The earliest-ended of those not yet returned. */
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < it->left; i++) {
            weft_task *t = it->tasks[i];
            if (weft_task_done(t) && (best == SIZE_MAX || t->finish_seq < it->tasks[best]->finish_seq)) best = i;
        }
        if (best != SIZE_MAX) {
            weft_task *t = it->tasks[best];
            it->tasks[best] = it->tasks[it->left - 1];
            it->tasks[--it->left] = t;
            *out = t;
            return 0;
        }
        err = weft_wait(it->tasks, it->left, WEFT_FIRST_COMPLETED);
        if (err < 0) return err;
    }
}

/* ---------------------------------------------------------------- groups */

int weft_group_enter(weft_group *g) {
    memset(g, 0, sizeof *g);
    int err = weft_scope_enter(&g->scope, WEFT_FOREVER);
    if (!err) g->scope.is_group = 1;
    return err;
}

int weft_group_spawn(weft_group *g, const weft_spawn_opts *opts, weft_task_fn fn, void *arg) {
    weft_loop *L = weft__tls_loop;
    if (!L) return WEFT_ENOTASK;
    int err = weft__group_open_on(g, L);
    return err ? err : weft__spawn(L, NULL, opts, fn, arg, g);
}

void weft_group_cancel(weft_group *g) { weft_scope_cancel(&g->scope); }

void weft__group_child_done(weft_task *t) {
    weft_group *g = t->group;
    if (t->gprev) t->gprev->gnext = t->gnext;
    else g->scope.children = t->gnext;
    if (t->gnext) t->gnext->gprev = t->gprev;
    t->gprev = t->gnext = NULL;
    t->group = NULL;
    g->nchildren--;
    int code = weft_error_code(t->result);
    if (code && code != WEFT_ECANCELED) {
        if (!g->nfailed++) g->first_error = code;
        weft_scope_cancel(&g->scope);
    }
    if (!g->nchildren && g->waiting) weft__wake(g->scope.owner, 0);
}

int weft_group_leave(weft_group *g) {
    weft_task *t;
    int err = weft__enter(&t);
    if (err) return err;
    if (t->scope != &g->scope) return WEFT_EINVAL;
    while (g->nchildren) {
        g->waiting = 1;
        weft__awaits(t, WEFT_AWAIT_GROUP, g);
        weft__park(t, WEFT_FOREVER, WEFT__NOCANCEL);
        g->waiting = 0;
    }
    t->scope = g->scope.parent;
    if (g->scope.cancelled) t->loop->ncancelled--;
    g->scope.owner = NULL;
    if (g->first_error) return g->first_error;
    /* The group's own cancel ends at its edge; one from outside goes on. */
    return weft__cancel_status(t, true);
}

size_t weft_group_failures(const weft_group *g) { return g->nfailed; }
