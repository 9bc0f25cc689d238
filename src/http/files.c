/* The static file handler (include/weft/httpd.h's "static files"): from a
 * request's path to an open file beneath the root, then the conditional
 * and range rules of RFC 9110 (sections 13 and 14) to pick what goes out,
 * and weft_httpd_res_sendfile to send it.
 *
 * Safety is two fences. The first is lexical and cheap: the path is
 * percent-decoded once, and one that holds "%00", a backslash or a ".."
 * segment is refused before any system call, so no encoding trick can
 * even ask for a parent. The second is the kernel's: openat2 with
 * RESOLVE_BENEATH resolves the rest from the root's descriptor and fails
 * (EXDEV) on any step that would leave it, symbolic links included, which
 * a check of the path string alone cannot see. Without openat2 a walk with
 * O_NOFOLLOW stands in, stricter: no symbolic link at all.
 *
 * Nothing is cached: open and fstat per request, on the loop's thread
 * (the header says why). nginx's open_file_cache would save the open, but
 * it also serves a file replaced on disk for up to its validity time.
 */
#include "server.h"
#include "io_iface.h"

#include <weft/http.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct weft_httpd_files {
    weft__mem mem;
    int root;          /* O_PATH descriptor of the root directory */
    int listing;
    char *prefix;      /* the mount point without its trailing '/': "" for "/" */
    char *index;       /* "" = none */
};

/* ------------------------------------------------------- making, freeing */

int weft_httpd_files_new(weft_httpd_files **out, const char *root, const weft_httpd_files_opts *opts) {
    const char *prefix = opts && opts->prefix && *opts->prefix ? opts->prefix : "/";
    const char *index = opts && opts->index ? opts->index : "index.html";
    if (!root || prefix[0] != '/' || strchr(index, '/')) return WEFT_EINVAL;
    size_t plen = strlen(prefix);
    while (plen && prefix[plen - 1] == '/') plen--;
    weft__mem mem = weft__mem_here();
    weft_httpd_files *f = weft__mem_alloc(mem, sizeof *f);
    if (!f) return WEFT_ENOMEM;
    *f = (weft_httpd_files){ .mem = mem, .root = -1, .listing = opts && opts->listing };
    f->prefix = weft__mem_strndup(mem, prefix, plen);
    f->index = weft__mem_strndup(mem, index, strlen(index));
    int err = f->prefix && f->index ? 0 : WEFT_ENOMEM;
    if (!err && (f->root = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) err = -errno;
    if (err) {
        weft_httpd_files_free(f);
        return err;
    }
    *out = f;
    return 0;
}

void weft_httpd_files_free(weft_httpd_files *f) {
    if (!f) return;
    if (f->root >= 0) close(f->root);
    weft__mem_free(f->mem, f->prefix);
    weft__mem_free(f->mem, f->index);
    weft__mem_free(f->mem, f);
}

/* ---------------------------------------------------------------- paths */

/* The path below the mount point, decoded and checked, into rel (PATH_MAX
 * bytes): "a/b" for "/a//./b", "." for the root itself. *slash says the
 * path ended with '/'. Returns 0, or 404 for a path that is not ours or
 * may not be asked for. */
static int relative_path(const weft_httpd_files *f, const char *path, char *rel, bool *slash) {
    size_t plen = strlen(f->prefix);
    if (strncmp(path, f->prefix, plen) || (path[plen] && path[plen] != '/')) return 404;
    path += plen;
    char dec[PATH_MAX];
    if (strlen(path) >= sizeof dec || strstr(path, "%00")) return 404;
    strcpy(dec, path);
    weft__url_decode(dec);
    if (strchr(dec, '\\')) return 404;
    size_t n = strlen(dec), o = 0;
    *slash = n && dec[n - 1] == '/';
    for (char *seg = dec, *end; seg < dec + n; seg = end + 1) {
        end = strchr(seg, '/');
        if (!end) end = dec + n;
        size_t k = (size_t)(end - seg);
        if (k == 2 && seg[0] == '.' && seg[1] == '.') return 404;
        if (k == 0 || (k == 1 && seg[0] == '.')) continue;
        if (o) rel[o++] = '/';
        memcpy(rel + o, seg, k);
        o += k;
    }
    if (!o) rel[o++] = '.';
    rel[o] = 0;
    return 0;
}

/* One component at a time, refusing every symbolic link: where openat2 is
 * missing. rel is consumed (split in place). */
static int walk_beneath(int dir, char *rel, int flags) {
    int fd = dir;
    for (char *seg = rel, *next; fd >= 0; seg = next) {
        next = strchr(seg, '/');
        if (next) *next++ = 0;
        int nfd = openat(fd, seg, next ? O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
                                       : flags | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        if (fd != dir) close(fd);
        if (nfd < 0) return -e;
        if (!next) return nfd;
        fd = nfd;
    }
    return -EBADF;
}

/* Opens rel beneath dir: the fd or -errno (-EXDEV, -ELOOP: a way out). */
static int open_beneath(int dir, const char *rel, int flags) {
    struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC | O_NOCTTY),
                            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };
    int fd = weft__sys.openat2(dir, rel, &how, sizeof how);
    if (fd >= 0) return fd;
    if (errno != ENOSYS) return -errno;
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", rel);
    return walk_beneath(dir, copy, flags);
}

