/*
 * The JWT verifier of plugins/auth-jwt with an HMAC secret, attacked case by case: the token
 * format, the header, HMAC signatures, the payload and the time claims. Every token is built
 * here, from readable JSON, with OpenSSL's HMAC and an encoder written independently of the
 * decoder under test, so no fixture is opaque. test_jwt_keys.c covers public keys, JWKS, kid
 * selection and the iss/aud/user claims.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "jwt.h"

#define SECRET "0123456789abcdef0123456789abcdef" /* 32 bytes */
#define OTHER  "fedcba9876543210fedcba9876543210"
#define NOW    INT64_C(1700000000)
#define HS256  "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ---- building tokens ---- */

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

static char *join3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "%s.%s.%s", a, b, c);
    return s;
}

/* h.p.signature over already-encoded segments, with the MAC `md` keyed with `secret`;
 * md NULL: an empty signature. */
static char *sign_raw(const EVP_MD *md, const char *secret, const char *h, const char *p)
{
    char *token = join3(h, p, "");
    char *sig = strdup("");
    if (md) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int maclen = 0;
        /* The signing input is "h.p": the token so far without its last dot. */
        assert_non_null(HMAC(md, secret, (int)strlen(secret), (unsigned char *)token,
                             strlen(token) - 1, mac, &maclen));
        free(sig);
        sig = b64url(mac, maclen);
    }
    char *out = join3(h, p, sig);
    free(token);
    free(sig);
    return out;
}

/* header.payload.signature from JSON texts. */
static char *sign_with(const EVP_MD *md, const char *secret, const char *header,
                       const char *payload)
{
    char *h = b64url(header, strlen(header)), *p = b64url(payload, strlen(payload));
    char *token = sign_raw(md, secret, h, p);
    free(h);
    free(p);
    return token;
}

static char *sign(const char *header, const char *payload)
{
    return sign_with(EVP_sha256(), SECRET, header, payload);
}

/* Replaces segment `k` of `token` with `seg` (the token is freed). */
static char *swap_segment(char *token, int k, const char *seg)
{
    char *part[3], *save = NULL;
    part[0] = strtok_r(token, ".", &save);
    part[1] = strtok_r(NULL, ".", &save);
    part[2] = strtok_r(NULL, ".", &save);
    if (!part[2])
        part[2] = "";
    part[k] = (char *)seg;
    char *out = join3(part[0], part[1], part[2]);
    free(token);
    return out;
}

/* ---- verifying ---- */

/* A verifier that accepts HS256 only, and a key set holding SECRET, as the plugin builds them
 * from `secret=...`. Both are released by done(). */
struct fixture {
    struct jwt_verifier v;
    struct jwt_keyset *ks;
};

static struct fixture *setup_hs256(int leeway)
{
    static struct fixture f;
    struct jwt_options o = {.algs = JWT_ALG_BIT(JWT_HS256), .leeway = leeway};
    char err[200];
    assert_int_equal(jwt_verifier_init(&f.v, &o), 0);
    assert_non_null(f.ks = jwt_keyset_new());
    assert_int_equal(jwt_keyset_add_secret(f.ks, NULL, (const unsigned char *)SECRET,
                                           strlen(SECRET), JWT_ALG_BIT(JWT_HS256), err,
                                           sizeof(err)),
                     0);
    return &f;
}

static void done(struct fixture *f)
{
    jwt_verifier_free(&f->v);
    jwt_keyset_free(f->ks);
    f->ks = NULL;
}

/* Verifies with the default leeway at NOW and checks the refusal reason. Frees the token. */
static void refused_with_leeway(char *token, int leeway, const char *why)
{
    struct fixture *f = setup_hs256(leeway);
    struct jwt_identity id = {(char *)"sentinel", NULL};
    const char *reason = NULL;
    assert_int_equal(jwt_verify(&f->v, f->ks, token, strlen(token), NOW, &id, &reason), SB_EAUTH);
    assert_non_null(reason);
    assert_string_equal(reason, why); /* the reason may live in the verifier: compare first */
    done(f);
    assert_null(id.user);
    assert_null(id.claims);
    free(token);
}

static void refused(char *token, const char *why)
{
    refused_with_leeway(token, JWT_DEFAULT_LEEWAY, why);
}

