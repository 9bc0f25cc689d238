/* TLS streams over OpenSSL (include/weft/tls.h): contexts, the client and
 * server handshakes, and the transport that plugs a TLS connection into
 * weft_stream.
 *
 * OpenSSL talks to the socket through a BIO of our own. Reads go straight
 * to recv(2), and say "retry" on EAGAIN, which OpenSSL turns into
 * SSL_ERROR_WANT_READ: the task then waits for the fd and calls again.
 * Writes never say "retry": what send(2) (with MSG_NOSIGNAL: SIGPIPE never
 * fires) does not take at once goes to a queue of ciphertext that we send
 * ourselves. So OpenSSL never holds a half-written record, and three
 * troubles of the plain socket BIO go away: SSL_write's rule that a retry
 * repeat the same buffer (a cancelled write would leave OpenSSL committed
 * to bytes the stream thinks unsent); a read that must write (a KeyUpdate
 * response) while another task's write is pending, which OpenSSL refuses
 * as a "bad write retry"; and SIGPIPE from the socket BIO's write(2). The
 * queue holds at most the record being written and what the reader owes
 * (the KeyUpdate response), since each SSL_write call makes one record
 * (SSL_MODE_ENABLE_PARTIAL_WRITE) and the writer sends the queue before
 * making another.
 *
 * A memory BIO pair would do the same with one more copy of every byte in
 * each direction; the read side gains nothing from it, since OpenSSL
 * already buffers the record it is reading.
 *
 * Errors. OpenSSL's error queue is per thread, and tasks of one thread
 * interleave at suspension points; every SSL call here starts with an empty
 * queue and is examined, then the queue emptied, before anything suspends.
 */
#include "core_iface.h"
#include "io_iface.h"
#include "tls_iface.h"

#include "weft/io.h"
#include "weft/tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* h2o's handshake timeout (docs: DEFAULTS.md). */
#define HANDSHAKE_TIMEOUT (10 * WEFT_SECOND)
/* A queue emptied after growing past this gives its memory back: only a
 * handshake flight with a long certificate chain makes it that big. */
#define QUEUE_KEEP (64 * 1024)

/* ------------------------------------------------------------ detail */

static __thread char detail[256];

const char *weft_tls_error_detail(void) { return detail; }

static void set_detail(const char *fmt, const char *a, const char *b) {
    snprintf(detail, sizeof detail, fmt, a, b);
}

/* Sets the detail from OpenSSL's error queue (its first error) and empties
 * the queue. Returns WEFT_ENOMEM if an allocation failed anywhere in the
 * queue (OpenSSL pushes that deep down, under the error of the call that
 * gave up, which alone would read as a TLS failure), else `code`. */
static int error_from_queue(const char *what, int code) {
    unsigned long e = ERR_peek_error(), x;
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    char buf[32];
    if (!r && e) {
        snprintf(buf, sizeof buf, "OpenSSL error %lx", e);
        r = buf;
    }
    if (what) set_detail("%s: %s", what, r ? r : "failed");
    else if (r) set_detail("%s%s", r, "");
    while ((x = ERR_get_error()))
        if (ERR_GET_REASON(x) == ERR_R_MALLOC_FAILURE) code = WEFT_ENOMEM;
    return code;
}

/* ------------------------------------------------------------ contexts */

struct weft_tls_ctx {
    SSL_CTX *ssl_ctx;
    unsigned flags;
    int64_t handshake_timeout;
    size_t alpn_len;
    unsigned char alpn[];      /* the ALPN list in wire form: length-prefixed */
};

/* Converts "h2,http/1.1" to the wire form (into `wire`, if not NULL) and
 * returns its length, or WEFT_EINVAL for an empty or too long name. */
static int alpn_wire(const char *list, unsigned char *wire) {
    int len = 0;
    for (const char *p = list; p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == 0 || n > 255 || len > 65535 - 256) return WEFT_EINVAL;
        if (wire) {
            wire[len] = (unsigned char)n;
            memcpy(wire + len + 1, p, n);
        }
        len += 1 + (int)n;
        p = comma ? comma + 1 : NULL;
    }
    return len;
}

