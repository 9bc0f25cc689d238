/* libFuzzer target: the head the client writes for a request built from
 * fuzz input (weft_http_request_new, _add_header, _add_query, _set_body),
 * end to end: a server task on a loopback port reads what weft_http_send
 * sends and parses it with the server's parser.
 *
 * The input is a flags byte, then NUL-separated strings: a method, a path
 * (appended to the server's origin), then name/value pairs; with flag 1
 * the last pair goes to add_query instead, with flag 2 the request gets a
 * 3-byte body. Invariants: every call returns 0 or its documented error;
 * a request that was sent arrives as exactly one well-formed head with the
 * method given, Host first, the default fields the request did not
 * override, then every header add_header accepted (Host, Content-Length
 * and Transfer-Encoding excepted), in order, with its value (less the
 * surrounding whitespace a parser drops), and the framing field; nothing
 * else, so no value a caller gives can add a field (header injection).
 * No leak of memory or sockets (fuzz_loop.h). */
#include "parse.h"
#include "fuzz_loop.h"

#include <weft.h>
#include <weft/http.h>
#include <weft/io.h>
#include <weft/net.h>

#include <stdint.h>
#include <string.h>
#include <strings.h>

#define MAX_PAIRS 32

typedef struct run {
    const char *strs[2 + 2 * MAX_PAIRS];
    size_t nstrs;
    unsigned opt;
    int lfd;
    /* what the request should carry, filled as it is built */
    const char *method;
    const char *names[MAX_PAIRS], *values[MAX_PAIRS];
    size_t nfields;
    bool ua, accept, accept_enc, body, sent;
    bool got;              /* the server task parsed a head */
} run;

static bool is_framing(const char *n) {
    return !strcasecmp(n, "host") || !strcasecmp(n, "content-length") || !strcasecmp(n, "transfer-encoding");
}

static size_t trimmed(const char *v, const char **start) {
    size_t n = strlen(v);
    while (n && (*v == ' ' || *v == '\t')) v++, n--;
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    *start = v;
    return n;
}

static bool field_is(const weft__hdr *f, const char *name, const char *value) {
    if (f->name_len != strlen(name) || strncasecmp(f->name, name, f->name_len)) return false;
    if (!value) return true;
    const char *v;
    size_t n = trimmed(value, &v);
    return f->value_len == n && !memcmp(f->value, v, n);
}

/* The head must be exactly what the request says. */
static void check_head(const run *r, const char *buf, size_t len, ssize_t n, const weft__http_head *h) {
    (void)len;
    /* The server's parser answers CONNECT 501 (it makes no tunnels) as
     * soon as the request line is in: nothing more to compare. */
    if (!strcmp(r->method, "CONNECT") && n != -1) {
        CHECK(n == WEFT_EHTTP && h->status == 501);
        return;
    }
    if (n <= 0) fprintf(stderr, "the client's head did not parse (%zd):\n%.*s\n", n, (int)len, buf);
    CHECK(n > 0);
    CHECK(h->method_len == strlen(r->method) && !memcmp(h->method, r->method, h->method_len));
    CHECK(h->minor == 1 && h->target_len > 0 && h->target[0] == '/');
    size_t i = 0;
    CHECK(i < h->nhdrs && field_is(&h->hdrs[i++], "host", NULL));
    if (!r->ua) CHECK(i < h->nhdrs && field_is(&h->hdrs[i++], "user-agent", NULL));
    if (!r->accept) CHECK(i < h->nhdrs && field_is(&h->hdrs[i++], "accept", "*/*"));
    if (!r->accept_enc) CHECK(i < h->nhdrs && field_is(&h->hdrs[i++], "accept-encoding", "gzip, deflate"));
    for (size_t k = 0; k < r->nfields; k++) CHECK(i < h->nhdrs && field_is(&h->hdrs[i++], r->names[k], r->values[k]));
    bool post = !strcmp(r->method, "POST") || !strcmp(r->method, "PUT") || !strcmp(r->method, "PATCH");
    if (r->body || post) CHECK(i < h->nhdrs && field_is(&h->hdrs[i++], "content-length", r->body ? "3" : "0"));
    CHECK(i == h->nhdrs);
}