/* Verifies, expects acceptance, and returns the identity. Frees the token. */
static struct jwt_identity accepted_with_leeway(char *token, int leeway)
{
    struct fixture *f = setup_hs256(leeway);
    struct jwt_identity id = {0};
    const char *reason = NULL;
    int rc = jwt_verify(&f->v, f->ks, token, strlen(token), NOW, &id, &reason);
    done(f);
    if (rc != 0)
        fail_msg("refused (%d): %s", rc, reason ? reason : "(no reason)");
    assert_null(reason);
    assert_non_null(id.user);
    assert_true(json_is_object(id.claims));
    free(token);
    return id;
}

static struct jwt_identity accepted(char *token)
{
    return accepted_with_leeway(token, JWT_DEFAULT_LEEWAY);
}

static void accepted_as(char *token, const char *sub)
{
    struct jwt_identity id = accepted(token);
    assert_string_equal(id.user, sub);
    jwt_identity_free(&id);
}

/* ---- a valid token ---- */

static void test_valid_token_returns_sub_and_claims(void **unused)
{
    const char *payload = "{\"sub\":\"alice\",\"role\":\"admin\",\"rooms\":[\"a\",\"b\"],"
                          "\"exp\":1700000600,\"nbf\":1699999000,\"iat\":1699999000}";
    struct jwt_identity id = accepted(sign(HS256, payload));
    assert_string_equal(id.user, "alice");
    json_t *expected = json_loads(payload, 0, NULL);
    assert_true(json_equal(id.claims, expected));
    assert_string_equal(json_string_value(json_object_get(id.claims, "role")), "admin");
    json_decref(expected);
    jwt_identity_free(&id);
    assert_null(id.user);
    assert_null(id.claims);
    jwt_identity_free(&id); /* twice is harmless */
}

static void test_typ_is_optional_and_case_insensitive(void **unused)
{
    accepted_as(sign("{\"alg\":\"HS256\"}", "{\"sub\":\"a\"}"), "a");
    accepted_as(sign("{\"alg\":\"HS256\",\"typ\":\"jwt\"}", "{\"sub\":\"b\"}"), "b");
    accepted_as(sign("{\"typ\":\"Jwt\",\"alg\":\"HS256\",\"kid\":\"k1\"}", "{\"sub\":\"c\"}"), "c");
}

static void test_other_typ_refused(void **unused)
{
    refused(sign("{\"alg\":\"HS256\",\"typ\":\"JWS\"}", "{\"sub\":\"a\"}"),
            "unsupported token type");
    refused(sign("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", "{\"sub\":\"a\"}"),
            "unsupported token type");
    refused(sign("{\"alg\":\"HS256\",\"typ\":1}", "{\"sub\":\"a\"}"), "unsupported token type");
}

static void test_crit_header_refused(void **unused)
{
    refused(sign("{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", "{\"sub\":\"a\"}"),
            "unsupported critical header");
}

/* ---- algorithm pinning ---- */

static void test_alg_none_empty_signature_refused(void **unused)
{
    refused(sign_with(NULL, SECRET, "{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"sub\":\"a\"}"),
            "algorithm not allowed");
    refused(sign_with(NULL, SECRET, "{\"alg\":\"None\"}", "{\"sub\":\"a\"}"),
            "algorithm not allowed");
    refused(sign_with(NULL, SECRET, "{\"alg\":\"NONE\"}", "{\"sub\":\"a\"}"),
            "algorithm not allowed");
}

static void test_alg_none_with_signature_refused(void **unused)
{
    /* A correct HS256 MAC does not make "none" acceptable: the header must name HS256. */
    refused(sign("{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"sub\":\"a\"}"), "algorithm not allowed");
}

static void test_alg_hs384_refused(void **unused)
{
    refused(sign_with(EVP_sha384(), SECRET, "{\"alg\":\"HS384\"}", "{\"sub\":\"a\"}"),
            "algorithm not allowed");
    refused(sign_with(EVP_sha512(), SECRET, "{\"alg\":\"HS512\"}", "{\"sub\":\"a\"}"),
            "algorithm not allowed");
}