/* The server's ALPN choice: the first protocol of its own list that the
 * client offers (OpenSSL's SSL_select_next_proto also does this, but before
 * 3.0.15 misreads an empty client list: CVE-2024-5535). `in` was checked
 * well formed by OpenSSL. No overlap is a fatal no_application_protocol
 * alert, as RFC 7301 asks (and Go and nginx do). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg) {
    (void)ssl;
    const weft_tls_ctx *ctx = arg;
    for (size_t i = 0; i < ctx->alpn_len; i += 1u + ctx->alpn[i]) {
        const unsigned char *mine = ctx->alpn + i;
        for (unsigned j = 0; j < inlen; j += 1u + in[j]) {
            if (in[j] == mine[0] && !memcmp(in + j + 1, mine + 1, mine[0])) {
                *out = mine + 1;  /* OpenSSL copies it into the session */
                *outlen = mine[0];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* Remembers why verification failed, with the certificate it failed on:
 * the handshake's error says only "certificate verify failed". */
static int verify_cb(int ok, X509_STORE_CTX *store) {
    if (ok) return ok;
    char subject[160] = "";
    X509 *cert = X509_STORE_CTX_get_current_cert(store);
    if (cert) X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    snprintf(detail, sizeof detail, "%s (depth %d: %s)",
             X509_verify_cert_error_string(X509_STORE_CTX_get_error(store)),
             X509_STORE_CTX_get_error_depth(store), subject);
    return ok;
}

static int check_opts(const weft_tls_opts *o) {
    unsigned known = WEFT_TLS_SERVER | WEFT_TLS_INSECURE_SKIP_VERIFY | WEFT_TLS_REQUIRE_CLIENT_CERT;
    bool server = o->flags & WEFT_TLS_SERVER;
    if (o->flags & ~known) return WEFT_EINVAL;
    if (!o->cert_file != !o->key_file) return WEFT_EINVAL;
    if (server && (!o->cert_file || (o->flags & WEFT_TLS_INSECURE_SKIP_VERIFY))) return WEFT_EINVAL;
    if (!server && (o->flags & WEFT_TLS_REQUIRE_CLIENT_CERT)) return WEFT_EINVAL;
    if (o->handshake_timeout < 0) return WEFT_EINVAL;
    return 0;
}

/* -errno if `path` cannot be read (access(2)), so a missing file is
 * -ENOENT rather than OpenSSL's "no such file" buried in WEFT_ETLS. */
static int readable(const char *path, int mode) {
    if (access(path, mode) == 0) return 0;
    int err = errno;
    set_detail("%s: %s", path, strerror(err));
    return -err;
}

static int load_identity(SSL_CTX *sc, const weft_tls_opts *o) {
    int err;
    if ((err = readable(o->cert_file, R_OK)) || (err = readable(o->key_file, R_OK))) return err;
    if (SSL_CTX_use_certificate_chain_file(sc, o->cert_file) != 1)
        return error_from_queue(o->cert_file, WEFT_ETLS);
    if (SSL_CTX_use_PrivateKey_file(sc, o->key_file, SSL_FILETYPE_PEM) != 1)
        return error_from_queue(o->key_file, WEFT_ETLS);
    if (SSL_CTX_check_private_key(sc) != 1)
        return error_from_queue("key does not match certificate", WEFT_ETLS);
    return 0;
}

/* Trusted CAs: the files given, else the system's store. */
static int load_trust(SSL_CTX *sc, const weft_tls_opts *o) {
    int err;
    if (o->ca_file && (err = readable(o->ca_file, R_OK))) return err;
    if (o->ca_dir && (err = readable(o->ca_dir, R_OK | X_OK))) return err;
    int ok = o->ca_file || o->ca_dir ? SSL_CTX_load_verify_locations(sc, o->ca_file, o->ca_dir)
                                     : SSL_CTX_set_default_verify_paths(sc);
    if (ok != 1)
        return error_from_queue(o->ca_file ? o->ca_file : o->ca_dir ? o->ca_dir : "system CA store",
                                WEFT_ETLS);
    return 0;
}

