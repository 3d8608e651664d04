/*
 * Tokens: splitting, the header, key selection, and the claims. The order of the checks
 * matters: the header is read only to learn the algorithm and the key id, then the signature is
 * verified with keys that allow that algorithm, and only then is the payload parsed. A forged
 * token therefore never reaches the JSON parser with attacker-chosen claims.
 */
#include "jwt.h"
#include "jwt_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static char *printf_dup(const char *fmt, const char *arg)
{
    int n = snprintf(NULL, 0, fmt, arg);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s)
        snprintf(s, (size_t)n + 1, fmt, arg);
    return s;
}

/* A claim name from the configuration: printable ASCII (it appears in refusal messages). */
static bool good_name(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e || n >= max)
            return false;
    return n > 0;
}

/* An expected iss or aud: not empty, no control characters, at most JWT_MAX_CLAIM_VALUE. */
static bool good_value(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f || n >= JWT_MAX_CLAIM_VALUE)
            return false;
    return n > 0;
}

void jwt_verifier_free(struct jwt_verifier *v)
{
    if (!v)
        return;
    free(v->iss);
    free(v->aud);
    free(v->user_claim);
    free(v->msg_missing_user);
    free(v->msg_invalid_user);
    for (size_t i = 0; i < JWT_MAX_REQUIRED; i++) {
        free(v->required[i]);
        free(v->msg_missing_required[i]);
    }
    memset(v, 0, sizeof(*v));
}

