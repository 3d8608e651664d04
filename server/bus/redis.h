/*
 * The Redis engine of the bus, private to server/bus. It speaks the socket.io Redis adapter
 * protocol (docs/architecture.md, "Where the protocol facts come from"): msgpack [uid, packet,
 * opts] broadcasts on `<prefix>#<nsp>#` and
 * `<prefix>#<nsp>#<room>#`, JSON requests and responses between servers on
 * `<prefix>-request#<nsp>#` and `<prefix>-response#<nsp>#`.
 *
 * Two hiredis connections ("links") on the server's libuv loop: the publisher sends PUBLISH and
 * PUBSUB commands, the subscriber holds the subscriptions. hiredis 0.14 neither reconnects nor
 * times out, so each link has its own state machine: connect, handshake (AUTH, SELECT, a first
 * reply), up; on any failure down, then a reconnect after a capped exponential backoff with
 * jitter. A watchdog notices a Redis that accepts TCP but answers nothing.
 */
#ifndef SB_BUS_REDIS_H
#define SB_BUS_REDIS_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "bus.h"

struct redisAsyncContext;

/* ---- redis:// URLs (redis_url.c, pure) ---- */

struct redis_url {
    char host[256];
    int port;
    char password[256]; /* "" when none */
    int db;
};

/* Parses redis://[[user]:password@]host[:port][/db]. Returns 0 or SB_EINVAL with a reason in
 * `err` (which never contains the password). */
int redis_url_parse(const char *url, struct redis_url *out, char *err, size_t errlen);

#define SENTINEL_MAX          8
#define SENTINEL_DEFAULT_PORT 26379

/* redis+sentinel:// URLs: where the sentinels are and which master to ask them for. The password
 * (and db) are the master's; the sentinels are asked without authentication. */
struct sentinel_url {
    struct {
        char host[256];
        int port;
    } sentinels[SENTINEL_MAX];
    int nsentinels;
    char master[128];
    char password[256]; /* "" when none */
    int db;
};

/* True when `url` starts with redis+sentinel://. */
bool redis_url_is_sentinel(const char *url);
/* Parses redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/mastername[/db], up to
 * SENTINEL_MAX sentinels, port SENTINEL_DEFAULT_PORT by default. Returns 0 or SB_EINVAL with a
 * reason in `err` (which never contains the password). Pure. */
int sentinel_url_parse(const char *url, struct sentinel_url *out, char *err, size_t errlen);

/* Reads a `+switch-master` message, `<name> <old-ip> <old-port> <new-ip> <new-port>`
 * (redis_sentinel_msg.c, pure). Returns 0 with the new address in `host` (`size` bytes,
 * NUL-terminated) and `port` when it is about `master`, 1 when it is about another master,
 * SB_EINVAL when malformed. */
int sentinel_switch_parse(const char *msg, size_t len, const char *master, char *host, size_t size,
                          int *port);
/* A port given as `n` digits: 1 to 65535, else -1. Pure. */
int sentinel_port_parse(const char *s, size_t n);

/* ---- one connection (redis_link.c) ---- */

enum link_state { LINK_DOWN, LINK_CONNECTING, LINK_HANDSHAKE, LINK_UP };

struct redis_link;
typedef void (*link_event_cb)(struct redis_link *l);

struct redis_link {
    const char *name; /* "publisher", "subscriber" */
    uv_loop_t *loop;
    const struct redis_url *url;  /* borrowed */
    struct redisAsyncContext *ac; /* NULL while down */
    enum link_state state;
    uint32_t attempt;      /* failed attempts since the last time it was up */
    uint64_t since;        /* loop time of the last state change */
    uint64_t probe_sent;   /* loop time of the unanswered probe, 0 when none */
    bool closed;           /* link_close() was called: no more reconnects */
    uv_timer_t retry;      /* reconnect timer */
    link_event_cb on_up;   /* the handshake succeeded */
    link_event_cb on_down; /* the connection is gone (a reconnect is scheduled) */
    /* With Sentinel: the handshake asks ROLE and refuses a server that is not a master (a
     * demoted master the sentinels' switch was missed for), calling on_not_master. */
    bool need_master;
    link_event_cb on_not_master;
    void *data; /* the engine */
};

void link_init(struct redis_link *l, const char *name, uv_loop_t *loop, const struct redis_url *url,
               link_event_cb on_up, link_event_cb on_down, void *data);
/* Starts connecting now. */
void link_start(struct redis_link *l);
/* Drops the connection (pending callbacks get NULL replies) and schedules a reconnect.
 * `why` is logged. Not callable from inside a hiredis callback of this link. */
void link_reset(struct redis_link *l, const char *why);
/* Reconnects now, to what `url` says now: link_reset() when connected or connecting, else at
 * once instead of after the backoff. Not callable from inside a hiredis callback of this
 * link. */
void link_restart(struct redis_link *l, const char *why);
/* Closes for good (no reconnect); the retry timer handle is closed. */
void link_close(struct redis_link *l);
/* Records that the link answered (a probe reply or any traffic). */
void link_alive(struct redis_link *l);
/* Called every LINK_PROBE_EVERY_MS: resets a link whose handshake or last probe went
 * unanswered for LINK_PROBE_LIMIT_MS, else sends a new probe with `probe` when none is out. */
void link_watch(struct redis_link *l, void (*probe)(struct redis_link *l));

/* The reconnect delay for `attempt`: min(cap, base * 2^attempt), then a random value in its
 * upper half ("equal jitter"), so a fleet does not reconnect in lockstep. Pure. */
uint64_t link_backoff_ms(uint32_t attempt, uint32_t random);

