/*
 * A Socket.IO v5 session over Engine.IO v4 (either transport): the open packet, the heartbeat,
 * the namespace handshake (CONNECT with an optional auth object), events and acks both ways,
 * DISCONNECT, and the answers to bad input (docs/architecture.md names the sources of the
 * byte-level rules). Also the session of a socket.io 2.x client (Engine.IO v3, Socket.IO
 * protocol v4: conn->eio == 3), which differs in four places: the open packet has no maxPayload,
 * the client pings and the server answers, the client is in `/` without asking (the server sends
 * `40` after the open packet), and a namespace's CONNECT carries a query instead of an auth
 * object, its reply no sid, a refusal a string. Events, acks and DISCONNECT are the same bytes.
 *
 * Binary: a BINARY_EVENT or BINARY_ACK announces n attachments (1 to SIO_MAX_ATTACHMENTS, as
 * socket.io-parser 4.2 allows), which come next as n binary messages; the packet then goes on
 * as an EVENT or ACK with its attachments. As in socket.io-parser, a text packet before the
 * last attachment, or a binary message with no packet waiting for it, is a protocol error.
 * Unlike it, the packet and its attachments together may not pass --max-payload, and the
 * attachments must come within ping-interval + ping-timeout (net/timers.c).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "../log/log.h"
#include "../pipeline/pipeline.h"
#include "../proto/proto.h"

#define MAX_NSP_LEN 256

static void send_sbuf(struct conn *c, struct sbuf *b)
{
    struct frame *f = frame_from_sbuf(b, FRAME_TEXT);
    sbuf_free(b);
    if (f) {
        conn_send(c, f);
        frame_unref(f);
    }
}

/* Queues `4<packet>`. */
static void send_packet(struct conn *c, enum sio_type type, const char *nsp, const json_t *data)
{
    struct sbuf b;
    frame_sbuf_init(&b, CONN_HEADROOM);
    sbuf_append_char(&b, '4');
    sio_encode(&b, type, nsp, -1, data);
    send_sbuf(c, &b);
}

/* CONNECT_ERROR: {"message"} in v5, the message as a JSON string in v4 (socket.io 2.x). */
static void send_connect_error(struct conn *c, const char *nsp, const char *message)
{
    if (c->eio == 3) {
        struct sbuf b;
        frame_sbuf_init(&b, CONN_HEADROOM);
        sbuf_append_char(&b, '4');
        sio4_encode_connect_error(&b, nsp, message, NULL);
        send_sbuf(c, &b);
        return;
    }
    json_t *data = json_pack("{s:s}", "message", message);
    send_packet(c, SIO_CONNECT_ERROR, nsp, data);
    json_decref(data);
}

static void connect_error(struct conn *c, const char *nsp, const char *message,
                          enum metric_refusal why)
{
    metrics.refusals[why]++;
    send_connect_error(c, nsp, message);
}

static void send_open(struct net *n, struct conn *c)
{
    struct eio_open_params p = {
        .sid = c->sid,
        .ping_interval_ms = n->cfg->ping_interval_ms,
        .ping_timeout_ms = n->cfg->ping_timeout_ms,
        .max_payload = n->cfg->max_payload,
        .upgrades = c->kind == CONN_POLLING, /* a polling session may upgrade to WebSocket */
    };
    struct sbuf b;
    frame_sbuf_init(&b, CONN_HEADROOM);
    if (c->eio == 3)
        eio3_encode_open(&b, &p);
    else
        eio_encode_open(&b, &p);
    send_sbuf(c, &b);
}

static void handle_connect(struct net *n, struct conn *c, const char *nsp,
                           const struct sio_packet *p);

void sio_session_open(struct net *n, struct conn *c)
{
    send_open(n, c);
    if (c->eio == 3) {
        /* socket.io 2.x: the client pings; it is in `/` at once, with the handshake's token. */
        net_heartbeat_expect(n, c);
        net_connect_deadline(n, c);
        struct sio_packet none = {.type = SIO_CONNECT, .ack_id = -1};
        handle_connect(n, c, "/", &none);
        return;
    }
    net_ping_schedule(n, c);
    net_connect_deadline(n, c);
}