/* What a failed open tells the client: 404 when there is nothing, 403 for
 * a way out or a refusal; 0 for an error of ours (the server answers 500). */
static int open_status(int err) {
    switch (err) {
    case -ENOENT: case -ENOTDIR: case -ENAMETOOLONG: return 404;
    case -EXDEV: case -ELOOP: case -EACCES: case -EPERM: case -ENXIO: return 403;
    default: return 0;
    }
}

/* ------------------------------------------------------------ responses */

static int send_text(weft_httpd_res *res, int status, const char *text) {
    return weft_httpd_res_send(res, status, "text/plain; charset=utf-8", text, strlen(text));
}

static int send_status(weft_httpd_res *res, int status) {
    char text[64];
    snprintf(text, sizeof text, "%s\n", weft_http_reason(status));
    return send_text(res, status, text);
}

/* Types by extension (nginx's mime.types, the ones a site mostly has);
 * anything else is application/octet-stream. */
static const char *const mime_types[][2] = {
    { "html", "text/html; charset=utf-8" }, { "htm", "text/html; charset=utf-8" },
    { "css", "text/css; charset=utf-8" }, { "js", "text/javascript; charset=utf-8" },
    { "mjs", "text/javascript; charset=utf-8" }, { "json", "application/json" },
    { "txt", "text/plain; charset=utf-8" }, { "md", "text/markdown; charset=utf-8" },
    { "csv", "text/csv; charset=utf-8" }, { "xml", "application/xml" },
    { "svg", "image/svg+xml" }, { "png", "image/png" }, { "jpg", "image/jpeg" },
    { "jpeg", "image/jpeg" }, { "gif", "image/gif" }, { "webp", "image/webp" },
    { "avif", "image/avif" }, { "ico", "image/x-icon" }, { "woff", "font/woff" },
    { "woff2", "font/woff2" }, { "ttf", "font/ttf" }, { "otf", "font/otf" },
    { "wasm", "application/wasm" }, { "pdf", "application/pdf" }, { "zip", "application/zip" },
    { "gz", "application/gzip" }, { "tar", "application/x-tar" }, { "mp3", "audio/mpeg" },
    { "ogg", "audio/ogg" }, { "wav", "audio/wav" }, { "mp4", "video/mp4" },
    { "webm", "video/webm" },
};

static const char *mime_type(const char *name) {
    const char *slash = strrchr(name, '/'), *dot = strrchr(name, '.');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof mime_types / sizeof mime_types[0]; i++)
            if (!strcasecmp(dot + 1, mime_types[i][0])) return mime_types[i][1];
    return "application/octet-stream";
}

/* Does the If-None-Match list hold `etag` ("*", or an entity tag equal to
 * it by the weak comparison of RFC 9110 8.8.3.2)? */
static bool etag_listed(const char *list, const char *etag) {
    size_t el = strlen(etag);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        if (*p == '*') return true;
        if (!strncmp(p, "W/", 2)) p += 2;
        const char *end = p;
        while (*end && *end != ',') end++;
        size_t n = (size_t)(end - p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
        if (n == el && !memcmp(p, etag, el)) return true;
        p = end;
    }
    return false;
}

/* An IMF-fixdate as seconds since the epoch; -1 if it is not one. */
static time_t http_date(const char *s) {
    struct tm tm = { 0 };
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return end && !*end ? timegm(&tm) : (time_t)-1;
}

/* Has the client the current version already (RFC 9110 13.2.2: an
 * If-None-Match makes If-Modified-Since ignored)? */
static bool not_modified(weft_httpd_req *req, const char *etag, const struct stat *st) {
    const char *inm = weft_httpd_req_header(req, "If-None-Match");
    if (inm) return etag_listed(inm, etag);
    const char *ims = weft_httpd_req_header(req, "If-Modified-Since");
    time_t t = ims ? http_date(ims) : -1;
    return t != -1 && st->st_mtim.tv_sec <= t;
}

enum { RANGE_ALL, RANGE_PART, RANGE_NONE };

/* Reads a decimal number at *p, moving it past; false if there is none
 * or it overflows. */
