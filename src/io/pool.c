/* Other threads' way into a loop: the thread pool (weft_to_thread) and the
 * thread-safe call-soon queue, which share one mutex and one eventfd.
 *
 * Anything another thread has for the loop goes on the `remote` list as a
 * node (fn, arg): a callback from weft_call_soon_threadsafe, or a worker
 * telling the loop its job is done (the node lives in the job, so finishing
 * a job never allocates or fails). The first node onto an empty list sets
 * L->remote_pending and writes the eventfd: a loop asleep in its poller
 * wakes through the eventfd source, a busy one sees the flag at its next
 * upkeep without a system call. The loop takes the whole list under the
 * lock and runs it outside.
 *
 * A job's life: QUEUED (on the pool's queue) -> RUNNING (a worker took it;
 * the result appears when the worker posts its node) -> DONE (the loop ran
 * that node). Its task waits parked; a cancelled task takes a QUEUED job
 * back off the queue, or leaves a RUNNING one orphaned for its node to drop.
 * Every job counts in L->nwatch from submission until its node runs (or it
 * is taken back), so its waiting task is never taken for a deadlock.
 *
 * One mutex for all of it: workers take it once per job, and the loop once
 * per drain; a lock-free list would save little next to a thread wake-up.
 */
#include "internal.h"

#include "weft/thread.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define POOL_DEFAULT 4     /* libuv's default */
#define POOL_MAX 1024      /* libuv's ceiling */

typedef struct node {
    struct node *next;
    weft_callback fn;
    void *arg;
} node;

enum { QUEUED, RUNNING, DONE };

typedef struct job {
    node done;             /* posted by the worker when fn returns */
    struct job *next;      /* on the pool's queue */
    weft_loop *loop;
    weft_task *task;       /* the waiting task; NULL once orphaned */
    weft_thread_fn fn;
    weft_thread_drop_fn drop;
    void *arg, *result;
    int state;             /* QUEUED -> RUNNING under the lock; DONE on the loop */
} job;

struct weft__remote {
    pthread_mutex_t mu;    /* guards all below but src, holds */
    pthread_cond_t work;   /* idle workers wait here */
    node *head, *tail;     /* for the loop */
    job *qhead, *qtail;    /* for the workers */
    size_t nqueued, nidle, nthreads, maxthreads;
    pthread_t *threads;    /* maxthreads slots */
    bool closed;
    weft__source src;      /* the eventfd */
    size_t holds;          /* weft_loop_hold (loop thread only) */
};

/* ---------------------------------------------------------- the remote list */

/* Appends n and wakes the loop if the list was empty. Caller holds mu. The
 * eventfd is written under the lock so that close cannot close it under a
 * writer. */
static void post_locked(weft_loop *L, struct weft__remote *R, node *n) {
    n->next = NULL;
    bool was_empty = !R->head;
    if (R->tail) R->tail->next = n;
    else R->head = n;
    R->tail = n;
    if (was_empty) {
        __atomic_store_n(&L->remote_pending, 1, __ATOMIC_RELEASE);
        uint64_t one = 1;
        ssize_t w = write(R->src.fd, &one, sizeof one);
        (void)w;  /* EAGAIN only at a counter of 2^64-2: the loop is awake */
    }
}

int weft_call_soon_threadsafe(weft_loop *L, weft_callback fn, void *arg) {
    if (!L || !fn) return WEFT_EINVAL;
    /* malloc, not the loop's allocator: that one need not be thread-safe. */
    node *n = malloc(sizeof *n);
    if (!n) return WEFT_ENOMEM;
    n->fn = fn;
    n->arg = arg;
    struct weft__remote *R = L->remote;
    pthread_mutex_lock(&R->mu);
    bool closed = R->closed;
    if (!closed) post_locked(L, R, n);
    pthread_mutex_unlock(&R->mu);
    if (closed) free(n);
    return closed ? WEFT_ECLOSED : 0;
}

static void job_done(void *arg);

/* Runs one node as a loop callback: as nobody's task, errno kept. */
static void run_node(weft_loop *L, node *n) {
    if (n->fn == job_done) {   /* lives in its job, which job_done frees */
        job_done(n->arg);
        return;
    }
    weft_task *cur = L->cur;
    int saved = errno;
    L->cur = NULL;
    n->fn(n->arg);
    L->cur = cur;
    errno = saved;
    free(n);
}

