/* The HTTP client against a real server: Debian's python3-httpbin (werkzeug),
 * started by each case as a subprocess on a free port and killed at its
 * end. Skipped when /usr/bin/python3 lacks httpbin. werkzeug takes about
 * 2 s to start: these cases have a longer timeout (tests/CMakeLists.txt). */
#include "test.h"
#include "wt_net.h"

#include <weft/http.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static pid_t hb_pid;
static int hb_port;

static void httpbin_start(void) {
    if (access("/usr/bin/python3", X_OK) ||
        system("/usr/bin/python3 -c 'import httpbin.core' >/dev/null 2>&1") != 0)
        wt_skip("/usr/bin/python3 has no httpbin");
    /* Port 0, read back from werkzeug's "Running on" line (its stderr, in a
     * file): a port picked beforehand could be taken by a parallel test
     * while werkzeug starts, and the test would then talk to that. */
    char log[] = "/tmp/weft-httpbin-log-XXXXXX";
    int lfd = mkstemp(log);
    ASSERT(lfd >= 0);
    char *argv[] = { "python3", "-m", "httpbin.core", "--host", "127.0.0.1", "--port", "0", NULL };
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, lfd, 2);
    ASSERT(posix_spawn(&hb_pid, "/usr/bin/python3", &fa, NULL, argv, environ) == 0);
    posix_spawn_file_actions_destroy(&fa);
    close(lfd);
    hb_port = 0;
    for (int i = 0; i < 1500 && !hb_port; i++) {
        char text[4096] = "";
        FILE *f = fopen(log, "r");
        ASSERT(f);
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = 0;
        fclose(f);
        const char *at = strstr(text, "Running on http://127.0.0.1:");
        if (at) hb_port = atoi(at + strlen("Running on http://127.0.0.1:"));
        else nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
    }
    unlink(log);
    ASSERT(hb_port > 0);
    for (int i = 0; i < 500 && !wt_port_open(hb_port); i++)
        nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
    ASSERT(wt_port_open(hb_port));
}

static void httpbin_stop(void) {
    kill(hb_pid, SIGTERM);
    int st;
    ASSERT(waitpid(hb_pid, &st, 0) == hb_pid);
}

static void run(int (*fn)(void *)) {
    httpbin_start();
    int r = wt_run_real(fn, NULL);
    httpbin_stop();
    ASSERT_EQ(r, 0);
}

static weft_http_client *client(weft_http_client_opts *o) {
    weft_http_client_opts none = { 0 };
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/", hb_port);
    if (!o) o = &none;
    o->base_url = base;
    weft_http_client *c;
    ASSERT_ERR(weft_http_client_new(&c, o), 0);
    return c;
}

static json_t *get_json(weft_http_client *c, const char *path) {
    weft_http_response *r;
    ASSERT_ERR(weft_http_get(c, path, &r), 0);
    ASSERT_EQ(weft_http_response_status(r), 200);
    json_t *j;
    ASSERT_ERR(weft_http_response_json(r, &j), 0);
    weft_http_response_free(r);
    return j;
}

static const char *jstr(json_t *j, const char *a, const char *b) {
    json_t *v = json_object_get(j, a);
    if (b) v = json_object_get(v, b);
    ASSERT(json_is_string(v));
    return json_string_value(v);
}

static int get_echo(void *arg) {
    (void)arg;
    weft_http_client *c = client(NULL);
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "GET", "get"), 0);
    ASSERT_ERR(weft_http_request_add_query(q, "a", "1 2"), 0);
    ASSERT_ERR(weft_http_request_add_query(q, "b", "x&y=z/é"), 0);
    ASSERT_ERR(weft_http_request_add_header(q, "X-Test", "yes"), 0);
    weft_http_response *r;
    ASSERT_ERR(weft_http_send(c, q, 0, &r), 0);
    json_t *j;
    ASSERT_ERR(weft_http_response_json(r, &j), 0);
    ASSERT_STR(jstr(j, "args", "a"), "1 2");
    ASSERT_STR(jstr(j, "args", "b"), "x&y=z/é");
    ASSERT_STR(jstr(j, "headers", "X-Test"), "yes");
    ASSERT(!strncmp(jstr(j, "headers", "User-Agent"), "weft/", 5));
    ASSERT_STR(jstr(j, "headers", "Accept-Encoding"), "gzip, deflate");
    json_decref(j);
    weft_http_response_free(r);
    weft_http_request_free(q);
    j = get_json(c, "/headers");
    char host[32];
    snprintf(host, sizeof host, "127.0.0.1:%d", hb_port);
    ASSERT_STR(jstr(j, "headers", "Host"), host);
    json_decref(j);
    weft_http_client_free(c);
    return 0;
}
TEST(httpbin_get_echoes_the_query_and_headers_sent) { run(get_echo); }

