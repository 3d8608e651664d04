/*
 * switchboard SDK: splitting the `key=value,key=value` CONFIG string a plugin receives in
 * init() into pairs, and typed, bounded getters with messages that name the plugin, the key,
 * what is allowed and what was given:
 *
 *     rate-limit: "burst" wants an integer from 1 to 1000000, got "abc"
 *
 * Decimal parsing lives here once: digits only (no sign, no spaces, no 0x), overflow checked.
 *
 * Header only, in the single-file-library style of map.h: every file may include it for the
 * declarations; exactly one file of an image defines SB_CONFIG_IMPLEMENTATION before including
 * it to get the code.
 */
#ifndef SWITCHBOARD_CONFIG_H
#define SWITCHBOARD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One `key=value` item of a CONFIG string. Both point into a buffer owned by the iterator; the
 * caller may cut `value` in place (at a '|', say) while the iterator lives. */
struct sb_cfg_pair {
    const char *key;
    char *value;
};

/* Flags of sb_cfg_begin_flags. */
/* For a CONFIG that may hold a secret: the splitter and sb_cfg_unknown name items by their
 * position and never quote an item or a key that is not known to be one of the plugin's (a
 * secret typed without its `secret=` must not reach a log). The getters still quote the value
 * they are given: do not call them on a secret. */
#define SB_CFG_QUIET 1u
/* Blanks (spaces and tabs) around an item, a key and a value are ignored: " rate = 2/s , x=1"
 * is the pairs rate=2/s and x=1. Blanks inside a value stay. */
#define SB_CFG_TRIM 2u
/* An item without '=' is a bare key, a flag such as audit-log's `stderr`: sb_cfg_next returns it
 * with `value` NULL instead of failing. The caller refuses a bare key that wants a value (and a
 * value for a key that is a flag). */
#define SB_CFG_BARE 4u

/* An iterator over a CONFIG string. It owns a copy of the string (freed by sb_cfg_end). */
struct sb_cfg {
    char *buf;          /* owned copy of the config, split in place */
    char *next;         /* the next item, or NULL after the last */
    const char *plugin; /* borrowed: the name used in messages */
    unsigned index;     /* 1-based number of the item last returned */
    unsigned flags;     /* SB_CFG_* */
    size_t len;         /* the length of the copy, to wipe it */
};

/* Starts iterating over `config` (borrowed; NULL or "" is an empty CONFIG). `plugin` (borrowed,
 * must outlive the iterator) prefixes every message. Returns 0 or -1 when out of memory (with a
 * message in `err`). */
int sb_cfg_begin(struct sb_cfg *c, const char *plugin, const char *config, char *err,
                 size_t errlen);
/* sb_cfg_begin with SB_CFG_* `flags`. */
int sb_cfg_begin_flags(struct sb_cfg *c, const char *plugin, const char *config, unsigned flags,
                       char *err, size_t errlen);
/* The next pair: 1 with `*out` filled, 0 at the end, -1 on an error (an empty item, a trailing
 * comma, a missing '=' unless SB_CFG_BARE, an empty key or an empty value) with a message in
 * `err`. */
int sb_cfg_next(struct sb_cfg *c, struct sb_cfg_pair *out, char *err, size_t errlen);
/* Wipes (CONFIG may hold a secret) and frees the copy; the pairs returned become invalid. Safe
 * to call twice. */
void sb_cfg_end(struct sb_cfg *c);

/* Parses `s` as a decimal from `min` to `max` into `*out`. Digits only: no sign, no spaces, no
 * leading '+', overflow checked. Returns 0, or -1 with a message naming `key` in `err`. */
int sb_cfg_u64(const struct sb_cfg *c, const char *key, const char *s, uint64_t min, uint64_t max,
               uint64_t *out, char *err, size_t errlen);
/* sb_cfg_u64 on the `len` bytes at `s` (which need not end there), for a number inside a value
 * such as the 20 of "20/s". The message quotes those bytes only. */
