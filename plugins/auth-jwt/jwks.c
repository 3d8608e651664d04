/*
 * JSON Web Key Sets (RFC 7517, the algorithms of RFC 7518 and RFC 8037) into a key set: each
 * JWK is checked for what it is for (use, key_ops, alg), what it is (kty, crv), and that it is
 * public, then built into an OpenSSL key and added with the algorithms that all of those allow.
 * A key this verifier cannot use is skipped with a warning; a key that is wrong refuses the set.
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
#include <openssl/err.h>
#include <openssl/param_build.h>

#define MAX_JWKS_TEXT (4 << 20)

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
    jwtk_bytes_free(n, nlen);
    jwtk_bytes_free(e, elen);
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
    jwtk_bytes_free(x, xlen);
    jwtk_bytes_free(y, ylen);
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
    jwtk_bytes_free(x, xlen);
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

/* What the key is for, before what it is (an encryption key is not ours to judge): "use",
 * "key_ops" and "alg", the last one narrowing `*pinned` to one algorithm. Returns 0, 1
 * (skipped) or an error. */
static int jwk_purpose(struct jwk *j, jwt_warn_fn warn, void *ctx, unsigned *pinned)
{
    const char *use, *alg;
    char shown[48];
    int rc;
    if ((rc = jwk_string(j, "use", &use)) < 0 || (rc = jwk_string(j, "alg", &alg)) < 0)
        return rc;
    if (use && strcmp(use, "sig") != 0)
        return jwk_skip(j, warn, ctx, "its use is \"%s\", not \"sig\"",
                        jwtk_printable(use, shown, sizeof(shown)));
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
    *pinned = JWT_ALGS_ALL;
    if (alg) {
        enum jwt_alg a;
        if (jwtk_alg_parse(alg, strlen(alg), &a) < 0)
            return jwk_skip(j, warn, ctx, "its alg \"%s\" is not supported",
                            jwtk_printable(alg, shown, sizeof(shown)));
        *pinned = JWT_ALG_BIT(a);
    }
    return 0;
}

/* What a JWK is, from "kty" and "crv". */
struct jwk_kind {
    unsigned family;  /* the algorithms of its type: JWT_ALGS_RSA, _HMAC, one ES*, EdDSA */
    size_t coord;     /* EC: the byte length of x and y; 0 otherwise */
    const char *type; /* for messages: "RSA", "EC", "Ed25519", "HMAC" */
    const char *crv;  /* EC and OKP: the curve; borrowed from the JWK */
};

/* Returns 0, 1 (skipped) or an error. */
static int jwk_kind(struct jwk *j, const char *kty, unsigned flags, jwt_warn_fn warn, void *ctx,
                    struct jwk_kind *out)
{
    char shown[48];
    int rc;
    *out = (struct jwk_kind){0};
    if (strcmp(kty, "RSA") == 0) {
        *out = (struct jwk_kind){.family = JWT_ALGS_RSA, .type = "RSA"};
        return 0;
    }
    if (strcmp(kty, "oct") == 0) {
        if (!(flags & JWT_JWKS_ALLOW_HMAC))
            return jwk_error(j, SB_EINVAL,
                             "a symmetric (oct) key, refused unless HMAC keys from a JWKS are "
                             "enabled (jwks_hmac=true)");
        *out = (struct jwk_kind){.family = JWT_ALGS_HMAC, .type = "HMAC"};
        return 0;
    }
    if (strcmp(kty, "EC") != 0 && strcmp(kty, "OKP") != 0)
        return jwk_skip(j, warn, ctx, "its kty \"%s\" is not supported",
                        jwtk_printable(kty, shown, sizeof(shown)));
    const char *crv;
    if ((rc = jwk_string(j, "crv", &crv)) < 0)
        return rc;
    if (!crv)
        return jwk_error(j, SB_EINVAL, "the member \"crv\" is missing");
    bool ec = kty[0] == 'E';
    out->crv = crv;
    out->type = ec ? "EC" : "Ed25519";
    if (ec && strcmp(crv, "P-256") == 0)
        out->family = JWT_ALG_BIT(JWT_ES256), out->coord = 32;
    else if (ec && strcmp(crv, "P-384") == 0)
        out->family = JWT_ALG_BIT(JWT_ES384), out->coord = 48;
    else if (!ec && strcmp(crv, "Ed25519") == 0)
        out->family = JWT_ALG_BIT(JWT_EDDSA);
    else
        return jwk_skip(j, warn, ctx, "the curve \"%s\" is not supported",
                        jwtk_printable(crv, shown, sizeof(shown)));
    return 0;
}

