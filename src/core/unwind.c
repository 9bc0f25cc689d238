/* Looking at a stuck thread from outside it, for debug mode's watchdog
 * (debug.c), and naming code addresses for every report.
 *
 * A thread blocked in a system call is looked at without a signal: a
 * signal would cut short a sleep, poll or nanosleep (signal(7): those are
 * never restarted, SA_RESTART or not), so the program would behave
 * differently under debug mode. /proc/self/task/TID/syscall gives the
 * call, its arguments and the user stack pointer and program counter;
 * the thread cannot run user code until the call returns, so its stack
 * holds still while we read it (through process_vm_readv on ourselves,
 * which fails cleanly where a plain load would fault).
 *
 * Unwinding from there needs the binaries' call-frame information, not
 * frame pointers: Debian's libc has none. elfutils' libdw unwinds with our
 * callbacks (its own /proc attach would ptrace, which a process cannot do
 * to its own threads). Only SP and PC are known, so a frame whose CFA rule
 * needs another register (weft's and most programs' code, built with frame
 * pointers, use rbp/x29) stops the CFI walk: from that frame's stack
 * pointer we look for its frame record (saved FP, return address) and go
 * on along the frame-pointer chain.
 *
 * The same Dwfl (one per process while a debug-mode loop or a dump uses
 * it, built lazily, reported again when a lookup misses: a library loaded
 * since) names frames: function, and file:line where the binary carries
 * debug information, static functions and a program not linked -rdynamic
 * included. Without libdw (the aarch64 cross
 * build) only the system call is named and reports use dladdr.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifdef WEFT_HAVE_LIBDW
#include <elfutils/libdwfl.h>
#endif

/* ------------------------------------------------ the thread's system call */

/* Is `pc` in an executable mapping of our own? Under qemu-user, /proc is
 * the host's: the program counter there is qemu's, not in the guest's
 * view of the maps (which qemu rewrites), and the file is of no use. */
static bool pc_mapped(uint64_t pc) {
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f) return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perm[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perm) == 3 && perm[2] == 'x' && pc >= lo && pc < hi) found = true;
    }
    fclose(f);
    return found;
}

int weft__sys_state(pid_t tid, weft__sysstate *st) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -EIO;
    buf[n] = 0;
    /* "running", "-1 SP PC" (in the kernel, not in a call: a page fault),
     * or "NR A0 .. A5 SP PC" in hex. */
    if (strncmp(buf, "running", 7) == 0 || buf[0] == '-') return 0;
    unsigned long v[9];
    if (sscanf(buf, "%lu %lx %lx %lx %lx %lx %lx %lx %lx", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
               &v[7], &v[8]) != 9)
        return -EIO;
    st->nr = (long)v[0];
    for (int i = 0; i < 6; i++) st->arg[i] = v[1 + i];
    st->sp = v[7];
    st->pc = v[8];
    /* Whether this /proc is ours does not change: asked once. */
    static int ours;   /* 0: not known yet, 1 / -1; atomic */
    int o = __atomic_load_n(&ours, __ATOMIC_RELAXED);
    if (!o) __atomic_store_n(&ours, o = pc_mapped(st->pc) ? 1 : -1, __ATOMIC_RELAXED);
    return o > 0 ? 1 : -ENOSYS;
}

static bool read_mem(uint64_t addr, void *out, size_t len) {
    struct iovec l = { out, len }, r = { (void *)(uintptr_t)addr, len };
    return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == (ssize_t)len;
}

/* The calls a thread is usually found blocked in, and how to show their
 * arguments: 'f' an fd first, 'n' nanosleep, 'c' clock_nanosleep, 'p'
 * poll's timeout, 'e' epoll_wait's, 0 the name alone. */
static const struct { long nr; const char *name; char how; } calls[] = {
#define C(name, how) { SYS_##name, #name, how },
    C(read, 'f') C(write, 'f') C(readv, 'f') C(writev, 'f') C(pread64, 'f') C(pwrite64, 'f')
    C(recvfrom, 'f') C(sendto, 'f') C(recvmsg, 'f') C(sendmsg, 'f') C(accept4, 'f') C(connect, 'f')
    C(fsync, 'f') C(fdatasync, 'f') C(flock, 'f') C(fcntl, 'f') C(ioctl, 'f') C(io_uring_enter, 'f')
    C(nanosleep, 'n') C(clock_nanosleep, 'c') C(ppoll, 0) C(pselect6, 0) C(epoll_pwait, 'e')
    C(futex, 0) C(wait4, 0) C(waitid, 0) C(openat, 0)
#ifdef SYS_poll
    C(poll, 'p') C(select, 0) C(accept, 'f') C(epoll_wait, 'e') C(pause, 0)
#endif
#undef C
};

