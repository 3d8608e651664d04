/*
 * Broadcasts from Lua, shaped like socket.io's operators:
 *
 *     sb.emit("news", data)                                   -- everyone in the namespace
 *     sb.to("room:1"):to("room:2"):except(socket.id):emit("msg", data)
 *     sb.to_user("42"):except(socket.id):emit("events", 1)    -- the seed's send-to-user
 *     sb.to_authenticated():emit("notice", text)
 *     sb.of("/admin"):emit("x")
 *
 * The operators are plain Lua (built by the prelude below); the one primitive, written in C,
 * hands the message to the bus, so a broadcast from a gateway reaches every instance.
 */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "../registry/registry.h"

/* The length of the list of rooms at `idx` (nil: none); raises on anything but a table. */
static int list_len(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx))
        return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    return (int)lua_objlen(L, idx);
}

/* Points `out` at the strings of the list at `idx`. The pointers stay valid while the table is
 * on the stack: only real strings are taken (the operators tostring() every room), because a
 * number converted here would be a new string that nothing keeps. Returns 0, or -1 if an item
 * is not a string. */
static int strings(lua_State *L, int idx, const char **out, int n)
{
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        out[i - 1] = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        lua_pop(L, 1);
        if (!out[i - 1])
            return -1;
    }
    return 0;
}

/* Rooms and excepts of a broadcast without a heap allocation in the usual case. */
#define SMALL_TARGETS 16

/* _broadcast(nsp, rooms, except, event, ...) -> number of local sockets reached */
static int l_broadcast(lua_State *L)
{
    struct lua_host *lh = luah_from(L);
    int top = lua_gettop(L);
    const char *nsp = luaL_optstring(L, 1, lh->current_nsp ? lh->current_nsp : "/");
    const char *event = luaL_checkstring(L, 4);
    int nrooms = list_len(L, 2);
    int nexcept = list_len(L, 3);
    if (nrooms > SB_MAX_EMIT_ROOMS || nexcept > SB_MAX_EMIT_ROOMS)
        return luaL_error(L, "emit: rooms must be at most %d strings", SB_MAX_EMIT_ROOMS);
    /* Larger lists live in a userdata: the collector frees it even if an error unwinds. */
    const char *small[SMALL_TARGETS];
    const char **rooms = small;
    if (nrooms + nexcept > SMALL_TARGETS)
        rooms = lua_newuserdata(L, (size_t)(nrooms + nexcept) * sizeof(*rooms));
    const char **except = rooms + nrooms;
    if (strings(L, 2, rooms, nrooms) < 0 || strings(L, 3, except, nexcept) < 0)
        return luaL_error(L, "emit: a room must be a string");
    char err[128];
    struct sio_bins *bins;
    json_t *args = json_array_from_lua(L, 5, top, &bins, err, sizeof(err));
    if (!args)
        return luaL_error(L, "emit('%s'): %s", event, err);
    struct bus_msg m = {
        .nsp = nsp,
        .rooms = rooms,
        .nrooms = (size_t)nrooms,
        .except = except,
        .nexcept = (size_t)nexcept,
        .event = event,
        .args = args,
        .bins = bins,
    };
    int rc = bus_emit(lh->bus, &m);
    json_decref(args);
    sio_bins_unref(bins);
    if (rc == SB_EINVAL)
        return luaL_error(L, "emit: '%s' is not a valid event name (empty or reserved)", event);
    if (rc < 0)
        return luaL_error(L, "emit('%s'): %s", event, sb_strerror(rc));
    lua_pushinteger(L, rc);
    return 1;
}

static struct nsp *nsp_arg(lua_State *L, int idx)
{
    struct lua_host *lh = luah_from(L);
    const char *name = luaL_optstring(L, idx, lh->current_nsp ? lh->current_nsp : "/");
    return registry_nsp(lh->reg, name, false);
}

/* sb.room_size(room[, nsp]): local members of a room. */
static int l_room_size(lua_State *L)
{
    const char *room = luaL_checkstring(L, 1);
    struct nsp *nsp = nsp_arg(L, 2);
    lua_pushinteger(L, nsp ? (lua_Integer)registry_room_size(nsp, room) : 0);
    return 1;
}

