#include "ratelimit.h"

#include <switchboard/plugin.h>

#define SB_MAP_IMPLEMENTATION /* this plugin's copy of the SDK map, with its own random key */
#include <switchboard/map.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- rules (ratelimit_config.c parses them) ---- */

bool rl_rule_matches(const struct rl_rule *rule, const char *event)
{
    if (!rule->nevents)
        return true;
    for (size_t i = 0; i < rule->nevents; i++)
        if (glob_match(rule->events[i], event))
            return true;
    return false;
}

/* ---- buckets ---- */

static uint64_t capacity(const struct rl_rule *r)
{
    return (uint64_t)r->burst * r->period_ms;
}

void rl_bucket_init(struct rl_bucket *b, const struct rl_rule *rule, uint64_t now)
{
    b->level = capacity(rule);
    b->last_ms = now;
}

void rl_bucket_refill(struct rl_bucket *b, const struct rl_rule *rule, uint64_t now)
{
    if (now <= b->last_ms)
        return;
    uint64_t elapsed = now - b->last_ms, cap = capacity(rule);
    b->last_ms = now;
    if (b->level >= cap) {
        b->level = cap;
        return;
    }
    /* Compare before multiplying: elapsed may be anything up to 2^64. */
    uint64_t missing = cap - b->level;
    if (elapsed >= (missing + rule->count - 1) / rule->count)
        b->level = cap;
    else
        b->level += elapsed * rule->count;
}

uint64_t rl_bucket_tokens(const struct rl_bucket *b, const struct rl_rule *rule)
{
    return b->level / rule->period_ms;
}

bool rl_bucket_take(struct rl_bucket *b, const struct rl_rule *rule, uint64_t now)
{
    rl_bucket_refill(b, rule, now);
    if (b->level < rule->period_ms)
        return false;
    b->level -= rule->period_ms;
    return true;
}

/* ---- the limiter ---- */

/* The buckets of one event name in one socket or user: one per rule (only per=event rules'
 * are used). */
struct evbuckets {
    char *name; /* owned */
    struct rl_bucket b[];
};

/* A socket or a user. */
struct entity {
    char *key;           /* owned: socket id or user id */
    struct entity *user; /* a socket's user (counted in its refs), NULL when anonymous */
    size_t refs;         /* a user's sockets */
    bool idle;           /* a user without sockets, waiting for its buckets to refill */
    uint64_t expires;
    struct entity *prev, *next; /* the idle list */
    struct sb_map events;       /* name -> struct evbuckets, at most RL_MAX_EVENTS */
    struct evbuckets *other;    /* the names past RL_MAX_EVENTS (or too long) */
    struct rl_bucket all[];     /* one per rule (only per=all rules' are used) */
};

struct rl_limiter {
    struct rl_config cfg;
    struct sb_map sockets; /* id -> struct entity */
    struct sb_map users;   /* user id -> struct entity */
    struct entity *idle_head, *idle_tail;
    size_t nidle;
    bool user_rules;       /* some rule has scope=user */
    uint64_t user_fill_ms; /* the longest time a user-scoped bucket takes to refill */
};

static void init_buckets(const struct rl_limiter *lim, struct rl_bucket *b, uint64_t now)
{
    for (size_t i = 0; i < lim->cfg.n; i++)
        rl_bucket_init(&b[i], &lim->cfg.rules[i], now);
}

static struct evbuckets *evbuckets_new(const struct rl_limiter *lim, const char *name, uint64_t now)
{
    struct evbuckets *e = malloc(sizeof(*e) + lim->cfg.n * sizeof(e->b[0]));
    if (!e)
        return NULL;
    if (!(e->name = strdup(name))) {
        free(e);
        return NULL;
    }
    init_buckets(lim, e->b, now);
    return e;
}

static void evbuckets_free(struct evbuckets *e)
{
    if (e)
        free(e->name);
    free(e);
}

static struct entity *entity_new(const struct rl_limiter *lim, const char *key, uint64_t now)
{
    struct entity *e = calloc(1, sizeof(*e) + lim->cfg.n * sizeof(e->all[0]));
    if (!e)
        return NULL;
    if (!(e->key = strdup(key))) {
        free(e);
        return NULL;
    }
    init_buckets(lim, e->all, now);
    return e;
}

