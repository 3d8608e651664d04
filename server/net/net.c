/*
 * libwebsockets on our libuv loop: the context and its one protocol, the one callback that
 * hands each lws event to the file that handles it, the transport functions conn calls,
 * start-up and graceful shutdown.
 *
 * A connection's `struct conn` is attached to its wsi with lws_set_opaque_user_data() when the
 * upgrade is confirmed (lws resets per-session user space when it binds the WebSocket
 * protocol; the opaque pointer survives), and freed from LWS_CALLBACK_CLOSED or
 * LWS_CALLBACK_WSI_DESTROY, whichever comes first. The body of a POST /api/emit being received
 * rides on its wsi the same way (api_emit.c), as a tagged pointer (lws_compat.h, 3) that is never
 * taken for a conn; it is freed when the request completes, or from LWS_CALLBACK_CLOSED_HTTP or
 * LWS_CALLBACK_WSI_DESTROY. A polling request and an upgrade probe carry their session the same
 * way (polling.c). The callback finds the net as the context's user pointer.
 */
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <libwebsockets.h>

#include "../log/log.h"
#include "lws_compat.h"

/* struct conn_transport.sock_disconnect: Socket.IO's DISCONNECT for the namespace, or the end of
 * a plain WebSocket, whose one namespace is the connection. */
static void t_sock_disconnect(struct sock *s, const char *reason)
{
    struct conn *c = s->conn;
    if (!c)
        return;
    struct net *n = net_of(c);
    if (c->proto == CONN_SIO) {
        sio_sock_disconnect(n, s, reason);
        return;
    }
    net_sock_detach(n, s, reason);
    sock_release(s);
    conn_close(c, MC_SERVER_DISCONNECT, CLOSE_NORMAL, "server disconnect", true);
}

static const struct conn_transport transport = {
    .want_write = net_want_write,
    .close = ws_close,
    .sock_disconnect = t_sock_disconnect,
};

