/* weft-httpbin's endpoints: python3-httpbin 0.7.0's, answered the way it
 * answers them (status, the headers clients look at, the JSON document),
 * on weft's HTTP server.
 *
 * Routing is a table here rather than weft_httpd_router, because httpbin
 * routes as Flask does and clients see it: /anything/<path> takes the rest
 * of the path, slashes included; every route answers OPTIONS with an Allow
 * list and a GET route answers HEAD; a 405 names the methods in Allow; and
 * every answer, 404 and 405 included, carries the CORS headers. The table is
 * constant, so serving keeps no state and allocates nothing before a /delay
 * sleeps: ten thousand of them wait at once for the price of their tasks.
 */
#include "internal.h"

#include <weft/ws.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#define HTML "text/html; charset=utf-8"
#define MAX_BYTES (100 * 1024)           /* /bytes, /stream-bytes: httpbin's limit */
#define MAX_DRIP (10 * 1024 * 1024)      /* /drip's numbytes: httpbin's limit */

/* A request being served: what the route captured and the raw query. */
typedef struct ctx {
    weft_httpd_req *req;
    weft_httpd_res *res;
    const char *seg;     /* the path's captured tail, percent-decoded */
    uint64_t n;          /* the captured integer, saturated */
    const char *query;   /* raw, not terminated */
    size_t qlen;
} ctx;

/* ----------------------------------------------------------- parsing */

/* Python's int() of a decimal string: surrounding blanks, a sign, digits.
 * Values past 64 bits are refused rather than saturated, for a seed must
 * not silently become another. */
static bool parse_int(const char *s, long long *out)
{
    while (isspace((unsigned char)*s)) s++;
    const char *d = s + (*s == '+' || *s == '-');
    if (!isdigit((unsigned char)*d)) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    while (isspace((unsigned char)*end)) end++;
    if (errno || *end) return false;
    *out = v;
    return true;
}

/* Python's float(): decimal with an exponent, inf and nan; not C's hex. */
static bool parse_float(const char *s, double *out)
{
    if (strpbrk(s, "xX")) return false;
    while (isspace((unsigned char)*s)) s++;
    char *end;
    double v = strtod(s, &end);
    if (end == s) return false;
    while (isspace((unsigned char)*end)) end++;
    if (*end) return false;
    *out = v;
    return true;
}

/* Query parameter `name` (looked up without case, as httpbin does for
 * most) as a number: 1 and *out set, 0 if absent (*out kept), -1 if it
 * does not parse, or WEFT_ENOMEM. */
static int arg_int(ctx *c, const char *name, long long *out)
{
    char *v;
    int found = httpbin__arg(c->query, c->qlen, name, true, &v);
    if (found <= 0) return found;
    found = parse_int(v, out) ? 1 : -1;
    free(v);
    return found;
}

static int arg_float(ctx *c, const char *name, double *out)
{
    char *v;
    int found = httpbin__arg(c->query, c->qlen, name, true, &v);
    if (found <= 0) return found;
    found = parse_float(v, out) ? 1 : -1;
    free(v);
    return found;
}

/* ------------------------------------------------------------ answers */

static int reply(ctx *c, int status, const char *ctype, const void *body, size_t len)
{
    return weft_httpd_res_send(c->res, status, ctype, body, len);
}

static int send_str(ctx *c, int status, const char *ctype, const char *body)
{
    return reply(c, status, ctype, body, strlen(body));
}

static int header(ctx *c, const char *name, const char *value)
{
    return weft_httpd_res_header(c->res, name, value);
}

/* Flask's error pages, in their shape: a title and a sentence. */
static int error_page(ctx *c, int status)
{
    static const struct { int status; const char *title, *text; } pages[] = {
        {400, "Bad Request", "The browser (or proxy) sent a request that this server could not understand."},
        {404, "Not Found", "The requested URL was not found on the server."},
        {405, "Method Not Allowed", "The method is not allowed for the requested URL."},
        {413, "Request Entity Too Large", "The data value transmitted exceeds the capacity limit."},
        {500, "Internal Server Error", "The server encountered an internal error and was unable to complete your request."},
    };
    size_t i = 0;
    while (i + 1 < sizeof pages / sizeof *pages && pages[i].status != status) i++;
    char body[512];
    int n = snprintf(body, sizeof body,
                     "<!doctype html>\n<html lang=en>\n<title>%d %s</title>\n<h1>%s</h1>\n<p>%s</p>\n",
                     pages[i].status, pages[i].title, pages[i].title, pages[i].text);
    return reply(c, pages[i].status, HTML, body, (size_t)n);
}

/* The document and a newline, in a new string (*len its length), or NULL.
 * `j` is consumed. */
static char *dump_line(json_t *j, unsigned flags, size_t *len)
{
    char *s = httpbin__json(j, flags, len);
    json_decref(j);
    return s;
}

/* Flask's jsonify as httpbin configures it: compact, keys sorted, ASCII
 * only, a newline at the end. */
static char *dump(json_t *j, size_t *len)
{
    return dump_line(j, JSON_COMPACT | JSON_SORT_KEYS, len);
}

static int send_json(ctx *c, int status, json_t *j)
{
    size_t len;
    char *s = dump(j, &len);
    if (!s) return WEFT_ENOMEM;
    int err = reply(c, status, "application/json", s, len);
    free(s);
    return err;
}

/* The request's dict as JSON. The body's errors (WEFT_ETOOBIG, WEFT_EHTTP)
 * go back to the server, which answers them (413, 400). */
static int send_dict(ctx *c, unsigned keys)
{
    json_t *d;
    int err = httpbin__dict(c->req, keys, &d);
    return err ? err : send_json(c, 200, d);
}

/* ---------------------------------------------------------- reflection */

enum { BODY_KEYS = HB_URL | HB_ARGS | HB_FORM | HB_DATA | HB_ORIGIN | HB_HEADERS | HB_FILES | HB_JSON };

static int ep_get(ctx *c) { return send_dict(c, HB_URL | HB_ARGS | HB_HEADERS | HB_ORIGIN); }
static int ep_body(ctx *c) { return send_dict(c, BODY_KEYS); }
static int ep_anything(ctx *c) { return send_dict(c, BODY_KEYS | HB_METHOD); }
static int ep_headers(ctx *c) { return send_dict(c, HB_HEADERS); }
static int ep_ip(ctx *c) { return send_dict(c, HB_ORIGIN); }

static int ep_user_agent(ctx *c)
{
    json_t *d;
    int err = httpbin__dict(c->req, HB_HEADERS, &d);
    if (err) return err;
    json_t *ua = json_object_get(json_object_get(d, "headers"), "User-Agent");
    json_t *out = json_pack("{sO}", "user-agent", ua ? ua : json_null());
    json_decref(d);
    return send_json(c, 200, out);
}

