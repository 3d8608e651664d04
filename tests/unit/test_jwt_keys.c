/*
 * The JWT verifier of plugins/auth-jwt with public keys: RS256/384/512, ES256/384 and EdDSA
 * tokens, keys from PEM text and from JSON Web Key Sets, the key/algorithm pinning that defeats
 * algorithm confusion, kid selection, and the iss/aud/user claims. Every key is generated here
 * with OpenSSL, every JWK is built here from the key's parameters, and every token is signed
 * here by a JOSE signer written for the test, so no fixture is opaque.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "jwt.h"

#define NOW    INT64_C(1700000000)
#define SECRET "0123456789abcdef0123456789abcdef" /* 32 bytes */
#define ALICE  "{\"sub\":\"alice\",\"exp\":1700000600}"

/* ---- keys, generated once for the whole run ---- */

static struct {
    EVP_PKEY *rsa, *rsa2, *rsa1024, *p256, *p256b, *p384, *p521, *ed, *ed2, *ed448, *x25519;
} K;

static int gen_keys(void **unused)
{
    K.rsa = EVP_RSA_gen(2048);
    K.rsa2 = EVP_RSA_gen(2048);
    K.rsa1024 = EVP_RSA_gen(1024);
    K.p256 = EVP_EC_gen("P-256");
    K.p256b = EVP_EC_gen("P-256");
    K.p384 = EVP_EC_gen("P-384");
    K.p521 = EVP_EC_gen("P-521");
    K.ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    K.ed2 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    K.ed448 = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
    K.x25519 = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    return K.rsa && K.rsa2 && K.rsa1024 && K.p256 && K.p256b && K.p384 && K.p521 && K.ed && K.ed2 &&
                   K.ed448 && K.x25519
               ? 0
               : -1;
}

static int free_keys(void **unused)
{
    EVP_PKEY *all[] = {K.rsa,  K.rsa2, K.rsa1024, K.p256,  K.p256b, K.p384,
                       K.p521, K.ed,   K.ed2,     K.ed448, K.x25519};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        EVP_PKEY_free(all[i]);
    return 0;
}

/* ---- encodings ---- */

static char *b64url(const void *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    assert_non_null(out);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

static char *bio_text(BIO *bio)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *s = strndup(data, (size_t)n);
    BIO_free(bio);
    assert_non_null(s);
    return s;
}

static char *pem_public(EVP_PKEY *pk)
{
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(bio, pk), 1);
    return bio_text(bio);
}

static char *pem_private(EVP_PKEY *pk)
{
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL), 1);
    return bio_text(bio);
}

/* "-----BEGIN RSA PUBLIC KEY-----" (PKCS#1). */
static char *pem_pkcs1(EVP_PKEY *pk)
{
    BIO *bio = BIO_new(BIO_s_mem());
    OSSL_ENCODER_CTX *ctx =
        OSSL_ENCODER_CTX_new_for_pkey(pk, EVP_PKEY_PUBLIC_KEY, "PEM", "type-specific", NULL);
    assert_non_null(ctx);
    assert_int_equal(OSSL_ENCODER_to_bio(ctx, bio), 1);
    OSSL_ENCODER_CTX_free(ctx);
    return bio_text(bio);
}

/* A self-signed certificate for the key. */
static char *pem_cert(EVP_PKEY *pk)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"jwt test", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    assert_true(X509_sign(x, pk, EVP_PKEY_is_a(pk, "ED25519") ? NULL : EVP_sha256()) > 0);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(bio, x), 1);
    X509_free(x);
    return bio_text(bio);
}

static char *b64_bn_param(EVP_PKEY *pk, const char *name, size_t pad)
{
    BIGNUM *bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(pk, name, &bn), 1);
    size_t len = pad ? pad : (size_t)BN_num_bytes(bn);
    unsigned char *buf = malloc(len);
    assert_int_equal(BN_bn2binpad(bn, buf, (int)len), (int)len);
    char *s = b64url(buf, len);
    free(buf);
    BN_free(bn);
    return s;
}

static void set_str(json_t *o, const char *k, char *v)
{
    json_object_set_new(o, k, json_string(v));
    free(v);
}

/* The public JWK of `pk` (new reference), with a kid when `kid` is not NULL. */
static json_t *jwk(EVP_PKEY *pk, const char *kid)
{
    json_t *o = json_object();
    if (EVP_PKEY_is_a(pk, "RSA")) {
        json_object_set_new(o, "kty", json_string("RSA"));
        set_str(o, "n", b64_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, 0));
        set_str(o, "e", b64_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, 0));
    } else if (EVP_PKEY_is_a(pk, "EC")) {
        char group[64];
        assert_int_equal(EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL), 1);
        bool p384 = strcmp(group, "secp384r1") == 0;
        size_t coord = strcmp(group, "secp521r1") == 0 ? 66 : p384 ? 48 : 32;
        json_object_set_new(o, "kty", json_string("EC"));
        json_object_set_new(o, "crv",
                            json_string(coord == 66   ? "P-521"
                                        : coord == 48 ? "P-384"
                                                      : "P-256"));
        set_str(o, "x", b64_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, coord));
        set_str(o, "y", b64_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, coord));
    } else {
        unsigned char raw[64];
        size_t len = sizeof(raw);
        assert_int_equal(EVP_PKEY_get_raw_public_key(pk, raw, &len), 1);
        json_object_set_new(o, "kty", json_string("OKP"));
        json_object_set_new(o, "crv",
                            json_string(EVP_PKEY_is_a(pk, "ED25519") ? "Ed25519"
                                        : EVP_PKEY_is_a(pk, "ED448") ? "Ed448"
                                                                     : "X25519"));
        set_str(o, "x", b64url(raw, len));
    }
    if (kid)
        json_object_set_new(o, "kid", json_string(kid));
    return o;
}

/* {"keys":[...]} from JWKs (references stolen), NULL-terminated. */
static char *jwks(json_t *first, ...)
{
    json_t *keys = json_array();
    va_list ap;
    va_start(ap, first);
    for (json_t *k = first; k; k = va_arg(ap, json_t *))
        json_array_append_new(keys, k);
    va_end(ap);
    json_t *set = json_pack("{s:o}", "keys", keys);
    char *text = json_dumps(set, JSON_COMPACT);
    json_decref(set);
    assert_non_null(text);
    return text;
}

/* ---- the test's own JOSE signer ---- */

enum sigform { SIG_RAW, SIG_DER, SIG_PSS };

static const EVP_MD *md_of(const char *alg)
{
    const char *bits = alg + 2;
    return strcmp(bits, "384") == 0   ? EVP_sha384()
           : strcmp(bits, "512") == 0 ? EVP_sha512()
                                      : EVP_sha256();
}

/* The signature of `input` with `pk` as JWS algorithm `alg` wants it, or in `form`. */
static unsigned char *sign_pkey(EVP_PKEY *pk, const char *alg, enum sigform form, const char *input,
                                size_t *siglen)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    const EVP_MD *md = strcmp(alg, "EdDSA") == 0 ? NULL : md_of(alg);
    assert_int_equal(EVP_DigestSignInit(m, &pctx, md, NULL, pk), 1);
    if (form == SIG_PSS)
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
    size_t len = 0;
    assert_int_equal(EVP_DigestSign(m, NULL, &len, (const unsigned char *)input, strlen(input)), 1);
    unsigned char *sig = malloc(len);
    assert_int_equal(EVP_DigestSign(m, sig, &len, (const unsigned char *)input, strlen(input)), 1);
    EVP_MD_CTX_free(m);
    if (alg[0] == 'E' && alg[1] == 'S' && form == SIG_RAW) {
        /* JWS wants r||s at the curve's length, OpenSSL gives DER. */
        size_t coord = strcmp(alg, "ES384") == 0 ? 48 : 32;
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
        assert_non_null(es);
        unsigned char *raw = malloc(2 * coord);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)coord);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + coord, (int)coord);
        ECDSA_SIG_free(es);
        free(sig);
        sig = raw;
        len = 2 * coord;
    }
    *siglen = len;
    return sig;
}

