/*
 * auth-jwt: accepts HS256 JSON Web Tokens signed with one shared secret.
 *
 * CONFIG (items separated by commas; at most one secret source):
 *   secret=<text> | secret_env=<VAR> | secret_file=<path>   default: $SWITCHBOARD_JWT_SECRET
 *   leeway=<seconds>                                        0..60, default 30
 *
 * A token that is not shaped like a JWT is declined, so another auth plugin may know it; a JWT
 * that fails any check is refused with the reason; a valid one becomes the user named by `sub`,
 * with the payload as claims. Neither the token nor the secret is ever written to the log or to
 * an error message: messages name options by position, variables and files by name.
 */
#include "jwt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include <switchboard/plugin.h>

#ifndef SB_VERSION
#define SB_VERSION "0.0.0"
#endif

#define DEFAULT_SECRET_ENV "SWITCHBOARD_JWT_SECRET"
#define MIN_SECRET_LEN     32 /* RFC 7518 §3.2: an HS256 key should have at least 256 bits */
#define MAX_SECRET_FILE    65536

enum source { SRC_DEFAULT, SRC_TEXT, SRC_ENV, SRC_FILE };

struct options {
    enum source source;
    const char *value; /* borrowed from the CONFIG copy: the text, variable name or path */
    int leeway;
    bool has_leeway;
};

struct state {
    const sb_host_api_t *api;
    sb_host_t *host;
    unsigned char *secret; /* owned; wiped before it is freed */
    size_t secret_len;
    struct jwt_verifier verifier;
};

static int parse_leeway(const char *s, int *out)
{
    int v = 0;
    if (!*s)
        return SB_EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > JWT_MAX_LEEWAY)
            return SB_EINVAL;
        v = v * 10 + (*s - '0');
    }
    if (v > JWT_MAX_LEEWAY)
        return SB_EINVAL;
    *out = v;
    return 0;
}

/* Parses one `key=value` item, the `n`th. The item is never echoed: a secret given without its
 * `secret=` prefix must not end up in the server's startup error. */
static int parse_item(char *item, unsigned n, struct options *o, char *err, size_t errlen)
{
    static const struct {
        const char *key;
        enum source source;
    } sources[] = {{"secret", SRC_TEXT}, {"secret_env", SRC_ENV}, {"secret_file", SRC_FILE}};
    char *eq = strchr(item, '=');
    if (!*item)
        return sb_init_error(err, errlen, SB_EINVAL, "CONFIG item %u is empty", n);
    if (!eq)
        return sb_init_error(
            err, errlen, SB_EINVAL,
            "CONFIG item %u is not key=value (keys: secret, secret_env, secret_file, "
            "leeway)",
            n);
    *eq = '\0';
    const char *value = eq + 1;

    if (strcmp(item, "leeway") == 0) {
        if (o->has_leeway)
            return sb_init_error(err, errlen, SB_EINVAL, "leeway is given twice");
        if (parse_leeway(value, &o->leeway))
            return sb_init_error(err, errlen, SB_EINVAL,
                                 "leeway must be a whole number of seconds, 0..%d", JWT_MAX_LEEWAY);
        o->has_leeway = true;
        return 0;
    }
    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        if (strcmp(item, sources[i].key) != 0)
            continue;
        if (o->source != SRC_DEFAULT)
            return sb_init_error(err, errlen, SB_EINVAL,
                                 "give only one of secret=, secret_env= and secret_file=");
        if (!*value)
            return sb_init_error(err, errlen, SB_EINVAL, "%s= needs a value", sources[i].key);
        o->source = sources[i].source;
        o->value = value;
        return 0;
    }
    return sb_init_error(
        err, errlen, SB_EINVAL,
        "CONFIG item %u has an unknown key (keys: secret, secret_env, secret_file, "
        "leeway)",
        n);
}

/* Parses CONFIG, which `copy` holds (it is cut in place and `o` points into it). */
static int parse_config(char *copy, struct options *o, char *err, size_t errlen)
{
    unsigned n = 1;
    if (!*copy)
        return 0;
    for (char *item = copy;; n++) {
        char *comma = strchr(item, ',');
        if (comma)
            *comma = '\0';
        int rc = parse_item(item, n, o, err, errlen);
        if (rc < 0 || !comma)
            return rc;
        item = comma + 1;
    }
}

static int copy_secret(const void *data, size_t len, unsigned char **secret, size_t *secret_len)
{
    *secret = malloc(len ? len : 1);
    if (!*secret)
        return SB_ENOMEM;
    memcpy(*secret, data, len);
    *secret_len = len;
    return 0;
}

static int secret_from_env(const char *var, unsigned char **secret, size_t *len, char *err,
                           size_t errlen)
{
    const char *v = getenv(var);
    if (!v)
        return sb_init_error(err, errlen, SB_EINVAL,
                             "environment variable %s is not set (it must hold the JWT secret)",
                             var);
    if (!*v)
        return sb_init_error(err, errlen, SB_EINVAL, "environment variable %s is empty", var);
    return copy_secret(v, strlen(v), secret, len);
}

