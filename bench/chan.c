/* chan_msgs_per_s_cross_loop: messages per second through a weft_chan
 * from one producer task on loop A to one consumer task on loop B, each
 * loop on a thread of its own: N messages, then close, the consumer
 * draining to WEFT_EOF. With capacity 64 (`chan_msgs_per_s_cross_loop`) the
 * two sides mostly find room and items without waiting; with capacity 1
 * (`_cap1`) nearly every message wakes the other loop (a post, an eventfd
 * write, a poller return). Best of REPS runs (bench.h), of CAP1_REPS at
 * capacity 1, whose runs take ~15 s each on the 2-core test machine; Go's
 * peer is two goroutines on GOMAXPROCS=2 (bench/go, case chan). */
#include "bench.h"

#include <weft/chan.h>

#include <pthread.h>

#define N 1000000L
#define CAP1_REPS 2

static weft_chan *ch;

static int produce(void *arg) {
    (void)arg;
    for (long i = 1; i <= N; i++) BENCH_CHECK(weft_chan_put(ch, (void *)i));
    weft_chan_close(ch);
    return 0;
}

static int consume(void *arg) {
    (void)arg;
    long want = 1;
    void *item;
    int err;
    while ((err = weft_chan_get(ch, &item)) == 0) {
        if ((long)item != want++) abort();
    }
    if (err != WEFT_EOF || want != N + 1) abort();
    return 0;
}

static void *run_loop(void *fn) {
    BENCH_CHECK(weft_run((int (*)(void *))fn, NULL));
    return NULL;
}

static double msgs_per_s(size_t capacity, int reps) {
    double best = 0;
    for (int r = 0; r < reps; r++) {
        BENCH_CHECK(weft_chan_new(&ch, capacity));
        pthread_t a, b;
        int64_t t0 = bench_now();
        if (pthread_create(&b, NULL, run_loop, (void *)consume) ||
            pthread_create(&a, NULL, run_loop, (void *)produce)) abort();
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        double rate = N / ((double)(bench_now() - t0) / 1e9);
        if (rate > best) best = rate;
        BENCH_CHECK(weft_chan_free(ch));
    }
    return best;
}

int main(void) {
    bench_print("chan_msgs_per_s_cross_loop", msgs_per_s(64, REPS), "msg/s");
    bench_print("chan_msgs_per_s_cross_loop_cap1", msgs_per_s(1, CAP1_REPS), "msg/s");
    return 0;
}
