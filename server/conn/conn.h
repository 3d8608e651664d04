/*
 * A client connection (`struct conn`: one WebSocket, its codec and its outbound queue) and the
 * namespace sockets riding on it (`struct sock`: what gateways, rooms and users see).
 *
 * conn sits below the bus and the registry: delivering a frame never touches the network
 * layer. Each connection belongs to a `struct conn_host`, which the network layer owns: its
 * function table is how a connection asks for a writable callback or to be closed (both
 * asynchronous, so nothing here ever frees a connection or a socket while the caller iterates
 * over them), and it keeps the sockets released until the loop reaps them.
 */
#ifndef SB_CONN_H
#define SB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../metrics/metrics.h"
#include "../proto/proto.h"
#include "../util/util.h"

/* The codec of a connection, fixed at its handshake. Same numbering as enum metric_proto. */
enum conn_proto { CONN_SIO = MP_SOCKETIO, CONN_JSON = MP_JSON, CONN__PROTOS = MP__COUNT };

/* WebSocket close codes switchboard sends (README, "Bad input"). */
enum conn_close_code {
    CLOSE_NORMAL = 1000,
    CLOSE_GOING_AWAY = 1001,      /* server shutdown */
    CLOSE_PROTOCOL_ERROR = 1002,  /* invalid Engine.IO / Socket.IO packet */
    CLOSE_UNSUPPORTED = 1003,     /* binary data where only text is accepted */
    CLOSE_INVALID_PAYLOAD = 1007, /* a text message that is not UTF-8 */
    CLOSE_POLICY = 1008,          /* connect timeout, ping timeout */
    CLOSE_TOO_BIG = 1009,         /* inbound message over max-payload */
    CLOSE_INTERNAL = 1011,        /* out of memory */
    CLOSE_SLOW_CONSUMER = 1008,   /* outbound queue over max-queue (reason "outbound queue full") */
    CLOSE_UNAUTHORIZED = 4401,    /* a handshake token refused after the upgrade (async auth),
                                     a plain WebSocket's token expired (ABI 1.5) */
};

/* How a connection reaches its client (Lua's socket.transport, the /metrics gauges). */
enum conn_kind { CONN_WEBSOCKET = 0, CONN_POLLING = 1, CONN__KINDS };

/* Queued frames a connection holds without allocating (a power of two). */
/* Bytes reserved in front of every frame's data, for the transport's framing header (a
 * WebSocket header is at most 10; 16 is libwebsockets 4.1.6's LWS_PRE, which net/ checks at
 * compile time). */
#define CONN_HEADROOM 16

#define CONN_QUEUE_INLINE 4

struct conn;
struct sock;
struct auth_wait;
struct sock_refresh;

/*
 * A BINARY_EVENT or BINARY_ACK whose attachments are still coming (net/session_sio.c fills it,
 * conn_free() frees it): the packet as decoded, and the attachments received so far.
 */
struct conn_bin_rx {
    struct conn *conn;          /* borrowed: the connection that owns it */
    uint8_t type;               /* enum sio_type */
    uint32_t expected;          /* attachments announced, 1…SIO_MAX_ATTACHMENTS */
    uint32_t n;                 /* received */
    int64_t ack_id;             /* -1 when absent */
    size_t bytes;               /* the packet's text plus its attachments, against max-payload */
    json_t *data;               /* new reference: the packet's payload, placeholders included */
    struct fifo_timer deadline; /* the attachments must come before it (net/timers.c) */
    struct sio_bin bin[SIO_MAX_ATTACHMENTS]; /* data owned (malloc), each */
    char nsp[];                              /* the namespace */
};

/* Frees `rx` (NULL passes): its packet, its attachments, its deadline. */
void conn_bin_rx_free(struct conn_bin_rx *rx);

