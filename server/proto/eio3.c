/*
 * Engine.IO v3, the protocol of socket.io 2.x clients: binary packets (a type byte over
 * WebSocket, base64 text where only text goes), the open packet without maxPayload, and the
 * two polling payloads (`<length>:<packet>` text with lengths in UTF-16 code units, and the
 * XHR2 binary form), read and written as engine.io-parser 2.x does, only stricter.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"

static bool valid_type(int type)
{
    return type >= EIO_OPEN && type <= EIO_NOOP;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* ------------------------------------------------------------------------------ packets */

int eio3_decode(const char *buf, size_t len, struct sbuf *bin, struct eio3_packet *out)
{
    if (len == 0 || buf[0] != 'b') {
        struct eio_packet pkt;
        if (eio_decode(buf, len, &pkt))
            return SB_EPROTO;
        out->type = pkt.type;
        out->binary = false;
        out->data = pkt.data;
        out->len = pkt.len;
        return 0;
    }
    if (len < 2 || !valid_type(buf[1] - '0'))
        return SB_EPROTO;
    if (!bin)
        return SB_EINVAL;
    int rc = proto_base64_decode_to(bin, buf + 2, len - 2, &out->data, &out->len);
    if (rc)
        return rc;
    out->type = (enum eio_type)(buf[1] - '0');
    out->binary = true;
    return 0;
}

int eio3_encode_base64(struct sbuf *out, enum eio_type type, const void *data, size_t len)
{
    if (!valid_type((int)type) || (!data && len))
        return SB_EINVAL;
    if (out->failed)
        return SB_ENOMEM;
    size_t start = out->len;
    sbuf_append_char(out, 'b');
    sbuf_append_char(out, (char)('0' + type));
    proto_base64_append(out, data, len);
    return sbuf_finish(out, start, 0);
}

int eio3_decode_binary(const void *buf, size_t len, struct eio3_packet *out)
{
    const unsigned char *s = buf;
    if (len == 0 || !valid_type(s[0]))
        return SB_EPROTO;
    out->type = (enum eio_type)s[0];
    out->binary = true;
    out->data = (const char *)s + 1;
    out->len = len - 1;
    return 0;
}

int eio3_encode_binary(struct sbuf *out, enum eio_type type, const void *data, size_t len)
{
    if (!valid_type((int)type) || (!data && len))
        return SB_EINVAL;
    if (out->failed)
        return SB_ENOMEM;
    size_t start = out->len;
    sbuf_append_char(out, (char)type);
    sbuf_append(out, data, len);
    return sbuf_finish(out, start, 0);
}

int eio3_encode_open(struct sbuf *out, const struct eio_open_params *p)
{
    if (!p->sid)
        return SB_EINVAL;
    if (out->failed)
        return SB_ENOMEM;
    size_t start = out->len;
    /* engine.io 3.x's Socket.onOpen() keys, in its order. */
    sbuf_append_str(out, "0{\"sid\":");
    sbuf_append_json_string(out, p->sid, strlen(p->sid));
    sbuf_append_str(out, p->upgrades ? ",\"upgrades\":[\"websocket\"]" : ",\"upgrades\":[]");
    sbuf_printf(out, ",\"pingInterval\":%" PRIu32 ",\"pingTimeout\":%" PRIu32 "}",
                p->ping_interval_ms, p->ping_timeout_ms);
    return sbuf_finish(out, start, 0);
}

/* ------------------------------------------------------------------ the text payload */

/*
 * The number of bytes of s[0..len) that make up exactly `units` UTF-16 code units (a character
 * outside the BMP, four bytes of UTF-8, is a surrogate pair: two units). Returns 0 with *bytes
 * set, or SB_EPROTO when the text is not UTF-8, ends first, or the count ends inside a pair.
 */
static int utf16_span(const char *s, size_t len, uint64_t units, size_t *bytes)
{
    size_t i = 0, bad;
    uint64_t u = 0;
    while (u < units) {
        if (i == len)
            return SB_EPROTO;
        size_t k = proto_utf8_seq((const unsigned char *)s + i, len - i, &bad);
        if (!k)
            return SB_EPROTO;
        u += k == 4 ? 2 : 1;
        i += k;
    }
    if (u != units)
        return SB_EPROTO;
    *bytes = i;
    return 0;
}

/* The length of s[0..len) in UTF-16 code units, or SB_EPROTO when it is not UTF-8. */
static int utf16_count(const char *s, size_t len, uint64_t *units)
{
    size_t i = 0, bad;
    uint64_t u = 0;
    while (i < len) {
        size_t k = proto_utf8_seq((const unsigned char *)s + i, len - i, &bad);
        if (!k)
            return SB_EPROTO;
        u += k == 4 ? 2 : 1;
        i += k;
    }
    *units = u;
    return 0;
}

/*
 * Reads a canonical length at s[0..len): 1 to EIO3_MAX_LENGTH_DIGITS digits without a leading
 * zero (so never 0), then its end mark. `text` chooses the form: ASCII digits ended by ':' (the
 * text payload) or bytes 0…9 ended by 0xFF (the binary payload). Returns the bytes read, the
 * end mark included, or 0 when there is no such length.
 */
