/*
 * The one JSON encoding every codec uses: compact, any value at the top, UTF-8 kept as it is
 * (JSON_ENSURE_ASCII would make every non-Latin message up to six times larger for nothing),
 * and the one decoding, which reads numbers as JSON.parse does.
 */
#include "proto.h"

#include <stdlib.h>
#include <string.h>

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

/* True when the integer token s[0..len) (an optional '-' and digits) is outside the range of a
 * json_int_t, which jansson refuses. */
static bool int_overflows(const char *s, size_t len)
{
    size_t digits = len - (s[0] == '-');
    if (digits < 19)
        return false;
    if (digits > 19)
        return true;
    const char *d = s + (s[0] == '-');
    return memcmp(d, s[0] == '-' ? "9223372036854775808" : "9223372036854775807", 19) > 0;
}

/*
 * Copies the JSON text `buf` with ".0" after every integer token that overflows a json_int_t,
 * so that jansson reads those as doubles and everything else as it was. Strings are skipped.
 * Returns a new buffer (its length in *out_len), or NULL when out of memory.
 */
static char *mark_big_ints(const char *buf, size_t len, size_t *out_len)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    size_t i = 0, copied = 0;
    while (i < len) {
        char c = buf[i];
        if (c == '"') {
            for (i++; i < len && buf[i] != '"'; i++)
                if (buf[i] == '\\')
                    i++;
            i++;
            continue;
        }
        if (c != '-' && (c < '0' || c > '9')) {
            i++;
            continue;
        }
        size_t start = i++;
        while (i < len && buf[i] >= '0' && buf[i] <= '9')
            i++;
        bool real = i < len && (buf[i] == '.' || buf[i] == 'e' || buf[i] == 'E');
        if (!real && int_overflows(buf + start, i - start)) {
            sbuf_append(&b, buf + copied, i - copied);
            sbuf_append(&b, ".0", 2);
            copied = i;
        }
    }
    sbuf_append(&b, buf + copied, len - copied);
    if (b.failed) {
        sbuf_free(&b);
        return NULL;
    }
    *out_len = b.len;
    return sbuf_data(&b);
}

json_t *proto_json_load(const char *buf, size_t len, size_t flags, json_error_t *err)
{
    json_error_t local;
    if (!err)
        err = &local;
    json_t *v = json_loadb(buf, len, flags, err);
    if (v || json_error_code(err) != json_error_numeric_overflow)
        return v;
    /*
     * An integer outside the 64-bit range is valid JSON (socket.io-client sends 1e19 as
     * 10000000000000000000) and Node reads it as a number; jansson refuses it. Read it as a
     * double, as JSON.parse does, and every other number as it was. A real that overflows a
     * double (1e400) stays an error.
     */
    size_t n;
    char *copy = mark_big_ints(buf, len, &n);
    if (!copy)
        return NULL;
    v = json_loadb(copy, n, flags, err);
    free(copy);
    return v;
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
