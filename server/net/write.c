/*
 * The write path of WebSocket frames: the flush list, coalescing, fd order, and lws for what the
 * kernel does not take.
 */
#include "internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libwebsockets.h>

#include "../log/log.h"

/* The write path puts each frame's WebSocket header (at most 10 bytes) into the headroom conn
 * reserves in front of its data; at least LWS_PRE keeps the frames fit for lws_write() as lws
 * documents it. */
_Static_assert(CONN_HEADROOM >= LWS_PRE, "conn's frame headroom is smaller than LWS_PRE");

/*
 * Writing. A frame queued for a connection is not written at once: the connection joins the
 * flush list, and the list is written before the loop sleeps (a uv_prepare handle), or after
 * cfg->write_delay_ms. Everything a connection got in the meantime (the frames of several
 * broadcasts, an ack and its events) goes out in one send(), and a connection whose socket takes
 * the bytes never waits for a writable callback: lws_callback_on_writable() costs two
 * epoll_ctl() calls, more than the send itself. Only when lws holds bytes the kernel refused
 * (a slow reader), or a close is pending, does the connection wait for POLLOUT.
 *
 * The frames are complete WebSocket frames built here (a server frame is never masked, and no
 * extension is negotiated), so they go to the socket with send() rather than through
 * lws_write(), which would only add its bookkeeping to the same send (about 5% of the CPU of a
 * fan-out at one broadcast a second, bench/RESULTS.md). lws still owns the stream: what the
 * kernel does not take is handed to lws_write(LWS_WRITE_RAW), which keeps it and asks for
 * POLLOUT, and nothing is sent directly while lws holds bytes (lws_partial_buffered(): our
 * remainder, or a pong or close of its own), so the byte order on the wire is always the order
 * of the queue.
 *
 * Under TLS (--tls-cert) the socket carries TLS records that only lws's SSL may write, so the
 * same bytes go through lws_write(LWS_WRITE_RAW) whole: lws encrypts them and keeps what the
 * kernel does not take, as above. The coalescing and the fd order stay; only the direct send()
 * is skipped.
 */

