/*
 * Answers to plain HTTP requests, and the checks every request gets before it is routed: keep-
 * alive, request smuggling (framing), the query, the method. Shared by http.c, api_emit.c,
 * static.c and http_upgrade.c; calls nothing else in net/.
 */
#include "internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libwebsockets.h>

#include "../log/log.h"

#define SIO_PATH "/socket.io"

/* True when the connection stays open for another request after this one's answer. For a plain
 * request it is what lws_http_action() decides (HTTP/1.1 unless `Connection: close`, HTTP/1.0
 * only with `Connection: keep-alive`, the same copies of the same headers), so the answer can
 * say what lws will do. Never kept: an upgrade request answered over HTTP (refused; lws decides
 * about that one before it reads the request's Connection header), and a request with a
 * Transfer-Encoding. */
bool http_keeps_alive(struct lws *wsi)
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

/* ---- origins and CORS ---- */

/* True when `origin` (`len` bytes) is an item of `list` (config.h: comma-separated origins with
 * optional spaces, or `*`). Origins compare ASCII case-insensitively, as their scheme and host
 * do; browsers send them in lower case. */
static bool origin_listed(const char *list, const char *origin, size_t len)
{
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ')
            p++;
        size_t n = (size_t)(p - start);
        if ((n == 1 && *start == '*') || (n && n == len && strncasecmp(start, origin, n) == 0))
            return true;
    }
    return false;
}

/* The request's Origin header into `buf`: its length, 0 when there is none, -1 when it is
 * longer than an origin can be (CONFIG_ORIGIN_MAX) or comes twice. */
static int request_origin(struct lws *wsi, char *buf, size_t size)
{
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
    if (total <= 0)
        return 0;
    if (total > CONFIG_ORIGIN_MAX || lws_hdr_fragment_length(wsi, WSI_TOKEN_ORIGIN, 1) > 0)
        return -1;
    return lws_hdr_copy(wsi, buf, (int)size, WSI_TOKEN_ORIGIN) == total ? total : -1;
}

bool http_origin_allowed(struct lws *wsi, const char *list)
{
    if (!list)
        return true;
    char origin[CONFIG_ORIGIN_MAX + 1];
    int len = request_origin(wsi, origin, sizeof(origin));
    return len == 0 || (len > 0 && origin_listed(list, origin, (size_t)len));
}

/* The plain request's path, or "" (a response written for an upgrade request has none). */
static const char *request_path(struct lws *wsi, char *buf, size_t size)
{
    static const enum lws_token_indexes methods[] = {WSI_TOKEN_GET_URI, WSI_TOKEN_POST_URI,
                                                     WSI_TOKEN_OPTIONS_URI, WSI_TOKEN_HEAD_URI};
    for (size_t i = 0; i < sizeof(methods) / sizeof(*methods); i++)
        if (lws_hdr_total_length(wsi, methods[i]) > 0 &&
            lws_hdr_copy(wsi, buf, (int)size, methods[i]) > 0)
            return buf;
    return "";
}

/* The origin of a request of the polling transport (below /socket.io) that --cors-origin
 * names, into `origin` (`size` bytes): its length, or 0 when its answer gets no CORS headers. */
static int cors_origin(struct lws *wsi, char *origin, size_t size)
{
    const struct net *n = lws_context_user(lws_get_context(wsi));
    char path[256];
    if (!n || !n->cfg->cors_origin || lws_hdr_total_length(wsi, WSI_TOKEN_UPGRADE) ||
        !http_is_sio_path(request_path(wsi, path, sizeof(path))))
        return 0;
    int len = request_origin(wsi, origin, size);
    if (len <= 0 || !origin_listed(n->cfg->cors_origin, origin, (size_t)len))
        return 0;
    return len;
}

/* The CORS headers for a listed `origin` (NULL: none): that origin (echoed, never `*`, so that
 * credentials can be allowed), `vary: origin`, and the credentials header with
 * --cors-credentials. Returns how many headers it wrote into `out` (at most 3). */
static size_t cors_headers(struct lws *wsi, const char *origin, struct http_header *out)
{
    const struct net *n = lws_context_user(lws_get_context(wsi));
    if (!origin)
        return 0;
    size_t k = 0;
    out[k++] = (struct http_header){"access-control-allow-origin:", origin};
    out[k++] = (struct http_header){"vary:", "Origin"};
    if (n->cfg->cors_credentials)
        out[k++] = (struct http_header){"access-control-allow-credentials:", "true"};
    return k;
}

int http_answer_capture(struct lws *wsi, struct http_answer *a)
{
    char origin[CONFIG_ORIGIN_MAX + 1];
    a->keep = http_keeps_alive(wsi);
    a->origin = NULL;
    if (cors_origin(wsi, origin, sizeof(origin)) > 0 && !(a->origin = strdup(origin)))
        return SB_ENOMEM;
    return 0;
}

void http_answer_clear(struct http_answer *a)
{
    free(a->origin);
    a->origin = NULL;
}

int http_cors_preflight(struct lws *wsi)
{
    /* The cors package's defaults, which socket.io uses: every method, the requested headers
     * echoed. An origin not in the list gets the same 204 without the CORS headers (added by
     * http_respond_headers() only for a listed origin): the browser then refuses. */
    char want[512] = "";
    if (lws_hdr_copy(wsi, want, sizeof(want), WSI_TOKEN_HTTP_AC_REQUEST_HEADERS) < 0)
        want[0] = '\0'; /* none, or longer than any a client needs: none echoed */
    struct http_header h[3] = {
        {"access-control-allow-methods:", "GET,HEAD,PUT,PATCH,POST,DELETE"},
        {"access-control-allow-headers:", want},
        {"vary:", "Access-Control-Request-Headers"},
    };
    return http_finish(wsi,
                       http_respond_headers(wsi, 204, NULL, NULL, 0, h, want[0] ? 3 : 1, false));
}

