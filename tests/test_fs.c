/* Files (weft/fs.h): the calls against a real file system, their errors
 * (ENOENT; EACCES as an unprivileged user; ENOSPC on a small tmpfs mounted
 * in a private mount namespace), and what a cancel does to a call that is
 * queued, running, or a close. The walk of every suspension point is in
 * test_cancel_walk.c. */
#include "test.h"

#include <weft/fs.h>

#include <fcntl.h>
#include <stdbool.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];  /* the case's scratch directory */

static void dir_make(void) {
    snprintf(dir, sizeof dir, "/tmp/weft-fs-XXXXXX");
    ASSERT(mkdtemp(dir));
}

/* Removes dir, one level deep, whatever the case left in it. */
static void dir_remove(void) {
    DIR *d = opendir(dir);
    ASSERT(d);
    for (struct dirent *e; (e = readdir(d));) {
        char p[320];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.') ASSERT(unlink(p) == 0 || rmdir(p) == 0);
    }
    closedir(d);
    ASSERT(rmdir(dir) == 0);
}

static const char *at(const char *name) {
    static char p[4][128];
    static int i;
    char *s = p[i++ % 4];
    snprintf(s, sizeof p[0], "%s/%s", dir, name);
    return s;
}

/* Runs fn as a loop's main task over a fresh scratch directory. */
static void run_in_dir(int (*fn)(void *), unsigned pool_size) {
    dir_make();
    int fds = wt_count_fds();
    long live = wt_live_allocs;
    weft_loop_opts o = { .realloc = wt_realloc, .pool_size = pool_size };
    ASSERT_EQ(weft_run_opts(&o, fn, NULL), 0);
    ASSERT_EQ(wt_live_allocs, live);
    ASSERT_EQ(wt_count_fds(), fds);
    dir_remove();
}

/* ------------------------------------------------------------ the calls */

static int round_trip(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_fs_write_file(at("f"), "hello, world", 12, 0644), 0);
    struct stat st;
    ASSERT_ERR(weft_fs_stat(at("f"), &st), 0);
    ASSERT_EQ(st.st_size, 12);
    ASSERT_EQ(st.st_mode & 0777, 0644 & ~umask(022));
    char *data;
    ASSERT_EQ(weft_fs_read_file(at("f"), 0, &data), 12);
    ASSERT_STR(data, "hello, world");  /* NUL-terminated */
    weft_fs_free(data);

    int fd = weft_fs_open(at("f"), O_RDWR, 0);
    ASSERT(fd >= 0);
    ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    ASSERT_EQ(weft_fs_pwrite(fd, "W", 1, 7), 1);
    char buf[32];
    ASSERT_EQ(weft_fs_read(fd, buf, 5), 5);  /* the position: 0, then 5 */
    ASSERT(!memcmp(buf, "hello", 5));
    ASSERT_EQ(weft_fs_pread(fd, buf, 5, 7), 5);
    ASSERT(!memcmp(buf, "World", 5));
    ASSERT_EQ(weft_fs_read(fd, buf, 2), 2);  /* pread left the position at 5 */
    ASSERT(!memcmp(buf, ", ", 2));
    ASSERT_EQ(weft_fs_write(fd, "there", 5), 5);
    ASSERT_ERR(weft_fs_fsync(fd), 0);
    ASSERT_ERR(weft_fs_pread(fd, buf, 1, -1), WEFT_EINVAL);
    ASSERT_ERR(weft_fs_close(fd), 0);
    ASSERT_EQ(weft_fs_read_file(at("f"), 0, &data), 12);
    ASSERT_STR(data, "hello, there");
    weft_fs_free(data);
    return 0;
}
TEST(a_file_written_is_read_back_whole_in_parts_and_at_offsets) { run_in_dir(round_trip, 0); }

