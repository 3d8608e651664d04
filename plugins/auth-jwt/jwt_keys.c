/*
 * Keys of the JWT verifier: algorithm names, key sets loaded from secrets, PEM text and JSON Web
 * Key Sets, and the signature check of one key with OpenSSL 3's EVP interface.
 *
 * A key learns the algorithms it allows here, once, from its type: an HMAC secret HS*, an RSA key
 * RS*, an EC key the one ES* of its curve, an Ed25519 key EdDSA, narrowed by the caller's
 * accepted set and by a JWK's "alg". jwt_key_verify() then only runs the check its algorithm
 * names on a key that allows it, so no key is ever used in the way of another family.
 */
#include "jwt_keys.h"

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

#define MAX_PEM_TEXT  (1 << 20)
#define MAX_JWKS_TEXT (4 << 20)
#define ED25519_BYTES 32

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

static int alg_parse(const char *name, size_t len, enum jwt_alg *out)
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
        if (alg_parse(p, len, &a) < 0 || (set & JWT_ALG_BIT(a)))
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

static void bytes_free(unsigned char *b, size_t len)
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
    bytes_free(k->secret, k->secret_len);
    memset(k, 0, sizeof(*k));
}

/* Drops the keys added after the first `n0`: the add functions are all-or-nothing. */
static void truncate_set(struct jwt_keyset *ks, size_t n0)
{
    while (ks->n > n0)
        key_clear(&ks->keys[--ks->n]);
}

void jwt_keyset_free(struct jwt_keyset *ks)
{
    if (!ks)
        return;
    truncate_set(ks, 0);
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
static const char *printable(const char *s, char *buf, size_t cap)
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
static int add_key(struct jwt_keyset *ks, const char *kid, unsigned algs, EVP_PKEY *pkey,
                   unsigned char *secret, size_t secret_len, char *err, size_t errlen)
{
    char shown[48];
    if (ks->n >= JWT_MAX_KEYS)
        return sb_init_error(err, errlen, SB_ELIMIT, "more than %d keys", JWT_MAX_KEYS);
    if (find_kid(ks, kid))
        return sb_init_error(err, errlen, SB_EEXISTS, "two keys have the kid \"%s\"",
                             printable(kid, shown, sizeof(shown)));
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
            bytes_free(secret, k->secret_len);
            rc = SB_ENOMEM;
            break;
        }
        if ((rc = add_key(dst, k->kid, k->algs, k->pkey, secret, k->secret_len, NULL, 0)) < 0) {
            EVP_PKEY_free(k->pkey); /* the reference taken above; NULL is fine */
            bytes_free(secret, k->secret_len);
            break;
        }
    }
    if (rc < 0)
        truncate_set(dst, n0);
    return rc;
}

/* ---- what a public key is good for ---- */

/* The algorithms of the public key's type; refuses weak and unsupported keys. `type` is set to
 * a short name of the key's type for messages. */
static int pkey_family(EVP_PKEY *pk, unsigned *algs, const char **type, char *err, size_t errlen)
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
    int rc = add_key(ks, kid, algs & JWT_ALGS_HMAC, NULL, copy, len, err, errlen);
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
                           printable(name, shown, sizeof(shown)));
        goto out;
    }
    if (!(pk = pem_block_key(name, data, dlen))) {
        rc = sb_init_error(err, errlen, SB_EINVAL, "holds a %s block that does not decode",
                           strcmp(name, "CERTIFICATE") == 0 ? "certificate" : "public key");
        goto out;
    }
    if ((rc = pkey_family(pk, &family, &type, err, errlen)) < 0)
        goto out;
    if (!(family & algs)) {
        rc = pairing_error(type, algs, err, errlen);
        goto out;
    }
    if ((rc = add_key(ks, kid, family & algs, pk, NULL, 0, err, errlen)) == 0)
        pk = NULL;
out:
    EVP_PKEY_free(pk);
    pem_free(name, header, data, dlen);
    pem_free(name2, header2, data2, dlen2);
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

/* ---- JWKS ---- */

/* One JWK being read: its position and kid for messages, and where errors go. */
struct jwk {
    const json_t *obj;
    size_t index; /* 1-based, as people count */
    const char *kid;
    char label[96]; /* "JWKS key 2 (kid \"abc\")" */
    char *err;
    size_t errlen;
};

