/* libFuzzer target: the Engine.IO v3 binary polling payload (eio3_binpayload_next, XHR2
 * clients) and the v3 binary WebSocket frame (eio3_decode_binary) on arbitrary bytes, and
 * their encoders on what decoded: the same bytes must come back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sbuf again, text;
    sbuf_init(&again, 0);
    sbuf_init(&text, 0);
    struct eio3_binpayload it;
    struct eio3_packet p;
    int rc;
    eio3_binpayload_begin(&it, data, size);
    while ((rc = eio3_binpayload_next(&it, &p)) == 1) {
        if (p.type > EIO_NOOP || p.data < (const char *)data ||
            p.data + p.len > (const char *)data + size)
            abort();
        if (p.binary) {
            rc = eio3_binpayload_append_binary(&again, p.type, p.data, p.len);
        } else {
            /* A text packet is UTF-8 and its type is a digit. */
            sbuf_reset(&text);
            if (!proto_utf8_valid(p.data, p.len) || eio_encode(&text, p.type, p.data, p.len))
                abort();
            rc = eio3_binpayload_append(&again, sbuf_data(&text), text.len);
        }
        if (rc)
            abort();
    }
    if (rc != 0 && rc != SB_EPROTO)
        abort();
    if (rc == 0 && (again.len != size || memcmp(sbuf_data(&again), data, size)))
        abort();
    if (eio3_binpayload_next(&it, &p) != rc)
        abort();

    /* The same bytes as one binary WebSocket frame. */
    if (eio3_decode_binary(data, size, &p) == 0) {
        sbuf_reset(&again);
        if (!p.binary || p.len != size - 1 || p.data != (const char *)data + 1 ||
            eio3_encode_binary(&again, p.type, p.data, p.len) || again.len != size ||
            memcmp(sbuf_data(&again), data, size))
            abort();
    } else if (size && data[0] <= EIO_NOOP) {
        abort();
    }
    sbuf_free(&again);
    sbuf_free(&text);
    return 0;
}
