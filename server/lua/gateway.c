/*
 * Gateways: every *.lua file of the scripts directory, compiled as text only (bytecode is
 * refused), run in its own environment on top of the sandbox, and checked: the table it
 * returns names a namespace, interceptors that are loaded plugins, hooks and handlers that are
 * functions, and no event handled twice in one namespace.
 *
 * A gateway is built first, on its own (gateway_build), then installed in one step
 * (gateway_install), possibly in place of its previous version: a file that fails to load
 * leaves the old version serving (Kong's "last good version"). An uninstalled gateway lives on
 * while code of it still runs (a handler waiting for Redis finishes with the code it started
 * with), thanks to a reference count.
 */
#include "api.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../log/log.h"

#define MAX_SCRIPT_SIZE (16u << 20)

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return NULL;
    }
    struct sbuf b;
    sbuf_init(&b, 0);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b.len + n > MAX_SCRIPT_SIZE) {
            snprintf(err, errlen, "larger than %u bytes", MAX_SCRIPT_SIZE);
            fclose(f);
            sbuf_free(&b);
            return NULL;
        }
        sbuf_append(&b, chunk, n);
    }
    bool bad = ferror(f) || b.failed;
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "read error");
        sbuf_free(&b);
        return NULL;
    }
    *len = b.len;
    if (!b.base)
        return strdup("");
    /* Hand the data over without the (zero) headroom. */
    return b.base;
}

/*
 * Compiles `path` as text and runs it in a fresh sandbox environment on `L`. On success leaves
 * one result on the stack and returns 0; on failure logs why (with file and line), keeps the
 * reason in lh->last_error and returns SB_ELUA or SB_EIO.
 */
