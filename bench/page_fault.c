/* page_fault_ns: what the first touch of a fresh anonymous page costs on
 * this machine (the fault, the kernel zeroing the page, and whatever a
 * hypervisor adds on top). Not a weft figure: the yardstick for the ones
 * that touch a million new pages (sleepers_1m, timers_1m), whose wall time
 * is mostly this times their page faults. Best of REPS runs (see bench.h). */
#include "bench.h"

#include <sys/mman.h>
#include <unistd.h>

#define PAGES 4096

int main(void) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    double best = 1e12;
    for (int r = 0; r < REPS; r++) {
        char *p = mmap(NULL, PAGES * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return 1;
        int64_t t0 = bench_now();
        for (size_t i = 0; i < PAGES; i++) ((volatile char *)p)[i * page] = 1;
        double ns = (double)(bench_now() - t0) / PAGES;
        if (ns < best) best = ns;
        munmap(p, PAGES * page);
    }
    bench_print("page_fault_ns", best, "ns");
    return 0;
}