static int ep_uuid(ctx *c)
{
    char id[37];
    int err = httpbin__uuid4(id);
    return err ? err : send_json(c, 200, json_pack("{ss}", "uuid", id));
}

/* Sleeps min(n, 10) seconds, suspending only this request's task. A delay
 * that is negative or not a number fails as it fails in httpbin (500). */
static int ep_delay(ctx *c)
{
    double d;
    if (!parse_float(c->seg, &d) || isnan(d) || d < 0) return error_page(c, 500);
    int err = weft_sleep((int64_t)(fmin(d, 10) * WEFT_SECOND));
    return err ? err : send_dict(c, BODY_KEYS & ~HB_JSON);
}

/* --------------------------------------------------------------- status */

/* The answer httpbin's status_code() makes for `code`: the redirects point
 * to /redirect/1, the auth codes ask for credentials, 418 is a teapot; those
 * answers carry no Content-Type, as httpbin replaces their headers whole. */
static int status_answer(ctx *c, int code)
{
    int err = 0;
    switch (code) {
    case 301: case 302: case 303: case 305: case 307:
        err = header(c, "Location", "/redirect/1");
        return err ? err : reply(c, code, NULL, "", 0);
    case 401:
        err = header(c, "WWW-Authenticate", "Basic realm=\"Fake Realm\"");
        return err ? err : reply(c, code, NULL, "", 0);
    case 407:
        err = header(c, "Proxy-Authenticate", "Basic realm=\"Fake Realm\"");
        return err ? err : reply(c, code, NULL, "", 0);
    case 402:
        err = header(c, "x-more-info", "http://vimeo.com/22053820");
        return err ? err : send_str(c, code, NULL, "Fuck you, pay me!");
    case 406:
        return send_str(c, code, "application/json",
                        "{\"message\": \"Client did not request a supported media type.\", \"accept\": "
                        "[\"image/webp\", \"image/svg+xml\", \"image/jpeg\", \"image/png\", \"image/*\"]}");
    case 418:
        err = header(c, "x-more-info", "http://tools.ietf.org/html/rfc2324");
        return err ? err : send_str(c, code, NULL, httpbin__teapot);
    case 304:  /* no body, so nothing to describe: werkzeug drops the type */
        return reply(c, code, NULL, "", 0);
    default:
        return reply(c, code, HTML, "", 0);
    }
}

/* One "code[:weight]" of a list; false if it does not parse. */
static bool status_choice(const char *s, size_t len, long long *code, double *weight)
{
    char buf[64];
    if (len >= sizeof buf) return false;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *colon = strchr(buf, ':');
    if (colon) *colon = 0;
    *weight = 1;
    return parse_int(buf, code) && (!colon || parse_float(colon + 1, weight)) &&
           *code >= 100 && *code <= 999;
}

/* Walks the comma list: with `pick` < 0 sums the weights into *total, else
 * finds the code whose cumulative weight first passes `pick` (httpbin's
 * weighted_choice: bisect over the running sums). False on a bad item. */
static bool status_walk(const char *s, double pick, double *total, long long *code)
{
    double sum = 0;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        double w;
        if (!status_choice(s, n, code, &w)) return false;
        sum += w;
        if (pick >= 0 && sum > pick) return true;
        if (!comma) break;
        s = comma + 1;
    }
    *total = sum;
    return true;  /* pick == total (or rounding): the last code, as bisect would overflow */
}

static int ep_status(ctx *c)
{
    long long code;
    double total = 0;
    bool ok;
    if (!strchr(c->seg, ','))
        ok = parse_int(c->seg, &code) && code >= 100 && code <= 999;
    else
        ok = status_walk(c->seg, -1, &total, &code) &&
             status_walk(c->seg, httpbin__random_unit() * total, &total, &code);
    /* A 1xx cannot be a final answer (weft's server refuses to send one;
     * python3-httpbin sends one and leaves the client hanging). */
    if (!ok || code < 200) return send_str(c, 400, "text/plain; charset=utf-8", "Invalid status code");
    return status_answer(c, (int)code);
}

/* ---------------------------------------------------------------- bytes */

/* The generator for /bytes and /stream-bytes: Python's, seeded, when the
 * request gives ?seed=, else the kernel's. */
typedef struct bytegen {
    bool seeded;
    httpbin__mt mt;
} bytegen;

/* 0, or -1 for a seed that does not parse, or WEFT_ENOMEM. */
static int bytegen_init(ctx *c, bytegen *g)
{
    long long seed;
    int found = arg_int(c, "seed", &seed);
    if (found < 0) return found;
    g->seeded = found;
    if (found) httpbin__mt_seed(&g->mt, seed);
    return 0;
}

static int bytegen_fill(bytegen *g, unsigned char *buf, size_t len)
{
    if (!g->seeded) return httpbin__random(buf, len);
    for (size_t i = 0; i < len; i++) buf[i] = httpbin__mt_byte(&g->mt);
    return 0;
}

static int ep_bytes(ctx *c)
{
    size_t n = c->n < MAX_BYTES ? (size_t)c->n : MAX_BYTES;
    bytegen g;
    int err = bytegen_init(c, &g);
    if (err) return err == -1 ? error_page(c, 500) : err;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) return WEFT_ENOMEM;
    err = bytegen_fill(&g, buf, n);
    if (!err) err = reply(c, 200, "application/octet-stream", buf, n);
    free(buf);
    return err;
}

/* Starts a streamed answer: status and Content-Type now, the body in
 * writes, chunked unless a Content-Length is set first. */
static int stream_start(ctx *c, int status, const char *ctype)
{
    int err = weft_httpd_res_status(c->res, status);
    return err ? err : header(c, "Content-Type", ctype);
}

/* Writes and pushes out one piece: httpbin's generators hand each piece to
 * the socket as it is made, and clients may watch them arrive. */
static int stream_piece(ctx *c, const void *data, size_t len)
{
    int err = weft_httpd_res_write(c->res, data, len);
    return err ? err : weft_httpd_res_flush(c->res);
}