static bool number(const char **p, uint64_t *v) {
    const char *s = *p;
    uint64_t n = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (n > (UINT64_MAX - 9) / 10) return false;
        n = n * 10 + (uint64_t)(*s - '0');
    }
    if (s == *p) return false;
    *p = s;
    *v = n;
    return true;
}

/* One byte range of a file of `size` bytes (RFC 9110 14.1.2): RANGE_PART
 * with [*from, *to], RANGE_NONE when it cannot be satisfied (416), or
 * RANGE_ALL for a field to ignore: not bytes, malformed, or several ranges
 * (allowed to be ignored, and a multipart answer is rarely wanted). */
static int byte_range(const char *v, uint64_t size, uint64_t *from, uint64_t *to) {
    if (strncasecmp(v, "bytes=", 6) || strchr(v, ',')) return RANGE_ALL;
    const char *p = v + 6;
    uint64_t a = 0, b = UINT64_MAX;
    if (*p == '-') {
        p++;
        if (!number(&p, &b) || *p) return RANGE_ALL;
        if (b == 0 || size == 0) return RANGE_NONE;
        *from = b < size ? size - b : 0;
        *to = size - 1;
        return RANGE_PART;
    }
    if (!number(&p, &a) || *p++ != '-') return RANGE_ALL;
    if (*p && (!number(&p, &b) || *p || b < a)) return RANGE_ALL;
    if (a >= size) return RANGE_NONE;
    *from = a;
    *to = b < size ? b : size - 1;
    return RANGE_PART;
}

/* The range asked for, unless If-Range names another version. */
static int range_of(weft_httpd_req *req, const char *etag, const char *lm, uint64_t size,
                    uint64_t *from, uint64_t *to) {
    const char *r = weft_httpd_req_header(req, "Range");
    const char *ir = weft_httpd_req_header(req, "If-Range");
    if (!r || strcmp(weft_httpd_req_method(req), "GET")) return RANGE_ALL;
    if (ir && strcmp(ir, etag) && strcmp(ir, lm)) return RANGE_ALL;
    return byte_range(r, size, from, to);
}

static int serve_file(weft_httpd_req *req, weft_httpd_res *res, int fd, const struct stat *st,
                      const char *name) {
    char etag[64], lm[40], cr[80];
    uint64_t size = (uint64_t)st->st_size, from = 0, to = 0;
    snprintf(etag, sizeof etag, "\"%llx-%llx\"",
             (unsigned long long)st->st_mtim.tv_sec * 1000000000ull + (unsigned long long)st->st_mtim.tv_nsec,
             (unsigned long long)size);
    struct tm tm;
    gmtime_r(&st->st_mtim.tv_sec, &tm);
    strftime(lm, sizeof lm, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    int err = weft_httpd_res_header(res, "ETag", etag);
    if (!err) err = weft_httpd_res_header(res, "Last-Modified", lm);
    if (!err) err = weft_httpd_res_header(res, "Accept-Ranges", "bytes");
    if (err) return err;
    if (not_modified(req, etag, st)) return weft_httpd_res_send(res, 304, NULL, NULL, 0);
    int kind = range_of(req, etag, lm, size, &from, &to);
    if (kind == RANGE_NONE) {
        snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
        err = weft_httpd_res_header(res, "Content-Range", cr);
        return err ? err : send_status(res, 416);
    }
    err = weft_httpd_res_header(res, "Content-Type", mime_type(name));
    if (!err && kind == RANGE_PART) {
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)from,
                 (unsigned long long)to, (unsigned long long)size);
        err = weft_httpd_res_header(res, "Content-Range", cr);
    }
    if (err) return err;
    if (kind == RANGE_ALL) return weft_httpd_res_sendfile(res, 200, fd, 0, size);
    return weft_httpd_res_sendfile(res, 206, fd, (off_t)from, to - from + 1);
}

/* ------------------------------------------------------------ directories */

/* s with HTML's special characters escaped, into out (6 * strlen + 1). */
static void html_escape(char *out, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': out = stpcpy(out, "&lt;"); break;
        case '>': out = stpcpy(out, "&gt;"); break;
        case '&': out = stpcpy(out, "&amp;"); break;
        case '"': out = stpcpy(out, "&quot;"); break;
        case '\'': out = stpcpy(out, "&#39;"); break;
        default: *out++ = *s;
        }
    }
    *out = 0;
}

static int not_dots(const struct dirent *d) { return strcmp(d->d_name, ".") && strcmp(d->d_name, ".."); }

