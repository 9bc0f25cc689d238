/* connect_accept_per_s: new loopback TCP connections per second, client and
 * server both on one weft loop. A server task accepts and closes; CLIENTS
 * tasks connect and close, over and over, for SECONDS. Both ends pay a
 * socket, a handshake and a close: the figure is mostly the kernel's, and
 * shows weft adds little to it. */
#include "bench.h"

#include <weft/io.h>
#include <weft/net.h>

#include <stdio.h>
#include <sys/socket.h>

#define CLIENTS 16
#define SECONDS 3

static int64_t end;
static char port[16];
static long connects;

static void *server(void *arg) {
    int lfd = *(int *)arg;
    for (;;) {
        int fd;
        int err = weft_accept(lfd, NULL, NULL, &fd);
        if (err == WEFT_ECANCELED) break;
        if (!err) weft_close(fd);
    }
    return NULL;
}

static void *client(void *arg) {
    (void)arg;
    while (weft_now() < end) {
        int fd;
        if (weft_tcp_connect("127.0.0.1", port, &fd)) return weft_error(WEFT_EINVAL);
        /* An abortive close: no TIME_WAIT, so the run cannot exhaust the
         * ephemeral ports however many connections it makes. */
        struct linger lg = { 1, 0 };
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        weft_close(fd);
        connects++;
    }
    return NULL;
}

static int bench_main(void *arg) {
    (void)arg;
    int lfd;
    BENCH_CHECK(weft_tcp_listen("127.0.0.1", "0", 0, &lfd));
    snprintf(port, sizeof port, "%d", weft_sock_port(lfd));
    weft_task *srv = weft_spawn(server, &lfd);
    int64_t t0 = weft_now();
    end = t0 + SECONDS * WEFT_SECOND;
    weft_task *c[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) c[i] = weft_spawn(client, NULL);
    BENCH_CHECK(weft_gather(c, CLIENTS, NULL));
    double secs = (double)(weft_now() - t0) / 1e9;
    weft_cancel(srv);
    BENCH_CHECK(weft_join(srv, NULL));
    weft_close(lfd);
    bench_print("connect_accept_per_s", (double)connects / secs, "conn/s");
    return 0;
}

int main(void) {
    BENCH_CHECK(weft_run(bench_main, NULL));
    return 0;
}
