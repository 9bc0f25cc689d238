/* Debug mode's leak reports and the HTTP layer's wait contexts
 * (weft/debug.h): each kind of thing left open (a watched fd, a stream, an
 * HTTP client, an HTTP server) is reported when the loop closes, with the
 * stack that opened it; a program that closes everything hears nothing;
 * the task dump and the trace say in HTTP's words what a client and a
 * server connection wait for.
 *
 * The planting functions are not static and the program is linked with
 * -rdynamic (ENABLE_EXPORTS), so dladdr names them in the reports. */
#include "test.h"

#include <weft/debug.h>
#include <weft/http.h>
#include <weft/httpd.h>
#include <weft/io.h>
#include <weft/net.h>
#include <weft/stream.h>

#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------- collected reports */

static char rep_text[1 << 16];
static int rep_count[8];

static void collect(void *ud, int kind, const char *msg) {
    (void)ud;
    if (kind >= 0 && kind < 8) rep_count[kind]++;
    size_t n = strlen(rep_text);
    snprintf(rep_text + n, sizeof rep_text - n, "[%d] %s\n", kind, msg);
}

/* Runs fn in debug mode on the real clock with the counting allocator,
 * reports collected. Checks nothing of the loop's is left (the planted
 * object is the caller's to free afterwards). */
static void run_debug(int (*fn)(void *), void *arg) {
    weft_debug_set_report(collect, NULL);
    weft_loop_opts o = { .flags = WEFT_LOOP_DEBUG, .realloc = wt_realloc };
    ASSERT_EQ(weft_run_opts(&o, fn, arg), 0);
    weft_debug_set_report(NULL, NULL);
}

/* -------------------------------------------------------------- planting */

int wt_plant_fd(int *sv);
int wt_plant_stream(int *sv, weft_stream **s);
int wt_plant_client(weft_http_client **c);
int wt_plant_server(weft_httpd **s);

/* Waits once on one end of a socket pair, so the loop watches it, and
 * does not weft_close it. */
__attribute__((noinline)) int wt_plant_fd(int *sv) {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    ASSERT_EQ(weft_wait_readable(sv[0], weft_deadline_after(WEFT_MILLISECOND)), WEFT_ETIMEDOUT);
    return 0;
}

__attribute__((noinline)) int wt_plant_stream(int *sv, weft_stream **s) {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    ASSERT_EQ(weft_stream_new_fd(s, sv[0], NULL), 0);
    return 0;
}

/* (The ASSERT keeps the call from being a tail call, which would take
 * this frame off the stack.) */
__attribute__((noinline)) int wt_plant_client(weft_http_client **c) {
    ASSERT_EQ(weft_http_client_new(c, NULL), 0);
    return 0;
}

static int ok_handler(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)req, (void)arg;
    return weft_httpd_res_send(res, 200, "text/plain", "ok\n", 3);
}

__attribute__((noinline)) int wt_plant_server(weft_httpd **s) {
    ASSERT_EQ(weft_httpd_new(s, NULL, ok_handler, NULL), 0);
    return 0;
}

static int sv[2];
static weft_stream *leaked_stream;
static weft_http_client *leaked_client;
static weft_httpd *leaked_server;

static int leak_fd_main(void *arg) { (void)arg; return wt_plant_fd(sv); }
static int leak_stream_main(void *arg) { (void)arg; return wt_plant_stream(sv, &leaked_stream); }
static int leak_client_main(void *arg) { (void)arg; return wt_plant_client(&leaked_client); }
static int leak_server_main(void *arg) { (void)arg; return wt_plant_server(&leaked_server); }

/* The one report names the thing and the function that opened it. */
static void expect_one_leak(const char *what, const char *planter) {
    ASSERT_EQ(rep_count[WEFT_REPORT_LEAK], 1);
    if (!strstr(rep_text, what) || !strstr(rep_text, planter)) {
        fprintf(stderr, "report lacks '%s' or '%s':\n%s", what, planter, rep_text);
        abort();
    }
}

