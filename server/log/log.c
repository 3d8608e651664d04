#include "log.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int log_level = SB_LOG_INFO;

static const char *const names[] = {"error", "warn", "info", "debug"};
int log_format = LOG_FORMAT_TEXT;

static struct log_context context; /* the loop's one thread: what it is working for now */

int log_format_parse(const char *name)
{
    if (strcasecmp(name, "text") == 0)
        return LOG_FORMAT_TEXT;
    if (strcasecmp(name, "json") == 0)
        return LOG_FORMAT_JSON;
    return -1;
}

void log_context_set(const struct log_context *ctx)
{
    context = *ctx;
}

struct log_context log_context_get(void)
{
    return context;
}

void log_context_clear(void)
{
    memset(&context, 0, sizeof(context));
}

/* The length of the valid UTF-8 sequence at `s` (at most `n` bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80             ? 1
                 : (s[0] & 0xe0) == 0xc0 ? 2
                 : (s[0] & 0xf0) == 0xe0 ? 3
                 : (s[0] & 0xf8) == 0xf0 ? 4
                                         : 0;
    if (!len || len > n || (len == 2 && s[0] < 0xc2) || (len == 4 && s[0] > 0xf4))
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((len == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (len == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
        (len == 4 && s[0] == 0xf0 && s[1] < 0x90) || (len == 4 && s[0] == 0xf4 && s[1] >= 0x90))
        return 0;
    return len;
}

/* Appends `"key":"<s escaped>"` (with a comma first unless `first`) to line[*n..cap). What does
 * not fit is cut at a character; bytes that are not UTF-8 become U+FFFD. */
static void json_field(char *line, size_t cap, size_t *n, const char *key, const char *s,
                       bool first)
{
    size_t k = *n;
    int w = snprintf(line + k, cap - k, "%s\"%s\":\"", first ? "" : ",", key);
    if (w < 0 || (size_t)w >= cap - k)
        return;
    k += (size_t)w;
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    while (left) {
        char esc[8];
        const char *out = esc;
        size_t olen, used = 1;
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            olen = 2;
        } else if (*p < 0x20 || *p == 0x7f) {
            olen = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", *p);
        } else if (*p < 0x80) {
            out = (const char *)p;
            olen = 1;
        } else if ((used = utf8_len(p, left)) != 0) {
            out = (const char *)p;
            olen = used;
        } else {
            out = "\\ufffd";
            olen = 6;
            used = 1;
        }
        if (k + olen + 2 >= cap) /* room for the closing quote and the brace */
            break;
        memcpy(line + k, out, olen);
        k += olen;
        p += used;
        left -= used;
    }
    line[k++] = '"';
    *n = k;
}

static void write_json(int level, const char *area, const char *reason, const char *msg,
                       const struct tm *tm, long ms)
{
    char line[4096], when[64];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm->tm_year + 1900,
             tm->tm_mon + 1, tm->tm_mday, tm->tm_hour, tm->tm_min, tm->tm_sec, ms);
    size_t n = 1, cap = sizeof(line) - 2;
    line[0] = '{';
    json_field(line, cap, &n, "time", when, true);
    json_field(line, cap, &n, "level", names[level], false);
    json_field(line, cap, &n, "subsystem", area, false);
    json_field(line, cap, &n, "message", msg, false);
    if (context.socket)
        json_field(line, cap, &n, "socket", context.socket, false);
    if (context.user)
        json_field(line, cap, &n, "user", context.user, false);
    if (context.nsp)
        json_field(line, cap, &n, "namespace", context.nsp, false);
    if (reason)
        json_field(line, cap, &n, "reason", reason, false);
    line[n++] = '}';
    line[n++] = '\n';
    fwrite(line, 1, n, stderr);
}

int log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, names[i]) == 0)
            return i;
    if (strcasecmp(name, "warning") == 0)
        return SB_LOG_WARN;
    return -1;
}

const char *log_level_name(int level)
{
    return level >= 0 && level < 4 ? names[level] : "?";
}

static void vwrite_reason(int level, const char *area, const char *reason, const char *fmt,
                          va_list ap)
{
    if (!log_enabled(level))
        return;
    /* Build the whole line first so concurrent writers (tests read stderr) never interleave. */
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, names[level], area);
    if (n < 0)
        return;
    if (log_format == LOG_FORMAT_JSON) {
        char msg[2048];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        write_json(level, area, reason, msg, &tm, ts.tv_nsec / 1000000);
        return;
    }
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}

void log_vwrite(int level, const char *area, const char *fmt, va_list ap)
{
    vwrite_reason(level, area, NULL, fmt, ap);
}

void log_write(int level, const char *area, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwrite_reason(level, area, NULL, fmt, ap);
    va_end(ap);
}

void log_write_reason(int level, const char *area, const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwrite_reason(level, area, reason, fmt, ap);
    va_end(ap);
}