/* The network layer's functions, called by conn to reach the transport of a connection. */
struct conn_transport {
    /* The queue became non-empty: the transport writes it soon (end of the loop iteration). */
    void (*want_write)(struct conn *c);
    /* Closes the connection after the queued frames were written (flush) or at once. The
     * connection and its sockets are freed later, from the transport's close callback. */
    void (*close)(struct conn *c, int code, const char *reason, bool flush);
    /* Disconnects one namespace socket on the server's initiative (Socket.IO DISCONNECT, or a
     * close for a plain WebSocket). Safe to call from a handler of that very socket: memory is
     * released later (sock_release()). */
    void (*sock_disconnect)(struct sock *s, const char *reason);
};

/* What the connections of one transport share; owned by the network layer (one per server),
 * which embeds it in its own state and reaches that from a connection's `host`. */
struct conn_host {
    const struct conn_transport *transport; /* borrowed; NULL: conn_send() only queues */
    struct sock *zombies; /* sockets released (sock_release()) and not yet reaped */
    /* Borrowed, opaque here: the plugin set of the server these connections belong to, for the
     * plugin host's functions that are given nothing but a socket (plugin/host_api.c). */
    void *plugins;
};

/* A server-to-client acknowledgement this server is waiting for. */
struct ack_wait {
    struct ack_wait *next;
    uint64_t id;
    /* Called once: with the client's answer (`args` borrowed, err 0; `bins` borrowed, the
     * attachments of a BINARY_ACK or NULL), or with args NULL and err SB_ECLOSED (the socket
     * went away) or SB_ETIMEOUT. */
    void (*cb)(void *ud, json_t *args, struct sio_bins *bins, int err);
    void *ud;
};

struct sock {
    struct conn *conn;      /* borrowed: the connection owns its sockets */
    struct nsp *nsp;        /* borrowed: the registry namespace (opaque here) */
    const char *nsp_name;   /* borrowed from the namespace, which outlives its sockets */
    struct sock *conn_next; /* next socket of the same connection */
    struct member *rooms;   /* owned by the registry: this socket's room memberships */
    char *user;             /* owned; NULL for an anonymous socket */
    json_t *claims;         /* new reference; NULL when none */
    char *claims_text;      /* owned cache of claims as JSON text, for plugins */
    uint64_t stamp;         /* registry bookkeeping during one broadcast */
    struct ack_wait *acks;  /* owned: acks asked of the client and not yet answered */
    uint64_t next_ack_id;
    /* New reference: the Socket.IO CONNECT auth object of this namespace without its `token`
     * (gateways' socket.auth), or NULL when there was none or only a token. */
    json_t *auth;
    /* The Lua host's slot for this socket (lua/api_socket.c keeps its proxy object's registry
     * reference there). conn only zeroes it: 0 is empty. */
    int host_slot;
    /* Owned by the network layer (net/refresh.c), released when the socket leaves its
     * namespace: the expiry of its identity and the refresh asked at that time, or NULL when
     * its auth plugin set none (ABI 1.5 auth_set_expiry). */
    struct sock_refresh *refresh;
    bool connected; /* in the registry and announced to the gateways */
    char id[SB_ID_LEN + 1];
};

struct conn {
    struct conn *prev, *next; /* the network layer's list of every connection */
    struct conn_host *host;   /* borrowed, or NULL (no transport: a unit test's connection) */
    /* borrowed: the functions of the transport it rides on now, the host's unless the transport
     * set its own (an upgrade from polling to WebSocket changes them) */
    const struct conn_transport *ops;
    void *transport;      /* the transport's handle (an lws wsi, or polling's state) */
    uint8_t proto;        /* enum conn_proto */
    uint8_t kind;         /* enum conn_kind */
    uint8_t eio;          /* Engine.IO protocol: 4, or 3 (socket.io 2.x: Socket.IO protocol v4) */
    bool closing;         /* close requested: nothing more is queued */
    bool awaiting_pong;   /* a ping was sent and its pong has not come */
    bool established;     /* the WebSocket handshake completed */
    bool authenticating;  /* the handshake's token is pending: no session yet (net/handshake.c) */
    bool peer_closed;     /* the client sent a close: nothing more is queued (lws answers) */
    bool close_sent;      /* our close frame is written: the client's close ends it */
    uint8_t close_metric; /* enum metric_close once known, else 0xff */
    uint16_t close_code;
    const char *close_reason;   /* static string, sent with the close frame */
    struct conn_bin_rx *bin_rx; /* owned: a binary packet waiting for its attachments, or NULL */
    uint32_t flush_slot; /* the network layer's: 1 + index in its flush list, 0 = not in it */
    int fd;              /* the transport's socket, written directly; -1 until established */

