/*
 * The Engine.IO HTTP long-polling transport (v4, and v3 for socket.io 2.x: conn->eio), and the
 * upgrade of its sessions to WebSocket.
 *
 * A polling session is a `struct conn` like a WebSocket's, listed under its sid: its
 * `transport` is a struct poll_session, its `ops` the functions below, so the sessions, the
 * registry, the bus and the gateways do not know which transport a socket rides on. Queued
 * frames are Engine.IO packets, the same frames a WebSocket connection of the codec gets (a
 * broadcast is still encoded once): a GET takes everything queued, joined by 0x1e (v4) or
 * length-prefixed (v3).
 *
 *   GET ?EIO=4&transport=polling   a new session: the open packet (handshake.c admits it)
 *   GET ?…&sid=X                   held until packets are queued, then answered with them
 *   POST ?…&sid=X                  packets from the client: `ok`, then the session reads them
 *   GET ?…transport=websocket&sid=X  (an upgrade) the session's probe: 2probe, 3probe, 5
 *
 * One GET and one POST at a time: a second one is answered 400 and closes the session, as
 * engine.io does ("overlap from client"), and so does the end of the TCP connection of a held
 * GET or of a POST being read. A session that closes answers its held GET (or the next one,
 * within POLL_CLOSE_WAIT_MS) with what is queued and the close packet `1`.
 *
 * The upgrade: the client opens a WebSocket with the sid and sends `2probe`; the server answers
 * `3probe` on it and releases a held GET with a noop `6` (and answers any GET with one while the
 * probe lasts), so that the client, which waits for its polling to pause, can send `5`. Then the
 * connection becomes a WebSocket connection (its ops, handle and socket), and what was queued
 * meanwhile leaves on the WebSocket in order: the queue is the connection's, not the transport's.
 * A probe that does not finish within PROBE_TIMEOUT_S (engine.io's upgradeTimeout) or that
 * sends anything else is closed; the session stays on polling.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libwebsockets.h>

#include "../log/log.h"
#include "lws_compat.h"

#define POLL_DIRECT_MAX    2048 /* queued bytes a GET is answered with outside lws's callback */
#define POLL_CLOSE_WAIT_MS 2000 /* a closing session waits this long for a GET to say `1` to */
#define PROBE_TIMEOUT_S    10   /* engine.io's upgradeTimeout */

struct poll_session {
    struct conn *conn; /* borrowed: the session's connection (whose `transport` this is) */
    struct lws *get;   /* the GET held until packets exist, or NULL */
    struct http_answer get_answer; /* what answering the held GET needs of its headers */
    struct lws *post;              /* the POST being read, or NULL */
    struct lws *probe;             /* the WebSocket probing an upgrade, or NULL */
    struct sbuf body;              /* what arrived of the POST */
    bool probe_answer;             /* 2probe came: 3probe is due on the probe */
    bool binary_body;  /* the POST being read is a v3 binary payload (application/octet-stream) */
    bool upgrading;    /* the probe answered: every GET gets a noop at once */
    uint32_t due_slot; /* 1 + index in the polling's due list, 0 when not in it */
    struct fifo_timer close_timer; /* a closing session's wait for a GET */
};

struct polling {
    struct fifo_timer_list closing; /* POLL_CLOSE_WAIT_MS */
    uv_timer_t timer;
    /* Sessions with a held GET and something queued since the loop last slept: their GETs are
     * answered before it sleeps again (answer_cb), as WebSocket frames are written (write.c),
     * instead of after a writable callback, whose POLLOUT costs two epoll_ctl() calls and a
     * wake-up per answer. A slot is NULL when its session ended meanwhile. */
    uv_prepare_t answer;
    struct poll_session **due;
    uint32_t ndue, due_cap;
};

static struct poll_session *session_of(struct conn *c)
{
    return c->kind == CONN_POLLING ? c->transport : NULL;
}

/* Tags `wsi` as carrying `c` (kind LWS_COMPAT_OPAQUE_POLL or _PROBE), or clears it. */
static void tag(struct lws *wsi, struct conn *c, enum lws_compat_opaque kind)
{
    lws_set_opaque_user_data(wsi, c ? lws_compat_opaque_tag(c, kind) : NULL);
}

