/*
 * What switchboard does about libwebsockets 4.1.6 (Debian 12's), in one place: a private opcode,
 * a tagged opaque pointer, a user area kept only to get a callback, a ping payload and a close
 * frame written by hand. Each entry says what 4.1.6 does and where the work-around is used;
 * a newer lws may make an entry unnecessary (read the headers in /usr/include before removing
 * one).
 *
 * Included by the files of server/net only, after <libwebsockets.h>.
 */
#ifndef SB_NET_LWS_COMPAT_H
#define SB_NET_LWS_COMPAT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <libwebsockets.h>

/*
 * 1. A close frame. lws's own opcode for one is private in 4.1.6 (LWS_WRITE_CLOSE = 4, "handled
 * by lws_close_reason()"), and lws_close_reason() with a writable callback returning -1 does not
 * send the prepared reason (the socket goes down at once), so ws.c writes the frame itself with
 * that opcode and keeps the socket open for the client's answer (RFC 6455 7.1.1).
 */
#define LWS_COMPAT_WRITE_CLOSE ((enum lws_write_protocol)4)

/* Writes a close frame with `code` and `reason` (cut to the 123 bytes a control frame holds).
 * Returns what lws_write() returns. */
static inline int lws_compat_write_close(struct lws *wsi, uint16_t code, const char *reason)
{
    unsigned char buf[LWS_PRE + 125];
    size_t len = reason ? strlen(reason) : 0;
    if (len > 123)
        len = 123;
    buf[LWS_PRE] = (unsigned char)(code >> 8);
    buf[LWS_PRE + 1] = (unsigned char)(code & 0xff);
    if (len)
        memcpy(buf + LWS_PRE + 2, reason, len);
    return lws_write(wsi, buf + LWS_PRE, len + 2, LWS_COMPAT_WRITE_CLOSE);
}

/*
 * 2. A per-session user area of one byte. lws calls LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL (where
 * ws.c answers the frames lws's parser refuses with 1002 instead of a silent drop) only for a
 * connection with a user area; lws 4.1.6 also resets that area when it binds the WebSocket
 * protocol, so the connection's state does not live there but on the wsi's opaque pointer
 * (below). The protocol asks for this size.
 */
#define LWS_COMPAT_PSS_SIZE 1

/*
 * 3. A tagged opaque pointer. A wsi carries one opaque pointer (lws_set_opaque_user_data()), and
 * it is a WebSocket's `struct conn` or something else riding on an HTTP request: the body of a
 * POST /api/emit being received, a polling request of a session, the WebSocket probing the
 * upgrade of a polling session. Those have their kind in the pointer's two low bits (malloc'd
 * pointers have them clear), so the lws callback tells them apart without a second lookup.
 */
enum lws_compat_opaque {
    LWS_COMPAT_OPAQUE_CONN = 0,  /* a WebSocket's struct conn (untagged) */
    LWS_COMPAT_OPAQUE_BODY = 1,  /* api_emit.c's struct api_body */
    LWS_COMPAT_OPAQUE_POLL = 2,  /* polling.c: the struct conn of a polling request */
    LWS_COMPAT_OPAQUE_PROBE = 3, /* polling.c: the struct conn an upgrade probe is for */
};
#define LWS_COMPAT_OPAQUE_MASK ((uintptr_t)3)

static inline enum lws_compat_opaque lws_compat_opaque_kind(const void *opaque)
{
    return (enum lws_compat_opaque)((uintptr_t)opaque & LWS_COMPAT_OPAQUE_MASK);
}

static inline void *lws_compat_opaque_tag(void *p, enum lws_compat_opaque kind)
{
    return (void *)((uintptr_t)p | (uintptr_t)kind);
}

/* The object behind a tagged (or untagged) pointer. */
static inline void *lws_compat_opaque_ptr(void *opaque)
{
    return (void *)((uintptr_t)opaque & ~LWS_COMPAT_OPAQUE_MASK);
}

/*
 * 4. A WebSocket ping carries a payload: lws 4.1.6 drops an empty pong without calling
 * LWS_CALLBACK_RECEIVE_PONG, and the connection would then die of a ping timeout (timers.c).
 */
#define LWS_COMPAT_PING_PAYLOAD     "sb"
#define LWS_COMPAT_PING_PAYLOAD_LEN 2

/*
 * 5. Reads under TLS take a whole record. lws 4.1.6 reads at most pt_serv_buf_size (4096 by
 * default) per service, and when SSL_read() fills that, the rest of the decrypted record waits
 * inside OpenSSL, where the socket shows no POLLIN: lws's libuv idle handle is meant to service
 * such connections, but 4.1.6 stops it after one forced service whatever is still pending
 * (fixed upstream after 4.1.6: "libuv: fix idle being stopped when there is still pending
 * stuff", lws PR 3008). A request body or a client message longer than two reads then stalls
 * until the client sends something else. SSL_read() returns at most one record (16 KB of
 * plaintext, RFC 8446 5.1), so with a buffer larger than that every read ends the record it
 * read and nothing is left inside OpenSSL. net_start() sets this when TLS is on; the buffer is
 * one per service thread, not per connection.
 */
#define LWS_COMPAT_TLS_SERV_BUF_SIZE (32 * 1024)

/*
 * 6. A TLS connection that closes without a request (its client's close_notify, as a browser's
 * speculative connection or a TLS health check sends) makes lws 4.1.6 warn "Missing URI in HTTP
 * request", twice. Nothing is wrong, and it would be two warnings per such client: net.c's log
 * callback lowers this line to debug.
 */
#define LWS_COMPAT_QUIET_WARNING "Missing URI in HTTP request"

#endif
