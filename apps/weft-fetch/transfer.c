/* One transfer as curl makes it: the request sent, the heads shown (-v to
 * stderr, -i/-I into the output) through the request's head hook, the body
 * written to stdout or a file, -f's verdict, -w's report, the error as
 * curl words it and its exit code; --retry around all of it. fetch_all
 * runs the URLs one after another, or -Z at once (at most --parallel-max),
 * all on one client, so that connections are reused between them as curl
 * reuses its own.
 */
#include "fetch.h"

#include <errno.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct xfer {
    const fetch_opts *o;
    weft_http_client *c;
    const fetch_url *u;
    char *url;                  /* effective (malloc'd) */
    FILE *out;                  /* NULL until the first byte to write */
    bool out_failed;
    int64_t t0, t_first, t_sent;
    int heads, sent;            /* final response heads seen, request heads sent */
    size_t size, header_size, request_size;
    int status, rc;
    weft_http_timings t;
    weft_http_response *r;      /* kept for -w's %header{} */
    char msg[512];
} xfer;

static double secs(int64_t ns) { return (double)ns / 1e9; }

/* ------------------------------------------------------------ the output */

/* The file -O names: the URL path's last segment. */
static const char *remote_name(const char *url, char *buf, size_t cap) {
    const char *p = strstr(url, "://");
    p = p ? p + 3 + strcspn(p + 3, "/?#") : url;
    size_t plen = strcspn(p, "?#");
    const char *last = p;
    for (const char *s = p; s < p + plen; s++) if (*s == '/') last = s + 1;
    snprintf(buf, cap, "%.*s", (int)(p + plen - last), last);
    return buf;
}

/* Opens the output on its first use (curl creates no file for a transfer
 * that fails before its response). */
static FILE *out_get(xfer *x) {
    if (x->out || x->out_failed) return x->out;
    char name[1024];
    const char *path = x->u->remote_name ? remote_name(x->url, name, sizeof name) : x->u->out;
    if (!path || !strcmp(path, "-")) return x->out = stdout;
    if (!*path) {
        if (!x->o->silent) fputs("weft-fetch: Remote file name has no length!\n", stderr);
        snprintf(x->msg, sizeof x->msg, "Failed writing received data to disk/application");
    } else if (!(x->out = fopen(path, "wb"))) {
        if (!x->o->silent) fprintf(stderr, "Warning: Failed to open the file %s: %s\n", path, strerror(errno));
        snprintf(x->msg, sizeof x->msg, "Failure writing output to destination");
    }
    x->out_failed = !x->out;
    if (!x->out) x->rc = FX_WRITE;
    return x->out;
}

static void out_write(xfer *x, const void *p, size_t n) {
    FILE *f = out_get(x);
    if (f && n && fwrite(p, 1, n, f) != n && !x->rc) {
        x->rc = FX_WRITE;
        snprintf(x->msg, sizeof x->msg, "Failed writing body");
    }
}

/* Buffered bytes meet a full disk here: the same error as a write's. */
static void out_close(xfer *x) {
    int err = x->out == stdout ? fflush(stdout) : x->out ? fclose(x->out) : 0;
    if (err && !x->rc) {
        x->rc = FX_WRITE;
        snprintf(x->msg, sizeof x->msg, "Failed writing body");
    }
    x->out = NULL;
}

/* ------------------------------------------------------------- the heads */

/* Each line of a head, prefixed, to stderr: -v's "> " and "< ". */
static void show_lines(const char *prefix, const char *head, size_t len) {
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(head + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - head - i) + 1 : len - i;
        fprintf(stderr, "%s%.*s", prefix, (int)n, head + i);
        i += n;
    }
}

static void on_head(void *ud, int kind, const char *head, size_t len) {
    xfer *x = ud;
    if (kind == WEFT_HTTP_HEAD_SENT) {
        x->sent++;
        x->t_sent = weft_now();
        x->request_size += len;
        if (x->o->verbose) show_lines("> ", head, len);
        return;
    }
    bool interim = len > 9 && head[9] == '1';
    if (!interim) {
        x->heads++;
        x->t_first = weft_now();
    }
    x->header_size += len;
    if (x->o->verbose) show_lines("< ", head, len);
    if (x->o->include || x->o->head) out_write(x, head, len);
}

