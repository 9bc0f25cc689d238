/* A preloaded allocator that fails one call on purpose, for the tools'
 * allocation walk (t_fetch_alloc_walk.sh): WEFT_ALLOC_FAIL=N makes the N-th
 * malloc, calloc, realloc or posix_memalign/aligned_alloc of the process
 * return NULL (counting from 1), every other call going to glibc's own;
 * WEFT_ALLOC_COUNT=FILE writes the number of calls made to FILE at exit,
 * so the walk knows how far to go. curl's torture tests walk the same way.
 * Counting is not thread-safe to the call: the programs walked allocate on
 * one thread (weft's DNS threads run only for names, not the loopback
 * addresses the walk uses). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static long calls, fail_at = -1;
static int ready;

static void setup(void) {
    ready = 1;
    const char *s = getenv("WEFT_ALLOC_FAIL");
    if (s) fail_at = atol(s);
}

/* Nonzero if this call is the one to fail. */
static int fails(void) {
    if (!ready) setup();
    if (++calls != fail_at) return 0;
    errno = ENOMEM;
    return 1;
}

void *malloc(size_t n) { return fails() ? NULL : __libc_malloc(n); }
void *calloc(size_t a, size_t b) { return fails() ? NULL : __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { return fails() ? NULL : __libc_realloc(p, n); }
void *aligned_alloc(size_t al, size_t n) { return fails() ? NULL : __libc_memalign(al, n); }
int posix_memalign(void **out, size_t al, size_t n) {
    if (fails()) return ENOMEM;
    void *p = __libc_memalign(al, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

__attribute__((destructor)) static void report(void) {
    const char *path = getenv("WEFT_ALLOC_COUNT");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (f) { fprintf(f, "%ld\n", calls); fclose(f); }
}
