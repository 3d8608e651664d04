/*
 * The checks before a WebSocket upgrade, which lws completes as soon as the callback returns:
 * request framing, RFC 6455's headers, and the Engine.IO query on the Socket.IO path. An upgrade
 * with the sid of a polling session becomes that session's probe (polling.c); any other is a new
 * connection, admitted by handshake.c. A refusal is an HTTP status with a JSON body.
 */
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libwebsockets.h>

#include "../log/log.h"

/* True when `Sec-WebSocket-Key` is one base64 value of 16 bytes (RFC 6455 4.2.1: 22 characters
 * and "=="), as the ws module checks it. */
static bool ws_key_valid(struct lws *wsi)
{
    char key[32];
    if (lws_hdr_copy(wsi, key, sizeof(key), WSI_TOKEN_KEY) != 24 || strcmp(key + 22, "==") != 0)
        return false;
    for (int i = 0; i < 22; i++)
        if (!isalnum((unsigned char)key[i]) && key[i] != '+' && key[i] != '/')
            return false;
    return true;
}

/* Refuses an upgrade whose WebSocket headers are not RFC 6455's. Returns what the lws callback
 * must return (the connection closes after the answer), or 0 when they are fine. lws 4.1.6
 * would answer 101 to any version, and to any key it can hash. */
static int check_ws_headers(struct lws *wsi)
{
    char version[8];
    if (lws_hdr_copy(wsi, version, sizeof(version), WSI_TOKEN_VERSION) != 2 ||
        strcmp(version, "13") != 0) {
        metrics.refusals[MR_BAD_HANDSHAKE]++;
        LOG_DEBUG("net", "upgrade refused: Sec-WebSocket-Version is not 13");
        struct http_header h = {"sec-websocket-version:", "13"};
        http_respond_message(wsi, 400, "unsupported WebSocket version (Sec-WebSocket-Version: 13)",
                             &h, 1, false);
        return -1;
    }
    if (!ws_key_valid(wsi)) {
        metrics.refusals[MR_BAD_HANDSHAKE]++;
        LOG_DEBUG("net", "upgrade refused: Sec-WebSocket-Key is not base64 of 16 bytes");
        http_respond_message(wsi, 400, "Sec-WebSocket-Key must be 16 bytes in base64", NULL, 0,
                             false);
        return -1;
    }
    return 0;
}

int http_confirm_upgrade(struct net *n, struct lws *wsi)
{
    char path[1024];
    if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0)
        return -1;
    const char *framing = http_framing_error(wsi);
    if (framing)
        return http_refuse_framing(wsi, framing);
    if (check_ws_headers(wsi))
        return -1;

    struct query q;
    if (http_query(wsi, &q)) {
        metrics.refusals[MR_BAD_HANDSHAKE]++;
        http_respond_eio_error(wsi, EIO_HS_BAD_REQUEST);
        return -1;
    }
    bool sio = http_is_sio_path(path);
    if (log_enabled(SB_LOG_DEBUG)) {
        /* Tokens are secrets: the log gets their keys only. */
        struct sbuf b;
        sbuf_init(&b, 0);
        for (size_t i = 0; i < q.count; i++) {
            bool secret =
                strcmp(q.pairs[i].key, "token") == 0 || strcmp(q.pairs[i].key, "access_token") == 0;
            sbuf_printf(&b, "%s%s=%s", i ? "&" : "", q.pairs[i].key,
                        secret ? "***" : q.pairs[i].value);
        }
        LOG_DEBUG("net", "upgrade request %s?%s", path, b.len ? sbuf_data(&b) : "");
        sbuf_free(&b);
    }
    struct conn *session = NULL;
    struct eio_hs_info info = {.protocol = 4};
    if (sio) {
        /* With a sid: the upgrade of a polling session (polling.c). */
        const char *sid = query_get(&q, "sid");
        bool has_sid = sid && *sid;
        session = has_sid ? net_session_find(n, sid) : NULL;
        enum eio_sid state = !has_sid                        ? EIO_SID_NONE
                             : !session                      ? EIO_SID_UNKNOWN
                             : session->kind == CONN_POLLING ? EIO_SID_POLLING
                                                             : EIO_SID_WEBSOCKET;
        int code = eio_hs_negotiate("GET", &q, true, state, n->cfg->allow_eio3, &info);
        if (code != EIO_HS_OK) {
            metrics.refusals[MR_BAD_HANDSHAKE]++;
            if (code == EIO_HS_SESSION_ID_UNKNOWN)
                LOG_INFO("net",
                         "upgrade for an unknown session id refused (closed, or held by another "
                         "instance: polling needs sticky sessions, docs/cluster.md)");
            else
                LOG_DEBUG("net", "Socket.IO handshake refused: %s", eio_hs_message(code));
            http_respond_eio_error(wsi, code);
            query_free(&q);
            return -1;
        }
    }
    if (session) {
        query_free(&q);
        return polling_probe_attach(n, wsi, session);
    }
    struct conn *c;
    int rc = net_admit(n, wsi, &q, sio ? CONN_SIO : CONN_JSON, &c);
    query_free(&q);
    if (rc)
        return rc;
    c->eio = (uint8_t)info.protocol;
    net_conn_adopt(n, wsi, c);
    return 0;
}
