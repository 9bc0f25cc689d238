/* weft-fetch: curl's everyday options on weft's HTTP client.
 *
 *     weft-fetch [options] URL...     every URL at once, one line each
 *     weft-fetch -n N -c C URL        N requests over C connections
 *
 * Each URL is fetched by a task of its own, all sharing one client, and a
 * line per URL says its status, size and where the time went (DNS,
 * connect, TLS, first byte, total). The exit code is 1 if any request
 * failed (the reason goes to stderr), 2 for bad usage.
 */
#include "fetch.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
    fputs("usage: weft-fetch [options] URL...\n"
          "  -X METHOD        request method (default GET, or POST with a body)\n"
          "  -H 'Name: value' add a header (repeatable)\n"
          "  -d DATA          send DATA as a form body\n"
          "  --json DATA      send DATA as a JSON body\n"
          "  -L               follow redirects\n"
          "  --cacert FILE    trust the CAs in FILE\n"
          "  -k               do not verify TLS certificates (insecure)\n"
          "  --timeout SECS   connect, read, write and pool timeouts (default 5)\n"
          "  -o FILE          write the body to FILE (one URL)\n"
          "  -O               write each body to a file named after its URL\n"
          "  -n N -c C        load mode: N requests over C connections\n", f);
}

int fetch_request(const fetch_opts *o, const char *url, weft_http_request **out) {
    const char *method = o->method ? o->method : o->data ? "POST" : "GET";
    weft_http_request *q = NULL;
    int err = weft_http_request_new(&q, method, url);
    for (int i = 0; !err && i < o->nheaders; i++) {
        const char *h = o->headers[i], *colon = strchr(h, ':');
        if (!colon) { err = WEFT_EINVAL; break; }
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(colon - h), h);
        err = weft_http_request_add_header(q, name, colon + 1 + strspn(colon + 1, " \t"));
    }
    if (!err && o->data) err = weft_http_request_set_body(q, o->data, strlen(o->data), o->content_type);
    if (err) {
        weft_http_request_free(q);
        return err;
    }
    *out = q;
    return 0;
}

/* ------------------------------------------------------------ one fetch */

typedef struct job {
    const fetch_opts *o;
    weft_http_client *c;
    const char *url;
    int err, status;
    size_t size;
    weft_http_timings t;
    const char *why;            /* what the error is about, if not the request */
} job;

static double ms(int64_t ns) { return (double)ns / 1e6; }

/* The file name -O uses: the URL path's last segment, or index.html. */
static void remote_name(const char *url, char *buf, size_t cap) {
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    const char *last = p ? strrchr(p, '/') + 1 : "";
    size_t n = strcspn(last, "?#");
    snprintf(buf, cap, "%.*s", (int)n, n ? last : "index.html");
}

static void progress(size_t got, const char *clen, int64_t start) {
    long long total = clen ? atoll(clen) : 0;
    double secs = ms(weft_now() - start) / 1000;
    if (total > 0) {
        int w = (int)(30 * (double)got / (double)total);
        fprintf(stderr, "\r[%-30.*s] %3d%% %.1f MB  %.1f MB/s ", w, "##############################",
                (int)(100 * (double)got / (double)total), (double)got / 1e6, (double)got / 1e6 / secs);
    } else {
        fprintf(stderr, "\r%.1f MB  %.1f MB/s ", (double)got / 1e6, (double)got / 1e6 / secs);
    }
}

static int read_body(job *j, weft_http_response *r, FILE *f) {
    enum { BUF = 64 * 1024 };   /* on the heap: a task's stack is 64 KiB */
    char *buf = malloc(BUF);
    if (!buf) return WEFT_ENOMEM;
    bool bar = isatty(2) && j->o->nurls == 1;
    int64_t start = weft_now(), last = start;
    ssize_t n;
    while ((n = weft_http_response_read(r, buf, BUF)) > 0) {
        j->size += (size_t)n;
        if (f && fwrite(buf, 1, (size_t)n, f) != (size_t)n) {
            j->why = "writing the file";
            n = -errno;
            break;
        }
        /* The bar appears only for downloads that last, and at 10 Hz. */
        if (bar && weft_now() - last > 100 * WEFT_MILLISECOND && weft_now() - start > 500 * WEFT_MILLISECOND) {
            progress(j->size, weft_http_response_header(r, "content-length"), start);
            last = weft_now();
        }
    }
    if (bar && last != start) fputs("\n", stderr);
    free(buf);
    return (int)n;
}

