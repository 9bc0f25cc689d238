/* libFuzzer target: response heads (weft__http_parse_response) to each
 * kind of request method, under the client's default limits and tight
 * ones, checked by fuzz_head.h; plus the framing RFC 9112 section 6.3
 * gives each status and method. */
#include "fuzz_head.h"

#include <stdint.h>

static ssize_t parse_response(const char *buf, size_t len, weft__http_head *h, const char *method,
                              const weft__http_limits *lim) {
    ssize_t r = weft__http_parse_response(buf, len, h, method, lim);
    if (r <= 0) return r;
    bool head = method && !strcmp(method, "HEAD");
    bool tunnel = method && !strcmp(method, "CONNECT") && h->status / 100 == 2;
    if (head || tunnel || h->status / 100 == 1 || h->status == 204 || h->status == 304)
        CHECK(h->body == WEFT__BODY_NONE);
    else
        CHECK(h->body != WEFT__BODY_NONE);
    if (h->body == WEFT__BODY_CLOSE) CHECK(!h->keep_alive);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    static const weft__http_limits client = { 8192, 300 * 1024, 5000 }, tight = { 30, 100, 3 }, low_head = { 100, 50, 3 };
    static const char *const methods[] = { "GET", "HEAD", "CONNECT", NULL };
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++)
        check_head(parse_response, data, len, methods[i], &client, false);
    check_head(parse_response, data, len, "GET", &tight, false);
    check_head(parse_response, data, len, "GET", &low_head, false);
    return 0;
}
