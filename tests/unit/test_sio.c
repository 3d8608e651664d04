/* Socket.IO v5 packets: decoding and checking as socket.io-parser does, and encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../server/proto/proto.h"

/*
 * Decodes `len` bytes of `s` from an allocation of exactly that size (so AddressSanitizer sees
 * any read past the end). The namespace borrows from the input, so it is copied into `nsp`
 * before the input goes away.
 */
struct decoded {
    struct sio_packet p;
    char nsp[64];
};

static int decode_n(const char *s, size_t len, struct decoded *d)
{
    char *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    memcpy(buf, s, len);
    int rc = sio_decode(buf, len, &d->p);
    if (rc == 0) {
        assert_true(d->p.nsp_len < sizeof(d->nsp));
        memcpy(d->nsp, d->p.nsp, d->p.nsp_len);
        d->nsp[d->p.nsp_len] = '\0';
        d->p.nsp = d->nsp;
    } else {
        /* Nothing to free after a failure. */
        assert_null(d->p.data);
    }
    free(buf);
    return rc;
}

static int decode(const char *s, struct decoded *d)
{
    return decode_n(s, strlen(s), d);
}

/* The status of decoding `s`, with the packet freed. */
static int status(const char *s)
{
    struct decoded d;
    int rc = decode(s, &d);
    sio_packet_clear(&d.p);
    return rc;
}

static void assert_json(const json_t *v, const char *expected)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_non_null(s);
    assert_string_equal(s, expected);
    free(s);
}

static void test_event_through_engine_io(void **state)
{
    /* The whole text frame 420["events",1]: Engine.IO message, then a Socket.IO EVENT. */
    const char *frame = "420[\"events\",1]";
    struct eio_packet e;
    assert_int_equal(eio_decode(frame, strlen(frame), &e), 0);
    assert_int_equal(e.type, EIO_MESSAGE);
    struct decoded d;
    assert_int_equal(decode_n(e.data, e.len, &d), 0);
    assert_int_equal(d.p.type, SIO_EVENT);
    assert_string_equal(d.nsp, "/");
    assert_int_equal(d.p.nsp_len, 1);
    assert_int_equal(d.p.ack_id, 0);
    assert_json(d.p.data, "[\"events\",1]");
    sio_packet_clear(&d.p);
}

static void test_event_no_ack(void **state)
{
    struct decoded d;
    assert_int_equal(decode("2[\"hello\",\"world\",{\"a\":[1,2]}]", &d), 0);
    assert_int_equal(d.p.type, SIO_EVENT);
    assert_int_equal(d.p.ack_id, -1);
    assert_string_equal(d.nsp, "/");
    assert_int_equal(json_array_size(d.p.data), 3);
    assert_string_equal(json_string_value(json_array_get(d.p.data, 0)), "hello");
    sio_packet_clear(&d.p);
    /* Clearing twice is harmless. */
    sio_packet_clear(&d.p);
    assert_null(d.p.data);
    assert_int_equal(d.p.ack_id, -1);
}

static void test_event_nsp_and_ack(void **state)
{
    struct decoded d;
    assert_int_equal(decode("2/chat,12[\"x\",{}]", &d), 0);
    assert_int_equal(d.p.type, SIO_EVENT);
    assert_string_equal(d.nsp, "/chat");
    assert_int_equal(d.p.nsp_len, 5);
    assert_int_equal(d.p.ack_id, 12);
    assert_json(d.p.data, "[\"x\",{}]");
    sio_packet_clear(&d.p);

    /* An explicit "/" namespace is the main one. */
    assert_int_equal(decode("2/,[\"x\"]", &d), 0);
    assert_string_equal(d.nsp, "/");
    assert_int_equal(d.p.ack_id, -1);
    sio_packet_clear(&d.p);
}

