/* The thread pool (weft_to_thread): a loop's worker threads, made when the
 * loop first hands one a job, and a client of the core's way in from other
 * threads (weft__post, src/core/remote.c), which tells the loop a job is
 * done.
 *
 * A job's life: QUEUED (on the pool's queue) -> RUNNING (a worker took it;
 * the result appears when the worker posts its node) -> DONE (the loop ran
 * that node). Its task waits parked; a cancelled task takes a QUEUED job
 * back off the queue, or leaves a RUNNING one orphaned for its node to drop.
 * Every job holds a loop reference (weft__loop_ref) from submission until
 * its node runs (or it is taken back), so its waiting task is never taken
 * for a deadlock. The node lives in the job, so finishing a job never
 * allocates or fails.
 *
 * weft__to_thread_wait is the same job waited for differently: cancelled
 * while RUNNING, its task waits on, shielded, instead of orphaning it.
 *
 * One mutex for the queue: workers take it once per job; a lock-free queue
 * would save little next to a thread wake-up.
 */
#include "core_iface.h"
#include "io_iface.h"

#include "weft/thread.h"

#include <pthread.h>
#include <signal.h>

#define POOL_DEFAULT 4     /* libuv's default (the ceiling, 1024, is the loop's check) */

enum { QUEUED, RUNNING, DONE };

typedef struct job {
    weft__post_node done;  /* posted by the worker when fn returns */
    struct job *next;      /* on the pool's queue */
    weft__mem mem;
    weft_task *task;       /* the waiting task; NULL once orphaned */
    weft_thread_fn fn;
    weft_thread_drop_fn drop;
    void *arg, *result;
    int state;             /* QUEUED -> RUNNING under the lock; DONE on the loop */
} job;

typedef struct pool {
    weft_loop *loop;
    weft__mem mem;
    pthread_mutex_t mu;    /* guards all below */
    pthread_cond_t work;   /* idle workers wait here */
    job *qhead, *qtail;
    size_t nqueued, nidle, nthreads, maxthreads;
    pthread_t *threads;    /* maxthreads slots */
    bool closed;
} pool;

static void pool_close(weft_loop *L, void *state);
static const weft__local_key pool_key = { pool_close };

/* ------------------------------------------------------------- workers */

static void *worker(void *arg) {
    pool *P = arg;
    pthread_mutex_lock(&P->mu);
    for (;;) {
        while (!P->qhead && !P->closed) {
            P->nidle++;
            pthread_cond_wait(&P->work, &P->mu);
            P->nidle--;
        }
        if (P->closed) break;  /* jobs still queued then have no taker */
        job *j = P->qhead;
        P->qhead = j->next;
        if (!P->qhead) P->qtail = NULL;
        P->nqueued--;
        j->state = RUNNING;
        pthread_mutex_unlock(&P->mu);
        j->result = j->fn(j->arg);
        weft__post(P->loop, &j->done);
        pthread_mutex_lock(&P->mu);
    }
    pthread_mutex_unlock(&P->mu);
    return NULL;
}

/* Starts a worker with every signal blocked (it inherits our mask). Caller
 * holds mu. 0 or -errno. */
static int start_worker_locked(pool *P) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&P->threads[P->nthreads], NULL, worker, P);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) return -err;
    P->nthreads++;
    return 0;
}

/* Queues j, starting a worker if every one is busy and there is room. */
static int submit(pool *P, job *j) {
    int err = 0;
    pthread_mutex_lock(&P->mu);
    if (P->nqueued + 1 > P->nidle && P->nthreads < P->maxthreads) {
        err = start_worker_locked(P);
        if (P->nthreads) err = 0;  /* the others will get to it */
    }
    if (!err) {
        j->next = NULL;
        if (P->qtail) P->qtail->next = j;
        else P->qhead = j;
        P->qtail = j;
        P->nqueued++;
        pthread_cond_signal(&P->work);
    }
    pthread_mutex_unlock(&P->mu);
    return err;
}

/* ---------------------------------------------------------------- jobs */

/* Calls a drop hook as a loop callback would run: as nobody's task. */
static void call_drop(weft_loop *L, weft_thread_drop_fn drop, void *arg, void *result) {
    if (!drop) return;
    weft_task *saved = weft__nobody_begin(L);
    drop(arg, result);
    weft__nobody_end(L, saved);
}

/* The worker's node: the job has run. Hand the result to its task, or drop
 * it if the task has gone (or the loop is closing: then every task has). */
static void job_done(weft_loop *L, weft__post_node *n, bool closing) {
    job *j = (job *)n;
    if (!closing) weft__loop_unref(L);
    j->state = DONE;
    if (j->task && !closing) {
        weft__wake(j->task, 0);  /* the task frees j */
        return;
    }
    call_drop(L, j->drop, j->arg, j->result);
    weft__mem_free(j->mem, j);
}

/* Takes j off the queue if no worker has taken it yet. Returns the state
 * it was in (QUEUED: it never runs now). Caller holds mu. */
static int take_back_locked(pool *P, job *j) {
    if (j->state == QUEUED) {
        job **p = &P->qhead, *prev = NULL;
        while (*p != j) { prev = *p; p = &(*p)->next; }
        *p = j->next;
        if (P->qtail == j) P->qtail = prev;
        P->nqueued--;
    }
    return j->state;
}

/* The waiting task was cancelled: take the job back, or leave it to finish
 * and be dropped. */
