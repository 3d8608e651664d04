/*
 * Shared between the files of server/lua only: the host's state and the helpers each API area
 * registers or uses.
 */
#ifndef SB_LUA_API_H
#define SB_LUA_API_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lua.h"

struct lua_nsp {
    struct map events;        /* event name -> struct handler (owned) */
    struct map server_events; /* server-side emits from other servers -> struct handler */
    struct gateway **gws;     /* owned array of borrowed gateways */
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
    struct map nsps; /* name -> struct lua_nsp (owned) */
    /* The namespace of the gateway whose code is running: broadcasts without sb.of() go there. */
    const char *current_nsp;
    struct gateway *current_gw; /* the gateway whose code is running, for log lines */
    int traceback_ref;          /* debug.traceback, kept before the sandbox hides `debug` */
};

/* The host that owns `L`. */
struct lua_host *luah_from(lua_State *L);

/* Calls the function below `nargs` arguments on the stack, protected, with a traceback. On
 * error logs `what` and the traceback, counts it, and leaves the error object on the stack
 * (returns non-zero); on success leaves the results (LUA_MULTRET). */
int luah_pcall(struct lua_host *lh, int nargs, const char *what);

/* Turns the error object on the top of the stack into the message the client sees: the
 * message of sb.exception(...) (*data set when it is not a string), otherwise "Internal server
 * error". Pops it. Returns a new string. */
char *luah_error_message(lua_State *L, json_t **data);

/* Creates the state with the sb module and the sandbox (host.c). */
lua_State *luah_state_new(struct lua_host *lh);
/* Pushes a fresh environment table whose globals fall back to the sandbox. */
void luah_push_env(lua_State *L);
/* Installs the global `require` gateways use (gateway.c). */
void luah_require_open(lua_State *L);

/* ---- api_json.c: conversion and the sb.json module ---- */

/* Pushes `v` as a Lua value; JSON null is sb.null inside tables and nil at the top. */
void json_push(lua_State *L, const json_t *v, bool top);
/* Converts the Lua value at `idx` to JSON. Returns a new reference, or NULL with a reason in
 * `err` (functions, NaN, cycles, invalid UTF-8). */
json_t *json_from_lua(lua_State *L, int idx, char *err, size_t errlen);
/* Converts the values at stack positions [from, to] to a JSON array (error: NULL + err). */
json_t *json_array_from_lua(lua_State *L, int from, int to, char *err, size_t errlen);
void api_json_open(lua_State *L); /* adds sb.json, sb.null, sb.array to the table on top */

/* ---- api_socket.c: the socket object ---- */

void api_socket_open(lua_State *L);
/* Pushes the Lua object of `s`, creating it on first use. */
void api_socket_push(struct lua_host *lh, struct sock *s);
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

#endif
