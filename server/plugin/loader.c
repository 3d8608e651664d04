/*
 * Loading plugins: dlopen(RTLD_NOW | RTLD_LOCAL), one descriptor symbol, magic, ABI major and
 * descriptor size checked before anything in the plugin runs. Every refusal is one log line
 * naming the file and the reason.
 */
#include "plugin.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../log/log.h"

/* The smallest descriptor of ABI 1: everything up to and including fini. */
#define DESC_MIN_SIZE   (offsetof(sb_plugin_t, fini) + sizeof(sb_fini_fn))
#define HAS_FIELD(d, f) ((d)->size >= offsetof(sb_plugin_t, f) + sizeof((d)->f))

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

char *plugins_resolve(const char *name, const char *plugin_dir, const char *exe_dir)
{
    if (strchr(name, '/') || ends_with(name, ".so"))
        return strdup(name);
    char exe_plugins[4096] = "";
    if (exe_dir)
        snprintf(exe_plugins, sizeof(exe_plugins), "%s/plugins", exe_dir);
    const char *dirs[] = {plugin_dir, exe_dir ? exe_plugins : NULL, SB_PLUGIN_DIR_INSTALLED};
    char path[4096];
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        if (!dirs[i])
            continue;
        snprintf(path, sizeof(path), "%s/%s.so", dirs[i], name);
        if (access(path, R_OK) == 0)
            return strdup(path);
    }
    return NULL;
}

static int cmp_auth(const void *a, const void *b)
{
    const struct plugin *x = *(struct plugin *const *)a, *y = *(struct plugin *const *)b;
    return (x->auth_priority > y->auth_priority) - (x->auth_priority < y->auth_priority);
}

static int fail(void *dl, struct plugin *p, int err)
{
    if (p) {
        free(p->path);
        free(p);
    }
    if (dl)
        dlclose(dl);
    return err;
}

int plugins_load_one(struct plugins *ps, const char *path, const char *config)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        LOG_ERROR("plugin", "%s: cannot load: %s", path, dlerror());
        return SB_EIO;
    }
    const sb_plugin_t *d = dlsym(dl, SB_PLUGIN_SYMBOL);
    if (!d) {
        LOG_ERROR("plugin", "%s: no %s symbol: not a switchboard plugin", path, SB_PLUGIN_SYMBOL);
        return fail(dl, NULL, SB_EABI);
    }
    if (d->magic != SB_PLUGIN_MAGIC) {
        LOG_ERROR("plugin", "%s: bad magic 0x%08x (expected 0x%08x): not a switchboard plugin",
                  path, d->magic, SB_PLUGIN_MAGIC);
        return fail(dl, NULL, SB_EABI);
    }
    if (d->abi_major != SB_PLUGIN_ABI_MAJOR) {
        LOG_ERROR("plugin", "%s: built for plugin ABI %u.%u, this server speaks ABI %d.%d", path,
                  d->abi_major, d->abi_minor, SB_PLUGIN_ABI_MAJOR, SB_PLUGIN_ABI_MINOR);
        return fail(dl, NULL, SB_EABI);
    }
    if (d->size < DESC_MIN_SIZE) {
        LOG_ERROR("plugin", "%s: descriptor of %u bytes is smaller than ABI %d's minimum %zu", path,
                  d->size, SB_PLUGIN_ABI_MAJOR, (size_t)DESC_MIN_SIZE);
        return fail(dl, NULL, SB_EABI);
    }
    if (!d->name || !*d->name) {
        LOG_ERROR("plugin", "%s: descriptor has no name", path);
        return fail(dl, NULL, SB_EABI);
    }
    if (plugins_find(ps, d->name)) {
        LOG_ERROR("plugin", "%s: a plugin named '%s' is already loaded", path, d->name);
        return fail(dl, NULL, SB_EEXISTS);
    }

    struct plugin *p = calloc(1, sizeof(*p));
    if (!p || !(p->path = strdup(path)))
        return fail(dl, p, SB_ENOMEM);
    p->dl = dl;
    p->desc = d;
    p->set = ps;
    /* Fields beyond the plugin's descriptor size do not exist for it: read them as absent. */
    if (HAS_FIELD(d, authenticate)) {
        p->auth_priority = d->auth_priority;
        p->authenticate = d->authenticate;
    }
    if (HAS_FIELD(d, after_reply)) {
        p->intercept_priority = d->intercept_priority;
        p->before_event = d->before_event;
        p->after_reply = d->after_reply;
    }
    if (HAS_FIELD(d, socket_disconnected)) {
        p->socket_connected = d->socket_connected;
        p->socket_disconnected = d->socket_disconnected;
    }

    struct plugin **list = realloc(ps->list, (ps->n + 1) * sizeof(*list));
    if (!list)
        return fail(dl, p, SB_ENOMEM);
    ps->list = list;

    p->host.plugin = p;
    if (d->init) {
        char err[512] = "";
        int rc = d->init(&plugin_host_api, &p->host, config, &p->state, err, sizeof(err));
        if (rc) {
            LOG_ERROR("plugin", "%s: init failed: %s", path, err[0] ? err : sb_strerror(rc));
            return fail(dl, p, rc < 0 ? rc : SB_EINVAL);
        }
    }
    ps->list[ps->n++] = p;
    if (p->authenticate) {
        struct plugin **auth = realloc(ps->auth, (ps->nauth + 1) * sizeof(*auth));
        if (!auth)
            return SB_ENOMEM;
        ps->auth = auth;
        ps->auth[ps->nauth++] = p;
        qsort(ps->auth, ps->nauth, sizeof(*ps->auth), cmp_auth);
    }
    LOG_INFO("plugin", "loaded %s %s from %s", d->name, d->version ? d->version : "", path);
    return 0;
}

