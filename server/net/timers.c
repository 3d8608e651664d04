/*
 * The connection timers: the next ping, the pong deadline, the Socket.IO connect deadline and
 * the deadline of a binary packet's attachments. Each delay has one FIFO list (every timer of a
 * list has the same delay, so arming is an append), and one uv timer serves every list, armed
 * for the earliest due.
 */
#include "internal.h"

#include "../log/log.h"
#include "lws_compat.h"

static void timer_cb(uv_timer_t *t);

static void timer_reschedule(struct net *n)
{
    uint64_t due = fifo_timer_next_due(&n->ping_list);
    uint64_t d2 = fifo_timer_next_due(&n->pong_list);
    uint64_t d3 = fifo_timer_next_due(&n->connect_list);
    uint64_t d4 = fifo_timer_next_due(&n->heartbeat_list);
    uint64_t d5 = fifo_timer_next_due(&n->attach_list);
    if (d5 < due)
        due = d5;
    if (d2 < due)
        due = d2;
    if (d3 < due)
        due = d3;
    if (d4 < due)
        due = d4;
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

void net_heartbeat_expect(struct net *n, struct conn *c)
{
    arm(n, &n->heartbeat_list, &c->ping_timer);
}

void net_connect_deadline(struct net *n, struct conn *c)
{
    arm(n, &n->connect_list, &c->connect_timer);
}

void net_attachments_deadline(struct net *n, struct conn_bin_rx *rx)
{
    arm(n, &n->attach_list, &rx->deadline);
}

static void send_ping(struct net *n, struct conn *c)
{
    /* Engine.IO's ping is a text packet; a WebSocket ping carries a payload (lws_compat.h, 4). */
    struct frame *f = c->proto == CONN_SIO
                          ? frame_new("2", 1, CONN_HEADROOM, FRAME_TEXT)
                          : frame_new(LWS_COMPAT_PING_PAYLOAD, LWS_COMPAT_PING_PAYLOAD_LEN,
                                      CONN_HEADROOM, FRAME_PING);
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
    while ((ft = fifo_timer_expired(&n->heartbeat_list, now))) {
        fifo_timer_disarm(ft);
        struct conn *c = container_of(ft, struct conn, ping_timer);
        LOG_DEBUG("net", "ping timeout: an Engine.IO v3 client sent nothing in time");
        conn_close(c, MC_PING_TIMEOUT, CLOSE_POLICY, "ping timeout", false);
    }
    while ((ft = fifo_timer_expired(&n->attach_list, now))) {
        fifo_timer_disarm(ft);
        struct conn *c = container_of(ft, struct conn_bin_rx, deadline)->conn;
        LOG_DEBUG("net", "the attachments of a binary packet did not come in time");
        metrics.invalid_packets[MP_SOCKETIO]++;
        conn_close(c, MC_INVALID_PACKET, CLOSE_POLICY, "binary attachments timed out", false);
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

void net_timers_init(struct net *n)
{
    fifo_timer_list_init(&n->ping_list, n->cfg->ping_interval_ms);
    fifo_timer_list_init(&n->pong_list, n->cfg->ping_timeout_ms);
    fifo_timer_list_init(&n->connect_list, n->cfg->connect_timeout_ms);
    /* engine.io 3.x closes a session that sent nothing for pingInterval + pingTimeout. */
    fifo_timer_list_init(&n->heartbeat_list,
                         (uint64_t)n->cfg->ping_interval_ms + n->cfg->ping_timeout_ms);
    /* A binary packet's attachments get the same time as any packet of a v3 client: they follow
     * their packet at once from every socket.io client, so only a broken or hostile one waits. */
    fifo_timer_list_init(&n->attach_list,
                         (uint64_t)n->cfg->ping_interval_ms + n->cfg->ping_timeout_ms);
    uv_timer_init(n->loop, &n->timer);
    n->timer.data = n;
    n->timer_due = UINT64_MAX;
}

void net_timers_close(struct net *n)
{
    uv_timer_stop(&n->timer);
    uv_close((uv_handle_t *)&n->timer, NULL);
}
