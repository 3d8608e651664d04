/*
 * rate-limit: token buckets per socket or per user, per event name or for all events.
 *
 * CONFIG is one or more rules separated by ';', each a list of key=value items separated by ','
 * (docs/plugins/rate-limit.md), e.g. `rate=20/s,burst=40,scope=user,per=event,action=exception`.
 * Every event is counted against each rule that applies to it; when one of them has no token
 * left the event is refused (the client gets `exception` with the rule's message), dropped
 * silently, or its socket is disconnected, as that rule's `action` says.
 *
 * The buckets live in this process: with several instances, each one limits what its own
 * sockets send. The pure part (parsing, buckets, tables) is ratelimit.c.
 */
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <switchboard/plugin.h>

#ifndef SB_VERSION
#define SB_VERSION "0.0.0"
#endif

struct state {
    const sb_host_api_t *api;
    sb_host_t *host;
    struct rl_limiter *lim;
    char **exceptions; /* owned: per rule, the `exception` arguments sent before a disconnect */
};

static void state_free(struct state *st)
{
    if (!st)
        return;
    if (st->exceptions && st->lim)
        for (size_t i = 0; i < rl_limiter_config(st->lim)->n; i++)
            free(st->exceptions[i]);
    free(st->exceptions);
    rl_limiter_free(st->lim);
    free(st);
}

static int rl_init(const sb_host_api_t *api, sb_host_t *host, const char *config, void **state,
                   char *err, size_t errlen)
{
    if (!api || !state)
        return sb_init_error(err, errlen, SB_EINVAL, "no host API");
    if (!SB_HOST_HAS(api, now_ms) || !SB_HOST_HAS(api, socket_disconnect))
        return sb_init_error(err, errlen, SB_EABI,
                             "needs a host with plugin ABI 1.1 (now_ms, socket_disconnect); this "
                             "one speaks %u.%u",
                             (unsigned)api->abi_major, (unsigned)api->abi_minor);

    struct rl_config cfg;
    int rc = rl_config_parse(&cfg, config, err, errlen);
    if (rc < 0)
        return rc;
    struct state *st = calloc(1, sizeof(*st));
    if (!st) {
        rl_config_free(&cfg);
        return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    }
    st->api = api;
    st->host = host;
    size_t n = cfg.n;
    if (!(st->lim = rl_limiter_new(&cfg))) {
        rl_config_free(&cfg);
        state_free(st);
        return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    }
    if (!(st->exceptions = calloc(n, sizeof(*st->exceptions))))
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        /* The payload the server itself sends with `exception` (see sock_exception). */
        json_t *args = json_pack("[{s:s,s:s}]", "status", "error", "message",
                                 rl_limiter_config(st->lim)->rules[i].message);
        st->exceptions[i] = args ? json_dumps(args, JSON_COMPACT) : NULL;
        json_decref(args);
        if (!st->exceptions[i])
            goto nomem;
    }
    api->log_msg(host, SB_LOG_INFO, "%zu rule(s)", n);
    *state = st;
    return 0;

nomem:
    state_free(st);
    return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
}

static void rl_fini(void *state)
{
    state_free(state);
}

static sb_verdict_t rl_before_event(void *state, sb_event_t *ev)
{
    struct state *st = state;
    const sb_host_api_t *api = st->api;
    sb_socket_t *sock = api->event_socket(ev);
    const char *id = api->socket_id(sock), *name = api->event_name(ev);
    if (!id || !name)
        return SB_CONTINUE;

    int i = rl_limiter_hit(st->lim, id, api->socket_user(sock), name, api->now_ms(st->host));
    if (i < 0) {
        if (i != -1)
            api->log_msg(st->host, SB_LOG_WARN, "event '%.64s' not counted: %s", name,
                         api->strerror(i));
        return SB_CONTINUE;
    }
    const struct rl_rule *r = &rl_limiter_config(st->lim)->rules[i];
    api->log_msg(st->host, SB_LOG_DEBUG, "socket %s: event '%.64s' over the limit of rule %d", id,
                 name, i + 1);
    switch (r->action) {
    case RL_ACTION_DROP:
        return SB_DROP;
    case RL_ACTION_DISCONNECT:
        /* Say why first: the exception is queued before the DISCONNECT and the close, which
         * flush what is queued. socket_disconnect() calls our socket_disconnected() at once, so
         * nothing of the socket's state may be touched after it. */
        api->socket_emit(sock, "exception", st->exceptions[i]);
        api->socket_disconnect(sock, 1);
        return SB_DROP;
    default:
        api->event_set_error(ev, r->message);
        return SB_REFUSE;
    }
}

static void rl_socket_disconnected(void *state, sb_socket_t *sock)
{
    struct state *st = state;
    const char *id = st->api->socket_id(sock);
    if (id)
        rl_limiter_forget(st->lim, id, st->api->now_ms(st->host));
}

/* Before the other shipped interceptors: a flood is stopped before anything costlier runs
 * (audit-log 20, acl 30, propagate 100). */
SB_PLUGIN_DEFINE{
    SB_PLUGIN_HEADER,
    .name = "rate-limit",
    .version = SB_VERSION,
    .init = rl_init,
    .fini = rl_fini,
    .intercept_priority = 10,
    .before_event = rl_before_event,
    .socket_disconnected = rl_socket_disconnected,
};