static int run_file(struct lua_host *lh, lua_State *L, const char *path, const char *what)
{
    char err[256];
    size_t len = 0;
    char *src = read_file(path, &len, err, sizeof(err));
    if (!src) {
        LOG_ERROR("lua", "%s %s: %s", what, path, err);
        snprintf(lh->last_error, sizeof(lh->last_error), "%s: %s", path, err);
        return SB_EIO;
    }
    /*
     * Error messages and tracebacks name the file relative to the scripts directory
     * ("chat.lua:12:", "lib/util.lua:3:"): LuaJIT cuts a chunk name past ~55 bytes to
     * "...tail", which hid the file behind a long absolute path. The log line around the
     * message still gives the full path.
     */
    const char *rel = path;
    size_t dlen = strlen(lh->scripts_dir);
    if (strncmp(path, lh->scripts_dir, dlen) == 0 && path[dlen] == '/')
        rel = path + dlen + 1;
    char chunkname[1024];
    snprintf(chunkname, sizeof(chunkname), "@%s", rel);
    int rc = luaL_loadbufferx(L, src, len, chunkname, "t");
    free(src);
    if (rc) {
        LOG_ERROR("lua", "%s %s: %s", what, path, lua_tostring(L, -1));
        snprintf(lh->last_error, sizeof(lh->last_error), "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return SB_ELUA;
    }
    luah_push_env(lh, L);
    lua_setfenv(L, -2);
    int base = lua_gettop(L) - 1;
    char desc[1100];
    snprintf(desc, sizeof(desc), "loading %s %s", what, path);
    if (luah_pcall(lh, L, 0, desc)) {
        snprintf(lh->last_error, sizeof(lh->last_error), "%s",
                 lua_tostring(L, -1) ? lua_tostring(L, -1) : "error while loading");
        lua_pop(L, 1);
        return SB_ELUA;
    }
    lua_settop(L, base + 1);
    return 0;
}

/* Remembers that the gateway being loaded (or running) uses a lib module. */
static void note_module(struct lua_host *lh, const char *name)
{
    struct gateway *gw = lh->loading_gw ? lh->loading_gw : lh->current_gw;
    if (!gw)
        return;
    for (size_t i = 0; i < gw->nmodules; i++)
        if (strcmp(gw->modules[i], name) == 0)
            return;
    char **m = realloc(gw->modules, (gw->nmodules + 1) * sizeof(*m));
    if (!m)
        return;
    gw->modules = m;
    if ((m[gw->nmodules] = strdup(name)))
        gw->nmodules++;
}

/* require(name): "switchboard" is the sb module; anything else is <scripts>/lib/<name>.lua
 * with dots as directory separators, loaded once (until it changes on disk). */
static int l_require(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    if (strcmp(name, "switchboard") == 0 || strcmp(name, "sb") == 0) {
        /* The caller's own sb (its environment's copy); a fresh copy when it dropped it, so
         * that the pristine module never reaches gateway code. */
        lua_Debug ar;
        if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "f", &ar) && lua_isfunction(L, -1)) {
            lua_getfenv(L, -1);
            if (lua_istable(L, -1)) {
                lua_pushliteral(L, "sb");
                lua_rawget(L, -2);
                if (lua_istable(L, -1))
                    return 1;
            }
        }
        luah_push_sb_copy(L);
        return 1;
    }
    for (const char *p = name; *p; p++)
        if (!(*p == '.' || *p == '_' || *p == '-' || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            return luaL_error(L, "module '%s' not found: invalid module name", name);
    struct lua_host *lh = luah_from(L);
    note_module(lh, name);
    lua_getfield(L, LUA_REGISTRYINDEX, "sb.loaded");
    lua_getfield(L, -1, name);
    if (!lua_isnil(L, -1))
        return 1;
    lua_pop(L, 1);
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/lib/", lh->scripts_dir);
    for (const char *p = name; *p && n < (int)sizeof(path) - 5; p++)
        path[n++] = *p == '.' ? '/' : *p;
    snprintf(path + n, sizeof(path) - (size_t)n, ".lua");
    struct stat st;
    if (stat(path, &st) != 0)
        return luaL_error(L, "module '%s' not found: no file %s", name, path);
    if (run_file(lh, L, path, "module"))
        return luaL_error(L, "module '%s' failed to load (see the log)", name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
    return 1;
}

void luah_require_open(lua_State *L)
{
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "sb.loaded");
    lua_pushcfunction(L, l_require);
    lua_setglobal(L, "require");
}

/* ---- a gateway's life ---- */

static void free_handlers(lua_State *L, struct sb_map *m)
{
    void *v;
    for (uint32_t it = 0; sb_map_next(m, &it, NULL, &v);) {
        struct handler *h = v;
        if (L)
            luaL_unref(L, LUA_REGISTRYINDEX, h->ref);
        free(h);
    }
    sb_map_free(m);
}

static void gateway_free(struct lua_host *lh, struct gateway *gw)
{
    lua_State *L = lh->L;
    /* Timers its code started (even while failing to load, or after it was replaced) stop
     * with it. */
    luah_timers_cancel(lh, gw);
    if (L) {
        luaL_unref(L, LUA_REGISTRYINDEX, gw->ref);
        luaL_unref(L, LUA_REGISTRYINDEX, gw->on_connect);
        luaL_unref(L, LUA_REGISTRYINDEX, gw->on_disconnect);
    }
    free_handlers(L, &gw->events);
    free_handlers(L, &gw->server_events);
    for (size_t i = 0; i < gw->nmodules; i++)
        free(gw->modules[i]);
    free(gw->modules);
    free(gw->file);
    free(gw->name);
    free(gw->nsp);
    free(gw->interceptors);
    free(gw);
}

void gateway_ref(struct gateway *gw)
{
    gw->refs++;
}

void gateway_unref(struct lua_host *lh, struct gateway *gw)
{
    if (--gw->refs == 0)
        gateway_free(lh, gw);
}

static struct lua_nsp *nsp_get(struct lua_host *lh, const char *name, bool create)
{
    struct lua_nsp *n = sb_map_get(&lh->nsps, name);
    if (n || !create)
        return n;
    size_t len = strlen(name);
    n = calloc(1, sizeof(*n) + len + 1);
    if (!n)
        return NULL;
    memcpy(n->name, name, len + 1);
    sb_map_init(&n->events);
    sb_map_init(&n->server_events);
    if (sb_map_put(&lh->nsps, n->name, n)) {
        free(n);
        return NULL;
    }
    /* A namespace a gateway serves is a namespace of the cluster: its channels are needed. */
    bus_namespace_add(lh->bus, n->name);
    return n;
}

/* Reads the table `field` of the gateway table at `t` into `map`: names to functions. Returns 0
 * or SB_ELUA after logging why. */
static int read_handlers(struct lua_host *lh, lua_State *L, int t, const char *field,
                         struct sb_map *map, struct gateway *gw)
{
    luah_rawfield(L, t, field);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    if (!lua_istable(L, -1)) {
        LOG_ERROR("lua", "gateway %s: %s must be a table of event name = function", gw->file,
                  field);
        snprintf(lh->last_error, sizeof(lh->last_error), "%s must be a table", field);
        lua_pop(L, 1);
        return SB_ELUA;
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        const char *event = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (!event || !lua_isfunction(L, -1)) {
            LOG_ERROR("lua", "gateway %s: %s.%s must be a function", gw->file, field,
                      event ? event : "(key not a string)");
            snprintf(lh->last_error, sizeof(lh->last_error), "%s.%s must be a function", field,
                     event ? event : "?");
            lua_pop(L, 3);
            return SB_ELUA;
        }
        size_t elen = strlen(event);
        struct handler *h = malloc(sizeof(*h) + elen + 1);
        if (!h) {
            lua_pop(L, 3);
            return SB_ENOMEM;
        }
        h->gw = gw;
        memcpy(h->event, event, elen + 1);
        h->ref = luaL_ref(L, LUA_REGISTRYINDEX);
        if (sb_map_put(map, h->event, h)) {
            luaL_unref(L, LUA_REGISTRYINDEX, h->ref);
            free(h);
            lua_pop(L, 2);
            return SB_ENOMEM;
        }
    }
    lua_pop(L, 1);
    return 0;
}

/* Reads the gateway table on the top of the stack (popped) into a new, not yet installed
 * gateway `gw`. Returns 0 or a negative sb_err_t after logging why. */
/* The gateway file returned a plain table (no metatable: its fields are read raw, outside
 * protected code, and a table whose fields come from a metatable would be read differently
 * from how it looks). */
static int check_plain_table(struct lua_host *lh, lua_State *L, int t, const char *path)
{
    if (!lua_istable(L, t)) {
        LOG_ERROR("lua", "gateway %s must return a table (got %s)", path, luaL_typename(L, t));
        snprintf(lh->last_error, sizeof(lh->last_error), "must return a table, got %s",
                 luaL_typename(L, t));
        return SB_ELUA;
    }
    if (lua_getmetatable(L, t)) {
        lua_pop(L, 1);
        LOG_ERROR("lua", "gateway %s must return a plain table, not one with a metatable", path);
        snprintf(lh->last_error, sizeof(lh->last_error),
                 "must return a plain table, not one with a metatable");
        return SB_ELUA;
    }
    return 0;
}

/* Typos in field names would silently disable a gateway: name them. */
static void warn_unknown_fields(lua_State *L, int t, const char *path)
{
    static const char *const known[] = {"namespace", "interceptors",  "on_connect", "on_disconnect",
                                        "events",    "server_events", NULL};
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        bool ok = false;
        for (const char *const *kk = known; k && *kk; kk++)
            ok = ok || strcmp(k, *kk) == 0;
        if (!ok)
            LOG_WARN("lua",
                     "gateway %s: unknown field '%s' ignored (known: namespace, "
                     "interceptors, on_connect, on_disconnect, events, server_events)",
                     path, k ? k : "(not a string)");
    }
}

