/* Tracing (WEFT_TRACE=path): what every task did, as a Chrome trace-event
 * JSON file (Perfetto and chrome://tracing open it; apps/weft-trace draws
 * it as SVG).
 *
 * While the loop runs, each switch appends one fixed-size record to a
 * buffer (a clock read and a few stores); nothing is formatted or written
 * until the loop closes, so the trace disturbs the timing it records as
 * little as it can. The buffer grows by doubling up to a bound
 * (TRACE_MAX_EVENTS, or WEFT_TRACE_MAX events); past it new events are
 * dropped and counted, and the file says how many ("weft_dropped_events").
 *
 * The file: one thread lane (tid) per task, tid 0 for the loop itself.
 * Under weft_run_loops, loop i > 0 writes PATH.i (loop 0 writes PATH).
 * Complete events ("ph":"X") of category "run" (the task ran), "wait"
 * (named after what it waited for, e.g. "sleep", with args.detail saying
 * more, in a higher layer's words first when it gave some: "HTTP response
 * from host:port (fd 7 readable)") and "ready" (runnable, not yet picked),
 * each written when its span ends; instants "spawn" and "end"; "upkeep"
 * spans on the loop's lane.
 */
#include "internal.h"

#include "weft/loops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* 32 MiB of records: a second of a busy loop at ~30 M switches/s would
 * need more, but a trace that long is unreadable anyway; the usual use is a
 * short program or the first seconds of one. */
#define TRACE_MAX_EVENTS ((size_t)1 << 20)

typedef struct tr_ev {
    int64_t ts;
    uint64_t id;        /* the task; 0 for the loop */
    uint64_t arg;       /* per kind: parent id, await detail, error code */
    uint16_t kind;      /* EV_* */
    uint16_t await;     /* WEFT_AWAIT_* for EV_WAIT */
    uint32_t ctx;       /* EV_WAIT: 1 + the index of its context, or 0 */
} tr_ev;

/* Recorded kinds: the hooks' WEFT__TR_* split by what a leaving task did. */
enum { EV_SPAWN, EV_RUN, EV_WAIT, EV_YIELD, EV_END, EV_UPKEEP_BEGIN, EV_UPKEEP_END };

typedef struct tr_name { uint64_t id; char name[WEFT__NAME_MAX]; } tr_name;

/* A wait's context (weft__await_context), kept once per distinct text:
 * `what` is static, `on` copied (its owner may be gone by the end). */
#define CTX_MAX 1024
typedef struct tr_ctx { const char *what; char on[80]; } tr_ctx;

struct weft__trace {
    FILE *f;
    int64_t t0;
    tr_ev *ev;
    size_t n, cap, max;
    tr_name *names;     /* at spawn and at end (the name may change) */
    size_t nnames, capnames;
    tr_ctx *ctxs;
    size_t nctxs, capctxs;
    uint64_t dropped;
};

int weft__trace_init(weft_loop *L, const char *path) {
    struct weft__trace *T = weft__alloc(L, sizeof *T);
    if (!T) return WEFT_ENOMEM;
    memset(T, 0, sizeof *T);
    /* Loop i > 0 of a weft_run_loops set writes PATH.i: a file per loop,
     * each a whole trace of its own (not for a device: /dev/null stays). */
    char own[4096];
    int index = weft_loops_index();
    struct stat st;
    bool device = stat(path, &st) == 0 && !S_ISREG(st.st_mode);
    if (index > 0 && !device && snprintf(own, sizeof own, "%s.%d", path, index) < (int)sizeof own) path = own;
    /* Opened now, so that a bad path fails weft_run before main runs
     * rather than losing the trace at the end. */
    if (!(T->f = fopen(path, "we"))) {
        int err = errno ? -errno : WEFT_EINVAL;
        weft__free(L, T);
        return err;
    }
    const char *max = getenv("WEFT_TRACE_MAX");
    T->max = max && atoll(max) > 0 ? (size_t)atoll(max) : TRACE_MAX_EVENTS;
    T->t0 = weft__mono();
    L->trace = T;
    return 0;
}

