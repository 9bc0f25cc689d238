/* Debug mode and the task dump (weft/debug.h).
 *
 * The loop calls in here only through L->observe, set when debug mode or a
 * trace is on: each switch then goes through weft__obs_enter/leave, which
 * stamp the task's state change and, in debug mode, publish "a step of task
 * X started at T" for the watchdog. The watchdog is a thread of its own
 * that looks at that record a few times per threshold; when one step has
 * lasted too long it takes the loop thread's stack and reports it once,
 * while the step is still stuck. A thread blocked in a system call (a
 * sleep(), a blocking read()) is read from outside, with no signal
 * (unwind.c: /proc/self/task/TID/syscall and libdw), so the call goes on
 * undisturbed; only a thread running user code (a busy loop) is asked with
 * SIGURG and pthread_kill to record its own stack (backtrace() in the
 * handler, into a static buffer: only async-signal-safe work there, the
 * formatting happens back on the watchdog's thread).
 *
 * SIGURG because its default action is to ignore it: a sample that lands
 * after our handler is gone, or a real out-of-band byte, harms nothing.
 * The handler is installed with SA_RESTART and keeps errno, so code it
 * interrupts runs on as if nothing happened; what is left is a thread that
 * enters a call that never restarts (nanosleep, poll) in the microseconds
 * between our look at /proc and the signal's delivery (sample_take).
 *
 * The task dump reads each suspended task's stack from its saved context,
 * by the frame-pointer chain (the library builds with frame pointers; the
 * saved layout is the one switch_<arch>.S pushes).
 *
 * Leak records: in debug mode, each fd the loop starts watching and each
 * object the layers above register (weft__leak_watch: a stream, an HTTP
 * client...) gets a record with a short backtrace, dropped when it is
 * closed; those left when the loop closes are reported together.
 */
#include "internal.h"

#include "weft/loops.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define DEFAULT_SLOW (100 * WEFT_MILLISECOND)  /* asyncio's slow_callback_duration */
#define SAMPLE_FRAMES 48

struct weft__dbg {
    weft_loop *loop;
    pthread_t loop_thread;
    pid_t loop_tid;
    int64_t slow;                  /* threshold; <= 0: no watchdog */
    /* The running step, written by the loop, read by the watchdog: `step`
     * is (count << 1) | running, stored last (release) so that a reader
     * that sees the same `step` before and after reading start and id has
     * read a consistent pair. */
    uint64_t step;
    int64_t start;
    uint64_t task_id;
    uint64_t reported;             /* the last step reported (watchdog) */
    bool thread_started;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    bool quit_owned;               /* this loop claimed SIGQUIT */
    weft__track *open_head, *open_tail;  /* leak records, oldest first */
    weft__track **fdrec;           /* by fd: the record of a watched fd */
    size_t nfdrec;
};

/* ------------------------------------------------------------- reports */

static pthread_mutex_t report_mu = PTHREAD_MUTEX_INITIALIZER;
static weft_report_fn report_fn;
static void *report_ud;

void weft_debug_set_report(weft_report_fn fn, void *ud) {
    pthread_mutex_lock(&report_mu);
    report_fn = fn;
    report_ud = ud;
    pthread_mutex_unlock(&report_mu);
}

static void emit(int kind, const char *msg) {
    pthread_mutex_lock(&report_mu);
    weft_report_fn fn = report_fn;
    void *ud = report_ud;
    pthread_mutex_unlock(&report_mu);
    if (fn) fn(ud, kind, msg);
    else fprintf(stderr, "weft: %s\n", msg);
}

static void vreport(int kind, const char *fmt, va_list ap) {
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    emit(kind, buf);
}

void weft__report(weft_loop *L, int kind, const char *fmt, ...) {
    if (!(L->flags & WEFT_LOOP_DEBUG)) return;
    va_list ap;
    va_start(ap, fmt);
    vreport(kind, fmt, ap);
    va_end(ap);
}

void weft__debug(weft_loop *L, const char *fmt, ...) {
    if (!(L->flags & WEFT_LOOP_DEBUG)) return;
    va_list ap;
    va_start(ap, fmt);
    vreport(WEFT_REPORT_NOTE, fmt, ap);
    va_end(ap);
}

static bool env_debug(void) {
    const char *d = getenv("WEFT_DEBUG");
    return d && *d && strcmp(d, "0") != 0;
}

/* Outside any task there may be no loop whose flags say "debug": the
 * environment decides then. */
void weft__enotask(const char *fn) {
    weft_loop *L = weft__tls_loop;
    if (L ? (L->flags & WEFT_LOOP_DEBUG) : env_debug()) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s called outside any task (%s): it returns WEFT_ENOTASK; "
                 "suspension points must be called from a task of this thread's loop",
                 fn, L ? "from a callback" : "no loop runs on this thread");
        emit(WEFT_REPORT_MISUSE, buf);
    }
}

/* ------------------------------------------------------------ describing */

