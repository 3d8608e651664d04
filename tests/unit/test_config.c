/*
 * Unit tests of server/config/config.c: defaults, precedence (flags over SWITCHBOARD_* over the
 * --config file), lists, and every bad value of every option in its three forms. Errors go to
 * stderr, so each call runs with fd 2 (and fd 1) redirected to a temporary file that the test
 * reads back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../server/config/config.h"
#include "../../server/log/log.h"

extern char **environ;

static char out[65536]; /* stdout and stderr of the last load() */

static void slurp(FILE *f)
{
    fflush(f);
    rewind(f);
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    fclose(f);
}

/* config_load with argv = {"switchboard", args...} and the process environment. */
static enum config_result load_argv(struct config *c, int n, const char *const *args)
{
    char *argv[64];
    assert_true(n + 1 < 64);
    argv[0] = "switchboard";
    for (int i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    argv[n + 1] = NULL;

    FILE *f = tmpfile();
    assert_non_null(f);
    fflush(stdout);
    fflush(stderr);
    int save1 = dup(1), save2 = dup(2);
    dup2(fileno(f), 1);
    dup2(fileno(f), 2);
    enum config_result rc = config_load(c, n + 1, argv, environ);
    fflush(stdout);
    fflush(stderr);
    dup2(save1, 1);
    dup2(save2, 2);
    close(save1);
    close(save2);
    slurp(f);
    return rc;
}

#define LOAD(c, ...)                                                                               \
    load_argv((c), (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)),            \
              (const char *[]){__VA_ARGS__})

static void assert_out_has(const char *needle)
{
    if (!strstr(out, needle))
        fail_msg("expected \"%s\" in output:\n%s", needle, out);
}