TEST(debug_reports_a_watched_fd_never_closed_with_its_site) {
    run_debug(leak_fd_main, NULL);
    char what[32];
    snprintf(what, sizeof what, "fd %d, watched", sv[0]);
    expect_one_leak(what, "wt_plant_fd");
    close(sv[0]);
    close(sv[1]);
}

TEST(debug_reports_a_stream_never_freed_with_its_site) {
    run_debug(leak_stream_main, NULL);
    expect_one_leak("stream 0x", "wt_plant_stream");
    /* A stream may be freed after its loop (weft/stream.h). */
    ASSERT_EQ(weft_stream_free(leaked_stream), 0);
    close(sv[1]);
}

TEST(debug_reports_an_http_client_never_freed_with_its_site) {
    run_debug(leak_client_main, NULL);
    expect_one_leak("HTTP client 0x", "wt_plant_client");
    weft_http_client_free(leaked_client);   /* needs no loop */
    ASSERT_EQ(wt_live_allocs, 0);
}

TEST(debug_reports_an_http_server_never_freed_with_its_site) {
    run_debug(leak_server_main, NULL);
    expect_one_leak("HTTP server 0x", "wt_plant_server");
    /* A server may be freed after its loop (weft/httpd.h). */
    weft_httpd_free(leaked_server);
    ASSERT_EQ(wt_live_allocs, 0);
}

TEST(debug_leak_report_is_silent_when_debug_mode_is_off) {
    weft_debug_set_report(collect, NULL);
    weft_loop_opts o = { .realloc = wt_realloc };
    unsetenv("WEFT_DEBUG");
    ASSERT_EQ(weft_run_opts(&o, leak_client_main, NULL), 0);
    weft_debug_set_report(NULL, NULL);
    ASSERT_EQ(rep_count[WEFT_REPORT_LEAK], 0);
    weft_http_client_free(leaked_client);
}

/* --------------------------------------------- a server and a client */

typedef struct site {
    weft_httpd *srv;
    int port;
    weft_event release;        /* the slow handler answers when set */
    int slow_started;
} site;

static int slow_handler(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    site *s = arg;
    if (!strcmp(weft_httpd_req_path(req), "/delay")) {
        s->slow_started = 1;
        int err = weft_event_wait(&s->release);
        if (err) return err;
    }
    return weft_httpd_res_send(res, 200, "text/plain", "ok\n", 3);
}

static void *serve_main(void *arg) { return weft_error(weft_httpd_serve(arg)); }

static void site_start(site *s, weft_task **server) {
    memset(s, 0, sizeof *s);
    s->release = (weft_event)WEFT_EVENT_INITIALIZER;
    ASSERT_EQ(weft_httpd_new(&s->srv, NULL, slow_handler, s), 0);
    ASSERT_EQ(weft_httpd_listen(s->srv, "127.0.0.1", "0"), 0);
    s->port = weft_httpd_port(s->srv);
    *server = weft_spawn(serve_main, s->srv);
    ASSERT(*server);
}

static void site_stop(site *s, weft_task *server) {
    weft_httpd_shutdown(s->srv);
    ASSERT_EQ(weft_join(server, NULL), 0);
    weft_httpd_free(s->srv);
}

typedef struct fetch { weft_http_client *c; int port; const char *path; int status; } fetch;

static void *fetch_main(void *arg) {
    fetch *f = arg;
    weft_http_response *r;
    int err = weft_http_getf(f->c, &r, "http://127.0.0.1:%d%s", f->port, f->path);
    if (err) return weft_error(err);
    f->status = weft_http_response_status(r);
    weft_http_response_free(r);
    return NULL;
}

