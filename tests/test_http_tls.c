/* The HTTP client over TLS against a real peer: Debian's nginx, started
 * here with a configuration written to a temporary directory, one server
 * block per certificate that tests/wt_certs.h makes (good, expired, wrong
 * host, self-signed, unknown CA). Each case starts its own nginx and stops
 * it. Skipped when /usr/sbin/nginx is missing. */
#include "test.h"
#include "wt_net.h"
#include "wt_certs.h"
#include <weft/httpd.h>

#include <weft/http.h>
#include <weft/io.h>
#include <weft/net.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *const kinds[] = { "good", "expired", "wronghost", "self", "unknownca" };
enum { NKINDS = 5 };

typedef struct nginx {
    wt_certs certs;
    char dir[64];
    int port[NKINDS];
    pid_t pid;
} nginx;

/* A port free now: bound to port 0 and read back. The socket stays open
 * (in *fd) until every port is picked, so that one nginx never gets the same
 * port twice; another process could still take it before nginx binds, and
 * nginx_start then tries again with new ports. */
static int free_port(int *fd) {
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ASSERT(bind(*fd, (struct sockaddr *)&a, sizeof a) == 0);
    socklen_t len = sizeof a;
    ASSERT(getsockname(*fd, (struct sockaddr *)&a, &len) == 0);
    return ntohs(a.sin_port);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    ASSERT(f);
    fputs(text, f);
    fclose(f);
}

static bool nginx_try_start(nginx *n);

static void nginx_start(nginx *n) {
    if (access("/usr/sbin/nginx", X_OK)) wt_skip("no /usr/sbin/nginx");
    wt_certs_make(&n->certs);
    for (int attempt = 0; attempt < 3; attempt++)
        if (nginx_try_start(n)) return;
    ASSERT(!"nginx did not start");
}

