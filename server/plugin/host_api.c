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

struct plugins *plugins_of_sock(const struct sock *s)
{
    return s && s->conn && s->conn->host ? s->conn->host->plugins : NULL;
}

/* A plugin's join asks the before_join hooks of the plugins that guard the socket's namespace
 * (ABI 1.4). A socket given to before_connect is not connected yet: nothing can be done with
 * it but read it. */
static int socket_join(sb_socket_t *s, const char *room)
{
    struct plugins *ps = plugins_of_sock(s ? SOCK(s) : NULL);
    if (!ps || !room)
        return SB_EINVAL;
    if (plugins_guard_running(ps))
        return SB_ESTATE;
    if (!SOCK(s)->connected)
        return SB_ECLOSED;
    char why[PLUGINS_WHY_MAX];
    int rc = plugins_guard_join_nsp(ps, SOCK(s), room, why);
    return rc ? rc : registry_join(ps->reg, SOCK(s), room);
}

static int socket_leave(sb_socket_t *s, const char *room)
{
    struct plugins *ps = plugins_of_sock(s ? SOCK(s) : NULL);
    if (!ps || !room)
        return SB_EINVAL;
    if (!SOCK(s)->connected)
        return SB_ECLOSED;
    return registry_leave(ps->reg, SOCK(s), room);
}

