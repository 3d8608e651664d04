/*
 * POST /api/emit.
 *
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
#include "internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libwebsockets.h>

#include "../bus/bus.h"
#include "../log/log.h"
#include "lws_compat.h"

#define API_BODY_MAX    ((size_t)1 << 20)  /* 1 MiB, or --max-payload when smaller */
#define API_DISCARD_MAX ((size_t)16 << 20) /* body of a refused request dropped before a close */
#define API_DISCARD_MS  5000
#define API_AUTH_MAX    4096 /* longest Authorization header looked at */

/*
 * A request body being received, or being dropped after a refusal. It rides on its wsi with
 * lws_set_opaque_user_data(), as a WebSocket's struct conn does, as a tagged pointer
 * (lws_compat.h, 3): net.c takes a tagged opaque pointer for a body and never for a conn. Only a
 * POST /api/emit gets one, never a WebSocket upgrade, and it is detached before the request's
 * transaction completes.
 */
struct api_body {
    struct sbuf buf;   /* what arrived (empty when discarding) */
    size_t expected;   /* the Content-Length */
    size_t received;   /* bytes of body so far */
    bool discard;      /* refused already: drop the bytes, close at the end */
    uint64_t deadline; /* discarding: uv_now() after which the connection is cut */
};

bool api_emit_is_body(const void *opaque)
{
    return lws_compat_opaque_tagged(opaque);
}

static struct api_body *api_body_of(struct lws *wsi)
{
    return lws_compat_opaque_untag(lws_get_opaque_user_data(wsi));
}

static struct api_body *api_body_attach(struct lws *wsi, size_t expected)
{
    struct api_body *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    sbuf_init(&b->buf, 0);
    b->expected = expected;
    lws_set_opaque_user_data(wsi, lws_compat_opaque_tag(b));
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

void api_emit_body_release(struct lws *wsi)
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
 * Whitespace around the digits is skipped, as http_framing_error() allows it. */
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
                      const struct http_header *extra, size_t nextra, enum api_rest rest,
                      size_t expected)
{
    metrics.api_errors++;
    LOG_DEBUG("http", "POST " API_EMIT_PATH " refused: %u %s", status, message);
    struct http_header h[2];
    size_t nh = 0;
    for (size_t i = 0; i < nextra && nh < 2; i++)
        h[nh++] = extra[i];
    int rc = http_respond_message(wsi, status, message, h, nh, rest != REST_NONE);
    if (rest == REST_NONE)
        return http_finish(wsi, rc);
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
    return http_finish(
        wsi, http_respond(wsi, 202, "application/json", answer, (size_t)alen, NULL, NULL));

refuse:
    json_decref(args);
    free(rooms);
    free(except);
    if (!err)
        LOG_ERROR("http", "POST " API_EMIT_PATH ": out of memory");
    json_decref(root); /* `err` is a literal or `message` */
    return api_refuse(n, wsi, err ? 400 : 500, err ? err : "internal error", NULL, 0, REST_NONE, 0);
}

int api_emit_request(struct net *n, struct lws *wsi, const char *method)
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
        struct http_header allow = {"allow:", "POST"};
        return api_refuse(n, wsi, 405, "method not allowed", &allow, 1, rest, expected);
    }
    if (!api_authorized(n, wsi)) {
        struct http_header auth = {"www-authenticate:", "Bearer"};
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
    return api_body_attach(wsi, expected) ? 0 : -1; /* continues in api_emit_body() */
}

int api_emit_body(struct net *n, struct lws *wsi, const void *in, size_t len)
{
    struct api_body *b = api_body_of(wsi);
    if (!b)
        return -1;
    b->received += len;
    if (b->discard)
        return b->received > API_DISCARD_MAX || uv_now(n->loop) > b->deadline ? -1 : 0;
    if (b->received > b->expected) {
        /* lws stops at the Content-Length; this is only a guard. */
        api_emit_body_release(wsi);
        return api_refuse(n, wsi, 413, "the body is longer than its Content-Length", NULL, 0,
                          REST_CUT, 0);
    }
    if (sbuf_append(&b->buf, in, len)) {
        api_emit_body_release(wsi);
        LOG_ERROR("http", "POST " API_EMIT_PATH ": out of memory");
        return api_refuse(n, wsi, 500, "internal error", NULL, 0, REST_CUT, 0);
    }
    return 0;
}

int api_emit_body_end(struct net *n, struct lws *wsi)
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
