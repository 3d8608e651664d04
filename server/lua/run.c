/*
 * Every piece of gateway code (a handler, a hook, a timer, an ack callback, a server event)
 * runs in a coroutine of its own, a "run". That gives three things:
 *
 *  - a run may wait: redis.call() suspends it until the reply, without blocking the loop;
 *  - a time budget: a count hook measures the time a run spends executing (waiting does not
 *    count) and, past the budget, yields from the hook. A yield cannot be caught by pcall, so
 *    `while true do pcall(f) end` is stopped too; the run is then abandoned and collected. The
 *    JIT is off for the whole state (luah_state_new): count hooks do not fire inside
 *    JIT-compiled loops;
 *  - a clean end: whatever happens, the run's `done` callback is called exactly once.
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"

struct lua_run *luah_run_current(struct lua_host *lh)
{
    return lh->current_run;
}

/*
 * The one count hook of the state (LuaJIT's hooks are global, not per coroutine: it is set
 * once, in luah_state_new). Inside a run past its budget it yields the run's coroutine, which
 * pcall cannot catch; a coroutine the run created itself is yielded back to the run, whose own
 * coroutine is then stopped at its
 * next instruction. While a gateway file loads (no run) past its deadline it raises an error.
 */
void luah_limit_hook(lua_State *L, lua_Debug *ar)
{
    struct lua_host *lh = luah_from(L);
    struct lua_run *r = lh->current_run;
    if (!r) {
        if (lh->load_deadline && uv_hrtime() > lh->load_deadline)
            luaL_error(L, "loading took more than %u ms (10 times the handler time limit)",
                       lh->limits.time_ms * 10);
        return;
    }
    if (!lh->budget_ns)
        return;
    uint64_t used = r->used_ns + (uv_hrtime() - r->slice_start_ns);
    if (used <= lh->budget_ns && !r->killed)
        return;
    /* From now on the hook runs at every instruction, so that control cannot stay away from
     * the run's coroutine for long; a coroutine the run created is yielded back to it. */
    if (!r->killed) {
        r->killed = true;
        lua_sethook(L, luah_limit_hook, LUA_MASKCOUNT, 1);
    }
    lua_yield(L, 0);
}

struct lua_run *luah_run_new(struct lua_host *lh, struct gateway *gw, struct sock *s,
                             const char *what)
{
    struct lua_run *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    lua_State *L = lh->L;
    r->lh = lh;
    r->co = lua_newthread(L);
    r->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    r->gw = gw;
    if (gw)
        gw->refs++;
    r->s = s;
    snprintf(r->what, sizeof(r->what), "%s", what);
    return r;
}

static void unlink_suspended(struct lua_run *r)
{
    if (!r->suspended)
        return;
    struct lua_host *lh = r->lh;
    if (r->prev)
        r->prev->next = r->next;
    else
        lh->suspended = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->suspended = false;
    lh->nsuspended--;
}

static void run_free(struct lua_run *r)
{
    unlink_suspended(r);
    luaL_unref(r->lh->L, LUA_REGISTRYINDEX, r->co_ref);
    if (r->gw)
        gateway_unref(r->lh, r->gw);
    free(r);
}

/* Logs an error of a run with a traceback of its coroutine (exceptions are answers, not
 * bugs, and are not logged). */
static void log_error(struct lua_run *r, int status)
{
    lua_State *co = r->co;
    if (api_is_exception(co, -1)) {
        LOG_DEBUG("lua", "%s raised an exception", r->what);
        return;
    }
    metrics.lua_errors++;
    if (status == LUA_ERRMEM) {
        LOG_ERROR("lua", "%s failed: not enough memory (the Lua memory limit is %llu MiB)", r->what,
                  (unsigned long long)(r->lh->mem_limit >> 20));
        return;
    }
    lua_State *L = r->lh->L;
    const char *msg = lua_tostring(co, -1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->lh->traceback_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->co_ref);
    lua_pushstring(L, msg ? msg : "(error object is not a string)");
    lua_pushinteger(L, 0);
    if (lua_pcall(L, 3, 1, 0) == 0)
        LOG_ERROR("lua", "%s failed: %s", r->what, lua_tostring(L, -1));
    else
        LOG_ERROR("lua", "%s failed: %s", r->what, msg ? msg : "(no message)");
    lua_pop(L, 1);
}

