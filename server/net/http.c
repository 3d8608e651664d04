/*
 * Plain HTTP and the checks before a WebSocket upgrade.
 *
 * Routes: GET /healthz, GET /readyz, GET /metrics, POST /api/emit (with --api-key), the
 * Socket.IO path without an upgrade (answered like engine.io: this server has no polling
 * transport), static directories (--static), 404 otherwise. An upgrade request is checked here
 * before lws completes it: the Engine.IO query, the connection cap, and a token from the query or
 * the Authorization header. A refusal is an HTTP status with a JSON body; an accepted upgrade gets
 * its `struct conn`. A token an auth plugin answers only later cannot hold the upgrade: it goes
 * through, and the answer comes over the WebSocket (auth.c).
 */
#include "net.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <libwebsockets.h>

#include "../bus/bus.h"
#include "../log/log.h"
#include "../proto/proto.h"

#define SIO_PATH "/socket.io"

/* An extra response header: name with its colon ("allow:"), value. */
struct header {
    const char *name, *value;
};

/* True when the connection stays open for another request after this one's answer. For a plain
 * request it is what lws_http_action() decides (HTTP/1.1 unless `Connection: close`, HTTP/1.0
 * only with `Connection: keep-alive`, the same copies of the same headers), so the answer can
 * say what lws will do. Never kept: an upgrade request answered over HTTP (refused; lws decides
 * about that one before it reads the request's Connection header), and a request with a
 * Transfer-Encoding. */
static bool request_keeps_alive(struct lws *wsi)
{
    /* A chunked body is never read (lws 4.1.6 does not decode one): nothing after it can be
     * told from it. */
    if (lws_hdr_total_length(wsi, WSI_TOKEN_UPGRADE) ||
        lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING))
        return false;
    char version[12], conn[25];
    bool keep = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP) > 7 &&
                lws_hdr_copy(wsi, version, sizeof(version) - 1, WSI_TOKEN_HTTP) > 0 &&
                version[5] == '1' && version[7] == '1';
    if (lws_hdr_total_length(wsi, WSI_TOKEN_CONNECTION) &&
        lws_hdr_copy(wsi, conn, sizeof(conn) - 1, WSI_TOKEN_CONNECTION) > 0) {
        if (strcasecmp(conn, "keep-alive") == 0)
            keep = true;
        else if (strcasecmp(conn, "close") == 0)
            keep = false;
    }
    return keep;
}

/* Writes a complete response with a body and `nextra` extra headers, with `connection: close`
 * when `close` is set or the connection would not be kept anyway (request_keeps_alive()).
 * Returns 0 (the caller then completes or refuses the transaction) or -1 to drop the
 * connection. */
static int respond_headers(struct lws *wsi, unsigned status, const char *ctype, const char *body,
                           size_t len, const struct header *extra, size_t nextra, bool close)
{
    unsigned char hdr[LWS_PRE + 1024];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
    if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end))
        return -1;
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p, end))
        return -1;
    for (size_t i = 0; i < nextra; i++)
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)extra[i].name,
                                        (const unsigned char *)extra[i].value,
                                        (int)strlen(extra[i].value), &p, end))
            return -1;
    if ((close || !request_keeps_alive(wsi)) &&
        lws_add_http_header_by_name(
            wsi, (const unsigned char *)"connection:", (const unsigned char *)"close", 5, &p, end))
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

