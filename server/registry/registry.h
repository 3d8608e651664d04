/*
 * The registry: every connected socket by namespace and id, and every room by name with its
 * members. A user is the room "user:<id>" and the authenticated sockets are the room
 * "authenticated", so "to a user", "to the authenticated" and "to a room" are one operation.
 *
 * Costs: finding a socket or a room is O(1); joining and leaving are O(rooms of the socket),
 * which is a handful; visiting the targets of a broadcast is O(members of the target rooms +
 * members of the except rooms). No allocation happens while visiting.
 */
#ifndef SB_REGISTRY_H
#define SB_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../conn/conn.h"
#include "../util/util.h"

#define ROOM_AUTHENTICATED "authenticated"
#define ROOM_USER_PREFIX   "user:"

struct member {
    struct room *room;
    struct sock *sock;
    struct member *prev, *next; /* in the room */
    struct member *sock_next;   /* in the socket's list */
};

struct room {
    struct member *head;
    uint32_t count;
    char name[]; /* owned, NUL-terminated */
};

struct nsp {
    struct sb_map socks; /* id -> struct sock (borrowed: connections own sockets) */
    struct sb_map rooms; /* name -> struct room (owned) */
    uint32_t nsocks;
    char name[]; /* owned, NUL-terminated */
};

/* Told when a room gets its first local member or loses its last one (the Redis bus subscribes
 * to a room's channel only while it has local members). */
typedef void (*registry_room_cb)(void *ud, const struct nsp *nsp, const char *room, bool exists);

struct registry {
    struct sb_map nsps; /* name -> struct nsp (owned) */
    uint64_t stamp;
    registry_room_cb room_cb;
    void *room_ud;
};

void registry_init(struct registry *r);
/* Frees namespaces and rooms; every socket must have been removed. */
void registry_free(struct registry *r);

/* The namespace called `name`, created when `create` is true. NULL if absent or no memory. */
struct nsp *registry_nsp(struct registry *r, const char *name, bool create);

/* Adds a socket (s->id set, s->nsp NULL) to `nsp`. Returns 0, SB_EEXISTS or SB_ENOMEM. */
int registry_sock_add(struct registry *r, struct nsp *nsp, struct sock *s);
/* Removes the socket from its namespace and from every room. Idempotent. */
void registry_sock_remove(struct registry *r, struct sock *s);
struct sock *registry_sock_find(const struct nsp *nsp, const char *id);

/* Joins / leaves a room. Joining twice or leaving a room one is not in is not an error.
 * Returns 0, SB_EINVAL (empty name) or SB_ENOMEM. */
int registry_join(struct registry *r, struct sock *s, const char *room);
int registry_leave(struct registry *r, struct sock *s, const char *room);
/* True when the socket is in `room`; every socket is in the room named by its id. */
bool registry_in_room(const struct sock *s, const char *room);
/* Members of `room` in `nsp` (a socket id counts as a room of one). */
size_t registry_room_size(const struct nsp *nsp, const char *room);
struct room *registry_room_find(const struct nsp *nsp, const char *room);

/* Called once per target socket; must not add or remove sockets or memberships. */
typedef void (*registry_visit_cb)(struct sock *s, void *ud);

/*
 * Visits every socket of `nsp` that is in at least one of `rooms` (all sockets when nrooms is
 * 0) and in none of `except`, once each. Room names that are socket ids select that socket.
 * Returns the number of sockets visited.
 */
size_t registry_each(struct registry *r, struct nsp *nsp, const char *const *rooms, size_t nrooms,
                     const char *const *except, size_t nexcept, registry_visit_cb cb, void *ud);

#endif
