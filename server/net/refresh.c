/*
 * Token lifetimes (ABI 1.5 auth_set_expiry). A socket whose auth plugin gave its identity an
 * expiry gets a `struct sock_refresh`: one libuv timer, armed for that wall-clock time. When it
 * fires, a Socket.IO client is sent the event `refresh` with an ack id and has
 * --auth-refresh-grace ms to answer it with a new token; the token goes through the auth
 * plugins again (auth.c, the same chain and namespace as a CONNECT's), and an accepted one for
 * the same user replaces the claims and the expiry. Otherwise the socket gets the `exception`
 * event with the reason, then a server DISCONNECT. A plain WebSocket has no acks to ask with:
 * it is closed with 4401 "token expired" at the expiry.
 *
 * Ownership: the socket owns its refresh (s->refresh) until it leaves its namespace, when
 * net_refresh_cancel() takes back everything that could call into it later — the ack wait
 * registered on the socket, an authentication pending on the connection — and closes the
 * timer, whose close callback frees it. So no callback reaches a refresh whose socket is gone,
 * and a connection's teardown (also at shutdown) ends its refreshes with its sockets.
 *
 * A wall-clock time, not the loop's monotonic clock, because that is what a token's `exp`
 * is; the delay is computed once, when the timer is armed.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../log/log.h"
#include "../pipeline/pipeline.h"

#define EXPIRED "token expired" /* no token accepted in time: a disconnect's reason */
#define REFUSED "token refused" /* a refreshed token was refused */

enum refresh_state {
    R_WAITING, /* the timer is armed for the expiry */
    R_ASKED,   /* `refresh` was sent; the timer is the grace period, the ack is registered */
    R_CHECKING /* the answer's token is with an auth plugin that answers later (auth.c) */
};

struct sock_refresh {
    struct net *net;  /* borrowed */
    struct sock *s;   /* borrowed: the socket owns its refresh; NULL once cancelled */
    uv_timer_t timer; /* the expiry, then the grace period; freed in its close callback */
    uint64_t ack_id;  /* R_ASKED: the ack registered on the socket */
    enum refresh_state state;
};

static uint64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void refresh_free_cb(uv_handle_t *h)
{
    free(h->data);
}

/* Logs why the socket goes, tells the client (the `exception` event), and disconnects it
 * (DISCONNECT for its namespace). The refresh is cancelled on the way (net_sock_detach). */
static void drop(struct sock_refresh *r, const char *reason, const char *message)
{
    struct sock *s = r->s;
    LOG_REASON(SB_LOG_INFO, "net", message, "socket %s of %s in %s disconnected: %s (%s)", s->id,
               s->user ? s->user : "?", s->nsp_name, reason, message);
    sock_exception(s, message);
    sock_disconnect(s, reason);
}

/* An accepted token: the same user, and a lifetime that goes on, or the socket goes. */
static void accepted(struct sock_refresh *r, struct identity_result *id)
{
    struct sock *s = r->s;
    if (!s->user || strcmp(id->user, s->user) != 0) {
        drop(r, REFUSED, "token is for another user");
        return;
    }
    /* A refresh must move the expiry on: a token already expired (inside the plugin's leeway)
     * would be asked for again at once, over and over. */
    if (id->expires_ms && id->expires_ms <= unix_ms()) {
        drop(r, REFUSED, EXPIRED);
        return;
    }
    if (sock_set_identity(s, id->user, id->claims)) {
        drop(r, REFUSED, "internal error");
        return;
    }
    pipeline_identity(r->net->pipe, s);
    LOG_DEBUG("net", "socket %s of %s in %s: token refreshed", s->id, s->user, s->nsp_name);
    if (net_refresh_arm(r->net, s, id->expires_ms))
        drop(r, REFUSED, "internal error");
}

static void answered(struct sock_refresh *r, struct identity_result *id)
{
    if (id->outcome == AUTH_ACCEPTED)
        accepted(r, id);
    else
        drop(r, REFUSED, id->message ? id->message : "invalid token");
}

/* The answer to a refreshed token an auth plugin checked later (a net_auth_fn). The socket
 * may have gone meanwhile: then the attempt was cancelled and this is not called. */
static void auth_done(struct net *n, struct conn *c, const char *nsp, json_t *auth,
                      struct identity_result *id)
{
    (void)n;
    (void)auth;
    struct sock *s = conn_sock_find(c, nsp);
    struct sock_refresh *r = s ? s->refresh : NULL;
    if (!r || r->state != R_CHECKING || c->closing)
        return;
    r->state = R_WAITING;
    answered(r, id);
}

