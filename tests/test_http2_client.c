/* The HTTP/2 client against real peers: nghttp2's own server (nghttpd,
 * Debian's nghttp2-server) by prior knowledge over cleartext and by ALPN
 * over TLS, nginx with http2 over TLS, and a misbehaving server of the
 * test's own made with nghttp2's server session (a refused stream, a
 * GOAWAY below a request). Each case starts its server on a free port and
 * stops it; a case whose server is not installed is skipped. */
#include "test.h"
#include "wt_certs.h"
#include "wt_net.h"
#include <weft/http.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NGHTTPD "/usr/sbin/nghttpd"

/* ------------------------------------------------------------- the peers */

typedef struct peer {
    pid_t pid;
    int port;
    char dir[64];
    wt_certs certs;
} peer;

static peer P;
enum { BIG = 1 << 20 };

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ASSERT(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    ASSERT(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void write_file(const char *dir, const char *name, const void *data, size_t len) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ASSERT(f && fwrite(data, 1, len, f) == len && fclose(f) == 0);
}

static unsigned char big_byte(size_t i) { return (unsigned char)(i * 31 + i / 4096); }

/* BIG bytes of big_byte, made once. */
static const unsigned char *big_ref(void) {
    static unsigned char *b;
    if (!b) {
        b = malloc(BIG);
        for (size_t i = 0; i < BIG; i++) b[i] = big_byte(i);
    }
    return b;
}

/* The files both servers serve: hello.txt, and `big` (BIG bytes of a
 * pattern big_byte checks). */
static void make_docs(void) {
    strcpy(P.dir, "/tmp/weft-h2cli-XXXXXX");
    ASSERT(mkdtemp(P.dir));
    write_file(P.dir, "hello.txt", "hello over h2\n", 14);
    write_file(P.dir, "big", big_ref(), BIG);
    wt_certs_make(&P.certs);
}

/* A child that dies with the test (a case killed at its timeout would
 * leave its server running otherwise), its output dropped. */
static pid_t spawn(const char *prog, char **argv) {
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid) return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execv(prog, argv);
    _exit(127);
}

/* Starts argv (its port at argv[port_at], filled in, or written by
 * prepare) on a free port, and waits until it accepts; tries new ports if
 * it exits (one was taken). */
static void spawn_on_free_port(const char *prog, char **argv, int port_at, void (*prepare)(void)) {
    char port[16];
    for (int attempt = 0; attempt < 5; attempt++) {
        P.port = free_port();
        snprintf(port, sizeof port, "%d", P.port);
        if (port_at >= 0) argv[port_at] = port;
        if (prepare) prepare();
        P.pid = spawn(prog, argv);
        for (int i = 0; i < 500; i++) {
            if (wt_port_open(P.port)) return;
            int st;
            if (waitpid(P.pid, &st, WNOHANG) == P.pid) break;
            nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
        }
    }
    ASSERT(!"the server did not start");
}

/* nghttpd serving P.dir: over TLS with the test certificate, or h2c. */
static void nghttpd_start(bool tls, const char *extra) {
    if (access(NGHTTPD, X_OK)) wt_skip("no nghttpd (nghttp2-server)");
    make_docs();
    char key[128], cert[128];
    snprintf(key, sizeof key, "%s", wt_certs_path(&P.certs, "good.key"));
    snprintf(cert, sizeof cert, "%s", wt_certs_path(&P.certs, "good.pem"));
    char *argv[10] = { "nghttpd", "-d", P.dir, "--echo-upload" };
    int n = 4;
    if (extra) argv[n++] = (char *)extra;
    if (!tls) argv[n++] = "--no-tls";
    int port_at = n++;
    if (tls) argv[n++] = key, argv[n++] = cert;
    spawn_on_free_port(NGHTTPD, argv, port_at, NULL);
}

