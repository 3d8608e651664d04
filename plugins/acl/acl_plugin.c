/*
 * acl: which namespaces, events and rooms a socket may use, from a rules file and/or a
 * permissions claim (docs/plugins/acl.md; the rules and their matching are acl.c).
 *
 * Every event is checked three times, and the first denial refuses it with `exception`
 * ("forbidden" unless message= says otherwise):
 *   1. its namespace (a denied namespace refuses every event in it: ABI 1.1 has no hook to
 *      refuse the CONNECT itself);
 *   2. its name;
 *   3. its room, when the first argument is an object with a string `room` member (the shape
 *      scripts/chat.lua uses; ABI 1.1 shows no room joins to a plugin, they happen in Lua).
 */
#include "acl.h"

#include <stdlib.h>
#include <string.h>

#include <switchboard/plugin.h>

#ifndef SB_VERSION
#define SB_VERSION "0.0.0"
#endif

struct state {
    const sb_host_api_t *api;
    sb_host_t *host;
    struct acl acl;
    bool uses_claims;
    bool checks_rooms;
};

static int acl_plugin_init(const sb_host_api_t *api, sb_host_t *host, const char *config,
                           void **state, char *err, size_t errlen)
{
    if (!api || !state)
        return sb_init_error(err, errlen, SB_EINVAL, "no host API");
    if (!SB_HOST_HAS(api, event_set_error) || !SB_HOST_HAS(api, socket_claims) ||
        !SB_HOST_HAS(api, event_args))
        return sb_init_error(err, errlen, SB_EABI, "the host API lacks the event functions");

    struct state *st = calloc(1, sizeof(*st));
    if (!st)
        return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    st->api = api;
    st->host = host;
    acl_init(&st->acl);
    int rc = acl_configure(&st->acl, config, err, errlen);
    if (rc < 0) {
        acl_free(&st->acl);
        free(st);
        return rc;
    }
    st->uses_claims = acl_uses_claims(&st->acl);
    st->checks_rooms = acl_checks_rooms(&st->acl);
    api->log_msg(host, SB_LOG_INFO, "%zu rule(s)%s%s%s, default %s", st->acl.n,
                 st->acl.rules_path ? " from " : "", st->acl.rules_path ? st->acl.rules_path : "",
                 st->acl.claim ? ", permissions claim" : "",
                 st->acl.dflt == ACL_ALLOW ? "allow" : "deny");
    if (st->acl.rules_path && st->acl.n == 0 && !st->acl.claim)
        api->log_msg(host, SB_LOG_WARN, "%s has no rule: every event gets the default",
                     st->acl.rules_path);
    *state = st;
    return 0;
}

static void acl_plugin_fini(void *state)
{
    struct state *st = state;
    if (!st)
        return;
    acl_free(&st->acl);
    free(st);
}

static sb_verdict_t refuse(struct state *st, sb_event_t *ev, const char *sock_id,
                           enum acl_kind kind, const char *name, struct acl_verdict v)
{
    if (v.by == ACL_BY_RULE)
        st->api->log_msg(st->host, SB_LOG_DEBUG, "socket %s: %s '%.128s' denied by %s:%u", sock_id,
                         acl_kind_name(kind), name, st->acl.rules_path, v.line);
    else
        st->api->log_msg(st->host, SB_LOG_DEBUG, "socket %s: %s '%.128s' denied by default",
                         sock_id, acl_kind_name(kind), name);
    st->api->event_set_error(ev, st->acl.message);
    return SB_REFUSE;
}

static sb_verdict_t acl_before_event(void *state, sb_event_t *ev)
{
    struct state *st = state;
    const sb_host_api_t *api = st->api;
    sb_socket_t *sock = api->event_socket(ev);
    const char *id = api->socket_id(sock), *nsp = api->socket_nsp(sock);
    const char *event = api->event_name(ev);
    struct acl_subject subject = {.user = api->socket_user(sock)};
    json_t *claims = NULL, *args = NULL;
    sb_verdict_t verdict = SB_CONTINUE;
    struct acl_verdict v;

    if (!id || !nsp || !event) {
        api->event_set_error(ev, st->acl.message);
        return SB_REFUSE;
    }
    if (st->uses_claims) {
        /* Parsed per event: claims are small, and a cache would have to follow the socket's
         * life. Claims that do not parse are refused rather than read as "no claims", which
         * would skip `deny claim:…` rules. */
        claims = json_loads(api->socket_claims(sock), JSON_ALLOW_NUL, NULL);
        if (!json_is_object(claims)) {
            api->log_msg(st->host, SB_LOG_WARN, "socket %s: unreadable claims, event refused", id);
            verdict = refuse(st, ev, id, ACL_EVENT, event,
                             (struct acl_verdict){.effect = ACL_DENY, .by = ACL_BY_DEFAULT});
            goto done;
        }
        subject.claims = claims;
    }

    v = acl_check(&st->acl, &subject, ACL_NAMESPACE, nsp);
    if (v.effect == ACL_DENY) {
        verdict = refuse(st, ev, id, ACL_NAMESPACE, nsp, v);
        goto done;
    }
    v = acl_check(&st->acl, &subject, ACL_EVENT, event);
    if (v.effect == ACL_DENY) {
        verdict = refuse(st, ev, id, ACL_EVENT, event, v);
        goto done;
    }
    if (st->checks_rooms) {
        const char *room = NULL;
        args = json_loads(api->event_args(ev), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        int rc = acl_room_of(args, &room);
        if (rc < 0) {
            verdict = refuse(st, ev, id, ACL_ROOM, "(invalid)",
                             (struct acl_verdict){.effect = ACL_DENY, .by = ACL_BY_DEFAULT});
            goto done;
        }
        if (rc > 0) {
            v = acl_check(&st->acl, &subject, ACL_ROOM, room);
            if (v.effect == ACL_DENY)
                verdict = refuse(st, ev, id, ACL_ROOM, room, v);
        }
    }
done:
    json_decref(args);
    json_decref(claims);
    return verdict;
}

/* After rate-limit (10) and audit-log (20), so that refused attempts are limited and audited;
 * before propagate (100). */
SB_PLUGIN_DEFINE{
    SB_PLUGIN_HEADER,
    .name = "acl",
    .version = SB_VERSION,
    .init = acl_plugin_init,
    .fini = acl_plugin_fini,
    .intercept_priority = 30,
    .before_event = acl_before_event,
};
