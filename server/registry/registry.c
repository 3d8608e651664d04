#include "registry.h"

#include <stdlib.h>
#include <string.h>

void registry_init(struct registry *r)
{
    memset(r, 0, sizeof(*r));
    sb_map_init(&r->nsps);
}

static void free_rooms(struct nsp *n)
{
    const char *k;
    void *v;
    for (uint32_t it = 0; sb_map_next(&n->rooms, &it, &k, &v);) {
        struct room *room = v;
        while (room->head) {
            struct member *m = room->head;
            room->head = m->next;
            free(m);
        }
        free(room);
    }
    sb_map_free(&n->rooms);
}

void registry_free(struct registry *r)
{
    const char *k;
    void *v;
    for (uint32_t it = 0; sb_map_next(&r->nsps, &it, &k, &v);) {
        struct nsp *n = v;
        free_rooms(n);
        sb_map_free(&n->socks);
        free(n);
    }
    sb_map_free(&r->nsps);
}

struct nsp *registry_nsp(struct registry *r, const char *name, bool create)
{
    struct nsp *n = sb_map_get(&r->nsps, name);
    if (n || !create)
        return n;
    size_t len = strlen(name);
    n = calloc(1, sizeof(*n) + len + 1);
    if (!n)
        return NULL;
    memcpy(n->name, name, len + 1);
    sb_map_init(&n->socks);
    sb_map_init(&n->rooms);
    if (sb_map_put(&r->nsps, n->name, n)) {
        free(n);
        return NULL;
    }
    return n;
}

int registry_sock_add(struct registry *r, struct nsp *nsp, struct sock *s)
{
    (void)r;
    if (sb_map_get(&nsp->socks, s->id))
        return SB_EEXISTS;
    if (sb_map_put(&nsp->socks, s->id, s))
        return SB_ENOMEM;
    s->nsp = nsp;
    s->nsp_name = nsp->name;
    nsp->nsocks++;
    metrics.sockets++;
    return 0;
}

struct sock *registry_sock_find(const struct nsp *nsp, const char *id)
{
    return sb_map_get(&nsp->socks, id);
}

struct room *registry_room_find(const struct nsp *nsp, const char *room)
{
    return sb_map_get(&nsp->rooms, room);
}

static void unlink_member(struct registry *r, struct nsp *nsp, struct member *m)
{
    struct room *room = m->room;
    if (m->prev)
        m->prev->next = m->next;
    else
        room->head = m->next;
    if (m->next)
        m->next->prev = m->prev;
    if (--room->count == 0) {
        sb_map_del(&nsp->rooms, room->name);
        if (r->room_cb)
            r->room_cb(r->room_ud, nsp, room->name, false);
        free(room);
    }
    free(m);
}

void registry_sock_remove(struct registry *r, struct sock *s)
{
    struct nsp *nsp = s->nsp;
    if (!nsp)
        return;
    while (s->rooms) {
        struct member *m = s->rooms;
        s->rooms = m->sock_next;
        unlink_member(r, nsp, m);
    }
    sb_map_del(&nsp->socks, s->id);
    nsp->nsocks--;
    metrics.sockets--;
    s->nsp = NULL;
}

bool registry_in_room(const struct sock *s, const char *room)
{
    if (strcmp(s->id, room) == 0)
        return true;
    for (const struct member *m = s->rooms; m; m = m->sock_next)
        if (strcmp(m->room->name, room) == 0)
            return true;
    return false;
}

int registry_join(struct registry *r, struct sock *s, const char *name)
{
    struct nsp *nsp = s->nsp;
    if (!nsp || !*name)
        return SB_EINVAL;
    if (registry_in_room(s, name))
        return 0;
    struct member *m = malloc(sizeof(*m));
    if (!m)
        return SB_ENOMEM;
    struct room *room = sb_map_get(&nsp->rooms, name);
    bool created = false;
    if (!room) {
        size_t len = strlen(name);
        room = calloc(1, sizeof(*room) + len + 1);
        if (!room ||
            (memcpy(room->name, name, len + 1), sb_map_put(&nsp->rooms, room->name, room))) {
            free(room);
            free(m);
            return SB_ENOMEM;
        }
        created = true;
    }
    m->room = room;
    m->sock = s;
    m->prev = NULL;
    m->next = room->head;
    if (room->head)
        room->head->prev = m;
    room->head = m;
    room->count++;
    m->sock_next = s->rooms;
    s->rooms = m;
    if (created && r->room_cb)
        r->room_cb(r->room_ud, nsp, room->name, true);
    return 0;
}

int registry_leave(struct registry *r, struct sock *s, const char *name)
{
    if (!s->nsp)
        return SB_EINVAL;
    for (struct member **pp = &s->rooms; *pp; pp = &(*pp)->sock_next) {
        if (strcmp((*pp)->room->name, name) == 0) {
            struct member *m = *pp;
            *pp = m->sock_next;
            unlink_member(r, s->nsp, m);
            return 0;
        }
    }
    return 0;
}

size_t registry_room_size(const struct nsp *nsp, const char *name)
{
    const struct room *room = sb_map_get(&nsp->rooms, name);
    if (room)
        return room->count;
    return sb_map_get(&nsp->socks, name) ? 1 : 0;
}

/* Stamps every socket of one except room (or the socket with that id). */
static void mark(struct nsp *nsp, const char *name, uint64_t stamp)
{
    struct room *room = sb_map_get(&nsp->rooms, name);
    if (room) {
        for (struct member *m = room->head; m; m = m->next)
            m->sock->stamp = stamp;
        return;
    }
    struct sock *s = sb_map_get(&nsp->socks, name);
    if (s)
        s->stamp = stamp;
}

size_t registry_each(struct registry *r, struct nsp *nsp, const char *const *rooms, size_t nrooms,
                     const char *const *except, size_t nexcept, registry_visit_cb cb, void *ud)
{
    /* Two fresh stamps: sockets stamped `skip` are excluded, sockets stamped `seen` were
     * already visited through another room. A 64-bit counter never wraps in practice. */
    uint64_t skip = ++r->stamp, seen = ++r->stamp;
    size_t n = 0;
    for (size_t i = 0; i < nexcept; i++)
        mark(nsp, except[i], skip);

    if (nrooms == 0) {
        void *v;
        for (uint32_t it = 0; sb_map_next(&nsp->socks, &it, NULL, &v);) {
            struct sock *s = v;
            if (s->stamp == skip)
                continue;
            cb(s, ud);
            n++;
        }
        return n;
    }
    for (size_t i = 0; i < nrooms; i++) {
        struct room *room = sb_map_get(&nsp->rooms, rooms[i]);
        if (!room) {
            struct sock *s = sb_map_get(&nsp->socks, rooms[i]);
            if (s && s->stamp != skip && s->stamp != seen) {
                s->stamp = seen;
                cb(s, ud);
                n++;
            }
            continue;
        }
        for (struct member *m = room->head; m; m = m->next) {
            struct sock *s = m->sock;
            if (s->stamp == skip || s->stamp == seen)
                continue;
            s->stamp = seen;
            cb(s, ud);
            n++;
        }
    }
    return n;
}
