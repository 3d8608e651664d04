/*
 * What the files of server/net share, and nobody else sees (libuv's uv.h and
 * src/unix/internal.h are the model: net.h is the door, this is the room behind it).
 *
 * The files call each other one way, top to bottom; a reader can start at the lws callback and
 * go down:
 *
 *     net.c            the lws context, the one lws callback, start-up and shutdown
 *       ws.c           a WebSocket: reading, the close handshake, refused frames
 *       http.c         a plain HTTP request: its route
 *       http_upgrade.c the checks before a WebSocket upgrade
 *         api_emit.c   POST /api/emit, its body and its checks
 *         static.c     --static directories
 *         polling.c    the Engine.IO polling transport, and the upgrade of its sessions
 *           handshake.c  a new connection: admission, its token (answered now or later)
 *             session_sio.c, session_json.c   the two codecs' sessions
 *               conns.c  the connection list, sessions by sid, namespace sockets, teardown
 *                 refresh.c    token lifetimes: a new token when one expires
 *                   auth.c       tokens through the auth plugins
 *                 timers.c     ping, pong and connect deadlines
 *                 write.c      the WebSocket write path: coalescing, fd order, lws for the rest
 *                 http_reply.c responses and the request checks they share
 *                 tls.c        --tls-cert: the certificate, its checks and reload, the TLS floor
 *
 * A file calls the ones below it only (a callback handed down, such as an authentication's
 * `done`, is the one way back up). The two transports, WebSocket (ws.c, write.c) and polling
 * (polling.c), feed the same sessions; net.c hands an upgrade probe's frames to polling.c.
 */
#ifndef SB_NET_INTERNAL_H
#define SB_NET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../config/config.h"
#include "../plugin/plugin.h"
#include "../proto/proto.h"
#include "net.h"

struct lws;

/* Seconds a client has to send the whole header of a request (or an upgrade), from its first
 * byte; a slower one is disconnected (net.c, net_start()). */
#define NET_HEADER_TIMEOUT_S 5

/* The most bytes of queued WebSocket frames handed to one send(). */
#define NET_COALESCE_MAX (64 * 1024)

/* The path of server-side publishing (api_emit.c). */
#define API_EMIT_PATH "/api/emit"

/* The net a connection belongs to: connections reach it through their host. */
static inline struct net *net_of(struct conn *c)
{
    return container_of(c->host, struct net, host);
}

/* ---- tls.c: TLS, for net.c (net_tls_reload() is in net.h) ---- */

/* Loads and checks --tls-cert and --tls-key and the cipher list, keeps the pair for the vhost
 * and sets n->tls. Returns 0, or a negative sb_err_t after logging why (naming the file). */
int net_tls_prepare(struct net *n);
/* LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS: the protocol floor, the ciphers and the
 * prepared certificate on the vhost's SSL_CTX (borrowed). Returns 0, or -1 after logging. */
int net_tls_ctx_init(struct net *n, void *ssl_ctx);
/* Frees what net_tls_prepare() kept and the vhost did not take. */
void net_tls_discard(struct net *n);

/* ---- ws.c: a WebSocket connection, for the lws callback ---- */

/* LWS_CALLBACK_ESTABLISHED: the session opens (or waits for the handshake's token). */
int ws_established(struct net *n, struct lws *wsi, struct conn *c);
/* LWS_CALLBACK_RECEIVE: reassembles a message and hands complete ones to the session. */
int ws_receive(struct net *n, struct lws *wsi, struct conn *c, const char *in, size_t len);
/* LWS_CALLBACK_RECEIVE_PONG. */
void ws_pong(struct net *n, struct conn *c);
/* LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: checks the client's close frame (`in`, `len`). */
int ws_peer_close(struct lws *wsi, struct conn *c, const void *in, size_t len);
/* LWS_CALLBACK_SERVER_WRITEABLE: the queue, then the close frame. */
int ws_writable(struct net *n, struct lws *wsi, struct conn *c);
/* LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL: a frame lws refused gets 1002 (lws_compat.h, 2). */
void ws_refused_frame(struct lws *wsi, struct conn *c);
/* struct conn_transport.close. */
void ws_close(struct conn *c, int code, const char *reason, bool flush);