static int short_reads(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_fs_write_file(at("f"), "0123456789", 10, 0600), 0);
    int fd = weft_fs_open(at("f"), O_RDONLY, 0);
    ASSERT(fd >= 0);
    char buf[64];
    ASSERT_EQ(weft_fs_pread(fd, buf, sizeof buf, 6), 4);  /* short: the end */
    ASSERT(!memcmp(buf, "6789", 4));
    ASSERT_EQ(weft_fs_read(fd, buf, sizeof buf), 10);
    ASSERT_EQ(weft_fs_read(fd, buf, sizeof buf), 0);  /* at the end */
    ASSERT_EQ(weft_fs_pread(fd, buf, sizeof buf, 100), 0);
    ASSERT_EQ(weft_fs_write(fd, "x", 1), -EBADF);  /* opened read-only */
    ASSERT_ERR(weft_fs_close(fd), 0);
    /* An empty file, and one whose stat size is 0 but which has bytes. */
    ASSERT_ERR(weft_fs_write_file(at("empty"), "", 0, 0600), 0);
    char *data;
    ASSERT_EQ(weft_fs_read_file(at("empty"), 0, &data), 0);
    ASSERT_STR(data, "");
    weft_fs_free(data);
    ssize_t n = weft_fs_read_file("/proc/self/status", 0, &data);
    ASSERT(n > 0 && (size_t)n == strlen(data));
    ASSERT(strstr(data, "Name:"));
    weft_fs_free(data);
    return 0;
}
TEST(reads_at_the_end_are_short_then_zero_and_whole_file_reads_go_to_the_end) { run_in_dir(short_reads, 0); }

static int too_big(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_fs_write_file(at("f"), "0123456789", 10, 0600), 0);
    char *data = (char *)&data;
    ASSERT_EQ(weft_fs_read_file(at("f"), 9, &data), WEFT_ETOOBIG);
    ASSERT(data == (char *)&data);  /* untouched */
    ASSERT_EQ(weft_fs_read_file("/proc/self/status", 16, &data), WEFT_ETOOBIG);
    ASSERT_EQ(weft_fs_read_file(at("f"), 10, &data), 10);
    weft_fs_free(data);
    ASSERT_EQ(weft_fs_read_file(at("f"), 0, NULL), WEFT_EINVAL);
    return 0;
}
TEST(a_file_longer_than_its_bound_is_etoobig) { run_in_dir(too_big, 0); }

static int listing(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_fs_write_file(at("b"), "b", 1, 0600), 0);
    ASSERT_ERR(weft_fs_write_file(at("a"), "a", 1, 0600), 0);
    ASSERT_ERR(weft_fs_mkdir(at("c"), 0700), 0);
    ASSERT_ERR(weft_fs_mkdir(at("c"), 0700), -EEXIST);
    weft_fs_dirent *e;
    ASSERT_EQ(weft_fs_readdir(dir, &e), 3);
    ASSERT_STR(e[0].name, "a");
    ASSERT_STR(e[1].name, "b");
    ASSERT_STR(e[2].name, "c");
    ASSERT(e[3].name == NULL);
    ASSERT(e[0].type == DT_REG || e[0].type == DT_UNKNOWN);
    ASSERT(e[2].type == DT_DIR || e[2].type == DT_UNKNOWN);
    weft_fs_free(e);
    ASSERT_EQ(weft_fs_readdir(at("c"), &e), 0);  /* empty */
    ASSERT(e[0].name == NULL);
    weft_fs_free(e);
    ASSERT_EQ(weft_fs_readdir(at("a"), &e), -ENOTDIR);
    ASSERT_EQ(weft_fs_readdir(dir, NULL), WEFT_EINVAL);

    /* Rename moves; unlink removes. */
    ASSERT_ERR(weft_fs_rename(at("a"), at("c/a")), 0);
    ASSERT_ERR(weft_fs_unlink(at("b")), 0);
    ASSERT_EQ(weft_fs_readdir(dir, &e), 1);
    ASSERT_STR(e[0].name, "c");
    weft_fs_free(e);
    ASSERT_ERR(weft_fs_unlink(at("c/a")), 0);
    return 0;
}
TEST(a_directory_lists_sorted_without_dot_entries_and_renames_and_unlinks_show) { run_in_dir(listing, 0); }