/* ------------------------------------------------------------ errors */

/* "host" and "port" of a URL, for curl's messages. */
static void host_port(const char *url, char *host, size_t hcap, char *port, size_t pcap) {
    const char *h = strstr(url, "://");
    bool tls = h && !strncasecmp(url, "https", 5);
    h = h ? h + 3 : url;
    size_t n = strcspn(h, "/?#");
    const char *at = memchr(h, '@', n);
    if (at) n -= (size_t)(at + 1 - h), h = at + 1;
    const char *colon = h[0] == '[' ? memchr(h, ']', n) : h;
    colon = colon ? memchr(colon, ':', n - (size_t)(colon - h)) : NULL;
    size_t hl = colon ? (size_t)(colon - h) : n;
    if (hl && h[0] == '[') h++, hl -= 2;
    snprintf(host, hcap, "%.*s", (int)hl, h);
    if (colon) snprintf(port, pcap, "%.*s", (int)(n - (size_t)(colon + 1 - h)), colon + 1);
    else snprintf(port, pcap, "%s", tls ? "443" : "80");
}

int fetch_exit_code(int err, const char *url, char *msg, size_t len) {
    char host[256], port[16];
    host_port(url, host, sizeof host, port, sizeof port);
    switch (err) {
    case WEFT_EURL: snprintf(msg, len, "URL using bad/illegal format or missing URL"); return FX_URL;
    case WEFT_ENOTFOUND: case WEFT_EDNSAGAIN: case WEFT_EDNSFAIL:
        snprintf(msg, len, "Could not resolve host: %s", host);
        return FX_RESOLVE;
    case -ECONNREFUSED: case -ENETUNREACH: case -EHOSTUNREACH: case -EADDRNOTAVAIL:
        snprintf(msg, len, "Failed to connect to %s port %s after 0 ms: Couldn't connect to server", host, port);
        return FX_CONNECT;
    case WEFT_ECONNTIMEOUT: snprintf(msg, len, "Connection timed out"); return FX_TIMEOUT;
    case WEFT_ETIMEDOUT: case WEFT_EREADTIMEOUT: case WEFT_EWRITETIMEOUT: case WEFT_EPOOLTIMEOUT:
        snprintf(msg, len, "Operation timed out");
        return FX_TIMEOUT;
    case WEFT_EREDIRECTS: return FX_REDIRECTS;   /* the caller words it: it knows the count */
    case WEFT_ECERTHOST:
        snprintf(msg, len, "SSL: no alternative certificate subject name matches target host name '%s'", host);
        return FX_CERT;
    case WEFT_ECERT: case WEFT_ECERTEXPIRED: case WEFT_ECERTSELFSIGNED: case WEFT_ECERTUNTRUSTED:
        snprintf(msg, len, "SSL certificate problem: %s", weft_strerror(err));
        return FX_CERT;
    case WEFT_ETLS: snprintf(msg, len, "SSL connect error: %s", weft_strerror(err)); return FX_TLS;
    case WEFT_EOF: snprintf(msg, len, "Empty reply from server"); return FX_EMPTY;
    case WEFT_EHTTP: case WEFT_ETOOBIG: snprintf(msg, len, "Weird server reply"); return FX_WEIRD;
    case -EPIPE: snprintf(msg, len, "Send failure: Broken pipe"); return FX_SEND;
    case -ECONNRESET: snprintf(msg, len, "Recv failure: Connection reset by peer"); return FX_RECV;
    case WEFT_EDECODE: snprintf(msg, len, "Error while processing content unencoding"); return FX_DECODE;
    case WEFT_ENOMEM: snprintf(msg, len, "Out of memory"); return FX_NOMEM;
    default: snprintf(msg, len, "Recv failure: %s", weft_strerror(err)); return FX_RECV;
    }
}

