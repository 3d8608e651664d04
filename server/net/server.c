/*
 * libwebsockets glue: the context on our libuv loop, the one protocol callback, writing queued
 * frames, closing, the connection timers and graceful shutdown.
 *
 * A connection's `struct conn` is attached to its wsi with lws_set_opaque_user_data() when the
 * upgrade is confirmed (lws resets per-session user space when it binds the WebSocket
 * protocol; the opaque pointer survives), and freed from LWS_CALLBACK_CLOSED or
 * LWS_CALLBACK_WSI_DESTROY, whichever comes first. The body of a POST /api/emit being received
 * rides on its wsi the same way (http.c), with the low bit of the pointer set so that it is never
 * taken for a conn; it is freed when the request completes, or from LWS_CALLBACK_CLOSED_HTTP or
 * LWS_CALLBACK_WSI_DESTROY.
 */
#include "net.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <libwebsockets.h>

#include "../log/log.h"
#include "../proto/proto.h"
#include "../registry/registry.h"

/* The write path puts each frame's WebSocket header (at most 10 bytes) into the headroom conn
 * reserves in front of its data; at least LWS_PRE keeps the frames fit for lws_write() as lws
 * documents it. */
_Static_assert(CONN_HEADROOM >= LWS_PRE, "conn's frame headroom is smaller than LWS_PRE");

/* lws's own opcode for a close frame (private in 4.1.6, "handled by lws_close_reason()"). */
#define WRITE_CLOSE ((enum lws_write_protocol)4)

/* The net a connection belongs to (the transport functions get the connection only). */
static struct net *net_of(struct conn *c)
{
    return container_of(c->host, struct net, host);
}

/* ---- connection list ---- */

static void conn_link(struct net *n, struct conn *c)
{
    c->prev = NULL;
    c->next = n->conns;
    if (n->conns)
        n->conns->prev = c;
    n->conns = c;
    n->nconns++;
}

static void conn_unlink(struct net *n, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        n->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    n->nconns--;
}

void net_conn_adopt(struct net *n, struct lws *wsi, struct conn *c)
{
    c->transport = wsi;
    lws_set_opaque_user_data(wsi, c);
    conn_link(n, c);
}

/* ---- timers ---- */

static void timer_cb(uv_timer_t *t);

static void timer_reschedule(struct net *n)
{
    uint64_t due = fifo_timer_next_due(&n->ping_list);
    uint64_t d2 = fifo_timer_next_due(&n->pong_list);
    uint64_t d3 = fifo_timer_next_due(&n->connect_list);
    if (d2 < due)
        due = d2;
    if (d3 < due)
        due = d3;
    if (due == n->timer_due)
        return;
    n->timer_due = due;
    if (due == UINT64_MAX) {
        uv_timer_stop(&n->timer);
        return;
    }
    uint64_t now = uv_now(n->loop);
    uv_timer_start(&n->timer, timer_cb, due > now ? due - now : 0, 0);
}

static void arm(struct net *n, struct fifo_timer_list *l, struct fifo_timer *t)
{
    fifo_timer_arm(l, t, uv_now(n->loop));
    if (t->due < n->timer_due)
        timer_reschedule(n);
}

void net_ping_schedule(struct net *n, struct conn *c)
{
    c->awaiting_pong = false;
    arm(n, &n->ping_list, &c->ping_timer);
}

void net_connect_deadline(struct net *n, struct conn *c)
{
    arm(n, &n->connect_list, &c->connect_timer);
}

static void send_ping(struct net *n, struct conn *c)
{
    /* A WebSocket ping carries a payload: lws 4.1.6 drops an empty pong without telling us. */
    struct frame *f = c->proto == CONN_SIO ? frame_new("2", 1, CONN_HEADROOM, FRAME_TEXT)
                                           : frame_new("sb", 2, CONN_HEADROOM, FRAME_PING);
    if (f) {
        conn_send(c, f);
        frame_unref(f);
    }
    c->awaiting_pong = true;
    arm(n, &n->pong_list, &c->ping_timer);
}

