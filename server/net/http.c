/*
 * Plain HTTP and the checks before a WebSocket upgrade.
 *
 * Routes: GET /healthz, GET /readyz, GET /metrics, the Socket.IO path without an upgrade
 * (answered like engine.io: this server has no polling transport), static directories
 * (--static), 404 otherwise. An upgrade request is checked here before lws completes it: the
 * Engine.IO query, the connection cap, and a token from the query or the Authorization header.
 * A refusal is an HTTP status with a JSON body; an accepted upgrade gets its `struct conn`.
 */
#include "net.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <libwebsockets.h>

#include "../log/log.h"
#include "../proto/proto.h"

#define SIO_PATH "/socket.io"

/* Writes a complete response with a body. Returns 0 (the caller then completes or refuses the
 * transaction) or -1 to drop the connection. */
static int respond(struct lws *wsi, unsigned status, const char *ctype, const char *body,
                   size_t len, const char *extra_name, const char *extra_value)
{
    unsigned char hdr[LWS_PRE + 1024];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
    if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end))
        return -1;
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p, end))
        return -1;
    if (extra_name && lws_add_http_header_by_name(wsi, (const unsigned char *)extra_name,
                                                  (const unsigned char *)extra_value,
                                                  (int)strlen(extra_value), &p, end))
        return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    if (!len)
        return 0;
    unsigned char *buf = malloc(LWS_PRE + len);
    if (!buf)
        return -1;
    memcpy(buf + LWS_PRE, body, len);
    int w = lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
    free(buf);
    return w < 0 ? -1 : 0;
}

static int respond_json_message(struct lws *wsi, unsigned status, const char *message,
                                const char *extra_name, const char *extra_value)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    sbuf_append_str(&b, "{\"message\":");
    sbuf_append_json_string(&b, message, strlen(message));
    sbuf_append_char(&b, '}');
    int rc =
        respond(wsi, status, "application/json", sbuf_data(&b), b.len, extra_name, extra_value);
    sbuf_free(&b);
    return rc;
}

static int finish(struct lws *wsi, int rc)
{
    if (rc < 0)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Builds the query from lws's argument fragments (lws has already percent-decoded them). */
static int query_from_wsi(struct lws *wsi, struct query *q)
{
    memset(q, 0, sizeof(*q));
    char frag[4096];
    for (int i = 0;; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0)
            break;
        if (n == 0)
            continue;
        if (q->count >= QUERY_MAX_PAIRS) {
            query_free(q);
            return SB_ETOOBIG;
        }
        struct query_pair *pairs = realloc(q->pairs, (q->count + 1) * sizeof(*pairs));
        if (!pairs) {
            query_free(q);
            return SB_ENOMEM;
        }
        q->pairs = pairs;
        char *eq = memchr(frag, '=', (size_t)n);
        struct query_pair *pp = &q->pairs[q->count++];
        pp->key = eq ? strndup(frag, (size_t)(eq - frag)) : strndup(frag, (size_t)n);
        pp->value = eq ? strndup(eq + 1, (size_t)(n - (eq + 1 - frag))) : strdup("");
        if (!pp->key || !pp->value) {
            query_free(q);
            return SB_ENOMEM;
        }
    }
    return 0;
}

static const char *method_of(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
        return "GET";
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
        return "POST";
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI))
        return "HEAD";
    return "OTHER";
}

static bool is_sio_path(const char *path)
{
    size_t n = sizeof(SIO_PATH) - 1;
    return strncmp(path, SIO_PATH, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

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

static int refuse(struct lws *wsi, enum metric_refusal why, unsigned status, const char *msg)
{
    metrics.refusals[why]++;
    const char *hn = NULL, *hv = NULL;
    if (status == 401) {
        hn = "www-authenticate:";
        hv = "Bearer";
    } else if (status == 503) {
        hn = "retry-after:";
        hv = "5";
    }
    respond_json_message(wsi, status, msg, hn, hv);
    return 1;
}

int http_confirm_upgrade(struct net *n, struct lws *wsi)
{
    char path[1024];
    if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0)
        return -1;
    if (n->shutting_down)
        return refuse(wsi, MR_SHUTTING_DOWN, 503, "server shutting down");
    if (n->nconns >= n->max_conns) {
        LOG_WARN("net", "connection refused: limit of %u connections reached", n->max_conns);
        return refuse(wsi, MR_CONNECTION_LIMIT, 503, "too many connections");
    }

    struct query q;
    if (query_from_wsi(wsi, &q)) {
        metrics.refusals[MR_BAD_HANDSHAKE]++;
        struct sbuf b;
        sbuf_init(&b, 0);
        eio_hs_encode_error(&b, EIO_HS_BAD_REQUEST);
        respond(wsi, 400, "application/json", sbuf_data(&b), b.len, NULL, NULL);
        sbuf_free(&b);
        return 1;
    }
    bool sio = is_sio_path(path);
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
            struct sbuf b;
            sbuf_init(&b, 0);
            eio_hs_encode_error(&b, code);
            respond(wsi, 400, "application/json", sbuf_data(&b), b.len, NULL, NULL);
            sbuf_free(&b);
            query_free(&q);
            return 1;
        }
    }

    char token[4096];
    token_from_request(wsi, &q, token, sizeof(token));
    struct identity_result id = {0};
    if (token[0]) {
        net_authenticate(n, token, "/", &id);
        memset(token, 0, sizeof(token));
        if (id.outcome == AUTH_REFUSED) {
            LOG_INFO("net", "%s upgrade refused: %s", sio ? "Socket.IO" : "WebSocket", id.message);
            refuse(wsi, MR_UNAUTHORIZED, 401, id.message);
            identity_result_clear(&id);
            query_free(&q);
            return 1;
        }
    } else if (n->cfg->require_auth && !sio) {
        /* A Socket.IO client may still send its token in the CONNECT packet. */
        query_free(&q);
        return refuse(wsi, MR_UNAUTHORIZED, 401, "authentication required");
    }

    struct conn *c = conn_new(sio ? CONN_SIO : CONN_JSON, n->cfg->max_queue);
    if (!c) {
        identity_result_clear(&id);
        query_free(&q);
        return -1;
    }
    c->user = id.user;
    c->claims = id.claims;
    id.user = NULL;
    id.claims = NULL;
    identity_result_clear(&id);
    if (q.count) {
        /* Kept for gateways (socket.query) without the token, which is a secret. */
        c->query = query_to_json(&q);
        if (c->query)
            json_object_del(c->query, "token");
    }
    query_free(&q);

    net_conn_adopt(n, wsi, c);
    return 0;
}

