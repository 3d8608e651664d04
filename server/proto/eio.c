/*
 * Engine.IO v4: one packet per WebSocket text frame, the polling payload (packets joined by
 * 0x1e), the open packet, and the checks engine.io runs on a request before it creates or finds
 * a session.
 */
#include <inttypes.h>
#include <string.h>

#include "proto.h"

int eio_decode(const char *buf, size_t len, struct eio_packet *out)
{
    if (len == 0 || buf[0] < '0' || buf[0] > '0' + EIO_NOOP)
        return SB_EPROTO;
    out->type = (enum eio_type)(buf[0] - '0');
    out->data = buf + 1;
    out->len = len - 1;
    return 0;
}

int eio_encode(struct sbuf *out, enum eio_type type, const char *data, size_t len)
{
    if ((int)type < EIO_OPEN || type > EIO_NOOP || (!data && len))
        return SB_EINVAL;
    int rc = sbuf_append_char(out, (char)('0' + type));
    if (rc == 0 && len)
        rc = sbuf_append(out, data, len);
    return rc;
}

int eio_encode_open(struct sbuf *out, const struct eio_open_params *p)
{
    if (!p->sid)
        return SB_EINVAL;
    /* The key order matches engine.io's, so captures of real servers compare byte for byte. */
    sbuf_append_str(out, "0{\"sid\":");
    sbuf_append_json_string(out, p->sid, strlen(p->sid));
    sbuf_append_str(out, p->upgrades ? ",\"upgrades\":[\"websocket\"]" : ",\"upgrades\":[]");
    return sbuf_printf(out,
                       ",\"pingInterval\":%" PRIu32 ",\"pingTimeout\":%" PRIu32
                       ",\"maxPayload\":%" PRIu64 "}",
                       p->ping_interval_ms, p->ping_timeout_ms, p->max_payload);
}

/* engine.io's Server.errorMessages, indexed by code. */
static const char *const messages[] = {
    [EIO_HS_TRANSPORT_UNKNOWN] = "Transport unknown",
    [EIO_HS_SESSION_ID_UNKNOWN] = "Session ID unknown",
    [EIO_HS_BAD_HANDSHAKE_METHOD] = "Bad handshake method",
    [EIO_HS_BAD_REQUEST] = "Bad request",
    [EIO_HS_FORBIDDEN] = "Forbidden",
    [EIO_HS_UNSUPPORTED_PROTOCOL_VERSION] = "Unsupported protocol version",
};

const char *eio_hs_message(int code)
{
    if (code < 0 || (size_t)code >= ARRAY_SIZE(messages))
        return "Unknown error";
    return messages[code];
}

/* The checks of eio_hs_check(), with v3 let through when allowed. */
static int check(const char *method, const struct query *q, bool websocket, enum eio_sid sid,
                 bool allow_eio3)
{
    const char *transport = query_get(q, "transport");
    bool polling = transport && strcmp(transport, "polling") == 0;
    if (!polling && !(transport && strcmp(transport, "websocket") == 0))
        return EIO_HS_TRANSPORT_UNKNOWN;
    /* A WebSocket upgrade that names the polling transport. */
    if (polling && websocket)
        return EIO_HS_BAD_REQUEST;
    if (sid == EIO_SID_UNKNOWN)
        return EIO_HS_SESSION_ID_UNKNOWN;
    if (sid != EIO_SID_NONE) {
        /* A request on the session's transport, or the upgrade of a polling session. */
        bool same = polling ? sid == EIO_SID_POLLING : sid == EIO_SID_WEBSOCKET;
        return same || websocket ? EIO_HS_OK : EIO_HS_BAD_REQUEST;
    }
    if (!method || strcmp(method, "GET") != 0)
        return EIO_HS_BAD_HANDSHAKE_METHOD;
    /* A plain GET that names the websocket transport without asking for the upgrade. */
    if (!polling && !websocket)
        return EIO_HS_BAD_REQUEST;
    /* engine.io takes anything but exactly "4" for a v3 client, and refuses it unless allowed. */
    const char *eio = query_get(q, "EIO");
    if (!allow_eio3 && (!eio || strcmp(eio, "4") != 0))
        return EIO_HS_UNSUPPORTED_PROTOCOL_VERSION;
    return EIO_HS_OK;
}

int eio_hs_check(const char *method, const struct query *q, bool websocket, enum eio_sid sid)
{
    return eio_hs_negotiate(method, q, websocket, sid, false, NULL);
}

int eio_hs_negotiate(const char *method, const struct query *q, bool websocket, enum eio_sid sid,
                     bool allow_eio3, struct eio_hs_info *info)
{
    int code = check(method, q, websocket, sid, allow_eio3);
    if (code == EIO_HS_OK && info) {
        const char *eio = query_get(q, "EIO");
        const char *b64 = query_get(q, "b64");
        info->protocol = eio && strcmp(eio, "4") == 0 ? 4 : 3;
        /* engine.io tests the value for truth: "b64=" and a bare "b64" leave binary on. */
        info->b64 = b64 && *b64;
        info->jsonp = query_get(q, "j") != NULL;
    }
    return code;
}

int eio_hs_encode_error(struct sbuf *out, int code)
{
    if (code < 0 || (size_t)code >= ARRAY_SIZE(messages))
        return SB_EINVAL;
    const char *msg = messages[code];
    sbuf_printf(out, "{\"code\":%d,\"message\":", code);
    sbuf_append_json_string(out, msg, strlen(msg));
    return sbuf_append_char(out, '}');
}

void eio_payload_begin(struct eio_payload *it, const char *buf, size_t len)
{
    it->p = buf;
    it->end = buf + len;
}

int eio_payload_next(struct eio_payload *it, const char **pkt, size_t *len)
{
    if (!it->p)
        return 0;
    const char *sep = memchr(it->p, EIO_PAYLOAD_SEPARATOR, (size_t)(it->end - it->p));
    const char *stop = sep ? sep : it->end;
    if (stop == it->p)
        return SB_EPROTO;
    *pkt = it->p;
    *len = (size_t)(stop - it->p);
    it->p = sep ? sep + 1 : NULL;
    return 1;
}

int eio_payload_append(struct sbuf *out, const char *pkt, size_t len)
{
    if (out->len)
        sbuf_append_char(out, EIO_PAYLOAD_SEPARATOR);
    return sbuf_append(out, pkt, len);
}

int eio_decode_base64(const char *buf, size_t len, struct sbuf *bin, const char **data,
                      size_t *dlen)
{
    if (len == 0 || buf[0] != 'b')
        return SB_EPROTO;
    return proto_base64_decode_to(bin, buf + 1, len - 1, data, dlen);
}

int eio_payload_append_binary(struct sbuf *out, const void *data, size_t len)
{
    if (!data && len)
        return SB_EINVAL;
    if (out->failed)
        return SB_ENOMEM;
    size_t start = out->len;
    if (out->len)
        sbuf_append_char(out, EIO_PAYLOAD_SEPARATOR);
    sbuf_append_char(out, 'b');
    proto_base64_append(out, data, len);
    return sbuf_finish(out, start, 0);
}
