/*
 * Open addressing with linear probing and backward-shift deletion (no tombstones), so lookups
 * stay short however many sockets come and go.
 */
#include "util.h"

#include <stdlib.h>
#include <string.h>

uint32_t map_hash(const char *key, size_t len)
{
    /* FNV-1a, then a final mix so that low bits are usable as an index. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 16777619u;
    }
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    return h;
}

void map_init(struct map *m)
{
    memset(m, 0, sizeof(*m));
}

void map_free(struct map *m)
{
    free(m->slots);
    map_init(m);
}

static bool key_eq(const struct map_slot *s, uint32_t h, const char *key, size_t len)
{
    return s->hash == h && strncmp(s->key, key, len) == 0 && s->key[len] == '\0';
}

void *map_getn(const struct map *m, const char *key, size_t len)
{
    if (!m->count)
        return NULL;
    uint32_t h = map_hash(key, len), mask = m->cap - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        const struct map_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (key_eq(s, h, key, len))
            return s->value;
    }
}

void *map_get(const struct map *m, const char *key)
{
    return map_getn(m, key, strlen(key));
}

static void insert_slot(struct map_slot *slots, uint32_t mask, struct map_slot e)
{
    uint32_t i = e.hash & mask;
    while (slots[i].key)
        i = (i + 1) & mask;
    slots[i] = e;
}

static int grow(struct map *m)
{
    uint32_t cap = m->cap ? m->cap * 2 : 8;
    struct map_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return SB_ENOMEM;
    for (uint32_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            insert_slot(slots, cap - 1, m->slots[i]);
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int map_put(struct map *m, const char *key, void *value)
{
    size_t len = strlen(key);
    uint32_t h = map_hash(key, len);
    if (m->count) {
        uint32_t mask = m->cap - 1;
        for (uint32_t i = h & mask; m->slots[i].key; i = (i + 1) & mask) {
            if (key_eq(&m->slots[i], h, key, len)) {
                m->slots[i].key = key;
                m->slots[i].value = value;
                return 0;
            }
        }
    }
    /* Keep the load factor at or below 3/4. */
    if ((m->count + 1) * 4 > m->cap * 3 && grow(m))
        return SB_ENOMEM;
    insert_slot(m->slots, m->cap - 1, (struct map_slot){.key = key, .value = value, .hash = h});
    m->count++;
    return 0;
}

void *map_del(struct map *m, const char *key)
{
    if (!m->count)
        return NULL;
    size_t len = strlen(key);
    uint32_t h = map_hash(key, len), mask = m->cap - 1, i = h & mask;
    for (;; i = (i + 1) & mask) {
        if (!m->slots[i].key)
            return NULL;
        if (key_eq(&m->slots[i], h, key, len))
            break;
    }
    void *value = m->slots[i].value;
    /* Backward-shift: move later members of the probe run into the hole when their home slot
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
    m->slots[hole] = (struct map_slot){0};
    m->count--;
    if (m->count == 0) {
        map_free(m);
    }
    return value;
}

bool map_next(const struct map *m, uint32_t *iter, const char **key, void **value)
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
