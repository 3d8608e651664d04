/*
 * The Redis engine: publishing broadcasts, the subscriptions (which follow the local rooms),
 * receiving broadcasts from other servers, the outage backlog and readiness.
 *
 * Targeted subscriptions: an instance SUBSCRIBEs to `<prefix>#<nsp>#` (broadcasts to everyone
 * or to several rooms) and to `<prefix>#<nsp>#<room>#` only while the room has a local member,
 * so a message for one user reaches only the instances that hold that user. Changes are
 * batched: a burst of joins becomes one SUBSCRIBE with many channels, sent once the current
 * loop iteration is done. After a reconnect every wanted channel is subscribed again.
 *
 * Across an outage (docs/cluster.md, "Delivery"): what is published while the publisher is down
 * waits in a bounded backlog, and a PUBLISH written but not confirmed by its reply when the
 * connection drops goes back to it (Redis may have got it: at least once, for those). The
 * backlog goes out once this server is subscribed again and as many servers as before the
 * outage are (the request channel's PUBSUB NUMSUB), so that the others, reconnecting too, do
 * not miss it; after FLUSH_WAIT_MAX_MS it goes out anyway.
 */
#include "redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "../log/log.h"
#include "../proto/proto.h"

#define SUBSCRIBE_BATCH   256
#define BACKLOG_MAX_MSGS  10000
#define BUS_MAX_MESSAGE   (16u << 20)
#define BACKLOG_MAX_BYTES (16u << 20)
/* How long an outage's backlog waits for the other servers to be subscribed again: longer
 * than their reconnect backoff (LINK_BACKOFF_CAP_MS) plus a handshake. */
#define FLUSH_WAIT_MAX_MS 10000
#define FLUSH_RECHECK_MS  100
/* Every this many watchdog ticks a ready server counts the servers (servers_seen). */
#define SERVERS_EVERY_TICKS 4

/* ---- channels ---- */

static struct chan *chan_get(struct redis_engine *e, const char *name, enum chan_kind kind,
                             const char *nsp, bool create)
{
    struct chan *c = sb_map_get(&e->chans, name);
    if (c || !create)
        return c;
    size_t len = strlen(name);
    c = calloc(1, sizeof(*c) + len + 1);
    if (!c)
        return NULL;
    memcpy(c->name, name, len + 1);
    c->kind = kind;
    c->nsp = nsp;
    if (sb_map_put(&e->chans, c->name, c)) {
        free(c);
        return NULL;
    }
    return c;
}

static void flush_cb(uv_timer_t *t);

static void mark_dirty(struct redis_engine *e, struct chan *c)
{
    if (c->dirty)
        return;
    if (e->ndirty == e->dirty_cap) {
        size_t cap = e->dirty_cap ? e->dirty_cap * 2 : 64;
        struct chan **d = realloc(e->dirty, cap * sizeof(*d));
        if (!d) {
            LOG_ERROR("redis", "out of memory: subscription change to %s lost", c->name);
            return;
        }
        e->dirty = d;
        e->dirty_cap = cap;
    }
    c->dirty = true;
    e->dirty[e->ndirty++] = c;
    if (e->ndirty == 1)
        uv_timer_start(&e->flush_timer, flush_cb, 0, 0);
}

/* Sends one SUBSCRIBE or UNSUBSCRIBE for up to SUBSCRIBE_BATCH channels. */
static void send_batch(struct redis_engine *e, const char *cmd, const char **names, size_t n)
{
    if (!n || e->sub.state != LINK_UP)
        return;
    const char *argv[SUBSCRIBE_BATCH + 1];
    size_t argl[SUBSCRIBE_BATCH + 1];
    argv[0] = cmd;
    argl[0] = strlen(cmd);
    for (size_t i = 0; i < n; i++) {
        argv[i + 1] = names[i];
        argl[i + 1] = strlen(names[i]);
    }
    redisAsyncCommandArgv(e->sub.ac, redis_message_cb, e, (int)n + 1, argv, argl);
}

