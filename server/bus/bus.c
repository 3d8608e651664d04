#include "bus.h"

#include <string.h>

#include "../log/log.h"
#include "../metrics/metrics.h"
#include "../proto/proto.h"

struct deliver {
    const struct bus_msg *m;
    struct conn_frames frames[CONN__PROTOS]; /* encoded on first use, one set per codec */
    int err[CONN__PROTOS];                   /* the codec's encoding failed: its sockets skip */
};

static void deliver_cb(struct sock *s, void *ud)
{
    struct deliver *d = ud;
    unsigned proto = s->conn->proto;
    if (!d->frames[proto].n) {
        if (d->err[proto])
            return;
        d->err[proto] = conn_frames_event(&d->frames[proto], proto, s->nsp_name, -1, d->m->event,
                                          d->m->args, d->m->bins);
        if (d->err[proto])
            return;
    }
    conn_send_frames(s->conn, &d->frames[proto]);
}

int bus_deliver_local(struct bus *b, const struct bus_msg *m)
{
    struct nsp *nsp = registry_nsp(b->reg, m->nsp ? m->nsp : "/", false);
    if (!nsp)
        return 0;
    struct deliver d = {.m = m};
    size_t n =
        registry_each(b->reg, nsp, m->rooms, m->nrooms, m->except, m->nexcept, deliver_cb, &d);
    int rc = 0;
    for (int i = 0; i < CONN__PROTOS; i++) {
        conn_frames_clear(&d.frames[i]);
        if (d.err[i] == SB_ETOOBIG)
            LOG_WARN("bus",
                     "event '%s' has %u attachments, more than socket.io clients read "
                     "(%d): not sent to them",
                     m->event, m->bins->n, SIO_MAX_ATTACHMENTS);
        else if (d.err[i] == SB_EINVAL)
            LOG_WARN(
                "bus",
                "event '%s' cannot be encoded (a reserved name, or a bad placeholder): not sent",
                m->event);
        else if (d.err[i])
            rc = d.err[i];
    }
    if (rc) {
        LOG_ERROR("bus", "out of memory encoding event '%s'", m->event);
        return SB_ENOMEM;
    }
    return (int)n;
}

int bus_emit(struct bus *b, const struct bus_msg *m)
{
    if (!m->event || !*m->event || sio_event_reserved(m->event, strlen(m->event)))
        return SB_EINVAL;
    int n = bus_deliver_local(b, m);
    if (!m->local && b->engine->publish) {
        metrics.bus_published++;
        int rc = b->engine->publish(b, m);
        if (rc < 0)
            metrics.bus_dropped++;
    }
    return n;
}

bool bus_ready(const struct bus *b)
{
    return !b->engine->ready || b->engine->ready(b);
}

/* The local engine: one instance, nothing to carry anywhere. */
static const struct bus_engine local_engine = {
    .name = "local",
};

void bus_close(struct bus *b)
{
    if (b->engine && b->engine->close)
        b->engine->close(b);
    /* Whatever still leaves a room after this (a late close) has no engine to tell. */
    b->engine = &local_engine;
}

static void room_changed_cb(void *ud, const struct nsp *nsp, const char *room, bool exists)
{
    struct bus *b = ud;
    if (b->engine->room_changed)
        b->engine->room_changed(b, nsp->name, room, exists);
}

void bus_init_local(struct bus *b, struct registry *reg)
{
    memset(b, 0, sizeof(*b));
    b->engine = &local_engine;
    b->reg = reg;
    reg->room_cb = room_changed_cb;
    reg->room_ud = b;
}
