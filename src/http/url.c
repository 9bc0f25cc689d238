/* URLs for the HTTP client: parsing, resolving references, encoding query
 * parameters (url.h). Parsing splits a URL into views first and allocates
 * once, at the end, for every normalised string, so a failure leaves
 * nothing behind. Resolution follows RFC 3986 section 5.2 on those views
 * and hands the result to the parser, so a redirect's Location is held to
 * the same rules as a URL the caller wrote.
 */
#include "url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ splitting */

/* Views of a URL's parts (not NUL-terminated). */
typedef struct parts {
    const char *scheme, *auth, *path, *query;   /* query without its '?' */
    size_t scheme_len, auth_len, path_len, query_len;
    bool has_scheme, has_auth, has_query;
} parts;

static bool is_alpha(char c) { return (c | 32) >= 'a' && (c | 32) <= 'z'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Splits any reference (RFC 3986 appendix B's regular expression). */
static void split(const char *s, parts *p) {
    memset(p, 0, sizeof *p);
    const char *q = s;
    while (is_alpha(*q) || is_digit(*q) || *q == '+' || *q == '-' || *q == '.') q++;
    if (*q == ':' && q > s && is_alpha(*s)) {
        p->has_scheme = true;
        p->scheme = s;
        p->scheme_len = (size_t)(q - s);
        s = q + 1;
    }
    if (s[0] == '/' && s[1] == '/') {
        p->has_auth = true;
        p->auth = s + 2;
        p->auth_len = strcspn(p->auth, "/?#");
        s = p->auth + p->auth_len;
    }
    p->path = s;
    p->path_len = strcspn(s, "?#");
    s += p->path_len;
    if (*s == '?') {
        p->has_query = true;
        p->query = s + 1;
        p->query_len = strcspn(p->query, "#");
    }
}

/* Bytes allowed in a path or query: printable ASCII but space, '"', '<',
 * '>', '\\', '^', '`', '{', '|', '}' (RFC 3986 excludes them; browsers
 * would encode them, a strict client refuses them). */
static bool ok_chars(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}", c)) return false;
        if (c == '%' && (i + 2 >= len || !isxdigit((unsigned char)s[i + 1]) ||
                         !isxdigit((unsigned char)s[i + 2]))) return false;
    }
    return true;
}

/* The host and port of an authority, checked. host excludes brackets. */
static int split_auth(const char *a, size_t len, const char **host, size_t *hlen,
                      bool *v6, unsigned *port) {
    if (memchr(a, '@', len)) return WEFT_EURL;
    const char *end = a + len, *h = a, *he;
    *v6 = a < end && *a == '[';
    if (*v6) {
        he = memchr(a, ']', len);
        if (!he) return WEFT_EURL;
        h = a + 1;
        for (const char *c = h; c < he; c++)
            if (!is_digit(*c) && !strchr("abcdefABCDEF:.", *c)) return WEFT_EURL;
        if (he - h < 2 || !memchr(h, ':', (size_t)(he - h))) return WEFT_EURL;
        *hlen = (size_t)(he - h);
        he++;
    } else {
        he = memchr(a, ':', len);
        if (!he) he = end;
        for (const char *c = h; c < he; c++)
            if (!is_alpha(*c) && !is_digit(*c) && !strchr("-._", *c)) return WEFT_EURL;
        *hlen = (size_t)(he - h);
    }
    if (*hlen == 0) return WEFT_EURL;
    *host = h;
    *port = 0;
    if (he < end) {
        if (*he != ':') return WEFT_EURL;
        if (++he == end) return 0;   /* "host:" means the default port */
        unsigned long p = 0;
        for (; he < end; he++) {
            if (!is_digit(*he) || (p = p * 10 + (unsigned)(*he - '0')) > 65535) return WEFT_EURL;
        }
        if (p == 0) return WEFT_EURL;
        *port = (unsigned)p;
    }
    return 0;
}

/* -------------------------------------------------------------- parsing */

static int build(weft__url *u, const parts *p) {
    bool tls;
    if (p->scheme_len == 4 && !strncasecmp(p->scheme, "http", 4)) tls = false;
    else if (p->scheme_len == 5 && !strncasecmp(p->scheme, "https", 5)) tls = true;
    else return WEFT_EURL;
    if (!p->has_auth) return WEFT_EURL;
    const char *host;
    size_t hlen;
    bool v6;
    unsigned port;
    int err = split_auth(p->auth, p->auth_len, &host, &hlen, &v6, &port);
    if (err) return err;
    if (!ok_chars(p->path, p->path_len) || (p->has_query && !ok_chars(p->query, p->query_len)))
        return WEFT_EURL;
    if (p->path_len && p->path[0] != '/') return WEFT_EURL;
    unsigned dport = tls ? 443 : 80;
    if (!port) port = dport;

    /* One buffer: scheme, host, port, target, origin, href, each NUL-ended. */
    size_t tlen = (p->path_len ? p->path_len : 1) + (p->has_query ? 1 + p->query_len : 0);
    size_t cap = 6 + hlen + 1 + 6 + tlen + 1 + 2 * (8 + hlen + 2 + 6) + tlen + 8;
    weft__mem m = weft__mem_here();
    char *b = weft__mem_alloc(m, cap), *w = b;
    if (!b) return WEFT_ENOMEM;
    const char *scheme = tls ? "https" : "http";
    u->scheme = w; w += sprintf(w, "%s", scheme) + 1;
    u->host = w;
    for (size_t i = 0; i < hlen; i++) *w++ = (char)((host[i] >= 'A' && host[i] <= 'Z') ? host[i] | 32 : host[i]);
    *w++ = 0;
    u->port = w; w += sprintf(w, "%u", port) + 1;
    u->target = w;
    if (p->path_len) { memcpy(w, p->path, p->path_len); w += p->path_len; } else *w++ = '/';
    if (p->has_query) { *w++ = '?'; memcpy(w, p->query, p->query_len); w += p->query_len; }
    *w++ = 0;
    const char *lb = v6 ? "[" : "", *rb = v6 ? "]" : "";
    u->origin = w; w += sprintf(w, "%s://%s%s%s:%u", scheme, lb, u->host, rb, port) + 1;
    u->href = w;
    if (port == dport) w += sprintf(w, "%s://%s%s%s%s", scheme, lb, u->host, rb, u->target) + 1;
    else w += sprintf(w, "%s://%s%s%s:%u%s", scheme, lb, u->host, rb, port, u->target) + 1;
    u->buf = b;
    u->portnum = port;
    u->tls = tls;
    u->mem = m;
    return 0;
}

