/*
 * ABI 1.4 guards: before_connect and before_join, the hooks that may refuse a namespace
 * connection or a room join, and socket_set_error(), with which they say why.
 *
 * Who is asked: for a join requested by gateway code, the interceptors of that gateway (the
 * caller passes its list); otherwise the plugins that guard the socket's namespace, the global
 * interceptors and those the namespace's gateways list, which the Lua host tells us through
 * plugins_set_nsp_guards() (the plugin layer does not know gateways).
 */
#include "plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"

/* The hook that runs now. Hooks run on the loop thread one at a time and never nest: a guard's
 * own socket_join() is refused before it could ask the guards again. */
struct guard_call {
    const struct sock *s;
    char *why; /* PLUGINS_WHY_MAX bytes */
    bool set;  /* socket_set_error() was called */
};

void plugins_set_nsp_guards(struct plugins *ps, plugins_nsp_guards_fn fn, void *ud)
{
    ps->nsp_guards = fn;
    ps->nsp_guards_ud = fn ? ud : NULL;
}

bool plugins_guard_running(const struct plugins *ps)
{
    return ps && ps->guard != NULL;
}

int plugins_guard_set_error(sb_socket_t *sock, const char *message)
{
    if (!message)
        return SB_EINVAL;
    /* The socket's plugin set says which hook runs: it must be one asked about this socket. */
    const struct plugins *ps = plugins_of_sock((const struct sock *)(const void *)sock);
    struct guard_call *current = ps ? ps->guard : NULL;
    if (!current || (const void *)sock != (const void *)current->s)
        return SB_ESTATE;
    /* The message goes into JSON (CONNECT_ERROR, the `exception` event): it must be UTF-8. */
    json_t *probe = json_string(message);
    if (!probe)
        return SB_EINVAL;
    json_decref(probe);
    size_t len = strlen(message);
    if (len >= PLUGINS_WHY_MAX) {
        len = PLUGINS_WHY_MAX - 1;
        while (len && ((unsigned char)message[len] & 0xc0) == 0x80)
            len--;
    }
    memcpy(current->why, message, len);
    current->why[len] = '\0';
    current->set = true;
    return 0;
}

/* Asks `list` in order; the first refusal decides. */
static int ask(struct plugins *ps, struct plugin *const *list, size_t n, struct sock *s,
               const char *room, char *why)
{
    bool join = room != NULL;
    for (size_t i = 0; i < n; i++) {
        struct plugin *p = list[i];
        if (join ? !p->before_join : !p->before_connect)
            continue;
        struct guard_call call = {.s = s, .why = why};
        why[0] = '\0';
        struct guard_call *outer = ps->guard;
        ps->guard = &call;
        sb_verdict_t v = join ? p->before_join(p->state, (sb_socket_t *)(void *)s, room)
                              : p->before_connect(p->state, (sb_socket_t *)(void *)s);
        ps->guard = outer;
        if (join && !s->connected)
            return SB_ECLOSED;
        if (v == SB_CONTINUE)
            continue;
        if (v != SB_REFUSE && v != SB_DROP)
            LOG_WARN("plugin", "%s returned unknown verdict %d from before_%s; refused",
                     p->desc->name, (int)v, join ? "join" : "connect");
        if (!call.set)
            snprintf(why, PLUGINS_WHY_MAX, "%s refused by %s", join ? "join" : "connection",
                     p->desc->name);
        if (join)
            LOG_DEBUG("plugin", "socket %s: join '%.128s' refused by %s: %s", s->id, room,
                      p->desc->name, why);
        else
            LOG_DEBUG("plugin", "socket %s: namespace %s refused by %s: %s", s->id,
                      s->nsp_name ? s->nsp_name : "?", p->desc->name, why);
        return SB_EAUTH;
    }
    return 0;
}

/* The plugins that guard namespace `nsp`, each once, by priority, in a new array. */
static int nsp_guards(struct plugins *ps, const char *nsp, struct plugin ***out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (!ps->n)
        return 0;
    /* The globals, then what the gateways list (at most every plugin each). */
    struct plugin **v = malloc(2 * ps->n * sizeof(*v));
    if (!v)
        return SB_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < ps->nglobal; i++)
        v[k++] = ps->global[i];
    size_t m = ps->nsp_guards && nsp ? ps->nsp_guards(ps->nsp_guards_ud, nsp, v + k, ps->n) : 0;
    size_t end = k + (m < ps->n ? m : ps->n);
    for (size_t i = k; i < end; i++) {
        bool dup = false;
        for (size_t j = 0; j < k && !dup; j++)
            dup = v[j] == v[i];
        if (!dup)
            v[k++] = v[i];
    }
    plugins_sort_interceptors(v, k);
    *out = v;
    *count = k;
    return 0;
}

static int guard(struct plugins *ps, struct sock *s, const char *room, char *why)
{
    struct plugin **v;
    size_t n;
    if (nsp_guards(ps, s->nsp_name, &v, &n)) {
        snprintf(why, PLUGINS_WHY_MAX, "out of memory");
        return SB_ENOMEM;
    }
    int rc = ask(ps, v, n, s, room, why);
    free(v);
    return rc;
}

int plugins_guard_connect(struct plugins *ps, struct sock *s, char *why)
{
    why[0] = '\0';
    if (!ps || !ps->any_before_connect)
        return 0;
    return guard(ps, s, NULL, why);
}

int plugins_guard_join(struct plugins *ps, struct plugin *const *list, size_t n, struct sock *s,
                       const char *room, char *why)
{
    why[0] = '\0';
    if (!ps || !ps->any_before_join)
        return 0;
    return ask(ps, list, n, s, room, why);
}

int plugins_guard_join_nsp(struct plugins *ps, struct sock *s, const char *room, char *why)
{
    why[0] = '\0';
    if (!ps || !ps->any_before_join)
        return 0;
    return guard(ps, s, room, why);
}
