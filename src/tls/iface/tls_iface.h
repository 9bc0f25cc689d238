/* What the tls layer shows the layers built on it (src/http) and tests, and
 * nothing else: the public weft/tls.h says the rest. */
#ifndef WEFT_TLS_IFACE_H
#define WEFT_TLS_IFACE_H

#include "weft/stream.h"

#include <openssl/ssl.h>

/* The OpenSSL connection under a TLS stream, or NULL if `s` is not one.
 * Borrowed. For tests that drive OpenSSL directly (SSL_key_update). */
SSL *weft__tls_ssl(const weft_stream *s);

#endif
