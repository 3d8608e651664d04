/*
 * The pipeline of one event: before-interceptors (C plugins, by priority) -> the gateway's Lua
 * handler -> after-interceptors on each reply -> replies and the ack to the client. It is the
 * same for both wire protocols; the network layer decodes, the pipeline decides.
 */
#ifndef SB_PIPELINE_H
#define SB_PIPELINE_H

#include <jansson.h>

#include "../lua/lua.h"

struct pipeline {
    struct lua_host *lua;    /* borrowed */
    struct plugins *plugins; /* borrowed */
    struct bus *bus;         /* borrowed */
};

/* How the client wants the handler's plain return value. */
#define PIPELINE_NO_ACK  (-1) /* Socket.IO event without an ack id: the value is dropped */
#define PIPELINE_RAW_ACK (-2) /* plain JSON: the value is sent as a raw JSON text frame */

/*
 * Runs one incoming event of socket `s`. `args` is the JSON array of its arguments (borrowed),
 * whose placeholders stand for `bins` (borrowed; NULL = no attachments).
 * `ack_id` is the Socket.IO ack id, PIPELINE_NO_ACK or PIPELINE_RAW_ACK. Every outcome reaches
 * the client: replies, the ack, or an `exception` event (no handler, refused, handler error),
 * now or, when the handler waits (Redis), later; replies to a socket that left are dropped.
 */
void pipeline_event(struct pipeline *p, struct sock *s, const char *event, const json_t *args,
                    struct sio_bins *bins, int64_t ack_id);

/* A socket joined its namespace: tells the plugins and runs the gateways' on_connect hooks (a
 * hook that raises refuses the socket: exception, then a server disconnect). */
void pipeline_connect(struct pipeline *p, struct sock *s);

/* A socket's identity changed (a refreshed token, ABI 1.5): what gateways read of it
 * (socket.claims) is read afresh. */
void pipeline_identity(struct pipeline *p, struct sock *s);

/* A socket left: runs the on_disconnect hooks with socket.io's reason string. */
void pipeline_disconnect(struct pipeline *p, struct sock *s, const char *reason);

#endif
