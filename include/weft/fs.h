/* weft files: the file system calls, as suspension points that run on the
 * loop's thread pool (weft/thread.h), as libuv's uv_fs_* and Python's
 * aiofiles and trio.Path do.
 *
 * Why they exist: a file read made on the loop's thread blocks every task
 * of the loop until the disk answers (regular files are always "ready" to
 * a poller, so there is nothing to wait for but the call itself). Here only
 * the calling task waits. On both backends (epoll and io_uring) the calls
 * run on the pool.
 *
 * Files are plain file descriptors (int), not an opaque handle: weft keeps
 * no state for an open file beyond what the kernel does, and the fd goes
 * straight to sendfile(2), fstat(2), mmap(2) or weft_stream_new_fd. Open
 * and close them in pairs with weft_fs_open / weft_fs_close. Every fd weft
 * opens is close-on-exec. Do not use these calls on pipes, FIFOs or
 * sockets: a call that blocks forever holds a pool thread forever; use
 * weft/stream.h for those.
 *
 * Cancellation, the same for every call here except weft_fs_close: a call
 * cancelled (or past a scope's deadline) before a pool thread took it did
 * not happen, and returns the cancellation code. One cancelled while a
 * thread runs it cannot be stopped: it waits for the system call's end,
 * shielded, and returns its result as if there had been no cancel (an fd,
 * a count, a list: the caller owns it and releases it as usual); the
 * cancel is then reported by the task's next suspension point. (A
 * multi-write call, weft_fs_write or weft_fs_write_file, is one job: it
 * finishes whole.) So a call
 * never touches the caller's buffers or strings after it returns, and a
 * cancelled call never leaks what it made. The wait lasts as long as the
 * system call, which for regular files on local disks is short.
 *
 * Errors are -errno of the failed system call (-ENOENT, -EACCES,
 * -ENOSPC...), WEFT_ENOMEM, a cancellation code, WEFT_ENOTASK (not called
 * from a task), or -EAGAIN when the pool has no thread and none can start.
 */
#ifndef WEFT_FS_H
#define WEFT_FS_H

#include <weft.h>

#include <sys/stat.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Suspension point: open(2) of `path` with `flags` (O_RDONLY, O_WRONLY |
 * O_CREAT | O_TRUNC...; O_CLOEXEC is added) and `mode` for a file it
 * creates. Returns the fd (>= 0), to be closed with weft_fs_close, or an
 * error (-ENOENT, -EACCES, -EEXIST, -EISDIR, -EMFILE...). */
WEFT_EXTERN int weft_fs_open(const char *path, int flags, mode_t mode);

/* Closes fd, always: the close runs on a pool thread and the task waits for
 * it shielded, so a cancelled task's close still happens (its cancel is
 * reported by its next suspension point), as Trio's aclose does. Outside a
 * task, or when the pool cannot take the job, it closes on the calling
 * thread. Returns 0 or close(2)'s error (-EBADF; -EIO or -ENOSPC from a
 * file system that writes back on close: the fd is closed all the same). */
WEFT_EXTERN int weft_fs_close(int fd);

/* Suspension point: one read(2) of up to len bytes into buf at fd's
 * position. Returns the count, which is short at the end of the file and
 * 0 at it; or an error (-EISDIR, -EBADF, -EIO...). buf is borrowed until
 * the call returns. */
WEFT_EXTERN ssize_t weft_fs_read(int fd, void *buf, size_t len);

/* Suspension point: pread(2), weft_fs_read at offset `off`, leaving fd's
 * position alone. WEFT_EINVAL if off < 0. */
WEFT_EXTERN ssize_t weft_fs_pread(int fd, void *buf, size_t len, off_t off);

/* Suspension point: writes all len bytes of buf at fd's position, in as
 * many write(2) calls as it takes. Returns len; or, when an error stops it
 * after some bytes were written, that count (the next write reports the
 * error); or the error when none were (-ENOSPC, -EDQUOT, -EFBIG, -EBADF,
 * -EIO...). buf is borrowed until the call returns. */
