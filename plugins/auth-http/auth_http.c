/*
 * auth-http: asks an HTTP(S) service whether a token is valid, without blocking the loop.
 *
 * CONFIG (items separated by commas, each at most once):
 *   url=http[s]://HOST[:PORT]/PATH  required; HOST an IP address or a name (resolved by libcurl
 *                                   off the loop)
 *   timeout=MS                      1..600000 (units ms, s, m), default 3000; keep it under
 *                                   --auth-timeout
 *   header=Authorization|X-Token    how the token travels, default `Authorization: Bearer <token>`
 *   cache=SECONDS                   0..86400, default 0 (off): keep accepted tokens that long
 *   ca=FILE                         https only: the PEM certificates to verify the service
 *                                   against, instead of the system's CAs
 *
 * Each token becomes one `GET PATH` on its own connection, through libcurl's multi-socket API
 * on the server's libuv loop (host API 1.2, httpc.c), and the hook answers SB_AUTH_PENDING; the
 * verdict goes back through auth_resume(). 200 with {"user": …, "claims": {…}} accepts; 401 or
 * 403 refuses with the body's "message"; anything else (a redirect too: none is followed), and
 * every failure to get an answer within `timeout` (a certificate that does not verify among
 * them), refuses with "authentication service unavailable" and a warning (never the token).
 * The cache keeps the SHA-256 of token and namespace, never the token.
 */
#include "answer.h"
#include "cache.h"
#include "httpc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SB_CONFIG_IMPLEMENTATION
#include <switchboard/config.h>
#include <switchboard/plugin.h>

#ifndef SB_VERSION
#define SB_VERSION "0.0.0"
#endif

#define NAME               "auth-http"
#define DEFAULT_TIMEOUT_MS 3000
#define MAX_TIMEOUT_MS     600000
#define MAX_CACHE_S        86400
#define UNAVAILABLE        "authentication service unavailable"
#define USER_AGENT         "switchboard-auth-http/" SB_VERSION
#define URL_HINT                                                                                   \
    "CONFIG needs url=http://HOST:PORT/PATH or url=https://… (--plugin "                         \
    "auth-http=url=http://127.0.0.1:8080/auth)"

struct state {
    const sb_host_api_t *api;
    sb_host_t *host;
    struct httpc *http; /* owned */
    char *url;          /* owned: libcurl's spelling of the CONFIG url */
    const char *header; /* "Authorization" or "X-Token" */
    struct cache cache;
};

/* One question to the service, from the hook to the answer. */
struct call {
    struct state *st;
    sb_auth_req_t *req; /* the host's, until auth_resume() */
    unsigned char key[CACHE_DIGEST_LEN];
};

/* ---- CONFIG ---- */

struct options {
    char *url; /* owned */
    uint64_t timeout_ms;
    const char *header;
    uint64_t cache_s;
    char *ca; /* owned */
};

enum { K_URL, K_TIMEOUT, K_HEADER, K_CACHE, K_CA, K_COUNT };
static const char *const keys[] = {"url", "timeout", "header", "cache", "ca", NULL};

static int parse_item(struct options *o, const struct sb_cfg *c, const struct sb_cfg_pair *p,
                      bool *seen, char *err, size_t errlen)
{
    unsigned k = 0;
    while (keys[k] && strcmp(p->key, keys[k]) != 0)
        k++;
    if (!keys[k])
        return sb_cfg_unknown(c, p->key, err, errlen) ? SB_EINVAL : 0;
    if (sb_cfg_once(c, keys[k], &seen[k], err, errlen))
        return SB_EINVAL;
    switch (k) {
    case K_URL:
        o->url = strdup(p->value);
        return o->url ? 0 : sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    case K_TIMEOUT:
        return sb_cfg_ms(c, "timeout", p->value, 1, MAX_TIMEOUT_MS, &o->timeout_ms, err, errlen)
                   ? SB_EINVAL
                   : 0;
    case K_HEADER:
        if (strcasecmp(p->value, "Authorization") == 0)
            o->header = "Authorization";
        else if (strcasecmp(p->value, "X-Token") == 0)
            o->header = "X-Token";
        else
            return sb_init_error(err, errlen, SB_EINVAL,
                                 NAME ": \"header\" wants Authorization or X-Token, got \"%s\"",
                                 p->value);
        return 0;
    case K_CACHE:
        return sb_cfg_u64(c, "cache", p->value, 0, MAX_CACHE_S, &o->cache_s, err, errlen)
                   ? SB_EINVAL
                   : 0;
    default:
        o->ca = strdup(p->value);
        return o->ca ? 0 : sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    }
}

static int parse_config(const char *config, struct options *o, char *err, size_t errlen)
{
    o->timeout_ms = DEFAULT_TIMEOUT_MS;
    o->header = "Authorization";
    struct sb_cfg c;
    struct sb_cfg_pair p;
    bool seen[K_COUNT] = {false};
    int rc = 0, more = 0;
    if (sb_cfg_begin(&c, NAME, config, err, errlen) != 0)
        return SB_ENOMEM;
    while (rc == 0 && (more = sb_cfg_next(&c, &p, err, errlen)) == 1)
        rc = parse_item(o, &c, &p, seen, err, errlen);
    sb_cfg_end(&c);
    if (rc == 0 && more < 0)
        rc = SB_EINVAL;
    if (rc == 0 && !o->url)
        rc = sb_init_error(err, errlen, SB_EINVAL, URL_HINT);
    return rc;
}

