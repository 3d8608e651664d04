/*
 * The attachments of one message (struct sio_bins), and the form a JSON-only client gets them
 * in.
 */
#include <stdlib.h>
#include <string.h>

#include "proto.h"

struct sio_bins *sio_bins_new(const struct sio_bin *src, size_t n)
{
    if (n == 0 || n > UINT32_MAX)
        return NULL;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i].len > SIZE_MAX - bytes)
            return NULL;
        bytes += src[i].len;
    }
    size_t head = sizeof(struct sio_bins) + n * sizeof(struct sio_bin);
    if (bytes > SIZE_MAX - head)
        return NULL;
    struct sio_bins *b = malloc(head + bytes);
    if (!b)
        return NULL;
    b->refs = 1;
    b->n = (uint32_t)n;
    b->bytes = bytes;
    unsigned char *p = (unsigned char *)b + head;
    for (size_t i = 0; i < n; i++) {
        if (src[i].len)
            memcpy(p, src[i].data, src[i].len);
        b->bin[i] = (struct sio_bin){.data = p, .len = src[i].len};
        p += src[i].len;
    }
    return b;
}

struct sio_bins *sio_bins_ref(struct sio_bins *b)
{
    if (b)
        b->refs++;
    return b;
}

void sio_bins_unref(struct sio_bins *b)
{
    if (b && --b->refs == 0)
        free(b);
}

/* {"type":"Buffer","data":[…]}, what JSON.stringify() writes for a Node Buffer. */
static json_t *buffer_object(const struct sio_bin *bin)
{
    json_t *bytes = json_array();
    for (size_t i = 0; bytes && i < bin->len; i++) {
        if (json_array_append_new(bytes, json_integer(bin->data[i]))) {
            json_decref(bytes);
            return NULL;
        }
    }
    return bytes ? json_pack("{s:s,s:o}", "type", "Buffer", "data", bytes) : NULL;
}

#define MAX_DEPTH 4096

static json_t *to_buffers(const json_t *v, const struct sio_bins *b, int depth)
{
    if (depth > MAX_DEPTH)
        return NULL;
    size_t num;
    int rc = sio_placeholder_num(v, b->n, &num);
    if (rc < 0)
        return NULL;
    if (rc == 1)
        return buffer_object(&b->bin[num]);
    if (json_is_array(v)) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < json_array_size(v); i++) {
            json_t *item = to_buffers(json_array_get(v, i), b, depth + 1);
            if (!item || json_array_append_new(a, item)) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *item;
        json_object_foreach((json_t *)v, k, item)
        {
            json_t *copy = to_buffers(item, b, depth + 1);
            if (!copy || json_object_set_new(o, k, copy)) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    return json_incref((json_t *)v); /* scalars are shared: nothing changes them */
}

json_t *sio_bins_to_buffers(const json_t *v, const struct sio_bins *b)
{
    if (!v)
        return NULL;
    if (!b)
        return json_incref((json_t *)v);
    return to_buffers(v, b, 0);
}
