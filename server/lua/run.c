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
#include <sys/resource.h>

#include "../log/log.h"

struct lua_run *luah_run_current(struct lua_host *lh)
{
    return lh->current_run;
}

/* ---- limits: the time budget and the C stack ---- */

/*
 * The C stack. LuaJIT runs a Lua function called from Lua without growing the C stack, but a
 * coroutine resumed from Lua, a callback of string.gsub or table.sort, or a metamethod called
 * from a C function each add C frames: `local function f() coroutine.wrap(f)() end` or
 * `local function f(s) return (string.gsub(s, ".", f)) end` recurse until the process dies
 * with SIGSEGV, and LuaJIT has no C-call counter of its own to stop them (Lua 5.1 has
 * LUAI_MAXCCALLS). Two bounds stop them with an error instead:
 *
 *  - every C function of ours that calls back into Lua (string.gsub with a function or a
 *    table is pattern.c's), and the wrappers the sandbox puts around the standard functions
 *    that do (coroutine.resume and wrap, table.sort, tostring), checks the depth first
 *    (luah_check_cstack: `cstack_hard`);
 *  - the count hook, which fires every 1000 instructions, stops a run that went below
 *    `cstack_soft` by some other path. Between two hooks a recursion through gsub goes ~1.4 MB
 *    deeper (8 KiB of buffer a level), so the soft bound sits 2 MiB above the hard one.
 */
#define CSTACK_DEFAULT  ((size_t)8 << 20)   /* assumed when the limit is unlimited or unknown */
#define CSTACK_RESERVE  ((size_t)512 << 10) /* left for what runs below the hard bound */
#define CSTACK_HOOK_GAP ((size_t)2 << 20)   /* how far above it the hook already stops runs */

void luah_cstack_init(struct lua_host *lh)
{
    char here;
    size_t size = CSTACK_DEFAULT;
    struct rlimit rl;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < CSTACK_DEFAULT)
        size = (size_t)rl.rlim_cur;
    /* The caller is near the bottom of the stack, but not at it: keep 1/8 for what is above. */
    size_t usable = size - size / 8;
    size_t hard = usable > 2 * CSTACK_RESERVE ? usable - CSTACK_RESERVE : usable / 2;
    size_t soft = hard > 2 * CSTACK_HOOK_GAP ? hard - CSTACK_HOOK_GAP : hard / 2;
    /* The stack grows down on every platform LuaJIT runs on here (x86-64, arm64). */
    lh->cstack_hard = (uintptr_t)&here - hard;
    lh->cstack_soft = (uintptr_t)&here - soft;
}

/* True when the frame of the caller is below `bound`. */
static bool cstack_below(uintptr_t bound)
{
    char here;
    return (uintptr_t)&here < bound;
}

void luah_check_cstack(lua_State *L)
{
    struct lua_host *lh = luah_from(L);
    if (cstack_below(lh->cstack_hard)) {
        metrics.lua_stack_overflows++;
        luaL_error(L, "stack overflow (calls through C functions nested too deep: coroutines, "
                      "callbacks or metamethods)");
    }
}

/* Which limit the code running now has passed, if any. */
static enum lua_kill limit_passed(struct lua_host *lh, bool deep)
{
    struct lua_run *r = lh->current_run;
    if (!r)
        return lh->load_killed                                        ? lh->load_killed
               : deep                                                 ? KILL_STACK
               : lh->load_deadline && uv_hrtime() > lh->load_deadline ? KILL_TIME
                                                                      : KILL_NONE;
    if (r->killed)
        return r->killed;
    if (deep)
        return KILL_STACK;
    if (lh->budget_ns && r->used_ns + (uv_hrtime() - r->slice_start_ns) > lh->budget_ns)
        return KILL_TIME;
    return KILL_NONE;
}

static const char *kill_message(struct lua_host *lh, enum lua_kill why, char *buf, size_t len)
{
    if (why == KILL_STACK)
        return "stack overflow (calls through C functions nested too deep: coroutines, "
               "callbacks or metamethods)";
    if (lh->current_run)
        return "handler time limit exceeded";
    snprintf(buf, len, "loading took more than %u ms (10 times the handler time limit)",
             lh->limits.time_ms * 10);
    return buf;
}

/*
 * Marks the code running now as stopped for `why`. From then on the hook runs at every
 * instruction, so that control cannot stay away from the run's coroutine (or from the end of
 * the loading file) for long: pcall cannot catch what follows.
 */
static void mark_killed(struct lua_host *lh, lua_State *L, enum lua_kill why)
{
    enum lua_kill *k = lh->current_run ? &lh->current_run->killed : &lh->load_killed;
    if (!*k) {
        *k = why;
        lua_sethook(L, luah_limit_hook, LUA_MASKCOUNT, 1);
    }
}

/*
 * The one count hook of the state (LuaJIT's hooks are global, not per coroutine: it is set
 * once, in luah_state_new). Inside a run past a limit it yields the run's coroutine, which
 * pcall cannot catch; a coroutine the run created itself is yielded back to the run, whose own
 * coroutine is then stopped at its next instruction (where yielding is impossible, inside a
 * callback of a C function, LuaJIT raises an error instead, and the next instruction tries
 * again). While a gateway file loads (no run) past a limit it raises an error.
 */