/* The CA file must be there and readable now: a typo is an error at start, not a refusal of
 * every token later. libcurl reads it again for each connection, so a renewed file is used. */
static int check_ca(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return sb_init_error(err, errlen, SB_EINVAL, "ca: cannot read %s: %s", path,
                             strerror(errno));
    fclose(f);
    return 0;
}

static void state_free(struct state *st)
{
    cache_free(&st->cache);
    free(st->url);
    free(st);
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
        return sb_init_error(err, errlen, SB_EINVAL, URL_HINT);
    struct state *st = calloc(1, sizeof(*st));
    if (!st)
        return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    struct options o = {0};
    const char *why = NULL;
    bool https = false;
    int rc = parse_config(config, &o, err, errlen);
    if (!rc && (rc = httpc_url_check(o.url, &st->url, &https, &why)))
        sb_init_error(err, errlen, rc, "url: %s", why ? why : "out of memory");
    if (!rc && o.ca && !https)
        rc = sb_init_error(err, errlen, SB_EINVAL,
                           "ca= is for an https:// url (a plain http service has no certificate)");
    if (!rc && o.ca)
        rc = check_ca(o.ca, err, errlen);
    if (!rc && (rc = cache_init(&st->cache, o.cache_s * 1000)))
        sb_init_error(err, errlen, rc, "out of memory");
    if (!rc) {
        struct httpc_options ho = {
            .ca_file = o.ca, .timeout_ms = (uint32_t)o.timeout_ms, .user_agent = USER_AGENT};
        rc = httpc_new(api->loop(host), &ho, &st->http, err, errlen);
    }
    if (rc) {
        free(o.url);
        free(o.ca);
        state_free(st);
        return rc;
    }
    st->api = api;
    st->host = host;
    st->header = o.header;
    uint32_t host_timeout = api->auth_timeout_ms(host);
    if (host_timeout && o.timeout_ms >= host_timeout)
        api->log_msg(host, SB_LOG_WARN,
                     "timeout=%u is not under the server's --auth-timeout %u: a slow service "
                     "is cut off by the server first (\"authentication timed out\")",
                     (unsigned)o.timeout_ms, host_timeout);
    char tls[600] = "";
    if (https)
        snprintf(tls, sizeof(tls), ", certificates checked against %s",
                 o.ca ? o.ca : "the system's CAs");
    api->log_msg(host, SB_LOG_INFO,
                 "asking %s (timeout %u ms, the server waits %u ms, cache %u s%s)", st->url,
                 (unsigned)o.timeout_ms, host_timeout, (unsigned)o.cache_s, tls);
    free(o.url);
    free(o.ca);
    *state = st;
    return 0;
}

static void http_fini(void *state)
{
    struct state *st = state;
    if (!st)
        return;
    /* Questions still in flight are answered (refused) by httpc_free. None should be: their
     * handles keep the loop running, and fini comes after it stopped. */
    unsigned open = httpc_free(st->http);
    if (open)
        st->api->log_msg(st->host, SB_LOG_WARN,
                         "%u libuv handles still open at shutdown: their memory is left", open);
    state_free(st);
}

/* ---- one call ---- */

/* Gives the verdict to the host and frees the call. */
static void call_finish(struct call *call, sb_auth_verdict_t verdict, const char *user,
                        const char *claims_json, const char *message)
{
    struct state *st = call->st;
    const sb_host_api_t *api = st->api;
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
    free(call);
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
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    struct state *st = call->st;
    st->api->log_msg(st->host, SB_LOG_WARN, "%s: %s; refusing the token", st->url, why);
    call_finish(call, SB_AUTH_REFUSE, NULL, NULL, UNAVAILABLE);
}

/* httpc's callback: the service answered, or could not be asked. */
static void answered_cb(void *ud, const struct httpc_result *res)
{
    struct call *call = ud;
    if (res->error) {
        call_fail(call, "%s", res->why);
        return;
    }
    struct answer a;
    if (answer_parse(res->status, res->body, res->body_len, &a)) {
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
        call_fail(call, "%s (HTTP %d%s%s)", a.why, res->status, res->redirect ? ", to " : "",
                  res->redirect ? res->redirect : "");
        break;
    }
    answer_free(&a);
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

    /* The header lines; httpc copies them. */
    char *auth = NULL, *nsp_line = NULL;
    bool bearer = strcmp(st->header, "Authorization") == 0;
    int rc = SB_ENOMEM;
    if (asprintf(&auth, "%s: %s%s", st->header, bearer ? "Bearer " : "", token) < 0)
        auth = NULL;
    else if (asprintf(&nsp_line, "X-Switchboard-Namespace: %s", nsp) < 0)
        nsp_line = NULL;
    else {
        const char *headers[] = {auth, nsp_line, "Accept: application/json", NULL};
        call->st = st;
        call->req = req;
        rc = httpc_get(st->http, st->url, headers, answered_cb, call);
    }
    free(auth);
    free(nsp_line);
    if (rc) {
        /* Nothing started: answer now (auth_resume() is not allowed inside the hook). */
        free(call);
        api->log_msg(st->host, SB_LOG_WARN, "%s: cannot start a request: %s; refusing the token",
                     st->url, api->strerror(rc));
        return refuse_now(st, req, UNAVAILABLE);
    }
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
