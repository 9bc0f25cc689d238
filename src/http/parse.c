/* The HTTP/1.1 message parser (parse.h): request and response heads, the
 * framing facts drawn from their headers, and the chunked transfer coding.
 *
 * Each head parse runs in two passes. The first is syntax: it walks the
 * bytes once, left to right, and stops at the first byte that cannot belong
 * to a well-formed head, at the end of the head, or at the end of the bytes
 * it may look at. That last bound is the input clamped to the limits, so a
 * head passing a limit is refused as soon as the bytes that pass it arrive,
 * and a parse of any prefix of the input gives either 0 or the answer the
 * whole would give. The second pass, over the complete head only, reads the
 * fields that decide framing (Content-Length, Transfer-Encoding, Host,
 * Connection, Expect, Upgrade) and refuses every ambiguity that lets two
 * parsers disagree about where a message ends.
 *
 * Choices where the RFCs leave room, all on the strict side except where
 * noted:
 *  - Content-Length must be one value in a request: repeated (as fields or
 *    as a comma list, "5, 5"), even with the same value, it is refused, as
 *    RFC 9110 section 8.6 allows and nginx does: a server answers 400, and
 *    a request nobody sends that way is most likely an attack on a parser
 *    in front. A response may repeat one value (curl and Go read "5, 5"
 *    as 5, and RFC 9110 section 8.6 allows that too): a client cannot ask
 *    the server to send again. In both, different values, an empty list
 *    element, anything but digits, and values of 2^63 or more are refused.
 *  - Transfer-Encoding, over all its fields, must list "chunked" once and
 *    nothing else (any case, whitespace around it trimmed as OWS). A
 *    request whose last coding is not "chunked" is 400 (RFC 9112 section
 *    6.3: its length cannot be known); one with another coding before a
 *    final "chunked" 501 (section 6.1: weft decodes none); "chunked" twice
 *    or an empty element 400. Responses get the same
 *    rules (any violation is WEFT_EHTTP) rather than the RFC's
 *    read-until-close for a non-final chunked: a client has no business
 *    guessing where a body ends. Connection and Expect, which cannot move a
 *    message's end, are read leniently (empty list elements ignored).
 *  - The request target is visible ASCII only (no obs-text, no "#"), in
 *    the form its method calls for; Host, and an absolute-form target's
 *    authority, an authority's grammar (no "/", "@" or spaces; a port of
 *    digits), never empty. Characters RFC 3986 would have percent-encoded
 *    ("|", "{", "\"") are let through: browsers send some of them raw.
 *  - Empty lines before a request line are skipped (RFC 9112 section 2.2:
 *    a client may send a CRLF after a POST body); they count in the head's
 *    length and its limit.
 *  - A status line may lack the space before an empty reason ("HTTP/1.1
 *    200\r\n"): lenient, as every client is, and harmless to framing.
 */
#include "parse.h"

#include <weft.h>

#include <string.h>

/* ------------------------------------------------------------ characters */