const char *weft_await_name(int a) {
    static const char *const names[] = {
        "none", "sleep", "fd readable", "fd writable", "join", "wait", "gather", "group",
        "lock", "event", "semaphore", "condition", "barrier", "queue get", "queue put", "thread",
        "loop call", "chan get", "chan put",
    };
    return a >= 0 && a < (int)(sizeof names / sizeof *names) ? names[a] : "?";
}

static const char *state_name(int s) {
    switch (s) {
    case WEFT_TASK_RUNNING: return "running";
    case WEFT_TASK_READY: return "ready";
    case WEFT_TASK_WAITING: return "waiting";
    default: return "?";
    }
}

/* Walks a suspended task's frame-pointer chain from its saved context: the
 * return address into weft__schedule, then one per frame, staying inside
 * the task's stack and going strictly up. Reads the task's stack, which
 * AddressSanitizer would take for another thread's. Under the ucontext
 * switch the saved registers are in the ucontext (x86_64, aarch64). */
__attribute__((no_sanitize_address))
static int walk_saved(const weft_task *t, size_t size, void **pc, int max) {
#if defined(WEFT_SWITCH_UCONTEXT) && defined(__x86_64__)
    uintptr_t fp = (uintptr_t)t->ctx.uc.uc_mcontext.gregs[REG_RBP];
    uintptr_t ra = (uintptr_t)t->ctx.uc.uc_mcontext.gregs[REG_RIP];
#elif defined(WEFT_SWITCH_UCONTEXT) && defined(__aarch64__)
    uintptr_t fp = (uintptr_t)t->ctx.uc.uc_mcontext.regs[29];
    uintptr_t ra = (uintptr_t)t->ctx.uc.uc_mcontext.pc;
#elif defined(WEFT_SWITCH_UCONTEXT)
    uintptr_t fp = 0, ra = 0;   /* registers in a layout we do not know */
    if (!fp) return 0;
#elif defined(__x86_64__)
    const uintptr_t *sp = t->ctx.sp;
    uintptr_t fp = sp[6], ra = sp[7];   /* rbp, return address (switch_x86_64.S) */
#else
    const uintptr_t *sp = t->ctx.sp;
    uintptr_t fp = sp[10], ra = sp[11]; /* x29, x30 (switch_aarch64.S) */
#endif
    uintptr_t lo = (uintptr_t)t->stack_lo, hi = lo + size;
    int n = 0;
    if (max > 0) pc[n++] = (void *)ra;
    while (n < max && fp >= lo && fp + 16 <= hi && !(fp & 7)) {
        const uintptr_t *f = (const uintptr_t *)fp;
        if (!f[1]) break;
        pc[n++] = (void *)f[1];
        if (f[0] <= fp) break;
        fp = f[0];
    }
    return n;
}

void weft__task_info_fill(weft_loop *L, weft_task *t, weft_task_info *ti, bool frames) {
    memset(ti, 0, sizeof *ti);
    ti->id = t->id;
    snprintf(ti->name, sizeof ti->name, "%s", weft__task_name(t));
    ti->state = t->state == WEFT__NEW ? WEFT_TASK_READY : t->state;
    ti->since = L->observe ? t->since : -1;
    ti->fd = -1;
    ti->until = weft__timer_armed(&t->timer) ? t->timer.when : WEFT_FOREVER;
    if (t->state == WEFT_TASK_WAITING) {
        ti->await = t->await;
        ti->obj = t->await_obj;
        if (t->await == WEFT_AWAIT_READABLE || t->await == WEFT_AWAIT_WRITABLE)
            ti->fd = (int)(intptr_t)t->await_obj;
        else if (t->await == WEFT_AWAIT_JOIN || t->await == WEFT_AWAIT_GATHER)
            ti->task = ((const weft_task *)t->await_obj)->id;
        if (t->await_what)
            snprintf(ti->context, sizeof ti->context, "%s%s%s", t->await_what,
                     t->await_on ? " " : "", t->await_on ? t->await_on : "");
    }
    if (!frames) {
    } else if (t == L->cur) {
        /* Our own stack: skip this function and weft_tasks_info. */
        void *pc[WEFT_INFO_FRAMES + 2];
        int n = backtrace(pc, WEFT_INFO_FRAMES + 2) - 2;
        if (n > 0) memcpy(ti->frames, pc + 2, (size_t)n * sizeof *pc);
        ti->nframes = n > 0 ? n : 0;
    } else if (t->state != WEFT__NEW && t->stack_lo) {  /* not a task yet to start on an fd */
        ti->nframes = walk_saved(t, t->stack_size ? t->stack_size : L->pool.size, ti->frames, WEFT_INFO_FRAMES);
    }
}

int weft_tasks_info(weft_task_info *out, size_t cap) {
    weft_loop *L = weft__tls_loop;
    if (!L) return WEFT_ENOTASK;
    size_t n = 0;
    for (weft_task *t = L->all; t; t = t->next_all, n++)
        if (n < cap) weft__task_info_fill(L, t, &out[n], true);
    return (int)n;
}

/* One frame: "#i 0xPC function (file.c:14)" or "#i 0xPC symbol+off
 * (module)" from libdw (unwind.c); else from dladdr, or module+offset when
 * it finds no symbol (static functions, a program not linked -rdynamic).
 * `pc` is a return address, looked up at pc - 1: it may be the first byte
 * after its function. */