static void flush_cb(uv_timer_t *t)
{
    struct redis_engine *e = t->data;
    const char *sub[SUBSCRIBE_BATCH], *unsub[SUBSCRIBE_BATCH];
    size_t ns = 0, nu = 0;
    for (size_t i = 0; i < e->ndirty; i++) {
        struct chan *c = e->dirty[i];
        c->dirty = false;
        if (e->sub.state == LINK_UP && c->want != c->have) {
            if (c->want) {
                sub[ns++] = c->name;
            } else {
                unsub[nu++] = c->name;
            }
            c->have = c->want;
        }
        if (ns == SUBSCRIBE_BATCH) {
            send_batch(e, "SUBSCRIBE", sub, ns);
            ns = 0;
        }
        if (nu == SUBSCRIBE_BATCH) {
            send_batch(e, "UNSUBSCRIBE", unsub, nu);
            nu = 0;
        }
    }
    send_batch(e, "SUBSCRIBE", sub, ns);
    send_batch(e, "UNSUBSCRIBE", unsub, nu);
    /* Channels nobody wants any more are forgotten once the UNSUBSCRIBE is on its way. */
    for (size_t i = 0; i < e->ndirty; i++) {
        struct chan *c = e->dirty[i];
        if (!c->want && !c->have && !c->dirty && c->kind == CHAN_ROOM) {
            sb_map_del(&e->chans, c->name);
            free(c);
        }
    }
    e->ndirty = 0;
}

static void want(struct redis_engine *e, struct chan *c, bool yes)
{
    if (c->want == yes)
        return;
    c->want = yes;
    mark_dirty(e, c);
}

static void room_changed(struct bus *b, const char *nsp, const char *room, bool exists)
{
    struct redis_engine *e = b->engine_state;
    char name[1024];
    int n = snprintf(name, sizeof(name), "%s#%s#%s#", e->prefix, nsp, room);
    if (n < 0 || (size_t)n >= sizeof(name)) {
        /* Such a room is still served: broadcasts to it also travel on the namespace
         * channel when they name several rooms; a single-room broadcast from elsewhere is
         * missed. Say so once per room. */
        LOG_WARN("redis", "room name too long for a channel, not subscribed: %.64s…", room);
        return;
    }
    struct chan *c = chan_get(e, name, CHAN_ROOM, NULL, exists);
    if (!c)
        return;
    /* The registry owns namespace names for the life of the process. */
    struct nsp *ns = registry_nsp(b->reg, nsp, false);
    c->nsp = ns ? ns->name : NULL;
    c->room_off = (uint16_t)(strlen(e->prefix) + 1 + strlen(nsp) + 1);
    want(e, c, exists);
}

static void namespace_add(struct bus *b, const char *nsp_name)
{
    struct redis_engine *e = b->engine_state;
    struct nsp *nsp = registry_nsp(b->reg, nsp_name, true);
    if (!nsp)
        return;
    char name[1024];
    static const struct {
        const char *fmt;
        enum chan_kind kind;
    } chans[] = {
        {"%s#%s#", CHAN_NSP},
        {"%s-request#%s#", CHAN_REQUEST},
        {"%s-response#%s#", CHAN_RESPONSE},
    };
    for (size_t i = 0; i < ARRAY_SIZE(chans); i++) {
        snprintf(name, sizeof(name), chans[i].fmt, e->prefix, nsp->name);
        struct chan *c = chan_get(e, name, chans[i].kind, nsp->name, true);
        if (c)
            want(e, c, true);
    }
    snprintf(name, sizeof(name), "%s-response#%s#%s#", e->prefix, nsp->name, e->uid);
    struct chan *c = chan_get(e, name, CHAN_RESPONSE, nsp->name, true);
    if (c)
        want(e, c, true);
}

/* ---- readiness ---- */

