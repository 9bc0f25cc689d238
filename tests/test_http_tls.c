/* The HTTP client over TLS against a real peer: Debian's nginx, started
 * here with a configuration written to a temporary directory, one server
 * block per certificate that tests/wt_certs.h makes (good, expired, wrong
 * host, self-signed, unknown CA). Each case starts its own nginx and stops
 * it. Skipped when /usr/sbin/nginx is missing. */
#include "test.h"
#include "wt_certs.h"

#include <weft/http.h>
#include <weft/io.h>
#include <weft/net.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static const char *const kinds[] = { "good", "expired", "wronghost", "self", "unknownca" };
enum { NKINDS = 5 };

typedef struct nginx {
    wt_certs certs;
    char dir[64];
    int port[NKINDS];
    pid_t pid;
} nginx;

/* A port free now (bound, read, closed: another process could take it
 * before nginx does, which on a test machine does not happen in practice). */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ASSERT(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    socklen_t len = sizeof a;
    ASSERT(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static bool port_open(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    ASSERT(f);
    fputs(text, f);
    fclose(f);
}

static void nginx_start(nginx *n) {
    if (access("/usr/sbin/nginx", X_OK)) wt_skip("no /usr/sbin/nginx");
    wt_certs_make(&n->certs);
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
    for (int i = 0; i < NKINDS; i++) {
        n->port[i] = free_port();
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
    ASSERT(posix_spawn(&n->pid, "/usr/sbin/nginx", NULL, NULL, argv, environ) == 0);
    for (int tries = 0; tries < 500; tries++) {
        bool all = true;
        for (int i = 0; i < NKINDS && all; i++) all = port_open(n->port[i]);
        if (all) return;
        nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
    }
    ASSERT(!"nginx did not start");
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
