/*
 * Timers for gateway code:
 *
 *     local t = sb.after(5000, function() sb.emit("tick") end)   -- once
 *     local t = sb.every(1000, function() … end)                 -- until cancelled
 *     t:cancel()
 *
 * Each firing runs in a run of its own (time budget, may wait for Redis). A timer belongs to
 * the gateway whose code started it and stops when that gateway is unloaded or reloaded, so
 * edits do not pile up timers. Dropping the handle does not stop a timer.
 */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "../log/log.h"

#define TIMER_MT      "sb.timer"
#define MAX_TIMERS    100000
#define MIN_REPEAT_MS 10

struct lua_timer {
    struct lua_host *lh;
    struct gateway *gw;              /* the owner: the timer is in its list */
    struct lua_timer *next, **pprev; /* pprev: the pointer that points at this timer */
    uv_timer_t handle;
    int fn;  /* the Lua function */
    int obj; /* the handle userdata, kept while the timer runs */
    bool repeat;
    bool stopped;
};

struct ltimer {
    struct lua_timer *t; /* NULL once the timer stopped */
};

static size_t ntimers;

static struct lua_timer **list_of(struct lua_host *lh, struct gateway *gw)
{
    return gw ? &gw->timers : &lh->orphan_timers;
}

static void closed_cb(uv_handle_t *h)
{
    free(h->data);
}

/* Stops the timer and forgets everything Lua holds for it. */
static void stop(struct lua_timer *t)
{
    if (t->stopped)
        return;
    t->stopped = true;
    ntimers--;
    struct lua_host *lh = t->lh;
    /* O(1) removal: thousands of timers may stop at once. */
    *t->pprev = t->next;
    if (t->next)
        t->next->pprev = t->pprev;
    lua_State *L = lh->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->obj);
    struct ltimer *ud = lua_touserdata(L, -1);
    if (ud)
        ud->t = NULL;
    lua_pop(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, t->obj);
    luaL_unref(L, LUA_REGISTRYINDEX, t->fn);
    uv_timer_stop(&t->handle);
    t->handle.data = t;
    uv_close((uv_handle_t *)&t->handle, closed_cb);
}

static void fire_cb(uv_timer_t *h)
{
    struct lua_timer *t = h->data;
    struct lua_host *lh = t->lh;
    char what[200];
    snprintf(what, sizeof(what), "gateway %s, timer", t->gw ? t->gw->name : "-");
    struct lua_run *r = luah_run_new(lh, t->gw, NULL, what);
    if (r) {
        lua_rawgeti(r->co, LUA_REGISTRYINDEX, t->fn);
        /* A one-shot timer is done before its function runs, so the function may start a new
         * one without hitting a stale handle. */
        if (!t->repeat)
            stop(t);
        luah_run_go(r, 0, NULL, NULL);
    } else if (!t->repeat) {
        stop(t);
    }
}

static int start(lua_State *L, bool repeat)
{
    struct lua_host *lh = luah_from(L);
    lua_Number ms = luaL_checknumber(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_Number min = repeat ? MIN_REPEAT_MS : 0;
    luaL_argcheck(L, ms >= min && ms <= 7 * 86400000.0, 1,
                  repeat ? "interval must be 10 ms to 7 days" : "delay must be 0 to 7 days");
    if (ntimers >= MAX_TIMERS)
        return luaL_error(L, "too many timers (%d)", MAX_TIMERS);
    struct lua_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return luaL_error(L, "out of memory");
    t->lh = lh;
    t->gw = lh->loading_gw ? lh->loading_gw : lh->current_gw;
    t->repeat = repeat;
    struct ltimer *ud = lua_newuserdata(L, sizeof(*ud));
    ud->t = t;
    luaL_getmetatable(L, TIMER_MT);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    t->obj = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, 2);
    t->fn = luaL_ref(L, LUA_REGISTRYINDEX);
    uv_timer_init(lh->loop, &t->handle);
    t->handle.data = t;
    uint64_t delay = (uint64_t)ms;
    uv_timer_start(&t->handle, fire_cb, delay, repeat ? delay : 0);
    struct lua_timer **list = list_of(lh, t->gw);
    t->next = *list;
    if (t->next)
        t->next->pprev = &t->next;
    t->pprev = list;
    *list = t;
    ntimers++;
    return 1;
}

static int l_after(lua_State *L)
{
    return start(L, false);
}

static int l_every(lua_State *L)
{
    return start(L, true);
}

static int l_cancel(lua_State *L)
{
    struct ltimer *ud = luaL_checkudata(L, 1, TIMER_MT);
    bool was = ud->t != NULL;
    if (ud->t)
        stop(ud->t);
    lua_pushboolean(L, was);
    return 1;
}

static int l_active(lua_State *L)
{
    struct ltimer *ud = luaL_checkudata(L, 1, TIMER_MT);
    lua_pushboolean(L, ud->t != NULL);
    return 1;
}

void luah_timers_cancel(struct lua_host *lh, struct gateway *gw)
{
    struct lua_timer **list = list_of(lh, gw);
    while (*list)
        stop(*list);
}

void api_timer_open(lua_State *L)
{
    luaL_newmetatable(L, TIMER_MT);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, l_cancel);
    lua_setfield(L, -2, "cancel");
    lua_pushcfunction(L, l_active);
    lua_setfield(L, -2, "active");
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_after);
    lua_setfield(L, -2, "after");
    lua_pushcfunction(L, l_every);
    lua_setfield(L, -2, "every");
}
