/*
 * libFuzzer target: server/lua/pattern.c against LuaJIT's own string functions. An input is
 *
 *     <op><init><sep><pattern><sep><subject>[<sep><replacement>]
 *
 * op: f find, p find plain, m match, g gmatch (the iterator run to the end), s gsub with the
 * replacement string, t gsub with a table, c gsub with a function, n gsub with the
 * replacement string and at most 2 substitutions. init: '0'-'9' for 0..9, 'a'-'j' for -1..-10,
 * anything else for none. sep: any byte, which then separates the fields (so a corpus file
 * reads like "f_|%b()|x(y)z").
 *
 * pattern.c runs first, its time check raising after CHECKS_MAX checks (about 800,000 steps).
 * Stopped there, the input is one LuaJIT might spend seconds on, and it is not run there;
 * otherwise LuaJIT's function, doing the same work, runs on the same arguments, and the two
 * must give the same results or the same error. Any difference aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <lualib.h>

#include "../../server/lua/pattern.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECKS_MAX 200
#define FIELD_MAX  512 /* longer subjects and patterns are cut */

static long checks;

static void check_time(lua_State *L)
{
    if (++checks > CHECKS_MAX)
        luaL_error(L, "pattern exceeded time limit");
}

static void check_cstack(lua_State *L)
{
    (void)L;
}

static const struct pattern_limits limits = {check_time, check_cstack};

/* compare(op, init, pattern, subject, replacement): nil when both agree or pattern.c was
 * stopped, else what differs. */
static const char driver[] =
    "local ORIG, MINE = ...\n"
    "local SEP = {}\n"
    "local TABLE = { a = 'A', b = false, ab = 7, ['('] = {}, ['1'] = '%1' }\n"
    "local function repl_fn(...) return table.concat({ ... }, ',') end\n"
    "local function pack(...) return { n = select('#', ...), ... } end\n"
    "local function drain(it)\n"
    "  local out = { n = 0 }\n"
    "  for _ = 1, 1000 do\n"
    "    local r = pack(it())\n"
    "    for i = 1, r.n do out.n = out.n + 1; out[out.n] = r[i] end\n"
    "    out.n = out.n + 1; out[out.n] = SEP\n"
    "    if r[1] == nil then break end\n"
    "  end\n"
    "  return unpack(out, 1, out.n)\n"
    "end\n"
    "local function call(S, op, init, p, s, r)\n"
    "  if op == 'f' then return S.find(s, p, init)\n"
    "  elseif op == 'p' then return S.find(s, p, init, true)\n"
    "  elseif op == 'm' then return S.match(s, p, init)\n"
    "  elseif op == 'g' then return drain(S.gmatch(s, p))\n"
    "  elseif op == 's' then return S.gsub(s, p, r)\n"
    "  elseif op == 't' then return S.gsub(s, p, TABLE)\n"
    "  elseif op == 'c' then return S.gsub(s, p, repl_fn)\n"
    "  else return S.gsub(s, p, r, 2) end\n"
    "end\n"
    "local function show(p)\n"
    "  local t = {}\n"
    "  for i = 1, p.n do\n"
    "    local v = p[i]\n"
    "    t[i] = v == SEP and '|' or type(v) == 'string' and string.format('%q', v)\n"
    "           or tostring(v)\n"
    "  end\n"
    "  return table.concat(t, ', ')\n"
    "end\n"
    "return function(op, init, p, s, r)\n"
    "  local b = pack(pcall(call, MINE, op, init, p, s, r))\n"
    "  if not b[1] and tostring(b[2]):find('pattern exceeded time limit', 1, true) then\n"
    "    return nil\n"
    "  end\n"
    "  local a = pack(pcall(call, ORIG, op, init, p, s, r))\n"
    "  local same = a.n == b.n\n"
    "  for i = 1, a.n do\n"
    "    if a[i] ~= b[i] and not (a[i] ~= a[i] and b[i] ~= b[i]) then same = false end\n"
    "  end\n"
    "  if same then return nil end\n"
    "  return 'luajit:  ' .. show(a) .. '\\npattern: ' .. show(b)\n"
    "end\n";

static lua_State *L;
static int compare_ref;

static void close_state(void)
{
    lua_close(L);
}

static void open_state(void)
{
    L = luaL_newstate();
    if (!L)
        abort();
    luaL_openlibs(L);
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF); /* as the server runs */
    if (luaL_loadbuffer(L, driver, sizeof(driver) - 1, "=fuzz_pattern")) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        abort();
    }
    lua_getglobal(L, "string");
    lua_newtable(L); /* MINE: a copy of string with pattern.c's functions */
    lua_getglobal(L, "string");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_settable(L, -5);
    }
    lua_pop(L, 1);
    luah_pattern_open(L, &limits);
    if (lua_pcall(L, 2, 1, 0)) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        abort();
    }
    compare_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    atexit(close_state);
}

/* The next field: up to the next `sep` or the end. */
static const char *field(const char **at, const char *end, char sep, size_t *len)
{
    const char *from = *at;
    const char *to = memchr(from, sep, (size_t)(end - from));
    if (!to)
        to = end;
    *len = (size_t)(to - from) > FIELD_MAX ? FIELD_MAX : (size_t)(to - from);
    *at = to < end ? to + 1 : end;
    return from;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    if (!L)
        open_state();
    const char *at = (const char *)data + 3, *end = (const char *)data + size;
    char op = (char)data[0], init = (char)data[1], sep = (char)data[2];
    if (!strchr("fpmgstcn", op) || op == '\0')
        return 0;
    size_t plen, slen, rlen;
    const char *p = field(&at, end, sep, &plen);
    const char *s = field(&at, end, sep, &slen);
    const char *r = field(&at, end, sep, &rlen);

    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, compare_ref);
    lua_pushlstring(L, &op, 1);
    if (init >= '0' && init <= '9')
        lua_pushinteger(L, init - '0');
    else if (init >= 'a' && init <= 'j')
        lua_pushinteger(L, -(init - 'a' + 1));
    else
        lua_pushnil(L);
    lua_pushlstring(L, p, plen);
    lua_pushlstring(L, s, slen);
    lua_pushlstring(L, r, rlen);
    checks = 0;
    if (lua_pcall(L, 5, 1, 0)) {
        fprintf(stderr, "fuzz_pattern driver: %s\n", lua_tostring(L, -1));
        abort();
    }
    if (!lua_isnil(L, -1)) {
        fprintf(stderr,
                "pattern.c differs from LuaJIT: op %c, pattern \"%.*s\", subject \"%.*s\"\n%s\n",
                op, (int)plen, p, (int)slen, s, lua_tostring(L, -1));
        abort();
    }
    lua_settop(L, top);
    /* A full collection now and then keeps the heap of a long run small. */
    static unsigned runs;
    if (++runs % 1000 == 0)
        lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
