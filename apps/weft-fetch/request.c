/* The request weft-fetch's options describe, as curl would send it: the
 * URL made absolute (a bare "host/path" is http, as in curl), the body
 * (-d and friends joined with '&', --json, -F's multipart, -T's file), and
 * the headers curl adds for -u, -r, -A, -e, -b, --json and the body, each
 * replaced or removed by a -H of its name (-H 'Name:' removes, -H 'Name;'
 * sends it empty). weft's client then writes Host, the framing and, unless
 * removed, Accept: asked for nothing else, it sends what curl does.
 */
#include "fetch.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ the data */

int fetch_read_file(const char *path, char **out, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) return -errno;
    size_t n = 0, cap = 4096;
    char *buf = malloc(cap);
    int err = buf ? 0 : -ENOMEM;
    while (!err) {
        if (n + 1 >= cap) {
            char *p = realloc(buf, cap * 2);
            if (!p) { err = -ENOMEM; break; }
            buf = p;
            cap *= 2;
        }
        size_t k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
        if (k == 0) { if (ferror(f)) err = -EIO; break; }
    }
    if (f != stdin) fclose(f);
    if (err) { free(buf); return err; }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

int fetch_data_add(fetch_opts *o, const char *s, size_t len, const char *sep) {
    size_t sl = o->has_data ? strlen(sep) : 0;
    char *p = realloc(o->data, o->data_len + sl + len + 1);
    if (!p) return -1;
    memcpy(p + o->data_len, sep, sl);
    memcpy(p + o->data_len + sl, s, len);
    o->data = p;
    o->data_len += sl + len;
    p[o->data_len] = 0;
    o->has_data = 1;
    return 0;
}

/* Percent-encodes all but RFC 3986's unreserved characters, a space as
 * '+', as curl's --data-urlencode does (a form's encoding). */
static char *url_encode(const char *s, size_t len, size_t *outlen) {
    char *out = malloc(3 * len + 1), *w = out;
    if (!out) return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') *w++ = (char)c;
        else if (c == ' ') *w++ = '+';
        else w += sprintf(w, "%%%02X", c);
    }
    *w = 0;
    *outlen = (size_t)(w - out);
    return out;
}

/* curl's forms: "content", "=content", "name=content", "@file",
 * "name@file"; the content (or the file's) is encoded, the name is not. */
int fetch_data_urlencode(fetch_opts *o, const char *arg) {
    const char *eq = strchr(arg, '='), *at = strchr(arg, '@');
    const char *name = arg, *content = arg;
    size_t nlen = 0;
    char *file = NULL;
    size_t clen;
    if (eq && (!at || eq < at)) { nlen = (size_t)(eq - arg); content = eq + 1; }
    else if (at) { nlen = (size_t)(at - arg); content = NULL; }
    if (content) clen = strlen(content);
    else if (fetch_read_file(at + 1, &file, &clen)) return FX_READ;
    else content = file;
    size_t elen;
    char *enc = url_encode(content, clen, &elen);
    free(file);
    if (!enc) return FX_NOMEM;
    int err = 0;
    if (!nlen) err = fetch_data_add(o, enc, elen, "&");
    else {
        char *both = malloc(nlen + 1 + elen + 1);
        if (!both) err = -1;
        else {
            sprintf(both, "%.*s=%s", (int)nlen, name, enc);
            err = fetch_data_add(o, both, nlen + 1 + elen, "&");
            free(both);
        }
    }
    free(enc);
    return err ? FX_NOMEM : 0;
}

/* ------------------------------------------------------------ multipart */

int fetch_part_parse(fetch_part *p, const char *arg) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) return FX_USAGE;
    char *copy = strdup(arg);
    if (!copy) return FX_NOMEM;
    memset(p, 0, sizeof *p);
    p->name = copy;
    copy[eq - arg] = 0;
    char *v = copy + (eq - arg) + 1;
    p->file = *v == '@';
    p->contents = *v == '<';
    if (p->file || p->contents) v++;
    /* ";type=" and ";filename=" follow the value; a value with a ';' of
     * its own must be quoted in curl, which this does not take. */
    for (char *semi = strchr(v, ';'); semi; semi = strchr(semi + 1, ';')) {
        if (!strncmp(semi + 1, "type=", 5)) p->type = semi + 6;
        else if (!strncmp(semi + 1, "filename=", 9)) p->filename = semi + 10;
        else continue;
        *semi = 0;
    }
    p->value = v;
    return 0;
}