/* ---- static files ---- */

static const char *mime_of(const char *path)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < ARRAY_SIZE(types); i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

/* Resolves `uri` under a static mount into `out`. Returns 0, or an HTTP status. */
static int static_path(const struct config *cfg, const char *uri, char *out, size_t size)
{
    const struct config_static *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < cfg->nstatics; i++) {
        const struct config_static *s = &cfg->statics[i];
        size_t plen = strlen(s->prefix);
        while (plen > 1 && s->prefix[plen - 1] == '/')
            plen--;
        bool match = plen == 1 ? uri[0] == '/'
                               : strncmp(uri, s->prefix, plen) == 0 &&
                                     (uri[plen] == '/' || uri[plen] == '\0');
        if (match && plen >= best_len) {
            best = s;
            best_len = plen;
        }
    }
    if (!best)
        return 404;
    const char *rest = uri + (best_len == 1 ? 0 : best_len);
    /* No way out of the directory: refuse any ".." segment outright. */
    for (const char *p = rest; (p = strstr(p, "..")); p += 2)
        if ((p == rest || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
            return 403;
    char root[PATH_MAX], full[PATH_MAX];
    if (!realpath(best->dir, root))
        return 404;
    int len = snprintf(full, sizeof(full), "%s%s%s", root, *rest == '/' ? "" : "/", rest);
    if (len < 0 || (size_t)len >= sizeof(full))
        return 404;
    struct stat st;
    if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t l = strlen(full);
        snprintf(full + l, sizeof(full) - l, "%sindex.html", full[l - 1] == '/' ? "" : "/");
    }
    /* The resolved file (symlinks followed) must still be inside the root: "/srv/www" must not
     * admit "/srv/www-private/x". */
    size_t rlen = strlen(root);
    if (!realpath(full, out) || strncmp(out, root, rlen) != 0 ||
        (out[rlen] != '/' && !(rlen == 1 && root[0] == '/')))
        return 404;
    if (stat(out, &st) != 0 || !S_ISREG(st.st_mode))
        return 404;
    (void)size;
    return 0;
}

int http_request(struct net *n, struct lws *wsi, const char *uri)
{
    metrics.http_requests++;
    const char *method = method_of(wsi);
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

    if (is_sio_path(uri)) {
        /* Not an upgrade: a polling request, or a browser. Answer as engine.io does when it
         * has only the websocket transport. */
        struct query q;
        int code = query_from_wsi(wsi, &q) ? EIO_HS_BAD_REQUEST : eio_hs_check(method, &q, false);
        query_free(&q);
        if (code == EIO_HS_OK)
            code = EIO_HS_BAD_REQUEST;
        metrics.refusals[MR_BAD_HANDSHAKE]++;
        struct sbuf b;
        sbuf_init(&b, 0);
        eio_hs_encode_error(&b, code);
        int rc = respond(wsi, 400, "application/json", sbuf_data(&b), b.len, NULL, NULL);
        sbuf_free(&b);
        return finish(wsi, rc);
    }
    if (strcmp(uri, "/healthz") == 0 || strcmp(uri, "/readyz") == 0 ||
        strcmp(uri, "/metrics") == 0) {
        if (!get)
            return finish(
                wsi, respond_json_message(wsi, 405, "method not allowed", "allow:", "GET, HEAD"));
        if (strcmp(uri, "/healthz") == 0)
            return finish(wsi, respond(wsi, 200, "text/plain", "ok\n", 3, NULL, NULL));
        if (strcmp(uri, "/readyz") == 0) {
            if (n->shutting_down)
                return finish(wsi,
                              respond(wsi, 503, "text/plain", "shutting down\n", 14, NULL, NULL));
            if (!bus_ready(n->bus))
                return finish(wsi,
                              respond(wsi, 503, "text/plain", "bus not ready\n", 14, NULL, NULL));
            return finish(wsi, respond(wsi, 200, "text/plain", "ready\n", 6, NULL, NULL));
        }
        struct sbuf b;
        sbuf_init(&b, 0);
        metrics_render(&b);
        int rc = respond(wsi, 200, "text/plain; version=0.0.4; charset=utf-8", sbuf_data(&b), b.len,
                         NULL, NULL);
        sbuf_free(&b);
        return finish(wsi, rc);
    }
    if (get && n->cfg->nstatics) {
        char path[PATH_MAX];
        int status = static_path(n->cfg, uri, path, sizeof(path));
        if (status == 0) {
            int rc = lws_serve_http_file(wsi, path, mime_of(path), NULL, 0);
            if (rc < 0)
                return -1;
            if (rc > 0)
                return finish(wsi, 0);
            return 0; /* completes in LWS_CALLBACK_HTTP_FILE_COMPLETION */
        }
        if (status == 403)
            return finish(wsi, respond_json_message(wsi, 403, "forbidden", NULL, NULL));
    }
    return finish(wsi, respond_json_message(wsi, 404, "not found", NULL, NULL));
}