static int many_entries(void *arg) {
    (void)arg;
    for (int i = 0; i < 300; i++) {
        char name[32];
        snprintf(name, sizeof name, "%03d-%s", 299 - i, i % 2 ? "odd" : "even-longer-name");
        ASSERT_ERR(weft_fs_write_file(at(name), "", 0, 0600), 0);
    }
    weft_fs_dirent *e;
    ASSERT_EQ(weft_fs_readdir(dir, &e), 300);
    for (int i = 1; i < 300; i++) ASSERT(strcmp(e[i - 1].name, e[i].name) < 0);
    ASSERT(!strncmp(e[0].name, "000-", 4) && !strncmp(e[299].name, "299-", 4));
    weft_fs_free(e);
    return 0;
}
TEST(a_directory_of_hundreds_of_entries_lists_them_all) { run_in_dir(many_entries, 0); }

/* ------------------------------------------------------------- errors */

static int missing(void *arg) {
    (void)arg;
    const char *no = at("missing/x");
    struct stat st;
    char *data;
    weft_fs_dirent *e;
    ASSERT_ERR(weft_fs_open(no, O_RDONLY, 0), -ENOENT);
    ASSERT_ERR(weft_fs_open(no, O_WRONLY | O_CREAT, 0600), -ENOENT);
    ASSERT_ERR(weft_fs_stat(no, &st), -ENOENT);
    ASSERT_ERR(weft_fs_read_file(no, 0, &data), -ENOENT);
    ASSERT_ERR(weft_fs_write_file(no, "x", 1, 0600), -ENOENT);
    ASSERT_ERR(weft_fs_readdir(no, &e), -ENOENT);
    ASSERT_ERR(weft_fs_unlink(no), -ENOENT);
    ASSERT_ERR(weft_fs_rename(no, at("y")), -ENOENT);
    ASSERT_ERR(weft_fs_mkdir(no, 0700), -ENOENT);
    ASSERT_ERR(weft_fs_read_file(dir, 0, &data), -EISDIR);
    ASSERT_ERR(weft_fs_close(-1), -EBADF);
    char c;
    ASSERT_ERR(weft_fs_read(-1, &c, 1), -EBADF);
    ASSERT_ERR(weft_fs_fsync(-1), -EBADF);
    return 0;
}
TEST(a_missing_path_is_enoent_for_every_call) { run_in_dir(missing, 0); }

static int outside(void) {
    char c;
    ASSERT_ERR(weft_fs_read(0, &c, 1), WEFT_ENOTASK);
    ASSERT_ERR(weft_fs_open("/", O_RDONLY, 0), WEFT_ENOTASK);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT(fd >= 0);
    ASSERT_ERR(weft_fs_close(fd), 0);  /* closes here */
    ASSERT(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
    weft_fs_free(NULL);
    return 0;
}
TEST(calls_outside_a_task_are_enotask_but_close_still_closes) { outside(); }

static int denied(void *arg) {
    (void)arg;
    char *data;
    weft_fs_dirent *e;
    ASSERT_ERR(weft_fs_open(at("secret"), O_RDONLY, 0), -EACCES);
    ASSERT_ERR(weft_fs_read_file(at("secret"), 0, &data), -EACCES);
    ASSERT_ERR(weft_fs_write_file(at("secret"), "x", 1, 0600), -EACCES);
    ASSERT_ERR(weft_fs_write_file(at("new"), "x", 1, 0600), -EACCES);
    ASSERT_ERR(weft_fs_mkdir(at("newdir"), 0700), -EACCES);
    ASSERT_ERR(weft_fs_unlink(at("secret")), -EACCES);
    ASSERT_ERR(weft_fs_readdir(at("closed"), &e), -EACCES);
    return 0;
}

/* Runs fn in a child process (a loop of its own) after `setup` there:
 * setup returns false to skip. The case skips if the child did. */
static void in_child(bool (*setup)(void), int (*fn)(void *)) {
    fflush(NULL);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        if (!setup()) _exit(WT_SKIP);
        ASSERT_EQ(wt_run_real(fn, NULL), 0);
        _exit(0);
    }
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status));
    if (WEXITSTATUS(status) == WT_SKIP) wt_skip("the child could not set up");
    ASSERT_EQ(WEXITSTATUS(status), 0);
}

