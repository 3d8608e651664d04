/*
 * Small building blocks shared by every subsystem: a growable byte buffer, a refcounted
 * outbound frame, a string-keyed hash map, random ids and FIFO timers. No I/O, no globals
 * (except the id generator's pool and the map's key).
 */
#ifndef SB_UTIL_H
#define SB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <switchboard/errors.h>
#include <switchboard/map.h> /* the seeded map: struct sb_map; its code is util/map.c */

#define ARRAY_SIZE(a)                   (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* ---- sbuf: a growable byte buffer with optional headroom in front of the data ---- */

struct sbuf {
    char *base;      /* owned allocation: headroom + data + one spare byte for a NUL */
    size_t headroom; /* bytes reserved in front of the data (CONN_HEADROOM for frames) */
    size_t len;      /* bytes of data */
    size_t cap;      /* bytes available for data */
    bool failed;     /* an append ran out of memory; the content is incomplete */
};

void sbuf_init(struct sbuf *b, size_t headroom);
void sbuf_free(struct sbuf *b);
void sbuf_reset(struct sbuf *b);
/* Ends an encoder's appends, which started at length `start`: returns `rc`, or SB_ENOMEM when
 * `rc` is 0 but an append failed. After a failure the buffer is cut back to `start`, so that a
 * caller is never left with half a message. */
int sbuf_finish(struct sbuf *b, size_t start, int rc);
/* Appends; on allocation failure sets b->failed and returns SB_ENOMEM. */
int sbuf_append(struct sbuf *b, const void *data, size_t len);
int sbuf_append_str(struct sbuf *b, const char *s);
int sbuf_append_char(struct sbuf *b, char c);
int sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends `s` as a JSON string literal, quotes included. */
int sbuf_append_json_string(struct sbuf *b, const char *s, size_t len);
/* The data (borrowed), always NUL-terminated when len > 0 or after any append. */
static inline char *sbuf_data(const struct sbuf *b)
{
    return b->base ? b->base + b->headroom : NULL;
}

/* ---- frame: an immutable, refcounted message shared by every socket it goes to ---- */

enum frame_kind { FRAME_TEXT = 0, FRAME_BINARY = 1, FRAME_PING = 2, FRAME_CLOSE = 3 };

struct frame {
    uint32_t refs;
    uint32_t len; /* payload bytes, after the headroom */
    uint16_t headroom;
    uint8_t kind; /* enum frame_kind */
    char data[];  /* headroom bytes (the writer puts the wire header there), then the payload */
};

/* Prepares `b` so that frame_from_sbuf() can take its allocation without copying: the headroom
 * holds the frame header plus `headroom` bytes (CONN_HEADROOM). */
void frame_sbuf_init(struct sbuf *b, size_t headroom);
/* Takes the content of `b` (which is left empty) and returns a frame with one reference, or
 * NULL on allocation failure. */
struct frame *frame_from_sbuf(struct sbuf *b, enum frame_kind kind);
struct frame *frame_new(const void *payload, size_t len, size_t headroom, enum frame_kind kind);
static inline struct frame *frame_ref(struct frame *f)
{
    f->refs++;
    return f;
}
void frame_unref(struct frame *f);
static inline char *frame_payload(struct frame *f)
{
    return f->data + f->headroom;
}

/* ---- ids ---- */

#define SB_ID_LEN 20
/* Writes SB_ID_LEN random base64url characters and a NUL. */
void id_generate(char out[SB_ID_LEN + 1]);

/* ---- fifo timers: many timers that share one delay, kept in expiry order ---- */

struct fifo_timer {
    struct fifo_timer *prev, *next;
    uint64_t due; /* loop time in ms */
};

struct fifo_timer_list {
    struct fifo_timer head; /* sentinel */
    uint64_t delay;         /* every timer in this list expires `delay` ms after it was armed */
};

void fifo_timer_list_init(struct fifo_timer_list *l, uint64_t delay);
/* Arms (or re-arms, moving it to the tail) `t` to expire at now + l->delay. */
void fifo_timer_arm(struct fifo_timer_list *l, struct fifo_timer *t, uint64_t now);
void fifo_timer_disarm(struct fifo_timer *t);
static inline bool fifo_timer_armed(const struct fifo_timer *t)
{
    return t->next != NULL;
}
/* Returns the first timer due at or before `now` (still armed), or NULL. */
struct fifo_timer *fifo_timer_expired(struct fifo_timer_list *l, uint64_t now);
/* The due time of the first armed timer, or UINT64_MAX. */
uint64_t fifo_timer_next_due(const struct fifo_timer_list *l);

#endif
