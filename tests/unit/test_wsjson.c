/* Plain JSON WebSocket frames ({"event":…,"data":…}) and the shared JSON encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../server/proto/proto.h"

/* Decodes from an allocation of exactly `len` bytes, so reading past it is caught. The message
 * owns its root, so the input can go away at once. */
static int decode_n(const char *s, size_t len, struct wsjson_msg *m)
{
    char *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    memcpy(buf, s, len);
    int rc = wsjson_decode(buf, len, m);
    free(buf);
    if (rc != 0) {
        assert_null(m->root);
        assert_null(m->data);
    }
    return rc;
}

static int decode(const char *s, struct wsjson_msg *m)
{
    return decode_n(s, strlen(s), m);
}

static int status(const char *s)
{
    struct wsjson_msg m;
    int rc = decode(s, &m);
    wsjson_msg_clear(&m);
    return rc;
}

static void test_decode(void **state)
{
    struct wsjson_msg m;
    assert_int_equal(decode("{\"event\":\"x\",\"data\":[1]}", &m), 0);
    assert_int_equal(m.event_len, 1);
    assert_memory_equal(m.event, "x", 1);
    assert_true(json_is_array(m.data));
    assert_int_equal(json_integer_value(json_array_get(m.data, 0)), 1);
    wsjson_msg_clear(&m);
    wsjson_msg_clear(&m);
    assert_null(m.root);

    /* Key order does not matter, and other keys are ignored. */
    assert_int_equal(decode(" {\"data\":{\"a\":\"b\"},\"id\":7,\"event\":\"caf\xc3\xa9\"} ", &m),
                     0);
    assert_int_equal(m.event_len, 5);
    assert_memory_equal(m.event, "caf\xc3\xa9", 5);
    assert_string_equal(json_string_value(json_object_get(m.data, "a")), "b");
    wsjson_msg_clear(&m);

    /* An integer outside the 64-bit range is a number (a double), as in JSON.parse. */
    assert_int_equal(decode("{\"event\":\"x\",\"data\":[10000000000000000000,7]}", &m), 0);
    assert_true(json_real_value(json_array_get(m.data, 0)) == 1e19);
    assert_int_equal(json_integer_value(json_array_get(m.data, 1)), 7);
    wsjson_msg_clear(&m);
}

static void test_decode_data_absent_or_null(void **state)
{
    struct wsjson_msg m;
    assert_int_equal(decode("{\"event\":\"ping\"}", &m), 0);
    assert_null(m.data);
    assert_string_equal(m.event, "ping");
    wsjson_msg_clear(&m);

    assert_int_equal(decode("{\"event\":\"ping\",\"data\":null}", &m), 0);
    assert_non_null(m.data);
    assert_true(json_is_null(m.data));
    wsjson_msg_clear(&m);
}

static void test_decode_refused(void **state)
{
    assert_int_equal(status("{\"event\":1,\"data\":2}"), SB_EPROTO);
    assert_int_equal(status("{\"event\":null}"), SB_EPROTO);
    assert_int_equal(status("{\"event\":[\"x\"]}"), SB_EPROTO);
    assert_int_equal(status("{\"event\":\"\",\"data\":1}"), SB_EPROTO);
    assert_int_equal(status("{\"data\":1}"), SB_EPROTO);
    assert_int_equal(status("{}"), SB_EPROTO);
    assert_int_equal(status("[\"x\",1]"), SB_EPROTO);
    assert_int_equal(status("\"x\""), SB_EPROTO);
    assert_int_equal(status("42"), SB_EPROTO);
    assert_int_equal(status("null"), SB_EPROTO);
    assert_int_equal(status("{\"event\":\"a\\u0000b\"}"), SB_EPROTO);

    assert_int_equal(status(""), SB_EJSON);
    assert_int_equal(status("{"), SB_EJSON);
    assert_int_equal(status("{\"event\":\"x\""), SB_EJSON);
    assert_int_equal(status("{\"event\":\"x\"} {}"), SB_EJSON);
    assert_int_equal(status("{event:\"x\"}"), SB_EJSON);
    assert_int_equal(status("{\"event\":\"\xff\"}"), SB_EJSON);
    assert_int_equal(status("42[\"x\"]"), SB_EJSON);
}

static void test_decode_respects_len(void **state)
{
    static const char buf[] = "{\"event\":\"x\"}trailing";
    struct wsjson_msg m;
    assert_int_equal(wsjson_decode(buf, 13, &m), 0);
    assert_string_equal(m.event, "x");
    wsjson_msg_clear(&m);
    assert_int_equal(wsjson_decode(buf, 12, &m), SB_EJSON);
}

