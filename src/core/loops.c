/* Several loops as one unit (weft/loops.h): weft_run_loops starts a thread
 * per loop and joins them, and weft_loops_call runs a function as a task on
 * another loop of the same set.
 *
 * The set (`cluster`) outlives its loops: each loop's slot holds its
 * weft_loop while the loop is open, cleared under the set's mutex by the
 * loop's close hook (a weft__local_key), which runs before the loop refuses
 * posted work. So "post to loop i" is: take the mutex, find the loop, post,
 * let go; once the slot is empty, WEFT_ECLOSED, never a freed loop.
 *
 * A call is a record on the heap (it crosses threads) with three nodes:
 * `start` goes to the target loop, which spawns the task; `done` comes back
 * to the caller's loop, which cannot close meanwhile since the caller waits
 * on it; `cancel` goes to the target if the caller is cancelled. The target
 * runs its posted nodes in order, so `cancel` never comes before `start`;
 * it may come after the task ended, hence `remote`, read and written on the
 * target's thread only, and a reference count so that the record outlives
 * a `cancel` still on its way. */
#include "internal.h"

#include "weft/loops.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

typedef struct cluster cluster;

typedef struct slot {
    cluster *c;
    unsigned index;
    weft_loop *loop;   /* while open; guarded by c->mu */
    pthread_t thread;
    bool started;      /* thread made (index > 0) */
    bool registered;   /* its loop counted in c->up */
    int rc;            /* weft_run_opts's result */
} slot;

struct cluster {
    pthread_mutex_t mu;
    pthread_cond_t all_up;  /* every loop registered, or could not start */
    unsigned up;            /* loops registered or failed; guarded by mu */
    unsigned n;
    slot *slots;
    int (*main)(unsigned, void *);
    void *arg;
    const weft_loops_opts *opts;
    cpu_set_t cpus;     /* the CPUs the process may use */
    int first_err;      /* guarded by mu */
};

static __thread slot *my_slot;

/* --------------------------------------------------------------- posting */

/* Hands n to loop i: 0, or WEFT_ECLOSED when that loop has closed. */
static int post_to(cluster *c, unsigned i, weft__post_node *n) {
    pthread_mutex_lock(&c->mu);
    weft_loop *L = c->slots[i].loop;
    if (L) weft__post(L, n);
    pthread_mutex_unlock(&c->mu);
    return L ? 0 : WEFT_ECLOSED;
}

static void cancel_main(weft_loop *L, weft__post_node *n, bool closing) {
    (void)n;
    if (!closing && L->main) weft_cancel(L->main);
    free(n);
}

/* Records the first failure and cancels every other loop's main. */
static void fail(cluster *c, unsigned from, int err) {
    pthread_mutex_lock(&c->mu);
    bool first = !c->first_err;
    if (first) c->first_err = err;
    pthread_mutex_unlock(&c->mu);
    if (!first) return;
    for (unsigned i = 0; i < c->n; i++) {
        if (i == from) continue;
        weft__post_node *n = malloc(sizeof *n);
        if (!n) continue;  /* that loop runs on; the failure is still returned */
        n->run = cancel_main;
        if (post_to(c, i, n)) free(n);
    }
}

/* -------------------------------------------------------------- the loops */

static void slot_close(weft_loop *L, void *state) {
    (void)L;
    slot *s = state;
    pthread_mutex_lock(&s->c->mu);
    s->loop = NULL;
    pthread_mutex_unlock(&s->c->mu);
}
static const weft__local_key slot_key = { slot_close };

static int loop_main(void *arg) {
    slot *s = arg;
    cluster *c = s->c;
    weft_loop *L = weft_loop_current();
    int err = weft__local_set(L, &slot_key, s);
    if (err) return err;
    /* Every main starts once every loop can be called (or has failed to
     * start): a call to a loop still starting is not "closed". The loops
     * run nothing else yet, so blocking their threads here costs nothing. */
    pthread_mutex_lock(&c->mu);
    s->loop = L;
    s->registered = true;
    if (++c->up == c->n) pthread_cond_broadcast(&c->all_up);
    while (c->up < c->n) pthread_cond_wait(&c->all_up, &c->mu);
    bool failed = c->first_err != 0;
    pthread_mutex_unlock(&c->mu);
    /* A failure before this loop could be reached: start cancelled. */
    if (failed) weft_cancel(weft_current());
    int rc = c->main(s->index, c->arg);
    if (rc || weft__sigint_seen(L)) fail(c, s->index, weft__sigint_seen(L) ? WEFT_EINTR : rc);
    return rc;
}