    /* Outbound queue: a ring of frame references, in q_inline while it holds at most
     * CONN_QUEUE_INLINE of them (no allocation, and on the cache line the writer reads anyway),
     * then in an owned array grown on demand and given back when a burst is over. */
    struct frame **q;
    uint32_t q_head, q_len, q_cap;
    size_t q_bytes;
    size_t max_queue;
    struct frame *q_inline[CONN_QUEUE_INLINE];

    struct sock *socks; /* owned: the namespace sockets of this connection */

    /* Identity from the handshake's query or Authorization header; NULL = anonymous. */
    char *user;          /* owned */
    json_t *claims;      /* new reference */
    uint64_t expires_ms; /* when that identity expires (Unix ms, ABI 1.5), 0 = never */
    char *query;         /* owned: the handshake query without its token, packed (pairs_to_json) */
    char *headers; /* owned: the kept handshake headers (--handshake-headers), packed, or NULL */
    /* Owned by the network layer (net/auth.c, net/conns.c), released in its teardown: the
     * authentications still pending, and the reason of a close after a refused handshake token. */
    struct auth_wait *auth_waits;
    char *auth_reason;

    struct fifo_timer ping_timer;    /* next ping to send, or the pong deadline */
    struct fifo_timer connect_timer; /* Socket.IO: a namespace must be joined before it */

    /* Reassembly of a message that spans several receive callbacks (allocated lazily). */
    struct sbuf rx;

    char sid[SB_ID_LEN + 1]; /* the Engine.IO session id, drawn by conn_new() */
};

/* A new connection of `host` (borrowed, or NULL) with an empty queue, or NULL. */
struct conn *conn_new(struct conn_host *host, enum conn_proto proto, size_t max_queue);
/* Frees the connection, its queue and its sockets' memory. The sockets must already be gone
 * from the registry (see registry_sock_remove()). */
void conn_free(struct conn *c);

/* Queues a reference to `f`. Returns 0, SB_ECLOSED (connection closing, or closed by the client:
 * dropped) or SB_EFULL (the frames queued behind the oldest one, with `f`, would pass max_queue:
 * the queue is dropped, the connection closed with 1008, counted). A frame that finds the queue
 * empty is always queued. */
int conn_send(struct conn *c, struct frame *f);
/* The oldest queued frame (borrowed), or NULL. */
struct frame *conn_queue_peek(const struct conn *c);
/* Drops the oldest queued frame. */
void conn_queue_pop(struct conn *c);
void conn_queue_clear(struct conn *c);

/* Requests a close (see struct conn_transport), counted in metrics under `why` when the
 * connection closes. Idempotent. `reason` must be a static string (at most 123 bytes are
 * sent). */
void conn_close(struct conn *c, enum metric_close why, int code, const char *reason, bool flush);

/* The frames of one message for one codec, queued together: a text frame, then (Socket.IO with
 * binary) one binary frame per attachment. Each holds a reference. */
struct conn_frames {
    uint32_t n;
    struct frame *f[1 + SIO_MAX_ATTACHMENTS];
};

/*
 * Encodes an event for one codec: Socket.IO `42[/nsp,][id]["event",…args]` (with attachments
 * `45<n>-…` and the n binary frames) or plain JSON `{"event":…,"data":args[0]}` (attachments as
 * {"type":"Buffer","data":[…]}, sio_bins_to_buffers()). `args` is a JSON array (borrowed; NULL =
 * none) whose placeholders stand for `bins` (borrowed; NULL = none). Returns 0 with `out`
 * filled, SB_ETOOBIG (more than SIO_MAX_ATTACHMENTS), SB_EINVAL (the event cannot be encoded: a
 * reserved name, a bad placeholder) or SB_ENOMEM; `out` holds nothing after a failure.
 */
