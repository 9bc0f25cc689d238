/* weft-console: attaches to a running weft program's console socket (the
 * program runs with WEFT_CONSOLE=PATH) and shows its loops and tasks, live,
 * in the manner of top; or once, as text or JSON, for scripts.
 *
 *     weft-console PATH [--once] [--json] [--interval MS] [--count N]
 *                       [--sort cpu|age|wait|id] [--limit N] [--stuck MS]
 *                       [--stack LOOP:TASK]
 *
 * The live view refreshes every --interval (1000 ms); keys c, a, w, i sort
 * by CPU, age, wait or id, q quits. --once prints one snapshot as text,
 * --json one answer as the console gave it (with --interval, one line per
 * interval, --count times: for scripts that poll). --stack prints one
 * task's stack. Exit status 0, or 1 with a message on stderr.
 *
 * The protocol is the console's (src/core/console.c): a request line, a
 * JSON answer line. Plain C over jansson; it needs nothing from weft.
 */
#include <jansson.h>

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

typedef struct opts {
    const char *path, *sort, *stack;
    bool once, json;
    long interval, count, limit, stuck;
} opts;

static void usage(void) {
    fputs("usage: weft-console PATH [--once] [--json] [--interval MS] [--count N]\n"
          "                    [--sort cpu|age|wait|id] [--limit N] [--stuck MS] [--stack LOOP:TASK]\n", stderr);
    exit(1);
}

static long num(const char *s) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 0) usage();
    return v;
}

static opts parse_args(int argc, char **argv) {
    opts o = { .sort = "cpu", .interval = -1, .count = -1, .limit = -1, .stuck = 5000 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--once")) o.once = true;
        else if (!strcmp(a, "--json")) o.json = true;
        else if (!strcmp(a, "--interval") && more) o.interval = num(argv[++i]);
        else if (!strcmp(a, "--count") && more) o.count = num(argv[++i]);
        else if (!strcmp(a, "--limit") && more) o.limit = num(argv[++i]);
        else if (!strcmp(a, "--stuck") && more) o.stuck = num(argv[++i]);
        else if (!strcmp(a, "--sort") && more) o.sort = argv[++i];
        else if (!strcmp(a, "--stack") && more) o.stack = argv[++i];
        else if (a[0] == '-') usage();
        else if (!o.path) o.path = a;
        else usage();
    }
    if (!o.path || (strcmp(o.sort, "cpu") && strcmp(o.sort, "age") && strcmp(o.sort, "wait") && strcmp(o.sort, "id")))
        usage();
    return o;
}

/* ------------------------------------------------------------- the wire */

static int attach(const char *path) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "weft-console: %s: path too long\n", path);
        exit(1);
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "weft-console: %s: %s (is the program running with WEFT_CONSOLE=%s?)\n", path,
                strerror(errno), path);
        exit(1);
    }
    return fd;
}

/* Sends one request and returns its answer line (malloc'd, no newline). */
static char *ask(int fd, const char *req) {
    size_t len = strlen(req);
    if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
        fprintf(stderr, "weft-console: the program went away (%s)\n", strerror(errno));
        exit(1);
    }
    size_t n = 0, cap = 65536;
    char *b = malloc(cap);
    for (;;) {
        if (!b) exit(1);
        if (n + 1 >= cap) b = realloc(b, cap *= 2);
        ssize_t r = read(fd, b + n, cap - n - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            fprintf(stderr, "weft-console: the program closed the console\n");
            exit(1);
        }
        n += (size_t)r;
        if (b[n - 1] == '\n') {
            b[n - 1] = 0;
            return b;
        }
    }
}

static json_t *parse(const char *line) {
    json_error_t e;
    json_t *j = json_loads(line, 0, &e);
    if (!j) {
        fprintf(stderr, "weft-console: a malformed answer (%s)\n", e.text);
        exit(1);
    }
    const char *err = json_string_value(json_object_get(j, "error"));
    if (err) {
        fprintf(stderr, "weft-console: %s\n", err);
        exit(1);
    }
    return j;
}

/* ------------------------------------------------------------ rendering */

