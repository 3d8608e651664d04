/*
 * Redis Sentinel for a single master (docs/cluster.md, "Redis Sentinel"). One more link, to one
 * sentinel at a time: once it is up it asks `SENTINEL get-master-addr-by-name <name>`, then
 * SUBSCRIBEs to `+switch-master` on the same connection. The answer, and every switch of our
 * master, updates the engine's master address (e->url, which the publisher, subscriber and
 * command links read at each connect) and drops those links so that they reconnect to the new
 * master; what is published meanwhile follows the outage rules of redis.c.
 *
 * A sentinel that cannot be reached, goes silent (the watchdog probes it with a repeated
 * SUBSCRIBE, as the subscriber is probed) or does not know the master is left for the next one
 * of the list, with the links' usual backoff. Each time the link comes up the master is asked
 * again, so a switch announced while it was down is not missed; and the three links check ROLE
 * in their handshake (redis_link.c), refusing a demoted master and making the master asked
 * again (not_master()). Until a master is known the three links are not started, and the bus
 * is not ready.
 */
#include "redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "../log/log.h"

#define SWITCH_CHANNEL "+switch-master"

struct sentinel {
    struct sentinel_url cfg;
    struct redis_url addr; /* the sentinel asked now: cfg.sentinels[cur], no password, db 0 */
    int cur;
    struct redis_link link;
    bool master_known;     /* e->url holds the master's address */
    uint32_t misses;       /* answers in a row without the master (nil or an error) */
    uint64_t last_recheck; /* loop time the master was last asked again for a wrong role */
};

/* Asks again at most this often when a link finds no master at the address. */
#define RECHECK_MIN_MS 1000

/* Points the engine at `host`:`port` (the master of our name, as a sentinel says). */
static void set_master(struct redis_engine *e, const char *host, size_t hlen, int port)
{
    struct sentinel *s = e->sentinel;
    if (hlen == 0 || hlen >= sizeof(e->url.host) || port < 1 || port > 65535) {
        LOG_WARN("redis", "sentinel %s:%d gave an unusable address for master '%s'", s->addr.host,
                 s->addr.port, s->cfg.master);
        return;
    }
    if (s->master_known && strlen(e->url.host) == hlen && memcmp(e->url.host, host, hlen) == 0 &&
        e->url.port == port)
        return;
    char old[sizeof(e->url.host) + 16]; /* host:port */
    snprintf(old, sizeof(old), "%s:%d", e->url.host, e->url.port);
    memcpy(e->url.host, host, hlen);
    e->url.host[hlen] = '\0';
    e->url.port = port;
    if (!s->master_known) {
        LOG_INFO("redis", "master '%s' is at %s:%d (sentinel %s:%d)", s->cfg.master, e->url.host,
                 e->url.port, s->addr.host, s->addr.port);
        s->master_known = true;
        link_start(&e->pub);
        link_start(&e->sub);
        /* Gateways' redis.call() gets its own connection, as without Sentinel. */
        e->cmd_started = true;
        link_start(&e->cmd);
        return;
    }
    LOG_INFO("redis", "master '%s' changed: %s -> %s:%d (sentinel %s:%d)", s->cfg.master, old,
             e->url.host, e->url.port, s->addr.host, s->addr.port);
    link_restart(&e->pub, "the master moved");
    link_restart(&e->sub, "the master moved");
    link_restart(&e->cmd, "the master moved");
}

static void master_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct redis_engine *e = privdata;
    struct sentinel *s = e->sentinel;
    redisReply *reply = r;
    if (!reply || ac != s->link.ac)
        return;
    link_alive(&s->link);
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        reply->element[1]->type == REDIS_REPLY_STRING) {
        s->misses = 0;
        set_master(e, reply->element[0]->str, reply->element[0]->len,
                   sentinel_port_parse(reply->element[1]->str, reply->element[1]->len));
        return;
    }
    /* A nil reply: this sentinel does not monitor our master; an error: it is no sentinel.
     * Either way the next sentinel of the list is asked (sen_down()). The link was up, which
     * zeroed its attempts: they count the misses instead, so that the backoff grows, and each
     * sentinel's refusal is said once (then at debug level). */
    if (s->misses < 31)
        s->misses++;
    if (s->misses <= (uint32_t)s->cfg.nsentinels || log_enabled(SB_LOG_DEBUG))
        LOG_WARN("redis", "sentinel %s:%d does not know master '%s'%s%s", s->addr.host,
                 s->addr.port, s->cfg.master, reply->type == REDIS_REPLY_ERROR ? ": " : "",
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "");
    s->link.attempt = s->misses;
    redisAsyncDisconnect(ac);
}

