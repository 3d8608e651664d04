#include "util.h"

#include <stdlib.h>
#include <string.h>

struct frame *frame_new(const void *payload, size_t len, size_t headroom, enum frame_kind kind)
{
    if (len > UINT32_MAX || headroom > UINT16_MAX)
        return NULL;
    struct frame *f = malloc(sizeof(*f) + headroom + len + 1);
    if (!f)
        return NULL;
    f->refs = 1;
    f->len = (uint32_t)len;
    f->headroom = (uint16_t)headroom;
    f->kind = (uint8_t)kind;
    if (len)
        memcpy(f->data + headroom, payload, len);
    f->data[headroom + len] = '\0';
    return f;
}

void frame_sbuf_init(struct sbuf *b, size_t headroom)
{
    sbuf_init(b, offsetof(struct frame, data) + headroom);
}

struct frame *frame_from_sbuf(struct sbuf *b, enum frame_kind kind)
{
    if (b->failed || b->len > UINT32_MAX)
        return NULL;
    if (b->headroom < offsetof(struct frame, data) || !b->base) {
        struct frame *f = frame_new(sbuf_data(b), b->len, b->headroom, kind);
        sbuf_reset(b);
        return f;
    }
    /* The buffer was laid out by frame_sbuf_init(): its headroom starts with room for the frame
     * header, so the allocation becomes the frame without a copy. */
    struct frame *f = (struct frame *)(void *)b->base;
    f->refs = 1;
    f->len = (uint32_t)b->len;
    f->headroom = (uint16_t)(b->headroom - offsetof(struct frame, data));
    f->kind = (uint8_t)kind;
    b->base = NULL;
    b->len = b->cap = 0;
    return f;
}

void frame_unref(struct frame *f)
{
    if (f && --f->refs == 0)
        free(f);
}