int weft__fmt_frame(char *buf, size_t len, int i, void *pc) {
    char name[384];
    Dl_info di;
    if (weft__symbolize(pc, true, name, sizeof name) > 0)
        return snprintf(buf, len, "    #%-2d %p %s\n", i, pc, name);
    if (dladdr((char *)pc - 1, &di) && di.dli_fname) {
        const char *mod = strrchr(di.dli_fname, '/');
        mod = mod ? mod + 1 : di.dli_fname;
        if (di.dli_sname)
            return snprintf(buf, len, "    #%-2d %p %s+0x%lx (%s)\n", i, pc, di.dli_sname,
                            (unsigned long)((char *)pc - (char *)di.dli_saddr), mod);
        return snprintf(buf, len, "    #%-2d %p (%s+0x%lx)\n", i, pc, mod,
                        (unsigned long)((char *)pc - (char *)di.dli_fbase));
    }
    return snprintf(buf, len, "    #%-2d %p ?\n", i, pc);
}

/* What a waiting task waits for, in words. */
static void describe(const weft_task_info *ti, int64_t now, char *buf, size_t len) {
    const char *what = weft_await_name(ti->await);
    int n;
    switch (ti->await) {
    case WEFT_AWAIT_SLEEP:
        if (ti->until == WEFT_FOREVER) snprintf(buf, len, "sleep forever");
        else snprintf(buf, len, "sleep until %+.3f s", (double)(ti->until - now) / 1e9);
        return;
    case WEFT_AWAIT_READABLE: case WEFT_AWAIT_WRITABLE:
        n = snprintf(buf, len, "fd %d %s", ti->fd, ti->await == WEFT_AWAIT_READABLE ? "readable" : "writable");
        break;
    case WEFT_AWAIT_JOIN: case WEFT_AWAIT_GATHER:
        n = snprintf(buf, len, "%s of task %llu", what, (unsigned long long)ti->task);
        break;
    case WEFT_AWAIT_NONE:
        n = snprintf(buf, len, "?");
        break;
    case WEFT_AWAIT_LOOP:
        n = snprintf(buf, len, "a call on loop %u", (unsigned)(uintptr_t)ti->obj);
        break;
    default:
        n = snprintf(buf, len, "%s at %p", what, ti->obj);
        break;
    }
    if (ti->until != WEFT_FOREVER && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, ", deadline %+.3f s", (double)(ti->until - now) / 1e9);
}

/* "HTTP response from host:port (fd 5 readable)" when a higher layer said
 * what the wait is for, else the low-level reason alone. */
void weft__task_wait_words(const weft_task_info *ti, int64_t now, char *buf, size_t len) {
    char why[128];
    describe(ti, now, why, sizeof why);
    if (ti->context[0]) snprintf(buf, len, "%s (%s)", ti->context, why);
    else snprintf(buf, len, "%s", why);
}

static void dump_one(FILE *out, weft_loop *L, const weft_task_info *ti) {
    char what[256] = "", age[48] = "";
    if (ti->state == WEFT_TASK_WAITING) {
        what[0] = ':', what[1] = ' ';
        weft__task_wait_words(ti, weft__now(L), what + 2, sizeof what - 2);
    }
    if (ti->since >= 0) snprintf(age, sizeof age, " for %.3f ms", (double)(weft__mono() - ti->since) / 1e6);
    fprintf(out, "  task %llu '%s' %s%s%s\n", (unsigned long long)ti->id, ti->name,
            state_name(ti->state), age, what);
    char line[512];
    for (int i = 0; i < ti->nframes; i++) {
        weft__fmt_frame(line, sizeof line, i, ti->frames[i]);
        fputs(line, out);
    }
}

int weft_dump_tasks(FILE *out) {
    weft_loop *L = weft__tls_loop;
    if (!L) return WEFT_ENOTASK;
    if (!out) return WEFT_EINVAL;
    int index = weft_loops_index();
    if (index >= 0)
        fprintf(out, "weft: %zu tasks on loop %p (loop %d of %u, weft_run_loops)\n", L->nalive, (void *)L, index,
                weft_loops_count());
    else
        fprintf(out, "weft: %zu tasks on loop %p\n", L->nalive, (void *)L);
    weft_task_info ti;
    weft__symbols_use(1);
    for (weft_task *t = L->all; t; t = t->next_all) {
        weft__task_info_fill(L, t, &ti, true);
        dump_one(out, L, &ti);
    }
    weft__symbols_use(-1);
    fflush(out);
    return 0;
}

/* Runs `fn(L, f)` on a stream and sends what it wrote as one report. */
static void report_stream(weft_loop *L, int kind, void (*fn)(weft_loop *, FILE *)) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return;
    fn(L, f);
    fclose(f);
    if (len && text[len - 1] == '\n') text[len - 1] = 0;
    emit(kind, text);
    free(text);
}

static void pending_text(weft_loop *L, FILE *f) {
    fprintf(f, "main returned with %zu tasks still pending; cancelling them:\n", L->nalive);
    weft_task_info ti;
    for (weft_task *t = L->all; t; t = t->next_all) {
        weft__task_info_fill(L, t, &ti, false);
        dump_one(f, L, &ti);
    }
}

