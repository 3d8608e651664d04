/*
 * libFuzzer target: the Redis engine's pure readers (server/bus/redis_url.c,
 * server/bus/redis_sentinel_msg.c). The first byte picks one: 'r' redis_url_parse(),
 * 's' sentinel_url_parse(), anything else sentinel_switch_parse() with the master "mymaster";
 * the rest is the input. Whatever they accept must be well-formed: NUL-terminated fields,
 * ports from 1 to 65535, 1 to SENTINEL_MAX sentinels, a non-empty master name. A refusal must
 * give a reason. Anything else aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/bus/redis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

static bool terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char *in = malloc(size);
    if (!in)
        return 0;
    memcpy(in, data + 1, size - 1);
    in[size - 1] = '\0';
    char err[128] = "";
    if (data[0] == 'r') {
        struct redis_url u;
        if (redis_url_parse(in, &u, err, sizeof(err)) == 0) {
            check(terminated(u.host, sizeof(u.host)) && u.host[0]);
            check(terminated(u.password, sizeof(u.password)));
            check(u.port >= 1 && u.port <= 65535 && u.db >= 0);
        } else {
            check(err[0] != '\0');
        }
    } else if (data[0] == 's') {
        struct sentinel_url u;
        if (sentinel_url_parse(in, &u, err, sizeof(err)) == 0) {
            check(u.nsentinels >= 1 && u.nsentinels <= SENTINEL_MAX);
            for (int i = 0; i < u.nsentinels; i++) {
                check(terminated(u.sentinels[i].host, sizeof(u.sentinels[i].host)));
                check(u.sentinels[i].host[0]);
                check(u.sentinels[i].port >= 1 && u.sentinels[i].port <= 65535);
            }
            check(terminated(u.master, sizeof(u.master)) && u.master[0]);
            check(terminated(u.password, sizeof(u.password)) && u.db >= 0);
        } else {
            check(err[0] != '\0');
        }
    } else {
        char host[64];
        int port = 0;
        /* Not NUL-terminated: the message is read by its length. */
        int rc = sentinel_switch_parse((const char *)data + 1, size - 1, "mymaster", host,
                                       sizeof(host), &port);
        check(rc == 0 || rc == 1 || rc == SB_EINVAL);
        if (rc == 0)
            check(terminated(host, sizeof(host)) && port >= 1 && port <= 65535);
    }
    free(in);
    return 0;
}
