/* URLs for the HTTP client (internal): a strict parser of http and https
 * URLs, RFC 3986 reference resolution (base URLs, redirects' Location) and
 * the percent-encoding of query parameters.
 *
 * Strict means: only http and https; no userinfo (a URL with "user@" is
 * refused rather than silently sending credentials, or silently dropping
 * them); a host of letters, digits, '-', '.', '_' or an IPv6 literal in
 * brackets; a decimal port 1..65535; no spaces, control characters or
 * bytes >= 0x7f anywhere. The fragment is dropped (it never goes on the
 * wire).
 *
 * A parsed URL keeps the allocator it was made with (weft__mem), so that it
 * can be freed after the loop ended, as every object that may outlive its
 * loop does.
 */
#ifndef WEFT_HTTP_URL_H
#define WEFT_HTTP_URL_H

#include "core_iface.h"

#include <stdbool.h>
#include <stddef.h>

/* A parsed URL. Every string lives in `buf`, owned (weft__url_free). */
typedef struct weft__url {
    char *buf;
    const char *scheme;   /* "http" or "https" */
    const char *host;     /* lower-case; an IPv6 literal without brackets */
    const char *port;     /* decimal, the scheme's default if none was given */
    const char *target;   /* path and query, starting with '/' */
    const char *origin;   /* "scheme://host:port", brackets around IPv6 */
    const char *href;     /* the whole URL, normalised, without fragment */
    unsigned portnum;
    bool tls;             /* https */
    weft__mem mem;
} weft__url;

/* Parses the absolute URL `s` into *u (the caller's: weft__url_free).
 * Returns 0, WEFT_EURL (malformed, a relative reference, userinfo, or a
 * scheme other than http/https) or WEFT_ENOMEM; on error *u is untouched. */
int weft__url_parse(weft__url *u, const char *s);
/* Resolves the reference `ref` (absolute or relative, RFC 3986 section 5)
 * against `base` into *out, as weft__url_parse. A NULL base accepts only
 * absolute references. */
int weft__url_resolve(weft__url *out, const weft__url *base, const char *ref);
/* Frees u's strings; u may be zeroed or already freed. */
void weft__url_free(weft__url *u);

/* Percent-encodes s[0, len) for a query component (everything but
 * RFC 3986's unreserved characters is %XX) into out, which must hold
 * weft__url_encoded_len(s, len) bytes; returns the bytes written. */
size_t weft__url_encode(char *out, const char *s, size_t len);
size_t weft__url_encoded_len(const char *s, size_t len);
/* Percent-decodes the string s in place (it only shrinks). A '%' not
 * followed by two hex digits, and "%00", stay as they are: no decoded
 * string holds a NUL. */
void weft__url_decode(char *s);

#endif
