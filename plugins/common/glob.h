/*
 * Shared by the shipped plugins (header only: a plugin links nothing of the server's). Event,
 * room and user patterns in plugin configurations use `*` as the only wildcard.
 */
#ifndef SB_PLUGINS_GLOB_H
#define SB_PLUGINS_GLOB_H

#include <stdbool.h>

/* True when `s` matches `pattern`, where `*` matches any run of characters (also empty). The
 * classic backtracking matcher: only the last `*` needs to be revisited, so it is linear in
 * practice and never recursive. */
static inline bool glob_match(const char *pattern, const char *s)
{
    const char *p = pattern, *star = 0, *resume = 0;
    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

#endif