int sb_cfg_u64n(const struct sb_cfg *c, const char *key, const char *s, size_t len, uint64_t min,
                uint64_t max, uint64_t *out, char *err, size_t errlen);
/* A duration: digits with an optional unit `ms`, `s` or `m` (none: milliseconds), from `min_ms`
 * to `max_ms` milliseconds. Returns 0, or -1 with a message in `err`. */
int sb_cfg_ms(const struct sb_cfg *c, const char *key, const char *s, uint64_t min_ms,
              uint64_t max_ms, uint64_t *out_ms, char *err, size_t errlen);
/* `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`. Returns 0, or -1 with a message. */
int sb_cfg_bool(const struct sb_cfg *c, const char *key, const char *s, bool *out, char *err,
                size_t errlen);
/* The index in the NULL-terminated `names` of `s`. Returns 0, or -1 with a message listing
 * them. */
int sb_cfg_enum(const struct sb_cfg *c, const char *key, const char *s, const char *const *names,
                unsigned *out, char *err, size_t errlen);
/* Marks `seen` (a caller's flag per key) and fails with a message when it was already set. */
int sb_cfg_once(const struct sb_cfg *c, const char *key, bool *seen, char *err, size_t errlen);
/* Always -1 with "<plugin>: unknown key "<key>"" in `err`, for the default branch (with
 * SB_CFG_QUIET: "<plugin>: CONFIG item <n> has an unknown key"). */
int sb_cfg_unknown(const struct sb_cfg *c, const char *key, char *err, size_t errlen);

/*
 * Lists inside a value: `events=chat|join|leave`, items separated by '|'. sb_cfg_list_next walks
 * one without copying: `*cursor` starts at the value (borrowed) and moves on; each call gives the
 * next item as `*item`/`*len` (borrowed, not NUL-terminated) and returns 1, returns 0 after the
 * last one, or -1 for an empty item (`a||b`, `|a`, `a|`, an empty value). */
int sb_cfg_list_next(const char **cursor, const char **item, size_t *len);
/* The items of a list value as `*n` new NUL-terminated strings in a new array (free both with
 * sb_cfg_strlist_free), at most `max` of them. Returns 0, or -1 with a message naming `key` in
 * `err` (an empty item, more than `max`, out of memory), and then nothing to free. */
int sb_cfg_strlist(const struct sb_cfg *c, const char *key, const char *s, size_t max, char ***out,
                   size_t *n, char *err, size_t errlen);
void sb_cfg_strlist_free(char **v, size_t n);