/* The same with at most one extra header. */
static int respond(struct lws *wsi, unsigned status, const char *ctype, const char *body,
                   size_t len, const char *extra_name, const char *extra_value)
{
    struct header h = {extra_name, extra_value};
    return respond_headers(wsi, status, ctype, body, len, &h, extra_name ? 1 : 0, false);
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

/*
 * Request smuggling: a request whose body another server on the path (a proxy, a load balancer)
 * could frame differently, so that what one reads as a body the other reads as a second request.
 * lws reads a body by its Content-Length only (atoll() of it: "0x22" is 0, "0, 34" is 0) and
 * never decodes a chunked one, so every request where the two could disagree is refused before
 * lws reads anything after its headers: 400, `connection: close`, and the connection closes
 * with whatever followed the headers unread.
 *
 * What lws 4.1.6 lets us see: the headers it knows by name (every fragment when one comes
 * twice), and unknown headers by their exact name only (lws_hdr_custom_length(); listing them
 * came in lws 4.3). A name with whitespace before its colon, or a line folded onto the previous
 * header (obs-fold, a line starting with a space or a tab), becomes an unknown header whose name
 * keeps that whitespace: those spellings are looked for by name for the two headers that frame
 * a body. A folded line of any other header cannot be seen (README, known gaps); it cannot
 * carry a body length lws would use either.
 */
static const char *const framing_headers[] = {"content-length", "transfer-encoding"};

/* Why the framing of this request is ambiguous, or NULL when it is not. */
static const char *framing_error(struct lws *wsi)
{
    static const char *const before[] = {"", " ", "\t"}, *const after[] = {"", " ", "\t", "  "};
    for (size_t h = 0; h < ARRAY_SIZE(framing_headers); h++)
        for (size_t b = 0; b < ARRAY_SIZE(before); b++)
            for (size_t a = 0; a < ARRAY_SIZE(after); a++) {
                char name[32];
                if (!*before[b] && !*after[a])
                    continue;
                int len = snprintf(name, sizeof(name), "%s%s%s:", before[b], framing_headers[h],
                                   after[a]);
                if (lws_hdr_custom_length(wsi, name, len) >= 0)
                    return *before[b] ? "a folded header line (obs-fold)"
                                      : "whitespace between a header name and its colon";
            }

    bool te = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
    char cl[24];
    int n = lws_hdr_copy_fragment(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH, 0);
    bool has_cl = n >= 0 || lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
    if (!has_cl)
        return NULL;
    if (te)
        return "both Transfer-Encoding and Content-Length";
    /* A second fragment starts with the space lws puts between them: never empty. */
    if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, 1) > 0)
        return "more than one Content-Length";
    /* Digits only, between optional whitespace (atoll() would skip that too). */
    int i = 0, digits = 0;
    while (i < n && (cl[i] == ' ' || cl[i] == '\t'))
        i++;
    while (i < n && cl[i] >= '0' && cl[i] <= '9')
        i++, digits++;
    while (i < n && (cl[i] == ' ' || cl[i] == '\t'))
        i++;
    if (n <= 0 || i != n || digits == 0 || digits > 18)
        return "invalid Content-Length";
    return NULL;
}

/* Refuses a request whose framing is ambiguous (framing_error()). Returns what the lws callback
 * must return: the connection closes after the answer. */
static int refuse_framing(struct lws *wsi, const char *why)
{
    metrics.http_bad_requests++;
    LOG_DEBUG("http", "request refused (400): %s", why);
    char message[96];
    snprintf(message, sizeof(message), "bad request: %s", why);
    struct sbuf b;
    sbuf_init(&b, 0);
    sbuf_append_str(&b, "{\"message\":");
    sbuf_append_json_string(&b, message, strlen(message));
    sbuf_append_char(&b, '}');
    if (!b.failed)
        respond_headers(wsi, 400, "application/json", sbuf_data(&b), b.len, NULL, 0, true);
    sbuf_free(&b);
    return -1;
}

/* Ends a request whose answer is written: the connection waits for the next request, or closes
 * when the answer said `connection: close` (closing here rather than trusting lws to agree). */
