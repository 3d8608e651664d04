/*
 * Binary arguments: placeholders checked as socket.io-parser 4.x's reconstructPacket() checks
 * them, and the Redis adapter's msgpack `bin` values read into placeholders plus attachments and
 * written back from them, against bytes the real Node packages produced
 * (tests/unit/adapter_vectors.mjs regenerates the block between the BEGIN and END markers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../server/proto/proto.h"

static json_t *json(const char *text)
{
    json_error_t err;
    json_t *v = proto_json_load(text, strlen(text), PROTO_JSON_FLAGS, &err);
    if (!v)
        fail_msg("bad test JSON %s: %s", text, err.text);
    return v;
}

/* sio_placeholders_check() on `text` with `nbins` attachments. */
static int check(const char *text, size_t nbins)
{
    json_t *v = json(text);
    int rc = sio_placeholders_check(v, nbins);
    json_decref(v);
    return rc;
}

/* sio_placeholder_num() on `text`: its result, and the num in `*num`. */
static int num_of(const char *text, size_t nbins, size_t *num)
{
    json_t *v = json(text);
    *num = 12345;
    int rc = sio_placeholder_num(v, nbins, num);
    json_decref(v);
    return rc;
}

/* ------------------------------------------------------------------------- placeholders */

static void test_placeholder_num(void **state)
{
    (void)state;
    size_t n;
    assert_int_equal(num_of("{\"_placeholder\":true,\"num\":0}", 1, &n), 1);
    assert_int_equal(n, 0);
    assert_int_equal(num_of("{\"num\":2,\"_placeholder\":true,\"extra\":[1]}", 3, &n), 1);
    assert_int_equal(n, 2);
    /* JavaScript has one number type: 1.0 and -0.0 are the integers 1 and 0. */
    assert_int_equal(num_of("{\"_placeholder\":true,\"num\":1.0}", 2, &n), 1);
    assert_int_equal(n, 1);
    assert_int_equal(num_of("{\"_placeholder\":true,\"num\":-0.0}", 1, &n), 1);
    assert_int_equal(n, 0);
    assert_int_equal(num_of("{\"_placeholder\":true,\"num\":-0}", 1, &n), 1);
    assert_int_equal(n, 0);
    /* NULL num pointer is allowed. */
    json_t *v = json("{\"_placeholder\":true,\"num\":0}");
    assert_int_equal(sio_placeholder_num(v, 1, NULL), 1);
    json_decref(v);

    /* Not placeholders: `_placeholder` must be exactly true, and the value an object. */
    const char *plain[] = {
        "{\"_placeholder\":false,\"num\":0}",
        "{\"_placeholder\":1,\"num\":0}",
        "{\"_placeholder\":\"true\",\"num\":0}",
        "{\"_placeholder\":null,\"num\":0}",
        "{\"num\":0}",
        "{}",
        "[true,0]",
        "\"_placeholder\"",
        "true",
        "null",
        "0",
        "{\"_Placeholder\":true,\"num\":0}",
        "{\"placeholder\":true,\"num\":0}",
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        assert_int_equal(num_of(plain[i], 5, &n), 0);
        assert_int_equal(n, 12345); /* untouched */
    }

    /* Illegal attachments: num missing, not a number, negative, fractional, too large. */
    const char *bad[] = {
        "{\"_placeholder\":true}",
        "{\"_placeholder\":true,\"num\":null}",
        "{\"_placeholder\":true,\"num\":\"0\"}",
        "{\"_placeholder\":true,\"num\":true}",
        "{\"_placeholder\":true,\"num\":[0]}",
        "{\"_placeholder\":true,\"num\":{}}",
        "{\"_placeholder\":true,\"num\":-1}",
        "{\"_placeholder\":true,\"num\":-1.0}",
        "{\"_placeholder\":true,\"num\":0.5}",
        "{\"_placeholder\":true,\"num\":1e-300}",
        "{\"_placeholder\":true,\"num\":2}",
        "{\"_placeholder\":true,\"num\":2.0}",
        "{\"_placeholder\":true,\"num\":1e300}",
        "{\"_placeholder\":true,\"num\":9223372036854775807}",
        "{\"_placeholder\":true,\"num\":-9223372036854775808}",
        "{\"_placeholder\":true,\"num\":18446744073709551616}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(num_of(bad[i], 2, &n), SB_EPROTO);
    /* No attachments: every placeholder is illegal. */
    assert_int_equal(num_of("{\"_placeholder\":true,\"num\":0}", 0, &n), SB_EPROTO);
}

static void test_placeholders_check(void **state)
{
    (void)state;
    assert_int_equal(sio_placeholders_check(NULL, 0), 0);
    assert_int_equal(check("[\"up\",1,\"x\",{\"a\":[null]}]", 0), 0);
    assert_int_equal(check("[\"up\",{\"_placeholder\":true,\"num\":0}]", 1), 0);
    /* Nested in objects and arrays, found wherever they are. */
    assert_int_equal(check("[\"up\",{\"a\":[{\"_placeholder\":true,\"num\":1}]},"
                           "[[{\"_placeholder\":true,\"num\":0}]]]",
                           2),
                     0);
    assert_int_equal(check("[\"up\",{\"a\":{\"b\":[{\"_placeholder\":true,\"num\":2}]}}]", 2),
                     SB_EPROTO);
    assert_int_equal(check("[\"up\",{\"a\":[1,2,{\"_placeholder\":true}]}]", 3), SB_EPROTO);
    /* A placeholder at the top (an ACK payload is an array, but the check does not care). */
    assert_int_equal(check("{\"_placeholder\":true,\"num\":0}", 1), 0);
    assert_int_equal(check("{\"_placeholder\":true,\"num\":\"0\"}", 1), SB_EPROTO);
    /* The same num twice: socket.io-parser puts the same buffer in both places. */
    assert_int_equal(
        check("[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":0}]", 1), 0);
    /* Attachments no placeholder names are ignored, as socket.io-parser ignores them. */
    assert_int_equal(check("[\"up\",{\"_placeholder\":true,\"num\":3}]", 5), 0);
    assert_int_equal(check("[\"up\"]", 5), 0);
    /* A placeholder replaces its whole object: what else it holds is not looked at. */
    assert_int_equal(check("[{\"_placeholder\":true,\"num\":0,\"x\":{\"_placeholder\":true}}]", 1),
                     0);
    /* An ordinary object (`_placeholder` not true) is walked into like any other. */
    assert_int_equal(check("[{\"_placeholder\":false,\"x\":{\"_placeholder\":true,\"num\":0}}]", 1),
                     0);
    assert_int_equal(check("[{\"_placeholder\":false,\"x\":{\"_placeholder\":true,\"num\":1}}]", 1),
                     SB_EPROTO);
    assert_int_equal(check("[{\"_placeholder\":\"yes\",\"num\":-1}]", 0), 0);
    /* After a valid one, a bad one later in the tree still fails the whole. */
    assert_int_equal(
        check("[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":-1}]", 1),
        SB_EPROTO);
}