static int read_namespace(struct lua_host *lh, lua_State *L, int t, struct gateway *gw)
{
    int rc = 0;
    luah_rawfield(L, t, "namespace");
    if (lua_isnil(L, -1)) {
        gw->nsp = strdup("/");
    } else if (lua_type(L, -1) != LUA_TSTRING || lua_tostring(L, -1)[0] != '/') {
        LOG_ERROR("lua", "gateway %s: namespace must be a string starting with '/'", gw->file);
        snprintf(lh->last_error, sizeof(lh->last_error), "namespace must start with '/'");
        rc = SB_ELUA;
    } else {
        gw->nsp = strdup(lua_tostring(L, -1));
    }
    lua_pop(L, 1);
    return rc;
}

/* Appends the plugin named by the value on top of the stack to the gateway's interceptors. */
static int add_interceptor(struct lua_host *lh, lua_State *L, struct gateway *gw)
{
    const char *name = lua_tostring(L, -1);
    struct plugin *p = name ? plugins_find(lh->plugins, name) : NULL;
    if (!p || !plugin_intercepts(p)) {
        if (p)
            LOG_ERROR("lua", "gateway %s: plugin '%s' has no interceptor hooks", gw->file, name);
        else
            LOG_ERROR("lua", "gateway %s: interceptor '%s' is not loaded (add --plugin %s)",
                      gw->file, name ? name : "(not a string)", name ? name : "NAME");
        snprintf(lh->last_error, sizeof(lh->last_error), "interceptor '%s' unavailable",
                 name ? name : "?");
        return SB_ELUA;
    }
    for (size_t j = 0; j < gw->ninterceptors; j++)
        if (gw->interceptors[j] == p)
            return 0;
    gw->interceptors[gw->ninterceptors++] = p;
    return 0;
}

