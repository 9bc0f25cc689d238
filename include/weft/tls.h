/* weft TLS: streams encrypted with OpenSSL, for clients and servers.
 *
 * A TLS connection is a weft_stream (weft/stream.h) like any other: the
 * handshake happens in weft_tls_connect / weft_tls_accept, and what comes
 * back reads and writes as a plain socket's stream does. Certificates are
 * verified by default, against the system's CA store, with the host name
 * checked and sent as SNI; turning that off takes a flag whose name says
 * what it does.
 *
 * Everything follows weft.h's conventions: suspension points honour the
 * task's scopes (cancellation, deadlines), errors are negative codes.
 */
#ifndef WEFT_TLS_H
#define WEFT_TLS_H

#include <weft.h>
#include <weft/stream.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A TLS configuration (OpenSSL's SSL_CTX): certificates, trust, versions.
 * Made once, shared by many connections of one loop's thread. */
typedef struct weft_tls_ctx weft_tls_ctx;

enum {
    /* The context accepts connections (weft_tls_accept): cert_file and
     * key_file are required. Without it, the context connects. */
    WEFT_TLS_SERVER = 1 << 0,
    /* Clients: do not verify the peer's certificate or host name. Anyone
     * on the path can then read and change the traffic: for tests only. */
    WEFT_TLS_INSECURE_SKIP_VERIFY = 1 << 1,
};

/* Options for weft_tls_ctx_new; zero-initialise: every zero field means the
 * default. Strings are copied or loaded at once: none needs to outlive the
 * call. */
typedef struct weft_tls_opts {
    unsigned flags;          /* WEFT_TLS_* */
    const char *ca_file;     /* PEM file of trusted CAs; NULL (with ca_dir NULL):
                                the system store (SSL_CERT_FILE / SSL_CERT_DIR
                                honoured) */
    const char *ca_dir;      /* a c_rehash'd directory of trusted CAs */
    const char *cert_file;   /* PEM certificate chain: the server's, or a
                                client certificate */
    const char *key_file;    /* its private key (PEM) */
    const char *alpn;        /* ALPN protocols, comma-separated in order of
                                preference ("http/1.1"); NULL: none offered */
    int64_t handshake_timeout; /* 0 = 10 s (h2o); WEFT_FOREVER = none */
} weft_tls_opts;

/* Makes a context. Returns 0 and *out (the caller's: weft_tls_ctx_free), or
 * WEFT_EINVAL (SERVER without cert/key, both SERVER and INSECURE...),
 * -ENOENT or WEFT_ETLS when a file cannot be loaded, WEFT_ENOMEM.
 * [the tls helper completes this contract] */
WEFT_EXTERN int weft_tls_ctx_new(weft_tls_ctx **out, const weft_tls_opts *opts);
/* Frees the context; streams made with it may outlive it. NULL: no-op. */
WEFT_EXTERN void weft_tls_ctx_free(weft_tls_ctx *ctx);

/* Suspension point. Runs a client handshake on the connected socket `fd`,
 * sending `host` as SNI and checking the certificate names it (an IP
 * literal is checked as an IP address). On success *out is a stream that
 * owns fd (unless sopts->borrow_fd). On failure fd is still the caller's and
 * open. Returns 0, WEFT_ECERT* for a certificate the checks refuse, WEFT_ETLS,
 * -ECONNRESET / WEFT_EOF-like transport errors, cancellation codes.
 * [the tls helper completes this contract] */
WEFT_EXTERN int weft_tls_connect(weft_stream **out, weft_tls_ctx *ctx, int fd,
                                 const char *host, const weft_stream_opts *sopts);
/* Suspension point. The server side of the handshake on an accepted `fd`;
 * as weft_tls_connect. */
WEFT_EXTERN int weft_tls_accept(weft_stream **out, weft_tls_ctx *ctx, int fd,
                                const weft_stream_opts *sopts);
/* The ALPN protocol agreed on the stream ("http/1.1"), or NULL: none, or not
 * a TLS stream. Borrowed: valid while the stream is. */
WEFT_EXTERN const char *weft_tls_alpn(const weft_stream *s);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_TLS_H */
