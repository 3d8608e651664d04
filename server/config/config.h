/*
 * Configuration from, in increasing precedence: built-in defaults, the config file, SWITCHBOARD_*
 * environment variables, command-line flags. Every option has all three forms: the flag
 * `--ping-interval`, the variable SWITCHBOARD_PING_INTERVAL and the file key `ping-interval`.
 */
#ifndef SB_CONFIG_H
#define SB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The default of --tls-ciphers: Mozilla's "intermediate" configuration (version 5.7) for TLS 1.2,
 * forward-secret AEAD suites only, without its DHE suites (they need DH parameters, and every
 * client that has them has ECDHE). TLS 1.3 uses its own suites, all of which are strong
 * (net/tls.c). */
#define CONFIG_TLS_CIPHERS                                                                         \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"     \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* The longest origin --cors-origin and --allowed-origins accept (and a request may match). */
#define CONFIG_ORIGIN_MAX 200

struct config_plugin {
    char *name;   /* owned: a shipped plugin's name or a path to a .so */
    char *config; /* owned, NULL when absent */
};

struct config_static {
    char *prefix; /* owned: URL prefix, "/" by default */
    char *dir;    /* owned: directory served under the prefix */
};

struct config {
    char *listen_host; /* owned */
    int listen_port;
    char *scripts_dir; /* owned */
    struct config_plugin *plugins;
    size_t nplugins;
    char *redis_url;         /* owned, NULL = local bus */
    char *redis_prefix;      /* owned: channel prefix of the Redis adapter protocol */
    char *api_key;           /* owned, NULL = POST /api/emit disabled */
    char *handshake_headers; /* owned: comma-separated request headers kept for gateways */
    char *cors_origin;       /* owned, NULL = no CORS headers: origins, comma-separated, or * */
    char *allowed_origins;   /* owned, NULL = any: the Origin allow-list of new sessions */
    char *config_file;       /* owned, NULL = none */
    char *plugin_dir;        /* owned, NULL = next to the binary, then the install dir */
    char *tls_cert;          /* owned, NULL = plain HTTP and WebSocket: PEM certificate chain */
    char *tls_key;           /* owned: PEM private key of tls_cert (both or neither) */
    char *tls_ciphers;       /* owned: OpenSSL cipher list for TLS 1.2 (CONFIG_TLS_CIPHERS) */
    int log_level;
    int log_format; /* enum log_format */
    uint32_t ping_interval_ms;
    uint32_t ping_timeout_ms;
    uint32_t connect_timeout_ms;
    uint32_t auth_timeout_ms; /* how long an auth plugin may leave a token pending */
    /* how long a client has to answer `refresh` once its token expired (ABI 1.5 expiry) */
    uint32_t auth_refresh_grace_ms;
    uint64_t max_payload;     /* largest inbound message, bytes */
    uint64_t max_queue;       /* largest outbound queue per connection, bytes */
    uint32_t write_delay_ms;  /* outbound coalescing delay; 0 = end of the loop iteration */
    uint32_t max_connections; /* 0 = derived from the open-file limit */
    char **interceptors;      /* owned: plugins whose interceptor hooks run for every gateway */
    size_t ninterceptors;
    struct config_static *statics;
    size_t nstatics;
    uint32_t shutdown_timeout_ms;
    uint32_t lua_time_limit_ms;   /* 0 = no limit */
    uint32_t lua_memory_limit_mb; /* 0 = no limit */
    uint32_t lua_redis_timeout_ms;
    bool lua_trusted;
    bool require_auth;
    bool cors_credentials; /* Access-Control-Allow-Credentials: true with the CORS headers */
    bool allow_eio3;       /* serve Engine.IO v3 clients (socket.io 2.x) */
};

enum config_result {
    CONFIG_OK = 0,
    CONFIG_EXIT = 1,  /* --help or --version printed: exit 0 */
    CONFIG_USAGE = 2, /* a bad flag or value: usage printed, exit 2 */
};

/* Fills `c` from defaults, file, environment and argv. Messages go to stdout (help) or stderr
 * (errors). */
enum config_result config_load(struct config *c, int argc, char **argv, char **envp);
void config_free(struct config *c);
void config_usage(FILE *out);

#endif
