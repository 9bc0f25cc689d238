/* The asyncio streams example's client, in C: connects, sends a message,
 * prints the reply.
 *
 *     echo_client [host] [port] [message]   (default 127.0.0.1 8888 "Hello World!") */
#include <weft.h>
#include <weft/io.h>
#include <weft/net.h>
#include <weft/stream.h>

#include <stdio.h>
#include <string.h>

static int main_task(void *arg) {
    char **argv = arg;
    const char *host = argv[1] ? argv[1] : "127.0.0.1";
    const char *port = argv[1] && argv[2] ? argv[2] : "8888";
    const char *message = argv[1] && argv[2] && argv[3] ? argv[3] : "Hello World!";
    weft_scope timeout;
    weft_timeout_enter(&timeout, 10 * WEFT_SECOND);
    int fd, err;
    weft_stream *s = NULL;
    if ((err = weft_tcp_connect(host, port, &fd)) || (err = weft_stream_new_fd(&s, fd, NULL))) {
        if (!err) weft_close(fd);
        goto out;
    }
    printf("Send: %s\n", message);
    weft_stream_write(s, message, strlen(message));
    if ((err = weft_stream_drain(s))) goto out;
    char data[100];
    ssize_t n = weft_stream_read(s, data, sizeof data);
    if (n < 0) {
        err = (int)n;
        goto out;
    }
    printf("Received: %.*s\n", (int)n, data);
    puts("Close the connection");
out:
    if (s) weft_stream_close(s);
    weft_scope_leave(&timeout);
    if (err) fprintf(stderr, "echo_client: %s:%s: %s\n", host, port, weft_strerror(err));
    return err ? 1 : 0;
}

int main(int argc, char **argv) {
    (void)argc;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int r = weft_run(main_task, argv);
    return r < 0 ? 1 : r;
}
