/* Stacks: overflow is caught and names the task; a million sleeping tasks
 * fit on a stock kernel; stacks are reused. */
#include "test.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Winfinite-recursion"
#pragma GCC diagnostic ignored "-Warray-bounds"
static int depth(int n) {
    volatile char pad[1024];
    pad[0] = (char)n;
    return depth(n + 1) + pad[0];
}
static void *overflow(void *arg) { return (void *)(intptr_t)depth((int)(intptr_t)arg); }
static int overflow_main(void *arg) {
    (void)arg;
    weft_task *t = weft_spawn_named("deep-recursion", overflow, NULL);
    weft_join(t, NULL);
    return 0;
}
static int fault_main(void *arg) {
    (void)arg;
    volatile int *p = (int *)16;
    return *p;
}

/* Runs fn as a loop's main task in a child process with stderr captured;
 * returns the signal that ended it. Under ASan, the child hands SIGSEGV
 * back to the default so that weft installs its own reporter. */
static int run_child(int (*fn)(void *), char *err, size_t cap) {
    int pipefd[2];
    ASSERT(pipe(pipefd) == 0);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], 2);
        signal(SIGSEGV, SIG_DFL);
        struct rlimit no_core = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        weft_run(fn, NULL);
        _exit(0);
    }
    close(pipefd[1]);
    size_t n = 0;
    for (ssize_t r; n < cap - 1 && (r = read(pipefd[0], err + n, cap - 1 - n)) > 0;) n += (size_t)r;
    err[n] = 0;
    close(pipefd[0]);
    int status;
    ASSERT(waitpid(pid, &status, 0) == pid);
    return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

/* Some emulators (qemu-user) accept guard-page requests and ignore them. */
static void skip_unless_guards_work(void) {
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        struct rlimit no_core = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        char *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (madvise(p, page, 102 /* MADV_GUARD_INSTALL */) != 0) mprotect(p, page, PROT_NONE);
        *(volatile char *)p = 1;
        _exit(0);
    }
    int status;
    ASSERT(waitpid(pid, &status, 0) == pid);
    if (!WIFSIGNALED(status)) wt_skip("guard pages do not fault here (an emulator?)");
}

TEST(stack_overflow_aborts_naming_the_task) {
    skip_unless_guards_work();
    char err[4096];
    ASSERT_EQ(run_child(overflow_main, err, sizeof err), SIGABRT);
    if (!strstr(err, "stack overflow in task 'deep-recursion'")) {
        fprintf(stderr, "child said: %s\n", err);
        ASSERT(!"no overflow report naming the task");
    }
}

TEST(other_segfaults_keep_their_default_action) {
    char err[4096];
    ASSERT_EQ(run_child(fault_main, err, sizeof err), SIGSEGV);
    ASSERT(!strstr(err, "stack overflow"));
}

static int count_mappings(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    int n = 0;
    for (int c; (c = fgetc(f)) != EOF;) n += c == '\n';
    fclose(f);
    return n;
}

static void *sleep_one(void *arg) { (void)arg; return weft_error(weft_sleep(WEFT_SECOND)); }
static int million(void *arg) {
    size_t n = (size_t)arg;
    weft_spawn_opts o = { .detached = 1 };
    int maps0 = count_mappings();
    for (size_t i = 0; i < n; i++) ASSERT_ERR(weft_spawn_ex(NULL, &o, sleep_one, NULL), 0);
    ASSERT_EQ(weft_tasks(NULL, 0), n + 1);
    /* vm.max_map_count ships as 65530: a mapping per stack would not do. */
    int per_million = (int)((count_mappings() - maps0) * (1000000.0 / (double)n));
    if (per_million > 16384) {
        fprintf(stderr, "%d mappings per million tasks\n", per_million);
        ASSERT(!"too many mappings");
    }
    ASSERT_ERR(weft_sleep(2 * WEFT_SECOND), 0);
    ASSERT_EQ(weft_tasks(NULL, 0), 1);
    return 0;
}
TEST(million_sleeping_tasks_work_on_a_stock_kernel) {
#if defined(__SANITIZE_ADDRESS__)
    size_t n = 100000;  /* ASan's shadow makes a million too slow for CI */
#else
    size_t n = 1000000;
#endif
    ASSERT_EQ(wt_run(million, (void *)n), 0);
}

static void *nothing(void *arg) { return arg; }
static int reuse(void *arg) {
    (void)arg;
    /* Spawning and joining in turn, far more tasks than the pool keeps:
     * stacks are recycled, not leaked (the harness checks memory). */
    for (int i = 0; i < 5000; i++) {
        weft_task *t[4];
        for (int k = 0; k < 4; k++) t[k] = weft_spawn(nothing, NULL);
        ASSERT_ERR(weft_gather(t, 4, NULL), 0);
    }
    return 0;
}
TEST(stacks_are_recycled) { ASSERT_EQ(wt_run(reuse, NULL), 0); }
