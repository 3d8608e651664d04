/* redis:// URLs, as redis-cli and the Node clients write them, and redis+sentinel:// URLs: the
 * sentinels to ask, the master's name, and the master's password and db. */
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

/* Credentials: everything of [p, end) up to its last '@' (a password may hold '@'), the password
 * after the first ':' of them, percent-decoded as node-redis and redis-py read it. Advances *p
 * past the '@'; leaves it alone when there is none. */
static int parse_password(const char **p, const char *end, char *password, size_t size, char *err,
                          size_t errlen)
{
    const char *at = NULL;
    for (const char *q = *p; q < end; q++)
        if (*q == '@')
            at = q;
    if (!at)
        return 0;
    const char *colon = memchr(*p, ':', (size_t)(at - *p));
    const char *pw = colon ? colon + 1 : *p;
    size_t n = 0;
    for (const char *q = pw; q < at; q++) {
        int hi, lo;
        char ch = *q;
        if (ch == '%' && at - q > 2 && (hi = hexval(q[1])) >= 0 && (lo = hexval(q[2])) >= 0) {
            ch = (char)(hi * 16 + lo);
            q += 2;
        }
        if (n + 1 >= size || ch == '\0')
            return fail(err, errlen, "password too long or holding a NUL");
        password[n++] = ch;
    }
    password[n] = '\0';
    *p = at + 1;
    return 0;
}

/* [v6] or name, then an optional :port, exactly filling [p, end). */
static int parse_hostport(const char *p, const char *end, char *host, size_t size, int *port,
                          char *err, size_t errlen)
{
    const char *h = p, *host_end;
    if (*p == '[') {
        h = p + 1;
        host_end = memchr(h, ']', (size_t)(end - h));
        if (!host_end)
            return fail(err, errlen, "unterminated [IPv6 address]");
        p = host_end + 1;
    } else {
        host_end = memchr(p, ':', (size_t)(end - p));
        if (!host_end)
            host_end = end;
        p = host_end;
    }
    size_t hlen = (size_t)(host_end - h);
    if (hlen == 0)
        return fail(err, errlen, "missing host");
    if (hlen >= size)
        return fail(err, errlen, "host too long");
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (p < end) {
        if (*p != ':' || parse_port(p + 1, (size_t)(end - p - 1), port))
            return fail(err, errlen, "bad port (1 to 65535)");
    }
    return 0;
}

/* Database: N, 0 to 15 on a default Redis (any non-negative number is accepted), ending the URL
 * or before its '?'. */
static int parse_db(const char *s, int *db, char *err, size_t errlen)
{
    char *dend;
    long v = strtol(s, &dend, 10);
    if (dend == s || (*dend && *dend != '?') || v < 0 || v > 1000000)
        return fail(err, errlen, "bad database number");
    *db = (int)v;
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
    if (parse_password(&p, end, out->password, sizeof(out->password), err, errlen) ||
        parse_hostport(p, end, out->host, sizeof(out->host), &out->port, err, errlen))
        return SB_EINVAL;
    if (*end == '/' && end[1] && parse_db(end + 1, &out->db, err, errlen))
        return SB_EINVAL;
    return 0;
}

static const char sentinel_scheme[] = "redis+sentinel://";

bool redis_url_is_sentinel(const char *url)
{
    return strncmp(url, sentinel_scheme, sizeof(sentinel_scheme) - 1) == 0;
}

int sentinel_url_parse(const char *url, struct sentinel_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!redis_url_is_sentinel(url))
        return fail(err, errlen,
                    "expected redis+sentinel://[:password@]host[:port][,host[:port]...]"
                    "/mastername[/db]");
    const char *p = url + sizeof(sentinel_scheme) - 1;
    const char *end = p + strcspn(p, "/?#");
    if (parse_password(&p, end, out->password, sizeof(out->password), err, errlen))
        return SB_EINVAL;
    /* The sentinels, comma-separated. */
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *item_end = comma ? comma : end;
        if (out->nsentinels == SENTINEL_MAX)
            return fail(err, errlen, "more than 8 sentinels");
        int i = out->nsentinels++;
        out->sentinels[i].port = SENTINEL_DEFAULT_PORT;
        if (parse_hostport(p, item_end, out->sentinels[i].host, sizeof(out->sentinels[i].host),
                           &out->sentinels[i].port, err, errlen))
            return SB_EINVAL;
        p = item_end + 1;
    }
    /* The master's name, as in `sentinel monitor <name> …`: one path segment. */
    if (*end != '/')
        return fail(err, errlen, "missing /mastername");
    const char *name = end + 1;
    size_t nlen = strcspn(name, "/?#");
    if (nlen == 0)
        return fail(err, errlen, "missing /mastername");
    if (nlen >= sizeof(out->master))
        return fail(err, errlen, "master name too long");
    for (size_t i = 0; i < nlen; i++)
        if ((unsigned char)name[i] <= ' ' || name[i] == 0x7f)
            return fail(err, errlen, "master name with a space or a control character");
    memcpy(out->master, name, nlen);
    out->master[nlen] = '\0';
    const char *rest = name + nlen;
    if (*rest == '/' && rest[1] && parse_db(rest + 1, &out->db, err, errlen))
        return SB_EINVAL;
    return 0;
}
