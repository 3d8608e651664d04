#include "audit.h"

#include <switchboard/plugin.h>

#define SB_CONFIG_IMPLEMENTATION
#include <switchboard/config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

/* ---- CONFIG ---- */

void audit_opts_free(struct audit_opts *o)
{
    for (size_t i = 0; i < o->nevents; i++)
        free(o->events[i]);
    free(o->events);
    free(o->file);
    memset(o, 0, sizeof(*o));
}

#define AUDIT_MAX_EVENTS 256 /* names in events= */

enum { K_STDERR, K_FILE, K_EVENTS, K_DATA, K_REPLIES, K_COUNT };
static const char *const keys[K_COUNT] = {"stderr", "file", "events", "data", "replies"};
#define KEY_LIST "stderr, file, events, data, replies"

static int parse_item(struct audit_opts *o, const struct sb_cfg *c, const struct sb_cfg_pair *p,
                      bool seen[K_COUNT], char *err, size_t errlen)
{
    static const char *const booleans[] = {"false", "true", NULL};
    unsigned k = 0, v = 0;
    while (k < K_COUNT && strcmp(p->key, keys[k]) != 0)
        k++;
    if (k == K_COUNT) {
        sb_cfg_unknown(c, p->key, err, errlen);
        size_t n = err ? strlen(err) : 0;
        if (err && n < errlen)
            snprintf(err + n, errlen - n, " (keys: " KEY_LIST ")");
        return SB_EINVAL;
    }
    if (sb_cfg_once(c, p->key, &seen[k], err, errlen))
        return SB_EINVAL;
    if (k == K_STDERR) {
        if (p->value)
            return sb_init_error(err, errlen, SB_EINVAL, "audit-log: \"stderr\" takes no value");
        return 0;
    }
    if (!p->value) /* a bare key: "file=" is refused by the splitter */
        return sb_init_error(err, errlen, SB_EINVAL, "audit-log: \"%s\" needs a value", p->key);
    switch (k) {
    case K_FILE:
        if (!(o->file = strdup(p->value)))
            return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
        return 0;
    case K_EVENTS:
        sb_cfg_strlist_free(o->events, o->nevents);
        o->events = NULL;
        o->nevents = 0;
        return sb_cfg_strlist(c, p->key, p->value, AUDIT_MAX_EVENTS, &o->events, &o->nevents, err,
                              errlen)
                   ? SB_EINVAL
                   : 0;
    default: /* K_DATA, K_REPLIES: only true and false */
        if (sb_cfg_enum(c, p->key, p->value, booleans, &v, err, errlen))
            return SB_EINVAL;
        *(k == K_DATA ? &o->data : &o->replies) = v == 1;
        return 0;
    }
}

int audit_opts_parse(struct audit_opts *o, const char *config, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    if (!config || !*config)
        return 0;
    struct sb_cfg c;
    struct sb_cfg_pair p;
    bool seen[K_COUNT] = {false};
    int rc = 0, more = 0;
    if (sb_cfg_begin_flags(&c, "audit-log", config, SB_CFG_BARE, err, errlen) != 0)
        return SB_ENOMEM;
    while (rc == 0 && (more = sb_cfg_next(&c, &p, err, errlen)) == 1)
        rc = parse_item(o, &c, &p, seen, err, errlen);
    sb_cfg_end(&c);
    if (rc == 0 && more < 0)
        rc = SB_EINVAL;
    if (rc == 0 && seen[K_STDERR] && seen[K_FILE])
        rc = sb_init_error(err, errlen, SB_EINVAL, "give file= or stderr, not both");
    if (rc < 0)
        audit_opts_free(o);
    return rc;
}

bool audit_wants(const struct audit_opts *o, const char *event)
{
    if (!o->nevents)
        return true;
    for (size_t i = 0; i < o->nevents; i++)
        if (glob_match(o->events[i], event))
            return true;
    return false;
}

/* ---- lines ---- */

int audit_format_ts(int64_t ts_ms, char *out, size_t size)
{
    int64_t secs = ts_ms / 1000, ms = ts_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (size < 32 || !gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0)
        return SB_EINVAL;
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
    return 0;
}

/* A JSON string (new reference), or null for NULL. Bytes of invalid UTF-8 become '?': a line
 * must always be written, and always be valid JSON. */
static json_t *jstr(const char *s)
{
    if (!s)
        return json_null();
    json_t *v = json_string(s);
    if (v)
        return v;
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = json_string(copy);
    free(copy);
    return v;
}

static int set(json_t *obj, const char *key, json_t *v)
{
    return v ? json_object_set_new(obj, key, v) : -1;
}

char *audit_format(const struct audit_entry *e, size_t *len)
{
    char ts[32];
    json_t *obj = json_object();
    char *text = NULL, *line = NULL;
    if (!obj)
        return NULL;
    if (audit_format_ts(e->ts_ms, ts, sizeof(ts)))
        snprintf(ts, sizeof(ts), "invalid");
    if (set(obj, "ts", json_string(ts)) || set(obj, "type", jstr(e->type ? e->type : "event")) ||
        set(obj, "gateway", jstr(e->gateway)) || set(obj, "nsp", jstr(e->nsp)) ||
        set(obj, "socket", jstr(e->socket)) || set(obj, "user", jstr(e->user)) ||
        set(obj, "event", jstr(e->event)) || (e->reply && set(obj, "reply", jstr(e->reply))))
        goto done;
    if (!(text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER)))
        goto done;
    /* The arguments are the host's own JSON text: spliced in, not parsed again. */
    size_t n = strlen(text), alen = e->args ? strlen(e->args) : 0;
    if (!(line = malloc(n + alen + 16)))
        goto done;
    memcpy(line, text, n - 1); /* without the closing brace */
    size_t at = n - 1;
    if (e->args) {
        memcpy(line + at, ",\"args\":", 8);
        at += 8;
        memcpy(line + at, e->args, alen);
        at += alen;
    }
    memcpy(line + at, "}\n", 3);
    *len = at + 2;
done:
    free(text);
    json_decref(obj);
    return line;
}