/* Starts nginx on fresh ports; false if it exited (a port was taken). */
static bool nginx_try_start(nginx *n) {
    strcpy(n->dir, "/tmp/weft-nginx-XXXXXX");
    ASSERT(mkdtemp(n->dir));
    char path[256], conf[8192];
    snprintf(path, sizeof path, "%s/www", n->dir);
    ASSERT(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/www/hello.txt", n->dir);
    write_file(path, "hello over tls\n");
    const char *d = n->dir;
    int len = snprintf(conf, sizeof conf,
        "daemon off; master_process off; worker_processes 1;\n"
        "pid %s/nginx.pid; error_log %s/error.log;\n"
        "events { worker_connections 64; }\n"
        "http { access_log off;\n"
        "  client_body_temp_path %s/body; proxy_temp_path %s/proxy; fastcgi_temp_path %s/fcgi;\n"
        "  uwsgi_temp_path %s/uwsgi; scgi_temp_path %s/scgi;\n", d, d, d, d, d, d, d);
    int held[NKINDS];
    for (int i = 0; i < NKINDS; i++) {
        n->port[i] = free_port(&held[i]);
        len += snprintf(conf + len, sizeof conf - (size_t)len,
            "  server { listen 127.0.0.1:%d ssl; root %s/www;\n"
            "    ssl_certificate %s/%s.pem; ssl_certificate_key %s/%s.key; }\n",
            n->port[i], d, n->certs.dir, kinds[i], n->certs.dir, kinds[i]);
    }
    snprintf(conf + len, sizeof conf - (size_t)len, "}\n");
    snprintf(path, sizeof path, "%s/nginx.conf", n->dir);
    write_file(path, conf);
    char prefix[128], errlog[128];
    snprintf(prefix, sizeof prefix, "%s/", n->dir);
    snprintf(errlog, sizeof errlog, "%s/error.log", n->dir);
    char *argv[] = { "nginx", "-p", prefix, "-e", errlog, "-c", path, NULL };
    for (int i = 0; i < NKINDS; i++) close(held[i]);
    ASSERT(posix_spawn(&n->pid, "/usr/sbin/nginx", NULL, NULL, argv, environ) == 0);
    for (int tries = 0; tries < 500; tries++) {
        bool all = true;
        for (int i = 0; i < NKINDS && all; i++) all = wt_port_open(n->port[i]);
        if (all) return true;
        int st;
        if (waitpid(n->pid, &st, WNOHANG) == n->pid) {
            snprintf(path, sizeof path, "rm -rf %s", n->dir);
            ASSERT(system(path) == 0);
            return false;
        }
        nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
    }
    ASSERT(!"nginx did not start");
    return false;
}

static void nginx_stop(nginx *n) {
    kill(n->pid, SIGTERM);
    int st;
    ASSERT(waitpid(n->pid, &st, 0) == n->pid);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", n->dir);
    ASSERT(system(cmd) == 0);
    wt_certs_free(&n->certs);
}

static nginx ng;
static int which, want;
static unsigned flags;

static int fetch(void *arg) {
    (void)arg;
    weft_http_client_opts o = { .tls.ca_file = wt_certs_path(&ng.certs, "ca.pem"), .tls.flags = flags };
    weft_http_client *c;
    ASSERT_ERR(weft_http_client_new(&c, &o), 0);
    for (int i = 0; i < 2; i++) {
        weft_http_response *r = NULL;
        int err = weft_http_getf(c, &r, "https://127.0.0.1:%d/hello.txt", ng.port[which]);
        ASSERT_ERR(err, want);
        if (!err) {
            ASSERT_EQ(weft_http_response_status(r), 200);
            const void *d;
            size_t n;
            ASSERT_ERR(weft_http_response_body(r, &d, &n), 0);
            ASSERT_EQ(n, 15);
            ASSERT(!memcmp(d, "hello over tls\n", n));
            weft_http_timings t;
            weft_http_response_timings(r, &t);
            ASSERT_EQ(t.reused, i == 1);   /* the TLS connection is kept alive */
        }
        weft_http_response_free(r);
    }
    weft_http_client_free(c);
    return 0;
}

static void run(int kind, unsigned f, int expect) {
    nginx_start(&ng);
    which = kind;
    flags = f;
    want = expect;
    ASSERT_EQ(wt_run_real(fetch, NULL), 0);
    nginx_stop(&ng);
}

TEST(https_to_nginx_with_a_good_certificate_verifies_and_keeps_alive) { run(0, 0, 0); }
TEST(https_expired_certificate_is_ecertexpired) { run(1, 0, WEFT_ECERTEXPIRED); }
TEST(https_certificate_for_another_host_is_ecerthost) { run(2, 0, WEFT_ECERTHOST); }
TEST(https_self_signed_certificate_is_ecertselfsigned) { run(3, 0, WEFT_ECERTSELFSIGNED); }
TEST(https_certificate_from_an_unknown_ca_is_ecertuntrusted) { run(4, 0, WEFT_ECERTUNTRUSTED); }
TEST(https_insecure_skip_verify_connects_to_a_self_signed_server) {
    run(3, WEFT_TLS_INSECURE_SKIP_VERIFY, 0);
}

/* weft on both ends: weft_httpd serving TLS with the good certificate, the
 * client verifying it against the CA and keeping the connection alive. */
static int hello(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)req; (void)arg;
    return weft_httpd_res_send(res, 200, "text/plain", "hello over tls\n", 15);
}

static void *serve_task(void *srv) { return weft_error(weft_httpd_serve(srv)); }

/* A weft server with the good certificate running `handler`, and a
 * client that trusts the test CA. */
typedef struct tls_pair {
    weft_tls_ctx *tls;
    weft_httpd *srv;
    weft_task *server;
    weft_http_client *c;
} tls_pair;