#ifdef SB_CONFIG_IMPLEMENTATION

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int
sb_cfg__fail(const struct sb_cfg *c, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        int n = snprintf(err, errlen, "%s: ", c && c->plugin ? c->plugin : "config");
        if (n < 0)
            n = 0;
        if ((size_t)n < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

int sb_cfg_begin(struct sb_cfg *c, const char *plugin, const char *config, char *err, size_t errlen)
{
    return sb_cfg_begin_flags(c, plugin, config, 0, err, errlen);
}

int sb_cfg_begin_flags(struct sb_cfg *c, const char *plugin, const char *config, unsigned flags,
                       char *err, size_t errlen)
{
    c->plugin = plugin;
    c->index = 0;
    c->flags = flags;
    c->buf = NULL;
    c->next = NULL;
    c->len = 0;
    if (!config || !*config)
        return 0;
    size_t n = strlen(config);
    c->buf = malloc(n + 1);
    if (!c->buf)
        return sb_cfg__fail(c, err, errlen, "out of memory");
    memcpy(c->buf, config, n + 1);
    c->len = n;
    c->next = c->buf;
    return 0;
}

static bool sb_cfg__blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Cuts blanks off both ends of `s` in place; returns its new start. */
static char *sb_cfg__trim(char *s)
{
    while (sb_cfg__blank(*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && sb_cfg__blank(s[n - 1]))
        s[--n] = '\0';
    return s;
}

int sb_cfg_next(struct sb_cfg *c, struct sb_cfg_pair *out, char *err, size_t errlen)
{
    bool trim = c->flags & SB_CFG_TRIM;
    if (!c->next)
        return 0;
    char *item = c->next;
    char *comma = strchr(item, ',');
    c->index++;
    if (comma) {
        *comma = '\0';
        c->next = comma + 1;
        const char *rest = c->next;
        while (trim && sb_cfg__blank(*rest))
            rest++;
        if (!*rest)
            return sb_cfg__fail(c, err, errlen, "CONFIG ends with a ','");
    } else {
        c->next = NULL;
    }
    if (trim)
        item = sb_cfg__trim(item);
    if (!*item)
        return sb_cfg__fail(c, err, errlen, "CONFIG item %u is empty", c->index);
    char *eq = strchr(item, '=');
    bool quiet = c->flags & SB_CFG_QUIET;
    if (!eq && (c->flags & SB_CFG_BARE)) {
        out->key = item;
        out->value = NULL;
        return 1;
    }
    if (!eq && quiet)
        return sb_cfg__fail(c, err, errlen, "CONFIG item %u is not key=value", c->index);
    if (!eq)
        return sb_cfg__fail(c, err, errlen, "CONFIG item \"%s\" wants key=value", item);
    *eq = '\0';
    char *value = eq + 1;
    if (trim) {
        item = sb_cfg__trim(item);
        value = sb_cfg__trim(value);
    }
    if (!*item)
        return sb_cfg__fail(c, err, errlen, "CONFIG item %u has no key before '='", c->index);
    if (!*value && quiet)
        return sb_cfg__fail(c, err, errlen, "CONFIG item %u needs a value", c->index);
    if (!*value)
        return sb_cfg__fail(c, err, errlen, "\"%s\" needs a value", item);
    out->key = item;
    out->value = value;
    return 1;
}

void sb_cfg_end(struct sb_cfg *c)
{
    if (c->buf) {
        volatile char *p = c->buf;
        for (size_t i = 0; i < c->len; i++)
            p[i] = 0;
    }
    free(c->buf);
    c->buf = NULL;
    c->next = NULL;
    c->len = 0;
}

/* The one decimal parser: digits only, at least one, overflow checked. Sets *end past them. */
static int sb_cfg__digits(const char *s, uint64_t *out, const char **end)
{
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -2;
        v = v * 10 + d;
    }
    *out = v;
    *end = p;
    return 0;
}

int sb_cfg_u64(const struct sb_cfg *c, const char *key, const char *s, uint64_t min, uint64_t max,
               uint64_t *out, char *err, size_t errlen)
{
    uint64_t v;
    const char *end;
    if (sb_cfg__digits(s, &v, &end) != 0 || *end || v < min || v > max)
        return sb_cfg__fail(c, err, errlen, "\"%s\" wants an integer from %llu to %llu, got \"%s\"",
                            key, (unsigned long long)min, (unsigned long long)max, s);
    *out = v;
    return 0;
}

int sb_cfg_u64n(const struct sb_cfg *c, const char *key, const char *s, size_t len, uint64_t min,
                uint64_t max, uint64_t *out, char *err, size_t errlen)
{
    uint64_t v = 0;
    bool bad = len == 0;
    for (size_t i = 0; !bad && i < len; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - d) / 10)
            bad = true;
        else
            v = v * 10 + d;
    }
    if (bad || v < min || v > max)
        return sb_cfg__fail(
            c, err, errlen, "\"%s\" wants an integer from %llu to %llu, got \"%.*s\"", key,
            (unsigned long long)min, (unsigned long long)max, len > 64 ? 64 : (int)len, s);
    *out = v;
    return 0;
}

