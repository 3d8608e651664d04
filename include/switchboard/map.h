/*
 * switchboard SDK: a string-keyed hash map whose hash is keyed with a random secret, for the
 * server and for plugins.
 *
 * Keys are strings a client chooses (room names, user ids, event names), so an unkeyed hash
 * lets anyone compute, offline, thousands of names that land in one bucket and turn every
 * lookup into a walk of all of them (hash flooding). The hash here is SipHash-1-3 (the one
 * Redis and Python use for the same reason) with a 128-bit key drawn from getrandom(2) when the
 * image that holds the implementation (the server, or a plugin's .so) is loaded.
 *
 * Open addressing with linear probing and backward-shift deletion (no tombstones); the table
 * stays at most 3/4 full, shrinks when a crowd has left and is freed when empty.
 *
 * Header only, in the single-file-library style: every file may include it for the
 * declarations; exactly one file of an image defines SB_MAP_IMPLEMENTATION before including it
 * to get the code (the shipped plugins and the server do; docs/plugins.md). A plugin built with
 * -fvisibility=hidden keeps its copy and its key to itself.
 */
#ifndef SWITCHBOARD_MAP_H
#define SWITCHBOARD_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sb_map_slot {
    const char *key; /* borrowed: usually points into the value; NULL: empty */
    void *value;
    uint32_t hash;
};

struct sb_map {
    struct sb_map_slot *slots; /* owned */
    uint32_t cap;              /* a power of two, or 0 */
    uint32_t count;
};

/* An empty map (all zero is one too). */
void sb_map_init(struct sb_map *m);
/* Frees the table, not the keys or values. The map is empty and usable afterwards. */
void sb_map_free(struct sb_map *m);
void *sb_map_get(const struct sb_map *m, const char *key);
void *sb_map_getn(const struct sb_map *m, const char *key, size_t len);
/* Inserts or replaces. `key` must live as long as the entry. Returns 0 or SB_ENOMEM (-1). */
int sb_map_put(struct sb_map *m, const char *key, void *value);
/* Removes and returns the value, or NULL when absent. */
void *sb_map_del(struct sb_map *m, const char *key);
/* Iteration: for (uint32_t i = 0; sb_map_next(m, &i, &k, &v);). Not across a put or a del. */
bool sb_map_next(const struct sb_map *m, uint32_t *iter, const char **key, void **value);

/* The map's hash of `len` bytes: SipHash-1-3 under this image's key, folded to 32 bits. */
uint32_t sb_map_hash(const void *key, size_t len);
/* Replaces this image's key. Only while no map holds anything (tests use a fixed key). */
void sb_map_seed(const uint8_t key[16]);

/* SipHash with `c` compression and `d` finalisation rounds (SipHash-1-3: 1, 3; the reference
 * SipHash-2-4: 2, 4) of `len` bytes under the 128-bit `key`. */
uint64_t sb_siphash(const uint8_t key[16], const void *data, size_t len, int c, int d);

#ifdef __cplusplus
}
#endif
#endif /* SWITCHBOARD_MAP_H */

#ifdef SB_MAP_IMPLEMENTATION
#ifndef SB_MAP_IMPLEMENTED
#define SB_MAP_IMPLEMENTED

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define SB_MAP_ENOMEM_ (-1) /* SB_ENOMEM of switchboard/errors.h, without including it */

static uint8_t sb_map_key_[16];

/* Drawn when the image is loaded, before main() or dlopen() returns. Should getrandom() fail
 * (it does not on Linux >= 3.17 after boot), the addresses of the stack and of the code at
 * least differ between runs (ASLR); the hash stays correct either way. */
