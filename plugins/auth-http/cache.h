/*
 * auth-http's cache of accepted tokens: the SHA-256 of token and namespace (never the token)
 * to the identity the service gave, for `cache=SECONDS`. No I/O, no clock of its own (the
 * caller passes the loop's time), so that tests/unit/test_auth_http.c tests it directly.
 */
#ifndef SB_AUTH_HTTP_CACHE_H
#define SB_AUTH_HTTP_CACHE_H

#include <stdint.h>

#define CACHE_SLOTS      4096 /* direct-mapped: a newer token may evict an older one */
#define CACHE_DIGEST_LEN 32

struct cache_entry {
    unsigned char key[CACHE_DIGEST_LEN]; /* SHA-256 of token, NUL, namespace */
    uint64_t expires;                    /* loop time in ms; 0 = empty */
    char *user;                          /* owned */
    char *claims_json;                   /* owned, NULL when none */
};

struct cache {
    struct cache_entry *slots; /* owned, CACHE_SLOTS of them, NULL when off */
    uint64_t ttl_ms;
};

/* A cache keeping accepted tokens `ttl_ms` (0 = off: every call does nothing). Returns 0 or
 * SB_ENOMEM. */
int cache_init(struct cache *c, uint64_t ttl_ms);
void cache_free(struct cache *c);
/* The digest a token is cached under (the token itself is never kept). Returns 0 or SB_ENOMEM. */
int cache_key(const char *token, const char *nsp, unsigned char key[CACHE_DIGEST_LEN]);
/* The entry of `key` if it has not expired at `now`, or NULL (borrowed). */
const struct cache_entry *cache_get(const struct cache *c,
                                    const unsigned char key[CACHE_DIGEST_LEN], uint64_t now);
/* Keeps an accepted identity (copied) until now + ttl. Returns 0 or SB_ENOMEM. */
int cache_put(struct cache *c, const unsigned char key[CACHE_DIGEST_LEN], const char *user,
              const char *claims_json, uint64_t now);

#endif