static int finish(struct lws *wsi, int rc)
{
    if (rc < 0 || !request_keeps_alive(wsi))
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
    return -1; /* lws sends the answer, then closes (it says `connection: close`) */
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
        respond_json_message(wsi, 400, "unsupported WebSocket version (Sec-WebSocket-Version: 13)",
                             "sec-websocket-version:", "13");
        return -1;
    }
    if (!ws_key_valid(wsi)) {
        metrics.refusals[MR_BAD_HANDSHAKE]++;
        LOG_DEBUG("net", "upgrade refused: Sec-WebSocket-Key is not base64 of 16 bytes");
        respond_json_message(wsi, 400, "Sec-WebSocket-Key must be 16 bytes in base64", NULL, NULL);
        return -1;
    }
    return 0;
}

int http_confirm_upgrade(struct net *n, struct lws *wsi)
{
    char path[1024];
    if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0)
        return -1;
    const char *framing = framing_error(wsi);
    if (framing)
        return refuse_framing(wsi, framing);
    if (check_ws_headers(wsi))
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
        return -1;
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
            return -1;
        }
    }

    char token[4096];
    token_from_request(wsi, &q, token, sizeof(token));
    if (!token[0] && n->cfg->require_auth && !sio) {
        /* A Socket.IO client may still send its token in the CONNECT packet. */
        query_free(&q);
        return refuse(wsi, MR_UNAUTHORIZED, 401, "authentication required");
    }
    struct conn *c = conn_new(&n->host, sio ? CONN_SIO : CONN_JSON, n->cfg->max_queue);
    if (!c) {
        memset(token, 0, sizeof(token));
        query_free(&q);
        return -1;
    }
    if (token[0]) {
        /* An answer that comes later cannot hold the upgrade: the connection is then accepted
         * as `authenticating`, and net_handshake_auth_done() (auth.c) finishes. */
        struct identity_result id;
        int o = net_auth_start(n, c, token, "/", net_handshake_auth_done, &id);
        memset(token, 0, sizeof(token));
        if (o == AUTH_REFUSED) {
            const char *message = id.message ? id.message : "not authorized";
            LOG_INFO("net", "%s upgrade refused: %s", sio ? "Socket.IO" : "WebSocket", message);
            refuse(wsi, MR_UNAUTHORIZED, 401, message);
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

/* ---- POST /api/emit ---- */

/*
 * Server-side publishing: {"namespace", "rooms", "except", "event", "data" | "args"} becomes a
 * bus_emit(), so it reaches this instance's sockets and, through the bus engine, every other
 * instance. Guarded by `Authorization: Bearer <--api-key>`; without --api-key (or with an empty
 * one) the route does not exist (404).
 *
 * Every check that needs only the headers (method, key, content type, length) is answered as
 * soon as the headers are in, before any of the body is read, and such a body is never stored.
 * The answer then says `connection: close`. Clients that write their whole body before reading
 * (fetch, Python requests) would only see a broken pipe if the connection closed at once with
 * their body in flight, so, as nginx's lingering close does, up to API_DISCARD_MAX bytes of it
 * are read and dropped within API_DISCARD_MS before the close; a longer body, a chunked one or a
 * slower one is cut off.
 */

#define API_EMIT_PATH   "/api/emit"
#define API_BODY_MAX    ((size_t)1 << 20)  /* 1 MiB, or --max-payload when smaller */
#define API_DISCARD_MAX ((size_t)16 << 20) /* body of a refused request dropped before a close */
#define API_DISCARD_MS  5000
#define API_AUTH_MAX    4096 /* longest Authorization header looked at */
#define API_OPAQUE_TAG  ((uintptr_t)1)

/*
 * A request body being received, or being dropped after a refusal. It rides on its wsi with
 * lws_set_opaque_user_data(), as a WebSocket's struct conn does, with the low bit of the pointer
 * set: server.c takes an opaque pointer with that bit for a body and never for a conn (malloc'd
 * conns have it clear). Only a POST /api/emit gets one, never a WebSocket upgrade, and it is
 * detached before the request's transaction completes.
 */
struct api_body {
    struct sbuf buf;   /* what arrived (empty when discarding) */
    size_t expected;   /* the Content-Length */
    size_t received;   /* bytes of body so far */
    bool discard;      /* refused already: drop the bytes, close at the end */
    uint64_t deadline; /* discarding: uv_now() after which the connection is cut */
};

static struct api_body *api_body_of(struct lws *wsi)
{
    uintptr_t p = (uintptr_t)lws_get_opaque_user_data(wsi);
    return (p & API_OPAQUE_TAG) ? (struct api_body *)(p & ~API_OPAQUE_TAG) : NULL;
}

static struct api_body *api_body_attach(struct lws *wsi, size_t expected)
{
    struct api_body *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    sbuf_init(&b->buf, 0);
    b->expected = expected;
    lws_set_opaque_user_data(wsi, (void *)((uintptr_t)b | API_OPAQUE_TAG));
    return b;
}

/* Detaches the body of `wsi`, if any, and returns it (the caller frees it). */
static struct api_body *api_body_detach(struct lws *wsi)
{
    struct api_body *b = api_body_of(wsi);
    if (b)
        lws_set_opaque_user_data(wsi, NULL);
    return b;
}

static void api_body_free(struct api_body *b)
{
    if (!b)
        return;
    sbuf_free(&b->buf);
    free(b);
}

void http_body_release(struct lws *wsi)
{
    api_body_free(api_body_detach(wsi));
}

/* Compares in a time that depends on the length of `key` only, never on where they differ. */
static bool key_equal(const char *given, size_t glen, const char *key, size_t klen)
{
    volatile unsigned char diff = glen != klen;
    for (size_t i = 0; i < klen; i++)
        diff |= (unsigned char)key[i] ^ (unsigned char)(i < glen ? given[i] : 0);
    return diff == 0;
}

/* True when the request carries `Authorization: Bearer <api key>`. Neither is ever logged. */
static bool api_authorized(struct net *n, struct lws *wsi)
{
    char auth[API_AUTH_MAX];
    int len = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (len <= 7 || len >= (int)sizeof(auth) ||
        lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) != len)
        return false;
    bool ok = false;
    if (strncasecmp(auth, "Bearer ", 7) == 0) {
        const char *v = auth + 7;
        while (*v == ' ')
            v++;
        size_t vlen = strlen(v);
        while (vlen && v[vlen - 1] == ' ')
            vlen--;
        const char *key = n->cfg->api_key;
        ok = key_equal(v, vlen, key, strlen(key));
    }
    explicit_bzero(auth, sizeof(auth));
    return ok;
}

/* True when the Content-Type is application/json, with or without parameters. */
static bool api_json_content_type(struct lws *wsi)
{
    char ct[256];
    if (lws_hdr_copy(wsi, ct, sizeof(ct), WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0)
        return false;
    const char *p = ct;
    while (*p == ' ')
        p++;
    size_t n = sizeof("application/json") - 1;
    return strncasecmp(p, "application/json", n) == 0 &&
           (p[n] == '\0' || p[n] == ';' || p[n] == ' ');
}

/* The Content-Length: 0 when absent, -1 when unreadable, else the value (at most 2^40).
 * Whitespace around the digits is skipped, as framing_error() allows it. */
static long long api_content_length(struct lws *wsi)
{
    char cl[32];
    int len = lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH);
    if (len <= 0)
        return lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 ? -1 : 0;
    while (len && (cl[len - 1] == ' ' || cl[len - 1] == '\t'))
        len--;
    int i = 0;
    while (i < len && (cl[i] == ' ' || cl[i] == '\t'))
        i++;
    if (i == len)
        return -1;
    long long v = 0;
    for (; i < len; i++) {
        if (cl[i] < '0' || cl[i] > '9')
            return -1;
        v = v * 10 + (cl[i] - '0');
        if (v > (long long)1 << 40)
            return (long long)1 << 40;
    }
    return v;
}

/* What happens to the body of a refused request. */
enum api_rest {
    REST_NONE,    /* nothing more to read: the connection stays open for the next request */
    REST_DISCARD, /* read and drop it (at most API_DISCARD_MAX bytes), then close */
    REST_CUT,     /* close right after the answer */
};

/* Answers a refused /api/emit request with a JSON {"message"} and `status`, counted. Returns
 * what the lws callback must return. */
static int api_refuse(struct net *n, struct lws *wsi, unsigned status, const char *message,
                      const struct header *extra, size_t nextra, enum api_rest rest,
                      size_t expected)
{
    metrics.api_errors++;
    LOG_DEBUG("http", "POST " API_EMIT_PATH " refused: %u %s", status, message);
    struct header h[2];
    size_t nh = 0;
    for (size_t i = 0; i < nextra && nh < 2; i++)
        h[nh++] = extra[i];
    struct sbuf b;
    sbuf_init(&b, 0);
    sbuf_append_str(&b, "{\"message\":");
    sbuf_append_json_string(&b, message, strlen(message));
    sbuf_append_char(&b, '}');
    int rc = b.failed ? -1
                      : respond_headers(wsi, status, "application/json", sbuf_data(&b), b.len, h,
                                        nh, rest != REST_NONE);
    sbuf_free(&b);
    if (rest == REST_NONE)
        return finish(wsi, rc);
    if (rc < 0 || rest == REST_CUT)
        return -1;
    struct api_body *body = api_body_attach(wsi, expected);
    if (!body)
        return -1;
    body->discard = true;
    body->deadline = uv_now(n->loop) + API_DISCARD_MS;
    lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, API_DISCARD_MS / 1000);
    return 0;
}

