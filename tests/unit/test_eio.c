/* Engine.IO v4: packet decode and encode, the open packet and the handshake checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../server/proto/proto.h"

/* Copies `s` into an allocation of exactly its length, so AddressSanitizer catches a decoder
 * that reads past `len` or expects a NUL. */
static char *exact(const char *s, size_t len)
{
    char *p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, s, len);
    return p;
}

static int decode(const char *s, struct eio_packet *pkt)
{
    size_t len = strlen(s);
    char *buf = exact(s, len);
    int rc = eio_decode(buf, len, pkt);
    /* The packet borrows from the buffer; keep what the tests look at before freeing it. */
    static char data[256];
    if (rc == 0) {
        assert_true(pkt->len < sizeof(data));
        memcpy(data, pkt->data, pkt->len);
        data[pkt->len] = '\0';
        pkt->data = data;
    }
    free(buf);
    return rc;
}

static void test_decode_types(void **state)
{
    struct eio_packet pkt;
    assert_int_equal(decode("2", &pkt), 0);
    assert_int_equal(pkt.type, EIO_PING);
    assert_int_equal(pkt.len, 0);
    assert_int_equal(decode("3", &pkt), 0);
    assert_int_equal(pkt.type, EIO_PONG);
    assert_int_equal(pkt.len, 0);
    assert_int_equal(decode("6", &pkt), 0);
    assert_int_equal(pkt.type, EIO_NOOP);
    assert_int_equal(decode("0", &pkt), 0);
    assert_int_equal(pkt.type, EIO_OPEN);
    assert_int_equal(decode("1", &pkt), 0);
    assert_int_equal(pkt.type, EIO_CLOSE);
    assert_int_equal(decode("5", &pkt), 0);
    assert_int_equal(pkt.type, EIO_UPGRADE);
}

static void test_decode_data(void **state)
{
    struct eio_packet pkt;
    assert_int_equal(decode("4hello", &pkt), 0);
    assert_int_equal(pkt.type, EIO_MESSAGE);
    assert_int_equal(pkt.len, 5);
    assert_memory_equal(pkt.data, "hello", 5);

    assert_int_equal(decode("2probe", &pkt), 0);
    assert_int_equal(pkt.type, EIO_PING);
    assert_int_equal(pkt.len, 5);
    assert_memory_equal(pkt.data, "probe", 5);

    assert_int_equal(decode("420[\"events\",1]", &pkt), 0);
    assert_int_equal(pkt.type, EIO_MESSAGE);
    assert_string_equal(pkt.data, "20[\"events\",1]");
}

static void test_decode_respects_len(void **state)
{
    /* The frame is the first two bytes only: the decoder must not look further. */
    const char buf[] = "4a-junk";
    struct eio_packet pkt;
    assert_int_equal(eio_decode(buf, 2, &pkt), 0);
    assert_int_equal(pkt.type, EIO_MESSAGE);
    assert_int_equal(pkt.len, 1);
    assert_ptr_equal(pkt.data, buf + 1);
}

static void test_decode_refused(void **state)
{
    struct eio_packet pkt;
    assert_int_equal(decode("", &pkt), SB_EPROTO);
    assert_int_equal(decode("7", &pkt), SB_EPROTO);
    assert_int_equal(decode("9hello", &pkt), SB_EPROTO);
    assert_int_equal(decode("x", &pkt), SB_EPROTO);
    assert_int_equal(decode("/", &pkt), SB_EPROTO);
    assert_int_equal(decode("b4hello", &pkt), SB_EPROTO);
    char nul = '\0';
    assert_int_equal(eio_decode(&nul, 1, &pkt), SB_EPROTO);
}

static void test_encode(void **state)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    assert_int_equal(eio_encode(&b, EIO_MESSAGE, "hi", 2), 0);
    assert_int_equal(eio_encode(&b, EIO_PING, NULL, 0), 0);
    assert_int_equal(eio_encode(&b, EIO_PONG, "probe", 5), 0);
    assert_int_equal(b.len, 10);
    assert_string_equal(sbuf_data(&b), "4hi23probe");

    assert_int_equal(eio_encode(&b, (enum eio_type)7, "x", 1), SB_EINVAL);
    assert_int_equal(eio_encode(&b, (enum eio_type) - 1, "x", 1), SB_EINVAL);
    assert_int_equal(b.len, 10);

    /* Whatever eio_encode writes, eio_decode reads back. */
    struct eio_packet pkt;
    sbuf_reset(&b);
    assert_int_equal(eio_encode(&b, EIO_MESSAGE, "2[\"x\"]", 6), 0);
    assert_int_equal(eio_decode(sbuf_data(&b), b.len, &pkt), 0);
    assert_int_equal(pkt.type, EIO_MESSAGE);
    assert_int_equal(pkt.len, 6);
    assert_memory_equal(pkt.data, "2[\"x\"]", 6);
    sbuf_free(&b);
}

