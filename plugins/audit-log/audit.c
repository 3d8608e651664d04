#include "audit.h"

#include <switchboard/plugin.h>

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

static int parse_bool(const char *value, bool *out)
{
    if (strcmp(value, "true") == 0)
        *out = true;
    else if (strcmp(value, "false") == 0)
        *out = false;
    else
        return SB_EINVAL;
    return 0;
}

static int parse_events(struct audit_opts *o, const char *value)
{
    size_t n = 1;
    for (const char *p = value; *p; p++)
        n += *p == '|';
    if (!(o->events = calloc(n, sizeof(*o->events))))
        return SB_ENOMEM;
    for (const char *p = value;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == 0)
            return SB_EINVAL;
        if (!(o->events[o->nevents] = strndup(p, len)))
            return SB_ENOMEM;
        o->nevents++;
        if (!bar)
            return 0;
        p = bar + 1;
    }
}

enum { K_STDERR, K_FILE, K_EVENTS, K_DATA, K_REPLIES, K_COUNT };
static const char *const keys[K_COUNT] = {"stderr", "file", "events", "data", "replies"};
#define KEY_LIST "stderr, file, events, data, replies"

static int parse_item(struct audit_opts *o, char *item, unsigned n, bool seen[K_COUNT], char *err,
                      size_t errlen)
{
    if (!*item)
        return sb_init_error(err, errlen, SB_EINVAL, "CONFIG item %u is empty", n);
    char *eq = strchr(item, '=');
    const char *value = eq ? eq + 1 : NULL;
    if (eq)
        *eq = '\0';
    int k = 0;
    while (k < K_COUNT && strcmp(item, keys[k]) != 0)
        k++;
    if (k == K_COUNT)
        return sb_init_error(err, errlen, SB_EINVAL,
                             "CONFIG item %u has an unknown key '%s' (keys: " KEY_LIST ")", n,
                             item);
    if (seen[k])
        return sb_init_error(err, errlen, SB_EINVAL, "%s is given twice", keys[k]);
    seen[k] = true;
    if (k == K_STDERR) {
        if (value)
            return sb_init_error(err, errlen, SB_EINVAL, "stderr takes no value");
        return 0;
    }
    if (!value || !*value)
        return sb_init_error(err, errlen, SB_EINVAL, "%s= needs a value", keys[k]);
    int rc;
    switch (k) {
    case K_FILE:
        if (!(o->file = strdup(value)))
            return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
        return 0;
    case K_EVENTS:
        rc = parse_events(o, value);
        if (rc == SB_EINVAL)
            return sb_init_error(err, errlen, rc, "events= has an empty name");
        if (rc < 0)
            return sb_init_error(err, errlen, rc, "out of memory");
        return 0;
    case K_DATA:
        if (parse_bool(value, &o->data))
            return sb_init_error(err, errlen, SB_EINVAL, "data must be true or false");
        return 0;
    default: /* K_REPLIES */
        if (parse_bool(value, &o->replies))
            return sb_init_error(err, errlen, SB_EINVAL, "replies must be true or false");
        return 0;
    }
}

int audit_opts_parse(struct audit_opts *o, const char *config, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    if (!config || !*config)
        return 0;
    char *copy = strdup(config);
    if (!copy)
        return sb_init_error(err, errlen, SB_ENOMEM, "out of memory");
    bool seen[K_COUNT] = {false};
    int rc = 0;
    unsigned n = 1;
    for (char *item = copy;; n++) {
        char *comma = strchr(item, ',');
        if (comma)
            *comma = '\0';
        rc = parse_item(o, item, n, seen, err, errlen);
        if (rc < 0 || !comma)
            break;
        item = comma + 1;
    }
    free(copy);
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