/* ---- responses ---- */

/* Writes a complete response with a body and `nextra` extra headers, with `connection: close`
 * when `close` is set or the connection would not be kept anyway (request_keeps_alive()), and
 * the CORS headers when the request is a polling one from a --cors-origin origin.
 * Returns 0 (the caller then completes or refuses the transaction) or -1 to drop the
 * connection. */
static int respond(struct lws *wsi, const struct http_answer *a, unsigned status, const char *ctype,
                   const char *body, size_t len, const struct http_header *extra, size_t nextra,
                   bool close);

int http_respond_headers(struct lws *wsi, unsigned status, const char *ctype, const char *body,
                         size_t len, const struct http_header *extra, size_t nextra, bool close)
{
    char origin[CONFIG_ORIGIN_MAX + 1];
    struct http_answer a = {
        .keep = http_keeps_alive(wsi),
        .origin = cors_origin(wsi, origin, sizeof(origin)) > 0 ? origin : NULL,
    };
    return respond(wsi, &a, status, ctype, body, len, extra, nextra, close);
}

int http_respond_held(struct lws *wsi, const struct http_answer *a, unsigned status,
                      const char *ctype, const char *body, size_t len)
{
    return respond(wsi, a, status, ctype, body, len, NULL, 0, false);
}

/* The response itself, from what `a` kept of the request's headers. */
static int respond(struct lws *wsi, const struct http_answer *a, unsigned status, const char *ctype,
                   const char *body, size_t len, const struct http_header *extra, size_t nextra,
                   bool close)
{
    unsigned char hdr[LWS_PRE + 2048];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
    if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end))
        return -1;
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p, end))
        return -1;
    struct http_header cors[3];
    size_t ncors = cors_headers(wsi, a->origin, cors);
    for (size_t i = 0; i < ncors; i++)
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)cors[i].name,
                                        (const unsigned char *)cors[i].value,
                                        (int)strlen(cors[i].value), &p, end))
            return -1;
    for (size_t i = 0; i < nextra; i++)
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)extra[i].name,
                                        (const unsigned char *)extra[i].value,
                                        (int)strlen(extra[i].value), &p, end))
            return -1;
    if ((close || !a->keep) &&
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
int http_respond(struct lws *wsi, unsigned status, const char *ctype, const char *body, size_t len,
                 const char *extra_name, const char *extra_value)
{
    struct http_header h = {extra_name, extra_value};
    return http_respond_headers(wsi, status, ctype, body, len, &h, extra_name ? 1 : 0, false);
}

int http_respond_message(struct lws *wsi, unsigned status, const char *message,
                         const struct http_header *extra, size_t nextra, bool close)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    sbuf_append_str(&b, "{\"message\":");
    sbuf_append_json_string(&b, message, strlen(message));
    sbuf_append_char(&b, '}');
    int rc = b.failed ? -1
                      : http_respond_headers(wsi, status, "application/json", sbuf_data(&b), b.len,
                                             extra, nextra, close);
    sbuf_free(&b);
    return rc;
}

int http_respond_eio_error(struct lws *wsi, int code)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    eio_hs_encode_error(&b, code);
    /* engine.io answers Forbidden (its allowRequest refusing) with 403, every other code 400. */
    unsigned status = code == EIO_HS_FORBIDDEN ? 403 : 400;
    int rc = b.failed
                 ? -1
                 : http_respond(wsi, status, "application/json", sbuf_data(&b), b.len, NULL, NULL);
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

const char *http_framing_error(struct lws *wsi)
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

/* Refuses a request whose framing is ambiguous (http_framing_error()). The connection closes
 * after the answer. */
int http_refuse_framing(struct lws *wsi, const char *why)
{
    metrics.http_bad_requests++;
    LOG_DEBUG("http", "request refused (400): %s", why);
    char message[96];
    snprintf(message, sizeof(message), "bad request: %s", why);
    http_respond_message(wsi, 400, message, NULL, 0, true);
    return -1;
}

/* Ends a request whose answer is written: the connection waits for the next request, or closes
 * when the answer said `connection: close` (closing here rather than trusting lws to agree). */
int http_finish(struct lws *wsi, int rc)
{
    struct http_answer a = {.keep = http_keeps_alive(wsi)};
    return http_finish_held(wsi, &a, rc);
}

int http_finish_held(struct lws *wsi, const struct http_answer *a, int rc)
{
    if (rc < 0 || !a->keep)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Builds the query from lws's argument fragments (lws has already percent-decoded them). */
int http_query(struct lws *wsi, struct query *q)
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

const char *http_method(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
        return "GET";
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
        return "POST";
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI))
        return "HEAD";
    if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI))
        return "OPTIONS";
    return "OTHER";
}

bool http_is_sio_path(const char *path)
{
    size_t n = sizeof(SIO_PATH) - 1;
    return strncmp(path, SIO_PATH, n) == 0 && (path[n] == '\0' || path[n] == '/');
}
int http_refuse(struct lws *wsi, enum metric_refusal why, unsigned status, const char *msg)
{
    metrics.refusals[why]++;
    struct http_header h = {NULL, NULL};
    if (status == 401)
        h = (struct http_header){"www-authenticate:", "Bearer"};
    else if (status == 503)
        h = (struct http_header){"retry-after:", "5"};
    http_respond_message(wsi, status, msg, &h, h.name ? 1 : 0, false);
    return -1; /* lws sends the answer, then closes (it says `connection: close`) */
}
