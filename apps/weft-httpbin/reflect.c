/* The request as httpbin shows it back: get_dict's url, args, form, data,
 * origin, headers, files, json and method, built the way python3-httpbin
 * (Flask and werkzeug underneath) builds them, so that clients written
 * against httpbin read the same document from weft-httpbin.
 *
 * The werkzeug habits reproduced here: query and form pairs split on '&',
 * '+' and %XX decoded, text decoded as UTF-8 with invalid bytes replaced by
 * U+FFFD; a key given more than once becomes an array of its values
 * ("semiflatten"); header names title-cased with '_' read as '-' (as the
 * WSGI environ carries them) and repeated headers joined with ","; a body
 * that is not UTF-8 shown as a base64 data: URL; a form body shown in
 * "form" and not in "data".
 */
#include "internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

/* ------------------------------------------------------------- strings */

void httpbin__target(weft_httpd_req *req, const char **path, size_t *plen,
                     const char **query, size_t *qlen)
{
    const char *t = weft_httpd_req_path(req);
    /* werkzeug's server reads "//a/b" as a URL with the authority "a"
     * and makes the path "/a/b" of it: extra leading slashes vanish. */
    while (t[0] == '/' && t[1] == '/') t++;
    *path = t;
    *plen = strlen(t);
    *query = weft_httpd_req_query(req);
    *qlen = strlen(*query);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t httpbin__unquote_to(char *o, const char *s, size_t len, bool plus)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len &&
            (hi = hexval((unsigned char)s[i + 1])) >= 0 && (lo = hexval((unsigned char)s[i + 2])) >= 0) {
            o[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            o[n++] = plus && s[i] == '+' ? ' ' : s[i];
        }
    }
    o[n] = 0;
    return n;
}

char *httpbin__unquote(const char *s, size_t len, bool plus, size_t *out_len)
{
    char *o = malloc(len + 1);
    if (!o) return NULL;
    size_t n = httpbin__unquote_to(o, s, len, plus);
    if (out_len) *out_len = n;
    return o;
}

/* The length of the well-formed UTF-8 sequence at s (1..4), or 0 if the
 * bytes there are not one (overlong forms and surrogates included). */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    if (s[0] < 0x80) return 1;
    size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (!n || s[0] > 0xf4 || n > len) return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && s[0] == 0xe0 && s[1] < 0xa0) return 0;   /* overlong */
    if (n == 3 && s[0] == 0xed && s[1] >= 0xa0) return 0;  /* surrogate */
    if (n == 4 && s[0] == 0xf0 && s[1] < 0x90) return 0;   /* overlong */
    if (n == 4 && s[0] == 0xf4 && s[1] >= 0x90) return 0;  /* > U+10FFFF */
    return n;
}

static bool utf8_valid(const char *s, size_t len)
{
    for (size_t i = 0, n; i < len; i += n)
        if (!(n = utf8_seq((const unsigned char *)s + i, len - i))) return false;
    return true;
}

/* s[0, len) as a JSON string, each byte that is not part of well-formed
 * UTF-8 replaced by U+FFFD (Python's errors="replace", byte by byte). */
json_t *httpbin__text(const char *s, size_t len)
{
    if (utf8_valid(s, len)) return json_stringn(s, len);
    char *o = malloc(3 * len + 1);
    if (!o) return NULL;
    size_t n = 0;
    for (size_t i = 0, k; i < len; i += k) {
        k = utf8_seq((const unsigned char *)s + i, len - i);
        if (k) {
            memcpy(o + n, s + i, k);
            n += k;
        } else {
            memcpy(o + n, "\xef\xbf\xbd", 3);
            n += 3;
            k = 1;
        }
    }
    json_t *j = json_stringn(o, n);
    free(o);
    return j;
}

/* httpbin's json_safe: the body as text if it is UTF-8, else as a data:
 * URL holding it in base64. */