void sio_session_refuse(struct net *n, struct conn *c, const char *message)
{
    /* A socket.io client that sees its transport close before the open packet reports only a
     * timeout, after its own connect timeout; the CONNECT_ERROR gives it the reason at once. */
    send_open(n, c);
    send_connect_error(c, "/", message);
    conn_close(c, MC_SERVER_DISCONNECT, CLOSE_UNAUTHORIZED, message, true);
}

static void invalid(struct net *n, struct conn *c, const char *why)
{
    metrics.invalid_packets[MP_SOCKETIO]++;
    LOG_REASON(SB_LOG_DEBUG, "sio", why, "closing: %s", why);
    /* What the valid packets before this one were answered goes out first, then the close. */
    conn_close(c, MC_INVALID_PACKET, CLOSE_PROTOCOL_ERROR, why, true);
}

/* Joins `nsp` with an identity and the CONNECT's auth object (borrowed, or NULL), and tells
 * the client. */
static void connect_accept(struct net *n, struct conn *c, const char *nsp, const char *user,
                           json_t *claims, uint64_t expires_ms, json_t *auth)
{
    struct sock *s;
    char why[PLUGINS_WHY_MAX];
    int rc = net_sock_attach(n, c, nsp, user, claims, expires_ms, auth, &s, why);
    if (rc == SB_EAUTH) {
        /* Refused by a plugin (ABI 1.4 before_connect): as a refused token, the connection
         * stays open for other namespaces. */
        LOG_REASON(SB_LOG_INFO, "sio", why, "CONNECT to %s refused: %s", nsp, why);
        connect_error(c, nsp, why, MR_CONNECT_HOOK);
        return;
    }
    if (rc) {
        conn_close(c, MC_TRANSPORT, CLOSE_INTERNAL, "out of memory", false);
        return;
    }
    /* v5 tells the client its socket id; v4's reply is bare (`40`, `40/admin,`). */
    json_t *data = c->eio == 3 ? NULL : json_pack("{s:s}", "sid", s->id);
    send_packet(c, SIO_CONNECT, nsp, data);
    json_decref(data);

    /* As in socket.io, the connection handlers run once the client knows it is connected. */
    net_sock_announce(n, s);
}

static void connect_refuse(struct conn *c, const char *nsp, const struct identity_result *id)
{
    const char *message = id->message ? id->message : "not authorized";
    LOG_REASON(SB_LOG_INFO, "sio", message, "CONNECT to %s refused: %s", nsp, message);
    connect_error(c, nsp, message, MR_UNAUTHORIZED);
}

/* The answer to a CONNECT whose token an auth plugin checked asynchronously. */
static void connect_auth_done(struct net *n, struct conn *c, const char *nsp, json_t *auth,
                              struct identity_result *id)
{
    if (c->closing)
        return;
    if (id->outcome != AUTH_ACCEPTED) {
        connect_refuse(c, nsp, id);
        return;
    }
    /* CONNECTs to the namespace were ignored meanwhile, but gateways may have been reloaded. */
    if (conn_sock_find(c, nsp))
        return;
    if (!luah_nsp_exists(n->pipe->lua, nsp)) {
        connect_error(c, nsp, "Invalid namespace", MR_INVALID_NAMESPACE);
        return;
    }
    connect_accept(n, c, nsp, id->user, id->claims, id->expires_ms, auth);
}

/*
 * What gateways see of a CONNECT's auth object (socket.auth, socket.io's
 * socket.handshake.auth): all of it but its `token`, which is a secret, as socket.query leaves
 * out the handshake's. Its size and nesting are those of any packet (--max-payload, the JSON
 * decoder's depth), as for an event's arguments. Sets *out to a new reference, or to NULL when
 * nothing is left; returns 0 or SB_ENOMEM.
 */
static int auth_kept(const json_t *data, json_t **out)
{
    *out = NULL;
    size_t size = json_object_size(data);
    if (size == 0 || (size == 1 && json_object_get(data, "token")))
        return 0;
    /* A shallow copy: the values are shared, and nothing changes them. */
    json_t *copy = json_copy((json_t *)data);
    if (!copy)
        return SB_ENOMEM;
    json_object_del(copy, "token");
    *out = copy;
    return 0;
}

