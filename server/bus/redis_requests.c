/*
 * Requests between servers (`<prefix>-request#<nsp>#`, answered on `<prefix>-response#<nsp>#`),
 * in the formats of @socket.io/redis-adapter 8: this server answers SOCKETS, ALL_ROOMS,
 * REMOTE_JOIN, REMOTE_LEAVE, REMOTE_DISCONNECT, REMOTE_FETCH and SERVER_SIDE_EMIT, so that
 * fetchSockets(), socketsJoin(), disconnectSockets() and serverSideEmit() on a Node server cover
 * its sockets; and it asks the same questions for the gateways. A Node server that counts us
 * with PUBSUB NUMSUB waits for our answer, so every request we can answer gets one.
 */
#include "redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "../log/log.h"
#include "../proto/proto.h"

enum request_type {
    REQ_SOCKETS = 0,
    REQ_ALL_ROOMS = 1,
    REQ_REMOTE_JOIN = 2,
    REQ_REMOTE_LEAVE = 3,
    REQ_REMOTE_DISCONNECT = 4,
    REQ_REMOTE_FETCH = 5,
    REQ_SERVER_SIDE_EMIT = 6,
    REQ_BROADCAST = 7,
};

#define MAX_QUERY_ROOMS 1024
#define REQUEST_MAX     (16u << 20) /* a larger request or response is ignored */

/* ---- answering ---- */

static void respond(struct redis_engine *e, const char *nsp, json_t *response)
{
    char channel[1024];
    snprintf(channel, sizeof(channel), "%s-response#%s#", e->prefix, nsp);
    char *text = json_dumps(response, JSON_COMPACT);
    if (text)
        redis_publish_raw(e, channel, text, strlen(text));
    free(text);
    json_decref(response);
}

/* The strings of a JSON array (numbers as their text, as Node would match them), pointing into
 * `keep`, which the caller frees. Returns the count. */
static size_t strings_of(const json_t *arr, const char **out, json_t *keep)
{
    size_t n = 0, i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (n == MAX_QUERY_ROOMS)
            break;
        if (json_is_string(v)) {
            out[n++] = json_string_value(v);
        } else if (json_is_number(v)) {
            char num[32];
            snprintf(num, sizeof(num), "%.17g", json_number_value(v));
            json_t *s = json_string(num);
            json_array_append_new(keep, s);
            out[n++] = json_string_value(s);
        }
    }
    return n;
}

struct query_buf {
    struct bus_query q;
    const char *rooms[MAX_QUERY_ROOMS];
    const char *except[MAX_QUERY_ROOMS];
    json_t *keep;
};

static void query_from(struct query_buf *b, const char *nsp, const json_t *rooms,
                       const json_t *except)
{
    b->keep = json_array();
    b->q = (struct bus_query){.nsp = nsp, .rooms = b->rooms, .except = b->except};
    b->q.nrooms = strings_of(rooms, b->rooms, b->keep);
    b->q.nexcept = strings_of(except, b->except, b->keep);
}

static json_t *local_ids(struct redis_engine *e, const struct bus_query *q)
{
    json_t *sockets = bus_local_sockets(e->bus, q), *ids = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(sockets, i, s) json_array_append(ids, json_object_get(s, "id"));
    json_decref(sockets);
    return ids;
}

static json_t *local_rooms(struct redis_engine *e, const char *nsp_name)
{
    json_t *rooms = json_array();
    struct nsp *nsp = registry_nsp(e->bus->reg, nsp_name, false);
    const char *k;
    if (nsp) {
        for (uint32_t it = 0; sb_map_next(&nsp->rooms, &it, &k, NULL);)
            json_array_append_new(rooms, json_string(k));
        /* Every socket is in the room of its id, as in socket.io. */
        for (uint32_t it = 0; sb_map_next(&nsp->socks, &it, &k, NULL);)
            json_array_append_new(rooms, json_string(k));
    }
    return rooms;
}

struct redis_reply {
    struct bus_reply base;
    struct redis_engine *e;
    const char *nsp; /* borrowed from the registry */
    char request_id[];
};

static void reply_send(struct bus_reply *br, const json_t *value)
{
    struct redis_reply *r = (struct redis_reply *)br;
    respond(r->e, r->nsp,
            json_pack("{s:i, s:s, s:O}", "type", REQ_SERVER_SIDE_EMIT, "requestId", r->request_id,
                      "data", value ? value : json_null()));
    free(r);
}

static void reply_cancel(struct bus_reply *br)
{
    free(br);
}

