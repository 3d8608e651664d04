/*
 * The sandbox: what gateway code sees as its globals, and how gateways are kept from breaking
 * each other or the server through it.
 *
 *  - Every gateway file (and every lib module) runs in an environment of its own, filled with
 *    its own copies of the library tables (string, table, math, coroutine, bit, os, sb,
 *    redis): a gateway that replaces `table.sort` or `sb.emit` changes its own copy only. The
 *    functions in them are shared, and have no state a gateway could change.
 *  - What stays one per Lua state is locked: the string metatable (`("x"):upper()` always
 *    finds the standard string functions, whatever a gateway does to its `string` table) and
 *    the metatables of the objects the API hands out (`getmetatable` answers "locked").
 *  - The standard functions that call back into Lua from C (coroutine.resume and wrap,
 *    table.sort, table.foreach/foreachi, tostring) check the depth of the C stack first, so
 *    that a recursion through them ends with "stack overflow" instead of SIGSEGV (run.c).
 *  - string.find, match, gmatch and gsub are pattern.c's: LuaJIT's behaviour, but they check
 *    the time budget as they match (a pattern that backtracks for seconds is stopped like a
 *    loop), and gsub checks the C stack before it calls back into Lua. They replace the
 *    standard ones in the one string table, so `s:find(p)` (through the string metatable)
 *    gets them too, trusted or not.
 *
 * With --lua-trusted gateways see the real globals (io, os, debug, load, …) through their
 * environment, and none of this isolation holds: trusted code can change anything.
 */
#include "api.h"
#include "pattern.h"

/* Globals a gateway sees. Left out on purpose: io, os.exit/execute/getenv/remove, load,
 * loadstring, loadfile, dofile, debug, package, jit, ffi, getfenv/setfenv, collectgarbage. */
static const char *const safe_globals[] = {
    "assert",    "error",        "ipairs",       "next",     "pairs",  "pcall",    "select",
    "tonumber",  "tostring",     "type",         "unpack",   "xpcall", "rawequal", "rawget",
    "rawset",    "setmetatable", "getmetatable", "_VERSION", "string", "table",    "math",
    "coroutine", "bit",          "redis",        NULL,
};

/* The registry keys of the pristine sandbox: gateway code never sees these tables, only
 * copies of them. */
#define SANDBOX_KEY "sb.sandbox"

/* ---- standard functions that call back into Lua, behind a depth check ---- */

/*
 * At most this many guarded calls nest (Lua 5.1's LUAI_MAXCCALLS). The C stack check alone
 * would stop `__tostring = tostring` only after ~20,000 levels, and unwinding those held the
 * loop for over a second.
 */
#define GUARD_MAX_DEPTH 200

/* The wrapped function is upvalue 1, the host upvalue 2; every argument and result passes
 * through. The call is protected so that the depth is counted down whatever happens, then an
 * error goes on up as it came. */
