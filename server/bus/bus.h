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
#include <uv.h>

#include "../registry/registry.h"

/* The most rooms in one list of a broadcast or a cluster operation (its rooms, its excepts),
 * wherever the list comes from: POST /api/emit answers 400 beyond it, a gateway's emit and
 * cluster calls raise an error (they read their lists into arrays on the C stack). */
#define SB_MAX_EMIT_ROOMS 1024

/* One broadcast: socket.io's io.of(nsp).to(rooms).except(except).emit(event, ...args). */
struct bus_msg {
    const char *nsp;          /* borrowed; NULL means "/" */
    const char *const *rooms; /* borrowed; none = every socket of the namespace */
    size_t nrooms;
    const char *const *except; /* borrowed; rooms or socket ids to skip */
    size_t nexcept;
    const char *event;  /* borrowed */
    const json_t *args; /* borrowed JSON array; NULL = no arguments */
    /* borrowed: the attachments the placeholders of `args` stand for; NULL = none */
    const struct sio_bins *bins;
    bool local; /* deliver on this instance only */
};

struct bus;

/* Which sockets a cluster operation acts on: socket.io's io.of(nsp).in(rooms).except(except). */
struct bus_query {
    const char *nsp;          /* NULL means "/" */
    const char *const *rooms; /* none = every socket of the namespace */
    size_t nrooms;
    const char *const *except;
    size_t nexcept;
    uint32_t timeout_ms; /* how long to wait for the other servers' answers */
};

/* The sockets found by bus_fetch_sockets(): a JSON array (borrowed) of objects
 * {"id", "rooms": [...], "data": {"user": …}, "handshake": {"query": {...}, …}} in the shape of
 * socket.io's RemoteSocket. `err` is 0, or SB_ETIMEOUT when some server did not answer in
 * time (the array then holds what arrived). */
typedef void (*bus_fetch_cb)(void *ud, json_t *sockets, int err);

/* The answers to a server-side emit with an ack: one value per other server (borrowed
 * array); `err` SB_ETIMEOUT when some did not answer in time. */
typedef void (*bus_ack_cb)(void *ud, json_t *responses, int err);

enum bus_sockets_op { BUS_SOCKETS_JOIN, BUS_SOCKETS_LEAVE, BUS_SOCKETS_DISCONNECT };

/* A Redis reply in the bus's own terms (the engine converts what its client library hands
 * it), so that the code asking (the gateways' redis.call) does not know which library speaks
 * RESP. Everything in it is borrowed, valid during the callback only. */
enum bus_value_type {
    BUS_VALUE_NIL,
    BUS_VALUE_INTEGER,
    BUS_VALUE_STRING, /* a bulk string */
    BUS_VALUE_STATUS, /* a simple string: "OK" */
    BUS_VALUE_ERROR,  /* an error reply: "ERR unknown command" */
    BUS_VALUE_ARRAY,
};

struct bus_value {
    enum bus_value_type type;
    long long integer; /* BUS_VALUE_INTEGER */
    const char *str;   /* STRING, STATUS, ERROR: `len` bytes, may hold NULs */
    size_t len;
    const struct bus_value *elements; /* BUS_VALUE_ARRAY */
    size_t nelements;
};

/* The answer to a Redis command (bus_command): `reply` (borrowed, valid during the call), or
 * NULL with err SB_ETIMEOUT, SB_EIO (connection lost) or SB_ENOMEM. */
typedef void (*bus_command_cb)(void *ud, const struct bus_value *reply, int err);

/* A server-side emit from another server, for the gateways. `reply` is non-NULL when the
 * sender waits for an answer: pass it to bus_reply() exactly once. */
struct bus_reply;
typedef void (*bus_server_event_fn)(void *ud, const char *nsp, const char *event, json_t *args,
                                    struct bus_reply *reply);

struct bus_engine {
    const char *name;
    /* Carries `m` to the other instances. Returns 0 or a negative sb_err_t. */
    int (*publish)(struct bus *b, const struct bus_msg *m);
    /* A room got its first local member (exists) or lost its last one. */
    void (*room_changed)(struct bus *b, const char *nsp, const char *room, bool exists);
    /* True when messages from other instances can arrive (for /readyz). */
    bool (*ready)(const struct bus *b);
    void (*close)(struct bus *b);
    /* A namespace this server serves (its channels get subscribed). */
    void (*namespace_add)(struct bus *b, const char *nsp);
    /* Cluster operations; absent in the local engine, where the local answer is the answer. */
    int (*fetch_sockets)(struct bus *b, const struct bus_query *q, bus_fetch_cb cb, void *ud);
    int (*remote_rooms)(struct bus *b, const struct bus_query *q, enum bus_sockets_op op,
                        const char *const *rooms, size_t nrooms, bool close);
    int (*server_emit)(struct bus *b, const char *nsp, const char *event, const json_t *args,
                       uint32_t timeout_ms, bus_ack_cb cb, void *ud);
    /* A Redis command on a connection of its own (Redis engine only). */
    int (*command)(struct bus *b, int argc, const char **argv, const size_t *argvlen,
                   uint32_t timeout_ms, bus_command_cb cb, void *ud);
};

