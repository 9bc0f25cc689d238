/* weft-fetch's load mode: N requests over C connections, in the manner of
 * wrk and hey. C tasks share one client whose pool holds at most C
 * connections; each takes the next request number until N are done, and
 * records its latency (from send to the body's end). Then the rate and the
 * latency percentiles, with a small histogram on a logarithmic scale
 * (latencies spread over orders of magnitude; linear buckets would put
 * almost everything in the first). */
#include "fetch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct load {
    const fetch_opts *o;
    weft_http_client *c;
    long next, done, failed;
    int first_err;
    int64_t *lat;
} load;

static void *worker(void *arg) {
    load *l = arg;
    char buf[16 * 1024];
    while (l->next < l->o->requests) {
        long i = l->next++;
        int64_t t0 = weft_now();
        weft_http_request *q;
        weft_http_response *r = NULL;
        char why[256];
        int err = fetch_request(l->o, l->o->urls[0].url, NULL, NULL, &q, why, sizeof why) ? WEFT_EINVAL : 0;
        if (!err) {
            err = weft_http_send(l->c, q, WEFT_HTTP_STREAM, &r);
            weft_http_request_free(q);
        }
        ssize_t n = 0;
        while (!err && (n = weft_http_response_read(r, buf, sizeof buf)) > 0) {}
        if (!err && n < 0) err = (int)n;
        weft_http_response_free(r);
        if (err == WEFT_ECANCELED) break;
        l->lat[i] = weft_now() - t0;
        l->done++;
        if (err) {
            l->failed++;
            if (!l->first_err) l->first_err = err;
            l->lat[i] = -1;
        }
    }
    return NULL;
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
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
    weft_http_client_opts co = o->client;
    co.max_connections = co.max_idle = (size_t)conns;
    load l = { .o = o, .lat = calloc((size_t)o->requests, sizeof(int64_t)) };
    if (!l.lat) {
        fputs("weft-fetch: (27) Out of memory\n", stderr);
        return FX_NOMEM;
    }
    int err = weft_http_client_new(&l.c, &co);
    if (err) {
        fprintf(stderr, "weft-fetch: %s\n", weft_strerror(err));
        free(l.lat);
        return err == WEFT_ENOMEM ? FX_NOMEM : 1;
    }
    int64_t t0 = weft_now();
    weft_group g;
    weft_group_enter(&g);
    long spawned = 0;
    for (long i = 0; i < conns; i++) spawned += !weft_group_spawn(&g, NULL, worker, &l);
    weft_group_leave(&g);
    if (!spawned) {
        fputs("weft-fetch: (27) Out of memory\n", stderr);
        weft_http_client_free(l.c);
        free(l.lat);
        return FX_NOMEM;
    }
    double secs = (double)(weft_now() - t0) / 1e9;
    weft_http_client_free(l.c);

    long ok = 0;
    for (long i = 0; i < l.done; i++) if (l.lat[i] >= 0) l.lat[ok++] = l.lat[i];
    qsort(l.lat, (size_t)ok, sizeof *l.lat, cmp64);
    printf("%ld requests over %ld connections to %s in %.2f s\n", l.done, conns, o->urls[0].url, secs);
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