static int jwk_error(struct jwk *j, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int jwk_error(struct jwk *j, int rc, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return sb_init_error(j->err, j->errlen, rc, "%s: %s", j->label, why);
}

/* A key that is left out rather than refused: returns 1 after telling `warn`. */
static int jwk_skip(struct jwk *j, jwt_warn_fn warn, void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int jwk_skip(struct jwk *j, jwt_warn_fn warn, void *ctx, const char *fmt, ...)
{
    if (warn) {
        char why[200], msg[320];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        snprintf(msg, sizeof(msg), "%s is skipped: %s", j->label, why);
        warn(ctx, msg);
    }
    return 1;
}

/* Decodes the base64url member `name` into a new buffer. Returns 0, or an error naming it. */
static int jwk_bytes(struct jwk *j, const char *name, unsigned char **out, size_t *outlen)
{
    const json_t *m = json_object_get(j->obj, name);
    *out = NULL;
    if (!m)
        return jwk_error(j, SB_EINVAL, "the member \"%s\" is missing", name);
    if (!json_is_string(m) || json_string_length(m) == 0)
        return jwk_error(j, SB_EINVAL, "the member \"%s\" is not a non-empty string", name);
    size_t len = json_string_length(m);
    size_t cap = len / 4 * 3 + 3;
    if (!(*out = malloc(cap)))
        return jwk_error(j, SB_ENOMEM, "out of memory");
    int rc = jwt_b64url_decode(json_string_value(m), len, *out, cap, outlen);
    if (rc == 0 && *outlen == 0)
        rc = SB_EPROTO;
    if (rc < 0) {
        OPENSSL_cleanse(*out, cap);
        free(*out);
        *out = NULL;
        return jwk_error(j, SB_EINVAL, "the member \"%s\" is not valid base64url", name);
    }
    return 0;
}

/* Builds a public key of OpenSSL type `type` ("RSA", "EC") from parameters. */
static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *c = params ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
    EVP_PKEY *pk = NULL;
    if (c && EVP_PKEY_fromdata_init(c) == 1 &&
        EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pk = NULL;
    EVP_PKEY_CTX_free(c);
    OSSL_PARAM_free(params);
    return pk;
}

static int jwk_rsa(struct jwk *j, EVP_PKEY **out)
{
    unsigned char *n = NULL, *e = NULL;
    size_t nlen = 0, elen = 0;
    BIGNUM *bn = NULL, *be = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    int rc;
    if ((rc = jwk_bytes(j, "n", &n, &nlen)) < 0 || (rc = jwk_bytes(j, "e", &e, &elen)) < 0)
        goto out;
    bn = BN_bin2bn(n, (int)nlen, NULL);
    be = BN_bin2bn(e, (int)elen, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (!bn || !be || !bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be)) {
        rc = jwk_error(j, SB_ENOMEM, "out of memory");
        goto out;
    }
    if (!(*out = pkey_from_params("RSA", bld)))
        rc = jwk_error(j, SB_EINVAL, "n and e do not make an RSA public key");
out:
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    bytes_free(n, nlen);
    bytes_free(e, elen);
    return rc;
}

static int jwk_ec(struct jwk *j, const char *crv, size_t coord, EVP_PKEY **out)
{
    unsigned char *x = NULL, *y = NULL, point[1 + 2 * 48];
    size_t xlen = 0, ylen = 0;
    OSSL_PARAM_BLD *bld = NULL;
    int rc;
    if ((rc = jwk_bytes(j, "x", &x, &xlen)) < 0 || (rc = jwk_bytes(j, "y", &y, &ylen)) < 0)
        goto out;
    /* RFC 7518 §6.2.1.2: the coordinates are given at the full length of the curve. */
    if (xlen != coord || ylen != coord) {
        rc = jwk_error(j, SB_EINVAL, "x and y must be %zu bytes each on %s", coord, crv);
        goto out;
    }
    point[0] = 0x04; /* uncompressed: 04 || x || y */
    memcpy(point + 1, x, coord);
    memcpy(point + 1 + coord, y, coord);
    bld = OSSL_PARAM_BLD_new();
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, crv, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * coord)) {
        rc = jwk_error(j, SB_ENOMEM, "out of memory");
        goto out;
    }
    if (!(*out = pkey_from_params("EC", bld)))
        rc = jwk_error(j, SB_EINVAL, "x and y are not a point of %s", crv);
out:
    OSSL_PARAM_BLD_free(bld);
    bytes_free(x, xlen);
    bytes_free(y, ylen);
    return rc;
}

static int jwk_okp(struct jwk *j, EVP_PKEY **out)
{
    unsigned char *x = NULL;
    size_t xlen = 0;
    int rc = jwk_bytes(j, "x", &x, &xlen);
    if (rc == 0 && xlen != ED25519_BYTES)
        rc = jwk_error(j, SB_EINVAL, "x must be %d bytes for Ed25519", ED25519_BYTES);
    if (rc == 0 && !(*out = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen)))
        rc = jwk_error(j, SB_EINVAL, "x is not an Ed25519 public key");
    bytes_free(x, xlen);
    return rc;
}

