/* libFuzzer target: eio_decode() on arbitrary frames, and the encoder on what it decoded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct eio_packet pkt;
    if (eio_decode(buf, size, &pkt) != 0)
        return 0;
    if (pkt.data != buf + 1 || pkt.len != size - 1 || pkt.type > EIO_NOOP)
        abort();

    /* Encoding the packet again gives back the same bytes. */
    struct sbuf b;
    sbuf_init(&b, 0);
    if (eio_encode(&b, pkt.type, pkt.data, pkt.len) != 0 || b.len != size ||
        memcmp(sbuf_data(&b), buf, size) != 0)
        abort();
    sbuf_free(&b);
    return 0;
}