#define LINK_BACKOFF_BASE_MS 100
#define LINK_BACKOFF_CAP_MS  5000
/* A silent Redis (stopped, hung) is noticed within LINK_PROBE_EVERY_MS + LINK_PROBE_LIMIT_MS:
 * a PING every 250 ms, a link reset when one goes 750 ms unanswered, so within 1 s. A Redis so
 * loaded that a PING waits 750 ms behind the commands before it is as good as down. */
#define LINK_PROBE_EVERY_MS 250
#define LINK_PROBE_LIMIT_MS 750

/* ---- the engine (redis.c, redis_requests.c) ---- */

enum chan_kind { CHAN_NSP, CHAN_ROOM, CHAN_REQUEST, CHAN_RESPONSE, CHAN_WATCH };

/* One channel the subscriber may hold. */
struct chan {
    bool want;         /* we want it subscribed (local members, a namespace, …) */
    bool have;         /* a SUBSCRIBE for it went out on the current connection */
    bool dirty;        /* in the batch of changes not flushed yet */
    uint8_t kind;      /* enum chan_kind */
    uint16_t room_off; /* CHAN_ROOM: offset of the room name in `name` */
    const char *nsp;   /* borrowed from the registry */
    char name[];
};

/* A message to PUBLISH: waiting while Redis is away (the backlog), or written and not yet
 * confirmed by its reply (in flight). */
struct backlog_msg {
    struct backlog_msg *next;
    size_t clen, len;
    char data[]; /* channel, NUL, payload */
};

/* A FIFO of them. */
struct msg_queue {
    struct backlog_msg *head, *tail;
    size_t count, bytes;
};

struct sentinel;

struct redis_engine {
    struct bus *bus; /* borrowed */
    uv_loop_t *loop;
    struct redis_url url;      /* the master; with Sentinel, updated when it moves */
    struct sentinel *sentinel; /* owned; NULL without Sentinel (redis_sentinel.c) */
    char *prefix;
    char uid[7]; /* this server's id in the adapter protocol */
    char watch_channel[64];
    struct redis_link pub, sub, cmd; /* cmd: gateways' redis.call(), connected on first use */
    bool cmd_started;
    struct sb_map chans; /* name -> struct chan (owned) */
    struct chan **dirty;
    size_t ndirty, dirty_cap;
    uv_timer_t flush_timer; /* flushes subscription changes after the current iteration */
    uv_timer_t watchdog;
    bool subscribed; /* every wanted channel is confirmed on the current connection */
    bool closing;    /* engine_close() runs: the links go down on purpose */
    bool ready;
    struct msg_queue backlog;  /* published while the publisher was down, or waiting to flush */
    struct msg_queue inflight; /* PUBLISHes written on the current connection, reply not seen */
    bool backlog_warned;       /* the backlog is full and said so */
    /* Subscribers of the request channel of "/" (every server of the cluster, this one
     * included), last seen while the bus was ready: the backlog of an outage goes out once that
     * many are subscribed again (or after FLUSH_WAIT_MAX_MS). 0 while unknown. */
    long long servers_seen;
    uint64_t flush_wait_since; /* loop time the backlog began waiting to go out; 0: not waiting */
    bool numsub_out;           /* a PUBSUB NUMSUB of ours is unanswered */
    uint32_t ticks;            /* watchdog ticks */
    uv_timer_t flush_wait;     /* re-checks a waiting backlog */
    struct sb_map pending;     /* requestId -> struct pending_request (redis_requests.c) */
    uint64_t next_request;
};

/* ---- Sentinel (redis_sentinel.c) ---- */

/* Parses a redis+sentinel:// `url` into e->sentinel (owned by the engine) and sets e->url's
 * password and db; the master's address stays unknown. Returns 0, SB_EINVAL with a reason in
 * `err` (never the password) or SB_ENOMEM. */
int sentinel_init(struct redis_engine *e, const char *url, char *err, size_t errlen);
/* Starts asking the sentinels; the publisher, subscriber and command links are started once the
 * master is known, and reconnected each time it moves. */
void sentinel_start(struct redis_engine *e);
/* The watchdog's tick for the sentinel link. */
void sentinel_watch(struct redis_engine *e);
/* Closes the sentinel link and frees e->sentinel (nothing without Sentinel). */
void sentinel_close(struct redis_engine *e);

/* hiredis callback of every subscriber reply. */
void redis_message_cb(struct redisAsyncContext *ac, void *reply, void *privdata);
/* PUBLISH now, or keep in the bounded backlog while the publisher is down. Returns 0,
 * SB_EFULL (backlog full: dropped) or SB_ENOMEM. */
int redis_publish_raw(struct redis_engine *e, const char *channel, const char *data, size_t len);

void redis_broadcast_received(struct redis_engine *e, const struct chan *c, const char *data,
                              size_t len);
void redis_request_received(struct redis_engine *e, const struct chan *c, const char *data,
                            size_t len);
void redis_response_received(struct redis_engine *e, const struct chan *c, const char *data,
                             size_t len);
void redis_requests_close(struct redis_engine *e);

/* The cluster operations of struct bus_engine. */
int redis_fetch_sockets(struct bus *b, const struct bus_query *q, bus_fetch_cb cb, void *ud);
int redis_remote_rooms(struct bus *b, const struct bus_query *q, enum bus_sockets_op op,
                       const char *const *rooms, size_t nrooms, bool close);
int redis_server_emit(struct bus *b, const char *nsp, const char *event, const json_t *args,
                      uint32_t timeout_ms, bus_ack_cb cb, void *ud);
int redis_command(struct bus *b, int argc, const char **argv, const size_t *argvlen,
                  uint32_t timeout_ms, bus_command_cb cb, void *ud);

#endif
