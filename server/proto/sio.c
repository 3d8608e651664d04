/*
 * Socket.IO v5 packets in their text form, parsed and checked the way socket.io-parser 4.x does,
 * with tighter limits where the JavaScript parser is merely lax (digit counts, NUL bytes).
 */
#include <inttypes.h>
#include <string.h>

#include "proto.h"

/* Deeper than jansson's own parser goes, so only hand-built values can reach it. */
#define MAX_DEPTH 4096

/* The largest attachment count has ten digits (UINT32_MAX). */
#define MAX_ATTACHMENT_DIGITS 10
#define MAX_ACK_DIGITS        15

static const char *const reserved[] = {
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
};

bool sio_event_reserved(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_SIZE(reserved); i++) {
        if (strlen(reserved[i]) == len && memcmp(reserved[i], name, len) == 0)
            return true;
    }
    return false;
}

static bool is_binary(enum sio_type type)
{
    return type == SIO_BINARY_EVENT || type == SIO_BINARY_ACK;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* An event name arrives as the first element of the array. socket.io-parser also takes a
 * number there (and the receiving side turns it into a string). */
static bool valid_event(const json_t *data)
{
    if (!json_is_array(data) || json_array_size(data) == 0)
        return false;
    const json_t *name = json_array_get(data, 0);
    if (json_is_number(name))
        return true;
    if (!json_is_string(name))
        return false;
    const char *s = json_string_value(name);
    size_t len = json_string_length(name);
    /* JSON_ALLOW_NUL lets "\u0000" through; such a name cannot be looked up as a C string. */
    if (memchr(s, '\0', len))
        return false;
    return !sio_event_reserved(s, len);
}

int sio_validate(enum sio_type type, const json_t *data)
{
    bool ok;
    switch (type) {
    case SIO_CONNECT:
        ok = !data || json_is_object(data);
        break;
    case SIO_DISCONNECT:
        ok = !data;
        break;
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
        ok = valid_event(data);
        break;
    case SIO_ACK:
    case SIO_BINARY_ACK:
        ok = json_is_array(data);
        break;
    case SIO_CONNECT_ERROR:
        ok = !data || json_is_object(data) || json_is_string(data);
        break;
    default:
        ok = false;
    }
    return ok ? 0 : SB_EPROTO;
}

int sio_decode(const char *buf, size_t len, struct sio_packet *out)
{
    memset(out, 0, sizeof(*out));
    out->nsp = "/";
    out->nsp_len = 1;
    out->ack_id = -1;
    if (len == 0 || buf[0] < '0' || buf[0] > '0' + SIO_BINARY_ACK)
        return SB_EPROTO;
    enum sio_type type = (enum sio_type)(buf[0] - '0');
    size_t i = 1;

    uint32_t attachments = 0;
    if (is_binary(type)) {
        uint64_t n = 0;
        size_t start = i;
        while (i < len && is_digit(buf[i]) && i - start < MAX_ATTACHMENT_DIGITS)
            n = n * 10 + (uint64_t)(buf[i++] - '0');
        if (i == start || i >= len || buf[i] != '-' || n > UINT32_MAX)
            return SB_EPROTO;
        attachments = (uint32_t)n;
        i++;
    }

    const char *nsp = "/";
    size_t nsp_len = 1;
    if (i < len && buf[i] == '/') {
        /* The namespace runs to the first ',' (consumed) or to the end: "0/admin" is valid. */
        const char *comma = memchr(buf + i, ',', len - i);
        size_t end = comma ? (size_t)(comma - buf) : len;
        nsp = buf + i;
        nsp_len = end - i;
        if (memchr(nsp, '\0', nsp_len))
            return SB_EPROTO;
        i = comma ? end + 1 : len;
    }

    int64_t ack_id = -1;
    if (i < len && is_digit(buf[i])) {
        /* Fifteen digits stay exact in the double a JavaScript peer parses them into. */
        size_t start = i;
        ack_id = 0;
        while (i < len && is_digit(buf[i])) {
            if (i - start == MAX_ACK_DIGITS)
                return SB_EPROTO;
            ack_id = ack_id * 10 + (buf[i++] - '0');
        }
    }

    json_t *data = NULL;
    if (i < len) {
        json_error_t err;
        data = proto_json_load(buf + i, len - i, PROTO_JSON_FLAGS, &err);
        if (!data)
            return SB_EJSON;
    }
    if (sio_validate(type, data) != 0) {
        json_decref(data);
        return SB_EPROTO;
    }
    out->type = type;
    out->attachments = attachments;
    out->nsp = nsp;
    out->nsp_len = nsp_len;
    out->ack_id = ack_id;
    out->data = data;
    return 0;
}

void sio_packet_clear(struct sio_packet *p)
{
    json_decref(p->data);
    memset(p, 0, sizeof(*p));
    p->nsp = "/";
    p->nsp_len = 1;
    p->ack_id = -1;
}

/* A namespace the decoder reads back unchanged: it starts with '/', and holds neither the ','
 * that ends it nor a NUL. */
static bool valid_nsp(const char *nsp, size_t len)
{
    return len > 0 && nsp[0] == '/' && !memchr(nsp, ',', len) && !memchr(nsp, '\0', len);
}

/* Writes `<type>[<n>-][/<nsp>,][<id>]`, the part every packet shares. */
static void prefix(struct sbuf *out, enum sio_type type, uint32_t attachments, const char *nsp,
                   size_t nsp_len, int64_t ack_id)
{
    sbuf_append_char(out, (char)('0' + type));
    if (is_binary(type))
        sbuf_printf(out, "%" PRIu32 "-", attachments);
    if (nsp_len != 1) {
        sbuf_append(out, nsp, nsp_len);
        sbuf_append_char(out, ',');
    }
    if (ack_id >= 0)
        sbuf_printf(out, "%" PRId64, ack_id);
}

static int encode(struct sbuf *out, enum sio_type type, uint32_t attachments, const char *nsp,
                  size_t nsp_len, int64_t ack_id, const json_t *data)
{
    if (!valid_nsp(nsp, nsp_len) || ack_id > SIO_MAX_ACK_ID || sio_validate(type, data) != 0)
        return SB_EINVAL;
    if (out->failed)
        return SB_ENOMEM;
    size_t start = out->len;
    prefix(out, type, attachments, nsp, nsp_len, ack_id);
    return sbuf_finish(out, start, data ? proto_json_append(out, data) : 0);
}

/* Counts the {"_placeholder":true,"num":N} objects that stand for binary attachments, as
 * socket.io-parser's deconstructPacket() produces one per buffer. */
static uint64_t placeholders(const json_t *v, int depth)
{
    if (depth > MAX_DEPTH)
        return 0;
    uint64_t n = 0;
    if (json_is_object(v)) {
        if (json_is_true(json_object_get(v, "_placeholder")))
            return 1;
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it))
            n += placeholders(json_object_iter_value(it), depth + 1);
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            n += placeholders(json_array_get(v, i), depth + 1);
    }
    return n;
}

