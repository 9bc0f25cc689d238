/* What every parse of a head must satisfy, whatever the input: shared by
 * fuzz_http_request and fuzz_http_response.
 *
 * Each input is parsed whole, then again at several of its prefixes, each
 * copied into an allocation of exactly its length so that ASan catches a
 * read past the bytes given. A prefix must give 0 or the whole's answer;
 * a complete head must end in CRLF CRLF, with every view inside it; the
 * framing must match the fields that decide it. */
#ifndef WEFT_FUZZ_HEAD_H
#define WEFT_FUZZ_HEAD_H

#include "parse.h"

#include <weft.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

/* Parses buf[0, len) as a request (method NULL) or as a response to `method`. */
typedef ssize_t (*parse_fn)(const char *buf, size_t len, weft__http_head *h, const char *method,
                            const weft__http_limits *lim);

static bool inside(const char *p, size_t n, const char *buf, size_t len) {
    return n == 0 || (p >= buf && p + n <= buf + len);
}

/* The invariants of one parse of buf[0, len) that returned r. */
static void check_one(const char *buf, size_t len, ssize_t r, const weft__http_head *h,
                      const weft__http_limits *lim, bool request) {
    CHECK(r <= (ssize_t)len);
    if (r < 0) {
        CHECK(r == WEFT_EHTTP || r == WEFT_ETOOBIG);
        CHECK((r == WEFT_ETOOBIG) == (h->status == 414 || h->status == 431));
        if (request)
            CHECK(h->status == 400 || h->status == 414 || h->status == 431 || h->status == 501 || h->status == 505);
        return;
    }
    if (r == 0) return;
    CHECK(r >= 4 && !memcmp(buf + r - 4, "\r\n\r\n", 4));
    CHECK(!lim->max_head || (size_t)r <= lim->max_head);
    CHECK(h->nhdrs <= h->hdrs_cap && (!lim->max_headers || h->nhdrs <= lim->max_headers));
    CHECK(h->minor == 0 || h->minor == 1);
    CHECK(inside(h->method, h->method_len, buf, (size_t)r) && inside(h->target, h->target_len, buf, (size_t)r));
    CHECK(inside(h->reason, h->reason_len, buf, (size_t)r));
    CHECK(request ? h->method_len > 0 && h->target_len > 0 : h->status >= 100 && h->status <= 999);
    for (size_t i = 0; i < h->nhdrs; i++) {
        const weft__hdr *f = &h->hdrs[i];
        CHECK(f->name_len > 0 && inside(f->name, f->name_len, buf, (size_t)r));
        CHECK(inside(f->value, f->value_len, buf, (size_t)r));
        CHECK(!memchr(f->value, '\r', f->value_len) && !memchr(f->value, '\n', f->value_len));
        CHECK(!memchr(f->name, ':', f->name_len));
    }
    size_t n;
    bool cl = weft__http_find(h, "content-length", &n), te = weft__http_find(h, "transfer-encoding", &n);
    CHECK(!(cl && te));
    CHECK(!te || h->minor == 1);
    if (h->body == WEFT__BODY_CHUNKED) CHECK(te);
    if (h->body == WEFT__BODY_LENGTH) CHECK(cl);
    if (request) CHECK(h->body != WEFT__BODY_CLOSE && (h->minor == 0 || weft__http_find(h, "host", &n)));
}

/* Parses a copy of data[0, len) in an allocation of exactly that size. */
static ssize_t parse_copy(parse_fn parse, const uint8_t *data, size_t len, weft__http_head *h,
                          const char *method, const weft__http_limits *lim, weft__hdr *hdrs, size_t cap,
                          bool request) {
    char *buf = malloc(len ? len : 1);
    CHECK(buf);
    memcpy(buf, data, len);
    *h = (weft__http_head){ .hdrs = hdrs, .hdrs_cap = cap };
    ssize_t r = parse(buf, len, h, method, lim);
    check_one(buf, len, r, h, lim, request);
    free(buf);
    return r;
}

/* Parses data whole and at prefixes, checking they agree. */
static void check_head(parse_fn parse, const uint8_t *data, size_t len, const char *method,
                       const weft__http_limits *lim, bool request) {
    static weft__hdr hdrs[128], other[128];
    size_t cap = lim->max_headers && lim->max_headers < 128 ? lim->max_headers : 128;
    weft__http_head whole, part;
    ssize_t r = parse_copy(parse, data, len, &whole, method, lim, hdrs, cap, request);
    size_t cuts[] = { len / 2, len ? len - 1 : 0, len / 3, len / 7 * 6, r > 0 ? (size_t)r - 1 : 0, r > 0 ? (size_t)r : 0 };
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        ssize_t p = parse_copy(parse, data, cuts[i], &part, method, lim, other, cap, request);
        if (r > 0) CHECK(cuts[i] >= (size_t)r ? p == r : p == 0);
        else CHECK(p == 0 || p == r);
        if (p != 0) CHECK(part.status == whole.status);
        if (p > 0) {
            CHECK(part.nhdrs == whole.nhdrs && part.body == whole.body && part.keep_alive == whole.keep_alive);
            CHECK(part.content_length == whole.content_length && part.upgrade == whole.upgrade);
        }
    }
}

#endif