static void timer_cb(uv_timer_t *t)
{
    struct net *n = t->data;
    uint64_t now = uv_now(n->loop);
    struct fifo_timer *ft;
    n->timer_due = UINT64_MAX;
    while ((ft = fifo_timer_expired(&n->ping_list, now))) {
        fifo_timer_disarm(ft);
        send_ping(n, container_of(ft, struct conn, ping_timer));
    }
    while ((ft = fifo_timer_expired(&n->pong_list, now))) {
        fifo_timer_disarm(ft);
        struct conn *c = container_of(ft, struct conn, ping_timer);
        LOG_DEBUG("net", "ping timeout");
        conn_close(c, MC_PING_TIMEOUT, CLOSE_POLICY, "ping timeout", false);
    }
    while ((ft = fifo_timer_expired(&n->connect_list, now))) {
        fifo_timer_disarm(ft);
        struct conn *c = container_of(ft, struct conn, connect_timer);
        if (!c->socks) {
            LOG_DEBUG("net", "connect timeout: no namespace joined");
            conn_close(c, MC_CONNECT_TIMEOUT, CLOSE_POLICY, "connect timeout", false);
        }
    }
    timer_reschedule(n);
}

/* ---- sockets ---- */

int net_sock_attach(struct net *n, struct conn *c, const char *nsp_name, const char *user,
                    json_t *claims, struct sock **out, char *why)
{
    *out = NULL;
    why[0] = '\0';
    struct nsp *nsp = registry_nsp(n->reg, nsp_name, true);
    struct sock *s = nsp ? sock_new(c) : NULL;
    if (!s)
        return SB_ENOMEM;
    if (sock_set_identity(s, user, claims)) {
        sock_free(s);
        return SB_ENOMEM;
    }
    /* ABI 1.4: the plugins that guard the namespace may refuse it. The socket has its identity
     * and namespace name, but is in no registry yet: nothing can reach it. */
    s->nsp_name = nsp->name;
    int rc = plugins_guard_connect(n->plugins, s, why);
    if (rc) {
        sock_free(s);
        return rc == SB_EAUTH ? rc : SB_ENOMEM;
    }
    if (registry_sock_add(n->reg, nsp, s)) {
        sock_free(s);
        return SB_ENOMEM;
    }
    if (user) {
        /* The seed's targets are rooms: a user's sockets and every authenticated socket. */
        size_t len = strlen(user);
        char *room = malloc(sizeof(ROOM_USER_PREFIX) + len);
        rc = room ? 0 : SB_ENOMEM;
        if (room) {
            memcpy(room, ROOM_USER_PREFIX, sizeof(ROOM_USER_PREFIX) - 1);
            memcpy(room + sizeof(ROOM_USER_PREFIX) - 1, user, len + 1);
            rc = registry_join(n->reg, s, room);
            free(room);
        }
        if (!rc)
            rc = registry_join(n->reg, s, ROOM_AUTHENTICATED);
        if (rc) {
            registry_sock_remove(n->reg, s);
            sock_free(s);
            return SB_ENOMEM;
        }
    }
    s->connected = true;
    fifo_timer_disarm(&c->connect_timer);
    *out = s;
    return 0;
}

void net_sock_announce(struct net *n, struct sock *s)
{
    pipeline_connect(n->pipe, s);
}

void net_sock_detach(struct net *n, struct sock *s, const char *reason)
{
    if (!s->connected)
        return;
    pipeline_disconnect(n->pipe, s, reason);
    s->connected = false;
    registry_sock_remove(n->reg, s);
}

/* ---- transport functions for conn ---- */

/*
 * Writing. A frame queued for a connection is not written at once: the connection joins the
 * flush list, and the list is written before the loop sleeps (a uv_prepare handle), or after
 * cfg->write_delay_ms. Everything a connection got in the meantime (the frames of several
 * broadcasts, an ack and its events) goes out in one send(), and a connection whose socket takes
 * the bytes never waits for a writable callback: lws_callback_on_writable() costs two
 * epoll_ctl() calls, more than the send itself. Only when lws holds bytes the kernel refused
 * (a slow reader), or a close is pending, does the connection wait for POLLOUT.
 *
 * The frames are complete WebSocket frames built here (a server frame is never masked, and no
 * extension is negotiated), so they go to the socket with send() rather than through
 * lws_write(), which would only add its bookkeeping to the same send (about 5% of the CPU of a
 * fan-out at one broadcast a second, bench/RESULTS.md). lws still owns the stream: what the
 * kernel does not take is handed to lws_write(LWS_WRITE_RAW), which keeps it and asks for
 * POLLOUT, and nothing is sent directly while lws holds bytes (lws_partial_buffered(): our
 * remainder, or a pong or close of its own), so the byte order on the wire is always the order
 * of the queue.
 */

