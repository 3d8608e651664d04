/*
 * Wire codecs: Engine.IO v4, Socket.IO v5, the plain JSON frame and the handshake query, and
 * the legacy pair of socket.io 2.x clients, Engine.IO v3 and Socket.IO v4.
 *
 * Pure functions: bytes in, structs out (or structs in, bytes appended to an sbuf). No I/O, no
 * globals, no logging, so every function here is unit-tested and fuzzed directly. Decoders never
 * read past `len` and never require NUL-terminated input.
 */
#ifndef SB_PROTO_H
#define SB_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../util/util.h"

/* Flags every decoder gives jansson: any JSON value at the top, NUL allowed inside strings. */
#define PROTO_JSON_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

/* ------------------------------------------------------------------ Engine.IO v4 packets */

enum eio_type {
    EIO_OPEN = 0,
    EIO_CLOSE = 1,
    EIO_PING = 2,
    EIO_PONG = 3,
    EIO_MESSAGE = 4,
    EIO_UPGRADE = 5,
    EIO_NOOP = 6,
};

struct eio_packet {
    enum eio_type type;
    const char *data; /* borrowed: points into the decoded buffer, after the type digit */
    size_t len;
};

/* Decodes one text WebSocket frame. Returns 0, or SB_EPROTO for an empty frame or an unknown
 * type digit. */
int eio_decode(const char *buf, size_t len, struct eio_packet *out);

/* Appends the type digit and `data`. Returns 0, SB_EINVAL (unknown type) or SB_ENOMEM. */
int eio_encode(struct sbuf *out, enum eio_type type, const char *data, size_t len);

struct eio_open_params {
    const char *sid;
    uint32_t ping_interval_ms;
    uint32_t ping_timeout_ms;
    uint64_t max_payload;
    bool upgrades; /* true: "upgrades":["websocket"] (polling session); false: [] */
};

/* Appends the open packet: 0{"sid":…,"upgrades":[],"pingInterval":…,"pingTimeout":…,
 * "maxPayload":…}. */
int eio_encode_open(struct sbuf *out, const struct eio_open_params *p);

/* --------------------------------------------------------------- handshake query strings */

struct query_pair {
    char *key;   /* owned, percent-decoded */
    char *value; /* owned, percent-decoded; "" for a key without '=' */
};

struct query {
    struct query_pair *pairs; /* owned */
    size_t count;
};

#define QUERY_MAX_PAIRS 64

/* Parses "a=1&b=%20x" (no leading '?'). '+' decodes to a space, "%zz" stays literal. Empty
 * pieces ("a&&b", a trailing '&') are skipped. So that every key and value is a valid UTF-8 C
 * string, "%00" stays literal, a raw NUL byte ends the input, and bytes that are not UTF-8 become
 * U+FFFD (as Node's querystring does). Returns 0, SB_ETOOBIG (more than QUERY_MAX_PAIRS pairs)
 * or SB_ENOMEM; `out` is empty after a failure. */
int query_parse(const char *qs, size_t len, struct query *out);
/* The value of the first pair named `key` (borrowed), or NULL. */
const char *query_get(const struct query *q, const char *key);
void query_free(struct query *q);

/*
 * Packed pairs: what a connection keeps of its handshake (query, headers) for the rare moments
 * someone reads it, in one exact-size allocation: "key\0value\0key\0value\0\0". A JSON object
 * would cost several hundred bytes per idle connection.
 */
/* Appends one pair to `b` (values may not contain NUL bytes: they end the value). */
int pairs_append(struct sbuf *b, const char *key, const char *value, size_t value_len);
/* The packed pairs of `b` in a new exact-size allocation (the caller frees it); NULL when `b`
 * is empty or memory ran out. `b` is freed. */
char *pairs_finish(struct sbuf *b);
/* Packs the pairs of `q`, leaving out those named `skip` (NULL: none). */
char *pairs_from_query(const struct query *q, const char *skip);
/* A new JSON object of the packed pairs (later duplicates win; an empty object for NULL), or
 * NULL when memory ran out. */
json_t *pairs_to_json(const char *packed);

/* Engine.IO handshake error codes, sent as {"code":N,"message":…} with HTTP 400. */
enum eio_hs_error {
    EIO_HS_OK = -1,
    EIO_HS_TRANSPORT_UNKNOWN = 0,
    EIO_HS_SESSION_ID_UNKNOWN = 1,
    EIO_HS_BAD_HANDSHAKE_METHOD = 2,
    EIO_HS_BAD_REQUEST = 3,
    EIO_HS_FORBIDDEN = 4,
    EIO_HS_UNSUPPORTED_PROTOCOL_VERSION = 5,
};

/* engine.io's message for a code ("Transport unknown", …); "Unknown error" outside 0…5. */
const char *eio_hs_message(int code);

/* What the server knows of a request's `sid` (engine.io tests the sid for truth: "sid=" is no
 * sid). */
