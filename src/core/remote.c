/* Other threads' way into a loop, and signal handlers': the posted-work queue
 * (weft__post, the thread pool's client interface), the thread-safe
 * call-soon built on it, weft_loop_hold, and Ctrl-C.
 *
 * Anything another thread has for the loop goes on the `posted` list as a
 * node: a callback from weft_call_soon_threadsafe, or a worker telling the
 * loop its job is done. The first node onto an empty list wakes the loop
 * (weft__remote_wake): L->remote_pending is set and the eventfd written, so
 * a loop asleep in its poller wakes through the eventfd source and a busy
 * one sees the flag at its next upkeep without a system call. The loop takes
 * the whole list under the lock and runs it outside. Signal handlers wake
 * the loop the same way (they cannot take the lock, and need not: what they
 * ask for is a flag or a count the loop reads at that upkeep).
 *
 * Ctrl-C: a SIGINT handler, not a signalfd, so that SIGINT keeps working in
 * a program whose other threads do not block it. The first SIGINT wakes the
 * loop, which cancels main at its next upkeep; a second restores the default
 * action and re-raises, so a shutdown that hangs can still be interrupted.
 * One loop at a time owns SIGINT (weft__sig_claim).
 */
#include "internal.h"

#include "weft/thread.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct weft__remote {
    pthread_mutex_t mu;    /* guards head, tail, closed */
    weft__post_node *head, *tail;
    bool closed;
    weft__source src;      /* the eventfd */
    size_t holds;          /* weft_loop_hold (loop thread only) */
    bool sigint_owned;     /* this loop claimed SIGINT */
    bool sigint_taken;     /* ... and cancelled main for it */
};

/* ---------------------------------------------------------------- Ctrl-C */

static void on_sigint(weft_loop *L, int count) {
    if (count == 1) {
        weft__remote_wake(L);
        return;
    }
    /* The second: stop asking nicely. SIGINT is blocked while the handler
     * runs, so the raise lands, with the default action, when it returns. */
    weft__sig_default(SIGINT);
    raise(SIGINT);
}

static weft__sigowner sigint = { .signo = SIGINT, .on = on_sigint };

/* A SIGINT counted before run's take_all cleared the flag is seen here; one
 * after it has set the flag again. */
static void sigint_check(weft_loop *L, struct weft__remote *R) {
    if (!R->sigint_owned || R->sigint_taken || !__atomic_load_n(&sigint.count, __ATOMIC_SEQ_CST))
        return;
    R->sigint_taken = true;
    if (L->main) {
        weft__debug(L, "SIGINT: cancelling main");
        weft_cancel(L->main);
    }
}

bool weft__sigint_seen(weft_loop *L) { return L->remote && L->remote->sigint_taken; }

void weft__sigint_release(weft_loop *L) {
    struct weft__remote *R = L->remote;
    if (!R || !R->sigint_owned) return;
    weft__sig_release(&sigint, L);
    R->sigint_owned = false;
}

/* ------------------------------------------------------------- the queue */

void weft__remote_wake(weft_loop *L) {
    __atomic_store_n(&L->remote_pending, 1, __ATOMIC_SEQ_CST);
    /* A loop that is not asleep in its poller sees the flag at its next
     * upkeep, with no system call of ours. It raises `sleeping` and then
     * reads the flag before it sleeps (both sequentially consistent, as
     * here), so one of the two sees the other and no wake is lost. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);  /* a full fence, not only the
        accesses' own ordering: qemu-user's aarch64 on x86 lost this wake */
    if (!__atomic_load_n(&L->sleeping, __ATOMIC_SEQ_CST)) return;
    uint64_t one = 1;
    ssize_t w = write(L->remote->src.fd, &one, sizeof one);
    (void)w;  /* EAGAIN only at a counter of 2^64-2: the loop is awake */
}

/* Appends n; false if the loop has closed. The eventfd is written under the
 * lock, so that close cannot close it under a writer. */
static bool post(weft_loop *L, weft__post_node *n) {
    struct weft__remote *R = L->remote;
    n->next = NULL;
    pthread_mutex_lock(&R->mu);
    bool ok = !R->closed;
    if (ok) {
        bool was_empty = !R->head;
        if (R->tail) R->tail->next = n;
        else R->head = n;
        R->tail = n;
        if (was_empty) weft__remote_wake(L);
    }
    pthread_mutex_unlock(&R->mu);
    return ok;
}

