/*
 * A worker process: its share of the connections on one libuv loop, and the parent's commands.
 *
 * The WebSocket client is minimal on purpose: an HTTP/1.1 upgrade (the answer's status line is
 * checked, the accept key is not), masked frames out, unmasked frames in (text, binary,
 * continuation, ping answered with pong, close answered with close). Socket.IO v5 on top: the
 * open packet is answered with CONNECT and the auth object, server pings with pongs, `42[...]`
 * events are read without a JSON parser (the fields the benchmark needs are found by name).
 *
 * With --transport polling or upgrade a Socket.IO connection is an Engine.IO v4 HTTP long-polling
 * session instead (the section "HTTP long-polling" below): two HTTP/1.1 keep-alive connections,
 * as a browser has, one for the GETs (the open packet, then one GET held at a time, each answer
 * carrying packets joined by 0x1e) and one for the POSTs (packets from the client, joined the
 * same way; what is sent while a POST is in flight waits for the next one). `upgrade` then opens
 * a WebSocket with the sid and upgrades as socket.io-client does (`2probe`, `3probe`, polling
 * paused, `5`).
 */
#include "loadgen.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum role { R_RECV, R_BCAST, R_RPC, R_USEND, R_URECV };
enum state { S_NEW, S_TCP, S_HTTP, S_EIO, S_SIO, S_READY, S_CLOSED };
/* An upgrade's steps: the WebSocket's HTTP answer awaited, `2probe` sent, `3probe` received and
 * the polling pausing, `5` sent and the ack of a first event awaited, done. */
enum upgrade { UP_NONE, UP_HTTP, UP_PROBE, UP_PAUSING, UP_SWITCHED, UP_DONE };

struct poll;

struct conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uint32_t token; /* index of the token (and user) */
    uint32_t src;   /* index of the source address */
    uint8_t role, state, target, has_token;
    uint8_t transport; /* enum transport of this connection */
    uint8_t tcp_open;  /* `tcp` is initialized (a WebSocket from the start, or an upgrade's) */
    uint8_t ws_http;   /* the WebSocket's HTTP answer is awaited on `tcp` */
    uint8_t on_ws;     /* packets go out on the WebSocket (else in polling POSTs) */
    uint8_t upg;       /* enum upgrade */
    struct poll *pl;   /* owned: the polling session, until the upgrade or the close */
    int64_t t_up;      /* the upgrade's WebSocket connect started */
    uint32_t mask;
    int64_t t_start;
    char *pend; /* bytes of an incomplete frame, or of the HTTP answer */
    size_t plen, pcap;
    char *msg; /* a fragmented message being put together */
    size_t mlen, mcap;
    /* rpc: send times of the requests in flight, oldest first */
    int64_t *ring;
    uint16_t rhead, rlen;
    uint32_t ack_id;
};

struct worker {
    int index;
    uv_loop_t *loop;
    struct conn *conns;
    size_t nconns;
    size_t next_start; /* connect phase: next connection to start */
    size_t in_flight;
    size_t settled;
    int connecting;
    uv_timer_t tick;     /* pacing of blasts and user messages */
    uv_timer_t watchdog; /* connect timeouts */
    uv_pipe_t cmd_pipe;
    char cmd_buf[sizeof(struct cmd)];
    size_t cmd_len;
    int rep_fd;
    struct report rep;
    int32_t step;
    /* the running command (blast, rpc, user), answered when it ends */
    int running;
    int64_t run_start, run_end;
    double run_rate;
    uint64_t run_sent;
    size_t rr; /* round robin over the senders */
    int64_t drain_until;
    uint64_t seq;
    char *payload_pad; /* opt.payload bytes of 'x' */
};

static struct worker W;