static void abandon(weft_loop *L, pool *P, job *j) {
    pthread_mutex_lock(&P->mu);
    int state = take_back_locked(P, j);
    if (state == RUNNING) j->task = NULL;  /* job_done drops it */
    pthread_mutex_unlock(&P->mu);
    if (state == RUNNING) return;
    if (state == QUEUED) weft__loop_unref(L);
    call_drop(L, j->drop, j->arg, state == QUEUED ? NULL : j->result);
    weft__mem_free(j->mem, j);
}

/* The loop's pool, made on its first job. NULL on ENOMEM. */
static pool *pool_get(weft_loop *L) {
    pool *P = weft__local_get(L, &pool_key);
    if (P) return P;
    unsigned size = weft__loop_opts(L)->pool_size;
    weft__mem mem = weft__mem_here();
    P = weft__mem_alloc(mem, sizeof *P);
    if (!P) return NULL;
    *P = (pool){ .loop = L, .mem = mem, .maxthreads = size ? size : POOL_DEFAULT };
    P->threads = weft__mem_alloc(mem, P->maxthreads * sizeof *P->threads);
    if (!P->threads || weft__local_set(L, &pool_key, P)) {
        weft__mem_free(mem, P->threads);
        weft__mem_free(mem, P);
        return NULL;
    }
    pthread_mutex_init(&P->mu, NULL);
    pthread_cond_init(&P->work, NULL);
    return P;
}

/* Queues fn(arg) for task t on L's pool: 0 and *out, or an error before
 * anything was queued. */
static int start_job(weft_loop *L, weft_task *t, weft_thread_fn fn, void *arg,
                     weft_thread_drop_fn drop, pool **pp, job **out) {
    pool *P = pool_get(L);
    weft__mem mem = weft__mem_here();
    job *j = P ? weft__mem_alloc(mem, sizeof *j) : NULL;
    if (!j) return WEFT_ENOMEM;
    *j = (job){ .done = { NULL, job_done }, .mem = mem, .task = t,
                .fn = fn, .drop = drop, .arg = arg, .state = QUEUED };
    int err = submit(P, j);
    if (err) {
        weft__mem_free(mem, j);
        return err;
    }
    weft__loop_ref(L);
    *pp = P;
    *out = j;
    return 0;
}

/* The job has run: its result to *result, and the job freed. */
static void collect(job *j, void **result) {
    if (result) *result = j->result;
    weft__mem_free(j->mem, j);
}

int weft_to_thread(weft_thread_fn fn, void *arg, weft_thread_drop_fn drop, void **result) {
    if (!weft_current()) return weft__point(NULL);  /* WEFT_ENOTASK, named */
    if (!fn) return WEFT_EINVAL;
    weft_task *t;
    int err = weft__point(&t);
    weft_loop *L = weft_loop_current();
    if (err) {  /* a cancellation code: drop owns arg */
        call_drop(L, drop, arg, NULL);
        return err;
    }
    pool *P;
    job *j;
    if ((err = start_job(L, t, fn, arg, drop, &P, &j))) return err;
    err = weft__park_for(t, WEFT_AWAIT_THREAD, j, WEFT_FOREVER);
    if (err == 0 && j->state == DONE) {
        collect(j, result);
        return 0;
    }
    if (err == 0) err = WEFT_ECANCELED;  /* cannot happen: only job_done wakes with 0 */
    abandon(L, P, j);
    return err;
}

int weft__to_thread_wait(const char *name, weft_thread_fn fn, void *arg, void **result) {
    weft_task *t;
    int err = weft__enter_point(&t, name);
    if (err) return err;
    weft_loop *L = weft_loop_current();
    pool *P;
    job *j;
    if ((err = start_job(L, t, fn, arg, NULL, &P, &j))) return err;
    err = weft__park_unmarked(t, WEFT_AWAIT_THREAD, j, WEFT_FOREVER);
    if (err) {  /* the state under the lock: a worker may be taking the job */
        pthread_mutex_lock(&P->mu);
        int state = take_back_locked(P, j);
        pthread_mutex_unlock(&P->mu);
        if (state == QUEUED) {  /* it never ran: report the cancel */
            weft__loop_unref(L);
            weft__mem_free(j->mem, j);
            int c = weft_check_cancel();
            return c ? c : err;
        }
        /* Running: it may be using the caller's memory now. Wait for its
         * end where no cancel reaches (job_done wakes t with 0). */
        weft_scope shield;
        weft_scope_enter_ex(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
        while (j->state != DONE) weft__park_for(t, WEFT_AWAIT_THREAD, j, WEFT_FOREVER);
        weft_scope_leave(&shield);
    }
    collect(j, result);
    return 0;
}

/* --------------------------------------------------------------- close */

/* Every task has ended. Stops the workers (each finishes the job it runs:
 * its node then waits in the core's queue, which drops it next) and drops
 * the jobs nobody took (queued only after a deadlock). */
static void pool_close(weft_loop *L, void *state) {
    pool *P = state;
    pthread_mutex_lock(&P->mu);
    P->closed = true;
    pthread_cond_broadcast(&P->work);
    pthread_mutex_unlock(&P->mu);
    for (size_t i = 0; i < P->nthreads; i++) pthread_join(P->threads[i], NULL);
    for (job *j = P->qhead, *next; j; j = next) {
        next = j->next;
        call_drop(L, j->drop, j->arg, NULL);
        weft__mem_free(j->mem, j);
    }
    pthread_cond_destroy(&P->work);
    pthread_mutex_destroy(&P->mu);
    weft__mem_free(P->mem, P->threads);
    weft__mem_free(P->mem, P);
}