/* An error while reading the body: a cut body is curl's "partial file". */
static void body_error(xfer *x, int err) {
    const char *cl = weft_http_response_header(x->r, "content-length");
    if (err == WEFT_EOF && cl) {
        x->rc = FX_PARTIAL;
        snprintf(x->msg, sizeof x->msg, "transfer closed with %lld bytes remaining to read",
                 atoll(cl) - (long long)x->size);
    } else if (err == WEFT_EOF || err == WEFT_EHTTP) {
        x->rc = err == WEFT_EOF ? FX_PARTIAL : FX_RECV;
        snprintf(x->msg, sizeof x->msg, "transfer closed with outstanding read data remaining");
    } else {
        x->rc = fetch_exit_code(err, x->url, x->msg, sizeof x->msg);
    }
    if (err == WEFT_ETIMEDOUT)
        snprintf(x->msg, sizeof x->msg, "Operation timed out after %lld milliseconds with %zu bytes received",
                 (long long)((weft_now() - x->t0) / WEFT_MILLISECOND), x->size);
}

/* The message of a failed send, where curl says more than fetch_exit_code. */
static void send_error(xfer *x, int err) {
    x->rc = fetch_exit_code(err, x->url, x->msg, sizeof x->msg);
    long long ms = (long long)((weft_now() - x->t0) / WEFT_MILLISECOND);
    if (err == WEFT_ETIMEDOUT)
        snprintf(x->msg, sizeof x->msg, "Operation timed out after %lld milliseconds with 0 bytes received", ms);
    else if (err == WEFT_ECONNTIMEOUT)
        snprintf(x->msg, sizeof x->msg, "Connection timed out after %lld milliseconds", ms);
    else if (err == WEFT_EREDIRECTS)
        snprintf(x->msg, sizeof x->msg, "Maximum (%ld) redirects followed", x->o->max_redirs);
    else if ((err == -ENOENT || err == -EACCES) && x->o->client.tls.ca_file && access(x->o->client.tls.ca_file, R_OK))
        x->rc = FX_CACERT, snprintf(x->msg, sizeof x->msg, "error setting certificate file: %s", x->o->client.tls.ca_file);
    else if (err == -ENOENT || err == -EACCES || (err == WEFT_ETLS && x->o->client.tls.cert_file && !x->sent))
        x->rc = FX_CERT_FILE, snprintf(x->msg, sizeof x->msg, "could not load PEM client certificate");
}

/* --------------------------------------------------------------- the body */

static void progress(size_t got, const char *clen, int64_t start) {
    long long total = clen ? atoll(clen) : 0;
    double s = secs(weft_now() - start);
    if (total > 0) {
        int w = (int)(30 * (double)got / (double)total);
        fprintf(stderr, "\r[%-30.*s] %3d%% %.1f MB  %.1f MB/s ", w, "##############################",
                (int)(100 * (double)got / (double)total), (double)got / 1e6, (double)got / 1e6 / s);
    } else {
        fprintf(stderr, "\r%.1f MB  %.1f MB/s ", (double)got / 1e6, (double)got / 1e6 / s);
    }
}

static void read_body(xfer *x) {
    enum { BUF = 64 * 1024 };   /* on the heap: a task's stack is 64 KiB */
    char *buf = malloc(BUF);
    if (!buf) { x->rc = FX_NOMEM; snprintf(x->msg, sizeof x->msg, "Out of memory"); return; }
    /* The bar: asked for (-#), or a long download to a file seen on a terminal. */
    bool bar = x->o->progress_bar || (isatty(2) && !x->o->silent && x->o->nurls == 1 && !x->o->parallel &&
                                      (x->u->out || x->u->remote_name) && !isatty(1));
    bool notes = x->o->verbose && !isatty(1);
    int64_t start = weft_now(), last = start;
    ssize_t n;
    while (!x->rc && (n = weft_http_response_read(x->r, buf, BUF)) > 0) {
        if (notes) fprintf(stderr, "{ [%zd bytes data]\n", n);
        x->size += (size_t)n;
        out_write(x, buf, (size_t)n);
        if (bar && weft_now() - last > 100 * WEFT_MILLISECOND &&
            (x->o->progress_bar || weft_now() - start > 500 * WEFT_MILLISECOND)) {
            progress(x->size, weft_http_response_header(x->r, "content-length"), start);
            last = weft_now();
        }
    }
    if (bar && last != start) fputs("\n", stderr);
    if (!x->rc && n < 0) body_error(x, (int)n);
    free(buf);
}