static long long jint(json_t *o, const char *k) { return (long long)json_integer_value(json_object_get(o, k)); }
static double jreal(json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }
static const char *jstr(json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* A duration a reader takes in at a glance: 850ns, 12us, 3.4ms, 2.50s, 3m07s. */
static const char *dur(long long ns, char *buf, size_t len) {
    if (ns < 1000) snprintf(buf, len, "%lldns", ns);
    else if (ns < 1000000) snprintf(buf, len, "%lldus", ns / 1000);
    else if (ns < 1000000000) snprintf(buf, len, "%.1fms", (double)ns / 1e6);
    else if (ns < 60000000000LL) snprintf(buf, len, "%.2fs", (double)ns / 1e9);
    else snprintf(buf, len, "%lldm%02llds", ns / 60000000000LL, (ns / 1000000000) % 60);
    return buf;
}

static void task_line(FILE *f, json_t *t) {
    char a[32], b[32], c[32];
    const char *state = jstr(t, "state");
    fprintf(f, "%4lld %7lld %-16.16s %-7s %9s %9lld %9s %9s  %-26.26s %s\n", jint(t, "loop"), jint(t, "id"),
            jstr(t, "name"), state, dur(jint(t, "in_state_ns"), a, sizeof a), jint(t, "steps"),
            dur(jint(t, "cpu_ns"), b, sizeof b), dur(jint(t, "age_ns"), c, sizeof c), jstr(t, "spawned"),
            jstr(t, "wait"));
}

/* The console's orders: CPU, age, time waiting (waiting tasks first),
 * each largest first; id smallest first. Ties by loop and id. */
static const char *sort_by;

static long long wait_key(json_t *t) {
    return strcmp(jstr(t, "state"), "waiting") ? -1 : jint(t, "in_state_ns");
}

static int task_cmp(const void *pa, const void *pb) {
    json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    long long x = 0, y = 0;
    if (!strcmp(sort_by, "cpu")) x = jint(a, "cpu_ns"), y = jint(b, "cpu_ns");
    else if (!strcmp(sort_by, "age")) x = jint(a, "age_ns"), y = jint(b, "age_ns");
    else if (!strcmp(sort_by, "wait")) x = wait_key(a), y = wait_key(b);
    if (x != y) return x > y ? -1 : 1;
    x = jint(a, "loop") * (1LL << 40) + jint(a, "id");
    y = jint(b, "loop") * (1LL << 40) + jint(b, "id");
    return x < y ? -1 : x > y;
}

/* A stuck task's wait-for chain: "waits along: task 7 -> task 3", and
 * where it closes on itself, the deadlock. */
static void chain_line(FILE *f, json_t *t) {
    json_t *c = json_object_get(t, "chain"), *id;
    if (json_array_size(c) < 2) return;
    size_t i;
    fprintf(f, "%13s waits along:", "");
    json_array_foreach(c, i, id) fprintf(f, "%s task %lld", i ? " ->" : "", (long long)json_integer_value(id));
    long long cyc = jint(t, "cycle");
    if (cyc >= 0)
        fprintf(f, " -> task %lld: a deadlock", (long long)json_integer_value(json_array_get(c, (size_t)cyc)));
    fprintf(f, "\n");
}

static void loop_lines(FILE *f, json_t *l) {
    if (json_is_true(json_object_get(l, "busy"))) {
        fprintf(f, "loop %lld: does not answer (a step has kept it busy for over a second)\n", jint(l, "index"));
        return;
    }
    char a[32];
    fprintf(f, "loop %lld  tasks %lld (%lld ready, %lld waiting)  steps/s %.0f  running tasks %.1f%%  "
            "poller %.1f%%\n", jint(l, "index"), jint(l, "tasks"), jint(l, "ready"), jint(l, "waiting"),
            jreal(l, "steps_per_s"), 100 * jreal(l, "run_frac"), 100 * jreal(l, "upkeep_frac"));
    json_t *s = json_object_get(l, "slowest");
    if (jint(s, "ns"))
        fprintf(f, "        slowest step in the last second %s: task %lld '%s'\n", dur(jint(s, "ns"), a, sizeof a),
                jint(s, "task"), jstr(s, "name"));
    static const char *const label[] = { "<10us", "<100us", "<1ms", "<10ms", "<100ms", "<1s", ">=1s" };
    json_t *h = json_object_get(l, "hist");
    fprintf(f, "        steps by duration:");
    for (size_t i = 0; i < json_array_size(h) && i < 7; i++)
        fprintf(f, "  %s %lld", label[i], (long long)json_integer_value(json_array_get(h, i)));
    fprintf(f, "\n");
}

static void render(FILE *f, json_t *snap, const opts *o) {
    json_t *loops = json_object_get(snap, "loops");
    size_t i;
    json_t *l;
    long long total = 0;
    json_array_foreach(loops, i, l) total += jint(l, "tasks");
    time_t now = time(NULL);
    char clock[16];
    strftime(clock, sizeof clock, "%H:%M:%S", localtime(&now));
    fprintf(f, "weft-console %s   pid %lld, %zu loop%s, %lld tasks   %s\n\n", o->path, jint(snap, "pid"),
            json_array_size(loops), json_array_size(loops) == 1 ? "" : "s", total, clock);
    json_array_foreach(loops, i, l) loop_lines(f, l);
    static const char head[] =
        "LOOP      ID NAME             STATE    IN STATE     STEPS       CPU       AGE  SPAWNED AT                 WAITS ON\n";
    json_t *stuck = json_object_get(snap, "stuck");
    if (json_array_size(stuck)) {
        fprintf(f, "\nSTUCK: waiting longer than %lld ms\n%s", jint(snap, "stuck_ms"), head);
        json_t *t;
        json_array_foreach(stuck, i, t) {
            task_line(f, t);
            chain_line(f, t);
        }
    }
    fprintf(f, "\nTASKS by %s%s\n%s", o->sort, o->once ? "" : " (keys: c cpu, a age, w wait, i id; q quits)", head);
    /* Each loop sent its first `limit` by the key: merged, the first
     * `limit` of all. */
    size_t n = 0, k;
    json_array_foreach(loops, i, l) n += json_array_size(json_object_get(l, "list"));
    json_t **all = calloc(n ? n : 1, sizeof *all), *t;
    n = 0;
    json_array_foreach(loops, i, l) json_array_foreach(json_object_get(l, "list"), k, t) all[n++] = t;
    sort_by = o->sort;
    qsort(all, n, sizeof *all, task_cmp);
    for (k = 0; k < n && (o->limit < 0 || k < (size_t)o->limit); k++) task_line(f, all[k]);
    free(all);
}

static void print_stack(json_t *a) {
    json_t *t = json_object_get(a, "task"), *s = json_object_get(a, "stack"), *fr;
    size_t i;
    printf("LOOP      ID NAME             STATE    IN STATE     STEPS       CPU       AGE  SPAWNED AT                 WAITS ON\n");
    task_line(stdout, t);
    json_array_foreach(s, i, fr) printf("    %s\n", json_string_value(fr));
}

/* ------------------------------------------------------------ the modes */

static struct termios saved_tio;
static bool raw_tty;

static void tty_restore(void) {
    if (raw_tty) tcsetattr(0, TCSANOW, &saved_tio);
    fputs("\033[?25h", stdout);
}

/* Keys without Enter, when stdin is a terminal. */
static void tty_raw(void) {
    if (!isatty(0) || tcgetattr(0, &saved_tio) != 0) return;
    struct termios t = saved_tio;
    t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    raw_tty = tcsetattr(0, TCSANOW, &t) == 0;
}

/* Waits up to ms for a key; returns it, or 0. */
static int key_wait(long ms) {
    struct pollfd p = { 0, POLLIN, 0 };
    if (!raw_tty) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
        nanosleep(&ts, NULL);
        return 0;
    }
    if (poll(&p, 1, (int)ms) <= 0) return 0;
    char c;
    return read(0, &c, 1) == 1 ? c : 0;
}