/* nginx 1.22 with http2 over TLS (or only HTTP/1.1) serving P.dir. */
static bool nginx_h1;
static void nginx_conf(void) {
    char conf[2048];
    snprintf(conf, sizeof conf,
             "daemon off; master_process off; worker_processes 1;\n"
             "pid %s/nginx.pid; error_log %s/error.log;\n"
             "events { worker_connections 256; }\n"
             "http { access_log off; client_body_temp_path %s;\n"
             "  server { listen 127.0.0.1:%d ssl%s; root %s;\n"
             "    ssl_certificate %s; ssl_certificate_key %s; } }\n",
             P.dir, P.dir, P.dir, P.port, nginx_h1 ? "" : " http2", P.dir, wt_certs_path(&P.certs, "good.pem"),
             wt_certs_path(&P.certs, "good.key"));
    write_file(P.dir, "nginx.conf", conf, strlen(conf));
}

static void nginx_start(void) {
    if (access("/usr/sbin/nginx", X_OK)) wt_skip("no /usr/sbin/nginx");
    make_docs();
    char path[128], prefix[80], errlog[96];
    snprintf(path, sizeof path, "%s/nginx.conf", P.dir);
    snprintf(prefix, sizeof prefix, "%s/", P.dir);
    snprintf(errlog, sizeof errlog, "%s/error.log", P.dir);
    char *argv[] = { "nginx", "-p", prefix, "-e", errlog, "-c", path, NULL };
    spawn_on_free_port("/usr/sbin/nginx", argv, -1, nginx_conf);
}

static void peer_stop(void) {
    kill(P.pid, SIGTERM);
    int st;
    ASSERT(waitpid(P.pid, &st, 0) == P.pid);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", P.dir);
    ASSERT(system(cmd) == 0);
    wt_certs_free(&P.certs);
}

/* ------------------------------------------------------------ the client */

static bool tls;
static int version = WEFT_HTTP_VERSION_2;

static size_t max_headers;

static weft_http_client *client(void) {
    weft_http_client_opts o = { .http_version = version, .max_headers = max_headers };
    if (tls) o.tls.ca_file = wt_certs_path(&P.certs, "ca.pem");
    weft_http_client *c;
    ASSERT_ERR(weft_http_client_new(&c, &o), 0);
    return c;
}

static char *url(const char *path) {
    static char buf[8][160];
    static int i;
    char *u = buf[i++ % 8];
    snprintf(u, sizeof buf[0], "%s://localhost:%d%s", tls ? "https" : "http", P.port, path);
    return u;
}

/* Sees the heads: the response's must say HTTP/2. */
static int h2_heads;
static void on_head(void *ud, int kind, const char *head, size_t len) {
    (void)ud;
    if (kind == WEFT_HTTP_HEAD_RECEIVED && len > 7 && !memcmp(head, "HTTP/2 ", 7)) h2_heads++;
}

static void get_hello(weft_http_client *c, int reused) {
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "GET", url("/hello.txt")), 0);
    weft_http_request_on_head(q, on_head, NULL);
    weft_http_response *r;
    int before = h2_heads;
    ASSERT_ERR(weft_http_send(c, q, 0, &r), 0);
    weft_http_request_free(q);
    ASSERT_EQ(weft_http_response_status(r), 200);
    ASSERT_EQ(h2_heads, before + 1);
    ASSERT_STR(weft_http_response_header(r, "Content-Length"), "14");
    const void *d;
    size_t n;
    ASSERT_ERR(weft_http_response_body(r, &d, &n), 0);
    ASSERT_EQ(n, 14);
    ASSERT(!memcmp(d, "hello over h2\n", 14));
    weft_http_timings t;
    weft_http_response_timings(r, &t);
    if (reused >= 0) ASSERT_EQ(t.reused, reused);
    weft_http_response_free(r);
}

enum { NGHTTPD_H2C, NGHTTPD_TLS, NGINX_TLS };

/* Runs fn against a server of that kind started for the case: h2c by prior
 * knowledge, or h2 over TLS chosen by ALPN. */
static void against(int kind, int (*fn)(void *), const char *extra) {
    tls = kind != NGHTTPD_H2C;
    version = tls ? WEFT_HTTP_VERSION_AUTO : WEFT_HTTP_VERSION_2;
    if (kind == NGINX_TLS) nginx_start();
    else nghttpd_start(tls, extra);
    ASSERT_EQ(wt_run_real(fn, NULL), 0);
    peer_stop();
}

