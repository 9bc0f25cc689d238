/* The static file handler (weft_httpd_files_*) on a real server and raw
 * loopback sockets: bodies, HEAD, validators and 304, byte ranges and 416,
 * types, index files, listings and redirects, and every way out of the
 * root we know of, which must never yield the file outside it. Each case
 * builds its own tree under a fresh temporary directory:
 *
 *   TMP/secret                 outside the root
 *   TMP/root/hello.txt         "hello, world\n"
 *   TMP/root/sub/index.html    "<p>sub</p>\n"
 *   TMP/root/list/a&b.txt, list/x y/
 *   TMP/root/inside -> hello.txt, out -> /etc, up -> ../secret,
 *            loop -> loop, fifo (a FIFO)
 */
#include "test.h"

#include "io_iface.h"

#include <weft/httpd.h>
#include <weft/io.h>
#include <weft/net.h>

#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[64], root[96];

static void put_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    ASSERT(f);
    fputs(text, f);
    fclose(f);
}

/* TMP/rel, in a static buffer. */
static const char *at(const char *rel) {
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", tmp, rel);
    return p;
}

static void make_tree(void) {
    snprintf(tmp, sizeof tmp, "/tmp/weft-files-XXXXXX");
    ASSERT(mkdtemp(tmp));
    snprintf(root, sizeof root, "%s/root", tmp);
    ASSERT_EQ(mkdir(root, 0755), 0);
    put_file(at("secret"), "SECRET\n");
    put_file(at("root/hello.txt"), "hello, world\n");
    ASSERT_EQ(mkdir(at("root/sub"), 0755), 0);
    put_file(at("root/sub/index.html"), "<p>sub</p>\n");
    ASSERT_EQ(mkdir(at("root/list"), 0755), 0);
    put_file(at("root/list/a&b.txt"), "ab\n");
    ASSERT_EQ(mkdir(at("root/list/x y"), 0755), 0);
    ASSERT_EQ(symlink("hello.txt", at("root/inside")), 0);
    ASSERT_EQ(symlink("/etc", at("root/out")), 0);
    ASSERT_EQ(symlink("../secret", at("root/up")), 0);
    ASSERT_EQ(symlink("loop", at("root/loop")), 0);
    ASSERT_EQ(mkfifo(at("root/fifo"), 0644), 0);
}

static void remove_tree(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    ASSERT_EQ(system(cmd), 0);
}

/* ------------------------------------------------------------ fixture */

typedef struct fixture {
    weft_httpd_files_opts fo;
    unsigned workers;
    weft_httpd_files *files;
    weft_httpd *srv;
    weft_task *serve;
    int port;
} fixture;

static void *serve_main(void *arg) { return weft_error(weft_httpd_serve(arg)); }

static void start(fixture *fx) {
    ASSERT_ERR(weft_httpd_files_new(&fx->files, root, &fx->fo), 0);
    weft_httpd_opts ho = { .workers = fx->workers };
    ASSERT_ERR(weft_httpd_new(&fx->srv, &ho, weft_httpd_files_handler, fx->files), 0);
    ASSERT_ERR(weft_httpd_listen(fx->srv, "127.0.0.1", "0"), 0);
    fx->port = weft_httpd_port(fx->srv);
    ASSERT(fx->serve = weft_spawn(serve_main, fx->srv));
}

static void stop(fixture *fx) {
    weft_httpd_shutdown(fx->srv);
    void *res;
    ASSERT_ERR(weft_join(fx->serve, &res), 0);
    ASSERT_ERR(weft_error_code(res), 0);
    weft_httpd_free(fx->srv);
    weft_httpd_files_free(fx->files);
}

/* Sends "METHOD TARGET HTTP/1.1" with `headers` (each ending in CRLF) and
 * Connection: close, and reads the whole response into buf. Returns the
 * status; *body points at the body. */
static int ask(fixture *fx, const char *method, const char *target, const char *headers,
               char *buf, size_t cap, const char **body) {
    char p[8], req[1024];
    snprintf(p, sizeof p, "%d", fx->port);
    int fd;
    ASSERT_ERR(weft_tcp_connect("127.0.0.1", p, &fd), 0);
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\n%sConnection: close\r\n\r\n",
                     method, target, headers ? headers : "");
    ASSERT_EQ(weft_write(fd, req, (size_t)n), n);
    weft_scope sc;
    weft_timeout_enter(&sc, 5 * WEFT_SECOND);
    size_t got = 0;
    for (ssize_t r; (r = weft_read(fd, buf + got, cap - 1 - got)) > 0;) got += (size_t)r;
    ASSERT_ERR(weft_scope_leave(&sc), 0);
    ASSERT_ERR(weft_close(fd), 0);
    buf[got] = 0;
    char *end = strstr(buf, "\r\n\r\n");
    ASSERT(end && !strncmp(buf, "HTTP/1.1 ", 9));
    *body = end + 4;
    return atoi(buf + 9);
}