/* A +switch-master message: the new address when it is about our master. */
static void switch_received(struct redis_engine *e, const char *msg, size_t len)
{
    char host[sizeof(e->url.host)];
    int port;
    int rc = sentinel_switch_parse(msg, len, e->sentinel->cfg.master, host, sizeof(host), &port);
    if (rc == 0)
        set_master(e, host, strlen(host), port);
    else if (rc < 0)
        LOG_WARN("redis", "ignoring a malformed %s message", SWITCH_CHANNEL);
}

/* Every reply on the subscribed connection: confirmations (the probe's answer too) and the
 * +switch-master messages. */
static void switch_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct redis_engine *e = privdata;
    struct sentinel *s = e->sentinel;
    redisReply *reply = r;
    if (!reply || ac != s->link.ac)
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return;
    link_alive(&s->link);
    if (strcmp(reply->element[0]->str, "message") == 0 &&
        reply->element[2]->type == REDIS_REPLY_STRING)
        switch_received(e, reply->element[2]->str, reply->element[2]->len);
}

static void subscribe_switch(struct redis_engine *e)
{
    redisAsyncCommand(e->sentinel->link.ac, switch_cb, e, "SUBSCRIBE " SWITCH_CHANNEL);
}

static void sen_up(struct redis_link *l)
{
    struct redis_engine *e = l->data;
    /* The master's reply comes before the subscription's confirmation: hiredis 0.14 answers
     * the callbacks of commands sent before a SUBSCRIBE first. */
    redisAsyncCommand(l->ac, master_cb, e, "SENTINEL get-master-addr-by-name %s",
                      e->sentinel->cfg.master);
    subscribe_switch(e);
}

/* The connection is gone (or never came): the next sentinel is tried, after the backoff. */
static void sen_down(struct redis_link *l)
{
    struct redis_engine *e = l->data;
    struct sentinel *s = e->sentinel;
    if (l->closed || s->cfg.nsentinels < 2)
        return;
    s->cur = (s->cur + 1) % s->cfg.nsentinels;
    snprintf(s->addr.host, sizeof(s->addr.host), "%s", s->cfg.sentinels[s->cur].host);
    s->addr.port = s->cfg.sentinels[s->cur].port;
}

/* The probe of the subscribed connection: subscribing again is confirmed without a command
 * reply (sub_probe() in redis.c says why). */
static void sen_probe(struct redis_link *l)
{
    subscribe_switch(l->data);
}

int sentinel_init(struct redis_engine *e, const char *url, char *err, size_t errlen)
{
    struct sentinel *s = calloc(1, sizeof(*s));
    if (!s)
        return SB_ENOMEM;
    if (sentinel_url_parse(url, &s->cfg, err, errlen)) {
        free(s);
        return SB_EINVAL;
    }
    /* The master's address is unknown until a sentinel tells it; its password and db are
     * the URL's. */
    memset(&e->url, 0, sizeof(e->url));
    memcpy(e->url.password, s->cfg.password, sizeof(e->url.password));
    e->url.db = s->cfg.db;
    snprintf(s->addr.host, sizeof(s->addr.host), "%s", s->cfg.sentinels[0].host);
    s->addr.port = s->cfg.sentinels[0].port;
    e->sentinel = s;
    return 0;
}

/* A link found a replica (or anything but a master) at the master's address: a switch was
 * missed, or the sentinels are promoting. The sentinel connection is made anew, which asks for
 * the master again; at most once per RECHECK_MIN_MS, the links retrying with their backoff. */
static void not_master(struct redis_link *l)
{
    struct redis_engine *e = l->data;
    struct sentinel *s = e->sentinel;
    uint64_t now = uv_now(e->loop);
    if (s->last_recheck && now - s->last_recheck < RECHECK_MIN_MS)
        return;
    s->last_recheck = now;
    if (s->link.state == LINK_UP)
        link_restart(&s->link, "asking for the master again");
}

void sentinel_start(struct redis_engine *e)
{
    struct sentinel *s = e->sentinel;
    struct redis_link *links[] = {&e->pub, &e->sub, &e->cmd};
    for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
        links[i]->need_master = true;
        links[i]->on_not_master = not_master;
    }
    link_init(&s->link, "sentinel", e->loop, &s->addr, sen_up, sen_down, e);
    LOG_INFO("redis", "bus: Redis master '%s' through %d sentinel(s), db %d", s->cfg.master,
             s->cfg.nsentinels, s->cfg.db);
    link_start(&s->link);
}

void sentinel_watch(struct redis_engine *e)
{
    link_watch(&e->sentinel->link, sen_probe);
}

void sentinel_close(struct redis_engine *e)
{
    struct sentinel *s = e->sentinel;
    if (!s)
        return;
    /* Freed at once after its timer's uv_close(), as engine_close() frees the engine. */
    link_close(&s->link);
    free(s);
    e->sentinel = NULL;
}
