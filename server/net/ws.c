/*
 * A WebSocket connection once lws upgraded it: the session opening, reading (messages that span
 * several callbacks joined, UTF-8 checked, over --max-payload refused), the close handshake both
 * ways (RFC 6455 7), and the answer to the frames lws 4.1.6 refuses on its own. Writing the queue
 * is write.c's; the sessions above the frames are session_sio.c's and session_json.c's.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <libwebsockets.h>

#include "../log/log.h"
#include "lws_compat.h"

int ws_established(struct net *n, struct lws *wsi, struct conn *c)
{
    c->transport = wsi;
    c->fd = (int)lws_get_socket_fd(wsi);
    net_conn_established(c);
    if (c->authenticating || c->auth_reason) {
        /* The handshake's token is answered later, or was refused (handshake.c). */
        net_handshake_auth_established(n, c);
        return 0;
    }
    if (c->proto == CONN_SIO)
        sio_session_open(n, c);
    else
        json_session_open(n, c);
    return 0;
}

void ws_pong(struct net *n, struct conn *c)
{
    /* Socket.IO's heartbeat is its own packet (session_sio.c); a plain WebSocket's is this. */
    if (c->proto == CONN_JSON && c->awaiting_pong)
        net_ping_schedule(n, c);
}

void ws_close(struct conn *c, int code, const char *reason, bool flush)
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

/* Hands a complete message to the session. A binary message of Engine.IO v3 starts with its
 * packet type byte (proto/eio3.c), which only the message type (4) may be here. */
static void deliver(struct net *n, struct conn *c, const char *in, size_t len, bool binary)
{
    if (c->proto != CONN_SIO) {
        json_session_receive(n, c, in, len, binary);
        return;
    }
    if (binary && c->eio == 3) {
        struct eio3_packet p;
        if (eio3_decode_binary(in, len, &p) || p.type != EIO_MESSAGE) {
            metrics.invalid_packets[c->proto]++;
            LOG_DEBUG("net", "closing: an invalid Engine.IO v3 binary packet");
            conn_close(c, MC_INVALID_PACKET, CLOSE_PROTOCOL_ERROR, "invalid Engine.IO packet",
                       true);
            return;
        }
        in = p.data;
        len = p.len;
    }
    sio_session_receive(n, c, in, len, binary);
}

/* Reassembles a message spanning callbacks and hands complete ones to the session. */
int ws_receive(struct net *n, struct lws *wsi, struct conn *c, const char *in, size_t len)
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
        /* Reading is paused until the handshake's token is answered (handshake.c); a frame that was
         * already buffered has no session to go to. */
        LOG_DEBUG("net", "a frame before the authentication ended: dropped");
        return 0;
    }
    if (first && last) {
        /* The common case: the whole message in one callback, no copy. */
        if (!binary && !text_valid(c, in, len))
            return 0;
        deliver(n, c, in, len, binary);
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
    if (binary || text_valid(c, sbuf_data(&c->rx), c->rx.len))
        deliver(n, c, sbuf_data(&c->rx), c->rx.len, binary);
    /* Keep big buffers only while they are needed: an idle connection should stay small. */
    if (c->rx.cap > 1024)
        sbuf_free(&c->rx);
    else
        sbuf_reset(&c->rx);
    return 0;
}

/* The client's close frame (`c` may be NULL): echoed by lws, unless it is the answer to ours or
 * it is invalid. */
int ws_peer_close(struct lws *wsi, struct conn *c, const void *in, size_t len)
{
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
}

int ws_writable(struct net *n, struct lws *wsi, struct conn *c)
{
    if (!c->q_len) {
        if (!c->closing)
            return 0;
        /* Nothing left: the close frame goes now, after any bytes lws still holds. lws 4.1.6
         * does not send a prepared close reason when a writable callback asks to close (the
         * socket goes down at once), so the frame is written here (lws_compat.h, 1). The socket is
         * not closed yet: closed with the client's next frames unread in it, it would be reset, and
         * a reset can take the replies and the close frame still on their way with it (the client
         * then sees 1006). As RFC 6455 7.1.1 asks, the server waits for the client's close
         * (anything else it sends meanwhile is dropped, ws_receive()), or for its end of the TCP
         * connection, for at most 5 s. */
        if (c->close_sent)
            return 0;
        if (lws_partial_buffered(wsi)) {
            lws_callback_on_writable(wsi);
            return 0;
        }
        if (lws_compat_write_close(wsi, c->close_code, c->close_reason) < 0)
            return -1;
        c->close_sent = true;
        lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, 5);
        /* Reading may be paused (a handshake token being checked, handshake.c): the client's close
         * must get in. */
        lws_rx_flow_control(wsi, 1);
        return 0;
    }
    if (net_write_queued(n, wsi, c) < 0) {
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
 * (LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL; it needs a per-session user area, lws_compat.h, 2) before
 * it decides how to close: a close reason set here makes lws send the close frame and wait for the
 * client's. Nothing else closes a connection this way with nothing decided: every close switchboard
 * asks for has its code (conn_close(), or lws_close_reason() before a callback returns -1), and a
 * client that ended the TCP connection (a read of 0, which lws closes the same way) is told apart
 * by a peek at the socket. Those frames then get 1002 as RFC 6455 says. Under TLS the peek sees
 * records, not frames, but it only asks whether the TCP stream has ended (a read of 0) and takes
 * nothing from it, so it is as safe there.
 */
void ws_refused_frame(struct lws *wsi, struct conn *c)
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