static bool is_dir(int dir, const struct dirent *d) {
    struct stat st;
    if (d->d_type != DT_UNKNOWN && d->d_type != DT_LNK) return d->d_type == DT_DIR;
    return fstatat(dir, d->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
}

/* One entry's line: a link percent-encoded, a name escaped. */
static int list_entry(weft_httpd_res *res, int dir, const struct dirent *d) {
    size_t n = strlen(d->d_name);
    char href[3 * 256 + 2], text[6 * 256 + 2], line[sizeof href + sizeof text + 32];
    size_t k = weft__url_encode(href, d->d_name, n);
    bool sub = is_dir(dir, d);
    strcpy(href + k, sub ? "/" : "");
    html_escape(text, d->d_name);
    int len = snprintf(line, sizeof line, "<li><a href=\"%s\">%s%s</a></li>\n", href, text, sub ? "/" : "");
    return weft_httpd_res_write(res, line, (size_t)len);
}

/* An HTML list of the directory's entries, sorted by name, titled with
 * its path (up to 512 bytes of it: the buffers live on the task's stack). */
static int send_listing(weft_httpd_res *res, int dir, const char *path) {
    struct dirent **names;
    int n = scandirat(dir, ".", &names, not_dots, alphasort);
    if (n < 0) return open_status(-errno) ? send_status(res, open_status(-errno)) : -errno;
    char cut[513], title[6 * sizeof cut], head[2 * sizeof title + 160];
    snprintf(cut, sizeof cut, "%.*s", (int)sizeof cut - 1, path);
    html_escape(title, cut);
    int len = snprintf(head, sizeof head,
                       "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of %s</title>"
                       "</head>\n<body><h1>Index of %s</h1>\n<ul>\n", title, title);
    int err = weft_httpd_res_header(res, "Content-Type", "text/html; charset=utf-8");
    if (!err) err = weft_httpd_res_write(res, head, (size_t)len);
    for (int i = 0; i < n; i++) {
        if (!err) err = list_entry(res, dir, names[i]);
        free(names[i]);
    }
    free(names);
    static const char tail[] = "</ul>\n</body></html>\n";
    return err ? err : weft_httpd_res_write(res, tail, sizeof tail - 1);
}

/* A directory asked for with its trailing slash: its index, else its
 * listing, else 403. */
static int serve_dir(weft_httpd_files *f, weft_httpd_req *req, weft_httpd_res *res, int dir) {
    int fd = *f->index ? open_beneath(dir, f->index, O_RDONLY | O_NONBLOCK) : -ENOENT;
    if (fd == -ENOENT && f->listing) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s", weft_httpd_req_path(req));
        weft__url_decode(path);
        return send_listing(res, dir, path);
    }
    if (fd < 0) return open_status(fd) ? send_status(res, fd == -ENOENT ? 403 : open_status(fd)) : fd;
    struct stat st;
    int err = fstat(fd, &st) ? -errno : 0;
    if (!err) err = S_ISREG(st.st_mode) ? serve_file(req, res, fd, &st, f->index) : send_status(res, 403);
    close(fd);
    return err;
}

/* A directory asked for without its slash: relative links in it would
 * resolve against its parent, so the client is sent to the slashed path. */
static int redirect_dir(weft_httpd_req *req, weft_httpd_res *res) {
    const char *path = weft_httpd_req_path(req), *q = weft_httpd_req_query(req);
    char loc[PATH_MAX + 2];
    if (snprintf(loc, sizeof loc, "%s/%s%s", path, *q ? "?" : "", q) >= (int)sizeof loc)
        return send_status(res, 414);
    int err = weft_httpd_res_header(res, "Location", loc);
    return err ? err : send_status(res, 301);
}

int weft_httpd_files_handler(weft_httpd_req *req, weft_httpd_res *res, void *files) {
    weft_httpd_files *f = files;
    const char *m = weft_httpd_req_method(req);
    if (strcmp(m, "GET") && strcmp(m, "HEAD")) {
        int err = weft_httpd_res_header(res, "Allow", "GET, HEAD");
        return err ? err : send_status(res, 405);
    }
    char rel[PATH_MAX];
    bool slash = false;
    int status = relative_path(f, weft_httpd_req_path(req), rel, &slash);
    if (status) return send_status(res, status);
    int fd = open_beneath(f->root, rel, O_RDONLY | O_NONBLOCK);
    if (fd < 0) return open_status(fd) ? send_status(res, open_status(fd)) : fd;
    struct stat st;
    int err = fstat(fd, &st) ? -errno : 0;
    if (err) {
    } else if (S_ISDIR(st.st_mode)) err = slash ? serve_dir(f, req, res, fd) : redirect_dir(req, res);
    else if (S_ISREG(st.st_mode) && !slash) err = serve_file(req, res, fd, &st, rel);
    else err = send_status(res, S_ISREG(st.st_mode) ? 404 : 403);
    close(fd);
    return err;
}