static void test_connect(void **state)
{
    struct decoded d;
    assert_int_equal(decode("0", &d), 0);
    assert_int_equal(d.p.type, SIO_CONNECT);
    assert_string_equal(d.nsp, "/");
    assert_null(d.p.data);
    sio_packet_clear(&d.p);

    /* No comma: the namespace runs to the end. */
    assert_int_equal(decode("0/admin", &d), 0);
    assert_int_equal(d.p.type, SIO_CONNECT);
    assert_string_equal(d.nsp, "/admin");
    assert_int_equal(d.p.ack_id, -1);
    assert_null(d.p.data);
    sio_packet_clear(&d.p);

    assert_int_equal(decode("0/admin,", &d), 0);
    assert_string_equal(d.nsp, "/admin");
    assert_null(d.p.data);
    sio_packet_clear(&d.p);

    assert_int_equal(decode("0{\"token\":\"t\"}", &d), 0);
    assert_int_equal(d.p.type, SIO_CONNECT);
    assert_string_equal(d.nsp, "/");
    assert_string_equal(json_string_value(json_object_get(d.p.data, "token")), "t");
    sio_packet_clear(&d.p);

    assert_int_equal(decode("0/chat,{\"token\":\"t\"}", &d), 0);
    assert_string_equal(d.nsp, "/chat");
    assert_true(json_is_object(d.p.data));
    sio_packet_clear(&d.p);

    assert_int_equal(status("0[]"), SB_EPROTO);
    assert_int_equal(status("0[\"x\"]"), SB_EPROTO);
    assert_int_equal(status("0\"x\""), SB_EPROTO);
    assert_int_equal(status("0null"), SB_EPROTO);
    assert_int_equal(status("01"), 0); /* socket.io-parser reads "1" as an ack id */
}

static void test_disconnect(void **state)
{
    struct decoded d;
    assert_int_equal(decode("1", &d), 0);
    assert_int_equal(d.p.type, SIO_DISCONNECT);
    sio_packet_clear(&d.p);
    assert_int_equal(decode("1/chat,", &d), 0);
    assert_int_equal(d.p.type, SIO_DISCONNECT);
    assert_string_equal(d.nsp, "/chat");
    sio_packet_clear(&d.p);

    assert_int_equal(status("1{}"), SB_EPROTO);
    assert_int_equal(status("1[]"), SB_EPROTO);
    assert_int_equal(status("1/chat,\"bye\""), SB_EPROTO);
}

static void test_binary(void **state)
{
    struct decoded d;
    assert_int_equal(decode("51-[\"up\",{\"_placeholder\":true,\"num\":0}]", &d), 0);
    assert_int_equal(d.p.type, SIO_BINARY_EVENT);
    assert_int_equal(d.p.attachments, 1);
    assert_string_equal(d.nsp, "/");
    assert_int_equal(d.p.ack_id, -1);
    assert_json(d.p.data, "[\"up\",{\"_placeholder\":true,\"num\":0}]");
    sio_packet_clear(&d.p);

    assert_int_equal(decode("62-/chat,7[{\"_placeholder\":true,\"num\":0},"
                            "{\"_placeholder\":true,\"num\":1}]",
                            &d),
                     0);
    assert_int_equal(d.p.type, SIO_BINARY_ACK);
    assert_int_equal(d.p.attachments, 2);
    assert_string_equal(d.nsp, "/chat");
    assert_int_equal(d.p.ack_id, 7);
    sio_packet_clear(&d.p);

    assert_int_equal(decode("54294967295-[\"x\"]", &d), 0);
    assert_int_equal(d.p.attachments, 4294967295u);
    sio_packet_clear(&d.p);

    assert_int_equal(status("5"), SB_EPROTO);
    assert_int_equal(status("51"), SB_EPROTO);
    assert_int_equal(status("51[\"x\"]"), SB_EPROTO);  /* no '-' */
    assert_int_equal(status("5-[\"x\"]"), SB_EPROTO);  /* no digits */
    assert_int_equal(status("5a-[\"x\"]"), SB_EPROTO); /* not digits */
    assert_int_equal(status("51a-[\"x\"]"), SB_EPROTO);
    assert_int_equal(status("54294967296-[\"x\"]"), SB_EPROTO);  /* over 32 bits */
    assert_int_equal(status("500000000001-[\"x\"]"), SB_EPROTO); /* 11 digits */
    assert_int_equal(status("51-"), SB_EPROTO);                  /* no payload */
    assert_int_equal(status("51-[]"), SB_EPROTO);
    assert_int_equal(status("51-[\"connect\"]"), SB_EPROTO);
    assert_int_equal(status("61-{}"), SB_EPROTO);
}

