#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"
#include "../util/util.h"

#include <strings.h>

enum opt_type {
    OT_STRING,
    OT_LISTEN,
    OT_U32,
    OT_U64,
    OT_BOOL,
    OT_LEVEL,
    OT_LOG_FORMAT,
    OT_PLUGIN,
    OT_STATIC,
    OT_INTERCEPTOR,
    OT_ORIGINS, /* comma-separated browser origins, or * */
};

struct opt {
    const char *name;    /* flag without "--", file key */
    const char *env;     /* environment variable */
    const char *metavar; /* shown in usage */
    enum opt_type type;
    size_t offset;
    uint64_t min, max; /* numeric bounds */
    const char *help;
};

#define OFF(f) offsetof(struct config, f)

/* The one table of options: usage, flags, environment and file keys all come from it. */
static const struct opt opts[] = {
    {"listen", "SWITCHBOARD_LISTEN", "ADDR:PORT", OT_LISTEN, OFF(listen_host), 0, 0,
     "address and port to listen on (default 0.0.0.0:3000)"},
    {"scripts", "SWITCHBOARD_SCRIPTS", "DIR", OT_STRING, OFF(scripts_dir), 0, 0,
     "directory of Lua gateways, every *.lua file (default ./scripts)"},
    {"plugin", "SWITCHBOARD_PLUGIN", "NAME[=CONFIG]", OT_PLUGIN, 0, 0, 0,
     "load a plugin: a shipped name (auth-static, auth-jwt, auth-http, propagate,\n"
     "rate-limit, acl, audit-log) or a path to a .so; repeatable; the environment\n"
     "variable takes several separated by spaces"},
    {"interceptor", "SWITCHBOARD_INTERCEPTOR", "NAME", OT_INTERCEPTOR, 0, 0, 0,
     "run the interceptor hooks of loaded plugin NAME for every gateway (a global\n"
     "interceptor); repeatable"},
    {"plugin-dir", "SWITCHBOARD_PLUGIN_DIR", "DIR", OT_STRING, OFF(plugin_dir), 0, 0,
     "where shipped plugins are found (default: plugins/ next to the binary, then the\n"
     "install directory)"},
    {"redis", "SWITCHBOARD_REDIS", "URL", OT_STRING, OFF(redis_url), 0, 0,
     "redis://[:password@]host:port[/db]: the cluster bus through Redis, or\n"
     "redis+sentinel://[:password@]host:port[,host:port...]/mastername[/db]: the master\n"
     "Redis Sentinel names (default: the local bus); also SWITCHBOARD_REDIS_URL"},
    {"redis-prefix", "SWITCHBOARD_REDIS_PREFIX", "PREFIX", OT_STRING, OFF(redis_prefix), 0, 0,
     "channel prefix of the socket.io Redis adapter protocol (default socket.io)"},
    {"api-key", "SWITCHBOARD_API_KEY", "KEY", OT_STRING, OFF(api_key), 0, 0,
     "enables POST /api/emit for requests with `Authorization: Bearer KEY`"},
    {"handshake-headers", "SWITCHBOARD_HANDSHAKE_HEADERS", "LIST", OT_STRING,
     OFF(handshake_headers), 0, 0,
     "request headers kept for gateways (socket.headers), comma-separated, among host,\n"
     "origin, user-agent, x-forwarded-for, cookie, accept-language, referer\n"
     "(default origin,user-agent,x-forwarded-for)"},
    {"cors-origin", "SWITCHBOARD_CORS_ORIGIN", "LIST", OT_ORIGINS, OFF(cors_origin), 0, 0,
     "answer HTTP long-polling requests from these browser origins with CORS headers\n"
     "and the OPTIONS preflight: origins (scheme://host[:port]) comma-separated, or *\n"
     "for any (default: none, as socket.io)"},
    {"cors-credentials", "SWITCHBOARD_CORS_CREDENTIALS", "[=BOOL]", OT_BOOL, OFF(cors_credentials),
     0, 0, "allow cookies on those cross-origin requests (default false)"},
    {"allowed-origins", "SWITCHBOARD_ALLOWED_ORIGINS", "LIST", OT_ORIGINS, OFF(allowed_origins), 0,
     0,
     "refuse new sessions (both transports) whose Origin header is not in LIST with\n"
     "403 (comma-separated origins, or *; a request without Origin is allowed;\n"
     "default: any)"},
    {"tls-cert", "SWITCHBOARD_TLS_CERT", "FILE", OT_STRING, OFF(tls_cert), 0, 0,
     "serve https:// and wss:// (only) with this PEM certificate chain, the server's\n"
     "certificate first; needs --tls-key; SIGHUP reloads it (default: plain http)"},
    {"tls-key", "SWITCHBOARD_TLS_KEY", "FILE", OT_STRING, OFF(tls_key), 0, 0,
     "the PEM private key of --tls-cert (not encrypted)"},
    {"tls-ciphers", "SWITCHBOARD_TLS_CIPHERS", "LIST", OT_STRING, OFF(tls_ciphers), 0, 0,
     "OpenSSL cipher list for TLS 1.2 (TLS 1.2 is the minimum; default: Mozilla's\n"
     "intermediate list, ECDHE with AES-GCM or ChaCha20-Poly1305)"},
    {"config", "SWITCHBOARD_CONFIG", "FILE", OT_STRING, OFF(config_file), 0, 0,
     "read options from FILE: one `key value` per line, # comments"},
    {"log-level", "SWITCHBOARD_LOG_LEVEL", "LEVEL", OT_LEVEL, OFF(log_level), 0, 0,
     "error, warn, info or debug (default info)"},
    {"log-format", "SWITCHBOARD_LOG_FORMAT", "FORMAT", OT_LOG_FORMAT, OFF(log_format), 0, 0,
     "text, or json: one JSON object a line (time, level, subsystem, message, and\n"
     "socket, user, namespace, reason when known; default text)"},
    {"ping-interval", "SWITCHBOARD_PING_INTERVAL", "MS", OT_U32, OFF(ping_interval_ms), 10,
     86400000, "Engine.IO ping interval in ms (default 25000)"},
    {"ping-timeout", "SWITCHBOARD_PING_TIMEOUT", "MS", OT_U32, OFF(ping_timeout_ms), 10, 86400000,
     "close a connection whose pong is this late, in ms (default 20000)"},
    {"connect-timeout", "SWITCHBOARD_CONNECT_TIMEOUT", "MS", OT_U32, OFF(connect_timeout_ms), 10,
     86400000, "close a Socket.IO connection that joins no namespace in time (default 45000)"},
    {"auth-timeout", "SWITCHBOARD_AUTH_TIMEOUT", "MS", OT_U32, OFF(auth_timeout_ms), 10, 600000,
     "refuse a connection whose token an auth plugin has not answered in time\n"
     "(\"authentication timed out\"; default 5000)"},
    {"auth-refresh-grace", "SWITCHBOARD_AUTH_REFRESH_GRACE", "MS", OT_U32,
     OFF(auth_refresh_grace_ms), 10, 3600000,
     "when a token an auth plugin gave an expiry expires, how long the client has to\n"
     "answer the `refresh` event with a new one (\"token expired\"; default 30000)"},
    {"max-payload", "SWITCHBOARD_MAX_PAYLOAD", "BYTES", OT_U64, OFF(max_payload), 64, 1u << 30,
     "largest inbound message; larger closes with 1009 (default 1000000)"},
    {"max-queue", "SWITCHBOARD_MAX_QUEUE", "BYTES", OT_U64, OFF(max_queue), 1024, 1u << 30,
     "largest outbound queue per connection; more closes with 1008 (default 1048576)"},
    {"write-delay", "SWITCHBOARD_WRITE_DELAY", "MS", OT_U32, OFF(write_delay_ms), 0, 100,
     "hold outbound frames up to MS so that more of them share one write\n"
     "(default 0: written at the end of the loop iteration that queued them)"},
    {"max-connections", "SWITCHBOARD_MAX_CONNECTIONS", "N", OT_U32, OFF(max_connections), 0,
     10000000, "refuse connections beyond N with HTTP 503 (default: open-file limit - 64)"},
    {"static", "SWITCHBOARD_STATIC", "[PREFIX=]DIR", OT_STATIC, 0, 0, 0,
     "serve the files of DIR over HTTP under PREFIX (default /); repeatable"},
    {"shutdown-timeout", "SWITCHBOARD_SHUTDOWN_TIMEOUT", "MS", OT_U32, OFF(shutdown_timeout_ms), 0,
     3600000, "on SIGTERM/SIGINT, time allowed to flush queues (default 10000)"},
    {"lua-time-limit", "SWITCHBOARD_LUA_TIME_LIMIT", "MS", OT_U32, OFF(lua_time_limit_ms), 0,
     600000, "stop gateway code that runs longer than MS (default 100; 0 = no limit)"},
    {"lua-memory-limit", "SWITCHBOARD_LUA_MEMORY_LIMIT", "MB", OT_U32, OFF(lua_memory_limit_mb), 0,
     1048576, "cap the gateways' Lua heap at MB MiB (default 256; 0 = no limit)"},
    {"lua-redis-timeout", "SWITCHBOARD_LUA_REDIS_TIMEOUT", "MS", OT_U32, OFF(lua_redis_timeout_ms),
     1, 600000, "deadline of redis.call() in gateways (default 1000)"},
    {"lua-trusted", "SWITCHBOARD_LUA_TRUSTED", "[=BOOL]", OT_BOOL, OFF(lua_trusted), 0, 0,
     "give gateways every standard library (io, os, debug, load; default false)"},
    {"allow-eio3", "SWITCHBOARD_ALLOW_EIO3", "[=BOOL]", OT_BOOL, OFF(allow_eio3), 0, 0,
     "serve socket.io 2.x clients (Engine.IO v3, Socket.IO protocol v4), as socket.io's\n"
     "allowEIO3 (default true; false answers them HTTP 400 code 5)"},
    {"require-auth", "SWITCHBOARD_REQUIRE_AUTH", "[=BOOL]", OT_BOOL, OFF(require_auth), 0, 0,
     "refuse connections without a token (default false)"},
};