/* ----------------------------------------------------------------- -w */

static void wo_time(FILE *f, int64_t ns) { fprintf(f, "%.6f", ns > 0 ? secs(ns) : 0.0); }

/* Where a Location not followed points, absolute: curl resolves it
 * against the URL it came from (a path, or a reference beside it). */
static void redirect_url(FILE *f, const xfer *x, const char *loc) {
    if (!loc || x->o->location) return;
    const char *from = weft_http_response_url(x->r), *sep = strstr(from, "://");
    if (strstr(loc, "://") || !sep) { fputs(loc, f); return; }
    const char *path = sep + 3 + strcspn(sep + 3, "/");
    if (loc[0] == '/' && loc[1] == '/') fprintf(f, "%.*s%s", (int)(sep + 1 - from), from, loc);
    else if (loc[0] == '/') fprintf(f, "%.*s%s", (int)(path - from), from, loc);
    else {
        size_t dir = strcspn(path, "?#");
        while (dir && path[dir - 1] != '/') dir--;
        fprintf(f, "%.*s%s%s", (int)(path - from + (ptrdiff_t)dir), from, dir ? "" : "/", loc);
    }
}

/* One %{name}; returns 0, or -1 for a name it does not know. */
static int wo_var(const xfer *x, FILE **f, const char *name, size_t n) {
#define IS(s) (n == sizeof s - 1 && !memcmp(name, s, n))
    const weft_http_timings *t = &x->t;
    int64_t total = weft_now() - x->t0, connect = t->dns + t->connect;
    const char *loc = x->r ? weft_http_response_header(x->r, "location") : NULL;
    const char *ctype = x->r ? weft_http_response_header(x->r, "content-type") : NULL;
    if (IS("http_code") || IS("response_code")) fprintf(*f, "%03d", x->status);
    else if (IS("size_download")) fprintf(*f, "%zu", x->size);
    else if (IS("size_header")) fprintf(*f, "%zu", x->header_size);
    else if (IS("size_request")) fprintf(*f, "%zu", x->request_size);
    else if (IS("time_total")) wo_time(*f, total);
    else if (IS("time_namelookup")) wo_time(*f, t->dns);
    else if (IS("time_connect")) wo_time(*f, connect);
    else if (IS("time_appconnect")) wo_time(*f, t->tls ? connect + t->tls : 0);
    else if (IS("time_pretransfer")) wo_time(*f, connect + t->tls);
    else if (IS("time_starttransfer")) wo_time(*f, x->t_first ? x->t_first - x->t0 : 0);
    else if (IS("time_redirect")) wo_time(*f, x->heads > 1 ? x->t_sent - x->t0 : 0);
    else if (IS("speed_download")) fprintf(*f, "%.0f", total > 0 ? (double)x->size / secs(total) : 0.0);
    else if (IS("url_effective")) fputs(x->r ? weft_http_response_url(x->r) : x->url, *f);
    else if (IS("url")) fputs(x->u->url, *f);
    else if (IS("num_redirects")) fprintf(*f, "%d", x->heads > 1 ? x->heads - 1 : 0);
    else if (IS("num_connects")) fprintf(*f, "%d", x->sent && !t->reused);
    else if (IS("content_type")) fputs(ctype ? ctype : "", *f);
    else if (IS("redirect_url")) redirect_url(*f, x, loc);
    else if (IS("exitcode")) fprintf(*f, "%d", x->rc);
    else if (IS("errormsg")) fputs(x->rc ? x->msg : "", *f);
    else if (IS("http_version")) fputs(x->status ? "1.1" : "0", *f);
    else if (IS("scheme")) fputs(strncasecmp(x->url, "https:", 6) ? "HTTP" : "HTTPS", *f);
    else if (IS("stdout")) *f = stdout;
    else if (IS("stderr")) *f = stderr;
    else return -1;
    return 0;
#undef IS
}

