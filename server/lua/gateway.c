/*
 * Loading gateways: every *.lua file of the scripts directory, in name order, compiled as text
 * only (bytecode is refused), run in its own environment on top of the sandbox, and checked:
 * the table it returns names a namespace, interceptors that are loaded plugins, hooks that are
 * functions and handlers that are functions, with no event handled twice in one namespace.
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
 * Compiles `path` as text and runs it in a fresh sandbox environment. On success leaves one
 * result on the stack and returns 0; on failure logs why (with file and line) and returns
 * SB_ELUA.
 */
static int run_file(struct lua_host *lh, const char *path, const char *what)
{
    lua_State *L = lh->L;
    char err[256];
    size_t len = 0;
    char *src = read_file(path, &len, err, sizeof(err));
    if (!src) {
        LOG_ERROR("lua", "%s %s: %s", what, path, err);
        return SB_EIO;
    }
    char chunkname[1024];
    snprintf(chunkname, sizeof(chunkname), "@%s", path);
    int rc = luaL_loadbufferx(L, src, len, chunkname, "t");
    free(src);
    if (rc) {
        LOG_ERROR("lua", "%s %s: %s", what, path, lua_tostring(L, -1));
        lua_pop(L, 1);
        return SB_ELUA;
    }
    luah_push_env(L);
    lua_setfenv(L, -2);
    int base = lua_gettop(L) - 1;
    char desc[1100];
    snprintf(desc, sizeof(desc), "loading %s %s", what, path);
    if (luah_pcall(lh, 0, desc)) {
        lua_pop(L, 1);
        return SB_ELUA;
    }
    lua_settop(L, base + 1);
    return 0;
}

/* require(name): "switchboard" is the sb module; anything else is <scripts>/lib/<name>.lua
 * with dots as directory separators, loaded once. */