/* Character classes, one bit each, for the bytes of a head. */
enum {
    TCHAR = 1,   /* token: ALPHA DIGIT and !#$%&'*+-.^_`|~ (RFC 9110 5.6.2) */
    FIELD = 2,   /* in a field value or reason: VCHAR, SP, HTAB, obs-text */
    TARGET = 4,  /* in a request target: visible ASCII but "#" (a fragment
                    is never sent: RFC 9112 section 3.2's forms have none) */
    HOST = 8,    /* in a Host value: unreserved, sub-delims, "%", ":", "[", "]" */
    REGNAME = 16,  /* in a host name or IPv4 address: HOST but ":", "[", "]" */
};
static const unsigned char cclass[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 31, 6, 3, 31, 31, 31, 31, 30, 30, 31, 31, 30, 31, 31, 6,
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 14, 30, 6, 30, 6, 6,
    6, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31,
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 14, 6, 14, 7, 31,
    7, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31,
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 6, 7, 6, 31, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

static bool is(char c, int cls) { return cclass[(unsigned char)c] & cls; }
static bool is_ows(char c) { return c == ' ' || c == '\t'; }
static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

/* Values at or past 2^63 are refused (Content-Length, chunk sizes): every
 * caller can then hold a length in an off_t or ssize_t. */
#define MAX_LENGTH ((uint64_t)INT64_MAX)

bool weft__http_token_eq(const char *tok, size_t len, const char *lower_lit) {
    size_t i = 0;
    for (; i < len; i++)
        if (!lower_lit[i] || lower(tok[i]) != lower_lit[i]) return false;
    return lower_lit[i] == '\0';
}

const char *weft__http_find(const weft__http_head *h, const char *name, size_t *len) {
    for (size_t i = 0; i < h->nhdrs; i++) {
        const weft__hdr *f = &h->hdrs[i];
        if (f->name_len != strlen(name)) continue;
        size_t k = 0;
        while (k < f->name_len && lower(f->name[k]) == lower(name[k])) k++;
        if (k < f->name_len) continue;
        *len = f->value_len;
        return f->value;
    }
    return NULL;
}

/* ---------------------------------------------------------------- syntax */

/* The syntax pass returns a position (> 0) past what it parsed, NEED when
 * the bytes end first, or a negative status (-400, -505). */
#define NEED 0

/* Sets the status to answer and returns the error for it. */
static ssize_t fail(weft__http_head *h, int status) {
    h->status = status;
    return status == 414 || status == 431 ? WEFT_ETOOBIG : WEFT_EHTTP;
}

/* The CRLF at b[i]: i + 2, NEED, or -400 (a bare CR, or anything else). */
static ssize_t crlf(const char *b, size_t i, size_t end) {
    if (i == end) return NEED;
    if (b[i] != '\r') return -400;
    if (i + 1 == end) return NEED;
    return b[i + 1] == '\n' ? (ssize_t)(i + 2) : -400;
}

/* "HTTP/x.y" at b[i], followed by `next`: i + 8, NEED, -400 for anything
 * but that shape, -505 for a major version other than 1. A minor version
 * past 1 is read as 1.1: RFC 9110 section 2.5 has a recipient process a
 * message of a higher minor version as one of the highest it conforms to
 * (minor versions are compatible by definition). */
static ssize_t version(const char *b, size_t i, size_t end, char next, int *minor) {
    static const char shape[] = "HTTP/0.0";
    for (size_t k = 0; k < 9; k++) {
        if (i + k == end) return NEED;
        char c = b[i + k];
        bool ok = k == 8 ? c == next : shape[k] == '0' ? c >= '0' && c <= '9' : c == shape[k];
        if (!ok) return -400;
    }
    if (b[i + 5] != '1') return -505;
    *minor = b[i + 7] > '1' ? 1 : b[i + 7] - '0';
    return (ssize_t)(i + 8);
}

/* Empty lines before a request: sets *pos past the complete ones and
 * returns 1, NEED (a CR ends the bytes), or -400. */
static ssize_t skip_empty_lines(const char *b, size_t end, size_t *pos) {
    for (*pos = 0; *pos < end && (b[*pos] == '\r' || b[*pos] == '\n');) {
        ssize_t r = crlf(b, *pos, end);
        if (r <= 0) return r;
        *pos = (size_t)r;
    }
    return 1;
}

/* The request line at b[i, end): its end, CRLF included. */
static ssize_t request_line(const char *b, size_t i, size_t end, weft__http_head *h) {
    size_t m = i;
    while (i < end && is(b[i], TCHAR)) i++;
    if (i == end) return NEED;
    if (i == m || b[i] != ' ') return -400;
    size_t t = ++i;
    while (i < end && is(b[i], TARGET)) i++;
    if (i == end) return NEED;
    if (i == t || b[i] != ' ') return -400;
    ssize_t r = version(b, i + 1, end, '\r', &h->minor);
    if (r <= 0) return r;
    h->method = b + m, h->method_len = t - 1 - m;
    h->target = b + t, h->target_len = i - t;
    return crlf(b, (size_t)r, end);
}

/* The status line at b[0, end): its end, CRLF included. */
static ssize_t status_line(const char *b, size_t end, weft__http_head *h) {
    ssize_t r = version(b, 0, end, ' ', &h->minor);
    if (r <= 0) return r;
    size_t i = (size_t)r + 1;
    int status = 0;
    for (size_t k = 0; k < 3; k++, i++) {
        if (i == end) return NEED;
        if (b[i] < '0' || b[i] > '9' || (k == 0 && b[i] == '0')) return -400;
        status = status * 10 + (b[i] - '0');
    }
    if (i == end) return NEED;
    if (b[i] == ' ') i++;
    else if (b[i] != '\r') return -400;
    size_t s = i;
    while (i < end && is(b[i], FIELD)) i++;
    h->status = status;
    h->reason = b + s, h->reason_len = i - s;
    return crlf(b, i, end);
}

/* Skips field-value bytes from b[i]: eight at a time while a word holds
 * no control character (a byte below 0x20, or 0x7f; obs-text passes), then
 * one at a time. Returns the first position that is not a value byte (or
 * end). Values are most of a head's bytes: this cuts the parse of a
 * typical 700-byte browser request by a third (1040 to 750 ns here). */
static size_t skip_value(const char *b, size_t i, size_t end) {
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    for (uint64_t w, del; i + 8 <= end; i += 8) {
        memcpy(&w, b + i, 8);
        del = w ^ (ones * 0x7f);
        /* Nonzero iff some byte is below 0x20, or some byte of del is 0. */
        if (((w - ones * 0x20) & ~w & highs) | ((del - ones) & ~del & highs)) break;
    }
    while (i < end && is(b[i], FIELD)) i++;
    return i;
}

bool weft__http_token_ok(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) if (!is(s[i], TCHAR)) return false;
    return len > 0;
}