int sb_cfg_ms(const struct sb_cfg *c, const char *key, const char *s, uint64_t min_ms,
              uint64_t max_ms, uint64_t *out_ms, char *err, size_t errlen)
{
    uint64_t v, mult = 1;
    const char *end;
    int bad = sb_cfg__digits(s, &v, &end) != 0;
    if (!bad) {
        if (strcmp(end, "s") == 0)
            mult = 1000;
        else if (strcmp(end, "m") == 0)
            mult = 60000;
        else if (*end && strcmp(end, "ms") != 0)
            bad = 1;
    }
    if (!bad && v > UINT64_MAX / mult)
        bad = 1;
    if (!bad)
        v *= mult;
    if (bad || v < min_ms || v > max_ms)
        return sb_cfg__fail(c, err, errlen,
                            "\"%s\" wants a duration from %llu to %llu ms (units ms, s, m), "
                            "got \"%s\"",
                            key, (unsigned long long)min_ms, (unsigned long long)max_ms, s);
    *out_ms = v;
    return 0;
}

int sb_cfg_bool(const struct sb_cfg *c, const char *key, const char *s, bool *out, char *err,
                size_t errlen)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return sb_cfg__fail(c, err, errlen, "\"%s\" wants true or false, got \"%s\"", key, s);
}

int sb_cfg_list_next(const char **cursor, const char **item, size_t *len)
{
    const char *p = *cursor;
    if (!p)
        return 0;
    const char *bar = strchr(p, '|');
    *item = p;
    *len = bar ? (size_t)(bar - p) : strlen(p);
    *cursor = bar ? bar + 1 : NULL;
    return *len ? 1 : -1;
}

void sb_cfg_strlist_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

int sb_cfg_strlist(const struct sb_cfg *c, const char *key, const char *s, size_t max, char ***out,
                   size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    size_t count = 1;
    for (const char *p = s; *p; p++)
        count += *p == '|';
    if (count > max)
        return sb_cfg__fail(c, err, errlen, "\"%s\" lists at most %zu items separated by '|'", key,
                            max);
    char **v = calloc(count, sizeof(*v));
    if (!v)
        return sb_cfg__fail(c, err, errlen, "out of memory");
    const char *cursor = s, *item;
    size_t len, k = 0;
    int rc;
    while ((rc = sb_cfg_list_next(&cursor, &item, &len)) == 1) {
        if (!(v[k] = malloc(len + 1))) {
            sb_cfg_strlist_free(v, k);
            return sb_cfg__fail(c, err, errlen, "out of memory");
        }
        memcpy(v[k], item, len);
        v[k++][len] = '\0';
    }
    if (rc < 0) {
        sb_cfg_strlist_free(v, k);
        return sb_cfg__fail(c, err, errlen,
                            "\"%s\" has an empty name in \"%s\" (names are separated by '|')", key,
                            s);
    }
    *out = v;
    *n = k;
    return 0;
}

int sb_cfg_enum(const struct sb_cfg *c, const char *key, const char *s, const char *const *names,
                unsigned *out, char *err, size_t errlen)
{
    char list[256];
    size_t used = 0;
    list[0] = '\0';
    for (unsigned i = 0; names[i]; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
        int n = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
        if (n > 0 && (size_t)n < sizeof list - used)
            used += (size_t)n;
    }
    return sb_cfg__fail(c, err, errlen, "\"%s\" wants one of %s, got \"%s\"", key, list, s);
}

int sb_cfg_once(const struct sb_cfg *c, const char *key, bool *seen, char *err, size_t errlen)
{
    if (*seen)
        return sb_cfg__fail(c, err, errlen, "\"%s\" is given twice", key);
    *seen = true;
    return 0;
}

int sb_cfg_unknown(const struct sb_cfg *c, const char *key, char *err, size_t errlen)
{
    if (c && (c->flags & SB_CFG_QUIET))
        return sb_cfg__fail(c, err, errlen, "CONFIG item %u has an unknown key", c->index);
    return sb_cfg__fail(c, err, errlen, "unknown key \"%s\"", key);
}

#endif /* SB_CONFIG_IMPLEMENTATION */

#ifdef __cplusplus
}
#endif

#endif /* SWITCHBOARD_CONFIG_H */
