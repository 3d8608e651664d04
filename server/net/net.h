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

struct net {
    struct lws_context *ctx;
    uv_loop_t *loop;
    const struct config *cfg; /* borrowed */
    struct registry *reg;     /* borrowed */
    struct bus *bus;          /* borrowed */
    struct plugins *plugins;  /* borrowed */
    struct pipeline *pipe;    /* borrowed */

    /* Every connection, from its upgrade request to its close. */
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

/* Creates a namespace socket on `c` with an identity, puts it in the registry (with its
 * user:<id> and authenticated rooms). Returns NULL when out of memory. */
struct sock *net_sock_attach(struct net *n, struct conn *c, const char *nsp, const char *user,
                             json_t *claims);
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
void json_session_open(struct net *n, struct conn *c);
void json_session_receive(struct net *n, struct conn *c, const char *data, size_t len, bool binary);

/* Token checks (auth.c). */
struct identity_result {
    int outcome;    /* enum auth_outcome */
    char *user;     /* owned */
    json_t *claims; /* new reference */
    char *message;  /* owned: why it was refused */
};
/* Runs the auth plugins on `token` (never logged). */
void net_authenticate(struct net *n, const char *token, const char *nsp,
                      struct identity_result *out);
void identity_result_clear(struct identity_result *r);

/* HTTP (http.c): plain requests and the checks before a WebSocket upgrade. Both return what
 * the lws callback must return. */
int http_request(struct net *n, struct lws *wsi, const char *uri);
int http_confirm_upgrade(struct net *n, struct lws *wsi);
/* The request body of POST /api/emit: a chunk, its end, and freeing what a connection that
 * went away still held. */
int http_body(struct net *n, struct lws *wsi, const void *in, size_t len);
int http_body_completion(struct net *n, struct lws *wsi);
void http_body_release(struct lws *wsi);

#endif
