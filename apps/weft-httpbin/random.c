/* Random numbers for weft-httpbin: the kernel's (getrandom) for UUIDs,
 * unseeded bytes and /status's weighted choice, and Python's Mersenne
 * Twister for seeded bytes.
 *
 * python3-httpbin answers /bytes/N?seed=S with random.seed(S) followed by N
 * calls of random.randint(0, 255); clients use the seed to get the same
 * bytes every time, so the same generator is implemented here (MT19937 as
 * Matsumoto and Nishimura published it, seeded by init_by_array as CPython
 * seeds it with an integer) and the bytes are identical.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>

enum { MT_N = 624, MT_M = 397 };

static void mt_init(httpbin__mt *m, uint32_t s)
{
    m->s[0] = s;
    for (unsigned i = 1; i < MT_N; i++)
        m->s[i] = 1812433253u * (m->s[i - 1] ^ (m->s[i - 1] >> 30)) + i;
    m->i = MT_N;
}

/* CPython's random_seed: the key is |seed| in 32-bit words, least
 * significant first, at least one word (so 0 seeds as [0]). */
void httpbin__mt_seed(httpbin__mt *m, int64_t seed)
{
    uint64_t a = seed < 0 ? (uint64_t)0 - (uint64_t)seed : (uint64_t)seed;
    uint32_t key[2] = {(uint32_t)a, (uint32_t)(a >> 32)};
    unsigned klen = key[1] ? 2 : 1;
    mt_init(m, 19650218u);
    unsigned i = 1, j = 0;
    for (unsigned k = MT_N > klen ? MT_N : klen; k; k--) {
        m->s[i] = (m->s[i] ^ ((m->s[i - 1] ^ (m->s[i - 1] >> 30)) * 1664525u)) + key[j] + j;
        if (++i >= MT_N) { m->s[0] = m->s[MT_N - 1]; i = 1; }
        if (++j >= klen) j = 0;
    }
    for (unsigned k = MT_N - 1; k; k--) {
        m->s[i] = (m->s[i] ^ ((m->s[i - 1] ^ (m->s[i - 1] >> 30)) * 1566083941u)) - i;
        if (++i >= MT_N) { m->s[0] = m->s[MT_N - 1]; i = 1; }
    }
    m->s[0] = 0x80000000u;
}

static uint32_t mt_twist(uint32_t a, uint32_t b, uint32_t c)
{
    uint32_t y = (a & 0x80000000u) | (b & 0x7fffffffu);
    return c ^ (y >> 1) ^ ((y & 1) ? 0x9908b0dfu : 0);
}

static uint32_t mt_next(httpbin__mt *m)
{
    if (m->i >= MT_N) {
        unsigned k = 0;
        for (; k < MT_N - MT_M; k++)
            m->s[k] = mt_twist(m->s[k], m->s[k + 1], m->s[k + MT_M]);
        for (; k < MT_N - 1; k++)
            m->s[k] = mt_twist(m->s[k], m->s[k + 1], m->s[k + MT_M - MT_N]);
        m->s[MT_N - 1] = mt_twist(m->s[MT_N - 1], m->s[0], m->s[MT_M - 1]);
        m->i = 0;
    }
    uint32_t y = m->s[m->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

/* randint(0, 255) is randrange(256), which draws 9 bits (256's bit length)
 * until the number is below 256. */
uint8_t httpbin__mt_byte(httpbin__mt *m)
{
    for (;;) {
        uint32_t r = mt_next(m) >> (32 - 9);
        if (r < 256) return (uint8_t)r;
    }
}

int httpbin__random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

double httpbin__random_unit(void)
{
    uint64_t r = 0;
    if (httpbin__random(&r, sizeof r)) return 0;
    return (double)(r >> 11) / 9007199254740992.0;  /* 53 bits / 2^53 */
}

int httpbin__uuid4(char out[37])
{
    unsigned char b[16];
    int err = httpbin__random(b, sizeof b);
    if (err) return err;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);  /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);  /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
             b[12], b[13], b[14], b[15]);
    return 0;
}
