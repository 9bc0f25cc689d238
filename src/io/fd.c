/* Reads and writes of file descriptors (weft/io.h), built on the core's
 * fd watch table (src/core/watch.c), which does the waiting.
 *
 * Every read or write here tries the system call first and waits only on
 * EAGAIN, the way an edge-triggered loop must (and the cheap way: on a busy
 * connection the bytes are usually there already).
 */
#include "core_iface.h"
#include "io_iface.h"

#include "weft/io.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int weft_wait_readable(int fd, int64_t deadline) { return weft__fd_wait(fd, 0, deadline, __func__); }
int weft_wait_writable(int fd, int64_t deadline) { return weft__fd_wait(fd, 1, deadline, __func__); }

int weft_spawn_when_readable(weft_task **out, const weft_spawn_opts *opts, int fd,
                             int64_t deadline, weft_task_fn fn, void *arg) {
    return weft__spawn_when_readable(out, opts, fd, deadline, fn, arg, NULL);
}

int weft_group_spawn_when_readable(weft_group *g, const weft_spawn_opts *opts, int fd,
                                   int64_t deadline, weft_task_fn fn, void *arg) {
    return g ? weft__spawn_when_readable(NULL, opts, fd, deadline, fn, arg, g) : WEFT_EINVAL;
}

/* The entry of a read or write: like every suspension point, report a
 * cancellation before doing anything. */
#define enter_io() weft__enter_point(NULL, __func__)  /* names the public call */

/* A stream socket known empty (weft__fd_known_empty) is waited on first:
 * that saves a read that would only say EAGAIN (on an echo server, one
 * system call in three). A captured socket (weft__fd_capture) is read from
 * the loop's buffers. */
ssize_t weft_read(int fd, void *buf, size_t len) {
    int err0 = enter_io();
    if (err0) return err0;
    for (;;) {
        ssize_t n = weft__fd_take(fd, buf, len, __func__);
        if (n != WEFT__DIRECT) return n;
        if (weft__fd_known_empty(fd)) {
            int err = weft_wait_readable(fd, WEFT_FOREVER);
            if (err) return err;
            continue;
        }
        n = weft__sys.read(fd, buf, len);
        if (n >= 0) {
            weft__fd_note_read(fd, n, len);
            return n;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
        weft__fd_note_read(fd, -EAGAIN, len);
        int err = weft_wait_readable(fd, WEFT_FOREVER);
        if (err) return err;
    }
}

/* send with MSG_NOSIGNAL where fd is a socket, so a gone peer is -EPIPE and
 * not a process-killing SIGPIPE; write(2) for anything else. */
static ssize_t write_once(int fd, const void *buf, size_t len) {
    ssize_t n = weft__sys.send(fd, buf, len, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = weft__sys.write(fd, buf, len);
    return n;
}

ssize_t weft_write_some(int fd, const void *buf, size_t len) {
    int err0 = enter_io();
    if (err0) return err0;
    struct iovec iov = { (void *)buf, len };
    ssize_t k = len ? weft__fd_send(fd, &iov, 1) : WEFT__DIRECT;  /* a captured socket's */
    if (k != WEFT__DIRECT) return k;
    for (;;) {
        ssize_t n = write_once(fd, buf, len);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
        int err = weft_wait_writable(fd, WEFT_FOREVER);
        if (err) return err;
    }
}

ssize_t weft_write(int fd, const void *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = weft_write_some(fd, (const char *)buf + done, len - done);
        if (n < 0) return n;
        done += (size_t)n;
    }
    return (ssize_t)len;
}

/* Sets only what is missing: an accepted socket (accept4 with both flags)
 * costs two reads of its flags, not four system calls. */
int weft_fd_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)) return -errno;
    int fdfl = fcntl(fd, F_GETFD);
    if (fdfl < 0 || (!(fdfl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)) return -errno;
    return 0;
}

int weft_fd_capture(int fd) {
    if (fd < 0) return WEFT_EINVAL;
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM) return 0;
    return weft__fd_capture(fd);
}

void weft_fd_forget(int fd) { weft__fd_forget(fd); }

int weft_close(int fd) {
    weft_fd_forget(fd);
    return close(fd) == 0 ? 0 : -errno;
}