static int ep_stream_bytes(ctx *c)
{
    size_t n = c->n < MAX_BYTES ? (size_t)c->n : MAX_BYTES;
    long long chunk = 10 * 1024;
    bytegen g;
    int err = bytegen_init(c, &g);
    int found = err ? err : arg_int(c, "chunk_size", &chunk);
    if (found < 0) return found == -1 ? error_page(c, 500) : found;
    size_t csize = chunk < 1 ? 1 : chunk > MAX_BYTES ? MAX_BYTES : (size_t)chunk;
    unsigned char *buf = malloc(csize);
    if (!buf) return WEFT_ENOMEM;
    err = stream_start(c, 200, "application/octet-stream");
    for (size_t left = n, k; !err && left; left -= k) {
        k = left < csize ? left : csize;
        err = bytegen_fill(&g, buf, k);
        if (!err) err = stream_piece(c, buf, k);
    }
    free(buf);
    return err ? err : weft_httpd_res_end(c->res);
}

/* n JSON lines (at most 100), each the request's dict with an "id". */
static int ep_stream(ctx *c)
{
    json_t *d;
    int err = httpbin__dict(c->req, HB_URL | HB_ARGS | HB_HEADERS | HB_ORIGIN, &d);
    if (err) return err;
    err = stream_start(c, 200, "application/json");
    /* Each line as Python's json.dumps writes it: ", " and ": ", in order. */
    for (uint64_t i = 0; !err && i < (c->n < 100 ? c->n : 100); i++) {
        size_t len;
        char *line = NULL;
        if (!json_object_set_new(d, "id", json_integer((json_int_t)i))) line = dump_line(json_incref(d), 0, &len);
        err = line ? stream_piece(c, line, len) : WEFT_ENOMEM;
        free(line);
    }
    json_decref(d);
    return err ? err : weft_httpd_res_end(c->res);
}

/* ----------------------------------------------------------------- drip */

/* Sends `n` bytes of '*' spread over `duration` seconds, byte i due at
 * start + i * pause, then waits out the last pause, as httpbin's generator
 * does. Bytes due together go in one write, so a fast drip costs one
 * sleep per wake-up rather than one per byte. */
static int drip_bytes(ctx *c, long long n, double pause_ns)
{
    static const char stars[4096] = {[0 ... 4095] = '*'};
    int64_t start = weft_now();
    long long sent = 0;
    int err = 0;
    while (!err && sent < n) {
        long long due = pause_ns > 0 ? (long long)((double)(weft_now() - start) / pause_ns) + 1 : n;
        if (due <= sent) due = sent + 1;
        if (due > n) due = n;
        while (!err && sent < due) {
            size_t k = due - sent < (long long)sizeof stars ? (size_t)(due - sent) : sizeof stars;
            err = weft_httpd_res_write(c->res, stars, k);
            sent += (long long)k;
        }
        if (!err) err = weft_httpd_res_flush(c->res);
        if (!err) err = weft_sleep_until(start + (int64_t)((double)sent * pause_ns));
    }
    return err;
}

static int ep_drip(ctx *c)
{
    double duration = 2, delay = 0;
    long long numbytes = 10, code = 200;
    int bad = 0, r;
    if ((r = arg_float(c, "duration", &duration)) < 0) bad = r;
    if ((r = arg_int(c, "numbytes", &numbytes)) < 0) bad = r;
    if ((r = arg_int(c, "code", &code)) < 0) bad = r;
    if ((r = arg_float(c, "delay", &delay)) < 0) bad = r;
    if (bad == WEFT_ENOMEM) return bad;
    if (bad || code < 200 || code > 999) return error_page(c, 500);
    if (numbytes > MAX_DRIP) numbytes = MAX_DRIP;
    if (numbytes <= 0) return send_str(c, 400, "text/plain; charset=utf-8", "number of bytes must be positive");
    int err = delay > 0 ? weft_sleep((int64_t)(fmin(delay, 1e6) * WEFT_SECOND)) : 0;
    double pause_ns = duration > 0 ? fmin(duration, 1e6) * 1e9 / (double)numbytes : 0;
    char len[24];
    snprintf(len, sizeof len, "%lld", numbytes);
    if (!err) err = stream_start(c, (int)code, "application/octet-stream");
    if (!err) err = header(c, "Content-Length", len);
    if (!err) err = drip_bytes(c, numbytes, pause_ns);
    return err ? err : weft_httpd_res_end(c->res);
}

/* ------------------------------------------------------- gzip, deflate */

/* The dict compressed as httpbin's filters compress it: gzip at level 4,
 * deflate as zlib's default stream (RFC 1950, zlib-wrapped), which is what
 * "Content-Encoding: deflate" means to every client. */
static int send_compressed(ctx *c, bool gzip)
{
    json_t *d;
    int err = httpbin__dict(c->req, HB_ORIGIN | HB_HEADERS, &d);
    if (err) return err;
    if (json_object_set_new(d, "method", json_string(weft_httpd_req_method(c->req))) ||
        json_object_set_new(d, gzip ? "gzipped" : "deflated", json_true())) {
        json_decref(d);
        return WEFT_ENOMEM;
    }
    size_t len;
    char *s = dump(d, &len);
    if (!s) return WEFT_ENOMEM;
    z_stream z = {0};
    unsigned char *out = NULL;
    err = WEFT_ENOMEM;
    if (deflateInit2(&z, gzip ? 4 : Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip ? 31 : 15, 8,
                     Z_DEFAULT_STRATEGY) == Z_OK) {
        uLong cap = deflateBound(&z, len);
        out = malloc(cap);
        z.next_in = (unsigned char *)s;
        z.avail_in = (uInt)len;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        if (out && deflate(&z, Z_FINISH) == Z_STREAM_END) {
            err = header(c, "Content-Encoding", gzip ? "gzip" : "deflate");
            if (!err) err = reply(c, 200, "application/json", out, z.total_out);
        }
        deflateEnd(&z);
    }
    free(out);
    free(s);
    return err;
}

static int ep_gzip(ctx *c) { return send_compressed(c, true); }
static int ep_deflate(ctx *c) { return send_compressed(c, false); }

/* ------------------------------------------------------------ redirects */

/* werkzeug's redirect(): 302, Location, and a small page with the link. */
static int redirect_page(ctx *c, const char *location)
{
    char *esc = malloc(5 * strlen(location) + 1), *page = NULL;
    if (!esc) return WEFT_ENOMEM;
    size_t n = 0;
    for (const char *p = location; *p; p++) {
        const char *e = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;"
                      : *p == '"' ? "&#34;" : *p == '\'' ? "&#39;" : NULL;
        if (e) n += (size_t)sprintf(esc + n, "%s", e);
        else esc[n++] = *p;
    }
    esc[n] = 0;
    int len = asprintf(&page, "<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n"
                       "<h1>Redirecting...</h1>\n<p>You should be redirected automatically to the "
                       "target URL: <a href=\"%s\">%s</a>. If not, click the link.\n", esc, esc);
    free(esc);
    if (len < 0) return WEFT_ENOMEM;
    int err = header(c, "Location", location);
    if (!err) err = reply(c, 302, HTML, page, (size_t)len);
    free(page);
    return err;
}

