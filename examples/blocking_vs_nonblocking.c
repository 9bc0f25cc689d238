/* The lesson's Program 2: a blocking sleep freezes every task, weft's sleep
 * suspends only the task that calls it. Prints the same lines as the Python
 * original; the blocking pair takes ~2 s, the weft pair ~1 s. */
#include <weft.h>

#include <stdio.h>
#include <unistd.h>

static void *bad_example(void *arg) {
    (void)arg;
    puts("Starting bad...");
    sleep(1);                   /* blocks the thread: every task stops */
    puts("Done bad");
    return NULL;
}

static void *good_example(void *arg) {
    (void)arg;
    puts("Starting good...");
    weft_sleep(WEFT_SECOND);    /* suspends this task only */
    puts("Done good");
    return NULL;
}

static int main_task(void *arg) {
    (void)arg;
    puts("=== bad_example (blocks the loop) ===");
    int64_t start = weft_now();
    /* Named, so that a trace (WEFT_TRACE=out.json) labels their lanes. */
    weft_task *bad[2] = { weft_spawn_named("bad_example", bad_example, NULL),
                          weft_spawn_named("bad_example", bad_example, NULL) };
    int err = weft_gather(bad, 2, NULL);
    printf("Total time: %.2fs\n\n", (double)(weft_now() - start) / 1e9);

    puts("=== good_example (non-blocking) ===");
    start = weft_now();
    weft_task *good[2] = { weft_spawn_named("good_example", good_example, NULL),
                           weft_spawn_named("good_example", good_example, NULL) };
    if (!err) err = weft_gather(good, 2, NULL);
    printf("Total time: %.2fs\n", (double)(weft_now() - start) / 1e9);
    if (err) fprintf(stderr, "error: %s\n", weft_strerror(err));
    return err ? 1 : 0;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    return weft_run(main_task, NULL);
}
