/* The same echo server on libuv (Debian's libuv1-dev), for comparison.
 * Prints `listening on 127.0.0.1:PORT` and serves until killed. */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

static uv_loop_t *loop;

static void on_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf) {
    static char slab[65536];
    (void)h; (void)size;
    *buf = uv_buf_init(slab, sizeof slab);
}

static void on_close(uv_handle_t *h) { free(h); }

typedef struct { uv_write_t req; char data[4096]; } wreq;

static void on_write(uv_write_t *req, int status) {
    (void)status;
    free(req);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    if (n < 0) { uv_close((uv_handle_t *)s, on_close); return; }
    if (n == 0) return;
    /* Try the write at once, as the reference server does; queue only what
     * the kernel did not take. */
    uv_buf_t b = uv_buf_init(buf->base, (unsigned)n);
    int w = uv_try_write(s, &b, 1);
    if (w == n) return;
    if (w < 0) w = 0;
    wreq *r = malloc(sizeof *r);
    size_t left = (size_t)(n - w);
    for (size_t i = 0; i < left && i < sizeof r->data; i++) r->data[i] = buf->base[w + (ssize_t)i];
    uv_buf_t rest = uv_buf_init(r->data, (unsigned)left);
    uv_write(&r->req, s, &rest, 1, on_write);
}

static void on_conn(uv_stream_t *server, int status) {
    if (status < 0) return;
    uv_tcp_t *c = malloc(sizeof *c);
    uv_tcp_init(loop, c);
    if (uv_accept(server, (uv_stream_t *)c) == 0) {
        uv_tcp_nodelay(c, 1);
        uv_read_start((uv_stream_t *)c, on_alloc, on_read);
    } else {
        uv_close((uv_handle_t *)c, on_close);
    }
}

int main(void) {
    loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    if (uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0) ||
        uv_listen((uv_stream_t *)&server, 1024, on_conn)) return 1;
    struct sockaddr_in bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
    printf("listening on 127.0.0.1:%d\n", ntohs(bound.sin_port));
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
