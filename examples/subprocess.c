/* asyncio's subprocess examples in C (docs.python.org, "Subprocesses"):
 * run a shell command and print its exit status and output; gather two
 * commands that each sleep a second, which together take one second, not
 * two, since waiting for a child suspends only its task; and read a line
 * from a program, then wait for it. */
#include <weft.h>
#include <weft/process.h>

#include <stdio.h>
#include <string.h>

/* run(cmd): communicate, then print as the Python example does. */
static void *run(void *arg) {
    const char *cmd = arg;
    weft_process_opts o = { .stdout_mode = WEFT_STDIO_PIPE, .stderr_mode = WEFT_STDIO_PIPE };
    weft_process *p;
    int err = weft_process_shell(&p, cmd, &o);
    if (err) return weft_error(err);
    weft_process_output out;
    err = weft_process_communicate(p, NULL, 0, 0, &out);
    if (!err) {
        printf("['%s' exited with %d]\n", cmd, out.returncode);
        if (out.out_len) printf("[stdout]\n%s\n", out.out);
        if (out.err_len) printf("[stderr]\n%s\n", out.err);
    }
    weft_process_free(p);
    return err ? weft_error(err) : NULL;
}

/* get_date(): the first line a program prints, then its exit. */
static int get_date(char *line, size_t cap) {
    const char *argv[] = { "date", NULL };
    weft_process_opts o = { .stdout_mode = WEFT_STDIO_PIPE };
    weft_process *p;
    int err = weft_process_exec(&p, argv, &o);
    if (err) return err;
    ssize_t n = weft_stream_read_line(weft_process_stdout(p), line, cap - 1);
    if (n >= 0) {
        line[n] = '\0';
        line[strcspn(line, "\n")] = '\0';
        err = weft_process_wait(p, NULL);
    }
    weft_process_free(p);
    return n < 0 ? (int)n : err;
}

static int main_task(void *arg) {
    (void)arg;
    int err = weft_error_code(run("ls /zzz"));

    int64_t start = weft_now();
    weft_task *t[2] = { weft_spawn(run, "sleep 1; echo \"hello\""),
                        weft_spawn(run, "sleep 1; echo \"hello\"") };
    int gerr = weft_gather(t, 2, NULL);
    printf("Total time: %.2fs\n", (double)(weft_now() - start) / 1e9);

    char date[128];
    int derr = get_date(date, sizeof date);
    if (!derr) printf("Current date: %s\n", date);

    err = err ? err : gerr ? gerr : derr;
    if (err) fprintf(stderr, "error: %s\n", weft_strerror(err));
    return err ? 1 : 0;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    return weft_run(main_task, NULL);
}