/* ---- http.c, api_emit.c, static.c: plain HTTP requests ---- */

/* A plain request's headers are in: routes it. Returns what the lws callback must return. */
int http_request(struct net *n, struct lws *wsi, const char *uri);
/* The headers of a request for API_EMIT_PATH are in (an API key is configured). */
int api_emit_request(struct net *n, struct lws *wsi, const char *method);
/* The request body of POST /api/emit: a chunk, its end, and freeing what a connection that
 * went away still held. The first two return what the lws callback must return. */
int api_emit_body(struct net *n, struct lws *wsi, const void *in, size_t len);
int api_emit_body_end(struct net *n, struct lws *wsi);
void api_emit_body_release(struct lws *wsi);
/* A GET or HEAD for a --static directory: the file, 403 or 404. */
int static_serve(struct net *n, struct lws *wsi, const char *uri);

/* ---- polling.c: Engine.IO long-polling ---- */

/* A request for the Socket.IO path that is not an upgrade (http.c). */
int polling_request(struct net *n, struct lws *wsi, const char *method, struct query *q);
/* The callbacks of a polling request's wsi (tagged LWS_COMPAT_OPAQUE_POLL): a chunk of a POST
 * body, its end, the GET's turn to write, the HTTP connection's end. */
int polling_body(struct net *n, struct lws *wsi, struct conn *c, const void *in, size_t len);
int polling_body_end(struct net *n, struct lws *wsi, struct conn *c);
int polling_writable(struct net *n, struct lws *wsi, struct conn *c);
void polling_request_closed(struct net *n, struct lws *wsi, struct conn *c);
/* An upgrade request for polling session `c` (http_upgrade.c): `wsi` becomes its probe
 * (tagged LWS_COMPAT_OPAQUE_PROBE), or the upgrade is refused. Returns what the lws callback must
 * return. */
int polling_probe_attach(struct net *n, struct lws *wsi, struct conn *c);
/* The probe's WebSocket callbacks (net.c hands them over): a frame, writable, closed. */
int polling_probe_receive(struct net *n, struct lws *wsi, struct conn *c, const char *in,
                          size_t len);
int polling_probe_writable(struct net *n, struct lws *wsi, struct conn *c);
void polling_probe_closed(struct net *n, struct lws *wsi, struct conn *c);
/* net_start(): the close deadline's timer. Returns 0 or SB_ENOMEM. */
int polling_init(struct net *n);
/* net_destroy(), after the lws context: tears down every polling session left and closes the
 * timer. */
void polling_destroy(struct net *n);

/* ---- http_upgrade.c: before a WebSocket upgrade ---- */

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: the checks, then a new connection or a polling session's
 * probe. */
int http_confirm_upgrade(struct net *n, struct lws *wsi);

/* ---- handshake.c: a new connection ---- */

/* Admits a new connection of codec `proto` from the request on `wsi` (a WebSocket upgrade, or
 * a polling session's first GET) with its query `q`: shutdown, the connection cap, a token from
 * the query or the Authorization header (`--require-auth` for plain WebSockets), the plugins'
 * answer (a pending one leaves it `authenticating`), the query and the headers gateways see.
 * Returns 0 with the connection in *out, or what the lws callback must return after the refusal
 * written here. The connection is not listed yet. */
int net_admit(struct net *n, struct lws *wsi, struct query *q, enum conn_proto proto,
              struct conn **out);
/* Warns at start about options admission cannot honour (unsupported --handshake-headers). */
void net_handshake_check_config(const struct config *cfg);

/* The handshake's token is still being checked (HTTP upgrade accepted, c->authenticating): the
 * session opens when it is accepted, the connection closes with CLOSE_UNAUTHORIZED (4401) when
 * it is refused. A net_auth_fn. */