/* The key material: an HMAC secret (`*k`, owned) or a public key (`*pk`, owned) that OpenSSL
 * read back as the family the JWK names. On error nothing is left to free. */
static int jwk_material(struct jwk *j, const struct jwk_kind *kind, EVP_PKEY **pk,
                        unsigned char **k, size_t *klen)
{
    int rc;
    if (kind->family == JWT_ALGS_HMAC) {
        if ((rc = jwk_bytes(j, "k", k, klen)) < 0)
            return rc;
        if (*klen < JWT_MIN_OCT_BYTES || *klen > INT_MAX) {
            jwtk_bytes_free(*k, *klen);
            *k = NULL;
            return jwk_error(j, SB_EINVAL, "k must hold at least %d bytes", JWT_MIN_OCT_BYTES);
        }
        return 0;
    }
    if (kind->family == JWT_ALGS_RSA)
        rc = jwk_rsa(j, pk);
    else if (kind->coord)
        rc = jwk_ec(j, kind->crv, kind->coord, pk);
    else
        rc = jwk_okp(j, pk);
    if (rc < 0)
        return rc;
    unsigned got = 0;
    const char *type;
    char why[160];
    if ((rc = jwtk_pkey_family(*pk, &got, &type, why, sizeof(why))) < 0)
        rc = jwk_error(j, rc, "%s", why);
    else if (got != kind->family) /* the curve read back is not the one named: never expected */
        rc = jwk_error(j, SB_EINVAL, "the key does not match its crv");
    if (rc < 0) {
        EVP_PKEY_free(*pk);
        *pk = NULL;
    }
    return rc;
}

/* Reads JWK `j` into `ks`. Returns 0 (added), 1 (skipped, `warn` told) or an error. */
static int jwk_add(struct jwt_keyset *ks, struct jwk *j, unsigned algs, unsigned flags,
                   jwt_warn_fn warn, void *ctx)
{
    const char *kty;
    unsigned pinned;
    struct jwk_kind kind;
    int rc;
    if (!json_is_object(j->obj))
        return jwk_error(j, SB_EINVAL, "not a JSON object");
    if ((rc = jwk_string(j, "kty", &kty)) < 0)
        return rc;
    if (!kty)
        return jwk_error(j, SB_EINVAL, "the member \"kty\" is missing");
    if ((rc = jwk_purpose(j, warn, ctx, &pinned)) != 0 ||
        (rc = jwk_kind(j, kty, flags, warn, ctx, &kind)) != 0)
        return rc;
    /* The pairing rule: "HS256" on an RSA key, "ES256" on a P-384 key, "RS256" on an EC key. */
    if (!(pinned & kind.family)) {
        char names[16];
        return jwk_error(j, SB_EINVAL, "its alg %s cannot be used with an %s key",
                         jwt_algs_format(pinned, names, sizeof(names)), kind.type);
    }
    const char *priv = kind.family != JWT_ALGS_HMAC ? private_member(j->obj, kty) : NULL;
    if (priv)
        return jwk_error(j, SB_EINVAL,
                         "it holds the private member \"%s\": publish the public key only", priv);

    EVP_PKEY *pk = NULL;
    unsigned char *k = NULL;
    size_t klen = 0;
    if ((rc = jwk_material(j, &kind, &pk, &k, &klen)) < 0)
        goto out;
    unsigned allowed = kind.family & pinned & algs;
    char why[160];
    if (!allowed) {
        char names[96];
        rc = jwk_skip(j, warn, ctx, "its algorithms are not among the accepted ones (%s)",
                      jwt_algs_format(algs, names, sizeof(names)));
    } else if ((rc = jwtk_add_key(ks, j->kid, allowed, pk, k, klen, why, sizeof(why))) < 0) {
        rc = jwk_error(j, rc, "%s", why);
    } else {
        return 0; /* the set owns pk and k */
    }
out:
    EVP_PKEY_free(pk);
    jwtk_bytes_free(k, klen);
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
                     jwtk_printable(j.kid, shown, sizeof(shown)));
        }
        if ((rc = jwk_add(ks, &j, algs, flags, warn, warn_ctx)) < 0)
            goto out;
    }
    rc = 0;
    if (ks->n == n0)
        rc = sb_init_error(err, errlen, SB_EINVAL, "the JWKS has no usable key");
out:
    if (rc < 0)
        jwtk_truncate(ks, n0);
    json_decref(root);
    return rc;
}