static void test_reserved_events(void **state)
{
    static const char *const names[] = {
        "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
    };
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        char buf[64];
        snprintf(buf, sizeof(buf), "2[\"%s\",1]", names[i]);
        assert_int_equal(status(buf), SB_EPROTO);
        assert_true(sio_event_reserved(names[i], strlen(names[i])));
    }
    /* Only exact matches are reserved. */
    assert_int_equal(status("2[\"connectx\"]"), 0);
    assert_int_equal(status("2[\"Connect\"]"), 0);
    assert_int_equal(status("2[\"connec\"]"), 0);
    assert_false(sio_event_reserved("connect", 4));
    assert_false(sio_event_reserved("connected", 9));
    assert_false(sio_event_reserved("", 0));
}

static void test_event_payloads(void **state)
{
    assert_int_equal(status("2"), SB_EPROTO);
    assert_int_equal(status("2[]"), SB_EPROTO);
    assert_int_equal(status("2{}"), SB_EPROTO);
    assert_int_equal(status("2\"x\""), SB_EPROTO);
    assert_int_equal(status("2[null]"), SB_EPROTO);
    assert_int_equal(status("2[[\"x\"]]"), SB_EPROTO);
    assert_int_equal(status("2[{\"a\":1}]"), SB_EPROTO);
    assert_int_equal(status("2[true]"), SB_EPROTO);
    assert_int_equal(status("212"), SB_EPROTO); /* ack id, no payload */
    assert_int_equal(status("2/chat,"), SB_EPROTO);
    assert_int_equal(status("2/chat"), SB_EPROTO);

    /* socket.io-parser takes a number as the event name. */
    assert_int_equal(status("2[1,\"a\"]"), 0);
    assert_int_equal(status("2[1.5]"), 0);
    assert_int_equal(status("2[\"\"]"), 0);
    assert_int_equal(status("2[\"caf\xc3\xa9\"]"), 0);

    /* A NUL inside the name is refused, one elsewhere is data. */
    assert_int_equal(status("2[\"a\\u0000b\"]"), SB_EPROTO);
    assert_int_equal(status("2[\"connect\\u0000\"]"), SB_EPROTO);
    assert_int_equal(status("2[\"a\",\"b\\u0000c\"]"), 0);
}

static void test_ack_and_connect_error(void **state)
{
    struct decoded d;
    assert_int_equal(decode("35[]", &d), 0);
    assert_int_equal(d.p.type, SIO_ACK);
    assert_int_equal(d.p.ack_id, 5);
    assert_int_equal(json_array_size(d.p.data), 0);
    sio_packet_clear(&d.p);
    assert_int_equal(status("3/chat,12[\"ok\",{\"a\":1}]"), 0);
    assert_int_equal(status("3"), SB_EPROTO);
    assert_int_equal(status("35"), SB_EPROTO);
    assert_int_equal(status("35{}"), SB_EPROTO);
    assert_int_equal(status("35\"x\""), SB_EPROTO);

    assert_int_equal(decode("4{\"message\":\"not authorized\",\"data\":{\"a\":1}}", &d), 0);
    assert_int_equal(d.p.type, SIO_CONNECT_ERROR);
    sio_packet_clear(&d.p);
    assert_int_equal(status("4/random,{\"message\":\"Invalid namespace\"}"), 0);
    assert_int_equal(status("4\"not authorized\""), 0);
    assert_int_equal(status("4"), 0);
    assert_int_equal(status("4[]"), SB_EPROTO);
    assert_int_equal(status("41"), 0);
    assert_int_equal(status("4true"), SB_EPROTO);
}

static void test_unknown_types(void **state)
{
    assert_int_equal(status(""), SB_EPROTO);
    assert_int_equal(status("7"), SB_EPROTO);
    assert_int_equal(status("9"), SB_EPROTO);
    assert_int_equal(status("9[\"x\"]"), SB_EPROTO);
    assert_int_equal(status("x"), SB_EPROTO);
    assert_int_equal(status("/chat,[\"x\"]"), SB_EPROTO);
    assert_int_equal(status("[\"x\"]"), SB_EPROTO);
}

static void test_bad_json(void **state)
{
    assert_int_equal(status("2[\"x\""), SB_EJSON);
    assert_int_equal(status("2[\"x\"]]"), SB_EJSON);
    assert_int_equal(status("2[\"x\"] junk"), SB_EJSON);
    assert_int_equal(status("0{"), SB_EJSON);
    assert_int_equal(status("0{token:1}"), SB_EJSON);
    assert_int_equal(status("1 "), SB_EJSON);
    assert_int_equal(status("2[\"\xff\"]"), SB_EJSON); /* not UTF-8 */
    /* Without a leading '/', "chat,{}" is the payload, and it is not JSON. */
    assert_int_equal(status("0chat,{}"), SB_EJSON);
}

