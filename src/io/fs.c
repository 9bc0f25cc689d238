/* weft files (weft/fs.h): each call is a request on the caller's stack,
 * run on a pool thread by weft__to_thread_wait, which never leaves a job
 * running once the call has returned. So the job may read and write the
 * caller's buffers, paths and *out directly, with no copies, and what a
 * cancelled call made (an fd, a list) is handed back rather than dropped:
 * nothing is ever half-owned.
 *
 * What outlives a call (readdir's list, read_file's bytes) is allocated on
 * the thread with the C library's allocator, not the loop's: that one need
 * not be thread-safe. The pool's threads block every signal, so these
 * system calls never see EINTR.
 */
#include "core_iface.h"
#include "io_iface.h"

#include "weft/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct req req;
struct req {
    ssize_t (*op)(req *r);  /* runs on the thread: a count or -errno */
    const char *path, *path2;
    int fd, flags;
    mode_t mode;
    void *buf;
    size_t len;
    off_t off;              /* < 0: at the fd's position */
    void **out;             /* a made result, on success */
    ssize_t res;
};

static void *run(void *arg) {
    req *r = arg;
    r->res = r->op(r);
    return NULL;
}

/* Runs r on the pool for public call `fn`: op's result, or the pool's
 * error. */
static ssize_t submit(const char *fn, req *r) {
    int err = weft__to_thread_wait(fn, run, r, NULL);
    return err ? err : r->res;
}

static ssize_t sys(ssize_t rc) { return rc < 0 ? -errno : rc; }

/* ---------------------------------------------------- on the thread */

static ssize_t op_open(req *r) { return sys(open(r->path, r->flags | O_CLOEXEC, r->mode)); }
static ssize_t op_fsync(req *r) { return sys(fsync(r->fd)); }
static ssize_t op_stat(req *r) { return sys(stat(r->path, r->buf)); }
static ssize_t op_rename(req *r) { return sys(rename(r->path, r->path2)); }
static ssize_t op_unlink(req *r) { return sys(unlink(r->path)); }
static ssize_t op_mkdir(req *r) { return sys(mkdir(r->path, r->mode)); }

/* Linux closes the fd even when close fails (EINTR included): never retry. */
static ssize_t op_close(req *r) { return sys(close(r->fd)); }

static ssize_t op_read(req *r) {
    return sys(r->off < 0 ? read(r->fd, r->buf, r->len) : pread(r->fd, r->buf, r->len, r->off));
}

/* All of p[0, len) at off (< 0: the position); a count short of len only
 * when an error stopped it after some bytes. */
static ssize_t write_all(int fd, const char *p, size_t len, off_t off) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = off < 0 ? write(fd, p + done, len - done)
                            : pwrite(fd, p + done, len - done, off + (off_t)done);
        if (n <= 0) return done ? (ssize_t)done : n < 0 ? -errno : -EIO;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static ssize_t op_write(req *r) { return write_all(r->fd, r->buf, r->len, r->off); }

static ssize_t op_write_file(req *r) {
    int fd = open(r->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, r->mode);
    if (fd < 0) return -errno;
    ssize_t n = 0;  /* a short count means an error comes next: get it */
    for (size_t done = 0; n >= 0 && done < r->len; done += (size_t)n)
        n = write_all(fd, (const char *)r->buf + done, r->len - done, -1);
    ssize_t cerr = sys(close(fd));
    return n < 0 ? n : cerr;
}

/* Grows *buf to hold cap bytes: false on ENOMEM (*buf untouched). */
static bool grow(char **buf, size_t cap) {
    char *p = realloc(*buf, cap);
    if (p) *buf = p;
    return p != NULL;
}

/* Reads fd to its end into a new NUL-terminated buffer, at most max bytes
 * (0: any). The first guess at the size is what fstat says. */
static ssize_t read_to_end(int fd, size_t max, char **out) {
    struct stat st;
    size_t cap = (fstat(fd, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size : 4096) + 1;
    if (max && cap > max + 2) cap = max + 2;  /* room to see one byte too many */
    char *buf = NULL;
    size_t len = 0;
    for (;;) {
        if ((len + 1 >= cap || !buf) && !grow(&buf, cap = buf ? cap * 2 : cap)) break;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0) {
            if (n == 0) {
                buf[len] = 0;
                *out = buf;
                return (ssize_t)len;
            }
            free(buf);
            return -errno;
        }
        len += (size_t)n;
        if (max && len > max) {
            free(buf);
            return WEFT_ETOOBIG;
        }
    }
    free(buf);
    return WEFT_ENOMEM;
}

static ssize_t op_read_file(req *r) {
    int fd = open(r->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t n = read_to_end(fd, r->len, (char **)r->out);
    close(fd);
    return n;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const weft_fs_dirent *)a)->name, ((const weft_fs_dirent *)b)->name);
}

/* Packs n entries, whose names are offsets into names[0, nlen), into one
 * block: the entries, a {NULL, 0} one, then the names. */
