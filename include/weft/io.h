/* weft I/O: waiting on file descriptors, and reads and writes that suspend
 * only the calling task.
 *
 * The loop polls (epoll) for every fd a task waits on. An fd that a task has
 * waited on is known to the loop until it is closed with weft_close or
 * released with weft_fd_forget: close it any other way and a later fd with
 * the same number may wait forever. At most one task waits on an fd per
 * direction (a second gets WEFT_EBUSY), as with asyncio's add_reader.
 *
 * Everything here follows weft.h's conventions: suspension points honour the
 * task's scopes (cancellation, deadlines), must be called from a task, and a
 * call that fails changed nothing.
 */
#ifndef WEFT_IO_H
#define WEFT_IO_H

#include <weft.h>

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Suspension point. Waits until `fd` is readable (data, end of file, a
 * pending error or a connection to accept), or `deadline` (absolute; or
 * WEFT_FOREVER) passes. "Readable" may be spurious: retry the read, and wait
 * again on EAGAIN. Returns 0, WEFT_ETIMEDOUT (the deadline, or a scope's),
 * WEFT_ECANCELED, WEFT_EBUSY (another task waits to read fd), WEFT_ECLOSED
 * (weft_fd_forget / weft_close while waiting), -EBADF / -EPERM (an fd epoll
 * cannot watch, such as a regular file), or WEFT_ENOMEM. */
WEFT_EXTERN int weft_wait_readable(int fd, int64_t deadline);
/* The same for writability (room to write, a finished connect, an error). */
WEFT_EXTERN int weft_wait_writable(int fd, int64_t deadline);

/* Spawns a task, as weft_spawn_ex, that starts only once `fd` is readable
 * (as weft_wait_readable means it), or `deadline` (absolute; or
 * WEFT_FOREVER) passes, or it is cancelled: whichever comes first. Until it
 * starts it has no stack, only its record (a few hundred bytes), and is
 * what waits to read fd; so a server can keep thousands of idle
 * connections each waiting for its next request, none of them holding a
 * stack (nginx's idle connections work this way). It is not a suspension
 * point: the caller runs on.
 *
 * The task is alive from the call: weft_task_state says WEFT_TASK_WAITING,
 * dumps show it waiting for fd, weft_cancel and weft_join work on it, and
 * the loop runs while it waits. `fn` is not told why it started: it reads
 * fd (or waits on it, with the same deadline), and finds out. A task
 * cancelled before it started still runs, and its first suspension point
 * reports the cancel. As with weft_wait_readable, "readable" may be
 * spurious: on an fd the loop watches already, anything but a stream
 * socket whose input was read to the end starts at once. A task whose fd
 * is closed with weft_close (or forgotten) meanwhile starts, and its reads
 * of fd fail, unless the number was reused (an accept, an open) before it
 * ran: cancel the task and let it close the fd, rather than close it under
 * the task. During a loop's teardown the task starts at once, cancelled
 * (as weft_spawn_ex's).
 *
 * While it waits, fd has its reader: weft_wait_readable on fd, or a second
 * such spawn, gets WEFT_EBUSY. Returns 0, or what weft_spawn_ex returns
 * (WEFT_EINVAL also for out NULL without opts->detached), or -EBADF (fd <
 * 0), WEFT_EBUSY, or the poller's error for an fd it cannot watch (-EPERM:
 * a regular file under epoll); on an error nothing was spawned. */
WEFT_EXTERN int weft_spawn_when_readable(weft_task **out, const weft_spawn_opts *opts, int fd,
                                         int64_t deadline, weft_task_fn fn, void *arg);
/* The same for a child of group `g` (as weft_group_spawn; returns its
 * codes as well): the group's cancellation starts the task, cancelled, and
 * weft_group_leave waits for it as for any child. */
WEFT_EXTERN int weft_group_spawn_when_readable(weft_group *g, const weft_spawn_opts *opts, int fd,
                                               int64_t deadline, weft_task_fn fn, void *arg);

/* Suspension point. Reads up to `len` bytes from the non-blocking `fd` into
 * `buf`, waiting while nothing is there. Returns the count read (> 0), 0 at
 * end of file, or a negative code: -errno from read(2) (e.g. -ECONNRESET), or
 * one of weft_wait_readable's. Interrupted reads (EINTR) are retried. */
WEFT_EXTERN ssize_t weft_read(int fd, void *buf, size_t len);
/* Suspension point. Writes all `len` bytes of `buf` to the non-blocking `fd`,
 * waiting for room as needed. Returns len, or a negative code (-EPIPE when
 * the peer has gone: SIGPIPE is never raised for sockets; for pipes, ignore
 * SIGPIPE yourself). On an error after a partial write, the bytes written are
 * lost to the caller: use weft_write_some to know. */
WEFT_EXTERN ssize_t weft_write(int fd, const void *buf, size_t len);
/* Suspension point. Writes at least one byte (waiting for room), at most
 * `len`; returns the count or a negative code. */
WEFT_EXTERN ssize_t weft_write_some(int fd, const void *buf, size_t len);

/* Makes `fd` non-blocking and close-on-exec. Returns 0 or -errno. */
WEFT_EXTERN int weft_fd_nonblock(int fd);
/* Says that `fd`, a stream socket, is read only with weft_read from now
 * until weft_close or weft_fd_forget (no recv of the caller's, no other
 * reader), so the loop may take its input as it comes. On the io_uring
 * backend it then does (the completion engine, docs/design.md): reads copy
 * what the kernel already received into the loop's buffers, and
 * weft_write / weft_write_some are operations sent to the kernel with the
 * loop's next wait, with no system call of their own; a cancelled write
 * either sent nothing or reports what it sent. Elsewhere (epoll) it changes
 * nothing, as it does for an fd that is not a stream socket.
 * weft_stream_new_fd does this for the sockets it owns, and
 * weft_httpd for its plain connections. Must be called on the loop's
 * thread. Returns 0, WEFT_EINVAL (fd < 0) or WEFT_ENOMEM. */
WEFT_EXTERN int weft_fd_capture(int fd);
/* Tells the loop to forget `fd` (stop watching it) without closing it: tasks
 * waiting on it wake with WEFT_ECLOSED. Call it before handing the fd to
 * code that will close it. A no-op for an fd the loop does not know, and
 * outside any loop. */
WEFT_EXTERN void weft_fd_forget(int fd);
/* weft_fd_forget(fd), then close(fd). Returns 0 or -errno from close. */
WEFT_EXTERN int weft_close(int fd);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_IO_H */
