/*
 * switchboard: wiring the subsystems together on one libuv loop, bottom layer first
 * (config -> registry -> bus -> plugins -> gateways -> pipeline -> net; docs/architecture.md
 * follows one event through them), and taking them down in reverse on SIGTERM/SIGINT.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "bus/bus.h"
#include "config/config.h"
#include "log/log.h"
#include "lua/lua.h"
#include "metrics/metrics.h"
#include "net/net.h"
#include "pipeline/pipeline.h"
#include "plugin/plugin.h"
#include "registry/registry.h"

extern char **environ;

struct app {
    struct config cfg;
    uv_loop_t loop;
    struct registry reg;
    struct bus bus;
    struct plugins plugins;
    struct lua_host *lua;
    struct pipeline pipe;
    struct net net;
    uv_signal_t sigterm, sigint, sighup;
    int exit_code;
};

static struct app app;

/*
 * systemd's readiness protocol (sd_notify(3), the unit's Type=notify): systemd names a datagram
 * socket in $NOTIFY_SOCKET (a path, or '@' for an abstract name), and counts the service started
 * when "READY=1" arrives there, stopping at "STOPPING=1". The protocol is one datagram, stable
 * and documented for reimplementation, so it is written here rather than linking libsystemd.
 * Without the variable (not started by systemd) it does nothing.
 */
static void notify_systemd(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || (path[0] != '/' && path[0] != '@'))
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof(sa.sun_path)) {
        LOG_WARN("main", "NOTIFY_SOCKET is too long: systemd is not told '%s'", state);
        return;
    }
    memcpy(sa.sun_path, path, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0'; /* an abstract socket */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
                         (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
        LOG_WARN("main", "cannot tell systemd '%s' through %s: %s", state, path, strerror(errno));
    if (fd >= 0)
        close(fd);
}

static void stopped_cb(struct net *n)
{
    LOG_INFO("main", "all connections closed; stopping");
    uv_close((uv_handle_t *)&app.sigterm, NULL);
    uv_close((uv_handle_t *)&app.sigint, NULL);
    uv_close((uv_handle_t *)&app.sighup, NULL);
    luah_close(app.lua);
    net_destroy(n);
    /* After the connections: their last room departures still reach the engine. */
    bus_close(&app.bus);
}

static void signal_cb(uv_signal_t *h, int signum)
{
    static int count;
    if (++count > 1) {
        LOG_WARN("main", "second signal: exiting at once");
        exit(1);
    }
    LOG_INFO("main", "%s received: graceful shutdown", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    notify_systemd("STOPPING=1");
    net_shutdown(&app.net, stopped_cb);
}

static void sighup_cb(uv_signal_t *h, int signum)
{
    LOG_INFO("main", "SIGHUP received: reloading the gateways, the plugins%s",
             app.cfg.tls_cert ? " and the TLS certificate" : "");
    luah_reload_all(app.lua);
    plugins_reload(&app.plugins);
    net_tls_reload(&app.net);
}

static char *exe_dir(void)
{
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n <= 0)
        return NULL;
    path[n] = '\0';
    return strdup(dirname(path));
}

int main(int argc, char **argv)
{
    switch (config_load(&app.cfg, argc, argv, environ)) {
    case CONFIG_EXIT:
        return 0;
    case CONFIG_USAGE:
        return 2;
    case CONFIG_OK:
        break;
    }
    log_level = app.cfg.log_level;
    log_format = app.cfg.log_format;
    signal(SIGPIPE, SIG_IGN);
    LOG_INFO("main", "switchboard %s starting (pid %d)", SB_VERSION, (int)getpid());

    int rc = 1;
    uv_loop_init(&app.loop);
    registry_init(&app.reg);
    if (app.cfg.redis_url) {
        char err[256];
        if (bus_init_redis(&app.bus, &app.reg, &app.loop, app.cfg.redis_url, app.cfg.redis_prefix,
                           err, sizeof(err))) {
            fprintf(stderr, "switchboard: --redis: %s\n", err);
            registry_free(&app.reg);
            uv_loop_close(&app.loop);
            config_free(&app.cfg);
            return 2;
        }
    } else {
        bus_init_local(&app.bus, &app.reg);
    }

    char *dir = exe_dir();
    int err = plugins_load(&app.plugins, &app.cfg, dir, &app.loop, &app.bus, &app.reg);
    free(dir);
    if (err)
        goto out_plugins;
    struct lua_limits limits = {
        .time_ms = app.cfg.lua_time_limit_ms,
        .memory = (uint64_t)app.cfg.lua_memory_limit_mb << 20,
        .trusted = app.cfg.lua_trusted,
        .redis_timeout_ms = app.cfg.lua_redis_timeout_ms,
    };
    if (luah_new(&app.lua, &app.loop, app.cfg.scripts_dir, &app.bus, &app.plugins, &limits))
        goto out_plugins;
    luah_watch(app.lua);
    metrics_set_extra(luah_metrics, app.lua);
    app.pipe = (struct pipeline){.lua = app.lua, .plugins = &app.plugins, .bus = &app.bus};
    if (net_start(&app.net, &app.loop, &app.cfg, &app.reg, &app.bus, &app.plugins, &app.pipe))
        goto out_lua;

    uv_signal_init(&app.loop, &app.sigterm);
    uv_signal_start(&app.sigterm, signal_cb, SIGTERM);
    uv_signal_init(&app.loop, &app.sigint);
    uv_signal_start(&app.sigint, signal_cb, SIGINT);
    uv_signal_init(&app.loop, &app.sighup);
    uv_signal_start(&app.sighup, sighup_cb, SIGHUP);

    /* Listening, with every gateway and plugin loaded: started, for systemd. */
    notify_systemd("READY=1");
    uv_run(&app.loop, UV_RUN_DEFAULT);
    rc = 0;
    LOG_INFO("main", "stopped");

out_lua:
    if (rc) {
        luah_close(app.lua);
        net_destroy(&app.net);
    }
    metrics_set_extra(NULL, NULL);
    luah_free(app.lua);
out_plugins:
    plugins_unload(&app.plugins);
    if (rc) {
        /* On the way out after a failed start: close what the bus opened and let the loop
         * finish closing it. A clean stop closed it already. */
        bus_close(&app.bus);
        uv_run(&app.loop, UV_RUN_DEFAULT);
    }
    registry_free(&app.reg);
    if (uv_loop_close(&app.loop) != 0)
        LOG_DEBUG("main", "loop closed with handles still open");
    config_free(&app.cfg);
    return rc;
}