static int socket_emit(sb_socket_t *s, const char *event, const char *args_json)
{
    if (!s || !event || !*event)
        return SB_EINVAL;
    if (!SOCK(s)->connected)
        return SB_ECLOSED;
    json_t *args = parse_args(args_json);
    if (!args)
        return SB_EJSON;
    int rc = sock_emit(SOCK(s), event, args, NULL, -1);
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

static int auth_set_expiry(sb_auth_req_t *r, uint64_t unix_ms)
{
    if (!r)
        return SB_EINVAL;
    r->expires_ms = unix_ms;
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
    /* The event's attachments stay; a placeholder must name one of them. */
    if (ev->bins && sio_placeholders_check(args, ev->bins->n)) {
        json_decref(args);
        return SB_EJSON;
    }
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

/* ---- authentication attempts ---- */

/*
 * Every request made by plugins_auth_start() that is not freed yet, by address. A plugin holds
 * the pointer of a pending request and may call auth_resume() with it at any time, even after
 * the attempt ended; looking the pointer up here first means a stray or repeated call is refused
 * without reading memory that may be gone. It is the plugin host's one process-wide table, by
 * necessity: auth_resume() is given that pointer alone, which must not be read before it is
 * known to be live, so nothing could lead from it to a table of one server's.
 */
static struct sb_map live_reqs;

static void req_key(const void *req, char *out, size_t size)
{
    snprintf(out, size, "%p", req);
}

static struct sb_auth_req *live_find(const void *ptr)
{
    char key[sizeof(((struct sb_auth_req *)0)->key)];
    req_key(ptr, key, sizeof(key));
    return sb_map_get(&live_reqs, key);
}

static void req_free(struct sb_auth_req *req)
{
    if (req->heap)
        sb_map_del(&live_reqs, req->key);
    auth_req_clear(req);
    free(req);
}

/* Forgets an identity a plugin set before declining. */
static void forget_user(struct sb_auth_req *req)
{
    free(req->user);
    req->user = NULL;
    json_decref(req->claims);
    req->claims = NULL;
    req->expires_ms = 0;
}

/* The outcome of one plugin's verdict: AUTH_NONE means "ask the next one". */
static enum auth_outcome verdict_outcome(struct sb_auth_req *req, const struct plugin *p,
                                         sb_auth_verdict_t v)
{
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
    if (v != SB_AUTH_DECLINE)
        LOG_WARN("plugin", "%s returned unknown auth verdict %d; treated as decline", p->desc->name,
                 (int)v);
    forget_user(req);
    return AUTH_NONE;
}

/* Asks the auth plugins from req->next on. Stops at the first that accepts, refuses or, for a
 * request that can wait, answers SB_AUTH_PENDING. */
static enum auth_outcome run_chain(struct sb_auth_req *req)
{
    struct plugins *ps = req->set;
    while (req->next < ps->nauth && !req->ended) {
        struct plugin *p = ps->auth[req->next++];
        req->in_hook = true;
        sb_auth_verdict_t v = p->authenticate(p->state, req);
        req->in_hook = false;
        if (v == SB_AUTH_PENDING) {
            if (req->heap) {
                req->waiting = p;
                return AUTH_PENDING;
            }
            LOG_ERROR("plugin",
                      "%s answered SB_AUTH_PENDING where the server cannot wait; refusing",
                      p->desc->name);
            return AUTH_REFUSED;
        }
        enum auth_outcome o = verdict_outcome(req, p, v);
        if (o != AUTH_NONE)
            return o;
    }
    return AUTH_NONE;
}

static int auth_resume(sb_auth_req_t *r, sb_auth_verdict_t verdict)
{
    struct sb_auth_req *req = r ? live_find(r) : NULL;
    if (!req)
        return SB_EINVAL;
    if (!req->waiting || req->in_hook)
        return SB_ESTATE;
    if (verdict != SB_AUTH_ACCEPT && verdict != SB_AUTH_REFUSE && verdict != SB_AUTH_DECLINE)
        return SB_EINVAL;
    struct plugin *p = req->waiting;
    req->waiting = NULL;
    if (req->ended) {
        /* The connection was refused or went away meanwhile: the plugin's answer is late and
         * changes nothing. This was the last reference to the request. */
        int err = req->ended;
        LOG_DEBUG("plugin", "%s answered an authentication that had ended already (%s)",
                  p->desc->name, err == SB_ETIMEOUT ? "timed out" : "connection closed");
        req_free(req);
        return err;
    }
    enum auth_outcome o = verdict_outcome(req, p, verdict);
    if (o == AUTH_NONE)
        o = run_chain(req);
    if (o == AUTH_PENDING)
        return 0;
    auth_done_fn done = req->done;
    void *ud = req->ud;
    req->done = NULL;
    /* Cancelled while a later plugin's hook ran: nobody is waiting for the outcome. */
    if (done && !req->ended)
        done(ud, req, o);
    req_free(req);
    return 0;
}

static void *host_loop(sb_host_t *host)
{
    return host ? host->plugin->set->loop : NULL;
}

static uint32_t host_auth_timeout_ms(sb_host_t *host)
{
    return host ? host->plugin->set->auth_timeout_ms : 0;
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
    .loop = host_loop,
    .auth_timeout_ms = host_auth_timeout_ms,
    .socket_set_error = plugins_guard_set_error,
    .auth_set_expiry = auth_set_expiry,
};

int plugins_auth_start(struct plugins *ps, const char *token, const char *nsp, auth_done_fn done,
                       void *ud, struct sb_auth_req **out)
{
    size_t tlen = strlen(token), nlen = strlen(nsp);
    struct sb_auth_req *req = calloc(1, sizeof(*req) + tlen + nlen + 2);
    if (!req)
        return SB_ENOMEM;
    char *text = (char *)(req + 1);
    memcpy(text, token, tlen + 1);
    memcpy(text + tlen + 1, nsp, nlen + 1);
    req->token = text;
    req->nsp = text + tlen + 1;
    req->set = ps;
    req->heap = true;
    req->done = done;
    req->ud = ud;
    req_key(req, req->key, sizeof(req->key));
    if (sb_map_put(&live_reqs, req->key, req)) {
        free(req);
        return SB_ENOMEM;
    }
    enum auth_outcome o = run_chain(req);
    if (o == AUTH_PENDING)
        LOG_DEBUG("plugin", "%s will answer an authentication later", req->waiting->desc->name);
    *out = req;
    return (int)o;
}

void plugins_auth_cancel(struct sb_auth_req *req, int why)
{
    req->done = NULL;
    req->ud = NULL;
    if (req->waiting || req->in_hook) {
        /* The plugin still holds the request: it lives until the plugin's auth_resume(). */
        req->ended = why;
        return;
    }
    req_free(req);
}

void plugins_auth_free(struct sb_auth_req *req)
{
    if (req)
        req_free(req);
}

void plugins_auth_abandoned(void)
{
    const char *key;
    void *value;
    if (live_reqs.count)
        LOG_WARN("plugin", "%u authentication(s) left pending by a plugin were never answered",
                 live_reqs.count);
    for (uint32_t i = 0; sb_map_next(&live_reqs, &i, &key, &value);) {
        /* The plugins are unloaded: nothing can reach these any more. */
        auth_req_clear(value);
        free(value);
    }
    sb_map_free(&live_reqs);
}

enum auth_outcome plugins_authenticate(struct plugins *ps, struct sb_auth_req *req)
{
    req->set = ps;
    req->next = 0;
    req->heap = false;
    return run_chain(req);
}

void auth_req_clear(struct sb_auth_req *req)
{
    free(req->user);
    json_decref(req->claims);
    free(req->message);
    req->user = NULL;
    req->claims = NULL;
    req->message = NULL;
    req->expires_ms = 0;
}

void sb_event_clear(struct sb_event *ev)
{
    json_decref(ev->args);
    sio_bins_unref(ev->bins);
    free(ev->args_text);
    free(ev->error);
    ev->bins = NULL;
    ev->args = NULL;
    ev->args_text = NULL;
    ev->error = NULL;
}