/* The type curl gives a file part by its name's extension. */
static const char *type_of(const char *name) {
    static const char *const map[][2] = {
        { ".gif", "image/gif" }, { ".jpg", "image/jpeg" }, { ".jpeg", "image/jpeg" },
        { ".png", "image/png" }, { ".svg", "image/svg+xml" }, { ".txt", "text/plain" },
        { ".htm", "text/html" }, { ".html", "text/html" }, { ".pdf", "application/pdf" },
        { ".xml", "application/xml" },
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof map / sizeof *map; i++)
        if (!strcasecmp(dot, map[i][0])) return map[i][1];
    return "application/octet-stream";
}

typedef struct sbuf { char *p; size_t len, cap; int err; } sbuf;
static void sb_add(sbuf *b, const void *s, size_t n) {
    if (b->err) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->err = FX_NOMEM; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* One part: its head, then its value or its file's bytes. */
static int part_add(sbuf *b, const fetch_part *p, const char *boundary) {
    char *data = NULL;
    size_t len = strlen(p->value);
    if ((p->file || p->contents) && fetch_read_file(p->value, &data, &len)) return FX_READ;
    const char *base = strrchr(p->value, '/') ? strrchr(p->value, '/') + 1 : p->value;
    const char *fname = p->filename ? p->filename : p->file ? base : NULL;
    sb_str(b, "--");
    sb_str(b, boundary);
    sb_str(b, "\r\nContent-Disposition: form-data; name=\"");
    sb_str(b, p->name);
    if (fname) { sb_str(b, "\"; filename=\""); sb_str(b, fname); }
    sb_str(b, "\"\r\n");
    const char *type = p->type ? p->type : p->file ? type_of(fname) : NULL;
    if (type) { sb_str(b, "Content-Type: "); sb_str(b, type); sb_str(b, "\r\n"); }
    sb_str(b, "\r\n");
    sb_add(b, data ? data : p->value, len);
    sb_str(b, "\r\n");
    free(data);
    return b->err;
}

/* The multipart body, its boundary 24 dashes and 16 hex digits as curl's
 * (so the body, and its Content-Length, have curl's length). */
static int multipart(const fetch_opts *o, sbuf *b, char *ctype, size_t ctlen) {
    char boundary[48];
    unsigned long long r = ((unsigned long long)rand() << 32) ^ (unsigned long long)rand() ^
                           (unsigned long long)getpid() << 16;
    snprintf(boundary, sizeof boundary, "------------------------%016llx", r);
    for (int i = 0; i < o->nparts; i++) {
        int err = part_add(b, &o->parts[i], boundary);
        if (err) return err;
    }
    sb_str(b, "--");
    sb_str(b, boundary);
    sb_str(b, "--\r\n");
    snprintf(ctype, ctlen, "multipart/form-data; boundary=%s", boundary);
    return b->err;
}

/* ------------------------------------------------------------- the URL */

static void base64(const char *s, char *out) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s);
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)u[i] << 16 | (i + 1 < n ? (unsigned)u[i + 1] << 8 : 0) | (i + 2 < n ? u[i + 2] : 0);
        *out++ = t[v >> 18 & 63];
        *out++ = t[v >> 12 & 63];
        *out++ = i + 1 < n ? t[v >> 6 & 63] : '=';
        *out++ = i + 2 < n ? t[v & 63] : '=';
    }
    *out = 0;
}

char *fetch_effective_url(const fetch_opts *o, const char *url, const char *upload) {
    const char *scheme = strstr(url, "://") ? "" : "http://";
    const char *fname = "";
    if (upload && strcmp(upload, "-") && *url && url[strlen(url) - 1] == '/')
        fname = strrchr(upload, '/') ? strrchr(upload, '/') + 1 : upload;
    const char *q = o->get && o->has_data ? strchr(url, '?') ? "&" : "?" : "";
    size_t len = strlen(scheme) + strlen(url) + strlen(fname) + 1 + (*q ? o->data_len : 0) + 1;
    char *s = malloc(len);
    if (s) snprintf(s, len, "%s%s%s%s%s", scheme, url, fname, q, *q ? o->data : "");
    return s;
}