static void test_encode(void **state)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    assert_int_equal(wsjson_encode(&b, "x", NULL), 0);
    assert_string_equal(sbuf_data(&b), "{\"event\":\"x\",\"data\":null}");

    sbuf_reset(&b);
    json_t *data = json_pack("{s:[i,s],s:b}", "list", 1, "caf\xc3\xa9", "ok", 1);
    assert_int_equal(wsjson_encode(&b, "msg", data), 0);
    assert_string_equal(sbuf_data(&b),
                        "{\"event\":\"msg\",\"data\":{\"list\":[1,\"caf\xc3\xa9\"],\"ok\":true}}");
    json_decref(data);

    sbuf_reset(&b);
    assert_int_equal(wsjson_encode(&b, "a\"b\\c\n\x01", NULL), 0);
    assert_string_equal(sbuf_data(&b), "{\"event\":\"a\\\"b\\\\c\\n\\u0001\",\"data\":null}");

    sbuf_reset(&b);
    json_t *num = json_integer(-5);
    assert_int_equal(wsjson_encode(&b, "n", num), 0);
    assert_string_equal(sbuf_data(&b), "{\"event\":\"n\",\"data\":-5}");
    json_decref(num);
    sbuf_free(&b);
}

static void test_encode_refused(void **state)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    sbuf_append_str(&b, "keep");
    json_t *bad = json_pack("{so}", "k", json_stringn_nocheck("\xe2\x82", 2));
    assert_int_equal(wsjson_encode(&b, "", NULL), SB_EINVAL);
    assert_int_equal(wsjson_encode(&b, NULL, NULL), SB_EINVAL);
    assert_int_equal(wsjson_encode(&b, "\xc0\x80", NULL), SB_EINVAL);
    assert_int_equal(wsjson_encode(&b, "x", bad), SB_EINVAL);
    assert_int_equal(b.len, 4);
    assert_string_equal(sbuf_data(&b), "keep");
    json_decref(bad);
    sbuf_free(&b);
}

static void test_roundtrip(void **state)
{
    static const char *const in[] = {
        "{\"event\":\"x\",\"data\":[1,{\"a\":null}]}",
        "{\"event\":\"caf\xc3\xa9 \\\"q\\\"\",\"data\":\"\\u0000\"}",
        "{\"event\":\"only\"}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(in); i++) {
        struct wsjson_msg m, again;
        assert_int_equal(decode(in[i], &m), 0);
        struct sbuf b;
        sbuf_init(&b, 0);
        assert_int_equal(wsjson_encode(&b, m.event, m.data), 0);
        assert_int_equal(decode_n(sbuf_data(&b), b.len, &again), 0);
        assert_int_equal(again.event_len, m.event_len);
        assert_memory_equal(again.event, m.event, m.event_len);
        if (m.data)
            assert_true(json_equal(again.data, m.data));
        else
            assert_true(json_is_null(again.data));
        wsjson_msg_clear(&again);
        wsjson_msg_clear(&m);
        sbuf_free(&b);
    }
}

static void test_json_append(void **state)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    json_t *v = json_pack("{s:[i,f,s,n],s:{}}", "a", 1, 0.5, "\xe6\x97\xa5/\"", "b");
    assert_int_equal(proto_json_append(&b, v), 0);
    /* Compact, in insertion order, UTF-8 and '/' as they are. */
    assert_string_equal(sbuf_data(&b), "{\"a\":[1,0.5,\"\xe6\x97\xa5/\\\"\",null],\"b\":{}}");
    json_decref(v);

    sbuf_reset(&b);
    json_t *s = json_string("top");
    assert_int_equal(proto_json_append(&b, s), 0);
    assert_string_equal(sbuf_data(&b), "\"top\"");
    json_decref(s);

    sbuf_reset(&b);
    sbuf_append_str(&b, "x");
    json_t *bad = json_pack("[s,o]", "a", json_stringn_nocheck("\xff", 1));
    assert_int_equal(proto_json_append(&b, bad), SB_EINVAL);
    assert_int_equal(proto_json_append(&b, NULL), SB_EINVAL);
    assert_int_equal(b.len, 1);
    assert_string_equal(sbuf_data(&b), "x");
    json_decref(bad);
    sbuf_free(&b);
}

static void test_utf8_valid(void **state)
{
    assert_true(proto_utf8_valid("", 0));
    assert_true(proto_utf8_valid("abc", 3));
    assert_true(proto_utf8_valid("\xc3\xa9", 2));
    assert_true(proto_utf8_valid("\xe6\x97\xa5", 3));
    assert_true(proto_utf8_valid("\xf0\x9f\x98\x80", 4));
    assert_true(proto_utf8_valid("\xf4\x8f\xbf\xbf", 4));
    assert_true(proto_utf8_valid("a\0b", 3));
    assert_false(proto_utf8_valid("\xff", 1));
    assert_false(proto_utf8_valid("\x80", 1));
    assert_false(proto_utf8_valid("\xc3", 1));             /* cut short */
    assert_false(proto_utf8_valid("\xc3\xa9", 1));         /* cut short by len */
    assert_false(proto_utf8_valid("\xc0\x80", 2));         /* overlong */
    assert_false(proto_utf8_valid("\xe0\x80\x80", 3));     /* overlong */
    assert_false(proto_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(proto_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    assert_false(proto_utf8_valid("\xe6\x97", 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),         cmocka_unit_test(test_decode_data_absent_or_null),
        cmocka_unit_test(test_decode_refused), cmocka_unit_test(test_decode_respects_len),
        cmocka_unit_test(test_encode),         cmocka_unit_test(test_encode_refused),
        cmocka_unit_test(test_roundtrip),      cmocka_unit_test(test_json_append),
        cmocka_unit_test(test_utf8_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