static void test_alg_rs256_refused(void **unused)
{
    /* The key-confusion attack: an "RS256" token MACed with a key the attacker knows. */
    refused(sign("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", "{\"sub\":\"a\"}"),
            "algorithm not allowed");
    refused(sign("{\"alg\":\"ES256\"}", "{\"sub\":\"a\"}"), "algorithm not allowed");
}

static void test_alg_missing_or_odd_refused(void **unused)
{
    refused(sign("{\"typ\":\"JWT\"}", "{\"sub\":\"a\"}"), "algorithm not allowed");
    refused(sign("{\"alg\":\"hs256\"}", "{\"sub\":\"a\"}"), "algorithm not allowed");
    refused(sign("{\"alg\":\"HS256 \"}", "{\"sub\":\"a\"}"), "algorithm not allowed");
    refused(sign("{\"alg\":null}", "{\"sub\":\"a\"}"), "algorithm not allowed");
    refused(sign("{\"alg\":256}", "{\"sub\":\"a\"}"), "algorithm not allowed");
    refused(sign("{\"alg\":[\"HS256\"]}", "{\"sub\":\"a\"}"), "algorithm not allowed");
}

static void test_duplicate_header_member_refused(void **unused)
{
    /* Parsers disagree on which of two "alg" wins; refuse rather than pick one. */
    refused(sign("{\"alg\":\"none\",\"alg\":\"HS256\"}", "{\"sub\":\"a\"}"), "malformed header");
    refused(sign("{\"alg\":\"HS256\",\"alg\":\"none\"}", "{\"sub\":\"a\"}"), "malformed header");
}

static void test_header_not_an_object_refused(void **unused)
{
    refused(sign("[\"HS256\"]", "{\"sub\":\"a\"}"), "malformed header");
    refused(sign("\"HS256\"", "{\"sub\":\"a\"}"), "malformed header");
    refused(sign("{\"alg\":\"HS256\"", "{\"sub\":\"a\"}"), "malformed header");
    refused(sign("{\"alg\":\"HS256\"} x", "{\"sub\":\"a\"}"), "malformed header");
}

/* ---- signatures ---- */

static void test_bad_signature_refused(void **unused)
{
    char *token = sign(HS256, "{\"sub\":\"a\"}");
    /* Change the first signature character: still valid base64url, different bytes. */
    char *sig = strrchr(token, '.') + 1;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    refused(token, "bad signature");
}

static void test_signature_of_other_secret_refused(void **unused)
{
    refused(sign_with(EVP_sha256(), OTHER, HS256, "{\"sub\":\"a\"}"), "bad signature");
    refused(sign_with(EVP_sha256(), "", HS256, "{\"sub\":\"a\"}"), "bad signature");
}

static void test_signature_of_wrong_length_refused(void **unused)
{
    /* Empty, truncated and too long (an HS384 MAC under an HS256 header). */
    refused(sign_with(NULL, SECRET, HS256, "{\"sub\":\"a\"}"), "bad signature");
    char *token = sign(HS256, "{\"sub\":\"a\"}");
    token[strlen(token) - 3] = '\0'; /* 40 characters: 30 bytes, canonically encoded */
    refused(token, "bad signature");
    refused(sign_with(EVP_sha384(), SECRET, HS256, "{\"sub\":\"a\"}"), "bad signature");
    /* Longer than any MAC: must not overflow the decoding buffer. */
    char big[200];
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    refused(swap_segment(sign(HS256, "{\"sub\":\"a\"}"), 2, big), "bad signature");
}

static void test_tampered_payload_refused(void **unused)
{
    char *evil = b64url("{\"sub\":\"admin\"}", 15);
    refused(swap_segment(sign(HS256, "{\"sub\":\"alice\"}"), 1, evil), "bad signature");
    free(evil);
    /* Changing only one character of the payload segment. */
    char *token = sign(HS256, "{\"sub\":\"alice\",\"role\":\"user\"}");
    char *dot = strchr(token, '.');
    dot[1] = dot[1] == 'e' ? 'f' : 'e';
    refused(token, "bad signature");
}

static void test_tampered_header_refused(void **unused)
{
    const char *h = "{\"alg\":\"HS256\"}";
    char *other = b64url(h, strlen(h));
    refused(swap_segment(sign(HS256, "{\"sub\":\"a\"}"), 0, other), "bad signature");
    free(other);
}

