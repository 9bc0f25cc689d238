/* The HTTP/1.1 message parser shared by the client and the server (internal).
 *
 * Zero-copy and incremental in the way picohttpparser is: the caller keeps
 * the bytes that have come so far in one buffer and calls again, from the
 * start, when more arrive; the parser never allocates and every view it
 * returns points into that buffer. Strict about everything that enables
 * request smuggling or response splitting (nginx's and llhttp's CVE
 * fixes; docs/http-server.md):
 * bare CR or bare LF line ends, obs-fold, whitespace before a colon,
 * control characters or NUL in values, duplicate or conflicting or
 * overflowing Content-Length, Content-Length with chunked, Transfer-Encoding
 * other than a final "chunked", Transfer-Encoding on HTTP/1.0, HTTP/1.1
 * requests without Host.
 *
 * Where the RFCs leave a choice (parse.c's opening comment gives the
 * reasons): Content-Length repeated ("5" twice, "5, 5") is refused in a
 * request, accepted with one value in a response; Content-Length values
 * and chunk sizes stop below 2^63; empty lines before a request line are
 * skipped (and counted in its head); a status line may lack the space
 * before an empty reason; a request target is visible ASCII but "#", in
 * the form its method calls for (RFC 9112 section 3.2), Host an
 * authority, never empty; HTTP/1.2 and later minor versions read as 1.1.
 */
#ifndef WEFT_HTTP_PARSE_H
#define WEFT_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A header field: views into the parsed buffer, not NUL-terminated. The
 * value has its leading and trailing whitespace removed. */
typedef struct weft__hdr {
    const char *name, *value;
    size_t name_len, value_len;
} weft__hdr;

/* How the body that follows a head is framed. */
enum {
    WEFT__BODY_NONE,     /* no body (a request without CL/TE; HEAD, 1xx, 204, 304 responses) */
    WEFT__BODY_LENGTH,   /* content_length bytes */
    WEFT__BODY_CHUNKED,  /* chunked transfer coding: see weft__chunked_step */
    WEFT__BODY_CLOSE,    /* responses only: everything until the connection closes */
};

/* Limits the parser enforces; a zero field means "no limit" (callers set
 * their defaults). Each is refused as soon as the bytes given pass it, head
 * complete or not, so a caller never needs to buffer more than max_head. */
typedef struct weft__http_limits {
    size_t max_line;     /* request line / status line, CRLF included */
    size_t max_head;     /* the whole head, request line and blank line included */
    size_t max_headers;  /* header fields (hdrs_cap, if smaller, bounds them too) */
} weft__http_limits;

/* A parsed head. The caller provides hdrs (hdrs_cap entries); on success
 * nhdrs says how many were filled. */
typedef struct weft__http_head {
    const char *method, *target;   /* requests */
    size_t method_len, target_len;
    int status;                    /* responses: 100..999. Requests, on a
                                      parse error: the status to answer
                                      (400, 414, 431, 501, 505); responses,
                                      on a parse error, the same codes as a
                                      diagnosis */
    const char *reason;            /* responses */
    size_t reason_len;
    int minor;                     /* HTTP/1.<minor>: 0 or 1 */
    weft__hdr *hdrs;
    size_t hdrs_cap, nhdrs;
    /* Framing and connection facts, from the headers. */
    int body;                      /* WEFT__BODY_* */
    uint64_t content_length;       /* the Content-Length field's value (< 2^63),
                                      0 without one; also set when body is NONE
                                      (a response to HEAD says what GET would send) */
    bool keep_alive;               /* the version's default, changed by Connection;
                                      false for a body framed by CLOSE */
    bool expect_continue;          /* requests: Expect: 100-continue */
    bool upgrade;                  /* Connection: upgrade with an Upgrade header */
} weft__http_head;

