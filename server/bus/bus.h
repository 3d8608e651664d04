/*
 * The bus: every broadcast goes through it, whoever asks (a gateway, a plugin, the HTTP API).
 * bus_emit() delivers to this instance's sockets and hands the message to the engine, which
 * carries it to the other instances: the local engine (default) has none; the Redis engine
 * (cluster issue) publishes in the socket.io Redis adapter format. Messages arriving from other
 * instances come back in through bus_deliver_local().
 */
#ifndef SB_BUS_H
#define SB_BUS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "../registry/registry.h"

/* One broadcast: socket.io's io.of(nsp).to(rooms).except(except).emit(event, ...args). */
struct bus_msg {
    const char *nsp;          /* borrowed; NULL means "/" */
    const char *const *rooms; /* borrowed; none = every socket of the namespace */
    size_t nrooms;
    const char *const *except; /* borrowed; rooms or socket ids to skip */
    size_t nexcept;
    const char *event;  /* borrowed */
    const json_t *args; /* borrowed JSON array; NULL = no arguments */
    bool local;         /* deliver on this instance only */
};

struct bus;

struct bus_engine {
    const char *name;
    /* Carries `m` to the other instances. Returns 0 or a negative sb_err_t. */
    int (*publish)(struct bus *b, const struct bus_msg *m);
    /* A room got its first local member (exists) or lost its last one. */
    void (*room_changed)(struct bus *b, const char *nsp, const char *room, bool exists);
    /* True when messages from other instances can arrive (for /readyz). */
    bool (*ready)(const struct bus *b);
    void (*close)(struct bus *b);
};

struct bus {
    const struct bus_engine *engine;
    void *engine_state;
    struct registry *reg; /* borrowed */
};

/* Sets up the bus with the local engine. */
void bus_init_local(struct bus *b, struct registry *reg);
void bus_close(struct bus *b);

/* Delivers locally, then publishes through the engine (unless m->local). Returns the number of
 * local sockets reached, or a negative sb_err_t (SB_EINVAL: no event name). */
int bus_emit(struct bus *b, const struct bus_msg *m);

/* Delivers on this instance only: encodes the event at most once per codec and queues the same
 * frame on every target socket. Returns the number of sockets reached or SB_ENOMEM. */
int bus_deliver_local(struct bus *b, const struct bus_msg *m);

bool bus_ready(const struct bus *b);

#endif