/* The gateway's interceptors: the global ones (--interceptor) and its own, by priority. */
static int read_interceptors(struct lua_host *lh, lua_State *L, int t, struct gateway *gw)
{
    struct plugins *ps = lh->plugins;
    int rc = SB_ELUA;
    luah_rawfield(L, t, "interceptors");
    if (!lua_isnil(L, -1) && !lua_istable(L, -1)) {
        LOG_ERROR("lua", "gateway %s: interceptors must be a list of plugin names", gw->file);
        snprintf(lh->last_error, sizeof(lh->last_error), "interceptors must be a list");
        goto out;
    }
    size_t nown = lua_istable(L, -1) ? lua_objlen(L, -1) : 0;
    gw->interceptors = calloc(ps->nglobal + nown + 1, sizeof(*gw->interceptors));
    if (!gw->interceptors)
        goto out;
    for (size_t i = 0; i < ps->nglobal; i++)
        gw->interceptors[gw->ninterceptors++] = ps->global[i];
    for (size_t i = 1; i <= nown; i++) {
        lua_rawgeti(L, -1, (int)i);
        int bad = add_interceptor(lh, L, gw);
        lua_pop(L, 1);
        if (bad)
            goto out;
    }
    plugins_sort_interceptors(gw->interceptors, gw->ninterceptors);
    rc = 0;
out:
    lua_pop(L, 1);
    return rc;
}

