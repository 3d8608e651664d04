/*
 * Engine.IO v3: binary packets, the open packet, both polling payloads and the v3 handshake.
 * tests/unit/eio3_vectors.mjs regenerates the block between the BEGIN and END markers with the
 * real parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../server/proto/proto.h"

/* Non-ASCII text, as UTF-8: é (2 bytes), 中 (3 bytes), both one UTF-16 code unit, and 😀
 * (U+1F600, 4 bytes, outside the BMP: a surrogate pair, two units). */
#define E_ACUTE "\xc3\xa9"
#define ZHONG   "\xe4\xb8\xad"
#define EMOJI   "\xf0\x9f\x98\x80"
#define EURO    "\xe2\x82\xac"

/* Copies s[0..len) into an allocation of exactly that size, so AddressSanitizer catches a
 * decoder that reads past `len` or expects a NUL. */
static char *exact(const char *s, size_t len)
{
    char *p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, s, len);
    return p;
}

/* ------------------------------------------------------------------------- handshake */

static int negotiate(const char *method, const char *qs, bool websocket, enum eio_sid sid,
                     bool allow, struct eio_hs_info *info)
{
    struct query q;
    assert_int_equal(query_parse(qs, strlen(qs), &q), 0);
    int code = eio_hs_negotiate(method, &q, websocket, sid, allow, info);
    query_free(&q);
    return code;
}

static void test_hs_refused_without_allow(void **state)
{
    struct eio_hs_info info = {.protocol = 99};
    /* Without the option it answers as eio_hs_check() does, and leaves `info` alone. */
    assert_int_equal(negotiate("GET", "EIO=3&transport=polling", false, EIO_SID_NONE, false, &info),
                     EIO_HS_UNSUPPORTED_PROTOCOL_VERSION);
    assert_int_equal(info.protocol, 99);
    assert_int_equal(negotiate("GET", "transport=websocket", true, EIO_SID_NONE, false, &info),
                     EIO_HS_UNSUPPORTED_PROTOCOL_VERSION);
    assert_int_equal(negotiate("GET", "EIO=4&transport=polling", false, EIO_SID_NONE, false, &info),
                     EIO_HS_OK);
    assert_int_equal(info.protocol, 4);
    assert_false(info.b64);
    assert_false(info.jsonp);
}

static void test_hs_allow_eio3(void **state)
{
    struct eio_hs_info info;
    assert_int_equal(
        negotiate("GET", "EIO=3&transport=polling&t=N1", false, EIO_SID_NONE, true, &info),
        EIO_HS_OK);
    assert_int_equal(info.protocol, 3);
    assert_int_equal(negotiate("GET", "EIO=3&transport=websocket", true, EIO_SID_NONE, true, &info),
                     EIO_HS_OK);
    assert_int_equal(info.protocol, 3);
    /* engine.io's allowEIO3 takes every EIO but "4" for 3, a missing one too. */
    assert_int_equal(negotiate("GET", "transport=polling", false, EIO_SID_NONE, true, &info),
                     EIO_HS_OK);
    assert_int_equal(info.protocol, 3);
    assert_int_equal(negotiate("GET", "EIO=44&transport=polling", false, EIO_SID_NONE, true, &info),
                     EIO_HS_OK);
    assert_int_equal(info.protocol, 3);
    assert_int_equal(negotiate("GET", "EIO=4&transport=polling", false, EIO_SID_NONE, true, &info),
                     EIO_HS_OK);
    assert_int_equal(info.protocol, 4);
    /* NULL info is fine. */
    assert_int_equal(negotiate("GET", "EIO=3&transport=polling", false, EIO_SID_NONE, true, NULL),
                     EIO_HS_OK);

    /* The other checks still come first, in engine.io's order. */
    assert_int_equal(negotiate("GET", "EIO=3&transport=xhr", false, EIO_SID_NONE, true, &info),
                     EIO_HS_TRANSPORT_UNKNOWN);
    assert_int_equal(negotiate("POST", "EIO=3&transport=polling", false, EIO_SID_NONE, true, &info),
                     EIO_HS_BAD_HANDSHAKE_METHOD);
    assert_int_equal(
        negotiate("GET", "EIO=3&transport=polling&sid=x", false, EIO_SID_UNKNOWN, true, &info),
        EIO_HS_SESSION_ID_UNKNOWN);
    assert_int_equal(
        negotiate("GET", "EIO=3&transport=websocket", false, EIO_SID_NONE, true, &info),
        EIO_HS_BAD_REQUEST);
}

static void test_hs_session_requests(void **state)
{
    struct eio_hs_info info;
    /* The version is checked only for a new session, with or without the option. */
    assert_int_equal(
        negotiate("POST", "EIO=3&transport=polling&sid=x", false, EIO_SID_POLLING, false, &info),
        EIO_HS_OK);
    assert_int_equal(info.protocol, 3);
    assert_int_equal(
        negotiate("GET", "EIO=3&transport=websocket&sid=x", true, EIO_SID_POLLING, true, &info),
        EIO_HS_OK);
    assert_int_equal(
        negotiate("GET", "EIO=3&transport=polling&sid=x", false, EIO_SID_WEBSOCKET, true, &info),
        EIO_HS_BAD_REQUEST);
}