/* Detaches `wsi` from the session and drops its connection (it can say nothing more). */
static void cut(struct lws *wsi)
{
    lws_set_opaque_user_data(wsi, NULL);
    lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

/*
 * The session is over: its requests and probe are dropped, and the connection goes the way a
 * closed WebSocket goes (disconnect hooks, registry, memory). Only from the top of an lws or
 * timer callback, never from under conn_close(), which a broadcast may call while it iterates.
 */
/* `ps` is going: it leaves the due list. */
static void due_forget(struct net *n, struct poll_session *ps)
{
    if (ps->due_slot && n->polling) {
        n->polling->due[ps->due_slot - 1] = NULL;
        ps->due_slot = 0;
    }
}

/* Before the loop sleeps: the held GETs of the due sessions are answered now. */
static void answer_cb(uv_prepare_t *h)
{
    struct net *n = h->data;
    struct polling *p = n->polling;
    /* The list may grow while it is walked (an answer's close runs handlers that queue). */
    for (uint32_t i = 0; p && i < p->ndue; i++) {
        struct poll_session *ps = p->due[i];
        if (!ps)
            continue;
        ps->due_slot = 0;
        struct lws *wsi = ps->get;
        if (!wsi)
            continue;
        /* Only an answer the socket surely takes whole is written here: the held GET's
         * connection has nothing else unsent, and the kernel's send buffer is never below
         * 4.5 KB, which this answer fits even as base64 (4/3) with its framing and headers. A
         * larger one waits for the writable callback as before: written here, the 900 KB round
         * trip of binary.test.mjs never reached the client, lws 4.1.6 having to buffer most of
         * it outside its callback and the transaction being completed meanwhile. */
        if (ps->conn->q_bytes > POLL_DIRECT_MAX) {
            lws_callback_on_writable(wsi);
            continue;
        }
        if (polling_writable(n, wsi, ps->conn) < 0)
            lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        p = n->polling; /* a shutdown's last session may have taken it */
    }
    if (p)
        p->ndue = 0;
}

static void session_end(struct net *n, struct conn *c)
{
    struct poll_session *ps = session_of(c);
    if (!ps)
        return;
    fifo_timer_disarm(&ps->close_timer);
    due_forget(n, ps);
    if (ps->get)
        cut(ps->get);
    if (ps->post)
        cut(ps->post);
    if (ps->probe)
        cut(ps->probe);
    sbuf_free(&ps->body);
    http_answer_clear(&ps->get_answer);
    free(ps);
    c->transport = NULL;
    net_conn_closed(n, NULL, c);
}

/* ---- the close deadline ---- */

static void timer_cb(uv_timer_t *t);

static void timer_rearm(struct polling *p, uint64_t now)
{
    uint64_t due = fifo_timer_next_due(&p->closing);
    if (due == UINT64_MAX)
        uv_timer_stop(&p->timer);
    else
        uv_timer_start(&p->timer, timer_cb, due > now ? due - now : 0, 0);
}

static void timer_cb(uv_timer_t *t)
{
    struct net *n = t->data;
    uint64_t now = uv_now(n->loop);
    struct fifo_timer *ft;
    while ((ft = fifo_timer_expired(&n->polling->closing, now))) {
        fifo_timer_disarm(ft);
        struct poll_session *ps = container_of(ft, struct poll_session, close_timer);
        LOG_DEBUG("poll", "a closing session saw no GET within %d ms", POLL_CLOSE_WAIT_MS);
        session_end(n, ps->conn);
        if (!n->polling)
            return; /* that was the last connection of a shutdown: net_destroy() ran */
    }
    timer_rearm(n->polling, now);
}

/* ---- struct conn_transport ---- */

static void poll_want_write(struct conn *c)
{
    struct poll_session *ps = session_of(c);
    if (!ps || !ps->get || ps->due_slot)
        return;
    struct polling *p = net_of(c)->polling;
    if (p->ndue == p->due_cap) {
        uint32_t cap = p->due_cap ? p->due_cap * 2 : 256;
        struct poll_session **grown = realloc(p->due, cap * sizeof(*grown));
        if (!grown) {
            lws_callback_on_writable(ps->get); /* the slow way still works */
            return;
        }
        p->due = grown;
        p->due_cap = cap;
    }
    p->due[p->ndue++] = ps;
    ps->due_slot = p->ndue;
}

static void poll_close(struct conn *c, int code, const char *reason, bool flush)
{
    struct poll_session *ps = session_of(c);
    if (!ps)
        return;
    if (!flush)
        conn_queue_clear(c);
    if (ps->get) {
        lws_callback_on_writable(ps->get); /* what is queued, then `1` */
        return;
    }
    struct net *n = net_of(c);
    bool first = fifo_timer_next_due(&n->polling->closing) == UINT64_MAX;
    fifo_timer_arm(&n->polling->closing, &ps->close_timer, uv_now(n->loop));
    if (first)
        timer_rearm(n->polling, uv_now(n->loop));
}

static void poll_sock_disconnect(struct sock *s, const char *reason)
{
    /* Socket.IO only: a DISCONNECT for the namespace, the session stays. */
    if (s->conn)
        sio_sock_disconnect(net_of(s->conn), s, reason);
}

static const struct conn_transport poll_ops = {
    .want_write = poll_want_write,
    .close = poll_close,
    .sock_disconnect = poll_sock_disconnect,
};

/* ---- requests ---- */

/* Answers a request of a session with an Engine.IO error, counted; the connection closes. */
static int refuse(struct lws *wsi, int code, const char *why)
{
    metrics.refusals[MR_BAD_HANDSHAKE]++;
    LOG_REASON(SB_LOG_DEBUG, "poll", why, "request refused (%s): %s", eio_hs_message(code), why);
    http_respond_eio_error(wsi, code);
    return -1;
}

/* Closes the session for a client that broke the transport's rules. */
static void violation(struct conn *c, const char *why)
{
    metrics.invalid_packets[c->proto]++;
    LOG_REASON(SB_LOG_DEBUG, "poll", why, "closing a session: %s", why);
    conn_close(c, MC_INVALID_PACKET, CLOSE_PROTOCOL_ERROR, why, false);
}

/* `wsi` becomes the session's held GET. Returns 0 or SB_ENOMEM. */
static int hold_get(struct poll_session *ps, struct lws *wsi)
{
    http_answer_clear(&ps->get_answer); /* a GET before, whose connection closed */
    if (http_answer_capture(wsi, &ps->get_answer))
        return SB_ENOMEM;
    ps->get = wsi;
    tag(wsi, ps->conn, LWS_COMPAT_OPAQUE_POLL);
    /* lws would cut a request left unanswered for timeout_secs (10 s, net.c); a held GET waits
     * up to the ping interval, and the session's own timers bound it. */
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    /* Nothing more is read of its headers: their table (max_http_header_data, 8 KiB, most of
     * an idle session's memory) goes back to lws's pool while the GET waits. */
    lws_http_headers_detach(wsi);
    return 0;
}

static int open_session(struct net *n, struct lws *wsi, struct query *q, int eio)
{
    struct conn *c;
    int rc = net_admit(n, wsi, q, CONN_SIO, &c);
    if (rc)
        return rc;
    c->eio = (uint8_t)eio;
    struct poll_session *ps = calloc(1, sizeof(*ps));
    if (!ps || net_conn_list_session(n, c)) {
        free(ps);
        net_auth_conn_closed(c);
        conn_free(c);
        return -1;
    }
    sbuf_init(&ps->body, 0);
    ps->conn = c;
    c->kind = CONN_POLLING;
    c->ops = &poll_ops;
    c->transport = ps;
    net_conn_established(c);
    /* --auth-timeout bounds it, as the session's timers bound a later GET. */
    if (hold_get(ps, wsi)) {
        conn_close(c, MC_TRANSPORT, CLOSE_INTERNAL, "out of memory", false);
        return -1;
    }
    /* The open packet, unless a token is still being checked (handshake.c opens it then). */
    if (!c->authenticating)
        sio_session_open(n, c);
    return 0;
}

static int poll_get(struct net *n, struct lws *wsi, struct conn *c)
{
    struct poll_session *ps = session_of(c);
    if (ps->get) {
        violation(c, "overlap from client (a second GET)");
        return refuse(wsi, EIO_HS_BAD_REQUEST, "a GET while another is held");
    }
    if (hold_get(ps, wsi)) {
        conn_close(c, MC_TRANSPORT, CLOSE_INTERNAL, "out of memory", false);
        return -1;
    }
    if (c->q_len || c->closing || ps->upgrading)
        lws_callback_on_writable(wsi);
    return 0; /* held until polling_writable() */
}

static int poll_post(struct net *n, struct lws *wsi, struct conn *c)
{
    struct poll_session *ps = session_of(c);
    if (ps->post) {
        violation(c, "overlap from client (a second POST)");
        return refuse(wsi, EIO_HS_BAD_REQUEST, "a POST while another is read");
    }
    if (c->closing)
        return refuse(wsi, EIO_HS_SESSION_ID_UNKNOWN, "a POST to a closing session");
    char ct[64];
    bool binary = lws_hdr_copy(wsi, ct, sizeof(ct), WSI_TOKEN_HTTP_CONTENT_TYPE) > 0 &&
                  strncasecmp(ct, "application/octet-stream", 24) == 0;
    if (binary && c->eio != 3) {
        /* Engine.IO v4 sends binary as base64 text; a binary body is v3's (XHR2 clients). */
        violation(c, "a binary POST body (Engine.IO v3) on a v4 session");
        return refuse(wsi, EIO_HS_BAD_REQUEST, "binary body");
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        /* lws 4.1.6 does not decode a chunked body: it could not be read. */
        metrics.invalid_packets[c->proto]++;
        http_respond_message(wsi, 411, "a Content-Length is required", NULL, 0, true);
        return -1;
    }
    char cl[24];
    int len = lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH);
    unsigned long long expected = len > 0 ? strtoull(cl, NULL, 10) : 0;
    if (expected > n->cfg->max_payload) {
        /* engine.io answers 413 and keeps the session; the client's transport then fails. */
        metrics.invalid_packets[c->proto]++;
        LOG_DEBUG("poll", "a POST of %llu bytes, over --max-payload: 413", expected);
        http_respond_message(wsi, 413, "payload too large", NULL, 0, true);
        return -1;
    }
    ps->post = wsi;
    ps->binary_body = binary;
    sbuf_reset(&ps->body);
    tag(wsi, c, LWS_COMPAT_OPAQUE_POLL);
    if (expected == 0)
        return polling_body_end(n, wsi, c);
    return 0; /* the body comes to polling_body() */
}

