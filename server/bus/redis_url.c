/* redis:// URLs, as redis-cli and the Node clients write them. */
#include "redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return SB_EINVAL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int parse_port(const char *s, size_t n, int *out)
{
    if (n == 0 || n > 5)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *out = v;
    return 0;
}

int redis_url_parse(const char *url, struct redis_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    static const char scheme[] = "redis://";
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
        return fail(err, errlen, "expected redis://[:password@]host[:port][/db]");
    const char *p = url + sizeof(scheme) - 1;
    const char *end = p + strcspn(p, "/?#");

    /* Credentials: everything up to the last '@' of the authority (a password may hold '@'). */
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        /* Percent-decoded, as node-redis and redis-py read the password of a URL. */
        size_t n = 0;
        for (const char *q = pw; q < at; q++) {
            int hi, lo;
            char ch = *q;
            if (ch == '%' && at - q > 2 && (hi = hexval(q[1])) >= 0 && (lo = hexval(q[2])) >= 0) {
                ch = (char)(hi * 16 + lo);
                q += 2;
            }
            if (n + 1 >= sizeof(out->password) || ch == '\0')
                return fail(err, errlen, "password too long or holding a NUL");
            out->password[n++] = ch;
        }
        out->password[n] = '\0';
        p = at + 1;
    }

    /* Host: [v6] or name, then an optional :port. */
    const char *host = p, *host_end;
    if (*p == '[') {
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        if (!host_end)
            return fail(err, errlen, "unterminated [IPv6 address]");
        p = host_end + 1;
    } else {
        host_end = memchr(p, ':', (size_t)(end - p));
        if (!host_end)
            host_end = end;
        p = host_end;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0)
        return fail(err, errlen, "missing host");
    if (hlen >= sizeof(out->host))
        return fail(err, errlen, "host too long");
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    if (p < end) {
        if (*p != ':' || parse_port(p + 1, (size_t)(end - p - 1), &out->port))
            return fail(err, errlen, "bad port (1 to 65535)");
    }

    /* Database: /N, 0 to 15 on a default Redis (any non-negative number is accepted). */
    if (*end == '/' && end[1]) {
        char *dend;
        long db = strtol(end + 1, &dend, 10);
        if (dend == end + 1 || (*dend && *dend != '?') || db < 0 || db > 1000000)
            return fail(err, errlen, "bad database number");
        out->db = (int)db;
    }
    return 0;
}
