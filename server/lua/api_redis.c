/*
 * Redis from gateway code, without blocking the loop:
 *
 *     local n = redis.call("INCR", "visits:" .. socket.user)   -- the handler waits here
 *     local v, err = redis.pcall("GET", key)                    -- errors as values
 *
 * The calling run is suspended until the reply (or the deadline, --lua-redis-timeout) and
 * resumed with it; meanwhile the loop serves everyone else. Replies become Lua values as in
 * Redis' own scripting, simplified: integer -> number, bulk string -> string, status ->
 * string ("OK"), nil -> nil (sb.null inside arrays), array -> table, error -> a Lua error
 * (redis.call) or nil plus the message (redis.pcall). Available with --redis.
 */
#include "api.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../log/log.h"

#define MAX_ARGS 1024

struct pending {
    struct lua_run *run;
    bool protected_call; /* redis.pcall */
};

/* Commands that would change the connection for everyone, or block it. */
static const char *const refused[] = {
    "subscribe", "psubscribe", "unsubscribe", "punsubscribe", "ssubscribe", "sunsubscribe",
    "monitor",   "quit",       "reset",       "select",       "auth",       "hello",
    "blpop",     "brpop",      "brpoplpush",  "blmove",       "blmpop",     "bzpopmin",
    "bzpopmax",  "bzmpop",     "wait",        "waitaof",      "client",     "sync",
    "psync",     "shutdown",   "multi",       "exec",         "discard",    "watch",
    "unwatch",   NULL,
};

static bool is_refused(lua_State *L, int argc)
{
    const char *cmd = lua_tostring(L, 1);
    for (const char *const *r = refused; *r; r++)
        if (strcasecmp(cmd, *r) == 0)
            return true;
    /* XREAD / XREADGROUP block only with BLOCK. */
    if (strcasecmp(cmd, "xread") == 0 || strcasecmp(cmd, "xreadgroup") == 0)
        for (int i = 2; i <= argc; i++)
            if (lua_type(L, i) == LUA_TSTRING && strcasecmp(lua_tostring(L, i), "block") == 0)
                return true;
    return false;
}

static void push_reply(lua_State *L, const struct bus_value *r, bool top)
{
    switch (r->type) {
    case BUS_VALUE_INTEGER:
        lua_pushnumber(L, (lua_Number)r->integer);
        return;
    case BUS_VALUE_STRING:
    case BUS_VALUE_STATUS:
        lua_pushlstring(L, r->str, r->len);
        return;
    case BUS_VALUE_ARRAY:
        luaL_checkstack(L, 4, "redis reply");
        lua_createtable(L, (int)r->nelements, 0);
        for (size_t i = 0; i < r->nelements; i++) {
            push_reply(L, &r->elements[i], false);
            lua_rawseti(L, -2, (int)i + 1);
        }
        return;
    case BUS_VALUE_NIL:
    case BUS_VALUE_ERROR: /* inside an array (a top-level error is a failure: reply_cb) */
    default:
        if (top)
            lua_pushnil(L);
        else
            lua_pushlightuserdata(L, NULL);
        return;
    }
}

static void reply_cb(void *ud, const struct bus_value *rep, int err)
{
    struct pending *p = ud;
    struct lua_run *r = p->run;
    lua_State *co = r->co;
    free(p);
    /* The outcome goes to the suspended l_call as values: ok flag, value or message. */
    if (err) {
        lua_pushboolean(co, 0);
        lua_pushstring(co, err == SB_ETIMEOUT ? "redis command timed out"
                           : err == SB_ENOMEM ? "out of memory reading the redis reply"
                                              : "redis connection lost");
    } else if (rep->type == BUS_VALUE_ERROR) {
        lua_pushboolean(co, 0);
        lua_pushlstring(co, rep->str, rep->len);
    } else {
        lua_pushboolean(co, 1);
        push_reply(co, rep, true);
    }
    luah_run_resume(r, 2);
}

