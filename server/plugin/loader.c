/*
 * Loading plugins: dlopen(RTLD_NOW | RTLD_LOCAL), one descriptor symbol, magic, ABI major and
 * descriptor size checked before anything in the plugin runs. Every refusal is one log line
 * naming the file and the reason.
 */
#include "plugin.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

/* Names a toolchain exports on its own: reserved identifiers (the sanitizers' __odr_asan.*,
 * __bss_start, _ITM_*) and the linker's markers. Never the plugin author's doing. */
static bool toolchain_symbol(const char *name)
{
    static const char *const markers[] = {"_init", "_fini", "_edata", "_end", "_etext"};
    if (name[0] == '_' && (name[1] == '_' || (name[1] >= 'A' && name[1] <= 'Z')))
        return true;
    for (size_t i = 0; i < ARRAY_SIZE(markers); i++)
        if (strcmp(name, markers[i]) == 0)
            return true;
    return false;
}

/* Reads a section header. Every offset is checked against the file size first, and structs are
 * copied out so that a malformed file cannot cause a misaligned read. */
static bool section(const unsigned char *f, size_t size, const ElfW(Ehdr) * eh, size_t i,
                    ElfW(Shdr) * sh)
{
    if (i >= eh->e_shnum)
        return false;
    memcpy(sh, f + eh->e_shoff + i * sizeof(*sh), sizeof(*sh));
    return sh->sh_offset <= size && sh->sh_size <= size - sh->sh_offset;
}

static int count_extra_exports(const unsigned char *f, size_t size, char **names, size_t max)
{
    ElfW(Ehdr) eh;
    if (size < sizeof(eh))
        return SB_EINVAL;
    memcpy(&eh, f, sizeof(eh));
    bool little = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
        eh.e_ident[EI_DATA] != (little ? ELFDATA2LSB : ELFDATA2MSB))
        return SB_EINVAL;
    if (eh.e_shnum == 0)
        return 0; /* stripped of its section headers: nothing to tell */
    if (eh.e_shentsize != sizeof(ElfW(Shdr)) || eh.e_shoff > size ||
        eh.e_shnum > (size - eh.e_shoff) / sizeof(ElfW(Shdr)))
        return SB_EINVAL;

    ElfW(Shdr) dynsym, strtab;
    size_t i = 0;
    for (; i < eh.e_shnum; i++)
        if (section(f, size, &eh, i, &dynsym) && dynsym.sh_type == SHT_DYNSYM)
            break;
    if (i == eh.e_shnum)
        return 0;
    if (dynsym.sh_entsize != sizeof(ElfW(Sym)) || !section(f, size, &eh, dynsym.sh_link, &strtab))
        return SB_EINVAL;

    int count = 0;
    const char *str = (const char *)f + strtab.sh_offset;
    for (size_t k = 1; k < dynsym.sh_size / sizeof(ElfW(Sym)); k++) {
        ElfW(Sym) sym;
        memcpy(&sym, f + dynsym.sh_offset + k * sizeof(sym), sizeof(sym));
        /* Only what the file defines and others can bind to (ST_BIND is the same for both
         * classes). */
        if (sym.st_shndx == SHN_UNDEF || sym.st_shndx >= SHN_LORESERVE ||
            ELF64_ST_BIND(sym.st_info) == STB_LOCAL || sym.st_name >= strtab.sh_size ||
            !memchr(str + sym.st_name, 0, strtab.sh_size - sym.st_name))
            continue;
        const char *name = str + sym.st_name;
        if (strcmp(name, SB_PLUGIN_SYMBOL) == 0 || toolchain_symbol(name))
            continue;
        if ((size_t)count < max)
            names[count] = strdup(name);
        count++;
    }
    return count;
}

int plugins_extra_exports(const char *path, char **names, size_t max)
{
    for (size_t i = 0; i < max; i++)
        names[i] = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return SB_EIO;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return SB_EIO;
    }
    if (st.st_size < (off_t)sizeof(ElfW(Ehdr))) {
        close(fd);
        return SB_EINVAL;
    }
    size_t size = (size_t)st.st_size;
    void *f = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f == MAP_FAILED)
        return SB_EIO;
    int n = count_extra_exports(f, size, names, max);
    munmap(f, size);
    return n;
}

/* A plugin must export only its descriptor: other exported symbols can collide with the
 * server's libraries or other plugins. Worth a warning naming the file, not a refusal. */
static void warn_extra_exports(void *dl, const char *path)
{
    struct link_map *lm = NULL;
    const char *file = dlinfo(dl, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name && *lm->l_name
                           ? lm->l_name
                           : path;
    char *names[4];
    int n = plugins_extra_exports(file, names, ARRAY_SIZE(names));
    if (n <= 0)
        return;
    char list[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < ARRAY_SIZE(names) && i < (size_t)n; i++) {
        if (names[i] && len < sizeof(list))
            len +=
                (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", names[i]);
        free(names[i]);
    }
    LOG_WARN("plugin",
             "%s: exports %d symbol%s besides %s (%s%s): build it with -fvisibility=hidden so "
             "that only the descriptor is exported",
             path, n, n == 1 ? "" : "s", SB_PLUGIN_SYMBOL, list,
             (size_t)n > ARRAY_SIZE(names) ? ", ..." : "");
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

    warn_extra_exports(dl, path);

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
    if (HAS_FIELD(d, reload))
        p->reload = d->reload;
    if (HAS_FIELD(d, before_connect))
        p->before_connect = d->before_connect;
    if (HAS_FIELD(d, before_join))
        p->before_join = d->before_join;

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
    ps->any_before_connect = ps->any_before_connect || p->before_connect;
    ps->any_before_join = ps->any_before_join || p->before_join;
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
    ps->auth_timeout_ms = cfg->auth_timeout_ms;
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
        if (!p || !plugin_intercepts(p)) {
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

void plugins_reload(struct plugins *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        struct plugin *p = ps->list[i];
        if (p->reload) {
            LOG_INFO("plugin", "reloading %s", p->desc->name);
            p->reload(p->state);
        }
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
    plugins_auth_abandoned();
}

struct plugin *plugins_find(const struct plugins *ps, const char *name)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->list[i]->desc->name, name) == 0)
            return ps->list[i];
    return NULL;
}
