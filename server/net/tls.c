/*
 * TLS (--tls-cert, --tls-key): the certificate and its key, checked before lws sees them, the
 * protocol floor and the cipher list on the vhost's SSL_CTX, and the reload on SIGHUP.
 *
 * lws is not given the file paths. It creates the vhost's SSL_CTX (LWS_SERVER_OPTION_CREATE_
 * VHOST_SSL_CTX) and hands it to LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS, where this
 * file puts in the certificate it already loaded and checked. Start-up and reload then go
 * through one path, with messages naming the file at fault: lws 4.1.6's own loading logs an
 * OpenSSL error code, and its reload (lws_tls_cert_updated()) returns 0 whatever happened and
 * replaces the certificate before it has read the key, so a bad key file would leave the vhost
 * with a certificate and no matching key.
 *
 * A reload reads both files, checks that the key is the certificate's, and only then swaps the
 * pair on the SSL_CTX in one call (SSL_CTX_use_cert_and_key()). Connections opened before keep
 * their session (an SSL copies the certificate of its SSL_CTX when it is created); those
 * accepted after get the new certificate. A reload that fails changes nothing.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "../log/log.h"

/* TLS 1.3's suites (the protocol allows no weak ones): OpenSSL's default set, which is Mozilla's
 * too, written out so that the documented default does not depend on the OpenSSL build. */
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

/* A certificate chain and its key, as read from the two files. */
struct tls_pair {
    X509 *cert;             /* the server's certificate, the file's first */
    STACK_OF(X509) * chain; /* the ones after it, intermediates */
    EVP_PKEY *key;
};

static void pair_free(struct tls_pair *p)
{
    X509_free(p->cert);
    sk_X509_pop_free(p->chain, X509_free);
    EVP_PKEY_free(p->key);
    memset(p, 0, sizeof(*p));
}

/* A passphrase is never asked for: OpenSSL's default callback would prompt on the terminal. */
static int no_passphrase_cb(char *buf, int size, int rwflag, void *u)
{
    return 0;
}

/* The reason of OpenSSL's last error, or `fallback`. */
static const char *ssl_reason(const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : fallback;
}

/* Reads `cert_path` and `key_path` into `p` and checks they belong together. Returns 0, or -1
 * with why in `err` (naming the file). */
static int pair_load(struct tls_pair *p, const char *cert_path, const char *key_path, char *err,
                     size_t errlen)
{
    memset(p, 0, sizeof(*p));
    ERR_clear_error();
    FILE *f = fopen(cert_path, "r");
    if (!f) {
        snprintf(err, errlen, "--tls-cert %s: cannot read it: %s", cert_path, strerror(errno));
        return -1;
    }
    p->cert = PEM_read_X509(f, NULL, no_passphrase_cb, NULL);
    if (p->cert) {
        p->chain = sk_X509_new_null();
        X509 *x;
        while (p->chain && (x = PEM_read_X509(f, NULL, no_passphrase_cb, NULL)))
            if (!sk_X509_push(p->chain, x))
                X509_free(x);
        ERR_clear_error(); /* the end of the file reads as "no start line" */
    }
    fclose(f);
    if (!p->cert) {
        snprintf(err, errlen, "--tls-cert %s: not a PEM certificate (%s)", cert_path,
                 ssl_reason("no certificate in it"));
        goto fail;
    }
    if (!p->chain) {
        snprintf(err, errlen, "--tls-cert %s: out of memory", cert_path);
        goto fail;
    }
    f = fopen(key_path, "r");
    if (!f) {
        snprintf(err, errlen, "--tls-key %s: cannot read it: %s", key_path, strerror(errno));
        goto fail;
    }
    p->key = PEM_read_PrivateKey(f, NULL, no_passphrase_cb, NULL);
    fclose(f);
    if (!p->key) {
        snprintf(err, errlen, "--tls-key %s: not an unencrypted PEM private key (%s)", key_path,
                 ssl_reason("no key in it"));
        goto fail;
    }
    if (X509_check_private_key(p->cert, p->key) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "--tls-key %s is not the key of the certificate in --tls-cert %s",
                 key_path, cert_path);
        goto fail;
    }
    return 0;

fail:
    pair_free(p);
    return -1;
}

/* "AB:CD:…", the SHA-256 fingerprint as openssl x509 -fingerprint and Node print it. */
static void fingerprint(X509 *cert, char *out, size_t outlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    out[0] = '\0';
    if (X509_digest(cert, EVP_sha256(), md, &len) != 1)
        return;
    for (unsigned int i = 0; i < len && 3 * i + 3 <= outlen; i++)
        snprintf(out + 3 * i, outlen - 3 * i, i + 1 < len ? "%02X:" : "%02X", md[i]);
}

/* Logs what certificate is now served, and warns when it is not valid now. */
static void log_cert(const char *what, X509 *cert)
{
    char subject[256], fp[3 * EVP_MAX_MD_SIZE + 1], until[64] = "?";
    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
    fingerprint(cert, fp, sizeof(fp));
    BIO *b = BIO_new(BIO_s_mem());
    if (b && ASN1_TIME_print(b, X509_get0_notAfter(cert)) == 1) {
        int k = BIO_read(b, until, sizeof(until) - 1);
        until[k > 0 ? k : 0] = '\0';
    }
    BIO_free(b);
    LOG_INFO("net", "TLS %s: %s, valid until %s, SHA-256 %s", what, subject, until, fp);
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
        LOG_WARN("net", "TLS: the certificate expired on %s; clients will refuse it", until);
    else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
        LOG_WARN("net", "TLS: the certificate is not valid yet; clients will refuse it");
}