struct identity_result;
void net_handshake_auth_done(struct net *n, struct conn *c, const char *nsp, json_t *auth,
                             struct identity_result *id);
/* The WebSocket of a connection whose handshake authentication is pending, or ended, was
 * established: reading pauses until the answer, or the session opens (or closes) now. */
void net_handshake_auth_established(struct net *n, struct conn *c);

/* ---- session_sio.c, session_json.c: the two codecs ---- */

void sio_session_open(struct net *n, struct conn *c);
/* One Engine.IO message of the session: a text packet, or (`binary`) the bytes of a binary
 * message, without v3's type byte: an attachment of the binary packet before it. */
void sio_session_receive(struct net *n, struct conn *c, const char *data, size_t len, bool binary);
void sio_sock_disconnect(struct net *n, struct sock *s, const char *reason);
/* Refuses a connection whose handshake token was refused after the upgrade: the open packet,
 * CONNECT_ERROR {"message"} for "/", then close 4401 with `message` (which must outlive the
 * connection: conn_close() keeps the pointer). */
void sio_session_refuse(struct net *n, struct conn *c, const char *message);
void json_session_open(struct net *n, struct conn *c);
void json_session_receive(struct net *n, struct conn *c, const char *data, size_t len, bool binary);

/* ---- conns.c: connections and their namespace sockets ---- */

/* Attaches a new connection to the wsi being upgraded and lists it. */
void net_conn_adopt(struct net *n, struct lws *wsi, struct conn *c);
/* Lists a new connection without a wsi of its own (a polling session) under its sid. Returns 0
 * or SB_ENOMEM. */
int net_conn_list_session(struct net *n, struct conn *c);
/* The connection of Engine.IO session `sid` if it began on polling (it may be closing), or
 * NULL. */
struct conn *net_session_find(struct net *n, const char *sid);
/* The connection's transport is up (its kind set): it is established and counted in /metrics
 * (by protocol and transport), until net_conn_closed() uncounts it. */
void net_conn_established(struct conn *c);
/* lws closed the connection: its sockets leave (disconnect hooks with the reason its close
 * metric names), pending authentications end, and it is freed. Ends a graceful shutdown when
 * it was the last. */
void net_conn_closed(struct net *n, struct lws *wsi, struct conn *c);
/* Creates a namespace socket on `c` with an identity (which expires at `expires_ms`, Unix ms,
 * or never: 0; see refresh.c), asks the plugins that guard the
 * namespace (ABI 1.4 before_connect), and puts it in the registry (with its user:<id> and
 * authenticated rooms). `auth` (borrowed, or NULL) is the CONNECT's auth object without its
 * token; the socket keeps a reference. Returns 0 with the socket in *out, SB_EAUTH when a
 * plugin refused it (`why`, PLUGINS_WHY_MAX bytes, holds the client's message; nothing was
 * created), or SB_ENOMEM. */
int net_sock_attach(struct net *n, struct conn *c, const char *nsp, const char *user,
                    json_t *claims, uint64_t expires_ms, json_t *auth, struct sock **out,
                    char *why);
/* Runs the on_connect hooks of a socket that just joined its namespace. A hook that raises
 * refuses it: the client gets the `exception` event, then a server disconnect. */
void net_sock_announce(struct net *n, struct sock *s);
/* Runs the disconnect hooks and removes the socket from the registry; memory is released
 * later. */
void net_sock_detach(struct net *n, struct sock *s, const char *reason);
/* A copy of `message` that fits a close frame's reason, cut on a UTF-8 character boundary, or
 * NULL when out of memory. */
char *net_close_reason(const char *message);
/* Closes a connection whose session was refused after the upgrade with 4401 and `message`
 * (copied, cut to fit a close frame), counted under `why`. */
void net_close_refused(struct net *n, struct conn *c, const char *message, enum metric_refusal why);

/* ---- refresh.c: token lifetimes ---- */

/* Arms the expiry of socket `s`'s identity (`expires_ms`, Unix ms; 0 forgets it): then the
 * client is asked for a new token. Returns 0 or SB_ENOMEM. */