/* Takes "user:pass@" out of the URL (weft's client refuses userinfo) for
 * an Authorization header, as curl sends it. */
static void take_userinfo(char *url, char *auth, size_t cap) {
    char *host = strstr(url, "://") + 3, *end = host + strcspn(host, "/?#"), *at = NULL;
    for (char *p = host; p < end; p++) if (*p == '@') at = p;
    if (!at || cap < 4) return;
    snprintf(auth, cap, "%.*s", (int)(at - host), host);
    memmove(host, at + 1, strlen(at + 1) + 1);
}

/* ------------------------------------------------------------- headers */

typedef struct hdr { const char *name; size_t nlen; const char *value; } hdr;

/* Nonzero if a -H names `name` (to set, to empty or to remove it). */
static int user_has(const fetch_opts *o, const char *name) {
    size_t n = strlen(name);
    for (int i = 0; i < o->nheaders; i++) {
        const char *h = o->headers[i];
        if (!strncasecmp(h, name, n) && (h[n] == ':' || h[n] == ';')) return 1;
    }
    return 0;
}

static int add(weft_http_request *q, const char *name, size_t nlen, const char *value) {
    char n[256];
    if (nlen >= sizeof n) return WEFT_EINVAL;
    memcpy(n, name, nlen);
    n[nlen] = 0;
    return weft_http_request_add_header(q, n, value);
}

/* A -H: "Name: value", "Name:" (remove), "Name;" (empty). Returns 0, or
 * WEFT_EINVAL for one that is none of these (curl ignores those). */
static int user_header(weft_http_request *q, const char *h) {
    size_t n = strcspn(h, ":;");
    if (!h[n] || !n) return 0;
    const char *v = h + n + 1;
    while (*v == ' ' || *v == '\t') v++;
    if (h[n] == ';') return *v ? 0 : add(q, h, n, "");
    if (*v) return add(q, h, n, v);
    char name[256];
    if (n >= sizeof name) return WEFT_EINVAL;
    snprintf(name, sizeof name, "%.*s", (int)n, h);
    return weft_http_request_remove_header(q, name);
}

/* ------------------------------------------------------------ cookies */

/* One cookie of a jar line, its fields pointing into a copy of the line. */
typedef struct jar_cookie {
    const char *domain, *path, *name, *value;
    size_t dlen, plen, nlen, line;
} jar_cookie;

/* curl's order: the longest path first, then the longest domain, then the
 * longest name, then the newest (a later line of the file). */
static int jar_cmp(const void *a, const void *b) {
    const jar_cookie *x = a, *y = b;
    if (x->plen != y->plen) return x->plen > y->plen ? -1 : 1;
    if (x->dlen != y->dlen) return x->dlen > y->dlen ? -1 : 1;
    if (x->nlen != y->nlen) return x->nlen > y->nlen ? -1 : 1;
    return x->line > y->line ? -1 : 1;
}

/* Does a cookie for `domain` (tailmatch: subdomains too) go to `host`? */
static bool jar_domain(const char *domain, bool tail, const char *host) {
    if (*domain == '.') { domain++; tail = true; }
    size_t d = strlen(domain), h = strlen(host);
    if (h == d) return !strcasecmp(host, domain);
    return tail && h > d && host[h - d - 1] == '.' && !strcasecmp(host + h - d, domain);
}