/* header.payload.signature: `pk` signs, or `secret` MACs (HS*), or nothing (alg none). */
static char *token_with(const char *alg, EVP_PKEY *pk, const char *secret, size_t secret_len,
                        enum sigform form, const char *header, const char *payload)
{
    char hdr[256];
    if (!header) {
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
        header = hdr;
    }
    char *h = b64url(header, strlen(header)), *p = b64url(payload, strlen(payload));
    size_t n = strlen(h) + strlen(p) + 2;
    char *input = malloc(n);
    snprintf(input, n, "%s.%s", h, p);
    unsigned char *sig = NULL, mac[EVP_MAX_MD_SIZE];
    size_t siglen = 0;
    if (pk) {
        sig = sign_pkey(pk, alg, form, input, &siglen);
    } else if (secret) {
        unsigned int maclen = 0;
        assert_non_null(HMAC(md_of(alg), secret, (int)secret_len, (unsigned char *)input,
                             strlen(input), mac, &maclen));
        siglen = maclen;
    }
    char *s = b64url(sig ? sig : mac, siglen);
    size_t tn = strlen(input) + strlen(s) + 2;
    char *token = malloc(tn);
    snprintf(token, tn, "%s.%s", input, s);
    free(h);
    free(p);
    free(input);
    free(sig);
    free(s);
    return token;
}

static char *tok(const char *alg, EVP_PKEY *pk, const char *payload)
{
    return token_with(alg, pk, NULL, 0, SIG_RAW, NULL, payload);
}

/* A token whose header has a kid. */
static char *tok_kid(const char *alg, EVP_PKEY *pk, const char *kid, const char *payload)
{
    char header[128];
    snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"kid\":\"%s\"}", alg, kid);
    return token_with(alg, pk, NULL, 0, SIG_RAW, header, payload);
}

static char *hmac_tok(const char *alg, const void *secret, size_t len, const char *header,
                      const char *payload)
{
    return token_with(alg, NULL, secret, len, SIG_RAW, header, payload);
}

/* ---- key sets and verifying ---- */

static char err[512];
static int nwarn;
static char lastwarn[512];

static void warn_cb(void *ctx, const char *msg)
{
    (void)ctx;
    nwarn++;
    snprintf(lastwarn, sizeof(lastwarn), "%s", msg);
}

static struct jwt_keyset *set_new(void)
{
    struct jwt_keyset *ks = jwt_keyset_new();
    assert_non_null(ks);
    return ks;
}

static void add_pem_ok(struct jwt_keyset *ks, const char *kid, EVP_PKEY *pk, unsigned algs)
{
    char *pem = pem_public(pk);
    int rc = jwt_keyset_add_pem(ks, kid, pem, strlen(pem), algs, err, sizeof(err));
    if (rc != 0)
        fail_msg("add_pem: %s", err);
    free(pem);
}

/* A key set from one JWKS text (freed); fails the test when it does not load. */
static struct jwt_keyset *jwks_ok(char *text, unsigned algs, unsigned flags)
{
    struct jwt_keyset *ks = set_new();
    nwarn = 0;
    lastwarn[0] = '\0';
    int rc =
        jwt_keyset_add_jwks(ks, text, strlen(text), algs, flags, warn_cb, NULL, err, sizeof(err));
    free(text);
    if (rc != 0)
        fail_msg("add_jwks: %s", err);
    return ks;
}

/* Loading the JWKS text (freed) fails with `rc` and a message containing `why`. */
static void jwks_refused(char *text, unsigned algs, unsigned flags, int rc, const char *why)
{
    struct jwt_keyset *ks = set_new(); /* with one key first, to see that it stays alone */
    assert_int_equal(jwt_keyset_add_secret(ks, "pre", (const unsigned char *)SECRET, strlen(SECRET),
                                           JWT_ALGS_HMAC, err, sizeof(err)),
                     0);
    err[0] = '\0';
    int got =
        jwt_keyset_add_jwks(ks, text, strlen(text), algs, flags, warn_cb, NULL, err, sizeof(err));
    if (got != rc || !strstr(err, why))
        fail_msg("expected %d \"%s\", got %d \"%s\"", rc, why, got, err);
    /* All or nothing: the key that was there before is the only one. */
    assert_int_equal(jwt_keyset_count(ks), 1);
    jwt_keyset_free(ks);
    free(text);
}

static struct jwt_options opts(void)
{
    return (struct jwt_options){.leeway = JWT_DEFAULT_LEEWAY};
}

/* Verifies `token` (freed) with `ks` and the options. Returns NULL when accepted, with the user
 * in `user` (static), or the refusal reason (static copy). */
static char user[256];
static const char *check_with(const struct jwt_keyset *ks, const struct jwt_options *o, char *token)
{
    static char why[256];
    struct jwt_verifier v;
    struct jwt_identity id = {0};
    const char *reason = NULL;
    assert_int_equal(jwt_verifier_init(&v, o), 0);
    int rc = jwt_verify(&v, ks, token, strlen(token), NOW, &id, &reason);
    free(token);
    user[0] = '\0';
    if (rc == 0) {
        assert_null(reason);
        snprintf(user, sizeof(user), "%s", id.user);
        assert_true(json_is_object(id.claims));
        jwt_identity_free(&id);
        jwt_verifier_free(&v);
        return NULL;
    }
    assert_int_equal(rc, SB_EAUTH);
    assert_non_null(reason);
    assert_null(id.user);
    assert_null(id.claims);
    snprintf(why, sizeof(why), "%s", reason);
    jwt_verifier_free(&v);
    return why;
}

static const char *check(const struct jwt_keyset *ks, char *token)
{
    struct jwt_options o = opts();
    return check_with(ks, &o, token);
}

static void accepted(const struct jwt_keyset *ks, char *token)
{
    const char *why = check(ks, token);
    if (why)
        fail_msg("refused: %s", why);
}

static void refused(const struct jwt_keyset *ks, char *token, const char *expected)
{
    const char *why = check(ks, token);
    if (!why)
        fail_msg("accepted, expected \"%s\"", expected);
    assert_string_equal(why, expected);
}

/* ---- every algorithm ---- */

static void test_each_algorithm_valid(void **unused)
{
    struct jwt_keyset *ks = set_new();
    assert_int_equal(jwt_keyset_add_secret(ks, "hs", (const unsigned char *)SECRET, strlen(SECRET),
                                           JWT_ALGS_HMAC, err, sizeof(err)),
                     0);
    add_pem_ok(ks, "rsa", K.rsa, JWT_ALGS_ALL);
    add_pem_ok(ks, "p256", K.p256, JWT_ALGS_ALL);
    add_pem_ok(ks, "p384", K.p384, JWT_ALGS_ALL);
    add_pem_ok(ks, "ed", K.ed, JWT_ALGS_ALL);
    assert_int_equal(jwt_keyset_count(ks), 5);
    assert_int_equal(jwt_keyset_algs(ks), JWT_ALGS_ALL);

    const char *hs[] = {"HS256", "HS384", "HS512"};
    for (size_t i = 0; i < 3; i++) {
        accepted(ks, hmac_tok(hs[i], SECRET, strlen(SECRET), NULL, ALICE));
        assert_string_equal(user, "alice");
    }
    const char *rs[] = {"RS256", "RS384", "RS512"};
    for (size_t i = 0; i < 3; i++)
        accepted(ks, tok(rs[i], K.rsa, ALICE));
    accepted(ks, tok("ES256", K.p256, ALICE));
    accepted(ks, tok("ES384", K.p384, ALICE));
    accepted(ks, tok("EdDSA", K.ed, ALICE));
    /* And by kid. */
    accepted(ks, tok_kid("RS512", K.rsa, "rsa", ALICE));
    accepted(ks, tok_kid("ES384", K.p384, "p384", ALICE));
    accepted(ks, tok_kid("EdDSA", K.ed, "ed", ALICE));
    assert_string_equal(user, "alice");

    /* Each key says what it allows. */
    const char *kid = NULL;
    unsigned algs = 0;
    assert_int_equal(jwt_keyset_key_info(ks, 1, &kid, &algs), 0);
    assert_string_equal(kid, "rsa");
    assert_int_equal(algs, JWT_ALGS_RSA);
    assert_int_equal(jwt_keyset_key_info(ks, 2, &kid, &algs), 0);
    assert_int_equal(algs, JWT_ALG_BIT(JWT_ES256));
    assert_int_equal(jwt_keyset_key_info(ks, 3, &kid, &algs), 0);
    assert_int_equal(algs, JWT_ALG_BIT(JWT_ES384));
    assert_int_equal(jwt_keyset_key_info(ks, 4, &kid, &algs), 0);
    assert_int_equal(algs, JWT_ALG_BIT(JWT_EDDSA));
    assert_int_equal(jwt_keyset_key_info(ks, 5, &kid, &algs), SB_EINVAL);
    jwt_keyset_free(ks);
}