WEFT_EXTERN ssize_t weft_fs_write(int fd, const void *buf, size_t len);

/* Suspension point: weft_fs_write at offset `off` with pwrite(2), leaving
 * fd's position alone (but a file opened O_APPEND appends, as Linux's
 * pwrite does). WEFT_EINVAL if off < 0. */
WEFT_EXTERN ssize_t weft_fs_pwrite(int fd, const void *buf, size_t len, off_t off);

/* Suspension point: fsync(2). 0, or -EIO, -ENOSPC, -EBADF, -EINVAL. */
WEFT_EXTERN int weft_fs_fsync(int fd);

/* Suspension point: stat(2) of path into *st (written only on success).
 * 0, or -ENOENT, -EACCES, -ENOTDIR, -ELOOP, -ENAMETOOLONG. For a file
 * already open, fstat(2) on its fd reads no disk and may be called
 * directly. */
WEFT_EXTERN int weft_fs_stat(const char *path, struct stat *st);

/* Suspension point: rename(2). 0 or its error (-ENOENT, -EACCES, -EXDEV,
 * -EISDIR, -ENOTEMPTY...). */
WEFT_EXTERN int weft_fs_rename(const char *from, const char *to);

/* Suspension point: unlink(2). 0 or its error (-ENOENT, -EACCES, -EISDIR...). */
WEFT_EXTERN int weft_fs_unlink(const char *path);

/* Suspension point: mkdir(2) with `mode`. 0 or its error (-EEXIST,
 * -ENOENT, -EACCES, -ENOSPC...). */
WEFT_EXTERN int weft_fs_mkdir(const char *path, mode_t mode);

/* One entry of a directory: its name and its d_type (DT_REG, DT_DIR,
 * DT_LNK..., or DT_UNKNOWN where the file system does not say). */
typedef struct weft_fs_dirent {
    const char *name;
    unsigned char type;
} weft_fs_dirent;

/* Suspension point: the entries of directory `path`, without "." and "..",
 * sorted by name (strcmp). Returns their count n and *out, an array of n
 * entries followed by a {NULL, 0} one, in one allocation the caller frees
 * with weft_fs_free (names included). *out is written only on success.
 * Errors: -ENOENT, -ENOTDIR, -EACCES, -EMFILE, WEFT_ENOMEM, WEFT_EINVAL
 * (out NULL). */
WEFT_EXTERN ssize_t weft_fs_readdir(const char *path, weft_fs_dirent **out);

/* Suspension point: the whole of file `path`. Returns its length n and
 * *out, n bytes followed by a NUL (so a text file is a C string), which the
 * caller frees with weft_fs_free; *out is written only on success. Reads to
 * the end of the file, not to the size stat reports (files in /proc say 0).
 * `max` bounds the length (0: no bound): a longer file is WEFT_ETOOBIG,
 * and nothing is returned. Other errors: those of open and read, WEFT_ENOMEM,
 * WEFT_EINVAL (out NULL). */
WEFT_EXTERN ssize_t weft_fs_read_file(const char *path, size_t max, char **out);

/* Suspension point: makes `path` hold exactly the len bytes of data
 * (open O_WRONLY | O_CREAT | O_TRUNC with `mode` for a new file, write all,
 * close). Returns 0 or the first error (those of open, write and close);
 * after an error in the write (-ENOSPC) the file holds what was written
 * before it. Not atomic: a reader may see the file part-written (write a
 * temporary file and weft_fs_rename it over for that). data is borrowed
 * until the call returns. */
WEFT_EXTERN int weft_fs_write_file(const char *path, const void *data, size_t len, mode_t mode);

/* Frees what weft_fs_readdir or weft_fs_read_file returned. NULL is a no-op.
 * Callable from any thread, loop or not. */
WEFT_EXTERN void weft_fs_free(void *p);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_FS_H */
