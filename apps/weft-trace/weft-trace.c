/* weft-trace: renders a trace written by WEFT_TRACE=path (a Chrome
 * trace-event JSON file, see src/core/trace.c) as one self-contained SVG:
 * one lane per task, its runs in one colour and its waits in another, each
 * wait labelled with what it waited for when the label fits (and in a
 * tooltip always), and a time axis.
 *
 *     weft-trace TRACE.json [-o OUT.svg] [--title TEXT] [--loop] [--width PX]
 *
 * --title replaces the title (the trace's file name by default); --loop
 * adds a lane for the loop's own upkeep (timers, polling). Without
 * -o the SVG goes to stdout. Exit status 0, or 1 with a message on stderr
 * for an unreadable or malformed trace.
 */
#include <jansson.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_W 200     /* the lane names' column */
#define LANE_H 28
#define BAR_H 18
#define TOP 48          /* title and legend */
#define AXIS_H 48
#define CHAR_W 6.2      /* average glyph width at 11px, to see if a label fits */

typedef struct lane { long long tid; char name[96]; } lane;
typedef struct opts { const char *in, *out, *title; bool loop; double width; } opts;

static void usage(void) {
    fputs("usage: weft-trace TRACE.json [-o OUT.svg] [--title TEXT] [--loop] [--width PX]\n", stderr);
    exit(1);
}

static opts parse_args(int argc, char **argv) {
    opts o = { NULL, NULL, NULL, false, 1000 };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) o.out = argv[++i];
        else if (!strcmp(argv[i], "--title") && i + 1 < argc) o.title = argv[++i];
        else if (!strcmp(argv[i], "--loop")) o.loop = true;
        else if (!strcmp(argv[i], "--width") && i + 1 < argc) o.width = atof(argv[++i]);
        else if (argv[i][0] == '-' && argv[i][1]) usage();
        else if (!o.in) o.in = argv[i];
        else usage();
    }
    if (!o.in || o.width < 100) usage();
    return o;
}