static void update_ready(struct redis_engine *e)
{
    bool ready = e->sub.state == LINK_UP && e->pub.state == LINK_UP && e->subscribed;
    if (ready == e->ready || e->closing)
        return;
    e->ready = ready;
    if (ready)
        LOG_INFO("redis", "bus ready: subscribed to %u channel(s)", (unsigned)e->chans.count);
    else
        LOG_WARN("redis", "bus not ready: messages from other instances are not arriving");
}

static bool ready(const struct bus *b)
{
    const struct redis_engine *e = b->engine_state;
    return e->ready;
}

/* ---- the subscriber ---- */

static void try_flush(struct redis_engine *e);

/* Every reply of the subscriber: subscribe confirmations and messages. */
void redis_message_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct redis_engine *e = privdata;
    redisReply *reply = r;
    if (!reply || ac != e->sub.ac)
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING)
        return;
    const redisReply *kind = reply->element[0], *channel = reply->element[1];
    link_alive(&e->sub);
    if (strcmp(kind->str, "subscribe") == 0) {
        if (channel->len == strlen(e->watch_channel) &&
            memcmp(channel->str, e->watch_channel, channel->len) == 0 && !e->subscribed) {
            /* The watchdog channel goes last in a resubscription, so its confirmation means
             * every channel before it is live. */
            e->subscribed = true;
            update_ready(e);
            try_flush(e);
        }
        return;
    }
    if (strcmp(kind->str, "message") != 0 || reply->element[2]->type != REDIS_REPLY_STRING)
        return;
    struct chan *c = sb_map_getn(&e->chans, channel->str, channel->len);
    if (!c)
        return;
    const redisReply *payload = reply->element[2];
    switch (c->kind) {
    case CHAN_NSP:
    case CHAN_ROOM:
        redis_broadcast_received(e, c, payload->str, payload->len);
        break;
    case CHAN_REQUEST:
        redis_request_received(e, c, payload->str, payload->len);
        break;
    case CHAN_RESPONSE:
        redis_response_received(e, c, payload->str, payload->len);
        break;
    case CHAN_WATCH:
        break;
    }
}

static void subscribe_all(struct redis_engine *e)
{
    const char *batch[SUBSCRIBE_BATCH];
    size_t n = 0;
    const char *k;
    void *v;
    /* The request channels go after the others: a server that counts the subscribers of one
     * (try_flush() of another server) then knows that this server's rooms are subscribed too,
     * Redis running one connection's commands in order. */
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t it = 0; sb_map_next(&e->chans, &it, &k, &v);) {
            struct chan *c = v;
            c->have = c->want;
            if (!c->want || c->kind == CHAN_WATCH || (c->kind == CHAN_REQUEST) != (pass == 1))
                continue;
            batch[n++] = c->name;
            if (n == SUBSCRIBE_BATCH) {
                send_batch(e, "SUBSCRIBE", batch, n);
                n = 0;
            }
        }
    }
    send_batch(e, "SUBSCRIBE", batch, n);
    batch[0] = e->watch_channel;
    send_batch(e, "SUBSCRIBE", batch, 1);
}

static void sub_up(struct redis_link *l)
{
    struct redis_engine *e = l->data;
    e->subscribed = false;
    subscribe_all(e);
}

static void sub_down(struct redis_link *l)
{
    struct redis_engine *e = l->data;
    e->subscribed = false;
    const char *k;
    void *v;
    for (uint32_t it = 0; sb_map_next(&e->chans, &it, &k, &v);)
        ((struct chan *)v)->have = false;
    update_ready(e);
}

/* The subscriber's probe: subscribing again to the watchdog channel is confirmed by Redis
 * without a command reply (in subscribed mode hiredis 0.14 would hand a PING's reply to the
 * wrong callback). */
static void sub_probe(struct redis_link *l)
{
    struct redis_engine *e = l->data;
    const char *ch = e->watch_channel;
    send_batch(e, "SUBSCRIBE", &ch, 1);
}

/* ---- the publisher ---- */

