/* weft-httpbin embedded in-process (httpbin.h), as the examples embed it:
 * a server on a free loopback port served by a task of the test's loop,
 * raw HTTP/1.1 clients in other tasks. The comparison with python3-httpbin
 * itself is tests/t_httpbin_compare.sh; these pin down what that cannot
 * see: the embedding's lifecycle (nothing leaks, every fd closed), many
 * slow requests at once, a graceful shutdown in the middle of one.
 */
#include "httpbin.h"
#include "internal.h"
#include "test.h"

#include <weft/io.h>
#include <weft/net.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>

/* A server and the task serving it. */
typedef struct server {
    weft_httpd *srv;
    weft_task *task;
    int port;
} server;

static void *serve_task(void *srv)
{
    return weft_error(weft_httpd_serve(srv));
}

static void start(server *s)
{
    ASSERT_ERR(httpbin_new(&s->srv, "127.0.0.1", "0", NULL), 0);
    s->port = weft_httpd_port(s->srv);
    ASSERT(s->port > 0);
    s->task = weft_spawn(serve_task, s->srv);
    ASSERT(s->task);
}

/* Shuts the server down; serve must return 0 (a clean shutdown). */
static void stop(server *s)
{
    void *result;
    weft_httpd_shutdown(s->srv);
    ASSERT_ERR(weft_join(s->task, &result), 0);
    ASSERT_ERR(weft_error_code(result), 0);
    weft_httpd_free(s->srv);
}

/* Sends `request` on a new connection and reads the answer to the end
 * (requests say Connection: close) into buf. Returns its length. */
static size_t fetch(int port, const char *request, char *buf, size_t cap)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd;
    ASSERT_ERR(weft_connect_addr((struct sockaddr *)&sa, sizeof sa, WEFT_FOREVER, &fd), 0);
    ASSERT_EQ(weft_write(fd, request, strlen(request)), strlen(request));
    size_t len = 0;
    for (ssize_t n; (n = weft_read(fd, buf + len, cap - 1 - len)) > 0;) len += (size_t)n;
    buf[len] = 0;
    weft_close(fd);
    return len;
}

/* The status code of a raw response. */
static int status_of(const char *resp)
{
    return strncmp(resp, "HTTP/1.1 ", 9) ? -1 : atoi(resp + 9);
}

/* The JSON body of a raw response (a new reference). */
static json_t *json_of(const char *resp)
{
    const char *body = strstr(resp, "\r\n\r\n");
    ASSERT(body);
    json_t *j = json_loads(body + 4, 0, NULL);
    ASSERT(j);
    return j;
}

static int get_reflects_request(void *arg)
{
    (void)arg;
    server s;
    start(&s);
    static char buf[16384];
    fetch(s.port, "GET /get?a=1&a=2&b=%C3%A9 HTTP/1.1\r\nHost: example.test\r\n"
                  "X-Thing: t\r\nConnection: close\r\n\r\n", buf, sizeof buf);
    ASSERT_EQ(status_of(buf), 200);
    ASSERT(strstr(buf, "\r\nContent-Type: application/json\r\n"));
    ASSERT(strstr(buf, "\r\nAccess-Control-Allow-Origin: *\r\n"));
    json_t *j = json_of(buf);
    ASSERT_STR(json_string_value(json_object_get(j, "url")), "http://example.test/get?a=1&a=2&b=\xc3\xa9");
    ASSERT_STR(json_string_value(json_array_get(json_object_get(json_object_get(j, "args"), "a"), 1)), "2");
    ASSERT_STR(json_string_value(json_object_get(json_object_get(j, "headers"), "X-Thing")), "t");
    ASSERT_STR(json_string_value(json_object_get(j, "origin")), "127.0.0.1");
    json_decref(j);
    stop(&s);
    return 0;
}

/* The embedded server answers, and leaves no allocation or fd behind. */
TEST(httpbin_embedded_reflects_a_get_and_shuts_down_clean)
{
    ASSERT_EQ(wt_run_real(get_reflects_request, NULL), 0);
}