static void server_side_emit(struct redis_engine *e, const char *nsp, const json_t *req)
{
    const json_t *data = json_object_get(req, "data");
    const json_t *first = json_array_get(data, 0);
    if (!json_is_string(first) || !e->bus->server_event)
        return;
    json_t *args = json_array();
    for (size_t i = 1; i < json_array_size(data); i++)
        json_array_append(args, json_array_get(data, i));
    const char *request_id = json_string_value(json_object_get(req, "requestId"));
    struct redis_reply *reply = NULL;
    if (request_id) {
        reply = malloc(sizeof(*reply) + strlen(request_id) + 1);
        if (reply) {
            reply->base.send = reply_send;
            reply->base.cancel = reply_cancel;
            reply->e = e;
            reply->nsp = nsp;
            strcpy(reply->request_id, request_id);
        }
    }
    e->bus->server_event(e->bus->server_event_ud, nsp, json_string_value(first), args,
                         reply ? &reply->base : NULL);
    json_decref(args);
}

/* The old single-socket form of REMOTE_JOIN/LEAVE/DISCONNECT: {sid, room}. */
static void single_socket(struct redis_engine *e, struct nsp *nsp, const json_t *req, int type,
                          const char *request_id)
{
    const char *sid = json_string_value(json_object_get(req, "sid"));
    struct sock *s = sid ? registry_sock_find(nsp, sid) : NULL;
    if (!s)
        return;
    const char *room = json_string_value(json_object_get(req, "room"));
    if (type == REQ_REMOTE_JOIN && room)
        registry_join(e->bus->reg, s, room);
    else if (type == REQ_REMOTE_LEAVE && room)
        registry_leave(e->bus->reg, s, room);
    else if (type == REQ_REMOTE_DISCONNECT) {
        struct conn *c = s->conn;
        sock_disconnect(s, "server namespace disconnect");
        if (json_is_true(json_object_get(req, "close")) && c)
            conn_close(c, MC_SERVER_DISCONNECT, CLOSE_NORMAL, "server disconnect", true);
    }
    if (request_id)
        respond(e, nsp->name, json_pack("{s:s}", "requestId", request_id));
}

void redis_request_received(struct redis_engine *e, const struct chan *c, const char *data,
                            size_t len)
{
    if (len > REQUEST_MAX)
        return;
    json_t *req = adapter_request_decode(data, len);
    const char *uid = json_string_value(json_object_get(req, "uid"));
    const json_t *type_v = json_object_get(req, "type");
    struct nsp *nsp = c->nsp ? registry_nsp(e->bus->reg, c->nsp, false) : NULL;
    if (!json_is_object(req) || !json_is_integer(type_v) || !nsp ||
        (uid && strcmp(uid, e->uid) == 0)) {
        json_decref(req);
        return;
    }
    int type = (int)json_integer_value(type_v);
    const char *request_id = json_string_value(json_object_get(req, "requestId"));
    const json_t *opts = json_object_get(req, "opts");
    struct query_buf qb;
    query_from(&qb, nsp->name, json_object_get(opts, "rooms"), json_object_get(opts, "except"));
    LOG_DEBUG("redis", "request type %d from %s", type, uid ? uid : "?");

    switch (type) {
    case REQ_SOCKETS: {
        struct query_buf rq;
        query_from(&rq, nsp->name, json_object_get(req, "rooms"), NULL);
        if (request_id)
            respond(
                e, nsp->name,
                json_pack("{s:s, s:o}", "requestId", request_id, "sockets", local_ids(e, &rq.q)));
        json_decref(rq.keep);
        break;
    }
    case REQ_ALL_ROOMS:
        if (request_id)
            respond(e, nsp->name,
                    json_pack("{s:s, s:o}", "requestId", request_id, "rooms",
                              local_rooms(e, nsp->name)));
        break;
    case REQ_REMOTE_JOIN:
    case REQ_REMOTE_LEAVE:
    case REQ_REMOTE_DISCONNECT:
        if (opts) {
            const char *rooms[MAX_QUERY_ROOMS];
            json_t *keep = json_array();
            size_t n = strings_of(json_object_get(req, "rooms"), rooms, keep);
            enum bus_sockets_op op = type == REQ_REMOTE_JOIN    ? BUS_SOCKETS_JOIN
                                     : type == REQ_REMOTE_LEAVE ? BUS_SOCKETS_LEAVE
                                                                : BUS_SOCKETS_DISCONNECT;
            bus_local_sockets_op(e->bus, &qb.q, op, rooms, n,
                                 json_is_true(json_object_get(req, "close")));
            json_decref(keep);
        } else {
            single_socket(e, nsp, req, type, request_id);
        }
        break;
    case REQ_REMOTE_FETCH:
        if (request_id)
            respond(e, nsp->name,
                    json_pack("{s:s, s:o}", "requestId", request_id, "sockets",
                              bus_local_sockets(e->bus, &qb.q)));
        break;
    case REQ_SERVER_SIDE_EMIT:
        server_side_emit(e, nsp->name, req);
        break;
    default:
        /* BROADCAST with acks (type 7) is not supported yet: the Node sender counts no client
         * of ours and times out only for its own clients. */
        LOG_DEBUG("redis", "ignoring request type %d", type);
        break;
    }
    json_decref(qb.keep);
    json_decref(req);
}