static void queue_push(struct msg_queue *q, struct backlog_msg *m)
{
    m->next = NULL;
    if (q->tail)
        q->tail->next = m;
    else
        q->head = m;
    q->tail = m;
    q->count++;
    q->bytes += m->len;
}

static struct backlog_msg *queue_pop(struct msg_queue *q)
{
    struct backlog_msg *m = q->head;
    if (!m)
        return NULL;
    q->head = m->next;
    if (!q->head)
        q->tail = NULL;
    q->count--;
    q->bytes -= m->len;
    return m;
}

static void queue_free(struct msg_queue *q)
{
    for (struct backlog_msg *m; (m = queue_pop(q));)
        free(m);
}

/* The reply of a PUBLISH: its message reached Redis. Replies come in the order of the commands,
 * so it is the oldest in flight. A NULL reply is the context being freed (pub_down() takes
 * what is still in flight). */
static void publish_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct redis_engine *e = privdata;
    if (!r || ac != e->pub.ac)
        return;
    free(queue_pop(&e->inflight));
}

/* Writes the PUBLISH of `m`, which is then in flight. Returns 0, or SB_EIO when hiredis refuses
 * it (the connection is going: `m` is not taken). */
static int send_publish(struct redis_engine *e, struct backlog_msg *m)
{
    if (redisAsyncCommand(e->pub.ac, publish_cb, e, "PUBLISH %s %b", m->data, m->data + m->clen + 1,
                          m->len) != REDIS_OK)
        return SB_EIO;
    queue_push(&e->inflight, m);
    return 0;
}

static void flush_now(struct redis_engine *e)
{
    size_t n = e->backlog.count;
    e->flush_wait_since = 0;
    uv_timer_stop(&e->flush_wait);
    while (e->backlog.head && e->pub.state == LINK_UP) {
        struct backlog_msg *m = e->backlog.head;
        e->backlog.head = m->next; /* taken off first: send_publish() links it anew */
        if (send_publish(e, m)) {
            e->backlog.head = m; /* the connection is going: the rest waits for the next */
            break;
        }
        if (!e->backlog.head)
            e->backlog.tail = NULL;
        e->backlog.count--;
        e->backlog.bytes -= m->len;
    }
    n -= e->backlog.count;
    if (n)
        LOG_INFO("redis", "sent %zu message(s) published during the outage", n);
    e->backlog_warned = false;
}

static void numsub_flush_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct redis_engine *e = privdata;
    redisReply *reply = r;
    if (ac != e->pub.ac)
        return;
    e->numsub_out = false;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
        reply->element[1]->type != REDIS_REPLY_INTEGER)
        return;
    long long n = reply->element[1]->integer;
    if (!e->flush_wait_since) {
        /* The periodic count of a ready server. */
        if (e->ready)
            e->servers_seen = n;
        return;
    }
    if (n >= e->servers_seen && e->subscribed) {
        LOG_DEBUG("redis", "%lld server(s) subscribed again: sending the outage's backlog", n);
        flush_now(e);
    }
}

static void count_servers(struct redis_engine *e)
{
    if (e->numsub_out || e->pub.state != LINK_UP)
        return;
    char channel[1024];
    snprintf(channel, sizeof(channel), "%s-request#/#", e->prefix);
    if (redisAsyncCommand(e->pub.ac, numsub_flush_cb, e, "PUBSUB NUMSUB %s", channel) == REDIS_OK)
        e->numsub_out = true;
}

static void flush_wait_cb(uv_timer_t *t)
{
    try_flush(t->data);
}

/* Sends the backlog once it may: the publisher up, this server subscribed again, and as many
 * servers subscribed as before the outage (asked now, and again every FLUSH_RECHECK_MS). */
