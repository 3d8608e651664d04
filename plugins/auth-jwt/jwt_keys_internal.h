/*
 * What jwt_keys.c shares with jwks.c, private to the auth-jwt verifier (sbjwt, hidden
 * visibility): the steps by which a key joins a set.
 */
#ifndef SB_JWT_KEYS_INTERNAL_H
#define SB_JWT_KEYS_INTERNAL_H

#include <stddef.h>

#include <openssl/evp.h>

#include "jwt_keys.h"

/* The raw public key length of Ed25519. */
#define ED25519_BYTES 32

/* Looks up an algorithm by its JOSE name (`len` bytes). Returns 0 or SB_EINVAL. */
int jwtk_alg_parse(const char *name, size_t len, enum jwt_alg *out);

/* Wipes and frees `len` bytes of key material (NULL is fine). */
void jwtk_bytes_free(unsigned char *b, size_t len);

/* Drops the keys added after the first `n0`: the add functions are all-or-nothing. */
void jwtk_truncate(struct jwt_keyset *ks, size_t n0);

/* `s` as it may appear in a message: printable ASCII without quotes, cut with "..." to fit
 * `cap` (at least 8). Returns `buf`. */
const char *jwtk_printable(const char *s, char *buf, size_t cap);

/* Adds a key; takes `pkey` and `secret` (owned) on success only. */
int jwtk_add_key(struct jwt_keyset *ks, const char *kid, unsigned algs, EVP_PKEY *pkey,
                 unsigned char *secret, size_t secret_len, char *err, size_t errlen);

/* The algorithms of the public key's type; refuses weak and unsupported keys. `type` is set to
 * a short name of the key's type for messages. */
int jwtk_pkey_family(EVP_PKEY *pk, unsigned *algs, const char **type, char *err, size_t errlen);

#endif