int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint32_t rng_state = 2463534242u;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void send_report(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    W.rep.magic = REPORT_MAGIC;
    W.rep.worker = W.index;
    W.rep.cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                  (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    const char *p = (const char *)&W.rep;
    size_t left = sizeof(W.rep);
    while (left) {
        ssize_t n = write(W.rep_fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(4); /* the parent is gone */
        p += n;
        left -= (size_t)n;
    }
}

/* ---- writing ---- */

static void write_done_cb(uv_write_t *req, int status)
{
    free(req);
}

static void conn_fail(struct conn *c);

/* Writes at once what the socket takes, queues a copy of the rest; < 0: the socket failed. */
static int stream_write(uv_stream_t *st, const char *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int r = UV_EAGAIN;
    if (uv_stream_get_write_queue_size(st) == 0)
        r = uv_try_write(st, &b, 1);
    if (r == (int)len)
        return 0;
    if (r < 0 && r != UV_EAGAIN)
        return -1;
    size_t done = r > 0 ? (size_t)r : 0;
    uv_write_t *req = malloc(sizeof(*req) + len - done);
    if (!req)
        return -1;
    char *copy = (char *)(req + 1);
    memcpy(copy, data + done, len - done);
    b = uv_buf_init(copy, (unsigned)(len - done));
    if (uv_write(req, st, &b, 1, write_done_cb) < 0) {
        free(req);
        return -1;
    }
    return 0;
}

static void send_bytes(struct conn *c, const char *data, size_t len)
{
    if (c->state == S_CLOSED || c->state == S_NEW || !c->tcp_open)
        return;
    if (stream_write((uv_stream_t *)&c->tcp, data, len) < 0)
        conn_fail(c);
}

/* One masked frame with opcode `op`. */
static void ws_send(struct conn *c, int op, const char *data, size_t len)
{
    char stackbuf[8192];
    size_t need = len + 14;
    char *buf = need <= sizeof(stackbuf) ? stackbuf : malloc(need);
    if (!buf)
        return;
    uint8_t *h = (uint8_t *)buf;
    size_t n = 0;
    h[n++] = (uint8_t)(0x80 | op);
    if (len < 126) {
        h[n++] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        h[n++] = 0x80 | 126;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint8_t key[4];
    uint32_t k = rng();
    memcpy(key, &k, 4);
    memcpy(h + n, key, 4);
    n += 4;
    for (size_t i = 0; i < len; i++)
        h[n + i] = (uint8_t)data[i] ^ key[i & 3];
    send_bytes(c, buf, n + len);
    if (buf != stackbuf)
        free(buf);
}

static void ws_text(struct conn *c, const char *s, size_t len)
{
    ws_send(c, 1, s, len);
}

static void poll_send(struct conn *c, const char *s, size_t len);

/* One Engine.IO packet from the client, on the connection's transport. */
static void sio_send(struct conn *c, const char *s, size_t len)
{
    if (c->on_ws)
        ws_text(c, s, len);
    else
        poll_send(c, s, len);
}

/* ---- connection life ---- */

static void close_cb(uv_handle_t *h)
{
    struct conn *c = h->data;
    free(c->pend);
    free(c->msg);
    c->pend = c->msg = NULL;
    c->plen = c->pcap = c->mlen = c->mcap = 0;
}

static void start_more(void);
static void poll_free(struct conn *c);

/* A connection that is done before it joined: counted by the caller. */
static void settle(struct conn *c)
{
    (void)c;
    W.settled++;
    if (W.in_flight)
        W.in_flight--;
    if (W.connecting) {
        start_more();
        if (W.settled >= W.nconns) {
            W.connecting = 0;
            uv_timer_stop(&W.watchdog);
            send_report();
        }
    }
}

static void conn_close(struct conn *c)
{
    if (c->state == S_CLOSED || c->state == S_NEW)
        return;
    int was = c->state;
    c->state = S_CLOSED;
    if (was == S_READY) {
        W.rep.ready--;
        if (c->role == R_RECV || c->role == R_URECV)
            W.rep.ready_recv--;
        W.rep.closed++;
    }
    if (c->upg != UP_NONE && c->upg != UP_DONE)
        W.rep.fail_upgrade++;
    poll_free(c);
    if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, close_cb);
}

static void conn_fail(struct conn *c)
{
    int was = c->state;
    if (was == S_CLOSED)
        return;
    if (was != S_READY && was != S_NEW) {
        if (was == S_TCP)
            W.rep.fail_tcp++;
        else
            W.rep.fail_sio++; /* closed during the handshake */
        conn_close(c);
        settle(c);
        return;
    }
    conn_close(c);
}

static void conn_ready(struct conn *c)
{
    c->state = S_READY;
    int64_t t = now_us();
    hist_add(&W.rep.hs, t - c->t_start);
    W.rep.last_ready_us = t;
    W.rep.ready++;
    if (c->role == R_RECV || c->role == R_URECV)
        W.rep.ready_recv++;
    settle(c);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char rbuf[1 << 18];
    buf->base = rbuf;
    buf->len = sizeof(rbuf);
}

static int append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n > *cap) {
        size_t nc = *cap ? *cap * 2 : 4096;
        while (nc < *len + n)
            nc *= 2;
        char *nb = realloc(*buf, nc);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    return 0;
}

/* ---- messages ---- */

static int64_t field_int(const char *s, size_t n, const char *key, size_t keylen, int *found)
{
    const char *p = memmem(s, n, key, keylen);
    if (!p) {
        *found = 0;
        return 0;
    }
    p += keylen;
    const char *end = s + n;
    int neg = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    int64_t v = 0;
    int any = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        p++;
        any = 1;
    }
    *found = any;
    return neg ? -v : v;
}

static void rpc_send(struct conn *c);

/* An event `name` whose arguments (or JSON data) are `args`. */
static void on_event(struct conn *c, const char *name, size_t nlen, const char *args, size_t alen)
{
    int64_t t = now_us();
    int ok_t, ok_k;
    if (nlen == 1 && name[0] == 'b' && c->role == R_RECV) {
        int64_t sent = field_int(args, alen, "\"t\":", 4, &ok_t);
        int64_t k = field_int(args, alen, "\"k\":", 4, &ok_k);
        if (!ok_t || !ok_k) {
            W.rep.errors++;
            return;
        }
        if (k != W.step) {
            W.rep.late++;
            return;
        }
        W.rep.received++;
        hist_add(&W.rep.lat, t - sent);
    } else if (nlen == 1 && name[0] == 'u' && c->role == R_URECV) {
        int64_t sent = field_int(args, alen, "\"t\":", 4, &ok_t);
        if (!ok_t) {
            W.rep.errors++;
            return;
        }
        W.rep.received++;
        hist_add(&W.rep.lat, t - sent);
    } else if (nlen == 6 && memcmp(name, "events", 6) == 0 && c->role == R_RPC) {
        /* args: ",3]" (Socket.IO) or the JSON frame (`"data":3`) */
        const char *p = args;
        const char *end = args + alen;
        const char *d = memmem(args, alen, "\"data\":", 7);
        if (d)
            p = d + 7;
        while (p < end && (*p < '0' || *p > '9'))
            p++;
        if (p < end && *p == '3') {
            if (!c->rlen) {
                W.rep.errors++;
                return;
            }
            int64_t sent = c->ring[c->rhead];
            c->rhead = (uint16_t)((c->rhead + 1) % opt.window);
            c->rlen--;
            W.rep.received++;
            if (W.running == CMD_RPC && t < W.run_end)
                W.rep.received_in_window++;
            hist_add(&W.rep.lat, t - sent);
            rpc_send(c);
        }
    } else if (nlen == 9 && memcmp(name, "exception", 9) == 0) {
        W.rep.errors++;
    }
}

/* An ack (Socket.IO `43<id>[...]`, or a raw JSON frame over plain JSON) for the echo rpc. */
static void upgrade_done(struct conn *c);

