/*
 * The Lua state, its sandbox, protected calls, and turning what a handler returns into replies
 * and acks. Gateway files are loaded by gateway.c.
 */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include <luajit.h>

#include "../log/log.h"
#include "../registry/registry.h"

static const char host_key = 'h';

struct lua_host *luah_from(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&host_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    struct lua_host *lh = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return lh;
}

/* The message handler of every protected call: leaves sb.exception objects alone (they are
 * answers, not bugs) and turns anything else into "message + traceback". */
static int traceback(lua_State *L)
{
    if (api_is_exception(L, 1))
        return 1;
    struct lua_host *lh = luah_from(L);
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, lh->traceback_ref);
    lua_pushstring(L, msg);
    lua_pushinteger(L, 2);
    lua_call(L, 2, 1);
    return 1;
}

int luah_pcall(struct lua_host *lh, lua_State *L, int nargs, const char *what)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback);
    lua_insert(L, base);
    /* Loading code (no run) gets a deadline, checked by the state's hook (run.c). */
    bool outer = !lh->current_run && !lh->in_lua;
    if (outer && lh->budget_ns)
        lh->load_deadline = uv_hrtime() + lh->budget_ns * 10;
    lh->in_lua++;
    int rc = lua_pcall(L, nargs, LUA_MULTRET, base);
    lh->in_lua--;
    if (outer) {
        lh->load_deadline = 0;
        luah_load_limits_reset(lh);
    }
    lua_remove(L, base);
    if (rc == 0)
        return 0;
    if (api_is_exception(L, -1)) {
        LOG_DEBUG("lua", "%s raised an exception", what);
        return rc;
    }
    metrics.lua_errors++;
    const char *msg = lua_tostring(L, -1);
    LOG_ERROR("lua", "%s failed: %s", what,
              rc == LUA_ERRMEM ? "not enough memory" : (msg ? msg : "(no message)"));
    return rc;
}

char *luah_error_message(lua_State *L, json_t **data)
{
    char *msg = NULL;
    *data = NULL;
    if (api_is_exception(L, -1)) {
        lua_getfield(L, -1, "message");
        if (lua_type(L, -1) == LUA_TSTRING) {
            msg = strdup(lua_tostring(L, -1));
        } else {
            char err[128];
            *data = json_from_lua(L, -1, NULL, err, sizeof(err));
            msg = strdup(*data ? "exception" : "Internal server error");
        }
        lua_pop(L, 1);
    } else {
        /* Like NestJS: only a deliberate exception's message reaches the client. */
        msg = strdup("Internal server error");
    }
    lua_pop(L, 1);
    return msg;
}

void lua_result_clear(struct lua_result *r)
{
    for (size_t i = 0; i < r->nreplies; i++) {
        free(r->replies[i].event);
        json_decref(r->replies[i].args);
        sio_bins_unref(r->replies[i].bins);
    }
    free(r->replies);
    json_decref(r->ack);
    sio_bins_unref(r->ack_bins);
    free(r->error);
    json_decref(r->error_data);
    memset(r, 0, sizeof(*r));
}

/* True when the table at `idx` looks like a reply: a string `event` field. */
static bool is_reply(lua_State *L, int idx)
{
    if (!lua_istable(L, idx))
        return false;
    luah_rawfield(L, idx, "event");
    bool yes = lua_type(L, -1) == LUA_TSTRING;
    lua_pop(L, 1);
    return yes;
}