/* The 302 with an empty body that /relative-redirect and /redirect-to
 * make. */
static int redirect_bare(ctx *c, int status, const char *location)
{
    int err = header(c, "Location", location);
    return err ? err : reply(c, status, HTML, "", 0);
}

/* The next hop's URL (a new string, NULL without memory): "/get" at the
 * end of the chain, else `kind`'s route with n - 1; absolute ones on this
 * server's Host, as url_for(_external=True) makes them. */
static char *hop(ctx *c, bool absolute, const char *kind)
{
    const char *host = absolute ? httpbin__host(c->req) : "";
    const char *scheme = absolute ? "http://" : "";
    char *s = NULL;
    int n = c->n == 1 ? asprintf(&s, "%s%s/get", scheme, host)
                      : asprintf(&s, "%s%s/%s-redirect/%llu", scheme, host, kind,
                                 (unsigned long long)c->n - 1);
    return n < 0 ? NULL : s;
}

static int redirect_hop(ctx *c, bool absolute, const char *kind, bool page)
{
    if (c->n == 0) return error_page(c, 500);  /* httpbin asserts n > 0 */
    char *loc = hop(c, absolute, kind);
    if (!loc) return WEFT_ENOMEM;
    int err = page ? redirect_page(c, loc) : redirect_bare(c, 302, loc);
    free(loc);
    return err;
}

static int ep_redirect(ctx *c)
{
    char *abs = NULL;
    int found = httpbin__arg(c->query, c->qlen, "absolute", false, &abs);
    if (found < 0) return found;
    bool absolute = found && !strcasecmp(abs, "true");
    free(abs);
    return redirect_hop(c, absolute, absolute ? "absolute" : "relative", true);
}

static int ep_relative_redirect(ctx *c) { return redirect_hop(c, false, "relative", false); }
static int ep_absolute_redirect(ctx *c) { return redirect_hop(c, true, "absolute", true); }

/* Location exactly as given in ?url=, with ?status_code= when it is a 3xx. */
static int ep_redirect_to(ctx *c)
{
    char *url = NULL;
    long long code = 302;
    int found = httpbin__arg(c->query, c->qlen, "url", true, &url);
    int cfound = found > 0 ? arg_int(c, "status_code", &code) : 0;
    int err = found < 0 ? found : cfound == WEFT_ENOMEM ? cfound : 0;
    if (!err && (!found || cfound < 0))
        err = error_page(c, 500);  /* httpbin fails there with an exception */
    else if (!err)
        err = redirect_bare(c, code >= 300 && code < 400 ? (int)code : 302, url);
    free(url);
    return err;
}

/* ------------------------------------------------------------- base64 */

/* Decodes base64 (with '-' and '_' also read as '+' and '/', so both
 * alphabets pass) into out, which holds 3 / 4 of len. As Python's
 * non-strict decoder: characters outside the alphabet are skipped, and the
 * data must be padded to whole quanta. Returns the length, or -1. */
static ssize_t b64decode(const char *in, size_t len, unsigned char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t acc = 0;
    size_t n = 0, chars = 0, pad = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
        const char *p = ch ? strchr(abc, ch) : NULL;
        if (ch == '=') pad++;
        if (!p || pad) continue;
        acc = acc << 6 | (uint32_t)(p - abc);
        if (++chars % 4 == 0) {
            out[n++] = (unsigned char)(acc >> 16);
            out[n++] = (unsigned char)(acc >> 8);
            out[n++] = (unsigned char)acc;
        }
    }
    size_t rest = chars % 4;
    if (rest == 1 || (rest && rest + pad < 4)) return -1;
    if (rest >= 2) out[n++] = (unsigned char)(acc >> (rest == 2 ? 4 : 10));
    if (rest == 3) out[n++] = (unsigned char)(acc >> 2);
    return (ssize_t)n;
}

/* The value, decoded from URL-safe base64, as text (500 if it is not
 * base64 of UTF-8, where httpbin fails with an exception). */
static int ep_base64(ctx *c)
{
    size_t len = strlen(c->seg);
    unsigned char *out = malloc(len / 4 * 3 + 3);
    if (!out) return WEFT_ENOMEM;
    ssize_t n = b64decode(c->seg, len, out);
    json_t *valid = n >= 0 ? json_stringn((const char *)out, (size_t)n) : NULL;
    int err = valid ? reply(c, 200, HTML, out, (size_t)n) : error_page(c, 500);
    json_decref(valid);
    free(out);
    return err;
}

/* ------------------------------------------------------------------ auth */

/* Whether the request's "Authorization: Basic" credentials are user:pass,
 * read as werkzeug reads them: the scheme in any case, the rest base64 of
 * "user:password", split at the first colon. */
static bool basic_auth_ok(ctx *c, const char *user, const char *pass)
{
    const char *auth = weft_httpd_req_header(c->req, "Authorization");
    if (!auth || strncasecmp(auth, "basic", 5) || !strchr(" \t", auth[5]) || !auth[5]) return false;
    auth += 5 + strspn(auth + 5, " \t");
    size_t len = strlen(auth);
    char *plain = malloc(len / 4 * 3 + 4);
    if (!plain) return false;
    ssize_t n = b64decode(auth, len, (unsigned char *)plain);
    bool ok = false;
    if (n >= 0) {
        plain[n] = 0;
        char *colon = memchr(plain, ':', (size_t)n);
        ok = colon && (size_t)(colon - plain) == strlen(user) && !memcmp(plain, user, strlen(user)) &&
             (size_t)(plain + n - colon - 1) == strlen(pass) && !memcmp(colon + 1, pass, strlen(pass));
    }
    free(plain);
    return ok;
}

/* /basic-auth/{user}/{passwd}: 200 for those credentials, else `fail`
 * (401 asking for them, or 404 for the hidden variant). */
static int basic_auth(ctx *c, int fail)
{
    const char *slash = strchr(c->seg, '/');
    char *user = strndup(c->seg, (size_t)(slash - c->seg));
    if (!user) return WEFT_ENOMEM;
    int err = basic_auth_ok(c, user, slash + 1)
                  ? send_json(c, 200, json_pack("{sbss}", "authenticated", 1, "user", user))
                  : status_answer(c, fail);
    free(user);
    return err;
}

static int ep_basic_auth(ctx *c) { return basic_auth(c, 401); }
static int ep_hidden_basic_auth(ctx *c) { return basic_auth(c, 404); }