static double ts_seconds(uint64_t addr) {
    struct timespec ts;
    if (!addr || !read_mem(addr, &ts, sizeof ts)) return -1;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void weft__sys_describe(const weft__sysstate *st, char *buf, size_t len) {
    const char *name = NULL;
    char how = 0;
    for (size_t i = 0; i < sizeof calls / sizeof *calls; i++)
        if (calls[i].nr == st->nr) name = calls[i].name, how = calls[i].how;
    if (!name) {
        snprintf(buf, len, "system call %ld", st->nr);
        return;
    }
    double s;
    switch (how) {
    case 'f': snprintf(buf, len, "%s(fd %d)", name, (int)st->arg[0]); break;
    case 'n':
    case 'c':
        s = ts_seconds(how == 'n' ? st->arg[0] : st->arg[2]);
        if (s < 0) snprintf(buf, len, "%s", name);
        else if (how == 'c' && (st->arg[1] & TIMER_ABSTIME)) snprintf(buf, len, "%s(until %.3f s)", name, s);
        else snprintf(buf, len, "%s(%.3f s)", name, s);
        break;
    case 'p':
    case 'e':
        s = (double)(int)st->arg[how == 'p' ? 2 : 3] / 1e3;
        if (s < 0) snprintf(buf, len, "%s(no timeout)", name);
        else snprintf(buf, len, "%s(%.3f s)", name, s);
        break;
    default: snprintf(buf, len, "%s", name); break;
    }
}

#ifdef WEFT_HAVE_LIBDW

/* --------------------------------------------------------------- the Dwfl */

#if defined(__x86_64__)
#define SP_REG 7    /* DWARF register numbers */
#define FP_REG 6
#elif defined(__aarch64__)
#define SP_REG 31
#define FP_REG 29
#endif

static pthread_mutex_t dw_mu = PTHREAD_MUTEX_INITIALIZER;
static Dwfl *dw;
static bool dw_attached;

/* The thread being unwound (under dw_mu). */
static struct {
    pid_t tid;
    uint64_t sp, pc;
} cur;

/* Debug information is read from the binaries themselves only, not from
 * separate files (/usr/lib/debug, debuginfod): a report is due while the
 * loop is still stuck, and libc6-dbg's line table alone takes a quarter of
 * a second to load (debuginfod would wait on the network). Such frames are
 * named from the symbol table: function+offset (module). */
static int find_debuginfo(Dwfl_Module *mod, void **ud, const char *modname, Dwarf_Addr base,
                          const char *file, const char *debuglink, GElf_Word crc, char **debugname) {
    (void)mod, (void)ud, (void)modname, (void)base, (void)file, (void)debuglink, (void)crc, (void)debugname;
    return -1;
}

static const Dwfl_Callbacks dw_cbs = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = find_debuginfo,
};

static pid_t next_thread(Dwfl *d, void *arg, void **targ) {
    (void)d, (void)arg, (void)targ;
    return 0;
}

static bool get_thread(Dwfl *d, pid_t tid, void *arg, void **targ) {
    (void)d, (void)arg;
    *targ = NULL;
    return tid == cur.tid;
}

static bool memory_read(Dwfl *d, Dwarf_Addr addr, Dwarf_Word *out, void *arg) {
    (void)d, (void)arg;
    return read_mem(addr, out, sizeof *out);
}

static bool set_initial_registers(Dwfl_Thread *th, void *targ) {
    (void)targ;
    Dwarf_Word sp = cur.sp;
    if (!dwfl_thread_state_registers(th, SP_REG, 1, &sp)) return false;
    dwfl_thread_state_register_pc(th, cur.pc);
    return true;
}

static const Dwfl_Thread_Callbacks thread_cbs = {
    .next_thread = next_thread,
    .get_thread = get_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
};