static json_t *json_safe(const char *s, size_t len, const char *ctype, size_t ctlen)
{
    if (utf8_valid(s, len)) return json_stringn(s, len);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t cap = 5 + ctlen + 8 + (len + 2) / 3 * 4 + 1;
    char *o = malloc(cap);
    if (!o) return NULL;
    size_t n = (size_t)snprintf(o, cap, "data:%.*s;base64,", (int)ctlen, ctype);
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < len ? p[i + 2] : 0);
        o[n++] = b64[v >> 18 & 63];
        o[n++] = b64[v >> 12 & 63];
        o[n++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
        o[n++] = i + 2 < len ? b64[v & 63] : '=';
    }
    json_t *j = json_stringn(o, n);
    free(o);
    return j;
}

/* ------------------------------------------------------- multi-values */

/* Appends value (a new reference, taken even on failure) to the array of
 * key's values in `multi`. */
static int multi_add(json_t *multi, const char *key, size_t klen, json_t *value)
{
    if (!value) return WEFT_ENOMEM;
    json_t *arr = json_object_getn(multi, key, klen);
    if (!arr) {
        arr = json_array();
        if (json_object_setn_new_nocheck(multi, key, klen, arr)) {
            json_decref(value);
            return WEFT_ENOMEM;
        }
    }
    return json_array_append_new(arr, value) ? WEFT_ENOMEM : 0;
}

/* httpbin's semiflatten: a key with one value maps to it, not to an array. */
static void semiflatten(json_t *multi)
{
    const char *key;
    size_t klen;
    json_t *arr;
    json_object_keylen_foreach(multi, key, klen, arr)
        if (json_array_size(arr) == 1)
            json_object_setn_nocheck(multi, key, klen, json_array_get(arr, 0));
}

/* Decodes a key: text, so never anything jansson refuses as a key. */
static int add_pair(json_t *multi, const char *k, size_t klen, const char *v, size_t vlen)
{
    size_t kn, vn;
    char *key = httpbin__unquote(k, klen, true, &kn);
    char *val = httpbin__unquote(v, vlen, true, &vn);
    json_t *jk = key ? httpbin__text(key, kn) : NULL;
    int err = WEFT_ENOMEM;
    if (jk && val)
        err = multi_add(multi, json_string_value(jk), json_string_length(jk), httpbin__text(val, vn));
    json_decref(jk);
    free(key);
    free(val);
    return err;
}

/* werkzeug's url_decode into `multi`: pairs split on '&', empty ones
 * skipped, a pair without '=' a key with an empty value. */
static int parse_pairs(json_t *multi, const char *s, size_t len)
{
    while (len) {
        const char *amp = memchr(s, '&', len);
        size_t n = amp ? (size_t)(amp - s) : len;
        if (n) {
            const char *eq = memchr(s, '=', n);
            size_t kl = eq ? (size_t)(eq - s) : n;
            int err = add_pair(multi, s, kl, eq ? eq + 1 : s + n, eq ? n - kl - 1 : 0);
            if (err) return err;
        }
        s += n + (amp != NULL);
        len -= n + (amp != NULL);
    }
    return 0;
}

json_t *httpbin__pairs(const char *s, size_t len)
{
    json_t *multi = json_object();
    if (!multi || parse_pairs(multi, s, len)) {
        json_decref(multi);
        return NULL;
    }
    semiflatten(multi);
    return multi;
}

int httpbin__arg(const char *query, size_t qlen, const char *name, bool nocase, char **out)
{
    size_t nlen = strlen(name);
    while (qlen) {
        const char *amp = memchr(query, '&', qlen);
        size_t n = amp ? (size_t)(amp - query) : qlen;
        const char *eq = memchr(query, '=', n);
        size_t kl = eq ? (size_t)(eq - query) : n, dl;
        char *key = n ? httpbin__unquote(query, kl, true, &dl) : NULL;
        if (n && !key) return WEFT_ENOMEM;
        bool hit = key && dl == nlen && (nocase ? !strcasecmp(key, name) : !strcmp(key, name));
        free(key);
        if (hit) {
            *out = httpbin__unquote(eq ? eq + 1 : query + n, eq ? n - kl - 1 : 0, true, NULL);
            return *out ? 1 : WEFT_ENOMEM;
        }
        query += n + (amp != NULL);
        qlen -= n + (amp != NULL);
    }
    return 0;
}