static size_t ws_header(unsigned char *h, uint8_t kind, size_t len)
{
    h[0] = 0x80 | (kind == FRAME_BINARY ? 0x2 : kind == FRAME_PING ? 0x9 : 0x1);
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    if (len < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

static void count_out(const struct conn *c, const struct frame *f)
{
    metrics.messages_out[c->proto]++;
    metrics.bytes_out[c->proto] += f->len;
}

/* Sends `len` bytes of complete frames on c's socket; the part the kernel does not take goes to
 * lws, which sends it when the socket drains. Returns 0, or -1 when the socket failed. */
static int send_frames(struct lws *wsi, const struct conn *c, unsigned char *p, size_t len)
{
    ssize_t k;
    do
        k = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (k < 0 && errno == EINTR);
    if (k < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        k = 0;
    }
    metrics.writes[c->proto]++;
    if ((size_t)k == len)
        return 0;
    return lws_write(wsi, p + k, len - (size_t)k, LWS_WRITE_RAW) < 0 ? -1 : 0;
}

/* Writes what `c` has queued, several frames per send() when there are several, until the queue
 * is empty, lws holds unsent bytes, or four sends were made (then the rest waits for a writable
 * callback, so that one connection cannot hold the loop). Returns 0, or -1 when the socket
 * failed. */
static int write_queued(struct net *n, struct lws *wsi, struct conn *c)
{
    for (int sends = 0; c->q_len && sends < 4; sends++) {
        if (lws_partial_buffered(wsi))
            return 0; /* lws asked for POLLOUT itself and writes its bytes first */
        struct frame *f = conn_queue_peek(c);
        if (c->q_len == 1 || f->len + 10 > NET_COALESCE_MAX) {
            /* One frame: its header goes into the frame's headroom (CONN_HEADROOM bytes, the same
             * header for every connection the frame goes to), no copy. */
            unsigned char *payload = (unsigned char *)frame_payload(f), h[10];
            size_t hlen = ws_header(h, f->kind, f->len);
            memcpy(payload - hlen, h, hlen);
            if (send_frames(wsi, c, payload - hlen, hlen + f->len) < 0)
                return -1;
            count_out(c, f);
            conn_queue_pop(c);
            continue;
        }
        size_t used = 0;
        while ((f = conn_queue_peek(c)) && used + 10 + f->len <= NET_COALESCE_MAX) {
            used += ws_header(n->wbuf + used, f->kind, f->len);
            memcpy(n->wbuf + used, frame_payload(f), f->len);
            used += f->len;
            count_out(c, f);
            conn_queue_pop(c);
        }
        if (send_frames(wsi, c, n->wbuf, used) < 0)
            return -1;
    }
    if (c->q_len)
        lws_callback_on_writable(wsi);
    return 0;
}

/* From this many connections on, a flush sorts its list first. */
#define FLUSH_SORT_MIN 32

static int by_fd(const void *a, const void *b)
{
    int x = ((const struct net_flush *)a)->fd, y = ((const struct net_flush *)b)->fd;
    return (x > y) - (x < y);
}

static void flush_all(struct net *n)
{
    /* A fan-out queues for the sockets in the registry's order, which is hash order. The
     * memory each send touches (the kernel's file, socket and TCP state of the connection,
     * lws's wsi, our conn) was allocated when the connection was accepted, in the order of its
     * fd: written in fd order, the sends walk that memory forward instead of jumping around
     * it, and the CPU's prefetchers follow. At 10,000 sockets this takes 15-20% off the CPU of
     * a delivery (bench/RESULTS.md); the sort costs ~0.1 us per connection. */
    if (n->nflush >= FLUSH_SORT_MIN) {
        qsort(n->flush, n->nflush, sizeof(*n->flush), by_fd);
        for (uint32_t i = 0; i < n->nflush; i++)
            if (n->flush[i].c)
                n->flush[i].c->flush_slot = i + 1;
    }
    /* The list may grow while it is written (a failed socket's close runs handlers). */
    for (uint32_t i = 0; i < n->nflush; i++) {
        struct conn *c = n->flush[i].c;
        if (!c)
            continue;
        c->flush_slot = 0;
        struct lws *wsi = c->transport;
        if (!wsi || !c->q_len)
            continue;
        if (c->closing) {
            lws_callback_on_writable(wsi); /* the close frame goes from the writable callback */
            continue;
        }
        if (write_queued(n, wsi, c) < 0) {
            LOG_DEBUG("net", "write failed: closing the connection");
            conn_queue_clear(c);
            c->close_metric = MC_TRANSPORT;
            c->closing = true;
            lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        }
    }
    n->nflush = 0;
}

static void flusher_cb(uv_prepare_t *h)
{
    struct net *n = h->data;
    if (n->nflush && !n->cfg->write_delay_ms)
        flush_all(n);
}

static void flush_timer_cb(uv_timer_t *t)
{
    flush_all(t->data);
}

static void flush_forget(struct net *n, struct conn *c)
{
    if (c->flush_slot) {
        n->flush[c->flush_slot - 1].c = NULL;
        c->flush_slot = 0;
    }
}

static void t_want_write(struct conn *c)
{
    struct net *n = net_of(c);
    if (!c->transport || !c->established || c->flush_slot)
        return;
    if (n->nflush == n->flush_cap) {
        uint32_t cap = n->flush_cap ? n->flush_cap * 2 : 1024;
        struct net_flush *grown = realloc(n->flush, cap * sizeof(*grown));
        if (!grown) {
            lws_callback_on_writable(c->transport); /* the slow way still works */
            return;
        }
        n->flush = grown;
        n->flush_cap = cap;
    }
    n->flush[n->nflush++] = (struct net_flush){.c = c, .fd = c->fd};
    c->flush_slot = n->nflush;
    if (n->nflush == 1 && n->cfg->write_delay_ms)
        uv_timer_start(&n->flush_timer, flush_timer_cb, n->cfg->write_delay_ms, 0);
}

static void t_close(struct conn *c, int code, const char *reason, bool flush)
{
    if (!c->transport)
        return;
    if (!flush)
        conn_queue_clear(c);
    /* The close frame goes out from the writable callback, after what is queued. A client that
     * never reads would never let it out: give up on it after a few seconds. */
    lws_set_timeout(c->transport, PENDING_TIMEOUT_CLOSE_SEND, 5);
    lws_callback_on_writable(c->transport);
}

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
    .want_write = t_want_write,
    .close = t_close,
    .sock_disconnect = t_sock_disconnect,
};

/* ---- the lws callback ---- */

static const char *disconnect_reason(const struct conn *c)
{
    switch (c->close_metric) {
    case MC_PING_TIMEOUT:
        return "ping timeout";
    case MC_SHUTDOWN:
        return "server shutting down";
    case MC_INVALID_PACKET:
        return "parse error";
    case MC_SLOW_CONSUMER:
        return "slow consumer";
    case MC_TOO_BIG:
    case MC_TRANSPORT:
        return "transport error";
    case MC_SERVER_DISCONNECT:
        return "server namespace disconnect";
    default:
        return "transport close";
    }
}

static void conn_closed(struct net *n, struct lws *wsi, struct conn *c)
{
    lws_set_opaque_user_data(wsi, NULL);
    if (c->established) {
        const char *reason = disconnect_reason(c);
        for (struct sock *s = c->socks, *next; s; s = next) {
            next = s->conn_next;
            net_sock_detach(n, s, reason);
        }
        metrics.connections[c->proto]--;
        metrics.closes[c->close_metric == 0xff ? MC_TRANSPORT : c->close_metric]++;
    }
    c->transport = NULL;
    flush_forget(n, c);
    /* Pending authentications end here: a plugin's late answer must not reach `c`. */
    net_auth_conn_closed(c);
    conn_unlink(n, c);
    conn_free(c);
    if (n->shutting_down && n->nconns == 0 && n->stopped_cb) {
        void (*cb)(struct net *) = n->stopped_cb;
        n->stopped_cb = NULL;
        cb(n);
    }
}

/* A text message that is not UTF-8 closes its connection with 1007 (RFC 6455 8.1), after what
 * the messages before it were answered. lws's own check (LWS_SERVER_OPTION_VALIDATE_UTF8) is
 * off: it would also judge the reason of a close frame, and kill the connection without a
 * close frame of its own before we could answer 1007 (net_start()). */
static bool text_valid(struct conn *c, const char *data, size_t len)
{
    if (proto_utf8_valid(data, len))
        return true;
    metrics.invalid_packets[c->proto]++;
    LOG_DEBUG("net", "closing: a text message that is not UTF-8");
    conn_close(c, MC_INVALID_PACKET, CLOSE_INVALID_PAYLOAD, "invalid UTF-8", true);
    return false;
}

/* Reassembles a message spanning callbacks and hands complete ones to the session. */
static int receive(struct net *n, struct lws *wsi, struct conn *c, const char *in, size_t len)
{
    bool binary = lws_frame_is_binary(wsi);
    bool first = lws_is_first_fragment(wsi), last = lws_is_final_fragment(wsi);
    size_t remaining = lws_remaining_packet_payload(wsi);
    size_t have = first ? 0 : c->rx.len;
    metrics.bytes_in[c->proto] += len;

    if (have + len + remaining > n->cfg->max_payload) {
        LOG_INFO("net", "closing a connection that sent a message over %llu bytes",
                 (unsigned long long)n->cfg->max_payload);
        c->close_metric = MC_TOO_BIG;
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                         (unsigned char *)"message too big", 15);
        return -1;
    }
    if (c->closing)
        return 0;
    if (c->authenticating) {
        /* Reading is paused until the handshake's token is answered (auth.c); a frame that was
         * already buffered has no session to go to. */
        LOG_DEBUG("net", "a frame before the authentication ended: dropped");
        return 0;
    }
    if (first && last) {
        /* The common case: the whole message in one callback, no copy. */
        if (!binary && !text_valid(c, in, len))
            return 0;
        if (c->proto == CONN_SIO)
            sio_session_receive(n, c, in, len, binary);
        else
            json_session_receive(n, c, in, len, binary);
        return 0;
    }
    if (first)
        sbuf_reset(&c->rx);
    if (sbuf_append(&c->rx, in, len)) {
        conn_close(c, MC_TRANSPORT, CLOSE_INTERNAL, "out of memory", false);
        return 0;
    }
    if (!last)
        return 0;
    if (binary || text_valid(c, sbuf_data(&c->rx), c->rx.len)) {
        if (c->proto == CONN_SIO)
            sio_session_receive(n, c, sbuf_data(&c->rx), c->rx.len, binary);
        else
            json_session_receive(n, c, sbuf_data(&c->rx), c->rx.len, binary);
    }
    /* Keep big buffers only while they are needed: an idle connection should stay small. */
    if (c->rx.cap > 1024)
        sbuf_free(&c->rx);
    else
        sbuf_reset(&c->rx);
    return 0;
}