struct bus {
    const struct bus_engine *engine;
    void *engine_state;
    struct registry *reg; /* borrowed */
    bus_server_event_fn server_event;
    void *server_event_ud;
};

/* Sets up the bus with the local engine. */
void bus_init_local(struct bus *b, struct registry *reg);
void bus_close(struct bus *b);

/* Delivers locally, then publishes through the engine (unless m->local). Returns the number of
 * local sockets reached, or a negative sb_err_t (SB_EINVAL: no event name). */
int bus_emit(struct bus *b, const struct bus_msg *m);

/* Delivers on this instance only: encodes the event at most once per codec and queues the same
 * frames on every target socket. Returns the number of sockets reached or SB_ENOMEM. A message
 * no socket.io client would read (more than SIO_MAX_ATTACHMENTS attachments, which only another
 * server can send) reaches the plain JSON sockets only, with a warning. */
int bus_deliver_local(struct bus *b, const struct bus_msg *m);

bool bus_ready(const struct bus *b);

/* Sets up the bus with the Redis engine (redis.c): `url` is redis://…, `prefix` the channel
 * prefix. Connecting happens in the background; returns 0 or SB_EINVAL with a reason in `err`
 * for a bad URL or prefix. */
int bus_init_redis(struct bus *b, struct registry *reg, uv_loop_t *loop, const char *url,
                   const char *prefix, char *err, size_t errlen);

/* Declares a namespace the gateways serve. */
void bus_namespace_add(struct bus *b, const char *nsp);

/* ---- cluster operations (bus_cluster.c): this server's sockets, plus every other server's
 * through the engine ---- */

/* Lists the sockets matching `q` on every server. `cb` is called once, later or before this
 * returns; not at all when this returns an error. */
int bus_fetch_sockets(struct bus *b, const struct bus_query *q, bus_fetch_cb cb, void *ud);
/* Makes the sockets matching `q` on every server join or leave `rooms`, or disconnects them
 * (`close`: also close their connection). */
int bus_sockets_op(struct bus *b, const struct bus_query *q, enum bus_sockets_op op,
                   const char *const *rooms, size_t nrooms, bool close);
/* Emits an event to the other servers (not to clients): socket.io's serverSideEmit. With
 * `cb`, waits up to `timeout_ms` for one answer per server. */
int bus_server_emit(struct bus *b, const char *nsp, const char *event, const json_t *args,
                    uint32_t timeout_ms, bus_ack_cb cb, void *ud);
/* Sends a Redis command (gateways' redis.call). `cb` is called once, later; not at all when
 * this returns an error: SB_EUNSUPPORTED (no Redis bus), SB_EIO (not connected). */
int bus_command(struct bus *b, int argc, const char **argv, const size_t *argvlen,
                uint32_t timeout_ms, bus_command_cb cb, void *ud);

/* Answers a server-side emit (`value` borrowed, NULL for null) and frees `reply`. */
void bus_reply(struct bus_reply *reply, const json_t *value);
/* Frees `reply` without answering (nobody handles the event: the sender times out, as with a
 * socket.io server that has no listener for it). */
void bus_reply_cancel(struct bus_reply *reply);
/* Whoever handles server-side emits from other servers (the gateways). */
void bus_set_server_event_handler(struct bus *b, bus_server_event_fn fn, void *ud);

/* The local part of the operations above, shared with the engines. */
json_t *bus_local_sockets(struct bus *b, const struct bus_query *q);
void bus_local_sockets_op(struct bus *b, const struct bus_query *q, enum bus_sockets_op op,
                          const char *const *rooms, size_t nrooms, bool close);

/* How a reply reaches the server that asked (set by the engine that created it). */
struct bus_reply {
    void (*send)(struct bus_reply *r, const json_t *value); /* frees r */
    void (*cancel)(struct bus_reply *r);                    /* frees r */
};

#endif