int main(int argc, char **argv) {
    opts o = parse_args(argc, argv);
    int fd = attach(o.path);
    char req[128];
    if (o.stack) {
        unsigned loop;
        unsigned long long id;
        if (sscanf(o.stack, "%u:%llu", &loop, &id) != 2) usage();
        snprintf(req, sizeof req, "stack %u %llu\n", loop, id);
        char *line = ask(fd, req);
        json_t *a = parse(line);
        if (o.json) puts(line);
        else print_stack(a);
        json_decref(a);
        free(line);
        return 0;
    }
    bool live = !o.once && !o.json;
    long limit = o.limit >= 0 ? o.limit : live ? 40 : 1000000;
    o.limit = limit;  /* render shows this many of all loops' tasks */
    long interval = o.interval >= 0 ? o.interval : 1000;
    long count = o.count >= 0 ? o.count : (o.once || (o.json && o.interval < 0)) ? 1 : -1;
    if (live) {
        tty_raw();
        atexit(tty_restore);
        fputs("\033[?25l", stdout);
    }
    for (long n = 0; count < 0 || n < count; n++) {
        snprintf(req, sizeof req, "snapshot sort=%s limit=%ld stuck_ms=%ld\n", o.sort, limit, o.stuck);
        char *line = ask(fd, req);
        json_t *snap = parse(line);
        if (o.json) {
            puts(line);
            fflush(stdout);
        } else if (!live) {
            render(stdout, snap, &o);
        } else {
            /* One write per frame: the terminal never shows half of one. */
            char *text = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&text, &len);
            fputs("\033[H\033[2J", f);
            render(f, snap, &o);
            fclose(f);
            fwrite(text, 1, len, stdout);
            fflush(stdout);
            free(text);
        }
        json_decref(snap);
        free(line);
        if (count >= 0 && n + 1 >= count) break;
        int k = live ? key_wait(interval) : (key_wait(interval), 0);
        if (k == 'q') break;
        if (k == 'c') o.sort = "cpu";
        if (k == 'a') o.sort = "age";
        if (k == 'w') o.sort = "wait";
        if (k == 'i') o.sort = "id";
    }
    close(fd);
    return 0;
}
