/* spawn_per_s: start /bin/true with its stdin, stdout and stderr on
 * /dev/null, wait for it and free it, ROUNDS times in a row; the figure is
 * children per second in the best of REPS runs (see bench.h). Go's peer
 * does the same with exec.Command("/bin/true").Run(), whose nil streams
 * are /dev/null too. Most of a round is the kernel's: the clone, the exec
 * of a fresh program, its exit, and the pidfd's wake-up of the loop. */
#include "bench.h"

#include <weft/process.h>

#define ROUNDS 1000

static int spawn_main(void *arg) {
    double *best = arg;
    const char *argv[] = { "/bin/true", NULL };
    weft_process_opts o = { .stdin_mode = WEFT_STDIO_DEVNULL, .stdout_mode = WEFT_STDIO_DEVNULL,
                            .stderr_mode = WEFT_STDIO_DEVNULL };
    int64_t t0 = bench_now();
    for (int i = 0; i < ROUNDS; i++) {
        weft_process *p;
        int rc = -1;
        BENCH_CHECK(weft_process_exec(&p, argv, &o));
        BENCH_CHECK(weft_process_wait(p, &rc));
        BENCH_CHECK(rc);
        weft_process_free(p);
    }
    double per_s = ROUNDS / ((double)(bench_now() - t0) / 1e9);
    if (per_s > *best) *best = per_s;
    return 0;
}

int main(void) {
    double best = 0;
    for (int r = 0; r < REPS; r++) BENCH_CHECK(weft_run(spawn_main, &best));
    bench_print("spawn_per_s", best, "/s");
    return 0;
}