/* ---- payload ---- */

static void test_non_object_payload_refused(void **unused)
{
    refused(sign(HS256, "[\"sub\",\"a\"]"), "payload is not a JSON object");
    refused(sign(HS256, "\"a\""), "payload is not a JSON object");
    refused(sign(HS256, "42"), "payload is not a JSON object");
    refused(sign(HS256, "null"), "payload is not a JSON object");
    refused(sign(HS256, "{\"sub\":"), "malformed payload");
    refused(sign(HS256, "sub=a"), "malformed payload");
    refused(sign(HS256, "{\"sub\":\"a\",\"sub\":\"b\"}"), "malformed payload");
}

static void test_missing_sub_refused(void **unused)
{
    refused(sign(HS256, "{}"), "missing sub claim");
    refused(sign(HS256, "{\"user\":\"a\",\"exp\":1700000600}"), "missing sub claim");
}

static void test_numeric_sub_becomes_text(void **unused)
{
    accepted_as(sign(HS256, "{\"sub\":12345}"), "12345");
    accepted_as(sign(HS256, "{\"sub\":-7}"), "-7");
    accepted_as(sign(HS256, "{\"sub\":0}"), "0");
    accepted_as(sign(HS256, "{\"sub\":9007199254740993}"), "9007199254740993");
    accepted_as(sign(HS256, "{\"sub\":42.0}"), "42");
}

static void test_invalid_sub_refused(void **unused)
{
    refused(sign(HS256, "{\"sub\":\"\"}"), "invalid sub claim");
    refused(sign(HS256, "{\"sub\":null}"), "invalid sub claim");
    refused(sign(HS256, "{\"sub\":true}"), "invalid sub claim");
    refused(sign(HS256, "{\"sub\":1.5}"), "invalid sub claim");
    refused(sign(HS256, "{\"sub\":1e300}"), "invalid sub claim");
    refused(sign(HS256, "{\"sub\":[\"a\"]}"), "invalid sub claim");
    refused(sign(HS256, "{\"sub\":{\"id\":1}}"), "invalid sub claim");
    /* jansson refuses \u0000 unless asked: a NUL cannot shorten "admin\0x" to "admin". */
    refused(sign(HS256, "{\"sub\":\"admin\\u0000x\"}"), "malformed payload");
}

/* ---- time claims ---- */

static void test_expired_refused(void **unused)
{
    refused(sign(HS256, "{\"sub\":\"a\",\"exp\":1699990000}"), "token expired");
    /* Exactly at exp + leeway: no longer valid (exp is exclusive, RFC 7519 §4.1.4). */
    refused(sign(HS256, "{\"sub\":\"a\",\"exp\":1699999970}"), "token expired");
    refused_with_leeway(sign(HS256, "{\"sub\":\"a\",\"exp\":1700000000}"), 0, "token expired");
    refused_with_leeway(sign(HS256, "{\"sub\":\"a\",\"exp\":1699999999.5}"), 0, "token expired");
}

static void test_expired_within_leeway_accepted(void **unused)
{
    accepted_as(sign(HS256, "{\"sub\":\"a\",\"exp\":1699999971}"), "a");
    accepted_as(sign(HS256, "{\"sub\":\"a\",\"exp\":1699999990}"), "a");
    struct jwt_identity id =
        accepted_with_leeway(sign(HS256, "{\"sub\":\"a\",\"exp\":1700000001}"), 0);
    jwt_identity_free(&id);
    id = accepted_with_leeway(sign(HS256, "{\"sub\":\"a\",\"exp\":1699999941}"), 60);
    jwt_identity_free(&id);
    accepted_as(sign(HS256, "{\"sub\":\"a\",\"exp\":1700000000.5}"), "a");
}

static void test_nbf_in_future_refused(void **unused)
{
    refused(sign(HS256, "{\"sub\":\"a\",\"nbf\":1700000031}"), "token not yet valid");
    refused(sign(HS256, "{\"sub\":\"a\",\"nbf\":1800000000}"), "token not yet valid");
    refused_with_leeway(sign(HS256, "{\"sub\":\"a\",\"nbf\":1700000001}"), 0,
                        "token not yet valid");
}

