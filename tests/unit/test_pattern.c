/*
 * server/lua/pattern.c against LuaJIT: the case groups of test_pattern.lua call LuaJIT's
 * string.find, match, gmatch and gsub and pattern.c's on the same arguments and must see the
 * same results and the same errors. Then what LuaJIT's do not have: the time check that
 * stops a pattern that backtracks for seconds, and the C stack check of gsub's callbacks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <lualib.h>

#include "../../server/lua/pattern.h"

/* The checks pattern.c calls: counted; check_time raises once `time_left` reaches 0 (never
 * while it is negative). */
static long time_checks, cstack_checks, time_left = -1;

static void check_time(lua_State *L)
{
    time_checks++;
    if (time_left > 0)
        time_left--;
    if (time_left == 0)
        luaL_error(L, "pattern exceeded time limit");
}

static void check_cstack(lua_State *L)
{
    (void)L;
    cstack_checks++;
}

static const struct pattern_limits limits = {check_time, check_cstack};

/* A state with ORIG (LuaJIT's string table) and MINE (a copy with pattern.c's functions), the
 * case groups loaded as GROUPS. */
static lua_State *new_state(void)
{
    lua_State *L = luaL_newstate();
    assert_non_null(L);
    luaL_openlibs(L);
    /* As the server runs gateway code: interpreted only (LuaJIT's compiled find converts
     * its init differently). */
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    lua_getglobal(L, "string");
    lua_setglobal(L, "ORIG");
    lua_newtable(L);
    lua_getglobal(L, "string");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_settable(L, -5);
    }
    lua_pop(L, 1);
    luah_pattern_open(L, &limits);
    lua_setglobal(L, "MINE");
    time_checks = cstack_checks = 0;
    time_left = -1;
    return L;
}

static void run_lua(lua_State *L, const char *code)
{
    if (luaL_loadstring(L, code) || lua_pcall(L, 0, 0, 0))
        fail_msg("%s", lua_tostring(L, -1));
}

/* Runs group `name` of test_pattern.lua and fails with its mismatches. */
static void run_group(const char *name)
{
    lua_State *L = new_state();
    char path[1024];
    const char *dir = getenv("SB_SOURCE_DIR");
    snprintf(path, sizeof(path), "%s/tests/unit/test_pattern.lua", dir ? dir : "..");
    if (luaL_loadfile(L, path))
        fail_msg("%s", lua_tostring(L, -1));
    lua_getglobal(L, "ORIG");
    lua_getglobal(L, "MINE");
    if (lua_pcall(L, 2, 1, 0))
        fail_msg("%s", lua_tostring(L, -1));
    lua_getfield(L, -1, name);
    if (lua_pcall(L, 0, 2, 0))
        fail_msg("group %s: %s", name, lua_tostring(L, -1));
    long calls = (long)lua_tointeger(L, -2);
    const char *bad = lua_tostring(L, -1);
    print_message("%s: %ld calls compared, %ld time checks\n", name, calls, time_checks);
    assert_true(calls > 0);
    if (bad && *bad)
        fail_msg("group %s: pattern.c differs from LuaJIT:\n%s", name, bad);
    lua_close(L);
}

static void test_fixed(void **state)
{
    run_group("fixed");
}

static void test_inits(void **state)
{
    run_group("inits");
}

static void test_gsub(void **state)
{
    run_group("gsub");
}

static void test_arguments(void **state)
{
    run_group("arguments");
}

static void test_bounds(void **state)
{
    run_group("bounds");
}