__attribute__((constructor)) static void sb_map_key_init_(void)
{
    size_t got = 0;
    while (got < sizeof(sb_map_key_)) {
        ssize_t n = getrandom(sb_map_key_ + got, sizeof(sb_map_key_) - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < sizeof(sb_map_key_)) {
        uintptr_t a = (uintptr_t)&got ^ ((uintptr_t)&sb_map_key_init_ << 17);
        memcpy(sb_map_key_, &a, sizeof(a) < 16 ? sizeof(a) : 16);
    }
}

void sb_map_seed(const uint8_t key[16])
{
    memcpy(sb_map_key_, key, sizeof(sb_map_key_));
}

static inline uint64_t sb_rotl_(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static inline uint64_t sb_le64_(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#define SB_SIPROUND_(v0, v1, v2, v3)                                                               \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = sb_rotl_(v1, 13);                                                                     \
        v1 ^= v0;                                                                                  \
        v0 = sb_rotl_(v0, 32);                                                                     \
        v2 += v3;                                                                                  \
        v3 = sb_rotl_(v3, 16);                                                                     \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = sb_rotl_(v3, 21);                                                                     \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = sb_rotl_(v1, 17);                                                                     \
        v1 ^= v2;                                                                                  \
        v2 = sb_rotl_(v2, 32);                                                                     \
    } while (0)

uint64_t sb_siphash(const uint8_t key[16], const void *data, size_t len, int c, int d)
{
    const uint8_t *in = data;
    uint64_t k0 = sb_le64_(key), k1 = sb_le64_(key + 8);
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = sb_le64_(in + i);
        v3 ^= m;
        for (int r = 0; r < c; r++)
            SB_SIPROUND_(v0, v1, v2, v3);
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = whole; i < len; i++)
        b |= (uint64_t)in[i] << (8 * (i - whole));
    v3 ^= b;
    for (int r = 0; r < c; r++)
        SB_SIPROUND_(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    for (int r = 0; r < d; r++)
        SB_SIPROUND_(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

uint32_t sb_map_hash(const void *key, size_t len)
{
    uint64_t h = sb_siphash(sb_map_key_, key, len, 1, 3);
    return (uint32_t)(h ^ (h >> 32));
}

void sb_map_init(struct sb_map *m)
{
    memset(m, 0, sizeof(*m));
}

void sb_map_free(struct sb_map *m)
{
    free(m->slots);
    sb_map_init(m);
}

static bool sb_map_key_eq_(const struct sb_map_slot *s, uint32_t h, const char *key, size_t len)
{
    return s->hash == h && strncmp(s->key, key, len) == 0 && s->key[len] == '\0';
}

void *sb_map_getn(const struct sb_map *m, const char *key, size_t len)
{
    if (!m->count)
        return NULL;
    uint32_t h = sb_map_hash(key, len), mask = m->cap - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        const struct sb_map_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (sb_map_key_eq_(s, h, key, len))
            return s->value;
    }
}

void *sb_map_get(const struct sb_map *m, const char *key)
{
    return sb_map_getn(m, key, strlen(key));
}

static int sb_map_resize_(struct sb_map *m, uint32_t cap)
{
    struct sb_map_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return SB_MAP_ENOMEM_;
    for (uint32_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        uint32_t j = m->slots[i].hash & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int sb_map_put(struct sb_map *m, const char *key, void *value)
{
    size_t len = strlen(key);
    uint32_t h = sb_map_hash(key, len);
    if (m->count) {
        uint32_t mask = m->cap - 1;
        for (uint32_t i = h & mask; m->slots[i].key; i = (i + 1) & mask) {
            if (sb_map_key_eq_(&m->slots[i], h, key, len)) {
                m->slots[i].key = key;
                m->slots[i].value = value;
                return 0;
            }
        }
    }
    /* At most 3/4 full. */
    if ((uint64_t)(m->count + 1) * 4 > (uint64_t)m->cap * 3 &&
        sb_map_resize_(m, m->cap ? m->cap * 2 : 8))
        return SB_MAP_ENOMEM_;
    uint32_t mask = m->cap - 1, i = h & mask;
    while (m->slots[i].key)
        i = (i + 1) & mask;
    m->slots[i] = (struct sb_map_slot){.key = key, .value = value, .hash = h};
    m->count++;
    return 0;
}

void *sb_map_del(struct sb_map *m, const char *key)
{
    if (!m->count)
        return NULL;
    size_t len = strlen(key);
    uint32_t h = sb_map_hash(key, len), mask = m->cap - 1, i = h & mask;
    for (;; i = (i + 1) & mask) {
        if (!m->slots[i].key)
            return NULL;
        if (sb_map_key_eq_(&m->slots[i], h, key, len))
            break;
    }
    void *value = m->slots[i].value;
    /* Backward shift: move later members of the probe run into the hole when their home slot
     * is not between the hole and their current position. */
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        uint32_t home = m->slots[j].hash & mask;
        bool between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!between) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole] = (struct sb_map_slot){0};
    m->count--;
    if (m->count == 0)
        sb_map_free(m);
    else if (m->cap > 8 && m->count * 8 < m->cap)
        sb_map_resize_(m, m->cap / 2); /* a crowd left; failing keeps the bigger table */
    return value;
}

bool sb_map_next(const struct sb_map *m, uint32_t *iter, const char **key, void **value)
{
    for (uint32_t i = *iter; i < m->cap; i++) {
        if (m->slots[i].key) {
            if (key)
                *key = m->slots[i].key;
            if (value)
                *value = m->slots[i].value;
            *iter = i + 1;
            return true;
        }
    }
    *iter = m->cap;
    return false;
}

#undef SB_SIPROUND_
#undef SB_MAP_ENOMEM_
#endif /* SB_MAP_IMPLEMENTED */
#endif /* SB_MAP_IMPLEMENTATION */