static void test_hs_b64_jsonp(void **state)
{
    struct eio_hs_info info;
    assert_int_equal(
        negotiate("GET", "EIO=3&transport=polling&b64=1", false, EIO_SID_NONE, true, &info),
        EIO_HS_OK);
    assert_true(info.b64);
    assert_false(info.jsonp);
    /* engine.io tests b64 for truth: "0" is a non-empty string, so true; "" is false. */
    assert_int_equal(
        negotiate("GET", "EIO=3&transport=polling&b64=0", false, EIO_SID_NONE, true, &info),
        EIO_HS_OK);
    assert_true(info.b64);
    assert_int_equal(
        negotiate("GET", "EIO=3&transport=polling&b64=", false, EIO_SID_NONE, true, &info),
        EIO_HS_OK);
    assert_false(info.b64);
    assert_int_equal(
        negotiate("GET", "EIO=3&transport=polling&b64", false, EIO_SID_NONE, true, &info),
        EIO_HS_OK);
    assert_false(info.b64);
    /* JSONP: any "j", even empty. */
    assert_int_equal(
        negotiate("GET", "EIO=3&transport=polling&j=0", false, EIO_SID_NONE, true, &info),
        EIO_HS_OK);
    assert_true(info.jsonp);
    assert_int_equal(
        negotiate("GET", "EIO=3&transport=polling&j=", false, EIO_SID_NONE, true, &info),
        EIO_HS_OK);
    assert_true(info.jsonp);
}

/* ----------------------------------------------------------------------- open packet */

static void test_open(void **state)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    struct eio_open_params p = {
        .sid = "abc",
        .ping_interval_ms = 25000,
        .ping_timeout_ms = 5000,
        .max_payload = 1000000,
        .upgrades = true,
    };
    assert_int_equal(eio3_encode_open(&b, &p), 0);
    /* engine.io 3.x's keys and order; no maxPayload. */
    assert_string_equal(sbuf_data(&b), "0{\"sid\":\"abc\",\"upgrades\":[\"websocket\"],"
                                       "\"pingInterval\":25000,\"pingTimeout\":5000}");
    sbuf_reset(&b);
    p.upgrades = false;
    assert_int_equal(eio3_encode_open(&b, &p), 0);
    assert_string_equal(sbuf_data(&b), "0{\"sid\":\"abc\",\"upgrades\":[],"
                                       "\"pingInterval\":25000,\"pingTimeout\":5000}");
    sbuf_reset(&b);
    p.sid = NULL;
    assert_int_equal(eio3_encode_open(&b, &p), SB_EINVAL);
    assert_int_equal(b.len, 0);
    sbuf_free(&b);
}

/* ---------------------------------------------------------------------- text packets */

static void test_decode_text(void **state)
{
    struct eio3_packet pkt;
    char *buf = exact("4hello", 6);
    assert_int_equal(eio3_decode(buf, 6, NULL, &pkt), 0);
    assert_int_equal(pkt.type, EIO_MESSAGE);
    assert_false(pkt.binary);
    assert_ptr_equal(pkt.data, buf + 1);
    assert_int_equal(pkt.len, 5);
    assert_int_equal(eio3_decode(buf, 1, NULL, &pkt), 0);
    assert_int_equal(pkt.len, 0);
    free(buf);

    assert_int_equal(eio3_decode("2", 1, NULL, &pkt), 0);
    assert_int_equal(pkt.type, EIO_PING);
    assert_int_equal(eio3_decode("", 0, NULL, &pkt), SB_EPROTO);
    assert_int_equal(eio3_decode("7", 1, NULL, &pkt), SB_EPROTO);
    assert_int_equal(eio3_decode("x", 1, NULL, &pkt), SB_EPROTO);
}

static int decode_b64(const char *s, struct sbuf *bin, struct eio3_packet *pkt)
{
    size_t len = strlen(s);
    char *buf = exact(s, len);
    int rc = eio3_decode(buf, len, bin, pkt);
    free(buf);
    return rc;
}