enum eio_sid {
    EIO_SID_NONE = 0,  /* no sid: a new session */
    EIO_SID_UNKNOWN,   /* a sid this server does not hold */
    EIO_SID_POLLING,   /* a session on the polling transport */
    EIO_SID_WEBSOCKET, /* a session that upgraded to WebSocket */
};

/*
 * Checks a request for the Socket.IO path in engine.io's order (Server.verify(), then the
 * version in handshake()): the transport (`polling` or `websocket`), then the session (`sid`:
 * unknown, or a transport other than the session's without an upgrade), then, for a new
 * session, the method (GET), a websocket transport without the upgrade, and EIO, which must be
 * exactly "4". `websocket` is true for a WebSocket upgrade request. Returns EIO_HS_OK or a code.
 */
int eio_hs_check(const char *method, const struct query *q, bool websocket, enum eio_sid sid);

/* What a request asks of the session beyond the checks (see eio_hs_negotiate()). */
struct eio_hs_info {
    int protocol; /* 4 when EIO is exactly "4", else 3, as engine.io reads it on every request */
    bool b64;     /* "b64" has a non-empty value: binary goes as base64 text, never raw (v3) */
    bool jsonp;   /* "j" is present (even empty): the JSONP polling transport */
};

/*
 * eio_hs_check() with Engine.IO v3 as an option: with `allow_eio3` false it answers exactly as
 * eio_hs_check() (which calls it so); with `allow_eio3` true a new session whose EIO is anything
 * but "4" (missing too: engine.io's allowEIO3 treats every other value as 3) is accepted as v3.
 * A request on an existing session is never refused for its version, as in engine.io, which
 * checks the version only in handshake(): the session keeps the protocol it was created with,
 * whatever later requests say. `info` (may be NULL) is filled whenever the result is EIO_HS_OK;
 * the caller refuses JSONP itself if it does not serve it. Returns EIO_HS_OK or a code.
 */
int eio_hs_negotiate(const char *method, const struct query *q, bool websocket, enum eio_sid sid,
                     bool allow_eio3, struct eio_hs_info *info);

/*
 * Engine.IO v4 polling payloads: packets joined by the record separator 0x1e. A payload may not
 * be empty, nor hold an empty packet (two separators in a row, one at either end), as
 * engine.io-parser decodes those to an error packet. A binary packet goes as text:
 * `b<base64>` (eio_decode_base64(), eio_payload_append_binary()), always a message.
 */
#define EIO_PAYLOAD_SEPARATOR '\x1e'

struct eio_payload {
    const char *p, *end; /* what is left; p NULL after the last packet */
};

void eio_payload_begin(struct eio_payload *it, const char *buf, size_t len);
/* The next packet: 1 with `*pkt`/`*len` set (borrowed from the buffer), 0 at the end, or
 * SB_EPROTO for an empty packet. */
int eio_payload_next(struct eio_payload *it, const char **pkt, size_t *len);
/* Appends one packet to a payload being built, with the separator before it unless it is the
 * first. Returns 0 or SB_ENOMEM. */
int eio_payload_append(struct sbuf *out, const char *pkt, size_t len);

/* Decodes a v4 binary packet written as text, `b<base64>` (a polling payload's binary
 * message), appending its bytes to `bin`; `*data` then points at them inside `bin` (valid until
 * `bin` next changes). The base64 must be canonical, as eio3_decode() wants it. Returns 0,
 * SB_EPROTO (no `b`, bad base64) or SB_ENOMEM. */
int eio_decode_base64(const char *buf, size_t len, struct sbuf *bin, const char **data,
                      size_t *dlen);
/* Appends a binary message to a v4 payload being built: the separator unless it is the first
 * packet, then `b<base64 of data>`. Returns 0, SB_EINVAL (NULL data with a length) or
 * SB_ENOMEM; nothing is appended after a failure. */
int eio_payload_append_binary(struct sbuf *out, const void *data, size_t len);

/* Base64 (proto/base64.c) as engine.io writes it: the standard alphabet, padded. */
size_t proto_base64_len(size_t n); /* the text length of n bytes */
/* Appends the padded base64 of s[0..len) (an sbuf failure shows in out->failed). */
void proto_base64_append(struct sbuf *out, const unsigned char *s, size_t len);
/* Appends to `bin` the bytes of canonical base64 text s[0..len) (standard alphabet, a multiple
 * of 4, zero spare bits: what proto_base64_append() writes, nothing else), with `*data` pointing
 * at them in `bin` (valid until `bin` next changes) and `*dlen` their number. Returns 0,
 * SB_EPROTO or SB_ENOMEM; nothing is appended after a failure. */
int proto_base64_decode_to(struct sbuf *bin, const char *s, size_t len, const char **data,
                           size_t *dlen);

/* Appends the JSON body of a handshake error: {"code":N,"message":"…"}. Returns 0, SB_EINVAL
 * (a code outside 0…5) or SB_ENOMEM. */
int eio_hs_encode_error(struct sbuf *out, int code);