/* The value of header `name` in the response head in buf ("" if absent),
 * copied into out. */
static const char *field(const char *buf, const char *name, char *out, size_t cap) {
    char key[64];
    snprintf(key, sizeof key, "\r\n%s: ", name);
    const char *p = strcasestr(buf, key), *end = strstr(buf, "\r\n\r\n");
    out[0] = 0;
    if (p && p < end) {
        p += strlen(key);
        size_t n = strcspn(p, "\r");
        snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
    }
    return out;
}

/* Runs a case on a served tree with the options given, checking nothing
 * leaked. */
typedef void (*case_fn)(fixture *);
typedef struct run_arg { case_fn fn; weft_httpd_files_opts fo; unsigned workers; } run_arg;
static int run_case(void *arg) {
    run_arg *ra = arg;
    fixture fx = { .fo = ra->fo, .workers = ra->workers };
    start(&fx);
    ra->fn(&fx);
    stop(&fx);
    return 0;
}
static void with_opts(case_fn fn, weft_httpd_files_opts fo, unsigned workers) {
    make_tree();
    run_arg ra = { fn, fo, workers };
    ASSERT_EQ(wt_run_real(run_case, &ra), 0);
    remove_tree();
}
/* With listings on, mounted at "/". */
static void with_server(case_fn fn) { with_opts(fn, (weft_httpd_files_opts){ .listing = 1 }, 0); }

/* ------------------------------------------------------------- bodies */

static void get_file(fixture *fx) {
    char buf[4096], v[128];
    const char *body;
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", NULL, buf, sizeof buf, &body), 200);
    ASSERT_STR(body, "hello, world\n");
    ASSERT_STR(field(buf, "Content-Length", v, sizeof v), "13");
    ASSERT_STR(field(buf, "Content-Type", v, sizeof v), "text/plain; charset=utf-8");
    ASSERT_STR(field(buf, "Accept-Ranges", v, sizeof v), "bytes");
    ASSERT(field(buf, "ETag", v, sizeof v)[0] == '"');
    ASSERT(strstr(field(buf, "Last-Modified", v, sizeof v), " GMT"));
}
TEST(files_get_sends_the_file_with_its_type_length_and_validators) { with_server(get_file); }

static void head_file(fixture *fx) {
    char buf[4096], v[64];
    const char *body;
    ASSERT_EQ(ask(fx, "HEAD", "/hello.txt", NULL, buf, sizeof buf, &body), 200);
    ASSERT_STR(body, "");
    ASSERT_STR(field(buf, "Content-Length", v, sizeof v), "13");
}
TEST(files_head_sends_the_head_alone) { with_server(head_file); }

static void post_file(fixture *fx) {
    char buf[4096], v[64];
    const char *body;
    ASSERT_EQ(ask(fx, "POST", "/hello.txt", "Content-Length: 0\r\n", buf, sizeof buf, &body), 405);
    ASSERT_STR(field(buf, "Allow", v, sizeof v), "GET, HEAD");
}
TEST(files_other_methods_are_405_with_allow) { with_server(post_file); }

static void types(fixture *fx) {
    char buf[4096], v[64];
    const char *body;
    ASSERT_EQ(ask(fx, "GET", "/sub/index.html", NULL, buf, sizeof buf, &body), 200);
    ASSERT_STR(field(buf, "Content-Type", v, sizeof v), "text/html; charset=utf-8");
    ASSERT_EQ(ask(fx, "GET", "/list/a&b.txt", NULL, buf, sizeof buf, &body), 200);
    ASSERT_STR(body, "ab\n");
}
TEST(files_content_type_follows_the_extension) { with_server(types); }

/* --------------------------------------------------------- validators */

