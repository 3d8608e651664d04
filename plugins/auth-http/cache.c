#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <switchboard/errors.h>

int cache_init(struct cache *c, uint64_t ttl_ms)
{
    memset(c, 0, sizeof(*c));
    if (!ttl_ms)
        return 0;
    c->slots = calloc(CACHE_SLOTS, sizeof(*c->slots));
    if (!c->slots)
        return SB_ENOMEM;
    c->ttl_ms = ttl_ms;
    return 0;
}

static void entry_clear(struct cache_entry *e)
{
    free(e->user);
    free(e->claims_json);
    memset(e, 0, sizeof(*e));
}

void cache_free(struct cache *c)
{
    if (c->slots) {
        for (size_t i = 0; i < CACHE_SLOTS; i++)
            entry_clear(&c->slots[i]);
        free(c->slots);
    }
    memset(c, 0, sizeof(*c));
}

int cache_key(const char *token, const char *nsp, unsigned char key[CACHE_DIGEST_LEN])
{
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(ctx, token, strlen(token) + 1) && /* with its NUL: a separator */
             EVP_DigestUpdate(ctx, nsp, strlen(nsp)) && EVP_DigestFinal_ex(ctx, key, &n) &&
             n == CACHE_DIGEST_LEN;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : SB_ENOMEM;
}

static struct cache_entry *slot_of(const struct cache *c, const unsigned char key[CACHE_DIGEST_LEN])
{
    uint32_t h =
        (uint32_t)key[0] | (uint32_t)key[1] << 8 | (uint32_t)key[2] << 16 | (uint32_t)key[3] << 24;
    return &c->slots[h & (CACHE_SLOTS - 1)];
}

const struct cache_entry *cache_get(const struct cache *c,
                                    const unsigned char key[CACHE_DIGEST_LEN], uint64_t now)
{
    if (!c->slots)
        return NULL;
    const struct cache_entry *e = slot_of(c, key);
    if (!e->expires || e->expires <= now || CRYPTO_memcmp(e->key, key, CACHE_DIGEST_LEN) != 0)
        return NULL;
    return e;
}

int cache_put(struct cache *c, const unsigned char key[CACHE_DIGEST_LEN], const char *user,
              const char *claims_json, uint64_t now)
{
    if (!c->slots)
        return 0;
    char *u = strdup(user);
    char *cl = claims_json ? strdup(claims_json) : NULL;
    if (!u || (claims_json && !cl)) {
        free(u);
        free(cl);
        return SB_ENOMEM;
    }
    struct cache_entry *e = slot_of(c, key);
    entry_clear(e);
    memcpy(e->key, key, CACHE_DIGEST_LEN);
    e->user = u;
    e->claims_json = cl;
    e->expires = now + c->ttl_ms;
    return 0;
}