static void test_decode_base64(void **state)
{
    struct sbuf bin;
    sbuf_init(&bin, 0);
    struct eio3_packet pkt;
    assert_int_equal(decode_b64("b4AQIDBA==", &bin, &pkt), 0);
    assert_int_equal(pkt.type, EIO_MESSAGE);
    assert_true(pkt.binary);
    assert_int_equal(pkt.len, 4);
    assert_memory_equal(pkt.data, "\x01\x02\x03\x04", 4);

    /* Appended to what `bin` holds: data points after it. */
    assert_int_equal(decode_b64("b4AQID", &bin, &pkt), 0);
    assert_int_equal(bin.len, 7);
    assert_ptr_equal(pkt.data, sbuf_data(&bin) + 4);
    assert_int_equal(pkt.len, 3);
    assert_memory_equal(pkt.data, "\x01\x02\x03", 3);

    sbuf_reset(&bin);
    assert_int_equal(decode_b64("b4AQI=", &bin, &pkt), 0);
    assert_int_equal(pkt.len, 2);
    assert_int_equal(decode_b64("b4/w==", &bin, &pkt), 0);
    assert_int_equal(pkt.len, 1);
    assert_int_equal((unsigned char)pkt.data[0], 0xFF);
    assert_int_equal(decode_b64("b2cHJvYmU=", &bin, &pkt), 0);
    assert_int_equal(pkt.type, EIO_PING);
    assert_memory_equal(pkt.data, "probe", 5);

    /* An empty binary message, even into a buffer that was never allocated. */
    struct sbuf empty;
    sbuf_init(&empty, 0);
    assert_int_equal(decode_b64("b4", &empty, &pkt), 0);
    assert_true(pkt.binary);
    assert_int_equal(pkt.len, 0);
    assert_non_null(pkt.data);
    sbuf_free(&empty);

    /* Refused, and nothing is left in `bin`. */
    static const char *const bad[] = {
        "b",          /* no type */
        "b7AA==",     /* unknown type */
        "bxAA==",     /* not a digit */
        "b4AQIDBA=",  /* not a multiple of 4 */
        "b4AQIDB",    /* idem, unpadded */
        "b4A",        /* idem */
        "b4AQ=D",     /* '=' inside */
        "b4A===",     /* three pads */
        "b4====",     /* only pads */
        "b4AR==",     /* spare bits set: not what an encoder writes */
        "b4AQJ=",     /* idem */
        "b4AQ==AQID", /* padding before the end */
        "b4AQ-_",     /* base64url */
        "b4AQ I",     /* a space */
        "b4AQID\n",   /* a newline */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        sbuf_reset(&bin);
        sbuf_append(&bin, "xy", 2);
        assert_int_equal(decode_b64(bad[i], &bin, &pkt), SB_EPROTO);
        assert_int_equal(bin.len, 2);
    }
    /* A binary packet where the caller wants none. */
    assert_int_equal(decode_b64("b4AQ==", NULL, &pkt), SB_EINVAL);
    sbuf_free(&bin);
}

static void test_encode_base64(void **state)
{
    struct sbuf b, bin;
    sbuf_init(&b, 0);
    sbuf_init(&bin, 0);
    assert_int_equal(eio3_encode_base64(&b, EIO_MESSAGE, "\x01\x02\x03\x04", 4), 0);
    assert_string_equal(sbuf_data(&b), "b4AQIDBA==");
    sbuf_reset(&b);
    assert_int_equal(eio3_encode_base64(&b, EIO_MESSAGE, NULL, 0), 0);
    assert_string_equal(sbuf_data(&b), "b4");

    /* Every length around the padding and past one internal chunk, every byte value. */
    unsigned char bytes[700];
    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (unsigned char)(i * 7 + 3);
    for (size_t n = 0; n < sizeof(bytes); n += n < 10 ? 1 : 97) {
        sbuf_reset(&b);
        sbuf_reset(&bin);
        assert_int_equal(eio3_encode_base64(&b, EIO_MESSAGE, bytes, n), 0);
        assert_int_equal(b.len, 2 + (n + 2) / 3 * 4);
        struct eio3_packet pkt;
        assert_int_equal(eio3_decode(sbuf_data(&b), b.len, &bin, &pkt), 0);
        assert_true(pkt.binary);
        assert_int_equal(pkt.len, n);
        assert_memory_equal(pkt.data, bytes, n);
    }

    sbuf_reset(&b);
    assert_int_equal(eio3_encode_base64(&b, (enum eio_type)7, "x", 1), SB_EINVAL);
    assert_int_equal(eio3_encode_base64(&b, EIO_MESSAGE, NULL, 1), SB_EINVAL);
    assert_int_equal(b.len, 0);
    sbuf_free(&b);
    sbuf_free(&bin);
}

/* ------------------------------------------------------------ binary WebSocket frames */