char *fetch_jar_cookies(const char *jar, const char *url, bool *nomem) {
    *nomem = false;
    /* The URL's scheme, host and path (up to its query). */
    const char *p = strstr(url, "://");
    if (!p) return NULL;
    bool secure_ok = p - url == 5 && !strncasecmp(url, "https", 5);
    p += 3;
    const char *at = strpbrk(p, "@/?#");
    if (at && *at == '@') p = at + 1;
    char host[256], path[2048];
    size_t hl = strcspn(p, ":/?#");
    if (*p == '[') hl = strcspn(p, "]") + 1;
    if (hl >= sizeof host) return NULL;
    memcpy(host, p, hl);
    host[hl] = 0;
    /* curl counts these as secure contexts, https or not. */
    if (!strcasecmp(host, "localhost") || !strcmp(host, "127.0.0.1") || !strcmp(host, "[::1]")) secure_ok = true;
    const char *ps = p + strcspn(p, "/?#");
    size_t pl = *ps == '/' ? strcspn(ps, "?#") : 0;
    if (pl >= sizeof path) pl = sizeof path - 1;
    if (pl) memcpy(path, ps, pl);
    else path[pl++] = '/';
    path[pl] = 0;

    char *text = strdup(jar);
    jar_cookie *cs = NULL;
    size_t n = 0, cap = 0, total = 0;
    char *out = NULL;
    if (!text) goto nomem;
    long long now = (long long)time(NULL);
    size_t lineno = 0;
    for (char *line = text, *next; line && *line; line = next, lineno++) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        line[strcspn(line, "\r")] = 0;
        if (!strncmp(line, "#HttpOnly_", 10)) line += 10;
        else if (*line == '#' || !*line) continue;
        char *f[7] = { 0 };
        int k = 0;
        for (char *t = line; k < 7; k++) {
            f[k] = t;
            char *tab = strchr(t, '\t');
            if (!tab) { k++; break; }
            *tab = 0;
            t = tab + 1;
        }
        if (k < 6) continue;  /* not a cookie line */
        const char *value = k == 7 ? f[6] : "";
        bool tail = !strcasecmp(f[1], "TRUE"), secure = !strcasecmp(f[3], "TRUE");
        long long expires = atoll(f[4]);
        size_t cpl = strlen(f[2]);
        bool path_ok = !strncmp(path, f[2], cpl) &&
                       (path[cpl] == 0 || path[cpl] == '/' || (cpl && f[2][cpl - 1] == '/'));
        if (!jar_domain(f[0], tail, host) || !path_ok || (secure && !secure_ok) || (expires && expires < now))
            continue;
        if (n == cap) {
            jar_cookie *m = realloc(cs, (cap = cap ? 2 * cap : 8) * sizeof *cs);
            if (!m) goto nomem;
            cs = m;
        }
        cs[n++] = (jar_cookie){ f[0], f[2], f[5], value, strlen(f[0]), cpl, strlen(f[5]), lineno };
        total += strlen(f[5]) + strlen(value) + 3;
    }
    if (n) {
        qsort(cs, n, sizeof *cs, jar_cmp);
        if (!(out = malloc(total + 1))) goto nomem;
        size_t o = 0;
        for (size_t i = 0; i < n; i++)
            o += (size_t)sprintf(out + o, "%s%s=%s", i ? "; " : "", cs[i].name, cs[i].value);
    }
    free(cs);
    free(text);
    return out;
nomem:
    *nomem = true;
    free(cs);
    free(text);
    return NULL;
}

/* The headers curl makes from options, unless a -H names them. */
static int own_headers(const fetch_opts *o, weft_http_request *q, const char *auth, const char *ctype,
                       bool upload, const char *cookie) {
    char range[256], basic[1024];
    if (o->range) snprintf(range, sizeof range, "bytes=%s", o->range);
    if (auth && strlen(auth) < sizeof basic / 4 * 3 - 8) {
        char up[768];
        snprintf(up, sizeof up, "%s%s", auth, strchr(auth, ':') ? "" : ":");
        memcpy(basic, "Basic ", 6);
        base64(up, basic + 6);
    }
    const hdr own[] = {
        { "Authorization", 13, auth ? basic : NULL }, { "Range", 5, o->range ? range : NULL },
        /* The agent is the client's (main.c sets it): it goes before Accept, as curl's. */
        { "User-Agent", 10, NULL }, { "Accept", 6, o->json ? "application/json" : NULL },
        { "Referer", 7, o->referer }, { "Cookie", 6, cookie }, { "Content-Type", 12, ctype },
        { "Accept-Encoding", 15, o->compressed ? "deflate, gzip" : NULL },
        /* curl asks before it uploads a file (weft's client sends the body
         * without waiting, as RFC 9110 10.1.1 allows). */
        { "Expect", 6, upload ? "100-continue" : NULL },
    };
    int err = 0;
    for (size_t i = 0; !err && i < sizeof own / sizeof *own; i++) {
        if (user_has(o, own[i].name)) continue;
        if (own[i].value) err = add(q, own[i].name, own[i].nlen, own[i].value);
        /* curl asks for no coding unless --compressed, and -A '' sends none. */
        else if ((i == 2 && o->user_agent && !*o->user_agent) || i == 7)
            err = weft_http_request_remove_header(q, own[i].name);
    }
    for (int i = 0; !err && i < o->nheaders; i++) err = user_header(q, o->headers[i]);
    return err;
}

