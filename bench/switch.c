/* switch_ns: what a task switch through the loop costs, beside what the bare
 * stack swap under it costs (raw_swap_ns), in the same run.
 *
 * switch_ns: two tasks take turns with weft_yield, SWITCHES yields in all;
 * each yield hands the thread to the other task, so the figure is the time of
 * a round trip over 2. The main task waits in weft_join meanwhile, with no
 * deadline, so the loop holds no timer and upkeep never reads the clock.
 *
 * raw_swap_ns: weft__swap between the thread's own context and one other
 * context, SWITCHES swaps in all, no loop and no scheduler. The other context
 * is built by weft__ctx_make, which starts weft__task_main(t): a task record
 * with fn set and an empty loop record (nothing to reap) is all it reads
 * before the body, which never returns (it swaps back forever and is simply
 * dropped at the end). A bare ping-pong between two contexts is bound by
 * latency: each swap loads the stack pointer and registers that the swap
 * before last stored a few instructions earlier. In the loop, scheduler work
 * sits between, so a whole loop switch can cost less than this figure (a
 * ring of three bare contexts measured ~10 ns a swap here, two ~14).
 *
 * Both are the best of REPS runs (see bench.h), alternated so that a noisy
 * moment on the machine hits both alike. */
#include "bench.h"
#include "internal.h"

#include <sys/mman.h>

#define SWITCHES 10000000L
#define RAW_STACK (64 * 1024)

/* ------------------------------------------------------------ switch_ns */

static void *yielder(void *arg) {
    long n = *(long *)arg;
    for (long i = 0; i < n; i++)
        if (weft_yield()) return weft_error(WEFT_ECANCELED);
    return NULL;
}

static int switch_main(void *arg) {
    double *best = arg;
    long half = SWITCHES / 2;
    weft_task *a = weft_spawn(yielder, &half), *b = weft_spawn(yielder, &half);
    if (!a || !b) return WEFT_ENOMEM;
    int64_t t0 = bench_now();
    BENCH_CHECK(weft_join(a, NULL));  /* a and b start here */
    BENCH_CHECK(weft_join(b, NULL));
    double ns = (double)(bench_now() - t0) / SWITCHES;
    if (ns < *best) *best = ns;
    return 0;
}

/* ---------------------------------------------------------- raw_swap_ns */

#if WEFT_ASAN
/* The bare swap does not tell AddressSanitizer of the stack change, which
 * weft__task_main expects: no raw figure in a sanitized build. */
static double raw_swap_once(void *stack) {
    (void)stack;
    return 0;
}
#else
static weft__ctx main_ctx;
static struct weft_task peer;
static struct weft_loop no_loop;

static void *raw_peer(void *arg) {
    (void)arg;
    for (;;) weft__swap(&peer.ctx, &main_ctx);
    return NULL;
}

static double raw_swap_once(void *stack) {
    memset(&peer, 0, sizeof peer);
    peer.fn = raw_peer;
    peer.loop = &no_loop;
    weft__ctx_make(&peer.ctx, stack, RAW_STACK, &peer);
    int64_t t0 = bench_now();
    for (long i = 0; i < SWITCHES / 2; i++) weft__swap(&main_ctx, &peer.ctx);
    return (double)(bench_now() - t0) / SWITCHES;
}
#endif

int main(void) {
    void *stack = mmap(NULL, RAW_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED) return 1;
    double sw = 1e9, raw = 1e9;
    for (int r = 0; r < REPS; r++) {
        BENCH_CHECK(weft_run(switch_main, &sw));
        double ns = raw_swap_once(stack);
        if (ns < raw) raw = ns;
    }
    munmap(stack, RAW_STACK);
    bench_print("switch_ns", sw, "ns");
    if (raw > 0) {
        bench_print("raw_swap_ns", raw, "ns");
        bench_print("switch_ns_ratio_raw", sw / raw, "x");
    }
    return 0;
}