/* Any Authorization is accepted; the token is what is left after Python's
 * lstrip("Bearer "), which strips those letters, not that word. */
static int ep_bearer(ctx *c)
{
    const char *auth = weft_httpd_req_header(c->req, "Authorization");
    if (!auth) {
        int err = header(c, "WWW-Authenticate", "Bearer");
        return err ? err : reply(c, 401, HTML, "", 0);
    }
    auth += strspn(auth, "Bear ");
    return send_json(c, 200, json_pack("{sbss}", "authenticated", 1, "token", auth));
}

/* --------------------------------------------------------------- cookies */

/* The cookies analytics scripts set, hidden as httpbin hides them. */
static const char *const env_cookies[] = {
    "_gauges_unique", "_gauges_unique_year", "_gauges_unique_month", "_gauges_unique_day",
    "_gauges_unique_hour", "__utmz", "__utma", "__utmb",
};

/* A cookie's value as it came, unquoted: "..." with \c and \ooo escapes
 * (werkzeug's reading). Into out, which holds len + 1 bytes. */
static size_t cookie_unquote(const char *v, size_t len, char *out)
{
    if (len < 2 || v[0] != '"' || v[len - 1] != '"') {
        memcpy(out, v, len);
        return len;
    }
    size_t n = 0;
    for (size_t i = 1; i + 1 < len; i++) {
        if (v[i] == '\\' && i + 4 < len && strspn(v + i + 1, "01234567") >= 3) {
            out[n++] = (char)((v[i + 1] - '0') << 6 | (v[i + 2] - '0') << 3 | (v[i + 3] - '0'));
            i += 3;
        } else {
            out[n++] = v[i] == '\\' && i + 2 < len ? v[++i] : v[i];
        }
    }
    return n;
}

/* Adds one cookie to the jar unless the name is there already. */
static int add_cookie(json_t *jar, const char *k, size_t klen, const char *v, size_t vlen)
{
    char *val = malloc(vlen + 1);
    json_t *jk = httpbin__text(k, klen);
    json_t *jv = val ? httpbin__text(val, cookie_unquote(v, vlen, val)) : NULL;
    int err = jk && jv ? 0 : WEFT_ENOMEM;
    if (!err && !json_object_get(jar, json_string_value(jk)))
        err = json_object_set(jar, json_string_value(jk), jv) ? WEFT_ENOMEM : 0;
    json_decref(jk);
    json_decref(jv);
    free(val);
    return err;
}

/* The Cookie header's "name=value" pairs, blanks around each part
 * trimmed; the first of a name is the one kept, as httpbin keeps it. */
static int parse_cookies(json_t *jar, const char *s)
{
    while (*s) {
        size_t n = strcspn(s, ";");
        const char *p = s + strspn(s, " \t"), *end = s + n, *eq = memchr(p, '=', (size_t)(end - p));
        s = *end ? end + 1 : end;
        if (!eq || eq == p) continue;
        const char *kend = eq, *v = eq + 1 + strspn(eq + 1, " \t"), *vend = end;
        while (kend > p && (kend[-1] == ' ' || kend[-1] == '\t')) kend--;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t')) vend--;
        int err = add_cookie(jar, p, (size_t)(kend - p), v, (size_t)(vend - v));
        if (err) return err;
    }
    return 0;
}

static int ep_cookies(ctx *c)
{
    json_t *jar = json_object();
    const char *cookie = weft_httpd_req_header(c->req, "Cookie");
    if (!jar || (cookie && parse_cookies(jar, cookie))) {
        json_decref(jar);
        return WEFT_ENOMEM;
    }
    char *show = NULL;
    int shown = httpbin__arg(c->query, c->qlen, "show_env", false, &show);
    free(show);
    for (size_t i = 0; shown == 0 && i < sizeof env_cookies / sizeof *env_cookies; i++)
        json_object_del(jar, env_cookies[i]);
    return shown < 0 ? shown : send_json(c, 200, json_pack("{so}", "cookies", jar));
}

/* One Set-Cookie as werkzeug writes it: the value bare when every byte is
 * a token character, else quoted, '"' and '\' escaped, ',' ';', controls
 * and non-ASCII in octal. `del` writes the expired cookie that deletes. */
static int set_cookie(ctx *c, const char *name, const char *value, bool del)
{
    size_t vlen = strlen(value);
    char *line = malloc(strlen(name) + 4 * vlen + 80), *p = line;
    if (!line) return WEFT_ENOMEM;
    bool bare = true;
    for (const char *v = value; *v && bare; v++)
        bare = isalnum((unsigned char)*v) || strchr("!#$%&'*+-.^_`|~:", *v);
    p += sprintf(p, "%s=%s", name, bare ? "" : "\"");
    for (const unsigned char *v = (const unsigned char *)value; *v && !bare; v++) {
        if (*v == '"' || *v == '\\') p += sprintf(p, "\\%c", *v);
        else if (*v == ',' || *v == ';' || *v < 32 || *v >= 127) p += sprintf(p, "\\%03o", *v);
        else *p++ = (char)*v;
    }
    sprintf(p, "%s%s; Path=/", bare ? value : "\"",
            del ? "; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0" : "");
    int err = header(c, "Set-Cookie", line);
    free(line);
    return err;
}

/* Sets (or deletes) a cookie per query parameter, the first value of each
 * name, and redirects to /cookies. */
static int cookies_from_query(ctx *c, bool del)
{
    json_t *args = httpbin__pairs(c->query, c->qlen);
    if (!args) return WEFT_ENOMEM;
    const char *key;
    json_t *v;
    int err = 0;
    json_object_foreach(args, key, v) {
        json_t *first = json_is_array(v) ? json_array_get(v, 0) : v;
        if (!err) err = set_cookie(c, key, del ? "" : json_string_value(first), del);
    }
    json_decref(args);
    return err ? err : redirect_page(c, "/cookies");
}

static int ep_cookies_set(ctx *c) { return cookies_from_query(c, false); }
static int ep_cookies_delete(ctx *c) { return cookies_from_query(c, true); }

static int ep_cookie_set_path(ctx *c)
{
    const char *slash = strchr(c->seg, '/');
    char *name = strndup(c->seg, (size_t)(slash - c->seg));
    int err = name ? set_cookie(c, name, slash + 1, false) : WEFT_ENOMEM;
    free(name);
    return err ? err : redirect_page(c, "/cookies");
}

/* --------------------------------------------------------------- caching */

/* /cache: 304 to a conditional request, else /get's answer with a fresh
 * Last-Modified and ETag. */
