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

bool proto_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        }
        /* The ranges of RFC 3629: no overlong forms, no UTF-16 surrogates, nothing above
         * U+10FFFF; jansson refuses the same. */
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
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
            return false;
        }
        if (len - i <= need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if (p[i + k] < lo || p[i + k] > hi)
                return false;
            lo = 0x80;
            hi = 0xBF;
        }
        i += need + 1;
    }
    return true;
}
