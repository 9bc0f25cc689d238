/* Memory of idle keep-alive connections on weft's HTTP server: a child
 * process opens N connections (default 10,000), makes one request on each
 * and leaves them open; the server's resident set is read from
 * /proc/self/status before and after, and the difference per connection
 * printed. Not a test: it needs 10,000 fds in each process and a few
 * seconds. Usage: bench_httpd_idle [N [STACK_KIB]]. */
#include <weft.h>
#include <weft/httpd.h>
#include <weft/io.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static long n_conns = 10000;
static size_t stack_kib;
static int ready_pipe[2];
static int port_pipe[2];

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kib = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kib;
}

/* The child: N connections, one request each, then it waits to be killed. */
static void client(void) {
    int port;
    if (read(port_pipe[0], &port, sizeof port) != sizeof port) _exit(1);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for (long i = 0; i < n_conns; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) { perror("client"); _exit(1); }
        if (write(fd, req, sizeof req - 1) != sizeof req - 1) _exit(1);
        char buf[512];
        ssize_t n, got = 0;
        while ((n = read(fd, buf, sizeof buf)) > 0 && !memmem(buf, (size_t)n, "hello\n", 6)) got += n;
        if (n <= 0) _exit(1);
    }
    char c = 1;
    if (write(ready_pipe[1], &c, 1) != 1) _exit(1);
    pause();
    _exit(0);
}

static int hello(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)req, (void)arg;
    return weft_httpd_res_send(res, 200, "text/plain", "hello\n", 6);
}

static void *serve_main(void *srv) { return weft_error(weft_httpd_serve(srv)); }

static int run(void *arg) {
    pid_t child = *(pid_t *)arg;
    weft_httpd *srv;
    weft_httpd_opts o = { .max_conns = (size_t)n_conns + 10, .stack_size = stack_kib * 1024 };
    if (weft_httpd_new(&srv, &o, hello, NULL) || weft_httpd_listen(srv, "127.0.0.1", "0")) return 1;
    weft_task *t = weft_spawn(serve_main, srv);
    int port = weft_httpd_port(srv);
    weft_sleep(50 * WEFT_MILLISECOND);
    long before = rss_kib();
    if (write(port_pipe[1], &port, sizeof port) != sizeof port) return 1;
    char c;
    weft_fd_nonblock(ready_pipe[0]);  /* else the read blocks the whole loop */
    if (weft_read(ready_pipe[0], &c, 1) != 1) return 1;
    weft_sleep(200 * WEFT_MILLISECOND);
    long after = rss_kib();
    printf("connections %zu\nrss_before %ld KiB\nrss_after %ld KiB\n", weft_httpd_conns(srv), before, after);
    printf("httpd_idle_rss_per_conn %.0f bytes\n", (double)(after - before) * 1024 / (double)n_conns);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    weft_httpd_shutdown(srv);
    weft_join(t, NULL);
    weft_httpd_free(srv);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1) n_conns = strtol(argv[1], NULL, 10);
    if (argc > 2) stack_kib = (size_t)strtoul(argv[2], NULL, 10);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (pipe(ready_pipe) || pipe(port_pipe)) return 1;
    pid_t child = fork();
    if (child == 0) client();
    return weft_run(run, &child);
}