/* Root ignores permission bits: drop to nobody (65534) if we are root. */
static bool drop_privileges(void) {
    if (geteuid() != 0) return true;
    return setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0;
}

TEST(a_path_the_user_may_not_touch_is_eacces) {
    dir_make();
    int fd = open(at("secret"), O_WRONLY | O_CREAT, 0);
    ASSERT(fd >= 0);
    close(fd);
    ASSERT(mkdir(at("closed"), 0) == 0);
    ASSERT(chmod(dir, 0555) == 0);  /* others may look, nobody may write */
    in_child(drop_privileges, denied);
    ASSERT(chmod(dir, 0700) == 0);
    dir_remove();
}

static int full(void *arg) {
    (void)arg;
    size_t big = 1 << 20;  /* four times the file system */
    char *data = malloc(big);
    ASSERT(data);
    memset(data, 'x', big);
    ASSERT_ERR(weft_fs_write_file(at("whole"), data, big, 0600), -ENOSPC);
    struct stat st;
    ASSERT_ERR(weft_fs_stat(at("whole"), &st), 0);  /* holds what fitted */
    ASSERT(st.st_size > 0 && st.st_size < (off_t)big);
    ASSERT_ERR(weft_fs_unlink(at("whole")), 0);

    int fd = weft_fs_open(at("parts"), O_WRONLY | O_CREAT, 0600);
    ASSERT(fd >= 0);
    ssize_t n = weft_fs_write(fd, data, big);  /* what fitted: a short count */
    ASSERT(n > 0 && (size_t)n < big);
    ASSERT_EQ(weft_fs_write(fd, data + n, big - (size_t)n), -ENOSPC);  /* then the error */
    ASSERT_EQ(weft_fs_pwrite(fd, data, big, n), -ENOSPC);
    ASSERT_ERR(weft_fs_close(fd), 0);
    ASSERT_ERR(weft_fs_mkdir(at("d"), 0700), 0);  /* full of data, not of inodes */
    free(data);
    return 0;
}

