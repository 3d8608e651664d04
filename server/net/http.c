/*
 * A plain HTTP request (not an upgrade), once its headers are in: its route.
 *
 * Routes: GET /healthz, GET /readyz, GET /metrics, POST /api/emit (with --api-key,
 * api_emit.c), the Socket.IO path without an upgrade (the polling transport, polling.c), static
 * directories (--static, static.c), 404 otherwise. Every request
 * first passes the framing checks of http_reply.c.
 */
#include "internal.h"

#include <stdbool.h>
#include <string.h>

#include "../bus/bus.h"

int http_request(struct net *n, struct lws *wsi, const char *uri)
{
    metrics.http_requests++;
    const char *framing = http_framing_error(wsi);
    if (framing)
        return http_refuse_framing(wsi, framing);
    const char *method = http_method(wsi);
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

    if (http_is_sio_path(uri)) {
        /* A browser's CORS preflight; without --cors-origin it is a bad handshake method, as in
         * engine.io without its `cors` option. */
        if (strcmp(method, "OPTIONS") == 0 && n->cfg->cors_origin)
            return http_cors_preflight(wsi);
        /* Not an upgrade: the polling transport. */
        struct query q;
        if (http_query(wsi, &q)) {
            metrics.refusals[MR_BAD_HANDSHAKE]++;
            return http_finish(wsi, http_respond_eio_error(wsi, EIO_HS_BAD_REQUEST));
        }
        int rc = polling_request(n, wsi, method, &q);
        query_free(&q);
        return rc;
    }
    if (strcmp(uri, API_EMIT_PATH) == 0 && n->cfg->api_key && *n->cfg->api_key)
        return api_emit_request(n, wsi, method);
    if (strcmp(uri, "/healthz") == 0 || strcmp(uri, "/readyz") == 0 ||
        strcmp(uri, "/metrics") == 0) {
        if (!get) {
            struct http_header allow = {"allow:", "GET, HEAD"};
            return http_finish(
                wsi, http_respond_message(wsi, 405, "method not allowed", &allow, 1, false));
        }
        if (strcmp(uri, "/healthz") == 0)
            return http_finish(wsi, http_respond(wsi, 200, "text/plain", "ok\n", 3, NULL, NULL));
        if (strcmp(uri, "/readyz") == 0) {
            if (n->shutting_down)
                return http_finish(
                    wsi, http_respond(wsi, 503, "text/plain", "shutting down\n", 14, NULL, NULL));
            if (!bus_ready(n->bus))
                return http_finish(
                    wsi, http_respond(wsi, 503, "text/plain", "bus not ready\n", 14, NULL, NULL));
            return http_finish(wsi, http_respond(wsi, 200, "text/plain", "ready\n", 6, NULL, NULL));
        }
        struct sbuf b;
        sbuf_init(&b, 0);
        metrics_render(&b);
        int rc = http_respond(wsi, 200, "text/plain; version=0.0.4; charset=utf-8", sbuf_data(&b),
                              b.len, NULL, NULL);
        sbuf_free(&b);
        return http_finish(wsi, rc);
    }
    if (get && n->cfg->nstatics)
        return static_serve(n, wsi, uri);
    return http_finish(wsi, http_respond_message(wsi, 404, "not found", NULL, 0, false));
}
