/*
 * The plain JSON frame of NestJS's WsAdapter: {"event": NAME, "data": VALUE} both ways, one
 * message per WebSocket text frame, no Engine.IO or Socket.IO framing around it.
 */
#include <string.h>

#include "proto.h"

int wsjson_decode(const char *buf, size_t len, struct wsjson_msg *out)
{
    memset(out, 0, sizeof(*out));
    json_error_t err;
    json_t *root = proto_json_load(buf, len, PROTO_JSON_FLAGS, &err);
    if (!root)
        return SB_EJSON;
    const json_t *event = json_object_get(root, "event");
    if (!json_is_object(root) || !json_is_string(event) || json_string_length(event) == 0)
        goto fail;
    const char *name = json_string_value(event);
    size_t name_len = json_string_length(event);
    /* A name with a NUL in it could not be looked up as a C string; refuse it rather than let
     * "a\u0000b" reach the handler named "a". */
    if (memchr(name, '\0', name_len))
        goto fail;
    out->root = root;
    out->event = name;
    out->event_len = name_len;
    out->data = json_object_get(root, "data");
    return 0;

fail:
    json_decref(root);
    return SB_EPROTO;
}

void wsjson_msg_clear(struct wsjson_msg *m)
{
    json_decref(m->root);
    memset(m, 0, sizeof(*m));
}

int wsjson_encode(struct sbuf *out, const char *event, const json_t *data)
{
    if (!event)
        return SB_EINVAL;
    size_t event_len = strlen(event);
    /* Refuse what wsjson_decode() would refuse, so a peer of this server never gets it. */
    if (event_len == 0 || !proto_utf8_valid(event, event_len))
        return SB_EINVAL;
    if (out->failed)
        return SB_ENOMEM;
    size_t start = out->len;
    sbuf_append_str(out, "{\"event\":");
    sbuf_append_json_string(out, event, event_len);
    sbuf_append_str(out, ",\"data\":");
    int rc = data ? proto_json_append(out, data) : sbuf_append_str(out, "null");
    if (rc == 0)
        rc = sbuf_append_char(out, '}');
    if (rc != 0) {
        /* Leave the buffer as it was, so a caller can fall back to another message. */
        out->len = start;
        if (out->base)
            sbuf_data(out)[start] = '\0';
    }
    return rc;
}
