/*
 * A token from the HTTP upgrade, answered after it. The upgrade cannot wait for an auth plugin
 * that answers later (lws 4.1.6 answers it as soon as the callback returns), so a pending token
 * lets the upgrade through with the connection marked `authenticating`: its session does not
 * open and nothing is read from it (the client's frames wait in the socket buffers) until the
 * answer. A refusal then closes the WebSocket with 4401 and the message as the reason
 * (Socket.IO first gets the open packet and a CONNECT_ERROR for "/" with the message, so that
 * socket.io-client reports the reason instead of a timeout).
 */
#include "internal.h"

#include <libwebsockets.h>

#include "../log/log.h"

/* The answer is known and the WebSocket established: open the session or close. */
static void handshake_resume(struct net *n, struct conn *c)
{
    if (c->auth_reason) {
        if (c->proto == CONN_SIO)
            sio_session_refuse(n, c, c->auth_reason);
        else
            conn_close(c, MC_SERVER_DISCONNECT, CLOSE_UNAUTHORIZED, c->auth_reason, false);
        return;
    }
    lws_rx_flow_control(c->transport, 1);
    if (c->proto == CONN_SIO)
        sio_session_open(n, c);
    else
        json_session_open(n, c);
}

void net_handshake_auth_done(struct net *n, struct conn *c, const char *nsp,
                             struct identity_result *id)
{
    c->authenticating = false;
    if (id->outcome == AUTH_ACCEPTED) {
        c->user = id->user;
        c->claims = id->claims;
        id->user = NULL;
        id->claims = NULL;
    } else {
        const char *message = id->message ? id->message : "not authorized";
        LOG_INFO("net", "%s connection refused after the upgrade: %s",
                 c->proto == CONN_SIO ? "Socket.IO" : "WebSocket", message);
        metrics.refusals[MR_UNAUTHORIZED]++;
        c->auth_reason = net_close_reason(message);
        if (!c->auth_reason) {
            conn_close(c, MC_TRANSPORT, CLOSE_INTERNAL, "out of memory", false);
            return;
        }
    }
    /* Before the WebSocket is established (not seen with lws 4.1.6, which establishes it in the
     * upgrade's own callback), LWS_CALLBACK_ESTABLISHED finishes the job. */
    if (c->established && !c->closing)
        handshake_resume(n, c);
}

void net_handshake_auth_established(struct net *n, struct conn *c)
{
    if (!c->authenticating) {
        handshake_resume(n, c);
        return;
    }
    /* Nothing is read until the answer: what the client sends meanwhile stays in the socket
     * buffers, in order, and is handled once the session is open. */
    lws_rx_flow_control(c->transport, 0);
}