/* A JSON array of non-empty strings without NUL bytes, copied as borrowed pointers into a new
 * array (`*out`, freed by the caller). Returns 0, or -1 when `v` is not such an array or on
 * allocation failure (then `*oom` is set). */
static int api_string_list(json_t *v, const char ***out, size_t *count, bool *oom)
{
    *out = NULL;
    *count = 0;
    if (!json_is_array(v))
        return -1;
    size_t n = json_array_size(v);
    if (!n)
        return 0;
    const char **list = malloc(n * sizeof(*list));
    if (!list) {
        *oom = true;
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        const char *s = json_string_value(e);
        if (!s || !*s || strlen(s) != json_string_length(e)) {
            free(list);
            return -1;
        }
        list[i] = s;
    }
    *out = list;
    *count = n;
    return 0;
}

/* Checks a complete body and emits it. Writes the answer; returns what the lws callback must
 * return. */
static int api_emit(struct net *n, struct lws *wsi, const char *body, size_t len)
{
    char message[256];
    json_error_t jerr;
    json_t *root = json_loadb(body, len, PROTO_JSON_FLAGS | JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(message, sizeof(message), "invalid JSON: %s", len ? jerr.text : "empty body");
        return api_refuse(n, wsi, 400, message, NULL, 0, REST_NONE, 0);
    }
    const char **rooms = NULL, **except = NULL;
    size_t nrooms = 0, nexcept = 0;
    json_t *args = NULL;
    bool oom = false;
    const char *err = NULL;

    if (!json_is_object(root)) {
        err = "the body must be a JSON object";
        goto refuse;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        static const char *const known[] = {"namespace", "rooms", "except",
                                            "event",     "data",  "args"};
        bool ok = false;
        for (size_t i = 0; i < ARRAY_SIZE(known) && !ok; i++)
            ok = strcmp(key, known[i]) == 0;
        if (!ok) {
            snprintf(message, sizeof(message),
                     "unknown field '%.64s' (known: namespace, rooms, except, event, data, args)",
                     key);
            err = message;
            goto refuse;
        }
    }

    json_t *ev = json_object_get(root, "event");
    const char *event = json_string_value(ev);
    if (!ev) {
        err = "event is required";
        goto refuse;
    }
    if (!event || !*event || strlen(event) != json_string_length(ev)) {
        err = "event must be a non-empty string";
        goto refuse;
    }
    if (sio_event_reserved(event, strlen(event))) {
        snprintf(message, sizeof(message), "event '%.64s' is a reserved name", event);
        err = message;
        goto refuse;
    }

    const char *nsp = "/";
    json_t *jn = json_object_get(root, "namespace");
    if (jn) {
        nsp = json_string_value(jn);
        if (!nsp || nsp[0] != '/' || strchr(nsp, ',') || strlen(nsp) != json_string_length(jn)) {
            err = "namespace must be a string starting with '/' (without ',')";
            goto refuse;
        }
    }

    json_t *jr = json_object_get(root, "rooms");
    json_t *je = json_object_get(root, "except");
    if (json_array_size(jr) > SB_MAX_EMIT_ROOMS || json_array_size(je) > SB_MAX_EMIT_ROOMS) {
        snprintf(message, sizeof(message), "%s must hold at most %d rooms",
                 json_array_size(jr) > SB_MAX_EMIT_ROOMS ? "rooms" : "except", SB_MAX_EMIT_ROOMS);
        err = message;
        goto refuse;
    }
    if (jr && api_string_list(jr, &rooms, &nrooms, &oom)) {
        err = oom ? NULL : "rooms must be an array of non-empty strings";
        goto refuse;
    }
    if (je && api_string_list(je, &except, &nexcept, &oom)) {
        err = oom ? NULL : "except must be an array of non-empty strings";
        goto refuse;
    }

    json_t *data = json_object_get(root, "data");
    json_t *jargs = json_object_get(root, "args");
    if (data && jargs) {
        err = "give either data (one argument) or args (an array of arguments), not both";
        goto refuse;
    }
    if (jargs && !json_is_array(jargs)) {
        err = "args must be an array";
        goto refuse;
    }
    if (data) {
        /* One argument, even when it is an array. */
        args = json_array();
        if (!args || json_array_append(args, data)) {
            oom = true;
            goto refuse;
        }
    } else if (jargs) {
        args = json_incref(jargs);
    }

    struct bus_msg m = {
        .nsp = nsp,
        .rooms = rooms,
        .nrooms = nrooms,
        .except = except,
        .nexcept = nexcept,
        .event = event,
        .args = args,
    };
    int delivered = bus_emit(n->bus, &m);
    if (delivered < 0) {
        if (delivered != SB_ENOMEM)
            err = "the event cannot be sent";
        goto refuse;
    }
    metrics.api_emits++;
    LOG_DEBUG("http",
              "POST " API_EMIT_PATH ": '%s' to %s, %zu room(s), %zu except(s): %d local "
              "socket(s)",
              event, nsp, nrooms, nexcept, delivered);
    json_decref(args);
    free(rooms);
    free(except);
    json_decref(root);
    char answer[48];
    int alen = snprintf(answer, sizeof(answer), "{\"delivered\":%d}", delivered);
    return finish(wsi, respond(wsi, 202, "application/json", answer, (size_t)alen, NULL, NULL));

refuse:
    json_decref(args);
    free(rooms);
    free(except);
    if (!err)
        LOG_ERROR("http", "POST " API_EMIT_PATH ": out of memory");
    json_decref(root); /* `err` is a literal or `message` */
    return api_refuse(n, wsi, err ? 400 : 500, err ? err : "internal error", NULL, 0, REST_NONE, 0);
}