void config_usage(FILE *out)
{
    fprintf(out,
            "usage: switchboard [options]\n\n"
            "options (each also SWITCHBOARD_<NAME> in the environment and `name value`\n"
            "in the config file; flags win over the environment, which wins over the file):\n");
    for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s%s%s", opts[i].name, opts[i].type == OT_BOOL ? "" : " ",
                 opts[i].metavar);
        fprintf(out, "  %-30s ", flag);
        for (const char *p = opts[i].help; *p; p++) {
            fputc(*p, out);
            if (*p == '\n')
                fprintf(out, "  %-30s ", "");
        }
        fputc('\n', out);
    }
    fprintf(out, "  %-30s print this help\n  %-30s print the version\n", "--help", "--version");
}

static void set_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    c->listen_host = strdup("0.0.0.0");
    c->listen_port = 3000;
    c->scripts_dir = strdup("./scripts");
    c->redis_prefix = strdup("socket.io");
    c->handshake_headers = strdup("origin,user-agent,x-forwarded-for");
    c->tls_ciphers = strdup(CONFIG_TLS_CIPHERS);
    c->log_level = SB_LOG_INFO;
    c->ping_interval_ms = 25000;
    c->ping_timeout_ms = 20000;
    c->allow_eio3 = true;
    c->connect_timeout_ms = 45000;
    c->auth_timeout_ms = 5000;
    c->auth_refresh_grace_ms = 30000;
    c->max_payload = 1000000;
    c->max_queue = 1048576;
    c->max_connections = 0;
    c->shutdown_timeout_ms = 10000;
    c->lua_time_limit_ms = 100;
    c->lua_memory_limit_mb = 256;
    c->lua_redis_timeout_ms = 1000;
}