static void try_flush(struct redis_engine *e)
{
    if (!e->backlog.head) {
        e->flush_wait_since = 0;
        uv_timer_stop(&e->flush_wait);
        return;
    }
    if (e->pub.state != LINK_UP || e->closing)
        return;
    uint64_t now = uv_now(e->loop);
    if (!e->flush_wait_since)
        e->flush_wait_since = now ? now : 1;
    if (now - e->flush_wait_since >= FLUSH_WAIT_MAX_MS) {
        LOG_WARN("redis",
                 "after %u ms, fewer servers are subscribed than before the outage (%lld): "
                 "sending the backlog anyway",
                 FLUSH_WAIT_MAX_MS, e->servers_seen);
        flush_now(e);
        return;
    }
    if (e->subscribed && e->servers_seen <= 1) {
        flush_now(e); /* no other server was seen: nobody to wait for */
        return;
    }
    if (e->subscribed)
        count_servers(e);
    uv_timer_start(&e->flush_wait, flush_wait_cb, FLUSH_RECHECK_MS, 0);
}

static void pub_up(struct redis_link *l)
{
    struct redis_engine *e = l->data;
    e->numsub_out = false;
    try_flush(e);
    update_ready(e);
}

static void pub_down(struct redis_link *l)
{
    struct redis_engine *e = l->data;
    e->numsub_out = false;
    /* What was written and not confirmed may not have reached Redis: it goes out again, before
     * what was published since. */
    if (e->inflight.head) {
        LOG_WARN("redis",
                 "%zu message(s) unconfirmed when the connection dropped: sending them "
                 "again once Redis is back",
                 e->inflight.count);
        metrics.bus_resent += e->inflight.count;
        e->inflight.tail->next = e->backlog.head;
        if (!e->backlog.tail)
            e->backlog.tail = e->inflight.tail;
        e->backlog.head = e->inflight.head;
        e->backlog.count += e->inflight.count;
        e->backlog.bytes += e->inflight.bytes;
        e->inflight = (struct msg_queue){0};
    }
    update_ready(e);
}

static void probe_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct redis_link *l = privdata;
    if (r && l->ac == ac)
        link_alive(l);
}

static void pub_probe(struct redis_link *l)
{
    redisAsyncCommand(l->ac, probe_reply_cb, l, "PING");
}

static void watchdog_cb(uv_timer_t *t)
{
    struct redis_engine *e = t->data;
    link_watch(&e->pub, pub_probe);
    link_watch(&e->sub, sub_probe);
    if (e->cmd_started)
        link_watch(&e->cmd, pub_probe);
    if (e->sentinel)
        sentinel_watch(e);
    update_ready(e);
    if (++e->ticks % SERVERS_EVERY_TICKS == 0 && e->ready && !e->backlog.head)
        count_servers(e);
}

int redis_publish_raw(struct redis_engine *e, const char *channel, const char *data, size_t len)
{
    /* What waits, in the backlog or for its reply, is bounded together. */
    if (e->backlog.count + e->inflight.count >= BACKLOG_MAX_MSGS ||
        e->backlog.bytes + e->inflight.bytes + len > BACKLOG_MAX_BYTES) {
        if (!e->backlog_warned)
            LOG_WARN("redis",
                     "publish backlog full (%zu messages): dropping messages until "
                     "Redis is back",
                     e->backlog.count + e->inflight.count);
        e->backlog_warned = true;
        return SB_EFULL;
    }
    size_t clen = strlen(channel);
    struct backlog_msg *m = malloc(sizeof(*m) + clen + 1 + len);
    if (!m)
        return SB_ENOMEM;
    m->clen = clen;
    m->len = len;
    memcpy(m->data, channel, clen + 1);
    memcpy(m->data + clen + 1, data, len);
    if (e->pub.state != LINK_UP || e->backlog.head || send_publish(e, m))
        queue_push(&e->backlog, m); /* Redis is away, or its backlog still waits */
    return 0;
}

/* ---- broadcasts ---- */