static int ep_cache(ctx *c)
{
    const char *ims = weft_httpd_req_header(c->req, "If-Modified-Since");
    const char *inm = weft_httpd_req_header(c->req, "If-None-Match");
    if ((ims && *ims) || (inm && *inm)) return status_answer(c, 304);
    char date[64], id[37], etag[33];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    int err = httpbin__uuid4(id);
    for (size_t i = 0, n = 0; i < 36; i++)
        if (id[i] != '-') etag[n++] = id[i];
    etag[32] = 0;
    if (!err) err = header(c, "Last-Modified", date);
    if (!err) err = header(c, "ETag", etag);
    return err ? err : ep_get(c);
}

static int ep_cache_n(ctx *c)
{
    char v[48];
    snprintf(v, sizeof v, "public, max-age=%llu", (unsigned long long)c->n);
    int err = header(c, "Cache-Control", v);
    return err ? err : ep_get(c);
}

/* Whether `etag` or "*" is in an If-Match / If-None-Match list, each item
 * read as httpbin reads it: blanks, W/ and one quote skipped, up to the
 * next quote. */
static bool etag_listed(const char *list, const char *etag)
{
    for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        const char *item = p + strspn(p, " \t\r\n");
        if (!strncmp(item, "W/", 2)) item += 2;
        if (*item == '"') item++;
        size_t n = strcspn(item, "\",");
        if ((n == strlen(etag) && !strncmp(item, etag, n)) || (n == 1 && *item == '*')) return true;
    }
    return false;
}

/* /etag/{etag}: 304 if If-None-Match names it, 412 if If-Match does not,
 * else /get's answer; the ETag is the one in the path. */
static int ep_etag(ctx *c)
{
    const char *inm = weft_httpd_req_header(c->req, "If-None-Match");
    const char *im = weft_httpd_req_header(c->req, "If-Match");
    if (!(inm && *inm) && im && *im && !etag_listed(im, c->seg)) return status_answer(c, 412);
    int err = header(c, "ETag", c->seg);
    if (err) return err;
    if (inm && *inm && etag_listed(inm, c->seg)) return reply(c, 304, NULL, "", 0);
    return ep_get(c);
}

/* ------------------------------------------------------ response headers */

/* The query's pairs as response headers, and a body listing every header
 * of the response, its own Content-Length included: httpbin recomputes
 * the body until that length stops changing. */
static int ep_response_headers(ctx *c)
{
    json_t *d = httpbin__pairs(c->query, c->qlen);
    if (!d || json_object_set_new(d, "Content-Type", json_string("application/json"))) {
        json_decref(d);
        return WEFT_ENOMEM;
    }
    char *body = NULL;
    size_t len = 0, prev;
    do {
        char cl[24];
        prev = len;
        free(body);
        body = NULL;
        snprintf(cl, sizeof cl, "%zu", len);
        /* A length that could not be set leaves the previous one in the
         * body, which then agrees with itself and is wrong: an error. */
        if (json_object_set_new(d, "Content-Length", json_string(cl))) break;
        body = dump(json_incref(d), &len);
    } while (body && len != prev);
    int err = body ? 0 : WEFT_ENOMEM;
    const char *key;
    json_t *v;
    json_object_foreach(d, key, v) {
        if (err || !strcmp(key, "Content-Type") || !strcmp(key, "Content-Length")) continue;
        for (size_t i = 0; !err && i < (json_is_array(v) ? json_array_size(v) : 1); i++)
            err = header(c, key, json_string_value(json_is_array(v) ? json_array_get(v, i) : v));
    }
    if (!err) err = reply(c, 200, "application/json", body, len);
    free(body);
    json_decref(d);
    return err;
}

/* ----------------------------------------------------------- range, links */

/* httpbin's reading of a Range header "bytes=A-B" into [*first, *last]
 * of n bytes: a part that is not a number is absent, "-B" means the last
 * B bytes and "A-" up to the end. */
static void range_of(const char *h, long long n, long long *first, long long *last)
{
    long long a = -1, b = -1, v;
    const char *eq = h ? strchr(h, '=') : NULL;
    while (h && isspace((unsigned char)*h)) h++;
    if (h && !strncmp(h, "bytes", 5) && eq && !strchr(eq + 1, '=')) {
        char *spec = strdup(eq + 1), *dash = spec ? strchr(spec, '-') : NULL;
        if (dash) {
            *dash = 0;
            if (!strchr(dash + 1, '-') && parse_int(dash + 1, &v)) b = v;
            if (parse_int(spec, &v)) a = v;
        }
        free(spec);
    }
    *first = a < 0 && b < 0 ? 0 : a < 0 ? (n - b > 0 ? n - b : 0) : a;
    *last = a < 0 || b < 0 ? n - 1 : b;
}

/* Sends bytes first..last of the alphabet stream ('a' + i % 26) in
 * chunks, pausing duration / n per byte as httpbin does. */
static int range_body(ctx *c, long long first, long long last, size_t chunk, double pause)
{
    char *buf = malloc(chunk);
    if (!buf) return WEFT_ENOMEM;
    int err = 0;
    for (long long i = first; !err && i <= last;) {
        size_t k = 0;
        while (k < chunk && i <= last) buf[k++] = (char)('a' + i++ % 26);
        err = weft_sleep((int64_t)(pause * (double)k * 1e9));
        if (!err) err = stream_piece(c, buf, k);
    }
    free(buf);
    return err;
}

static int range_headers(ctx *c, const char *crange, const char *clen)
{
    char etag[32];
    snprintf(etag, sizeof etag, "range%llu", (unsigned long long)c->n);
    int err = header(c, "ETag", etag);
    if (!err) err = header(c, "Accept-Ranges", "bytes");
    if (!err && crange) err = header(c, "Content-Range", crange);
    if (!err && clen) err = header(c, "Content-Length", clen);
    return err;
}

/* /range/{n}: n bytes (up to 100 KiB) that honour Range: 206 with the
 * part asked for, 416 for one out of bounds. */