static weft_fs_dirent *pack(weft_fs_dirent *e, size_t n, const char *names, size_t nlen) {
    weft_fs_dirent *v = malloc((n + 1) * sizeof *v + nlen);
    if (!v) return NULL;
    char *s = (char *)(v + n + 1);
    if (nlen) memcpy(s, names, nlen);  /* an empty directory has no names, NULL */
    for (size_t i = 0; i < n; i++) v[i] = (weft_fs_dirent){ s + (uintptr_t)e[i].name, e[i].type };
    v[n] = (weft_fs_dirent){ NULL, 0 };
    qsort(v, n, sizeof *v, by_name);
    return v;
}

/* Collects the entries of d into e (names as offsets into *names). */
static ssize_t collect(DIR *d, weft_fs_dirent **e, char **names, size_t *nlen) {
    size_t n = 0, cap = 0, ncap = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) return errno ? -errno : (ssize_t)n;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        size_t len = strlen(de->d_name) + 1;
        if (n == cap && !grow((char **)e, (cap = cap ? cap * 2 : 16) * sizeof **e)) return WEFT_ENOMEM;
        if (*nlen + len > ncap && !grow(names, ncap = (*nlen + len) * 2)) return WEFT_ENOMEM;
        (*e)[n++] = (weft_fs_dirent){ (const char *)(uintptr_t)*nlen, de->d_type };
        memcpy(*names + *nlen, de->d_name, len);
        *nlen += len;
    }
}

static ssize_t op_readdir(req *r) {
    DIR *d = opendir(r->path);
    if (!d) return -errno;
    weft_fs_dirent *e = NULL;
    char *names = NULL;
    size_t nlen = 0;
    ssize_t n = collect(d, &e, &names, &nlen);
    closedir(d);
    if (n >= 0 && !(*r->out = pack(e, (size_t)n, names, nlen))) n = WEFT_ENOMEM;
    free(e);
    free(names);
    return n;
}

/* ------------------------------------------------------ the calls */

int weft_fs_open(const char *path, int flags, mode_t mode) {
    return (int)submit(__func__, &(req){ .op = op_open, .path = path, .flags = flags, .mode = mode });
}

int weft_fs_close(int fd) {
    req r = { .op = op_close, .fd = fd };
    if (weft_current()) {
        weft_scope shield;
        weft_scope_enter_ex(&shield, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
        int err = weft__to_thread_wait(__func__, run, &r, NULL);
        weft_scope_leave(&shield);
        if (!err) return (int)r.res;
    }
    return (int)op_close(&r);  /* no task, or no thread: close here */
}

ssize_t weft_fs_read(int fd, void *buf, size_t len) {
    return submit(__func__, &(req){ .op = op_read, .fd = fd, .buf = buf, .len = len, .off = -1 });
}

ssize_t weft_fs_pread(int fd, void *buf, size_t len, off_t off) {
    if (off < 0) return WEFT_EINVAL;
    return submit(__func__, &(req){ .op = op_read, .fd = fd, .buf = buf, .len = len, .off = off });
}

ssize_t weft_fs_write(int fd, const void *buf, size_t len) {
    return submit(__func__, &(req){ .op = op_write, .fd = fd, .buf = (void *)buf, .len = len, .off = -1 });
}

ssize_t weft_fs_pwrite(int fd, const void *buf, size_t len, off_t off) {
    if (off < 0) return WEFT_EINVAL;
    return submit(__func__, &(req){ .op = op_write, .fd = fd, .buf = (void *)buf, .len = len, .off = off });
}

int weft_fs_fsync(int fd) { return (int)submit(__func__, &(req){ .op = op_fsync, .fd = fd }); }

int weft_fs_stat(const char *path, struct stat *st) {
    struct stat tmp;  /* *st only on success */
    int err = (int)submit(__func__, &(req){ .op = op_stat, .path = path, .buf = &tmp });
    if (!err) *st = tmp;
    return err;
}

int weft_fs_rename(const char *from, const char *to) {
    return (int)submit(__func__, &(req){ .op = op_rename, .path = from, .path2 = to });
}

int weft_fs_unlink(const char *path) { return (int)submit(__func__, &(req){ .op = op_unlink, .path = path }); }

int weft_fs_mkdir(const char *path, mode_t mode) {
    return (int)submit(__func__, &(req){ .op = op_mkdir, .path = path, .mode = mode });
}

ssize_t weft_fs_readdir(const char *path, weft_fs_dirent **out) {
    if (!out) return WEFT_EINVAL;
    return submit(__func__, &(req){ .op = op_readdir, .path = path, .out = (void **)out });
}

ssize_t weft_fs_read_file(const char *path, size_t max, char **out) {
    if (!out) return WEFT_EINVAL;
    return submit(__func__, &(req){ .op = op_read_file, .path = path, .len = max, .out = (void **)out });
}

int weft_fs_write_file(const char *path, const void *data, size_t len, mode_t mode) {
    return (int)submit(__func__, &(req){ .op = op_write_file, .path = path, .buf = (void *)data, .len = len, .mode = mode });
}

void weft_fs_free(void *p) { free(p); }