static int configure(weft_tls_ctx *ctx, const weft_tls_opts *o) {
    SSL_CTX *sc = ctx->ssl_ctx;
    bool server = o->flags & WEFT_TLS_SERVER;
    bool verify = server ? o->flags & WEFT_TLS_REQUIRE_CLIENT_CERT
                         : !(o->flags & WEFT_TLS_INSECURE_SKIP_VERIFY);
    int err;
    if (!SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION)) return WEFT_ENOMEM;
    /* Renegotiation would make a write wait to read (and is a DoS lever);
     * TLS 1.3 dropped it. */
    SSL_CTX_set_options(sc, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_AUTO_RETRY | SSL_MODE_RELEASE_BUFFERS);
    if (o->cert_file && (err = load_identity(sc, o))) return err;
    if ((verify || o->ca_file || o->ca_dir) && (err = load_trust(sc, o))) return err;
    if (verify) {
        int mode = SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
        SSL_CTX_set_verify(sc, mode, verify_cb);
        /* Tell clients which CAs we accept, so one with several
         * certificates can pick (NULL, ignored, if the file has none). */
        if (server && o->ca_file) SSL_CTX_set_client_CA_list(sc, SSL_load_client_CA_file(o->ca_file));
    } else {
        SSL_CTX_set_verify(sc, SSL_VERIFY_NONE, NULL);
    }
    /* Resuming a session whose client was verified needs a context id. */
    if (server && !SSL_CTX_set_session_id_context(sc, (const unsigned char *)"weft", 4))
        return WEFT_ENOMEM;
    if (ctx->alpn_len && server) SSL_CTX_set_alpn_select_cb(sc, alpn_select, ctx);
    if (ctx->alpn_len && !server && SSL_CTX_set_alpn_protos(sc, ctx->alpn, (unsigned)ctx->alpn_len))
        return WEFT_ENOMEM;  /* 0 is success here */
    return 0;
}

int weft_tls_ctx_new(weft_tls_ctx **out, const weft_tls_opts *o) {
    detail[0] = 0;
    if (!o) return WEFT_EINVAL;
    int err = check_opts(o);
    int alen = o->alpn ? alpn_wire(o->alpn, NULL) : 0;
    if (err || alen < 0) return err ? err : alen;
    /* malloc, not the loop's allocator: a context may be made before any
     * loop runs and shared by many. */
    weft_tls_ctx *ctx = calloc(1, sizeof *ctx + (size_t)alen);
    if (!ctx) return WEFT_ENOMEM;
    ctx->flags = o->flags;
    ctx->handshake_timeout = o->handshake_timeout ? o->handshake_timeout : HANDSHAKE_TIMEOUT;
    ctx->alpn_len = (size_t)alen;
    if (alen) alpn_wire(o->alpn, ctx->alpn);
    ERR_clear_error();
    ctx->ssl_ctx = SSL_CTX_new(o->flags & WEFT_TLS_SERVER ? TLS_server_method() : TLS_client_method());
    err = ctx->ssl_ctx ? configure(ctx, o) : WEFT_ENOMEM;
    ERR_clear_error();
    if (err) {
        weft_tls_ctx_free(ctx);
        return err;
    }
    *out = ctx;
    return 0;
}

