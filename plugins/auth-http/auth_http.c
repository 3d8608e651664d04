/*
 * auth-http: asks an HTTP service whether a token is valid, without blocking the loop.
 *
 * CONFIG (items separated by commas):
 *   url=http://HOST[:PORT]/PATH   required; HOST an IP address or localhost, plain http only
 *   timeout=MS                    1..600000, default 3000; keep it under --auth-timeout
 *   header=Authorization|X-Token  how the token travels, default `Authorization: Bearer <token>`
 *   cache=SECONDS                 0..86400, default 0 (off): keep accepted tokens that long
 *
 * Each token becomes one `GET PATH` on its own TCP connection (Connection: close) on the
 * server's libuv loop (host API 1.2), and the hook answers SB_AUTH_PENDING; the verdict goes
 * back through auth_resume(). 200 with {"user": …, "claims": {…}} accepts; 401 or 403 refuses
 * with the body's "message"; anything else, and every failure to get an answer within `timeout`,
 * refuses with "authentication service unavailable" and a warning (never the token). The cache
 * keeps the SHA-256 of token and namespace, never the token.
 */
#include "answer.h"
#include "cache.h"
#include "httpc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <switchboard/plugin.h>
#include <uv.h>

#ifndef SB_VERSION
#define SB_VERSION "0.0.0"
#endif

#define DEFAULT_TIMEOUT_MS 3000
#define MAX_TIMEOUT_MS     600000
#define MAX_CACHE_S        86400
#define UNAVAILABLE        "authentication service unavailable"
#define USER_AGENT         "switchboard-auth-http/" SB_VERSION

struct state {
    const sb_host_api_t *api;
    sb_host_t *host;
    uv_loop_t *loop; /* borrowed from the host */
    struct httpc_url url;
    const char *header; /* "Authorization" or "X-Token" */
    uint32_t timeout_ms;
    struct cache cache;
    struct call *calls; /* in flight */
};

/* One question to the service. Freed once its two handles are closed. */
struct call {
    struct call *prev, *next;
    struct state *st;
    sb_auth_req_t *req; /* the host's, until auth_resume() */
    unsigned char key[CACHE_DIGEST_LEN];
    char *request; /* owned: the request text, alive until the write completes */
    size_t request_len;
    struct httpc_response resp;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect;
    uv_write_t write;
    int open_handles;
    bool finished; /* the verdict was given: every later callback is a no-op */
    char rbuf[16384];
};

/* ---- CONFIG ---- */

static int parse_uint(const char *s, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return SB_EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return SB_EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > max)
            return SB_EINVAL;
    }
    *out = (uint32_t)v;
    return 0;
}

struct options {
    const char *url; /* borrowed from the CONFIG copy */
    uint32_t timeout_ms;
    const char *header;
    uint32_t cache_s;
};

static int parse_config(char *copy, struct options *o, char *err, size_t errlen)
{
    o->timeout_ms = DEFAULT_TIMEOUT_MS;
    o->header = "Authorization";
    bool seen[4] = {false};
    unsigned n = 0;
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        n++;
        char *eq = strchr(item, '=');
        if (!eq)
            return sb_init_error(err, errlen, SB_EINVAL,
                                 "CONFIG item %u is not key=value (keys: url, timeout, header, "
                                 "cache)",
                                 n);
        *eq = '\0';
        const char *v = eq + 1;
        static const char *const keys[] = {"url", "timeout", "header", "cache"};
        size_t k = 0;
        while (k < 4 && strcmp(item, keys[k]) != 0)
            k++;
        if (k == 4)
            return sb_init_error(err, errlen, SB_EINVAL,
                                 "CONFIG item %u has an unknown key '%s' (keys: url, timeout, "
                                 "header, cache)",
                                 n, item);
        if (seen[k])
            return sb_init_error(err, errlen, SB_EINVAL, "%s is given twice", keys[k]);
        seen[k] = true;
        switch (k) {
        case 0:
            o->url = v;
            break;
        case 1:
            if (parse_uint(v, MAX_TIMEOUT_MS, &o->timeout_ms) || o->timeout_ms == 0)
                return sb_init_error(err, errlen, SB_EINVAL,
                                     "timeout must be a number of milliseconds, 1..%d",
                                     MAX_TIMEOUT_MS);
            break;
        case 2:
            if (strcasecmp(v, "Authorization") == 0)
                o->header = "Authorization";
            else if (strcasecmp(v, "X-Token") == 0)
                o->header = "X-Token";
            else
                return sb_init_error(err, errlen, SB_EINVAL,
                                     "header must be Authorization or X-Token");
            break;
        default:
            if (parse_uint(v, MAX_CACHE_S, &o->cache_s))
                return sb_init_error(err, errlen, SB_EINVAL,
                                     "cache must be a number of seconds, 0..%d", MAX_CACHE_S);
            break;
        }
    }
    if (!o->url)
        return sb_init_error(err, errlen, SB_EINVAL,
                             "CONFIG needs url=http://HOST:PORT/PATH (--plugin "
                             "auth-http=url=http://127.0.0.1:8080/auth)");
    return 0;
}

