/*
 * Keys of the JWT verifier: algorithm names, key sets loaded from secrets and PEM text, and the
 * signature check of one key with OpenSSL 3's EVP interface. JSON Web Key Sets are read in
 * jwks.c, which adds its keys through the helpers of jwt_keys_internal.h.
 *
 * A key learns the algorithms it allows here, once, from its type: an HMAC secret HS*, an RSA key
 * RS*, an EC key the one ES* of its curve, an Ed25519 key EdDSA, narrowed by the caller's
 * accepted set and by a JWK's "alg". jwt_key_verify() then only runs the check its algorithm
 * names on a key that allows it, so no key is ever used in the way of another family.
 */
#include "jwt_keys.h"
#include "jwt_keys_internal.h"

#include <switchboard/plugin.h>

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#define MAX_PEM_TEXT (1 << 20)

static const struct alg_info {
    const char *name;
    const EVP_MD *(*md)(void); /* NULL for EdDSA, which hashes inside the signature scheme */
    size_t coord;              /* ES*: the byte length of r and of s in the raw signature */
} ALGS[JWT_ALG_COUNT] = {
    [JWT_HS256] = {"HS256", EVP_sha256, 0},  [JWT_HS384] = {"HS384", EVP_sha384, 0},
    [JWT_HS512] = {"HS512", EVP_sha512, 0},  [JWT_RS256] = {"RS256", EVP_sha256, 0},
    [JWT_RS384] = {"RS384", EVP_sha384, 0},  [JWT_RS512] = {"RS512", EVP_sha512, 0},
    [JWT_ES256] = {"ES256", EVP_sha256, 32}, [JWT_ES384] = {"ES384", EVP_sha384, 48},
    [JWT_EDDSA] = {"EdDSA", NULL, 0},
};

/* ---- algorithm names ---- */

const char *jwt_alg_name(enum jwt_alg alg)
{
    return (unsigned)alg < JWT_ALG_COUNT ? ALGS[alg].name : "?";
}

int jwtk_alg_parse(const char *name, size_t len, enum jwt_alg *out)
{
    for (int a = 0; a < JWT_ALG_COUNT; a++) {
        if (strlen(ALGS[a].name) == len && memcmp(ALGS[a].name, name, len) == 0) {
            *out = (enum jwt_alg)a;
            return 0;
        }
    }
    return SB_EINVAL;
}

int jwt_algs_parse(const char *list, unsigned *out)
{
    unsigned set = 0;
    if (!list || !*list)
        return SB_EINVAL;
    for (const char *p = list;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        enum jwt_alg a;
        if (jwtk_alg_parse(p, len, &a) < 0 || (set & JWT_ALG_BIT(a)))
            return SB_EINVAL;
        set |= JWT_ALG_BIT(a);
        if (!bar)
            break;
        p = bar + 1;
    }
    *out = set;
    return 0;
}