static int guarded_call(lua_State *L)
{
    struct lua_host *lh = lua_touserdata(L, lua_upvalueindex(2));
    if (lh->guard_depth >= GUARD_MAX_DEPTH) {
        metrics.lua_stack_overflows++;
        return luaL_error(L, "stack overflow (calls through C functions nested too deep: "
                             "coroutines, callbacks or metamethods)");
    }
    luah_check_cstack(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lh->guard_depth++;
    int rc = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    lh->guard_depth--;
    if (rc)
        return lua_error(L);
    return lua_gettop(L);
}

/* Pushes a guarded version of the function on the top of the stack (replacing it). */
static void push_guarded(struct lua_host *lh, lua_State *L)
{
    lua_pushlightuserdata(L, lh);
    lua_pushcclosure(L, guarded_call, 2);
}

/* Replaces field `name` of the table on the top of the stack by a guarded version. */
static void guard_field(struct lua_host *lh, lua_State *L, const char *name)
{
    lua_getfield(L, -1, name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    push_guarded(lh, L);
    lua_setfield(L, -2, name);
}

/* coroutine.wrap(f): the function it returns resumes a coroutine, so it is guarded too. */
static int guarded_wrap(lua_State *L)
{
    struct lua_host *lh = lua_touserdata(L, lua_upvalueindex(2));
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    push_guarded(lh, L);
    return 1;
}

static void guard_std(struct lua_host *lh, lua_State *L)
{
    lua_getglobal(L, "coroutine");
    guard_field(lh, L, "resume");
    lua_getfield(L, -1, "wrap");
    lua_pushlightuserdata(L, lh);
    lua_pushcclosure(L, guarded_wrap, 2);
    lua_setfield(L, -2, "wrap");
    lua_pop(L, 1);
    lua_getglobal(L, "table");
    guard_field(lh, L, "sort");
    guard_field(lh, L, "foreach");
    guard_field(lh, L, "foreachi");
    lua_pop(L, 1);
    /* tostring calls __tostring, and `__tostring = tostring` loops inside LuaJIT's VM without
     * executing an instruction (no hook ever fires): through the guard it nests C calls, and
     * the depth bound ends it. */
    lua_getglobal(L, "tostring");
    push_guarded(lh, L);
    lua_setglobal(L, "tostring");
}

/* Locks the metatable of the value on the top of the stack (popped). */
static void lock_metatable_of(lua_State *L)
{
    if (lua_getmetatable(L, -1)) {
        lua_pushliteral(L, "locked");
        lua_setfield(L, -2, "__metatable");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* The pattern functions stop with the run's time limit (or the loading file's deadline). */
static const struct pattern_limits pattern_limits = {
    .check_time = luah_check_budget,
    .check_cstack = luah_check_cstack,
};

void luah_sandbox_open(struct lua_host *lh, lua_State *L)
{
    guard_std(lh, L);
    /* The string table is also the string metatable's __index. */
    lua_getglobal(L, "string");
    luah_pattern_open(L, &pattern_limits);
    lua_pop(L, 1);
    lua_pushliteral(L, "");
    lock_metatable_of(L);
    if (lh->limits.trusted) {
        /* Trusted gateways see the real globals (io, os, debug, load, …); bytecode stays
         * refused by the loader. */
        lua_pushvalue(L, LUA_GLOBALSINDEX);
        lua_setfield(L, LUA_REGISTRYINDEX, SANDBOX_KEY);
        return;
    }
    lua_newtable(L); /* the sandbox */
    for (const char *const *g = safe_globals; *g; g++) {
        lua_getglobal(L, *g);
        lua_setfield(L, -2, *g);
    }
    /* os: the clock only. */
    lua_createtable(L, 0, 4);
    static const char *const os_ok[] = {"time", "clock", "date", "difftime", NULL};
    lua_getglobal(L, "os");
    for (const char *const *f = os_ok; *f; f++) {
        lua_getfield(L, -1, *f);
        lua_setfield(L, -3, *f);
    }
    lua_pop(L, 1);
    lua_setfield(L, -2, "os");
    lua_getglobal(L, "sb");
    lua_getfield(L, -1, "print");
    lua_setfield(L, -3, "print");
    lua_setfield(L, -2, "sb");
    lua_getglobal(L, "require");
    lua_setfield(L, -2, "require");
    lua_setfield(L, LUA_REGISTRYINDEX, SANDBOX_KEY);
}

/* Pushes a copy of the table at `idx`: its plain sub-tables (no metatable) are copied too, to
 * `depth` levels (sb.log, sb.json); every other value is shared. */
static void push_copy(lua_State *L, int idx, int depth)
{
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    lua_createtable(L, 0, (int)lua_objlen(L, idx) + 8);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (depth > 0 && lua_type(L, -1) == LUA_TTABLE && !lua_getmetatable(L, -1)) {
            push_copy(L, -1, depth - 1);
            lua_replace(L, -2);
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
}

void luah_push_sb_copy(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, SANDBOX_KEY);
    lua_getfield(L, -1, "sb");
    push_copy(L, -1, 1);
    lua_replace(L, -3);
    lua_pop(L, 1);
}

void luah_push_env(struct lua_host *lh, lua_State *L)
{
    lua_newtable(L);
    lua_getfield(L, LUA_REGISTRYINDEX, SANDBOX_KEY);
    if (lh->limits.trusted) {
        lua_createtable(L, 0, 1);
        lua_insert(L, -2);
        lua_setfield(L, -2, "__index");
        lua_setmetatable(L, -2);
        return;
    }
    int env = lua_gettop(L) - 1, sandbox = env + 1;
    lua_pushnil(L);
    while (lua_next(L, sandbox)) {
        if (lua_type(L, -1) == LUA_TTABLE) {
            /* sb's sub-tables (log, json, redis) are copied with it. */
            push_copy(L, -1, 1);
            lua_replace(L, -2);
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, env);
    }
    lua_pop(L, 1);
    /* `redis` and `sb.redis` stay one table, as in the sandbox. */
    lua_getfield(L, env, "sb");
    lua_getfield(L, -1, "redis");
    lua_setfield(L, env, "redis");
    lua_pop(L, 1);
}
