/* libFuzzer target: wsjson_decode() on arbitrary frames; what decodes must encode and decode
 * again to the same event and data. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wsjson_msg m;
    int rc = wsjson_decode((const char *)data, size, &m);
    if (rc != 0) {
        if ((rc != SB_EPROTO && rc != SB_EJSON) || m.root)
            abort();
        return 0;
    }
    if (m.event_len == 0 || strlen(m.event) != m.event_len)
        abort();

    struct sbuf b;
    sbuf_init(&b, 0);
    if (wsjson_encode(&b, m.event, m.data) != 0)
        abort();
    struct wsjson_msg again;
    if (wsjson_decode(sbuf_data(&b), b.len, &again) != 0)
        abort();
    if (again.event_len != m.event_len || memcmp(again.event, m.event, m.event_len) != 0)
        abort();
    if (m.data ? !json_equal(m.data, again.data) : !json_is_null(again.data))
        abort();
    wsjson_msg_clear(&again);
    wsjson_msg_clear(&m);
    sbuf_free(&b);
    return 0;
}
