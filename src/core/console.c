/* The live console (WEFT_CONSOLE=PATH, or weft_loop_opts.console_path): a
 * Unix socket that answers, for every loop of the process, what its tasks
 * do now; apps/weft-console shows it.
 *
 * Two halves. The accounting runs on each loop, in the observe hooks
 * (debug.c calls weft__con_*): per step (one task's run between two
 * suspensions) a clock read the hooks already make, the task's step count
 * and time, a histogram bucket and the slowest step of the current second;
 * per upkeep, the time spent there (the poller, sleeping included). It is
 * on for as long as the console is enabled, not only while a client is
 * attached, so that a client sees the history (which task has taken the
 * CPU since it started) the moment it attaches; its cost is measured in
 * docs/debugging.md.
 *
 * The socket side is one thread per process, not a task on each loop: a
 * loop stuck in a long step must still leave the console able to answer
 * ("loop 1 does not answer") and to serve the other loops, and the
 * console's own work (sorting 10,000 tasks, writing their JSON, a slow
 * reader) then costs the loops nothing. A thread of its own also keeps it
 * in the core with plain system calls (poll, a Unix socket, an eventfd),
 * below the io layer it may not call. The thread asks each loop for its
 * tasks by posting a job (weft__post): the loop runs it at upkeep, copies
 * at most SLICE tasks into the job's records and posts it to itself again
 * for the next slice, so a loop of 10,000 tasks never stops for more than
 * one slice; its place in the task list (L->con_next) moves on when the
 * task there ends. The job is shared by the two threads and freed by the
 * last to let go (refs); the thread gives up on a loop that does not
 * answer within ANSWER_NS and says so.
 *
 * The protocol, one request per line (at most LINE_MAX bytes), one JSON
 * answer per line:
 *     snapshot [sort=cpu|age|wait|id] [limit=N] [stuck_ms=N]
 *     stack LOOP TASK
 * Anything else gets {"error": "..."}; a line too long, a peer that is not
 * this user, or a reader that takes no bytes for STALL_NS is dropped. The
 * socket file is made 0600 and removed when the last loop closes. Only a
 * Unix socket: nothing ever listens on a network address.
 */
#include "internal.h"

#include "weft/loops.h"

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Tasks copied per upkeep: some 800 instructions each (callgrind), so
 * about 40 us a slice on this machine. */
#define SLICE 128
/* Wait-for chains (weft__wait_chain) per slice, each of at most CHAIN_CAP
 * tasks: a hop looks the holder up among the live tasks, so a chain costs
 * up to CHAIN_CAP walks of the task list; two per slice keep a slice near
 * its budget even among 10,000 tasks. Only stuck tasks get one. */
#define CHAINS_PER_SLICE 2
#define CHAIN_CAP 6
#define LINE_MAX 256                    /* a request line */
#define CLIENTS_MAX 8
#define ANSWER_NS (1000 * WEFT_MILLISECOND)  /* a loop's time to answer */
#define STALL_NS (1000 * WEFT_MILLISECOND)   /* a reader's time to take bytes */
#define ANSWER_MAX (64u << 20)           /* bytes of one answer */
#define NHIST 7                         /* <10us <100us <1ms <10ms <100ms <1s >=1s */
#define DEFAULT_LIMIT 50
#define DEFAULT_STUCK_MS 5000

/* --------------------------------------------------------- accounting */

/* A loop's figures: written on the loop's thread only, and read there too
 * (by the job that copies them), so plain fields. A window is one second:
 * the rates and the slowest step come from the last complete one. */
typedef struct win {
    int64_t start, run, upkeep;
    uint64_t steps;
    int64_t max;                        /* the slowest step */
    uint64_t max_id;
    char max_name[WEFT__NAME_MAX];
} win;

struct weft__con {
    weft_loop *L;
    struct weft__con *next;             /* the process's loops (G.mu) */
    unsigned index;
    struct job *inflight;               /* the console thread's (G.mu) */
    int64_t upkeep_start;
    uint64_t steps;
    int64_t run, upkeep;
    uint64_t hist[NHIST];
    win cur, prev;
};

static int hist_bucket(int64_t d) {
    int b = 0;
    for (int64_t lim = 10 * WEFT_MICROSECOND; b < NHIST - 1 && d >= lim; lim *= 10) b++;
    return b;
}

static void win_roll(struct weft__con *C, int64_t now) {
    if (now - C->cur.start < WEFT_SECOND) return;
    C->prev = C->cur;
    C->prev.start = now - C->cur.start;  /* prev.start: the window's length */
    memset(&C->cur, 0, sizeof C->cur);
    C->cur.start = now;
}