void weft__debug_pending(weft_loop *L) {
    if (L->flags & WEFT_LOOP_DEBUG) report_stream(L, WEFT_REPORT_PENDING, pending_text);
}

/* ------------------------------------------------------ the wait-for graph */

/* Is t one of L's live tasks? A lock's holder may have ended (and been
 * freed) without releasing it: only live tasks are looked into. */
static bool live(weft_loop *L, const weft_task *t) {
    for (const weft_task *u = L->all; u; u = u->next_all)
        if (u == t) return true;
    return false;
}

/* The one task a waiting task waits for: the holder of the lock it wants,
 * the task it joins or gathers; NULL for any other wait (an event, a
 * queue: no task holds those), or a holder no longer alive. */
static weft_task *waits_for(weft_loop *L, const weft_task *t) {
    if (t->state != WEFT_TASK_WAITING) return NULL;
    weft_task *u = NULL;
    if (t->await == WEFT_AWAIT_LOCK) u = ((const weft_lock *)t->await_obj)->owner;
    else if (t->await == WEFT_AWAIT_JOIN || t->await == WEFT_AWAIT_GATHER) u = (weft_task *)t->await_obj;
    return u && live(L, u) ? u : NULL;
}

int weft__wait_chain(weft_loop *L, weft_task *t, weft_task **out, int cap, int *cycle) {
    int n = 0;
    *cycle = -1;
    for (; t && n < cap; t = waits_for(L, t)) {
        for (int i = 0; i < n; i++)
            if (out[i] == t) {
                *cycle = i;
                return n;
            }
        out[n++] = t;
    }
    return n;
}

/* "task 3 'a' waits for the lock held by task 4 'b'": the edge from t. */
static void edge_text(FILE *f, weft_task *t, weft_task *to) {
    fprintf(f, "task %llu '%s' ", (unsigned long long)t->id, weft__task_name(t));
    if (t->await == WEFT_AWAIT_LOCK) fprintf(f, "waits for the lock %p held by ", t->await_obj);
    else fprintf(f, "%s ", t->await == WEFT_AWAIT_JOIN ? "joins" : "gathers");
    fprintf(f, "task %llu '%s'", (unsigned long long)to->id, weft__task_name(to));
}

#define CHAIN_MAX 64

/* Each cycle once, from its task with the lowest id. */
static int cycles_text(weft_loop *L, FILE *f) {
    weft_task *chain[CHAIN_MAX];
    int found = 0;
    for (weft_task *t = L->all; t; t = t->next_all) {
        int cycle, n = weft__wait_chain(L, t, chain, CHAIN_MAX, &cycle);
        if (cycle != 0) continue;
        bool lowest = true;
        for (int i = 1; i < n; i++) lowest &= chain[i]->id > t->id;
        if (!lowest) continue;
        fprintf(f, "  a cycle of %d task%s: ", n, n == 1 ? "" : "s");
        for (int i = 0; i < n; i++) {
            edge_text(f, chain[i], chain[(i + 1) % n]);
            fputs(i + 1 < n ? "; " : "\n", f);
        }
        found++;
    }
    return found;
}

static void deadlock_text(weft_loop *L, FILE *f) {
    fprintf(f, "deadlock: %zu tasks wait and nothing can wake them; cancelling all.\n", L->nalive);
    if (!cycles_text(L, f))
        fprintf(f, "  no cycle of tasks: each waits for something no task holds (an event, a queue...)\n");
    fprintf(f, "The tasks:\n");
    weft_task_info ti;
    for (weft_task *t = L->all; t; t = t->next_all) {
        weft__task_info_fill(L, t, &ti, true);
        dump_one(f, L, &ti);
    }
}

void weft__debug_deadlock(weft_loop *L) {
    if (L->flags & WEFT_LOOP_DEBUG) report_stream(L, WEFT_REPORT_DEADLOCK, deadlock_text);
}

static void dump_text(weft_loop *L, FILE *f) {
    (void)L;
    weft_dump_tasks(f);
}

void weft__debug_dump_asked(weft_loop *L) {
    if (!__atomic_exchange_n(&L->dump_asked, 0, __ATOMIC_ACQ_REL)) return;
    weft__loops_dump_rest();  /* Ctrl-\ reached loop 0 of a set: the others too, asked first:
                                 naming the frames takes a while the first time */
    report_stream(L, WEFT_REPORT_DUMP, dump_text);
}

/* -------------------------------------------------------------- SIGQUIT */

/* Ctrl-\ dumps the tasks, on the main thread's loop, if SIGQUIT still has
 * its default action (which would kill the process). The dump is made by
 * the loop at its next upkeep (weft__remote_run), not in the handler. */
static void on_sigquit(weft_loop *L, int count) {
    (void)count;
    __atomic_store_n(&L->dump_asked, 1, __ATOMIC_RELEASE);
    weft__remote_wake(L);
}

static weft__sigowner sigquit = { .signo = SIGQUIT, .on = on_sigquit };

