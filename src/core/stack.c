/* Task stacks: reserved in large chunks, each stack with a guard page below
 * it, handed out and taken back through a per-loop pool, and the reporter
 * that turns a hit on a guard page into a message naming the task.
 *
 * Why chunks: one mapping per stack, plus a PROT_NONE guard that splits it in
 * two, runs into vm.max_map_count (65530) near 32,000 tasks. A chunk of 256
 * stacks is one mapping, and Linux 6.13+'s MADV_GUARD_INSTALL makes guard
 * pages page-table markers that split nothing, so a million stacks need about
 * 4,000 mappings. On older kernels the guard falls back to mprotect, which
 * splits the chunk: there the ceiling is about 32,000 live stacks (the
 * mapping count), as with any one-guard-per-stack design.
 *
 * Pages of freed stacks go back to the kernel with MADV_DONTNEED (guard
 * markers survive it), but not at once: the last HOT_MAX freed stacks are
 * kept warm for the next spawn, and the rest wait on a dirty list that is
 * given back in address-sorted runs (one madvise per run of neighbours): the
 * stacks that stayed on it unused for a second, checked when the loop is
 * about to sleep, and the older half when the list passes DIRTY_MAX.
 */
#include "internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#if WEFT_ASAN
#include <sanitizer/asan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define DEFAULT_STACK (64 * 1024)
#define CHUNK_SLOTS 256
#define HOT_MAX 64
#define DIRTY_MAX 1024
#define PREFAULT_MAX 64
#define TRIM_DELAY WEFT_SECOND

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Asked once per process; loops on several threads may ask at once, hence
 * the (relaxed: every writer stores the same value) atomics. */
size_t weft__page_size(void) {
    static size_t page;
    size_t p = __atomic_load_n(&page, __ATOMIC_RELAXED);
    if (!p) {
        p = (size_t)sysconf(_SC_PAGESIZE);
        __atomic_store_n(&page, p, __ATOMIC_RELAXED);
    }
    return p;
}

/* Puts a guard page at `p`: a marker if the kernel has them, else
 * mprotect. Returns 0 or -errno. */
static int guard(weft__stack_pool *p, void *at) {
    size_t page = weft__page_size();
    if (p->guard_markers) {
        if (madvise(at, page, MADV_GUARD_INSTALL) == 0) return 0;
        p->guard_markers = false;  /* EINVAL: an older kernel */
    }
    return mprotect(at, page, PROT_NONE) == 0 ? 0 : -errno;
}

/* Gives `advice` for one page at each of the first n entries of p->iov in
 * one call: process_madvise on our own pidfd (opened once, kept by the
 * pool) takes a vector of ranges, and since Linux 6.13 any advice for the
 * calling process. True if the kernel took every page. The vector lives
 * with the pool, not on the stack of the task that spawns. */
static bool advise_pages(weft__stack_pool *p, size_t n, int advice) {
#if defined(SYS_process_madvise) && defined(SYS_pidfd_open)
    if (p->pidfd < 0 && (p->pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0)) < 0) return false;
    long r = syscall(SYS_process_madvise, p->pidfd, p->iov, n, advice, 0u);
    return r == (long)(n * weft__page_size());
#else
    (void)p; (void)n; (void)advice;
    return false;
#endif
}

/* p->iov, made on first use: NULL on ENOMEM (the caller does without). */
static struct iovec *iov_of(weft_loop *L, weft__stack_pool *p) {
    if (!p->iov) p->iov = weft__alloc(L, CHUNK_SLOTS * sizeof *p->iov);
    return p->iov;
}

/* All of a chunk's guards in one call (advise_pages). Here a guard costs
 * ~0.15 us that way against ~1.5 us a call. Any failure (older kernel,
 * emulator) leaves the slot-by-slot way; installing a guard twice is
 * harmless. */
static bool guard_chunk_batched(weft_loop *L, weft__stack_pool *p, char *base) {
    if (!p->guard_markers || !p->guard_batch || !iov_of(L, p)) return false;
    size_t page = weft__page_size();
    for (size_t i = 0; i < CHUNK_SLOTS; i++) p->iov[i] = (struct iovec){ base + i * p->stride, page };
    if (advise_pages(p, CHUNK_SLOTS, MADV_GUARD_INSTALL)) return true;
    p->guard_batch = false;
    return false;
}

int weft__stack_pool_init(weft_loop *L, weft__stack_pool *p, size_t size) {
    (void)L;
    size_t page = weft__page_size();
    if (size == 0) size = DEFAULT_STACK;
    if (size < 16384) size = 16384;
    if (size > ((size_t)1 << 30)) return WEFT_EINVAL;
    memset(p, 0, sizeof *p);
    p->size = (size + page - 1) & ~(page - 1);
    p->stride = p->size + page;
    p->guard_markers = true;
    p->guard_batch = true;
    p->prefault = true;
    p->pidfd = -1;
    p->batch = 1;
    p->hot = weft__alloc(L, HOT_MAX * sizeof *p->hot);
    return p->hot ? 0 : WEFT_ENOMEM;
}

