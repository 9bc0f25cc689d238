/* The tls layer's internals that tests (and the http layer) may use. */
#ifndef WEFT_TLS_INTERNAL_H
#define WEFT_TLS_INTERNAL_H

#include "weft/stream.h"

#include <openssl/ssl.h>

/* The OpenSSL connection under a TLS stream, or NULL if `s` is not one.
 * Borrowed. For tests that drive OpenSSL directly (SSL_key_update). */
SSL *weft__tls_ssl(const weft_stream *s);

#endif