static bool grow(weft_loop *L, void **p, size_t *cap, size_t size, size_t max) {
    size_t ncap = *cap ? *cap * 2 : 4096;
    if (ncap > max) ncap = max;
    if (ncap <= *cap) return false;
    void *q = weft__realloc(L, *p, ncap * size);
    if (!q) return false;
    *p = q;
    *cap = ncap;
    return true;
}

static void put(weft_loop *L, int kind, uint64_t id, uint64_t arg, int await, uint32_t ctx, int64_t now) {
    struct weft__trace *T = L->trace;
    if (T->n == T->cap && !grow(L, (void **)&T->ev, &T->cap, sizeof *T->ev, T->max)) {
        T->dropped++;
        return;
    }
    T->ev[T->n++] = (tr_ev){ now, id, arg, (uint16_t)kind, (uint16_t)await, ctx };
}

/* The task's wait context as 1 + its index, interned; 0 if none (or the
 * table is full). A linear search: a program has few distinct contexts
 * (one per peer), and the newest is the likeliest. */
static uint32_t ctx_of(weft_loop *L, const weft_task *t) {
    struct weft__trace *T = L->trace;
    if (!t->await_what) return 0;
    const char *on = t->await_on ? t->await_on : "";
    for (size_t i = T->nctxs; i-- > 0;)
        if (T->ctxs[i].what == t->await_what && !strncmp(T->ctxs[i].on, on, sizeof T->ctxs[i].on - 1))
            return (uint32_t)i + 1;
    if (T->nctxs == T->capctxs && !grow(L, (void **)&T->ctxs, &T->capctxs, sizeof *T->ctxs, CTX_MAX)) return 0;
    tr_ctx *c = &T->ctxs[T->nctxs++];
    c->what = t->await_what;
    snprintf(c->on, sizeof c->on, "%s", on);
    return (uint32_t)T->nctxs;
}

static void put_name(weft_loop *L, weft_task *t) {
    struct weft__trace *T = L->trace;
    if (T->nnames == T->capnames && !grow(L, (void **)&T->names, &T->capnames, sizeof *T->names, T->max)) return;
    tr_name *nm = &T->names[T->nnames++];
    nm->id = t->id;
    memcpy(nm->name, t->name, sizeof nm->name);
}

/* What a waiting task waits on, as one number: the fd, the joined task's
 * id, how long a sleep is for (on the loop's clock, virtual or not), else
 * the object's address. */
static uint64_t await_arg(weft_task *t) {
    switch (t->await) {
    case WEFT_AWAIT_SLEEP:
        return weft__timer_armed(&t->timer) ? (uint64_t)(t->timer.when - weft__now(t->loop)) : UINT64_MAX;
    case WEFT_AWAIT_READABLE: case WEFT_AWAIT_WRITABLE: return (uint64_t)(intptr_t)t->await_obj;
    case WEFT_AWAIT_JOIN: case WEFT_AWAIT_GATHER: return ((const weft_task *)t->await_obj)->id;
    default: return (uint64_t)(uintptr_t)t->await_obj;
    }
}

void weft__trace_event(weft_loop *L, int kind, weft_task *t, int64_t now) {
    switch (kind) {
    case WEFT__TR_SPAWN:
        put_name(L, t);
        put(L, EV_SPAWN, t->id, L->cur ? L->cur->id : 0, 0, 0, now);
        break;
    case WEFT__TR_RUN:
        put(L, EV_RUN, t->id, 0, 0, 0, now);
        break;
    case WEFT__TR_LEAVE:
        if (t->state == WEFT_TASK_DONE) {
            put_name(L, t);
            put(L, EV_END, t->id, weft_is_error(t->result) ? (uint64_t)-weft_error_code(t->result) : 0, 0, 0, now);
        } else if (t->state == WEFT_TASK_WAITING) {
            put(L, EV_WAIT, t->id, await_arg(t), t->await, ctx_of(L, t), now);
        } else {
            put(L, EV_YIELD, t->id, 0, 0, 0, now);
        }
        break;
    case WEFT__TR_UPKEEP_BEGIN: put(L, EV_UPKEEP_BEGIN, 0, 0, 0, 0, now); break;
    case WEFT__TR_UPKEEP_END: put(L, EV_UPKEEP_END, 0, 0, 0, 0, now); break;
    }
}

