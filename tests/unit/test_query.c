/* Handshake query strings: splitting, percent-decoding, lookups and the JSON view. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../server/proto/proto.h"

/* Parses from an allocation of exactly `len` bytes, so reading past it is caught. */
static int parse_n(const char *s, size_t len, struct query *q)
{
    char *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    memcpy(buf, s, len);
    int rc = query_parse(buf, len, q);
    free(buf);
    if (rc != 0) {
        assert_null(q->pairs);
        assert_int_equal(q->count, 0);
    }
    return rc;
}

static int parse(const char *s, struct query *q)
{
    return parse_n(s, strlen(s), q);
}

/* The value `key` gets from parsing `qs` alone, copied into a static buffer. */
static const char *value_of(const char *qs, const char *key)
{
    static char out[256];
    struct query q;
    assert_int_equal(parse(qs, &q), 0);
    const char *v = query_get(&q, key);
    if (v) {
        assert_true(strlen(v) < sizeof(out));
        strcpy(out, v);
    }
    query_free(&q);
    return v ? out : NULL;
}

/* The JSON view of a query, through its packed form (what a connection keeps). */
static json_t *query_json(const struct query *q)
{
    char *packed = pairs_from_query(q, NULL);
    assert_true(packed != NULL || q->count == 0);
    json_t *j = pairs_to_json(packed);
    free(packed);
    return j;
}

static void test_pairs(void **state)
{
    struct query q;
    assert_int_equal(parse("EIO=4&token=secret&a=&b=x%20y", &q), 0);
    char *packed = pairs_from_query(&q, "token");
    assert_non_null(packed);
    assert_memory_equal(packed,
                        "EIO\0"
                        "4\0a\0\0b\0x y\0\0",
                        16);
    json_t *j = pairs_to_json(packed);
    char *s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(s, "{\"EIO\":\"4\",\"a\":\"\",\"b\":\"x y\"}");
    free(s);
    json_decref(j);
    free(packed);
    query_free(&q);

    /* Nothing left after the skip: NULL, which reads as an empty object. */
    assert_int_equal(parse("token=t", &q), 0);
    assert_null(pairs_from_query(&q, "token"));
    query_free(&q);
    j = pairs_to_json(NULL);
    assert_int_equal(json_object_size(j), 0);
    json_decref(j);

    /* A value is cut at a NUL byte (header values from the wire). */
    struct sbuf b;
    sbuf_init(&b, 0);
    pairs_append(&b, "origin", "http://a\0junk", 13);
    packed = pairs_finish(&b);
    j = pairs_to_json(packed);
    assert_string_equal(json_string_value(json_object_get(j, "origin")), "http://a");
    json_decref(j);
    free(packed);
}

static void test_handshake_query(void **state)
{
    struct query q;
    assert_int_equal(parse("EIO=4&transport=websocket&token=a%2Bb+c", &q), 0);
    assert_int_equal(q.count, 3);
    assert_string_equal(q.pairs[0].key, "EIO");
    assert_string_equal(q.pairs[0].value, "4");
    assert_string_equal(q.pairs[1].key, "transport");
    assert_string_equal(q.pairs[1].value, "websocket");
    assert_string_equal(q.pairs[2].key, "token");
    assert_string_equal(q.pairs[2].value, "a+b c");
    assert_string_equal(query_get(&q, "token"), "a+b c");
    assert_string_equal(query_get(&q, "EIO"), "4");
    assert_null(query_get(&q, "sid"));
    assert_null(query_get(&q, "eio"));
    query_free(&q);
    /* Freeing twice is harmless. */
    query_free(&q);
    assert_int_equal(q.count, 0);
}

static void test_percent_decoding(void **state)
{
    assert_string_equal(value_of("a=%20x", "a"), " x");
    assert_string_equal(value_of("a=%7e%7E", "a"), "~~");
    assert_string_equal(value_of("a=%zz", "a"), "%zz");
    assert_string_equal(value_of("a=%2", "a"), "%2");
    assert_string_equal(value_of("a=%", "a"), "%");
    assert_string_equal(value_of("a=%%41", "a"), "%A");
    assert_string_equal(value_of("a=%4g", "a"), "%4g");
    assert_string_equal(value_of("a=100%25", "a"), "100%");
    assert_string_equal(value_of("a=x+y++", "a"), "x y  ");
    assert_string_equal(value_of("a=%2B", "a"), "+");
    assert_string_equal(value_of("a=%26b%3Dc", "a"), "&b=c");
    /* Keys are decoded too. */
    assert_string_equal(value_of("%41+b=1", "A b"), "1");
    /* UTF-8, escaped and raw. */
    assert_string_equal(value_of("n=caf%C3%A9", "n"), "caf\xc3\xa9");
    assert_string_equal(value_of("n=caf\xc3\xa9", "n"), "caf\xc3\xa9");
}

