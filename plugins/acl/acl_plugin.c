/*
 * acl: which namespaces, events and rooms a socket may use, from a rules file and/or a
 * permissions claim (docs/plugins/acl.md; the rules and their matching are acl.c).
 *
 * Three hooks, each refusing with the configured message ("forbidden" unless message= says
 * otherwise):
 *   - before_connect (ABI 1.4): the namespace, at CONNECT;
 *   - before_join (ABI 1.4): each room a gateway (socket:join) or a plugin joins the socket to;
 *   - before_event: every event is checked for its namespace again (a socket that connected
 *     before acl guarded its namespace, after a gateway reload added it, or on a host older than
 *     1.4), its name, and the room its first argument names (`{room = …}`, the shape
 *     scripts/chat.lua uses), the room a client asks for before any join happens.
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
    bool set_error; /* the host has socket_set_error (ABI 1.4) */
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
    st->set_error = SB_HOST_HAS(api, socket_set_error);
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
    if (api->abi_minor < 4)
        api->log_msg(host, SB_LOG_WARN,
                     "host ABI %u.%u has no connect or join hooks: namespaces are checked per "
                     "event and joins not at all",
                     (unsigned)api->abi_major, (unsigned)api->abi_minor);
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

static void log_denial(struct state *st, const char *sock_id, enum acl_kind kind, const char *name,
                       struct acl_verdict v)
{
    if (v.by == ACL_BY_RULE)
        st->api->log_msg(st->host, SB_LOG_DEBUG, "socket %s: %s '%.128s' denied by %s:%u", sock_id,
                         acl_kind_name(kind), name, st->acl.rules_path, v.line);
    else
        st->api->log_msg(st->host, SB_LOG_DEBUG, "socket %s: %s '%.128s' denied by default",
                         sock_id, acl_kind_name(kind), name);
}

static sb_verdict_t refuse(struct state *st, sb_event_t *ev, const char *sock_id,
                           enum acl_kind kind, const char *name, struct acl_verdict v)
{
    log_denial(st, sock_id, kind, name, v);
    st->api->event_set_error(ev, st->acl.message);
    return SB_REFUSE;
}

/* Who the socket is. Claims are parsed per check: they are small, and a cache would have to
 * follow the socket's life. Claims that do not parse are refused rather than read as "no
 * claims", which would skip `deny claim:…` rules. Returns false then; `*claims` is the new
 * reference to release. */
static bool subject_of(struct state *st, sb_socket_t *sock, struct acl_subject *subject,
                       json_t **claims)
{
    const sb_host_api_t *api = st->api;
    *subject = (struct acl_subject){.user = api->socket_user(sock)};
    *claims = NULL;
    if (!st->uses_claims)
        return true;
    *claims = json_loads(api->socket_claims(sock), JSON_ALLOW_NUL, NULL);
    if (!json_is_object(*claims)) {
        api->log_msg(st->host, SB_LOG_WARN, "socket %s: unreadable claims, refused",
                     api->socket_id(sock));
        return false;
    }
    subject->claims = *claims;
    return true;
}

/* The connect and join hooks: one check of `kind` for `name`. */
static sb_verdict_t guard(struct state *st, sb_socket_t *sock, enum acl_kind kind, const char *name)
{
    const sb_host_api_t *api = st->api;
    const char *id = api->socket_id(sock);
    struct acl_subject subject;
    json_t *claims = NULL;
    struct acl_verdict v = {.effect = ACL_DENY, .by = ACL_BY_DEFAULT};
    if (id && name && subject_of(st, sock, &subject, &claims))
        v = acl_check(&st->acl, &subject, kind, name);
    json_decref(claims);
    if (v.effect == ACL_ALLOW)
        return SB_CONTINUE;
    log_denial(st, id ? id : "?", kind, name ? name : "?", v);
    if (st->set_error)
        api->socket_set_error(sock, st->acl.message);
    return SB_REFUSE;
}

static sb_verdict_t acl_before_connect(void *state, sb_socket_t *sock)
{
    struct state *st = state;
    return guard(st, sock, ACL_NAMESPACE, st->api->socket_nsp(sock));
}

static sb_verdict_t acl_before_join(void *state, sb_socket_t *sock, const char *room)
{
    struct state *st = state;
    if (!st->checks_rooms)
        return SB_CONTINUE;
    return guard(st, sock, ACL_ROOM, room);
}

static sb_verdict_t acl_before_event(void *state, sb_event_t *ev)
{
    struct state *st = state;
    const sb_host_api_t *api = st->api;
    sb_socket_t *sock = api->event_socket(ev);
    const char *id = api->socket_id(sock), *nsp = api->socket_nsp(sock);
    const char *event = api->event_name(ev);
    struct acl_subject subject;
    json_t *claims = NULL, *args = NULL;
    sb_verdict_t verdict = SB_CONTINUE;
    struct acl_verdict v;

    if (!id || !nsp || !event) {
        api->event_set_error(ev, st->acl.message);
        return SB_REFUSE;
    }
    if (!subject_of(st, sock, &subject, &claims)) {
        verdict = refuse(st, ev, id, ACL_EVENT, event,
                         (struct acl_verdict){.effect = ACL_DENY, .by = ACL_BY_DEFAULT});
        goto done;
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
    .before_connect = acl_before_connect,
    .before_join = acl_before_join,
};
