/*
 * tag: a complete out-of-tree switchboard plugin, the template to start yours from.
 *
 * An interceptor: before a gateway's handler runs, when the event's first argument is a JSON
 * object, it adds the field "_tag" with the plugin's CONFIG (or "template" without one):
 *
 *     socket.emit("x", {"a": 1})   ->   the handler gets {"a": 1, "_tag": "mytag"}
 *
 * A "_tag" the client sent is overwritten. Other arguments, and events whose first argument is
 * not an object, pass unchanged.
 *
 * Replies are not tagged: after_reply sees a reply read-only (reply_event/reply_args), it can
 * only let it through or drop it, so rewriting replies is the gateway's job.
 *
 * Load it with `switchboard --plugin ./tag.so=mytag`, and list it in a gateway:
 * `interceptors = { "tag" }`. Build: see README.md.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <switchboard/plugin.h>

struct state {
    const sb_host_api_t *api;
    sb_host_t *host;
    char *field; /* `"_tag":"<tag>"`, the tag escaped for JSON */
};

/* Builds `"_tag":"<tag>"` with the tag's quotes, backslashes and control characters escaped. */
static char *make_field(const char *tag)
{
    static const char prefix[] = "\"_tag\":\"";
    size_t len = strlen(tag);
    char *out = malloc(sizeof(prefix) + 6 * len + 2); /* \u00XX is the longest escape */
    if (!out)
        return NULL;
    char *w = out + sizeof(prefix) - 1;
    memcpy(out, prefix, sizeof(prefix) - 1);
    for (const unsigned char *p = (const unsigned char *)tag; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *w++ = '\\';
            *w++ = (char)*p;
        } else if (*p < 0x20) {
            static const char hex[] = "0123456789abcdef";
            memcpy(w, "\\u00", 4);
            w[4] = hex[*p >> 4];
            w[5] = hex[*p & 15];
            w += 6;
        } else {
            *w++ = (char)*p;
        }
    }
    *w++ = '"';
    *w = '\0';
    return out;
}

static int init(const sb_host_api_t *api, sb_host_t *host, const char *config, void **state,
                char *err, size_t errlen)
{
    struct state *st = calloc(1, sizeof(*st));
    if (!st || !(st->field = make_field(config && *config ? config : "template"))) {
        free(st);
        return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    }
    st->api = api;
    st->host = host;
    *state = st;
    api->log_msg(host, SB_LOG_INFO, "tagging events with %s", st->field);
    return 0;
}

static void fini(void *state)
{
    struct state *st = state;
    free(st->field);
    free(st);
}

/* The index of the '}' closing the object that starts at s[i], or 0 if the text ends first. */
static size_t object_end(const char *s, size_t i)
{
    int depth = 0;
    bool in_string = false;
    for (; s[i]; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\' && s[i + 1])
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            return i;
        }
    }
    return 0;
}

static sb_verdict_t before_event(void *state, sb_event_t *ev)
{
    struct state *st = state;
    const sb_host_api_t *api = st->api;
    /* The arguments as a JSON array text (borrowed: valid during this hook). */
    const char *args = api->event_args(ev);
    if (!args || args[0] != '[')
        return SB_CONTINUE;
    size_t start = 1;
    while (args[start] && strchr(" \n\t\r", args[start]))
        start++;
    if (args[start] != '{')
        return SB_CONTINUE; /* no arguments, or the first one is not an object */
    size_t end = object_end(args, start);
    if (!end)
        return SB_CONTINUE;
    /* Append the field last: in JSON objects with a duplicate key, the last one counts. */
    size_t before = end; /* is the object empty? look back over spaces for its '{' */
    while (before > start && strchr(" \n\t\r", args[before - 1]))
        before--;
    bool empty = before == start + 1;
    size_t len = strlen(args), flen = strlen(st->field);
    char *out = malloc(len + flen + 2);
    if (!out) {
        api->log_msg(st->host, SB_LOG_WARN, "out of memory: event '%s' not tagged",
                     api->event_name(ev));
        return SB_CONTINUE;
    }
    size_t n = end;
    memcpy(out, args, n);
    if (!empty)
        out[n++] = ',';
    memcpy(out + n, st->field, flen);
    n += flen;
    memcpy(out + n, args + end, len - end + 1);
    /* The host copies the text before returning. */
    int rc = api->event_set_args(ev, out);
    if (rc < 0)
        api->log_msg(st->host, SB_LOG_WARN, "event '%s' not tagged: %s", api->event_name(ev),
                     api->strerror(rc));
    free(out);
    return SB_CONTINUE;
}

/* The only exported symbol (SB_PLUGIN_DEFINE marks it visible; build with -fvisibility=hidden). */
SB_PLUGIN_DEFINE{
    SB_PLUGIN_HEADER, /* magic, ABI version, descriptor size */
    .name = "tag",    /* what gateways list in `interceptors` */
    .version = "1.0.0",
    .init = init,
    .fini = fini,
    .intercept_priority = 50,
    .before_event = before_event,
};
