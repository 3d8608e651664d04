/* libFuzzer target: the SDK's CONFIG splitter (include/switchboard/config.h) on arbitrary
 * strings, under every combination of the SB_CFG_* flags. Every pair has a non-empty key without
 * ',' or '=' and a non-empty value without ',' (NULL only for a bare key under SB_CFG_BARE; no
 * blank at either end under SB_CFG_TRIM); every failure writes a message; a u64 that parses
 * prints back as the same digits, and sb_cfg_u64n on the whole value agrees with sb_cfg_u64. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SB_CONFIG_IMPLEMENTATION
#include <switchboard/config.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool blank_end(const char *s)
{
    size_t n = strlen(s);
    return n && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t');
}

static void one(const char *s, unsigned flags)
{
    struct sb_cfg c;
    struct sb_cfg_pair p;
    char err[128];
    if (sb_cfg_begin_flags(&c, "fuzz", s, flags, err, sizeof err) != 0)
        abort();
    int rc;
    while ((rc = sb_cfg_next(&c, &p, err, sizeof err)) == 1) {
        if (!*p.key || strpbrk(p.key, ",="))
            abort();
        if ((flags & SB_CFG_TRIM) && (blank_end(p.key) || (p.value && blank_end(p.value))))
            abort();
        if (!p.value) {
            if (!(flags & SB_CFG_BARE))
                abort();
            continue;
        }
        if (!*p.value || strchr(p.value, ','))
            abort();
        uint64_t v = 0, vn = 0, ms = 0;
        err[0] = '\0';
        int u = sb_cfg_u64(&c, p.key, p.value, 0, UINT64_MAX, &v, err, sizeof err);
        if (sb_cfg_u64n(&c, p.key, p.value, strlen(p.value), 0, UINT64_MAX, &vn, NULL, 0) != u ||
            (u == 0 && vn != v))
            abort();
        if (u == 0) {
            char back[32];
            snprintf(back, sizeof back, "%llu", (unsigned long long)v);
            /* Leading zeros are digits too; compare without them. */
            const char *d = p.value;
            while (d[0] == '0' && d[1])
                d++;
            if (strcmp(back, d) != 0)
                abort();
        } else if (!err[0]) {
            abort();
        }
        bool b = false;
        unsigned e = 0;
        static const char *const names[] = {"a", "b", NULL};
        err[0] = '\0';
        if (sb_cfg_ms(&c, p.key, p.value, 1, 3600000, &ms, err, sizeof err) != 0 && !err[0])
            abort();
        err[0] = '\0';
        if (sb_cfg_bool(&c, p.key, p.value, &b, err, sizeof err) != 0 && !err[0])
            abort();
        err[0] = '\0';
        if (sb_cfg_enum(&c, p.key, p.value, names, &e, err, sizeof err) != 0 && !err[0])
            abort();
        /* A list: the allocating form agrees with the iterator, item by item. */
        char **items;
        size_t nitems;
        err[0] = '\0';
        int l = sb_cfg_strlist(&c, p.key, p.value, 64, &items, &nitems, err, sizeof err);
        if (l != 0 && (!err[0] || items || nitems))
            abort();
        const char *cursor = p.value, *item;
        size_t len, k = 0;
        int r;
        while ((r = sb_cfg_list_next(&cursor, &item, &len)) == 1) {
            if (l == 0 &&
                (k >= nitems || strlen(items[k]) != len || memcmp(items[k], item, len) != 0))
                abort();
            k++;
        }
        if (l == 0 && (r != 0 || k != nitems))
            abort();
        sb_cfg_strlist_free(l == 0 ? items : NULL, l == 0 ? nitems : 0);
    }
    if (rc < 0 && !err[0])
        abort();
    sb_cfg_end(&c);
    if (c.buf || c.len)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    for (unsigned flags = 0; flags <= (SB_CFG_QUIET | SB_CFG_TRIM | SB_CFG_BARE); flags++)
        one(s, flags);
    free(s);
    return 0;
}