char *jwt_algs_format(unsigned algs, char *buf, size_t cap)
{
    size_t n = 0;
    if (!cap)
        return buf;
    buf[0] = '\0';
    for (int a = 0; a < JWT_ALG_COUNT; a++) {
        if (!(algs & JWT_ALG_BIT(a)))
            continue;
        int w = snprintf(buf + n, cap - n, "%s%s", n ? "|" : "", ALGS[a].name);
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
    return buf;
}

/* ---- key sets ---- */

struct jwt_keyset *jwt_keyset_new(void)
{
    return calloc(1, sizeof(struct jwt_keyset));
}

void jwtk_bytes_free(unsigned char *b, size_t len)
{
    if (b) {
        OPENSSL_cleanse(b, len);
        free(b);
    }
}

static void key_clear(struct jwt_key *k)
{
    free(k->kid);
    EVP_PKEY_free(k->pkey);
    jwtk_bytes_free(k->secret, k->secret_len);
    memset(k, 0, sizeof(*k));
}

/* Drops the keys added after the first `n0`: the add functions are all-or-nothing. */
void jwtk_truncate(struct jwt_keyset *ks, size_t n0)
{
    while (ks->n > n0)
        key_clear(&ks->keys[--ks->n]);
}

void jwt_keyset_free(struct jwt_keyset *ks)
{
    if (!ks)
        return;
    jwtk_truncate(ks, 0);
    free(ks);
}

size_t jwt_keyset_count(const struct jwt_keyset *ks)
{
    return ks ? ks->n : 0;
}

unsigned jwt_keyset_algs(const struct jwt_keyset *ks)
{
    unsigned algs = 0;
    for (size_t i = 0; ks && i < ks->n; i++)
        algs |= ks->keys[i].algs;
    return algs;
}

int jwt_keyset_key_info(const struct jwt_keyset *ks, size_t i, const char **kid, unsigned *algs)
{
    if (!ks || i >= ks->n)
        return SB_EINVAL;
    if (kid)
        *kid = ks->keys[i].kid;
    if (algs)
        *algs = ks->keys[i].algs;
    return 0;
}

static const struct jwt_key *find_kid(const struct jwt_keyset *ks, const char *kid)
{
    for (size_t i = 0; kid && i < ks->n; i++)
        if (ks->keys[i].kid && strcmp(ks->keys[i].kid, kid) == 0)
            return &ks->keys[i];
    return NULL;
}

/* A kid (or another name from a file) as it may appear in a message: printable ASCII without
 * quotes, cut with "..." to fit `cap` (at least 8). */
const char *jwtk_printable(const char *s, char *buf, size_t cap)
{
    size_t n = 0, max = cap - 4;
    for (; s && *s && n < max; s++)
        buf[n++] = (*s >= 0x20 && *s < 0x7f && *s != '"') ? *s : '?';
    if (s && *s)
        memcpy(buf + n, "...", 4);
    else
        buf[n] = '\0';
    return buf;
}

/* Adds a key; takes `pkey` and `secret` (owned) on success only. */
int jwtk_add_key(struct jwt_keyset *ks, const char *kid, unsigned algs, EVP_PKEY *pkey,
                 unsigned char *secret, size_t secret_len, char *err, size_t errlen)
{
    char shown[48];
    if (ks->n >= JWT_MAX_KEYS)
        return sb_init_error(err, errlen, SB_ELIMIT, "more than %d keys", JWT_MAX_KEYS);
    if (find_kid(ks, kid))
        return sb_init_error(err, errlen, SB_EEXISTS, "two keys have the kid \"%s\"",
                             jwtk_printable(kid, shown, sizeof(shown)));
    char *kidcopy = NULL;
    if (kid && !(kidcopy = strdup(kid)))
        return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    struct jwt_key *k = &ks->keys[ks->n++];
    k->kid = kidcopy;
    k->algs = algs;
    k->pkey = pkey;
    k->secret = secret;
    k->secret_len = secret_len;
    return 0;
}

int jwt_keyset_append(struct jwt_keyset *dst, const struct jwt_keyset *src)
{
    size_t n0 = dst->n;
    int rc = 0;
    for (size_t i = 0; i < src->n; i++) {
        const struct jwt_key *k = &src->keys[i];
        unsigned char *secret = NULL;
        if (k->secret) {
            if (!(secret = malloc(k->secret_len))) {
                rc = SB_ENOMEM;
                break;
            }
            memcpy(secret, k->secret, k->secret_len);
        }
        if (k->pkey && EVP_PKEY_up_ref(k->pkey) != 1) {
            jwtk_bytes_free(secret, k->secret_len);
            rc = SB_ENOMEM;
            break;
        }
        if ((rc = jwtk_add_key(dst, k->kid, k->algs, k->pkey, secret, k->secret_len, NULL, 0)) <
            0) {
            EVP_PKEY_free(k->pkey); /* the reference taken above; NULL is fine */
            jwtk_bytes_free(secret, k->secret_len);
            break;
        }
    }
    if (rc < 0)
        jwtk_truncate(dst, n0);
    return rc;
}

/* ---- what a public key is good for ---- */

/* The algorithms of the public key's type; refuses weak and unsupported keys. `type` is set to
 * a short name of the key's type for messages. */
int jwtk_pkey_family(EVP_PKEY *pk, unsigned *algs, const char **type, char *err, size_t errlen)
{
    if (EVP_PKEY_is_a(pk, "RSA")) {
        int bits = EVP_PKEY_get_bits(pk);
        *type = "RSA";
        if (bits < JWT_MIN_RSA_BITS)
            return sb_init_error(
                err, errlen, SB_EINVAL,
                "an RSA key of %d bits is too weak (at least %d bits are required)", bits,
                JWT_MIN_RSA_BITS);
        /* SP 800-56B's range, which OpenSSL 3.0's public check does not enforce: a tiny
         * exponent (3) is what the known PKCS#1 v1.5 forgeries against lax verifiers need. */
        BIGNUM *e = NULL;
        bool ok = EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) == 1 && BN_is_odd(e) &&
                  BN_num_bits(e) >= 17 && BN_num_bits(e) <= 256;
        BN_free(e);
        if (!ok)
            return sb_init_error(
                err, errlen, SB_EINVAL,
                "the RSA public exponent must be odd, at least 65537 and below 2^256");
        *algs = JWT_ALGS_RSA;
    } else if (EVP_PKEY_is_a(pk, "EC")) {
        char group[80] = "";
        size_t glen = 0;
        *type = "EC";
        if (EVP_PKEY_get_group_name(pk, group, sizeof(group), &glen) != 1)
            group[0] = '\0';
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
            *algs = JWT_ALG_BIT(JWT_ES256);
        else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
            *algs = JWT_ALG_BIT(JWT_ES384);
        else
            return sb_init_error(err, errlen, SB_EINVAL,
                                 "an EC key on the curve %s is not supported (P-256 and P-384 are)",
                                 group[0] ? group : "(unnamed)");
    } else if (EVP_PKEY_is_a(pk, "ED25519")) {
        *type = "Ed25519";
        *algs = JWT_ALG_BIT(JWT_EDDSA);
    } else {
        const char *name = EVP_PKEY_get0_type_name(pk);
        *type = "unsupported";
        return sb_init_error(err, errlen, SB_EINVAL,
                             "a %s key is not supported (RSA, EC P-256/P-384 and Ed25519 are)",
                             name ? name : "unknown");
    }
    /* The checks OpenSSL knows for a public key: an RSA modulus that is odd and has no small
     * factors, an EC point on its curve. */
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    int ok = c && EVP_PKEY_public_check(c) == 1;
    EVP_PKEY_CTX_free(c);
    ERR_clear_error();
    if (!ok)
        return sb_init_error(err, errlen, SB_EINVAL,
                             "the %s public key fails OpenSSL's validity check", *type);
    return 0;
}

