/* The request router (include/weft/httpd.h's router section): a list of
 * (method, pattern) routes tried in order, patterns split into segments
 * once when added, "{name}" segments capturing one path segment.
 *
 * A list, not a trie: apps have tens of routes, and a scan of tens of
 * short string compares costs less than the head's parse; a trie would
 * also make "first added wins" harder to state.
 */
#include "server.h"

#include <string.h>

#define MAX_SEGS 16

typedef struct route {
    char *method;               /* NULL: any */
    char *copy;                 /* the pattern, its '/' and braces turned into NULs */
    const char *seg[MAX_SEGS];  /* literal text, or the capture's name */
    bool cap[MAX_SEGS];
    size_t nseg;
    weft_httpd_handler handler;
    void *arg;
} route;

struct weft_httpd_router {
    weft__mem mem;              /* its loop's allocator: frees need no loop */
    route *r;
    size_t n, cap;
};

int weft_httpd_router_new(weft_httpd_router **out) {
    if (!weft_loop_current()) return WEFT_ENOTASK;
    weft__mem m = weft__mem_here();
    weft_httpd_router *rt = weft__mem_alloc(m, sizeof *rt);
    if (!rt) return WEFT_ENOMEM;
    memset(rt, 0, sizeof *rt);
    rt->mem = m;
    *out = rt;
    return 0;
}

void weft_httpd_router_free(weft_httpd_router *rt) {
    if (!rt) return;
    for (size_t i = 0; i < rt->n; i++) {
        weft__mem_free(rt->mem, rt->r[i].method);
        weft__mem_free(rt->mem, rt->r[i].copy);
    }
    weft__mem_free(rt->mem, rt->r);
    weft__mem_free(rt->mem, rt);
}

/* Splits copy (the pattern after its leading '/') into e's segments. */
static int split(route *e, char *copy) {
    size_t ncap = 0;
    for (char *p = copy;;) {
        if (e->nseg == MAX_SEGS) return WEFT_EINVAL;
        char *slash = strchr(p, '/');
        if (slash) *slash = 0;
        size_t len = strlen(p);
        bool cap = len && p[0] == '{';
        if (cap && (len < 3 || p[len - 1] != '}' || ++ncap > HTTPD_MAX_PARAMS)) return WEFT_EINVAL;
        if (cap) p[len - 1] = 0, p++;
        if (strchr(p, '{') || strchr(p, '}')) return WEFT_EINVAL;
        e->cap[e->nseg] = cap;
        e->seg[e->nseg++] = p;
        if (!slash) return 0;
        p = slash + 1;
    }
}

int weft_httpd_route(weft_httpd_router *rt, const char *method, const char *pattern,
                     weft_httpd_handler handler, void *arg) {
    if (!pattern || pattern[0] != '/' || !handler) return WEFT_EINVAL;
    route e = { .handler = handler, .arg = arg };
    e.copy = weft__mem_strndup(rt->mem, pattern + 1, strlen(pattern + 1));
    e.method = method ? weft__mem_strndup(rt->mem, method, strlen(method)) : NULL;
    int err = !e.copy || (method && !e.method) ? WEFT_ENOMEM : split(&e, e.copy);
    if (!err && rt->n == rt->cap) {
        size_t cap = rt->cap ? rt->cap * 2 : 8;
        route *r = weft__mem_grow(rt->mem, rt->r, cap * sizeof *r);
        if (r) rt->r = r, rt->cap = cap;
        else err = WEFT_ENOMEM;
    }
    if (err) {
        weft__mem_free(rt->mem, e.copy);
        weft__mem_free(rt->mem, e.method);
        return err;
    }
    rt->r[rt->n++] = e;
    return 0;
}

/* Whether the request's path fits the route's segments; records captures. */
static bool match_path(const route *e, weft_httpd_req *req) {
    if (req->path[0] != '/') return false;
    const char *p = req->segs + 1, *end = req->segs + req->path_len;
    req->nparams = 0;
    for (size_t i = 0; i < e->nseg; i++) {
        if (p > end) return false;
        size_t len = strlen(p);
        if (e->cap[i] ? !len : strcmp(p, e->seg[i])) return false;
        if (e->cap[i]) {
            req->pname[req->nparams] = e->seg[i];
            req->pval[req->nparams++] = p;
        }
        p += len + 1;
    }
    return p == end + 1;
}

static bool match_method(const route *e, const char *m) {
    return !e->method || !strcmp(e->method, m) ||
           (!strcmp(m, "HEAD") && !strcmp(e->method, "GET"));
}

/* Adds `m` to the Allow list unless it is there. */
static void allow_add(char *allow, size_t cap, const char *m) {
    size_t n = strlen(allow), mlen = strlen(m);
    for (const char *p = allow; (p = strstr(p, m)); p += mlen)
        if ((p == allow || p[-1] == ' ') && (p[mlen] == ',' || !p[mlen])) return;
    if (n + mlen + 3 > cap) return;
    snprintf(allow + n, cap - n, "%s%s", n ? ", " : "", m);
}

static int not_allowed(weft_httpd_router *rt, weft_httpd_req *req, weft_httpd_res *res) {
    char allow[256] = "";
    for (size_t i = 0; i < rt->n; i++) {
        if (!match_path(&rt->r[i], req)) continue;
        allow_add(allow, sizeof allow, rt->r[i].method);
        if (!strcmp(rt->r[i].method, "GET")) allow_add(allow, sizeof allow, "HEAD");
    }
    req->nparams = 0;
    int err = weft_httpd_res_header(res, "Allow", allow);
    return err ? err : weft_httpd_res_send(res, 405, "text/plain; charset=utf-8",
                                           "Method Not Allowed\n", 19);
}

int weft_httpd_router_handler(weft_httpd_req *req, weft_httpd_res *res, void *router) {
    weft_httpd_router *rt = router;
    bool path_seen = false;
    for (size_t i = 0; i < rt->n; i++) {
        route *e = &rt->r[i];
        if (!match_path(e, req)) continue;
        path_seen = true;
        if (!match_method(e, req->h.method)) continue;
        for (size_t k = 0; k < req->nparams; k++) weft__url_decode((char *)req->pval[k]);
        return e->handler(req, res, e->arg);
    }
    req->nparams = 0;
    if (path_seen) return not_allowed(rt, req, res);
    return weft_httpd_res_send(res, 404, "text/plain; charset=utf-8", "Not Found\n", 10);
}