int weft__url_parse(weft__url *u, const char *s) {
    if (!u || !s) return WEFT_EINVAL;
    parts p;
    split(s, &p);
    if (!p.has_scheme) return WEFT_EURL;
    weft__url tmp;
    int err = build(&tmp, &p);
    if (!err) *u = tmp;
    return err;
}

void weft__url_free(weft__url *u) {
    if (u && u->buf) weft__mem_free(u->mem, u->buf);
    if (u) u->buf = NULL;
}

/* ------------------------------------------------------------ resolving */

/* RFC 3986 5.2.4, remove_dot_segments, on in[0, len) into out (which has
 * room for len + 1 bytes); returns the output length. */
static size_t remove_dots(const char *in, size_t len, char *out) {
    size_t o = 0;
    const char *end = in + len;
    while (in < end) {
        size_t left = (size_t)(end - in);
        if (left >= 3 && !memcmp(in, "../", 3)) in += 3;
        else if (left >= 2 && !memcmp(in, "./", 2)) in += 2;
        else if (left >= 3 && !memcmp(in, "/./", 3)) in += 2;
        else if (left == 2 && !memcmp(in, "/.", 2)) { in += 1; out[o++] = '/'; in = end; }
        else if ((left >= 4 && !memcmp(in, "/../", 4)) || (left == 3 && !memcmp(in, "/..", 3))) {
            in += 3;
            while (o > 0 && out[--o] != '/') {}
            if (in == end) out[o++] = '/';
        } else if ((left == 1 && in[0] == '.') || (left == 2 && !memcmp(in, "..", 2))) in = end;
        else {
            do out[o++] = *in++; while (in < end && *in != '/');
        }
    }
    return o;
}

int weft__url_resolve(weft__url *out, const weft__url *base, const char *ref) {
    if (!out || !ref) return WEFT_EINVAL;
    parts r;
    split(ref, &r);
    if (r.has_scheme || !base) return weft__url_parse(out, ref);
    parts b;
    split(base->href, &b);
    parts t = b;
    size_t cap = strlen(base->href) + strlen(ref) + 2;
    weft__mem m = weft__mem_here();
    char *merged = weft__mem_alloc(m, 2 * cap), *path = merged + cap;
    if (!merged) return WEFT_ENOMEM;
    if (r.has_auth) {
        t.auth = r.auth; t.auth_len = r.auth_len;
        t.path_len = remove_dots(r.path, r.path_len, path);
        t.path = path;
        t.has_query = r.has_query; t.query = r.query; t.query_len = r.query_len;
    } else if (r.path_len == 0) {
        if (r.has_query) { t.has_query = true; t.query = r.query; t.query_len = r.query_len; }
    } else {
        size_t n = 0;
        if (r.path[0] != '/') {   /* merge: the base's path up to its last '/' */
            const char *slash = b.path_len ? b.path : NULL;
            for (size_t i = 0; i < b.path_len; i++) if (b.path[i] == '/') slash = b.path + i;
            if (slash) { n = (size_t)(slash - b.path) + 1; memcpy(merged, b.path, n); }
            else merged[n++] = '/';
        }
        memcpy(merged + n, r.path, r.path_len);
        t.path_len = remove_dots(merged, n + r.path_len, path);
        t.path = path;
        t.has_query = r.has_query; t.query = r.query; t.query_len = r.query_len;
    }
    weft__url tmp;
    int err = build(&tmp, &t);
    weft__mem_free(m, merged);
    if (!err) *out = tmp;
    return err;
}

/* ------------------------------------------------------------- encoding */

static bool unreserved(unsigned char c) {
    return is_alpha((char)c) || is_digit((char)c) || c == '-' || c == '.' || c == '_' || c == '~';
}

size_t weft__url_encoded_len(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += unreserved((unsigned char)s[i]) ? 1 : 3;
    return n;
}

size_t weft__url_encode(char *out, const char *s, size_t len) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c)) { out[o++] = (char)c; continue; }
        out[o++] = '%';
        out[o++] = hex[c >> 4];
        out[o++] = hex[c & 15];
    }
    return o;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

void weft__url_decode(char *s) {
    char *o = s;
    for (; *s; s++) {
        int hi, lo;
        if (*s == '%' && (hi = hex_digit(s[1])) >= 0 && (lo = hex_digit(s[2])) >= 0 && (hi || lo)) {
            *o++ = (char)(hi * 16 + lo);
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = 0;
}