void weft_tls_ctx_free(weft_tls_ctx *ctx) {
    if (!ctx) return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

/* ------------------------------------------------------------ connections */

/* One TLS connection: the stream's transport context.
 * Invariants: q[qoff, qlen) is ciphertext OpenSSL wrote that the socket has
 * not taken yet, to be sent before anything else; owed > 0 only after a
 * write was cancelled while its records were leaving (see tls_writev). */
typedef struct conn {
    SSL *ssl;
    int fd;
    bool borrowed;             /* sopts->borrow_fd: leave fd open at close */
    bool fatal;                /* OpenSSL or the socket failed: no close_notify */
    bool eof;                  /* recv said end of file */
    bool rblocked;             /* the last recv said EAGAIN */
    int syserr;                /* -errno of the socket call that failed */
    int werr;                  /* a write error held for the next write */
    size_t owed;               /* plaintext taken by a cancelled write */
    unsigned char *q;
    size_t qoff, qlen, qcap;
    bool waiting[2];           /* a task waits on fd for [0] reading, [1] writing */
    weft_event turn[2];        /* the other task of the pair waits here */
    char alpn[256];            /* the agreed ALPN protocol, NUL-terminated */
    weft__mem mem;             /* the loop's allocator, kept: a stream may
                                  be freed after its loop ended */
} conn;

static int conn_wait(conn *c, int dir);

/* Sends the queue. With `wait`, waits for room until it is empty; without,
 * stops at the first EAGAIN. Returns 0 or an error: a socket error sticks
 * (werr). */
static int flush(conn *c, bool wait) {
    while (c->qoff < c->qlen) {
        ssize_t n = weft__sys.send(c->fd, c->q + c->qoff, c->qlen - c->qoff, MSG_NOSIGNAL);
        if (n >= 0) {
            c->qoff += (size_t)n;
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            c->fatal = true;
            return c->werr = -errno;
        }
        if (!wait) return 0;
        int err = conn_wait(c, 1);
        if (err) return err;
    }
    c->qoff = c->qlen = 0;
    if (c->qcap > QUEUE_KEEP) {
        weft__mem_free(c->mem, c->q);
        c->q = NULL;
        c->qcap = 0;
    }
    return 0;
}

/* Appends to the queue; false on ENOMEM. */
static bool enqueue(conn *c, const void *p, size_t n) {
    if (c->qoff) {
        memmove(c->q, c->q + c->qoff, c->qlen - c->qoff);
        c->qlen -= c->qoff;
        c->qoff = 0;
    }
    if (c->qcap - c->qlen < n) {
        size_t cap = c->qcap ? c->qcap : 16 * 1024 + 512;
        while (cap - c->qlen < n) cap *= 2;
        unsigned char *q = weft__mem_grow(c->mem, c->q, cap);
        if (!q) return false;
        c->q = q;
        c->qcap = cap;
    }
    memcpy(c->q + c->qlen, p, n);
    c->qlen += n;
    return true;
}

/* ------------------------------------------------------------ the BIO */

/* Writes never ask OpenSSL to retry: what the socket does not take now is
 * queued, behind whatever is queued already. */
static int bio_write(BIO *b, const char *buf, int len) {
    conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    size_t done = 0;
    while (c->qoff == c->qlen && done < (size_t)len) {
        ssize_t n = weft__sys.send(c->fd, buf + done, (size_t)len - done, MSG_NOSIGNAL);
        if (n >= 0) done += (size_t)n;
        else if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        else if (errno != EINTR) {
            c->syserr = -errno;
            return -1;
        }
    }
    if (done < (size_t)len && !enqueue(c, buf + done, (size_t)len - done)) {
        c->syserr = WEFT_ENOMEM;
        return -1;
    }
    return len;
}

static int bio_read(BIO *b, char *buf, int len) {
    conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    for (;;) {
        ssize_t n = weft__sys.recv(c->fd, buf, (size_t)len, 0);
        if (n > 0) return (int)n;
        if (n == 0) {
            c->eof = true;
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->rblocked = true;
            BIO_set_retry_read(b);
        } else {
            c->syserr = -errno;
        }
        return -1;
    }
}

/* Flush is a no-op (the queue is ours to send); EOF lets OpenSSL tell an
 * ended connection ("unexpected eof") from a failed one. */
static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
    (void)num; (void)ptr;
    if (cmd == BIO_CTRL_FLUSH) return 1;
    if (cmd == BIO_CTRL_EOF) return ((conn *)BIO_get_data(b))->eof;
    return 0;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

/* Made once per process and kept (a reachable global, not a leak). */
static void bio_method_init(void) {
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "weft socket");
    if (m && (!BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
              !BIO_meth_set_ctrl(m, bio_ctrl))) {
        BIO_meth_free(m);
        m = NULL;
    }
    bio_method = m;
}

/* ------------------------------------------------------------ waiting */

/* Waits until fd is readable (dir 0) or writable (1). The fd takes one
 * waiter per direction, and both tasks of a full-duplex pair may need the
 * same one (a write that must read first): the second waits for the
 * first's wake-up, then both retry. */
static int conn_wait(conn *c, int dir) {
    if (c->waiting[dir]) return weft_event_wait(&c->turn[dir]);
    c->waiting[dir] = true;
    int err = dir ? weft_wait_writable(c->fd, WEFT_FOREVER) : weft_wait_readable(c->fd, WEFT_FOREVER);
    c->waiting[dir] = false;
    weft_event_set(&c->turn[dir]);   /* wakes the other task, if it waits */
    weft_event_clear(&c->turn[dir]);
    return err;
}