/* Writes `text` to a new file in /tmp; the caller unlinks it. */
static char *temp_file(const char *text)
{
    char *path = strdup("/tmp/sb_test_config_XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}

static void drop_temp_file(char *path)
{
    unlink(path);
    free(path);
}

/* Removes every SWITCHBOARD_* variable, so that the tests see only what they set. */
static int clean_env(void **state)
{
    (void)state;
    for (;;) {
        char **e = environ;
        while (e && *e && strncmp(*e, "SWITCHBOARD_", 12) != 0)
            e++;
        if (!e || !*e)
            return 0;
        char name[256];
        size_t n = strcspn(*e, "=");
        assert_true(n < sizeof(name));
        memcpy(name, *e, n);
        name[n] = '\0';
        unsetenv(name);
    }
}

/* ---- the option list ---------------------------------------------------------------------- */

enum kind {
    K_STR,
    K_LISTEN,
    K_U32,
    K_U64,
    K_BOOL,
    K_LEVEL,
    K_PLUGIN,
    K_STATIC,
    K_INTERCEPTOR,
    K_ORIGINS,
    K_LOG_FORMAT,
};

struct option_info {
    const char *name;
    const char *env;
    enum kind kind;
    size_t offset;
    uint64_t min, max;
};

#define OFF(f) offsetof(struct config, f)

/* Every option of config.c's table; options_match_the_usage checks that none is missing. */
static const struct option_info options[] = {
    {"listen", "SWITCHBOARD_LISTEN", K_LISTEN, 0, 0, 0},
    {"scripts", "SWITCHBOARD_SCRIPTS", K_STR, OFF(scripts_dir), 0, 0},
    {"plugin", "SWITCHBOARD_PLUGIN", K_PLUGIN, 0, 0, 0},
    {"interceptor", "SWITCHBOARD_INTERCEPTOR", K_INTERCEPTOR, 0, 0, 0},
    {"plugin-dir", "SWITCHBOARD_PLUGIN_DIR", K_STR, OFF(plugin_dir), 0, 0},
    {"redis", "SWITCHBOARD_REDIS", K_STR, OFF(redis_url), 0, 0},
    {"redis-prefix", "SWITCHBOARD_REDIS_PREFIX", K_STR, OFF(redis_prefix), 0, 0},
    {"api-key", "SWITCHBOARD_API_KEY", K_STR, OFF(api_key), 0, 0},
    {"handshake-headers", "SWITCHBOARD_HANDSHAKE_HEADERS", K_STR, OFF(handshake_headers), 0, 0},
    {"cors-origin", "SWITCHBOARD_CORS_ORIGIN", K_ORIGINS, OFF(cors_origin), 0, 0},
    {"cors-credentials", "SWITCHBOARD_CORS_CREDENTIALS", K_BOOL, OFF(cors_credentials), 0, 0},
    {"allowed-origins", "SWITCHBOARD_ALLOWED_ORIGINS", K_ORIGINS, OFF(allowed_origins), 0, 0},
    {"tls-cert", "SWITCHBOARD_TLS_CERT", K_STR, OFF(tls_cert), 0, 0},
    {"tls-key", "SWITCHBOARD_TLS_KEY", K_STR, OFF(tls_key), 0, 0},
    {"tls-ciphers", "SWITCHBOARD_TLS_CIPHERS", K_STR, OFF(tls_ciphers), 0, 0},
    {"config", "SWITCHBOARD_CONFIG", K_STR, OFF(config_file), 0, 0},
    {"log-level", "SWITCHBOARD_LOG_LEVEL", K_LEVEL, 0, 0, 0},
    {"log-format", "SWITCHBOARD_LOG_FORMAT", K_LOG_FORMAT, OFF(log_format), 0, 0},
    {"ping-interval", "SWITCHBOARD_PING_INTERVAL", K_U32, OFF(ping_interval_ms), 10, 86400000},
    {"ping-timeout", "SWITCHBOARD_PING_TIMEOUT", K_U32, OFF(ping_timeout_ms), 10, 86400000},
    {"connect-timeout", "SWITCHBOARD_CONNECT_TIMEOUT", K_U32, OFF(connect_timeout_ms), 10,
     86400000},
    {"auth-timeout", "SWITCHBOARD_AUTH_TIMEOUT", K_U32, OFF(auth_timeout_ms), 10, 600000},
    {"auth-refresh-grace", "SWITCHBOARD_AUTH_REFRESH_GRACE", K_U32, OFF(auth_refresh_grace_ms), 10,
     3600000},
    {"max-payload", "SWITCHBOARD_MAX_PAYLOAD", K_U64, OFF(max_payload), 64, 1u << 30},
    {"max-queue", "SWITCHBOARD_MAX_QUEUE", K_U64, OFF(max_queue), 1024, 1u << 30},
    {"write-delay", "SWITCHBOARD_WRITE_DELAY", K_U32, OFF(write_delay_ms), 0, 100},
    {"max-connections", "SWITCHBOARD_MAX_CONNECTIONS", K_U32, OFF(max_connections), 0, 10000000},
    {"static", "SWITCHBOARD_STATIC", K_STATIC, 0, 0, 0},
    {"shutdown-timeout", "SWITCHBOARD_SHUTDOWN_TIMEOUT", K_U32, OFF(shutdown_timeout_ms), 0,
     3600000},
    {"lua-time-limit", "SWITCHBOARD_LUA_TIME_LIMIT", K_U32, OFF(lua_time_limit_ms), 0, 600000},
    {"lua-memory-limit", "SWITCHBOARD_LUA_MEMORY_LIMIT", K_U32, OFF(lua_memory_limit_mb), 0,
     1048576},
    {"lua-redis-timeout", "SWITCHBOARD_LUA_REDIS_TIMEOUT", K_U32, OFF(lua_redis_timeout_ms), 1,
     600000},
    {"lua-trusted", "SWITCHBOARD_LUA_TRUSTED", K_BOOL, OFF(lua_trusted), 0, 0},
    {"allow-eio3", "SWITCHBOARD_ALLOW_EIO3", K_BOOL, OFF(allow_eio3), 0, 0},
    {"require-auth", "SWITCHBOARD_REQUIRE_AUTH", K_BOOL, OFF(require_auth), 0, 0},
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static uint64_t num_field(const struct config *c, const struct option_info *o)
{
    const char *base = (const char *)c;
    if (o->kind == K_U64)
        return *(const uint64_t *)(const void *)(base + o->offset);
    return *(const uint32_t *)(const void *)(base + o->offset);
}

static const char *str_field(const struct config *c, const struct option_info *o)
{
    return *(char *const *)(const void *)((const char *)c + o->offset);
}

static bool bool_field(const struct config *c, const struct option_info *o)
{
    return *(const bool *)(const void *)((const char *)c + o->offset);
}

/* The options config_usage lists are exactly those of `options`, in the same order. */
static void options_match_the_usage(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    config_usage(f);
    slurp(f);
    size_t i = 0;
    for (char *p = strstr(out, "\n  --"); p; p = strstr(p + 1, "\n  --")) {
        const char *name = p + 5;
        size_t n = strcspn(name, " =[\n");
        if ((n == 4 && strncmp(name, "help", 4) == 0) ||
            (n == 7 && strncmp(name, "version", 7) == 0))
            continue;
        if (i >= NOPTIONS)
            fail_msg("usage lists --%.*s, which the test does not know", (int)n, name);
        if (strlen(options[i].name) != n || strncmp(options[i].name, name, n) != 0)
            fail_msg("usage lists --%.*s where the test expects --%s", (int)n, name,
                     options[i].name);
        i++;
    }
    assert_int_equal(i, NOPTIONS);
}

/* ---- defaults and good values ------------------------------------------------------------- */

static void defaults(void **state)
{
    (void)state;
    struct config c;
    const char *none[] = {NULL};
    assert_int_equal(load_argv(&c, 0, none), CONFIG_OK);
    assert_string_equal(out, "");
    assert_string_equal(c.listen_host, "0.0.0.0");
    assert_int_equal(c.listen_port, 3000);
    assert_string_equal(c.scripts_dir, "./scripts");
    assert_int_equal(c.nplugins, 0);
    assert_int_equal(c.ninterceptors, 0);
    assert_int_equal(c.nstatics, 0);
    assert_null(c.plugin_dir);
    assert_null(c.redis_url);
    assert_string_equal(c.redis_prefix, "socket.io");
    assert_null(c.api_key);
    assert_string_equal(c.handshake_headers, "origin,user-agent,x-forwarded-for");
    assert_null(c.config_file);
    assert_int_equal(c.log_level, SB_LOG_INFO);
    assert_int_equal(c.ping_interval_ms, 25000);
    assert_int_equal(c.ping_timeout_ms, 20000);
    assert_int_equal(c.connect_timeout_ms, 45000);
    assert_int_equal(c.auth_timeout_ms, 5000);
    assert_int_equal(c.auth_refresh_grace_ms, 30000);
    assert_int_equal(c.max_payload, 1000000);
    assert_int_equal(c.max_queue, 1048576);
    assert_int_equal(c.write_delay_ms, 0);
    assert_int_equal(c.max_connections, 0);
    assert_int_equal(c.shutdown_timeout_ms, 10000);
    assert_int_equal(c.lua_time_limit_ms, 100);
    assert_int_equal(c.lua_memory_limit_mb, 256);
    assert_int_equal(c.lua_redis_timeout_ms, 1000);
    assert_false(c.lua_trusted);
    assert_false(c.require_auth);
    assert_true(c.allow_eio3);
    assert_false(c.cors_credentials);
    assert_null(c.cors_origin);
    assert_null(c.allowed_origins);
    assert_null(c.tls_cert);
    assert_null(c.tls_key);
    assert_string_equal(c.tls_ciphers, CONFIG_TLS_CIPHERS);
    config_free(&c);
    assert_null(c.listen_host);
}

enum form { FLAG, FLAG_INLINE, ENV, FILE_KEY, FILE_EQ };
static const char *const form_names[] = {"flag", "--flag=value", "environment", "file",
                                         "file key = value"};

/* Loads one value of one option in one form. `path` receives the config file, if any. */
static enum config_result load_one(struct config *c, const struct option_info *o, const char *value,
                                   enum form form, char **path)
{
    char buf[512];
    *path = NULL;
    switch (form) {
    case FLAG: {
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s", o->name);
        if (o->kind == K_BOOL) { /* a bool takes its value inline only */
            snprintf(buf, sizeof(buf), "--%s=%s", o->name, value);
            return LOAD(c, buf);
        }
        return LOAD(c, flag, value);
    }
    case FLAG_INLINE:
        snprintf(buf, sizeof(buf), "--%s=%s", o->name, value);
        return LOAD(c, buf);
    case ENV: {
        setenv(o->env, value, 1);
        const char *none[] = {NULL};
        enum config_result rc = load_argv(c, 0, none);
        unsetenv(o->env);
        return rc;
    }
    case FILE_KEY:
    case FILE_EQ: {
        snprintf(buf, sizeof(buf), "# a comment\n\n%s%s%s\n", o->name,
                 form == FILE_EQ ? " = " : " ", value);
        *path = temp_file(buf);
        snprintf(buf, sizeof(buf), "--config=%s", *path);
        return LOAD(c, buf);
    }
    }
    return CONFIG_USAGE;
}

struct good {
    const char *name;
    const char *value;
    uint64_t num;     /* numbers, bools, log levels, listen port */
    const char *str;  /* strings, listen host, first list element's name/prefix */
    const char *str2; /* plugin config, static dir */
};

static const struct good goods[] = {
    {"listen", "127.0.0.1:8080", 8080, "127.0.0.1", NULL},
    {"listen", "[::1]:9000", 9000, "::1", NULL},
    {"listen", ":4000", 4000, "0.0.0.0", NULL},
    {"listen", "host:0", 0, "host", NULL},
    {"listen", "h:65535", 65535, "h", NULL},
    {"scripts", "/srv/gw", 0, "/srv/gw", NULL},
    {"plugin", "auth-jwt=secret_env=JWT", 0, "auth-jwt", "secret_env=JWT"},
    {"plugin", "propagate", 0, "propagate", NULL},
    {"plugin", "./x.so=", 0, "./x.so", ""},
    {"interceptor", "acl", 0, "acl", NULL},
    {"plugin-dir", "/opt/p", 0, "/opt/p", NULL},
    {"redis", "redis://:pw@h:6390/2", 0, "redis://:pw@h:6390/2", NULL},
    {"redis-prefix", "app", 0, "app", NULL},
    {"api-key", "k3y", 0, "k3y", NULL},
    {"tls-ciphers", "ECDHE-RSA-AES128-GCM-SHA256:HIGH:!aNULL", 0,
     "ECDHE-RSA-AES128-GCM-SHA256:HIGH:!aNULL", NULL},
    {"handshake-headers", "host,cookie", 0, "host,cookie", NULL},
    {"cors-origin", "*", 0, "*", NULL},
    {"cors-origin", "https://a.example, http://b:8080", 0, "https://a.example, http://b:8080",
     NULL},
    {"allowed-origins", "http://[::1]:3000,app-scheme://x", 0, "http://[::1]:3000,app-scheme://x",
     NULL},
    {"cors-credentials", "true", 1, NULL, NULL},
    {"cors-credentials", "off", 0, NULL, NULL},
    {"allow-eio3", "false", 0, NULL, NULL},
    {"allow-eio3", "yes", 1, NULL, NULL},
    {"log-level", "error", SB_LOG_ERROR, NULL, NULL},
    {"log-format", "json", LOG_FORMAT_JSON, NULL, NULL},
    {"log-format", "Text", LOG_FORMAT_TEXT, NULL, NULL},
    {"log-level", "WARN", SB_LOG_WARN, NULL, NULL},
    {"log-level", "warning", SB_LOG_WARN, NULL, NULL},
    {"log-level", "info", SB_LOG_INFO, NULL, NULL},
    {"log-level", "Debug", SB_LOG_DEBUG, NULL, NULL},
    {"static", "/srv/www", 0, "/", "/srv/www"},
    {"static", "/v=node_modules/x", 0, "/v", "node_modules/x"},
    {"lua-trusted", "true", 1, NULL, NULL},
    {"lua-trusted", "YES", 1, NULL, NULL},
    {"lua-trusted", "on", 1, NULL, NULL},
    {"lua-trusted", "1", 1, NULL, NULL},
    {"require-auth", "1", 1, NULL, NULL},
    {"require-auth", "false", 0, NULL, NULL},
    {"require-auth", "Off", 0, NULL, NULL},
    {"require-auth", "no", 0, NULL, NULL},
    {"require-auth", "0", 0, NULL, NULL},
    /* numbers: a middle value; the bounds come from `options` below */
    {"ping-interval", "12345", 12345, NULL, NULL},
    {"ping-timeout", "777", 777, NULL, NULL},
    {"connect-timeout", "1000", 1000, NULL, NULL},
    {"auth-timeout", "250", 250, NULL, NULL},
    {"auth-refresh-grace", "1500", 1500, NULL, NULL},
    {"max-payload", "4096", 4096, NULL, NULL},
    {"max-queue", "65536", 65536, NULL, NULL},
    {"write-delay", "5", 5, NULL, NULL},
    {"max-connections", "100", 100, NULL, NULL},
    {"shutdown-timeout", "0", 0, NULL, NULL},
    {"lua-time-limit", "0", 0, NULL, NULL},
    {"lua-memory-limit", "64", 64, NULL, NULL},
    {"lua-redis-timeout", "2", 2, NULL, NULL},
};

static const struct option_info *option(const char *name)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strcmp(options[i].name, name) == 0)
            return &options[i];
    fail_msg("no option %s", name);
    return NULL;
}

static void check_good(const struct config *c, const struct option_info *o, const struct good *g,
                       const char *ctx)
{
    switch (o->kind) {
    case K_LISTEN:
        if (c->listen_port != (int)g->num || strcmp(c->listen_host, g->str) != 0)
            fail_msg("%s: listen is %s:%d", ctx, c->listen_host, c->listen_port);
        return;
    case K_STR:
    case K_ORIGINS:
        if (!str_field(c, o) || strcmp(str_field(c, o), g->str) != 0)
            fail_msg("%s: got '%s'", ctx, str_field(c, o) ? str_field(c, o) : "(null)");
        return;
    case K_U32:
    case K_U64:
        if (num_field(c, o) != g->num)
            fail_msg("%s: got %llu", ctx, (unsigned long long)num_field(c, o));
        return;
    case K_BOOL:
        if (bool_field(c, o) != (g->num != 0))
            fail_msg("%s: got %d", ctx, bool_field(c, o));
        return;
    case K_LEVEL:
        if (c->log_level != (int)g->num)
            fail_msg("%s: got level %d", ctx, c->log_level);
        return;
    case K_LOG_FORMAT:
        if (c->log_format != (int)g->num)
            fail_msg("%s: got log format %d", ctx, c->log_format);
        return;
    case K_PLUGIN:
        if (c->nplugins != 1 || strcmp(c->plugins[0].name, g->str) != 0 ||
            (g->str2 ? !c->plugins[0].config || strcmp(c->plugins[0].config, g->str2) != 0
                     : c->plugins[0].config != NULL))
            fail_msg("%s: %zu plugins, first '%s'", ctx, c->nplugins,
                     c->nplugins ? c->plugins[0].name : "");
        return;
    case K_INTERCEPTOR:
        if (c->ninterceptors != 1 || strcmp(c->interceptors[0], g->str) != 0)
            fail_msg("%s: %zu interceptors", ctx, c->ninterceptors);
        return;
    case K_STATIC:
        if (c->nstatics != 1 || strcmp(c->statics[0].prefix, g->str) != 0 ||
            strcmp(c->statics[0].dir, g->str2) != 0)
            fail_msg("%s: %zu statics, first %s=%s", ctx, c->nstatics,
                     c->nstatics ? c->statics[0].prefix : "", c->nstatics ? c->statics[0].dir : "");
        return;
    }
}

static void good_value(const struct good *g, const struct option_info *o)
{
    for (int form = FLAG; form <= FILE_EQ; form++) {
        if (strcmp(o->name, "config") == 0)
            continue;
        char ctx[256];
        snprintf(ctx, sizeof(ctx), "%s '%s' as %s", o->name, g->value, form_names[form]);
        struct config c;
        char *path;
        enum config_result rc = load_one(&c, o, g->value, (enum form)form, &path);
        if (rc != CONFIG_OK)
            fail_msg("%s: refused: %s", ctx, out);
        if (out[0])
            fail_msg("%s: printed %s", ctx, out);
        check_good(&c, o, g, ctx);
        config_free(&c);
        if (path)
            drop_temp_file(path);
    }
}

static void every_option_takes_its_good_values(void **state)
{
    (void)state;
    bool covered[NOPTIONS] = {0};
    covered[option("config") - options] = true; /* config_file_is_found */
    /* One without the other is refused: tls_cert_and_key_go_together. */
    covered[option("tls-cert") - options] = true;
    covered[option("tls-key") - options] = true;
    for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
        const struct option_info *o = option(goods[i].name);
        covered[o - options] = true;
        good_value(&goods[i], o);
    }
    /* The bounds of every number are accepted. */
    for (size_t i = 0; i < NOPTIONS; i++) {
        const struct option_info *o = &options[i];
        if (o->kind != K_U32 && o->kind != K_U64)
            continue;
        uint64_t b[2] = {o->min, o->max};
        for (int k = 0; k < 2; k++) {
            char v[32];
            snprintf(v, sizeof(v), "%llu", (unsigned long long)b[k]);
            struct good g = {o->name, v, b[k], NULL, NULL};
            good_value(&g, o);
        }
    }
    for (size_t i = 0; i < NOPTIONS; i++)
        if (!covered[i])
            fail_msg("no good value for --%s", options[i].name);
}

