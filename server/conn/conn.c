#include "conn.h"

#include <stdlib.h>
#include <string.h>

#include "../log/log.h"
#include "../proto/proto.h"

/* The transport functions of `c`, or NULL. */
static const struct conn_transport *transport_of(const struct conn *c)
{
    return c->ops;
}

struct conn *conn_new(struct conn_host *host, enum conn_proto proto, size_t max_queue)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->host = host;
    c->ops = host ? host->transport : NULL;
    id_generate(c->sid);
    c->proto = (uint8_t)proto;
    c->eio = 4;
    c->max_queue = max_queue;
    c->close_metric = 0xff;
    c->fd = -1;
    c->q = c->q_inline;
    c->q_cap = CONN_QUEUE_INLINE;
    sbuf_init(&c->rx, 0);
    return c;
}

void conn_free(struct conn *c)
{
    if (!c)
        return;
    while (c->socks)
        sock_free(c->socks);
    conn_queue_clear(c);
    if (c->q != c->q_inline)
        free(c->q);
    fifo_timer_disarm(&c->ping_timer);
    fifo_timer_disarm(&c->connect_timer);
    free(c->user);
    json_decref(c->claims);
    free(c->query);
    free(c->headers);
    sbuf_free(&c->rx);
    conn_bin_rx_free(c->bin_rx);
    free(c);
}

void conn_bin_rx_free(struct conn_bin_rx *rx)
{
    if (!rx)
        return;
    fifo_timer_disarm(&rx->deadline);
    json_decref(rx->data);
    for (uint32_t i = 0; i < rx->n; i++)
        free((void *)rx->bin[i].data);
    free(rx);
}

static int grow_queue(struct conn *c)
{
    uint32_t cap = c->q_cap * 2;
    struct frame **q = malloc(cap * sizeof(*q));
    if (!q)
        return SB_ENOMEM;
    for (uint32_t i = 0; i < c->q_len; i++)
        q[i] = c->q[(c->q_head + i) & (c->q_cap - 1)];
    if (c->q != c->q_inline)
        free(c->q);
    c->q = q;
    c->q_cap = cap;
    c->q_head = 0;
    return 0;
}

int conn_send(struct conn *c, struct frame *f)
{
    if (c->closing || c->peer_closed)
        return SB_ECLOSED;
    /* max_queue bounds a backlog: what waits behind the frame being written. So a message that
     * finds the queue empty goes out however large (a gateway's 5 MB reply to a client that
     * reads), and so does a message behind it that fits. */
    size_t backlog = c->q_len ? c->q_bytes - c->q[c->q_head]->len : 0;
    if (c->q_len && backlog + f->len > c->max_queue) {
        /* A client that does not read must not grow our memory: drop what it has not taken
         * and close it. Other sockets are not affected. */
        metrics.queue_drops += c->q_len + 1;
        LOG_INFO("conn", "closing a slow consumer: outbound queue over %zu bytes", c->max_queue);
        conn_queue_clear(c);
        conn_close(c, MC_SLOW_CONSUMER, CLOSE_SLOW_CONSUMER, "outbound queue full", false);
        return SB_EFULL;
    }
    if (c->q_len == c->q_cap && grow_queue(c)) {
        metrics.queue_drops++;
        return SB_ENOMEM;
    }
    c->q[(c->q_head + c->q_len) & (c->q_cap - 1)] = frame_ref(f);
    c->q_len++;
    c->q_bytes += f->len;
    const struct conn_transport *t = transport_of(c);
    if (c->q_len == 1 && t)
        t->want_write(c);
    return 0;
}

struct frame *conn_queue_peek(const struct conn *c)
{
    return c->q_len ? c->q[c->q_head] : NULL;
}

void conn_queue_pop(struct conn *c)
{
    if (!c->q_len)
        return;
    struct frame *f = c->q[c->q_head];
    c->q_head = (c->q_head + 1) & (c->q_cap - 1);
    c->q_len--;
    c->q_bytes -= f->len;
    frame_unref(f);
    if (!c->q_len && c->q_cap > 16) {
        /* A burst is over: give the big ring back. */
        free(c->q);
        c->q = c->q_inline;
        c->q_cap = CONN_QUEUE_INLINE;
        c->q_head = 0;
    }
}

void conn_queue_clear(struct conn *c)
{
    while (c->q_len)
        conn_queue_pop(c);
}

void conn_close(struct conn *c, enum metric_close why, int code, const char *reason, bool flush)
{
    if (c->closing)
        return;
    if (c->close_metric == 0xff)
        c->close_metric = (uint8_t)why;
    c->closing = true;
    c->close_code = (uint16_t)code;
    c->close_reason = reason;
    const struct conn_transport *t = transport_of(c);
    if (t)
        t->close(c, code, reason, flush);
}

struct frame *conn_frame_text(const char *text, size_t len)
{
    return frame_new(text, len, CONN_HEADROOM, FRAME_TEXT);
}

