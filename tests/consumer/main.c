/* Uses an installed weft: spawns, sleeps, joins. */
#include <weft.h>
#include <stdio.h>

static void *child(void *arg) { return weft_sleep(WEFT_MILLISECOND) ? NULL : arg; }

static int main_task(void *arg) {
    void *r = NULL;
    if (weft_join(weft_spawn(child, arg), &r) || r != arg) return 1;
    printf("weft %s works\n", weft_version_string());
    return 0;
}

int main(void) { return weft_run(main_task, "ok"); }
