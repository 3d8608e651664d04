/*
 * A pure JWT verifier: compact JWS tokens (RFC 7515, RFC 7519) signed with HMAC (HS256/384/512),
 * RSA PKCS#1 v1.5 (RS256/384/512), ECDSA (ES256 on P-256, ES384 on P-384) or Ed25519 (EdDSA),
 * on top of OpenSSL 3's EVP interface. No file I/O, no globals and no clock: keys are loaded from
 * memory (PEM text, JWKS text, secret bytes) and the caller passes the current time, so every
 * rule is unit-tested with fixed keys and dates.
 *
 * Every key is pinned, when it is loaded, to the algorithms of exactly one family (an HMAC
 * secret to HS*, an RSA key to RS*, an EC key to the one ES* of its curve, an Ed25519 key to
 * EdDSA), narrowed by what the caller accepts and by the key's own JWK "alg". The algorithm a
 * token names in its header only selects among the keys that allow it; it never decides how a
 * key is used. So an "HS256" token MACed with the bytes of an RSA public key finds no key that
 * allows HS256 with that RSA key, and "alg":"none" finds no key at all.
 */
#ifndef SB_PLUGIN_JWT_H
#define SB_PLUGIN_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <switchboard/errors.h>

#define JWT_MAX_TOKEN       8192 /* bytes; a longer token is refused before any decoding */
#define JWT_MAX_LEEWAY      60   /* seconds of clock skew tolerated on exp and nbf, at most */
#define JWT_DEFAULT_LEEWAY  30
#define JWT_MAX_KEYS        64 /* keys in one key set */
#define JWT_MAX_CANDIDATES  4  /* keys tried for one token that names no (known) key id */
#define JWT_MIN_RSA_BITS    2048
#define JWT_MIN_OCT_BYTES   32   /* an HMAC key from a JWKS: at least 256 bits */
#define JWT_MAX_REQUIRED    8    /* claims named by jwt_options.required */
#define JWT_MAX_CLAIM_NAME  128  /* bytes of a claim name in the options */
#define JWT_MAX_CLAIM_VALUE 1024 /* bytes of the expected iss or aud */

/* The algorithms, by their JOSE names (RFC 7518 §3.1, RFC 8037 §3.1). The values index bits of
 * an algorithm set: JWT_ALG_BIT(JWT_RS256) | JWT_ALG_BIT(JWT_ES256). */
enum jwt_alg {
    JWT_HS256 = 0,
    JWT_HS384,
    JWT_HS512,
    JWT_RS256,
    JWT_RS384,
    JWT_RS512,
    JWT_ES256,
    JWT_ES384,
    JWT_EDDSA,
    JWT_ALG_COUNT
};

#define JWT_ALG_BIT(a) (1u << (a))
#define JWT_ALGS_HMAC  (JWT_ALG_BIT(JWT_HS256) | JWT_ALG_BIT(JWT_HS384) | JWT_ALG_BIT(JWT_HS512))
#define JWT_ALGS_RSA   (JWT_ALG_BIT(JWT_RS256) | JWT_ALG_BIT(JWT_RS384) | JWT_ALG_BIT(JWT_RS512))
#define JWT_ALGS_EC    (JWT_ALG_BIT(JWT_ES256) | JWT_ALG_BIT(JWT_ES384))
#define JWT_ALGS_ALL   ((1u << JWT_ALG_COUNT) - 1)

/* The JOSE name of `alg` ("RS256"), or "?" for a value outside the enum. Static string. */
const char *jwt_alg_name(enum jwt_alg alg);

/*
 * Parses a `|`-separated list of algorithm names ("RS256|ES256"), case-sensitively, into a set.
 * Returns 0, or SB_EINVAL for an empty list, an empty or unknown name, or a name given twice.
 */
int jwt_algs_parse(const char *list, unsigned *out);

/* Writes the names of the set `algs` joined by '|' into `buf` (always NUL-terminated when
 * cap > 0; "" for an empty set). Returns `buf`. */
char *jwt_algs_format(unsigned algs, char *buf, size_t cap);

/* ---- keys ---- */

/* A set of verification keys. Opaque; owns its keys. Keys are only added, never removed: a
 * new set is built to replace one (see jwt_keyset_append()). */
struct jwt_keyset;

/* Returns a new empty set, or NULL when memory ran out. */
struct jwt_keyset *jwt_keyset_new(void);