/* The headers of a request for /api/emit are in (an API key is configured). */
static int api_emit_request(struct net *n, struct lws *wsi, const char *method)
{
    long long clen = api_content_length(wsi);
    bool chunked = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
    /* lws reads a body by its Content-Length only: a chunked one cannot be skipped. */
    enum api_rest rest = chunked || clen < 0                          ? REST_CUT
                         : clen == 0                                  ? REST_NONE
                         : (unsigned long long)clen > API_DISCARD_MAX ? REST_CUT
                                                                      : REST_DISCARD;
    size_t expected = clen > 0 ? (size_t)clen : 0;

    if (strcmp(method, "POST") != 0) {
        struct header allow = {"allow:", "POST"};
        return api_refuse(n, wsi, 405, "method not allowed", &allow, 1, rest, expected);
    }
    if (!api_authorized(n, wsi)) {
        struct header auth = {"www-authenticate:", "Bearer"};
        return api_refuse(n, wsi, 401, "unauthorized", &auth, 1, rest, expected);
    }
    if (!api_json_content_type(wsi))
        return api_refuse(n, wsi, 415, "Content-Type must be application/json", NULL, 0, rest,
                          expected);
    if (chunked)
        return api_refuse(n, wsi, 411, "a Content-Length is required", NULL, 0, REST_CUT, 0);
    if (clen < 0)
        return api_refuse(n, wsi, 400, "invalid Content-Length", NULL, 0, REST_CUT, 0);
    size_t limit = API_BODY_MAX;
    if (n->cfg->max_payload < limit)
        limit = (size_t)n->cfg->max_payload;
    if (expected > limit) {
        char message[64];
        snprintf(message, sizeof(message), "the body is over %zu bytes", limit);
        return api_refuse(n, wsi, 413, message, NULL, 0, rest, expected);
    }
    if (expected == 0)
        return api_emit(n, wsi, "", 0);

    /* A client that waits for a go-ahead (curl does for big bodies) gets it now that the
     * headers passed; lws does not send it on its own. */
    char expect[32];
    if (lws_hdr_copy(wsi, expect, sizeof(expect), WSI_TOKEN_HTTP_EXPECT) > 0 &&
        strcasecmp(expect, "100-continue") == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        unsigned char buf[LWS_PRE + sizeof(cont)];
        memcpy(buf + LWS_PRE, cont, sizeof(cont) - 1);
        if (lws_write(wsi, buf + LWS_PRE, sizeof(cont) - 1, LWS_WRITE_HTTP) < 0)
            return -1;
    }
    return api_body_attach(wsi, expected) ? 0 : -1; /* continues in http_body() */
}