static void on_ack(struct conn *c)
{
    if (c->upg == UP_SWITCHED) {
        upgrade_done(c);
        return;
    }
    if (c->role != R_RPC || !c->rlen)
        return;
    int64_t sent = c->ring[c->rhead];
    c->rhead = (uint16_t)((c->rhead + 1) % opt.window);
    c->rlen--;
    int64_t t = now_us();
    W.rep.received++;
    if (W.running == CMD_RPC && t < W.run_end)
        W.rep.received_in_window++;
    hist_add(&W.rep.lat, t - sent);
    rpc_send(c);
}

static void sio_connect(struct conn *c)
{
    char buf[256];
    int n;
    if (c->has_token) {
        char tok[128];
        snprintf(tok, sizeof(tok), "%s%u", opt.token_prefix, c->token);
        n = snprintf(buf, sizeof(buf), "40{\"token\":\"%s\"}", tok);
    } else {
        n = snprintf(buf, sizeof(buf), "40");
    }
    sio_send(c, buf, (size_t)n);
}

static void upgrade_start(struct conn *c);
static void upgrade_probed(struct conn *c);
static const char *poll_sid(const struct conn *c);

static void on_text(struct conn *c, const char *s, size_t n)
{
    if (opt.proto == P_JSON) {
        /* {"event":"name","data":…}; anything else is an ack value (rpc echo) */
        const char *e = memmem(s, n, "\"event\":\"", 9);
        if (!e) {
            on_ack(c);
            return;
        }
        const char *name = e + 9;
        const char *q = memchr(name, '"', (size_t)(s + n - name));
        if (!q)
            return;
        on_event(c, name, (size_t)(q - name), q + 1, (size_t)(s + n - q - 1));
        return;
    }
    if (n == 0)
        return;
    switch (s[0]) {
    case '0': /* open */
        if (c->state == S_EIO) {
            c->state = S_SIO;
            sio_connect(c);
        }
        return;
    case '2': /* ping */
        sio_send(c, "3", 1);
        return;
    case '3': /* pong: the answer to the upgrade's probe */
        if (n == 6 && memcmp(s, "3probe", 6) == 0 && c->upg == UP_PROBE)
            upgrade_probed(c);
        return;
    case '1': /* close */
        conn_fail(c);
        return;
    case '4':
        break;
    default:
        return;
    }
    if (n < 2)
        return;
    switch (s[1]) {
    case '0': /* CONNECT */
        if (c->state == S_SIO && c->upg == UP_NONE) {
            if (c->transport == T_UPGRADE)
                upgrade_start(c); /* ready once upgraded */
            else
                conn_ready(c);
        }
        return;
    case '4': /* CONNECT_ERROR */
        if (c->state == S_SIO) {
            W.rep.fail_sio++;
            conn_close(c);
            settle(c);
        }
        return;
    case '1': /* DISCONNECT */
        conn_fail(c);
        return;
    case '3': /* ACK */
        on_ack(c);
        return;
    case '2': { /* EVENT: 42["name",…] (no namespace, no ack id here) */
        size_t i = 2;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i + 2 > n || s[i] != '[' || s[i + 1] != '"')
            return;
        const char *name = s + i + 2;
        const char *q = memchr(name, '"', (size_t)(s + n - name));
        if (!q)
            return;
        on_event(c, name, (size_t)(q - name), q + 1, (size_t)(s + n - q - 1));
        return;
    }
    default:
        return;
    }
}

static void on_frame(struct conn *c, int fin, int op, const char *p, size_t len)
{
    switch (op) {
    case 0x9: /* ping */
        ws_send(c, 0xA, p, len);
        return;
    case 0xA:
        return;
    case 0x8: /* close: answer it, then close */
        ws_send(c, 0x8, p, len >= 2 ? 2 : 0);
        conn_fail(c);
        return;
    case 0x0:
    case 0x1:
    case 0x2:
        if (op != 0 && fin && !c->mlen) {
            if (op == 1)
                on_text(c, p, len);
            return;
        }
        if (append(&c->msg, &c->mlen, &c->mcap, p, len) < 0) {
            conn_fail(c);
            return;
        }
        if (fin) {
            size_t ml = c->mlen;
            c->mlen = 0;
            on_text(c, c->msg, ml);
        }
        return;
    default:
        conn_fail(c);
    }
}

/* Parses frames out of `data`; returns how many bytes were used. */
static size_t parse_frames(struct conn *c, char *data, size_t len)
{
    size_t off = 0;
    while (off + 2 <= len && c->state != S_CLOSED) {
        uint8_t *h = (uint8_t *)data + off;
        int fin = h[0] & 0x80;
        int op = h[0] & 0x0f;
        int masked = h[1] & 0x80;
        uint64_t plen = h[1] & 0x7f;
        size_t hl = 2;
        if (plen == 126) {
            if (off + 4 > len)
                break;
            plen = ((uint64_t)h[2] << 8) | h[3];
            hl = 4;
        } else if (plen == 127) {
            if (off + 10 > len)
                break;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = (plen << 8) | h[2 + i];
            hl = 10;
        }
        if (masked)
            hl += 4;
        if (plen > (64u << 20)) {
            conn_fail(c);
            return len;
        }
        if (off + hl + plen > len)
            break;
        char *p = data + off + hl;
        if (masked) {
            uint8_t *key = h + hl - 4;
            for (uint64_t i = 0; i < plen; i++)
                p[i] = (char)((uint8_t)p[i] ^ key[i & 3]);
        }
        off += hl + (size_t)plen;
        on_frame(c, fin, op, p, (size_t)plen);
    }
    return off;
}

