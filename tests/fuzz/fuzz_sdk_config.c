/* libFuzzer target: the SDK's CONFIG splitter (include/switchboard/config.h) on arbitrary
 * strings. Every pair has a non-empty key without ',' or '=' and a non-empty value without ',';
 * every failure writes a message; a u64 that parses prints back as the same digits. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SB_CONFIG_IMPLEMENTATION
#include <switchboard/config.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct sb_cfg c;
    struct sb_cfg_pair p;
    char err[128];
    if (sb_cfg_begin(&c, "fuzz", s, err, sizeof err) != 0)
        abort();
    int rc;
    while ((rc = sb_cfg_next(&c, &p, err, sizeof err)) == 1) {
        if (!*p.key || strpbrk(p.key, ",=") || !*p.value || strchr(p.value, ','))
            abort();
        uint64_t v = 0, ms = 0;
        err[0] = '\0';
        if (sb_cfg_u64(&c, p.key, p.value, 0, UINT64_MAX, &v, err, sizeof err) == 0) {
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
    }
    if (rc < 0 && !err[0])
        abort();
    sb_cfg_end(&c);
    free(s);
    return 0;
}