/* -------------------------------------------------------------- headers */

/* The headers a proxy adds, which httpbin hides unless ?show_env is given. */
static const char *const env_headers[] = {
    "X-Varnish", "X-Request-Start", "X-Heroku-Queue-Depth", "X-Real-Ip",
    "X-Forwarded-Proto", "X-Forwarded-Protocol", "X-Forwarded-Ssl",
    "X-Heroku-Queue-Wait-Time", "X-Forwarded-For", "X-Heroku-Dynos-In-Use",
    "X-Forwarded-Port", "X-Request-Id", "Via", "Total-Route-Time", "Connect-Time",
};

/* Python's str.title() over the name as the WSGI environ carries it: a
 * letter is upper case after anything but a letter, lower case after one;
 * '_' becomes '-'. */
static void title_case(char *dst, const char *name, size_t len)
{
    bool after_letter = false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i] == '_' ? '-' : name[i];
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (letter) c = after_letter ? (char)(c | 0x20) : (char)(c & ~0x20);
        dst[i] = c;
        after_letter = letter;
    }
    dst[len] = 0;
}

/* Adds one header: a repeated name is joined to the earlier value with ","
 * as the WSGI server joins it, except Content-Type and Content-Length,
 * where the last one wins; those two are left out when empty. */
static int add_header(json_t *h, const char *name, const char *value)
{
    size_t len = strlen(name);
    char key[256];
    if (len >= sizeof key) return 0;  /* no such header is worth reflecting */
    title_case(key, name, len);
    bool framing = !strcmp(key, "Content-Type") || !strcmp(key, "Content-Length");
    if (framing && !*value) return 0;
    json_t *old = json_object_get(h, key);
    json_t *v;
    if (old && !framing) {
        size_t ol = json_string_length(old), vl = strlen(value);
        char *joined = malloc(ol + 1 + vl);
        if (!joined) return WEFT_ENOMEM;
        memcpy(joined, json_string_value(old), ol);
        joined[ol] = ',';
        memcpy(joined + ol + 1, value, vl);
        v = httpbin__text(joined, ol + 1 + vl);
        free(joined);
    } else {
        v = httpbin__text(value, strlen(value));
    }
    return json_object_set_new(h, key, v) ? WEFT_ENOMEM : 0;
}

/* Every header, as werkzeug presents them. */
static json_t *headers(weft_httpd_req *req)
{
    json_t *h = json_object();
    size_t n = weft_httpd_req_header_count(req);
    for (size_t i = 0; h && i < n; i++) {
        const char *name, *value;
        if (weft_httpd_req_header_at(req, i, &name, &value)) continue;
        if (add_header(h, name, value)) {
            json_decref(h);
            return NULL;
        }
    }
    return h;
}

/* Removes the proxies' headers unless the query asks for them (?show_env). */
static int hide_env(json_t *h, const char *query, size_t qlen)
{
    char *show = NULL;
    int shown = httpbin__arg(query, qlen, "show_env", false, &show);
    free(show);
    /* A request has a few headers and the list fifteen names: walk the
     * headers (15 hash deletions cost ~2,300 instructions a request). */
    const char *key;
    json_t *v;
    void *tmp;
    if (!shown)
        json_object_foreach_safe(h, tmp, key, v) {
            (void)v;
            if (!strchr("XVTC", key[0])) continue;
            for (size_t i = 0; i < sizeof env_headers / sizeof *env_headers; i++)
                if (!strcmp(key, env_headers[i])) {
                    json_object_del(h, key);
                    break;
                }
        }
    return shown < 0 ? shown : 0;
}

/* The header's values joined as httpbin sees them, or NULL. Borrowed from
 * `h`, the reflected headers. */
static const char *hget(json_t *h, const char *name)
{
    return json_string_value(json_object_get(h, name));
}

/* ---------------------------------------------------------- url, origin */