void weft__con_leave(weft_loop *L, weft_task *t, int64_t now) {
    struct weft__con *C = L->con;
    int64_t d = now - t->since;  /* stamped when the step began */
    t->steps++;
    t->cpu += d;
    C->steps++;
    C->run += d;
    C->hist[hist_bucket(d)]++;
    C->cur.steps++;
    C->cur.run += d;
    if (d > C->cur.max) {
        C->cur.max = d;
        C->cur.max_id = t->id;
        memcpy(C->cur.max_name, t->name, sizeof t->name);
    }
    win_roll(C, now);
}

void weft__con_upkeep(weft_loop *L, bool begin, int64_t now) {
    struct weft__con *C = L->con;
    if (begin) {
        C->upkeep_start = now;
        return;
    }
    C->upkeep += now - C->upkeep_start;
    C->cur.upkeep += now - C->upkeep_start;
    win_roll(C, now);
}

/* Where the task was spawned: the return addresses above weft__spawn's
 * caller chain, read by the frame pointers (weft builds with them) rather
 * than backtrace(), which costs microseconds per spawn. Frame 0 is ours,
 * frame 1 obs_spawn's; the walk stays on the current stack and goes up. */
__attribute__((noinline))
void weft__con_spawn(weft_loop *L, weft_task *t, int64_t now) {
    t->steps = 0;
    t->cpu = 0;
    t->born = now;
    t->spawn_pc[0] = t->spawn_pc[1] = t->spawn_pc[2] = NULL;
    weft_task *cur = L->cur;
    uintptr_t lo = (uintptr_t)(cur ? cur->stack_lo : L->sched_lo);
    uintptr_t hi = lo + (cur ? (cur->stack_size ? cur->stack_size : L->pool.size) : L->sched_size);
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    for (int i = 0, n = 0; n < 3 && i < 6 && fp >= lo && fp + 16 <= hi && !(fp & 7); i++) {
        const uintptr_t *f = (const uintptr_t *)fp;
        if (!f[1]) break;
        if (i >= 2) t->spawn_pc[n++] = (void *)f[1];
        if (f[0] <= fp) break;
        fp = f[0];
    }
}

/* ---------------------------------------------------------------- jobs */

/* One task as the console shows it. The loop copies what the dump knows
 * (ti) and the console thread puts it in words: formatting the wait was two
 * thirds of a task's cost on the loop. */
typedef struct rec {
    uint64_t id, steps;
    int64_t cpu, age, in_state;         /* ns; in_state: time in its state */
    int64_t now;                        /* the loop's clock, for deadlines */
    void *spawn_pc[3];
    uint64_t chain[CHAIN_CAP];          /* a stuck task's wait-for chain: */
    int nchain, cycle;                  /* ids from its own; cycle: index */
    weft_task_info ti;                  /* frames only for a stack */
} rec;

/* What a loop answers. `done` (atomic): 0 while the loop works on it, 1
 * answered, 2 the loop closed first. `refs` (atomic): the thread's and the
 * loop's. */
typedef struct job {
    weft__post_node node;
    struct weft__con *C;                /* loop side, until done */
    uint64_t want;                      /* 0: every task; else this one, with its stack */
    int64_t stuck;                      /* waits this long get their chain */
    bool started;
    int done, refs;
    /* the loop's figures when the job started */
    size_t nalive, nready, nwaiting;
    uint64_t steps, hist[NHIST];
    int64_t run, upkeep, age;
    win prev;
    rec *recs;
    size_t n, cap;
} job;