/* --tls-cert and --tls-key: both in any form, and layers may give one each; one alone, from any
 * layer, is a usage error naming both. */
static void tls_cert_and_key_go_together(void **state)
{
    (void)state;
    struct config c;
    assert_int_equal(LOAD(&c, "--tls-cert", "/c.pem", "--tls-key=/k.pem"), CONFIG_OK);
    assert_string_equal(out, "");
    assert_string_equal(c.tls_cert, "/c.pem");
    assert_string_equal(c.tls_key, "/k.pem");
    config_free(&c);

    char *path = temp_file("tls-cert /file/c.pem\n");
    char arg[512];
    snprintf(arg, sizeof(arg), "--config=%s", path);
    setenv("SWITCHBOARD_TLS_KEY", "/env/k.pem", 1);
    assert_int_equal(LOAD(&c, arg), CONFIG_OK);
    assert_string_equal(c.tls_cert, "/file/c.pem");
    assert_string_equal(c.tls_key, "/env/k.pem");
    config_free(&c);
    unsetenv("SWITCHBOARD_TLS_KEY");

    assert_int_equal(LOAD(&c, arg), CONFIG_USAGE);
    assert_out_has("switchboard: --tls-cert given without --tls-key: TLS needs both");
    assert_out_has("usage: switchboard");
    config_free(&c);
    drop_temp_file(path);

    assert_int_equal(LOAD(&c, "--tls-key", "/k.pem"), CONFIG_USAGE);
    assert_out_has("switchboard: --tls-key given without --tls-cert: TLS needs both");
    config_free(&c);
    setenv("SWITCHBOARD_TLS_CERT", "/env/c.pem", 1);
    assert_int_equal(LOAD(&c, "--log-level", "warn"), CONFIG_USAGE);
    assert_out_has("--tls-cert given without --tls-key");
    config_free(&c);
    unsetenv("SWITCHBOARD_TLS_CERT");
}

