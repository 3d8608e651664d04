/*
 * Shared between the files of server/lua only: the host's state and the helpers each API area
 * registers or uses.
 */
#ifndef SB_LUA_API_H
#define SB_LUA_API_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../bus/bus.h" /* SB_MAX_EMIT_ROOMS: the most rooms one call takes in a list */
#include "lua.h"

/* Why gateway code was stopped: it ran past its time budget, or it nested calls through C
 * functions (coroutines, callbacks of string.gsub or table.sort, __tostring) deeper than the
 * C stack allows. */
enum lua_kill { KILL_NONE, KILL_TIME, KILL_STACK };

struct lua_nsp {
    struct sb_map events;        /* event name -> struct handler (borrowed from its gateway) */
    struct sb_map server_events; /* server-side emits from other servers -> struct handler */
    struct gateway **gws;        /* owned array of borrowed gateways */
    size_t ngws;
    char name[];
};

struct lua_host {
    lua_State *L;
    uv_loop_t *loop;
    struct bus *bus;         /* borrowed */
    struct registry *reg;    /* borrowed */
    struct plugins *plugins; /* borrowed */
    char *scripts_dir;       /* owned */
    struct gateway **gws;    /* owned */
    size_t ngws;
    struct sb_map nsps; /* name -> struct lua_nsp (owned) */
    /* The namespace of the gateway whose code is running: broadcasts without sb.of() go there. */
    const char *current_nsp;
    struct gateway *current_gw; /* the gateway whose code is running, for log lines */
    int traceback_ref;          /* debug.traceback, kept before the sandbox hides `debug` */

    struct lua_limits limits;
    uint64_t budget_ns;        /* limits.time_ms in ns */
    uint64_t mem_limit;        /* limits.memory */
    uint64_t mem_used;         /* bytes the Lua heap holds */
    bool mem_refused;          /* an allocation was refused at the cap since the last run ended */
    uint64_t live_after_gc;    /* mem_used after the last full collection */
    int gc_band;               /* the collector's pace, from how full the heap is (run.c) */
    unsigned in_lua;           /* > 0 while gateway code runs: the memory cap applies */
    uint64_t load_deadline;    /* hrtime by which a loading file must be done, 0 = none */
    enum lua_kill load_killed; /* why the loading file is being stopped, KILL_NONE while fine */
    /* The C stack: gateway code whose C calls nest below `cstack_soft` is stopped by the count
     * hook; a C function of ours that calls back into Lua refuses below `cstack_hard`
     * (luah_check_cstack). Addresses, set by luah_new from the stack size (run.c). */
    uintptr_t cstack_soft, cstack_hard;
    unsigned guard_depth; /* guarded standard calls nested now (sandbox.c) */
    struct lua_run *current_run;
    struct lua_run *suspended; /* runs waiting for an operation */
    size_t nsuspended;

    struct gateway *loading_gw; /* the gateway whose file runs now (its requires are noted) */
    char last_error[512];       /* why the last gateway load failed, for /metrics and logs */

    /* Hot reload (reload.c). */
    struct sb_map status; /* gateway file -> struct reload_status (owned) */
    uv_fs_event_t watch_dir, watch_lib;
    bool watching_dir, watching_lib;
    uv_timer_t reload_timer; /* debounces bursts of file events */
    struct sb_map changed;   /* file names changed since the last reload (owned keys) */
    bool reload_all_pending;
    struct lua_timer *orphan_timers;
    void *redis; /* api_redis.c's state */
};

/* ---- gateway.c: loading, installing, unloading ---- */

/* Builds the gateway of `path` and installs it (in place of its running version, which keeps
 * serving when the new one fails). Returns 0 or a negative sb_err_t after logging why. */
int luah_load_gateway(struct lua_host *lh, const char *path);
/* Takes the gateway of a removed file out of service. */
void luah_unload_gateway(struct lua_host *lh, const char *path);
/* Loads every *.lua of the scripts directory (initial: stop at the first failure). */
int luah_scan(struct lua_host *lh, bool initial);
struct gateway *luah_gateway_by_file(const struct lua_host *lh, const char *path);

/* ---- reload.c: hot reload and its status ---- */

/* Records the outcome of loading `path` (rc 0: loaded; 1: removed; < 0: failed, with
 * lh->last_error) for /metrics. */