static void job_unref(job *j) {
    if (__atomic_sub_fetch(&j->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        free(j->recs);
        free(j);
    }
}

static struct {
    pthread_mutex_t life;               /* starting and stopping; taken first */
    pthread_mutex_t mu;                 /* guards the rest but `stop` */
    struct weft__con *loops;
    unsigned nloops, next_index;
    bool running;
    char path[sizeof ((struct sockaddr_un *)0)->sun_path];
    int lfd, wake;                      /* listener; eventfd: jobs done, stop */
    int stop;                           /* atomic */
    pthread_t thread;
} G = { .life = PTHREAD_MUTEX_INITIALIZER, .mu = PTHREAD_MUTEX_INITIALIZER, .lfd = -1, .wake = -1 };

static void wake_thread(void) {
    uint64_t one = 1;
    ssize_t w = write(G.wake, &one, sizeof one);
    (void)w;
}

/* The chain of a task stuck on a lock or a join, if the slice has room. */
static void job_chain(job *j, weft_loop *L, weft_task *t, rec *r, int *budget) {
    r->nchain = 0;
    r->cycle = -1;
    int a = r->ti.await;
    if (!j->stuck || r->ti.state != WEFT_TASK_WAITING || r->in_state < j->stuck || *budget <= 0 ||
        (a != WEFT_AWAIT_LOCK && a != WEFT_AWAIT_JOIN && a != WEFT_AWAIT_GATHER))
        return;
    (*budget)--;
    weft_task *chain[CHAIN_CAP];
    r->nchain = weft__wait_chain(L, t, chain, CHAIN_CAP, &r->cycle);
    for (int i = 0; i < r->nchain; i++) r->chain[i] = chain[i]->id;
}

static bool job_add(job *j, weft_loop *L, weft_task *t, int64_t now, int *budget) {
    if (j->n == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 64;
        rec *r = realloc(j->recs, cap * sizeof *r);
        if (!r) return false;
        j->recs = r, j->cap = cap;
    }
    rec *r = &j->recs[j->n++];
    weft__task_info_fill(L, t, &r->ti, j->want != 0);
    r->id = t->id, r->steps = t->steps, r->cpu = t->cpu;
    r->age = now - t->born;
    r->in_state = now - t->since;
    r->now = L->virtual_clock ? L->vnow : now;
    memcpy(r->spawn_pc, t->spawn_pc, sizeof r->spawn_pc);
    job_chain(j, L, t, r, budget);
    return true;
}

static void job_start(job *j, weft_loop *L, int64_t now) {
    struct weft__con *C = j->C;
    /* Jobs run in upkeep (posted work): count the upkeep so far, so that
     * a loop idle in its poller says so, and close its second if due. */
    C->upkeep += now - C->upkeep_start;
    C->cur.upkeep += now - C->upkeep_start;
    C->upkeep_start = now;
    win_roll(C, now);
    j->started = true;
    L->con_next = L->all;
    j->nalive = L->nalive, j->nready = L->nready;
    j->steps = C->steps, j->run = C->run, j->upkeep = C->upkeep;
    memcpy(j->hist, C->hist, sizeof j->hist);
    j->prev = C->prev;
    if (!j->prev.start) {  /* no full second yet: the one in progress */
        j->prev = C->cur;
        j->prev.start = now - C->cur.start;
    }
}

/* Runs on the loop at upkeep: one slice, then again at the next upkeep. */
static void job_run(weft_loop *L, weft__post_node *n, bool closing) {
    job *j = (job *)n;
    if (closing || __atomic_load_n(&j->done, __ATOMIC_ACQUIRE)) {
        job_unref(j);
        return;
    }
    int64_t now = weft__mono();
    if (!j->started) job_start(j, L, now);
    int budget = CHAINS_PER_SLICE;
    for (int k = 0; k < SLICE && L->con_next; k++) {
        weft_task *t = L->con_next;
        L->con_next = t->next_all;
        if (t->state == WEFT_TASK_WAITING) j->nwaiting++;
        if (j->want && t->id != j->want) continue;
        if (!job_add(j, L, t, now, &budget)) break;
        if (j->want) L->con_next = NULL;
    }
    if (L->con_next) {
        weft__post(L, n);
        return;
    }
    __atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
    wake_thread();
    job_unref(j);
}

/* ------------------------------------------------------------- answers */

typedef struct buf { char *p; size_t n, cap; bool full; } buf;

/* Room for n more bytes (and a NUL); false once the answer is too large. */
static bool reserve(buf *b, size_t n) {
    while (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        char *p = cap <= ANSWER_MAX ? realloc(b->p, cap) : NULL;
        if (!p) {
            b->full = true;
            return false;
        }
        b->p = p, b->cap = cap;
    }
    return true;
}

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...) {
    for (size_t want = 256;;) {
        if (!reserve(b, want)) return;
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = vsnprintf(b->p + b->n, room, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if ((size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        want = (size_t)k + 1;
    }
}

/* A JSON string: names and wait words may hold anything. Byte by byte
 * into the buffer: 10,000 tasks make megabytes of these. */
static void put_str(buf *b, const char *s) {
    size_t len = strlen(s);
    if (!reserve(b, 6 * len + 2)) return;
    char *o = b->p + b->n;
    *o++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') *o++ = '\\', *o++ = (char)c;
        else if (c < 0x20 || c == 0x7f) o += sprintf(o, "\\u%04x", c);
        else *o++ = (char)c;
    }
    *o++ = '"';
    b->n = (size_t)(o - b->p);
}

static void spawn_find(void *const pc[3], char *out, size_t len);

static const char *state_word(int s) {
    return s == WEFT_TASK_RUNNING ? "running" : s == WEFT_TASK_WAITING ? "waiting" : "ready";
}

/* The frame a reader wants: the first that is not weft's own, by name.
 * Tasks come in crowds from one place: the last answer is kept. */
static void spawn_words(void *const pc[3], char *out, size_t len) {
    static void *last[3];
    static char words[256];
    if (!memcmp(last, pc, sizeof last) && pc[0]) {
        snprintf(out, len, "%s", words);
        return;
    }
    memcpy(last, pc, sizeof last);
    words[0] = 0;
    spawn_find(pc, words, sizeof words);
    snprintf(out, len, "%s", words);
}

static void spawn_find(void *const pc[3], char *out, size_t len) {
    out[0] = 0;
    for (int i = 0; i < 3 && pc[i]; i++) {
        Dl_info di;
        bool named = dladdr((char *)pc[i] - 1, &di) && di.dli_sname;
        if (named && strncmp(di.dli_sname, "weft_", 5) == 0 && i < 2 && pc[i + 1]) continue;
        weft__fmt_frame(out, len, 0, pc[i]);
        /* "    #0  0xPC rest\n" -> "rest" */
        char *s = strchr(out, 'x'), *sp = s ? strchr(s, ' ') : NULL;
        size_t k = sp ? strlen(sp + 1) : 0;
        if (sp) memmove(out, sp + 1, k + 1);
        if (k && out[k - 1] == '\n') out[k - 1] = 0;
        return;
    }
}

static void put_rec(buf *b, const rec *r, unsigned loop) {
    char sp[256], wait[256] = "";
    spawn_words(r->spawn_pc, sp, sizeof sp);
    if (r->ti.state == WEFT_TASK_WAITING) weft__task_wait_words(&r->ti, r->now, wait, sizeof wait);
    put(b, "{\"loop\":%u,\"id\":%llu,\"name\":", loop, (unsigned long long)r->id);
    put_str(b, r->ti.name);
    put(b, ",\"state\":\"%s\",\"in_state_ns\":%lld,\"age_ns\":%lld,\"steps\":%llu,\"cpu_ns\":%lld,\"wait\":",
        state_word(r->ti.state), (long long)r->in_state, (long long)r->age, (unsigned long long)r->steps,
        (long long)r->cpu);
    put_str(b, wait);
    put(b, ",\"spawned\":");
    put_str(b, sp);
    if (r->nchain > 1) {  /* the tasks it waits along; a cycle is a deadlock */
        put(b, ",\"chain\":[");
        for (int i = 0; i < r->nchain; i++) put(b, "%s%llu", i ? "," : "", (unsigned long long)r->chain[i]);
        put(b, "],\"cycle\":%d", r->cycle);
    }
    put(b, "}");
}

enum { SORT_CPU, SORT_AGE, SORT_WAIT, SORT_ID };
static int sort_key;

static int cmp64(int64_t a, int64_t b) { return a > b ? -1 : a < b; }

static int rec_cmp(const void *pa, const void *pb) {
    const rec *a = pa, *b = pb;
    int c = 0;
    if (sort_key == SORT_CPU) c = cmp64(a->cpu, b->cpu);
    else if (sort_key == SORT_AGE) c = cmp64(a->age, b->age);
    else if (sort_key == SORT_WAIT) {
        int64_t wa = a->ti.state == WEFT_TASK_WAITING ? a->in_state : -1;
        int64_t wb = b->ti.state == WEFT_TASK_WAITING ? b->in_state : -1;
        c = cmp64(wa, wb);
    }
    return c ? c : a->id < b->id ? -1 : a->id > b->id;
}

typedef struct req {
    bool stack;
    int sort;
    size_t limit;
    int64_t stuck;
    unsigned loop;
    uint64_t task;
} req;

static void put_loop(buf *b, const job *j, unsigned index, const req *q) {
    double len = j->prev.start > 0 ? (double)j->prev.start : 1;
    put(b, "{\"index\":%u,\"tasks\":%zu,\"ready\":%zu,\"waiting\":%zu,\"steps\":%llu,\"run_ns\":%lld,"
        "\"upkeep_ns\":%lld,\"steps_per_s\":%.0f,\"run_frac\":%.4f,\"upkeep_frac\":%.4f,"
        "\"slowest\":{\"ns\":%lld,\"task\":%llu,\"name\":",
        index, j->nalive, j->nready, j->nwaiting, (unsigned long long)j->steps, (long long)j->run,
        (long long)j->upkeep, (double)j->prev.steps * 1e9 / len, (double)j->prev.run / len,
        (double)j->prev.upkeep / len, (long long)j->prev.max, (unsigned long long)j->prev.max_id);
    put_str(b, j->prev.max_name);
    put(b, "},\"hist\":[");
    for (int i = 0; i < NHIST; i++) put(b, "%s%llu", i ? "," : "", (unsigned long long)j->hist[i]);
    put(b, "],\"list\":[");
    size_t shown = j->n < q->limit ? j->n : q->limit;
    for (size_t i = 0; i < shown; i++) {
        if (i) put(b, ",");
        put_rec(b, &j->recs[i], index);
    }
    put(b, "]}");
}

/* Tasks waiting longer than the threshold, longest first, across loops. */
static void put_stuck(buf *b, job **jobs, const unsigned *idx, size_t nj, const req *q) {
    put(b, ",\"stuck_ms\":%lld,\"stuck\":[", (long long)(q->stuck / WEFT_MILLISECOND));
    size_t shown = 0;
    for (size_t k = 0; k < nj; k++) {
        job *j = jobs[k];
        if (!j) continue;
        for (size_t i = 0; i < j->n && shown < q->limit; i++) {
            const rec *r = &j->recs[i];
            if (r->ti.state != WEFT_TASK_WAITING || r->in_state < q->stuck) continue;
            if (shown++) put(b, ",");
            put_rec(b, r, idx[k]);  /* with its chain (job_chain) */
        }
    }
    put(b, "]");
}

static void answer_snapshot(buf *b, job **jobs, const unsigned *idx, size_t nj, const req *q) {
    sort_key = q->sort;
    for (size_t k = 0; k < nj; k++)
        if (jobs[k]) qsort(jobs[k]->recs, jobs[k]->n, sizeof(rec), rec_cmp);
    put(b, "{\"pid\":%d,\"time_ns\":%lld,\"hist_bounds_us\":[10,100,1000,10000,100000,1000000],\"loops\":[",
        (int)getpid(), (long long)weft__mono());
    for (size_t k = 0; k < nj; k++) {
        if (k) put(b, ",");
        if (jobs[k]) put_loop(b, jobs[k], idx[k], q);
        else put(b, "{\"index\":%u,\"busy\":true}", idx[k]);
    }
    put(b, "]");
    if (q->stuck > 0) {
        sort_key = SORT_WAIT;
        for (size_t k = 0; k < nj; k++)
            if (jobs[k]) qsort(jobs[k]->recs, jobs[k]->n, sizeof(rec), rec_cmp);
        put_stuck(b, jobs, idx, nj, q);
    }
    put(b, "}\n");
}

static void answer_stack(buf *b, job *j, const req *q) {
    if (!j) {
        put(b, "{\"error\":\"loop %u does not answer\"}\n", q->loop);
        return;
    }
    if (!j->n) {
        put(b, "{\"error\":\"no task %llu on loop %u\"}\n", (unsigned long long)q->task, q->loop);
        return;
    }
    put(b, "{\"task\":");
    put_rec(b, &j->recs[0], q->loop);
    put(b, ",\"stack\":[");
    char line[512];
    for (int i = 0; i < j->recs[0].ti.nframes; i++) {
        weft__fmt_frame(line, sizeof line, i, j->recs[0].ti.frames[i]);
        char *s = line + strspn(line, " ");
        size_t k = strlen(s);
        if (k && s[k - 1] == '\n') s[k - 1] = 0;
        if (i) put(b, ",");
        put_str(b, s);
    }
    put(b, "]}\n");
}

/* -------------------------------------------------------------- clients */

typedef struct client {
    int fd;
    char in[LINE_MAX];
    size_t nin;
    bool eof;                           /* it sends no more */
    bool busy;                          /* a request in flight */
    req q;
    int64_t asked;                      /* when the request was posted */
    size_t njobs;
    job *jobs[64];                      /* per loop asked (NULL: not answering) */
    unsigned idx[64];
    bool later[64];                     /* not asked yet: the loop was busy
                                           with another kind of job */
    buf out;
    size_t sent;
    int64_t last_progress;
} client;

static client *clients[CLIENTS_MAX];

static void client_drop(int i) {
    client *c = clients[i];
    for (size_t k = 0; k < c->njobs; k++)
        if (c->jobs[k]) job_unref(c->jobs[k]);
    close(c->fd);
    free(c->out.p);
    free(c);
    clients[i] = NULL;
}

static void reply_error(client *c, const char *msg) {
    put(&c->out, "{\"error\":");
    put_str(&c->out, msg);
    put(&c->out, "}\n");
}

/* Parses a request; false with an error answer put. */
static bool parse(client *c, char *line) {
    req q = { .sort = SORT_CPU, .limit = DEFAULT_LIMIT, .stuck = DEFAULT_STUCK_MS * WEFT_MILLISECOND };
    char *save = NULL, *w = strtok_r(line, " \t\r", &save);
    if (!w) {
        reply_error(c, "empty request; try: snapshot [sort=cpu|age|wait|id] [limit=N] [stuck_ms=N], stack LOOP TASK");
        return false;
    }
    if (!strcmp(w, "stack")) {
        char *a = strtok_r(NULL, " \t\r", &save), *t = strtok_r(NULL, " \t\r", &save), *end;
        q.stack = true;
        if (!a || !t || strtok_r(NULL, " \t\r", &save)) goto bad;
        q.loop = (unsigned)strtoul(a, &end, 10);
        if (*end) goto bad;
        q.task = strtoull(t, &end, 10);
        if (*end || !q.task) goto bad;
        c->q = q;
        return true;
    }
    if (strcmp(w, "snapshot")) goto bad;
    while ((w = strtok_r(NULL, " \t\r", &save))) {
        char *end;
        if (!strncmp(w, "sort=", 5)) {
            const char *k = w + 5;
            q.sort = !strcmp(k, "cpu") ? SORT_CPU : !strcmp(k, "age") ? SORT_AGE : !strcmp(k, "wait") ? SORT_WAIT
                   : !strcmp(k, "id") ? SORT_ID : -1;
            if (q.sort < 0) goto bad;
        } else if (!strncmp(w, "limit=", 6)) {
            q.limit = strtoull(w + 6, &end, 10);
            if (*end || w[6] == 0) goto bad;
        } else if (!strncmp(w, "stuck_ms=", 9)) {
            q.stuck = (int64_t)strtoll(w + 9, &end, 10) * WEFT_MILLISECOND;
            if (*end || w[9] == 0 || q.stuck < 0) goto bad;
        } else {
            goto bad;
        }
    }
    c->q = q;
    return true;
bad:
    reply_error(c, "bad request; try: snapshot [sort=cpu|age|wait|id] [limit=N] [stuck_ms=N], stack LOOP TASK");
    return false;
}

/* Asks loop C for slot k (under G.mu, so the loop cannot close meanwhile).
 * A loop works on one job at a time: a client asking what the job in
 * progress asks shares it (the records are only read once it is done);
 * one asking something else asks again later. */
static void client_post(client *c, size_t k, struct weft__con *C) {
    uint64_t want = c->q.stack ? c->q.task : 0;
    c->later[k] = false;
    job *j = C->inflight;
    if (j && !__atomic_load_n(&j->done, __ATOMIC_ACQUIRE)) {
        if (j->want == want) {
            __atomic_add_fetch(&j->refs, 1, __ATOMIC_ACQ_REL);
            c->jobs[k] = j;
        } else {
            c->later[k] = true;
        }
        return;
    }
    if (j) job_unref(j);
    C->inflight = NULL;
    if (!(j = calloc(1, sizeof *j))) return;
    j->node.run = job_run;
    j->C = C;
    j->want = want;
    j->stuck = c->q.stack ? 1 : c->q.stuck;
    j->refs = 3;  /* the client, the loop, inflight */
    C->inflight = j;
    c->jobs[k] = j;
    weft__post(C->L, &j->node);
}

static void client_ask(client *c) {
    c->njobs = 0;
    c->busy = true;
    c->asked = weft__mono();
    pthread_mutex_lock(&G.mu);
    for (struct weft__con *C = G.loops; C && c->njobs < 64; C = C->next) {
        if (c->q.stack && C->index != c->q.loop) continue;
        size_t k = c->njobs++;
        c->idx[k] = C->index;
        c->jobs[k] = NULL;
        client_post(c, k, C);
    }
    pthread_mutex_unlock(&G.mu);
}

/* The slots that waited for a loop's other job: ask again. */
static void client_retry(client *c) {
    pthread_mutex_lock(&G.mu);
    for (size_t k = 0; k < c->njobs; k++) {
        if (!c->later[k]) continue;
        c->later[k] = false;
        for (struct weft__con *C = G.loops; C; C = C->next)
            if (C->index == c->idx[k]) client_post(c, k, C);
    }
    pthread_mutex_unlock(&G.mu);
}

/* The answer, once every loop asked has answered or the time is up. */
static void client_answer(client *c, int64_t now) {
    bool timeout = now - c->asked > ANSWER_NS;
    client_retry(c);
    for (size_t k = 0; k < c->njobs; k++) {
        job *j = c->jobs[k];
        if (c->later[k] && !timeout) return;
        if (!j) continue;
        int d = __atomic_load_n(&j->done, __ATOMIC_ACQUIRE);
        if (d == 0 && !timeout) return;
        if (d != 1) {
            job_unref(j);
            c->jobs[k] = NULL;
        }
    }
    if (c->q.stack) {
        if (!c->njobs) put(&c->out, "{\"error\":\"no loop %u\"}\n", c->q.loop);
        else answer_stack(&c->out, c->jobs[0], &c->q);
    } else {
        answer_snapshot(&c->out, c->jobs, c->idx, c->njobs, &c->q);
    }
    if (c->out.full) {
        c->out.n = 0;
        c->out.full = false;
        reply_error(c, "answer too large; ask with a smaller limit");
    }
    for (size_t k = 0; k < c->njobs; k++)
        if (c->jobs[k]) job_unref(c->jobs[k]);
    c->njobs = 0;
    c->busy = false;
    c->last_progress = now;
}

/* Takes the next complete line, if any; false if the client must go. */
static bool client_next(client *c) {
    char *nl = memchr(c->in, '\n', c->nin);
    if (!nl) return c->nin < sizeof c->in;
    *nl = 0;
    char line[LINE_MAX];
    memcpy(line, c->in, (size_t)(nl - c->in) + 1);
    c->nin -= (size_t)(nl - c->in) + 1;
    memmove(c->in, nl + 1, c->nin);
    if (parse(c, line)) client_ask(c);
    return true;
}

/* Reads what came; false if the client must go (an error). */
static bool client_read(client *c) {
    ssize_t r = read(c->fd, c->in + c->nin, sizeof c->in - c->nin);
    if (r < 0 && errno != EAGAIN && errno != EINTR) return false;
    if (r > 0) c->nin += (size_t)r;
    c->eof = r == 0;
    return true;
}

/* Writes what it can; false if the client must go. */
static bool client_write(client *c, int64_t now) {
    while (c->sent < c->out.n) {
        ssize_t w = send(c->fd, c->out.p + c->sent, c->out.n - c->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) return now - c->last_progress < STALL_NS;
        if (w <= 0) return false;
        c->sent += (size_t)w;
        c->last_progress = now;
    }
    c->sent = c->out.n = 0;
    if (c->out.cap > (1u << 20)) {  /* do not keep a 10,000-task answer's buffer */
        free(c->out.p);
        c->out = (buf){ 0 };
    }
    return true;
}

static void client_accept(void) {
    int fd = accept4(G.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || (cr.uid != geteuid() && cr.uid != 0)) {
        close(fd);
        return;
    }
    for (int i = 0; i < CLIENTS_MAX; i++) {
        if (clients[i]) continue;
        clients[i] = calloc(1, sizeof *clients[i]);
        if (!clients[i]) break;
        clients[i]->fd = fd;
        return;
    }
    const char full[] = "{\"error\":\"too many consoles attached\"}\n";
    ssize_t w = send(fd, full, sizeof full - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
    close(fd);
}

/* One client's turn after a poll: false if it must go. */
static bool client_step(client *c, short revents, int64_t now) {
    if ((revents & POLLIN) && !client_read(c)) return false;
    if (revents & (POLLERR | POLLHUP) && !(revents & POLLIN)) return false;
    if (c->busy) client_answer(c, now);
    if (c->out.n && !client_write(c, now)) return false;
    while (!c->busy && !c->out.n && c->nin) {
        size_t before = c->nin;
        if (!client_next(c)) return false;
        if (c->busy) client_answer(c, now);
        if (c->out.n && !client_write(c, now)) return false;
        if (c->nin == before) break;  /* a partial line: wait for the rest */
    }
    /* One that has said all it will (`echo snapshot | socat ...`) goes
     * once its last whole request is answered. */
    return !c->eof || c->busy || c->out.n || memchr(c->in, '\n', c->nin);
}

static void *console_main(void *arg) {
    (void)arg;
    struct pollfd pf[2 + CLIENTS_MAX];
    weft__symbols_use(1);  /* frames named with libdw, read once */
    while (!__atomic_load_n(&G.stop, __ATOMIC_ACQUIRE)) {
        int n = 0, map[CLIENTS_MAX];
        bool waiting = false;
        pf[n++] = (struct pollfd){ G.wake, POLLIN, 0 };
        pf[n++] = (struct pollfd){ G.lfd, POLLIN, 0 };
        for (int i = 0; i < CLIENTS_MAX; i++) {
            client *c = clients[i];
            map[i] = -1;
            if (!c) continue;
            waiting |= c->busy || c->out.n;
            short ev = (c->busy || c->out.n || c->eof || c->nin == sizeof c->in) ? 0 : POLLIN;
            if (c->out.n) ev |= POLLOUT;
            map[i] = n;
            pf[n++] = (struct pollfd){ c->fd, ev, 0 };
        }
        if (poll(pf, (nfds_t)n, waiting ? 50 : -1) < 0 && errno != EINTR) break;
        if (pf[0].revents & POLLIN) {
            uint64_t v;
            ssize_t r = read(G.wake, &v, sizeof v);
            (void)r;
        }
        if (pf[1].revents & POLLIN) client_accept();
        int64_t now = weft__mono();
        for (int i = 0; i < CLIENTS_MAX; i++)
            if (clients[i] && map[i] >= 0 && !client_step(clients[i], pf[map[i]].revents, now)) client_drop(i);
    }
    for (int i = 0; i < CLIENTS_MAX; i++)
        if (clients[i]) client_drop(i);
    weft__symbols_use(-1);
    return NULL;
}

/* ------------------------------------------------------- start and stop */

/* Is a process answering on the socket at sa? (A child that inherited
 * WEFT_CONSOLE must not take its parent's console away.) */
static bool answering(const struct sockaddr_un *sa) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    bool yes = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 || errno == EAGAIN;
    close(fd);
    return yes;
}

/* The socket, owner-only from the start: fchmod on the unbound socket sets
 * the mode bind gives the file (Linux), so there is no moment when another
 * user could connect. A stale socket of a process that died is replaced;
 * one a live process answers on is WEFT_EBUSY; anything else at PATH is
 * left alone (-EEXIST). */
static int listen_at(const char *path) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (!*path || strlen(path) >= sizeof sa.sun_path) return WEFT_EINVAL;
    strcpy(sa.sun_path, path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return -EEXIST;
        if (answering(&sa)) return WEFT_EBUSY;
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int err = 0;
    if (fchmod(fd, 0600) != 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || chmod(path, 0600) != 0 ||
        listen(fd, 16) != 0)
        err = -errno;
    if (err) {
        close(fd);
        return err;
    }
    return fd;
}

static int console_start(const char *path) {
    int fd = listen_at(path);
    if (fd < 0) return fd;
    G.wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (G.wake < 0) {
        int err = -errno;
        close(fd);
        unlink(path);
        return err;
    }
    G.lfd = fd;
    snprintf(G.path, sizeof G.path, "%s", path);
    G.stop = 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&G.thread, NULL, console_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        close(G.wake);
        close(G.lfd);
        unlink(path);
        G.wake = G.lfd = -1;
        return e == EAGAIN ? WEFT_ENOMEM : -e;
    }
    G.running = true;
    return 0;
}

/* The last loop has gone (under G.life, not G.mu: the thread takes that). */
static void console_stop(void) {
    __atomic_store_n(&G.stop, 1, __ATOMIC_RELEASE);
    G.running = false;
    wake_thread();
    pthread_join(G.thread, NULL);
    close(G.lfd);
    close(G.wake);
    unlink(G.path);
    G.lfd = G.wake = -1;
}

/* A child forked from a process with a console has no console thread: it
 * forgets the parent's (closing its copies of the fds, leaving the file,
 * which is the parent's) and starts its own if a loop of its own asks. */
static void forget_in_child(void) {
    pthread_mutex_init(&G.life, NULL);
    pthread_mutex_init(&G.mu, NULL);
    if (G.running) {
        close(G.lfd);
        close(G.wake);
    }
    G.lfd = G.wake = -1;
    G.running = false;
    G.loops = NULL;
    G.nloops = G.next_index = 0;
    for (int i = 0; i < CLIENTS_MAX; i++) clients[i] = NULL;  /* the thread's, not ours to free */
}

static void atfork_once(void) { pthread_atfork(NULL, NULL, forget_in_child); }

int weft__console_init(weft_loop *L, const weft_loop_opts *opts) {
    const char *path = opts && opts->console_path ? opts->console_path : getenv("WEFT_CONSOLE");
    if (!path || !*path) return 0;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, atfork_once);
    struct weft__con *C = weft__alloc(L, sizeof *C);
    if (!C) return WEFT_ENOMEM;
    memset(C, 0, sizeof *C);
    C->L = L;
    C->cur.start = weft__mono();
    int index = weft_loops_index();
    pthread_mutex_lock(&G.life);
    /* The first loop's path serves the process; later loops join it. */
    int err = G.running ? 0 : console_start(path);
    if (!err) {
        pthread_mutex_lock(&G.mu);
        C->index = index >= 0 ? (unsigned)index : G.next_index++;
        struct weft__con **p = &G.loops;   /* in index order, as shown */
        while (*p && (*p)->index < C->index) p = &(*p)->next;
        C->next = *p;
        *p = C;
        G.nloops++;
        pthread_mutex_unlock(&G.mu);
    }
    pthread_mutex_unlock(&G.life);
    if (err) {
        weft__free(L, C);
        /* Inherited from a parent that has the console: run without. */
        if (err == WEFT_EBUSY && !(opts && opts->console_path)) {
            fprintf(stderr, "weft: WEFT_CONSOLE=%s is another process's console; this one runs without\n", path);
            return 0;
        }
        return err;
    }
    L->con = C;
    return 0;
}