static void test_nbf_within_leeway_accepted(void **unused)
{
    accepted_as(sign(HS256, "{\"sub\":\"a\",\"nbf\":1700000030}"), "a");
    accepted_as(sign(HS256, "{\"sub\":\"a\",\"nbf\":1700000010}"), "a");
    struct jwt_identity id =
        accepted_with_leeway(sign(HS256, "{\"sub\":\"a\",\"nbf\":1700000000}"), 0);
    jwt_identity_free(&id);
}

static void test_non_numeric_time_claims_refused(void **unused)
{
    refused(sign(HS256, "{\"sub\":\"a\",\"exp\":\"1800000000\"}"), "invalid exp claim");
    refused(sign(HS256, "{\"sub\":\"a\",\"exp\":null}"), "invalid exp claim");
    refused(sign(HS256, "{\"sub\":\"a\",\"exp\":true}"), "invalid exp claim");
    refused(sign(HS256, "{\"sub\":\"a\",\"nbf\":\"0\"}"), "invalid nbf claim");
    refused(sign(HS256, "{\"sub\":\"a\",\"nbf\":[]}"), "invalid nbf claim");
}

/* ---- encoding and shape ---- */

static void test_padding_refused(void **unused)
{
    /* {"sub":"a"} is 11 bytes: "eyJzdWIiOiJhIn0" unpadded, with one '=' padded. */
    refused(swap_segment(sign(HS256, "{\"sub\":\"a\"}"), 1, "eyJzdWIiOiJhIn0="), "malformed token");
    refused(swap_segment(sign(HS256, "{\"sub\":\"a\"}"), 2, "AAAA=="), "malformed token");
    char *padded = b64url(HS256, strlen(HS256));
    size_t n = strlen(padded);
    char *with_pad = malloc(n + 3);
    snprintf(with_pad, n + 3, "%s%s", padded, n % 4 == 2 ? "==" : "=");
    refused(swap_segment(sign(HS256, "{\"sub\":\"a\"}"), 0, with_pad), "malformed token");
    free(padded);
    free(with_pad);
}

static void test_invalid_characters_refused(void **unused)
{
    const char *bad[] = {"+", "/", "!", " ", "\n", "\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *token = sign(HS256, "{\"sub\":\"a\"}");
        size_t n = strlen(token) + strlen(bad[i]) + 1;
        char *t2 = malloc(n);
        /* Insert after the first character of the payload. */
        char *dot = strchr(token, '.');
        int head = (int)(dot - token) + 2;
        snprintf(t2, n, "%.*s%s%s", head, token, bad[i], token + head);
        free(token);
        refused(t2, "malformed token");
    }
}

static void test_noncanonical_base64_refused(void **unused)
{
    char *h = b64url(HS256, strlen(HS256));
    /* "Zg" is "f"; "Zh" has the same first byte but non-zero unused bits. Signed correctly, so
     * that the check on the encoding is what refuses it. */
    refused(sign_raw(EVP_sha256(), SECRET, h, "Zh"), "malformed token");
    /* A segment of 4k+1 characters decodes to nothing whole. */
    refused(sign_raw(EVP_sha256(), SECRET, h, "eyJzd"), "malformed token");
    /* The same in the header, which is decoded before the signature is checked. */
    refused(sign_raw(EVP_sha256(), SECRET, "e31", "e30"), "malformed token");
    free(h);
    /* And in the signature: set an unused low bit of its last character. */
    char *token = sign(HS256, "{\"sub\":\"a\"}");
    char *last = token + strlen(token) - 1; /* 43 chars: the last one carries 2 unused bits */
    *last = ALPHABET[(strchr(ALPHABET, *last) - ALPHABET) ^ 1];
    refused(token, "malformed token");
}

static void test_tampered_encoding_refused(void **unused)
{
    /* Re-encoding a segment non-canonically changes the signing input: the MAC no longer
     * matches, and the payload is never decoded. */
    refused(swap_segment(sign(HS256, "{\"sub\":\"a\"}"), 1, "Zh"), "bad signature");
}