static int http_init(const sb_host_api_t *api, sb_host_t *host, const char *config, void **state,
                     char *err, size_t errlen)
{
    if (!api || !state)
        return sb_init_error(err, errlen, SB_EINVAL, "no host API");
    if (!SB_HOST_HAS(api, loop) || !SB_HOST_HAS(api, auth_timeout_ms))
        return sb_init_error(err, errlen, SB_EABI,
                             "needs a server with plugin ABI 1.2 or later (the host's loop), this "
                             "one speaks %u.%u",
                             api->abi_major, api->abi_minor);
    if (!config || !*config)
        return sb_init_error(err, errlen, SB_EINVAL,
                             "CONFIG needs url=http://HOST:PORT/PATH (--plugin "
                             "auth-http=url=http://127.0.0.1:8080/auth)");
    char *copy = strdup(config);
    struct state *st = calloc(1, sizeof(*st));
    if (!copy || !st) {
        free(copy);
        free(st);
        return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    }
    struct options o = {0};
    const char *why = NULL;
    int rc = parse_config(copy, &o, err, errlen);
    if (!rc && (rc = httpc_url_parse(o.url, &st->url, &why)))
        sb_init_error(err, errlen, rc, "url: %s", why ? why : "out of memory");
    if (!rc && (rc = cache_init(&st->cache, (uint64_t)o.cache_s * 1000)))
        sb_init_error(err, errlen, rc, "out of memory");
    free(copy);
    if (rc) {
        httpc_url_free(&st->url);
        free(st);
        return rc;
    }
    st->api = api;
    st->host = host;
    st->loop = api->loop(host);
    st->header = o.header;
    st->timeout_ms = o.timeout_ms;
    uint32_t host_timeout = api->auth_timeout_ms(host);
    if (host_timeout && st->timeout_ms >= host_timeout)
        api->log_msg(host, SB_LOG_WARN,
                     "timeout=%u is not under the server's --auth-timeout %u: a slow service "
                     "is cut off by the server first (\"authentication timed out\")",
                     st->timeout_ms, host_timeout);
    api->log_msg(host, SB_LOG_INFO,
                 "asking http://%s%s (timeout %u ms, the server waits %u ms, cache %u s)",
                 st->url.host, st->url.path, st->timeout_ms, host_timeout, o.cache_s);
    *state = st;
    return 0;
}

static void http_fini(void *state)
{
    struct state *st = state;
    if (!st)
        return;
    if (st->calls) {
        /* The loop stops only when no handle is open, so this does not happen; if it did, the
         * calls' memory must stay where the loop can still see it. */
        st->api->log_msg(st->host, SB_LOG_WARN, "requests still in flight at shutdown");
        return;
    }
    cache_free(&st->cache);
    httpc_url_free(&st->url);
    free(st);
}

/* ---- one call ---- */

static void call_closed_cb(uv_handle_t *h)
{
    struct call *call = h->data;
    if (--call->open_handles > 0)
        return;
    httpc_response_free(&call->resp);
    free(call->request);
    free(call);
}

static void call_unlink(struct call *call)
{
    struct state *st = call->st;
    if (call->prev)
        call->prev->next = call->next;
    else if (st->calls == call)
        st->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
}