static void free_plugins(struct config *c)
{
    for (size_t i = 0; i < c->nplugins; i++) {
        free(c->plugins[i].name);
        free(c->plugins[i].config);
    }
    free(c->plugins);
    c->plugins = NULL;
    c->nplugins = 0;
}

static void free_interceptors(struct config *c)
{
    for (size_t i = 0; i < c->ninterceptors; i++)
        free(c->interceptors[i]);
    free(c->interceptors);
    c->interceptors = NULL;
    c->ninterceptors = 0;
}

static int add_interceptor(struct config *c, const char *value)
{
    if (!*value)
        return -1;
    char **v = realloc(c->interceptors, (c->ninterceptors + 1) * sizeof(*v));
    if (!v)
        return -1;
    c->interceptors = v;
    v[c->ninterceptors] = strdup(value);
    return v[c->ninterceptors++] ? 0 : -1;
}

static void free_statics(struct config *c)
{
    for (size_t i = 0; i < c->nstatics; i++) {
        free(c->statics[i].prefix);
        free(c->statics[i].dir);
    }
    free(c->statics);
    c->statics = NULL;
    c->nstatics = 0;
}

void config_free(struct config *c)
{
    free(c->listen_host);
    free(c->scripts_dir);
    free(c->redis_url);
    free(c->redis_prefix);
    free(c->api_key);
    free(c->handshake_headers);
    free(c->cors_origin);
    free(c->allowed_origins);
    free(c->config_file);
    free(c->plugin_dir);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->tls_ciphers);
    free_plugins(c);
    free_interceptors(c);
    free_statics(c);
    memset(c, 0, sizeof(*c));
}