static int l_require(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    if (strcmp(name, "switchboard") == 0 || strcmp(name, "sb") == 0) {
        lua_getglobal(L, "sb");
        return 1;
    }
    for (const char *p = name; *p; p++)
        if (!(*p == '.' || *p == '_' || *p == '-' || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            return luaL_error(L, "module '%s' not found: invalid module name", name);
    lua_getfield(L, LUA_REGISTRYINDEX, "sb.loaded");
    lua_getfield(L, -1, name);
    if (!lua_isnil(L, -1))
        return 1;
    lua_pop(L, 1);
    struct lua_host *lh = luah_from(L);
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/lib/", lh->scripts_dir);
    for (const char *p = name; *p && n < (int)sizeof(path) - 5; p++)
        path[n++] = *p == '.' ? '/' : *p;
    snprintf(path + n, sizeof(path) - (size_t)n, ".lua");
    struct stat st;
    if (stat(path, &st) != 0)
        return luaL_error(L, "module '%s' not found: no file %s", name, path);
    if (run_file(lh, path, "module"))
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

static void gateway_free(lua_State *L, struct gateway *gw)
{
    if (L) {
        luaL_unref(L, LUA_REGISTRYINDEX, gw->ref);
        luaL_unref(L, LUA_REGISTRYINDEX, gw->on_connect);
        luaL_unref(L, LUA_REGISTRYINDEX, gw->on_disconnect);
    }
    free(gw->file);
    free(gw->name);
    free(gw->nsp);
    free(gw->interceptors);
    free(gw);
}

static struct lua_nsp *nsp_get(struct lua_host *lh, const char *name)
{
    struct lua_nsp *n = map_get(&lh->nsps, name);
    if (n)
        return n;
    size_t len = strlen(name);
    n = calloc(1, sizeof(*n) + len + 1);
    if (!n)
        return NULL;
    memcpy(n->name, name, len + 1);
    map_init(&n->events);
    map_init(&n->server_events);
    if (map_put(&lh->nsps, n->name, n)) {
        free(n);
        return NULL;
    }
    /* A namespace a gateway serves is a namespace of the cluster: its channels are needed. */
    bus_namespace_add(lh->bus, n->name);
    return n;
}

/* Checks the table `field` of the gateway table at `t`: names to functions, none of them
 * already handled in the namespace. Returns 0 or SB_ELUA after logging why. */
static int check_handlers(lua_State *L, int t, const char *field, const struct map *map,
                          const struct gateway *gw, const char *path)
{
    lua_getfield(L, t, field);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    if (!lua_istable(L, -1)) {
        LOG_ERROR("lua", "gateway %s: %s must be a table of event name = function", path, field);
        lua_pop(L, 1);
        return SB_ELUA;
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        const char *event = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        const struct handler *other = event ? map_get(map, event) : NULL;
        if (!event || !lua_isfunction(L, -1)) {
            LOG_ERROR("lua", "gateway %s: %s.%s must be a function", path, field,
                      event ? event : "(key not a string)");
        } else if (other) {
            LOG_ERROR("lua", "gateway %s: %s '%s' of namespace %s is already handled by %s", path,
                      field, event, gw->nsp, other->gw->file);
        } else {
            lua_pop(L, 1);
            continue;
        }
        lua_pop(L, 3);
        return SB_ELUA;
    }
    lua_pop(L, 1);
    return 0;
}

/* Registers the handlers check_handlers() accepted. */
static int add_handlers(lua_State *L, int t, const char *field, struct map *map, struct gateway *gw,
                        unsigned *count)
{
    lua_getfield(L, t, field);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        const char *event = lua_tostring(L, -2);
        size_t elen = strlen(event);
        struct handler *h = malloc(sizeof(*h) + elen + 1);
        if (!h) {
            lua_pop(L, 3);
            return SB_ENOMEM;
        }
        h->gw = gw;
        memcpy(h->event, event, elen + 1);
        h->ref = luaL_ref(L, LUA_REGISTRYINDEX);
        if (map_put(map, h->event, h)) {
            luaL_unref(L, LUA_REGISTRYINDEX, h->ref);
            free(h);
            lua_pop(L, 2);
            return SB_ENOMEM;
        }
        (*count)++;
    }
    lua_pop(L, 1);
    return 0;
}

/* Checks the table on the top of the stack and registers the gateway. Pops the table. */
static int register_gateway(struct lua_host *lh, const char *path)
{
    lua_State *L = lh->L;
    int t = lua_gettop(L);
    if (!lua_istable(L, t)) {
        LOG_ERROR("lua", "gateway %s must return a table (got %s)", path, luaL_typename(L, t));
        lua_pop(L, 1);
        return SB_ELUA;
    }
    struct gateway *gw = calloc(1, sizeof(*gw));
    if (!gw)
        return SB_ENOMEM;
    gw->ref = gw->on_connect = gw->on_disconnect = LUA_NOREF;
    gw->file = strdup(path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    gw->name = strndup(base, strlen(base) - (strlen(base) > 4 ? 4 : 0));

    /* Typos in field names would silently disable a gateway: name them. */
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

    lua_getfield(L, t, "namespace");
    if (lua_isnil(L, -1)) {
        gw->nsp = strdup("/");
    } else if (lua_type(L, -1) != LUA_TSTRING || lua_tostring(L, -1)[0] != '/') {
        LOG_ERROR("lua", "gateway %s: namespace must be a string starting with '/'", path);
        goto fail;
    } else {
        gw->nsp = strdup(lua_tostring(L, -1));
    }
    lua_pop(L, 1);

    /* The gateway's interceptors: the global ones (--interceptor) and its own, by priority. */
    struct plugins *ps = lh->plugins;
    lua_getfield(L, t, "interceptors");
    if (!lua_isnil(L, -1) && !lua_istable(L, -1)) {
        LOG_ERROR("lua", "gateway %s: interceptors must be a list of plugin names", path);
        goto fail;
    }
    size_t nown = lua_istable(L, -1) ? lua_objlen(L, -1) : 0;
    gw->interceptors = calloc(ps->nglobal + nown + 1, sizeof(*gw->interceptors));
    if (!gw->interceptors)
        goto fail;
    for (size_t i = 0; i < ps->nglobal; i++)
        gw->interceptors[gw->ninterceptors++] = ps->global[i];
    if (nown) {
        size_t n = nown;
        for (size_t i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, (int)i);
            const char *name = lua_tostring(L, -1);
            struct plugin *p = name ? plugins_find(lh->plugins, name) : NULL;
            if (!p || (!p->before_event && !p->after_reply)) {
                if (p)
                    LOG_ERROR("lua", "gateway %s: plugin '%s' has no interceptor hooks", path,
                              name);
                else
                    LOG_ERROR("lua", "gateway %s: interceptor '%s' is not loaded (add --plugin %s)",
                              path, name ? name : "(not a string)", name ? name : "NAME");
                goto fail;
            }
            bool dup = false;
            for (size_t j = 0; j < gw->ninterceptors; j++)
                dup = dup || gw->interceptors[j] == p;
            if (!dup)
                gw->interceptors[gw->ninterceptors++] = p;
            lua_pop(L, 1);
        }
    }
    plugins_sort_interceptors(gw->interceptors, gw->ninterceptors);
    lua_pop(L, 1);

    static const char *const hooks[] = {"on_connect", "on_disconnect"};
    for (int i = 0; i < 2; i++) {
        lua_getfield(L, t, hooks[i]);
        if (!lua_isnil(L, -1) && !lua_isfunction(L, -1)) {
            LOG_ERROR("lua", "gateway %s: %s must be a function", path, hooks[i]);
            goto fail;
        }
        int ref = lua_isnil(L, -1) ? (lua_pop(L, 1), LUA_NOREF) : luaL_ref(L, LUA_REGISTRYINDEX);
        if (i == 0)
            gw->on_connect = ref;
        else
            gw->on_disconnect = ref;
    }

    struct lua_nsp *nsp = nsp_get(lh, gw->nsp);
    unsigned nhandlers = 0;
    if (!nsp)
        goto fail;
    /* Check every handler before registering any, so a bad gateway leaves nothing behind. */
    if (check_handlers(L, t, "events", &nsp->events, gw, path) ||
        check_handlers(L, t, "server_events", &nsp->server_events, gw, path) ||
        add_handlers(L, t, "events", &nsp->events, gw, &nhandlers) ||
        add_handlers(L, t, "server_events", &nsp->server_events, gw, &nhandlers))
        goto fail;

    struct gateway **gws = realloc(nsp->gws, (nsp->ngws + 1) * sizeof(*gws));
    struct gateway **all = gws ? realloc(lh->gws, (lh->ngws + 1) * sizeof(*all)) : NULL;
    if (gws)
        nsp->gws = gws;
    if (!all)
        goto fail;
    lh->gws = all;
    nsp->gws[nsp->ngws++] = gw;
    lh->gws[lh->ngws++] = gw;
    gw->ref = luaL_ref(L, LUA_REGISTRYINDEX); /* pops the table */
    LOG_INFO("lua", "gateway %s: namespace %s, %u handler(s)", gw->name, gw->nsp, nhandlers);
    return 0;

fail:
    lua_settop(L, t - 1);
    gateway_free(L, gw);
    return SB_ELUA;
}

static int lua_file_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 4 && strcmp(d->d_name + n - 4, ".lua") == 0;
}

int luah_new(struct lua_host **out, uv_loop_t *loop, const char *scripts_dir, struct bus *bus,
             struct plugins *plugins)
{
    struct lua_host *lh = calloc(1, sizeof(*lh));
    if (!lh)
        return SB_ENOMEM;
    lh->loop = loop;
    lh->bus = bus;
    lh->reg = bus->reg;
    lh->plugins = plugins;
    lh->scripts_dir = strdup(scripts_dir);
    map_init(&lh->nsps);
    lh->L = luah_state_new(lh);
    if (!lh->L) {
        luah_free(lh);
        return SB_ENOMEM;
    }

    struct dirent **names;
    int n = scandir(scripts_dir, &names, lua_file_filter, alphasort);
    if (n < 0) {
        LOG_ERROR("lua", "scripts directory %s: %s", scripts_dir, strerror(errno));
        luah_free(lh);
        return SB_EIO;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", scripts_dir, names[i]->d_name);
        if (!rc) {
            rc = run_file(lh, path, "gateway");
            if (!rc)
                rc = register_gateway(lh, path);
        }
        free(names[i]);
    }
    free(names);
    if (rc) {
        luah_free(lh);
        return rc;
    }
    luah_cluster_bind(lh);
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
    const char *k;
    void *v;
    for (uint32_t it = 0; map_next(&lh->nsps, &it, &k, &v);) {
        struct lua_nsp *n = v;
        void *h;
        for (uint32_t j = 0; map_next(&n->events, &j, NULL, &h);)
            free(h);
        for (uint32_t j = 0; map_next(&n->server_events, &j, NULL, &h);)
            free(h);
        map_free(&n->events);
        map_free(&n->server_events);
        free(n->gws);
        free(n);
    }
    map_free(&lh->nsps);
    for (size_t i = 0; i < lh->ngws; i++)
        gateway_free(NULL, lh->gws[i]);
    free(lh->gws);
    if (lh->L)
        lua_close(lh->L);
    free(lh->scripts_dir);
    free(lh);
}