static void handle_connect(struct net *n, struct conn *c, const char *nsp,
                           const struct sio_packet *p)
{
    if (conn_sock_find(c, nsp)) {
        LOG_DEBUG("sio", "CONNECT to %s, already connected: ignored", nsp);
        return;
    }
    if (net_auth_pending(c, nsp)) {
        LOG_DEBUG("sio", "CONNECT to %s, its authentication is pending: ignored", nsp);
        return;
    }
    if (!luah_nsp_exists(n->pipe->lua, nsp)) {
        connect_error(c, nsp, "Invalid namespace", MR_INVALID_NAMESPACE);
        return;
    }

    json_t *auth;
    if (auth_kept(p->data, &auth)) {
        conn_close(c, MC_TRANSPORT, CLOSE_INTERNAL, "out of memory", false);
        return;
    }
    /* The auth object's token wins over the one of the handshake. */
    const char *user = c->user;
    json_t *claims = c->claims;
    uint64_t expires_ms = c->expires_ms;
    struct identity_result id = {0};
    json_t *token = p->data ? json_object_get(p->data, "token") : NULL;
    if (token && !json_is_null(token)) {
        if (!json_is_string(token) || json_string_length(token) == 0 ||
            strlen(json_string_value(token)) != json_string_length(token)) {
            connect_error(c, nsp, "invalid token", MR_UNAUTHORIZED);
            goto done;
        }
        /* A pending answer comes to connect_auth_done(), with the auth object; until then the
         * namespace is not joined, and its packets are ignored as for any namespace not
         * joined. */
        int o = net_auth_start(n, c, json_string_value(token), nsp, auth, connect_auth_done, &id);
        if (o == AUTH_PENDING)
            goto done;
        if (o == AUTH_REFUSED) {
            connect_refuse(c, nsp, &id);
            goto done;
        }
        if (o == AUTH_ACCEPTED) {
            user = id.user;
            claims = id.claims;
            expires_ms = id.expires_ms;
        }
    }
    if (!user && n->cfg->require_auth) {
        connect_error(c, nsp, "authentication required", MR_UNAUTHORIZED);
        goto done;
    }
    connect_accept(n, c, nsp, user, claims, expires_ms, auth);
done:
    identity_result_clear(&id);
    json_decref(auth);
}

void sio_sock_disconnect(struct net *n, struct sock *s, const char *reason)
{
    struct conn *c = s->conn;
    if (!c || !s->connected)
        return;
    send_packet(c, SIO_DISCONNECT, s->nsp_name, NULL);
    net_sock_detach(n, s, reason);
    sock_release(s);
}

/* The event name and the arguments of an EVENT payload ["name", args…]. */
static json_t *event_args(const json_t *data, char *name, size_t size)
{
    const json_t *first = json_array_get(data, 0);
    if (json_is_string(first))
        snprintf(name, size, "%s", json_string_value(first));
    else
        snprintf(name, size, "%.17g", json_number_value(first));
    json_t *args = json_array();
    for (size_t i = 1; args && i < json_array_size(data); i++)
        json_array_append(args, json_array_get(data, i));
    return args;
}

/* A v4 CONNECT (socket.io 2.x): `/admin?token=abc` is the namespace `/admin` and, as socket.io
 * 4 reads it with allowEIO3, an auth object {"token": "abc"} made of the query. Rewrites `p`'s
 * namespace and payload; returns 0, or SB_EPROTO/SB_ETOOBIG/SB_ENOMEM. */
static int v4_connect(struct sio_packet *p)
{
    struct sio4_connect cq;
    int rc = sio4_connect_parse(p->nsp, p->nsp_len, &cq);
    if (rc)
        return rc;
    p->nsp = cq.nsp;
    p->nsp_len = cq.nsp_len;
    json_decref(p->data); /* v4 has no CONNECT payload: anything there is ignored */
    p->data = NULL;
    if (!cq.query)
        return 0;
    struct query q;
    rc = query_parse(cq.query, cq.query_len, &q);
    if (rc)
        return rc;
    p->data = json_object();
    for (size_t i = 0; p->data && i < q.count; i++)
        if (!json_object_get(p->data, q.pairs[i].key)) /* the first of a repeated key */
            json_object_set_new(p->data, q.pairs[i].key, json_string(q.pairs[i].value));
    query_free(&q);
    return p->data ? 0 : SB_ENOMEM;
}