/* --------------------------------------------------------- the request */

/* A -T body, read as it is sent. */
static ssize_t upload_read(void *ud, void *buf, size_t len) {
    FILE *f = ud;
    size_t n = fread(buf, 1, len, f);
    return n ? (ssize_t)n : ferror(f) ? -EIO : 0;
}

static const char *method_of(const fetch_opts *o, const char *upload) {
    if (o->method) return o->method;
    if (o->head) return "HEAD";
    if (upload) return "PUT";
    return (o->has_data && !o->get) || o->nparts ? "POST" : "GET";
}

/* The body, and its Content-Type (ctype[0] NUL for none). */
static int set_body(const fetch_opts *o, weft_http_request *q, const char *upload, FILE **uf,
                    char *ctype, size_t ctlen) {
    ctype[0] = 0;
    if (upload) {
        FILE *f = strcmp(upload, "-") ? fopen(upload, "rb") : stdin;
        struct stat st;
        if (!f) return FX_READ;
        *uf = f;
        int64_t len = f != stdin && !fstat(fileno(f), &st) && S_ISREG(st.st_mode) ? st.st_size : -1;
        return weft_http_request_set_body_fn(q, upload_read, f, len, NULL) ? FX_NOMEM : 0;
    }
    if (o->nparts) {
        sbuf b = { 0 };
        int err = multipart(o, &b, ctype, ctlen);
        if (!err) err = weft_http_request_set_body(q, b.p, b.len, NULL) ? FX_NOMEM : 0;
        free(b.p);
        return err;
    }
    if (!o->has_data || o->get) return 0;
    snprintf(ctype, ctlen, "%s", o->json ? "application/json" : "application/x-www-form-urlencoded");
    return weft_http_request_set_body(q, o->data, o->data_len, NULL) ? FX_NOMEM : 0;
}

int fetch_request(const fetch_opts *o, const char *url, const char *upload, FILE **upload_f,
                  weft_http_request **out, char *err, size_t errlen) {
    char *u = fetch_effective_url(o, url, upload), auth[512] = "", ctype[128];
    if (!u) return snprintf(err, errlen, "Out of memory"), FX_NOMEM;
    take_userinfo(u, auth, sizeof auth);
    const char *user = o->user ? o->user : auth[0] ? auth : NULL;
    weft_http_request *q = NULL;
    int rc = weft_http_request_new(&q, method_of(o, upload), u) ? FX_NOMEM : 0;
    if (!rc) rc = set_body(o, q, upload, upload_f, ctype, sizeof ctype);
    if (rc == FX_READ) snprintf(err, errlen, "Failed to open/read local data from file/application");
    /* The jar's cookies for this URL, and -b's string after them. */
    bool nomem = false;
    char *jar = !rc && o->cookie_jar ? fetch_jar_cookies(o->cookie_jar, u, &nomem) : NULL, *both = NULL;
    if (nomem) rc = FX_NOMEM;
    if (!rc && jar && o->cookie) {
        both = malloc(strlen(o->cookie) + strlen(jar) + 3);
        if (both) sprintf(both, "%s; %s", jar, o->cookie);
        else rc = FX_NOMEM;
    }
    const char *cookie = both ? both : jar ? jar : o->cookie;
    if (!rc && (rc = own_headers(o, q, user, ctype[0] ? ctype : NULL, upload, cookie)))
        rc = rc == WEFT_ENOMEM ? FX_NOMEM : FX_USAGE;
    free(jar);
    free(both);
    if (rc == FX_USAGE) snprintf(err, errlen, "bad header (CR, LF or a name that is not a token)");
    else if (rc == FX_NOMEM) snprintf(err, errlen, "Out of memory");
    free(u);
    if (rc) { weft_http_request_free(q); return rc; }
    *out = q;
    return 0;
}
