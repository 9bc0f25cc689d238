/* timers_1m: arm TIMERS call-later callbacks (weft_call_later) with delays
 * spread at random over [0, 1 s) on the real monotonic clock, and wait until
 * every one has fired. Random delays make the heap do real work: each arm
 * lands anywhere in it, and each firing pops the minimum of what is left.
 *
 * Since the last timer is due up to 1 s after it was armed, the wall time is
 * at least that second, whatever the timers cost. So timers_1m_s is the CPU
 * time (user + system) the process spends from the first arm to the last
 * firing: arming, the heap, the loop's wakeups and the callbacks, without the
 * waiting in between. timers_1m_wall_s and timers_1m_arm_s (wall time of the
 * arming alone) are printed beside it. One run: the figure is seconds, not
 * nanoseconds, and spans a whole second of the machine's noise already. */
#include "bench.h"

#define TIMERS 1000000L

static long pending;
static weft_event all_fired = WEFT_EVENT_INITIALIZER;

static void fired(void *arg) {
    (void)arg;
    if (--pending == 0) weft_event_set(&all_fired);
}

/* xorshift64: a fixed sequence, so every run arms the same delays. */
static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int timers_main(void *arg) {
    (void)arg;
    uint64_t seed = 0x9e3779b97f4a7c15u;
    pending = TIMERS;
    int64_t c0 = bench_cpu(), t0 = bench_now();
    for (long i = 0; i < TIMERS; i++)
        BENCH_CHECK(weft_call_later((int64_t)(rnd(&seed) % WEFT_SECOND), fired, NULL, NULL));
    int64_t t1 = bench_now();
    BENCH_CHECK(weft_event_wait(&all_fired));
    int64_t c2 = bench_cpu(), t2 = bench_now();
    bench_print("timers_1m_s", (double)(c2 - c0) / 1e9, "s");
    bench_print("timers_1m_wall_s", (double)(t2 - t0) / 1e9, "s");
    bench_print("timers_1m_arm_s", (double)(t1 - t0) / 1e9, "s");
    return 0;
}

int main(void) {
    BENCH_CHECK(weft_run(timers_main, NULL));
    return 0;
}