static size_t ws_header(unsigned char *h, uint8_t kind, size_t len)
{
    h[0] = 0x80 | (kind == FRAME_BINARY ? 0x2 : kind == FRAME_PING ? 0x9 : 0x1);
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    if (len < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

/* The bytes a frame puts on the wire after its WebSocket header: a binary message of Engine.IO
 * v3 starts with its packet type byte (4, a message; proto/eio3.c), which goes into the
 * frame's headroom (binary frames keep one byte more of it, conn.c), the same for every v3
 * connection. */
static size_t wire_prefix(const struct conn *c, const struct frame *f)
{
    return f->kind == FRAME_BINARY && c->eio == 3;
}

static void count_out(const struct conn *c, const struct frame *f)
{
    metrics.messages_out[c->proto]++;
    metrics.bytes_out[c->proto] += f->len;
}

/* Sends `len` bytes of complete frames on c's socket; the part the kernel does not take goes to
 * lws, which sends it when the socket drains (under TLS, all of it goes through lws). Returns 0, or
 * -1 when the socket failed. */
static int send_frames(struct lws *wsi, const struct conn *c, unsigned char *p, size_t len)
{
    if (container_of(c->host, struct net, host)->tls) {
        metrics.writes[c->proto]++;
        return lws_write(wsi, p, len, LWS_WRITE_RAW) < 0 ? -1 : 0;
    }
    ssize_t k;
    do
        k = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (k < 0 && errno == EINTR);
    if (k < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        k = 0;
    }
    metrics.writes[c->proto]++;
    if ((size_t)k == len)
        return 0;
    return lws_write(wsi, p + k, len - (size_t)k, LWS_WRITE_RAW) < 0 ? -1 : 0;
}

/* Writes what `c` has queued, several frames per send() when there are several, until the queue
 * is empty, lws holds unsent bytes, or four sends were made (then the rest waits for a writable
 * callback, so that one connection cannot hold the loop). Returns 0, or -1 when the socket
 * failed. */
int net_write_queued(struct net *n, struct lws *wsi, struct conn *c)
{
    for (int sends = 0; c->q_len && sends < 4; sends++) {
        if (lws_partial_buffered(wsi))
            return 0; /* lws asked for POLLOUT itself and writes its bytes first */
        struct frame *f = conn_queue_peek(c);
        if (c->q_len == 1 || f->len + 11 > NET_COALESCE_MAX) {
            /* One frame: its header goes into the frame's headroom (CONN_HEADROOM bytes, the same
             * header for every connection of its kind the frame goes to), no copy. */
            size_t pre = wire_prefix(c, f);
            unsigned char *payload = (unsigned char *)frame_payload(f) - pre, h[10];
            size_t hlen = ws_header(h, f->kind, f->len + pre);
            if (pre)
                payload[0] = EIO_MESSAGE;
            memcpy(payload - hlen, h, hlen);
            if (send_frames(wsi, c, payload - hlen, hlen + pre + f->len) < 0)
                return -1;
            count_out(c, f);
            conn_queue_pop(c);
            continue;
        }
        size_t used = 0;
        while ((f = conn_queue_peek(c)) && used + 11 + f->len <= NET_COALESCE_MAX) {
            size_t pre = wire_prefix(c, f);
            used += ws_header(n->wbuf + used, f->kind, f->len + pre);
            if (pre)
                n->wbuf[used++] = EIO_MESSAGE;
            memcpy(n->wbuf + used, frame_payload(f), f->len);
            used += f->len;
            count_out(c, f);
            conn_queue_pop(c);
        }
        if (send_frames(wsi, c, n->wbuf, used) < 0)
            return -1;
    }
    if (c->q_len)
        lws_callback_on_writable(wsi);
    return 0;
}

/* From this many connections on, a flush sorts its list first. */
#define FLUSH_SORT_MIN 32

static int by_fd(const void *a, const void *b)
{
    int x = ((const struct net_flush *)a)->fd, y = ((const struct net_flush *)b)->fd;
    return (x > y) - (x < y);
}

static void flush_all(struct net *n)
{
    /* A fan-out queues for the sockets in the registry's order, which is hash order. The
     * memory each send touches (the kernel's file, socket and TCP state of the connection,
     * lws's wsi, our conn) was allocated when the connection was accepted, in the order of its
     * fd: written in fd order, the sends walk that memory forward instead of jumping around
     * it, and the CPU's prefetchers follow. At 10,000 sockets this takes 15-20% off the CPU of
     * a delivery (bench/RESULTS.md); the sort costs ~0.1 us per connection. */
    if (n->nflush >= FLUSH_SORT_MIN) {
        qsort(n->flush, n->nflush, sizeof(*n->flush), by_fd);
        for (uint32_t i = 0; i < n->nflush; i++)
            if (n->flush[i].c)
                n->flush[i].c->flush_slot = i + 1;
    }
    /* The list may grow while it is written (a failed socket's close runs handlers). */
    for (uint32_t i = 0; i < n->nflush; i++) {
        struct conn *c = n->flush[i].c;
        if (!c)
            continue;
        c->flush_slot = 0;
        struct lws *wsi = c->transport;
        if (!wsi || !c->q_len)
            continue;
        if (c->closing) {
            lws_callback_on_writable(wsi); /* the close frame goes from the writable callback */
            continue;
        }
        if (net_write_queued(n, wsi, c) < 0) {
            LOG_DEBUG("net", "write failed: closing the connection");
            conn_queue_clear(c);
            c->close_metric = MC_TRANSPORT;
            c->closing = true;
            lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        }
    }
    n->nflush = 0;
}

static void flusher_cb(uv_prepare_t *h)
{
    struct net *n = h->data;
    if (n->nflush && !n->cfg->write_delay_ms)
        flush_all(n);
}

static void flush_timer_cb(uv_timer_t *t)
{
    flush_all(t->data);
}

void net_flush_forget(struct net *n, struct conn *c)
{
    if (c->flush_slot) {
        n->flush[c->flush_slot - 1].c = NULL;
        c->flush_slot = 0;
    }
}

void net_want_write(struct conn *c)
{
    struct net *n = net_of(c);
    if (!c->transport || !c->established || c->flush_slot)
        return;
    if (n->nflush == n->flush_cap) {
        uint32_t cap = n->flush_cap ? n->flush_cap * 2 : 1024;
        struct net_flush *grown = realloc(n->flush, cap * sizeof(*grown));
        if (!grown) {
            lws_callback_on_writable(c->transport); /* the slow way still works */
            return;
        }
        n->flush = grown;
        n->flush_cap = cap;
    }
    n->flush[n->nflush++] = (struct net_flush){.c = c, .fd = c->fd};
    c->flush_slot = n->nflush;
    if (n->nflush == 1 && n->cfg->write_delay_ms)
        uv_timer_start(&n->flush_timer, flush_timer_cb, n->cfg->write_delay_ms, 0);
}

int net_write_init(struct net *n)
{
    uv_prepare_init(n->loop, &n->flusher);
    n->flusher.data = n;
    uv_prepare_start(&n->flusher, flusher_cb);
    uv_timer_init(n->loop, &n->flush_timer);
    n->flush_timer.data = n;
    n->wbuf = malloc(NET_COALESCE_MAX);
    return n->wbuf ? 0 : SB_ENOMEM;
}

void net_write_close(struct net *n)
{
    uv_prepare_stop(&n->flusher);
    uv_timer_stop(&n->flush_timer);
    uv_close((uv_handle_t *)&n->flusher, NULL);
    uv_close((uv_handle_t *)&n->flush_timer, NULL);
    free(n->flush);
    n->flush = NULL;
    n->nflush = n->flush_cap = 0;
    free(n->wbuf);
    n->wbuf = NULL;
}