bool weft__http_value_ok(const char *s, size_t len) { return skip_value(s, 0, len) == len; }

bool weft__http_field_ok(const char *name, size_t nlen, const char *value, size_t vlen) {
    return weft__http_token_ok(name, nlen) && weft__http_value_ok(value, vlen);
}

/* One field line at b[i, end) into *f: its end, CRLF included. Whitespace
 * before the colon, a leading space (obs-fold), a control character in the
 * value and a CR without LF are all -400. */
static ssize_t field_line(const char *b, size_t i, size_t end, weft__hdr *f) {
    size_t n = i;
    while (i < end && is(b[i], TCHAR)) i++;
    if (i == end) return NEED;
    if (i == n || b[i] != ':') return -400;
    f->name = b + n, f->name_len = i - n;
    for (i++; i < end && is_ows(b[i]);) i++;
    size_t v = i;
    i = skip_value(b, i, end);
    ssize_t r = crlf(b, i, end);
    if (r <= 0) return r;
    while (i > v && is_ows(b[i - 1])) i--;
    f->value = b + v, f->value_len = i - v;
    return r;
}

/* The field lines and the blank line from b[i, end), at most `max` fields:
 * the head's end, NEED, -400, or -431 for one field too many. */
static ssize_t field_lines(const char *b, size_t i, size_t end, weft__http_head *h, size_t max) {
    for (h->nhdrs = 0;;) {
        if (i < end && b[i] != '\r' && h->nhdrs == max) return -431;
        if (i == end || b[i] == '\r') return crlf(b, i, end);
        weft__hdr f;
        ssize_t r = field_line(b, i, end, &f);
        if (r <= 0) return r;
        h->hdrs[h->nhdrs++] = f;
        i = (size_t)r;
    }
}

/* --------------------------------------------------------------- framing */

/* Walks a comma-separated list: the next element of v[*i, n), trimmed of
 * whitespace, possibly empty. False past the last one. Start with *i = 0. */
static bool list_next(const char *v, size_t n, size_t *i, const char **e, size_t *elen) {
    if (*i > n) return false;
    size_t s = *i, k = s;
    while (k < n && v[k] != ',') k++;
    *i = k + 1;
    while (s < k && is_ows(v[s])) s++;
    while (k > s && is_ows(v[k - 1])) k--;
    *e = v + s, *elen = k - s;
    return true;
}