/* Writes s with XML's five special characters escaped. */
static void xml(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char *str_of(json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* ------------------------------------------------------------ the lanes */

typedef struct lanes { lane *v; size_t n, cap; } lanes;

static lane *lane_get(lanes *ls, long long tid) {
    for (size_t i = 0; i < ls->n; i++)
        if (ls->v[i].tid == tid) return &ls->v[i];
    if (ls->n == ls->cap) {
        ls->cap = ls->cap ? ls->cap * 2 : 16;
        if (!(ls->v = realloc(ls->v, ls->cap * sizeof *ls->v))) { perror("weft-trace"); exit(1); }
    }
    lane *l = &ls->v[ls->n++];
    l->tid = tid;
    snprintf(l->name, sizeof l->name, tid ? "task %lld" : "loop", tid);
    return l;
}

static int by_tid(const void *a, const void *b) {
    long long x = ((const lane *)a)->tid, y = ((const lane *)b)->tid;
    return (x > y) - (x < y);
}

/* Which lanes there are (tasks that have a name or a span; the loop only
 * with --loop), and the time range the spans cover, in microseconds. */
static void scan(json_t *evs, const opts *o, lanes *ls, double *t0, double *t1) {
    size_t i;
    json_t *e;
    *t0 = INFINITY, *t1 = -INFINITY;
    json_array_foreach(evs, i, e) {
        const char *ph = str_of(e, "ph");
        long long tid = json_integer_value(json_object_get(e, "tid"));
        if (tid == 0 && !o->loop) continue;
        if (!strcmp(ph, "M") && !strcmp(str_of(e, "name"), "thread_name")) {
            const char *n = str_of(json_object_get(e, "args"), "name");
            if (*n) snprintf(lane_get(ls, tid)->name, sizeof ls->v->name, "%s", n);
        } else if (!strcmp(ph, "X")) {
            lane_get(ls, tid);
            double ts = json_number_value(json_object_get(e, "ts"));
            double dur = json_number_value(json_object_get(e, "dur"));
            if (ts < *t0) *t0 = ts;
            if (ts + dur > *t1) *t1 = ts + dur;
        }
    }
    if (!(*t0 < *t1)) *t0 = 0, *t1 = 1;
    qsort(ls->v, ls->n, sizeof *ls->v, by_tid);
}

/* ------------------------------------------------------------- drawing */

typedef struct frame { double t0, t1, width; } frame;

static double xpos(const frame *fr, double t) { return LABEL_W + (t - fr->t0) / (fr->t1 - fr->t0) * fr->width; }

/* A time in the unit that reads best for a trace `range` long: seconds
 * from a second up, so a 2 s program reads "0 s, 0.5 s, 1 s...". */
static void fmt_time(char *buf, size_t len, double us, double range) {
    if (range >= 1e6) snprintf(buf, len, "%g s", us / 1e6);
    else if (range >= 1e3) snprintf(buf, len, "%g ms", us / 1e3);
    else snprintf(buf, len, "%g µs", us);
}

/* Ticks every 1, 2 or 5 times a power of ten, about ten across, with
 * faint grid lines up through the lanes from `top`. */
static void axis(FILE *f, const frame *fr, double top, double y) {
    double range = fr->t1 - fr->t0, raw = range / 10, p = pow(10, floor(log10(raw))), step = p;
    if (raw / p > 5) step = 10 * p;
    else if (raw / p > 2) step = 5 * p;
    else if (raw / p > 1) step = 2 * p;
    fprintf(f, "<g class=\"axis\"><line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\"/>\n",
            LABEL_W, y, LABEL_W + fr->width, y);
    for (double t = 0; t <= range + step / 1e6; t += step) {
        char lbl[32];
        double x = xpos(fr, fr->t0 + t);
        fmt_time(lbl, sizeof lbl, t, range);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\" stroke-opacity=\"0.1\"/>"
                   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                x, top, x, y, x, y, x, y + 5, x, y + 18, lbl);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555\">time since the first event</text>\n",
            LABEL_W + fr->width / 2, y + 32);
    fputs("</g>\n", f);
}

static const char *fill_of(const char *cat) {
    if (!strcmp(cat, "run")) return "#2e7d32";
    if (!strcmp(cat, "loop")) return "#6a1b9a";
    return "#b0bec5";  /* wait and ready: the task is not running */
}

/* One span: a bar, a tooltip, and for a wait a label if it fits. */
static void bar(FILE *f, const frame *fr, json_t *e, double y) {
    const char *cat = str_of(e, "cat"), *name = str_of(e, "name");
    const char *detail = str_of(json_object_get(e, "args"), "detail");
    double ts = json_number_value(json_object_get(e, "ts")), dur = json_number_value(json_object_get(e, "dur"));
    double x = xpos(fr, ts), w = xpos(fr, ts + dur) - x;
    if (w < 0.5) w = 0.5;
    fprintf(f, "<rect class=\"%s\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" fill=\"%s\"%s><title>",
            cat, x, y, w, BAR_H, fill_of(cat), strcmp(cat, "ready") ? "" : " fill-opacity=\"0.45\"");
    xml(f, *detail ? detail : name);
    fprintf(f, " (%.3f ms)</title></rect>\n", dur / 1e3);
    const char *label = *detail ? detail : name;
    if (!strcmp(cat, "wait") && w > CHAR_W * (double)strlen(label) + 6) {
        fprintf(f, "<text class=\"label\" x=\"%.2f\" y=\"%.1f\">", x + 3, y + BAR_H - 5);
        xml(f, label);
        fputs("</text>\n", f);
    }
    /* A long run is worth naming: in a loop it means every other task
     * waited for it (a blocking call, a long computation). */
    char run[48];
    snprintf(run, sizeof run, dur >= 1e6 ? "running %.2f s" : "running %.1f ms", dur >= 1e6 ? dur / 1e6 : dur / 1e3);
    if (!strcmp(cat, "run") && dur >= 1e3 && w > CHAR_W * (double)strlen(run) + 6)
        fprintf(f, "<text class=\"label\" x=\"%.2f\" y=\"%.1f\" fill=\"white\">%s</text>\n", x + 3, y + BAR_H - 5, run);
}

static void legend(FILE *f) {
    static const struct { const char *fill, *opacity, *what; } keys[] = {
        { "#2e7d32", "1", "running" }, { "#b0bec5", "1", "waiting (label: on what)" },
        { "#b0bec5", "0.45", "ready, not yet picked" },
    };
    double x = LABEL_W;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        fprintf(f, "<rect x=\"%.0f\" y=\"26\" width=\"14\" height=\"12\" fill=\"%s\" fill-opacity=\"%s\"/>"
                   "<text x=\"%.0f\" y=\"36\">%s</text>\n", x, keys[i].fill, keys[i].opacity, x + 18, keys[i].what);
        x += 40 + CHAR_W * (double)strlen(keys[i].what);
    }
}

