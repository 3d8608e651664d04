/*
 * Operations on the sockets of the whole cluster, shaped like socket.io's:
 *
 *     sb.to("room"):fetch_sockets(function(err, sockets) … end[, timeout_ms])
 *     sb.to("room"):sockets_join("other") / :sockets_leave("other")
 *     sb.to_user("42"):disconnect_sockets([close])
 *     sb.server_emit("event", …[, function(err, responses) … end])
 *
 * and the gateways' `server_events` handlers for server-side emits from other servers. With
 * the local bus they act on this server only; with Redis, on every server of the cluster,
 * including Node socket.io servers using @socket.io/redis-adapter.
 */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "../log/log.h"

#define DEFAULT_TIMEOUT_MS 5000

/* The strings of the array at `idx` (borrowed while it stays on the stack). */
static int strings(lua_State *L, int idx, const char **out)
{
    if (lua_isnoneornil(L, idx))
        return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    int n = (int)lua_objlen(L, idx);
    if (n > SB_MAX_EMIT_ROOMS)
        return luaL_error(L, "at most %d rooms", SB_MAX_EMIT_ROOMS);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        out[i - 1] = lua_tostring(L, -1);
        lua_pop(L, 1);
        if (!out[i - 1])
            return luaL_error(L, "a room must be a string");
    }
    return n;
}

struct query_args {
    struct bus_query q;
    const char *rooms[SB_MAX_EMIT_ROOMS];
    const char *except[SB_MAX_EMIT_ROOMS];
};

/* Reads (nsp, rooms, except) at stack positions 1..3. */
static void query_of(lua_State *L, struct lua_host *lh, struct query_args *a)
{
    a->q.nsp = luaL_optstring(L, 1, lh->current_nsp ? lh->current_nsp : "/");
    a->q.rooms = a->rooms;
    a->q.except = a->except;
    a->q.nrooms = (size_t)strings(L, 2, a->rooms);
    a->q.nexcept = (size_t)strings(L, 3, a->except);
}

/* A callback kept for a later answer, with the gateway whose code asked. */
struct lua_cb {
    struct lua_host *lh;
    struct gateway *gw;
    int fn;
};

static struct lua_cb *keep_fn(lua_State *L, int idx)
{
    struct lua_cb *cb = malloc(sizeof(*cb));
    if (!cb)
        return NULL;
    cb->lh = luah_from(L);
    cb->gw = cb->lh->current_gw;
    if (cb->gw)
        gateway_ref(cb->gw);
    lua_pushvalue(L, idx);
    cb->fn = luaL_ref(L, LUA_REGISTRYINDEX);
    return cb;
}

static void drop_fn(struct lua_cb *cb)
{
    luaL_unref(cb->lh->L, LUA_REGISTRYINDEX, cb->fn);
    if (cb->gw)
        gateway_unref(cb->lh, cb->gw);
    free(cb);
}

static const char *err_text(int err)
{
    return err == SB_ETIMEOUT ? "operation has timed out" : sb_strerror(err);
}

/* Calls the kept function with (err or nil, value) in a run of its own, and forgets it. */
static void call_back(struct lua_cb *cb, json_t *value, int err, const char *what)
{
    struct lua_run *r = luah_run_new(cb->lh, cb->gw, NULL, what);
    if (r) {
        lua_State *co = r->co;
        lua_rawgeti(co, LUA_REGISTRYINDEX, cb->fn);
        if (err)
            lua_pushstring(co, err_text(err));
        else
            lua_pushnil(co);
        if (value)
            json_push(co, value, false, NULL);
        else
            lua_pushnil(co);
        luah_run_go(r, 2, NULL, NULL);
    }
    drop_fn(cb);
}

/* A fetched socket as gateways see it: {id=, rooms=, user=, claims=, query=}. */
static json_t *simplify(json_t *sockets)
{
    json_t *out = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(sockets, i, s)
    {
        json_t *data = json_object_get(s, "data");
        json_t *o =
            json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?}", "id", json_object_get(s, "id"), "rooms",
                      json_object_get(s, "rooms"), "user", json_object_get(data, "user"), "claims",
                      json_object_get(data, "claims"), "query",
                      json_object_get(json_object_get(s, "handshake"), "query"));
        if (o)
            json_array_append_new(out, o);
    }
    return out;
}

static void fetch_cb(void *ud, json_t *sockets, int err)
{
    json_t *list = simplify(sockets);
    call_back(ud, list, err, "fetch_sockets callback");
    json_decref(list);
}

/* _fetch(nsp, rooms, except, callback, timeout_ms) */
static int l_fetch(lua_State *L)
{
    struct lua_host *lh = luah_from(L);
    struct query_args a;
    query_of(L, lh, &a);
    luaL_checktype(L, 4, LUA_TFUNCTION);
    lua_Number t = luaL_optnumber(L, 5, DEFAULT_TIMEOUT_MS);
    luaL_argcheck(L, t >= 1 && t <= 600000, 5, "timeout must be 1 ms to 10 minutes");
    a.q.timeout_ms = (uint32_t)t;
    struct lua_cb *cb = keep_fn(L, 4);
    if (!cb)
        return luaL_error(L, "fetch_sockets: out of memory");
    int rc = bus_fetch_sockets(lh->bus, &a.q, fetch_cb, cb);
    if (rc) {
        drop_fn(cb);
        return luaL_error(L, "fetch_sockets: %s",
                          rc == SB_EIO ? "the cluster bus is not connected" : sb_strerror(rc));
    }
    return 0;
}