/* The HTTP answer to the upgrade; returns bytes used, 0 when incomplete. */
static size_t parse_http(struct conn *c, const char *data, size_t len)
{
    const char *end = memmem(data, len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    int status = 0;
    if (len > 12 && memcmp(data, "HTTP/1.1 ", 9) == 0)
        status = atoi(data + 9);
    if (status != 101) {
        if (status == 503)
            W.rep.fail_http_503++;
        else
            W.rep.fail_http++;
        conn_close(c);
        settle(c);
        return len;
    }
    c->ws_http = 0;
    if (c->upg == UP_HTTP) {
        c->upg = UP_PROBE;
        ws_text(c, "2probe", 6);
    } else if (opt.proto == P_JSON) {
        conn_ready(c);
    } else {
        c->state = S_EIO;
    }
    return (size_t)(end + 4 - data);
}

static size_t consume(struct conn *c, char *data, size_t len)
{
    size_t used = 0;
    if (c->ws_http) {
        used = parse_http(c, data, len);
        if (used == 0 || c->state == S_CLOSED)
            return c->state == S_CLOSED ? len : 0;
    }
    return used + parse_frames(c, data + used, len - used);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (nread < 0) {
        conn_fail(c);
        return;
    }
    if (nread == 0)
        return;
    if (c->plen == 0) {
        size_t used = consume(c, buf->base, (size_t)nread);
        if (c->state != S_CLOSED && used < (size_t)nread &&
            append(&c->pend, &c->plen, &c->pcap, buf->base + used, (size_t)nread - used) < 0)
            conn_fail(c);
        return;
    }
    if (append(&c->pend, &c->plen, &c->pcap, buf->base, (size_t)nread) < 0) {
        conn_fail(c);
        return;
    }
    size_t used = consume(c, c->pend, c->plen);
    if (c->state == S_CLOSED)
        return;
    memmove(c->pend, c->pend + used, c->plen - used);
    c->plen -= used;
}

static void connect_cb(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (c->state == S_CLOSED || (c->state != S_TCP && c->upg != UP_HTTP))
        return;
    if (status < 0) {
        conn_fail(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (c->upg == UP_NONE)
        c->state = S_HTTP;
    c->ws_http = 1;
    char path[512];
    const char *base =
        opt.path ? opt.path : (opt.proto == P_SIO ? "/socket.io/?EIO=4&transport=websocket" : "/");
    if (c->upg == UP_HTTP) {
        snprintf(path, sizeof(path), "/socket.io/?EIO=4&transport=websocket&sid=%s", poll_sid(c));
    } else if (opt.proto == P_JSON && c->has_token) {
        char tok[128];
        snprintf(tok, sizeof(tok), "%s%u", opt.token_prefix, c->token);
        snprintf(path, sizeof(path), "%s%stoken=%s", base, strchr(base, '?') ? "&" : "?", tok);
    } else {
        snprintf(path, sizeof(path), "%s", base);
    }
    char req_buf[1024];
    int n = snprintf(req_buf, sizeof(req_buf),
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     path, opt.target_host[c->target], opt.target_port[c->target]);
    if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) < 0) {
        conn_fail(c);
        return;
    }
    send_bytes(c, req_buf, (size_t)n);
}

/* Binds `tcp` to the connection's source address (--src-addrs) and connects it to its target. */
static int tcp_connect(struct conn *c, uv_tcp_t *tcp, uv_connect_t *req, uv_connect_cb cb)
{
    if (opt.src_addrs > 0) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)tcp, &fd) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        }
        struct sockaddr_in src;
        char ip[32];
        snprintf(ip, sizeof(ip), "127.0.0.%u", 2 + c->src % (unsigned)opt.src_addrs);
        uv_ip4_addr(ip, 0, &src);
        if (uv_tcp_bind(tcp, (const struct sockaddr *)&src, 0) < 0)
            return -1;
    }
    struct sockaddr_in dst;
    if (uv_ip4_addr(opt.target_host[c->target], opt.target_port[c->target], &dst) < 0 ||
        uv_tcp_connect(req, tcp, (const struct sockaddr *)&dst, cb) < 0)
        return -1;
    return 0;
}

/* Opens the connection's WebSocket TCP connection: -1 when no handle, -2 when it failed after. */
static int ws_connect(struct conn *c)
{
    c->tcp.data = c;
    c->creq.data = c;
    if (uv_tcp_init_ex(W.loop, &c->tcp, AF_INET) < 0)
        return -1;
    c->tcp_open = 1;
    return tcp_connect(c, &c->tcp, &c->creq, connect_cb) < 0 ? -2 : 0;
}

static int poll_start(struct conn *c);

static int conn_start(struct conn *c)
{
    c->t_start = now_us();
    if (!W.rep.first_start_us)
        W.rep.first_start_us = c->t_start;
    if (c->transport != T_WEBSOCKET) {
        c->state = S_TCP;
        if (poll_start(c) < 0) {
            conn_fail(c);
            return -1;
        }
        return 0;
    }
    int r = ws_connect(c);
    if (r == -1) {
        W.rep.fail_tcp++;
        return -1;
    }
    c->state = S_TCP;
    if (r < 0) {
        conn_fail(c);
        return -1;
    }
    return 0;
}

static void start_more(void)
{
    /* iterative: a connection that fails at once settles, and settle() calls back here */
    static int active;
    if (active)
        return;
    active = 1;
    size_t limit =
        opt.scenario == SC_STORM || opt.concurrency <= 0 ? W.nconns : (size_t)opt.concurrency;
    while (W.next_start < W.nconns && W.in_flight < limit) {
        struct conn *c = &W.conns[W.next_start++];
        W.in_flight++;
        if (conn_start(c) < 0 && c->state == S_NEW) {
            /* counted by conn_start; conn_fail() has not settled it */
            c->state = S_CLOSED;
            settle(c);
        }
    }
    active = 0;
}

