/* Opens N keep-alive HTTP/1.1 connections to a server on 127.0.0.1:PORT,
 * each making one GET of PATH and reading the whole response, then keeps
 * them all open and idle until killed. A connection that has served a
 * request is what a server holds between a client's requests;
 * scripts/http_bench.sh reads the server's RSS before and after, and their
 * difference / N is what one idle connection costs the server.
 *
 * Plain blocking sockets: the client's own cost is not measured. Prints
 * `open N` once every connection is idle, and serves nothing else.
 *
 * usage: bench_http_idle_conns PORT N [PATH]   (PATH /get) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* Reads one response whose body has a Content-Length: its head, then as
 * many body bytes as that says. 0, or -1 on error, EOF or a timeout. */
static int read_response(int fd) {
    char buf[16384];
    size_t have = 0;
    char *end = NULL;
    while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0) return -1;
        have += (size_t)n;
    }
    buf[have] = 0;
    const char *cl = strcasestr(buf, "\r\ncontent-length:");
    if (!cl || cl > end) return -1;
    size_t want = (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10);
    while (have < want) {
        size_t ask = want - have < sizeof buf ? want - have : sizeof buf;
        ssize_t n = read(fd, buf, ask);
        if (n <= 0) return -1;
        have += (size_t)n;
    }
    return 0;
}

/* Connects and sends the request; the response is read later. The fd, or
 * -1 on error. */
static int send_one(int port, const char *req) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    struct timeval tv = { 5, 0 };  /* a server that stops answering fails the run */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t len = strlen(req);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) || write(fd, req, len) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Opens `n` connections in batches of BATCH: all of a batch's requests go
 * out before its first response is read, so the server serves a batch at
 * once instead of waiting to be woken for each connection in turn (one at
 * a time took a minute for 10,000 on a busy machine). A batch stays well
 * under a listen backlog (511 by default in nginx and weft). */
enum { BATCH = 100 };
static int open_all(int port, const char *req, long n) {
    int fds[BATCH];
    for (long i = 0; i < n; i += BATCH) {
        int k = n - i < BATCH ? (int)(n - i) : BATCH;
        for (int j = 0; j < k; j++)
            if ((fds[j] = send_one(port, req)) < 0) return -1;
        for (int j = 0; j < k; j++)
            if (read_response(fds[j])) return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: bench_http_idle_conns PORT N [PATH]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    long n = atol(argv[2]);
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
             argc > 3 ? argv[3] : "/get", port);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (open_all(port, req, n)) {
        perror("http_idle_conns");
        return 1;
    }
    printf("open %ld\n", n);
    fflush(stdout);
    for (;;) pause();
}
