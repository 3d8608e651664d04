/*
 * A new connection: its admission (shutdown, the connection cap, a token from the query or the
 * Authorization header, the query and the headers gateways may see), for a WebSocket upgrade and
 * for the first request of a polling session alike.
 *
 * A token answered later. The upgrade cannot wait for an auth plugin that answers later (lws
 * 4.1.6 answers it as soon as the callback returns), so a pending token lets the upgrade through
 * with the connection marked `authenticating`: its session does not open and nothing is read
 * from it (the client's frames wait in the socket buffers) until the answer. A refusal then
 * closes the WebSocket with 4401 and the message as the reason (Socket.IO first gets the open
 * packet and a CONNECT_ERROR for "/" with the message, so that socket.io-client reports the
 * reason instead of a timeout). A polling session's first GET simply waits for the open packet.
 */
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <libwebsockets.h>

#include "../log/log.h"

/* The token from `?token=` or `Authorization: Bearer …`, copied into `out`; "" when none. */
static void token_from_request(struct lws *wsi, const struct query *q, char *out, size_t size)
{
    out[0] = '\0';
    const char *t = query_get(q, "token");
    if (t && *t) {
        snprintf(out, size, "%s", t);
        return;
    }
    char auth[4096];
    if (lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) > 7 &&
        strncasecmp(auth, "Bearer ", 7) == 0) {
        const char *v = auth + 7;
        while (*v == ' ')
            v++;
        snprintf(out, size, "%s", v);
    }
}

/* The request headers gateways may see (socket.headers): the ones lws 4.1.6 parses by name.
 * Authorization is never among them (it carries a secret). */
static const struct {
    const char *name;
    enum lws_token_indexes token;
} header_tokens[] = {
    {"host", WSI_TOKEN_HOST},
    {"origin", WSI_TOKEN_ORIGIN},
    {"user-agent", WSI_TOKEN_HTTP_USER_AGENT},
    {"x-forwarded-for", WSI_TOKEN_X_FORWARDED_FOR},
    {"cookie", WSI_TOKEN_HTTP_COOKIE},
    {"accept-language", WSI_TOKEN_HTTP_ACCEPT_LANGUAGE},
    {"referer", WSI_TOKEN_HTTP_REFERER},
};

/* Calls `fn` with the index in header_tokens of each name of the --handshake-headers list (or
 * -1 for a name that is not supported). */
static void each_header(const struct config *cfg, void (*fn)(void *ud, const char *name, int i),
                        void *ud)
{
    const char *list = cfg->handshake_headers ? cfg->handshake_headers : "";
    while (*list) {
        size_t len = strcspn(list, ",");
        char name[64];
        size_t nlen = 0;
        for (size_t k = 0; k < len && nlen < sizeof(name) - 1; k++)
            if (list[k] != ' ')
                name[nlen++] = (char)tolower((unsigned char)list[k]);
        name[nlen] = '\0';
        list += len + (list[len] == ',');
        if (!nlen)
            continue;
        int idx = -1;
        for (size_t k = 0; k < ARRAY_SIZE(header_tokens); k++)
            if (strcmp(header_tokens[k].name, name) == 0)
                idx = (int)k;
        fn(ud, name, idx);
    }
}

static void warn_header(void *ud, const char *name, int idx)
{
    if (idx < 0)
        LOG_WARN("net",
                 "--handshake-headers: '%s' is not kept (supported: host, origin, "
                 "user-agent, x-forwarded-for, cookie, accept-language, referer)",
                 name);
}

void net_handshake_check_config(const struct config *cfg)
{
    each_header(cfg, warn_header, NULL);
}

struct header_ctx {
    struct lws *wsi;
    struct sbuf out; /* packed pairs */
};

static void keep_header(void *ud, const char *name, int idx)
{
    struct header_ctx *h = ud;
    char value[2048];
    if (idx < 0)
        return;
    int got = lws_hdr_copy(h->wsi, value, sizeof(value), header_tokens[idx].token);
    if (got <= 0 || !proto_utf8_valid(value, (size_t)got))
        return;
    pairs_append(&h->out, name, value, (size_t)got);
}

