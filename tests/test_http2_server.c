/* The HTTP/2 server (h2c, prior knowledge) against nghttp2's client
 * session for ordinary use (the same handlers as HTTP/1.1, bodies both ways
 * past the flow-control windows, a hundred streams at once, resets and
 * closes cancelling handlers, backpressure on a client that does not read)
 * and against raw frames written here for the known HTTP/2 attacks: each
 * must end with the connection closed and the server's allocations back
 * where they were. Real clock; the client is the test's main task. */
#include "test.h"

#include <weft/httpd.h>
#include <weft/io.h>
#include <weft/net.h>

#include <nghttp2/nghttp2.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>

/* ------------------------------------------------------------ fixture */

typedef struct fixture {
    weft_httpd *srv;
    weft_task *serve;
    int port;
} fixture;

static void *serve_main(void *arg) { return weft_error(weft_httpd_serve(arg)); }

static void start(fixture *fx, weft_httpd_handler h) {
    ASSERT_ERR(weft_httpd_new(&fx->srv, NULL, h, NULL), 0);
    ASSERT_ERR(weft_httpd_listen(fx->srv, "127.0.0.1", "0"), 0);
    fx->port = weft_httpd_port(fx->srv);
    fx->serve = weft_spawn(serve_main, fx->srv);
    ASSERT(fx->serve);
}

static void stop(fixture *fx) {
    weft_httpd_shutdown(fx->srv);
    void *res;
    ASSERT_ERR(weft_join(fx->serve, &res), 0);
    ASSERT_ERR(weft_error_code(res), 0);
    weft_httpd_free(fx->srv);
}