static void render(FILE *f, json_t *evs, const opts *o, const lanes *ls, double t0, double t1) {
    frame fr = { t0, t1, o->width };
    double h = TOP + (double)ls->n * LANE_H + AXIS_H;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"8\" y=\"18\" font-size=\"14\">",
            LABEL_W + o->width + 20, h);
    xml(f, o->title ? o->title : o->in);
    fprintf(f, "</text>\n<text x=\"%.0f\" y=\"18\" text-anchor=\"end\" fill=\"#555\">%.3f s from the first event to the last</text>\n",
            LABEL_W + o->width, (t1 - t0) / 1e6);
    legend(f);
    for (size_t i = 0; i < ls->n; i++) {
        double y = TOP + (double)i * LANE_H;
        fprintf(f, "<g class=\"lane\" id=\"lane-%lld\">\n<rect x=\"0\" y=\"%.0f\" width=\"%.0f\" height=\"%d\" fill=\"%s\"/>"
                   "<text x=\"8\" y=\"%.0f\">", ls->v[i].tid, y, LABEL_W + o->width + 20, LANE_H,
                i % 2 ? "#ffffff" : "#f5f5f5", y + LANE_H / 2 + 4);
        xml(f, ls->v[i].name);
        fputs("</text>\n", f);
        size_t k;
        json_t *e;
        json_array_foreach(evs, k, e) {
            if (strcmp(str_of(e, "ph"), "X") || json_integer_value(json_object_get(e, "tid")) != ls->v[i].tid) continue;
            bar(f, &fr, e, y + (LANE_H - BAR_H) / 2.0);
        }
        fputs("</g>\n", f);
    }
    axis(f, &fr, TOP, TOP + (double)ls->n * LANE_H + 4);
    fputs("</svg>\n", f);
}

int main(int argc, char **argv) {
    opts o = parse_args(argc, argv);
    json_error_t jerr;
    errno = 0;
    json_t *root = json_load_file(o.in, 0, &jerr);
    /* jansson reports some of its failed allocations with an empty text, or
     * as the syntax error its lexer saw next; malloc's errno tells them. */
    if (!root && (errno == ENOMEM || json_error_code(&jerr) == json_error_out_of_memory)) {
        fprintf(stderr, "weft-trace: %s: %s\n", o.in, strerror(ENOMEM));
        return 1;
    }
    if (!root) {
        fprintf(stderr, "weft-trace: %s:%d: %s\n", o.in, jerr.line, jerr.text);
        return 1;
    }
    json_t *evs = json_is_array(root) ? root : json_object_get(root, "traceEvents");
    if (!json_is_array(evs)) {
        fprintf(stderr, "weft-trace: %s: no traceEvents array\n", o.in);
        json_decref(root);
        return 1;
    }
    lanes ls = { 0 };
    double t0, t1;
    scan(evs, &o, &ls, &t0, &t1);
    FILE *f = o.out ? fopen(o.out, "w") : stdout;
    if (!f) {
        perror(o.out);
        return 1;
    }
    render(f, evs, &o, &ls, t0, t1);
    int bad = ferror(f) | (o.out ? fclose(f) : fflush(f));
    free(ls.v);
    json_decref(root);
    if (bad) perror("weft-trace");
    return bad ? 1 : 0;
}