int net_refresh_arm(struct net *n, struct sock *s, uint64_t expires_ms);
/* The socket leaves its namespace: its expiry, and a refresh being asked or checked, end
 * (no callback reaches it afterwards). */
void net_refresh_cancel(struct sock *s);

/* ---- auth.c: tokens ---- */

struct identity_result {
    int outcome;         /* enum auth_outcome */
    char *user;          /* owned */
    json_t *claims;      /* new reference */
    char *message;       /* owned: why it was refused */
    uint64_t expires_ms; /* accepted: when the identity expires (Unix ms), 0 = never */
};
/* Called once when an authentication that went pending ends: accepted (id->user set),
 * refused, or timed out (refused with "authentication timed out"). `nsp`, `auth` (what
 * net_auth_start() was given, or NULL) and `id` are borrowed for the call; take what you keep
 * out of `id`. Never called after the connection closed. */
typedef void (*net_auth_fn)(struct net *n, struct conn *c, const char *nsp, json_t *auth,
                            struct identity_result *id);
/*
 * Runs the auth plugins on `token` (never logged) for namespace `nsp` of connection `c`.
 * Returns the outcome: AUTH_ACCEPTED or AUTH_REFUSED (a token no plugin knows is refused) with
 * `out` filled, AUTH_NONE when no auth plugin is loaded (anonymous), or AUTH_PENDING: a plugin
 * answers later, and `done` is called then, or after --auth-timeout, unless the connection
 * closes first; the attempt keeps a reference to `auth` (borrowed, or NULL: a CONNECT's auth
 * object without its token) until then, for `done`. `c` need not be listed yet; it must not be
 * freed other than through net_auth_conn_closed().
 */
int net_auth_start(struct net *n, struct conn *c, const char *token, const char *nsp, json_t *auth,
                   net_auth_fn done, struct identity_result *out);
/* True while `c` has an authentication pending for `nsp`. */
bool net_auth_pending(const struct conn *c, const char *nsp);
/* Cancels the authentication pending for `nsp` on `c`, if any (`done` is not called). */
void net_auth_cancel(struct conn *c, const char *nsp);
/* Connection teardown: cancels every pending authentication of `c` and frees what the
 * authentication layer kept on it. */
void net_auth_conn_closed(struct conn *c);
void identity_result_clear(struct identity_result *r);

/* ---- timers.c ---- */

void net_timers_init(struct net *n);
/* Stops the timer and closes its handle (the loop finishes closing it). */
void net_timers_close(struct net *n);
/* Arms a connection's ping timer (the next ping in ping-interval ms). */
void net_ping_schedule(struct net *n, struct conn *c);
/* Arms the deadline of an Engine.IO v3 connection's next packet: the client pings, and one that
 * sends nothing for ping-interval + ping-timeout ms is closed. */
void net_heartbeat_expect(struct net *n, struct conn *c);
/* Arms the connect deadline of a new Socket.IO connection. */
void net_connect_deadline(struct net *n, struct conn *c);
/* Arms the deadline of a binary packet's attachments (ping-interval + ping-timeout ms): the
 * connection closes with 1008 "binary attachments timed out" when they have not all come. */
void net_attachments_deadline(struct net *n, struct conn_bin_rx *rx);

/* ---- write.c: the write path ---- */

/* One connection of the flush list, with its socket to sort by. */
struct net_flush {
    struct conn *c; /* borrowed; NULL when it closed after queueing */
    int fd;
};

/* Returns 0, or SB_ENOMEM. */
int net_write_init(struct net *n);
/* Stops the handles, closes them and frees the buffers. */
void net_write_close(struct net *n);
/* struct conn_transport.want_write: `c` joins the flush list. */
void net_want_write(struct conn *c);
/* Writes what `c` has queued (from a writable callback). Returns 0, or -1 when the socket
 * failed. */
int net_write_queued(struct net *n, struct lws *wsi, struct conn *c);
/* `c` is closing for good: it leaves the flush list. */
void net_flush_forget(struct net *n, struct conn *c);

