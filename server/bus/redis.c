/*
 * The Redis engine: publishing broadcasts, the subscriptions (which follow the local rooms),
 * receiving broadcasts from other servers, the outage backlog and readiness.
 *
 * Targeted subscriptions: an instance SUBSCRIBEs to `<prefix>#<nsp>#` (broadcasts to everyone
 * or to several rooms) and to `<prefix>#<nsp>#<room>#` only while the room has a local member,
 * so a message for one user reaches only the instances that hold that user. Changes are
 * batched: a burst of joins becomes one SUBSCRIBE with many channels, sent once the current
 * loop iteration is done. After a reconnect every wanted channel is subscribed again.
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
    for (uint32_t it = 0; sb_map_next(&e->chans, &it, &k, &v);) {
        struct chan *c = v;
        c->have = c->want;
        if (!c->want || c->kind == CHAN_WATCH)
            continue;
        batch[n++] = c->name;
        if (n == SUBSCRIBE_BATCH) {
            send_batch(e, "SUBSCRIBE", batch, n);
            n = 0;
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

static void backlog_flush(struct redis_engine *e);

static void pub_up(struct redis_link *l)
{
    struct redis_engine *e = l->data;
    backlog_flush(e);
    update_ready(e);
}

static void pub_down(struct redis_link *l)
{
    update_ready(l->data);
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
    update_ready(e);
}

int redis_publish_raw(struct redis_engine *e, const char *channel, const char *data, size_t len)
{
    if (e->pub.state == LINK_UP && !e->backlog.head) {
        return redisAsyncCommand(e->pub.ac, NULL, NULL, "PUBLISH %s %b", channel, data, len) ==
                       REDIS_OK
                   ? 0
                   : SB_EIO;
    }
    /* Redis is away: keep the message for a while, within bounds. */
    if (e->backlog.count >= BACKLOG_MAX_MSGS || e->backlog.bytes + len > BACKLOG_MAX_BYTES) {
        if (!e->backlog.warned)
            LOG_WARN("redis",
                     "publish backlog full (%zu messages): dropping messages until "
                     "Redis is back",
                     e->backlog.count);
        e->backlog.warned = true;
        return SB_EFULL;
    }
    size_t clen = strlen(channel);
    struct backlog_msg *m = malloc(sizeof(*m) + clen + 1 + len);
    if (!m)
        return SB_ENOMEM;
    m->next = NULL;
    m->clen = clen;
    m->len = len;
    memcpy(m->data, channel, clen + 1);
    memcpy(m->data + clen + 1, data, len);
    if (e->backlog.tail)
        e->backlog.tail->next = m;
    else
        e->backlog.head = m;
    e->backlog.tail = m;
    e->backlog.count++;
    e->backlog.bytes += len;
    return 0;
}

static void backlog_flush(struct redis_engine *e)
{
    size_t n = e->backlog.count;
    while (e->backlog.head && e->pub.state == LINK_UP) {
        struct backlog_msg *m = e->backlog.head;
        redisAsyncCommand(e->pub.ac, NULL, NULL, "PUBLISH %s %b", m->data, m->data + m->clen + 1,
                          m->len);
        e->backlog.head = m->next;
        e->backlog.count--;
        e->backlog.bytes -= m->len;
        free(m);
    }
    if (!e->backlog.head)
        e->backlog.tail = NULL;
    if (n)
        LOG_INFO("redis", "sent %zu message(s) published during the outage", n);
    e->backlog.warned = false;
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
    link_close(&e->pub);
    link_close(&e->sub);
    link_close(&e->cmd);
    uv_close((uv_handle_t *)&e->watchdog, NULL);
    uv_close((uv_handle_t *)&e->flush_timer, NULL);
    redis_requests_close(e);
    const char *k;
    void *v;
    for (uint32_t it = 0; sb_map_next(&e->chans, &it, &k, &v);)
        free(v);
    sb_map_free(&e->chans);
    free(e->dirty);
    while (e->backlog.head) {
        struct backlog_msg *m = e->backlog.head;
        e->backlog.head = m->next;
        free(m);
    }
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
    if (redis_url_parse(url, &e->url, err, errlen)) {
        free(e);
        return SB_EINVAL;
    }
    if (!*prefix || strchr(prefix, '#')) {
        snprintf(err, errlen, "the channel prefix must be non-empty and without '#'");
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
    link_init(&e->pub, "publisher", loop, &e->url, pub_up, pub_down, e);
    link_init(&e->sub, "subscriber", loop, &e->url, sub_up, sub_down, e);
    link_init(&e->cmd, "commands", loop, &e->url, NULL, NULL, e);
    b->engine = &redis_engine_ops;
    b->engine_state = e;
    namespace_add(b, "/");
    link_start(&e->pub);
    link_start(&e->sub);
    /* Gateways' redis.call() gets its own connection, ready before the first handler runs. */
    e->cmd_started = true;
    link_start(&e->cmd);
    uv_timer_start(&e->watchdog, watchdog_cb, LINK_PROBE_EVERY_MS, LINK_PROBE_EVERY_MS);
    LOG_INFO("redis", "bus: Redis at %s:%d db %d, channel prefix '%s', server id %s", e->url.host,
             e->url.port, e->url.db, e->prefix, e->uid);
    return 0;
}