static void test_wrong_segment_count_refused(void **unused)
{
    char *token = sign(HS256, "{\"sub\":\"a\"}");
    char *two = strdup(token);
    *strrchr(two, '.') = '\0';
    refused(two, "malformed token");
    size_t n = strlen(token) + 6;
    char *four = malloc(n);
    snprintf(four, n, "%s.AAAA", token);
    refused(four, "malformed token");
    char *trailing = malloc(n);
    snprintf(trailing, n, "%s.", token);
    refused(trailing, "malformed token");
    free(token);
    refused(strdup(""), "malformed token");
    refused(strdup(".."), "malformed token");
    refused(strdup("..AAAA"), "malformed token");
    refused(strdup("e30..AAAA"), "malformed token");
    refused(strdup("opaque-static-token"), "malformed token");
}

static void test_nul_inside_token_refused(void **unused)
{
    struct fixture *f = setup_hs256(JWT_DEFAULT_LEEWAY);
    struct jwt_identity id = {0};
    const char *reason = NULL;
    char *token = sign(HS256, "{\"sub\":\"a\"}");
    size_t len = strlen(token);
    char *dot = strchr(token, '.');
    dot[1] = '\0';
    assert_int_equal(jwt_verify(&f->v, f->ks, token, len, NOW, &id, &reason), SB_EAUTH);
    assert_string_equal(reason, "malformed token");
    free(token);
    done(f);
}

static void test_oversized_token_refused(void **unused)
{
    /* Grow a padding claim until the token passes 8 KiB: the last one below is accepted, the
     * first one above is refused before any decoding. */
    char *payload = malloc(JWT_MAX_TOKEN + 64);
    char *below = NULL, *above = NULL;
    for (size_t pad = 6000; !above; pad++) {
        int n =
            snprintf(payload, JWT_MAX_TOKEN + 64, "{\"sub\":\"a\",\"pad\":\"%0*d\"}", (int)pad, 0);
        assert_true(n > 0);
        char *token = sign(HS256, payload);
        if (strlen(token) <= JWT_MAX_TOKEN) {
            free(below);
            below = token;
        } else {
            above = token;
        }
    }
    free(payload);
    assert_true(strlen(below) > JWT_MAX_TOKEN - 4);
    accepted_as(below, "a");
    refused(above, "token too large");

    char *huge = malloc(100001);
    memset(huge, 'A', 100000);
    huge[100000] = '\0';
    huge[10] = huge[20] = '.';
    refused(huge, "token too large");
}

static void test_is_compact(void **unused)
{
    assert_true(jwt_is_compact("e30.e30.AAAA", 12));
    assert_true(jwt_is_compact("e30.e30.", 8)); /* unsecured: refused later, not declined */
    assert_true(jwt_is_compact("a-_.b.c", 7));
    assert_false(jwt_is_compact("", 0));
    assert_false(jwt_is_compact("e30", 3));
    assert_false(jwt_is_compact("e30.e30", 7));
    assert_false(jwt_is_compact("e30.e30.AAAA.AAAA", 17));
    assert_false(jwt_is_compact(".e30.AAAA", 9));
    assert_false(jwt_is_compact("e30..AAAA", 9));
    assert_false(jwt_is_compact("e30=.e30.AAAA", 13));
    assert_false(jwt_is_compact("e30.e+0.AAAA", 12));
    assert_false(jwt_is_compact("my static token", 15));
    assert_false(jwt_is_compact(NULL, 0));
}

/* ---- API edges ---- */

