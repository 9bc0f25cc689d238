/* The asyncio streams example's server, in C: reads a message from each
 * client, prints it, sends it back, closes.
 *
 *     echo_server [host] [port]     (default 127.0.0.1 8888; port 0 picks one)
 *
 * The first line printed is `listening on HOST:PORT`. Serves until SIGINT or
 * SIGTERM, then stops accepting, lets the connections end, and exits 0. */
#include <weft.h>
#include <weft/io.h>
#include <weft/net.h>
#include <weft/signal.h>
#include <weft/stream.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void handle_echo(int fd, const struct sockaddr *peer, socklen_t peer_len, void *arg) {
    (void)peer_len; (void)arg;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (peer->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)peer;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (peer->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)peer;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
    }
    weft_stream *s;
    weft_stream_opts o = { .borrow_fd = 1 };  /* weft_serve closes the fd */
    if (weft_stream_new_fd(&s, fd, &o)) return;
    char data[100];
    ssize_t n = weft_stream_read(s, data, sizeof data);
    if (n > 0) {
        printf("Received %.*s from %s:%d\n", (int)n, data, host, port);
        printf("Send: %.*s\n", (int)n, data);
        weft_stream_write(s, data, (size_t)n);
        weft_stream_drain(s);
    }
    puts("Close the connection");
    weft_stream_close(s);
}

struct server { int lfd; };

static void *serve(void *arg) {
    struct server *srv = arg;
    return weft_error(weft_serve(srv->lfd, NULL, handle_echo, NULL));
}

static int main_task(void *arg) {
    char **argv = arg;
    const char *host = argv[1] ? argv[1] : "127.0.0.1";
    const char *port = argv[1] && argv[2] ? argv[2] : "8888";
    struct server srv;
    int err = weft_tcp_listen(host, port, 0, &srv.lfd);
    if (err) {
        fprintf(stderr, "echo_server: cannot listen on %s:%s: %s\n", host, port, weft_strerror(err));
        return 1;
    }
    printf("listening on %s:%d\n", host, weft_sock_port(srv.lfd));
    weft_task *t = weft_spawn_named("server", serve, &srv);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = weft_signal_wait(&set, WEFT_FOREVER);   /* Ctrl-C or kill */
    weft_cancel(t);                                   /* stop accepting, end connections */
    weft_join(t, NULL);
    weft_close(srv.lfd);
    if (sig > 0) fprintf(stderr, "echo_server: %s, shut down\n", strsignal(sig));
    return 0;
}

int main(int argc, char **argv) {
    (void)argc;
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Both signals are waited for by the loop: no handler of weft's own. */
    weft_loop_opts o = { .flags = WEFT_LOOP_NO_SIGINT };
    int r = weft_run_opts(&o, main_task, argv);
    return r < 0 ? 1 : r;
}
