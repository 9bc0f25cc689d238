/* libFuzzer target: URL parsing and reference resolution (src/http/url.h).
 * The input is a base URL and a reference separated by the first newline
 * (no newline: the whole input is both). Each string is handed over in an
 * allocation of exactly its length plus the NUL, so that ASan catches a
 * read past it. Invariants: a parsed or resolved URL, re-serialised (its
 * href), parses to the same parts; the parts agree with each other (origin
 * is scheme://host:port, the target starts with '/', the port is its
 * number); a resolution against no base accepts exactly what parse does;
 * every failure is WEFT_EURL (allocations do not fail here). The query
 * encoder's output has the length it promised and only unreserved
 * characters and %XX. */
#include "url.h"

#include <weft.h>

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

static char *copy(const uint8_t *data, size_t len) {
    char *s = malloc(len + 1);
    CHECK(s);
    memcpy(s, data, len);
    s[len] = '\0';
    return s;
}

static bool same(const weft__url *a, const weft__url *b) {
    return !strcmp(a->scheme, b->scheme) && !strcmp(a->host, b->host) && !strcmp(a->port, b->port) &&
           !strcmp(a->target, b->target) && !strcmp(a->origin, b->origin) && !strcmp(a->href, b->href) &&
           a->portnum == b->portnum && a->tls == b->tls;
}

/* The parts of a good URL agree with each other and survive a round trip. */
static void check_url(const weft__url *u) {
    CHECK(!strcmp(u->scheme, "http") || !strcmp(u->scheme, "https"));
    CHECK(u->tls == !strcmp(u->scheme, "https"));
    CHECK(u->portnum >= 1 && u->portnum <= 65535 && (unsigned)atoi(u->port) == u->portnum);
    CHECK(u->target[0] == '/' && !strchr(u->target, '#'));
    CHECK(*u->host && !strpbrk(u->host, "@/?# "));
    char origin[600];
    bool v6 = strchr(u->host, ':') != NULL;
    if (strlen(u->host) < 500) {
        snprintf(origin, sizeof origin, "%s://%s%s%s:%s", u->scheme, v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
        CHECK(!strcmp(origin, u->origin));
    }
    for (const char *p = u->href; *p; p++) CHECK((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f);
    size_t n = strlen(u->href);
    char *again = copy((const uint8_t *)u->href, n);
    weft__url v;
    CHECK(weft__url_parse(&v, again) == 0);
    CHECK(same(u, &v));
    weft__url_free(&v);
    free(again);
}

static void check_encode(const uint8_t *data, size_t len) {
    size_t n = weft__url_encoded_len((const char *)data, len);
    char *out = malloc(n ? n : 1);
    CHECK(out);
    CHECK(weft__url_encode(out, (const char *)data, len) == n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c == '%') {
            CHECK(i + 2 < n && isxdigit((unsigned char)out[i + 1]) && isxdigit((unsigned char)out[i + 2]));
            i += 2;
        } else {
            CHECK((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-._~", c));
        }
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    if (memchr(data, '\0', len)) return 0;  /* C strings: a NUL only ends one early */
    const uint8_t *nl = memchr(data, '\n', len);
    size_t blen = nl ? (size_t)(nl - data) : len;
    char *bs = copy(data, blen), *rs = nl ? copy(nl + 1, len - blen - 1) : copy(data, len);
    weft__url base = { 0 }, out;
    int rb = weft__url_parse(&base, bs);
    CHECK(rb == 0 || rb == WEFT_EURL);
    if (rb == 0) check_url(&base);
    int ra = weft__url_resolve(&out, NULL, rs);
    CHECK(ra == 0 || ra == WEFT_EURL);
    weft__url direct;
    int rp = weft__url_parse(&direct, rs);
    CHECK(rp == ra);
    if (ra == 0) {
        check_url(&out);
        CHECK(same(&out, &direct));
        weft__url_free(&out);
        weft__url_free(&direct);
    }
    if (rb == 0) {
        int rr = weft__url_resolve(&out, &base, rs);
        CHECK(rr == 0 || rr == WEFT_EURL);
        if (rr == 0) {
            check_url(&out);
            weft__url_free(&out);
        }
        weft__url_free(&base);
    }
    check_encode(data, len);
    free(bs);
    free(rs);
    return 0;
}