int jwt_verifier_init(struct jwt_verifier *v, const struct jwt_options *o)
{
    if (!v)
        return SB_EINVAL;
    memset(v, 0, sizeof(*v));
    if (!o || o->leeway < 0 || o->leeway > JWT_MAX_LEEWAY || (o->algs & ~JWT_ALGS_ALL) ||
        o->nrequired > JWT_MAX_REQUIRED || (o->nrequired && !o->required))
        return SB_EINVAL;
    const char *user = o->user_claim ? o->user_claim : "sub";
    if (!good_name(user, JWT_MAX_CLAIM_NAME) || (o->iss && !good_value(o->iss)) ||
        (o->aud && !good_value(o->aud)))
        return SB_EINVAL;
    for (size_t i = 0; i < o->nrequired; i++)
        if (!o->required[i] || !good_name(o->required[i], JWT_MAX_CLAIM_NAME))
            return SB_EINVAL;

    v->algs = o->algs ? o->algs : JWT_ALGS_ALL;
    v->leeway = o->leeway;
    bool ok = (v->user_claim = strdup(user)) &&
              (v->msg_missing_user = printf_dup("missing %s claim", user)) &&
              (v->msg_invalid_user = printf_dup("invalid %s claim", user));
    if (ok && o->iss)
        ok = (v->iss = strdup(o->iss)) != NULL;
    if (ok && o->aud)
        ok = (v->aud = strdup(o->aud)) != NULL;
    for (size_t i = 0; ok && i < o->nrequired; i++) {
        ok = (v->required[i] = strdup(o->required[i])) &&
             (v->msg_missing_required[i] = printf_dup("missing %s claim", o->required[i]));
        v->nrequired = i + 1;
    }
    if (!ok) {
        jwt_verifier_free(v);
        return SB_ENOMEM;
    }
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

/* Reads the header: `alg` must name an accepted algorithm, `kid` (optional) is a string.
 * `*hdr` (new reference) keeps `*kid` alive. */
static int check_header(const struct jwt_verifier *v, const struct segments *s, json_t **hdr,
                        enum jwt_alg *alg, const char **kid, const char **reason)
{
    int rc = decode_json(s->part[0], s->len[0], hdr);
    if (rc == SB_ENOMEM)
        return rc;
    if (rc == SB_EPROTO)
        return refuse(reason, "malformed token");
    if (rc < 0 || !json_is_object(*hdr))
        return refuse(reason, "malformed header");
    /* "alg" is compared case-sensitively (RFC 7515 §4.1.1): "none", "hs256" and algorithms this
     * verifier does not accept are all just "not allowed". */
    const json_t *a = json_object_get(*hdr, "alg");
    const json_t *typ = json_object_get(*hdr, "typ");
    const json_t *k = json_object_get(*hdr, "kid");
    *alg = JWT_ALG_COUNT;
    for (int i = 0; json_is_string(a) && i < JWT_ALG_COUNT; i++)
        if (strcmp(json_string_value(a), jwt_alg_name((enum jwt_alg)i)) == 0)
            *alg = (enum jwt_alg)i;
    if (*alg == JWT_ALG_COUNT || !(v->algs & JWT_ALG_BIT(*alg)))
        return refuse(reason, "algorithm not allowed");
    if (typ && (!json_is_string(typ) || !ascii_caseeq(json_string_value(typ), "JWT")))
        return refuse(reason, "unsupported token type");
    if (json_object_get(*hdr, "crit"))
        /* We implement no extension, and RFC 7515 §4.1.11 says to refuse any we do not. */
        return refuse(reason, "unsupported critical header");
    if (k && !json_is_string(k))
        return refuse(reason, "malformed header");
    *kid = k ? json_string_value(k) : NULL;
    return 0;
}

/*
 * The keys a token may be verified with (see jwt_verify() in jwt.h). A key found by its kid
 * that does not allow the token's algorithm is a refusal, not a reason to look further: the kid
 * says which key the issuer used, and that key is pinned to its algorithms.
 */
static int select_keys(const struct jwt_keyset *ks, enum jwt_alg alg, const char *kid,
                       const struct jwt_key **cand, size_t *n, const char **reason)
{
    unsigned bit = JWT_ALG_BIT(alg);
    *n = 0;
    for (size_t i = 0; kid && i < ks->n; i++) {
        const struct jwt_key *k = &ks->keys[i];
        if (k->kid && strcmp(k->kid, kid) == 0) {
            if (!(k->algs & bit))
                return refuse(reason, "algorithm not allowed");
            cand[(*n)++] = k;
            return 0;
        }
    }
    for (size_t i = 0; i < ks->n; i++) {
        const struct jwt_key *k = &ks->keys[i];
        /* An unknown kid falls back to the keys that have no kid; they could verify the same
         * token without its kid anyway. */
        if ((kid && k->kid) || !(k->algs & bit))
            continue;
        if (*n == JWT_MAX_CANDIDATES)
            return refuse(reason, kid ? "unknown key id" : "missing key id");
        cand[(*n)++] = k;
    }
    if (*n == 0)
        return refuse(reason, kid ? "unknown key id" : "algorithm not allowed");
    return 0;
}

static int check_signature(const struct jwt_keyset *ks, enum jwt_alg alg, const char *kid,
                           const char *token, const struct segments *s, const char **reason)
{
    const struct jwt_key *cand[JWT_MAX_CANDIDATES];
    size_t ncand = 0, siglen = 0, cap = s->len[2] / 4 * 3 + 3;
    int rc = select_keys(ks, alg, kid, cand, &ncand, reason);
    if (rc < 0)
        return rc;
    unsigned char *sig = malloc(cap);
    if (!sig)
        return SB_ENOMEM;
    rc = jwt_b64url_decode(s->part[2], s->len[2], sig, cap, &siglen);
    if (rc < 0) {
        free(sig);
        return refuse(reason, "malformed token");
    }
    /* The signing input is the header and payload exactly as sent, dot included. */
    size_t signed_len = s->len[0] + 1 + s->len[1];
    rc = 0;
    for (size_t i = 0; i < ncand && rc == 0; i++)
        rc = jwt_key_verify(cand[i], alg, (const unsigned char *)token, signed_len, sig, siglen);
    free(sig);
    if (rc < 0)
        return rc;
    return rc == 1 ? 0 : refuse(reason, "bad signature");
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

/* `iss` equals the expected issuer (RFC 7519 §4.1.1: case-sensitive). */
static int check_iss(const struct jwt_verifier *v, const json_t *claims, const char **reason)
{
    const json_t *iss = json_object_get(claims, "iss");
    if (!v->iss)
        return 0;
    if (!iss)
        return refuse(reason, "missing iss claim");
    if (!json_is_string(iss))
        return refuse(reason, "invalid iss claim");
    if (strcmp(json_string_value(iss), v->iss) != 0)
        return refuse(reason, "issuer not accepted");
    return 0;
}

/* `aud` is the expected audience, or an array of strings that holds it (RFC 7519 §4.1.3). */
static int check_aud(const struct jwt_verifier *v, const json_t *claims, const char **reason)
{
    const json_t *aud = json_object_get(claims, "aud");
    if (!v->aud)
        return 0;
    if (!aud)
        return refuse(reason, "missing aud claim");
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), v->aud) == 0
                   ? 0
                   : refuse(reason, "audience not accepted");
    if (!json_is_array(aud))
        return refuse(reason, "invalid aud claim");
    bool found = false;
    size_t i;
    const json_t *a;
    json_array_foreach(aud, i, a)
    {
        if (!json_is_string(a))
            return refuse(reason, "invalid aud claim");
        found = found || strcmp(json_string_value(a), v->aud) == 0;
    }
    return found ? 0 : refuse(reason, "audience not accepted");
}