/* An optional string member: 0 (absent: *out NULL), or an error when it is not a string. */
static int jwk_string(struct jwk *j, const char *name, const char **out)
{
    const json_t *m = json_object_get(j->obj, name);
    *out = NULL;
    if (!m)
        return 0;
    if (!json_is_string(m) || json_string_length(m) == 0)
        return jwk_error(j, SB_EINVAL, "the member \"%s\" is not a non-empty string", name);
    *out = json_string_value(m);
    return 0;
}

/* Members that only a private key has: a set that publishes one is refused, not trimmed. */
static const char *private_member(const json_t *obj, const char *kty)
{
    static const char *const rsa[] = {"d", "p", "q", "dp", "dq", "qi", "oth"};
    if (strcmp(kty, "RSA") == 0) {
        for (size_t i = 0; i < sizeof(rsa) / sizeof(rsa[0]); i++)
            if (json_object_get(obj, rsa[i]))
                return rsa[i];
        return NULL;
    }
    return json_object_get(obj, "d") ? "d" : NULL;
}

/* Reads JWK `j` into `ks`. Returns 0 (added), 1 (skipped, `warn` told) or an error. */
static int jwk_add(struct jwt_keyset *ks, struct jwk *j, unsigned algs, unsigned flags,
                   jwt_warn_fn warn, void *ctx)
{
    const char *kty, *use, *alg, *crv = NULL;
    unsigned family = 0, pinned = JWT_ALGS_ALL, got = 0;
    EVP_PKEY *pk = NULL;
    unsigned char *k = NULL;
    size_t klen = 0;
    const char *type = "?";
    char shown[48];
    int rc;

    if (!json_is_object(j->obj))
        return jwk_error(j, SB_EINVAL, "not a JSON object");
    if ((rc = jwk_string(j, "kty", &kty)) < 0)
        return rc;
    if (!kty)
        return jwk_error(j, SB_EINVAL, "the member \"kty\" is missing");
    if ((rc = jwk_string(j, "use", &use)) < 0 || (rc = jwk_string(j, "alg", &alg)) < 0)
        return rc;

    /* What the key is for, before what it is: an encryption key is not ours to judge. */
    if (use && strcmp(use, "sig") != 0)
        return jwk_skip(j, warn, ctx, "its use is \"%s\", not \"sig\"",
                        printable(use, shown, sizeof(shown)));
    const json_t *ops = json_object_get(j->obj, "key_ops");
    if (ops) {
        bool verify = false;
        size_t i;
        const json_t *op;
        if (!json_is_array(ops))
            return jwk_error(j, SB_EINVAL, "the member \"key_ops\" is not an array");
        json_array_foreach(ops, i, op)
        {
            if (!json_is_string(op))
                return jwk_error(j, SB_EINVAL, "the member \"key_ops\" holds a non-string");
            verify = verify || strcmp(json_string_value(op), "verify") == 0;
        }
        if (!verify)
            return jwk_skip(j, warn, ctx, "its key_ops do not include \"verify\"");
    }
    if (alg) {
        enum jwt_alg a;
        if (alg_parse(alg, strlen(alg), &a) < 0)
            return jwk_skip(j, warn, ctx, "its alg \"%s\" is not supported",
                            printable(alg, shown, sizeof(shown)));
        pinned = JWT_ALG_BIT(a);
    }

    size_t coord = 0;
    if (strcmp(kty, "RSA") == 0) {
        family = JWT_ALGS_RSA;
        type = "RSA";
    } else if (strcmp(kty, "EC") == 0 || strcmp(kty, "OKP") == 0) {
        if ((rc = jwk_string(j, "crv", &crv)) < 0)
            return rc;
        if (!crv)
            return jwk_error(j, SB_EINVAL, "the member \"crv\" is missing");
        if (kty[0] == 'E' && strcmp(crv, "P-256") == 0)
            family = JWT_ALG_BIT(JWT_ES256), coord = 32;
        else if (kty[0] == 'E' && strcmp(crv, "P-384") == 0)
            family = JWT_ALG_BIT(JWT_ES384), coord = 48;
        else if (kty[0] == 'O' && strcmp(crv, "Ed25519") == 0)
            family = JWT_ALG_BIT(JWT_EDDSA);
        else
            return jwk_skip(j, warn, ctx, "the curve \"%s\" is not supported",
                            printable(crv, shown, sizeof(shown)));
        type = kty[0] == 'E' ? "EC" : "Ed25519";
    } else if (strcmp(kty, "oct") == 0) {
        if (!(flags & JWT_JWKS_ALLOW_HMAC))
            return jwk_error(j, SB_EINVAL,
                             "a symmetric (oct) key, refused unless HMAC keys from a JWKS are "
                             "enabled (jwks_hmac=true)");
        family = JWT_ALGS_HMAC;
        type = "HMAC";
    } else {
        return jwk_skip(j, warn, ctx, "its kty \"%s\" is not supported",
                        printable(kty, shown, sizeof(shown)));
    }
    /* The pairing rule: "HS256" on an RSA key, "ES256" on a P-384 key, "RS256" on an EC key. */
    if (!(pinned & family)) {
        char names[16];
        return jwk_error(j, SB_EINVAL, "its alg %s cannot be used with an %s key",
                         jwt_algs_format(pinned, names, sizeof(names)), type);
    }
    if (family != JWT_ALGS_HMAC) {
        const char *priv = private_member(j->obj, kty);
        if (priv)
            return jwk_error(j, SB_EINVAL,
                             "it holds the private member \"%s\": publish the public key only",
                             priv);
    }

    if (family == JWT_ALGS_HMAC) {
        if ((rc = jwk_bytes(j, "k", &k, &klen)) < 0)
            return rc;
        if (klen < JWT_MIN_OCT_BYTES || klen > INT_MAX) {
            bytes_free(k, klen);
            return jwk_error(j, SB_EINVAL, "k must hold at least %d bytes", JWT_MIN_OCT_BYTES);
        }
    } else {
        if (family == JWT_ALGS_RSA)
            rc = jwk_rsa(j, &pk);
        else if (coord)
            rc = jwk_ec(j, crv, coord, &pk);
        else
            rc = jwk_okp(j, &pk);
        if (rc < 0)
            goto fail;
        char why[160];
        if ((rc = pkey_family(pk, &got, &type, why, sizeof(why))) < 0) {
            rc = jwk_error(j, rc, "%s", why);
            goto fail;
        }
        if (got != family) { /* the curve read back is not the one named: never expected */
            rc = jwk_error(j, SB_EINVAL, "the key does not match its crv");
            goto fail;
        }
    }

    unsigned allowed = family & pinned & algs;
    if (!allowed) {
        char names[96];
        rc = jwk_skip(j, warn, ctx, "its algorithms are not among the accepted ones (%s)",
                      jwt_algs_format(algs, names, sizeof(names)));
        goto fail;
    }
    char why[160];
    if ((rc = add_key(ks, j->kid, allowed, pk, k, klen, why, sizeof(why))) < 0) {
        rc = jwk_error(j, rc, "%s", why);
        goto fail;
    }
    return 0;

fail:
    EVP_PKEY_free(pk);
    bytes_free(k, klen);
    ERR_clear_error();
    return rc;
}

