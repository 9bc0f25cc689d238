/* The lesson's Program 1: two slow fetches, gathered, finish in ~2 s, not
 * ~4 s. Each fetch is a task; while one waits for its response the loop runs
 * the other.
 *
 *     fetch_slow [BASE_URL]
 *
 * With no BASE_URL the program serves httpbin itself, on a free loopback
 * port, in a task of the same loop: one thread runs the server and both
 * clients. Any httpbin-compatible base URL works too (http://127.0.0.1:8080
 * for weft-httpbin, https://httpbin.org where the network reaches it).
 */
#include <weft.h>
#include <weft/http.h>
#include <weft/httpd.h>

#include "httpbin.h"

#include <stdio.h>

struct fetch {
    weft_http_client *client;
    const char *base, *source;
    int delay;
    char result[64];
};

static void *fetch_slow(void *arg) {
    struct fetch *f = arg;
    printf("Starting fetch from %s\n", f->source);

    weft_http_response *resp;
    int err = weft_http_getf(f->client, &resp, "%s/delay/%d", f->base, f->delay);
    if (err) return weft_error(err);        /* the task's result carries the error */

    json_t *body;
    err = weft_http_response_json(resp, &body);
    weft_http_response_free(resp);
    if (err) return weft_error(err);
    json_decref(body);

    printf("Done fetching from %s\n", f->source);
    snprintf(f->result, sizeof f->result, "Data from %s", f->source);
    return f->result;
}

static int fetch_both(const char *base) {
    int64_t start = weft_now();
    weft_http_client *client;
    int err = weft_http_client_new(&client, NULL);
    if (err) { fprintf(stderr, "client: %s\n", weft_strerror(err)); return 1; }

    struct fetch a = { client, base, "source_A", 2, "" }, b = { client, base, "source_B", 2, "" };
    /* Named, so that a trace (WEFT_TRACE=out.json) labels their lanes. */
    weft_task *t[2] = { weft_spawn_named("fetch source_A", fetch_slow, &a),
                        weft_spawn_named("fetch source_B", fetch_slow, &b) };
    void *results[2];
    err = weft_gather(t, 2, results);
    weft_http_client_free(client);
    if (err) { fprintf(stderr, "fetch failed: %s\n", weft_strerror(err)); return 1; }

    printf("['%s', '%s']\n", (char *)results[0], (char *)results[1]);
    printf("Total time: %.2fs\n", (double)(weft_now() - start) / 1e9);
    return 0;
}

/* The embedded server: httpbin on a free port, served by a task of this loop
 * until the fetches are done. */
static void *serve(void *srv) { return weft_error(weft_httpd_serve(srv)); }

static int main_task(void *arg) {
    const char *base = arg;
    if (base) return fetch_both(base);

    weft_httpd *srv;
    char url[64];
    int err = httpbin_new(&srv, "127.0.0.1", "0", NULL);
    if (err) { fprintf(stderr, "httpbin: %s\n", weft_strerror(err)); return 1; }
    snprintf(url, sizeof url, "http://127.0.0.1:%d", weft_httpd_port(srv));
    weft_task *server = weft_spawn_named("httpbin server", serve, srv);
    int rc = fetch_both(url);
    weft_httpd_shutdown(srv);
    weft_join(server, NULL);
    weft_httpd_free(srv);
    return rc;
}

int main(int argc, char **argv) {
    return weft_run(main_task, argc > 1 ? argv[1] : NULL);
}
