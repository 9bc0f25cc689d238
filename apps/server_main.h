/* What the server programs' mains share (weft-httpbin, weft-serve): the
 * --workers argument, the first line on stdout, the fd limit and the stop
 * signals held from the start. Header-only: each program is one file of
 * its own besides. */
#ifndef WEFT_APPS_SERVER_MAIN_H
#define WEFT_APPS_SERVER_MAIN_H

#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* --workers N: 0 means one per CPU this process may run on. Returns -1 with
 * *out set, or 2 (the exit status) after saying what is wrong. */
static inline int app_parse_workers(const char *prog, const char *s, unsigned *out) {
    char *end;
    unsigned long n = strtoul(s, &end, 10);
    if (!*s || *end || n > 1024) {
        fprintf(stderr, "%s: --workers wants a number from 0 to 1024, not '%s'\n", prog, s);
        return 2;
    }
    if (n == 0) {
        cpu_set_t cpus;
        n = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? (unsigned long)CPU_COUNT(&cpus) : 1;
    }
    *out = (unsigned)n;
    return -1;
}

/* "listening on http://HOST:PORT", flushed: scripts started with --port 0
 * read the port there. */
static inline void app_print_listening(const char *host, int port) {
    bool v6 = strchr(host, ':') != NULL;
    printf("listening on http://%s%s%s:%d\n", v6 ? "[" : "", host, v6 ? "]" : "", port);
    fflush(stdout);
}

/* Before the loop starts: each connection holds a descriptor, so the soft
 * limit goes up to the hard one; and SIGTERM and SIGINT are blocked, so a
 * signal that comes before the server waits for it stays pending and the
 * server takes it when it does (a script that sends SIGTERM as soon as it
 * read the first line is obeyed). */
static inline void app_prepare_process(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
}

#endif
