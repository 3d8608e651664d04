/*
 * One hiredis connection with the life cycle hiredis 0.14 leaves to its user: connect,
 * handshake (AUTH, SELECT, then a PING whose reply proves the server answers), up, and on any
 * failure down plus a reconnect after a capped, jittered exponential backoff. Every transition
 * is logged. The owner probes liveness (link_watch()) because a stopped Redis keeps accepting
 * TCP connections and simply never answers.
 */
#include "redis.h"

#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "../log/log.h"
#include "hiredis_compat.h"

static void set_state(struct redis_link *l, enum link_state s)
{
    l->state = s;
    l->since = uv_now(l->loop);
}

uint64_t link_backoff_ms(uint32_t attempt, uint32_t random)
{
    uint64_t d = LINK_BACKOFF_BASE_MS;
    for (uint32_t i = 0; i < attempt && d < LINK_BACKOFF_CAP_MS; i++)
        d *= 2;
    if (d > LINK_BACKOFF_CAP_MS)
        d = LINK_BACKOFF_CAP_MS;
    return d / 2 + random % (d / 2 + 1);
}

static void retry_cb(uv_timer_t *t)
{
    link_start(t->data);
}

/* The connection is gone (hiredis frees the context after the callback that told us). */
static void went_down(struct redis_link *l, const char *why)
{
    enum link_state was = l->state;
    l->ac = NULL;
    l->probe_sent = 0;
    set_state(l, LINK_DOWN);
    if (l->closed)
        LOG_INFO("redis", "%s connection closed", l->name);
    else if (was == LINK_UP)
        LOG_WARN("redis", "%s connection lost: %s", l->name, why);
    else if (l->attempt == 0 || log_enabled(SB_LOG_DEBUG))
        LOG_WARN("redis", "%s cannot connect to %s:%d: %s", l->name, l->url->host, l->url->port,
                 why);
    if (l->on_down)
        l->on_down(l);
    if (l->closed)
        return;
    uint64_t delay = link_backoff_ms(l->attempt, (uint32_t)rand());
    if (l->attempt < 31)
        l->attempt++;
    LOG_INFO("redis", "%s reconnecting in %llu ms (attempt %u)", l->name, (unsigned long long)delay,
             l->attempt);
    uv_timer_start(&l->retry, retry_cb, delay, 0);
}

static void disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct redis_link *l = ac->data;
    if (l && l->ac == ac)
        went_down(l, status == REDIS_OK ? "connection closed" : ac->errstr);
}

static void handshake_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct redis_link *l = privdata;
    redisReply *reply = r;
    if (!reply || l->ac != ac)
        return; /* the context is being freed */
    if (reply->type == REDIS_REPLY_ERROR) {
        /* AUTH or SELECT refused: a configuration problem, retried with backoff so that a
         * fixed Redis is picked up without a restart. Said once per outage. */
        if (l->attempt == 0)
            LOG_ERROR("redis", "%s handshake refused: %s", l->name, reply->str);
        redisAsyncDisconnect(ac);
    }
}

/* ROLE's reply: ["master", …], ["slave", …] or ["sentinel", …]. */
static void role_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct redis_link *l = privdata;
    redisReply *reply = r;
    if (!reply || l->ac != ac || l->state != LINK_HANDSHAKE)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        /* After a refused AUTH, handshake_cb() disconnects; an ACL user without the right to
         * ROLE (an @admin command) just goes unchecked. */
        LOG_DEBUG("redis", "%s: ROLE refused: %s", l->name, reply->str);
        return;
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(reply->element[0]->str, "master") == 0)
        return;
    const char *role = reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
                               reply->element[0]->type == REDIS_REPLY_STRING
                           ? reply->element[0]->str
                           : "unknown";
    /* Said on the first attempt after the link was up or started, not at every retry. */
    if (l->attempt <= 1 || log_enabled(SB_LOG_DEBUG))
        LOG_WARN("redis", "%s: %s:%d is not a master (role %s)", l->name, l->url->host,
                 l->url->port, role);
    /* Back to connecting, so that the PING's reply, queued behind, does not make the link up
     * (ready_cb() wants the handshake state). */
    set_state(l, LINK_CONNECTING);
    redisAsyncDisconnect(ac);
    if (l->on_not_master)
        l->on_not_master(l);
}