/* The protocol floor and the cipher lists. Returns 0, or -1 with why in `err`. */
static int ctx_configure(SSL_CTX *ctx, const char *ciphers, char *err, size_t errlen)
{
    /* TLS 1.2 at least: SSLv3, TLS 1.0 and 1.1 are refused in the handshake (RFC 8996). */
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        snprintf(err, errlen, "TLS: cannot set TLS 1.2 as the minimum (%s)", ssl_reason("?"));
        return -1;
    }
    /* Renegotiation is not needed by any client of ours and has been a way to spend the
     * server's CPU (OpenSSL 3 already refuses a client's; this refuses it whatever the
     * version); the client's order of suites yields to ours. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
        snprintf(err, errlen, "--tls-ciphers '%s': no cipher of it is known to OpenSSL (%s)",
                 ciphers, ssl_reason("?"));
        return -1;
    }
    if (SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1) {
        snprintf(err, errlen, "TLS: cannot set the TLS 1.3 suites (%s)", ssl_reason("?"));
        return -1;
    }
    return 0;
}

int net_tls_prepare(struct net *n)
{
    const struct config *cfg = n->cfg;
    char err[512];
    struct tls_pair p;
    if (pair_load(&p, cfg->tls_cert, cfg->tls_key, err, sizeof(err))) {
        LOG_ERROR("net", "%s", err);
        return SB_EINVAL;
    }
    /* The cipher list on a scratch SSL_CTX: a mistake in it is reported here with its option,
     * not as a vhost lws could not create. */
    SSL_CTX *scratch = SSL_CTX_new(TLS_server_method());
    int rc = scratch ? ctx_configure(scratch, cfg->tls_ciphers, err, sizeof(err)) : -1;
    if (!scratch)
        snprintf(err, sizeof(err), "TLS: cannot create an SSL_CTX (%s)", ssl_reason("?"));
    SSL_CTX_free(scratch);
    if (rc) {
        pair_free(&p);
        LOG_ERROR("net", "%s", err);
        return SB_EINVAL;
    }
    struct tls_pair *kept = malloc(sizeof(*kept));
    if (!kept) {
        pair_free(&p);
        return SB_ENOMEM;
    }
    *kept = p;
    n->tls_pending = kept;
    n->tls = true;
    return 0;
}

int net_tls_ctx_init(struct net *n, void *ssl_ctx)
{
    SSL_CTX *ctx = ssl_ctx;
    struct tls_pair *p = n->tls_pending;
    char err[512];
    n->tls_pending = NULL;
    if (!p)
        return -1;
    int rc = ctx_configure(ctx, n->cfg->tls_ciphers, err, sizeof(err));
    if (rc == 0 && SSL_CTX_use_cert_and_key(ctx, p->cert, p->key, p->chain, 1) != 1) {
        snprintf(err, sizeof(err), "TLS: the certificate of %s does not fit the SSL_CTX (%s)",
                 n->cfg->tls_cert, ssl_reason("?"));
        rc = -1;
    }
    if (rc == 0) {
        n->tls_ctx = ctx;
        log_cert("certificate", p->cert);
    } else {
        LOG_ERROR("net", "%s", err);
    }
    pair_free(p);
    free(p);
    return rc;
}

void net_tls_discard(struct net *n)
{
    if (n->tls_pending) {
        pair_free(n->tls_pending);
        free(n->tls_pending);
        n->tls_pending = NULL;
    }
    n->tls_ctx = NULL;
}

int net_tls_reload(struct net *n)
{
    if (!n->tls_ctx)
        return 0;
    const struct config *cfg = n->cfg;
    char err[512];
    struct tls_pair p;
    if (pair_load(&p, cfg->tls_cert, cfg->tls_key, err, sizeof(err))) {
        LOG_ERROR("net", "TLS reload failed, the certificate in use stays: %s", err);
        return SB_EINVAL;
    }
    /* An SSL_CTX holds one certificate per key type: an EC certificate put in beside an RSA one
     * would be served to some clients and the old one to others. Changing the type is a
     * restart. */
    X509 *old = SSL_CTX_get0_certificate(n->tls_ctx);
    int old_type = old ? EVP_PKEY_get_base_id(X509_get0_pubkey(old)) : EVP_PKEY_NONE;
    int new_type = EVP_PKEY_get_base_id(p.key);
    if (old && old_type != new_type) {
        LOG_ERROR("net",
                  "TLS reload failed, the certificate in use stays: its key is %s, the new one's "
                  "is %s (a new key type needs a restart)",
                  OBJ_nid2sn(old_type), OBJ_nid2sn(new_type));
        pair_free(&p);
        return SB_EINVAL;
    }
    /* One call replaces certificate, chain and key together: no handshake in between sees a
     * certificate without its key. */
    if (SSL_CTX_use_cert_and_key(n->tls_ctx, p.cert, p.key, p.chain, 1) != 1) {
        LOG_ERROR("net", "TLS reload failed, the certificate in use stays: %s",
                  ssl_reason("OpenSSL refused the pair"));
        pair_free(&p);
        return SB_EINVAL;
    }
    log_cert("certificate reloaded", p.cert);
    pair_free(&p);
    return 0;
}