/* What the framing fields say, gathered over all of them. */
typedef struct facts {
    bool has_cl, cl_bad;            /* Content-Length: seen, malformed or conflicting */
    bool cl_repeated;               /* more than one value, over all its fields */
    uint64_t cl;
    bool has_te, te_bad, te_unknown; /* Transfer-Encoding: seen, empty element, other coding */
    bool te_last_chunked;           /* its last element, over all its fields, is "chunked" */
    int chunked;                    /* how many times "chunked" was listed */
    int hosts;
    bool host_bad;
    bool close, keep_alive, conn_upgrade, has_upgrade;
} facts;

/* Content-Length: 1*DIGIT, as a list of equal values if repeated. */
static void content_length(facts *x, const char *v, size_t n) {
    const char *e;
    size_t len, i = 0;
    while (list_next(v, n, &i, &e, &len)) {
        uint64_t cl = 0;
        x->cl_bad |= len == 0;
        for (size_t k = 0; k < len && !x->cl_bad; k++) {
            unsigned d = (unsigned char)e[k] - '0';
            x->cl_bad = d > 9 || cl > (MAX_LENGTH - d) / 10;
            cl = cl * 10 + d;
        }
        x->cl_bad |= x->has_cl && cl != x->cl;
        x->cl_repeated |= x->has_cl;
        x->has_cl = true, x->cl = cl;
    }
}

static void transfer_encoding(facts *x, const char *v, size_t n) {
    const char *e;
    size_t len, i = 0;
    x->has_te = true;
    while (list_next(v, n, &i, &e, &len)) {
        x->te_last_chunked = weft__http_token_eq(e, len, "chunked");
        if (len == 0) x->te_bad = true;
        else if (x->te_last_chunked) x->chunked++;
        else x->te_unknown = true;
    }
}

static void connection(facts *x, const char *v, size_t n) {
    const char *e;
    size_t len, i = 0;
    while (list_next(v, n, &i, &e, &len)) {
        x->close |= weft__http_token_eq(e, len, "close");
        x->keep_alive |= weft__http_token_eq(e, len, "keep-alive");
        x->conn_upgrade |= weft__http_token_eq(e, len, "upgrade");
    }
}

/* Whether v[0, n) is an authority a server can take (RFC 9110 section
 * 7.2, Host = uri-host [ ":" port ], with RFC 3986's uri-host): an IP
 * literal in brackets, or a name or IPv4 address of unreserved,
 * sub-delims and percent characters, then an optional port of digits.
 * Never empty: an "http" URI has a host (RFC 9110 section 4.2.1), and
 * "@" (userinfo) is refused, as RFC 9110 section 4.2.4 advises. */
static bool host_ok(const char *v, size_t n) {
    size_t i = 0;
    if (n && v[0] == '[') {
        while (++i < n && (is(v[i], REGNAME) || v[i] == ':')) {}
        if (i == n || i == 1 || v[i++] != ']') return false;
    } else {
        while (i < n && is(v[i], REGNAME)) i++;
        if (i == 0) return false;
    }
    if (i < n && v[i++] != ':') return false;
    while (i < n && v[i] >= '0' && v[i] <= '9') i++;
    return i == n;
}

static void gather(facts *x, weft__http_head *h) {
    for (size_t i = 0; i < h->nhdrs; i++) {
        const weft__hdr *f = &h->hdrs[i];
        const char *v = f->value;
        size_t n = f->value_len;
        if (weft__http_token_eq(f->name, f->name_len, "content-length")) content_length(x, v, n);
        else if (weft__http_token_eq(f->name, f->name_len, "transfer-encoding")) transfer_encoding(x, v, n);
        else if (weft__http_token_eq(f->name, f->name_len, "connection")) connection(x, v, n);
        else if (weft__http_token_eq(f->name, f->name_len, "upgrade")) x->has_upgrade = true;
        else if (weft__http_token_eq(f->name, f->name_len, "expect"))
            h->expect_continue |= h->minor == 1 && weft__http_token_eq(v, n, "100-continue");
        else if (weft__http_token_eq(f->name, f->name_len, "host")) {
            x->hosts++;
            x->host_bad |= !host_ok(v, n);
        }
    }
}