static int writable(struct net *n, struct lws *wsi, struct conn *c)
{
    if (!c->q_len) {
        if (!c->closing)
            return 0;
        /* Nothing left: the close frame goes now, after any bytes lws still holds. lws 4.1.6
         * does not send a prepared close reason when a writable callback asks to close (the
         * socket goes down at once), so the frame is written here. The socket is not closed
         * yet: closed with the client's next frames unread in it, it would be reset, and a
         * reset can take the replies and the close frame still on their way with it (the
         * client then sees 1006). As RFC 6455 7.1.1 asks, the server waits for the client's
         * close (anything else it sends meanwhile is dropped, receive()), or for its end of
         * the TCP connection, for at most 5 s. */
        if (c->close_sent)
            return 0;
        if (lws_partial_buffered(wsi)) {
            lws_callback_on_writable(wsi);
            return 0;
        }
        unsigned char buf[LWS_PRE + 125];
        const char *reason = c->close_reason ? c->close_reason : "";
        size_t len = strlen(reason);
        if (len > 123)
            len = 123;
        buf[LWS_PRE] = (unsigned char)(c->close_code >> 8);
        buf[LWS_PRE + 1] = (unsigned char)(c->close_code & 0xff);
        memcpy(buf + LWS_PRE + 2, reason, len);
        if (lws_write(wsi, buf + LWS_PRE, len + 2, WRITE_CLOSE) < 0)
            return -1;
        c->close_sent = true;
        lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, 5);
        /* Reading may be paused (a handshake token being checked, auth.c): the client's close
         * must get in. */
        lws_rx_flow_control(wsi, 1);
        return 0;
    }
    if (write_queued(n, wsi, c) < 0) {
        c->close_metric = MC_TRANSPORT;
        return -1;
    }
    if (c->closing)
        lws_callback_on_writable(wsi);
    return 0;
}