/* A loop that will never register (its thread or its loop could not be
 * made) counts as up, so the others do not wait for it. */
static void never_up(cluster *c) {
    pthread_mutex_lock(&c->mu);
    if (++c->up == c->n) pthread_cond_broadcast(&c->all_up);
    pthread_mutex_unlock(&c->mu);
}

static void run_slot(slot *s) {
    my_slot = s;
    s->registered = false;
    s->rc = weft_run_opts(&s->c->opts->loop, loop_main, s);
    my_slot = NULL;
    if (s->rc) fail(s->c, s->index, s->rc);
    if (!s->registered) never_up(s->c);
}

static void *thread_main(void *arg) {
    run_slot(arg);
    return NULL;
}

/* The i-th CPU of the set, modulo their number. */
static int nth_cpu(const cpu_set_t *set, unsigned i) {
    int n = CPU_COUNT(set);
    if (n <= 0) return -1;
    unsigned k = i % (unsigned)n;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, set) && k-- == 0) return cpu;
    return -1;
}

static void pin(pthread_t th, const cpu_set_t *set, unsigned i) {
    int cpu = nth_cpu(set, i);
    if (cpu < 0) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pthread_setaffinity_np(th, sizeof one, &one);  /* best effort: a hint */
}

int weft_run_loops(const weft_loops_opts *opts, int (*main)(unsigned, void *), void *arg) {
    static const weft_loops_opts defaults = { 0 };
    if (!opts) opts = &defaults;
    if (!main || opts->count > 1024) return WEFT_EINVAL;
    if (weft__tls_loop || my_slot) return WEFT_EINVAL;
    cluster c = { .main = main, .arg = arg, .opts = opts };
    if (sched_getaffinity(0, sizeof c.cpus, &c.cpus) != 0) {
        CPU_ZERO(&c.cpus);
        CPU_SET(0, &c.cpus);
    }
    c.n = opts->count ? opts->count : (unsigned)CPU_COUNT(&c.cpus);
    if (c.n == 0) c.n = 1;
    c.slots = calloc(c.n, sizeof *c.slots);
    if (!c.slots) return WEFT_ENOMEM;
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.all_up, NULL);
    for (unsigned i = 0; i < c.n; i++) c.slots[i] = (slot){ .c = &c, .index = i };

    /* Ctrl-C is for loop 0 (weft_run's handler on this thread): the others
     * block it, and their threads inherit the mask. */
    sigset_t intr, old;
    sigemptyset(&intr);
    sigaddset(&intr, SIGINT);
    pthread_sigmask(SIG_BLOCK, &intr, &old);
    for (unsigned i = 1; i < c.n; i++) {
        int e = pthread_create(&c.slots[i].thread, NULL, thread_main, &c.slots[i]);
        if (e) {
            fail(&c, i, e == EAGAIN ? WEFT_ENOMEM : -e);
            for (unsigned j = i; j < c.n; j++) never_up(&c);
            break;
        }
        c.slots[i].started = true;
        if (opts->pin) pin(c.slots[i].thread, &c.cpus, i);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    cpu_set_t mine;
    bool restore = opts->pin && pthread_getaffinity_np(pthread_self(), sizeof mine, &mine) == 0;
    if (opts->pin) pin(pthread_self(), &c.cpus, 0);
    run_slot(&c.slots[0]);
    if (restore) pthread_setaffinity_np(pthread_self(), sizeof mine, &mine);

    for (unsigned i = 1; i < c.n; i++)
        if (c.slots[i].started) pthread_join(c.slots[i].thread, NULL);
    int err = c.first_err;
    pthread_cond_destroy(&c.all_up);
    pthread_mutex_destroy(&c.mu);
    free(c.slots);
    return err;
}

unsigned weft_loops_count(void) { return my_slot ? my_slot->c->n : 0; }

int weft_loops_index(void) { return my_slot ? (int)my_slot->index : -1; }

/* ----------------------------------------------------------------- calls */

