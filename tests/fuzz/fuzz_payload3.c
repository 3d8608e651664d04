/* libFuzzer target: the Engine.IO v3 text polling payload (eio3_payload_next, lengths in UTF-16
 * code units) on arbitrary bodies, eio3_decode on each packet, and the encoders on what
 * decoded: the same payload must come back byte for byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Re-encodes one decoded packet into `out` the way it was written: a text packet with
 * eio_encode(), a binary one with eio3_encode_base64(). */
static void reencode(struct sbuf *out, const struct eio3_packet *p)
{
    int rc = p->binary ? eio3_encode_base64(out, p->type, p->data, p->len)
                       : eio_encode(out, p->type, p->data, p->len);
    if (rc)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct eio3_payload it;
    struct sbuf again, rebuilt, bin, one;
    sbuf_init(&again, 0);
    sbuf_init(&rebuilt, 0);
    sbuf_init(&bin, 0);
    sbuf_init(&one, 0);
    bool all_decoded = true;
    eio3_payload_begin(&it, buf, size);
    const char *pkt;
    size_t len;
    int rc;
    while ((rc = eio3_payload_next(&it, &pkt, &len)) == 1) {
        /* A packet is a non-empty, valid UTF-8 piece of the body. */
        if (len == 0 || pkt < buf || pkt + len > buf + size || !proto_utf8_valid(pkt, len))
            abort();
        if (eio3_payload_append(&again, pkt, len))
            abort();

        /* Each packet that decodes encodes back to the same text (base64 is canonical). */
        struct eio3_packet p;
        sbuf_reset(&bin);
        int drc = eio3_decode(pkt, len, &bin, &p);
        if (drc != 0 && drc != SB_EPROTO)
            abort();
        if (drc != 0) {
            all_decoded = false;
            continue;
        }
        if (p.type > EIO_NOOP || (p.binary && p.len != bin.len))
            abort();
        sbuf_reset(&one);
        reencode(&one, &p);
        if (one.len != len || memcmp(sbuf_data(&one), pkt, len))
            abort();
        /* And through the payload encoders that take the decoded form. */
        rc = p.binary ? eio3_payload_append_binary(&rebuilt, p.type, p.data, p.len)
                      : eio3_payload_append(&rebuilt, sbuf_data(&one), one.len);
        if (rc)
            abort();
    }
    if (rc != 0 && rc != SB_EPROTO)
        abort();
    /* A payload that split without an error joins back into the same bytes, whichever way. */
    if (rc == 0) {
        if (again.len != size || memcmp(sbuf_data(&again), buf, size))
            abort();
        if (all_decoded && (rebuilt.len != size || memcmp(sbuf_data(&rebuilt), buf, size)))
            abort();
    }

    /* The whole input as one packet: when it is valid UTF-8, the encoder frames it and the
     * decoder gives it back. */
    if (size && proto_utf8_valid(buf, size)) {
        sbuf_reset(&one);
        if (eio3_payload_append(&one, buf, size))
            abort();
        eio3_payload_begin(&it, sbuf_data(&one), one.len);
        if (eio3_payload_next(&it, &pkt, &len) != 1 || len != size || memcmp(pkt, buf, size) ||
            eio3_payload_next(&it, &pkt, &len) != 0)
            abort();
    } else if (size && eio3_payload_append(&one, buf, size) != SB_EINVAL) {
        abort();
    }
    sbuf_free(&again);
    sbuf_free(&rebuilt);
    sbuf_free(&bin);
    sbuf_free(&one);
    return 0;
}
