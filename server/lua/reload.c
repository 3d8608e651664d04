/*
 * Hot reload. The scripts directory (and its lib/ folder) is watched with libuv's fs events;
 * a burst of events (an editor writes a temp file, renames it, touches it) is gathered for
 * RELOAD_DELAY_MS, then each changed gateway is rebuilt and swapped in, alone. Connections are
 * untouched; a handler that is waiting finishes with the code it started with. A file that
 * fails to load leaves the previous version serving, logs the reason with file and line, and
 * shows in /metrics. A changed lib module reloads every gateway that uses lib modules. SIGHUP
 * reloads everything (subfolders of lib/ are not watched: use SIGHUP for them).
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../log/log.h"

#define RELOAD_DELAY_MS 50

struct reload_status {
    bool ok;
    uint64_t loads, failures;
    char name[]; /* the gateway's name (file name without .lua) */
};

void luah_reload_status(struct lua_host *lh, const char *path, int rc)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base) > 4 ? strlen(base) - 4 : strlen(base);
    char name[256];
    snprintf(name, sizeof(name), "%.*s", (int)len, base);
    struct reload_status *st = sb_map_get(&lh->status, name);
    if (!st) {
        st = calloc(1, sizeof(*st) + strlen(name) + 1);
        if (!st)
            return;
        strcpy(st->name, name);
        if (sb_map_put(&lh->status, st->name, st)) {
            free(st);
            return;
        }
    }
    if (rc == 1) {
        /* Removed: no longer a gateway. */
        sb_map_del(&lh->status, st->name);
        free(st);
        return;
    }
    st->ok = rc == 0;
    if (rc == 0)
        st->loads++;
    else
        st->failures++;
}

void luah_status_free(struct lua_host *lh)
{
    void *v;
    for (uint32_t it = 0; sb_map_next(&lh->status, &it, NULL, &v);)
        free(v);
    sb_map_free(&lh->status);
    void *k;
    for (uint32_t it = 0; sb_map_next(&lh->changed, &it, (const char **)&k, NULL);)
        free(k);
    sb_map_free(&lh->changed);
}

static void label(struct sbuf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            sbuf_append_char(out, '\\');
        if (*s == '\n')
            sbuf_append_str(out, "\\n");
        else
            sbuf_append_char(out, *s);
    }
}

void luah_metrics(struct sbuf *out, void *ud)
{
    struct lua_host *lh = ud;
    sbuf_append_str(out, "# HELP switchboard_gateway_up Whether the last load of the gateway "
                         "succeeded (1) or failed and the previous version serves (0).\n"
                         "# TYPE switchboard_gateway_up gauge\n");
    void *v;
    for (uint32_t it = 0; sb_map_next(&lh->status, &it, NULL, &v);) {
        struct reload_status *st = v;
        sbuf_append_str(out, "switchboard_gateway_up{gateway=\"");
        label(out, st->name);
        sbuf_printf(out, "\"} %d\n", st->ok ? 1 : 0);
    }
    sbuf_append_str(out, "# HELP switchboard_gateway_loads_total Loads of a gateway's file, by "
                         "result.\n# TYPE switchboard_gateway_loads_total counter\n");
    for (uint32_t it = 0; sb_map_next(&lh->status, &it, NULL, &v);) {
        struct reload_status *st = v;
        for (int ok = 1; ok >= 0; ok--) {
            sbuf_append_str(out, "switchboard_gateway_loads_total{gateway=\"");
            label(out, st->name);
            sbuf_printf(out, "\",result=\"%s\"} %llu\n", ok ? "ok" : "error",
                        (unsigned long long)(ok ? st->loads : st->failures));
        }
    }
    sbuf_printf(out,
                "# HELP switchboard_lua_memory_bytes Bytes held by the Lua heap.\n"
                "# TYPE switchboard_lua_memory_bytes gauge\n"
                "switchboard_lua_memory_bytes %llu\n"
                "# HELP switchboard_lua_waiting Gateway code waiting for an operation (Redis).\n"
                "# TYPE switchboard_lua_waiting gauge\n"
                "switchboard_lua_waiting %zu\n",
                (unsigned long long)lh->mem_used, lh->nsuspended);
}

/* ---- what changed ---- */

static bool is_lua(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".lua") == 0;
}

static void reload_cb(uv_timer_t *t);

static void note_change(struct lua_host *lh, const char *key)
{
    if (!sb_map_get(&lh->changed, key)) {
        char *k = strdup(key);
        if (!k || sb_map_put(&lh->changed, k, k))
            free(k);
    }
    uv_timer_start(&lh->reload_timer, reload_cb, RELOAD_DELAY_MS, 0);
}

static void dir_cb(uv_fs_event_t *h, const char *filename, int events, int status)
{
    struct lua_host *lh = h->data;
    if (status < 0 || !filename || !is_lua(filename))
        return;
    note_change(lh, filename);
}

static void lib_cb(uv_fs_event_t *h, const char *filename, int events, int status)
{
    struct lua_host *lh = h->data;
    if (status < 0 || !filename || !is_lua(filename))
        return;
    char key[300];
    snprintf(key, sizeof(key), "lib/%s", filename);
    note_change(lh, key);
}