const char *httpbin__host(weft_httpd_req *req)
{
    const char *host = weft_httpd_req_host(req);
    return host && *host ? host : "localhost";
}

/* What werkzeug leaves unquoted in any part of a URL. */
static bool always_safe(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~$!'()*+,;", c));
}

static size_t put_hex(char *o, unsigned char b)
{
    static const char hex[] = "0123456789ABCDEF";
    o[0] = '%';
    o[1] = hex[b >> 4];
    o[2] = hex[b & 15];
    return 3;
}

/* The path or query as werkzeug's request.url shows it, an IRI: the path
 * decoded and quoted again; in both, escapes of safe ASCII decoded, other
 * ASCII quoted, UTF-8 shown as text and other bytes as %XX. Two passes:
 * the first settles the ASCII and leaves bytes >= 0x80 raw, the second
 * checks those as UTF-8. o holds 3 * len bytes. Returns the length. */
static size_t iri(const char *in, size_t len, bool query, char *o)
{
    char *mid = o + 3 * len;  /* pass 1 writes behind, pass 2 reads it: see url() */
    size_t m = 0, n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)in[i];
        int hi, lo;
        bool esc = b == '%' && i + 2 < len && (hi = hexval((unsigned char)in[i + 1])) >= 0 &&
                   (lo = hexval((unsigned char)in[i + 2])) >= 0;
        if (esc) b = (unsigned char)(hi << 4 | lo);
        if (b >= 0x80 || always_safe(b) || (!esc && (query ? strchr(":&%=+$!*'(),", b) != NULL
                                                            : b == '/' || b == ':')))
            mid[m++] = (char)b;
        else if (esc && query) {
            memcpy(mid + m, in + i, 3);  /* kept as it came, case and all */
            m += 3;
        } else {
            m += put_hex(mid + m, b);
        }
        i += esc ? 2 : 0;
    }
    for (size_t i = 0, k; i < m; i += k) {
        k = (unsigned char)mid[i] < 0x80 ? 1 : utf8_seq((const unsigned char *)mid + i, m - i);
        if (k) {
            memcpy(o + n, mid + i, k);
            n += k;
        } else {
            n += put_hex(o + n, (unsigned char)mid[i]);
            k = 1;
        }
    }
    return n;
}

/* werkzeug's request.url behind httpbin's get_url: the scheme (http, or
 * what X-Forwarded-Proto, -Protocol or -Ssl: on say), the Host header, and
 * the target as an IRI. */
static json_t *url(weft_httpd_req *req)
{
    const char *proto = weft_httpd_req_header(req, "X-Forwarded-Proto");
    if (!proto) proto = weft_httpd_req_header(req, "X-Forwarded-Protocol");
    if (!proto) {
        const char *ssl = weft_httpd_req_header(req, "X-Forwarded-Ssl");
        proto = ssl && !strcmp(ssl, "on") ? "https" : "http";
    }
    const char *path, *query, *host = httpbin__host(req);
    size_t plen, qlen;
    httpbin__target(req, &path, &plen, &query, &qlen);
    size_t head = strlen(proto) + 3 + strlen(host);
    /* Each part needs 3 bytes per byte for its result and as many again
     * for pass 1's copy, which ends where the result may grow to. */
    char *s = malloc(head + 6 * plen + 1 + 6 * qlen + 1);
    if (!s) return NULL;
    size_t n = (size_t)sprintf(s, "%s://%s", proto, host);
    n += iri(path, plen, false, s + n);
    if (qlen) {
        s[n++] = '?';
        n += iri(query, qlen, true, s + n);
    }
    json_t *j = httpbin__text(s, n);
    free(s);
    return j;
}

/* X-Forwarded-For as httpbin trusts it, else the peer's address. */
static json_t *origin(weft_httpd_req *req, json_t *hdrs)
{
    const char *fwd = hget(hdrs, "X-Forwarded-For");
    if (fwd) return json_string(fwd);
    char buf[INET6_ADDRSTRLEN] = "";
    socklen_t len = 0;
    const struct sockaddr *sa = weft_httpd_req_peer(req, &len);
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, sizeof buf);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, sizeof buf);
    return json_string(buf);
}