static void entity_free(struct entity *e)
{
    for (size_t i = 0; i < e->events.cap; i++)
        if (e->events.slots[i].key)
            evbuckets_free(e->events.slots[i].value);
    sb_map_free(&e->events);
    evbuckets_free(e->other);
    free(e->key);
    free(e);
}

/* True when every user-scoped bucket of user `u` is full at `now`: forgetting it loses
 * nothing. */
static bool user_full(const struct rl_limiter *lim, struct entity *u, uint64_t now)
{
    for (size_t i = 0; i < lim->cfg.n; i++) {
        const struct rl_rule *r = &lim->cfg.rules[i];
        if (r->scope != RL_SCOPE_USER)
            continue;
        if (r->per == RL_PER_ALL) {
            rl_bucket_refill(&u->all[i], r, now);
            if (u->all[i].level < capacity(r))
                return false;
            continue;
        }
        for (size_t j = 0; j < u->events.cap; j++) {
            struct evbuckets *e = u->events.slots[j].key ? u->events.slots[j].value : NULL;
            if (e) {
                rl_bucket_refill(&e->b[i], r, now);
                if (e->b[i].level < capacity(r))
                    return false;
            }
        }
        if (u->other) {
            rl_bucket_refill(&u->other->b[i], r, now);
            if (u->other->b[i].level < capacity(r))
                return false;
        }
    }
    return true;
}

static void idle_unlink(struct rl_limiter *lim, struct entity *u)
{
    if (u->prev)
        u->prev->next = u->next;
    else
        lim->idle_head = u->next;
    if (u->next)
        u->next->prev = u->prev;
    else
        lim->idle_tail = u->prev;
    u->prev = u->next = NULL;
    u->idle = false;
    lim->nidle--;
}

/* Every idle user gets the same delay, so the list is in expiry order. */
static void idle_append(struct rl_limiter *lim, struct entity *u, uint64_t now)
{
    u->idle = true;
    u->expires = now + lim->user_fill_ms;
    u->prev = lim->idle_tail;
    u->next = NULL;
    if (lim->idle_tail)
        lim->idle_tail->next = u;
    else
        lim->idle_head = u;
    lim->idle_tail = u;
    lim->nidle++;
}

static void sweep(struct rl_limiter *lim, uint64_t now)
{
    while (lim->idle_head && lim->idle_head->expires <= now) {
        struct entity *u = lim->idle_head;
        idle_unlink(lim, u);
        sb_map_del(&lim->users, u->key);
        entity_free(u);
    }
}

static void user_release(struct rl_limiter *lim, struct entity *u, uint64_t now)
{
    if (--u->refs > 0)
        return;
    if (user_full(lim, u, now)) {
        sb_map_del(&lim->users, u->key);
        entity_free(u);
    } else {
        idle_append(lim, u, now);
    }
}

static struct entity *user_acquire(struct rl_limiter *lim, const char *user, uint64_t now)
{
    struct entity *u = sb_map_get(&lim->users, user);
    if (!u) {
        if (!(u = entity_new(lim, user, now)))
            return NULL;
        if (sb_map_put(&lim->users, u->key, u)) {
            entity_free(u);
            return NULL;
        }
    }
    if (u->idle)
        idle_unlink(lim, u);
    u->refs++;
    return u;
}

static struct entity *socket_get(struct rl_limiter *lim, const char *id, const char *user,
                                 uint64_t now)
{
    struct entity *s = sb_map_get(&lim->sockets, id);
    if (s)
        return s;
    if (!(s = entity_new(lim, id, now)))
        return NULL;
    if (user && *user && lim->user_rules && !(s->user = user_acquire(lim, user, now))) {
        entity_free(s);
        return NULL;
    }
    if (sb_map_put(&lim->sockets, s->key, s)) {
        if (s->user)
            user_release(lim, s->user, now);
        entity_free(s);
        return NULL;
    }
    return s;
}