/* "an RSA key cannot be used with HS256|ES256" */
static int pairing_error(const char *type, unsigned algs, char *err, size_t errlen)
{
    char names[96];
    return sb_init_error(err, errlen, SB_EINVAL, "an %s key cannot be used with %s", type,
                         algs ? jwt_algs_format(algs, names, sizeof(names))
                              : "any accepted algorithm");
}

int jwt_keyset_add_secret(struct jwt_keyset *ks, const char *kid, const unsigned char *secret,
                          size_t len, unsigned algs, char *err, size_t errlen)
{
    if (!ks || !secret || len == 0 || len > INT_MAX)
        return sb_init_error(err, errlen, SB_EINVAL, "the secret is empty or too large");
    if (!(algs & JWT_ALGS_HMAC))
        return pairing_error("HMAC", algs, err, errlen);
    unsigned char *copy = malloc(len);
    if (!copy)
        return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    memcpy(copy, secret, len);
    int rc = jwtk_add_key(ks, kid, algs & JWT_ALGS_HMAC, NULL, copy, len, err, errlen);
    if (rc < 0) {
        OPENSSL_cleanse(copy, len);
        free(copy);
    }
    return rc;
}

/* ---- PEM ---- */

static EVP_PKEY *pem_block_key(const char *name, const unsigned char *data, long dlen)
{
    const unsigned char *p = data;
    EVP_PKEY *pk = NULL;
    if (strcmp(name, "PUBLIC KEY") == 0) {
        pk = d2i_PUBKEY(NULL, &p, dlen);
    } else if (strcmp(name, "RSA PUBLIC KEY") == 0) {
        pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, dlen);
    } else {
        X509 *x = d2i_X509(NULL, &p, dlen);
        if (x)
            pk = X509_get_pubkey(x);
        X509_free(x);
    }
    /* Trailing bytes inside the block would be a second reading of the same file. */
    if (pk && p != data + dlen) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    return pk;
}

