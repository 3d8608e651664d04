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
    sb_reload_fn reload;
    sb_before_connect_fn before_connect;
    sb_before_join_fn before_join;
    int auth_priority;
    int intercept_priority;
};

/* Fills `out` (room for `max`, the number of loaded plugins) with the plugins that the gateways
 * of namespace `nsp` list as interceptors, each once; returns how many. */
typedef size_t (*plugins_nsp_guards_fn)(void *ud, const char *nsp, struct plugin **out, size_t max);

struct guard_call; /* guard.c */

struct plugins {
    struct plugin **list; /* owned, in load order */
    size_t n;
    struct plugin **auth; /* borrowed from list, by auth_priority */
    size_t nauth;
    struct plugin **global; /* borrowed from list: --interceptor plugins, by priority */
    size_t nglobal;
    struct bus *bus;          /* borrowed */
    struct registry *reg;     /* borrowed */
    uv_loop_t *loop;          /* borrowed: the clock of now_ms(), lent to plugins (ABI 1.2) */
    uint32_t auth_timeout_ms; /* --auth-timeout, for auth_timeout_ms() */
    /* ABI 1.4 guards (guard.c). */
    bool any_before_connect, any_before_join; /* a loaded plugin has the hook */
    plugins_nsp_guards_fn nsp_guards;         /* who guards a namespace, or NULL */
    void *nsp_guards_ud;
    struct guard_call *guard; /* the before_connect/before_join call running now, or NULL */
};

/* True when a plugin can be an interceptor (listed by a gateway or with --interceptor). */
static inline bool plugin_intercepts(const struct plugin *p)
{
    return p->before_event || p->after_reply || p->before_connect || p->before_join;
}

enum auth_outcome { AUTH_NONE = 0, AUTH_ACCEPTED = 1, AUTH_REFUSED = 2, AUTH_PENDING = 3 };

struct sb_auth_req;
/* Called once when an attempt that went pending finishes: `req` is borrowed for the call (take
 * user/claims/message out of it by setting the fields to NULL); the host frees it afterwards. */
typedef void (*auth_done_fn)(void *ud, struct sb_auth_req *req, enum auth_outcome outcome);

/*
 * One authentication attempt (sb_auth_req_t). One made by plugins_auth_start() is on the heap
 * and listed in the host's set of live requests (auth_resume() looks a pointer up there before
 * it touches it). It is freed when the attempt is over and no plugin owes an auth_resume() on
 * it: at once when the chain finished synchronously (the caller frees it), after `done` when it
 * finished later, or at the plugin's auth_resume() when the attempt was cancelled while the
 * plugin was working on it.
 */
struct sb_auth_req {
    const char *token;   /* borrowed, or a copy inside this allocation */
    const char *nsp;     /* idem */
    char *user;          /* owned: set by auth_set_user */
    json_t *claims;      /* new reference: set by auth_set_user */
    char *message;       /* owned: set by auth_set_message */
    uint64_t expires_ms; /* set by auth_set_expiry (ABI 1.5): Unix time in ms, 0 = never */
    /* Asynchronous attempts only (plugins_auth_start). */
    struct plugins *set;    /* borrowed */
    size_t next;            /* index in set->auth of the next plugin to ask */
    struct plugin *waiting; /* the plugin that answered SB_AUTH_PENDING and owes auth_resume() */
    int ended;              /* 0, or why the attempt was cancelled (SB_ETIMEOUT, SB_ECLOSED) */
    bool in_hook;           /* an authenticate hook is running on it */
    bool heap;              /* made by plugins_auth_start() */
    auth_done_fn done;      /* NULL once cancelled or finished */
    void *ud;
    char key[2 * sizeof(void *) + 3]; /* its key in the live set: its address in hex */
};

