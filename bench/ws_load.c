/* The WebSocket echo benchmark's load generator (scripts/ws_bench.sh):
 * CONNS WebSocket connections to URL, each on weft's client in a task of
 * one loop, sending a binary message of MSG bytes and waiting for it to
 * come back, over and over, for SECONDS. The same client loads every server
 * under test (weft, Python websockets, Go's gorilla), so the servers' CPU
 * per message is what compares them. Prints `round_trips N` and
 * `seconds S`.
 *
 * usage: bench_ws_load URL [CONNS=100] [SECONDS=10] [MSG=64] */
#include <weft.h>
#include <weft/ws.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct load {
    const char *url;
    int conns;
    double secs;
    int64_t until;
    size_t msg;
    long round_trips;
    int err;
} load;

static void *conn_main(void *arg) {
    load *l = arg;
    weft_ws *ws = NULL;
    int err = weft_ws_connect(&ws, l->url, NULL);
    char out[4096];
    memset(out, 'w', l->msg);
    while (!err && weft_now() < l->until) {
        const void *m;
        int type;
        err = weft_ws_send(ws, WEFT_WS_BINARY, out, l->msg);
        ssize_t n = err ? err : weft_ws_recv(ws, &m, &type);
        if (n < 0) err = (int)n;
        else if ((size_t)n != l->msg) err = WEFT_EINVAL;
        else l->round_trips++;
    }
    if (err && !l->err) l->err = err;
    weft_ws_close(ws, 1000, NULL);
    return NULL;
}

static int main_task(void *arg) {
    load *l = arg;
    weft_task **t = calloc((size_t)l->conns, sizeof *t);
    int64_t t0 = weft_now();
    l->until = t0 + (int64_t)(l->secs * 1e9);
    for (int i = 0; i < l->conns; i++) t[i] = weft_spawn(conn_main, l);
    for (int i = 0; i < l->conns; i++) weft_join(t[i], NULL);
    free(t);
    if (l->err) {
        fprintf(stderr, "bench_ws_load: %s\n", weft_strerror(l->err));
        return 1;
    }
    printf("round_trips %ld\nseconds %.3f\n", l->round_trips, (double)(weft_now() - t0) / 1e9);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s URL [CONNS] [SECONDS] [MSG]\n", argv[0]);
        return 2;
    }
    double secs = argc > 3 ? atof(argv[3]) : 10;
    load l = { .url = argv[1], .secs = secs, .conns = argc > 2 ? atoi(argv[2]) : 100,
               .msg = argc > 4 ? (size_t)atoi(argv[4]) : 64 };
    if (l.msg > 4096 || l.conns < 1) return 2;
    return weft_run(main_task, &l) ? 1 : 0;
}
