/* weft-httpbin [--host H] [--port P] [--workers N] [--access-log]
 * [--cert FILE --key FILE]: an httpbin on this machine, for weft's
 * examples and tests and for anyone who wants one. It speaks HTTP/1.1 and
 * HTTP/2: h2c with prior knowledge on its port, and with a certificate,
 * HTTPS with h2 chosen by ALPN.
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
    const char *cert, *key;
    bool access_log;
    bool balance;
    unsigned workers;
} config;

static void usage(FILE *f)
{
    fputs("usage: weft-httpbin [--host HOST] [--port PORT] [--workers N [--balance]] [--access-log]\n"
          "                    [--cert FILE --key FILE]\n"
          "  --host HOST    address to listen on (default 127.0.0.1)\n"
          "  --port PORT    port to listen on; 0 picks a free one (default 8080)\n"
          "  --workers N    serve on N loops, each on its own thread (SO_REUSEPORT);\n"
          "                 0 = one per CPU (default 1)\n"
          "  --balance      with --workers: one loop accepts and hands each connection to\n"
          "                 the loop with the fewest (even with few connections)\n"
          "  --access-log   log each request to stderr (common log format)\n"
          "  --cert FILE    serve HTTPS with this PEM certificate chain (HTTP/2 by ALPN,\n"
          "                 or HTTP/1.1); with --key, and one loop\n"
          "  --key FILE     the certificate's private key (PEM)\n", f);
}

static int parse_args(int argc, char **argv, config *cfg)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"access-log", no_argument, NULL, 'l'},
        {"workers", required_argument, NULL, 'w'},
        {"balance", no_argument, NULL, 'b'},
        {"cert", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    for (int c; (c = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
        switch (c) {
        case 'H': cfg->host = optarg; break;
        case 'p': cfg->port = optarg; break;
        case 'l': cfg->access_log = true; break;
        case 'b': cfg->balance = true; break;
        case 'c': cfg->cert = optarg; break;
        case 'k': cfg->key = optarg; break;
        case 'w': {
            int rc = app_parse_workers("weft-httpbin", optarg, &cfg->workers);
            if (rc >= 0) return rc;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    /* A TLS context belongs to one loop's thread. */
    if (optind < argc || !cfg->cert != !cfg->key || (cfg->cert && cfg->workers > 1)) {
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
    weft_tls_opts to = { .flags = WEFT_TLS_SERVER, .cert_file = cfg->cert, .key_file = cfg->key,
                         .alpn = "h2,http/1.1" };
    if (cfg->cert) {
        int terr = weft_tls_ctx_new(&opts.tls, &to);
        if (terr) {
            fprintf(stderr, "weft-httpbin: %s: %s %s\n", cfg->cert, weft_strerror(terr), weft_tls_error_detail());
            return 1;
        }
    }
    weft_httpd *srv;
    int err = httpbin_new(&srv, cfg->host, cfg->port, &opts);
    if (err) {
        weft_tls_ctx_free(opts.tls);
        fprintf(stderr, "weft-httpbin: cannot listen on %s port %s: %s\n", cfg->host, cfg->port,
                weft_strerror(err));
        return 1;
    }
    bool v6 = strchr(cfg->host, ':') != NULL;
    printf("listening on %s://%s%s%s:%d\n", cfg->cert ? "https" : "http", v6 ? "[" : "", cfg->host, v6 ? "]" : "",
           weft_httpd_port(srv));
    fflush(stdout);
    err = weft_httpd_serve(srv);
    weft_httpd_free(srv);
    weft_tls_ctx_free(opts.tls);
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