static void test_binary_frames(void **state)
{
    struct eio3_packet pkt;
    char *buf = exact("\x04\x01\x00\x02", 4);
    assert_int_equal(eio3_decode_binary(buf, 4, &pkt), 0);
    assert_int_equal(pkt.type, EIO_MESSAGE);
    assert_true(pkt.binary);
    assert_ptr_equal(pkt.data, buf + 1);
    assert_int_equal(pkt.len, 3);
    assert_int_equal(eio3_decode_binary(buf, 1, &pkt), 0);
    assert_int_equal(pkt.len, 0);
    free(buf);
    assert_int_equal(eio3_decode_binary("", 0, &pkt), SB_EPROTO);
    assert_int_equal(eio3_decode_binary("\x07", 1, &pkt), SB_EPROTO);
    /* The type is a byte, not a digit. */
    assert_int_equal(eio3_decode_binary("4abc", 4, &pkt), SB_EPROTO);

    struct sbuf b;
    sbuf_init(&b, 0);
    assert_int_equal(eio3_encode_binary(&b, EIO_MESSAGE, "\x01\x00\x02", 3), 0);
    assert_int_equal(b.len, 4);
    assert_memory_equal(sbuf_data(&b), "\x04\x01\x00\x02", 4);
    assert_int_equal(eio3_decode_binary(sbuf_data(&b), b.len, &pkt), 0);
    assert_int_equal(pkt.len, 3);
    assert_memory_equal(pkt.data, "\x01\x00\x02", 3);
    assert_int_equal(eio3_encode_binary(&b, (enum eio_type)9, "x", 1), SB_EINVAL);
    assert_int_equal(eio3_encode_binary(&b, EIO_MESSAGE, NULL, 2), SB_EINVAL);
    assert_int_equal(b.len, 4);
    sbuf_free(&b);
}

/* ----------------------------------------------------------------- the text payload */

/* Splits `s` (a C string) into its packets, written "pkt|pkt|" into `out`; returns the last
 * result of eio3_payload_next() (0 or the error). */
static int split(const char *s, char *out, size_t cap)
{
    size_t len = strlen(s);
    char *buf = exact(s, len);
    struct eio3_payload it;
    eio3_payload_begin(&it, buf, len);
    const char *pkt;
    size_t n, used = 0;
    int rc;
    out[0] = '\0';
    while ((rc = eio3_payload_next(&it, &pkt, &n)) == 1) {
        assert_true(pkt >= buf && pkt + n <= buf + len);
        assert_true(n > 0 && used + n + 2 <= cap);
        memcpy(out + used, pkt, n);
        used += n;
        out[used++] = '|';
        out[used] = '\0';
    }
    /* A fault or the end stays so. */
    assert_int_equal(eio3_payload_next(&it, &pkt, &n), rc);
    free(buf);
    return rc;
}

static void test_payload_split(void **state)
{
    char out[256];
    assert_int_equal(split("6:4hello2:4" EURO, out, sizeof(out)), 0);
    assert_string_equal(out, "4hello|4" EURO "|");
    assert_int_equal(split("1:2", out, sizeof(out)), 0);
    assert_string_equal(out, "2|");
    /* The PROTOCOLS.md example: a binary packet's length counts "b4" too. */
    assert_int_equal(split("10:b4AQIDBA==", out, sizeof(out)), 0);
    assert_string_equal(out, "b4AQIDBA==|");
    /* A ':' and digits inside a packet are its data. */
    assert_int_equal(split("5:412:31:3", out, sizeof(out)), 0);
    assert_string_equal(out, "412:3|3|");
    assert_int_equal(split("13:42[\"a\",\"1:2\"]", out, sizeof(out)), 0);
    assert_string_equal(out, "42[\"a\",\"1:2\"]|");
}

static void test_payload_non_ascii(void **state)
{
    char out[256];
    /* é and 中 are one UTF-16 unit each (2 and 3 bytes), 😀 two (4 bytes). */
    assert_int_equal(split("2:4" E_ACUTE, out, sizeof(out)), 0);
    assert_string_equal(out, "4" E_ACUTE "|");
    assert_int_equal(split("2:4" ZHONG, out, sizeof(out)), 0);
    assert_string_equal(out, "4" ZHONG "|");
    assert_int_equal(split("3:4" EMOJI, out, sizeof(out)), 0);
    assert_string_equal(out, "4" EMOJI "|");
    assert_int_equal(split("6:4" E_ACUTE ZHONG EMOJI "x"
                           "3:4" EMOJI "1:3",
                           out, sizeof(out)),
                     0);
    assert_string_equal(out, "4" E_ACUTE ZHONG EMOJI "x|4" EMOJI "|3|");
    /* A socket.io event with non-ASCII text, as socket.io-client 2.x sends it. */
    assert_int_equal(split("19:42[\"msg\",\"caf" E_ACUTE " " EMOJI "\"]", out, sizeof(out)), 0);
    assert_string_equal(out, "42[\"msg\",\"caf" E_ACUTE " " EMOJI "\"]|");

    /* Counted in bytes, or in code points, the lengths are wrong. */
    assert_int_equal(split("3:4" E_ACUTE, out, sizeof(out)), SB_EPROTO);
    assert_int_equal(split("5:4" EMOJI, out, sizeof(out)), SB_EPROTO);
    /* A length that ends inside the surrogate pair of 😀. */
    assert_int_equal(split("2:4" EMOJI, out, sizeof(out)), SB_EPROTO);
    assert_int_equal(split("2:" EMOJI "1:4", out, sizeof(out)), 0);
    assert_string_equal(out, EMOJI "|4|");
    assert_int_equal(split("1:" EMOJI, out, sizeof(out)), SB_EPROTO);
}

