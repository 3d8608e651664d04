/*
 * sb.log.{error,warn,info,debug}(...) write one log line tagged with the running gateway;
 * sb.exception(message) builds the error object a handler raises to send the client an
 * `exception` event (NestJS's WsException); sb.throw(message) raises it.
 */
#include "api.h"

#include <string.h>

#include "../log/log.h"
#include "../util/util.h"

#define EXCEPTION_MT "sb.exception"

static int log_at(lua_State *L, int level)
{
    if (!log_enabled(level))
        return 0;
    struct lua_host *lh = luah_from(L);
    struct sbuf b;
    sbuf_init(&b, 0);
    int n = lua_gettop(L);
    lua_getglobal(L, "tostring");
    for (int i = 1; i <= n; i++) {
        lua_pushvalue(L, -1);
        lua_pushvalue(L, i);
        lua_call(L, 1, 1);
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        if (i > 1)
            sbuf_append_char(&b, ' ');
        if (s)
            sbuf_append(&b, s, len);
        lua_pop(L, 1);
    }
    /* The gateway whose code runs, or the one whose file is loading (a print at the top of a
     * gateway file, or of a module it requires while it loads). */
    struct gateway *gw = lh->loading_gw ? lh->loading_gw : lh->current_gw;
    char area[80];
    snprintf(area, sizeof(area), "lua:%s", gw ? gw->name : "-");
    log_write(level, area, "%s", b.len ? sbuf_data(&b) : "");
    sbuf_free(&b);
    return 0;
}

static int l_error(lua_State *L)
{
    return log_at(L, SB_LOG_ERROR);
}
static int l_warn(lua_State *L)
{
    return log_at(L, SB_LOG_WARN);
}
static int l_info(lua_State *L)
{
    return log_at(L, SB_LOG_INFO);
}
static int l_debug(lua_State *L)
{
    return log_at(L, SB_LOG_DEBUG);
}

/* Pushes {message = <the value at idx>} with the exception metatable. */
static void push_exception(lua_State *L, int idx)
{
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, idx);
    lua_setfield(L, -2, "message");
    luaL_getmetatable(L, EXCEPTION_MT);
    lua_setmetatable(L, -2);
}

/* sb.exception(message): a table {message = message} with the exception metatable. */
static int l_exception(lua_State *L)
{
    luaL_checkany(L, 1);
    push_exception(L, 1);
    return 1;
}

static int l_throw(lua_State *L)
{
    l_exception(L);
    return lua_error(L);
}

int api_throw(lua_State *L, const char *message)
{
    lua_pushstring(L, message);
    push_exception(L, -1);
    return lua_error(L);
}

static int exception_tostring(lua_State *L)
{
    lua_getfield(L, 1, "message");
    if (lua_type(L, -1) == LUA_TSTRING)
        lua_pushfstring(L, "exception: %s", lua_tostring(L, -1));
    else
        lua_pushliteral(L, "exception: <object>");
    return 1;
}

bool api_is_exception(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
        return false;
    luaL_getmetatable(L, EXCEPTION_MT);
    bool eq = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return eq;
}

void api_log_open(lua_State *L)
{
    luaL_newmetatable(L, EXCEPTION_MT);
    lua_pushcfunction(L, exception_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    static const luaL_Reg log_fns[] = {
        {"error", l_error}, {"warn", l_warn}, {"info", l_info}, {"debug", l_debug}, {NULL, NULL}};
    lua_createtable(L, 0, 4);
    luaL_register(L, NULL, log_fns);
    lua_setfield(L, -2, "log");
    lua_pushcfunction(L, l_exception);
    lua_setfield(L, -2, "exception");
    lua_pushcfunction(L, l_throw);
    lua_setfield(L, -2, "throw");
    lua_pushcfunction(L, l_info);
    lua_setfield(L, -2, "print");
}