/* A bare bool flag means true; a later flag of the same option wins. */
static void bare_bool_flags_and_repeated_flags(void **state)
{
    (void)state;
    struct config c;
    assert_int_equal(LOAD(&c, "--lua-trusted", "--require-auth"), CONFIG_OK);
    assert_true(c.lua_trusted);
    assert_true(c.require_auth);
    config_free(&c);

    assert_int_equal(LOAD(&c, "--require-auth", "--require-auth=false"), CONFIG_OK);
    assert_false(c.require_auth);
    config_free(&c);

    assert_int_equal(LOAD(&c, "--ping-interval", "100", "--ping-interval=200"), CONFIG_OK);
    assert_int_equal(c.ping_interval_ms, 200);
    config_free(&c);

    /* A value that looks like a flag is still the value. */
    assert_int_equal(LOAD(&c, "--api-key", "--help"), CONFIG_OK);
    assert_string_equal(c.api_key, "--help");
    config_free(&c);
}

/* ---- bad values --------------------------------------------------------------------------- */

struct bad {
    const char *name; /* option, or NULL for every number */
    const char *value;
    const char *why; /* key words of the reason */
};

#define NUM_WHY "expected an integer from"
static const struct bad bads[] = {
    /* every number (the bounds come from `options`) */
    {NULL, "", NUM_WHY},
    {NULL, "abc", NUM_WHY},
    {NULL, "12x", NUM_WHY},
    {NULL, "1.5", NUM_WHY},
    {NULL, "-1", NUM_WHY},
    {NULL, "-0", NUM_WHY},
    {NULL, "+5", NUM_WHY},
    {NULL, "0x10", NUM_WHY},
    {NULL, "1e3", NUM_WHY},
    {NULL, "18446744073709551615", NUM_WHY}, /* UINT64_MAX: above every max */
    {NULL, "18446744073709551616", NUM_WHY}, /* overflows strtoull */
    {NULL, "99999999999999999999999", NUM_WHY},
    {NULL, "4294967296", NUM_WHY}, /* would wrap to 0 in a uint32_t */
    {"listen", "", "expected ADDR:PORT"},
    {"listen", "3000", "expected ADDR:PORT"},
    {"listen", "localhost", "expected ADDR:PORT"},
    {"listen", "host:", "expected ADDR:PORT"},
    {"listen", "host:http", "expected ADDR:PORT"},
    {"listen", "host:-1", "expected ADDR:PORT"},
    {"listen", "host:+80", "expected ADDR:PORT"},
    {"listen", "host:65536", "port from 0 to 65535"},
    {"listen", "host:99999999999999999999", "port from 0 to 65535"},
    {"listen", "host:80x", "expected ADDR:PORT"},
    {"listen", "[::1]", "expected ADDR:PORT"},
    {"listen", "[::1:80", "an IPv6 address as [ADDR]:PORT"},
    {"listen", "::1]:80", "an IPv6 address as [ADDR]:PORT"},
    {"listen", "[::1]x:80", "an IPv6 address as [ADDR]:PORT"},
    {"listen", "[[::1]]:80", "an IPv6 address as [ADDR]:PORT"},
    {"log-level", "", "expected error, warn, info or debug"},
    {"log-level", "verbose", "expected error, warn, info or debug"},
    {"log-level", "infos", "expected error, warn, info or debug"},
    {"log-level", "2", "expected error, warn, info or debug"},
    {"log-level", "trace", "expected error, warn, info or debug"},
    {"log-format", "", "expected text or json"},
    {"log-format", "yaml", "expected text or json"},
    {"lua-trusted", "", "expected true or false"},
    {"lua-trusted", "maybe", "expected true or false"},
    {"lua-trusted", "2", "expected true or false"},
    {"lua-trusted", "truee", "expected true or false"},
    {"require-auth", "", "expected true or false"},
    {"require-auth", "y", "expected true or false"},
    {"require-auth", "-1", "expected true or false"},
    {"plugin", "", "expected NAME[=CONFIG]"},
    {"plugin", "=cfg", "expected NAME[=CONFIG]"},
    {"interceptor", "", "expected a plugin name"},
    {"cors-credentials", "sure", "expected true or false"},
    {"allow-eio3", "nah", "expected true or false"},
    {"cors-origin", "", "an empty origin in the list"},
    {"cors-origin", "https://a,,https://b", "an empty origin in the list"},
    {"cors-origin", "https://a,", "an empty origin in the list"},
    {"cors-origin", "a.example.com", "expected scheme://host[:port]"},
    {"cors-origin", "://a", "expected scheme://host[:port]"},
    {"cors-origin", "https:/a", "expected scheme://host[:port]"},
    {"allowed-origins", "https://a/", "an origin has no path, query or wildcard"},
    {"allowed-origins", "https://*.a.com", "an origin has no path, query or wildcard"},
    {"allowed-origins", "https://a https://b", "origins are separated by commas"},
    {"allowed-origins",
     "https://"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aa"
     "aaaaaaaaaaaaa.com",
     "an origin longer than 200 characters"},
    {"static", "", "expected DIR or /PREFIX=DIR"},
    {"static", "v=dir", "expected DIR or /PREFIX=DIR"},
    {"static", "/v=", "expected DIR or /PREFIX=DIR"},
    {"static", "=dir", "expected DIR or /PREFIX=DIR"},
};

