/* weft-fetch: a curl for weft's HTTP client.
 *
 *     weft-fetch [options] URL...     as curl: the bodies to stdout (or -o)
 *     weft-fetch -n N -c C URL        load mode: N requests over C connections
 *
 * For each option it shares with curl 7.88 it takes the same arguments,
 * writes the same stdout and files and exits with the same code (curl's
 * codes: 6 resolving, 7 connecting, 22 -f, 28 timeouts...), so a curl
 * user's fingers and scripts work with it. What curl lacks stays under
 * options of its own: the load mode (-n, -c), --timings (where each
 * request's time went) and -# (a progress bar; shown by itself for a long
 * download to a file on a terminal). This file reads the options;
 * transfer.c runs the transfers, request.c builds the requests, load.c
 * is the load mode.
 */
#include "fetch.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fputs("usage: weft-fetch [options] URL...\n"
          "As curl: each body goes to stdout; exit codes are curl's.\n"
          "  -o, --output FILE        write the next URL's body to FILE (- for stdout)\n"
          "  -O, --remote-name        write it to a file named as the URL's last segment\n"
          "  -s, --silent             no error messages; -S, --show-error: errors even so\n"
          "  -v, --verbose            request and response heads to stderr (> and <)\n"
          "  -i, --include            the response head before the body; -I, --head: HEAD, head only\n"
          "  -w, --write-out FMT      print FMT after each transfer: %{http_code}, %{size_download},\n"
          "                           %{time_total}, %{time_connect}, %{time_starttransfer},\n"
          "                           %{url_effective}, %{num_redirects}, %header{name}... (@FILE)\n"
          "  -X, --request METHOD     request method\n"
          "  -H, --header 'N: v'      add a header; 'N:' removes one, 'N;' sends it empty\n"
          "  -d, --data DATA          form body (repeatable, joined by &; @FILE, CR/LF dropped)\n"
          "      --data-binary DATA   as -d, a @FILE taken as it is; --data-raw: no @\n"
          "      --data-urlencode D   as -d, percent-encoded (content, name=content, name@file)\n"
          "      --json DATA          JSON body, Content-Type and Accept application/json\n"
          "  -F, --form NAME=VALUE    multipart body (NAME=@FILE a file, NAME=<FILE its text)\n"
          "  -G, --get                the -d data in the URL's query, GET\n"
          "  -T, --upload-file FILE   PUT FILE (- for stdin)\n"
          "  -A, --user-agent UA      -e, --referer URL   -b, --cookie 'N=V; ...' or FILE\n"
          "  -u, --user USER:PASS     basic authentication   -r, --range RANGE\n"
          "  -L, --location           follow redirects; --max-redirs N (default 50)\n"
          "  -f, --fail               exit 22 on a status >= 400, without the body;\n"
          "      --fail-with-body     exit 22, with it\n"
          "      --compressed         ask for gzip/deflate and decode it\n"
          "  -m, --max-time SECS      the whole transfer; --connect-timeout SECS\n"
          "  -k, --insecure           no TLS verification; --cacert FILE, --cert FILE, --key FILE\n"
          "      --resolve H:P:ADDR   connect to ADDR for host H, port P\n"
          "      --http1.1            HTTP/1.1 only (the default)\n"
          "      --http2              HTTP/2 over https when the server picks it by ALPN\n"
          "      --http2-prior-knowledge  HTTP/2 only: h2c over http, h2 over https\n"
          "  -Z, --parallel           every URL at once; --parallel-max N (default 50)\n"
          "      --retry N            retry timeouts and 408/429/5xx; --retry-delay SECS\n"
          "weft-fetch's own:\n"
          "  -#, --progress-bar       a progress bar on stderr\n"
          "      --timings            a line per URL on stderr: status, size, dns, connect,\n"
          "                           tls, first byte and total times\n"
          "      --timeout SECS       weft's connect, read, write and pool timeouts\n"
          "  -n N -c C                load mode: N requests over C connections, the rate,\n"
          "                           latency percentiles and a histogram\n"
          "  -t, --threads T          the load mode on T loops, each on its own thread and\n"
          "                           with its share of C (wrk's -t); 0 = one per CPU; 1\n", f);
}

