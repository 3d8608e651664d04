/*
 * The socket object handlers receive. A full userdata that points at the C socket while it is
 * connected; its environment table keeps what outlives the connection (id, the data table,
 * cached claims, auth and query), so a handler that kept the object around sees a closed socket,
 * never freed memory.
 */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "../log/log.h"
#include "../proto/proto.h"
#include "../registry/registry.h"

#define SOCKET_MT  "sb.socket"
#define TIMEOUT_MT "sb.socket_timeout"

struct lsock {
    struct sock *s; /* NULL once the socket disconnected */
};

static struct lsock *check(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, SOCKET_MT);
}

/* The connected socket at `idx`, or NULL. */
static struct sock *live(lua_State *L, int idx)
{
    struct lsock *ls = check(L, idx);
    return ls->s && ls->s->connected ? ls->s : NULL;
}

/* The socket's proxy object lives in the registry; sock.host_slot holds its reference. conn's
 * 0 ("none") is never a reference: luaL_ref() keeps its free list in slot 0 and returns at
 * least 1 for a non-nil value. */
static int slot_ref(const struct sock *s)
{
    return s->host_slot;
}

void api_socket_push(struct lua_host *lh, lua_State *L, struct sock *s)
{
    if (!s) {
        lua_pushnil(L);
        return;
    }
    if (s->host_slot) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, slot_ref(s));
        return;
    }
    struct lsock *ls = lua_newuserdata(L, sizeof(*ls));
    ls->s = s;
    luaL_getmetatable(L, SOCKET_MT);
    lua_setmetatable(L, -2);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, s->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, s->nsp_name);
    lua_setfield(L, -2, "namespace");
    if (s->user) {
        lua_pushstring(L, s->user);
        lua_setfield(L, -2, "user");
    }
    lua_pushstring(L, s->conn && s->conn->proto == CONN_JSON ? "json" : "socket.io");
    lua_setfield(L, -2, "protocol");
    lua_setfenv(L, -2);
    lua_pushvalue(L, -1);
    s->host_slot = luaL_ref(L, LUA_REGISTRYINDEX);
}

void api_socket_forget(struct lua_host *lh, struct sock *s)
{
    if (!s->host_slot)
        return;
    lua_State *L = lh->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, slot_ref(s));
    struct lsock *ls = lua_touserdata(L, -1);
    if (ls)
        ls->s = NULL;
    lua_pop(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, slot_ref(s));
    s->host_slot = 0;
}

void api_socket_identity(struct lua_host *lh, struct sock *s)
{
    if (!s->host_slot)
        return;
    lua_State *L = lh->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, slot_ref(s));
    lua_getfenv(L, -1);
    lua_pushnil(L);
    lua_setfield(L, -2, "claims");
    lua_pop(L, 2);
}

/* Pushes env[key], creating it with `make` when absent and the socket is live. */
static void cached(lua_State *L, const char *key, struct sock *s,
                   void (*make)(lua_State *L, struct sock *s))
{
    lua_getfenv(L, 1);
    lua_getfield(L, -1, key);
    if (lua_isnil(L, -1) && make) {
        lua_pop(L, 1);
        make(L, s);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, key);
    }
    lua_remove(L, -2);
}

static void make_claims(lua_State *L, struct sock *s)
{
    if (s && s->claims)
        json_push(L, s->claims, false, NULL);
    else
        lua_newtable(L);
}

/* The CONNECT's auth object without its token; {} when there was none (a plain WebSocket has
 * no CONNECT), as socket.query is {} for an empty query. */
static void make_auth(lua_State *L, struct sock *s)
{
    if (s && s->auth)
        json_push(L, s->auth, false, NULL);
    else
        lua_newtable(L);
}

/* A table of packed pairs (struct conn's query and headers). */
static void push_pairs(lua_State *L, const char *packed)
{
    lua_newtable(L);
    for (const char *k = packed; k && *k;) {
        const char *v = k + strlen(k) + 1;
        lua_pushstring(L, v);
        lua_setfield(L, -2, k);
        k = v + strlen(v) + 1;
    }
}

