/*
 * Turning a token into an identity with the auth plugins. A token that no plugin accepts is
 * refused: a client that sends a token expects it to count, and a silent downgrade to an
 * anonymous socket would hide configuration mistakes. Tokens never reach the log.
 *
 * An auth plugin may answer later (SB_AUTH_PENDING, then auth_resume()). Such an attempt becomes
 * a `struct auth_wait` on its connection: the host's request, a deadline (--auth-timeout) and
 * what to do with the answer. The connection owns its waits and its teardown cancels them
 * (net_auth_conn_closed()), so an answer never reaches a freed connection: the host keeps the
 * request alive for the plugin, whose late auth_resume() then returns SB_ECLOSED and does
 * nothing else.
 *
 * It calls nothing else in net/: what happens with an answer is the caller's `done`
 * (handshake.c for a token from the HTTP upgrade, session_sio.c for one from a CONNECT).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include "../log/log.h"

#define TIMED_OUT "authentication timed out"

struct auth_wait {
    struct auth_wait *next;  /* the connection's list */
    struct net *net;         /* borrowed */
    struct conn *conn;       /* borrowed: the connection owns its waits */
    struct sb_auth_req *req; /* the host's attempt, NULL once it ended */
    net_auth_fn done;
    json_t *auth;     /* new reference, or NULL: handed to `done` */
    uv_timer_t timer; /* the deadline; the wait is freed in its close callback */
    char nsp[];       /* the namespace the token is for */
};

/* Moves the outcome of a finished attempt into `out`. */
static void identity_take(struct identity_result *out, struct sb_auth_req *req, enum auth_outcome o)
{
    memset(out, 0, sizeof(*out));
    if (o == AUTH_ACCEPTED) {
        out->outcome = AUTH_ACCEPTED;
        out->user = req->user;
        out->claims = req->claims;
        out->expires_ms = req->expires_ms;
        req->user = NULL;
        req->claims = NULL;
        return;
    }
    out->outcome = AUTH_REFUSED;
    out->message = req->message ? req->message
                                : strdup(o == AUTH_REFUSED ? "not authorized" : "invalid token");
    req->message = NULL;
}

static void refused(struct identity_result *out, const char *message)
{
    memset(out, 0, sizeof(*out));
    out->outcome = AUTH_REFUSED;
    out->message = strdup(message);
}

static void wait_unlink(struct auth_wait *w)
{
    for (struct auth_wait **p = &w->conn->auth_waits; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    w->next = NULL;
}

static void wait_free_cb(uv_handle_t *h)
{
    struct auth_wait *w = h->data;
    json_decref(w->auth);
    free(w);
}

/* The wait is unlinked and its request gone: stop the deadline and free it. */
static void wait_close(struct auth_wait *w)
{
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, wait_free_cb);
}

/* The host finished a pending attempt (a plugin's auth_resume()). */
static void req_done_cb(void *ud, struct sb_auth_req *req, enum auth_outcome o)
{
    struct auth_wait *w = ud;
    struct identity_result id;
    identity_take(&id, req, o);
    w->req = NULL; /* the host frees it when this returns */
    wait_unlink(w);
    w->done(w->net, w->conn, w->nsp, w->auth, &id);
    identity_result_clear(&id);
    wait_close(w);
}

static void deadline_cb(uv_timer_t *t)
{
    struct auth_wait *w = t->data;
    LOG_DEBUG("net", "authentication for %s not answered within %u ms", w->nsp,
              w->net->cfg->auth_timeout_ms);
    plugins_auth_cancel(w->req, SB_ETIMEOUT);
    w->req = NULL;
    wait_unlink(w);
    struct identity_result id;
    refused(&id, TIMED_OUT);
    w->done(w->net, w->conn, w->nsp, w->auth, &id);
    identity_result_clear(&id);
    wait_close(w);
}

int net_auth_start(struct net *n, struct conn *c, const char *token, const char *nsp, json_t *auth,
                   net_auth_fn done, struct identity_result *out)
{
    memset(out, 0, sizeof(*out));
    if (n->plugins->nauth == 0) {
        /* Nothing can check tokens: accept the connection as anonymous, as the seed's
         * unauthenticated sockets are. */
        out->outcome = AUTH_NONE;
        return AUTH_NONE;
    }
    size_t nlen = strlen(nsp);
    struct auth_wait *w = calloc(1, sizeof(*w) + nlen + 1);
    struct sb_auth_req *req = NULL;
    int o = w ? plugins_auth_start(n->plugins, token, nsp, req_done_cb, w, &req) : SB_ENOMEM;
    if (o < 0) {
        LOG_ERROR("net", "authentication: %s", sb_strerror(o));
        free(w);
        refused(out, "internal error");
        return AUTH_REFUSED;
    }
    if (o != AUTH_PENDING) {
        identity_take(out, req, (enum auth_outcome)o);
        plugins_auth_free(req);
        free(w);
        return out->outcome;
    }
    memcpy(w->nsp, nsp, nlen + 1);
    w->net = n;
    w->conn = c;
    w->req = req;
    w->done = done;
    w->auth = auth ? json_incref(auth) : NULL;
    uv_timer_init(n->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, deadline_cb, n->cfg->auth_timeout_ms, 0);
    w->next = c->auth_waits;
    c->auth_waits = w;
    return AUTH_PENDING;
}

static struct auth_wait *wait_find(const struct conn *c, const char *nsp)
{
    for (struct auth_wait *w = c->auth_waits; w; w = w->next)
        if (strcmp(w->nsp, nsp) == 0)
            return w;
    return NULL;
}

bool net_auth_pending(const struct conn *c, const char *nsp)
{
    return wait_find(c, nsp) != NULL;
}

static void wait_cancel(struct auth_wait *w)
{
    plugins_auth_cancel(w->req, SB_ECLOSED);
    w->req = NULL;
    wait_close(w);
}

void net_auth_cancel(struct conn *c, const char *nsp)
{
    struct auth_wait *w = wait_find(c, nsp);
    if (!w)
        return;
    wait_unlink(w);
    wait_cancel(w);
}

void net_auth_conn_closed(struct conn *c)
{
    while (c->auth_waits) {
        struct auth_wait *w = c->auth_waits;
        c->auth_waits = w->next;
        wait_cancel(w);
    }
    free(c->auth_reason);
    c->auth_reason = NULL;
}

void identity_result_clear(struct identity_result *r)
{
    free(r->user);
    json_decref(r->claims);
    free(r->message);
    memset(r, 0, sizeof(*r));
}