/* The kept headers of an upgrade request, packed (pairs_to_json), or NULL when none came. */
static char *kept_headers(const struct config *cfg, struct lws *wsi)
{
    struct header_ctx h = {.wsi = wsi};
    sbuf_init(&h.out, 0);
    each_header(cfg, keep_header, &h);
    return pairs_finish(&h.out);
}

int net_admit(struct net *n, struct lws *wsi, struct query *q, enum conn_proto proto,
              struct conn **out)
{
    *out = NULL;
    bool sio = proto == CONN_SIO;
    if (n->shutting_down)
        return http_refuse(wsi, MR_SHUTTING_DOWN, 503, "server shutting down");
    if (!http_origin_allowed(wsi, n->cfg->allowed_origins)) {
        char origin[CONFIG_ORIGIN_MAX + 1] = "";
        lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN);
        for (char *p = origin; *p; p++)
            if (!isprint((unsigned char)*p))
                *p = '?'; /* the client's bytes, into the log */
        LOG_INFO("net", "connection refused: origin '%s' is not in --allowed-origins", origin);
        metrics.refusals[MR_ORIGIN]++;
        http_respond_eio_error(wsi, EIO_HS_FORBIDDEN);
        return -1;
    }
    if (n->nconns >= n->max_conns) {
        LOG_WARN("net", "connection refused: limit of %u connections reached", n->max_conns);
        return http_refuse(wsi, MR_CONNECTION_LIMIT, 503, "too many connections");
    }
    char token[4096];
    token_from_request(wsi, q, token, sizeof(token));
    if (!token[0] && n->cfg->require_auth && !sio) {
        /* A Socket.IO client may still send its token in the CONNECT packet. */
        return http_refuse(wsi, MR_UNAUTHORIZED, 401, "authentication required");
    }
    struct conn *c = conn_new(&n->host, proto, n->cfg->max_queue);
    if (!c) {
        explicit_bzero(token, sizeof(token));
        return -1;
    }
    if (token[0]) {
        /* An answer that comes later cannot hold the upgrade: the connection is then accepted
         * as `authenticating`, and net_handshake_auth_done() finishes. */
        struct identity_result id;
        int o = net_auth_start(n, c, token, "/", NULL, net_handshake_auth_done, &id);
        explicit_bzero(token, sizeof(token));
        if (o == AUTH_REFUSED) {
            const char *message = id.message ? id.message : "not authorized";
            LOG_INFO("net", "%s connection refused: %s", sio ? "Socket.IO" : "WebSocket", message);
            http_refuse(wsi, MR_UNAUTHORIZED, 401, message);
            identity_result_clear(&id);
            net_auth_conn_closed(c);
            conn_free(c);
            return -1;
        }
        c->authenticating = o == AUTH_PENDING;
        c->user = id.user;
        c->claims = id.claims;
        c->expires_ms = id.expires_ms;
        id.user = NULL;
        id.claims = NULL;
        identity_result_clear(&id);
    }
    /* Kept for gateways (socket.query) without the token, which is a secret. */
    c->query = pairs_from_query(q, "token");
    c->headers = kept_headers(n->cfg, wsi);
    *out = c;
    return 0;
}

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
    if (c->kind == CONN_WEBSOCKET)
        lws_rx_flow_control(c->transport, 1);
    if (c->proto == CONN_SIO)
        sio_session_open(n, c);
    else
        json_session_open(n, c);
}

void net_handshake_auth_done(struct net *n, struct conn *c, const char *nsp, json_t *auth,
                             struct identity_result *id)
{
    c->authenticating = false;
    if (id->outcome == AUTH_ACCEPTED) {
        c->user = id->user;
        c->claims = id->claims;
        c->expires_ms = id->expires_ms;
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
