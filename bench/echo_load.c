/* The echo benchmarks' load generator: CONNS connections to 127.0.0.1:PORT,
 * each sending MSG bytes and waiting for them to come back, over and over,
 * for SECONDS. Written on plain epoll, not weft, so that it loads every
 * server under test the same way. Prints `round_trips N` and `seconds S`.
 *
 * usage: bench_echo_load PORT [CONNS=100] [SECONDS=10] [MSG=64] */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn { int fd; size_t got; };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s PORT [CONNS] [SECONDS] [MSG]\n", argv[0]); return 2; }
    int port = atoi(argv[1]);
    int nconn = argc > 2 ? atoi(argv[2]) : 100;
    double secs = argc > 3 ? atof(argv[3]) : 10;
    size_t msg = argc > 4 ? (size_t)atoi(argv[4]) : 64;
    char out[4096], in[4096];
    if (msg > sizeof out) return 2;
    memset(out, 'e', msg);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct conn *c = calloc((size_t)nconn, sizeof *c);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    for (int i = 0; i < nconn; i++) {
        c[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(c[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c[i].fd, (struct sockaddr *)&sa, sizeof sa) != 0) { perror("connect"); return 1; }
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev);
        if (write(c[i].fd, out, msg) != (ssize_t)msg) { perror("write"); return 1; }
    }
    long rt = 0;
    double t0 = now_s(), end = t0 + secs;
    struct epoll_event evs[256];
    while (now_s() < end) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (int k = 0; k < n; k++) {
            struct conn *x = &c[evs[k].data.u32];
            ssize_t r = read(x->fd, in, sizeof in);
            if (r <= 0) { fprintf(stderr, "server closed a connection\n"); return 1; }
            x->got += (size_t)r;
            if (x->got < msg) continue;
            x->got -= msg;
            rt++;
            if (write(x->fd, out, msg) != (ssize_t)msg) { perror("write"); return 1; }
        }
    }
    printf("round_trips %ld\nseconds %.3f\n", rt, now_s() - t0);
    for (int i = 0; i < nconn; i++) close(c[i].fd);
    return 0;
}
