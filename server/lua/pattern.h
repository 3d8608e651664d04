/*
 * Lua 5.1 patterns (string.find, match, gmatch, gsub) with LuaJIT 2.1's exact behaviour, but
 * interruptible: the matcher calls a check every few thousand steps, so that a pathological
 * pattern ends with an error instead of holding the loop. Pure code on top of the Lua API (no
 * host, no globals), so it is unit-tested against LuaJIT's own functions and fuzzed directly.
 */
#ifndef SB_LUA_PATTERN_H
#define SB_LUA_PATTERN_H

#include <lua.h>

/* The matcher calls pattern_limits.check_time after about this many steps. A step is one
 * attempt of a pattern item at one position, one character a repetition or %b scans, or a few
 * bytes compared: a few nanoseconds each, so the check runs every 10-50 µs of matching. */
#define PATTERN_CHECK_STEPS 4096

/* What the pattern functions call to stay within the limits of the code calling them. Either
 * may be NULL; either may raise a Lua error (and then does not return). */
struct pattern_limits {
    /* Every PATTERN_CHECK_STEPS steps of a find, match, gmatch iteration or gsub. */
    void (*check_time)(lua_State *L);
    /* At the start of a gsub whose replacement is a function or a table (its __index may be
     * one): that gsub calls back into Lua, which may call gsub again, each level deeper in the
     * C stack. */
    void (*check_cstack)(lua_State *L);
};

/* Sets the fields find, match, gmatch and gsub of the table on the top of the stack (left
 * there) to the interruptible versions. `limits` is borrowed: it must outlive every function
 * set (a static). */
void luah_pattern_open(lua_State *L, const struct pattern_limits *limits);

#endif