void luah_reload_status(struct lua_host *lh, const char *path, int rc);
void luah_status_free(struct lua_host *lh);

/* ---- api_timer.c ---- */

void api_timer_open(lua_State *L); /* sb.after, sb.every */
/* Stops the timers a gateway started (it is being unloaded). */
void luah_timers_cancel(struct lua_host *lh, struct gateway *gw);

/* ---- api_redis.c ---- */

void api_redis_open(lua_State *L); /* sb.redis (also the global `redis`) */

/* ---- run.c: gateway code in coroutines ---- */

struct lua_run;
/* Called once when a run ends: status 0 with `nres` results on r->co's stack (1..nres), or an
 * error status with the error object on its top (a budget kill is LUA_ERRRUN). */
typedef void (*lua_run_done)(struct lua_run *r, int status, int nres);

struct lua_run {
    struct lua_host *lh;
    lua_State *co;
    int co_ref;
    struct gateway *gw; /* referenced while the run lives; NULL for code outside gateways */
    struct sock *s;     /* the socket it runs for, NULL once it went away (or none) */
    lua_run_done done;
    void *ud;
    uint64_t slice_start_ns, used_ns;
    enum lua_kill killed; /* stopped by a limit, and which */
    bool suspended;       /* in lh->suspended, waiting for an operation */
    struct lua_run *prev, *next;
    char what[160]; /* for log lines: "gateway chat, event 'join'" */
};

/* A run for gateway `gw` (may be NULL) and socket `s` (may be NULL). Push the function and its
 * arguments on r->co, then call luah_run_go(). NULL when out of memory. */
struct lua_run *luah_run_new(struct lua_host *lh, struct gateway *gw, struct sock *s,
                             const char *what);
/* Starts the run; `done` (may be NULL) gets its end. */
void luah_run_go(struct lua_run *r, int nargs, lua_run_done done, void *ud);
/* Continues a waiting run with `nvalues` values pushed on r->co (the waiting call's results). */
void luah_run_resume(struct lua_run *r, int nvalues);
/* The run executing now, or NULL. */
struct lua_run *luah_run_current(struct lua_host *lh);
/* From a C function: suspends the current run until luah_run_resume(). Use as
 * `return luah_run_wait(L);` after registering the operation. Raises outside a run. */
int luah_run_wait(lua_State *L);
/* The state's count hook: time budgets of runs, deadline of loading files, depth of the C
 * stack. */
void luah_limit_hook(lua_State *L, lua_Debug *ar);
/* Sets the C stack bounds of the host from the stack size, relative to the caller's frame
 * (call it near the bottom of the program's stack: luah_new from main). */
void luah_cstack_init(struct lua_host *lh);
/* For C functions that run long without executing Lua instructions (pattern matching): raises
 * the time-limit error, and stops the run, when the code running now is past its budget (or
 * the file loading now past its deadline). Cheap enough to call every few thousand steps. */
void luah_check_budget(lua_State *L);
/* For C functions that call back into Lua (or into a callable a gateway chose): raises
 * "stack overflow" when the C stack is nearly used up, so that recursion through C functions
 * ends with an error instead of a crash. */
void luah_check_cstack(lua_State *L);
/* Paces the collector by how full the heap is under the memory cap, and collects once after a
 * refused allocation when that can help (called at the end of every run). */
void luah_gc_pace(struct lua_host *lh);
/* A gateway file finished loading: a limit it passed no longer applies. */
void luah_load_limits_reset(struct lua_host *lh);
/* The socket went away: waiting runs forget it. */
void luah_runs_forget_sock(struct lua_host *lh, const struct sock *s);
/* Drops every waiting run (shutdown). */
void luah_runs_free(struct lua_host *lh);

/* Pushes t[key] of the table at `idx` without metamethods. Values gateway code returns are
 * read this way: the host reads them outside protected, time-limited code, where an __index
 * that raises would end the process and one that loops would hang it. */
static inline void luah_rawfield(lua_State *L, int idx, const char *key)
{
    if (idx < 0 && idx > LUA_REGISTRYINDEX)
        idx = lua_gettop(L) + idx + 1;
    lua_pushstring(L, key);
    lua_rawget(L, idx);
}

/* The host that owns `L`. */
struct lua_host *luah_from(lua_State *L);