static void test_payload_refused(void **state)
{
    char out[256];
    static const char *const bad[] = {
        "",                        /* empty payload */
        ":4a",                     /* no length */
        "x2:4a",                   /* leading garbage */
        " 2:4a",                   /* JavaScript's Number() would trim it */
        "+2:4a",                   /* ... and take a sign */
        "02:4a",                   /* ... and leading zeros */
        "2.0:4a",                  /* ... and a fraction */
        "0x2:4a",                  /* ... and hex */
        "2e0:4a",                  /* ... and an exponent */
        "0:",                      /* an empty packet */
        "0:2:4a",                  /* idem, before a good one */
        "2",                       /* digits without ':' */
        "2 4a",                    /* idem */
        "2:",                      /* a length running past the end */
        "2:4",                     /* idem */
        "9999999999:4a",           /* ten digits, past the end */
        "99999999999:4a",          /* eleven digits: too long */
        "18446744073709551617:4a", /* would overflow 64 bits */
        "4:4\xff\xff\xff",         /* not UTF-8 */
        "2:4\xc3",                 /* a sequence cut short by the end */
        "3:4\xc3!",                /* ... or by a character */
        "2:4\xc0\xaf",             /* an overlong form */
        "2:4\xed\xa0\x80",         /* a surrogate encoded in UTF-8 */
        "2:4\xf4\x90\x80\x80",     /* above U+10FFFF */
        E_ACUTE "2:4a",            /* a non-ASCII "digit" */
        "\xef\xbc\x92:4a",         /* a full-width digit */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(split(bad[i], out, sizeof(out)), SB_EPROTO);

    /* The packets before a fault come out first, as engine.io-parser calls back for them. */
    static const char *const late[] = {
        "2:4a!",  /* garbage after a packet */
        "2:4a1:", /* a length without its packet */
        "2:4a2",  /* digits without ':' */
        "2:4a0:", /* an empty packet */
        "2:4a2:4\xff",
    };
    for (size_t i = 0; i < ARRAY_SIZE(late); i++) {
        assert_int_equal(split(late[i], out, sizeof(out)), SB_EPROTO);
        assert_string_equal(out, "4a|");
    }
}

static void test_payload_respects_len(void **state)
{
    const char buf[] = "2:4ajunk";
    struct eio3_payload it;
    const char *pkt;
    size_t len;
    eio3_payload_begin(&it, buf, 4);
    assert_int_equal(eio3_payload_next(&it, &pkt, &len), 1);
    assert_ptr_equal(pkt, buf + 2);
    assert_int_equal(len, 2);
    assert_int_equal(eio3_payload_next(&it, &pkt, &len), 0);
    /* A length that would need a byte past `len`. */
    eio3_payload_begin(&it, buf, 3);
    assert_int_equal(eio3_payload_next(&it, &pkt, &len), SB_EPROTO);
}

static void test_payload_build(void **state)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    assert_int_equal(eio3_payload_append(&b, "4hello", 6), 0);
    assert_int_equal(eio3_payload_append(&b, "4" EURO, 4), 0);
    assert_string_equal(sbuf_data(&b), "6:4hello2:4" EURO);
    sbuf_reset(&b);
    const char *text = "42[\"" E_ACUTE ZHONG EMOJI "\"]";
    assert_int_equal(eio3_payload_append(&b, text, strlen(text)), 0);
    assert_int_equal(eio3_payload_append_binary(&b, EIO_MESSAGE, "\x01\x02\x03\x04", 4), 0);
    assert_int_equal(eio3_payload_append_binary(&b, EIO_MESSAGE, NULL, 0), 0);
    assert_int_equal(eio3_payload_append(&b, "3", 1), 0);
    assert_string_equal(sbuf_data(&b), "10:42[\"" E_ACUTE ZHONG EMOJI "\"]10:b4AQIDBA==2:b41:3");

    /* What it builds splits back into the same packets, and they decode. */
    struct eio3_payload it;
    const char *pkt;
    size_t len;
    struct sbuf bin;
    sbuf_init(&bin, 0);
    struct eio3_packet p;
    eio3_payload_begin(&it, sbuf_data(&b), b.len);
    assert_int_equal(eio3_payload_next(&it, &pkt, &len), 1);
    assert_int_equal(len, strlen(text));
    assert_memory_equal(pkt, text, len);
    assert_int_equal(eio3_payload_next(&it, &pkt, &len), 1);
    assert_int_equal(eio3_decode(pkt, len, &bin, &p), 0);
    assert_true(p.binary);
    assert_int_equal(p.len, 4);
    assert_memory_equal(p.data, "\x01\x02\x03\x04", 4);
    assert_int_equal(eio3_payload_next(&it, &pkt, &len), 1);
    assert_int_equal(eio3_decode(pkt, len, &bin, &p), 0);
    assert_true(p.binary);
    assert_int_equal(p.len, 0);
    assert_int_equal(eio3_payload_next(&it, &pkt, &len), 1);
    assert_int_equal(eio3_decode(pkt, len, &bin, &p), 0);
    assert_int_equal(p.type, EIO_PONG);
    assert_int_equal(eio3_payload_next(&it, &pkt, &len), 0);
    sbuf_free(&bin);

    /* Refused, and nothing appended. */
    size_t before = b.len;
    assert_int_equal(eio3_payload_append(&b, "", 0), SB_EINVAL);
    assert_int_equal(eio3_payload_append(&b, "4\xff", 2), SB_EINVAL);
    assert_int_equal(eio3_payload_append(&b, "4\xc3", 2), SB_EINVAL);
    assert_int_equal(eio3_payload_append_binary(&b, (enum eio_type)7, "x", 1), SB_EINVAL);
    assert_int_equal(eio3_payload_append_binary(&b, EIO_MESSAGE, NULL, 3), SB_EINVAL);
    assert_int_equal(b.len, before);

    /* A long packet: a multi-digit length. */
    sbuf_reset(&b);
    char big[1200];
    big[0] = '4';
    for (size_t i = 1; i < sizeof(big); i++)
        big[i] = (char)('a' + (i - 1) % 26);
    assert_int_equal(eio3_payload_append(&b, big, sizeof(big)), 0);
    assert_memory_equal(sbuf_data(&b), "1200:4abc", 9);
    eio3_payload_begin(&it, sbuf_data(&b), b.len);
    assert_int_equal(eio3_payload_next(&it, &pkt, &len), 1);
    assert_int_equal(len, sizeof(big));
    assert_int_equal(eio3_payload_next(&it, &pkt, &len), 0);
    sbuf_free(&b);
}