/* Resumes here after the reply: (ok, value-or-message) are on the stack. */
static int finish(lua_State *L, bool protected_call)
{
    int top = lua_gettop(L);
    bool ok = lua_toboolean(L, top - 1);
    if (ok)
        return 1;
    if (protected_call) {
        lua_pushnil(L);
        lua_pushvalue(L, top);
        return 2;
    }
    return luaL_error(L, "%s", lua_tostring(L, top));
}

/* A mistake in the call: redis.call raises it, redis.pcall returns nil and the message. */
static int misuse(lua_State *L, bool protected_call, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    if (!protected_call)
        return lua_error(L);
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

static int call(lua_State *L, bool protected_call)
{
    struct lua_host *lh = luah_from(L);
    int argc = lua_gettop(L);
    if (argc < 1 || lua_type(L, 1) != LUA_TSTRING)
        return misuse(L, protected_call, "redis.call: the first argument is the command name");
    if (argc > MAX_ARGS)
        return misuse(L, protected_call, "redis.call: at most %d arguments", MAX_ARGS);
    if (is_refused(L, argc))
        return misuse(L, protected_call,
                      "redis.call: '%s' is not allowed from gateways (it would block or change "
                      "the shared connection)",
                      lua_tostring(L, 1));
    struct lua_run *run = luah_run_current(lh);
    if (!run || run->co != L)
        return misuse(L, protected_call,
                      "redis.call can only be used inside a handler, a hook or a timer");
    const char *argv[MAX_ARGS];
    size_t argl[MAX_ARGS];
    for (int i = 1; i <= argc; i++) {
        int t = lua_type(L, i);
        if (t != LUA_TSTRING && t != LUA_TNUMBER)
            return misuse(L, protected_call, "redis.call: argument %d must be a string or a number",
                          i);
        argv[i - 1] = lua_tolstring(L, i, &argl[i - 1]);
    }
    struct pending *p = malloc(sizeof(*p));
    if (!p)
        return luaL_error(L, "redis.call: out of memory");
    p->run = run;
    p->protected_call = protected_call;
    int rc = bus_command(lh->bus, argc, argv, argl, lh->limits.redis_timeout_ms, reply_cb, p);
    if (rc) {
        free(p);
        const char *why = rc == SB_EUNSUPPORTED ? "redis is not configured (start with --redis)"
                                                : "redis is not connected";
        if (protected_call) {
            lua_pushnil(L);
            lua_pushstring(L, why);
            return 2;
        }
        return luaL_error(L, "redis.call: %s", why);
    }
    return luah_run_wait(L);
}

/* The suspended call resumes inside these wrappers (Lua 5.1 has no continuations: the C
 * function that yielded does not run again, so the finishing step is a small Lua wrapper). */
static int l_call_raw(lua_State *L)
{
    return call(L, false);
}

static int l_pcall_raw(lua_State *L)
{
    return call(L, true);
}

static int l_finish(lua_State *L)
{
    return finish(L, false);
}

static int l_pfinish(lua_State *L)
{
    return finish(L, true);
}

static const char prelude[] = "local raw_call, raw_pcall, finish, pfinish = ...\n"
                              "local redis = {}\n"
                              "function redis.call(...) return finish(raw_call(...)) end\n"
                              "function redis.pcall(...)\n"
                              "  local a, b = raw_pcall(...)\n"
                              "  if a == nil and type(b) == 'string' then return nil, b end\n"
                              "  return pfinish(a, b)\n"
                              "end\n"
                              "return redis\n";

void api_redis_open(lua_State *L)
{
    if (luaL_loadbuffer(L, prelude, sizeof(prelude) - 1, "=sb.redis"))
        lua_error(L);
    lua_pushcfunction(L, l_call_raw);
    lua_pushcfunction(L, l_pcall_raw);
    lua_pushcfunction(L, l_finish);
    lua_pushcfunction(L, l_pfinish);
    lua_call(L, 4, 1);
    lua_setfield(L, -2, "redis");
}