/* Appends the reply table at `idx` to `out`. Returns 0 or -1 with `err` set. */
static int take_reply(lua_State *L, int idx, struct lua_result *out, char *err, size_t errlen)
{
    if (!is_reply(L, idx)) {
        snprintf(err, errlen, "a list of replies holds a value that is not {event=, data=}");
        return -1;
    }
    luah_rawfield(L, idx, "event");
    char *event = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    json_t *args;
    struct sio_bins *bins = NULL;
    luah_rawfield(L, idx, "args");
    if (lua_istable(L, -1)) {
        int top = lua_gettop(L);
        int n = (int)lua_objlen(L, top);
        luaL_checkstack(L, n + 1, "reply args");
        for (int i = 1; i <= n; i++)
            lua_rawgeti(L, top, i);
        args = json_array_from_lua(L, top + 1, top + n, &bins, err, errlen);
        lua_settop(L, top);
    } else {
        luah_rawfield(L, idx, "data");
        args = lua_isnil(L, -1)
                   ? json_array()
                   : json_array_from_lua(L, lua_gettop(L), lua_gettop(L), &bins, err, errlen);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    struct reply *r = realloc(out->replies, (out->nreplies + 1) * sizeof(*r));
    if (!args || !event || !r) {
        if (r)
            out->replies = r;
        free(event);
        json_decref(args);
        sio_bins_unref(bins);
        if (!err[0])
            snprintf(err, errlen, "out of memory");
        return -1;
    }
    out->replies = r;
    r[out->nreplies].event = event;
    r[out->nreplies].args = args;
    r[out->nreplies].bins = bins;
    out->nreplies++;
    return 0;
}

/*
 * Turns the handler's results at [first, last] into replies or an ack. What is not a reply is
 * an ack, so that a client that asked for one gets it: no value acks with no argument (what
 * socket.io's callback() sends, `43<id>[]`), a lone nil with null (`callback(null)`).
 */
static int collect(lua_State *L, int first, int last, struct lua_result *out, char *err,
                   size_t errlen)
{
    if (last < first || (last == first && lua_isnil(L, first))) {
        out->ack_empty = true;
        out->ack = json_array_from_lua(L, first, last, &out->ack_bins, err, errlen);
        return out->ack ? 0 : -1;
    }
    if (is_reply(L, first))
        return take_reply(L, first, out, err, errlen);
    if (lua_istable(L, first) && lua_objlen(L, first) > 0) {
        lua_rawgeti(L, first, 1);
        bool list = is_reply(L, lua_gettop(L));
        lua_pop(L, 1);
        if (list) {
            int n = (int)lua_objlen(L, first);
            for (int i = 1; i <= n; i++) {
                lua_rawgeti(L, first, i);
                int rc = take_reply(L, lua_gettop(L), out, err, errlen);
                lua_pop(L, 1);
                if (rc)
                    return rc;
            }
            return 0;
        }
    }
    out->ack = json_array_from_lua(L, first, last, &out->ack_bins, err, errlen);
    return out->ack ? 0 : -1;
}

/* ---- handlers ---- */

struct handler_call {
    luah_handler_done done;
    void *ud;
};

static void handler_done(struct lua_run *r, int status, int nres)
{
    struct handler_call *hc = r->ud;
    struct lua_result res = {0};
    if (status) {
        res.error = luah_error_message(r->co, &res.error_data);
    } else {
        char err[160] = "";
        if (collect(r->co, 1, nres, &res, err, sizeof(err))) {
            metrics.lua_errors++;
            LOG_ERROR("lua", "%s returned a value that cannot be sent: %s", r->what, err);
            lua_result_clear(&res);
            res.error = strdup("Internal server error");
        }
    }
    hc->done(hc->ud, r->s, &res);
    lua_result_clear(&res);
    free(hc);
}

void luah_call_handler(struct lua_host *lh, struct handler *h, struct sock *s, const json_t *args,
                       const struct sio_bins *bins, luah_handler_done done, void *ud)
{
    char what[256];
    snprintf(what, sizeof(what), "gateway %s, event '%s'", h->gw->name, h->event);
    struct handler_call *hc = malloc(sizeof(*hc));
    struct lua_run *r = hc ? luah_run_new(lh, h->gw, s, what) : NULL;
    if (!r) {
        free(hc);
        struct lua_result res = {.error = strdup("Internal server error")};
        done(ud, s, &res);
        lua_result_clear(&res);
        return;
    }
    hc->done = done;
    hc->ud = ud;
    lua_State *co = r->co;
    size_t nargs = json_array_size(args);
    luaL_checkstack(co, (int)nargs + 4, "handler arguments");
    lua_rawgeti(co, LUA_REGISTRYINDEX, h->ref);
    api_socket_push(lh, co, s);
    for (size_t i = 0; i < nargs; i++)
        json_push(co, json_array_get(args, i), true, bins);
    luah_run_go(r, 1 + (int)nargs, handler_done, hc);
}

/* ---- hooks ---- */

/* A failed on_connect refuses the socket, even when it failed after waiting. */
static void connect_done(struct lua_run *r, int status, int nres)
{
    if (!status)
        return;
    json_t *data;
    char *msg = luah_error_message(r->co, &data);
    if (r->s && r->s->connected) {
        metrics.refusals[MR_CONNECT_HOOK]++;
        sock_exception_value(r->s, msg, data);
        sock_disconnect(r->s, "server namespace disconnect");
    }
    json_decref(data);
    free(msg);
}

static void start_hook(struct lua_host *lh, struct gateway *gw, int ref, struct sock *s,
                       const char *arg, const char *what, lua_run_done done)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "gateway %s, %s", gw->name, what);
    struct lua_run *r = luah_run_new(lh, gw, s, buf);
    if (!r)
        return;
    lua_rawgeti(r->co, LUA_REGISTRYINDEX, ref);
    api_socket_push(lh, r->co, s);
    if (arg)
        lua_pushstring(r->co, arg);
    luah_run_go(r, arg ? 2 : 1, done, NULL);
}

void luah_call_connect(struct lua_host *lh, struct sock *s)
{
    struct lua_nsp *n = sb_map_get(&lh->nsps, s->nsp_name);
    for (size_t i = 0; n && i < n->ngws && s->connected; i++) {
        struct gateway *gw = n->gws[i];
        if (gw->on_connect != LUA_NOREF)
            start_hook(lh, gw, gw->on_connect, s, NULL, "on_connect", connect_done);
    }
}

