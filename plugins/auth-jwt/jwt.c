/*
 * The order of the checks matters: the header is read only to learn that it names the pinned
 * algorithm, then the signature is verified, and only then is the payload parsed. A forged token
 * therefore never reaches the JSON parser with attacker-chosen claims.
 */
#include "jwt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* The three segments of a compact JWS, pointing into the token. */
struct segments {
    const char *part[3];
    size_t len[3];
};

/* Duplicate members are refused: "alg" given twice must not mean one thing to us and another
 * to the issuer's library. Any JSON value is decoded so that a scalar payload is reported as
 * "not an object" rather than as bad JSON. */
#define JSON_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int jwt_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *outlen)
{
    /* One leftover character carries only 6 bits: no byte string encodes to that. */
    if (len % 4 == 1)
        return SB_EPROTO;
    size_t need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (need > cap)
        return SB_ETOOBIG;

    uint32_t acc = 0;
    size_t bits = 0, n = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0)
            return SB_EPROTO;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Non-zero leftover bits would give a second spelling of the same bytes. */
    if (acc != 0)
        return SB_EPROTO;
    *outlen = n;
    return 0;
}

static bool split(const char *token, size_t len, struct segments *s)
{
    size_t start = 0, k = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && token[i] != '.') {
            if (b64val((unsigned char)token[i]) < 0)
                return false;
            continue;
        }
        if (k == 3)
            return false;
        s->part[k] = token + start;
        s->len[k] = i - start;
        k++;
        start = i + 1;
    }
    return k == 3 && s->len[0] > 0 && s->len[1] > 0;
}

bool jwt_is_compact(const char *token, size_t len)
{
    struct segments s;
    return token && split(token, len, &s);
}

int jwt_verifier_init(struct jwt_verifier *v, enum jwt_alg alg, const unsigned char *secret,
                      size_t secret_len, int leeway)
{
    /* HMAC() takes the key length as an int. */
    if (alg != JWT_HS256 || !secret || secret_len == 0 || secret_len > INT32_MAX)
        return SB_EINVAL;
    if (leeway < 0 || leeway > JWT_MAX_LEEWAY)
        return SB_EINVAL;
    v->alg = alg;
    v->secret = secret;
    v->secret_len = secret_len;
    v->leeway = leeway;
    return 0;
}

static int refuse(const char **reason, const char *why)
{
    *reason = why;
    return SB_EAUTH;
}

/* Decodes a base64url segment into a JSON value (new reference). SB_EPROTO for bad base64,
 * SB_EJSON for bad JSON. */
static int decode_json(const char *seg, size_t len, json_t **out)
{
    unsigned char *buf = malloc(len / 4 * 3 + 3);
    if (!buf)
        return SB_ENOMEM;
    size_t n = 0;
    int rc = jwt_b64url_decode(seg, len, buf, len / 4 * 3 + 3, &n);
    if (rc == 0) {
        json_error_t jerr;
        *out = json_loadb((const char *)buf, n, JSON_FLAGS, &jerr);
        rc = *out ? 0 : SB_EJSON;
    }
    free(buf);
    return rc;
}

/* ASCII-only, so the comparison does not depend on the process locale. */
static bool ascii_caseeq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return *a == *b;
}

static const char *alg_name(enum jwt_alg alg)
{
    return alg == JWT_HS256 ? "HS256" : "?";
}

static int check_header(const struct jwt_verifier *v, const struct segments *s, const char **reason)
{
    json_t *hdr = NULL;
    int rc = decode_json(s->part[0], s->len[0], &hdr);
    if (rc == SB_ENOMEM)
        return rc;
    if (rc == SB_EPROTO)
        return refuse(reason, "malformed token");
    if (rc < 0 || !json_is_object(hdr)) {
        json_decref(hdr);
        return refuse(reason, "malformed header");
    }
    /* "alg" is compared case-sensitively (RFC 7515 §4.1.1): "none", other HMAC sizes and
     * public-key algorithms are all just "not the one we pinned". */
    const json_t *alg = json_object_get(hdr, "alg");
    const json_t *typ = json_object_get(hdr, "typ");
    if (!json_is_string(alg) || strcmp(json_string_value(alg), alg_name(v->alg)) != 0)
        rc = refuse(reason, "algorithm not allowed");
    else if (typ && (!json_is_string(typ) || !ascii_caseeq(json_string_value(typ), "JWT")))
        rc = refuse(reason, "unsupported token type");
    else if (json_object_get(hdr, "crit"))
        /* We implement no extension, and RFC 7515 §4.1.11 says to refuse any we do not. */
        rc = refuse(reason, "unsupported critical header");
    json_decref(hdr);
    return rc;
}