static int ep_range(ctx *c)
{
    long long n = c->n > MAX_BYTES ? MAX_BYTES + 1 : (long long)c->n, chunk = 10 * 1024, first, last;
    double duration = 0;
    char crange[80], clen[24];
    if (n <= 0 || n > MAX_BYTES) {
        int err = range_headers(c, NULL, NULL);
        return err ? err : send_str(c, 404, "text/plain; charset=utf-8",
                                    "number of bytes must be in the range (0, 102400]");
    }
    int r1 = arg_int(c, "chunk_size", &chunk), r2 = arg_float(c, "duration", &duration);
    if (r1 == WEFT_ENOMEM || r2 == WEFT_ENOMEM) return WEFT_ENOMEM;
    if (r1 < 0 || r2 < 0) return error_page(c, 500);
    range_of(weft_httpd_req_header(c->req, "Range"), n, &first, &last);
    if (first > last || first < 0 || first >= n || last >= n) {
        snprintf(crange, sizeof crange, "bytes */%lld", n);
        int err = range_headers(c, crange, "0");
        return err ? err : reply(c, 416, "text/plain; charset=utf-8", "", 0);
    }
    snprintf(crange, sizeof crange, "bytes %lld-%lld/%lld", first, last, n);
    snprintf(clen, sizeof clen, "%lld", last + 1 - first);
    int err = stream_start(c, first == 0 && last == n - 1 ? 200 : 206, "application/octet-stream");
    if (!err) err = range_headers(c, crange, clen);
    double pause = duration > 0 ? fmin(duration, 1e6) / (double)n : 0;
    if (!err) err = range_body(c, first, last, chunk < 1 ? 1 : chunk > MAX_BYTES ? MAX_BYTES : (size_t)chunk, pause);
    return err ? err : weft_httpd_res_end(c->res);
}

/* /links/{n}/{offset}: a page of n links (1 to 200) to its siblings, the
 * one at `offset` as plain text. */
static int ep_links_page(ctx *c)
{
    char *end;
    unsigned long long n = strtoull(c->seg, &end, 10), off;
    if (end == c->seg || *end != '/' || !isdigit((unsigned char)end[1])) return error_page(c, 404);
    const char *o = end + 1;
    off = strtoull(o, &end, 10);
    if (*end || !isdigit((unsigned char)*c->seg)) return error_page(c, 404);
    n = n < 1 ? 1 : n > 200 ? 200 : n;
    char *page = malloc(100 + n * 40), *p = page;
    if (!page) return WEFT_ENOMEM;
    p += sprintf(p, "<html><head><title>Links</title></head><body>");
    for (unsigned long long i = 0; i < n; i++)
        p += i == off ? sprintf(p, "%llu ", i) : sprintf(p, "<a href='/links/%llu/%llu'>%llu</a> ", n, i, i);
    p += sprintf(p, "</body></html>");
    int err = reply(c, 200, HTML, page, (size_t)(p - page));
    free(page);
    return err;
}

static int ep_links(ctx *c)
{
    char loc[64];
    snprintf(loc, sizeof loc, "/links/%llu/0", (unsigned long long)c->n);
    return redirect_page(c, loc);
}

/* ------------------------------------------------------------ documents */

static int ep_json(ctx *c) { return send_str(c, 200, "application/json", httpbin__slideshow); }
static int ep_html(ctx *c) { return send_str(c, 200, HTML, httpbin__moby_html); }
static int ep_robots(ctx *c) { return send_str(c, 200, "text/plain", "User-agent: *\nDisallow: /deny\n"); }

/* Not httpbin's: a WebSocket that sends every message back as it came
 * (text as text, binary as binary) until the client closes. Messages up to
 * 16 MiB, the largest Autobahn's test suite sends; a closing handshake
 * waits 2 s at most, not to hold a shutdown up. A peer that breaks the
 * protocol has had its close code; the connection ends either way. */
static int ep_ws_echo(ctx *c)
{
    weft_ws_opts o = { .max_message = 16 * 1024 * 1024, .close_timeout = 2 * WEFT_SECOND };
    weft_ws *ws;
    int err = weft_ws_accept(&ws, c->req, c->res, &o);
    if (err) return err;
    const void *msg;
    int type;
    ssize_t n;
    while ((n = weft_ws_recv(ws, &msg, &type)) >= 0 && !weft_ws_send(ws, type, msg, (size_t)n)) {}
    /* A shutdown cancels the handler after the grace period: the client
     * is told (1001, going away), under a shield that close_timeout bounds. */
    weft_scope sc;
    weft_scope_enter_ex(&sc, WEFT_FOREVER, WEFT_SCOPE_SHIELD);
    weft_ws_close(ws, n == WEFT_ECANCELED ? 1001 : 1000, NULL);
    weft_scope_leave(&sc);
    return 0;
}

static int ep_index(ctx *c)
{
    return send_str(c, 200, HTML,
        "<!doctype html>\n<html lang=en>\n<title>weft-httpbin</title>\n"
        "<h1>weft-httpbin</h1>\n<p>An HTTP request and response service: python3-httpbin's "
        "endpoints, served by weft.</p>\n<ul>\n"
        "<li>/get /post /put /patch /delete /anything: the request, reflected</li>\n"
        "<li>/headers /ip /user-agent /uuid</li>\n"
        "<li>/status/{codes} /delay/{n} /drip /bytes/{n} /stream/{n} /stream-bytes/{n}</li>\n"
        "<li>/gzip /deflate /json /html /robots.txt</li>\n"
        "<li>/redirect/{n} /relative-redirect/{n} /absolute-redirect/{n} /redirect-to?url=</li>\n"
        "</ul>\n");
}

/* -------------------------------------------------------------- routing */

enum { M_GET = 1, M_POST = 2, M_PUT = 4, M_DELETE = 8, M_PATCH = 16, M_TRACE = 32,
       M_OPTIONS = 64, M_HEAD = 128 };
#define M_ANY (M_GET | M_POST | M_PUT | M_DELETE | M_PATCH | M_TRACE)

/* In the order Allow lists them. */
static const char *const method_names[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "TRACE",
                                           "OPTIONS", "HEAD"};

/* What a route's path holds after its prefix: nothing; one segment; two
 * segments; digits; the rest. */
enum { EXACT, SEG, SEG2, INT, PATH };