/* A tree deeper than jansson parses can only be built by hand; it is refused, not walked. */
static void test_placeholders_deep(void **state)
{
    (void)state;
    json_t *root = json_array(), *cur = root;
    for (int i = 0; i < 5000; i++) {
        json_t *next = json_array();
        assert_int_equal(json_array_append_new(cur, next), 0);
        cur = next;
    }
    assert_int_equal(sio_placeholders_check(root, 1), SB_EPROTO);
    json_decref(root);

    root = json_array();
    cur = root;
    for (int i = 0; i < 4000; i++) {
        json_t *next = json_array();
        assert_int_equal(json_array_append_new(cur, next), 0);
        cur = next;
    }
    assert_int_equal(json_array_append_new(cur, json("{\"_placeholder\":true,\"num\":0}")), 0);
    assert_int_equal(sio_placeholders_check(root, 1), 0);
    assert_int_equal(sio_placeholders_check(root, 0), SB_EPROTO);
    json_decref(root);
}

/* What sio_decode() reads from a client, checked against the frames that followed it. */
static void test_placeholders_decoded(void **state)
{
    (void)state;
    static const char text[] = "52-[\"up\",{\"_placeholder\":true,\"num\":0},"
                               "{\"f\":{\"_placeholder\":true,\"num\":1}}]";
    struct sio_packet p;
    assert_int_equal(sio_decode(text, sizeof(text) - 1, &p), 0);
    assert_int_equal(p.type, SIO_BINARY_EVENT);
    assert_int_equal(p.attachments, 2);
    assert_int_equal(sio_placeholders_check(p.data, p.attachments), 0);
    assert_int_equal(sio_placeholders_check(p.data, 1), SB_EPROTO);
    sio_packet_clear(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placeholder_num),
        cmocka_unit_test(test_placeholders_check),
        cmocka_unit_test(test_placeholders_deep),
        cmocka_unit_test(test_placeholders_decoded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