/* Forgets every module, so that the next require() of each reads its file again (a module may
 * require others: forgetting only the changed one would leave its users' cached copies). */
static void forget_modules(struct lua_host *lh)
{
    lua_State *L = lh->L;
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "sb.loaded");
}

/* The files of the gateways that use lib modules, copied (the list changes while reloading). */
static size_t module_users(struct lua_host *lh, char ***out)
{
    char **v = calloc(lh->ngws ? lh->ngws : 1, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; v && i < lh->ngws; i++)
        if (lh->gws[i]->nmodules)
            v[n++] = strdup(lh->gws[i]->file);
    *out = v;
    return n;
}

static void reload_file(struct lua_host *lh, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", lh->scripts_dir, name);
    struct stat st;
    if (stat(path, &st) == 0)
        luah_load_gateway(lh, path);
    else if (luah_gateway_by_file(lh, path))
        luah_unload_gateway(lh, path);
}

static void reload_modules(struct lua_host *lh)
{
    forget_modules(lh);
    char **files;
    size_t n = module_users(lh, &files);
    LOG_INFO("lua", "lib modules changed: reloading the %zu gateway(s) that use modules", n);
    for (size_t i = 0; i < n; i++) {
        if (files[i])
            luah_load_gateway(lh, files[i]);
        free(files[i]);
    }
    free(files);
}

static void reload_everything(struct lua_host *lh)
{
    LOG_INFO("lua", "reloading every gateway");
    lua_State *L = lh->L;
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "sb.loaded");
    /* Files that are gone first, then every file there is. */
    char **files = calloc(lh->ngws ? lh->ngws : 1, sizeof(*files));
    size_t n = 0;
    for (size_t i = 0; files && i < lh->ngws; i++)
        files[n++] = strdup(lh->gws[i]->file);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (files[i] && stat(files[i], &st) != 0)
            luah_unload_gateway(lh, files[i]);
        free(files[i]);
    }
    free(files);
    luah_scan(lh, false);
}

static void reload_cb(uv_timer_t *t)
{
    struct lua_host *lh = t->data;
    if (lh->reload_all_pending) {
        lh->reload_all_pending = false;
        reload_everything(lh);
    } else {
        const char *k;
        bool lib = false;
        for (uint32_t it = 0; sb_map_next(&lh->changed, &it, &k, NULL);) {
            if (strncmp(k, "lib/", 4) == 0)
                lib = true;
            else
                reload_file(lh, k);
        }
        if (lib)
            reload_modules(lh);
    }
    void *k;
    for (uint32_t it = 0; sb_map_next(&lh->changed, &it, (const char **)&k, NULL);)
        free(k);
    sb_map_free(&lh->changed);
}

void luah_reload_all(struct lua_host *lh)
{
    lh->reload_all_pending = true;
    uv_timer_start(&lh->reload_timer, reload_cb, 0, 0);
}

int luah_watch(struct lua_host *lh)
{
    uv_timer_init(lh->loop, &lh->reload_timer);
    lh->reload_timer.data = lh;
    lh->watch_dir.data = lh;
    lh->watch_lib.data = lh;
    int rc = uv_fs_event_init(lh->loop, &lh->watch_dir);
    if (!rc)
        rc = uv_fs_event_start(&lh->watch_dir, dir_cb, lh->scripts_dir, 0);
    if (rc) {
        LOG_WARN("lua", "cannot watch %s for changes (%s): hot reload off, SIGHUP still reloads",
                 lh->scripts_dir, uv_strerror(rc));
        uv_close((uv_handle_t *)&lh->watch_dir, NULL);
        return SB_EIO;
    }
    lh->watching_dir = true;
    char lib[4096];
    snprintf(lib, sizeof(lib), "%s/lib", lh->scripts_dir);
    struct stat st;
    if (stat(lib, &st) == 0 && S_ISDIR(st.st_mode)) {
        uv_fs_event_init(lh->loop, &lh->watch_lib);
        if (uv_fs_event_start(&lh->watch_lib, lib_cb, lib, 0) == 0)
            lh->watching_lib = true;
        else
            uv_close((uv_handle_t *)&lh->watch_lib, NULL);
    }
    LOG_INFO("lua", "watching %s for changes", lh->scripts_dir);
    return 0;
}

void luah_close(struct lua_host *lh)
{
    if (lh->watching_dir) {
        uv_fs_event_stop(&lh->watch_dir);
        uv_close((uv_handle_t *)&lh->watch_dir, NULL);
        lh->watching_dir = false;
    }
    if (lh->watching_lib) {
        uv_fs_event_stop(&lh->watch_lib);
        uv_close((uv_handle_t *)&lh->watch_lib, NULL);
        lh->watching_lib = false;
    }
    if (!uv_is_closing((uv_handle_t *)&lh->reload_timer) && lh->reload_timer.loop) {
        uv_timer_stop(&lh->reload_timer);
        uv_close((uv_handle_t *)&lh->reload_timer, NULL);
    }
    for (size_t i = 0; i < lh->ngws; i++)
        luah_timers_cancel(lh, lh->gws[i]);
    luah_timers_cancel(lh, NULL); /* timers started outside any gateway */
}
