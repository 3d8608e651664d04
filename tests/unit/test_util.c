/* Unit tests of the shared building blocks: sbuf, frame, map, ids, fifo timers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

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

/* Deletes in an order unrelated to insertion; the table shrinks as a crowd leaves. */
static void map_scattered_deletes_and_shrink(void **unused)
{
    enum { N = 5000 };
    static char keys[N][16];
    struct sb_map m = {0};
    assert_null(sb_map_get(&m, "absent"));
    assert_null(sb_map_del(&m, "absent"));
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        assert_int_equal(sb_map_put(&m, keys[i], keys[i]), 0);
    }
    assert_int_equal(m.count, N);
    assert_true((uint64_t)m.cap * 3 >= (uint64_t)m.count * 4); /* at most 3/4 full */
    for (int i = 0; i < N; i++)
        assert_ptr_equal(sb_map_get(&m, keys[i]), keys[i]);
    assert_null(sb_map_get(&m, "k5000"));
    /* Delete every other key, in an order unrelated to insertion, then check the rest. */
    for (int i = 0; i < N; i += 2) {
        int k = (i * 7919) % N;
        k -= k % 2;
        if (sb_map_get(&m, keys[k]))
            assert_ptr_equal(sb_map_del(&m, keys[k]), keys[k]);
    }
    for (int i = 0; i < N; i++) {
        if (i % 2)
            assert_ptr_equal(sb_map_get(&m, keys[i]), keys[i]);
        else if (sb_map_get(&m, keys[i]))
            assert_ptr_equal(sb_map_del(&m, keys[i]), keys[i]);
    }
    assert_int_equal(m.count, N / 2);
    /* Down to 100 keys: a table of 8192 slots halves each time it is less than 1/8 full. */
    for (int i = 1; i < N - 200; i += 2)
        assert_ptr_equal(sb_map_del(&m, keys[i]), keys[i]);
    assert_int_equal(m.count, 100);
    assert_true(m.cap <= 1024);
    for (int i = N - 199; i < N; i += 2)
        assert_ptr_equal(sb_map_get(&m, keys[i]), keys[i]);
    for (int i = N - 199; i < N; i += 2)
        assert_ptr_equal(sb_map_del(&m, keys[i]), keys[i]);
    assert_int_equal(m.count, 0);
    assert_int_equal(m.cap, 0); /* freed when empty */
    sb_map_free(&m);
}

/* ---- the map's hash: keyed SipHash, not floodable ---- */

/* The reference SipHash-2-4 vectors (key 00..0f, message 00..len-1, from the paper's
 * vectors.h); SipHash-1-3 is the same code with fewer rounds. */
static void siphash_reference_vectors(void **unused)
{
    uint8_t key[16], msg[16];
    for (int i = 0; i < 16; i++)
        key[i] = msg[i] = (uint8_t)i;
    assert_true(sb_siphash(key, msg, 0, 2, 4) == 0x726fdb47dd0e0e31ull);
    assert_true(sb_siphash(key, msg, 1, 2, 4) == 0x74f839c593dc67fdull);
    assert_true(sb_siphash(key, msg, 8, 2, 4) == 0x93f5f5799a932462ull);
    assert_true(sb_siphash(key, msg, 15, 2, 4) == 0xa129ca6149be45e5ull);
    /* The key matters: the same bytes under two keys hash apart. */
    uint8_t other[16] = {1};
    assert_true(sb_siphash(key, "room", 4, 1, 3) != sb_siphash(other, "room", 4, 1, 3));
    sb_map_seed(key);
    uint32_t a = sb_map_hash("room", 4);
    sb_map_seed(other);
    assert_true(a != sb_map_hash("room", 4));
}

/* The hash the map used before: 32-bit FNV-1a and a final mix (a bijection, so FNV-1a
 * collisions stay collisions). */
static uint32_t old_hash(const char *key, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    return h;
}