static void test_wrong_key_refused(void **unused)
{
    struct jwt_keyset *ks = set_new();
    add_pem_ok(ks, NULL, K.rsa, JWT_ALGS_ALL);
    add_pem_ok(ks, NULL, K.p256, JWT_ALGS_ALL);
    add_pem_ok(ks, NULL, K.ed, JWT_ALGS_ALL);
    refused(ks, tok("RS256", K.rsa2, ALICE), "bad signature");
    refused(ks, tok("ES256", K.p256b, ALICE), "bad signature");
    refused(ks, tok("EdDSA", K.ed2, ALICE), "bad signature");
    /* A signature over another payload. */
    char *good = tok("ES256", K.p256, ALICE), *other = tok("ES256", K.p256, "{\"sub\":\"root\"}");
    char *sig = strrchr(good, '.');
    size_t n = (size_t)(strrchr(other, '.') - other) + strlen(sig) + 1;
    char *spliced = malloc(n);
    snprintf(spliced, n, "%.*s%s", (int)(strrchr(other, '.') - other), other, sig);
    refused(ks, spliced, "bad signature");
    free(good);
    free(other);
    jwt_keyset_free(ks);
}

static void test_alg_none_refused_with_public_keys(void **unused)
{
    struct jwt_keyset *ks = set_new();
    add_pem_ok(ks, "rsa", K.rsa, JWT_ALGS_ALL);
    refused(ks, token_with("none", NULL, NULL, 0, SIG_RAW, NULL, ALICE), "algorithm not allowed");
    refused(ks,
            token_with("none", NULL, NULL, 0, SIG_RAW, "{\"alg\":\"none\",\"kid\":\"rsa\"}", ALICE),
            "algorithm not allowed");
    /* A valid RS256 signature under a header that says none. */
    refused(ks, token_with("RS256", K.rsa, NULL, 0, SIG_RAW, "{\"alg\":\"none\"}", ALICE),
            "algorithm not allowed");
    /* Algorithms this verifier does not implement at all. */
    refused(ks, token_with("RS256", K.rsa, NULL, 0, SIG_PSS, "{\"alg\":\"PS256\"}", ALICE),
            "algorithm not allowed");
    refused(ks, token_with("RS256", K.rsa, NULL, 0, SIG_RAW, "{\"alg\":\"rs256\"}", ALICE),
            "algorithm not allowed");
    jwt_keyset_free(ks);
}

/* ---- algorithm confusion ---- */

static void test_hs256_with_rsa_public_key_as_secret_refused(void **unused)
{
    /* The classic attack: the verifier has an RSA public key; the attacker, who knows it too,
     * MACs a token with its bytes and says "HS256". */
    char *pem = pem_public(K.rsa);
    json_t *k = jwk(K.rsa, "rsa");
    const char *n = json_string_value(json_object_get(k, "n"));
    struct jwt_keyset *ks = set_new();
    add_pem_ok(ks, "rsa", K.rsa, JWT_ALGS_ALL); /* every algorithm accepted: the key decides */
    const char *hs[] = {"HS256", "HS384", "HS512"};
    for (size_t i = 0; i < 3; i++) {
        refused(ks, hmac_tok(hs[i], pem, strlen(pem), NULL, ALICE), "algorithm not allowed");
        char header[64];
        snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"kid\":\"rsa\"}", hs[i]);
        refused(ks, hmac_tok(hs[i], pem, strlen(pem), header, ALICE), "algorithm not allowed");
        refused(ks, hmac_tok(hs[i], n, strlen(n), NULL, ALICE), "algorithm not allowed");
    }
    /* The same with the JWKS form of the key. */
    struct jwt_keyset *js = jwks_ok(jwks(json_incref(k), NULL), JWT_ALGS_ALL, 0);
    refused(js, hmac_tok("HS256", pem, strlen(pem), NULL, ALICE), "algorithm not allowed");
    refused(js, hmac_tok("HS256", n, strlen(n), "{\"alg\":\"HS256\",\"kid\":\"rsa\"}", ALICE),
            "algorithm not allowed");
    jwt_keyset_free(js);

    /* With a real HMAC secret beside the RSA key, HS256 is tried with the secret only. */
    assert_int_equal(jwt_keyset_add_secret(ks, NULL, (const unsigned char *)SECRET, strlen(SECRET),
                                           JWT_ALGS_HMAC, err, sizeof(err)),
                     0);
    refused(ks, hmac_tok("HS256", pem, strlen(pem), NULL, ALICE), "bad signature");
    refused(ks, hmac_tok("HS256", pem, strlen(pem), "{\"alg\":\"HS256\",\"kid\":\"rsa\"}", ALICE),
            "algorithm not allowed");
    accepted(ks, hmac_tok("HS256", SECRET, strlen(SECRET), NULL, ALICE));

    /* And the public key with ES256 and EdDSA keys: same refusal. */
    struct jwt_keyset *ec = set_new();
    char *ecpem = pem_public(K.p256), *edpem = pem_public(K.ed);
    add_pem_ok(ec, NULL, K.p256, JWT_ALGS_ALL);
    add_pem_ok(ec, NULL, K.ed, JWT_ALGS_ALL);
    refused(ec, hmac_tok("HS256", ecpem, strlen(ecpem), NULL, ALICE), "algorithm not allowed");
    refused(ec, hmac_tok("HS256", edpem, strlen(edpem), NULL, ALICE), "algorithm not allowed");
    jwt_keyset_free(ec);
    free(ecpem);
    free(edpem);
    json_decref(k);
    free(pem);
    jwt_keyset_free(ks);
}

static void test_public_key_with_hmac_alg_refused_at_load(void **unused)
{
    struct jwt_keyset *ks = set_new();
    char *pem = pem_public(K.rsa);
    assert_int_equal(
        jwt_keyset_add_pem(ks, NULL, pem, strlen(pem), JWT_ALG_BIT(JWT_HS256), err, sizeof(err)),
        SB_EINVAL);
    assert_string_equal(err, "an RSA key cannot be used with HS256");
    assert_int_equal(jwt_keyset_add_pem(ks, NULL, pem, strlen(pem), JWT_ALGS_EC, err, sizeof(err)),
                     SB_EINVAL);
    assert_string_equal(err, "an RSA key cannot be used with ES256|ES384");
    free(pem);
    pem = pem_public(K.p256);
    assert_int_equal(jwt_keyset_add_pem(ks, NULL, pem, strlen(pem),
                                        JWT_ALGS_HMAC | JWT_ALGS_RSA | JWT_ALG_BIT(JWT_ES384), err,
                                        sizeof(err)),
                     SB_EINVAL);
    assert_string_equal(err, "an EC key cannot be used with HS256|HS384|HS512|RS256|RS384|RS512|"
                             "ES384");
    free(pem);
    pem = pem_public(K.ed);
    assert_int_equal(
        jwt_keyset_add_pem(ks, NULL, pem, strlen(pem), JWT_ALG_BIT(JWT_HS256), err, sizeof(err)),
        SB_EINVAL);
    assert_string_equal(err, "an Ed25519 key cannot be used with HS256");
    free(pem);
    assert_int_equal(jwt_keyset_count(ks), 0);

    /* In a JWKS, a key's alg of another family is the same pairing error. */
    json_t *k = jwk(K.rsa, "r");
    json_object_set_new(k, "alg", json_string("HS256"));
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL,
                 "JWKS key 1 (kid \"r\"): its alg HS256 cannot be used with an RSA key");
    k = jwk(K.p256, "e");
    json_object_set_new(k, "alg", json_string("RS256"));
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "alg RS256 cannot be used with an EC");
    k = jwk(K.p256, "e");
    json_object_set_new(k, "alg", json_string("ES384")); /* P-256 is ES256's curve */
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "alg ES384 cannot be used");
    k = jwk(K.ed, "d");
    json_object_set_new(k, "alg", json_string("HS512"));
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "alg HS512 cannot be used");
    jwt_keyset_free(ks);
}