/* ----------------------------------------------------------------- body */

/* Nonzero if the header value `v` (a Content-Type) names media type `type`,
 * whatever its parameters and case. */
static bool mime_is(const char *v, const char *type)
{
    size_t n = strlen(type);
    if (!v) return false;
    v += strspn(v, " \t");
    return !strncasecmp(v, type, n) && strchr("; \t", v[n]);
}

/* The value of parameter `name` in a header value's "; name=value" list
 * (quoted or not), copied into buf. Returns its length, or -1 when it is
 * absent or does not fit. */
static ssize_t param(const char *v, size_t len, const char *name, char *buf, size_t cap)
{
    const char *end = v + len, *p = memchr(v, ';', len);
    size_t nlen = strlen(name);
    while (p && p < end) {
        p++;
        p += strspn(p, " \t");
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq) return -1;
        bool hit = (size_t)(eq - p) == nlen && !strncasecmp(p, name, nlen);
        size_t n = 0;
        p = eq + 1;
        if (p < end && *p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\\' && p + 1 < end) p++;
                if (hit && n + 1 < cap) buf[n++] = *p;
                else if (hit) return -1;
            }
            if (p < end) p++;
        } else {
            for (; p < end && *p != ';' && *p != ' ' && *p != '\t'; p++) {
                if (hit && n + 1 < cap) buf[n++] = *p;
                else if (hit) return -1;
            }
        }
        if (hit) {
            buf[n] = 0;
            return (ssize_t)n;
        }
        p = memchr(p, ';', (size_t)(end - p));
    }
    return -1;
}

/* What httpbin shows of a body: form fields, files, data and json. */
typedef struct body {
    json_t *form, *files, *data, *json;
} body;

/* One part of a multipart/form-data body: a file if its
 * Content-Disposition names a filename (the first file of a name is the one
 * httpbin keeps), else a form field. */
static int add_part(body *b, const char *head, size_t hlen, const char *data, size_t len)
{
    char name[256], fname[256], ctype[128] = "application/octet-stream";
    bool has_name = false, is_file = false;
    for (const char *p = head, *end = head + hlen; p < end;) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
        if (n > 20 && !strncasecmp(p, "content-disposition:", 20)) {
            has_name = param(p, n, "name", name, sizeof name) >= 0;
            is_file = param(p, n, "filename", fname, sizeof fname) >= 0;
        } else if (n > 13 && !strncasecmp(p, "content-type:", 13)) {
            size_t skip = 13 + strspn(p + 13, " \t");
            if (n - skip < sizeof ctype) {
                memcpy(ctype, p + skip, n - skip);
                ctype[n - skip] = 0;
            }
        }
        p += n + 2;
    }
    if (!has_name) return 0;
    if (!is_file) return multi_add(b->form, name, strlen(name), httpbin__text(data, len));
    if (json_object_get(b->files, name)) return 0;
    json_t *v = json_safe(data, len, ctype, strlen(ctype));
    return json_object_set_new(b->files, name, v) ? WEFT_ENOMEM : 0;
}

/* multipart/form-data (RFC 7578): parts between "--boundary" lines, each a
 * header block and its content. Parsing stops quietly at the first thing
 * out of place, keeping the parts before it, as a lenient parser does. */
