/*
 * A pure JWT verifier: compact JWS tokens signed with HMAC (RFC 7515, RFC 7519), algorithm pinned
 * by the caller. No I/O, no globals and no clock: the caller passes the current time, so every
 * rule is unit-tested with fixed dates.
 *
 * Only HS256 exists in this version. The algorithm a token names in its header is never trusted
 * to pick the verification method; it must equal the one the verifier was built with.
 */
#ifndef SB_PLUGIN_JWT_H
#define SB_PLUGIN_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <switchboard/errors.h>

#define JWT_MAX_TOKEN      8192 /* bytes; a longer token is refused before any decoding */
#define JWT_MAX_LEEWAY     60   /* seconds of clock skew tolerated on exp and nbf, at most */
#define JWT_DEFAULT_LEEWAY 30

enum jwt_alg {
    JWT_HS256 = 0,
};

struct jwt_verifier {
    enum jwt_alg alg;            /* the one algorithm accepted */
    const unsigned char *secret; /* borrowed: must outlive the verifier */
    size_t secret_len;
    int leeway; /* seconds, 0..JWT_MAX_LEEWAY */
};

/* What a valid token says. */
struct jwt_identity {
    char *sub;      /* owned: the `sub` claim as text (a number becomes its decimal text) */
    json_t *claims; /* new reference: the whole payload object */
};

/*
 * Fills in `v`. `secret` is borrowed and must stay valid while `v` is used.
 * Returns 0, or SB_EINVAL for an empty secret, a leeway outside 0..JWT_MAX_LEEWAY or an unknown
 * algorithm.
 */
int jwt_verifier_init(struct jwt_verifier *v, enum jwt_alg alg, const unsigned char *secret,
                      size_t secret_len, int leeway);

/*
 * Tells whether `token` has the shape of a compact JWS: three segments separated by dots, only
 * base64url characters, header and payload not empty (the signature may be, as in an unsecured
 * "alg":"none" token, which is then refused rather than passed on). Says nothing about validity.
 */
bool jwt_is_compact(const char *token, size_t len);

/*
 * Verifies `token` (`len` bytes, need not be NUL-terminated) at time `now` (seconds since the
 * epoch). On success fills `out`, which the caller releases with jwt_identity_free().
 * Returns 0; SB_EAUTH with `*reason` set to a static, client-presentable string when the token is
 * refused; SB_ENOMEM (with a reason too) when memory ran out; SB_EINVAL for bad arguments.
 * `out` is left empty on every failure.
 */
int jwt_verify(const struct jwt_verifier *v, const char *token, size_t len, int64_t now,
               struct jwt_identity *out, const char **reason);

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