static int two_gets(void *arg) {
    (void)arg;
    weft_http_client *c = client();
    get_hello(c, 0);
    get_hello(c, 1);   /* the same connection carries the next stream */
    weft_http_client_free(c);
    return 0;
}

TEST(h2c_by_prior_knowledge_to_nghttpd_reuses_its_connection) { against(NGHTTPD_H2C, two_gets, NULL); }

TEST(https_auto_speaks_h2_when_nghttpd_picks_it_by_alpn) { against(NGHTTPD_TLS, two_gets, NULL); }

TEST(https_auto_speaks_h2_to_nginx_with_http2_on) { against(NGINX_TLS, two_gets, NULL); }

/* Against nginx without http2: auto speaks HTTP/1.1; HTTP/2 only fails. */
static int h1_only(void *arg) {
    (void)arg;
    weft_http_client *c = client();
    weft_http_response *r;
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "GET", url("/hello.txt")), 0);
    weft_http_request_on_head(q, on_head, NULL);
    int err = weft_http_send(c, q, 0, &r);
    weft_http_request_free(q);
    if (version == WEFT_HTTP_VERSION_2) {
        /* nginx ends the handshake (no_application_protocol); a server
         * that completes it without h2 would make it WEFT_EHTTP. */
        ASSERT_ERR(err, WEFT_ETLS);
    } else {
        ASSERT_ERR(err, 0);
        ASSERT_EQ(weft_http_response_status(r), 200);
        ASSERT_EQ(h2_heads, 0);
        weft_http_response_free(r);
    }
    weft_http_client_free(c);
    return 0;
}

TEST(https_auto_speaks_http1_when_nginx_does_not_offer_h2) {
    nginx_h1 = true;
    against(NGINX_TLS, h1_only, NULL);
}

TEST(https_http2_only_fails_when_the_server_does_not_pick_h2) {
    nginx_h1 = true;
    tls = true;
    version = WEFT_HTTP_VERSION_2;
    nginx_start();
    ASSERT_EQ(wt_run_real(h1_only, NULL), 0);
    peer_stop();
}

/* nghttpd's heads have six fields: over a limit of three the stream is
 * reset, the request fails, and the connection serves the next. */
static int too_many_fields(void *arg) {
    (void)arg;
    weft_http_client *c = client();
    for (int i = 0; i < 2; i++) {
        weft_http_response *r = NULL;
        ASSERT_ERR(weft_http_get(c, url("/hello.txt"), &r), WEFT_ETOOBIG);
        ASSERT(!r);
    }
    weft_http_client_free(c);
    return 0;
}

TEST(a_response_head_over_max_headers_is_etoobig) {
    max_headers = 3;
    against(NGHTTPD_H2C, too_many_fields, NULL);
}

/* -------------------------------------------------- many streams at once */

enum { NTASKS = 16 };
static weft_http_client *shared;
static int fresh_conns;

static void *one_get(void *arg) {
    (void)arg;
    weft_http_response *r;
    ASSERT_ERR(weft_http_get(shared, url("/hello.txt"), &r), 0);
    ASSERT_EQ(weft_http_response_status(r), 200);
    weft_http_timings t;
    weft_http_response_timings(r, &t);
    fresh_conns += !t.reused;
    weft_http_response_free(r);
    return NULL;
}

static void *one_big(void *arg) {
    (void)arg;
    weft_http_response *r;
    ASSERT_ERR(weft_http_get(shared, url("/big"), &r), 0);
    const void *d;
    size_t n;
    ASSERT_ERR(weft_http_response_body(r, &d, &n), 0);
    ASSERT_EQ(n, BIG);
    ASSERT(!memcmp(d, big_ref(), BIG));
    weft_http_timings t;
    weft_http_response_timings(r, &t);
    fresh_conns += !t.reused;
    weft_http_response_free(r);
    return NULL;
}

static int many(void *arg) {
    (void)arg;
    shared = client();
    weft_task *t[NTASKS];
    for (int i = 0; i < NTASKS; i++) t[i] = weft_spawn(i % 8 ? one_get : one_big, NULL);
    for (int i = 0; i < NTASKS; i++) ASSERT_ERR(weft_join(t[i], NULL), 0);
    ASSERT_EQ(fresh_conns, 1);   /* the first opened it, the others waited for it */
    weft_http_client_free(shared);
    return 0;
}