static void test_nul_and_bad_utf8(void **state)
{
    /* %00 stays literal, so no value is silently cut short. */
    assert_string_equal(value_of("token=a%00b", "token"), "a%00b");
    /* Bytes that are not UTF-8 become U+FFFD, one per maximal invalid subpart. */
    assert_string_equal(value_of("a=%FF", "a"), "\xef\xbf\xbd");
    assert_string_equal(value_of("a=x%C3", "a"), "x\xef\xbf\xbd");
    assert_string_equal(value_of("a=%E2%82y", "a"), "\xef\xbf\xbdy");
    assert_string_equal(value_of("a=%C0%80", "a"), "\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(value_of("a=%ED%A0%80", "a"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(value_of("a=\xff\xfe", "a"), "\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(value_of("%FF=1", "\xef\xbf\xbd"), "1");

    /* A raw NUL ends the query. */
    static const char raw[] = "a=1\0&b=2";
    struct query q;
    assert_int_equal(parse_n(raw, sizeof(raw) - 1, &q), 0);
    assert_int_equal(q.count, 1);
    assert_string_equal(q.pairs[0].value, "1");
    query_free(&q);
}

static void test_keys_and_values(void **state)
{
    struct query q;
    assert_int_equal(parse("flag&x=1&=v&y=a=b&z=", &q), 0);
    assert_int_equal(q.count, 5);
    assert_string_equal(q.pairs[0].key, "flag");
    assert_string_equal(q.pairs[0].value, "");
    assert_string_equal(q.pairs[1].value, "1");
    assert_string_equal(q.pairs[2].key, "");
    assert_string_equal(q.pairs[2].value, "v");
    assert_string_equal(q.pairs[3].key, "y");
    assert_string_equal(q.pairs[3].value, "a=b");
    assert_string_equal(q.pairs[4].key, "z");
    assert_string_equal(q.pairs[4].value, "");
    assert_string_equal(query_get(&q, "flag"), "");
    query_free(&q);

    /* Empty pieces are skipped. */
    assert_int_equal(parse("&&a=1&&b=2&", &q), 0);
    assert_int_equal(q.count, 2);
    assert_string_equal(q.pairs[0].key, "a");
    assert_string_equal(q.pairs[1].key, "b");
    query_free(&q);

    assert_int_equal(parse("&", &q), 0);
    assert_int_equal(q.count, 0);
    query_free(&q);
}

static void test_empty(void **state)
{
    struct query q;
    assert_int_equal(parse("", &q), 0);
    assert_int_equal(q.count, 0);
    assert_null(q.pairs);
    assert_null(query_get(&q, "a"));
    json_t *j = query_json(&q);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 0);
    json_decref(j);
    query_free(&q);
    assert_int_equal(query_parse(NULL, 0, &q), 0);
    assert_int_equal(q.count, 0);
}

static void test_too_many_pairs(void **state)
{
    char buf[1024];
    size_t n = 0;
    for (int i = 0; i < QUERY_MAX_PAIRS; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%sk%d=%d", i ? "&" : "", i, i);
    struct query q;
    assert_int_equal(parse(buf, &q), 0);
    assert_int_equal(q.count, QUERY_MAX_PAIRS);
    assert_string_equal(query_get(&q, "k63"), "63");
    query_free(&q);

    /* Empty pieces do not count towards the limit. */
    snprintf(buf + n, sizeof(buf) - n, "&&&");
    assert_int_equal(parse(buf, &q), 0);
    assert_int_equal(q.count, QUERY_MAX_PAIRS);
    query_free(&q);

    snprintf(buf + n, sizeof(buf) - n, "&one=more");
    q.count = 99; /* query_parse empties `out` even when it fails */
    assert_int_equal(parse(buf, &q), SB_ETOOBIG);
    snprintf(buf + n, sizeof(buf) - n, "&flag");
    assert_int_equal(parse(buf, &q), SB_ETOOBIG);
}

static void test_first_match(void **state)
{
    struct query q;
    assert_int_equal(parse("a=1&b=2&a=3", &q), 0);
    assert_string_equal(query_get(&q, "a"), "1");
    json_t *j = query_json(&q);
    assert_non_null(j);
    /* In the JSON view later duplicates win. */
    char *s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(s, "{\"a\":\"3\",\"b\":\"2\"}");
    free(s);
    json_decref(j);
    query_free(&q);
}

static void test_to_json(void **state)
{
    struct query q;
    assert_int_equal(parse("EIO=4&transport=websocket&token=a%2Bb+c&flag&u=%FF&n=%00", &q), 0);
    json_t *j = query_json(&q);
    assert_non_null(j);
    struct sbuf b;
    sbuf_init(&b, 0);
    assert_int_equal(proto_json_append(&b, j), 0);
    assert_string_equal(sbuf_data(&b),
                        "{\"EIO\":\"4\",\"transport\":\"websocket\",\"token\":\"a+b c\","
                        "\"flag\":\"\",\"u\":\"\xef\xbf\xbd\",\"n\":\"%00\"}");
    sbuf_free(&b);
    json_decref(j);
    query_free(&q);
}

static void test_respects_len(void **state)
{
    static const char buf[] = "a=1&b=2";
    struct query q;
    assert_int_equal(query_parse(buf, 5, &q), 0);
    assert_int_equal(q.count, 2);
    assert_string_equal(query_get(&q, "b"), "");
    query_free(&q);
    /* A '%' at the very end of the input must not read the escape past it. */
    static const char esc[] = "a=%41";
    assert_int_equal(query_parse(esc, 4, &q), 0);
    assert_string_equal(query_get(&q, "a"), "%4");
    query_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_query),  cmocka_unit_test(test_pairs),
        cmocka_unit_test(test_percent_decoding), cmocka_unit_test(test_nul_and_bad_utf8),
        cmocka_unit_test(test_keys_and_values),  cmocka_unit_test(test_empty),
        cmocka_unit_test(test_too_many_pairs),   cmocka_unit_test(test_first_match),
        cmocka_unit_test(test_to_json),          cmocka_unit_test(test_respects_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