/* Integers outside the 64-bit range are numbers, as in JSON.parse: socket.emit("m", 1e19) from
 * socket.io-client sends 10000000000000000000. Every other number keeps its form, also in a
 * string that looks like a big number. */
static void test_big_integers(void **state)
{
    struct decoded d;
    assert_int_equal(decode("2[\"m\",10000000000000000000]", &d), 0);
    assert_true(json_is_real(json_array_get(d.p.data, 1)));
    assert_true(json_real_value(json_array_get(d.p.data, 1)) == 1e19);
    sio_packet_clear(&d.p);
    assert_int_equal(decode("2[\"m\",-99999999999999999999,{\"a\":[1,2.5,9223372036854775807,"
                            "-9223372036854775808,1.0,1e3]}]",
                            &d),
                     0);
    assert_true(json_real_value(json_array_get(d.p.data, 1)) == -1e20);
    assert_json(json_object_get(json_array_get(d.p.data, 2), "a"),
                "[1,2.5,9223372036854775807,-9223372036854775808,1.0,1000.0]");
    sio_packet_clear(&d.p);
    assert_int_equal(decode("2[\"99999999999999999999\",\"\\\"1\",99999999999999999999]", &d), 0);
    assert_json(d.p.data, "[\"99999999999999999999\",\"\\\"1\",1e20]");
    sio_packet_clear(&d.p);
    /* Without an overflow nothing changes: 1.0 stays a real. */
    assert_int_equal(decode("2[\"m\",1.0,9223372036854775807]", &d), 0);
    assert_json(d.p.data, "[\"m\",1.0,9223372036854775807]");
    sio_packet_clear(&d.p);
    /* A real that overflows a double is still refused. */
    assert_int_equal(status("2[\"m\",1e400]"), SB_EJSON);
    assert_int_equal(status("2[\"m\",100000000000000000000"), SB_EJSON);
}

static void test_ack_ids(void **state)
{
    struct decoded d;
    assert_int_equal(decode("2999999999999999[\"x\"]", &d), 0);
    assert_int_equal(d.p.ack_id, SIO_MAX_ACK_ID);
    sio_packet_clear(&d.p);
    assert_int_equal(decode("2/a,000000000000042[\"x\"]", &d), 0);
    assert_int_equal(d.p.ack_id, 42);
    sio_packet_clear(&d.p);

    assert_int_equal(status("21000000000000000[\"x\"]"), SB_EPROTO);
    assert_int_equal(status("20000000000000000[\"x\"]"), SB_EPROTO);
    assert_int_equal(status("399999999999999999999999[]"), SB_EPROTO);
}

static void test_namespaces(void **state)
{
    struct decoded d;
    assert_int_equal(decode("0/", &d), 0);
    assert_string_equal(d.nsp, "/");
    sio_packet_clear(&d.p);
    assert_int_equal(decode("2/a/b?x=1,[\"x\"]", &d), 0);
    assert_string_equal(d.nsp, "/a/b?x=1");
    sio_packet_clear(&d.p);
    /* The namespace ends at the first comma, so "/a,b" cannot be one. */
    assert_int_equal(status("0/a,b"), SB_EJSON);

    /* A NUL in the namespace is refused. */
    static const char with_nul[] = "0/a\0b,{}";
    struct decoded n;
    assert_int_equal(decode_n(with_nul, sizeof(with_nul) - 1, &n), SB_EPROTO);
}

static void test_decode_respects_len(void **state)
{
    /* Only the first eight bytes are the packet; the rest must not be read. */
    static const char buf[] = "2[\"abc\"]\"]garbage";
    struct sio_packet p;
    assert_int_equal(sio_decode(buf, 8, &p), 0);
    assert_string_equal(json_string_value(json_array_get(p.data, 0)), "abc");
    sio_packet_clear(&p);
    assert_int_equal(sio_decode(buf, 7, &p), SB_EJSON);
    assert_null(p.data);
    assert_int_equal(sio_decode("0/admin,{}", 7, &p), 0);
    assert_int_equal(p.nsp_len, 6);
    assert_memory_equal(p.nsp, "/admin", 6);
    sio_packet_clear(&p);
}

