/* libFuzzer target: query_parse() on arbitrary query strings, then everything that consumes a
 * parsed query (the handshake check, the JSON view). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct query q;
    int rc = query_parse((const char *)data, size, &q);
    if (rc != 0) {
        if ((rc != SB_ETOOBIG && rc != SB_ENOMEM) || q.pairs || q.count)
            abort();
        return 0;
    }
    if (q.count > QUERY_MAX_PAIRS)
        abort();
    /* Every key and value is valid UTF-8 without a NUL, so jansson takes each of them. */
    for (size_t i = 0; i < q.count; i++) {
        if (!proto_utf8_valid(q.pairs[i].key, strlen(q.pairs[i].key)) ||
            !proto_utf8_valid(q.pairs[i].value, strlen(q.pairs[i].value)) ||
            query_get(&q, q.pairs[i].key) == NULL)
            abort();
    }

    int code = eio_hs_check("GET", &q, true, EIO_SID_NONE);
    if (code < EIO_HS_OK || code > EIO_HS_UNSUPPORTED_PROTOCOL_VERSION)
        abort();
    (void)eio_hs_check("POST", &q, false, EIO_SID_POLLING);
    (void)eio_hs_check("GET", &q, true, EIO_SID_UNKNOWN);

    char *packed = pairs_from_query(&q, "token");
    json_t *j = pairs_to_json(packed);
    free(packed);
    if (!j)
        abort();
    struct sbuf b;
    sbuf_init(&b, 0);
    if (proto_json_append(&b, j) != 0)
        abort();
    if (code != EIO_HS_OK && eio_hs_encode_error(&b, code) != 0)
        abort();
    sbuf_free(&b);
    json_decref(j);
    query_free(&q);
    return 0;
}