/* ------------------------------------------------------------ sampling */

/* One sample at a time, process-wide: the watchdog that wants one holds
 * sample_mu. A thread blocked in a system call is read from outside
 * (sample_blocked); one running user code is signalled, and the handler
 * fills the rest and sets `done`. */
static struct {
    struct weft__dbg *target;      /* atomic */
    int done;                      /* atomic */
    int n, first;                  /* pc[first..n): the sampled stack */
    void *pc[SAMPLE_FRAMES];
    char name[WEFT__NAME_MAX];
    char call[96];                 /* the blocking call in words, or "" */
    uint64_t id, step;
} sample;
static pthread_mutex_t sample_mu = PTHREAD_MUTEX_INITIALIZER;
static int sample_installed;       /* SIGURG is ours: 1, or not: -1; atomic */

/* Was the thread inside weft__swap? There the stack pointer may already be
 * the next task's while the unwinder's rules still describe the previous
 * frame: no place to unwind from. The switch backends put weft__task_start
 * right after weft__swap, which bounds it. */
#if defined(WEFT_SWITCH_UCONTEXT)
static bool in_switch(const void *ucv) {
    (void)ucv;
    return false;
}
#else
void weft__task_start(void);
static bool in_switch(const void *ucv) {
    const ucontext_t *uc = ucv;
#if defined(__x86_64__)
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#else
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.pc;
#endif
    return pc >= (uintptr_t)weft__swap && pc < (uintptr_t)weft__task_start;
}
#endif

/* Caught in a switch, it leaves `done` unset: the watchdog asks again. */
static void on_sample(int sig, siginfo_t *si, void *ucv) {
    (void)sig;
    (void)si;
    int saved = errno;
    struct weft__dbg *D = __atomic_load_n(&sample.target, __ATOMIC_ACQUIRE);
    if (D && gettid() == D->loop_tid && !__atomic_load_n(&sample.done, __ATOMIC_ACQUIRE) && !in_switch(ucv)) {
        sample.n = backtrace(sample.pc, SAMPLE_FRAMES);
        sample.first = 2;   /* this handler and the signal trampoline */
        weft_task *t = D->loop->cur;
        sample.id = t ? t->id : 0;
        if (t) memcpy(sample.name, t->name, sizeof sample.name);
        else sample.name[0] = 0;
        sample.step = __atomic_load_n(&D->step, __ATOMIC_ACQUIRE);
        __atomic_store_n(&sample.done, 1, __ATOMIC_RELEASE);
    }
    errno = saved;
}

/* Installs the SIGURG handler once per process, unless the program has its
 * own. backtrace() is called once first: its first call loads the unwinder,
 * which is no work for a signal handler. */
static void sample_install_once(void) {
    void *pc[2];
    backtrace(pc, 2);
    struct sigaction old, sa;
    int ok = -1;
    if (sigaction(SIGURG, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
        (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN)) {
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sample;
        sa.sa_flags = SA_RESTART | SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGURG, &sa, NULL) == 0) ok = 1;
    }
    __atomic_store_n(&sample_installed, ok, __ATOMIC_RELEASE);
}

static bool sample_install(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sample_install_once);
    return __atomic_load_n(&sample_installed, __ATOMIC_ACQUIRE) > 0;
}

/* The loop's thread is blocked in the system call `st`: its stack is
 * read without stopping it, then /proc is read again to be sure it stayed
 * in that call meanwhile (the loop's task and its name hold still as long
 * as it does, so reading them from here is no race in effect). */
__attribute__((no_sanitize("thread")))
static bool sample_blocked(struct weft__dbg *D, const weft__sysstate *st) {
    uint64_t step = __atomic_load_n(&D->step, __ATOMIC_ACQUIRE);
    weft_task *t = D->loop->cur;
    uint64_t hi = 0;
    if (t && t->stack_lo)
        hi = (uint64_t)(uintptr_t)t->stack_lo + (t->stack_size ? t->stack_size : D->loop->pool.size);
    sample.n = weft__sys_unwind(D->loop_tid, st, hi, sample.pc, SAMPLE_FRAMES);
    sample.first = 0;
    sample.id = t ? t->id : 0;
    snprintf(sample.name, sizeof sample.name, "%s", t ? t->name : "");
    weft__sys_describe(st, sample.call, sizeof sample.call);
    weft__sysstate again;
    if (weft__sys_state(D->loop_tid, &again) != 1 || memcmp(&again, st, sizeof again) != 0) return false;
    sample.step = step;
    return __atomic_load_n(&D->step, __ATOMIC_ACQUIRE) == step;
}

/* Takes the loop's thread's stack; true if it was had within 500 ms. A
 * thread in a system call gets no signal (it would cut a sleep or a poll
 * short: SA_RESTART restarts neither); one running user code gets SIGURG
 * (where /proc cannot tell, as under qemu-user, too). What is left: a
 * thread that enters a call between our look and the signal's delivery,
 * a few microseconds, sees that call fail with EINTR if it is one that
 * never restarts. The caller reads `sample` under sample_mu. */
