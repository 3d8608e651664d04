/* What the sentinels say, read without I/O so that it is unit-tested: the address a
 * `+switch-master` message names, and a port given as a string. */
#include "redis.h"

#include <string.h>

int sentinel_port_parse(const char *s, size_t n)
{
    int v = 0;
    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= 65535 ? v : -1;
}

int sentinel_switch_parse(const char *msg, size_t len, const char *master, char *host, size_t size,
                          int *port)
{
    const char *part[5];
    size_t plen[5];
    size_t n = 0;
    const char *p = msg, *end = msg + len;
    /* Five fields separated by single spaces, none empty, nothing after the fifth. */
    while (p < end) {
        if (n == 5)
            return SB_EINVAL;
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        const char *q = sp ? sp : end;
        if (q == p)
            return SB_EINVAL;
        part[n] = p;
        plen[n++] = (size_t)(q - p);
        p = sp ? q + 1 : end;
        if (sp && p == end)
            return SB_EINVAL;
    }
    if (n != 5)
        return SB_EINVAL;
    if (plen[0] != strlen(master) || memcmp(part[0], master, plen[0]) != 0)
        return 1; /* another master of these sentinels */
    int v = sentinel_port_parse(part[4], plen[4]);
    if (v < 0 || plen[3] >= size)
        return SB_EINVAL;
    memcpy(host, part[3], plen[3]);
    host[plen[3]] = '\0';
    *port = v;
    return 0;
}