/* Where a value came from, for error messages. */
struct origin {
    const char *what; /* "flag", "environment variable", "config file" */
    const char *file;
    int line;
};

static void bad_value(const struct origin *o, const struct opt *opt, const char *value,
                      const char *why)
{
    if (o->file)
        fprintf(stderr, "switchboard: %s:%d: %s: invalid value '%s': %s\n", o->file, o->line,
                opt->name, value, why);
    else if (strcmp(o->what, "flag") == 0)
        fprintf(stderr, "switchboard: --%s: invalid value '%s': %s\n", opt->name, value, why);
    else
        fprintf(stderr, "switchboard: %s: invalid value '%s': %s\n", opt->env, value, why);
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (!*s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

static int add_plugin(struct config *c, const char *value)
{
    const char *eq = strchr(value, '=');
    size_t nlen = eq ? (size_t)(eq - value) : strlen(value);
    if (nlen == 0)
        return -1;
    struct config_plugin *p = realloc(c->plugins, (c->nplugins + 1) * sizeof(*p));
    if (!p)
        return -1;
    c->plugins = p;
    p[c->nplugins].name = strndup(value, nlen);
    p[c->nplugins].config = eq ? strdup(eq + 1) : NULL;
    c->nplugins++;
    return 0;
}

static int add_static(struct config *c, const char *value)
{
    const char *eq = strchr(value, '=');
    const char *dir = eq ? eq + 1 : value;
    if (!*dir || (eq && value[0] != '/'))
        return -1;
    struct config_static *s = realloc(c->statics, (c->nstatics + 1) * sizeof(*s));
    if (!s)
        return -1;
    c->statics = s;
    s[c->nstatics].prefix = eq ? strndup(value, (size_t)(eq - value)) : strdup("/");
    s[c->nstatics].dir = strdup(dir);
    c->nstatics++;
    return 0;
}

/* A list of browser origins as a browser sends them (RFC 6454: scheme "://" host [":" port], no
 * path), comma-separated with optional spaces, or `*`. Returns why not, or NULL. */
static const char *origins_error(const char *value)
{
    const char *p = value;
    for (;;) {
        while (*p == ' ')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ')
            p++;
        size_t len = (size_t)(p - start);
        while (*p == ' ')
            p++;
        if (!len)
            return "an empty origin in the list";
        if (len > CONFIG_ORIGIN_MAX)
            return "an origin longer than 200 characters";
        if (!(len == 1 && *start == '*')) {
            const char *sep = memchr(start, ':', len);
            size_t scheme = sep ? (size_t)(sep - start) : 0;
            if (!sep || !scheme || len < scheme + 4 || memcmp(sep, "://", 3) != 0)
                return "expected scheme://host[:port] (e.g. https://app.example.com) or *";
            for (const char *q = sep + 3; q < start + len; q++)
                if (*q == '/' || *q == '?' || *q == '#' || *q == '*')
                    return "an origin has no path, query or wildcard: scheme://host[:port]";
        }
        if (!*p)
            return NULL;
        if (*p != ',')
            return "origins are separated by commas";
        p++;
    }
}

/*
 * Applies one value. `first_of_layer` tells a repeatable option that this is its first value in
 * the current layer, so a higher layer replaces the lower layer's list instead of adding to it.
 */
static int apply(struct config *c, const struct opt *o, const char *value, bool first_of_layer,
                 const struct origin *org)
{
    char *base = (char *)c;
    switch (o->type) {
    case OT_STRING: {
        char **dst = (char **)(void *)(base + o->offset);
        free(*dst);
        *dst = strdup(value);
        return 0;
    }
    case OT_ORIGINS: {
        const char *why = origins_error(value);
        if (why) {
            bad_value(org, o, value, why);
            return -1;
        }
        char **dst = (char **)(void *)(base + o->offset);
        free(*dst);
        *dst = strdup(value);
        return 0;
    }
    case OT_LISTEN: {
        const char *colon = strrchr(value, ':');
        uint64_t port;
        if (!colon || parse_u64(colon + 1, &port) || port > 65535) {
            bad_value(org, o, value, "expected ADDR:PORT with a port from 0 to 65535");
            return -1;
        }
        const char *host = value;
        size_t hlen = (size_t)(colon - value);
        if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
            host++;
            hlen -= 2;
        }
        if (memchr(host, '[', hlen) || memchr(host, ']', hlen)) {
            bad_value(org, o, value, "expected ADDR:PORT, an IPv6 address as [ADDR]:PORT");
            return -1;
        }
        free(c->listen_host);
        c->listen_host = hlen ? strndup(host, hlen) : strdup("0.0.0.0");
        c->listen_port = (int)port;
        return 0;
    }
    case OT_U32:
    case OT_U64: {
        uint64_t v;
        if (parse_u64(value, &v) || v < o->min || v > o->max) {
            char why[96];
            snprintf(why, sizeof(why), "expected an integer from %llu to %llu",
                     (unsigned long long)o->min, (unsigned long long)o->max);
            bad_value(org, o, value, why);
            return -1;
        }
        if (o->type == OT_U32)
            *(uint32_t *)(void *)(base + o->offset) = (uint32_t)v;
        else
            *(uint64_t *)(void *)(base + o->offset) = v;
        return 0;
    }
    case OT_BOOL:
        if (parse_bool(value, (bool *)(void *)(base + o->offset))) {
            bad_value(org, o, value, "expected true or false");
            return -1;
        }
        return 0;
    case OT_LEVEL: {
        int level = log_level_parse(value);
        if (level < 0) {
            bad_value(org, o, value, "expected error, warn, info or debug");
            return -1;
        }
        c->log_level = level;
        return 0;
    }
    case OT_LOG_FORMAT: {
        int format = log_format_parse(value);
        if (format < 0) {
            bad_value(org, o, value, "expected text or json");
            return -1;
        }
        c->log_format = format;
        return 0;
    }
    case OT_PLUGIN:
        if (first_of_layer)
            free_plugins(c);
        if (add_plugin(c, value)) {
            bad_value(org, o, value, "expected NAME[=CONFIG]");
            return -1;
        }
        return 0;
    case OT_INTERCEPTOR:
        if (first_of_layer)
            free_interceptors(c);
        if (add_interceptor(c, value)) {
            bad_value(org, o, value, "expected a plugin name");
            return -1;
        }
        return 0;
    case OT_STATIC:
        if (first_of_layer)
            free_statics(c);
        if (add_static(c, value)) {
            bad_value(org, o, value, "expected DIR or /PREFIX=DIR");
            return -1;
        }
        return 0;
    }
    return -1;
}

static const struct opt *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int load_file(struct config *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "switchboard: cannot read config file %s: %s\n", path, strerror(errno));
        return -1;
    }
    bool seen[ARRAY_SIZE(opts)] = {0};
    char line[4096];
    struct origin org = {"config file", path, 0};
    int rc = 0;
    while (fgets(line, sizeof(line), f)) {
        org.line++;
        if (!strchr(line, '\n')) {
            int next = getc(f);
            if (next != EOF) { /* not the unterminated last line: the line does not fit */
                fprintf(stderr, "switchboard: %s:%d: line longer than %zu bytes\n", path, org.line,
                        sizeof(line) - 2);
                rc = -1;
                break;
            }
        }
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        size_t klen = strcspn(s, " \t=");
        const struct opt *o = find_opt(s, klen);
        if (!o || strcmp(o->name, "config") == 0) {
            fprintf(stderr, "switchboard: %s:%d: unknown option '%.*s'\n", path, org.line,
                    (int)klen, s);
            rc = -1;
            break;
        }
        char *v = trim(s + klen);
        if (*v == '=')
            v = trim(v + 1);
        size_t idx = (size_t)(o - opts);
        if (apply(c, o, v, !seen[idx], &org)) {
            rc = -1;
            break;
        }
        seen[idx] = true;
    }
    if (rc == 0 && ferror(f)) { /* a directory, an I/O error: not an empty file */
        fprintf(stderr, "switchboard: cannot read config file %s: %s\n", path, strerror(errno));
        rc = -1;
    }
    fclose(f);
    return rc;
}