static void conditional(fixture *fx) {
    char buf[4096], etag[64], lm[64], h[256];
    const char *body;
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", NULL, buf, sizeof buf, &body), 200);
    field(buf, "ETag", etag, sizeof etag);
    field(buf, "Last-Modified", lm, sizeof lm);
    snprintf(h, sizeof h, "If-None-Match: \"other\", W/%s\r\n", etag);
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", h, buf, sizeof buf, &body), 304);
    ASSERT_STR(body, "");
    ASSERT(!strcasestr(buf, "Content-Length"));
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", "If-None-Match: \"other\"\r\n", buf, sizeof buf, &body), 200);
    snprintf(h, sizeof h, "If-Modified-Since: %s\r\n", lm);
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", h, buf, sizeof buf, &body), 304);
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n",
                  buf, sizeof buf, &body), 200);
    /* If-None-Match wins over If-Modified-Since. */
    snprintf(h, sizeof h, "If-None-Match: \"other\"\r\nIf-Modified-Since: %s\r\n", lm);
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", h, buf, sizeof buf, &body), 200);
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", "If-Modified-Since: garbage\r\n", buf, sizeof buf, &body), 200);
}
TEST(files_validators_answer_304_and_only_when_they_match) { with_server(conditional); }

/* ------------------------------------------------------------- ranges */

static void ranges(fixture *fx) {
    char buf[4096], v[64], h[256];
    const char *body;
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", "Range: bytes=0-4\r\n", buf, sizeof buf, &body), 206);
    ASSERT_STR(body, "hello");
    ASSERT_STR(field(buf, "Content-Range", v, sizeof v), "bytes 0-4/13");
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", "Range: bytes=7-\r\n", buf, sizeof buf, &body), 206);
    ASSERT_STR(body, "world\n");
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", "Range: bytes=-6\r\n", buf, sizeof buf, &body), 206);
    ASSERT_STR(body, "world\n");
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", "Range: bytes=7-100\r\n", buf, sizeof buf, &body), 206);
    ASSERT_STR(field(buf, "Content-Range", v, sizeof v), "bytes 7-12/13");
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", "Range: bytes=-100\r\n", buf, sizeof buf, &body), 206);
    ASSERT_STR(body, "hello, world\n");
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", "Range: bytes=13-\r\n", buf, sizeof buf, &body), 416);
    ASSERT_STR(field(buf, "Content-Range", v, sizeof v), "bytes */13");
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", "Range: bytes=-0\r\n", buf, sizeof buf, &body), 416);
    /* Ignored: several ranges, malformed ones, other units. */
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", "Range: bytes=0-1,3-4\r\n", buf, sizeof buf, &body), 200);
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", "Range: bytes=5-2\r\n", buf, sizeof buf, &body), 200);
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", "Range: bytes=x-\r\n", buf, sizeof buf, &body), 200);
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", "Range: lines=0-1\r\n", buf, sizeof buf, &body), 200);
    ASSERT_STR(body, "hello, world\n");
    /* If-Range: the range only for the version named. */
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", "Range: bytes=0-4\r\nIf-Range: \"old\"\r\n", buf,
                  sizeof buf, &body), 200);
    field(buf, "ETag", v, sizeof v);
    snprintf(h, sizeof h, "Range: bytes=0-4\r\nIf-Range: %s\r\n", v);
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", h, buf, sizeof buf, &body), 206);
}
TEST(files_single_ranges_are_206_and_past_the_end_416) { with_server(ranges); }