/* The binary frames of `bins`, after the text frame in out->f[0]. */
static int add_bins(struct conn_frames *out, const struct sio_bins *bins)
{
    for (uint32_t i = 0; i < bins->n; i++) {
        struct frame *f =
            frame_new(bins->bin[i].data, bins->bin[i].len, CONN_HEADROOM + 1, FRAME_BINARY);
        if (!f)
            return SB_ENOMEM;
        out->f[out->n++] = f;
    }
    return 0;
}

int conn_frames_event(struct conn_frames *out, enum conn_proto proto, const char *nsp,
                      int64_t ack_id, const char *event, const json_t *args,
                      const struct sio_bins *bins)
{
    out->n = 0;
    if (bins && bins->n > SIO_MAX_ATTACHMENTS)
        return SB_ETOOBIG;
    struct sbuf b;
    int rc;
    frame_sbuf_init(&b, CONN_HEADROOM);
    if (proto == CONN_SIO) {
        sbuf_append_char(&b, '4');
        rc = bins && sio_placeholders_check(args, bins->n) ? SB_EINVAL
             : bins ? sio_encode_binary_event(&b, nsp, ack_id, event, args, bins->n)
                    : sio_encode_event(&b, nsp, ack_id, event, args);
    } else {
        json_t *plain = bins ? sio_bins_to_buffers(args, bins) : json_incref((json_t *)args);
        const json_t *data = plain && json_array_size(plain) ? json_array_get(plain, 0) : NULL;
        rc = bins && !plain ? SB_EINVAL : wsjson_encode(&b, event, data);
        json_decref(plain);
    }
    /* The encoders refuse what no client could decode (a reserved event name, say). */
    struct frame *f = rc ? NULL : frame_from_sbuf(&b, FRAME_TEXT);
    sbuf_free(&b);
    if (!f)
        return rc ? (rc == SB_ENOMEM ? rc : SB_EINVAL) : SB_ENOMEM;
    out->f[out->n++] = f;
    if (proto == CONN_SIO && bins && add_bins(out, bins)) {
        conn_frames_clear(out);
        return SB_ENOMEM;
    }
    return 0;
}

int conn_send_frames(struct conn *c, const struct conn_frames *fs)
{
    for (uint32_t i = 0; i < fs->n; i++) {
        int rc = conn_send(c, fs->f[i]);
        if (rc)
            return rc;
    }
    return 0;
}

void conn_frames_clear(struct conn_frames *fs)
{
    for (uint32_t i = 0; i < fs->n; i++)
        frame_unref(fs->f[i]);
    fs->n = 0;
}

/* ---- sockets ---- */

struct sock *sock_new(struct conn *c)
{
    struct sock *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->conn = c;
    id_generate(s->id);
    s->conn_next = c->socks;
    c->socks = s;
    return s;
}

static void unlink_sock(struct sock *s)
{
    if (s->conn) {
        struct sock **pp = &s->conn->socks;
        while (*pp && *pp != s)
            pp = &(*pp)->conn_next;
        if (*pp)
            *pp = s->conn_next;
    }
    /* Pending acks learn that the socket is gone. A callback may not free `s`. */
    while (s->acks) {
        struct ack_wait *w = s->acks;
        s->acks = w->next;
        w->cb(w->ud, NULL, NULL, SB_ECLOSED);
        free(w);
    }
}

static void sock_memory_free(struct sock *s)
{
    free(s->user);
    json_decref(s->claims);
    json_decref(s->auth);
    free(s->claims_text);
    free(s);
}

void sock_release(struct sock *s)
{
    struct conn_host *host = s->conn ? s->conn->host : NULL;
    unlink_sock(s);
    s->conn = NULL;
    if (!host) {
        sock_memory_free(s);
        return;
    }
    /* Sockets released while something up the stack may still hold them. */
    s->conn_next = host->zombies;
    host->zombies = s;
}

void conn_reap(struct conn_host *host)
{
    while (host->zombies) {
        struct sock *s = host->zombies;
        host->zombies = s->conn_next;
        sock_memory_free(s);
    }
}

void sock_disconnect(struct sock *s, const char *reason)
{
    const struct conn_transport *t = s->conn ? transport_of(s->conn) : NULL;
    if (s->connected && t && t->sock_disconnect)
        t->sock_disconnect(s, reason);
}

void sock_free(struct sock *s)
{
    unlink_sock(s);
    sock_memory_free(s);
}

struct sock *conn_sock_find(const struct conn *c, const char *nsp)
{
    for (struct sock *s = c->socks; s; s = s->conn_next)
        if (s->nsp_name && strcmp(s->nsp_name, nsp) == 0)
            return s;
    return NULL;
}