/* Encodes a packet built by hand and checks the exact text. */
static void assert_encoded(enum sio_type type, const char *nsp, int64_t ack_id, const char *json,
                           const char *expected)
{
    json_t *data = NULL;
    if (json) {
        json_error_t err;
        data = json_loads(json, PROTO_JSON_FLAGS, &err);
        assert_non_null(data);
    }
    struct sbuf b;
    sbuf_init(&b, 0);
    assert_int_equal(sio_encode(&b, type, nsp, ack_id, data), 0);
    assert_string_equal(sbuf_data(&b), expected);
    json_decref(data);
    sbuf_free(&b);
}

static void test_encode(void **state)
{
    assert_encoded(SIO_CONNECT, "/chat", -1, "{\"sid\":\"x\"}", "0/chat,{\"sid\":\"x\"}");
    assert_encoded(SIO_CONNECT, "/", -1, "{\"sid\":\"x\"}", "0{\"sid\":\"x\"}");
    assert_encoded(SIO_CONNECT, NULL, -1, "{\"sid\":\"x\"}", "0{\"sid\":\"x\"}");
    assert_encoded(SIO_CONNECT, NULL, -1, NULL, "0");
    assert_encoded(SIO_DISCONNECT, "/chat", -1, NULL, "1/chat,");
    assert_encoded(SIO_DISCONNECT, NULL, -1, NULL, "1");
    assert_encoded(SIO_EVENT, "/", 3, "[\"ev\",1,\"a\"]", "23[\"ev\",1,\"a\"]");
    assert_encoded(SIO_EVENT, "/chat", 12, "[\"x\",{}]", "2/chat,12[\"x\",{}]");
    assert_encoded(SIO_ACK, NULL, 0, "[]", "30[]");
    assert_encoded(SIO_ACK, "/chat", 12, "[\"ok\"]", "3/chat,12[\"ok\"]");
    assert_encoded(SIO_CONNECT_ERROR, NULL, -1, "{\"message\":\"not authorized\"}",
                   "4{\"message\":\"not authorized\"}");
    assert_encoded(SIO_CONNECT_ERROR, "/random", -1, "{\"message\":\"Invalid namespace\"}",
                   "4/random,{\"message\":\"Invalid namespace\"}");
    assert_encoded(SIO_CONNECT_ERROR, NULL, -1, "\"not authorized\"", "4\"not authorized\"");
    /* The attachment count is the number of placeholders. */
    assert_encoded(SIO_BINARY_EVENT, NULL, -1, "[\"up\",{\"_placeholder\":true,\"num\":0}]",
                   "51-[\"up\",{\"_placeholder\":true,\"num\":0}]");
    assert_encoded(SIO_BINARY_EVENT, "/chat", 4,
                   "[\"up\",{\"a\":[{\"_placeholder\":true,\"num\":0}]},"
                   "{\"_placeholder\":true,\"num\":1},{\"_placeholder\":false}]",
                   "52-/chat,4[\"up\",{\"a\":[{\"_placeholder\":true,\"num\":0}]},"
                   "{\"_placeholder\":true,\"num\":1},{\"_placeholder\":false}]");
    assert_encoded(SIO_BINARY_ACK, NULL, 9, "[]", "60-9[]");
    /* UTF-8 goes out as it is; quotes and control characters are escaped. */
    assert_encoded(SIO_EVENT, NULL, -1, "[\"caf\xc3\xa9\",\"a\\\"b\\n\"]",
                   "2[\"caf\xc3\xa9\",\"a\\\"b\\n\"]");
}