/* -w's format: %{var}, %header{name}, %%, and the escapes \n \r \t \\. */
static void write_out(const xfer *x, const char *fmt) {
    FILE *f = stdout;
    for (const char *p = fmt; *p; p++) {
        if (*p == '\\' && strchr("nrt\\", p[1])) {
            p++;
            fputc(*p == 'n' ? '\n' : *p == 'r' ? '\r' : *p == 't' ? '\t' : '\\', f);
        } else if (*p == '%' && p[1] == '%') {
            fputc('%', f);
            p++;
        } else if (*p == '%' && (p[1] == '{' || !strncmp(p + 1, "header{", 7)) && strchr(p, '}')) {
            bool hdr = p[1] == 'h';
            const char *name = p + (hdr ? 8 : 2), *end = strchr(name, '}');
            char h[256];
            snprintf(h, sizeof h, "%.*s", (int)(end - name), name);
            const char *v = hdr && x->r ? weft_http_response_header(x->r, h) : NULL;
            if (hdr) fputs(v ? v : "", f);
            else if (wo_var(x, &f, name, (size_t)(end - name)))
                fprintf(stderr, "weft-fetch: unknown --write-out variable: '%s'\n", h);
            p = end;
        } else {
            fputc(*p, f);
        }
    }
    fflush(f);
}

/* ------------------------------------------------------------ a transfer */

/* Sends the request and handles its response; fills x->rc and x->msg. */
static void exchange(xfer *x, weft_http_request *q) {
    const fetch_opts *o = x->o;
    int err = weft_http_send(x->c, q, WEFT_HTTP_STREAM | (o->compressed ? 0 : WEFT_HTTP_RAW), &x->r);
    if (err) { send_error(x, err); return; }
    x->status = weft_http_response_status(x->r);
    weft_http_response_timings(x->r, &x->t);
    bool redirect = x->status >= 300 && x->status < 400 && weft_http_response_header(x->r, "location");
    if (o->location && o->max_redirs == 0 && redirect) {
        x->rc = FX_REDIRECTS;
        snprintf(x->msg, sizeof x->msg, "Maximum (0) redirects followed");
        return;
    }
    bool failed = o->fail && x->status >= 400;
    if (!failed || o->fail == 2) read_body(x);
    if (failed && !x->rc) {
        x->rc = FX_HTTP;
        snprintf(x->msg, sizeof x->msg, "The requested URL returned error: %d", x->status);
    }
    /* -o's file is made even for an empty body. */
    if (!x->rc && !x->out) out_get(x);
}

/* One attempt: returns 1 if --retry should try again. */
static int attempt(xfer *x) {
    const fetch_opts *o = x->o;
    FILE *uf = NULL;
    weft_http_request *q = NULL;
    x->t0 = weft_now();
    const char *colon = strstr(x->url, "://");
    if (colon && !(colon - x->url == 4 && !strncasecmp(x->url, "http", 4)) &&
        !(colon - x->url == 5 && !strncasecmp(x->url, "https", 5))) {
        x->rc = FX_PROTOCOL;
        snprintf(x->msg, sizeof x->msg, "Protocol \"%.*s\" not supported or disabled in libcurl",
                 (int)(colon - x->url), x->url);
        return 0;
    }
    x->rc = fetch_request(o, x->u->url, x->u->upload, &uf, &q, x->msg, sizeof x->msg);
    if (x->rc) return 0;
    weft_http_request_on_head(q, on_head, x);
    weft_scope sc;
    if (o->max_time > 0) weft_timeout_enter(&sc, (int64_t)(o->max_time * 1e9));
    exchange(x, q);
    if (o->max_time > 0) weft_scope_leave(&sc);
    weft_http_request_free(q);
    if (uf && uf != stdin) fclose(uf);
    return x->rc == FX_TIMEOUT || (x->status == 408 || x->status == 429 || x->status == 500 ||
                                   x->status == 502 || x->status == 503 || x->status == 504);
}

