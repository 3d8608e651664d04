/*
 * switchboard plugin ABI, version 1 (minor 5).
 *
 * A plugin is a shared object that exports exactly one symbol, the descriptor named by
 * SB_PLUGIN_SYMBOL ("sb_plugin_entry"), of type sb_plugin_t. The server loads it with
 * dlopen(RTLD_NOW | RTLD_LOCAL), checks the descriptor's magic, ABI major version and size, calls
 * init() once, and then calls the hooks the descriptor fills in.
 *
 * Compatibility rules (the same ones Redis modules and SQLite extensions follow):
 *   - sb_plugin_t and sb_host_api_t only ever grow at their end. Each starts with its own size,
 *     so either side can tell which fields the other one knows about.
 *   - A change that is not an append (a removed or reordered field, a changed signature) bumps
 *     SB_PLUGIN_ABI_MAJOR; the server refuses a plugin whose major differs from its own.
 *   - An appended field bumps SB_PLUGIN_ABI_MINOR; an older plugin (smaller minor, smaller size)
 *     still loads and the fields it does not have read as absent.
 *
 * Threading: every hook and every host function runs on the server's single event-loop thread.
 * Hooks must not block; they may keep state in the pointer init() returned.
 *
 * Ownership: strings and handles the host passes to a hook are borrowed and valid until the hook
 * returns (one exception: a request an authenticate hook left SB_AUTH_PENDING lives until the
 * plugin's auth_resume()). Strings a plugin passes to the host are copied by the host before the
 * call returns.
 */
#ifndef SWITCHBOARD_PLUGIN_H
#define SWITCHBOARD_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "errors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SB_PLUGIN_MAGIC     0x5342504cu /* "SBPL" */
#define SB_PLUGIN_ABI_MAJOR 1
#define SB_PLUGIN_ABI_MINOR 5
#define SB_PLUGIN_SYMBOL    "sb_plugin_entry"

#if defined(__GNUC__)
#define SB_PLUGIN_EXPORT     __attribute__((visibility("default")))
#define SB_PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define SB_PLUGIN_EXPORT
#define SB_PRINTF_LIKE(f, a)
#endif

/* Log levels, from the most to the least important. */
typedef enum sb_log_level {
    SB_LOG_ERROR = 0,
    SB_LOG_WARN = 1,
    SB_LOG_INFO = 2,
    SB_LOG_DEBUG = 3,
} sb_log_level_t;

/* Opaque handles. */
typedef struct sb_host sb_host_t;         /* the server instance */
typedef struct sb_socket sb_socket_t;     /* one client socket in one namespace */
typedef struct sb_auth_req sb_auth_req_t; /* one authentication attempt */
typedef struct sb_event sb_event_t;       /* one incoming event on its way to a gateway */
typedef struct sb_reply sb_reply_t;       /* one reply a gateway handler returned */

/* What an authenticate hook decides. */
typedef enum sb_auth_verdict {
    SB_AUTH_DECLINE = 0, /* not my kind of token: ask the next auth plugin */
    SB_AUTH_ACCEPT = 1,  /* valid: the identity was set with auth_set_user() */
    SB_AUTH_REFUSE = 2,  /* invalid: the connection is refused (see auth_set_message()) */
    SB_AUTH_PENDING = 3, /* ABI 1.1: the answer comes later through auth_resume() (see there) */
} sb_auth_verdict_t;

/* What an interceptor decides about an event or a reply. */
typedef enum sb_verdict {
    SB_CONTINUE = 0, /* pass it on to the next interceptor, then the handler / the client */
    SB_DROP = 1,     /* drop it silently */
    SB_REFUSE = 2,   /* drop it and send the client an `exception` event (event_set_error()) */
} sb_verdict_t;

/*
 * A broadcast, as given to sb_host_api_t.emit(). The fields mirror socket.io's
 * `io.of(nsp).to(rooms).except(except).emit(event, ...args)`.
 */
typedef struct sb_emit {
    size_t size;              /* sizeof(sb_emit_t) as the plugin was compiled */
    const char *nsp;          /* namespace; NULL means "/" */
    const char *const *rooms; /* target rooms; none means every socket of the namespace */
    size_t nrooms;
    const char *const *except; /* rooms (a socket id is a room) whose sockets are skipped */
    size_t nexcept;
    const char *event;     /* event name, required */
    const char *args_json; /* the arguments as a JSON array text; NULL means [] */
} sb_emit_t;