static void push_sock_info(lua_State *L, const struct sock *s)
{
    lua_createtable(L, 0, 2);
    lua_pushstring(L, s->id);
    lua_setfield(L, -2, "id");
    if (s->user) {
        lua_pushstring(L, s->user);
        lua_setfield(L, -2, "user");
    }
}

/* sb.sockets(room[, nsp]): the local sockets of a room as {id=, user=} tables. */
static int l_sockets(lua_State *L)
{
    const char *room = luaL_checkstring(L, 1);
    struct nsp *nsp = nsp_arg(L, 2);
    lua_newtable(L);
    if (!nsp)
        return 1;
    struct room *r = registry_room_find(nsp, room);
    int i = 1;
    if (r) {
        for (struct member *m = r->head; m; m = m->next) {
            push_sock_info(L, m->sock);
            lua_rawseti(L, -2, i++);
        }
    } else {
        struct sock *s = registry_sock_find(nsp, room);
        if (s) {
            push_sock_info(L, s);
            lua_rawseti(L, -2, i);
        }
    }
    return 1;
}

static const char prelude[] =
    "local sb, broadcast = ...\n"
    "local Op = {}\n"
    "Op.__index = Op\n"
    "Op.__metatable = 'locked' -- one table for every gateway: no gateway may change it\n"
    "local function new(nsp, rooms, except)\n"
    "  return setmetatable({_nsp = nsp, _rooms = rooms or {}, _except = except or {}}, Op)\n"
    "end\n"
    "local function add(list, v, what)\n"
    "  local out = {}\n"
    "  for i = 1, #list do out[i] = list[i] end\n"
    "  local items = type(v) == 'table' and v or {v}\n"
    "  for i = 1, #items do\n"
    "    local x = items[i]\n"
    "    if type(x) ~= 'string' and type(x) ~= 'number' then\n"
    "      error(what .. ': a room must be a string, got ' .. type(x), 3)\n"
    "    end\n"
    "    out[#out + 1] = tostring(x)\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "function Op:to(room) return new(self._nsp, add(self._rooms, room, 'to'), self._except) end\n"
    "Op['in'] = Op.to\n"
    "function Op:to_user(id) return self:to('user:' .. tostring(id)) end\n"
    "function Op:to_authenticated() return self:to('authenticated') end\n"
    "function Op:except(room)\n"
    "  return new(self._nsp, self._rooms, add(self._except, room, 'except'))\n"
    "end\n"
    "function Op:emit(event, ...)\n"
    "  return broadcast(self._nsp, self._rooms, self._except, event, ...)\n"
    "end\n"
    "function sb.of(nsp)\n"
    "  if type(nsp) ~= 'string' or nsp:sub(1, 1) ~= '/' then\n"
    "    error(\"sb.of: a namespace is a string starting with '/'\", 2)\n"
    "  end\n"
    "  return new(nsp)\n"
    "end\n"
    "function sb.to(room) return new(nil):to(room) end\n"
    "sb['in'] = sb.to\n"
    "function sb.to_user(id) return new(nil):to_user(id) end\n"
    "function sb.to_authenticated() return new(nil):to_authenticated() end\n"
    "function sb.except(room) return new(nil):except(room) end\n"
    "function sb.emit(event, ...) return new(nil):emit(event, ...) end\n"
    "return Op\n";

void api_emit_open(lua_State *L)
{
    lua_pushcfunction(L, l_room_size);
    lua_setfield(L, -2, "room_size");
    lua_pushcfunction(L, l_sockets);
    lua_setfield(L, -2, "sockets");
    if (luaL_loadbuffer(L, prelude, sizeof(prelude) - 1, "=sb.prelude"))
        lua_error(L);
    lua_pushvalue(L, -2);
    lua_pushcfunction(L, l_broadcast);
    lua_call(L, 2, 1);
    /* The operator class, for the cluster operations (api_cluster.c) to extend. */
    lua_setfield(L, LUA_REGISTRYINDEX, "sb.Op");
}
