/*
 * A plain WebSocket session: `{"event": NAME, "data": VALUE}` text frames both ways (NestJS
 * WsAdapter's format) in namespace "/". Liveness uses WebSocket ping/pong with the same interval
 * and timeout as Socket.IO. Malformed frames get an `exception` event and the connection stays.
 */
#include "internal.h"

#include <string.h>

#include "../log/log.h"
#include "../pipeline/pipeline.h"
#include "../proto/proto.h"

void json_session_open(struct net *n, struct conn *c)
{
    struct sock *s;
    char why[PLUGINS_WHY_MAX];
    int rc = net_sock_attach(n, c, "/", c->user, c->claims, c->expires_ms, NULL, &s, why);
    if (rc == SB_EAUTH) {
        /* A plain WebSocket has no CONNECT to answer: its one namespace refused, it is closed
         * as for a handshake token refused after the upgrade. */
        LOG_INFO("net", "WebSocket connection refused: %s", why);
        net_close_refused(n, c, why, MR_CONNECT_HOOK);
        return;
    }
    if (rc) {
        conn_close(c, MC_TRANSPORT, CLOSE_INTERNAL, "out of memory", false);
        return;
    }
    net_ping_schedule(n, c);
    net_sock_announce(n, s);
}

void json_session_receive(struct net *n, struct conn *c, const char *data, size_t len, bool binary)
{
    metrics.messages_in[MP_JSON]++;
    struct sock *s = c->socks;
    if (!s || !s->connected)
        return;
    if (binary) {
        metrics.invalid_packets[MP_JSON]++;
        conn_close(c, MC_INVALID_PACKET, CLOSE_UNSUPPORTED, "binary frames are not supported",
                   true);
        return;
    }
    struct wsjson_msg m;
    int rc = wsjson_decode(data, len, &m);
    if (rc) {
        metrics.invalid_packets[MP_JSON]++;
        sock_exception(s, rc == SB_EJSON ? "invalid JSON"
                                         : "expected {\"event\": string, \"data\": any}");
        return;
    }
    json_t *args = m.data ? json_pack("[O]", m.data) : json_array();
    if (args)
        pipeline_event(n->pipe, s, m.event, args, NULL, PIPELINE_RAW_ACK);
    json_decref(args);
    wsjson_msg_clear(&m);
}