static void test_rs256_token_to_es256_key_refused(void **unused)
{
    struct jwt_keyset *ks = set_new();
    add_pem_ok(ks, "ec", K.p256, JWT_ALG_BIT(JWT_ES256));
    refused(ks, tok("RS256", K.rsa, ALICE), "algorithm not allowed");
    refused(ks, tok_kid("RS256", K.rsa, "ec", ALICE), "algorithm not allowed");
    refused(ks, tok("ES384", K.p384, ALICE), "algorithm not allowed");
    refused(ks, tok("EdDSA", K.ed, ALICE), "algorithm not allowed");
    /* With the verifier narrowed to ES256 too. */
    struct jwt_options o = opts();
    o.algs = JWT_ALG_BIT(JWT_ES256);
    const char *why = check_with(ks, &o, tok("RS256", K.rsa, ALICE));
    assert_string_equal(why, "algorithm not allowed");
    assert_null(check_with(ks, &o, tok("ES256", K.p256, ALICE)));
    /* A verifier that does not accept ES256 refuses even a good ES256 token. */
    o.algs = JWT_ALG_BIT(JWT_RS256);
    why = check_with(ks, &o, tok("ES256", K.p256, ALICE));
    assert_string_equal(why, "algorithm not allowed");
    jwt_keyset_free(ks);
}

static void test_key_alg_pins_the_key(void **unused)
{
    /* A JWK with "alg":"RS384" verifies RS384 only, though RSA could do all three. */
    json_t *k = jwk(K.rsa, "r");
    json_object_set_new(k, "alg", json_string("RS384"));
    struct jwt_keyset *ks = jwks_ok(jwks(k, NULL), JWT_ALGS_ALL, 0);
    accepted(ks, tok("RS384", K.rsa, ALICE));
    refused(ks, tok("RS256", K.rsa, ALICE), "algorithm not allowed");
    refused(ks, tok_kid("RS512", K.rsa, "r", ALICE), "algorithm not allowed");
    jwt_keyset_free(ks);
    /* The caller's accepted set narrows a PEM key the same way. */
    ks = set_new();
    add_pem_ok(ks, NULL, K.rsa, JWT_ALG_BIT(JWT_RS256) | JWT_ALG_BIT(JWT_ES256));
    accepted(ks, tok("RS256", K.rsa, ALICE));
    refused(ks, tok("RS512", K.rsa, ALICE), "algorithm not allowed");
    jwt_keyset_free(ks);
}

/* ---- signature encodings ---- */

/* Replaces the signature of `token` (freed) with `sig`. */
static char *with_sig(char *token, const unsigned char *sig, size_t len)
{
    char *s = b64url(sig, len);
    size_t head = (size_t)(strrchr(token, '.') - token);
    size_t n = head + strlen(s) + 2;
    char *out = malloc(n);
    snprintf(out, n, "%.*s.%s", (int)head, token, s);
    free(token);
    free(s);
    return out;
}

/* The decoded signature of `token`. */
static unsigned char *sig_of(const char *token, size_t *len)
{
    const char *s = strrchr(token, '.') + 1;
    unsigned char *out = malloc(strlen(s));
    assert_int_equal(jwt_b64url_decode(s, strlen(s), out, strlen(s), len), 0);
    return out;
}

static void test_ecdsa_der_signature_refused(void **unused)
{
    struct jwt_keyset *ks = set_new();
    add_pem_ok(ks, NULL, K.p256, JWT_ALGS_ALL);
    add_pem_ok(ks, NULL, K.p384, JWT_ALGS_ALL);
    /* The signature OpenSSL produces, DER-encoded: valid, but not JWS. */
    refused(ks, token_with("ES256", K.p256, NULL, 0, SIG_DER, NULL, ALICE), "bad signature");
    refused(ks, token_with("ES384", K.p384, NULL, 0, SIG_DER, NULL, ALICE), "bad signature");
    jwt_keyset_free(ks);
}

static void test_ecdsa_wrong_length_refused(void **unused)
{
    struct jwt_keyset *ks = set_new();
    add_pem_ok(ks, NULL, K.p256, JWT_ALGS_ALL);
    add_pem_ok(ks, NULL, K.p384, JWT_ALGS_ALL);
    char *t = tok("ES256", K.p256, ALICE);
    size_t len = 0;
    unsigned char *sig = sig_of(t, &len), big[97];
    assert_int_equal(len, 64);
    memcpy(big, sig, 64);
    big[64] = 0;
    refused(ks, with_sig(strdup(t), sig, 63), "bad signature");
    refused(ks, with_sig(strdup(t), big, 65), "bad signature");
    /* r and s each with a leading zero byte: 66 bytes, the same numbers. */
    unsigned char padded[66] = {0};
    memcpy(padded + 1, sig, 32);
    memcpy(padded + 34, sig + 32, 32);
    refused(ks, with_sig(strdup(t), padded, 66), "bad signature");
    /* r = s = 0. */
    unsigned char zero[96] = {0};
    refused(ks, with_sig(strdup(t), zero, 64), "bad signature");
    accepted(ks, t);
    free(sig);
    /* An ES384 signature is 96 bytes: 64 is refused. */
    t = tok("ES384", K.p384, ALICE);
    sig = sig_of(t, &len);
    assert_int_equal(len, 96);
    refused(ks, with_sig(t, sig, 64), "bad signature");
    refused(ks, with_sig(tok("ES384", K.p384, ALICE), zero, 96), "bad signature");
    free(sig);
    jwt_keyset_free(ks);
}

static void test_rsa_and_eddsa_signature_forms_refused(void **unused)
{
    struct jwt_keyset *ks = set_new();
    add_pem_ok(ks, NULL, K.rsa, JWT_ALGS_ALL);
    add_pem_ok(ks, NULL, K.ed, JWT_ALGS_ALL);
    /* RS256 is PKCS#1 v1.5: a PSS signature by the same key does not pass. */
    refused(ks, token_with("RS256", K.rsa, NULL, 0, SIG_PSS, NULL, ALICE), "bad signature");
    /* Truncated, extended and empty signatures. */
    char *t = tok("RS256", K.rsa, ALICE);
    size_t len = 0;
    unsigned char *sig = sig_of(t, &len), big[257];
    assert_int_equal(len, 256);
    refused(ks, with_sig(strdup(t), sig, 255), "bad signature");
    memcpy(big + 1, sig, 256);
    big[0] = 0;
    refused(ks, with_sig(strdup(t), big, 257), "bad signature");
    refused(ks, with_sig(strdup(t), sig, 0), "bad signature");
    free(sig);
    free(t);
    t = tok("EdDSA", K.ed, ALICE);
    sig = sig_of(t, &len);
    assert_int_equal(len, 64);
    refused(ks, with_sig(strdup(t), sig, 63), "bad signature");
    sig[10] ^= 1;
    refused(ks, with_sig(t, sig, 64), "bad signature");
    free(sig);
    jwt_keyset_free(ks);
}

/* ---- kid ---- */