static void ready_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct redis_link *l = privdata;
    redisReply *reply = r;
    if (!reply || l->ac != ac || l->state != LINK_HANDSHAKE)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        /* The first failing command of the handshake said why already. */
        LOG_DEBUG("redis", "%s handshake refused: %s", l->name, reply->str);
        redisAsyncDisconnect(ac);
        return;
    }
    l->attempt = 0;
    l->probe_sent = 0;
    set_state(l, LINK_UP);
    LOG_INFO("redis", "%s connected to %s:%d", l->name, l->url->host, l->url->port);
    if (l->on_up)
        l->on_up(l);
}

static void connect_cb(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct redis_link *l = ac->data;
    if (!l || l->ac != ac)
        return;
    if (status != REDIS_OK) {
        went_down(l, ac->errstr);
        return;
    }
    set_state(l, LINK_HANDSHAKE);
    if (l->url->password[0])
        redisAsyncCommand(ac, handshake_cb, l, "AUTH %s", l->url->password);
    if (l->url->db)
        redisAsyncCommand(ac, handshake_cb, l, "SELECT %d", l->url->db);
    if (l->need_master)
        redisAsyncCommand(ac, role_cb, l, "ROLE");
    redisAsyncCommand(ac, ready_cb, l, "PING");
}

void link_init(struct redis_link *l, const char *name, uv_loop_t *loop, const struct redis_url *url,
               link_event_cb on_up, link_event_cb on_down, void *data)
{
    memset(l, 0, sizeof(*l));
    l->name = name;
    l->loop = loop;
    l->url = url;
    l->on_up = on_up;
    l->on_down = on_down;
    l->data = data;
    uv_timer_init(loop, &l->retry);
    l->retry.data = l;
    set_state(l, LINK_DOWN);
}

void link_start(struct redis_link *l)
{
    if (l->ac || l->closed)
        return;
    set_state(l, LINK_CONNECTING);
    redisAsyncContext *ac = redisAsyncConnect(l->url->host, l->url->port);
    if (!ac || ac->err || hiredis_uv_attach(ac, l->loop) != REDIS_OK) {
        char why[128];
        snprintf(why, sizeof(why), "%s", ac && ac->err ? ac->errstr : "cannot create a context");
        if (ac)
            redisAsyncFree(ac);
        went_down(l, why);
        return;
    }
    ac->data = l;
    l->ac = ac;
    redisAsyncSetConnectCallback(ac, connect_cb);
    redisAsyncSetDisconnectCallback(ac, disconnect_cb);
}

void link_reset(struct redis_link *l, const char *why)
{
    redisAsyncContext *ac = l->ac;
    if (!ac)
        return;
    LOG_WARN("redis", "%s: %s; dropping the connection", l->name, why);
    /* Freeing calls the disconnect callback only for a context that had connected. */
    redisAsyncFree(ac);
    if (l->ac == ac)
        went_down(l, why);
}

void link_restart(struct redis_link *l, const char *why)
{
    if (l->closed)
        return;
    if (l->ac) {
        link_reset(l, why);
        return;
    }
    /* Down and waiting for its backoff: the new address is tried now. */
    uv_timer_stop(&l->retry);
    l->attempt = 0;
    link_start(l);
}

void link_close(struct redis_link *l)
{
    l->closed = true;
    uv_timer_stop(&l->retry);
    if (l->ac) {
        redisAsyncContext *ac = l->ac;
        redisAsyncFree(ac);
        if (l->ac == ac) {
            l->ac = NULL;
            set_state(l, LINK_DOWN);
        }
    }
    uv_close((uv_handle_t *)&l->retry, NULL);
}

void link_alive(struct redis_link *l)
{
    l->probe_sent = 0;
}

void link_watch(struct redis_link *l, void (*probe)(struct redis_link *l))
{
    uint64_t now = uv_now(l->loop);
    if (l->state == LINK_CONNECTING || l->state == LINK_HANDSHAKE) {
        if (now - l->since >= LINK_PROBE_LIMIT_MS)
            link_reset(l, "no answer to the connection handshake");
        return;
    }
    if (l->state != LINK_UP)
        return;
    if (l->probe_sent) {
        if (now - l->probe_sent >= LINK_PROBE_LIMIT_MS)
            link_reset(l, "no answer to the liveness probe");
        return;
    }
    l->probe_sent = now ? now : 1;
    probe(l);
}