int polling_request(struct net *n, struct lws *wsi, const char *method, struct query *q)
{
    const char *sid = query_get(q, "sid");
    bool has_sid = sid && *sid;
    struct conn *c = has_sid ? net_session_find(n, sid) : NULL;
    enum eio_sid state = !has_sid                  ? EIO_SID_NONE
                         : !c                      ? EIO_SID_UNKNOWN
                         : c->kind == CONN_POLLING ? EIO_SID_POLLING
                                                   : EIO_SID_WEBSOCKET;
    struct eio_hs_info info;
    int code = eio_hs_negotiate(method, q, false, state, n->cfg->allow_eio3, &info);
    if (code == EIO_HS_OK && info.jsonp) {
        /* JSONP polling (engine.io's `j` parameter, for browsers without XHR): not served. */
        LOG_INFO("poll", "a JSONP polling request (j=) refused: only XHR polling is served");
        return refuse(wsi, EIO_HS_BAD_REQUEST, "JSONP polling");
    }
    if (code == EIO_HS_SESSION_ID_UNKNOWN)
        LOG_INFO("poll",
                 "%s for an unknown session id: closed, or held by another instance (polling "
                 "needs sticky sessions: docs/cluster.md)",
                 method);
    if (code != EIO_HS_OK)
        return refuse(wsi, code, eio_hs_message(code));
    if (!c)
        return open_session(n, wsi, q, info.protocol);
    if (strcmp(method, "GET") == 0)
        return poll_get(n, wsi, c);
    if (strcmp(method, "POST") == 0)
        return poll_post(n, wsi, c);
    return refuse(wsi, EIO_HS_BAD_REQUEST, "a method other than GET and POST");
}

