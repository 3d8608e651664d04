/* libFuzzer target: the Engine.IO v4 polling payload (eio_payload_next) on arbitrary bodies,
 * eio_payload_append on what it split, and each binary packet (`b<base64>`) through
 * eio_decode_base64, whose bytes eio_payload_append_binary writes back as the same text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A `b` packet decodes only from canonical base64, so what decodes encodes back to itself. */
static void binary(const char *pkt, size_t len)
{
    struct sbuf bin, again;
    sbuf_init(&bin, 0);
    sbuf_init(&again, 0);
    const char *bytes;
    size_t n;
    int rc = eio_decode_base64(pkt, len, &bin, &bytes, &n);
    if (rc != 0 && rc != SB_EPROTO)
        abort();
    if (rc == 0) {
        if (n !=
            (len - 1) / 4 * 3 - (len > 1 && pkt[len - 1] == '=') - (len > 2 && pkt[len - 2] == '='))
            abort();
        if (eio_payload_append_binary(&again, bytes, n) || again.len != len ||
            memcmp(sbuf_data(&again), pkt, len))
            abort();
    }
    sbuf_free(&bin);
    sbuf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct eio_payload it;
    struct sbuf b;
    sbuf_init(&b, 0);
    eio_payload_begin(&it, buf, size);
    const char *pkt;
    size_t len, total = 0, count = 0;
    int rc;
    while ((rc = eio_payload_next(&it, &pkt, &len)) == 1) {
        /* A packet is a non-empty piece of the body without a separator. */
        if (len == 0 || pkt < buf || pkt + len > buf + size ||
            memchr(pkt, EIO_PAYLOAD_SEPARATOR, len))
            abort();
        if (eio_payload_append(&b, pkt, len))
            abort();
        if (pkt[0] == 'b')
            binary(pkt, len);
        total += len;
        count++;
    }
    if (rc != 0 && rc != SB_EPROTO)
        abort();
    /* A payload that split without an error joins back into the same bytes. */
    if (rc == 0 && (b.len != size || total + count - 1 != size || memcmp(sbuf_data(&b), buf, size)))
        abort();
    sbuf_free(&b);
    return 0;
}
