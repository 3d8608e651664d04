/* libFuzzer target: Socket.IO protocol v4 on arbitrary text: sio4_connect_parse on the
 * namespace of what sio_decode reads as a CONNECT (and on the raw input), query_parse on the
 * query it finds, and sio4_encode_connect_error with the input as the message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The split lies inside the namespace, the path starts with '/' and holds no '?' or '#', and
 * the query no '#'. */
static void check_split(const char *nsp, size_t len)
{
    struct sio4_connect c;
    int rc = sio4_connect_parse(nsp, len, &c);
    if (rc == SB_EPROTO) {
        if (len && nsp[0] == '/')
            abort();
        return;
    }
    if (rc != 0 || c.nsp != nsp || c.nsp_len == 0 || c.nsp_len > len ||
        memchr(c.nsp, '?', c.nsp_len) || memchr(c.nsp, '#', c.nsp_len))
        abort();
    if (c.query) {
        if (c.query != nsp + c.nsp_len + 1 || c.query + c.query_len > nsp + len ||
            memchr(c.query, '#', c.query_len))
            abort();
        struct query q;
        rc = query_parse(c.query, c.query_len, &q);
        if (rc != 0 && rc != SB_ETOOBIG)
            abort();
        if (rc == 0)
            query_free(&q);
    } else if (c.nsp_len != len && nsp[c.nsp_len] != '#') {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    check_split(buf, size);

    struct sio_packet p;
    if (sio_decode(buf, size, &p) == 0) {
        if (p.type == SIO_CONNECT)
            check_split(p.nsp, p.nsp_len);
        sio_packet_clear(&p);
    }

    /* The input as a refusal's message: refused exactly when it is not UTF-8 (or holds a NUL,
     * which ends a C string), and what is written decodes back to the same string. */
    char *msg = malloc(size + 1);
    if (!msg)
        return 0;
    memcpy(msg, buf, size);
    msg[size] = '\0';
    size_t mlen = strlen(msg);
    struct sbuf b;
    sbuf_init(&b, 0);
    int rc = sio4_encode_connect_error(&b, "/admin", msg, NULL);
    if (rc != (proto_utf8_valid(msg, mlen) ? 0 : SB_EINVAL))
        abort();
    if (rc == 0) {
        if (sio_decode(sbuf_data(&b), b.len, &p) != 0 || p.type != SIO_CONNECT_ERROR ||
            p.nsp_len != 6 || memcmp(p.nsp, "/admin", 6) || !json_is_string(p.data) ||
            json_string_length(p.data) != mlen || memcmp(json_string_value(p.data), msg, mlen))
            abort();
        sio_packet_clear(&p);
    } else if (b.len != 0) {
        abort();
    }
    sbuf_free(&b);
    free(msg);
    return 0;
}