static void test_verifier_init_rejects_bad_parameters(void **unused)
{
    struct jwt_verifier v;
    struct jwt_options o = {.algs = JWT_ALG_BIT(JWT_HS256), .leeway = 30};
    const char *names[JWT_MAX_REQUIRED + 1] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
    assert_int_equal(jwt_verifier_init(&v, NULL), SB_EINVAL);
    o.leeway = -1;
    assert_int_equal(jwt_verifier_init(&v, &o), SB_EINVAL);
    o.leeway = JWT_MAX_LEEWAY + 1;
    assert_int_equal(jwt_verifier_init(&v, &o), SB_EINVAL);
    o.leeway = 30;
    o.algs = 1u << JWT_ALG_COUNT; /* an algorithm that does not exist */
    assert_int_equal(jwt_verifier_init(&v, &o), SB_EINVAL);
    o.algs = JWT_ALG_BIT(JWT_HS256);
    o.user_claim = "";
    assert_int_equal(jwt_verifier_init(&v, &o), SB_EINVAL);
    o.user_claim = "user id"; /* a space: not a claim name this plugin takes */
    assert_int_equal(jwt_verifier_init(&v, &o), SB_EINVAL);
    o.user_claim = NULL;
    o.iss = "";
    assert_int_equal(jwt_verifier_init(&v, &o), SB_EINVAL);
    o.iss = NULL;
    o.aud = "a\nb";
    assert_int_equal(jwt_verifier_init(&v, &o), SB_EINVAL);
    o.aud = NULL;
    o.required = names;
    o.nrequired = JWT_MAX_REQUIRED + 1;
    assert_int_equal(jwt_verifier_init(&v, &o), SB_EINVAL);
    o.nrequired = JWT_MAX_REQUIRED;
    assert_int_equal(jwt_verifier_init(&v, &o), 0);
    jwt_verifier_free(&v);
    jwt_verifier_free(&v); /* twice is harmless */
    o.required = NULL;
    o.nrequired = 0;
    o.leeway = JWT_MAX_LEEWAY;
    assert_int_equal(jwt_verifier_init(&v, &o), 0);

    /* An HMAC secret: not empty, and only with an HMAC algorithm. */
    struct jwt_keyset *ks = jwt_keyset_new();
    char err[200];
    const unsigned char *s = (const unsigned char *)SECRET;
    assert_int_equal(jwt_keyset_add_secret(ks, NULL, s, 0, JWT_ALGS_HMAC, err, sizeof(err)),
                     SB_EINVAL);
    assert_int_equal(jwt_keyset_add_secret(ks, NULL, NULL, 32, JWT_ALGS_HMAC, err, sizeof(err)),
                     SB_EINVAL);
    assert_int_equal(jwt_keyset_add_secret(ks, NULL, s, 32, JWT_ALGS_RSA, err, sizeof(err)),
                     SB_EINVAL);
    assert_string_equal(err, "an HMAC key cannot be used with RS256|RS384|RS512");
    assert_int_equal(jwt_keyset_count(ks), 0);
    assert_int_equal(jwt_keyset_add_secret(ks, NULL, s, 1, JWT_ALGS_ALL, err, sizeof(err)), 0);
    assert_int_equal(jwt_keyset_algs(ks), JWT_ALGS_HMAC);

    struct jwt_identity id = {0};
    const char *reason = NULL;
    assert_int_equal(jwt_verify(&v, ks, NULL, 0, NOW, &id, &reason), SB_EINVAL);
    assert_int_equal(jwt_verify(&v, NULL, "a.b.c", 5, NOW, &id, &reason), SB_EINVAL);
    assert_int_equal(jwt_verify(&v, ks, "a.b.c", 5, NOW, NULL, &reason), SB_EINVAL);
    assert_int_equal(jwt_verify(&v, ks, "a.b.c", 5, NOW, &id, NULL), SB_EINVAL);
    assert_int_equal(jwt_verify(NULL, ks, "a.b.c", 5, NOW, &id, &reason), SB_EINVAL);
    jwt_verifier_free(&v);
    jwt_keyset_free(ks);
}