void weft__stack_pool_close(weft_loop *L, weft__stack_pool *p) {
    for (size_t i = 0; i < p->nchunks; i++) munmap(p->chunks[i], CHUNK_SLOTS * p->stride);
    weft__free(L, p->chunks);
    weft__free(L, p->hot);
    weft__free(L, p->dirty);
    weft__free(L, p->cold);
    weft__free(L, p->iov);
    if (p->pidfd >= 0) close(p->pidfd);
    memset(p, 0, sizeof *p);
}

static int add_chunk(weft_loop *L, weft__stack_pool *p) {
    size_t cap = p->cap + CHUNK_SLOTS;
    void **dirty = weft__realloc(L, p->dirty, cap * sizeof *dirty);
    if (!dirty) return WEFT_ENOMEM;
    p->dirty = dirty;
    void **cold = weft__realloc(L, p->cold, cap * sizeof *cold);
    if (!cold) return WEFT_ENOMEM;
    p->cold = cold;
    void **chunks = weft__realloc(L, p->chunks, (p->nchunks + 1) * sizeof *chunks);
    if (!chunks) return WEFT_ENOMEM;
    p->chunks = chunks;
    char *base = mmap(NULL, CHUNK_SLOTS * p->stride, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) return WEFT_ENOMEM;
    bool guarded = guard_chunk_batched(L, p, base);
    for (size_t i = 0; !guarded && i < CHUNK_SLOTS; i++) {
        if (guard(p, base + i * p->stride)) {
            munmap(base, CHUNK_SLOTS * p->stride);
            return WEFT_ENOMEM;
        }
    }
    p->chunks[p->nchunks++] = base;
    p->cap = cap;
    /* Highest address first, so the pops hand out ascending addresses and
     * tasks that end in spawn order free neighbouring runs. */
    for (size_t i = CHUNK_SLOTS; i-- > 0;) p->cold[p->ncold++] = base + i * p->stride + weft__page_size();
    return 0;
}

/* A stack of a size other than the pool's: a mapping of its own. */
static int get_single(size_t size, void **lo) {
    size_t page = weft__page_size();
    char *base = mmap(NULL, size + page, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) return WEFT_ENOMEM;
    if (madvise(base, page, MADV_GUARD_INSTALL) != 0 && mprotect(base, page, PROT_NONE) != 0) {
        munmap(base, size + page);
        return WEFT_ENOMEM;
    }
    *lo = base + page;
    return 0;
}

/* Populates the top page of the next cold stacks, which their tasks touch
 * first (weft__ctx_make writes the first frame there), in one call. Here a
 * fault costs 11-13 us a page; one process_madvise(MADV_POPULATE_WRITE) over
 * a batch ~1.4 us a page, and the first touch after it ~7 us (the
 * hypervisor's share, which no call of the guest's avoids): 8.3 us a new
 * stack instead of 13.3 (measured on a 64-page batch). The batch doubles
 * from 1, so a program with a few tasks populates a few pages. Where the
 * call fails (before Linux 6.13, under valgrind) it is not asked again. */
static void prefault(weft_loop *L, weft__stack_pool *p) {
    if (!p->prefault || !iov_of(L, p)) return;
    size_t page = weft__page_size(), n = p->batch < p->ncold ? p->batch : p->ncold;
    for (size_t i = 0; i < n; i++) p->iov[i] = (struct iovec){ (char *)p->cold[p->ncold - 1 - i] + p->size - page, page };
    if (!advise_pages(p, n, MADV_POPULATE_WRITE)) {
        p->prefault = false;
        return;
    }
    p->prefaulted = n;
    if (p->batch < PREFAULT_MAX) p->batch *= 2;
}

int weft__stack_get(weft_loop *L, size_t size, void **lo) {
    weft__stack_pool *p = &L->pool;
    if (size && size != p->size) return get_single(size, lo);
    if (p->nhot) { *lo = p->hot[--p->nhot]; return 0; }
    if (p->ndirty) {
        *lo = p->dirty[--p->ndirty];
        if (p->ndirty < p->dirty_low) p->dirty_low = p->ndirty;
        return 0;
    }
    if (!p->ncold) {
        int err = add_chunk(L, p);
        if (err) return err;
    }
    if (!p->prefaulted) prefault(L, p);
    if (p->prefaulted) p->prefaulted--;
    *lo = p->cold[--p->ncold];
    return 0;
}

static void release_oldest(weft__stack_pool *p, size_t n);

