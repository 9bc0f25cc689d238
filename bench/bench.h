/* What every benchmark program shares: a clock, the CPU time and memory
 * figures the kernel keeps for the process, and the one output format
 * scripts/bench.sh reads: a line `name value unit` per figure on stdout.
 *
 * The machine the figures come from is shared and noisy, so the ns figures
 * are the best (minimum) of REPS repetitions: the minimum is the run the
 * neighbours disturbed least, which is the cost of the code itself. */
#ifndef WEFT_BENCH_H
#define WEFT_BENCH_H

#include <weft.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define REPS 5

/* CLOCK_MONOTONIC in ns (weft_now() is the same clock inside a loop). */
static inline int64_t bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* User plus system CPU time the process has used, in ns. */
static inline int64_t bench_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* Page faults the process has taken so far (minor: no I/O). */
static inline long bench_faults(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* A field of /proc/self/status in bytes: "VmRSS" (resident now) or "VmHWM"
 * (the peak so far). -1 if it cannot be read. */
static inline long long bench_status_bytes(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    size_t n = strlen(field);
    long long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            kib = strtoll(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kib < 0 ? -1 : kib * 1024;
}

/* Three significant digits, never an exponent for the sizes printed here. */
static inline void bench_print(const char *name, double value, const char *unit) {
    printf(value >= 1000 ? "%s %.0f %s\n" : "%s %.3g %s\n", name, value, unit);
    fflush(stdout);
}

/* Aborts with a message naming the call: a benchmark that fails measures
 * nothing worth printing. */
#define BENCH_CHECK(call) do { int err_ = (call); if (err_ < 0) { \
    fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, weft_strerror(err_)); \
    abort(); } } while (0)

#endif