TEST(concurrent_requests_share_one_h2c_connection_with_big_bodies_interleaved) { against(NGHTTPD_H2C, many, NULL); }

TEST(concurrent_requests_share_one_h2_connection_to_nginx) { against(NGINX_TLS, many, NULL); }

/* ------------------------------------------------- bodies, flow control */

/* A body_fn upload of BIG bytes in odd pieces. */
static size_t up_pos;
static ssize_t up_fn(void *ud, void *buf, size_t len) {
    (void)ud;
    size_t n = BIG - up_pos < len ? BIG - up_pos : len;
    if (n > 7777) n = 7777;
    for (size_t i = 0; i < n; i++) ((unsigned char *)buf)[i] = big_byte(up_pos + i);
    up_pos += n;
    return (ssize_t)n;
}

static void echo_is_big(weft_http_client *c, weft_http_request *q) {
    weft_http_response *r;
    ASSERT_ERR(weft_http_send(c, q, WEFT_HTTP_STREAM, &r), 0);
    ASSERT_EQ(weft_http_response_status(r), 200);
    /* Read slowly in small pieces: the window holds the server back. */
    unsigned char buf[3000];
    size_t got = 0;
    for (ssize_t n; (n = weft_http_response_read(r, buf, sizeof buf)) > 0; got += (size_t)n)
        ASSERT(!memcmp(buf, big_ref() + got, (size_t)n));
    ASSERT_EQ(got, BIG);
    weft_http_response_free(r);
}

static int uploads(void *arg) {
    (void)arg;
    weft_http_client *c = client();
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "POST", url("/")), 0);
    ASSERT_ERR(weft_http_request_set_body(q, big_ref(), BIG, "application/octet-stream"), 0);
    echo_is_big(c, q);
    up_pos = 0;
    ASSERT_ERR(weft_http_request_set_body_fn(q, up_fn, NULL, -1, NULL), 0);
    echo_is_big(c, q);
    up_pos = 0;
    ASSERT_ERR(weft_http_request_set_body_fn(q, up_fn, NULL, BIG, NULL), 0);
    echo_is_big(c, q);
    weft_http_request_free(q);
    weft_http_client_free(c);
    return 0;
}

/* nginx answers a POST to a file 405, reading or resetting the body as it
 * likes: either way the upload ends and the answer comes, no wait. */
static int upload_to_nginx(void *arg) {
    (void)arg;
    weft_http_client *c = client();
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "POST", url("/hello.txt")), 0);
    up_pos = 0;
    ASSERT_ERR(weft_http_request_set_body_fn(q, up_fn, NULL, BIG, NULL), 0);
    weft_http_response *r;
    ASSERT_ERR(weft_http_send(c, q, 0, &r), 0);
    ASSERT_EQ(weft_http_response_status(r), 405);
    weft_http_response_free(r);
    weft_http_request_free(q);
    get_hello(c, 1);
    weft_http_client_free(c);
    return 0;
}

TEST(a_body_fn_upload_to_nginx_ends_and_its_answer_comes) { against(NGINX_TLS, upload_to_nginx, NULL); }

/* nghttpd's windows of 2^14 bytes: many WINDOW_UPDATEs each way. */
TEST(uploads_and_downloads_of_a_mebibyte_go_through_small_windows) { against(NGHTTPD_H2C, uploads, "--window-bits=14"); }

/* --------------------------------------------------------- cancellation */

static bool reading;   /* the slow reader has its first bytes */

static void *slow_reader(void *arg) {
    (void)arg;
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "GET", url("/big")), 0);
    weft_http_response *r;
    ASSERT_ERR(weft_http_send(shared, q, WEFT_HTTP_STREAM, &r), 0);
    weft_http_request_free(q);
    char buf[1000];
    ASSERT(weft_http_response_read(r, buf, sizeof buf) > 0);
    reading = true;
    ASSERT_ERR(weft_sleep(60 * WEFT_SECOND), WEFT_ECANCELED);   /* cancelled here */
    weft_http_response_free(r);                              /* resets the stream */
    return NULL;
}

