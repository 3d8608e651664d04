/*
 * Logging: one line per event on stderr, `<time> <level> [<area>] <message>`, or with
 * --log-format json one JSON object a line: {"time", "level", "subsystem", "message"} and, when
 * known, "socket", "user", "namespace" (the socket the server is working for: log_context_set)
 * and "reason". Messages never carry tokens or secrets.
 */
#ifndef SB_LOG_H
#define SB_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include <switchboard/plugin.h>

extern int log_level; /* sb_log_level_t: lines above it are skipped */

enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON = 1 };
extern int log_format; /* enum log_format */
/* Parses "text" or "json". Returns the format or -1. */
int log_format_parse(const char *name);

/* The socket the loop is working for, named by the JSON lines written until log_context_clear()
 * (a handler's errors, a plugin's lines). Borrowed: the strings must live until then; NULL for
 * what is not known. */
struct log_context {
    const char *socket, *user, *nsp;
};
void log_context_set(const struct log_context *ctx);
void log_context_clear(void);
/* The context now, to put back after a nested one. */
struct log_context log_context_get(void);
/* log_write with a "reason" field (JSON; the text line is the same as log_write's). */
void log_write_reason(int level, const char *area, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

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

/* A line with a "reason" field (--log-format json), when `level` is enabled. */
#define LOG_REASON(level, area, reason, ...)                                                       \
    do {                                                                                           \
        if (log_enabled(level))                                                                    \
            log_write_reason(level, area, reason, __VA_ARGS__);                                    \
    } while (0)

#endif