int conn_frames_event(struct conn_frames *out, enum conn_proto proto, const char *nsp,
                      int64_t ack_id, const char *event, const json_t *args,
                      const struct sio_bins *bins);
/* Queues every frame of `fs` (conn_send()), stopping at the first refusal. Returns as
 * conn_send(). */
int conn_send_frames(struct conn *c, const struct conn_frames *fs);
/* Drops the references of `fs` and empties it. */
void conn_frames_clear(struct conn_frames *fs);
/* Encodes a text frame from raw bytes. */
struct frame *conn_frame_text(const char *text, size_t len);

/* ---- sockets ---- */

/* A new socket on `c` (added at the head of c->socks) with a fresh id, or NULL. */
struct sock *sock_new(struct conn *c);
/* Unlinks the socket from its connection and frees it; fails its pending acks with SB_ECLOSED.
 * The caller removed it from the registry. */
void sock_free(struct sock *s);
/* Like sock_free(), but the memory is freed by the next conn_reap() of its connection's host,
 * so a caller up the stack that still holds `s` (a running handler) may read it. s->conn is
 * NULL afterwards. A socket of a connection without a host is freed at once. */
void sock_release(struct sock *s);
/* Frees the sockets of `host` released since the last call (the loop calls it once per
 * iteration). */
void conn_reap(struct conn_host *host);
/* Asks the transport to disconnect the socket (struct conn_transport.sock_disconnect). */
void sock_disconnect(struct sock *s, const char *reason);
/* The socket of `c` in namespace `nsp`, or NULL. */
struct sock *conn_sock_find(const struct conn *c, const char *nsp);

/* Sets the identity (copies `user`, takes a new reference to `claims`). */
int sock_set_identity(struct sock *s, const char *user, json_t *claims);
/* The claims as JSON text ("{}" when none), cached; borrowed. */
const char *sock_claims_text(struct sock *s);

/* Encodes and queues one event for this socket only (`bins` borrowed, NULL = none). Returns as
 * conn_send(), or as conn_frames_event(). */
int sock_emit(struct sock *s, const char *event, const json_t *args, const struct sio_bins *bins,
              int64_t ack_id);
/* Sends the Socket.IO ACK `3[/nsp,]<id>[args…]` (`args` a JSON array, borrowed), or with
 * attachments (`bins` borrowed, NULL = none) the BINARY_ACK `6<n>-[/nsp,]<id>[args…]` and its
 * binary frames. */
int sock_send_ack(struct sock *s, int64_t ack_id, const json_t *args, const struct sio_bins *bins);
/* Sends `value` as one raw JSON text frame (the plain JSON protocol's answer to a plain return
 * value, as NestJS's WsAdapter does). */
int sock_send_json(struct sock *s, const json_t *value);
/* Sends `exception` with `data` as its payload when given (an exception raised with a table,
 * as NestJS sends a WsException's object), else {"status":"error","message":message}. */
int sock_exception_value(struct sock *s, const char *message, const json_t *data);
/* Sends `exception` {"status":"error","message":message} (counted). */
int sock_exception(struct sock *s, const char *message);

/* Registers a wait for the client's ACK; returns the ack id to put in the packet. */
int sock_ack_add(struct sock *s, void (*cb)(void *ud, json_t *args, struct sio_bins *bins, int err),
                 void *ud, uint64_t *id);
/* Completes the wait `id` with `args` and `bins` (borrowed; NULL = none). Returns 0 or
 * SB_ENOTFOUND. */
int sock_ack_complete(struct sock *s, uint64_t id, json_t *args, struct sio_bins *bins);
/* Fails the wait `id` with `err` if it is still pending. */
void sock_ack_fail(struct sock *s, uint64_t id, int err);

#endif