int sock_set_identity(struct sock *s, const char *user, json_t *claims)
{
    char *u = user ? strdup(user) : NULL;
    if (user && !u)
        return SB_ENOMEM;
    free(s->user);
    s->user = u;
    json_decref(s->claims);
    s->claims = claims ? json_incref(claims) : NULL;
    free(s->claims_text);
    s->claims_text = NULL;
    return 0;
}

const char *sock_claims_text(struct sock *s)
{
    if (!s->claims)
        return "{}";
    if (!s->claims_text)
        s->claims_text = json_dumps(s->claims, JSON_COMPACT);
    return s->claims_text ? s->claims_text : "{}";
}

int sock_emit(struct sock *s, const char *event, const json_t *args, const struct sio_bins *bins,
              int64_t ack_id)
{
    if (!s->conn)
        return SB_ECLOSED;
    struct conn_frames fs;
    int rc = conn_frames_event(&fs, s->conn->proto, s->nsp_name, ack_id, event, args, bins);
    if (rc)
        return rc;
    rc = conn_send_frames(s->conn, &fs);
    conn_frames_clear(&fs);
    return rc;
}

static int send_sbuf(struct sock *s, struct sbuf *b)
{
    struct frame *f = frame_from_sbuf(b, FRAME_TEXT);
    sbuf_free(b);
    if (!f)
        return SB_ENOMEM;
    int rc = conn_send(s->conn, f);
    frame_unref(f);
    return rc;
}

int sock_send_ack(struct sock *s, int64_t ack_id, const json_t *args, const struct sio_bins *bins)
{
    if (!s->conn)
        return SB_ECLOSED;
    if (bins && (bins->n > SIO_MAX_ATTACHMENTS || sio_placeholders_check(args, bins->n)))
        return SB_EINVAL;
    struct sbuf b;
    frame_sbuf_init(&b, CONN_HEADROOM);
    sbuf_append_char(&b, '4');
    if (!bins) {
        sio_encode(&b, SIO_ACK, s->nsp_name, ack_id, args);
        return send_sbuf(s, &b);
    }
    struct sio_packet p = {
        .type = SIO_BINARY_ACK,
        .attachments = bins->n,
        .nsp = s->nsp_name,
        .nsp_len = strlen(s->nsp_name),
        .ack_id = ack_id,
        .data = (json_t *)args,
    };
    struct conn_frames fs = {0};
    int rc = sio_encode_packet(&b, &p);
    struct frame *f = rc ? NULL : frame_from_sbuf(&b, FRAME_TEXT);
    sbuf_free(&b);
    if (!f)
        return rc ? rc : SB_ENOMEM;
    fs.f[fs.n++] = f;
    rc = add_bins(&fs, bins);
    if (rc == 0)
        rc = conn_send_frames(s->conn, &fs);
    conn_frames_clear(&fs);
    return rc;
}

int sock_send_json(struct sock *s, const json_t *value)
{
    if (!s->conn)
        return SB_ECLOSED;
    struct sbuf b;
    frame_sbuf_init(&b, CONN_HEADROOM);
    proto_json_append(&b, value);
    return send_sbuf(s, &b);
}

int sock_exception(struct sock *s, const char *message)
{
    json_t *args = json_pack("[{s:s,s:s}]", "status", "error", "message", message);
    if (!args)
        return SB_ENOMEM;
    metrics.exceptions++;
    int rc = sock_emit(s, "exception", args, NULL, -1);
    json_decref(args);
    return rc;
}

int sock_exception_value(struct sock *s, const char *message, const json_t *data)
{
    if (!data)
        return sock_exception(s, message);
    json_t *args = json_pack("[O]", data);
    if (!args)
        return SB_ENOMEM;
    metrics.exceptions++;
    int rc = sock_emit(s, "exception", args, NULL, -1);
    json_decref(args);
    return rc;
}

int sock_ack_add(struct sock *s, void (*cb)(void *ud, json_t *args, struct sio_bins *bins, int err),
                 void *ud, uint64_t *id)
{
    struct ack_wait *w = malloc(sizeof(*w));
    if (!w)
        return SB_ENOMEM;
    w->id = s->next_ack_id++;
    w->cb = cb;
    w->ud = ud;
    w->next = s->acks;
    s->acks = w;
    *id = w->id;
    return 0;
}

static struct ack_wait *take_ack(struct sock *s, uint64_t id)
{
    for (struct ack_wait **pp = &s->acks; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            struct ack_wait *w = *pp;
            *pp = w->next;
            return w;
        }
    }
    return NULL;
}

int sock_ack_complete(struct sock *s, uint64_t id, json_t *args, struct sio_bins *bins)
{
    struct ack_wait *w = take_ack(s, id);
    if (!w)
        return SB_ENOTFOUND;
    w->cb(w->ud, args, bins, 0);
    free(w);
    return 0;
}

void sock_ack_fail(struct sock *s, uint64_t id, int err)
{
    struct ack_wait *w = take_ack(s, id);
    if (w) {
        w->cb(w->ud, NULL, NULL, err);
        free(w);
    }
}