/* Checks the framing fields and sets body, content_length and the
 * connection facts. Returns 0 or the status to refuse with. */
static int framing(weft__http_head *h, bool request) {
    facts x = { 0 };
    h->expect_continue = false;
    gather(&x, h);
    if (x.cl_bad || (request && x.cl_repeated)) return 400;
    if (x.has_te && (h->minor == 0 || x.has_cl || x.te_bad || !x.te_last_chunked)) return 400;
    if (x.chunked > 1) return 400;
    if (x.te_unknown) return 501;
    if (request && (x.hosts > 1 || x.host_bad || (h->minor == 1 && x.hosts == 0))) return 400;
    h->body = x.has_te ? WEFT__BODY_CHUNKED : x.has_cl ? WEFT__BODY_LENGTH : WEFT__BODY_NONE;
    h->content_length = x.has_cl ? x.cl : 0;
    h->keep_alive = !x.close && (h->minor == 1 || x.keep_alive);
    h->upgrade = x.conn_upgrade && x.has_upgrade;
    return 0;
}

/* ------------------------------------------------------------------ heads */

static void head_reset(weft__http_head *h) {
    h->method = h->target = h->reason = NULL;
    h->method_len = h->target_len = h->reason_len = 0;
    h->status = 0, h->minor = 0, h->nhdrs = 0;
    h->body = WEFT__BODY_NONE, h->content_length = 0;
    h->keep_alive = h->expect_continue = h->upgrade = false;
}

static size_t clamp(size_t len, size_t limit) { return limit && limit < len ? limit : len; }

/* The fields after the first line (ending at `start`), limits applied, then
 * the framing. */
static ssize_t rest(const char *buf, size_t len, size_t start, weft__http_head *h,
                    const weft__http_limits *lim, bool request) {
    size_t end = clamp(len, lim->max_head);
    size_t max = lim->max_headers && lim->max_headers < h->hdrs_cap ? lim->max_headers : h->hdrs_cap;
    ssize_t r = field_lines(buf, start, end, h, max);
    if (r == NEED) return lim->max_head && len >= lim->max_head ? fail(h, 431) : 0;
    if (r < 0) return fail(h, (int)-r);
    int status = framing(h, request);
    return status ? fail(h, status) : r;
}

/* The first line's result, turned into the parse's. The line was scanned
 * up to line_end (its start + max_line) or to the head's limit, whichever
 * came first: NEED there means the line passed that limit. */
static ssize_t first_line(ssize_t r, size_t len, size_t line_end, const weft__http_limits *lim,
                          weft__http_head *h) {
    if (r < 0) return fail(h, (int)-r);
    if (r > 0) return r;
    if (lim->max_line && line_end <= clamp(len, lim->max_head)) return fail(h, 414);
    if (lim->max_head && len >= lim->max_head) return fail(h, 431);
    return 0;
}

size_t weft__http_authority(const char *t, size_t n, const char **auth) {
    size_t i = n >= 7 && weft__http_token_eq(t, 7, "http://") ? 7
             : n >= 8 && weft__http_token_eq(t, 8, "https://") ? 8 : 0;
    if (!i) return 0;
    size_t a = i;
    while (i < n && t[i] != '/' && t[i] != '?') i++;
    *auth = t + a;
    return i - a;
}

/* Whether the target's form fits the method (RFC 9112 section 3.2): 0, or
 * the status to refuse with. Only OPTIONS may ask about "*"; CONNECT,
 * the one method of the authority-form, asks for a tunnel, which this
 * server never makes (501: RFC 9110 section 9.1's answer to a method it
 * does not implement); an absolute-form target must be an "http" or
 * "https" URI with a valid authority (an origin server must accept it,
 * RFC 9112 section 3.2.2; any other scheme is a request for a proxy). */
