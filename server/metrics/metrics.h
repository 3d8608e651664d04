/*
 * Counters and gauges for /metrics (Prometheus text format 0.0.4). Everything runs on the loop
 * thread, so a metric is a plain integer. Labelled metrics are small fixed arrays indexed by an
 * enum: the label values are known at compile time.
 */
#ifndef SB_METRICS_H
#define SB_METRICS_H

#include <stdint.h>

#include "../util/util.h"

/* Protocols, the label of per-protocol metrics. */
enum metric_proto { MP_SOCKETIO = 0, MP_JSON = 1, MP__COUNT };

/* Transports, the label of per-transport metrics (the values of conn.h's enum conn_kind). */
enum metric_transport { MT_WEBSOCKET = 0, MT_POLLING = 1, MT__COUNT };

/* Why a handshake or a namespace connection was refused. */
#define METRIC_REFUSALS(XX)                                                                        \
    XX(UNAUTHORIZED, "unauthorized")                                                               \
    XX(INVALID_NAMESPACE, "invalid_namespace")                                                     \
    XX(CONNECTION_LIMIT, "connection_limit")                                                       \
    XX(BAD_HANDSHAKE, "bad_handshake")                                                             \
    XX(CONNECT_HOOK, "connect_hook")                                                               \
    XX(SHUTTING_DOWN, "shutting_down")                                                             \
    XX(ORIGIN, "origin")

/* Why a connection was closed. */
#define METRIC_CLOSES(XX)                                                                          \
    XX(CLIENT, "client")                                                                           \
    XX(TRANSPORT, "transport")                                                                     \
    XX(PING_TIMEOUT, "ping_timeout")                                                               \
    XX(CONNECT_TIMEOUT, "connect_timeout")                                                         \
    XX(INVALID_PACKET, "invalid_packet")                                                           \
    XX(TOO_BIG, "message_too_big")                                                                 \
    XX(SLOW_CONSUMER, "slow_consumer")                                                             \
    XX(SERVER_DISCONNECT, "server_disconnect")                                                     \
    XX(SHUTDOWN, "shutdown")

enum metric_refusal {
#define XX(e, s) MR_##e,
    METRIC_REFUSALS(XX)
#undef XX
        MR__COUNT
};

enum metric_close {
#define XX(e, s) MC_##e,
    METRIC_CLOSES(XX)
#undef XX
        MC__COUNT
};

struct metrics {
    uint64_t connections[MP__COUNT];       /* gauge */
    uint64_t connections_total[MP__COUNT]; /* counter */
    uint64_t transports[MT__COUNT];        /* gauge: open connections by transport */
    uint64_t sockets;                      /* gauge: namespace sockets */
    uint64_t messages_in[MP__COUNT];
    uint64_t messages_out[MP__COUNT];
    uint64_t bytes_in[MP__COUNT];
    uint64_t bytes_out[MP__COUNT];
    uint64_t writes[MP__COUNT]; /* sends of queued frames: messages_out / writes = frames a send */
    uint64_t invalid_packets[MP__COUNT];
    uint64_t refusals[MR__COUNT];
    uint64_t closes[MC__COUNT];
    uint64_t exceptions;          /* `exception` events sent to clients */
    uint64_t lua_errors;          /* errors raised by gateway code */
    uint64_t lua_timeouts;        /* runs stopped by the time budget */
    uint64_t lua_stack_overflows; /* gateway code stopped for nesting C calls too deep */
    uint64_t lua_mem_refused;     /* Lua allocations refused at the memory cap */
    uint64_t lua_full_gcs;        /* full collections after a refused allocation */
    uint64_t queue_drops;         /* frames dropped because a socket's outbound queue was full */
    uint64_t bus_published;       /* broadcasts handed to the bus */
    uint64_t bus_received;        /* broadcasts received from other instances */
    uint64_t bus_dropped;         /* broadcasts the bus could not deliver to other instances */
    uint64_t bus_resent;          /* broadcasts published again: unconfirmed when Redis dropped */
    uint64_t http_requests;
    uint64_t http_bad_requests; /* refused with 400 for an ambiguous framing (smuggling shapes) */
    uint64_t api_emits;         /* POST /api/emit requests accepted */
    uint64_t upgrades;          /* polling sessions upgraded to WebSocket */
    uint64_t api_errors; /* POST /api/emit requests refused (400, 401, 405, 411, 413, 415, 500) */
};

extern struct metrics metrics;

/* Adds lines to /metrics from another subsystem (the gateways' reload status). */
void metrics_set_extra(void (*fn)(struct sbuf *out, void *ud), void *ud);

/* Appends the Prometheus exposition of every metric. */
int metrics_render(struct sbuf *out);

#endif