static int seeded_bytes(void *arg)
{
    (void)arg;
    server s;
    start(&s);
    static char buf[4096];
    size_t len = fetch(s.port, "GET /bytes/8?seed=42 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                       buf, sizeof buf);
    ASSERT_EQ(status_of(buf), 200);
    /* Python: random.seed(42); bytes(random.randint(0, 255) for _ in range(8)) */
    ASSERT(len > 8 && !memcmp(buf + len - 8, "\x39\x0c\x8c\x7d\x72\x47\x34\x2c", 8));
    stop(&s);
    return 0;
}

/* /bytes/N?seed=S gives python3-httpbin's very bytes. */
TEST(httpbin_seeded_bytes_are_pythons)
{
    ASSERT_EQ(wt_run_real(seeded_bytes, NULL), 0);
}

enum { NDELAYS = 1000 };
static int delays_ok;

static void *delay_client(void *port)
{
    char buf[2048];
    fetch((int)(intptr_t)port, "GET /delay/1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", buf,
          sizeof buf);
    delays_ok += status_of(buf) == 200;
    return NULL;
}

static int many_delays(void *arg)
{
    (void)arg;
    server s;
    start(&s);
    static weft_task *clients[NDELAYS];
    int64_t t0 = weft_now();
    for (int i = 0; i < NDELAYS; i++) {
        clients[i] = weft_spawn(delay_client, (void *)(intptr_t)s.port);
        ASSERT(clients[i]);
    }
    ASSERT_ERR(weft_gather(clients, NDELAYS, NULL), 0);
    int64_t took = weft_now() - t0;
    ASSERT_EQ(delays_ok, NDELAYS);
    /* Together: one by one would take 1000 s; 8 s leaves room for a
     * sanitizer build on a busy machine. */
    ASSERT(took >= WEFT_SECOND && took < 8 * WEFT_SECOND);
    stop(&s);
    return 0;
}

/* /delay suspends only its own request: 1000 of them wait at once, and all
 * are answered after about one second, not 1000. */
TEST(httpbin_thousand_delays_wait_together)
{
    ASSERT_EQ(wt_run_real(many_delays, NULL), 0);
}

static void *shutdown_soon(void *s)
{
    weft_sleep(200 * WEFT_MILLISECOND);
    stop(s);
    return NULL;
}

static int shutdown_mid_delay(void *arg)
{
    (void)arg;
    server s;
    start(&s);
    weft_task *stopper = weft_spawn(shutdown_soon, &s);
    static char buf[8192];
    int64_t t0 = weft_now();
    fetch(s.port, "GET /delay/0.5 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", buf, sizeof buf);
    ASSERT_EQ(status_of(buf), 200);
    ASSERT(weft_now() - t0 >= 500 * WEFT_MILLISECOND);
    ASSERT_ERR(weft_join(stopper, NULL), 0);
    return 0;
}

/* A shutdown lets a request in flight finish: the delay still answers. */
TEST(httpbin_shutdown_lets_a_delay_in_flight_finish)
{
    ASSERT_EQ(wt_run_real(shutdown_mid_delay, NULL), 0);
}

static int drip(void *arg)
{
    (void)arg;
    server s;
    start(&s);
    static char buf[8192];
    int64_t t0 = weft_now();
    fetch(s.port, "GET /drip?numbytes=4&duration=0.4&code=201 HTTP/1.1\r\nHost: h\r\n"
                  "Connection: close\r\n\r\n", buf, sizeof buf);
    int64_t took = weft_now() - t0;
    ASSERT_EQ(status_of(buf), 201);
    ASSERT(strstr(buf, "\r\nContent-Length: 4\r\n"));
    ASSERT(strstr(buf, "\r\n\r\n****"));
    ASSERT(took >= 350 * WEFT_MILLISECOND && took < 3 * WEFT_SECOND);
    stop(&s);
    return 0;
}

/* /drip spreads its bytes over the duration, framed by Content-Length. */
TEST(httpbin_drip_spreads_bytes_over_its_duration)
{
    ASSERT_EQ(wt_run_real(drip, NULL), 0);
}

/* httpbin's own JSON writer (json.c) against jansson's json_dumpb, byte for
 * byte, on the values httpbin makes and the awkward ones. */
static void same_as_jansson(json_t *j, size_t flags) {
    size_t len = 0, n = json_dumpb(j, NULL, 0, flags | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
    char *want = malloc(n + 1);
    ASSERT(want);
    json_dumpb(j, want, n, flags | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
    want[n] = '\n';
    char *got = httpbin__json(j, (unsigned)flags, &len);
    ASSERT(got);
    if (len != n + 1 || memcmp(got, want, len)) {
        fprintf(stderr, "want %.*s\ngot  %.*s\n", (int)n + 1, want, (int)len, got);
        abort();
    }
    free(got);
    free(want);
}

TEST(httpbin_json_writer_writes_what_jansson_writes)
{
    json_t *big = json_object();
    for (int i = 0; i < 40; i++) {  /* more members than the writer's stack array */
        char k[16];
        snprintf(k, sizeof k, "k%02d", (i * 17) % 40);
        json_object_set_new(big, k, json_integer(i - 20));
    }
    json_t *values[] = {
        json_pack("{s:s, s:I, s:f, s:f, s:f, s:[i,b,n,s,f,b], s:{}, s:[], s:f}",
                  "b", "\xc3\xa9\x01\x1f\"\\/\t\n\r\b\f\x7f \xf0\x9f\x98\x80",
                  "a", (json_int_t)INT64_MIN, "c", 1.5, "d", 1e300, "e", 0.1,
                  "f", 1, 1, "x", 2.0, 0, "g", "h", "A", 100.0),
        json_pack("{s:{s:s, s:s}, s:{s:[s,s]}, s:s, s:s}", "headers", "Host", "127.0.0.1",
                  "User-Agent", "caf\xc3\xa9/1 \xe2\x82\xac", "args", "a", "1", "2",
                  "origin", "127.0.0.1", "url", "http://127.0.0.1/get?a=1&a=2"),
        json_string(""), json_integer(0), json_true(), json_null(), json_array(), big,
        json_object(),  /* keys with NULs, as "?a%00x=1&a%00y=2&a=3" makes them */
    };
    json_object_setn_new(values[sizeof values / sizeof *values - 1], "a\0y", 3, json_integer(2));
    json_object_setn_new(values[sizeof values / sizeof *values - 1], "a\0x", 3, json_integer(1));
    json_object_setn_new(values[sizeof values / sizeof *values - 1], "a", 1, json_integer(3));
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        ASSERT(values[i]);
        same_as_jansson(values[i], JSON_COMPACT | JSON_SORT_KEYS);
        same_as_jansson(values[i], 0);
        json_decref(values[i]);
    }
    /* A string that is not UTF-8 (made unchecked): no text, as jansson. */
    json_t *bad = json_stringn_nocheck("\xff", 1);
    size_t len;
    ASSERT(json_dumps(bad, JSON_ENSURE_ASCII | JSON_ENCODE_ANY) == NULL);
    ASSERT(httpbin__json(bad, 0, &len) == NULL);
    json_decref(bad);
}
