/* A preload shim that makes one allocation of a whole program fail: the
 * installed programs' allocation walk (tests/alloc_walk.py) runs a program
 * with LD_PRELOAD=libweft_failmalloc.so once per allocation N = 1, 2, 3, ...
 * as curl's torture tests do. tests/test_alloc_fail.c walks weft's own
 * allocation hook; this sees every allocation: the program's, libc's (stdio,
 * getaddrinfo), OpenSSL's, jansson's, zlib's.
 *
 *   WEFT_FAILMALLOC_AT=N   the Nth allocation returns NULL (ENOMEM), once;
 *                          unset or 0: none fails, the shim only counts
 *   WEFT_FAILMALLOC_LOG=F  appends "fail N" to F when it fails one, and
 *                          "count N" when the program exits normally
 *   WEFT_FAILMALLOC_BT=1   a backtrace of the failed call on stderr
 *
 * Counting starts at main, not at load: what the dynamic loader and libc
 * allocate before main is no program's to handle, and a failure there would
 * only say that glibc aborts (it does). The shim wraps __libc_start_main to
 * see main start; the alternative, a constructor, would start counting
 * before the other libraries' constructors, at an order the loader picks.
 * OpenSSL's and jansson's initialisation happens inside main (lazily), so it
 * is counted: a program must survive its failing too.
 *
 * Which calls: the functions glibc's manual lists for replacing malloc
 * (malloc, calloc, realloc, the aligned ones). glibc's own strdup, fopen,
 * getaddrinfo... call malloc through the PLT, so they come here as well; free
 * is glibc's own, since every block comes from glibc's allocator
 * (__libc_malloc and friends, which never call back into this file). The
 * counter is atomic: the DNS pool's threads allocate too. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static long fail_at;     /* 0: count only */
static long counted;     /* allocations since main started */
static bool counting;    /* main has started */

/* Appends "WHAT N" to $WEFT_FAILMALLOC_LOG with no allocation of its own. */
static void log_line(const char *what, long n) {
    const char *path = getenv("WEFT_FAILMALLOC_LOG");
    if (!path) return;
    char line[64];
    int len = snprintf(line, sizeof line, "%s %ld\n", what, n);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    ssize_t w = write(fd, line, (size_t)len);
    (void)w;
    close(fd);
}

/* Counts one allocation; true if it is the one that must fail. */
static bool fail_now(void) {
    if (!__atomic_load_n(&counting, __ATOMIC_RELAXED)) return false;
    long n = __atomic_add_fetch(&counted, 1, __ATOMIC_RELAXED);
    if (n != fail_at) return false;
    log_line("fail", n);
    if (getenv("WEFT_FAILMALLOC_BT")) {  /* backtrace may allocate: it is past the one that fails */
        void *bt[48];
        backtrace_symbols_fd(bt, backtrace(bt, 48), 2);
    }
    errno = ENOMEM;
    return true;
}

void *malloc(size_t n) { return fail_now() ? NULL : __libc_malloc(n); }
void *calloc(size_t k, size_t n) { return fail_now() ? NULL : __libc_calloc(k, n); }
void *realloc(void *p, size_t n) {
    if (p && n == 0) return __libc_realloc(p, 0);  /* a free, which cannot fail */
    return fail_now() ? NULL : __libc_realloc(p, n);
}
void *reallocarray(void *p, size_t k, size_t n) {
    if (n && k > SIZE_MAX / n) { errno = ENOMEM; return NULL; }
    return realloc(p, k * n);
}
void *memalign(size_t align, size_t n) { return fail_now() ? NULL : __libc_memalign(align, n); }
void *aligned_alloc(size_t align, size_t n) { return memalign(align, n); }
void *valloc(size_t n) { return memalign((size_t)sysconf(_SC_PAGESIZE), n); }
void *pvalloc(size_t n) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return memalign(page, (n + page - 1) / page * page);
}
int posix_memalign(void **out, size_t align, size_t n) {
    if (align % sizeof(void *) || (align & (align - 1))) return EINVAL;
    void *p = memalign(align, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

/* ------------------------------------------------ counting from main */

typedef int main_fn(int, char **, char **);
static main_fn *real_main;

static int counted_main(int argc, char **argv, char **envp) {
    const char *at = getenv("WEFT_FAILMALLOC_AT");
    fail_at = at ? atol(at) : 0;
    __atomic_store_n(&counting, true, __ATOMIC_RELAXED);
    return real_main(argc, argv, envp);
}

/* Runs at exit (not at _exit, nor at a signal): how many there were. */
__attribute__((destructor)) static void report(void) {
    if (counting) log_line("count", __atomic_load_n(&counted, __ATOMIC_RELAXED));
}

typedef int start_fn(main_fn *, int, char **, void (*)(void), void (*)(void), void (*)(void), void *);
int __libc_start_main(main_fn *main, int argc, char **argv, void (*init)(void), void (*fini)(void),
                      void (*rtld_fini)(void), void *stack_end);

int __libc_start_main(main_fn *main, int argc, char **argv, void (*init)(void), void (*fini)(void),
                      void (*rtld_fini)(void), void *stack_end) {
    start_fn *real = (start_fn *)dlsym(RTLD_NEXT, "__libc_start_main");
    real_main = main;
    return real(counted_main, argc, argv, init, fini, rtld_fini, stack_end);
}
