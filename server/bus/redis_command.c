/*
 * Redis commands for the gateways (redis.call in Lua), on a third connection of their own so
 * that a slow command never delays the publisher or the subscriber. Each command has a
 * deadline; a reply that comes after it is dropped. The connection follows the same life cycle
 * (backoff, watchdog) as the other two.
 */
#include "redis.h"

#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "../log/log.h"

struct command {
    bus_command_cb cb;
    void *ud;
    uv_timer_t timer;
    bool answered;     /* cb was called (reply, timeout or loss) */
    bool replied;      /* hiredis is done with it */
    bool timer_closed; /* the timer handle is closed */
};

static void maybe_free(struct command *c)
{
    if (c->replied && c->timer_closed)
        free(c);
}

static void timer_closed_cb(uv_handle_t *h)
{
    struct command *c = h->data;
    c->timer_closed = true;
    maybe_free(c);
}

/* The nodes of a reply tree, itself included. */
static size_t count_nodes(const redisReply *r)
{
    size_t n = 1;
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++)
            n += count_nodes(r->element[i]);
    return n;
}

/* Fills `out` from `r`, taking the nodes of its elements from `*next`; strings stay borrowed
 * from `r`. */
static void convert(const redisReply *r, struct bus_value *out, struct bus_value **next)
{
    memset(out, 0, sizeof(*out));
    switch (r->type) {
    case REDIS_REPLY_INTEGER:
        out->type = BUS_VALUE_INTEGER;
        out->integer = r->integer;
        return;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        out->type = r->type == REDIS_REPLY_STRING   ? BUS_VALUE_STRING
                    : r->type == REDIS_REPLY_STATUS ? BUS_VALUE_STATUS
                                                    : BUS_VALUE_ERROR;
        out->str = r->str;
        out->len = r->len;
        return;
    case REDIS_REPLY_ARRAY: {
        out->type = BUS_VALUE_ARRAY;
        struct bus_value *items = *next;
        *next += r->elements;
        out->elements = items;
        out->nelements = r->elements;
        for (size_t i = 0; i < r->elements; i++)
            convert(r->element[i], &items[i], next);
        return;
    }
    default:
        out->type = BUS_VALUE_NIL;
    }
}

static void answer(struct command *c, const redisReply *reply, int err)
{
    if (c->answered)
        return;
    c->answered = true;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, timer_closed_cb);
    if (!reply) {
        c->cb(c->ud, NULL, err);
        return;
    }
    /* One allocation for the whole tree. */
    struct bus_value *nodes = malloc(count_nodes(reply) * sizeof(*nodes));
    if (!nodes) {
        c->cb(c->ud, NULL, SB_ENOMEM);
        return;
    }
    struct bus_value *next = nodes + 1;
    convert(reply, nodes, &next);
    c->cb(c->ud, nodes, 0);
    free(nodes);
}

static void reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct command *c = privdata;
    c->replied = true;
    answer(c, r, r ? 0 : SB_EIO);
    maybe_free(c);
}

static void timeout_cb(uv_timer_t *t)
{
    answer(t->data, NULL, SB_ETIMEOUT);
}

int redis_command(struct bus *b, int argc, const char **argv, const size_t *argvlen,
                  uint32_t timeout_ms, bus_command_cb cb, void *ud)
{
    struct redis_engine *e = b->engine_state;
    if (e->cmd.state != LINK_UP)
        return SB_EIO;
    struct command *c = calloc(1, sizeof(*c));
    if (!c)
        return SB_ENOMEM;
    c->cb = cb;
    c->ud = ud;
    if (redisAsyncCommandArgv(e->cmd.ac, reply_cb, c, argc, argv, argvlen) != REDIS_OK) {
        free(c);
        return SB_EIO;
    }
    uv_timer_init(e->loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, timeout_cb, timeout_ms ? timeout_ms : 1000, 0);
    return 0;
}
