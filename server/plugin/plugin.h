/*
 * The plugin host: loads plugin shared objects, checks their ABI, and implements the function
 * table (sb_host_api_t) they call back into. The opaque handles of the public ABI are these
 * structs: sb_socket_t is struct sock, and struct sb_event / sb_reply / sb_auth_req below.
 */
#ifndef SB_PLUGIN_HOST_H
#define SB_PLUGIN_HOST_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <switchboard/plugin.h>
#include <uv.h>

#include "../bus/bus.h"
#include "../config/config.h"

struct plugins;
struct plugin;

/* The per-plugin handle given to init() and passed back in host calls. */
struct sb_host {
    struct plugin *plugin;
};

struct plugin {
    char *path;              /* owned */
    void *dl;                /* dlopen handle */
    const sb_plugin_t *desc; /* borrowed from the shared object */
    void *state;             /* what init() stored */
    struct plugins *set;     /* borrowed */
    struct sb_host host;     /* the handle this plugin was given */
    /* Hooks the descriptor has (NULL when its size says the field is absent). */
    sb_authenticate_fn authenticate;
    sb_before_event_fn before_event;
    sb_after_reply_fn after_reply;
    sb_socket_hook_fn socket_connected;
    sb_socket_hook_fn socket_disconnected;
    int auth_priority;
    int intercept_priority;
};

struct plugins {
    struct plugin **list; /* owned, in load order */
    size_t n;
    struct plugin **auth; /* borrowed from list, by auth_priority */
    size_t nauth;
    struct plugin **global; /* borrowed from list: --interceptor plugins, by priority */
    size_t nglobal;
    struct bus *bus;      /* borrowed */
    struct registry *reg; /* borrowed */
    uv_loop_t *loop;      /* borrowed: the clock of now_ms() */
};

/* One authentication attempt (sb_auth_req_t). */
struct sb_auth_req {
    const char *token; /* borrowed */
    const char *nsp;   /* borrowed */
    char *user;        /* owned: set by auth_set_user */
    json_t *claims;    /* new reference: set by auth_set_user */
    char *message;     /* owned: set by auth_set_message */
};

/* One event through the interceptors (sb_event_t). */
struct sb_event {
    struct sock *sock;   /* borrowed */
    const char *name;    /* borrowed */
    const char *gateway; /* borrowed: the handler's gateway name, NULL when there is none */
    json_t *args;        /* new reference: the arguments (an array), replaceable */
    char *args_text;     /* owned cache */
    char *error;         /* owned: message of a refusal */
};

/* One reply through the after-interceptors (sb_reply_t). */
struct sb_reply {
    const char *event; /* borrowed */
    json_t *args;      /* borrowed array */
    char *args_text;   /* owned cache */
};

extern const sb_host_api_t plugin_host_api;

/* Loads every plugin of the configuration. On failure prints a one-line reason naming the file
 * to the log and returns a negative sb_err_t (the server then exits). */
int plugins_load(struct plugins *ps, const struct config *cfg, const char *exe_dir, uv_loop_t *loop,
                 struct bus *bus, struct registry *reg);
/* Loads one plugin from `path` (with `config`); used by plugins_load and the tests. */
int plugins_load_one(struct plugins *ps, const char *path, const char *config);
/* Calls every fini() and unloads. */
void plugins_unload(struct plugins *ps);
struct plugin *plugins_find(const struct plugins *ps, const char *name);
/* Sorts interceptors by priority (stable: load order breaks ties). */
void plugins_sort_interceptors(struct plugin **v, size_t n);
/* Tells every plugin that a socket joined or left its namespace. */
void plugins_socket_event(struct plugins *ps, struct sock *s, bool connected);
/* Resolves a plugin NAME to a path: NAME itself when it contains '/' or ends in ".so",
 * otherwise <dir>/<NAME>.so in the first of the search directories where it exists. Returns a
 * new string or NULL. */
char *plugins_resolve(const char *name, const char *plugin_dir, const char *exe_dir);

enum auth_outcome { AUTH_NONE = 0, AUTH_ACCEPTED = 1, AUTH_REFUSED = 2 };

/* Runs the auth plugins on a token in priority order until one accepts or refuses. On
 * AUTH_ACCEPTED req->user/claims hold the identity; on AUTH_REFUSED req->message may hold the
 * reason. AUTH_NONE: no plugin knew the token. The caller clears req with auth_req_clear(). */
enum auth_outcome plugins_authenticate(struct plugins *ps, struct sb_auth_req *req);
void auth_req_clear(struct sb_auth_req *req);

void sb_event_clear(struct sb_event *ev);
/* Tells the host API which plugin set (and so which registry) socket_join/leave act on. */
void plugin_host_bind(struct plugins *ps);

#endif