/* ------------------------------------------------ Engine.IO v3 (socket.io 2.x clients) */

/*
 * Engine.IO v3, as engine.io-parser 2.x (and engine.io's parser-v3 copy of it, used with
 * allowEIO3) writes and reads it. What differs from v4, and where it lives:
 *
 * - Packets are the same type digit + data; binary differs. Over WebSocket a binary frame is the
 *   type byte (0x04 for a message) then the bytes (eio3_decode_binary()/eio3_encode_binary());
 *   where only text can go (polling without XHR2, `b64=1`) a binary packet is the text
 *   `b<type digit><base64>` (eio3_decode()/eio3_encode_base64()).
 * - Polling payloads are `<length>:<packet>` repeated, the length counted in UTF-16 code units
 *   of the packet (eio3_payload_*); a client with XHR2 POSTs, and is answered with, a binary
 *   payload when a packet is binary (application/octet-stream, eio3_binpayload_*).
 * - The open packet has no maxPayload (eio3_encode_open()).
 * - The heartbeat goes the other way: the CLIENT sends `2` every pingInterval and the server
 *   answers `3` at once; the server closes a session that sent nothing for pingInterval +
 *   pingTimeout. A `3` from a v3 client, like a `2` from a v4 one, is engine.io's "invalid
 *   heartbeat direction" and closes the session. The upgrade probe is the same `2probe` /
 *   `3probe` / `5` as in v4.
 * - The handshake takes any EIO but "4" as v3 (eio_hs_negotiate()), and `b64` / `j` in the
 *   query choose base64 binary and JSONP.
 */

/* A length prefix has at most this many digits (engine.io-parser allows up to 310 and reads
 * them as a double; ten already exceed any body a server accepts). */
#define EIO3_MAX_LENGTH_DIGITS 10

struct eio3_packet {
    enum eio_type type;
    bool binary;      /* the data are bytes (a binary packet), not text */
    const char *data; /* borrowed: into the input, or (base64) into the caller's `bin` buffer */
    size_t len;
};

/*
 * Decodes one text packet of v3: `<type digit>[data]` as eio_decode() does, or
 * `b<type digit><base64>`, whose bytes are appended to `bin` (out->data then points at them
 * inside `bin`, valid until `bin` next changes; out->binary is true). The base64 must be
 * canonical (standard alphabet, padded to a multiple of 4, zero spare bits), as every
 * engine.io encoder writes it; Node's decoder is laxer. `bin` may be NULL when the caller wants
 * no binary packet (then `b…` is SB_EINVAL). Returns 0, SB_EPROTO (empty, an unknown type digit,
 * bad base64), SB_EINVAL or SB_ENOMEM.
 */
int eio3_decode(const char *buf, size_t len, struct sbuf *bin, struct eio3_packet *out);

/* Appends `b<type digit><base64 of data>`: a binary packet where only text can go. Returns 0,
 * SB_EINVAL (unknown type, NULL data with a length) or SB_ENOMEM; nothing is appended after a
 * failure. */
int eio3_encode_base64(struct sbuf *out, enum eio_type type, const void *data, size_t len);

/* Decodes a binary WebSocket frame of v3: the type byte (0…6), then the bytes (borrowed;
 * out->binary is true). Returns 0, or SB_EPROTO for an empty frame or an unknown type byte. */
int eio3_decode_binary(const void *buf, size_t len, struct eio3_packet *out);

/* Appends a binary WebSocket frame of v3: the type byte, then `data`. Returns 0, SB_EINVAL
 * (unknown type, NULL data with a length) or SB_ENOMEM. */
int eio3_encode_binary(struct sbuf *out, enum eio_type type, const void *data, size_t len);

/* Appends the v3 open packet: 0{"sid":…,"upgrades":[…],"pingInterval":…,"pingTimeout":…},
 * engine.io 3.x's keys in its order (p->max_payload is not written). Returns 0, SB_EINVAL (no
 * sid) or SB_ENOMEM. */
int eio3_encode_open(struct sbuf *out, const struct eio_open_params *p);

/*
 * The text polling payload of v3: `<length>:<packet>` repeated, with no separator, e.g.
 * `6:4hello2:4€` (`€` is one UTF-16 code unit, three bytes; an emoji outside the BMP is two
 * units, four bytes). The payload is walked as UTF-8, so it must be valid UTF-8 (RFC 3629: Node
 * would have turned bad bytes into U+FFFD, whose lengths then mismatch). Refused as a whole,
 * where engine.io-parser refuses the payload too: an empty payload, a length that is missing,
 * not digits, longer than EIO3_MAX_LENGTH_DIGITS or without its ':', a length running past the
 * end or ending inside a character (half a surrogate pair), and anything after the last packet.
 * Stricter than engine.io-parser, whose loose JavaScript comparisons take " 5", "+5", "05",
 * "5.0" and "0x5" for 5, and which skips an empty packet ("0:", what it writes for no packets):
 * a length here is canonical decimal without leading zeros, so "0:" is refused too. The packets
 * are not decoded here: pass each to eio3_decode(). A packet before a fault has already been
 * returned, as engine.io-parser calls back for each packet before it meets the fault.
 */