static void watchdog_cb(uv_timer_t *t)
{
    int64_t limit = (int64_t)(opt.connect_timeout_s * 1e6);
    int64_t now = now_us();
    for (size_t i = 0; i < W.nconns; i++) {
        struct conn *c = &W.conns[i];
        if (c->state >= S_TCP && c->state < S_READY && now - c->t_start > limit) {
            /* an upgrade's failure is counted by conn_close() */
            W.rep.fail_timeout++;
            conn_close(c);
            settle(c);
        }
    }
}

/* ---- HTTP long-polling (Engine.IO v4) ---- */

enum link_kind { L_GET, L_POST };

/* One HTTP/1.1 keep-alive connection of a polling session, carrying one request at a time. */
struct link {
    uv_tcp_t tcp;
    uv_connect_t creq;
    struct conn *c; /* borrowed; NULL once detached from its session (and closing) */
    uint8_t kind, connected, busy;
    int64_t last_used;
    char *req; /* owned: a request to write once connected */
    size_t req_len;
    char *pend; /* owned: what arrived of the answer */
    size_t plen, pcap;
};

struct poll {
    struct link *get, *post; /* owned (freed by their close callbacks); NULL when none */
    char sid[64];
    char *q; /* packets for the next POST (or, while upgrading, for the WebSocket), 0x1e-joined */
    size_t qlen, qcap;
    uint8_t pausing; /* upgrading: no GET after the one in flight, POSTs wait */
};

/* Both servers close a keep-alive connection idle for 5 s (Node's keepAliveTimeout, lws's
 * keepalive_timeout): a POST after a longer pause takes a new connection rather than racing
 * the server's close. */
#define POST_IDLE_US 4000000

static const char *poll_sid(const struct conn *c)
{
    return c->pl ? c->pl->sid : "";
}

static void link_close_cb(uv_handle_t *h)
{
    struct link *l = h->data;
    free(l->req);
    free(l->pend);
    free(l);
}

/* Detaches `l` from its session and closes it. */
static void link_close(struct link *l)
{
    struct conn *c = l->c;
    if (c && c->pl) {
        if (c->pl->get == l)
            c->pl->get = NULL;
        if (c->pl->post == l)
            c->pl->post = NULL;
    }
    l->c = NULL;
    if (!uv_is_closing((uv_handle_t *)&l->tcp)) {
        W.rep.links_open--;
        uv_close((uv_handle_t *)&l->tcp, link_close_cb);
    }
}

static void poll_free(struct conn *c)
{
    struct poll *p = c->pl;
    if (!p)
        return;
    if (p->get)
        link_close(p->get);
    if (p->post)
        link_close(p->post);
    free(p->q);
    free(p);
    c->pl = NULL;
}

/* The TCP connection of `l` failed, or the server closed it. */
static void link_lost(struct link *l)
{
    struct conn *c = l->c;
    int busy = l->busy, kind = l->kind;
    link_close(l);
    if (!c)
        return;
    /* An idle keep-alive connection the server closed: the next request opens another. A GET
     * connection is idle only when an upgrade paused the polling. */
    if (!busy && (kind == L_POST || (c->pl && c->pl->pausing)))
        return;
    conn_fail(c);
}

static void link_write(struct link *l, const char *data, size_t len)
{
    if (!l->connected) {
        /* one request at a time: this is the only one */
        free(l->req);
        l->req = malloc(len);
        if (!l->req) {
            link_lost(l);
            return;
        }
        memcpy(l->req, data, len);
        l->req_len = len;
        return;
    }
    l->last_used = now_us();
    if (stream_write((uv_stream_t *)&l->tcp, data, len) < 0)
        link_lost(l);
}

static void poll_answer(struct link *l, int status, const char *body, size_t len);

/* The answer to the request of `l`, once complete: headers, then Content-Length bytes. */
static void link_parse(struct link *l)
{
    const char *hend = memmem(l->pend, l->plen, "\r\n\r\n", 4);
    if (!hend) {
        if (l->plen > 65536)
            link_lost(l);
        return;
    }
    size_t hlen = (size_t)(hend + 4 - l->pend);
    int status = 0;
    if (l->plen > 12 && memcmp(l->pend, "HTTP/1.", 7) == 0)
        status = atoi(l->pend + 9);
    long long cl = -1;
    int chunked = 0;
    const char *p = l->pend, *end = l->pend + hlen;
    while ((p = memchr(p, '\n', (size_t)(end - p))) && ++p < end) {
        if (strncasecmp(p, "content-length:", 15) == 0)
            cl = atoll(p + 15);
        else if (strncasecmp(p, "transfer-encoding:", 18) == 0)
            chunked = 1;
    }
    if (chunked || cl < 0 || cl > (64 << 20)) {
        /* neither server frames its answers otherwise: not worth a decoder */
        W.rep.errors++;
        link_lost(l);
        return;
    }
    if (l->plen < hlen + (size_t)cl)
        return;
    if (l->plen > hlen + (size_t)cl)
        W.rep.errors++; /* bytes after the answer to the only request */
    char *buf = l->pend;
    l->pend = NULL;
    l->plen = l->pcap = 0;
    l->busy = 0;
    l->last_used = now_us();
    poll_answer(l, status, buf + hlen, (size_t)cl);
    free(buf);
}

static void link_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct link *l = s->data;
    if (!l->c)
        return;
    if (nread < 0) {
        link_lost(l);
        return;
    }
    if (nread == 0)
        return;
    if (append(&l->pend, &l->plen, &l->pcap, buf->base, (size_t)nread) < 0) {
        link_lost(l);
        return;
    }
    link_parse(l);
}

static void link_connect_cb(uv_connect_t *req, int status)
{
    struct link *l = req->data;
    struct conn *c = l->c;
    if (!c)
        return;
    if (status < 0 || uv_read_start((uv_stream_t *)&l->tcp, alloc_cb, link_read_cb) < 0) {
        link_lost(l);
        return;
    }
    uv_tcp_nodelay(&l->tcp, 1);
    l->connected = 1;
    if (c->state == S_TCP)
        c->state = S_HTTP; /* the open GET */
    if (l->req) {
        char *r = l->req;
        l->req = NULL;
        link_write(l, r, l->req_len);
        free(r);
    }
}

