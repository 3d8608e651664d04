/*
 * Connections and their namespace sockets, as the network layer keeps them: the list of every
 * connection from its upgrade (or its first polling request) to its close (struct net, `conns`),
 * the sessions that began on polling by sid (`sessions`), a socket's entry into its
 * namespace (plugins' before_connect, the registry, the seed's user and authenticated rooms)
 * and its exit, a refused session's close, and the teardown when lws closes a connection.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "../pipeline/pipeline.h"
#include "../registry/registry.h"

#define CLOSE_REASON_MAX 123 /* a close frame's payload is at most 125 bytes with the code */

static void conn_link(struct net *n, struct conn *c)
{
    c->prev = NULL;
    c->next = n->conns;
    if (n->conns)
        n->conns->prev = c;
    n->conns = c;
    n->nconns++;
}

static void conn_unlink(struct net *n, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        n->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    n->nconns--;
}

void net_conn_adopt(struct net *n, struct lws *wsi, struct conn *c)
{
    c->transport = wsi;
    lws_set_opaque_user_data(wsi, c);
    conn_link(n, c);
}

int net_conn_list_session(struct net *n, struct conn *c)
{
    if (sb_map_put(&n->sessions, c->sid, c))
        return SB_ENOMEM;
    conn_link(n, c);
    return 0;
}

struct conn *net_session_find(struct net *n, const char *sid)
{
    return sb_map_get(&n->sessions, sid);
}

int net_sock_attach(struct net *n, struct conn *c, const char *nsp_name, const char *user,
                    json_t *claims, uint64_t expires_ms, json_t *auth, struct sock **out, char *why)
{
    *out = NULL;
    why[0] = '\0';
    struct nsp *nsp = registry_nsp(n->reg, nsp_name, true);
    struct sock *s = nsp ? sock_new(c) : NULL;
    if (!s)
        return SB_ENOMEM;
    if (sock_set_identity(s, user, claims)) {
        sock_free(s);
        return SB_ENOMEM;
    }
    s->auth = auth ? json_incref(auth) : NULL;
    /* ABI 1.4: the plugins that guard the namespace may refuse it. The socket has its identity
     * and namespace name, but is in no registry yet: nothing can reach it. */
    s->nsp_name = nsp->name;
    int rc = plugins_guard_connect(n->plugins, s, why);
    if (rc) {
        sock_free(s);
        return rc == SB_EAUTH ? rc : SB_ENOMEM;
    }
    if (registry_sock_add(n->reg, nsp, s)) {
        sock_free(s);
        return SB_ENOMEM;
    }
    if (user) {
        /* The seed's targets are rooms: a user's sockets and every authenticated socket. */
        size_t len = strlen(user);
        char *room = malloc(sizeof(ROOM_USER_PREFIX) + len);
        rc = room ? 0 : SB_ENOMEM;
        if (room) {
            memcpy(room, ROOM_USER_PREFIX, sizeof(ROOM_USER_PREFIX) - 1);
            memcpy(room + sizeof(ROOM_USER_PREFIX) - 1, user, len + 1);
            rc = registry_join(n->reg, s, room);
            free(room);
        }
        if (!rc)
            rc = registry_join(n->reg, s, ROOM_AUTHENTICATED);
        if (rc) {
            registry_sock_remove(n->reg, s);
            sock_free(s);
            return SB_ENOMEM;
        }
    }
    /* An identity that cannot be made to expire must not be let in without its expiry. */
    if (net_refresh_arm(n, s, expires_ms)) {
        registry_sock_remove(n->reg, s);
        sock_free(s);
        return SB_ENOMEM;
    }
    s->connected = true;
    fifo_timer_disarm(&c->connect_timer);
    *out = s;
    return 0;
}

void net_sock_announce(struct net *n, struct sock *s)
{
    pipeline_connect(n->pipe, s);
}

void net_sock_detach(struct net *n, struct sock *s, const char *reason)
{
    if (!s->connected)
        return;
    net_refresh_cancel(s);
    pipeline_disconnect(n->pipe, s, reason);
    s->connected = false;
    registry_sock_remove(n->reg, s);
}

static const char *disconnect_reason(const struct conn *c)
{
    switch (c->close_metric) {
    case MC_PING_TIMEOUT:
        return "ping timeout";
    case MC_SHUTDOWN:
        return "server shutting down";
    case MC_INVALID_PACKET:
        return "parse error";
    case MC_SLOW_CONSUMER:
        return "slow consumer";
    case MC_TOO_BIG:
    case MC_TRANSPORT:
        return "transport error";
    case MC_SERVER_DISCONNECT:
        return "server namespace disconnect";
    default:
        return "transport close";
    }
}

static enum metric_transport transport_metric(const struct conn *c)
{
    return c->kind == CONN_POLLING ? MT_POLLING : MT_WEBSOCKET;
}

void net_conn_established(struct conn *c)
{
    c->established = true;
    metrics.connections[c->proto]++;
    metrics.connections_total[c->proto]++;
    metrics.transports[transport_metric(c)]++;
}

void net_conn_closed(struct net *n, struct lws *wsi, struct conn *c)
{
    if (wsi)
        lws_set_opaque_user_data(wsi, NULL);
    if (sb_map_get(&n->sessions, c->sid) == c)
        sb_map_del(&n->sessions, c->sid);
    if (c->established) {
        const char *reason = disconnect_reason(c);
        for (struct sock *s = c->socks, *next; s; s = next) {
            next = s->conn_next;
            net_sock_detach(n, s, reason);
        }
        metrics.connections[c->proto]--;
        metrics.transports[transport_metric(c)]--;
        metrics.closes[c->close_metric == 0xff ? MC_TRANSPORT : c->close_metric]++;
    }
    c->transport = NULL;
    net_flush_forget(n, c);
    /* Pending authentications end here: a plugin's late answer must not reach `c`. */
    net_auth_conn_closed(c);
    conn_unlink(n, c);
    conn_free(c);
    if (n->shutting_down && n->nconns == 0 && n->stopped_cb) {
        void (*cb)(struct net *) = n->stopped_cb;
        n->stopped_cb = NULL;
        cb(n);
    }
}

char *net_close_reason(const char *message)
{
    size_t len = strlen(message);
    if (len > CLOSE_REASON_MAX) {
        len = CLOSE_REASON_MAX;
        while (len && ((unsigned char)message[len] & 0xc0) == 0x80)
            len--;
    }
    return strndup(message, len);
}

void net_close_refused(struct net *n, struct conn *c, const char *message, enum metric_refusal why)
{
    metrics.refusals[why]++;
    /* conn_close() keeps the pointer: the copy lives with the connection (auth_reason). */
    free(c->auth_reason);
    c->auth_reason = net_close_reason(message);
    conn_close(c, MC_SERVER_DISCONNECT, CLOSE_UNAUTHORIZED,
               c->auth_reason ? c->auth_reason : "not authorized", false);
}