/* Before the loop refuses posted work: a job it has not finished is marked
 * "closed" here (the thread stops waiting for it) and dropped when the
 * loop's queue is (weft__remote_shut). */
void weft__console_close(weft_loop *L) {
    struct weft__con *C = L->con;
    if (!C) return;
    pthread_mutex_lock(&G.life);
    pthread_mutex_lock(&G.mu);
    struct weft__con **p = &G.loops;
    while (*p && *p != C) p = &(*p)->next;
    bool found = *p != NULL;
    if (found) *p = C->next;
    if (!found) {  /* a forked child's copy of its parent's loop */
        pthread_mutex_unlock(&G.mu);
        pthread_mutex_unlock(&G.life);
        weft__free(L, C);
        L->con = NULL;
        return;
    }
    if (C->inflight) {
        if (!__atomic_load_n(&C->inflight->done, __ATOMIC_ACQUIRE)) {
            __atomic_store_n(&C->inflight->done, 2, __ATOMIC_RELEASE);
            wake_thread();
        }
        job_unref(C->inflight);
    }
    bool last = --G.nloops == 0;
    if (last) G.next_index = 0;
    pthread_mutex_unlock(&G.mu);
    if (last) console_stop();
    pthread_mutex_unlock(&G.life);
    L->con = NULL;
    L->con_next = NULL;
    weft__free(L, C);
}
