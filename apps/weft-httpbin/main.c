/* weft-httpbin [--host H] [--port P] [--workers N] [--access-log]: an httpbin on this
 * machine, for weft's examples and tests and for anyone who wants one.
 *
 * The first line on stdout is "listening on http://HOST:PORT", written as
 * soon as the socket listens, so scripts started with --port 0 can read the
 * port there. SIGTERM or SIGINT shuts the server down gracefully: it stops
 * accepting, lets requests in flight finish (within the server's grace
 * period) and exits 0. The access log, when asked for, goes to stderr.
 */
#include "httpbin.h"
#include "server_main.h"

#include <getopt.h>

typedef struct config {
    const char *host, *port;
    bool access_log;
    bool balance;
    unsigned workers;
} config;

static void usage(FILE *f)
{
    fputs("usage: weft-httpbin [--host HOST] [--port PORT] [--workers N [--balance]] [--access-log]\n"
          "  --host HOST    address to listen on (default 127.0.0.1)\n"
          "  --port PORT    port to listen on; 0 picks a free one (default 8080)\n"
          "  --workers N    serve on N loops, each on its own thread (SO_REUSEPORT);\n"
          "                 0 = one per CPU (default 1)\n"
          "  --balance      with --workers: one loop accepts and hands each connection to\n"
          "                 the loop with the fewest (even with few connections)\n"
          "  --access-log   log each request to stderr (common log format)\n", f);
}

static int parse_args(int argc, char **argv, config *cfg)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"access-log", no_argument, NULL, 'l'},
        {"workers", required_argument, NULL, 'w'},
        {"balance", no_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    for (int c; (c = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
        switch (c) {
        case 'H': cfg->host = optarg; break;
        case 'p': cfg->port = optarg; break;
        case 'l': cfg->access_log = true; break;
        case 'b': cfg->balance = true; break;
        case 'w': {
            int rc = app_parse_workers("weft-httpbin", optarg, &cfg->workers);
            if (rc >= 0) return rc;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    return -1;
}

static int serve(void *arg)
{
    const config *cfg = arg;
    /* Ten thousand clients waiting on /delay at once is a use this server
     * is made for; the library's default of 10000 connections is raised. */
    weft_httpd_opts opts = {
        .max_conns = 20000,
        .access_log = cfg->access_log ? stderr : NULL,
        .flags = WEFT_HTTPD_SIGNALS |  /* SIGTERM, SIGINT: shut down gracefully */
                 (cfg->balance ? WEFT_HTTPD_BALANCE : 0),
        .workers = cfg->workers,
    };
    weft_httpd *srv;
    int err = httpbin_new(&srv, cfg->host, cfg->port, &opts);
    if (err) {
        fprintf(stderr, "weft-httpbin: cannot listen on %s port %s: %s\n", cfg->host, cfg->port,
                weft_strerror(err));
        return 1;
    }
    app_print_listening(cfg->host, weft_httpd_port(srv));
    err = weft_httpd_serve(srv);
    weft_httpd_free(srv);
    if (err) fprintf(stderr, "weft-httpbin: %s\n", weft_strerror(err));
    return err ? 1 : 0;
}

int main(int argc, char **argv)
{
    config cfg = {.host = "127.0.0.1", .port = "8080", .workers = 1};
    int rc = parse_args(argc, argv, &cfg);
    if (rc >= 0) return rc;
    app_prepare_process();
    weft_loop_opts lo = {.flags = WEFT_LOOP_NO_SIGINT};
    rc = weft_run_opts(&lo, serve, &cfg);
    if (rc < 0) {
        fprintf(stderr, "weft-httpbin: %s\n", weft_strerror(rc));
        return 1;
    }
    return rc;
}