static void make_query(lua_State *L, struct sock *s)
{
    push_pairs(L, s && s->conn ? s->conn->query : NULL);
}

static void make_headers(lua_State *L, struct sock *s)
{
    push_pairs(L, s && s->conn ? s->conn->headers : NULL);
}

static void make_data(lua_State *L, struct sock *s)
{
    lua_newtable(L);
}

static int s_index(lua_State *L)
{
    struct lsock *ls = check(L, 1);
    const char *key = luaL_checkstring(L, 2);
    if (strcmp(key, "connected") == 0) {
        lua_pushboolean(L, ls->s && ls->s->connected);
        return 1;
    }
    if (strcmp(key, "transport") == 0) {
        /* Read each time: a polling session's transport becomes "websocket" at its upgrade. */
        const struct conn *c = ls->s ? ls->s->conn : NULL;
        if (c)
            lua_pushstring(L, c->kind == CONN_POLLING ? "polling" : "websocket");
        else
            lua_pushnil(L); /* the socket is gone */
        return 1;
    }
    if (strcmp(key, "claims") == 0) {
        cached(L, "claims", ls->s, make_claims);
        return 1;
    }
    if (strcmp(key, "query") == 0) {
        cached(L, "query", ls->s, make_query);
        return 1;
    }
    if (strcmp(key, "auth") == 0) {
        cached(L, "auth", ls->s, make_auth);
        return 1;
    }
    if (strcmp(key, "data") == 0) {
        cached(L, "data", ls->s, make_data);
        return 1;
    }
    if (strcmp(key, "headers") == 0) {
        cached(L, "headers", ls->s, make_headers);
        return 1;
    }
    if (strcmp(key, "id") == 0 || strcmp(key, "namespace") == 0 || strcmp(key, "user") == 0 ||
        strcmp(key, "protocol") == 0) {
        cached(L, key, ls->s, NULL);
        return 1;
    }
    /* Methods. */
    luaL_getmetatable(L, SOCKET_MT);
    lua_getfield(L, -1, "methods");
    lua_getfield(L, -1, key);
    return 1;
}

static int s_newindex(lua_State *L)
{
    return luaL_error(L, "socket fields are read-only; keep your own values in socket.data");
}

static int s_tostring(lua_State *L)
{
    cached(L, "id", NULL, NULL);
    lua_pushfstring(L, "socket %s", lua_tostring(L, -1));
    return 1;
}

/* ---- acks the server asks of the client ---- */

struct lua_ack {
    struct lua_host *lh;
    struct gateway *gw; /* whose code asked: its namespace is the callback's */
    struct sock *s;
    uint64_t id;
    int fn;            /* the Lua callback */
    uv_timer_t *timer; /* NULL without a timeout */
};

static void timer_closed_cb(uv_handle_t *h)
{
    free(h);
}

static void ack_cb(void *ud, json_t *args, struct sio_bins *bins, int err)
{
    struct lua_ack *a = ud;
    struct lua_host *lh = a->lh;
    if (a->timer) {
        uv_timer_stop(a->timer);
        uv_close((uv_handle_t *)a->timer, timer_closed_cb);
    }
    struct lua_run *r = luah_run_new(lh, a->gw, err ? NULL : a->s, "ack callback");
    if (r) {
        lua_State *co = r->co;
        size_t n = err ? 0 : json_array_size(args);
        luaL_checkstack(co, (int)n + 3, "ack arguments");
        lua_rawgeti(co, LUA_REGISTRYINDEX, a->fn);
        if (err)
            lua_pushstring(co,
                           err == SB_ETIMEOUT ? "operation has timed out" : "socket disconnected");
        else
            lua_pushnil(co);
        for (size_t i = 0; i < n; i++)
            json_push(co, json_array_get(args, i), true, bins);
        luah_run_go(r, 1 + (int)n, NULL, NULL);
    }
    luaL_unref(lh->L, LUA_REGISTRYINDEX, a->fn);
    if (a->gw)
        gateway_unref(lh, a->gw);
    free(a);
}

