#include "util.h"

#include <stdio.h>
#include <sys/random.h>

/*
 * Ids are 120 random bits in base64url, like engine.io's. A small buffer of getrandom() output
 * is refilled as it runs out so one id does not cost a system call.
 */
void id_generate(char out[SB_ID_LEN + 1])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    static unsigned char pool[240];
    static size_t avail;
    if (avail < SB_ID_LEN) {
        size_t got = 0;
        while (got < sizeof(pool)) {
            ssize_t n = getrandom(pool + got, sizeof(pool) - got, 0);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        avail = got;
    }
    for (int i = 0; i < SB_ID_LEN; i++)
        out[i] = alphabet[pool[--avail] & 63];
    out[SB_ID_LEN] = '\0';
}
