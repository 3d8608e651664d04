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
 * (lws_compat.h, 3). Only a
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

static struct api_body *api_body_of(struct lws *wsi)
{
    void *opaque = lws_get_opaque_user_data(wsi);
    return lws_compat_opaque_kind(opaque) == LWS_COMPAT_OPAQUE_BODY ? lws_compat_opaque_ptr(opaque)
                                                                    : NULL;
}

static struct api_body *api_body_attach(struct lws *wsi, size_t expected)
{
    struct api_body *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    sbuf_init(&b->buf, 0);
    b->expected = expected;
    lws_set_opaque_user_data(wsi, lws_compat_opaque_tag(b, LWS_COMPAT_OPAQUE_BODY));
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

/* A body's fields, borrowed from its JSON object (NULL when absent), and what it becomes. */
struct api_req {
    json_t *nsp, *jrooms, *jexcept, *event, *data, *args;
    struct bus_msg m;             /* the strings borrowed from the body */
    const char **rooms, **except; /* owned arrays (m.rooms, m.except) of borrowed names */
    json_t *margs;                /* new reference: m.args */
    char message[256];            /* room for a refusal that quotes the body */
};

/* One strict unpack takes the fields and refuses any other: an unknown field is a typo (`room`
 * for `rooms`) the client must hear about, not a silent broadcast to everyone. Returns NULL or
 * why the body is refused. */
static const char *api_fields(json_t *root, struct api_req *r)
{
    if (!json_is_object(root))
        return "the body must be a JSON object";
    json_error_t jerr;
    if (!json_unpack_ex(root, &jerr, JSON_STRICT, "{s?o s?o s?o s?o s?o s?o}", "namespace", &r->nsp,
                        "rooms", &r->jrooms, "except", &r->jexcept, "event", &r->event, "data",
                        &r->data, "args", &r->args))
        return NULL;
    /* The only failure on an object: "<n> object item(s) left unpacked: <key>, <key>". */
    const char *keys =
        json_error_code(&jerr) == json_error_end_of_input_expected ? strstr(jerr.text, ": ") : NULL;
    size_t klen = keys ? strcspn(keys + 2, ",") : 0;
    snprintf(r->message, sizeof(r->message),
             "unknown field '%.*s' (known: namespace, rooms, except, event, data, args)",
             (int)(klen > 64 ? 64 : klen), keys ? keys + 2 : "?");
    return r->message;
}

/* A non-empty JSON string without NUL bytes, or NULL. */
static const char *api_name(const json_t *v)
{
    const char *s = json_string_value(v);
    return s && *s && strlen(s) == json_string_length(v) ? s : NULL;
}

static const char *api_event(struct api_req *r)
{
    if (!r->event)
        return "event is required";
    if (!(r->m.event = api_name(r->event)))
        return "event must be a non-empty string";
    if (sio_event_reserved(r->m.event, strlen(r->m.event))) {
        snprintf(r->message, sizeof(r->message), "event '%.64s' is a reserved name", r->m.event);
        return r->message;
    }
    r->m.nsp = "/";
    if (r->nsp) {
        r->m.nsp = json_string_value(r->nsp);
        if (!r->m.nsp || r->m.nsp[0] != '/' || strchr(r->m.nsp, ',') ||
            strlen(r->m.nsp) != json_string_length(r->nsp))
            return "namespace must be a string starting with '/' (without ',')";
    }
    return NULL;
}

/* `v` (NULL: none) as an array of non-empty room names, borrowed into a new array `*out`
 * (freed by the caller). Returns NULL, why it is refused, or "" when out of memory. */
static const char *api_rooms(struct api_req *r, const json_t *v, const char *what,
                             const char ***out, size_t *count)
{
    size_t n = json_array_size(v);
    snprintf(r->message, sizeof(r->message), "%s must be an array of non-empty strings", what);
    if (!v || (json_is_array(v) && !n))
        return NULL;
    if (!json_is_array(v))
        return r->message;
    if (n > SB_MAX_EMIT_ROOMS) {
        snprintf(r->message, sizeof(r->message), "%s must hold at most %d rooms", what,
                 SB_MAX_EMIT_ROOMS);
        return r->message;
    }
    if (!(*out = malloc(n * sizeof(**out))))
        return "";
    for (size_t i = 0; i < n; i++)
        if (!((*out)[i] = api_name(json_array_get(v, i))))
            return r->message;
    *count = n;
    return NULL;
}

/* `data` (one argument, even an array) or `args` (the arguments). Returns as api_rooms(). */
static const char *api_args(struct api_req *r)
{
    if (r->data && r->args)
        return "give either data (one argument) or args (an array of arguments), not both";
    if (r->args && !json_is_array(r->args))
        return "args must be an array";
    if (r->data) {
        r->margs = json_array();
        if (!r->margs || json_array_append(r->margs, r->data))
            return "";
    } else if (r->args) {
        r->margs = json_incref(r->args);
    }
    r->m.args = r->margs;
    return NULL;
}

/* Checks a complete body and emits it. Writes the answer; returns what the lws callback must
 * return. */
static int api_emit(struct net *n, struct lws *wsi, const char *body, size_t len)
{
    struct api_req r = {0};
    json_error_t jerr;
    json_t *root = json_loadb(body, len, PROTO_JSON_FLAGS | JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(r.message, sizeof(r.message), "invalid JSON: %s", len ? jerr.text : "empty body");
        return api_refuse(n, wsi, 400, r.message, NULL, 0, REST_NONE, 0);
    }
    const char *err = api_fields(root, &r);
    if (!err)
        err = api_event(&r);
    if (!err)
        err = api_rooms(&r, r.jrooms, "rooms", &r.rooms, &r.m.nrooms);
    if (!err)
        err = api_rooms(&r, r.jexcept, "except", &r.except, &r.m.nexcept);
    r.m.rooms = r.rooms;
    r.m.except = r.except;
    if (!err)
        err = api_args(&r);
    int delivered = err ? 0 : bus_emit(n->bus, &r.m);
    if (!err && delivered < 0)
        err = delivered == SB_ENOMEM ? "" : "the event cannot be sent";
    int rc;
    if (err) {
        if (!*err)
            LOG_ERROR("http", "POST " API_EMIT_PATH ": out of memory");
        rc = api_refuse(n, wsi, *err ? 400 : 500, *err ? err : "internal error", NULL, 0, REST_NONE,
                        0);
    } else {
        metrics.api_emits++;
        LOG_DEBUG("http",
                  "POST " API_EMIT_PATH ": '%s' to %s, %zu room(s), %zu except(s): %d local "
                  "socket(s)",
                  r.m.event, r.m.nsp, r.m.nrooms, r.m.nexcept, delivered);
        char answer[48];
        int alen = snprintf(answer, sizeof(answer), "{\"delivered\":%d}", delivered);
        rc = http_finish(
            wsi, http_respond(wsi, 202, "application/json", answer, (size_t)alen, NULL, NULL));
    }
    json_decref(r.margs);
    free(r.rooms);
    free(r.except);
    json_decref(root); /* after the answer: `err` may point into it */
    return rc;
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
