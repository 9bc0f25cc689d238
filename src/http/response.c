/* Responses of the HTTP client: reading the head, the body's framing
 * (Content-Length, chunked, read to close) and its decoding (gzip,
 * deflate), and the accessors of weft/http.h.
 *
 * Two layers read the body. raw_read undoes the framing and reports the end
 * of the message, which is when the connection goes back to the pool.
 * dec_read undoes the content coding into the caller's buffer only, so a
 * streaming reader never decodes more than it asked for, and a whole-body
 * read stops at max_body however well the bytes compress.
 *
 * Any error while reading closes the connection: its state (how much of
 * the body is left on the wire) is then unknown. The error sticks to the
 * response.
 */
#include "client.h"
#include "timed.h"
#include "core_iface.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { ENC_NONE, ENC_GZIP, ENC_DEFLATE };
enum { ZIN = 16 * 1024 };

/* A peek and a read under the read timeout. */
static ssize_t peek(weft_http_client *c, weft_stream *s, size_t want, const void **data) {
    weft_scope sc;
    weft__timed_begin(&sc, weft_deadline_after(c->o.read_timeout));
    ssize_t n = weft_stream_peek(s, want, data);
    return weft__timed_end(&sc, n, WEFT_EREADTIMEOUT);
}

static ssize_t read_some(weft_http_client *c, weft_stream *s, void *buf, size_t len) {
    weft_scope sc;
    weft__timed_begin(&sc, weft_deadline_after(c->o.read_timeout));
    ssize_t n = weft_stream_read(s, buf, len);
    return weft__timed_end(&sc, n, WEFT_EREADTIMEOUT);
}

/* --------------------------------------------------------------- the head */

static int parse_head(weft_http_client *c, weft_stream *s, const weft__exchange *x,
                      weft__http_head *h, size_t *head_len, bool *nothing, int64_t *first) {
    weft__http_limits lim = { 0, c->o.max_header_bytes, c->o.max_headers };
    size_t want = 1;
    for (;;) {
        const void *data;
        ssize_t n = peek(c, s, want, &data);
        if (n == WEFT_EOF) return weft_stream_buffered(s) || !*nothing ? WEFT_EHTTP : WEFT_EOF;
        if (n < 0) return (int)n;
        if (*nothing) *first = weft_now();
        *nothing = false;
        h->nhdrs = 0;
        ssize_t hl = weft__http_parse_response(data, (size_t)n, h, x->method, &lim);
        if (hl < 0) return (int)hl;
        if (hl == 0) {
            if ((size_t)n >= c->o.max_header_bytes) return WEFT_ETOOBIG;
            want = (size_t)n + 1;
            continue;
        }
        weft__request_show(x->req, WEFT_HTTP_HEAD_RECEIVED, data, (size_t)hl);
        /* Interim responses (100 Continue, 103 Early Hints) are skipped;
         * 101 ends HTTP on the connection and is final. */
        if (h->status >= 100 && h->status < 200 && h->status != 101) {
            weft_stream_consume(s, (size_t)hl);
            want = 1;
            continue;
        }
        *head_len = (size_t)hl;
        return 0;
    }
}

/* Copies the head into r->head and points r's fields into the copy, each
 * NUL-terminated in place: a name ends at its ':', a value and the reason
 * at the whitespace or CR after them. */
static int keep_head(weft_http_response *r, const weft__http_head *h, const char *data, size_t len) {
    r->head = weft__mem_alloc(r->mem, len + 1);
    r->names = weft__mem_alloc(r->mem, (h->nhdrs ? h->nhdrs : 1) * 2 * sizeof(char *));
    if (!r->head || !r->names) return WEFT_ENOMEM;
    memcpy(r->head, data, len);
    r->head[len] = 0;
    r->values = r->names + h->nhdrs;
    r->nfields = h->nhdrs;
    for (size_t i = 0; i < h->nhdrs; i++) {
        char *n = r->head + (h->hdrs[i].name - data), *v = r->head + (h->hdrs[i].value - data);
        n[h->hdrs[i].name_len] = 0;
        v[h->hdrs[i].value_len] = 0;
        r->names[i] = n;
        r->values[i] = v;
    }
    char *reason = r->head + (h->reason - data);
    reason[h->reason_len] = 0;
    r->reason = reason;
    r->status = h->status;
    return 0;
}

