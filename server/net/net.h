/*
 * The network edge: libwebsockets on the server's libuv loop. One lws protocol serves plain
 * HTTP (health, readiness, metrics, static files, POST /api/emit) and both WebSocket codecs; the
 * handshake decides which codec a connection speaks and who it belongs to. This layer owns
 * connections: it creates them at the upgrade, frees them when lws closes them, runs their
 * timers, and implements struct conn_transport for the layers below.
 *
 * This is the door main.c uses: start, shut down, destroy. struct net is here so that main.c
 * can hold one by value; its fields belong to the files of server/net, which share their
 * functions through internal.h (docs/architecture.md, "net/").
 */
#ifndef SB_NET_H
#define SB_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "../conn/conn.h"

struct bus;
struct config;
struct lws_context;
struct net_flush;
struct pipeline;
struct polling;
struct plugins;
struct registry;
struct tls_pair;

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
    /* Sessions that began on polling (upgraded or not), by Engine.IO sid: a request with a sid
     * finds its connection here (conns.c). */
    struct sb_map sessions;
    struct polling *polling; /* owned: polling.c's state */

    /* Timers: one list per delay, one uv timer for all of them. */
    struct fifo_timer_list ping_list;      /* next ping due */
    struct fifo_timer_list pong_list;      /* pong deadline */
    struct fifo_timer_list heartbeat_list; /* Engine.IO v3: the client's next ping is due */
    struct fifo_timer_list connect_list;   /* Socket.IO namespace deadline */
    struct fifo_timer_list attach_list;    /* Socket.IO: a binary packet's attachments are due */
    uv_timer_t timer;
    uint64_t timer_due;
    uv_check_t reaper;

    /* Output: the connections that queued frames since the last flush (c NULL where one
     * closed meanwhile), written together before the loop sleeps, or after
     * cfg->write_delay_ms, in the order of their sockets (write.c). */
    struct net_flush *flush;
    uint32_t nflush, flush_cap;
    uv_prepare_t flusher;
    uv_timer_t flush_timer;
    unsigned char *wbuf; /* owned: NET_COALESCE_MAX bytes, where queued frames are joined */

    /* TLS (--tls-cert): every connection is TLS, and frames go through lws_write() (write.c). */
    bool tls;
    void *tls_ctx;                /* borrowed: the vhost's SSL_CTX (lws owns it), once set up */
    struct tls_pair *tls_pending; /* owned: the checked certificate until the vhost takes it */

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

/* SIGHUP: reads --tls-cert and --tls-key again and serves them to the connections accepted from
 * now on (open ones keep their session). A pair that fails to load is logged and the certificate
 * in use stays. Returns 0 (also without TLS) or a negative sb_err_t. */
int net_tls_reload(struct net *n);

/* Destroys the lws context and closes the handles; run the loop afterwards until it ends. */
void net_destroy(struct net *n);

#endif