static void report(xfer *x) {
    const fetch_opts *o = x->o;
    if (o->write_out) write_out(x, o->write_out);
    if (x->rc && (!o->silent || o->show_error)) fprintf(stderr, "weft-fetch: (%d) %s\n", x->rc, x->msg);
    if (o->timings && !x->rc)
        fprintf(stderr, "%s  %d  %zu bytes  dns %.2f ms  connect %.2f ms  tls %.2f ms  first-byte %.2f ms  total %.2f ms%s\n",
                x->u->url, x->status, x->size, secs(x->t.dns) * 1e3, secs(x->t.connect) * 1e3,
                secs(x->t.tls) * 1e3, secs(x->t.first_byte) * 1e3, secs(x->t.total) * 1e3,
                x->t.reused ? "  (reused)" : "");
}

/* Resets what one attempt leaves, for the next. */
static void reset(xfer *x) {
    out_close(x);
    weft_http_response_free(x->r);
    xfer keep = { .o = x->o, .c = x->c, .u = x->u, .url = x->url };
    *x = keep;
}

static int transfer(const fetch_opts *o, weft_http_client *c, const fetch_url *u) {
    xfer x = { .o = o, .c = c, .u = u, .url = fetch_effective_url(o, u->url, u->upload) };
    if (!x.url) {
        fputs("weft-fetch: (27) Out of memory\n", stderr);
        return FX_NOMEM;
    }
    int64_t delay = o->retry_delay > 0 ? (int64_t)(o->retry_delay * 1e9) : WEFT_SECOND;
    for (long left = o->retry; attempt(&x) && left > 0; left--) {
        if (!o->silent)
            fprintf(stderr, "Warning: Problem : %s. Will retry in %lld seconds. %ld retries left.\n",
                    x.rc == FX_TIMEOUT ? "timeout" : "HTTP error", (long long)(delay / WEFT_SECOND), left);
        reset(&x);
        if (weft_sleep(delay)) break;
        if (o->retry_delay <= 0) delay *= 2;
    }
    out_close(&x);
    report(&x);
    weft_http_response_free(x.r);
    free(x.url);
    return x.rc;
}

/* --------------------------------------------------------- every URL */

typedef struct runner {
    const fetch_opts *o;
    weft_http_client *c;
    int next, rc;
} runner;

static void *worker(void *arg) {
    runner *r = arg;
    while (r->next < r->o->nurls) {
        int rc = transfer(r->o, r->c, &r->o->urls[r->next++]);
        if (rc || !r->o->parallel) r->rc = rc;   /* -Z: the last failure; else the last transfer's */
    }
    return NULL;
}

int fetch_all(const fetch_opts *o) {
    weft_http_client_opts co = o->client;
    /* curl waits as long as the server takes, and 300 s for a connection. */
    if (!co.read_timeout) co.read_timeout = co.write_timeout = co.pool_timeout = WEFT_FOREVER;
    if (!co.connect_timeout) co.connect_timeout = 300 * WEFT_SECOND;
    co.follow_redirects = o->location && o->max_redirs != 0;
    co.max_redirects = o->max_redirs < 0 ? ~0u : (unsigned)o->max_redirs;
    co.max_connections = o->parallel ? (size_t)o->parallel_max : 1;
    co.resolve = o->resolve;
    runner r = { .o = o };
    int err = weft_http_client_new(&r.c, &co);
    if (err) {
        fprintf(stderr, "weft-fetch: (%d) %s\n", err == WEFT_ENOMEM ? FX_NOMEM : FX_USAGE, weft_strerror(err));
        return err == WEFT_ENOMEM ? FX_NOMEM : FX_USAGE;
    }
    long tasks = o->parallel ? (o->parallel_max < o->nurls ? o->parallel_max : o->nurls) : 1;
    weft_group g;
    weft_group_enter(&g);
    for (long i = 0; i < tasks; i++)
        if (weft_group_spawn(&g, NULL, worker, &r)) { r.rc = FX_NOMEM; break; }
    if (r.rc == FX_NOMEM) fputs("weft-fetch: (27) Out of memory\n", stderr);
    weft_group_leave(&g);
    weft_http_client_free(r.c);
    return r.rc;
}