int http_body(struct net *n, struct lws *wsi, const void *in, size_t len)
{
    struct api_body *b = api_body_of(wsi);
    if (!b)
        return -1;
    b->received += len;
    if (b->discard)
        return b->received > API_DISCARD_MAX || uv_now(n->loop) > b->deadline ? -1 : 0;
    if (b->received > b->expected) {
        /* lws stops at the Content-Length; this is only a guard. */
        http_body_release(wsi);
        return api_refuse(n, wsi, 413, "the body is longer than its Content-Length", NULL, 0,
                          REST_CUT, 0);
    }
    if (sbuf_append(&b->buf, in, len)) {
        http_body_release(wsi);
        LOG_ERROR("http", "POST " API_EMIT_PATH ": out of memory");
        return api_refuse(n, wsi, 500, "internal error", NULL, 0, REST_CUT, 0);
    }
    return 0;
}

int http_body_completion(struct net *n, struct lws *wsi)
{
    struct api_body *b = api_body_detach(wsi);
    if (!b || b->discard) {
        /* A refused request: its answer went out already, the connection closes. */
        api_body_free(b);
        return -1;
    }
    int rc = api_emit(n, wsi, b->buf.len ? sbuf_data(&b->buf) : "", b->buf.len);
    api_body_free(b);
    return rc;
}

int http_request(struct net *n, struct lws *wsi, const char *uri)
{
    metrics.http_requests++;
    const char *framing = framing_error(wsi);
    if (framing)
        return refuse_framing(wsi, framing);
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
    if (strcmp(uri, API_EMIT_PATH) == 0 && n->cfg->api_key && *n->cfg->api_key)
        return api_emit_request(n, wsi, method);
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
            static const char conn_close[] = "connection: close\r\n";
            bool keep = request_keeps_alive(wsi);
            int rc = lws_serve_http_file(wsi, path, mime_of(path), keep ? NULL : conn_close,
                                         keep ? 0 : (int)sizeof(conn_close) - 1);
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