/* The coding named by Content-Encoding: one of gzip, x-gzip, deflate or
 * identity is decoded; anything else (br, stacked codings) is passed
 * through as it came, since we never asked for it. */
static int encoding_of(const weft_http_response *r) {
    const char *e = weft_http_response_header(r, "content-encoding");
    if (!e) return ENC_NONE;
    if (!strcasecmp(e, "gzip") || !strcasecmp(e, "x-gzip")) return ENC_GZIP;
    if (!strcasecmp(e, "deflate")) return ENC_DEFLATE;
    return ENC_NONE;
}

static void end_raw(weft_http_response *r) {
    r->raw_done = true;
    if (!r->conn) return;
    weft__conn *k = r->conn;
    r->conn = NULL;
    k->owner = NULL;
    weft__pool_release(r->c, k, r->keep_alive && r->framing != WEFT__BODY_CLOSE);
}

static void fail(weft_http_response *r, int err) {
    if (!r->err) r->err = err;
    weft__h2_stream_free(r->h2s);   /* resets it, if still open */
    r->h2s = NULL;
    if (r->conn) {
        weft__conn *k = r->conn;
        r->conn = NULL;
        k->owner = NULL;
        weft__pool_release(r->c, k, false);
    }
}

/* A response to x of the head h (in data, hl bytes), or WEFT_ENOMEM. */
static int response_new(weft_http_client *c, const weft__exchange *x, const weft__http_head *h,
                        const char *data, size_t hl, weft_http_response **out) {
    weft_http_response *r = weft__mem_alloc(c->mem, sizeof *r);
    if (!r) return WEFT_ENOMEM;
    memset(r, 0, sizeof *r);
    r->mem = c->mem;
    r->c = c;
    int err = keep_head(r, h, data, hl);
    r->url = weft__mem_strndup(c->mem, x->url.href, strlen(x->url.href));
    if (!err && !r->url) err = WEFT_ENOMEM;
    if (err) {
        weft_http_response_free(r);
        return err;
    }
    r->enc = x->raw ? ENC_NONE : encoding_of(r);
    *out = r;
    return 0;
}

/* HTTP/2: the stream ends the body (END_STREAM), whatever the fields say. */
int weft__response_h2(weft_http_client *c, struct weft__h2s *st, const weft__exchange *x,
                      weft_http_response **out) {
    weft__http_head h;
    const char *text;
    size_t len;
    int64_t first;
    weft_http_response *r = NULL;
    int err = weft__h2_head(st, &h, &text, &len, &first);
    if (!err) weft__request_show(x->req, WEFT_HTTP_HEAD_RECEIVED, text, len);
    if (!err) err = response_new(c, x, &h, text, len, &r);
    if (err) {
        weft__h2_stream_free(st);
        return err;
    }
    r->framing = WEFT__BODY_CLOSE;
    r->t.first_byte = first;
    r->h2s = st;
    weft__h2_own(st, r);
    *out = r;
    return 0;
}

int weft__response_read_head(weft_http_client *c, weft__conn *k, const weft__exchange *x,
                             weft_http_response **out, bool *nothing) {
    weft__hdr small[64], *hv = small;
    size_t cap = 64;
    weft__http_head h;
    size_t hl = 0;
    int64_t first = 0;
    int err;
    for (;;) {
        memset(&h, 0, sizeof h);
        h.hdrs = hv;
        h.hdrs_cap = cap;
        err = parse_head(c, k->s, x, &h, &hl, nothing, &first);
        /* Too many fields for the array but not for the limit: grow it. */
        if (err != WEFT_ETOOBIG || cap >= c->o.max_headers || h.nhdrs < cap) break;
        cap = cap * 4 < c->o.max_headers ? cap * 4 : c->o.max_headers;
        if (hv != small) weft__mem_free(c->mem, hv);
        if (!(hv = weft__mem_alloc(c->mem, cap * sizeof *hv))) { err = WEFT_ENOMEM; hv = small; break; }
    }
    weft_http_response *r = NULL;
    const void *data;
    weft_stream_peek(k->s, 0, &data);   /* the head is still buffered */
    if (!err) err = response_new(c, x, &h, data, hl, &r);
    if (hv != small) weft__mem_free(c->mem, hv);
    if (err) return err;
    weft_stream_consume(k->s, hl);
    r->framing = h.body;
    r->left = h.content_length;
    r->keep_alive = h.keep_alive;
    r->t.first_byte = first;
    r->conn = k;
    k->owner = r;
    if (r->framing == WEFT__BODY_NONE || (r->framing == WEFT__BODY_LENGTH && r->left == 0))
        end_raw(r);
    *out = r;
    return 0;
}