int polling_body(struct net *n, struct lws *wsi, struct conn *c, const void *in, size_t len)
{
    struct poll_session *ps = session_of(c);
    if (!ps || ps->post != wsi)
        return -1;
    if (ps->body.len + len > n->cfg->max_payload) {
        /* lws stops at the Content-Length, which was checked: only a guard. */
        ps->post = NULL;
        tag(wsi, NULL, 0);
        http_respond_message(wsi, 413, "payload too large", NULL, 0, true);
        return -1;
    }
    if (sbuf_append(&ps->body, in, len)) {
        ps->post = NULL;
        tag(wsi, NULL, 0);
        conn_close(c, MC_TRANSPORT, CLOSE_INTERNAL, "out of memory", false);
        return -1;
    }
    return 0;
}

/* A v3 XHR2 client's binary payload (proto/eio3.c): its text packets are read as any, its
 * binary ones as binary WebSocket messages. */
static void read_binary_payload(struct net *n, struct conn *c, const struct sbuf *body)
{
    struct eio3_binpayload it;
    struct eio3_packet p;
    eio3_binpayload_begin(&it, body->len ? sbuf_data(body) : "", body->len);
    int more;
    while (!c->closing && (more = eio3_binpayload_next(&it, &p)) != 0) {
        if (more < 0) {
            violation(c, "an invalid binary polling payload");
            return;
        }
        if (p.binary) {
            sio_session_receive(n, c, p.data, p.len, true);
        } else {
            /* The packet's text is its type digit and its data (struct eio_packet.data points
             * just after that digit, in the body). */
            sio_session_receive(n, c, p.data - 1, p.len + 1, false);
        }
    }
}