static void test_random(void **state)
{
    run_group("random");
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs `code` (which sets the global r) with MINE as `string`, the time check raising at its
 * `raise_at`th call (0: never); returns the error, or NULL when it ran to the end. */
static const char *run_checked(lua_State *L, const char *code, long raise_at)
{
    time_checks = 0;
    time_left = raise_at ? raise_at : -1;
    lua_settop(L, 0);
    if (luaL_loadstring(L, code))
        fail_msg("%s", lua_tostring(L, -1));
    int rc = lua_pcall(L, 0, 0, 0);
    time_left = -1;
    return rc ? lua_tostring(L, -1) : NULL;
}

/* The pattern of the report: ~1.2 s in LuaJIT, stopped at the first check that says so. */
static void test_time_check_stops_backtracking(void **state)
{
    lua_State *L = new_state();
    double t0 = now();
    const char *err = run_checked(L, "r = MINE.find(string.rep('a', 260), '.-.-.-b')", 3);
    double took = now() - t0;
    assert_non_null(err);
    assert_non_null(strstr(err, "pattern exceeded time limit"));
    assert_int_equal(time_checks, 3);
    print_message("stopped after 3 checks, in %.3f ms\n", took * 1000);
    assert_true(took < 0.1);

    /* And each function, and each kind of work, is counted: a repetition's scan, %b's scan, a
     * back reference, a plain find's comparisons, gsub and gmatch. */
    static const char *const heavy[] = {
        "r = MINE.match(string.rep('a', 3000), '.-.-b')",
        "r = MINE.find(string.rep('(', 30000), '%b()')",
        "r = MINE.find(string.rep('a', 20000), '(.*)%1b')",
        "r = MINE.find(string.rep('a', 200000), string.rep('a', 50000) .. 'b', 1, true)",
        "r = MINE.find(string.rep('a', 200000), string.rep('a', 50000) .. 'b')",
        "r = MINE.gsub(string.rep('a', 3000), '.-.-b', '')",
        "for m in MINE.gmatch(string.rep('a', 3000), '.-.-b') do end",
        "r = MINE.find(string.rep('a', 100000), 'a*a*b')",
    };
    for (size_t i = 0; i < sizeof(heavy) / sizeof(*heavy); i++) {
        err = run_checked(L, heavy[i], 2);
        if (!err || !strstr(err, "pattern exceeded time limit"))
            fail_msg("not stopped: %s (%s)", heavy[i], err ? err : "ran to the end");
    }
    /* The error is an ordinary one: pcall catches it, and the next call starts afresh. */
    assert_null(run_checked(L,
                            "local ok, e = pcall(MINE.find, ('a'):rep(260), '.-.-.-b') "
                            "assert(not ok and e:find('time limit')) "
                            "assert(MINE.find('ab', 'b') == 2)",
                            3));
    lua_close(L);
}

/* Checks cost a call every PATTERN_CHECK_STEPS steps, and none for short matches. */
static void test_time_check_frequency(void **state)
{
    lua_State *L = new_state();
    assert_null(
        run_checked(L, "for i = 1, 1000 do MINE.find('hello world', '(%w+) (%w+)') end", 0));
    assert_int_equal(time_checks, 0);
    assert_null(run_checked(L, "r = MINE.find(string.rep('a', 120), '.-.-.-b')", 0));
    long steps = time_checks * PATTERN_CHECK_STEPS;
    print_message("'.-.-.-b' on 120 bytes: %ld checks (~%ld steps)\n", time_checks, steps);
    /* ~n^4/24 attempts, 8.6 million here: a check every few thousand of them. */
    assert_true(time_checks > 1000 && time_checks < 10000);
    /* A single long scan (a repetition, %b) is checked as it goes, not once at its end. */
    assert_null(run_checked(L, "r = MINE.match(string.rep('a', 1e6), '^a*$')", 0));
    assert_true(time_checks >= 1000000 / PATTERN_CHECK_STEPS - 1);
    assert_null(run_checked(L, "r = MINE.find('(' .. string.rep('x', 1e6), '^%b()')", 0));
    assert_true(time_checks >= 1000000 / PATTERN_CHECK_STEPS - 1);
    lua_close(L);
}

/* gsub checks the C stack when it calls back into Lua, and only then. */
static void test_cstack_check(void **state)
{
    lua_State *L = new_state();
    run_lua(L, "MINE.gsub('abc', '%w', 'x')");
    assert_int_equal(cstack_checks, 0);
    run_lua(L, "MINE.gsub('abc', '%w', function(c) return c end)");
    assert_int_equal(cstack_checks, 1);
    run_lua(L, "MINE.gsub('abc', '%w', {})");
    assert_int_equal(cstack_checks, 2);
    /* Nested: each level checks. */
    run_lua(L, "local function f(s) if #s > 1 then return (MINE.gsub(s:sub(2), '.+', f)) end "
               "end f('abcdef')");
    assert_int_equal(cstack_checks, 2 + 5);
    lua_close(L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed),
        cmocka_unit_test(test_inits),
        cmocka_unit_test(test_gsub),
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_time_check_stops_backtracking),
        cmocka_unit_test(test_time_check_frequency),
        cmocka_unit_test(test_cstack_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