/* One event through the interceptors (sb_event_t). */
struct sb_event {
    struct sock *sock;   /* borrowed */
    const char *name;    /* borrowed */
    const char *gateway; /* borrowed: the handler's gateway name, NULL when there is none */
    json_t *args;        /* new reference: the arguments (an array), replaceable */
    /* owned reference: the attachments the placeholders of `args` stand for, or NULL */
    struct sio_bins *bins;
    char *args_text; /* owned cache */
    char *error;     /* owned: message of a refusal */
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
/* SIGHUP: calls every plugin's reload hook, in load order. */
void plugins_reload(struct plugins *ps);
/* Tells every plugin that a socket joined or left its namespace. */
void plugins_socket_event(struct plugins *ps, struct sock *s, bool connected);
/* Resolves a plugin NAME to a path: NAME itself when it contains '/' or ends in ".so",
 * otherwise <dir>/<NAME>.so in the first of the search directories where it exists. Returns a
 * new string or NULL. */
char *plugins_resolve(const char *name, const char *plugin_dir, const char *exe_dir);
/* Reads the dynamic symbol table of the ELF shared object at `path` and counts the symbols it
 * exports besides the descriptor (SB_PLUGIN_SYMBOL), leaving out those the toolchain adds
 * (reserved names such as __odr_asan.*, _init, _fini, _end). The first `max` names go to
 * `names` as new strings the caller frees. Returns the count (0 also when the file has no
 * section headers to tell), or SB_EIO (cannot read) / SB_EINVAL (not an ELF file of this
 * machine). The loader warns when it is not 0: a plugin must export only its descriptor. */
int plugins_extra_exports(const char *path, char **names, size_t max);

/*
 * Starts an attempt: runs the auth plugins on `token` (copied) for namespace `nsp` (copied) in
 * priority order until one accepts, refuses or answers SB_AUTH_PENDING. Returns:
 *   AUTH_ACCEPTED (req->user/claims hold the identity), AUTH_REFUSED (req->message may hold
 *   the reason) or AUTH_NONE (no plugin knew the token): finished; the caller reads *out and
 *   frees it with plugins_auth_free();
 *   AUTH_PENDING: a plugin will answer later; `done(ud, req, outcome)` is called once when the
 *   chain finishes (with AUTH_ACCEPTED, AUTH_REFUSED or AUTH_NONE), unless
 *   plugins_auth_cancel() is called first. *out is the handle for the cancel;
 *   SB_ENOMEM: nothing was started.
 */
int plugins_auth_start(struct plugins *ps, const char *token, const char *nsp, auth_done_fn done,
                       void *ud, struct sb_auth_req **out);
/* Ends a pending attempt without calling its `done`: `why` (SB_ETIMEOUT, SB_ECLOSED) is what the
 * plugin's late auth_resume() returns. The handle must not be used afterwards. */
void plugins_auth_cancel(struct sb_auth_req *req, int why);
/* Frees an attempt that finished synchronously. */
void plugins_auth_free(struct sb_auth_req *req);
/* Frees the requests plugins never resumed (after every fini), with a warning. */
void plugins_auth_abandoned(void);

/* The synchronous form, on a request the caller owns (token and nsp set): a plugin that answers
 * SB_AUTH_PENDING has the token refused, since nothing here can wait. Returns as
 * plugins_auth_start(); the caller clears req with auth_req_clear(). */
enum auth_outcome plugins_authenticate(struct plugins *ps, struct sb_auth_req *req);
void auth_req_clear(struct sb_auth_req *req);

/* ---- ABI 1.4 guards (guard.c) ---- */

/* Room for a refusal's message, with its NUL. */
#define PLUGINS_WHY_MAX 256

/* Tells the plugin layer how to find the plugins the gateways of a namespace list (the Lua
 * host's luah_nsp_interceptors()); NULL forgets it. */
void plugins_set_nsp_guards(struct plugins *ps, plugins_nsp_guards_fn fn, void *ud);
/*
 * Asks before_connect of the plugins that guard the socket's namespace: the global
 * interceptors and those its gateways list, each once, by priority. `s` has its identity and
 * namespace name but is not in the registry. Returns 0 (admitted), SB_EAUTH (refused: `why`,
 * PLUGINS_WHY_MAX bytes, holds the client's message) or SB_ENOMEM (also refused, `why` says
 * so).
 */
int plugins_guard_connect(struct plugins *ps, struct sock *s, char *why);
/*
 * Asks before_join, for `room`, of the `n` plugins in `list` (a gateway's interceptors, in
 * order; not all have the hook). `s` is connected. Returns 0 (allowed), SB_EAUTH (refused:
 * `why`, PLUGINS_WHY_MAX bytes, holds the message) or SB_ECLOSED (a hook disconnected the
 * socket).
 */
int plugins_guard_join(struct plugins *ps, struct plugin *const *list, size_t n, struct sock *s,
                       const char *room, char *why);
/* The same, asking the plugins that guard the socket's namespace (as plugins_guard_connect);
 * may also return SB_ENOMEM. For joins no gateway asked for (a plugin's socket_join()). */
int plugins_guard_join_nsp(struct plugins *ps, struct sock *s, const char *room, char *why);
/* True while a before_connect or before_join hook of `ps` runs. */
bool plugins_guard_running(const struct plugins *ps);
/* The host function socket_set_error(). */
int plugins_guard_set_error(sb_socket_t *sock, const char *message);

void sb_event_clear(struct sb_event *ev);
/* The plugin set serving socket `s` (its connection's host carries it), or NULL for a socket
 * without one (a unit test's). What the host functions given only a socket act on. */
struct plugins *plugins_of_sock(const struct sock *s);

#endif
