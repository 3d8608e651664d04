/* Socket.IO protocol v4 (socket.io 2.x): the packets socket.io-client 2.x sends read by the
 * shared codec, the query on a CONNECT's namespace, and the v4 refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../server/proto/proto.h"

/* A decoded CONNECT, split: the namespace, the raw query ("" when there is a '?' and nothing
 * after it; NULL when there is none), copied out of the input. */
struct connect {
    int rc;
    char nsp[64];
    char query[64];
    bool has_query;
};

static struct connect connect_of(const char *s)
{
    struct connect c = {0};
    size_t len = strlen(s);
    char *buf = malloc(len);
    assert_non_null(buf);
    memcpy(buf, s, len);
    struct sio_packet p;
    assert_int_equal(sio_decode(buf, len, &p), 0);
    assert_int_equal(p.type, SIO_CONNECT);
    struct sio4_connect sc;
    c.rc = sio4_connect_parse(p.nsp, p.nsp_len, &sc);
    if (c.rc == 0) {
        assert_true(sc.nsp >= p.nsp && sc.nsp + sc.nsp_len <= p.nsp + p.nsp_len);
        memcpy(c.nsp, sc.nsp, sc.nsp_len);
        c.has_query = sc.query != NULL;
        if (sc.query) {
            assert_true(sc.query >= p.nsp && sc.query + sc.query_len <= p.nsp + p.nsp_len);
            memcpy(c.query, sc.query, sc.query_len);
        }
    }
    sio_packet_clear(&p);
    free(buf);
    return c;
}

static void test_connect_query(void **state)
{
    struct connect c = connect_of("0/admin,");
    assert_int_equal(c.rc, 0);
    assert_string_equal(c.nsp, "/admin");
    assert_false(c.has_query);

    /* socket.io-client 2.x appends the query to the namespace of its CONNECT. */
    c = connect_of("0/admin?token=abc,");
    assert_string_equal(c.nsp, "/admin");
    assert_true(c.has_query);
    assert_string_equal(c.query, "token=abc");
    c = connect_of("0/admin?token=a%20b&x=1");
    assert_string_equal(c.nsp, "/admin");
    assert_string_equal(c.query, "token=a%20b&x=1");
    c = connect_of("0/admin?,");
    assert_string_equal(c.nsp, "/admin");
    assert_true(c.has_query);
    assert_string_equal(c.query, "");
    /* Only the first '?' splits. */
    c = connect_of("0/a?b?c=1,");
    assert_string_equal(c.nsp, "/a");
    assert_string_equal(c.query, "b?c=1");
    /* url.parse() drops a fragment, and a '?' after it is part of it. */
    c = connect_of("0/admin?x=1#top,");
    assert_string_equal(c.nsp, "/admin");
    assert_string_equal(c.query, "x=1");
    c = connect_of("0/admin#top?x=1,");
    assert_string_equal(c.nsp, "/admin");
    assert_false(c.has_query);
    c = connect_of("0/?x=1,");
    assert_string_equal(c.nsp, "/");
    assert_string_equal(c.query, "x=1");
    /* The decoder's "/" for a packet without a namespace. */
    c = connect_of("0");
    assert_string_equal(c.nsp, "/");
    assert_false(c.has_query);

    /* The query reads as the handshake's does. */
    c = connect_of("0/chat?token=a%20b&room=42,");
    struct query q;
    assert_int_equal(query_parse(c.query, strlen(c.query), &q), 0);
    assert_string_equal(query_get(&q, "token"), "a b");
    assert_string_equal(query_get(&q, "room"), "42");
    query_free(&q);
}

static void test_connect_parse_refused(void **state)
{
    struct sio4_connect sc;
    assert_int_equal(sio4_connect_parse("", 0, &sc), SB_EPROTO);
    assert_int_equal(sio4_connect_parse("admin", 5, &sc), SB_EPROTO);
    assert_int_equal(sio4_connect_parse("?x=1", 4, &sc), SB_EPROTO);
    assert_null(sc.nsp);
    assert_null(sc.query);
    /* It never looks past `len`. */
    assert_int_equal(sio4_connect_parse("/a?x", 2, &sc), 0);
    assert_int_equal(sc.nsp_len, 2);
    assert_null(sc.query);
}

/* The rest of what a socket.io-client 2.x sends, read by the shared decoder. */
static void test_v4_packets(void **state)
{
    struct sio_packet p;
    const char *ev = "2/admin,12[\"ev\",1]";
    assert_int_equal(sio_decode(ev, strlen(ev), &p), 0);
    assert_int_equal(p.type, SIO_EVENT);
    assert_int_equal(p.nsp_len, 6);
    assert_int_equal(p.ack_id, 12);
    sio_packet_clear(&p);

    const char *ack = "31[\"ok\"]";
    assert_int_equal(sio_decode(ack, strlen(ack), &p), 0);
    assert_int_equal(p.type, SIO_ACK);
    assert_int_equal(p.ack_id, 1);
    sio_packet_clear(&p);

    const char *bin = "51-[\"up\",{\"_placeholder\":true,\"num\":0}]";
    assert_int_equal(sio_decode(bin, strlen(bin), &p), 0);
    assert_int_equal(p.type, SIO_BINARY_EVENT);
    assert_int_equal(p.attachments, 1);
    sio_packet_clear(&p);

    const char *bin_ack = "62-/admin,3[{\"_placeholder\":true,\"num\":0},"
                          "{\"_placeholder\":true,\"num\":1}]";
    assert_int_equal(sio_decode(bin_ack, strlen(bin_ack), &p), 0);
    assert_int_equal(p.type, SIO_BINARY_ACK);
    assert_int_equal(p.attachments, 2);
    assert_int_equal(p.ack_id, 3);
    sio_packet_clear(&p);

    /* A v4 refusal as a 2.x server sends it. */
    const char *err = "4/admin,\"Not authorized\"";
    assert_int_equal(sio_decode(err, strlen(err), &p), 0);
    assert_int_equal(p.type, SIO_CONNECT_ERROR);
    assert_string_equal(json_string_value(p.data), "Not authorized");
    sio_packet_clear(&p);
}