static int check_signature(const struct jwt_verifier *v, const char *token,
                           const struct segments *s, const char **reason)
{
    unsigned char sig[EVP_MAX_MD_SIZE], mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    size_t siglen = 0;
    int rc = jwt_b64url_decode(s->part[2], s->len[2], sig, sizeof(sig), &siglen);
    if (rc == SB_EPROTO)
        return refuse(reason, "malformed token");
    if (rc < 0)
        return refuse(reason, "bad signature");

    /* The signing input is the header and payload exactly as sent, dot included. */
    size_t signed_len = s->len[0] + 1 + s->len[1];
    if (!HMAC(EVP_sha256(), v->secret, (int)v->secret_len, (const unsigned char *)token, signed_len,
              mac, &maclen))
        return SB_ENOMEM;
    /* The length is public (it is fixed by the algorithm); only the bytes are compared in
     * constant time. */
    if (siglen != maclen || CRYPTO_memcmp(sig, mac, maclen) != 0)
        rc = refuse(reason, "bad signature");
    OPENSSL_cleanse(mac, sizeof(mac));
    return rc;
}

/* Checks one NumericDate claim, if present. */
static int numeric_date(const json_t *claims, const char *name, bool *present, double *value)
{
    const json_t *c = json_object_get(claims, name);
    *present = c != NULL;
    if (!c)
        return 0;
    if (!json_is_number(c))
        return SB_EINVAL;
    *value = json_number_value(c);
    return 0;
}

static int check_times(const struct jwt_verifier *v, const json_t *claims, int64_t now,
                       const char **reason)
{
    bool has_exp, has_nbf;
    double exp = 0, nbf = 0;
    if (numeric_date(claims, "exp", &has_exp, &exp))
        return refuse(reason, "invalid exp claim");
    if (numeric_date(claims, "nbf", &has_nbf, &nbf))
        return refuse(reason, "invalid nbf claim");
    /* RFC 7519 §4.1.4: the token is valid strictly before exp; the leeway absorbs clock skew
     * between the issuer and this server. */
    if (has_exp && (double)(now - v->leeway) >= exp)
        return refuse(reason, "token expired");
    if (has_nbf && (double)(now + v->leeway) < nbf)
        return refuse(reason, "token not yet valid");
    return 0;
}

/* The user id: a non-empty string, or an integral number written in decimal. */
static int take_sub(const json_t *claims, char **out, const char **reason)
{
    const json_t *sub = json_object_get(claims, "sub");
    char num[32];
    const char *text = NULL;
    if (!sub)
        return refuse(reason, "missing sub claim");
    if (json_is_string(sub) && json_string_length(sub) > 0 &&
        strlen(json_string_value(sub)) == json_string_length(sub)) {
        text = json_string_value(sub);
    } else if (json_is_integer(sub)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(sub));
        text = num;
    } else if (json_is_real(sub)) {
        /* Only reals that are exact integers (42.0); 2^53 bounds the exact ones. */
        double d = json_real_value(sub);
        if (d > -9007199254740992.0 && d < 9007199254740992.0 && (double)(int64_t)d == d) {
            snprintf(num, sizeof(num), "%lld", (long long)d);
            text = num;
        }
    }
    if (!text)
        return refuse(reason, "invalid sub claim");
    *out = strdup(text);
    return *out ? 0 : SB_ENOMEM;
}

int jwt_verify(const struct jwt_verifier *v, const char *token, size_t len, int64_t now,
               struct jwt_identity *out, const char **reason)
{
    struct segments s;
    json_t *claims = NULL;
    int rc;

    if (!reason)
        return SB_EINVAL;
    *reason = NULL;
    if (!out || !v || !v->secret || v->secret_len == 0 || v->leeway < 0 ||
        v->leeway > JWT_MAX_LEEWAY || !token)
        return SB_EINVAL;
    out->sub = NULL;
    out->claims = NULL;

    if (len > JWT_MAX_TOKEN)
        return refuse(reason, "token too large");
    if (!split(token, len, &s))
        return refuse(reason, "malformed token");
    if ((rc = check_header(v, &s, reason)) < 0)
        goto fail;
    if ((rc = check_signature(v, token, &s, reason)) < 0)
        goto fail;

    rc = decode_json(s.part[1], s.len[1], &claims);
    if (rc == SB_EPROTO)
        rc = refuse(reason, "malformed token");
    else if (rc == SB_EJSON)
        rc = refuse(reason, "malformed payload");
    else if (rc == 0 && !json_is_object(claims))
        rc = refuse(reason, "payload is not a JSON object");
    if (rc < 0)
        goto fail;
    if ((rc = check_times(v, claims, now, reason)) < 0)
        goto fail;
    if ((rc = take_sub(claims, &out->sub, reason)) < 0)
        goto fail;
    out->claims = claims;
    return 0;

fail:
    if (rc == SB_ENOMEM)
        *reason = "out of memory";
    json_decref(claims);
    return rc;
}

void jwt_identity_free(struct jwt_identity *id)
{
    if (!id)
        return;
    free(id->sub);
    json_decref(id->claims);
    id->sub = NULL;
    id->claims = NULL;
}