/* Gives the verdict to the host, then closes the connection and the timer. */
static void call_finish(struct call *call, sb_auth_verdict_t verdict, const char *user,
                        const char *claims_json, const char *message)
{
    struct state *st = call->st;
    const sb_host_api_t *api = st->api;
    if (call->finished)
        return;
    call->finished = true;
    call_unlink(call);
    uv_read_stop((uv_stream_t *)&call->tcp);
    uv_timer_stop(&call->timer);
    uv_close((uv_handle_t *)&call->tcp, call_closed_cb);
    uv_close((uv_handle_t *)&call->timer, call_closed_cb);

    if (verdict == SB_AUTH_ACCEPT) {
        int rc = api->auth_set_user(call->req, user, claims_json);
        if (rc < 0) {
            api->log_msg(st->host, SB_LOG_ERROR, "cannot set the identity the service gave: %s",
                         api->strerror(rc));
            verdict = SB_AUTH_REFUSE;
            message = UNAVAILABLE;
        } else if (cache_put(&st->cache, call->key, user, claims_json, api->now_ms(st->host))) {
            api->log_msg(st->host, SB_LOG_WARN, "cannot cache a token: out of memory");
        }
    }
    if (verdict == SB_AUTH_REFUSE)
        api->auth_set_message(call->req, message);
    sb_auth_req_t *req = call->req;
    call->req = NULL;
    int rc = api->auth_resume(req, verdict);
    if (rc == SB_ETIMEOUT || rc == SB_ECLOSED)
        api->log_msg(st->host, SB_LOG_DEBUG,
                     "the service answered after the authentication had ended (%s): ignored",
                     rc == SB_ETIMEOUT ? "timed out" : "client gone");
    else if (rc < 0)
        api->log_msg(st->host, SB_LOG_ERROR, "auth_resume: %s", api->strerror(rc));
}

static void call_fail(struct call *call, const char *fmt, ...) SB_PRINTF_LIKE(2, 3);
static void call_fail(struct call *call, const char *fmt, ...)
{
    if (call->finished)
        return;
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    struct state *st = call->st;
    st->api->log_msg(st->host, SB_LOG_WARN, "http://%s%s: %s; refusing the token", st->url.host,
                     st->url.path, why);
    call_finish(call, SB_AUTH_REFUSE, NULL, NULL, UNAVAILABLE);
}

static void call_answer(struct call *call)
{
    struct answer a;
    if (answer_parse(call->resp.status, call->resp.body, call->resp.body_len, &a)) {
        call_fail(call, "out of memory");
        return;
    }
    switch (a.verdict) {
    case ANSWER_ACCEPT:
        call_finish(call, SB_AUTH_ACCEPT, a.user, a.claims_json, NULL);
        break;
    case ANSWER_REFUSE:
        call_finish(call, SB_AUTH_REFUSE, NULL, NULL, a.message);
        break;
    case ANSWER_UNAVAILABLE:
        call_fail(call, "%s (HTTP %d)", a.why, call->resp.status);
        break;
    }
    answer_free(&a);
}

static void timer_cb(uv_timer_t *t)
{
    struct call *call = t->data;
    call_fail(call, "no answer within %u ms", call->st->timeout_ms);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct call *call = h->data;
    *buf = uv_buf_init(call->rbuf, sizeof(call->rbuf));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct call *call = s->data;
    if (call->finished || nread == 0)
        return;
    int rc;
    if (nread == UV_EOF)
        rc = httpc_response_eof(&call->resp);
    else if (nread < 0) {
        call_fail(call, "reading the answer: %s", uv_strerror((int)nread));
        return;
    } else
        rc = httpc_response_feed(&call->resp, buf->base, (size_t)nread);
    if (rc == HTTPC_DONE)
        call_answer(call);
    else if (rc == SB_ETOOBIG)
        call_fail(call, "the answer is over %zu bytes", HTTPC_MAX_RESPONSE);
    else if (rc < 0)
        call_fail(call, nread == UV_EOF ? "the connection closed before a complete answer"
                                        : "not a valid HTTP/1.1 answer");
}