struct eio3_payload {
    const char *p, *end; /* what is left */
    bool done;           /* the last packet has been returned */
};

void eio3_payload_begin(struct eio3_payload *it, const char *buf, size_t len);
/* The next packet: 1 with `*pkt`/`*len` set (borrowed from the buffer; never empty, valid
 * UTF-8), 0 at the end, or SB_EPROTO (and again on every later call) at a fault. */
int eio3_payload_next(struct eio3_payload *it, const char **pkt, size_t *len);
/* Appends `<length>:<pkt>` with the length in UTF-16 code units of `pkt` (a text packet such as
 * "4hello", or an eio3_encode_base64() one). Returns 0, SB_EINVAL (empty, or not valid UTF-8)
 * or SB_ENOMEM; nothing is appended after a failure. Whatever it writes, eio3_payload_next()
 * reads back. */
int eio3_payload_append(struct sbuf *out, const char *pkt, size_t len);
/* Appends a binary packet to a text payload: `<length>:b<type digit><base64>`, the length
 * counting the whole packet text, "b" and the type digit included ("10:b4AQIDBA=="), as
 * engine.io-parser's setLengthHeader() does. Returns as eio3_encode_base64(). */
int eio3_payload_append_binary(struct sbuf *out, enum eio_type type, const void *data, size_t len);

/*
 * The binary polling payload of v3 (XHR2 clients, Content-Type application/octet-stream, both
 * ways, used when a packet is binary): per packet a kind byte (0 text, 1 binary), the decimal
 * digits of the length as bytes 0…9, the byte 0xFF, then the packet: a text packet as UTF-8
 * ("4hello", the length in bytes), a binary one as its type byte then the bytes (the length
 * counting the type byte). Refused, where engine.io-parser reads garbage or an undefined type:
 * an empty payload (it yields no packets), a kind byte other than 0 or 1, no digits, a digit
 * above 9, more than EIO3_MAX_LENGTH_DIGITS digits or a leading zero, a missing 0xFF, a length
 * past the end, an empty packet, a text packet that is not UTF-8 or whose type digit is unknown,
 * a binary one whose type byte is unknown.
 */
struct eio3_binpayload {
    const unsigned char *p, *end;
    bool done;
};

void eio3_binpayload_begin(struct eio3_binpayload *it, const void *buf, size_t len);
/* The next packet, decoded: 1 with `*out` set (data borrowed from the buffer; out->binary tells
 * which kind it was), 0 at the end, or SB_EPROTO (and again on every later call) at a fault. */
int eio3_binpayload_next(struct eio3_binpayload *it, struct eio3_packet *out);
/* Appends a text packet (e.g. "4hello", valid UTF-8) to a binary payload. Returns 0, SB_EINVAL
 * (empty, not UTF-8) or SB_ENOMEM; nothing is appended after a failure. */
int eio3_binpayload_append(struct sbuf *out, const char *pkt, size_t len);
/* Appends a binary packet (the type byte, then `data`) to a binary payload. Returns 0,
 * SB_EINVAL (unknown type, NULL data with a length) or SB_ENOMEM; nothing is appended after a
 * failure. */
int eio3_binpayload_append_binary(struct sbuf *out, enum eio_type type, const void *data,
                                  size_t len);

/* ------------------------------------------------------------------ Socket.IO v5 packets */

enum sio_type {
    SIO_CONNECT = 0,
    SIO_DISCONNECT = 1,
    SIO_EVENT = 2,
    SIO_ACK = 3,
    SIO_CONNECT_ERROR = 4,
    SIO_BINARY_EVENT = 5,
    SIO_BINARY_ACK = 6,
};

#define SIO_MAX_ACK_ID 999999999999999LL /* 15 digits, exact in a double */

struct sio_packet {
    enum sio_type type;
    uint32_t attachments; /* BINARY_EVENT / BINARY_ACK only */
    const char *nsp;      /* borrowed: into the input, or the static "/" */
    size_t nsp_len;
    int64_t ack_id; /* -1 when absent */
    json_t *data;   /* new reference, or NULL when the packet has no payload */
};

/*
 * Decodes the text form `<type>[<n>-][/<nsp>,][<id>][<JSON>]` (the part after the Engine.IO
 * message digit) and checks the payload as socket.io-parser does: CONNECT an object or nothing,
 * DISCONNECT nothing, EVENT a non-empty array whose first element is a string that is not a
 * reserved name (or a number), ACK an array, CONNECT_ERROR an object or a string. An EVENT or
 * ACK must have its payload. Stricter than socket.io-parser: the attachment count needs 1 to 10
 * digits and fits 32 bits, an ack id has at most 15 digits, and neither the namespace nor an
 * event name may contain a NUL byte. Returns 0, SB_EPROTO (invalid packet) or SB_EJSON (the
 * payload is not JSON); `out` holds nothing to free after a failure.
 */