/* --------------------------------------------------------------- framing */

static ssize_t chunked_read(weft_http_response *r, weft_stream *s, char *buf, size_t len) {
    size_t want = 1;
    for (;;) {
        const void *data;
        ssize_t n = peek(r->c, s, want, &data);
        if (n < 0) return n;
        const char *d;
        size_t dl;
        ssize_t used = weft__chunked_step(&r->ck, data, (size_t)n, len, &d, &dl);
        if (used < 0) return used;
        if (dl) memcpy(buf, d, dl);
        weft_stream_consume(s, (size_t)used);
        if (dl) return (ssize_t)dl;
        if (r->ck.done) return 0;
        /* Nothing usable in what is buffered: wait for one byte more. */
        want = used ? 1 : (size_t)n + 1;
    }
}

/* raw_read's work, on a connection it still has. */
static ssize_t framed_read(weft_http_response *r, void *buf, size_t len) {
    weft_stream *s = r->conn->s;
    ssize_t n;
    switch (r->framing) {
    case WEFT__BODY_LENGTH:
        if (len > r->left) len = (size_t)r->left;
        n = read_some(r->c, s, buf, len);
        if (n == 0) n = WEFT_EOF;
        if (n > 0) r->left -= (uint64_t)n;
        if (n > 0 && r->left == 0) end_raw(r);
        return n;
    case WEFT__BODY_CHUNKED:
        n = chunked_read(r, s, buf, len);
        if (n == WEFT_EOF || (n == 0 && !r->ck.done)) n = WEFT_EOF;
        if (n == 0) end_raw(r);
        return n;
    default:   /* WEFT__BODY_CLOSE */
        n = read_some(r->c, s, buf, len);
        if (n == 0) end_raw(r);
        return n;
    }
}

/* Reads body bytes with the framing undone: > 0, 0 at the end of the
 * message (the connection is released then), or a negative code. The end
 * of the stream before the end of the message is WEFT_EOF.
 * The task dump says what it waits for meanwhile. */
static ssize_t raw_read(weft_http_response *r, void *buf, size_t len) {
    if (r->raw_done) return 0;
    if (r->h2s) {
        ssize_t n = weft__h2_read(r->h2s, buf, len);
        if (n == 0) {
            r->raw_done = true;
            weft__h2_stream_free(r->h2s);
            r->h2s = NULL;
        }
        return n;
    }
    if (!r->conn) return WEFT_ECLOSED;
    weft__await_context("HTTP response from", weft__origin_host(r->conn->origin));
    ssize_t n = framed_read(r, buf, len);
    weft__await_context(NULL, NULL);
    return n;
}

/* -------------------------------------------------------------- decoding */

/* zlib allocates through the response's allocator (the loop's hook), like
 * everything else the response holds: one hook, and failures a test can
 * inject. */
static voidpf z_alloc(voidpf ud, uInt items, uInt size) {
    if (size && items > SIZE_MAX / size) return Z_NULL;
    return weft__mem_alloc(*(weft__mem *)ud, (size_t)items * size);
}
static void z_free(voidpf ud, voidpf p) { weft__mem_free(*(weft__mem *)ud, p); }

