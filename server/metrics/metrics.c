#include "metrics.h"

#include <inttypes.h>

struct metrics metrics;

static const char *const proto_names[MP__COUNT] = {"socketio", "json"};
static const char *const transport_names[MT__COUNT] = {"websocket", "polling"};
static const char *const refusal_names[MR__COUNT] = {
#define XX(e, s) s,
    METRIC_REFUSALS(XX)
#undef XX
};
static const char *const close_names[MC__COUNT] = {
#define XX(e, s) s,
    METRIC_CLOSES(XX)
#undef XX
};

static void head(struct sbuf *out, const char *name, const char *type, const char *help)
{
    sbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void scalar(struct sbuf *out, const char *name, const char *type, const char *help,
                   uint64_t v)
{
    head(out, name, type, help);
    sbuf_printf(out, "%s %" PRIu64 "\n", name, v);
}

static void labelled(struct sbuf *out, const char *name, const char *type, const char *help,
                     const char *label, const char *const *values, const uint64_t *v, int n)
{
    head(out, name, type, help);
    for (int i = 0; i < n; i++)
        sbuf_printf(out, "%s{%s=\"%s\"} %" PRIu64 "\n", name, label, values[i], v[i]);
}

static void (*extra_fn)(struct sbuf *out, void *ud);
static void *extra_ud;

void metrics_set_extra(void (*fn)(struct sbuf *out, void *ud), void *ud)
{
    extra_fn = fn;
    extra_ud = ud;
}

int metrics_render(struct sbuf *out)
{
    const struct metrics *m = &metrics;
    labelled(out, "switchboard_connections", "gauge", "Open client connections.", "protocol",
             proto_names, m->connections, MP__COUNT);
    labelled(out, "switchboard_connections_total", "counter", "Accepted client connections.",
             "protocol", proto_names, m->connections_total, MP__COUNT);
    labelled(out, "switchboard_connections_by_transport", "gauge",
             "Open client connections by transport (a polling session that upgrades moves).",
             "transport", transport_names, m->transports, MT__COUNT);
    scalar(out, "switchboard_sockets", "gauge", "Connected namespace sockets.", m->sockets);
    labelled(out, "switchboard_messages_in_total", "counter", "Messages received from clients.",
             "protocol", proto_names, m->messages_in, MP__COUNT);
    labelled(out, "switchboard_messages_out_total", "counter", "Messages written to clients.",
             "protocol", proto_names, m->messages_out, MP__COUNT);
    labelled(out, "switchboard_writes_total", "counter",
             "Writes of queued messages to client sockets (several messages can share one).",
             "protocol", proto_names, m->writes, MP__COUNT);
    labelled(out, "switchboard_bytes_in_total", "counter", "Payload bytes received.", "protocol",
             proto_names, m->bytes_in, MP__COUNT);
    labelled(out, "switchboard_bytes_out_total", "counter", "Payload bytes written.", "protocol",
             proto_names, m->bytes_out, MP__COUNT);
    labelled(out, "switchboard_invalid_packets_total", "counter",
             "Frames that could not be decoded.", "protocol", proto_names, m->invalid_packets,
             MP__COUNT);
    labelled(out, "switchboard_refusals_total", "counter",
             "Handshakes and namespace connections refused.", "reason", refusal_names, m->refusals,
             MR__COUNT);
    labelled(out, "switchboard_closes_total", "counter", "Connections closed, by reason.", "reason",
             close_names, m->closes, MC__COUNT);
    scalar(out, "switchboard_exceptions_total", "counter", "exception events sent to clients.",
           m->exceptions);
    scalar(out, "switchboard_lua_errors_total", "counter", "Errors raised by gateway code.",
           m->lua_errors);
    scalar(out, "switchboard_lua_timeouts_total", "counter",
           "Gateway code stopped by the handler time limit.", m->lua_timeouts);
    scalar(out, "switchboard_lua_stack_overflows_total", "counter",
           "Gateway code stopped for nesting calls through C functions too deep.",
           m->lua_stack_overflows);
    scalar(out, "switchboard_lua_memory_refused_total", "counter",
           "Lua allocations refused at the memory cap (--lua-memory-limit).", m->lua_mem_refused);
    scalar(out, "switchboard_lua_full_collections_total", "counter",
           "Full collections of the Lua heap after an allocation was refused.", m->lua_full_gcs);
    scalar(out, "switchboard_queue_drops_total", "counter",
           "Frames dropped because a socket's outbound queue was full.", m->queue_drops);
    scalar(out, "switchboard_bus_published_total", "counter", "Broadcasts handed to the bus.",
           m->bus_published);
    scalar(out, "switchboard_bus_received_total", "counter",
           "Broadcasts received from other instances.", m->bus_received);
    scalar(out, "switchboard_bus_dropped_total", "counter",
           "Broadcasts that could not be sent to other instances.", m->bus_dropped);
    scalar(out, "switchboard_bus_resent_total", "counter",
           "Broadcasts written to Redis but unconfirmed when the connection dropped, sent again.",
           m->bus_resent);
    scalar(out, "switchboard_http_requests_total", "counter", "Plain HTTP requests served.",
           m->http_requests);
    scalar(out, "switchboard_http_bad_requests_total", "counter",
           "HTTP requests refused with 400 for an ambiguous body framing.", m->http_bad_requests);
    scalar(out, "switchboard_api_emits_total", "counter", "POST /api/emit requests accepted.",
           m->api_emits);
    scalar(out, "switchboard_upgrades_total", "counter", "Polling sessions upgraded to WebSocket.",
           m->upgrades);
    scalar(out, "switchboard_api_errors_total", "counter", "POST /api/emit requests refused.",
           m->api_errors);
    if (extra_fn)
        extra_fn(out, extra_ud);
    return out->failed ? SB_ENOMEM : 0;
}