static void test_encode_refused(void **state)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    sbuf_append_str(&b, "keep");
    json_t *obj = json_object();
    json_t *arr = json_pack("[s]", "x");
    json_t *reserved = json_pack("[s]", "disconnect");
    json_t *empty = json_array();
    json_t *bad_utf8 = json_pack("[o]", json_stringn_nocheck("\xff", 1));

    assert_int_equal(sio_encode(&b, SIO_CONNECT, "chat", -1, obj), SB_EINVAL);
    assert_int_equal(sio_encode(&b, SIO_CONNECT, "", -1, obj), SB_EINVAL);
    assert_int_equal(sio_encode(&b, SIO_CONNECT, "/a,b", -1, obj), SB_EINVAL);
    assert_int_equal(sio_encode(&b, SIO_EVENT, NULL, SIO_MAX_ACK_ID + 1, arr), SB_EINVAL);
    assert_int_equal(sio_encode(&b, SIO_EVENT, NULL, -1, reserved), SB_EINVAL);
    assert_int_equal(sio_encode(&b, SIO_EVENT, NULL, -1, empty), SB_EINVAL);
    assert_int_equal(sio_encode(&b, SIO_EVENT, NULL, -1, NULL), SB_EINVAL);
    assert_int_equal(sio_encode(&b, SIO_ACK, NULL, 1, NULL), SB_EINVAL);
    assert_int_equal(sio_encode(&b, SIO_CONNECT, NULL, -1, arr), SB_EINVAL);
    assert_int_equal(sio_encode(&b, SIO_DISCONNECT, NULL, -1, obj), SB_EINVAL);
    assert_int_equal(sio_encode(&b, (enum sio_type)7, NULL, -1, NULL), SB_EINVAL);
    /* jansson cannot encode the string, and nothing of the prefix is left behind. */
    assert_int_equal(sio_encode(&b, SIO_ACK, "/chat", 1, bad_utf8), SB_EINVAL);
    assert_int_equal(b.len, 4);
    assert_string_equal(sbuf_data(&b), "keep");

    assert_int_equal(sio_encode(&b, SIO_EVENT, NULL, SIO_MAX_ACK_ID, arr), 0);
    assert_string_equal(sbuf_data(&b), "keep2999999999999999[\"x\"]");

    json_decref(obj);
    json_decref(arr);
    json_decref(reserved);
    json_decref(empty);
    json_decref(bad_utf8);
    sbuf_free(&b);
}

static void test_encode_event(void **state)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    json_t *args = json_pack("[is]", 1, "a");
    assert_int_equal(sio_encode_event(&b, "/", 3, "ev", args), 0);
    assert_string_equal(sbuf_data(&b), "23[\"ev\",1,\"a\"]");

    sbuf_reset(&b);
    assert_int_equal(sio_encode_event(&b, NULL, -1, "ev", NULL), 0);
    assert_string_equal(sbuf_data(&b), "2[\"ev\"]");

    sbuf_reset(&b);
    json_t *none = json_array();
    assert_int_equal(sio_encode_event(&b, "/chat", -1, "a\"b\\c\n", none), 0);
    assert_string_equal(sbuf_data(&b), "2/chat,[\"a\\\"b\\\\c\\n\"]");
    json_decref(none);

    sbuf_reset(&b);
    json_t *nested = json_pack("[{s:[i,n,b]}]", "k", 1, 0);
    assert_int_equal(sio_encode_event(&b, "/chat", 0, "caf\xc3\xa9", nested), 0);
    assert_string_equal(sbuf_data(&b), "2/chat,0[\"caf\xc3\xa9\",{\"k\":[1,null,false]}]");
    json_decref(nested);

    sbuf_reset(&b);
    json_t *obj = json_object();
    json_t *bad = json_pack("[io]", 1, json_stringn_nocheck("\xc3", 1));
    assert_int_equal(sio_encode_event(&b, NULL, -1, "connect", args), SB_EINVAL);
    assert_int_equal(sio_encode_event(&b, NULL, -1, "newListener", NULL), SB_EINVAL);
    assert_int_equal(sio_encode_event(&b, NULL, -1, NULL, args), SB_EINVAL);
    assert_int_equal(sio_encode_event(&b, NULL, -1, "\xff", args), SB_EINVAL);
    assert_int_equal(sio_encode_event(&b, NULL, -1, "ev", obj), SB_EINVAL);
    assert_int_equal(sio_encode_event(&b, "chat", -1, "ev", args), SB_EINVAL);
    assert_int_equal(sio_encode_event(&b, NULL, SIO_MAX_ACK_ID + 1, "ev", args), SB_EINVAL);
    assert_int_equal(sio_encode_event(&b, "/chat", 5, "ev", bad), SB_EINVAL);
    assert_int_equal(b.len, 0);
    json_decref(obj);
    json_decref(bad);
    json_decref(args);
    sbuf_free(&b);
}

