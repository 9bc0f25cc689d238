/* What the files of weft-httpbin share: the request as httpbin reflects it
 * (reflect.c), the random numbers (random.c) and the sample documents
 * (samples.c). Not installed; httpbin.h is the library's interface.
 */
#ifndef WEFT_HTTPBIN_INTERNAL_H
#define WEFT_HTTPBIN_INTERNAL_H

#include "httpbin.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --------------------------------------------------------------- json.c */

/* j as JSON text and a newline, in a new string (free it; *len its
 * length): what json_dumpb(j, ..., flags | JSON_ENSURE_ASCII |
 * JSON_ENCODE_ANY) writes, where flags may hold JSON_COMPACT and
 * JSON_SORT_KEYS. NULL when memory runs out, or for a string that is not
 * UTF-8 (jansson refuses to dump it too). */
char *httpbin__json(json_t *j, unsigned flags, size_t *len);

/* ------------------------------------------------------------ reflect.c */

/* The keys of httpbin's get_dict, as bits: which parts of the request a
 * response shows. */
enum {
    HB_URL = 1 << 0,
    HB_ARGS = 1 << 1,
    HB_FORM = 1 << 2,
    HB_DATA = 1 << 3,
    HB_ORIGIN = 1 << 4,
    HB_HEADERS = 1 << 5,
    HB_FILES = 1 << 6,
    HB_JSON = 1 << 7,
    HB_METHOD = 1 << 8,
};

/* The request's target split at '?': the path (leading slashes past the
 * first dropped, as werkzeug's server drops them) and the raw query (empty,
 * not NULL, when there is none). Views into the request; not terminated. */
void httpbin__target(weft_httpd_req *req, const char **path, size_t *plen,
                     const char **query, size_t *qlen);

/* Percent-decodes s[0, len) (and '+' as space when `plus`) into a new
 * NUL-terminated string (free it); *out_len is its length, which may be
 * shorter than strlen when it holds a NUL. NULL when memory runs out. A '%'
 * not followed by two hex digits is kept as it is, as werkzeug keeps it. */
char *httpbin__unquote(const char *s, size_t len, bool plus, size_t *out_len);
/* The same into o, which holds len + 1 bytes; returns the length. */
size_t httpbin__unquote_to(char *o, const char *s, size_t len, bool plus);

/* The value of query parameter `name` in query[0, qlen), decoded, in a new
 * string (free it): the first pair whose key equals `name`, compared
 * without case when `nocase` (httpbin looks most parameters up through a
 * case-insensitive dict). Returns 1 and sets *out, 0 when there is no such
 * parameter, or WEFT_ENOMEM. */
int httpbin__arg(const char *query, size_t qlen, const char *name, bool nocase, char **out);

/* s[0, len) as a JSON string, bytes that are not UTF-8 replaced by U+FFFD
 * (a new reference; NULL when memory runs out). */
json_t *httpbin__text(const char *s, size_t len);

/* The pairs of a query (or form body) as httpbin shows "args": decoded,
 * a repeated key an array of its values. A new reference, or NULL. */
json_t *httpbin__pairs(const char *s, size_t len);

/* A dict of the request as httpbin's get_dict builds it, with the keys
 * given as HB_* bits; reading the body (for HB_FORM, HB_DATA, HB_FILES,
 * HB_JSON) may suspend. On success *out is a new reference. Returns 0,
 * WEFT_ENOMEM, or weft_httpd_req_body's code. */
int httpbin__dict(weft_httpd_req *req, unsigned keys, json_t **out);

/* The request's Host header, or "localhost" for a request without one. */
const char *httpbin__host(weft_httpd_req *req);

/* ------------------------------------------------------------- random.c */

/* Python's random module's generator (MT19937), so that /bytes/N?seed=S
 * gives the very bytes python3-httpbin gives. */
typedef struct httpbin__mt {
    uint32_t s[624];
    unsigned i;
} httpbin__mt;

/* random.seed(seed) for an integer seed: Python seeds with |seed|, split
 * into 32-bit words. */
void httpbin__mt_seed(httpbin__mt *m, int64_t seed);
/* random.randint(0, 255). */
uint8_t httpbin__mt_byte(httpbin__mt *m);

/* Fills buf with len bytes from getrandom(2). Returns 0 or -errno. */
int httpbin__random(void *buf, size_t len);
/* A double uniform in [0, 1), from getrandom(2) (0 if that fails: the
 * callers make a choice that must happen anyway). */
double httpbin__random_unit(void);
/* A version 4 UUID in its 36-character text form, NUL-terminated. Returns 0
 * or -errno. */
int httpbin__uuid4(char out[37]);

/* ------------------------------------------------------------ samples.c */

extern const char httpbin__moby_html[];   /* /html */
extern const char httpbin__teapot[];      /* /status/418 */
extern const char httpbin__slideshow[];   /* /json */

#endif