void luah_sock_identity(struct lua_host *lh, struct sock *s)
{
    api_socket_identity(lh, s);
}

void luah_call_disconnect(struct lua_host *lh, struct sock *s, const char *reason)
{
    struct lua_nsp *n = s->nsp_name ? sb_map_get(&lh->nsps, s->nsp_name) : NULL;
    for (size_t i = 0; n && i < n->ngws; i++) {
        struct gateway *gw = n->gws[i];
        if (gw->on_disconnect != LUA_NOREF)
            start_hook(lh, gw, gw->on_disconnect, s, reason, "on_disconnect", NULL);
    }
    /* Whatever still waits sees a socket that is gone. */
    luah_runs_forget_sock(lh, s);
    api_socket_forget(lh, s);
}

bool luah_nsp_exists(const struct lua_host *lh, const char *nsp)
{
    return sb_map_get(&lh->nsps, nsp) != NULL;
}

size_t luah_nsp_interceptors(void *ud, const char *nsp, struct plugin **out, size_t max)
{
    const struct lua_host *lh = ud;
    const struct lua_nsp *n = sb_map_get(&lh->nsps, nsp);
    size_t k = 0;
    for (size_t g = 0; n && g < n->ngws; g++) {
        const struct gateway *gw = n->gws[g];
        for (size_t i = 0; i < gw->ninterceptors; i++) {
            bool dup = false;
            for (size_t j = 0; j < k && !dup; j++)
                dup = out[j] == gw->interceptors[i];
            if (!dup && k < max)
                out[k++] = gw->interceptors[i];
        }
    }
    return k;
}

struct handler *luah_find(const struct lua_host *lh, const char *nsp, const char *event)
{
    struct lua_nsp *n = sb_map_get(&lh->nsps, nsp);
    return n ? sb_map_get(&n->events, event) : NULL;
}

struct handler *luah_find_server_event(const struct lua_host *lh, const char *nsp,
                                       const char *event)
{
    struct lua_nsp *n = sb_map_get(&lh->nsps, nsp);
    return n ? sb_map_get(&n->server_events, event) : NULL;
}

size_t luah_gateway_count(const struct lua_host *lh)
{
    return lh->ngws;
}

/* ---- the state ---- */

/*
 * The Lua heap's allocator: the memory cap applies while gateway code runs, so a handler that
 * allocates without bound gets "not enough memory" (a Lua error) rather than taking the process
 * down. Outside gateway code (the host pushing arguments, say) an error would be fatal, so the
 * host gets a headroom above the cap.
 */
#define MEM_HEADROOM ((uint64_t)32 << 20)

static void *lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct lua_host *lh = ud;
    if (nsize == 0) {
        free(ptr);
        lh->mem_used -= ptr ? osize : 0;
        return NULL;
    }
    size_t old = ptr ? osize : 0;
    if (lh->mem_limit && nsize > old) {
        uint64_t limit = lh->mem_limit + (lh->in_lua ? 0 : MEM_HEADROOM);
        if (lh->mem_used + (nsize - old) > limit) {
            lh->mem_refused = true;
            metrics.lua_mem_refused++;
            return NULL;
        }
    }
    void *p = realloc(ptr, nsize);
    if (p)
        lh->mem_used = lh->mem_used - old + nsize;
    return p;
}

static int panic(lua_State *L)
{
    LOG_ERROR("lua", "unprotected Lua error, cannot go on: %s",
              lua_tostring(L, -1) ? lua_tostring(L, -1) : "(no message)");
    abort();
    return 0;
}

lua_State *luah_state_new(struct lua_host *lh)
{
    lua_State *L = lua_newstate(lua_alloc, lh);
    if (!L)
        return NULL;
    lua_atpanic(L, panic);
    luaL_openlibs(L);
    /* Interpreted only: the time budget's count hook does not fire inside JIT-compiled loops.
     * The hook is global in LuaJIT: set once here, for every coroutine. */
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    lua_sethook(L, luah_limit_hook, LUA_MASKCOUNT, 1000);
    lua_pushlightuserdata(L, (void *)&host_key);
    lua_pushlightuserdata(L, lh);
    lua_rawset(L, LUA_REGISTRYINDEX);

    lua_getglobal(L, "debug");
    lua_getfield(L, -1, "traceback");
    lh->traceback_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pop(L, 1);

    lua_newtable(L); /* sb */
    lua_pushliteral(L, SB_VERSION);
    lua_setfield(L, -2, "version");
    api_json_open(L);
    api_log_open(L);
    api_socket_open(L);
    api_emit_open(L);
    api_cluster_open(L);
    api_timer_open(L);
    api_redis_open(L);
    lua_getfield(L, -1, "redis");
    lua_setglobal(L, "redis");
    lua_setglobal(L, "sb");
    luah_require_open(L);
    luah_sandbox_open(lh, L);
    return L;
}
