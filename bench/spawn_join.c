/* spawn_join_ns: spawn a task that returns at once and join it, ROUNDS times
 * in a row; the figure is one spawn plus one join, best of REPS runs (see
 * bench.h). Each round takes a task record and a stack from the loop's warm
 * caches, switches to the new task when the joiner parks, and back to the
 * joiner when it ends; nothing reaches the kernel. */
#include "bench.h"

#define ROUNDS 1000000L

static void *nothing(void *arg) { return arg; }

static int spawn_join_main(void *arg) {
    double *best = arg;
    int64_t t0 = bench_now();
    for (long i = 0; i < ROUNDS; i++) {
        weft_task *t = weft_spawn(nothing, NULL);
        if (!t) return WEFT_ENOMEM;
        BENCH_CHECK(weft_join(t, NULL));
    }
    double ns = (double)(bench_now() - t0) / ROUNDS;
    if (ns < *best) *best = ns;
    return 0;
}

int main(void) {
    double best = 1e9;
    for (int r = 0; r < REPS; r++) BENCH_CHECK(weft_run(spawn_join_main, &best));
    bench_print("spawn_join_ns", best, "ns");
    return 0;
}