/* --------------------------------------------------------------- the binary payload */

/* Reads a binary payload of `len` bytes; returns the last result and the packet count. */
static int bin_split(const void *s, size_t len, struct eio3_packet *pkts, size_t cap, size_t *n)
{
    char *buf = exact(s, len);
    struct eio3_binpayload it;
    eio3_binpayload_begin(&it, buf, len);
    int rc;
    *n = 0;
    struct eio3_packet p;
    while ((rc = eio3_binpayload_next(&it, &p)) == 1) {
        assert_true(p.data >= buf && p.data + p.len <= buf + len);
        assert_true(*n < cap);
        pkts[(*n)++] = p;
    }
    assert_int_equal(eio3_binpayload_next(&it, &p), rc);
    /* The packets borrow from the buffer: the tests look only at counts and types after this. */
    free(buf);
    return rc;
}

static void test_binpayload(void **state)
{
    /* "4hello" as text, then a binary message 01 02 03 04 (5 bytes with the type byte). */
    static const unsigned char two[] = {0, 6, 0xFF, '4', 'h', 'e', 'l', 'l', 'o',
                                        1, 5, 0xFF, 4,   1,   2,   3,   4};
    struct eio3_packet pkts[8];
    size_t n;
    assert_int_equal(bin_split(two, sizeof(two), pkts, 8, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(pkts[0].type, EIO_MESSAGE);
    assert_false(pkts[0].binary);
    assert_int_equal(pkts[0].len, 5);
    assert_int_equal(pkts[1].type, EIO_MESSAGE);
    assert_true(pkts[1].binary);
    assert_int_equal(pkts[1].len, 4);

    /* Built by the encoder: the same bytes; a text length counts UTF-8 bytes. */
    struct sbuf b;
    sbuf_init(&b, 0);
    assert_int_equal(eio3_binpayload_append(&b, "4hello", 6), 0);
    assert_int_equal(eio3_binpayload_append_binary(&b, EIO_MESSAGE, "\x01\x02\x03\x04", 4), 0);
    assert_int_equal(b.len, sizeof(two));
    assert_memory_equal(sbuf_data(&b), two, sizeof(two));

    sbuf_reset(&b);
    const char *text = "42[\"" E_ACUTE ZHONG EMOJI "\"]"; /* 15 bytes */
    assert_int_equal(eio3_binpayload_append(&b, text, strlen(text)), 0);
    assert_int_equal(eio3_binpayload_append_binary(&b, EIO_MESSAGE, NULL, 0), 0);
    static const unsigned char head[] = {0, 1, 5, 0xFF};
    assert_memory_equal(sbuf_data(&b), head, 4);
    assert_memory_equal(sbuf_data(&b) + 4, text, 15);
    assert_memory_equal(sbuf_data(&b) + 19, "\x01\x01\xff\x04", 4);
    assert_int_equal(b.len, 23);
    struct eio3_binpayload it;
    struct eio3_packet p;
    eio3_binpayload_begin(&it, sbuf_data(&b), b.len);
    assert_int_equal(eio3_binpayload_next(&it, &p), 1);
    assert_false(p.binary);
    assert_int_equal(p.len, 14);
    assert_memory_equal(p.data, text + 1, 14);
    assert_int_equal(eio3_binpayload_next(&it, &p), 1);
    assert_true(p.binary);
    assert_int_equal(p.len, 0);
    assert_int_equal(eio3_binpayload_next(&it, &p), 0);

    size_t before = b.len;
    assert_int_equal(eio3_binpayload_append(&b, "", 0), SB_EINVAL);
    assert_int_equal(eio3_binpayload_append(&b, "4\xff", 2), SB_EINVAL);
    assert_int_equal(eio3_binpayload_append_binary(&b, (enum eio_type)7, "x", 1), SB_EINVAL);
    assert_int_equal(eio3_binpayload_append_binary(&b, EIO_MESSAGE, NULL, 1), SB_EINVAL);
    assert_int_equal(b.len, before);
    sbuf_free(&b);
}

static void test_binpayload_refused(void **state)
{
    struct bad {
        const char *what;
        size_t len;
        unsigned char bytes[16];
    };
    static const struct bad bad[] = {
        {"empty", 0, {0}},
        {"kind 2", 5, {2, 2, 0xFF, '4', 'a'}},
        {"no digits", 4, {0, 0xFF, '4', 'a'}},
        {"a digit above 9", 5, {0, 10, 0xFF, '4', 'a'}},
        {"a leading zero", 6, {0, 0, 2, 0xFF, '4', 'a'}},
        {"an empty packet", 3, {0, 0, 0xFF}},
        {"no 0xFF", 4, {0, 2, '4', 'a'}},
        {"only the kind", 1, {0}},
        {"past the end", 4, {0, 2, 0xFF, '4'}},
        {"eleven digits", 14, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0xFF, 4}},
        {"ten digits past the end", 14, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0xFF, 4, 1}},
        {"text not UTF-8", 5, {0, 2, 0xFF, '4', 0xC3}},
        {"text of an unknown type", 5, {0, 2, 0xFF, '7', 'a'}},
        {"text in base64", 9, {0, 6, 0xFF, 'b', '4', 'A', 'Q', '=', '='}},
        {"binary of an unknown type", 5, {1, 2, 0xFF, 7, 1}},
        {"binary type as a digit", 5, {1, 2, 0xFF, '4', 1}},
        {"garbage after a packet", 6, {0, 2, 0xFF, '4', 'a', 0}},
    };
    struct eio3_packet pkts[4];
    size_t n;
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        if (bin_split(bad[i].bytes, bad[i].len, pkts, 4, &n) != SB_EPROTO)
            fail_msg("accepted: %s", bad[i].what);
    }
    /* The last case gave its packet first. */
    assert_int_equal(n, 1);
}