static int read_hook(struct lua_host *lh, lua_State *L, int t, const char *name, int *ref,
                     const char *path)
{
    luah_rawfield(L, t, name);
    if (!lua_isnil(L, -1) && !lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        LOG_ERROR("lua", "gateway %s: %s must be a function", path, name);
        snprintf(lh->last_error, sizeof(lh->last_error), "%s must be a function", name);
        return SB_ELUA;
    }
    *ref = lua_isnil(L, -1) ? (lua_pop(L, 1), LUA_NOREF) : luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

/* Reads the table the gateway file returned (on top of the stack, popped). */
static int read_table(struct lua_host *lh, struct gateway *gw)
{
    lua_State *L = lh->L;
    int t = lua_gettop(L);
    int rc = check_plain_table(lh, L, t, gw->file);
    if (!rc) {
        warn_unknown_fields(L, t, gw->file);
        rc = read_namespace(lh, L, t, gw);
    }
    if (!rc)
        rc = read_interceptors(lh, L, t, gw);
    if (!rc)
        rc = read_hook(lh, L, t, "on_connect", &gw->on_connect, gw->file);
    if (!rc)
        rc = read_hook(lh, L, t, "on_disconnect", &gw->on_disconnect, gw->file);
    if (!rc)
        rc = read_handlers(lh, L, t, "events", &gw->events, gw);
    if (!rc)
        rc = read_handlers(lh, L, t, "server_events", &gw->server_events, gw);
    if (!rc) {
        lua_pushvalue(L, t);
        gw->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_settop(L, t - 1);
    return rc;
}

/* Builds a gateway from its file, not installed yet. */
static int gateway_build(struct lua_host *lh, const char *path, struct gateway **out)
{
    struct gateway *gw = calloc(1, sizeof(*gw));
    if (!gw)
        return SB_ENOMEM;
    gw->ref = gw->on_connect = gw->on_disconnect = LUA_NOREF;
    gw->refs = 1;
    sb_map_init(&gw->events);
    sb_map_init(&gw->server_events);
    gw->file = strdup(path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    gw->name = strndup(base, strlen(base) - (strlen(base) > 4 ? 4 : 0));
    lh->last_error[0] = '\0';
    /* Modules required while the file runs are its dependencies. */
    lh->loading_gw = gw;
    int rc = run_file(lh, lh->L, path, "gateway");
    lh->loading_gw = NULL;
    if (!rc)
        rc = read_table(lh, gw);
    if (rc) {
        gateway_free(lh, gw);
        return rc;
    }
    *out = gw;
    return 0;
}

static void nsp_remove_handlers(struct lua_nsp *n, struct gateway *gw)
{
    const char *k;
    for (uint32_t it = 0; sb_map_next(&gw->events, &it, &k, NULL);)
        if (sb_map_get(&n->events, k) && ((struct handler *)sb_map_get(&n->events, k))->gw == gw)
            sb_map_del(&n->events, k);
    for (uint32_t it = 0; sb_map_next(&gw->server_events, &it, &k, NULL);)
        if (sb_map_get(&n->server_events, k) &&
            ((struct handler *)sb_map_get(&n->server_events, k))->gw == gw)
            sb_map_del(&n->server_events, k);
}

/* A handler of `m` that another gateway than `old` already serves in `n`, or NULL. */
static struct handler *clash(const struct sb_map *m, const struct sb_map *taken,
                             const struct gateway *old)
{
    const char *k;
    for (uint32_t it = 0; sb_map_next(m, &it, &k, NULL);) {
        struct handler *other = sb_map_get(taken, k);
        if (other && other->gw != old)
            return other;
    }
    return NULL;
}

static void list_remove(struct gateway **v, size_t *n, struct gateway *gw)
{
    for (size_t i = 0; i < *n; i++) {
        if (v[i] == gw) {
            memmove(v + i, v + i + 1, (*n - i - 1) * sizeof(*v));
            (*n)--;
            return;
        }
    }
}

/* Takes a gateway out of service: its handlers and hooks are no longer found, its timers stop,
 * and it is freed once no code of it runs. */
static void gateway_uninstall(struct lua_host *lh, struct gateway *gw)
{
    struct lua_nsp *n = nsp_get(lh, gw->nsp, false);
    if (n) {
        nsp_remove_handlers(n, gw);
        list_remove(n->gws, &n->ngws, gw);
        if (n->ngws == 0) {
            /* No gateway declares the namespace any more: new connections to it are refused;
             * sockets already in it stay. */
            sb_map_del(&lh->nsps, n->name);
            sb_map_free(&n->events);
            sb_map_free(&n->server_events);
            free(n->gws);
            free(n);
        }
    }
    list_remove(lh->gws, &lh->ngws, gw);
    luah_timers_cancel(lh, gw);
    gateway_unref(lh, gw);
}

/*
 * Puts `gw` in service, in place of `old` (NULL for a new file). Fails, changing nothing, when
 * one of its events is handled by another gateway of its namespace.
 */
static int gateway_install(struct lua_host *lh, struct gateway *gw, struct gateway *old)
{
    struct lua_nsp *n = nsp_get(lh, gw->nsp, true);
    if (!n)
        return SB_ENOMEM;
    struct handler *other = clash(&gw->events, &n->events, old);
    if (!other)
        other = clash(&gw->server_events, &n->server_events, old);
    if (other) {
        LOG_ERROR("lua", "gateway %s: event '%s' of namespace %s is already handled by %s",
                  gw->file, other->event, gw->nsp, other->gw->file);
        snprintf(lh->last_error, sizeof(lh->last_error), "event '%s' already handled by %s",
                 other->event, other->gw->file);
        if (n->ngws == 0) {
            sb_map_del(&lh->nsps, n->name);
            sb_map_free(&n->events);
            sb_map_free(&n->server_events);
            free(n->gws);
            free(n);
        }
        return SB_EEXISTS;
    }
    struct gateway **gws = realloc(n->gws, (n->ngws + 1) * sizeof(*gws));
    if (gws)
        n->gws = gws;
    struct gateway **all = realloc(lh->gws, (lh->ngws + 1) * sizeof(*all));
    if (all)
        lh->gws = all;
    if (!gws || !all)
        return SB_ENOMEM;
    if (old)
        gateway_uninstall(lh, old);
    /* The namespace may have been freed with the old version (its last gateway). */
    n = nsp_get(lh, gw->nsp, true);
    if (!n)
        return SB_ENOMEM;
    const char *k;
    void *v;
    for (uint32_t it = 0; sb_map_next(&gw->events, &it, &k, &v);)
        sb_map_put(&n->events, k, v);
    for (uint32_t it = 0; sb_map_next(&gw->server_events, &it, &k, &v);)
        sb_map_put(&n->server_events, k, v);
    gws = realloc(n->gws, (n->ngws + 1) * sizeof(*gws));
    if (!gws)
        return SB_ENOMEM;
    n->gws = gws;
    n->gws[n->ngws++] = gw;
    lh->gws[lh->ngws++] = gw;
    LOG_INFO("lua", "gateway %s: namespace %s, %u handler(s)%s", gw->name, gw->nsp,
             (unsigned)(gw->events.count + gw->server_events.count), old ? " (reloaded)" : "");
    return 0;
}

struct gateway *luah_gateway_by_file(const struct lua_host *lh, const char *path)
{
    for (size_t i = 0; i < lh->ngws; i++)
        if (strcmp(lh->gws[i]->file, path) == 0)
            return lh->gws[i];
    return NULL;
}

int luah_load_gateway(struct lua_host *lh, const char *path)
{
    struct gateway *old = luah_gateway_by_file(lh, path), *gw;
    int rc = gateway_build(lh, path, &gw);
    if (!rc) {
        rc = gateway_install(lh, gw, old);
        if (rc)
            gateway_unref(lh, gw);
    }
    luah_reload_status(lh, path, rc);
    return rc;
}

void luah_unload_gateway(struct lua_host *lh, const char *path)
{
    struct gateway *gw = luah_gateway_by_file(lh, path);
    if (gw) {
        LOG_INFO("lua", "gateway %s: file removed, unloaded", gw->name);
        gateway_uninstall(lh, gw);
    }
    luah_reload_status(lh, path, 1);
}

static int lua_file_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 4 && strcmp(d->d_name + n - 4, ".lua") == 0;
}

int luah_scan(struct lua_host *lh, bool initial)
{
    struct dirent **names;
    int n = scandir(lh->scripts_dir, &names, lua_file_filter, alphasort);
    if (n < 0) {
        LOG_ERROR("lua", "scripts directory %s: %s", lh->scripts_dir, strerror(errno));
        return SB_EIO;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", lh->scripts_dir, names[i]->d_name);
        if (!rc || !initial) {
            int r = luah_load_gateway(lh, path);
            if (r && !rc)
                rc = r;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int luah_new(struct lua_host **out, uv_loop_t *loop, const char *scripts_dir, struct bus *bus,
             struct plugins *plugins, const struct lua_limits *limits)
{
    struct lua_host *lh = calloc(1, sizeof(*lh));
    if (!lh)
        return SB_ENOMEM;
    lh->loop = loop;
    lh->bus = bus;
    lh->reg = bus->reg;
    lh->plugins = plugins;
    lh->limits = *limits;
    lh->budget_ns = (uint64_t)limits->time_ms * 1000000;
    lh->mem_limit = limits->memory;
    luah_cstack_init(lh);
    lh->scripts_dir = strdup(scripts_dir);
    sb_map_init(&lh->nsps);
    sb_map_init(&lh->status);
    lh->L = luah_state_new(lh);
    if (!lh->L) {
        luah_free(lh);
        return SB_ENOMEM;
    }
    int rc = luah_scan(lh, true);
    if (rc) {
        luah_free(lh);
        return rc;
    }
    luah_cluster_bind(lh);
    /* The plugin layer asks us which plugins guard a namespace (ABI 1.4 guards). */
    plugins_set_nsp_guards(plugins, luah_nsp_interceptors, lh);
    if (lh->ngws == 0)
        LOG_WARN("lua",
                 "no gateways (*.lua) in %s: no namespace exists and every event gets "
                 "'no handler'",
                 scripts_dir);
    *out = lh;
    return 0;
}

void luah_free(struct lua_host *lh)
{
    if (!lh)
        return;
    if (lh->plugins && lh->plugins->nsp_guards_ud == lh)
        plugins_set_nsp_guards(lh->plugins, NULL, NULL);
    luah_runs_free(lh);
    while (lh->ngws)
        gateway_uninstall(lh, lh->gws[lh->ngws - 1]);
    const char *k;
    void *v;
    for (uint32_t it = 0; sb_map_next(&lh->nsps, &it, &k, &v);) {
        struct lua_nsp *n = v;
        sb_map_free(&n->events);
        sb_map_free(&n->server_events);
        free(n->gws);
        free(n);
    }
    sb_map_free(&lh->nsps);
    luah_status_free(lh);
    free(lh->gws);
    if (lh->L)
        lua_close(lh->L);
    free(lh->scripts_dir);
    free(lh);
}
