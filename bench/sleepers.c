/* sleepers_1m: spawn TASKS tasks that each sleep 1 s, and gather them all.
 *
 * sleepers_1m_wall_s: from the first spawn to gather's return, so it holds
 * the 1 s of sleep plus everything the loop spends on the million tasks
 * (spawning, first runs, arming, firing, ending, freeing).
 * sleepers_1m_rss_per_task_bytes: (peak RSS - RSS before the first spawn) /
 * TASKS. The peak is VmHWM read after gather: the high-water mark of the
 * whole run, which is the moment every task is alive and asleep. The program
 * runs once per process (bench.sh runs it alone), so no other peak mixes in.
 *
 * sleepers_1m_faults_per_task: page faults over the run / TASKS, to be read
 * with page_fault_ns: on a machine where a fault is slow, they are the wall
 * time. sleepers_1m_peak_alive: the most tasks asleep at once. Here that is
 * all of them, as none runs before gather; Go's peer counts its own the same
 * way, and there it is fewer when the spawning takes longer than the 1 s
 * sleep, which makes its RSS figure a peak over fewer goroutines.
 *
 * The handle array gather needs is the caller's own bookkeeping (8 bytes a
 * task; Go's WaitGroup needs none), so it is touched before the baseline and
 * not counted: the figure is what weft itself keeps per task. */
#include "bench.h"

#define TASKS 1000000L

static long alive, peak_alive;

static void *sleeper(void *arg) {
    if (++alive > peak_alive) peak_alive = alive;
    int err = weft_sleep(WEFT_SECOND);
    alive--;
    return err ? weft_error(err) : arg;
}

static int sleepers_main(void *arg) {
    (void)arg;
    weft_task **tasks = malloc(TASKS * sizeof *tasks);
    if (!tasks) return WEFT_ENOMEM;
    memset(tasks, 0, TASKS * sizeof *tasks);
    long long rss0 = bench_status_bytes("VmRSS");
    long f0 = bench_faults();
    int64_t t0 = bench_now();
    for (long i = 0; i < TASKS; i++)
        if (!(tasks[i] = weft_spawn(sleeper, NULL))) return WEFT_ENOMEM;
    int64_t t1 = bench_now();
    BENCH_CHECK(weft_gather(tasks, TASKS, NULL));
    int64_t t2 = bench_now();
    long long peak = bench_status_bytes("VmHWM");
    long faults = bench_faults() - f0;
    free(tasks);
    bench_print("sleepers_1m_wall_s", (double)(t2 - t0) / 1e9, "s");
    bench_print("sleepers_1m_spawn_s", (double)(t1 - t0) / 1e9, "s");
    bench_print("sleepers_1m_rss_per_task_bytes", (double)(peak - rss0) / TASKS, "bytes");
    bench_print("sleepers_1m_faults_per_task", (double)faults / TASKS, "faults");
    bench_print("sleepers_1m_peak_alive", (double)peak_alive, "tasks");
    return 0;
}

int main(void) {
    BENCH_CHECK(weft_run(sleepers_main, NULL));
    return 0;
}