/* The event name and the arguments of a complete EVENT or BINARY_EVENT, to the pipeline. */
static void dispatch_event(struct net *n, struct sock *s, const json_t *data, int64_t ack_id,
                           struct sio_bins *bins)
{
    char name[1024];
    json_t *args = event_args(data, name, sizeof(name));
    if (args)
        pipeline_event(n->pipe, s, name, args, bins, ack_id >= 0 ? ack_id : PIPELINE_NO_ACK);
    json_decref(args);
}

/* A BINARY_EVENT or BINARY_ACK (`len` bytes of text): it waits for its attachments. */
static void binary_begin(struct net *n, struct conn *c, struct sio_packet *p, const char *nsp,
                         size_t len)
{
    if (p->attachments < 1 || p->attachments > SIO_MAX_ATTACHMENTS) {
        invalid(n, c, p->attachments ? "too many attachments" : "invalid attachment count");
        return;
    }
    size_t nlen = strlen(nsp);
    struct conn_bin_rx *rx = calloc(1, sizeof(*rx) + nlen + 1);
    if (!rx) {
        conn_close(c, MC_TRANSPORT, CLOSE_INTERNAL, "out of memory", false);
        return;
    }
    rx->conn = c;
    rx->type = (uint8_t)p->type;
    rx->expected = p->attachments;
    rx->ack_id = p->ack_id;
    rx->bytes = len;
    rx->data = p->data; /* taken */
    p->data = NULL;
    memcpy(rx->nsp, nsp, nlen + 1);
    c->bin_rx = rx;
    net_attachments_deadline(n, rx);
}

/* One attachment of the binary packet waiting on `c`; the last one sends the packet on. */
static void binary_take(struct net *n, struct conn *c, const char *data, size_t len)
{
    struct conn_bin_rx *rx = c->bin_rx;
    if (!rx) {
        invalid(n, c, "a binary message with no binary packet before it");
        return;
    }
    if (len > n->cfg->max_payload || rx->bytes > n->cfg->max_payload - len) {
        LOG_INFO("sio", "closing a connection whose binary packet passed %llu bytes",
                 (unsigned long long)n->cfg->max_payload);
        conn_close(c, MC_TOO_BIG, CLOSE_TOO_BIG, "message too big", true);
        return;
    }
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy) {
        conn_close(c, MC_TRANSPORT, CLOSE_INTERNAL, "out of memory", false);
        return;
    }
    if (len)
        memcpy(copy, data, len);
    rx->bin[rx->n++] = (struct sio_bin){.data = copy, .len = len};
    rx->bytes += len;
    if (rx->n < rx->expected)
        return;

    c->bin_rx = NULL;
    struct sio_bins *bins = NULL;
    if (sio_placeholders_check(rx->data, rx->n)) {
        invalid(n, c, "invalid placeholder in a binary packet");
    } else if (!(bins = sio_bins_new(rx->bin, rx->n))) {
        conn_close(c, MC_TRANSPORT, CLOSE_INTERNAL, "out of memory", false);
    } else {
        struct sock *s = conn_sock_find(c, rx->nsp);
        if (rx->type == SIO_BINARY_EVENT) {
            if (s)
                dispatch_event(n, s, rx->data, rx->ack_id, bins);
            else
                LOG_DEBUG("sio", "EVENT for namespace %s which is not connected: ignored", rx->nsp);
        } else if (s && rx->ack_id >= 0 &&
                   sock_ack_complete(s, (uint64_t)rx->ack_id, rx->data, bins)) {
            LOG_DEBUG("sio", "ACK %lld matches no pending ack: ignored", (long long)rx->ack_id);
        }
    }
    sio_bins_unref(bins);
    conn_bin_rx_free(rx);
}