static int dial(int port) {
    char p[8];
    snprintf(p, sizeof p, "%d", port);
    int fd;
    ASSERT_ERR(weft_tcp_connect("127.0.0.1", p, &fd), 0);
    /* As curl and h2load: a WINDOW_UPDATE must not wait for an ACK. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
    return fd;
}

/* Waits (up to 5 s) until the server has no connection left. */
static void wait_no_conns(fixture *fx) {
    for (int i = 0; i < 500 && weft_httpd_conns(fx->srv); i++) weft_sleep(10 * WEFT_MILLISECOND);
    ASSERT_EQ(weft_httpd_conns(fx->srv), 0);
}

/* ------------------------------------------------------------ handlers */

static int handler_calls, running, most_running, handler_result;
static size_t written;

static int respond(weft_httpd_req *req, weft_httpd_res *res, void *arg) {
    (void)arg;
    handler_calls++;
    const char *path = weft_httpd_req_path(req);
    if (!strcmp(path, "/echo")) {  /* streamed both ways */
        char buf[10000];
        ssize_t n;
        while ((n = weft_httpd_req_read(req, buf, sizeof buf)) > 0)
            if (weft_httpd_res_write(res, buf, (size_t)n)) return 0;
        return n < 0 ? (int)n : 0;
    }
    if (!strcmp(path, "/sleep")) {  /* counts who runs at once */
        if (++running > most_running) most_running = running;
        int err = weft_sleep(100 * WEFT_MILLISECOND);
        running--;
        if (err) return err;
    }
    if (!strcmp(path, "/tick")) {  /* a piece, flushed, a pause, the rest */
        int err = weft_httpd_res_write(res, "a", 1);
        if (!err) err = weft_httpd_res_flush(res);
        if (!err) err = weft_sleep(300 * WEFT_MILLISECOND);
        if (!err) err = weft_httpd_res_write(res, "b", 1);
        return err;
    }
    if (!strcmp(path, "/hang")) {  /* until cancelled */
        handler_result = weft_sleep(30 * WEFT_SECOND);
        return handler_result;
    }
    if (!strcmp(path, "/flood")) {  /* 1 MiB, as fast as it is taken */
        static char chunk[16384];
        for (written = 0; written < 1 << 20; written += sizeof chunk)
            if (weft_httpd_res_write(res, chunk, sizeof chunk)) return 0;
        return 0;
    }
    char body[256];
    const char *ck = weft_httpd_req_header(req, "cookie");
    int n = snprintf(body, sizeof body, "v%d %s %s?%s host=%s cookie=%s", weft_httpd_req_version(req),
                     weft_httpd_req_method(req), path, weft_httpd_req_query(req),
                     weft_httpd_req_host(req), ck ? ck : "-");
    weft_httpd_res_header(res, "X-Test", "Yes");
    return weft_httpd_res_send(res, 200, "text/plain", body, (size_t)n);
}

/* ------------------------------------------- nghttp2's client session */

typedef struct cstream {
    int32_t id;
    int status;
    char *body;
    size_t len;
    bool closed;
    uint32_t code;
    const char *up;    /* the request body, sent from */
    size_t up_len, up_off;
} cstream;

typedef struct client {
    int fd;
    nghttp2_session *ss;
    cstream st[128];
    int n;
    bool no_read;      /* stop reading the socket (a slow client) */
} client;

static cstream *find(client *c, int32_t id) {
    for (int i = 0; i < c->n; i++) if (c->st[i].id == id) return &c->st[i];
    return NULL;
}

static int c_header(nghttp2_session *ss, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                    const uint8_t *value, size_t vl, uint8_t flags, void *ud) {
    (void)ss, (void)vl, (void)flags;
    cstream *s = find(ud, f->hd.stream_id);
    if (s && nl == 7 && !memcmp(name, ":status", 7)) s->status = atoi((const char *)value);
    return 0;
}

static int c_data(nghttp2_session *ss, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud) {
    (void)ss, (void)flags;
    cstream *s = find(ud, id);
    if (!s) return 0;
    s->body = realloc(s->body, s->len + len + 1);
    memcpy(s->body + s->len, data, len);
    s->len += len;
    s->body[s->len] = 0;
    return 0;
}

static int c_close(nghttp2_session *ss, int32_t id, uint32_t code, void *ud) {
    (void)ss;
    cstream *s = find(ud, id);
    if (s) s->closed = true, s->code = code;
    return 0;
}

static ssize_t c_upload(nghttp2_session *ss, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                        nghttp2_data_source *src, void *ud) {
    (void)ss, (void)id, (void)ud;
    cstream *s = src->ptr;
    size_t k = s->up_len - s->up_off < len ? s->up_len - s->up_off : len;
    memcpy(buf, s->up + s->up_off, k);
    s->up_off += k;
    if (s->up_off == s->up_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)k;
}

static void client_open(client *c, int port) {
    memset(c, 0, sizeof *c);
    c->fd = dial(port);
    nghttp2_session_callbacks *cb;
    ASSERT(nghttp2_session_callbacks_new(&cb) == 0);
    nghttp2_session_callbacks_set_on_header_callback(cb, c_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, c_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, c_close);
    ASSERT(nghttp2_session_client_new(&c->ss, cb, c) == 0);
    nghttp2_session_callbacks_del(cb);
    ASSERT(nghttp2_submit_settings(c->ss, NGHTTP2_FLAG_NONE, NULL, 0) == 0);
}

static void client_close(client *c) {
    nghttp2_session_del(c->ss);
    for (int i = 0; i < c->n; i++) free(c->st[i].body);
    if (c->fd >= 0) weft_close(c->fd);
}

/* Submits a request; a body (borrowed) if up is not NULL. */
static cstream *request(client *c, const char *method, const char *path, const char *up, size_t up_len) {
    cstream *s = &c->st[c->n];
    *s = (cstream){ .up = up, .up_len = up_len };
    nghttp2_nv nv[] = {
        { (uint8_t *)":method", (uint8_t *)method, 7, strlen(method), 0 },
        { (uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0 },
        { (uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0 },
        { (uint8_t *)":authority", (uint8_t *)"example.test", 10, 12, 0 },
        { (uint8_t *)"cookie", (uint8_t *)"a=1", 6, 3, 0 },
        { (uint8_t *)"cookie", (uint8_t *)"b=2", 6, 3, 0 },
    };
    nghttp2_data_provider dp = { .source.ptr = s, .read_callback = c_upload };
    s->id = nghttp2_submit_request(c->ss, NULL, nv, 6, up ? &dp : NULL, NULL);
    ASSERT(s->id > 0);
    c->n++;
    return s;
}

/* Sends what the session has, reads what comes (up to `wait`), until
 * `done(c)` or the deadline: whether done. */
static bool pump(client *c, bool (*done)(client *), int64_t wait) {
    int64_t deadline = weft_deadline_after(wait);
    while (!done(c)) {
        const uint8_t *d;
        ssize_t n;
        while ((n = nghttp2_session_mem_send(c->ss, &d)) > 0) ASSERT_EQ(weft_write(c->fd, d, (size_t)n), n);
        if (done(c)) break;  /* (a stream may close as its last DATA goes) */
        if (c->no_read) {
            weft_sleep(10 * WEFT_MILLISECOND);
            if (weft_now() >= deadline) return false;
            continue;
        }
        uint8_t buf[16384];
        weft_scope sc;
        weft_scope_enter(&sc, deadline);
        ssize_t r = weft_read(c->fd, buf, sizeof buf);
        if (weft_scope_leave(&sc) == WEFT_ETIMEDOUT || r <= 0) return done(c);
        ASSERT_EQ(nghttp2_session_mem_recv(c->ss, buf, (size_t)r), r);
    }
    return true;
}

static bool all_closed(client *c) {
    for (int i = 0; i < c->n; i++) if (!c->st[i].closed) return false;
    return true;
}

static bool never(client *c) { (void)c; return false; }

/* A server with the test's handlers, and a client connected to it. */
static void begin(fixture *fx, client *c) {
    start(fx, respond);
    client_open(c, fx->port);
}

static void end(fixture *fx, client *c) {
    client_close(c);
    stop(fx);
}

/* ------------------------------------------------------------ use */

static int t_get(void *arg) {
    (void)arg;
    fixture fx;
    client c;
    begin(&fx, &c);
    cstream *s = request(&c, "GET", "/a/b?x=1", NULL, 0);
    ASSERT(pump(&c, all_closed, 5 * WEFT_SECOND));
    ASSERT_EQ(s->status, 200);
    ASSERT_STR(s->body, "v2 GET /a/b?x=1 host=example.test cookie=a=1; b=2");
    end(&fx, &c);
    return 0;
}
TEST(get_over_prior_knowledge_runs_the_http11_handler) { ASSERT_EQ(wt_run_real(t_get, NULL), 0); }

static int t_upgrade(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, respond);
    client c;
    memset(&c, 0, sizeof c);
    c.fd = dial(fx.port);
    /* curl --http2's SETTINGS: 100 streams, a 32 MiB window, no push. */
    static const uint8_t settings[] = { 0, 3, 0, 0, 0, 100, 0, 4, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0 };
    static const char req[] = "GET /u?x=1 HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                              "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
    ASSERT_EQ(weft_write(c.fd, req, sizeof req - 1), (ssize_t)sizeof req - 1);
    static const char line[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
    char got[sizeof line];
    size_t n = 0;
    while (n < sizeof line - 1) {
        ssize_t r = weft_read(c.fd, got + n, sizeof line - 1 - n);
        ASSERT(r > 0);
        n += (size_t)r;
    }
    got[n] = 0;
    ASSERT_STR(got, line);
    nghttp2_session_callbacks *cb;
    ASSERT(nghttp2_session_callbacks_new(&cb) == 0);
    nghttp2_session_callbacks_set_on_header_callback(cb, c_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, c_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, c_close);
    ASSERT(nghttp2_session_client_new(&c.ss, cb, &c) == 0);
    nghttp2_session_callbacks_del(cb);
    ASSERT(nghttp2_session_upgrade2(c.ss, settings, sizeof settings, 0, NULL) == 0);
    cstream *st = &c.st[c.n++];
    *st = (cstream){ .id = 1 };
    ASSERT(pump(&c, all_closed, 5 * WEFT_SECOND));
    ASSERT_EQ(st->status, 200);
    ASSERT_STR(st->body, "v2 GET /u?x=1 host=h cookie=-");
    /* and the connection goes on as HTTP/2 */
    cstream *next = request(&c, "GET", "/next", NULL, 0);
    ASSERT(pump(&c, all_closed, 5 * WEFT_SECOND));
    ASSERT_EQ(next->status, 200);
    end(&fx, &c);
    return 0;
}
TEST(upgrade_to_h2c_answers_the_request_on_stream_1) { ASSERT_EQ(wt_run_real(t_upgrade, NULL), 0); }

static int t_echo(void *arg) {
    (void)arg;
    fixture fx;
    client c;
    begin(&fx, &c);
    size_t len = 256 << 10;  /* 4 times a stream's window */
    char *up = malloc(len);
    for (size_t i = 0; i < len; i++) up[i] = (char)(i * 7 + i / 1000);
    cstream *s = request(&c, "POST", "/echo", up, len);
    ASSERT(pump(&c, all_closed, 5 * WEFT_SECOND));
    ASSERT_EQ(s->status, 200);
    ASSERT_EQ(s->len, len);
    ASSERT(!memcmp(s->body, up, len));
    free(up);
    end(&fx, &c);
    return 0;
}
TEST(body_larger_than_the_windows_is_echoed_back_streamed) { ASSERT_EQ(wt_run_real(t_echo, NULL), 0); }

static int t_unread(void *arg) {
    (void)arg;
    fixture fx;
    client c;
    begin(&fx, &c);
    /* Bodies no handler reads, and a reset one: 2 MiB in all, twice the
     * connection's window, which must come back for each. */
    static char up[100 * 1024];
    for (int i = 0; i < 20; i++) {
        cstream *s = request(&c, "POST", i == 10 ? "/hang" : "/", up, sizeof up);
        if (i == 10) {
            pump(&c, never, 50 * WEFT_MILLISECOND);
            ASSERT(nghttp2_submit_rst_stream(c.ss, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL) == 0);
        }
        ASSERT(pump(&c, all_closed, 5 * WEFT_SECOND));
        ASSERT(i == 10 || s->status == 200);
    }
    end(&fx, &c);
    return 0;
}
TEST(unread_and_reset_bodies_give_the_connection_window_back) { ASSERT_EQ(wt_run_real(t_unread, NULL), 0); }

static int t_flush(void *arg) {
    (void)arg;
    fixture fx;
    client c;
    begin(&fx, &c);
    cstream *s = request(&c, "GET", "/tick", NULL, 0);
    pump(&c, never, 150 * WEFT_MILLISECOND);
    ASSERT_EQ(s->len, 1);  /* flushed, before the handler's end */
    ASSERT(!s->closed);
    ASSERT(pump(&c, all_closed, 5 * WEFT_SECOND));
    ASSERT_STR(s->body, "ab");
    end(&fx, &c);
    return 0;
}
TEST(flush_sends_what_was_written_before_the_end) { ASSERT_EQ(wt_run_real(t_flush, NULL), 0); }

static int t_hundred(void *arg) {
    (void)arg;
    fixture fx;
    client c;
    begin(&fx, &c);
    for (int i = 0; i < 100; i++) request(&c, "GET", "/sleep", NULL, 0);
    ASSERT(pump(&c, all_closed, 5 * WEFT_SECOND));
    for (int i = 0; i < 100; i++) ASSERT_EQ(c.st[i].status, 200);
    ASSERT_EQ(most_running, 100);  /* one connection, a hundred handlers at once */
    end(&fx, &c);
    return 0;
}
TEST(hundred_streams_run_their_handlers_at_once) { ASSERT_EQ(wt_run_real(t_hundred, NULL), 0); }

static int t_reset(void *arg) {
    (void)arg;
    fixture fx;
    client c;
    begin(&fx, &c);
    cstream *hang = request(&c, "GET", "/hang", NULL, 0);
    pump(&c, never, 200 * WEFT_MILLISECOND);
    ASSERT_EQ(handler_calls, 1);
    ASSERT(nghttp2_submit_rst_stream(c.ss, NGHTTP2_FLAG_NONE, hang->id, NGHTTP2_CANCEL) == 0);
    cstream *s = request(&c, "GET", "/after", NULL, 0);
    ASSERT(pump(&c, all_closed, 5 * WEFT_SECOND));
    ASSERT_ERR(handler_result, WEFT_ECANCELED);  /* the reset one only */
    ASSERT_EQ(s->status, 200);
    ASSERT_EQ(weft_httpd_conns(fx.srv), 1);
    end(&fx, &c);
    return 0;
}
TEST(reset_stream_cancels_its_handler_only) { ASSERT_EQ(wt_run_real(t_reset, NULL), 0); }

static int t_close(void *arg) {
    (void)arg;
    fixture fx;
    client c;
    begin(&fx, &c);
    request(&c, "GET", "/hang", NULL, 0);
    pump(&c, never, 200 * WEFT_MILLISECOND);
    ASSERT_EQ(handler_calls, 1);
    weft_close(c.fd);
    c.fd = -1;
    wait_no_conns(&fx);
    ASSERT_ERR(handler_result, WEFT_ECANCELED);
    end(&fx, &c);
    return 0;
}
TEST(connection_close_cancels_its_handlers) { ASSERT_EQ(wt_run_real(t_close, NULL), 0); }

static int t_backpressure(void *arg) {
    (void)arg;
    fixture fx;
    client c;
    begin(&fx, &c);
    cstream *s = request(&c, "GET", "/flood", NULL, 0);
    c.no_read = true;
    pump(&c, never, 300 * WEFT_MILLISECOND);
    /* The client's window (64 KiB) and the stream's buffer, not 1 MiB. */
    ASSERT(written > 0 && written <= 256 * 1024);
    c.no_read = false;
    ASSERT(pump(&c, all_closed, 5 * WEFT_SECOND));
    ASSERT_EQ(s->len, 1 << 20);
    end(&fx, &c);
    return 0;
}
TEST(client_that_does_not_read_holds_back_the_handler_writes) {
    ASSERT_EQ(wt_run_real(t_backpressure, NULL), 0);
}

static int t_shutdown(void *arg) {
    (void)arg;
    fixture fx;
    start(&fx, respond);
    client idle, busy;
    client_open(&idle, fx.port);
    client_open(&busy, fx.port);
    request(&idle, "GET", "/", NULL, 0);
    ASSERT(pump(&idle, all_closed, 5 * WEFT_SECOND));
    cstream *s = request(&busy, "GET", "/sleep", NULL, 0);
    pump(&busy, never, 20 * WEFT_MILLISECOND);
    ASSERT_EQ(running, 1);
    weft_httpd_shutdown(fx.srv);
    /* The busy one's request finishes; each connection gets a GOAWAY and
     * its close. */
    ASSERT(pump(&busy, all_closed, 5 * WEFT_SECOND));
    ASSERT_EQ(s->status, 200);
    ASSERT(!pump(&busy, never, 5 * WEFT_SECOND));  /* returns at the close */
    ASSERT(!nghttp2_session_want_read(busy.ss));  /* the GOAWAY came */
    ASSERT(!pump(&idle, never, 5 * WEFT_SECOND));
    ASSERT(!nghttp2_session_want_read(idle.ss));
    void *res;
    ASSERT_ERR(weft_join(fx.serve, &res), 0);
    ASSERT_ERR(weft_error_code(res), 0);
    weft_httpd_free(fx.srv);
    client_close(&idle);
    client_close(&busy);
    return 0;
}
TEST(shutdown_finishes_streams_in_flight_and_says_goaway) { ASSERT_EQ(wt_run_real(t_shutdown, NULL), 0); }

/* ------------------------------------------------------------ abuse */

typedef struct frames { uint8_t *p; size_t len, cap; } frames;

static void add(frames *f, const void *p, size_t n) {
    if (f->len + n > f->cap) {
        f->cap = (f->len + n) * 2;
        f->p = realloc(f->p, f->cap);
    }
    if (n) memcpy(f->p + f->len, p, n);
    f->len += n;
}

static void frame(frames *f, uint8_t type, uint8_t flags, uint32_t id, const void *payload, size_t len) {
    uint8_t h[9] = { (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len, type, flags,
                     (uint8_t)(id >> 24 & 0x7f), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id };
    add(f, h, 9);
    add(f, payload, len);
}

enum { DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION };
enum { END_STREAM = 1, END_HEADERS = 4 };

/* The preface and an empty SETTINGS. */
static void preface(frames *f) {
    add(f, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
    frame(f, SETTINGS, 0, 0, NULL, 0);
}

/* GET / for "a", in HPACK: indexed :method GET, :scheme http, :path /,
 * and :authority a as a literal never put in the table. */
static const uint8_t get_block[] = { 0x82, 0x86, 0x84, 0x01, 0x01, 'a' };

/* Sends the frames on a new connection (what the server still reads of
 * them), and sees the connection closed within 5 s. Returns whether a
 * GOAWAY with `code` came before the close (it may be lost to a reset). */
static bool attack_once(fixture *fx, const frames *f, uint32_t code) {
    int fd = dial(fx->port);
    weft_write(fd, f->p, f->len);  /* the server may close before the end */
    bool goaway = false;
    static uint8_t buf[65536];  /* not on the task's stack */
    size_t have = 0;
    weft_scope sc;
    weft_timeout_enter(&sc, 5 * WEFT_SECOND);
    for (;;) {
        ssize_t r = weft_read(fd, buf + have, sizeof buf - have);
        if (r <= 0) {
            ASSERT(r == 0 || r == -ECONNRESET);  /* not the timeout */
            break;
        }
        have += (size_t)r;
        size_t off = 0;  /* whole frames: look for the GOAWAY, drop them */
        while (have - off >= 9) {
            size_t len = (size_t)buf[off] << 16 | (size_t)buf[off + 1] << 8 | buf[off + 2];
            if (have - off < 9 + len) break;
            if (buf[off + 3] == GOAWAY && len >= 8) {
                const uint8_t *e = buf + off + 9 + 4;
                goaway |= ((uint32_t)e[0] << 24 | (uint32_t)e[1] << 16 | (uint32_t)e[2] << 8 | e[3]) == code;
            }
            off += 9 + len;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    ASSERT_ERR(weft_scope_leave(&sc), 0);
    weft_close(fd);
    wait_no_conns(fx);
    weft_sleep(10 * WEFT_MILLISECOND);  /* its tasks' last steps */
    return goaway;
}

/* The attack twice, after a hundred ordinary requests: the second must
 * leave the server's allocations where the first left them (the loop
 * keeps caches of task records, timer slots and buffers, which the first
 * fills; a connection's own memory must all come back each time). */
static bool attack(frames *f, uint32_t code) {
    fixture fx;
    client c;
    begin(&fx, &c);
    for (int i = 0; i < 100; i++) request(&c, "GET", "/sleep", NULL, 0);
    ASSERT(pump(&c, all_closed, 5 * WEFT_SECOND));
    client_close(&c);
    wait_no_conns(&fx);
    bool goaway = attack_once(&fx, f, code);
    long live = wt_live_allocs;
    goaway &= attack_once(&fx, f, code);
    ASSERT_EQ(wt_live_allocs, live);
    free(f->p);
    stop(&fx);
    return goaway;
}

static int t_rapid_reset(void *arg) {
    (void)arg;
    frames f = {0};
    preface(&f);
    static const uint8_t cancel[4] = { 0, 0, 0, 8 };
    for (uint32_t i = 0; i < 3000; i++) {
        frame(&f, HEADERS, END_STREAM | END_HEADERS, 2 * i + 1, get_block, sizeof get_block);
        frame(&f, RST_STREAM, 0, 2 * i + 1, cancel, 4);
    }
    ASSERT(attack(&f, NGHTTP2_INTERNAL_ERROR));
    ASSERT(handler_calls < 100 + 2 * 3000);
    return 0;
}
TEST(rapid_reset_closes_the_connection) { ASSERT_EQ(wt_run_real(t_rapid_reset, NULL), 0); }

static int t_continuation_flood(void *arg) {
    (void)arg;
    frames f = {0};
    preface(&f);
    frame(&f, HEADERS, END_STREAM, 1, get_block, sizeof get_block);
    static const uint8_t field[] = { 0x00, 3, 'x', '-', 'a', 1, 'b' };  /* x-a: b, literal */
    for (int i = 0; i < 10000; i++) frame(&f, CONTINUATION, 0, 1, field, sizeof field);
    attack(&f, 0);
    ASSERT_EQ(handler_calls, 100);  /* the first connection's only */
    return 0;
}
TEST(continuation_flood_closes_the_connection) { ASSERT_EQ(wt_run_real(t_continuation_flood, NULL), 0); }

static int t_hpack_bomb(void *arg) {
    (void)arg;
    frames f = {0};
    preface(&f);
    frames b = {0};
    add(&b, get_block, sizeof get_block);
    /* x-bomb: 4000 bytes, put in the dynamic table (index 62)... */
    static const uint8_t lit[] = { 0x40, 6, 'x', '-', 'b', 'o', 'm', 'b', 0x7f, 0xa1, 0x1e };
    add(&b, lit, sizeof lit);
    for (int i = 0; i < 4000; i++) add(&b, "a", 1);
    /* ...then named 10,000 times, a byte each: 40 MB decoded. */
    for (int i = 0; i < 10000; i++) add(&b, "\xbe", 1);
    frame(&f, HEADERS, END_STREAM | END_HEADERS, 1, b.p, b.len);
    free(b.p);
    ASSERT(attack(&f, NGHTTP2_ENHANCE_YOUR_CALM));
    ASSERT_EQ(handler_calls, 100);
    return 0;
}
TEST(hpack_bomb_closes_the_connection) { ASSERT_EQ(wt_run_real(t_hpack_bomb, NULL), 0); }

/* Frames the server must answer, sent by a client that reads nothing. */
static void flood(uint8_t type, size_t len) {
    frames f = {0};
    preface(&f);
    uint8_t payload[8] = {0};
    for (int i = 0; i < 100000; i++) frame(&f, type, 0, 0, payload, len);
    attack(&f, 0);
}

static int t_settings_flood(void *arg) { (void)arg; flood(SETTINGS, 0); return 0; }
TEST(settings_flood_closes_the_connection) { ASSERT_EQ(wt_run_real(t_settings_flood, NULL), 0); }

static int t_ping_flood(void *arg) { (void)arg; flood(PING, 8); return 0; }
TEST(ping_flood_closes_the_connection) { ASSERT_EQ(wt_run_real(t_ping_flood, NULL), 0); }