static int multipart(body *b, const char *data, size_t len, const char *ctype)
{
    char delim[2 + 70 + 1] = "--";
    ssize_t bl = param(ctype, strlen(ctype), "boundary", delim + 2, sizeof delim - 2);
    if (bl <= 0) return 0;
    size_t dl = (size_t)bl + 2;
    const char *end = data + len;
    const char *p = memmem(data, len, delim, dl);
    while (p) {
        p += dl;
        if (end - p < 2 || !memcmp(p, "--", 2)) return 0;
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol) return 0;
        const char *head = eol + 2;
        const char *hend = end - head >= 2 && !memcmp(head, "\r\n", 2) ? head
                         : memmem(head, (size_t)(end - head), "\r\n\r\n", 4);
        if (!hend) return 0;
        const char *content = hend + (hend == head ? 2 : 4);
        const char *next = content;
        while ((next = memmem(next, (size_t)(end - next), delim, dl)) && memcmp(next - 2, "\r\n", 2))
            next++;
        if (!next) return 0;
        /* An empty content may share its CRLF with the blank line. */
        size_t clen = next - content >= 2 ? (size_t)(next - 2 - content) : 0;
        int err = add_part(b, head, (size_t)(hend - head), content, clen);
        if (err) return err;
        p = next;
    }
    return 0;
}

static int read_body(weft_httpd_req *req, json_t *hdrs, body *b)
{
    const void *data;
    size_t len;
    int err = weft_httpd_req_body(req, &data, &len);
    if (err) return err;
    const char *ct = hget(hdrs, "Content-Type");
    b->form = json_object();
    b->files = json_object();
    if (!b->form || !b->files) return WEFT_ENOMEM;
    if (mime_is(ct, "application/x-www-form-urlencoded"))
        err = parse_pairs(b->form, data, len);
    else if (mime_is(ct, "multipart/form-data"))
        err = multipart(b, data, len, ct);
    else {
        /* Python's json.loads takes any value at the top, and only text. */
        b->data = json_safe(data, len, "application/octet-stream", 24);
        b->json = utf8_valid(data, len) ? json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)
                                        : NULL;
    }
    semiflatten(b->form);
    if (!b->data) b->data = json_string("");
    if (!b->json) b->json = json_null();
    return err ? err : b->data ? 0 : WEFT_ENOMEM;
}

/* Sets d[key] to v, a new reference (NULL: memory ran out). */
static int set(json_t *d, const char *key, json_t *v)
{
    return v && !json_object_set_new(d, key, v) ? 0 : WEFT_ENOMEM;
}

static int fill(weft_httpd_req *req, unsigned keys, json_t *d, json_t *h, body *b)
{
    const char *path, *query;
    size_t plen, qlen;
    httpbin__target(req, &path, &plen, &query, &qlen);
    /* The origin comes from the headers before the proxies' are hidden.
     * Keys go in /stream's order, the one answer not sorted. */
    json_t *from = keys & HB_ORIGIN ? origin(req, h) : NULL;
    int err = (keys & HB_ORIGIN) && !from ? WEFT_ENOMEM : hide_env(h, query, qlen);
    if (!err && (keys & HB_URL)) err = set(d, "url", url(req));
    if (!err && (keys & HB_ARGS)) err = set(d, "args", httpbin__pairs(query, qlen));
    if (!err && (keys & HB_HEADERS)) err = set(d, "headers", json_incref(h));
    if (!err && (keys & HB_ORIGIN)) err = set(d, "origin", json_incref(from));
    json_decref(from);
    if (!err && (keys & HB_METHOD)) err = set(d, "method", json_string(weft_httpd_req_method(req)));
    if (err || !(keys & (HB_FORM | HB_DATA | HB_FILES | HB_JSON))) return err;
    err = read_body(req, h, b);
    if (!err && (keys & HB_FORM)) err = set(d, "form", json_incref(b->form));
    if (!err && (keys & HB_FILES)) err = set(d, "files", json_incref(b->files));
    if (!err && (keys & HB_DATA)) err = set(d, "data", json_incref(b->data));
    if (!err && (keys & HB_JSON)) err = set(d, "json", json_incref(b->json));
    return err;
}

int httpbin__dict(weft_httpd_req *req, unsigned keys, json_t **out)
{
    json_t *d = json_object(), *h = headers(req);
    body b = {0};
    int err = d && h ? fill(req, keys, d, h, &b) : WEFT_ENOMEM;
    json_decref(h);
    json_decref(b.form);
    json_decref(b.files);
    json_decref(b.data);
    json_decref(b.json);
    if (err) {
        json_decref(d);
        return err;
    }
    *out = d;
    return 0;
}