static int publish(struct bus *b, const struct bus_msg *m)
{
    struct redis_engine *e = b->engine_state;
    const char *nsp = m->nsp ? m->nsp : "/";
    char channel[1024];
    /* Like the Node adapter: a broadcast to exactly one room travels on that room's channel,
     * so only the instances holding members of the room receive it. */
    int n = m->nrooms == 1
                ? snprintf(channel, sizeof(channel), "%s#%s#%s#", e->prefix, nsp, m->rooms[0])
                : snprintf(channel, sizeof(channel), "%s#%s#", e->prefix, nsp);
    if (n < 0 || (size_t)n >= sizeof(channel))
        n = snprintf(channel, sizeof(channel), "%s#%s#", e->prefix, nsp);
    struct sbuf buf;
    sbuf_init(&buf, 0);
    int rc = m->bins ? adapter_encode_bins(&buf, e->uid, nsp, m->event, m->args, m->bins->bin,
                                           m->bins->n, m->rooms, m->nrooms, m->except, m->nexcept)
                     : adapter_encode(&buf, e->uid, nsp, m->event, m->args, m->rooms, m->nrooms,
                                      m->except, m->nexcept);
    if (!rc)
        rc = redis_publish_raw(e, channel, sbuf_data(&buf), buf.len);
    sbuf_free(&buf);
    return rc;
}

void redis_broadcast_received(struct redis_engine *e, const struct chan *c, const char *data,
                              size_t len)
{
    struct adapter_msg m;
    /* Decoding costs far more memory than the message's bytes: refuse what no client could
     * have sent anyway. */
    if (len > BUS_MAX_MESSAGE) {
        LOG_WARN("redis", "ignoring a %zu-byte message on %s (more than %u bytes)", len, c->name,
                 BUS_MAX_MESSAGE);
        return;
    }
    /* Our own broadcasts were delivered locally when they were sent: skip them undecoded. */
    const char *uid;
    size_t uid_len;
    if (adapter_peek_uid(data, len, &uid, &uid_len) == 0 && uid_len == strlen(e->uid) &&
        memcmp(uid, e->uid, uid_len) == 0)
        return;
    /* A Node server's Buffers arrive as msgpack bins: attachments, as a client's would be. */
    if (adapter_decode_bins(data, len, &m)) {
        LOG_DEBUG("redis", "ignoring a malformed message on %s", c->name);
        return;
    }
    if (strcmp(m.uid, e->uid) != 0) {
        metrics.bus_received++;
        struct nsp *nsp = registry_nsp(e->bus->reg, m.nsp, false);
        /* socket.io's packets are EVENTs before its encoder makes BINARY_EVENTs of them; take
         * both, for an emitter that sends the binary type. */
        bool wanted = nsp && (m.type == SIO_EVENT || m.type == SIO_BINARY_EVENT);
        if (wanted && c->kind == CHAN_ROOM) {
            /* A room channel is `<prefix>#<nsp>#<room>#`: is the room still here? */
            char room[1024];
            size_t rlen = strlen(c->name) - c->room_off - 1;
            memcpy(room, c->name + c->room_off, rlen);
            room[rlen] = '\0';
            wanted = registry_room_size(nsp, room) > 0;
        }
        struct sio_bins *bins = NULL;
        if (wanted && m.nbins && !(bins = sio_bins_new(m.bins, m.nbins))) {
            LOG_ERROR("redis", "out of memory reading a message on %s", c->name);
            wanted = false;
        }
        if (wanted) {
            struct bus_msg bm = {
                .nsp = m.nsp,
                .rooms = (const char *const *)m.rooms,
                .nrooms = m.nrooms,
                .except = (const char *const *)m.except,
                .nexcept = m.nexcept,
                .event = m.event,
                .args = m.args,
                .bins = bins,
                .local = true,
            };
            bus_deliver_local(e->bus, &bm);
        }
        sio_bins_unref(bins);
    }
    adapter_msg_clear(&m);
}

/* ---- life cycle ---- */