int jwt_keyset_add_jwks(struct jwt_keyset *ks, const char *json, size_t len, unsigned algs,
                        unsigned flags, jwt_warn_fn warn, void *warn_ctx, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = NULL;
    size_t n0 = ks ? ks->n : 0, i;
    const json_t *obj;
    int rc = 0;

    if (!ks || !json || len > MAX_JWKS_TEXT)
        return sb_init_error(err, errlen, SB_EINVAL, "the JWKS is empty or larger than %d bytes",
                             MAX_JWKS_TEXT);
    /* Duplicate members refused, as in tokens: {"kty":"RSA","kty":"oct"} means nothing. */
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        /* jansson's text quotes the input near the error: only the position is given, since a
         * set with oct keys holds secrets. */
        return sb_init_error(err, errlen, SB_EJSON,
                             "the JWKS is not valid JSON (line %d, column %d)", jerr.line,
                             jerr.column);
    const json_t *keys = json_object_get(root, "keys");
    if (!json_is_object(root) || !json_is_array(keys)) {
        rc = sb_init_error(err, errlen, SB_EINVAL,
                           "the JWKS is not an object with a \"keys\" array");
        goto out;
    }
    if (json_array_size(keys) > JWT_MAX_KEYS) {
        rc = sb_init_error(err, errlen, SB_ELIMIT, "the JWKS has more than %d keys", JWT_MAX_KEYS);
        goto out;
    }
    json_array_foreach(keys, i, obj)
    {
        struct jwk j = {.obj = obj, .index = i + 1, .err = err, .errlen = errlen};
        char shown[48];
        const json_t *kid = json_is_object(obj) ? json_object_get(obj, "kid") : NULL;
        snprintf(j.label, sizeof(j.label), "JWKS key %zu", j.index);
        if (kid && (!json_is_string(kid) || json_string_length(kid) == 0)) {
            rc = jwk_error(&j, SB_EINVAL, "the member \"kid\" is not a non-empty string");
            goto out;
        }
        if (kid) {
            j.kid = json_string_value(kid);
            snprintf(j.label, sizeof(j.label), "JWKS key %zu (kid \"%s\")", j.index,
                     printable(j.kid, shown, sizeof(shown)));
        }
        if ((rc = jwk_add(ks, &j, algs, flags, warn, warn_ctx)) < 0)
            goto out;
    }
    rc = 0;
    if (ks->n == n0)
        rc = sb_init_error(err, errlen, SB_EINVAL, "the JWKS has no usable key");
out:
    if (rc < 0)
        truncate_set(ks, n0);
    json_decref(root);
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
