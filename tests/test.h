/* The test harness: each test file is one program holding many cases; CTest
 * runs every case in a process of its own (`prog case_name`) with a timeout.
 * A failed assertion prints file:line and aborts, from whatever stack it is
 * on: never a longjmp across task stacks.
 *
 * wt_run() runs a loop the way every case should: on the virtual clock unless
 * asked otherwise, through a counting allocator, and checks afterwards that
 * every allocation was freed and no file descriptor was left open. */
#ifndef WEFT_TEST_H
#define WEFT_TEST_H

#include <weft.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ASSERT(c) do { if (!(c)) { \
    fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)
#define ASSERT_EQ(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); if (a_ != b_) { \
    fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, a_, b_); abort(); } } while (0)
#define ASSERT_ERR(a, b) do { int a_ = (int)(a), b_ = (int)(b); if (a_ != b_) { \
    fprintf(stderr, "%s:%d: %s == %s failed: %s != %s\n", __FILE__, __LINE__, #a, #b, \
            weft_err_name(a_), weft_err_name(b_)); abort(); } } while (0)
#define ASSERT_STR(a, b) do { const char *a_ = (a), *b_ = (b); if (strcmp(a_, b_)) { \
    fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a, #b, a_, b_); abort(); } } while (0)

/* Ends the case as skipped (CTest's SKIP_RETURN_CODE). */
#define WT_SKIP 77
static inline void wt_skip(const char *why) {
    printf("skipped: %s\n", why);
    exit(WT_SKIP);
}

typedef void (*wt_case_fn)(void);
static struct { const char *name; wt_case_fn fn; } wt_cases[256];
static int wt_ncases;
static void wt_register(const char *name, wt_case_fn fn) {
    wt_cases[wt_ncases].name = name;
    wt_cases[wt_ncases++].fn = fn;
}
/* A case that CTest does not list: a helper another case runs as a child
 * process (`prog name`). */
#define WT_HELPER(name) \
    static void name(void); \
    __attribute__((constructor)) static void wt_reg_##name(void) { wt_register(#name, name); } \
    static void name(void)
#define TEST(name) \
    static void name(void); \
    __attribute__((constructor)) static void wt_reg_##name(void) { wt_register(#name, name); } \
    static void name(void)

/* ------------------------------------------------- counting allocator */

static long wt_live_allocs;
static long wt_fail_at = -1;   /* fail the Nth allocation from now (0-based) */
static void *wt_realloc(void *ud, void *p, size_t size) {
    (void)ud;
    if (size == 0) {
        if (p) wt_live_allocs--;
        free(p);
        return NULL;
    }
    if (wt_fail_at == 0) { wt_fail_at = -1; return NULL; }
    if (wt_fail_at > 0) wt_fail_at--;
    void *q = realloc(p, size);
    if (q && !p) wt_live_allocs++;
    return q;
}

static int wt_count_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own fd */
}

/* Runs fn(arg) as the main task of a fresh loop with `flags`, checking that
 * nothing leaked. Returns what weft_run returned. */
static int wt_run_flags(unsigned flags, int (*fn)(void *), void *arg) {
    int fds = wt_count_fds();
    long live = wt_live_allocs;
    weft_loop_opts o = { .flags = flags, .realloc = wt_realloc };
    int r = weft_run_opts(&o, fn, arg);
    if (wt_live_allocs != live) {
        fprintf(stderr, "leak: %ld allocations not freed\n", wt_live_allocs - live);
        abort();
    }
    ASSERT_EQ(wt_count_fds(), fds);
    return r;
}
/* On the virtual clock. */
static inline int wt_run(int (*fn)(void *), void *arg) { return wt_run_flags(WEFT_LOOP_VIRTUAL_CLOCK, fn, arg); }
/* On the real clock. */
static inline int wt_run_real(int (*fn)(void *), void *arg) { return wt_run_flags(0, fn, arg); }

typedef struct wt_other { int (*fn)(void *); int result; } wt_other;
static void *wt_other_main(void *arg) {
    wt_other *o = arg;
    o->result = weft_run(o->fn, NULL);
    return NULL;
}
/* Runs fn as the main task of a loop on another thread (with the C
 * library's allocator: the counting one is not thread-safe) and returns its
 * result. The calling thread just blocks meanwhile, so its own loop's
 * waiters stay parked exactly as they are while the other loop pokes at
 * their objects. */
static inline int wt_run_on_other_thread(int (*fn)(void *)) {
    wt_other o = { fn, -1 };
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, wt_other_main, &o), 0);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    return o.result;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        for (int i = 0; i < wt_ncases; i++) printf("%s\n", wt_cases[i].name);
        return 0;
    }
    for (int i = 0; i < wt_ncases; i++) {
        if (strcmp(wt_cases[i].name, argv[1])) continue;
        wt_cases[i].fn();
        return 0;
    }
    fprintf(stderr, "no test case named %s\n", argv[1]);
    return 2;
}

#endif
