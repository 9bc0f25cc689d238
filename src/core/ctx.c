/* Building a fresh context for a task, one layout per switch backend. Each
 * layout mirrors exactly what that backend's weft__swap pops, so the first
 * swap to a new task "returns" into weft__task_start (or, for ucontext, into
 * a makecontext trampoline). */
#include "internal.h"

#include <string.h>

#if defined(WEFT_SWITCH_UCONTEXT)
#include <pthread.h>
#include <signal.h>

/* makecontext passes only int arguments: the task pointer goes in two. */
static void ucontext_entry(unsigned hi, unsigned lo) {
    weft__task_main((weft_task *)(((uintptr_t)hi << 32) | (uintptr_t)lo));
}

void weft__ctx_make(weft__ctx *c, void *lo, size_t size, weft_task *t) {
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = lo;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = NULL;
    uintptr_t p = (uintptr_t)t;
    makecontext(&c->uc, (void (*)(void))ucontext_entry, 2,
                (unsigned)(p >> 32), (unsigned)(p & 0xffffffffu));
}

/* swapcontext also switches the signal mask, which belongs to the thread,
 * not to a task (weft_signal_wait blocks signals for the whole loop): hand
 * the current mask on to the context being resumed. */
void weft__swap(weft__ctx *from, weft__ctx *to) {
    pthread_sigmask(SIG_SETMASK, NULL, &to->uc.uc_sigmask);
    swapcontext(&from->uc, &to->uc);
}

#elif defined(__x86_64__)

void weft__task_start(void);

void weft__ctx_make(weft__ctx *c, void *lo, size_t size, weft_task *t) {
    /* From the saved sp up: control words, r15, r14, r13, r12, rbx, rbp,
     * return address. The return slot sits 24 bytes below the 16-aligned
     * top so that weft__task_start's call is made with rsp 16-aligned. */
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 24 - 7 * 8);
    memset(sp, 0, 8 * 8);
    uint32_t mxcsr = 0x1f80;      /* all exceptions masked, round to nearest */
    uint16_t fcw = 0x037f;        /* x87 default: extended precision, masked */
    memcpy((char *)sp, &mxcsr, 4);
    memcpy((char *)sp + 4, &fcw, 2);
    sp[4] = (uint64_t)(uintptr_t)t;                     /* r12 */
    sp[7] = (uint64_t)(uintptr_t)weft__task_start;      /* return address */
    c->sp = sp;
}

#elif defined(__aarch64__)

void weft__task_start(void);

void weft__ctx_make(weft__ctx *c, void *lo, size_t size, weft_task *t) {
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 176);
    memset(sp, 0, 176);
    sp[0] = (uint64_t)(uintptr_t)t;                     /* x19 */
    sp[11] = (uint64_t)(uintptr_t)weft__task_start;     /* x30 */
    c->sp = sp;                                         /* fpcr 0: defaults */
}

#else
#error "no context switch for this architecture: configure with -DWEFT_SWITCH=ucontext"
#endif
