#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"

/* Runs the before-interceptors. Returns true when the event goes on to the handler. */
static bool before(struct plugin *const *list, size_t n, struct sb_event *ev)
{
    for (size_t i = 0; i < n; i++) {
        struct plugin *p = list[i];
        if (!p->before_event)
            continue;
        sb_verdict_t v = p->before_event(p->state, ev);
        if (v == SB_CONTINUE)
            continue;
        if (v == SB_DROP)
            return false;
        /* A verdict outside the enum fails closed, as the guards do: refused, and said so. */
        if (v != SB_REFUSE)
            LOG_WARN("pipeline", "%s returned unknown verdict %d from before_event; refused",
                     p->desc->name, (int)v);
        char msg[160];
        snprintf(msg, sizeof(msg), "event refused by %s", p->desc->name);
        sock_exception(ev->sock, ev->error ? ev->error : msg);
        return false;
    }
    return true;
}

/* Runs the after-interceptors on one reply. Returns true when the reply is sent. */
static bool after(const struct gateway *gw, struct sb_event *ev, struct reply *r)
{
    struct sb_reply reply = {.event = r->event, .args = r->args};
    bool keep = true;
    for (size_t i = 0; keep && i < gw->ninterceptors; i++) {
        struct plugin *p = gw->interceptors[i];
        if (!p->after_reply)
            continue;
        sb_verdict_t v = p->after_reply(p->state, ev, &reply);
        if (v == SB_CONTINUE)
            continue;
        keep = false;
        /* As in before(): outside the enum fails closed, and is said. */
        if (v != SB_DROP && v != SB_REFUSE)
            LOG_WARN("pipeline", "%s returned unknown verdict %d from after_reply; withheld",
                     p->desc->name, (int)v);
    }
    free(reply.args_text);
    return keep;
}

/* One event on its way through the handler, which may finish later (it waited for Redis). */
struct pcall {
    struct pipeline *p;
    struct sb_event ev;
    struct gateway *gw; /* referenced: its interceptors stay valid across a reload */
    int64_t ack_id;
};

/* A plain return value as a raw JSON frame; binary in it as Node's JSON.stringify writes a
 * Buffer. */
static void send_raw(struct sock *s, const json_t *value, const struct sio_bins *bins)
{
    json_t *plain = sio_bins_to_buffers(value, bins);
    if (plain)
        sock_send_json(s, plain);
    json_decref(plain);
}

static void handler_done(void *ud, struct sock *s, struct lua_result *res)
{
    struct pcall *pc = ud;
    /* A socket that went away while its handler waited gets nothing. */
    if (s && s->connected) {
        pc->ev.sock = s;
        if (res->error) {
            sock_exception_value(s, res->error, res->error_data);
        } else {
            for (size_t i = 0; i < res->nreplies; i++)
                if (after(pc->gw, &pc->ev, &res->replies[i]))
                    sock_emit(s, res->replies[i].event, res->replies[i].args, res->replies[i].bins,
                              -1);
            /* Once: a handler ends once, and replies and errors have no ack. */
            if (res->ack && pc->ack_id >= 0)
                sock_send_ack(s, pc->ack_id, res->ack, res->ack_bins);
            else if (res->ack && pc->ack_id == PIPELINE_RAW_ACK && !res->ack_empty &&
                     json_array_size(res->ack))
                send_raw(s, json_array_get(res->ack, 0), res->ack_bins);
        }
    }
    gateway_unref(pc->p->lua, pc->gw);
    sb_event_clear(&pc->ev);
    free(pc);
}

static void run_event(struct pipeline *p, struct sock *s, const char *event, const json_t *args,
                      struct sio_bins *bins, int64_t ack_id);

/* What runs for a socket logs in its name (--log-format json): the plugins' hooks, the handler
 * up to its first wait (lua/run.c names it again when it resumes). */
static struct log_context for_sock(const struct sock *s)
{
    struct log_context outer = log_context_get();
    log_context_set(&(struct log_context){s->id, s->user, s->nsp_name});
    return outer;
}

void pipeline_event(struct pipeline *p, struct sock *s, const char *name, const json_t *args,
                    struct sio_bins *bins, int64_t ack_id)
{
    struct log_context outer = for_sock(s);
    run_event(p, s, name, args, bins, ack_id);
    log_context_set(&outer);
}

static void run_event(struct pipeline *p, struct sock *s, const char *event, const json_t *args,
                      struct sio_bins *bins, int64_t ack_id)
{
    struct handler *h = luah_find(p->lua, s->nsp_name, event);
    struct sb_event ev = {
        .sock = s, .name = event, .args = json_incref((json_t *)args), .bins = sio_bins_ref(bins)};
    if (!h) {
        /* Global interceptors see every event, handled or not (a rate limit counts them all). */
        bool go_on = before(p->plugins->global, p->plugins->nglobal, &ev);
        sb_event_clear(&ev);
        if (!go_on)
            return;
        char msg[320];
        snprintf(msg, sizeof(msg), "no handler for event '%.256s'", event);
        LOG_DEBUG("pipeline", "socket %s: %s", s->id, msg);
        sock_exception(s, msg);
        return;
    }
    ev.gateway = h->gw->name;
    if (!before(h->gw->interceptors, h->gw->ninterceptors, &ev)) {
        sb_event_clear(&ev);
        return;
    }
    struct pcall *pc = malloc(sizeof(*pc));
    if (!pc) {
        sb_event_clear(&ev);
        sock_exception(s, "Internal server error");
        return;
    }
    *pc = (struct pcall){.p = p, .ev = ev, .gw = h->gw, .ack_id = ack_id};
    gateway_ref(h->gw);
    /* The event name must outlive this call when the handler waits. */
    pc->ev.name = h->event;
    luah_call_handler(p->lua, h, s, pc->ev.args, pc->ev.bins, handler_done, pc);
}

void pipeline_connect(struct pipeline *p, struct sock *s)
{
    struct log_context outer = for_sock(s);
    plugins_socket_event(p->plugins, s, true);
    luah_call_connect(p->lua, s);
    log_context_set(&outer);
}

void pipeline_identity(struct pipeline *p, struct sock *s)
{
    luah_sock_identity(p->lua, s);
}

void pipeline_disconnect(struct pipeline *p, struct sock *s, const char *reason)
{
    struct log_context outer = for_sock(s);
    luah_call_disconnect(p->lua, s, reason);
    plugins_socket_event(p->plugins, s, false);
    log_context_set(&outer);
}
