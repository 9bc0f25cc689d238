/* weft-fetch's parts: the options (main.c) and the load mode (load.c). */
#ifndef WEFT_FETCH_H
#define WEFT_FETCH_H

#include <weft/http.h>

typedef struct fetch_opts {
    const char *method;
    const char *headers[64];
    int nheaders;
    const char *data;           /* -d or --json */
    const char *content_type;
    const char *out_file;       /* -o */
    int remote_name;            /* -O */
    long requests, conns;       /* -n, -c: load mode when requests > 0 */
    char **urls;
    int nurls;
    weft_http_client_opts client;
} fetch_opts;

/* Makes the request the options describe for `url`. */
int fetch_request(const fetch_opts *o, const char *url, weft_http_request **out);
/* Runs the load mode; returns the exit code. Must run in a task. */
int fetch_load(const fetch_opts *o);

#endif
