/*
 * libFuzzer target: binary arguments. The input is read as a Redis adapter message by
 * adapter_decode_bins(): what decodes must agree with adapter_decode(), name every attachment by
 * exactly one placeholder (borrowed from the input), and come back the same (JSON and bytes)
 * through adapter_encode_bins() and adapter_decode_bins() again. The input is also read as a
 * Socket.IO text packet by sio_decode(), whose data goes through sio_placeholders_check(); the
 * data that passes is written to msgpack with made-up attachments and must read back with one
 * bin per placeholder.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/proto/proto.h"
#include "../json_same.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Counts the placeholders of `v` (valid for `nbins`), marking each num seen in `seen`. */
static size_t count(const json_t *v, size_t nbins, unsigned char *seen)
{
    size_t num, n = 0;
    if (sio_placeholder_num(v, nbins, &num) == 1) {
        if (seen)
            seen[num]++;
        return 1;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            n += count(json_array_get(v, i), nbins, seen);
    } else if (json_is_object(v)) {
        const char *key;
        json_t *item;
        json_object_foreach((json_t *)v, key, item)
        {
            n += count(item, nbins, seen);
        }
    }
    return n;
}

static bool empty(const struct adapter_msg *m)
{
    return !m->uid && !m->nsp && !m->event && !m->args && !m->rooms && !m->nrooms && !m->except &&
           !m->nexcept && !m->flags && !m->bins && !m->nbins;
}

static int encode(struct sbuf *b, const struct adapter_msg *m)
{
    return adapter_encode_bins(b, m->uid, m->nsp, m->event, m->args, m->bins, m->nbins,
                               (const char *const *)m->rooms, m->nrooms,
                               (const char *const *)m->except, m->nexcept);
}

static bool same_bins(const struct adapter_msg *a, const struct adapter_msg *b)
{
    if (a->nbins != b->nbins)
        return false;
    for (size_t i = 0; i < a->nbins; i++) {
        if (a->bins[i].len != b->bins[i].len ||
            (a->bins[i].len && memcmp(a->bins[i].data, b->bins[i].data, a->bins[i].len) != 0))
            return false;
    }
    return true;
}

static void check_adapter(const uint8_t *data, size_t size)
{
    struct adapter_msg m, plain;
    int rc = adapter_decode_bins((const char *)data, size, &m);
    int prc = adapter_decode((const char *)data, size, &plain);
    if (rc != 0) {
        if ((rc != SB_EPROTO && rc != SB_ENOMEM) || !empty(&m))
            abort();
        if (prc == 0)
            adapter_msg_clear(&plain);
        return;
    }
    /* Stricter only by the maps that look like placeholders, never laxer. */
    if (prc != 0 || strcmp(m.uid, plain.uid) != 0 || strcmp(m.nsp, plain.nsp) != 0 ||
        strcmp(m.event, plain.event) != 0 || m.nrooms != plain.nrooms ||
        m.nexcept != plain.nexcept || !json_same(m.flags, plain.flags) ||
        json_array_size(m.args) != json_array_size(plain.args))
        abort();
    adapter_msg_clear(&plain);

    /* Every attachment is named exactly once, and its bytes lie inside the input. */
    if ((m.nbins == 0) != (m.bins == NULL) || sio_placeholders_check(m.args, m.nbins) != 0)
        abort();
    unsigned char *seen = calloc(m.nbins ? m.nbins : 1, 1);
    if (!seen)
        abort();
    if (count(m.args, m.nbins, seen) != m.nbins)
        abort();
    for (size_t i = 0; i < m.nbins; i++) {
        const unsigned char *p = m.bins[i].data;
        if (seen[i] != 1 || p < data || m.bins[i].len > size || p + m.bins[i].len > data + size)
            abort();
    }
    free(seen);

    struct sbuf b, again;
    struct adapter_msg back;
    sbuf_init(&b, 0);
    sbuf_init(&again, 0);
    if (encode(&b, &m) != 0 || adapter_decode_bins(sbuf_data(&b), b.len, &back) != 0)
        abort();
    if (strcmp(m.uid, back.uid) != 0 || strcmp(m.nsp, back.nsp) != 0 ||
        strcmp(m.event, back.event) != 0 || !json_same(m.args, back.args) || !same_bins(&m, &back))
        abort();
    /* What the encoder writes is a fixed point. */
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

#define MAX_FAKE_BINS 64

static void check_sio(const uint8_t *data, size_t size)
{
    struct sio_packet p;
    if (sio_decode((const char *)data, size, &p) != 0)
        return;
    size_t nbins = p.attachments;
    int rc = sio_placeholders_check(p.data, nbins);
    if (rc != 0 && rc != SB_EPROTO)
        abort();
    /* More attachments never make a valid packet invalid; none leaves no valid placeholder. */
    if (rc == 0 && sio_placeholders_check(p.data, nbins + 1) != 0)
        abort();
    if (sio_placeholders_check(p.data, 0) == 0 && count(p.data, SIZE_MAX, NULL) != 0)
        abort();

    /* Valid data written with made-up attachments (slices of the input) reads back with one bin
     * per placeholder, each holding the bytes of the attachment it named. */
    if (rc == 0 && nbins <= MAX_FAKE_BINS && json_is_array(p.data)) {
        struct sio_bin bins[MAX_FAKE_BINS];
        for (size_t i = 0; i < nbins; i++)
            bins[i] = (struct sio_bin){data + i % (size + 1), (size - i % (size + 1)) / 2};
        struct sbuf b;
        struct adapter_msg back;
        sbuf_init(&b, 0);
        rc = adapter_encode_bins(&b, "u", NULL, "e", p.data, bins, nbins, NULL, 0, NULL, 0);
        if (rc == 0) {
            if (adapter_decode_bins(sbuf_data(&b), b.len, &back) != 0 ||
                back.nbins != count(p.data, nbins, NULL) ||
                json_array_size(back.args) != json_array_size(p.data))
                abort();
            adapter_msg_clear(&back);
        } else if (rc != SB_EINVAL || b.len != 0) {
            /* Only data nested deeper than msgpack decoding allows is refused. */
            abort();
        }
        sbuf_free(&b);
    }
    sio_packet_clear(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_adapter(data, size);
    check_sio(data, size);
    return 0;
}