static void write_cb(uv_write_t *w, int status)
{
    struct call *call = w->data;
    if (status < 0 && !call->finished)
        call_fail(call, "sending the request: %s", uv_strerror(status));
}

static void connect_cb(uv_connect_t *c, int status)
{
    struct call *call = c->data;
    if (call->finished)
        return;
    if (status < 0) {
        call_fail(call, "cannot connect: %s", uv_strerror(status));
        return;
    }
    uv_buf_t buf = uv_buf_init(call->request, (unsigned int)call->request_len);
    int rc = uv_write(&call->write, (uv_stream_t *)&call->tcp, &buf, 1, write_cb);
    if (!rc)
        rc = uv_read_start((uv_stream_t *)&call->tcp, alloc_cb, read_cb);
    if (rc)
        call_fail(call, "sending the request: %s", uv_strerror(rc));
}

/* ---- the hook ---- */

static sb_auth_verdict_t refuse_now(struct state *st, sb_auth_req_t *req, const char *message)
{
    st->api->auth_set_message(req, message);
    return SB_AUTH_REFUSE;
}

static sb_auth_verdict_t http_authenticate(void *state, sb_auth_req_t *req)
{
    struct state *st = state;
    const sb_host_api_t *api = st->api;
    const char *token = api->auth_token(req), *nsp = api->auth_nsp(req);
    if (!token || !*token)
        return SB_AUTH_DECLINE;
    if (!answer_header_safe(token))
        return refuse_now(st, req, "invalid token");
    if (!answer_header_safe(nsp))
        return refuse_now(st, req, "invalid namespace");

    struct call *call = calloc(1, sizeof(*call));
    if (!call || cache_key(token, nsp, call->key)) {
        free(call);
        api->log_msg(st->host, SB_LOG_ERROR, "out of memory");
        return refuse_now(st, req, UNAVAILABLE);
    }
    const struct cache_entry *hit = cache_get(&st->cache, call->key, api->now_ms(st->host));
    if (hit) {
        int rc = api->auth_set_user(req, hit->user, hit->claims_json);
        free(call);
        return rc < 0 ? refuse_now(st, req, UNAVAILABLE) : SB_AUTH_ACCEPT;
    }

    call->request = httpc_request(&st->url, st->header, token, nsp, USER_AGENT, &call->request_len);
    if (!call->request) {
        free(call);
        api->log_msg(st->host, SB_LOG_ERROR, "out of memory");
        return refuse_now(st, req, UNAVAILABLE);
    }
    httpc_response_init(&call->resp);
    call->st = st;
    call->req = req;
    uv_tcp_init(st->loop, &call->tcp);
    uv_timer_init(st->loop, &call->timer);
    call->tcp.data = call->timer.data = call->connect.data = call->write.data = call;
    call->open_handles = 2;
    int rc = uv_tcp_connect(&call->connect, &call->tcp, (const struct sockaddr *)&st->url.addr,
                            connect_cb);
    if (rc) {
        /* Nothing started: answer now (auth_resume() is not allowed inside the hook). */
        api->log_msg(st->host, SB_LOG_WARN, "http://%s%s: cannot connect: %s; refusing the token",
                     st->url.host, st->url.path, uv_strerror(rc));
        call->finished = true;
        uv_close((uv_handle_t *)&call->tcp, call_closed_cb);
        uv_close((uv_handle_t *)&call->timer, call_closed_cb);
        return refuse_now(st, req, UNAVAILABLE);
    }
    uv_timer_start(&call->timer, timer_cb, st->timeout_ms, 0);
    call->next = st->calls;
    if (st->calls)
        st->calls->prev = call;
    st->calls = call;
    return SB_AUTH_PENDING;
}

/* After auth-static (10) and auth-jwt (20): a network round trip is the most expensive check,
 * and auth-http takes every token it is given, so it comes last. */
SB_PLUGIN_DEFINE{
    SB_PLUGIN_HEADER,
    .name = "auth-http",
    .version = SB_VERSION,
    .init = http_init,
    .fini = http_fini,
    .auth_priority = 30,
    .authenticate = http_authenticate,
};