/*
 * lws 4.1.6 refuses some frames in its own parser and drops the connection without a close
 * frame: a control frame with a 16- or 64-bit length (over 125 bytes), a 64-bit length with its
 * top bit set, an unknown opcode. No callback sees the frame, but lws's close calls this one
 * (LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL; it needs a per-session user area, hence the
 * protocol's one byte) before it decides how to close: a close reason set here makes lws send
 * the close frame and wait for the client's. Nothing else closes a connection this way with
 * nothing decided: every close switchboard asks for has its code (conn_close(), or
 * lws_close_reason() before a callback returns -1), and a client that ended the TCP
 * connection (a read of 0, which lws closes the same way) is told apart by a peek at the
 * socket. Those frames then get 1002 as RFC 6455 says.
 */
static void answer_refused_frame(struct lws *wsi, struct conn *c)
{
    if (!c->established || c->closing || c->peer_closed || c->close_metric != 0xff)
        return;
    char byte;
    ssize_t k = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        return; /* the client is gone, or has sent all it will */
    metrics.invalid_packets[c->proto]++;
    c->close_metric = MC_INVALID_PACKET;
    LOG_DEBUG("net", "closing: a frame libwebsockets refused");
    lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, (unsigned char *)"protocol error", 14);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct net *n = lws_context_user(lws_get_context(wsi));
    void *opaque = lws_get_opaque_user_data(wsi);
    /* A tagged pointer (low bit set) is an HTTP request body, never a conn. */
    bool body = ((uintptr_t)opaque & 1) != 0;
    struct conn *c = body ? NULL : opaque;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return http_request(n, wsi, in);

    case LWS_CALLBACK_HTTP_BODY:
        if (body)
            return http_body(n, wsi, in, len);
        break;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (body)
            return http_body_completion(n, wsi);
        break;

    case LWS_CALLBACK_CLOSED_HTTP:
        if (body)
            http_body_release(wsi);
        break;

    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        return lws_http_transaction_completed(wsi) ? -1 : 0;

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        if (!in || strcmp(in, "websocket") != 0)
            return -1;
        return http_confirm_upgrade(n, wsi);

    case LWS_CALLBACK_ESTABLISHED:
        if (!c)
            return -1;
        c->transport = wsi;
        c->fd = (int)lws_get_socket_fd(wsi);
        c->established = true;
        metrics.connections[c->proto]++;
        metrics.connections_total[c->proto]++;
        if (c->authenticating || c->auth_reason) {
            /* The handshake's token is answered later (auth.c). */
            net_handshake_auth_established(n, c);
            return 0;
        }
        if (c->proto == CONN_SIO)
            sio_session_open(n, c);
        else
            json_session_open(n, c);
        return 0;

    case LWS_CALLBACK_RECEIVE:
        if (!c)
            return -1;
        return receive(n, wsi, c, in, len);

    case LWS_CALLBACK_RECEIVE_PONG:
        if (c && c->proto == CONN_JSON && c->awaiting_pong)
            net_ping_schedule(n, c);
        return 0;

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (c && c->close_sent)
            return -1; /* the answer to our close: nothing to echo, the socket closes now */
        if (c && c->close_metric == 0xff)
            c->close_metric = MC_CLIENT;
        if (c) {
            /* lws echoes the close and no data may follow it: what is queued is dropped, and
             * conn_send() takes nothing more. */
            c->peer_closed = true;
            conn_queue_clear(c);
        }
        /* RFC 6455: a close payload of one byte is invalid; answer 1002, not an echo. */
        if (len == 1) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR,
                             (unsigned char *)"invalid close payload", 21);
            return -1;
        }
        if (len >= 2) {
            /* RFC 6455 7.4: lws 4.1.6 has already turned the reserved codes below 3000 (and
             * 1005, 1006) into 1002 here, but it echoes the codes from 5000 up, which no
             * endpoint may send. And the reason must be UTF-8 (8.1): 1007. */
            const unsigned char *p = in;
            if (((unsigned)p[0] << 8 | p[1]) >= 5000) {
                lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR,
                                 (unsigned char *)"invalid close code", 18);
                return -1;
            }
            if (!proto_utf8_valid((const char *)p + 2, len - 2)) {
                lws_close_reason(wsi, LWS_CLOSE_STATUS_INVALID_PAYLOAD,
                                 (unsigned char *)"invalid close reason", 20);
                return -1;
            }
        }
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!c)
            return -1;
        return writable(n, wsi, c);

    case LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL:
        if (c)
            answer_refused_frame(wsi, c);
        return 0;

    case LWS_CALLBACK_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        if (body)
            http_body_release(wsi);
        if (c)
            conn_closed(n, wsi, c);
        return 0;

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- lifetime ---- */