static struct link *link_open(struct conn *c, int kind)
{
    struct link *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->c = c;
    l->kind = (uint8_t)kind;
    l->tcp.data = l;
    l->creq.data = l;
    if (uv_tcp_init_ex(W.loop, &l->tcp, AF_INET) < 0) {
        free(l);
        return NULL;
    }
    W.rep.links_open++;
    if (tcp_connect(c, &l->tcp, &l->creq, link_connect_cb) < 0) {
        l->c = NULL;
        W.rep.links_open--;
        uv_close((uv_handle_t *)&l->tcp, link_close_cb);
        return NULL;
    }
    l->last_used = now_us();
    return l;
}

static int request_head(char *buf, size_t cap, const struct conn *c, const char *method,
                        size_t body_len)
{
    const char *sid = c->pl->sid;
    int n = snprintf(
        buf, cap, "%s /socket.io/?EIO=4&transport=polling%s%s HTTP/1.1\r\nHost: %s:%d\r\n", method,
        *sid ? "&sid=" : "", sid, opt.target_host[c->target], opt.target_port[c->target]);
    if (strcmp(method, "POST") == 0)
        n +=
            snprintf(buf + n, cap - (size_t)n,
                     "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %zu\r\n", body_len);
    n += snprintf(buf + n, cap - (size_t)n, "\r\n");
    return n;
}

/* A session: the open GET (its TCP connection is the session's GET connection). */
static int poll_start(struct conn *c)
{
    c->pl = calloc(1, sizeof(*c->pl));
    if (!c->pl || !(c->pl->get = link_open(c, L_GET)))
        return -1;
    char req[512];
    int n = request_head(req, sizeof(req), c, "GET", 0);
    c->pl->get->busy = 1;
    link_write(c->pl->get, req, (size_t)n);
    return 0;
}

static void upgrade_switch(struct conn *c);

/* Sends `5` once nothing is in flight on the polling connections. */
static void poll_check_pause(struct conn *c)
{
    struct poll *p = c->pl;
    if (!p || !p->pausing || c->upg != UP_PAUSING)
        return;
    if ((p->get && p->get->busy) || (p->post && p->post->busy))
        return;
    upgrade_switch(c);
}

/* The next held GET. */
static void poll_next(struct conn *c)
{
    struct poll *p = c->pl;
    if (!p)
        return;
    if (p->pausing) {
        poll_check_pause(c);
        return;
    }
    if (!p->get) {
        conn_fail(c);
        return;
    }
    char req[512];
    int n = request_head(req, sizeof(req), c, "GET", 0);
    p->get->busy = 1;
    link_write(p->get, req, (size_t)n);
}

/* What waits in the queue, in one POST (unless one is in flight: its answer sends the next). */
static void poll_flush(struct conn *c)
{
    struct poll *p = c->pl;
    if (!p || !p->qlen || p->pausing || c->state == S_CLOSED || (p->post && p->post->busy))
        return;
    if (p->post && p->post->connected && now_us() - p->post->last_used > POST_IDLE_US)
        link_close(p->post);
    if (!p->post && !(p->post = link_open(c, L_POST))) {
        conn_fail(c);
        return;
    }
    char head[512];
    int hn = request_head(head, sizeof(head), c, "POST", p->qlen);
    size_t total = (size_t)hn + p->qlen;
    char stackbuf[8192];
    char *buf = total <= sizeof(stackbuf) ? stackbuf : malloc(total);
    if (!buf) {
        conn_fail(c);
        return;
    }
    memcpy(buf, head, (size_t)hn);
    memcpy(buf + hn, p->q, p->qlen);
    p->qlen = 0;
    struct link *l = p->post;
    l->busy = 1;
    link_write(l, buf, total);
    if (buf != stackbuf)
        free(buf);
}

static void poll_send(struct conn *c, const char *s, size_t len)
{
    struct poll *p = c->pl;
    if (!p || c->state == S_CLOSED)
        return;
    if ((p->qlen && append(&p->q, &p->qlen, &p->qcap, "\x1e", 1) < 0) ||
        append(&p->q, &p->qlen, &p->qcap, s, len) < 0) {
        conn_fail(c);
        return;
    }
    poll_flush(c);
}

/* A refused request (400 for an unknown sid, a closed session...). */
static void poll_refused(struct conn *c)
{
    if (c->state == S_READY) {
        conn_fail(c);
        return;
    }
    W.rep.fail_http++;
    conn_close(c);
    settle(c);
}

static void poll_answer(struct link *l, int status, const char *body, size_t len)
{
    struct conn *c = l->c;
    if (status != 200) {
        poll_refused(c);
        return;
    }
    if (l->kind == L_POST) { /* `ok` */
        poll_flush(c);
        poll_check_pause(c);
        return;
    }
    if (len)
        W.rep.polls++;
    if (c->state == S_HTTP) {
        /* the open packet: 0{"sid":"…",…} */
        const char *sid = len > 1 && body[0] == '0' ? memmem(body, len, "\"sid\":\"", 7) : NULL;
        const char *q = sid ? memchr(sid + 7, '"', len - (size_t)(sid + 7 - body)) : NULL;
        if (!q || (size_t)(q - sid - 7) >= sizeof(c->pl->sid)) {
            W.rep.fail_sio++;
            conn_close(c);
            settle(c);
            return;
        }
        memcpy(c->pl->sid, sid + 7, (size_t)(q - sid - 7));
        c->pl->sid[q - sid - 7] = 0;
        c->state = S_EIO;
    }
    size_t off = 0;
    while (off < len && c->state != S_CLOSED) {
        const char *e = memchr(body + off, 0x1e, len - off);
        size_t n = e ? (size_t)(e - (body + off)) : len - off;
        on_text(c, body + off, n);
        off += n + 1;
    }
    if (c->state != S_CLOSED)
        poll_next(c);
}