/* _sockets_op(nsp, rooms, except, op, targets, close) */
static int l_sockets_op(lua_State *L)
{
    struct lua_host *lh = luah_from(L);
    struct query_args a;
    query_of(L, lh, &a);
    const char *op = luaL_checkstring(L, 4);
    const char *targets[SB_MAX_EMIT_ROOMS];
    int n = 0;
    if (lua_type(L, 5) == LUA_TSTRING) {
        targets[0] = lua_tostring(L, 5);
        n = 1;
    } else {
        n = strings(L, 5, targets);
    }
    enum bus_sockets_op o = strcmp(op, "join") == 0    ? BUS_SOCKETS_JOIN
                            : strcmp(op, "leave") == 0 ? BUS_SOCKETS_LEAVE
                                                       : BUS_SOCKETS_DISCONNECT;
    int rc = bus_sockets_op(lh->bus, &a.q, o, targets, (size_t)n, lua_toboolean(L, 6));
    if (rc)
        return luaL_error(L, "sockets %s: %s", op, sb_strerror(rc));
    return 0;
}

static void server_ack_cb(void *ud, json_t *responses, int err)
{
    call_back(ud, responses, err, "server_emit callback");
}

/* sb.server_emit(event, ...[, callback]) */
static int l_server_emit(lua_State *L)
{
    struct lua_host *lh = luah_from(L);
    const char *event = luaL_checkstring(L, 1);
    int top = lua_gettop(L);
    bool with_ack = top > 1 && lua_isfunction(L, top);
    char err[128];
    json_t *args = json_array_from_lua(L, 2, with_ack ? top - 1 : top, NULL, err, sizeof(err));
    if (!args)
        return luaL_error(L, "server_emit('%s'): %s", event, err);
    struct lua_cb *cb = with_ack ? keep_fn(L, top) : NULL;
    int rc = bus_server_emit(lh->bus, lh->current_nsp ? lh->current_nsp : "/", event, args,
                             DEFAULT_TIMEOUT_MS, cb ? server_ack_cb : NULL, cb);
    json_decref(args);
    if (rc) {
        if (cb)
            drop_fn(cb);
        return luaL_error(L, "server_emit('%s'): %s", event,
                          rc == SB_EIO ? "the cluster bus is not connected" : sb_strerror(rc));
    }
    return 0;
}

/* A server-side emit from another server: the `server_events` handler of a gateway of the
 * namespace answers it with its return value (after waiting, if it waits). */
static void server_event_done(struct lua_run *r, int status, int nres)
{
    struct bus_reply *reply = r->ud;
    if (status || nres == 0) {
        if (status)
            bus_reply_cancel(reply);
        else
            bus_reply(reply, NULL);
        return;
    }
    char err[128];
    json_t *value = json_from_lua(r->co, 1, NULL, err, sizeof(err));
    if (!value)
        LOG_ERROR("lua", "%s returned a value that cannot be sent: %s", r->what, err);
    bus_reply(reply, value);
    json_decref(value);
}

static void server_event(void *ud, const char *nsp, const char *event, json_t *args,
                         struct bus_reply *reply)
{
    struct lua_host *lh = ud;
    struct handler *h = luah_find_server_event(lh, nsp, event);
    if (!h) {
        LOG_DEBUG("lua", "server-side emit '%s' in %s: no server_events handler", event, nsp);
        bus_reply_cancel(reply);
        return;
    }
    char what[256];
    snprintf(what, sizeof(what), "gateway %s, server event '%s'", h->gw->name, h->event);
    struct lua_run *r = luah_run_new(lh, h->gw, NULL, what);
    if (!r) {
        bus_reply_cancel(reply);
        return;
    }
    size_t n = json_array_size(args);
    luaL_checkstack(r->co, (int)n + 2, "server event arguments");
    lua_rawgeti(r->co, LUA_REGISTRYINDEX, h->ref);
    for (size_t i = 0; i < n; i++)
        json_push(r->co, json_array_get(args, i), true, NULL);
    luah_run_go(r, (int)n, reply ? server_event_done : NULL, reply);
}

static const char prelude[] =
    "local sb, Op, fetch, sockets_op = ...\n"
    "local function all() return setmetatable({_rooms = {}, _except = {}}, Op) end\n"
    "function sb.fetch_sockets(callback, timeout_ms) return all():fetch_sockets(callback, "
    "timeout_ms) end\n"
    "function sb.sockets_join(rooms) return all():sockets_join(rooms) end\n"
    "function sb.sockets_leave(rooms) return all():sockets_leave(rooms) end\n"
    "function sb.disconnect_sockets(close) return all():disconnect_sockets(close) end\n"
    "function Op:fetch_sockets(callback, timeout_ms)\n"
    "  return fetch(self._nsp, self._rooms, self._except, callback, timeout_ms)\n"
    "end\n"
    "function Op:sockets_join(rooms)\n"
    "  return sockets_op(self._nsp, self._rooms, self._except, 'join', rooms)\n"
    "end\n"
    "function Op:sockets_leave(rooms)\n"
    "  return sockets_op(self._nsp, self._rooms, self._except, 'leave', rooms)\n"
    "end\n"
    "function Op:disconnect_sockets(close)\n"
    "  return sockets_op(self._nsp, self._rooms, self._except, 'disconnect', nil, close)\n"
    "end\n";

void api_cluster_open(lua_State *L)
{
    lua_pushcfunction(L, l_server_emit);
    lua_setfield(L, -2, "server_emit");
    if (luaL_loadbuffer(L, prelude, sizeof(prelude) - 1, "=sb.cluster"))
        lua_error(L);
    lua_pushvalue(L, -2);
    lua_getfield(L, LUA_REGISTRYINDEX, "sb.Op");
    lua_pushcfunction(L, l_fetch);
    lua_pushcfunction(L, l_sockets_op);
    lua_call(L, 4, 0);
}

void luah_cluster_bind(struct lua_host *lh)
{
    bus_set_server_event_handler(lh->bus, server_event, lh);
}