/*
 * The function table the host gives init(). It starts with its own size: a plugin that wants a
 * function appended after its own ABI minor must check `size` before calling it.
 */
typedef struct sb_host_api {
    uint32_t size;      /* sizeof(sb_host_api_t) in the host */
    uint16_t abi_major; /* SB_PLUGIN_ABI_MAJOR of the host */
    uint16_t abi_minor; /* SB_PLUGIN_ABI_MINOR of the host */

    /* Writes a log line, prefixed with the plugin's name, if `level` is enabled. */
    void (*log_msg)(sb_host_t *host, int level, const char *fmt, ...) SB_PRINTF_LIKE(3, 4);

    /* Returns the message of an error code (static string). */
    const char *(*strerror)(int err);

    /* Broadcasts an event through the bus (every instance). Returns 0 or SB_EINVAL/SB_EJSON. */
    int (*emit)(sb_host_t *host, const sb_emit_t *emit);

    /* Socket accessors. Returned strings are borrowed, valid until the hook returns. */
    const char *(*socket_id)(const sb_socket_t *sock);
    const char *(*socket_user)(const sb_socket_t *sock); /* NULL for an anonymous socket */
    const char *(*socket_nsp)(const sb_socket_t *sock);
    const char *(*socket_claims)(const sb_socket_t *sock); /* JSON object text, "{}" if none */
    /* Room membership. Since 1.4 a join first asks the before_join hooks of the plugins that
     * guard the socket's namespace (see there): SB_EAUTH when one refused. Both return
     * SB_ECLOSED for a socket that is not connected (one given to before_connect); a join
     * inside a before_connect or before_join hook returns SB_ESTATE. */
    int (*socket_join)(sb_socket_t *sock, const char *room);
    int (*socket_leave)(sb_socket_t *sock, const char *room);
    /* Sends one event to this socket only. `args_json` is a JSON array text or NULL. Returns
     * SB_ECLOSED for a socket that is not connected. */
    int (*socket_emit)(sb_socket_t *sock, const char *event, const char *args_json);

    /* Authentication request accessors: valid inside authenticate(), and on a request it left
     * SB_AUTH_PENDING until auth_resume() (the token and namespace strings too). */
    const char *(*auth_token)(const sb_auth_req_t *req); /* never NULL */
    const char *(*auth_nsp)(const sb_auth_req_t *req);   /* "/" for a plain WebSocket */
    /* Sets the identity of an accepted token. `claims_json` is a JSON object text or NULL.
     * Returns 0, SB_EINVAL (empty user id) or SB_EJSON (claims not an object). */
    int (*auth_set_user)(sb_auth_req_t *req, const char *user_id, const char *claims_json);
    /* Sets the message a refused client sees (default "not authorized"). */
    int (*auth_set_message)(sb_auth_req_t *req, const char *message);

    /* Event accessors (valid inside before_event() and after_reply()). */
    sb_socket_t *(*event_socket)(const sb_event_t *ev);
    const char *(*event_name)(const sb_event_t *ev);
    const char *(*event_args)(const sb_event_t *ev); /* JSON array text of the arguments */
    /* Replaces the arguments the handler will see. Returns 0 or SB_EJSON (not an array). */
    int (*event_set_args)(sb_event_t *ev, const char *args_json);
    /* Sets the message of the `exception` the client gets after SB_REFUSE. */
    int (*event_set_error)(sb_event_t *ev, const char *message);

    /* Reply accessors (valid inside after_reply()). */
    const char *(*reply_event)(const sb_reply_t *reply);
    const char *(*reply_args)(const sb_reply_t *reply); /* JSON array text */

    /* ---- ABI 1.1 ---- */

    /* The loop's clock in milliseconds (monotonic, cached per loop iteration). */
    uint64_t (*now_ms)(sb_host_t *host);
    /* Disconnects a socket from its namespace (Socket.IO DISCONNECT; a plain WebSocket is
     * closed with 1000); `close` non-zero also closes its connection. Safe inside a hook of
     * that socket. Returns 0 or SB_ECLOSED. */
    int (*socket_disconnect)(sb_socket_t *sock, int close);
    /* The file name (without ".lua") of the gateway whose handler the event is going to. */
    const char *(*event_gateway)(const sb_event_t *ev);
    /*
     * Answers an authentication whose authenticate() returned SB_AUTH_PENDING. Call it from the
     * loop thread, after the hook returned, exactly once per SB_AUTH_PENDING, with SB_AUTH_ACCEPT
     * (after auth_set_user()), SB_AUTH_REFUSE (after auth_set_message(), optionally) or
     * SB_AUTH_DECLINE (the next auth plugin is asked, and may itself answer SB_AUTH_PENDING).
     *
     * Lifetime: `req` stays valid, with every auth_* function usable on it, from the hook that
     * returned SB_AUTH_PENDING until this call returns, whatever happens to the connection
     * meanwhile: the host keeps it alive for the plugin. If the attempt ended before (the
     * host's --auth-timeout passed: SB_ETIMEOUT; the client went away or left the namespace:
     * SB_ECLOSED), the call only releases `req` and
     * returns SB_ETIMEOUT or SB_ECLOSED: the verdict is ignored. After this call `req` is gone;
     * do not keep the pointer. A pointer that is not a request waiting for this call (a second
     * call, a request that never pended) is detected and answered with SB_EINVAL or
     * SB_ESTATE without being touched, as long as its memory was not reused by a newer request.
     *
     * The plugin is not told when an attempt ends early: bound your own work with a timeout
     * shorter than auth_timeout_ms(). A request never resumed is freed at shutdown, after
     * fini(), with a warning.
     *
     * The answer takes effect before the call returns: the client may be told, and its
     * connection handlers run, inside it.
     * Returns 0, SB_ETIMEOUT, SB_ECLOSED, SB_EINVAL (not a waiting request, or a verdict other
     * than those three) or SB_ESTATE (called inside the authenticate hook, before it returned
     * SB_AUTH_PENDING, or while another plugin's hook runs on it).
     *
     * Declared in 1.1 but working since 1.2: a 1.1 host refuses a token whose plugin answers
     * SB_AUTH_PENDING and returns SB_EUNSUPPORTED here. A plugin that pends checks
     * SB_HOST_HAS(api, loop) first.
     */
    int (*auth_resume)(sb_auth_req_t *req, sb_auth_verdict_t verdict);

    /* ---- ABI 1.2 ---- */

    /*
     * The server's libuv event loop, a `uv_loop_t *`, borrowed for the life of the process, so
     * that a plugin can do its own non-blocking I/O (an HTTP or Redis client) on the thread its
     * hooks run on. The plugin must link the same shared libuv as the server (libuv1,
     * dynamically; pkg-config libuv) and use the loop only from hooks and from its own libuv
     * callbacks. It must not run, stop or close the loop, and must close every handle it opened
     * as soon as its work ends: a handle left open keeps the server running after a shutdown
     * was asked for, and the loop does not run again after fini() (a handle still open then can
     * no longer be closed cleanly).
     */
    void *(*loop)(sb_host_t *host);
    /* How long (ms, --auth-timeout) the host waits for auth_resume() before it refuses the
     * connection with "authentication timed out". */
    uint32_t (*auth_timeout_ms)(sb_host_t *host);

    /* ---- ABI 1.4 ---- */

    /*
     * Sets the message a refusal by before_connect() or before_join() gives (see there),
     * instead of the host's default ("connection refused by NAME", "join refused by NAME").
     * Valid only inside those two hooks, on the socket they were given. The message is copied;
     * the host keeps at most 255 bytes of it (cut at a character boundary). Returns 0,
     * SB_EINVAL (NULL, or not UTF-8) or SB_ESTATE (called outside those hooks, or for another
     * socket).
     */
    int (*socket_set_error)(sb_socket_t *sock, const char *message);

    /* ---- ABI 1.5 ---- */

    /*
     * Sets when the identity of an accepted token stops being valid: `unix_ms`, wall-clock
     * milliseconds since the Unix epoch (a JWT's `exp` times 1000), or 0 for never, the
     * default. Call it beside auth_set_user(), inside authenticate() or before auth_resume();
     * an identity forgotten by SB_AUTH_DECLINE forgets its expiry too.
     *
     * When that time comes the host asks a Socket.IO client for a new token: the event
     * `refresh` with an ack, which the client answers with the token (a string, or an object
     * with a string `token`). The token goes through the auth plugins again, for the socket's
     * namespace, as a CONNECT's would; an accepted one must name the same user id, and its
     * expiry (this function again, or 0) replaces the old one. A socket whose client does not
     * answer within --auth-refresh-grace, answers a token that is refused or for another
     * user, or whose new token has expired already, gets the `exception` event with the
     * reason, then a server DISCONNECT (reason "token expired" / "token refused" for the
     * gateways' on_disconnect). A plain WebSocket, which has no acks, is closed with 4401
     * "token expired" at that time. Nothing is asked when the expiry is never set.
     *
     * Returns 0 or SB_EINVAL (NULL request).
     */
    int (*auth_set_expiry)(sb_auth_req_t *req, uint64_t unix_ms);
} sb_host_api_t;

