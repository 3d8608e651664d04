/*
 * propagate: the seed's RedisPropagatorInterceptor. Every reply a gateway handler returns to a
 * socket is also emitted to the other sockets of the same user, on every instance (the emit
 * goes through the bus): room "user:<id>" except the origin socket, so the origin never gets a
 * reply twice. Anonymous sockets have no other sockets to reach: nothing is propagated.
 *
 * Use it from a gateway with `interceptors = { "propagate" }`. No CONFIG.
 */
#include <stdlib.h>
#include <string.h>

#include <switchboard/plugin.h>

struct state {
    const sb_host_api_t *api;
    sb_host_t *host;
};

static int init(const sb_host_api_t *api, sb_host_t *host, const char *config, void **state,
                char *err, size_t errlen)
{
    if (config && *config)
        return sb_init_error(err, errlen, SB_EINVAL, "propagate takes no CONFIG");
    struct state *st = malloc(sizeof(*st));
    if (!st)
        return SB_ENOMEM;
    st->api = api;
    st->host = host;
    *state = st;
    return 0;
}

static void fini(void *state)
{
    free(state);
}

static sb_verdict_t after_reply(void *state, sb_event_t *ev, sb_reply_t *reply)
{
    struct state *st = state;
    const sb_host_api_t *api = st->api;
    sb_socket_t *sock = api->event_socket(ev);
    const char *user = api->socket_user(sock);
    if (!user)
        return SB_CONTINUE;

    size_t len = strlen(user);
    char *room = malloc(len + 6);
    if (!room) {
        api->log_msg(st->host, SB_LOG_ERROR, "out of memory: reply not propagated");
        return SB_CONTINUE;
    }
    memcpy(room, "user:", 5);
    memcpy(room + 5, user, len + 1);
    const char *rooms[1] = {room};
    const char *except[1] = {api->socket_id(sock)};
    sb_emit_t e = {
        .size = sizeof(e),
        .nsp = api->socket_nsp(sock),
        .rooms = rooms,
        .nrooms = 1,
        .except = except,
        .nexcept = 1,
        .event = api->reply_event(reply),
        .args_json = api->reply_args(reply),
    };
    int rc = api->emit(st->host, &e);
    if (rc < 0)
        api->log_msg(st->host, SB_LOG_WARN, "reply '%s' not propagated: %s", e.event,
                     api->strerror(rc));
    free(room);
    /* The origin socket still gets its reply. */
    return SB_CONTINUE;
}

SB_PLUGIN_DEFINE{
    SB_PLUGIN_HEADER, .name = "propagate",       .version = "1.0.0",         .init = init,
    .fini = fini,     .intercept_priority = 100, .after_reply = after_reply,
};