static void pem_free(char *name, char *header, unsigned char *data, long dlen)
{
    if (data && dlen > 0)
        OPENSSL_cleanse(data, (size_t)dlen); /* it may have been a private key */
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
}

int jwt_keyset_add_pem(struct jwt_keyset *ks, const char *kid, const char *pem, size_t len,
                       unsigned algs, char *err, size_t errlen)
{
    char *name = NULL, *header = NULL, *name2 = NULL, *header2 = NULL;
    unsigned char *data = NULL, *data2 = NULL;
    long dlen = 0, dlen2 = 0;
    EVP_PKEY *pk = NULL;
    BIO *bio = NULL;
    unsigned family = 0;
    const char *type = "?";
    int rc;

    if (!ks || !pem || len == 0 || len > MAX_PEM_TEXT)
        return sb_init_error(err, errlen, SB_EPROTO,
                             "not a PEM file (empty or larger than %d bytes)", MAX_PEM_TEXT);
    if (!(bio = BIO_new_mem_buf(pem, (int)len)))
        return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    if (PEM_read_bio(bio, &name, &header, &data, &dlen) != 1) {
        rc = sb_init_error(err, errlen, SB_EPROTO, "not a PEM file (no -----BEGIN ...----- block)");
        goto out;
    }
    if (PEM_read_bio(bio, &name2, &header2, &data2, &dlen2) == 1) {
        rc = sb_init_error(err, errlen, SB_EINVAL,
                           "holds more than one PEM block (give one key a file)");
        goto out;
    }
    if (strstr(name, "PRIVATE KEY")) {
        rc = sb_init_error(err, errlen, SB_EINVAL,
                           "holds a private key: give the public key or a certificate instead");
        goto out;
    }
    if (strcmp(name, "PUBLIC KEY") != 0 && strcmp(name, "RSA PUBLIC KEY") != 0 &&
        strcmp(name, "CERTIFICATE") != 0) {
        char shown[48];
        rc = sb_init_error(err, errlen, SB_EINVAL,
                           "holds a PEM block of type \"%s\", not a public key or a certificate",
                           jwtk_printable(name, shown, sizeof(shown)));
        goto out;
    }
    if (!(pk = pem_block_key(name, data, dlen))) {
        rc = sb_init_error(err, errlen, SB_EINVAL, "holds a %s block that does not decode",
                           strcmp(name, "CERTIFICATE") == 0 ? "certificate" : "public key");
        goto out;
    }
    if ((rc = jwtk_pkey_family(pk, &family, &type, err, errlen)) < 0)
        goto out;
    if (!(family & algs)) {
        rc = pairing_error(type, algs, err, errlen);
        goto out;
    }
    if ((rc = jwtk_add_key(ks, kid, family & algs, pk, NULL, 0, err, errlen)) == 0)
        pk = NULL;
out:
    EVP_PKEY_free(pk);
    pem_free(name, header, data, dlen);
    pem_free(name2, header2, data2, dlen2);
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

/* ---- signatures ---- */

static int verify_hmac(const struct jwt_key *k, const EVP_MD *md, const unsigned char *in,
                       size_t inlen, const unsigned char *sig, size_t siglen)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(md, k->secret, (int)k->secret_len, in, inlen, mac, &maclen))
        return SB_ENOMEM;
    /* The length is public (it is fixed by the algorithm); only the bytes are compared in
     * constant time. */
    int ok = siglen == maclen && CRYPTO_memcmp(sig, mac, maclen) == 0;
    OPENSSL_cleanse(mac, sizeof(mac));
    return ok;
}