/* True when the host's table, which may be older than the plugin, has the function `fn`:
 * `if (SB_HOST_HAS(api, socket_emit)) api->socket_emit(...)`. */
#define SB_HOST_HAS(api, fn) ((api)->size >= offsetof(sb_host_api_t, fn) + sizeof((api)->fn))

/* Writes a printf-style reason into init()'s `err` buffer and returns `rc`:
 * `return sb_init_error(err, errlen, SB_EINVAL, "bad CONFIG: %s", why);` */
static inline int sb_init_error(char *err, size_t errlen, int rc, const char *fmt, ...)
    SB_PRINTF_LIKE(4, 5);
static inline int sb_init_error(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Hook types. `state` is what init() stored; it may be NULL. */
typedef int (*sb_init_fn)(const sb_host_api_t *api, sb_host_t *host, const char *config,
                          void **state, char *err, size_t errlen);
typedef void (*sb_fini_fn)(void *state);
typedef sb_auth_verdict_t (*sb_authenticate_fn)(void *state, sb_auth_req_t *req);
typedef sb_verdict_t (*sb_before_event_fn)(void *state, sb_event_t *ev);
typedef sb_verdict_t (*sb_after_reply_fn)(void *state, sb_event_t *ev, sb_reply_t *reply);
typedef void (*sb_socket_hook_fn)(void *state, sb_socket_t *sock);
typedef void (*sb_reload_fn)(void *state);
typedef sb_verdict_t (*sb_before_connect_fn)(void *state, sb_socket_t *sock);
typedef sb_verdict_t (*sb_before_join_fn)(void *state, sb_socket_t *sock, const char *room);

/*
 * The descriptor a plugin exports as SB_PLUGIN_SYMBOL. Fields are only ever appended.
 *
 * init(): called once at load with the host table, the host handle (keep both), and CONFIG
 * from `--plugin NAME=CONFIG` (NULL when absent). Returns 0, or a negative sb_err_t after
 * writing a one-line reason into `err`; the server then refuses to start. Optional.
 * fini(): called once at shutdown. Optional.
 * authenticate(): turns a token into an identity. Auth plugins run in ascending auth_priority.
 * It may answer SB_AUTH_PENDING and give its verdict later with auth_resume() (the handshake
 * waits, at most --auth-timeout); the request is then the plugin's to resume, see there.
 * before_event(): sees an event before the gateway handler; after_reply(): sees each reply the
 * handler returned before it is sent. Interceptors run in ascending intercept_priority, for the
 * gateways that list the plugin in their `interceptors`, and for every gateway when the plugin
 * is named with `--interceptor NAME` (global).
 * socket_connected() / socket_disconnected() (1.1): every socket's arrival and departure.
 * reload() (1.3): SIGHUP.
 * before_connect() / before_join() (1.4): may refuse a namespace connection or a room join;
 * asked of the plugins that guard the namespace or the gateway (see the fields below).
 */
typedef struct sb_plugin {
    uint32_t magic;     /* SB_PLUGIN_MAGIC */
    uint16_t abi_major; /* SB_PLUGIN_ABI_MAJOR the plugin was built against */
    uint16_t abi_minor; /* SB_PLUGIN_ABI_MINOR the plugin was built against */
    uint32_t size;      /* sizeof(sb_plugin_t) the plugin was built against */

    const char *name;    /* short name, e.g. "auth-jwt"; interceptors are listed by it */
    const char *version; /* the plugin's own version string */

    sb_init_fn init;
    sb_fini_fn fini;

    int auth_priority;
    sb_authenticate_fn authenticate;

    int intercept_priority;
    sb_before_event_fn before_event;
    sb_after_reply_fn after_reply;

    /* ---- ABI 1.1 ---- */

    /* Told when any socket joins a namespace, and when it leaves (for per-socket state). */
    sb_socket_hook_fn socket_connected;
    sb_socket_hook_fn socket_disconnected;

    /* ---- ABI 1.3 ---- */

    /* Called on the loop thread when the server gets SIGHUP (after the gateways are reloaded),
     * for each plugin in load order: re-read keys, rules, reopen a log file. Must not block for
     * long; a failure is the plugin's to log, and its previous configuration stays in force. */
    sb_reload_fn reload;

    /* ---- ABI 1.4 ---- */

    /* An older host does not know these two fields and never calls them: a plugin that relies
     * on them checks SB_HOST_HAS(api, socket_set_error) in init(), and refuses to start, or
     * falls back to what it can do without them. A plugin that has only these hooks can be
     * listed as an interceptor all the same. `sock` and `room` are borrowed for the call. */

    /*
     * Asked before a socket joins a namespace, after its identity is known (its token, if any,
     * was accepted), so socket_id/user/nsp/claims() work on `sock`; the socket is not in the
     * registry yet: socket_leave/emit/disconnect() on it return SB_ECLOSED (socket_join()
     * SB_ESTATE, as in any guard). SB_CONTINUE admits it (the next plugin is asked);
     * SB_REFUSE refuses it with the message set by socket_set_error(), or "connection refused
     * by NAME". A CONNECT cannot go unanswered, so SB_DROP and any other value refuse too. Who
     * sees what:
     *   - Socket.IO: CONNECT_ERROR `44/nsp,{"message":"…"}`; the connection stays open, other
     *     namespaces may still be joined on it (as for a refused CONNECT token);
     *   - plain WebSocket (namespace "/"): the connection is closed with 4401 and the message
     *     as reason (cut to 123 bytes), as for a handshake token refused after the upgrade.
     * A refused socket never reaches socket_connected(), the gateways' on_connect, or any
     * room; nothing is told when it goes.
     *
     * Asked of the plugins that guard the namespace: the global interceptors (--interceptor)
     * and those every gateway of that namespace lists in `interceptors` (each plugin once, in
     * ascending intercept_priority). A plugin loaded with --plugin only is not asked.
     */
    sb_before_connect_fn before_connect;

    /*
     * Asked before a connected socket joins `room` (borrowed) at a gateway's or a plugin's
     * request: the Lua socket:join(), and the host's socket_join(). SB_CONTINUE lets it (the
     * next plugin is asked); anything else refuses it and nothing is joined: socket:join()
     * raises the exception sb.throw() would, with the message set by socket_set_error() or
     * "join refused by NAME" (uncaught, the client gets it as the `exception` event);
     * socket_join() returns SB_EAUTH. A refused join of several rooms (socket:join({a, b}))
     * joins none of them. A hook may disconnect the socket (socket_disconnect()): the join then
     * fails with "socket is disconnected" / SB_ECLOSED. socket_join() called inside this hook or
     * before_connect() returns SB_ESTATE (a guard cannot ask the guards).
     *
     * Asked of the interceptors of the gateway whose code calls socket:join() (the globals and
     * its own `interceptors`, as for its events); for socket_join() from a plugin, of the
     * plugins that guard the socket's namespace (as before_connect()). Not asked for the rooms
     * the server joins itself (the socket's id, `user:<id>`, `authenticated`), nor for
     * server-side joins of many sockets (sb.sockets_join(), op:sockets_join(), and socketsJoin /
     * REMOTE_JOIN requests from other servers of the cluster or the Redis emitter): those
     * come from trusted server code, on every instance, and have no one to answer.
     */
    sb_before_join_fn before_join;
} sb_plugin_t;

/* Fills in the version fields of a descriptor: `SB_PLUGIN_DEFINE { .name = "x", ... };` */
#define SB_PLUGIN_DEFINE                                                                           \
    SB_PLUGIN_EXPORT const sb_plugin_t sb_plugin_entry;                                            \
    SB_PLUGIN_EXPORT const sb_plugin_t sb_plugin_entry =
#define SB_PLUGIN_HEADER                                                                           \
    .magic = SB_PLUGIN_MAGIC, .abi_major = SB_PLUGIN_ABI_MAJOR, .abi_minor = SB_PLUGIN_ABI_MINOR,  \
    .size = sizeof(sb_plugin_t)

#ifdef __cplusplus
}
#endif

#endif
