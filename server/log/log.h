/*
 * Logging: one line per event on stderr, `<time> <level> [<area>] <message>`. Messages never
 * carry tokens or secrets.
 */
#ifndef SB_LOG_H
#define SB_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include <switchboard/plugin.h>

extern int log_level; /* sb_log_level_t: lines above it are skipped */

/* Parses "error", "warn", "info", "debug". Returns the level or -1. */
int log_level_parse(const char *name);
const char *log_level_name(int level);

void log_write(int level, const char *area, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(int level, const char *area, const char *fmt, va_list ap);

#define log_enabled(level)   ((level) <= log_level)
#define LOG_ERROR(area, ...) log_write(SB_LOG_ERROR, area, __VA_ARGS__)
#define LOG_WARN(area, ...)  log_write(SB_LOG_WARN, area, __VA_ARGS__)
#define LOG_INFO(area, ...)                                                                        \
    do {                                                                                           \
        if (log_enabled(SB_LOG_INFO))                                                              \
            log_write(SB_LOG_INFO, area, __VA_ARGS__);                                             \
    } while (0)
#define LOG_DEBUG(area, ...)                                                                       \
    do {                                                                                           \
        if (log_enabled(SB_LOG_DEBUG))                                                             \
            log_write(SB_LOG_DEBUG, area, __VA_ARGS__);                                            \
    } while (0)

#endif