static int target_form(const weft__http_head *h) {
    const char *t = h->target, *auth;
    size_t n = h->target_len;
    if (h->method_len == 7 && !memcmp(h->method, "CONNECT", 7)) return 501;
    if (t[0] == '/') return 0;
    if (n == 1 && t[0] == '*') return h->method_len == 7 && !memcmp(h->method, "OPTIONS", 7) ? 0 : 400;
    size_t alen = weft__http_authority(t, n, &auth);
    return alen && host_ok(auth, alen) ? 0 : 400;
}

ssize_t weft__http_parse_request(const char *buf, size_t len, weft__http_head *h,
                                 const weft__http_limits *lim) {
    head_reset(h);
    size_t end = clamp(len, lim->max_head), start;
    ssize_t r = skip_empty_lines(buf, end, &start);
    size_t line_end = lim->max_line ? start + lim->max_line : SIZE_MAX;
    if (r > 0) r = request_line(buf, start, line_end < end ? line_end : end, h);
    r = first_line(r, len, line_end, lim, h);
    int status = r > 0 ? target_form(h) : 0;
    if (status) return fail(h, status);
    return r <= 0 ? r : rest(buf, len, (size_t)r, h, lim, true);
}

ssize_t weft__http_parse_response(const char *buf, size_t len, weft__http_head *h,
                                  const char *method, const weft__http_limits *lim) {
    head_reset(h);
    size_t end = clamp(clamp(len, lim->max_head), lim->max_line);
    ssize_t r = first_line(status_line(buf, end, h), len, lim->max_line, lim, h);
    if (r <= 0) return r;
    int status = h->status;
    r = rest(buf, len, (size_t)r, h, lim, false);
    if (r < 0) return r;
    h->status = status;
    bool head = method && !strcmp(method, "HEAD");
    bool tunnel = method && !strcmp(method, "CONNECT") && status / 100 == 2;
    if (head || tunnel || status / 100 == 1 || status == 204 || status == 304) {
        h->body = WEFT__BODY_NONE;
    } else if (h->body == WEFT__BODY_NONE) {
        h->body = WEFT__BODY_CLOSE;
        h->keep_alive = false;
    }
    return r;
}

/* ---------------------------------------------------------------- chunked */

/* Decoder states. A size line is C_SIZE up to C_EXT_END; the C_EXT_ ones
 * walk its extensions. */
enum { C_SIZE,
       C_EXT_BWS,       /* whitespace after the size or a value, before ";" */
       C_EXT_NAME0,     /* after ";", before the name */
       C_EXT_NAME,
       C_EXT_NAME_BWS,  /* whitespace after the name, before "=" or ";" */
       C_EXT_VAL0,      /* after "=", before the value */
       C_EXT_TOKEN,
       C_EXT_QUOTED,
       C_EXT_QPAIR,     /* after a backslash in a quoted string */
       C_EXT_END,       /* after a quoted string's closing quote */
       C_SIZE_LF, C_DATA, C_DATA_CR, C_DATA_LF,
       C_TRAILER, C_TNAME, C_TVALUE, C_TLF, C_END_LF, C_DONE };

/* A size line (digits, extensions, CRLF) and the trailer section may each
 * take this many bytes: far more than any sender needs, and it bounds what
 * a peer can make us read without a byte of body. */
#define CHUNK_LINE_MAX 4096

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* After the size, an extension's name or its value: the next extension,
 * the line's end, or whitespace that may only lead to a ";". */
static int ext_next(char ch) {
    return ch == ';' ? C_EXT_NAME0 : ch == '\r' ? C_SIZE_LF : is_ows(ch) ? C_EXT_BWS : -1;
}

/* One byte of the extensions, RFC 9112 section 7.1.1's grammar exactly:
 *   *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
 * They carry nothing weft uses, but a lax reading here is a place where
 * two parsers of one body can disagree (a bare ";", a "[" in a name): the
 * recipient must parse BWS (RFC 9110 section 5.6.3), and everything else
 * is refused. Returns the next state or -1. */
