/* libFuzzer target: the chunked decoder (weft__chunked_step). The input is
 * decoded twice: all of it at once, taking as much body per step as there
 * is; then in pieces of a size and with a body cap drawn from its first
 * byte, each piece in an allocation of exactly its length so that ASan
 * catches a read past it. Both must fail alike or give the same body, the
 * same count of bytes consumed and the same end. */
#include "parse.h"

#include <weft.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

typedef struct run {
    int err;
    bool done;
    size_t consumed, body_len;
    uint64_t body_sum;  /* a position-weighted sum: the body's bytes and their order */
} run;

/* Decodes data[0, len) fed `piece` bytes at a time, at most max_data body
 * bytes per step. */
static run decode(const uint8_t *data, size_t len, size_t piece, size_t max_data) {
    run out = { 0 };
    weft__chunked c = { 0 };
    size_t pos = 0, fed = 0;  /* consumed so far; bytes made available so far */
    while (!c.done) {
        fed = fed + piece < len ? fed + piece : len;
        size_t have = fed - pos;
        char *in = malloc(have ? have : 1);
        CHECK(in);
        memcpy(in, data + pos, have);
        const char *d;
        size_t dlen;
        ssize_t r = weft__chunked_step(&c, in, have, max_data, &d, &dlen);
        if (r < 0) {
            CHECK(r == WEFT_EHTTP);
            free(in);
            out.err = (int)r;
            break;
        }
        CHECK((size_t)r <= have && dlen <= max_data && dlen <= (size_t)r);
        CHECK(!dlen || (d >= in && d + dlen <= in + r));
        for (size_t i = 0; i < dlen; i++) out.body_sum = out.body_sum * 31 + (unsigned char)d[i];
        out.body_len += dlen;
        free(in);
        pos += (size_t)r;
        if (r == 0 && fed == len) break;  /* needs bytes there are not */
    }
    out.done = c.done;
    out.consumed = pos;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    if (len == 0) return 0;
    size_t piece = 1 + data[0] % 16, max_data = 1 + data[0] / 16;
    data++, len--;
    run whole = decode(data, len, len ? len : 1, SIZE_MAX);
    run split = decode(data, len, piece, max_data);
    CHECK(whole.err == split.err);
    if (whole.err) return 0;
    CHECK(whole.done == split.done && whole.consumed == split.consumed);
    CHECK(whole.body_len == split.body_len && whole.body_sum == split.body_sum);
    return 0;
}