/* EVP_DigestVerify with the key; `md` NULL for EdDSA. RSA is told PKCS#1 v1.5 explicitly. */
static int verify_evp(EVP_PKEY *pk, const EVP_MD *md, bool rsa, const unsigned char *in,
                      size_t inlen, const unsigned char *sig, size_t siglen)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = 0;
    if (!m)
        return SB_ENOMEM;
    if (EVP_DigestVerifyInit(m, &pctx, md, NULL, pk) == 1 &&
        (!rsa || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1))
        ok = EVP_DigestVerify(m, sig, siglen, in, inlen) == 1;
    EVP_MD_CTX_free(m);
    ERR_clear_error();
    return ok;
}

/* JWS carries an ECDSA signature as r||s, each at the curve's length (RFC 7518 §3.4); OpenSSL
 * wants the DER SEQUENCE of two INTEGERs. Any other length, DER included, is refused. */
static int verify_ecdsa(EVP_PKEY *pk, const struct alg_info *ai, const unsigned char *in,
                        size_t inlen, const unsigned char *sig, size_t siglen)
{
    if (siglen != 2 * ai->coord)
        return 0;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)ai->coord, NULL);
    BIGNUM *s = BN_bin2bn(sig + ai->coord, (int)ai->coord, NULL);
    unsigned char *der = NULL;
    int derlen = -1, ok = SB_ENOMEM;
    if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* owned by es now */
        derlen = i2d_ECDSA_SIG(es, &der);
    }
    if (derlen > 0)
        ok = verify_evp(pk, ai->md(), false, in, inlen, der, (size_t)derlen);
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    ERR_clear_error();
    return ok;
}

int jwt_key_verify(const struct jwt_key *k, enum jwt_alg alg, const unsigned char *input,
                   size_t inlen, const unsigned char *sig, size_t siglen)
{
    /* The caller selected a key that allows `alg`; checked again, since this is the line between
     * "HS256 with the RSA key's bytes" and a refusal. */
    if ((unsigned)alg >= JWT_ALG_COUNT || !(k->algs & JWT_ALG_BIT(alg)))
        return 0;
    const struct alg_info *ai = &ALGS[alg];
    if (JWT_ALG_BIT(alg) & JWT_ALGS_HMAC)
        return k->secret ? verify_hmac(k, ai->md(), input, inlen, sig, siglen) : 0;
    if (!k->pkey)
        return 0;
    if (JWT_ALG_BIT(alg) & JWT_ALGS_RSA) {
        /* A PKCS#1 v1.5 signature is exactly as long as the modulus. */
        if (siglen != (size_t)EVP_PKEY_get_size(k->pkey))
            return 0;
        return verify_evp(k->pkey, ai->md(), true, input, inlen, sig, siglen);
    }
    if (JWT_ALG_BIT(alg) & JWT_ALGS_EC)
        return verify_ecdsa(k->pkey, ai, input, inlen, sig, siglen);
    /* Ed25519: 64-byte signatures, no separate digest. */
    if (siglen != 64)
        return 0;
    return verify_evp(k->pkey, NULL, false, input, inlen, sig, siglen);
}