/* ---- asking ---- */

struct pending_request {
    struct redis_engine *e;
    int type;
    int expected; /* answers still awaited; -1 until PUBSUB NUMSUB answered */
    json_t *acc;  /* what arrived: sockets, or server-side emit answers */
    json_t *request;
    char *channel; /* the request channel */
    bus_fetch_cb fetch_cb;
    bus_ack_cb ack_cb;
    void *ud;
    uv_timer_t timer;
    bool done;
    char id[32];
};

static void pending_closed_cb(uv_handle_t *h)
{
    struct pending_request *p = h->data;
    json_decref(p->acc);
    json_decref(p->request);
    free(p->channel);
    free(p);
}

/* Calls back once and forgets the request. */
static void finish(struct pending_request *p, int err)
{
    if (p->done)
        return;
    p->done = true;
    sb_map_del(&p->e->pending, p->id);
    uv_timer_stop(&p->timer);
    if (p->fetch_cb)
        p->fetch_cb(p->ud, p->acc, err);
    else if (p->ack_cb)
        p->ack_cb(p->ud, p->acc, err);
    uv_close((uv_handle_t *)&p->timer, pending_closed_cb);
}

static void timeout_cb(uv_timer_t *t)
{
    struct pending_request *p = t->data;
    LOG_DEBUG("redis", "request %s: %d answer(s) missing at the timeout", p->id, p->expected);
    finish(p, SB_ETIMEOUT);
}

/* PUBSUB NUMSUB of the request channel tells how many servers will answer (ourselves
 * included); then the request goes out. */
static void numsub_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct pending_request *p = privdata;
    redisReply *reply = r;
    if (p->done)
        return;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
        reply->element[1]->type != REDIS_REPLY_INTEGER) {
        finish(p, SB_EIO);
        return;
    }
    p->expected = (int)reply->element[1]->integer - 1;
    if (p->expected <= 0) {
        finish(p, 0);
        return;
    }
    char *text = json_dumps(p->request, JSON_COMPACT);
    int rc = text ? redis_publish_raw(p->e, p->channel, text, strlen(text)) : SB_ENOMEM;
    free(text);
    if (rc)
        finish(p, rc);
}

static struct pending_request *ask(struct redis_engine *e, const char *nsp, int type,
                                   json_t *request, json_t *acc, uint32_t timeout_ms)
{
    if (e->pub.state != LINK_UP) {
        json_decref(request);
        json_decref(acc);
        return NULL;
    }
    struct pending_request *p = calloc(1, sizeof(*p));
    char channel[1024];
    snprintf(channel, sizeof(channel), "%s-request#%s#", e->prefix, nsp);
    if (!p || !(p->channel = strdup(channel))) {
        free(p);
        json_decref(request);
        json_decref(acc);
        return NULL;
    }
    p->e = e;
    p->type = type;
    p->expected = -1;
    p->acc = acc;
    snprintf(p->id, sizeof(p->id), "%s%llu", e->uid, (unsigned long long)++e->next_request);
    json_object_set_new(request, "uid", json_string(e->uid));
    json_object_set_new(request, "type", json_integer(type));
    json_object_set_new(request, "requestId", json_string(p->id));
    p->request = request;
    uv_timer_init(e->loop, &p->timer);
    p->timer.data = p;
    sb_map_put(&e->pending, p->id, p);
    uv_timer_start(&p->timer, timeout_cb, timeout_ms ? timeout_ms : 5000, 0);
    redisAsyncCommand(e->pub.ac, numsub_cb, p, "PUBSUB NUMSUB %s", channel);
    return p;
}

