/* weft TLS: streams encrypted with OpenSSL, for clients and servers.
 *
 * A TLS connection is a weft_stream (weft/stream.h) like any other: the
 * handshake happens in weft_tls_connect / weft_tls_accept, and what comes
 * back reads and writes as a plain socket's stream does. Certificates are
 * verified by default, against the system's CA store, with the host name
 * checked and sent as SNI; turning that off takes a flag whose name says
 * what it does. TLS 1.2 is the oldest version spoken; renegotiation is
 * refused.
 *
 * On a TLS stream:
 *  - weft_stream_shutdown sends close_notify (TLS's end of data); reading
 *    goes on until the peer's own close_notify or end of connection.
 *  - Reading reports end of stream (0) both on the peer's close_notify and
 *    on a connection that simply ends without one ("truncation"). Most
 *    HTTP clients do the same: an HTTP body has its own framing
 *    (Content-Length, chunked), which notices a message cut short. A
 *    protocol that relies on end of stream alone to delimit data must not
 *    trust a TLS end of stream more than a TCP one.
 *  - Freeing the stream sends close_notify if it has not been sent, without
 *    waiting (best effort), then closes the fd (unless borrow_fd).
 *  - Errors after the handshake: WEFT_ETLS (a protocol error, a bad record,
 *    a fatal alert from the peer), or the socket's -errno (-ECONNRESET,
 *    -EPIPE). SIGPIPE is never raised.
 *  - One task may read while another writes (full duplex), as on any stream.
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
    /* Servers: ask every client for a certificate and refuse the handshake
     * unless one comes that chains to ca_file / ca_dir (or, with neither,
     * to the system store). Without it a server asks for none. */
    WEFT_TLS_REQUIRE_CLIENT_CERT = 1 << 2,
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
    const char *key_file;    /* its private key (PEM, unencrypted) */
    const char *alpn;        /* ALPN protocols, comma-separated in order of
                                preference ("h2,http/1.1"); NULL: none. A
                                client offers them; a server picks the first
                                of its own list that the client offers, and
                                refuses a client that offers only others
                                (RFC 7301's no_application_protocol alert);
                                a client that offers none is accepted. */
    int64_t handshake_timeout; /* 0 = 10 s (h2o); WEFT_FOREVER = none */
} weft_tls_opts;

/* Makes a context. Not a suspension point, and needs no loop. Returns 0 and
 * *out (the caller's: weft_tls_ctx_free), or:
 *  - WEFT_EINVAL: opts NULL; an unknown flag; SERVER without cert_file and
 *    key_file; cert_file without key_file or the reverse; SERVER with
 *    INSECURE_SKIP_VERIFY; REQUIRE_CLIENT_CERT without SERVER; a negative
 *    handshake_timeout; an empty ALPN protocol name or one over 255 bytes;
 *  - -ENOENT, -EACCES (...): -errno of a file or directory that cannot be
 *    opened;
 *  - WEFT_ETLS: a file that is not the PEM it should be, a key that does not
 *    match its certificate, or the system store failing to load
 *    (weft_tls_error_detail says which);
 *  - WEFT_ENOMEM. */
WEFT_EXTERN int weft_tls_ctx_new(weft_tls_ctx **out, const weft_tls_opts *opts);
/* Frees the context. Streams made with it may outlive it (they hold
 * OpenSSL's reference), but no handshake with it may be under way. NULL:
 * no-op. */
WEFT_EXTERN void weft_tls_ctx_free(weft_tls_ctx *ctx);

/* Suspension point. Runs a client handshake on the connected socket `fd`
 * (which it makes non-blocking), within ctx's handshake_timeout. `host` (not
 * borrowed beyond the call) is sent as SNI and the certificate must name it;
 * an IP literal ("127.0.0.1", "::1", or "[::1]") is not sent as SNI and must
 * be among the certificate's IP addresses. `host` may be NULL only with
 * INSECURE_SKIP_VERIFY. `sopts` (may be NULL) as for weft_stream_new_fd.
 *
 * On success *out is the caller's stream (weft_stream_close / _free), which
 * owns fd, unless sopts->borrow_fd: then closing the stream leaves fd open
 * (and forgotten by the loop). On any failure *out is untouched, and fd is
 * still open and the caller's (to close with weft_close); nothing else is
 * left behind. Returns 0 or:
 *  - WEFT_ECERTEXPIRED, WEFT_ECERTHOST, WEFT_ECERTSELFSIGNED,
 *    WEFT_ECERTUNTRUSTED, WEFT_ECERT: the peer's certificate was refused
 *    (expired or not yet valid; naming another host; self-signed; issued by
 *    no trusted CA; any other reason), see weft_tls_error_detail;
 *  - WEFT_ETLS: the handshake failed otherwise (no common version or
 *    cipher, no common ALPN protocol, a fatal alert from the peer, not TLS
 *    at all);
 *  - WEFT_EOF: the peer closed the connection during the handshake (as a
 *    server that does not like the client does); -ECONNRESET, -EPIPE or
 *    another -errno of the socket;
 *  - WEFT_ETIMEDOUT: the handshake timeout (or a scope's deadline) passed;
 *    WEFT_ECANCELED;
 *  - WEFT_EINVAL: ctx NULL or a server context, fd < 0, host NULL (without
 *    INSECURE_SKIP_VERIFY) or empty; -EBADF: fd is not open;
 *  - WEFT_ENOMEM, WEFT_ENOTASK, WEFT_EWRONGLOOP.
 */
WEFT_EXTERN int weft_tls_connect(weft_stream **out, weft_tls_ctx *ctx, int fd,
                                 const char *host, const weft_stream_opts *sopts);
/* Suspension point. The server side of the handshake on an accepted `fd`,
 * as weft_tls_connect (same ownership, same errors; WEFT_EINVAL for a client
 * context). The WEFT_ECERT* codes come only with REQUIRE_CLIENT_CERT, for
 * the client's certificate (WEFT_ECERT also when the client sent none). */
WEFT_EXTERN int weft_tls_accept(weft_stream **out, weft_tls_ctx *ctx, int fd,
                                const weft_stream_opts *sopts);
/* The ALPN protocol agreed on the stream ("http/1.1"), or NULL: none, or not
 * a TLS stream. Borrowed: valid while the stream is. Not a suspension
 * point. */
WEFT_EXTERN const char *weft_tls_alpn(const weft_stream *s);

/* Why the last TLS call that failed on this thread failed, in words:
 * OpenSSL's verification message with the certificate's depth and subject
 * ("certificate has expired (depth 0: /CN=localhost)"), its error reason
 * ("wrong version number", "sslv3 alert handshake failure"), or the file
 * that would not load. Set by weft_tls_ctx_new, weft_tls_connect and
 * weft_tls_accept (each clears it first) and by TLS streams' reads and
 * writes that fail with WEFT_ETLS; "" when there is nothing to add to the
 * code. Never NULL. A thread-local buffer, like errno: read it right after
 * the failure, before the task suspends, since another task's failure
 * overwrites it. Not a suspension point. */
WEFT_EXTERN const char *weft_tls_error_detail(void);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_TLS_H */