static void test_kid_selection(void **unused)
{
    struct jwt_keyset *ks =
        jwks_ok(jwks(jwk(K.rsa, "a"), jwk(K.rsa2, "b"), jwk(K.p256, "c"), NULL), JWT_ALGS_ALL, 0);
    /* The right kid. */
    accepted(ks, tok_kid("RS256", K.rsa, "a", ALICE));
    accepted(ks, tok_kid("RS256", K.rsa2, "b", ALICE));
    accepted(ks, tok_kid("ES256", K.p256, "c", ALICE));
    /* A kid names one key: a token signed by another key is not tried with it. */
    refused(ks, tok_kid("RS256", K.rsa, "b", ALICE), "bad signature");
    /* A kid no key has. */
    refused(ks, tok_kid("RS256", K.rsa, "zzz", ALICE), "unknown key id");
    refused(ks, tok_kid("RS256", K.rsa, "A", ALICE), "unknown key id");
    /* The kid of a key of another family. */
    refused(ks, tok_kid("RS256", K.rsa, "c", ALICE), "algorithm not allowed");
    /* No kid: every key that allows the algorithm, so either RSA key. */
    accepted(ks, tok("RS256", K.rsa, ALICE));
    accepted(ks, tok("RS256", K.rsa2, ALICE));
    accepted(ks, tok("ES256", K.p256, ALICE));
    refused(ks, tok("ES256", K.p256b, ALICE), "bad signature");
    /* A kid that is not a string. */
    refused(ks,
            token_with("RS256", K.rsa, NULL, 0, SIG_RAW, "{\"alg\":\"RS256\",\"kid\":1}", ALICE),
            "malformed header");
    refused(ks,
            token_with("RS256", K.rsa, NULL, 0, SIG_RAW, "{\"alg\":\"RS256\",\"kid\":null}", ALICE),
            "malformed header");
    jwt_keyset_free(ks);
}

static void test_no_kid_with_many_keys(void **unused)
{
    /* Five keys allow RS256: a token without kid is not tried against all of them. */
    struct jwt_keyset *ks = set_new();
    const char *kids[] = {"k1", "k2", "k3", "k4", "k5"};
    for (size_t i = 0; i < 5; i++)
        add_pem_ok(ks, kids[i], i == 4 ? K.rsa : K.rsa2, JWT_ALGS_ALL);
    add_pem_ok(ks, "ec", K.p256, JWT_ALGS_ALL);
    refused(ks, tok("RS256", K.rsa, ALICE), "missing key id");
    accepted(ks, tok_kid("RS256", K.rsa, "k5", ALICE));
    /* The EC key is alone in its family: no kid needed. */
    accepted(ks, tok("ES256", K.p256, ALICE));
    jwt_keyset_free(ks);

    /* Four are tried, in order: the last one may be the right one. */
    ks = set_new();
    for (size_t i = 0; i < 4; i++)
        add_pem_ok(ks, kids[i], i == 3 ? K.rsa : K.rsa2, JWT_ALGS_ALL);
    accepted(ks, tok("RS256", K.rsa, ALICE));
    jwt_keyset_free(ks);
}

static void test_unknown_kid_falls_back_to_keys_without_kid(void **unused)
{
    /* A key configured without kid (a PEM file, the secret) answers tokens whose kid is not
     * known: it could verify the same token with its kid removed anyway. */
    struct jwt_keyset *ks = set_new();
    add_pem_ok(ks, NULL, K.rsa, JWT_ALGS_ALL);
    add_pem_ok(ks, "b", K.rsa2, JWT_ALGS_ALL);
    accepted(ks, tok_kid("RS256", K.rsa, "some-other-kid", ALICE));
    /* A known kid is not a fallback. */
    refused(ks, tok_kid("RS256", K.rsa, "b", ALICE), "bad signature");
    /* A fallback key of another family: unknown key id. */
    refused(ks, tok_kid("ES256", K.p256, "x", ALICE), "unknown key id");
    jwt_keyset_free(ks);
}

static void test_duplicate_kid_refused(void **unused)
{
    struct jwt_keyset *ks = set_new();
    add_pem_ok(ks, "a", K.rsa, JWT_ALGS_ALL);
    char *pem = pem_public(K.p256);
    assert_int_equal(jwt_keyset_add_pem(ks, "a", pem, strlen(pem), JWT_ALGS_ALL, err, sizeof(err)),
                     SB_EEXISTS);
    assert_string_equal(err, "two keys have the kid \"a\"");
    free(pem);
    assert_int_equal(jwt_keyset_add_secret(ks, "a", (const unsigned char *)SECRET, strlen(SECRET),
                                           JWT_ALGS_HMAC, err, sizeof(err)),
                     SB_EEXISTS);
    jwks_refused(jwks(jwk(K.rsa, "x"), jwk(K.p256, "x"), NULL), JWT_ALGS_ALL, 0, SB_EEXISTS,
                 "JWKS key 2 (kid \"x\"): two keys have the kid \"x\"");
    /* Appending a set whose kid is already there: nothing is added. */
    struct jwt_keyset *other = set_new();
    add_pem_ok(other, "z", K.ed, JWT_ALGS_ALL);
    add_pem_ok(other, "a", K.p256, JWT_ALGS_ALL);
    assert_int_equal(jwt_keyset_append(ks, other), SB_EEXISTS);
    assert_int_equal(jwt_keyset_count(ks), 1);
    jwt_keyset_free(other);
    jwt_keyset_free(ks);
}

static void test_keyset_append_shares_keys(void **unused)
{
    struct jwt_keyset *a = set_new(), *b = set_new();
    add_pem_ok(a, "rsa", K.rsa, JWT_ALGS_ALL);
    assert_int_equal(jwt_keyset_add_secret(a, NULL, (const unsigned char *)SECRET, strlen(SECRET),
                                           JWT_ALGS_HMAC, err, sizeof(err)),
                     0);
    assert_int_equal(jwt_keyset_append(b, a), 0);
    jwt_keyset_free(a); /* b keeps its own references and copies */
    assert_int_equal(jwt_keyset_count(b), 2);
    accepted(b, tok_kid("RS256", K.rsa, "rsa", ALICE));
    accepted(b, hmac_tok("HS512", SECRET, strlen(SECRET), NULL, ALICE));
    jwt_keyset_free(b);
}

/* ---- claims ---- */

static void test_iss_and_aud(void **unused)
{
    struct jwt_keyset *ks = set_new();
    add_pem_ok(ks, NULL, K.p256, JWT_ALGS_ALL);
    struct jwt_options o = opts();
    o.iss = "https://issuer.example";
    o.aud = "switchboard";
#define CHECK(payload) check_with(ks, &o, tok("ES256", K.p256, payload))
    assert_null(
        CHECK("{\"sub\":\"a\",\"iss\":\"https://issuer.example\",\"aud\":\"switchboard\"}"));
    assert_string_equal(CHECK("{\"sub\":\"a\",\"iss\":\"https://evil.example\",\"aud\":"
                              "\"switchboard\"}"),
                        "issuer not accepted");
    assert_string_equal(CHECK("{\"sub\":\"a\",\"iss\":\"https://ISSUER.example\",\"aud\":"
                              "\"switchboard\"}"),
                        "issuer not accepted");
    assert_string_equal(CHECK("{\"sub\":\"a\",\"iss\":\"https://issuer.example/\",\"aud\":"
                              "\"switchboard\"}"),
                        "issuer not accepted");
    assert_string_equal(CHECK("{\"sub\":\"a\",\"aud\":\"switchboard\"}"), "missing iss claim");
    assert_string_equal(CHECK("{\"sub\":\"a\",\"iss\":[\"https://issuer.example\"],\"aud\":"
                              "\"switchboard\"}"),
                        "invalid iss claim");
    const char *iss = "\"iss\":\"https://issuer.example\"";
    char p[256];
#define AUD(a) (snprintf(p, sizeof(p), "{\"sub\":\"a\",%s,\"aud\":%s}", iss, a), CHECK(p))
    assert_string_equal(AUD("\"other\""), "audience not accepted");
    assert_string_equal(AUD("\"Switchboard\""), "audience not accepted");
    assert_null(AUD("[\"other\",\"switchboard\"]"));
    assert_null(AUD("[\"switchboard\"]"));
    assert_string_equal(AUD("[\"other\",\"another\"]"), "audience not accepted");
    assert_string_equal(AUD("[]"), "audience not accepted");
    assert_string_equal(AUD("[\"switchboard\",1]"), "invalid aud claim");
    assert_string_equal(AUD("42"), "invalid aud claim");
    assert_string_equal(AUD("null"), "invalid aud claim");
    assert_string_equal(AUD("{\"aud\":\"switchboard\"}"), "invalid aud claim");
    snprintf(p, sizeof(p), "{\"sub\":\"a\",%s}", iss);
    assert_string_equal(CHECK(p), "missing aud claim");
    /* Unchecked when not configured: any iss and aud pass. */
    o.iss = o.aud = NULL;
    assert_null(CHECK("{\"sub\":\"a\",\"iss\":\"whoever\",\"aud\":[1,2]}"));
#undef AUD
#undef CHECK
    jwt_keyset_free(ks);
}