static int delay(void *arg) {
    (void)arg;
    weft_http_client *c = client(NULL);
    json_decref(get_json(c, "/delay/1"));
    weft_http_client_free(c);
    weft_http_client_opts o = { .read_timeout = 300 * WEFT_MILLISECOND };
    c = client(&o);
    weft_http_response *r;
    ASSERT_ERR(weft_http_get(c, "/delay/1", &r), WEFT_EREADTIMEOUT);
    weft_http_client_free(c);
    return 0;
}
TEST(httpbin_delay_is_waited_for_within_the_read_timeout) { run(delay); }

static int redirects(void *arg) {
    (void)arg;
    weft_http_client_opts o = { .follow_redirects = 1 };
    weft_http_client *c = client(&o);
    weft_http_response *r;
    ASSERT_ERR(weft_http_get(c, "/redirect/3", &r), 0);
    ASSERT_EQ(weft_http_response_status(r), 200);
    const char *u = weft_http_response_url(r);
    ASSERT(!strcmp(u + strlen(u) - 4, "/get"));
    weft_http_response_free(r);
    weft_http_client_free(c);
    c = client(NULL);
    ASSERT_ERR(weft_http_get(c, "/redirect/3", &r), 0);
    ASSERT_EQ(weft_http_response_status(r), 302);
    weft_http_response_free(r);
    weft_http_client_free(c);
    return 0;
}
TEST(httpbin_redirects_are_followed_when_asked_only) { run(redirects); }

static int coded(void *arg) {
    (void)arg;
    weft_http_client *c = client(NULL);
    json_t *j = get_json(c, "/gzip");
    ASSERT(json_is_true(json_object_get(j, "gzipped")));
    json_decref(j);
    j = get_json(c, "/deflate");
    ASSERT(json_is_true(json_object_get(j, "deflated")));
    json_decref(j);
    weft_http_client_free(c);
    return 0;
}
TEST(httpbin_gzip_and_deflate_bodies_are_decoded) { run(coded); }

static int stream(void *arg) {
    (void)arg;
    weft_http_client *c = client(NULL);
    weft_http_request *q;
    ASSERT_ERR(weft_http_request_new(&q, "GET", "/stream/5"), 0);
    weft_http_response *r;
    ASSERT_ERR(weft_http_send(c, q, WEFT_HTTP_STREAM, &r), 0);
    ASSERT_STR(weft_http_response_header(r, "transfer-encoding"), "chunked");
    char buf[8192];
    size_t n = 0;
    ssize_t k;
    while ((k = weft_http_response_read(r, buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)k;
    ASSERT_ERR(k, 0);
    buf[n] = 0;
    int lines = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        json_t *j = json_loads(line, 0, NULL);
        ASSERT(j);
        ASSERT_EQ(json_integer_value(json_object_get(j, "id")), lines);
        json_decref(j);
    }
    ASSERT_EQ(lines, 5);
    weft_http_response_free(r);
    weft_http_request_free(q);
    weft_http_client_free(c);
    return 0;
}
TEST(httpbin_stream_is_read_chunked_piece_by_piece) { run(stream); }

static int status_bytes(void *arg) {
    (void)arg;
    weft_http_client *c = client(NULL);
    weft_http_response *r;
    ASSERT_ERR(weft_http_get(c, "/status/418", &r), 0);
    ASSERT_EQ(weft_http_response_status(r), 418);
    ASSERT_ERR(weft_http_raise_for_status(r), WEFT_EHTTPSTATUS);
    weft_http_response_free(r);
    ASSERT_ERR(weft_http_get(c, "/bytes/1000", &r), 0);
    const void *d;
    size_t n;
    ASSERT_ERR(weft_http_response_body(r, &d, &n), 0);
    ASSERT_EQ(n, 1000);
    ASSERT_ERR(weft_http_raise_for_status(r), 0);
    weft_http_response_free(r);
    weft_http_client_free(c);
    return 0;
}
TEST(httpbin_status_raises_and_bytes_come_whole) { run(status_bytes); }

static int posts(void *arg) {
    (void)arg;
    weft_http_client *c = client(NULL);
    json_t *sent = json_pack("{s:s, s:[i, i]}", "name", "weft", "list", 1, 2);
    weft_http_response *r;
    ASSERT_ERR(weft_http_post_json(c, "/post", sent, &r), 0);
    json_t *j;
    ASSERT_ERR(weft_http_response_json(r, &j), 0);
    ASSERT(json_equal(json_object_get(j, "json"), sent));
    ASSERT_STR(jstr(j, "headers", "Content-Type"), "application/json");
    json_decref(j);
    json_decref(sent);
    weft_http_response_free(r);
    const char *form = "a=1&b=two+words";
    ASSERT_ERR(weft_http_post(c, "/post", form, strlen(form), "application/x-www-form-urlencoded", &r), 0);
    ASSERT_ERR(weft_http_response_json(r, &j), 0);
    ASSERT_STR(jstr(j, "form", "a"), "1");
    ASSERT_STR(jstr(j, "form", "b"), "two words");
    json_decref(j);
    weft_http_response_free(r);
    weft_http_client_free(c);
    return 0;
}
TEST(httpbin_post_echoes_json_and_form_bodies) { run(posts); }