/* Parses a request head from buf[0, len). Returns the head's length (> 0,
 * the blank line included) when it is complete; 0 when more bytes are
 * needed and no limit is passed yet; WEFT_EHTTP for a malformed or
 * ambiguous message, WEFT_ETOOBIG for a passed limit, with h->status set to
 * the status a server should answer (400, 414, 431, 501, 505). The caller
 * sets h->hdrs and h->hdrs_cap; every other field is output. A parse of a
 * prefix of some bytes gives 0 or exactly what the whole gives: call again
 * from the start when more bytes arrive. Never reads past buf + len. */
ssize_t weft__http_parse_request(const char *buf, size_t len, weft__http_head *h,
                                 const weft__http_limits *lim);
/* (Among the requests refused: a target in a form its method may not use,
 * 400, and CONNECT, 501: see target_form in parse.c.) */

/* Parses a response head from buf[0, len), as weft__http_parse_request.
 * `method` is the request's (a response to HEAD, and a 2xx to CONNECT, has
 * no body whatever its headers say). 1xx responses parse as heads of their
 * own (body NONE): the caller skips them and parses again. */
ssize_t weft__http_parse_response(const char *buf, size_t len, weft__http_head *h,
                                  const char *method, const weft__http_limits *lim);

/* The authority of an absolute-form target t[0, n) ("http://a:8/p" gives
 * "a:8"): its length, with *auth pointing into t; 0 if t is not an "http"
 * or "https" URI (origin-form, "*"). */
size_t weft__http_authority(const char *t, size_t n, const char **auth);

/* The first value of header `name` (case-insensitive), or NULL; *len is
 * its length. */
const char *weft__http_find(const weft__http_head *h, const char *name, size_t *len);

/* Whether s[0, len) is a token (RFC 9110 section 5.6.2: one or more of
 * ALPHA, DIGIT and !#$%&'*+-.^_`|~), as a method or a field name must be.
 * The client checks what a caller gives it, the server what a handler sets,
 * with the parser's own character classes. */
bool weft__http_token_ok(const char *s, size_t len);
/* Whether s[0, len) may be a field value: visible ASCII, space, tab and
 * obs-text; never CR, LF, NUL or another control character (any of them
 * would let a value split the message). */
bool weft__http_value_ok(const char *s, size_t len);
/* Both: name[0, nlen) a token and value[0, vlen) a field value. */
bool weft__http_field_ok(const char *name, size_t nlen, const char *value, size_t vlen);

/* Case-insensitive comparison of a token with a NUL-terminated lower-case
 * literal. */
bool weft__http_token_eq(const char *tok, size_t len, const char *lower);

/* An incremental decoder of the chunked transfer coding. Zero-initialise. */
typedef struct weft__chunked {
    int state;                /* private */
    uint64_t left;            /* private: bytes left in the current chunk */
    size_t line;              /* private: bytes of the current size/trailer line */
    size_t trailer_bytes;     /* private */
    bool done;                /* the last chunk and the trailers have passed */
} weft__chunked;

/* Feeds the next `len` bytes of a chunked body. Returns how many of them it
 * consumed (>= 0; less than len once done, or when it stopped at the end of
 * a data run) or WEFT_EHTTP (a bad chunk size, missing CRLF, an oversized
 * size line or trailer: 4 KiB each). Body bytes found are reported as one
 * run, at most `max_data` bytes: *data points into `in` and *dlen says how
 * many (0 if none this call). Call again with the bytes not consumed.
 * A call returns right after a data run (the run's bytes are the last it
 * consumed), so each call yields at most one run; framing alone (sizes,
 * CRLFs, extensions, trailers) is consumed as far as `in` goes. Chunk
 * extensions and trailer fields are checked for syntax and discarded.
 * On WEFT_EHTTP *c is unchanged. Once c->done, returns 0. */
ssize_t weft__chunked_step(weft__chunked *c, const char *in, size_t len, size_t max_data,
                           const char **data, size_t *dlen);

#endif