static size_t read_length(const unsigned char *s, size_t len, bool text, uint64_t *n)
{
    size_t i = 0;
    uint64_t v = 0;
    for (; i < len; i++) {
        int d = text ? (is_digit((char)s[i]) ? s[i] - '0' : -1) : (s[i] <= 9 ? s[i] : -1);
        if (d < 0)
            break;
        if (i == EIO3_MAX_LENGTH_DIGITS || (i == 0 && d == 0))
            return 0;
        v = v * 10 + (uint64_t)d;
    }
    if (i == 0 || i == len || s[i] != (text ? ':' : 0xFF))
        return 0;
    *n = v;
    return i + 1;
}

void eio3_payload_begin(struct eio3_payload *it, const char *buf, size_t len)
{
    it->p = buf;
    it->end = buf + len;
    it->done = false;
}

int eio3_payload_next(struct eio3_payload *it, const char **pkt, size_t *len)
{
    if (it->done)
        return 0;
    /* Only an empty payload gets here with nothing left: after the last packet, done is set. */
    size_t avail = (size_t)(it->end - it->p);
    uint64_t n;
    size_t head = read_length((const unsigned char *)it->p, avail, true, &n);
    size_t bytes;
    if (!head || utf16_span(it->p + head, avail - head, n, &bytes))
        return SB_EPROTO;
    *pkt = it->p + head;
    *len = bytes;
    it->p += head + bytes;
    it->done = it->p == it->end;
    return 1;
}

int eio3_payload_append(struct sbuf *out, const char *pkt, size_t len)
{
    uint64_t units;
    if (len == 0 || utf16_count(pkt, len, &units))
        return SB_EINVAL;
    if (out->failed)
        return SB_ENOMEM;
    size_t start = out->len;
    sbuf_printf(out, "%" PRIu64 ":", units);
    sbuf_append(out, pkt, len);
    return sbuf_finish(out, start, 0);
}

int eio3_payload_append_binary(struct sbuf *out, enum eio_type type, const void *data, size_t len)
{
    if (!valid_type((int)type) || (!data && len))
        return SB_EINVAL;
    if (out->failed)
        return SB_ENOMEM;
    size_t start = out->len;
    /* The packet text is ASCII: its length in UTF-16 units is its length in bytes. */
    sbuf_printf(out, "%zu:", 2 + proto_base64_len(len));
    return sbuf_finish(out, start, eio3_encode_base64(out, type, data, len));
}

/* ---------------------------------------------------------------- the binary payload */

void eio3_binpayload_begin(struct eio3_binpayload *it, const void *buf, size_t len)
{
    it->p = buf;
    it->end = it->p + len;
    it->done = false;
}

int eio3_binpayload_next(struct eio3_binpayload *it, struct eio3_packet *out)
{
    if (it->done)
        return 0;
    size_t avail = (size_t)(it->end - it->p);
    if (avail < 1 || it->p[0] > 1)
        return SB_EPROTO;
    bool text = it->p[0] == 0;
    uint64_t n;
    size_t head = read_length(it->p + 1, avail - 1, false, &n);
    if (!head || n > avail - 1 - head)
        return SB_EPROTO;
    const unsigned char *pkt = it->p + 1 + head;
    size_t len = (size_t)n;
    struct eio_packet tp;
    if (text) {
        /* engine.io-parser decodes these bytes as UTF-8, then as a text packet. */
        if (!proto_utf8_valid((const char *)pkt, len) || eio_decode((const char *)pkt, len, &tp))
            return SB_EPROTO;
        out->type = tp.type;
        out->binary = false;
        out->data = tp.data;
        out->len = tp.len;
    } else if (eio3_decode_binary(pkt, len, out)) {
        return SB_EPROTO;
    }
    it->p = pkt + len;
    it->done = it->p == it->end;
    return 1;
}

/* Appends the kind byte, the length digits as bytes and 0xFF. */
static void binpayload_head(struct sbuf *out, bool text, size_t len)
{
    char digits[24];
    int n = snprintf(digits, sizeof(digits), "%zu", len);
    sbuf_append_char(out, text ? 0 : 1);
    for (int i = 0; i < n; i++)
        sbuf_append_char(out, (char)(digits[i] - '0'));
    sbuf_append_char(out, (char)0xFF);
}

int eio3_binpayload_append(struct sbuf *out, const char *pkt, size_t len)
{
    if (len == 0 || !proto_utf8_valid(pkt, len))
        return SB_EINVAL;
    if (out->failed)
        return SB_ENOMEM;
    size_t start = out->len;
    binpayload_head(out, true, len);
    sbuf_append(out, pkt, len);
    return sbuf_finish(out, start, 0);
}

int eio3_binpayload_append_binary(struct sbuf *out, enum eio_type type, const void *data,
                                  size_t len)
{
    if (!valid_type((int)type) || (!data && len))
        return SB_EINVAL;
    if (out->failed)
        return SB_ENOMEM;
    size_t start = out->len;
    binpayload_head(out, false, len + 1);
    return sbuf_finish(out, start, eio3_encode_binary(out, type, data, len));
}
