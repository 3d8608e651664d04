/*
 * The Lua host: one LuaJIT state on the loop thread runs every gateway. A gateway is one file of
 * the scripts directory that returns a table: its namespace, the interceptor plugins it uses,
 * on_connect / on_disconnect hooks, and one handler per event. docs/lua-api.md is the user's
 * side of this file.
 *
 * The API is one module (`sb`, also `require "switchboard"`) built by one C file per area:
 * api_socket.c (the socket object), api_emit.c (broadcasts), api_cluster.c (the sockets of the
 * whole cluster: fetch_sockets, sockets_join, server_emit), api_redis.c (redis.call and
 * redis.pcall), api_timer.c (sb.after, sb.every), api_json.c (JSON and conversion) and
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
    char *event;           /* owned */
    json_t *args;          /* new reference: a JSON array */
    struct sio_bins *bins; /* owned reference: the attachments of its placeholders, or NULL */
};

/* What one handler call produced. */
struct lua_result {
    struct reply *replies; /* owned */
    size_t nreplies;
    json_t *ack; /* new reference: the ack arguments (an array), or NULL (replies, an error) */
    struct sio_bins *ack_bins; /* owned reference: the attachments of the ack, or NULL */
    /* The handler returned no value (ack []) or one nil (ack [null]): a Socket.IO client that
     * asked for an ack gets it, plain JSON gets no frame. */
    bool ack_empty;
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
    struct sb_map events;        /* event name -> struct handler (owned) */
    struct sb_map server_events; /* server-side emit name -> struct handler (owned) */
    unsigned refs;               /* the host's list, plus every run of its code not finished yet */
    struct lua_timer *timers;    /* timers its code started (cancelled when it is unloaded) */
    char **modules;              /* owned: the lib modules it required (a change reloads it) */
    size_t nmodules;
};

struct handler {
    struct gateway *gw; /* borrowed */
    int ref;            /* the handler function */
    char event[];       /* owned */
};

/* Limits and options of gateway code. */
struct lua_limits {
    uint32_t time_ms;          /* a run's CPU budget, 0 = none */
    uint64_t memory;           /* the Lua heap's cap in bytes, 0 = none */
    bool trusted;              /* gateways see every standard library (io, os, debug, …) */
    uint32_t redis_timeout_ms; /* redis.call() deadline */
};

/* Creates the state and loads every *.lua of `scripts_dir`. On failure the reason (with file
 * and line) was logged and a negative sb_err_t is returned. */
int luah_new(struct lua_host **out, uv_loop_t *loop, const char *scripts_dir, struct bus *bus,
             struct plugins *plugins, const struct lua_limits *limits);
/* Watches the scripts directory and reloads what changes (and everything on luah_reload_all).
 * Returns 0 or a negative sb_err_t (the server runs on without hot reload). */
int luah_watch(struct lua_host *lh);
/* Reloads every gateway (SIGHUP). */
void luah_reload_all(struct lua_host *lh);
/* Stops watching and timers; handles close on the next loop iterations. */
void luah_close(struct lua_host *lh);
/* Appends the gateways' lines to /metrics (load status, Lua memory, waiting code). */
void luah_metrics(struct sbuf *out, void *ud);
void luah_free(struct lua_host *lh);

/* True when a gateway declared namespace `nsp`. */
bool luah_nsp_exists(const struct lua_host *lh, const char *nsp);
/* The interceptors the gateways of `nsp` list (globals included), each once, into `out` (room
 * for `max`); returns how many. `ud` is the struct lua_host: this is the plugin layer's
 * plugins_nsp_guards_fn, who guards a namespace (ABI 1.4 before_connect / before_join). */
size_t luah_nsp_interceptors(void *ud, const char *nsp, struct plugin **out, size_t max);
/* The handler of `event` in `nsp`, or NULL. */
struct handler *luah_find(const struct lua_host *lh, const char *nsp, const char *event);

/* What a handler produced: `s` is the socket, or NULL when it went away while the handler
 * waited; `res` is borrowed (cleared after the call). */
typedef void (*luah_handler_done)(void *ud, struct sock *s, struct lua_result *res);

/* Runs a handler with the socket and `args` (borrowed JSON array, whose placeholders stand for
 * `bins`, borrowed, NULL = none: they reach Lua as sb.binary values) in a coroutine of its own.
 * `done` is called exactly once: before this returns when the handler did not wait, or later
 * (it waited for Redis). The handler's gateway stays alive until then (gateway_ref). */
void luah_call_handler(struct lua_host *lh, struct handler *h, struct sock *s, const json_t *args,
                       const struct sio_bins *bins, luah_handler_done done, void *ud);

/* Keeps a gateway (and its interceptor list) alive across a reload, until the matching unref. */
void gateway_ref(struct gateway *gw);
void gateway_unref(struct lua_host *lh, struct gateway *gw);

/* Runs every on_connect hook of the socket's namespace. A hook that raises (now or after
 * waiting) refuses the socket: it gets the `exception` event, then a server disconnect. */
void luah_call_connect(struct lua_host *lh, struct sock *s);
/* The socket's identity changed: its Lua object forgets the claims it cached. */
void luah_sock_identity(struct lua_host *lh, struct sock *s);
/* Runs every on_disconnect hook and forgets the socket's Lua object. */
void luah_call_disconnect(struct lua_host *lh, struct sock *s, const char *reason);

/* Number of gateways (for logs and tests). */
size_t luah_gateway_count(const struct lua_host *lh);

#endif
