/*
 * Base64 as engine.io writes binary where only text can go (`b<base64>` in v4, `b4<base64>` in
 * v3): the standard alphabet, padded.
 */
#include <stdbool.h>
#include <stdint.h>

#include "proto.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

size_t proto_base64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Appends the padded base64 of data[0..len), a chunk at a time. */
void proto_base64_append(struct sbuf *out, const unsigned char *s, size_t len)
{
    char chunk[256];
    size_t n = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < len)
            v |= s[i + 2];
        chunk[n++] = alphabet[v >> 18];
        chunk[n++] = alphabet[(v >> 12) & 63];
        chunk[n++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        chunk[n++] = i + 2 < len ? alphabet[v & 63] : '=';
        if (n == sizeof(chunk)) {
            sbuf_append(out, chunk, n);
            n = 0;
        }
    }
    sbuf_append(out, chunk, n);
}

/*
 * Appends the bytes of canonical base64 text: the standard alphabet, a length that is a multiple
 * of 4, '=' only as the padding of the last group, and the spare bits of a padded group zero, so
 * that proto_base64_append() gives back the same text. Returns 0, SB_EPROTO or SB_ENOMEM.
 */
static int decode(struct sbuf *out, const unsigned char *s, size_t len)
{
    if (len % 4)
        return SB_EPROTO;
    unsigned char chunk[192];
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        int pad = last ? (s[i + 3] == '=') + (s[i + 3] == '=' && s[i + 2] == '=') : 0;
        int a = sextet(s[i]), b = sextet(s[i + 1]);
        int c = pad < 2 ? sextet(s[i + 2]) : 0;
        int d = pad < 1 ? sextet(s[i + 3]) : 0;
        if (a < 0 || b < 0 || c < 0 || d < 0)
            return SB_EPROTO;
        if ((pad == 2 && (b & 15)) || (pad == 1 && (c & 3)))
            return SB_EPROTO;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        chunk[n++] = (unsigned char)(v >> 16);
        if (pad < 2)
            chunk[n++] = (unsigned char)(v >> 8);
        if (pad < 1)
            chunk[n++] = (unsigned char)v;
        if (n == sizeof(chunk)) {
            if (sbuf_append(out, chunk, n))
                return SB_ENOMEM;
            n = 0;
        }
    }
    return sbuf_append(out, chunk, n) ? SB_ENOMEM : 0;
}

int proto_base64_decode_to(struct sbuf *bin, const char *s, size_t len, const char **data,
                           size_t *dlen)
{
    if (bin->failed)
        return SB_ENOMEM;
    size_t start = bin->len;
    int rc = sbuf_finish(bin, start, decode(bin, (const unsigned char *)s, len));
    if (rc)
        return rc;
    /* No bytes may leave `bin` unallocated: point at something. */
    *data = bin->base ? sbuf_data(bin) + start : "";
    *dlen = bin->len - start;
    return 0;
}