static void ack_timeout_cb(uv_timer_t *t)
{
    struct lua_ack *a = t->data;
    sock_ack_fail(a->s, a->id, SB_ETIMEOUT);
}

/* socket:emit(event, ...[, callback]) with an optional timeout in ms. */
static int emit_impl(lua_State *L, int self, int first, uint64_t timeout_ms)
{
    struct sock *s = live(L, self);
    size_t elen;
    const char *event = luaL_checklstring(L, first, &elen);
    if (elen == 0 || sio_event_reserved(event, elen))
        return luaL_error(L, "socket:emit: '%s' is not a valid event name (empty or reserved)",
                          event);
    int top = lua_gettop(L);
    bool with_ack = top > first && lua_isfunction(L, top);
    int last = with_ack ? top - 1 : top;
    if (!s) {
        lua_pushboolean(L, 0);
        return 1;
    }
    char err[128];
    struct sio_bins *bins;
    json_t *args = json_array_from_lua(L, first + 1, last, &bins, err, sizeof(err));
    if (!args)
        return luaL_error(L, "socket:emit('%s'): %s", event, err);
    int64_t ack_id = -1;
    if (with_ack) {
        struct lua_ack *a = calloc(1, sizeof(*a));
        uint64_t id;
        if (!a || sock_ack_add(s, ack_cb, a, &id)) {
            free(a);
            json_decref(args);
            sio_bins_unref(bins);
            return luaL_error(L, "socket:emit: out of memory");
        }
        a->lh = luah_from(L);
        a->gw = a->lh->current_gw;
        if (a->gw)
            gateway_ref(a->gw);
        a->s = s;
        a->id = id;
        lua_pushvalue(L, top);
        a->fn = luaL_ref(L, LUA_REGISTRYINDEX);
        if (timeout_ms) {
            a->timer = malloc(sizeof(*a->timer));
            if (a->timer) {
                uv_timer_init(a->lh->loop, a->timer);
                a->timer->data = a;
                uv_timer_start(a->timer, ack_timeout_cb, timeout_ms, 0);
            }
        }
        ack_id = (int64_t)id;
    }
    int rc = sock_emit(s, event, args, bins, ack_id);
    json_decref(args);
    sio_bins_unref(bins);
    lua_pushboolean(L, rc == 0);
    return 1;
}

static int m_emit(lua_State *L)
{
    return emit_impl(L, 1, 2, 0);
}

static int m_timeout(lua_State *L)
{
    check(L, 1);
    lua_Number ms = luaL_checknumber(L, 2);
    luaL_argcheck(L, ms >= 1 && ms <= 86400000, 2, "timeout must be 1 ms to 24 h");
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "socket");
    lua_pushnumber(L, ms);
    lua_setfield(L, -2, "ms");
    luaL_getmetatable(L, TIMEOUT_MT);
    lua_setmetatable(L, -2);
    return 1;
}

/* (socket:timeout(ms)):emit(event, ..., callback) */
static int t_emit(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "ms");
    uint64_t ms = (uint64_t)lua_tonumber(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 1, "socket");
    lua_replace(L, 1);
    return emit_impl(L, 1, 2, ms);
}

/* Pushes room `i` of socket:join/leave's argument 2: the string itself (many false, i 0) or
 * item i + 1 of the table. Returns NULL (nothing pushed) past the end. */
static const char *push_room(lua_State *L, bool many, int i)
{
    if (!many) {
        if (i > 0)
            return NULL;
        lua_pushvalue(L, 2);
    } else {
        lua_rawgeti(L, 2, i + 1);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            return NULL;
        }
    }
    return luaL_checkstring(L, -1);
}

/*
 * ABI 1.4: a join asks the before_join hooks of the interceptors of the gateway whose code runs
 * (any gateway of the namespace when none is known), every room before any is joined, so that
 * a refusal joins none. A refusal raises the exception with the plugin's message.
 */