int plugins_load(struct plugins *ps, const struct config *cfg, const char *exe_dir, uv_loop_t *loop,
                 struct bus *bus, struct registry *reg)
{
    memset(ps, 0, sizeof(*ps));
    ps->bus = bus;
    ps->reg = reg;
    ps->loop = loop;
    plugin_host_bind(ps);
    for (size_t i = 0; i < cfg->nplugins; i++) {
        const struct config_plugin *cp = &cfg->plugins[i];
        char *path = plugins_resolve(cp->name, cfg->plugin_dir, exe_dir);
        if (!path) {
            LOG_ERROR("plugin", "%s: no such plugin (looked for %s.so in the plugin directories)",
                      cp->name, cp->name);
            return SB_ENOTFOUND;
        }
        int rc = plugins_load_one(ps, path, cp->config);
        free(path);
        if (rc)
            return rc;
    }
    if (cfg->ninterceptors) {
        ps->global = calloc(cfg->ninterceptors, sizeof(*ps->global));
        if (!ps->global)
            return SB_ENOMEM;
    }
    for (size_t i = 0; i < cfg->ninterceptors; i++) {
        struct plugin *p = plugins_find(ps, cfg->interceptors[i]);
        if (!p || (!p->before_event && !p->after_reply)) {
            LOG_ERROR("plugin", "--interceptor %s: %s", cfg->interceptors[i],
                      p ? "the plugin has no interceptor hooks"
                        : "no such plugin is loaded (add --plugin)");
            return SB_ENOTFOUND;
        }
        bool dup = false;
        for (size_t j = 0; j < ps->nglobal; j++)
            dup = dup || ps->global[j] == p;
        if (!dup)
            ps->global[ps->nglobal++] = p;
    }
    plugins_sort_interceptors(ps->global, ps->nglobal);
    return 0;
}

void plugins_sort_interceptors(struct plugin **v, size_t n)
{
    /* Insertion sort: short lists, and stable, so load order breaks ties. */
    for (size_t i = 1; i < n; i++) {
        struct plugin *p = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1]->intercept_priority > p->intercept_priority) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = p;
    }
}

void plugins_socket_event(struct plugins *ps, struct sock *s, bool connected)
{
    for (size_t i = 0; i < ps->n; i++) {
        struct plugin *p = ps->list[i];
        sb_socket_hook_fn fn = connected ? p->socket_connected : p->socket_disconnected;
        if (fn)
            fn(p->state, (sb_socket_t *)(void *)s);
    }
}

void plugins_unload(struct plugins *ps)
{
    for (size_t i = ps->n; i-- > 0;) {
        struct plugin *p = ps->list[i];
        if (p->desc->fini)
            p->desc->fini(p->state);
        dlclose(p->dl);
        free(p->path);
        free(p);
    }
    free(ps->list);
    free(ps->auth);
    free(ps->global);
    memset(ps, 0, sizeof(*ps));
}

struct plugin *plugins_find(const struct plugins *ps, const char *name)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->list[i]->desc->name, name) == 0)
            return ps->list[i];
    return NULL;
}
