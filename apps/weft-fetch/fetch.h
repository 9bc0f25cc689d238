/* weft-fetch's parts: the options (main.c), the request they describe and
 * its body (request.c), one transfer with its output and exit code
 * (transfer.c) and the load mode (load.c). Calls run one way: main.c ->
 * transfer.c / load.c -> request.c. */
#ifndef WEFT_FETCH_H
#define WEFT_FETCH_H

#include <weft/http.h>

#include <stdbool.h>
#include <stdio.h>

/* curl's exit codes, the ones weft-fetch can end with. */
enum {
    FX_OK = 0, FX_PROTOCOL = 1, FX_USAGE = 2, FX_URL = 3, FX_RESOLVE = 6, FX_CONNECT = 7,
    FX_WEIRD = 8, FX_PARTIAL = 18, FX_HTTP = 22, FX_WRITE = 23, FX_READ = 26, FX_NOMEM = 27,
    FX_TIMEOUT = 28, FX_TLS = 35, FX_REDIRECTS = 47, FX_EMPTY = 52, FX_SEND = 55, FX_RECV = 56,
    FX_CERT_FILE = 58, FX_CERT = 60, FX_DECODE = 61, FX_CACERT = 77,
};

/* One URL and where its body goes. */
typedef struct fetch_url {
    const char *url;
    const char *out;            /* -o FILE ("-": stdout); NULL: stdout */
    int remote_name;            /* -O */
    const char *upload;         /* -T FILE ("-": stdin) */
} fetch_url;

/* A -F part: name=value, name=@file (a file part), name=<file (its text). */
typedef struct fetch_part {
    char *name;                 /* owned, with its value in the same block */
    const char *value, *type, *filename;
    int file, contents;         /* '@', '<' */
} fetch_part;

typedef struct fetch_opts {
    const char *method;         /* -X */
    const char **headers;       /* -H, in order */
    int nheaders;
    char *data;                 /* -d, --data-*, --json: joined */
    size_t data_len;
    int has_data, json, get;    /* any data; --json; -G */
    fetch_part *parts;          /* -F */
    int nparts;
    int head, include, verbose, silent, show_error, fail, compressed;  /* fail: 1 -f, 2 --fail-with-body */
    const char *user_agent, *referer, *cookie, *user, *range;  /* -A -e -b -u -r */
    char *cookie_jar;           /* -b FILE's text (Netscape cookie file format) */
    const char *write_out;      /* -w */
    int location;               /* -L */
    long max_redirs;            /* --max-redirs; -1 unlimited */
    double max_time;            /* -m, seconds; 0: none */
    long retry;
    double retry_delay;         /* seconds; 0: 1 s doubling */
    int parallel;               /* -Z */
    long parallel_max;
    int progress_bar, timings;  /* -#, --timings */
    fetch_url *urls;
    int nurls;
    const char **resolve;       /* --resolve, NULL-terminated */
    int nresolve;
    long requests, conns;       /* -n, -c: load mode when requests > 0 */
    long threads;               /* -t: the load mode's loops; 0 = one per CPU */
    weft_http_client_opts client;
} fetch_opts;

/* request.c */
/* The request the options describe for `url` (made absolute, userinfo
 * taken out as -u), body and headers included; `upload` is -T's FILE or
 * NULL (its FILE* is then *upload_f, the caller's to close). Returns 0, or
 * a curl exit code with the message in err[]. */
int fetch_request(const fetch_opts *o, const char *url, const char *upload, FILE **upload_f,
                  weft_http_request **out, char *err, size_t errlen);
/* The Cookie field the -b FILE jar gives `url` ("a=1; b=2", as curl
 * orders them), NULL if none match; malloc'd. *nomem set if that failed. */
char *fetch_jar_cookies(const char *jar, const char *url, bool *nomem);
/* The URL as sent: a scheme added where none was given, -G's data added to
 * the query, -T's file name appended to a URL ending in '/'. Returns a
 * malloc'd string or NULL (out of memory). */
char *fetch_effective_url(const fetch_opts *o, const char *url, const char *upload);
/* Adds s[0, len) to the data -d and friends collect; `sep` joins it to
 * what is there. Returns 0 or -1 (out of memory). */
int fetch_data_add(fetch_opts *o, const char *s, size_t len, const char *sep);
/* Reads a whole file ("-": stdin) into a malloc'd buffer. Returns 0, or
 * -errno. */
int fetch_read_file(const char *path, char **out, size_t *len);
/* --data-urlencode's argument, encoded, added to the data. Returns 0,
 * FX_READ (a file it names cannot be read) or FX_NOMEM. */
int fetch_data_urlencode(fetch_opts *o, const char *arg);
/* Parses a -F argument into a part. Returns 0, FX_USAGE or FX_NOMEM. */
int fetch_part_parse(fetch_part *p, const char *arg);

/* transfer.c */
/* Runs every URL (sequentially, or -Z at once) and returns the exit code
 * of the last, as curl does. Must run in a task. */
int fetch_all(const fetch_opts *o);
/* The curl exit code for a weft error from an exchange, and its message. */
int fetch_exit_code(int err, const char *url, char *msg, size_t len);

/* load.c */
/* Runs the load mode on o->threads loops (weft/loops.h), each with its
 * share of the connections, all taking requests from one count; returns
 * the exit code. Not in a task: it runs the loops. */
int fetch_load(const fetch_opts *o);

#endif