enum {
    O_JSON = 256, O_CACERT, O_CERT, O_KEY, O_TIMEOUT, O_HELP, O_DATA_BINARY, O_DATA_RAW, O_DATA_URLENCODE,
    O_MAX_REDIRS, O_FAIL_BODY, O_COMPRESSED, O_CONNECT_TIMEOUT, O_HTTP11, O_RESOLVE, O_PARALLEL_MAX,
    O_RETRY, O_RETRY_DELAY, O_TIMINGS, O_FORM_STRING, O_HTTP2, O_HTTP2_PK,
};

static const struct option longs[] = {
    { "output", required_argument, 0, 'o' }, { "remote-name", no_argument, 0, 'O' },
    { "silent", no_argument, 0, 's' }, { "show-error", no_argument, 0, 'S' },
    { "verbose", no_argument, 0, 'v' }, { "include", no_argument, 0, 'i' }, { "head", no_argument, 0, 'I' },
    { "write-out", required_argument, 0, 'w' }, { "request", required_argument, 0, 'X' },
    { "header", required_argument, 0, 'H' }, { "data", required_argument, 0, 'd' },
    { "data-ascii", required_argument, 0, 'd' }, { "data-binary", required_argument, 0, O_DATA_BINARY },
    { "data-raw", required_argument, 0, O_DATA_RAW }, { "data-urlencode", required_argument, 0, O_DATA_URLENCODE },
    { "json", required_argument, 0, O_JSON }, { "form", required_argument, 0, 'F' },
    { "form-string", required_argument, 0, O_FORM_STRING },
    { "get", no_argument, 0, 'G' }, { "upload-file", required_argument, 0, 'T' },
    { "user-agent", required_argument, 0, 'A' }, { "referer", required_argument, 0, 'e' },
    { "cookie", required_argument, 0, 'b' }, { "user", required_argument, 0, 'u' },
    { "range", required_argument, 0, 'r' }, { "location", no_argument, 0, 'L' },
    { "max-redirs", required_argument, 0, O_MAX_REDIRS }, { "fail", no_argument, 0, 'f' },
    { "fail-with-body", no_argument, 0, O_FAIL_BODY }, { "compressed", no_argument, 0, O_COMPRESSED },
    { "max-time", required_argument, 0, 'm' }, { "connect-timeout", required_argument, 0, O_CONNECT_TIMEOUT },
    { "insecure", no_argument, 0, 'k' }, { "cacert", required_argument, 0, O_CACERT },
    { "cert", required_argument, 0, O_CERT }, { "key", required_argument, 0, O_KEY },
    { "http1.1", no_argument, 0, O_HTTP11 },
    { "http2", no_argument, 0, O_HTTP2 }, { "http2-prior-knowledge", no_argument, 0, O_HTTP2_PK }, { "resolve", required_argument, 0, O_RESOLVE },
    { "parallel", no_argument, 0, 'Z' }, { "parallel-max", required_argument, 0, O_PARALLEL_MAX },
    { "retry", required_argument, 0, O_RETRY }, { "retry-delay", required_argument, 0, O_RETRY_DELAY },
    { "progress-bar", no_argument, 0, '#' }, { "timings", no_argument, 0, O_TIMINGS },
    { "timeout", required_argument, 0, O_TIMEOUT }, { "requests", required_argument, 0, 'n' },
    { "connections", required_argument, 0, 'c' }, { "threads", required_argument, 0, 't' },
    { "help", no_argument, 0, 'h' },
    { 0, 0, 0, 0 },
};

/* curl's words for a usage error; exit code 2. */
static int bad_usage(const char *what, const char *opt) {
    if (what) fprintf(stderr, "weft-fetch: option %s: %s\n", opt, what);
    fputs("weft-fetch: try 'weft-fetch --help' for more information\n", stderr);
    return FX_USAGE;
}