/* Calls the function below `nargs` arguments on the stack, protected, with a traceback. On
 * error logs `what` and the traceback, counts it, and leaves the error object on the stack
 * (returns non-zero); on success leaves the results (LUA_MULTRET). */
int luah_pcall(struct lua_host *lh, lua_State *L, int nargs, const char *what);

/* Turns the error object on the top of the stack into the message the client sees: the
 * message of sb.exception(...) (*data set when it is not a string), otherwise "Internal server
 * error". Pops it. Returns a new string. */
char *luah_error_message(lua_State *L, json_t **data);

/* Creates the state with the sb module and the sandbox (host.c). */
lua_State *luah_state_new(struct lua_host *lh);

/* ---- sandbox.c: what gateway code sees ---- */

/* Builds the sandbox from the globals of `L` (the sb module and require included), puts the
 * depth checks around the standard functions that call back into Lua, and locks the string
 * metatable. */
void luah_sandbox_open(struct lua_host *lh, lua_State *L);
/* Pushes a fresh environment for one gateway file or lib module: its own copies of the
 * sandbox's globals and library tables (a trusted host: a table that falls back to _G). */
void luah_push_env(struct lua_host *lh, lua_State *L);
/* Pushes a fresh copy of the sb module, as an environment holds it. */
void luah_push_sb_copy(lua_State *L);
/* Installs the global `require` gateways use (gateway.c). */
void luah_require_open(lua_State *L);

/* ---- api_json.c: conversion and the sb.json module ---- */

/* Pushes `v` as a Lua value; JSON null is sb.null inside tables and nil at the top. With
 * `bins` (borrowed, NULL = none) each placeholder of `v` that names one of them becomes an
 * sb.binary holding a copy of its bytes. */
void json_push(lua_State *L, const json_t *v, bool top, const struct sio_bins *bins);
/* Converts the Lua value at `idx` to JSON. Returns a new reference, or NULL with a reason in
 * `err` (functions, NaN, cycles, invalid UTF-8). With `bins` non-NULL, each sb.binary becomes a
 * placeholder and *bins the new array of their bytes (NULL when there was none; at most
 * SIO_MAX_ATTACHMENTS); with `bins` NULL an sb.binary is an error. */
json_t *json_from_lua(lua_State *L, int idx, struct sio_bins **bins, char *err, size_t errlen);
/* Converts the values at stack positions [from, to] to a JSON array (error: NULL + err), with
 * binary as json_from_lua() does. */
json_t *json_array_from_lua(lua_State *L, int from, int to, struct sio_bins **bins, char *err,
                            size_t errlen);
/* Adds sb.json, sb.null, sb.array, sb.binary and sb.is_binary to the table on top. */
void api_json_open(lua_State *L);

/* ---- api_socket.c: the socket object ---- */

void api_socket_open(lua_State *L);
/* Pushes the Lua object of `s`, creating it on first use. */
void api_socket_push(struct lua_host *lh, lua_State *L, struct sock *s);
/* Drops the claims the Lua object of `s` cached, if it has one: its identity changed. */
void api_socket_identity(struct lua_host *lh, struct sock *s);
/* Detaches the Lua object from a socket that is going away: later use sees a closed socket. */
void api_socket_forget(struct lua_host *lh, struct sock *s);

/* ---- api_emit.c: broadcasts ---- */

void api_emit_open(lua_State *L); /* adds sb.to, sb.of, sb.emit, … to the table on top */

/* ---- api_cluster.c: the cluster's sockets and server-side emits ---- */

void api_cluster_open(lua_State *L); /* adds sb.server_emit, fetch_sockets, … */
/* Makes this host receive server-side emits from other servers. */
void luah_cluster_bind(struct lua_host *lh);
/* The `server_events` handler of `event` in `nsp`, or NULL. */
struct handler *luah_find_server_event(const struct lua_host *lh, const char *nsp,
                                       const char *event);

/* ---- api_log.c: logging and exceptions ---- */

void api_log_open(lua_State *L); /* adds sb.log and sb.exception to the table on top */
/* True when the value at `idx` is an sb.exception object. */
bool api_is_exception(lua_State *L, int idx);
/* Raises what sb.throw(message) raises (does not return): uncaught, the client's `exception`
 * event with `message`; under pcall, the value {message = message}. */
int api_throw(lua_State *L, const char *message);

#endif