int sio_decode(const char *buf, size_t len, struct sio_packet *out);
void sio_packet_clear(struct sio_packet *p);

/* True when `name` may not be used as an event name (connect, disconnect, …). */
bool sio_event_reserved(const char *name, size_t len);

/* Checks `data` (NULL: no payload) as the payload of a `type` packet with the rules of
 * sio_decode(). Returns 0 or SB_EPROTO. */
int sio_validate(enum sio_type type, const json_t *data);

/*
 * Appends the text form of a packet. `nsp` NULL or "/" is omitted; `ack_id` < 0 is omitted;
 * `data` NULL writes no payload. For BINARY_EVENT / BINARY_ACK the attachment count written is
 * the number of {"_placeholder":true,…} objects in `data`, as socket.io-parser's encoder makes
 * one per buffer. Whatever it writes, sio_decode() reads back. Returns 0, SB_EINVAL (`nsp` not
 * starting with '/' or holding a ',', `ack_id` above SIO_MAX_ACK_ID, a payload sio_validate()
 * refuses, or a value jansson cannot encode such as a string that is not UTF-8) or SB_ENOMEM;
 * nothing is appended after a failure.
 */
int sio_encode(struct sbuf *out, enum sio_type type, const char *nsp, int64_t ack_id,
               const json_t *data);

/* Appends the text form of `p` (decoded, or filled in by hand; `nsp` NULL means "/"), with
 * p->attachments as the attachment count of a binary type. Returns as sio_encode(). */
int sio_encode_packet(struct sbuf *out, const struct sio_packet *p);

/* Appends an EVENT `2[/nsp,][id]["event",args…]` where `args` is a JSON array (NULL = none).
 * Returns as sio_encode(); a reserved `event` or one that is not UTF-8 is SB_EINVAL too, since
 * socket.io-client would close the connection on it. */
int sio_encode_event(struct sbuf *out, const char *nsp, int64_t ack_id, const char *event,
                     const json_t *args);
/* The BINARY_EVENT `5<attachments>-[/nsp,][id]["event",args…]` whose placeholders stand for
 * the `attachments` binary frames that follow it (1 or more; socket.io-parser counts the frames
 * it waits for from this number, not from the placeholders). Returns as sio_encode_event(), and
 * SB_EINVAL for 0 attachments. */
int sio_encode_binary_event(struct sbuf *out, const char *nsp, int64_t ack_id, const char *event,
                            const json_t *args, uint32_t attachments);

/*
 * Binary arguments. A packet's arguments stay one JSON tree in which each binary value is a
 * placeholder object {"_placeholder":true,"num":i}, and the bytes travel beside it as an array
 * of attachments: attachment i is what every placeholder whose num is i stands for. This is the
 * form socket.io-parser 4.x puts on the wire (deconstructPacket(): a BINARY_EVENT / BINARY_ACK
 * whose JSON holds the placeholders, followed by one binary frame per attachment), and the one
 * adapter_decode_bins() / adapter_encode_bins() translate the Redis adapter's msgpack `bin`
 * values to and from.
 */
struct sio_bin {
    const unsigned char *data; /* borrowed: the bytes of one attachment (NULL allowed when len 0) */
    size_t len;
};

/* The most attachments of one packet, both ways: socket.io-parser 4.2's maxAttachments, beyond
 * which its decoder (a server's, and a client's since socket.io-client 4.7) refuses the packet
 * ("too many attachments"). */
#define SIO_MAX_ATTACHMENTS 10

/*
 * The attachments of one message, as the server carries them from where they came (a client's
 * binary frames, a Redis message, a gateway's sb.binary values) to where they go: an immutable,
 * refcounted array whose bytes live in the same allocation. bin[i] is what every placeholder
 * whose num is i stands for. NULL stands for "no attachments" wherever one is passed.
 */
struct sio_bins {
    uint32_t refs;
    uint32_t n;
    size_t bytes; /* the sum of the lengths */
    struct sio_bin bin[];
};

/* A new array (one reference) holding copies of the `n` attachments `src` (borrowed), or NULL
 * when out of memory or `n` is 0. */
struct sio_bins *sio_bins_new(const struct sio_bin *src, size_t n);
/* Takes a reference (NULL passes through) / drops one, freeing the last. */
struct sio_bins *sio_bins_ref(struct sio_bins *b);
void sio_bins_unref(struct sio_bins *b);

/*
 * A copy of `v` (borrowed) in which each placeholder (sio_placeholder_num() with b->n) is the
 * object JSON.stringify() makes of a Node Buffer, {"type":"Buffer","data":[bytes…]}: binary
 * for a client that reads only JSON text (the plain WebSocket protocol, as NestJS's WsAdapter
 * sends a Buffer). Returns a new reference (`v` itself, referenced, when `b` is NULL), or NULL
 * when out of memory or a placeholder is bad.
 */
json_t *sio_bins_to_buffers(const json_t *v, const struct sio_bins *b);