static void pair_start(tls_pair *p, wt_certs *certs, weft_httpd_handler handler, void *arg) {
    weft_tls_opts so = { .flags = WEFT_TLS_SERVER, .alpn = "http/1.1",
                         .cert_file = wt_certs_path(certs, "good.pem"),
                         .key_file = wt_certs_path(certs, "good.key") };
    ASSERT_ERR(weft_tls_ctx_new(&p->tls, &so), 0);
    weft_httpd_opts ho = { .tls = p->tls };
    ASSERT_ERR(weft_httpd_new(&p->srv, &ho, handler, arg), 0);
    ASSERT_ERR(weft_httpd_listen(p->srv, "127.0.0.1", "0"), 0);
    p->server = weft_spawn(serve_task, p->srv);
    weft_http_client_opts co = { .tls.ca_file = wt_certs_path(certs, "ca.pem") };
    ASSERT_ERR(weft_http_client_new(&p->c, &co), 0);
}

static void pair_stop(tls_pair *p) {
    weft_http_client_free(p->c);
    weft_httpd_shutdown(p->srv);
    void *res;
    ASSERT_ERR(weft_join(p->server, &res), 0);
    ASSERT_ERR(weft_error_code(res), 0);
    weft_httpd_free(p->srv);
    weft_tls_ctx_free(p->tls);
}

/* GET / from the pair's server: a 200 response (the caller frees it) whose
 * body is in *d and *n. */
static weft_http_response *pair_get(tls_pair *p, const void **d, size_t *n) {
    weft_http_response *r;
    ASSERT_ERR(weft_http_getf(p->c, &r, "https://localhost:%d/", weft_httpd_port(p->srv)), 0);
    ASSERT_EQ(weft_http_response_status(r), 200);
    ASSERT_ERR(weft_http_response_body(r, d, n), 0);
    return r;
}

/* Runs fn(certs) on the real clock with fresh certificates. */
static void with_certs(int (*fn)(void *)) {
    wt_certs certs;
    wt_certs_make(&certs);
    ASSERT_EQ(wt_run_real(fn, &certs), 0);
    wt_certs_free(&certs);
}

static int weft_both_ends(void *arg) {
    tls_pair p;
    pair_start(&p, arg, hello, NULL);
    for (int i = 0; i < 2; i++) {
        const void *d;
        size_t n;
        weft_http_response *r = pair_get(&p, &d, &n);
        ASSERT(n == 15 && !memcmp(d, "hello over tls\n", n));
        weft_http_timings t;
        weft_http_response_timings(r, &t);
        ASSERT_EQ(t.reused, i == 1);
        weft_http_response_free(r);
    }
    /* Plain HTTP to a TLS server is not an answer. */
    weft_http_response *r = NULL;
    ASSERT(weft_http_getf(p.c, &r, "http://127.0.0.1:%d/", weft_httpd_port(p.srv)) < 0);
    pair_stop(&p);
    return 0;
}

TEST(https_between_weft_server_and_weft_client_verifies_and_keeps_alive) { with_certs(weft_both_ends); }

/* A file's bytes over TLS: the kernel cannot sendfile into OpenSSL, so
 * weft_httpd_res_sendfile reads the file in pieces and the TLS stream
 * encrypts them; several pieces, from an offset, all arrive in order. */
static int file_range(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)req;
    return weft_httpd_res_sendfile(res, 200, *(int *)arg, 1000, 300000);
}

static int sendfile_over_tls(void *arg) {
    char path[] = "/tmp/weft-tls-file-XXXXXX";
    int fd = mkostemp(path, O_CLOEXEC);
    ASSERT(fd >= 0);
    ASSERT(unlink(path) == 0);
    static unsigned char data[301000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 13 + i / 255);
    ASSERT_EQ(write(fd, data, sizeof data), (ssize_t)sizeof data);
    tls_pair p;
    pair_start(&p, arg, file_range, &fd);
    for (int i = 0; i < 2; i++) {  /* the second on the kept-alive connection */
        const void *d;
        size_t n;
        weft_http_response *r = pair_get(&p, &d, &n);
        ASSERT_EQ(n, 300000);
        ASSERT(!memcmp(d, data + 1000, n));
        weft_http_response_free(r);
    }
    pair_stop(&p);
    ASSERT(close(fd) == 0);
    return 0;
}

TEST(https_response_from_a_file_is_read_and_encrypted_in_pieces) { with_certs(sendfile_over_tls); }