/* What the server writes for a v4 client with the shared encoder: CONNECT replies without a
 * payload (no sid), and a binary ack. */
static void test_v4_replies(void **state)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    assert_int_equal(sio_encode(&b, SIO_CONNECT, "/", -1, NULL), 0);
    assert_string_equal(sbuf_data(&b), "0");
    sbuf_reset(&b);
    assert_int_equal(sio_encode(&b, SIO_CONNECT, "/admin", -1, NULL), 0);
    assert_string_equal(sbuf_data(&b), "0/admin,");
    sbuf_reset(&b);
    assert_int_equal(sio_encode(&b, SIO_DISCONNECT, "/admin", -1, NULL), 0);
    assert_string_equal(sbuf_data(&b), "1/admin,");
    sbuf_reset(&b);
    json_t *args = json_pack("[{s:b,s:i}]", "_placeholder", 1, "num", 0);
    assert_int_equal(sio_encode(&b, SIO_BINARY_ACK, "/admin", 3, args), 0);
    assert_string_equal(sbuf_data(&b), "61-/admin,3[{\"_placeholder\":true,\"num\":0}]");
    json_decref(args);
    sbuf_free(&b);
}

static void test_connect_error(void **state)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    assert_int_equal(sio4_encode_connect_error(&b, NULL, "Not authorized", NULL), 0);
    assert_string_equal(sbuf_data(&b), "4\"Not authorized\"");
    sbuf_reset(&b);
    assert_int_equal(sio4_encode_connect_error(&b, "/", "Not authorized", NULL), 0);
    assert_string_equal(sbuf_data(&b), "4\"Not authorized\"");
    sbuf_reset(&b);
    assert_int_equal(sio4_encode_connect_error(&b, "/admin", "Invalid namespace", NULL), 0);
    assert_string_equal(sbuf_data(&b), "4/admin,\"Invalid namespace\"");
    sbuf_reset(&b);
    assert_int_equal(sio4_encode_connect_error(&b, "/admin", "say \"no\"\n", NULL), 0);
    assert_string_equal(sbuf_data(&b), "4/admin,\"say \\\"no\\\"\\n\"");
    sbuf_reset(&b);
    assert_int_equal(sio4_encode_connect_error(&b, NULL, "caf\xc3\xa9", NULL), 0);
    assert_string_equal(sbuf_data(&b), "4\"caf\xc3\xa9\"");

    /* err.data wins over the message, as socket.io 2.x sends err.data || err.message. */
    sbuf_reset(&b);
    json_t *data = json_pack("{s:i}", "code", 42);
    assert_int_equal(sio4_encode_connect_error(&b, "/admin", "ignored", data), 0);
    assert_string_equal(sbuf_data(&b), "4/admin,{\"code\":42}");
    json_decref(data);
    sbuf_reset(&b);
    data = json_string("expired");
    assert_int_equal(sio4_encode_connect_error(&b, NULL, NULL, data), 0);
    assert_string_equal(sbuf_data(&b), "4\"expired\"");
    json_decref(data);

    /* What it writes, the decoder reads back. */
    struct sio_packet p;
    sbuf_reset(&b);
    assert_int_equal(sio4_encode_connect_error(&b, "/admin", "Not authorized", NULL), 0);
    assert_int_equal(sio_decode(sbuf_data(&b), b.len, &p), 0);
    assert_int_equal(p.type, SIO_CONNECT_ERROR);
    assert_int_equal(p.nsp_len, 6);
    assert_memory_equal(p.nsp, "/admin", 6);
    assert_string_equal(json_string_value(p.data), "Not authorized");
    sio_packet_clear(&p);

    /* Refused, and nothing appended. */
    sbuf_reset(&b);
    sbuf_append_str(&b, "x");
    assert_int_equal(sio4_encode_connect_error(&b, NULL, NULL, NULL), SB_EINVAL);
    assert_int_equal(sio4_encode_connect_error(&b, NULL, "\xff", NULL), SB_EINVAL);
    assert_int_equal(sio4_encode_connect_error(&b, "admin", "no", NULL), SB_EINVAL);
    assert_int_equal(sio4_encode_connect_error(&b, "/a,b", "no", NULL), SB_EINVAL);
    data = json_pack("[s]", "no");
    assert_int_equal(sio4_encode_connect_error(&b, NULL, NULL, data), SB_EINVAL);
    json_decref(data);
    data = json_integer(5);
    assert_int_equal(sio4_encode_connect_error(&b, NULL, "no", data), SB_EINVAL);
    json_decref(data);
    assert_int_equal(b.len, 1);
    sbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_query), cmocka_unit_test(test_connect_parse_refused),
        cmocka_unit_test(test_v4_packets),    cmocka_unit_test(test_v4_replies),
        cmocka_unit_test(test_connect_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
