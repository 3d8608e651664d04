/*
 * libFuzzer target: adapter_decode() and adapter_request_decode() on arbitrary bytes. Whatever
 * decodes is encoded again (adapter_encode(), adapter_pack_json()) and must decode to the same
 * message or value: the decoder and the encoders agree on the format.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/proto/proto.h"
#include "../json_same.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_names(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb || (na == 0) != (a == NULL) || (nb == 0) != (b == NULL))
        return false;
    for (size_t i = 0; i < na; i++) {
        if (strcmp(a[i], b[i]) != 0)
            return false;
    }
    return true;
}

static bool empty(const struct adapter_msg *m)
{
    return !m->uid && !m->nsp && !m->event && !m->args && !m->rooms && !m->nrooms && !m->except &&
           !m->nexcept && !m->flags;
}

static int encode(struct sbuf *b, const struct adapter_msg *m)
{
    return adapter_encode(b, m->uid, m->nsp, m->event, m->args, (const char *const *)m->rooms,
                          m->nrooms, (const char *const *)m->except, m->nexcept);
}

static void check_broadcast(const uint8_t *data, size_t size)
{
    struct adapter_msg m;
    int rc = adapter_decode((const char *)data, size, &m);
    if (rc != 0) {
        if ((rc != SB_EPROTO && rc != SB_ENOMEM) || !empty(&m))
            abort();
        return;
    }
    if (!m.uid || !m.nsp || !m.event || !json_is_array(m.args) || !json_is_object(m.flags) ||
        (m.nrooms == 0) != (m.rooms == NULL) || (m.nexcept == 0) != (m.except == NULL))
        abort();

    struct sbuf b, again;
    struct adapter_msg back;
    sbuf_init(&b, 0);
    sbuf_init(&again, 0);
    if (encode(&b, &m) != 0 || adapter_decode(sbuf_data(&b), b.len, &back) != 0)
        abort();
    if (strcmp(m.uid, back.uid) != 0 || strcmp(m.nsp, back.nsp) != 0 ||
        strcmp(m.event, back.event) != 0 || back.type != SIO_EVENT ||
        !same_names(m.rooms, m.nrooms, back.rooms, back.nrooms) ||
        !same_names(m.except, m.nexcept, back.except, back.nexcept) ||
        !json_same(m.args, back.args) || json_object_size(back.flags) != 0)
        abort();
    /* What the encoder writes is a fixed point: encoding it again gives the same bytes. */
    if (encode(&again, &back) != 0 || again.len != b.len ||
        memcmp(sbuf_data(&again), sbuf_data(&b), b.len) != 0)
        abort();

    adapter_msg_clear(&back);
    adapter_msg_clear(&m);
    if (!empty(&m))
        abort();
    sbuf_free(&b);
    sbuf_free(&again);
}

static void check_request(const uint8_t *data, size_t size)
{
    json_t *v = adapter_request_decode((const char *)data, size);
    if (!v)
        return;
    struct sbuf b;
    sbuf_init(&b, 0);
    int rc = adapter_pack_json(&b, v);
    if (rc != 0) {
        /* Only JSON text can be deeper than msgpack decoding allows. */
        if (rc != SB_EINVAL || data[0] != '{' || b.len != 0)
            abort();
    } else {
        json_t *back = adapter_request_decode(sbuf_data(&b), b.len);
        /* A bare 123 packs as the byte '{', which reads as JSON: the one value that cannot come
         * back (and a msgpack request is always a map). */
        bool brace = json_is_number(v) && json_number_value(v) == 123;
        if (!brace && (!back || !json_same(v, back)))
            abort();
        json_decref(back);
    }
    sbuf_free(&b);
    json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_broadcast(data, size);
    check_request(data, size);
    return 0;
}
