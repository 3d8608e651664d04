/*
 * Private to the verifier (jwt.c and jwt_keys.c): the layout of a key set and the signature
 * check of one key. Callers outside the verifier use jwt.h only.
 */
#ifndef SB_PLUGIN_JWT_KEYS_H
#define SB_PLUGIN_JWT_KEYS_H

#include <openssl/evp.h>

#include "jwt.h"

struct jwt_key {
    char *kid;      /* owned; NULL when the key has none */
    unsigned algs;  /* non-empty, inside one family: JWT_ALGS_HMAC, _RSA, one ES*, or EdDSA */
    EVP_PKEY *pkey; /* owned reference: the public key (RSA, EC, Ed25519), or NULL */
    unsigned char *secret; /* owned, wiped before it is freed: the HMAC key, or NULL */
    size_t secret_len;
};

struct jwt_keyset {
    struct jwt_key keys[JWT_MAX_KEYS];
    size_t n;
};

/*
 * Checks `sig` over `input` with key `k` and algorithm `alg`, which the key must allow.
 * Returns 1 when the signature is valid, 0 when it is not (wrong length, wrong bytes, an ECDSA
 * signature in DER rather than raw r||s), SB_ENOMEM when memory ran out.
 */
int jwt_key_verify(const struct jwt_key *k, enum jwt_alg alg, const unsigned char *input,
                   size_t inlen, const unsigned char *sig, size_t siglen);

#endif
