/*
 * The checks before a WebSocket upgrade, which lws completes as soon as the callback returns:
 * request framing, RFC 6455's headers, shutdown and the connection cap, the Engine.IO query on
 * the Socket.IO path, and a token from the query or the Authorization header. A refusal is an
 * HTTP status with a JSON body; an accepted upgrade gets its `struct conn`, with the query and
 * the headers gateways may see. A token an auth plugin answers only later cannot hold the
 * upgrade: it goes through, and handshake.c finishes over the WebSocket.
 */
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
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

void http_check_config(const struct config *cfg)
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
    if (n->shutting_down)
        return http_refuse(wsi, MR_SHUTTING_DOWN, 503, "server shutting down");
    if (n->nconns >= n->max_conns) {
        LOG_WARN("net", "connection refused: limit of %u connections reached", n->max_conns);
        return http_refuse(wsi, MR_CONNECTION_LIMIT, 503, "too many connections");
    }

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
    if (sio) {
        int code = eio_hs_check("GET", &q, true);
        if (code != EIO_HS_OK) {
            metrics.refusals[MR_BAD_HANDSHAKE]++;
            LOG_DEBUG("net", "Socket.IO handshake refused: %s", eio_hs_message(code));
            http_respond_eio_error(wsi, code);
            query_free(&q);
            return -1;
        }
    }

    char token[4096];
    token_from_request(wsi, &q, token, sizeof(token));
    if (!token[0] && n->cfg->require_auth && !sio) {
        /* A Socket.IO client may still send its token in the CONNECT packet. */
        query_free(&q);
        return http_refuse(wsi, MR_UNAUTHORIZED, 401, "authentication required");
    }
    struct conn *c = conn_new(&n->host, sio ? CONN_SIO : CONN_JSON, n->cfg->max_queue);
    if (!c) {
        memset(token, 0, sizeof(token));
        query_free(&q);
        return -1;
    }
    if (token[0]) {
        /* An answer that comes later cannot hold the upgrade: the connection is then accepted
         * as `authenticating`, and net_handshake_auth_done() (handshake.c) finishes. */
        struct identity_result id;
        int o = net_auth_start(n, c, token, "/", net_handshake_auth_done, &id);
        memset(token, 0, sizeof(token));
        if (o == AUTH_REFUSED) {
            const char *message = id.message ? id.message : "not authorized";
            LOG_INFO("net", "%s upgrade refused: %s", sio ? "Socket.IO" : "WebSocket", message);
            http_refuse(wsi, MR_UNAUTHORIZED, 401, message);
            identity_result_clear(&id);
            conn_free(c);
            query_free(&q);
            return -1;
        }
        c->authenticating = o == AUTH_PENDING;
        c->user = id.user;
        c->claims = id.claims;
        id.user = NULL;
        id.claims = NULL;
        identity_result_clear(&id);
    }
    /* Kept for gateways (socket.query) without the token, which is a secret. */
    c->query = pairs_from_query(&q, "token");
    query_free(&q);
    c->headers = kept_headers(n->cfg, wsi);

    net_conn_adopt(n, wsi, c);
    return 0;
}