static int z_start(weft_http_response *r) {
    r->zin = weft__mem_alloc(r->mem, ZIN);
    if (!r->zin) return WEFT_ENOMEM;
    memset(&r->z, 0, sizeof r->z);
    r->z.zalloc = z_alloc;
    r->z.zfree = z_free;
    r->z.opaque = &r->mem;
    /* 16 + 15: gzip only; 15: a zlib stream, which is what RFC 9110 calls
     * deflate (raw deflate, sent by some servers, is tried on failure). */
    if (inflateInit2(&r->z, r->enc == ENC_GZIP ? 16 + MAX_WBITS : MAX_WBITS) != Z_OK) {
        weft__mem_free(r->mem, r->zin);
        r->zin = NULL;
        return WEFT_ENOMEM;
    }
    r->zinit = true;
    return 0;
}

/* After the coded stream has ended, the message must end too: read what
 * is left (trailing garbage is dropped) so the connection can be reused. */
static ssize_t z_finish(weft_http_response *r) {
    for (;;) {
        ssize_t n = raw_read(r, r->zin, ZIN);
        if (n <= 0) return n;
    }
}

static ssize_t dec_read(weft_http_response *r, void *buf, size_t len) {
    if (r->enc == ENC_NONE) return raw_read(r, buf, len);
    if (r->zend) return z_finish(r);
    if (!r->zinit) { int err = z_start(r); if (err) return err; }
    r->z.next_out = buf;
    r->z.avail_out = (uInt)(len > UINT32_MAX ? UINT32_MAX : len);
    /* Inflate first, read after: with a small output buffer zlib holds
     * decoded bytes back, and they must come out before more input goes
     * in, or before the end of the message is called a truncation. */
    for (;;) {
        int zr = inflate(&r->z, Z_NO_FLUSH);
        size_t got = len - r->z.avail_out;
        if (zr == Z_DATA_ERROR && r->enc == ENC_DEFLATE && !r->zraw_tried && r->z.total_out == 0 &&
            r->zfills == 1) {
            r->zraw_tried = true;   /* raw deflate, as browsers accept it */
            inflateReset2(&r->z, -MAX_WBITS);
            r->z.next_in = r->zin;
            r->z.avail_in = (uInt)r->zfirst;
            continue;
        }
        if (zr == Z_STREAM_END) {
            r->zend = true;
            return got ? (ssize_t)got : z_finish(r);
        }
        /* zlib allocates its window on the first inflate: out of memory
         * then is not a corrupt body. */
        if (zr == Z_MEM_ERROR) return WEFT_ENOMEM;
        if (zr != Z_OK && zr != Z_BUF_ERROR) return WEFT_EDECODE;
        if (got) return (ssize_t)got;
        if (r->z.avail_in) continue;
        ssize_t n = raw_read(r, r->zin, ZIN);
        if (n < 0) return n;
        /* An empty body (HEAD, 204, 304, Content-Length: 0) has no coded
         * stream at all; one that ends inside the coded stream is cut. */
        if (n == 0) return r->zfills == 0 ? 0 : WEFT_EDECODE;
        r->z.next_in = r->zin;
        r->z.avail_in = (uInt)n;
        if (r->zfills++ == 0) r->zfirst = (size_t)n;
    }
}

/* ----------------------------------------------------------- public reads */

static void finish_timing(weft_http_response *r) {
    if (!r->t.total) r->t.total = weft_now() - r->t_start;
}

ssize_t weft_http_response_read(weft_http_response *r, void *buf, size_t len) {
    if (!r || (!buf && len)) return WEFT_EINVAL;
    if (r->have_body) {
        size_t n = r->body_len - r->body_pos < len ? r->body_len - r->body_pos : len;
        memcpy(buf, r->body + r->body_pos, n);
        r->body_pos += n;
        return (ssize_t)n;
    }
    if (r->err) return r->err;
    if (r->done || len == 0) return 0;
    ssize_t n = dec_read(r, buf, len);
    if (n < 0) fail(r, (int)n);
    if (n == 0) { r->done = true; finish_timing(r); }
    return n;
}

