/* libFuzzer target: request heads (weft__http_parse_request), under the
 * server's default limits and under tight ones, checked by fuzz_head.h. */
#include "fuzz_head.h"

#include <stdint.h>

static ssize_t parse_request(const char *buf, size_t len, weft__http_head *h, const char *method,
                             const weft__http_limits *lim) {
    (void)method;
    return weft__http_parse_request(buf, len, h, lim);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    static const weft__http_limits limits[] = {
        { 8192, 32768, 100 },  /* the server's defaults */
        { 40, 120, 4 },        /* tight */
        { 100, 60, 4 },        /* a head limit below the line's */
        { 0, 0, 0 },           /* none */
    };
    for (size_t i = 0; i < sizeof limits / sizeof *limits; i++)
        check_head(parse_request, data, len, NULL, &limits[i], true);
    return 0;
}
