/* weft-serve [--host H] [--port P] [--workers N] [--no-listing] [--access-log] DIR:
 * the files under DIR over HTTP, with weft_httpd_files_handler.
 *
 * The first line on stdout is "listening on http://HOST:PORT", as
 * weft-httpbin's, so scripts started with --port 0 read the port there.
 * SIGTERM or SIGINT shuts the server down gracefully and it exits 0.
 */
#include "server_main.h"

#include <weft.h>
#include <weft/httpd.h>

#include <getopt.h>

typedef struct config {
    const char *host, *port, *root;
    bool access_log, no_listing;
    unsigned workers;
} config;

static void usage(FILE *f) {
    fputs("usage: weft-serve [--host HOST] [--port PORT] [--workers N] [--no-listing]\n"
          "                  [--access-log] DIR\n"
          "Serves the files under DIR over HTTP/1.1: GET and HEAD, bodies sent with\n"
          "sendfile(2), ETag and Last-Modified (304 Not Modified), one byte range\n"
          "(206, 416), types by extension, a directory's index.html or its listing.\n"
          "No request reaches outside DIR: '..', encoded dots, NUL and backslashes are\n"
          "404, symbolic links that lead out of DIR are 403.\n"
          "  --host HOST    address to listen on (default 127.0.0.1)\n"
          "  --port PORT    port to listen on; 0 picks a free one (default 8080)\n"
          "  --workers N    serve on N loops, each on its own thread (SO_REUSEPORT);\n"
          "                 0 = one per CPU (default 1)\n"
          "  --no-listing   answer 403 for a directory without index.html\n"
          "  --access-log   log each request to stderr (common log format)\n"
          "The first line on stdout is \"listening on http://HOST:PORT\". SIGTERM or\n"
          "SIGINT stops it gracefully (exit 0); it exits 1 if it cannot serve, 2 on\n"
          "bad arguments.\n", f);
}

/* -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, config *cfg) {
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},  {"port", required_argument, NULL, 'p'},
        {"workers", required_argument, NULL, 'w'}, {"no-listing", no_argument, NULL, 'n'},
        {"access-log", no_argument, NULL, 'l'},  {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    for (int c, rc; (c = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
        switch (c) {
        case 'H': cfg->host = optarg; break;
        case 'p': cfg->port = optarg; break;
        case 'n': cfg->no_listing = true; break;
        case 'l': cfg->access_log = true; break;
        case 'w': if ((rc = app_parse_workers("weft-serve", optarg, &cfg->workers)) >= 0) return rc; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    cfg->root = argv[optind];
    return -1;
}

static int listen_and_serve(const config *cfg, weft_httpd_files *files) {
    weft_httpd_opts opts = {
        .access_log = cfg->access_log ? stderr : NULL,
        .flags = WEFT_HTTPD_SIGNALS,  /* SIGTERM, SIGINT: shut down gracefully */
        .workers = cfg->workers,
    };
    weft_httpd *srv;
    int err = weft_httpd_new(&srv, &opts, weft_httpd_files_handler, files);
    if (!err && (err = weft_httpd_listen(srv, cfg->host, cfg->port))) weft_httpd_free(srv);
    if (err) {
        fprintf(stderr, "weft-serve: cannot listen on %s port %s: %s\n", cfg->host, cfg->port,
                weft_strerror(err));
        return 1;
    }
    app_print_listening(cfg->host, weft_httpd_port(srv));
    err = weft_httpd_serve(srv);
    weft_httpd_free(srv);
    if (err) fprintf(stderr, "weft-serve: %s\n", weft_strerror(err));
    return err ? 1 : 0;
}

static int serve(void *arg) {
    const config *cfg = arg;
    weft_httpd_files *files;
    weft_httpd_files_opts fo = { .listing = !cfg->no_listing };
    int err = weft_httpd_files_new(&files, cfg->root, &fo);
    if (err) {
        fprintf(stderr, "weft-serve: %s: %s\n", cfg->root, weft_strerror(err));
        return 1;
    }
    int rc = listen_and_serve(cfg, files);
    weft_httpd_files_free(files);
    return rc;
}

int main(int argc, char **argv) {
    config cfg = { .host = "127.0.0.1", .port = "8080", .workers = 1 };
    int rc = parse_args(argc, argv, &cfg);
    if (rc >= 0) return rc;
    app_prepare_process();
    weft_loop_opts lo = { .flags = WEFT_LOOP_NO_SIGINT };
    rc = weft_run_opts(&lo, serve, &cfg);
    if (rc < 0) {
        fprintf(stderr, "weft-serve: %s\n", weft_strerror(rc));
        return 1;
    }
    return rc;
}