/* Takes everything queued for the loop. */
static node *take_all(weft_loop *L, struct weft__remote *R) {
    uint64_t cnt;
    ssize_t r = read(R->src.fd, &cnt, sizeof cnt);  /* EAGAIN when already read */
    (void)r;
    pthread_mutex_lock(&R->mu);
    node *n = R->head;
    R->head = R->tail = NULL;
    __atomic_store_n(&L->remote_pending, 0, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&R->mu);
    return n;
}

void weft__remote_run(weft_loop *L) {
    struct weft__remote *R = L->remote;
    node *n = take_all(L, R);
    /* After take_all cleared the flag: a SIGINT counted before that is
     * seen here, one after it has set the flag again. */
    if (weft__sigint_take(L) && L->main) {
        weft__debug(L, "SIGINT: cancelling main");
        weft_cancel(L->main);
    }
    for (node *next; n; n = next) {
        next = n->next;
        run_node(L, n);
    }
}

static void source_ready(weft_loop *L, weft__source *src) {
    (void)src;
    weft__remote_run(L);
}

/* ------------------------------------------------------------- the pool */

static void *worker(void *arg) {
    weft_loop *L = arg;
    struct weft__remote *R = L->remote;
    pthread_mutex_lock(&R->mu);
    for (;;) {
        while (!R->qhead && !R->closed) {
            R->nidle++;
            pthread_cond_wait(&R->work, &R->mu);
            R->nidle--;
        }
        if (R->closed) break;  /* jobs still queued then have no taker */
        job *j = R->qhead;
        R->qhead = j->next;
        if (!R->qhead) R->qtail = NULL;
        R->nqueued--;
        j->state = RUNNING;
        pthread_mutex_unlock(&R->mu);
        j->result = j->fn(j->arg);
        pthread_mutex_lock(&R->mu);
        post_locked(L, R, &j->done);
    }
    pthread_mutex_unlock(&R->mu);
    return NULL;
}

/* Starts a worker with every signal blocked (it inherits our mask). Caller
 * holds mu. 0 or -errno. */
static int start_worker_locked(weft_loop *L, struct weft__remote *R) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&R->threads[R->nthreads], NULL, worker, L);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) return -err;
    R->nthreads++;
    return 0;
}

/* Queues j, starting a worker if every one is busy and there is room. */
static int submit(weft_loop *L, struct weft__remote *R, job *j) {
    int err = 0;
    pthread_mutex_lock(&R->mu);
    if (R->nqueued + 1 > R->nidle && R->nthreads < R->maxthreads) {
        err = start_worker_locked(L, R);
        if (R->nthreads) err = 0;  /* the others will get to it */
    }
    if (!err) {
        j->next = NULL;
        if (R->qtail) R->qtail->next = j;
        else R->qhead = j;
        R->qtail = j;
        R->nqueued++;
        pthread_cond_signal(&R->work);
    }
    pthread_mutex_unlock(&R->mu);
    return err;
}

/* Calls a drop hook as a loop callback would run: as nobody's task. */
static void call_drop(weft_loop *L, weft_thread_drop_fn drop, void *arg, void *result) {
    if (!drop) return;
    weft_task *cur = L->cur;
    L->cur = NULL;
    drop(arg, result);
    L->cur = cur;
}

/* The worker's node: the job has run. Hand the result to its task, or drop
 * it if the task has gone. */
static void job_done(void *arg) {
    job *j = arg;
    weft_loop *L = j->loop;
    L->nwatch--;
    j->state = DONE;
    if (j->task) {
        weft__wake(j->task, 0);  /* the task frees j */
        return;
    }
    call_drop(L, j->drop, j->arg, j->result);
    weft__free(L, j);
}

/* The waiting task was cancelled: take the job back, or leave it to finish
 * and be dropped. */
static void abandon(weft_loop *L, struct weft__remote *R, job *j) {
    pthread_mutex_lock(&R->mu);
    int state = j->state;
    if (state == QUEUED) {
        job **p = &R->qhead, *prev = NULL;
        while (*p != j) { prev = *p; p = &(*p)->next; }
        *p = j->next;
        if (R->qtail == j) R->qtail = prev;
        R->nqueued--;
    } else if (state == RUNNING) {
        j->task = NULL;  /* job_done drops it */
    }
    pthread_mutex_unlock(&R->mu);
    if (state == RUNNING) return;
    if (state == QUEUED) L->nwatch--;
    call_drop(L, j->drop, j->arg, state == QUEUED ? NULL : j->result);
    weft__free(L, j);
}