/* ---- the lws callback ---- */

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct net *n = lws_context_user(lws_get_context(wsi));
    void *opaque = lws_get_opaque_user_data(wsi);
    enum lws_compat_opaque kind = lws_compat_opaque_kind(opaque);
    void *obj = lws_compat_opaque_ptr(opaque);
    /* At most one of these: a WebSocket's connection, the session of a polling request, the
     * session an upgrade probe is for, a POST /api/emit body (lws_compat.h, 3). */
    struct conn *c = kind == LWS_COMPAT_OPAQUE_CONN ? obj : NULL;
    struct conn *poll = kind == LWS_COMPAT_OPAQUE_POLL ? obj : NULL;
    struct conn *probe = kind == LWS_COMPAT_OPAQUE_PROBE ? obj : NULL;
    bool body = kind == LWS_COMPAT_OPAQUE_BODY;

    switch (reason) {
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
        /* The vhost's SSL_CTX (`user`) is new: the certificate goes in (tls.c). `wsi` is a
         * stand-in with only the context set. */
        return n->tls ? net_tls_ctx_init(n, user) : 0;

    case LWS_CALLBACK_HTTP:
        return http_request(n, wsi, in);

    case LWS_CALLBACK_HTTP_BODY:
        if (body)
            return api_emit_body(n, wsi, in, len);
        if (poll)
            return polling_body(n, wsi, poll, in, len);
        break;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (body)
            return api_emit_body_end(n, wsi);
        if (poll)
            return polling_body_end(n, wsi, poll);
        break;

    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (poll)
            return polling_writable(n, wsi, poll);
        break;

    case LWS_CALLBACK_CLOSED_HTTP:
        if (body)
            api_emit_body_release(wsi);
        if (poll)
            polling_request_closed(n, wsi, poll);
        break;

    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        return lws_http_transaction_completed(wsi) ? -1 : 0;

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        if (!in || strcmp(in, "websocket") != 0)
            return -1;
        return http_confirm_upgrade(n, wsi);

    case LWS_CALLBACK_ESTABLISHED:
        if (probe)
            return 0;
        return c ? ws_established(n, wsi, c) : -1;

    case LWS_CALLBACK_RECEIVE:
        if (probe)
            return polling_probe_receive(n, wsi, probe, in, len);
        return c ? ws_receive(n, wsi, c, in, len) : -1;

    case LWS_CALLBACK_RECEIVE_PONG:
        if (c)
            ws_pong(n, c);
        return 0;

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (probe)
            return 0; /* lws echoes it; the session stays on polling */
        return ws_peer_close(wsi, c, in, len);

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (probe)
            return polling_probe_writable(n, wsi, probe);
        return c ? ws_writable(n, wsi, c) : -1;

    case LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL:
        if (c)
            ws_refused_frame(wsi, c);
        return 0;

    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        if (body)
            api_emit_body_release(wsi);
        if (poll)
            polling_request_closed(n, wsi, poll);
        if (probe)
            polling_probe_closed(n, wsi, probe);
        if (c)
            net_conn_closed(n, wsi, c);
        return 0;

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- lifetime ---- */

static struct lws_protocols protocols[] = {
    /* per_session_data_size: lws_compat.h, 2.
     * rx_buffer_size 128: lws keeps this buffer for the life of every connection, and most
     * client messages fit in it (a longer one arrives in pieces, joined in ws_receive()).
     * tx_packet_size: one send() may take a whole coalesced batch. */
    {"switchboard", callback, LWS_COMPAT_PSS_SIZE, 128, 0, NULL, NET_COALESCE_MAX + 64},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void reaper_cb(uv_check_t *h)
{
    struct net *n = h->data;
    conn_reap(&n->host);
}

static void lws_log_cb(int level, const char *line)
{
    /* lws lines end with a newline; ours add one. */
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (level == LLL_WARN && strstr(line, LWS_COMPAT_QUIET_WARNING)) /* lws_compat.h, 6 */
        level = LLL_NOTICE;
    log_write(level == LLL_ERR    ? SB_LOG_ERROR
              : level == LLL_WARN ? SB_LOG_WARN
                                  : SB_LOG_DEBUG,
              "lws", "%.*s", (int)len, line);
}

int net_start(struct net *n, uv_loop_t *loop, const struct config *cfg, struct registry *reg,
              struct bus *bus, struct plugins *plugins, struct pipeline *pipe)
{
    memset(n, 0, sizeof(*n));
    n->loop = loop;
    n->cfg = cfg;
    n->reg = reg;
    n->bus = bus;
    n->plugins = plugins;
    n->pipe = pipe;
    n->host.transport = &transport;
    n->host.plugins = plugins;

    net_handshake_check_config(cfg);
    n->max_conns = cfg->max_connections;
    if (!n->max_conns) {
        struct rlimit rl;
        rlim_t lim = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
        n->max_conns = lim > 128 ? (uint32_t)(lim > 10000000 ? 10000000 : lim - 64) : 64;
    }

    net_timers_init(n);
    uv_check_init(loop, &n->reaper);
    n->reaper.data = n;
    uv_check_start(&n->reaper, reaper_cb);
    if (net_write_init(n) || polling_init(n))
        return SB_ENOMEM;
    uv_timer_init(loop, &n->shutdown_timer);
    n->shutdown_timer.data = n;
    if (cfg->tls_cert) {
        int err = net_tls_prepare(n);
        if (err)
            return err;
    }

    lws_set_log_level(log_level >= SB_LOG_DEBUG ? LLL_ERR | LLL_WARN | LLL_NOTICE
                                                : LLL_ERR | LLL_WARN,
                      lws_log_cb);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    void *loops[] = {loop};
    /* Not LWS_SERVER_OPTION_VALIDATE_UTF8: text messages are checked in receive(). */
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN;
    info.foreign_loops = loops;
    info.port = cfg->listen_port;
    info.iface =
        strcmp(cfg->listen_host, "0.0.0.0") == 0 || !*cfg->listen_host ? NULL : cfg->listen_host;
    info.protocols = protocols;
    info.gid = (gid_t)-1;
    info.uid = (uid_t)-1;
    /*
     * Request headers. lws gives each connection whose headers are arriving a table of
     * max_http_header_data bytes from a pool, and a connection finding the pool empty waits,
     * unread, until one is released: a pool smaller than the connections a client can open
     * lets a few hundred connections that send their headers slowly (slowloris) stall every
     * new request and WebSocket handshake. The pool is as large as the connections the server
     * takes (a table is allocated only while its headers arrive, and freed after), and the
     * whole header must arrive within NET_HEADER_TIMEOUT_S of its first byte
     * (timeout_secs_ah_idle, PENDING_TIMEOUT_HOLDING_AH), so a slow connection holds its table
     * for that long at most. timeout_secs bounds the wait for a first byte and each pause
     * within a request body (PENDING_TIMEOUT_HTTP_CONTENT).
     */
    info.max_http_header_data = 8192;
    info.max_http_header_pool = 0; /* an unsigned short: the larger field below is used */
    info.max_http_header_pool2 = n->max_conns + 256;
    info.timeout_secs_ah_idle = NET_HEADER_TIMEOUT_S;
    info.timeout_secs = 10;
    info.fd_limit_per_thread = n->max_conns + 256;
    info.user = n;
    if (n->tls) {
        /*
         * TLS on the one port: lws creates the vhost's SSL_CTX and hands it to the callback
         * (LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS), which puts in the certificate
         * tls.c checked, the TLS 1.2 floor and the ciphers. A plain-HTTP request on the port is
         * refused (no LWS_SERVER_OPTION_ALLOW_NON_SSL_ON_SSL_PORT): a client of wss:// must not
         * be downgraded silently. ALPN offers http/1.1 only: lws 4.1.6 would otherwise offer h2
         * to browsers, and the HTTP long-polling and the WebSocket upgrade here are HTTP/1.1's.
         */
        info.options |=
            LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX;
        info.alpn = "http/1.1";
        info.pt_serv_buf_size = LWS_COMPAT_TLS_SERV_BUF_SIZE; /* lws_compat.h, 5 */
    }

    /* The vhost is created on its own: lws_create_context() succeeds even when the default
     * vhost cannot listen (a port in use), lws_create_vhost() says so. */
    info.options |= LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    n->ctx = lws_create_context(&info);
    if (!n->ctx || !lws_create_vhost(n->ctx, &info)) {
        /* The TLS set-up logged its own failure; a vhost that got its certificate failed to
         * listen. */
        if (!n->tls || n->tls_ctx || n->tls_pending)
            LOG_ERROR("net", "cannot listen on %s:%d (address in use, or not an address here?)",
                      cfg->listen_host, cfg->listen_port);
        net_tls_discard(n);
        return SB_EIO;
    }
    LOG_INFO("net", "listening on %s:%d%s (max %u connections)", cfg->listen_host, cfg->listen_port,
             n->tls ? " with TLS: https:// and wss:// only" : "", n->max_conns);
    return 0;
}

/* ---- graceful shutdown ---- */

static void shutdown_deadline_cb(uv_timer_t *t)
{
    struct net *n = t->data;
    LOG_WARN("net", "shutdown timeout: %u connection(s) still open, closing them", n->nconns);
    if (n->stopped_cb) {
        void (*cb)(struct net *) = n->stopped_cb;
        n->stopped_cb = NULL;
        cb(n);
    }
}

static int deprecated_cb(void)
{
    return 0;
}

void net_shutdown(struct net *n, void (*stopped_cb)(struct net *n))
{
    if (n->shutting_down)
        return;
    n->shutting_down = true;
    n->stopped_cb = stopped_cb;
    LOG_INFO("net", "shutting down: %u connection(s) to close, %u ms to flush", n->nconns,
             n->cfg->shutdown_timeout_ms);
    /* Stop accepting: the listening socket closes, open connections stay. */
    lws_context_deprecate(n->ctx, deprecated_cb);
    for (struct conn *c = n->conns, *next; c; c = next) {
        next = c->next;
        if (!c->established) {
            continue;
        }
        if (c->proto == CONN_SIO) {
            /* Socket.IO: a DISCONNECT per namespace so the client does not reconnect on its
             * own, then the transport closes. */
            for (struct sock *s = c->socks, *sn; s; s = sn) {
                sn = s->conn_next;
                sio_sock_disconnect(n, s, "server shutting down");
            }
        }
        conn_close(c, MC_SHUTDOWN, CLOSE_GOING_AWAY, "server shutting down", true);
    }
    if (n->nconns == 0) {
        n->stopped_cb = NULL;
        stopped_cb(n);
        return;
    }
    uv_timer_start(&n->shutdown_timer, shutdown_deadline_cb, n->cfg->shutdown_timeout_ms, 0);
}

void net_destroy(struct net *n)
{
    uv_timer_stop(&n->shutdown_timer);
    uv_check_stop(&n->reaper);
    if (n->ctx) {
        /* Still with the timers and the write path: closing connections run through them. */
        lws_context_destroy(n->ctx);
        n->ctx = NULL;
    }
    net_tls_discard(n);
    polling_destroy(n);
    net_timers_close(n);
    net_write_close(n);
    uv_close((uv_handle_t *)&n->shutdown_timer, NULL);
    uv_close((uv_handle_t *)&n->reaper, NULL);
    conn_reap(&n->host);
}
