/*
 * The one JSON encoding every codec uses: compact, any value at the top, UTF-8 kept as it is
 * (JSON_ENSURE_ASCII would make every non-Latin message up to six times larger for nothing).
 */
#include "proto.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

static int append_cb(const char *buffer, size_t size, void *data)
{
    return sbuf_append(data, buffer, size) ? -1 : 0;
}

int proto_json_append(struct sbuf *out, const json_t *value)
{
    if (!value)
        return SB_EINVAL;
    size_t start = out->len;
    if (json_dump_callback(value, append_cb, out, DUMP_FLAGS) == 0)
        return 0;
    /* jansson stops half-way through a value it cannot encode (a string that is not UTF-8, a
     * NaN), so drop the partial output rather than leave the caller with a broken document. */
    out->len = start;
    if (out->base)
        sbuf_data(out)[start] = '\0';
    return out->failed ? SB_ENOMEM : SB_EINVAL;
}

/* The length of the valid UTF-8 sequence at s[0..len), or 0 when it is invalid or cut short;
 * `*bad` receives how many bytes make up the invalid prefix (its "maximal subpart", which the
 * WHATWG decoder and Node replace with one U+FFFD). */
size_t proto_utf8_seq(const unsigned char *s, size_t len, size_t *bad)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        /* Refuse overlong forms and UTF-16 surrogates, as jansson does. */
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *bad = 1;
        return 0;
    }
    size_t i = 1;
    for (; i <= need; i++) {
        if (i >= len || s[i] < lo || s[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return i;
}

bool proto_utf8_valid(const char *s, size_t len)
{
    size_t i = 0, bad;
    while (i < len) {
        size_t k = proto_utf8_seq((const unsigned char *)s + i, len - i, &bad);
        if (!k)
            return false;
        i += k;
    }
    return true;
}