int weft_to_thread(weft_thread_fn fn, void *arg, weft_thread_drop_fn drop, void **result) {
    weft_task *t;
    int err = weft__enter(&t);
    if (err) return err;
    if (!fn) return WEFT_EINVAL;
    weft_loop *L = t->loop;
    if ((err = weft__checkpoint(t))) {  /* a cancellation code: drop owns arg */
        call_drop(L, drop, arg, NULL);
        return err;
    }
    struct weft__remote *R = L->remote;
    job *j = weft__alloc(L, sizeof *j);
    if (!j) return WEFT_ENOMEM;
    *j = (job){ .done = { NULL, job_done, j }, .loop = L, .task = t,
                .fn = fn, .drop = drop, .arg = arg, .state = QUEUED };
    if ((err = submit(L, R, j))) {
        weft__free(L, j);
        return err;
    }
    L->nwatch++;
    weft__awaits(t, WEFT_AWAIT_THREAD, j);
    err = weft__park(t, WEFT_FOREVER, 0);
    if (err == 0 && j->state == DONE) {
        if (result) *result = j->result;
        weft__free(L, j);
        return 0;
    }
    if (err == 0) err = WEFT_ECANCELED;  /* cannot happen: only job_done wakes with 0 */
    abandon(L, R, j);
    return err;
}

/* -------------------------------------------------------------- holding */

int weft_loop_hold(void) {
    weft_loop *L = weft__tls_loop;
    if (!L) return WEFT_ENOTASK;
    L->remote->holds++;
    L->nwatch++;
    return 0;
}

void weft_loop_unhold(void) {
    weft_loop *L = weft__tls_loop;
    if (!L || !L->remote->holds) return;
    L->remote->holds--;
    L->nwatch--;
}

/* ------------------------------------------------------ init and close */

int weft__remote_init(weft_loop *L) {
    unsigned size = L->pool_size ? L->pool_size : POOL_DEFAULT;
    if (size > POOL_MAX) return WEFT_EINVAL;
    struct weft__remote *R = weft__alloc(L, sizeof *R);
    if (!R) return WEFT_ENOMEM;
    *R = (struct weft__remote){ .maxthreads = size, .src = { -1, source_ready } };
    R->threads = weft__alloc(L, size * sizeof *R->threads);
    R->src.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int err = !R->threads ? WEFT_ENOMEM : R->src.fd < 0 ? -errno : 0;
    if (!err) err = weft__poll_add_source(L, &R->src);
    if (err) {
        if (R->src.fd >= 0) close(R->src.fd);
        weft__free(L, R->threads);
        weft__free(L, R);
        return err;
    }
    pthread_mutex_init(&R->mu, NULL);
    pthread_cond_init(&R->work, NULL);
    L->remote = R;
    if (!(L->flags & WEFT_LOOP_NO_SIGINT)) weft__sigint_install(L, R->src.fd);
    return 0;
}

/* Every task has ended. Stops the workers (each finishes the job it runs),
 * drops the jobs nobody took and those that finished for nobody, and
 * discards thread-safe callbacks that came too late. */
void weft__remote_close(weft_loop *L) {
    struct weft__remote *R = L->remote;
    if (!R) return;
    weft__sigint_uninstall(L);
    pthread_mutex_lock(&R->mu);
    R->closed = true;
    pthread_cond_broadcast(&R->work);
    pthread_mutex_unlock(&R->mu);
    for (size_t i = 0; i < R->nthreads; i++) pthread_join(R->threads[i], NULL);
    for (job *j = R->qhead, *next; j; j = next) {  /* only after a deadlock */
        next = j->next;
        call_drop(L, j->drop, j->arg, NULL);
        weft__free(L, j);
    }
    for (node *n = R->head, *next; n; n = next) {
        next = n->next;
        if (n->fn == job_done) {
            ((job *)n->arg)->task = NULL;
            job_done(n->arg);
        } else {
            free(n);
        }
    }
    weft__poll_del_source(L, &R->src);
    close(R->src.fd);
    pthread_cond_destroy(&R->work);
    pthread_mutex_destroy(&R->mu);
    weft__free(L, R->threads);
    weft__free(L, R);
    L->remote = NULL;
}