static uint32_t fnv_from(uint32_t h, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

struct cand {
    uint32_t h;
    char b[6];
};

static int cand_cmp(const void *a, const void *b)
{
    uint32_t x = ((const struct cand *)a)->h, y = ((const struct cand *)b)->h;
    return x < y ? -1 : x > y;
}

/*
 * Joux's multicollisions, the attack a client could run offline against an unkeyed iterated
 * hash: from FNV-1a state s, a birthday search finds two 6-letter blocks (FNV-1a is one-to-one on 4
 * bytes) that lead to the same state; repeat from there. 15 stages give 2^15 names of 90 letters
 * that all hash alike. Under the old hash 20,000 of them formed one probe run (every lookup a walk
 * of all); under the keyed hash they scatter like any names.
 */
static void map_survives_fnv_multicollisions(void **unused)
{
    enum { STAGES = 15, BLOCK = 6, NAMES = 20000, CANDS = 1 << 18 };
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    static char pair[STAGES][2][BLOCK];
    struct cand *c = malloc(CANDS * sizeof(*c));
    assert_non_null(c);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    uint32_t state = 2166136261u;
    for (int st = 0; st < STAGES; st++) {
        bool found = false;
        while (!found) {
            for (int i = 0; i < CANDS; i++) {
                for (int j = 0; j < BLOCK; j++) {
                    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                    c[i].b[j] = alpha[rng % 36];
                }
                c[i].h = fnv_from(state, c[i].b, BLOCK);
            }
            qsort(c, CANDS, sizeof(*c), cand_cmp);
            for (int i = 1; i < CANDS && !found; i++) {
                if (c[i].h == c[i - 1].h && memcmp(c[i].b, c[i - 1].b, BLOCK) != 0) {
                    memcpy(pair[st][0], c[i - 1].b, BLOCK);
                    memcpy(pair[st][1], c[i].b, BLOCK);
                    state = c[i].h;
                    found = true;
                }
            }
        }
    }
    free(c);
    static char names[NAMES][STAGES * BLOCK + 1];
    for (int n = 0; n < NAMES; n++) {
        for (int st = 0; st < STAGES; st++)
            memcpy(names[n] + st * BLOCK, pair[st][(n >> st) & 1], BLOCK);
        names[n][STAGES * BLOCK] = '\0';
    }
    uint32_t h0 = old_hash(names[0], STAGES * BLOCK);
    for (int n = 1; n < NAMES; n++)
        assert_true(old_hash(names[n], STAGES * BLOCK) == h0); /* the attack works on FNV-1a */

    uint8_t key[16];
    assert_int_equal(getrandom(key, sizeof(key), 0), (ssize_t)sizeof(key));
    sb_map_seed(key);
    struct sb_map m = {0};
    for (int n = 0; n < NAMES; n++)
        assert_int_equal(sb_map_put(&m, names[n], names[n]), 0);
    assert_int_equal(m.count, NAMES);
    /* Probe lengths: how far each entry sits from its home slot. */
    uint64_t total = 0, longest = 0, mask = m.cap - 1;
    for (uint32_t i = 0; i < m.cap; i++) {
        if (!m.slots[i].key)
            continue;
        uint64_t d = (i - (m.slots[i].hash & mask)) & mask;
        total += d;
        if (d > longest)
            longest = d;
    }
    print_message("20000 FNV-1a multicollisions: mean displacement %.2f, longest %llu\n",
                  (double)total / NAMES, (unsigned long long)longest);
    assert_true(total < 4ull * NAMES); /* linear probing at <= 3/4 load: ~1.5 on average */
    assert_true(longest < 256);        /* 19,999 under the old hash */
    for (int n = 0; n < NAMES; n++)
        assert_ptr_equal(sb_map_get(&m, names[n]), names[n]);
    sb_map_free(&m);
}

static void map_put_get_delete_many(void **state)
{
    struct sb_map m;
    sb_map_init(&m);
    enum { N = 5000 };
    static char keys[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        assert_int_equal(sb_map_put(&m, keys[i], (void *)(intptr_t)(i + 1)), 0);
    }
    assert_int_equal(m.count, N);
    for (int i = 0; i < N; i++)
        assert_int_equal((intptr_t)sb_map_get(&m, keys[i]), i + 1);
    assert_null(sb_map_get(&m, "absent"));
    assert_int_equal((intptr_t)sb_map_getn(&m, "k12345", 3), 13);
    /* Delete every other key: the rest stay reachable (backward-shift deletion). */
    for (int i = 0; i < N; i += 2)
        assert_int_equal((intptr_t)sb_map_del(&m, keys[i]), i + 1);
    for (int i = 0; i < N; i++) {
        if (i % 2)
            assert_int_equal((intptr_t)sb_map_get(&m, keys[i]), i + 1);
        else
            assert_null(sb_map_get(&m, keys[i]));
    }
    size_t seen = 0;
    const char *k;
    void *v;
    for (uint32_t it = 0; sb_map_next(&m, &it, &k, &v);)
        seen++;
    assert_int_equal(seen, N / 2);
    for (int i = 1; i < N; i += 2)
        sb_map_del(&m, keys[i]);
    assert_int_equal(m.count, 0);
    sb_map_free(&m);
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
        cmocka_unit_test(map_scattered_deletes_and_shrink),
        cmocka_unit_test(siphash_reference_vectors),
        cmocka_unit_test(map_survives_fnv_multicollisions),
        cmocka_unit_test(ids_are_unique_base64url),
        cmocka_unit_test(fifo_timers_expire_in_order),
        cmocka_unit_test(errors_have_names_and_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