/* A clean program: a server, a client, a request, everything closed. */
static int clean_main(void *arg) {
    (void)arg;
    site s;
    weft_task *server;
    site_start(&s, &server);
    fetch f = { NULL, s.port, "/", 0 };
    ASSERT_EQ(weft_http_client_new(&f.c, NULL), 0);
    ASSERT_EQ(weft_join(weft_spawn(fetch_main, &f), NULL), 0);
    ASSERT_EQ(f.status, 200);
    weft_http_client_free(f.c);
    site_stop(&s, server);
    return 0;
}

TEST(debug_reports_no_leak_for_a_program_that_closes_everything) {
    int fds = wt_count_fds();
    long live = wt_live_allocs;
    run_debug(clean_main, NULL);
    ASSERT_EQ(rep_count[WEFT_REPORT_LEAK], 0);
    ASSERT_EQ(wt_live_allocs, live);
    ASSERT_EQ(wt_count_fds(), fds);
}

/* A client waits on a slow /delay; an idle connection waits for a request;
 * the dump taken meanwhile says so in HTTP's words. */
static char dump_text[1 << 15];
static int dump_port;

static int waiting_main(void *arg) {
    (void)arg;
    site s;
    weft_task *server;
    site_start(&s, &server);
    dump_port = s.port;
    fetch f = { NULL, s.port, "/delay", 0 };
    ASSERT_EQ(weft_http_client_new(&f.c, NULL), 0);
    weft_spawn_opts so = { .name = "fetcher" };
    weft_task *t;
    ASSERT_EQ(weft_spawn_ex(&t, &so, fetch_main, &f), 0);
    char port[16];
    snprintf(port, sizeof port, "%d", s.port);
    int idle;
    ASSERT_EQ(weft_tcp_connect("127.0.0.1", port, &idle), 0);
    for (int i = 0; i < 200 && (!s.slow_started || weft_httpd_conns(s.srv) < 2); i++)
        weft_sleep(WEFT_MILLISECOND);
    ASSERT(s.slow_started);
    FILE *m = fmemopen(dump_text, sizeof dump_text - 1, "w");
    ASSERT(m);
    ASSERT_EQ(weft_dump_tasks(m), 0);
    fclose(m);
    weft_event_set(&s.release);
    ASSERT_EQ(weft_join(t, NULL), 0);
    ASSERT_EQ(f.status, 200);
    weft_close(idle);
    weft_http_client_free(f.c);
    site_stop(&s, server);
    return 0;
}

static void expect_in(const char *text, const char *want) {
    if (!strstr(text, want)) {
        fprintf(stderr, "no '%s' in:\n%s\n", want, text);
        abort();
    }
}

TEST(dump_names_the_http_response_a_client_waits_for_and_its_host) {
    ASSERT_EQ(wt_run_real(waiting_main, NULL), 0);
    char want[96];
    const char *line = strstr(dump_text, "'fetcher' waiting");
    ASSERT(line);
    snprintf(want, sizeof want, ": HTTP response from 127.0.0.1:%d (fd ", dump_port);
    expect_in(line, want);
    expect_in(dump_text, "'httpd-conn' waiting");
    expect_in(dump_text, ": HTTP request on connection from 127.0.0.1:");
}

/* The trace's wait spans carry the same words. */
TEST(trace_names_the_http_response_a_client_waited_for) {
    char path[] = "/tmp/weft-trace-http-XXXXXX";
    int fd = mkstemp(path);
    ASSERT(fd >= 0);
    close(fd);
    weft_loop_opts o = { .trace_path = path, .realloc = wt_realloc };
    ASSERT_EQ(weft_run_opts(&o, waiting_main, NULL), 0);
    FILE *f = fopen(path, "r");
    ASSERT(f);
    static char json[1 << 20];
    size_t n = fread(json, 1, sizeof json - 1, f);
    json[n] = 0;
    fclose(f);
    unlink(path);
    char want[96];
    snprintf(want, sizeof want, "\"detail\":\"HTTP response from 127.0.0.1:%d (fd ", dump_port);
    expect_in(json, want);
}