static int cancel_one(void *arg) {
    (void)arg;
    shared = client();
    weft_task *t = weft_spawn(slow_reader, NULL);
    for (int i = 0; i < 500 && !reading; i++) ASSERT_ERR(weft_sleep(10 * WEFT_MILLISECOND), 0);
    weft_cancel(t);
    ASSERT_ERR(weft_join(t, NULL), 0);
    /* The connection carries on for the others. */
    fresh_conns = 0;
    one_get(NULL);
    ASSERT_EQ(fresh_conns, 0);
    one_big(NULL);
    weft_http_client_free(shared);
    return 0;
}

TEST(cancelling_one_request_resets_its_stream_and_keeps_the_connection) { against(NGHTTPD_H2C, cancel_one, NULL); }

/* ------------------------------------- a misbehaving server of our own */

/* On its first connection's first request it refuses the stream
 * (RST_STREAM REFUSED_STREAM: the connection goes on), goes away (GOAWAY,
 * last stream 0, and closes), holds it (no answer at all) or sends its
 * head and closes the connection (its body cut short); every other
 * request gets 200 "ok". It counts the requests, the connections and the
 * RST_STREAM(CANCEL)s it gets. Blocking sockets, a thread a connection. */
typedef struct bad {
    int lfd, mode, conns, requests, cancels;
} bad;
enum { REFUSE, GOAWAY, HOLD, CUT };

typedef struct bad_conn {
    bad *b;
    int fd;
    bool first, done;
} bad_conn;

static ssize_t ok_body(nghttp2_session *ss, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                       nghttp2_data_source *src, void *ud) {
    (void)ss, (void)id, (void)len, (void)src, (void)ud;
    memcpy(buf, "ok", 2);
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return 2;
}

static int bad_frame(nghttp2_session *ss, const nghttp2_frame *f, void *ud) {
    bad_conn *bc = ud;
    if (f->hd.type == NGHTTP2_RST_STREAM && f->rst_stream.error_code == NGHTTP2_CANCEL) __atomic_fetch_add(&bc->b->cancels, 1, __ATOMIC_SEQ_CST);
    if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM) || f->hd.stream_id == 0) return 0;
    __atomic_fetch_add(&bc->b->requests, 1, __ATOMIC_SEQ_CST);
    if (bc->first) {
        bc->first = false;
        bc->done = bc->b->mode == GOAWAY || bc->b->mode == CUT;
        if (bc->b->mode == HOLD) return 0;
        if (bc->b->mode == CUT) {   /* a head, then the connection ends */
            nghttp2_nv st[] = { { (uint8_t *)":status", (uint8_t *)"200", 7, 3, 0 } };
            return nghttp2_submit_headers(ss, 0, f->hd.stream_id, NULL, st, 1, NULL);
        }
        if (bc->b->mode == REFUSE)
            return nghttp2_submit_rst_stream(ss, 0, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
        return nghttp2_submit_goaway(ss, 0, 0, NGHTTP2_NO_ERROR, NULL, 0);
    }
    nghttp2_nv nv[] = { { (uint8_t *)":status", (uint8_t *)"200", 7, 3, 0 } };
    nghttp2_data_provider prd = { .read_callback = ok_body };
    return nghttp2_submit_response(ss, f->hd.stream_id, nv, 1, &prd);
}

static void bad_serve(bad_conn *bc) {
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, bad_frame);
    nghttp2_session *ss;
    ASSERT(nghttp2_session_server_new(&ss, cb, bc) == 0);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(ss, 0, NULL, 0);
    for (;;) {
        const uint8_t *d;
        ssize_t n;
        while ((n = nghttp2_session_mem_send(ss, &d)) > 0)
            if (write(bc->fd, d, (size_t)n) != n) break;
        if (bc->done || (!nghttp2_session_want_read(ss) && !nghttp2_session_want_write(ss))) break;
        uint8_t buf[4096];
        n = read(bc->fd, buf, sizeof buf);
        if (n <= 0 || nghttp2_session_mem_recv(ss, buf, (size_t)n) < 0) break;
    }
    nghttp2_session_del(ss);
    /* A graceful close, as servers make it: what the client still sends is
     * read, so that our close does not become a reset that destroys the
     * GOAWAY before the client reads it. */
    shutdown(bc->fd, SHUT_WR);
    char drop[4096];
    while (read(bc->fd, drop, sizeof drop) > 0) {}
    close(bc->fd);
}

