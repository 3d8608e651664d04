/*
 * Socket.IO protocol v4 (socket.io 2.x clients): what its packets carry that v5's do not. The
 * text form itself is v5's (sio.c reads and writes both); here are the query riding on a
 * CONNECT's namespace and the string payload of a refusal.
 */
#include <string.h>

#include "proto.h"

int sio4_connect_parse(const char *nsp, size_t len, struct sio4_connect *out)
{
    memset(out, 0, sizeof(*out));
    if (len == 0 || nsp[0] != '/')
        return SB_EPROTO;
    /* url.parse() takes the fragment first, then the query, so a '?' after a '#' is neither. */
    const char *hash = memchr(nsp, '#', len);
    size_t end = hash ? (size_t)(hash - nsp) : len;
    const char *q = memchr(nsp, '?', end);
    out->nsp = nsp;
    out->nsp_len = q ? (size_t)(q - nsp) : end;
    if (q) {
        out->query = q + 1;
        out->query_len = end - out->nsp_len - 1;
    }
    return 0;
}

int sio4_encode_connect_error(struct sbuf *out, const char *nsp, const char *message,
                              const json_t *data)
{
    if (data)
        return json_is_object(data) || json_is_string(data)
                   ? sio_encode(out, SIO_CONNECT_ERROR, nsp, -1, data)
                   : SB_EINVAL;
    /* A message that is not UTF-8 would not be JSON a client can parse. */
    if (!message || !proto_utf8_valid(message, strlen(message)))
        return SB_EINVAL;
    json_t *s = json_string(message);
    if (!s)
        return SB_ENOMEM;
    int rc = sio_encode(out, SIO_CONNECT_ERROR, nsp, -1, s);
    json_decref(s);
    return rc;
}
