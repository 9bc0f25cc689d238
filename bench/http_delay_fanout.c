/* delay_fanout: N concurrent GET /delay/D from one weft process, one loop,
 * one task per request, all sharing one weft_http_client allowed N
 * connections: the lesson's Program 1 (two gathered /delay/2 fetches) at
 * 10,000 tasks. If the loop, the client and the server under it keep up,
 * the whole fan-out takes hardly more than D.
 *
 * Prints `delay_fanout_wall_s` (first spawn to the last response),
 * `delay_fanout_ratio` (that wall time / D), `delay_fanout_hold_ratio` (the
 * server's side: the longest any request waited from being sent to its
 * response's first byte, / D, so the time to connect is not in it),
 * `delay_fanout_connect_max_s` (the slowest connect: a listen backlog too
 * short for the burst shows here as SYNs retried after 1 s, 3 s...) and
 * `pages_per_request_client` (the process's minor faults over the fan-out
 * / N: the fresh pages a new connection and its first request cost the
 * client). Any failed request fails the run: the figures would flatter a
 * server that drops connections.
 *
 * usage: bench_http_delay_fanout BASE_URL [N [D]]
 *        (BASE_URL like http://127.0.0.1:8080; N 10000, D 1 s by default) */
#include "bench.h"

#include <weft/http.h>

#include <sys/resource.h>

struct run {
    weft_http_client *client;
    const char *base;
    int delay;
    int64_t hold;    /* the longest from request sent to first byte, ns */
    int64_t connect; /* the slowest connect, ns */
    long failed;
    int first_err;   /* the first failure: a WEFT_E* code, or an HTTP status */
};

static void *fetch(void *arg) {
    struct run *r = arg;
    weft_http_response *resp;
    int err = weft_http_getf(r->client, &resp, "%s/delay/%d", r->base, r->delay);
    if (!err) {
        int status = weft_http_response_status(resp);
        weft_http_timings t;
        weft_http_response_timings(resp, &t);
        weft_http_response_free(resp);
        if (status != 200) err = status;
        if (t.first_byte > r->hold) r->hold = t.first_byte;
        if (t.connect > r->connect) r->connect = t.connect;
    }
    if (err) {
        if (!r->failed++) r->first_err = err;
    }
    return NULL;
}

/* One fd per connection: the soft limit (often 1024) must come up to the
 * hard one for 10,000 of them. */
static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

struct args { const char *base; size_t n; int delay; };

static int main_task(void *arg) {
    struct args *a = arg;
    struct run r = { .base = a->base, .delay = a->delay };
    /* Connect and read timeouts of 30 s, not the default 5 s: a server slow
     * to accept 10,000 connections then shows as a large ratio, a figure,
     * rather than as failed requests and none. */
    weft_http_client_opts o = { .max_connections = a->n, .connect_timeout = 30 * WEFT_SECOND,
                                .read_timeout = 30 * WEFT_SECOND };
    BENCH_CHECK(weft_http_client_new(&r.client, &o));
    weft_task **tasks = calloc(a->n, sizeof *tasks);
    if (!tasks) abort();
    long faults = bench_faults();
    int64_t t0 = weft_now();
    for (size_t i = 0; i < a->n; i++) tasks[i] = weft_spawn(fetch, &r);
    int err = weft_gather(tasks, a->n, NULL);
    int64_t wall = weft_now() - t0;
    faults = bench_faults() - faults;
    free(tasks);
    weft_http_client_free(r.client);
    if (err || r.failed) {
        fprintf(stderr, "delay_fanout: %ld of %zu requests failed, the first with %d (%s)\n",
                r.failed, a->n, r.first_err ? r.first_err : err,
                r.first_err > 0 ? "HTTP status" : weft_strerror(r.first_err ? r.first_err : err));
        return 1;
    }
    double d = (double)a->delay * 1e9;
    bench_print("delay_fanout_wall_s", wall / 1e9, "s");
    bench_print("delay_fanout_ratio", wall / d, "x");
    bench_print("delay_fanout_hold_ratio", r.hold / d, "x");
    bench_print("delay_fanout_connect_max_s", r.connect / 1e9, "s");
    bench_print("pages_per_request_client", (double)faults / a->n, "pages");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: bench_http_delay_fanout BASE_URL [N [DELAY_S]]\n");
        return 2;
    }
    struct args a = { argv[1], argc > 2 ? strtoul(argv[2], NULL, 10) : 10000,
                      argc > 3 ? atoi(argv[3]) : 1 };
    if (a.n == 0 || a.delay <= 0) return 2;
    raise_nofile();
    return weft_run(main_task, &a);
}
