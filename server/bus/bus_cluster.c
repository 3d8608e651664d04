/*
 * Operations on the sockets of the whole cluster (socket.io's fetchSockets, socketsJoin,
 * socketsLeave, disconnectSockets, serverSideEmit): this server's part, and the hand-off to the
 * engine for the others. With the local engine, the local answer is the whole answer.
 */
#include "bus.h"

#include <stdlib.h>
#include <string.h>

#include "../log/log.h"
#include "../proto/proto.h"

static struct nsp *query_nsp(struct bus *b, const struct bus_query *q)
{
    return registry_nsp(b->reg, q->nsp ? q->nsp : "/", false);
}

/* A socket as socket.io's RemoteSocket sees it. */
static json_t *socket_json(struct sock *s)
{
    json_t *rooms = json_array();
    json_array_append_new(rooms, json_string(s->id));
    for (struct member *m = s->rooms; m; m = m->sock_next)
        json_array_append_new(rooms, json_string(m->room->name));
    json_t *query = pairs_to_json(s->conn ? s->conn->query : NULL);
    json_t *headers = pairs_to_json(s->conn ? s->conn->headers : NULL);
    /* The auth object without its token, as gateways see it (socket.auth). */
    json_t *auth = s->auth ? json_incref(s->auth) : json_object();
    return json_pack("{s:s, s:{s:o, s:s, s:s, s:b, s:b, s:i, s:s, s:o, s:o}, s:o, s:{s:s?, s:O?}}",
                     "id", s->id, "handshake", "headers", headers, "time", "", "address", "",
                     "xdomain", 0, "secure", 0, "issued", 0, "url", "", "query", query, "auth",
                     auth, "rooms", rooms, "data", "user", s->user, "claims", s->claims);
}

static void collect_json(struct sock *s, void *ud)
{
    json_t *j = socket_json(s);
    if (j)
        json_array_append_new(ud, j);
}

json_t *bus_local_sockets(struct bus *b, const struct bus_query *q)
{
    json_t *out = json_array();
    struct nsp *nsp = query_nsp(b, q);
    if (out && nsp)
        registry_each(b->reg, nsp, q->rooms, q->nrooms, q->except, q->nexcept, collect_json, out);
    return out;
}

struct sock_list {
    struct sock **v;
    size_t n, cap;
};

static void collect_ptr(struct sock *s, void *ud)
{
    struct sock_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct sock **v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
}

void bus_local_sockets_op(struct bus *b, const struct bus_query *q, enum bus_sockets_op op,
                          const char *const *rooms, size_t nrooms, bool close)
{
    struct nsp *nsp = query_nsp(b, q);
    if (!nsp)
        return;
    /* Collect first: joining, leaving and disconnecting change the lists being walked. */
    struct sock_list l = {0};
    registry_each(b->reg, nsp, q->rooms, q->nrooms, q->except, q->nexcept, collect_ptr, &l);
    for (size_t i = 0; i < l.n; i++) {
        struct sock *s = l.v[i];
        for (size_t r = 0; r < nrooms && op != BUS_SOCKETS_DISCONNECT; r++) {
            int rc = op == BUS_SOCKETS_JOIN ? registry_join(b->reg, s, rooms[r])
                                            : registry_leave(b->reg, s, rooms[r]);
            if (rc)
                LOG_WARN("bus", "socket %s: %s '%s': %s", s->id,
                         op == BUS_SOCKETS_JOIN ? "join" : "leave", rooms[r], sb_strerror(rc));
        }
        if (op == BUS_SOCKETS_DISCONNECT) {
            struct conn *c = s->conn;
            sock_disconnect(s, "server namespace disconnect");
            if (close && c)
                conn_close(c, MC_SERVER_DISCONNECT, CLOSE_NORMAL, "server disconnect", true);
        }
    }
    free(l.v);
}

int bus_fetch_sockets(struct bus *b, const struct bus_query *q, bus_fetch_cb cb, void *ud)
{
    if (b->engine->fetch_sockets)
        return b->engine->fetch_sockets(b, q, cb, ud);
    json_t *sockets = bus_local_sockets(b, q);
    if (!sockets)
        return SB_ENOMEM;
    cb(ud, sockets, 0);
    json_decref(sockets);
    return 0;
}

/* A fire-and-forget message the engine could not carry (its outage backlog is full) is
 * dropped and counted, like a broadcast: the caller goes on. */
static int dropped(int rc)
{
    if (rc == SB_EFULL) {
        metrics.bus_dropped++;
        return 0;
    }
    return rc;
}

int bus_sockets_op(struct bus *b, const struct bus_query *q, enum bus_sockets_op op,
                   const char *const *rooms, size_t nrooms, bool close)
{
    bus_local_sockets_op(b, q, op, rooms, nrooms, close);
    if (b->engine->remote_rooms)
        return dropped(b->engine->remote_rooms(b, q, op, rooms, nrooms, close));
    return 0;
}

int bus_server_emit(struct bus *b, const char *nsp, const char *event, const json_t *args,
                    uint32_t timeout_ms, bus_ack_cb cb, void *ud)
{
    if (!event || !*event)
        return SB_EINVAL;
    if (b->engine->server_emit) {
        int rc = b->engine->server_emit(b, nsp ? nsp : "/", event, args, timeout_ms, cb, ud);
        return cb ? rc : dropped(rc);
    }
    /* No other server: nobody to hear it, and no answers to wait for. */
    if (cb) {
        json_t *none = json_array();
        cb(ud, none, 0);
        json_decref(none);
    }
    return 0;
}

int bus_command(struct bus *b, int argc, const char **argv, const size_t *argvlen,
                uint32_t timeout_ms, bus_command_cb cb, void *ud)
{
    if (!b->engine->command)
        return SB_EUNSUPPORTED;
    return b->engine->command(b, argc, argv, argvlen, timeout_ms, cb, ud);
}

void bus_reply(struct bus_reply *reply, const json_t *value)
{
    if (reply)
        reply->send(reply, value);
}

void bus_reply_cancel(struct bus_reply *reply)
{
    if (reply)
        reply->cancel(reply);
}

void bus_set_server_event_handler(struct bus *b, bus_server_event_fn fn, void *ud)
{
    b->server_event = fn;
    b->server_event_ud = ud;
}

void bus_namespace_add(struct bus *b, const char *nsp)
{
    if (b->engine->namespace_add)
        b->engine->namespace_add(b, nsp);
}
