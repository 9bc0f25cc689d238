/* Stacks: overflow is caught and names the task; a million sleeping tasks
 * fit on a stock kernel; stacks are reused. */
#include "test.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>
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
WT_HELPER(overflow_child) { weft_run(overflow_main, NULL); }

TEST(stack_overflow_aborts_naming_the_task) {
    int pipefd[2];
    ASSERT(pipe(pipefd) == 0);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], 2);
        /* Under ASan, let weft's handler see the fault. */
        setenv("ASAN_OPTIONS", "handle_segv=0:detect_leaks=0", 1);
        struct rlimit no_core = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        execl("/proc/self/exe", "test_stack", "overflow_child", (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    char buf[4096] = { 0 };
    size_t n = 0;
    for (ssize_t r; n < sizeof buf - 1 && (r = read(pipefd[0], buf + n, sizeof buf - 1 - n)) > 0;) n += (size_t)r;
    close(pipefd[0]);
    int status;
    ASSERT(waitpid(pid, &status, 0) == pid);
    ASSERT(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGABRT);
    if (!strstr(buf, "stack overflow in task 'deep-recursion'")) {
        fprintf(stderr, "child said: %s\n", buf);
        ASSERT(!"no overflow report naming the task");
    }
}

static int fault_main(void *arg) {
    (void)arg;
    volatile int *p = (int *)16;
    return *p;
}
WT_HELPER(null_deref_child) { weft_run(fault_main, NULL); }

TEST(other_segfaults_keep_their_default_action) {
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        setenv("ASAN_OPTIONS", "handle_segv=0:detect_leaks=0", 1);
        struct rlimit no_core = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        execl("/proc/self/exe", "test_stack", "null_deref_child", (char *)NULL);
        _exit(127);
    }
    int status;
    ASSERT(waitpid(pid, &status, 0) == pid);
    ASSERT(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGSEGV);
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