/*
 * Tells whether `v` is a placeholder as socket.io-parser's reconstructPacket() sees one: an
 * object whose "_placeholder" is the JSON `true` (false, 1, "true" or a missing key make an
 * ordinary object, and so does any non-object). A placeholder's "num" must then be a
 * non-negative integer below `nbins` (a real such as 1.0 or -0.0 counts as that integer, as in
 * JavaScript); its other keys are ignored. Stricter than socket.io-parser in one case: a
 * fractional num (0.5) passes its test and turns into `undefined`; here it is refused.
 * Returns 1 with `*num` (may be NULL) set for a valid placeholder, 0 for a value that is not a
 * placeholder, or SB_EPROTO for a placeholder whose num is missing or bad (socket.io-parser's
 * "illegal attachments").
 */
int sio_placeholder_num(const json_t *v, size_t nbins, size_t *num);

/*
 * Checks every placeholder in `data` (borrowed; NULL: no payload, which passes) against
 * `nbins` attachments with the rules of sio_placeholder_num(), walking the tree as
 * reconstructPacket() does: into arrays and ordinary objects, never into a placeholder. As in
 * socket.io-parser, an attachment that no placeholder names is ignored (the caller may drop it)
 * and one num may appear any number of times (the same bytes in each place). A tree nested
 * deeper than 4096 levels (more than jansson's parser reads, so only a hand-built one) is
 * refused too. Call it on the data of a BINARY_EVENT / BINARY_ACK once its attachments have
 * arrived, with nbins = p->attachments. Note that socket.io-parser 4.2 refuses a binary packet
 * whose attachment count is 0 or above its maxAttachments (10 by default) before it gets here,
 * which sio_decode() leaves to its caller. Returns 0 or SB_EPROTO.
 */
int sio_placeholders_check(const json_t *data, size_t nbins);

/* --------------------------------------- Socket.IO protocol v4 (socket.io 2.x, over EIO v3) */

/*
 * socket.io-parser 3.x writes and reads the same text form as sio_decode()/sio_encode(),
 * placeholders and BINARY_EVENT / BINARY_ACK included, so those serve v4 too. What differs is
 * what the packets carry, and the session's part in it:
 *
 * - The client is in `/` without asking: right after the open packet the server sends `40`
 *   (sio_encode(SIO_CONNECT, "/", -1, NULL)), and a v4 client never sends `40` itself.
 * - A custom namespace is asked for with `40/admin,` and may carry a query:
 *   `40/admin?token=abc,` (socket.io-client 2.x appends it to the namespace). sio_decode() reads
 *   all of "/admin?token=abc" as the namespace; sio4_connect_parse() splits it as socket.io 2.x
 *   does with url.parse(). socket.io 2.x merges that query over the handshake's. A CONNECT asks
 *   for no auth payload (v4 has none) and its reply has none either: `40/admin,`, no sid (a v4
 *   socket id is `<nsp>#<engine id>`, or the engine id in `/`). socket.io 2.x connects custom
 *   namespaces only once `/` is connected, holding earlier CONNECTs until then.
 * - A refusal (CONNECT_ERROR, "ERROR" in v4) carries a JSON string, `44/admin,"Not
 *   authorized"`, or whatever object the middleware gave as err.data (sio4_encode_connect_error()).
 *   The v5 form `44{"message":…}` reaches a v4 client as an error object it does not expect.
 * - No connection state recovery: a CONNECT reply carries no pid.
 */
struct sio4_connect {
    const char *nsp; /* borrowed: the namespace path, up to the first '?' or '#' */
    size_t nsp_len;
    const char *query; /* borrowed: after the '?' up to a '#', without either; NULL when absent */
    size_t query_len;
};

/*
 * Splits the namespace of a v4 CONNECT (p->nsp / p->nsp_len of a sio_decode() packet, e.g.
 * "/admin?token=abc") into the path and the query, as socket.io 2.x does with url.parse(): the
 * path ends at the first '?' or '#', the query runs from after the '?' to a '#' (a fragment is
 * dropped). Pass the query to query_parse(). Unlike url.parse() it neither trims spaces, nor
 * turns '\' into '/', nor percent-escapes characters such as ' ' or '"' in the path, so a
 * namespace holding those compares differently from socket.io 2.x's (socket.io-client 2.x never
 * sends them unescaped). Returns 0, or SB_EPROTO when `nsp` does not start with '/'.
 */
int sio4_connect_parse(const char *nsp, size_t len, struct sio4_connect *out);

/*
 * Appends a v4 CONNECT_ERROR: `4[/nsp,]<payload>` where the payload is `data` when it is not
 * NULL (an object or a string, what socket.io-parser 3.x accepts; socket.io 2.x sends
 * err.data when the middleware set it) and else `message` as a JSON string:
 * `4/admin,"Not authorized"`. `nsp` NULL or "/" is omitted. Returns 0, SB_EINVAL (no
 * payload, a message that is not UTF-8, `data` neither an object nor a string, a bad `nsp`) or
 * SB_ENOMEM; nothing is appended after a failure.
 */
