/* The libcurl peer of weft's HTTP client: one curl_multi handle driving C
 * easy handles, each GETting URL again as soon as its last GET completes,
 * for SECONDS. The multi handle's connection cache keeps every connection
 * alive between transfers, so this is C keep-alive connections doing
 * back-to-back GETs on one thread, as weft-fetch -c C does.
 *
 * Prints `http_client_rps_curl N req/s`: 200 responses per second of wall
 * time. Any failed transfer fails the run.
 *
 * usage: bench_http_curl URL [C [SECONDS]]   (C 100, SECONDS 10) */
#include <curl/curl.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The body is counted by curl, not kept: only the transfer is measured. */
static size_t discard(char *p, size_t size, size_t n, void *ud) {
    (void)p, (void)ud;
    return size * n;
}

static CURL *easy_new(const char *url) {
    CURL *e = curl_easy_init();
    if (!e) abort();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    return e;
}

/* Reaps finished transfers: counts them in *done or *failed (the first
 * failure is told on stderr), and starts each again until `end`, after
 * which it frees them and lowers *active. */
static void reap(CURLM *m, double end, long *done, long *failed, long *active) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *e = msg->easy_handle;
        long code = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        if (msg->data.result == CURLE_OK && code == 200) {
            (*done)++;
        } else {
            if (!(*failed)++) fprintf(stderr, "http_curl: %s, status %ld\n",
                                      curl_easy_strerror(msg->data.result), code);
        }
        curl_multi_remove_handle(m, e);
        if (now_s() < end) {
            curl_multi_add_handle(m, e);
        } else {
            curl_easy_cleanup(e);
            (*active)--;
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: bench_http_curl URL [CONNECTIONS [SECONDS]]\n");
        return 2;
    }
    long conns = argc > 2 ? atol(argv[2]) : 100;
    double secs = argc > 3 ? atof(argv[3]) : 10;
    if (conns <= 0 || secs <= 0 || curl_global_init(CURL_GLOBAL_DEFAULT)) return 2;
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, conns);
    double t0 = now_s(), end = t0 + secs;
    for (long i = 0; i < conns; i++) curl_multi_add_handle(m, easy_new(argv[1]));
    long done = 0, failed = 0, active = conns;
    while (active > 0) {
        int running;
        if (curl_multi_perform(m, &running) != CURLM_OK) abort();
        reap(m, end, &done, &failed, &active);
        if (active > 0) curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    double wall = now_s() - t0;
    curl_multi_cleanup(m);
    curl_global_cleanup();
    if (failed) {
        fprintf(stderr, "http_curl: %ld of %ld transfers failed\n", failed, failed + done);
        return 1;
    }
    printf("http_client_rps_curl %.0f req/s\n", done / wall);
    return 0;
}