static int check_required(const struct jwt_verifier *v, const json_t *claims, const char **reason)
{
    for (size_t i = 0; i < v->nrequired; i++)
        if (!json_object_get(claims, v->required[i]))
            return refuse(reason, v->msg_missing_required[i]);
    return 0;
}

/* The user id: a non-empty string, or an integral number written in decimal. */
static int take_user(const struct jwt_verifier *v, const json_t *claims, char **out,
                     const char **reason)
{
    const json_t *c = json_object_get(claims, v->user_claim);
    char num[32];
    const char *text = NULL;
    if (!c)
        return refuse(reason, v->msg_missing_user);
    if (json_is_string(c) && json_string_length(c) > 0 &&
        strlen(json_string_value(c)) == json_string_length(c)) {
        text = json_string_value(c);
    } else if (json_is_integer(c)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(c));
        text = num;
    } else if (json_is_real(c)) {
        /* Only reals that are exact integers (42.0); 2^53 bounds the exact ones. */
        double d = json_real_value(c);
        if (d > -9007199254740992.0 && d < 9007199254740992.0 && (double)(int64_t)d == d) {
            snprintf(num, sizeof(num), "%lld", (long long)d);
            text = num;
        }
    }
    if (!text)
        return refuse(reason, v->msg_invalid_user);
    *out = strdup(text);
    return *out ? 0 : SB_ENOMEM;
}

int jwt_verify(const struct jwt_verifier *v, const struct jwt_keyset *keys, const char *token,
               size_t len, int64_t now, struct jwt_identity *out, const char **reason)
{
    struct segments s;
    json_t *hdr = NULL, *claims = NULL;
    enum jwt_alg alg = JWT_ALG_COUNT;
    const char *kid = NULL;
    int rc;

    if (!reason)
        return SB_EINVAL;
    *reason = NULL;
    if (!out || !v || !v->user_claim || !keys || v->leeway < 0 || v->leeway > JWT_MAX_LEEWAY ||
        !token)
        return SB_EINVAL;
    out->user = NULL;
    out->claims = NULL;

    if (len > JWT_MAX_TOKEN)
        return refuse(reason, "token too large");
    if (!split(token, len, &s))
        return refuse(reason, "malformed token");
    if ((rc = check_header(v, &s, &hdr, &alg, &kid, reason)) < 0)
        goto fail;
    if ((rc = check_signature(keys, alg, kid, token, &s, reason)) < 0)
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
    if ((rc = check_times(v, claims, now, reason)) < 0 || (rc = check_iss(v, claims, reason)) < 0 ||
        (rc = check_aud(v, claims, reason)) < 0 || (rc = check_required(v, claims, reason)) < 0 ||
        (rc = take_user(v, claims, &out->user, reason)) < 0)
        goto fail;
    json_decref(hdr);
    out->claims = claims;
    return 0;

fail:
    if (rc == SB_ENOMEM)
        *reason = "out of memory";
    json_decref(hdr);
    json_decref(claims);
    return rc;
}

void jwt_identity_free(struct jwt_identity *id)
{
    if (!id)
        return;
    free(id->user);
    json_decref(id->claims);
    id->user = NULL;
    id->claims = NULL;
}