static const char *env_get(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static int load_env(struct config *c, char **envp)
{
    struct origin org = {"environment variable", NULL, 0};
    for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
        const struct opt *o = &opts[i];
        const char *v = env_get(envp, o->env);
        if (!v && strcmp(o->name, "redis") == 0)
            v = env_get(envp, "SWITCHBOARD_REDIS_URL");
        if (!v || strcmp(o->name, "config") == 0)
            continue;
        if (o->type == OT_PLUGIN || o->type == OT_STATIC || o->type == OT_INTERCEPTOR) {
            /* Several values separated by whitespace. */
            char *copy = strdup(v), *save = NULL;
            bool first = true;
            int rc = 0;
            for (char *tok = strtok_r(copy, " \t\n", &save); tok && !rc;
                 tok = strtok_r(NULL, " \t\n", &save)) {
                rc = apply(c, o, tok, first, &org);
                first = false;
            }
            free(copy);
            if (rc)
                return -1;
            continue;
        }
        if (apply(c, o, v, true, &org))
            return -1;
    }
    return 0;
}

enum config_result config_load(struct config *c, int argc, char **argv, char **envp)
{
    set_defaults(c);

    /* First pass: --help, --version, --config and unknown flags, so the file is read first. */
    const char *config_file = env_get(envp, "SWITCHBOARD_CONFIG");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            config_usage(stdout);
            return CONFIG_EXIT;
        }
        if (strcmp(a, "--version") == 0) {
            printf("switchboard %s (plugin ABI %d.%d)\n", SB_VERSION, SB_PLUGIN_ABI_MAJOR,
                   SB_PLUGIN_ABI_MINOR);
            return CONFIG_EXIT;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "switchboard: unexpected argument '%s'\n", a);
            config_usage(stderr);
            return CONFIG_USAGE;
        }
        size_t nlen = strcspn(a + 2, "=");
        const struct opt *o = find_opt(a + 2, nlen);
        if (!o) {
            fprintf(stderr, "switchboard: unknown option '%.*s'\n", (int)nlen + 2, a);
            config_usage(stderr);
            return CONFIG_USAGE;
        }
        bool inline_value = a[2 + nlen] == '=';
        if (!inline_value && o->type != OT_BOOL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "switchboard: option '--%s' needs a value (%s)\n", o->name,
                        o->metavar);
                config_usage(stderr);
                return CONFIG_USAGE;
            }
            i++;
        }
        if (strcmp(o->name, "config") == 0)
            config_file = inline_value ? a + 2 + nlen + 1 : argv[i];
    }

    if (config_file) {
        c->config_file = strdup(config_file);
        if (load_file(c, config_file))
            return CONFIG_USAGE;
    }
    if (load_env(c, envp))
        return CONFIG_USAGE;

    /* Second pass: apply the flags. */
    bool seen[ARRAY_SIZE(opts)] = {0};
    struct origin org = {"flag", NULL, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        size_t nlen = strcspn(a + 2, "=");
        const struct opt *o = find_opt(a + 2, nlen);
        const char *v;
        if (a[2 + nlen] == '=')
            v = a + 2 + nlen + 1;
        else if (o->type == OT_BOOL)
            v = "true";
        else
            v = argv[++i];
        if (strcmp(o->name, "config") == 0)
            continue;
        size_t idx = (size_t)(o - opts);
        if (apply(c, o, v, !seen[idx], &org)) {
            config_usage(stderr);
            return CONFIG_USAGE;
        }
        seen[idx] = true;
    }
    /* A certificate without its key (or a key without a certificate) cannot serve TLS, and
     * serving plain HTTP instead would be a surprise: refused, whatever layer set it. */
    if (!c->tls_cert != !c->tls_key) {
        fprintf(stderr, "switchboard: %s given without %s: TLS needs both\n",
                c->tls_cert ? "--tls-cert" : "--tls-key", c->tls_cert ? "--tls-key" : "--tls-cert");
        config_usage(stderr);
        return CONFIG_USAGE;
    }
    return CONFIG_OK;
}