static void test_user_claim(void **unused)
{
    struct jwt_keyset *ks = set_new();
    add_pem_ok(ks, NULL, K.ed, JWT_ALGS_ALL);
    struct jwt_options o = opts();
    o.user_claim = "email";
#define CHECK(payload) check_with(ks, &o, tok("EdDSA", K.ed, payload))
    assert_null(CHECK("{\"sub\":\"123\",\"email\":\"alice@example.com\"}"));
    assert_string_equal(user, "alice@example.com");
    assert_string_equal(CHECK("{\"sub\":\"123\"}"), "missing email claim");
    assert_string_equal(CHECK("{\"email\":\"\"}"), "invalid email claim");
    assert_string_equal(CHECK("{\"email\":{\"v\":1}}"), "invalid email claim");
    assert_string_equal(CHECK("{\"email\":true}"), "invalid email claim");
    o.user_claim = "uid";
    assert_null(CHECK("{\"uid\":4711}"));
    assert_string_equal(user, "4711");
    o.user_claim = "https://example.com/user_id"; /* a namespaced claim */
    assert_null(CHECK("{\"https://example.com/user_id\":\"u-1\"}"));
    assert_string_equal(user, "u-1");
    o.user_claim = NULL; /* default: sub */
    assert_null(CHECK("{\"sub\":\"bob\",\"email\":\"x\"}"));
    assert_string_equal(user, "bob");
    assert_string_equal(CHECK("{\"email\":\"x\"}"), "missing sub claim");
#undef CHECK
    jwt_keyset_free(ks);
}

static void test_required_claims(void **unused)
{
    struct jwt_keyset *ks = set_new();
    add_pem_ok(ks, NULL, K.rsa, JWT_ALGS_ALL);
    const char *req[] = {"exp", "jti"};
    struct jwt_options o = opts();
    o.required = req;
    o.nrequired = 2;
    assert_null(check_with(ks, &o,
                           tok("RS256", K.rsa,
                               "{\"sub\":\"a\",\"exp\":1700000600,"
                               "\"jti\":\"x\"}")));
    assert_string_equal(check_with(ks, &o, tok("RS256", K.rsa, "{\"sub\":\"a\",\"jti\":\"x\"}")),
                        "missing exp claim");
    assert_string_equal(
        check_with(ks, &o, tok("RS256", K.rsa, "{\"sub\":\"a\",\"exp\":1700000600}")),
        "missing jti claim");
    jwt_keyset_free(ks);
}

static void test_time_claims_with_public_keys(void **unused)
{
    /* The HMAC tests cover every edge; the checks do not depend on the algorithm. */
    struct jwt_keyset *ks = set_new();
    add_pem_ok(ks, NULL, K.rsa, JWT_ALGS_ALL);
    add_pem_ok(ks, NULL, K.p384, JWT_ALGS_ALL);
    refused(ks, tok("RS256", K.rsa, "{\"sub\":\"a\",\"exp\":1699999970}"), "token expired");
    accepted(ks, tok("RS256", K.rsa, "{\"sub\":\"a\",\"exp\":1699999971}"));
    refused(ks, tok("ES384", K.p384, "{\"sub\":\"a\",\"nbf\":1700000031}"), "token not yet valid");
    accepted(ks, tok("ES384", K.p384, "{\"sub\":\"a\",\"nbf\":1700000030}"));
    struct jwt_options o = opts();
    o.leeway = 0;
    assert_string_equal(
        check_with(ks, &o, tok("RS256", K.rsa, "{\"sub\":\"a\",\"exp\":1700000000}")),
        "token expired");
    jwt_keyset_free(ks);
}

/* ---- PEM ---- */

static void test_pem_forms(void **unused)
{
    struct jwt_keyset *ks = set_new();
    char *pkcs1 = pem_pkcs1(K.rsa);
    assert_non_null(strstr(pkcs1, "BEGIN RSA PUBLIC KEY"));
    assert_int_equal(
        jwt_keyset_add_pem(ks, "pkcs1", pkcs1, strlen(pkcs1), JWT_ALGS_ALL, err, sizeof(err)), 0);
    char *cert = pem_cert(K.p256);
    assert_int_equal(
        jwt_keyset_add_pem(ks, "cert", cert, strlen(cert), JWT_ALGS_ALL, err, sizeof(err)), 0);
    char *edcert = pem_cert(K.ed);
    assert_int_equal(
        jwt_keyset_add_pem(ks, "edcert", edcert, strlen(edcert), JWT_ALGS_ALL, err, sizeof(err)),
        0);
    accepted(ks, tok_kid("RS256", K.rsa, "pkcs1", ALICE));
    accepted(ks, tok_kid("ES256", K.p256, "cert", ALICE));
    accepted(ks, tok_kid("EdDSA", K.ed, "edcert", ALICE));
    free(pkcs1);
    free(cert);
    free(edcert);
    jwt_keyset_free(ks);
}

static void pem_refused(const char *pem, int rc, const char *why)
{
    struct jwt_keyset *ks = set_new();
    err[0] = '\0';
    int got = jwt_keyset_add_pem(ks, NULL, pem, strlen(pem), JWT_ALGS_ALL, err, sizeof(err));
    if (got != rc || !strstr(err, why))
        fail_msg("expected %d \"%s\", got %d \"%s\"", rc, why, got, err);
    assert_int_equal(jwt_keyset_count(ks), 0);
    jwt_keyset_free(ks);
}

static void test_pem_refusals(void **unused)
{
    char *priv = pem_private(K.rsa);
    pem_refused(priv, SB_EINVAL, "holds a private key");
    assert_null(strstr(err, "MII")); /* no key material in the message */
    free(priv);
    priv = pem_private(K.p256);
    pem_refused(priv, SB_EINVAL, "holds a private key");
    free(priv);

    char *weak = pem_public(K.rsa1024);
    pem_refused(weak, SB_EINVAL, "an RSA key of 1024 bits is too weak");
    free(weak);
    char *p521 = pem_public(K.p521);
    pem_refused(p521, SB_EINVAL, "the curve secp521r1 is not supported");
    free(p521);
    char *ed448 = pem_public(K.ed448);
    pem_refused(ed448, SB_EINVAL, "a ED448 key is not supported");
    free(ed448);
    char *x = pem_public(K.x25519);
    pem_refused(x, SB_EINVAL, "a X25519 key is not supported");
    free(x);

    char *a = pem_public(K.rsa), *b = pem_public(K.p256);
    size_t n = strlen(a) + strlen(b) + 1;
    char *two = malloc(n);
    snprintf(two, n, "%s%s", a, b);
    pem_refused(two, SB_EINVAL, "more than one PEM block");
    free(two);
    /* A damaged body. */
    char *bad = strdup(a);
    char *body = strchr(bad, '\n') + 1;
    body[20] = body[20] == 'A' ? 'B' : 'A';
    body[21] = body[21] == 'A' ? 'B' : 'A';
    pem_refused(bad, SB_EINVAL, "does not decode");
    free(bad);
    free(a);
    free(b);
    pem_refused("not a key", SB_EPROTO, "not a PEM file");
    pem_refused("", SB_EPROTO, "not a PEM file");
    pem_refused("-----BEGIN DH PARAMETERS-----\nMAYCAQI=\n-----END DH PARAMETERS-----\n", SB_EINVAL,
                "of type \"DH PARAMETERS\"");
}

/* ---- JWKS ---- */

