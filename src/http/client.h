/* The HTTP client's internals, shared by client.c (the client, sending and
 * redirects), pool.c (its connections), request.c (request objects and the
 * head that goes on the wire) and response.c (reading heads and bodies,
 * decoding). Calls run one way: client.c calls the other three, response.c
 * gives connections back to pool.c, and nothing calls up into client.c.
 *
 * Ownership in one picture: the client owns every connection; an idle one
 * sits on the client's idle list, a busy one is borrowed by exactly one
 * response (conn->owner) until its body has been read to the end (it goes
 * back to the idle list) or the response is freed or fails (it is closed).
 * client.nconns counts both kinds, and is what max_connections bounds.
 */
#ifndef WEFT_HTTP_CLIENT_H
#define WEFT_HTTP_CLIENT_H

#include "parse.h"
#include "url.h"

#include <weft/http.h>

#include <stdbool.h>
#include <string.h>
#include <zlib.h>

/* A header field: name and value in one allocation ("name\0value\0"). */
typedef struct weft__field {
    char *name, *value;
} weft__field;

/* A list of fields, in the order they were added. */
typedef struct weft__fields {
    weft__field *v;
    size_t n, cap;
} weft__fields;

int weft__fields_add(weft__mem m, weft__fields *f, const char *name, size_t nlen,
                     const char *value, size_t vlen);
void weft__fields_free(weft__mem m, weft__fields *f);
/* Nonzero if the list holds a field called `name` (case-insensitive). */
bool weft__fields_has(const weft__fields *f, const char *name);
/* The value of the first field called `name`, or NULL. */
const char *weft__fields_get(const weft__fields *f, const char *name);


struct weft_http_request {
    weft__mem mem;
    char *method;
    char *url;
    weft__fields hdrs;
    weft__fields omit;            /* names removed: neither the client's own
                                     nor a default field of them is sent */
    weft_http_head_fn on_head;    /* sees every head sent and received */
    void *head_ud;
    char *query;                  /* "a=1&b=2", encoded; NULL if none */
    size_t query_len;
    char *body;                   /* a copy (set_body, set_json) */
    size_t body_len;
    bool has_body;
    weft_http_body_fn body_fn;
    void *body_ud;
    int64_t body_length;          /* body_fn's, or -1: chunked */
};

/* A connection. `owner` is the response reading from it, NULL when idle. */
typedef struct weft__conn {
    struct weft__conn *prev, *next;     /* the client's list of all */
    struct weft__conn *idle_next;       /* the idle list, newest first */
    weft_stream *s;
    int fd;
    char *origin;
    int64_t idle_since;
    unsigned uses;
    weft_http_response *owner;
} weft__conn;

struct weft_http_client {
    weft__mem mem;
    weft_http_client_opts o;          /* defaults filled in; strings not kept */
    weft__url base;                   /* base.buf NULL: none */
    weft__fields hdrs;                /* default headers */
    weft__fields resolve;             /* name "host:port", value the address */
    char *ua;
    weft_tls_ctx *tls;                /* made on the first https request */
    weft_tls_opts tls_opts;           /* strings copied into tls_strings */
    char *tls_strings;
    weft__conn *all, *idle;
    size_t nconns, nidle;
    weft_lock lock;                   /* only for cond: a pool waiter's wait */
    weft_cond cond;                   /* a slot or idle connection came free */
    struct weft__track *trk;          /* debug mode's leak record, else NULL */
};

/* What one exchange sends: the request as redirects have changed it. */
typedef struct weft__exchange {
    const weft_http_request *req;
    const char *method;
    weft__url url;
    bool send_body;
    bool strip_credentials;
    bool raw;                     /* WEFT_HTTP_RAW: no decoding */
} weft__exchange;

struct weft_http_response {
    weft__mem mem;
    weft_http_client *c;
    weft__conn *conn;              /* NULL once the body is done or failed */
    int status;
    const char *reason;
    char *head;                    /* the head, copied, fields NUL-ended */
    const char **names, **values;  /* views into head */
    size_t nfields;
    char *url;
    /* framing */
    int framing;                   /* WEFT__BODY_* */
    uint64_t left;
    weft__chunked ck;
    bool keep_alive, raw_done;
    /* decoding */
    int enc;                       /* ENC_* in response.c */
    bool zinit, zend, zraw_tried;
    unsigned zfills;
    size_t zfirst;
    z_stream z;
    unsigned char *zin;
    /* results */
    bool done;                     /* the decoded body has ended */
    int err;                       /* sticky: a failed read */
    char *body;
    size_t body_len, body_pos;
    bool have_body;
    weft_http_timings t;
    int64_t t_start;
};

/* "host:port" of an origin ("http://host:port"), for the task dump's
 * "HTTP response from host:port". */
static inline const char *weft__origin_host(const char *origin) {
    const char *p = strstr(origin, "://");
    return p ? p + 3 : origin;
}

/* response.c */
int weft__response_read_head(weft_http_client *c, weft__conn *k, const weft__exchange *x,
                             weft_http_response **out, bool *nothing);
/* Reads and drops what is left of a small body so its connection can be
 * reused; closes the connection if more than `max` bytes are left. */
void weft__response_discard(weft_http_response *r, size_t max);

/* pool.c */
/* A connection for u: an idle one of its origin (unless `fresh`), else a
 * new one, within the pool and connect timeouts; *t gets the connect
 * timings and whether it was reused. The caller owns it until it gives it
 * back with weft__pool_release. */
int weft__pool_get(weft_http_client *c, const weft__url *u, bool fresh, weft__conn **out,
                   weft_http_timings *t);
/* Gives k back: to the idle list if `reuse` (and the pool has room), else
 * closes it. */
void weft__pool_release(weft_http_client *c, weft__conn *k, bool reuse);
/* Closes every connection; a response holding one fails with WEFT_ECLOSED. */
void weft__pool_close(weft_http_client *c);

/* Shows a head to the request's hook, if it has one. */
static inline void weft__request_show(const weft_http_request *q, int kind, const void *head,
                                      size_t len) {
    if (q->on_head) q->on_head(q->head_ud, kind, head, len);
}

/* request.c */
int weft__request_write(weft_http_client *c, weft_stream *s, const weft__exchange *x,
                        bool *body_used);

#endif