/* A text payload: v4 joins packets with 0x1e, v3 prefixes each with its length (proto/eio3.c). */
static void read_text_payload(struct net *n, struct conn *c, const struct sbuf *body)
{
    struct eio_payload it;
    struct eio3_payload it3;
    const char *pkt;
    size_t len;
    const char *in = body->len ? sbuf_data(body) : "";
    if (c->eio == 3)
        eio3_payload_begin(&it3, in, body->len);
    else
        eio_payload_begin(&it, in, body->len);
    struct sbuf bin;
    sbuf_init(&bin, 0);
    int more;
    while (!c->closing && (more = c->eio == 3 ? eio3_payload_next(&it3, &pkt, &len)
                                              : eio_payload_next(&it, &pkt, &len)) != 0) {
        if (more < 0) {
            violation(c, "an invalid polling payload");
            break;
        }
        if (!proto_utf8_valid(pkt, len)) {
            violation(c, "a polling payload that is not UTF-8");
            break;
        }
        if (pkt[0] == 'b') {
            /* A binary packet as base64 text (v4 `b…`, v3 `b4…`): a binary message, as over
             * WebSocket. */
            struct eio3_packet bp;
            sbuf_reset(&bin);
            int rc = c->eio == 3 ? eio3_decode(pkt, len, &bin, &bp)
                                 : eio_decode_base64(pkt, len, &bin, &bp.data, &bp.len);
            if (rc || (c->eio == 3 && bp.type != EIO_MESSAGE)) {
                violation(c, "an invalid base64 packet");
                break;
            }
            sio_session_receive(n, c, bp.data, bp.len, true);
            continue;
        }
        sio_session_receive(n, c, pkt, len, false);
    }
    sbuf_free(&bin);
}

int polling_body_end(struct net *n, struct lws *wsi, struct conn *c)
{
    struct poll_session *ps = session_of(c);
    if (!ps || ps->post != wsi)
        return -1;
    ps->post = NULL;
    tag(wsi, NULL, 0);
    struct sbuf body = ps->body;
    sbuf_init(&ps->body, 0);
    int rc = http_finish(wsi, http_respond(wsi, 200, "text/html", "ok", 2, NULL, NULL));

    /* Then the packets, as the session reads a WebSocket's messages. */
    metrics.bytes_in[c->proto] += body.len;
    if (ps->binary_body)
        read_binary_payload(n, c, &body);
    else
        read_text_payload(n, c, &body);
    sbuf_free(&body);
    /* The client said goodbye (`1`) and polls no more: the session ends now. */
    if (c->closing && c->close_metric == MC_CLIENT && !ps->get)
        session_end(n, c);
    return rc;
}

/* Appends a frame to a GET's answer in the session's framing: a text packet as it is, a
 * binary message (an attachment) as base64 text, which every client of either version reads. A
 * v3 client with XHR2 would take a binary payload (eio3_binpayload_*) a third smaller; the text
 * form is what engine.io sends a client that asked for `b64`, and it keeps one framing per
 * version. */
static void append(const struct conn *c, struct sbuf *b, const struct frame *f)
{
    const char *pkt = f->data + f->headroom;
    if (f->kind == FRAME_BINARY && c->eio == 3)
        eio3_payload_append_binary(b, EIO_MESSAGE, pkt, f->len);
    else if (f->kind == FRAME_BINARY)
        eio_payload_append_binary(b, pkt, f->len);
    else if (c->eio == 3)
        eio3_payload_append(b, pkt, f->len);
    else
        eio_payload_append(b, pkt, f->len);
}