static void *fetch_one(void *arg) {
    job *j = arg;
    weft_http_request *q;
    j->err = fetch_request(j->o, j->url, &q);
    if (j->err) return NULL;
    weft_http_response *r;
    j->err = weft_http_send(j->c, q, WEFT_HTTP_STREAM, &r);
    weft_http_request_free(q);
    if (j->err) return NULL;
    j->status = weft_http_response_status(r);
    FILE *f = NULL;
    char name[256];
    const char *path = j->o->out_file;
    if (j->o->remote_name) { remote_name(j->url, name, sizeof name); path = name; }
    if (path && !(f = fopen(path, "wb"))) { j->err = -errno; j->why = path; }
    if (!j->err) j->err = read_body(j, r, f);
    if (f && fclose(f) && !j->err) { j->err = -errno; j->why = path; }
    weft_http_response_timings(r, &j->t);
    weft_http_response_free(r);
    return NULL;
}

static int fetch_all(const fetch_opts *o) {
    weft_http_client *c;
    int err = weft_http_client_new(&c, &o->client);
    if (err) { fprintf(stderr, "weft-fetch: %s\n", weft_strerror(err)); return 1; }
    job *jobs = calloc((size_t)o->nurls, sizeof *jobs);
    weft_group g;
    weft_group_enter(&g);
    for (int i = 0; i < o->nurls; i++) {
        jobs[i] = (job){ .o = o, .c = c, .url = o->urls[i], .err = WEFT_ECANCELED };
        weft_group_spawn(&g, NULL, fetch_one, &jobs[i]);
    }
    weft_group_leave(&g);
    int failed = 0;
    for (int i = 0; i < o->nurls; i++) {
        job *j = &jobs[i];
        if (j->err) {
            fprintf(stderr, "weft-fetch: %s: %s%s%s\n", j->url, j->why ? j->why : "",
                    j->why ? ": " : "", weft_strerror(j->err));
            failed = 1;
            continue;
        }
        printf("%s  %d  %zu bytes  dns %.2f ms  connect %.2f ms  tls %.2f ms  first-byte %.2f ms  total %.2f ms%s\n",
               j->url, j->status, j->size, ms(j->t.dns), ms(j->t.connect), ms(j->t.tls),
               ms(j->t.first_byte), ms(j->t.total), j->t.reused ? "  (reused)" : "");
    }
    free(jobs);
    weft_http_client_free(c);
    return failed;
}

static int main_task(void *arg) {
    const fetch_opts *o = arg;
    return o->requests > 0 ? fetch_load(o) : fetch_all(o);
}

/* ------------------------------------------------------------- options */

int main(int argc, char **argv) {
    static fetch_opts o;
    enum { OPT_JSON = 256, OPT_CACERT, OPT_TIMEOUT, OPT_HELP };
    static const struct option longs[] = {
        { "json", required_argument, 0, OPT_JSON }, { "cacert", required_argument, 0, OPT_CACERT },
        { "timeout", required_argument, 0, OPT_TIMEOUT }, { "help", no_argument, 0, OPT_HELP },
        { "insecure", no_argument, 0, 'k' }, { "location", no_argument, 0, 'L' },
        { 0, 0, 0, 0 },
    };
    for (int ch; (ch = getopt_long(argc, argv, "X:H:d:Lko:On:c:h", longs, NULL)) != -1;) {
        switch (ch) {
        case 'X': o.method = optarg; break;
        case 'H':
            if (o.nheaders == 64) { fputs("weft-fetch: too many -H\n", stderr); return 2; }
            o.headers[o.nheaders++] = optarg;
            break;
        case 'd': o.data = optarg; o.content_type = "application/x-www-form-urlencoded"; break;
        case OPT_JSON: o.data = optarg; o.content_type = "application/json"; break;
        case 'L': o.client.follow_redirects = 1; break;
        case 'k': o.client.tls.flags |= WEFT_TLS_INSECURE_SKIP_VERIFY; break;
        case OPT_CACERT: o.client.tls.ca_file = optarg; break;
        case OPT_TIMEOUT: {
            double s = atof(optarg);
            if (s <= 0) { fputs("weft-fetch: --timeout wants seconds > 0\n", stderr); return 2; }
            int64_t t = (int64_t)(s * 1e9);
            o.client.connect_timeout = o.client.read_timeout = t;
            o.client.write_timeout = o.client.pool_timeout = t;
            break;
        }
        case 'o': o.out_file = optarg; break;
        case 'O': o.remote_name = 1; break;
        case 'n': o.requests = atol(optarg); break;
        case 'c': o.conns = atol(optarg); break;
        case 'h': case OPT_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    o.urls = argv + optind;
    o.nurls = argc - optind;
    if (o.nurls < 1 || (o.out_file && o.nurls > 1) || (o.requests > 0 && o.nurls != 1) || o.requests < 0 ||
        o.conns < 0) {
        usage(stderr);
        return 2;
    }
    int rc = weft_run(main_task, &o);
    if (rc < 0) {
        fprintf(stderr, "weft-fetch: %s\n", weft_strerror(rc));
        return 1;
    }
    return rc;
}