int sio4_encode_connect_error(struct sbuf *out, const char *nsp, const char *message,
                              const json_t *data);

/* ------------------------------------------------------------ plain JSON WebSocket frames */

struct wsjson_msg {
    json_t *root;      /* new reference: the whole object */
    const char *event; /* borrowed from root */
    size_t event_len;
    json_t *data; /* borrowed from root; NULL when the frame has no "data" */
};

/* Decodes {"event": NAME, "data": VALUE}. Returns 0, SB_EJSON (not JSON) or SB_EPROTO (not an
 * object, or "event" missing or not a non-empty string, or a name holding a NUL byte). */
int wsjson_decode(const char *buf, size_t len, struct wsjson_msg *out);
void wsjson_msg_clear(struct wsjson_msg *m);

/* Appends {"event":NAME,"data":VALUE}; `data` NULL writes null. Returns 0, SB_EINVAL (an empty
 * `event` or one that is not UTF-8, or `data` jansson cannot encode) or SB_ENOMEM; nothing is
 * appended after a failure. */
int wsjson_encode(struct sbuf *out, const char *event, const json_t *data);

/* Appends `value` as compact JSON (the encoding every codec uses): no spaces, keys in insertion
 * order, UTF-8 as is. Returns 0, SB_EINVAL (NULL, or a value jansson cannot encode) or
 * SB_ENOMEM; nothing is appended after a failure. */
int proto_json_append(struct sbuf *out, const json_t *value);
/* json_loadb() as every decoder here uses it: an integer outside the 64-bit range is read as a
 * double (as Node's JSON.parse reads every number) instead of refused. Returns a new
 * reference, or NULL with `err` (may be NULL) set. */
json_t *proto_json_load(const char *buf, size_t len, size_t flags, json_error_t *err);

/* True when s[0..len) is valid UTF-8 (RFC 3629: no overlong forms, surrogates or code points
 * above U+10FFFF), the same test jansson applies to every string it decodes. */
bool proto_utf8_valid(const char *s, size_t len);
/* The length of the valid UTF-8 sequence at s[0..len) (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0 when it is invalid or cut short; then `*bad` is the
 * length of the invalid prefix (its "maximal subpart", which Node replaces with one U+FFFD). */
size_t proto_utf8_seq(const unsigned char *s, size_t len, size_t *bad);

/* ------------------------------------------- the socket.io Redis adapter protocol (msgpack) */

/*
 * A broadcast between servers: the msgpack array [uid, packet, opts] that
 * @socket.io/redis-adapter 8 and every socket.io emitter publish, with
 * packet = {type: 2, data: [event, ...args], nsp} and opts = {rooms: [...], except: [...],
 * flags: {...}}. Map keys are matched in any order; unknown keys are ignored.
 */
struct adapter_msg {
    char *uid;    /* owned: the sender ("emitter" for emitters) */
    int type;     /* the Socket.IO packet type, 2 (EVENT) for a broadcast */
    char *nsp;    /* owned; "/" when the packet has none */
    char *event;  /* owned: data[0] (a number becomes its decimal text) */
    json_t *args; /* new reference: data[1..] as a JSON array */
    char **rooms; /* owned array of owned strings */
    size_t nrooms;
    char **except; /* owned array of owned strings */
    size_t nexcept;
    json_t *flags; /* new reference: opts.flags as an object ({} when absent) */
    /* adapter_decode_bins() only (NULL and 0 otherwise): owned array of the attachments that
     * the placeholders of `args` name, whose bytes are borrowed from the decoded buffer. */
    struct sio_bin *bins;
    size_t nbins;
};

/*
 * Decodes one message. msgpack values become JSON the way a Node server sees them (notepack.io's
 * decoder, then JSON.stringify): nil -> null, bin -> the {"type":"Buffer","data":[bytes…]} object
 * JSON.stringify gives a Node Buffer, float -> a real (NaN and infinities -> null, as
 * JSON.stringify does), a uint 64 above INT64_MAX -> the nearest real, the timestamp extension
 * (a Node Date; and notepack's old fixext 8 Date of type 0) -> its ISO 8601 text as
 * Date.prototype.toISOString() writes it ("2024-01-02T03:04:05.678Z", "+010000-…" outside years
 * 0…9999, null for a time beyond ±8.64e15 ms), other extensions -> null. Map keys must be valid
 * UTF-8 strings and a repeated key keeps its last value; every string must be valid UTF-8; the
 * top-level value is at depth 1 and a value deeper than 64 is refused; the buffer must hold
 * exactly one value.
 *
 * The shape: an array of at least 3 elements (more are ignored, as Node ignores them); uid a
 * string; packet a map whose "type" is an integer, whose "nsp" is a string when present, and
 * whose "data" is a non-empty array with a string or number first; opts a map or nil (nil, or
 * absent keys: no rooms, no except, flags {}), its "rooms" and "except" arrays of strings or
 * numbers (numbers become their text as JavaScript's String() writes it, "5", "1.5") and its
 * "flags" a map. uid, nsp, event and room names become C strings, so a NUL byte in them is
 * refused. Returns 0, SB_EPROTO (anything else) or SB_ENOMEM. Never reads past len; `out` holds
 * nothing to free after a failure.
 */