static void test_jwks_good_set(void **unused)
{
    json_t *rsa = jwk(K.rsa, "rsa");
    json_object_set_new(rsa, "use", json_string("sig"));
    json_object_set_new(rsa, "alg", json_string("RS256"));
    json_object_set_new(rsa, "x5t", json_string("ignored")); /* unknown members are ignored */
    json_t *ec = jwk(K.p256, "p256");
    json_object_set_new(ec, "key_ops", json_pack("[s]", "verify"));
    struct jwt_keyset *ks =
        jwks_ok(jwks(rsa, ec, jwk(K.p384, "p384"), jwk(K.ed, "ed"), jwk(K.rsa2, NULL), NULL),
                JWT_ALGS_ALL, 0);
    assert_int_equal(jwt_keyset_count(ks), 5);
    assert_int_equal(nwarn, 0);
    accepted(ks, tok_kid("RS256", K.rsa, "rsa", ALICE));
    accepted(ks, tok_kid("ES256", K.p256, "p256", ALICE));
    accepted(ks, tok_kid("ES384", K.p384, "p384", ALICE));
    accepted(ks, tok_kid("EdDSA", K.ed, "ed", ALICE));
    accepted(ks, tok("RS512", K.rsa2, ALICE)); /* the key without kid, RS512 allowed */
    jwt_keyset_free(ks);
}

static void test_jwks_bad_base64url(void **unused)
{
    const char *members[] = {"n", "e"};
    for (size_t i = 0; i < 2; i++) {
        json_t *k = jwk(K.rsa, "r");
        const char *v = json_string_value(json_object_get(k, members[i]));
        char *padded = malloc(strlen(v) + 3);
        sprintf(padded, "%s=", v);
        json_object_set_new(k, members[i], json_string(padded));
        free(padded);
        jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "is not valid base64url");
    }
    /* Standard base64 characters instead of base64url. */
    json_t *k = jwk(K.p256, "e");
    char *x = strdup(json_string_value(json_object_get(k, "x")));
    x[3] = '+';
    json_object_set_new(k, "x", json_string(x));
    free(x);
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL,
                 "JWKS key 1 (kid \"e\"): the member \"x\" is not valid base64url");
    k = jwk(K.ed, "d");
    json_object_set_new(k, "x", json_string("AAAA AAAA"));
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "the member \"x\" is not valid");
}

static void test_jwks_missing_fields(void **unused)
{
    struct {
        EVP_PKEY *pk;
        const char *drop;
        const char *why;
    } cases[] = {
        {K.rsa, "n", "the member \"n\" is missing"},
        {K.rsa, "e", "the member \"e\" is missing"},
        {K.rsa, "kty", "the member \"kty\" is missing"},
        {K.p256, "x", "the member \"x\" is missing"},
        {K.p256, "y", "the member \"y\" is missing"},
        {K.p256, "crv", "the member \"crv\" is missing"},
        {K.ed, "x", "the member \"x\" is missing"},
        {K.ed, "crv", "the member \"crv\" is missing"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *k = jwk(cases[i].pk, NULL);
        json_object_del(k, cases[i].drop);
        jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, cases[i].why);
    }
    /* Members of the wrong type. */
    json_t *k = jwk(K.rsa, NULL);
    json_object_set_new(k, "n", json_integer(65537));
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "\"n\" is not a non-empty string");
    k = jwk(K.rsa, NULL);
    json_object_set_new(k, "kid", json_integer(1));
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "\"kid\" is not a non-empty string");
    k = jwk(K.rsa, NULL);
    json_object_set_new(k, "kid", json_string(""));
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "\"kid\" is not a non-empty string");
    k = jwk(K.rsa, NULL);
    json_object_set_new(k, "use", json_true());
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "\"use\" is not a non-empty string");
    k = jwk(K.rsa, NULL);
    json_object_set_new(k, "key_ops", json_string("verify"));
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "\"key_ops\" is not an array");
    jwks_refused(strdup("{\"keys\":[42]}"), JWT_ALGS_ALL, 0, SB_EINVAL,
                 "JWKS key 1: not a JSON object");
}

static void test_jwks_key_values_checked(void **unused)
{
    /* EC coordinates shorter than the curve's length, and a point off the curve. */
    json_t *k = jwk(K.p256, "e");
    json_object_set_new(k, "x", json_string("AAAA"));
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "x and y must be 32 bytes each");
    k = jwk(K.p256, "e");
    char *y = strdup(json_string_value(json_object_get(k, "y")));
    y[5] = y[5] == 'A' ? 'B' : 'A';
    json_object_set_new(k, "y", json_string(y));
    free(y);
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "not a point of P-256");
    /* The P-384 coordinates labelled P-256. */
    k = jwk(K.p384, "e");
    json_object_set_new(k, "crv", json_string("P-256"));
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "x and y must be 32 bytes each");
    k = jwk(K.ed, "d");
    json_object_set_new(k, "x", json_string("AAAA"));
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "x must be 32 bytes for Ed25519");
    /* An RSA modulus that is even. */
    k = jwk(K.rsa, "r");
    char *n = strdup(json_string_value(json_object_get(k, "n")));
    size_t len = strlen(n);
    unsigned char raw[600];
    size_t rawlen = 0;
    assert_int_equal(jwt_b64url_decode(n, len, raw, sizeof(raw), &rawlen), 0);
    raw[rawlen - 1] &= 0xfe;
    free(n);
    json_object_set_new(k, "n", json_string(n = b64url(raw, rawlen)));
    free(n);
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "fails OpenSSL's validity check");
}

static void test_small_rsa_exponent_refused(void **unused)
{
    /* e = 3: refused (SP 800-56B wants 65537 at least; OpenSSL 3.0's check lets it pass). */
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    BIGNUM *e = BN_new();
    EVP_PKEY *pk = NULL;
    BN_set_word(e, 3);
    assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048), 1);
    assert_int_equal(EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e), 1);
    assert_int_equal(EVP_PKEY_generate(ctx, &pk), 1);
    char *pem = pem_public(pk);
    pem_refused(pem, SB_EINVAL, "the RSA public exponent must be odd, at least 65537");
    jwks_refused(jwks(jwk(pk, "e3"), NULL), JWT_ALGS_ALL, 0, SB_EINVAL,
                 "JWKS key 1 (kid \"e3\"): the RSA public exponent must be odd, at least 65537");
    /* An even exponent, in a JWK. */
    json_t *k = jwk(K.rsa, "even");
    json_object_set_new(k, "e", json_string("AQAA")); /* 65536 */
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "the RSA public exponent must be odd");
    free(pem);
    EVP_PKEY_free(pk);
    BN_free(e);
    EVP_PKEY_CTX_free(ctx);
}

static void test_jwks_weak_rsa_refused(void **unused)
{
    jwks_refused(jwks(jwk(K.rsa, "good"), jwk(K.rsa1024, "weak"), NULL), JWT_ALGS_ALL, 0, SB_EINVAL,
                 "JWKS key 2 (kid \"weak\"): an RSA key of 1024 bits is too weak");
}

static void test_jwks_private_members_refused(void **unused)
{
    json_t *k = jwk(K.rsa, "r");
    json_object_set_new(k, "d", json_string("AAAA"));
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL,
                 "it holds the private member \"d\": publish the public key only");
    k = jwk(K.rsa, "r");
    json_object_set_new(k, "qi", json_string("AAAA"));
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "private member \"qi\"");
    k = jwk(K.p256, "e");
    json_object_set_new(k, "d", json_string("AAAA"));
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "private member \"d\"");
    k = jwk(K.ed, "o");
    json_object_set_new(k, "d", json_string("AAAA"));
    jwks_refused(jwks(k, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "private member \"d\"");
}

static json_t *oct(const char *kid, const char *secret)
{
    char *k = b64url(secret, strlen(secret));
    json_t *o = json_pack("{s:s, s:s, s:s}", "kty", "oct", "kid", kid, "k", k);
    free(k);
    return o;
}

