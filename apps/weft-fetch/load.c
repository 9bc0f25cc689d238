/* weft-fetch's load mode: N requests over C connections, in the manner of
 * wrk and hey, on T loops (-t, wrk's threads). Each loop's tasks share
 * one client whose pool holds that loop's share of the C connections;
 * each task takes the next request number until N are done, and
 * records its latency (from send to the body's end). Then the rate and the
 * latency percentiles, with a small histogram on a logarithmic scale
 * (latencies spread over orders of magnitude; linear buckets would put
 * almost everything in the first). */
#include "fetch.h"

#include <weft/loops.h>

#include <math.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What every loop shares: the request count they all take from, the
 * latencies (slot i written only by whoever took request i), the tallies. */
typedef struct load {
    const fetch_opts *o;
    long next, done, failed;  /* atomic */
    int first_err;            /* atomic: the first failure's code */
    int64_t *lat;
    long conns;               /* in all */
    long threads;
    int err;                  /* atomic: an exit code that ended a loop early */
} load;

typedef struct shard {
    load *l;
    weft_http_client *c;
} shard;

static void *worker(void *arg) {
    shard *sh = arg;
    load *l = sh->l;
    char buf[16 * 1024];
    /* Every request is the same: made once (a request is reusable). */
    weft_http_request *q = NULL;
    char why[256];
    int qerr = fetch_request(l->o, l->o->urls[0].url, NULL, NULL, &q, why, sizeof why) ? WEFT_EINVAL : 0;
    for (;;) {
        long i = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
        if (i >= l->o->requests) break;
        int64_t t0 = weft_now();
        weft_http_response *r = NULL;
        int err = qerr ? qerr : weft_http_send(sh->c, q, WEFT_HTTP_STREAM, &r);
        ssize_t n = 0;
        while (!err && (n = weft_http_response_read(r, buf, sizeof buf)) > 0) {}
        if (!err && n < 0) err = (int)n;
        weft_http_response_free(r);
        if (err == WEFT_ECANCELED) break;
        l->lat[i] = err ? -1 : weft_now() - t0;
        __atomic_add_fetch(&l->done, 1, __ATOMIC_RELAXED);
        if (err) {
            int none = 0;
            __atomic_add_fetch(&l->failed, 1, __ATOMIC_RELAXED);
            __atomic_compare_exchange_n(&l->first_err, &none, err, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        }
    }
    weft_http_request_free(q);
    return NULL;
}

/* One loop's share: `conns` connections of one client, a task each. */
static int run_shard(load *l, long conns) {
    weft_http_client_opts co = l->o->client;
    co.max_connections = co.max_idle = (size_t)conns;
    shard sh = { .l = l };
    int err = weft_http_client_new(&sh.c, &co);
    if (err) {
        fprintf(stderr, "weft-fetch: %s\n", weft_strerror(err));
        return err == WEFT_ENOMEM ? FX_NOMEM : 1;
    }
    weft_group g;
    weft_group_enter(&g);
    long spawned = 0;
    for (long i = 0; i < conns; i++) spawned += !weft_group_spawn(&g, NULL, worker, &sh);
    weft_group_leave(&g);
    weft_http_client_free(sh.c);
    if (!spawned) {
        fputs("weft-fetch: (27) Out of memory\n", stderr);
        return FX_NOMEM;
    }
    return 0;
}

/* Loop `index` takes conns / threads connections, the first ones one more
 * while conns does not divide evenly. A failure sets l->err and cancels
 * the other loops (weft_run_loops). */
static int shard_main(unsigned index, void *arg) {
    load *l = arg;
    long share = l->conns / l->threads + ((long)index < l->conns % l->threads);
    int rc = share ? run_shard(l, share) : 0;
    if (rc) {
        int none = 0;
        __atomic_compare_exchange_n(&l->err, &none, rc, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        return -EIO;
    }
    return 0;
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The wall clock of the whole run, read outside any loop. */
static int64_t fetch_mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double ms(int64_t ns) { return (double)ns / 1e6; }

static void histogram(const int64_t *v, long n) {
    enum { BUCKETS = 10, WIDTH = 40 };
    double lo = log((double)v[0] + 1), hi = log((double)v[n - 1] + 1);
    long count[BUCKETS] = { 0 }, most = 1;
    for (long i = 0; i < n; i++) {
        int b = hi > lo ? (int)((log((double)v[i] + 1) - lo) / (hi - lo) * BUCKETS) : 0;
        if (b >= BUCKETS) b = BUCKETS - 1;
        if (++count[b] > most) most = count[b];
    }
    for (int b = 0; b < BUCKETS; b++) {
        double upto = exp(lo + (hi - lo) * (b + 1) / BUCKETS) - 1;
        int w = (int)((double)count[b] * WIDTH / (double)most);
        printf("  %10.3f ms [%6ld] |%.*s\n", ms((int64_t)upto), count[b], w,
               "########################################");
    }
}

int fetch_load(const fetch_opts *o) {
    long conns = o->conns > 0 ? o->conns : 1;
    if (conns > o->requests) conns = o->requests;
    load l = { .o = o, .conns = conns, .lat = calloc((size_t)o->requests, sizeof(int64_t)) };
    if (!l.lat) {
        fputs("weft-fetch: (27) Out of memory\n", stderr);
        return FX_NOMEM;
    }
    weft_loops_opts lo = { .count = (unsigned)o->threads };
    if (!lo.count) {
        cpu_set_t cpus;
        lo.count = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? (unsigned)CPU_COUNT(&cpus) : 1;
    }
    l.threads = lo.count < conns ? (long)lo.count : conns;
    lo.count = (unsigned)l.threads;
    int64_t t0 = fetch_mono();
    int err = weft_run_loops(&lo, shard_main, &l);
    double secs = (double)(fetch_mono() - t0) / 1e9;
    if (l.err || (err && err != -EIO)) {
        if (!l.err) fprintf(stderr, "weft-fetch: %s\n", weft_strerror(err));
        free(l.lat);
        return l.err ? l.err : err == WEFT_ENOMEM ? FX_NOMEM : 1;
    }

    long ok = 0;
    for (long i = 0; i < l.done; i++) if (l.lat[i] >= 0) l.lat[ok++] = l.lat[i];
    qsort(l.lat, (size_t)ok, sizeof *l.lat, cmp64);
    /* HTTP/2 multiplexes a loop's tasks as streams of one connection:
     * always with prior knowledge, over https when ALPN may pick it. */
    int v = o->client.http_version;
    bool h2 = v == WEFT_HTTP_VERSION_2 || (v == WEFT_HTTP_VERSION_AUTO && !strncmp(o->urls[0].url, "https:", 6));
    if (h2) printf("%ld requests from %ld tasks (HTTP/2 where the server speaks it: one connection per loop)", l.done, conns);
    else printf("%ld requests over %ld connections", l.done, conns);
    if (l.threads > 1) printf(" on %ld loops", l.threads);
    printf(" to %s in %.2f s\n", o->urls[0].url, secs);
    printf("Requests/sec: %.2f\n", secs > 0 ? (double)l.done / secs : 0.0);
    if (ok) {
        printf("Latency: p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n", ms(l.lat[ok * 50 / 100]),
               ms(l.lat[ok * 90 / 100]), ms(l.lat[ok * 99 / 100]), ms(l.lat[ok - 1]));
        histogram(l.lat, ok);
    }
    free(l.lat);
    if (l.failed) {
        fprintf(stderr, "weft-fetch: %ld of %ld requests failed, the first with: %s\n", l.failed, l.done,
                weft_strerror(l.first_err));
        return 1;
    }
    return 0;
}