static struct lws_protocols protocols[] = {
    /* per_session_data_size 1: lws calls LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL only for a
     * connection with a user area (answer_refused_frame()); the state lives on the opaque pointer.
     * rx_buffer_size 128: lws keeps this buffer for the life of every connection, and most
     * client messages fit in it (a longer one arrives in pieces, joined in receive()).
     * tx_packet_size: one send() may take a whole coalesced batch. */
    {"switchboard", callback, 1, 128, 0, NULL, NET_COALESCE_MAX + 64},
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

    http_check_config(cfg);
    n->max_conns = cfg->max_connections;
    if (!n->max_conns) {
        struct rlimit rl;
        rlim_t lim = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
        n->max_conns = lim > 128 ? (uint32_t)(lim > 10000000 ? 10000000 : lim - 64) : 64;
    }

    fifo_timer_list_init(&n->ping_list, cfg->ping_interval_ms);
    fifo_timer_list_init(&n->pong_list, cfg->ping_timeout_ms);
    fifo_timer_list_init(&n->connect_list, cfg->connect_timeout_ms);
    uv_timer_init(loop, &n->timer);
    n->timer.data = n;
    n->timer_due = UINT64_MAX;
    uv_check_init(loop, &n->reaper);
    n->reaper.data = n;
    uv_check_start(&n->reaper, reaper_cb);
    uv_prepare_init(loop, &n->flusher);
    n->flusher.data = n;
    uv_prepare_start(&n->flusher, flusher_cb);
    uv_timer_init(loop, &n->flush_timer);
    n->flush_timer.data = n;
    n->wbuf = malloc(NET_COALESCE_MAX);
    if (!n->wbuf)
        return SB_ENOMEM;
    uv_timer_init(loop, &n->shutdown_timer);
    n->shutdown_timer.data = n;

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