/* A control packet ("1", "6") in the session's framing. */
static void append_text(const struct conn *c, struct sbuf *b, const char *pkt, size_t len)
{
    if (c->eio == 3)
        eio3_payload_append(b, pkt, len);
    else
        eio_payload_append(b, pkt, len);
}

int polling_writable(struct net *n, struct lws *wsi, struct conn *c)
{
    struct poll_session *ps = session_of(c);
    if (!ps || ps->get != wsi)
        return 0;
    struct sbuf b;
    sbuf_init(&b, 0);
    size_t count = 0;
    for (struct frame *f; (f = conn_queue_peek(c)); conn_queue_pop(c)) {
        if (f->kind != FRAME_TEXT && f->kind != FRAME_BINARY)
            continue; /* a Socket.IO session queues no WebSocket pings or closes */
        append(c, &b, f);
        metrics.bytes_out[c->proto] += f->len;
        count++;
    }
    if (c->closing)
        append_text(c, &b, "1", 1);
    else if (!b.len && ps->upgrading)
        append_text(c, &b, "6", 1); /* releases the client for its upgrade */
    if (!b.len) {
        sbuf_free(&b);
        return 0; /* nothing to say yet: the GET stays held */
    }
    if (b.failed) {
        sbuf_free(&b);
        conn_close(c, MC_TRANSPORT, CLOSE_INTERNAL, "out of memory", false);
        ps->get = NULL;
        tag(wsi, NULL, 0);
        session_end(n, c);
        return -1;
    }
    metrics.messages_out[c->proto] += count;
    metrics.writes[c->proto]++;
    ps->get = NULL;
    tag(wsi, NULL, 0);
    struct http_answer a = ps->get_answer;
    ps->get_answer = (struct http_answer){0};
    int rc = http_finish_held(
        wsi, &a,
        http_respond_held(wsi, &a, 200, "text/plain; charset=UTF-8", sbuf_data(&b), b.len));
    http_answer_clear(&a);
    sbuf_free(&b);
    if (c->closing)
        session_end(n, c);
    return rc;
}

void polling_request_closed(struct net *n, struct lws *wsi, struct conn *c)
{
    struct poll_session *ps = session_of(c);
    lws_set_opaque_user_data(wsi, NULL);
    if (!ps || (ps->get != wsi && ps->post != wsi))
        return;
    if (ps->get == wsi)
        ps->get = NULL;
    else
        ps->post = NULL;
    /* engine.io: "poll connection closed prematurely", a transport error. */
    LOG_DEBUG("poll", "a held request's connection closed: the session ends");
    conn_close(c, MC_TRANSPORT, CLOSE_NORMAL, "transport error", false);
    session_end(n, c);
}

/* ---- the upgrade ---- */

int polling_probe_attach(struct net *n, struct lws *wsi, struct conn *c)
{
    struct poll_session *ps = session_of(c);
    const char *why = !ps                ? "the session upgraded already"
                      : c->closing       ? "the session is closing"
                      : ps->probe        ? "an upgrade is under way"
                      : n->shutting_down ? "the server is shutting down"
                                         : NULL;
    if (why) {
        metrics.refusals[MR_BAD_HANDSHAKE]++;
        LOG_DEBUG("poll", "upgrade refused: %s", why);
        http_respond_eio_error(wsi, EIO_HS_BAD_REQUEST);
        return -1;
    }
    ps->probe = wsi;
    tag(wsi, c, LWS_COMPAT_OPAQUE_PROBE);
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, PROBE_TIMEOUT_S);
    return 0;
}

/* `5` on the probe: the connection moves to the WebSocket. */
static void upgrade(struct net *n, struct lws *wsi, struct conn *c)
{
    struct poll_session *ps = session_of(c);
    ps->probe = NULL;
    /* The client paused its polling before it sent `5`: a GET or POST still here is stale. */
    if (ps->get)
        cut(ps->get);
    if (ps->post)
        cut(ps->post);
    fifo_timer_disarm(&ps->close_timer);
    due_forget(n, ps);
    sbuf_free(&ps->body);
    http_answer_clear(&ps->get_answer);
    free(ps);
    c->kind = CONN_WEBSOCKET;
    c->ops = c->host->transport;
    c->transport = wsi;
    c->fd = (int)lws_get_socket_fd(wsi);
    lws_set_opaque_user_data(wsi, c);
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    metrics.upgrades++;
    metrics.transports[MT_POLLING]--;
    metrics.transports[MT_WEBSOCKET]++;
    LOG_DEBUG("poll", "session upgraded to WebSocket, %u packet(s) queued", c->q_len);
    if (c->q_len)
        c->ops->want_write(c);
}