void weft__stack_put(weft_loop *L, void *lo, size_t size) {
    weft__stack_pool *p = &L->pool;
#if WEFT_ASAN
    /* The task never unwound: its frames' redzones are still poisoned, and
     * the next task on this stack must not trip over them. */
    ASAN_UNPOISON_MEMORY_REGION(lo, size ? size : p->size);
#endif
    if (size && size != p->size) {
        size_t page = weft__page_size();
        munmap((char *)lo - page, size + page);
        return;
    }
    if (p->nhot < HOT_MAX) { p->hot[p->nhot++] = lo; return; }
    p->dirty[p->ndirty++] = lo;
    if (p->ndirty >= DIRTY_MAX) release_oldest(p, p->ndirty / 2);
}

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return x < y ? -1 : x > y;
}

/* Gives back the pages of the n stacks freed longest ago: the bottom of
 * the dirty list (gets pop its top). */
static void release_oldest(weft__stack_pool *p, size_t n) {
    if (!n) return;
    qsort(p->dirty, n, sizeof *p->dirty, cmp_ptr);
    size_t i = 0;
    while (i < n) {
        /* A run of neighbours: one madvise covers them and the guards
         * between (guard markers survive MADV_DONTNEED). */
        size_t j = i + 1;
        while (j < n && (char *)p->dirty[j] == (char *)p->dirty[j - 1] + p->stride) j++;
        size_t len = (size_t)((char *)p->dirty[j - 1] - (char *)p->dirty[i]) + p->size;
        madvise(p->dirty[i], len, MADV_DONTNEED);
        i = j;
    }
    /* Cold pops come from the end: keep ascending order by pushing the
     * highest first. They go on top of any populated ones: count none. */
    for (size_t k = n; k > 0; k--) p->cold[p->ncold++] = p->dirty[k - 1];
    p->prefaulted = 0;
    memmove(p->dirty, p->dirty + n, (p->ndirty - n) * sizeof *p->dirty);
    p->ndirty -= n;
    p->dirty_low = p->dirty_low > n ? p->dirty_low - n : 0;
}

/* Decay, as jemalloc's dirty pages: what stayed unused on the dirty list
 * for a whole TRIM_DELAY goes back. Giving every freed stack back at the
 * first idle moment cost a server with a hundred busy connections fresh
 * pages (10-30 us each here) at every burst. */
int64_t weft__stack_trim(weft_loop *L) {
    weft__stack_pool *p = &L->pool;
    if (!p->ndirty) return -1;
    int64_t now = weft__mono();
    if (now - p->trim_tick < TRIM_DELAY) return p->trim_tick + TRIM_DELAY - now;
    release_oldest(p, p->dirty_low < p->ndirty ? p->dirty_low : p->ndirty);
    p->trim_tick = now;
    p->dirty_low = p->ndirty;
    return p->ndirty ? TRIM_DELAY : -1;
}

/* ------------------------------------------------------------- overflow */

/* The handler reads only the faulting thread's loop and its running task,
 * which are that thread's own: nothing it touches can change under it. */
static void overflow_handler(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    weft_loop *L = weft__tls_loop;
    weft_task *t = L ? L->cur : NULL;
    char *addr = si->si_addr;
    size_t page = weft__page_size();
    if (t && addr >= (char *)t->stack_lo - page && addr < (char *)t->stack_lo + page) {
        char msg[128];
        int n = t->name[0]
            ? snprintf(msg, sizeof msg, "weft: stack overflow in task '%s' (id %llu)\n",
                       t->name, (unsigned long long)t->id)
            : snprintf(msg, sizeof msg, "weft: stack overflow in task 'task-%llu' (id %llu)\n",
                       (unsigned long long)t->id, (unsigned long long)t->id);
        if (n > 0) {
            ssize_t w = write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
            (void)w;
        }
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    /* Not ours: the default action, by returning to the faulting access. */
    signal(sig, SIG_DFL);
}

int weft__overflow_init(weft_loop *L) {
    struct sigaction old;
    if (sigaction(SIGSEGV, NULL, &old) != 0) return 0;
    bool ours = (old.sa_flags & SA_SIGINFO) && old.sa_sigaction == overflow_handler;
    if (!ours && (old.sa_flags & SA_SIGINFO || old.sa_handler != SIG_DFL)) return 0; /* the user's */
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) {
        /* The thread already has an alternate stack: use it. */
    } else {
        L->altstack_size = 64 * 1024;
        L->altstack = weft__alloc(L, L->altstack_size);
        if (!L->altstack) return WEFT_ENOMEM;
        stack_t ss = { .ss_sp = L->altstack, .ss_size = L->altstack_size, .ss_flags = 0 };
        if (sigaltstack(&ss, NULL) != 0) {
            weft__free(L, L->altstack);
            L->altstack = NULL;
            return 0;
        }
        L->altstack_installed = true;
    }
    if (!ours) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = overflow_handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, NULL);
    }
    return 0;
}

void weft__overflow_close(weft_loop *L) {
    if (L->altstack_installed) {
        stack_t ss = { .ss_flags = SS_DISABLE };
        sigaltstack(&ss, NULL);
        L->altstack_installed = false;
    }
    weft__free(L, L->altstack);
    L->altstack = NULL;
}