/* Whether `value` in `form` reaches the parser unchanged. */
static bool form_applies(const struct option_info *o, const char *value, enum form form)
{
    bool list = o->kind == K_PLUGIN || o->kind == K_STATIC || o->kind == K_INTERCEPTOR;
    /* The environment splits lists at whitespace: an empty one is no value at all. */
    if (form == ENV && list && !*value)
        return false;
    /* `name =value` in the file is `name = value`: the value loses its '='. */
    if (form == FILE_KEY && value[0] == '=')
        return false;
    return true;
}

static void bad_value(const struct option_info *o, const char *value, const char *why)
{
    for (int form = FLAG; form <= FILE_EQ; form++) {
        if (!form_applies(o, value, (enum form)form))
            continue;
        char ctx[256];
        snprintf(ctx, sizeof(ctx), "--%s '%s' as %s", o->name, value, form_names[form]);
        struct config c;
        char *path;
        enum config_result rc = load_one(&c, o, value, (enum form)form, &path);
        if (rc != CONFIG_USAGE)
            fail_msg("%s: accepted (%d)", ctx, rc);
        char where[512];
        if (form == ENV)
            snprintf(where, sizeof(where), "switchboard: %s: invalid value '%s': ", o->env, value);
        else if (path)
            snprintf(where, sizeof(where), "switchboard: %s:3: %s: invalid value '%s': ", path,
                     o->name, value);
        else
            snprintf(where, sizeof(where), "switchboard: --%s: invalid value '%s': ", o->name,
                     value);
        if (!strstr(out, where) || !strstr(out, why))
            fail_msg("%s: expected \"%s\" and \"%s\" in:\n%s", ctx, where, why, out);
        if (form == FLAG || form == FLAG_INLINE)
            assert_out_has("usage: switchboard");
        config_free(&c);
        if (path)
            drop_temp_file(path);
    }
}

static void every_bad_value_is_refused(void **state)
{
    (void)state;
    bool covered[NOPTIONS] = {0};
    for (size_t b = 0; b < sizeof(bads) / sizeof(bads[0]); b++) {
        for (size_t i = 0; i < NOPTIONS; i++) {
            const struct option_info *o = &options[i];
            bool num = o->kind == K_U32 || o->kind == K_U64;
            if (bads[b].name ? strcmp(bads[b].name, o->name) != 0 : !num)
                continue;
            covered[i] = true;
            bad_value(o, bads[b].value, bads[b].why);
        }
    }
    /* Every number just outside its bounds, with the bounds in the message. */
    for (size_t i = 0; i < NOPTIONS; i++) {
        const struct option_info *o = &options[i];
        if (o->kind != K_U32 && o->kind != K_U64)
            continue;
        char why[96], v[32];
        snprintf(why, sizeof(why), "expected an integer from %llu to %llu",
                 (unsigned long long)o->min, (unsigned long long)o->max);
        if (o->min > 0) {
            snprintf(v, sizeof(v), "%llu", (unsigned long long)(o->min - 1));
            bad_value(o, v, why);
        }
        snprintf(v, sizeof(v), "%llu", (unsigned long long)(o->max + 1));
        bad_value(o, v, why);
    }
    /*
     * Free-form strings (scripts, plugin-dir, redis, redis-prefix, api-key, handshake-headers,
     * config) have no bad value in config.c: a bad Redis URL is refused by bus_init_redis in
     * main.c (test_redis_url), a missing --config file by config_file_errors below.
     */
    for (size_t i = 0; i < NOPTIONS; i++)
        if (!covered[i] && options[i].kind != K_STR)
            fail_msg("no bad value for --%s", options[i].name);
}

