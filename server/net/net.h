/*
 * The network edge: libwebsockets on the server's libuv loop. One lws protocol serves plain
 * HTTP (health, readiness, metrics, static files) and both WebSocket codecs; the handshake
 * decides which codec a connection speaks and who it belongs to. This layer owns connections:
 * it creates them at the upgrade, frees them when lws closes them, runs their timers, and
 * implements struct conn_transport for the layers below.
 */
#ifndef SB_NET_H
#define SB_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "../config/config.h"
#include "../pipeline/pipeline.h"

struct lws;
struct lws_context;

/* Seconds a client has to send the whole header of a request (or an upgrade), from its first
 * byte; a slower one is disconnected (server.c, net_start()). */
#define NET_HEADER_TIMEOUT_S 5

/* The most bytes of queued WebSocket frames handed to one send(). */
#define NET_COALESCE_MAX (64 * 1024)

/* One connection of the flush list, with its socket to sort by. */
struct net_flush {
    struct conn *c; /* borrowed; NULL when it closed after queueing */
    int fd;
};

struct net {
    struct lws_context *ctx;
    uv_loop_t *loop;
    const struct config *cfg; /* borrowed */
    struct registry *reg;     /* borrowed */
    struct bus *bus;          /* borrowed */
    struct plugins *plugins;  /* borrowed */
    struct pipeline *pipe;    /* borrowed */

    /* Every connection, from its upgrade request to its close; they reach this struct through
     * their `host`. */
    struct conn_host host;
    struct conn *conns;
    uint32_t nconns;
    uint32_t max_conns;

    /* Timers: one list per delay, one uv timer for all of them. */
    struct fifo_timer_list ping_list;    /* next ping due */
    struct fifo_timer_list pong_list;    /* pong deadline */
    struct fifo_timer_list connect_list; /* Socket.IO namespace deadline */
    uv_timer_t timer;
    uint64_t timer_due;
    uv_check_t reaper;

    /* Output: the connections that queued frames since the last flush (c NULL where one
     * closed meanwhile), written together before the loop sleeps, or after
     * cfg->write_delay_ms, in the order of their sockets (server.c, flush_all()). */
    struct net_flush *flush;
    uint32_t nflush, flush_cap;
    uv_prepare_t flusher;
    uv_timer_t flush_timer;
    unsigned char *wbuf; /* owned: NET_COALESCE_MAX bytes, where queued frames are joined */

    /* Graceful shutdown. */
    bool shutting_down;
    uv_timer_t shutdown_timer;
    void (*stopped_cb)(struct net *n); /* called once when every connection is gone */
};

/* Creates the lws context on `loop` and starts listening. Returns 0 or a negative sb_err_t
 * after logging why. */
int net_start(struct net *n, uv_loop_t *loop, const struct config *cfg, struct registry *reg,
              struct bus *bus, struct plugins *plugins, struct pipeline *pipe);

/* Starts a graceful shutdown: stop accepting, tell every client (Socket.IO DISCONNECT, close
 * 1001), flush queues until cfg->shutdown_timeout_ms, then call n->stopped_cb. */
void net_shutdown(struct net *n, void (*stopped_cb)(struct net *n));

/* Destroys the lws context and closes the handles; run the loop afterwards until it ends. */
void net_destroy(struct net *n);

/* ---- shared by the files of server/net ---- */

/* Arms a connection's ping timer (the next ping in ping-interval ms). */
void net_ping_schedule(struct net *n, struct conn *c);
/* Arms the connect deadline of a new Socket.IO connection. */
void net_connect_deadline(struct net *n, struct conn *c);

/* Creates a namespace socket on `c` with an identity, asks the plugins that guard the
 * namespace (ABI 1.4 before_connect), and puts it in the registry (with its user:<id> and
 * authenticated rooms). Returns 0 with the socket in *out, SB_EAUTH when a plugin refused it
 * (`why`, PLUGINS_WHY_MAX bytes, holds the client's message; nothing was created), or
 * SB_ENOMEM. */
int net_sock_attach(struct net *n, struct conn *c, const char *nsp, const char *user,
                    json_t *claims, struct sock **out, char *why);
/* Runs the on_connect hooks of a socket that just joined its namespace. A hook that raises
 * refuses it: the client gets the `exception` event, then a server disconnect. */
