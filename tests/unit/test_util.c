/* Unit tests of the shared building blocks: sbuf, frame, map, ids, fifo timers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../server/util/util.h"

static void sbuf_appends_and_escapes(void **state)
{
    struct sbuf b;
    sbuf_init(&b, 16);
    assert_int_equal(sbuf_append_str(&b, "a"), 0);
    assert_int_equal(sbuf_printf(&b, "%d-%s", 42, "x"), 0);
    assert_int_equal(sbuf_append_json_string(&b, "q\"\\\n\x01", 5), 0);
    assert_string_equal(sbuf_data(&b), "a42-x\"q\\\"\\\\\\n\\u0001\"");
    sbuf_free(&b);
}

static void sbuf_grows(void **state)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(sbuf_append_char(&b, (char)('a' + i % 26)), 0);
    assert_int_equal(b.len, 10000);
    assert_int_equal(sbuf_data(&b)[9999], 'a' + 9999 % 26);
    sbuf_free(&b);
}

static void frame_takes_sbuf_without_copy(void **state)
{
    struct sbuf b;
    frame_sbuf_init(&b, 16);
    sbuf_append_str(&b, "hello");
    char *data = sbuf_data(&b);
    struct frame *f = frame_from_sbuf(&b, FRAME_TEXT);
    assert_non_null(f);
    assert_ptr_equal(frame_payload(f), data);
    assert_int_equal(f->len, 5);
    assert_int_equal(f->headroom, 16);
    assert_memory_equal(frame_payload(f), "hello", 5);
    assert_null(b.base);
    frame_ref(f);
    assert_int_equal(f->refs, 2);
    frame_unref(f);
    frame_unref(f);
}

static void map_put_get_delete_many(void **state)
{
    struct map m;
    map_init(&m);
    enum { N = 5000 };
    static char keys[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        assert_int_equal(map_put(&m, keys[i], (void *)(intptr_t)(i + 1)), 0);
    }
    assert_int_equal(m.count, N);
    for (int i = 0; i < N; i++)
        assert_int_equal((intptr_t)map_get(&m, keys[i]), i + 1);
    assert_null(map_get(&m, "absent"));
    assert_int_equal((intptr_t)map_getn(&m, "k12345", 3), 13);
    /* Delete every other key: the rest stay reachable (backward-shift deletion). */
    for (int i = 0; i < N; i += 2)
        assert_int_equal((intptr_t)map_del(&m, keys[i]), i + 1);
    for (int i = 0; i < N; i++) {
        if (i % 2)
            assert_int_equal((intptr_t)map_get(&m, keys[i]), i + 1);
        else
            assert_null(map_get(&m, keys[i]));
    }
    size_t seen = 0;
    const char *k;
    void *v;
    for (uint32_t it = 0; map_next(&m, &it, &k, &v);)
        seen++;
    assert_int_equal(seen, N / 2);
    for (int i = 1; i < N; i += 2)
        map_del(&m, keys[i]);
    assert_int_equal(m.count, 0);
    map_free(&m);
}

static void ids_are_unique_base64url(void **state)
{
    char a[SB_ID_LEN + 1], b[SB_ID_LEN + 1];
    id_generate(a);
    id_generate(b);
    assert_int_equal(strlen(a), SB_ID_LEN);
    assert_string_not_equal(a, b);
    for (int i = 0; i < SB_ID_LEN; i++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", a[i]));
}

static void fifo_timers_expire_in_order(void **state)
{
    struct fifo_timer_list l;
    struct fifo_timer t[3] = {0};
    fifo_timer_list_init(&l, 100);
    assert_int_equal(fifo_timer_next_due(&l), UINT64_MAX);
    fifo_timer_arm(&l, &t[0], 0);
    fifo_timer_arm(&l, &t[1], 10);
    fifo_timer_arm(&l, &t[2], 20);
    fifo_timer_arm(&l, &t[0], 30); /* re-arming moves it to the tail */
    assert_int_equal(fifo_timer_next_due(&l), 110);
    assert_null(fifo_timer_expired(&l, 109));
    assert_ptr_equal(fifo_timer_expired(&l, 110), &t[1]);
    fifo_timer_disarm(&t[1]);
    assert_false(fifo_timer_armed(&t[1]));
    fifo_timer_disarm(&t[2]);
    assert_ptr_equal(fifo_timer_expired(&l, 1000), &t[0]);
    fifo_timer_disarm(&t[0]);
    assert_null(fifo_timer_expired(&l, 1000));
}

static void errors_have_names_and_messages(void **state)
{
    assert_string_equal(sb_strerror(SB_ENOMEM), "out of memory");
    assert_string_equal(sb_err_name(SB_ETIMEOUT), "SB_ETIMEOUT");
    assert_string_equal(sb_strerror(-999), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sbuf_appends_and_escapes),
        cmocka_unit_test(sbuf_grows),
        cmocka_unit_test(frame_takes_sbuf_without_copy),
        cmocka_unit_test(map_put_get_delete_many),
        cmocka_unit_test(ids_are_unique_base64url),
        cmocka_unit_test(fifo_timers_expire_in_order),
        cmocka_unit_test(errors_have_names_and_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