int weft_http_response_body(weft_http_response *r, const void **data, size_t *len) {
    if (!r) return WEFT_EINVAL;
    size_t max = r->c ? r->c->o.max_body : SIZE_MAX;
    while (!r->have_body) {
        if (r->err) return r->err;
        size_t cap = r->body_len < 16 * 1024 ? 16 * 1024 : 2 * r->body_len;
        /* One byte past the limit tells "too big" from "exactly at it". */
        char *p = weft__mem_grow(r->mem, r->body, cap + 1);
        if (!p) return WEFT_ENOMEM;
        r->body = p;
        size_t room = cap - r->body_len;
        if (max != SIZE_MAX && room > max + 1 - r->body_len) room = max + 1 - r->body_len;
        ssize_t n = weft_http_response_read(r, p + r->body_len, room);
        if (n < 0) return (int)n;
        r->body_len += (size_t)n;
        if (r->body_len > max) { fail(r, WEFT_ETOOBIG); return WEFT_ETOOBIG; }
        if (n == 0) { r->have_body = true; r->body[r->body_len] = 0; }
    }
    if (data) *data = r->body;
    if (len) *len = r->body_len;
    return 0;
}

int weft_http_response_json(weft_http_response *r, json_t **out) {
    if (!r || !out) return WEFT_EINVAL;
    const void *data;
    size_t len;
    int err = weft_http_response_body(r, &data, &len);
    if (err) return err;
    json_error_t je;
    json_t *j = json_loadb(data, len, JSON_DECODE_ANY, &je);
    /* jansson 2.14 reports running out of memory as a syntax error (or an
     * unknown one): nothing here can tell them apart. */
    if (!j) return WEFT_EDECODE;
    *out = j;
    return 0;
}

void weft__response_discard(weft_http_response *r, size_t max) {
    char buf[4096];
    size_t got = 0;
    while (!r->err && !r->done && got <= max) {
        ssize_t n = weft_http_response_read(r, buf, sizeof buf);
        if (n <= 0) break;
        got += (size_t)n;
    }
}

/* ------------------------------------------------------------- accessors */

int weft_http_response_status(const weft_http_response *r) { return r ? r->status : WEFT_EINVAL; }
const char *weft_http_response_reason(const weft_http_response *r) { return r ? r->reason : ""; }
const char *weft_http_response_url(const weft_http_response *r) { return r ? r->url : ""; }
size_t weft_http_response_header_count(const weft_http_response *r) { return r ? r->nfields : 0; }

const char *weft_http_response_header(const weft_http_response *r, const char *name) {
    if (!r || !name) return NULL;
    for (size_t i = 0; i < r->nfields; i++)
        if (!strcasecmp(r->names[i], name)) return r->values[i];
    return NULL;
}

int weft_http_response_header_at(const weft_http_response *r, size_t i, const char **name,
                                 const char **value) {
    if (!r || i >= r->nfields) return WEFT_EINVAL;
    if (name) *name = r->names[i];
    if (value) *value = r->values[i];
    return 0;
}

int weft_http_raise_for_status(const weft_http_response *r) {
    if (!r) return WEFT_EINVAL;
    return r->status >= 400 ? WEFT_EHTTPSTATUS : 0;
}

void weft_http_response_timings(const weft_http_response *r, weft_http_timings *out) {
    if (r && out) *out = r->t;
}

void weft_http_response_free(weft_http_response *r) {
    if (!r) return;
    /* A body not read to its end leaves the connection mid-message, unless
     * the rest of it is buffered already: then dropping it costs nothing
     * and keeps the connection. */
    if (r->conn && r->framing == WEFT__BODY_LENGTH && r->left <= weft_stream_buffered(r->conn->s)) {
        weft_stream_consume(r->conn->s, (size_t)r->left);
        r->left = 0;
        end_raw(r);
    }
    if (r->conn || r->h2s) fail(r, WEFT_ECLOSED);
    if (r->zinit) inflateEnd(&r->z);
    weft__mem m = r->mem;
    weft__mem_free(m, r->zin);
    weft__mem_free(m, r->head);
    weft__mem_free(m, r->names);
    weft__mem_free(m, r->url);
    weft__mem_free(m, r->body);
    weft__mem_free(m, r);
}