static bool sample_take(struct weft__dbg *D) {
    bool can_signal = sample_install();
    __atomic_store_n(&sample.done, 0, __ATOMIC_RELEASE);
    sample.call[0] = 0;
    __atomic_store_n(&sample.target, D, __ATOMIC_RELEASE);
    bool done = false;
    for (int i = 0; i < 500 && !(done = __atomic_load_n(&sample.done, __ATOMIC_ACQUIRE)); i++) {
        /* Again every 10 ms: the last signal may have hit a switch. */
        if (i % 10 == 0) {
            weft__sysstate st;
            int in_call = weft__sys_state(D->loop_tid, &st);
            if (in_call == 1 && sample_blocked(D, &st)) {
                done = true;
                break;
            }
            sample.call[0] = 0;
            if (in_call != 1 && (!can_signal || pthread_kill(D->loop_thread, SIGURG) != 0)) break;
        }
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    __atomic_store_n(&sample.target, NULL, __ATOMIC_RELEASE);
    return done;
}

/* ------------------------------------------------------------- watchdog */

/* The report for step `step` of task `id`, running for `ran` ns. */
static void report_slow(struct weft__dbg *D, uint64_t step, uint64_t id, int64_t ran) {
    char buf[8192], where[160];
    pthread_mutex_lock(&sample_mu);
    bool took = sample_take(D), got = took && sample.step == step;
    char name[WEFT__NAME_MAX + 16];
    if (got && sample.name[0]) snprintf(name, sizeof name, "%s", sample.name);
    else snprintf(name, sizeof name, "task-%llu", (unsigned long long)id);
    if (got && sample.call[0])
        snprintf(where, sizeof where, "It is blocked in %s%s", sample.call,
                 sample.n ? ", called from:" : " (no stack: weft was built without libdw)");
    else
        snprintf(where, sizeof where, "%s", got ? "Where it is now:" : took ? "(no stack: the step ended before the sample)"
                 : "(no stack: the thread did not answer SIGURG)");
    size_t n = (size_t)snprintf(buf, sizeof buf,
        "task '%s' (id %llu) has been running for %lld ms without suspending: the loop is blocked "
        "(slow step threshold %lld ms). %s", name, (unsigned long long)id, (long long)(ran / WEFT_MILLISECOND),
        (long long)(D->slow / WEFT_MILLISECOND), where);
    for (int i = sample.first; got && i < sample.n && n < sizeof buf - 1; i++) {
        buf[n++] = '\n';
        buf[n] = 0;
        n += (size_t)weft__fmt_frame(buf + n, sizeof buf - n, i - sample.first, sample.pc[i]);
        if (n >= sizeof buf) n = sizeof buf - 1;
        if (buf[n - 1] == '\n') buf[--n] = 0;
    }
    pthread_mutex_unlock(&sample_mu);
    emit(WEFT_REPORT_SLOW_STEP, buf);
}

/* One look at the loop: reports a step that has run too long, once. */
static void watch_once(struct weft__dbg *D) {
    uint64_t s1 = __atomic_load_n(&D->step, __ATOMIC_ACQUIRE);
    if (!(s1 & 1) || s1 == D->reported) return;
    int64_t start = __atomic_load_n(&D->start, __ATOMIC_RELAXED);
    uint64_t id = __atomic_load_n(&D->task_id, __ATOMIC_RELAXED);
    if (__atomic_load_n(&D->step, __ATOMIC_ACQUIRE) != s1) return;
    int64_t ran = weft__mono() - start;
    if (ran < D->slow) return;
    D->reported = s1;
    report_slow(D, s1, id, ran);
}

/* Looks four times per threshold (within 1..250 ms): a stall is reported
 * between 1 and 1.25 thresholds after it began. */
static void *watchdog(void *arg) {
    struct weft__dbg *D = arg;
    int64_t period = D->slow / 4;
    if (period < WEFT_MILLISECOND) period = WEFT_MILLISECOND;
    if (period > 250 * WEFT_MILLISECOND) period = 250 * WEFT_MILLISECOND;
    weft__symbols_warm();   /* a stall's report is due while it lasts: no time to read them then */
    pthread_mutex_lock(&D->mu);
    while (!D->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t when = (int64_t)ts.tv_sec * WEFT_SECOND + ts.tv_nsec + period;
        ts.tv_sec = when / WEFT_SECOND;
        ts.tv_nsec = when % WEFT_SECOND;
        pthread_cond_timedwait(&D->cv, &D->mu, &ts);
        if (D->stop) break;
        pthread_mutex_unlock(&D->mu);
        watch_once(D);
        pthread_mutex_lock(&D->mu);
    }
    pthread_mutex_unlock(&D->mu);
    return NULL;
}

static int64_t slow_threshold(const weft_loop_opts *opts) {
    if (opts && opts->slow_step) return opts->slow_step;
    const char *env = getenv("WEFT_DEBUG_SLOW_MS");
    if (env && *env) return (int64_t)atoll(env) * WEFT_MILLISECOND;
    return DEFAULT_SLOW;
}

/* The watchdog's thread blocks every signal: a process-directed signal then
 * goes to a thread of the program, as it would without debug mode. */
static int watchdog_start(struct weft__dbg *D) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&D->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&D->mu, NULL);
    sample_install();
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&D->thread, NULL, watchdog, D);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        pthread_cond_destroy(&D->cv);
        pthread_mutex_destroy(&D->mu);
        return -err;
    }
    D->thread_started = true;
    return 0;
}