/* ------------------------------------------------- vectors from the real parser */

/* Payloads written by engine.io's parser-v3 (engine.io-parser 2.x), and the packets they hold. */
struct vector {
    const char *name;
    bool binary_form; /* the XHR2 binary payload, not the text one */
    const char *payload;
    size_t len;
    size_t npackets;
    struct {
        int type;
        bool binary;
        const char *data;
        size_t len;
    } packets[4];
};

/* clang-format off */
/* BEGIN generated by eio3_vectors.mjs */
static const struct vector vectors[] = {
    {"ascii", false, "6:4hello1:2", 11, 2,
     {{4, false, "hello", 5},
      {2, false, "", 0}}},
    {"euro", false, "6:4hello2:4\xe2\x82\xac", 14, 2,
     {{4, false, "hello", 5},
      {4, false, "\xe2\x82\xac", 3}}},
    {"e-acute", false, "5:4caf\xc3\xa9", 8, 1,
     {{4, false, "caf\xc3\xa9", 5}}},
    {"zhong", false, "14:42[\"msg\",\"\xe4\xb8\xad\xe6\x96\x87\"]", 21, 1,
     {{4, false, "2[\"msg\",\"\xe4\xb8\xad\xe6\x96\x87\"]", 17}}},
    {"emoji", false, "17:42[\"msg\",\"\xf0\x9f\x98\x80 ok\"]1:3", 25, 2,
     {{4, false, "2[\"msg\",\"\xf0\x9f\x98\x80 ok\"]", 18},
      {3, false, "", 0}}},
    {"astral-mix", false, "8:4\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\xf0\x9d\x84\x9ex3:4\xf0\x9f\x98\x80", 24, 2,
     {{4, false, "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\xf0\x9d\x84\x9ex", 14},
      {4, false, "\xf0\x9f\x98\x80", 4}}},
    {"digits-and-colons", false, "13:42[\"a\",\"1:2\"]5:412:3", 23, 2,
     {{4, false, "2[\"a\",\"1:2\"]", 12},
      {4, false, "12:3", 4}}},
    {"open", false, "79:0{\"sid\":\"abc\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":5000}", 82, 1,
     {{0, false, "{\"sid\":\"abc\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":5000}", 78}}},
    {"connect-query", false, "19:40/admin\?token=abc,", 22, 1,
     {{4, false, "0/admin\?token=abc,", 18}}},
    {"binary", false, "10:b4AQIDBA==", 13, 1,
     {{4, true, "\x01\x02\x03\x04", 4}}},
    {"binary", true, "\x01\x05\xff\x04\x01\x02\x03\x04", 8, 1,
     {{4, true, "\x01\x02\x03\x04", 4}}},
    {"binary-empty", false, "2:b4", 4, 1,
     {{4, true, "", 0}}},
    {"binary-empty", true, "\x01\x01\xff\x04", 4, 1,
     {{4, true, "", 0}}},
    {"binary-event", false, "40:451-[\"up\",{\"_placeholder\":true,\"num\":0}]10:b4AP8QIIA=", 56, 2,
     {{4, false, "51-[\"up\",{\"_placeholder\":true,\"num\":0}]", 39},
      {4, true, "\x00\xff\x10 \x80", 5}}},
    {"binary-event", true, "\x00\x04\x00\xff" "451-[\"up\",{\"_placeholder\":true,\"num\":0}]\x01\x06\xff\x04\x00\xff\x10 \x80", 53, 2,
     {{4, false, "51-[\"up\",{\"_placeholder\":true,\"num\":0}]", 39},
      {4, true, "\x00\xff\x10 \x80", 5}}},
    {"binary-and-emoji", false, "6:b48J8=3:4\xf0\x9f\x98\x80", 15, 2,
     {{4, true, "\xf0\x9f", 2},
      {4, false, "\xf0\x9f\x98\x80", 4}}},
    {"binary-and-emoji", true, "\x01\x03\xff\x04\xf0\x9f\x00\x05\xff" "4\xf0\x9f\x98\x80", 14, 2,
     {{4, true, "\xf0\x9f", 2},
      {4, false, "\xf0\x9f\x98\x80", 4}}},
    {"long", false, "302:4xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xc3\xa9", 307, 1,
     {{4, false, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xc3\xa9", 302}}},
};
/* END generated by eio3_vectors.mjs */
/* clang-format on */

/* Every vector decodes to its packets, and the encoders write it back byte for byte. */
static void test_vectors(void **state)
{
    struct sbuf again, bin, one;
    sbuf_init(&again, 0);
    sbuf_init(&bin, 0);
    sbuf_init(&one, 0);
    for (size_t v = 0; v < ARRAY_SIZE(vectors); v++) {
        const struct vector *vec = &vectors[v];
        char *buf = exact(vec->payload, vec->len);
        struct eio3_payload it;
        struct eio3_binpayload bit;
        eio3_payload_begin(&it, buf, vec->len);
        eio3_binpayload_begin(&bit, buf, vec->len);
        sbuf_reset(&again);
        for (size_t i = 0; i <= vec->npackets; i++) {
            struct eio3_packet p;
            int rc;
            sbuf_reset(&bin);
            if (vec->binary_form) {
                rc = eio3_binpayload_next(&bit, &p);
            } else {
                const char *pkt;
                size_t len;
                rc = eio3_payload_next(&it, &pkt, &len);
                if (rc == 1)
                    assert_int_equal(eio3_decode(pkt, len, &bin, &p), 0);
            }
            if (i == vec->npackets) {
                if (rc != 0)
                    fail_msg("%s: %d after the last packet", vec->name, rc);
                break;
            }
            if (rc != 1)
                fail_msg("%s: packet %zu: %d", vec->name, i, rc);
            assert_int_equal(p.type, vec->packets[i].type);
            assert_int_equal(p.binary, vec->packets[i].binary);
            assert_int_equal(p.len, vec->packets[i].len);
            assert_memory_equal(p.data, vec->packets[i].data, p.len);
            sbuf_reset(&one);
            if (!p.binary)
                assert_int_equal(eio_encode(&one, p.type, p.data, p.len), 0);
            if (vec->binary_form)
                rc = p.binary ? eio3_binpayload_append_binary(&again, p.type, p.data, p.len)
                              : eio3_binpayload_append(&again, sbuf_data(&one), one.len);
            else
                rc = p.binary ? eio3_payload_append_binary(&again, p.type, p.data, p.len)
                              : eio3_payload_append(&again, sbuf_data(&one), one.len);
            assert_int_equal(rc, 0);
        }
        if (again.len != vec->len || memcmp(sbuf_data(&again), vec->payload, vec->len))
            fail_msg("%s: encoded differently", vec->name);
        free(buf);
    }
    sbuf_free(&again);
    sbuf_free(&bin);
    sbuf_free(&one);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hs_refused_without_allow),
        cmocka_unit_test(test_hs_allow_eio3),
        cmocka_unit_test(test_hs_session_requests),
        cmocka_unit_test(test_hs_b64_jsonp),
        cmocka_unit_test(test_open),
        cmocka_unit_test(test_decode_text),
        cmocka_unit_test(test_decode_base64),
        cmocka_unit_test(test_encode_base64),
        cmocka_unit_test(test_binary_frames),
        cmocka_unit_test(test_payload_split),
        cmocka_unit_test(test_payload_non_ascii),
        cmocka_unit_test(test_payload_refused),
        cmocka_unit_test(test_payload_respects_len),
        cmocka_unit_test(test_payload_build),
        cmocka_unit_test(test_binpayload),
        cmocka_unit_test(test_binpayload_refused),
        cmocka_unit_test(test_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
