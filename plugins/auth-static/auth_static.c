/*
 * auth-static: accepts the tokens listed in a file, each mapped to a user id.
 *
 * CONFIG is the path of the file (see tokens.h for its format). A listed token becomes its user;
 * any other token is declined, so that another auth plugin may know it (the server refuses a
 * token that no plugin accepted). The file is read once, at init.
 */
#include "tokens.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchboard/plugin.h>

#ifndef SB_VERSION
#define SB_VERSION "0.0.0"
#endif

struct state {
    const sb_host_api_t *api;
    sb_host_t *host;
    struct tokens tokens;
};

static int static_init(const sb_host_api_t *api, sb_host_t *host, const char *config, void **state,
                       char *err, size_t errlen)
{
    if (!api || !state)
        return sb_init_error(err, errlen, SB_EINVAL, "no host API");
    if (!SB_HOST_HAS(api, log_msg) || !SB_HOST_HAS(api, strerror) ||
        !SB_HOST_HAS(api, auth_token) || !SB_HOST_HAS(api, auth_set_user))
        return sb_init_error(err, errlen, SB_EABI,
                             "the host API lacks the authentication functions");
    if (!config || !*config)
        return sb_init_error(
            err, errlen, SB_EINVAL,
            "CONFIG must be the path of a tokens file (--plugin auth-static=PATH)");

    struct state *st = calloc(1, sizeof(*st));
    if (!st)
        return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    st->api = api;
    st->host = host;
    tokens_init(&st->tokens);
    int rc = tokens_load(&st->tokens, config, err, errlen);
    if (rc < 0) {
        tokens_free(&st->tokens);
        free(st);
        return rc;
    }
    if (st->tokens.count == 0)
        api->log_msg(host, SB_LOG_WARN, "%s lists no token: every token will be declined", config);
    else
        api->log_msg(host, SB_LOG_INFO, "%zu tokens loaded from %s", st->tokens.count, config);
    *state = st;
    return 0;
}

static void static_fini(void *state)
{
    struct state *st = state;
    if (!st)
        return;
    tokens_free(&st->tokens);
    free(st);
}

static sb_auth_verdict_t static_authenticate(void *state, sb_auth_req_t *req)
{
    struct state *st = state;
    const char *token = st->api->auth_token(req);
    if (!token || !*token)
        return SB_AUTH_DECLINE;
    const char *user = tokens_lookup(&st->tokens, token, strlen(token));
    if (!user)
        return SB_AUTH_DECLINE;
    int rc = st->api->auth_set_user(req, user, NULL);
    if (rc < 0) {
        /* Accepting without an identity would make an anonymous socket out of a known token. */
        st->api->log_msg(st->host, SB_LOG_ERROR, "cannot set the identity of a static token: %s",
                         st->api->strerror(rc));
        if (SB_HOST_HAS(st->api, auth_set_message))
            st->api->auth_set_message(req, "internal error");
        return SB_AUTH_REFUSE;
    }
    return SB_AUTH_ACCEPT;
}

/* Before auth-jwt (20): a lookup is cheap, and a static token that happens to contain two dots
 * must be found here before auth-jwt would refuse it as a malformed JWT. */
SB_PLUGIN_DEFINE{
    SB_PLUGIN_HEADER,
    .name = "auth-static",
    .version = SB_VERSION,
    .init = static_init,
    .fini = static_fini,
    .auth_priority = 10,
    .authenticate = static_authenticate,
};