/* Ends the probe with a close frame; the session stays on polling. */
static int probe_refuse(struct lws *wsi, struct conn *c, const char *why)
{
    struct poll_session *ps = session_of(c);
    LOG_DEBUG("poll", "upgrade probe closed: %s", why);
    if (ps) {
        ps->probe = NULL;
        ps->upgrading = false;
    }
    lws_set_opaque_user_data(wsi, NULL);
    lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, (unsigned char *)"upgrade failed", 14);
    return -1;
}

int polling_probe_receive(struct net *n, struct lws *wsi, struct conn *c, const char *in,
                          size_t len)
{
    struct poll_session *ps = session_of(c);
    if (!ps || ps->probe != wsi || c->closing)
        return probe_refuse(wsi, c, "the session is gone");
    if (lws_frame_is_binary(wsi) || !lws_is_first_fragment(wsi) || !lws_is_final_fragment(wsi))
        return probe_refuse(wsi, c, "not a probe");
    if (len == 6 && memcmp(in, "2probe", 6) == 0 && !ps->upgrading) {
        ps->probe_answer = true;
        ps->upgrading = true;
        lws_callback_on_writable(wsi);
        if (ps->get)
            lws_callback_on_writable(ps->get); /* the noop */
        return 0;
    }
    if (len == 1 && in[0] == '5' && ps->upgrading && !ps->probe_answer) {
        upgrade(n, wsi, c);
        return 0;
    }
    return probe_refuse(wsi, c, "an unexpected packet during the upgrade");
}

int polling_probe_writable(struct net *n, struct lws *wsi, struct conn *c)
{
    struct poll_session *ps = session_of(c);
    if (!ps || ps->probe != wsi || !ps->probe_answer)
        return 0;
    unsigned char buf[LWS_PRE + 6];
    memcpy(buf + LWS_PRE, "3probe", 6);
    if (lws_write(wsi, buf + LWS_PRE, 6, LWS_WRITE_TEXT) < 6)
        return probe_refuse(wsi, c, "write failed");
    ps->probe_answer = false;
    return 0;
}

void polling_probe_closed(struct net *n, struct lws *wsi, struct conn *c)
{
    struct poll_session *ps = session_of(c);
    lws_set_opaque_user_data(wsi, NULL);
    if (ps && ps->probe == wsi) {
        LOG_DEBUG("poll", "the upgrade probe closed before `5`: the session stays on polling");
        ps->probe = NULL;
        ps->upgrading = false;
        ps->probe_answer = false;
    }
}

/* ---- lifetime ---- */

int polling_init(struct net *n)
{
    struct polling *p = calloc(1, sizeof(*p));
    if (!p)
        return SB_ENOMEM;
    fifo_timer_list_init(&p->closing, POLL_CLOSE_WAIT_MS);
    uv_timer_init(n->loop, &p->timer);
    p->timer.data = n;
    uv_prepare_init(n->loop, &p->answer);
    p->answer.data = n;
    uv_prepare_start(&p->answer, answer_cb);
    n->polling = p;
    return 0;
}

static void free_cb(uv_handle_t *h)
{
    free(container_of((uv_timer_t *)h, struct polling, timer));
}

void polling_destroy(struct net *n)
{
    if (!n->polling)
        return;
    for (struct conn *c = n->conns, *next; c; c = next) {
        next = c->next;
        if (c->kind == CONN_POLLING)
            session_end(n, c);
    }
    uv_prepare_stop(&n->polling->answer);
    uv_close((uv_handle_t *)&n->polling->answer, NULL);
    free(n->polling->due);
    uv_timer_stop(&n->polling->timer);
    /* Closed after the prepare handle, so freed after it too (libuv closes in order). */
    uv_close((uv_handle_t *)&n->polling->timer, free_cb);
    n->polling = NULL;
}