static void *bad_conn_main(void *arg) {
    bad_serve(arg);
    free(arg);
    return NULL;
}

/* A thread a connection: one still open (its client has not closed it
 * yet) holds up no other. */
static void bad_main(bad *b) {
    for (;;) {
        int fd = accept(b->lfd, NULL, NULL);
        if (fd < 0) _exit(0);
        bad_conn *bc = malloc(sizeof *bc);
        *bc = (bad_conn){ b, fd, __atomic_fetch_add(&b->conns, 1, __ATOMIC_SEQ_CST) == 0, false };
        pthread_t th;
        pthread_create(&th, NULL, bad_conn_main, bc);
        pthread_detach(th);
    }
}

/* In a child process (its fds are not the test's to count), its tallies
 * in shared memory. */
static bad *B;
static pid_t bad_pid;
static void bad_start(int mode) {
    B = mmap(NULL, sizeof *B, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT(B != MAP_FAILED);
    B->mode = mode;
    B->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ASSERT(bind(B->lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(B->lfd, 16) == 0);
    ASSERT(getsockname(B->lfd, (struct sockaddr *)&a, &len) == 0);
    P.port = ntohs(a.sin_port);
    if ((bad_pid = fork()) == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        bad_main(B);
    }
    ASSERT(bad_pid > 0);
    close(B->lfd);
}

static void bad_stop(void) {
    kill(bad_pid, SIGKILL);
    int st;
    ASSERT(waitpid(bad_pid, &st, 0) == bad_pid);
}

/* Even a POST: the server said it did nothing with it. */
static int post_retried(void *arg) {
    (void)arg;
    weft_http_client *c = client();
    weft_http_response *r;
    ASSERT_ERR(weft_http_post(c, url("/"), "x", 1, NULL, &r), 0);
    ASSERT_EQ(weft_http_response_status(r), 200);
    const void *d;
    size_t n;
    ASSERT_ERR(weft_http_response_body(r, &d, &n), 0);
    ASSERT_EQ(n, 2);
    weft_http_response_free(r);
    weft_http_client_free(c);
    return 0;
}

/* The POST got its answer after two requests, on `conns` connections. */
static void misbehaved(int mode, int conns) {
    bad_start(mode);
    ASSERT_EQ(wt_run_real(post_retried, NULL), 0);
    bad_stop();
    ASSERT_EQ(B->requests, 2);
    ASSERT_EQ(B->conns, conns);
}

TEST(a_refused_stream_is_sent_again_on_the_same_connection) { misbehaved(REFUSE, 1); }
TEST(a_goaway_below_the_stream_sends_it_again_on_a_new_connection) { misbehaved(GOAWAY, 2); }

/* A request the server holds: cancelled while it waits for its head, or
 * timed out by the read timeout. Either way its stream alone is reset:
 * the next request goes on the same connection. */
static void *held_get(void *arg) {
    weft_http_response *r = NULL;
    int err = weft_http_get(arg, url("/held"), &r);
    ASSERT(!r);
    return (void *)(intptr_t)err;
}

static int held(void *arg) {
    bool cancel = arg != NULL;
    weft_http_client_opts o = { .http_version = WEFT_HTTP_VERSION_2,
                                .read_timeout = cancel ? 0 : 200 * WEFT_MILLISECOND };
    weft_http_client *c;
    ASSERT_ERR(weft_http_client_new(&c, &o), 0);
    weft_task *t = weft_spawn(held_get, c);
    if (cancel) {
        ASSERT_ERR(weft_sleep(100 * WEFT_MILLISECOND), 0);
        weft_cancel(t);
    }
    void *res;
    ASSERT_ERR(weft_join(t, &res), 0);
    ASSERT_ERR((int)(intptr_t)res, cancel ? WEFT_ECANCELED : WEFT_EREADTIMEOUT);
    weft_http_response *r;
    ASSERT_ERR(weft_http_get(c, url("/"), &r), 0);
    weft_http_timings tm;
    weft_http_response_timings(r, &tm);
    ASSERT_EQ(tm.reused, 1);
    weft_http_response_free(r);
    weft_http_client_free(c);
    return 0;
}

static void held_case(bool cancel) {
    bad_start(HOLD);
    ASSERT_EQ(wt_run_real(held, cancel ? "cancel" : NULL), 0);
    bad_stop();
    ASSERT_EQ(B->requests, 2);
    ASSERT_EQ(B->conns, 1);
    ASSERT_EQ(B->cancels, 1);
}

TEST(a_request_cancelled_before_its_head_resets_only_its_stream) { held_case(true); }
TEST(a_read_timeout_resets_only_its_stream) { held_case(false); }

/* The connection ends under a body: the read fails, and keeps failing. */
static int cut(void *arg) {
    (void)arg;
    weft_http_client *c = client();
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "GET", url("/")), 0);
    weft_http_response *r;
    ASSERT_ERR(weft_http_send(c, q, WEFT_HTTP_STREAM, &r), 0);
    weft_http_request_free(q);
    ASSERT_EQ(weft_http_response_status(r), 200);
    char buf[64];
    ASSERT_ERR(weft_http_response_read(r, buf, sizeof buf), WEFT_EOF);
    ASSERT_ERR(weft_http_response_read(r, buf, sizeof buf), WEFT_EOF);
    weft_http_response_free(r);
    /* The next request opens a new connection. */
    ASSERT_ERR(weft_http_get(c, url("/"), &r), 0);
    ASSERT_EQ(weft_http_response_status(r), 200);
    weft_http_response_free(r);
    weft_http_client_free(c);
    return 0;
}