static void test_algs_parse_and_format(void **unused)
{
    unsigned algs = 0;
    char buf[96];
    assert_int_equal(jwt_algs_parse("RS256|ES256", &algs), 0);
    assert_int_equal(algs, JWT_ALG_BIT(JWT_RS256) | JWT_ALG_BIT(JWT_ES256));
    assert_string_equal(jwt_algs_format(algs, buf, sizeof(buf)), "RS256|ES256");
    assert_int_equal(jwt_algs_parse("HS256|HS384|HS512|RS256|RS384|RS512|ES256|ES384|EdDSA", &algs),
                     0);
    assert_int_equal(algs, JWT_ALGS_ALL);
    assert_string_equal(jwt_algs_format(JWT_ALG_BIT(JWT_EDDSA), buf, sizeof(buf)), "EdDSA");
    assert_string_equal(jwt_algs_format(0, buf, sizeof(buf)), "");
    const char *bad[] = {"",      "|",     "RS256|", "|RS256", "rs256",      "none", "RS256|RS256",
                         "ES512", "PS256", "EDDSA",  "HS256 ", "RS256,ES256"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(jwt_algs_parse(bad[i], &algs), SB_EINVAL);
    assert_string_equal(jwt_alg_name(JWT_ES384), "ES384");
    assert_string_equal(jwt_alg_name(JWT_ALG_COUNT), "?");
}

static void test_b64url_decode(void **unused)
{
    unsigned char out[16];
    size_t n = 99;
    assert_int_equal(jwt_b64url_decode("", 0, out, sizeof(out), &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(jwt_b64url_decode("Zg", 2, out, sizeof(out), &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(out, "f", 1);
    assert_int_equal(jwt_b64url_decode("Zm8", 3, out, sizeof(out), &n), 0);
    assert_memory_equal(out, "fo", 2);
    assert_int_equal(jwt_b64url_decode("Zm9vYmFy", 8, out, sizeof(out), &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(out, "foobar", 6);
    assert_int_equal(jwt_b64url_decode("-_-_", 4, out, sizeof(out), &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "\xfb\xff\xbf", 3);

    assert_int_equal(jwt_b64url_decode("Zg==", 4, out, sizeof(out), &n), SB_EPROTO);
    assert_int_equal(jwt_b64url_decode("Zh", 2, out, sizeof(out), &n), SB_EPROTO);
    assert_int_equal(jwt_b64url_decode("Zm9", 3, out, sizeof(out), &n), SB_EPROTO);
    assert_int_equal(jwt_b64url_decode("Z", 1, out, sizeof(out), &n), SB_EPROTO);
    assert_int_equal(jwt_b64url_decode("+/+/", 4, out, sizeof(out), &n), SB_EPROTO);
    assert_int_equal(jwt_b64url_decode("Zm9vYmFy", 8, out, 5, &n), SB_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_token_returns_sub_and_claims),
        cmocka_unit_test(test_typ_is_optional_and_case_insensitive),
        cmocka_unit_test(test_other_typ_refused),
        cmocka_unit_test(test_crit_header_refused),
        cmocka_unit_test(test_alg_none_empty_signature_refused),
        cmocka_unit_test(test_alg_none_with_signature_refused),
        cmocka_unit_test(test_alg_hs384_refused),
        cmocka_unit_test(test_alg_rs256_refused),
        cmocka_unit_test(test_alg_missing_or_odd_refused),
        cmocka_unit_test(test_duplicate_header_member_refused),
        cmocka_unit_test(test_header_not_an_object_refused),
        cmocka_unit_test(test_bad_signature_refused),
        cmocka_unit_test(test_signature_of_other_secret_refused),
        cmocka_unit_test(test_signature_of_wrong_length_refused),
        cmocka_unit_test(test_tampered_payload_refused),
        cmocka_unit_test(test_tampered_header_refused),
        cmocka_unit_test(test_non_object_payload_refused),
        cmocka_unit_test(test_missing_sub_refused),
        cmocka_unit_test(test_numeric_sub_becomes_text),
        cmocka_unit_test(test_invalid_sub_refused),
        cmocka_unit_test(test_expired_refused),
        cmocka_unit_test(test_expired_within_leeway_accepted),
        cmocka_unit_test(test_nbf_in_future_refused),
        cmocka_unit_test(test_nbf_within_leeway_accepted),
        cmocka_unit_test(test_non_numeric_time_claims_refused),
        cmocka_unit_test(test_padding_refused),
        cmocka_unit_test(test_invalid_characters_refused),
        cmocka_unit_test(test_noncanonical_base64_refused),
        cmocka_unit_test(test_tampered_encoding_refused),
        cmocka_unit_test(test_wrong_segment_count_refused),
        cmocka_unit_test(test_nul_inside_token_refused),
        cmocka_unit_test(test_oversized_token_refused),
        cmocka_unit_test(test_is_compact),
        cmocka_unit_test(test_verifier_init_rejects_bad_parameters),
        cmocka_unit_test(test_algs_parse_and_format),
        cmocka_unit_test(test_b64url_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