/* The token of the client's answer: `ack("…")` or `ack({token: "…"})`, or NULL. */
static const char *answer_token(const json_t *args)
{
    const json_t *v = json_array_get(args, 0);
    if (json_is_object(v))
        v = json_object_get(v, "token");
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v))
        return NULL;
    return json_string_value(v);
}

/* The client's ack (err 0), the grace period's end (SB_ETIMEOUT, from timer_cb), or the
 * socket going away (SB_ECLOSED, from net_refresh_cancel(), which handles the rest). */
static void ack_cb(void *ud, json_t *args, struct sio_bins *bins, int err)
{
    (void)bins; /* a token is text: an answer with attachments is read for its JSON alone */
    struct sock_refresh *r = ud;
    if (!r->s || r->state != R_ASKED)
        return;
    r->state = R_WAITING;
    uv_timer_stop(&r->timer);
    if (err == SB_ECLOSED)
        return;
    if (err) {
        drop(r, EXPIRED, EXPIRED);
        return;
    }
    const char *token = answer_token(args);
    if (!token) {
        drop(r, REFUSED, "invalid token");
        return;
    }
    struct sock *s = r->s;
    struct identity_result id;
    int o = net_auth_start(r->net, s->conn, token, s->nsp_name, NULL, auth_done, &id);
    if (o == AUTH_PENDING)
        r->state = R_CHECKING;
    else if (o == AUTH_NONE)
        drop(r, REFUSED, "invalid token"); /* nothing can check it: no plugin left to ask */
    else
        answered(r, &id);
    identity_result_clear(&id);
}

static void timer_cb(uv_timer_t *t);

/* Ask the client for a new token. */
static void ask(struct sock_refresh *r)
{
    struct sock *s = r->s;
    struct conn *c = s->conn;
    if (!c || c->closing)
        return;
    if (c->proto != CONN_SIO) {
        /* A plain WebSocket cannot answer an ack: it reconnects with a new token. The close
         * comes first, so that the socket's own disconnect (which gives the gateways the
         * reason) finds the connection closing with 4401 already. */
        LOG_REASON(SB_LOG_INFO, "net", EXPIRED, "WebSocket of %s closed: %s",
                   s->user ? s->user : "?", EXPIRED);
        conn_close(c, MC_SERVER_DISCONNECT, CLOSE_UNAUTHORIZED, EXPIRED, true);
        sock_disconnect(s, EXPIRED);
        return;
    }
    uint64_t id;
    if (sock_ack_add(s, ack_cb, r, &id)) {
        drop(r, EXPIRED, "internal error");
        return;
    }
    r->ack_id = id;
    r->state = R_ASKED;
    uv_timer_start(&r->timer, timer_cb, r->net->cfg->auth_refresh_grace_ms, 0);
    LOG_DEBUG("net", "socket %s of %s in %s: token expired, asking for a new one", s->id,
              s->user ? s->user : "?", s->nsp_name);
    sock_emit(s, "refresh", NULL, NULL, (int64_t)id);
}

static void timer_cb(uv_timer_t *t)
{
    struct sock_refresh *r = t->data;
    if (!r->s)
        return;
    if (r->state == R_WAITING) {
        ask(r);
        return;
    }
    if (r->state == R_ASKED)
        sock_ack_fail(r->s, r->ack_id, SB_ETIMEOUT); /* ack_cb disconnects */
}

int net_refresh_arm(struct net *n, struct sock *s, uint64_t expires_ms)
{
    struct sock_refresh *r = s->refresh;
    if (!expires_ms) {
        if (r)
            uv_timer_stop(&r->timer);
        return 0;
    }
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return SB_ENOMEM;
        r->net = n;
        r->s = s;
        uv_timer_init(n->loop, &r->timer);
        r->timer.data = r;
        s->refresh = r;
    }
    uint64_t now = unix_ms();
    r->state = R_WAITING;
    uv_timer_start(&r->timer, timer_cb, expires_ms > now ? expires_ms - now : 0, 0);
    return 0;
}

void net_refresh_cancel(struct sock *s)
{
    struct sock_refresh *r = s->refresh;
    if (!r)
        return;
    s->refresh = NULL;
    enum refresh_state state = r->state;
    r->state = R_WAITING;
    /* The ack wait and the authentication would call back into `r`: they end first. */
    if (state == R_ASKED)
        sock_ack_fail(s, r->ack_id, SB_ECLOSED);
    if (state == R_CHECKING && s->conn)
        net_auth_cancel(s->conn, s->nsp_name);
    r->s = NULL;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, refresh_free_cb);
}
