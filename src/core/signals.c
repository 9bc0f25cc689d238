/* Process-wide signals a loop owns for its run: Ctrl-C (remote.c) and debug
 * mode's Ctrl-\ (debug.c). Both follow asyncio.run's rule: only the loop on
 * the process's main thread takes a signal, and only if the program left it
 * at its default action, so a program that handles or ignores it itself is
 * left alone; one loop owns a signal at a time.
 *
 * The handler does only what is async-signal-safe: it counts, and calls the
 * owner's `on`, which flags the loop and writes its eventfd. Releasing waits
 * for handlers still running on other threads, since the caller is about to
 * close the eventfd they may be writing.
 */
#include "internal.h"

#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static weft__sigowner *owners[_NSIG];  /* by signal; set once, atomic */

static void handler(int signo) {
    int saved = errno;
    weft__sigowner *o = __atomic_load_n(&owners[signo], __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&o->busy, 1, __ATOMIC_SEQ_CST);
    weft_loop *L = __atomic_load_n(&o->loop, __ATOMIC_SEQ_CST);
    if (L) o->on(L, __atomic_add_fetch(&o->count, 1, __ATOMIC_SEQ_CST));
    __atomic_sub_fetch(&o->busy, 1, __ATOMIC_SEQ_CST);
    errno = saved;
}

bool weft__sig_claim(weft__sigowner *o, weft_loop *L) {
    if (gettid() != getpid()) return false;  /* the main thread only */
    struct sigaction old, sa;
    if (sigaction(o->signo, NULL, &old) < 0) return false;
    if (old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO)) return false;
    weft_loop *none = NULL;
    if (!__atomic_compare_exchange_n(&o->loop, &none, L, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return false;
    __atomic_store_n(&o->count, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&owners[o->signo], o, __ATOMIC_SEQ_CST);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(o->signo, &sa, NULL) == 0) return true;
    __atomic_store_n(&o->loop, NULL, __ATOMIC_SEQ_CST);
    return false;
}

void weft__sig_default(int signo) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(signo, &dfl, NULL);
}

void weft__sig_release(weft__sigowner *o, weft_loop *L) {
    if (__atomic_load_n(&o->loop, __ATOMIC_SEQ_CST) != L) return;
    struct sigaction cur;
    if (sigaction(o->signo, NULL, &cur) == 0 && cur.sa_handler == handler) weft__sig_default(o->signo);
    __atomic_store_n(&o->loop, NULL, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&o->busy, __ATOMIC_SEQ_CST)) sched_yield();
}