    /* The vhost is created on its own: lws_create_context() succeeds even when the default
     * vhost cannot listen (a port in use), lws_create_vhost() says so. */
    info.options |= LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    n->ctx = lws_create_context(&info);
    if (!n->ctx || !lws_create_vhost(n->ctx, &info)) {
        LOG_ERROR("net", "cannot listen on %s:%d (address in use, or not an address here?)",
                  cfg->listen_host, cfg->listen_port);
        return SB_EIO;
    }
    LOG_INFO("net", "listening on %s:%d (max %u connections)", cfg->listen_host, cfg->listen_port,
             n->max_conns);
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
    uv_timer_stop(&n->timer);
    uv_timer_stop(&n->shutdown_timer);
    uv_check_stop(&n->reaper);
    uv_prepare_stop(&n->flusher);
    uv_timer_stop(&n->flush_timer);
    if (n->ctx) {
        lws_context_destroy(n->ctx);
        n->ctx = NULL;
    }
    uv_close((uv_handle_t *)&n->timer, NULL);
    uv_close((uv_handle_t *)&n->shutdown_timer, NULL);
    uv_close((uv_handle_t *)&n->reaper, NULL);
    uv_close((uv_handle_t *)&n->flusher, NULL);
    uv_close((uv_handle_t *)&n->flush_timer, NULL);
    free(n->flush);
    n->flush = NULL;
    n->nflush = n->flush_cap = 0;
    free(n->wbuf);
    n->wbuf = NULL;
    conn_reap(&n->host);
}