static void test_open_packet(void **state)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    struct eio_open_params p = {
        .sid = "abc",
        .ping_interval_ms = 25000,
        .ping_timeout_ms = 20000,
        .max_payload = 1000000,
        .upgrades = false,
    };
    assert_int_equal(eio_encode_open(&b, &p), 0);
    assert_string_equal(sbuf_data(&b), "0{\"sid\":\"abc\",\"upgrades\":[],\"pingInterval\":25000,"
                                       "\"pingTimeout\":20000,\"maxPayload\":1000000}");

    sbuf_reset(&b);
    p.upgrades = true;
    p.sid = "a\"b";
    p.max_payload = 10000000000ULL;
    assert_int_equal(eio_encode_open(&b, &p), 0);
    assert_string_equal(sbuf_data(&b),
                        "0{\"sid\":\"a\\\"b\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,"
                        "\"pingTimeout\":20000,\"maxPayload\":10000000000}");

    /* The body after the type digit is JSON a client can parse. */
    json_error_t err;
    json_t *v = json_loadb(sbuf_data(&b) + 1, b.len - 1, 0, &err);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "sid")), "a\"b");
    json_decref(v);

    sbuf_reset(&b);
    p.sid = NULL;
    assert_int_equal(eio_encode_open(&b, &p), SB_EINVAL);
    assert_int_equal(b.len, 0);
    sbuf_free(&b);
}

static int check_sid(const char *method, const char *qs, bool websocket, enum eio_sid sid)
{
    struct query q;
    assert_int_equal(query_parse(qs, strlen(qs), &q), 0);
    int code = eio_hs_check(method, &q, websocket, sid);
    query_free(&q);
    return code;
}

/* A request that names no session, or an unknown one when it has a (non-empty) sid. */
static int check(const char *method, const char *qs, bool websocket)
{
    struct query q;
    assert_int_equal(query_parse(qs, strlen(qs), &q), 0);
    const char *sid = query_get(&q, "sid");
    int code = eio_hs_check(method, &q, websocket, sid && *sid ? EIO_SID_UNKNOWN : EIO_SID_NONE);
    query_free(&q);
    return code;
}

static void test_hs_check(void **state)
{
    assert_int_equal(check("GET", "EIO=4&transport=websocket", true), EIO_HS_OK);
    assert_int_equal(check("GET", "transport=websocket&EIO=4&token=x&foo", true), EIO_HS_OK);
    /* engine.io treats an empty sid as no sid. */
    assert_int_equal(check("GET", "EIO=4&transport=websocket&sid=", true), EIO_HS_OK);
    /* A new polling session. */
    assert_int_equal(check("GET", "EIO=4&transport=polling&t=abc", false), EIO_HS_OK);

    assert_int_equal(check("GET", "EIO=4", true), EIO_HS_TRANSPORT_UNKNOWN);
    assert_int_equal(check("GET", "EIO=4&transport=", true), EIO_HS_TRANSPORT_UNKNOWN);
    assert_int_equal(check("GET", "EIO=4&transport=WebSocket", true), EIO_HS_TRANSPORT_UNKNOWN);
    assert_int_equal(check("GET", "EIO=4&transport=Polling", false), EIO_HS_TRANSPORT_UNKNOWN);
    assert_int_equal(check("GET", "EIO=4&transport=webtransport", true), EIO_HS_TRANSPORT_UNKNOWN);
    assert_int_equal(check("GET", "", true), EIO_HS_TRANSPORT_UNKNOWN);
    /* An upgrade request that names the polling transport. */
    assert_int_equal(check("GET", "EIO=4&transport=polling", true), EIO_HS_BAD_REQUEST);

    assert_int_equal(check("GET", "EIO=4&transport=websocket&sid=abc", true),
                     EIO_HS_SESSION_ID_UNKNOWN);
    assert_int_equal(check("POST", "EIO=4&transport=polling&sid=abc", false),
                     EIO_HS_SESSION_ID_UNKNOWN);
    assert_int_equal(check("POST", "EIO=4&transport=websocket", true), EIO_HS_BAD_HANDSHAKE_METHOD);
    assert_int_equal(check("POST", "EIO=4&transport=polling", false), EIO_HS_BAD_HANDSHAKE_METHOD);
    assert_int_equal(check(NULL, "EIO=4&transport=websocket", true), EIO_HS_BAD_HANDSHAKE_METHOD);
    assert_int_equal(check("get", "EIO=4&transport=websocket", true), EIO_HS_BAD_HANDSHAKE_METHOD);
    /* A plain GET naming the websocket transport without the upgrade is a bad request. */
    assert_int_equal(check("GET", "EIO=4&transport=websocket", false), EIO_HS_BAD_REQUEST);

    assert_int_equal(check("GET", "EIO=3&transport=websocket", true),
                     EIO_HS_UNSUPPORTED_PROTOCOL_VERSION);
    assert_int_equal(check("GET", "EIO=3&transport=polling", false),
                     EIO_HS_UNSUPPORTED_PROTOCOL_VERSION);
    assert_int_equal(check("GET", "transport=websocket", true),
                     EIO_HS_UNSUPPORTED_PROTOCOL_VERSION);
    assert_int_equal(check("GET", "EIO=44&transport=websocket", true),
                     EIO_HS_UNSUPPORTED_PROTOCOL_VERSION);
    assert_int_equal(check("GET", "EIO=&transport=websocket", true),
                     EIO_HS_UNSUPPORTED_PROTOCOL_VERSION);
}