/* The server: parses the head as it comes, checks it, answers 204. */
static void *serve_one(void *arg) {
    run *r = arg;
    int fd;
    if (weft_accept(r->lfd, NULL, NULL, &fd) < 0) return NULL;
    static const weft__http_limits lim = { 1 << 16, 1 << 20, 1000 };
    static weft__hdr hdrs[1000];
    char *buf = malloc(1 << 20);
    CHECK(buf);
    size_t got = 0;
    for (;;) {
        weft__http_head h = { .hdrs = hdrs, .hdrs_cap = 1000 };
        ssize_t n = weft__http_parse_request(buf, got, &h, &lim);
        if (n != 0) {
            check_head(r, buf, got, n, &h);
            r->got = true;
            break;
        }
        ssize_t k = got < (1 << 20) ? weft_read(fd, buf + got, (1 << 20) - got) : 0;
        if (k <= 0) {
            check_head(r, buf, got, -1, &h);
            break;
        }
        got += (size_t)k;
    }
    free(buf);
    static const char resp[] = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
    weft_write(fd, resp, sizeof resp - 1);
    weft_close(fd);
    return NULL;
}

/* Builds the request, noting what it should carry. Returns NULL if
 * request_new refused the method. */
static weft_http_request *build(run *r, const char *origin) {
    r->method = r->nstrs > 0 ? r->strs[0] : "GET";
    const char *path = r->nstrs > 1 ? r->strs[1] : "/";
    size_t ulen = strlen(origin) + strlen(path) + 2;
    char *url = malloc(ulen);
    CHECK(url);
    snprintf(url, ulen, "%s%s%s", origin, path[0] == '/' ? "" : "/", path);
    weft_http_request *q = NULL;
    int e = weft_http_request_new(&q, r->method, url);
    free(url);
    CHECK(e == 0 || e == WEFT_EINVAL);
    if (e) return NULL;
    size_t pairs = r->nstrs > 2 ? (r->nstrs - 2) / 2 : 0;
    for (size_t k = 0; k < pairs; k++) {
        const char *name = r->strs[2 + 2 * k], *value = r->strs[3 + 2 * k];
        if (k == pairs - 1 && r->opt & 1) {
            CHECK(weft_http_request_add_query(q, name, value) == 0);
            continue;
        }
        e = weft_http_request_add_header(q, name, value);
        CHECK(e == 0 || e == WEFT_EINVAL);
        if (e || is_framing(name)) continue;
        r->ua |= !strcasecmp(name, "user-agent");
        r->accept |= !strcasecmp(name, "accept");
        r->accept_enc |= !strcasecmp(name, "accept-encoding");
        r->names[r->nfields] = name;
        r->values[r->nfields++] = value;
    }
    if (r->opt & 2) {
        CHECK(weft_http_request_set_body(q, "abc", 3, NULL) == 0);
        r->body = true;
    }
    return q;
}

static int fuzz_main(void *arg) {
    run *r = arg;
    r->lfd = fuzz_tcp_listener();  /* once per run, and the client resets: no TIME_WAIT */
    char origin[64];
    snprintf(origin, sizeof origin, "http://127.0.0.1:%d", weft_sock_port(r->lfd));
    weft_http_request *q = build(r, origin);
    if (q) {
        weft_task *srv = weft_spawn(serve_one, r);
        CHECK(srv);
        weft_http_client_opts o = { .read_timeout = 2 * WEFT_SECOND, .connect_timeout = 2 * WEFT_SECOND };
        weft_http_client *c;
        CHECK(weft_http_client_new(&c, &o) == 0);
        weft_http_response *res = NULL;
        int e = weft_http_send(c, q, 0, &res);
        CHECK(e <= 0 && (e == 0) == (res != NULL));
        if (e == 0) CHECK(r->got);
        if (!r->got) weft_cancel(srv);  /* e.g. WEFT_EURL: nothing was sent, it waits in accept */
        weft_http_response_free(res);
        weft_http_client_free(c);
        weft_join(srv, NULL);
        weft_http_request_free(q);
    }
    fuzz_listener_drain(r->lfd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    if (len < 1 || len > 8192) return 0;
    char *copy = malloc(len);  /* the strings, NUL-separated, the last NUL-ended */
    CHECK(copy);
    memcpy(copy, data + 1, len - 1);
    copy[len - 1] = '\0';
    run r = { .opt = data[0], .lfd = -1 };
    for (char *p = copy; p < copy + len && r.nstrs < sizeof r.strs / sizeof *r.strs; p += strlen(p) + 1)
        r.strs[r.nstrs++] = p;
    fuzz_in_loop(fuzz_main, &r);
    free(copy);
    return 0;
}