TEST(a_connection_ended_under_a_body_fails_its_read_with_eof) {
    bad_start(CUT);
    ASSERT_EQ(wt_run_real(cut, NULL), 0);
    bad_stop();
    ASSERT_EQ(B->conns, 2);
}

/* ---------------------------------------------------- allocation failures */

/* A client made, two GETs (the second on the shared connection), freed. */
static long fail_at;
static int get_twice(void *arg) {
    (void)arg;
    wt_fail_at = fail_at;
    weft_http_client_opts o = { .http_version = WEFT_HTTP_VERSION_2 };
    weft_http_client *c = NULL;
    int err = weft_http_client_new(&c, &o);
    for (int i = 0; i < 2 && !err; i++) {
        weft_http_response *r;
        if ((err = weft_http_get(c, url("/hello.txt"), &r))) break;
        ASSERT_EQ(weft_http_response_status(r), 200);
        weft_http_response_free(r);
    }
    weft_http_client_free(c);
    return err;
}

/* Every allocation of the exchange fails in turn (nghttp2's go through the
 * loop's allocator too): each run ends in WEFT_ENOMEM or succeeds, leaving
 * nothing behind (wt_run checks allocations and fds). */
TEST(an_h2c_exchange_survives_every_allocation_failure) {
    nghttpd_start(false, NULL);
    long sites = 0;
    for (fail_at = 0;; fail_at++, sites++) {
        int err = wt_run_real(get_twice, NULL);
        bool hit = wt_fail_at == -1;
        wt_fail_at = -1;
        if (err && err != WEFT_ENOMEM) fprintf(stderr, "N=%ld: %s\n", fail_at, weft_err_name(err));
        ASSERT(err == 0 || err == WEFT_ENOMEM);
        if (!hit) break;
    }
    printf("%ld allocation sites\n", sites);
    ASSERT(sites > 10);
    peer_stop();
}

/* ------------------------------------------------------------- options */

static int bad_version(void *arg) {
    (void)arg;
    weft_http_client *c;
    weft_http_client_opts o = { .http_version = 3 };
    ASSERT_ERR(weft_http_client_new(&c, &o), WEFT_EINVAL);
    o.http_version = -1;
    ASSERT_ERR(weft_http_client_new(&c, &o), WEFT_EINVAL);
    return 0;
}

TEST(an_unknown_http_version_is_einval) { ASSERT_EQ(wt_run(bad_version, NULL), 0); }

