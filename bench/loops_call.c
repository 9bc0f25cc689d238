/* cross_loop_call_us: a task on loop 0 calls a function that returns at
 * once as a task on loop 1 (weft_loops_call), ROUNDS times in a row: the
 * round trip of a call to another core and back, best of REPS runs. Each
 * call posts to loop 1 (an eventfd write when it sleeps), spawns a task
 * there, and posts the answer back. Go's peer: a request and a reply on two
 * unbuffered channels between two goroutines, GOMAXPROCS=2. */
#include "bench.h"

#include <weft/loops.h>

#define ROUNDS 100000L

static void *nothing(void *arg) { return arg; }

static double best = 1e9;
static int done;

static int call_main(unsigned index, void *arg) {
    (void)arg;
    if (index == 1) {  /* stay up until loop 0 is done */
        while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) BENCH_CHECK(weft_sleep(WEFT_MILLISECOND));
        return 0;
    }
    int64_t t0 = bench_now();
    for (long i = 0; i < ROUNDS; i++) BENCH_CHECK(weft_loops_call(1, nothing, NULL, NULL));
    double us = (double)(bench_now() - t0) / ROUNDS / 1000;
    if (us < best) best = us;
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    return 0;
}

int main(void) {
    weft_loops_opts o = { .count = 2 };
    for (int r = 0; r < REPS; r++) {
        done = 0;
        BENCH_CHECK(weft_run_loops(&o, call_main, NULL));
    }
    bench_print("cross_loop_call_us", best, "us");
    return 0;
}
