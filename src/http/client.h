/* The HTTP client's internals, shared by client.c (the client, sending and
 * redirects), pool.c (its connections), request.c (request objects and the
 * head that goes on the wire), response.c (reading heads and bodies,
 * decoding) and h2_client.c (HTTP/2). Calls run one way: client.c calls the
 * others, response.c gives connections back to pool.c, pool.c, client.c and
 * response.c call h2_client.c, which calls only request.c, and nothing
 * calls up into client.c.
 *
 * Ownership in one picture: the client owns every connection; an idle one
 * sits on the client's idle list, a busy one is borrowed by exactly one
 * response (conn->owner) until its body has been read to the end (it goes
 * back to the idle list) or the response is freed or fails (it is closed).
 * client.nconns counts both kinds, and is what max_connections bounds.
 * An HTTP/2 connection (conn->h2) is neither: it stays on the list of all,
 * shared by the streams of every request to its origin (h2_client.c), and
 * is closed by the pool once it has no stream and has ended or expired.
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
    bool opening;                       /* still connecting (no stream yet) */
    struct weft__h2 *h2;                /* HTTP/2: shared by its streams, never
                                           idle-listed nor owned (h2_client.c) */
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
    struct weft__h2s *h2s;         /* HTTP/2: the stream the body comes on */
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

/* Makes a response of an HTTP/2 stream whose head came (taking the
 * stream: freed on error too). */
int weft__response_h2(weft_http_client *c, struct weft__h2s *st, const weft__exchange *x,
                      weft_http_response **out);

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
/* The request head as HTTP/1.1 writes it, in *head (len bytes, the caller
 * frees it with c->mem): HTTP/2 sends the same fields. */
int weft__request_head(weft_http_client *c, const weft__exchange *x, char **head, size_t *len);
int weft__request_write(weft_http_client *c, weft_stream *s, const weft__exchange *x,
                        bool *body_used);

/* h2_client.c: HTTP/2 over a connection pool.c opened. */
/* Makes k an HTTP/2 connection: a client session, its preface and SETTINGS
 * queued (they go out with the first request). 0 or WEFT_ENOMEM. */
int weft__h2_start(weft_http_client *c, weft__conn *k);
/* Frees k's session; a stream still held by a response fails its reads
 * with WEFT_ECLOSED. Not a suspension point. */
void weft__h2_free(weft__conn *k);
/* Whether k can carry a new stream; *idle: it has none now (nor does any
 * response hold one), so it may be closed if it cannot. */
bool weft__h2_usable(weft__conn *k, bool *idle);
/* One exchange on k, as weft__request_write and weft__response_read_head
 * make it over HTTP/1.1: the request sent and its response head in, on a
 * stream *out (the caller's: weft__h2_head, then weft__h2_stream_free).
 * *refused: the server said it did not process the request; *nothing: no
 * byte of the response came; *body_used: a body_fn was read. */
int weft__h2_exchange(weft_http_client *c, weft__conn *k, const weft__exchange *x,
                      struct weft__h2s **out, bool *refused, bool *nothing, bool *body_used);
/* The response head of the stream, once: *hd's fields view *text (len
 * bytes, the head as "HTTP/2 200 \r\n...\r\n"), which the stream keeps;
 * *first: when its first byte came. 0 or WEFT_ENOMEM. */
int weft__h2_head(struct weft__h2s *st, weft__http_head *hd, const char **text, size_t *len,
                  int64_t *first);
/* Tells the stream which response reads it (to detach at client free). */
void weft__h2_own(struct weft__h2s *st, weft_http_response *r);
/* Body bytes of the stream: > 0, 0 at its end, or an error. */
ssize_t weft__h2_read(struct weft__h2s *st, void *buf, size_t len);
/* Lets go of a stream (resetting it if it is still open). Not a
 * suspension point: the reset goes out with the connection's next write. */
void weft__h2_stream_free(struct weft__h2s *st);

#endif