int redis_fetch_sockets(struct bus *b, const struct bus_query *q, bus_fetch_cb cb, void *ud)
{
    struct redis_engine *e = b->engine_state;
    const char *nsp = q->nsp ? q->nsp : "/";
    json_t *local = bus_local_sockets(b, q);
    json_t *rooms = json_array(), *except = json_array();
    for (size_t i = 0; i < q->nrooms; i++)
        json_array_append_new(rooms, json_string(q->rooms[i]));
    for (size_t i = 0; i < q->nexcept; i++)
        json_array_append_new(except, json_string(q->except[i]));
    json_t *req = json_pack("{s:{s:o, s:o}}", "opts", "rooms", rooms, "except", except);
    struct pending_request *p = ask(e, nsp, REQ_REMOTE_FETCH, req, local, q->timeout_ms);
    if (!p)
        return SB_EIO;
    p->fetch_cb = cb;
    p->ud = ud;
    return 0;
}

int redis_server_emit(struct bus *b, const char *nsp, const char *event, const json_t *args,
                      uint32_t timeout_ms, bus_ack_cb cb, void *ud)
{
    struct redis_engine *e = b->engine_state;
    json_t *data = json_array();
    json_array_append_new(data, json_string(event));
    if (args)
        json_array_extend(data, (json_t *)args);
    if (!cb) {
        json_t *req =
            json_pack("{s:s, s:i, s:o}", "uid", e->uid, "type", REQ_SERVER_SIDE_EMIT, "data", data);
        char *text = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        char channel[1024];
        snprintf(channel, sizeof(channel), "%s-request#%s#", e->prefix, nsp);
        int rc = text ? redis_publish_raw(e, channel, text, strlen(text)) : SB_ENOMEM;
        free(text);
        return rc;
    }
    json_t *req = json_pack("{s:o}", "data", data);
    struct pending_request *p = ask(e, nsp, REQ_SERVER_SIDE_EMIT, req, json_array(), timeout_ms);
    if (!p)
        return SB_EIO;
    p->ack_cb = cb;
    p->ud = ud;
    return 0;
}

int redis_remote_rooms(struct bus *b, const struct bus_query *q, enum bus_sockets_op op,
                       const char *const *rooms, size_t nrooms, bool close)
{
    struct redis_engine *e = b->engine_state;
    const char *nsp = q->nsp ? q->nsp : "/";
    json_t *qrooms = json_array(), *except = json_array(), *targets = json_array();
    for (size_t i = 0; i < q->nrooms; i++)
        json_array_append_new(qrooms, json_string(q->rooms[i]));
    for (size_t i = 0; i < q->nexcept; i++)
        json_array_append_new(except, json_string(q->except[i]));
    for (size_t i = 0; i < nrooms; i++)
        json_array_append_new(targets, json_string(rooms[i]));
    int type = op == BUS_SOCKETS_JOIN    ? REQ_REMOTE_JOIN
               : op == BUS_SOCKETS_LEAVE ? REQ_REMOTE_LEAVE
                                         : REQ_REMOTE_DISCONNECT;
    json_t *req = json_pack("{s:s, s:i, s:{s:o, s:o}}", "uid", e->uid, "type", type, "opts",
                            "rooms", qrooms, "except", except);
    if (op == BUS_SOCKETS_DISCONNECT) {
        json_object_set_new(req, "close", json_boolean(close));
        json_decref(targets);
    } else {
        json_object_set_new(req, "rooms", targets);
    }
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    char channel[1024];
    snprintf(channel, sizeof(channel), "%s-request#%s#", e->prefix, nsp);
    int rc = text ? redis_publish_raw(e, channel, text, strlen(text)) : SB_ENOMEM;
    free(text);
    return rc;
}

void redis_response_received(struct redis_engine *e, const struct chan *c, const char *data,
                             size_t len)
{
    json_t *res = len <= REQUEST_MAX ? adapter_request_decode(data, len) : NULL;
    const char *id = json_string_value(json_object_get(res, "requestId"));
    struct pending_request *p = id ? sb_map_get(&e->pending, id) : NULL;
    if (!p || p->expected <= 0) {
        json_decref(res);
        return;
    }
    if (p->type == REQ_REMOTE_FETCH) {
        json_t *sockets = json_object_get(res, "sockets");
        if (!json_is_array(sockets)) {
            json_decref(res);
            return;
        }
        json_array_extend(p->acc, sockets);
    } else if (p->type == REQ_SERVER_SIDE_EMIT) {
        json_t *d = json_object_get(res, "data");
        json_array_append(p->acc, d ? d : json_null());
    }
    json_decref(res);
    if (--p->expected == 0)
        finish(p, 0);
}

void redis_requests_close(struct redis_engine *e)
{
    void *v;
    for (uint32_t it = 0; sb_map_next(&e->pending, &it, NULL, &v);) {
        finish(v, SB_ECLOSED);
        it = 0; /* finish() removed the entry: start over */
    }
    sb_map_free(&e->pending);
}
