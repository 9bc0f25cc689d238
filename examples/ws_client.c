/* A WebSocket client: connects to URL, sends each MESSAGE as a text
 * message, prints every message that comes back, and closes once it has as
 * many replies as it sent messages (or -n N of them; -n 0: until the
 * server closes). tests/t_ws_python.sh runs it against Python's websockets.
 *
 *     ws_client [-n N] [-p PROTOCOL] URL [MESSAGE...]
 *
 * Prints "text LEN: MESSAGE" or "binary LEN", then "close CODE REASON" for
 * the server's close (or "closed" after its own), and "error: ..." for a
 * failure (exit status 1). */
#include <weft.h>
#include <weft/ws.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct args {
    int n;              /* replies to wait for; -1: one per message */
    const char *proto[2];
    const char *url;
    char **msgs;
    int nmsgs;
} args;

static int fail(const char *what, int err) {
    printf("error: %s: %s\n", what, weft_strerror(err));
    return 1;
}

static int run(weft_ws *ws, const args *a) {
    for (int i = 0; i < a->nmsgs; i++) {
        int err = weft_ws_send(ws, WEFT_WS_TEXT, a->msgs[i], strlen(a->msgs[i]));
        if (err) return fail("send", err);
    }
    int want = a->n < 0 ? a->nmsgs : a->n;
    for (int got = 0; want == 0 || got < want; got++) {
        const void *m;
        int type;
        ssize_t len = weft_ws_recv(ws, &m, &type);
        if (len == WEFT_EOF) {
            const char *reason;
            int code = weft_ws_close_code(ws, &reason);
            printf("close %d %s\n", code, reason);
            return code == 1006;
        }
        if (len < 0) return fail("recv", (int)len);
        if (type == WEFT_WS_TEXT) printf("text %zd: %s\n", len, (const char *)m);
        else printf("binary %zd\n", len);
    }
    return 0;
}

static int main_task(void *arg) {
    args *a = arg;
    weft_ws_opts o = { .protocols = a->proto[0] ? a->proto : NULL };
    weft_ws *ws;
    int err = weft_ws_connect(&ws, a->url, &o);
    if (err) return fail("connect", err);
    if (weft_ws_protocol(ws)) printf("protocol %s\n", weft_ws_protocol(ws));
    int r = run(ws, a);
    bool was_open = weft_ws_close_code(ws, NULL) == 0;
    err = weft_ws_close(ws, 1000, NULL);
    if (was_open && !r) {
        if (err) return fail("close", err);
        printf("closed\n");
    }
    fflush(stdout);
    return r;
}

int main(int argc, char **argv) {
    args a = { .n = -1 };
    int c;
    while ((c = getopt(argc, argv, "n:p:")) != -1) {
        if (c == 'n') a.n = atoi(optarg);
        else if (c == 'p') a.proto[0] = optarg;
        else return 2;
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: ws_client [-n N] [-p PROTOCOL] URL [MESSAGE...]\n");
        return 2;
    }
    a.url = argv[optind];
    a.msgs = argv + optind + 1;
    a.nmsgs = argc - optind - 1;
    return weft_run(main_task, &a);
}