static void watchdog_stop(struct weft__dbg *D) {
    if (!D->thread_started) return;
    pthread_mutex_lock(&D->mu);
    D->stop = true;
    pthread_cond_signal(&D->cv);
    pthread_mutex_unlock(&D->mu);
    pthread_join(D->thread, NULL);
    pthread_cond_destroy(&D->cv);
    pthread_mutex_destroy(&D->mu);
}

/* ---------------------------------------------------------------- hooks */

/* The clock for a hook. A task that suspends hands the thread to the next
 * one a few instructions later, unless upkeep runs in between (which ends
 * by reading the clock anew): so enter reuses the reading leave or upkeep
 * made, halving the clock reads per switch (a third of tracing's cost). */
static int64_t obs_clock(weft_loop *L, bool reuse) {
    int64_t now = L->obs_now;
    if (!reuse || now < 0) now = weft__mono();
    L->obs_now = reuse ? -1 : now;
    return now;
}

void weft__obs_enter(weft_loop *L, weft_task *t) {
    if (!t) return;
    int64_t now = obs_clock(L, true);
    t->since = now;
    struct weft__dbg *D = L->dbg;
    if (D) {
        __atomic_store_n(&D->start, now, __ATOMIC_RELAXED);
        __atomic_store_n(&D->task_id, t->id, __ATOMIC_RELAXED);
        __atomic_store_n(&D->step, (D->step + 2) | 1, __ATOMIC_RELEASE);  /* a new odd count */
    }
    if (L->trace) weft__trace_event(L, WEFT__TR_RUN, t, now);
}

void weft__obs_leave(weft_loop *L, weft_task *t) {
    int64_t now = obs_clock(L, false);
    if (L->con) weft__con_leave(L, t, now);  /* the step began at t->since */
    t->since = now;
    struct weft__dbg *D = L->dbg;
    if (D) __atomic_store_n(&D->step, D->step & ~(uint64_t)1, __ATOMIC_RELEASE);  /* idle */
    if (L->trace) weft__trace_event(L, WEFT__TR_LEAVE, t, now);
}

void weft__obs_spawn(weft_loop *L, weft_task *t) {
    int64_t now = weft__mono();  /* not obs_clock: a spawn is no switch */
    t->since = now;
    /* Not a tail call: the console walks up from its own frame. */
    if (L->con) weft__con_spawn(L, t, now);
    if (L->trace) weft__trace_event(L, WEFT__TR_SPAWN, t, now);
}

void weft__obs_upkeep(weft_loop *L, bool begin) {
    int64_t now = obs_clock(L, false);
    if (L->trace) weft__trace_event(L, begin ? WEFT__TR_UPKEEP_BEGIN : WEFT__TR_UPKEEP_END, NULL, now);
    if (L->con) weft__con_upkeep(L, begin, now);
}

/* ---------------------------------------------------------------- leaks */

#define TRACK_FRAMES 10

/* Something opened and not yet closed, with the stack that opened it
 * (weft__track). On the debug state's list, oldest first. */
struct weft__track {
    weft__track *prev, *next;
    weft_loop *loop;
    weft__track **slot;            /* the object's pointer to this record */
    int fd;                        /* an fd's record, else -1 */
    const char *what, *how;        /* an object's: "stream", the call that frees it */
    const void *obj;
    int npc;
    void *pc[TRACK_FRAMES];
};

/* A stack, not just the caller's address: the constructor that tracks is
 * usually called by another of weft's (weft_stream_new_fd, then
 * weft_tcp_connect's caller...), and the frame that matters is the
 * program's, a few levels up. backtrace() costs microseconds: debug mode
 * only. */
__attribute__((noinline))
static weft__track *track_add(weft_loop *L, const char *what, const char *how, const void *obj, int fd) {
    struct weft__dbg *D = L->dbg;
    weft__track *r = weft__alloc(L, sizeof *r);
    if (!r) return NULL;   /* the object is just not watched for leaks */
    void *pc[TRACK_FRAMES + 2];
    int n = backtrace(pc, TRACK_FRAMES + 2) - 2;   /* not here nor our caller */
    r->npc = n > 0 ? n : 0;
    if (n > 0) memcpy(r->pc, pc + 2, (size_t)n * sizeof *pc);
    r->loop = L, r->what = what, r->how = how, r->fd = fd, r->obj = obj, r->slot = NULL;
    r->next = NULL;
    r->prev = D->open_tail;
    if (D->open_tail) D->open_tail->next = r;
    else D->open_head = r;
    D->open_tail = r;
    return r;
}

static void track_del(weft_loop *L, weft__track *r) {
    struct weft__dbg *D = L->dbg;
    if (r->prev) r->prev->next = r->next;
    else D->open_head = r->next;
    if (r->next) r->next->prev = r->prev;
    else D->open_tail = r->prev;
    if (r->slot) *r->slot = NULL;
    weft__free(L, r);
}