static int ext_byte(int st, char ch) {
    bool ws = is_ows(ch), tok = is(ch, TCHAR);
    switch (st) {
    case C_EXT_BWS: return ws ? st : ch == ';' ? C_EXT_NAME0 : -1;
    case C_EXT_NAME0: return ws ? st : tok ? C_EXT_NAME : -1;
    case C_EXT_NAME: return tok ? st : ch == '=' ? C_EXT_VAL0 : ws ? C_EXT_NAME_BWS : ext_next(ch);
    case C_EXT_NAME_BWS: return ws ? st : ch == '=' ? C_EXT_VAL0 : ch == ';' ? C_EXT_NAME0 : -1;
    case C_EXT_VAL0: return ws ? st : tok ? C_EXT_TOKEN : ch == '"' ? C_EXT_QUOTED : -1;
    case C_EXT_TOKEN: return tok ? st : ext_next(ch);
    case C_EXT_QUOTED: return ch == '"' ? C_EXT_END : ch == '\\' ? C_EXT_QPAIR : is(ch, FIELD) ? st : -1;
    case C_EXT_QPAIR: return is(ch, FIELD) ? C_EXT_QUOTED : -1;
    default: return ext_next(ch);  /* C_EXT_END */
    }
}

/* One byte of a size line. Returns the next state or -1. */
static int size_byte(weft__chunked *c, char ch) {
    if (++c->line > CHUNK_LINE_MAX) return -1;
    if (c->state != C_SIZE) return ext_byte(c->state, ch);
    int d = hexval(ch);
    if (d >= 0) {
        if (c->left > (MAX_LENGTH - (uint64_t)d) / 16) return -1;
        c->left = c->left * 16 + (uint64_t)d;
        return C_SIZE;
    }
    return c->line == 1 ? -1 : ext_next(ch);  /* -1: no digit */
}

/* After a size line's CRLF. */
static int size_done(weft__chunked *c) {
    c->line = 0;
    return c->left ? C_DATA : C_TRAILER;
}

/* One byte of the trailer section. Returns the next state or -1. */
static int trailer_byte(weft__chunked *c, char ch) {
    if (++c->trailer_bytes > CHUNK_LINE_MAX) return -1;
    switch (c->state) {
    case C_TRAILER: return ch == '\r' ? C_END_LF : is(ch, TCHAR) ? C_TNAME : -1;
    case C_TNAME: return ch == ':' ? C_TVALUE : is(ch, TCHAR) ? C_TNAME : -1;
    case C_TVALUE: return ch == '\r' ? C_TLF : is(ch, FIELD) ? C_TVALUE : -1;
    case C_TLF: return ch == '\n' ? C_TRAILER : -1;
    default: return ch == '\n' ? C_DONE : -1;  /* C_END_LF */
    }
}

/* One framing byte in any state but C_DATA and C_DONE. */
static int frame_byte(weft__chunked *c, char ch) {
    if (c->state <= C_EXT_END) return size_byte(c, ch);
    switch (c->state) {
    case C_SIZE_LF: return ch == '\n' && c->line < CHUNK_LINE_MAX ? size_done(c) : -1;
    case C_DATA_CR: return ch == '\r' ? C_DATA_LF : -1;
    case C_DATA_LF: return ch == '\n' ? C_SIZE : -1;
    default: return trailer_byte(c, ch);
    }
}

ssize_t weft__chunked_step(weft__chunked *c, const char *in, size_t len, size_t max_data,
                           const char **data, size_t *dlen) {
    weft__chunked s = *c;  /* a failed call changes nothing */
    size_t i = 0;
    *data = NULL, *dlen = 0;
    while (i < len && s.state != C_DONE) {
        if (s.state == C_DATA) {
            size_t n = len - i < max_data ? len - i : max_data;
            if (n > s.left) n = (size_t)s.left;
            if (n) *data = in + i, *dlen = n;
            i += n, s.left -= n;
            if (!s.left) s.state = C_DATA_CR;
            break;
        }
        int next = frame_byte(&s, in[i++]);
        if (next < 0) return WEFT_EHTTP;
        s.state = next;
    }
    s.done = s.state == C_DONE;
    *c = s;
    return (ssize_t)i;
}