static int number(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < 0) return -1;
    *out = v;
    return 0;
}

static int whole(const char *s, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

/* Grows an array by one element; NULL when out of memory. */
static void *grow(void *arr, int *n, size_t size) {
    char *p = realloc(arr, (size_t)(*n + 1) * size);
    if (p) memset(p + (size_t)*n * size, 0, size), ++*n;
    return p;
}

typedef struct parse {
    fetch_opts *o;
    const char **outs;          /* -o / -O (NULL for -O), in order */
    int nouts;
    const char **uploads;       /* -T, in order */
    int nuploads;
} parse;

/* -d and --data-binary: "@FILE" reads the file (-d drops its CRs and
 * LFs); a file that cannot be read is an empty piece, with curl's warning. */
static int data_arg(parse *p, const char *arg, int binary, int json) {
    fetch_opts *o = p->o;
    char *buf = NULL;
    size_t len = strlen(arg);
    if (arg[0] == '@') {
        if (fetch_read_file(arg + 1, &buf, &len)) {
            if (!o->silent)
                fprintf(stderr, "Warning: Couldn't read data from file \"%s\", this makes an empty POST.\n", arg + 1);
            len = 0;
        }
        size_t k = 0;
        for (size_t i = 0; buf && i < len; i++) if (binary || (buf[i] != '\r' && buf[i] != '\n')) buf[k++] = buf[i];
        if (buf) len = k;
    }
    int err = fetch_data_add(o, buf ? buf : arg[0] == '@' ? "" : arg, len, json ? "" : "&");
    free(buf);
    if (json) o->json = 1;
    return err ? FX_NOMEM : 0;
}

static int add_str(const char ***arr, int *n, const char *s) {
    const char **p = grow(*arr, n, sizeof *p);
    if (!p) return FX_NOMEM;
    p[*n - 1] = s;
    *arr = p;
    return 0;
}

/* The options that set a field and nothing else. */
static int simple(fetch_opts *o, int ch, const char *arg) {
    switch (ch) {
    case 's': o->silent = 1; break;
    case 'S': o->show_error = 1; break;
    case 'v': o->verbose = 1; break;
    case 'i': o->include = 1; break;
    case 'I': o->head = 1; break;
    case 'X': o->method = arg; break;
    case 'G': o->get = 1; break;
    case 'A': o->user_agent = arg; break;
    case 'e': o->referer = arg; break;
    case 'u': o->user = arg; break;
    case 'r': o->range = arg; break;
    case 'L': o->location = 1; break;
    case 'f': o->fail = 1; break;
    case O_FAIL_BODY: o->fail = 2; break;
    case O_COMPRESSED: o->compressed = 1; break;
    case 'k': o->client.tls.flags |= WEFT_TLS_INSECURE_SKIP_VERIFY; break;
    case O_CACERT: o->client.tls.ca_file = arg; break;
    case O_CERT: o->client.tls.cert_file = arg; break;
    case O_KEY: o->client.tls.key_file = arg; break;
    case O_HTTP11: o->client.http_version = WEFT_HTTP_VERSION_1_1; break;
    case O_HTTP2: o->client.http_version = WEFT_HTTP_VERSION_AUTO; break;
    case O_HTTP2_PK: o->client.http_version = WEFT_HTTP_VERSION_2; break;
    case 'Z': o->parallel = 1; break;
    case '#': o->progress_bar = 1; break;
    case O_TIMINGS: o->timings = 1; break;
    default: return -1;
    }
    return 0;
}

static char *write_out_buf;    /* -w @FILE's text */

/* -w @FILE reads the format from FILE. */
static int write_out_arg(fetch_opts *o, const char *arg) {
    if (arg[0] != '@') { o->write_out = arg; return 0; }
    size_t len;
    free(write_out_buf);
    write_out_buf = NULL;
    int err = fetch_read_file(arg + 1, &write_out_buf, &len);
    if (err == -ENOMEM) return FX_NOMEM;
    o->write_out = err ? "" : write_out_buf;
    return 0;
}

/* The options with numbers. */
static int numeric(fetch_opts *o, int ch, const char *arg, const char *name) {
    double d = 0;
    long l = 0;
    bool is_long = ch == O_MAX_REDIRS || ch == O_PARALLEL_MAX || ch == O_RETRY || ch == 'n' || ch == 'c' ||
                   ch == 't';
    if (is_long ? whole(arg, &l) : number(arg, &d)) {
        if (ch == 'c')
            return bad_usage("is the load mode's connection count here (curl's --cookie-jar is not supported)", "-c");
        return bad_usage("expected a proper numerical parameter", name);
    }
    switch (ch) {
    case 'm': o->max_time = d; break;
    case O_CONNECT_TIMEOUT: o->client.connect_timeout = d > 0 ? (int64_t)(d * 1e9) : 0; break;
    case O_MAX_REDIRS: o->max_redirs = l < 0 ? -1 : l; break;
    case O_PARALLEL_MAX: o->parallel_max = l < 1 ? 1 : l > 300 ? 300 : l; break;
    case O_RETRY: o->retry = l < 0 ? 0 : l; break;
    case O_RETRY_DELAY: o->retry_delay = d; break;
    case 'n': o->requests = l; break;
    case 'c': o->conns = l; break;
    case 't': o->threads = l; break;
    case O_TIMEOUT: {
        if (d <= 0) return bad_usage("wants seconds > 0", name);
        int64_t t = (int64_t)(d * 1e9);
        o->client.connect_timeout = o->client.read_timeout = t;
        o->client.write_timeout = o->client.pool_timeout = t;
        break;
    }
    }
    return 0;
}

/* One option; returns 0, or the exit code to stop with. */
static int option(parse *p, int ch, const char *arg, const char *name) {
    fetch_opts *o = p->o;
    if (!simple(o, ch, arg)) return 0;
    switch (ch) {
    case 1: {
        fetch_url *u = grow(o->urls, &o->nurls, sizeof *u);
        if (!u) return FX_NOMEM;
        o->urls = u;
        u[o->nurls - 1].url = arg;
        return 0;
    }
    case 'o': case 'O': return add_str(&p->outs, &p->nouts, ch == 'o' ? arg : NULL);
    case 'T': return add_str(&p->uploads, &p->nuploads, arg);
    case 'H': return add_str(&o->headers, &o->nheaders, arg);
    case O_RESOLVE: return add_str(&o->resolve, &o->nresolve, arg);
    case 'b': {
        if (strchr(arg, '=')) {
            o->cookie = arg;
            return 0;
        }
        /* No '=': a cookie file, as curl reads it; one that cannot be read
         * starts no cookies, silently, as in curl. */
        size_t len;
        char *text;
        int err = fetch_read_file(arg, &text, &len);
        if (err == -ENOMEM) return FX_NOMEM;
        if (!err) {
            free(o->cookie_jar);
            o->cookie_jar = text;
        }
        return 0;
    }
    case 'w': return write_out_arg(o, arg);
    case 'd': return data_arg(p, arg, 0, 0);
    case O_DATA_BINARY: return data_arg(p, arg, 1, 0);
    case O_DATA_RAW: return fetch_data_add(o, arg, strlen(arg), "&") ? FX_NOMEM : 0;
    case O_JSON: return data_arg(p, arg, 1, 1);
    case O_DATA_URLENCODE: {
        int rc = fetch_data_urlencode(o, arg);
        if (rc == FX_READ && !o->silent) fprintf(stderr, "Warning: Couldn't read data from file \"%s\"\n", strchr(arg, '@') + 1);
        return rc == FX_READ ? 0 : rc;
    }
    case 'F': case O_FORM_STRING: {
        fetch_part *parts = grow(o->parts, &o->nparts, sizeof *parts);
        if (!parts) return FX_NOMEM;
        o->parts = parts;
        int rc = fetch_part_parse(&parts[o->nparts - 1], arg);
        if (ch == O_FORM_STRING && !rc) parts[o->nparts - 1].file = parts[o->nparts - 1].contents = 0;
        if (rc) o->nparts--;
        return rc == FX_USAGE ? bad_usage("is badly used here", name) : rc;
    }
    case 'h': usage(stdout); return -1;
    case '?': return bad_usage("is unknown", name);
    case ':': return bad_usage("requires parameter", name);
    default: return numeric(o, ch, arg, name);
    }
}

/* The option's name as typed, for messages. */
static const char *name_of(char **argv, int ch) {
    static char s[3] = "-?";
    if (optind > 0 && argv[optind - 1] && !strncmp(argv[optind - 1], "--", 2)) {
        static char l[64];
        snprintf(l, sizeof l, "%.*s", (int)strcspn(argv[optind - 1], "="), argv[optind - 1]);
        return l;
    }
    s[1] = (char)(ch == '?' || ch == ':' ? optopt : ch);
    return s;
}

/* Gives each URL, in order, the -o/-O and -T given, in order. */
static int assign(parse *p) {
    fetch_opts *o = p->o;
    for (int i = 0; i < o->nurls; i++) {
        if (i < p->nouts) {
            o->urls[i].out = p->outs[i];
            o->urls[i].remote_name = !p->outs[i];
        }
        if (i < p->nuploads) o->urls[i].upload = p->uploads[i];
    }
    return 0;
}

static int parse_args(int argc, char **argv, fetch_opts *o) {
    parse p = { .o = o };
    opterr = 0;
    int rc = 0;
    for (int ch; !rc && (ch = getopt_long(argc, argv, "-:o:OsSviIw:X:H:d:F:GT:A:e:b:u:r:Lfm:kZ#n:c:t:h", longs,
                                          NULL)) != -1;)
        rc = option(&p, ch, optarg, name_of(argv, ch));
    if (rc == FX_NOMEM) fputs("weft-fetch: (27) Out of memory\n", stderr);
    if (!rc && o->nurls == 0) {
        fputs("weft-fetch: no URL specified!\n", stderr);
        rc = bad_usage(NULL, NULL);
    }
    if (!rc && (o->requests < 0 || o->conns < 0 || o->threads < 0 || o->threads > 1024 ||
                (o->requests > 0 && o->nurls != 1) || (o->threads != 1 && o->requests <= 0))) {
        fputs("weft-fetch: the load mode (-n N -c C [-t T]) takes one URL, N and C >= 0, T from 0 to 1024\n", stderr);
        rc = FX_USAGE;
    }
    if (!rc) assign(&p);
    /* The agent is the client's; -A '' (none) is the request's to remove. */
    static char agent[64];
    snprintf(agent, sizeof agent, "weft-fetch/%s", weft_version_string());
    o->client.user_agent = o->user_agent && *o->user_agent ? o->user_agent : agent;
    free(p.outs);
    free(p.uploads);
    return rc;
}

static int main_task(void *arg) { return fetch_all(arg); }

int main(int argc, char **argv) {
    static fetch_opts o = { .max_redirs = 50, .parallel_max = 50, .threads = 1 };
    int rc = parse_args(argc, argv, &o);
    if (!rc) {
        /* --resolve's list ends with a NULL for the client. */
        if (o.resolve && add_str(&o.resolve, &o.nresolve, NULL)) {
            fputs("weft-fetch: (27) Out of memory\n", stderr);
            rc = FX_NOMEM;
        }
    }
    if (!rc) {
        rc = o.requests > 0 ? fetch_load(&o) : weft_run(main_task, &o);
        if (rc < 0) {
            fprintf(stderr, "weft-fetch: (%d) %s\n", rc == WEFT_ENOMEM ? FX_NOMEM : 1, weft_strerror(rc));
            rc = rc == WEFT_ENOMEM ? FX_NOMEM : 1;
        }
    }
    free(o.urls);
    free(write_out_buf);
    free(o.headers);
    free(o.cookie_jar);
    free(o.resolve);
    free(o.data);
    for (int i = 0; i < o.nparts; i++) free(o.parts[i].name);
    free(o.parts);
    return rc < 0 ? 0 : rc;
}