/* ------------------------------------------------------------ errors */

/* The code for a certificate OpenSSL's verification refused. */
static int cert_code(long v) {
    switch (v) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return WEFT_ECERTEXPIRED;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return WEFT_ECERTHOST;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        return WEFT_ECERTSELFSIGNED;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return WEFT_ECERTUNTRUSTED;
    default:
        return WEFT_ECERT;
    }
}

/* The code for an SSL call that failed with SSL_get_error `e`: WEFT_EOF
 * for every way the peer may have ended the connection (close_notify, or
 * the socket's end of file), which a read reports as end of stream and a
 * handshake or a write as errors. Empties OpenSSL's error queue. */
static int failure(conn *c, int e) {
    if (e == SSL_ERROR_ZERO_RETURN) return WEFT_EOF;
    c->fatal = true;
    if (e == SSL_ERROR_SYSCALL) {
        ERR_clear_error();
        return c->syserr ? c->syserr : c->eof ? WEFT_EOF : -EIO;
    }
    unsigned long err = ERR_peek_error();
    int reason = ERR_GET_LIB(err) == ERR_LIB_SSL ? ERR_GET_REASON(err) : 0;
    int code = WEFT_ETLS;
    if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        code = cert_code(SSL_get_verify_result(c->ssl));  /* detail: verify_cb's */
        ERR_clear_error();
        return code;
    }
    if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) code = WEFT_EOF;
    else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) code = WEFT_ECERT;
    else if (c->syserr) code = c->syserr;
    return error_from_queue(NULL, code);
}

/* Readies the connection for one SSL call. */
static void before(conn *c) {
    ERR_clear_error();
    c->syserr = 0;
    c->rblocked = false;
}

/* After an SSL call failed with SSL_get_error `e`: waits for what OpenSSL
 * wants and returns 0 to retry, or the failure's code. A WANT_READ that no
 * EAGAIN caused (none should) retries at once: with edge-triggered
 * waiting, a wait for data already there could last forever. WANT_WRITE
 * never comes: the BIO queues. */
static int settle(conn *c, int e) {
    if (e == SSL_ERROR_WANT_READ) {
        ERR_clear_error();
        return c->rblocked ? conn_wait(c, 0) : 0;
    }
    return failure(c, e);
}

/* ------------------------------------------------------------ the transport */

/* One record's plaintext, at most, per SSL_read: the stream asks again. */
static ssize_t tls_read(void *ctx, void *buf, size_t len) {
    conn *c = ctx;
    for (;;) {
        size_t n = 0;
        before(c);
        int r = SSL_read_ex(c->ssl, buf, len, &n);
        int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
        /* What the read made OpenSSL write (a KeyUpdate response) goes
         * now if the socket takes it, else with the next write: TLS 1.3
         * asks only that it precede our next data. */
        if (c->qoff < c->qlen) flush(c, false);
        if (e == SSL_ERROR_NONE) return (ssize_t)n;
        int err = settle(c, e);
        if (err == WEFT_EOF) return 0;  /* close_notify, or truncation: see tls.h */
        if (err) return err;
    }
}

/* Encrypts from iov into records, until all is taken or the socket fills
 * up. Returns the plaintext count taken, or the first call's error. */
static ssize_t encrypt(conn *c, const struct iovec *iov, int iovcnt) {
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        for (size_t off = 0; off < iov[i].iov_len;) {
            size_t n = 0;
            before(c);
            int r = SSL_write_ex(c->ssl, (char *)iov[i].iov_base + off, iov[i].iov_len - off, &n);
            if (r == 1) {
                total += n;
                off += n;
                if (c->qoff < c->qlen) return (ssize_t)total;  /* the socket is full */
                continue;
            }
            if (total) {  /* keep what was taken; a real error shows next time */
                int e = SSL_get_error(c->ssl, r), err = 0;
                if (e != SSL_ERROR_WANT_READ) err = failure(c, e);
                c->werr = err == WEFT_EOF ? -EPIPE : err;
                ERR_clear_error();
                return (ssize_t)total;
            }
            int err = settle(c, SSL_get_error(c->ssl, r));
            if (err) return err == WEFT_EOF ? -EPIPE : err;
        }
    }
    return (ssize_t)total;
}