/* Requests of a session the server holds. */
static void test_hs_check_session(void **state)
{
    const char *poll = "EIO=4&transport=polling&sid=x", *ws = "EIO=4&transport=websocket&sid=x";
    /* Polling requests of a polling session, GET and POST; the version is not checked again. */
    assert_int_equal(check_sid("GET", poll, false, EIO_SID_POLLING), EIO_HS_OK);
    assert_int_equal(check_sid("POST", poll, false, EIO_SID_POLLING), EIO_HS_OK);
    assert_int_equal(check_sid("POST", "transport=polling&sid=x", false, EIO_SID_POLLING),
                     EIO_HS_OK);
    /* Its upgrade. */
    assert_int_equal(check_sid("GET", ws, true, EIO_SID_POLLING), EIO_HS_OK);
    /* A polling request for a session that upgraded: the transports differ. */
    assert_int_equal(check_sid("GET", poll, false, EIO_SID_WEBSOCKET), EIO_HS_BAD_REQUEST);
    /* A plain GET with the websocket transport for a polling session. */
    assert_int_equal(check_sid("GET", ws, false, EIO_SID_POLLING), EIO_HS_BAD_REQUEST);
    assert_int_equal(check_sid("GET", poll, false, EIO_SID_UNKNOWN), EIO_HS_SESSION_ID_UNKNOWN);
}

static void test_hs_check_order(void **state)
{
    /* engine.io checks the transport, then the sid, then the method, then the version. */
    assert_int_equal(check("POST", "EIO=3&transport=pollings&sid=x", false),
                     EIO_HS_TRANSPORT_UNKNOWN);
    assert_int_equal(check("POST", "EIO=3&transport=polling&sid=x", false),
                     EIO_HS_SESSION_ID_UNKNOWN);
    assert_int_equal(check("POST", "EIO=3&transport=websocket&sid=x", true),
                     EIO_HS_SESSION_ID_UNKNOWN);
    assert_int_equal(check("POST", "EIO=3&transport=websocket", true), EIO_HS_BAD_HANDSHAKE_METHOD);
    assert_int_equal(check("GET", "EIO=3&transport=websocket", false), EIO_HS_BAD_REQUEST);
}

/* v4 binary over polling: `b<base64>`, as engine.io-parser 4 writes and reads it
 * (encodePacket() of a Buffer with supportsBinary false: "b" + base64). */