typedef struct call {
    weft__post_node start, done, cancel;
    weft_task_fn fn;
    void *arg;
    void *result;
    int err;              /* the call failed before fn ran */
    weft_loop *from;      /* the caller's loop */
    weft_task *caller;
    weft_task *remote;    /* target thread only: the task, while it runs */
    bool cancelled;       /* target thread only: the caller gave up */
    bool finished;        /* caller's thread only */
    int refs;             /* atomic: the caller, a cancel in flight */
} call;

static void call_unref(call *k) {
    if (__atomic_sub_fetch(&k->refs, 1, __ATOMIC_ACQ_REL) == 0) free(k);
}

static void *call_main(void *arg) {
    call *k = arg;
    k->remote = weft_current();
    if (k->cancelled) weft_cancel(k->remote);  /* the caller gave up before we ran */
    void *r = k->fn(k->arg);
    k->remote = NULL;
    k->result = r;
    weft__post(k->from, &k->done);  /* open: the caller waits on it */
    return NULL;
}

static void call_start(weft_loop *L, weft__post_node *n, bool closing) {
    call *k = (call *)((char *)n - offsetof(call, start));
    int err = closing ? WEFT_ECLOSED : 0;
    weft_spawn_opts o = { .detached = 1 };
    if (!err) err = weft_spawn_ex(NULL, &o, call_main, k);
    (void)L;
    if (!err) return;
    k->err = err;
    weft__post(k->from, &k->done);
}

static void call_cancel(weft_loop *L, weft__post_node *n, bool closing) {
    (void)L;
    call *k = (call *)((char *)n - offsetof(call, cancel));
    k->cancelled = true;
    if (!closing && k->remote) weft_cancel(k->remote);
    call_unref(k);
}

static void call_done(weft_loop *L, weft__post_node *n, bool closing) {
    (void)L;
    (void)closing;  /* never: the caller's loop waits for this */
    call *k = (call *)((char *)n - offsetof(call, done));
    k->finished = true;
    weft__wake(k->caller, 0);
}

int weft_loops_call(unsigned index, weft_task_fn fn, void *arg, void **result) {
    weft_task *t;
    int err = weft__enter(&t);
    if (!err) err = weft__checkpoint(t);
    if (err) return err;
    if (!fn || !my_slot || index >= my_slot->c->n) return WEFT_EINVAL;
    call *k = malloc(sizeof *k);
    if (!k) return WEFT_ENOMEM;
    *k = (call){ .fn = fn, .arg = arg, .from = t->loop, .caller = t, .refs = 1 };
    k->start.run = call_start;
    k->done.run = call_done;
    k->cancel.run = call_cancel;
    if ((err = post_to(my_slot->c, index, &k->start))) {
        free(k);
        return err;
    }
    /* The caller's loop must not think itself deadlocked while the work
     * runs elsewhere: counted as waiting on the outside world. */
    t->loop->nwatch++;
    weft__awaits(t, WEFT_AWAIT_LOOP, (const void *)(uintptr_t)index);
    /* Unmarked: a call that still completes reports success, and its
     * scope must not then say it caught the cancel (weft_scope_leave). */
    err = weft__park(t, WEFT_FOREVER, WEFT__NOMARK);
    if (!k->finished) {
        __atomic_add_fetch(&k->refs, 1, __ATOMIC_ACQ_REL);
        if (post_to(my_slot->c, index, &k->cancel)) call_unref(k);  /* closed: start drops to done */
        while (!k->finished) weft__park(t, WEFT_FOREVER, WEFT__NOCANCEL);
    }
    t->loop->nwatch--;
    if (result) *result = k->result;
    if (k->err) err = k->err;
    else if (err && !weft_is_error(k->result)) err = 0;  /* it completed: delivered */
    else if (err) {  /* reported: the scope caught it */
        int c = weft__cancel_status(t, true);
        if (c) err = c;
    }
    call_unref(k);
    return err;
}

/* ------------------------------------------------------------- the dump */

void weft__loops_dump_rest(void) {
    slot *s = my_slot;
    if (!s || s->index != 0) return;
    cluster *c = s->c;
    pthread_mutex_lock(&c->mu);
    for (unsigned i = 1; i < c->n; i++) {
        weft_loop *L = c->slots[i].loop;
        if (!L) continue;
        __atomic_store_n(&L->dump_asked, 1, __ATOMIC_RELEASE);
        weft__remote_wake(L);
    }
    pthread_mutex_unlock(&c->mu);
}