/* Every option but the bools needs a value after its flag. */
static void a_missing_argument_is_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < NOPTIONS; i++) {
        const struct option_info *o = &options[i];
        char flag[64], expect[128];
        snprintf(flag, sizeof(flag), "--%s", o->name);
        struct config c;
        enum config_result rc = LOAD(&c, flag);
        if (o->kind == K_BOOL) {
            assert_int_equal(rc, CONFIG_OK);
            assert_true(bool_field(&c, o));
        } else {
            if (rc != CONFIG_USAGE)
                fail_msg("%s without a value: accepted", flag);
            snprintf(expect, sizeof(expect), "switchboard: option '%s' needs a value", flag);
            assert_out_has(expect);
            assert_out_has("usage: switchboard");
        }
        config_free(&c);
        /* The same after another, valid, option. */
        rc = LOAD(&c, "--write-delay", "1", flag);
        assert_int_equal(rc, o->kind == K_BOOL ? CONFIG_OK : CONFIG_USAGE);
        config_free(&c);
    }
}

static void unknown_options_and_arguments_are_refused(void **state)
{
    (void)state;
    static const struct {
        const char *arg, *msg;
    } cases[] = {
        {"--nope", "switchboard: unknown option '--nope'"},
        {"--nope=1", "switchboard: unknown option '--nope'"},
        {"--ping", "switchboard: unknown option '--ping'"},       /* a prefix of an option */
        {"--listenx", "switchboard: unknown option '--listenx'"}, /* an option and more */
        {"--Listen", "switchboard: unknown option '--Listen'"},   /* names are case-sensitive */
        {"--", "switchboard: unknown option '--'"},
        {"-v", "switchboard: unexpected argument '-v'"},
        {"-", "switchboard: unexpected argument '-'"},
        {"scripts", "switchboard: unexpected argument 'scripts'"},
        {"", "switchboard: unexpected argument ''"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config c;
        assert_int_equal(LOAD(&c, cases[i].arg), CONFIG_USAGE);
        assert_out_has(cases[i].msg);
        assert_out_has("usage: switchboard");
        config_free(&c);
        /* Also after a valid option and before a bad value: the first pass finds it first. */
        assert_int_equal(LOAD(&c, "--listen", ":1", cases[i].arg, "--ping-interval", "x"),
                         CONFIG_USAGE);
        assert_out_has(cases[i].msg);
        assert_null(strstr(out, "invalid value"));
        config_free(&c);
    }
}

static void help_and_version_exit(void **state)
{
    (void)state;
    struct config c;
    assert_int_equal(LOAD(&c, "--help"), CONFIG_EXIT);
    assert_out_has("usage: switchboard");
    assert_out_has("--ping-interval MS");
    assert_out_has("--require-auth[=BOOL]");
    config_free(&c);
    assert_int_equal(LOAD(&c, "-h"), CONFIG_EXIT);
    assert_out_has("usage: switchboard");
    config_free(&c);
    assert_int_equal(LOAD(&c, "--version"), CONFIG_EXIT);
    assert_out_has("switchboard ");
    assert_out_has("plugin ABI");
    config_free(&c);
    /* --help wins over a bad value that follows it. */
    assert_int_equal(LOAD(&c, "--help", "--ping-interval", "x"), CONFIG_EXIT);
    config_free(&c);
}

/* ---- precedence and lists ----------------------------------------------------------------- */

static void flags_win_over_environment_over_file(void **state)
{
    (void)state;
    char *path = temp_file("ping-interval 111\n"
                           "ping-timeout 111\n"
                           "connect-timeout 111\n"
                           "listen 10.0.0.1:1111\n"
                           "log-level error\n"
                           "require-auth true\n"
                           "api-key file\n");
    char cfg[256];
    snprintf(cfg, sizeof(cfg), "--config=%s", path);
    struct config c;

    /* The file alone. */
    assert_int_equal(LOAD(&c, cfg), CONFIG_OK);
    assert_string_equal(c.config_file, path);
    assert_int_equal(c.ping_interval_ms, 111);
    assert_int_equal(c.ping_timeout_ms, 111);
    assert_int_equal(c.connect_timeout_ms, 111);
    assert_string_equal(c.listen_host, "10.0.0.1");
    assert_int_equal(c.listen_port, 1111);
    assert_int_equal(c.log_level, SB_LOG_ERROR);
    assert_true(c.require_auth);
    assert_string_equal(c.api_key, "file");
    assert_int_equal(c.ping_timeout_ms, 111);
    assert_int_equal(c.auth_timeout_ms, 5000); /* not in the file: the default */
    config_free(&c);

    /* The environment over the file. */
    setenv("SWITCHBOARD_PING_INTERVAL", "222", 1);
    setenv("SWITCHBOARD_PING_TIMEOUT", "222", 1);
    setenv("SWITCHBOARD_LISTEN", "10.0.0.2:2222", 1);
    setenv("SWITCHBOARD_LOG_LEVEL", "warn", 1);
    setenv("SWITCHBOARD_REQUIRE_AUTH", "false", 1);
    setenv("SWITCHBOARD_API_KEY", "env", 1);
    assert_int_equal(LOAD(&c, cfg), CONFIG_OK);
    assert_int_equal(c.ping_interval_ms, 222);
    assert_int_equal(c.ping_timeout_ms, 222);
    assert_int_equal(c.connect_timeout_ms, 111); /* only in the file */
    assert_string_equal(c.listen_host, "10.0.0.2");
    assert_int_equal(c.listen_port, 2222);
    assert_int_equal(c.log_level, SB_LOG_WARN);
    assert_false(c.require_auth);
    assert_string_equal(c.api_key, "env");
    config_free(&c);

    /* Flags over both, wherever --config stands among them. */
    assert_int_equal(LOAD(&c, "--ping-interval", "333", "--listen=10.0.0.3:3333", "--log-level",
                          "debug", "--require-auth", "--api-key", "flag", cfg),
                     CONFIG_OK);
    assert_int_equal(c.ping_interval_ms, 333);
    assert_int_equal(c.ping_timeout_ms, 222);    /* env, no flag */
    assert_int_equal(c.connect_timeout_ms, 111); /* file, no env, no flag */
    assert_string_equal(c.listen_host, "10.0.0.3");
    assert_int_equal(c.listen_port, 3333);
    assert_int_equal(c.log_level, SB_LOG_DEBUG);
    assert_true(c.require_auth);
    assert_string_equal(c.api_key, "flag");
    config_free(&c);

    /* Flags over the environment without a file. */
    assert_int_equal(LOAD(&c, "--ping-timeout", "444"), CONFIG_OK);
    assert_int_equal(c.ping_timeout_ms, 444);
    assert_int_equal(c.ping_interval_ms, 222);
    config_free(&c);

    clean_env(NULL);
    drop_temp_file(path);
}

static void config_file_is_found(void **state)
{
    (void)state;
    char *a = temp_file("api-key from-a\n");
    char *b = temp_file("api-key from-b\n");
    struct config c;

    /* From SWITCHBOARD_CONFIG. */
    setenv("SWITCHBOARD_CONFIG", a, 1);
    const char *none[] = {NULL};
    assert_int_equal(load_argv(&c, 0, none), CONFIG_OK);
    assert_string_equal(c.api_key, "from-a");
    assert_string_equal(c.config_file, a);
    config_free(&c);

    /* --config over SWITCHBOARD_CONFIG, in both flag forms. */
    assert_int_equal(LOAD(&c, "--config", b), CONFIG_OK);
    assert_string_equal(c.api_key, "from-b");
    assert_string_equal(c.config_file, b);
    config_free(&c);
    char flag[256];
    snprintf(flag, sizeof(flag), "--config=%s", b);
    assert_int_equal(LOAD(&c, flag), CONFIG_OK);
    assert_string_equal(c.api_key, "from-b");
    config_free(&c);
    unsetenv("SWITCHBOARD_CONFIG");

    /* The last --config wins. */
    assert_int_equal(LOAD(&c, "--config", a, "--config", b), CONFIG_OK);
    assert_string_equal(c.api_key, "from-b");
    config_free(&c);

    drop_temp_file(a);
    drop_temp_file(b);
}

static void redis_url_alias(void **state)
{
    (void)state;
    struct config c;
    const char *none[] = {NULL};
    setenv("SWITCHBOARD_REDIS_URL", "redis://alias:1", 1);
    assert_int_equal(load_argv(&c, 0, none), CONFIG_OK);
    assert_string_equal(c.redis_url, "redis://alias:1");
    config_free(&c);

    setenv("SWITCHBOARD_REDIS", "redis://main:2", 1);
    assert_int_equal(load_argv(&c, 0, none), CONFIG_OK);
    assert_string_equal(c.redis_url, "redis://main:2");
    config_free(&c);

    assert_int_equal(LOAD(&c, "--redis", "redis://flag:3"), CONFIG_OK);
    assert_string_equal(c.redis_url, "redis://flag:3");
    config_free(&c);
    clean_env(NULL);
}

static void lists_accumulate_within_a_layer_and_replace_lower_layers(void **state)
{
    (void)state;
    char *path = temp_file("plugin a=1\n"
                           "plugin b\n"
                           "static /x=dx\n"
                           "static dy\n"
                           "interceptor ia\n"
                           "interceptor ib\n");
    char cfg[256];
    snprintf(cfg, sizeof(cfg), "--config=%s", path);
    struct config c;

    /* Repeated keys of the file add up, in order. */
    assert_int_equal(LOAD(&c, cfg), CONFIG_OK);
    assert_int_equal(c.nplugins, 2);
    assert_string_equal(c.plugins[0].name, "a");
    assert_string_equal(c.plugins[0].config, "1");
    assert_string_equal(c.plugins[1].name, "b");
    assert_null(c.plugins[1].config);
    assert_int_equal(c.nstatics, 2);
    assert_string_equal(c.statics[0].prefix, "/x");
    assert_string_equal(c.statics[0].dir, "dx");
    assert_string_equal(c.statics[1].prefix, "/");
    assert_string_equal(c.statics[1].dir, "dy");
    assert_int_equal(c.ninterceptors, 2);
    assert_string_equal(c.interceptors[0], "ia");
    assert_string_equal(c.interceptors[1], "ib");
    config_free(&c);

    /* The environment's list, split at whitespace, replaces the file's. */
    setenv("SWITCHBOARD_PLUGIN", " c=x=y\t d \n", 1);
    setenv("SWITCHBOARD_STATIC", "/s=ds", 1);
    assert_int_equal(LOAD(&c, cfg), CONFIG_OK);
    assert_int_equal(c.nplugins, 2);
    assert_string_equal(c.plugins[0].name, "c");
    assert_string_equal(c.plugins[0].config, "x=y");
    assert_string_equal(c.plugins[1].name, "d");
    assert_int_equal(c.nstatics, 1);
    assert_string_equal(c.statics[0].prefix, "/s");
    assert_string_equal(c.statics[0].dir, "ds");
    assert_int_equal(c.ninterceptors, 2); /* no environment: the file's */
    config_free(&c);

    /* Repeated flags add up and replace the environment's list. */
    assert_int_equal(LOAD(&c, cfg, "--plugin", "e", "--plugin=f=2", "--interceptor", "ic",
                          "--static", "/t=dt", "--static=du"),
                     CONFIG_OK);
    assert_int_equal(c.nplugins, 2);
    assert_string_equal(c.plugins[0].name, "e");
    assert_null(c.plugins[0].config);
    assert_string_equal(c.plugins[1].name, "f");
    assert_string_equal(c.plugins[1].config, "2");
    assert_int_equal(c.ninterceptors, 1);
    assert_string_equal(c.interceptors[0], "ic");
    assert_int_equal(c.nstatics, 2);
    assert_string_equal(c.statics[0].prefix, "/t");
    assert_string_equal(c.statics[1].prefix, "/");
    assert_string_equal(c.statics[1].dir, "du");
    config_free(&c);

    /* An environment list of only whitespace leaves the file's list alone. */
    setenv("SWITCHBOARD_PLUGIN", "  ", 1);
    assert_int_equal(LOAD(&c, cfg), CONFIG_OK);
    assert_int_equal(c.nplugins, 2);
    assert_string_equal(c.plugins[0].name, "a");
    config_free(&c);

    /* A bad element anywhere in the environment's list is refused. */
    setenv("SWITCHBOARD_PLUGIN", "ok =bad", 1);
    assert_int_equal(LOAD(&c, cfg), CONFIG_USAGE);
    assert_out_has("switchboard: SWITCHBOARD_PLUGIN: invalid value '=bad': expected NAME[=CONFIG]");
    config_free(&c);

    clean_env(NULL);
    drop_temp_file(path);
}

static void config_file_syntax(void **state)
{
    (void)state;
    /* Comments, blank lines, spaces, tabs, `=` and a later key winning. */
    char *path = temp_file("# comment\n"
                           "   \n"
                           "\tping-interval\t  100  \n"
                           "ping-timeout=200\n"
                           "  connect-timeout   =   300\n"
                           "api-key  two words  \n"
                           "ping-interval 150\n"
                           "  # indented comment\n"
                           "lua-trusted yes"); /* no final newline */
    char cfg[256];
    snprintf(cfg, sizeof(cfg), "--config=%s", path);
    struct config c;
    assert_int_equal(LOAD(&c, cfg), CONFIG_OK);
    assert_string_equal(out, "");
    assert_int_equal(c.ping_interval_ms, 150);
    assert_int_equal(c.ping_timeout_ms, 200);
    assert_int_equal(c.connect_timeout_ms, 300);
    assert_string_equal(c.api_key, "two words");
    assert_true(c.lua_trusted);
    config_free(&c);
    drop_temp_file(path);

    /* An empty file is no option. */
    path = temp_file("");
    snprintf(cfg, sizeof(cfg), "--config=%s", path);
    assert_int_equal(LOAD(&c, cfg), CONFIG_OK);
    assert_int_equal(c.ping_interval_ms, 25000);
    config_free(&c);
    drop_temp_file(path);
}

static void config_file_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *msg; /* after "switchboard: <path>:" */
    } cases[] = {
        {"nope 1\n", "1: unknown option 'nope'"},
        {"# ok\nping-interval 100\nbogus-key = 3\n", "3: unknown option 'bogus-key'"},
        {"config /etc/other\n", "1: unknown option 'config'"}, /* no nested files */
        {"--listen :1\n", "1: unknown option '--listen'"},
        {"Listen :1\n", "1: unknown option 'Listen'"},
        {"=5\n", "1: unknown option ''"},
        {"ping-interval\n", "1: ping-interval: invalid value '': expected an integer"},
        {"ping-interval =\n", "1: ping-interval: invalid value '': expected an integer"},
        {"ping-interval 1 2\n", "1: ping-interval: invalid value '1 2': expected an integer"},
        {"listen\n", "1: listen: invalid value '': expected ADDR:PORT"},
        {"lua-trusted\n", "1: lua-trusted: invalid value '': expected true or false"},
        {"log-level loud\n", "1: log-level: invalid value 'loud': expected error, warn"},
        {"plugin\n", "1: plugin: invalid value '': expected NAME[=CONFIG]"},
        {"\n\n\nmax-queue 1023\n", "4: max-queue: invalid value '1023': expected an integer "
                                   "from 1024 to 1073741824"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *path = temp_file(cases[i].text);
        char cfg[256], msg[512];
        snprintf(cfg, sizeof(cfg), "--config=%s", path);
        snprintf(msg, sizeof(msg), "switchboard: %s:%s", path, cases[i].msg);
        struct config c;
        if (LOAD(&c, cfg) != CONFIG_USAGE)
            fail_msg("file \"%s\": accepted", cases[i].text);
        assert_out_has(msg);
        config_free(&c);
        /* A flag does not rescue a bad file. */
        assert_int_equal(LOAD(&c, cfg, "--ping-interval", "100", "--listen", ":1"), CONFIG_USAGE);
        assert_out_has(msg);
        config_free(&c);
        drop_temp_file(path);
    }

    /*
     * A line longer than the reader's buffer is refused, not cut in two lines: the rest of an
     * api-key would otherwise become a key of its own (here `static`).
     */
    struct config c;
    static char text[8192];
    for (size_t at = 0; at < 2; at++) {
        char *p = text;
        if (at)
            p += sprintf(p, "# first\n");
        p += sprintf(p, "api-key ");
        memset(p, 'k', 4095 - 8);
        p += 4095 - 8;
        sprintf(p, "static /x=y\n");
        char *path = temp_file(text);
        char cfg[256], msg[512];
        snprintf(cfg, sizeof(cfg), "--config=%s", path);
        snprintf(msg, sizeof(msg), "switchboard: %s:%d: line longer than 4094 bytes", path,
                 (int)at + 1);
        assert_int_equal(LOAD(&c, cfg), CONFIG_USAGE);
        assert_out_has(msg);
        config_free(&c);
        drop_temp_file(path);
    }
    /* The longest line that fits, terminated or last and unterminated, is read. */
    for (int nl = 0; nl < 2; nl++) {
        memset(text, 0, sizeof(text));
        memcpy(text, "api-key ", 8);
        memset(text + 8, 'k', 4094 - 8);
        if (nl)
            text[4094] = '\n';
        else
            text[4094] = 'k'; /* 4095 bytes: fills the buffer, then the end of the file */
        char *path = temp_file(text);
        char cfg[256];
        snprintf(cfg, sizeof(cfg), "--config=%s", path);
        assert_int_equal(LOAD(&c, cfg), CONFIG_OK);
        assert_int_equal(strlen(c.api_key), nl ? 4094 - 8 : 4095 - 8);
        config_free(&c);
        drop_temp_file(path);
    }

    /* A file that cannot be read, from a flag or the environment. */
    assert_int_equal(LOAD(&c, "--config", "/nonexistent/sb.conf"), CONFIG_USAGE);
    assert_out_has("switchboard: cannot read config file /nonexistent/sb.conf: No such file");
    config_free(&c);
    setenv("SWITCHBOARD_CONFIG", "/nonexistent/env.conf", 1);
    const char *none[] = {NULL};
    assert_int_equal(load_argv(&c, 0, none), CONFIG_USAGE);
    assert_out_has("switchboard: cannot read config file /nonexistent/env.conf");
    config_free(&c);
    unsetenv("SWITCHBOARD_CONFIG");
    assert_int_equal(LOAD(&c, "--config", "/tmp"), CONFIG_USAGE);
    assert_out_has("switchboard: cannot read config file /tmp: Is a directory");
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(options_match_the_usage, clean_env),
        cmocka_unit_test_setup(defaults, clean_env),
        cmocka_unit_test_setup(every_option_takes_its_good_values, clean_env),
        cmocka_unit_test_setup(bare_bool_flags_and_repeated_flags, clean_env),
        cmocka_unit_test_setup(tls_cert_and_key_go_together, clean_env),
        cmocka_unit_test_setup(every_bad_value_is_refused, clean_env),
        cmocka_unit_test_setup(a_missing_argument_is_refused, clean_env),
        cmocka_unit_test_setup(unknown_options_and_arguments_are_refused, clean_env),
        cmocka_unit_test_setup(help_and_version_exit, clean_env),
        cmocka_unit_test_setup(flags_win_over_environment_over_file, clean_env),
        cmocka_unit_test_setup(config_file_is_found, clean_env),
        cmocka_unit_test_setup(redis_url_alias, clean_env),
        cmocka_unit_test_setup(lists_accumulate_within_a_layer_and_replace_lower_layers, clean_env),
        cmocka_unit_test_setup(config_file_syntax, clean_env),
        cmocka_unit_test_setup(config_file_errors, clean_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