/* Decodes `in`, encodes the packet again and checks the text and that it decodes the same. */
static void roundtrip(const char *in, const char *expected)
{
    struct decoded d, again;
    assert_int_equal(decode(in, &d), 0);
    struct sbuf b;
    sbuf_init(&b, 0);
    assert_int_equal(sio_encode_packet(&b, &d.p), 0);
    assert_string_equal(sbuf_data(&b), expected);
    assert_int_equal(decode_n(sbuf_data(&b), b.len, &again), 0);
    assert_int_equal(again.p.type, d.p.type);
    assert_int_equal(again.p.attachments, d.p.attachments);
    assert_string_equal(again.nsp, d.nsp);
    assert_int_equal(again.p.ack_id, d.p.ack_id);
    if (d.p.data)
        assert_true(json_equal(again.p.data, d.p.data));
    else
        assert_null(again.p.data);
    sio_packet_clear(&again.p);
    sio_packet_clear(&d.p);
    sbuf_free(&b);
}

static void test_roundtrip(void **state)
{
    roundtrip("20[\"events\",1]", "20[\"events\",1]");
    roundtrip("2/chat,12[\"x\",{}]", "2/chat,12[\"x\",{}]");
    roundtrip("0/admin", "0/admin,");
    roundtrip("0{\"token\":\"t\"}", "0{\"token\":\"t\"}");
    roundtrip("0", "0");
    roundtrip("1/chat,", "1/chat,");
    roundtrip("2/,[\"x\"]", "2[\"x\"]");
    roundtrip("51-[\"up\",{\"_placeholder\":true,\"num\":0}]",
              "51-[\"up\",{\"_placeholder\":true,\"num\":0}]");
    /* The explicit count survives even without placeholders. */
    roundtrip("63-/x,5[]", "63-/x,5[]");
    roundtrip("2 [ \"x\" , { \"a\" : 1 } ] ", "2[\"x\",{\"a\":1}]");
    roundtrip("2007[\"x\"]", "27[\"x\"]");
    roundtrip("2[\"\\u00e9\",\"\\u0000\"]", "2[\"\xc3\xa9\",\"\\u0000\"]");
    roundtrip("4\"nope\"", "4\"nope\"");
    roundtrip("2[1e3,-0.5,12345678901234]", "2[1000.0,-0.5,12345678901234]");
}

static void test_validate(void **state)
{
    json_t *obj = json_object();
    json_t *arr = json_pack("[s]", "x");
    json_t *str = json_string("x");
    assert_int_equal(sio_validate(SIO_CONNECT, NULL), 0);
    assert_int_equal(sio_validate(SIO_CONNECT, obj), 0);
    assert_int_equal(sio_validate(SIO_CONNECT, arr), SB_EPROTO);
    assert_int_equal(sio_validate(SIO_DISCONNECT, NULL), 0);
    assert_int_equal(sio_validate(SIO_DISCONNECT, obj), SB_EPROTO);
    assert_int_equal(sio_validate(SIO_EVENT, arr), 0);
    assert_int_equal(sio_validate(SIO_EVENT, NULL), SB_EPROTO);
    assert_int_equal(sio_validate(SIO_ACK, arr), 0);
    assert_int_equal(sio_validate(SIO_ACK, str), SB_EPROTO);
    assert_int_equal(sio_validate(SIO_CONNECT_ERROR, str), 0);
    assert_int_equal(sio_validate(SIO_CONNECT_ERROR, arr), SB_EPROTO);
    assert_int_equal(sio_validate((enum sio_type)9, NULL), SB_EPROTO);
    json_decref(obj);
    json_decref(arr);
    json_decref(str);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_through_engine_io),
        cmocka_unit_test(test_event_no_ack),
        cmocka_unit_test(test_event_nsp_and_ack),
        cmocka_unit_test(test_connect),
        cmocka_unit_test(test_disconnect),
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_reserved_events),
        cmocka_unit_test(test_event_payloads),
        cmocka_unit_test(test_ack_and_connect_error),
        cmocka_unit_test(test_unknown_types),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_big_integers),
        cmocka_unit_test(test_ack_ids),
        cmocka_unit_test(test_namespaces),
        cmocka_unit_test(test_decode_respects_len),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_encode_refused),
        cmocka_unit_test(test_encode_event),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_validate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
