/*
 * libFuzzer target: sio_decode() on arbitrary payloads. Whatever decodes is encoded again, and
 * the encoding must decode to the same packet: the decoder and the encoders agree on the format.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const struct sio_packet *a, const struct sio_packet *b)
{
    if (a->type != b->type || a->ack_id != b->ack_id || a->nsp_len != b->nsp_len ||
        memcmp(a->nsp, b->nsp, a->nsp_len) != 0)
        return false;
    if (!a->data || !b->data)
        return !a->data && !b->data;
    return json_equal(a->data, b->data);
}

/* Decodes `b` (which must succeed) and compares the result with `want`. */
static void check(const struct sbuf *b, const struct sio_packet *want, bool attachments)
{
    struct sio_packet again;
    if (sio_decode(sbuf_data(b), b->len, &again) != 0)
        abort();
    if (!same(want, &again) || (attachments && want->attachments != again.attachments))
        abort();
    sio_packet_clear(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sio_packet p;
    int rc = sio_decode((const char *)data, size, &p);
    if (rc != 0) {
        if ((rc != SB_EPROTO && rc != SB_EJSON) || p.data)
            abort();
        return 0;
    }
    if (!p.nsp || p.nsp_len == 0 || p.nsp[0] != '/' || p.ack_id > SIO_MAX_ACK_ID ||
        sio_validate(p.type, p.data) != 0)
        abort();

    /* sio_encode_packet() keeps everything, the attachment count included. */
    struct sbuf b;
    sbuf_init(&b, 0);
    if (sio_encode_packet(&b, &p) != 0)
        abort();
    check(&b, &p, true);

    /* sio_encode() takes the namespace as a C string and counts placeholders itself. */
    char *nsp = strndup(p.nsp, p.nsp_len);
    if (!nsp)
        abort();
    sbuf_reset(&b);
    if (sio_encode(&b, p.type, nsp, p.ack_id, p.data) != 0)
        abort();
    check(&b, &p, false);

    /* An EVENT named by a string goes through sio_encode_event() as well. */
    const json_t *name = json_array_get(p.data, 0);
    if (p.type == SIO_EVENT && json_is_string(name)) {
        json_t *args = json_array();
        if (!args)
            abort();
        for (size_t i = 1; i < json_array_size(p.data); i++)
            json_array_append(args, json_array_get(p.data, i));
        sbuf_reset(&b);
        if (sio_encode_event(&b, nsp, p.ack_id, json_string_value(name), args) != 0)
            abort();
        check(&b, &p, true);
        json_decref(args);
    }

    free(nsp);
    sbuf_free(&b);
    sio_packet_clear(&p);
    return 0;
}
