/* The echo server on weft: a task per connection doing weft_read then
 * weft_write, an accept loop waiting with weft_wait_readable. Plain sockets
 * underneath (given to the loop with weft_fd_capture), so the figure is the
 * cost of weft's tasks and poller alone.
 * Prints `listening on 127.0.0.1:PORT` and serves until killed. The poller
 * is chosen with WEFT_BACKEND (epoll or uring). */
#include <weft.h>
#include <weft/io.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void *serve(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    for (;;) {
        ssize_t n = weft_read(fd, buf, sizeof buf);
        if (n <= 0 || weft_write(fd, buf, (size_t)n) != n) break;
    }
    weft_close(fd);
    return NULL;
}

static int main_task(void *arg) {
    (void)arg;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    socklen_t len = sizeof sa;
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 1024) ||
        getsockname(ls, (struct sockaddr *)&sa, &len)) { perror("listen"); return 1; }
    printf("listening on 127.0.0.1:%d\n", ntohs(sa.sin_port));
    fflush(stdout);
    weft_spawn_opts o = { .detached = 1 };
    for (;;) {
        int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (weft_wait_readable(ls, WEFT_FOREVER)) break;
            continue;
        }
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        /* Read only with weft_read: on io_uring, the loop takes its input
         * as it comes and submits its writes (no change on epoll). */
        weft_fd_capture(c);
        if (weft_spawn_ex(NULL, &o, serve, (void *)(intptr_t)c)) close(c);
    }
    weft_close(ls);
    return 0;
}

static int probe(void *arg) { (void)arg; return 0; }

/* --probe: exits 0 if a loop with the chosen backend can be made here. */
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--probe") == 0) return weft_run(probe, NULL) == 0 ? 0 : 1;
    return weft_run(main_task, NULL);
}