int adapter_decode(const char *buf, size_t len, struct adapter_msg *out);
/*
 * adapter_decode() for a message whose args may hold binary: each msgpack bin inside
 * packet.data becomes a placeholder {"_placeholder":true,"num":i} in out->args, and
 * out->bins[i] points at its bytes inside `buf` (valid while `buf` is; out->bins itself is
 * owned by `out`, freed by adapter_msg_clear()). The nums follow socket.io-parser's
 * deconstructPacket(), which numbers a Node server's buffers when it sends the packet: a
 * depth-first walk of the args, an object's keys in JavaScript's order (array-index keys such as
 * "0" and "7" first, ascending, then the others as they came); so each attachment has exactly
 * one placeholder, and out->nbins is 0 (out->bins NULL) when there is no binary. A bin that a
 * repeated map key replaced is dropped, as Node drops it. A bin outside packet.data (in
 * opts.flags, say) keeps adapter_decode()'s {"type":"Buffer",…} form. One message refused here
 * that adapter_decode() reads: any map whose "_placeholder" is true, which could not be told
 * apart from a bin afterwards (only a sender emitting socket.io's own placeholder objects makes
 * one). Otherwise it decodes exactly what adapter_decode() does. Returns 0, SB_EPROTO or
 * SB_ENOMEM; `out` holds nothing to free after a failure.
 */
int adapter_decode_bins(const char *buf, size_t len, struct adapter_msg *out);

/* Finds the uid of a broadcast message without decoding the rest (an instance skips its own
 * messages this way): points `uid` into `buf`. Returns 0, or SB_EPROTO when `buf` does not
 * start as adapter_decode() requires (an array of 3 or more whose first item is a string). */
int adapter_peek_uid(const char *buf, size_t len, const char **uid, size_t *uid_len);
/* Frees what `m` owns and zeroes it; safe to call again. */
void adapter_msg_clear(struct adapter_msg *m);

/*
 * Appends the msgpack of [uid, {type:2, data:[event, ...args], nsp}, {rooms, except, flags:{}}]
 * exactly as the Node adapter writes it (the key order of its own output,
 * tests/unit/adapter_vectors.mjs; integers, and reals that are integral within ±2^53, in their
 * smallest integer form as notepack.io writes them, other numbers as float 64; strings, arrays and
 * maps in their smallest form). `nsp` NULL means "/"; `args` is a JSON array or NULL; `rooms` and
 * `except` may be NULL when empty. Whatever it writes, adapter_decode() reads back. Returns 0,
 * SB_EINVAL (a NULL uid, event or name, `args` not an array, a string that is not UTF-8, or an arg
 * nested deeper than adapter_decode() reads) or SB_ENOMEM; nothing is appended after a failure.
 */
int adapter_encode(struct sbuf *out, const char *uid, const char *nsp, const char *event,
                   const json_t *args, const char *const *rooms, size_t nrooms,
                   const char *const *except, size_t nexcept);

/*
 * adapter_encode() for args holding placeholders: each placeholder of `args` (borrowed), as
 * sio_placeholder_num() finds them, is written as a msgpack bin of the bytes of bins[num]
 * (borrowed; `bins` may be NULL when `nbins` is 0), which a Node server with
 * @socket.io/redis-adapter reads as a Buffer; an attachment may be named any number of times, or
 * not at all. With no placeholder in `args` it writes exactly what adapter_encode() does. What it
 * writes, adapter_decode_bins() reads back to the same args and bytes (renumbered in its order).
 * Returns as adapter_encode(), and SB_EINVAL for a placeholder whose num is bad (missing, not an
 * integer below `nbins`), an attachment above 4 GiB or with NULL data and a length.
 */
int adapter_encode_bins(struct sbuf *out, const char *uid, const char *nsp, const char *event,
                        const json_t *args, const struct sio_bin *bins, size_t nbins,
                        const char *const *rooms, size_t nrooms, const char *const *except,
                        size_t nexcept);

/* Converts one msgpack value (the whole buffer) to JSON with the rules of adapter_decode().
 * Requests between servers are JSON text or, for broadcasts with acks, msgpack maps: this
 * reads either (a buffer starting with '{' is JSON). Returns a new reference or NULL. */
json_t *adapter_request_decode(const char *buf, size_t len);

/* Appends the msgpack of any JSON value (for requests and responses sent as msgpack), with the
 * forms of adapter_encode(). Returns 0, SB_EINVAL (NULL, a string that is not UTF-8, a value
 * nested deeper than 64) or SB_ENOMEM; nothing is appended after a failure. */
int adapter_pack_json(struct sbuf *out, const json_t *value);

#endif