static int secret_from_file(const char *path, unsigned char **secret, size_t *len, char *err,
                            size_t errlen)
{
    unsigned char *buf = NULL;
    size_t n = 0;
    int rc = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sb_init_error(err, errlen, SB_EIO, "cannot read secret file %s: %s", path,
                             strerror(errno));
    buf = malloc(MAX_SECRET_FILE + 1);
    if (!buf) {
        rc = SB_ENOMEM;
        goto out;
    }
    n = fread(buf, 1, MAX_SECRET_FILE + 1, f);
    if (ferror(f)) {
        rc = sb_init_error(err, errlen, SB_EIO, "cannot read secret file %s: %s", path,
                           strerror(errno));
        goto out;
    }
    if (n > MAX_SECRET_FILE) {
        rc = sb_init_error(err, errlen, SB_ETOOBIG, "secret file %s is larger than %d bytes", path,
                           MAX_SECRET_FILE);
        goto out;
    }
    /* Files written by editors, `echo` and secret stores end with a newline that is not part of
     * the secret. */
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (n == 0) {
        rc = sb_init_error(err, errlen, SB_EINVAL, "secret file %s is empty", path);
        goto out;
    }
    rc = copy_secret(buf, n, secret, len);
out:
    if (buf) {
        OPENSSL_cleanse(buf, MAX_SECRET_FILE + 1);
        free(buf);
    }
    fclose(f);
    return rc;
}

static int load_secret(const struct options *o, unsigned char **secret, size_t *len, char *err,
                       size_t errlen)
{
    switch (o->source) {
    case SRC_TEXT:
        return copy_secret(o->value, strlen(o->value), secret, len);
    case SRC_ENV:
        return secret_from_env(o->value, secret, len, err, errlen);
    case SRC_FILE:
        return secret_from_file(o->value, secret, len, err, errlen);
    case SRC_DEFAULT:
        break;
    }
    return secret_from_env(DEFAULT_SECRET_ENV, secret, len, err, errlen);
}

static void state_free(struct state *st)
{
    if (!st)
        return;
    if (st->secret) {
        OPENSSL_cleanse(st->secret, st->secret_len);
        free(st->secret);
    }
    free(st);
}

static int jwt_init(const sb_host_api_t *api, sb_host_t *host, const char *config, void **state,
                    char *err, size_t errlen)
{
    struct options o = {.source = SRC_DEFAULT, .leeway = JWT_DEFAULT_LEEWAY};
    struct state *st = NULL;
    size_t copylen = config ? strlen(config) : 0;
    char *copy = NULL;
    int rc;

    if (!api || !state)
        return sb_init_error(err, errlen, SB_EINVAL, "no host API");
    if (!SB_HOST_HAS(api, log_msg) || !SB_HOST_HAS(api, strerror) ||
        !SB_HOST_HAS(api, auth_token) || !SB_HOST_HAS(api, auth_set_user) ||
        !SB_HOST_HAS(api, auth_set_message))
        return sb_init_error(err, errlen, SB_EABI,
                             "the host API lacks the authentication functions");

    copy = strndup(config ? config : "", copylen);
    st = calloc(1, sizeof(*st));
    if (!copy || !st) {
        rc = sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
        goto fail;
    }
    st->api = api;
    st->host = host;
    if ((rc = parse_config(copy, &o, err, errlen)) < 0)
        goto fail;
    if ((rc = load_secret(&o, &st->secret, &st->secret_len, err, errlen)) < 0) {
        if (rc == SB_ENOMEM)
            sb_init_error(err, errlen, rc, "out of memory");
        goto fail;
    }
    if ((rc = jwt_verifier_init(&st->verifier, JWT_HS256, st->secret, st->secret_len, o.leeway)) <
        0) {
        rc = sb_init_error(err, errlen, rc, "the secret is too large");
        goto fail;
    }
    if (st->secret_len < MIN_SECRET_LEN)
        api->log_msg(
            host, SB_LOG_WARN,
            "the JWT secret is shorter than %d bytes: HS256 wants at least %d random bytes",
            MIN_SECRET_LEN, MIN_SECRET_LEN);
    /* CONFIG may hold the secret itself; parsing cut it at '=' and ',', so wipe by length. */
    OPENSSL_cleanse(copy, copylen);
    free(copy);
    *state = st;
    return 0;

fail:
    if (copy) {
        OPENSSL_cleanse(copy, copylen);
        free(copy);
    }
    state_free(st);
    return rc;
}

static void jwt_fini(void *state)
{
    state_free(state);
}

static sb_auth_verdict_t refuse(struct state *st, sb_auth_req_t *req, const char *why)
{
    st->api->auth_set_message(req, why);
    st->api->log_msg(st->host, SB_LOG_DEBUG, "JWT refused: %s", why);
    return SB_AUTH_REFUSE;
}

static sb_auth_verdict_t jwt_authenticate(void *state, sb_auth_req_t *req)
{
    struct state *st = state;
    struct jwt_identity id = {0};
    const char *reason = NULL;
    const char *token = st->api->auth_token(req);
    if (!token)
        return SB_AUTH_DECLINE;
    size_t len = strlen(token);
    if (!jwt_is_compact(token, len))
        return SB_AUTH_DECLINE;

    int rc = jwt_verify(&st->verifier, token, len, (int64_t)time(NULL), &id, &reason);
    if (rc < 0)
        return refuse(st, req, reason ? reason : "not authorized");

    sb_auth_verdict_t verdict = SB_AUTH_ACCEPT;
    char *claims = json_dumps(id.claims, JSON_COMPACT);
    rc = claims ? st->api->auth_set_user(req, id.sub, claims) : SB_ENOMEM;
    if (rc < 0) {
        st->api->log_msg(st->host, SB_LOG_ERROR, "cannot set the identity of a valid JWT: %s",
                         st->api->strerror(rc));
        verdict = refuse(st, req, "internal error");
    }
    free(claims);
    jwt_identity_free(&id);
    return verdict;
}

/* After auth-static (10): an opaque static token that happens to contain two dots is looked up
 * there before it could be mistaken for a malformed JWT here. */
SB_PLUGIN_DEFINE{
    SB_PLUGIN_HEADER,
    .name = "auth-jwt",
    .version = SB_VERSION,
    .init = jwt_init,
    .fini = jwt_fini,
    .auth_priority = 20,
    .authenticate = jwt_authenticate,
};