/* (Re)reads the process's modules; under dw_mu. */
static bool dw_report(void) {
    if (!dw && !(dw = dwfl_begin(&dw_cbs))) return false;
    dwfl_report_begin(dw);
    int err = dwfl_linux_proc_report(dw, getpid());
    dwfl_report_end(dw, NULL, NULL);
    if (err) return false;
    if (!dw_attached) dw_attached = dwfl_attach_state(dw, NULL, getpid(), &thread_cbs, NULL);
    return true;
}

static Dwfl_Module *dw_module(uint64_t pc) {
    if (!dw && !dw_report()) return NULL;
    Dwfl_Module *m = dwfl_addrmodule(dw, pc);
    if (!m && dw_report()) m = dwfl_addrmodule(dw, pc);
    return m;
}

/* -------------------------------------------------------------- unwinding */

struct walk {
    void **pc;
    int n, max;
    uint64_t sp;        /* the last frame's stack pointer, when known */
};

static int on_frame(Dwfl_Frame *f, void *arg) {
    struct walk *w = arg;
    Dwarf_Addr pc;
    bool act;
    if (!dwfl_frame_pc(f, &pc, &act)) return DWARF_CB_ABORT;
    Dwarf_Word sp;
    w->sp = dwfl_frame_reg(f, SP_REG, &sp) == 0 ? sp : 0;
    w->pc[w->n++] = (void *)(uintptr_t)pc;
    return w->n < w->max ? DWARF_CB_OK : DWARF_CB_ABORT;
}

/* A frame record at `a`: the caller's FP (higher on the stack, or 0 at the
 * chain's end) and a return address into code we know. */
static bool frame_record(uint64_t a, uint64_t hi, uint64_t rec[2]) {
    if (a & 7 || !read_mem(a, rec, 2 * sizeof *rec)) return false;
    if (rec[0] && (rec[0] <= a || rec[0] >= hi)) return false;
    return rec[1] && dwfl_addrmodule(dw, rec[1]) != NULL;
}

/* From the stack pointer of the frame the CFI walk stopped at, the first
 * word pair that is a frame record whose chain holds one more link (or
 * ends) is taken for that frame's own; then the chain. */
static void walk_fp(struct walk *w, uint64_t hi) {
    uint64_t rec[2], next[2];
    for (uint64_t a = w->sp; a && a < w->sp + 4096 && a + 16 <= hi; a += 8) {
        if (!frame_record(a, hi, rec)) continue;
        if (rec[0] && !frame_record(rec[0], hi, next)) continue;
        while (w->n < w->max) {
            w->pc[w->n++] = (void *)(uintptr_t)rec[1];
            if (!rec[0] || !frame_record(rec[0], hi, next)) break;
            memcpy(rec, next, sizeof rec);
        }
        return;
    }
}

int weft__sys_unwind(pid_t tid, const weft__sysstate *st, uint64_t stack_hi, void **pc, int max) {
    if (max <= 0) return 0;
    pthread_mutex_lock(&dw_mu);
    struct walk w = { pc, 0, max, st->sp };
    int rc = -1;
    if (dw_module(st->pc) && dw_attached) {
        cur.tid = tid, cur.sp = st->sp, cur.pc = st->pc;
        rc = dwfl_getthread_frames(dw, tid, on_frame, &w);
        cur.tid = 0;
    }
    if (!w.n) pc[w.n++] = (void *)(uintptr_t)st->pc;
    /* libdw ends its walk without an error both at the outermost frame and
     * at one it cannot unwind (a register it does not know): on a task's
     * stack, whose top is known and holds nothing past the first frame,
     * the frame-pointer chain is looked for either way; elsewhere only
     * after an error. */
    if ((rc != 0 || stack_hi) && w.n < max && w.sp) walk_fp(&w, stack_hi ? stack_hi : w.sp + (1u << 20));
    pthread_mutex_unlock(&dw_mu);
    return w.n;
}

/* ------------------------------------------------------------- symbolizing */

/* Names already looked up, by pc: a dump names the same few frames for
 * many tasks, and on a task's stack each miss costs a thread (below). */
#define CACHE 256
static struct {
    uint64_t pc;
    char name[200];
} cache[CACHE];