static int guard_joins(lua_State *L, struct lua_host *lh, struct sock *s, bool many)
{
    struct gateway *gw = lh->current_gw;
    char why[PLUGINS_WHY_MAX];
    const char *room;
    for (int i = 0; (room = push_room(L, many, i)); i++) {
        int rc =
            gw ? plugins_guard_join(lh->plugins, gw->interceptors, gw->ninterceptors, s, room, why)
               : plugins_guard_join_nsp(lh->plugins, s, room, why);
        if (rc == SB_EAUTH)
            return api_throw(L, why);
        if (rc == SB_ECLOSED)
            return luaL_error(L, "socket is disconnected");
        if (rc)
            return luaL_error(L, "join '%s': %s", room, sb_strerror(rc));
        lua_pop(L, 1);
    }
    return 0;
}

static int join_or_leave(lua_State *L, bool join)
{
    struct sock *s = live(L, 1);
    struct lua_host *lh = luah_from(L);
    if (!s)
        return luaL_error(L, "socket is disconnected");
    bool many = lua_istable(L, 2);
    if (!many)
        luaL_checkstring(L, 2);
    if (join && lh->plugins && lh->plugins->any_before_join)
        guard_joins(L, lh, s, many);
    const char *room;
    for (int i = 0; (room = push_room(L, many, i)); i++) {
        int rc = join ? registry_join(lh->reg, s, room) : registry_leave(lh->reg, s, room);
        if (rc)
            return luaL_error(L, "%s '%s': %s", join ? "join" : "leave", room, sb_strerror(rc));
        lua_pop(L, 1);
    }
    return 0;
}

static int m_join(lua_State *L)
{
    return join_or_leave(L, true);
}

static int m_leave(lua_State *L)
{
    return join_or_leave(L, false);
}

static int m_rooms(lua_State *L)
{
    struct sock *s = live(L, 1);
    lua_newtable(L);
    if (!s)
        return 1;
    int i = 1;
    lua_pushstring(L, s->id);
    lua_rawseti(L, -2, i++);
    for (struct member *m = s->rooms; m; m = m->sock_next) {
        lua_pushstring(L, m->room->name);
        lua_rawseti(L, -2, i++);
    }
    return 1;
}

static int m_in_room(lua_State *L)
{
    struct sock *s = live(L, 1);
    const char *room = luaL_checkstring(L, 2);
    lua_pushboolean(L, s && registry_in_room(s, room));
    return 1;
}

static int m_disconnect(lua_State *L)
{
    struct sock *s = live(L, 1);
    if (s)
        sock_disconnect(s, "server namespace disconnect");
    return 0;
}

/* socket:to(room) / socket:broadcast(): a broadcast operator that skips this socket. */
static int m_to(lua_State *L)
{
    check(L, 1);
    lua_getglobal(L, "sb");
    lua_getfield(L, -1, "of");
    cached(L, "namespace", NULL, NULL);
    lua_call(L, 1, 1);
    if (!lua_isnoneornil(L, 2)) {
        lua_getfield(L, -1, "to");
        lua_pushvalue(L, -2);
        lua_pushvalue(L, 2);
        lua_call(L, 2, 1);
        lua_replace(L, -2);
    }
    lua_getfield(L, -1, "except");
    lua_pushvalue(L, -2);
    cached(L, "id", NULL, NULL);
    lua_call(L, 2, 1);
    return 1;
}

void api_socket_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"emit", m_emit},   {"timeout", m_timeout}, {"join", m_join},
        {"leave", m_leave}, {"rooms", m_rooms},     {"in_room", m_in_room},
        {"to", m_to},       {"broadcast", m_to},    {"disconnect", m_disconnect},
        {NULL, NULL},
    };
    luaL_newmetatable(L, SOCKET_MT);
    lua_pushcfunction(L, s_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, s_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, s_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_createtable(L, 0, 10);
    luaL_register(L, NULL, methods);
    lua_setfield(L, -2, "methods");
    lua_pop(L, 1);

    luaL_newmetatable(L, TIMEOUT_MT);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, t_emit);
    lua_setfield(L, -2, "emit");
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}