/* With one connection allowed, a second request waits for the pool. */
static int pool_main(void *arg) {
    (void)arg;
    site s;
    weft_task *server;
    site_start(&s, &server);
    dump_port = s.port;
    weft_http_client_opts co = { .max_connections = 1 };
    fetch f = { NULL, s.port, "/delay", 0 }, g = f;
    ASSERT_EQ(weft_http_client_new(&f.c, &co), 0);
    g.c = f.c;
    weft_spawn_opts so = { .name = "second" };
    weft_task *t1 = weft_spawn(fetch_main, &f), *t2;
    ASSERT_EQ(weft_spawn_ex(&t2, &so, fetch_main, &g), 0);
    for (int i = 0; i < 200 && !s.slow_started; i++) weft_sleep(WEFT_MILLISECOND);
    ASSERT(s.slow_started);
    FILE *m = fmemopen(dump_text, sizeof dump_text - 1, "w");
    ASSERT(m);
    ASSERT_EQ(weft_dump_tasks(m), 0);
    fclose(m);
    weft_event_set(&s.release);
    ASSERT_EQ(weft_join(t1, NULL), 0);
    ASSERT_EQ(weft_join(t2, NULL), 0);
    ASSERT_EQ(f.status, 200);
    ASSERT_EQ(g.status, 200);
    weft_http_client_free(f.c);
    site_stop(&s, server);
    return 0;
}

TEST(dump_names_the_pool_slot_a_client_waits_for) {
    ASSERT_EQ(wt_run_real(pool_main, NULL), 0);
    const char *line = strstr(dump_text, "'second' waiting");
    ASSERT(line);
    char want[96];
    snprintf(want, sizeof want, ": pool slot for http://127.0.0.1:%d (condition at ", dump_port);
    expect_in(line, want);
}

/* A listener that never answers the ClientHello: the client waits in the
 * TLS handshake. */
static void *https_fetch_main(void *arg) {
    fetch *f = arg;
    weft_http_response *r;
    int err = weft_http_getf(f->c, &r, "https://127.0.0.1:%d/", f->port);
    if (!err) weft_http_response_free(r);
    return weft_error(err);
}

static int tls_main(void *arg) {
    (void)arg;
    int lfd;
    ASSERT_EQ(weft_tcp_listen("127.0.0.1", "0", 0, &lfd), 0);
    fetch f = { NULL, weft_sock_port(lfd), "/", 0 };
    ASSERT_EQ(weft_http_client_new(&f.c, NULL), 0);
    weft_spawn_opts so = { .name = "https" };
    weft_task *t;
    ASSERT_EQ(weft_spawn_ex(&t, &so, https_fetch_main, &f), 0);
    weft_task_info ti[4];
    for (int i = 0; i < 500; i++) {   /* until it waits for the server's hello */
        weft_sleep(WEFT_MILLISECOND);
        int n = weft_tasks_info(ti, 4);
        int waiting = 0;
        for (int k = 0; k < n && k < 4; k++)
            waiting |= ti[k].id == weft_task_id(t) && ti[k].context[0];
        if (waiting) break;
    }
    FILE *m = fmemopen(dump_text, sizeof dump_text - 1, "w");
    ASSERT(m);
    ASSERT_EQ(weft_dump_tasks(m), 0);
    fclose(m);
    weft_cancel(t);
    ASSERT_EQ(weft_join(t, NULL), 0);
    weft_http_client_free(f.c);
    weft_close(lfd);
    return 0;
}

TEST(dump_names_the_tls_handshake_a_client_waits_in) {
    ASSERT_EQ(wt_run_real(tls_main, NULL), 0);
    const char *line = strstr(dump_text, "'https' waiting");
    ASSERT(line);
    expect_in(line, ": TLS handshake with 127.0.0.1 (fd ");
}