/* Releases the set and its keys (secrets are wiped). Safe on NULL. */
void jwt_keyset_free(struct jwt_keyset *ks);

/* The number of keys in the set. */
size_t jwt_keyset_count(const struct jwt_keyset *ks);

/* The union of the algorithms the set's keys allow. */
unsigned jwt_keyset_algs(const struct jwt_keyset *ks);

/*
 * Describes key `i` for a log line: its kid (NULL when it has none, borrowed) and the set of
 * algorithms it allows. Returns 0 or SB_EINVAL when `i` is out of range. Never key material.
 */
int jwt_keyset_key_info(const struct jwt_keyset *ks, size_t i, const char **kid, unsigned *algs);

/*
 * The add functions below share these rules. `kid` (borrowed, copied; NULL for none) must not
 * be the kid of a key already in the set. `algs` is the set of algorithms the caller accepts:
 * the key allows `algs` intersected with the algorithms of its type (and of its JWK "alg"), and
 * an empty intersection is an error. On error they return a negative code and write a one-line
 * reason into `err` (never key material), and the set is unchanged.
 */

/* An HMAC secret (borrowed, copied; at least one byte). SB_EINVAL when no HS* is in `algs`. */
int jwt_keyset_add_secret(struct jwt_keyset *ks, const char *kid, const unsigned char *secret,
                          size_t len, unsigned algs, char *err, size_t errlen);

/*
 * One public key in PEM: "PUBLIC KEY" (SubjectPublicKeyInfo), "RSA PUBLIC KEY" (PKCS#1) or
 * "CERTIFICATE" (its subject key; the certificate itself is not validated). Exactly one PEM
 * block. Private keys, RSA under JWT_MIN_RSA_BITS or with a public exponent outside the odd
 * numbers from 65537 to 2^256, keys failing OpenSSL's public-key check, curves other than
 * P-256/P-384 and other key types are refused (SB_EINVAL); SB_EPROTO when the text is not PEM.
 */
int jwt_keyset_add_pem(struct jwt_keyset *ks, const char *kid, const char *pem, size_t len,
                       unsigned algs, char *err, size_t errlen);

#define JWT_JWKS_ALLOW_HMAC 1u /* accept "oct" keys */

/* Told about a key of a JWKS that is skipped, not refused (`msg` is borrowed, one line). */
typedef void (*jwt_warn_fn)(void *ctx, const char *msg);

/*
 * A JSON Web Key Set (RFC 7517 §5) in `json` (`len` bytes): {"keys":[...]}. Adds its usable keys,
 * all of them or none.
 *
 * Supported keys: kty "RSA" (n, e; at least JWT_MIN_RSA_BITS), "EC" (crv "P-256" or "P-384",
 * x and y of the curve's full length, on the curve), "OKP" (crv "Ed25519", x of 32 bytes), and
 * "oct" (k, at least JWT_MIN_OCT_BYTES) only with JWT_JWKS_ALLOW_HMAC in `flags`. A key's "alg",
 * when present, pins it to that one algorithm.
 *
 * Refused, failing the whole set (SB_EINVAL, or SB_EJSON when the text is not JSON): a set that
 * is not an object with a "keys" array; a key that is not an object, has no "kty", a member of
 * the wrong type, invalid base64url, a missing or malformed n/e/x/y/k, private-key members
 * (d, p, q, ...), a weak RSA key (as for PEM), a point not on the curve, an "alg" of another family
 * than its type ("HS256" on an RSA key), an "oct" key without JWT_JWKS_ALLOW_HMAC, a duplicate kid;
 * more than JWT_MAX_KEYS keys; and a set in which no key is usable.
 *
 * Skipped with a call to `warn` (RFC 7517 §5: a set may hold keys an application does not
 * understand): an unknown kty, an unsupported curve (P-521, Ed448, X25519, ...), an unknown
 * "alg", "use" other than "sig", "key_ops" without "verify", and a key none of whose algorithms
 * is in `algs`. `warn` may be NULL.
 */
int jwt_keyset_add_jwks(struct jwt_keyset *ks, const char *json, size_t len, unsigned algs,
                        unsigned flags, jwt_warn_fn warn, void *warn_ctx, char *err, size_t errlen);

