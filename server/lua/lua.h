/*
 * The Lua host: one LuaJIT state on the loop thread runs every gateway. A gateway is one file of
 * the scripts directory that returns a table: its namespace, the interceptor plugins it uses,
 * on_connect / on_disconnect hooks, and one handler per event. docs/lua-api.md is the user's
 * side of this file.
 *
 * The API is one module (`sb`, also `require "switchboard"`) built by one C file per area:
 * api_socket.c (the socket object), api_emit.c (broadcasts), api_json.c (JSON and conversion),
 * api_log.c (logging and exceptions). Every call into Lua is protected and gets a traceback.
 */
#ifndef SB_LUA_HOST_H
#define SB_LUA_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "../bus/bus.h"
#include "../plugin/plugin.h"

struct lua_State;
struct lua_host;

/* One reply a handler returned: sent to the calling socket after the after-interceptors. */
struct reply {
    char *event;  /* owned */
    json_t *args; /* new reference: a JSON array */
};

/* What one handler call produced. */
struct lua_result {
    struct reply *replies; /* owned */
    size_t nreplies;
    json_t *ack;        /* new reference: the ack arguments (an array), or NULL */
    char *error;        /* owned: the `exception` message when the handler failed, else NULL */
    json_t *error_data; /* new reference: a structured exception message, or NULL */
};

void lua_result_clear(struct lua_result *r);

struct gateway {
    char *file;                   /* owned: path of the script */
    char *name;                   /* owned: file name without directory and ".lua" */
    char *nsp;                    /* owned */
    struct plugin **interceptors; /* owned array of borrowed plugins, by intercept priority */
    size_t ninterceptors;
    int ref;        /* the gateway table in the Lua registry */
    int on_connect; /* function refs or LUA_NOREF */
    int on_disconnect;
};

struct handler {
    struct gateway *gw; /* borrowed */
    int ref;            /* the handler function */
    char event[];       /* owned */
};

/* Creates the state and loads every *.lua of `scripts_dir`. On failure the reason (with file
 * and line) was logged and a negative sb_err_t is returned. */
int luah_new(struct lua_host **out, uv_loop_t *loop, const char *scripts_dir, struct bus *bus,
             struct plugins *plugins);
void luah_free(struct lua_host *lh);

/* True when a gateway declared namespace `nsp`. */
bool luah_nsp_exists(const struct lua_host *lh, const char *nsp);
/* The handler of `event` in `nsp`, or NULL. */
struct handler *luah_find(const struct lua_host *lh, const char *nsp, const char *event);

/* Runs a handler with the socket and `args` (borrowed JSON array). Fills `out`. */
void luah_call_handler(struct lua_host *lh, struct handler *h, struct sock *s, const json_t *args,
                       struct lua_result *out);

/* Runs every on_connect hook of the socket's namespace. Returns 0, or SB_ELUA with the
 * exception message in *message (owned by the caller) when a hook raised an error. */
int luah_call_connect(struct lua_host *lh, struct sock *s, char **message);
/* Runs every on_disconnect hook and forgets the socket's Lua object. */
void luah_call_disconnect(struct lua_host *lh, struct sock *s, const char *reason);

/* Number of gateways (for logs and tests). */
size_t luah_gateway_count(const struct lua_host *lh);

#endif