/* Cancel-safe: first the queue from earlier calls leaves (a cancel there
 * took nothing of this call's); then records are made and sent. A cancel
 * while they leave cannot hand the plaintext back, so the count is owed:
 * the stream retries with the same bytes first, and the retry, once the
 * queue is out, reports them taken without encrypting them again. */
static ssize_t tls_writev(void *ctx, const struct iovec *iov, int iovcnt) {
    conn *c = ctx;
    if (c->werr) return c->werr;
    int err = flush(c, true);
    if (err) return err;
    if (c->owed) {
        size_t n = c->owed;
        c->owed = 0;
        return (ssize_t)n;
    }
    ssize_t n = encrypt(c, iov, iovcnt);
    if (n <= 0) return n;
    if ((err = flush(c, true))) {
        if (!c->werr) c->owed = (size_t)n;
        return err;
    }
    return n;
}

/* Sends what the state machine still owes (a KeyUpdate requested by
 * either side goes out with the next write; SSL_shutdown refuses to run
 * before). */
static int finish_pending(conn *c) {
    while (SSL_in_init(c->ssl)) {
        before(c);
        int r = SSL_do_handshake(c->ssl);
        int err = r == 1 ? 0 : settle(c, SSL_get_error(c->ssl, r));
        if (err) return err == WEFT_EOF ? -EPIPE : err;
    }
    return 0;
}

/* close_notify; reading goes on. */
static int tls_shutdown(void *ctx) {
    conn *c = ctx;
    if (c->werr) return c->werr;
    int err = flush(c, true);
    if (!err) err = finish_pending(c);
    if (err) return err;
    before(c);
    int r = SSL_shutdown(c->ssl);
    if (r < 0) {
        err = failure(c, SSL_get_error(c->ssl, r));
        return err == WEFT_EOF ? -EPIPE : err;
    }
    return flush(c, true);
}

static void conn_free(conn *c) {
    SSL_free(c->ssl);  /* and the BIO */
    weft__mem_free(c->mem, c->q);
    weft__mem_free(c->mem, c);
}

/* Not a suspension point: close_notify goes if the socket takes it now. */
static int tls_close(void *ctx) {
    conn *c = ctx;
    if (!c->fatal && !(SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN)) {
        before(c);
        if (SSL_in_init(c->ssl)) SSL_do_handshake(c->ssl);
        if (flush(c, false) == 0 && c->qoff == c->qlen) {
            SSL_shutdown(c->ssl);
            flush(c, false);
        }
        ERR_clear_error();
    }
    int fd = c->fd, err = 0;
    bool borrowed = c->borrowed;
    conn_free(c);
    if (borrowed) weft_fd_forget(fd);
    else err = weft_close(fd);
    return err;
}

/* No wait_readable yet: OpenSSL may hold decrypted bytes the fd does not
 * show, and the reader shares the fd with a writer (conn_wait), so an idle
 * TLS stream still lends its buffer to the read that waits. */
static const weft_transport tls_transport = { tls_read, tls_writev, tls_shutdown, tls_close, NULL };

const char *weft_tls_alpn(const weft_stream *s) {
    conn *c = weft__stream_ctx(s, &tls_transport);
    return c && c->alpn[0] ? c->alpn : NULL;
}

SSL *weft__tls_ssl(const weft_stream *s) {
    conn *c = weft__stream_ctx(s, &tls_transport);
    return c ? c->ssl : NULL;
}

/* ------------------------------------------------------------ handshakes */

/* A new connection on fd, its SSL set up but for the peer's name. */
static int conn_new(conn **out, weft_tls_ctx *ctx, int fd) {
    if (pthread_once(&bio_once, bio_method_init) || !bio_method) return WEFT_ENOMEM;
    weft__mem mem = weft__mem_here();
    conn *c = weft__mem_alloc(mem, sizeof *c);
    if (!c) return WEFT_ENOMEM;
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->mem = mem;
    /* OpenSSL hands the BIO one record at a time, and each goes out as it
     * comes: with Nagle on, the client's Finished and its first request (or
     * the server's handshake flight and ticket) wait for the peer's delayed
     * ACK, 40 ms a handshake. Not a TCP socket (a unix one): nothing to do. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
    BIO *b = NULL;
    if (!(c->ssl = SSL_new(ctx->ssl_ctx)) || !(b = BIO_new(bio_method))) {
        conn_free(c);
        return WEFT_ENOMEM;
    }
    BIO_set_data(b, c);
    BIO_set_init(b, 1);
    SSL_set_bio(c->ssl, b, b);  /* the SSL owns the BIO */
    *out = c;
    return 0;
}

