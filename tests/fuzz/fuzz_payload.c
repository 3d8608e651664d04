/* libFuzzer target: the Engine.IO v4 polling payload (eio_payload_next) on arbitrary bodies, and
 * eio_payload_append on what it split. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