/* Runs the coroutine until it ends or waits. */
static void step(struct lua_run *r, int nargs)
{
    struct lua_host *lh = r->lh;
    struct lua_run *saved_run = lh->current_run;
    const char *saved_nsp = lh->current_nsp;
    struct gateway *saved_gw = lh->current_gw;
    lh->current_run = r;
    lh->current_nsp = r->gw ? r->gw->nsp : saved_nsp;
    lh->current_gw = r->gw;
    lh->in_lua++;
    r->slice_start_ns = uv_hrtime();
    int status = lua_resume(r->co, nargs);
    r->used_ns += uv_hrtime() - r->slice_start_ns;
    lh->in_lua--;
    lh->current_run = saved_run;
    lh->current_nsp = saved_nsp;
    lh->current_gw = saved_gw;

    if (status == LUA_YIELD && !r->killed) {
        /* Waiting for an operation, which resumes it (luah_run_resume). */
        if (!r->suspended) {
            r->suspended = true;
            r->next = lh->suspended;
            if (lh->suspended)
                lh->suspended->prev = r;
            lh->suspended = r;
            lh->nsuspended++;
        }
        return;
    }
    unlink_suspended(r);
    if (r->killed) {
        lua_sethook(lh->L, luah_limit_hook, LUA_MASKCOUNT, 1000);
        metrics.lua_errors++;
        metrics.lua_timeouts++;
        LOG_ERROR("lua", "%s stopped: it ran for more than %llu ms (the handler time limit)",
                  r->what, (unsigned long long)(lh->budget_ns / 1000000));
        lua_settop(r->co, 0);
        lua_pushstring(r->co, "handler time limit exceeded");
        status = LUA_ERRRUN;
    } else if (status != 0) {
        log_error(r, status);
    }
    int nres = status == 0 ? lua_gettop(r->co) : 0;
    if (r->done)
        r->done(r, status, nres);
    run_free(r);
    /* What a run that hit the memory cap allocated (even when it caught the error itself) is
     * garbage now: near the cap, give it back at once, so the next handler does not find the
     * heap full and pay for someone else's allocations. */
    if (status == LUA_ERRMEM || (lh->mem_limit && lh->mem_used > lh->mem_limit / 4 * 3))
        lua_gc(lh->L, LUA_GCCOLLECT, 0);
}

void luah_run_go(struct lua_run *r, int nargs, lua_run_done done, void *ud)
{
    r->done = done;
    r->ud = ud;
    step(r, nargs);
}

void luah_run_resume(struct lua_run *r, int nvalues)
{
    step(r, nvalues);
}

int luah_run_wait(lua_State *L)
{
    struct lua_host *lh = luah_from(L);
    struct lua_run *r = lh->current_run;
    if (!r || r->co != L)
        return luaL_error(L, "this operation can only be used inside a handler, a hook or a "
                             "timer, not while a gateway file loads");
    return lua_yield(L, 0);
}

void luah_runs_forget_sock(struct lua_host *lh, const struct sock *s)
{
    for (struct lua_run *r = lh->suspended; r; r = r->next)
        if (r->s == s)
            r->s = NULL;
}

void luah_runs_free(struct lua_host *lh)
{
    /* At shutdown, runs still waiting are dropped without their callback: what they waited
     * for was cancelled with the bus, and nothing is left to deliver to. */
    while (lh->suspended) {
        struct lua_run *r = lh->suspended;
        r->done = NULL;
        run_free(r);
    }
}