/* ------------------------------------------------------------- writing */

/* Per task while writing: the open span. */
enum { PH_NONE, PH_READY, PH_RUN, PH_WAIT, PH_DONE };
typedef struct lane { int64_t since; uint64_t arg; size_t name; uint32_t ctx; uint8_t phase, await; } lane;

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static double us(const struct weft__trace *T, int64_t ts) { return (double)(ts - T->t0) / 1e3; }

/* The words for a wait: what, and on what. */
static void detail(char *buf, size_t len, int await, uint64_t arg) {
    const char *what = weft_await_name(await);
    switch (await) {
    case WEFT_AWAIT_SLEEP:
        if (arg == UINT64_MAX) snprintf(buf, len, "sleep forever");
        else snprintf(buf, len, "sleep %.1f ms", (double)(int64_t)arg / 1e6);
        break;
    case WEFT_AWAIT_READABLE: case WEFT_AWAIT_WRITABLE:
        snprintf(buf, len, "fd %llu %s", (unsigned long long)arg, await == WEFT_AWAIT_READABLE ? "readable" : "writable");
        break;
    case WEFT_AWAIT_JOIN: case WEFT_AWAIT_GATHER:
        snprintf(buf, len, "%s of task %llu", what, (unsigned long long)arg);
        break;
    default:
        snprintf(buf, len, "%s at 0x%llx", what, (unsigned long long)arg);
        break;
    }
}

static void span(FILE *f, const struct weft__trace *T, uint64_t tid, const char *name, const char *cat,
                 int64_t from, int64_t to, const char *det) {
    fprintf(f, ",\n{\"ph\":\"X\",\"pid\":1,\"tid\":%llu,\"ts\":%.3f,\"dur\":%.3f,\"cat\":\"%s\",\"name\":",
            (unsigned long long)tid, us(T, from), (double)(to - from) / 1e3, cat);
    json_str(f, name);
    if (det) {
        fputs(",\"args\":{\"detail\":", f);
        json_str(f, det);
        fputc('}', f);
    }
    fputc('}', f);
}

/* Ends the task's open span at `now`. */
static void close_span(FILE *f, const struct weft__trace *T, uint64_t id, lane *ln, int64_t now) {
    char det[128];
    switch (ln->phase) {
    case PH_READY: span(f, T, id, "ready", "ready", ln->since, now, NULL); break;
    case PH_RUN: span(f, T, id, "run", "run", ln->since, now, NULL); break;
    case PH_WAIT:
        detail(det, sizeof det, ln->await, ln->arg);
        if (ln->ctx) {   /* "HTTP response from host:port (fd 7 readable)" */
            const tr_ctx *c = &T->ctxs[ln->ctx - 1];
            char both[256];
            snprintf(both, sizeof both, "%s%s%s (%s)", c->what, c->on[0] ? " " : "", c->on, det);
            span(f, T, id, weft_await_name(ln->await), "wait", ln->since, now, both);
        } else {
            span(f, T, id, weft_await_name(ln->await), "wait", ln->since, now, det);
        }
        break;
    }
}

static void instant(FILE *f, const struct weft__trace *T, uint64_t tid, const char *name, int64_t ts,
                    const char *key, long long val) {
    fprintf(f, ",\n{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%llu,\"ts\":%.3f,\"name\":\"%s\",\"args\":{\"%s\":%lld}}",
            (unsigned long long)tid, us(T, ts), name, key, val);
}