/* The buckets of `event` in `e`; the shared overflow set once RL_MAX_EVENTS names are tracked,
 * so that a client inventing names cannot grow the table. */
static struct evbuckets *event_buckets(struct rl_limiter *lim, struct entity *e, const char *event,
                                       uint64_t now)
{
    struct evbuckets *b = sb_map_get(&e->events, event);
    if (b)
        return b;
    if (e->events.count < RL_MAX_EVENTS && strlen(event) <= RL_MAX_NAME) {
        if (!(b = evbuckets_new(lim, event, now)))
            return NULL;
        if (sb_map_put(&e->events, b->name, b)) {
            evbuckets_free(b);
            return NULL;
        }
        return b;
    }
    if (!e->other)
        e->other = evbuckets_new(lim, "", now);
    return e->other;
}

struct rl_limiter *rl_limiter_new(struct rl_config *cfg)
{
    struct rl_limiter *lim = calloc(1, sizeof(*lim));
    if (!lim)
        return NULL;
    lim->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < lim->cfg.n; i++) {
        const struct rl_rule *r = &lim->cfg.rules[i];
        if (r->scope != RL_SCOPE_USER)
            continue;
        lim->user_rules = true;
        uint64_t fill = (capacity(r) + r->count - 1) / r->count;
        if (fill > lim->user_fill_ms)
            lim->user_fill_ms = fill;
    }
    return lim;
}

static void free_all(struct sb_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            entity_free(m->slots[i].value);
    sb_map_free(m);
}

void rl_limiter_free(struct rl_limiter *lim)
{
    if (!lim)
        return;
    free_all(&lim->sockets);
    free_all(&lim->users);
    rl_config_free(&lim->cfg);
    free(lim);
}

const struct rl_config *rl_limiter_config(const struct rl_limiter *lim)
{
    return &lim->cfg;
}

int rl_limiter_hit(struct rl_limiter *lim, const char *sock_id, const char *user, const char *event,
                   uint64_t now)
{
    struct {
        struct rl_bucket *bucket;
        uint64_t cost;
    } taken[RL_MAX_RULES];
    size_t ntaken = 0;

    sweep(lim, now);
    struct entity *s = socket_get(lim, sock_id, user, now);
    if (!s)
        return SB_ENOMEM;
    /* Check every rule first and take only when all agree: a refused event costs nothing. */
    for (size_t i = 0; i < lim->cfg.n; i++) {
        const struct rl_rule *r = &lim->cfg.rules[i];
        if (!rl_rule_matches(r, event))
            continue;
        /* An anonymous socket is its own "user". */
        struct entity *e = r->scope == RL_SCOPE_USER && s->user ? s->user : s;
        struct rl_bucket *b;
        if (r->per == RL_PER_ALL) {
            b = &e->all[i];
        } else {
            struct evbuckets *eb = event_buckets(lim, e, event, now);
            if (!eb)
                return SB_ENOMEM;
            b = &eb->b[i];
        }
        rl_bucket_refill(b, r, now);
        if (b->level < r->period_ms)
            return (int)i;
        taken[ntaken].bucket = b;
        taken[ntaken++].cost = r->period_ms;
    }
    for (size_t k = 0; k < ntaken; k++)
        taken[k].bucket->level -= taken[k].cost;
    return -1;
}

void rl_limiter_forget(struct rl_limiter *lim, const char *sock_id, uint64_t now)
{
    sweep(lim, now);
    struct entity *s = sb_map_del(&lim->sockets, sock_id);
    if (!s)
        return;
    if (s->user)
        user_release(lim, s->user, now);
    entity_free(s);
}

size_t rl_limiter_nsockets(const struct rl_limiter *lim)
{
    return lim->sockets.count;
}

size_t rl_limiter_nusers(const struct rl_limiter *lim)
{
    return lim->users.count;
}

size_t rl_limiter_nidle(const struct rl_limiter *lim)
{
    return lim->nidle;
}

size_t rl_limiter_nevents(const struct rl_limiter *lim, const char *key, bool user)
{
    const struct entity *e = sb_map_get(user ? &lim->users : &lim->sockets, key);
    return e ? e->events.count : 0;
}