/* Adds to `dst` every key of `src` (sharing the public keys, copying the secrets). Returns 0,
 * SB_ENOMEM, SB_ELIMIT (too many keys) or SB_EEXISTS (a kid in both). `dst` is unchanged on
 * error. */
int jwt_keyset_append(struct jwt_keyset *dst, const struct jwt_keyset *src);

/* ---- verifying ---- */

/* What a verifier checks besides the signature. Strings are borrowed by
 * jwt_verifier_init(), which copies them. */
struct jwt_options {
    unsigned algs;          /* accepted algorithms; 0 means every one (the keys still decide) */
    int leeway;             /* seconds, 0..JWT_MAX_LEEWAY */
    const char *iss;        /* NULL: not checked; else the `iss` claim must equal it */
    const char *aud;        /* NULL: not checked; else `aud` (string or array) must hold it */
    const char *user_claim; /* the claim naming the user; NULL means "sub" */
    const char *const *required; /* claims that must be present (e.g. "exp") */
    size_t nrequired;            /* at most JWT_MAX_REQUIRED */
};

struct jwt_verifier {
    unsigned algs;
    int leeway;
    char *iss, *aud, *user_claim; /* owned */
    char *required[JWT_MAX_REQUIRED];
    size_t nrequired;
    /* Refusal messages naming claims, built once: "missing <claim> claim", ... */
    char *msg_missing_user, *msg_invalid_user;
    char *msg_missing_required[JWT_MAX_REQUIRED];
};

/* What a valid token says. */
struct jwt_identity {
    char *user;     /* owned: the user claim as text (a number becomes its decimal text) */
    json_t *claims; /* new reference: the whole payload object */
};

/*
 * Fills in `v` from `o`. Returns 0; SB_EINVAL for a leeway outside 0..JWT_MAX_LEEWAY, an
 * algorithm set with unknown bits, an empty, over-long (JWT_MAX_CLAIM_VALUE) or control-character
 * iss or aud, a claim name that is empty, over-long (JWT_MAX_CLAIM_NAME) or not printable ASCII
 * without spaces, or too many required claims; SB_ENOMEM. `v` needs jwt_verifier_free() after
 * success only.
 */
int jwt_verifier_init(struct jwt_verifier *v, const struct jwt_options *o);

/* Releases what jwt_verifier_init() allocated. Safe on a zeroed verifier and twice. */
void jwt_verifier_free(struct jwt_verifier *v);

/*
 * Tells whether `token` has the shape of a compact JWS: three segments separated by dots, only
 * base64url characters, header and payload not empty (the signature may be, as in an unsecured
 * "alg":"none" token, which is then refused rather than passed on). Says nothing about validity.
 */
bool jwt_is_compact(const char *token, size_t len);

/*
 * Verifies `token` (`len` bytes, need not be NUL-terminated) with the keys of `keys` at time
 * `now` (seconds since the epoch). On success fills `out`, which the caller releases with
 * jwt_identity_free().
 *
 * Key selection: a token whose header has a "kid" that a key of the set has is verified with
 * that key only; a kid no key has falls back to the keys that have no kid (if there are none:
 * "unknown key id"); a token without kid is tried with every key that allows its "alg", at
 * most JWT_MAX_CANDIDATES of them (more: "missing key id").
 *
 * Returns 0; SB_EAUTH with `*reason` set to a client-presentable string (static, or owned by
 * `v` and valid while it lives) when the token is refused; SB_ENOMEM (with a reason too) when
 * memory ran out; SB_EINVAL for bad arguments. `out` is left empty on every failure.
 */
int jwt_verify(const struct jwt_verifier *v, const struct jwt_keyset *keys, const char *token,
               size_t len, int64_t now, struct jwt_identity *out, const char **reason);

/* Releases what jwt_verify() put in `id` and empties it. Safe on an empty identity. */
void jwt_identity_free(struct jwt_identity *id);

/*
 * Strict base64url decoding (RFC 4648 §5, as JWS uses it): no padding, no whitespace, no
 * characters outside [A-Za-z0-9_-], and the unused bits of the last character must be zero, so
 * every byte string has exactly one accepted encoding. Writes at most `cap` bytes to `out`.
 * Returns 0 with `*outlen` set, SB_EPROTO for an invalid encoding or SB_ETOOBIG when `cap` is
 * too small.
 */
int jwt_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *outlen);

#endif
