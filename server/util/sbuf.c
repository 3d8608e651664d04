#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sbuf_init(struct sbuf *b, size_t headroom)
{
    memset(b, 0, sizeof(*b));
    b->headroom = headroom;
}

void sbuf_free(struct sbuf *b)
{
    free(b->base);
    b->base = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

void sbuf_reset(struct sbuf *b)
{
    b->len = 0;
    b->failed = false;
    if (b->base)
        b->base[b->headroom] = '\0';
}

int sbuf_finish(struct sbuf *b, size_t start, int rc)
{
    if (rc == 0 && b->failed)
        rc = SB_ENOMEM;
    if (rc != 0) {
        b->len = start;
        if (b->base)
            sbuf_data(b)[start] = '\0';
    }
    return rc;
}

static int reserve(struct sbuf *b, size_t extra)
{
    if (b->failed)
        return SB_ENOMEM;
    if (b->len + extra < b->cap && b->base)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap <= b->len + extra) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return SB_ENOMEM;
        }
        cap *= 2;
    }
    char *p = realloc(b->base, b->headroom + cap + 1);
    if (!p) {
        b->failed = true;
        return SB_ENOMEM;
    }
    b->base = p;
    b->cap = cap;
    return 0;
}

int sbuf_append(struct sbuf *b, const void *data, size_t len)
{
    if (reserve(b, len))
        return SB_ENOMEM;
    if (len)
        memcpy(b->base + b->headroom + b->len, data, len);
    b->len += len;
    b->base[b->headroom + b->len] = '\0';
    return 0;
}

int sbuf_append_str(struct sbuf *b, const char *s)
{
    return sbuf_append(b, s, strlen(s));
}

int sbuf_append_char(struct sbuf *b, char c)
{
    return sbuf_append(b, &c, 1);
}

int sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SB_EINVAL;
    if (reserve(b, (size_t)n + 1))
        return SB_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->base + b->headroom + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int sbuf_append_json_string(struct sbuf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (reserve(b, len + 2))
        return SB_ENOMEM;
    sbuf_append_char(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sbuf_append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
            sbuf_append(b, "\\\"", 2);
            break;
        case '\\':
            sbuf_append(b, "\\\\", 2);
            break;
        case '\n':
            sbuf_append(b, "\\n", 2);
            break;
        case '\r':
            sbuf_append(b, "\\r", 2);
            break;
        case '\t':
            sbuf_append(b, "\\t", 2);
            break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sbuf_append(b, esc, 6);
        }
        }
    }
    sbuf_append(b, s + run, len - run);
    return sbuf_append_char(b, '"');
}