/* A GiB of holes: a range at its end costs what the range does. */
static void sparse(fixture *fx) {
    char buf[4096], v[64];
    const char *body;
    int fd = open(at("root/big"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT(fd >= 0);
    ASSERT_EQ(ftruncate(fd, 1LL << 30), 0);
    ASSERT_EQ(pwrite(fd, "tail", 4, (1LL << 30) - 4), 4);
    close(fd);
    ASSERT_EQ(ask(fx, "GET", "/big", "Range: bytes=-6\r\n", buf, sizeof buf, &body), 206);
    ASSERT_EQ(memcmp(body, "\0\0tail", 6), 0);
    ASSERT_STR(field(buf, "Content-Range", v, sizeof v), "bytes 1073741818-1073741823/1073741824");
    ASSERT_EQ(ask(fx, "HEAD", "/big", NULL, buf, sizeof buf, &body), 200);
    ASSERT_STR(field(buf, "Content-Length", v, sizeof v), "1073741824");
}
TEST(files_a_sparse_gib_file_is_served_by_range) { with_server(sparse); }

/* ------------------------------------------------------- directories */

static void dirs(fixture *fx) {
    char buf[8192], v[128];
    const char *body;
    ASSERT_EQ(ask(fx, "GET", "/sub/", NULL, buf, sizeof buf, &body), 200);
    ASSERT_STR(body, "<p>sub</p>\n");
    ASSERT_EQ(ask(fx, "GET", "/sub?x=1", NULL, buf, sizeof buf, &body), 301);
    ASSERT_STR(field(buf, "Location", v, sizeof v), "/sub/?x=1");
    ASSERT_EQ(ask(fx, "GET", "/list/", NULL, buf, sizeof buf, &body), 200);
    ASSERT_STR(field(buf, "Content-Type", v, sizeof v), "text/html; charset=utf-8");
    ASSERT(strstr(body, "<a href=\"a%26b.txt\">a&amp;b.txt</a>"));
    ASSERT(strstr(body, "<a href=\"x%20y/\">x y/</a>"));
    ASSERT(strstr(body, "a%26b") < strstr(body, "x%20y"));
    ASSERT_EQ(ask(fx, "GET", "/hello.txt/", NULL, buf, sizeof buf, &body), 404);
}
TEST(files_directories_get_index_listing_or_redirect) { with_server(dirs); }

static void no_listing(fixture *fx) {
    char buf[4096];
    const char *body;
    ASSERT_EQ(ask(fx, "GET", "/static/list/", NULL, buf, sizeof buf, &body), 403);
    ASSERT_EQ(ask(fx, "GET", "/static/hello.txt", NULL, buf, sizeof buf, &body), 200);
    ASSERT_STR(body, "hello, world\n");
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", NULL, buf, sizeof buf, &body), 404);
    ASSERT_EQ(ask(fx, "GET", "/statichello.txt", NULL, buf, sizeof buf, &body), 404);
    ASSERT_EQ(ask(fx, "GET", "/static", NULL, buf, sizeof buf, &body), 301);
}
TEST(files_mounted_under_a_prefix_without_listing) {
    with_opts(no_listing, (weft_httpd_files_opts){ .prefix = "/static/" }, 0);
}

/* ---------------------------------------------------- ways out of root */

/* Every way out we know of: 400, 403 or 404, and never the secret. */
static void refuse_all(fixture *fx) {
    static const char *const tries[] = {
        "/../secret", "/%2e%2e/secret", "/%2E%2e/secret", "/..%2fsecret", "/sub/..%2f..%2fsecret",
        "/%2f../secret", "/sub/%2e%2e/%2e%2e/secret", "/.%2e/secret", "/%2e./secret",
        "/hello.txt%00.html", "/%00", "//etc/passwd", "/..\\secret", "/%5c..%5csecret",
        "/%c0%ae%c0%ae/secret", "/%252e%252e/secret", "/up", "/out/passwd", "/out/",
        "/loop", "/loop/x", "/fifo", "/sub/../../secret", "/./../secret",
        "http://t/../secret", "/etc/passwd", "/%2fetc%2fpasswd",
    };
    char buf[8192];
    const char *body;
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        int st = ask(fx, "GET", tries[i], NULL, buf, sizeof buf, &body);
        if (st != 404 && st != 403 && st != 400) {
            fprintf(stderr, "%s: %d\n", tries[i], st);
            ASSERT(0);
        }
        ASSERT(!strstr(body, "SECRET") && !strstr(body, "root:"));
    }
}

static void traversal(fixture *fx) {
    refuse_all(fx);
    char buf[4096];
    const char *body;
    /* A link that stays inside is followed. */
    ASSERT_EQ(ask(fx, "GET", "/inside", NULL, buf, sizeof buf, &body), 200);
    ASSERT_STR(body, "hello, world\n");
    ASSERT_EQ(ask(fx, "GET", "/sub/./index.html", NULL, buf, sizeof buf, &body), 200);
}
TEST(files_no_path_leads_out_of_the_root) { with_server(traversal); }

/* A kernel before 5.6: openat2 is ENOSYS, and the path is walked. */
static int no_openat2(int dir, const char *path, void *how, size_t size) {
    (void)dir, (void)path, (void)how, (void)size;
    errno = ENOSYS;
    return -1;
}

static void walked(fixture *fx) {
    refuse_all(fx);
    char buf[4096];
    const char *body;
    ASSERT_EQ(ask(fx, "GET", "/inside", NULL, buf, sizeof buf, &body), 403);  /* every link */
    ASSERT_EQ(ask(fx, "GET", "/sub/index.html", NULL, buf, sizeof buf, &body), 200);
    ASSERT_STR(body, "<p>sub</p>\n");
    ASSERT_EQ(ask(fx, "GET", "/sub/", NULL, buf, sizeof buf, &body), 200);
    ASSERT_EQ(ask(fx, "GET", "/list/", NULL, buf, sizeof buf, &body), 200);
    ASSERT_EQ(ask(fx, "GET", "/sub/none", NULL, buf, sizeof buf, &body), 404);
}
TEST(files_without_openat2_walk_the_path_and_refuse_every_symlink) {
    weft__sys.openat2 = no_openat2;
    with_server(walked);
    weft__sys = weft__sys_default;
}

static int bad_roots(void *arg) {
    (void)arg;
    weft_httpd_files *f;
    ASSERT_ERR(weft_httpd_files_new(&f, at("none"), NULL), -ENOENT);
    ASSERT_ERR(weft_httpd_files_new(&f, at("secret"), NULL), -ENOTDIR);
    ASSERT_ERR(weft_httpd_files_new(&f, NULL, NULL), WEFT_EINVAL);
    weft_httpd_files_opts o = { .prefix = "static" };
    ASSERT_ERR(weft_httpd_files_new(&f, root, &o), WEFT_EINVAL);
    return 0;
}
TEST(files_new_refuses_a_missing_root_and_a_relative_prefix) {
    make_tree();
    ASSERT_EQ(wt_run_real(bad_roots, NULL), 0);
    remove_tree();
}

/* ------------------------------------------------------------ workers */

/* One file server shared by two loops (it is read-only while serving):
 * concurrent clients get files, ranges and listings from both. */
static void *client_main(void *arg) {
    fixture *fx = arg;
    char buf[4096];
    const char *body;
    ASSERT_EQ(ask(fx, "GET", "/hello.txt", "Range: bytes=7-\r\n", buf, sizeof buf, &body), 206);
    ASSERT_STR(body, "world\n");
    ASSERT_EQ(ask(fx, "GET", "/list/", NULL, buf, sizeof buf, &body), 200);
    ASSERT(strstr(body, "a%26b.txt"));
    return NULL;
}

static void many_clients(fixture *fx) {
    enum { N = 40 };
    weft_task *ts[N];
    for (int i = 0; i < N; i++) ASSERT(ts[i] = weft_spawn(client_main, fx));
    ASSERT_ERR(weft_gather(ts, N, NULL), 0);
}
TEST(files_one_server_shared_by_two_workers) {
    with_opts(many_clients, (weft_httpd_files_opts){ .listing = 1 }, 2);
}

/* ------------------------------------------------ weft_httpd_res_sendfile */

/* A handler sending 100 bytes of a 13-byte file (it shrank under it): the
 * head promised 100, so the connection closes after the 13, and the
 * handler hears WEFT_EOF. Bad arguments are WEFT_EINVAL, nothing sent. */
typedef struct shrunk { int fd, bad, err; } shrunk;  /* bad: calls refused */
static int shrunk_handler(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)req;
    shrunk *s = arg;
    s->bad = (weft_httpd_res_sendfile(res, 200, -1, 0, 1) == WEFT_EINVAL) +
             (weft_httpd_res_sendfile(res, 200, s->fd, -1, 1) == WEFT_EINVAL) +
             (weft_httpd_res_sendfile(res, 99, s->fd, 0, 1) == WEFT_EINVAL);
    s->err = weft_httpd_res_sendfile(res, 200, s->fd, 0, 100);
    return s->err;
}