/* Names the server the client expects: SNI and the certificate check for a
 * name, only the check for an IP literal (RFC 6066 forbids one in SNI). */
static int set_peer_name(conn *c, const char *host, bool verify) {
    char h[256];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') host++, n -= 2;  /* "[::1]" */
    if (n == 0 || n >= sizeof h) return WEFT_EINVAL;
    memcpy(h, host, n);
    h[n] = 0;
    unsigned char addr[16];
    bool ip = inet_pton(AF_INET, h, addr) == 1 || inet_pton(AF_INET6, h, addr) == 1;
    if (ip) {
        if (verify && !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), h)) return WEFT_ENOMEM;
        return 0;
    }
    if (!SSL_set_tlsext_host_name(c->ssl, h)) return WEFT_EINVAL;
    if (verify) {
        SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (!SSL_set1_host(c->ssl, h)) return WEFT_ENOMEM;
    }
    return 0;
}

/* Runs the handshake to its end within `timeout`. Every flight we owe the
 * peer leaves before we wait for its answer. */
static int handshake(conn *c, int64_t timeout) {
    weft_scope sc;
    weft_scope_enter(&sc, timeout == WEFT_FOREVER ? WEFT_FOREVER : weft_deadline_after(timeout));
    int err;
    for (;;) {
        before(c);
        int r = SSL_do_handshake(c->ssl);
        int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
        if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ) {
            err = failure(c, e);
            flush(c, false);  /* the alert that tells the peer why, if it fits */
            break;
        }
        if ((err = flush(c, true)) || e == SSL_ERROR_NONE) break;
        if ((err = c->rblocked ? conn_wait(c, 0) : 0)) break;
    }
    weft_scope_leave(&sc);
    ERR_clear_error();
    return err;
}

/* The agreed ALPN protocol, kept NUL-terminated for weft_tls_alpn. */
static void keep_alpn(conn *c) {
    const unsigned char *p;
    unsigned n;
    SSL_get0_alpn_selected(c->ssl, &p, &n);
    if (p && n < sizeof c->alpn) memcpy(c->alpn, p, n);
    c->alpn[p && n < sizeof c->alpn ? n : 0] = 0;
}

static int start(weft_stream **out, weft_tls_ctx *ctx, int fd, const char *host,
                 const weft_stream_opts *sopts, bool server) {
    detail[0] = 0;
    int err = weft__enter_point(NULL, server ? "weft_tls_accept" : "weft_tls_connect");
    if (err) return err;
    bool verify = !(ctx ? ctx->flags & WEFT_TLS_INSECURE_SKIP_VERIFY : 0);
    if (!ctx || fd < 0 || server != !!(ctx->flags & WEFT_TLS_SERVER)) return WEFT_EINVAL;
    if (!server && !host && verify) return WEFT_EINVAL;
    if ((err = weft_fd_nonblock(fd))) return err;
    conn *c;
    if ((err = conn_new(&c, ctx, fd))) return err;
    c->borrowed = sopts && sopts->borrow_fd;
    if (server) SSL_set_accept_state(c->ssl);
    else SSL_set_connect_state(c->ssl);
    if (host && (err = set_peer_name(c, host, verify))) goto fail;
    if ((err = handshake(c, ctx->handshake_timeout))) goto fail;
    keep_alpn(c);
    if ((err = weft_stream_new(out, &tls_transport, c, sopts))) goto fail;
    return 0;
fail:
    ERR_clear_error();
    conn_free(c);
    return err;
}

int weft_tls_connect(weft_stream **out, weft_tls_ctx *ctx, int fd, const char *host,
                     const weft_stream_opts *sopts) {
    return start(out, ctx, fd, host, sopts, false);
}

int weft_tls_accept(weft_stream **out, weft_tls_ctx *ctx, int fd, const weft_stream_opts *sopts) {
    return start(out, ctx, fd, NULL, sopts, true);
}
