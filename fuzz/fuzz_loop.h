/* One weft loop for a whole fuzzing run, shared by the end-to-end targets
 * (fuzz_http_client, fuzz_httpd). Starting a loop per input costs about
 * 2 ms under ASan (pthread_getattr_np reads /proc/self/maps, stacks are
 * mapped and poisoned), most of an input's time; so the loop runs on a
 * thread of its own, started on the first input, and each input is a job
 * handed to it through a pipe: the loop's main task runs the job and says
 * it is done through another pipe.
 *
 * After each job (but the first, which opens the loop's own descriptors)
 * the process must have as many sockets and other descriptors of weft's
 * kinds open as before: a job that leaks one aborts. Memory leaks are
 * LeakSanitizer's: libFuzzer runs it after an input that allocated more
 * than it freed.
 *
 * Sockets must not pile up in the kernel either, or a run stops within
 * minutes: a listener per input, or a connection closed with a FIN by the
 * side that closes first, leaves a port in TIME_WAIT for 60 s, and after
 * ~28,000 inputs (the ephemeral range) listen and connect fail. So a target
 * listens once per process (fuzz_tcp_listener, or a Unix socket, which has
 * no TIME_WAIT), and a TCP connection is ended by a reset from the side
 * that closes last (fuzz_reset_on_close): the first side's FIN still
 * delivers every byte and the end of stream, and its orphaned socket, in
 * FIN_WAIT2, dies on the reset instead of waiting. */
#ifndef WEFT_FUZZ_LOOP_H
#define WEFT_FUZZ_LOOP_H

#include <weft.h>
#include <weft/io.h>
#include <weft/net.h>

#include "io_iface.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef CHECK
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)
#endif

typedef struct fuzz_job {
    int (*fn)(void *arg);
    void *arg;
} fuzz_job;

static int fuzz_to_loop[2], fuzz_from_loop[2];

static int fuzz_loop_main(void *arg) {
    (void)arg;
    CHECK(weft_fd_nonblock(fuzz_to_loop[0]) == 0);
    for (;;) {
        fuzz_job *job;
        CHECK(weft_read(fuzz_to_loop[0], &job, sizeof job) == (ssize_t)sizeof job);  /* pipes: atomic */
        CHECK(job->fn(job->arg) == 0);
        char done = 1;
        ssize_t n;
        while ((n = write(fuzz_from_loop[1], &done, 1)) < 0 && errno == EINTR) {}
        CHECK(n == 1);  /* the pipe has room: one byte per job */
    }
    return 0;
}

static void *fuzz_loop_thread(void *arg) {
    (void)arg;
    /* libFuzzer and ASan have their own SIGINT and SIGSEGV handlers. */
    weft_loop_opts o = { .flags = WEFT_LOOP_NO_SIGINT | WEFT_LOOP_NO_OVERFLOW_HANDLER };
    weft_run_opts(&o, fuzz_loop_main, NULL);
    abort();  /* the loop never ends */
}

/* The count of open sockets and anonymous inodes (epoll, eventfd, timerfd:
 * what weft opens); with show, each open descriptor's target. Pipes and
 * files are left out: the sanitizers open pipes of their own to a
 * symbolizer when libFuzzer names a new function. */
static int fuzz_count_fds(bool show) {
    DIR *d = opendir("/proc/self/fd");
    CHECK(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[300], to[256];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t k = readlink(path, to, sizeof to - 1);
        if (k <= 0) continue;
        to[k] = '\0';
        if (!strncmp(to, "socket:", 7) || !strncmp(to, "anon_inode:", 11)) n++;
        if (show) fprintf(stderr, "  fd %s -> %s\n", e->d_name, to);
    }
    closedir(d);
    return n;
}

/* SO_LINGER 0: close(fd) sends a reset and leaves nothing behind. */
static void fuzz_reset_on_close(int fd) {
    struct linger l = { .l_onoff = 1, .l_linger = 0 };
    CHECK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0);
}

/* weft's connect(2), through its system-call table: the HTTP client's
 * sockets, which the harness never sees, close with a reset. The client
 * closes last (the harness's server has sent its answer and closed, or the
 * client is done with it): without this, the server's side, or the
 * client's, waits in TIME_WAIT. */
static int fuzz_connect_resetting(int fd, const struct sockaddr *addr, socklen_t len) {
    fuzz_reset_on_close(fd);
    return weft__sys_default.connect(fd, addr, len);
}

/* The run's one TCP listener on 127.0.0.1, made by the first input (in
 * the loop's thread, which alone uses it). */
static inline int fuzz_tcp_listener(void) {
    static int lfd = -1;
    if (lfd < 0) CHECK(weft_tcp_listen("127.0.0.1", "0", 16, &lfd) == 0);
    return lfd;
}

/* Resets any connection an input left queued on the listener (a client
 * that connected after its server task was cancelled), so that the next
 * input's server accepts its own. */
static inline void fuzz_listener_drain(int lfd) {
    int fd;
    while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        fuzz_reset_on_close(fd);
        close(fd);
    }
    CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Runs fn(arg) in a task of the fuzzing run's loop and waits for it; fn
 * must return 0 (else abort). */
static void fuzz_in_loop(int (*fn)(void *), void *arg) {
    static pthread_t th;
    static int runs, fds;
    if (!runs) {
        weft__sys.connect = fuzz_connect_resetting;  /* before the loop thread: it alone uses it after */
        CHECK(pipe(fuzz_to_loop) == 0 && pipe(fuzz_from_loop) == 0);
        CHECK(pthread_create(&th, NULL, fuzz_loop_thread, NULL) == 0);
    }
    fuzz_job job = { fn, arg }, *p = &job;
    ssize_t n;
    /* libFuzzer's SIGALRM (its -timeout watchdog) interrupts these. */
    while ((n = write(fuzz_to_loop[1], &p, sizeof p)) < 0 && errno == EINTR) {}
    CHECK(n == (ssize_t)sizeof p);
    char done;
    while ((n = read(fuzz_from_loop[0], &done, 1)) < 0 && errno == EINTR) {}
    CHECK(n == 1);
    int now = fuzz_count_fds(false);
    if (runs++ == 0) fds = now;
    else if (now != fds) {
        fprintf(stderr, "sockets and anonymous inodes: %d open after the first input, %d now:\n", fds, now);
        fuzz_count_fds(true);
        abort();
    }
}

#endif