/* ---- the upgrade to WebSocket ---- */

/* The session is open and in its namespace: a WebSocket with its sid (connect_cb, parse_http). */
static void upgrade_start(struct conn *c)
{
    c->upg = UP_HTTP;
    c->t_up = now_us();
    if (ws_connect(c) < 0)
        conn_fail(c);
}

/* `3probe`: the polling pauses (the server answers the held GET with a noop). */
static void upgrade_probed(struct conn *c)
{
    hist_add(&W.rep.up_probe, now_us() - c->t_up);
    c->upg = UP_PAUSING;
    if (!c->pl) {
        conn_fail(c);
        return;
    }
    c->pl->pausing = 1;
    poll_check_pause(c);
}

/* Nothing in flight on the polling: `5`, then what waited, then a first event with an ack. */
static void upgrade_switch(struct conn *c)
{
    ws_text(c, "5", 1);
    hist_add(&W.rep.up_switch, now_us() - c->t_up);
    c->upg = UP_SWITCHED;
    c->on_ws = 1;
    char *q = c->pl->q;
    size_t qlen = c->pl->qlen;
    c->pl->q = NULL;
    c->pl->qlen = c->pl->qcap = 0;
    for (size_t off = 0; off < qlen && c->state != S_CLOSED;) {
        const char *e = memchr(q + off, 0x1e, qlen - off);
        size_t n = e ? (size_t)(e - (q + off)) : qlen - off;
        ws_text(c, q + off, n);
        off += n + 1;
    }
    free(q);
    if (c->state == S_CLOSED)
        return;
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "42%u[\"echo\",{}]", c->ack_id++);
    ws_text(c, buf, (size_t)n);
}

/* The ack came over the WebSocket: the socket is in use there, the polling connections go. */
static void upgrade_done(struct conn *c)
{
    hist_add(&W.rep.up_usable, now_us() - c->t_up);
    c->upg = UP_DONE;
    W.rep.upgraded++;
    poll_free(c);
    conn_ready(c);
}

/* ---- the running commands ---- */

static int build_payload(char *buf, size_t cap, const char *event, int64_t t, int32_t k, uint64_t s)
{
    char head[128];
    int hn = snprintf(head, sizeof(head), "{\"t\":%" PRId64 ",\"k\":%d,\"s\":%" PRIu64 ",\"p\":\"",
                      t, k, s);
    int pad = opt.payload - hn - 2;
    if (pad < 0)
        pad = 0;
    if ((size_t)(hn + pad + 64) > cap)
        pad = (int)cap - hn - 64;
    int n;
    if (opt.proto == P_SIO)
        n = snprintf(buf, cap, "42[\"%s\",%s", event, head);
    else
        n = snprintf(buf, cap, "{\"event\":\"%s\",\"data\":%s", event, head);
    memcpy(buf + n, W.payload_pad, (size_t)pad);
    n += pad;
    n += snprintf(buf + n, cap - (size_t)n, opt.proto == P_SIO ? "\"}]" : "\"}}");
    return n;
}

static void rpc_send(struct conn *c)
{
    if (W.running != CMD_RPC || c->state != S_READY || c->rlen >= opt.window ||
        now_us() >= W.run_end)
        return;
    char buf[256];
    int n;
    int echo = strcmp(opt.rpc_event, "echo") == 0;
    if (opt.proto == P_SIO) {
        if (echo)
            n = snprintf(buf, sizeof(buf), "42%u[\"echo\",{}]", c->ack_id++);
        else
            n = snprintf(buf, sizeof(buf), "42[\"%s\",{}]", opt.rpc_event);
    } else {
        n = snprintf(buf, sizeof(buf), "{\"event\":\"%s\",\"data\":{}}", opt.rpc_event);
    }
    c->ring[(c->rhead + c->rlen) % opt.window] = now_us();
    c->rlen++;
    W.rep.sent++;
    sio_send(c, buf, (size_t)n);
}

static void finish_run(void)
{
    W.running = 0;
    uv_timer_stop(&W.tick);
    send_report();
}

static void tick_cb(uv_timer_t *t)
{
    int64_t now = now_us();
    if (W.running == CMD_RPC) {
        if (now >= W.run_end) {
            /* stop sending; wait for the requests in flight (bounded) */
            int inflight = 0;
            for (size_t i = 0; i < W.nconns; i++)
                if (W.conns[i].state == S_READY && W.conns[i].rlen)
                    inflight = 1;
            if (!W.drain_until)
                W.drain_until = now + (int64_t)(opt.drain_s * 1e6);
            if (!inflight || now >= W.drain_until) {
                W.running = -1; /* rpc_send stops */
                finish_run();
            }
        }
        return;
    }
    int64_t elapsed = now - W.run_start;
    if (elapsed >= W.run_end - W.run_start) {
        finish_run();
        return;
    }
    uint64_t due = (uint64_t)((double)elapsed * W.run_rate / 1e6) + 1;
    char buf[70000];
    int burst = 0;
    while (W.run_sent < due && burst < 100000) {
        struct conn *c = NULL;
        for (size_t tries = 0; tries < W.nconns; tries++) {
            struct conn *x = &W.conns[W.rr++ % W.nconns];
            if (x->state == S_READY && ((W.running == CMD_BLAST && x->role == R_BCAST) ||
                                        (W.running == CMD_USER && x->role == R_USEND))) {
                c = x;
                break;
            }
        }
        if (!c) {
            /* no open sender in this worker (none assigned, or all closed) */
            if (W.nconns)
                W.rep.errors++;
            finish_run();
            return;
        }
        int n = build_payload(buf, sizeof(buf), W.running == CMD_BLAST ? "blast" : "to_user",
                              now_us(), W.step, W.seq++);
        sio_send(c, buf, (size_t)n);
        W.run_sent++;
        W.rep.sent++;
        burst++;
    }
}

