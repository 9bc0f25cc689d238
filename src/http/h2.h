/* The HTTP/2 server's internals, shared by h2_server.c (a connection's
 * nghttp2 session: frames in, frames out, a handler task per stream) and
 * h2_stream.c (what a handler's request and response do on a stream: the
 * body in, the head and the body out). Calls run one way: server.c ->
 * h2_server.c -> exchange.c -> h2_stream.c -> conn.c.
 *
 * Ownership: the connection's task owns the session and every stream
 * record (a list); a record lives from the HEADERS that opens its stream
 * until both its stream is closed and its handler task (if it got one) has
 * ended. A handler's exchange (request and response) is made when the head
 * is complete and freed by the handler task as it ends; what the response
 * still has to send is the record's, so the task need not wait for the
 * client's flow control to let it out.
 */
#ifndef WEFT_HTTP_H2_H
#define WEFT_HTTP_H2_H

#include "server.h"

#include <nghttp2/nghttp2.h>

typedef struct weft__h2s weft__h2s;

typedef struct weft__h2 {
    weft__httpd_conn *c;
    weft__mem mem;            /* the server's: the session allocates through it */
    nghttp2_session *ss;
    weft_event wake;          /* frames may wait to be sent: the writer's */
    weft_task *writer;
    weft__h2s *streams;       /* every record (doubly linked) */
    weft__h2s *ready;         /* heads complete, handler not started yet */
    size_t nstreams;
    size_t ntasks;            /* handler tasks not ended */
    weft_event tasks_done;    /* set when ntasks drops to 0 */
    bool stop;                /* the reader is done: the writer flushes and ends */
    bool calm;                /* abuse seen: GOAWAY(ENHANCE_YOUR_CALM), stop reading */
    bool goaway;              /* a graceful GOAWAY is queued (shutting down) */
} weft__h2;

/* A buffer of bytes: [off, len) are pending. */
typedef struct h2buf { char *p; size_t off, len, cap; } h2buf;

struct weft__h2s {
    weft__h2 *h;
    weft__h2s *prev, *next, *next_ready;
    int32_t id;
    /* The head, collected in HTTP/1.1 form for the parser (one set of
     * rules for both versions). */
    h2buf head;
    nghttp2_rcbuf *method, *path, *authority;  /* held until the head is built */
    h2buf cookie;             /* cookie crumbs joined with "; " (RFC 9113 8.2.3) */
    size_t nfields;
    weft__httpd_exchange *x;  /* the handler's, while it runs */
    weft_task *task;          /* borrowed: valid while !task_done */
    weft_event ev;            /* the handler's wake: body bytes, room, close */
    h2buf in;                 /* body bytes received, not yet read */
    h2buf out;                /* body bytes written, not yet framed */
    bool in_end;              /* END_STREAM received */
    bool out_end;             /* the response ends after out */
    bool deferred;            /* the data source is paused for more out */
    bool started, task_done, closed, on_ready;
};

/* h2_stream.c: a handler's request and response on stream s. Each follows
 * the contract of the public call it serves (include/weft/httpd.h). */

/* Body bytes: a count, 0 at the body's end, WEFT_EOF if the stream was
 * reset, WEFT_ETIMEDOUT after body_timeout, a cancellation code. */
ssize_t weft__h2s_read(weft__h2s *s, void *buf, size_t len);
/* Submits the response's head: a Content-Length of len if `whole`; the
 * stream ends with the head when no body can follow. */
int weft__h2s_head(weft__h2s *s, weft_httpd_res *w, bool whole, uint64_t len);
/* Queues body bytes; waits (send_timeout) while more than a window's worth
 * waits for the client's flow control. */
int weft__h2s_write(weft__h2s *s, const void *data, size_t len);
/* With `end`, marks the body's end (does not wait); without, waits until
 * everything written has been framed. */
int weft__h2s_flush(weft__h2s *s, bool end);
/* A short text response of `status` (no body for HEAD), for a request that
 * got no handler or whose handler failed before starting one. */
void weft__h2s_respond(weft__h2s *s, int status, bool is_head);
/* Gives n bytes of window back to the client: body bytes read, or
 * dropped. */
void weft__h2s_consume(weft__h2s *s, size_t n);
/* Resets the stream (INTERNAL_ERROR): a response cut short. */
void weft__h2s_cut(weft__h2s *s);
/* Frees what the record holds and the record (unlinked by the caller). */
void weft__h2s_free(weft__h2s *s);
/* Appends n bytes to b (its pending bytes moved to the front first). */
int weft__h2buf_put(weft__mem m, h2buf *b, const void *p, size_t n);
/* Tells the writer there is something to send. */
void weft__h2_kick(weft__h2 *h);

#endif
