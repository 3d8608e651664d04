/*
 * The function table plugins call: a thin facade over the bus, the registry and the socket,
 * with every argument checked, because a plugin's mistake must not take the server down.
 */
#include "plugin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"

#define SOCK(s) ((struct sock *)(void *)(s))

static void host_log(sb_host_t *host, int level, const char *fmt, ...)
{
    if (level < SB_LOG_ERROR)
        level = SB_LOG_ERROR;
    if (level > SB_LOG_DEBUG)
        level = SB_LOG_DEBUG;
    if (!log_enabled(level))
        return;
    char area[64];
    snprintf(area, sizeof(area), "%s", host ? host->plugin->desc->name : "plugin");
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, area, fmt, ap);
    va_end(ap);
}

/* Parses a JSON array text (NULL = []). Returns a new reference or NULL. */
static json_t *parse_args(const char *args_json)
{
    if (!args_json)
        return json_array();
    json_t *v = json_loads(args_json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (v && !json_is_array(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

static int host_emit(sb_host_t *host, const sb_emit_t *e)
{
    if (!host || !e || e->size < offsetof(sb_emit_t, args_json) + sizeof(e->args_json) ||
        !e->event || !*e->event || (e->nrooms && !e->rooms) || (e->nexcept && !e->except))
        return SB_EINVAL;
    json_t *args = parse_args(e->args_json);
    if (!args)
        return SB_EJSON;
    struct bus_msg m = {
        .nsp = e->nsp ? e->nsp : "/",
        .rooms = e->rooms,
        .nrooms = e->nrooms,
        .except = e->except,
        .nexcept = e->nexcept,
        .event = e->event,
        .args = args,
    };
    int rc = bus_emit(host->plugin->set->bus, &m);
    json_decref(args);
    return rc < 0 ? rc : 0;
}

static const char *socket_id(const sb_socket_t *s)
{
    return s ? SOCK(s)->id : NULL;
}

static const char *socket_user(const sb_socket_t *s)
{
    return s ? SOCK(s)->user : NULL;
}

static const char *socket_nsp(const sb_socket_t *s)
{
    return s ? SOCK(s)->nsp_name : NULL;
}

static const char *socket_claims(const sb_socket_t *s)
{
    return s ? sock_claims_text(SOCK(s)) : "{}";
}

/* The registry is reached through the socket's plugin set; any loaded plugin's set will do
 * since there is one per process. */
static struct plugins *the_set;

static int socket_join(sb_socket_t *s, const char *room)
{
    if (!s || !room || !the_set)
        return SB_EINVAL;
    return registry_join(the_set->reg, SOCK(s), room);
}

static int socket_leave(sb_socket_t *s, const char *room)
{
    if (!s || !room || !the_set)
        return SB_EINVAL;
    return registry_leave(the_set->reg, SOCK(s), room);
}

static int socket_emit(sb_socket_t *s, const char *event, const char *args_json)
{
    if (!s || !event || !*event)
        return SB_EINVAL;
    json_t *args = parse_args(args_json);
    if (!args)
        return SB_EJSON;
    int rc = sock_emit(SOCK(s), event, args, -1);
    json_decref(args);
    return rc;
}

static const char *auth_token(const sb_auth_req_t *r)
{
    return r ? r->token : NULL;
}

static const char *auth_nsp(const sb_auth_req_t *r)
{
    return r ? r->nsp : NULL;
}

static int auth_set_user(sb_auth_req_t *r, const char *user, const char *claims_json)
{
    if (!r || !user || !*user)
        return SB_EINVAL;
    json_t *claims = NULL;
    if (claims_json) {
        claims = json_loads(claims_json, JSON_ALLOW_NUL, NULL);
        if (!json_is_object(claims)) {
            json_decref(claims);
            return SB_EJSON;
        }
    }
    char *u = strdup(user);
    if (!u) {
        json_decref(claims);
        return SB_ENOMEM;
    }
    free(r->user);
    json_decref(r->claims);
    r->user = u;
    r->claims = claims;
    return 0;
}

static int auth_set_message(sb_auth_req_t *r, const char *message)
{
    if (!r || !message)
        return SB_EINVAL;
    char *m = strdup(message);
    if (!m)
        return SB_ENOMEM;
    free(r->message);
    r->message = m;
    return 0;
}

static sb_socket_t *event_socket(const sb_event_t *ev)
{
    return ev ? (sb_socket_t *)(void *)ev->sock : NULL;
}

static const char *event_name(const sb_event_t *ev)
{
    return ev ? ev->name : NULL;
}

static const char *cached_text(json_t *v, char **cache)
{
    if (!*cache)
        *cache = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return *cache ? *cache : "[]";
}

static const char *event_args(const sb_event_t *ev)
{
    if (!ev)
        return NULL;
    sb_event_t *e = (sb_event_t *)ev;
    return cached_text(e->args, &e->args_text);
}

static int event_set_args(sb_event_t *ev, const char *args_json)
{
    if (!ev)
        return SB_EINVAL;
    json_t *args = parse_args(args_json);
    if (!args)
        return SB_EJSON;
    json_decref(ev->args);
    ev->args = args;
    free(ev->args_text);
    ev->args_text = NULL;
    return 0;
}

static int event_set_error(sb_event_t *ev, const char *message)
{
    if (!ev || !message)
        return SB_EINVAL;
    char *m = strdup(message);
    if (!m)
        return SB_ENOMEM;
    free(ev->error);
    ev->error = m;
    return 0;
}

static const char *reply_event(const sb_reply_t *r)
{
    return r ? r->event : NULL;
}

static const char *reply_args(const sb_reply_t *r)
{
    if (!r)
        return NULL;
    sb_reply_t *rr = (sb_reply_t *)r;
    return cached_text(rr->args, &rr->args_text);
}

static uint64_t now_ms(sb_host_t *host)
{
    return host && host->plugin->set->loop ? uv_now(host->plugin->set->loop) : 0;
}

static int socket_disconnect(sb_socket_t *s, int close)
{
    struct sock *sock = SOCK(s);
    if (!sock || !sock->conn || !sock->connected)
        return SB_ECLOSED;
    struct conn *c = sock->conn;
    sock_disconnect(sock, "server namespace disconnect");
    if (close)
        conn_close(c, MC_SERVER_DISCONNECT, CLOSE_NORMAL, "server disconnect", true);
    return 0;
}

static const char *event_gateway(const sb_event_t *ev)
{
    return ev ? ev->gateway : NULL;
}

static int auth_resume(sb_auth_req_t *req, sb_auth_verdict_t verdict)
{
    /* Asynchronous authentication is not wired into the handshake yet: a plugin that answers
     * SB_AUTH_PENDING has its connection refused at once (see plugins_authenticate). */
    return req ? SB_EUNSUPPORTED : SB_EINVAL;
}

const sb_host_api_t plugin_host_api = {
    .size = sizeof(sb_host_api_t),
    .abi_major = SB_PLUGIN_ABI_MAJOR,
    .abi_minor = SB_PLUGIN_ABI_MINOR,
    .log_msg = host_log,
    .strerror = sb_strerror,
    .emit = host_emit,
    .socket_id = socket_id,
    .socket_user = socket_user,
    .socket_nsp = socket_nsp,
    .socket_claims = socket_claims,
    .socket_join = socket_join,
    .socket_leave = socket_leave,
    .socket_emit = socket_emit,
    .auth_token = auth_token,
    .auth_nsp = auth_nsp,
    .auth_set_user = auth_set_user,
    .auth_set_message = auth_set_message,
    .event_socket = event_socket,
    .event_name = event_name,
    .event_args = event_args,
    .event_set_args = event_set_args,
    .event_set_error = event_set_error,
    .reply_event = reply_event,
    .reply_args = reply_args,
    .now_ms = now_ms,
    .socket_disconnect = socket_disconnect,
    .event_gateway = event_gateway,
    .auth_resume = auth_resume,
};

void plugin_host_bind(struct plugins *ps)
{
    the_set = ps;
}

enum auth_outcome plugins_authenticate(struct plugins *ps, struct sb_auth_req *req)
{
    for (size_t i = 0; i < ps->nauth; i++) {
        struct plugin *p = ps->auth[i];
        sb_auth_verdict_t v = p->authenticate(p->state, req);
        if (v == SB_AUTH_ACCEPT) {
            if (req->user)
                return AUTH_ACCEPTED;
            /* Accepting without an identity is a plugin bug: refuse rather than guess. */
            LOG_ERROR("plugin", "%s accepted a token without setting a user id; refusing",
                      p->desc->name);
            return AUTH_REFUSED;
        }
        if (v == SB_AUTH_REFUSE)
            return AUTH_REFUSED;
        if (v == SB_AUTH_PENDING) {
            LOG_ERROR("plugin",
                      "%s answered SB_AUTH_PENDING, which this server does not support yet; "
                      "refusing",
                      p->desc->name);
            return AUTH_REFUSED;
        }
        if (v != SB_AUTH_DECLINE)
            LOG_WARN("plugin", "%s returned unknown auth verdict %d; treated as decline",
                     p->desc->name, (int)v);
        /* A declining plugin may have set a user by mistake: forget it. */
        free(req->user);
        req->user = NULL;
        json_decref(req->claims);
        req->claims = NULL;
    }
    return AUTH_NONE;
}

void auth_req_clear(struct sb_auth_req *req)
{
    free(req->user);
    json_decref(req->claims);
    free(req->message);
    req->user = NULL;
    req->claims = NULL;
    req->message = NULL;
}

void sb_event_clear(struct sb_event *ev)
{
    json_decref(ev->args);
    free(ev->args_text);
    free(ev->error);
    ev->args = NULL;
    ev->args_text = NULL;
    ev->error = NULL;
}