void weft__leak_watch(weft__track **slot, const char *what, const char *how, const void *obj) {
    weft_loop *L = weft__tls_loop;
    *slot = NULL;
    if (WEFT_LIKELY(!L || !L->dbg)) return;
    weft__track *r = track_add(L, what, how, obj, -1);
    if (r) r->slot = slot;
    *slot = r;
}

/* The record is there only while its loop lives: the loop clears every
 * slot when it closes. */
void weft__leak_unwatch(weft__track **slot) {
    if (WEFT_UNLIKELY(*slot != NULL)) track_del((*slot)->loop, *slot);
}

void weft__track_fd(weft_loop *L, int fd) {
    struct weft__dbg *D = L->dbg;
    weft__track **v = weft__fd_table_fit(L, D->fdrec, &D->nfdrec, sizeof *v, fd);
    if (!v) return;
    D->fdrec = v;
    if (D->fdrec[fd]) track_del(L, D->fdrec[fd]);   /* closed behind our back */
    D->fdrec[fd] = track_add(L, NULL, NULL, NULL, fd);
}

void weft__untrack_fd(weft_loop *L, int fd) {
    struct weft__dbg *D = L->dbg;
    if ((size_t)fd >= D->nfdrec || !D->fdrec[fd]) return;
    track_del(L, D->fdrec[fd]);
    D->fdrec[fd] = NULL;
}

static void leak_one(FILE *f, const weft__track *r) {
    if (r->fd >= 0)
        fprintf(f, "  fd %d, watched by the loop, never closed with weft_close (nor released with "
                "weft_fd_forget); first waited on at:\n", r->fd);
    else
        fprintf(f, "  %s %p, never freed (%s); made at:\n", r->what, r->obj, r->how);
    /* Where the program's own code begins, when weft is a module of its
     * own (libweft.so): the frame that opened the thing, as the user sees
     * it. Linked statically, weft's frames and the program's look alike. */
    Dl_info self, di;
    bool marked = !dladdr((void *)weft__leak_watch, &self);
    char line[512];
    for (int i = 0; i < r->npc; i++) {
        int n = weft__fmt_frame(line, sizeof line, i, r->pc[i]);
        if (!marked && n > 1 && (size_t)n < sizeof line - 24 && dladdr((char *)r->pc[i] - 1, &di) &&
            di.dli_fbase != self.dli_fbase) {
            marked = true;
            strcpy(line + n - 1, "   <- your code\n");
        }
        fputs(line, f);
    }
}

static void leaks_text(weft_loop *L, FILE *f) {
    size_t n = 0;
    for (const weft__track *r = L->dbg->open_head; r; r = r->next) n++;
    fprintf(f, "%zu thing%s still open when the loop closed (an object left open also keeps what it "
            "owns open: its streams, their sockets):\n", n, n == 1 ? "" : "s");
    for (const weft__track *r = L->dbg->open_head; r; r = r->next) leak_one(f, r);
}

/* Reports what is still open, then forgets it: an object freed after the
 * loop has closed finds its slot cleared. */
static void leaks_close(weft_loop *L, struct weft__dbg *D) {
    if (D->open_head) report_stream(L, WEFT_REPORT_LEAK, leaks_text);
    while (D->open_head) track_del(L, D->open_head);
    weft__free(L, D->fdrec);
}

/* ------------------------------------------------------------ life cycle */

static int debug_init(weft_loop *L, const weft_loop_opts *opts) {
    struct weft__dbg *D = weft__alloc(L, sizeof *D);
    if (!D) return WEFT_ENOMEM;
    memset(D, 0, sizeof *D);
    D->loop = L;
    D->loop_thread = pthread_self();
    D->loop_tid = gettid();
    D->slow = slow_threshold(opts);
    L->dbg = D;
    weft__symbols_use(1);
    if (D->slow > 0) {
        int err = watchdog_start(D);
        if (err) return err;
    }
    D->quit_owned = weft__sig_claim(&sigquit, L);
    return 0;
}

int weft__observe_init(weft_loop *L, const weft_loop_opts *opts) {
    const char *path = opts && opts->trace_path ? opts->trace_path : getenv("WEFT_TRACE");
    int err = 0;
    if (path && *path) err = weft__trace_init(L, path);
    if (!err && (L->flags & WEFT_LOOP_DEBUG)) err = debug_init(L, opts);
    if (!err) err = weft__console_init(L, opts);
    L->observe = L->trace || L->dbg || L->con;
    L->obs_now = -1;
    return err;
}

void weft__observe_close(weft_loop *L) {
    struct weft__dbg *D = L->dbg;
    if (D) {
        watchdog_stop(D);
        /* A sample the watchdog asked for may still be on its way. */
        pthread_mutex_lock(&sample_mu);
        pthread_mutex_unlock(&sample_mu);
        if (D->quit_owned) weft__sig_release(&sigquit, L);
        leaks_close(L, D);
        weft__symbols_use(-1);
        weft__free(L, D);
        L->dbg = NULL;
    }
    weft__trace_close(L);
    L->observe = false;
}
