/* The live console (WEFT_CONSOLE / weft_loop_opts.console_path): a client on
 * the Unix socket, in a thread of its own while the loop runs, asks for
 * snapshots and stacks, misbehaves (garbage, overlong lines, a reader that
 * never reads, a disconnect mid-answer), and the loop must not notice. */
#include "test.h"

#include <weft/debug.h>
#include <weft/thread.h>
#include <weft/loops.h>

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static char path[108];
static int never(void *arg);

/* ThreadSanitizer makes each task a fiber of its own, which it makes at
 * some 100 a second on a loaded machine: a hundredth there. */
#if defined(__SANITIZE_THREAD__)
#define MANY 100
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MANY 100
#endif
#endif
#ifndef MANY
#define MANY 10000
#endif

/* "\"tasks\":N," for the answer of a loop of n tasks. */
static const char *tasks_is(size_t n) {
    static char b[40];
    snprintf(b, sizeof b, "\"tasks\":%zu,", n);
    return b;
}

static void make_path(void) {
    snprintf(path, sizeof path, "/tmp/weft-console-test-%d.sock", (int)getpid());
    unlink(path);
}

/* ------------------------------------------------------------ the client */

static int con_connect(void) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(fd >= 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, path);
    ASSERT_EQ(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void con_send(int fd, const char *s, size_t n) {
    ASSERT_EQ(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* One answer line (malloc'd), or NULL if the console closed the connection. */
static char *con_line(int fd) {
    size_t n = 0, cap = 4096;
    char *b = malloc(cap);
    for (;;) {
        if (n + 1 >= cap) b = realloc(b, cap *= 2);
        ssize_t r = read(fd, b + n, cap - n - 1);
        if (r <= 0) {
            free(b);
            return NULL;
        }
        n += (size_t)r;
        b[n] = 0;
        if (b[n - 1] == '\n') return b;
    }
}

static char *con_ask(int fd, const char *req) {
    con_send(fd, req, strlen(req));
    return con_line(fd);
}

/* By hand: AddressSanitizer's strstr measures the whole haystack on each
 * call, which over a 2 MB answer makes counting quadratic. */
static size_t count(const char *s, const char *needle) {
    size_t n = 0, k = strlen(needle);
    for (const char *p = s; *p; p++)
        if (*p == *needle && !strncmp(p, needle, k)) n++, p += k - 1;
    return n;
}

/* ------------------------------------------------------ the loop's side */

/* The test's shape: main spawns `ntasks` tasks parked on an event, a ticker
 * that measures how late its 1 ms sleeps wake, and a client thread running
 * `client`; it waits (held: another thread will wake it) until the client
 * is done, then lets everything end. */
static struct {
    void (*client)(void);
    size_t ntasks;
    weft_event park, done;
    weft_loop *L;
    int64_t worst_gap;
    int stop;
} S;

static void *parked(void *arg) {
    (void)arg;
    weft_event_wait(&S.park);
    return NULL;
}

static void *ticker(void *arg) {
    (void)arg;
    int64_t last = weft_now();
    while (!S.stop && weft_sleep(WEFT_MILLISECOND) == 0 && !S.stop) {
        int64_t now = weft_now();
        if (now - last > S.worst_gap) S.worst_gap = now - last;
        last = now;
    }
    return NULL;
}

static void client_done(void *arg) {
    (void)arg;
    weft_event_set(&S.done);
}

static void *client_thread(void *arg) {
    (void)arg;
    S.client();
    weft_call_soon_threadsafe(S.L, client_done, NULL);
    return NULL;
}

static int console_main(void *arg) {
    (void)arg;
    S.L = weft_loop_current();
    weft_spawn_opts so = { .name = "parked", .detached = 1 };
    for (size_t i = 0; i < S.ntasks; i++) ASSERT_EQ(weft_spawn_ex(NULL, &so, parked, NULL), 0);
    weft_spawn_opts to = { .name = "ticker", .detached = 1 };
    ASSERT_EQ(weft_spawn_ex(NULL, &to, ticker, NULL), 0);
    weft_sleep(10 * WEFT_MILLISECOND);  /* every task parked */
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, client_thread, NULL), 0);
    weft_loop_hold();
    weft_event_wait(&S.done);
    weft_loop_unhold();
    pthread_join(th, NULL);
    S.stop = 1;
    weft_event_set(&S.park);
    return 0;
}

/* Runs the shape above with the console at `path`, checking that nothing
 * leaked, the socket file included. */
static void run_with_console(void (*client)(void), size_t ntasks) {
    make_path();
    S.client = client;
    S.ntasks = ntasks;
    int fds = wt_count_fds();
    long live = wt_live_allocs;
    weft_loop_opts o = { .realloc = wt_realloc, .console_path = path };
    ASSERT_EQ(weft_run_opts(&o, console_main, NULL), 0);
    ASSERT_EQ(wt_live_allocs, live);
    ASSERT_EQ(wt_count_fds(), fds);
    struct stat st;
    ASSERT(lstat(path, &st) != 0 && errno == ENOENT);
}

/* ----------------------------------------------------------------- cases */

static void ten_thousand_client(void) {
    int fd = con_connect();
    char *a = con_ask(fd, "snapshot limit=100000 stuck_ms=0\n");
    ASSERT(a);
    ASSERT(strstr(a, tasks_is(MANY + 2)));
    ASSERT_EQ(count(a, "\"name\":\"parked\""), MANY);
    ASSERT_EQ(count(a, "\"name\":\"ticker\""), 1);
    free(a);
    /* Detached mid-answer: read a little, go. */
    int fd2 = con_connect();
    con_send(fd2, "snapshot limit=100000\n", 22);
    char some[1000];
    ASSERT(read(fd2, some, sizeof some) > 0);
    close(fd2);
    close(fd);
    /* Re-attached: the same answer again. */
    fd = con_connect();
    a = con_ask(fd, "snapshot limit=3 sort=id stuck_ms=0\n");
    ASSERT(a && strstr(a, tasks_is(MANY + 2)));
    ASSERT_EQ(count(a, "\"id\":"), 3);
    ASSERT(strstr(a, "{\"loop\":0,\"id\":1,\"name\":\"main\""));
    free(a);
    close(fd);
}

/* Answered a slice of tasks per upkeep: the loop's 1 ms sleeps stay on time
 * (a generous bound: the machine is shared and the build may be ASan's). */
TEST(console_snapshots_ten_thousand_tasks_detached_and_reattached) {
    run_with_console(ten_thousand_client, MANY);
    fprintf(stderr, "worst gap between 1 ms ticks: %.1f ms\n", (double)S.worst_gap / 1e6);
    ASSERT(S.worst_gap < 250 * WEFT_MILLISECOND);
}

static void garbage_client(void) {
    int fd = con_connect();
    char *a = con_ask(fd, "\x01\xff garbage\n");
    ASSERT(a && strncmp(a, "{\"error\":", 9) == 0);
    free(a);
    a = con_ask(fd, "snapshot limit=x\n");
    ASSERT(a && strncmp(a, "{\"error\":", 9) == 0);
    free(a);
    a = con_ask(fd, "stack 0 999999\n");
    ASSERT(a && strstr(a, "no task 999999"));
    free(a);
    /* A line longer than any request: dropped. */
    char junk[600];
    memset(junk, 'x', sizeof junk);
    send(fd, junk, sizeof junk, MSG_NOSIGNAL);
    ASSERT(con_line(fd) == NULL);
    close(fd);
    /* And the console still serves. */
    fd = con_connect();
    a = con_ask(fd, "snapshot\n");
    ASSERT(a && strstr(a, "\"tasks\":12,"));
    free(a);
    close(fd);
}

TEST(console_answers_garbage_with_an_error_and_drops_overlong_lines) {
    run_with_console(garbage_client, 10);
}

static void stall_client(void) {
    /* One that never ends its line, one that asks and never reads. */
    int half = con_connect();
    con_send(half, "snaps", 5);
    int slow = con_connect();
    int small = 4096;
    setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    const char req[] = "snapshot limit=100000 stuck_ms=0\n";
    int nreq = 8 * 2000 / (MANY / 5);  /* answers of some 4 MB in all */
    for (int i = 0; i < nreq; i++) send(slow, req, sizeof req - 1, MSG_NOSIGNAL);
    /* Meanwhile the console serves others. */
    int fd = con_connect();
    for (int i = 0; i < 3; i++) {
        char *a = con_ask(fd, "snapshot limit=1\n");
        ASSERT(a && strstr(a, tasks_is(MANY / 5 + 2)));
        free(a);
    }
    /* The reader that took nothing is dropped after a second or so: its
     * socket reaches the end (or is reset) once we drain it. */
    struct timespec ms = { 2, 0 };
    nanosleep(&ms, NULL);
    char b[65536];
    ssize_t r;
    size_t total = 0;
    while ((r = read(slow, b, sizeof b)) > 0) total += (size_t)r;
    ASSERT(r == 0 || errno == ECONNRESET);
    ASSERT(total < (size_t)nreq * (MANY / 5) * 100);  /* not every answer was written */
    close(slow);
    char *a = con_ask(fd, "snapshot limit=1\n");
    ASSERT(a && strstr(a, tasks_is(MANY / 5 + 2)));
    free(a);
    close(fd);
    close(half);
}

TEST(console_drops_a_reader_that_stalls_and_serves_the_others) {
    run_with_console(stall_client, MANY / 5);
}

static void perm_client(void) {
    struct stat st;
    ASSERT_EQ(lstat(path, &st), 0);
    ASSERT(S_ISSOCK(st.st_mode));
    ASSERT_EQ(st.st_mode & 0777, 0600);
    ASSERT_EQ(st.st_uid, geteuid());
}

TEST(console_socket_is_owner_only_and_removed_at_the_end) {
    run_with_console(perm_client, 1);
}

static int never(void *arg) {
    (void)arg;
    ASSERT(0);
    return 0;
}

/* Something at PATH that is not a socket is left alone: the loop fails. */
TEST(console_path_holding_a_file_fails_the_loop) {
    make_path();
    FILE *f = fopen(path, "w");
    ASSERT(f);
    fputs("keep me", f);
    fclose(f);
    weft_loop_opts o = { .console_path = path };
    ASSERT_ERR(weft_run_opts(&o, never, NULL), -EEXIST);
    struct stat st;
    ASSERT_EQ(lstat(path, &st), 0);
    ASSERT(S_ISREG(st.st_mode) && st.st_size == 7);
    unlink(path);
}

static int returns_zero(void *arg) {
    (void)arg;
    return 0;
}

/* A second process's loop finds the socket answered on: asked for by its
 * options, it fails; inherited in the environment, it runs without a
 * console; the first keeps its console either way. */
static void busy_client(void) {
    pid_t child = fork();
    ASSERT(child >= 0);
    if (child == 0) {
        weft_loop_opts o = { .console_path = path };
        if (weft_run_opts(&o, never, NULL) != WEFT_EBUSY) _exit(1);
        /* Inherited in the environment, it runs without a console. */
        setenv("WEFT_CONSOLE", path, 1);
        _exit(weft_run(returns_zero, NULL) == 0 ? 0 : 2);
    }
    int st;
    ASSERT_EQ(waitpid(child, &st, 0), child);
    ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int fd = con_connect();
    char *a = con_ask(fd, "snapshot\n");
    ASSERT(a && strstr(a, tasks_is(3)));
    free(a);
    close(fd);
}

TEST(console_path_answered_by_a_live_process_is_not_taken_over) {
    run_with_console(busy_client, 1);
}

/* ------------------------------------------- accounting, stacks, stuck */

static void *spinner(void *arg) {
    (void)arg;
    weft_sleep(WEFT_MILLISECOND);
    int64_t end = weft_now() + 30 * WEFT_MILLISECOND;
    while (weft_now() < end) {
    }
    weft_event_wait(&S.park);
    return NULL;
}

static uint64_t spinner_id, holder_id, wanter_id;
static weft_lock lock = WEFT_LOCK_INITIALIZER;

static void *holder(void *arg) {
    (void)arg;
    weft_lock_acquire(&lock);
    weft_event_wait(&S.park);
    weft_lock_release(&lock);
    return NULL;
}

static void *wanter(void *arg) {
    (void)arg;
    weft_sleep(WEFT_MILLISECOND);
    if (weft_lock_acquire(&lock) == 0) weft_lock_release(&lock);
    return NULL;
}

static void accounting_client(void) {
    struct timespec ms = { 0, 200 * 1000 * 1000 };
    nanosleep(&ms, NULL);   /* the spinner has spun, the parked are stuck */
    int fd = con_connect();
    char *a = con_ask(fd, "snapshot sort=cpu limit=20 stuck_ms=100\n");
    ASSERT(a);
    /* The spinner took the most CPU, in the slowest step. */
    char want[96];
    snprintf(want, sizeof want, "\"slowest\":{\"ns\":");
    char *s = strstr(a, want);
    ASSERT(s && atoll(s + strlen(want)) >= 30 * WEFT_MILLISECOND);
    snprintf(want, sizeof want, "{\"loop\":0,\"id\":%llu,\"name\":\"spinner\"", (unsigned long long)spinner_id);
    s = strstr(a, want);
    ASSERT(s && (s = strstr(s, "\"cpu_ns\":")) && atoll(s + 9) >= 30 * WEFT_MILLISECOND);
    /* The parked tasks wait longer than 100 ms: stuck, in the dump's words. */
    s = strstr(a, "\"stuck\":[");
    ASSERT(s && strstr(s, "\"wait\":\"event "));
    /* The one waiting for a lock: the task holding it, the chain's end. */
    snprintf(want, sizeof want, "\"chain\":[%llu,%llu],\"cycle\":-1", (unsigned long long)wanter_id,
             (unsigned long long)holder_id);
    if (!strstr(s, want)) fprintf(stderr, "want %s in %s\n", want, s);
    ASSERT(strstr(s, want));
    /* The spinner's stack, walked as the dump walks it. */
    char req[64];
    snprintf(req, sizeof req, "stack 0 %llu\n", (unsigned long long)spinner_id);
    free(a);
    a = con_ask(fd, req);
    ASSERT(a && strstr(a, "\"stack\":[\"#0 "));
    ASSERT(strstr(a, "\"state\":\"waiting\""));
    free(a);
    close(fd);
}

static int accounting_main(void *arg) {
    weft_spawn_opts so = { .name = "spinner", .detached = 1 };
    weft_task *t;
    so.detached = 0;
    ASSERT_EQ(weft_spawn_ex(&t, &so, spinner, NULL), 0);
    spinner_id = weft_task_id(t);
    weft_detach(t);
    so.name = "holder";
    ASSERT_EQ(weft_spawn_ex(&t, &so, holder, NULL), 0);
    holder_id = weft_task_id(t);
    weft_detach(t);
    so.name = "wanter";
    ASSERT_EQ(weft_spawn_ex(&t, &so, wanter, NULL), 0);
    wanter_id = weft_task_id(t);
    weft_detach(t);
    return console_main(arg);
}

TEST(console_shows_cpu_slowest_step_stuck_tasks_and_a_stack) {
    make_path();
    S.client = accounting_client;
    S.ntasks = 3;
    weft_loop_opts o = { .console_path = path };
    ASSERT_EQ(weft_run_opts(&o, accounting_main, NULL), 0);
}

/* ------------------------------------------------------- several loops */

static int loops_stop;

static void loops_client(void) {
    int fd = con_connect();
    char *a = con_ask(fd, "snapshot limit=0\n");
    ASSERT(a && strstr(a, "{\"index\":0,") && strstr(a, "{\"index\":1,"));
    free(a);
    a = con_ask(fd, "stack 1 1\n");
    ASSERT(a && strstr(a, "\"task\":{\"loop\":1,\"id\":1,"));
    free(a);
    close(fd);
}

/* Loop 0 runs the usual shape; loop 1 idles until it ends, and blocks for
 * one long step when asked to (block_now). */
static int block_now;

static int loops_main(unsigned index, void *arg) {
    if (index == 0) {
        int r = console_main(arg);
        __atomic_store_n(&loops_stop, 1, __ATOMIC_RELEASE);
        return r;
    }
    while (!__atomic_load_n(&loops_stop, __ATOMIC_ACQUIRE)) {
        if (__atomic_load_n(&block_now, __ATOMIC_ACQUIRE)) {
            struct timespec s = { 1, 600 * 1000 * 1000 };
            nanosleep(&s, NULL);  /* blocks the loop: one long step */
            __atomic_store_n(&block_now, 0, __ATOMIC_RELEASE);
        }
        weft_sleep(5 * WEFT_MILLISECOND);
    }
    return 0;
}

static void run_two_loops(void (*client)(void)) {
    make_path();
    S.client = client;
    S.ntasks = 1;
    weft_loops_opts o = { .count = 2 };
    o.loop.console_path = path;
    ASSERT_EQ(weft_run_loops(&o, loops_main, NULL), 0);
    struct stat st;
    ASSERT(lstat(path, &st) != 0);
}

TEST(console_answers_for_every_loop_of_weft_run_loops) {
    run_two_loops(loops_client);
}

/* A loop stuck in a long step cannot answer: the console says so after a
 * second and answers for the others meanwhile; once the step ends, the
 * loop answers again. */
static void stuck_loop_client(void) {
    __atomic_store_n(&block_now, 1, __ATOMIC_RELEASE);
    struct timespec ms = { 0, 100 * 1000 * 1000 };
    nanosleep(&ms, NULL);
    int fd = con_connect();
    int64_t t0 = weft_now();
    char *a = con_ask(fd, "snapshot limit=0\n");
    int64_t took = weft_now() - t0;
    ASSERT(a && strstr(a, "{\"index\":0,\"tasks\":") && strstr(a, "{\"index\":1,\"busy\":true}"));
    ASSERT(took >= 900 * WEFT_MILLISECOND && took < 2500 * WEFT_MILLISECOND);
    free(a);
    while (__atomic_load_n(&block_now, __ATOMIC_ACQUIRE)) nanosleep(&ms, NULL);
    a = con_ask(fd, "snapshot limit=0\n");
    ASSERT(a && strstr(a, "{\"index\":1,\"tasks\":"));
    /* The step that blocked is the slowest loop 1 has seen. */
    char *s = strstr(a, "{\"index\":1,");
    ASSERT(s && (s = strstr(s, "\"hist\":[")));
    if (!strstr(s, ",1]")) fprintf(stderr, "%s\n", a);
    ASSERT(strstr(s, ",1]"));   /* one step of 1 s or more */
    free(a);
    close(fd);
}

TEST(console_answers_for_the_other_loops_while_one_is_stuck_in_a_step) {
    run_two_loops(stuck_loop_client);
}