static void engine_close(struct bus *b)
{
    struct redis_engine *e = b->engine_state;
    if (!e)
        return;
    e->closing = true;
    uv_timer_stop(&e->watchdog);
    uv_timer_stop(&e->flush_timer);
    uv_timer_stop(&e->flush_wait);
    link_close(&e->pub);
    link_close(&e->sub);
    link_close(&e->cmd);
    sentinel_close(e);
    uv_close((uv_handle_t *)&e->watchdog, NULL);
    uv_close((uv_handle_t *)&e->flush_timer, NULL);
    uv_close((uv_handle_t *)&e->flush_wait, NULL);
    redis_requests_close(e);
    const char *k;
    void *v;
    for (uint32_t it = 0; sb_map_next(&e->chans, &it, &k, &v);)
        free(v);
    sb_map_free(&e->chans);
    free(e->dirty);
    queue_free(&e->backlog);
    queue_free(&e->inflight);
    free(e->prefix);
    free(e);
    b->engine_state = NULL;
}

static const struct bus_engine redis_engine_ops = {
    .name = "redis",
    .publish = publish,
    .room_changed = room_changed,
    .namespace_add = namespace_add,
    .ready = ready,
    .close = engine_close,
    .fetch_sockets = redis_fetch_sockets,
    .remote_rooms = redis_remote_rooms,
    .server_emit = redis_server_emit,
    .command = redis_command,
};

int bus_init_redis(struct bus *b, struct registry *reg, uv_loop_t *loop, const char *url,
                   const char *prefix, char *err, size_t errlen)
{
    bus_init_local(b, reg);
    struct redis_engine *e = calloc(1, sizeof(*e));
    if (!e)
        return SB_ENOMEM;
    int rc = redis_url_is_sentinel(url) ? sentinel_init(e, url, err, errlen)
                                        : redis_url_parse(url, &e->url, err, errlen);
    if (rc) {
        free(e);
        return rc;
    }
    if (!*prefix || strchr(prefix, '#')) {
        snprintf(err, errlen, "the channel prefix must be non-empty and without '#'");
        free(e->sentinel);
        free(e);
        return SB_EINVAL;
    }
    e->bus = b;
    e->loop = loop;
    e->prefix = strdup(prefix);
    char id[SB_ID_LEN + 1];
    id_generate(id);
    memcpy(e->uid, id, sizeof(e->uid) - 1);
    snprintf(e->watch_channel, sizeof(e->watch_channel), "switchboard-watchdog#%s#", e->uid);
    sb_map_init(&e->chans);
    struct chan *w = chan_get(e, e->watch_channel, CHAN_WATCH, NULL, true);
    if (w)
        w->want = true;
    sb_map_init(&e->pending);
    uv_timer_init(loop, &e->flush_timer);
    e->flush_timer.data = e;
    uv_timer_init(loop, &e->watchdog);
    e->watchdog.data = e;
    uv_timer_init(loop, &e->flush_wait);
    e->flush_wait.data = e;
    link_init(&e->pub, "publisher", loop, &e->url, pub_up, pub_down, e);
    link_init(&e->sub, "subscriber", loop, &e->url, sub_up, sub_down, e);
    link_init(&e->cmd, "commands", loop, &e->url, NULL, NULL, e);
    b->engine = &redis_engine_ops;
    b->engine_state = e;
    namespace_add(b, "/");
    uv_timer_start(&e->watchdog, watchdog_cb, LINK_PROBE_EVERY_MS, LINK_PROBE_EVERY_MS);
    if (e->sentinel) {
        /* The links start once a sentinel has named the master. */
        LOG_INFO("redis", "bus: channel prefix '%s', server id %s", e->prefix, e->uid);
        sentinel_start(e);
        return 0;
    }
    link_start(&e->pub);
    link_start(&e->sub);
    /* Gateways' redis.call() gets its own connection, ready before the first handler runs. */
    e->cmd_started = true;
    link_start(&e->cmd);
    LOG_INFO("redis", "bus: Redis at %s:%d db %d, channel prefix '%s', server id %s", e->url.host,
             e->url.port, e->url.db, e->prefix, e->uid);
    return 0;
}
