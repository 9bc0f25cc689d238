/* Test certificates, made at test time with OpenSSL's X509 API: a CA, and
 * leaf certificates signed by it (or not) for every way verification can
 * go right or wrong. Header-only; include it after test.h.
 *
 *     wt_certs certs;
 *     wt_certs_make(&certs);                  // a fresh /tmp/weft-certs-XXXXXX
 *     wt_certs_path(&certs, "good.pem")       // "/tmp/weft-certs-XXXXXX/good.pem"
 *     ...
 *     wt_certs_free(&certs);                  // removes the files and the dir
 *
 * The files (PEM; every key is an unencrypted EC P-256 key, NAME.key):
 *   ca.pem            the CA to trust (ca_file); its key is ca.key
 *   good.pem          CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1;
 *                     signed by the CA, valid from an hour ago for a day
 *   expired.pem       the same names, but valid only until yesterday
 *   notyet.pem        the same names, valid only from tomorrow
 *   wronghost.pem     SAN DNS:wrong.example only, signed by the CA
 *   self.pem          the names of good.pem, but self-signed
 *   unknownca.pem     the names of good.pem, signed by a second CA that
 *                     nobody trusts (its certificate is not written)
 *   client.pem        CN=weft test client, a client certificate (clientAuth)
 *                     signed by the CA
 *
 * Every failure aborts the test (ASSERT): there is nothing to test without
 * them.
 */
#ifndef WEFT_WT_CERTS_H
#define WEFT_WT_CERTS_H

#include <dirent.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct wt_certs { char dir[64]; } wt_certs;

/* The path of `name` in the certificates' directory, in one of 8 static
 * buffers used in turn: valid for the next 7 calls. */
static const char *wt_certs_path(const wt_certs *c, const char *name) {
    static char bufs[8][384];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", c->dir, name);
    return b;
}

#define WTC_DAY (24L * 3600)
#define WTC_LEAF_NAMES "DNS:localhost,IP:127.0.0.1,IP:::1"

static void wtc_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    ASSERT(ext);
    ASSERT(X509_add_ext(cert, ext, -1));
    X509_EXTENSION_free(ext);
}

/* A certificate for `key` named `cn`, valid from now+from to now+to
 * (seconds), signed by issuer/issuer_key (NULL: self-signed). `san` may be
 * NULL; `usage` is "ca", "server" or "client". */
static X509 *wtc_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                      long from, long to, const char *san, const char *usage) {
    static long serial = 1;
    X509 *x = X509_new();
    ASSERT(x);
    ASSERT(X509_set_version(x, 2));
    ASSERT(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++));
    ASSERT(X509_gmtime_adj(X509_getm_notBefore(x), from));
    ASSERT(X509_gmtime_adj(X509_getm_notAfter(x), to));
    ASSERT(X509_set_pubkey(x, key));
    X509_NAME *name = X509_get_subject_name(x);
    ASSERT(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0));
    ASSERT(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name));
    X509 *signer = issuer ? issuer : x;
    wtc_ext(x, signer, NID_subject_key_identifier, "hash");
    if (issuer) wtc_ext(x, signer, NID_authority_key_identifier, "keyid:always");
    if (!strcmp(usage, "ca")) {
        wtc_ext(x, signer, NID_basic_constraints, "critical,CA:TRUE");
        wtc_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        wtc_ext(x, signer, NID_basic_constraints, "critical,CA:FALSE");
        wtc_ext(x, signer, NID_key_usage, "critical,digitalSignature");
        wtc_ext(x, signer, NID_ext_key_usage, !strcmp(usage, "client") ? "clientAuth" : "serverAuth");
    }
    if (san) wtc_ext(x, signer, NID_subject_alt_name, san);
    ASSERT(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

static void wtc_write(const wt_certs *c, const char *base, X509 *x, EVP_PKEY *key) {
    char name[64];
    snprintf(name, sizeof name, "%s.pem", base);
    FILE *f = fopen(wt_certs_path(c, name), "w");
    ASSERT(f);
    ASSERT(PEM_write_X509(f, x));
    ASSERT(fclose(f) == 0);
    snprintf(name, sizeof name, "%s.key", base);
    f = fopen(wt_certs_path(c, name), "w");
    ASSERT(f);
    ASSERT(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
    ASSERT(fclose(f) == 0);
}

/* Makes one leaf (with its own key) and writes it as base.pem / base.key. */
static void wtc_leaf(const wt_certs *c, const char *base, const char *cn, X509 *ca, EVP_PKEY *ca_key,
                     long from, long to, const char *san, const char *usage) {
    EVP_PKEY *key = EVP_EC_gen("P-256");
    ASSERT(key);
    X509 *x = wtc_cert(key, cn, ca, ca_key, from, to, san, usage);
    wtc_write(c, base, x, key);
    X509_free(x);
    EVP_PKEY_free(key);
}

/* Makes the directory and every file listed at the top. */
static void wt_certs_make(wt_certs *c) {
    snprintf(c->dir, sizeof c->dir, "/tmp/weft-certs-XXXXXX");
    ASSERT(mkdtemp(c->dir));
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *other_key = EVP_EC_gen("P-256");
    ASSERT(ca_key && other_key);
    X509 *ca = wtc_cert(ca_key, "weft test CA", NULL, NULL, -3600, 30 * WTC_DAY, NULL, "ca");
    X509 *other = wtc_cert(other_key, "weft unknown CA", NULL, NULL, -3600, 30 * WTC_DAY, NULL, "ca");
    wtc_write(c, "ca", ca, ca_key);
    wtc_leaf(c, "good", "localhost", ca, ca_key, -3600, WTC_DAY, WTC_LEAF_NAMES, "server");
    wtc_leaf(c, "expired", "localhost", ca, ca_key, -2 * WTC_DAY, -WTC_DAY, WTC_LEAF_NAMES, "server");
    wtc_leaf(c, "notyet", "localhost", ca, ca_key, WTC_DAY, 2 * WTC_DAY, WTC_LEAF_NAMES, "server");
    wtc_leaf(c, "wronghost", "wrong.example", ca, ca_key, -3600, WTC_DAY, "DNS:wrong.example", "server");
    wtc_leaf(c, "self", "localhost", NULL, NULL, -3600, WTC_DAY, WTC_LEAF_NAMES, "server");
    wtc_leaf(c, "unknownca", "localhost", other, other_key, -3600, WTC_DAY, WTC_LEAF_NAMES, "server");
    wtc_leaf(c, "client", "weft test client", ca, ca_key, -3600, WTC_DAY, NULL, "client");
    X509_free(ca);
    X509_free(other);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(other_key);
}

/* Removes every file of the directory, then the directory. */
static void wt_certs_free(wt_certs *c) {
    DIR *d = opendir(c->dir);
    ASSERT(d);
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') ASSERT(unlink(wt_certs_path(c, e->d_name)) == 0);
    ASSERT(closedir(d) == 0);
    ASSERT(rmdir(c->dir) == 0);
}

#endif