static void test_jwks_oct_keys(void **unused)
{
    /* Refused unless enabled, even beside good keys. */
    jwks_refused(jwks(jwk(K.rsa, "r"), oct("h", SECRET), NULL), JWT_ALGS_ALL, 0, SB_EINVAL,
                 "JWKS key 2 (kid \"h\"): a symmetric (oct) key, refused unless HMAC keys from a "
                 "JWKS are enabled (jwks_hmac=true)");
    assert_null(strstr(err, SECRET));
    /* Enabled: HS256/384/512 with that key, nothing else. */
    struct jwt_keyset *ks =
        jwks_ok(jwks(jwk(K.rsa, "r"), oct("h", SECRET), NULL), JWT_ALGS_ALL, JWT_JWKS_ALLOW_HMAC);
    accepted(ks,
             hmac_tok("HS256", SECRET, strlen(SECRET), "{\"alg\":\"HS256\",\"kid\":\"h\"}", ALICE));
    accepted(ks, hmac_tok("HS512", SECRET, strlen(SECRET), NULL, ALICE));
    refused(ks,
            hmac_tok("HS256", SECRET, strlen(SECRET), "{\"alg\":\"HS256\",\"kid\":\"r\"}", ALICE),
            "algorithm not allowed");
    jwt_keyset_free(ks);
    /* Too short, and pinned to another family. */
    jwks_refused(jwks(oct("h", "short"), NULL), JWT_ALGS_ALL, JWT_JWKS_ALLOW_HMAC, SB_EINVAL,
                 "k must hold at least 32 bytes");
    json_t *o = oct("h", SECRET);
    json_object_set_new(o, "alg", json_string("RS256"));
    jwks_refused(jwks(o, NULL), JWT_ALGS_ALL, JWT_JWKS_ALLOW_HMAC, SB_EINVAL,
                 "its alg RS256 cannot be used with an HMAC key");
    o = oct("h", SECRET);
    json_object_del(o, "k");
    jwks_refused(jwks(o, NULL), JWT_ALGS_ALL, JWT_JWKS_ALLOW_HMAC, SB_EINVAL,
                 "the member \"k\" is missing");
}

static void test_jwks_skipped_keys(void **unused)
{
    /* use=enc: refused as a signing key, the set still loads with its other key. */
    json_t *enc = jwk(K.rsa2, "enc");
    json_object_set_new(enc, "use", json_string("enc"));
    struct jwt_keyset *ks = jwks_ok(jwks(enc, jwk(K.rsa, "sig"), NULL), JWT_ALGS_ALL, 0);
    assert_int_equal(jwt_keyset_count(ks), 1);
    assert_int_equal(nwarn, 1);
    assert_string_equal(lastwarn,
                        "JWKS key 1 (kid \"enc\") is skipped: its use is \"enc\", not \"sig\"");
    refused(ks, tok_kid("RS256", K.rsa2, "enc", ALICE), "unknown key id");
    refused(ks, tok("RS256", K.rsa2, ALICE), "bad signature");
    accepted(ks, tok_kid("RS256", K.rsa, "sig", ALICE));
    jwt_keyset_free(ks);

    /* A set of nothing but skipped keys is refused. */
    enc = jwk(K.rsa, "enc");
    json_object_set_new(enc, "use", json_string("enc"));
    jwks_refused(jwks(enc, NULL), JWT_ALGS_ALL, 0, SB_EINVAL, "the JWKS has no usable key");
    jwks_refused(strdup("{\"keys\":[]}"), JWT_ALGS_ALL, 0, SB_EINVAL, "no usable key");

    /* Keys this verifier does not implement, and keys outside the accepted algorithms. */
    json_t *ops = jwk(K.p256, "ops");
    json_object_set_new(ops, "key_ops", json_pack("[s]", "encrypt"));
    json_t *ps = jwk(K.rsa2, "ps");
    json_object_set_new(ps, "alg", json_string("PS256"));
    json_t *other = json_pack("{s:s, s:s}", "kty", "XYZ", "kid", "xyz");
    ks = jwks_ok(jwks(jwk(K.p521, "p521"), jwk(K.ed448, "ed448"), jwk(K.x25519, "x25519"), ops, ps,
                      other, jwk(K.p384, "p384"), jwk(K.rsa, "rsa"), NULL),
                 JWT_ALG_BIT(JWT_RS256), 0);
    assert_int_equal(jwt_keyset_count(ks), 1);
    assert_int_equal(nwarn, 7);
    assert_string_equal(lastwarn, "JWKS key 7 (kid \"p384\") is skipped: its algorithms are not "
                                  "among the accepted ones (RS256)");
    accepted(ks, tok_kid("RS256", K.rsa, "rsa", ALICE));
    jwt_keyset_free(ks);
}

static void test_jwks_not_a_set(void **unused)
{
    jwks_refused(strdup("not json"), JWT_ALGS_ALL, 0, SB_EJSON,
                 "the JWKS is not valid JSON (line 1, column");
    jwks_refused(strdup("[]"), JWT_ALGS_ALL, 0, SB_EINVAL, "not an object with a \"keys\" array");
    jwks_refused(strdup("{}"), JWT_ALGS_ALL, 0, SB_EINVAL, "not an object with a \"keys\" array");
    jwks_refused(strdup("{\"keys\":{}}"), JWT_ALGS_ALL, 0, SB_EINVAL, "\"keys\" array");
    /* A bare JWK is not a set. */
    json_t *k = jwk(K.rsa, "r");
    char *bare = json_dumps(k, 0);
    json_decref(k);
    jwks_refused(bare, JWT_ALGS_ALL, 0, SB_EINVAL, "\"keys\" array");
    /* Duplicate members: which kty would count? */
    jwks_refused(strdup("{\"keys\":[{\"kty\":\"RSA\",\"kty\":\"oct\",\"k\":\"AAAA\"}]}"),
                 JWT_ALGS_ALL, 0, SB_EJSON, "not valid JSON");
    /* The parse error names a position, never the text around it (oct keys are secrets). */
    jwks_refused(strdup("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0c2VjcmV0\" x}]}"),
                 JWT_ALGS_ALL, JWT_JWKS_ALLOW_HMAC, SB_EJSON, "not valid JSON");
    assert_null(strstr(err, "c2Vj"));
    /* Too many keys. */
    json_t *keys = json_array();
    for (int i = 0; i <= JWT_MAX_KEYS; i++)
        json_array_append_new(keys, json_pack("{s:s}", "kty", "XYZ"));
    json_t *set = json_pack("{s:o}", "keys", keys);
    char *text = json_dumps(set, 0);
    json_decref(set);
    jwks_refused(text, JWT_ALGS_ALL, 0, SB_ELIMIT, "more than 64 keys");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_algorithm_valid),
        cmocka_unit_test(test_wrong_key_refused),
        cmocka_unit_test(test_alg_none_refused_with_public_keys),
        cmocka_unit_test(test_hs256_with_rsa_public_key_as_secret_refused),
        cmocka_unit_test(test_public_key_with_hmac_alg_refused_at_load),
        cmocka_unit_test(test_rs256_token_to_es256_key_refused),
        cmocka_unit_test(test_key_alg_pins_the_key),
        cmocka_unit_test(test_ecdsa_der_signature_refused),
        cmocka_unit_test(test_ecdsa_wrong_length_refused),
        cmocka_unit_test(test_rsa_and_eddsa_signature_forms_refused),
        cmocka_unit_test(test_kid_selection),
        cmocka_unit_test(test_no_kid_with_many_keys),
        cmocka_unit_test(test_unknown_kid_falls_back_to_keys_without_kid),
        cmocka_unit_test(test_duplicate_kid_refused),
        cmocka_unit_test(test_keyset_append_shares_keys),
        cmocka_unit_test(test_iss_and_aud),
        cmocka_unit_test(test_user_claim),
        cmocka_unit_test(test_required_claims),
        cmocka_unit_test(test_time_claims_with_public_keys),
        cmocka_unit_test(test_pem_forms),
        cmocka_unit_test(test_pem_refusals),
        cmocka_unit_test(test_jwks_good_set),
        cmocka_unit_test(test_jwks_bad_base64url),
        cmocka_unit_test(test_jwks_missing_fields),
        cmocka_unit_test(test_jwks_key_values_checked),
        cmocka_unit_test(test_jwks_weak_rsa_refused),
        cmocka_unit_test(test_small_rsa_exponent_refused),
        cmocka_unit_test(test_jwks_private_members_refused),
        cmocka_unit_test(test_jwks_oct_keys),
        cmocka_unit_test(test_jwks_skipped_keys),
        cmocka_unit_test(test_jwks_not_a_set),
    };
    return cmocka_run_group_tests(tests, gen_keys, free_keys);
}