static void test_binary_base64(void **state)
{
    (void)state;
    struct sbuf bin, out;
    sbuf_init(&bin, 0);
    sbuf_init(&out, 0);
    const char *data;
    size_t len;
    assert_int_equal(eio_decode_base64("bAQID", 5, &bin, &data, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "\x01\x02\x03", 3);
    assert_int_equal(eio_decode_base64("b", 1, &bin, &data, &len), 0); /* an empty Buffer */
    assert_int_equal(len, 0);
    assert_int_equal(eio_decode_base64("b/w==", 5, &bin, &data, &len), 0);
    assert_int_equal(len, 1);
    assert_int_equal((unsigned char)data[0], 0xff);
    /* Not canonical, not base64, not a `b` packet. */
    static const char *const bad[] = {"bAQI", "b/x==", "b!!!!", "bAQ=D", "4AQID", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        assert_int_equal(eio_decode_base64(bad[i], strlen(bad[i]), &bin, &data, &len), SB_EPROTO);

    /* Written with the separator after the first packet; read back. */
    const char *text = "451-[{\"_placeholder\":true,\"num\":0}]";
    assert_int_equal(eio_payload_append(&out, text, strlen(text)), 0);
    assert_int_equal(eio_payload_append_binary(&out, "\x01\x02\x03", 3), 0);
    assert_int_equal(eio_payload_append_binary(&out, NULL, 0), 0);
    assert_string_equal(sbuf_data(&out), "451-[{\"_placeholder\":true,\"num\":0}]\x1e"
                                         "bAQID\x1e"
                                         "b");
    assert_int_equal(eio_payload_append_binary(&out, NULL, 1), SB_EINVAL);
    sbuf_free(&bin);
    sbuf_free(&out);
}

static void test_payload(void **state)
{
    const char *buf = "4hello\x1e"
                      "2\x1e"
                      "40{\"token\":\"x\"}";
    struct eio_payload it;
    const char *pkt;
    size_t len;
    eio_payload_begin(&it, buf, strlen(buf));
    assert_int_equal(eio_payload_next(&it, &pkt, &len), 1);
    assert_int_equal(len, 6);
    assert_memory_equal(pkt, "4hello", 6);
    assert_int_equal(eio_payload_next(&it, &pkt, &len), 1);
    assert_int_equal(len, 1);
    assert_int_equal(pkt[0], '2');
    assert_int_equal(eio_payload_next(&it, &pkt, &len), 1);
    assert_int_equal(len, 15);
    assert_int_equal(eio_payload_next(&it, &pkt, &len), 0);
    assert_int_equal(eio_payload_next(&it, &pkt, &len), 0);

    /* Empty packets: an empty payload, separators in a row, at either end. */
    static const char *const bad[] = {"", "\x1e",
                                      "4a\x1e\x1e"
                                      "4b",
                                      "\x1e"
                                      "4a",
                                      "4a\x1e"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        eio_payload_begin(&it, bad[i], strlen(bad[i]));
        int rc;
        while ((rc = eio_payload_next(&it, &pkt, &len)) == 1)
            ;
        assert_int_equal(rc, SB_EPROTO);
    }

    /* Building one gives back the same packets. */
    struct sbuf b;
    sbuf_init(&b, 0);
    assert_int_equal(eio_payload_append(&b, "4hello", 6), 0);
    assert_int_equal(eio_payload_append(&b, "2", 1), 0);
    assert_int_equal(eio_payload_append(&b, "40{\"token\":\"x\"}", 15), 0);
    assert_int_equal(b.len, strlen(buf));
    assert_memory_equal(sbuf_data(&b), buf, b.len);
    sbuf_free(&b);
}

static void test_hs_messages(void **state)
{
    assert_string_equal(eio_hs_message(0), "Transport unknown");
    assert_string_equal(eio_hs_message(1), "Session ID unknown");
    assert_string_equal(eio_hs_message(2), "Bad handshake method");
    assert_string_equal(eio_hs_message(3), "Bad request");
    assert_string_equal(eio_hs_message(4), "Forbidden");
    assert_string_equal(eio_hs_message(5), "Unsupported protocol version");
    assert_string_equal(eio_hs_message(-1), "Unknown error");
    assert_string_equal(eio_hs_message(6), "Unknown error");
}

static void test_hs_encode_error(void **state)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    assert_int_equal(eio_hs_encode_error(&b, EIO_HS_TRANSPORT_UNKNOWN), 0);
    assert_string_equal(sbuf_data(&b), "{\"code\":0,\"message\":\"Transport unknown\"}");
    sbuf_reset(&b);
    assert_int_equal(eio_hs_encode_error(&b, EIO_HS_UNSUPPORTED_PROTOCOL_VERSION), 0);
    assert_string_equal(sbuf_data(&b), "{\"code\":5,\"message\":\"Unsupported protocol version\"}");
    sbuf_reset(&b);
    assert_int_equal(eio_hs_encode_error(&b, EIO_HS_FORBIDDEN), 0);
    assert_string_equal(sbuf_data(&b), "{\"code\":4,\"message\":\"Forbidden\"}");

    sbuf_reset(&b);
    assert_int_equal(eio_hs_encode_error(&b, EIO_HS_OK), SB_EINVAL);
    assert_int_equal(eio_hs_encode_error(&b, 6), SB_EINVAL);
    assert_int_equal(b.len, 0);
    sbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_types),
        cmocka_unit_test(test_decode_data),
        cmocka_unit_test(test_decode_respects_len),
        cmocka_unit_test(test_decode_refused),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_open_packet),
        cmocka_unit_test(test_hs_check),
        cmocka_unit_test(test_hs_check_session),
        cmocka_unit_test(test_hs_check_order),
        cmocka_unit_test(test_payload),
        cmocka_unit_test(test_binary_base64),
        cmocka_unit_test(test_hs_messages),
        cmocka_unit_test(test_hs_encode_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