void net_sock_announce(struct net *n, struct sock *s);
/* Runs the disconnect hooks and removes the socket from the registry; memory is released
 * later. */
void net_sock_detach(struct net *n, struct sock *s, const char *reason);

/* Attaches a new connection to the wsi being upgraded and lists it. */
void net_conn_adopt(struct net *n, struct lws *wsi, struct conn *c);

/* Socket.IO and plain JSON sessions (session_sio.c, session_json.c). */
void sio_session_open(struct net *n, struct conn *c);
void sio_session_receive(struct net *n, struct conn *c, const char *data, size_t len, bool binary);
void sio_sock_disconnect(struct net *n, struct sock *s, const char *reason);
/* Refuses a connection whose handshake token was refused after the upgrade: the open packet,
 * CONNECT_ERROR {"message"} for "/", then close 4401 with `message` (which must outlive the
 * connection: conn_close() keeps the pointer). */
void sio_session_refuse(struct net *n, struct conn *c, const char *message);
void json_session_open(struct net *n, struct conn *c);
/* Closes a connection whose session was refused after the upgrade with 4401 and `message`
 * (copied, cut to fit a close frame), counted under `why`. */
void net_close_refused(struct net *n, struct conn *c, const char *message, enum metric_refusal why);
void json_session_receive(struct net *n, struct conn *c, const char *data, size_t len, bool binary);

/* Token checks (auth.c). */
struct identity_result {
    int outcome;    /* enum auth_outcome */
    char *user;     /* owned */
    json_t *claims; /* new reference */
    char *message;  /* owned: why it was refused */
};
/* Called once when an authentication that went pending ends: accepted (id->user set),
 * refused, or timed out (refused with "authentication timed out"). `nsp` and `id` are borrowed
 * for the call; take what you keep out of `id`. Never called after the connection closed. */
typedef void (*net_auth_fn)(struct net *n, struct conn *c, const char *nsp,
                            struct identity_result *id);
/*
 * Runs the auth plugins on `token` (never logged) for namespace `nsp` of connection `c`.
 * Returns the outcome: AUTH_ACCEPTED or AUTH_REFUSED (a token no plugin knows is refused) with
 * `out` filled, AUTH_NONE when no auth plugin is loaded (anonymous), or AUTH_PENDING: a plugin
 * answers later, and `done` is called then, or after --auth-timeout, unless the connection
 * closes first. `c` need not be listed yet; it must not be freed other than through
 * net_auth_conn_closed().
 */
int net_auth_start(struct net *n, struct conn *c, const char *token, const char *nsp,
                   net_auth_fn done, struct identity_result *out);
/* True while `c` has an authentication pending for `nsp`. */
bool net_auth_pending(const struct conn *c, const char *nsp);
/* Cancels the authentication pending for `nsp` on `c`, if any (`done` is not called). */
void net_auth_cancel(struct conn *c, const char *nsp);
/* Connection teardown: cancels every pending authentication of `c` and frees what the
 * authentication layer kept on it. */
void net_auth_conn_closed(struct conn *c);
void identity_result_clear(struct identity_result *r);

/* The handshake's token is still being checked (HTTP upgrade accepted, c->authenticating): the
 * session opens when it is accepted, the connection closes with CLOSE_UNAUTHORIZED (4401) when
 * it is refused. */
void net_handshake_auth_done(struct net *n, struct conn *c, const char *nsp,
                             struct identity_result *id);
/* The WebSocket of a connection whose handshake authentication is pending was established:
 * reading pauses until the answer. */
void net_handshake_auth_established(struct net *n, struct conn *c);

/* HTTP (http.c): plain requests and the checks before a WebSocket upgrade. Both return what
 * the lws callback must return. */
int http_request(struct net *n, struct lws *wsi, const char *uri);
int http_confirm_upgrade(struct net *n, struct lws *wsi);
/* Warns at start about options http.c cannot honour (unsupported --handshake-headers). */
void http_check_config(const struct config *cfg);
/* The request body of POST /api/emit: a chunk, its end, and freeing what a connection that
 * went away still held. */
int http_body(struct net *n, struct lws *wsi, const void *in, size_t len);
int http_body_completion(struct net *n, struct lws *wsi);
void http_body_release(struct lws *wsi);

#endif