/* A layer posts only before its close hook has run (core_iface.h): a post
 * refused means a worker outlived its layer's close, a bug to stop at. */
void weft__post(weft_loop *L, weft__post_node *n) {
    if (WEFT_UNLIKELY(!post(L, n))) abort();
}

/* Takes everything posted. */
static weft__post_node *take_all(weft_loop *L, struct weft__remote *R) {
    uint64_t cnt;
    ssize_t r = read(R->src.fd, &cnt, sizeof cnt);  /* EAGAIN when already read */
    (void)r;
    pthread_mutex_lock(&R->mu);
    weft__post_node *n = R->head;
    R->head = R->tail = NULL;
    __atomic_store_n(&L->remote_pending, 0, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&R->mu);
    return n;
}

/* Runs (or with closing, drops) nodes as nobody's task, errno kept. */
static void run_all(weft_loop *L, weft__post_node *n, bool closing) {
    weft_task *cur = L->cur;
    int saved = errno;
    L->cur = NULL;
    for (weft__post_node *next; n; n = next) {
        next = n->next;
        n->run(L, n, closing);
    }
    L->cur = cur;
    errno = saved;
}

void weft__remote_run(weft_loop *L) {
    struct weft__remote *R = L->remote;
    weft__post_node *n = take_all(L, R);
    sigint_check(L, R);
    if (WEFT_UNLIKELY(__atomic_load_n(&L->dump_asked, __ATOMIC_RELAXED))) weft__debug_dump_asked(L);
    if (n) L->posted_at = weft__mono();
    run_all(L, n, false);
}

static void source_ready(weft_loop *L, weft__source *src) {
    (void)src;
    weft__remote_run(L);
}

/* ---------------------------------------------------- call_soon_threadsafe */

typedef struct soon_node {
    weft__post_node node;
    weft_callback fn;
    void *arg;
} soon_node;

/* Callbacks that come too late are discarded without running (asyncio). */
static void run_soon(weft_loop *L, weft__post_node *n, bool closing) {
    (void)L;
    soon_node *s = (soon_node *)n;
    if (!closing) s->fn(s->arg);
    free(s);
}

int weft_call_soon_threadsafe(weft_loop *L, weft_callback fn, void *arg) {
    if (!L || !fn) return WEFT_EINVAL;
    /* malloc, not the loop's allocator: that one need not be thread-safe. */
    soon_node *s = malloc(sizeof *s);
    if (!s) return WEFT_ENOMEM;
    *s = (soon_node){ { NULL, run_soon }, fn, arg };
    if (post(L, &s->node)) return 0;
    free(s);
    return WEFT_ECLOSED;
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
    struct weft__remote *R = weft__alloc(L, sizeof *R);
    if (!R) return WEFT_ENOMEM;
    *R = (struct weft__remote){ .src = { -1, source_ready } };
    R->src.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int err = R->src.fd < 0 ? -errno : weft__poll_add_source(L, &R->src);
    if (err) {
        if (R->src.fd >= 0) close(R->src.fd);
        weft__free(L, R);
        return err;
    }
    pthread_mutex_init(&R->mu, NULL);
    L->remote = R;
    if (!(L->flags & WEFT_LOOP_NO_SIGINT)) R->sigint_owned = weft__sig_claim(&sigint, L);
    return 0;
}

/* Every task has ended and the layers' threads are joined: refuse what
 * comes now, and drop what came too late. */
void weft__remote_shut(weft_loop *L) {
    struct weft__remote *R = L->remote;
    if (!R) return;
    pthread_mutex_lock(&R->mu);
    R->closed = true;
    weft__post_node *n = R->head;
    R->head = R->tail = NULL;
    pthread_mutex_unlock(&R->mu);
    run_all(L, n, true);
}

/* Last: debug mode's Ctrl-\ may have woken the loop through the eventfd
 * until its own close. */
void weft__remote_close(weft_loop *L) {
    struct weft__remote *R = L->remote;
    if (!R) return;
    weft__poll_del_source(L, &R->src);
    close(R->src.fd);
    pthread_mutex_destroy(&R->mu);
    weft__free(L, R);
    L->remote = NULL;
}