void luah_limit_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct lua_host *lh = luah_from(L);
    enum lua_kill why = limit_passed(lh, cstack_below(lh->cstack_soft));
    if (!why)
        return;
    mark_killed(lh, L, why);
    if (!lh->current_run) {
        char buf[96];
        luaL_error(L, "%s", kill_message(lh, why, buf, sizeof(buf)));
    }
    lua_yield(L, 0);
}

void luah_check_budget(lua_State *L)
{
    struct lua_host *lh = luah_from(L);
    enum lua_kill why = limit_passed(lh, false);
    if (!why)
        return;
    mark_killed(lh, L, why);
    char buf[96];
    luaL_error(L, "%s", kill_message(lh, why, buf, sizeof(buf)));
}

void luah_load_limits_reset(struct lua_host *lh)
{
    if (lh->load_killed) {
        lh->load_killed = KILL_NONE;
        lua_sethook(lh->L, luah_limit_hook, LUA_MASKCOUNT, 1000);
    }
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

static void step_run(struct lua_run *r, int nargs);

/* Runs the coroutine until it ends or waits, its log lines naming its socket (--log-format
 * json). */
static void step(struct lua_run *r, int nargs)
{
    struct log_context outer = log_context_get();
    if (r->s)
        log_context_set(&(struct log_context){r->s->id, r->s->user, r->s->nsp_name});
    step_run(r, nargs);
    log_context_set(&outer);
}

static void step_run(struct lua_run *r, int nargs)
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
        if (r->killed == KILL_TIME) {
            metrics.lua_timeouts++;
            LOG_ERROR("lua", "%s stopped: it ran for more than %llu ms (the handler time limit)",
                      r->what, (unsigned long long)(lh->budget_ns / 1000000));
        } else {
            metrics.lua_stack_overflows++;
            LOG_ERROR("lua",
                      "%s stopped: stack overflow (calls through C functions nested too deep: "
                      "coroutines, callbacks or metamethods)",
                      r->what);
        }
        lua_settop(r->co, 0);
        lua_pushstring(r->co,
                       r->killed == KILL_TIME ? "handler time limit exceeded" : "stack overflow");
        status = LUA_ERRRUN;
    } else if (status != 0) {
        log_error(r, status);
    }
    int nres = status == 0 ? lua_gettop(r->co) : 0;
    if (r->done)
        r->done(r, status, nres);
    run_free(r);
    luah_gc_pace(lh);
}

/*
 * The collector under a memory cap. LuaJIT starts a cycle when the heap reaches twice what the
 * last one left alive, and never collects when an allocation fails: with live data over half
 * the cap, garbage alone would reach the cap and every allocation fail. So, from half the cap,
 * with L live of a cap C, a cycle starts halfway from L to the cap (pause 100 (C + L) / 2L),
 * and must be done (marking L, sweeping the heap) before the other half is allocated: stepmul
 * 100 + 400 L / (C - L). The cost is spread over the allocations instead of stopping the loop
 * (bench/lua-heap.mjs measures it).
 *
 * An allocation past the cap is refused: the code that made it gets "not enough memory". If the
 * heap then holds much more than the last full collection left alive, that was garbage the
 * collector had not reached yet: one full collection gives it back, so the next handler finds
 * room. When the heap is full of live data, nothing is collected again and again: handlers
 * that allocate fail, the others run on.
 */
void luah_gc_pace(struct lua_host *lh)
{
    if (!lh->mem_limit)
        return;
    lua_State *L = lh->L;
    if (lh->mem_refused) {
        lh->mem_refused = false;
        if (lh->mem_used > lh->live_after_gc + lh->mem_limit / 8) {
            lua_gc(L, LUA_GCCOLLECT, 0);
            metrics.lua_full_gcs++;
            lh->live_after_gc = lh->mem_used;
        }
    }
    /* 0 under half the cap, then 1..7 by sixteenths of the cap. */
    uint64_t half = lh->mem_limit / 2, sixteenth = lh->mem_limit / 16 + 1;
    int band = lh->mem_used <= half ? 0 : (int)((lh->mem_used - half) / sixteenth) + 1;
    if (band > 7)
        band = 7;
    if (band == lh->gc_band)
        return;
    int was = lh->gc_band;
    lh->gc_band = band;
    if (!band) {
        lua_gc(L, LUA_GCSETPAUSE, 200); /* LuaJIT's defaults */
        lua_gc(L, LUA_GCSETSTEPMUL, 200);
        return;
    }
    /* The band's upper edge as the live size (the heap holds garbage too): L/C = (8+b)/16. */
    int live = 8 + band, rest = 16 - live;
    lua_gc(L, LUA_GCSETPAUSE, 100 * (16 + live) / (2 * live));
    lua_gc(L, LUA_GCSETSTEPMUL, 100 + 400 * live / rest);
    /* The cycle LuaJIT plans now may start past the cap (its threshold was set with the old
     * pause): one step starts it, the allocations drive it from there. */
    if (band > was)
        lua_gc(L, LUA_GCSTEP, 0);
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