static bool write_proc(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

/* An unprivileged user may mount a tmpfs in a user namespace of its own,
 * where it is root: mapped to itself, so the files it makes have an owner. */
static bool own_user_namespace(void) {
    char map[64];
    unsigned uid = getuid(), gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return false;
    snprintf(map, sizeof map, "0 %u 1\n", uid);
    if (!write_proc("/proc/self/uid_map", map) || !write_proc("/proc/self/setgroups", "deny")) return false;
    snprintf(map, sizeof map, "0 %u 1\n", gid);
    return write_proc("/proc/self/gid_map", map);
}

/* A 256 KiB tmpfs over dir, in a mount namespace of the child's own (so
 * nothing is left mounted whatever happens). */
static bool small_tmpfs(void) {
    if (unshare(CLONE_NEWNS) != 0 && !own_user_namespace()) return false;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return false;
    return mount("weft-test", dir, "tmpfs", 0, "size=256k") == 0;
}

TEST(a_full_file_system_is_enospc_after_what_fitted) {
    dir_make();
    in_child(small_tmpfs, full);
    dir_remove();
}

/* ------------------------------------------------------- cancellation */

/* A FIFO's open(2) waits for the other end: a call that stays running
 * until the test says. */
static bool opened;
static void *open_fifo(void *arg) {
    (void)arg;
    int fd = weft_fs_open(at("fifo"), O_RDONLY, 0);
    ASSERT(fd >= 0);  /* cancelled while its thread ran: the fd comes back */
    opened = true;
    int err = weft_yield();  /* and the cancel is reported next */
    ASSERT_ERR(weft_fs_close(fd), 0);
    return weft_error(err);
}

static int join_code(weft_task *t) {
    void *r;
    ASSERT_ERR(weft_join(t, &r), 0);
    return weft_error_code(r);
}

static void *stat_root(void *arg) {
    struct stat *st = arg;
    return weft_error(weft_fs_stat("/", st));
}

static int count_threads(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    ASSERT(d);
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int running_and_queued(void *arg) {
    (void)arg;
    ASSERT(mkfifo(at("fifo"), 0600) == 0);
    int before = count_threads();
    weft_task *t = weft_spawn(open_fifo, NULL);
    /* The pool's one thread starts for it (however slowly, on a loaded
     * machine), then takes the job at once, and waits in open(2). */
    while (count_threads() == before) ASSERT_ERR(weft_sleep(2 * WEFT_MILLISECOND), 0);
    ASSERT_ERR(weft_sleep(50 * WEFT_MILLISECOND), 0);
    /* The pool's one thread is busy: this call queues, and its cancel
     * takes it back at once. */
    struct stat st = { .st_size = -7 };
    weft_task *q = weft_spawn(stat_root, &st);
    ASSERT_ERR(weft_yield(), 0);
    weft_cancel(q);
    ASSERT_ERR(join_code(q), WEFT_ECANCELED);
    ASSERT_EQ(st.st_size, -7);  /* it did not happen */

    weft_cancel(t);
    ASSERT_ERR(weft_sleep(50 * WEFT_MILLISECOND), 0);
    ASSERT(!opened);  /* the open cannot be stopped: its task waits on */
    int w = open(at("fifo"), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT(w >= 0);
    ASSERT_ERR(join_code(t), WEFT_ECANCELED);
    ASSERT(opened);
    close(w);
    ASSERT_ERR(weft_fs_stat("/", &st), 0);  /* the pool still works */
    return 0;
}
TEST(a_cancelled_call_that_was_queued_did_not_happen_and_one_that_ran_returns_its_fd) {
    run_in_dir(running_and_queued, 1);
}

static int cancelled_close(void *arg) {
    (void)arg;
    ASSERT_ERR(weft_fs_write_file(at("f"), "abc", 3, 0600), 0);
    int fd = weft_fs_open(at("f"), O_RDONLY, 0);
    ASSERT(fd >= 0);
    weft_cancel(weft_current());
    char c;
    ASSERT_ERR(weft_fs_read(fd, &c, 1), WEFT_ECANCELED);  /* did not happen */
    ASSERT_EQ(lseek(fd, 0, SEEK_CUR), 0);
    ASSERT_ERR(weft_fs_close(fd), 0);  /* happens all the same */
    ASSERT(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
    ASSERT_ERR(weft_yield(), WEFT_ECANCELED);  /* the cancel is still there */
    return 0;
}
TEST(a_cancelled_task_still_closes_its_file) { run_in_dir(cancelled_close, 0); }

static int no_memory(void *arg) {
    (void)arg;
    struct stat st = { .st_size = -7 };
    wt_fail_at = 0;  /* the pool's first allocation */
    ASSERT_ERR(weft_fs_stat("/", &st), WEFT_ENOMEM);
    ASSERT_EQ(st.st_size, -7);
    int fd = weft_fs_open("/dev/null", O_RDONLY, 0);
    ASSERT(fd >= 0);
    wt_fail_at = 0;  /* the close's job */
    ASSERT_ERR(weft_fs_close(fd), 0);  /* closed on the loop's thread instead */
    ASSERT(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
    return 0;
}
TEST(a_call_without_memory_for_its_job_is_enomem_but_close_still_closes) { run_in_dir(no_memory, 0); }