static const struct route {
    const char *prefix;
    int kind;
    unsigned methods;
    int (*fn)(ctx *c);
} routes[] = {
    {"/", EXACT, M_GET, ep_index},
    {"/get", EXACT, M_GET, ep_get},
    {"/post", EXACT, M_POST, ep_body},
    {"/put", EXACT, M_PUT, ep_body},
    {"/patch", EXACT, M_PATCH, ep_body},
    {"/delete", EXACT, M_DELETE, ep_body},
    {"/anything", EXACT, M_ANY, ep_anything},
    {"/anything/", PATH, M_ANY, ep_anything},
    {"/headers", EXACT, M_GET, ep_headers},
    {"/ip", EXACT, M_GET, ep_ip},
    {"/user-agent", EXACT, M_GET, ep_user_agent},
    {"/uuid", EXACT, M_GET, ep_uuid},
    {"/delay/", SEG, M_GET, ep_delay},
    {"/status/", SEG, M_ANY, ep_status},
    {"/bytes/", INT, M_GET, ep_bytes},
    {"/stream/", INT, M_GET, ep_stream},
    {"/stream-bytes/", INT, M_GET, ep_stream_bytes},
    {"/drip", EXACT, M_GET, ep_drip},
    {"/gzip", EXACT, M_GET, ep_gzip},
    {"/deflate", EXACT, M_GET, ep_deflate},
    {"/redirect/", INT, M_GET, ep_redirect},
    {"/redirect-to", EXACT, M_ANY, ep_redirect_to},
    {"/relative-redirect/", INT, M_GET, ep_relative_redirect},
    {"/absolute-redirect/", INT, M_GET, ep_absolute_redirect},
    {"/json", EXACT, M_GET, ep_json},
    {"/html", EXACT, M_GET, ep_html},
    {"/robots.txt", EXACT, M_GET, ep_robots},
    {"/base64/", SEG, M_GET, ep_base64},
    {"/basic-auth/", SEG2, M_GET, ep_basic_auth},
    {"/hidden-basic-auth/", SEG2, M_GET, ep_hidden_basic_auth},
    {"/bearer", EXACT, M_GET, ep_bearer},
    {"/cookies", EXACT, M_GET, ep_cookies},
    {"/cookies/set", EXACT, M_GET, ep_cookies_set},
    {"/cookies/set/", SEG2, M_GET, ep_cookie_set_path},
    {"/cookies/delete", EXACT, M_GET, ep_cookies_delete},
    {"/cache", EXACT, M_GET, ep_cache},
    {"/cache/", INT, M_GET, ep_cache_n},
    {"/etag/", SEG, M_GET, ep_etag},
    {"/response-headers", EXACT, M_GET | M_POST, ep_response_headers},
    {"/range/", INT, M_GET, ep_range},
    {"/links/", INT, M_GET, ep_links},
    {"/links/", SEG2, M_GET, ep_links_page},
    {"/ws/echo", EXACT, M_GET, ep_ws_echo},
};

/* Whether `path` (decoded, len bytes) is r's, with its capture into c. */
static bool match(const struct route *r, const char *path, size_t len, ctx *c)
{
    size_t pl = strlen(r->prefix);
    if (len < pl || memcmp(path, r->prefix, pl)) return false;
    const char *rest = path + pl;
    size_t rl = len - pl;
    c->seg = rest;
    switch (r->kind) {
    case EXACT: return rl == 0;
    case SEG: return rl && !memchr(rest, '/', rl);
    case SEG2: {
        const char *slash = memchr(rest, '/', rl);
        return slash && slash > rest && slash < rest + rl - 1 && !memchr(slash + 1, '/', rl - (size_t)(slash - rest) - 1);
    }
    case PATH: return rl && rest[0] != '/';
    }
    if (!rl) return false;
    c->n = 0;
    for (size_t i = 0; i < rl; i++) {
        if (rest[i] < '0' || rest[i] > '9') return false;
        c->n = c->n > (UINT64_MAX - 9) / 10 ? UINT64_MAX : c->n * 10 + (uint64_t)(rest[i] - '0');
    }
    return true;
}

static unsigned method_bit(const char *m)
{
    for (size_t i = 0; i < sizeof method_names / sizeof *method_names; i++)
        if (!strcmp(m, method_names[i])) return 1u << i;
    return 0;
}

/* httpbin's after_request: every answer may be read by any page, with
 * credentials; a preflight (OPTIONS) learns what it may send. */
static int cors(ctx *c, bool preflight)
{
    const char *origin = weft_httpd_req_header(c->req, "Origin");
    int err = header(c, "Access-Control-Allow-Origin", origin ? origin : "*");
    if (!err) err = header(c, "Access-Control-Allow-Credentials", "true");
    if (err || !preflight) return err;
    err = header(c, "Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, PATCH, OPTIONS");
    if (!err) err = header(c, "Access-Control-Max-Age", "3600");
    const char *want = weft_httpd_req_header(c->req, "Access-Control-Request-Headers");
    if (!err && want) err = header(c, "Access-Control-Allow-Headers", want);
    return err;
}

/* Answers OPTIONS, or a method the route does not take, with the list of
 * those it does (GET bringing HEAD, as in Flask). */
static int allow(ctx *c, const struct route *r, unsigned m)
{
    unsigned allowed = r->methods | M_OPTIONS | (r->methods & M_GET ? M_HEAD : 0);
    char list[80] = "";
    for (size_t i = 0; i < sizeof method_names / sizeof *method_names; i++)
        if (allowed & (1u << i))
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? ", " : "",
                     method_names[i]);
    int err = header(c, "Allow", list);
    if (err) return err;
    return m == M_OPTIONS ? reply(c, 200, HTML, "", 0) : error_page(c, 405);
}

static int route(ctx *c, const char *path, size_t len)
{
    unsigned m = method_bit(weft_httpd_req_method(c->req));
    int err = cors(c, m == M_OPTIONS);
    if (err) return err;
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        const struct route *r = &routes[i];
        if (!match(r, path, len, c)) continue;
        unsigned ok = r->methods | (r->methods & M_GET ? M_HEAD : 0);
        if (!(m & ok)) return allow(c, r, m);
        err = r->fn(c);
        /* A header the server would not send (a Location or a cookie name
         * with control characters, a Transfer-Encoding asked of
         * /response-headers): httpbin fails there with an exception, and
         * answers its 500 page. */
        if (err == WEFT_EINVAL && !weft_httpd_res_started(c->res)) err = error_page(c, 500);
        return err;
    }
    return error_page(c, 404);
}

int httpbin_handler(weft_httpd_req *req, weft_httpd_res *res, void *arg)
{
    (void)arg;
    ctx c = {.req = req, .res = res};
    const char *path;
    size_t plen, dlen;
    httpbin__target(req, &path, &plen, &c.query, &c.qlen);
    /* Routes match the decoded path, as werkzeug's do. A common path is
     * decoded on the stack: a /delay then holds no allocation while it
     * sleeps. */
    char small[256];
    char *dpath = plen < sizeof small ? small : malloc(plen + 1);
    if (!dpath) return WEFT_ENOMEM;
    dlen = httpbin__unquote_to(dpath, path, plen, false);
    int err = route(&c, dpath, dlen);
    if (dpath != small) free(dpath);
    return err;
}

int httpbin_new(weft_httpd **out, const char *host, const char *port, const weft_httpd_opts *opts)
{
    weft_httpd *s;
    int err = weft_httpd_new(&s, opts, httpbin_handler, NULL);
    if (err) return err;
    err = weft_httpd_listen(s, host, port);
    if (err) {
        weft_httpd_free(s);
        return err;
    }
    *out = s;
    return 0;
}