static void run_command(const struct cmd *cmd)
{
    switch (cmd->type) {
    case CMD_CONNECT:
        W.connecting = 1;
        uv_timer_start(&W.watchdog, watchdog_cb, 200, 200);
        start_more();
        /* settle() answers when the last connection settles; nothing to wait for: answer now */
        if (W.connecting && W.settled >= W.nconns) {
            W.connecting = 0;
            send_report();
        }
        return;
    case CMD_RESET:
        W.step = cmd->step;
        W.rep.closed = W.rep.sent = W.rep.received = W.rep.late = W.rep.errors = 0;
        W.rep.received_in_window = 0;
        W.rep.polls = 0;
        memset(&W.rep.lat, 0, sizeof(W.rep.lat));
        send_report();
        return;
    case CMD_REPORT:
        send_report();
        return;
    case CMD_BLAST:
    case CMD_USER:
    case CMD_RPC:
        W.running = cmd->type;
        W.step = cmd->step;
        W.run_start = now_us();
        W.run_end = W.run_start + (int64_t)(cmd->dur_s * 1e6);
        W.run_rate = cmd->rate;
        W.run_sent = 0;
        W.drain_until = 0;
        if (cmd->type == CMD_RPC) {
            for (size_t i = 0; i < W.nconns; i++)
                for (int k = 0; k < opt.window; k++)
                    rpc_send(&W.conns[i]);
            uv_timer_start(&W.tick, tick_cb, 5, 5);
        } else if (cmd->rate <= 0) {
            finish_run();
        } else {
            uv_timer_start(&W.tick, tick_cb, 0, 1);
        }
        return;
    case CMD_QUIT:
        send_report();
        _exit(0);
    default:
        _exit(5);
    }
}

static void cmd_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    buf->base = W.cmd_buf + W.cmd_len;
    buf->len = sizeof(W.cmd_buf) - W.cmd_len;
}

static void cmd_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    if (nread < 0)
        _exit(0); /* the parent is gone */
    W.cmd_len += (size_t)nread;
    if (W.cmd_len == sizeof(struct cmd)) {
        struct cmd cmd;
        memcpy(&cmd, W.cmd_buf, sizeof(cmd));
        W.cmd_len = 0;
        run_command(&cmd);
    }
}

/* This worker's connections: interleaved over the workers by index. */
static int setup_conns(void)
{
    int nw = opt.procs;
    size_t cap = (size_t)opt.conns / (size_t)nw + 2;
    if (opt.scenario == SC_USER)
        cap = 2 * ((size_t)opt.users / (size_t)nw + 2);
    W.conns = calloc(cap, sizeof(struct conn));
    if (!W.conns)
        return -1;
    size_t n = 0;
    int tok = opt.token_prefix != NULL;
    if (opt.scenario == SC_USER) {
        for (int u = W.index; u < opt.users; u += nw) {
            struct conn *s = &W.conns[n++];
            s->role = R_USEND;
            s->token = (uint32_t)u;
            s->target = (uint8_t)(u % opt.ntargets);
            struct conn *r = &W.conns[n++];
            r->role = R_URECV;
            r->token = (uint32_t)u;
            r->target = (uint8_t)((u + 1) % opt.ntargets);
            s->has_token = r->has_token = (uint8_t)tok;
        }
    } else {
        for (int j = W.index; j < opt.conns; j += nw) {
            struct conn *c = &W.conns[n++];
            c->role = opt.scenario == SC_RPC ? R_RPC : R_RECV;
            c->token = (uint32_t)j;
            c->has_token = (uint8_t)tok;
            c->target = (uint8_t)(j % opt.ntargets);
        }
        if (opt.scenario == SC_FANOUT && W.index == 0) {
            struct conn *c = &W.conns[n++];
            c->role = R_BCAST; /* anonymous */
            c->target = 0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        W.conns[i].src = (uint32_t)((size_t)W.index + (size_t)nw * i);
        /* a fanout's broadcaster stays on WebSocket: the deliveries are what is measured */
        W.conns[i].transport = (uint8_t)(W.conns[i].role == R_BCAST ? T_WEBSOCKET : opt.transport);
        W.conns[i].on_ws = W.conns[i].transport == T_WEBSOCKET;
        if (W.conns[i].role == R_RPC) {
            W.conns[i].ring = calloc((size_t)opt.window, sizeof(int64_t));
            if (!W.conns[i].ring)
                return -1;
        }
    }
    W.nconns = n;
    W.rep.conns = n;
    return 0;
}

int worker_main(int index, int cmd_fd, int rep_fd)
{
    signal(SIGPIPE, SIG_IGN);
    /* a worker never outlives a lost parent by much */
    alarm((unsigned)(opt.max_duration_s + 30));
    W.index = index;
    W.rep_fd = rep_fd;
    rng_state ^= (uint32_t)(getpid() * 2654435761u);
    W.loop = uv_default_loop();
    W.payload_pad = malloc((size_t)opt.payload + 1);
    if (!W.payload_pad || setup_conns() < 0)
        return 3;
    memset(W.payload_pad, 'x', (size_t)opt.payload);
    uv_timer_init(W.loop, &W.tick);
    uv_timer_init(W.loop, &W.watchdog);
    uv_pipe_init(W.loop, &W.cmd_pipe, 0);
    if (uv_pipe_open(&W.cmd_pipe, cmd_fd) < 0)
        return 3;
    uv_read_start((uv_stream_t *)&W.cmd_pipe, cmd_alloc_cb, cmd_read_cb);
    uv_run(W.loop, UV_RUN_DEFAULT);
    return 0;
}