static int shrinking(void *arg) {
    (void)arg;
    shrunk s = { .fd = open(at("root/hello.txt"), O_RDONLY | O_CLOEXEC) };
    ASSERT(s.fd >= 0);
    fixture fx = { 0 };
    ASSERT_ERR(weft_httpd_new(&fx.srv, NULL, shrunk_handler, &s), 0);
    ASSERT_ERR(weft_httpd_listen(fx.srv, "127.0.0.1", "0"), 0);
    fx.port = weft_httpd_port(fx.srv);
    ASSERT(fx.serve = weft_spawn(serve_main, fx.srv));
    char buf[4096], v[64];
    const char *body;
    ASSERT_EQ(ask(&fx, "GET", "/", NULL, buf, sizeof buf, &body), 200);
    ASSERT_STR(field(buf, "Content-Length", v, sizeof v), "100");
    ASSERT_STR(body, "hello, world\n");   /* then the close */
    ASSERT_EQ(s.bad, 3);
    ASSERT_ERR(s.err, WEFT_EOF);
    weft_httpd_shutdown(fx.srv);
    void *res;
    ASSERT_ERR(weft_join(fx.serve, &res), 0);
    weft_httpd_free(fx.srv);
    ASSERT(close(s.fd) == 0);
    return 0;
}
TEST(res_sendfile_of_a_file_that_shrank_closes_after_what_there_was) {
    make_tree();
    ASSERT_EQ(wt_run_real(shrinking, NULL), 0);
    remove_tree();
}