int sio_placeholder_num(const json_t *v, size_t nbins, size_t *num)
{
    /* reconstructPacket() tests `data._placeholder === true`: false, 1 or "true" make an
     * ordinary object. */
    if (!json_is_object(v) || !json_is_true(json_object_get(v, "_placeholder")))
        return 0;
    /* It then wants `typeof num === "number" && num >= 0 && num < buffers.length`; a fraction
     * passes that test and yields undefined there, so it is refused here. An integral real
     * (1.0, -0.0) is the same number as the integer in JavaScript. */
    const json_t *n = json_object_get(v, "num");
    size_t i;
    if (json_is_integer(n)) {
        json_int_t k = json_integer_value(n);
        if (k < 0 || (uint64_t)k >= nbins)
            return SB_EPROTO;
        i = (size_t)k;
    } else if (json_is_real(n)) {
        double d = json_real_value(n);
        if (!(d >= 0 && d < (double)nbins) || d != (double)(uint64_t)d)
            return SB_EPROTO;
        i = (size_t)d;
        /* (double)nbins may round up past nbins for huge counts. */
        if (i >= nbins)
            return SB_EPROTO;
    } else {
        return SB_EPROTO;
    }
    if (num)
        *num = i;
    return 1;
}

static int check(const json_t *v, size_t nbins, int depth)
{
    if (depth > MAX_DEPTH)
        return SB_EPROTO;
    int rc = sio_placeholder_num(v, nbins, NULL);
    if (rc != 0)
        return rc < 0 ? rc : 0; /* a placeholder is replaced whole: its other keys are not walked */
    if (json_is_object(v)) {
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it)) {
            if ((rc = check(json_object_iter_value(it), nbins, depth + 1)))
                return rc;
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            if ((rc = check(json_array_get(v, i), nbins, depth + 1)))
                return rc;
        }
    }
    return 0;
}

int sio_placeholders_check(const json_t *data, size_t nbins)
{
    return data ? check(data, nbins, 0) : 0;
}

int sio_encode(struct sbuf *out, enum sio_type type, const char *nsp, int64_t ack_id,
               const json_t *data)
{
    if (!nsp)
        nsp = "/";
    uint64_t n = is_binary(type) ? placeholders(data, 0) : 0;
    if (n > UINT32_MAX)
        return SB_EINVAL;
    return encode(out, type, (uint32_t)n, nsp, strlen(nsp), ack_id, data);
}

int sio_encode_packet(struct sbuf *out, const struct sio_packet *p)
{
    const char *nsp = p->nsp ? p->nsp : "/";
    size_t nsp_len = p->nsp ? p->nsp_len : 1;
    return encode(out, p->type, p->attachments, nsp, nsp_len, p->ack_id, p->data);
}

static int encode_event(struct sbuf *out, const char *nsp, int64_t ack_id, const char *event,
                        const json_t *args, uint32_t attachments)
{
    if (!nsp)
        nsp = "/";
    size_t nsp_len = strlen(nsp);
    if (!event || !valid_nsp(nsp, nsp_len) || ack_id > SIO_MAX_ACK_ID ||
        (args && !json_is_array(args)))
        return SB_EINVAL;
    size_t event_len = strlen(event);
    if (!proto_utf8_valid(event, event_len) || sio_event_reserved(event, event_len))
        return SB_EINVAL;
    if (out->failed)
        return SB_ENOMEM;

    size_t start = out->len;
    prefix(out, attachments ? SIO_BINARY_EVENT : SIO_EVENT, attachments, nsp, nsp_len, ack_id);
    sbuf_append_char(out, '[');
    sbuf_append_json_string(out, event, event_len);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(args); i++) {
        sbuf_append_char(out, ',');
        rc = proto_json_append(out, json_array_get(args, i));
    }
    if (rc == 0)
        rc = sbuf_append_char(out, ']');
    return sbuf_finish(out, start, rc);
}

int sio_encode_event(struct sbuf *out, const char *nsp, int64_t ack_id, const char *event,
                     const json_t *args)
{
    return encode_event(out, nsp, ack_id, event, args, 0);
}

int sio_encode_binary_event(struct sbuf *out, const char *nsp, int64_t ack_id, const char *event,
                            const json_t *args, uint32_t attachments)
{
    if (attachments == 0)
        return SB_EINVAL;
    return encode_event(out, nsp, ack_id, event, args, attachments);
}