static int symbolize_here(uint64_t pc, bool ret, char *buf, size_t len) {
    int n = 0;
    Dwfl_Module *m = dw_module(pc);
    GElf_Off off;
    GElf_Sym sym;
    const char *name = m ? dwfl_module_addrinfo(m, pc, &off, &sym, NULL, NULL, NULL) : NULL;
    Dwfl_Line *line = name ? dwfl_module_getsrc(m, pc) : NULL;
    int lineno = 0;
    const char *file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
    int nlen = name ? (int)strcspn(name, "@") : 0;   /* not its symbol version: clock_nanosleep@GLIBC_2.2.5 */
    if (file && lineno > 0) {
        const char *base = strrchr(file, '/');
        n = snprintf(buf, len, "%.*s (%s:%d)", nlen, name, base ? base + 1 : file, lineno);
    } else if (name) {
        const char *mod = dwfl_module_info(m, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
        const char *base = mod ? strrchr(mod, '/') : NULL;
        n = snprintf(buf, len, "%.*s+0x%" PRIx64 " (%s)", nlen, name, (uint64_t)off + (ret ? 1 : 0),
                     base ? base + 1 : mod ? mod : "?");
    }
    return n;
}

struct sym_job {
    uint64_t pc;
    bool ret;
    char *buf;
    size_t len;
    int n;
};

static void *sym_thread(void *arg) {
    struct sym_job *j = arg;
    j->n = symbolize_here(j->pc, j->ret, j->buf, j->len);
    return NULL;
}

/* libdw's first look at a binary takes more stack than a task has: on a
 * task's stack the lookup runs on a thread of its own (all signals
 * blocked, so none is delivered there instead of to the program's). */
static int symbolize_off_task(struct sym_job *j) {
    weft_loop *L = weft__tls_loop;
    if (!L || !L->cur) return sym_thread(j), j->n;
    sigset_t all, old;
    sigfillset(&all);
    pthread_t th;
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&th, NULL, sym_thread, j);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) return 0;
    pthread_join(th, NULL);
    return j->n;
}

int weft__symbolize(const void *addr, bool ret, char *buf, size_t len) {
    uint64_t pc = (uint64_t)(uintptr_t)addr - (ret ? 1 : 0);   /* a return address may be past its function */
    pthread_mutex_lock(&dw_mu);
    size_t slot = (size_t)(pc >> 2) % CACHE;
    if (cache[slot].pc != pc) {
        struct sym_job j = { pc, ret, cache[slot].name, sizeof cache[slot].name, 0 };
        if (symbolize_off_task(&j) <= 0) cache[slot].name[0] = 0;
        cache[slot].pc = pc;
    }
    int n = snprintf(buf, len, "%s", cache[slot].name);
    pthread_mutex_unlock(&dw_mu);
    return n;
}

static int warm_one(Dwfl_Module *m, void **ud, const char *name, Dwarf_Addr start, void *arg) {
    (void)ud, (void)name, (void)arg;
    Dwarf_Addr bias;
    dwfl_module_eh_cfi(m, &bias);
    dwfl_module_getsymtab(m);
    dwfl_module_getsrc(m, start);   /* loads the module's address ranges */
    return DWARF_CB_OK;
}

void weft__symbols_warm(void) {
    pthread_mutex_lock(&dw_mu);
    if (dw || dw_report()) dwfl_getmodules(dw, warm_one, NULL, 0);
    pthread_mutex_unlock(&dw_mu);
}

/* The Dwfl keeps the binaries open: it lives while someone uses it. */
void weft__symbols_use(int delta) {
    static int users;
    pthread_mutex_lock(&dw_mu);
    users += delta;
    if (!users && dw) {
        dwfl_end(dw);
        dw = NULL;
        dw_attached = false;
        memset(cache, 0, sizeof cache);
    }
    pthread_mutex_unlock(&dw_mu);
}

#else  /* no libdw */

int weft__sys_unwind(pid_t tid, const weft__sysstate *st, uint64_t stack_hi, void **pc, int max) {
    (void)tid, (void)st, (void)stack_hi, (void)pc, (void)max;
    return 0;
}

int weft__symbolize(const void *addr, bool ret, char *buf, size_t len) {
    (void)addr, (void)ret, (void)buf, (void)len;
    return 0;
}

void weft__symbols_use(int delta) { (void)delta; }

void weft__symbols_warm(void) {}

#endif