static void handle_message(struct net *n, struct conn *c, const char *data, size_t len)
{
    if (c->bin_rx) {
        invalid(n, c, "a text packet while binary attachments were expected");
        return;
    }
    struct sio_packet p;
    int rc = sio_decode(data, len, &p);
    if (rc) {
        invalid(n, c, rc == SB_EJSON ? "invalid JSON in packet" : "invalid packet");
        return;
    }
    if (c->eio == 3 && p.type == SIO_CONNECT && v4_connect(&p)) {
        sio_packet_clear(&p);
        invalid(n, c, "invalid namespace or query in CONNECT");
        return;
    }
    if (p.nsp_len > MAX_NSP_LEN) {
        if (p.type == SIO_CONNECT) {
            connect_error(c, "/", "Invalid namespace", MR_INVALID_NAMESPACE);
        }
        sio_packet_clear(&p);
        return;
    }
    char nsp[MAX_NSP_LEN + 1];
    memcpy(nsp, p.nsp, p.nsp_len);
    nsp[p.nsp_len] = '\0';
    struct sock *s = p.type == SIO_CONNECT ? NULL : conn_sock_find(c, nsp);

    switch (p.type) {
    case SIO_CONNECT:
        handle_connect(n, c, nsp, &p);
        break;
    case SIO_DISCONNECT:
        if (s) {
            net_sock_detach(n, s, "client namespace disconnect");
            sock_release(s);
        } else {
            /* Leaving a namespace whose CONNECT is still being authenticated: no answer. */
            net_auth_cancel(c, nsp);
        }
        break;
    case SIO_EVENT:
        if (!s) {
            LOG_DEBUG("sio", "EVENT for namespace %s which is not connected: ignored", nsp);
            break;
        }
        dispatch_event(n, s, p.data, p.ack_id, NULL);
        break;
    case SIO_ACK:
        if (s && p.ack_id >= 0 && sock_ack_complete(s, (uint64_t)p.ack_id, p.data, NULL))
            LOG_DEBUG("sio", "ACK %lld matches no pending ack: ignored", (long long)p.ack_id);
        break;
    case SIO_BINARY_EVENT:
    case SIO_BINARY_ACK:
        /* Read whatever the namespace: its attachments follow, and are checked, either way. */
        binary_begin(n, c, &p, nsp, len);
        break;
    case SIO_CONNECT_ERROR:
    default:
        invalid(n, c, "invalid packet type from a client");
        break;
    }
    sio_packet_clear(&p);
}

void sio_session_receive(struct net *n, struct conn *c, const char *data, size_t len, bool binary)
{
    metrics.messages_in[MP_SOCKETIO]++;
    if (binary) {
        if (c->eio == 3)
            net_heartbeat_expect(n, c); /* a sign of life, as any packet of a v3 client */
        binary_take(n, c, data, len);
        return;
    }
    struct eio_packet e;
    if (eio_decode(data, len, &e)) {
        invalid(n, c, "invalid Engine.IO packet");
        return;
    }
    if (c->eio == 3) {
        /* engine.io 3.x: any packet is a sign of life, and the client is the one that pings. */
        net_heartbeat_expect(n, c);
        if (e.type == EIO_PING) {
            struct sbuf b;
            frame_sbuf_init(&b, CONN_HEADROOM);
            sbuf_append_char(&b, '3');
            sbuf_append(&b, e.data, e.len);
            send_sbuf(c, &b);
            return;
        }
        if (e.type == EIO_PONG) {
            invalid(n, c, "invalid heartbeat direction");
            return;
        }
    }
    switch (e.type) {
    case EIO_PONG:
        if (c->awaiting_pong)
            net_ping_schedule(n, c);
        break;
    case EIO_MESSAGE:
        handle_message(n, c, e.data, e.len);
        break;
    case EIO_CLOSE:
        conn_close(c, MC_CLIENT, CLOSE_NORMAL, "client close", true);
        break;
    case EIO_NOOP:
        break;
    case EIO_PING:
        invalid(n, c, "invalid heartbeat direction");
        break;
    default:
        invalid(n, c, "invalid Engine.IO packet type from a client");
        break;
    }
}