/* ---- http_reply.c: answers to plain requests ---- */

/* An extra response header: name with its colon ("allow:"), value. */
struct http_header {
    const char *name, *value;
};

/* True when the connection stays open for another request after this one's answer. */
bool http_keeps_alive(struct lws *wsi);

/*
 * What answering a request needs of its headers (whether the connection is kept, the CORS
 * origin to echo), read while lws still has them: a request held for long (a polling GET) keeps
 * this and gives its header table back to lws (lws_http_headers_detach()), ~8 KiB a session.
 */
struct http_answer {
    bool keep;    /* http_keeps_alive() */
    char *origin; /* the listed Origin to echo, or NULL (owned when captured) */
};
/* Fills `a` from the request's headers. Returns 0 or SB_ENOMEM. */
int http_answer_capture(struct lws *wsi, struct http_answer *a);
void http_answer_clear(struct http_answer *a);
/* http_respond() and http_finish() for a held request, from what `a` kept. */
int http_respond_held(struct lws *wsi, const struct http_answer *a, unsigned status,
                      const char *ctype, const char *body, size_t len);
int http_finish_held(struct lws *wsi, const struct http_answer *a, int rc);
/* Writes a complete response with a body and `nextra` extra headers, with `connection: close`
 * when `close` is set or the connection would not be kept anyway (http_keeps_alive()).
 * Returns 0 (the caller then completes or refuses the transaction) or -1 to drop the
 * connection. */
int http_respond_headers(struct lws *wsi, unsigned status, const char *ctype, const char *body,
                         size_t len, const struct http_header *extra, size_t nextra, bool close);
/* The same with at most one extra header (`extra_name` NULL: none). */
int http_respond(struct lws *wsi, unsigned status, const char *ctype, const char *body, size_t len,
                 const char *extra_name, const char *extra_value);
/* A JSON {"message"} answer with `status`, like http_respond_headers(). */
int http_respond_message(struct lws *wsi, unsigned status, const char *message,
                         const struct http_header *extra, size_t nextra, bool close);
/* An Engine.IO handshake error ({"code","message"}, eio_hs_encode_error()) with status 400, or
 * 403 for EIO_HS_FORBIDDEN. */
int http_respond_eio_error(struct lws *wsi, int code);
/* True when the request may open a session: it has no Origin header, or `list` (NULL: any;
 * --allowed-origins' form) names its origin. */
bool http_origin_allowed(struct lws *wsi, const char *list);
/* Answers a CORS preflight (OPTIONS) of the polling transport when --cors-origin is set: 204,
 * the methods, the requested headers echoed, and the origin's CORS headers when it is listed.
 * Returns what the lws callback must return. */
int http_cors_preflight(struct lws *wsi);
/* Why the framing of this request is ambiguous (request smuggling), or NULL when it is not. */
const char *http_framing_error(struct lws *wsi);
/* Refuses a request whose framing is ambiguous: 400, and the connection closes. Returns what
 * the lws callback must return. */
int http_refuse_framing(struct lws *wsi, const char *why);
/* Refuses an upgrade with `status` and a JSON message, counted under `why` (401 gets
 * `www-authenticate`, 503 `retry-after`). Returns what the lws callback must return. */
int http_refuse(struct lws *wsi, enum metric_refusal why, unsigned status, const char *msg);
/* Ends a request whose answer is written (`rc` what writing it returned): the connection waits
 * for the next request, or closes. Returns what the lws callback must return. */
int http_finish(struct lws *wsi, int rc);
/* The request's query, from lws's argument fragments (already percent-decoded). Returns 0,
 * SB_ETOOBIG or SB_ENOMEM (then `q` is empty). */
int http_query(struct lws *wsi, struct query *q);
/* "GET", "POST", "HEAD", "OPTIONS" or "OTHER". */
const char *http_method(struct lws *wsi);
/* True for the Socket.IO path and what is below it. */
bool http_is_sio_path(const char *path);

#endif