static void write_names(weft_loop *L, FILE *f, lane *lanes, size_t nlanes) {
    struct weft__trace *T = L->trace;
    fputs("{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"process_name\",\"args\":{\"name\":\"weft\"}},\n"
          "{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"thread_name\",\"args\":{\"name\":\"loop\"}}", f);
    /* A task's last record wins: its name when it ended. */
    for (size_t i = 0; i < T->nnames; i++)
        if (T->names[i].id < nlanes) lanes[T->names[i].id].name = i + 1;
    for (size_t id = 1; id < nlanes; id++) {
        if (!lanes[id].name) continue;
        char name[WEFT__NAME_MAX + 24];
        const tr_name *nm = &T->names[lanes[id].name - 1];
        if (nm->name[0]) snprintf(name, sizeof name, "%.*s #%llu", WEFT__NAME_MAX, nm->name, (unsigned long long)nm->id);
        else snprintf(name, sizeof name, "task-%llu #%llu", (unsigned long long)nm->id, (unsigned long long)nm->id);
        fprintf(f, ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":%llu,\"name\":\"thread_name\",\"args\":{\"name\":",
                (unsigned long long)nm->id);
        json_str(f, name);
        fprintf(f, "}},\n{\"ph\":\"M\",\"pid\":1,\"tid\":%llu,\"name\":\"thread_sort_index\",\"args\":{\"sort_index\":%llu}}",
                (unsigned long long)nm->id, (unsigned long long)nm->id);
    }
}

static void write_events(weft_loop *L, FILE *f, lane *lanes, size_t nlanes) {
    struct weft__trace *T = L->trace;
    int64_t upkeep = -1, last = T->t0;
    for (size_t i = 0; i < T->n; i++) {
        const tr_ev *e = &T->ev[i];
        last = e->ts;
        if (e->kind == EV_UPKEEP_BEGIN) { upkeep = e->ts; continue; }
        if (e->kind == EV_UPKEEP_END) {
            if (upkeep >= 0) span(f, T, 0, "upkeep", "loop", upkeep, e->ts, NULL);
            upkeep = -1;
            continue;
        }
        if (e->id >= nlanes) continue;
        lane *ln = &lanes[e->id];
        close_span(f, T, e->id, ln, e->ts);
        ln->since = e->ts;
        switch (e->kind) {
        case EV_SPAWN: instant(f, T, e->id, "spawn", e->ts, "parent", (long long)e->arg); ln->phase = PH_READY; break;
        case EV_RUN: ln->phase = PH_RUN; break;
        case EV_YIELD: ln->phase = PH_READY; break;
        case EV_WAIT: ln->phase = PH_WAIT; ln->await = (uint8_t)e->await; ln->arg = e->arg; ln->ctx = e->ctx; break;
        case EV_END: instant(f, T, e->id, "end", e->ts, "error", -(long long)e->arg); ln->phase = PH_DONE; break;
        }
    }
    /* Spans still open (tasks abandoned, events dropped) end with the trace. */
    for (size_t id = 1; id < nlanes; id++) close_span(f, T, id, &lanes[id], last);
}

void weft__trace_close(weft_loop *L) {
    struct weft__trace *T = L->trace;
    if (!T) return;
    size_t nlanes = (size_t)L->next_id;
    lane *lanes = weft__alloc(L, nlanes * sizeof *lanes);
    FILE *f = T->f;
    if (T->n) T->t0 = T->ev[0].ts;  /* time 0 is the first event */
    fputs("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n", f);
    if (lanes) {
        memset(lanes, 0, nlanes * sizeof *lanes);
        write_names(L, f, lanes, nlanes);
        write_events(L, f, lanes, nlanes);
    }
    fprintf(f, "\n],\"otherData\":{\"weft_events\":%zu,\"weft_dropped_events\":%llu}}\n",
            T->n, (unsigned long long)(T->dropped + (lanes ? 0 : T->n)));
    fclose(f);
    weft__free(L, lanes);
    weft__free(L, T->ev);
    weft__free(L, T->names);
    weft__free(L, T->ctxs);
    weft__free(L, T);
    L->trace = NULL;
}
