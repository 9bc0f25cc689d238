/* What the io layer shows the layers built on it (src/tls, src/http) and
 * tests, and nothing else: the public headers say the rest. */
#ifndef WEFT_IO_IFACE_H
#define WEFT_IO_IFACE_H

#include "weft/stream.h"
#include "weft/thread.h"

#include <stdbool.h>

#include <sys/socket.h>
#include <sys/uio.h>

/* The system calls weft's data path and connection setup make (sys.c):
 * every call site goes through weft__sys, which tests may overwrite to
 * inject faults (one thread at a time: it is a plain global) and restore
 * from weft__sys_default. Each entry has its libc function's contract. */
typedef struct weft__sys_table {
    ssize_t (*read)(int fd, void *buf, size_t len);
    ssize_t (*write)(int fd, const void *buf, size_t len);
    ssize_t (*writev)(int fd, const struct iovec *iov, int n);
    ssize_t (*recv)(int fd, void *buf, size_t len, int flags);
    ssize_t (*send)(int fd, const void *buf, size_t len, int flags);
    ssize_t (*sendmsg)(int fd, const struct msghdr *m, int flags);
    int (*accept4)(int fd, struct sockaddr *peer, socklen_t *len, int flags);
    int (*connect)(int fd, const struct sockaddr *addr, socklen_t len);
    int (*socket)(int family, int type, int protocol);
    ssize_t (*sendfile)(int out, int in, off_t *off, size_t len);
    /* openat2(2) (Linux 5.6; glibc has no wrapper): how is a struct open_how. */
    int (*openat2)(int dir, const char *path, void *how, size_t size);
} weft__sys_table;
extern weft__sys_table weft__sys;
extern const weft__sys_table weft__sys_default;

/* weft_to_thread for work on the caller's own memory (src/io/fs.c): a
 * cancel that comes while the job is queued takes it back (the cancellation
 * code: it never ran), but one that comes while it runs waits, shielded, for
 * its end, and then reports success, leaving the cancel to the caller's next
 * suspension point. So fn never touches `arg` after the call returns, and
 * `arg` may live on the caller's stack. 0 and *result (if not NULL), a
 * cancellation code, WEFT_ENOTASK (naming `name`, the public call),
 * WEFT_ENOMEM, or -errno (no thread). */
int weft__to_thread_wait(const char *name, weft_thread_fn fn, void *arg, void **result);

/* The transport context of `s` if its transport is `ops`, else NULL: how a
 * transport finds its own state behind a public weft_stream (weft_tls_alpn). */
void *weft__stream_ctx(const weft_stream *s, const weft_transport *ops);

/* Set, weft_process_exec and _shell do not open pidfds, and their waits
 * poll as on a kernel without them (process.c): how tests reach the
 * fallback. Loop thread only. */
extern bool weft__process_no_pidfd;

#endif
